/*
 * js.c - JavaScript semantics on edgeflow values: RegExp on PCRE2 (with
 * V8's wording for common syntax errors), String.prototype.replace, and
 * JavaScript's String()/Number()/typeof/==/< that Node-RED's nodes get for
 * free from their language.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/valgrind.h>

#include "js.h"
#include "strbuf.h"
#include "typed.h"

struct js_regex {
    pcre2_code *code;
    pcre2_match_data *md;
    uint32_t ncap; /* capture groups */
    bool named;    /* has named groups ($<name> is a pattern) */
    bool global;
};

/* V8's words for the syntax errors people make; PCRE2's own text otherwise. */
static const char *v8_error(int code)
{
    switch (code) {
    case PCRE2_ERROR_QUANTIFIER_INVALID: return "Nothing to repeat";
    case PCRE2_ERROR_MISSING_CLOSING_PARENTHESIS: return "Unterminated group";
    case PCRE2_ERROR_UNMATCHED_CLOSING_PARENTHESIS: return "Unmatched ')'";
    case PCRE2_ERROR_MISSING_SQUARE_BRACKET: return "Unterminated character class";
    case PCRE2_ERROR_QUANTIFIER_OUT_OF_ORDER: return "numbers out of order in {} quantifier";
    case PCRE2_ERROR_END_BACKSLASH: return "\\ at end of pattern";
    case PCRE2_ERROR_DUPLICATE_SUBPATTERN_NAME: return "Duplicate capture group name";
    case PCRE2_ERROR_CLASS_RANGE_ORDER: return "Range out of order in character class";
    default: return NULL;
    }
}

struct js_regex *js__regex_new(const char *src, size_t len, const char *flags, char *err,
                               size_t errlen)
{
    uint32_t opts = PCRE2_UTF | PCRE2_ALT_BSUX | PCRE2_MATCH_UNSET_BACKREF |
                    PCRE2_ALLOW_EMPTY_CLASS | PCRE2_DOLLAR_ENDONLY;
    if (strchr(flags, 'i')) {
        opts |= PCRE2_CASELESS;
    }
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (cc) {
        pcre2_set_newline(cc, PCRE2_NEWLINE_ANYCRLF);
    }
    int ecode;
    PCRE2_SIZE eoff;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)src, len, opts, &ecode, &eoff, cc);
    pcre2_compile_context_free(cc);
    if (!code) {
        const char *why = v8_error(ecode);
        char pbuf[256];
        if (!why) {
            pcre2_get_error_message(ecode, (PCRE2_UCHAR *)pbuf, sizeof(pbuf));
            why = pbuf;
        }
        snprintf(err, errlen, "Invalid regular expression: /%.*s/%s: %s", (int)len, src, flags,
                 why);
        return NULL;
    }
    struct js_regex *re = calloc(1, sizeof(*re));
    if (!re) {
        pcre2_code_free(code);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    re->code = code;
    re->md = pcre2_match_data_create_from_pattern(code, NULL);
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &re->ncap);
    uint32_t nnames = 0;
    pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &nnames);
    re->named = nnames > 0;
    re->global = strchr(flags, 'g') != NULL;
    js__regex_jit(code);
    if (!re->md) {
        js__regex_free(re);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    return re;
}

void js__regex_free(struct js_regex *re)
{
    if (!re) {
        return;
    }
    pcre2_match_data_free(re->md);
    pcre2_code_free(re->code);
    free(re);
}

static int regex_exec(struct js_regex *re, const char *s, size_t len, size_t start)
{
    return pcre2_match(re->code, (PCRE2_SPTR)s, len, start, 0, re->md, NULL);
}

void js__regex_jit(void *code)
{
    /* valgrind cannot follow JIT-compiled code (it reports false errors in it). */
    if (!RUNNING_ON_VALGRIND) {
        pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    }
}

int js__regex_test(struct js_regex *re, const char *s, size_t len)
{
    return regex_exec(re, s, len, 0) >= 0 ? 1 : 0;
}

/* Appends group g of the last match ("" when it did not take part). */
static void add_group(struct strbuf *b, struct js_regex *re, const char *s, uint32_t g)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(re->md);
    if (ov[2 * g] == PCRE2_UNSET) {
        return;
    }
    strbuf__add(b, s + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
}

/* GetSubstitution: expands $$, $&, $`, $', $n, $nn and $<name> in rep. */
static void substitute(struct strbuf *b, struct js_regex *re, const char *s, size_t len,
                       const char *rep, size_t replen)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(re->md);
    size_t i = 0;
    while (i < replen) {
        const char *dollar = memchr(rep + i, '$', replen - i);
        if (!dollar) {
            strbuf__add(b, rep + i, replen - i);
            return;
        }
        size_t d = (size_t)(dollar - rep);
        strbuf__add(b, rep + i, d - i);
        i = d;
        char c = d + 1 < replen ? rep[d + 1] : '\0';
        if (c == '$') {
            strbuf__add(b, "$", 1);
            i += 2;
        } else if (c == '&') {
            add_group(b, re, s, 0);
            i += 2;
        } else if (c == '`') {
            strbuf__add(b, s, ov[0]);
            i += 2;
        } else if (c == '\'') {
            strbuf__add(b, s + ov[1], len - ov[1]);
            i += 2;
        } else if (c >= '0' && c <= '9') {
            uint32_t one = (uint32_t)(c - '0');
            char c2 = d + 2 < replen ? rep[d + 2] : '\0';
            uint32_t two = c2 >= '0' && c2 <= '9' ? one * 10 + (uint32_t)(c2 - '0') : 0;
            if (two >= 1 && two <= re->ncap) {
                add_group(b, re, s, two);
                i += 3;
            } else if (one >= 1 && one <= re->ncap) {
                add_group(b, re, s, one);
                i += 2;
            } else {
                strbuf__add(b, "$", 1);
                i += 1;
            }
        } else if (c == '<' && re->named) {
            const char *close = memchr(rep + d + 2, '>', replen - d - 2);
            if (!close) {
                strbuf__add(b, "$<", 2);
                i += 2;
                continue;
            }
            size_t nlen = (size_t)(close - (rep + d + 2));
            char name[128];
            if (nlen < sizeof(name)) {
                memcpy(name, rep + d + 2, nlen);
                name[nlen] = '\0';
                int g = pcre2_substring_number_from_name(re->code, (PCRE2_SPTR)name);
                if (g > 0) {
                    add_group(b, re, s, (uint32_t)g);
                }
            }
            i = (size_t)(close - rep) + 1;
        } else {
            strbuf__add(b, "$", 1);
            i += 1;
        }
    }
}

/* Length of the UTF-8 sequence starting at s[i] (1 for a stray byte). */
static size_t utf8_step(const char *s, size_t len, size_t i)
{
    unsigned char c = (unsigned char)s[i];
    size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return i + n <= len ? n : 1;
}

char *js__regex_replace(struct js_regex *re, const char *s, size_t len, const char *rep,
                        size_t replen, size_t *outlen)
{
    struct strbuf b = {0};
    size_t pos = 0, last = 0;
    while (pos <= len) {
        int rc = regex_exec(re, s, len, pos);
        if (rc < 0) {
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(re->md);
        strbuf__add(&b, s + last, ov[0] - last);
        substitute(&b, re, s, len, rep, replen);
        last = ov[1];
        if (!re->global) {
            break;
        }
        if (ov[1] == ov[0]) {
            /* Empty match: step one character on, as lastIndex does. */
            if (ov[1] >= len) {
                break;
            }
            pos = ov[1] + utf8_step(s, len, ov[1]);
        } else {
            pos = ov[1];
        }
    }
    strbuf__add(&b, s + last, len - last);
    return strbuf__take(&b, outlen);
}

char *js__regex_escape(const char *s, size_t len, size_t *outlen)
{
    struct strbuf b = {0};
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (strchr("-[]{}()*+?.,\\^$|#", c) && c != '\0') {
            strbuf__add(&b, "\\", 1);
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            strbuf__add(&b, "\\", 1);
        }
        strbuf__add(&b, &c, 1);
    }
    return strbuf__take(&b, outlen);
}

const char *js__regexp_source(const struct ef_val *v)
{
    return ef_val_handle_ptr(v, &typed__regexp_type);
}

/*
 * The context key with its [msg.x] references replaced by their values, as
 * normalisePropertyExpression(key, msg, true) does. Malloc'ed.
 */
char *js__resolve_ctx_key(const char *key, const struct ef_msg *msg)
{
    size_t cap = strlen(key) * 2 + 64, n = 0;
    char *out = malloc(cap);
    const char *p = key;
    while (out && *p) {
        const char *open = strstr(p, "[msg.");
        if (!open) {
            open = p + strlen(p);
        }
        size_t lit = (size_t)(open - p);
        /* the nested reference ends at its matching ] */
        const char *close = NULL;
        if (*open) {
            int depth = 0;
            char quote = 0;
            for (const char *q = open; *q; q++) {
                if (quote) {
                    quote = *q == quote ? 0 : quote;
                } else if (*q == '"' || *q == '\'') {
                    quote = *q;
                } else if (*q == '[') {
                    depth++;
                } else if (*q == ']' && --depth == 0) {
                    close = q;
                    break;
                }
            }
        }
        char *piece = NULL;
        if (close) {
            char *inner = strndup(open + 1, (size_t)(close - open - 1));
            const struct ef_val *v = inner ? ef_msg_get(msg, inner) : NULL;
            free(inner);
            size_t sl = 0;
            char *s = js__to_string(v, &sl);
            if (s && ef_val_type(v) == EF_NUM) {
                piece = malloc(sl + 3);
                if (piece) {
                    sprintf(piece, "[%s]", s);
                }
            } else if (s) {
                piece = malloc(sl + 5);
                if (piece) {
                    sprintf(piece, strchr(s, '"') ? "['%s']" : "[\"%s\"]", s);
                }
            }
            free(s);
        } else if (*open) {
            lit = strlen(p);
        }
        size_t plen = piece ? strlen(piece) : 0;
        if (n + lit + plen + 1 > cap) {
            cap = (n + lit + plen + 1) * 2;
            char *o = realloc(out, cap);
            if (!o) {
                free(out);
                free(piece);
                return NULL;
            }
            out = o;
        }
        memcpy(out + n, p, lit);
        n += lit;
        if (piece) {
            memcpy(out + n, piece, plen);
            n += plen;
        }
        free(piece);
        p += lit;
        if (close) {
            p = close + 1;
        }
    }
    if (out) {
        out[n] = '\0';
    }
    return out;
}

const char *js__jsonata_prefix(const char *err)
{
    static const char prefix[] = "Invalid JSONata expression: ";
    return strncmp(err, prefix, sizeof(prefix) - 1) ? prefix : "";
}

/* ---- Conversions ---- */

static void to_string_into(struct strbuf *b, const struct ef_val *v, int depth)
{
    char num[32];
    if (!v) {
        strbuf__add(b, "undefined", 9);
        return;
    }
    switch (ef_val_type(v)) {
    case EF_NULL: strbuf__add(b, "null", 4); return;
    case EF_BOOL:
        strbuf__add(b, ef_val_bool_get(v) ? "true" : "false", ef_val_bool_get(v) ? 4 : 5);
        return;
    case EF_NUM: strbuf__add(b, num, ef_num_format(ef_val_num_get(v), num)); return;
    case EF_STR: strbuf__add(b, ef_val_str_get(v), ef_val_str_len(v)); return;
    case EF_BUF: strbuf__add(b, (const char *)ef_val_buf_data(v), ef_val_buf_len(v)); return;
    case EF_ARR:
        /* Array.prototype.join: null and undefined become "" */
        if (depth > 64) {
            return;
        }
        for (size_t i = 0; i < ef_val_arr_len(v); i++) {
            const struct ef_val *e = ef_val_arr_at(v, i);
            if (i) {
                strbuf__add(b, ",", 1);
            }
            if (e && ef_val_type(e) != EF_NULL) {
                to_string_into(b, e, depth + 1);
            }
        }
        return;
    case EF_HANDLE: {
        const char *src = js__regexp_source(v);
        if (src) {
            strbuf__add(b, "/", 1);
            strbuf__add(b, src, strlen(src));
            strbuf__add(b, "/", 1);
            return;
        }
        strbuf__add(b, "[object Object]", 15);
        return;
    }
    default: strbuf__add(b, "[object Object]", 15); return;
    }
}

char *js__to_string(const struct ef_val *v, size_t *len)
{
    struct strbuf b = {0};
    to_string_into(&b, v, 0);
    return strbuf__take(&b, len);
}

double js__to_number(const struct ef_val *v)
{
    if (!v) {
        return NAN;
    }
    switch (ef_val_type(v)) {
    case EF_NULL: return 0;
    case EF_BOOL: return ef_val_bool_get(v) ? 1 : 0;
    case EF_NUM: return ef_val_num_get(v);
    case EF_STR: return typed__to_number(ef_val_str_get(v), ef_val_str_len(v));
    case EF_ARR:
    case EF_BUF: {
        size_t len;
        char *s = js__to_string(v, &len);
        double d = s ? typed__to_number(s, len) : NAN;
        free(s);
        return d;
    }
    default: return NAN;
    }
}

const char *js__typeof(const struct ef_val *v)
{
    if (!v) {
        return "undefined";
    }
    switch (ef_val_type(v)) {
    case EF_BOOL: return "boolean";
    case EF_NUM: return "number";
    case EF_STR: return "string";
    default: return "object";
    }
}

/* A JavaScript primitive (the result of ToPrimitive). */
enum prim_kind { P_UNDEF, P_NULL, P_BOOL, P_NUM, P_STR, P_OBJ };
struct prim {
    enum prim_kind k;
    double n;
    const char *s;
    size_t len;
    char *owned;
    const struct ef_val *obj;
};

static struct prim prim_of(const struct ef_val *v)
{
    struct prim p = {0};
    if (!v) {
        p.k = P_UNDEF;
        return p;
    }
    switch (ef_val_type(v)) {
    case EF_NULL: p.k = P_NULL; break;
    case EF_BOOL:
        p.k = P_BOOL;
        p.n = ef_val_bool_get(v) ? 1 : 0;
        break;
    case EF_NUM:
        p.k = P_NUM;
        p.n = ef_val_num_get(v);
        break;
    case EF_STR:
        p.k = P_STR;
        p.s = ef_val_str_get(v);
        p.len = ef_val_str_len(v);
        break;
    default:
        p.k = P_OBJ;
        p.obj = v;
        break;
    }
    return p;
}

/* ToPrimitive for an object: its toString() (arrays join, Buffers decode). */
static void prim_unwrap(struct prim *p)
{
    if (p->k != P_OBJ) {
        return;
    }
    p->owned = js__to_string(p->obj, &p->len);
    p->s = p->owned ? p->owned : "";
    p->k = P_STR;
}

static double prim_num(const struct prim *p)
{
    switch (p->k) {
    case P_UNDEF: return NAN;
    case P_NULL: return 0;
    case P_BOOL:
    case P_NUM: return p->n;
    case P_STR: return typed__to_number(p->s, p->len);
    default: return NAN;
    }
}

bool js__loose_eq(const struct ef_val *a, const struct ef_val *b)
{
    struct prim x = prim_of(a), y = prim_of(b);
    bool r;
    if (x.k == y.k) {
        switch (x.k) {
        case P_UNDEF:
        case P_NULL: return true;
        case P_BOOL:
        case P_NUM: return x.n == y.n;
        case P_STR: return x.len == y.len && !memcmp(x.s, y.s, x.len);
        default: return a == b; /* objects: identity */
        }
    }
    if ((x.k == P_UNDEF || x.k == P_NULL) || (y.k == P_UNDEF || y.k == P_NULL)) {
        return (x.k == P_UNDEF || x.k == P_NULL) && (y.k == P_UNDEF || y.k == P_NULL);
    }
    if (x.k == P_OBJ) {
        prim_unwrap(&x);
    }
    if (y.k == P_OBJ) {
        prim_unwrap(&y);
    }
    if (x.k == P_STR && y.k == P_STR) {
        r = x.len == y.len && !memcmp(x.s, y.s, x.len);
    } else {
        r = prim_num(&x) == prim_num(&y);
    }
    free(x.owned);
    free(y.owned);
    return r;
}

/* Decodes one UTF-8 code point at *i (advancing it); stray bytes as themselves. */
static uint32_t utf8_next(const char *s, size_t len, size_t *i)
{
    size_t n = utf8_step(s, len, *i);
    const unsigned char *u = (const unsigned char *)s + *i;
    uint32_t cp = u[0];
    if (n == 2) {
        cp = ((u[0] & 0x1fu) << 6) | (u[1] & 0x3fu);
    } else if (n == 3) {
        cp = ((u[0] & 0x0fu) << 12) | ((u[1] & 0x3fu) << 6) | (u[2] & 0x3fu);
    } else if (n == 4) {
        cp = ((u[0] & 0x07u) << 18) | ((u[1] & 0x3fu) << 12) | ((u[2] & 0x3fu) << 6) |
             (u[3] & 0x3fu);
    }
    *i += n;
    return cp;
}

size_t js__utf16_length(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        n += utf8_next(s, len, &i) >= 0x10000 ? 2 : 1;
    }
    return n;
}

/* Compares as JavaScript does: by UTF-16 code units. */
static int utf16_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t i = 0, j = 0;
    while (i < alen && j < blen) {
        uint32_t x = utf8_next(a, alen, &i), y = utf8_next(b, blen, &j);
        if (x == y) {
            continue;
        }
        uint32_t ux = x >= 0x10000 ? 0xd800 + ((x - 0x10000) >> 10) : x;
        uint32_t uy = y >= 0x10000 ? 0xd800 + ((y - 0x10000) >> 10) : y;
        if (ux == uy) { /* same high surrogate: compare the low ones */
            ux = 0xdc00 + ((x - 0x10000) & 0x3ff);
            uy = 0xdc00 + ((y - 0x10000) & 0x3ff);
        }
        return ux < uy ? -1 : 1;
    }
    return i < alen ? 1 : j < blen ? -1 : 0;
}

bool js__compare(const struct ef_val *a, const struct ef_val *b, char op)
{
    struct prim x = prim_of(a), y = prim_of(b);
    prim_unwrap(&x);
    prim_unwrap(&y);
    bool r;
    if (x.k == P_STR && y.k == P_STR) {
        int c = utf16_cmp(x.s, x.len, y.s, y.len);
        r = op == '<' ? c < 0 : op == 'l' ? c <= 0 : op == '>' ? c > 0 : c >= 0;
    } else {
        double nx = prim_num(&x), ny = prim_num(&y);
        r = op == '<' ? nx < ny : op == 'l' ? nx <= ny : op == '>' ? nx > ny : nx >= ny;
    }
    free(x.owned);
    free(y.owned);
    return r;
}

double js__parse_int(const struct ef_val *v)
{
    if (ef_val_type(v) == EF_NUM) {
        double d = ef_val_num_get(v);
        return isfinite(d) ? trunc(d) : NAN;
    }
    if (ef_val_type(v) != EF_STR) {
        return NAN;
    }
    const char *s = ef_val_str_get(v);
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
        s++;
    }
    char *end;
    long long r = strtoll(s, &end, 10);
    return end == s ? NAN : (double)r;
}

struct ef_val *js__utf8_decode(const void *data, size_t n)
{
    const uint8_t *p = data;
    /* Worst case: every byte becomes U+FFFD (3 bytes). */
    char *out = malloc(n * 3 + 1);
    if (!out) {
        return NULL;
    }
    size_t o = 0, i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            out[o++] = (char)c;
            i++;
            continue;
        }
        /* WHATWG decoder: the maximal valid prefix of a sequence is replaced once. */
        size_t need = 0;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            lo = c == 0xE0 ? 0xA0 : 0x80;
            hi = c == 0xED ? 0x9F : 0xBF;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            lo = c == 0xF0 ? 0x90 : 0x80;
            hi = c == 0xF4 ? 0x8F : 0xBF;
        }
        size_t k = 1;
        bool ok = need > 0;
        for (; ok && k <= need; k++) {
            if (i + k >= n) {
                ok = false;
                break;
            }
            uint8_t d = p[i + k];
            uint8_t l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
            if (d < l || d > h) {
                ok = false;
                break;
            }
        }
        if (ok) {
            memcpy(out + o, p + i, need + 1);
            o += need + 1;
            i += need + 1;
        } else {
            out[o++] = (char)0xEF;
            out[o++] = (char)0xBF;
            out[o++] = (char)0xBD;
            i += need ? k : 1;
        }
    }
    out[o] = '\0';
    return ef_val_str_take(out, o);
}
