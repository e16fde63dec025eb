/*
 * functions_string.c - JSONata's string functions: $string, $substring,
 * $substringBefore/After, $lowercase/$uppercase, $length, $trim, $pad,
 * $contains, $split, $join, $match, $replace, base64 and URL coding.
 * Lengths and offsets count characters (code points) as jsonata-js does.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "jsonata/functions.h"

/* Adopts a malloc'ed string of n bytes as a string value. */
struct ef_val *jsonata__strbuf_val(char *s, size_t n)
{
    if (!s) {
        return NULL;
    }
    s[n] = 0;
    return ef_val_str_take(s, n);
}

struct buf {
    char *p;
    size_t n, cap;
};

static void bput(struct buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 64;
        while (nc < b->n + n + 1) {
            nc *= 2;
        }
        char *np = realloc(b->p, nc);
        if (!np) {
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    if (!b->p) {
        return;
    }
    char *dst = b->p + b->n;
    memcpy(dst, s, n);
    b->n += n;
    dst[n] = 0;
}

static struct ef_val *bval(struct buf *b)
{
    if (!b->p) {
        return ef_val_str("");
    }
    return ef_val_str_take(b->p, b->n);
}

/* Number of code points in s. */
static size_t cp_len(const char *s, size_t n)
{
    size_t k = 0, i = 0;
    while (i < n) {
        jsonata__utf8_next(s, n, &i);
        k++;
    }
    return k;
}

/* Byte offset of code point index k (clamped). */
static size_t cp_off(const char *s, size_t n, size_t k)
{
    size_t i = 0;
    while (i < n && k > 0) {
        jsonata__utf8_next(s, n, &i);
        k--;
    }
    return i;
}

int jsonata__fn_string(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                       struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    (void)env;
    struct ef_val *v = ARG(0);
    if (!v) {
        return 0;
    }
    if (ef_val_type(v) == EF_STR) {
        out->v = ef_val_ref(v);
        return 0;
    }
    if (jsonata__is_fn(v)) {
        out->v = ef_val_str("");
        return 0;
    }
    if (ef_val_type(v) == EF_NUM && !isfinite(ef_val_num_get(v))) {
        return jsonata__error_val(c, "D3001", -1, NULL, v);
    }
    if (jsonata__has_infinite(v)) {
        return jsonata__error_val(c, "D1001", -1, NULL, NULL);
    }
    bool pretty = ARG(1) && ef_val_bool_get(ARG(1));
    size_t len;
    char *s = jsonata__stringify(v, pretty, &len);
    out->v = jsonata__strbuf_val(s, len);
    return 0;
}

int jsonata__fn_substring(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                          struct jsonata__env *env, struct jv *out)
{
    (void)c;
    (void)focus;
    (void)env;
    struct ef_val *v = ARG(0);
    if (!v) {
        return 0;
    }
    const char *s = ef_val_str_get(v);
    size_t sl = ef_val_str_len(v);
    double len = (double)cp_len(s, sl);
    if (!ARG(1)) {
        /* jsonata-js: slice(undefined, NaN) */
        out->v = ARG(2) ? ef_val_str("") : ef_val_ref(v);
        return 0;
    }
    double start = ef_val_num_get(ARG(1));
    if (isnan(start)) {
        start = 0;
    }
    start = trunc(start);
    if (len + start < 0) {
        start = 0;
    }
    double from = start < 0 ? len + start : start;
    double to = len;
    if (ARG(2)) {
        double l = ef_val_num_get(ARG(2));
        if (!(l > 0)) {
            out->v = ef_val_str("");
            return 0;
        }
        l = trunc(l);
        double end = start >= 0 ? start + l : len + start + l;
        if (end < to) {
            to = end;
        }
    }
    if (from < 0) {
        from = 0;
    }
    if (from >= to) {
        out->v = ef_val_str("");
        return 0;
    }
    size_t b0 = cp_off(s, sl, (size_t)from);
    size_t b1 = cp_off(s, sl, (size_t)to);
    out->v = ef_val_strn(s + b0, b1 - b0);
    return 0;
}

static const char *find_str(const char *h, size_t hn, const char *nd, size_t nn)
{
    if (nn == 0) {
        return h;
    }
    if (nn > hn) {
        return NULL;
    }
    for (size_t i = 0; i + nn <= hn; i++) {
        if (h[i] == nd[0] && memcmp(h + i, nd, nn) == 0) {
            return h + i;
        }
    }
    return NULL;
}

int jsonata__fn_substring_before(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                                 struct jsonata__env *env, struct jv *out)
{
    (void)c;
    (void)focus;
    (void)env;
    struct ef_val *v = ARG(0);
    if (!v) {
        return 0;
    }
    const char *s = ef_val_str_get(v);
    /* jsonata-js calls str.indexOf(undefined), which looks for "undefined" */
    const char *nd = ARG(1) ? ef_val_str_get(ARG(1)) : "undefined";
    size_t nl = ARG(1) ? ef_val_str_len(ARG(1)) : 9;
    const char *p = find_str(s, ef_val_str_len(v), nd, nl);
    out->v = p ? ef_val_strn(s, (size_t)(p - s)) : ef_val_ref(v);
    return 0;
}

int jsonata__fn_substring_after(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                                struct jsonata__env *env, struct jv *out)
{
    (void)c;
    (void)focus;
    (void)env;
    struct ef_val *v = ARG(0);
    if (!v) {
        return 0;
    }
    const char *s = ef_val_str_get(v);
    size_t sl = ef_val_str_len(v);
    size_t nl = ef_val_str_len(ARG(1));
    const char *p = find_str(s, sl, ef_val_str_get(ARG(1)), nl);
    out->v = p ? ef_val_strn(p + nl, sl - (size_t)(p - s) - nl) : ef_val_ref(v);
    return 0;
}

static uint32_t case_map(uint32_t cp, bool upper)
{
    if (upper) {
        if ((cp >= 'a' && cp <= 'z') || (cp >= 0xE0 && cp <= 0xFE && cp != 0xF7) ||
            (cp >= 0x3B1 && cp <= 0x3C9 && cp != 0x3C2) || (cp >= 0x430 && cp <= 0x44F)) {
            return cp - 32;
        }
        if (cp >= 0x450 && cp <= 0x45F) {
            return cp - 80;
        }
        if (cp >= 0x100 && cp <= 0x17F && (cp & 1) && cp != 0x131 && cp != 0x138 && cp != 0x149) {
            return cp - 1;
        }
    } else {
        if ((cp >= 'A' && cp <= 'Z') || (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) ||
            (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) || (cp >= 0x410 && cp <= 0x42F)) {
            return cp + 32;
        }
        if (cp >= 0x400 && cp <= 0x40F) {
            return cp + 80;
        }
        if (cp >= 0x100 && cp <= 0x17F && !(cp & 1) && cp != 0x130 && cp != 0x138) {
            return cp + 1;
        }
    }
    return cp;
}

static int change_case(struct jv *a, int n, struct jv *out, bool upper)
{
    struct ef_val *v = ARG(0);
    if (!v) {
        return 0;
    }
    const char *s = ef_val_str_get(v);
    size_t sl = ef_val_str_len(v);
    struct buf b = {0};
    size_t i = 0;
    while (i < sl) {
        uint32_t cp = jsonata__utf8_next(s, sl, &i);
        char tmp[4];
        if (upper && cp == 0xDF) {
            bput(&b, "SS", 2);
            continue;
        }
        int k = jsonata__utf8_put(case_map(cp, upper), tmp);
        bput(&b, tmp, (size_t)k);
    }
    out->v = bval(&b);
    return 0;
}

int jsonata__fn_lowercase(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                          struct jsonata__env *env, struct jv *out)
{
    (void)c;
    (void)focus;
    (void)env;
    return change_case(a, n, out, false);
}

int jsonata__fn_uppercase(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                          struct jsonata__env *env, struct jv *out)
{
    (void)c;
    (void)focus;
    (void)env;
    return change_case(a, n, out, true);
}

int jsonata__fn_length(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                       struct jsonata__env *env, struct jv *out)
{
    (void)c;
    (void)focus;
    (void)env;
    struct ef_val *v = ARG(0);
    if (v) {
        out->v = ef_val_num((double)cp_len(ef_val_str_get(v), ef_val_str_len(v)));
    }
    return 0;
}

int jsonata__fn_trim(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                     struct jsonata__env *env, struct jv *out)
{
    (void)c;
    (void)focus;
    (void)env;
    struct ef_val *v = ARG(0);
    if (!v) {
        return 0;
    }
    const char *s = ef_val_str_get(v);
    size_t sl = ef_val_str_len(v);
    struct buf b = {0};
    bool ws = false;
    for (size_t i = 0; i < sl; i++) {
        char ch = s[i];
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
            ws = true;
            continue;
        }
        if (ws && b.n > 0) {
            bput(&b, " ", 1);
        }
        ws = false;
        bput(&b, &ch, 1);
    }
    out->v = bval(&b);
    return 0;
}

int jsonata__fn_pad(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                    struct jsonata__env *env, struct jv *out)
{
    (void)c;
    (void)focus;
    (void)env;
    struct ef_val *v = ARG(0);
    if (!v) {
        return 0;
    }
    const char *s = ef_val_str_get(v);
    size_t sl = ef_val_str_len(v);
    double width = trunc(ef_val_num_get(ARG(1)));
    const char *pc = " ";
    size_t pl = 1;
    if (ARG(2) && ef_val_str_len(ARG(2)) > 0) {
        pc = ef_val_str_get(ARG(2));
        pl = ef_val_str_len(ARG(2));
    }
    double padlen = fabs(width) - (double)cp_len(s, sl);
    if (!(padlen > 0)) {
        out->v = ef_val_ref(v);
        return 0;
    }
    size_t pcn = cp_len(pc, pl);
    struct buf pad = {0};
    for (size_t k = 0; k < (size_t)padlen; k++) {
        size_t i0 = cp_off(pc, pl, k % pcn);
        size_t i1 = cp_off(pc, pl, k % pcn + 1);
        bput(&pad, pc + i0, i1 - i0);
    }
    struct buf b = {0};
    if (width > 0) {
        bput(&b, s, sl);
        bput(&b, pad.p, pad.n);
    } else {
        bput(&b, pad.p, pad.n);
        bput(&b, s, sl);
    }
    free(pad.p);
    out->v = bval(&b);
    return 0;
}

/* Iterates the matches of a regex, or of a matcher function written in
 * JSONata (returning {match, start, end, groups, next}), as jsonata does:
 * an empty match after the first one ends with D1004. */
struct miter {
    struct jsonata__ctx *c;
    const pcre2_code *re;
    struct ef_val *fn;
    struct jsonata__env *env;
    struct ef_val *str;
    const char *s;
    size_t n;
    size_t *ov;
    uint32_t ovn;
    bool first;
    struct ef_val *cur;  /* custom matcher: the current match object */
    size_t mstart, mend; /* byte offsets of the current match */
};

static void miter_init(struct miter *m, struct jsonata__ctx *c, struct ef_val *matcher,
                       struct ef_val *str, struct jsonata__env *env)
{
    memset(m, 0, sizeof(*m));
    m->c = c;
    m->re = jsonata__regex_of(matcher);
    m->fn = m->re ? NULL : matcher;
    m->env = env;
    m->str = str;
    m->s = ef_val_str_get(str);
    m->n = ef_val_str_len(str);
    m->first = true;
}

static void miter_done(struct miter *m)
{
    free(m->ov);
    m->ov = NULL;
    ef_val_unref(m->cur);
    m->cur = NULL;
}

static int custom_result(struct miter *m, struct jv *r)
{
    struct ef_val *res = jsonata__seq_finish(r);
    ef_val_unref(m->cur);
    m->cur = NULL;
    if (!res) {
        return 0;
    }
    struct ef_val *st = ef_val_type(res) == EF_OBJ ? ef_val_obj_get(res, "start") : NULL;
    struct ef_val *gr = ef_val_type(res) == EF_OBJ ? ef_val_obj_get(res, "groups") : NULL;
    struct ef_val *nx = ef_val_type(res) == EF_OBJ ? ef_val_obj_get(res, "next") : NULL;
    if (!((st && ef_val_type(st) == EF_NUM) || (gr && ef_val_type(gr) == EF_ARR) ||
          jsonata__is_fn(nx))) {
        ef_val_unref(res);
        return jsonata__error(m->c, "T1010", -1, NULL);
    }
    m->cur = res;
    double start = st ? ef_val_num_get(st) : 0;
    m->mstart = jsonata__u16_offset(m->s, m->n, start > 0 ? (size_t)start : 0);
    struct ef_val *mt = ef_val_obj_get(res, "match");
    m->mend = m->mstart + ef_val_str_len(mt);
    if (m->mend > m->n) {
        m->mend = m->n;
    }
    return 1;
}

static int miter_next(struct miter *m)
{
    if (m->fn) {
        struct jv r;
        if (m->first) {
            m->first = false;
            struct jv arg = {m->str, 0};
            if (jsonata__apply(m->c, m->fn, &arg, 1, NULL, m->env, -1, &r) < 0) {
                return -1;
            }
            return custom_result(m, &r);
        }
        struct ef_val *nx = m->cur ? ef_val_obj_get(m->cur, "next") : NULL;
        if (!jsonata__is_fn(nx)) {
            ef_val_unref(m->cur);
            m->cur = NULL;
            return 0;
        }
        nx = ef_val_ref(nx);
        int rc = jsonata__apply(m->c, nx, NULL, 0, NULL, m->env, -1, &r);
        ef_val_unref(nx);
        if (rc < 0) {
            return -1;
        }
        return custom_result(m, &r);
    }
    if (!m->re) {
        return 0;
    }
    size_t start = 0;
    if (!m->first) {
        start = m->ov[1];
        free(m->ov);
        m->ov = NULL;
        if (start >= m->n) {
            return 0;
        }
    }
    int r = jsonata__regex_exec(m->c, m->re, m->s, m->n, start, &m->ov, &m->ovn);
    if (r > 0 && !m->first && m->ov[0] == m->ov[1]) {
        free(m->ov);
        m->ov = NULL;
        return jsonata__error(m->c, "D1004", -1, NULL);
    }
    m->first = false;
    if (r > 0) {
        m->mstart = m->ov[0];
        m->mend = m->ov[1];
    }
    return r;
}

/* The {match, index, groups} object of the current match (new reference). */
static struct ef_val *miter_obj(struct miter *m)
{
    if (m->fn) {
        struct ef_val *o = ef_val_obj();
        ef_val_obj_set_take(o, "match", ef_val_ref(ef_val_obj_get(m->cur, "match")));
        ef_val_obj_set_take(o, "index", ef_val_ref(ef_val_obj_get(m->cur, "start")));
        ef_val_obj_set_take(o, "groups", ef_val_ref(ef_val_obj_get(m->cur, "groups")));
        return o;
    }
    return jsonata__match_obj(m->s, m->ov, m->ovn);
}

int jsonata__fn_contains(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                         struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    struct ef_val *v = ARG(0), *t = ARG(1);
    if (!v || !t) {
        return 0;
    }
    if (ef_val_type(t) == EF_STR) {
        out->v = ef_val_bool(find_str(ef_val_str_get(v), ef_val_str_len(v), ef_val_str_get(t),
                                      ef_val_str_len(t)) != NULL);
        return 0;
    }
    struct miter m;
    miter_init(&m, c, t, v, env);
    int r = miter_next(&m);
    miter_done(&m);
    if (r < 0) {
        return -1;
    }
    out->v = ef_val_bool(r > 0);
    return 0;
}

int jsonata__fn_match(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                      struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    struct ef_val *v = ARG(0);
    if (!v) {
        return 0;
    }
    struct ef_val *lim = ARG(2);
    if (lim && ef_val_num_get(lim) < 0) {
        jsonata__error_val(c, "D3040", -1, NULL, lim);
        c->err.index = 3;
        return -1;
    }
    out->v = ef_val_arr();
    out->f = JF_SEQ;
    if (lim && !(ef_val_num_get(lim) > 0)) {
        return 0;
    }
    struct miter m;
    miter_init(&m, c, ARG(1), v, env);
    double count = 0;
    int r = 0;
    while ((!lim || count < ef_val_num_get(lim)) && (r = miter_next(&m)) > 0) {
        ef_val_arr_push_take(out->v, miter_obj(&m));
        count++;
    }
    miter_done(&m);
    return r < 0 ? -1 : 0;
}

static void expand_replacement(const char *rep, size_t rl, struct ef_val *mo, struct buf *b)
{
    struct ef_val *groups = ef_val_obj_get(mo, "groups");
    struct ef_val *whole = ef_val_obj_get(mo, "match");
    size_t ngroups = ef_val_arr_len(groups);
    size_t pos = 0;
    while (pos < rl) {
        const char *d = memchr(rep + pos, '$', rl - pos);
        if (!d) {
            break;
        }
        size_t idx = (size_t)(d - rep);
        bput(b, rep + pos, idx - pos);
        pos = idx + 1;
        if (pos < rl && rep[pos] == '$') {
            bput(b, "$", 1);
            pos++;
        } else if (pos < rl && rep[pos] == '0') {
            bput(b, ef_val_str_get(whole), ef_val_str_len(whole));
            pos++;
        } else {
            int maxd = ngroups == 0 ? 1 : (int)floor(log10((double)ngroups)) + 1;
            int digits = 0;
            long val = 0;
            while (digits < maxd && pos + (size_t)digits < rl && rep[pos + (size_t)digits] >= '0' &&
                   rep[pos + (size_t)digits] <= '9') {
                val = val * 10 + (rep[pos + (size_t)digits] - '0');
                digits++;
            }
            if (maxd > 1 && digits == maxd && (size_t)val > ngroups) {
                val /= 10;
                digits--;
            }
            if (digits > 0) {
                if (ngroups > 0 && val >= 1 && (size_t)val <= ngroups) {
                    struct ef_val *g = ef_val_arr_at(groups, (size_t)val - 1);
                    if (g && ef_val_type(g) == EF_STR) {
                        bput(b, ef_val_str_get(g), ef_val_str_len(g));
                    }
                }
                char tmp[24];
                pos += (size_t)snprintf(tmp, sizeof(tmp), "%ld", val);
            } else {
                bput(b, "$", 1);
            }
        }
    }
    if (pos < rl) {
        bput(b, rep + pos, rl - pos);
    }
}

int jsonata__fn_replace(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                        struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    struct ef_val *v = ARG(0), *pat = ARG(1), *rep = ARG(2), *lim = ARG(3);
    if (!v) {
        return 0;
    }
    if (pat && ef_val_type(pat) == EF_STR && ef_val_str_len(pat) == 0) {
        jsonata__error_val(c, "D3010", -1, NULL, pat);
        c->err.index = 2;
        return -1;
    }
    if (lim && ef_val_num_get(lim) < 0) {
        jsonata__error_val(c, "D3011", -1, NULL, lim);
        c->err.index = 4;
        return -1;
    }
    const char *s = ef_val_str_get(v);
    size_t sl = ef_val_str_len(v);
    if (lim && !(ef_val_num_get(lim) > 0)) {
        out->v = ef_val_ref(v);
        return 0;
    }
    double limit = lim ? ef_val_num_get(lim) : INFINITY;
    struct buf b = {0};
    double count = 0;
    if (pat && ef_val_type(pat) == EF_STR) {
        size_t pos = 0;
        const char *p = ef_val_str_get(pat);
        size_t pl = ef_val_str_len(pat);
        const char *hit;
        while (count < limit && (hit = find_str(s + pos, sl - pos, p, pl)) != NULL) {
            size_t idx = (size_t)(hit - s);
            bput(&b, s + pos, idx - pos);
            if (rep && ef_val_type(rep) == EF_STR) {
                bput(&b, ef_val_str_get(rep), ef_val_str_len(rep));
            }
            pos = idx + pl;
            count++;
        }
        bput(&b, s + pos, sl - pos);
        out->v = bval(&b);
        return 0;
    }
    struct miter m;
    miter_init(&m, c, pat, v, env);
    size_t pos = 0;
    int r = 0;
    while (count < limit && (r = miter_next(&m)) > 0) {
        if (m.mstart > pos) {
            bput(&b, s + pos, m.mstart - pos);
        }
        struct ef_val *mo = miter_obj(&m);
        if (rep && ef_val_type(rep) == EF_STR) {
            expand_replacement(ef_val_str_get(rep), ef_val_str_len(rep), mo, &b);
            ef_val_unref(mo);
        } else {
            struct jv arg = {mo, 0};
            struct jv res;
            int rc = jsonata__apply(c, rep, &arg, 1, NULL, env, -1, &res);
            ef_val_unref(mo);
            if (rc < 0) {
                miter_done(&m);
                free(b.p);
                return -1;
            }
            struct ef_val *rv = jsonata__seq_finish(&res);
            if (!rv || ef_val_type(rv) != EF_STR) {
                jsonata__error_val(c, "D3012", -1, NULL, rv);
                ef_val_unref(rv);
                miter_done(&m);
                free(b.p);
                return -1;
            }
            bput(&b, ef_val_str_get(rv), ef_val_str_len(rv));
            ef_val_unref(rv);
        }
        pos = m.mend;
        count++;
    }
    miter_done(&m);
    if (r < 0) {
        free(b.p);
        return -1;
    }
    if (pos < sl) {
        bput(&b, s + pos, sl - pos);
    }
    out->v = bval(&b);
    return 0;
}

int jsonata__fn_split(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                      struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    struct ef_val *v = ARG(0), *sep = ARG(1), *lim = ARG(2);
    if (!v) {
        return 0;
    }
    if (lim && ef_val_num_get(lim) < 0) {
        jsonata__error_val(c, "D3020", -1, NULL, lim);
        c->err.index = 3;
        return -1;
    }
    double limit = lim ? floor(ef_val_num_get(lim)) : INFINITY;
    const char *s = ef_val_str_get(v);
    size_t sl = ef_val_str_len(v);
    struct ef_val *res = ef_val_arr();
    out->v = res;
    if (!(limit > 0)) {
        return 0;
    }
    if (sep && ef_val_type(sep) == EF_STR) {
        const char *p = ef_val_str_get(sep);
        size_t pl = ef_val_str_len(sep);
        if (pl == 0) {
            size_t i = 0;
            while (i < sl && (double)ef_val_arr_len(res) < limit) {
                size_t st = i;
                jsonata__utf8_next(s, sl, &i);
                ef_val_arr_push_take(res, ef_val_strn(s + st, i - st));
            }
            return 0;
        }
        size_t pos = 0;
        const char *hit;
        while ((double)ef_val_arr_len(res) < limit) {
            hit = find_str(s + pos, sl - pos, p, pl);
            if (!hit) {
                ef_val_arr_push_take(res, ef_val_strn(s + pos, sl - pos));
                break;
            }
            ef_val_arr_push_take(res, ef_val_strn(s + pos, (size_t)(hit - s) - pos));
            pos = (size_t)(hit - s) + pl;
        }
        return 0;
    }
    struct miter m;
    miter_init(&m, c, sep, v, env);
    size_t start = 0;
    double count = 0;
    int r = 0;
    bool any = false;
    while (count < limit && (r = miter_next(&m)) > 0) {
        any = true;
        ef_val_arr_push_take(res, ef_val_strn(s + start, m.mstart > start ? m.mstart - start : 0));
        start = m.mend;
        count++;
    }
    miter_done(&m);
    if (r < 0) {
        return -1;
    }
    if (!any || count < limit) {
        ef_val_arr_push_take(
            res, ef_val_strn(s + (start < sl ? start : sl), start < sl ? sl - start : 0));
    }
    return 0;
}

int jsonata__fn_join(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                     struct jsonata__env *env, struct jv *out)
{
    (void)c;
    (void)focus;
    (void)env;
    struct ef_val *v = ARG(0);
    if (!v) {
        return 0;
    }
    struct buf b = {0};
    size_t m = ef_val_arr_len(v);
    for (size_t i = 0; i < m; i++) {
        if (i && ARG(1)) {
            bput(&b, ef_val_str_get(ARG(1)), ef_val_str_len(ARG(1)));
        }
        struct ef_val *x = ef_val_arr_at(v, i);
        bput(&b, ef_val_str_get(x), ef_val_str_len(x));
    }
    out->v = bval(&b);
    return 0;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int jsonata__fn_base64encode(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                             struct jsonata__env *env, struct jv *out)
{
    (void)c;
    (void)focus;
    (void)env;
    struct ef_val *v = ARG(0);
    if (!v) {
        return 0;
    }
    const char *s = ef_val_str_get(v);
    size_t sl = ef_val_str_len(v);
    /* Buffer.from(str, 'binary'): each UTF-16 unit's low byte */
    unsigned char *bytes = malloc(sl * 2 + 1);
    size_t nb = 0, i = 0;
    while (i < sl) {
        uint32_t cp = jsonata__utf8_next(s, sl, &i);
        if (cp >= 0x10000) {
            uint32_t x = cp - 0x10000;
            bytes[nb++] = (unsigned char)((0xD800 + (x >> 10)) & 0xFF);
            bytes[nb++] = (unsigned char)((0xDC00 + (x & 0x3FF)) & 0xFF);
        } else {
            bytes[nb++] = (unsigned char)(cp & 0xFF);
        }
    }
    struct buf b = {0};
    for (size_t k = 0; k < nb; k += 3) {
        uint32_t x = (uint32_t)bytes[k] << 16;
        if (k + 1 < nb) {
            x |= (uint32_t)bytes[k + 1] << 8;
        }
        if (k + 2 < nb) {
            x |= bytes[k + 2];
        }
        char q[4] = {b64[(x >> 18) & 63], b64[(x >> 12) & 63],
                     k + 1 < nb ? b64[(x >> 6) & 63] : '=', k + 2 < nb ? b64[x & 63] : '='};
        bput(&b, q, 4);
    }
    free(bytes);
    out->v = bval(&b);
    return 0;
}

int jsonata__fn_base64decode(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                             struct jsonata__env *env, struct jv *out)
{
    (void)c;
    (void)focus;
    (void)env;
    struct ef_val *v = ARG(0);
    if (!v) {
        return 0;
    }
    const char *s = ef_val_str_get(v);
    size_t sl = ef_val_str_len(v);
    struct buf b = {0};
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < sl; i++) {
        const char *p = strchr(b64, s[i]);
        int val;
        if (s[i] == '-') {
            val = 62;
        } else if (s[i] == '_') {
            val = 63;
        } else if (!p || !s[i]) {
            if (s[i] == '=') {
                break;
            }
            continue;
        } else {
            val = (int)(p - b64);
        }
        acc = (acc << 6) | (uint32_t)val;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            char tmp[4];
            int k = jsonata__utf8_put((acc >> bits) & 0xFF, tmp);
            bput(&b, tmp, (size_t)k);
        }
    }
    out->v = bval(&b);
    return 0;
}

static int url_encode(struct jsonata__ctx *c, struct jv *a, int n, struct jv *out, const char *keep)
{
    struct ef_val *v = ARG(0);
    if (!v) {
        return 0;
    }
    const char *s = ef_val_str_get(v);
    size_t sl = ef_val_str_len(v);
    struct buf b = {0};
    size_t i = 0;
    while (i < sl) {
        size_t st = i;
        uint32_t cp = jsonata__utf8_next(s, sl, &i);
        if (cp >= 0xD800 && cp <= 0xDFFF) {
            free(b.p);
            jsonata__error_val(c, "D3140", -1, NULL, v);
            return -1;
        }
        if (cp < 0x80 && ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
                          (cp >= '0' && cp <= '9') || strchr(keep, (int)cp))) {
            char ch = (char)cp;
            bput(&b, &ch, 1);
            continue;
        }
        for (size_t k = st; k < i; k++) {
            char tmp[4];
            snprintf(tmp, sizeof(tmp), "%%%02X", (unsigned char)s[k]);
            bput(&b, tmp, 3);
        }
    }
    out->v = bval(&b);
    return 0;
}

int jsonata__fn_encode_url_component(struct jsonata__ctx *c, struct jv *a, int n,
                                     struct ef_val *focus, struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    (void)env;
    return url_encode(c, a, n, out, "-_.!~*'()");
}

int jsonata__fn_encode_url(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                           struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    (void)env;
    return url_encode(c, a, n, out, "-_.!~*'();/?:@&=+$,#");
}

static int hexv(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

static int url_decode(struct jsonata__ctx *c, struct jv *a, int n, struct jv *out,
                      const char *reserved)
{
    struct ef_val *v = ARG(0);
    if (!v) {
        return 0;
    }
    const char *s = ef_val_str_get(v);
    size_t sl = ef_val_str_len(v);
    struct buf b = {0};
    for (size_t i = 0; i < sl;) {
        if (s[i] != '%') {
            bput(&b, s + i, 1);
            i++;
            continue;
        }
        /* decode one UTF-8 sequence of %XX bytes */
        unsigned char bytes[4];
        int need = 0, got = 0;
        size_t j = i;
        bool bad = false;
        do {
            if (j + 2 >= sl + 0 && j + 2 > sl - 1 + 1) {
                bad = true;
                break;
            }
            if (j + 2 >= sl || s[j] != '%') {
                bad = true;
                break;
            }
            int h = hexv(s[j + 1]), l = hexv(s[j + 2]);
            if (h < 0 || l < 0) {
                bad = true;
                break;
            }
            unsigned char byte = (unsigned char)(h * 16 + l);
            if (got == 0) {
                need = byte < 0x80             ? 1
                       : (byte & 0xE0) == 0xC0 ? 2
                       : (byte & 0xF0) == 0xE0 ? 3
                       : (byte & 0xF8) == 0xF0 ? 4
                                               : 0;
                if (!need) {
                    bad = true;
                    break;
                }
            } else if ((byte & 0xC0) != 0x80) {
                bad = true;
                break;
            }
            bytes[got++] = byte;
            j += 3;
        } while (got < need);
        if (bad) {
            free(b.p);
            jsonata__error_val(c, "D3140", -1, NULL, v);
            return -1;
        }
        if (need == 1 && strchr(reserved, bytes[0]) && bytes[0]) {
            bput(&b, s + i, 3);
        } else {
            bput(&b, (const char *)bytes, (size_t)need);
        }
        i = j;
    }
    out->v = bval(&b);
    return 0;
}

int jsonata__fn_decode_url_component(struct jsonata__ctx *c, struct jv *a, int n,
                                     struct ef_val *focus, struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    (void)env;
    return url_decode(c, a, n, out, "");
}

int jsonata__fn_decode_url(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                           struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    (void)env;
    return url_decode(c, a, n, out, ";/?:@&=+$,#");
}
