/*
 * format_number.c - $formatNumber: XPath fn:format-number pictures with
 * decimal-format options, as jsonata-js implements them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "jsonata/functions.h"

/* Strings are handled as arrays of code points. */
struct cps {
    uint32_t c[256];
    int n;
};

static void cps_from(struct cps *d, const char *s, size_t n)
{
    size_t i = 0;
    d->n = 0;
    while (i < n && d->n < 255) {
        d->c[d->n++] = jsonata__utf8_next(s, n, &i);
    }
}

static int cps_index(const struct cps *s, uint32_t ch, int from)
{
    for (int i = from < 0 ? 0 : from; i < s->n; i++) {
        if (s->c[i] == ch) {
            return i;
        }
    }
    return -1;
}

static int cps_last(const struct cps *s, uint32_t ch)
{
    for (int i = s->n - 1; i >= 0; i--) {
        if (s->c[i] == ch) {
            return i;
        }
    }
    return -1;
}

static void cps_sub(const struct cps *s, int a, int b, struct cps *d)
{
    d->n = 0;
    if (a < 0) {
        a = 0;
    }
    if (b > s->n) {
        b = s->n;
    }
    for (int i = a; i < b; i++) {
        d->c[d->n++] = s->c[i];
    }
}

struct props {
    uint32_t dec, grp, exp, minus, pct, pml, zero, digit, sep;
    char inf[32], nan[32];
};

struct subpic {
    struct cps prefix, suffix, active, mantissa, exponent, integer, fraction, pic;
    bool has_exp;
};

struct picvars {
    int grouping[32];
    int ngrouping;
    int regular;
    int fgrouping[32];
    int nfgrouping;
    int min_int, scaling, min_frac, max_frac, min_exp;
    struct cps prefix, suffix, pic;
};

static bool is_digit_fam(const struct props *p, uint32_t ch)
{
    return ch >= p->zero && ch < p->zero + 10;
}

static bool is_active(const struct props *p, uint32_t ch)
{
    return is_digit_fam(p, ch) || ch == p->dec || ch == p->exp || ch == p->grp || ch == p->digit ||
           ch == p->sep;
}

static void split_parts(const struct props *p, const struct cps *sp, struct subpic *o)
{
    memset(o, 0, sizeof(*o));
    o->pic = *sp;
    int pre = sp->n;
    for (int i = 0; i < sp->n; i++) {
        if (is_active(p, sp->c[i]) && sp->c[i] != p->exp) {
            pre = i;
            break;
        }
    }
    if (pre == sp->n) {
        pre = 0;
        cps_sub(sp, 0, 0, &o->prefix);
    } else {
        cps_sub(sp, 0, pre, &o->prefix);
    }
    int suf_start = sp->n;
    for (int i = sp->n - 1; i >= 0; i--) {
        if (is_active(p, sp->c[i]) && sp->c[i] != p->exp) {
            suf_start = i + 1;
            break;
        }
    }
    if (suf_start == sp->n) {
        o->suffix.n = 0;
    } else {
        cps_sub(sp, suf_start, sp->n, &o->suffix);
    }
    cps_sub(sp, o->prefix.n, sp->n - o->suffix.n, &o->active);
    int epos = cps_index(sp, p->exp, o->prefix.n);
    if (epos == -1 || epos > sp->n - o->suffix.n) {
        o->mantissa = o->active;
        o->has_exp = false;
    } else {
        cps_sub(&o->active, 0, epos, &o->mantissa);
        cps_sub(&o->active, epos + 1, o->active.n, &o->exponent);
        o->has_exp = true;
    }
    int dpos = cps_index(&o->mantissa, p->dec, 0);
    if (dpos == -1) {
        o->integer = o->mantissa;
        o->fraction = o->suffix;
    } else {
        cps_sub(&o->mantissa, 0, dpos, &o->integer);
        cps_sub(&o->mantissa, dpos + 1, o->mantissa.n, &o->fraction);
    }
}

static const char *validate_parts(const struct props *p, const struct subpic *s)
{
    const char *err = NULL;
    const struct cps *sp = &s->pic;
    int dpos = cps_index(sp, p->dec, 0);
    if (dpos != cps_last(sp, p->dec)) {
        err = "D3081";
    }
    if (cps_index(sp, p->pct, 0) != cps_last(sp, p->pct)) {
        err = "D3082";
    }
    if (cps_index(sp, p->pml, 0) != cps_last(sp, p->pml)) {
        err = "D3083";
    }
    if (cps_index(sp, p->pct, 0) != -1 && cps_index(sp, p->pml, 0) != -1) {
        err = "D3084";
    }
    bool valid = false;
    for (int i = 0; i < s->mantissa.n; i++) {
        if (is_digit_fam(p, s->mantissa.c[i]) || s->mantissa.c[i] == p->digit) {
            valid = true;
            break;
        }
    }
    if (!valid) {
        err = "D3085";
    }
    for (int i = 0; i < s->active.n; i++) {
        if (!is_active(p, s->active.c[i])) {
            err = "D3086";
        }
    }
    if (dpos != -1) {
        if ((dpos > 0 && sp->c[dpos - 1] == p->grp) ||
            (dpos + 1 < sp->n && sp->c[dpos + 1] == p->grp)) {
            err = "D3087";
        }
    } else if (s->integer.n > 0 && s->integer.c[s->integer.n - 1] == p->grp) {
        err = "D3088";
    }
    for (int i = 0; i + 1 < sp->n; i++) {
        if (sp->c[i] == p->grp && sp->c[i + 1] == p->grp) {
            err = "D3089";
        }
    }
    int opt = cps_index(&s->integer, p->digit, 0);
    if (opt != -1) {
        for (int i = 0; i < opt; i++) {
            if (is_digit_fam(p, s->integer.c[i])) {
                err = "D3090";
            }
        }
    }
    opt = cps_last(&s->fraction, p->digit);
    if (opt != -1) {
        for (int i = opt; i < s->fraction.n; i++) {
            if (is_digit_fam(p, s->fraction.c[i])) {
                err = "D3091";
            }
        }
    }
    if (s->has_exp && s->exponent.n > 0 &&
        (cps_index(sp, p->pct, 0) != -1 || cps_index(sp, p->pml, 0) != -1)) {
        err = "D3092";
    }
    if (s->has_exp) {
        bool bad = s->exponent.n == 0;
        for (int i = 0; i < s->exponent.n; i++) {
            if (!is_digit_fam(p, s->exponent.c[i])) {
                bad = true;
            }
        }
        if (bad) {
            err = "D3093";
        }
    }
    return err;
}

static int count_digits(const struct props *p, const struct cps *s, int a, int b, bool opt)
{
    int n = 0;
    for (int i = a; i < b && i < s->n; i++) {
        if (is_digit_fam(p, s->c[i]) || (opt && s->c[i] == p->digit)) {
            n++;
        }
    }
    return n;
}

static int gcdi(int a, int b)
{
    return b == 0 ? a : gcdi(b, a % b);
}

static void analyse(const struct props *p, const struct subpic *s, struct picvars *v)
{
    memset(v, 0, sizeof(*v));
    /* integer part grouping: digits to the right of each separator */
    int gp = cps_index(&s->integer, p->grp, 0);
    while (gp != -1 && v->ngrouping < 32) {
        v->grouping[v->ngrouping++] = count_digits(p, &s->integer, gp, s->integer.n, true);
        gp = cps_index(&s->integer, p->grp, gp + 1);
    }
    if (v->ngrouping > 0) {
        int f = v->grouping[0];
        for (int i = 1; i < v->ngrouping; i++) {
            f = gcdi(f, v->grouping[i]);
        }
        for (int idx = 1; idx <= v->ngrouping && f; idx++) {
            bool found = false;
            for (int i = 0; i < v->ngrouping; i++) {
                found = found || v->grouping[i] == idx * f;
            }
            if (!found) {
                f = 0;
            }
        }
        v->regular = f;
    }
    gp = cps_index(&s->fraction, p->grp, 0);
    while (gp != -1 && v->nfgrouping < 32) {
        v->fgrouping[v->nfgrouping++] = count_digits(p, &s->fraction, 0, gp, true);
        gp = cps_index(&s->integer, p->grp, gp + 1);
        if (gp != -1 && gp >= s->fraction.n) {
            break;
        }
        if (gp != -1) {
            gp = cps_index(&s->fraction, p->grp, gp);
        }
    }
    v->min_int = count_digits(p, &s->integer, 0, s->integer.n, false);
    v->scaling = v->min_int;
    v->min_frac = count_digits(p, &s->fraction, 0, s->fraction.n, false);
    v->max_frac = count_digits(p, &s->fraction, 0, s->fraction.n, true);
    if (v->min_int == 0 && v->max_frac == 0) {
        if (s->has_exp) {
            v->min_frac = 1;
            v->max_frac = 1;
        } else {
            v->min_int = 1;
        }
    }
    if (s->has_exp && v->min_int == 0 && cps_index(&s->integer, p->digit, 0) != -1) {
        v->min_int = 1;
    }
    if (v->min_int == 0 && v->min_frac == 0) {
        v->min_frac = 1;
    }
    v->min_exp = s->has_exp ? count_digits(p, &s->exponent, 0, s->exponent.n, false) : 0;
    v->prefix = s->prefix;
    v->suffix = s->suffix;
    v->pic = s->pic;
}

static uint32_t first_cp(struct ef_val *v, uint32_t def)
{
    if (!v || ef_val_type(v) != EF_STR || ef_val_str_len(v) == 0) {
        return def;
    }
    size_t i = 0;
    return jsonata__utf8_next(ef_val_str_get(v), ef_val_str_len(v), &i);
}

static void insert_at(struct cps *s, int pos, uint32_t ch)
{
    if (s->n >= 255 || pos < 0 || pos > s->n) {
        return;
    }
    memmove(&s->c[pos + 1], &s->c[pos], (size_t)(s->n - pos) * sizeof(uint32_t));
    s->c[pos] = ch;
    s->n++;
}

static void append_cps(struct cps *d, const struct cps *s)
{
    for (int i = 0; i < s->n && d->n < 255; i++) {
        d->c[d->n++] = s->c[i];
    }
}

int jsonata__fn_format_number(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                              struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    (void)env;
    struct ef_val *val = ARG(0);
    if (!val) {
        return 0;
    }
    double value = ef_val_num_get(val);
    struct props p = {'.', ',', 'e', '-', '%', 0x2030, '0', '#', ';', "Infinity", "NaN"};
    struct ef_val *o = ARG(2);
    if (o && ef_val_type(o) == EF_OBJ) {
        p.dec = first_cp(ef_val_obj_get(o, "decimal-separator"), p.dec);
        p.grp = first_cp(ef_val_obj_get(o, "grouping-separator"), p.grp);
        p.exp = first_cp(ef_val_obj_get(o, "exponent-separator"), p.exp);
        p.minus = first_cp(ef_val_obj_get(o, "minus-sign"), p.minus);
        p.pct = first_cp(ef_val_obj_get(o, "percent"), p.pct);
        p.pml = first_cp(ef_val_obj_get(o, "per-mille"), p.pml);
        p.zero = first_cp(ef_val_obj_get(o, "zero-digit"), p.zero);
        p.digit = first_cp(ef_val_obj_get(o, "digit"), p.digit);
        p.sep = first_cp(ef_val_obj_get(o, "pattern-separator"), p.sep);
    }
    struct cps *pic = malloc(sizeof(*pic) * 2 + sizeof(struct subpic) * 2 +
                             sizeof(struct picvars) * 2 + sizeof(struct cps) * 2);
    if (!pic) {
        return jsonata__error(c, "D1001", -1, NULL);
    }
    struct cps *sub = pic + 1;
    struct subpic *parts = (struct subpic *)(sub + 1);
    struct picvars *vars = (struct picvars *)(parts + 2);
    struct cps *str = (struct cps *)(vars + 2);
    struct cps *tmp = str + 1;
    cps_from(pic, ef_val_str_get(ARG(1)), ef_val_str_len(ARG(1)));
    int nsub = 0;
    int start = 0;
    int rc = 0;
    for (int i = 0; i <= pic->n; i++) {
        if (i == pic->n || pic->c[i] == p.sep) {
            if (nsub == 2) {
                rc = jsonata__error(c, "D3080", -1, NULL);
                break;
            }
            cps_sub(pic, start, i, sub);
            split_parts(&p, sub, &parts[nsub]);
            nsub++;
            start = i + 1;
        }
    }
    for (int i = 0; i < nsub && rc == 0; i++) {
        const char *e = validate_parts(&p, &parts[i]);
        if (e) {
            rc = jsonata__error(c, e, -1, NULL);
        }
    }
    if (rc < 0) {
        free(pic);
        return -1;
    }
    for (int i = 0; i < nsub; i++) {
        analyse(&p, &parts[i], &vars[i]);
    }
    if (nsub == 1) {
        vars[1] = vars[0];
        tmp->n = 0;
        tmp->c[tmp->n++] = p.minus;
        append_cps(tmp, &vars[1].prefix);
        vars[1].prefix = *tmp;
    }
    struct picvars *pv = value >= 0 ? &vars[0] : &vars[1];
    double adj = value;
    if (cps_index(&pv->pic, p.pct, 0) != -1) {
        adj = value * 100;
    } else if (cps_index(&pv->pic, p.pml, 0) != -1) {
        adj = value * 1000;
    }
    double mant = adj;
    int exponent = 0;
    bool has_exp = pv->min_exp != 0;
    if (has_exp) {
        double maxm = pow(10, pv->scaling), minm = pow(10, pv->scaling - 1);
        if (mant != 0) {
            while (fabs(mant) < minm) {
                mant *= 10;
                exponent--;
            }
            while (fabs(mant) > maxm) {
                mant /= 10;
                exponent++;
            }
        }
    }
    double rounded = jsonata__round(mant, pv->max_frac);
    char buf[400];
    snprintf(buf, sizeof(buf), "%.*f", pv->max_frac, fabs(rounded));
    str->n = 0;
    bool had_dot = false;
    for (char *q = buf; *q && str->n < 250; q++) {
        if (*q >= '0' && *q <= '9') {
            str->c[str->n++] = p.zero + (uint32_t)(*q - '0');
        } else if (*q == '.') {
            str->c[str->n++] = p.dec;
            had_dot = true;
        } else {
            str->c[str->n++] = (uint32_t)*q;
        }
    }
    if (!had_dot) {
        str->c[str->n++] = p.dec;
    }
    while (str->n > 0 && str->c[0] == p.zero) {
        memmove(&str->c[0], &str->c[1], (size_t)(str->n - 1) * sizeof(uint32_t));
        str->n--;
    }
    while (str->n > 0 && str->c[str->n - 1] == p.zero) {
        str->n--;
    }
    int dpos = cps_index(str, p.dec, 0);
    int padl = pv->min_int - dpos;
    int padr = pv->min_frac - (str->n - dpos - 1);
    for (int i = 0; i < padl; i++) {
        insert_at(str, 0, p.zero);
    }
    for (int i = 0; i < padr && str->n < 255; i++) {
        str->c[str->n++] = p.zero;
    }
    dpos = cps_index(str, p.dec, 0);
    if (pv->regular > 0) {
        int groups = (dpos - 1) / pv->regular;
        for (int g = 1; g <= groups; g++) {
            insert_at(str, dpos - g * pv->regular, p.grp);
        }
    } else {
        for (int i = 0; i < pv->ngrouping; i++) {
            insert_at(str, dpos - pv->grouping[i], p.grp);
            dpos++;
        }
    }
    dpos = cps_index(str, p.dec, 0);
    for (int i = 0; i < pv->nfgrouping; i++) {
        insert_at(str, pv->fgrouping[i] + dpos + 1, p.grp);
    }
    dpos = cps_index(str, p.dec, 0);
    if (cps_index(&pv->pic, p.dec, 0) == -1 || dpos == str->n - 1) {
        str->n--;
    }
    if (has_exp) {
        char eb[32];
        snprintf(eb, sizeof(eb), "%d", abs(exponent));
        int el = (int)strlen(eb);
        if (str->n < 250) {
            str->c[str->n++] = p.exp;
        }
        if (exponent < 0 && str->n < 250) {
            str->c[str->n++] = p.minus;
        }
        for (int i = el; i < pv->min_exp && str->n < 250; i++) {
            str->c[str->n++] = p.zero;
        }
        for (int i = 0; i < el && str->n < 250; i++) {
            str->c[str->n++] = p.zero + (uint32_t)(eb[i] - '0');
        }
    }
    tmp->n = 0;
    append_cps(tmp, &pv->prefix);
    append_cps(tmp, str);
    append_cps(tmp, &pv->suffix);
    char *res = malloc((size_t)tmp->n * 4 + 1);
    size_t rl = 0;
    for (int i = 0; i < tmp->n; i++) {
        rl += (size_t)jsonata__utf8_put(tmp->c[i], res + rl);
    }
    res[rl] = 0;
    free(pic);
    out->v = ef_val_str_take(res, rl);
    return 0;
}
