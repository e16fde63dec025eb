/*
 * conv.c - converting messages between edgeflow values and Lua, and the
 * data types scripts see (docs/plugins.md, "Message conversion"):
 *
 *   ef null      <-> `null` (a light userdata; nil means absent)
 *   bool         <-> boolean
 *   number       <-> integer when the double is integral and |n| < 2^53 (so
 *                    tostring(3) is "3" as in JavaScript), float otherwise;
 *                    back, every Lua number becomes a double
 *   string       <-> string (bytes)
 *   buffer       <-> Buffer userdata (shares the bytes; copy on write)
 *   array        <-> table 1..n marked with the array metatable (stays an
 *                    array when empty); array(t) marks a new table
 *   object       <-> table with string keys
 *   handle       <-> Handle userdata (msg.req/msg.res pass through untouched)
 *
 * Lua to edgeflow: a table is an array when it carries the array mark, or
 * when it is not empty and its keys are exactly positive integers with no
 * more than a few holes (holes become null). Anything else, including an
 * empty unmarked table, is an object; number and boolean keys become their
 * text. Objects that came from the message keep their key order; keys the
 * script added follow in sorted order. Functions are left out (JSON.stringify
 * does the same).
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"

#define CONV_MAX_DEPTH EF_JSON_MAX_DEPTH
#define SKIP ((struct ef_val *)&skip_tag)

static const char skip_tag; /* address only: "leave this value out" */
static const char arr_key;  /* registry keys (addresses only) */
static const char buf_key;
static const char handle_key;

struct lbuf {
    struct ef_val *v; /* EF_BUF, owned reference */
    size_t counted;   /* bytes charged to the sandbox's memory cap */
};

struct lhandle {
    struct ef_val *v; /* EF_HANDLE, owned reference */
};

/* ---- The table -> object map ---- */

static size_t ptr_hash(const void *p, size_t cap)
{
    uintptr_t x = (uintptr_t)p;
    x ^= x >> 17;
    x *= 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 20) & (cap - 1);
}

void conv_map_reset(struct conv_map *m)
{
    if (m->n) {
        memset(m->tables, 0, m->cap * sizeof(*m->tables));
        m->n = 0;
    }
}

void conv_map_free(struct conv_map *m)
{
    free(m->tables);
    free(m->objs);
    memset(m, 0, sizeof(*m));
}

static void map_put(struct conv_map *m, const void *t, const struct ef_val *o);

static int map_grow(struct conv_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    struct conv_map nm = {calloc(cap, sizeof(void *)), calloc(cap, sizeof(void *)), 0, cap};
    if (!nm.tables || !nm.objs) {
        free(nm.tables);
        free(nm.objs);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->tables[i]) {
            map_put(&nm, m->tables[i], m->objs[i]);
        }
    }
    free(m->tables);
    free(m->objs);
    *m = nm;
    return 0;
}

static void map_put(struct conv_map *m, const void *t, const struct ef_val *o)
{
    if ((m->n + 1) * 2 > m->cap && map_grow(m) != 0) {
        return; /* only the key order is lost */
    }
    size_t i = ptr_hash(t, m->cap);
    while (m->tables[i] && m->tables[i] != t) {
        i = (i + 1) & (m->cap - 1);
    }
    if (!m->tables[i]) {
        m->n++;
    }
    m->tables[i] = t;
    m->objs[i] = o;
}

static const struct ef_val *map_get(const struct conv_map *m, const void *t)
{
    if (!m || !m->n) {
        return NULL;
    }
    size_t i = ptr_hash(t, m->cap);
    while (m->tables[i]) {
        if (m->tables[i] == t) {
            return m->objs[i];
        }
        i = (i + 1) & (m->cap - 1);
    }
    return NULL;
}

/* ---- ef -> Lua ---- */

void conv_push(lua_State *L, const struct ef_val *v, struct conv_map *map)
{
    luaL_checkstack(L, 4, "message too deeply nested");
    switch (ef_val_type(v)) {
    case EF_NULL:
        if (v) {
            lua_pushlightuserdata(L, NULL);
        } else {
            lua_pushnil(L);
        }
        break;
    case EF_BOOL: lua_pushboolean(L, ef_val_bool_get(v)); break;
    case EF_NUM: {
        double d = ef_val_num_get(v);
        if (d >= -9007199254740991.0 && d <= 9007199254740991.0 && d == (double)(int64_t)d &&
            !(d == 0 && signbit(d))) {
            lua_pushinteger(L, (lua_Integer)d);
        } else {
            lua_pushnumber(L, d);
        }
        break;
    }
    case EF_STR: lua_pushlstring(L, ef_val_str_get(v), ef_val_str_len(v)); break;
    case EF_BUF: {
        /* Userdata first, then the reference, so a memory error cannot leak it. */
        struct lbuf *b = lua_newuserdatauv(L, sizeof(*b), 0);
        b->v = ef_val_ref((struct ef_val *)v);
        b->counted = 0;
        lua_rawgetp(L, LUA_REGISTRYINDEX, &buf_key);
        lua_setmetatable(L, -2);
        break;
    }
    case EF_HANDLE: {
        struct lhandle *h = lua_newuserdatauv(L, sizeof(*h), 0);
        h->v = NULL;
        lua_rawgetp(L, LUA_REGISTRYINDEX, &handle_key);
        lua_setmetatable(L, -2);
        h->v = ef_val_ref((struct ef_val *)v);
        break;
    }
    case EF_ARR: {
        size_t n = ef_val_arr_len(v);
        lua_createtable(L, n > INT_MAX ? INT_MAX : (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            conv_push(L, ef_val_arr_at(v, i), map);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        lua_rawgetp(L, LUA_REGISTRYINDEX, &arr_key);
        lua_setmetatable(L, -2);
        break;
    }
    case EF_OBJ: {
        size_t n = ef_val_obj_len(v);
        lua_createtable(L, 0, n > INT_MAX ? INT_MAX : (int)n);
        for (size_t i = 0; i < n; i++) {
            size_t klen;
            const char *k = ef_val_obj_key_at(v, i, &klen);
            lua_pushlstring(L, k, klen);
            conv_push(L, ef_val_obj_val_at(v, i), map);
            lua_rawset(L, -3);
        }
        if (map) {
            map_put(map, lua_topointer(L, -1), v);
        }
        break;
    }
    }
}

/* ---- Lua -> ef (never raises) ---- */

struct entry {
    const char *k;
    size_t klen;
    size_t rank;
    struct ef_val *v;
    char num[40];
};

static struct ef_val *to_val(lua_State *L, int idx, const struct conv_map *map, int depth,
                             char *err, size_t errlen);

static const void *mt_of(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx)) {
        return NULL;
    }
    const void *p = lua_topointer(L, -1);
    lua_pop(L, 1);
    return p;
}

/* Returns 1 for an array (*len = highest index), 0 for an object. */
static int classify(lua_State *L, int idx, bool marked, lua_Integer *len)
{
    lua_Integer max = 0, count = 0;
    bool all_int = true;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0) {
            lua_Integer k = lua_tointeger(L, -1);
            max = k > max ? k : max;
            count++;
        } else {
            all_int = false;
        }
    }
    *len = max;
    if (marked) {
        return 1;
    }
    return count > 0 && all_int && max <= 2 * count + 8;
}

bool conv_is_array(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE || !lua_checkstack(L, 3)) {
        return false;
    }
    struct lsb *sb = sb_of(L);
    lua_Integer len;
    return classify(L, idx, mt_of(L, idx) == sb->arr_mt, &len) == 1;
}

static int cmp_entry(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->rank != y->rank) {
        return x->rank < y->rank ? -1 : 1;
    }
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->k, y->k, n);
    return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

static struct ef_val *table_to_obj(lua_State *L, int idx, const struct conv_map *map, int depth,
                                   char *err, size_t errlen)
{
    struct entry small[16], *e = small;
    size_t n = 0, cap = 16;
    struct ef_val *out = NULL;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (n == cap) {
            struct entry *ne = malloc(cap * 2 * sizeof(*ne));
            if (!ne) {
                lua_pop(L, 2);
                snprintf(err, errlen, "out of memory");
                goto done;
            }
            memcpy(ne, e, n * sizeof(*ne));
            if (e != small) {
                free(e);
            }
            e = ne;
            cap *= 2;
        }
        struct entry *en = &e[n];
        int kt = lua_type(L, -2);
        if (kt == LUA_TSTRING) {
            en->k = lua_tolstring(L, -2, &en->klen);
        } else if (kt == LUA_TNUMBER) {
            if (lua_isinteger(L, -2)) {
                en->klen = (size_t)snprintf(en->num, sizeof(en->num), "%lld",
                                            (long long)lua_tointeger(L, -2));
            } else {
                en->klen = ef_num_format(lua_tonumber(L, -2), en->num);
            }
            en->k = NULL;
        } else if (kt == LUA_TBOOLEAN) {
            en->k = lua_toboolean(L, -2) ? "true" : "false";
            en->klen = strlen(en->k);
        } else {
            lua_pop(L, 2);
            snprintf(err, errlen, "cannot convert a table key of type %s to a message property",
                     lua_typename(L, kt));
            goto done;
        }
        en->v = to_val(L, lua_gettop(L), map, depth + 1, err, errlen);
        lua_pop(L, 1);
        if (!en->v) {
            lua_pop(L, 1);
            goto done;
        }
        if (en->v == SKIP) {
            continue;
        }
        n++;
    }
    for (size_t i = 0; i < n; i++) {
        if (!e[i].k) {
            e[i].k = e[i].num; /* fixed now: the array no longer moves */
        }
    }
    /* Keys the original object had come first, in its order; new ones sorted. */
    const struct ef_val *orig = map_get(map, lua_topointer(L, idx));
    size_t norig = orig ? ef_val_obj_len(orig) : 0;
    for (size_t i = 0; i < n; i++) {
        e[i].rank = (size_t)-1;
        if (norig && norig <= 64) {
            for (size_t j = 0; j < norig; j++) {
                size_t kl;
                const char *k = ef_val_obj_key_at(orig, j, &kl);
                if (kl == e[i].klen && !memcmp(k, e[i].k, kl)) {
                    e[i].rank = j;
                    break;
                }
            }
        } else if (norig && ef_val_obj_getn(orig, e[i].k, e[i].klen)) {
            e[i].rank = 0; /* large objects: old keys first, sorted */
        }
    }
    bool sorted = true;
    for (size_t i = 1; i < n && sorted; i++) {
        sorted = cmp_entry(&e[i - 1], &e[i]) < 0;
    }
    if (!sorted) {
        qsort(e, n, sizeof(*e), cmp_entry);
    }
    out = ef_val_obj();
    if (!out) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (ef_val_obj_setn_take(out, e[i].k, e[i].klen, e[i].v) != 0) {
            ef_val_unref(out);
            out = NULL;
            snprintf(err, errlen, "out of memory");
            goto done;
        }
        e[i].v = NULL;
    }
done:
    for (size_t i = 0; i < n; i++) {
        ef_val_unref(e[i].v);
    }
    if (e != small) {
        free(e);
    }
    return out;
}

static struct ef_val *table_to_arr(lua_State *L, int idx, lua_Integer len,
                                   const struct conv_map *map, int depth, char *err, size_t errlen)
{
    struct ef_val *a = ef_val_arr();
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (lua_Integer i = 1; i <= len; i++) {
        lua_rawgeti(L, idx, i);
        struct ef_val *v = to_val(L, lua_gettop(L), map, depth + 1, err, errlen);
        lua_pop(L, 1);
        if (!v) {
            ef_val_unref(a);
            return NULL;
        }
        if (v == SKIP) {
            v = ef_val_null();
        }
        if (ef_val_arr_push_take(a, v) != 0) {
            ef_val_unref(v);
            ef_val_unref(a);
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
    }
    return a;
}

static struct ef_val *to_val(lua_State *L, int idx, const struct conv_map *map, int depth,
                             char *err, size_t errlen)
{
    struct ef_val *v;
    switch (lua_type(L, idx)) {
    case LUA_TNONE:
    case LUA_TNIL: return ef_val_null();
    case LUA_TBOOLEAN: return ef_val_bool(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        v = ef_val_num(lua_isinteger(L, idx) ? (double)lua_tointeger(L, idx)
                                             : (double)lua_tonumber(L, idx));
        break;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        v = ef_val_strn(s, len);
        break;
    }
    case LUA_TLIGHTUSERDATA: return ef_val_null();
    case LUA_TUSERDATA: {
        const void *mt = mt_of(L, idx);
        struct lsb *sb = sb_of(L);
        if (mt && mt == sb->buf_mt) {
            return ef_val_ref(((struct lbuf *)lua_touserdata(L, idx))->v);
        }
        lua_rawgetp(L, LUA_REGISTRYINDEX, &handle_key);
        bool is_handle = mt && mt == lua_topointer(L, -1);
        lua_pop(L, 1);
        if (is_handle) {
            return ef_val_ref(((struct lhandle *)lua_touserdata(L, idx))->v);
        }
        return SKIP;
    }
    case LUA_TTABLE: {
        if (depth >= CONV_MAX_DEPTH) {
            snprintf(err, errlen, "table nested deeper than %d levels (or cyclic)", CONV_MAX_DEPTH);
            return NULL;
        }
        if (!lua_checkstack(L, 4)) {
            snprintf(err, errlen, "table nested too deeply");
            return NULL;
        }
        lua_Integer len;
        if (classify(L, idx, mt_of(L, idx) == sb_of(L)->arr_mt, &len)) {
            if (len > (lua_Integer)(64u << 20)) {
                snprintf(err, errlen, "array too long");
                return NULL;
            }
            return table_to_arr(L, idx, len, map, depth, err, errlen);
        }
        return table_to_obj(L, idx, map, depth, err, errlen);
    }
    default: return SKIP; /* functions, coroutines */
    }
    if (!v) {
        snprintf(err, errlen, "out of memory");
    }
    return v;
}

struct ef_val *conv_to_val(lua_State *L, int idx, const struct conv_map *map, char *err,
                           size_t errlen)
{
    if (!lua_checkstack(L, 8)) {
        snprintf(err, errlen, "Lua stack exhausted");
        return NULL;
    }
    struct ef_val *v = to_val(L, lua_absindex(L, idx), map, 0, err, errlen);
    return v == SKIP ? ef_val_null() : v;
}

/* ---- Buffer ---- */

static struct lbuf *check_buf(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, "Buffer");
}

/* Makes a new counted Buffer of len bytes (zeroed) and pushes it; returns its data. */
static uint8_t *new_buffer(lua_State *L, size_t len)
{
    sb_account(L, (int64_t)len);
    struct lbuf *b = lua_newuserdatauv(L, sizeof(*b), 0);
    b->v = NULL;
    b->counted = len;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &buf_key);
    lua_setmetatable(L, -2);
    void *data = calloc(1, len ? len : 1);
    b->v = data ? ef_val_buf_take(data, len) : NULL;
    if (!b->v) {
        luaL_error(L, "not enough memory");
        return NULL;
    }
    return (uint8_t *)ef_val_buf_data(b->v);
}

static int buf_gc(lua_State *L)
{
    struct lbuf *b = lua_touserdata(L, 1);
    ef_val_unref(b->v);
    b->v = NULL;
    if (b->counted) {
        sb_account(L, -(int64_t)b->counted);
        b->counted = 0;
    }
    return 0;
}

static int buf_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)ef_val_buf_len(check_buf(L, 1)->v));
    return 1;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int buf_tostring_enc(lua_State *L)
{
    struct lbuf *b = check_buf(L, 1);
    const char *enc = luaL_optstring(L, 2, "utf8");
    const uint8_t *d = ef_val_buf_data(b->v);
    size_t n = ef_val_buf_len(b->v);
    luaL_Buffer out;
    if (!strcmp(enc, "hex")) {
        luaL_buffinit(L, &out);
        for (size_t i = 0; i < n; i++) {
            char h[3];
            snprintf(h, sizeof(h), "%02x", d[i]);
            luaL_addlstring(&out, h, 2);
        }
        luaL_pushresult(&out);
    } else if (!strcmp(enc, "base64")) {
        luaL_buffinit(L, &out);
        for (size_t i = 0; i < n; i += 3) {
            uint32_t x = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) |
                         (i + 2 < n ? d[i + 2] : 0);
            char q[4] = {b64[x >> 18 & 63], b64[x >> 12 & 63], i + 1 < n ? b64[x >> 6 & 63] : '=',
                         i + 2 < n ? b64[x & 63] : '='};
            luaL_addlstring(&out, q, 4);
        }
        luaL_pushresult(&out);
    } else {
        lua_pushlstring(L, (const char *)d, n);
    }
    return 1;
}

static int buf_tostring(lua_State *L)
{
    lua_settop(L, 1);
    return buf_tostring_enc(L);
}

static int b64val(int c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : c == '-' ? 62 : c == '_' ? 63 : -1;
}

static int buffer_from(lua_State *L)
{
    int t = lua_type(L, 1);
    if (t == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, 1, &n);
        const char *enc = luaL_optstring(L, 2, "utf8");
        if (!strcmp(enc, "hex")) {
            uint8_t *d = new_buffer(L, n / 2);
            for (size_t i = 0; i + 1 < n; i += 2) {
                unsigned x;
                if (sscanf(s + i, "%2x", &x) != 1) {
                    break;
                }
                d[i / 2] = (uint8_t)x;
            }
        } else if (!strcmp(enc, "base64")) {
            uint8_t *d = new_buffer(L, n / 4 * 3 + 3);
            size_t o = 0;
            uint32_t acc = 0;
            int bits = 0;
            for (size_t i = 0; i < n; i++) {
                int v = b64val((unsigned char)s[i]);
                if (v < 0) {
                    continue;
                }
                acc = acc << 6 | (uint32_t)v;
                bits += 6;
                if (bits >= 8) {
                    bits -= 8;
                    d[o++] = (uint8_t)(acc >> bits);
                }
            }
            struct lbuf *b = lua_touserdata(L, -1);
            struct ef_val *v = ef_val_buf(d, o);
            if (!v) {
                return luaL_error(L, "not enough memory");
            }
            ef_val_unref(b->v);
            b->v = v;
        } else {
            uint8_t *d = new_buffer(L, n);
            memcpy(d, s, n);
        }
        return 1;
    }
    if (t == LUA_TUSERDATA) {
        struct lbuf *src = check_buf(L, 1);
        size_t n = ef_val_buf_len(src->v);
        uint8_t *d = new_buffer(L, n);
        memcpy(d, ef_val_buf_data(src->v), n);
        return 1;
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 1);
    if (n < 0 || n > (64 << 20)) {
        return luaL_error(L, "Buffer.from: bad length");
    }
    sb_charge(L, n);
    uint8_t *d = new_buffer(L, (size_t)n);
    for (lua_Integer i = 0; i < n; i++) {
        lua_geti(L, 1, i + 1);
        d[i] = (uint8_t)(luaL_optinteger(L, -1, 0) & 0xff);
        lua_pop(L, 1);
    }
    return 1;
}

static int buffer_alloc(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    if (n < 0 || n > (lua_Integer)(1u << 30)) {
        return luaL_error(L, "Buffer.alloc: bad size");
    }
    uint8_t *d = new_buffer(L, (size_t)n);
    memset(d, (int)(luaL_optinteger(L, 2, 0) & 0xff), (size_t)n);
    return 1;
}

static int buffer_is(lua_State *L)
{
    lua_pushboolean(L, luaL_testudata(L, 1, "Buffer") != NULL);
    return 1;
}

static int buffer_concat(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 1);
    size_t total = 0;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        total += ef_val_buf_len(check_buf(L, -1)->v);
        lua_pop(L, 1);
    }
    uint8_t *d = new_buffer(L, total);
    size_t o = 0;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        struct lbuf *b = check_buf(L, -1);
        size_t len = ef_val_buf_len(b->v);
        memcpy(d + o, ef_val_buf_data(b->v), len);
        o += len;
        lua_pop(L, 1);
    }
    return 1;
}

/* buf:slice(start, end): bytes [start, end) as a new Buffer, 0-based, negatives from the end. */
static int buf_slice(lua_State *L)
{
    struct lbuf *b = check_buf(L, 1);
    lua_Integer len = (lua_Integer)ef_val_buf_len(b->v);
    lua_Integer s = luaL_optinteger(L, 2, 0), e = luaL_optinteger(L, 3, len);
    s = s < 0 ? (s + len < 0 ? 0 : s + len) : (s > len ? len : s);
    e = e < 0 ? (e + len < 0 ? 0 : e + len) : (e > len ? len : e);
    if (e < s) {
        e = s;
    }
    uint8_t *d = new_buffer(L, (size_t)(e - s));
    memcpy(d, ef_val_buf_data(b->v) + s, (size_t)(e - s));
    return 1;
}

static int buf_index(lua_State *L)
{
    struct lbuf *b = check_buf(L, 1);
    if (lua_isinteger(L, 2)) {
        lua_Integer i = lua_tointeger(L, 2);
        if (i < 0 || (size_t)i >= ef_val_buf_len(b->v)) {
            lua_pushnil(L);
        } else {
            lua_pushinteger(L, ef_val_buf_data(b->v)[i]);
        }
        return 1;
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1)); /* methods */
    return 1;
}

static int buf_newindex(lua_State *L)
{
    struct lbuf *b = check_buf(L, 1);
    lua_Integer i = luaL_checkinteger(L, 2);
    lua_Integer x = luaL_checkinteger(L, 3);
    size_t n = ef_val_buf_len(b->v);
    if (i < 0 || (size_t)i >= n) {
        return 0; /* as a Node.js Buffer: writes out of range are ignored */
    }
    if (ef_val_refcount(b->v) > 1) { /* shared with a message: copy on write */
        sb_account(L, (int64_t)n);
        struct ef_val *c = ef_val_buf(ef_val_buf_data(b->v), n);
        if (!c) {
            sb_account(L, -(int64_t)n);
            return luaL_error(L, "not enough memory");
        }
        ef_val_unref(b->v);
        b->v = c;
        b->counted += n;
    }
    ((uint8_t *)ef_val_buf_data(b->v))[i] = (uint8_t)(x & 0xff);
    return 0;
}

static int buf_eq(lua_State *L)
{
    struct lbuf *a = check_buf(L, 1), *b = check_buf(L, 2);
    lua_pushboolean(L, ef_val_equal(a->v, b->v));
    return 1;
}

static int handle_gc(lua_State *L)
{
    struct lhandle *h = lua_touserdata(L, 1);
    ef_val_unref(h->v);
    h->v = NULL;
    return 0;
}

static int handle_tostring(lua_State *L)
{
    struct lhandle *h = lua_touserdata(L, 1);
    const struct ef_handle_type *t = ef_val_handle_type(h->v);
    lua_pushfstring(L, "handle: %s", t && t->name ? t->name : "?");
    return 1;
}

/* ---- array(), JSON ---- */

static int lua_array(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &arr_key);
    lua_setmetatable(L, 1);
    return 1;
}

static int json_stringify(lua_State *L)
{
    char err[256];
    luaL_checkany(L, 1);
    struct ef_val *v = conv_to_val(L, 1, NULL, err, sizeof(err));
    if (!v) {
        return luaL_error(L, "JSON.stringify: %s", err);
    }
    size_t len;
    char *text = ef_json_print(v, lua_toboolean(L, 2) ? EF_JSON_PRETTY : 0, &len);
    ef_val_unref(v);
    if (!text) {
        return luaL_error(L, "not enough memory");
    }
    conv_push_text_take(L, text, len);
    return 1;
}

static int json_parse(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    char err[256];
    sb_charge(L, (int64_t)len);
    struct ef_val *v = ef_json_parse(s, len, err, sizeof(err));
    if (!v) {
        return luaL_error(L, "%s", err);
    }
    conv_push_take(L, v);
    return 1;
}

static int push_val_fn(lua_State *L)
{
    conv_push(L, lua_touserdata(L, 1), NULL);
    return 1;
}

void conv_push_take(lua_State *L, struct ef_val *v)
{
    lua_pushcfunction(L, push_val_fn);
    lua_pushlightuserdata(L, v);
    int rc = lua_pcall(L, 1, 1, 0);
    ef_val_unref(v);
    if (rc != LUA_OK) {
        lua_error(L);
    }
}

static int push_text_fn(lua_State *L)
{
    lua_pushlstring(L, lua_touserdata(L, 1), (size_t)lua_tointeger(L, 2));
    return 1;
}

void conv_push_text_take(lua_State *L, char *text, size_t len)
{
    lua_pushcfunction(L, push_text_fn);
    lua_pushlightuserdata(L, text);
    lua_pushinteger(L, (lua_Integer)len);
    int rc = lua_pcall(L, 2, 1, 0);
    free(text);
    if (rc != LUA_OK) {
        lua_error(L);
    }
}

void conv_open(lua_State *L, struct lsb *sb)
{
    sb_push_env(sb);
    int env = lua_gettop(L);

    lua_newtable(L); /* array marker */
    lua_pushliteral(L, "array");
    lua_setfield(L, -2, "__name");
    sb->arr_mt = lua_topointer(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &arr_key);

    luaL_newmetatable(L, "Handle");
    lua_pushcfunction(L, handle_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, handle_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "protected");
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &handle_key);

    luaL_newmetatable(L, "Buffer");
    sb->buf_mt = lua_topointer(L, -1);
    static const luaL_Reg methods[] = {
        {"tostring", buf_tostring_enc}, {"slice", buf_slice}, {NULL, NULL}};
    luaL_newlib(L, methods);
    lua_pushcclosure(L, buf_index, 1);
    lua_setfield(L, -2, "__index");
    static const luaL_Reg meta[] = {{"__newindex", buf_newindex},
                                    {"__len", buf_len},
                                    {"__tostring", buf_tostring},
                                    {"__eq", buf_eq},
                                    {"__gc", buf_gc},
                                    {NULL, NULL}};
    luaL_setfuncs(L, meta, 0);
    lua_pushliteral(L, "protected");
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &buf_key);

    static const luaL_Reg buffer[] = {{"from", buffer_from},
                                      {"alloc", buffer_alloc},
                                      {"isBuffer", buffer_is},
                                      {"concat", buffer_concat},
                                      {NULL, NULL}};
    luaL_newlib(L, buffer);
    lua_setfield(L, env, "Buffer");
    static const luaL_Reg json[] = {
        {"stringify", json_stringify}, {"parse", json_parse}, {NULL, NULL}};
    luaL_newlib(L, json);
    lua_setfield(L, env, "JSON");
    lua_pushcfunction(L, lua_array);
    lua_setfield(L, env, "array");
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, env, "null");
    lua_pop(L, 1);
}
