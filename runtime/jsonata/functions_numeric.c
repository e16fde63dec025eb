/*
 * functions_numeric.c - JSONata's numeric, aggregation and boolean
 * functions: $sum $count $max $min $average $number $floor $ceil $round
 * (half to even) $abs $sqrt $power $random $formatBase $boolean $not.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "jsonata/functions.h"

#define UNUSED3                                                                                    \
    (void)c;                                                                                       \
    (void)focus;                                                                                   \
    (void)env

static int num_out(struct jv *out, double d)
{
    out->v = ef_val_num(d);
    return 0;
}

int jsonata__fn_sum(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                    struct jsonata__env *env, struct jv *out)
{
    UNUSED3;
    struct ef_val *v = ARG(0);
    if (!v) {
        return 0;
    }
    double t = 0;
    size_t m = ef_val_arr_len(v);
    for (size_t i = 0; i < m; i++) {
        t += ef_val_num_get(ef_val_arr_at(v, i));
    }
    return num_out(out, t);
}

int jsonata__fn_count(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                      struct jsonata__env *env, struct jv *out)
{
    UNUSED3;
    struct ef_val *v = ARG(0);
    return num_out(out, v ? (double)ef_val_arr_len(v) : 0);
}

static int extreme(struct jv *a, int n, struct jv *out, bool want_max)
{
    struct ef_val *v = ARG(0);
    size_t m = v ? ef_val_arr_len(v) : 0;
    if (m == 0) {
        return 0;
    }
    double r = want_max ? -INFINITY : INFINITY;
    for (size_t i = 0; i < m; i++) {
        double d = ef_val_num_get(ef_val_arr_at(v, i));
        if (isnan(d)) {
            r = NAN;
            break;
        }
        if (want_max ? d > r : d < r) {
            r = d;
        }
    }
    return num_out(out, r);
}

int jsonata__fn_max(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                    struct jsonata__env *env, struct jv *out)
{
    UNUSED3;
    return extreme(a, n, out, true);
}

int jsonata__fn_min(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                    struct jsonata__env *env, struct jv *out)
{
    UNUSED3;
    return extreme(a, n, out, false);
}

int jsonata__fn_average(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                        struct jsonata__env *env, struct jv *out)
{
    UNUSED3;
    struct ef_val *v = ARG(0);
    size_t m = v ? ef_val_arr_len(v) : 0;
    if (m == 0) {
        return 0;
    }
    double t = 0;
    for (size_t i = 0; i < m; i++) {
        t += ef_val_num_get(ef_val_arr_at(v, i));
    }
    return num_out(out, t / (double)m);
}

static bool is_decimal(const char *s)
{
    const char *p = s;
    if (*p == '-') {
        p++;
    }
    if (!(*p >= '0' && *p <= '9')) {
        return false;
    }
    while (*p >= '0' && *p <= '9') {
        p++;
    }
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9')) {
            return false;
        }
        while (*p >= '0' && *p <= '9') {
            p++;
        }
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') {
            p++;
        }
        if (!(*p >= '0' && *p <= '9')) {
            return false;
        }
        while (*p >= '0' && *p <= '9') {
            p++;
        }
    }
    return *p == 0;
}

static bool in_set(char ch, int base)
{
    if (base == 16) {
        return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
    }
    return ch >= '0' && ch < '0' + base;
}

static bool loose_radix_match(const char *s)
{
    size_t n = strlen(s);
    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && in_set(s[2], 16)) {
        return true;
    }
    for (size_t i = 0; i + 2 < n; i++) {
        if (s[i] == '0' && (s[i + 1] == 'o' || s[i + 1] == 'O') && in_set(s[i + 2], 8)) {
            return true;
        }
    }
    size_t k = n;
    while (k > 0 && (s[k - 1] == '0' || s[k - 1] == '1')) {
        k--;
    }
    return k < n && k >= 2 && (s[k - 1] == 'b' || s[k - 1] == 'B') && s[k - 2] == '0';
}

static double exact_radix(const char *s)
{
    if (s[0] != '0' || !s[1]) {
        return NAN;
    }
    int base = (s[1] == 'x' || s[1] == 'X')   ? 16
               : (s[1] == 'o' || s[1] == 'O') ? 8
               : (s[1] == 'b' || s[1] == 'B') ? 2
                                              : 0;
    if (!base || !s[2]) {
        return NAN;
    }
    double v = 0;
    for (const char *p = s + 2; *p; p++) {
        if (!in_set(*p, base)) {
            return NAN;
        }
        int d = *p <= '9' ? *p - '0' : (*p | 32) - 'a' + 10;
        v = v * base + d;
    }
    return v;
}

int jsonata__fn_number(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                       struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    (void)env;
    struct ef_val *v = ARG(0);
    if (!v) {
        return 0;
    }
    switch (ef_val_type(v)) {
    case EF_NUM: out->v = ef_val_ref(v); return 0;
    case EF_BOOL: return num_out(out, ef_val_bool_get(v) ? 1 : 0);
    case EF_STR: {
        const char *s = ef_val_str_get(v);
        if (is_decimal(s)) {
            double d = strtod(s, NULL);
            if (isfinite(d)) {
                return num_out(out, d);
            }
        }
        /* jsonata-js tests /^(0[xX][0-9A-Fa-f]+)|(0[oO][0-7]+)|(0[bB][0-1]+)$/ (the
         * anchors bind to the first and last alternatives only) and then
         * converts with Number(), which gives NaN unless the whole string is
         * one of those literals */
        if (loose_radix_match(s)) {
            return num_out(out, exact_radix(s));
        }
        break;
    }
    default: break;
    }
    jsonata__error_val(c, "D3030", -1, NULL, v);
    c->err.index = 1;
    return -1;
}

int jsonata__fn_floor(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                      struct jsonata__env *env, struct jv *out)
{
    UNUSED3;
    return ARG(0) ? num_out(out, floor(ef_val_num_get(ARG(0)))) : 0;
}

int jsonata__fn_ceil(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                     struct jsonata__env *env, struct jv *out)
{
    UNUSED3;
    return ARG(0) ? num_out(out, ceil(ef_val_num_get(ARG(0)))) : 0;
}

int jsonata__fn_abs(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                    struct jsonata__env *env, struct jv *out)
{
    UNUSED3;
    return ARG(0) ? num_out(out, fabs(ef_val_num_get(ARG(0)))) : 0;
}

/* Shifts the decimal exponent of d by e the way jsonata does (via text). */
static double shift10(double d, int e)
{
    char buf[64];
    ef_num_format(d, buf);
    char *ep = strchr(buf, 'e');
    int exp = 0;
    if (ep) {
        exp = atoi(ep + 1);
        *ep = 0;
    }
    char tmp[96];
    snprintf(tmp, sizeof(tmp), "%se%d", buf, exp + e);
    return strtod(tmp, NULL);
}

/* Round half to even, optionally at a decimal precision. */
double jsonata__round(double x, int prec)
{
    if (prec) {
        x = shift10(x, prec);
    }
    double r = floor(x + 0.5);
    double diff = r - x;
    if (fabs(diff) == 0.5 && fabs(fmod(r, 2)) == 1) {
        r -= 1;
    }
    if (prec) {
        r = shift10(r, -prec);
    }
    if (r == 0) {
        r = 0;
    }
    return r;
}

int jsonata__fn_round(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                      struct jsonata__env *env, struct jv *out)
{
    UNUSED3;
    if (!ARG(0)) {
        return 0;
    }
    int prec = ARG(1) ? (int)ef_val_num_get(ARG(1)) : 0;
    return num_out(out, jsonata__round(ef_val_num_get(ARG(0)), prec));
}

int jsonata__fn_sqrt(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                     struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    (void)env;
    if (!ARG(0)) {
        return 0;
    }
    double d = ef_val_num_get(ARG(0));
    if (d < 0) {
        jsonata__error_val(c, "D3060", -1, NULL, ARG(0));
        c->err.index = 1;
        return -1;
    }
    return num_out(out, sqrt(d));
}

int jsonata__fn_power(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                      struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    (void)env;
    if (!ARG(0)) {
        return 0;
    }
    double r = pow(ef_val_num_get(ARG(0)), ef_val_num_get(ARG(1)));
    if (!isfinite(r)) {
        jsonata__error_val(c, "D3061", -1, NULL, ARG(0));
        jsonata__value_json(ARG(1), c->err.value2, sizeof(c->err.value2));
        c->err.index = 1;
        return -1;
    }
    return num_out(out, r);
}

static uint64_t next_rand(struct jsonata__ctx *c)
{
    if (!c->rng) {
        c->rng = (uint64_t)jsonata__now_ms(c) * 6364136223846793005ull ^ (uint64_t)(uintptr_t)c;
        if (!c->rng) {
            c->rng = 88172645463325252ull;
        }
    }
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    return c->rng;
}

/* A random double in [0, 1) from the evaluation's generator. */
double jsonata__random(struct jsonata__ctx *c)
{
    return (double)(next_rand(c) >> 11) / 9007199254740992.0;
}

int jsonata__fn_random(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                       struct jsonata__env *env, struct jv *out)
{
    (void)a;
    (void)n;
    (void)focus;
    (void)env;
    return num_out(out, jsonata__random(c));
}

int jsonata__fn_format_base(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                            struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    (void)env;
    if (!ARG(0)) {
        return 0;
    }
    double v = jsonata__round(ef_val_num_get(ARG(0)), 0);
    int radix = ARG(1) ? (int)ef_val_num_get(ARG(1)) : 10;
    if (radix < 2 || radix > 36) {
        jsonata__error_val(c, "D3100", -1, NULL, ARG(1));
        return -1;
    }
    char buf[80];
    int k = (int)sizeof(buf) - 1;
    buf[k] = 0;
    bool neg = v < 0;
    double x = fabs(v);
    if (x == 0) {
        buf[--k] = '0';
    }
    while (x >= 1 && k > 1) {
        int d = (int)fmod(x, radix);
        buf[--k] = "0123456789abcdefghijklmnopqrstuvwxyz"[d];
        x = floor(x / radix);
    }
    if (neg) {
        buf[--k] = '-';
    }
    out->v = ef_val_str(buf + k);
    return 0;
}

/* fn.boolean: undefined for undefined, else JSONata truthiness. */
static struct ef_val *boolean_of(struct ef_val *v)
{
    if (!v) {
        return NULL;
    }
    return ef_val_bool(jsonata__truthy(v));
}

int jsonata__fn_boolean(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                        struct jsonata__env *env, struct jv *out)
{
    UNUSED3;
    out->v = boolean_of(ARG(0));
    return 0;
}

int jsonata__fn_not(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                    struct jsonata__env *env, struct jv *out)
{
    UNUSED3;
    if (ARG(0)) {
        out->v = ef_val_bool(!jsonata__truthy(ARG(0)));
    }
    return 0;
}
