/*
 * yaml_load.c - YAML to values the way js-yaml's load() resolves them (see
 * yaml_load.h), on libyaml's event parser. Anchored nodes are kept by name
 * and shared (refcounted) where aliased.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yaml.h>

#include <edgeflow/err.h>

#include "js.h"
#include "yaml_load.h"

#define MAX_DEPTH 512

struct anchor {
    char *name;
    struct ef_val *v;
};

struct loader {
    yaml_parser_t p;
    struct anchor *anchors;
    size_t nanchors, cap;
    char *err;
    size_t errlen;
};

static void fail(struct loader *l, const char *what, const yaml_mark_t *m)
{
    if (!l->err[0]) {
        snprintf(l->err, l->errlen, "%s (%zu:%zu)", what, m->line + 1, m->column + 1);
    }
}

static void parser_fail(struct loader *l)
{
    const char *what = l->p.problem ? l->p.problem : "invalid YAML";
    char text[512];
    if (l->p.context) {
        snprintf(text, sizeof(text), "%s %s", l->p.context, what);
        what = text;
    }
    fail(l, what, &l->p.problem_mark);
}

static int add_anchor(struct loader *l, const char *name, struct ef_val *v)
{
    if (!name) {
        return 0;
    }
    for (size_t i = 0; i < l->nanchors; i++) {
        if (!strcmp(l->anchors[i].name, name)) {
            ef_val_unref(l->anchors[i].v);
            l->anchors[i].v = ef_val_ref(v);
            return 0;
        }
    }
    if (l->nanchors == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct anchor *a = realloc(l->anchors, cap * sizeof(*a));
        if (!a) {
            return -1;
        }
        l->anchors = a;
        l->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy) {
        return -1;
    }
    l->anchors[l->nanchors].name = copy;
    l->anchors[l->nanchors].v = ef_val_ref(v);
    l->nanchors++;
    return 0;
}

static bool all_match(const char *s, size_t n, const char *set)
{
    for (size_t i = 0; i < n; i++) {
        if (!strchr(set, s[i])) {
            return false;
        }
    }
    return true;
}

/* js-yaml 4's int resolver: decimal, 0b, 0o, 0x; NAN when s is not a (finite) int. */
static double resolve_int(const char *s, size_t n)
{
    size_t i = 0;
    int sign = 1;
    if (n && (s[0] == '-' || s[0] == '+')) {
        sign = s[0] == '-' ? -1 : 1;
        i++;
    }
    if (i >= n) {
        return NAN;
    }
    int base = 10;
    if (s[i] == '0' && i + 1 < n && (s[i + 1] == 'b' || s[i + 1] == 'x' || s[i + 1] == 'o')) {
        base = s[i + 1] == 'b' ? 2 : s[i + 1] == 'x' ? 16 : 8;
        i += 2;
        if (i >= n) {
            return NAN;
        }
    }
    const char *digits = base == 2    ? "01"
                         : base == 8  ? "01234567"
                         : base == 16 ? "0123456789abcdefABCDEF"
                                      : "0123456789";
    if (!all_match(s + i, n - i, digits)) {
        return NAN;
    }
    double v = 0;
    for (; i < n; i++) {
        int d =
            isdigit((unsigned char)s[i]) ? s[i] - '0' : (tolower((unsigned char)s[i]) - 'a' + 10);
        v = v * base + d;
    }
    return isfinite(v) ? sign * v : NAN;
}

/* js-yaml 4's float resolver; *ok tells whether s is a float. */
static double resolve_float(const char *s, size_t n, bool *ok)
{
    *ok = false;
    if (!n) {
        return NAN;
    }
    const char *p = s, *end = s + n;
    int sign = 1;
    if (*p == '-' || *p == '+') {
        sign = *p == '-' ? -1 : 1;
        p++;
    }
    size_t rest = (size_t)(end - p);
    if (rest == 4 && (!memcmp(p, ".inf", 4) || !memcmp(p, ".Inf", 4) || !memcmp(p, ".INF", 4))) {
        *ok = true;
        return sign * INFINITY;
    }
    if (p == s && rest == 4 &&
        (!memcmp(p, ".nan", 4) || !memcmp(p, ".NaN", 4) || !memcmp(p, ".NAN", 4))) {
        *ok = true;
        return NAN;
    }
    /* [-+]?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)? | \.[0-9]+([eE][-+]?[0-9]+)? */
    const char *q = p;
    size_t nd = 0;
    if (q < end && isdigit((unsigned char)*q)) {
        while (q < end && isdigit((unsigned char)*q)) {
            q++;
        }
        if (q < end && *q == '.') {
            q++;
            while (q < end && isdigit((unsigned char)*q)) {
                q++;
            }
        }
    } else if (q < end && *q == '.' && p == s) {
        q++;
        while (q < end && isdigit((unsigned char)*q)) {
            q++;
            nd++;
        }
        if (!nd) {
            return NAN;
        }
    } else {
        return NAN;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < end && (*q == '-' || *q == '+')) {
            q++;
        }
        nd = 0;
        while (q < end && isdigit((unsigned char)*q)) {
            q++;
            nd++;
        }
        if (!nd) {
            return NAN;
        }
    }
    if (q != end) {
        return NAN;
    }
    char *num = strndup(s, n);
    double d = num ? strtod(num, NULL) : NAN;
    free(num);
    if (!isfinite(d)) {
        return NAN;
    }
    *ok = true;
    return d;
}

static int digits(const char **p, const char *end, int min, int max)
{
    int v = 0, n = 0;
    while (*p < end && n < max && isdigit((unsigned char)**p)) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    return n >= min ? v : -1;
}

/* js-yaml's timestamp resolver: the time in ms, or NAN when s is not one. */
static double resolve_timestamp(const char *s, size_t n)
{
    const char *p = s, *end = s + n;
    int y = digits(&p, end, 4, 4);
    if (y < 0 || p >= end || *p++ != '-') {
        return NAN;
    }
    bool date_only = n == 10;
    int mo = digits(&p, end, date_only ? 2 : 1, 2);
    if (mo < 0 || p >= end || *p++ != '-') {
        return NAN;
    }
    int d = digits(&p, end, date_only ? 2 : 1, 2);
    if (d < 0) {
        return NAN;
    }
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    if (p == end) {
        return date_only ? (double)timegm(&tm) * 1000 : NAN;
    }
    if (*p == 'T' || *p == 't') {
        p++;
    } else if (*p == ' ' || *p == '\t') {
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
    } else {
        return NAN;
    }
    int h = digits(&p, end, 1, 2);
    if (h < 0 || p >= end || *p++ != ':') {
        return NAN;
    }
    int mi = digits(&p, end, 2, 2);
    if (mi < 0 || p >= end || *p++ != ':') {
        return NAN;
    }
    int se = digits(&p, end, 2, 2);
    if (se < 0) {
        return NAN;
    }
    double frac = 0;
    if (p < end && *p == '.') {
        p++;
        double scale = 100;
        int nd = 0;
        while (p < end && isdigit((unsigned char)*p)) {
            if (nd < 3) {
                frac += (*p - '0') * scale;
                scale /= 10;
            }
            nd++;
            p++;
        }
    }
    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    double offset = 0;
    if (p < end) {
        if (*p == 'Z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1;
            int oh = digits(&p, end, 1, 2), om = 0;
            if (oh < 0) {
                return NAN;
            }
            if (p < end && *p == ':') {
                p++;
                om = digits(&p, end, 2, 2);
                if (om < 0) {
                    return NAN;
                }
            }
            offset = sign * (oh * 60 + om) * 60000.0;
        } else {
            return NAN;
        }
    }
    if (p != end) {
        return NAN;
    }
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    return (double)timegm(&tm) * 1000 + floor(frac) - offset;
}

static struct ef_val *iso_date(double ms)
{
    time_t secs = (time_t)floor(ms / 1000);
    int milli = (int)(ms - (double)secs * 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    return ef_val_strf("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                       tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, milli);
}

static struct ef_val *base64_decode(const char *s, size_t n)
{
    uint8_t *out = malloc(n / 4 * 3 + 3);
    if (!out) {
        return NULL;
    }
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int v = c >= 'A' && c <= 'Z'   ? c - 'A'
                : c >= 'a' && c <= 'z' ? c - 'a' + 26
                : c >= '0' && c <= '9' ? c - '0' + 52
                : c == '+'             ? 62
                : c == '/'             ? 63
                                       : -1;
        if (v < 0) {
            continue;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[k++] = (uint8_t)(acc >> bits);
        }
    }
    return ef_val_buf_take(out, k);
}

/* A scalar event as js-yaml resolves it. */
static struct ef_val *scalar(struct loader *l, const yaml_event_t *e)
{
    const char *s = (const char *)e->data.scalar.value;
    size_t n = e->data.scalar.length;
    const char *tag = (const char *)e->data.scalar.tag;
    bool plain = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (tag && strcmp(tag, "!") != 0) {
        const char *t = !strncmp(tag, "tag:yaml.org,2002:", 18) ? tag + 18 : NULL;
        if (!t) {
            char text[300];
            snprintf(text, sizeof(text), "unknown tag !<%s>", tag);
            fail(l, text, &e->start_mark);
            return NULL;
        }
        if (!strcmp(t, "str")) {
            return ef_val_strn(s, n);
        }
        if (!strcmp(t, "binary")) {
            return base64_decode(s, n);
        }
        if (!strcmp(t, "null") || !strcmp(t, "bool") || !strcmp(t, "int") || !strcmp(t, "float") ||
            !strcmp(t, "timestamp")) {
            plain = true; /* resolved below; a mismatch is an error */
            struct ef_val *v = NULL;
            bool ok = false;
            if (!strcmp(t, "null")) {
                ok = n == 0 || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
                     !strcmp(s, "NULL");
                v = ok ? ef_val_null() : NULL;
            } else if (!strcmp(t, "bool")) {
                bool tr = !strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE");
                bool fa = !strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE");
                ok = tr || fa;
                v = ok ? ef_val_bool(tr) : NULL;
            } else if (!strcmp(t, "int")) {
                double d = resolve_int(s, n);
                ok = !isnan(d);
                v = ok ? ef_val_num(d) : NULL;
            } else if (!strcmp(t, "float")) {
                double d = resolve_float(s, n, &ok);
                if (!ok) {
                    d = resolve_int(s, n);
                    ok = !isnan(d);
                }
                v = ok ? ef_val_num(d) : NULL;
            } else {
                double d = resolve_timestamp(s, n);
                ok = !isnan(d);
                v = ok ? iso_date(d) : NULL;
            }
            if (!ok) {
                char text[300];
                snprintf(text, sizeof(text), "cannot resolve a node with !<%s> explicit tag", tag);
                fail(l, text, &e->start_mark);
            }
            return v;
        }
        if (strcmp(t, "map") != 0 && strcmp(t, "seq") != 0) {
            char text[300];
            snprintf(text, sizeof(text), "unknown tag !<%s>", tag);
            fail(l, text, &e->start_mark);
            return NULL;
        }
    }
    if (!plain || (tag && !strcmp(tag, "!"))) {
        return ef_val_strn(s, n);
    }
    if (n == 0 || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
        !strcmp(s, "NULL")) {
        return ef_val_null();
    }
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
        return ef_val_bool(true);
    }
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
        return ef_val_bool(false);
    }
    double d = resolve_int(s, n);
    if (!isnan(d)) {
        return ef_val_num(d);
    }
    bool ok;
    d = resolve_float(s, n, &ok);
    if (ok) {
        return ef_val_num(d);
    }
    d = resolve_timestamp(s, n);
    if (!isnan(d)) {
        return iso_date(d);
    }
    return ef_val_strn(s, n);
}

static struct ef_val *node(struct loader *l, yaml_event_t *e, int depth);

static bool next(struct loader *l, yaml_event_t *e)
{
    if (!yaml_parser_parse(&l->p, e)) {
        parser_fail(l);
        return false;
    }
    return true;
}

/*
 * mergeMappings: copies the keys of src (an object, or an array of them)
 * that dst does not have yet, and marks them as overridable by later keys.
 */
static int merge(struct loader *l, struct ef_val *dst, struct ef_val *over,
                 const struct ef_val *src, const yaml_mark_t *m)
{
    if (ef_val_type(src) == EF_ARR) {
        for (size_t i = 0; i < ef_val_arr_len(src); i++) {
            const struct ef_val *item = ef_val_arr_at(src, i);
            if (ef_val_type(item) != EF_OBJ) {
                fail(l, "cannot merge mappings; the provided source object is unacceptable", m);
                return -1;
            }
            if (merge(l, dst, over, item, m) != 0) {
                return -1;
            }
        }
        return 0;
    }
    if (ef_val_type(src) != EF_OBJ) {
        fail(l, "cannot merge mappings; the provided source object is unacceptable", m);
        return -1;
    }
    for (size_t i = 0; i < ef_val_obj_len(src); i++) {
        size_t kl;
        const char *k = ef_val_obj_key_at(src, i, &kl);
        if (!ef_val_obj_getn(dst, k, kl)) {
            ef_val_obj_setn_take(dst, k, kl, ef_val_ref(ef_val_obj_val_at(src, i)));
            ef_val_obj_setn_take(over, k, kl, ef_val_bool(true));
        }
    }
    return 0;
}

static struct ef_val *mapping(struct loader *l, yaml_event_t *start, int depth)
{
    struct ef_val *obj = ef_val_obj();
    struct ef_val *over = ef_val_obj(); /* keys a merge (<<) set: later keys may replace them */
    if (!obj || !over) {
        goto bad;
    }
    for (;;) {
        yaml_event_t ke;
        if (!next(l, &ke)) {
            goto bad;
        }
        if (ke.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ke);
            break;
        }
        yaml_mark_t km = ke.start_mark;
        bool is_merge = ke.type == YAML_SCALAR_EVENT &&
                        ke.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                        !strcmp((const char *)ke.data.scalar.value, "<<");
        struct ef_val *k = node(l, &ke, depth + 1);
        if (!k) {
            goto bad;
        }
        yaml_event_t ve;
        if (!next(l, &ve)) {
            ef_val_unref(k);
            goto bad;
        }
        struct ef_val *v = node(l, &ve, depth + 1);
        if (!v) {
            ef_val_unref(k);
            goto bad;
        }
        if (is_merge) {
            ef_val_unref(k);
            int rc = merge(l, obj, over, v, &km);
            ef_val_unref(v);
            if (rc != 0) {
                goto bad;
            }
            continue;
        }
        size_t klen;
        char *ks = ef_val_type(k) == EF_STR ? NULL : js__to_string(k, &klen);
        const char *key = ks ? ks : ef_val_str_get(k);
        klen = ks ? klen : ef_val_str_len(k);
        if (ef_val_obj_getn(obj, key, klen) && !ef_val_obj_getn(over, key, klen)) {
            fail(l, "duplicated mapping key", &km);
            free(ks);
            ef_val_unref(k);
            ef_val_unref(v);
            goto bad;
        }
        ef_val_obj_del(over, key, klen);
        int rc = ef_val_obj_setn_take(obj, key, klen, v);
        free(ks);
        ef_val_unref(k);
        if (rc != 0) {
            ef_val_unref(v);
            goto bad;
        }
    }
    ef_val_unref(over);
    over = NULL;
    /* registered once complete: an alias inside its own anchor is not supported */
    if (start->data.mapping_start.anchor &&
        add_anchor(l, (const char *)start->data.mapping_start.anchor, obj) != 0) {
        goto bad;
    }
    return obj;
bad:
    ef_val_unref(over);
    ef_val_unref(obj);
    return NULL;
}

static struct ef_val *sequence(struct loader *l, yaml_event_t *start, int depth)
{
    struct ef_val *arr = ef_val_arr();
    if (!arr) {
        return NULL;
    }
    for (;;) {
        yaml_event_t ie;
        if (!next(l, &ie)) {
            ef_val_unref(arr);
            return NULL;
        }
        if (ie.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ie);
            if (start->data.sequence_start.anchor &&
                add_anchor(l, (const char *)start->data.sequence_start.anchor, arr) != 0) {
                ef_val_unref(arr);
                return NULL;
            }
            return arr;
        }
        struct ef_val *v = node(l, &ie, depth + 1);
        if (!v || ef_val_arr_push_take(arr, v) != 0) {
            ef_val_unref(v);
            ef_val_unref(arr);
            return NULL;
        }
    }
}

/* Builds the node that starts with event e (consumed). */
static struct ef_val *node(struct loader *l, yaml_event_t *e, int depth)
{
    struct ef_val *v = NULL;
    if (depth > MAX_DEPTH) {
        fail(l, "nesting too deep", &e->start_mark);
        yaml_event_delete(e);
        return NULL;
    }
    switch (e->type) {
    case YAML_SCALAR_EVENT:
        v = scalar(l, e);
        if (v && e->data.scalar.anchor &&
            add_anchor(l, (const char *)e->data.scalar.anchor, v) != 0) {
            ef_val_unref(v);
            v = NULL;
        }
        break;
    case YAML_ALIAS_EVENT:
        for (size_t i = 0; i < l->nanchors; i++) {
            if (!strcmp(l->anchors[i].name, (const char *)e->data.alias.anchor)) {
                v = ef_val_ref(l->anchors[i].v);
            }
        }
        if (!v) {
            char text[300];
            snprintf(text, sizeof(text), "unidentified alias \"%s\"",
                     (const char *)e->data.alias.anchor);
            fail(l, text, &e->start_mark);
        }
        break;
    case YAML_MAPPING_START_EVENT: v = mapping(l, e, depth); break;
    case YAML_SEQUENCE_START_EVENT: v = sequence(l, e, depth); break;
    default: fail(l, "unexpected event", &e->start_mark); break;
    }
    yaml_event_delete(e);
    return v;
}

/* Loads one document (see yaml_load.h). */
int yaml__load(const char *text, size_t len, struct ef_val **out, char *err, size_t errlen)
{
    struct loader l = {.err = err, .errlen = errlen};
    err[0] = '\0';
    *out = NULL;
    if (!yaml_parser_initialize(&l.p)) {
        snprintf(err, errlen, "out of memory");
        return EF_ENOMEM;
    }
    yaml_parser_set_input_string(&l.p, (const unsigned char *)text, len);
    int rc = EF_EPARSE;
    int docs = 0;
    struct ef_val *result = NULL;
    for (;;) {
        yaml_event_t e;
        if (!next(&l, &e)) {
            break;
        }
        if (e.type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&e);
            rc = 0;
            break;
        }
        if (e.type == YAML_DOCUMENT_START_EVENT) {
            if (++docs > 1) {
                fail(&l, "expected a single document in the stream, but found more", &e.start_mark);
                yaml_event_delete(&e);
                break;
            }
            yaml_event_delete(&e);
            yaml_event_t ne;
            if (!next(&l, &ne)) {
                break;
            }
            result = node(&l, &ne, 0);
            if (!result) {
                break;
            }
            continue;
        }
        yaml_event_delete(&e);
    }
    for (size_t i = 0; i < l.nanchors; i++) {
        free(l.anchors[i].name);
        ef_val_unref(l.anchors[i].v);
    }
    free(l.anchors);
    yaml_parser_delete(&l.p);
    if (rc != 0) {
        ef_val_unref(result);
        if (!err[0]) {
            snprintf(err, errlen, "invalid YAML");
        }
        return rc;
    }
    *out = result;
    return 0;
}
