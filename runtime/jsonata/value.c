/*
 * value.c - value helpers of the JSONata evaluator: sequences and their
 * unwrapping, truthiness and equality as JSONata defines them, function
 * values (handles), environments (variable frames) and $string-style
 * serialisation with jsonata's 15-significant-digit number rounding.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- results ---- */

/* Drops the value held by j and clears it. */
void jv_drop(struct jv *j)
{
    ef_val_unref(j->v);
    j->v = NULL;
    j->f = 0;
}

/* Returns the plain value of a result, unwrapping a sequence of one (owned). */
struct ef_val *jsonata__seq_finish(struct jv *j)
{
    struct ef_val *v = j->v;
    j->v = NULL;
    if (v && (j->f & JF_SEQ) && ef_val_type(v) == EF_ARR) {
        size_t n = ef_val_arr_len(v);
        if (n == 0) {
            ef_val_unref(v);
            return NULL;
        }
        if (n == 1 && !(j->f & JF_KEEP)) {
            struct ef_val *x = ef_val_ref(ef_val_arr_at(v, 0));
            ef_val_unref(v);
            return x;
        }
    }
    return v;
}

bool jsonata__is_array(const struct ef_val *v)
{
    return v && ef_val_type(v) == EF_ARR;
}

bool jsonata__is_number(const struct ef_val *v)
{
    return v && ef_val_type(v) == EF_NUM && !isnan(ef_val_num_get(v));
}

bool jsonata__is_string(const struct ef_val *v)
{
    return v && ef_val_type(v) == EF_STR;
}

/* JSONata's $boolean: arrays are true if any member is true, functions false. */
bool jsonata__truthy(const struct ef_val *v)
{
    if (!v) {
        return false;
    }
    switch (ef_val_type(v)) {
    case EF_NULL: return false;
    case EF_BOOL: return ef_val_bool_get(v);
    case EF_NUM: {
        double d = ef_val_num_get(v);
        return d != 0 && !isnan(d);
    }
    case EF_STR: return ef_val_str_len(v) > 0;
    case EF_ARR: {
        size_t n = ef_val_arr_len(v);
        for (size_t i = 0; i < n; i++) {
            if (jsonata__truthy(ef_val_arr_at(v, i))) {
                return true;
            }
        }
        return false;
    }
    case EF_OBJ: return ef_val_obj_len(v) > 0;
    case EF_BUF: return true;
    case EF_HANDLE: return false;
    }
    return false;
}

bool jsonata__deep_equal(const struct ef_val *a, const struct ef_val *b)
{
    if (!a || !b) {
        return a == b;
    }
    return ef_val_equal(a, b);
}

/* Appends v (adopted) to a (adopted, may be NULL), flattening arrays in v. */
struct ef_val *jsonata__append(struct ef_val *a, struct ef_val *v)
{
    if (!v) {
        return a;
    }
    if (!a) {
        return v;
    }
    if (ef_val_type(a) == EF_ARR && ef_val_arr_len(a) == 0 && ef_val_type(v) == EF_ARR &&
        ef_val_refcount(v) == 1) {
        ef_val_unref(a); /* appending to nothing: share v itself */
        return v;
    }
    if (ef_val_type(a) != EF_ARR) {
        a = jsonata__wrap(a);
    } else if (ef_val_refcount(a) > 1) {
        ef_val_mut(&a);
    }
    if (ef_val_type(v) == EF_ARR) {
        size_t n = ef_val_arr_len(v);
        for (size_t i = 0; i < n; i++) {
            ef_val_arr_push_take(a, ef_val_ref(ef_val_arr_at(v, i)));
        }
        ef_val_unref(v);
    } else {
        ef_val_arr_push_take(a, v);
    }
    return a;
}

/* Wraps v (adopted) in a new one-item array. */
struct ef_val *jsonata__wrap(struct ef_val *v)
{
    struct ef_val *a = ef_val_arr();
    if (v) {
        ef_val_arr_push_take(a, v);
    }
    return a;
}

/* ---- numbers and strings ---- */

/* Formats d like JavaScript; with prec, first rounds to 15 significant digits. */
size_t jsonata__num_str(double d, char *buf, bool prec)
{
    if (prec && isfinite(d) && d != floor(d)) {
        char tmp[40];
        snprintf(tmp, sizeof(tmp), "%.14e", d);
        d = strtod(tmp, NULL);
    }
    return ef_num_format(d, buf);
}

struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom) {
        return;
    }
    if (b->n + n + 1 > b->cap) {
        size_t nc = (b->cap ? b->cap * 2 : 64);
        while (nc < b->n + n + 1) {
            nc *= 2;
        }
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_str(struct sbuf *b, const char *s, size_t n)
{
    sb_put(b, "\"", 1);
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        const char *esc = NULL;
        char tmp[8];
        if (ch == '"') {
            esc = "\\\"";
        } else if (ch == '\\') {
            esc = "\\\\";
        } else if (ch < 0x20) {
            switch (ch) {
            case '\b': esc = "\\b"; break;
            case '\f': esc = "\\f"; break;
            case '\n': esc = "\\n"; break;
            case '\r': esc = "\\r"; break;
            case '\t': esc = "\\t"; break;
            default: snprintf(tmp, sizeof(tmp), "\\u%04x", ch); esc = tmp;
            }
        }
        if (esc) {
            sb_put(b, s + start, i - start);
            sb_put(b, esc, strlen(esc));
            start = i + 1;
        }
    }
    sb_put(b, s + start, n - start);
    sb_put(b, "\"", 1);
}

static void sb_indent(struct sbuf *b, int indent, int level)
{
    if (!indent) {
        return;
    }
    sb_put(b, "\n", 1);
    for (int i = 0; i < indent * level; i++) {
        sb_put(b, " ", 1);
    }
}

static void sb_json(struct sbuf *b, const struct ef_val *v, int indent, int level, bool prec)
{
    char num[40];
    if (!v) {
        sb_put(b, "null", 4);
        return;
    }
    if (jsonata__is_fn(v)) {
        sb_put(b, "\"\"", 2);
        return;
    }
    switch (ef_val_type(v)) {
    case EF_NULL: sb_put(b, "null", 4); break;
    case EF_BOOL: ef_val_bool_get(v) ? sb_put(b, "true", 4) : sb_put(b, "false", 5); break;
    case EF_NUM: {
        double d = ef_val_num_get(v);
        if (!isfinite(d)) {
            sb_put(b, "null", 4);
        } else {
            size_t l = jsonata__num_str(d, num, prec);
            sb_put(b, num, l);
        }
        break;
    }
    case EF_STR: sb_str(b, ef_val_str_get(v), ef_val_str_len(v)); break;
    case EF_ARR: {
        size_t n = ef_val_arr_len(v);
        sb_put(b, "[", 1);
        for (size_t i = 0; i < n; i++) {
            if (i) {
                sb_put(b, ",", 1);
            }
            sb_indent(b, indent, level + 1);
            sb_json(b, ef_val_arr_at(v, i), indent, level + 1, prec);
        }
        if (n) {
            sb_indent(b, indent, level);
        }
        sb_put(b, "]", 1);
        break;
    }
    case EF_OBJ: {
        size_t n = ef_val_obj_len(v);
        sb_put(b, "{", 1);
        for (size_t i = 0; i < n; i++) {
            size_t kl;
            const char *k = ef_val_obj_key_at(v, i, &kl);
            if (i) {
                sb_put(b, ",", 1);
            }
            sb_indent(b, indent, level + 1);
            sb_str(b, k, kl);
            sb_put(b, indent ? ": " : ":", indent ? 2 : 1);
            sb_json(b, ef_val_obj_val_at(v, i), indent, level + 1, prec);
        }
        if (n) {
            sb_indent(b, indent, level);
        }
        sb_put(b, "}", 1);
        break;
    }
    case EF_BUF: {
        size_t n = ef_val_buf_len(v);
        const uint8_t *d = ef_val_buf_data(v);
        sb_put(b, "{\"type\":\"Buffer\",\"data\":[", 25);
        for (size_t i = 0; i < n; i++) {
            int l = snprintf(num, sizeof(num), i ? ",%u" : "%u", d[i]);
            sb_put(b, num, (size_t)l);
        }
        sb_put(b, "]}", 2);
        break;
    }
    case EF_HANDLE: sb_put(b, "{}", 2); break;
    }
}

/* Does v contain a non-finite number (which jsonata's $string rejects)? */
bool jsonata__has_infinite(const struct ef_val *v)
{
    if (!v) {
        return false;
    }
    switch (ef_val_type(v)) {
    case EF_NUM: return !isfinite(ef_val_num_get(v)) && !isnan(ef_val_num_get(v));
    case EF_ARR:
        for (size_t i = 0; i < ef_val_arr_len(v); i++) {
            if (jsonata__has_infinite(ef_val_arr_at(v, i))) {
                return true;
            }
        }
        return false;
    case EF_OBJ:
        for (size_t i = 0; i < ef_val_obj_len(v); i++) {
            if (jsonata__has_infinite(ef_val_obj_val_at(v, i))) {
                return true;
            }
        }
        return false;
    default: return false;
    }
}

/* Serialises v as $string does; returns a malloc'ed string (NULL on OOM). */
char *jsonata__stringify(const struct ef_val *v, bool pretty, size_t *len)
{
    struct sbuf b = {0};
    sb_json(&b, v, pretty ? 2 : 0, 0, true);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    if (!b.p) {
        b.p = strdup("");
    }
    if (len) {
        *len = b.n;
    }
    return b.p;
}

/* Writes JSON.stringify(v) into buf, truncated to len bytes. */
void jsonata__value_json(const struct ef_val *v, char *buf, size_t len)
{
    struct sbuf b = {0};
    sb_json(&b, v, 0, 0, false);
    snprintf(buf, len, "%s", b.p ? b.p : "");
    free(b.p);
}

/* ---- function values ---- */

static void fn_free(void *p)
{
    struct jsonata__fn *f = p;
    if (f->ctx) {
        if (f->prev) {
            f->prev->next = f->next;
        } else {
            f->ctx->fns = f->next;
        }
        if (f->next) {
            f->next->prev = f->prev;
        }
        if (f->env) {
            jsonata__env_unref(f->env);
        }
    }
    ef_val_unref(f->input);
    ef_val_unref(f->target);
    for (int i = 0; i < f->npargs; i++) {
        ef_val_unref(f->pargs[i]);
    }
    free(f->pargs);
    free(f->is_ph);
    free(f->native_sig);
    free(f);
}

const struct ef_handle_type ef_jsonata_function_type = {"jsonata-function", fn_free};

bool jsonata__is_fn(const struct ef_val *v)
{
    return v && ef_val_type(v) == EF_HANDLE && ef_val_handle_type(v) == &ef_jsonata_function_type;
}

/* ---- environments ---- */

/* Creates a frame whose lookups fall back to parent; registered with c. */
struct jsonata__env *jsonata__env_new(struct jsonata__ctx *c, struct jsonata__env *parent)
{
    struct jsonata__env *e = calloc(1, sizeof(*e));
    if (!e) {
        return NULL;
    }
    e->refs = 1;
    e->parent = parent;
    if (parent) {
        parent->refs++;
    }
    e->ctx = c;
    e->next_all = c->envs;
    if (c->envs) {
        c->envs->prev_all = e;
    }
    c->envs = e;
    return e;
}

void jsonata__env_init(struct jsonata__ctx *c, struct jsonata__env *e)
{
    memset(e, 0, sizeof(*e));
    e->refs = 1;
    e->on_stack = true;
    e->ctx = c;
    e->next_all = c->envs;
    if (c->envs) {
        c->envs->prev_all = e;
    }
    c->envs = e;
}

/* Drops a reference on a frame; frees it (and its bindings) at zero. */
void jsonata__env_unref(struct jsonata__env *e)
{
    while (e && --e->refs == 0) {
        struct jsonata__env *parent = e->parent;
        if (e->prev_all) {
            e->prev_all->next_all = e->next_all;
        } else {
            e->ctx->envs = e->next_all;
        }
        if (e->next_all) {
            e->next_all->prev_all = e->prev_all;
        }
        for (int i = 0; i < e->n; i++) {
            jv_drop(&e->b[i].val);
            if (e->b[i].own) {
                free((char *)e->b[i].name);
            }
        }
        if (e->b != e->inl) {
            free(e->b);
        }
        if (!e->on_stack) {
            free(e);
        }
        e = parent;
    }
}

/* Binds name to val (adopted) in e, replacing an earlier binding. */
int jsonata__env_bind(struct jsonata__env *e, const char *name, size_t nlen, struct jv val)
{
    for (int i = 0; i < e->n; i++) {
        if (e->b[i].nlen == nlen && memcmp(e->b[i].name, name, nlen) == 0) {
            jv_drop(&e->b[i].val);
            e->b[i].val = val;
            return 0;
        }
    }
    if (e->cap == 0) {
        e->b = e->inl;
        e->cap = 3;
    }
    if (e->n == e->cap) {
        int nc = e->cap * 2;
        struct jsonata__binding *nb = e->b == e->inl ? malloc((size_t)nc * sizeof(*nb))
                                                     : realloc(e->b, (size_t)nc * sizeof(*nb));
        if (!nb) {
            jv_drop(&val);
            return -1;
        }
        if (e->b == e->inl) {
            memcpy(nb, e->inl, sizeof(e->inl));
        }
        e->b = nb;
        e->cap = nc;
    }
    e->b[e->n].name = name;
    e->b[e->n].own = false;
    if (name[0] == '!') {
        char *cp = malloc(nlen + 1);
        if (!cp) {
            jv_drop(&val);
            return -1;
        }
        memcpy(cp, name, nlen);
        cp[nlen] = 0;
        e->b[e->n].name = cp;
        e->b[e->n].own = true;
    }
    e->b[e->n].nlen = nlen;
    e->b[e->n].val = val;
    e->n++;
    return 0;
}

/* Finds name in e or its parents; returns the binding's value or NULL. */
struct jv *jsonata__env_lookup(struct jsonata__env *e, const char *name, size_t nlen)
{
    for (; e; e = e->parent) {
        for (int i = 0; i < e->n; i++) {
            if (e->b[i].nlen == nlen && memcmp(e->b[i].name, name, nlen) == 0) {
                return &e->b[i].val;
            }
        }
    }
    return NULL;
}
