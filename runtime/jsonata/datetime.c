/*
 * datetime.c - JSONata's date/time functions: $now, $millis, $fromMillis
 * and $toMillis (ISO 8601 and XPath picture strings), plus
 * $formatInteger and $parseInteger.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "jsonata/functions.h"

int jsonata__fn_millis(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                       struct jsonata__env *env, struct jv *out)
{
    (void)a;
    (void)n;
    (void)focus;
    (void)env;
    out->v = ef_val_num((double)jsonata__now_ms(c));
    return 0;
}

/* ---- integer pictures ---- */

enum { FMT_DECIMAL, FMT_LETTERS, FMT_ROMAN, FMT_WORDS, FMT_SEQUENCE };
enum { CASE_LOWER, CASE_UPPER, CASE_TITLE };

struct sep {
    int pos;
    char ch[8];
};

struct ifmt {
    int primary;
    int tcase;
    bool ordinal;
    uint32_t zero;
    int mandatory, optional;
    bool regular;
    struct sep seps[24];
    int nseps;
    int parse_width;
    char token[64];
};

static const uint32_t decimal_groups[] = {
    0x30,   0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6,
    0x0C66, 0x0CE6, 0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0,
    0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620,
    0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10};

static int gcd(int a, int b)
{
    return b == 0 ? a : gcd(b, a % b);
}

static int analyse_integer(struct jsonata__ctx *c, const char *pic, size_t pn, struct ifmt *f)
{
    memset(f, 0, sizeof(*f));
    f->primary = FMT_DECIMAL;
    f->tcase = CASE_LOWER;
    f->zero = 0x30;
    size_t prim_len = pn;
    for (size_t i = pn; i > 0; i--) {
        if (pic[i - 1] == ';') {
            prim_len = i - 1;
            if (i < pn && pic[i] == 'o') {
                f->ordinal = true;
            }
            break;
        }
    }
    char prim[64];
    snprintf(prim, sizeof(prim), "%.*s", (int)prim_len, pic);
    if (strcmp(prim, "A") == 0 || strcmp(prim, "a") == 0) {
        f->tcase = prim[0] == 'A' ? CASE_UPPER : CASE_LOWER;
        f->primary = FMT_LETTERS;
        return 0;
    }
    if (strcmp(prim, "I") == 0 || strcmp(prim, "i") == 0) {
        f->tcase = prim[0] == 'I' ? CASE_UPPER : CASE_LOWER;
        f->primary = FMT_ROMAN;
        return 0;
    }
    if (strcmp(prim, "W") == 0 || strcmp(prim, "Ww") == 0 || strcmp(prim, "w") == 0) {
        f->tcase = prim[0] == 'w' ? CASE_LOWER : prim[1] ? CASE_TITLE : CASE_UPPER;
        f->primary = FMT_WORDS;
        return 0;
    }
    /* decimal digit pattern, scanned right to left */
    uint32_t cps[64];
    int ncp = 0;
    size_t i = 0;
    while (i < prim_len && ncp < 64) { /* from pic: prim holds at most 63 bytes of it */
        cps[ncp++] = jsonata__utf8_next(pic, prim_len, &i);
    }
    bool have_zero = false;
    int seppos = 0;
    for (int k = ncp - 1; k >= 0; k--) {
        uint32_t cp = cps[k];
        bool digit = false;
        for (size_t g = 0; g < sizeof(decimal_groups) / sizeof(decimal_groups[0]); g++) {
            uint32_t grp = decimal_groups[g];
            if (cp >= grp && cp <= grp + 9) {
                digit = true;
                f->mandatory++;
                seppos++;
                if (!have_zero) {
                    f->zero = grp;
                    have_zero = true;
                } else if (grp != f->zero) {
                    return jsonata__error(c, "D3131", -1, NULL);
                }
                break;
            }
        }
        if (!digit) {
            if (cp == '#') {
                seppos++;
                f->optional++;
            } else if (f->nseps < 24) {
                f->seps[f->nseps].pos = seppos;
                int l = jsonata__utf8_put(cp, f->seps[f->nseps].ch);
                f->seps[f->nseps].ch[l] = 0;
                f->nseps++;
            }
        }
    }
    if (f->mandatory == 0) {
        f->primary = FMT_SEQUENCE;
        snprintf(f->token, sizeof(f->token), "%s", prim);
        return 0;
    }
    /* regular grouping? */
    if (f->nseps > 0) {
        bool same = true;
        for (int k = 1; k < f->nseps; k++) {
            if (strcmp(f->seps[k].ch, f->seps[0].ch) != 0) {
                same = false;
            }
        }
        int factor = 0;
        if (same) {
            factor = f->seps[0].pos;
            for (int k = 1; k < f->nseps; k++) {
                factor = gcd(factor, f->seps[k].pos);
            }
            for (int idx = 1; idx <= f->nseps && factor; idx++) {
                bool found = false;
                for (int k = 0; k < f->nseps; k++) {
                    found = found || f->seps[k].pos == idx * factor;
                }
                if (!found) {
                    factor = 0;
                }
            }
        }
        if (factor > 0) {
            f->regular = true;
            f->seps[0].pos = factor;
            f->nseps = 1;
        }
    }
    return 0;
}

static const char *few[] = {"Zero",    "One",     "Two",       "Three",    "Four",
                            "Five",    "Six",     "Seven",     "Eight",    "Nine",
                            "Ten",     "Eleven",  "Twelve",    "Thirteen", "Fourteen",
                            "Fifteen", "Sixteen", "Seventeen", "Eighteen", "Nineteen"};
static const char *ordinals[] = {
    "Zeroth",     "First",     "Second",    "Third",       "Fourth",     "Fifth",     "Sixth",
    "Seventh",    "Eighth",    "Ninth",     "Tenth",       "Eleventh",   "Twelfth",   "Thirteenth",
    "Fourteenth", "Fifteenth", "Sixteenth", "Seventeenth", "Eighteenth", "Nineteenth"};
static const char *decades[] = {"Twenty",  "Thirty", "Forty",  "Fifty",  "Sixty",
                                "Seventy", "Eighty", "Ninety", "Hundred"};
static const char *magnitudes[] = {"Thousand", "Million", "Billion", "Trillion"};

struct sb {
    char p[2048];
    size_t n;
};

static void sb_add(struct sb *b, const char *s)
{
    size_t avail = b->n < sizeof(b->p) - 1 ? sizeof(b->p) - 1 - b->n : 0;
    size_t l = strnlen(s, avail);
    for (size_t i = 0; i < l; i++) {
        b->p[b->n + i] = s[i];
    }
    b->n += l;
    b->p[b->n] = 0;
}

static void words(struct sb *b, double num, bool prev, bool ord)
{
    if (num <= 19) {
        if (prev) {
            sb_add(b, " and ");
        }
        sb_add(b, ord ? ordinals[(int)num] : few[(int)num]);
    } else if (num < 100) {
        int tens = (int)(num / 10);
        int rem = (int)fmod(num, 10);
        if (prev) {
            sb_add(b, " and ");
        }
        if (rem > 0) {
            sb_add(b, decades[tens - 2]);
            sb_add(b, "-");
            words(b, rem, false, ord);
        } else if (ord) {
            char tmp[32];
            snprintf(tmp, sizeof(tmp), "%s", decades[tens - 2]);
            tmp[strlen(tmp) - 1] = 0;
            sb_add(b, tmp);
            sb_add(b, "ieth");
        } else {
            sb_add(b, decades[tens - 2]);
        }
    } else if (num < 1000) {
        int hundreds = (int)(num / 100);
        double rem = fmod(num, 100);
        if (prev) {
            sb_add(b, ", ");
        }
        sb_add(b, few[hundreds]);
        sb_add(b, " Hundred");
        if (rem > 0) {
            words(b, rem, true, ord);
        } else if (ord) {
            sb_add(b, "th");
        }
    } else {
        int mag = (int)floor(log10(num) / 3);
        if (mag > 4) {
            mag = 4;
        }
        double factor = pow(10, mag * 3);
        double mant = floor(num / factor);
        double rem = num - mant * factor;
        if (prev) {
            sb_add(b, ", ");
        }
        words(b, mant, false, false);
        sb_add(b, " ");
        sb_add(b, magnitudes[mag - 1]);
        if (rem > 0) {
            words(b, rem, true, ord);
        } else if (ord) {
            sb_add(b, "th");
        }
    }
}

static void to_case(char *s, int tcase)
{
    for (; *s; s++) {
        if (tcase == CASE_UPPER && *s >= 'a' && *s <= 'z') {
            *s = (char)(*s - 32);
        } else if (tcase == CASE_LOWER && *s >= 'A' && *s <= 'Z') {
            *s = (char)(*s + 32);
        }
    }
}

static void roman(struct sb *b, double v)
{
    static const struct {
        int v;
        const char *s;
    } tbl[] = {{1000, "m"}, {900, "cm"}, {500, "d"}, {400, "cd"}, {100, "c"}, {90, "xc"}, {50, "l"},
               {40, "xl"},  {10, "x"},   {9, "ix"},  {5, "v"},    {4, "iv"},  {1, "i"}};
    while (v > 0 && b->n < sizeof(b->p) - 4) {
        for (int i = 0; i < 13; i++) {
            if (v >= tbl[i].v) {
                sb_add(b, tbl[i].s);
                v -= tbl[i].v;
                break;
            }
        }
    }
}

/* Formats v with an analysed integer picture into out (a malloc'ed string). */
static int format_int(struct jsonata__ctx *c, double v, const struct ifmt *f, char **out)
{
    struct sb b = {{0}, 0};
    bool neg = v < 0;
    v = fabs(v);
    switch (f->primary) {
    case FMT_LETTERS: {
        char tmp[64];
        int k = 63;
        tmp[k] = 0;
        char a = f->tcase == CASE_UPPER ? 'A' : 'a';
        while (v > 0 && k > 0) {
            tmp[--k] = (char)(a + (int)fmod(v - 1, 26));
            v = floor((v - 1) / 26);
        }
        sb_add(&b, tmp + k);
        break;
    }
    case FMT_ROMAN:
        roman(&b, v);
        if (f->tcase == CASE_UPPER) {
            to_case(b.p, CASE_UPPER);
        }
        break;
    case FMT_WORDS:
        words(&b, v, false, f->ordinal);
        if (f->tcase != CASE_TITLE) {
            to_case(b.p, f->tcase);
        }
        break;
    case FMT_DECIMAL: {
        char num[64];
        ef_num_format(v, num);
        int len = (int)strlen(num);
        char digits[256];
        int pad = f->mandatory - len;
        int k = 0;
        for (int i = 0; i < pad && k < 200; i++) {
            digits[k++] = '0';
        }
        memcpy(digits + k, num, (size_t)len + 1);
        /* map digits, then insert separators as jsonata-js does (in code points) */
        uint32_t cps[400];
        int ncp = 0;
        int nd = (int)strlen(digits);
        for (int i = 0; i < nd && ncp < 300; i++) {
            uint32_t ch = (uint32_t)(unsigned char)digits[i];
            if (ch >= '0' && ch <= '9') {
                ch = f->zero + (ch - '0');
            }
            cps[ncp++] = ch;
        }
        if (f->regular) {
            int groups = (ncp - 1) / f->seps[0].pos;
            for (int g = groups; g > 0 && ncp < 390; g--) {
                int at = ncp - g * f->seps[0].pos;
                size_t si = 0;
                uint32_t sc = jsonata__utf8_next(f->seps[0].ch, strlen(f->seps[0].ch), &si);
                memmove(&cps[at + 1], &cps[at], (size_t)(ncp - at) * sizeof(uint32_t));
                cps[at] = sc;
                ncp++;
            }
        } else {
            for (int q = f->nseps - 1; q >= 0 && ncp < 390; q--) {
                int at = ncp - f->seps[q].pos;
                size_t si = 0;
                uint32_t sc = jsonata__utf8_next(f->seps[q].ch, strlen(f->seps[q].ch), &si);
                if (at < 0) {
                    /* JavaScript's substr with a negative index keeps the last -at units */
                    int keep = -at < ncp ? -at : ncp;
                    memmove(&cps[1], &cps[ncp - keep], (size_t)keep * sizeof(uint32_t));
                    cps[0] = sc;
                    ncp = keep + 1;
                    continue;
                }
                memmove(&cps[at + 1], &cps[at], (size_t)(ncp - at) * sizeof(uint32_t));
                cps[at] = sc;
                ncp++;
            }
        }
        struct sb r = {{0}, 0};
        for (int i = 0; i < ncp; i++) {
            char d[8];
            int l = jsonata__utf8_put(cps[i], d);
            d[l] = 0;
            sb_add(&r, d);
        }
        if (f->ordinal) {
            char last = r.n > 0 ? r.p[r.n - 1] : 0;
            char prev = r.n > 1 ? r.p[r.n - 2] : 0;
            const char *suffix = "th";
            if (prev != '1') {
                suffix = last == '1' ? "st" : last == '2' ? "nd" : last == '3' ? "rd" : "th";
            }
            sb_add(&r, suffix);
        }
        b = r;
        break;
    }
    case FMT_SEQUENCE: {
        jsonata__error(c, "D3130", -1, NULL);
        snprintf(c->err.value, sizeof(c->err.value), "\"%s\"", f->token);
        c->err.has_value = true;
        return -1;
    }
    }
    size_t l = b.n + 2;
    *out = malloc(l);
    if (!*out) {
        return jsonata__error(c, "D1001", -1, NULL);
    }
    snprintf(*out, l, "%s%s", neg ? "-" : "", b.p);
    return 0;
}

int jsonata__fn_format_integer(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                               struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    (void)env;
    if (!ARG(0)) {
        return 0;
    }
    struct ifmt f;
    if (analyse_integer(c, ef_val_str_get(ARG(1)), ef_val_str_len(ARG(1)), &f) < 0) {
        return -1;
    }
    char *s;
    if (format_int(c, floor(ef_val_num_get(ARG(0))), &f, &s) < 0) {
        return -1;
    }
    out->v = ef_val_str_take(s, strlen(s));
    return 0;
}

/* ---- words and numerals back to numbers ---- */

static double word_value(const char *w, size_t n, bool *ok)
{
    char lw[32];
    *ok = true;
    if (n >= sizeof(lw)) {
        *ok = false;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        lw[i] = (char)((w[i] >= 'A' && w[i] <= 'Z') ? w[i] + 32 : w[i]);
    }
    lw[n] = 0;
    char tmp[32];
    for (int i = 0; i < 20; i++) {
        snprintf(tmp, sizeof(tmp), "%s", few[i]);
        to_case(tmp, CASE_LOWER);
        if (strcmp(tmp, lw) == 0) {
            return i;
        }
        snprintf(tmp, sizeof(tmp), "%s", ordinals[i]);
        to_case(tmp, CASE_LOWER);
        if (strcmp(tmp, lw) == 0) {
            return i;
        }
    }
    for (int i = 0; i < 9; i++) {
        snprintf(tmp, sizeof(tmp), "%s", decades[i]);
        to_case(tmp, CASE_LOWER);
        double val = (i + 2) * 10;
        if (strcmp(tmp, lw) == 0) {
            return val;
        }
        tmp[strlen(tmp) - 1] = 0;
        strcat(tmp, "ieth");
        if (strcmp(tmp, lw) == 0) {
            return val;
        }
    }
    if (strcmp(lw, "hundredth") == 0) {
        return 100;
    }
    for (int i = 0; i < 4; i++) {
        snprintf(tmp, sizeof(tmp), "%s", magnitudes[i]);
        to_case(tmp, CASE_LOWER);
        double val = pow(10, (i + 1) * 3);
        if (strcmp(tmp, lw) == 0) {
            return val;
        }
        strcat(tmp, "th");
        if (strcmp(tmp, lw) == 0) {
            return val;
        }
    }
    *ok = false;
    return 0;
}

static double words_to_number(const char *s, size_t n)
{
    char low[512];
    if (n >= sizeof(low)) {
        n = sizeof(low) - 1;
    }
    for (size_t i = 0; i < n; i++) {
        low[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
    }
    low[n] = 0;
    s = low;
    double segs[64];
    int ns = 1;
    segs[0] = 0;
    size_t i = 0;
    while (i < n) {
        /* separators: ", " " and " whitespace '-' */
        size_t j = i;
        while (j < n && s[j] != ' ' && s[j] != '-' && s[j] != ',' && s[j] != '\t') {
            j++;
        }
        if (j > i) {
            size_t wl = j - i;
            if (!(wl == 3 && strncmp(s + i, "and", 3) == 0)) {
                bool ok;
                double v = word_value(s + i, wl, &ok);
                if (!ok) {
                    v = NAN;
                }
                if (v < 100 || isnan(v)) {
                    double top = segs[--ns];
                    if (top >= 1000) {
                        segs[ns++] = top;
                        top = 0;
                    }
                    segs[ns++] = top + v;
                } else {
                    segs[ns - 1] = segs[ns - 1] * v;
                }
                if (ns >= 63) {
                    break;
                }
            }
        }
        i = j + 1;
    }
    double r = 0;
    for (int k = 0; k < ns; k++) {
        r += segs[k];
    }
    return r;
}

static double roman_to_decimal(const char *s, size_t n)
{
    double dec = 0;
    int max = 1;
    for (size_t i = n; i > 0; i--) {
        char ch = s[i - 1];
        if (ch >= 'a' && ch <= 'z') {
            ch = (char)(ch - 32);
        }
        int v = ch == 'M'   ? 1000
                : ch == 'D' ? 500
                : ch == 'C' ? 100
                : ch == 'L' ? 50
                : ch == 'X' ? 10
                : ch == 'V' ? 5
                : ch == 'I' ? 1
                            : 0;
        if (v < max) {
            dec -= v;
        } else {
            max = v;
            dec += v;
        }
    }
    return dec;
}

static double letters_to_decimal(const char *s, size_t n, char a)
{
    double dec = 0;
    for (size_t i = 0; i < n; i++) {
        dec += (s[n - i - 1] - a + 1) * pow(26, (double)i);
    }
    return dec;
}

/* Parses the text of one integer component according to f. */
static double parse_int_text(const struct ifmt *f, const char *s, size_t n)
{
    switch (f->primary) {
    case FMT_LETTERS: return letters_to_decimal(s, n, f->tcase == CASE_UPPER ? 'A' : 'a');
    case FMT_ROMAN: return roman_to_decimal(s, n);
    case FMT_WORDS: return words_to_number(s, n);
    default: break;
    }
    char digits[128];
    size_t k = 0;
    size_t end = n;
    if (f->ordinal && end >= 2) {
        end -= 2;
    }
    size_t i = 0;
    while (i < end && k < sizeof(digits) - 1) {
        size_t st = i;
        uint32_t cp = jsonata__utf8_next(s, end, &i);
        if (cp >= f->zero && cp <= f->zero + 9) {
            digits[k++] = (char)('0' + (cp - f->zero));
        } else if (cp >= '0' && cp <= '9') {
            digits[k++] = (char)cp;
        } else {
            bool is_sep = false;
            if (f->regular) {
                is_sep = cp == ',';
            }
            for (int q = 0; q < f->nseps && !is_sep; q++) {
                is_sep = strncmp(s + st, f->seps[q].ch, i - st) == 0;
            }
            if (!is_sep) {
                break;
            }
        }
    }
    digits[k] = 0;
    if (k == 0) {
        return NAN;
    }
    return strtod(digits, NULL);
}

int jsonata__fn_parse_integer(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                              struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    (void)env;
    if (!ARG(0)) {
        return 0;
    }
    struct ifmt f;
    if (analyse_integer(c, ef_val_str_get(ARG(1)), ef_val_str_len(ARG(1)), &f) < 0) {
        return -1;
    }
    if (f.primary == FMT_SEQUENCE) {
        jsonata__error(c, "D3130", -1, NULL);
        snprintf(c->err.value, sizeof(c->err.value), "\"%s\"", f.token);
        return -1;
    }
    double v = parse_int_text(&f, ef_val_str_get(ARG(0)), ef_val_str_len(ARG(0)));
    out->v = ef_val_num(v); /* NaN (printed as null) when the text does not parse */
    return 0;
}

/* ---- calendar arithmetic (proleptic Gregorian, UTC) ---- */

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yy + (*m <= 2);
}

/* Date.UTC with JavaScript's normalisation of out-of-range fields. */
static double date_utc(double y, double mon, double d, double h, double mi, double s, double ms)
{
    double ym = y + floor(mon / 12);
    double mn = fmod(mon, 12);
    if (mn < 0) {
        mn += 12;
    }
    int64_t days = days_from_civil((int64_t)ym, (int)mn + 1, 1) + (int64_t)d - 1;
    return (double)days * 86400000.0 + h * 3600000.0 + mi * 60000.0 + s * 1000.0 + ms;
}

struct tm_parts {
    int64_t year;
    int mon; /* 0-11 */
    int day;
    int wday; /* 0 = Sunday */
    int hour, min, sec, ms;
};

static void split_millis(double ms, struct tm_parts *t)
{
    double days = floor(ms / 86400000.0);
    double rem = ms - days * 86400000.0;
    int m, d;
    civil_from_days((int64_t)days, &t->year, &m, &d);
    t->mon = m - 1;
    t->day = d;
    int64_t w = ((int64_t)days + 4) % 7;
    t->wday = (int)(w < 0 ? w + 7 : w);
    t->hour = (int)(rem / 3600000.0);
    t->min = (int)(fmod(rem, 3600000.0) / 60000.0);
    t->sec = (int)(fmod(rem, 60000.0) / 1000.0);
    t->ms = (int)fmod(rem, 1000.0);
}

static double start_of_first_week(int64_t year, int month)
{
    double jan1 = date_utc((double)year, month, 1, 0, 0, 0, 0);
    struct tm_parts t;
    split_millis(jan1, &t);
    int dow = t.wday == 0 ? 7 : t.wday;
    return dow > 4 ? jan1 + (8 - dow) * 86400000.0 : jan1 - (dow - 1) * 86400000.0;
}

static double delta_weeks(double start, double end)
{
    return (end - start) / (86400000.0 * 7) + 1;
}

/* A numeric date/time component of the time at ms (jsonata's fragments). */
static double fragment(double ms, char comp)
{
    struct tm_parts t;
    split_millis(ms, &t);
    switch (comp) {
    case 'Y': return (double)t.year;
    case 'M': return t.mon + 1;
    case 'D': return t.day;
    case 'd': {
        double today = date_utc((double)t.year, t.mon, t.day, 0, 0, 0, 0);
        double jan1 = date_utc((double)t.year, 0, 1, 0, 0, 0, 0);
        return (today - jan1) / 86400000.0 + 1;
    }
    case 'F': return t.wday == 0 ? 7 : t.wday;
    case 'W': {
        double s1 = start_of_first_week(t.year, 0);
        double today = date_utc((double)t.year, t.mon, t.day, 0, 0, 0, 0);
        double week = delta_weeks(s1, today);
        if (week > 52) {
            if (today >= start_of_first_week(t.year + 1, 0)) {
                week = 1;
            }
        } else if (week < 1) {
            week = delta_weeks(start_of_first_week(t.year - 1, 0), today);
        }
        return floor(week);
    }
    case 'w': {
        double s1 = start_of_first_week(t.year, t.mon);
        double today = date_utc((double)t.year, t.mon, t.day, 0, 0, 0, 0);
        double week = delta_weeks(s1, today);
        if (week > 4) {
            int64_t ny = t.mon == 11 ? t.year + 1 : t.year;
            int nm = t.mon == 11 ? 0 : t.mon + 1;
            if (today >= start_of_first_week(ny, nm)) {
                week = 1;
            }
        } else if (week < 1) {
            int64_t py = t.mon == 0 ? t.year - 1 : t.year;
            int pm = t.mon == 0 ? 11 : t.mon - 1;
            week = delta_weeks(start_of_first_week(py, pm), today);
        }
        return floor(week);
    }
    case 'X': {
        double st = start_of_first_week(t.year, 0);
        double en = start_of_first_week(t.year + 1, 0);
        if (ms < st) {
            return (double)(t.year - 1);
        }
        if (ms >= en) {
            return (double)(t.year + 1);
        }
        return (double)t.year;
    }
    case 'x': {
        double st = start_of_first_week(t.year, t.mon);
        int64_t ny = t.mon == 11 ? t.year + 1 : t.year;
        int nm = t.mon == 11 ? 0 : t.mon + 1;
        double en = start_of_first_week(ny, nm);
        if (ms < st) {
            return t.mon == 0 ? 12 : t.mon;
        }
        if (ms >= en) {
            return nm + 1;
        }
        return t.mon + 1;
    }
    case 'H': return t.hour;
    case 'h': {
        int h = t.hour % 12;
        return h == 0 ? 12 : h;
    }
    case 'P': return t.hour >= 12 ? 1 : 0;
    case 'm': return t.min;
    case 's': return t.sec;
    case 'f': return t.ms;
    default: return 0;
    }
}

/* ---- date/time pictures ---- */

struct part {
    bool literal;
    char lit[64];
    char comp;
    char pres1[64];
    char pres2;
    bool ordinal;
    int names;      /* 0 none, else CASE_* + 1 */
    int wmin, wmax; /* -1 when absent */
    bool has_width;
    bool has_int;
    struct ifmt ifmt;
    int n; /* year digits */
};

struct dtpic {
    struct part parts[48];
    int n;
};

static const char *default_pres(char comp)
{
    switch (comp) {
    case 'Y':
    case 'M':
    case 'D':
    case 'd':
    case 'W':
    case 'w':
    case 'X':
    case 'x':
    case 'H':
    case 'h':
    case 'f': return "1";
    case 'F':
    case 'P':
    case 'C':
    case 'E': return "n";
    case 'm':
    case 's': return "01";
    case 'Z':
    case 'z': return "01:01";
    default: return NULL;
    }
}

static void add_literal(struct dtpic *p, const char *s, size_t n)
{
    if (n == 0 || p->n >= 48) {
        return;
    }
    struct part *pt = &p->parts[p->n++];
    memset(pt, 0, sizeof(*pt));
    pt->literal = true;
    size_t k = 0;
    for (size_t i = 0; i < n && k < sizeof(pt->lit) - 1; i++) {
        pt->lit[k++] = s[i];
        if (s[i] == ']' && i + 1 < n && s[i + 1] == ']') {
            i++;
        }
    }
    pt->lit[k] = 0;
}

static int analyse_datetime(struct jsonata__ctx *c, const char *pic, size_t pn, struct dtpic *p)
{
    p->n = 0;
    size_t start = 0, pos = 0;
    while (pos < pn) {
        if (pic[pos] == '[') {
            if (pos + 1 < pn && pic[pos + 1] == '[') {
                add_literal(p, pic + start, pos - start);
                add_literal(p, "[", 1);
                pos += 2;
                start = pos;
                continue;
            }
            add_literal(p, pic + start, pos - start);
            start = pos;
            const char *close = memchr(pic + start, ']', pn - start);
            if (!close) {
                return jsonata__error(c, "D3135", -1, NULL);
            }
            pos = (size_t)(close - pic);
            char marker[64];
            size_t ml = 0;
            for (size_t i = start + 1; i < pos && ml < sizeof(marker) - 1; i++) {
                if (pic[i] != ' ' && pic[i] != '\t' && pic[i] != '\n' && pic[i] != '\r') {
                    marker[ml++] = pic[i];
                }
            }
            marker[ml] = 0;
            if (p->n >= 48) {
                return jsonata__error(c, "D3135", -1, NULL);
            }
            struct part *d = &p->parts[p->n];
            memset(d, 0, sizeof(*d));
            d->comp = marker[0];
            d->wmin = d->wmax = -1;
            char *comma = strrchr(marker, ',');
            char pres[64];
            if (comma) {
                d->has_width = true;
                char *wm = comma + 1;
                char *dash = strchr(wm, '-');
                char minb[16] = "", maxb[16] = "";
                if (dash) {
                    snprintf(minb, sizeof(minb), "%.*s", (int)(dash - wm), wm);
                    snprintf(maxb, sizeof(maxb), "%s", dash + 1);
                } else {
                    snprintf(minb, sizeof(minb), "%s", wm);
                }
                if (minb[0] && strcmp(minb, "*") != 0) {
                    d->wmin = atoi(minb);
                }
                if (maxb[0] && strcmp(maxb, "*") != 0) {
                    d->wmax = atoi(maxb);
                }
                snprintf(pres, sizeof(pres), "%.*s", (int)(comma - marker - 1), marker + 1);
            } else {
                snprintf(pres, sizeof(pres), "%s", marker[0] ? marker + 1 : "");
            }
            size_t pl = strlen(pres);
            if (pl == 1) {
                snprintf(d->pres1, sizeof(d->pres1), "%s", pres);
            } else if (pl > 1) {
                char last = pres[pl - 1];
                if (strchr("atco", last)) {
                    d->pres2 = last;
                    d->ordinal = last == 'o';
                    snprintf(d->pres1, sizeof(d->pres1), "%.*s", (int)pl - 1, pres);
                } else {
                    snprintf(d->pres1, sizeof(d->pres1), "%s", pres);
                }
            } else {
                const char *def = default_pres(d->comp);
                if (!def) {
                    jsonata__error(c, "D3132", -1, NULL);
                    snprintf(c->err.value, sizeof(c->err.value), "\"%c\"", d->comp);
                    c->err.has_value = true;
                    return -1;
                }
                snprintf(d->pres1, sizeof(d->pres1), "%s", def);
            }
            if (d->pres1[0] == 'n') {
                d->names = CASE_LOWER + 1;
            } else if (d->pres1[0] == 'N') {
                d->names = (d->pres1[1] == 'n' ? CASE_TITLE : CASE_UPPER) + 1;
            } else if (strchr("YMDdFWwXxHhmsf", d->comp) && d->comp) {
                char ip[80];
                snprintf(ip, sizeof(ip), "%s%s%c", d->pres1, d->pres2 ? ";" : "",
                         d->pres2 ? d->pres2 : 0);
                if (analyse_integer(c, ip, strlen(ip), &d->ifmt) < 0) {
                    return -1;
                }
                d->has_int = true;
                if (d->wmin >= 0 && d->ifmt.mandatory < d->wmin) {
                    d->ifmt.mandatory = d->wmin;
                }
                if (d->comp == 'Y') {
                    d->n = -1;
                    if (d->wmax >= 0) {
                        d->n = d->wmax;
                        d->ifmt.mandatory = d->n;
                    } else {
                        int w = d->ifmt.mandatory + d->ifmt.optional;
                        if (w >= 2) {
                            d->n = w;
                        }
                    }
                }
                if (p->n > 0 && p->parts[p->n - 1].has_int) {
                    p->parts[p->n - 1].ifmt.parse_width = p->parts[p->n - 1].ifmt.mandatory;
                }
            }
            if (d->comp == 'Z' || d->comp == 'z') {
                if (analyse_integer(c, d->pres1, strlen(d->pres1), &d->ifmt) < 0) {
                    return -1;
                }
                d->has_int = false;
            }
            p->n++;
            start = pos + 1;
        }
        pos++;
    }
    add_literal(p, pic + start, pos - start);
    return 0;
}

static const char *month_names[] = {"January",   "February", "March",    "April",
                                    "May",       "June",     "July",     "August",
                                    "September", "October",  "November", "December"};
static const char *day_names[] = {"",         "Monday", "Tuesday",  "Wednesday",
                                  "Thursday", "Friday", "Saturday", "Sunday"};

static int format_component(struct jsonata__ctx *c, double ms, const struct part *d, int oh, int om,
                            struct sb *out)
{
    char *s = NULL;
    if (strchr("YMDdFWwXxHhms", d->comp)) {
        double v = fragment(ms, d->comp);
        if (d->comp == 'Y' && d->n != -1) {
            v = fmod(v, pow(10, d->n));
        }
        if (d->names) {
            char name[32];
            if (d->comp == 'M' || d->comp == 'x') {
                snprintf(name, sizeof(name), "%s", month_names[(int)v - 1]);
            } else if (d->comp == 'F') {
                snprintf(name, sizeof(name), "%s", day_names[(int)v]);
            } else {
                jsonata__error(c, "D3133", -1, NULL);
                snprintf(c->err.value, sizeof(c->err.value), "\"%c\"", d->comp);
                c->err.has_value = true;
                return -1;
            }
            if (d->names == CASE_UPPER + 1) {
                to_case(name, CASE_UPPER);
            } else if (d->names == CASE_LOWER + 1) {
                to_case(name, CASE_LOWER);
            }
            if (d->wmax >= 0 && (int)strlen(name) > d->wmax) {
                name[d->wmax] = 0;
            }
            sb_add(out, name);
            return 0;
        }
        if (format_int(c, v, &d->ifmt, &s) < 0) {
            return -1;
        }
        sb_add(out, s);
        free(s);
        return 0;
    }
    if (d->comp == 'f') {
        if (format_int(c, fragment(ms, 'f'), &d->ifmt, &s) < 0) {
            return -1;
        }
        sb_add(out, s);
        free(s);
        return 0;
    }
    if (d->comp == 'Z' || d->comp == 'z') {
        int offset = oh * 100 + om;
        struct sb r = {{0}, 0};
        if (d->ifmt.regular) {
            if (format_int(c, offset, &d->ifmt, &s) < 0) {
                return -1;
            }
            sb_add(&r, s);
            free(s);
        } else {
            int nd = d->ifmt.mandatory;
            if (nd == 1 || nd == 2) {
                if (format_int(c, oh, &d->ifmt, &s) < 0) {
                    return -1;
                }
                sb_add(&r, s);
                free(s);
                if (om != 0) {
                    char tmp[16];
                    snprintf(tmp, sizeof(tmp), ":%02d", abs(om));
                    sb_add(&r, tmp);
                }
            } else if (nd == 3 || nd == 4) {
                if (format_int(c, offset, &d->ifmt, &s) < 0) {
                    return -1;
                }
                sb_add(&r, s);
                free(s);
            } else {
                jsonata__error(c, "D3134", -1, NULL);
                snprintf(c->err.value, sizeof(c->err.value), "%d", nd);
                c->err.has_value = true;
                return -1;
            }
        }
        if (d->comp == 'z') {
            sb_add(out, "GMT");
        }
        if (offset == 0 && d->pres2 == 't') {
            sb_add(out, "Z");
            return 0;
        }
        if (offset >= 0) {
            sb_add(out, "+");
        }
        sb_add(out, r.p);
        return 0;
    }
    if (d->comp == 'P') {
        sb_add(out, fragment(ms, 'P') ? (d->names == CASE_UPPER + 1 ? "PM" : "pm")
                                      : (d->names == CASE_UPPER + 1 ? "AM" : "am"));
        return 0;
    }
    if (d->comp == 'C' || d->comp == 'E') {
        sb_add(out, "ISO");
        return 0;
    }
    sb_add(out, "undefined"); /* jsonata-js prints an unknown component as undefined */
    return 0;
}

/* Formats millis with a picture (NULL: ISO 8601) and a "+hhmm" timezone. */
int jsonata__fmt_datetime(struct jsonata__ctx *c, double millis, const char *pic, size_t piclen,
                          const char *tz, size_t tzlen, struct ef_val **out)
{
    int oh = 0, om = 0;
    if (tz) {
        char tb[32];
        snprintf(tb, sizeof(tb), "%.*s", (int)tzlen, tz);
        long off = strtol(tb, NULL, 10);
        oh = (int)floor((double)off / 100);
        om = (int)(off % 100);
    }
    struct dtpic *p = malloc(sizeof(*p));
    if (!p) {
        return jsonata__error(c, "D1001", -1, NULL);
    }
    static const char iso[] = "[Y0001]-[M01]-[D01]T[H01]:[m01]:[s01].[f001][Z01:01t]";
    if (analyse_datetime(c, pic ? pic : iso, pic ? piclen : strlen(iso), p) < 0) {
        free(p);
        return -1;
    }
    double ms = millis + (60.0 * oh + om) * 60000.0;
    struct sb b = {{0}, 0};
    for (int i = 0; i < p->n; i++) {
        if (p->parts[i].literal) {
            sb_add(&b, p->parts[i].lit);
        } else if (format_component(c, ms, &p->parts[i], oh, om, &b) < 0) {
            free(p);
            return -1;
        }
    }
    free(p);
    *out = ef_val_strn(b.p, b.n);
    return 0;
}

/* ---- parsing date/time strings ---- */

static void rx_escape(struct sb *b, const char *s)
{
    for (; *s; s++) {
        if (strchr(".*+?^${}()|[]\\/", *s)) {
            sb_add(b, "\\");
        }
        char t[2] = {*s, 0};
        sb_add(b, t);
    }
}

static void int_regex(const struct ifmt *f, struct sb *b)
{
    switch (f->primary) {
    case FMT_LETTERS: sb_add(b, f->tcase == CASE_UPPER ? "[A-Z]+" : "[a-z]+"); break;
    case FMT_ROMAN: sb_add(b, f->tcase == CASE_UPPER ? "[MDCLXVI]+" : "[mdclxvi]+"); break;
    case FMT_WORDS: {
        char tmp[32];
        sb_add(b, "(?:");
        for (int i = 0; i < 20; i++) {
            snprintf(tmp, sizeof(tmp), "%s|", few[i]);
            to_case(tmp, CASE_LOWER);
            sb_add(b, tmp);
        }
        for (int i = 0; i < 20; i++) {
            snprintf(tmp, sizeof(tmp), "%s|", ordinals[i]);
            to_case(tmp, CASE_LOWER);
            sb_add(b, tmp);
        }
        for (int i = 0; i < 9; i++) {
            snprintf(tmp, sizeof(tmp), "%s", decades[i]);
            to_case(tmp, CASE_LOWER);
            sb_add(b, tmp);
            sb_add(b, "|");
            tmp[strlen(tmp) - 1] = 0;
            sb_add(b, tmp);
            sb_add(b, "ieth|");
        }
        sb_add(b, "hundredth|");
        for (int i = 0; i < 4; i++) {
            snprintf(tmp, sizeof(tmp), "%s", magnitudes[i]);
            to_case(tmp, CASE_LOWER);
            sb_add(b, tmp);
            sb_add(b, "|");
            sb_add(b, tmp);
            sb_add(b, "th|");
        }
        sb_add(b, "and|[\\-, ])+");
        break;
    }
    default: {
        if (f->parse_width) {
            char tmp[24];
            snprintf(tmp, sizeof(tmp), "[0-9]{%d}", f->parse_width);
            sb_add(b, tmp);
        } else {
            sb_add(b, "[0-9]+");
        }
        if (f->ordinal) {
            sb_add(b, "(?:th|st|nd|rd)");
        }
    }
    }
}

static int name_lookup(const struct part *d, const char *s, size_t n, double *v)
{
    if (d->comp == 'M' || d->comp == 'x') {
        for (int i = 0; i < 12; i++) {
            size_t l = strlen(month_names[i]);
            if (d->wmax >= 0 && (size_t)d->wmax < l) {
                l = (size_t)d->wmax;
            }
            if (l == n && strncasecmp(month_names[i], s, n) == 0) {
                *v = i + 1;
                return 0;
            }
        }
        return -1;
    }
    if (d->comp == 'F') {
        for (int i = 1; i < 8; i++) {
            size_t l = strlen(day_names[i]);
            if (d->wmax >= 0 && (size_t)d->wmax < l) {
                l = (size_t)d->wmax;
            }
            if (l == n && strncasecmp(day_names[i], s, n) == 0) {
                *v = i;
                return 0;
            }
        }
        return -1;
    }
    if (d->comp == 'P') {
        if (n == 2 && strncasecmp(s, "am", 2) == 0) {
            *v = 0;
            return 0;
        }
        if (n == 2 && strncasecmp(s, "pm", 2) == 0) {
            *v = 1;
            return 0;
        }
    }
    return -1;
}

int jsonata__parse_datetime(struct jsonata__ctx *c, const char *s, size_t n, const char *pic,
                            size_t piclen, struct jv *out)
{
    struct dtpic *p = malloc(sizeof(*p));
    if (!p) {
        return jsonata__error(c, "D1001", -1, NULL);
    }
    if (analyse_datetime(c, pic, piclen, p) < 0) {
        free(p);
        return -1;
    }
    struct sb rx = {{0}, 0};
    sb_add(&rx, "^");
    for (int i = 0; i < p->n; i++) {
        struct part *d = &p->parts[i];
        sb_add(&rx, "(");
        if (d->literal) {
            rx_escape(&rx, d->lit);
        } else if (d->comp == 'Z' || d->comp == 'z') {
            if (d->comp == 'z') {
                sb_add(&rx, "GMT");
            }
            sb_add(&rx, "[-+][0-9]+");
            if (d->ifmt.regular) {
                rx_escape(&rx, d->ifmt.seps[0].ch);
                sb_add(&rx, "[0-9]+");
            }
        } else if (d->comp == 'f') {
            sb_add(&rx, "[0-9]+");
        } else if (d->has_int) {
            if (d->ifmt.primary == FMT_SEQUENCE) {
                jsonata__error(c, "D3130", -1, NULL);
                snprintf(c->err.value, sizeof(c->err.value), "\"%s\"", d->ifmt.token);
                c->err.has_value = true;
                free(p);
                return -1;
            }
            int_regex(&d->ifmt, &rx);
        } else if (d->comp == 'M' || d->comp == 'x' || d->comp == 'F' || d->comp == 'P') {
            sb_add(&rx, "[a-zA-Z]+");
        } else {
            jsonata__error(c, "D3133", -1, NULL);
            snprintf(c->err.value, sizeof(c->err.value), "\"%c\"", d->comp);
            c->err.has_value = true;
            free(p);
            return -1;
        }
        sb_add(&rx, ")");
    }
    sb_add(&rx, "$");
    struct jsonata__errinfo ei;
    pcre2_code *re = jsonata__regex_compile(rx.p, rx.n, "i", &ei);
    if (!re) {
        free(p);
        return jsonata__error(c, "D3136", -1, NULL);
    }
    size_t *ov;
    uint32_t ovn;
    int m = jsonata__regex_exec(c, re, s, n, 0, &ov, &ovn);
    pcre2_code_free(re);
    if (m <= 0) {
        free(p);
        return m < 0 ? -1 : 0;
    }
    double comp[128];
    bool have[128];
    memset(have, 0, sizeof(have));
    int ncomp = 0;
    for (int i = 0; i < p->n && (uint32_t)(i + 1) < ovn; i++) {
        struct part *d = &p->parts[i];
        if (d->literal) {
            continue;
        }
        const char *t = s + ov[2 * (i + 1)];
        size_t tl = ov[2 * (i + 1) + 1] - ov[2 * (i + 1)];
        double v;
        if (d->comp == 'Z' || d->comp == 'z') {
            const char *q = t;
            size_t ql = tl;
            if (d->comp == 'z') {
                q += 3;
                ql -= 3;
            }
            char tmp[32];
            snprintf(tmp, sizeof(tmp), "%.*s", (int)ql, q);
            double hrs = 0, mins = 0;
            if (d->ifmt.regular) {
                char *sep = strstr(tmp, d->ifmt.seps[0].ch);
                hrs = atoi(tmp);
                mins = sep ? atoi(sep + strlen(d->ifmt.seps[0].ch)) : 0;
            } else if (ql - 1 <= 2) {
                hrs = atoi(tmp);
            } else {
                char h[4] = {tmp[0], tmp[1], tmp[2], 0};
                hrs = atoi(h);
                mins = atoi(tmp + 3);
            }
            v = hrs * 60 + mins;
        } else if (d->comp == 'f') {
            char tmp[8] = "0.";
            snprintf(tmp + 2, 4, "%.*s", (int)(tl < 3 ? tl : 3), t);
            v = strtod(tmp, NULL) * 1000;
        } else if (d->has_int) {
            v = parse_int_text(&d->ifmt, t, tl);
        } else {
            if (name_lookup(d, t, tl, &v) < 0) {
                v = NAN;
            }
        }
        comp[(unsigned char)d->comp] = v;
        have[(unsigned char)d->comp] = !isnan(v) || d->has_int || true;
        ncomp++;
    }
    free(ov);
    free(p);
    if (ncomp == 0) {
        return 0;
    }
#define HAS(ch) (have[(unsigned char)(ch)])
    int mask = 0;
    const char *dparts = "YXMxWwdD";
    for (const char *q = dparts; *q; q++) {
        mask = (mask << 1) + (HAS(*q) ? 1 : 0);
    }
#define IS_TYPE(t) (!(~(t)&mask) && !!((t)&mask))
    bool date_a = IS_TYPE(161);
    bool date_b = !date_a && IS_TYPE(130);
    bool date_c = IS_TYPE(84);
    bool date_d = !date_c && IS_TYPE(72);
    mask = 0;
    for (const char *q = "PHhmsf"; *q; q++) {
        mask = (mask << 1) + (HAS(*q) ? 1 : 0);
    }
    bool time_a = IS_TYPE(23);
    bool time_b = !time_a && IS_TYPE(47);
    const char *dcomps = date_b ? "YD" : date_c ? "XxwF" : date_d ? "XWF" : "YMD";
    const char *tcomps = time_b ? "Phmsf" : "Hmsf";
    char comps[16];
    snprintf(comps, sizeof(comps), "%s%s", dcomps, tcomps);
    bool start_spec = false, end_spec = false;
    for (const char *q = comps; *q; q++) {
        if (!HAS(*q)) {
            if (start_spec) {
                comp[(unsigned char)*q] = strchr("MDd", *q) ? 1 : 0;
                end_spec = true;
            } else {
                comp[(unsigned char)*q] = fragment((double)jsonata__now_ms(c), *q);
            }
            have[(unsigned char)*q] = true;
        } else {
            start_spec = true;
            if (end_spec) {
                return jsonata__error(c, "D3136", -1, NULL);
            }
        }
    }
    double M = comp['M'] > 0 ? comp['M'] - 1 : 0;
    double D = comp['D'];
    if (date_b) {
        double jan1 = date_utc(comp['Y'], 0, 1, 0, 0, 0, 0);
        double dd = jan1 + (comp['d'] - 1) * 86400000.0;
        struct tm_parts t;
        split_millis(dd, &t);
        M = t.mon;
        D = t.day;
    }
    if (date_c || date_d) {
        return jsonata__error(c, "D3136", -1, NULL);
    }
    double H = comp['H'];
    if (time_b) {
        H = comp['h'] == 12 ? 0 : comp['h'];
        if (comp['P'] == 1) {
            H += 12;
        }
    }
    double ms = date_utc(comp['Y'], M, D, H, comp['m'], comp['s'], comp['f']);
    double z = HAS('Z') ? comp['Z'] : HAS('z') ? comp['z'] : 0;
    if (z) {
        ms -= z * 60000.0;
    }
    if (isnan(ms)) {
        return 0;
    }
    out->v = ef_val_num(ms);
    return 0;
#undef HAS
#undef IS_TYPE
}

/* Parses the ISO 8601 forms jsonata accepts without a picture. */
int jsonata__iso_to_millis(const char *s, size_t n, double *out)
{
    int y = 0, mo = 1, d = 1, h = 0, mi = 0, se = 0;
    double frac = 0;
    int tz = 0;
    size_t i = 0;
#define DIGITS(k, var)                                                                             \
    do {                                                                                           \
        var = 0;                                                                                   \
        for (int q_ = 0; q_ < (k); q_++) {                                                         \
            if (i >= n || s[i] < '0' || s[i] > '9') {                                              \
                return -1;                                                                         \
            }                                                                                      \
            var = var * 10 + (s[i++] - '0');                                                       \
        }                                                                                          \
    } while (0)
    DIGITS(4, y);
    if (i < n && s[i] == '-') {
        i++;
        DIGITS(2, mo);
        if (mo > 19) {
            return -1;
        }
        if (i < n && s[i] == '-') {
            i++;
            DIGITS(2, d);
            if (d > 39) {
                return -1;
            }
        }
    }
    if (i < n && s[i] == 'T') {
        i++;
        DIGITS(2, h);
        if (i >= n || s[i++] != ':') {
            return -1;
        }
        DIGITS(2, mi);
        if (i >= n || s[i++] != ':') {
            return -1;
        }
        DIGITS(2, se);
        if (h > 29 || mi > 59 || se > 59) {
            return -1;
        }
    }
    if (i < n && s[i] == '.') {
        i++;
        size_t st = i;
        double scale = 0.1;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            frac += (s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == st) {
            return -1;
        }
    }
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i] == '-' ? -1 : 1;
        i++;
        int th, tm;
        DIGITS(2, th);
        if (i < n && s[i] == ':') {
            i++;
        }
        DIGITS(2, tm);
        tz = sign * (th * 60 + tm);
    } else if (i < n && s[i] == 'Z') {
        i++;
    }
    if (i != n) {
        return -1;
    }
#undef DIGITS
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24) {
        *out = NAN;
        return 0;
    }
    *out = date_utc(y, mo - 1, d, h, mi, se, floor(frac * 1000 + 0.5)) - tz * 60000.0;
    return 0;
}

int jsonata__fn_to_millis(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                          struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    (void)env;
    struct ef_val *v = ARG(0);
    if (!v) {
        return 0;
    }
    if (!ARG(1)) {
        double ms;
        if (jsonata__iso_to_millis(ef_val_str_get(v), ef_val_str_len(v), &ms) < 0) {
            return jsonata__error_val(c, "D3110", -1, NULL, v);
        }
        if (!isnan(ms)) {
            out->v = ef_val_num(ms);
        } else {
            out->v = ef_val_null();
        }
        return 0;
    }
    return jsonata__parse_datetime(c, ef_val_str_get(v), ef_val_str_len(v), ef_val_str_get(ARG(1)),
                                   ef_val_str_len(ARG(1)), out);
}

int jsonata__fn_from_millis(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                            struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    (void)env;
    struct ef_val *v = ARG(0);
    if (!v) {
        return 0;
    }
    struct ef_val *pic = ARG(1), *tz = ARG(2);
    return jsonata__fmt_datetime(c, ef_val_num_get(v), pic ? ef_val_str_get(pic) : NULL,
                                 pic ? ef_val_str_len(pic) : 0, tz ? ef_val_str_get(tz) : NULL,
                                 tz ? ef_val_str_len(tz) : 0, &out->v);
}

int jsonata__fn_now(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                    struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    (void)env;
    struct ef_val *pic = ARG(0), *tz = ARG(1);
    return jsonata__fmt_datetime(c, (double)jsonata__now_ms(c), pic ? ef_val_str_get(pic) : NULL,
                                 pic ? ef_val_str_len(pic) : 0, tz ? ef_val_str_get(tz) : NULL,
                                 tz ? ef_val_str_len(tz) : 0, &out->v);
}
