/*
 * delay.c - the delay node (Node-RED 89-delay.js), mode for mode:
 *   delay   every message waits a fixed time;
 *   delayv  msg.delay (ms) overrides the configured time;
 *   random  a random time between two bounds;
 *   rate    at most one message per interval, the rest queued (toFront puts
 *           a message first) or, with "drop", dropped (or sent to a second
 *           output when the node has two); msg.rate changes the rate when
 *           allowed;
 *   queue   per topic: one message per topic kept (the newest), one sent
 *           per interval;
 *   timed   per topic: the kept messages all released every interval.
 * msg.reset clears what is pending, msg.flush (true or a count) releases
 * it now. Status counts follow the JavaScript, including its 500 ms delay
 * for the queue depth and its quirks (see docs/nodes.md).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "js.h"
#include "settings.h"

#include "lib/fnutil.h"

enum { M_DELAY, M_DELAYV, M_RANDOM, M_RATE, M_QUEUE, M_TIMED };

struct delay;

/* A message waiting on its own timer (delay, delayv, random). */
struct pending {
    struct pending *prev, *next;
    struct ef_msg *msg;
    struct ef_timer *timer;
    struct delay *d;
};

struct delay {
    struct ef_node *n;
    int mode;
    double timeout;          /* ms */
    double rate;             /* ms between messages (node.rate) */
    struct ef_val *rate_val; /* msg.rate as given, when it replaced the rate (node.rate) */
    double fixedrate;
    double random_first, random_last;
    bool drop, allowrate;
    bool two_outputs;
    /* delay/delayv/random: the idList */
    struct pending *head, *tail;
    size_t npending;
    /* rate/queue/timed: the buffer */
    struct ef_msg **buf;
    size_t nbuf, capbuf;
    struct ef_timer *interval; /* intervalID; running when interval_on */
    bool interval_on;
    unsigned interval_gen;   /* bumped by every (re)start */
    uint64_t interval_ms;    /* the period it was started with */
    bool interval_is_buffer; /* queue/timed: the interval now runs sendMsgFromBuffer */
    struct ef_timer *busy;   /* reportDepth's 500 ms timer */
    bool busy_on;
    bool has_last; /* drop mode: lastSent */
    uint64_t last_sent;
    uint64_t rng; /* random mode's generator state */
};

static const struct ef_prop delay_props[] = {
    {EF_PROP_ANY, "pauseType", "\"delay\"", false,
     "delay, delayv (msg.delay), random, rate, queue (per topic) or timed (per topic, all)",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "timeout", NULL, false, "the delay, in timeoutUnits", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "timeoutUnits", NULL, false, "milliseconds, seconds, minutes, hours or days",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "rate", NULL, false, "messages per rateUnits", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "nbRateUnits", NULL, false, "how many rateUnits the rate is per",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "rateUnits", NULL, false, "second, minute, hour or day", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "randomFirst", NULL, false, "random: the shortest delay", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "randomLast", NULL, false, "random: the longest delay", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "randomUnits", NULL, false, "milliseconds, seconds, minutes, hours or days",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "drop", NULL, false, "rate: drop intermediate messages instead of queueing",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "allowrate", NULL, false, "rate: msg.rate may change the rate", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "outputs", NULL, false, "2: dropped messages go to the second output",
     EF_PROP_NOFIELD},
    {EF_PROP_END},
};

static double unit_ms(const char *u, bool plural)
{
    if (plural) {
        return !strcmp(u, "milliseconds") ? 1
               : !strcmp(u, "minutes")    ? 60 * 1000
               : !strcmp(u, "hours")      ? 60 * 60 * 1000
               : !strcmp(u, "days")       ? 24 * 60 * 60 * 1000
                                          : 1000;
    }
    return !strcmp(u, "minute") ? 60 * 1000
           : !strcmp(u, "hour") ? 60 * 60 * 1000
           : !strcmp(u, "day")  ? 24 * 60 * 60 * 1000
                                : 1000;
}

static void status_count(struct ef_node *n, const char *shape, size_t count)
{
    char text[32];
    snprintf(text, sizeof(text), "%zu", count);
    ef_node_status(n, "blue", shape, text);
}

static void status_clear(struct ef_node *n)
{
    ef_node_status(n, NULL, NULL, NULL);
}

/* Sends msg out of port 0 (or 1), taking it in every case. */
static void send_port(struct ef_node *n, int port, struct ef_msg *msg)
{
    ef_node_done(n, msg);
    if (port >= ef_node_outputs(n)) {
        ef_msg_free(msg);
        return;
    }
    if (ef_node_send(n, port, msg) != 0) {
        ef_msg_free(msg);
    }
}

static void drop_msg(struct ef_node *n, struct ef_msg *msg)
{
    ef_node_done(n, msg);
    ef_msg_free(msg);
}

/* ======================================================================
 * delay, delayv, random: one timer per message
 * ====================================================================== */

static void pending_unlink(struct delay *d, struct pending *p)
{
    if (p->prev) {
        p->prev->next = p->next;
    } else {
        d->head = p->next;
    }
    if (p->next) {
        p->next->prev = p->prev;
    } else {
        d->tail = p->prev;
    }
    d->npending--;
}

/* The timer's handler: send the message (status as the mode does). */
static void pending_fire(struct delay *d, struct pending *p)
{
    struct ef_node *n = d->n;
    pending_unlink(d, p);
    ef_timer_free(p->timer);
    struct ef_msg *msg = p->msg;
    free(p);
    if (d->mode == M_DELAY) {
        if (d->timeout > 1000) {
            status_count(n, "dot", d->npending);
        }
        send_port(n, 0, msg);
    } else if (d->mode == M_DELAYV) {
        if (d->npending == 0) {
            status_clear(n);
        }
        send_port(n, 0, msg);
        status_count(n, "dot", d->npending);
    } else {
        send_port(n, 0, msg);
        if (d->timeout >= 1000) {
            status_count(n, "dot", d->npending);
        }
    }
}

static void on_pending(struct ef_node *n, void *arg)
{
    (void)n;
    struct pending *p = arg;
    pending_fire(p->d, p);
}

/* clearDelayList(s): drop everything pending. */
static void clear_delay_list(struct delay *d, bool s)
{
    while (d->head) {
        struct pending *p = d->head;
        pending_unlink(d, p);
        ef_timer_free(p->timer);
        drop_msg(d->n, p->msg);
        free(p);
    }
    if (s) {
        status_count(d->n, "ring", 0);
    } else {
        status_clear(d->n);
    }
}

/* flushDelayList(n): release the first `count` (all when not a number). */
static void flush_delay_list(struct delay *d, const struct ef_val *flush)
{
    size_t len = d->npending;
    if (ef_val_type(flush) == EF_NUM) {
        double f = floor(ef_val_num_get(flush));
        len = !(f > 0) ? 0 : f < (double)len ? (size_t)f : len;
    }
    for (size_t i = 0; i < len && d->head; i++) {
        pending_fire(d, d->head);
    }
    status_count(d->n, "dot", d->npending);
}

/* settings.nodeMessageBufferMaxLength, 0 when unset or not positive. */
static size_t max_kept(struct ef_node *n)
{
    const struct ef_val *v = settings__get(n->fs->rt->settings, "nodeMessageBufferMaxLength");
    double m = js__to_number(v);
    return v && m > 0 ? (size_t)m : 0;
}

static void input_timed_each(struct delay *d, struct ef_msg *msg)
{
    struct ef_node *n = d->n;
    double wait = d->timeout;
    if (d->mode == M_DELAYV) {
        const struct ef_val *dv = ef_msg_get(msg, "delay");
        if (dv && !isnan(fn__parse_float(dv))) {
            wait = fn__parse_float(dv);
        }
        if (wait < 0) {
            wait = 0;
        }
    } else if (d->mode == M_RANDOM) {
        /* xorshift64*: Math.random() needs no reproducibility, only a spread */
        d->rng ^= d->rng >> 12;
        d->rng ^= d->rng << 25;
        d->rng ^= d->rng >> 27;
        double r = (double)((d->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
        wait = d->random_first + (d->random_last - d->random_first) * r;
    }
    bool has_reset = fn__has(msg, "reset");
    bool has_flush = fn__has(msg, "flush");
    /* the flags are read before the message may be sent */
    struct ef_val *flush = has_flush ? ef_val_ref(ef_msg_get(msg, "flush")) : NULL;
    size_t max = max_kept(n);
    if (fn__nkeys(msg) == 2 && has_flush) {
        drop_msg(n, msg); /* id.clear() */
    } else if (max > 0 && d->npending >= max) {
        /* edgeflow's bound (Node-RED keeps every timer): the newest is refused */
        ef_node_error(n, msg, "too many pending messages in delay node");
        ef_msg_free(msg);
    } else {
        struct pending *p = calloc(1, sizeof(*p));
        struct ef_timer *t = p ? ef_timer_new(n, on_pending, p) : NULL;
        if (!t) {
            free(p);
            ef_node_error(n, msg, "out of memory");
            ef_msg_free(msg);
            ef_val_unref(flush);
            return;
        }
        p->msg = msg;
        p->timer = t;
        p->d = d;
        p->prev = d->tail;
        if (d->tail) {
            d->tail->next = p;
        } else {
            d->head = p;
        }
        d->tail = p;
        d->npending++;
        ef_timer_start(t, fn__timer_ms(wait), 0);
    }
    if (d->mode == M_DELAY) {
        if (has_reset) {
            clear_delay_list(d, true);
        } else if (has_flush) {
            flush_delay_list(d, flush);
        } else if (d->timeout > 1000) {
            status_count(n, "dot", d->npending);
        }
    } else {
        if (has_reset) {
            clear_delay_list(d, true);
        }
        if (has_flush) {
            flush_delay_list(d, flush);
        }
        if (d->mode == M_DELAYV || d->timeout >= 1000) {
            status_count(n, "dot", d->npending);
        }
    }
    ef_val_unref(flush);
}

/* ======================================================================
 * rate, queue, timed: a buffer and an interval
 * ====================================================================== */

static int buf_insert(struct delay *d, size_t at, struct ef_msg *msg)
{
    if (d->nbuf == d->capbuf) {
        size_t cap = d->capbuf ? d->capbuf * 2 : 16;
        struct ef_msg **b = realloc(d->buf, cap * sizeof(*b));
        if (!b) {
            return EF_ENOMEM;
        }
        d->buf = b;
        d->capbuf = cap;
    }
    memmove(d->buf + at + 1, d->buf + at, (d->nbuf - at) * sizeof(*d->buf));
    d->buf[at] = msg;
    d->nbuf++;
    return 0;
}

static struct ef_msg *buf_shift(struct delay *d)
{
    if (!d->nbuf) {
        return NULL;
    }
    struct ef_msg *m = d->buf[0];
    memmove(d->buf, d->buf + 1, (d->nbuf - 1) * sizeof(*d->buf));
    d->nbuf--;
    return m;
}

/* buffer = []: every waiting message is done with. */
static void buf_clear(struct delay *d)
{
    for (size_t i = 0; i < d->nbuf; i++) {
        drop_msg(d->n, d->buf[i]);
    }
    d->nbuf = 0;
}

static void on_busy(struct ef_node *n, void *arg)
{
    struct delay *d = arg;
    d->busy_on = false;
    status_count(n, "dot", d->nbuf);
}

/* reportDepth(): the queue depth, shown 500 ms later. */
static void report_depth(struct delay *d)
{
    if (!d->busy_on && d->busy) {
        d->busy_on = true;
        ef_timer_start(d->busy, 500, 0);
    }
}

static void interval_stop(struct delay *d)
{
    ef_timer_stop(d->interval);
    d->interval_on = false;
}

/*
 * setInterval(fn, node.rate). Node.js re-arms an interval after its
 * callback has run, so a timer the callback sets for the same moment fires
 * first: the interval is a one-shot timer re-armed at the end of on_interval.
 */
static void interval_start(struct delay *d)
{
    d->interval_on = true;
    d->interval_gen++;
    d->interval_ms = fn__timer_ms(d->rate);
    ef_timer_start(d->interval, d->interval_ms, 0);
}

/* sendMsgFromBuffer(). */
static void send_from_buffer(struct delay *d)
{
    if (d->nbuf == 0) {
        interval_stop(d);
    }
    if (d->nbuf > 0) {
        struct ef_msg *m = buf_shift(d);
        if (fn__nkeys(m) > 1) {
            send_port(d->n, 0, m);
        } else {
            ef_msg_free(m);
        }
    }
    report_depth(d);
}

static void interval_tick(struct delay *d)
{
    if (d->mode == M_RATE || d->interval_is_buffer) {
        send_from_buffer(d);
        return;
    }
    if (d->mode == M_QUEUE) {
        struct ef_msg *m = buf_shift(d);
        if (m) {
            send_port(d->n, 0, m);
        }
    } else {
        while (d->nbuf) {
            send_port(d->n, 0, buf_shift(d));
        }
    }
    report_depth(d);
}

static void on_interval(struct ef_node *n, void *arg)
{
    (void)n;
    struct delay *d = arg;
    unsigned gen = d->interval_gen;
    interval_tick(d);
    if (d->interval_on && gen == d->interval_gen) {
        ef_timer_start(d->interval, d->interval_ms, 0);
    }
}

/* node.rate = msg.rate (a number or numeric text, as the JavaScript keeps it). */
static void set_rate(struct delay *d, const struct ef_val *rate)
{
    ef_val_unref(d->rate_val);
    d->rate_val = ef_val_ref((struct ef_val *)rate);
    d->rate = js__to_number(rate);
}

/* node.rate !== msg.rate. */
static bool rate_differs(const struct delay *d, const struct ef_val *rate)
{
    if (d->rate_val) {
        return !fn__strict_eq(d->rate_val, rate);
    }
    return !(ef_val_type(rate) == EF_NUM && ef_val_num_get(rate) == d->rate);
}

static bool rate_given(const struct delay *d, const struct ef_msg *msg)
{
    return d->allowrate && fn__has(msg, "rate") && !isnan(fn__parse_float(ef_msg_get(msg, "rate")));
}

static void input_rate(struct delay *d, struct ef_msg *msg)
{
    struct ef_node *n = d->n;
    bool has_reset = fn__has(msg, "reset");
    bool has_flush = fn__has(msg, "flush");
    bool flush_undefined = !has_flush;
    struct ef_val *flush = has_flush ? ef_val_ref(ef_msg_get(msg, "flush")) : NULL;
    bool to_front = ef_val_type(ef_msg_get(msg, "toFront")) == EF_BOOL &&
                    ef_val_bool_get(ef_msg_get(msg, "toFront"));
    if (!d->drop) {
        /* RED.util.cloneMessage: the clone goes on, and is what "done" reports */
        struct ef_msg *m = ef_msg_clone(msg);
        ef_msg_free(msg);
        msg = NULL;
        if (m) {
            ef_msg_delete(m, "flush");
        }
        if (m && fn__nkeys(m) > 1) {
            if (d->interval_on) {
                if (rate_given(d, m) && rate_differs(d, ef_msg_get(m, "rate"))) {
                    set_rate(d, ef_msg_get(m, "rate"));
                    interval_stop(d);
                    interval_start(d);
                }
                size_t max = max_kept(n);
                if (max > 0 && d->nbuf >= max) {
                    buf_clear(d);
                    ef_node_error(n, m, "too many pending messages in delay node");
                    ef_msg_free(m);
                } else if (buf_insert(d, to_front ? 0 : d->nbuf, m) == 0) {
                    report_depth(d);
                } else {
                    ef_msg_free(m);
                }
            } else {
                if (rate_given(d, m)) {
                    set_rate(d, ef_msg_get(m, "rate"));
                }
                if (has_reset) {
                    if (has_flush) {
                        if (buf_insert(d, d->nbuf, m) != 0) {
                            ef_msg_free(m);
                        }
                    } else {
                        ef_msg_free(m);
                    }
                } else {
                    send_port(n, 0, m);
                }
                report_depth(d);
                interval_start(d);
            }
        } else if (m) {
            drop_msg(n, m);
        }
        if (has_flush) {
            size_t len = d->nbuf;
            if (ef_val_type(flush) == EF_NUM) {
                double f = floor(ef_val_num_get(flush));
                len = !(f > 0) ? 0 : f < (double)len ? (size_t)f : len;
            }
            if (len == 0) {
                interval_stop(d);
            } else {
                while (len > 0) {
                    struct ef_msg *b = buf_shift(d);
                    ef_msg_delete(b, "flush");
                    ef_msg_delete(b, "reset");
                    if (fn__nkeys(b) > 1) {
                        send_port(n, 0, b);
                    } else {
                        ef_msg_free(b);
                    }
                    len--;
                }
                interval_stop(d);
                interval_start(d);
            }
            status_count(n, "dot", d->nbuf);
        }
    } else if (!has_reset) {
        if (rate_given(d, msg)) {
            set_rate(d, ef_msg_get(msg, "rate"));
        }
        uint64_t now = ef_mono_ms();
        if (!d->has_last) {
            d->has_last = true;
            d->last_sent = now;
            send_port(n, 0, msg);
        } else if ((double)(now - d->last_sent) > d->rate) {
            d->last_sent = now;
            send_port(n, 0, msg);
        } else if (d->two_outputs) {
            send_port(n, 1, msg);
        } else {
            drop_msg(n, msg);
        }
        msg = NULL;
    }
    if (has_reset) {
        if (flush_undefined) {
            interval_stop(d);
            d->has_last = false;
        }
        buf_clear(d);
        d->rate = d->fixedrate;
        ef_val_unref(d->rate_val);
        d->rate_val = NULL;
        status_count(n, "ring", 0);
    }
    if (msg) {
        drop_msg(n, msg);
    }
    ef_val_unref(flush);
}

static void input_queue(struct delay *d, struct ef_msg *msg)
{
    struct ef_node *n = d->n;
    if (rate_given(d, msg) && rate_differs(d, ef_msg_get(msg, "rate"))) {
        set_rate(d, ef_msg_get(msg, "rate"));
        interval_stop(d);
        d->interval_is_buffer = true; /* the JavaScript switches to sendMsgFromBuffer */
        interval_start(d);
    }
    if (!fn__has(msg, "topic")) {
        ef_msg_set_take(msg, "topic", ef_val_str("_none_"));
    }
    bool has_reset = fn__has(msg, "reset");
    bool has_flush = fn__has(msg, "flush");
    struct ef_val *flush = has_flush ? ef_val_ref(ef_msg_get(msg, "flush")) : NULL;
    const struct ef_val *topic = ef_msg_get(msg, "topic");
    bool hit = false;
    for (size_t i = 0; i < d->nbuf; i++) {
        if (fn__strict_eq(topic, ef_msg_get(d->buf[i], "topic"))) {
            struct ef_msg *old = d->buf[i];
            d->buf[i] = msg;
            if (d->two_outputs) {
                send_port(n, 1, old);
            } else {
                drop_msg(n, old);
            }
            hit = true;
            break;
        }
    }
    if (!hit) {
        size_t max = max_kept(n);
        if (max > 0 && d->nbuf >= max) {
            /* edgeflow's bound on topics held (Node-RED has none): the newest is refused */
            ef_node_error(n, msg, "too many pending messages in delay node");
            ef_msg_free(msg);
        } else if (buf_insert(d, d->nbuf, msg) != 0) {
            ef_msg_free(msg);
        }
        report_depth(d);
    }
    if (has_flush) {
        double len = (double)d->nbuf;
        if (ef_val_type(flush) == EF_NUM) {
            len = floor(ef_val_num_get(flush)); /* Math.min(Math.floor(flush, len)) */
        }
        while (len > 0) {
            struct ef_msg *b = buf_shift(d);
            if (!b) {
                ef_node_error(n, NULL,
                              "TypeError: Cannot read properties of undefined (reading "
                              "'msg')");
                break;
            }
            ef_msg_delete(b, "flush");
            ef_msg_delete(b, "reset");
            if (fn__nkeys(b) > 2) {
                send_port(n, 0, b);
            } else {
                drop_msg(n, b);
            }
            len--;
        }
        status_clear(n);
    }
    if (has_reset) {
        buf_clear(d);
        d->rate = d->fixedrate;
        ef_val_unref(d->rate_val);
        d->rate_val = NULL;
        ef_node_status(n, NULL, NULL, "reset");
    }
    ef_val_unref(flush);
}

/* ======================================================================
 * The node
 * ====================================================================== */

static int cb_delay_init(struct ef_node *n, const struct ef_val *config)
{
    struct delay *d = ef_node_priv(n);
    d->n = n;
    d->rng = ((uint64_t)ef_now_ms() * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)(uintptr_t)d ^ 1;
    const char *pt = fn__cfg_str(config, "pauseType", "");
    d->mode = !strcmp(pt, "delay")    ? M_DELAY
              : !strcmp(pt, "delayv") ? M_DELAYV
              : !strcmp(pt, "random") ? M_RANDOM
              : !strcmp(pt, "rate")   ? M_RATE
              : !strcmp(pt, "queue")  ? M_QUEUE
              : !strcmp(pt, "timed")  ? M_TIMED
                                      : -1;
    d->timeout =
        fn__cfg_num(config, "timeout") * unit_ms(fn__cfg_str(config, "timeoutUnits", ""), true);
    d->rate = unit_ms(fn__cfg_str(config, "rateUnits", ""), false) / fn__cfg_num(config, "rate");
    double nb = fn__cfg_num(config, "nbRateUnits");
    d->rate *= nb > 0 ? nb : 1;
    double ru = unit_ms(fn__cfg_str(config, "randomUnits", ""), true);
    d->random_first = fn__cfg_num(config, "randomFirst") * ru;
    d->random_last = fn__cfg_num(config, "randomLast") * ru;
    d->drop = ef_val_truthy(ef_val_obj_get(config, "drop"));
    d->allowrate = ef_val_truthy(ef_val_obj_get(config, "allowrate"));
    d->fixedrate = d->rate;
    const struct ef_val *outs = ef_val_obj_get(config, "outputs");
    d->two_outputs = ef_val_type(outs) == EF_NUM && ef_val_num_get(outs) == 2;
    if (d->mode == M_RATE || d->mode == M_QUEUE || d->mode == M_TIMED) {
        d->interval = ef_timer_new(n, on_interval, d);
        d->busy = ef_timer_new(n, on_busy, d);
        if (!d->interval || !d->busy) {
            ef_node_error(n, NULL, "out of memory");
            return EF_ENOMEM;
        }
    }
    return 0;
}

static void cb_delay_start(struct ef_node *n)
{
    struct delay *d = ef_node_priv(n);
    if (d->mode == M_QUEUE || d->mode == M_TIMED) {
        interval_start(d);
    }
}

static int cb_delay_input(struct ef_node *n, struct ef_msg *msg)
{
    struct delay *d = ef_node_priv(n);
    switch (d->mode) {
    case M_DELAY:
    case M_DELAYV:
    case M_RANDOM: input_timed_each(d, msg); break;
    case M_RATE: input_rate(d, msg); break;
    case M_QUEUE:
    case M_TIMED: input_queue(d, msg); break;
    default: ef_msg_free(msg); return EF_INPUT_DONE; /* an unknown mode ignores input */
    }
    return EF_INPUT_ASYNC;
}

static void cb_delay_close(struct ef_node *n)
{
    struct delay *d = ef_node_priv(n);
    /* The runtime frees the node's timers after this returns. */
    while (d->head) {
        struct pending *p = d->head;
        pending_unlink(d, p);
        ef_msg_free(p->msg);
        free(p);
    }
    for (size_t i = 0; i < d->nbuf; i++) {
        ef_msg_free(d->buf[i]);
    }
    free(d->buf);
    d->buf = NULL;
    d->nbuf = 0;
    ef_val_unref(d->rate_val);
    d->rate_val = NULL;
}

const struct ef_node_type ef_type_delay = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "delay",
    .description = "Delays each message, or limits the rate of messages (per topic if asked)",
    .category = "function",
    .inputs = 1,
    .outputs = EF_OUTPUTS_FROM_CONFIG,
    .props = delay_props,
    .flags = EF_TYPE_NAME_ALWAYS,
    .priv_size = sizeof(struct delay),
    .cb_init = cb_delay_init,
    .cb_start = cb_delay_start,
    .cb_close = cb_delay_close,
    .cb_input = cb_delay_input,
};
