/*
 * runtime.h - starting, deploying and stopping edgeflow: the calls main.c,
 * the admin API and the tests use.
 */
#ifndef EF_RUNTIME_H
#define EF_RUNTIME_H

#include "engine.h"
#include "settings.h"

/* Initialises rt with settings (adopted). 0, or EF_E* with the reason in err. */
int runtime__init(struct ef_runtime *rt, struct ef_settings *settings, char *err, size_t errlen);
/*
 * Reads and parses a flows file. Returns a new value, or NULL with the
 * reason in err; *unreadable tells a missing/unreadable file from bad JSON.
 */
struct ef_val *runtime__read_flows(const char *path, bool *unreadable, char *err, size_t errlen);
/* How much a deploy restarts (Node-RED's Node-RED-Deployment-Type). */
enum ef_deploy_type {
    EF_DEPLOY_FULL,   /* stop everything, start the new flows */
    EF_DEPLOY_FLOWS,  /* restart only the tabs (flows) that changed */
    EF_DEPLOY_NODES,  /* restart only changed nodes; the rest keep state, timers, connections */
    EF_DEPLOY_RELOAD, /* restart everything from `flows` (as full) */
};

/*
 * Builds a flow set from `flows` (referenced, not adopted) and, if it is
 * valid, replaces the running one as `type` says. On problems the running
 * flows are untouched and every problem is in probs. Returns 0 or EF_EINVAL.
 */
int runtime__deploy_type(struct ef_runtime *rt, struct ef_val *flows, enum ef_deploy_type type,
                         struct ef_problems *probs);
/* runtime__deploy_type(rt, flows, EF_DEPLOY_FULL, probs). */
int runtime__deploy(struct ef_runtime *rt, struct ef_val *flows, struct ef_problems *probs);
/*
 * Catches SIGINT and SIGTERM from now on: a signal that arrives while the
 * program is still starting (deploying, binding its port) stops it
 * gracefully once runtime__run() runs the loop, instead of killing it.
 * runtime__run() calls it too; calling it again does nothing.
 */
void runtime__catch_signals(struct ef_runtime *rt);
/* Runs the loop until runtime__stop() or SIGINT/SIGTERM. */
void runtime__run(struct ef_runtime *rt);
/*
 * Graceful stop: inputs stop, queued messages drain, nodes close, context is
 * flushed. Safe to call from a node callback or signal handler on the loop.
 */
void runtime__stop(struct ef_runtime *rt);
/* Frees everything; call after runtime__run returned. */
void runtime__destroy(struct ef_runtime *rt);

#endif
