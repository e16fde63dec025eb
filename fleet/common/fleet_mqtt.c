/*
 * fleet_mqtt.c - the fleet's MQTT client (see fleet_mqtt.h): paho MQTTAsync
 * with its callbacks bridged to the edgeflow loop.
 *
 * Threads. paho calls back on its own threads. Each callback copies what it
 * got into a `struct ev`, appends it to the bridge's list under the bridge
 * mutex and, unless a wake-up is already pending, posts one with
 * ef_loop_post(). The loop thread takes the whole list and applies it. The
 * bridge is reference-counted (the client's reference and one per pending
 * wake-up) so a wake-up that runs after the client is gone finds a bridge
 * marked closed and only frees it. The receive thread waits while RX_MAX
 * received messages are pending (TCP backpressure instead of memory).
 *
 * Publishing: a FIFO of `struct pub` (one allocation each) bounded by count
 * and bytes; at most `window` are with paho, each in a slot whose
 * generation number lets a completion that arrives after a reconnect (for
 * a message already re-queued) be ignored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <MQTTAsync.h>
#include <uv.h>

#include "edgeflow/err.h"
#include "edgeflow/loop.h"

#include "fleet_mqtt.h"

#define WINDOW_MAX 64
#define RX_MAX 1024

enum ev_kind { EV_CONNECTED, EV_CONNECT_FAILED, EV_LOST, EV_MSG, EV_PUB_DONE };

struct ev {
    struct ev *next;
    enum ev_kind kind;
    int code;
    int slot;
    uint32_t gen;
    bool ok, retained;
    char *topic;
    uint8_t *payload;
    size_t len;
    char *text;
};

struct slot_ctx {
    struct bridge *b;
    int idx;
};

struct bridge {
    uv_mutex_t mu;
    uv_cond_t cond;
    struct ef_loop *loop;
    struct fleet_mqtt *m; /* loop thread only; NULL once the client is gone */
    bool closed, posted;
    int refs;
    struct ev *head, *tail;
    size_t nrx;
    size_t max_payload;
    uint64_t dropped_big;
    uint32_t gen[WINDOW_MAX];
    struct slot_ctx slots[WINDOW_MAX];
};

struct pub {
    struct pub *next;
    uint64_t seq;
    char *topic; /* points into data after the payload */
    size_t len;
    int qos;
    bool retain;
    uint8_t data[];
};

struct sub {
    char *filter;
    int qos;
};

enum state { ST_IDLE, ST_CONNECTING, ST_CONNECTED, ST_WAITING };

struct fleet_mqtt {
    struct ef_loop *loop;
    struct fleet_mqtt_opts o; /* strings below are our copies */
    char *uri, *client_id, *username, *password, *will_topic;
    uint8_t *will_payload;
    size_t will_len;
    MQTTAsync handle;
    struct bridge *b;
    enum state state;
    uv_timer_t *timer; /* reconnect backoff and pump retries; freed in its close callback */
    unsigned attempt;
    uint64_t rng;
    struct sub *subs;
    size_t nsubs;
    struct pub *q_head, *q_tail;
    size_t q_count, q_bytes;
    uint64_t next_seq;
    struct pub *slot[WINDOW_MAX];
    uint32_t slot_gen[WINDOW_MAX];
    size_t inflight;
    struct fleet_mqtt_stats st;
};

/* ---- Events and the bridge ---- */

static void ev_free(struct ev *e)
{
    if (e) {
        free(e->topic);
        free(e->payload);
        free(e->text);
        free(e);
    }
}

static void bridge_free(struct bridge *b)
{
    while (b->head) {
        struct ev *n = b->head->next;
        ev_free(b->head);
        b->head = n;
    }
    uv_cond_destroy(&b->cond);
    uv_mutex_destroy(&b->mu);
    free(b);
}

static void bridge_unref(struct bridge *b)
{
    uv_mutex_lock(&b->mu);
    bool dead = --b->refs == 0;
    uv_mutex_unlock(&b->mu);
    if (dead) {
        bridge_free(b);
    }
}

static void apply_event(struct bridge *b, struct ev *e);

static void bridge_drain(void *arg)
{
    struct bridge *b = arg;
    uv_mutex_lock(&b->mu);
    struct ev *list = b->head;
    b->head = b->tail = NULL;
    b->nrx = 0;
    b->posted = false;
    uv_cond_broadcast(&b->cond);
    uv_mutex_unlock(&b->mu);
    while (list) {
        struct ev *next = list->next;
        if (b->m) {
            apply_event(b, list);
        }
        ev_free(list);
        list = next;
    }
    bridge_unref(b);
}

static void push_locked(struct bridge *b, struct ev *e)
{
    if (b->closed) {
        ev_free(e);
        return;
    }
    if (b->tail) {
        b->tail->next = e;
    } else {
        b->head = e;
    }
    b->tail = e;
    if (!b->posted && ef_loop_post(b->loop, bridge_drain, b) == 0) {
        b->posted = true;
        b->refs++;
    }
}

static void push(struct bridge *b, struct ev *e)
{
    uv_mutex_lock(&b->mu);
    push_locked(b, e);
    uv_mutex_unlock(&b->mu);
}

static void push_simple(struct bridge *b, enum ev_kind kind, int code, const char *text)
{
    struct ev *e = calloc(1, sizeof(*e));
    if (!e) {
        return;
    }
    e->kind = kind;
    e->code = code;
    e->text = text ? strdup(text) : NULL;
    push(b, e);
}

/* ---- paho callbacks (paho's threads: plain data only) ---- */

static int cb_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *msg)
{
    struct bridge *b = ctx;
    size_t tl = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    size_t pl = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    if (pl > b->max_payload) {
        uv_mutex_lock(&b->mu);
        b->dropped_big++;
        uv_mutex_unlock(&b->mu);
        MQTTAsync_freeMessage(&msg);
        MQTTAsync_free(topic);
        return 1;
    }
    struct ev *e = calloc(1, sizeof(*e));
    if (e) {
        e->kind = EV_MSG;
        e->topic = malloc(tl + 1);
        e->payload = malloc(pl + 1);
    }
    if (!e || !e->topic || !e->payload) {
        ev_free(e);
        return 0; /* paho keeps it and offers it again */
    }
    memcpy(e->topic, topic, tl);
    e->topic[tl] = '\0';
    memcpy(e->payload, msg->payload, pl);
    e->payload[pl] = '\0';
    e->len = pl;
    e->retained = msg->retained != 0;
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    uv_mutex_lock(&b->mu);
    while (!b->closed && b->nrx >= RX_MAX) {
        uv_cond_wait(&b->cond, &b->mu);
    }
    b->nrx++;
    push_locked(b, e);
    uv_mutex_unlock(&b->mu);
    return 1;
}

static void cb_lost(void *ctx, char *cause)
{
    push_simple(ctx, EV_LOST, 0, cause ? cause : "connection lost");
}

static void cb_connected(void *ctx, MQTTAsync_successData *r)
{
    (void)r;
    push_simple(ctx, EV_CONNECTED, 0, NULL);
}

static void cb_connect_failed(void *ctx, MQTTAsync_failureData *r)
{
    push_simple(ctx, EV_CONNECT_FAILED, r ? r->code : -1, r && r->message ? r->message : NULL);
}

static void pub_done(struct slot_ctx *s, bool ok, int code)
{
    struct bridge *b = s->b;
    struct ev *e = calloc(1, sizeof(*e));
    if (!e) {
        return;
    }
    e->kind = EV_PUB_DONE;
    e->ok = ok;
    e->code = code;
    e->slot = s->idx;
    uv_mutex_lock(&b->mu);
    e->gen = b->gen[s->idx];
    push_locked(b, e);
    uv_mutex_unlock(&b->mu);
}

static void cb_pub_ok(void *ctx, MQTTAsync_successData *r)
{
    (void)r;
    pub_done(ctx, true, 0);
}

static void cb_pub_fail(void *ctx, MQTTAsync_failureData *r)
{
    pub_done(ctx, false, r ? r->code : -1);
}

/* ---- Client (loop thread) ---- */

static char *dup_opt(const char *s, bool *oom)
{
    if (!s) {
        return NULL;
    }
    char *d = strdup(s);
    if (!d) {
        *oom = true;
    }
    return d;
}

static void timer_closed(uv_handle_t *h)
{
    free(h);
}

struct fleet_mqtt *fleet_mqtt_create(struct ef_loop *loop, const struct fleet_mqtt_opts *o,
                                     char *err, size_t errlen)
{
    if (!o->uri || !o->client_id || !*o->client_id) {
        snprintf(err, errlen, "MQTT: a broker URI and a client id are needed");
        return NULL;
    }
    if (strncmp(o->uri, "tcp://", 6) != 0 && strncmp(o->uri, "ssl://", 6) != 0 &&
        strncmp(o->uri, "mqtt://", 7) != 0 && strncmp(o->uri, "mqtts://", 8) != 0) {
        snprintf(err, errlen, "MQTT: broker URI '%s' is not tcp://, ssl://, mqtt:// or mqtts://",
                 o->uri);
        return NULL;
    }
    struct fleet_mqtt *m = calloc(1, sizeof(*m));
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    bool oom = false;
    m->loop = loop;
    m->o = *o;
    m->uri = dup_opt(o->uri, &oom);
    m->client_id = dup_opt(o->client_id, &oom);
    m->username = dup_opt(o->username, &oom);
    m->password = dup_opt(o->password, &oom);
    m->will_topic = dup_opt(o->will_topic, &oom);
    if (o->will_topic && fleet_mqtt_set_will(m, o->will_payload, o->will_len) != 0) {
        oom = true;
    }
    if (m->o.keepalive <= 0) {
        m->o.keepalive = 30;
    }
    if (m->o.window <= 0 || m->o.window > WINDOW_MAX) {
        m->o.window = m->o.window > WINDOW_MAX ? WINDOW_MAX : 32;
    }
    if (!m->o.max_queue) {
        m->o.max_queue = 10000;
    }
    if (!m->o.max_queue_bytes) {
        m->o.max_queue_bytes = 16u << 20;
    }
    if (!m->o.max_payload) {
        m->o.max_payload = (1u << 20) + 1024;
    }
    if (!m->o.reconnect_max_ms) {
        m->o.reconnect_max_ms = 5000;
    }
    m->rng = uv_hrtime() ^ (uint64_t)(uintptr_t)m ^ 0x9E3779B97F4A7C15ull;
    m->timer = malloc(sizeof(*m->timer));
    struct bridge *b = calloc(1, sizeof(*b));
    if (oom || !m->timer || !b) {
        snprintf(err, errlen, "out of memory");
        free(b);
        free(m->timer);
        m->timer = NULL;
        fleet_mqtt_destroy(m, 0);
        return NULL;
    }
    uv_timer_init(ef_loop_uv(loop), m->timer);
    m->timer->data = m;
    uv_mutex_init(&b->mu);
    uv_cond_init(&b->cond);
    b->loop = loop;
    b->m = m;
    b->refs = 1;
    b->max_payload = m->o.max_payload;
    for (int i = 0; i < WINDOW_MAX; i++) {
        b->slots[i].b = b;
        b->slots[i].idx = i;
    }
    m->b = b;
    /* paho wants tcp:// or ssl:// */
    char uri[1024];
    const char *u = m->uri;
    if (!strncmp(u, "mqtt://", 7)) {
        snprintf(uri, sizeof(uri), "tcp://%s", u + 7);
        u = uri;
    } else if (!strncmp(u, "mqtts://", 8)) {
        snprintf(uri, sizeof(uri), "ssl://%s", u + 8);
        u = uri;
    }
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    co.sendWhileDisconnected = 0;
    int rc = MQTTAsync_createWithOptions(&m->handle, u, m->client_id, MQTTCLIENT_PERSISTENCE_NONE,
                                         NULL, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(err, errlen, "MQTT: cannot create a client for %s: %s", m->uri,
                 MQTTAsync_strerror(rc));
        m->handle = NULL;
        fleet_mqtt_destroy(m, 0);
        return NULL;
    }
    MQTTAsync_setCallbacks(m->handle, b, cb_lost, cb_message, NULL);
    return m;
}

int fleet_mqtt_set_will(struct fleet_mqtt *m, const void *payload, size_t len)
{
    uint8_t *p = malloc(len + 1);
    if (!p) {
        return EF_ENOMEM;
    }
    if (len) {
        memcpy(p, payload, len);
    }
    free(m->will_payload);
    m->will_payload = p;
    m->will_len = len;
    return 0;
}

static uint64_t rng_next(struct fleet_mqtt *m)
{
    uint64_t x = m->rng ? m->rng : 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    m->rng = x;
    return x;
}

static void do_connect(struct fleet_mqtt *m);

static void on_timer(uv_timer_t *t)
{
    struct fleet_mqtt *m = t->data;
    if (m->state == ST_WAITING) {
        do_connect(m);
    }
}

static void schedule_retry(struct fleet_mqtt *m)
{
    uint64_t base = 250ull << (m->attempt < 10 ? m->attempt : 10);
    if (base > m->o.reconnect_max_ms) {
        base = m->o.reconnect_max_ms;
    }
    uint64_t delay = base / 2 + rng_next(m) % (base / 2 + 1);
    m->attempt++;
    m->state = ST_WAITING;
    uv_timer_start(m->timer, on_timer, delay, 0);
}

static void do_connect(struct fleet_mqtt *m)
{
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    co.keepAliveInterval = m->o.keepalive;
    co.cleansession = 1;
    co.MQTTVersion = MQTTVERSION_3_1_1;
    co.maxInflight = WINDOW_MAX * 2;
    co.connectTimeout = 10;
    co.automaticReconnect = 0;
    co.username = m->username;
    co.password = m->password;
    co.onSuccess = cb_connected;
    co.onFailure = cb_connect_failed;
    co.context = m->b;
    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    if (m->will_topic) {
        will.topicName = m->will_topic;
        will.message = NULL;
        will.payload.data = m->will_payload;
        will.payload.len = (int)m->will_len;
        will.qos = m->o.will_qos;
        will.retained = m->o.will_retain;
        co.will = &will;
    }
    int rc = MQTTAsync_connect(m->handle, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        if (m->o.on_disconnect) {
            m->o.on_disconnect(m->o.ud, MQTTAsync_strerror(rc));
        }
        schedule_retry(m);
        return;
    }
    m->state = ST_CONNECTING;
}

int fleet_mqtt_connect(struct fleet_mqtt *m)
{
    if (m->state != ST_IDLE) {
        return 0;
    }
    do_connect(m);
    return 0;
}

static void send_sub(struct fleet_mqtt *m, const struct sub *s)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    MQTTAsync_subscribe(m->handle, s->filter, s->qos, &ro);
}

int fleet_mqtt_subscribe(struct fleet_mqtt *m, const char *filter, int qos)
{
    if (!filter || !*filter || qos < 0 || qos > 1) {
        return EF_EINVAL;
    }
    struct sub *ns = realloc(m->subs, (m->nsubs + 1) * sizeof(*ns));
    if (!ns) {
        return EF_ENOMEM;
    }
    m->subs = ns;
    struct sub *s = &m->subs[m->nsubs];
    s->filter = strdup(filter);
    if (!s->filter) {
        return EF_ENOMEM;
    }
    s->qos = qos;
    m->nsubs++;
    if (m->state == ST_CONNECTED) {
        send_sub(m, s);
    }
    return 0;
}

/* ---- Outgoing queue ---- */

static void q_push_front_sorted(struct fleet_mqtt *m, struct pub *p)
{
    struct pub **pp = &m->q_head;
    while (*pp && (*pp)->seq < p->seq) {
        pp = &(*pp)->next;
    }
    p->next = *pp;
    *pp = p;
    if (!p->next) {
        m->q_tail = p;
    }
    m->q_count++;
    m->q_bytes += p->len;
}

static struct pub *q_pop(struct fleet_mqtt *m)
{
    struct pub *p = m->q_head;
    if (p) {
        m->q_head = p->next;
        if (!m->q_head) {
            m->q_tail = NULL;
        }
        p->next = NULL;
        m->q_count--;
        m->q_bytes -= p->len;
    }
    return p;
}

static int send_pub(struct fleet_mqtt *m, struct pub *p, int i)
{
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    msg.payload = p->data;
    msg.payloadlen = (int)p->len;
    msg.qos = p->qos;
    msg.retained = p->retain;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.context = &m->b->slots[i];
    ro.onSuccess = cb_pub_ok;
    ro.onFailure = cb_pub_fail;
    uv_mutex_lock(&m->b->mu);
    m->slot_gen[i] = ++m->b->gen[i];
    uv_mutex_unlock(&m->b->mu);
    return MQTTAsync_sendMessage(m->handle, p->topic, &msg, &ro);
}

static void pump(struct fleet_mqtt *m)
{
    while (m->state == ST_CONNECTED && m->q_head && m->inflight < (size_t)m->o.window) {
        int i = 0;
        while (i < m->o.window && m->slot[i]) {
            i++;
        }
        if (i == m->o.window) {
            break;
        }
        struct pub *p = q_pop(m);
        int rc = send_pub(m, p, i);
        if (rc == MQTTASYNC_SUCCESS) {
            m->slot[i] = p;
            m->inflight++;
            continue;
        }
        if (rc == MQTTASYNC_DISCONNECTED || rc == MQTTASYNC_MAX_MESSAGES_INFLIGHT ||
            rc == MQTTASYNC_NO_MORE_MSGIDS || rc == MQTTASYNC_MAX_BUFFERED_MESSAGES ||
            rc == MQTTASYNC_OPERATION_INCOMPLETE) {
            q_push_front_sorted(m, p); /* try again after a completion or the reconnect */
            break;
        }
        m->st.failed++;
        free(p);
    }
}

/* Puts the in-flight messages back in front (QoS 0 ones are dropped). */
static void requeue_inflight(struct fleet_mqtt *m)
{
    for (int i = 0; i < WINDOW_MAX; i++) {
        struct pub *p = m->slot[i];
        if (!p) {
            continue;
        }
        m->slot[i] = NULL;
        m->slot_gen[i] = 0;
        if (p->qos > 0) {
            q_push_front_sorted(m, p);
        } else {
            m->st.dropped_offline++;
            free(p);
        }
    }
    m->inflight = 0;
}

static void drop_queued_qos0(struct fleet_mqtt *m)
{
    struct pub **pp = &m->q_head;
    m->q_tail = NULL;
    while (*pp) {
        struct pub *p = *pp;
        if (p->qos == 0) {
            *pp = p->next;
            m->q_count--;
            m->q_bytes -= p->len;
            m->st.dropped_offline++;
            free(p);
        } else {
            m->q_tail = p;
            pp = &p->next;
        }
    }
}

int fleet_mqtt_publish(struct fleet_mqtt *m, const char *topic, const void *payload, size_t len,
                       int qos, bool retain)
{
    if (!topic || !*topic || qos < 0 || qos > 1 || len > 256u * 1024 * 1024) {
        return EF_EINVAL;
    }
    if (qos == 0 && m->state != ST_CONNECTED) {
        m->st.dropped_offline++;
        return EF_ESTATE;
    }
    if (m->q_count >= m->o.max_queue || m->q_bytes + len > m->o.max_queue_bytes) {
        m->st.dropped_full++;
        return EF_EFULL;
    }
    size_t tl = strlen(topic);
    struct pub *p = malloc(sizeof(*p) + len + tl + 1);
    if (!p) {
        return EF_ENOMEM;
    }
    p->next = NULL;
    p->seq = ++m->next_seq;
    p->len = len;
    p->qos = qos;
    p->retain = retain;
    if (len) {
        memcpy(p->data, payload, len);
    }
    p->topic = (char *)p->data + len;
    memcpy(p->topic, topic, tl + 1);
    if (m->q_tail) {
        m->q_tail->next = p;
    } else {
        m->q_head = p;
    }
    m->q_tail = p;
    m->q_count++;
    m->q_bytes += len;
    pump(m);
    return 0;
}

bool fleet_mqtt_connected(const struct fleet_mqtt *m)
{
    return m && m->state == ST_CONNECTED;
}

void fleet_mqtt_stats(const struct fleet_mqtt *m, struct fleet_mqtt_stats *st)
{
    *st = m->st;
    st->queued = m->q_count;
    st->inflight = m->inflight;
    if (m->b) {
        uv_mutex_lock(&m->b->mu);
        st->dropped_big = m->b->dropped_big;
        uv_mutex_unlock(&m->b->mu);
    }
}

/* ---- Events on the loop thread ---- */

static void went_down(struct fleet_mqtt *m, const char *why)
{
    requeue_inflight(m);
    drop_queued_qos0(m);
    schedule_retry(m);
    if (m->o.on_disconnect) {
        m->o.on_disconnect(m->o.ud, why);
    }
}

/* b->m becomes NULL when a callback destroys the client; b itself stays valid. */
static void apply_event(struct bridge *b, struct ev *e)
{
    struct fleet_mqtt *m = b->m;
    switch (e->kind) {
    case EV_CONNECTED:
        if (m->state != ST_CONNECTING) {
            break;
        }
        m->state = ST_CONNECTED;
        m->attempt = 0;
        m->st.connects++;
        for (size_t i = 0; i < m->nsubs; i++) {
            send_sub(m, &m->subs[i]);
        }
        if (m->o.on_connect) {
            m->o.on_connect(m->o.ud);
        }
        if (b->m) {
            pump(m);
        }
        break;
    case EV_CONNECT_FAILED:
        if (m->state == ST_CONNECTING) {
            char why[256];
            snprintf(why, sizeof(why), "connect failed: %s",
                     e->text ? e->text : MQTTAsync_strerror(e->code));
            went_down(m, why);
        }
        break;
    case EV_LOST:
        if (m->state == ST_CONNECTED || m->state == ST_CONNECTING) {
            went_down(m, e->text);
        }
        break;
    case EV_MSG:
        m->st.received++;
        if (m->o.on_message) {
            m->o.on_message(m->o.ud, e->topic, e->payload, e->len, e->retained);
        }
        break;
    case EV_PUB_DONE: {
        struct pub *p = m->slot[e->slot];
        if (!p || m->slot_gen[e->slot] != e->gen) {
            break; /* stale: that message was re-queued by a reconnect */
        }
        m->slot[e->slot] = NULL;
        m->inflight--;
        if (e->ok) {
            m->st.published++;
            free(p);
        } else if (p->qos > 0 && m->state != ST_CONNECTED) {
            q_push_front_sorted(m, p);
        } else if (p->qos > 0 && e->code == MQTTASYNC_DISCONNECTED) {
            q_push_front_sorted(m, p);
        } else {
            m->st.failed++;
            free(p);
        }
        pump(m);
        break;
    }
    }
}

/* ---- Teardown ---- */

void fleet_mqtt_destroy(struct fleet_mqtt *m, int flush_ms)
{
    if (!m) {
        return;
    }
    if (m->handle && m->state == ST_CONNECTED && flush_ms > 0) {
        /* hand everything to paho at once, then a DISCONNECT that waits for it */
        struct pub *p;
        while ((p = q_pop(m))) {
            MQTTAsync_message msg = MQTTAsync_message_initializer;
            msg.payload = p->data;
            msg.payloadlen = (int)p->len;
            msg.qos = p->qos;
            msg.retained = p->retain;
            MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
            MQTTAsync_sendMessage(m->handle, p->topic, &msg, &ro);
            free(p);
        }
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
        d.timeout = flush_ms;
        if (MQTTAsync_disconnect(m->handle, &d) == MQTTASYNC_SUCCESS) {
            uint64_t until = uv_hrtime() + (uint64_t)flush_ms * 1000000ull;
            while (MQTTAsync_isConnected(m->handle) && uv_hrtime() < until) {
                struct timespec ts = {0, 5 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
        }
    }
    if (m->b) {
        struct bridge *b = m->b;
        uv_mutex_lock(&b->mu);
        b->closed = true;
        b->m = NULL;
        uv_cond_broadcast(&b->cond);
        uv_mutex_unlock(&b->mu);
    }
    if (m->handle) {
        MQTTAsync_destroy(&m->handle);
    }
    if (m->b) {
        /* a callback that saw closed == false has finished once we get the lock */
        uv_mutex_lock(&m->b->mu);
        uv_mutex_unlock(&m->b->mu);
        bridge_unref(m->b);
    }
    if (m->timer) {
        uv_timer_stop(m->timer);
        uv_close((uv_handle_t *)m->timer, timer_closed);
    }
    for (int i = 0; i < WINDOW_MAX; i++) {
        free(m->slot[i]);
    }
    struct pub *p;
    while ((p = q_pop(m))) {
        free(p);
    }
    for (size_t i = 0; i < m->nsubs; i++) {
        free(m->subs[i].filter);
    }
    free(m->subs);
    free(m->uri);
    free(m->client_id);
    free(m->username);
    free(m->password);
    free(m->will_topic);
    free(m->will_payload);
    free(m);
}
