/*
 * mqtt_conn.c - the shared MQTT connection behind an mqtt-broker node.
 *
 * Threads. paho's MQTTAsync runs its own send and receive threads and calls
 * back on them. Every callback here goes through a `struct mqtt_bridge`
 * (one per paho handle, heap-allocated and reference-counted): it copies
 * what it was given into a plain `struct mqtt_ev` (topic, payload bytes,
 * MQTT 5 properties, codes), appends it to the bridge's list under the
 * bridge mutex and, if no wake-up is pending, posts one with
 * ef_loop_post(). The loop thread takes the whole list at once and applies
 * the events to the connection. Nodes, values and messages are touched only
 * on the loop thread. The receive thread waits (backpressure: TCP then
 * stops being read) while MQTT_RX_MAX received messages are pending.
 * When a handle goes away the bridge is marked closed (callbacks then drop
 * what they get), detached from the connection, the handle destroyed, and
 * the bridge freed when its last reference (the handle's, or a pending
 * wake-up's) goes.
 *
 * Publishing. Node-RED publishes only while connected. Here QoS 1/2
 * messages are also accepted while disconnected (bounded by
 * MQTT_BUFFER_MAX_MSGS / MQTT_BUFFER_MAX_BYTES; refusals are counted and
 * warned about), and at most MQTT_WINDOW messages are handed to paho at a
 * time (paho's throughput collapses when it holds many QoS 1 messages,
 * paho.mqtt.c #1256/#1268). A message leaves the connection only when paho
 * reports it complete (PUBACK/PUBCOMP for QoS 1/2, written for QoS 0). If
 * the connection drops first it goes back, in acceptance order, ahead of
 * the queue and is sent again after reconnecting (at-least-once: a
 * duplicate is possible, a loss is not). QoS 0 messages are dropped while
 * disconnected, as in Node-RED, and counted.
 *
 * Reconnecting: exponential backoff from 250 ms up to mqttReconnectTime
 * (setting, default 5000 ms, Node-RED's reconnect period) with "equal
 * jitter" (half the delay fixed, half random).
 *
 * TCP_NODELAY: paho 1.3.12 does not set it and exposes neither the socket
 * nor a socket-option hook, so after each CONNACK the connection looks
 * through /proc/self/fd for TCP sockets whose peer port is the broker's and
 * sets TCP_NODELAY on them (see set_nodelay()).
 */
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "engine.h"
#include "settings.h"

#include "mqtt_conn.h"
#include "mqtt_util.h"

/* ======================================================================
 * Events and the thread bridge
 * ====================================================================== */

enum ev_kind {
    EV_CONNECTED,
    EV_CONNECT_FAILED,
    EV_LOST,
    EV_SERVER_DISCONNECT,
    EV_MSG,
    EV_PUB_DONE
};

struct mqtt_ev {
    struct mqtt_ev *next;
    enum ev_kind kind;
    int code, reason;
    int slot;
    uint32_t seq;
    bool ok, retain, session_present;
    int qos;
    char *topic;
    size_t topic_len;
    uint8_t *payload;
    size_t len;
    bool has_props;
    MQTTProperties props;
    char *text;
};

struct bridge_slot {
    struct mqtt_bridge *b;
    int idx;
};

struct mqtt_bridge {
    uv_mutex_t mu;
    uv_cond_t cond;
    struct ef_loop *loop;
    struct mqtt_conn *conn; /* loop thread only; NULL once detached */
    bool closed, posted, v5;
    int refs;
    struct mqtt_ev *head, *tail;
    size_t nrx;
    uint32_t slot_seq[MQTT_WINDOW];
    struct bridge_slot slots[MQTT_WINDOW];
};

static void ev_free(struct mqtt_ev *ev)
{
    if (!ev) {
        return;
    }
    free(ev->topic);
    free(ev->payload);
    free(ev->text);
    if (ev->has_props) {
        MQTTProperties_free(&ev->props);
    }
    free(ev);
}

static void bridge_free(struct mqtt_bridge *b)
{
    while (b->head) {
        struct mqtt_ev *next = b->head->next;
        ev_free(b->head);
        b->head = next;
    }
    uv_cond_destroy(&b->cond);
    uv_mutex_destroy(&b->mu);
    free(b);
}

static void bridge_unref(struct mqtt_bridge *b)
{
    uv_mutex_lock(&b->mu);
    bool dead = --b->refs == 0;
    uv_mutex_unlock(&b->mu);
    if (dead) {
        bridge_free(b);
    }
}

static void conn_event(struct mqtt_conn *c, struct mqtt_ev *ev);

/* Loop thread: takes every pending event and applies it. */
static void bridge_drain(void *arg)
{
    struct mqtt_bridge *b = arg;
    uv_mutex_lock(&b->mu);
    struct mqtt_ev *list = b->head;
    b->head = b->tail = NULL;
    b->nrx = 0;
    b->posted = false;
    uv_cond_broadcast(&b->cond);
    uv_mutex_unlock(&b->mu);
    while (list) {
        struct mqtt_ev *next = list->next;
        if (b->conn) {
            conn_event(b->conn, list);
        }
        ev_free(list);
        list = next;
    }
    bridge_unref(b);
}

/* Any thread, with b->mu held: queues ev and wakes the loop if needed. */
static void bridge_push_locked(struct mqtt_bridge *b, struct mqtt_ev *ev)
{
    if (b->closed) {
        ev_free(ev);
        return;
    }
    if (b->tail) {
        b->tail->next = ev;
    } else {
        b->head = ev;
    }
    b->tail = ev;
    if (!b->posted && ef_loop_post(b->loop, bridge_drain, b) == 0) {
        b->posted = true;
        b->refs++;
    }
}

static void bridge_push(struct mqtt_bridge *b, struct mqtt_ev *ev)
{
    uv_mutex_lock(&b->mu);
    bridge_push_locked(b, ev);
    uv_mutex_unlock(&b->mu);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* ---- paho callbacks (paho's threads: plain C data only) ---- */

static int cb_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    struct mqtt_bridge *b = ctx;
    struct mqtt_ev *ev = calloc(1, sizeof(*ev));
    size_t tl = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    size_t pl = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
    if (ev) {
        ev->kind = EV_MSG;
        ev->topic = malloc(tl + 1);
        ev->payload = malloc(pl ? pl : 1);
    }
    if (!ev || !ev->topic || !ev->payload) {
        ev_free(ev);
        return 0; /* paho keeps the message and offers it again */
    }
    memcpy(ev->topic, topic, tl);
    ev->topic[tl] = '\0';
    ev->topic_len = tl;
    if (pl) {
        memcpy(ev->payload, m->payload, pl);
    }
    ev->len = pl;
    ev->qos = m->qos;
    ev->retain = m->retained != 0;
    if (b->v5) {
        ev->props = MQTTProperties_copy(&m->properties);
        ev->has_props = true;
    }
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    uv_mutex_lock(&b->mu);
    while (!b->closed && b->nrx >= MQTT_RX_MAX) {
        uv_cond_wait(&b->cond, &b->mu);
    }
    b->nrx++;
    bridge_push_locked(b, ev);
    uv_mutex_unlock(&b->mu);
    return 1;
}

static void push_simple(struct mqtt_bridge *b, enum ev_kind kind, int code, int reason,
                        const char *text)
{
    struct mqtt_ev *ev = calloc(1, sizeof(*ev));
    if (!ev) {
        return;
    }
    ev->kind = kind;
    ev->code = code;
    ev->reason = reason;
    ev->text = dup_or_null(text);
    bridge_push(b, ev);
}

static void cb_lost(void *ctx, char *cause)
{
    push_simple(ctx, EV_LOST, 0, 0, cause);
}

static void cb_disconnected(void *ctx, MQTTProperties *props, enum MQTTReasonCodes rc)
{
    const char *rs = NULL;
    MQTTProperty *p =
        props ? MQTTProperties_getProperty(props, MQTTPROPERTY_CODE_REASON_STRING) : NULL;
    char buf[256];
    if (p) {
        snprintf(buf, sizeof(buf), "%.*s", p->value.data.len, p->value.data.data);
        rs = buf;
    }
    push_simple(ctx, EV_SERVER_DISCONNECT, 0, (int)rc, rs);
}

static void cb_connected(void *ctx, MQTTAsync_successData *r)
{
    struct mqtt_ev *ev = calloc(1, sizeof(*ev));
    if (!ev) {
        return;
    }
    ev->kind = EV_CONNECTED;
    ev->session_present = r && r->alt.connect.sessionPresent;
    bridge_push(ctx, ev);
}

static void cb_connected5(void *ctx, MQTTAsync_successData5 *r)
{
    struct mqtt_ev *ev = calloc(1, sizeof(*ev));
    if (!ev) {
        return;
    }
    ev->kind = EV_CONNECTED;
    if (r) {
        ev->session_present = r->alt.connect.sessionPresent;
        ev->props = MQTTProperties_copy(&r->properties);
        ev->has_props = true;
    }
    bridge_push(ctx, ev);
}

static void cb_connect_failed(void *ctx, MQTTAsync_failureData *r)
{
    push_simple(ctx, EV_CONNECT_FAILED, r ? r->code : -1, 0, r ? r->message : NULL);
}

static void cb_connect_failed5(void *ctx, MQTTAsync_failureData5 *r)
{
    push_simple(ctx, EV_CONNECT_FAILED, r ? r->code : -1, r ? (int)r->reasonCode : 0,
                r ? r->message : NULL);
}

static void push_pub_done(void *ctx, bool ok, int code, int reason)
{
    struct bridge_slot *s = ctx;
    struct mqtt_bridge *b = s->b;
    struct mqtt_ev *ev = calloc(1, sizeof(*ev));
    if (!ev) {
        return;
    }
    ev->kind = EV_PUB_DONE;
    ev->ok = ok;
    ev->code = code;
    ev->reason = reason;
    ev->slot = s->idx;
    uv_mutex_lock(&b->mu);
    ev->seq = b->slot_seq[s->idx];
    bridge_push_locked(b, ev);
    uv_mutex_unlock(&b->mu);
}

static void cb_pub_ok(void *ctx, MQTTAsync_successData *r)
{
    (void)r;
    push_pub_done(ctx, true, 0, 0);
}

static void cb_pub_ok5(void *ctx, MQTTAsync_successData5 *r)
{
    (void)r;
    push_pub_done(ctx, true, 0, 0);
}

static void cb_pub_fail(void *ctx, MQTTAsync_failureData *r)
{
    push_pub_done(ctx, false, r ? r->code : -1, 0);
}

static void cb_pub_fail5(void *ctx, MQTTAsync_failureData5 *r)
{
    push_pub_done(ctx, false, r ? r->code : -1, r ? (int)r->reasonCode : 0);
}

/* ======================================================================
 * The connection (loop thread)
 * ====================================================================== */

struct mqtt_sub {
    char *topic;
    struct ef_node *ref;
    struct mqtt_sub_opts o;
    char *datatype;
    mqtt_rx_cb cb;
    int subid;
    bool sent; /* SUBSCRIBE sent on this connection (for this topic) */
};

static uint64_t rng_next(struct mqtt_conn *c)
{
    uint64_t x = c->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c->rng = x;
    return x;
}

static const char *display_name(struct mqtt_conn *c, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s", c->opts.client_id_set ? c->opts.client_id : "",
             c->opts.client_id_set ? "@" : "", c->opts.brokerurl ? c->opts.brokerurl : "");
    return buf;
}

static void on_retry(struct ef_node *n, void *arg);
static void on_pump(struct ef_node *n, void *arg);

void mqtt_conn__init(struct mqtt_conn *c, struct ef_node *n)
{
    c->node = n;
    c->state = MQTT_IDLE;
    c->rng = uv_hrtime() ^ (uint64_t)(uintptr_t)c ^ 0x9E3779B97F4A7C15ull;
    if (!c->rng) {
        c->rng = 1;
    }
    c->next_subid = 1;
    c->sub_ids_available = true;
    c->retry_timer = ef_timer_new(n, on_retry, c);
    c->pump_timer = ef_timer_new(n, on_pump, c);
    c->reconnect_cap_ms = 5000;
    const struct ef_val *rt = settings__get(n->fs->rt->settings, "mqttReconnectTime");
    if (ef_val_type(rt) == EF_NUM && ef_val_num_get(rt) >= 100) {
        c->reconnect_cap_ms = (uint64_t)ef_val_num_get(rt);
    }
}

void mqtt_lwt__free(struct mqtt_lwt *l)
{
    if (!l) {
        return;
    }
    free(l->topic);
    free(l->payload);
    MQTTProperties_free(&l->props);
    free(l);
}

void mqtt_opts__free(struct mqtt_opts *o)
{
    free(o->uri);
    free(o->brokerurl);
    free(o->client_id);
    free(o->username);
    free(o->password);
    MQTTProperties_free(&o->connect_user_props);
    mqtt_lwt__free(o->birth);
    mqtt_lwt__free(o->close);
    mqtt_lwt__free(o->will);
    free(o->ca);
    free(o->cert);
    free(o->key);
    free(o->passphrase);
    free(o->alpn);
    memset(o, 0, sizeof(*o));
}

/* Runs p's done callback once (when its origin is still there). */
static void pub_finish(struct mqtt_pub *p, const char *error)
{
    if (p->done && p->origin) {
        p->done(p->origin, error, p->done_arg);
    }
    p->done = NULL;
}

void mqtt_pub__free(struct mqtt_pub *p)
{
    if (!p) {
        return;
    }
    pub_finish(p, "not delivered (connection lost or closed)");
    free(p->topic);
    free(p->payload);
    MQTTProperties_free(&p->props);
    free(p);
}

bool mqtt_conn__connected(const struct mqtt_conn *c)
{
    return c->state == MQTT_CONNECTED;
}

bool mqtt_conn__can_connect(const struct mqtt_conn *c)
{
    return c->state != MQTT_CONNECTED && c->state != MQTT_CONNECTING;
}

/* ---- status ---- */

static char *refused_text(struct mqtt_conn *c);

void mqtt_conn__show_status(struct mqtt_conn *c, struct ef_node *user)
{
    const char *fill = "red", *shape = "ring", *text = "node-red:common.status.disconnected";
    char *refused = refused_text(c);
    if (c->state == MQTT_CONNECTED) {
        fill = "green";
        shape = "dot";
        text = "node-red:common.status.connected";
    } else if (refused) {
        text = refused;
    } else if (c->state == MQTT_CONNECTING) {
        fill = "yellow";
        text = "node-red:common.status.connecting";
    }
    if (user) {
        ef_node_status(user, fill, shape, text);
    } else {
        for (size_t i = 0; i < c->nusers; i++) {
            ef_node_status(c->users[i], fill, shape, text);
        }
    }
    free(refused);
}

/* The last refusal lives in c->cfg under a private key so it survives until a success. */
static char *refused_text(struct mqtt_conn *c)
{
    const struct ef_val *r = ef_val_obj_get(c->cfg, "\x01refused");
    return r ? strdup(ef_val_str_get(r)) : NULL;
}

static void set_refused(struct mqtt_conn *c, const char *text)
{
    if (!c->cfg) {
        return;
    }
    if (text) {
        ef_val_obj_set_take(c->cfg, "\x01refused", ef_val_str(text));
    } else {
        ef_val_obj_del(c->cfg, "\x01refused", 8);
    }
}

/* ---- TCP_NODELAY ---- */

static int uri_port(const char *uri)
{
    const char *p = strstr(uri, "://");
    int def = 1883;
    if (!strncmp(uri, "ssl://", 6) || !strncmp(uri, "mqtts://", 8)) {
        def = 8883;
    } else if (!strncmp(uri, "wss://", 6)) {
        def = 443;
    } else if (!strncmp(uri, "ws://", 5)) {
        def = 80;
    }
    p = p ? p + 3 : uri;
    const char *end = p + strcspn(p, "/");
    const char *close = memchr(p, ']', (size_t)(end - p));
    const char *colon = NULL;
    for (const char *q = close ? close : p; q < end; q++) {
        if (*q == ':') {
            colon = q;
        }
    }
    return colon ? atoi(colon + 1) : def;
}

/*
 * Sets TCP_NODELAY on every TCP socket of this process whose peer port is
 * `port` (paho's socket to the broker among them). Returns how many.
 */
static int set_nodelay(int port)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        return 0;
    }
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') {
            continue;
        }
        int fd = atoi(e->d_name);
        int type = 0;
        socklen_t tl = sizeof(type);
        if (fd == dirfd(d) || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 ||
            type != SOCK_STREAM) {
            continue;
        }
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0) {
            continue;
        }
        int peer = -1;
        if (ss.ss_family == AF_INET) {
            peer = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            peer = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
        int one = 1;
        if (peer == port && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0) {
            count++;
        }
    }
    closedir(d);
    return count;
}

/* ---- the paho handle ---- */

static int ensure_handle(struct mqtt_conn *c)
{
    if (c->handle) {
        return 0;
    }
    struct mqtt_bridge *b = calloc(1, sizeof(*b));
    if (!b) {
        return EF_ENOMEM;
    }
    uv_mutex_init(&b->mu);
    uv_cond_init(&b->cond);
    b->loop = ef_node_loop(c->node);
    b->conn = c;
    b->refs = 1;
    b->v5 = c->opts.version == 5;
    for (int i = 0; i < MQTT_WINDOW; i++) {
        b->slots[i].b = b;
        b->slots[i].idx = i;
    }
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    if (b->v5) {
        co.MQTTVersion = MQTTVERSION_5;
    }
    int rc = MQTTAsync_createWithOptions(&c->handle, c->opts.uri, c->opts.client_id,
                                         MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        ef_node_error(c->node, NULL, "cannot create MQTT client for %s: %s", c->opts.uri,
                      MQTTAsync_strerror(rc));
        c->handle = NULL;
        bridge_free(b);
        return EF_EINVAL;
    }
    MQTTAsync_setCallbacks(c->handle, b, cb_lost, cb_message, NULL);
    if (b->v5) {
        MQTTAsync_setDisconnected(c->handle, b, cb_disconnected);
    }
    c->bridge = b;
    memset(c->slot_seq, 0, sizeof(c->slot_seq));
    return 0;
}

static void retry_insert(struct mqtt_conn *c, struct mqtt_pub *p);

/* Puts every in-flight message back (QoS 0 ones are dropped). */
static void requeue_inflight(struct mqtt_conn *c)
{
    for (int i = 0; i < MQTT_WINDOW; i++) {
        struct mqtt_pub *p = c->slot[i];
        if (!p) {
            continue;
        }
        c->slot[i] = NULL;
        c->slot_seq[i]++; /* late callbacks for this attempt are stale */
        if (p->qos > 0) {
            c->inflight_q--;
        }
        if (p->qos > 0) {
            c->resent++;
            retry_insert(c, p);
        } else {
            c->dropped_qos0_offline++;
            mqtt_pub__free(p);
        }
    }
    c->inflight = 0;
    c->inflight_q = 0;
}

/* Destroys the paho handle; its late callbacks are dropped. */
static void teardown_handle(struct mqtt_conn *c)
{
    struct mqtt_bridge *b = c->bridge;
    if (!c->handle) {
        return;
    }
    uv_mutex_lock(&b->mu);
    b->closed = true;
    uv_cond_broadcast(&b->cond);
    uv_mutex_unlock(&b->mu);
    b->conn = NULL;
    MQTTAsync_destroy(&c->handle);
    c->handle = NULL;
    /* A callback that saw closed == false has finished pushing once we get the lock. */
    uv_mutex_lock(&b->mu);
    uv_mutex_unlock(&b->mu);
    bridge_unref(b);
    c->bridge = NULL;
    requeue_inflight(c);
}

/* ---- connecting ---- */

static void schedule_retry(struct mqtt_conn *c, uint64_t *delay_out)
{
    uint64_t base = 250ull << (c->attempt < 10 ? c->attempt : 10);
    if (base > c->reconnect_cap_ms) {
        base = c->reconnect_cap_ms;
    }
    uint64_t delay = base / 2 + rng_next(c) % (base / 2 + 1);
    c->attempt++;
    c->state = MQTT_WAITING;
    ef_timer_start(c->retry_timer, delay, 0);
    if (delay_out) {
        *delay_out = delay;
    }
}

static void fill_lwt_props(MQTTProperties *dst, const struct mqtt_lwt *l)
{
    for (int i = 0; i < l->props.count; i++) {
        MQTTProperties_add(dst, &l->props.array[i]);
    }
}

static int do_connect(struct mqtt_conn *c)
{
    char name[512];
    if (c->recreate && c->handle) {
        teardown_handle(c);
    }
    c->recreate = false;
    int rc = ensure_handle(c);
    if (rc != 0) {
        return rc;
    }
    bool v5 = c->opts.version == 5;
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    MQTTAsync_connectOptions co5 = MQTTAsync_connectOptions_initializer5;
    if (v5) {
        co = co5;
        co.cleanstart = c->opts.clean;
        co.onSuccess5 = cb_connected5;
        co.onFailure5 = cb_connect_failed5;
    } else {
        co.cleansession = c->opts.clean;
        co.onSuccess = cb_connected;
        co.onFailure = cb_connect_failed;
        co.MQTTVersion = c->opts.version == 3 ? MQTTVERSION_3_1 : MQTTVERSION_3_1_1;
    }
    co.context = c->bridge;
    co.keepAliveInterval = c->opts.keepalive;
    co.maxInflight = MQTT_WINDOW * 2;
    co.connectTimeout = 30;
    co.automaticReconnect = 0;
    co.username = c->opts.username;
    co.password = c->opts.password;
    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    MQTTProperties will_props = MQTTProperties_initializer;
    MQTTProperties conn_props = MQTTProperties_initializer;
    if (c->opts.will && c->opts.will->topic) {
        will.topicName = c->opts.will->topic;
        will.payload.data = c->opts.will->payload;
        will.payload.len = (int)c->opts.will->len;
        will.message = NULL;
        will.qos = c->opts.will->qos;
        will.retained = c->opts.will->retain;
        co.will = &will;
        if (v5) {
            fill_lwt_props(&will_props, c->opts.will);
            if (c->opts.will->will_delay >= 0) {
                MQTTProperty p = {.identifier = MQTTPROPERTY_CODE_WILL_DELAY_INTERVAL};
                p.value.integer4 = (unsigned)c->opts.will->will_delay;
                MQTTProperties_add(&will_props, &p);
            }
            co.willProperties = &will_props;
        }
    }
    if (v5) {
        MQTTProperty p = {.identifier = MQTTPROPERTY_CODE_REQUEST_RESPONSE_INFORMATION};
        p.value.byte = 1;
        MQTTProperties_add(&conn_props, &p);
        p.identifier = MQTTPROPERTY_CODE_REQUEST_PROBLEM_INFORMATION;
        MQTTProperties_add(&conn_props, &p);
        if (c->opts.session_expiry > 0) {
            p.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
            p.value.integer4 = (unsigned)c->opts.session_expiry;
            MQTTProperties_add(&conn_props, &p);
        }
        for (int i = 0; i < c->opts.connect_user_props.count; i++) {
            MQTTProperties_add(&conn_props, &c->opts.connect_user_props.array[i]);
        }
        co.connectProperties = &conn_props;
    }
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    unsigned char alpn[256];
    if (c->opts.tls) {
        ssl.trustStore = c->opts.ca;
        ssl.keyStore = c->opts.cert;
        ssl.privateKey = c->opts.key;
        ssl.privateKeyPassword = c->opts.passphrase;
        ssl.enableServerCertAuth = c->opts.verify;
        ssl.verify = c->opts.verify;
        size_t al = c->opts.alpn ? strlen(c->opts.alpn) : 0;
        if (al > 0 && al < 255) {
            alpn[0] = (unsigned char)al;
            memcpy(alpn + 1, c->opts.alpn, al);
            ssl.protos = alpn;
            ssl.protos_len = (unsigned)al + 1;
        }
        co.ssl = &ssl;
    }
    rc = MQTTAsync_connect(c->handle, &co);
    MQTTProperties_free(&will_props);
    MQTTProperties_free(&conn_props);
    if (rc != MQTTASYNC_SUCCESS) {
        uint64_t delay = 0;
        schedule_retry(c, &delay);
        ef_node_warn(c->node, "Connection failed to broker: %s: %s (retrying in %llu ms)",
                     display_name(c, name, sizeof(name)), MQTTAsync_strerror(rc),
                     (unsigned long long)delay);
        mqtt_conn__show_status(c, NULL);
        return 0;
    }
    c->state = MQTT_CONNECTING;
    mqtt_conn__show_status(c, NULL);
    return 0;
}

int mqtt_conn__connect(struct mqtt_conn *c)
{
    if (c->closing || c->state == MQTT_CONNECTED || c->state == MQTT_CONNECTING) {
        return 0;
    }
    ef_timer_stop(c->retry_timer);
    return do_connect(c);
}

static void on_retry(struct ef_node *n, void *arg)
{
    struct mqtt_conn *c = arg;
    (void)n;
    if (c->state == MQTT_WAITING && !c->closing) {
        do_connect(c);
    }
}

void mqtt_conn__start(struct mqtt_conn *c)
{
    c->started = true;
    if (c->nusers + c->nquiet > 0 && c->opts.auto_connect) {
        mqtt_conn__connect(c);
    }
}

/* ---- outgoing queue ---- */

static void retry_insert(struct mqtt_conn *c, struct mqtt_pub *p)
{
    struct mqtt_pub **pp = &c->retry;
    while (*pp && (*pp)->seq < p->seq) {
        pp = &(*pp)->next;
    }
    p->next = *pp;
    *pp = p;
    c->q_count++;
    c->q_bytes += p->len;
}

static struct mqtt_pub *take_next(struct mqtt_conn *c)
{
    struct mqtt_pub *p = c->retry;
    if (p) {
        c->retry = p->next;
    } else if ((p = c->q_head)) {
        c->q_head = p->next;
        if (!c->q_head) {
            c->q_tail = NULL;
        }
    }
    if (p) {
        p->next = NULL;
        c->q_count--;
        c->q_bytes -= p->len;
    }
    return p;
}

static void drop_queued_qos0(struct mqtt_conn *c)
{
    struct mqtt_pub **pp = &c->q_head;
    c->q_tail = NULL;
    while (*pp) {
        struct mqtt_pub *p = *pp;
        if (p->qos == 0) {
            *pp = p->next;
            c->q_count--;
            c->q_bytes -= p->len;
            c->dropped_qos0_offline++;
            mqtt_pub__free(p);
        } else {
            c->q_tail = p;
            pp = &p->next;
        }
    }
}

static bool transient_rc(int rc)
{
    return rc == MQTTASYNC_FAILURE || rc == MQTTASYNC_DISCONNECTED ||
           rc == MQTTASYNC_MAX_MESSAGES_INFLIGHT || rc == MQTTASYNC_NO_MORE_MSGIDS ||
           rc == MQTTASYNC_OPERATION_INCOMPLETE || rc == MQTTASYNC_MAX_BUFFERED_MESSAGES ||
           rc == MQTTASYNC_MAX_BUFFERED;
}

static void report_drop(struct mqtt_conn *c, struct mqtt_pub *p, const char *why)
{
    c->dropped_rejected++;
    if (p->done) {
        pub_finish(p, why); /* the origin reports it its own way */
        return;
    }
    struct ef_node *n = p->origin ? p->origin : c->node;
    ef_node_error(n, NULL, "publish to '%s' failed: %s", p->topic, why);
}

static int send_pub(struct mqtt_conn *c, struct mqtt_pub *p)
{
    int i = 0;
    while (i < MQTT_WINDOW && c->slot[i]) {
        i++;
    }
    if (i == MQTT_WINDOW) {
        return MQTTASYNC_MAX_MESSAGES_INFLIGHT;
    }
    struct mqtt_bridge *b = c->bridge;
    MQTTAsync_message m = MQTTAsync_message_initializer;
    m.payload = p->payload;
    m.payloadlen = (int)p->len;
    m.qos = p->qos;
    m.retained = p->retain;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.context = &b->slots[i];
    if (b->v5) {
        m.properties = p->props;
        ro.onSuccess5 = cb_pub_ok5;
        ro.onFailure5 = cb_pub_fail5;
    } else {
        ro.onSuccess = cb_pub_ok;
        ro.onFailure = cb_pub_fail;
    }
    uv_mutex_lock(&b->mu);
    c->slot_seq[i] = ++b->slot_seq[i];
    uv_mutex_unlock(&b->mu);
    int rc = MQTTAsync_sendMessage(c->handle, p->topic, &m, &ro);
    if (rc != MQTTASYNC_SUCCESS) {
        return rc;
    }
    c->slot[i] = p;
    c->inflight++;
    if (p->qos > 0) {
        c->inflight_q++;
    }
    return 0;
}

/* Hands queued messages to paho while the window has room. */
static void pump(struct mqtt_conn *c)
{
    while (c->state == MQTT_CONNECTED && c->inflight < MQTT_WINDOW) {
        struct mqtt_pub *next = c->retry ? c->retry : c->q_head;
        if (!next || (next->qos > 0 && c->inflight_q >= c->recv_max)) {
            break;
        }
        struct mqtt_pub *p = take_next(c);
        int rc = send_pub(c, p);
        if (rc == 0) {
            continue;
        }
        if (transient_rc(rc)) {
            retry_insert(c, p);
            /* paho refused for now: try again shortly even if no completion comes */
            ef_node_debug(c->node, "publish deferred: %s", MQTTAsync_strerror(rc));
            if (c->state == MQTT_CONNECTED) {
                ef_timer_start(c->pump_timer, 5, 0);
            }
            break;
        }
        report_drop(c, p, MQTTAsync_strerror(rc));
        mqtt_pub__free(p);
    }
}

static void on_pump(struct ef_node *n, void *arg)
{
    (void)n;
    pump(arg);
}

int mqtt_conn__publish(struct mqtt_conn *c, struct mqtt_pub *p)
{
    char name[512];
    p->next = NULL;
    if (c->state != MQTT_CONNECTED && p->qos == 0) {
        c->dropped_qos0_offline++;
        p->done = NULL; /* refused: the caller is told by the return value */
        mqtt_pub__free(p);
        return EF_ESTATE;
    }
    if (c->state != MQTT_CONNECTED &&
        (c->q_count >= MQTT_BUFFER_MAX_MSGS || c->q_bytes + p->len > MQTT_BUFFER_MAX_BYTES)) {
        if (c->dropped_buffer_full++ % 1000 == 0) {
            ef_node_warn(c->node,
                         "not connected to %s and the buffer is full (%zu messages, %zu bytes): "
                         "dropped %llu QoS %d message(s) so far",
                         display_name(c, name, sizeof(name)), c->q_count, c->q_bytes,
                         (unsigned long long)c->dropped_buffer_full, p->qos);
        }
        p->done = NULL;
        mqtt_pub__free(p);
        return EF_EFULL;
    }
    p->seq = ++c->next_seq;
    if (c->q_tail) {
        c->q_tail->next = p;
    } else {
        c->q_head = p;
    }
    c->q_tail = p;
    c->q_count++;
    c->q_bytes += p->len;
    if (c->state == MQTT_CONNECTED) {
        pump(c);
    }
    return 0;
}

static void free_queues(struct mqtt_conn *c)
{
    struct mqtt_pub *p;
    while ((p = take_next(c))) {
        mqtt_pub__free(p);
    }
    for (int i = 0; i < MQTT_WINDOW; i++) {
        mqtt_pub__free(c->slot[i]);
        c->slot[i] = NULL;
    }
    c->inflight = 0;
    c->inflight_q = 0;
}

/* Sends a birth or close message, outside the queue and the window. */
static void send_lwt(struct mqtt_conn *c, const struct mqtt_lwt *l)
{
    if (!l || !l->topic || !c->handle) {
        return;
    }
    MQTTAsync_message m = MQTTAsync_message_initializer;
    m.payload = l->payload;
    m.payloadlen = (int)l->len;
    m.qos = l->qos;
    m.retained = l->retain;
    if (c->opts.version == 5) {
        m.properties = l->props;
    }
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    MQTTAsync_sendMessage(c->handle, l->topic, &m, &ro);
}

/* ---- subscriptions ---- */

static void send_subscribe(struct mqtt_conn *c, const struct mqtt_sub *s)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    if (c->opts.version == 5) {
        ro.subscribeOptions.noLocal = s->o.nl == 1;
        ro.subscribeOptions.retainAsPublished = s->o.rap == 1;
        ro.subscribeOptions.retainHandling = (unsigned char)(s->o.rh > 0 ? s->o.rh : 0);
        if (c->sub_ids_available) {
            MQTTProperty p = {.identifier = MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER};
            p.value.integer4 = (unsigned)s->subid;
            MQTTProperties_add(&ro.properties, &p);
        }
    }
    int rc = MQTTAsync_subscribe(c->handle, s->topic, s->o.qos, &ro);
    MQTTProperties_free(&ro.properties);
    if (rc != MQTTASYNC_SUCCESS) {
        ef_node_warn(c->node, "subscribe to '%s' failed: %s", s->topic, MQTTAsync_strerror(rc));
    }
}

static void free_sub(struct mqtt_sub *s)
{
    free(s->topic);
    free(s->datatype);
}

static bool topic_in_use(const struct mqtt_conn *c, const char *topic, int *subid)
{
    for (size_t i = 0; i < c->nsubs; i++) {
        if (!strcmp(c->subs[i].topic, topic)) {
            if (subid) {
                *subid = c->subs[i].subid;
            }
            return true;
        }
    }
    return false;
}

static void remove_sub_at(struct mqtt_conn *c, size_t i, bool remove)
{
    char *topic = c->subs[i].topic;
    c->subs[i].topic = NULL;
    free_sub(&c->subs[i]);
    memmove(&c->subs[i], &c->subs[i + 1], (c->nsubs - i - 1) * sizeof(c->subs[0]));
    c->nsubs--;
    if (!topic_in_use(c, topic, NULL) && (remove || c->opts.auto_unsubscribe) &&
        c->state == MQTT_CONNECTED) {
        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
        MQTTAsync_unsubscribe(c->handle, topic, &ro);
    }
    free(topic);
}

int mqtt_conn__subscribe(struct mqtt_conn *c, const char *topic, const struct mqtt_sub_opts *o,
                         struct ef_node *ref, mqtt_rx_cb cb, const char *datatype)
{
    for (size_t i = 0; i < c->nsubs; i++) {
        if (c->subs[i].ref == ref && !strcmp(c->subs[i].topic, topic)) {
            remove_sub_at(c, i, false);
            break;
        }
    }
    if (c->nsubs == c->subs_cap) {
        size_t cap = c->subs_cap ? c->subs_cap * 2 : 4;
        struct mqtt_sub *ns = realloc(c->subs, cap * sizeof(*ns));
        if (!ns) {
            return EF_ENOMEM;
        }
        c->subs = ns;
        c->subs_cap = cap;
    }
    struct mqtt_sub *s = &c->subs[c->nsubs];
    memset(s, 0, sizeof(*s));
    s->topic = strdup(topic);
    s->datatype = strdup(datatype ? datatype : "utf8");
    if (!s->topic || !s->datatype) {
        free_sub(s);
        return EF_ENOMEM;
    }
    if (!topic_in_use(c, topic, &s->subid)) {
        s->subid = c->next_subid++;
    }
    s->ref = ref;
    s->o = *o;
    s->cb = cb;
    c->nsubs++;
    if (c->state == MQTT_CONNECTED) {
        /* As MQTT.js: a topic already subscribed at this QoS or higher is not sent again. */
        bool covered = false;
        for (size_t i = 0; i + 1 < c->nsubs; i++) {
            if (c->subs[i].sent && !strcmp(c->subs[i].topic, topic) && c->subs[i].o.qos >= o->qos) {
                covered = true;
            }
        }
        if (!covered) {
            send_subscribe(c, s);
        }
        s->sent = true;
    }
    return 0;
}

void mqtt_conn__unsubscribe(struct mqtt_conn *c, const char *topic, struct ef_node *ref,
                            bool remove)
{
    for (size_t i = 0; i < c->nsubs; i++) {
        if (c->subs[i].ref == ref && !strcmp(c->subs[i].topic, topic)) {
            remove_sub_at(c, i, remove);
            return;
        }
    }
}

int mqtt_conn__topic_alias_ok(const struct mqtt_conn *c, int alias)
{
    return alias >= 1 && alias <= c->topic_alias_max ? 0 : EF_ERANGE;
}

/* ---- users ---- */

void mqtt_conn__register(struct mqtt_conn *c, struct ef_node *user)
{
    if (c->nusers == c->users_cap) {
        size_t cap = c->users_cap ? c->users_cap * 2 : 4;
        struct ef_node **nu = realloc(c->users, cap * sizeof(*nu));
        if (!nu) {
            return;
        }
        c->users = nu;
        c->users_cap = cap;
    }
    c->users[c->nusers++] = user;
    mqtt_conn__show_status(c, user);
    if (c->nusers + c->nquiet == 1 && c->started && c->opts.auto_connect) {
        mqtt_conn__connect(c);
    }
}

void mqtt_conn__register_quiet(struct mqtt_conn *c, struct ef_node *user)
{
    if (c->nquiet == c->quiet_cap) {
        size_t cap = c->quiet_cap ? c->quiet_cap * 2 : 4;
        struct ef_node **nu = realloc(c->quiet, cap * sizeof(*nu));
        if (!nu) {
            return;
        }
        c->quiet = nu;
        c->quiet_cap = cap;
    }
    c->quiet[c->nquiet++] = user;
    if (c->nusers + c->nquiet == 1 && c->started && c->opts.auto_connect) {
        mqtt_conn__connect(c);
    }
}

void mqtt_conn__deregister(struct mqtt_conn *c, struct ef_node *user)
{
    for (size_t i = 0; i < c->nsubs;) {
        if (c->subs[i].ref == user) {
            remove_sub_at(c, i, false);
        } else {
            i++;
        }
    }
    for (size_t i = 0; i < c->nusers; i++) {
        if (c->users[i] == user) {
            memmove(&c->users[i], &c->users[i + 1], (c->nusers - i - 1) * sizeof(c->users[0]));
            c->nusers--;
            break;
        }
    }
    for (size_t i = 0; i < c->nquiet; i++) {
        if (c->quiet[i] == user) {
            memmove(&c->quiet[i], &c->quiet[i + 1], (c->nquiet - i - 1) * sizeof(c->quiet[0]));
            c->nquiet--;
            break;
        }
    }
    for (struct mqtt_pub *p = c->retry; p; p = p->next) {
        if (p->origin == user) {
            p->origin = NULL;
        }
    }
    for (struct mqtt_pub *p = c->q_head; p; p = p->next) {
        if (p->origin == user) {
            p->origin = NULL;
        }
    }
    for (int i = 0; i < MQTT_WINDOW; i++) {
        if (c->slot[i] && c->slot[i]->origin == user) {
            c->slot[i]->origin = NULL;
        }
    }
}

/* ---- events ---- */

static const char *v3_connack_text(int rc)
{
    switch (rc) {
    case 1: return "Connection Refused: unacceptable protocol version";
    case 2: return "Connection Refused: identifier rejected";
    case 3: return "Connection Refused: server unavailable";
    case 4: return "Connection Refused: bad user name or password";
    case 5: return "Connection Refused: not authorized";
    default: return NULL;
    }
}

static void on_connected(struct mqtt_conn *c, struct mqtt_ev *ev)
{
    char name[512];
    if (c->state != MQTT_CONNECTING) {
        return;
    }
    c->state = MQTT_CONNECTED;
    c->attempt = 0;
    set_refused(c, NULL);
    c->topic_alias_max = 0;
    c->sub_ids_available = true;
    /*
     * QoS 1/2 messages in flight never exceed the broker's Receive Maximum
     * (MQTT 5 CONNACK; 20 for 3.1.1, mosquitto's default max_inflight_messages):
     * mosquitto acknowledges and silently drops QoS 2 messages beyond it.
     */
    c->recv_max = c->opts.version == 5 ? 65535 : MQTT_V3_RECEIVE_MAX;
    if (ev->has_props) {
        MQTTProperty *rm =
            MQTTProperties_getProperty(&ev->props, MQTTPROPERTY_CODE_RECEIVE_MAXIMUM);
        if (rm && rm->value.integer2 > 0) {
            c->recv_max = rm->value.integer2;
        }
        MQTTProperty *p =
            MQTTProperties_getProperty(&ev->props, MQTTPROPERTY_CODE_TOPIC_ALIAS_MAXIMUM);
        if (p) {
            c->topic_alias_max = p->value.integer2;
        }
        p = MQTTProperties_getProperty(&ev->props,
                                       MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIERS_AVAILABLE);
        if (p) {
            c->sub_ids_available = p->value.byte != 0;
        }
    }
    int n = set_nodelay(uri_port(c->opts.uri));
    ef_node_log(c->node, "Connected to broker: %s", display_name(c, name, sizeof(name)));
    ef_node_debug(c->node, "TCP_NODELAY set on %d socket(s)", n);
    if (c->dropped_qos0_offline || c->dropped_buffer_full) {
        ef_node_warn(c->node,
                     "while disconnected: dropped %llu QoS 0 message(s) (Node-RED publishes "
                     "only when connected) and %llu QoS 1/2 message(s) (buffer full)",
                     (unsigned long long)c->dropped_qos0_offline,
                     (unsigned long long)c->dropped_buffer_full);
        c->dropped_qos0_offline = c->dropped_buffer_full = 0;
    }
    mqtt_conn__show_status(c, NULL);
    /* Resubscribe: one SUBSCRIBE per topic, at the highest QoS asked for it. */
    for (size_t i = 0; i < c->nsubs; i++) {
        c->subs[i].sent = false;
    }
    for (size_t i = 0; i < c->nsubs; i++) {
        struct mqtt_sub *s = &c->subs[i];
        if (s->sent) {
            continue;
        }
        struct mqtt_sub best = *s;
        for (size_t k = i; k < c->nsubs; k++) {
            if (!strcmp(c->subs[k].topic, s->topic)) {
                if (c->subs[k].o.qos > best.o.qos) {
                    best.o.qos = c->subs[k].o.qos;
                }
                c->subs[k].sent = true;
            }
        }
        send_subscribe(c, &best);
    }
    send_lwt(c, c->opts.birth);
    pump(c);
}

static void on_connect_failed(struct mqtt_conn *c, struct mqtt_ev *ev)
{
    char name[512], why[300];
    if (c->state != MQTT_CONNECTING) {
        return;
    }
    const char *reason = NULL;
    bool refused = false;
    if (c->opts.version == 5 && ev->reason >= 0x80) {
        reason = MQTTReasonCode_toString((enum MQTTReasonCodes)ev->reason);
        refused = true;
    } else if (c->opts.version != 5 && (reason = v3_connack_text(ev->code))) {
        refused = true;
    } else if (ev->text) {
        reason = ev->text;
    } else {
        reason = MQTTAsync_strerror(ev->code);
    }
    snprintf(why, sizeof(why), "%s", reason ? reason : "unknown error");
    if (refused) {
        char st[340];
        snprintf(st, sizeof(st), "refused: %s", why);
        set_refused(c, st);
    }
    uint64_t delay = 0;
    schedule_retry(c, &delay);
    ef_node_warn(c->node, "Connection failed to broker: %s: %s (retrying in %llu ms)",
                 display_name(c, name, sizeof(name)), why, (unsigned long long)delay);
    mqtt_conn__show_status(c, NULL);
}

static void on_lost(struct mqtt_conn *c, struct mqtt_ev *ev)
{
    char name[512];
    if (ev->kind == EV_SERVER_DISCONNECT) {
        ef_node_log(c->node, "Broker %s disconnected client: %d %s",
                    display_name(c, name, sizeof(name)), ev->reason, ev->text ? ev->text : "");
    }
    if (c->state != MQTT_CONNECTED) {
        return;
    }
    ef_node_log(c->node, "Disconnected from broker: %s", display_name(c, name, sizeof(name)));
    requeue_inflight(c);
    drop_queued_qos0(c);
    schedule_retry(c, NULL);
    mqtt_conn__show_status(c, NULL);
}

static void on_message(struct mqtt_conn *c, struct mqtt_ev *ev)
{
    c->received++;
    struct mqtt_rx rx = {ev->topic,
                         ev->topic_len,
                         ev->payload,
                         ev->len,
                         ev->qos,
                         ev->retain,
                         ev->has_props ? &ev->props : NULL};
    int nids = 0;
    if (rx.props && c->sub_ids_available) {
        nids = MQTTProperties_propertyCount(&ev->props, MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER);
    }
    for (size_t i = 0; i < c->nsubs; i++) {
        struct mqtt_sub *s = &c->subs[i];
        if (nids > 0) {
            bool found = false;
            for (int k = 0; k < nids && !found; k++) {
                found = MQTTProperties_getNumericValueAt(
                            &ev->props, MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER, k) == s->subid;
            }
            if (!found) {
                continue;
            }
        }
        if (mqtt_util__match_topic(s->topic, ev->topic, ev->topic_len)) {
            s->cb(s->ref, &rx, s->datatype);
        }
    }
}

static void on_pub_done(struct mqtt_conn *c, struct mqtt_ev *ev)
{
    int i = ev->slot;
    if (i < 0 || i >= MQTT_WINDOW || !c->slot[i] || c->slot_seq[i] != ev->seq) {
        return; /* an earlier attempt, already put back */
    }
    struct mqtt_pub *p = c->slot[i];
    c->slot[i] = NULL;
    c->inflight--;
    if (p->qos > 0) {
        c->inflight_q--;
    }
    if (ev->ok) {
        c->sent++;
        pub_finish(p, NULL);
        mqtt_pub__free(p);
    } else if (ev->reason >= 0x80) {
        report_drop(c, p, MQTTReasonCode_toString((enum MQTTReasonCodes)ev->reason));
        mqtt_pub__free(p);
    } else if (p->qos > 0 && transient_rc(ev->code)) {
        c->resent++;
        retry_insert(c, p);
    } else if (p->qos == 0) {
        c->dropped_qos0_offline++;
        mqtt_pub__free(p);
    } else {
        report_drop(c, p, MQTTAsync_strerror(ev->code));
        mqtt_pub__free(p);
    }
    pump(c);
}

static void conn_event(struct mqtt_conn *c, struct mqtt_ev *ev)
{
    if (c->closing) {
        return;
    }
    switch (ev->kind) {
    case EV_CONNECTED: on_connected(c, ev); break;
    case EV_CONNECT_FAILED: on_connect_failed(c, ev); break;
    case EV_LOST:
    case EV_SERVER_DISCONNECT: on_lost(c, ev); break;
    case EV_MSG: on_message(c, ev); break;
    case EV_PUB_DONE: on_pub_done(c, ev); break;
    }
}

/* ---- disconnecting and closing ---- */

/* Publishes the close message and disconnects, waiting up to 2 s for in-flight messages. */
static void disconnect_now(struct mqtt_conn *c, bool flush)
{
    if (c->state == MQTT_CONNECTED && c->handle) {
        if (flush) {
            /* Hand over what is still queued (no window: the connection is going). */
            struct mqtt_pub *p;
            while ((p = take_next(c))) {
                MQTTAsync_message m = MQTTAsync_message_initializer;
                m.payload = p->payload;
                m.payloadlen = (int)p->len;
                m.qos = p->qos;
                m.retained = p->retain;
                if (c->opts.version == 5) {
                    m.properties = p->props;
                }
                MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
                MQTTAsync_sendMessage(c->handle, p->topic, &m, &ro);
                mqtt_pub__free(p);
            }
        }
        send_lwt(c, c->opts.close);
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
        MQTTAsync_disconnectOptions d5 = MQTTAsync_disconnectOptions_initializer5;
        if (c->opts.version == 5) {
            d = d5;
        }
        d.timeout = 2000;
        if (MQTTAsync_disconnect(c->handle, &d) == MQTTASYNC_SUCCESS && flush) {
            uint64_t until = uv_hrtime() + 2500000000ull;
            while (MQTTAsync_isConnected(c->handle) && uv_hrtime() < until) {
                struct timespec ts = {0, 2000000};
                nanosleep(&ts, NULL);
            }
        }
    }
}

void mqtt_conn__disconnect(struct mqtt_conn *c)
{
    ef_timer_stop(c->retry_timer);
    disconnect_now(c, false);
    requeue_inflight(c);
    c->state = MQTT_IDLE;
    mqtt_conn__show_status(c, NULL);
}

void mqtt_conn__close(struct mqtt_conn *c)
{
    char name[512];
    c->closing = true;
    ef_timer_stop(c->retry_timer);
    ef_timer_stop(c->pump_timer);
    if (c->bridge) {
        /* From here on callbacks drop what they get (nothing waits for the loop). */
        uv_mutex_lock(&c->bridge->mu);
        c->bridge->closed = true;
        uv_cond_broadcast(&c->bridge->cond);
        uv_mutex_unlock(&c->bridge->mu);
    }
    ef_node_debug(c->node,
                  "closing: %d in flight, %zu queued, %llu sent, %llu received, %llu resent",
                  c->inflight, c->q_count, (unsigned long long)c->sent,
                  (unsigned long long)c->received, (unsigned long long)c->resent);
    /* Queued messages are handed over; paho finishes those in flight before disconnecting. */
    disconnect_now(c, true);
    if (c->q_count) {
        ef_node_warn(c->node, "closing with %zu undelivered message(s) for %s", c->q_count,
                     display_name(c, name, sizeof(name)));
    }
    teardown_handle(c);
    free_queues(c);
    for (size_t i = 0; i < c->nsubs; i++) {
        free_sub(&c->subs[i]);
    }
    free(c->subs);
    c->subs = NULL;
    c->nsubs = c->subs_cap = 0;
    free(c->users);
    c->users = NULL;
    c->nusers = c->users_cap = 0;
    free(c->quiet);
    c->quiet = NULL;
    c->nquiet = c->quiet_cap = 0;
    mqtt_opts__free(&c->opts);
    ef_val_unref(c->cfg);
    c->cfg = NULL;
}

int mqtt_conn__connect_action(struct ef_node *n, struct mqtt_conn *c, struct ef_msg *msg)
{
    const struct ef_val *data = ef_msg_get(msg, "broker");
    if (ef_val_type(data) != EF_OBJ) {
        data = NULL;
    }
    if (mqtt_conn__can_connect(c)) {
        if (data) {
            mqtt_broker__set_options(c, data);
        }
        mqtt_conn__connect(c);
    } else if (data) {
        if (!ef_val_truthy(ef_val_obj_get(data, "force"))) {
            /* done(new Error(...)): the error text is the Error's toString() */
            ef_node_error(n, msg, "Error: Disconnect from broker before connecting");
            ef_msg_free(msg);
            return EF_INPUT_DONE;
        }
        mqtt_conn__disconnect(c);
        mqtt_broker__set_options(c, data);
        mqtt_conn__connect(c);
    }
    ef_msg_free(msg);
    return EF_INPUT_DONE;
}
