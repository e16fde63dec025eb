/*
 * tcp_in.c - the tcp in node (Node-RED 31-tcpin.js "tcp in"): listens on a
 * port (server "server") or connects to host:port and reconnects (client),
 * and sends what arrives: one message per chunk (datamode "stream"), or
 * per line when a utf8 stream has a `newline` delimiter, or the whole
 * connection's data when it ends ("single"); as a Buffer, a UTF-8 string or
 * Base64 text (datatype). Messages carry topic, _session {type:"tcp", id}
 * and, from a server, the peer's ip and port; tcp out in "reply" mode finds
 * the connection again by _session.id (tcp_util.h keeps the registry).
 * Settings as Node-RED: socketTimeout (idle server connections are ended),
 * socketReconnectTime (client, default 10 s); and listenAllowedPorts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "engine.h"
#include "js.h"
#include "base64.h"
#include "strbuf.h"
#include "lib/listen_access.h"
#include "lib/mqtt_util.h"
#include "lib/tcp_util.h"

struct tcp_in {
    struct tcp_pool pool; /* first: tcp_util.h finds the sessions here */
    struct ef_node *n;
    const char *host, *topic, *datamode, *datatype, *newline_cfg, *tls;
    const struct ef_val *port_cfg, *server_cfg;
    bool trim;
    /* derived */
    bool is_server, stream, closing, connected, end_flag;
    char *newline; /* with \n \r \t unescaped */
    int port;
    double socket_timeout, reconnect_ms;
    uv_tcp_t *srv; /* freed in its close callback */
    size_t count;
    struct conn *client;
    struct ef_timer *reconnect;
};

/* One connection: accepted by the server or made by the client. */
struct conn {
    struct tcp_sess s;    /* first */
    struct tcp_in *owner; /* NULL once the node has closed */
    struct tcp_dial *dial;
    struct strbuf buf; /* the pending data: bytes, or text for utf8/base64 */
    bool has_buf;      /* Node-RED's buffer is not null */
    char ip[INET6_ADDRSTRLEN];
    int port;
    bool have_peer, have_from, closed, ended;
    struct ef_timer *idle;
    uv_shutdown_t shut;
};

static const struct ef_prop tcp_in_props[] = {
    {EF_PROP_STR, "host", "\"\"", false, "host to connect to (client)",
     offsetof(struct tcp_in, host)},
    {EF_PROP_ANY, "port", "\"\"", false, "port to listen on or connect to",
     offsetof(struct tcp_in, port_cfg)},
    {EF_PROP_ANY, "server", "\"\"", false,
     "\"server\" or true (listen), else connect (Node-RED's default when absent)",
     offsetof(struct tcp_in, server_cfg)},
    {EF_PROP_STR, "datamode", "\"stream\"", false, "stream or single",
     offsetof(struct tcp_in, datamode)},
    {EF_PROP_STR, "datatype", "\"buffer\"", false, "buffer, utf8 or base64",
     offsetof(struct tcp_in, datatype)},
    {EF_PROP_STR, "newline", "\"\"", false, "delimiter splitting a utf8 stream",
     offsetof(struct tcp_in, newline_cfg)},
    {EF_PROP_STR, "topic", NULL, false, "msg.topic", offsetof(struct tcp_in, topic)},
    {EF_PROP_BOOL, "trim", "false", false, "keep the delimiter at the end of each part",
     offsetof(struct tcp_in, trim)},
    {EF_PROP_ANY, "base64", NULL, false, "(unused, as in Node-RED)", EF_PROP_NOFIELD},
    {EF_PROP_STR, "tls", "\"\"", false, "TLS configuration (not supported)",
     offsetof(struct tcp_in, tls)},
    {EF_PROP_END},
};

static void setup_client(struct ef_node *n, void *arg);

/* Unescapes \n, \r and \t in the delimiter (all occurrences, as Node-RED does). */
static char *unescape_newline(const char *s)
{
    char *out = malloc(strlen(s) + 1);
    if (!out) {
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '\\' && (s[i + 1] == 'n' || s[i + 1] == 'r' || s[i + 1] == 't')) {
            out[o++] = s[i + 1] == 'n' ? '\n' : s[i + 1] == 'r' ? '\r' : '\t';
            i++;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = 0;
    return out;
}

static bool is_text(const struct tcp_in *t)
{
    return strcmp(t->datatype, "buffer") != 0;
}

/* The {type:"tcp", id} object. */
static struct ef_val *session_val(const struct conn *c)
{
    struct ef_val *s = ef_val_obj();
    if (s) {
        ef_val_obj_set_take(s, "type", ef_val_str("tcp"));
        ef_val_obj_set_take(s, "id", ef_val_str(c->s.id));
    }
    return s;
}

/* Sends {topic, payload, ip, port, _session} (ip/port only when given). */
static void send_msg(struct tcp_in *t, struct conn *c, struct ef_val *payload, const char *ip,
                     int port)
{
    struct ef_val *o = ef_val_obj();
    if (!o) {
        ef_val_unref(payload);
        return;
    }
    if (t->topic) {
        ef_val_obj_set_take(o, "topic", ef_val_str(t->topic));
    }
    ef_val_obj_set_take(o, "payload", payload);
    if (ip) {
        ef_val_obj_set_take(o, "ip", ef_val_str(ip));
        ef_val_obj_set_take(o, "port", ef_val_num(port));
    }
    ef_val_obj_set_take(o, "_session", session_val(c));
    struct ef_msg *m = ef_msg_new_take(o);
    if (!m) {
        ef_val_unref(o);
        return;
    }
    if (ef_node_send(t->n, 0, m) != 0) {
        ef_msg_free(m);
    }
}

/* The pending data as a payload (a Buffer, or a string for text datatypes). */
static struct ef_val *buf_val(const struct tcp_in *t, const struct conn *c)
{
    const char *d = c->buf.p ? c->buf.p : "";
    return is_text(t) ? ef_val_strn(d, c->buf.n) : ef_val_buf(d, c->buf.n);
}

/* Server status: {text: "N connections", event, ip, port, _session}. */
static void server_status(struct tcp_in *t, struct conn *c, const char *event)
{
    struct ef_val *st = ef_val_obj();
    if (!st) {
        return;
    }
    char text[64];
    tcp__connections_text(text, sizeof(text), t->count);
    ef_val_obj_set_take(st, "text", ef_val_str(text));
    ef_val_obj_set_take(st, "event", ef_val_str(event));
    if (c->have_peer) {
        ef_val_obj_set_take(st, "ip", ef_val_str(c->ip));
        ef_val_obj_set_take(st, "port", ef_val_num(c->port));
    }
    ef_val_obj_set_take(st, "_session", session_val(c));
    node__set_status(t->n, st);
}

static void client_status(struct tcp_in *t, struct conn *c, const char *fill, const char *shape,
                          const char *text)
{
    struct ef_val *st = ef_val_obj();
    if (!st) {
        return;
    }
    ef_val_obj_set_take(st, "fill", ef_val_str(fill));
    ef_val_obj_set_take(st, "shape", ef_val_str(shape));
    ef_val_obj_set_take(st, "text", ef_val_str(text));
    if (c) {
        ef_val_obj_set_take(st, "_session", session_val(c));
    }
    node__set_status(t->n, st);
}

/* ---- Connections ---- */

static void on_conn_freed(uv_handle_t *h)
{
    struct conn *c = (struct conn *)h;
    free(c->buf.p);
    free(c);
}

/* The node lets go of a connection (its close handling has run or the node closes). */
static void detach(struct conn *c)
{
    if (c->owner) {
        tcp_pool__remove(&c->owner->pool, &c->s);
        if (c->owner->client == c) {
            c->owner->client = NULL;
        }
    }
    ef_timer_free(c->idle);
    c->idle = NULL;
    tcp__dial_cancel(c->dial);
    c->dial = NULL;
    c->owner = NULL;
}

/* socket 'close': the node's handling, then the handle goes. */
static void conn_close(struct conn *c)
{
    if (c->closed) {
        return;
    }
    c->closed = true;
    c->s.open = false;
    struct tcp_in *t = c->owner;
    detach(c);
    if (t && t->is_server) {
        t->count--;
        server_status(t, c, "disconnect");
    } else if (t) {
        t->connected = false;
        client_status(t, c, "red", "ring", "common.status.disconnected");
        if (!t->closing) {
            if (t->end_flag) {
                t->end_flag = false;
                ef_timer_start(t->reconnect, 20, 0);
            } else {
                ef_node_log(t->n, "connection lost to %s:%d", t->host, t->port);
                ef_timer_start(t->reconnect, (uint64_t)t->reconnect_ms, 0);
            }
        }
    }
    uv_close((uv_handle_t *)&c->s.tcp, on_conn_freed);
}

static void destroy_sess(struct tcp_sess *s)
{
    conn_close((struct conn *)s);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;
    if (status) {
        conn_close(c);
    }
    /* otherwise the peer's end (EOF) closes it */
}

/* socket.end(): sends FIN; the connection closes when the peer has ended too. */
static void conn_end(struct conn *c)
{
    if (c->closed || c->ended || uv_is_closing((uv_handle_t *)&c->s.tcp)) {
        return;
    }
    c->ended = true;
    c->s.open = false;
    c->shut.data = c;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->s.tcp, on_shutdown) != 0) {
        conn_close(c);
    }
}

/* Splits text appended to the pending buffer at the delimiter; sends the parts. */
static void split_send(struct tcp_in *t, struct conn *c, const char *ip, int port)
{
    size_t nl = strlen(t->newline);
    size_t start = 0;
    const char *d = c->buf.p;
    for (;;) {
        const char *hit =
            c->buf.n - start >= nl ? memmem(d + start, c->buf.n - start, t->newline, nl) : NULL;
        if (!hit) {
            break;
        }
        size_t plen = (size_t)(hit - (d + start));
        struct strbuf part = {0};
        strbuf__add(&part, d + start, plen);
        if (t->trim) {
            strbuf__add(&part, t->newline, nl);
        }
        size_t l;
        char *s = strbuf__take(&part, &l);
        send_msg(t, c, s ? ef_val_str_take(s, l) : ef_val_str(""), ip, port);
        if (c->closed) {
            return;
        }
        start += plen + nl;
    }
    memmove(c->buf.p, d + start, c->buf.n - start);
    c->buf.n -= start;
}

/* A chunk of data as its datatype says: bytes, or UTF-8 / Base64 text. */
static void on_data(struct tcp_in *t, struct conn *c, const char *data, size_t len)
{
    struct ef_val *chunk = NULL;
    const char *cd = data;
    size_t cl = len;
    if (!strcmp(t->datatype, "utf8")) {
        chunk = js__utf8_decode((const uint8_t *)data, len);
    } else if (!strcmp(t->datatype, "base64")) {
        struct strbuf b = {0};
        base64__encode(&b, data, len);
        size_t n;
        char *s = strbuf__take(&b, &n);
        chunk = s ? ef_val_str_take(s, n) : NULL;
    }
    if (chunk) {
        cd = ef_val_str_get(chunk);
        cl = ef_val_str_len(chunk);
    }
    const char *ip = t->is_server && c->have_peer ? c->ip : NULL;
    /* the client splits utf8 only; the server any text */
    bool split = t->newline[0] && (t->is_server ? is_text(t) : !strcmp(t->datatype, "utf8"));
    if (t->stream && split) {
        strbuf__add(&c->buf, cd, cl);
        split_send(t, c, ip, c->port);
    } else if (t->stream) {
        if (chunk) {
            send_msg(t, c, ef_val_ref(chunk), ip, c->port);
        } else {
            send_msg(t, c, ef_val_buf(data, len), ip, c->port);
        }
    } else {
        strbuf__add(&c->buf, cd, cl);
        if (t->is_server && c->have_peer) {
            c->have_from = true;
        }
    }
    ef_val_unref(chunk);
}

/* socket 'end': what is pending goes out as Node-RED does it. */
static void on_end(struct tcp_in *t, struct conn *c)
{
    if (!c->has_buf) {
        return;
    }
    if (t->is_server) {
        if (!t->stream || (!strcmp(t->datatype, "utf8") && t->newline[0]) ||
            !strcmp(t->datatype, "base64")) {
            if (c->buf.n > 0) {
                send_msg(t, c, buf_val(t, c), c->have_from ? c->ip : NULL, c->port);
            }
            c->has_buf = false;
        }
    } else if (!t->stream || (!strcmp(t->datatype, "utf8") && t->newline[0] && c->buf.n > 0)) {
        if (c->buf.n > 0) {
            t->end_flag = true; /* reconnect quickly only if something came */
            send_msg(t, c, buf_val(t, c), NULL, 0);
        }
        c->has_buf = false;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = malloc(65536);
    buf->len = buf->base ? 65536 : 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = (struct conn *)s;
    struct tcp_in *t = c->owner;
    if (nread > 0 && t) {
        if (c->idle) {
            ef_timer_start(c->idle, (uint64_t)t->socket_timeout, 0);
        }
        on_data(t, c, buf->base, (size_t)nread);
        if (c->buf.n > TCP_PENDING_MAX && !c->closed) {
            /* edgeflow's bound (Node-RED keeps it all): the peer is cut off */
            ef_node_error(t->n, NULL,
                          "more than %u bytes from %s:%d without a delimiter or end: "
                          "connection closed",
                          TCP_PENDING_MAX, c->have_peer ? c->ip : t->host, c->port);
            c->buf.n = 0;
            c->has_buf = false;
            conn_close(c);
        }
    }
    free(buf->base);
    if (nread == UV_EOF) {
        /* allowHalfOpen is false: the peer's end ends ours, and the socket closes */
        if (t) {
            on_end(t, c);
        }
        conn_close(c);
    } else if (nread < 0) {
        if (t) {
            ef_node_log(t->n, "Error: read %s", uv_err_name((int)nread));
        }
        conn_close(c);
    }
}

/* socket 'timeout' (socketTimeout of inactivity): the connection is ended. */
static void on_idle(struct ef_node *n, void *arg)
{
    struct conn *c = arg;
    struct tcp_in *t = ef_node_priv(n);
    ef_node_log(n, "timeout closed socket port %d", t->port);
    conn_end(c);
}

static struct conn *conn_new(struct tcp_in *t)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c) {
        return NULL;
    }
    uv_tcp_init(ef_loop_uv(ef_node_loop(t->n)), &c->s.tcp);
    ef_id_new(c->s.id);
    c->s.destroy = destroy_sess;
    c->owner = t;
    c->has_buf = true;
    return c;
}

/* ---- Server ---- */

static void on_connection(uv_stream_t *server, int status)
{
    struct tcp_in *t = server->data;
    if (status < 0 || !t) {
        return;
    }
    struct conn *c = conn_new(t);
    if (!c) {
        return;
    }
    if (uv_accept(server, (uv_stream_t *)&c->s.tcp) != 0) {
        uv_close((uv_handle_t *)&c->s.tcp, on_conn_freed);
        return;
    }
    uv_tcp_keepalive(&c->s.tcp, 1, 120);
    c->have_peer = tcp__peer(&c->s.tcp, c->ip, sizeof(c->ip), &c->port);
    c->s.open = true;
    if (t->socket_timeout > 0) {
        c->idle = ef_timer_new(t->n, on_idle, c);
        if (c->idle) {
            ef_timer_start(c->idle, (uint64_t)t->socket_timeout, 0);
        }
    }
    tcp_pool__add(&t->pool, &c->s);
    t->count++;
    server_status(t, c, "connect");
    uv_read_start((uv_stream_t *)&c->s.tcp, on_alloc, on_read);
}

static void on_server_closed(uv_handle_t *h)
{
    free(h);
}

static void start_server(struct tcp_in *t)
{
    struct ef_node *n = t->n;
    char err[256];
    if (!listen__port_allowed(n, t->port, err, sizeof(err))) {
        ef_node_error(n, NULL, "unable to listen on port %d, error: %s", t->port, err);
        return;
    }
    t->srv = calloc(1, sizeof(*t->srv));
    if (!t->srv) {
        return;
    }
    uv_tcp_init(ef_loop_uv(ef_node_loop(n)), t->srv);
    t->srv->data = t;
    /* server.listen(port): all addresses, IPv6 with IPv4 mapped when available */
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    uv_ip6_addr("::", t->port, &a6);
    uv_ip4_addr("0.0.0.0", t->port, &a4);
    const char *shown = ":::";
    int rc = uv_tcp_bind(t->srv, (const struct sockaddr *)&a6, 0);
    if (rc == UV_EAFNOSUPPORT || rc == UV_EADDRNOTAVAIL) {
        shown = "0.0.0.0:";
        rc = uv_tcp_bind(t->srv, (const struct sockaddr *)&a4, 0);
    }
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)t->srv, 511, on_connection);
    }
    if (rc != 0) {
        char addr[64];
        snprintf(addr, sizeof(addr), "%s%d", shown, t->port);
        tcp__err_text(err, sizeof(err), rc, "listen", addr);
        ef_node_error(n, NULL, "unable to listen on port %d, error: %s", t->port, err);
        uv_close((uv_handle_t *)t->srv, on_server_closed);
        t->srv = NULL;
        return;
    }
    ef_node_log(n, "listening on port %d", t->port);
}

/* ---- Client ---- */

static void on_dialled(void *ud, int status, const char *err)
{
    struct conn *c = ud;
    struct tcp_in *t = c->owner;
    c->dial = NULL;
    if (!t) {
        return;
    }
    if (status) {
        ef_node_log(t->n, "%s", err);
        conn_close(c);
        return;
    }
    uv_tcp_keepalive(&c->s.tcp, 1, 120);
    c->buf.n = 0;
    c->has_buf = true;
    c->s.open = true;
    t->connected = true;
    ef_node_log(t->n, "connected to %s:%d", t->host, t->port);
    client_status(t, c, "green", "dot", "common.status.connected");
    uv_read_start((uv_stream_t *)&c->s.tcp, on_alloc, on_read);
}

/* Connects; arg is non-NULL for the first connection, announced by cb_init. */
static void setup_client(struct ef_node *n, void *arg)
{
    struct tcp_in *t = ef_node_priv(n);
    if (!arg) {
        ef_node_log(n, "connecting to %s:%d", t->host, t->port);
        client_status(t, NULL, "grey", "dot", "common.status.connecting");
    }
    struct conn *c = conn_new(t);
    if (!c) {
        ef_timer_start(t->reconnect, (uint64_t)t->reconnect_ms, 0);
        return;
    }
    t->client = c;
    tcp_pool__add(&t->pool, &c->s);
    c->dial = tcp__dial(ef_loop_uv(ef_node_loop(n)), &c->s.tcp, t->host, t->port, on_dialled, c);
    if (!c->dial) {
        ef_node_log(n, "Error: out of memory");
        conn_close(c);
    }
}

/* ---- Node ---- */

static void cb_start(struct ef_node *n)
{
    struct tcp_in *t = ef_node_priv(n);
    if (t->tls[0]) {
        ef_node_error(n, NULL, "TLS is not supported by edgeflow's tcp nodes (tls %s)", t->tls);
        return;
    }
    if (t->port < 0) {
        ef_node_error(n, NULL, "Invalid port");
        return;
    }
    if (t->is_server) {
        start_server(t);
    } else {
        setup_client(n, t);
    }
}

static void cb_close(struct ef_node *n)
{
    struct tcp_in *t = ef_node_priv(n);
    t->closing = true;
    if (t->srv) {
        uv_close((uv_handle_t *)t->srv, on_server_closed);
        t->srv = NULL;
        ef_node_log(n, "stopped listening on port");
    }
    /* every connection is ended (server) or destroyed (client); the node lets go of them */
    while (t->pool.head) {
        struct conn *c = (struct conn *)t->pool.head;
        detach(c);
        if (!c->closed) {
            c->closed = true;
            uv_close((uv_handle_t *)&c->s.tcp, on_conn_freed);
        }
    }
    free(t->newline);
    t->newline = NULL;
}

static int cb_init(struct ef_node *n, const struct ef_val *config)
{
    (void)config;
    struct tcp_in *t = ef_node_priv(n);
    t->n = n;
    t->port = tcp__port(js__to_number(t->port_cfg));
    if (ef_val_type(t->server_cfg) == EF_BOOL) {
        t->is_server = ef_val_bool_get(t->server_cfg);
    } else {
        t->is_server = !strcmp(ef_val_str_get(t->server_cfg), "server");
    }
    t->stream = !t->datamode[0] || !strcmp(t->datamode, "stream");
    if (!t->datatype[0]) {
        t->datatype = "buffer";
    }
    t->newline = unescape_newline(t->newline_cfg);
    if (!t->newline) {
        ef_node_error(n, NULL, "out of memory");
        return EF_ENOMEM;
    }
    t->socket_timeout = tcp__setting_ms(n, "socketTimeout", 0);
    t->reconnect_ms = tcp__setting_ms(n, "socketReconnectTime", 10000);
    if (!t->is_server) {
        t->reconnect = ef_timer_new(n, setup_client, NULL);
        if (!t->reconnect) {
            return EF_ENOMEM;
        }
        /* Node-RED starts connecting in the constructor: this status reaches no status node */
        ef_node_log(n, "connecting to %s:%d", t->host, t->port);
        client_status(t, NULL, "grey", "dot", "common.status.connecting");
    }
    return 0;
}

/* The tcp in node type. */
const struct ef_node_type ef_type_tcp_in = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "tcp in",
    .description = "Receives data over TCP as a server or a client",
    .category = "network",
    .inputs = 0,
    .outputs = 1,
    .props = tcp_in_props,
    .priv_size = sizeof(struct tcp_in),
    .cb_init = cb_init,
    .cb_start = cb_start,
    .cb_close = cb_close,
};
