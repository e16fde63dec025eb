/*
 * typed.h - typed-input evaluation internals (RED.util.evaluateNodeProperty).
 */
#ifndef EF_TYPED_H
#define EF_TYPED_H

#include "engine.h"

/* JavaScript Number(string): trims, "" -> 0, hex/binary/octal, Infinity, else NaN. */
double typed__to_number(const char *s, size_t len);
/* Evaluates types that need no node or message (str, num, bool, json, bin, date, re, env). */
int typed__eval_static(struct ef_runtime *rt, struct ef_scope *s, const char *type,
                       const struct ef_val *value, struct ef_val **out, char *err, size_t errlen);
/* evaluateEnvProperty: "${A}" or "A" looks A up, "x${A}y" substitutes. New ref. */
struct ef_val *typed__env_string(struct ef_runtime *rt, struct ef_scope *s, const char *value);
/* moment().format(fmt) for the tokens Node-RED users use. Returns malloc'ed text. */
char *typed__format_date(double ms, const char *fmt);
/* The handle type used for 're' values (a compiled RegExp source). */
extern const struct ef_handle_type typed__regexp_type;

/*
 * Evaluates a JSONata expression for node n against msg (may be NULL).
 * Stores a new reference (NULL for undefined) in *out; 0, or EF_E* with
 * jsonata-js's err.message in err (callers add "Invalid JSONata
 * expression: " where Node-RED does).
 */
int typed__jsonata(struct ef_node *n, const char *expr, const struct ef_msg *msg,
                   struct ef_val **out, char *err, size_t errlen);
/* Frees the node's compiled JSONata expressions. */
void typed__jsonata_release(struct ef_node *n);

#endif
