/*
 * edgeflow/mustache.h - Mustache templates for node types: the engine the
 * template node uses (mustache.js 4.2 behaviour: sections, inverted
 * sections, {{{raw}}} and {{&raw}}, custom delimiters, dot names, HTML
 * escaping of {{name}}), rendered against any value.
 */
#ifndef EDGEFLOW_MUSTACHE_H
#define EDGEFLOW_MUSTACHE_H

#include <stddef.h>

#include <edgeflow/val.h>

/* Flags for ef_mustache_render. */
enum {
    EF_MUSTACHE_NO_ESCAPE = 1, /* {{name}} inserts text unescaped, as {{{name}}} (for text
                                  that is not HTML, such as an LLM prompt) */
};

/*
 * Renders the template `tmpl` (len bytes) with `view` (borrowed, usually a
 * message's root object) as the outermost context; names found nowhere
 * render as "". `flags`: 0 or EF_MUSTACHE_NO_ESCAPE. Returns a malloc'ed NUL-terminated string the
 * caller frees (its length in *out_len when not NULL), or NULL with mustache.js's message (e.g.
 * "Unclosed tag at 12") in err on a syntax error or when out of memory. (Added after the first
 * plugin ABI: a plugin calling it does not load into an older runtime.)
 */
char *ef_mustache_render(const char *tmpl, size_t len, const struct ef_val *view, int flags,
                         size_t *out_len, char *err, size_t errlen);

#endif
