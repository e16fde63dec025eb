/*
 * api.c - what a Lua script sees of its node, mirroring the Node-RED
 * function node's sandbox: node.id/name/type/outputCount, node.send, done,
 * error, warn, log, debug, trace, status; context, flow and global with
 * get/set/keys and store names; env.get; setTimeout/setInterval and their
 * clear functions; print (node.log). Every function is a C closure whose
 * first upvalue is the struct lnode, so nothing is global.
 *
 * Message ids follow Node-RED: messages sent while a message is handled get
 * its _msgid; node.send from On Start or a timer keeps the table's _msgid or
 * gets a new one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lnode.h"

struct ltimer {
    struct lnode *ln;
    struct ef_timer *t;
    lua_Integer id;
    int fn_ref;
    bool repeat;
    bool firing; /* its callback is running: clearing only marks it */
    bool cleared;
    struct ltimer *next;
};

static struct lnode *up(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

/* Text of a value for logs: strings as they are, tables as JSON, the rest via tostring. */
static const char *text_of(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) == LUA_TTABLE) {
        char err[128];
        struct ef_val *v = conv_to_val(L, idx, NULL, err, sizeof(err));
        size_t len;
        char *t = v ? ef_json_print(v, 0, &len) : NULL;
        ef_val_unref(v);
        if (t) {
            conv_push_text_take(L, t, len);
            lua_replace(L, idx);
        }
    }
    return luaL_tolstring(L, idx, NULL);
}

/* ---- Sending ---- */

/* Converts the table at idx to a new message (raises on failure). */
static struct ef_msg *to_msg(lua_State *L, struct lnode *ln, int idx, const struct ef_val *msgid)
{
    char err[256];
    struct ef_val *v = conv_to_val(L, idx, ln->in_input ? &ln->map : NULL, err, sizeof(err));
    if (!v) {
        luaL_error(L, "cannot send: %s", err);
        return NULL;
    }
    if (msgid && ef_val_obj_set_take(v, "_msgid", ef_val_ref((struct ef_val *)msgid)) != 0) {
        ef_val_unref((struct ef_val *)msgid);
    }
    struct ef_msg *m = ef_msg_new_take(v);
    if (!m) {
        ef_val_unref(v);
        luaL_error(L, "not enough memory");
    }
    return m;
}

static void send_one(lua_State *L, struct lnode *ln, int port, int idx, const struct ef_val *msgid)
{
    int t = lua_type(L, idx);
    if (t == LUA_TNIL || t == LUA_TLIGHTUSERDATA) {
        return;
    }
    if (t != LUA_TTABLE || conv_is_array(L, idx)) {
        const char *type = t == LUA_TTABLE ? "Array"
                           : t == LUA_TUSERDATA && luaL_testudata(L, idx, "Buffer")
                               ? "Buffer"
                               : lua_typename(L, t);
        ef_node_error(ln->n, NULL, "Function tried to send a message of type %s", type);
        return;
    }
    struct ef_msg *m = to_msg(L, ln, idx, msgid);
    if (ef_node_send(ln->n, port, m) != 0) {
        ef_msg_free(m);
    }
}

void lnode_send(lua_State *L, struct lnode *ln, int idx, const struct ef_val *msgid)
{
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE || !conv_is_array(L, idx)) {
        send_one(L, ln, 0, idx, msgid);
        return;
    }
    lua_Integer nports = (lua_Integer)lua_rawlen(L, idx);
    lua_pushnil(L); /* the highest index counts, holes included */
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_isinteger(L, -1) && lua_tointeger(L, -1) > nports) {
            nports = lua_tointeger(L, -1);
        }
    }
    for (lua_Integer p = 1; p <= nports; p++) {
        lua_rawgeti(L, idx, p);
        int e = lua_gettop(L);
        if (lua_type(L, e) == LUA_TTABLE && conv_is_array(L, e)) {
            lua_Integer n = (lua_Integer)lua_rawlen(L, e);
            for (lua_Integer i = 1; i <= n; i++) {
                lua_rawgeti(L, e, i);
                send_one(L, ln, (int)(p - 1), lua_gettop(L), msgid);
                lua_pop(L, 1);
            }
        } else {
            send_one(L, ln, (int)(p - 1), e, msgid);
        }
        lua_pop(L, 1);
    }
}

/* The _msgid messages sent now get: the current input's, else none (kept or new). */
static const struct ef_val *current_id(struct lnode *ln)
{
    return ln->in_input && ln->cur ? ef_val_obj_get(ef_msg_root(ln->cur), "_msgid") : NULL;
}

static int l_send(lua_State *L)
{
    struct lnode *ln = up(L);
    if (ln->closing) {
        ef_node_error(ln->n, NULL, "Cannot send from close function");
        return 0;
    }
    lnode_send(L, ln, 1, current_id(ln));
    return 0;
}

/* done() of one message: upvalue 2 is its Lua table, cleared after the first call. */
static int l_done(lua_State *L)
{
    struct lnode *ln = up(L);
    if (lua_type(L, lua_upvalueindex(2)) != LUA_TTABLE) {
        return 0;
    }
    if (!lua_isnoneornil(L, 1)) { /* done(err): an error for the catch nodes */
        const char *text = text_of(L, 1);
        struct ef_msg *m = to_msg(L, ln, lua_upvalueindex(2), NULL);
        ef_node_error(ln->n, m, "%s", text);
        ef_msg_free(m);
    } else {
        struct ef_msg *m = to_msg(L, ln, lua_upvalueindex(2), NULL);
        ef_node_done(ln->n, m);
        ef_msg_free(m);
    }
    lua_pushnil(L);
    lua_replace(L, lua_upvalueindex(2));
    return 0;
}

/* ---- Logging, errors, status ---- */

static int l_error(lua_State *L)
{
    struct lnode *ln = up(L);
    const char *text = text_of(L, 1);
    if (lua_type(L, 2) == LUA_TTABLE) {
        struct ef_msg *m = to_msg(L, ln, 2, NULL);
        ef_node_error(ln->n, m, "%s", text);
        ef_msg_free(m);
    } else {
        ef_node_error(ln->n, NULL, "%s", text);
    }
    return 0;
}

static int l_log(lua_State *L)
{
    struct lnode *ln = up(L);
    int level = (int)lua_tointeger(L, lua_upvalueindex(2));
    const char *text = text_of(L, 1);
    if (level == EF_LOG_WARN) {
        ef_node_warn(ln->n, "%s", text);
    } else if (level == EF_LOG_INFO) {
        ef_node_log(ln->n, "%s", text);
    } else {
        ef_node_debug(ln->n, "%s", text);
    }
    return 0;
}

static int l_print(lua_State *L)
{
    struct lnode *ln = up(L);
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1) {
            luaL_addchar(&b, '\t');
        }
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    ef_node_log(ln->n, "%s", lua_tostring(L, -1));
    return 0;
}

static const char *opt_field(lua_State *L, int idx, const char *name)
{
    lua_getfield(L, idx, name);
    const char *s = lua_isnil(L, -1) ? NULL : luaL_tolstring(L, -1, NULL);
    return s; /* left on the stack so it stays alive */
}

static int l_status(lua_State *L)
{
    struct lnode *ln = up(L);
    if (lua_type(L, 1) == LUA_TTABLE) {
        const char *fill = opt_field(L, 1, "fill");
        const char *shape = opt_field(L, 1, "shape");
        const char *text = opt_field(L, 1, "text");
        ef_node_status(ln->n, fill, shape, text);
    } else if (!lua_isnoneornil(L, 1)) {
        ef_node_status(ln->n, NULL, NULL, luaL_tolstring(L, 1, NULL));
    } else {
        ef_node_status(ln->n, NULL, NULL, NULL);
    }
    return 0;
}

/* ---- Context ---- */

/* Store argument at idx, or NULL for the default store. */
static const char *store_arg(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : NULL;
}

/* Index of a trailing callback argument, or 0. */
static int callback_arg(lua_State *L)
{
    int top = lua_gettop(L);
    return top > 0 && lua_type(L, top) == LUA_TFUNCTION ? top : 0;
}

/* Splits "#:(store)::key" when no store argument was given. */
static const char *split_key(const char *key, const char **store, char *buf, size_t buflen)
{
    if (*store || strncmp(key, "#:(", 3) != 0) {
        return key;
    }
    const char *k = ef_ctx_parse_store(key, buf, buflen);
    *store = *buf ? buf : NULL;
    return k;
}

static void push_ctx(lua_State *L, struct lnode *ln, int scope, const char *store, const char *key)
{
    char buf[128];
    key = split_key(key, &store, buf, sizeof(buf));
    conv_push_take(L, ef_ctx_get(ln->n, (enum ef_ctx_scope)scope, store, key));
}

static int l_ctx_get(lua_State *L)
{
    struct lnode *ln = up(L);
    int scope = (int)lua_tointeger(L, lua_upvalueindex(2));
    int cb = callback_arg(L);
    const char *store = store_arg(L, 2);
    int nres = 1;
    if (lua_type(L, 1) == LUA_TTABLE) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
        lua_createtable(L, (int)n, 0);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, 1, i);
            const char *key = luaL_checkstring(L, -1);
            push_ctx(L, ln, scope, store, key);
            lua_rawseti(L, -3, i);
            lua_pop(L, 1);
        }
    } else {
        push_ctx(L, ln, scope, store, luaL_checkstring(L, 1));
    }
    if (cb) {
        lua_pushvalue(L, cb);
        lua_pushnil(L);
        lua_pushvalue(L, -3);
        lua_call(L, 2, 0);
        return 0;
    }
    return nres;
}

static void set_one(lua_State *L, struct lnode *ln, int scope, const char *store, const char *key,
                    int vidx)
{
    struct ef_val *v = NULL;
    char buf[128];
    key = split_key(key, &store, buf, sizeof(buf));
    if (!lua_isnoneornil(L, vidx)) {
        char err[256];
        v = conv_to_val(L, vidx, NULL, err, sizeof(err));
        if (!v) {
            luaL_error(L, "context set %s: %s", key, err);
        }
    }
    int rc = ef_ctx_set_take(ln->n, (enum ef_ctx_scope)scope, store, key, v);
    if (rc != 0) {
        ef_val_unref(v);
        luaL_error(L, "context set %s: %s", key, ef_strerror(rc));
    }
}

static int l_ctx_set(lua_State *L)
{
    struct lnode *ln = up(L);
    int scope = (int)lua_tointeger(L, lua_upvalueindex(2));
    int cb = callback_arg(L);
    const char *store = cb == 3 ? NULL : store_arg(L, 3);
    if (lua_type(L, 1) == LUA_TTABLE) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, 1, i);
            const char *key = luaL_checkstring(L, -1);
            int vidx = 0;
            if (lua_type(L, 2) == LUA_TTABLE) {
                lua_rawgeti(L, 2, i);
                vidx = lua_gettop(L);
            } else {
                lua_pushnil(L);
                vidx = lua_gettop(L);
            }
            set_one(L, ln, scope, store, key, vidx);
            lua_pop(L, 2);
        }
    } else {
        set_one(L, ln, scope, store, luaL_checkstring(L, 1), 2);
    }
    if (cb) {
        lua_pushvalue(L, cb);
        lua_call(L, 0, 0);
    }
    return 0;
}

static int l_ctx_keys(lua_State *L)
{
    struct lnode *ln = up(L);
    int scope = (int)lua_tointeger(L, lua_upvalueindex(2));
    int cb = callback_arg(L);
    struct ef_val *keys = ef_ctx_keys(ln->n, (enum ef_ctx_scope)scope, store_arg(L, 1));
    if (!keys) {
        keys = ef_val_arr();
    }
    conv_push_take(L, keys);
    if (cb) {
        lua_pushvalue(L, cb);
        lua_pushnil(L);
        lua_pushvalue(L, -3);
        lua_call(L, 2, 0);
        return 0;
    }
    return 1;
}

static void push_ctx_table(lua_State *L, struct lnode *ln, int scope)
{
    static const struct {
        const char *name;
        lua_CFunction fn;
    } fns[] = {{"get", l_ctx_get}, {"set", l_ctx_set}, {"keys", l_ctx_keys}};
    lua_createtable(L, 0, 5);
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        lua_pushlightuserdata(L, ln);
        lua_pushinteger(L, scope);
        lua_pushcclosure(L, fns[i].fn, 2);
        lua_setfield(L, -2, fns[i].name);
    }
}

static int l_env_get(lua_State *L)
{
    struct lnode *ln = up(L);
    conv_push_take(L, ef_node_env_get(ln->n, luaL_checkstring(L, 1)));
    return 1;
}

/* ---- Timers ---- */

static void timer_drop(struct lnode *ln, struct ltimer *t)
{
    for (struct ltimer **pp = &ln->timers; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    }
    luaL_unref(ln->sb.L, LUA_REGISTRYINDEX, t->fn_ref);
    ef_timer_free(t->t);
    free(t);
}

static int run_timer(lua_State *L)
{
    struct ltimer *t = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->fn_ref);
    lua_call(L, 0, 0);
    return 0;
}

static void on_timer(struct ef_node *n, void *arg)
{
    struct ltimer *t = arg;
    struct lnode *ln = t->ln;
    (void)n;
    if (ln->closing || !ln->sb.L) {
        return;
    }
    char err[1024];
    sb_begin(&ln->sb, ln->budget, ln->time_ms);
    lua_pushcfunction(ln->sb.L, run_timer);
    lua_pushlightuserdata(ln->sb.L, t);
    t->firing = true;
    int rc = sb_pcall(&ln->sb, 1, 0, err, sizeof(err));
    sb_end(&ln->sb);
    t->firing = false;
    if (!t->repeat || t->cleared) {
        timer_drop(ln, t);
    }
    if (rc != 0) {
        struct ef_msg *m = ef_msg_new(); /* Node-RED reports timer errors with an empty msg */
        ef_node_error(ln->n, m, "%s", err);
        ef_msg_free(m);
    }
}

static int l_set_timer(lua_State *L)
{
    struct lnode *ln = up(L);
    bool repeat = lua_tointeger(L, lua_upvalueindex(2)) != 0;
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_Number ms = luaL_optnumber(L, 2, 0);
    if (!(ms >= 1)) {
        ms = 1; /* Node.js clamps delays below 1 ms (and NaN) to 1 */
    }
    if (ms > 2147483647.0) {
        ms = 1;
    }
    struct ltimer *t = calloc(1, sizeof(*t));
    if (!t) {
        return luaL_error(L, "not enough memory");
    }
    t->ln = ln;
    t->repeat = repeat;
    t->fn_ref = LUA_NOREF;
    t->t = ef_timer_new(ln->n, on_timer, t);
    if (!t->t) {
        free(t);
        return luaL_error(L, "not enough memory");
    }
    t->id = ++ln->next_timer;
    t->next = ln->timers;
    ln->timers = t;
    lua_pushvalue(L, 1);
    t->fn_ref =
        luaL_ref(L, LUA_REGISTRYINDEX); /* on OOM the timer stays listed and is freed at close */
    ef_timer_start(t->t, (uint64_t)ms, repeat ? (uint64_t)ms : 0);
    lua_pushinteger(L, t->id);
    return 1;
}

static int l_clear_timer(lua_State *L)
{
    struct lnode *ln = up(L);
    lua_Integer id = lua_tointeger(L, 1);
    for (struct ltimer *t = ln->timers; t; t = t->next) {
        if (t->id == id) {
            if (t->firing) {
                t->cleared = true;
                ef_timer_stop(t->t);
            } else {
                timer_drop(ln, t);
            }
            break;
        }
    }
    return 0;
}

/* ---- Installing ---- */

static void set_closure(lua_State *L, struct lnode *ln, int tbl, const char *name, lua_CFunction f,
                        int extra)
{
    lua_pushlightuserdata(L, ln);
    lua_pushinteger(L, extra);
    lua_pushcclosure(L, f, 2);
    lua_setfield(L, tbl, name);
}

static int install(lua_State *L)
{
    struct lnode *ln = lua_touserdata(L, 1);
    struct ef_node *n = ln->n;
    conv_open(L, &ln->sb);
    sb_push_env(&ln->sb);
    int env = lua_gettop(L);

    lua_createtable(L, 0, 16);
    int node = lua_gettop(L);
    lua_pushstring(L, ef_node_id(n));
    lua_setfield(L, node, "id");
    lua_pushstring(L, ef_node_name(n));
    lua_setfield(L, node, "name");
    lua_pushstring(L, ef_node_type_name(n));
    lua_setfield(L, node, "type");
    lua_pushinteger(L, ef_node_outputs(n));
    lua_setfield(L, node, "outputCount");
    set_closure(L, ln, node, "send", l_send, 0);
    set_closure(L, ln, node, "error", l_error, 0);
    set_closure(L, ln, node, "warn", l_log, EF_LOG_WARN);
    set_closure(L, ln, node, "log", l_log, EF_LOG_INFO);
    set_closure(L, ln, node, "debug", l_log, EF_LOG_DEBUG);
    set_closure(L, ln, node, "trace", l_log, EF_LOG_TRACE);
    set_closure(L, ln, node, "status", l_status, 0);
    /* node.done outside a message does nothing (there is nothing to complete). */
    lua_pushlightuserdata(L, ln);
    lua_pushnil(L);
    lua_pushcclosure(L, l_done, 2);
    lua_setfield(L, node, "done");
    lua_pushvalue(L, node);
    ln->node_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_createtable(L, 0, 1);
    lua_pushvalue(L, node);
    lua_setfield(L, -2, "__index");
    ln->node_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    push_ctx_table(L, ln, EF_CTX_FLOW);
    int flow = lua_gettop(L);
    push_ctx_table(L, ln, EF_CTX_GLOBAL);
    int global = lua_gettop(L);
    push_ctx_table(L, ln, EF_CTX_NODE);
    lua_pushvalue(L, flow);
    lua_setfield(L, -2, "flow");
    lua_pushvalue(L, global);
    lua_setfield(L, -2, "global");
    lua_setfield(L, env, "context");
    lua_setfield(L, env, "global");
    lua_setfield(L, env, "flow");

    lua_createtable(L, 0, 1);
    set_closure(L, ln, lua_gettop(L), "get", l_env_get, 0);
    lua_setfield(L, env, "env");
    set_closure(L, ln, env, "setTimeout", l_set_timer, 0);
    set_closure(L, ln, env, "setInterval", l_set_timer, 1);
    set_closure(L, ln, env, "clearTimeout", l_clear_timer, 0);
    set_closure(L, ln, env, "clearInterval", l_clear_timer, 0);
    set_closure(L, ln, env, "print", l_print, 0);
    lua_pushvalue(L, node);
    lua_setfield(L, env, "node");
    return 0;
}

int lnode_open(struct lnode *ln, struct ef_node *n, size_t mem_cap, int64_t budget,
               uint64_t time_ms, char *err, size_t errlen)
{
    ln->n = n;
    ln->budget = budget > 0 ? budget : SB_DEFAULT_INSTRUCTIONS;
    ln->time_ms = time_ms ? time_ms : SB_DEFAULT_TIME_MS;
    ln->fn_ref = ln->start_ref = ln->close_ref = ln->node_ref = ln->node_mt_ref = LUA_NOREF;
    if (sb_open(&ln->sb, mem_cap, err, errlen) != 0) {
        return -1;
    }
    lua_pushcfunction(ln->sb.L, install);
    lua_pushlightuserdata(ln->sb.L, ln);
    sb_begin(&ln->sb, ln->budget, 0);
    int rc = sb_pcall(&ln->sb, 1, 0, err, errlen);
    sb_end(&ln->sb);
    if (rc != 0) {
        sb_close(&ln->sb);
        return -1;
    }
    return 0;
}

void lnode_close(struct lnode *ln)
{
    while (ln->timers) {
        struct ltimer *t = ln->timers;
        ln->timers = t->next;
        ef_timer_free(t->t);
        free(t);
    }
    sb_close(&ln->sb);
    conv_map_free(&ln->map);
}

/* ---- Calls ---- */

struct call {
    struct lnode *ln;
    int fn;
    const struct ef_msg *msg;
    bool msg_first;
    bool send_result;
};

static int run_call(lua_State *L)
{
    struct call *c = lua_touserdata(L, 1);
    struct lnode *ln = c->ln;
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->fn);
    int nargs = 1;
    if (c->msg) {
        conv_push(L, ef_msg_root(c->msg), &ln->map);
        int msg = lua_gettop(L);
        if (ln->uses_done) { /* a node table of its own, with this message's done() */
            lua_createtable(L, 0, 1);
            lua_pushlightuserdata(L, ln);
            lua_pushvalue(L, msg);
            lua_pushcclosure(L, l_done, 2);
            lua_setfield(L, -2, "done");
            lua_rawgeti(L, LUA_REGISTRYINDEX, ln->node_mt_ref);
            lua_setmetatable(L, -2);
        } else {
            lua_rawgeti(L, LUA_REGISTRYINDEX, ln->node_ref);
        }
        if (!c->msg_first) {
            lua_insert(L, msg);
        }
        nargs = 2;
    } else {
        lua_rawgeti(L, LUA_REGISTRYINDEX, ln->node_ref);
    }
    lua_call(L, nargs, 1);
    if (c->send_result) {
        lnode_send(L, ln, -1, c->msg ? ef_val_obj_get(ef_msg_root(c->msg), "_msgid") : NULL);
    }
    return 0;
}

int lnode_call(struct lnode *ln, int fn, const struct ef_msg *msg, bool msg_first, bool send_result,
               char *err, size_t errlen)
{
    lua_State *L = ln->sb.L;
    struct call c = {ln, fn, msg, msg_first, send_result};
    if (msg) {
        ln->in_input = true;
        ln->cur = msg;
        conv_map_reset(&ln->map);
    }
    sb_begin(&ln->sb, ln->budget, ln->time_ms);
    lua_pushcfunction(L, run_call);
    lua_pushlightuserdata(L, &c);
    int rc = sb_pcall(&ln->sb, 1, 0, err, errlen);
    sb_end(&ln->sb);
    ln->in_input = false;
    ln->cur = NULL;
    return rc;
}

int lnode_protected(struct lnode *ln, lua_CFunction f, void *ud, char *err, size_t errlen)
{
    sb_begin(&ln->sb, ln->budget, ln->time_ms);
    lua_pushcfunction(ln->sb.L, f);
    lua_pushlightuserdata(ln->sb.L, ud);
    int rc = sb_pcall(&ln->sb, 1, 0, err, errlen);
    sb_end(&ln->sb);
    return rc;
}

struct compile {
    struct lnode *ln;
    const char *src, *chunkname, *prologue;
    size_t len;
    int *ref;
    char err[512];
};

static int compile_fn(lua_State *L)
{
    struct compile *c = lua_touserdata(L, 1);
    if (sb_compile(&c->ln->sb, c->src, c->len, c->chunkname, c->prologue, c->err, sizeof(c->err)) !=
        0) {
        lua_pushstring(L, c->err);
        return lua_error(L);
    }
    *c->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

int lnode_compile(struct lnode *ln, const char *src, size_t len, const char *chunkname,
                  const char *prologue, int *ref, char *err, size_t errlen)
{
    struct compile c = {ln, src, chunkname, prologue, len, ref, ""};
    return lnode_protected(ln, compile_fn, &c, err, errlen);
}

bool lnode_calls_done(const char *src)
{
    for (const char *p = src; (p = strstr(p, "node.done")); p += 9) {
        const char *q = p + 9;
        while (*q == ' ' || *q == '\t') {
            q++;
        }
        if (*q == '(' &&
            (p == src || !(p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z') ||
                           (p[-1] >= 'A' && p[-1] <= 'Z') || (p[-1] >= '0' && p[-1] <= '9')))) {
            return true;
        }
    }
    return false;
}
