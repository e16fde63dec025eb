/*
 * sandbox.h - one sandboxed Lua 5.4 state per node: a capped allocator, an
 * instruction budget and a wall-clock deadline per call, an allow-listed
 * _ENV, text-only chunks, pcall/xpcall that cannot swallow a limit error,
 * and pattern and table functions whose C loops are charged to the budget
 * (a count hook cannot interrupt C code). See docs/plugins.md.
 */
#ifndef EF_LUA_SANDBOX_H
#define EF_LUA_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>

#define SB_DEFAULT_MEMORY (8u << 20)        /* bytes per node */
#define SB_DEFAULT_INSTRUCTIONS 100000000ll /* per call (message, timer, start, stop) */
#define SB_DEFAULT_TIME_MS 10000u           /* per call when the node sets no timeout */
#define SB_HOOK_EVERY 1000                  /* instructions between hook calls */

/* Why the current call was stopped. */
enum { SB_OK = 0, SB_KILL_INSTR, SB_KILL_TIME };

struct lsb {
    lua_State *L;
    size_t mem_used, mem_cap;
    bool mem_hit;       /* the allocator refused a request because of the cap */
    int64_t left;       /* budget left in the current call (instructions, pattern steps) */
    int64_t budget;     /* the budget a call starts with */
    uint64_t deadline;  /* monotonic ns; 0 = none */
    uint64_t time_ms;   /* wall-clock limit per call */
    int killed;         /* SB_KILL_* once a limit stopped the current call */
    int env_ref;        /* registry ref of the _ENV table */
    int traceback_ref;  /* registry ref of the message handler */
    const void *buf_mt; /* the Buffer metatable (identity only) */
    const void *arr_mt; /* the array marker metatable (identity only) */
};

/*
 * Opens a sandboxed state with a memory cap of `mem_cap` bytes. Returns 0, or
 * -1 with the reason in err. The struct must not move while the state lives.
 */
int sb_open(struct lsb *sb, size_t mem_cap, char *err, size_t errlen);
/* Closes the state (NULL-safe on a zeroed struct). */
void sb_close(struct lsb *sb);
/* The sandbox a state belongs to. */
struct lsb *sb_of(lua_State *L);

/*
 * Compiles `src` (text only: binary chunks are refused) as a function whose
 * _ENV is the sandbox environment. `prologue` (may be NULL) is prepended on
 * the same line so line numbers are kept. On success pushes the function and
 * returns 0; otherwise returns -1 with Lua's message in err. Must be called
 * inside sb_begin()/sb_end() or before any script runs.
 */
int sb_compile(struct lsb *sb, const char *src, size_t len, const char *chunkname,
               const char *prologue, char *err, size_t errlen);

/* Arms the limits for one call: `budget` instructions and `time_ms` ms (0 = none). */
void sb_begin(struct lsb *sb, int64_t budget, uint64_t time_ms);
/*
 * Runs lua_pcall(L, nargs, nresults) with a traceback message handler. On an
 * error returns -1 and writes a one-line message into err: the script's own
 * message, or which limit stopped it. The limits stay armed (call sb_end).
 */
int sb_pcall(struct lsb *sb, int nargs, int nresults, char *err, size_t errlen);
/* Disarms the limits after a call and clears a kill. */
void sb_end(struct lsb *sb);

/*
 * Charges `steps` units of work done in C to the budget; raises the limit
 * error (which pcall cannot catch) when it runs out. Used by the pattern and
 * table wrappers.
 */
void sb_charge(lua_State *L, int64_t steps);
/* Adds (or, negative, removes) bytes held outside Lua (Buffers) to the cap; raises on overflow. */
void sb_account(lua_State *L, int64_t bytes);

/* Replaces string.find/match/gmatch/gsub in the table at `idx` with bounded versions. */
void sb_bounded_patterns(lua_State *L, int idx);

/* Pushes the sandbox environment table. */
void sb_push_env(struct lsb *sb);

#endif
