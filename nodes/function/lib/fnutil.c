/*
 * fnutil.c - JavaScript-semantics helpers for the function category's nodes
 * (see fnutil.h).
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fnutil.h"
#include "js.h"

#define TIMEOUT_MAX 2147483647.0

/* Reads config[key] as `n.key || def` does for string settings. */
const char *fn__cfg_str(const struct ef_val *config, const char *key, const char *def)
{
    const struct ef_val *v = ef_val_obj_get(config, key);
    if (ef_val_type(v) == EF_STR && ef_val_str_len(v) > 0) {
        return ef_val_str_get(v);
    }
    return def;
}

/* Number(config[key]) with undefined as NaN. */
double fn__cfg_num(const struct ef_val *config, const char *key)
{
    return js__to_number(ef_val_obj_get(config, key));
}

/* parseFloat on a NUL-terminated string: the longest decimal prefix. */
double fn__parse_float_str(const char *s)
{
    while (*s &&
           (isspace((unsigned char)*s) || (unsigned char)*s == 0xc2 || (unsigned char)*s == 0xa0)) {
        s++;
    }
    const char *p = s;
    int sign = 1;
    if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        p++;
    }
    if (!strncmp(p, "Infinity", 8)) {
        return sign * INFINITY;
    }
    const char *start = p;
    size_t digits = 0;
    while (isdigit((unsigned char)*p)) {
        p++;
        digits++;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            p++;
            digits++;
        }
    }
    if (!digits) {
        return NAN;
    }
    if (*p == 'e' || *p == 'E') {
        const char *e = p + 1;
        if (*e == '+' || *e == '-') {
            e++;
        }
        if (isdigit((unsigned char)*e)) {
            while (isdigit((unsigned char)*e)) {
                e++;
            }
            p = e;
        }
    }
    char *text = strndup(start, (size_t)(p - start));
    if (!text) {
        return NAN;
    }
    double d = strtod(text, NULL);
    free(text);
    return sign * d;
}

/* parseFloat(String(v)). */
double fn__parse_float(const struct ef_val *v)
{
    if (!v) {
        return NAN;
    }
    if (ef_val_type(v) == EF_NUM) {
        return ef_val_num_get(v);
    }
    size_t len;
    char *s = js__to_string(v, &len);
    if (!s) {
        return NAN;
    }
    double d = fn__parse_float_str(s);
    free(s);
    return d;
}

/* Math.round: halves round towards +Infinity. */
double fn__js_round(double x)
{
    if (!isfinite(x)) {
        return x;
    }
    double r = floor(x);
    if (x - r >= 0.5) {
        r += 1;
    }
    if (r == 0 && (x < 0 || signbit(x))) {
        return -0.0;
    }
    return r;
}

/* setTimeout(fn, ms): below 1, NaN or beyond 2^31-1 it waits 1 ms. */
uint64_t fn__timer_ms(double ms)
{
    if (!(ms >= 1 && ms <= TIMEOUT_MAX)) {
        return 1;
    }
    return (uint64_t)ms;
}

/* Whether the message has the own property `key`. */
bool fn__has(const struct ef_msg *msg, const char *key)
{
    return ef_val_obj_get(ef_msg_root(msg), key) != NULL;
}

/* Object.keys(msg).length. */
size_t fn__nkeys(const struct ef_msg *msg)
{
    return ef_val_obj_len(ef_msg_root(msg));
}

/* a === b: primitives by value (NaN never equal), containers by identity. */
bool fn__strict_eq(const struct ef_val *a, const struct ef_val *b)
{
    if (!a || !b) {
        return a == b;
    }
    if (ef_val_type(a) != ef_val_type(b)) {
        return false;
    }
    switch (ef_val_type(a)) {
    case EF_NULL: return true;
    case EF_BOOL: return ef_val_bool_get(a) == ef_val_bool_get(b);
    case EF_NUM: return ef_val_num_get(a) == ef_val_num_get(b);
    case EF_STR:
        return ef_val_str_len(a) == ef_val_str_len(b) &&
               memcmp(ef_val_str_get(a), ef_val_str_get(b), ef_val_str_len(a)) == 0;
    default: return a == b;
    }
}
