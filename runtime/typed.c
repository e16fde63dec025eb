/*
 * typed.c - evaluating Node-RED typed inputs: str, num, bool, json, bin, re,
 * date, msg, flow, global, env, jsonata (RED.util.evaluateNodeProperty), plus
 * JavaScript's Number() conversion that those rules rely on.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "js.h"
#include "typed.h"

static void regexp_free(void *p)
{
    free(p);
}

const struct ef_handle_type typed__regexp_type = {"RegExp", regexp_free};

static bool js_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

double typed__to_number(const char *s, size_t len)
{
    while (len && js_space((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len && js_space((unsigned char)s[len - 1])) {
        len--;
    }
    if (len == 0) {
        return 0;
    }
    char buf[512];
    if (len >= sizeof(buf)) {
        return NAN;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (len > 2 && buf[0] == '0' && strchr("xXbBoO", buf[1])) {
        int base = (buf[1] == 'x' || buf[1] == 'X') ? 16 : (buf[1] == 'b' || buf[1] == 'B') ? 2 : 8;
        double v = 0;
        for (size_t i = 2; i < len; i++) {
            int d = isdigit((unsigned char)buf[i])    ? buf[i] - '0'
                    : isxdigit((unsigned char)buf[i]) ? (tolower((unsigned char)buf[i]) - 'a' + 10)
                                                      : 99;
            if (d >= base) {
                return NAN;
            }
            v = v * base + d;
        }
        return v;
    }
    const char *p = buf;
    bool neg = false;
    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        p++;
    }
    if (!strcmp(p, "Infinity")) {
        return neg ? -INFINITY : INFINITY;
    }
    /* Only decimal literals: digits, one dot, optional exponent. */
    const char *q = p;
    bool digits = false;
    while (isdigit((unsigned char)*q)) {
        q++;
        digits = true;
    }
    if (*q == '.') {
        q++;
        while (isdigit((unsigned char)*q)) {
            q++;
            digits = true;
        }
    }
    if (!digits) {
        return NAN;
    }
    if (*q == 'e' || *q == 'E') {
        q++;
        if (*q == '+' || *q == '-') {
            q++;
        }
        if (!isdigit((unsigned char)*q)) {
            return NAN;
        }
        while (isdigit((unsigned char)*q)) {
            q++;
        }
    }
    if (*q) {
        return NAN;
    }
    return strtod(buf, NULL);
}

/* The configured value as text ("" + value in JavaScript). */
static char *value_text(const struct ef_val *v)
{
    if (!v) {
        return strdup("undefined");
    }
    switch (ef_val_type(v)) {
    case EF_STR: return strdup(ef_val_str_get(v));
    case EF_NUM: {
        char b[32];
        ef_num_format(ef_val_num_get(v), b);
        return strdup(b);
    }
    case EF_BOOL: return strdup(ef_val_bool_get(v) ? "true" : "false");
    case EF_NULL: return strdup("null");
    default: return js__to_string(v, NULL); /* String([1,2]) is "1,2" */
    }
}

struct ef_val *typed__env_string(struct ef_runtime *rt, struct ef_scope *s, const char *value)
{
    size_t len = strlen(value);
    const char *dollar = strstr(value, "${");
    if (dollar == value && len > 3 && value[len - 1] == '}' && !memchr(value + 2, '}', len - 3)) {
        char *name = strndup(value + 2, len - 3);
        struct ef_val *r = name ? env__get(rt, s, name) : NULL;
        free(name);
        return r ? r : ef_val_str("");
    }
    if (!dollar) {
        struct ef_val *r = env__get(rt, s, value);
        return r ? r : ef_val_str("");
    }
    /* FOO${A}BAR: substitute each ${name}. */
    size_t cap = len + 64, n = 0;
    char *out = malloc(cap);
    if (!out) {
        return NULL;
    }
    const char *p = value;
    while (*p) {
        const char *close = p[0] == '$' && p[1] == '{' ? strchr(p + 2, '}') : NULL;
        const char *piece = p;
        size_t plen = 1;
        struct ef_val *r = NULL;
        char *text = NULL;
        if (close && close > p + 2) {
            char *name = strndup(p + 2, (size_t)(close - p - 2));
            r = name ? env__get(rt, s, name) : NULL;
            free(name);
            text = r ? value_text(r) : strdup("");
            piece = text ? text : "";
            plen = strlen(piece);
            p = close + 1;
        } else {
            p++;
        }
        if (n + plen + 1 > cap) {
            cap = (n + plen + 1) * 2;
            char *o = realloc(out, cap);
            if (!o) {
                free(out);
                free(text);
                ef_val_unref(r);
                return NULL;
            }
            out = o;
        }
        memcpy(out + n, piece, plen);
        n += plen;
        free(text);
        ef_val_unref(r);
    }
    out[n] = '\0';
    return ef_val_str_take(out, n);
}

int typed__eval_static(struct ef_runtime *rt, struct ef_scope *s, const char *type,
                       const struct ef_val *value, struct ef_val **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!strcmp(type, "str")) {
        char *t = value_text(value);
        *out = t ? ef_val_str_take(t, strlen(t)) : NULL;
        return *out ? 0 : EF_ENOMEM;
    }
    if (!strcmp(type, "num")) {
        if (ef_val_type(value) == EF_NUM) {
            *out = ef_val_num(ef_val_num_get(value));
        } else if (ef_val_type(value) == EF_BOOL) {
            *out = ef_val_num(ef_val_bool_get(value) ? 1 : 0);
        } else if (!value) {
            *out = ef_val_num(NAN);
        } else {
            char *t = value_text(value);
            *out = ef_val_num(t ? typed__to_number(t, strlen(t)) : NAN);
            free(t);
        }
        return *out ? 0 : EF_ENOMEM;
    }
    if (!strcmp(type, "bool")) {
        char *t = value_text(value);
        *out = ef_val_bool(t && strcasecmp(t, "true") == 0);
        free(t);
        return 0;
    }
    if (!strcmp(type, "json") || !strcmp(type, "bin")) {
        char *t = value_text(value);
        if (!t) {
            return EF_ENOMEM;
        }
        struct ef_val *v = ef_json_parse(t, strlen(t), err, errlen);
        free(t);
        if (!v) {
            return EF_EPARSE;
        }
        if (!strcmp(type, "json")) {
            *out = v;
            return 0;
        }
        /* bin: Buffer.from(array | string) */
        if (ef_val_type(v) == EF_STR) {
            *out = ef_val_buf(ef_val_str_get(v), ef_val_str_len(v));
        } else if (ef_val_type(v) == EF_ARR) {
            size_t n = ef_val_arr_len(v);
            uint8_t *b = malloc(n ? n : 1);
            for (size_t i = 0; b && i < n; i++) {
                double d = ef_val_num_get(ef_val_arr_at(v, i));
                b[i] = (uint8_t)((isfinite(d) ? (long long)d : 0) & 0xff);
            }
            *out = b ? ef_val_buf_take(b, n) : NULL;
        } else {
            snprintf(err, errlen, "Not string or array");
            ef_val_unref(v);
            return EF_ETYPE;
        }
        ef_val_unref(v);
        return *out ? 0 : EF_ENOMEM;
    }
    if (!strcmp(type, "re")) {
        char *t = value_text(value);
        *out = t ? ef_val_handle(t, &typed__regexp_type) : NULL;
        return *out ? 0 : EF_ENOMEM;
    }
    if (!strcmp(type, "date")) {
        const char *f = ef_val_str_get(value);
        double now = ef_now_ms();
        if (!value || !*f) {
            *out = ef_val_num(now);
        } else if (!strcmp(f, "iso")) {
            char *t = typed__format_date(now, "\x01iso");
            *out = t ? ef_val_str_take(t, strlen(t)) : NULL;
        } else if (!strcmp(f, "object")) {
            /* A Date object; JSON shows it as its ISO string. */
            char *t = typed__format_date(now, "\x01iso");
            *out = t ? ef_val_str_take(t, strlen(t)) : NULL;
        } else {
            char *t = typed__format_date(now, f);
            *out = t ? ef_val_str_take(t, strlen(t)) : NULL;
        }
        return *out ? 0 : EF_ENOMEM;
    }
    if (!strcmp(type, "env")) {
        *out = typed__env_string(rt, s, ef_val_str_get(value));
        return *out ? 0 : EF_ENOMEM;
    }
    /* Types Node-RED passes through unchanged (node, cred, conf-type, ...). */
    *out = value ? ef_val_ref((struct ef_val *)value) : NULL;
    return 0;
}

/* One name looked up through the node, as text ("" when unset). Malloc'ed. */
static char *node_env_text(struct ef_node *n, const char *name, size_t len)
{
    char *key = strndup(name, len);
    struct ef_val *r = key ? ef_node_env_get(n, key) : NULL;
    free(key);
    char *t = r ? value_text(r) : strdup("");
    ef_val_unref(r);
    return t;
}

/*
 * evaluateEnvProperty with every name looked up through the node, for values
 * naming NR_NODE_*: "${A}" or "A" is A's value, "x${A}y" substitutes.
 */
static struct ef_val *node_env_string(struct ef_node *n, const char *v, size_t len)
{
    const char *dollar = strstr(v, "${");
    bool whole = dollar == v && len > 3 && v[len - 1] == '}' && !memchr(v + 2, '}', len - 3);
    if (whole || !dollar) {
        struct ef_val *r = whole ? NULL : ef_node_env_get(n, v);
        if (whole) {
            char *key = strndup(v + 2, len - 3);
            r = key ? ef_node_env_get(n, key) : NULL;
            free(key);
        }
        return r ? r : ef_val_str("");
    }
    size_t cap = len + 64, used = 0;
    char *out = malloc(cap);
    for (const char *p = v; out && *p;) {
        const char *close = p[0] == '$' && p[1] == '{' ? strchr(p + 2, '}') : NULL;
        char *text = close && close > p + 2 ? node_env_text(n, p + 2, (size_t)(close - p - 2))
                                            : strndup(p, 1);
        p = close && close > p + 2 ? close + 1 : p + 1;
        size_t tl = text ? strlen(text) : 0;
        if (used + tl + 1 > cap) {
            cap = (used + tl + 1) * 2;
            char *o = realloc(out, cap);
            if (!o) {
                free(out);
                out = NULL;
            }
            out = o;
        }
        if (out && text) {
            memcpy(out + used, text, tl);
            used += tl;
        }
        free(text);
    }
    if (!out) {
        return NULL;
    }
    out[used] = '\0';
    return ef_val_str_take(out, used);
}

int ef_node_eval_typed(struct ef_node *n, const char *type, const struct ef_val *value,
                       const struct ef_msg *msg, struct ef_val **out, char *err, size_t errlen)
{
    *out = NULL;
    if (err && errlen) {
        err[0] = '\0';
    }
    if (!type || !*type) {
        type = "str";
    }
    if (!strcmp(type, "msg")) {
        if (!msg) {
            *out = value ? ef_val_ref((struct ef_val *)value) : NULL;
            return 0;
        }
        const char *expr = ef_val_str_get(value);
        if (!strncmp(expr, "msg.", 4)) {
            expr += 4;
        }
        struct ef_path *p = ef_path_parse(expr, err, errlen);
        if (!p) {
            return EF_EINVAL;
        }
        struct ef_val *v = ef_path_get(ef_msg_root(msg), p, ef_msg_root(msg));
        ef_path_free(p);
        *out = ef_val_ref(v);
        return 0;
    }
    if (!strcmp(type, "flow") || !strcmp(type, "global")) {
        char store[64];
        const char *key = ef_ctx_parse_store(ef_val_str_get(value), store, sizeof(store));
        /* A key with a nested [msg.x] is resolved against the message first. */
        char *resolved = msg && strstr(key, "[msg") ? js__resolve_ctx_key(key, msg) : NULL;
        *out = ef_ctx_get(n, type[0] == 'f' ? EF_CTX_FLOW : EF_CTX_GLOBAL, store[0] ? store : NULL,
                          resolved ? resolved : key);
        free(resolved);
        return 0;
    }
    if (!strcmp(type, "jsonata")) {
        return typed__jsonata(n, ef_val_str_get(value), msg, out, err, errlen);
    }
    if (!strcmp(type, "env")) {
        if (!strcmp(ef_val_str_get(value), "")) {
            *out = ef_val_str("");
            return 0;
        }
        const char *v = ef_val_str_get(value);
        size_t len = strlen(v);
        /* Node-level names (NR_NODE_*) need the node itself. */
        if (strstr(v, "NR_NODE_")) {
            *out = node_env_string(n, v, len);
            return *out ? 0 : EF_ENOMEM;
        }
        *out = typed__env_string(n->fs->rt, n->group ? n->group : n->flow, v);
        return *out ? 0 : EF_ENOMEM;
    }
    return typed__eval_static(n->fs->rt, n->group ? n->group : n->flow, type, value, out, err,
                              errlen);
}

/* ---- Dates (moment-style format tokens) ---- */

static const char *const month_names[] = {"January",   "February", "March",    "April",
                                          "May",       "June",     "July",     "August",
                                          "September", "October",  "November", "December"};
static const char *const day_names[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                        "Thursday", "Friday", "Saturday"};

char *typed__format_date(double ms, const char *fmt)
{
    time_t secs = (time_t)floor(ms / 1000);
    int millis = (int)(ms - (double)secs * 1000);
    struct tm tm;
    char *out = malloc(strlen(fmt) * 12 + 64);
    if (!out) {
        return NULL;
    }
    if (fmt[0] == '\x01') { /* ISO 8601 in UTC, as Date.toISOString */
        gmtime_r(&secs, &tm);
        sprintf(out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
        return out;
    }
    localtime_r(&secs, &tm);
    char *o = out;
    const char *p = fmt;
    while (*p) {
#define TOK(s) (strncmp(p, s, strlen(s)) == 0 ? (p += strlen(s), 1) : 0)
        if (*p == '[') {
            const char *close = strchr(p, ']');
            if (close) {
                memcpy(o, p + 1, (size_t)(close - p - 1));
                o += close - p - 1;
                p = close + 1;
                continue;
            }
        }
        long off = tm.tm_gmtoff / 60;
        if (TOK("YYYY")) {
            o += sprintf(o, "%04d", tm.tm_year + 1900);
        } else if (TOK("YY")) {
            o += sprintf(o, "%02d", (tm.tm_year + 1900) % 100);
        } else if (TOK("MMMM")) {
            o += sprintf(o, "%s", month_names[tm.tm_mon]);
        } else if (TOK("MMM")) {
            o += sprintf(o, "%.3s", month_names[tm.tm_mon]);
        } else if (TOK("MM")) {
            o += sprintf(o, "%02d", tm.tm_mon + 1);
        } else if (TOK("M")) {
            o += sprintf(o, "%d", tm.tm_mon + 1);
        } else if (TOK("DD")) {
            o += sprintf(o, "%02d", tm.tm_mday);
        } else if (TOK("D")) {
            o += sprintf(o, "%d", tm.tm_mday);
        } else if (TOK("dddd")) {
            o += sprintf(o, "%s", day_names[tm.tm_wday]);
        } else if (TOK("ddd")) {
            o += sprintf(o, "%.3s", day_names[tm.tm_wday]);
        } else if (TOK("HH")) {
            o += sprintf(o, "%02d", tm.tm_hour);
        } else if (TOK("H")) {
            o += sprintf(o, "%d", tm.tm_hour);
        } else if (TOK("hh")) {
            o += sprintf(o, "%02d", tm.tm_hour % 12 ? tm.tm_hour % 12 : 12);
        } else if (TOK("h")) {
            o += sprintf(o, "%d", tm.tm_hour % 12 ? tm.tm_hour % 12 : 12);
        } else if (TOK("mm")) {
            o += sprintf(o, "%02d", tm.tm_min);
        } else if (TOK("m")) {
            o += sprintf(o, "%d", tm.tm_min);
        } else if (TOK("ss")) {
            o += sprintf(o, "%02d", tm.tm_sec);
        } else if (TOK("s")) {
            o += sprintf(o, "%d", tm.tm_sec);
        } else if (TOK("SSS")) {
            o += sprintf(o, "%03d", millis);
        } else if (TOK("A")) {
            o += sprintf(o, "%s", tm.tm_hour < 12 ? "AM" : "PM");
        } else if (TOK("a")) {
            o += sprintf(o, "%s", tm.tm_hour < 12 ? "am" : "pm");
        } else if (TOK("ZZ")) {
            o += sprintf(o, "%c%02ld%02ld", off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
        } else if (TOK("Z")) {
            o += sprintf(o, "%c%02ld:%02ld", off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
        } else if (TOK("x")) {
            o += sprintf(o, "%.0f", ms);
        } else if (TOK("X")) {
            o += sprintf(o, "%lld", (long long)secs);
        } else {
            *o++ = *p++;
        }
#undef TOK
    }
    *o = '\0';
    return out;
}
