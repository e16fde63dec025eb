/*
 * path.c - Node-RED message property paths.
 *
 * ef_path_parse() follows RED.util.normalisePropertyExpression (node-red
 * 4.1, @node-red/util/lib/util.js) character for character, including its
 * error texts and positions (counted in UTF-16 code units, as JavaScript
 * does) and its quirks: quoted keys have no escapes, a trailing ".0" is the
 * string key "0" while ".0." and "[0]" are the index 0, and a nested
 * reference `[msg.x]` is recognised only when the bracket starts with
 * "msg." or "msg[". Nested references are kept in the parsed path and
 * resolved against the `msg` argument on every get/set/delete, the way
 * getMessageProperty() resolves them (a leading "msg." is stripped first).
 *
 * ef_path_parse() itself does not strip a leading "msg." (neither does
 * normalisePropertyExpression); ef_msg_get/ef_msg_set_take/ef_msg_delete
 * do, as getMessageProperty/setMessageProperty do.
 *
 * Get/set/delete follow getObjectProperty/setObjectProperty. Setting writes
 * through copy-on-write: every container on the path is made writable with
 * ef_val_mut(), so only the path is copied when the tree is shared. A set
 * is checked completely before anything is touched, so a failing set leaves
 * the tree as it was. Differences from JavaScript, where its data model has
 * no equivalent: arrays have no named properties (a non-index key on an
 * array is absent for get, EF_ETYPE for set), `length` is not a property,
 * buffers and handles are leaves, and growing an array by more than
 * PATH_MAX_GROW elements in one set is refused with EF_ERANGE.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <edgeflow/err.h>
#include <edgeflow/path.h>
#include "val_internal.h"

#define PATH_MAX_NEST 32         /* nested [msg...] references inside each other */
#define PATH_MAX_GROW (1u << 20) /* most null elements one set may add to an array */

enum seg_kind { SEG_KEY, SEG_INDEX, SEG_NESTED };

struct seg {
    enum seg_kind kind;
    char *key; /* SEG_KEY: NUL-terminated */
    size_t klen;
    double index; /* SEG_INDEX: parseInt() of the digits */
    struct ef_path *nested;
};

struct ef_path {
    char *text;
    struct seg *segs;
    size_t n, cap;
};

/* ---- Parsing (normalisePropertyExpression) ---- */

struct pctx {
    const char *s;
    char *err;
    size_t errlen;
};

/* UTF-16 position of byte offset off, as JavaScript would count it. */
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

static void perr(struct pctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void perr(struct pctx *c, const char *fmt, ...)
{
    if (c->err && c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
}

/* The character at byte offset off as JavaScript would print it. */
static int char_len(const char *s, size_t off, size_t len)
{
    if (off >= len) {
        return 0;
    }
    size_t n = 1;
    while (off + n < len && ((unsigned char)s[off + n] & 0xc0) == 0x80) {
        n++;
    }
    return (int)n;
}

/* "Invalid property expression: unexpected X at position N" */
static void err_unexpected(struct pctx *c, size_t len, size_t off, const char *suffix)
{
    int n = char_len(c->s, off, len);
    perr(c, "Invalid property expression: unexpected %.*s%s at position %zu", n ? n : 9,
         n ? c->s + off : "undefined", suffix, js_pos(c->s, off));
}

static bool all_digits(const char *s, size_t n)
{
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

static double digits_value(const char *s, size_t n)
{
    double v = 0;
    for (size_t i = 0; i < n; i++) {
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static struct seg *seg_add(struct ef_path *p)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4;
        struct seg *n = realloc(p->segs, cap * sizeof(*n));
        if (!n) {
            return NULL;
        }
        p->segs = n;
        p->cap = cap;
    }
    struct seg *s = &p->segs[p->n++];
    memset(s, 0, sizeof(*s));
    return s;
}

static int push_key(struct ef_path *p, const char *k, size_t n)
{
    struct seg *s = seg_add(p);
    if (!s) {
        return EF_ENOMEM;
    }
    s->key = malloc(n + 1);
    if (!s->key) {
        p->n--;
        return EF_ENOMEM;
    }
    memcpy(s->key, k, n);
    s->key[n] = '\0';
    s->klen = n;
    s->kind = SEG_KEY;
    return 0;
}

static int push_index(struct ef_path *p, const char *k, size_t n)
{
    struct seg *s = seg_add(p);
    if (!s) {
        return EF_ENOMEM;
    }
    s->kind = SEG_INDEX;
    s->index = digits_value(k, n);
    return 0;
}

/* `v = str.substring(start, i)` pushed as an index if all digits, else a key. */
static int push_auto(struct ef_path *p, const char *k, size_t n)
{
    return all_digits(k, n) ? push_index(p, k, n) : push_key(p, k, n);
}

static bool ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '$' ||
           c == '_';
}

static struct ef_path *parse(const char *s, size_t len, struct pctx *c, int nest);

/* Parses s[0..len) into p; 0, EF_EPARSE (message in c) or EF_ENOMEM. */
static int parse_into(struct ef_path *p, const char *s, size_t len, struct pctx *c, int nest)
{
    if (len == 0) {
        perr(c, "Invalid property expression: zero-length");
        return EF_EPARSE;
    }
    size_t start = 0;
    bool in_string = false, in_box = false;
    char quote = 0;
    int rc;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (in_string) {
            if (ch != quote) {
                continue;
            }
            if (i == start) {
                perr(c, "Invalid property expression: zero-length string at position %zu",
                     js_pos(s, start));
                return EF_EPARSE;
            }
            if ((rc = push_key(p, s + start, i - start)) != 0) {
                return rc;
            }
            if (in_box && (i + 1 >= len || s[i + 1] != ']')) {
                perr(c, "Invalid property expression: unexpected array expression at position %zu",
                     js_pos(s, start));
                return EF_EPARSE;
            }
            if (!in_box && i + 1 != len && s[i + 1] != '[' && s[i + 1] != '.') {
                err_unexpected(c, len, i + 1, " expression");
                return EF_EPARSE;
            }
            start = i + 1;
            in_string = false;
            continue;
        }
        if (ch == '\'' || ch == '"') {
            if (i != start) {
                err_unexpected(c, len, i, "");
                return EF_EPARSE;
            }
            in_string = true;
            quote = ch;
            start = i + 1;
        } else if (ch == '.') {
            if (i == 0) {
                perr(c, "Invalid property expression: unexpected . at position 0");
                return EF_EPARSE;
            }
            if (start != i && (rc = push_auto(p, s + start, i - start)) != 0) {
                return rc;
            }
            if (i == len - 1) {
                perr(c, "Invalid property expression: unterminated expression");
                return EF_EPARSE;
            }
            if (!ident_start(s[i + 1])) {
                err_unexpected(c, len, i + 1, "");
                return EF_EPARSE;
            }
            start = i + 1;
        } else if (ch == '[') {
            if (i == 0) {
                err_unexpected(c, len, i, "");
                return EF_EPARSE;
            }
            if (start != i && (rc = push_key(p, s + start, i - start)) != 0) {
                return rc;
            }
            if (i == len - 1) {
                perr(c, "Invalid property expression: unterminated expression");
                return EF_EPARSE;
            }
            if (len - (i + 1) >= 4 && memcmp(s + i + 1, "msg", 3) == 0 &&
                (s[i + 4] == '.' || s[i + 4] == '[')) {
                /* A nested reference: find the matching ']' (brackets are
                 * counted even inside quotes, as Node-RED does). */
                int depth = 1;
                size_t j;
                for (j = i + 1; j < len; j++) {
                    if (s[j] == '[') {
                        depth++;
                    } else if (s[j] == ']') {
                        depth--;
                    }
                    if (depth == 0) {
                        break;
                    }
                }
                if (depth > 0) {
                    perr(c, "Invalid property expression: unmatched '[' at position %zu",
                         js_pos(s, i));
                    return EF_EPARSE;
                }
                /* Resolved like getMessageProperty: "msg." is stripped. */
                const char *inner = s + i + 1;
                size_t ilen = j - (i + 1);
                if (ilen >= 4 && memcmp(inner, "msg.", 4) == 0) {
                    inner += 4;
                    ilen -= 4;
                }
                struct pctx sub = {inner, NULL, 0};
                struct ef_path *np =
                    nest < PATH_MAX_NEST ? parse(inner, ilen, &sub, nest + 1) : NULL;
                if (!np) {
                    perr(c, "Invalid expression started at position %zu", js_pos(s, i + 1));
                    return EF_EPARSE;
                }
                struct seg *sg = seg_add(p);
                if (!sg) {
                    ef_path_free(np);
                    return EF_ENOMEM;
                }
                sg->kind = SEG_NESTED;
                sg->nested = np;
                in_box = false;
                i = j;
                start = j + 1;
                continue;
            }
            char nx = s[i + 1];
            if (nx != '"' && nx != '\'' && !(nx >= '0' && nx <= '9')) {
                err_unexpected(c, len, i + 1, "");
                return EF_EPARSE;
            }
            start = i + 1;
            in_box = true;
        } else if (ch == ']') {
            if (!in_box) {
                err_unexpected(c, len, i, "");
                return EF_EPARSE;
            }
            if (start != i) {
                if (!all_digits(s + start, i - start)) {
                    perr(c,
                         "Invalid property expression: unexpected array expression at position %zu",
                         js_pos(s, start));
                    return EF_EPARSE;
                }
                if ((rc = push_index(p, s + start, i - start)) != 0) {
                    return rc;
                }
            }
            start = i + 1;
            in_box = false;
        } else if (ch == ' ') {
            perr(c, "Invalid property expression: unexpected ' ' at position %zu", js_pos(s, i));
            return EF_EPARSE;
        }
    }
    if (in_box || in_string) {
        perr(c, "Invalid property expression: unterminated expression");
        return EF_EPARSE;
    }
    if (start < len && (rc = push_key(p, s + start, len - start)) != 0) {
        return rc;
    }
    return 0;
}

static struct ef_path *parse(const char *s, size_t len, struct pctx *c, int nest)
{
    struct ef_path *p = calloc(1, sizeof(*p));
    if (!p) {
        perr(c, "out of memory");
        return NULL;
    }
    p->text = malloc(len + 1);
    if (!p->text) {
        free(p);
        perr(c, "out of memory");
        return NULL;
    }
    memcpy(p->text, s, len);
    p->text[len] = '\0';
    int rc = parse_into(p, s, len, c, nest);
    if (rc != 0) {
        if (rc == EF_ENOMEM) {
            perr(c, "out of memory");
        }
        ef_path_free(p);
        return NULL;
    }
    return p;
}

/*
 * Parses a property expression as RED.util.normalisePropertyExpression
 * does; a leading "msg." is not stripped here (ef_msg_* do that). Returns
 * a new path the caller frees with ef_path_free(), or NULL with Node-RED's
 * error text in err (when err is not NULL).
 */
struct ef_path *ef_path_parse(const char *expr, char *err, size_t errlen)
{
    if (err && errlen) {
        err[0] = '\0';
    }
    if (!expr) {
        expr = "";
    }
    struct pctx c = {expr, err, errlen};
    return parse(expr, strlen(expr), &c, 0);
}

/* Frees a path and its nested paths (NULL-safe). */
void ef_path_free(struct ef_path *p)
{
    if (!p) {
        return;
    }
    for (size_t i = 0; i < p->n; i++) {
        free(p->segs[i].key);
        ef_path_free(p->segs[i].nested);
    }
    free(p->segs);
    free(p->text);
    free(p);
}

/* The expression text the path was parsed from (borrowed from p). */
const char *ef_path_text(const struct ef_path *p)
{
    return p ? p->text : "";
}

/* Number of segments (keys, indexes and nested references). */
size_t ef_path_nsegs(const struct ef_path *p)
{
    return p ? p->n : 0;
}

/* The first segment if it is a plain string key (borrowed), else NULL. */
const char *ef_path_first_key(const struct ef_path *p)
{
    if (!p || p->n == 0 || p->segs[0].kind != SEG_KEY) {
        return NULL;
    }
    return p->segs[0].key;
}

/* ---- Resolving segments ---- */

/* A segment resolved to a property key (as JavaScript would coerce it). */
struct rkey {
    bool is_num; /* typeof key === 'number' */
    double num;
    const char *s; /* the key as a string, always set */
    size_t len;
    char buf[32];
    struct ef_val *hold; /* reference keeping s alive, or NULL */
};

static void rkey_num(struct rkey *k, double d)
{
    k->is_num = true;
    k->num = d;
    k->len = ef_num_format(d, k->buf);
    k->s = k->buf;
}

/* Resolves segment sg into k; false if a nested reference is unresolvable. */
static bool resolve(const struct seg *sg, const struct ef_val *msg, struct rkey *k)
{
    memset(k, 0, sizeof(*k));
    switch (sg->kind) {
    case SEG_KEY:
        k->s = sg->key;
        k->len = sg->klen;
        return true;
    case SEG_INDEX: rkey_num(k, sg->index); return true;
    case SEG_NESTED: break;
    }
    struct ef_val *v = msg ? ef_path_get(msg, sg->nested, msg) : NULL;
    switch (ef_val_type(v)) {
    case EF_STR:
        k->hold = ef_val_ref(v);
        k->s = v->u.s.p;
        k->len = v->u.s.len;
        return true;
    case EF_NUM: rkey_num(k, v->u.n); return true;
    case EF_BOOL:
        k->s = v->u.b ? "true" : "false";
        k->len = strlen(k->s);
        return true;
    case EF_NULL:
        if (!v) {
            return false; /* undefined reference */
        }
        k->s = "null";
        k->len = 4;
        return true;
    default: return false;
    }
}

static void rkeys_release(struct rkey *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ef_val_unref(keys[i].hold);
    }
}

/* Resolves every segment; returns a malloc'ed array or NULL (*rc says why). */
static struct rkey *resolve_all(const struct ef_path *p, const struct ef_val *msg, int *rc)
{
    struct rkey *keys = malloc((p->n ? p->n : 1) * sizeof(*keys));
    if (!keys) {
        *rc = EF_ENOMEM;
        return NULL;
    }
    for (size_t i = 0; i < p->n; i++) {
        if (!resolve(&p->segs[i], msg, &keys[i])) {
            rkeys_release(keys, i);
            free(keys);
            *rc = EF_EINVAL;
            return NULL;
        }
    }
    return keys;
}

/* The array index a key denotes (canonical "0".."4294967294"), if any. */
static bool key_index(const struct rkey *k, size_t *out)
{
    if (k->is_num) {
        if (k->num >= 0 && k->num < 4294967295.0 && k->num == (double)(uint64_t)k->num) {
            *out = (size_t)k->num;
            return true;
        }
        return false;
    }
    if (k->len == 0 || k->len > 10 || (k->len > 1 && k->s[0] == '0') || !all_digits(k->s, k->len)) {
        return false;
    }
    double d = digits_value(k->s, k->len);
    if (d >= 4294967295.0) {
        return false;
    }
    *out = (size_t)d;
    return true;
}

/* obj[key] for a container, or NULL when absent or obj is a leaf. */
static struct ef_val *child(const struct ef_val *obj, const struct rkey *k)
{
    size_t idx;
    switch (ef_val_type(obj)) {
    case EF_OBJ: return ef_val_obj_getn(obj, k->s, k->len);
    case EF_ARR: return key_index(k, &idx) ? ef_val_arr_at(obj, idx) : NULL;
    default: return NULL;
    }
}

static bool is_container(const struct ef_val *v)
{
    return v && (v->type == EF_OBJ || v->type == EF_ARR);
}

/* ---- Get ---- */

/*
 * Value at p under root, as getObjectProperty would return it (borrowed;
 * NULL when absent, when a parent is missing, or when a nested reference
 * cannot be resolved against msg).
 */
struct ef_val *ef_path_get(const struct ef_val *root, const struct ef_path *p,
                           const struct ef_val *msg)
{
    if (!root || !p) {
        return NULL;
    }
    const struct ef_val *cur = root;
    for (size_t i = 0; i < p->n && cur; i++) {
        struct rkey k;
        if (!resolve(&p->segs[i], msg, &k)) {
            return NULL;
        }
        cur = child(cur, &k);
        ef_val_unref(k.hold);
    }
    return (struct ef_val *)cur;
}

/* ---- Set and delete ---- */

/*
 * Walks the path read-only as setObjectProperty would and reports whether
 * the operation can succeed, without changing anything. For deletes
 * (`del`), a missing or non-container parent means "nothing to do" (1).
 */
static int check_path(const struct ef_val *root, const struct rkey *keys, size_t n,
                      bool create_missing, bool del)
{
    const struct ef_val *obj = root;
    for (size_t i = 0; i + 1 < n; i++) {
        const struct rkey *k = &keys[i];
        size_t idx = 0;
        if (obj->type == EF_ARR && !key_index(k, &idx)) {
            return del ? 1 : EF_ETYPE; /* arrays have no named properties here */
        }
        const struct ef_val *c = child(obj, k);
        if (c) {
            if (!is_container(c)) {
                return del ? 1 : EF_ETYPE;
            }
            obj = c;
            continue;
        }
        if (!create_missing) {
            return del ? 1 : EF_ENOENT;
        }
        if (obj->type == EF_ARR && idx - obj->u.arr.len >= PATH_MAX_GROW) {
            return EF_ERANGE;
        }
        /* Everything below is created: a key that is a number lands in a
         * new array, so it must be a usable index. */
        for (size_t j = i + 1; j < n; j++) {
            if (keys[j].is_num) {
                if (!key_index(&keys[j], &idx)) {
                    return EF_ETYPE;
                }
                if (idx >= PATH_MAX_GROW) {
                    return EF_ERANGE;
                }
            }
        }
        return 0;
    }
    if (n == 0) {
        return EF_EINVAL;
    }
    size_t idx;
    if (obj->type == EF_ARR) {
        if (!key_index(&keys[n - 1], &idx)) {
            return del ? 1 : EF_ETYPE;
        }
        if (!del && idx > obj->u.arr.len && idx - obj->u.arr.len >= PATH_MAX_GROW) {
            return EF_ERANGE;
        }
    }
    return 0;
}

/* A new empty container for a missing intermediate: [] before an index. */
static struct ef_val *new_container(const struct rkey *next)
{
    return next->is_num ? ef_val_arr() : ef_val_obj();
}

/*
 * Slot of obj[key] in the writable container obj, creating the child when
 * missing. Returns NULL on OOM.
 */
static struct ef_val **child_slot(struct ef_val *obj, const struct rkey *k, const struct rkey *next)
{
    size_t idx = 0;
    struct ef_val **slot;
    if (obj->type == EF_OBJ) {
        slot = ef_val_obj_slot(obj, k->s, k->len);
    } else {
        key_index(k, &idx);
        slot = ef_val_arr_slot(obj, idx);
    }
    if (slot) {
        return slot;
    }
    struct ef_val *c = new_container(next);
    if (!c) {
        return NULL;
    }
    int rc = obj->type == EF_OBJ ? ef_val_obj_setn_take(obj, k->s, k->len, c)
                                 : ef_val_arr_set_take(obj, idx, c);
    if (rc != 0) {
        ef_val_unref(c);
        return NULL;
    }
    return obj->type == EF_OBJ ? ef_val_obj_slot(obj, k->s, k->len) : ef_val_arr_slot(obj, idx);
}

/*
 * Copy-on-write descent to the container holding the last key. Returns it
 * (writable) or NULL on OOM; check_path() must have approved the path.
 */
static struct ef_val *descend(struct ef_val **root, const struct rkey *keys, size_t n)
{
    struct ef_val **slot = root;
    for (size_t i = 0; i + 1 < n; i++) {
        struct ef_val *obj = ef_val_mut(slot);
        if (!obj) {
            return NULL;
        }
        slot = child_slot(obj, &keys[i], &keys[i + 1]);
        if (!slot) {
            return NULL;
        }
    }
    return ef_val_mut(slot);
}

static int op_begin(struct ef_val **root, const struct ef_path *p, const struct ef_val *msg,
                    struct rkey **keys)
{
    if (!root || !*root || !p || p->n == 0) {
        return EF_EINVAL;
    }
    if (!is_container(*root)) {
        return EF_ETYPE;
    }
    int rc = 0;
    *keys = resolve_all(p, msg, &rc);
    return *keys ? 0 : rc;
}

/*
 * Sets the value at p under *root (setMessageProperty), adopting v on
 * success only. Containers on the path are made writable with ef_val_mut()
 * (so *root may be replaced by a copy); with create_missing, missing
 * intermediates are created ([] when the next segment is a number, else
 * {}). Returns 0, EF_ENOENT (missing intermediate without create_missing),
 * EF_ETYPE (a primitive on the way, or a named key on an array), EF_EINVAL
 * (a nested reference cannot be resolved), EF_ERANGE (array would grow by
 * PATH_MAX_GROW or more) or EF_ENOMEM. On failure nothing has changed,
 * except that an OOM may leave copies of shared containers in place.
 */
int ef_path_set_take(struct ef_val **root, const struct ef_path *p, struct ef_val *v,
                     bool create_missing, const struct ef_val *msg)
{
    struct rkey *keys;
    int rc = op_begin(root, p, msg, &keys);
    if (rc != 0) {
        return rc;
    }
    rc = check_path(*root, keys, p->n, create_missing, false);
    if (rc == 0) {
        struct ef_val *obj = descend(root, keys, p->n);
        const struct rkey *k = &keys[p->n - 1];
        size_t idx = 0;
        if (!obj) {
            rc = EF_ENOMEM;
        } else if (obj->type == EF_OBJ) {
            rc = ef_val_obj_setn_take(obj, k->s, k->len, v);
        } else {
            key_index(k, &idx);
            rc = ef_val_arr_set_take(obj, idx, v);
        }
    }
    rkeys_release(keys, p->n);
    free(keys);
    return rc;
}

/*
 * Deletes the value at p (setMessageProperty with undefined): an index into
 * an array removes the element (splice), a string key on an array leaves
 * null in its place (as `delete arr["1"]` leaves a hole). Missing parents
 * are not created. Returns 0 if deleted or already absent, EF_EINVAL if a
 * nested reference cannot be resolved, EF_ENOMEM.
 */
int ef_path_delete(struct ef_val **root, const struct ef_path *p, const struct ef_val *msg)
{
    struct rkey *keys;
    int rc = op_begin(root, p, msg, &keys);
    if (rc != 0) {
        return rc;
    }
    rc = check_path(*root, keys, p->n, false, true);
    const struct rkey *k = &keys[p->n - 1];
    if (rc == 0) {
        /* Only descend (and copy) if there is something to delete. */
        const struct ef_val *parent = *root;
        for (size_t i = 0; i + 1 < p->n; i++) {
            parent = child(parent, &keys[i]);
        }
        if (child(parent, k)) {
            struct ef_val *obj = descend(root, keys, p->n);
            size_t idx = 0;
            if (!obj) {
                rc = EF_ENOMEM;
            } else if (obj->type == EF_OBJ) {
                ef_val_obj_del(obj, k->s, k->len);
            } else {
                key_index(k, &idx);
                rc = k->is_num ? ef_val_arr_remove(obj, idx)
                               : ef_val_arr_set_take(obj, idx, ef_val_null());
            }
        }
    } else if (rc == 1) {
        rc = 0;
    }
    rkeys_release(keys, p->n);
    free(keys);
    return rc;
}
