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
/*
 * A flow or group env entry of type jsonata, as Node-RED's
 * evaluateEnvProperties evaluates it once when the flow starts: no input,
 * $env() resolving against scope s (and its parents, then the process
 * environment). $flowContext/$globalContext are not offered (no node
 * exists yet). Stores a new reference (NULL for undefined); 0, or EF_E*
 * with jsonata-js's err.message in err.
 */
int typed__jsonata_env(struct ef_runtime *rt, struct ef_scope *s, const char *expr,
                       struct ef_val **out, char *err, size_t errlen);
struct ef_jsonata;
/*
 * Evaluates a compiled JSONata expression for node n as Node-RED does: with
 * $flowContext, $globalContext, $env and $clone, against input (borrowed),
 * or against {msg: input} when `legacy` (typed__jsonata_legacy(source)),
 * with extra variables from `bindings` (may be NULL). Same results as
 * typed__jsonata. Only in builds with JSONata.
 */
int typed__jsonata_eval(struct ef_node *n, const struct ef_jsonata *e, bool legacy,
                        const struct ef_val *input, const struct ef_val *bindings,
                        struct ef_val **out, char *err, size_t errlen);
/* Node-RED's test for legacy mode: does the expression name `msg`? */
bool typed__jsonata_legacy(const char *expr);
/* Frees the node's compiled JSONata expressions. */
void typed__jsonata_release(struct ef_node *n);

#endif
