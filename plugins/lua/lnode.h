/*
 * lnode.h - the per-instance state shared by the `lua` node (lua_node.c) and
 * Lua-defined node types (lua_types.c), and the script-facing API they both
 * install (api.c): node.*, context/flow/global, env, timers, print.
 */
#ifndef EF_LUA_LNODE_H
#define EF_LUA_LNODE_H

#include <edgeflow/edgeflow.h>

#include "conv.h"
#include "sandbox.h"

struct ltimer;

struct lnode {
    struct lsb sb;
    struct ef_node *n;
    int node_ref;     /* the `node` table */
    int node_mt_ref;  /* {__index = node}: per-message node tables with their own done() */
    int fn_ref;       /* run per message */
    int start_ref;    /* On Start / init handler (LUA_NOREF if none) */
    int close_ref;    /* On Stop / close handler (LUA_NOREF if none) */
    int64_t budget;   /* instructions per call */
    uint64_t time_ms; /* wall-clock limit per call */
    bool uses_done;   /* the script calls node.done(): completion is its job */
    bool broken;      /* On Start failed: messages are dropped (Node-RED) */
    bool closing;     /* in On Stop: node.send is refused */
    bool in_input;
    const struct ef_msg *cur; /* the message being handled (borrowed) */
    struct conv_map map;      /* tables made from cur, for key order */
    struct ltimer *timers;
    lua_Integer next_timer;
};

/*
 * Opens the sandbox for node n with the given limits (0 = defaults) and
 * installs the API: node, context, flow, global, env, setTimeout,
 * setInterval, clearTimeout, clearInterval, print, plus conv.c's Buffer,
 * JSON, array and null. Returns 0, or -1 with the reason in err.
 */
int lnode_open(struct lnode *ln, struct ef_node *n, size_t mem_cap, int64_t budget,
               uint64_t time_ms, char *err, size_t errlen);
/* Stops the timers and closes the state. */
void lnode_close(struct lnode *ln);

/*
 * Calls the function at registry ref `fn` with the node table (and, with
 * `msg`, the message converted to a table first) under the call limits, and
 * sends what it returns as the function node does. `msg_first` puts the
 * message before the node table (the lua node's body gets (msg, node); a
 * Lua type's input handler gets (node, msg)). Errors are written into err;
 * returns 0 or -1.
 */
int lnode_call(struct lnode *ln, int fn, const struct ef_msg *msg, bool msg_first, bool send_result,
               char *err, size_t errlen);

/*
 * Runs f(ud) in protected mode under the call limits (for set-up work that
 * allocates in Lua: compiling, building tables). Returns 0, or -1 with the
 * error in err.
 */
int lnode_protected(struct lnode *ln, lua_CFunction f, void *ud, char *err, size_t errlen);
/*
 * Compiles `src` into the node's sandbox and stores a registry ref to the
 * function in *ref. Returns 0 or -1 with Lua's message in err.
 */
int lnode_compile(struct lnode *ln, const char *src, size_t len, const char *chunkname,
                  const char *prologue, int *ref, char *err, size_t errlen);
/* True if the script text calls node.done() (Node-RED's test). */
bool lnode_calls_done(const char *src);

/*
 * Sends the value at idx as node.send(value) would: a message, or one entry
 * per output (a message, nil, or an array of messages). Raises on values
 * that cannot be converted. Messages get `msgid` when not NULL.
 */
void lnode_send(lua_State *L, struct lnode *ln, int idx, const struct ef_val *msgid);

#endif
