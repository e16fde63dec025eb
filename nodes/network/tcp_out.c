/*
 * tcp_out.c - the tcp out node (Node-RED 31-tcpin.js "tcp out"): writes
 * msg.payload (a Buffer as it is, a string decoded from Base64 when
 * `base64`, anything else as text) to a connection:
 *   beserver "client"  connects to host:port and reconnects (socketReconnectTime);
 *                      `end` closes the connection after each message
 *   beserver "server"  listens on port and writes to every connected client
 *                      (`end`: then ends each connection)
 *   beserver "reply"   writes to the tcp in connection named by msg._session.id,
 *                      or to every tcp in connection when the message has no
 *                      tcp session; msg.reset true closes instead of writing
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "engine.h"
#include "js.h"
#include "lib/listen_access.h"
#include "lib/tcp_util.h"

enum mode { MODE_CLIENT, MODE_SERVER, MODE_REPLY };

struct sock {
    uv_tcp_t tcp;          /* first */
    struct tcp_out *owner; /* NULL once the node has closed */
    struct tcp_dial *dial;
    struct sock *next;
    char ip[INET6_ADDRSTRLEN];
    int port;
    bool closed, ended;
    uv_shutdown_t shut;
    struct ef_timer *idle; /* server mode with socketTimeout */
};

struct tcp_out {
    struct ef_node *n;
    const char *host, *beserver, *tls;
    const struct ef_val *port_cfg;
    bool base64, doend;
    enum mode mode;
    int port;
    bool closing, connected, end_flag;
    double reconnect_ms, socket_timeout;
    struct sock *client; /* client mode */
    struct sock *socks;  /* server mode: connected sockets */
    uv_tcp_t *srv;       /* server mode; freed in its close callback */
    struct ef_timer *reconnect;
    uint64_t dropped; /* writes refused because a peer does not read */
};

static const struct ef_prop tcp_out_props[] = {
    {EF_PROP_STR, "host", "\"\"", false, "host to connect to (client)",
     offsetof(struct tcp_out, host)},
    {EF_PROP_ANY, "port", "\"\"", false, "port to connect to or listen on",
     offsetof(struct tcp_out, port_cfg)},
    {EF_PROP_STR, "beserver", "\"client\"", false, "client, server or reply",
     offsetof(struct tcp_out, beserver)},
    {EF_PROP_BOOL, "base64", "false", false, "decode string payloads from Base64",
     offsetof(struct tcp_out, base64)},
    {EF_PROP_BOOL, "end", "false", false, "close the connection after each message",
     offsetof(struct tcp_out, doend)},
    {EF_PROP_STR, "tls", "\"\"", false, "TLS configuration (not supported)",
     offsetof(struct tcp_out, tls)},
    {EF_PROP_END},
};

static void setup_client(struct ef_node *n, void *arg);

static void on_sock_freed(uv_handle_t *h)
{
    free(h);
}

static size_t count_socks(const struct tcp_out *o)
{
    size_t c = 0;
    for (const struct sock *s = o->socks; s; s = s->next) {
        c++;
    }
    return c;
}

static void server_status(struct tcp_out *o)
{
    char text[64];
    tcp__connections_text(text, sizeof(text), count_socks(o));
    ef_node_status(o->n, NULL, NULL, text);
}

static void unlink_sock(struct tcp_out *o, struct sock *s)
{
    for (struct sock **pp = &o->socks; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            return;
        }
    }
}

/* socket 'close' */
static void sock_close(struct sock *s)
{
    if (s->closed) {
        return;
    }
    s->closed = true;
    struct tcp_out *o = s->owner;
    s->owner = NULL;
    ef_timer_free(s->idle);
    s->idle = NULL;
    tcp__dial_cancel(s->dial);
    s->dial = NULL;
    if (o && o->mode == MODE_SERVER) {
        unlink_sock(o, s);
        ef_node_log(o->n, "connection closed from %s:%d", s->ip, s->port);
        server_status(o);
    } else if (o) {
        o->client = NULL;
        ef_node_status(o->n, "red", "ring", "common.status.disconnected");
        o->connected = false;
        if (!o->closing) {
            if (o->end_flag) {
                o->end_flag = false;
                ef_timer_start(o->reconnect, 20, 0);
            } else {
                ef_node_log(o->n, "connection lost to %s:%d", o->host, o->port);
                ef_timer_start(o->reconnect, (uint64_t)o->reconnect_ms, 0);
            }
        }
    }
    uv_close((uv_handle_t *)&s->tcp, on_sock_freed);
}

static void touch(struct sock *s)
{
    if (s->idle && s->owner) {
        ef_timer_start(s->idle, (uint64_t)s->owner->socket_timeout, 0);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = malloc(65536);
    buf->len = buf->base ? 65536 : 0;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct sock *s = (struct sock *)st;
    free(buf->base);
    if (nread >= 0) {
        touch(s);
        return; /* what a peer sends is ignored */
    }
    struct tcp_out *o = s->owner;
    if (o && nread == UV_EOF && o->mode == MODE_CLIENT) {
        /* client 'end' */
        ef_node_status(o->n, NULL, NULL, NULL);
        o->connected = false;
    } else if (o && nread != UV_EOF) {
        if (o->mode == MODE_SERVER) {
            ef_node_log(o->n, "socket error from %s:%d", s->ip, s->port);
        } else {
            ef_node_log(o->n, "error: Error: read %s", uv_err_name((int)nread));
        }
    }
    sock_close(s);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct sock *s = req->data;
    if (status) {
        sock_close(s);
    }
}

/* socket.end(): FIN after what was written; closes when the peer has ended too. */
static void sock_end(struct sock *s)
{
    if (s->ended || s->closed) {
        return;
    }
    s->ended = true;
    s->shut.data = s;
    if (uv_shutdown(&s->shut, (uv_stream_t *)&s->tcp, on_shutdown) != 0) {
        sock_close(s);
    }
}

/* ---- Client ---- */

static void on_dialled(void *ud, int status, const char *err)
{
    struct sock *s = ud;
    struct tcp_out *o = s->owner;
    s->dial = NULL;
    if (!o) {
        return;
    }
    if (status) {
        ef_node_log(o->n, "error: %s", err);
        sock_close(s);
        return;
    }
    uv_tcp_keepalive(&s->tcp, 1, 120);
    o->connected = true;
    ef_node_log(o->n, "connected to %s:%d", o->host, o->port);
    ef_node_status(o->n, "green", "dot", "common.status.connected");
    uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
}

/* Connects; arg is non-NULL for the first connection, announced by cb_init. */
static void setup_client(struct ef_node *n, void *arg)
{
    struct tcp_out *o = ef_node_priv(n);
    if (!arg) {
        ef_node_log(n, "connecting to %s:%d", o->host, o->port);
        ef_node_status(n, "grey", "dot", "common.status.connecting");
    }
    struct sock *s = calloc(1, sizeof(*s));
    if (!s) {
        ef_timer_start(o->reconnect, (uint64_t)o->reconnect_ms, 0);
        return;
    }
    uv_tcp_init(ef_loop_uv(ef_node_loop(n)), &s->tcp);
    s->owner = o;
    o->client = s;
    s->dial = tcp__dial(ef_loop_uv(ef_node_loop(n)), &s->tcp, o->host, o->port, on_dialled, s);
    if (!s->dial) {
        sock_close(s);
    }
}

/* ---- Server ---- */

/* socket 'timeout' (socketTimeout of inactivity): the connection is ended. */
static void on_idle(struct ef_node *n, void *arg)
{
    struct tcp_out *o = ef_node_priv(n);
    ef_node_log(n, "timeout closed socket port %d", o->port);
    sock_end(arg);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct tcp_out *o = server->data;
    if (status < 0 || !o) {
        return;
    }
    struct sock *s = calloc(1, sizeof(*s));
    if (!s) {
        return;
    }
    uv_tcp_init(server->loop, &s->tcp);
    if (uv_accept(server, (uv_stream_t *)&s->tcp) != 0) {
        uv_close((uv_handle_t *)&s->tcp, on_sock_freed);
        return;
    }
    uv_tcp_keepalive(&s->tcp, 1, 120);
    tcp__peer(&s->tcp, s->ip, sizeof(s->ip), &s->port);
    s->owner = o;
    if (o->socket_timeout > 0) {
        s->idle = ef_timer_new(o->n, on_idle, s);
        touch(s);
    }
    ef_node_log(o->n, "connection from %s:%d", s->ip, s->port);
    s->next = NULL;
    struct sock **pp = &o->socks;
    while (*pp) {
        pp = &(*pp)->next;
    }
    *pp = s;
    server_status(o);
    uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
}

static void on_server_closed(uv_handle_t *h)
{
    free(h);
}

static void start_server(struct tcp_out *o)
{
    struct ef_node *n = o->n;
    char err[256];
    if (!listen__port_allowed(n, o->port, err, sizeof(err))) {
        ef_node_error(n, NULL, "unable to listen on port %d, error: %s", o->port, err);
        return;
    }
    o->srv = calloc(1, sizeof(*o->srv));
    if (!o->srv) {
        return;
    }
    uv_tcp_init(ef_loop_uv(ef_node_loop(n)), o->srv);
    o->srv->data = o;
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    uv_ip6_addr("::", o->port, &a6);
    uv_ip4_addr("0.0.0.0", o->port, &a4);
    const char *shown = ":::";
    int rc = uv_tcp_bind(o->srv, (const struct sockaddr *)&a6, 0);
    if (rc == UV_EAFNOSUPPORT || rc == UV_EADDRNOTAVAIL) {
        shown = "0.0.0.0:";
        rc = uv_tcp_bind(o->srv, (const struct sockaddr *)&a4, 0);
    }
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)o->srv, 511, on_connection);
    }
    if (rc != 0) {
        char addr[64];
        snprintf(addr, sizeof(addr), "%s%d", shown, o->port);
        tcp__err_text(err, sizeof(err), rc, "listen", addr);
        ef_node_error(n, NULL, "unable to listen on port %d, error: %s", o->port, err);
        uv_close((uv_handle_t *)o->srv, on_server_closed);
        o->srv = NULL;
        return;
    }
    ef_node_log(n, "listening on port %d", o->port);
}

/* ---- Input ---- */

/* tcp__write, counting and warning (the first, then every 1000th) what a full peer refuses. */
static void out_write(struct tcp_out *o, uv_stream_t *s, const char *data, size_t len)
{
    if (tcp__write(s, data, len) == UV_ENOBUFS && o->dropped++ % 1000 == 0) {
        ef_node_warn(o->n, "peer does not read (%u bytes queued): message dropped (%llu so far)",
                     TCP_WRITE_QUEUE_MAX, (unsigned long long)o->dropped);
    }
}

static void write_sess(struct tcp_out *o, struct tcp_sess *s, const char *data, size_t len)
{
    if (s->open) {
        out_write(o, (uv_stream_t *)&s->tcp, data, len);
    }
}

static int cb_input(struct ef_node *n, struct ef_msg *msg)
{
    struct tcp_out *o = ef_node_priv(n);
    const struct ef_val *p = ef_msg_get(msg, "payload");
    bool has = p && ef_val_type(p) != EF_NULL; /* payload != null */
    size_t len = 0;
    char *data = NULL;
    if (o->mode == MODE_REPLY || has) {
        data = tcp__payload_bytes(p, o->base64, &len);
        if (!data) {
            ef_node_error(n, msg, "out of memory");
            ef_msg_free(msg);
            return EF_INPUT_DONE;
        }
    }
    if (o->mode == MODE_CLIENT) {
        if (o->connected && has && o->client) {
            out_write(o, (uv_stream_t *)&o->client->tcp, data, len);
            if (o->doend) {
                o->end_flag = true;
                ef_node_status(n, NULL, NULL, NULL);
                sock_close(o->client);
            }
        }
    } else if (o->mode == MODE_SERVER) {
        if (has) {
            for (struct sock *s = o->socks; s; s = s->next) {
                if (!s->ended) {
                    out_write(o, (uv_stream_t *)&s->tcp, data, len);
                    touch(s);
                    if (o->doend) {
                        sock_end(s);
                    }
                }
            }
        }
    } else {
        const struct ef_val *ses = ef_msg_get(msg, "_session");
        const struct ef_val *reset = ef_msg_get(msg, "reset");
        bool do_reset = reset && ef_val_type(reset) == EF_BOOL && ef_val_bool_get(reset);
        const struct ef_val *st = ses ? ef_val_obj_get(ses, "type") : NULL;
        if (st && ef_val_type(st) == EF_STR && !strcmp(ef_val_str_get(st), "tcp")) {
            char *id = js__to_string(ef_val_obj_get(ses, "id"), NULL);
            struct tcp_sess *s = id ? tcp_pool__find(n, id) : NULL;
            free(id);
            if (s && do_reset) {
                s->destroy(s);
            } else if (s) {
                write_sess(o, s, data, len);
            }
        } else {
            size_t cnt;
            struct tcp_sess **all = tcp_pool__all(n, &cnt);
            for (size_t i = 0; i < cnt; i++) {
                if (do_reset) {
                    all[i]->destroy(all[i]);
                } else {
                    write_sess(o, all[i], data, len);
                }
            }
            free(all);
        }
    }
    free(data);
    ef_msg_free(msg);
    return EF_INPUT_DONE;
}

/* ---- Node ---- */

static void cb_start(struct ef_node *n)
{
    struct tcp_out *o = ef_node_priv(n);
    if (o->tls[0] && o->mode != MODE_REPLY) {
        ef_node_error(n, NULL, "TLS is not supported by edgeflow's tcp nodes (tls %s)", o->tls);
        return;
    }
    if (o->port < 0 && o->mode != MODE_REPLY) {
        ef_node_error(n, NULL, "Invalid port");
        return;
    }
    if (o->mode == MODE_CLIENT) {
        setup_client(n, o);
    } else if (o->mode == MODE_SERVER) {
        start_server(o);
    }
}

static void cb_close(struct ef_node *n)
{
    struct tcp_out *o = ef_node_priv(n);
    o->closing = true;
    if (o->client) {
        struct sock *s = o->client;
        o->client = NULL;
        s->owner = NULL;
        tcp__dial_cancel(s->dial);
        s->dial = NULL;
        sock_close(s);
    }
    while (o->socks) {
        struct sock *s = o->socks;
        o->socks = s->next;
        s->owner = NULL;
        ef_timer_free(s->idle);
        s->idle = NULL;
        sock_close(s);
    }
    if (o->srv) {
        uv_close((uv_handle_t *)o->srv, on_server_closed);
        o->srv = NULL;
        ef_node_log(n, "stopped listening on port");
    }
}

static int cb_init(struct ef_node *n, const struct ef_val *config)
{
    (void)config;
    struct tcp_out *o = ef_node_priv(n);
    o->n = n;
    o->port = tcp__port(js__to_number(o->port_cfg));
    o->mode = !strcmp(o->beserver, "server")  ? MODE_SERVER
              : !strcmp(o->beserver, "reply") ? MODE_REPLY
                                              : MODE_CLIENT;
    o->reconnect_ms = tcp__setting_ms(n, "socketReconnectTime", 10000);
    o->socket_timeout = tcp__setting_ms(n, "socketTimeout", 0);
    if (o->mode == MODE_CLIENT) {
        o->reconnect = ef_timer_new(n, setup_client, NULL);
        if (!o->reconnect) {
            return EF_ENOMEM;
        }
        /* Node-RED starts connecting in the constructor: this status reaches no status node */
        ef_node_log(n, "connecting to %s:%d", o->host, o->port);
        ef_node_status(n, "grey", "dot", "common.status.connecting");
    } else if (o->mode == MODE_SERVER) {
        server_status(o); /* set in the constructor too */
    }
    return 0;
}

/* The tcp out node type. */
const struct ef_node_type ef_type_tcp_out = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "tcp out",
    .description = "Sends data over TCP as a client, a server or a reply to tcp in",
    .category = "network",
    .inputs = 1,
    .outputs = 0,
    .props = tcp_out_props,
    .priv_size = sizeof(struct tcp_out),
    .cb_init = cb_init,
    .cb_start = cb_start,
    .cb_input = cb_input,
    .cb_close = cb_close,
};
