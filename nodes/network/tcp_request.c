/*
 * tcp_request.c - the tcp request node (Node-RED 31-tcpin.js "tcp
 * request"): writes msg.payload to server:port (or msg.host / msg.port when
 * the node has none) and sends back what the peer answers, as a copy of the
 * last message sent on that connection with the answer as payload (a
 * Buffer, or a string when `ret` is "string"). `out` says when:
 *   "time"   splitc ms after the first byte of the answer, then closes
 *   "count"  after splitc bytes, then closes
 *   "char"   after the byte splitc ("\n", "0x0a", "a"), then closes
 *   "immed"  never: closes as soon as the payload is written
 *   "sit"    each chunk as it comes (per `newline`-delimited line for
 *            strings); the connection stays open; msg.reset true closes all,
 *            "host:port" one
 * Connections are kept per "host:port" within the node, with a queue of the
 * messages waiting for the connection (settings.tcpMsgQueueSize, 1000).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "engine.h"
#include "js.h"
#include "settings.h"
#include "strbuf.h"
#include "lib/mqtt_util.h"
#include "lib/tcp_util.h"

#define BUF_MAX 65536

struct qitem {
    struct ef_msg *msg;
    struct qitem *next;
};

/* clients[connection_id] */
struct client {
    char *id;
    struct qitem *qhead, *qtail;
    size_t qlen;
    struct ef_msg *last; /* lastMsg (a share) */
    bool connected, connecting;
    struct csock *sock; /* `client`; NULL once it ended */
    bool timeout;       /* a "time" timer is pending */
    struct client *next;
};

/* One socket with what its handlers closed over. */
struct csock {
    uv_tcp_t tcp;       /* first */
    struct treq *owner; /* NULL once the node has closed */
    char *id;
    struct ef_msg *msg; /* the message whose input made it (for errors) */
    struct tcp_dial *dial;
    unsigned char *buf; /* up to bufsize bytes are kept, as in a fixed Buffer */
    size_t bufsize, i;
    uv_timer_t tmr; /* "time" mode: outlives the connection until it fires */
    bool tmr_init;
    int handles;           /* open libuv handles (tcp, tmr); freed at 0 */
    struct treq *home;     /* the node, until it closes */
    struct ef_timer *idle; /* settings.socketTimeout */
    struct strbuf chunk;   /* "sit" mode strings */
    bool closed, ended, timed_out;
    struct csock *next_all;
};

struct treq {
    struct ef_node *n;
    const char *server, *out_cfg, *ret, *newline_cfg, *tls;
    const struct ef_val *port_cfg, *splitc_cfg;
    bool trim;
    /* derived */
    char out[8];
    double splitc, port;
    char *newline;
    char *last_id;
    size_t queue_max;
    double socket_timeout;
    struct client *clients;
    struct csock *socks; /* every live socket */
};

static const struct ef_prop tcp_request_props[] = {
    {EF_PROP_STR, "server", "\"\"", false, "host to connect to (else msg.host)",
     offsetof(struct treq, server)},
    {EF_PROP_ANY, "port", "\"\"", false, "port (else msg.port)", offsetof(struct treq, port_cfg)},
    {EF_PROP_STR, "out", "\"\"", false, "time, char, count, sit or immed",
     offsetof(struct treq, out_cfg)},
    {EF_PROP_STR, "ret", "\"buffer\"", false, "buffer or string", offsetof(struct treq, ret)},
    {EF_PROP_ANY, "splitc", NULL, false, "ms, byte count or character that ends the answer",
     offsetof(struct treq, splitc_cfg)},
    {EF_PROP_STR, "newline", "\"\"", false, "delimiter splitting string answers (sit)",
     offsetof(struct treq, newline_cfg)},
    {EF_PROP_BOOL, "trim", "false", false, "keep the delimiter at the end of each part",
     offsetof(struct treq, trim)},
    {EF_PROP_STR, "tls", "\"\"", false, "TLS configuration (not supported)",
     offsetof(struct treq, tls)},
    {EF_PROP_END},
};

static void start_connect(struct treq *r, struct csock *s, const char *host, int port);
static void touch(struct csock *s);
static void on_idle(struct ef_node *n, void *arg);

static struct client *find_client(struct treq *r, const char *id)
{
    for (struct client *c = r->clients; c; c = c->next) {
        if (!strcmp(c->id, id)) {
            return c;
        }
    }
    return NULL;
}

static size_t count_clients(const struct treq *r)
{
    size_t n = 0;
    for (const struct client *c = r->clients; c; c = c->next) {
        n++;
    }
    return n;
}

/* delete clients[id] (its socket, if any, lives on until it closes). */
static void delete_client(struct treq *r, struct client *c)
{
    for (struct client **pp = &r->clients; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    while (c->qhead) {
        struct qitem *q = c->qhead;
        c->qhead = q->next;
        ef_msg_free(q->msg);
        free(q);
    }
    ef_msg_free(c->last);
    free(c->id);
    free(c);
}

static void status_connections(struct treq *r, const char *fill, bool ring_when_none)
{
    char text[64];
    size_t cc = count_clients(r);
    tcp__connections_text(text, sizeof(text), cc);
    ef_node_status(r->n, fill, ring_when_none && cc == 0 ? "ring" : "dot", text);
}

/* ---- Sockets ---- */

/* One of the socket's handles has closed; the last one frees it. */
static void sock_release(struct csock *s)
{
    if (--s->handles > 0) {
        return;
    }
    if (s->home) {
        for (struct csock **pp = &s->home->socks; *pp; pp = &(*pp)->next_all) {
            if (*pp == s) {
                *pp = s->next_all;
                break;
            }
        }
    }
    free(s->id);
    free(s->buf);
    free(s->chunk.p);
    ef_msg_free(s->msg);
    free(s);
}

static void on_sock_freed(uv_handle_t *h)
{
    sock_release((struct csock *)h);
}

static void on_tmr_closed(uv_handle_t *h)
{
    sock_release(h->data);
}

/* Closes the "time" timer unless it is still to fire. */
static void close_tmr(struct csock *s, bool even_pending)
{
    if (s->tmr_init && !uv_is_closing((uv_handle_t *)&s->tmr) &&
        (even_pending || !uv_is_active((uv_handle_t *)&s->tmr))) {
        uv_timer_stop(&s->tmr);
        uv_close((uv_handle_t *)&s->tmr, on_tmr_closed);
    }
}

/* socket.destroy(), then its 'close' handling. */
static void sock_destroy(struct csock *s)
{
    if (s->closed) {
        return;
    }
    s->closed = true;
    struct treq *r = s->owner;
    tcp__dial_cancel(s->dial);
    s->dial = NULL;
    close_tmr(s, false);
    ef_timer_free(s->idle);
    s->idle = NULL;
    if (r) {
        struct client *c = find_client(r, s->id);
        if (c) {
            if (c->sock == s) {
                c->sock = NULL;
            }
            c->connected = c->connecting = false;
        }
        for (struct client *k = r->clients; k; k = k->next) {
            if (k->sock == s) {
                k->sock = NULL;
            }
        }
    }
    s->owner = NULL;
    uv_close((uv_handle_t *)&s->tcp, on_sock_freed);
}

/* Sends a copy of the client's last message with `payload` (adopted). */
static void send_answer(struct treq *r, struct client *c, struct ef_val *payload)
{
    struct ef_msg *m = c->last ? ef_msg_clone(c->last) : ef_msg_new();
    if (!m) {
        ef_val_unref(payload);
        return;
    }
    ef_msg_set_take(m, "payload", payload);
    if (ef_node_send(r->n, 0, m) != 0) {
        ef_msg_free(m);
    }
}

/* The first `len` bytes of the socket's fixed buffer as the answer's payload. */
static struct ef_val *buf_payload(struct treq *r, struct csock *s, size_t len)
{
    unsigned char *b = calloc(1, len + 1);
    if (!b) {
        return NULL;
    }
    memcpy(b, s->buf, len < s->bufsize ? len : s->bufsize);
    if (!strcmp(r->ret, "string")) {
        struct ef_val *v = js__utf8_decode(b, len);
        free(b);
        return v;
    }
    return ef_val_buf_take(b, len);
}

/* The answer is complete: send it, and destroy the connection (delete clients[id]). */
static void complete(struct treq *r, struct client *c, struct csock *s, size_t len)
{
    send_answer(r, c, buf_payload(r, s, len));
    if (c->sock) {
        ef_node_status(r->n, NULL, NULL, NULL);
        struct csock *cs = c->sock;
        delete_client(r, c);
        sock_destroy(cs);
    }
}

static void on_time(uv_timer_t *t)
{
    struct csock *s = t->data;
    struct treq *r = s->home;
    struct client *c = r ? find_client(r, s->id) : NULL;
    if (c) {
        c->timeout = false;
        complete(r, c, s, s->i + 1);
    }
    if (s->closed) {
        close_tmr(s, false);
    }
}

static void on_sit_data(struct treq *r, struct csock *s, const char *data, size_t len)
{
    struct client *c = find_client(r, s->id);
    if (!c) {
        return;
    }
    if (strcmp(r->ret, "string") != 0) {
        send_answer(r, c, ef_val_buf(data, len));
        return;
    }
    struct ef_val *text = js__utf8_decode((const uint8_t *)data, len);
    if (!text) {
        return;
    }
    if (!r->newline[0]) {
        send_answer(r, c, text);
        return;
    }
    strbuf__add(&s->chunk, ef_val_str_get(text), ef_val_str_len(text));
    ef_val_unref(text);
    size_t nl = strlen(r->newline), start = 0;
    for (;;) {
        const char *hit = s->chunk.n - start >= nl
                              ? memmem(s->chunk.p + start, s->chunk.n - start, r->newline, nl)
                              : NULL;
        if (!hit) {
            break;
        }
        size_t plen = (size_t)(hit - (s->chunk.p + start));
        struct strbuf part = {0};
        strbuf__add(&part, s->chunk.p + start, plen);
        if (r->trim) {
            strbuf__add(&part, r->newline, nl);
        }
        size_t l;
        char *p = strbuf__take(&part, &l);
        send_answer(r, c, p ? ef_val_str_take(p, l) : ef_val_str(""));
        start += plen + nl;
    }
    memmove(s->chunk.p, s->chunk.p + start, s->chunk.n - start);
    s->chunk.n -= start;
    s->chunk.p[s->chunk.n] = 0;
}

static void keep_byte(struct csock *s, size_t at, unsigned char b)
{
    if (at < s->bufsize) {
        s->buf[at] = b;
    }
}

static void on_data(struct treq *r, struct csock *s, const unsigned char *data, size_t len)
{
    if (!strcmp(r->out, "sit")) {
        on_sit_data(r, s, (const char *)data, len);
        return;
    }
    for (size_t j = 0; j < len && !s->closed; j++) {
        struct client *c = find_client(r, s->id);
        if (!strcmp(r->out, "time")) {
            if (!c) {
                continue;
            }
            if (c->timeout) {
                s->i++;
                keep_byte(s, s->i, data[j]);
            } else {
                if (!s->tmr_init) {
                    uv_timer_init(ef_loop_uv(ef_node_loop(r->n)), &s->tmr);
                    s->tmr.data = s;
                    s->tmr_init = true;
                    s->handles++;
                }
                double ms = r->splitc;
                uv_timer_start(&s->tmr, on_time, isnan(ms) || ms < 1 ? 1 : (uint64_t)ms, 0);
                c->timeout = true;
                s->i = 0;
                keep_byte(s, 0, data[j]);
            }
        } else if (!strcmp(r->out, "count")) {
            keep_byte(s, s->i, data[j]);
            s->i++;
            if ((double)s->i >= r->splitc && c) {
                size_t len2 = s->i;
                s->i = 0;
                complete(r, c, s, len2);
            }
        } else {
            keep_byte(s, s->i, data[j]);
            s->i++;
            if ((double)data[j] == r->splitc && c) {
                size_t len2 = s->i;
                s->i = 0;
                complete(r, c, s, len2);
            }
        }
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = malloc(65536);
    buf->len = buf->base ? 65536 : 0;
}

/* socket 'error': status, "connect failed host:port" with the message, destroy. */
static void sock_error(struct treq *r, struct csock *s)
{
    ef_node_status(r->n, "red", "ring", "common.status.error");
    ef_node_error(r->n, s->msg, "connect failed %s", s->id);
    struct client *c = find_client(r, s->id);
    if (c && c->sock) {
        struct csock *cs = c->sock;
        delete_client(r, c);
        sock_destroy(cs);
    }
    sock_destroy(s);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct csock *s = (struct csock *)st;
    struct treq *r = s->owner;
    if (nread > 0 && r) {
        touch(s);
        on_data(r, s, (const unsigned char *)buf->base, (size_t)nread);
    }
    free(buf->base);
    if (nread >= 0 || !r || s->closed) {
        return;
    }
    if (nread == UV_EOF) {
        /* 'end' */
        ef_node_status(r->n, "grey", "ring", "common.status.disconnected");
        struct client *c = find_client(r, s->id);
        if (c && c->sock) {
            c->connected = c->connecting = false;
            c->sock = NULL;
        }
        sock_destroy(s);
    } else {
        sock_error(r, s);
    }
}

static void write_payload(struct csock *s, const struct ef_msg *m)
{
    const struct ef_val *p = ef_msg_get(m, "payload");
    if (!p) {
        return;
    }
    if (ef_val_type(p) == EF_BUF) {
        tcp__write((uv_stream_t *)&s->tcp, ef_val_buf_data(p), ef_val_buf_len(p));
    } else {
        tcp__write((uv_stream_t *)&s->tcp, ef_val_str_get(p), ef_val_str_len(p));
    }
}

static void on_shut(uv_shutdown_t *req, int status)
{
    (void)status;
    free(req);
}

static void on_dialled(void *ud, int status, const char *err)
{
    struct csock *s = ud;
    struct treq *r = s->owner;
    s->dial = NULL;
    (void)err;
    if (!r) {
        return;
    }
    if (status) {
        sock_error(r, s);
        return;
    }
    uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
    if (r->socket_timeout > 0) {
        s->idle = ef_timer_new(r->n, on_idle, s);
        touch(s);
    }
    status_connections(r, "green", false);
    struct client *c = find_client(r, s->id);
    if (!c || !c->sock) {
        return;
    }
    c->connected = true;
    c->connecting = false;
    while (c->qhead) {
        struct qitem *q = c->qhead;
        c->qhead = q->next;
        c->qlen--;
        write_payload(s, q->msg);
        ef_node_done(r->n, q->msg);
        ef_msg_free(q->msg);
        free(q);
    }
    c->qtail = NULL;
    if (!strcmp(r->out, "time") && r->splitc < 0) {
        /* "immed": end the connection and forget it */
        c->connected = c->connecting = false;
        s->ended = true;
        delete_client(r, c);
        ef_node_status(r->n, NULL, NULL, NULL);
        uv_shutdown_t *sh = malloc(sizeof(*sh));
        if (!sh || uv_shutdown(sh, (uv_stream_t *)&s->tcp, on_shut) != 0) {
            free(sh);
            sock_destroy(s);
        }
    }
}

static struct csock *sock_new(struct treq *r, const char *id, const struct ef_msg *msg);

/* Restarts the socket's inactivity timer (settings.socketTimeout). */
static void touch(struct csock *s)
{
    if (s->idle && s->owner) {
        ef_timer_start(s->idle, (uint64_t)s->owner->socket_timeout, 0);
    }
}

/*
 * socket 'timeout' (settings.socketTimeout of inactivity). Node-RED calls
 * connect() again on the connected socket: the first time Node reports it
 * connected (status common.status.connected), the next time it fails, which
 * ends as a connect error ("connect failed host:port", the client dropped).
 */
static void on_idle(struct ef_node *n, void *arg)
{
    struct csock *s = arg;
    struct treq *r = ef_node_priv(n);
    struct client *c = find_client(r, s->id);
    if (!c) {
        return;
    }
    c->connected = c->connecting = false;
    ef_node_status(n, "grey", "dot", "tcpin.errors.connect-timeout");
    if (c->sock != s) {
        return;
    }
    if (!s->timed_out) {
        s->timed_out = true;
        c->connected = true;
        ef_node_status(n, "green", "dot", "common.status.connected");
        touch(s);
    } else {
        sock_error(r, s);
    }
}

static struct csock *sock_new(struct treq *r, const char *id, const struct ef_msg *msg)
{
    struct csock *s = calloc(1, sizeof(*s));
    if (!s) {
        return NULL;
    }
    s->id = strdup(id);
    s->bufsize = !strcmp(r->out, "count")
                     ? (r->splitc >= 1 && r->splitc <= BUF_MAX ? (size_t)r->splitc
                        : r->splitc == 0                       ? 1
                                                               : BUF_MAX)
                     : BUF_MAX;
    s->buf = calloc(1, s->bufsize);
    s->msg = ef_msg_share(msg);
    if (!s->id || !s->buf) {
        free(s->id);
        free(s->buf);
        ef_msg_free(s->msg);
        free(s);
        return NULL;
    }
    uv_tcp_init(ef_loop_uv(ef_node_loop(r->n)), &s->tcp);
    s->handles = 1;
    s->owner = s->home = r;
    s->next_all = r->socks;
    r->socks = s;
    return s;
}

static void start_connect(struct treq *r, struct csock *s, const char *host, int port)
{
    s->dial = tcp__dial(ef_loop_uv(ef_node_loop(r->n)), &s->tcp, host, port, on_dialled, s);
    if (!s->dial) {
        sock_error(r, s);
    }
}

/* ---- Input ---- */

static void enqueue(struct treq *r, struct client *c, struct ef_msg *msg)
{
    if (c->qlen >= r->queue_max && c->qhead) {
        /* the oldest is dropped */
        struct qitem *q = c->qhead;
        c->qhead = q->next;
        if (!c->qhead) {
            c->qtail = NULL;
        }
        c->qlen--;
        ef_msg_free(q->msg);
        free(q);
    }
    struct qitem *q = calloc(1, sizeof(*q));
    if (!q) {
        ef_msg_free(msg);
        return;
    }
    q->msg = msg;
    if (c->qtail) {
        c->qtail->next = q;
    } else {
        c->qhead = q;
    }
    c->qtail = q;
    c->qlen++;
}

/* msg.reset in "sit" mode: true closes every connection, "host:port" one. */
static void do_reset(struct treq *r, const struct ef_val *reset)
{
    if (ef_val_type(reset) == EF_BOOL && ef_val_bool_get(reset)) {
        struct client *c = r->clients;
        while (c) {
            struct client *next = c->next;
            if (c->sock) {
                struct csock *s = c->sock;
                delete_client(r, c);
                sock_destroy(s);
            }
            c = next;
        }
    }
    if (ef_val_type(reset) == EF_STR && strchr(ef_val_str_get(reset), ':')) {
        struct client *c = find_client(r, ef_val_str_get(reset));
        if (c && c->sock) {
            struct csock *s = c->sock;
            delete_client(r, c);
            sock_destroy(s);
        }
    }
    status_connections(r, "green", true);
}

/* Node's RangeError for a port connect() refuses, e.g. "... Received type string ('abc')." */
static void bad_port_error(struct ef_node *n, const struct ef_msg *msg, const struct ef_val *port,
                           double num)
{
    char desc[160];
    if (port && ef_val_type(port) == EF_STR) {
        snprintf(desc, sizeof(desc), "type string ('%.100s')", ef_val_str_get(port));
    } else {
        struct ef_val *v = ef_val_num(num);
        char *t = js__to_string(v, NULL);
        snprintf(desc, sizeof(desc), "type number (%s)", t ? t : "NaN");
        free(t);
        ef_val_unref(v);
    }
    ef_node_error(n, msg,
                  "RangeError [ERR_SOCKET_BAD_PORT]: Port should be >= 0 and < 65536. Received %s.",
                  desc);
}

static int cb_input(struct ef_node *n, struct ef_msg *msg)
{
    struct treq *r = ef_node_priv(n);
    if (r->tls[0]) {
        ef_node_error(n, msg, "TLS is not supported by edgeflow's tcp nodes (tls %s)", r->tls);
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    const struct ef_val *p = ef_msg_get(msg, "payload");
    if (p && ef_val_type(p) != EF_BUF && ef_val_type(p) != EF_STR) {
        if (ef_val_type(p) == EF_NULL) {
            ef_node_error(n, msg, "TypeError: Cannot read properties of null (reading 'toString')");
            ef_msg_free(msg);
            return EF_INPUT_DONE;
        }
        size_t l;
        char *s = js__to_string(p, &l);
        if (s) {
            ef_msg_set_take(msg, "payload", ef_val_str_take(s, l));
        }
    }
    const struct ef_val *mhost = ef_msg_get(msg, "host");
    const struct ef_val *mport = ef_msg_get(msg, "port");
    bool cfg_port = r->port != 0 && !isnan(r->port);
    char *host = r->server[0] ? strdup(r->server) : js__to_string(mhost, NULL);
    bool host_ok = r->server[0] || ef_val_truthy(mhost);
    bool port_ok = cfg_port || ef_val_truthy(mport);
    char *portstr;
    double portnum;
    if (cfg_port) {
        struct ef_val *pv = ef_val_num(r->port);
        portstr = js__to_string(pv, NULL);
        ef_val_unref(pv);
        portnum = r->port;
    } else {
        portstr = js__to_string(mport, NULL);
        portnum = js__to_number(mport);
    }
    char *id = NULL;
    if (host && portstr) {
        size_t hl = strlen(host), pl = strlen(portstr);
        id = malloc(hl + pl + 2);
        if (id) {
            memcpy(id, host, hl);
            id[hl] = ':';
            memcpy(id + hl + 1, portstr, pl + 1);
        }
    }
    free(portstr);
    if (!id) {
        free(host);
        ef_node_error(n, msg, "out of memory");
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }

    const struct ef_val *reset = ef_msg_get(msg, "reset");
    if (!strcmp(r->out, "sit") && reset && ef_val_truthy(reset)) {
        do_reset(r, reset);
        if (!p) {
            /* no payload: nothing to send, and Node-RED reports no completion */
            free(host);
            free(id);
            ef_msg_free(msg);
            return EF_INPUT_ASYNC;
        }
    }

    if (!r->last_id || strcmp(r->last_id, id) != 0) {
        ef_node_status(n, NULL, NULL, NULL);
        free(r->last_id);
        r->last_id = strdup(id);
    }
    struct client *c = find_client(r, id);
    if (!c) {
        c = calloc(1, sizeof(*c));
        if (!c || !(c->id = strdup(id))) {
            free(c);
            free(host);
            free(id);
            ef_node_error(n, msg, "out of memory");
            ef_msg_free(msg);
            return EF_INPUT_DONE;
        }
        struct client **pp = &r->clients;
        while (*pp) {
            pp = &(*pp)->next;
        }
        *pp = c;
    }
    ef_msg_free(c->last);
    c->last = ef_msg_share(msg);
    const struct ef_msg *origin = msg;
    enqueue(r, c, msg);

    if (!c->connecting && !c->connected) {
        if (c->sock) {
            /* never connected (no host or port): Node-RED drops it for a new socket */
            sock_destroy(c->sock);
        }
        struct csock *s = sock_new(r, id, origin);
        if (!s) {
            ef_node_error(n, origin, "out of memory");
        } else {
            c->sock = s;
            if (host_ok && port_ok && tcp__port(portnum) < 0) {
                /* Node's connect() throws ERR_SOCKET_BAD_PORT: the message is lost */
                bad_port_error(n, origin, cfg_port ? NULL : mport, portnum);
                delete_client(r, c);
                sock_destroy(s);
            } else if (host_ok && port_ok) {
                c->connecting = true;
                start_connect(r, s, host, tcp__port(portnum));
            } else {
                ef_node_warn(n, "Host and/or port not set");
            }
        }
    } else if (!c->connecting && c->connected && c->sock && c->qhead) {
        struct qitem *q = c->qhead;
        c->qhead = q->next;
        if (!c->qhead) {
            c->qtail = NULL;
        }
        c->qlen--;
        write_payload(c->sock, q->msg);
        touch(c->sock);
        ef_node_done(n, q->msg);
        ef_msg_free(q->msg);
        free(q);
    }
    free(host);
    free(id);
    return EF_INPUT_ASYNC;
}

/* ---- Node ---- */

/* The answer delimiter as Node-RED reads splitc for "char": "\n", "0x0a" or a character. */
static double char_code(const struct ef_val *v)
{
    char *s = js__to_string(v, NULL);
    if (!s) {
        return NAN;
    }
    double d = NAN;
    if (s[0] == '\\') {
        static const struct {
            char c;
            const char *code;
        } esc[] = {{'n', "10"}, {'r', "13"}, {'t', "9"}, {'e', "27"}, {'f', "12"}, {'0', "0"}};
        /* each escape's first occurrence becomes its decimal code, then parseInt */
        struct strbuf b = {0};
        strbuf__adds(&b, s);
        char *t = strbuf__take(&b, NULL);
        for (size_t k = 0; t && k < sizeof(esc) / sizeof(esc[0]); k++) {
            char pat[3] = {'\\', esc[k].c, 0};
            char *hit = strstr(t, pat);
            if (hit) {
                struct strbuf o = {0};
                strbuf__add(&o, t, (size_t)(hit - t));
                strbuf__adds(&o, esc[k].code);
                strbuf__adds(&o, hit + 2);
                free(t);
                t = strbuf__take(&o, NULL);
            }
        }
        struct ef_val *tv = t ? ef_val_str(t) : NULL;
        d = js__parse_int(tv);
        ef_val_unref(tv);
        free(t);
    } else if (!strncmp(s, "0x", 2)) {
        struct ef_val *tv = ef_val_str(s);
        d = js__parse_int(tv);
        ef_val_unref(tv);
    } else if (s[0]) {
        /* charCodeAt(0): the first UTF-16 code unit */
        const unsigned char *u = (const unsigned char *)s;
        uint32_t cp = u[0];
        int more = cp >= 0xf0 ? 3 : cp >= 0xe0 ? 2 : cp >= 0xc0 ? 1 : 0;
        cp &= more == 3 ? 0x07 : more == 2 ? 0x0f : more == 1 ? 0x1f : 0x7f;
        for (int k = 1; k <= more && u[k]; k++) {
            cp = (cp << 6) | (u[k] & 0x3f);
        }
        d = cp < 0x10000 ? cp : 0xd800 + ((cp - 0x10000) >> 10);
    }
    free(s);
    return d;
}

static char *unescape_first(const char *s)
{
    struct strbuf b = {0};
    strbuf__adds(&b, s);
    char *t = strbuf__take(&b, NULL);
    static const char from[] = {'n', 'r', 't'}, to[] = {'\n', '\r', '\t'};
    for (size_t k = 0; t && k < 3; k++) {
        char pat[3] = {'\\', from[k], 0};
        char *hit = strstr(t, pat);
        if (hit) {
            *hit = to[k];
            memmove(hit + 1, hit + 2, strlen(hit + 2) + 1);
        }
    }
    return t;
}

static void cb_close(struct ef_node *n)
{
    struct treq *r = ef_node_priv(n);
    while (r->socks) {
        struct csock *s = r->socks;
        r->socks = s->next_all;
        s->owner = s->home = NULL;
        close_tmr(s, true);
        ef_timer_free(s->idle);
        s->idle = NULL;
        tcp__dial_cancel(s->dial);
        s->dial = NULL;
        if (!s->closed) {
            s->closed = true;
            uv_close((uv_handle_t *)&s->tcp, on_sock_freed);
        }
    }
    while (r->clients) {
        delete_client(r, r->clients);
    }
    ef_node_status(n, NULL, NULL, NULL);
    free(r->newline);
    free(r->last_id);
    r->newline = r->last_id = NULL;
}

static int cb_init(struct ef_node *n, const struct ef_val *config)
{
    (void)config;
    struct treq *r = ef_node_priv(n);
    r->n = n;
    r->port = js__to_number(r->port_cfg);
    snprintf(r->out, sizeof(r->out), "%s", r->out_cfg);
    if (!strcmp(r->out, "immed")) {
        r->splitc = -1;
        snprintf(r->out, sizeof(r->out), "time");
    } else if (strcmp(r->out, "char") != 0) {
        r->splitc = js__to_number(r->splitc_cfg);
    } else {
        r->splitc = char_code(r->splitc_cfg);
    }
    if (!r->ret[0]) {
        r->ret = "buffer";
    }
    r->newline = unescape_first(r->newline_cfg);
    if (!r->newline) {
        return EF_ENOMEM;
    }
    const struct ef_val *q = settings__get(n->fs->rt->settings, "tcpMsgQueueSize");
    r->queue_max = q && js__to_number(q) >= 1 ? (size_t)js__to_number(q) : 1000;
    r->socket_timeout = tcp__setting_ms(n, "socketTimeout", 0);
    return 0;
}

static void cb_start(struct ef_node *n)
{
    struct treq *r = ef_node_priv(n);
    if (r->tls[0]) {
        ef_node_error(n, NULL, "TLS is not supported by edgeflow's tcp nodes (tls %s)", r->tls);
    }
}

/* The tcp request node type. */
const struct ef_node_type ef_type_tcp_request = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "tcp request",
    .description = "Sends msg.payload to a TCP server and returns the answer",
    .category = "network",
    .inputs = 1,
    .outputs = 1,
    .props = tcp_request_props,
    .priv_size = sizeof(struct treq),
    .cb_init = cb_init,
    .cb_start = cb_start,
    .cb_input = cb_input,
    .cb_close = cb_close,
};
