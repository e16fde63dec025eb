/*
 * engine.h - internal structures shared by the engine's files: the runtime,
 * the loop, flow sets (one deployed configuration), scopes (tabs, subflow
 * instances, groups) and node instances. Plugins never see these.
 */
#ifndef EF_ENGINE_H
#define EF_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include <edgeflow/edgeflow.h>

struct ef_runtime;
struct ef_flowset;
struct ef_settings;
struct ef_ctx_stores;
struct ws_routes;

/* ---- Loop (loop.c) ---- */

struct loop_delivery {
    struct ef_node *target;
    struct ef_msg *msg;
};

struct ef_loop {
    uv_loop_t uv;
    uv_idle_t drain_idle; /* active while deliveries are queued */
    uv_async_t inbox_async;
    uv_mutex_t inbox_lock;
    struct loop_post *inbox_head, *inbox_tail;
    struct loop_delivery *q; /* ring buffer */
    size_t q_cap, q_head, q_len, q_max;
    uint64_t delivered, dropped;
    struct ef_runtime *rt;
    /* Virtual clock (tests): timers wait in a heap and time moves only when
     * loop__advance() moves it. */
    bool virtual_clock;
    uint64_t vnow, vseq;
    struct ef_timer **heap;
    size_t nheap, heapcap;
    struct http_client *http; /* the SDK's HTTP client, made on first use (http_client.c) */
};

int loop__init(struct ef_loop *l, size_t max_queue);
/* Closes handles and runs the loop until they are gone. */
void loop__close(struct ef_loop *l);
/* Queues a delivery; takes msg on success. EF_EFULL when at the cap. */
int loop__enqueue(struct ef_loop *l, struct ef_node *target, struct ef_msg *msg);
/* Delivers queued messages until the queue is empty or `limit` were run. */
size_t loop__drain(struct ef_loop *l, size_t limit);
/* Drops queued deliveries whose target belongs to flow set fs. */
void loop__purge(struct ef_loop *l, const struct ef_flowset *fs);
/*
 * Switches the loop to a virtual clock starting at `start_ms` since the
 * epoch (tests: timing nodes run instantly and deterministically). Call
 * before any timer exists. ef_now_ms/ef_mono_ms then read the virtual time.
 */
void loop__use_virtual_clock(struct ef_loop *l, double start_ms);
/*
 * With a virtual clock: delivers queued messages, then fires timers in
 * order of due time (moving the clock to each), until `ms` of virtual time
 * have passed. Returns the number of timers fired.
 */
size_t loop__advance(struct ef_loop *l, uint64_t ms);

/* ---- Scopes ---- */

enum scope_kind { SCOPE_GLOBAL, SCOPE_TAB, SCOPE_SUBFLOW, SCOPE_GROUP };

struct ef_scope {
    enum scope_kind kind;
    char *id;
    char *name; /* label/name, may be NULL */
    bool has_name;
    struct ef_scope *parent;               /* env lookup continues here */
    struct ef_scope *flow;                 /* for groups: the tab/subflow they sit in; else self */
    struct ef_scope *group_parent;         /* for groups: the enclosing group */
    struct ef_val *env;                    /* object: evaluated env vars (owned) */
    struct ef_node *instance;              /* subflow instance node */
    char *path;                            /* NR_NODE_PATH-style path of this flow */
    struct ef_node **catchers, **statuses; /* catch / status nodes of this flow */
    size_t ncatch, nstatus;
    struct ef_node *subflow_status; /* the subflow's status-port node, if wired */
    bool disabled;
};

/* ---- Nodes ---- */

struct node_port {
    struct ef_node **targets;
    size_t n;
};

struct ef_node {
    const struct ef_node_type *type;
    struct ef_flowset *fs;
    struct ef_scope *flow;  /* tab or subflow instance */
    struct ef_scope *group; /* innermost group, or NULL */
    char *id;
    char *alias;           /* original id for nodes copied out of a subflow */
    const char *name;      /* borrowed from config; NULL when absent */
    struct ef_val *config; /* owned */
    struct node_port *ports;
    int nports;
    void *priv;
    struct ef_timer *timers;
    struct ef_node **watchers; /* complete nodes interested in this node */
    size_t nwatch;
    struct ef_val *status; /* last status object, or NULL */
    /* per-input state */
    const struct ef_msg *cur_input;
    struct ef_val *done_snapshot;
    bool in_input, errored;
    bool started, closed;
    bool is_catch, is_status, is_complete;
    struct node_port *ext; /* subflow instance: its outside ports (wiring only) */
    int n_ext;
    const struct ef_val *sf_def;   /* subflow instance: the template */
    struct ef_scope *sf_scope;     /* subflow instance: the scope it created */
    struct jsonata_cache *jsonata; /* compiled jsonata typed inputs */
    const struct ef_val *entry;    /* its entry in the flow set's config (wires come from here) */
    size_t slot;                   /* index in its flow set's nodes[] */
    bool carried;                  /* kept running from the previous deploy */
    struct node_saved *saved;      /* its previous wiring, while a deploy is being built */
};

struct ef_timer {
    uv_timer_t uv;
    struct ef_node *node;
    ef_timer_cb cb;
    void *arg;
    struct ef_timer *next;
    /* virtual clock only */
    struct ef_loop *loop;
    uint64_t due, repeat, seq;
    size_t heap_index; /* position in the loop's heap + 1; 0 when not scheduled */
};

/* ---- Flow sets (flow.c) ---- */

struct ef_flowset {
    struct ef_runtime *rt;
    struct ef_val *config;  /* the flows array, owned */
    struct ef_node **nodes; /* every instance, config nodes first */
    size_t nnodes, cap;
    struct ef_scope **scopes;
    size_t nscopes, scap;
    struct ef_scope *global;
    struct id_map *ids;           /* id -> node */
    struct ef_problems *building; /* set while building: init errors land here */
    bool started;
};

/* Problems found while loading: each names node id, type and property. */
struct ef_problems {
    char **items;
    size_t n, cap;
    char **warnings; /* not fatal: unknown properties and the like */
    size_t nwarn, warncap;
};

void problems__add(struct ef_problems *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void problems__warn(struct ef_problems *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void problems__free(struct ef_problems *p);

/*
 * Validates and builds a flow set from a parsed flows value (array or
 * {rev, flows}); takes nothing (config is referenced). Nodes of `old` whose
 * ids are in `carry` (see redeploy.h) are carried over: the same instances,
 * rewired, with their state; both may be NULL. On any problem returns NULL
 * with every problem in `probs`, and `old` is exactly as it was. Nothing
 * runs until flowset__commit_carried() and flowset__start().
 */
struct ef_flowset *flowset__build(struct ef_runtime *rt, struct ef_val *config,
                                  struct ef_flowset *old, struct id_map *carry,
                                  struct ef_problems *probs);
/* Makes the carried nodes fs's for good: removes them from old. */
void flowset__commit_carried(struct ef_flowset *fs, struct ef_flowset *old);
void flowset__start(struct ef_flowset *fs);
/* Stops input nodes (those without inputs) first; then ef flowset__close. */
void flowset__stop_inputs(struct ef_flowset *fs);
void flowset__close(struct ef_flowset *fs);
void flowset__free(struct ef_flowset *fs);
struct ef_node *flowset__find(const struct ef_flowset *fs, const char *id);

/* ---- Node runtime (node.c) ---- */

/* Called by the loop: hands msg to n's input handler. */
void node__deliver(struct ef_node *n, struct ef_msg *msg);
/* Frees the node's timers and runs cb_close. */
void node__close(struct ef_node *n);

/* ---- The SDK's HTTP client (http_client.c) ---- */
/* Cancels the running HTTP calls of n without reporting them. */
void http_client__node_closed(struct ef_node *n);
/* Cancels every call and frees the loop's client (before its handles close). */
void http_client__free(struct ef_loop *l);
/* Routes an error text to catch nodes; returns true if one took it. */
bool node__handle_error(struct ef_node *n, const char *text, const struct ef_msg *msg);
/* Sets the node status (adopts st, an object) and routes it to status nodes. */
void node__set_status(struct ef_node *n, struct ef_val *st);

/* ---- Runtime (runtime.c) ---- */

/* A debug node showing something (for --debug-stdout and the editor). */
struct ef_debug_event {
    struct ef_node *node;
    const struct ef_val *value; /* what it shows; NULL for undefined */
    const struct ef_msg *msg;   /* the message it was shown for (borrowed) */
    const char *property;       /* the property shown, or NULL (whole msg / JSONata) */
};

/* What the runtime reports outwards. Any callback may be NULL. */
struct ef_runtime_hooks {
    void (*on_debug)(void *ud, const struct ef_debug_event *ev);
    void (*on_status)(void *ud, struct ef_node *n, const struct ef_val *status);
    void (*on_deployed)(void *ud, struct ef_runtime *rt);
    void *ud;
};

#define EF_MAX_HOOKS 4

struct ef_runtime {
    struct ef_loop loop;
    struct ef_settings *settings;
    struct ef_ctx_stores *ctx;
    struct ef_flowset *active;
    struct ef_runtime_hooks hooks[EF_MAX_HOOKS];
    size_t nhooks;
    bool stopping;
    uv_signal_t sig_int, sig_term;   /* graceful stop (runtime__run) */
    uv_timer_t ctx_timer;            /* file-context flushes */
    struct ws_routes *ws;            /* websocket listener paths and client context (ws_routes.c) */
    struct http_routes *http_routes; /* http in routes (http_routes.c), created on first use */
    uint64_t node_errors;            /* ef_node_error calls of running nodes (fleet agent health) */
};

/* Adds a set of hooks (copied). Returns 0, or EF_EFULL past EF_MAX_HOOKS. */
int runtime__add_hooks(struct ef_runtime *rt, const struct ef_runtime_hooks *h);
/* Calls every on_debug hook. */
void runtime__emit_debug(struct ef_runtime *rt, const struct ef_debug_event *ev);

/* ---- Registry (registry.c) ---- */

const struct ef_node_type *registry__find(const char *name);
/* Registers the built-in types; 0 or EF_E*. */
int registry__init_builtins(void);
/* Calls fn for each registered type, in name order. */
void registry__each(void (*fn)(const struct ef_node_type *t, void *ud), void *ud);
/* Loads every *.so in dir; problems are logged. Returns number loaded. */
int registry__load_dir(const char *dir);
struct ef_settings;
/*
 * Loads the plugins of a command: the directory `plugins` next to the
 * edgeflow binary when it exists (where the build puts lua.so, see
 * docs/plugins.md), then each of the ndirs dirs (--plugin-dir), then the
 * settings' pluginDirs (s may be NULL).
 */
void registry__load_plugins(const char *const *dirs, int ndirs, const struct ef_settings *s);
void registry__cleanup(void);
/* The plugin handle built-in (and test) node types register under. */
struct ef_plugin *registry__builtin(void);

/* ---- Env (env.c) ---- */

/* Looks up a setting through scope and parents, then the process env. */
struct ef_val *env__get(struct ef_runtime *rt, struct ef_scope *scope, const char *name);
/* Replaces whole "${VAR}" strings in a config tree (mapEnvVarProperties). */
int env__substitute(struct ef_node *n, struct ef_val **config);
/* Evaluates a scope's env array (tab/group/subflow) into scope->env. */
int env__eval_scope(struct ef_runtime *rt, struct ef_scope *s, const struct ef_val *envlist,
                    struct ef_problems *probs);

/* ---- Logging (log.c) ---- */

/* Also hands each logged line (without its time prefix) to fn; NULL to stop. */
void log__set_sink(void (*fn)(void *ud, int level, const char *line), void *ud);

/* ---- Context (context.c) ---- */

struct ef_ctx_stores *ctx__create(const struct ef_val *context_storage, const char *user_dir,
                                  char *err, size_t errlen);
void ctx__flush(struct ef_ctx_stores *c);
void ctx__destroy(struct ef_ctx_stores *c);
/* Removes node-scope data of a node (on delete). */
void ctx__delete_node(struct ef_ctx_stores *c, const char *node_id);

#endif
