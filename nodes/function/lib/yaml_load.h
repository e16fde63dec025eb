/*
 * yaml_load.h - YAML text to edgeflow values as js-yaml's load() (default
 * schema) gives them to Node-RED: YAML 1.2 core scalars (null, booleans,
 * integers in decimal/0x/0o/0b, floats with .inf/.nan), timestamps (as ISO
 * strings, what a Date becomes in a message), merge keys (<<), !!binary as a
 * Buffer, anchors and aliases. Parsed with libyaml.
 */
#ifndef EF_NODES_YAML_LOAD_H
#define EF_NODES_YAML_LOAD_H

#include <stdbool.h>
#include <stddef.h>

#include <edgeflow/val.h>

/*
 * Parses one YAML document. On success returns 0 and stores a new reference
 * in *out (NULL when the stream holds no document: js-yaml's undefined).
 * On error returns a negative EF_E* code with a message naming the line and
 * column in err.
 */
int yaml__load(const char *text, size_t len, struct ef_val **out, char *err, size_t errlen);

#endif
