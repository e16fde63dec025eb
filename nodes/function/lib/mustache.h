/*
 * mustache.h - a Mustache engine that behaves as mustache.js 4.2 (the one
 * Node-RED's template and trigger nodes use): the same parser (standalone
 * lines, custom delimiters, its error texts), the same context lookup (dot
 * access into objects, arrays and strings, walking up the section stack),
 * HTML escaping of & < > " ' / ` =, and JavaScript's String() for values.
 * Values are edgeflow values; rendering never changes them.
 */
#ifndef EF_NODES_MUSTACHE_H
#define EF_NODES_MUSTACHE_H

#include <stdbool.h>
#include <stddef.h>

#include <edgeflow/val.h>

struct mst_template;

/* What a render may ask its caller for. Every member may be NULL. */
struct mst_hooks {
    /*
     * Called when a name is found in no view (Node-RED answers flow./global./
     * env. names here). Returns a new reference, or NULL for undefined.
     */
    struct ef_val *(*missing)(void *ud, const char *name);
    /* The text of partial `name` (borrowed), or NULL when there is none. */
    const char *(*partial)(void *ud, const char *name, size_t *len);
    /*
     * Strings found through the outermost view get \ \n \t \r \f and
     * backspace escaped as in JSON (the template node's JSON output).
     */
    bool escape_root_strings;
    void *ud;
    /* {{name}} inserts text as {{{name}}} does, without HTML escaping. */
    bool no_html_escape;
};

/*
 * Parses a template with the default delimiters {{ }}. Returns NULL with
 * mustache.js's message in err (e.g. "Unclosed tag at 12") on a syntax error
 * or when out of memory.
 */
struct mst_template *mst__parse(const char *text, size_t len, char *err, size_t errlen);
void mst__free(struct mst_template *t);
/* Calls fn for the name of every tag (not text), sections included, in order. */
void mst__each_name(const struct mst_template *t, void (*fn)(void *ud, const char *name), void *ud);
/*
 * Renders t with `view` as the outermost context. Returns a malloc'ed
 * NUL-terminated string (length in *len), or NULL with the error (a
 * partial's syntax error, a lookup in a null view) in err.
 */
char *mst__render(const struct mst_template *t, const struct ef_val *view,
                  const struct mst_hooks *hooks, size_t *len, char *err, size_t errlen);

#endif
