/*
 * seq.h - helpers shared by the sequence nodes (split, join, sort, batch)
 * and the parser nodes: message properties addressed by a pre-parsed path,
 * JSONata expressions evaluated with extra bindings ($A, $I, $N) and the
 * context functions Node-RED registers, and small JavaScript conversions.
 */
#ifndef EF_NODES_SEQ_H
#define EF_NODES_SEQ_H

#include <stdbool.h>
#include <stddef.h>

#include <edgeflow/edgeflow.h>

/* A message property (RED.util.get/setMessageProperty) parsed once. */
struct seq_prop {
    struct ef_path *path;
    const char *single; /* the key when the path is one plain key */
    char *text;
    /* paths of the prefixes (all but the last segment) and the key each next
     * segment reads, for seq__prop_check */
    struct ef_path **prefix;
    char **seg;
    size_t nprefix;
};

/* Parses `expr` (a leading "msg." is dropped). 0, or -1 with the error in err. */
int seq__prop_init(struct seq_prop *p, const char *expr, char *err, size_t errlen);
void seq__prop_free(struct seq_prop *p);
/* The value at the property (borrowed; NULL when undefined). */
struct ef_val *seq__prop_get(const struct seq_prop *p, const struct ef_msg *m);
/*
 * Whether getMessageProperty would throw: an intermediate on the way is
 * undefined or null. Returns 0, or -1 with V8's TypeError text in err
 * ("TypeError: Cannot read properties of undefined (reading 'x')").
 */
int seq__prop_check(const struct seq_prop *p, const struct ef_msg *m, char *err, size_t errlen);
/* Sets the property (creating intermediates), adopting v; v NULL deletes. */
int seq__prop_set(const struct seq_prop *p, struct ef_msg *m, struct ef_val *v);

/* Same on a root object slot (copy-on-write), for values that are not messages. */
int seq__root_set(const struct seq_prop *p, struct ef_val **root, struct ef_val *v);

/* Sets a fresh Node-RED style _msgid on a writable root object. */
int seq__set_new_id(struct ef_val *root);
/* A fresh id string value (RED.util.generateId()). */
struct ef_val *seq__id_val(void);

/* JavaScript parseInt(String(v), 10); NaN when there are no digits. */
double seq__parse_int(const struct ef_val *v);
/* Node-RED's "\\n" -> "\n" (also \r \t \e \f \0) replacement. Malloc'ed; *len set. */
char *seq__unescape(const char *s, size_t *len);
/* settings.nodeMessageBufferMaxLength (0 when unset). */
double seq__max_kept(struct ef_node *n);
/* JavaScript strict equality (===) of two values (objects by identity). */
bool seq__strict_eq(const struct ef_val *a, const struct ef_val *b);

/*
 * Logs an error from cb_init the way node.error() in a Node-RED constructor
 * does: the node is created anyway (it then ignores its input), the flow is
 * not refused.
 */
void seq__init_error(struct ef_node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- JSONata as RED.util.prepare/evaluateJSONataExpression ---- */
struct ef_jsonata;
struct seq_jexpr {
    struct ef_jsonata *e;
    bool legacy; /* the expression names `msg`: evaluated against {msg: input} */
};

/* Compiles; on error returns -1 with jsonata-js's err.message in err. */
int seq__jexpr_compile(struct seq_jexpr *x, const char *src, char *err, size_t errlen);
void seq__jexpr_free(struct seq_jexpr *x);
/*
 * Evaluates against `input` (borrowed, may be NULL) with `bindings` (an
 * object of $names, may be NULL) and $flowContext/$globalContext/$env/$clone.
 * Stores a new reference (NULL = undefined) in *out. 0, or -1 with the error
 * message (without code) in err.
 */
int seq__jexpr_eval(struct ef_node *n, const struct seq_jexpr *x, const struct ef_val *input,
                    const struct ef_val *bindings, struct ef_val **out, char *err, size_t errlen);

#endif
