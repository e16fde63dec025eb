/*
 * jsonata.h - a JSONata 2.x evaluator over edgeflow values.
 *
 * An expression is compiled once into a `struct ef_jsonata` and evaluated
 * any number of times. Nothing global is written during evaluation, so
 * different compiled expressions can be evaluated on different threads at
 * the same time; one compiled expression must be evaluated by one thread at
 * a time (its literal values are shared, refcounted values), like any other
 * edgeflow value.
 *
 * Values: the input and the bindings are borrowed `struct ef_val`s; results
 * are new references. JSONata's `undefined` is a NULL pointer. Sequences are
 * internal: a result is always a plain value, with jsonata-js's singleton
 * unwrapping applied. A function (lambda, built-in or partial application)
 * in a result is returned as a handle value whose type is
 * ef_jsonata_function_type; it serialises as {} through ef_json_print and
 * cannot be called once the evaluation that made it has returned.
 *
 * Errors carry jsonata-js's code (e.g. "S0201", "T2001", "D3137"), the
 * position in the expression where it applies (a byte offset; jsonata-js
 * counts UTF-16 units, which differs only after non-ASCII text), the
 * offending token and the message jsonata-js gives (err.message in
 * Node-RED). Exceeding the depth or time limit ends with "U1001".
 */
#ifndef EDGEFLOW_JSONATA_H
#define EDGEFLOW_JSONATA_H

#include <stddef.h>

#include "edgeflow/val.h"

struct ef_jsonata;

/* A JSONata error: code, position (offset in the expression) and message. */
struct ef_jsonata_error {
    char code[8];      /* "S0201", "T2001", ... ("" when none) */
    int position;      /* position jsonata-js reports, -1 if unknown */
    char token[64];    /* token the error is about ("" when none) */
    char message[256]; /* jsonata-js's message text, without the code */
};

/*
 * A native function the caller provides, called as `$name(...)` from the
 * expression. `args` are borrowed (an absent argument is NULL, JSONata's
 * undefined); the callback stores a new reference in *out (NULL for
 * undefined) and returns 0, or returns a negative number and writes a
 * message into err (errlen bytes); a message starting with a code and a
 * colon ("D3137: text") sets that code, otherwise the code is "D3137".
 * `signature` is a JSONata function signature such as "<s?:x>" (NULL: none);
 * arguments are checked against it before the call, and a `-` in it means
 * "use the context value when the argument is missing".
 */
typedef int (*ef_jsonata_fn)(void *ud, struct ef_val *const *args, size_t nargs,
                             struct ef_val **out, char *err, size_t errlen);

struct ef_jsonata_native {
    const char *name; /* without the '$' */
    const char *signature;
    ef_jsonata_fn fn;
    void *ud;
};

/* Options of one evaluation; all members may be zero / NULL. */
struct ef_jsonata_opts {
    /* Object whose members are bound as variables ($name), borrowed. */
    const struct ef_val *bindings;
    /* Extra functions; they shadow built-ins of the same name. */
    const struct ef_jsonata_native *natives;
    size_t nnatives;
    /* Maximum evaluation depth, counted like jsonata-js counts nested
     * evaluate() calls (0: 2000); deeper ends with U1001. Tail calls do
     * not add depth. */
    unsigned max_depth;
    /* Time limit in milliseconds (0: none); exceeding it ends with U1001. */
    unsigned timeout_ms;
};

/* The handle type of functions returned in results. */
extern const struct ef_handle_type ef_jsonata_function_type;

/*
 * Compiles `expr`. Returns the compiled expression (free it with
 * ef_jsonata_free), or NULL on a syntax error, writing "CODE: message
 * (position N)" into err (errlen bytes; err may be NULL).
 */
struct ef_jsonata *ef_jsonata_compile(const char *expr, char *err, size_t errlen);

/*
 * Compiles `expr` like ef_jsonata_compile, but reports a syntax error as a
 * structured error in *err (may be NULL). Returns NULL on error.
 */
struct ef_jsonata *ef_jsonata_compile_ex(const char *expr, struct ef_jsonata_error *err);

/* The source text the expression was compiled from (borrowed). */
const char *ef_jsonata_source(const struct ef_jsonata *e);

/*
 * Evaluates `e` against `input` (borrowed; NULL means undefined input).
 * On success returns 0 and stores the result in *out: a new reference, or
 * NULL for undefined. On failure returns a negative number, stores NULL in
 * *out and fills *err (if not NULL) with the JSONata error. `opts` may be NULL.
 */
int ef_jsonata_eval(const struct ef_jsonata *e, struct ef_val *input,
                    const struct ef_jsonata_opts *opts, struct ef_val **out,
                    struct ef_jsonata_error *err);

/*
 * Formats an error as jsonata-js's err.message would read, prefixed with
 * the code: "T2001: The left side of ...". Returns buf.
 */
char *ef_jsonata_strerror(const struct ef_jsonata_error *err, char *buf, size_t len);

/* Frees a compiled expression (NULL-safe). */
void ef_jsonata_free(struct ef_jsonata *e);

#endif
