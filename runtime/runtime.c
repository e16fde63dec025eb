/*
 * runtime.c - the runtime's life cycle: settings and context stores, loading
 * flows files, atomic deploys (build the new flow set completely before the
 * old one stops), the loop, and a graceful stop on SIGINT/SIGTERM that stops
 * inputs, drains queued messages, closes nodes and flushes context.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_routes.h"
#include "redeploy.h"
#include "runtime.h"
#include "storage.h"
#include "ws_routes.h"

#define FLOWS_MAX (256u << 20)
#define DRAIN_MAX_MESSAGES 10000000

static void on_ctx_timer(uv_timer_t *h)
{
    struct ef_runtime *rt = h->data;
    ctx__flush(rt->ctx);
}

int runtime__init(struct ef_runtime *rt, struct ef_settings *settings, char *err, size_t errlen)
{
    memset(rt, 0, sizeof(*rt));
    rt->settings = settings;
    if (loop__init(&rt->loop, settings->max_queue) != 0) {
        snprintf(err, errlen, "cannot initialise the event loop");
        return EF_EIO;
    }
    rt->loop.rt = rt;
    rt->ctx =
        ctx__create(settings__get(settings, "contextStorage"), settings->user_dir, err, errlen);
    if (!rt->ctx) {
        return EF_EINVAL;
    }
    int rc = registry__init_builtins();
    if (rc != 0) {
        snprintf(err, errlen, "cannot register built-in node types: %s", ef_strerror(rc));
        return rc;
    }
    return 0;
}

struct ef_val *runtime__read_flows(const char *path, bool *unreadable, char *err, size_t errlen)
{
    size_t len;
    *unreadable = false;
    char *text = storage__read_file(path, FLOWS_MAX, &len);
    if (!text) {
        *unreadable = true;
        snprintf(err, errlen, "%s: %s", path,
                 errno == EFBIG ? "larger than 256 MiB" : strerror(errno));
        return NULL;
    }
    char perr[256];
    struct ef_val *v = ef_json_parse(text, len, perr, sizeof(perr));
    free(text);
    if (!v) {
        snprintf(err, errlen, "%s: invalid JSON: %s", path, perr);
    }
    return v;
}

int runtime__add_hooks(struct ef_runtime *rt, const struct ef_runtime_hooks *h)
{
    if (rt->nhooks == EF_MAX_HOOKS) {
        return EF_EFULL;
    }
    rt->hooks[rt->nhooks++] = *h;
    return 0;
}

void runtime__emit_debug(struct ef_runtime *rt, const struct ef_debug_event *ev)
{
    for (size_t i = 0; i < rt->nhooks; i++) {
        if (rt->hooks[i].on_debug) {
            rt->hooks[i].on_debug(rt->hooks[i].ud, ev);
        }
    }
}

int runtime__deploy(struct ef_runtime *rt, struct ef_val *flows, struct ef_problems *probs)
{
    return runtime__deploy_type(rt, flows, EF_DEPLOY_FULL, probs);
}

/* Delivers what is queued (bounded by DRAIN_MAX_MESSAGES). */
static void drain_queue(struct ef_runtime *rt)
{
    size_t n = 0;
    while (rt->loop.q_len && n < DRAIN_MAX_MESSAGES) {
        n += loop__drain(&rt->loop, 4096);
    }
}

int runtime__deploy_type(struct ef_runtime *rt, struct ef_val *flows, enum ef_deploy_type type,
                         struct ef_problems *probs)
{
    struct ef_flowset *old = rt->active;
    /* Messages already queued finish through the running flows first, so a
     * deploy loses none of them (Node-RED drops those bound for stopped nodes). */
    drain_queue(rt);
    struct id_map *carry = old ? redeploy__plan(old->config, flows, type) : NULL;
    struct ef_flowset *fs = flowset__build(rt, flows, old, carry, probs);
    idmap__free(carry);
    if (!fs) {
        return EF_EINVAL;
    }
    if (old) {
        flowset__commit_carried(fs, old);
        /* Node context of deleted nodes goes with them, as in Node-RED. */
        for (size_t i = 0; i < old->nnodes; i++) {
            struct ef_node *n = old->nodes[i];
            if (n && !flowset__find(fs, n->id)) {
                ctx__delete_node(rt->ctx, n->alias ? n->alias : n->id);
            }
        }
        flowset__stop_inputs(old);
        flowset__close(old);
        flowset__free(old);
    }
    rt->active = fs;
    flowset__start(fs);
    for (size_t i = 0; i < rt->nhooks; i++) {
        if (rt->hooks[i].on_deployed) {
            rt->hooks[i].on_deployed(rt->hooks[i].ud, rt);
        }
    }
    return 0;
}

static void stop_cb(uv_signal_t *h, int signum)
{
    struct ef_runtime *rt = h->data;
    ef_log_info("received %s, stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
    runtime__stop(rt);
}

void runtime__catch_signals(struct ef_runtime *rt)
{
    if (rt->sig_int.data) {
        return;
    }
    uv_loop_t *uv = &rt->loop.uv;
    /* The signal handles stay referenced, so the loop waits for them even
     * when the flows have nothing scheduled; runtime__stop() ends the loop. */
    uv_signal_init(uv, &rt->sig_int);
    uv_signal_init(uv, &rt->sig_term);
    rt->sig_int.data = rt->sig_term.data = rt;
    uv_signal_start(&rt->sig_int, stop_cb, SIGINT);
    uv_signal_start(&rt->sig_term, stop_cb, SIGTERM);
}

void runtime__run(struct ef_runtime *rt)
{
    uv_loop_t *uv = &rt->loop.uv;
    runtime__catch_signals(rt);
    uv_timer_init(uv, &rt->ctx_timer);
    rt->ctx_timer.data = rt;
    uint64_t every = (uint64_t)rt->settings->context_flush_ms;
    uv_timer_start(&rt->ctx_timer, on_ctx_timer, every, every);
    uv_unref((uv_handle_t *)&rt->ctx_timer);
    if (!rt->stopping) {
        uv_run(uv, UV_RUN_DEFAULT);
    }
}

void runtime__stop(struct ef_runtime *rt)
{
    if (rt->stopping) {
        return;
    }
    rt->stopping = true;
    if (rt->active) {
        flowset__stop_inputs(rt->active);
        drain_queue(rt);
        flowset__close(rt->active);
    }
    ctx__flush(rt->ctx);
    uv_stop(&rt->loop.uv);
}

void runtime__destroy(struct ef_runtime *rt)
{
    if (rt->active) {
        flowset__free(rt->active);
        rt->active = NULL;
    }
    if (rt->ctx_timer.data) {
        uv_close((uv_handle_t *)&rt->ctx_timer, NULL);
        rt->ctx_timer.data = NULL;
    }
    if (rt->sig_int.data) {
        rt->sig_int.data = NULL;
        uv_close((uv_handle_t *)&rt->sig_int, NULL);
        uv_close((uv_handle_t *)&rt->sig_term, NULL);
    }
    ws_routes__free(rt);
    http_routes__free(rt->http_routes);
    loop__close(&rt->loop);
    ctx__destroy(rt->ctx);
    settings__free(rt->settings);
}
