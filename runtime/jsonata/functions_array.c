/*
 * functions_array.c - JSONata's array, object, higher-order and misc
 * functions: $map $filter $single $reduce $sift $each $zip $keys $lookup
 * $append $exists $spread $merge $reverse $sort $shuffle $distinct $type
 * $error $assert $eval $clone.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "jsonata/functions.h"

/* Calls fn with (value[, index[, array]]) depending on its arity. */
static int hof_call(struct jsonata__ctx *c, struct ef_val *fn, struct ef_val *v, struct ef_val *i2,
                    struct ef_val *i3, struct jsonata__env *env, struct ef_val **res)
{
    int arity = jsonata__fn_arity(fn);
    struct jv args[3] = {{v, 0}, {i2, 0}, {i3, 0}};
    int na = 1;
    if (arity >= 2) {
        na = 2;
    }
    if (arity >= 3) {
        na = 3;
    }
    struct jv r;
    if (jsonata__apply(c, fn, args, na, NULL, env, -1, &r) < 0) {
        return -1;
    }
    *res = jsonata__seq_finish(&r);
    return 0;
}

int jsonata__fn_map(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                    struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    struct ef_val *arr = ARG(0), *fn = ARG(1);
    if (!arr) {
        return 0;
    }
    struct ef_val *res = ef_val_arr();
    size_t m = ef_val_arr_len(arr);
    for (size_t i = 0; i < m; i++) {
        struct ef_val *idx = ef_val_num((double)i);
        struct ef_val *r;
        int rc = hof_call(c, fn, ef_val_arr_at(arr, i), idx, arr, env, &r);
        ef_val_unref(idx);
        if (rc < 0) {
            ef_val_unref(res);
            return -1;
        }
        if (r) {
            ef_val_arr_push_take(res, r);
        }
    }
    out->v = res;
    out->f = JF_SEQ;
    return 0;
}

int jsonata__fn_filter(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                       struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    struct ef_val *arr = ARG(0), *fn = ARG(1);
    if (!arr) {
        return 0;
    }
    struct ef_val *res = ef_val_arr();
    size_t m = ef_val_arr_len(arr);
    for (size_t i = 0; i < m; i++) {
        struct ef_val *idx = ef_val_num((double)i);
        struct ef_val *r;
        int rc = hof_call(c, fn, ef_val_arr_at(arr, i), idx, arr, env, &r);
        ef_val_unref(idx);
        if (rc < 0) {
            ef_val_unref(res);
            return -1;
        }
        if (jsonata__truthy(r)) {
            ef_val_arr_push_take(res, ef_val_ref(ef_val_arr_at(arr, i)));
        }
        ef_val_unref(r);
    }
    out->v = res;
    out->f = JF_SEQ;
    return 0;
}

int jsonata__fn_single(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                       struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    struct ef_val *arr = ARG(0), *fn = ARG(1);
    if (!arr) {
        return 0;
    }
    struct ef_val *found = NULL;
    size_t m = ef_val_arr_len(arr);
    for (size_t i = 0; i < m; i++) {
        bool pos = true;
        if (fn) {
            struct ef_val *idx = ef_val_num((double)i);
            struct ef_val *r;
            int rc = hof_call(c, fn, ef_val_arr_at(arr, i), idx, arr, env, &r);
            ef_val_unref(idx);
            if (rc < 0) {
                ef_val_unref(found);
                return -1;
            }
            pos = jsonata__truthy(r);
            ef_val_unref(r);
        }
        if (pos) {
            if (found) {
                ef_val_unref(found);
                jsonata__error(c, "D3138", -1, NULL);
                c->err.index = (int)i;
                return -1;
            }
            found = ef_val_ref(ef_val_arr_at(arr, i));
            if (!found) {
                found = ef_val_null();
            }
        }
    }
    if (!found) {
        return jsonata__error(c, "D3139", -1, NULL);
    }
    out->v = found;
    return 0;
}

int jsonata__fn_reduce(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                       struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    struct ef_val *arr = ARG(0), *fn = ARG(1), *init = ARG(2);
    if (!arr) {
        return 0;
    }
    int arity = jsonata__fn_arity(fn);
    if (arity < 2) {
        jsonata__error(c, "D3050", -1, NULL);
        c->err.index = 1;
        return -1;
    }
    size_t m = ef_val_arr_len(arr);
    size_t i = 0;
    struct ef_val *acc;
    if (!init && m > 0) {
        acc = ef_val_ref(ef_val_arr_at(arr, 0));
        i = 1;
    } else {
        acc = ef_val_ref(init);
    }
    for (; i < m; i++) {
        struct ef_val *idx = ef_val_num((double)i);
        struct jv args[4] = {{acc, 0}, {ef_val_arr_at(arr, i), 0}, {idx, 0}, {arr, 0}};
        int na = arity >= 4 ? 4 : arity >= 3 ? 3 : 2;
        struct jv r;
        int rc = jsonata__apply(c, fn, args, na, NULL, env, -1, &r);
        ef_val_unref(idx);
        ef_val_unref(acc);
        if (rc < 0) {
            return -1;
        }
        acc = jsonata__seq_finish(&r);
    }
    out->v = acc;
    return 0;
}

int jsonata__fn_sift(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                     struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    struct ef_val *obj = ARG(0), *fn = ARG(1);
    if (!obj) {
        return 0;
    }
    struct ef_val *res = ef_val_obj();
    size_t m = ef_val_obj_len(obj);
    for (size_t i = 0; i < m; i++) {
        size_t kl;
        const char *k = ef_val_obj_key_at(obj, i, &kl);
        struct ef_val *key = ef_val_strn(k, kl);
        struct ef_val *r;
        int rc = hof_call(c, fn, ef_val_obj_val_at(obj, i), key, obj, env, &r);
        ef_val_unref(key);
        if (rc < 0) {
            ef_val_unref(res);
            return -1;
        }
        if (jsonata__truthy(r)) {
            ef_val_obj_setn_take(res, k, kl, ef_val_ref(ef_val_obj_val_at(obj, i)));
        }
        ef_val_unref(r);
    }
    if (ef_val_obj_len(res) == 0) {
        ef_val_unref(res);
        return 0;
    }
    out->v = res;
    return 0;
}

int jsonata__fn_each(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                     struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    struct ef_val *obj = ARG(0), *fn = ARG(1);
    if (!obj) {
        return 0;
    }
    struct ef_val *res = ef_val_arr();
    size_t m = ef_val_obj_len(obj);
    for (size_t i = 0; i < m; i++) {
        size_t kl;
        const char *k = ef_val_obj_key_at(obj, i, &kl);
        struct ef_val *key = ef_val_strn(k, kl);
        struct ef_val *r;
        int rc = hof_call(c, fn, ef_val_obj_val_at(obj, i), key, obj, env, &r);
        ef_val_unref(key);
        if (rc < 0) {
            ef_val_unref(res);
            return -1;
        }
        if (r) {
            ef_val_arr_push_take(res, r);
        }
    }
    out->v = res;
    out->f = JF_SEQ;
    return 0;
}

int jsonata__fn_zip(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                    struct jsonata__env *env, struct jv *out)
{
    (void)c;
    (void)focus;
    (void)env;
    size_t len = (size_t)-1;
    for (int i = 0; i < n; i++) {
        size_t l = a[i].v && ef_val_type(a[i].v) == EF_ARR ? ef_val_arr_len(a[i].v) : 0;
        if (l < len) {
            len = l;
        }
    }
    if (n == 0) {
        len = 0;
    }
    struct ef_val *res = ef_val_arr();
    for (size_t k = 0; k < len; k++) {
        struct ef_val *t = ef_val_arr();
        for (int i = 0; i < n; i++) {
            ef_val_arr_push_take(t, ef_val_ref(ef_val_arr_at(a[i].v, k)));
        }
        ef_val_arr_push_take(res, t);
    }
    out->v = res;
    return 0;
}

static void keys_into(struct ef_val *v, struct ef_val *res)
{
    if (!v) {
        return;
    }
    if (ef_val_type(v) == EF_ARR) {
        size_t m = ef_val_arr_len(v);
        for (size_t i = 0; i < m; i++) {
            keys_into(ef_val_arr_at(v, i), res);
        }
        return;
    }
    if (ef_val_type(v) != EF_OBJ) {
        return;
    }
    size_t m = ef_val_obj_len(v);
    for (size_t i = 0; i < m; i++) {
        size_t kl;
        const char *k = ef_val_obj_key_at(v, i, &kl);
        bool dup = false;
        size_t rn = ef_val_arr_len(res);
        for (size_t j = 0; j < rn && !dup; j++) {
            struct ef_val *x = ef_val_arr_at(res, j);
            dup = ef_val_str_len(x) == kl && memcmp(ef_val_str_get(x), k, kl) == 0;
        }
        if (!dup) {
            ef_val_arr_push_take(res, ef_val_strn(k, kl));
        }
    }
}

int jsonata__fn_keys(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                     struct jsonata__env *env, struct jv *out)
{
    (void)c;
    (void)focus;
    (void)env;
    struct ef_val *res = ef_val_arr();
    keys_into(ARG(0), res);
    out->v = res;
    out->f = JF_SEQ;
    return 0;
}

static void lookup_into(struct ef_val *v, const char *k, size_t kl, struct ef_val **res)
{
    if (!v) {
        return;
    }
    if (ef_val_type(v) == EF_ARR) {
        size_t m = ef_val_arr_len(v);
        for (size_t i = 0; i < m; i++) {
            lookup_into(ef_val_arr_at(v, i), k, kl, res);
        }
        return;
    }
    if (ef_val_type(v) == EF_OBJ) {
        struct ef_val *x = ef_val_obj_getn(v, k, kl);
        if (x) {
            if (!*res) {
                *res = ef_val_arr();
            }
            *res = jsonata__append(*res, ef_val_ref(x));
        }
    }
}

int jsonata__fn_lookup(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                       struct jsonata__env *env, struct jv *out)
{
    (void)c;
    (void)focus;
    (void)env;
    struct ef_val *v = ARG(0);
    if (!v || !ARG(1)) {
        return 0;
    }
    const char *k = ef_val_str_get(ARG(1));
    size_t kl = ef_val_str_len(ARG(1));
    if (ef_val_type(v) == EF_OBJ) {
        out->v = ef_val_ref(ef_val_obj_getn(v, k, kl));
        return 0;
    }
    struct ef_val *res = NULL;
    lookup_into(v, k, kl, &res);
    out->v = res;
    out->f = JF_SEQ;
    return 0;
}

int jsonata__fn_append(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                       struct jsonata__env *env, struct jv *out)
{
    (void)c;
    (void)focus;
    (void)env;
    struct ef_val *x = ARG(0), *y = ARG(1);
    if (!x) {
        out->v = ef_val_ref(y);
        return 0;
    }
    if (!y) {
        out->v = ef_val_ref(x);
        return 0;
    }
    struct ef_val *res = ef_val_arr();
    res = jsonata__append(res, ef_val_ref(x));
    if (ef_val_type(y) == EF_ARR) {
        res = jsonata__append(res, ef_val_ref(y));
    } else {
        ef_val_arr_push_take(res, ef_val_ref(y));
    }
    if (ef_val_type(x) != EF_ARR && ef_val_arr_len(res) == 0) {
        ef_val_arr_push_take(res, ef_val_ref(x));
    }
    out->v = res;
    return 0;
}

int jsonata__fn_exists(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                       struct jsonata__env *env, struct jv *out)
{
    (void)c;
    (void)focus;
    (void)env;
    out->v = ef_val_bool(ARG(0) != NULL);
    return 0;
}

static struct ef_val *spread(struct ef_val *v)
{
    if (v && ef_val_type(v) == EF_ARR) {
        struct ef_val *res = ef_val_arr();
        size_t m = ef_val_arr_len(v);
        for (size_t i = 0; i < m; i++) {
            res = jsonata__append(res, spread(ef_val_arr_at(v, i)));
        }
        return res;
    }
    if (v && ef_val_type(v) == EF_OBJ) {
        struct ef_val *res = ef_val_arr();
        size_t m = ef_val_obj_len(v);
        for (size_t i = 0; i < m; i++) {
            size_t kl;
            const char *k = ef_val_obj_key_at(v, i, &kl);
            struct ef_val *o = ef_val_obj();
            ef_val_obj_setn_take(o, k, kl, ef_val_ref(ef_val_obj_val_at(v, i)));
            ef_val_arr_push_take(res, o);
        }
        return res;
    }
    return ef_val_ref(v);
}

int jsonata__fn_spread(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                       struct jsonata__env *env, struct jv *out)
{
    (void)c;
    (void)focus;
    (void)env;
    struct ef_val *v = ARG(0);
    out->v = spread(v);
    if (out->v && ef_val_type(out->v) == EF_ARR && !jsonata__is_fn(v)) {
        out->f = JF_SEQ;
    }
    return 0;
}

int jsonata__fn_merge(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                      struct jsonata__env *env, struct jv *out)
{
    (void)c;
    (void)focus;
    (void)env;
    struct ef_val *v = ARG(0);
    if (!v) {
        return 0;
    }
    struct ef_val *res = ef_val_obj();
    size_t m = ef_val_arr_len(v);
    for (size_t i = 0; i < m; i++) {
        struct ef_val *o = ef_val_arr_at(v, i);
        size_t kn = ef_val_obj_len(o);
        for (size_t k = 0; k < kn; k++) {
            size_t kl;
            const char *key = ef_val_obj_key_at(o, k, &kl);
            ef_val_obj_setn_take(res, key, kl, ef_val_ref(ef_val_obj_val_at(o, k)));
        }
    }
    out->v = res;
    return 0;
}

int jsonata__fn_reverse(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                        struct jsonata__env *env, struct jv *out)
{
    (void)c;
    (void)focus;
    (void)env;
    struct ef_val *v = ARG(0);
    if (!v) {
        return 0;
    }
    size_t m = ef_val_arr_len(v);
    if (m <= 1) {
        out->v = ef_val_ref(v);
        return 0;
    }
    struct ef_val *res = ef_val_arr();
    for (size_t i = m; i > 0; i--) {
        ef_val_arr_push_take(res, ef_val_ref(ef_val_arr_at(v, i - 1)));
    }
    out->v = res;
    return 0;
}

struct sorter {
    struct jsonata__ctx *c;
    struct ef_val *fn;
    struct jsonata__env *env;
    int err;
};

/* true when a must come after b */
static bool sort_gt(struct sorter *s, struct ef_val *x, struct ef_val *y)
{
    if (s->err) {
        return false;
    }
    if (!s->fn) {
        if (ef_val_type(x) == EF_NUM) {
            return ef_val_num_get(x) > ef_val_num_get(y);
        }
        return strcmp(ef_val_str_get(x), ef_val_str_get(y)) > 0;
    }
    struct jv args[2] = {{x, 0}, {y, 0}};
    struct jv r;
    if (jsonata__apply(s->c, s->fn, args, 2, NULL, s->env, -1, &r) < 0) {
        s->err = -1;
        return false;
    }
    struct ef_val *v = jsonata__seq_finish(&r);
    bool gt = jsonata__truthy(v);
    ef_val_unref(v);
    return gt;
}

static void msort(struct sorter *s, struct ef_val **v, struct ef_val **tmp, size_t n)
{
    if (n < 2) {
        return;
    }
    size_t h = n / 2;
    msort(s, v, tmp, h);
    msort(s, v + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        if (sort_gt(s, v[i], v[j])) {
            tmp[k++] = v[j++];
        } else {
            tmp[k++] = v[i++];
        }
    }
    while (i < h) {
        tmp[k++] = v[i++];
    }
    while (j < n) {
        tmp[k++] = v[j++];
    }
    memcpy(v, tmp, n * sizeof(*v));
}

int jsonata__fn_sort(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                     struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    struct ef_val *arr = ARG(0), *fn = ARG(1);
    if (!arr) {
        return 0;
    }
    size_t m = ef_val_arr_len(arr);
    if (m <= 1) {
        out->v = ef_val_ref(arr);
        return 0;
    }
    if (!fn) {
        bool allnum = true, allstr = true;
        for (size_t i = 0; i < m; i++) {
            struct ef_val *x = ef_val_arr_at(arr, i);
            allnum = allnum && jsonata__is_number(x);
            allstr = allstr && ef_val_type(x) == EF_STR;
        }
        if (!allnum && !allstr) {
            jsonata__error(c, "D3070", -1, NULL);
            c->err.index = 1;
            return -1;
        }
    }
    struct ef_val **v = malloc(m * sizeof(*v));
    struct ef_val **tmp = malloc(m * sizeof(*tmp));
    for (size_t i = 0; i < m; i++) {
        v[i] = ef_val_arr_at(arr, i);
    }
    struct sorter s = {c, fn, env, 0};
    msort(&s, v, tmp, m);
    struct ef_val *res = NULL;
    if (!s.err) {
        res = ef_val_arr();
        for (size_t i = 0; i < m; i++) {
            ef_val_arr_push_take(res, ef_val_ref(v[i]));
        }
    }
    free(v);
    free(tmp);
    if (s.err) {
        return -1;
    }
    out->v = res;
    return 0;
}

int jsonata__fn_shuffle(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                        struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    (void)env;
    struct ef_val *arr = ARG(0);
    if (!arr) {
        return 0;
    }
    size_t m = ef_val_arr_len(arr);
    if (m <= 1) {
        out->v = ef_val_ref(arr);
        return 0;
    }
    struct ef_val **v = calloc(m, sizeof(*v));
    for (size_t i = 0; i < m; i++) {
        size_t j = (size_t)floor(jsonata__random(c) * (double)(i + 1));
        if (i != j) {
            v[i] = v[j];
        }
        v[j] = ef_val_arr_at(arr, i);
    }
    struct ef_val *res = ef_val_arr();
    for (size_t i = 0; i < m; i++) {
        ef_val_arr_push_take(res, ef_val_ref(v[i]));
    }
    free(v);
    out->v = res;
    return 0;
}

int jsonata__fn_distinct(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                         struct jsonata__env *env, struct jv *out)
{
    (void)c;
    (void)focus;
    (void)env;
    struct ef_val *arr = ARG(0);
    if (!arr) {
        return 0;
    }
    if (ef_val_type(arr) != EF_ARR || ef_val_arr_len(arr) <= 1) {
        out->v = ef_val_ref(arr);
        out->f = a[0].f;
        return 0;
    }
    struct ef_val *res = ef_val_arr();
    size_t m = ef_val_arr_len(arr);
    for (size_t i = 0; i < m; i++) {
        struct ef_val *x = ef_val_arr_at(arr, i);
        bool dup = false;
        size_t rn = ef_val_arr_len(res);
        for (size_t j = 0; j < rn && !dup; j++) {
            dup = jsonata__deep_equal(x, ef_val_arr_at(res, j));
        }
        if (!dup) {
            ef_val_arr_push_take(res, ef_val_ref(x));
        }
    }
    out->v = res;
    out->f = a[0].f & JF_SEQ;
    return 0;
}

int jsonata__fn_type(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                     struct jsonata__env *env, struct jv *out)
{
    (void)c;
    (void)focus;
    (void)env;
    struct ef_val *v = ARG(0);
    if (!v) {
        return 0;
    }
    const char *t = "object";
    if (jsonata__is_fn(v)) {
        t = "function";
    } else {
        switch (ef_val_type(v)) {
        case EF_NULL: t = "null"; break;
        case EF_NUM: t = "number"; break;
        case EF_STR: t = "string"; break;
        case EF_BOOL: t = "boolean"; break;
        case EF_ARR: t = "array"; break;
        default: break;
        }
    }
    out->v = ef_val_str(t);
    return 0;
}

int jsonata__fn_error(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                      struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    (void)env;
    (void)out;
    jsonata__error(c, "D3137", -1, NULL);
    snprintf(c->err.text, sizeof(c->err.text), "%s",
             ARG(0) ? ef_val_str_get(ARG(0)) : "$error() function evaluated");
    c->err.has_token = true;
    return -1;
}

int jsonata__fn_assert(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                       struct jsonata__env *env, struct jv *out)
{
    (void)focus;
    (void)env;
    (void)out;
    if (ef_val_bool_get(ARG(0))) {
        return 0;
    }
    jsonata__error(c, "D3141", -1, NULL);
    snprintf(c->err.text, sizeof(c->err.text), "%s",
             ARG(1) ? ef_val_str_get(ARG(1)) : "$assert() statement failed");
    c->err.has_token = true;
    return -1;
}

int jsonata__fn_clone(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                      struct jsonata__env *env, struct jv *out)
{
    (void)c;
    (void)focus;
    (void)env;
    if (ARG(0)) {
        out->v = ef_val_copy(ARG(0));
    }
    return 0;
}

int jsonata__fn_eval(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                     struct jsonata__env *env, struct jv *out)
{
    struct ef_val *src = ARG(0);
    if (!src) {
        return 0;
    }
    struct ef_jsonata_error perr;
    struct ef_jsonata *e = ef_jsonata_compile_ex(ef_val_str_get(src), &perr);
    if (!e) {
        jsonata__error(c, "D3120", -1, NULL);
        struct ef_val *mv = ef_val_str(perr.message);
        jsonata__value_json(mv, c->err.value, sizeof(c->err.value));
        ef_val_unref(mv);
        return -1;
    }
    struct ef_jsonata **ne = realloc(c->evals, sizeof(*ne) * (size_t)(c->nevals + 1));
    if (!ne) {
        ef_jsonata_free(e);
        return jsonata__error(c, "D1001", -1, NULL);
    }
    c->evals = ne;
    c->evals[c->nevals++] = e;
    struct ef_val *input = ARG(1) ? ARG(1) : focus;
    struct jv r;
    if (jsonata__eval(c, e->root, input, env, &r) < 0) {
        char msg[256];
        struct ef_jsonata_error ee;
        jsonata__error_export(&c->err, &ee);
        snprintf(msg, sizeof(msg), "%s", ee.message);
        jsonata__error(c, "D3121", -1, NULL);
        struct ef_val *mv = ef_val_str(msg);
        jsonata__value_json(mv, c->err.value, sizeof(c->err.value));
        ef_val_unref(mv);
        return -1;
    }
    *out = r;
    return 0;
}
