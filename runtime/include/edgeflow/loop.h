/*
 * loop.h - the event loop every node runs on.
 *
 * One libuv loop owns all node state. ef_loop_post() is the only call that
 * is safe from other threads: it queues fn(arg) to run on the loop thread.
 */
#ifndef EDGEFLOW_LOOP_H
#define EDGEFLOW_LOOP_H

#include <uv.h>

struct ef_loop;

/* Queues fn(arg) to run on the loop thread. Thread-safe. 0 or EF_ENOMEM. */
int ef_loop_post(struct ef_loop *l, void (*fn)(void *arg), void *arg);
/* The libuv loop (for uv_queue_work, uv_poll, ...). Loop thread only. */
uv_loop_t *ef_loop_uv(struct ef_loop *l);

#endif
