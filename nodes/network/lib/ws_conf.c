/*
 * ws_conf.c - the behaviour Node-RED's WebSocketListenerNode gives both
 * websocket config types (22-websocket.js): status events to the in and
 * out nodes ("connected N", error, disconnected, each with event and
 * _session), received messages turned into msgs for every websocket in
 * node, and websocket out's sending (reply to one session, broadcast, or
 * through the client connection).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "js.h"

#include "ws_conf.h"

struct ws_conf *ws_conf__of(struct ef_node *n)
{
    if (!n) {
        return NULL;
    }
    const char *t = ef_node_type_name(n);
    if (strcmp(t, "websocket-listener") && strcmp(t, "websocket-client")) {
        return NULL;
    }
    return ef_node_priv(n);
}

static int list_add(struct ef_node ***list, size_t *n, size_t *cap, struct ef_node *x)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        struct ef_node **nl = realloc(*list, ncap * sizeof(*nl));
        if (!nl) {
            return EF_ENOMEM;
        }
        *list = nl;
        *cap = ncap;
    }
    (*list)[(*n)++] = x;
    return 0;
}

static void list_remove(struct ef_node **list, size_t *n, struct ef_node *x)
{
    for (size_t i = 0; i < *n; i++) {
        if (list[i] == x) {
            memmove(&list[i], &list[i + 1], (*n - i - 1) * sizeof(*list));
            (*n)--;
            i--;
        }
    }
}

int ws_conf__add_user(struct ws_conf *c, struct ef_node *user, bool input)
{
    if (list_add(&c->users, &c->nusers, &c->ucap, user) != 0) {
        return EF_ENOMEM;
    }
    if (input && list_add(&c->inputs, &c->ninputs, &c->icap, user) != 0) {
        c->nusers--;
        return EF_ENOMEM;
    }
    return 0;
}

void ws_conf__remove_user(struct ws_conf *c, struct ef_node *user)
{
    if (!c) {
        return;
    }
    list_remove(c->users, &c->nusers, user);
    list_remove(c->inputs, &c->ninputs, user);
}

void ws_conf__free(struct ws_conf *c)
{
    free(c->users);
    free(c->inputs);
    free(c->peers);
    c->users = c->inputs = NULL;
    c->peers = NULL;
    c->nusers = c->ninputs = c->npeers = 0;
}

/* ---- Status events ---- */

enum ws_event { EV_OPENED, EV_ERROR, EV_CLOSED };

/*
 * Shows an event on every user as Node-RED's in and out nodes do. count < 0
 * is the client's count '' (never > 0).
 */
static void emit(struct ws_conf *c, enum ws_event ev, int count, const char *id)
{
    for (size_t i = 0; i < c->nusers; i++) {
        struct ef_val *st = ef_val_obj();
        struct ef_val *sess = ef_val_obj();
        if (!st || !sess) {
            ef_val_unref(st);
            ef_val_unref(sess);
            return;
        }
        bool connected = ev == EV_OPENED || (ev == EV_CLOSED && count > 0);
        ef_val_obj_set_take(st, "fill", ef_val_str(connected ? "green" : "red"));
        ef_val_obj_set_take(st, "shape", ef_val_str(connected ? "dot" : "ring"));
        if (connected) {
            if (count < 0) {
                ef_val_obj_set_take(st, "text", ef_val_str("connected "));
            } else {
                ef_val_obj_set_take(st, "text", ef_val_strf("connected %d", count));
            }
        } else {
            ef_val_obj_set_take(
                st, "text",
                ef_val_str(ev == EV_ERROR ? "common.status.error" : "common.status.disconnected"));
        }
        ef_val_obj_set_take(st, "event",
                            ef_val_str(ev == EV_OPENED  ? "connect"
                                       : ev == EV_ERROR ? "error"
                                                        : "disconnect"));
        ef_val_obj_set_take(sess, "type", ef_val_str("websocket"));
        ef_val_obj_set_take(sess, "id", ef_val_str(id));
        ef_val_obj_set_take(st, "_session", sess);
        node__set_status(c->users[i], st);
    }
}

/* ---- Connection events (from ws_routes) ---- */

static void peer_remove(struct ws_conf *c, struct ws_peer *p)
{
    for (size_t i = 0; i < c->npeers; i++) {
        if (c->peers[i] == p) {
            memmove(&c->peers[i], &c->peers[i + 1], (c->npeers - i - 1) * sizeof(*c->peers));
            c->npeers--;
            return;
        }
    }
}

static void ev_open(void *ud, struct ws_peer *p)
{
    struct ws_conf *c = ud;
    if (c->is_server) {
        if (c->npeers == c->pcap) {
            size_t ncap = c->pcap ? c->pcap * 2 : 8;
            struct ws_peer **np = realloc(c->peers, ncap * sizeof(*np));
            if (!np) {
                ws_peer__close(p, false);
                return;
            }
            c->peers = np;
            c->pcap = ncap;
        }
        c->peers[c->npeers++] = p;
        emit(c, EV_OPENED, (int)c->npeers, ws_peer__id(p));
        return;
    }
    c->hb_pending = false;
    if (c->heartbeat && c->hb_ms > 0) {
        ef_timer_start(c->heartbeat, (uint64_t)c->hb_ms, (uint64_t)c->hb_ms);
    }
    emit(c, EV_OPENED, -1, ws_peer__id(p));
}

/* The client lost its connection: reconnect in 3 s unless closing. */
static void client_lost(struct ws_conf *c)
{
    if (c->heartbeat) {
        ef_timer_stop(c->heartbeat);
    }
    if (!c->closing && c->reconnect) {
        ef_timer_start(c->reconnect, 3000, 0);
    }
}

/* The session id of p; a connection that never started (p NULL) gets a fresh one. */
static const char *peer_id(struct ws_peer *p, char buf[17])
{
    if (p) {
        return ws_peer__id(p);
    }
    ef_id_new(buf);
    return buf;
}

static void ev_error(void *ud, struct ws_peer *p, const char *text)
{
    struct ws_conf *c = ud;
    char idbuf[17];
    const char *id = peer_id(p, idbuf);
    ef_node_debug(c->n, "websocket %s: %s", id, text);
    emit(c, EV_ERROR, c->is_server ? (int)c->npeers : -1, id);
    if (!c->is_server) {
        client_lost(c);
    }
}

static void ev_closed(void *ud, struct ws_peer *p)
{
    struct ws_conf *c = ud;
    if (c->is_server) {
        peer_remove(c, p);
        emit(c, EV_CLOSED, (int)c->npeers, ws_peer__id(p));
        return;
    }
    if (p && c->peer == p) {
        c->peer = NULL;
    }
    char idbuf[17];
    emit(c, EV_CLOSED, -1, peer_id(p, idbuf));
    client_lost(c);
}

static void ev_pong(void *ud, struct ws_peer *p)
{
    (void)p;
    struct ws_conf *c = ud;
    c->hb_pending = false;
}

/* Sends one message from the wire to every input node. */
static void deliver(struct ws_conf *c, struct ef_msg *msg)
{
    for (size_t i = 0; i < c->ninputs; i++) {
        struct ef_msg *m = i + 1 < c->ninputs ? ef_msg_share(msg) : msg;
        if (!m || ef_node_send(c->inputs[i], 0, m) != 0) {
            ef_node_error(c->n, NULL, "An error occurred while sending: queue full");
            ef_msg_free(m);
        }
        if (m == msg) {
            return;
        }
    }
    ef_msg_free(msg);
}

static struct ef_val *session_of(const char *id)
{
    struct ef_val *s = ef_val_obj();
    if (s) {
        ef_val_obj_set_take(s, "type", ef_val_str("websocket"));
        ef_val_obj_set_take(s, "id", ef_val_str(id));
    }
    return s;
}

/* The raw data as Node-RED's handler sees it: a string (text) or a Buffer. */
static struct ef_val *raw_val(const char *data, size_t len, bool binary)
{
    return binary ? ef_val_buf(data, len) : ef_val_strn(data, len);
}

static void ev_message(void *ud, struct ws_peer *p, const char *data, size_t len, bool binary)
{
    struct ws_conf *c = ud;
    if (!c->ninputs) {
        return;
    }
    struct ef_val *root = NULL;
    if (c->wholemsg) {
        struct ef_val *v = ef_json_parse(data, len, NULL, 0);
        enum ef_type t = v ? ef_val_type(v) : EF_NULL;
        if (!v) {
            root = ef_val_obj();
            if (root) {
                ef_val_obj_set_take(root, "payload", raw_val(data, len, binary));
            }
        } else if (t == EF_OBJ) {
            root = v;
        } else if (t == EF_NULL) {
            /* JSON.parse gave null: Node-RED fails setting _session on it */
            ef_val_unref(v);
            ef_node_error(c->n, NULL,
                          "TypeError: Cannot set properties of null (setting '_session')");
            return;
        } else if (t == EF_ARR) {
            /* node.send(array): element 0 goes out of the only port, without
             * _session (it was set on the array) */
            struct ef_val *first = ef_val_arr_len(v) ? ef_val_arr_at(v, 0) : NULL;
            struct ef_val *items = NULL;
            if (first && ef_val_type(first) == EF_ARR) {
                items = ef_val_ref(first);
            } else if (first && ef_val_type(first) == EF_OBJ) {
                items = ef_val_arr();
                if (items) {
                    ef_val_arr_push_take(items, ef_val_ref(first));
                }
            }
            for (size_t i = 0; items && i < ef_val_arr_len(items); i++) {
                struct ef_val *m = ef_val_arr_at(items, i);
                if (ef_val_type(m) != EF_OBJ) {
                    continue;
                }
                struct ef_val *mv = ef_val_ref(m);
                struct ef_msg *msg = ef_msg_new_take(mv);
                if (!msg) {
                    ef_val_unref(mv);
                    continue;
                }
                deliver(c, msg);
            }
            ef_val_unref(items);
            ef_val_unref(v);
            return;
        } else {
            root = ef_val_obj();
            if (root) {
                ef_val_obj_set_take(root, "payload", v);
            } else {
                ef_val_unref(v);
            }
        }
    } else {
        root = ef_val_obj();
        if (root) {
            ef_val_obj_set_take(root, "payload", raw_val(data, len, binary));
        }
    }
    if (!root) {
        return;
    }
    ef_val_obj_set_take(root, "_session", session_of(ws_peer__id(p)));
    struct ef_msg *msg = ef_msg_new_take(root);
    if (!msg) {
        ef_val_unref(root);
        return;
    }
    deliver(c, msg);
}

const struct ws_events ws_conf__events = {
    .open = ev_open,
    .message = ev_message,
    .error = ev_error,
    .closed = ev_closed,
    .pong = ev_pong,
};

/* ---- Sending (websocket out) ---- */

/* What websocket out puts on the wire for msg, or NULL when nothing (malloc'ed). */
static char *wire_data(struct ws_conf *c, const struct ef_msg *msg, size_t *len, bool *binary)
{
    *binary = false;
    const struct ef_val *root = ef_msg_root(msg);
    if (c->wholemsg) {
        if (!ef_val_obj_get(root, "_session")) {
            return ef_json_print(root, 0, len);
        }
        /* a shallow copy without _session (the message itself is shared) */
        struct ef_val *copy = ef_val_ref((struct ef_val *)root);
        struct ef_val *w = ef_val_mut(&copy);
        char *text = NULL;
        if (w) {
            ef_val_obj_del(w, "_session", 8);
            text = ef_json_print(w, 0, len);
        }
        ef_val_unref(copy);
        return text;
    }
    const struct ef_val *pl = ef_val_obj_get(root, "payload");
    if (!pl) {
        return NULL;
    }
    switch (ef_val_type(pl)) {
    case EF_BUF: {
        *binary = true;
        *len = ef_val_buf_len(pl);
        char *d = malloc(*len + 1);
        if (d && *len) {
            memcpy(d, ef_val_buf_data(pl), *len);
        }
        return d;
    }
    case EF_OBJ:
    case EF_ARR:
    case EF_NULL: return ef_json_print(pl, 0, len);
    default: return js__to_string(pl, len);
    }
}

static void send_error(struct ef_node *from, const char *who, int rc)
{
    ef_node_warn(from, "An error occurred while sending: %s%s%s", who ? who : "", who ? " " : "",
                 rc == EF_ERANGE ? "Error: send queue full, message dropped" : ef_strerror(rc));
}

void ws_conf__send(struct ws_conf *c, struct ef_node *from, const struct ef_msg *msg)
{
    size_t len = 0;
    bool binary = false;
    char *data = wire_data(c, msg, &len, &binary);
    if (!data) {
        return;
    }
    if (!binary && len == 0) {
        free(data); /* an empty string is falsy: nothing is sent */
        return;
    }
    const struct ef_val *sess = ef_msg_get(msg, "_session");
    const struct ef_val *stype = sess ? ef_val_obj_get(sess, "type") : NULL;
    if (stype && ef_val_type(stype) == EF_STR && !strcmp(ef_val_str_get(stype), "websocket")) {
        /* reply: only to one of this listener's clients (a client config has none) */
        char *id = js__to_string(ef_val_obj_get(sess, "id"), NULL);
        for (size_t i = 0; id && c->is_server && i < c->npeers; i++) {
            if (!strcmp(ws_peer__id(c->peers[i]), id)) {
                ws_peer__send(c->peers[i], data, len, binary);
                break;
            }
        }
        free(id);
    } else if (c->is_server) {
        for (size_t i = 0; i < c->npeers; i++) {
            int rc = ws_peer__send(c->peers[i], data, len, binary);
            if (rc != 0) {
                send_error(from, ws_peer__id(c->peers[i]), rc);
            }
        }
    } else if (c->peer && ws_peer__is_open(c->peer)) {
        int rc = ws_peer__send(c->peer, data, len, binary);
        if (rc != 0) {
            send_error(from, NULL, rc);
        }
    } else if (c->peer) {
        /* ws throws while the socket is still connecting */
        ef_node_warn(from, "An error occurred while sending: Error: WebSocket is not open: "
                           "readyState 0 (CONNECTING)");
    }
    free(data);
}
