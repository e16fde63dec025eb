/*
 * loop.c - the libuv loop, the FIFO delivery queue and the thread inbox.
 *
 * ef_node_send() never calls the receiving node: it queues a delivery, and
 * the loop drains the queue from an idle handle (so I/O keeps being polled
 * between batches, as Node-RED's setImmediate does). The queue is a ring
 * buffer with a cap; deliveries beyond it are refused and counted.
 * ef_loop_post() is the one thread-safe entry: a mutex-protected list plus
 * uv_async_send().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"

#define DRAIN_BATCH 4096

/* The loop whose virtual clock ef_now_ms/ef_mono_ms read (tests only). */
static struct ef_loop *virtual_loop;
static double virtual_epoch_ms;

struct loop_post {
    void (*fn)(void *);
    void *arg;
    struct loop_post *next;
};

static void on_drain(uv_idle_t *h)
{
    struct ef_loop *l = h->data;
    loop__drain(l, DRAIN_BATCH);
    if (l->q_len == 0) {
        uv_idle_stop(&l->drain_idle);
    }
}

static void on_inbox(uv_async_t *h)
{
    struct ef_loop *l = h->data;
    uv_mutex_lock(&l->inbox_lock);
    struct loop_post *p = l->inbox_head;
    l->inbox_head = l->inbox_tail = NULL;
    uv_mutex_unlock(&l->inbox_lock);
    while (p) {
        struct loop_post *next = p->next;
        p->fn(p->arg);
        free(p);
        p = next;
    }
}

int loop__init(struct ef_loop *l, size_t max_queue)
{
    memset(l, 0, sizeof(*l));
    if (uv_loop_init(&l->uv) != 0) {
        return EF_EIO;
    }
    l->uv.data = l;
    uv_idle_init(&l->uv, &l->drain_idle);
    l->drain_idle.data = l;
    uv_async_init(&l->uv, &l->inbox_async, on_inbox);
    l->inbox_async.data = l;
    uv_unref((uv_handle_t *)&l->inbox_async);
    uv_mutex_init(&l->inbox_lock);
    l->q_max = max_queue ? max_queue : 1000000;
    return 0;
}

void loop__close(struct ef_loop *l)
{
    for (size_t i = 0; i < l->q_len; i++) {
        ef_msg_free(l->q[(l->q_head + i) % l->q_cap].msg);
    }
    l->q_len = 0;
    free(l->q);
    l->q = NULL;
    free(l->heap);
    l->heap = NULL;
    l->nheap = 0;
    if (virtual_loop == l) {
        virtual_loop = NULL;
    }
    on_inbox(&l->inbox_async); /* run what other threads posted last */
    http_client__free(l);
    uv_close((uv_handle_t *)&l->drain_idle, NULL);
    uv_close((uv_handle_t *)&l->inbox_async, NULL);
    while (uv_run(&l->uv, UV_RUN_NOWAIT) != 0) {
    }
    uv_loop_close(&l->uv);
    uv_mutex_destroy(&l->inbox_lock);
}

int loop__enqueue(struct ef_loop *l, struct ef_node *target, struct ef_msg *msg)
{
    if (l->q_len == l->q_cap) {
        if (l->q_cap >= l->q_max) {
            l->dropped++;
            return EF_EFULL;
        }
        size_t cap = l->q_cap ? l->q_cap * 2 : 256;
        if (cap > l->q_max) {
            cap = l->q_max;
        }
        struct loop_delivery *q = malloc(cap * sizeof(*q));
        if (!q) {
            return EF_ENOMEM;
        }
        for (size_t i = 0; i < l->q_len; i++) {
            q[i] = l->q[(l->q_head + i) % l->q_cap];
        }
        free(l->q);
        l->q = q;
        l->q_cap = cap;
        l->q_head = 0;
    }
    l->q[(l->q_head + l->q_len) % l->q_cap] = (struct loop_delivery){target, msg};
    if (l->q_len++ == 0) {
        uv_idle_start(&l->drain_idle, on_drain);
    }
    return 0;
}

size_t loop__drain(struct ef_loop *l, size_t limit)
{
    size_t n = 0;
    while (l->q_len && n < limit) {
        struct loop_delivery d = l->q[l->q_head];
        l->q_head = (l->q_head + 1) % l->q_cap;
        l->q_len--;
        n++;
        l->delivered++;
        node__deliver(d.target, d.msg);
    }
    return n;
}

void loop__purge(struct ef_loop *l, const struct ef_flowset *fs)
{
    size_t kept = 0;
    for (size_t i = 0; i < l->q_len; i++) {
        struct loop_delivery d = l->q[(l->q_head + i) % l->q_cap];
        if (d.target->fs == fs) {
            ef_msg_free(d.msg);
        } else {
            l->q[(l->q_head + kept++) % l->q_cap] = d;
        }
    }
    l->q_len = kept;
}

int ef_loop_post(struct ef_loop *l, void (*fn)(void *arg), void *arg)
{
    struct loop_post *p = malloc(sizeof(*p));
    if (!p) {
        return EF_ENOMEM;
    }
    p->fn = fn;
    p->arg = arg;
    p->next = NULL;
    uv_mutex_lock(&l->inbox_lock);
    if (l->inbox_tail) {
        l->inbox_tail->next = p;
    } else {
        l->inbox_head = p;
    }
    l->inbox_tail = p;
    uv_mutex_unlock(&l->inbox_lock);
    uv_async_send(&l->inbox_async);
    return 0;
}

uv_loop_t *ef_loop_uv(struct ef_loop *l)
{
    return &l->uv;
}

/* ---- Timers ---- */

static void on_timer(uv_timer_t *h)
{
    struct ef_timer *t = h->data;
    t->cb(t->node, t->arg);
}

/* Min-heap on (due, seq): equal due times fire in the order they were set. */
static bool heap_less(const struct ef_timer *a, const struct ef_timer *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_swap(struct ef_loop *l, size_t i, size_t j)
{
    struct ef_timer *t = l->heap[i];
    l->heap[i] = l->heap[j];
    l->heap[j] = t;
    l->heap[i]->heap_index = i + 1;
    l->heap[j]->heap_index = j + 1;
}

static void heap_fix(struct ef_loop *l, size_t i)
{
    while (i > 0 && heap_less(l->heap[i], l->heap[(i - 1) / 2])) {
        heap_swap(l, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    for (;;) {
        size_t c = 2 * i + 1, m = i;
        if (c < l->nheap && heap_less(l->heap[c], l->heap[m])) {
            m = c;
        }
        if (c + 1 < l->nheap && heap_less(l->heap[c + 1], l->heap[m])) {
            m = c + 1;
        }
        if (m == i) {
            return;
        }
        heap_swap(l, i, m);
        i = m;
    }
}

static void heap_remove(struct ef_loop *l, struct ef_timer *t)
{
    if (!t->heap_index) {
        return;
    }
    size_t i = t->heap_index - 1;
    t->heap_index = 0;
    if (--l->nheap != i) {
        l->heap[i] = l->heap[l->nheap];
        l->heap[i]->heap_index = i + 1;
        heap_fix(l, i);
    }
}

static int heap_insert(struct ef_loop *l, struct ef_timer *t)
{
    if (l->nheap == l->heapcap) {
        size_t cap = l->heapcap ? l->heapcap * 2 : 32;
        struct ef_timer **h = realloc(l->heap, cap * sizeof(*h));
        if (!h) {
            return EF_ENOMEM;
        }
        l->heap = h;
        l->heapcap = cap;
    }
    l->heap[l->nheap] = t;
    t->heap_index = ++l->nheap;
    heap_fix(l, l->nheap - 1);
    return 0;
}

void loop__use_virtual_clock(struct ef_loop *l, double start_ms)
{
    l->virtual_clock = true;
    l->vnow = 0;
    virtual_loop = l;
    virtual_epoch_ms = start_ms;
}

size_t loop__advance(struct ef_loop *l, uint64_t ms)
{
    uint64_t end = l->vnow + ms;
    size_t fired = 0;
    for (;;) {
        while (l->q_len) {
            loop__drain(l, SIZE_MAX);
        }
        uv_run(&l->uv, UV_RUN_NOWAIT); /* I/O and posts from other threads */
        if (l->q_len) {
            continue;
        }
        if (!l->nheap || l->heap[0]->due > end) {
            break;
        }
        struct ef_timer *t = l->heap[0];
        heap_remove(l, t);
        l->vnow = t->due;
        if (t->repeat) {
            t->due += t->repeat;
            t->seq = ++l->vseq;
            heap_insert(l, t);
        }
        fired++;
        t->cb(t->node, t->arg);
    }
    l->vnow = end;
    return fired;
}

struct ef_timer *ef_timer_new(struct ef_node *n, ef_timer_cb cb, void *arg)
{
    struct ef_timer *t = calloc(1, sizeof(*t));
    if (!t) {
        return NULL;
    }
    t->loop = &n->fs->rt->loop;
    if (!t->loop->virtual_clock) {
        uv_timer_init(&t->loop->uv, &t->uv);
    }
    t->uv.data = t;
    t->node = n;
    t->cb = cb;
    t->arg = arg;
    t->next = n->timers;
    n->timers = t;
    return t;
}

int ef_timer_start(struct ef_timer *t, uint64_t ms, uint64_t repeat_ms)
{
    struct ef_loop *l = t->loop;
    /* As Node's setTimeout(fn, 0): at least 1 ms. (A 0 ms libuv timer re-armed
     * from its own callback would run again in the same loop phase, forever.) */
    if (ms == 0) {
        ms = 1;
    }
    if (!l->virtual_clock) {
        return uv_timer_start(&t->uv, on_timer, ms, repeat_ms) == 0 ? 0 : EF_EINVAL;
    }
    heap_remove(l, t);
    t->due = l->vnow + ms;
    t->repeat = repeat_ms;
    t->seq = ++l->vseq;
    return heap_insert(l, t);
}

void ef_timer_stop(struct ef_timer *t)
{
    if (!t) {
        return;
    }
    if (t->loop->virtual_clock) {
        heap_remove(t->loop, t);
    } else {
        uv_timer_stop(&t->uv);
    }
}

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
}

void ef_timer_free(struct ef_timer *t)
{
    if (!t) {
        return;
    }
    for (struct ef_timer **pp = &t->node->timers; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    }
    if (t->loop->virtual_clock) {
        heap_remove(t->loop, t);
        free(t);
        return;
    }
    uv_timer_stop(&t->uv);
    uv_close((uv_handle_t *)&t->uv, timer_closed);
}

double ef_now_ms(void)
{
    if (virtual_loop) {
        return virtual_epoch_ms + (double)virtual_loop->vnow;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)(ts.tv_nsec / 1000000);
}

uint64_t ef_mono_ms(void)
{
    if (virtual_loop) {
        return 1000000 + virtual_loop->vnow;
    }
    return uv_hrtime() / 1000000u;
}
