/*
 * inspect.h - values as Node's util.inspect() shows them (Node-RED uses it
 * for debug console output and status text).
 */
#ifndef EF_INSPECT_H
#define EF_INSPECT_H

#include <edgeflow/val.h>

/*
 * Formats v (NULL is `undefined`) like util.inspect(v) with Node's
 * defaults: depth 2, single-quoted strings, identifier keys unquoted,
 * `<Buffer 01 ff>`, one line when it fits in 80 columns. Returns a malloc'ed
 * string the caller frees, or NULL on OOM.
 */
char *inspect__value(const struct ef_val *v);
/* The same with a different depth (util.inspect(v, {depth})). */
char *inspect__depth(const struct ef_val *v, int depth);

#endif
