/*
 * eval.c - evaluates a JSONata AST: paths and sequences (with jsonata-js's
 * flattening and singleton rules), tuple streams for `@`, `#` and `%`,
 * predicates, group-by and order-by, operators, constructors, blocks,
 * variables, lambdas, partial application, function calls with signature
 * checks and tail-call trampolining, `~>` and transforms.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* ---- sequences (C vectors of owned values) ---- */

struct seq {
    struct ef_val **v;
    size_t n, cap;
    struct ef_val *inl[4];
};

static void seq_init(struct seq *s)
{
    s->v = s->inl;
    s->n = 0;
    s->cap = 4;
}

static int seq_push(struct seq *s, struct ef_val *x)
{
    if (s->n == s->cap) {
        size_t nc = s->cap * 2;
        struct ef_val **nv =
            s->v == s->inl ? malloc(nc * sizeof(*nv)) : realloc(s->v, nc * sizeof(*nv));
        if (!nv) {
            ef_val_unref(x);
            return -1;
        }
        if (s->v == s->inl) {
            memcpy(nv, s->inl, sizeof(s->inl));
        }
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n++] = x;
    return 0;
}

static void seq_free(struct seq *s)
{
    for (size_t i = 0; i < s->n; i++) {
        ef_val_unref(s->v[i]);
    }
    if (s->v != s->inl) {
        free(s->v);
    }
    seq_init(s);
}

/* Moves the items into a new sequence array (JF_SEQ); s is emptied. */
static struct jv seq_take(struct seq *s)
{
    struct jv r = {NULL, JF_SEQ};
    r.v = ef_val_arr();
    for (size_t i = 0; i < s->n; i++) {
        ef_val_arr_push_take(r.v, s->v[i]);
    }
    if (s->v != s->inl) {
        free(s->v);
    }
    seq_init(s);
    return r;
}

/* Applies jsonata's end-of-evaluate unwrapping to r in place. */
static void finish(const struct jsonata__node *n, struct jv *r)
{
    if (r->v && (r->f & JF_SEQ) && !(r->f & JF_TUPLE)) {
        if (n->keep_array) {
            r->f |= JF_KEEP;
        }
        size_t len = ef_val_arr_len(r->v);
        if (len == 0) {
            jv_drop(r);
        } else if (len == 1 && !(r->f & JF_KEEP)) {
            struct ef_val *x = ef_val_ref(ef_val_arr_at(r->v, 0));
            ef_val_unref(r->v);
            r->v = x;
            r->f = 0;
        }
    }
}

/* ---- errors ---- */

int jsonata__error(struct jsonata__ctx *c, const char *code, int pos, const char *token)
{
    struct jsonata__errinfo *e = &c->err;
    memset(e, 0, sizeof(*e));
    snprintf(e->code, sizeof(e->code), "%s", code);
    e->position = pos;
    if (token) {
        snprintf(e->token, sizeof(e->token), "%s", token);
        e->has_token = true;
    }
    return -1;
}

int jsonata__error_val(struct jsonata__ctx *c, const char *code, int pos, const char *token,
                       const struct ef_val *value)
{
    jsonata__error(c, code, pos, token);
    if (value) {
        jsonata__value_json(value, c->err.value, sizeof(c->err.value));
    }
    c->err.has_value = true;
    return -1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int jsonata__check_time(struct jsonata__ctx *c)
{
    if (c->deadline_ns && now_ns() > c->deadline_ns) {
        jsonata__error(c, "U1001", -1, NULL);
        snprintf(c->err.text, sizeof(c->err.text),
                 "Expression evaluation timeout: Check for infinite loop");
        return -1;
    }
    return 0;
}

/* ---- tuple helpers ---- */

static const char *AT = "@";

static struct ef_val *tuple_get(const struct ef_val *t, const char *k)
{
    return ef_val_obj_get(t, k);
}

/* A frame binding every member of tuple t. */
static struct jsonata__env *tuple_frame(struct jsonata__ctx *c, struct jsonata__env *env,
                                        const struct ef_val *t)
{
    struct jsonata__env *f = jsonata__env_new(c, env);
    if (!f) {
        return NULL;
    }
    size_t n = ef_val_obj_len(t);
    for (size_t i = 0; i < n; i++) {
        size_t kl;
        const char *k = ef_val_obj_key_at(t, i, &kl);
        char *cp = malloc(kl + 1);
        if (!cp) {
            continue;
        }
        memcpy(cp, k, kl);
        cp[kl] = 0;
        struct jv val = {ef_val_ref(ef_val_obj_val_at(t, i)), 0};
        if (jsonata__env_bind(f, cp, kl, val) < 0) {
            free(cp);
            continue;
        }
        for (int j = 0; j < f->n; j++) {
            if (f->b[j].name == cp) {
                f->b[j].own = true;
            }
        }
        if (!(kl > 0 && cp[0] == '!')) {
            continue;
        }
        /* '!' names were copied by env_bind: drop ours */
        free(cp);
    }
    return f;
}

static void label_name(int label, char *buf)
{
    snprintf(buf, 16, "!%d", label);
}

/* ---- forward declarations ---- */

static int eval_node(struct jsonata__ctx *c, const struct jsonata__node *n, struct ef_val *input,
                     struct jsonata__env *env, struct jv *out);
static int filter(struct jsonata__ctx *c, const struct jsonata__node *pred, struct jv *in,
                  struct jsonata__env *env, struct jv *out);
static int group_expr(struct jsonata__ctx *c, struct jsonata__node *const *pairs, int npairs,
                      int gpos, struct jv *in, struct jsonata__env *env, struct jv *out);
static int sort_items(struct jsonata__ctx *c, const struct jsonata__node *sort, struct jv *in,
                      struct jsonata__env *env, struct jv *out);

/* ---- lookup (fn.lookup) ---- */

static int lookup(struct ef_val *input, const char *key, size_t klen, struct jv *out)
{
    out->v = NULL;
    out->f = 0;
    if (!input) {
        return 0;
    }
    enum ef_type t = ef_val_type(input);
    if (t == EF_OBJ) {
        out->v = ef_val_ref(ef_val_obj_getn(input, key, klen));
        return 0;
    }
    if (t == EF_ARR) {
        struct seq s;
        seq_init(&s);
        size_t n = ef_val_arr_len(input);
        for (size_t i = 0; i < n; i++) {
            struct jv r;
            lookup(ef_val_arr_at(input, i), key, klen, &r);
            if (!r.v) {
                continue;
            }
            if (ef_val_type(r.v) == EF_ARR) {
                size_t m = ef_val_arr_len(r.v);
                for (size_t j = 0; j < m; j++) {
                    seq_push(&s, ef_val_ref(ef_val_arr_at(r.v, j)));
                }
                jv_drop(&r);
            } else {
                seq_push(&s, r.v);
            }
        }
        *out = seq_take(&s);
    }
    return 0;
}

/* ---- path evaluation ---- */

/* One step over the input items (non-tuple). */
static int eval_step(struct jsonata__ctx *c, const struct jsonata__node *step,
                     struct ef_val *const *in, size_t nin, struct jsonata__env *env, bool last,
                     struct jv *out)
{
    out->v = NULL;
    out->f = 0;
    if (step->type == N_SORT) {
        struct jv inj = {ef_val_arr(), JF_SEQ};
        for (size_t i = 0; i < nin; i++) {
            if (in[i]) {
                ef_val_arr_push_take(inj.v, ef_val_ref(in[i]));
            }
        }
        int rc = sort_items(c, step, &inj, env, out);
        jv_drop(&inj);
        if (rc < 0) {
            return -1;
        }
        for (int s = 0; s < step->nstages; s++) {
            struct jv tmp;
            if (step->stages[s].is_index) {
                continue;
            }
            rc = filter(c, step->stages[s].expr, out, env, &tmp);
            jv_drop(out);
            if (rc < 0) {
                return -1;
            }
            *out = tmp;
        }
        return 0;
    }
    struct jv res1 = {NULL, 0};
    size_t nres = 0;
    struct seq acc;
    seq_init(&acc);
    for (size_t i = 0; i < nin; i++) {
        struct jv r;
        if (jsonata__eval(c, step, in[i], env, &r) < 0) {
            jv_drop(&res1);
            seq_free(&acc);
            return -1;
        }
        for (int s = 0; s < step->nstages; s++) {
            struct jv tmp;
            if (step->stages[s].is_index) {
                continue;
            }
            int rc = filter(c, step->stages[s].expr, &r, env, &tmp);
            jv_drop(&r);
            if (rc < 0) {
                jv_drop(&res1);
                seq_free(&acc);
                return -1;
            }
            r = tmp;
        }
        if (!r.v) {
            continue;
        }
        if (nres == 0) {
            res1 = r;
            nres = 1;
            continue;
        }
        if (nres == 1) {
            /* flush the first result into acc */
            if (ef_val_type(res1.v) != EF_ARR || (res1.f & JF_CONS)) {
                seq_push(&acc, res1.v);
            } else {
                size_t m = ef_val_arr_len(res1.v);
                for (size_t j = 0; j < m; j++) {
                    seq_push(&acc, ef_val_ref(ef_val_arr_at(res1.v, j)));
                }
                ef_val_unref(res1.v);
            }
            res1.v = NULL;
        }
        nres++;
        if (ef_val_type(r.v) != EF_ARR || (r.f & JF_CONS)) {
            seq_push(&acc, r.v);
        } else {
            size_t m = ef_val_arr_len(r.v);
            for (size_t j = 0; j < m; j++) {
                seq_push(&acc, ef_val_ref(ef_val_arr_at(r.v, j)));
            }
            ef_val_unref(r.v);
        }
    }
    if (nres == 1) {
        if (ef_val_type(res1.v) == EF_ARR) {
            if (last && !(res1.f & JF_SEQ)) {
                *out = res1; /* a plain array: kept as is */
                return 0;
            }
            if (res1.f & JF_CONS) {
                seq_push(&acc, res1.v);
                *out = seq_take(&acc);
                return 0;
            }
            /* flatten: the array's items form the sequence */
            out->v = res1.v;
            out->f = JF_SEQ;
            if (ef_val_refcount(out->v) > 1 || !(res1.f & JF_SEQ)) {
                /* keep sharing: a sequence view of the same items */
                struct ef_val *copy = ef_val_arr();
                size_t m = ef_val_arr_len(res1.v);
                for (size_t j = 0; j < m; j++) {
                    ef_val_arr_push_take(copy, ef_val_ref(ef_val_arr_at(res1.v, j)));
                }
                ef_val_unref(res1.v);
                out->v = copy;
            }
            return 0;
        }
        /* single non-array: a sequence of one, kept unboxed */
        out->v = res1.v;
        out->f = JF_SEQ | 0x100; /* 0x100: unboxed singleton sequence */
        return 0;
    }
    if (nres == 0) {
        return 0;
    }
    *out = seq_take(&acc);
    return 0;
}

/* Items of a step result, as a borrowed C array view. */
struct view {
    struct ef_val **v;
    size_t n;
    struct ef_val *one;
};

static void view_of(struct jv *r, struct view *w)
{
    if (!r->v) {
        w->v = NULL;
        w->n = 0;
    } else if ((r->f & 0x100) || ef_val_type(r->v) != EF_ARR) {
        w->one = r->v;
        w->v = &w->one;
        w->n = 1;
    } else {
        w->n = ef_val_arr_len(r->v);
        w->v = w->n ? ef_val_arr_slot(r->v, 0) : NULL;
    }
}

static int eval_stages_tuple(struct jsonata__ctx *c, const struct jsonata__node *step,
                             struct jv *res, struct jsonata__env *env)
{
    for (int s = 0; s < step->nstages; s++) {
        const struct jsonata__stage *st = &step->stages[s];
        if (st->is_index) {
            size_t n = ef_val_arr_len(res->v);
            for (size_t i = 0; i < n; i++) {
                struct ef_val **slot = ef_val_arr_slot(res->v, i);
                struct ef_val *t = ef_val_mut(slot);
                ef_val_obj_set_take(t, st->var, ef_val_num((double)i));
            }
        } else {
            struct jv tmp;
            int rc = filter(c, st->expr, res, env, &tmp);
            jv_drop(res);
            if (rc < 0) {
                return -1;
            }
            *res = tmp;
            if (!res->v) {
                res->v = ef_val_arr();
            }
            res->f = JF_SEQ | JF_TUPLE;
        }
    }
    return 0;
}

static int eval_tuple_step(struct jsonata__ctx *c, const struct jsonata__node *step,
                           struct ef_val *const *in, size_t nin, struct jv *tuples,
                           struct jsonata__env *env, struct jv *out)
{
    out->v = NULL;
    out->f = 0;
    if (step->type == N_SORT) {
        if (tuples->v) {
            if (sort_items(c, step, tuples, env, out) < 0) {
                return -1;
            }
            out->f = JF_SEQ | JF_TUPLE;
        } else {
            struct jv inj = {ef_val_arr(), JF_SEQ};
            for (size_t i = 0; i < nin; i++) {
                if (in[i]) {
                    ef_val_arr_push_take(inj.v, ef_val_ref(in[i]));
                }
            }
            struct jv sorted;
            int rc = sort_items(c, step, &inj, env, &sorted);
            jv_drop(&inj);
            if (rc < 0) {
                return -1;
            }
            out->v = ef_val_arr();
            out->f = JF_SEQ | JF_TUPLE;
            struct view w;
            view_of(&sorted, &w);
            for (size_t i = 0; i < w.n; i++) {
                struct ef_val *t = ef_val_obj();
                ef_val_obj_set_take(t, AT, ef_val_ref(w.v[i]));
                if (step->index) {
                    ef_val_obj_set_take(t, step->index, ef_val_num((double)i));
                }
                ef_val_arr_push_take(out->v, t);
            }
            jv_drop(&sorted);
        }
        return eval_stages_tuple(c, step, out, env);
    }
    struct ef_val *tb = tuples->v;
    bool own_tb = false;
    if (!tb) {
        tb = ef_val_arr();
        own_tb = true;
        for (size_t i = 0; i < nin; i++) {
            struct ef_val *t = ef_val_obj();
            if (in[i]) {
                ef_val_obj_set_take(t, AT, ef_val_ref(in[i]));
            }
            ef_val_arr_push_take(tb, t);
        }
    }
    struct ef_val *result = ef_val_arr();
    size_t nt = ef_val_arr_len(tb);
    char lab[16];
    if (step->ancestor) {
        label_name(step->ancestor->label, lab);
    }
    for (size_t e = 0; e < nt; e++) {
        struct ef_val *tup = ef_val_arr_at(tb, e);
        struct jsonata__env *f = tuple_frame(c, env, tup);
        struct jv r;
        int rc = f ? jsonata__eval(c, step, tuple_get(tup, AT), f, &r) : -1;
        jsonata__env_unref(f);
        if (rc < 0) {
            ef_val_unref(result);
            if (own_tb) {
                ef_val_unref(tb);
            }
            return -1;
        }
        if (!r.v) {
            continue;
        }
        struct view w;
        struct ef_val *one = r.v;
        bool is_arr = ef_val_type(r.v) == EF_ARR;
        size_t cnt = is_arr ? ef_val_arr_len(r.v) : 1;
        (void)w;
        for (size_t bb = 0; bb < cnt; bb++) {
            struct ef_val *item = is_arr ? ef_val_arr_at(r.v, bb) : one;
            struct ef_val *nt2 = ef_val_ref(tup);
            struct ef_val *t = ef_val_mut(&nt2);
            if (r.f & JF_TUPLE) {
                size_t kn = ef_val_obj_len(item);
                for (size_t k = 0; k < kn; k++) {
                    size_t kl;
                    const char *key = ef_val_obj_key_at(item, k, &kl);
                    ef_val_obj_setn_take(t, key, kl, ef_val_ref(ef_val_obj_val_at(item, k)));
                }
            } else {
                if (step->focus) {
                    ef_val_obj_set_take(t, step->focus, ef_val_ref(item));
                } else {
                    ef_val_obj_set_take(t, AT, ef_val_ref(item));
                }
                if (step->index) {
                    ef_val_obj_set_take(t, step->index, ef_val_num((double)bb));
                }
                if (step->ancestor) {
                    struct ef_val *at = tuple_get(tup, AT);
                    ef_val_obj_set_take(t, lab, ef_val_ref(at));
                }
            }
            ef_val_arr_push_take(result, t);
        }
        jv_drop(&r);
    }
    if (own_tb) {
        ef_val_unref(tb);
    }
    out->v = result;
    out->f = JF_SEQ | JF_TUPLE;
    return eval_stages_tuple(c, step, out, env);
}

static int eval_path(struct jsonata__ctx *c, const struct jsonata__node *n, struct ef_val *input,
                     struct jsonata__env *env, struct jv *out)
{
    struct ef_val *one = input;
    struct ef_val **in;
    size_t nin;
    if (input && ef_val_type(input) == EF_ARR && n->items[0]->type != N_VARIABLE &&
        input != c->input) {
        nin = ef_val_arr_len(input);
        in = nin ? ef_val_arr_slot(input, 0) : NULL;
    } else {
        in = &one;
        nin = 1;
    }
    struct jv cur = {NULL, 0}; /* current result sequence */
    struct jv tuples = {NULL, 0};
    bool tuple_mode = false;
    int rc = 0;
    for (int i = 0; i < n->nitems; i++) {
        const struct jsonata__node *step = n->items[i];
        if (step->tuple) {
            tuple_mode = true;
        }
        struct jv res;
        if (i == 0 && step->cons_array) {
            rc = jsonata__eval(c, step, input, env, &res);
        } else if (tuple_mode) {
            rc = eval_tuple_step(c, step, in, nin, &tuples, env, &res);
            if (rc == 0) {
                jv_drop(&tuples);
                tuples = res;
                res.v = NULL;
                res.f = 0;
            }
        } else {
            rc = eval_step(c, step, in, nin, env, i == n->nitems - 1, &res);
        }
        if (rc < 0) {
            jv_drop(&cur);
            jv_drop(&tuples);
            return -1;
        }
        if (!tuple_mode) {
            if (!res.v ||
                (ef_val_type(res.v) == EF_ARR && !(res.f & 0x100) && ef_val_arr_len(res.v) == 0)) {
                /* an empty result ends the path; a constructed [] is kept */
                jv_drop(&cur);
                cur = res;
                break;
            }
        }
        if (!step->focus && !tuple_mode) {
            jv_drop(&cur);
            cur = res;
            struct view w;
            view_of(&cur, &w);
            in = w.v;
            nin = w.n;
            if (w.v == &w.one) {
                one = w.one;
                in = &one;
            }
        } else {
            jv_drop(&res);
        }
    }
    if (tuple_mode) {
        jv_drop(&cur);
        if (n->tuple) {
            cur = tuples;
            tuples.v = NULL;
        } else {
            struct seq s;
            seq_init(&s);
            size_t nt = ef_val_arr_len(tuples.v);
            for (size_t i = 0; i < nt; i++) {
                struct ef_val *at = tuple_get(ef_val_arr_at(tuples.v, i), AT);
                if (at) {
                    seq_push(&s, ef_val_ref(at));
                }
            }
            cur = seq_take(&s);
        }
    }
    /* normalise an unboxed singleton into a real sequence when needed */
    if (cur.v && (cur.f & 0x100)) {
        cur.f &= ~0x100u;
        if (n->keep_singleton || n->has_group) {
            cur.v = jsonata__wrap(cur.v);
        } else {
            cur.f = 0; /* a sequence of one unwraps to its item anyway */
        }
    }
    if (n->keep_singleton) {
        if (!cur.v) {
            /* nothing */
        } else if (ef_val_type(cur.v) == EF_ARR && (cur.f & JF_CONS) && !(cur.f & JF_SEQ)) {
            cur.v = jsonata__wrap(cur.v);
            cur.f = JF_SEQ;
        } else if (ef_val_type(cur.v) != EF_ARR) {
            cur.v = jsonata__wrap(cur.v);
            cur.f = JF_SEQ;
        }
        if (cur.v) {
            cur.f |= JF_KEEP;
        }
    }
    if (n->has_group) {
        struct jv g;
        struct jv gin = tuple_mode ? tuples : cur;
        if (tuple_mode && !gin.v) {
            gin.v = NULL;
        }
        rc = group_expr(c, n->group, n->ngroup, n->group_pos, &gin, env, &g);
        jv_drop(&cur);
        jv_drop(&tuples);
        if (rc < 0) {
            return -1;
        }
        *out = g;
        return 0;
    }
    jv_drop(&tuples);
    *out = cur;
    return 0;
}

/* ---- filters (predicates) ---- */

static int filter(struct jsonata__ctx *c, const struct jsonata__node *pred, struct jv *in,
                  struct jsonata__env *env, struct jv *out)
{
    out->v = NULL;
    out->f = JF_SEQ;
    bool tuple = (in->f & JF_TUPLE) != 0;
    struct ef_val *one = in->v;
    struct ef_val **items;
    size_t n;
    if (!in->v) {
        n = 1;
        items = &one;
    } else if (ef_val_type(in->v) == EF_ARR) {
        n = ef_val_arr_len(in->v);
        items = n ? ef_val_arr_slot(in->v, 0) : NULL;
    } else {
        n = 1;
        items = &one;
    }
    struct seq s;
    seq_init(&s);
    if (pred->type == N_NUMBER) {
        double idx = floor(pred->num);
        if (idx < 0) {
            idx += (double)n;
        }
        if (idx >= 0 && idx < (double)n) {
            struct ef_val *item = items[(size_t)idx];
            if (item && ef_val_type(item) == EF_ARR) {
                out->v = ef_val_ref(item);
                out->f = 0;
                return 0;
            }
            if (item) {
                seq_push(&s, ef_val_ref(item));
            }
        }
        *out = seq_take(&s);
        if (tuple) {
            out->f |= JF_TUPLE;
        }
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        struct ef_val *item = items[i];
        struct ef_val *ctxv = item;
        struct jsonata__env *e = env;
        struct jsonata__env *fr = NULL;
        if (tuple) {
            ctxv = tuple_get(item, AT);
            fr = e = tuple_frame(c, env, item);
            if (!fr) {
                seq_free(&s);
                return jsonata__error(c, "D1001", pred->pos, NULL);
            }
        }
        struct jv r;
        int rc = jsonata__eval(c, pred, ctxv, e, &r);
        jsonata__env_unref(fr);
        if (rc < 0) {
            seq_free(&s);
            return -1;
        }
        bool keep = false;
        if (jsonata__is_number(r.v)) {
            double ii = floor(ef_val_num_get(r.v));
            if (ii < 0) {
                ii += (double)n;
            }
            keep = ii == (double)i;
        } else if (r.v && ef_val_type(r.v) == EF_ARR && ef_val_arr_len(r.v) > 0) {
            size_t m = ef_val_arr_len(r.v);
            bool allnum = true;
            for (size_t j = 0; j < m; j++) {
                if (!jsonata__is_number(ef_val_arr_at(r.v, j))) {
                    allnum = false;
                    break;
                }
            }
            if (allnum) {
                for (size_t j = 0; j < m; j++) {
                    double ii = floor(ef_val_num_get(ef_val_arr_at(r.v, j)));
                    if (ii < 0) {
                        ii += (double)n;
                    }
                    if (ii == (double)i) {
                        if (seq_push(&s, ef_val_ref(item)) < 0) {
                            break;
                        }
                    }
                }
            } else {
                keep = jsonata__truthy(r.v);
            }
        } else {
            keep = jsonata__truthy(r.v);
        }
        jv_drop(&r);
        if (keep && item) {
            seq_push(&s, ef_val_ref(item));
        }
    }
    *out = seq_take(&s);
    if (tuple) {
        out->f |= JF_TUPLE;
    }
    return 0;
}

/* ---- group-by / object constructor ---- */

struct group {
    const char *key;
    size_t klen;
    struct ef_val *keyv;
    struct ef_val *data;
    int expr;
};

static struct ef_val *reduce_tuples(struct ef_val *data)
{
    if (ef_val_type(data) != EF_ARR) {
        return ef_val_ref(data);
    }
    size_t n = ef_val_arr_len(data);
    struct ef_val *r = ef_val_obj();
    if (n == 0) {
        return r;
    }
    struct ef_val *first = ef_val_arr_at(data, 0);
    size_t kn = ef_val_obj_len(first);
    for (size_t k = 0; k < kn; k++) {
        size_t kl;
        const char *key = ef_val_obj_key_at(first, k, &kl);
        ef_val_obj_setn_take(r, key, kl, ef_val_ref(ef_val_obj_val_at(first, k)));
    }
    for (size_t i = 1; i < n; i++) {
        struct ef_val *t = ef_val_arr_at(data, i);
        kn = ef_val_obj_len(t);
        for (size_t k = 0; k < kn; k++) {
            size_t kl;
            const char *key = ef_val_obj_key_at(t, k, &kl);
            struct ef_val *prev = ef_val_ref(ef_val_obj_getn(r, key, kl));
            struct ef_val *nv = jsonata__append(prev, ef_val_ref(ef_val_obj_val_at(t, k)));
            ef_val_obj_setn_take(r, key, kl, nv);
        }
    }
    return r;
}

static int group_expr(struct jsonata__ctx *c, struct jsonata__node *const *pairs, int npairs,
                      int gpos, struct jv *in, struct jsonata__env *env, struct jv *out)
{
    out->v = NULL; /* also on failure: callers drop what they get */
    out->f = 0;
    bool reduce = (in->f & JF_TUPLE) != 0;
    struct ef_val *one = in->v;
    struct ef_val **items;
    size_t n;
    if (in->v && ef_val_type(in->v) == EF_ARR && (in->f & (JF_SEQ | JF_TUPLE))) {
        n = ef_val_arr_len(in->v);
        items = n ? ef_val_arr_slot(in->v, 0) : NULL;
    } else if (in->v && ef_val_type(in->v) == EF_ARR) {
        n = ef_val_arr_len(in->v);
        items = n ? ef_val_arr_slot(in->v, 0) : NULL;
    } else {
        n = 1;
        items = &one;
    }
    if (n == 0 && !reduce) {
        n = 1;
        one = NULL;
        items = &one;
    }
    int np = npairs / 2;
    struct group *groups = NULL;
    size_t ng = 0, cg = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct ef_val *item = items[i];
        struct jsonata__env *e = env, *fr = NULL;
        if (reduce) {
            fr = e = tuple_frame(c, env, item);
        }
        for (int p = 0; p < np; p++) {
            struct jv k;
            if (jsonata__eval(c, pairs[2 * p], reduce ? tuple_get(item, AT) : item, e, &k) < 0) {
                rc = -1;
                break;
            }
            if (k.v && ef_val_type(k.v) != EF_STR) {
                jsonata__error_val(c, "T1003", gpos, NULL, k.v);
                jv_drop(&k);
                rc = -1;
                break;
            }
            if (!k.v) {
                continue;
            }
            const char *ks = ef_val_str_get(k.v);
            size_t kl = ef_val_str_len(k.v);
            size_t g;
            for (g = 0; g < ng; g++) {
                if (groups[g].klen == kl && memcmp(groups[g].key, ks, kl) == 0) {
                    break;
                }
            }
            if (g < ng) {
                if (groups[g].expr != p) {
                    jsonata__error_val(c, "D1009", gpos, NULL, k.v);
                    jv_drop(&k);
                    rc = -1;
                    break;
                }
                groups[g].data = jsonata__append(groups[g].data, ef_val_ref(item));
                jv_drop(&k);
            } else {
                if (ng == cg) {
                    cg = cg ? cg * 2 : 8;
                    groups = realloc(groups, cg * sizeof(*groups));
                }
                groups[ng].keyv = k.v;
                groups[ng].key = ks;
                groups[ng].klen = kl;
                groups[ng].data = ef_val_ref(item);
                if (!groups[ng].data) {
                    groups[ng].data = NULL;
                }
                groups[ng].expr = p;
                ng++;
            }
        }
        jsonata__env_unref(fr);
    }
    struct ef_val *result = NULL;
    if (rc == 0) {
        result = ef_val_obj();
        for (size_t g = 0; g < ng; g++) {
            struct ef_val *ctxv = groups[g].data;
            struct jsonata__env *e = env, *fr = NULL;
            struct ef_val *tup = NULL;
            if (reduce) {
                tup = reduce_tuples(groups[g].data);
                ctxv = tuple_get(tup, AT);
                struct ef_val *t2 = ef_val_ref(tup);
                ef_val_mut(&t2);
                ef_val_obj_del(t2, AT, 1);
                fr = e = tuple_frame(c, env, t2);
                ef_val_unref(t2);
            }
            struct jv v;
            struct jv cj = {ef_val_ref(ctxv), 0};
            if (ctxv && ef_val_type(ctxv) == EF_ARR && !reduce) {
                cj.f = JF_SEQ;
            }
            int r2 = jsonata__eval(c, pairs[2 * groups[g].expr + 1], cj.v, e, &v);
            jv_drop(&cj);
            jsonata__env_unref(fr);
            ef_val_unref(tup);
            if (r2 < 0) {
                rc = -1;
                break;
            }
            if (v.v) {
                struct ef_val *pv = jsonata__seq_finish(&v);
                ef_val_obj_setn_take(result, groups[g].key, groups[g].klen, pv);
            }
        }
    }
    for (size_t g = 0; g < ng; g++) {
        ef_val_unref(groups[g].keyv);
        ef_val_unref(groups[g].data);
    }
    free(groups);
    if (rc < 0) {
        ef_val_unref(result);
        return -1;
    }
    out->v = result;
    out->f = 0;
    return 0;
}

/* ---- sorting ---- */

struct sort_ctx {
    struct jsonata__ctx *c;
    const struct jsonata__node *sort;
    struct jsonata__env *env;
    bool tuple;
    bool failed;
    struct ef_val ***keys; /* keys[i][term] */
};

static int cmp_keys(struct sort_ctx *sc, size_t a, size_t b)
{
    const struct jsonata__node *s = sc->sort;
    for (int t = 0; t < s->nitems; t++) {
        struct ef_val *aa = sc->keys[a][t];
        struct ef_val *bb = sc->keys[b][t];
        int comp = 0;
        if (!aa) {
            comp = bb ? 1 : 0;
            if (comp) {
                return comp;
            }
            continue;
        }
        if (!bb) {
            return -1;
        }
        enum ef_type at = ef_val_type(aa), bt = ef_val_type(bb);
        if (at == EF_NUM && bt == EF_NUM) {
            double x = ef_val_num_get(aa), y = ef_val_num_get(bb);
            comp = x < y ? -1 : x > y ? 1 : 0;
        } else {
            int l = strcmp(ef_val_str_get(aa), ef_val_str_get(bb));
            comp = l < 0 ? -1 : l > 0 ? 1 : 0;
        }
        if (comp == 0) {
            continue;
        }
        return s->desc[t] ? -comp : comp;
    }
    return 0;
}

static void merge_sort(struct sort_ctx *sc, size_t *idx, size_t *tmp, size_t n)
{
    if (n < 2) {
        return;
    }
    size_t h = n / 2;
    merge_sort(sc, idx, tmp, h);
    merge_sort(sc, idx + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        if (cmp_keys(sc, idx[j], idx[i]) < 0) {
            tmp[k++] = idx[j++];
        } else {
            tmp[k++] = idx[i++];
        }
    }
    while (i < h) {
        tmp[k++] = idx[i++];
    }
    while (j < n) {
        tmp[k++] = idx[j++];
    }
    memcpy(idx, tmp, n * sizeof(*idx));
}

static int sort_items(struct jsonata__ctx *c, const struct jsonata__node *sort, struct jv *in,
                      struct jsonata__env *env, struct jv *out)
{
    out->v = NULL;
    out->f = 0;
    if (!in->v) {
        return 0;
    }
    struct ef_val *arr = in->v;
    bool tuple = (in->f & JF_TUPLE) != 0;
    struct ef_val *tmpa = NULL;
    if (ef_val_type(arr) != EF_ARR) {
        tmpa = arr = jsonata__wrap(ef_val_ref(arr));
    }
    size_t n = ef_val_arr_len(arr);
    int nt = sort->nitems;
    struct ef_val ***keys = calloc(n ? n : 1, sizeof(*keys));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        keys[i] = calloc((size_t)nt, sizeof(**keys));
        struct ef_val *item = ef_val_arr_at(arr, i);
        struct ef_val *ctxv = item;
        struct jsonata__env *e = env, *fr = NULL;
        if (tuple) {
            ctxv = tuple_get(item, AT);
            fr = e = tuple_frame(c, env, item);
        }
        for (int t = 0; t < nt; t++) {
            struct jv k;
            if (jsonata__eval(c, sort->items[t], ctxv, e, &k) < 0) {
                rc = -1;
                break;
            }
            struct ef_val *kv = jsonata__seq_finish(&k);
            if (kv && ef_val_type(kv) != EF_NUM && ef_val_type(kv) != EF_STR) {
                jsonata__error_val(c, "T2008", sort->pos, NULL, kv);
                ef_val_unref(kv);
                rc = -1;
                break;
            }
            keys[i][t] = kv;
        }
        jsonata__env_unref(fr);
    }
    if (rc == 0) {
        /* type consistency per term (T2007) */
        for (int t = 0; t < nt && rc == 0; t++) {
            enum ef_type seen = EF_NULL;
            struct ef_val *first = NULL;
            for (size_t i = 0; i < n; i++) {
                struct ef_val *k = keys[i][t];
                if (!k) {
                    continue;
                }
                if (!first) {
                    first = k;
                    seen = ef_val_type(k);
                } else if (ef_val_type(k) != seen) {
                    jsonata__error_val(c, "T2007", sort->pos, NULL, first);
                    jsonata__value_json(k, c->err.value2, sizeof(c->err.value2));
                    rc = -1;
                    break;
                }
            }
        }
    }
    if (rc == 0) {
        size_t *idx = malloc((n ? n : 1) * sizeof(size_t));
        size_t *tmp = malloc((n ? n : 1) * sizeof(size_t));
        for (size_t i = 0; i < n; i++) {
            idx[i] = i;
        }
        struct sort_ctx sc = {c, sort, env, tuple, false, keys};
        merge_sort(&sc, idx, tmp, n);
        out->v = ef_val_arr();
        out->f = JF_SEQ | (tuple ? JF_TUPLE : 0);
        for (size_t i = 0; i < n; i++) {
            ef_val_arr_push_take(out->v, ef_val_ref(ef_val_arr_at(arr, idx[i])));
        }
        free(idx);
        free(tmp);
    }
    for (size_t i = 0; i < n; i++) {
        if (keys[i]) {
            for (int t = 0; t < nt; t++) {
                ef_val_unref(keys[i][t]);
            }
            free(keys[i]);
        }
    }
    free(keys);
    ef_val_unref(tmpa);
    return rc;
}

/* ---- operators ---- */

static int num_result(struct jsonata__ctx *c, double d, int pos, struct jv *out)
{
    (void)c;
    (void)pos;
    out->v = ef_val_num(d);
    out->f = 0;
    return 0;
}

static const char *op_text(const struct jsonata__node *n)
{
    return n->str ? n->str : "";
}

static int eval_binary(struct jsonata__ctx *c, const struct jsonata__node *n, struct ef_val *input,
                       struct jsonata__env *env, struct jv *out)
{
    struct jv l, r = {NULL, 0};
    out->v = NULL;
    out->f = 0;
    if (jsonata__eval(c, n->lhs, input, env, &l) < 0) {
        return -1;
    }
    if (n->op == OP_AND || n->op == OP_OR) {
        bool lb = jsonata__truthy(l.v);
        jv_drop(&l);
        if ((n->op == OP_AND && !lb) || (n->op == OP_OR && lb)) {
            out->v = ef_val_bool(lb);
            return 0;
        }
        if (jsonata__eval(c, n->rhs, input, env, &r) < 0) {
            return -1;
        }
        out->v = ef_val_bool(jsonata__truthy(r.v));
        jv_drop(&r);
        return 0;
    }
    if (jsonata__eval(c, n->rhs, input, env, &r) < 0) {
        jv_drop(&l);
        return -1;
    }
    struct ef_val *a = l.v, *b = r.v;
    int rc = 0;
    switch (n->op) {
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
    case OP_MOD: {
        if ((a && ef_val_type(a) == EF_NUM && isinf(ef_val_num_get(a))) ||
            (b && ef_val_type(b) == EF_NUM && isinf(ef_val_num_get(b)))) {
            rc = jsonata__error_val(c, "D1001", n->pos, op_text(n), NULL);
            break;
        }
        if (a && !jsonata__is_number(a)) {
            rc = jsonata__error_val(c, "T2001", n->pos, op_text(n), a);
            break;
        }
        if (b && !jsonata__is_number(b)) {
            rc = jsonata__error_val(c, "T2002", n->pos, op_text(n), b);
            break;
        }
        if (!a || !b) {
            break;
        }
        double x = ef_val_num_get(a), y = ef_val_num_get(b), z = 0;
        switch (n->op) {
        case OP_ADD: z = x + y; break;
        case OP_SUB: z = x - y; break;
        case OP_MUL: z = x * y; break;
        case OP_DIV: z = x / y; break;
        default: z = fmod(x, y); break;
        }
        rc = num_result(c, z, n->pos, out);
        break;
    }
    case OP_EQ:
    case OP_NE: {
        if (!a || !b) {
            out->v = ef_val_bool(false);
            break;
        }
        bool eq = jsonata__deep_equal(a, b);
        out->v = ef_val_bool(n->op == OP_EQ ? eq : !eq);
        break;
    }
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE: {
        bool lc = !a || ef_val_type(a) == EF_STR || ef_val_type(a) == EF_NUM;
        bool rcmp = !b || ef_val_type(b) == EF_STR || ef_val_type(b) == EF_NUM;
        if (!lc || !rcmp) {
            bool lok = a && (ef_val_type(a) == EF_STR || ef_val_type(a) == EF_NUM);
            rc = jsonata__error_val(c, "T2010", n->pos, op_text(n), lok ? b : a);
            break;
        }
        if (!a || !b) {
            break;
        }
        if (ef_val_type(a) != ef_val_type(b)) {
            rc = jsonata__error_val(c, "T2009", n->pos, op_text(n), a);
            jsonata__value_json(b, c->err.value2, sizeof(c->err.value2));
            break;
        }
        int cmp;
        if (ef_val_type(a) == EF_NUM) {
            double x = ef_val_num_get(a), y = ef_val_num_get(b);
            bool res = n->op == OP_LT   ? x < y
                       : n->op == OP_LE ? x <= y
                       : n->op == OP_GT ? x > y
                                        : x >= y;
            out->v = ef_val_bool(res);
            break;
        }
        /* JavaScript compares strings by UTF-16 code units; UTF-8 byte order
         * matches except for supplementary vs U+E000..U+FFFF, ignored here. */
        cmp = strcmp(ef_val_str_get(a), ef_val_str_get(b));
        bool res = n->op == OP_LT   ? cmp < 0
                   : n->op == OP_LE ? cmp <= 0
                   : n->op == OP_GT ? cmp > 0
                                    : cmp >= 0;
        out->v = ef_val_bool(res);
        break;
    }
    case OP_CONCAT: {
        size_t la = 0, lb = 0;
        char *sa = NULL, *sb = NULL;
        if (a) {
            if (ef_val_type(a) == EF_STR) {
                sa = strdup(ef_val_str_get(a));
                la = ef_val_str_len(a);
            } else if (jsonata__is_fn(a)) {
                sa = strdup("");
            } else {
                if (ef_val_type(a) == EF_NUM && !isfinite(ef_val_num_get(a))) {
                    rc = jsonata__error_val(c, "D3001", n->pos, NULL, a);
                    break;
                }
                if (jsonata__has_infinite(a)) {
                    rc = jsonata__error_val(c, "D1001", n->pos, NULL, NULL);
                    break;
                }
                sa = jsonata__stringify(a, false, &la);
            }
        }
        if (b) {
            if (ef_val_type(b) == EF_STR) {
                sb = strdup(ef_val_str_get(b));
                lb = ef_val_str_len(b);
            } else if (jsonata__is_fn(b)) {
                sb = strdup("");
            } else {
                if (ef_val_type(b) == EF_NUM && !isfinite(ef_val_num_get(b))) {
                    free(sa);
                    rc = jsonata__error_val(c, "D3001", n->pos, NULL, b);
                    break;
                }
                if (jsonata__has_infinite(b)) {
                    free(sa);
                    rc = jsonata__error_val(c, "D1001", n->pos, NULL, NULL);
                    break;
                }
                sb = jsonata__stringify(b, false, &lb);
            }
        }
        char *s = malloc(la + lb + 1);
        if (s) {
            if (la) {
                memcpy(s, sa, la);
            }
            if (lb) {
                memcpy(s + la, sb, lb);
            }
            s[la + lb] = 0;
            out->v = ef_val_str_take(s, la + lb);
        }
        free(sa);
        free(sb);
        break;
    }
    case OP_IN: {
        bool found = false;
        if (a && b) {
            if (ef_val_type(b) == EF_ARR) {
                size_t m = ef_val_arr_len(b);
                for (size_t i = 0; i < m && !found; i++) {
                    struct ef_val *x = ef_val_arr_at(b, i);
                    enum ef_type t = ef_val_type(x);
                    if (t == ef_val_type(a) && t != EF_ARR && t != EF_OBJ) {
                        found = ef_val_equal(a, x);
                    } else if (x == a) {
                        found = true;
                    }
                }
            } else {
                enum ef_type t = ef_val_type(b);
                found = (t == ef_val_type(a) && t != EF_ARR && t != EF_OBJ) ? ef_val_equal(a, b)
                                                                            : a == b;
            }
        }
        out->v = ef_val_bool(found);
        break;
    }
    case OP_RANGE: {
        if (a && (ef_val_type(a) != EF_NUM || ef_val_num_get(a) != floor(ef_val_num_get(a)))) {
            rc = jsonata__error_val(c, "T2003", n->pos, "..", a);
            break;
        }
        if (b && (ef_val_type(b) != EF_NUM || ef_val_num_get(b) != floor(ef_val_num_get(b)))) {
            rc = jsonata__error_val(c, "T2004", n->pos, "..", b);
            break;
        }
        if (!a || !b) {
            break;
        }
        double lo = ef_val_num_get(a), hi = ef_val_num_get(b);
        if (lo > hi) {
            break;
        }
        double size = hi - lo + 1;
        if (size > 1e7) {
            struct ef_val *sv = ef_val_num(size);
            rc = jsonata__error_val(c, "D2014", n->pos, "..", sv);
            ef_val_unref(sv);
            break;
        }
        out->v = ef_val_arr();
        out->f = JF_SEQ;
        for (double d = lo; d <= hi; d++) {
            ef_val_arr_push_take(out->v, ef_val_num(d));
            if ((((long)(d - lo)) & 0xffff) == 0xffff && jsonata__check_time(c) < 0) {
                rc = -1;
                break;
            }
        }
        break;
    }
    default: break;
    }
    jv_drop(&l);
    jv_drop(&r);
    if (rc < 0) {
        jv_drop(out);
    }
    return rc;
}

/* ---- wildcard and descendants ---- */

static void flatten_into(struct seq *s, struct ef_val *v)
{
    if (v && ef_val_type(v) == EF_ARR) {
        size_t n = ef_val_arr_len(v);
        for (size_t i = 0; i < n; i++) {
            flatten_into(s, ef_val_arr_at(v, i));
        }
    } else {
        seq_push(s, ef_val_ref(v));
    }
}

static int eval_wildcard(struct ef_val *input, struct jv *out)
{
    struct seq s;
    seq_init(&s);
    if (input && ef_val_type(input) == EF_OBJ) {
        size_t n = ef_val_obj_len(input);
        for (size_t i = 0; i < n; i++) {
            struct ef_val *v = ef_val_obj_val_at(input, i);
            flatten_into(&s, v);
        }
    } else if (input && ef_val_type(input) == EF_ARR) {
        size_t n = ef_val_arr_len(input);
        for (size_t i = 0; i < n; i++) {
            flatten_into(&s, ef_val_arr_at(input, i));
        }
    }
    *out = seq_take(&s);
    return 0;
}

static void descend(struct seq *s, struct ef_val *v)
{
    if (!v) {
        return;
    }
    if (ef_val_type(v) != EF_ARR) {
        seq_push(s, ef_val_ref(v));
    }
    if (ef_val_type(v) == EF_ARR) {
        size_t n = ef_val_arr_len(v);
        for (size_t i = 0; i < n; i++) {
            descend(s, ef_val_arr_at(v, i));
        }
    } else if (ef_val_type(v) == EF_OBJ) {
        size_t n = ef_val_obj_len(v);
        for (size_t i = 0; i < n; i++) {
            descend(s, ef_val_obj_val_at(v, i));
        }
    }
}

/* ---- node dispatch ---- */

static int eval_array(struct jsonata__ctx *c, const struct jsonata__node *n, struct ef_val *input,
                      struct jsonata__env *env, struct jv *out)
{
    struct ef_val *res = ef_val_arr();
    for (int i = 0; i < n->nitems; i++) {
        struct jv v;
        if (jsonata__eval(c, n->items[i], input, env, &v) < 0) {
            ef_val_unref(res);
            return -1;
        }
        if (!v.v) {
            continue;
        }
        if (n->items[i]->type == N_ARRAY) {
            ef_val_arr_push_take(res, v.v);
        } else {
            res = jsonata__append(res, v.v);
        }
    }
    out->v = res;
    out->f = n->cons_array ? JF_CONS : 0;
    return 0;
}

static int eval_variable(struct jsonata__ctx *c, const struct jsonata__node *n,
                         struct ef_val *input, struct jsonata__env *env, struct jv *out)
{
    out->v = NULL;
    out->f = 0;
    if (n->slen == 0) {
        out->v = ef_val_ref(input);
        return 0;
    }
    struct jv *b = jsonata__env_lookup(env, n->str, n->slen);
    if (b) {
        out->v = ef_val_ref(b->v);
        out->f = b->f & ~(unsigned)JF_TUPLE;
        return 0;
    }
    if (c->opts) {
        for (size_t i = 0; i < c->opts->nnatives; i++) {
            const struct ef_jsonata_native *nt = &c->opts->natives[i];
            if (strlen(nt->name) == n->slen && memcmp(nt->name, n->str, n->slen) == 0) {
                struct jsonata__fn *f = calloc(1, sizeof(*f));
                if (!f) {
                    return jsonata__error(c, "D1001", n->pos, NULL);
                }
                f->kind = FN_NATIVE;
                f->native = nt;
                if (nt->signature) {
                    f->native_sig = calloc(1, sizeof(*f->native_sig));
                    if (f->native_sig &&
                        jsonata__sig_parse(nt->signature, f->native_sig, &c->err) < 0) {
                        free(f->native_sig);
                        f->native_sig = NULL;
                    }
                }
                out->v = ef_val_handle(f, &ef_jsonata_function_type);
                return 0;
            }
        }
    }
    if (n->builtin >= 0) {
        out->v = jsonata__fn_builtin(n->builtin);
    }
    return 0;
}

static int eval_lambda(struct jsonata__ctx *c, const struct jsonata__node *n, struct ef_val *input,
                       struct jsonata__env *env, struct jv *out)
{
    struct jsonata__fn *f = calloc(1, sizeof(*f));
    if (!f) {
        return jsonata__error(c, "D1001", n->pos, NULL);
    }
    f->kind = FN_LAMBDA;
    f->node = n;
    f->env = env;
    env->refs++;
    f->input = ef_val_ref(input);
    f->ctx = c;
    f->next = c->fns;
    if (c->fns) {
        c->fns->prev = f;
    }
    c->fns = f;
    f->arity = n->nitems;
    out->v = ef_val_handle(f, &ef_jsonata_function_type);
    out->f = 0;
    return out->v ? 0 : jsonata__error(c, "D1001", n->pos, NULL);
}

static int eval_node(struct jsonata__ctx *c, const struct jsonata__node *n, struct ef_val *input,
                     struct jsonata__env *env, struct jv *out)
{
    out->v = NULL;
    out->f = 0;
    switch (n->type) {
    case N_PATH: return eval_path(c, n, input, env, out);
    case N_BINARY: return eval_binary(c, n, input, env, out);
    case N_NEG: {
        struct jv v;
        if (jsonata__eval(c, n->lhs, input, env, &v) < 0) {
            return -1;
        }
        if (!v.v) {
            return 0;
        }
        if (!jsonata__is_number(v.v)) {
            jsonata__error_val(c, "D1002", n->pos, "-", v.v);
            jv_drop(&v);
            return -1;
        }
        out->v = ef_val_num(-ef_val_num_get(v.v));
        jv_drop(&v);
        return 0;
    }
    case N_ARRAY: return eval_array(c, n, input, env, out);
    case N_OBJECT: {
        struct jv in = {input, 0};
        if (input == c->input && input && ef_val_type(input) == EF_ARR) {
            /* the outer wrapper: the whole input array is one item */
            struct jv w = {jsonata__wrap(ef_val_ref(input)), JF_SEQ};
            int rc = group_expr(c, n->items, n->nitems, n->pos, &w, env, out);
            jv_drop(&w);
            return rc;
        }
        return group_expr(c, n->items, n->nitems, n->pos, &in, env, out);
    }
    case N_NAME: return lookup(input, n->str, n->slen, out);
    case N_STRING:
    case N_NUMBER:
    case N_VALUE: out->v = ef_val_ref(n->lit); return 0;
    case N_WILDCARD: return eval_wildcard(input, out);
    case N_DESCENDANT: {
        if (!input) {
            return 0;
        }
        struct seq s;
        seq_init(&s);
        descend(&s, input);
        if (s.n == 1) {
            out->v = s.v[0];
            s.n = 0;
            seq_free(&s);
            return 0;
        }
        *out = seq_take(&s);
        return 0;
    }
    case N_PARENT: {
        char lab[16];
        label_name(n->slot->label, lab);
        struct jv *b = jsonata__env_lookup(env, lab, strlen(lab));
        if (b) {
            out->v = ef_val_ref(b->v);
            out->f = b->f;
        }
        return 0;
    }
    case N_CONDITION: {
        struct jv cv;
        if (jsonata__eval(c, n->cond, input, env, &cv) < 0) {
            return -1;
        }
        if (n->op == 2) { /* ?? */
            if (cv.v) {
                *out = cv;
                return 0;
            }
            return jsonata__eval(c, n->els, input, env, out);
        }
        bool t = jsonata__truthy(cv.v);
        if (n->op == 1) { /* ?: */
            if (t) {
                *out = cv;
                return 0;
            }
            jv_drop(&cv);
            return jsonata__eval(c, n->els, input, env, out);
        }
        jv_drop(&cv);
        if (t) {
            return jsonata__eval(c, n->then, input, env, out);
        }
        if (n->els) {
            return jsonata__eval(c, n->els, input, env, out);
        }
        return 0;
    }
    case N_BLOCK: {
        struct jsonata__env *f = jsonata__env_new(c, env);
        if (!f) {
            return jsonata__error(c, "D1001", n->pos, NULL);
        }
        int rc = 0;
        for (int i = 0; i < n->nitems; i++) {
            jv_drop(out);
            if (jsonata__eval(c, n->items[i], input, f, out) < 0) {
                rc = -1;
                break;
            }
        }
        jsonata__env_unref(f);
        return rc;
    }
    case N_BIND: {
        struct jv v;
        if (jsonata__eval(c, n->rhs, input, env, &v) < 0) {
            return -1;
        }
        struct jv copy = {ef_val_ref(v.v), v.f};
        if (jsonata__env_bind(env, n->lhs->str, n->lhs->slen, copy) < 0) {
            jv_drop(&v);
            return jsonata__error(c, "D1001", n->pos, NULL);
        }
        *out = v;
        return 0;
    }
    case N_REGEX: out->v = jsonata__regex_fn(c, n); return 0;
    case N_VARIABLE: return eval_variable(c, n, input, env, out);
    case N_LAMBDA: return eval_lambda(c, n, input, env, out);
    case N_FUNCTION:
    case N_PARTIAL:
    case N_APPLY:
    case N_TRANSFORM: return jsonata__eval_call(c, n, input, env, out);
    default: return 0;
    }
}

/* Evaluates n against input (borrowed) in env; *out gets an owned result. */
int jsonata__eval(struct jsonata__ctx *c, const struct jsonata__node *n, struct ef_val *input,
                  struct jsonata__env *env, struct jv *out)
{
    out->v = NULL;
    out->f = 0;
    char probe;
    if (++c->depth > c->max_depth || (uintptr_t)&probe < c->stack_limit) {
        c->depth--;
        jsonata__error(c, "U1001", n->pos, NULL);
        snprintf(c->err.text, sizeof(c->err.text),
                 "Stack overflow error: Check for non-terminating recursive function.  "
                 "Consider rewriting as tail-recursive.");
        return -1;
    }
    if (c->deadline_ns && (++c->ticks & 1023) == 0 && jsonata__check_time(c) < 0) {
        c->depth--;
        return -1;
    }
    int rc = eval_node(c, n, input, env, out);
    if (rc == 0 && n->npreds > 0) {
        for (int i = 0; i < n->npreds && rc == 0; i++) {
            struct jv tmp;
            rc = filter(c, n->preds[i], out, env, &tmp);
            jv_drop(out);
            *out = tmp;
        }
    }
    if (rc == 0 && n->type != N_PATH && n->has_group) {
        struct jv tmp;
        rc = group_expr(c, n->group, n->ngroup, n->group_pos, out, env, &tmp);
        jv_drop(out);
        *out = tmp;
    }
    c->depth--;
    if (rc < 0) {
        jv_drop(out);
        return -1;
    }
    finish(n, out);
    return 0;
}
