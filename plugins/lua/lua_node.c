/*
 * lua_node.c - the `lua` node type: Node-RED's function node with Lua 5.4.
 * It takes the function node's properties (func, outputs, initialize,
 * finalize, timeout; noerr and libs are accepted and ignored), so a function
 * node converts by changing its type and rewriting its code:
 *
 *   func        the body, run per message as function(msg, node): return a
 *               message, nil, or a table with one entry per output (each a
 *               message, nil or an array of messages)
 *   initialize  On Start, run once when the flows start (node.send allowed);
 *               if it fails the error is logged and messages are dropped
 *   finalize    On Stop, run when the node closes (node.send refused)
 *   timeout     seconds per message (0: the sandbox default, 10 s)
 *
 * plus the sandbox limits maxMemory (MiB, default 8) and maxInstructions
 * (per message, default 1e8). A script that fails or breaks a limit reports
 * an error on the node's catch path; the node keeps running. A body that
 * does not compile refuses the flow with Lua's message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua_plugin.h"

struct lua_fn {
    struct lnode ln;
    const char *func, *initialize, *finalize;
    const struct ef_val *timeout;
    double max_memory, max_instructions;
};

static const struct ef_prop lua_props[] = {
    {EF_PROP_STR, "func", "\"return msg\"", false,
     "Lua body run per message as function(msg, node)", offsetof(struct lua_fn, func)},
    {EF_PROP_ANY, "outputs", "1", false, "number of outputs", EF_PROP_NOFIELD},
    {EF_PROP_STR, "initialize", "\"\"", false, "On Start code",
     offsetof(struct lua_fn, initialize)},
    {EF_PROP_STR, "finalize", "\"\"", false, "On Stop code", offsetof(struct lua_fn, finalize)},
    {EF_PROP_ANY, "timeout", "0", false, "seconds per message (0: 10 s)",
     offsetof(struct lua_fn, timeout)},
    {EF_PROP_NUM, "maxMemory", "8", false, "memory limit of the node's Lua state, MiB",
     offsetof(struct lua_fn, max_memory)},
    {EF_PROP_NUM, "maxInstructions", "100000000", false, "Lua instructions per message",
     offsetof(struct lua_fn, max_instructions)},
    {EF_PROP_ANY, "noerr", "0", false, "editor's syntax error count (ignored)", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "libs", "[]", false, "function node modules (not supported, ignored)",
     EF_PROP_NOFIELD},
    {EF_PROP_END},
};

static int cb_lua_init(struct ef_node *n, const struct ef_val *config)
{
    struct lua_fn *f = ef_node_priv(n);
    char err[1024];
    (void)config;
    double timeout = ef_val_type(f->timeout) == EF_STR ? atof(ef_val_str_get(f->timeout))
                                                       : ef_val_num_get(f->timeout);
    uint64_t time_ms = timeout > 0 ? (uint64_t)(timeout * 1000) : 0;
    size_t mem = f->max_memory > 0 ? (size_t)(f->max_memory * 1048576.0) : 0;
    if (lnode_open(&f->ln, n, mem, (int64_t)f->max_instructions, time_ms, err, sizeof(err)) != 0) {
        ef_node_error(n, NULL, "%s", err);
        return EF_EINVAL;
    }
    f->ln.uses_done = lnode_calls_done(f->func);
    struct {
        const char *src, *chunk, *prologue;
        int *ref;
    } parts[] = {
        {f->func, "=body", "local msg, node = ...; ", &f->ln.fn_ref},
        {f->initialize, "=setup", "local node = ...; ", &f->ln.start_ref},
        {f->finalize, "=cleanup", "local node = ...; ", &f->ln.close_ref},
    };
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        if ((i > 0 && !*parts[i].src) ||
            lnode_compile(&f->ln, parts[i].src, strlen(parts[i].src), parts[i].chunk,
                          parts[i].prologue, parts[i].ref, err, sizeof(err)) == 0) {
            continue;
        }
        ef_node_error(n, NULL, "%s", err);
        lnode_close(&f->ln);
        return EF_EINVAL;
    }
    return 0;
}

static void cb_lua_start(struct ef_node *n)
{
    struct lua_fn *f = ef_node_priv(n);
    char err[1024];
    if (f->ln.start_ref == LUA_NOREF) {
        return;
    }
    if (lnode_call(&f->ln, f->ln.start_ref, NULL, false, false, err, sizeof(err)) != 0) {
        ef_node_error(n, NULL, "%s", err);
        f->ln.broken = true;
    }
}

static int cb_lua_input(struct ef_node *n, struct ef_msg *msg)
{
    struct lua_fn *f = ef_node_priv(n);
    char err[1024];
    if (f->ln.broken) {
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    int rc = lnode_call(&f->ln, f->ln.fn_ref, msg, true, true, err, sizeof(err));
    if (rc != 0) {
        ef_node_error(n, msg, "%s", err);
    }
    ef_msg_free(msg);
    return rc == 0 && f->ln.uses_done ? EF_INPUT_ASYNC : EF_INPUT_DONE;
}

static void cb_lua_close(struct ef_node *n)
{
    struct lua_fn *f = ef_node_priv(n);
    char err[1024];
    f->ln.closing = true;
    if (f->ln.close_ref != LUA_NOREF && f->ln.sb.L &&
        lnode_call(&f->ln, f->ln.close_ref, NULL, false, false, err, sizeof(err)) != 0) {
        ef_node_error(n, NULL, "%s", err);
    }
    lnode_close(&f->ln);
}

const struct ef_node_type lua_node_type = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "lua",
    .description = "Runs a Lua 5.4 function against each message (Node-RED's function node, "
                   "sandboxed)",
    .category = "function",
    .inputs = 1,
    .outputs = EF_OUTPUTS_FROM_CONFIG,
    .props = lua_props,
    .flags = EF_TYPE_NAME_ALWAYS,
    .priv_size = sizeof(struct lua_fn),
    .cb_init = cb_lua_init,
    .cb_start = cb_lua_start,
    .cb_input = cb_lua_input,
    .cb_close = cb_lua_close,
};
