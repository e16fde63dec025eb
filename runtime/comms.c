/*
 * comms.c - the editor's /comms websocket, as Node-RED 4.1's
 * editor-api/lib/editor/comms.js and runtime/lib/api/comms.js do it:
 *
 *   - the client sends {"subscribe": topic} (MQTT-style + and /# wildcards);
 *     the server answers with the retained messages that match (node status,
 *     notification/runtime-state, notification/runtime-deploy) and from then
 *     on publishes every event to every client, as Node-RED does;
 *   - messages go out as JSON arrays of {topic, data}, at most 50 a frame;
 *   - "hb" heartbeats carry the time of the last send when nothing was sent
 *     for webSocketKeepAliveTime (15 s);
 *   - debug messages are encoded as RED.util.encodeObject does (format
 *     hints, strings/arrays/buffers cut at debugMaxLength, default 1000).
 *
 * Hostile clients: text frames over 64 KiB or binary frames close the
 * connection (1009/1003); malformed JSON is ignored, as Node-RED does; a
 * client that does not read is sent no more debug messages once 1000 are
 * queued for it, and is closed past 5000 queued messages of any kind.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "server.h"

#define BATCH_MAX 50
#define QUEUE_SOFT 1000 /* debug messages dropped beyond this */
#define QUEUE_HARD 5000 /* connection closed beyond this */
#define HB_MS 15000

struct comms_client {
    struct srv_conn *conn;
    struct comms_client *next;
    struct ef_val *queue; /* array of {topic, data} */
    size_t head;          /* first unsent entry in queue */
    char *in;             /* fragments of an incoming message */
    size_t in_len;
    bool closing;
    /* adminAuth: events go only to authenticated clients; the answer to an
     * {"auth": token} message ({"auth":"ok"} or "fail") goes out first */
    bool pending_auth;
    const char *auth_reply; /* static string, or NULL */
    bool close_after_reply;
    char token[65]; /* the session it authenticated with ("" for none) */
};

static double now_ms(void)
{
    return ef_now_ms();
}

static size_t pending(const struct comms_client *cl)
{
    return ef_val_arr_len(cl->queue) - cl->head;
}

static void enqueue(struct comms_client *cl, const char *topic, struct ef_val *data)
{
    if (cl->closing || cl->pending_auth || cl->close_after_reply) {
        return;
    }
    size_t n = pending(cl);
    if (n >= QUEUE_SOFT && !strcmp(topic, "debug")) {
        cl->conn->srv->dropped++;
        return;
    }
    if (n >= QUEUE_HARD) {
        ef_log_warn("comms: closing a client that does not read (%zu messages queued)", n);
        cl->closing = true;
        lws_callback_on_writable(cl->conn->wsi);
        return;
    }
    struct ef_val *m = ef_val_obj();
    if (!m) {
        return;
    }
    ef_val_obj_set_take(m, "topic", ef_val_str(topic));
    ef_val_obj_set_take(m, "data", ef_val_ref(data));
    if (ef_val_arr_push_take(cl->queue, m) != 0) {
        ef_val_unref(m);
        return;
    }
    lws_callback_on_writable(cl->conn->wsi);
}

void comms__publish(struct ef_server *s, const char *topic, struct ef_val *data, bool retain)
{
    if (!data) {
        return;
    }
    if (retain) {
        ef_val_obj_set_take(s->retained, topic, ef_val_ref(data));
    } else {
        ef_val_obj_del(s->retained, topic, strlen(topic));
    }
    for (struct comms_client *cl = s->clients; cl; cl = cl->next) {
        enqueue(cl, topic, data);
    }
    ef_val_unref(data);
}

/* Node-RED's subscription pattern: + is one level, a trailing /# any depth. */
static bool topic_match(const char *pat, const char *topic)
{
    for (;;) {
        if (!strcmp(pat, "/#")) {
            return *topic == '\0' || *topic == '/';
        }
        if (*pat == '+') {
            if (*topic == '\0' || *topic == '/') {
                return false;
            }
            while (*topic && *topic != '/') {
                topic++;
            }
            pat++;
            continue;
        }
        if (*pat == '\0' || *topic == '\0') {
            return *pat == '\0' && *topic == '\0';
        }
        if (*pat != *topic) {
            return false;
        }
        pat++;
        topic++;
    }
}

void comms__check_sessions(struct ef_server *s)
{
    for (struct comms_client *cl = s->clients; s->auth && cl; cl = cl->next) {
        if (cl->token[0] && !cl->close_after_reply && !auth__comms_token(s, cl->token)) {
            /* as Node-RED on session expiry: {"auth":"fail"}, then close */
            ef_log_info("audit: comms.auth.expired user=%s", auth__user_name(cl->conn->user));
            cl->auth_reply = "{\"auth\":\"fail\"}";
            cl->close_after_reply = true;
            lws_callback_on_writable(cl->conn->wsi);
        }
    }
}

static void on_hb(uv_timer_t *t)
{
    struct ef_server *s = t->data;
    comms__check_sessions(s);
    if (s->dropped != s->dropped_logged) {
        ef_log_warn("comms: %llu debug messages dropped for editors that read too slowly "
                    "(%llu since start; more than %d were waiting)",
                    (unsigned long long)(s->dropped - s->dropped_logged),
                    (unsigned long long)s->dropped, QUEUE_SOFT);
        s->dropped_logged = s->dropped;
    }
    double now = now_ms();
    if (now - s->last_sent > HB_MS) {
        struct ef_val *d = ef_val_num(s->last_sent);
        for (struct comms_client *cl = s->clients; cl; cl = cl->next) {
            enqueue(cl, "hb", d);
        }
        ef_val_unref(d);
    }
}

int comms__init(struct ef_server *s)
{
    if (uv_timer_init(ef_loop_uv(&s->rt->loop), &s->hb_timer) != 0) {
        return EF_EIO;
    }
    s->hb_timer.data = s;
    s->last_sent = now_ms();
    uv_timer_start(&s->hb_timer, on_hb, HB_MS, HB_MS);
    uv_unref((uv_handle_t *)&s->hb_timer);
    return 0;
}

void comms__close(struct ef_server *s)
{
    if (s->hb_timer.data) {
        uv_timer_stop(&s->hb_timer);
        uv_close((uv_handle_t *)&s->hb_timer, NULL);
    }
    while (s->clients) {
        struct comms_client *cl = s->clients;
        s->clients = cl->next;
        if (cl->conn) {
            cl->conn->client = NULL;
        }
        ef_val_unref(cl->queue);
        free(cl->in);
        free(cl);
    }
}

int comms__open(struct srv_conn *c)
{
    struct comms_client *cl = calloc(1, sizeof(*cl));
    if (!cl || !(cl->queue = ef_val_arr())) {
        free(cl);
        return -1;
    }
    cl->conn = c;
    c->client = cl;
    c->user = NULL;
    cl->pending_auth = c->srv->auth != NULL;
    cl->next = c->srv->clients;
    c->srv->clients = cl;
    return 0;
}

void comms__closed(struct srv_conn *c)
{
    struct comms_client *cl = c->client;
    if (!cl) {
        return;
    }
    struct ef_server *s = c->srv;
    for (struct comms_client **pp = &s->clients; *pp; pp = &(*pp)->next) {
        if (*pp == cl) {
            *pp = cl->next;
            break;
        }
    }
    c->client = NULL;
    ef_val_unref(cl->queue);
    free(cl->in);
    free(cl);
}

/* Node-RED's comms auth: {"auth": token} first, or the default user. */
static void handle_auth(struct comms_client *cl, const struct ef_val *m)
{
    struct srv_conn *c = cl->conn;
    const struct ef_val *tok = ef_val_obj_get(m, "auth");
    const struct auth_user *u = NULL;
    if (tok) {
        u = auth__comms_token(c->srv, ef_val_type(tok) == EF_STR ? ef_val_str_get(tok) : NULL);
    } else if (cl->pending_auth) {
        u = auth__comms_anonymous(c->srv);
    } else {
        return;
    }
    char addr[64];
    if (!lws_get_peer_simple(c->wsi, addr, sizeof(addr))) {
        snprintf(addr, sizeof(addr), "?");
    }
    if (!u) {
        ef_log_info("audit: comms.auth.fail from %s", addr);
        cl->auth_reply = "{\"auth\":\"fail\"}";
        cl->close_after_reply = true;
    } else {
        ef_log_info("audit: comms.auth user=%s from %s", auth__user_name(u), addr);
        c->user = u;
        cl->pending_auth = false;
        if (tok) {
            cl->auth_reply = "{\"auth\":\"ok\"}";
            snprintf(cl->token, sizeof(cl->token), "%s", ef_val_str_get(tok));
        }
    }
    lws_callback_on_writable(c->wsi);
}

static void handle_message(struct comms_client *cl, const char *text, size_t len)
{
    struct ef_val *m = ef_json_parse(text, len, NULL, 0);
    if (!m) {
        ef_log_debug("comms: ignoring a malformed message");
        return;
    }
    if (cl->conn->srv->auth && ef_val_type(m) == EF_OBJ) {
        handle_auth(cl, m);
    }
    if (cl->pending_auth || cl->close_after_reply) {
        ef_val_unref(m);
        return;
    }
    const struct ef_val *sub = ef_val_obj_get(m, "subscribe");
    if (ef_val_type(sub) == EF_STR) {
        const char *pat = ef_val_str_get(sub);
        struct ef_val *ret = cl->conn->srv->retained;
        for (size_t i = 0; i < ef_val_obj_len(ret); i++) {
            const char *topic = ef_val_obj_key_at(ret, i, NULL);
            if (topic_match(pat, topic)) {
                enqueue(cl, topic, ef_val_obj_val_at(ret, i));
            }
        }
    }
    /* {"auth": ...} needs no answer without adminAuth; {"topic": ...} has no listener */
    ef_val_unref(m);
}

int comms__receive(struct srv_conn *c, const void *in, size_t len, bool final, bool binary)
{
    struct comms_client *cl = c->client;
    if (!cl) {
        return -1;
    }
    if (binary || cl->in_len + len > SRV_WS_IN_MAX) {
        cl->closing = true; /* nothing more is sent to it */
    }
    if (binary) {
        lws_close_reason(c->wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
                         (unsigned char *)"binary frames not accepted", 26);
        return -1;
    }
    if (cl->in_len + len > SRV_WS_IN_MAX) {
        lws_close_reason(c->wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                         (unsigned char *)"message too large", 17);
        return -1;
    }
    if (!final || cl->in) {
        char *nb = realloc(cl->in, cl->in_len + len + 1);
        if (!nb) {
            return -1;
        }
        cl->in = nb;
        memcpy(cl->in + cl->in_len, in, len);
        cl->in_len += len;
        if (!final) {
            return 0;
        }
        handle_message(cl, cl->in, cl->in_len);
        free(cl->in);
        cl->in = NULL;
        cl->in_len = 0;
        return 0;
    }
    handle_message(cl, in, len);
    return 0;
}

int comms__writeable(struct srv_conn *c)
{
    struct comms_client *cl = c->client;
    if (!cl) {
        return -1;
    }
    if (cl->closing) {
        lws_close_reason(c->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)"too slow", 8);
        return -1;
    }
    if (cl->auth_reply) {
        unsigned char rb[LWS_PRE + 32];
        size_t rl = strlen(cl->auth_reply);
        memcpy(rb + LWS_PRE, cl->auth_reply, rl);
        cl->auth_reply = NULL;
        if (lws_write(c->wsi, rb + LWS_PRE, rl, LWS_WRITE_TEXT) < (int)rl) {
            return -1;
        }
        if (cl->close_after_reply || pending(cl) > 0) {
            lws_callback_on_writable(c->wsi);
        }
        return 0;
    }
    if (cl->close_after_reply) {
        /* {"auth":"fail"} went out in the previous write */
        lws_close_reason(c->wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
        return -1;
    }
    size_t n = pending(cl);
    if (n == 0) {
        return 0;
    }
    if (n > BATCH_MAX) {
        n = BATCH_MAX;
    }
    struct ef_val *batch = ef_val_arr();
    if (!batch) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        ef_val_arr_push_take(batch, ef_val_ref(ef_val_arr_at(cl->queue, cl->head + i)));
    }
    cl->head += n;
    if (cl->head == ef_val_arr_len(cl->queue)) {
        ef_val_unref(cl->queue);
        cl->queue = ef_val_arr();
        cl->head = 0;
        if (!cl->queue) {
            ef_val_unref(batch);
            return -1;
        }
    } else if (cl->head >= 4096) {
        /* compact the queue now and then */
        struct ef_val *rest = ef_val_arr();
        for (size_t i = cl->head; rest && i < ef_val_arr_len(cl->queue); i++) {
            ef_val_arr_push_take(rest, ef_val_ref(ef_val_arr_at(cl->queue, i)));
        }
        if (rest) {
            ef_val_unref(cl->queue);
            cl->queue = rest;
            cl->head = 0;
        }
    }
    size_t len;
    char *text = ef_json_print(batch, 0, &len);
    ef_val_unref(batch);
    if (!text) {
        return -1;
    }
    unsigned char *buf = malloc(LWS_PRE + len);
    if (!buf) {
        free(text);
        return -1;
    }
    memcpy(buf + LWS_PRE, text, len);
    free(text);
    int w = lws_write(c->wsi, buf + LWS_PRE, len, LWS_WRITE_TEXT);
    free(buf);
    if (w < (int)len) {
        return -1;
    }
    c->srv->last_sent = now_ms();
    if (pending(cl) > 0) {
        lws_callback_on_writable(c->wsi);
    }
    return 0;
}

/* ---- RED.util.encodeObject ---- */

/* Length of a UTF-8 string in UTF-16 code units (JavaScript's .length). */
static size_t js_length(const char *s, size_t len, size_t limit, size_t *cut)
{
    size_t units = 0;
    size_t i = 0;
    *cut = len;
    while (i < len) {
        unsigned char ch = (unsigned char)s[i];
        size_t w = ch < 0x80 ? 1 : ch < 0xE0 ? 2 : ch < 0xF0 ? 3 : 4;
        size_t u = w == 4 ? 2 : 1;
        if (units + u > limit && *cut == len) {
            *cut = i;
        }
        units += u;
        i += w;
    }
    return units;
}

static struct ef_val *enc_obj(const char *type)
{
    struct ef_val *o = ef_val_obj();
    if (o) {
        ef_val_obj_set_take(o, "__enc__", ef_val_bool(true));
        ef_val_obj_set_take(o, "type", ef_val_str(type));
    }
    return o;
}

/* The JSON.stringify replacer of encodeObject, applied to a whole tree. */
static struct ef_val *enc_value(const struct ef_val *v, const char *key, size_t max)
{
    if (key && (!strcmp(key, "_req") || !strcmp(key, "_res"))) {
        return enc_obj("internal");
    }
    switch (ef_val_type(v)) {
    case EF_STR: {
        size_t cut;
        size_t units = js_length(ef_val_str_get(v), ef_val_str_len(v), max, &cut);
        if (units > max) {
            return ef_val_strf("%.*s...", (int)cut, ef_val_str_get(v));
        }
        return ef_val_ref((struct ef_val *)v);
    }
    case EF_NUM: {
        double d = ef_val_num_get(v);
        if (isnan(d) || isinf(d)) {
            struct ef_val *o = enc_obj("number");
            char buf[32];
            ef_num_format(d, buf);
            ef_val_obj_set_take(o, "data", ef_val_str(buf));
            return o;
        }
        return ef_val_ref((struct ef_val *)v);
    }
    case EF_BUF: {
        /* Buffer.toJSON then the replacer: {type, data, __enc__, length} */
        size_t n = ef_val_buf_len(v);
        const uint8_t *b = ef_val_buf_data(v);
        struct ef_val *o = ef_val_obj();
        struct ef_val *data = ef_val_arr();
        if (!o || !data) {
            ef_val_unref(o);
            ef_val_unref(data);
            return NULL;
        }
        for (size_t i = 0; i < n && i < max; i++) {
            ef_val_arr_push_take(data, ef_val_num(b[i]));
        }
        ef_val_obj_set_take(o, "type", ef_val_str("Buffer"));
        ef_val_obj_set_take(o, "data", data);
        ef_val_obj_set_take(o, "__enc__", ef_val_bool(true));
        ef_val_obj_set_take(o, "length", ef_val_num((double)n));
        return o;
    }
    case EF_ARR: {
        size_t n = ef_val_arr_len(v);
        struct ef_val *a = ef_val_arr();
        for (size_t i = 0; a && i < n && i < max; i++) {
            struct ef_val *e = enc_value(ef_val_arr_at(v, i), NULL, max);
            ef_val_arr_push_take(a, e ? e : ef_val_null());
        }
        if (n > max) {
            struct ef_val *o = enc_obj("array");
            ef_val_obj_set_take(o, "data", a);
            ef_val_obj_set_take(o, "length", ef_val_num((double)n));
            return o;
        }
        return a;
    }
    case EF_OBJ: {
        struct ef_val *o = ef_val_obj();
        bool is_buffer_json = !strcmp(ef_val_str_get(ef_val_obj_get(v, "type")), "Buffer") &&
                              ef_val_type(ef_val_obj_get(v, "data")) == EF_ARR;
        for (size_t i = 0; o && i < ef_val_obj_len(v); i++) {
            size_t kl;
            const char *k = ef_val_obj_key_at(v, i, &kl);
            struct ef_val *e = enc_value(ef_val_obj_val_at(v, i), k, max);
            if (e) {
                ef_val_obj_setn_take(o, k, kl, e);
            }
        }
        if (o && is_buffer_json) {
            /* an object that looks like a serialised Buffer is marked as one too */
            const struct ef_val *d = ef_val_obj_get(v, "data");
            ef_val_obj_set_take(o, "__enc__", ef_val_bool(true));
            ef_val_obj_set_take(o, "length", ef_val_num((double)ef_val_arr_len(d)));
        }
        return o;
    }
    default: return ef_val_ref((struct ef_val *)v);
    }
}

int comms__encode(struct ef_val *obj, const struct ef_val *v, size_t max)
{
    char fmt[64];
    struct ef_val *msg = NULL;
    char num[32];
    switch (v ? ef_val_type(v) : EF_NULL) {
    case EF_NULL:
        snprintf(fmt, sizeof(fmt), "%s", v ? "null" : "undefined");
        msg = ef_val_str("(undefined)");
        break;
    case EF_BOOL:
        snprintf(fmt, sizeof(fmt), "boolean");
        msg = ef_val_str(ef_val_bool_get(v) ? "true" : "false");
        break;
    case EF_NUM:
        snprintf(fmt, sizeof(fmt), "number");
        ef_num_format(ef_val_num_get(v), num);
        msg = ef_val_str(num);
        break;
    case EF_STR: {
        size_t cut;
        size_t units = js_length(ef_val_str_get(v), ef_val_str_len(v), max, &cut);
        snprintf(fmt, sizeof(fmt), "string[%zu]", units);
        msg = units > max ? ef_val_strf("%.*s...", (int)cut, ef_val_str_get(v))
                          : ef_val_ref((struct ef_val *)v);
        break;
    }
    case EF_BUF: {
        size_t n = ef_val_buf_len(v);
        snprintf(fmt, sizeof(fmt), "buffer[%zu]", n);
        size_t hexn = n * 2 > max ? max : n * 2;
        char *hex = malloc(hexn + 1);
        if (!hex) {
            return EF_ENOMEM;
        }
        static const char digits[] = "0123456789abcdef";
        const uint8_t *b = ef_val_buf_data(v);
        for (size_t i = 0; i < hexn; i++) {
            hex[i] = digits[(b[i / 2] >> (i % 2 ? 0 : 4)) & 15];
        }
        hex[hexn] = '\0';
        msg = ef_val_str_take(hex, hexn);
        break;
    }
    case EF_ARR:
    case EF_OBJ:
    case EF_HANDLE: {
        bool arr = ef_val_type(v) == EF_ARR;
        if (arr) {
            snprintf(fmt, sizeof(fmt), "array[%zu]", ef_val_arr_len(v));
        } else {
            snprintf(fmt, sizeof(fmt), "Object");
        }
        struct ef_val *e = enc_value(v, NULL, max);
        size_t len;
        char *text = e ? ef_json_print(e, 0, &len) : NULL;
        ef_val_unref(e);
        if (!text) {
            return EF_ENOMEM;
        }
        msg = ef_val_str_take(text, len);
        break;
    }
    }
    if (!msg) {
        return EF_ENOMEM;
    }
    ef_val_obj_set_take(obj, "msg", msg);
    ef_val_obj_set_take(obj, "format", ef_val_str(fmt));
    return 0;
}

static size_t debug_max_length(const struct ef_server *s)
{
    const struct ef_val *v = settings__get(s->rt->settings, "debugMaxLength");
    if (ef_val_type(v) == EF_NUM && ef_val_num_get(v) >= 1) {
        return (size_t)ef_val_num_get(v);
    }
    return 1000;
}

void comms__on_debug(struct ef_server *s, const struct ef_debug_event *ev)
{
    if (!s->clients) {
        return; /* nobody is looking: skip the encoding */
    }
    struct ef_node *n = ev->node;
    struct ef_val *o = ef_val_obj();
    if (!o) {
        return;
    }
    ef_val_obj_set_take(o, "id", ef_val_str(n->id));
    if (n->flow && n->flow->kind != SCOPE_GLOBAL) {
        ef_val_obj_set_take(o, "z", ef_val_str(n->flow->id));
    }
    if (n->alias) {
        ef_val_obj_set_take(o, "_alias", ef_val_str(n->alias));
    }
    if (n->flow && n->flow->path) {
        ef_val_obj_set_take(o, "path", ef_val_str(n->flow->path));
    }
    if (n->name) {
        ef_val_obj_set_take(o, "name", ef_val_str(n->name));
    }
    const struct ef_val *topic = ev->msg ? ef_msg_get(ev->msg, "topic") : NULL;
    if (topic) {
        ef_val_obj_set_take(o, "topic", ef_val_ref((struct ef_val *)topic));
    }
    if (ev->property) {
        ef_val_obj_set_take(o, "property", ef_val_str(ev->property));
    }
    if (comms__encode(o, ev->value, debug_max_length(s)) != 0) {
        ef_val_unref(o);
        return;
    }
    comms__publish(s, "debug", o, false);
}

void comms__on_status(struct ef_server *s, struct ef_node *n, const struct ef_val *st)
{
    char topic[600];
    snprintf(topic, sizeof(topic), "status/%s", n->id);
    const struct ef_val *text = ef_val_obj_get(st, "text");
    const struct ef_val *fill = ef_val_obj_get(st, "fill");
    const struct ef_val *shape = ef_val_obj_get(st, "shape");
    if (!st) {
        ef_val_obj_del(s->retained, topic, strlen(topic));
        return;
    }
    bool empty = !ef_val_truthy(text) && !ef_val_truthy(fill) && !ef_val_truthy(shape);
    if (empty) {
        if (ef_val_obj_get(s->retained, topic)) {
            comms__publish(s, topic, ef_val_obj(), false);
        }
        return;
    }
    struct ef_val *d = ef_val_obj();
    if (!d) {
        return;
    }
    if (text) {
        ef_val_obj_set_take(d, "text", ef_val_ref((struct ef_val *)text));
    }
    if (fill) {
        ef_val_obj_set_take(d, "fill", ef_val_ref((struct ef_val *)fill));
    }
    if (shape) {
        ef_val_obj_set_take(d, "shape", ef_val_ref((struct ef_val *)shape));
    }
    comms__publish(s, topic, d, true);
}
