/*
 * sandbox.c - the Lua sandbox every lua node and Lua-defined node type runs
 * in. One lua_State per node instance, never shared:
 *
 *   - memory: a counting allocator refuses requests past the node's cap, so
 *     a runaway script ends in LUA_ERRMEM (Buffers made by the script are
 *     counted too, see sb_account);
 *   - time: a count hook every SB_HOOK_EVERY instructions takes them off the
 *     call's budget and checks a wall-clock deadline. When a limit is hit the
 *     hook is re-armed to fire on every instruction and line, so the error is
 *     raised again wherever the script tries to continue (Redis' trick), and
 *     the sandbox's pcall/xpcall re-raise it: a script cannot swallow it;
 *   - C loops the hook cannot interrupt (pattern matching, table.insert /
 *     remove / move / concat / sort) are charged to the same budget
 *     (lstrpat.c and the table wrappers below);
 *   - globals: an allow-listed _ENV (no load, loadfile, dofile, require,
 *     collectgarbage, debug, io, package; os has only time, clock, date;
 *     string.dump is gone; setmetatable refuses __gc);
 *   - chunks: text only (mode "t"), so no hand-made bytecode.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lualib.h>

#include "sandbox.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- Allocator ---- */

static void *sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct lsb *sb = ud;
    size_t old = ptr ? osize : 0; /* with ptr == NULL, osize is a type tag */
    if (nsize == 0) {
        free(ptr);
        sb->mem_used -= old;
        return NULL;
    }
    if (nsize > old && sb->mem_used - old + nsize > sb->mem_cap) {
        sb->mem_hit = true;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (!p) {
        return NULL;
    }
    sb->mem_used = sb->mem_used - old + nsize;
    return p;
}

struct lsb *sb_of(lua_State *L)
{
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

/* ---- Limits ---- */

static void hook(lua_State *L, lua_Debug *ar);

/* Stops the current call: flags it, re-arms the hook on every instruction, raises. */
static void kill(lua_State *L, struct lsb *sb, int why)
{
    sb->killed = why;
    lua_sethook(L, hook, LUA_MASKCOUNT | LUA_MASKLINE, 1);
    if (why == SB_KILL_TIME) {
        lua_pushfstring(L, "Script execution timed out after %Ims", (lua_Integer)sb->time_ms);
    } else {
        lua_pushfstring(L, "Lua instruction limit exceeded (%I per call)", (lua_Integer)sb->budget);
    }
    lua_error(L);
}

static void hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    struct lsb *sb = sb_of(L);
    if (sb->killed) {
        kill(L, sb, sb->killed);
    }
    sb->left -= SB_HOOK_EVERY;
    if (sb->left <= 0) {
        kill(L, sb, SB_KILL_INSTR);
    }
    if (sb->deadline && now_ns() >= sb->deadline) {
        kill(L, sb, SB_KILL_TIME);
    }
}

void sb_charge(lua_State *L, int64_t steps)
{
    struct lsb *sb = sb_of(L);
    if (sb->killed) {
        kill(L, sb, sb->killed);
    }
    sb->left -= steps;
    if (sb->left <= 0) {
        kill(L, sb, SB_KILL_INSTR);
    }
    if (sb->deadline && now_ns() >= sb->deadline) {
        kill(L, sb, SB_KILL_TIME);
    }
}

void sb_account(lua_State *L, int64_t bytes)
{
    struct lsb *sb = sb_of(L);
    if (bytes > 0 && sb->mem_used + (size_t)bytes > sb->mem_cap) {
        sb->mem_hit = true;
        luaL_error(L, "not enough memory");
    }
    sb->mem_used += (size_t)bytes;
}

void sb_begin(struct lsb *sb, int64_t budget, uint64_t time_ms)
{
    sb->budget = budget > 0 ? budget : SB_DEFAULT_INSTRUCTIONS;
    sb->left = sb->budget;
    sb->time_ms = time_ms;
    sb->deadline = time_ms ? now_ns() + time_ms * 1000000u : 0;
    sb->killed = SB_OK;
    sb->mem_hit = false;
}

void sb_end(struct lsb *sb)
{
    if (sb->killed) {
        lua_sethook(sb->L, hook, LUA_MASKCOUNT, SB_HOOK_EVERY);
    }
    sb->killed = SB_OK;
    sb->deadline = 0;
    sb->left = sb->budget;
}

int sb_pcall(struct lsb *sb, int nargs, int nresults, char *err, size_t errlen)
{
    lua_State *L = sb->L;
    int status = lua_pcall(L, nargs, nresults, 0);
    if (status == LUA_OK) {
        return 0;
    }
    if (sb->killed) {
        if (sb->killed == SB_KILL_TIME) {
            snprintf(err, errlen, "Script execution timed out after %llums",
                     (unsigned long long)sb->time_ms);
        } else {
            snprintf(err, errlen, "Lua instruction limit exceeded (%lld per call)",
                     (long long)sb->budget);
        }
    } else if (status == LUA_ERRMEM || (sb->mem_hit && lua_type(L, -1) == LUA_TSTRING &&
                                        strstr(lua_tostring(L, -1), "not enough memory"))) {
        snprintf(err, errlen, "Lua memory limit exceeded (%zu bytes)", sb->mem_cap);
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        snprintf(err, errlen, "%s", lua_tostring(L, -1));
    } else if (lua_isnoneornil(L, -1)) {
        snprintf(err, errlen, "nil");
    } else {
        snprintf(err, errlen, "(error object is a %s value)", luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return -1;
}

/* ---- pcall/xpcall that cannot catch a limit error ---- */

static int safe_pcall(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    int status = lua_pcall(L, lua_gettop(L) - 2, LUA_MULTRET, 0);
    if (status != LUA_OK) {
        if (sb_of(L)->killed) {
            return lua_error(L); /* re-raise: the budget error is not the script's to catch */
        }
        lua_pushboolean(L, 0);
        lua_pushvalue(L, -2);
        return 2;
    }
    return lua_gettop(L);
}

static int safe_xpcall(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushboolean(L, 1);
    lua_pushvalue(L, 1);
    lua_rotate(L, 3, 2);
    int status = lua_pcall(L, n - 2, LUA_MULTRET, 2);
    if (status != LUA_OK) {
        if (sb_of(L)->killed) {
            return lua_error(L);
        }
        lua_pushboolean(L, 0);
        lua_pushvalue(L, -2);
        return 2;
    }
    return lua_gettop(L) - 2;
}

/* setmetatable without __gc: a finalizer would run outside any call's limits. */
static int safe_setmetatable(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    if (lua_type(L, 2) == LUA_TTABLE) {
        if (lua_getfield(L, 2, "__gc") != LUA_TNIL) {
            return luaL_error(L, "__gc metamethods are not allowed in the sandbox");
        }
        lua_pop(L, 1);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* ---- Table functions whose C loops are charged to the budget ---- */

enum { T_LEN, T_MOVE, T_CONCAT, T_SORT };

static int64_t span(lua_Integer from, lua_Integer to)
{
    if (to < from) {
        return 0;
    }
    lua_Unsigned d = (lua_Unsigned)to - (lua_Unsigned)from;
    return d >= (lua_Unsigned)INT64_MAX / 4 ? INT64_MAX / 4 : (int64_t)d + 1;
}

static int table_guard(lua_State *L)
{
    int kind = (int)lua_tointeger(L, lua_upvalueindex(2));
    int64_t cost = 0;
    bool is_table = lua_type(L, 1) == LUA_TTABLE;
    switch (kind) {
    case T_LEN: cost = is_table ? (int64_t)luaL_len(L, 1) : 0; break;
    case T_MOVE: cost = span(luaL_checkinteger(L, 2), luaL_checkinteger(L, 3)); break;
    case T_CONCAT:
        if (is_table) {
            lua_Integer i = luaL_optinteger(L, 3, 1);
            lua_Integer j = lua_isnoneornil(L, 4) ? luaL_len(L, 1) : luaL_checkinteger(L, 4);
            cost = span(i, j);
        }
        break;
    case T_SORT:
        if (is_table) {
            lua_Integer n = luaL_len(L, 1);
            cost = n > 1 ? (int64_t)((double)n * (log2((double)n) + 1)) : 0;
        }
        break;
    }
    if (cost > 0) {
        sb_charge(L, cost);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static void guard_table_fn(lua_State *L, int tbl, const char *name, int kind)
{
    lua_getfield(L, tbl, name);
    lua_pushinteger(L, kind);
    lua_pushcclosure(L, table_guard, 2);
    lua_setfield(L, tbl, name);
}

/* ---- Building the state ---- */

static const char *const base_allowed[] = {
    "assert", "error",  "getmetatable", "ipairs",   "next",     "pairs", "rawequal", "rawget",
    "rawlen", "rawset", "select",       "tonumber", "tostring", "type",  "_VERSION", NULL,
};

static int setup(lua_State *L)
{
    struct lsb *sb = lua_touserdata(L, 1);
    luaL_requiref(L, "_G", luaopen_base, 1);
    int g = lua_gettop(L);
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 0);
    int tbl = lua_gettop(L);
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 0);
    int str = lua_gettop(L);
    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 0);
    luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 0);
    luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
    int os = lua_gettop(L);

    lua_newtable(L);
    int env = lua_gettop(L);
    for (const char *const *name = base_allowed; *name; name++) {
        lua_getfield(L, g, *name);
        lua_setfield(L, env, *name);
    }
    lua_pushcfunction(L, safe_pcall);
    lua_setfield(L, env, "pcall");
    lua_pushcfunction(L, safe_xpcall);
    lua_setfield(L, env, "xpcall");
    lua_getfield(L, g, "setmetatable");
    lua_pushcclosure(L, safe_setmetatable, 1);
    lua_setfield(L, env, "setmetatable");

    /* string: the library table itself (strings' metatable points to it) */
    lua_pushnil(L);
    lua_setfield(L, str, "dump");
    sb_bounded_patterns(L, str);
    lua_pushvalue(L, str);
    lua_setfield(L, env, "string");

    guard_table_fn(L, tbl, "insert", T_LEN);
    guard_table_fn(L, tbl, "remove", T_LEN);
    guard_table_fn(L, tbl, "move", T_MOVE);
    guard_table_fn(L, tbl, "concat", T_CONCAT);
    guard_table_fn(L, tbl, "sort", T_SORT);
    lua_pushvalue(L, tbl);
    lua_setfield(L, env, "table");
    lua_pushvalue(L, tbl + 2);
    lua_setfield(L, env, "math");
    lua_pushvalue(L, tbl + 3);
    lua_setfield(L, env, "utf8");

    lua_createtable(L, 0, 3);
    static const char *const os_allowed[] = {"time", "clock", "date", NULL};
    for (const char *const *name = os_allowed; *name; name++) {
        lua_getfield(L, os, *name);
        lua_setfield(L, -2, *name);
    }
    lua_setfield(L, env, "os");

    lua_pushvalue(L, env);
    lua_setfield(L, env, "_G");
    lua_pushvalue(L, env);
    sb->env_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    /* Drop the real globals' libraries: nothing in the sandbox reaches _G. */
    static const char *const drop[] = {"dofile",         "loadfile", "load", "require",
                                       "collectgarbage", "print",    NULL};
    for (const char *const *name = drop; *name; name++) {
        lua_pushnil(L);
        lua_setfield(L, g, *name);
    }
    return 0;
}

static int panic(lua_State *L)
{
    fprintf(stderr, "edgeflow: lua: unprotected error: %s\n",
            lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?");
    abort();
}

int sb_open(struct lsb *sb, size_t mem_cap, char *err, size_t errlen)
{
    memset(sb, 0, sizeof(*sb));
    sb->mem_cap = mem_cap ? mem_cap : SB_DEFAULT_MEMORY;
    sb->budget = SB_DEFAULT_INSTRUCTIONS;
    sb->left = sb->budget;
    sb->env_ref = LUA_NOREF;
    sb->traceback_ref = LUA_NOREF;
    sb->L = lua_newstate(sb_alloc, sb);
    if (!sb->L) {
        snprintf(err, errlen, "cannot create a Lua state (memory limit %zu bytes)", sb->mem_cap);
        return -1;
    }
    lua_atpanic(sb->L, panic);
    lua_pushcfunction(sb->L, setup);
    lua_pushlightuserdata(sb->L, sb);
    if (lua_pcall(sb->L, 1, 0, 0) != LUA_OK) {
        snprintf(err, errlen, "cannot set up the Lua sandbox: %s", lua_tostring(sb->L, -1));
        lua_close(sb->L);
        sb->L = NULL;
        return -1;
    }
    lua_sethook(sb->L, hook, LUA_MASKCOUNT, SB_HOOK_EVERY);
    lua_gc(sb->L, LUA_GCGEN, 0, 0); /* per-message tables die young */
    return 0;
}

void sb_close(struct lsb *sb)
{
    if (sb->L) {
        lua_close(sb->L);
        sb->L = NULL;
    }
}

void sb_push_env(struct lsb *sb)
{
    lua_rawgeti(sb->L, LUA_REGISTRYINDEX, sb->env_ref);
}

int sb_compile(struct lsb *sb, const char *src, size_t len, const char *chunkname,
               const char *prologue, char *err, size_t errlen)
{
    lua_State *L = sb->L;
    if (len > 0 && src[0] == LUA_SIGNATURE[0]) { /* checked here: a prologue would hide it */
        snprintf(err, errlen, "%s: attempt to load a binary chunk (mode is 't')", chunkname + 1);
        return -1;
    }
    size_t plen = prologue ? strlen(prologue) : 0;
    char *text = malloc(plen + len + 1);
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (plen) {
        memcpy(text, prologue, plen);
    }
    memcpy(text + plen, src, len);
    text[plen + len] = 0;
    int rc = luaL_loadbufferx(L, text, plen + len, chunkname, "t");
    free(text);
    if (rc != LUA_OK) {
        if (rc == LUA_ERRMEM) {
            snprintf(err, errlen, "Lua memory limit exceeded (%zu bytes)", sb->mem_cap);
        } else {
            snprintf(err, errlen, "%s", lua_tostring(L, -1));
        }
        lua_pop(L, 1);
        return -1;
    }
    sb_push_env(sb);
    lua_setupvalue(L, -2, 1);
    return 0;
}
