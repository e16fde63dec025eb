/*
 * node.h - the node-type ABI: one versioned struct per node type, used alike
 * by built-in nodes, C plugins and Lua-defined types, and the calls a node
 * makes into the runtime.
 *
 * Rules for node authors:
 *   - Callbacks run only on the loop thread. Other threads use ef_loop_post().
 *   - cb_input receives ownership of the message and must send it on
 *     (ef_node_send) or free it (ef_msg_free), exactly once.
 *   - cb_input returns EF_INPUT_DONE when it has finished with the message
 *     (the runtime then reports completion to complete nodes), or
 *     EF_INPUT_ASYNC when it will call ef_node_done() later.
 *   - All node state hangs off the instance (ef_node_priv); no globals.
 *   - New members of these structs are appended only; EF_ABI_VERSION grows.
 */
#ifndef EDGEFLOW_NODE_H
#define EDGEFLOW_NODE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <edgeflow/err.h>
#include <edgeflow/msg.h>
#include <edgeflow/val.h>

#define EF_ABI_VERSION 1

struct ef_node;
struct ef_loop;
struct ef_timer;

/* Kinds of property in a node type's property table. */
enum ef_prop_kind {
    EF_PROP_END = 0, /* terminates the table */
    EF_PROP_STR,     /* string; field: const char * (borrowed from the config) */
    EF_PROP_NUM,     /* number or numeric string; field: double */
    EF_PROP_INT,     /* integer or integer string; field: int64_t */
    EF_PROP_BOOL,    /* boolean or "true"/"false"; field: bool */
    EF_PROP_ANY,     /* any JSON; field: const struct ef_val * (borrowed) */
    EF_PROP_NODE,    /* id of a config node; field: struct ef_node * */
};

#define EF_PROP_NOFIELD ((size_t)-1)

/*
 * One row of a property table. The runtime applies `def` (JSON text) when the
 * key is absent, refuses the flow when a `required` key is absent or cannot be
 * converted to `kind`, warns on unknown keys, and, unless `offset` is
 * EF_PROP_NOFIELD, stores the converted value at priv+offset before cb_init.
 */
struct ef_prop {
    enum ef_prop_kind kind;
    const char *name;
    const char *def;
    bool required;
    const char *help;
    size_t offset;
};

#define EF_OUTPUTS_FROM_CONFIG (-1) /* port count = config "outputs" or wires */

enum { EF_INPUT_DONE = 0, EF_INPUT_ASYNC = 1 };

/* Flags for struct ef_node_type.flags. */
enum {
    EF_TYPE_CONFIG = 1,     /* a config node (no wires, shared by others) */
    EF_TYPE_OPEN_PROPS = 2, /* do not warn about keys missing from the table */
    EF_TYPE_NAME_ALWAYS = 4 /* an empty "name" still counts as a name (reported as ""), as
                               for Node-RED nodes that copy n.name (debug, function, ...) */
};

struct ef_node_type {
    uint32_t abi_version; /* EF_ABI_VERSION at build time */
    uint32_t size;        /* sizeof(struct ef_node_type) at build time */
    const char *name;     /* the flows.json "type" */
    const char *description;
    const char *category; /* palette category: "common", "function", ... */
    int inputs;           /* 0 or 1 */
    int outputs;          /* fixed count or EF_OUTPUTS_FROM_CONFIG */
    uint32_t flags;
    const struct ef_prop *props; /* EF_PROP_END-terminated; may be NULL */
    size_t priv_size;            /* zeroed per-instance state */
    /*
     * Called once after the properties are applied. `config` is the node's
     * object from the flow (after ${ENV} substitution), borrowed for the
     * node's lifetime. Return 0, or a negative EF_E* after reporting why
     * with ef_node_error(n, NULL, ...): the flow is then refused.
     */
    int (*cb_init)(struct ef_node *n, const struct ef_val *config);
    /* Called once the whole flow set is built and started (may be NULL). */
    void (*cb_start)(struct ef_node *n);
    /* Receives ownership of msg. Returns EF_INPUT_DONE or EF_INPUT_ASYNC. */
    int (*cb_input)(struct ef_node *n, struct ef_msg *msg);
    /* Releases what the node holds. Timers it has not freed are freed after it returns. */
    void (*cb_close)(struct ef_node *n);
    /* append only */
};

/* ---- Identity and configuration ---- */
const char *ef_node_id(const struct ef_node *n);
const char *ef_node_name(const struct ef_node *n); /* "" when unnamed */
const char *ef_node_type_name(const struct ef_node *n);
/* The tab (flow) id the node lives on; "" for global config nodes. */
const char *ef_node_flow_id(const struct ef_node *n);
void *ef_node_priv(struct ef_node *n);
const struct ef_val *ef_node_config(const struct ef_node *n);
int ef_node_outputs(const struct ef_node *n);
struct ef_loop *ef_node_loop(const struct ef_node *n);
/* Another node by id in scope (same flow set), e.g. a config node; or NULL. */
struct ef_node *ef_node_lookup(const struct ef_node *n, const char *id);
/*
 * The node's credentials (user, password, ...) as an object (borrowed), or
 * NULL when it has none. They come from the credentials file (or the
 * node's "credentials" member in the flow), never from its properties.
 */
const struct ef_val *ef_node_credentials(const struct ef_node *n);
/*
 * The runtime's user directory (settings userDir or --userDir; "" means the
 * current directory), where nodes keep their files. Borrowed; never NULL.
 */
const char *ef_node_user_dir(const struct ef_node *n);
/* The registered type of a node (borrowed). */
const struct ef_node_type *ef_node_type_of(const struct ef_node *n);
/*
 * A top-level value of the settings file (borrowed, valid while the runtime
 * runs), e.g. "inferRuntimeLibrary"; NULL when the key is absent.
 */
const struct ef_val *ef_node_setting(const struct ef_node *n, const char *key);

/* ---- Messages ---- */
/*
 * Sends msg out of output `port` (0-based). Takes ownership when it returns 0
 * (also when the port has no wires: the message is then freed). On error
 * (bad port, queue full) the caller still owns msg.
 */
int ef_node_send(struct ef_node *n, int port, struct ef_msg *msg);
/*
 * Sends one message or NULL per port: msgs[i] goes out of port i. Takes every
 * non-NULL message on success; on error takes none.
 */
int ef_node_send_ports(struct ef_node *n, struct ef_msg **msgs, int nports);
/* Reports that the node has finished with msg (borrowed; for complete nodes). */
void ef_node_done(struct ef_node *n, const struct ef_msg *msg);
/*
 * Reports an error. With msg (borrowed) the error goes to catch nodes in
 * scope, as Node-RED's node.error(err, msg); uncaught or without msg it is
 * logged. During cb_input it also cancels the automatic completion.
 */
void ef_node_error(struct ef_node *n, const struct ef_msg *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ef_node_warn(struct ef_node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ef_node_log(struct ef_node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ef_node_debug(struct ef_node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Sets the node status shown in the editor and sent to status nodes. Any
 * argument may be NULL; all NULL clears the status.
 */
void ef_node_status(struct ef_node *n, const char *fill, const char *shape, const char *text);

/* ---- Timers: owned by the node, stopped and freed when it closes ---- */
typedef void (*ef_timer_cb)(struct ef_node *n, void *arg);
/* Creates a stopped timer. Returns NULL on OOM. */
struct ef_timer *ef_timer_new(struct ef_node *n, ef_timer_cb cb, void *arg);
/* (Re)starts: first after `ms` (0 counts as 1, as setTimeout), then every `repeat_ms` if non-zero.
 */
int ef_timer_start(struct ef_timer *t, uint64_t ms, uint64_t repeat_ms);
void ef_timer_stop(struct ef_timer *t);
/* Stops and frees the timer (NULL-safe). */
void ef_timer_free(struct ef_timer *t);
/* Milliseconds since the epoch (wall clock) and a monotonic ms counter. */
double ef_now_ms(void);
uint64_t ef_mono_ms(void);

/* ---- Environment, typed inputs, context ---- */
/*
 * Looks an environment variable up as Node-RED does: the node's group(s),
 * its subflow instance(s), its tab, then the global env and the process env;
 * NR_NODE_ID, NR_FLOW_NAME, ... included. Returns a new reference or NULL.
 */
struct ef_val *ef_node_env_get(const struct ef_node *n, const char *name);
/*
 * Evaluates a typed input (RED.util.evaluateNodeProperty): `type` is str,
 * num, bool, json, bin, date, re, msg, flow, global, env, jsonata, node, ...
 * `value` is the configured value (usually a string). On success stores a
 * new reference (NULL when the result is undefined) in *out and returns 0;
 * on error returns a negative code and writes a message into err.
 */
int ef_node_eval_typed(struct ef_node *n, const char *type, const struct ef_val *value,
                       const struct ef_msg *msg, struct ef_val **out, char *err, size_t errlen);

enum ef_ctx_scope { EF_CTX_NODE, EF_CTX_FLOW, EF_CTX_GLOBAL };
/*
 * Reads a context key (a property path such as "a.b[0]") from a store (NULL
 * for the default store). Returns a new reference, or NULL when absent.
 */
struct ef_val *ef_ctx_get(struct ef_node *n, enum ef_ctx_scope scope, const char *store,
                          const char *key);
/* Writes a key, adopting v on success; v == NULL deletes it. Returns 0 or EF_E*. */
int ef_ctx_set_take(struct ef_node *n, enum ef_ctx_scope scope, const char *store, const char *key,
                    struct ef_val *v);
/* The keys of a scope, as a new array value; NULL on error. */
struct ef_val *ef_ctx_keys(struct ef_node *n, enum ef_ctx_scope scope, const char *store);
/*
 * Splits "#:(store)::key" into store and key as RED.util.parseContextStore.
 * Writes the store name (or "" for default) into store (storelen bytes) and
 * returns a pointer into `in` where the key starts.
 */
const char *ef_ctx_parse_store(const char *in, char *store, size_t storelen);

#endif
