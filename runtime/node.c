/*
 * node.c - what a node instance can do: send (fan-out by reference),
 * report completion, errors and status, and how those reach catch, complete
 * and status nodes with Node-RED's scoping rules (groups nearest first,
 * "uncaught" catchers, subflows passing unhandled events to their parent).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "settings.h"

struct ef_msg *msg__wrap(struct ef_val *root);

#define ERROR_LOOP_MAX 10

/* ---- Identity ---- */

const char *ef_node_id(const struct ef_node *n)
{
    return n->id;
}

const char *ef_node_name(const struct ef_node *n)
{
    return n->name ? n->name : "";
}

const char *ef_node_type_name(const struct ef_node *n)
{
    return n->type->name;
}

const char *ef_node_flow_id(const struct ef_node *n)
{
    return n->flow && n->flow->kind != SCOPE_GLOBAL ? n->flow->id : "";
}

void *ef_node_priv(struct ef_node *n)
{
    return n->priv;
}

const struct ef_val *ef_node_config(const struct ef_node *n)
{
    return n->config;
}

int ef_node_outputs(const struct ef_node *n)
{
    return n->nports;
}

struct ef_loop *ef_node_loop(const struct ef_node *n)
{
    return &n->fs->rt->loop;
}

const struct ef_val *ef_node_credentials(const struct ef_node *n)
{
    const struct ef_val *c = ef_val_obj_get(n->config, "credentials");
    return ef_val_type(c) == EF_OBJ ? c : NULL;
}

const struct ef_node_type *ef_node_type_of(const struct ef_node *n)
{
    return n->type;
}

const struct ef_val *ef_node_setting(const struct ef_node *n, const char *key)
{
    const struct ef_settings *s = n->fs && n->fs->rt ? n->fs->rt->settings : NULL;
    return s ? settings__get(s, key) : NULL;
}

const char *ef_node_user_dir(const struct ef_node *n)
{
    const struct ef_settings *s = n->fs && n->fs->rt ? n->fs->rt->settings : NULL;
    return s && s->user_dir ? s->user_dir : "";
}

/* ---- Logging ---- */

static void node_logv(const struct ef_node *n, enum ef_log_level level, const char *fmt, va_list ap)
{
    char text[1536];
    vsnprintf(text, sizeof(text), fmt, ap);
    ef_log(level, "[%s:%s] %s", n->type->name, n->name && *n->name ? n->name : n->id, text);
}

void ef_node_warn(struct ef_node *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    node_logv(n, EF_LOG_WARN, fmt, ap);
    va_end(ap);
}

void ef_node_log(struct ef_node *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    node_logv(n, EF_LOG_INFO, fmt, ap);
    va_end(ap);
}

void ef_node_debug(struct ef_node *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    node_logv(n, EF_LOG_DEBUG, fmt, ap);
    va_end(ap);
}

/* ---- Sending ---- */

static int send_port(struct ef_node *n, int port, struct ef_msg *msg)
{
    struct node_port *p = &n->ports[port];
    struct ef_loop *l = &n->fs->rt->loop;
    if (n->nwatch && n->in_input && msg == n->cur_input) {
        /* Complete nodes see the message as it was sent. */
        ef_val_unref(n->done_snapshot);
        n->done_snapshot = ef_val_ref((struct ef_val *)ef_msg_root(msg));
    }
    if (p->n == 0) {
        ef_msg_free(msg);
        return 0;
    }
    if (l->q_len + p->n > l->q_max) {
        if (l->dropped % 10000 == 0) { /* the first drop, then every 10000th */
            ef_node_warn(n, "delivery queue full (%zu messages): message dropped (%llu so far)",
                         l->q_max, (unsigned long long)l->dropped + 1);
        }
        l->dropped += p->n;
        return EF_EFULL;
    }
    /* Share before queueing anything so a failure leaves nothing half-sent. */
    struct ef_msg *copies[16];
    struct ef_msg **c = p->n <= 16 ? copies : malloc(p->n * sizeof(*c));
    if (!c) {
        return EF_ENOMEM;
    }
    c[0] = msg;
    for (size_t i = 1; i < p->n; i++) {
        c[i] = ef_msg_share(msg);
        if (!c[i]) {
            for (size_t j = 1; j < i; j++) {
                ef_msg_free(c[j]);
            }
            if (c != copies) {
                free(c);
            }
            return EF_ENOMEM;
        }
    }
    for (size_t i = 0; i < p->n; i++) {
        loop__enqueue(l, p->targets[i], c[i]); /* cannot fail: room checked above */
    }
    if (c != copies) {
        free(c);
    }
    return 0;
}

int ef_node_send(struct ef_node *n, int port, struct ef_msg *msg)
{
    if (!msg || port < 0 || port >= n->nports) {
        if (msg && port >= n->nports && port >= 0) {
            ef_msg_free(msg); /* like Node-RED: sending past the wired ports drops */
            return 0;
        }
        return EF_EINVAL;
    }
    return send_port(n, port, msg);
}

int ef_node_send_ports(struct ef_node *n, struct ef_msg **msgs, int nports)
{
    int rc = 0;
    for (int i = 0; i < nports; i++) {
        if (!msgs[i]) {
            continue;
        }
        if (i >= n->nports) {
            ef_msg_free(msgs[i]);
        } else if (send_port(n, i, msgs[i]) != 0) {
            ef_msg_free(msgs[i]);
            rc = EF_EFULL;
        }
        msgs[i] = NULL;
    }
    return rc;
}

/* ---- Completion ---- */

/* Builds {source:{id,type,name}} as Node-RED does (name only if configured). */
static struct ef_val *source_obj(const struct ef_node *n)
{
    struct ef_val *src = ef_val_obj();
    if (!src) {
        return NULL;
    }
    /* A subflow instance reports its flows.json type, "subflow:<id>". */
    const char *type =
        n->sf_def ? ef_val_str_get(ef_val_obj_get(n->config, "type")) : n->type->name;
    ef_val_obj_set_take(src, "id", ef_val_str(n->id));
    ef_val_obj_set_take(src, "type", ef_val_str(type));
    if (n->name) {
        ef_val_obj_set_take(src, "name", ef_val_str(n->name));
    }
    return src;
}

static void complete_emit(struct ef_node *n, struct ef_val *root)
{
    for (size_t i = 0; i < n->nwatch; i++) {
        struct ef_val *copy = ef_val_ref(root);
        struct ef_val *wrap = ef_val_obj();
        struct ef_val *src = source_obj(n);
        if (!wrap || !src || !ef_val_mut(&copy)) {
            ef_val_unref(wrap);
            ef_val_unref(src);
            ef_val_unref(copy);
            return;
        }
        ef_val_obj_set_take(wrap, "source", src);
        ef_val_obj_set_take(copy, "complete", wrap);
        struct ef_msg *m = msg__wrap(copy);
        if (m) {
            node__deliver(n->watchers[i], m); /* Node-RED calls receive() directly */
        }
    }
}

void ef_node_done(struct ef_node *n, const struct ef_msg *msg)
{
    if (!n->nwatch) {
        return;
    }
    if (msg) {
        complete_emit(n, (struct ef_val *)ef_msg_root(msg));
    } else if (n->in_input && n->done_snapshot) {
        complete_emit(n, n->done_snapshot);
        ef_val_unref(n->done_snapshot);
        n->done_snapshot = NULL;
        n->errored = true; /* completion already reported */
    }
}

void node__deliver(struct ef_node *n, struct ef_msg *msg)
{
    if (n->closed || !n->type->cb_input) {
        ef_msg_free(msg);
        return;
    }
    n->in_input = true;
    n->errored = false;
    n->cur_input = msg;
    if (n->nwatch) {
        n->done_snapshot = ef_val_ref((struct ef_val *)ef_msg_root(msg));
    }
    int rc = n->type->cb_input(n, msg);
    n->in_input = false;
    n->cur_input = NULL;
    if (n->done_snapshot) {
        if (rc == EF_INPUT_DONE && !n->errored) {
            complete_emit(n, n->done_snapshot);
        }
        ef_val_unref(n->done_snapshot);
        n->done_snapshot = NULL;
    }
}

/* ---- Errors ---- */

/* Distance from a reporting node's group up to `target` group; -1 if not an ancestor. */
static int group_distance(const struct ef_node *reporting, const struct ef_scope *target)
{
    int d = 0;
    const struct ef_scope *g = reporting->group;
    while (g && g != target) {
        d++;
        g = g->group_parent;
    }
    return g ? d : -1;
}

struct candidate {
    struct ef_node *n;
    int d;
};

static int cand_cmp(const void *a, const void *b)
{
    const struct candidate *x = a, *y = b;
    return x->d - y->d;
}

/* Selects the catch/status nodes of `flow` that see events from `reporting`. */
static size_t select_candidates(struct ef_node **list, size_t nlist,
                                const struct ef_node *reporting, struct candidate *out)
{
    size_t n = 0;
    for (size_t i = 0; i < nlist; i++) {
        struct ef_node *t = list[i];
        const struct ef_val *scope = ef_val_obj_get(t->config, "scope");
        bool group_scope =
            ef_val_type(scope) == EF_STR && strcmp(ef_val_str_get(scope), "group") == 0;
        if (t->group && group_scope && !reporting->group) {
            continue;
        }
        if (ef_val_type(scope) == EF_ARR) {
            const char *rid = reporting->alias ? reporting->alias : reporting->id;
            bool found = false;
            for (size_t j = 0; j < ef_val_arr_len(scope) && !found; j++) {
                found = strcmp(ef_val_str_get(ef_val_arr_at(scope, j)), rid) == 0;
            }
            if (!found) {
                continue;
            }
        }
        int d = 0;
        if (reporting->group) {
            d = group_distance(reporting, t->group);
            if (d < 0) {
                if (t->group && group_scope) {
                    continue;
                }
                d = 0;
                for (const struct ef_scope *g = reporting->group; g; g = g->group_parent) {
                    d++;
                }
            }
        }
        out[n++] = (struct candidate){t, d};
    }
    qsort(out, n, sizeof(*out), cand_cmp);
    return n;
}

static bool flow_handle_error(struct ef_scope *flow, struct ef_node *n, const char *text,
                              const struct ef_msg *msg, struct ef_node *reporting, int count)
{
    bool handled = false;
    if (flow->ncatch) {
        struct candidate *c = malloc(flow->ncatch * sizeof(*c));
        if (!c) {
            return false;
        }
        size_t nc = select_candidates(flow->catchers, flow->ncatch, reporting, c);
        bool by_uncaught = false;
        for (size_t i = 0; i < nc; i++) {
            if (ef_val_truthy(ef_val_obj_get(c[i].n->config, "uncaught")) && !by_uncaught) {
                if (handled) {
                    continue;
                }
                by_uncaught = true;
            }
            struct ef_val *root =
                msg ? ef_val_ref((struct ef_val *)ef_msg_root(msg)) : ef_val_obj();
            struct ef_val *err = ef_val_obj();
            struct ef_val *src = source_obj(n);
            if (!root || !err || !src || !ef_val_mut(&root)) {
                ef_val_unref(root);
                ef_val_unref(err);
                ef_val_unref(src);
                break;
            }
            struct ef_val *old = ef_val_obj_get(root, "error");
            if (old) {
                ef_val_obj_set_take(root, "_error", ef_val_ref(old));
            }
            ef_val_obj_set_take(src, "count", ef_val_num(count));
            ef_val_obj_set_take(err, "message", ef_val_str(text));
            ef_val_obj_set_take(err, "source", src);
            ef_val_obj_set_take(root, "error", err);
            struct ef_msg *m = ef_msg_new_take(root); /* receive() adds a missing _msgid */
            if (!m) {
                ef_val_unref(root);
            } else {
                node__deliver(c[i].n, m); /* Node-RED calls receive() directly */
            }
            handled = true;
        }
        free(c);
    }
    if (!handled && flow->kind == SCOPE_SUBFLOW && flow->instance) {
        struct ef_node *inst = flow->instance;
        handled = flow_handle_error(inst->flow, n, text, msg, inst, count);
    }
    return handled;
}

bool node__handle_error(struct ef_node *n, const char *text, const struct ef_msg *msg)
{
    int count = 1;
    if (msg) {
        const struct ef_val *src = ef_msg_get(msg, "error.source");
        const char *sid = ef_val_str_get(ef_val_obj_get(src, "id"));
        if (src && strcmp(sid, n->id) == 0) {
            count = (int)ef_val_num_get(ef_val_obj_get(src, "count")) + 1;
            if (count >= ERROR_LOOP_MAX) {
                ef_node_warn(n, "Message exceeded maximum number of catches");
                return false;
            }
        }
    }
    return n->flow && flow_handle_error(n->flow, n, text, msg, n, count);
}

void ef_node_error(struct ef_node *n, const struct ef_msg *msg, const char *fmt, ...)
{
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n->in_input) {
        n->errored = true;
    }
    if (!msg && n->fs->building) {
        /* Reported while the flow is being built: the flow is refused with it. */
        problems__add(n->fs->building, "node %s (type %s, flow %s): %s", n->id, n->type->name,
                      n->flow && n->flow->kind != SCOPE_GLOBAL ? n->flow->id : "global", text);
        return;
    }
    n->fs->rt->node_errors++;
    bool handled = msg && node__handle_error(n, text, msg);
    if (!handled) {
        ef_log(EF_LOG_ERROR, "[%s:%s] %s", n->type->name, n->name && *n->name ? n->name : n->id,
               text);
    }
}

/* ---- Status ---- */

static bool flow_handle_status(struct ef_scope *flow, struct ef_node *n, const struct ef_val *st,
                               struct ef_node *reporting)
{
    bool handled = false;
    if (flow->nstatus) {
        struct candidate *c = malloc(flow->nstatus * sizeof(*c));
        if (!c) {
            return false;
        }
        size_t nc = select_candidates(flow->statuses, flow->nstatus, reporting, c);
        for (size_t i = 0; i < nc; i++) {
            struct ef_val *s = ef_val_copy(st);
            struct ef_val *root = ef_val_obj();
            struct ef_val *src = source_obj(n);
            if (!s || !root || !src) {
                ef_val_unref(s);
                ef_val_unref(root);
                ef_val_unref(src);
                break;
            }
            ef_val_obj_set_take(s, "source", src);
            ef_val_obj_set_take(root, "status", s);
            struct ef_msg *m = ef_msg_new_take(root);
            if (!m) {
                ef_val_unref(root);
            } else {
                node__deliver(c[i].n, m);
            }
            handled = true;
        }
        free(c);
    }
    if (!handled && flow->kind == SCOPE_SUBFLOW && flow->instance &&
        (!flow->subflow_status || n == flow->instance)) {
        handled = flow_handle_status(flow->instance->flow, n, st, flow->instance);
    }
    return handled;
}

void ef_node_status(struct ef_node *n, const char *fill, const char *shape, const char *text)
{
    struct ef_val *st = ef_val_obj();
    if (!st) {
        return;
    }
    if (fill) {
        ef_val_obj_set_take(st, "fill", ef_val_str(fill));
    }
    if (shape) {
        ef_val_obj_set_take(st, "shape", ef_val_str(shape));
    }
    if (text) {
        ef_val_obj_set_take(st, "text", ef_val_str(text));
    }
    node__set_status(n, st);
}

/* Sets a status object (adopted) and routes it; used by ef_node_status and subflows. */
void node__set_status(struct ef_node *n, struct ef_val *st)
{
    ef_val_unref(n->status);
    n->status = st;
    struct ef_runtime *rt = n->fs->rt;
    for (size_t i = 0; i < rt->nhooks; i++) {
        if (rt->hooks[i].on_status) {
            rt->hooks[i].on_status(rt->hooks[i].ud, n, st);
        }
    }
    if (n->flow && n->fs->started && !(n->closed && rt->stopping)) {
        /* Status set while the flows are built does not reach status nodes,
         * as in Node-RED, where they are not listening yet; nor does a status
         * a node sets while closing at shutdown (Node-RED's status nodes are
         * stopping too by then). */
        flow_handle_status(n->flow, n, st, n);
    }
}

/* ---- Closing ---- */

void node__close(struct ef_node *n)
{
    if (n->closed) {
        return;
    }
    n->closed = true;
    if (n->started && n->type->cb_close) {
        n->type->cb_close(n); /* may free its own timers */
    }
    http_client__node_closed(n);
    while (n->timers) {
        ef_timer_free(n->timers);
    }
}
