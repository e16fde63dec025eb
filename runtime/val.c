/*
 * val.c - refcounted values with copy-on-write.
 *
 * Every value carries a reference count. A value with more than one
 * reference is shared and must not change; ef_val_mut() replaces a shared
 * value in its slot by a shallow copy, so writing a path copies only the
 * containers on that path and shares everything else. null/true/false are
 * immortal singletons. Objects keep JavaScript's key order (array-index keys
 * ascending, then insertion order) and grow a hash index past a few keys.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <edgeflow/err.h>
#include "val_internal.h"

#define OBJ_INDEX_MIN 9 /* objects with at least this many keys get a hash index */

static struct ef_val val_null = {1, EF_NULL, VAL_F_IMMORTAL, {0}};
static struct ef_val val_true = {1, EF_BOOL, VAL_F_IMMORTAL, {.b = true}};
static struct ef_val val_false = {1, EF_BOOL, VAL_F_IMMORTAL, {.b = false}};

void ef_panic(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("edgeflow: fatal: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

const char *ef_strerror(int err)
{
    switch (err) {
    case EF_OK: return "success";
    case EF_ENOMEM: return "out of memory";
    case EF_EINVAL: return "invalid argument";
    case EF_ENOENT: return "not found";
    case EF_ETYPE: return "wrong type";
    case EF_ERANGE: return "out of range";
    case EF_EIO: return "input/output error";
    case EF_EPARSE: return "syntax error";
    case EF_EEXIST: return "already exists";
    case EF_EVERSION: return "unsupported ABI version";
    case EF_ESTATE: return "invalid state";
    case EF_EFULL: return "queue full";
    case EF_EUNSUPP: return "not supported";
    default: return "unknown error";
    }
}

/* ---- Construction ---- */

static struct ef_val *val_alloc(enum ef_type t, size_t extra)
{
    struct ef_val *v = malloc(sizeof(*v) + extra);
    if (!v) {
        return NULL;
    }
    memset(v, 0, sizeof(*v));
    v->refs = 1;
    v->type = (uint8_t)t;
    return v;
}

struct ef_val *ef_val_null(void)
{
    return &val_null;
}

struct ef_val *ef_val_bool(bool b)
{
    return b ? &val_true : &val_false;
}

struct ef_val *ef_val_num(double n)
{
    struct ef_val *v = val_alloc(EF_NUM, 0);
    if (v) {
        v->u.n = n;
    }
    return v;
}

struct ef_val *ef_val_strn(const char *s, size_t len)
{
    struct ef_val *v = val_alloc(EF_STR, len + 1);
    if (!v) {
        return NULL;
    }
    v->flags |= VAL_F_INLINE;
    v->u.s.p = (char *)(v + 1);
    v->u.s.len = len;
    if (len) {
        memcpy(v->u.s.p, s, len);
    }
    v->u.s.p[len] = '\0';
    return v;
}

struct ef_val *ef_val_str(const char *s)
{
    return ef_val_strn(s ? s : "", s ? strlen(s) : 0);
}

struct ef_val *ef_val_str_take(char *s, size_t len)
{
    struct ef_val *v = val_alloc(EF_STR, 0);
    if (!v) {
        free(s);
        return NULL;
    }
    v->u.s.p = s;
    v->u.s.len = len;
    return v;
}

struct ef_val *ef_val_strf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return NULL;
    }
    return ef_val_str_take(s, (size_t)n);
}

struct ef_val *ef_val_buf(const void *data, size_t len)
{
    struct ef_val *v = val_alloc(EF_BUF, len ? len : 1);
    if (!v) {
        return NULL;
    }
    v->flags |= VAL_F_INLINE;
    v->u.buf.p = (uint8_t *)(v + 1);
    v->u.buf.len = len;
    if (len) {
        memcpy(v->u.buf.p, data, len);
    }
    return v;
}

struct ef_val *ef_val_buf_take(void *data, size_t len)
{
    struct ef_val *v = val_alloc(EF_BUF, 0);
    if (!v) {
        free(data);
        return NULL;
    }
    v->u.buf.p = data;
    v->u.buf.len = len;
    return v;
}

struct ef_val *ef_val_arr(void)
{
    return val_alloc(EF_ARR, 0);
}

struct ef_val *ef_val_obj(void)
{
    return val_alloc(EF_OBJ, 0);
}

struct ef_val *ef_val_handle(void *ptr, const struct ef_handle_type *type)
{
    struct ef_val *v = val_alloc(EF_HANDLE, 0);
    if (v) {
        v->u.h.p = ptr;
        v->u.h.t = type;
    }
    return v;
}

/* ---- References ---- */

struct ef_val *ef_val_ref(struct ef_val *v)
{
    if (v && !(v->flags & VAL_F_IMMORTAL)) {
        v->refs++;
    }
    return v;
}

static void val_free(struct ef_val *v)
{
    switch (v->type) {
    case EF_STR:
        if (!(v->flags & VAL_F_INLINE)) {
            free(v->u.s.p);
        }
        break;
    case EF_BUF:
        if (!(v->flags & VAL_F_INLINE)) {
            free(v->u.buf.p);
        }
        break;
    case EF_ARR:
        for (size_t i = 0; i < v->u.arr.len; i++) {
            ef_val_unref(v->u.arr.items[i]);
        }
        free(v->u.arr.items);
        break;
    case EF_OBJ:
        for (size_t i = 0; i < v->u.obj.len; i++) {
            ef_val_unref(v->u.obj.ents[i].key);
            ef_val_unref(v->u.obj.ents[i].val);
        }
        free(v->u.obj.ents);
        free(v->u.obj.index);
        break;
    case EF_HANDLE:
        if (v->u.h.t && v->u.h.t->free) {
            v->u.h.t->free(v->u.h.p);
        }
        break;
    default: break;
    }
    free(v);
}

void ef_val_unref(struct ef_val *v)
{
    if (!v || (v->flags & VAL_F_IMMORTAL)) {
        return;
    }
    if (v->refs == 0) {
        ef_panic("ef_val_unref on a value with refcount 0 (type %d)", v->type);
    }
    if (--v->refs == 0) {
        val_free(v);
    }
}

uint32_t ef_val_refcount(const struct ef_val *v)
{
    return v ? v->refs : 0;
}

/* ---- Object internals: hash index and JS key order ---- */

static uint32_t key_hash(const char *k, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (uint8_t)k[i]) * 16777619u;
    }
    return h;
}

/* True if the key is a canonical array index ("0", "17"; not "01", "-1"). */
static bool key_is_index(const char *k, size_t len, uint64_t *out)
{
    if (len == 0 || len > 10 || (len > 1 && k[0] == '0')) {
        return false;
    }
    uint64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (k[i] < '0' || k[i] > '9') {
            return false;
        }
        n = n * 10 + (uint64_t)(k[i] - '0');
    }
    if (n >= 4294967295u) {
        return false;
    }
    *out = n;
    return true;
}

static int obj_index_build(struct ef_val *o)
{
    free(o->u.obj.index);
    o->u.obj.index = NULL;
    o->u.obj.index_cap = 0;
    if (o->u.obj.len < OBJ_INDEX_MIN) {
        return 0;
    }
    size_t cap = 16;
    while (cap < o->u.obj.len * 2) {
        cap <<= 1;
    }
    uint32_t *idx = calloc(cap, sizeof(*idx));
    if (!idx) {
        return EF_ENOMEM;
    }
    for (size_t i = 0; i < o->u.obj.len; i++) {
        size_t p = o->u.obj.ents[i].hash & (cap - 1);
        while (idx[p]) {
            p = (p + 1) & (cap - 1);
        }
        idx[p] = (uint32_t)(i + 1);
    }
    o->u.obj.index = idx;
    o->u.obj.index_cap = cap;
    return 0;
}

static long obj_find(const struct ef_val *o, const char *key, size_t klen, uint32_t h)
{
    if (o->u.obj.index) {
        size_t cap = o->u.obj.index_cap;
        size_t p = h & (cap - 1);
        while (o->u.obj.index[p]) {
            const struct ef_obj_ent *e = &o->u.obj.ents[o->u.obj.index[p] - 1];
            if (e->hash == h && e->key->u.s.len == klen && memcmp(e->key->u.s.p, key, klen) == 0) {
                return (long)o->u.obj.index[p] - 1;
            }
            p = (p + 1) & (cap - 1);
        }
        return -1;
    }
    for (size_t i = 0; i < o->u.obj.len; i++) {
        const struct ef_obj_ent *e = &o->u.obj.ents[i];
        if (e->hash == h && e->key->u.s.len == klen && memcmp(e->key->u.s.p, key, klen) == 0) {
            return (long)i;
        }
    }
    return -1;
}

/* ---- Copy-on-write ---- */

static struct ef_val *val_shallow_copy(const struct ef_val *v)
{
    struct ef_val *c;
    switch (v->type) {
    case EF_NUM: return ef_val_num(v->u.n);
    case EF_STR: return ef_val_strn(v->u.s.p, v->u.s.len);
    case EF_BUF: return ef_val_buf(v->u.buf.p, v->u.buf.len);
    case EF_ARR:
        c = ef_val_arr();
        if (!c) {
            return NULL;
        }
        if (v->u.arr.len) {
            c->u.arr.items = malloc(v->u.arr.len * sizeof(*c->u.arr.items));
            if (!c->u.arr.items) {
                free(c);
                return NULL;
            }
            for (size_t i = 0; i < v->u.arr.len; i++) {
                c->u.arr.items[i] = ef_val_ref(v->u.arr.items[i]);
            }
            c->u.arr.len = c->u.arr.cap = v->u.arr.len;
        }
        return c;
    case EF_OBJ:
        c = ef_val_obj();
        if (!c) {
            return NULL;
        }
        if (v->u.obj.len) {
            c->u.obj.ents = malloc(v->u.obj.len * sizeof(*c->u.obj.ents));
            if (!c->u.obj.ents) {
                free(c);
                return NULL;
            }
            for (size_t i = 0; i < v->u.obj.len; i++) {
                c->u.obj.ents[i] = v->u.obj.ents[i];
                ef_val_ref(c->u.obj.ents[i].key);
                ef_val_ref(c->u.obj.ents[i].val);
            }
            c->u.obj.len = c->u.obj.cap = v->u.obj.len;
            c->u.obj.nidx = v->u.obj.nidx;
            if (obj_index_build(c) != 0) {
                ef_val_unref(c);
                return NULL;
            }
        }
        return c;
    default: return ef_val_ref((struct ef_val *)v); /* null, bool, handle */
    }
}

struct ef_val *ef_val_mut(struct ef_val **slot)
{
    struct ef_val *v = *slot;
    if (!v) {
        return NULL;
    }
    if (v->refs == 1 || (v->flags & VAL_F_IMMORTAL) || v->type == EF_HANDLE) {
        return v;
    }
    struct ef_val *c = val_shallow_copy(v);
    if (!c) {
        return NULL;
    }
    ef_val_unref(v);
    *slot = c;
    return c;
}

struct ef_val *ef_val_copy(const struct ef_val *v)
{
    if (!v) {
        return NULL;
    }
    struct ef_val *c;
    switch (v->type) {
    case EF_ARR:
        c = ef_val_arr();
        for (size_t i = 0; c && i < v->u.arr.len; i++) {
            struct ef_val *item = ef_val_copy(v->u.arr.items[i]);
            if (!item || ef_val_arr_push_take(c, item) != 0) {
                ef_val_unref(item);
                ef_val_unref(c);
                return NULL;
            }
        }
        return c;
    case EF_OBJ:
        c = val_shallow_copy(v);
        for (size_t i = 0; c && i < c->u.obj.len; i++) {
            struct ef_val *item = ef_val_copy(c->u.obj.ents[i].val);
            if (!item) {
                ef_val_unref(c);
                return NULL;
            }
            ef_val_unref(c->u.obj.ents[i].val);
            c->u.obj.ents[i].val = item;
        }
        return c;
    case EF_BUF: return ef_val_ref((struct ef_val *)v); /* buffers are never copied */
    default: return val_shallow_copy(v);
    }
}

/* ---- Inspection ---- */

enum ef_type ef_val_type(const struct ef_val *v)
{
    return v ? (enum ef_type)v->type : EF_NULL;
}

const char *ef_type_name(enum ef_type t)
{
    static const char *const names[] = {"null",   "boolean", "number", "string",
                                        "buffer", "array",   "object", "handle"};
    return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "unknown";
}

bool ef_val_bool_get(const struct ef_val *v)
{
    return v && v->type == EF_BOOL && v->u.b;
}

double ef_val_num_get(const struct ef_val *v)
{
    return v && v->type == EF_NUM ? v->u.n : 0;
}

const char *ef_val_str_get(const struct ef_val *v)
{
    return v && v->type == EF_STR ? v->u.s.p : "";
}

size_t ef_val_str_len(const struct ef_val *v)
{
    return v && v->type == EF_STR ? v->u.s.len : 0;
}

const uint8_t *ef_val_buf_data(const struct ef_val *v)
{
    return v && v->type == EF_BUF ? v->u.buf.p : NULL;
}

size_t ef_val_buf_len(const struct ef_val *v)
{
    return v && v->type == EF_BUF ? v->u.buf.len : 0;
}

void *ef_val_handle_ptr(const struct ef_val *v, const struct ef_handle_type *type)
{
    if (!v || v->type != EF_HANDLE || (type && v->u.h.t != type)) {
        return NULL;
    }
    return v->u.h.p;
}

const struct ef_handle_type *ef_val_handle_type(const struct ef_val *v)
{
    return v && v->type == EF_HANDLE ? v->u.h.t : NULL;
}

bool ef_val_truthy(const struct ef_val *v)
{
    if (!v) {
        return false;
    }
    switch (v->type) {
    case EF_NULL: return false;
    case EF_BOOL: return v->u.b;
    case EF_NUM: return v->u.n != 0 && !isnan(v->u.n);
    case EF_STR: return v->u.s.len > 0;
    default: return true;
    }
}

bool ef_val_equal(const struct ef_val *a, const struct ef_val *b)
{
    if (a == b) {
        return true;
    }
    if (!a || !b || a->type != b->type) {
        return false;
    }
    switch (a->type) {
    case EF_NULL: return true;
    case EF_BOOL: return a->u.b == b->u.b;
    case EF_NUM: return a->u.n == b->u.n;
    case EF_STR: return a->u.s.len == b->u.s.len && memcmp(a->u.s.p, b->u.s.p, a->u.s.len) == 0;
    case EF_BUF:
        return a->u.buf.len == b->u.buf.len &&
               (a->u.buf.len == 0 || memcmp(a->u.buf.p, b->u.buf.p, a->u.buf.len) == 0);
    case EF_ARR:
        if (a->u.arr.len != b->u.arr.len) {
            return false;
        }
        for (size_t i = 0; i < a->u.arr.len; i++) {
            if (!ef_val_equal(a->u.arr.items[i], b->u.arr.items[i])) {
                return false;
            }
        }
        return true;
    case EF_OBJ:
        if (a->u.obj.len != b->u.obj.len) {
            return false;
        }
        for (size_t i = 0; i < a->u.obj.len; i++) {
            const struct ef_obj_ent *e = &a->u.obj.ents[i];
            long j = obj_find(b, e->key->u.s.p, e->key->u.s.len, e->hash);
            if (j < 0 || !ef_val_equal(e->val, b->u.obj.ents[j].val)) {
                return false;
            }
        }
        return true;
    default: return false;
    }
}

/* ---- Arrays ---- */

size_t ef_val_arr_len(const struct ef_val *a)
{
    return a && a->type == EF_ARR ? a->u.arr.len : 0;
}

struct ef_val *ef_val_arr_at(const struct ef_val *a, size_t i)
{
    if (!a || a->type != EF_ARR || i >= a->u.arr.len) {
        return NULL;
    }
    return a->u.arr.items[i];
}

static int arr_reserve(struct ef_val *a, size_t n)
{
    if (n <= a->u.arr.cap) {
        return 0;
    }
    size_t cap = a->u.arr.cap ? a->u.arr.cap * 2 : 4;
    while (cap < n) {
        cap *= 2;
    }
    struct ef_val **items = realloc(a->u.arr.items, cap * sizeof(*items));
    if (!items) {
        return EF_ENOMEM;
    }
    a->u.arr.items = items;
    a->u.arr.cap = cap;
    return 0;
}

static int check_writable(const struct ef_val *c, enum ef_type t)
{
    if (!c || c->type != t) {
        return EF_ETYPE;
    }
    if (c->refs != 1) {
        ef_panic("write to a shared %s value (refcount %u): use ef_val_mut", ef_type_name(t),
                 c->refs);
    }
    return 0;
}

int ef_val_arr_push_take(struct ef_val *a, struct ef_val *item)
{
    int rc = check_writable(a, EF_ARR);
    if (rc == 0) {
        rc = arr_reserve(a, a->u.arr.len + 1);
    }
    if (rc != 0) {
        return rc;
    }
    a->u.arr.items[a->u.arr.len++] = item ? item : ef_val_null();
    return 0;
}

int ef_val_arr_set_take(struct ef_val *a, size_t i, struct ef_val *item)
{
    int rc = check_writable(a, EF_ARR);
    if (rc == 0) {
        rc = arr_reserve(a, i + 1);
    }
    if (rc != 0) {
        return rc;
    }
    while (a->u.arr.len <= i) {
        a->u.arr.items[a->u.arr.len++] = ef_val_null();
    }
    ef_val_unref(a->u.arr.items[i]);
    a->u.arr.items[i] = item ? item : ef_val_null();
    return 0;
}

struct ef_val **ef_val_arr_slot(struct ef_val *a, size_t i)
{
    if (!a || a->type != EF_ARR || i >= a->u.arr.len) {
        return NULL;
    }
    return &a->u.arr.items[i];
}

int ef_val_arr_remove(struct ef_val *a, size_t i)
{
    int rc = check_writable(a, EF_ARR);
    if (rc != 0) {
        return rc;
    }
    if (i >= a->u.arr.len) {
        return EF_ENOENT;
    }
    ef_val_unref(a->u.arr.items[i]);
    memmove(&a->u.arr.items[i], &a->u.arr.items[i + 1],
            (a->u.arr.len - i - 1) * sizeof(*a->u.arr.items));
    a->u.arr.len--;
    return 0;
}

int ef_val_arr_insert_take(struct ef_val *a, size_t i, struct ef_val *item)
{
    int rc = check_writable(a, EF_ARR);
    if (rc == 0) {
        rc = arr_reserve(a, a->u.arr.len + 1);
    }
    if (rc != 0) {
        return rc;
    }
    if (i > a->u.arr.len) {
        i = a->u.arr.len;
    }
    memmove(&a->u.arr.items[i + 1], &a->u.arr.items[i],
            (a->u.arr.len - i) * sizeof(*a->u.arr.items));
    a->u.arr.items[i] = item ? item : ef_val_null();
    a->u.arr.len++;
    return 0;
}

/* ---- Objects ---- */

size_t ef_val_obj_len(const struct ef_val *o)
{
    return o && o->type == EF_OBJ ? o->u.obj.len : 0;
}

struct ef_val *ef_val_obj_getn(const struct ef_val *o, const char *key, size_t klen)
{
    if (!o || o->type != EF_OBJ) {
        return NULL;
    }
    long i = obj_find(o, key, klen, key_hash(key, klen));
    return i < 0 ? NULL : o->u.obj.ents[i].val;
}

struct ef_val *ef_val_obj_get(const struct ef_val *o, const char *key)
{
    return ef_val_obj_getn(o, key, strlen(key));
}

const char *ef_val_obj_key_at(const struct ef_val *o, size_t i, size_t *klen)
{
    if (!o || o->type != EF_OBJ || i >= o->u.obj.len) {
        return NULL;
    }
    if (klen) {
        *klen = o->u.obj.ents[i].key->u.s.len;
    }
    return o->u.obj.ents[i].key->u.s.p;
}

struct ef_val *ef_val_obj_val_at(const struct ef_val *o, size_t i)
{
    if (!o || o->type != EF_OBJ || i >= o->u.obj.len) {
        return NULL;
    }
    return o->u.obj.ents[i].val;
}

struct ef_val **ef_val_obj_slot(struct ef_val *o, const char *key, size_t klen)
{
    if (!o || o->type != EF_OBJ) {
        return NULL;
    }
    long i = obj_find(o, key, klen, key_hash(key, klen));
    return i < 0 ? NULL : &o->u.obj.ents[i].val;
}

int ef_val_obj_setn_take(struct ef_val *o, const char *key, size_t klen, struct ef_val *item)
{
    int rc = check_writable(o, EF_OBJ);
    if (rc != 0) {
        return rc;
    }
    if (!item) {
        item = ef_val_null();
    }
    uint32_t h = key_hash(key, klen);
    long found = obj_find(o, key, klen, h);
    if (found >= 0) {
        ef_val_unref(o->u.obj.ents[found].val);
        o->u.obj.ents[found].val = item;
        return 0;
    }
    if (o->u.obj.len == o->u.obj.cap) {
        size_t cap = o->u.obj.cap ? o->u.obj.cap * 2 : 4;
        struct ef_obj_ent *ents = realloc(o->u.obj.ents, cap * sizeof(*ents));
        if (!ents) {
            return EF_ENOMEM;
        }
        o->u.obj.ents = ents;
        o->u.obj.cap = cap;
    }
    struct ef_val *k = ef_val_strn(key, klen);
    if (!k) {
        return EF_ENOMEM;
    }
    uint64_t idx;
    size_t pos = o->u.obj.len;
    bool is_index = key_is_index(key, klen, &idx);
    if (is_index) {
        /* Array-index keys come first, in ascending numeric order. */
        size_t lo = 0, hi = o->u.obj.nidx;
        if (hi && o->u.obj.ents[hi - 1].index < idx) {
            lo = hi; /* the usual case: keys arrive in order */
        }
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (o->u.obj.ents[mid].index < idx) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        pos = lo;
        memmove(&o->u.obj.ents[pos + 1], &o->u.obj.ents[pos],
                (o->u.obj.len - pos) * sizeof(*o->u.obj.ents));
        o->u.obj.nidx++;
    }
    o->u.obj.ents[pos] = (struct ef_obj_ent){k, item, h, is_index ? (uint32_t)idx : 0};
    o->u.obj.len++;
    if (is_index && pos != o->u.obj.len - 1) {
        rc = obj_index_build(o);
    } else if (o->u.obj.index && o->u.obj.len * 2 <= o->u.obj.index_cap) {
        size_t cap = o->u.obj.index_cap;
        size_t p = h & (cap - 1);
        while (o->u.obj.index[p]) {
            p = (p + 1) & (cap - 1);
        }
        o->u.obj.index[p] = (uint32_t)o->u.obj.len;
    } else if (o->u.obj.len >= OBJ_INDEX_MIN) {
        rc = obj_index_build(o);
    }
    if (rc != 0) {
        /* Undo: the object stays as it was and the caller keeps item. */
        memmove(&o->u.obj.ents[pos], &o->u.obj.ents[pos + 1],
                (o->u.obj.len - pos - 1) * sizeof(*o->u.obj.ents));
        o->u.obj.len--;
        if (is_index) {
            o->u.obj.nidx--;
        }
        ef_val_unref(k);
        obj_index_build(o);
        return rc;
    }
    return 0;
}

int ef_val_obj_set_take(struct ef_val *o, const char *key, struct ef_val *item)
{
    return ef_val_obj_setn_take(o, key, strlen(key), item);
}

int ef_val_obj_del(struct ef_val *o, const char *key, size_t klen)
{
    int rc = check_writable(o, EF_OBJ);
    if (rc != 0) {
        return rc;
    }
    long i = obj_find(o, key, klen, key_hash(key, klen));
    if (i < 0) {
        return EF_ENOENT;
    }
    ef_val_unref(o->u.obj.ents[i].key);
    ef_val_unref(o->u.obj.ents[i].val);
    memmove(&o->u.obj.ents[i], &o->u.obj.ents[i + 1],
            (o->u.obj.len - (size_t)i - 1) * sizeof(*o->u.obj.ents));
    o->u.obj.len--;
    if ((size_t)i < o->u.obj.nidx) {
        o->u.obj.nidx--;
    }
    if (o->u.obj.index) {
        obj_index_build(o); /* OOM here only drops the index: lookups fall back to scanning */
    }
    return 0;
}
