/*
 * signature.c - JSONata function signatures ("<s-n?:s>"): parsing them and
 * checking (and coercing) the arguments of a call against them, with
 * jsonata-js's T0410/T0411/T0412 errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int sig_err(struct jsonata__errinfo *err, const char *code, int offset, const char *val)
{
    memset(err, 0, sizeof(*err));
    snprintf(err->code, sizeof(err->code), "%s", code);
    err->position = offset;
    snprintf(err->value, sizeof(err->value), "\"%s\"", val);
    err->has_value = true;
    return -1;
}

static int closing(const char *s, int pos, char open, char close)
{
    int depth = 1;
    int n = (int)strlen(s);
    while (pos < n) {
        pos++;
        if (s[pos] == close) {
            if (--depth == 0) {
                break;
            }
        } else if (s[pos] == open) {
            depth++;
        }
    }
    return pos;
}

/* Parses a signature text; returns 0 or -1 with S0401/S0402 in err. */
int jsonata__sig_parse(const char *text, struct jsonata__sig *sig, struct jsonata__errinfo *err)
{
    memset(sig, 0, sizeof(*sig));
    int pos = 1;
    int n = (int)strlen(text);
    struct jsonata__sigparam *prev = NULL;
    while (pos < n) {
        char ch = text[pos];
        if (ch == ':') {
            break;
        }
        struct jsonata__sigparam *cur = sig->n < 12 ? &sig->p[sig->n] : NULL;
        switch (ch) {
        case 's':
        case 'n':
        case 'b':
        case 'l':
        case 'o':
            if (cur) {
                cur->type = ch;
                snprintf(cur->cls, sizeof(cur->cls), "%cm", ch);
                prev = cur;
                sig->n++;
            }
            break;
        case 'a':
        case 'x':
        case 'j':
        case 'f':
            if (cur) {
                cur->type = ch;
                snprintf(cur->cls, sizeof(cur->cls), "%s",
                         ch == 'f'   ? "f"
                         : ch == 'j' ? "asnblom"
                                     : "asnblfom");
                prev = cur;
                sig->n++;
            }
            break;
        case '-':
            if (prev) {
                prev->context = true;
                prev->quant = '?';
            }
            break;
        case '?':
        case '+':
            if (prev) {
                prev->quant = ch;
            }
            break;
        case '(': {
            int end = closing(text, pos, '(', ')');
            char choice[16];
            snprintf(choice, sizeof(choice), "%.*s", end - pos - 1, text + pos + 1);
            if (strchr(choice, '<')) {
                return sig_err(err, "S0402", pos, choice);
            }
            if (cur) {
                cur->type = '(';
                snprintf(cur->cls, sizeof(cur->cls), "%.10sm", choice);
                prev = cur;
                sig->n++;
            }
            pos = end;
            break;
        }
        case '<': {
            if (prev && (prev->type == 'a' || prev->type == 'f')) {
                int end = closing(text, pos, '<', '>');
                snprintf(prev->subtype, sizeof(prev->subtype), "%.*s", end - pos - 1,
                         text + pos + 1);
                prev->has_sub = true;
                pos = end;
            } else {
                char t[2] = {prev ? prev->type : '?', 0};
                return sig_err(err, "S0401", pos, t);
            }
            break;
        }
        default: break;
        }
        pos++;
    }
    return 0;
}

static char symbol_of(const struct ef_val *v)
{
    if (!v) {
        return 'm';
    }
    if (jsonata__is_fn(v)) {
        return 'f';
    }
    switch (ef_val_type(v)) {
    case EF_STR: return 's';
    case EF_NUM: return 'n';
    case EF_BOOL: return 'b';
    case EF_NULL: return 'l';
    case EF_ARR: return 'a';
    case EF_OBJ: return 'o';
    default: return 'o';
    }
}

struct matcher {
    const struct jsonata__sig *sig;
    const char *syms;
    int n;
    int start[12], end[12];
};

static bool match_from(struct matcher *m, int pi, int si)
{
    if (pi == m->sig->n) {
        return si == m->n;
    }
    const struct jsonata__sigparam *p = &m->sig->p[pi];
    int maxc = 0;
    while (si + maxc < m->n && strchr(p->cls, m->syms[si + maxc])) {
        maxc++;
        if (p->quant != '+') {
            break;
        }
    }
    int minc = p->quant == '?' ? 0 : 1;
    for (int c = maxc; c >= minc; c--) {
        m->start[pi] = si;
        m->end[pi] = si + c;
        if (match_from(m, pi + 1, si + c)) {
            return true;
        }
    }
    return false;
}

static int fail(struct jsonata__ctx *c, const char *code, int pos, const char *fname, int index,
                const struct ef_val *v)
{
    jsonata__error_val(c, code, pos, fname, v);
    c->err.index = index;
    return -1;
}

static const char *array_type_name(char t)
{
    switch (t) {
    case 'a': return "arrays";
    case 'b': return "booleans";
    case 'f': return "functions";
    case 'n': return "numbers";
    case 'o': return "objects";
    case 's': return "strings";
    default: return "";
    }
}

/* Validates args against sig; *vargs gets a new array of owned values. */
int jsonata__sig_validate(struct jsonata__ctx *c, const struct jsonata__sig *sig, struct jv *args,
                          int nargs, struct ef_val *focus, struct jv *stack, int nstack,
                          struct jv **vargs, int *nvargs, int pos, const char *fname)
{
    char syms[64];
    if (nargs > 60) {
        nargs = 60;
    }
    for (int i = 0; i < nargs; i++) {
        syms[i] = symbol_of(args[i].v);
    }
    syms[nargs] = 0;
    struct matcher m = {sig, syms, nargs, {0}, {0}};
    if (!match_from(&m, 0, 0)) {
        int good;
        /* jsonata's greedy prefix match: recompute with greedy semantics */
        good = 0;
        for (int i = 0; i < sig->n; i++) {
            const struct jsonata__sigparam *p = &sig->p[i];
            int cnt = 0;
            while (good + cnt < nargs && strchr(p->cls, syms[good + cnt])) {
                cnt++;
                if (p->quant != '+') {
                    break;
                }
            }
            if (cnt == 0 && p->quant != '?') {
                return fail(c, "T0410", pos, fname, good + 1, good < nargs ? args[good].v : NULL);
            }
            good += cnt;
        }
        return fail(c, "T0410", pos, fname, good + 1, good < nargs ? args[good].v : NULL);
    }
    int cap = nargs + sig->n + 1;
    struct jv *out;
    if (cap <= nstack) {
        out = stack;
        memset(out, 0, sizeof(*out) * (size_t)cap);
    } else {
        out = calloc((size_t)cap, sizeof(*out));
    }
    if (!out) {
        return jsonata__error(c, "D1001", pos, NULL);
    }
    int no = 0;
    int ai = 0;
    for (int pi = 0; pi < sig->n; pi++) {
        const struct jsonata__sigparam *p = &sig->p[pi];
        int len = m.end[pi] - m.start[pi];
        if (len == 0) {
            if (p->context) {
                char s = symbol_of(focus);
                if (strchr(p->cls, s)) {
                    out[no].v = ef_val_ref(focus);
                    out[no++].f = 0;
                } else {
                    for (int k = 0; k < no; k++) {
                        jv_drop(&out[k]);
                    }
                    if (out != stack) {
                        free(out);
                    }
                    return fail(c, "T0411", pos, fname, ai + 1, focus);
                }
            } else {
                if (ai < nargs) {
                    out[no].v = ef_val_ref(args[ai].v);
                    out[no].f = args[ai].f;
                }
                no++;
                ai++;
            }
            continue;
        }
        for (int k = 0; k < len; k++) {
            char single = syms[m.start[pi] + k];
            struct ef_val *arg = ai < nargs ? args[ai].v : NULL;
            if (p->type == 'a') {
                if (single == 'm') {
                    out[no].v = NULL;
                } else {
                    bool ok = true;
                    if (p->has_sub) {
                        if (single != 'a' && (strlen(p->subtype) != 1 || single != p->subtype[0])) {
                            ok = false;
                        } else if (single == 'a' && ef_val_arr_len(arg) > 0) {
                            char it = symbol_of(ef_val_arr_at(arg, 0));
                            if (it != p->subtype[0]) {
                                ok = false;
                            } else {
                                size_t al = ef_val_arr_len(arg);
                                for (size_t q = 0; q < al; q++) {
                                    if (symbol_of(ef_val_arr_at(arg, q)) != it) {
                                        ok = false;
                                        break;
                                    }
                                }
                            }
                        }
                    }
                    if (!ok) {
                        for (int q = 0; q < no; q++) {
                            jv_drop(&out[q]);
                        }
                        if (out != stack) {
                            free(out);
                        }
                        fail(c, "T0412", pos, fname, ai + 1, arg);
                        snprintf(c->err.type, sizeof(c->err.type), "%s",
                                 array_type_name(p->subtype[0]));
                        return -1;
                    }
                    if (single != 'a') {
                        out[no].v = jsonata__wrap(ef_val_ref(arg));
                        out[no].f = 0;
                    } else {
                        out[no].v = ef_val_ref(arg);
                        out[no].f = args[ai].f;
                    }
                }
                no++;
                ai++;
            } else {
                out[no].v = ef_val_ref(arg);
                out[no].f = ai < nargs ? args[ai].f : 0;
                no++;
                ai++;
            }
        }
    }
    *vargs = out;
    *nvargs = no;
    return 0;
}
