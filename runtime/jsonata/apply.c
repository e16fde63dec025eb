/*
 * apply.c - calling functions: evaluating call, partial-application, `~>`
 * and transform nodes, applying lambdas (with tail-call trampolining),
 * built-ins, caller-provided natives, partials, chains, regexes and
 * transformers, with signature validation of their arguments.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static struct jsonata__fn *fn_of(const struct ef_val *v)
{
    return jsonata__is_fn(v) ? ef_val_handle_ptr(v, &ef_jsonata_function_type) : NULL;
}

static struct ef_val *fn_wrap(struct jsonata__fn *f)
{
    struct ef_val *v = ef_val_handle(f, &ef_jsonata_function_type);
    if (!v) {
        free(f);
    }
    return v;
}

/* Number of parameters a function value takes (for HOF argument passing). */
int jsonata__fn_arity(struct ef_val *fv)
{
    struct jsonata__fn *f = fn_of(fv);
    if (!f) {
        return 0;
    }
    switch (f->kind) {
    case FN_LAMBDA: return f->node ? f->node->nitems : 0;
    case FN_BUILTIN: {
        const struct jsonata__sig *s = jsonata__builtin_sig(f->builtin);
        if (strcmp(jsonata__builtins[f->builtin].name, "string") == 0) {
            return 1; /* string(arg, prettify = false) has length 1 in JavaScript */
        }
        return s ? s->n : 0;
    }
    case FN_NATIVE: return f->native_sig ? f->native_sig->n : 1;
    case FN_PARTIAL: return f->arity;
    case FN_CHAIN: return 1;
    default: return 1;
    }
}

static void register_fn(struct jsonata__ctx *c, struct jsonata__fn *f, struct jsonata__env *env)
{
    f->env = env;
    env->refs++;
    f->ctx = c;
    f->next = c->fns;
    if (c->fns) {
        c->fns->prev = f;
    }
    c->fns = f;
}

static int apply_inner(struct jsonata__ctx *c, struct ef_val *fv, struct jv *args, int nargs,
                       struct ef_val *focus, struct jsonata__env *env, int pos, const char *fname,
                       struct jv *out);

static int transform_apply(struct jsonata__ctx *c, struct jsonata__fn *f, struct ef_val *obj,
                           struct jv *out);
static int apply_once(struct jsonata__ctx *c, struct ef_val *fv, struct jv *args, int nargs,
                      struct ef_val *focus, struct jsonata__env *env, int pos, const char *fname,
                      struct jv *out);
static bool is_thunk(const struct ef_val *v);
#define NSTACK 8 /* calls with fewer arguments keep them on the C stack */
static int eval_args(struct jsonata__ctx *c, const struct jsonata__node *n, struct ef_val *input,
                     struct jsonata__env *env, struct jv *first, struct jv *stack, struct jv **out,
                     int *nout);
static bool name_is_known(struct jsonata__ctx *c, const struct jsonata__node *p,
                          struct jsonata__env *env);
static const char *proc_name(const struct jsonata__node *p, char *buf, size_t len);

static void free_args_s(struct jv *a, int n, struct jv *stack)
{
    for (int i = 0; i < n; i++) {
        jv_drop(&a[i]);
    }
    if (a != stack) {
        free(a);
    }
}

static void free_args(struct jv *a, int n)
{
    free_args_s(a, n, NULL);
}

static bool is_thunk(const struct ef_val *v)
{
    struct jsonata__fn *f = fn_of(v);
    return f && f->kind == FN_LAMBDA && f->node && f->node->thunk;
}

static int eval_args(struct jsonata__ctx *c, const struct jsonata__node *n, struct ef_val *input,
                     struct jsonata__env *env, struct jv *first, struct jv *stack, struct jv **out,
                     int *nout)
{
    int na = n->nitems + (first ? 1 : 0);
    struct jv *a;
    if (stack && na + 1 <= NSTACK) {
        a = stack;
        memset(a, 0, sizeof(*a) * (size_t)(na + 1));
    } else {
        a = calloc((size_t)na + 1, sizeof(*a));
    }
    if (!a) {
        return jsonata__error(c, "D1001", n->pos, NULL);
    }
    int k = 0;
    if (first) {
        a[k++] = *first;
        first->v = NULL;
    }
    for (int i = 0; i < n->nitems; i++) {
        if (jsonata__eval(c, n->items[i], input, env, &a[k]) < 0) {
            free_args_s(a, k, stack);
            return -1;
        }
        k++;
    }
    *out = a;
    *nout = na;
    return 0;
}

static const char *proc_name(const struct jsonata__node *p, char *buf, size_t len)
{
    (void)buf;
    (void)len;
    if (p->type == N_PATH && p->nitems > 0) {
        p = p->items[0];
    }
    return p->str ? p->str : ""; /* AST strings are NUL-terminated */
}

static bool name_is_known(struct jsonata__ctx *c, const struct jsonata__node *p,
                          struct jsonata__env *env)
{
    if (p->type != N_PATH || p->nitems == 0 || p->items[0]->type != N_NAME) {
        return false;
    }
    const struct jsonata__node *s = p->items[0];
    if (jsonata__builtin_find(s->str, s->slen) >= 0 || jsonata__env_lookup(env, s->str, s->slen)) {
        return true;
    }
    if (c->opts) {
        for (size_t i = 0; i < c->opts->nnatives; i++) {
            if (strlen(c->opts->natives[i].name) == s->slen &&
                memcmp(c->opts->natives[i].name, s->str, s->slen) == 0) {
                return true;
            }
        }
    }
    return false;
}

/* Calls function value fv with args (borrowed), trampolining tail calls. */
int jsonata__apply(struct jsonata__ctx *c, struct ef_val *fv, struct jv *args, int nargs,
                   struct ef_val *focus, struct jsonata__env *env, int pos, struct jv *out)
{
    return apply_inner(c, fv, args, nargs, focus, env, pos, NULL, out);
}

static int apply_full(struct jsonata__ctx *c, struct ef_val *fv, struct jv *args, int nargs,
                      struct ef_val *focus, struct jsonata__env *env, int pos, const char *fname,
                      struct jv *out)
{
    if (apply_inner(c, fv, args, nargs, focus, env, pos, fname, out) < 0) {
        return -1;
    }
    return 0;
}

static int call_lambda(struct jsonata__ctx *c, struct jsonata__fn *f, struct jv *args, int nargs,
                       struct jv *out)
{
    const struct jsonata__node *ln = f->node;
    if (!f->env || !ln) {
        return jsonata__error(c, "T1006", -1, NULL);
    }
    struct jsonata__env *fr = jsonata__env_new(c, f->env);
    if (!fr) {
        return jsonata__error(c, "D1001", ln->pos, NULL);
    }
    for (int i = 0; i < ln->nitems; i++) {
        struct jv v = {NULL, 0};
        if (i < nargs) {
            v.v = ef_val_ref(args[i].v);
            v.f = args[i].f;
        }
        jsonata__env_bind(fr, ln->items[i]->str, ln->items[i]->slen, v);
    }
    int rc = jsonata__eval(c, ln->body, f->input, fr, out);
    jsonata__env_unref(fr);
    return rc;
}

static int apply_once(struct jsonata__ctx *c, struct ef_val *fv, struct jv *args, int nargs,
                      struct ef_val *focus, struct jsonata__env *env, int pos, const char *fname,
                      struct jv *out)
{
    out->v = NULL;
    out->f = 0;
    struct jsonata__fn *f = fn_of(fv);
    if (!f ||
        ((f->kind == FN_LAMBDA || f->kind == FN_TRANSFORM || f->kind == FN_REGEX) && !f->node)) {
        /* not a function, or one whose evaluation has ended */
        jsonata__error(c, "T1006", pos, fname);
        return -1;
    }
    const struct jsonata__sig *sig = NULL;
    char namebuf[64];
    if (f->kind == FN_LAMBDA) {
        sig = f->node->sig;
    } else if (f->kind == FN_BUILTIN) {
        sig = jsonata__builtin_sig(f->builtin);
        if (!fname) {
            fname = jsonata__builtins[f->builtin].name;
        }
    } else if (f->kind == FN_NATIVE) {
        sig = f->native_sig;
        if (!fname) {
            snprintf(namebuf, sizeof(namebuf), "%s", f->native->name);
            fname = namebuf;
        }
    }
    struct jv *va = args;
    int nva = nargs;
    bool own = false;
    struct jv vbuf[NSTACK];
    if (sig) {
        if (jsonata__sig_validate(c, sig, args, nargs, focus, vbuf, NSTACK, &va, &nva, pos, fname) <
            0) {
            return -1;
        }
        own = true;
    }
    int rc = 0;
    switch (f->kind) {
    case FN_LAMBDA: rc = call_lambda(c, f, va, nva, out); break;
    case FN_BUILTIN:
        rc = jsonata__builtins[f->builtin].fn(c, va, nva, focus, env, out);
        if (rc < 0) {
            if (c->err.position < 0) {
                c->err.position = pos;
            }
            if (!c->err.has_token && fname) {
                snprintf(c->err.token, sizeof(c->err.token), "%s", fname);
                c->err.has_token = true;
            }
        }
        break;
    case FN_NATIVE: {
        struct ef_val **plain = calloc((size_t)nva + 1, sizeof(*plain));
        if (!plain) {
            rc = jsonata__error(c, "D1001", pos, NULL);
            break;
        }
        for (int i = 0; i < nva; i++) {
            plain[i] = va[i].v;
        }
        char err[256] = "";
        struct ef_val *res = NULL;
        rc = f->native->fn(f->native->ud, plain, (size_t)nva, &res, err, sizeof(err));
        free(plain);
        if (rc < 0) {
            ef_val_unref(res);
            const char *colon = strchr(err, ':');
            if (colon && colon - err == 5) {
                char code[8];
                snprintf(code, sizeof(code), "%.5s", err);
                jsonata__error(c, code, pos, fname);
                snprintf(c->err.text, sizeof(c->err.text), "%s",
                         colon[1] == ' ' ? colon + 2 : colon + 1);
            } else {
                jsonata__error(c, "D3137", pos, fname);
                snprintf(c->err.text, sizeof(c->err.text), "%s", err);
            }
            rc = -1;
        } else {
            out->v = res;
            rc = 0;
        }
        break;
    }
    case FN_PARTIAL: {
        struct jv *full = calloc((size_t)f->npargs + 1, sizeof(*full));
        if (!full) {
            rc = jsonata__error(c, "D1001", pos, NULL);
            break;
        }
        int k = 0;
        for (int i = 0; i < f->npargs; i++) {
            if (f->is_ph[i]) {
                full[i].v = k < nva ? va[k].v : NULL;
                full[i].f = k < nva ? va[k].f : 0;
                k++;
            } else {
                full[i].v = f->pargs[i];
            }
        }
        rc = apply_inner(c, f->target, full, f->npargs, focus, env, pos, fname, out);
        free(full);
        break;
    }
    case FN_CHAIN: {
        struct jv mid;
        rc = apply_inner(c, f->pargs[0], va, nva, focus, env, pos, NULL, &mid);
        if (rc == 0) {
            rc = apply_inner(c, f->pargs[1], &mid, 1, focus, env, pos, NULL, out);
            jv_drop(&mid);
        }
        break;
    }
    case FN_TRANSFORM: {
        struct ef_val *obj = nva > 0 ? va[0].v : NULL;
        if (obj && ef_val_type(obj) != EF_OBJ && ef_val_type(obj) != EF_ARR) {
            jsonata__error_val(c, "T0410", f->node->pos, NULL, obj);
            c->err.index = 1;
            rc = -1;
            break;
        }
        rc = transform_apply(c, f, obj, out);
        break;
    }
    case FN_REGEX: {
        struct ef_val *s = nva > 0 ? va[0].v : NULL;
        if (!s || ef_val_type(s) != EF_STR) {
            break;
        }
        size_t *ov;
        uint32_t ovn;
        int m =
            jsonata__regex_exec(c, f->node->re, ef_val_str_get(s), ef_val_str_len(s), 0, &ov, &ovn);
        if (m < 0) {
            rc = -1;
        } else if (m > 0) {
            out->v = jsonata__match_obj(ef_val_str_get(s), ov, ovn);
        }
        free(ov);
        break;
    }
    default: rc = jsonata__error(c, "T1006", pos, fname); break;
    }
    if (own) {
        free_args_s(va, nva, vbuf);
    }
    if (rc < 0) {
        jv_drop(out);
    }
    return rc;
}

/* Applies fv, then keeps applying tail calls (thunks) it returns. */
static int apply_inner(struct jsonata__ctx *c, struct ef_val *fv, struct jv *args, int nargs,
                       struct ef_val *focus, struct jsonata__env *env, int pos, const char *fname,
                       struct jv *out)
{
    int rc = apply_once(c, fv, args, nargs, focus, env, pos, fname, out);
    while (rc == 0 && is_thunk(out->v)) {
        struct ef_val *th = out->v;
        out->v = NULL;
        struct jsonata__fn *tf = fn_of(th);
        const struct jsonata__node *call = tf->node->body;
        struct jv next;
        rc = jsonata__eval(c, call->proc, tf->input, tf->env, &next);
        if (rc == 0) {
            struct jv *ta;
            int nta;
            struct jv tbuf[NSTACK];
            rc = eval_args(c, call, tf->input, tf->env, NULL, tbuf, &ta, &nta);
            if (rc == 0) {
                char nb[64];
                if (!next.v && name_is_known(c, call->proc, tf->env)) {
                    rc = jsonata__error(c, "T1005", call->pos,
                                        proc_name(call->proc, nb, sizeof(nb)));
                } else {
                    rc = apply_once(c, next.v, ta, nta, tf->input, tf->env, call->pos,
                                    proc_name(call->proc, nb, sizeof(nb)), out);
                }
                free_args_s(ta, nta, tbuf);
            }
            jv_drop(&next);
        }
        ef_val_unref(th);
        if (rc == 0 && (++c->ticks & 1023) == 0 && jsonata__check_time(c) < 0) {
            rc = -1;
        }
    }
    if (rc < 0) {
        jv_drop(out);
    }
    return rc;
}

static int make_partial(struct jsonata__ctx *c, const struct jsonata__node *n, struct ef_val *proc,
                        struct jv *args, int nargs, struct jv *out)
{
    struct jsonata__fn *f = calloc(1, sizeof(*f));
    if (!f) {
        return jsonata__error(c, "D1001", n->pos, NULL);
    }
    f->kind = FN_PARTIAL;
    f->target = ef_val_ref(proc);
    f->npargs = nargs;
    f->pargs = calloc((size_t)nargs + 1, sizeof(*f->pargs));
    f->is_ph = calloc((size_t)nargs + 1, sizeof(*f->is_ph));
    for (int i = 0; i < nargs; i++) {
        if (n->items[i]->type == N_PLACEHOLDER) {
            f->is_ph[i] = true;
            f->arity++;
        } else {
            f->pargs[i] = ef_val_ref(args[i].v);
        }
    }
    out->v = fn_wrap(f);
    out->f = 0;
    return 0;
}

/* Evaluates N_FUNCTION, N_PARTIAL, N_APPLY and N_TRANSFORM nodes. */
int jsonata__eval_call(struct jsonata__ctx *c, const struct jsonata__node *n, struct ef_val *input,
                       struct jsonata__env *env, struct jv *out)
{
    char nb[64];
    out->v = NULL;
    out->f = 0;
    if (n->type == N_TRANSFORM) {
        struct jsonata__fn *f = calloc(1, sizeof(*f));
        if (!f) {
            return jsonata__error(c, "D1001", n->pos, NULL);
        }
        f->kind = FN_TRANSFORM;
        f->node = n;
        register_fn(c, f, env);
        out->v = fn_wrap(f);
        return 0;
    }
    if (n->type == N_APPLY) {
        struct jv lhs;
        if (jsonata__eval(c, n->lhs, input, env, &lhs) < 0) {
            return -1;
        }
        if (n->rhs->type == N_FUNCTION) {
            const struct jsonata__node *call = n->rhs;
            struct jv proc;
            if (jsonata__eval(c, call->proc, input, env, &proc) < 0) {
                jv_drop(&lhs);
                return -1;
            }
            if (!proc.v && name_is_known(c, call->proc, env)) {
                jv_drop(&lhs);
                return jsonata__error(c, "T1005", call->pos, proc_name(call->proc, nb, sizeof(nb)));
            }
            struct jv *a;
            int na;
            struct jv abuf[NSTACK];
            if (eval_args(c, call, input, env, &lhs, abuf, &a, &na) < 0) {
                jv_drop(&proc);
                return -1;
            }
            int rc = apply_full(c, proc.v, a, na, input, env, call->pos,
                                proc_name(call->proc, nb, sizeof(nb)), out);
            free_args_s(a, na, abuf);
            jv_drop(&proc);
            return rc;
        }
        struct jv func;
        if (jsonata__eval(c, n->rhs, input, env, &func) < 0) {
            jv_drop(&lhs);
            return -1;
        }
        if (!jsonata__is_fn(func.v)) {
            jsonata__error_val(c, "T2006", n->pos, NULL, func.v);
            jv_drop(&lhs);
            jv_drop(&func);
            return -1;
        }
        int rc;
        if (jsonata__is_fn(lhs.v)) {
            struct jsonata__fn *f = calloc(1, sizeof(*f));
            if (!f) {
                jv_drop(&lhs);
                jv_drop(&func);
                return jsonata__error(c, "D1001", n->pos, NULL);
            }
            f->kind = FN_CHAIN;
            f->npargs = 2;
            f->pargs = calloc(2, sizeof(*f->pargs));
            f->is_ph = calloc(2, sizeof(*f->is_ph));
            f->pargs[0] = lhs.v;
            f->pargs[1] = func.v;
            out->v = fn_wrap(f);
            return 0;
        }
        rc = apply_full(c, func.v, &lhs, 1, NULL, env, n->pos, NULL, out);
        jv_drop(&lhs);
        jv_drop(&func);
        return rc;
    }
    /* function call or partial application */
    struct jv proc;
    if (n->type == N_PARTIAL) {
        struct jv *a = calloc((size_t)n->nitems + 1, sizeof(*a));
        if (!a) {
            return jsonata__error(c, "D1001", n->pos, NULL);
        }
        for (int i = 0; i < n->nitems; i++) {
            if (n->items[i]->type == N_PLACEHOLDER) {
                continue;
            }
            if (jsonata__eval(c, n->items[i], input, env, &a[i]) < 0) {
                free_args(a, i);
                return -1;
            }
        }
        if (jsonata__eval(c, n->proc, input, env, &proc) < 0) {
            free_args(a, n->nitems);
            return -1;
        }
        int rc;
        if (!proc.v && name_is_known(c, n->proc, env)) {
            rc = jsonata__error(c, "T1007", n->pos, proc_name(n->proc, nb, sizeof(nb)));
        } else if (!jsonata__is_fn(proc.v)) {
            rc = jsonata__error(c, "T1008", n->pos, proc_name(n->proc, nb, sizeof(nb)));
        } else {
            rc = make_partial(c, n, proc.v, a, n->nitems, out);
        }
        free_args(a, n->nitems);
        jv_drop(&proc);
        return rc;
    }
    if (jsonata__eval(c, n->proc, input, env, &proc) < 0) {
        return -1;
    }
    if (!proc.v && name_is_known(c, n->proc, env)) {
        return jsonata__error(c, "T1005", n->pos, proc_name(n->proc, nb, sizeof(nb)));
    }
    struct jv *a;
    int na;
    struct jv abuf[NSTACK];
    if (eval_args(c, n, input, env, NULL, abuf, &a, &na) < 0) {
        jv_drop(&proc);
        return -1;
    }
    int rc =
        apply_full(c, proc.v, a, na, input, env, n->pos, proc_name(n->proc, nb, sizeof(nb)), out);
    free_args_s(a, na, abuf);
    jv_drop(&proc);
    return rc;
}

/* ---- transform ---- */

/* Writes into m (shared only by `own` references we hold) in place. */
static struct ef_val *writable(struct ef_val *m, int own, int *dropped)
{
    uint32_t rc = ef_val_refcount(m);
    int extra = (int)rc - 1;
    *dropped = 0;
    if (extra > own) {
        return NULL;
    }
    for (int i = 0; i < extra; i++) {
        ef_val_unref(m);
    }
    *dropped = extra;
    return m;
}

static void rewrite(struct ef_val *m, int dropped)
{
    for (int i = 0; i < dropped; i++) {
        ef_val_ref(m);
    }
}

static int transform_apply(struct jsonata__ctx *c, struct jsonata__fn *f, struct ef_val *obj,
                           struct jv *out)
{
    const struct jsonata__node *n = f->node;
    if (!obj) {
        return 0;
    }
    if (!f->env) {
        return jsonata__error(c, "T1006", n->pos, NULL);
    }
    struct ef_val *result = ef_val_copy(obj);
    if (!result) {
        return jsonata__error(c, "D1001", n->pos, NULL);
    }
    struct jv matches;
    if (jsonata__eval(c, n->cond, result, f->env, &matches) < 0) {
        ef_val_unref(result);
        return -1;
    }
    if (matches.v) {
        struct ef_val *ma = matches.v;
        if (ef_val_type(ma) != EF_ARR) {
            ma = jsonata__wrap(ma);
        } else {
            /* hold one reference per item via this array */
        }
        matches.v = NULL;
        size_t nm = ef_val_arr_len(ma);
        for (size_t i = 0; i < nm; i++) {
            struct ef_val *m = ef_val_arr_at(ma, i);
            int own = 0;
            for (size_t j = 0; j < nm; j++) {
                own += ef_val_arr_at(ma, j) == m;
            }
            struct jv upd;
            if (jsonata__eval(c, n->then, m, f->env, &upd) < 0) {
                ef_val_unref(ma);
                ef_val_unref(result);
                return -1;
            }
            if (upd.v) {
                if (ef_val_type(upd.v) != EF_OBJ) {
                    jsonata__error_val(c, "T2011", n->then->pos, NULL, upd.v);
                    jv_drop(&upd);
                    ef_val_unref(ma);
                    ef_val_unref(result);
                    return -1;
                }
                if (ef_val_type(m) == EF_OBJ) {
                    int dropped;
                    struct ef_val *w = writable(m, own, &dropped);
                    if (w) {
                        size_t kn = ef_val_obj_len(upd.v);
                        for (size_t k = 0; k < kn; k++) {
                            size_t kl;
                            const char *key = ef_val_obj_key_at(upd.v, k, &kl);
                            ef_val_obj_setn_take(w, key, kl,
                                                 ef_val_ref(ef_val_obj_val_at(upd.v, k)));
                        }
                        rewrite(m, dropped);
                    }
                }
                jv_drop(&upd);
            }
            if (n->els) {
                struct jv del;
                if (jsonata__eval(c, n->els, m, f->env, &del) < 0) {
                    ef_val_unref(ma);
                    ef_val_unref(result);
                    return -1;
                }
                if (del.v) {
                    struct ef_val *d = del.v;
                    bool ok = true;
                    if (ef_val_type(d) == EF_ARR) {
                        for (size_t k = 0; k < ef_val_arr_len(d); k++) {
                            if (ef_val_type(ef_val_arr_at(d, k)) != EF_STR) {
                                ok = false;
                            }
                        }
                    } else {
                        ok = ef_val_type(d) == EF_STR;
                    }
                    if (!ok) {
                        jsonata__error_val(c, "T2012", n->els->pos, NULL, d);
                        jv_drop(&del);
                        ef_val_unref(ma);
                        ef_val_unref(result);
                        return -1;
                    }
                    if (ef_val_type(m) == EF_OBJ) {
                        int dropped;
                        struct ef_val *w = writable(m, own, &dropped);
                        if (w) {
                            if (ef_val_type(d) == EF_STR) {
                                ef_val_obj_del(w, ef_val_str_get(d), ef_val_str_len(d));
                            } else {
                                for (size_t k = 0; k < ef_val_arr_len(d); k++) {
                                    struct ef_val *ks = ef_val_arr_at(d, k);
                                    ef_val_obj_del(w, ef_val_str_get(ks), ef_val_str_len(ks));
                                }
                            }
                            rewrite(m, dropped);
                        }
                    }
                    jv_drop(&del);
                }
            }
        }
        ef_val_unref(ma);
    }
    out->v = result;
    out->f = 0;
    return 0;
}
