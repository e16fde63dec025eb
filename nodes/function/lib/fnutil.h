/*
 * fnutil.h - small JavaScript-semantics helpers shared by the function
 * category's nodes (delay, trigger, range, rbe, template, exec): reading
 * node configuration the way their JavaScript does (`n.x || "default"`,
 * Number(n.x)), parseFloat, Math.round and setTimeout's delay rules.
 */
#ifndef EF_NODES_FNUTIL_H
#define EF_NODES_FNUTIL_H

#include <stdbool.h>
#include <stdint.h>

#include <edgeflow/msg.h>
#include <edgeflow/val.h>

/* config[key] when it is a truthy string, else def (`n.key || def`). */
const char *fn__cfg_str(const struct ef_val *config, const char *key, const char *def);
/* Number(config[key]); absent is NaN (Number(undefined)). */
double fn__cfg_num(const struct ef_val *config, const char *key);
/* JavaScript parseFloat(String(v)); v == NULL (undefined) is NaN. */
double fn__parse_float(const struct ef_val *v);
/* parseFloat of a C string. */
double fn__parse_float_str(const char *s);
/* Math.round. */
double fn__js_round(double x);
/* The delay Node.js's setTimeout/setInterval really waits for `ms`. */
uint64_t fn__timer_ms(double ms);
/* msg.hasOwnProperty(key) for a top-level key. */
bool fn__has(const struct ef_msg *msg, const char *key);
/* Number of top-level keys of the message (Object.keys(msg).length). */
size_t fn__nkeys(const struct ef_msg *msg);
/* Strict equality (===) of two values; objects compare by identity. */
bool fn__strict_eq(const struct ef_val *a, const struct ef_val *b);

#endif
