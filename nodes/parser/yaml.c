/*
 * yaml.c - the yaml node (Node-RED 70-YAML.js): YAML text to a value with
 * libyaml, typed as js-yaml 4's default schema types plain scalars (null,
 * booleans, ints in 0x/0o/0b forms, floats, .inf/.nan, timestamps as ISO
 * strings, merge keys), and a value back to YAML as js-yaml's dump() writes
 * it (block style, two-space indent, its quoting and block-scalar rules).
 * Parse errors carry libyaml's text, not js-yaml's (see docs/nodes.md).
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include <edgeflow/edgeflow.h>

#include "../sequence/lib/seq.h"
#include "js.h"
#include "strbuf.h"

struct yamlnode {
    struct seq_prop prop;
};

static const struct ef_prop yaml_props[] = {
    {EF_PROP_STR, "property", "\"payload\"", false, "the property to convert", EF_PROP_NOFIELD},
    {EF_PROP_END},
};

/* ---- a growable string (runtime/strbuf.h) ---- */

static void yb_spaces(struct strbuf *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        strbuf__add(b, " ", 1);
    }
}

/* ======================================================================
 * Loading
 * ====================================================================== */

static bool all_in(const char *s, size_t l, const char *set)
{
    for (size_t i = 0; i < l; i++) {
        if (!strchr(set, s[i])) {
            return false;
        }
    }
    return l > 0;
}

static bool is_null(const char *s, size_t l)
{
    return l == 0 || (l == 1 && s[0] == '~') ||
           (l == 4 && (!strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL")));
}

static int is_bool(const char *s, size_t l)
{
    if (l == 4 && (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))) {
        return 1;
    }
    if (l == 5 && (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))) {
        return 0;
    }
    return -1;
}

/* resolveYamlInteger + construct; NaN when not an int. */
static double yaml_int(const char *s, size_t l)
{
    if (!l) {
        return NAN;
    }
    size_t i = 0;
    double sign = 1;
    if (s[0] == '-' || s[0] == '+') {
        sign = s[0] == '-' ? -1 : 1;
        i++;
    }
    if (i < l && s[i] == '0') {
        if (i + 1 == l) {
            return 0 * sign;
        }
        char b = s[i + 1];
        const char *digits = b == 'b'   ? "01"
                             : b == 'x' ? "0123456789abcdefABCDEF"
                             : b == 'o' ? "01234567"
                                        : NULL;
        if (digits) {
            if (!all_in(s + i + 2, l - i - 2, digits)) {
                return NAN;
            }
            double v = 0;
            int base = b == 'b' ? 2 : b == 'x' ? 16 : 8;
            for (size_t k = i + 2; k < l; k++) {
                int d = isdigit((unsigned char)s[k]) ? s[k] - '0'
                                                     : tolower((unsigned char)s[k]) - 'a' + 10;
                v = v * base + d;
            }
            return isfinite(v) ? sign * v : NAN;
        }
    }
    if (!all_in(s + i, l - i, "0123456789")) {
        return NAN;
    }
    double v = strtod(s + i, NULL);
    return isfinite(v) ? sign * v : NAN;
}

/* YAML_FLOAT_PATTERN + construct; NaN with *ok false when not a float. */
static double yaml_float(const char *s, size_t l, bool *ok)
{
    *ok = false;
    size_t i = 0;
    if (l == 0) {
        return NAN;
    }
    const char *special[] = {".inf", ".Inf", ".INF"};
    size_t si = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    for (int k = 0; k < 3; k++) {
        if (l - si == 4 && !memcmp(s + si, special[k], 4)) {
            *ok = true;
            return s[0] == '-' ? -INFINITY : INFINITY;
        }
    }
    if (l == 4 && (!memcmp(s, ".nan", 4) || !memcmp(s, ".NaN", 4) || !memcmp(s, ".NAN", 4))) {
        *ok = true;
        return NAN;
    }
    if (s[0] == '.') {
        /* \.[0-9]+([eE][-+]?[0-9]+)? */
        i = 1;
        size_t d = i;
        while (i < l && isdigit((unsigned char)s[i])) {
            i++;
        }
        if (i == d) {
            return NAN;
        }
    } else {
        if (s[i] == '-' || s[i] == '+') {
            i++;
        }
        size_t d = i;
        while (i < l && isdigit((unsigned char)s[i])) {
            i++;
        }
        if (i == d) {
            return NAN;
        }
        if (i < l && s[i] == '.') {
            i++;
            while (i < l && isdigit((unsigned char)s[i])) {
                i++;
            }
        }
    }
    if (i < l && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < l && (s[i] == '-' || s[i] == '+')) {
            i++;
        }
        size_t d = i;
        while (i < l && isdigit((unsigned char)s[i])) {
            i++;
        }
        if (i == d) {
            return NAN;
        }
    }
    if (i != l) {
        return NAN;
    }
    char *t = strndup(s, l);
    double v = t ? strtod(t, NULL) : NAN;
    free(t);
    if (!isfinite(v)) {
        return NAN;
    }
    *ok = true;
    return v;
}

static bool digits_at(const char *s, size_t l, size_t at, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (at + k >= l || !isdigit((unsigned char)s[at + k])) {
            return false;
        }
    }
    return true;
}

/* Days from the civil date (proleptic Gregorian) to 1970-01-01. */
static double days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (double)era * 146097 + doe - 719468;
}

/* A js-yaml timestamp as Date.toISOString(); NULL when s is not one. */
static struct ef_val *yaml_timestamp(const char *s, size_t l)
{
    if (!digits_at(s, l, 0, 4) || l < 8 || s[4] != '-') {
        return NULL;
    }
    size_t i = 5;
    int v[7] = {0};
    v[0] = atoi(s);
    /* month, day: 1-2 digits (2 for the date-only form) */
    for (int k = 1; k <= 2; k++) {
        size_t st = i;
        while (i < l && isdigit((unsigned char)s[i]) && i - st < 2) {
            i++;
        }
        if (i == st) {
            return NULL;
        }
        v[k] = atoi(s + st);
        if (k == 1) {
            if (i >= l || s[i] != '-') {
                return NULL;
            }
            i++;
        }
    }
    double ms;
    if (i == l) {
        if (l != 10) {
            return NULL; /* the date-only form needs two-digit month and day */
        }
        ms = days_from_civil(v[0], v[1], v[2]) * 86400000.0;
    } else {
        if (s[i] == 'T' || s[i] == 't') {
            i++;
        } else if (s[i] == ' ' || s[i] == '\t') {
            while (i < l && (s[i] == ' ' || s[i] == '\t')) {
                i++;
            }
        } else {
            return NULL;
        }
        size_t st = i;
        while (i < l && isdigit((unsigned char)s[i]) && i - st < 2) {
            i++;
        }
        if (i == st || i + 6 > l || s[i] != ':' || !digits_at(s, l, i + 1, 2) || s[i + 3] != ':' ||
            !digits_at(s, l, i + 4, 2)) {
            return NULL;
        }
        v[3] = atoi(s + st);
        v[4] = atoi(s + i + 1);
        v[5] = atoi(s + i + 4);
        i += 6;
        double frac = 0;
        if (i < l && s[i] == '.') {
            i++;
            char f[4] = "000";
            for (int k = 0; i < l && isdigit((unsigned char)s[i]); i++, k++) {
                if (k < 3) {
                    f[k] = s[i];
                }
            }
            frac = atoi(f);
        }
        while (i < l && (s[i] == ' ' || s[i] == '\t')) {
            i++;
        }
        double delta = 0;
        if (i < l) {
            if (s[i] == 'Z') {
                i++;
            } else if (s[i] == '-' || s[i] == '+') {
                int sg = s[i] == '-' ? -1 : 1;
                i++;
                size_t hs = i;
                while (i < l && isdigit((unsigned char)s[i]) && i - hs < 2) {
                    i++;
                }
                if (i == hs) {
                    return NULL;
                }
                int th = atoi(s + hs), tm = 0;
                if (i < l && s[i] == ':') {
                    if (!digits_at(s, l, i + 1, 2)) {
                        return NULL;
                    }
                    tm = atoi(s + i + 1);
                    i += 3;
                }
                delta = sg * (th * 60 + tm) * 60000.0;
            }
        }
        if (i != l) {
            return NULL;
        }
        ms = days_from_civil(v[0], v[1], v[2]) * 86400000.0 + v[3] * 3600000.0 + v[4] * 60000.0 +
             v[5] * 1000.0 + frac - delta;
    }
    /* Date.prototype.toISOString */
    double days = floor(ms / 86400000.0);
    double rem = ms - days * 86400000.0;
    long z = (long)days + 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long y = yoe + era * 400;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    long d = doy - (153 * mp + 2) / 5 + 1;
    long m = mp + (mp < 10 ? 3 : -9);
    y += m <= 2;
    long r = (long)rem;
    return ef_val_strf("%04ld-%02ld-%02ldT%02ld:%02ld:%02ld.%03ldZ", y, m, d, r / 3600000,
                       r / 60000 % 60, r / 1000 % 60, r % 1000);
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static struct ef_val *b64_decode(const char *s, size_t l)
{
    uint8_t *out = malloc(l * 3 / 4 + 3);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    if (!out) {
        return NULL;
    }
    for (size_t i = 0; i < l; i++) {
        const char *p = strchr(B64, s[i]);
        if (!p || !s[i]) {
            continue;
        }
        acc = (acc << 6) | (uint32_t)(p - B64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return ef_val_buf_take(out, o);
}

/* A scalar's value under js-yaml's default schema (new reference). */
static struct ef_val *resolve_scalar(const yaml_event_t *ev, char *err, size_t errlen)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t l = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    if (tag && strcmp(tag, "!")) {
        if (!strcmp(tag, YAML_STR_TAG)) {
            return ef_val_strn(s, l);
        }
        if (!strcmp(tag, YAML_NULL_TAG) && is_null(s, l)) {
            return ef_val_null();
        }
        if (!strcmp(tag, YAML_BOOL_TAG) && is_bool(s, l) >= 0) {
            return ef_val_bool(is_bool(s, l));
        }
        if (!strcmp(tag, YAML_INT_TAG) && !isnan(yaml_int(s, l))) {
            return ef_val_num(yaml_int(s, l));
        }
        bool ok;
        double f = yaml_float(s, l, &ok);
        if (!strcmp(tag, YAML_FLOAT_TAG) && ok) {
            return ef_val_num(f);
        }
        if (!strcmp(tag, YAML_TIMESTAMP_TAG)) {
            struct ef_val *t = yaml_timestamp(s, l);
            if (t) {
                return t;
            }
        }
        if (!strcmp(tag, "tag:yaml.org,2002:binary")) {
            return b64_decode(s, l);
        }
        snprintf(err, errlen, "cannot resolve a node with !<%s> explicit tag", tag);
        return NULL;
    }
    if (tag || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return ef_val_strn(s, l);
    }
    if (is_null(s, l)) {
        return ef_val_null();
    }
    int b = is_bool(s, l);
    if (b >= 0) {
        return ef_val_bool(b);
    }
    double iv = yaml_int(s, l);
    if (!isnan(iv)) {
        return ef_val_num(iv);
    }
    bool ok;
    double f = yaml_float(s, l, &ok);
    if (ok) {
        return ef_val_num(f);
    }
    struct ef_val *t = yaml_timestamp(s, l);
    return t ? t : ef_val_strn(s, l);
}

struct anchor {
    char *name;
    struct ef_val *v;
    struct anchor *next;
};

struct frame {
    struct ef_val *v;   /* container being built */
    struct ef_val *key; /* mapping: the pending key (NULL: expecting a key) */
    char *anchor;
};

struct loader {
    yaml_parser_t p;
    struct frame *st;
    size_t depth, cap;
    struct anchor *anchors;
    struct ef_val *result;
    int docs;
    char err[300];
};

static void anchor_add(struct loader *L, const char *name, struct ef_val *v)
{
    struct anchor *a = calloc(1, sizeof(*a));
    if (!a) {
        return;
    }
    a->name = strdup(name);
    a->v = ef_val_ref(v);
    a->next = L->anchors;
    L->anchors = a;
}

/* Merges a mapping (or sequence of mappings) into dst: keys dst lacks. */
static void merge_into(struct ef_val *dst, const struct ef_val *src)
{
    if (ef_val_type(src) == EF_ARR) {
        for (size_t i = 0; i < ef_val_arr_len(src); i++) {
            merge_into(dst, ef_val_arr_at(src, i));
        }
        return;
    }
    for (size_t i = 0; i < ef_val_obj_len(src); i++) {
        size_t kl;
        const char *k = ef_val_obj_key_at(src, i, &kl);
        if (!ef_val_obj_getn(dst, k, kl)) {
            struct ef_val *v = ef_val_ref(ef_val_obj_val_at(src, i));
            if (ef_val_obj_setn_take(dst, k, kl, v) != 0) {
                ef_val_unref(v);
            }
        }
    }
}

/* Adds a finished value to the enclosing container (or as the result). Adopts v. */
static int add_value(struct loader *L, struct ef_val *v)
{
    if (!L->depth) {
        L->result = v;
        return 0;
    }
    struct frame *f = &L->st[L->depth - 1];
    if (ef_val_type(f->v) == EF_ARR) {
        return ef_val_arr_push_take(f->v, v);
    }
    if (!f->key) {
        f->key = v;
        return 0;
    }
    struct ef_val *key = f->key;
    f->key = NULL;
    if (ef_val_type(key) == EF_STR && !strcmp(ef_val_str_get(key), "<<") &&
        (ef_val_type(v) == EF_OBJ || ef_val_type(v) == EF_ARR)) {
        merge_into(f->v, v);
        ef_val_unref(v);
        ef_val_unref(key);
        return 0;
    }
    size_t kl;
    char *ks = ef_val_type(key) == EF_NULL ? strdup("null") : js__to_string(key, &kl);
    if (ks) {
        kl = strlen(ks);
    }
    int rc = ks ? ef_val_obj_setn_take(f->v, ks, kl, v) : EF_ENOMEM;
    if (rc != 0) {
        ef_val_unref(v);
    }
    free(ks);
    ef_val_unref(key);
    return 0;
}

static struct ef_val *yaml_load(const char *text, size_t len, char *err, size_t errlen, bool *empty)
{
    struct loader L;
    memset(&L, 0, sizeof(L));
    *empty = false;
    yaml_parser_initialize(&L.p);
    yaml_parser_set_input_string(&L.p, (const unsigned char *)text, len);
    bool done = false, failed = false;
    while (!done && !failed) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&L.p, &ev)) {
            snprintf(err, errlen, "%s (%zu:%zu)", L.p.problem ? L.p.problem : "YAML error",
                     L.p.problem_mark.line + 1, L.p.problem_mark.column + 1);
            if (L.p.context) {
                size_t u = strlen(err);
                snprintf(err + u, errlen - u, " %s", L.p.context);
            }
            failed = true;
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: done = true; break;
        case YAML_DOCUMENT_START_EVENT:
            if (++L.docs > 1) {
                snprintf(err, errlen, "expected a single document in the stream, but found more");
                failed = true;
            }
            break;
        case YAML_ALIAS_EVENT: {
            struct anchor *a = L.anchors;
            while (a && strcmp(a->name, (const char *)ev.data.alias.anchor)) {
                a = a->next;
            }
            if (!a) {
                snprintf(err, errlen, "unidentified alias \"%s\"", ev.data.alias.anchor);
                failed = true;
                break;
            }
            add_value(&L, ef_val_ref(a->v));
            break;
        }
        case YAML_SCALAR_EVENT: {
            struct ef_val *v = resolve_scalar(&ev, err, errlen);
            if (!v) {
                failed = true;
                break;
            }
            if (ev.data.scalar.anchor) {
                anchor_add(&L, (const char *)ev.data.scalar.anchor, v);
            }
            add_value(&L, v);
            break;
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            if (L.depth == L.cap) {
                size_t nc = L.cap ? L.cap * 2 : 16;
                struct frame *t = realloc(L.st, nc * sizeof(*t));
                if (!t) {
                    failed = true;
                    break;
                }
                L.st = t;
                L.cap = nc;
            }
            if (L.depth >= 1000) {
                snprintf(err, errlen, "nesting too deep");
                failed = true;
                break;
            }
            struct frame *f = &L.st[L.depth++];
            memset(f, 0, sizeof(*f));
            bool seq = ev.type == YAML_SEQUENCE_START_EVENT;
            f->v = seq ? ef_val_arr() : ef_val_obj();
            const yaml_char_t *an =
                seq ? ev.data.sequence_start.anchor : ev.data.mapping_start.anchor;
            f->anchor = an ? strdup((const char *)an) : NULL;
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: {
            struct frame f = L.st[--L.depth];
            ef_val_unref(f.key);
            if (f.anchor) {
                anchor_add(&L, f.anchor, f.v);
                free(f.anchor);
            }
            add_value(&L, f.v);
            break;
        }
        default: break;
        }
        yaml_event_delete(&ev);
    }
    while (L.depth) {
        struct frame *f = &L.st[--L.depth];
        ef_val_unref(f->v);
        ef_val_unref(f->key);
        free(f->anchor);
    }
    free(L.st);
    while (L.anchors) {
        struct anchor *a = L.anchors;
        L.anchors = a->next;
        free(a->name);
        ef_val_unref(a->v);
        free(a);
    }
    yaml_parser_delete(&L.p);
    if (failed) {
        ef_val_unref(L.result);
        return NULL;
    }
    if (!L.result) {
        *empty = true;
    }
    return L.result;
}

/* ======================================================================
 * Dumping (js-yaml 4 dump() with default options)
 * ====================================================================== */

/* Next code point of s at *i (UTF-8); advances *i. */
static uint32_t cp_next(const char *s, size_t l, size_t *i)
{
    const unsigned char *u = (const unsigned char *)s;
    uint32_t c = u[*i];
    size_t w = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (*i + w > l) {
        w = 1;
    }
    if (w == 2) {
        c = ((c & 0x1F) << 6) | (u[*i + 1] & 0x3F);
    } else if (w == 3) {
        c = ((c & 0x0F) << 12) | ((u[*i + 1] & 0x3F) << 6) | (u[*i + 2] & 0x3F);
    } else if (w == 4) {
        c = ((c & 0x07) << 18) | ((u[*i + 1] & 0x3F) << 12) | ((u[*i + 2] & 0x3F) << 6) |
            (u[*i + 3] & 0x3F);
    }
    *i += w;
    return c;
}

static bool is_printable(uint32_t c)
{
    return (c >= 0x20 && c <= 0x7E) || (c >= 0xA1 && c <= 0xD7FF && c != 0x2028 && c != 0x2029) ||
           (c >= 0xE000 && c <= 0xFFFD && c != 0xFEFF) || (c >= 0x10000 && c <= 0x10FFFF);
}

static bool is_ws(uint32_t c)
{
    return c == ' ' || c == '\t';
}

static bool ns_or_ws(uint32_t c)
{
    return is_printable(c) && c != 0xFEFF && c != '\r' && c != '\n';
}

static bool plain_safe(uint32_t c, uint32_t prev, bool has_prev)
{
    bool cns = ns_or_ws(c);
    bool cnschar = cns && !is_ws(c);
    return (cns && c != '#' && !(has_prev && prev == ':' && !cnschar)) ||
           (has_prev && ns_or_ws(prev) && !is_ws(prev) && c == '#') ||
           (has_prev && prev == ':' && cnschar);
}

static bool plain_safe_first(uint32_t c)
{
    return is_printable(c) && c != 0xFEFF && !is_ws(c) && !strchr("-?:,[]{}#&*!|=>'\"%@`", (int)c);
}

/* testImplicitResolving against the default schema's implicit types. */
static bool ambiguous(const char *s, size_t l)
{
    bool ok;
    if (is_null(s, l) || is_bool(s, l) >= 0 || !isnan(yaml_int(s, l))) {
        return true;
    }
    yaml_float(s, l, &ok);
    if (ok) {
        return true;
    }
    struct ef_val *t = yaml_timestamp(s, l);
    if (t) {
        ef_val_unref(t);
        return true;
    }
    return l == 2 && !memcmp(s, "<<", 2);
}

enum { S_PLAIN, S_SINGLE, S_LITERAL, S_FOLDED, S_DOUBLE };

static int choose_style(const char *s, size_t l, bool single_line, int width)
{
    size_t i = 0;
    uint32_t prev = 0;
    bool has_prev = false, has_lb = false, foldable = false;
    size_t fi = 0;
    uint32_t first = cp_next(s, l, &fi);
    /* last code point */
    size_t li = 0;
    uint32_t lastc = 0;
    while (li < l) {
        lastc = cp_next(s, l, &li);
    }
    bool plain = plain_safe_first(first) && !is_ws(lastc) && lastc != ':';
    while (i < l) {
        uint32_t c = cp_next(s, l, &i);
        if (!single_line && c == '\n') {
            has_lb = true;
        } else if (!is_printable(c)) {
            return S_DOUBLE;
        }
        plain = plain && plain_safe(c, prev, has_prev);
        prev = c;
        has_prev = true;
    }
    if (!single_line) {
        /* recompute foldable with the "not more-indented" rule per line */
        foldable = false;
        size_t start = 0;
        for (size_t k = 0; k <= l; k++) {
            if (k == l || s[k] == '\n') {
                size_t ll = js__utf16_length(s + start, k - start);
                if ((long)ll > width && !(k > start && s[start] == ' ')) {
                    foldable = true;
                }
                start = k + 1;
            }
        }
    }
    if (!has_lb && !foldable) {
        return plain && !ambiguous(s, l) ? S_PLAIN : S_SINGLE;
    }
    return foldable ? S_FOLDED : S_LITERAL;
}

static void indent_string(struct strbuf *b, const char *s, size_t l, size_t spaces, bool drop_end)
{
    size_t pos = 0;
    size_t end = (drop_end && l && s[l - 1] == '\n') ? l - 1 : l;
    while (pos < l) {
        const char *nl = memchr(s + pos, '\n', l - pos);
        size_t next = nl ? (size_t)(nl - s) + 1 : l;
        size_t ll = next - pos;
        if (ll && !(ll == 1 && s[pos] == '\n')) {
            yb_spaces(b, spaces);
        }
        size_t take = next > end ? end - pos : ll;
        if (pos < end) {
            strbuf__add(b, s + pos, take);
        }
        pos = next;
    }
}

static void block_header(struct strbuf *b, const char *s, size_t l)
{
    size_t k = 0;
    while (k < l && s[k] == '\n') {
        k++;
    }
    if (k < l && s[k] == ' ') {
        strbuf__adds(b, "2");
    }
    bool clip = l && s[l - 1] == '\n';
    bool keep = clip && ((l >= 2 && s[l - 2] == '\n') || l == 1);
    strbuf__adds(b, keep ? "+" : clip ? "" : "-");
    strbuf__adds(b, "\n");
}

/* foldLine(): greedy breaking at single spaces. */
static void fold_line(struct strbuf *b, const char *line, size_t l, int width)
{
    if (l == 0 || line[0] == ' ') {
        strbuf__add(b, line, l);
        return;
    }
    size_t start = 0, curr = 0, next = 0;
    struct strbuf r = {0};
    strbuf__adds(&r, "");
    for (size_t m = 0; m + 1 < l; m++) {
        if (line[m] != ' ' || line[m + 1] == ' ') {
            continue;
        }
        next = m;
        if ((long)(next - start) > width) {
            size_t end = curr > start ? curr : next;
            strbuf__adds(&r, "\n");
            strbuf__add(&r, line + start, end - start);
            start = end + 1;
        }
        curr = next;
    }
    strbuf__adds(&r, "\n");
    if ((long)(l - start) > width && curr > start) {
        strbuf__add(&r, line + start, curr - start);
        strbuf__adds(&r, "\n");
        strbuf__add(&r, line + curr + 1, l - curr - 1);
    } else {
        strbuf__add(&r, line + start, l - start);
    }
    strbuf__add(b, r.p + 1, r.n - 1);
    free(r.p);
}

static void fold_string(struct strbuf *b, const char *s, size_t l, int width)
{
    const char *nl = memchr(s, '\n', l);
    size_t first = nl ? (size_t)(nl - s) : l;
    fold_line(b, s, first, width);
    bool prev_more = l && (s[0] == '\n' || s[0] == ' ');
    size_t i = first;
    while (i < l) {
        size_t ps = i;
        while (i < l && s[i] == '\n') {
            i++;
        }
        size_t ls = i;
        while (i < l && s[i] != '\n') {
            i++;
        }
        bool more = ls < l && s[ls] == ' ';
        strbuf__add(b, s + ps, ls - ps);
        if (!prev_more && !more && i > ls) {
            strbuf__adds(b, "\n");
        }
        fold_line(b, s + ls, i - ls, width);
        prev_more = more;
    }
}

static void escape_double(struct strbuf *b, const char *s, size_t l)
{
    size_t i = 0;
    while (i < l) {
        size_t st = i;
        uint32_t c = cp_next(s, l, &i);
        const char *esc = NULL;
        switch (c) {
        case 0x00: esc = "\\0"; break;
        case 0x07: esc = "\\a"; break;
        case 0x08: esc = "\\b"; break;
        case 0x09: esc = "\\t"; break;
        case 0x0A: esc = "\\n"; break;
        case 0x0B: esc = "\\v"; break;
        case 0x0C: esc = "\\f"; break;
        case 0x0D: esc = "\\r"; break;
        case 0x1B: esc = "\\e"; break;
        case 0x22: esc = "\\\""; break;
        case 0x5C: esc = "\\\\"; break;
        case 0x85: esc = "\\N"; break;
        case 0xA0: esc = "\\_"; break;
        case 0x2028: esc = "\\L"; break;
        case 0x2029: esc = "\\P"; break;
        default: break;
        }
        if (esc) {
            strbuf__adds(b, esc);
        } else if (is_printable(c)) {
            strbuf__add(b, s + st, i - st);
        } else {
            char h[16];
            snprintf(h, sizeof(h), c <= 0xFF ? "\\x%02X" : c <= 0xFFFF ? "\\u%04X" : "\\U%08X", c);
            strbuf__adds(b, h);
        }
    }
}

static const char *const deprecated_bools[] = {"y", "Y", "yes", "Yes", "YES", "on",  "On",  "ON",
                                               "n", "N", "no",  "No",  "NO",  "off", "Off", "OFF"};

/* DEPRECATED_BASE60_SYNTAX: ^[-+]?[0-9_]+(?::[0-9_]+)+(?:\.[0-9_]*)?$ */
static bool base60(const char *s, size_t l)
{
    size_t i = 0;
    if (i < l && (s[i] == '-' || s[i] == '+')) {
        i++;
    }
    int groups = 0;
    for (;;) {
        size_t st = i;
        while (i < l && (isdigit((unsigned char)s[i]) || s[i] == '_')) {
            i++;
        }
        if (i == st) {
            return false;
        }
        groups++;
        if (i < l && s[i] == ':') {
            i++;
            continue;
        }
        break;
    }
    if (groups < 2) {
        return false;
    }
    if (i < l && s[i] == '.') {
        i++;
        while (i < l && (isdigit((unsigned char)s[i]) || s[i] == '_')) {
            i++;
        }
    }
    return i == l;
}

static void write_scalar(struct strbuf *b, const char *s, size_t l, int level, bool iskey)
{
    if (l == 0) {
        strbuf__adds(b, "''");
        return;
    }
    for (size_t k = 0; k < sizeof(deprecated_bools) / sizeof(*deprecated_bools); k++) {
        if (strlen(deprecated_bools[k]) == l && !memcmp(s, deprecated_bools[k], l)) {
            strbuf__adds(b, "'");
            strbuf__add(b, s, l);
            strbuf__adds(b, "'");
            return;
        }
    }
    if (base60(s, l)) {
        strbuf__adds(b, "'");
        strbuf__add(b, s, l);
        strbuf__adds(b, "'");
        return;
    }
    int indent = 2 * (level > 1 ? level : 1);
    int width = 80 - indent > 40 ? 80 - indent : 40;
    switch (choose_style(s, l, iskey, width)) {
    case S_PLAIN: strbuf__add(b, s, l); return;
    case S_SINGLE:
        strbuf__adds(b, "'");
        for (size_t i = 0; i < l; i++) {
            if (s[i] == '\'') {
                strbuf__adds(b, "'");
            }
            strbuf__add(b, s + i, 1);
        }
        strbuf__adds(b, "'");
        return;
    case S_LITERAL:
        strbuf__adds(b, "|");
        block_header(b, s, l);
        indent_string(b, s, l, (size_t)indent, true);
        return;
    case S_FOLDED: {
        strbuf__adds(b, ">");
        block_header(b, s, l);
        struct strbuf f = {0};
        strbuf__adds(&f, "");
        fold_string(&f, s, l, width);
        indent_string(b, f.p, f.n, (size_t)indent, true);
        free(f.p);
        return;
    }
    default:
        strbuf__adds(b, "\"");
        escape_double(b, s, l);
        strbuf__adds(b, "\"");
        return;
    }
}

static void next_line(struct strbuf *b, int level)
{
    strbuf__adds(b, "\n");
    yb_spaces(b, (size_t)(2 * level));
}

/* writeNode(); returns false when the value cannot be written. */
static bool write_node(struct strbuf *b, int level, const struct ef_val *v, bool compact,
                       bool iskey)
{
    switch (ef_val_type(v)) {
    case EF_NULL: strbuf__adds(b, "null"); return true;
    case EF_BOOL: strbuf__adds(b, ef_val_bool_get(v) ? "true" : "false"); return true;
    case EF_NUM: {
        double d = ef_val_num_get(v);
        char nb[40];
        if (isnan(d)) {
            strbuf__adds(b, ".nan");
        } else if (isinf(d)) {
            strbuf__adds(b, d > 0 ? ".inf" : "-.inf");
        } else if (d == 0 && signbit(d)) {
            strbuf__adds(b, "-0.0");
        } else {
            ef_num_format(d, nb);
            char *e = strchr(nb, 'e');
            if (e && d != floor(d) && !strchr(nb, '.')) {
                /* 5e-100 -> 5.e-100 */
                strbuf__add(b, nb, (size_t)(e - nb));
                strbuf__adds(b, ".");
                strbuf__adds(b, e);
            } else {
                strbuf__adds(b, nb);
            }
        }
        return true;
    }
    case EF_STR: write_scalar(b, ef_val_str_get(v), ef_val_str_len(v), level, iskey); return true;
    case EF_OBJ: {
        size_t n = ef_val_obj_len(v);
        if (n == 0) {
            strbuf__adds(b, "{}");
            return true;
        }
        bool any = false;
        for (size_t i = 0; i < n; i++) {
            size_t kl;
            const char *k = ef_val_obj_key_at(v, i, &kl);
            const struct ef_val *val = ef_val_obj_val_at(v, i);
            if (ef_val_type(val) == EF_HANDLE) {
                continue;
            }
            if (!compact || any) {
                next_line(b, level);
            }
            struct strbuf kb = {0};
            strbuf__adds(&kb, "");
            write_scalar(&kb, k, kl, level + 1, true);
            bool explicit_pair = kb.n > 1024;
            if (explicit_pair) {
                strbuf__adds(b, "? ");
            }
            strbuf__add(b, kb.p, kb.n);
            free(kb.p);
            if (explicit_pair) {
                next_line(b, level);
            }
            struct strbuf vb = {0};
            strbuf__adds(&vb, "");
            write_node(&vb, level + 1, val, explicit_pair, false);
            strbuf__adds(b, vb.n && vb.p[0] == '\n' ? ":" : ": ");
            strbuf__add(b, vb.p, vb.n);
            free(vb.p);
            any = true;
        }
        if (!any) {
            strbuf__adds(b, "{}");
        }
        return true;
    }
    case EF_ARR: {
        size_t n = ef_val_arr_len(v);
        if (n == 0) {
            strbuf__adds(b, "[]");
            return true;
        }
        for (size_t i = 0; i < n; i++) {
            if (!compact || i) {
                next_line(b, level);
            }
            struct strbuf vb = {0};
            strbuf__adds(&vb, "");
            write_node(&vb, level + 1, ef_val_arr_at(v, i), true, false);
            strbuf__adds(b, vb.n && vb.p[0] == '\n' ? "-" : "- ");
            strbuf__add(b, vb.p, vb.n);
            free(vb.p);
        }
        return true;
    }
    case EF_BUF: {
        /* js-yaml's !!binary: base64 in a literal block, 76 characters a line */
        const uint8_t *d = ef_val_buf_data(v);
        size_t l = ef_val_buf_len(v);
        struct strbuf s = {0};
        strbuf__adds(&s, "");
        for (size_t i = 0; i < l; i += 3) {
            if (i && i % 57 == 0) {
                strbuf__adds(&s, "\n");
            }
            uint32_t x = (uint32_t)d[i] << 16 | (i + 1 < l ? (uint32_t)d[i + 1] << 8 : 0) |
                         (i + 2 < l ? d[i + 2] : 0);
            char q[5] = {B64[x >> 18 & 63], B64[x >> 12 & 63], i + 1 < l ? B64[x >> 6 & 63] : '=',
                         i + 2 < l ? B64[x & 63] : '=', 0};
            strbuf__adds(&s, q);
        }
        strbuf__adds(b, "!!binary ");
        write_scalar(b, s.p, s.n, level, false);
        free(s.p);
        return true;
    }
    default: return false;
    }
}

/* ======================================================================
 * The node
 * ====================================================================== */

static int yaml_init(struct ef_node *n, const struct ef_val *config)
{
    struct yamlnode *y = ef_node_priv(n);
    char err[256];
    const char *prop = ef_val_str_get(ef_val_obj_get(config, "property"));
    if (seq__prop_init(&y->prop, *prop ? prop : "payload", err, sizeof(err)) != 0) {
        ef_node_error(n, NULL, "%s", err);
        return EF_EINVAL;
    }
    return 0;
}

static void yaml_close(struct ef_node *n)
{
    struct yamlnode *y = ef_node_priv(n);
    seq__prop_free(&y->prop);
}

static int yaml_input(struct ef_node *n, struct ef_msg *msg)
{
    struct yamlnode *y = ef_node_priv(n);
    char err[400];
    if (seq__prop_check(&y->prop, msg, err, sizeof(err)) != 0) {
        ef_node_error(n, msg, "%s", err);
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    const struct ef_val *value = seq__prop_get(&y->prop, msg);
    if (value) {
        enum ef_type t = ef_val_type(value);
        if (t == EF_STR) {
            bool empty;
            struct ef_val *v =
                yaml_load(ef_val_str_get(value), ef_val_str_len(value), err, sizeof(err), &empty);
            if (!v && !empty) {
                ef_node_error(n, msg, "%s", err);
                ef_msg_free(msg);
                return EF_INPUT_DONE;
            }
            seq__prop_set(&y->prop, msg, v);
        } else if (t == EF_OBJ || t == EF_ARR || t == EF_NULL) {
            struct strbuf b = {0};
            strbuf__adds(&b, "");
            write_node(&b, 0, value, true, false);
            strbuf__adds(&b, "\n");
            seq__prop_set(&y->prop, msg, ef_val_str_take(b.p, b.n));
        } else if (t == EF_BUF) {
            ef_node_warn(n, "Ignored non-object payload");
            ef_msg_free(msg);
            return EF_INPUT_DONE;
        } else {
            ef_node_warn(n, "Ignored unsupported payload type");
            ef_msg_free(msg);
            return EF_INPUT_DONE;
        }
    }
    if (ef_node_send(n, 0, msg) != 0) {
        ef_msg_free(msg);
    }
    return EF_INPUT_DONE;
}

const struct ef_node_type ef_type_yaml = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "yaml",
    .description = "converts between a YAML string and an object",
    .category = "parser",
    .inputs = 1,
    .outputs = 1,
    .props = yaml_props,
    .priv_size = sizeof(struct yamlnode),
    .cb_init = yaml_init,
    .cb_input = yaml_input,
    .cb_close = yaml_close,
};
