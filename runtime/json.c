/*
 * json.c - JSON in and out, byte for byte as JavaScript does it.
 *
 * The parser is a direct recursive-descent parser into ef_val trees. It
 * accepts exactly what JSON.parse accepts and reports errors with the texts
 * and positions of Node 20's V8 ("Unexpected token 'x', "..." is not valid
 * JSON", "Expected ',' or ']' after array element in JSON at position 4",
 * ...); positions count UTF-16 code units, as JavaScript does. Strings are
 * decoded to UTF-8 (surrogate pairs joined, lone surrogates and malformed
 * UTF-8 become U+FFFD), duplicate keys keep the last value, and nesting
 * deeper than EF_JSON_MAX_DEPTH is refused with an error.
 *
 * The printer writes what JSON.stringify(v) or JSON.stringify(v, null, 4)
 * would, with numbers in Number.prototype.toString form (ef_num_format):
 * the shortest decimal that reads back as the same double, laid out with
 * JavaScript's fixed/exponent rules. Neither direction depends on the C
 * locale: numbers are handed to strtod without a decimal point.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <edgeflow/err.h>
#include <edgeflow/val.h>
#include "val_internal.h"

/* ---- Number formatting (Number.prototype.toString) ---- */

/*
 * Converts a digit string and exponent ("12345", -20 means 12345e-20) to a
 * double. No decimal point is involved, so LC_NUMERIC does not matter.
 */
static double digits_to_double(const char *digits, size_t k, long exp10)
{
    char tmp[64];
    if (k > 40) {
        k = 40;
    }
    memcpy(tmp, digits, k);
    snprintf(tmp + k, sizeof(tmp) - k, "e%ld", exp10);
    return strtod(tmp, NULL);
}

/*
 * Writes the `prec` significant digits of d (> 0, finite), correctly
 * rounded, into digits; returns the decimal exponent of the first digit.
 */
static int round_digits(double d, int prec, char *digits)
{
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, d);
    int k = 0;
    const char *p = tmp;
    for (; *p && *p != 'e'; p++) {
        if (*p >= '0' && *p <= '9') {
            digits[k++] = *p;
        }
    }
    digits[k] = '\0';
    return *p == 'e' ? atoi(p + 1) : 0;
}

static int strip_zeros(const char *digits, int k)
{
    while (k > 1 && digits[k - 1] == '0') {
        k--;
    }
    return k;
}

/* Adds one unit in the last place of a k-digit string; may carry into e10. */
static void digits_increment(char *digits, int k, int *e10)
{
    int i = k - 1;
    while (i >= 0 && digits[i] == '9') {
        digits[i--] = '0';
    }
    if (i >= 0) {
        digits[i]++;
    } else {
        digits[0] = '1';
        (*e10)++;
    }
}

/*
 * Finds the shortest digit string that round-trips to d (> 0, finite),
 * choosing the closest one when several of that length do. Returns the
 * number of digits; *e10 gets the exponent of the first digit.
 */
static int shortest_digits(double d, char *digits, int *e10)
{
    /* Up to 15 digits a decimal survives a trip through a normal double,
     * so if the 15-digit rounding round-trips, its stripped form is the
     * shortest; the same argument covers 16 digits given that 15 did not
     * work. */
    int prec = 15;
    if (d < 2.2250738585072014e-308) {
        /* Subnormals carry fewer bits: search upwards from one digit. */
        prec = 1;
    }
    for (; prec <= 17; prec++) {
        int e = round_digits(d, prec, digits);
        int k = strip_zeros(digits, prec);
        if (prec == 17 || digits_to_double(digits, (size_t)k, e - (k - 1)) == d) {
            *e10 = e;
            return k;
        }
    }
    return 0; /* not reached: 17 digits always round-trip */
}

/*
 * Powers of two have a rounding interval twice as wide above as below, so
 * a shorter string may exist above d even when the correctly rounded one
 * (below d) does not round-trip. Checks lengths 1..k-1 for that case.
 */
static int shortest_pow2(double d, char *digits, int *e10, int k)
{
    char cand[32];
    for (int prec = 1; prec < k; prec++) {
        int e = round_digits(d, prec, cand);
        if (digits_to_double(cand, (size_t)prec, e - (prec - 1)) == d) {
            break; /* the generic search would have found it */
        }
        digits_increment(cand, prec, &e);
        if (digits_to_double(cand, (size_t)prec, e - (prec - 1)) == d) {
            int nk = strip_zeros(cand, prec);
            memcpy(digits, cand, (size_t)nk);
            digits[nk] = '\0';
            *e10 = e;
            return nk;
        }
    }
    return k;
}

static size_t put_uint(char *o, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) {
        o[i] = tmp[n - 1 - i];
    }
    return n;
}

/*
 * Formats a double exactly as JavaScript's Number.prototype.toString (and
 * so JSON.stringify, apart from NaN/Infinity): writes NUL-terminated text
 * into buf (at least 32 bytes) and returns its length.
 */
size_t ef_num_format(double d, char *buf)
{
    char *o = buf;
    if (isnan(d)) {
        memcpy(buf, "NaN", 4);
        return 3;
    }
    if (isinf(d)) {
        const char *s = d < 0 ? "-Infinity" : "Infinity";
        size_t n = strlen(s);
        memcpy(buf, s, n + 1);
        return n;
    }
    if (d == 0) {
        memcpy(buf, "0", 2); /* also -0 */
        return 1;
    }
    if (d < 0) {
        *o++ = '-';
        d = -d;
    }
    if (d < 9007199254740992.0 && d == floor(d)) {
        o += put_uint(o, (uint64_t)d);
        *o = '\0';
        return (size_t)(o - buf);
    }
    char digits[32];
    int e10 = 0;
    int k = shortest_digits(d, digits, &e10);
    int bexp;
    if (k > 1 && frexp(d, &bexp) == 0.5) {
        k = shortest_pow2(d, digits, &e10, k);
    }
    int n = e10 + 1; /* value = 0.digits * 10^n */
    if (k <= n && n <= 21) {
        memcpy(o, digits, (size_t)k);
        o += k;
        memset(o, '0', (size_t)(n - k));
        o += n - k;
    } else if (0 < n && n <= 21) {
        memcpy(o, digits, (size_t)n);
        o += n;
        *o++ = '.';
        memcpy(o, digits + n, (size_t)(k - n));
        o += k - n;
    } else if (-6 < n && n <= 0) {
        *o++ = '0';
        *o++ = '.';
        memset(o, '0', (size_t)-n);
        o += -n;
        memcpy(o, digits, (size_t)k);
        o += k;
    } else {
        *o++ = digits[0];
        if (k > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, (size_t)(k - 1));
            o += k - 1;
        }
        *o++ = 'e';
        *o++ = n - 1 < 0 ? '-' : '+';
        o += put_uint(o, (uint64_t)(n - 1 < 0 ? 1 - n : n - 1));
    }
    *o = '\0';
    return (size_t)(o - buf);
}

/* ---- Parser ---- */

struct parser {
    const char *s;
    size_t len;
    size_t pos;
    int depth;
    char *err;
    size_t errlen;
    bool failed;
    char *scratch; /* string decoding buffer, grown geometrically */
    size_t scap;
};

/* JavaScript position (UTF-16 code units) of byte offset `off`. */
static size_t js_pos(const char *s, size_t off)
{
    size_t n = 0;
    for (size_t i = 0; i < off; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xc0) != 0x80) {
            n += c >= 0xf0 ? 2 : 1;
        }
    }
    return n;
}

/* Byte offset of JavaScript position `jp` (clamped to len). */
static size_t byte_off(const char *s, size_t len, size_t jp)
{
    size_t n = 0, i = 0;
    while (i < len && n < jp) {
        unsigned char c = (unsigned char)s[i];
        n += c >= 0xf0 ? 2 : 1;
        i++;
        while (i < len && ((unsigned char)s[i] & 0xc0) == 0x80) {
            i++;
        }
    }
    return i;
}

static void fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct parser *p, const char *fmt, ...)
{
    if (p->failed) {
        return;
    }
    p->failed = true;
    if (p->err && p->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err, p->errlen, fmt, ap);
        va_end(ap);
    }
}

/* An error of the "<what> in JSON at position N" family. */
static void fail_at(struct parser *p, const char *what, size_t off)
{
    fail(p, "%s in JSON at position %zu", what, js_pos(p->s, off));
}

/* V8's "unexpected token" report for the character at byte offset off. */
static void fail_token(struct parser *p, size_t off)
{
    static const char *const special[] = {"NaN", "Infinity", "undefined", "[object Object]"};
    if (off >= p->len) {
        fail(p, "Unexpected end of JSON input");
        return;
    }
    for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++) {
        if (p->len == strlen(special[i]) && memcmp(p->s, special[i], p->len) == 0) {
            fail(p, "\"%s\" is not valid JSON", special[i]);
            return;
        }
    }
    size_t tl = 1;
    while (off + tl < p->len && ((unsigned char)p->s[off + tl] & 0xc0) == 0x80) {
        tl++;
    }
    size_t pos = js_pos(p->s, off);
    size_t total = pos + js_pos(p->s + off, p->len - off);
    if (total < 21) {
        fail(p, "Unexpected token '%.*s', \"%.*s\" is not valid JSON", (int)tl, p->s + off,
             (int)p->len, p->s);
        return;
    }
    size_t from = 0, to = total;
    const char *pre = "", *post = "";
    if (pos < 10) {
        to = pos + 10;
        post = "...";
    } else if (pos < total - 10) {
        from = pos - 10;
        to = pos + 10;
        pre = post = "...";
    } else {
        from = pos - 10;
        pre = "...";
    }
    size_t bf = byte_off(p->s, p->len, from), bt = byte_off(p->s, p->len, to);
    fail(p, "Unexpected token '%.*s', %s\"%.*s\"%s is not valid JSON", (int)tl, p->s + off, pre,
         (int)(bt - bf), p->s + bf, post);
}

static void skip_ws(struct parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            break;
        }
        p->pos++;
    }
}

static struct ef_val *parse_value(struct parser *p);

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static struct ef_val *parse_number(struct parser *p)
{
    const char *s = p->s;
    size_t i = p->pos, len = p->len;
    bool neg = false;
    if (s[i] == '-') {
        neg = true;
        i++;
        if (i >= len || !is_digit(s[i])) {
            fail_at(p, "No number after minus sign", i);
            return NULL;
        }
    }
    size_t int_start = i;
    if (s[i] == '0') {
        i++;
        if (i < len && is_digit(s[i])) {
            fail_at(p, "Unexpected number", i);
            return NULL;
        }
    } else {
        while (i < len && is_digit(s[i])) {
            i++;
        }
    }
    size_t int_end = i, frac_start = i, frac_end = i;
    if (i < len && s[i] == '.') {
        i++;
        frac_start = i;
        if (i >= len || !is_digit(s[i])) {
            fail_at(p, "Unterminated fractional number", i);
            return NULL;
        }
        while (i < len && is_digit(s[i])) {
            i++;
        }
        frac_end = i;
    }
    long exp = 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < len && (s[i] == '+' || s[i] == '-')) {
            eneg = s[i] == '-';
            i++;
        }
        if (i >= len || !is_digit(s[i])) {
            fail_at(p, "Exponent part is missing a number", i);
            return NULL;
        }
        while (i < len && is_digit(s[i])) {
            if (exp < 100000000) {
                exp = exp * 10 + (s[i] - '0');
            }
            i++;
        }
        if (eneg) {
            exp = -exp;
        }
    }
    p->pos = i;
    size_t nint = int_end - int_start, nfrac = frac_end - frac_start;
    double v;
    /* Fast path (Clinger): up to 15 digits and a small power of ten are
     * both exact, so one IEEE operation rounds correctly. */
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    long e = exp - (long)nfrac;
    if (nint + nfrac <= 15 && e >= -22 && e <= 22) {
        uint64_t m = 0;
        for (size_t j = int_start; j < int_end; j++) {
            m = m * 10 + (uint64_t)(s[j] - '0');
        }
        for (size_t j = frac_start; j < frac_end; j++) {
            m = m * 10 + (uint64_t)(s[j] - '0');
        }
        v = e < 0 ? (double)m / pow10[-e] : (double)m * pow10[e];
    } else {
        /* "<int digits><frac digits>e<exp>" with no decimal point. */
        size_t need = nint + nfrac + 24;
        char stackbuf[128];
        char *tmp = need <= sizeof(stackbuf) ? stackbuf : malloc(need);
        if (!tmp) {
            fail(p, "Out of memory");
            return NULL;
        }
        memcpy(tmp, s + int_start, nint);
        memcpy(tmp + nint, s + frac_start, nfrac);
        snprintf(tmp + nint + nfrac, 24, "e%ld", e);
        v = strtod(tmp, NULL);
        if (tmp != stackbuf) {
            free(tmp);
        }
    }
    struct ef_val *n = ef_val_num(neg ? -v : v);
    if (!n) {
        fail(p, "Out of memory");
    }
    return n;
}

static bool scratch_reserve(struct parser *p, size_t need)
{
    if (need <= p->scap) {
        return true;
    }
    size_t cap = p->scap ? p->scap : 256;
    while (cap < need) {
        cap *= 2;
    }
    char *n = realloc(p->scratch, cap);
    if (!n) {
        fail(p, "Out of memory");
        return false;
    }
    p->scratch = n;
    p->scap = cap;
    return true;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/*
 * Length of the well-formed UTF-8 sequence at s (n bytes available), or 0
 * if it is malformed; *bad gets the length of its maximal invalid prefix
 * (what one U+FFFD replaces, as the WHATWG decoder does).
 */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
    unsigned char c = s[0];
    size_t want;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        want = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        want = 3;
        if (c == 0xe0) {
            lo = 0xa0;
        } else if (c == 0xed) {
            hi = 0x9f;
        }
    } else if (c >= 0xf0 && c <= 0xf4) {
        want = 4;
        if (c == 0xf0) {
            lo = 0x90;
        } else if (c == 0xf4) {
            hi = 0x8f;
        }
    } else {
        *bad = 1;
        return 0;
    }
    for (size_t i = 1; i < want; i++) {
        if (i >= n || s[i] < lo || s[i] > hi) {
            *bad = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xbf;
    }
    return want;
}

static int hex4(const char *s, size_t avail, size_t *bad)
{
    int v = 0;
    for (size_t i = 0; i < 4; i++) {
        if (i >= avail) {
            *bad = i;
            return -1;
        }
        char c = s[i];
        int d;
        if (c >= '0' && c <= '9') {
            d = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            d = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            d = c - 'A' + 10;
        } else {
            *bad = i;
            return -1;
        }
        v = v * 16 + d;
    }
    return v;
}

/*
 * Parses the string starting at p->pos (on the opening quote). On success
 * *out and *outlen point at the decoded bytes (in the source or in scratch,
 * valid until the next string) and p->pos is past the closing quote.
 */
static bool parse_string_raw(struct parser *p, const char **out, size_t *outlen)
{
    const char *s = p->s;
    size_t len = p->len;
    size_t start = p->pos + 1, i = start;
    /* Fast scan: plain ASCII with no escapes is used in place. */
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) {
            break;
        }
        i++;
    }
    if (i < len && s[i] == '"') {
        *out = s + start;
        *outlen = i - start;
        p->pos = i + 1;
        return true;
    }
    /* Slow path: decode into scratch. Output never exceeds 3x the input
     * bytes (a 1-byte malformed sequence becomes a 3-byte U+FFFD). */
    size_t o = i - start;
    if (!scratch_reserve(p, o + 64)) {
        return false;
    }
    memcpy(p->scratch, s + start, o);
    while (1) {
        if (i >= len) {
            fail_at(p, "Unterminated string", len);
            return false;
        }
        if (p->scap - o < 16 && !scratch_reserve(p, p->scap * 2)) {
            return false;
        }
        unsigned char c = (unsigned char)s[i];
        if (c == '"') {
            break;
        }
        if (c < 0x20) {
            fail_at(p, "Bad control character in string literal", i);
            return false;
        }
        if (c < 0x80 && c != '\\') {
            p->scratch[o++] = (char)c;
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t bad = 0;
            size_t n = utf8_seq((const unsigned char *)s + i, len - i, &bad);
            if (n) {
                memcpy(p->scratch + o, s + i, n);
                o += n;
                i += n;
            } else {
                o += put_utf8(p->scratch + o, 0xfffd);
                i += bad;
            }
            continue;
        }
        /* Backslash escape. */
        i++;
        if (i >= len) {
            fail(p, "Unexpected end of JSON input");
            return false;
        }
        char e = s[i];
        switch (e) {
        case '"': p->scratch[o++] = '"'; break;
        case '\\': p->scratch[o++] = '\\'; break;
        case '/': p->scratch[o++] = '/'; break;
        case 'b': p->scratch[o++] = '\b'; break;
        case 'f': p->scratch[o++] = '\f'; break;
        case 'n': p->scratch[o++] = '\n'; break;
        case 'r': p->scratch[o++] = '\r'; break;
        case 't': p->scratch[o++] = '\t'; break;
        case 'u': {
            size_t bad = 0;
            int cp = hex4(s + i + 1, len - i - 1, &bad);
            if (cp < 0) {
                fail_at(p, "Bad Unicode escape", i + 1 + bad);
                return false;
            }
            i += 4;
            uint32_t u = (uint32_t)cp;
            if (u >= 0xd800 && u <= 0xdbff) {
                /* A high surrogate joins a following \uDC00-\uDFFF. */
                size_t b2 = 0;
                int lo = -1;
                if (i + 2 < len && s[i + 1] == '\\' && s[i + 2] == 'u') {
                    lo = hex4(s + i + 3, len - i - 3, &b2);
                }
                if (lo >= 0xdc00 && lo <= 0xdfff) {
                    u = 0x10000 + ((u - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
                    i += 6;
                } else {
                    u = 0xfffd;
                }
            } else if (u >= 0xdc00 && u <= 0xdfff) {
                u = 0xfffd;
            }
            o += put_utf8(p->scratch + o, u);
            break;
        }
        default: fail_at(p, "Bad escaped character", i); return false;
        }
        i++;
    }
    *out = p->scratch;
    *outlen = o;
    p->pos = i + 1;
    return true;
}

static struct ef_val *parse_string(struct parser *p)
{
    const char *str;
    size_t n;
    if (!parse_string_raw(p, &str, &n)) {
        return NULL;
    }
    struct ef_val *v = ef_val_strn(str, n);
    if (!v) {
        fail(p, "Out of memory");
    }
    return v;
}

static bool enter(struct parser *p)
{
    if (++p->depth > EF_JSON_MAX_DEPTH) {
        fail(p, "Maximum nesting depth %d exceeded in JSON at position %zu", EF_JSON_MAX_DEPTH,
             js_pos(p->s, p->pos));
        return false;
    }
    return true;
}

static struct ef_val *parse_array(struct parser *p)
{
    if (!enter(p)) {
        return NULL;
    }
    p->pos++; /* '[' */
    struct ef_val *a = ef_val_arr();
    if (!a) {
        fail(p, "Out of memory");
        return NULL;
    }
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
        p->depth--;
        return a;
    }
    while (1) {
        struct ef_val *item = parse_value(p);
        if (!item) {
            ef_val_unref(a);
            return NULL;
        }
        if (ef_val_arr_push_take(a, item) != 0) {
            ef_val_unref(item);
            ef_val_unref(a);
            fail(p, "Out of memory");
            return NULL;
        }
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == ']') {
            p->pos++;
            p->depth--;
            return a;
        }
        fail_at(p, "Expected ',' or ']' after array element", p->pos);
        ef_val_unref(a);
        return NULL;
    }
}

static struct ef_val *parse_object(struct parser *p)
{
    if (!enter(p)) {
        return NULL;
    }
    p->pos++; /* '{' */
    struct ef_val *o = ef_val_obj();
    if (!o) {
        fail(p, "Out of memory");
        return NULL;
    }
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        p->depth--;
        return o;
    }
    if (p->pos >= p->len || p->s[p->pos] != '"') {
        fail_at(p, "Expected property name or '}'", p->pos);
        ef_val_unref(o);
        return NULL;
    }
    char kbuf[128];
    while (1) {
        const char *k;
        size_t klen;
        if (!parse_string_raw(p, &k, &klen)) {
            ef_val_unref(o);
            return NULL;
        }
        /* The key may live in scratch, which the value's strings reuse. */
        char *kcopy = NULL;
        if (k == p->scratch) {
            if (klen < sizeof(kbuf)) {
                memcpy(kbuf, k, klen);
                k = kbuf;
            } else {
                kcopy = malloc(klen + 1);
                if (!kcopy) {
                    fail(p, "Out of memory");
                    ef_val_unref(o);
                    return NULL;
                }
                memcpy(kcopy, k, klen);
                k = kcopy;
            }
        }
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':') {
            fail_at(p, "Expected ':' after property name", p->pos);
            free(kcopy);
            ef_val_unref(o);
            return NULL;
        }
        p->pos++;
        struct ef_val *item = parse_value(p);
        if (!item) {
            free(kcopy);
            ef_val_unref(o);
            return NULL;
        }
        int rc = ef_val_obj_setn_take(o, k, klen, item);
        free(kcopy);
        if (rc != 0) {
            ef_val_unref(item);
            ef_val_unref(o);
            fail(p, "Out of memory");
            return NULL;
        }
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != '"') {
                fail_at(p, "Expected double-quoted property name", p->pos);
                ef_val_unref(o);
                return NULL;
            }
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == '}') {
            p->pos++;
            p->depth--;
            return o;
        }
        fail_at(p, "Expected ',' or '}' after property value", p->pos);
        ef_val_unref(o);
        return NULL;
    }
}

static struct ef_val *parse_literal(struct parser *p, const char *word, struct ef_val *v)
{
    size_t n = strlen(word);
    for (size_t i = 0; i < n; i++) {
        if (p->pos + i >= p->len || p->s[p->pos + i] != word[i]) {
            fail_token(p, p->pos + i);
            return NULL;
        }
    }
    p->pos += n;
    return v;
}

static struct ef_val *parse_value(struct parser *p)
{
    skip_ws(p);
    if (p->pos >= p->len) {
        fail(p, "Unexpected end of JSON input");
        return NULL;
    }
    char c = p->s[p->pos];
    switch (c) {
    case '{': return parse_object(p);
    case '[': return parse_array(p);
    case '"': return parse_string(p);
    case 't': return parse_literal(p, "true", ef_val_bool(true));
    case 'f': return parse_literal(p, "false", ef_val_bool(false));
    case 'n': return parse_literal(p, "null", ef_val_null());
    default:
        if (c == '-' || is_digit(c)) {
            return parse_number(p);
        }
        fail_token(p, p->pos);
        return NULL;
    }
}

/*
 * Parses `len` bytes of JSON text (need not be NUL-terminated) as
 * JSON.parse would. Returns a new value the caller owns, or NULL with a
 * JSON.parse-style message (naming the position) in err when err is not
 * NULL. Nesting beyond EF_JSON_MAX_DEPTH is an error.
 */
struct ef_val *ef_json_parse(const char *text, size_t len, char *err, size_t errlen)
{
    struct parser p = {.s = text ? text : "", .len = text ? len : 0, .err = err, .errlen = errlen};
    if (err && errlen) {
        err[0] = '\0';
    }
    struct ef_val *v = parse_value(&p);
    if (v) {
        skip_ws(&p);
        if (p.pos < p.len) {
            fail(&p, "Unexpected non-whitespace character after JSON at position %zu",
                 js_pos(p.s, p.pos));
            ef_val_unref(v);
            v = NULL;
        }
    }
    free(p.scratch);
    return v;
}

/* ---- Printer ---- */

#define PRINT_MAX_DEPTH 10000 /* deeper trees (only built by code) are refused */

struct out {
    char *p;
    size_t len, cap;
    bool oom;
    bool pretty;
};

static bool out_reserve(struct out *o, size_t n)
{
    if (o->oom) {
        return false;
    }
    if (o->len + n + 1 <= o->cap) {
        return true;
    }
    size_t cap = o->cap ? o->cap : 256;
    while (cap < o->len + n + 1) {
        cap *= 2;
    }
    char *np = realloc(o->p, cap);
    if (!np) {
        o->oom = true;
        return false;
    }
    o->p = np;
    o->cap = cap;
    return true;
}

static void out_put(struct out *o, const char *s, size_t n)
{
    if (out_reserve(o, n)) {
        memcpy(o->p + o->len, s, n);
        o->len += n;
    }
}

static void out_ch(struct out *o, char c)
{
    if (out_reserve(o, 1)) {
        o->p[o->len++] = c;
    }
}

static void out_indent(struct out *o, int depth)
{
    if (out_reserve(o, 1 + (size_t)depth * 4)) {
        o->p[o->len++] = '\n';
        memset(o->p + o->len, ' ', (size_t)depth * 4);
        o->len += (size_t)depth * 4;
    }
}

/* Characters JSON.stringify escapes: ", \ and C0 controls. */
static const char esc_kind[32] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
};

static void out_string(struct out *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (!out_reserve(o, n + 2)) {
        return;
    }
    o->p[o->len++] = '"';
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        out_put(o, s + run, i - run);
        run = i + 1;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            out_put(o, e, 2);
        } else if (esc_kind[c] != 'u') {
            char e[2] = {'\\', esc_kind[c]};
            out_put(o, e, 2);
        } else {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            out_put(o, e, 6);
        }
    }
    out_put(o, s + run, n - run);
    out_ch(o, '"');
}

static void out_number(struct out *o, double d)
{
    if (!isfinite(d)) {
        out_put(o, "null", 4);
        return;
    }
    if (out_reserve(o, 32)) {
        o->len += ef_num_format(d, o->p + o->len);
    }
}

static void out_buffer(struct out *o, const uint8_t *data, size_t n, int depth)
{
    if (o->pretty) {
        out_ch(o, '{');
        out_indent(o, depth + 1);
        out_put(o, "\"type\": \"Buffer\",", 17);
        out_indent(o, depth + 1);
        out_put(o, "\"data\": ", 8);
    } else {
        out_put(o, "{\"type\":\"Buffer\",\"data\":", 24);
    }
    out_ch(o, '[');
    for (size_t i = 0; i < n && !o->oom; i++) {
        if (i) {
            out_ch(o, ',');
        }
        if (o->pretty) {
            out_indent(o, depth + 2);
        }
        char num[4];
        unsigned v = data[i];
        size_t k = 0;
        if (v >= 100) {
            num[k++] = (char)('0' + v / 100);
        }
        if (v >= 10) {
            num[k++] = (char)('0' + v / 10 % 10);
        }
        num[k++] = (char)('0' + v % 10);
        out_put(o, num, k);
    }
    if (o->pretty && n) {
        out_indent(o, depth + 1);
    }
    out_ch(o, ']');
    if (o->pretty) {
        out_indent(o, depth);
    }
    out_ch(o, '}');
}

static void out_value(struct out *o, const struct ef_val *v, int depth)
{
    if (depth > PRINT_MAX_DEPTH) {
        o->oom = true;
        return;
    }
    switch (v ? (enum ef_type)v->type : EF_NULL) {
    case EF_NULL: out_put(o, "null", 4); break;
    case EF_BOOL: v->u.b ? out_put(o, "true", 4) : out_put(o, "false", 5); break;
    case EF_NUM: out_number(o, v->u.n); break;
    case EF_STR: out_string(o, v->u.s.p, v->u.s.len); break;
    case EF_BUF: out_buffer(o, v->u.buf.p, v->u.buf.len, depth); break;
    case EF_HANDLE: out_put(o, "{}", 2); break;
    case EF_ARR:
        out_ch(o, '[');
        for (size_t i = 0; i < v->u.arr.len && !o->oom; i++) {
            if (i) {
                out_ch(o, ',');
            }
            if (o->pretty) {
                out_indent(o, depth + 1);
            }
            out_value(o, v->u.arr.items[i], depth + 1);
        }
        if (o->pretty && v->u.arr.len) {
            out_indent(o, depth);
        }
        out_ch(o, ']');
        break;
    case EF_OBJ:
        out_ch(o, '{');
        for (size_t i = 0; i < v->u.obj.len && !o->oom; i++) {
            const struct ef_obj_ent *e = &v->u.obj.ents[i];
            if (i) {
                out_ch(o, ',');
            }
            if (o->pretty) {
                out_indent(o, depth + 1);
            }
            out_string(o, e->key->u.s.p, e->key->u.s.len);
            if (o->pretty) {
                out_put(o, ": ", 2);
            } else {
                out_ch(o, ':');
            }
            out_value(o, e->val, depth + 1);
        }
        if (o->pretty && v->u.obj.len) {
            out_indent(o, depth);
        }
        out_ch(o, '}');
        break;
    }
}

/*
 * Serialises v as JSON.stringify(v) (or JSON.stringify(v, null, 4) with
 * EF_JSON_PRETTY) would: buffers as {"type":"Buffer","data":[...]},
 * NaN/Infinity as null, handles as {}. Returns a malloc'ed NUL-terminated
 * string the caller frees, or NULL on OOM or for trees nested deeper than
 * 10000 levels; *len (if not NULL) gets the length.
 */
char *ef_json_print(const struct ef_val *v, int flags, size_t *len)
{
    struct out o = {.pretty = (flags & EF_JSON_PRETTY) != 0};
    out_value(&o, v, 0);
    if (!out_reserve(&o, 0)) {
        free(o.p);
        return NULL;
    }
    o.p[o.len] = '\0';
    if (len) {
        *len = o.len;
    }
    return o.p;
}
