/*
 * ws_routes.c - websocket endpoints for the websocket nodes: the registry
 * of listener paths that server.c consults on an upgrade, the connections
 * it accepts for them, and outgoing client connections on a libwebsockets
 * client context of their own that runs on the runtime's libuv loop (one
 * client vhost per distinct TLS setup, kept until the runtime is freed).
 * See ws_routes.h for the contract and docs/security.md for the limits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libwebsockets.h>

#include "engine.h"
#include "settings.h"
#include "ws_routes.h"

#define WS_QUEUE_MAX (64u << 20) /* bytes queued to one slow peer before sends are dropped */
#define CLIENT_PROTOCOL "edgeflow-ws-client"

struct ws_frame {
    struct ws_frame *next;
    size_t len;
    bool binary;
    unsigned char data[]; /* LWS_PRE headroom, then len bytes */
};

struct ws_routes;

struct ws_peer {
    struct ws_routes *reg;
    struct ws_route *route; /* server peers: their listener, NULL once it is gone */
    struct ws_peer *next;   /* in the route's or the registry's client list */
    struct lws *wsi;
    void **slot; /* server peers: server.c's pointer to this peer */
    const struct ws_events *ev;
    void *ud;
    char id[17];
    bool client, open, closing, graceful, want_ping;
    bool in_connect, dead, closed_fired;
    /* message being received */
    char *rx;
    size_t rx_len, rx_cap;
    bool rx_in_msg, rx_binary;
    /* messages waiting for the socket */
    struct ws_frame *q_head, *q_tail;
    size_t q_bytes;
    /* client: upgrade headers and the reason of a failed start */
    char **hnames, **hvalues;
    size_t nheaders;
    char conn_err[160];
};

struct ws_route {
    struct ws_routes *reg;
    struct ws_route *next;
    char *path;
    const struct ws_events *ev;
    void *ud;
    struct ws_peer *peers;
};

struct ws_vhost {
    struct ws_vhost *next;
    char *key;
    struct lws_vhost *vh;
};

struct ws_routes {
    struct ef_runtime *rt;
    struct ws_route *routes;
    size_t max_payload;
    struct lws_context *cctx; /* client context, created on first connect */
    struct ws_vhost *vhosts;
    struct ws_peer *clients;
    unsigned vhost_seq;
};

/* ---- Registry ---- */

static struct ws_routes *registry(struct ef_runtime *rt)
{
    if (rt->ws) {
        return rt->ws;
    }
    struct ws_routes *reg = calloc(1, sizeof(*reg));
    if (!reg) {
        return NULL;
    }
    reg->rt = rt;
    reg->max_payload = WS_DEFAULT_MAX_PAYLOAD;
    const struct ef_val *mp =
        rt->settings ? settings__get(rt->settings, "webSocketNodeMaxPayload") : NULL;
    if (mp && ef_val_type(mp) == EF_NUM && ef_val_num_get(mp) >= 1) {
        reg->max_payload = (size_t)ef_val_num_get(mp);
    }
    rt->ws = reg;
    return reg;
}

void ws_routes__full_path(struct ef_runtime *rt, const char *path, char *out, size_t len)
{
    const char *root = "/";
    const struct ef_val *r = rt->settings ? settings__get(rt->settings, "httpNodeRoot") : NULL;
    if (r && ef_val_type(r) == EF_STR && ef_val_str_len(r) > 0) {
        root = ef_val_str_get(r);
    }
    size_t rl = strlen(root);
    const char *sep = rl && root[rl - 1] == '/' ? "" : "/";
    snprintf(out, len, "%s%s%s", root, sep, path[0] == '/' ? path + 1 : path);
}

static struct ws_route *route_find(struct ws_routes *reg, const char *path)
{
    for (struct ws_route *r = reg ? reg->routes : NULL; r; r = r->next) {
        if (!strcmp(r->path, path)) {
            return r;
        }
    }
    return NULL;
}

int ws_routes__listen(struct ef_runtime *rt, const char *path, const struct ws_events *ev, void *ud,
                      struct ws_route **out)
{
    struct ws_routes *reg = registry(rt);
    if (!reg) {
        return EF_ENOMEM;
    }
    if (route_find(reg, path)) {
        return EF_EEXIST;
    }
    struct ws_route *r = calloc(1, sizeof(*r));
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return EF_ENOMEM;
    }
    r->reg = reg;
    r->ev = ev;
    r->ud = ud;
    r->next = reg->routes;
    reg->routes = r;
    *out = r;
    return 0;
}

static void peer_unlink(struct ws_peer **head, struct ws_peer *p)
{
    for (struct ws_peer **pp = head; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            p->next = NULL;
            return;
        }
    }
}

void ws_routes__unlisten(struct ws_route *r)
{
    if (!r) {
        return;
    }
    struct ws_routes *reg = r->reg;
    for (struct ws_route **pp = &reg->routes; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    while (r->peers) {
        struct ws_peer *p = r->peers;
        r->peers = p->next;
        p->next = NULL;
        p->route = NULL;
        ws_peer__close(p, false);
    }
    free(r->path);
    free(r);
}

/* ---- Peers ---- */

static struct ws_peer *peer_new(struct ws_routes *reg, const struct ws_events *ev, void *ud)
{
    struct ws_peer *p = calloc(1, sizeof(*p));
    if (!p) {
        return NULL;
    }
    p->reg = reg;
    p->ev = ev;
    p->ud = ud;
    ef_id_new(p->id);
    return p;
}

static void peer_free(struct ws_peer *p)
{
    while (p->q_head) {
        struct ws_frame *f = p->q_head;
        p->q_head = f->next;
        free(f);
    }
    for (size_t i = 0; i < p->nheaders; i++) {
        free(p->hnames[i]);
        free(p->hvalues[i]);
    }
    free(p->hnames);
    free(p->hvalues);
    free(p->rx);
    free(p);
}

const char *ws_peer__id(const struct ws_peer *p)
{
    return p->id;
}

bool ws_peer__is_open(const struct ws_peer *p)
{
    return p && p->open && !p->closing && p->wsi;
}

int ws_peer__send(struct ws_peer *p, const void *data, size_t len, bool binary)
{
    if (!ws_peer__is_open(p)) {
        return EF_ESTATE;
    }
    if (p->q_head && p->q_bytes + len > WS_QUEUE_MAX) {
        return EF_ERANGE;
    }
    struct ws_frame *f = malloc(sizeof(*f) + LWS_PRE + len + 1);
    if (!f) {
        return EF_ENOMEM;
    }
    f->next = NULL;
    f->len = len;
    f->binary = binary;
    if (len) {
        memcpy(f->data + LWS_PRE, data, len);
    }
    if (p->q_tail) {
        p->q_tail->next = f;
    } else {
        p->q_head = f;
    }
    p->q_tail = f;
    p->q_bytes += len;
    lws_callback_on_writable(p->wsi);
    return 0;
}

int ws_peer__ping(struct ws_peer *p)
{
    if (!ws_peer__is_open(p)) {
        return EF_ESTATE;
    }
    p->want_ping = true;
    lws_callback_on_writable(p->wsi);
    return 0;
}

void ws_peer__close(struct ws_peer *p, bool graceful)
{
    if (!p) {
        return;
    }
    p->ev = NULL;
    p->ud = NULL;
    if (p->closing) {
        return;
    }
    p->closing = true;
    if (!p->wsi) {
        return;
    }
    if (graceful && p->open) {
        p->graceful = true;
        lws_callback_on_writable(p->wsi);
    } else {
        lws_set_timeout(p->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
}

/* Whether s is valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF). */
static bool utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n >= len) {
            return false;
        }
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10FFFF))) {
            return false;
        }
        i += n + 1;
    }
    return true;
}

/* Reports an error on p and closes it with `code` (from a receive callback). */
static int peer_fail(struct ws_peer *p, int code, const char *text)
{
    ef_log(EF_LOG_DEBUG, "websocket %s: %s (closing with %d)", p->id, text, code);
    /* the close frame carries the code only, as ws's does */
    lws_close_reason(p->wsi, (enum lws_close_status)code, NULL, 0);
    p->closing = true;
    if (p->ev && p->ev->error) {
        p->ev->error(p->ud, p, text);
    }
    return -1;
}

/* A piece of a message arrived. Non-zero closes the connection. */
static int peer_rx(struct ws_peer *p, const void *in, size_t len)
{
    if (p->closing) {
        return 0;
    }
    if (!p->rx_in_msg) {
        p->rx_in_msg = true;
        p->rx_len = 0;
        p->rx_binary = lws_frame_is_binary(p->wsi) != 0;
    }
    if (len > p->reg->max_payload - p->rx_len) {
        return peer_fail(p, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "Max payload size exceeded");
    }
    if (p->rx_len + len + 1 > p->rx_cap) {
        size_t ncap = p->rx_cap ? p->rx_cap : 4096;
        while (ncap < p->rx_len + len + 1) {
            ncap *= 2;
        }
        char *nb = realloc(p->rx, ncap);
        if (!nb) {
            return peer_fail(p, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
        }
        p->rx = nb;
        p->rx_cap = ncap;
    }
    if (len) {
        memcpy(p->rx + p->rx_len, in, len);
    }
    p->rx_len += len;
    p->rx[p->rx_len] = '\0';
    if (!lws_is_final_fragment(p->wsi) || lws_remaining_packet_payload(p->wsi) > 0) {
        return 0;
    }
    p->rx_in_msg = false;
    if (!p->rx_binary && !utf8_valid((const unsigned char *)p->rx, p->rx_len)) {
        return peer_fail(p, LWS_CLOSE_STATUS_INVALID_PAYLOAD,
                         "Invalid WebSocket frame: invalid UTF-8 sequence");
    }
    if (p->ev && p->ev->message) {
        p->ev->message(p->ud, p, p->rx, p->rx_len, p->rx_binary);
    }
    /* do not keep a huge buffer around for a connection that had one big message */
    if (p->rx_cap > (1u << 20)) {
        free(p->rx);
        p->rx = NULL;
        p->rx_cap = 0;
    }
    return 0;
}

/* The socket can take a frame. Non-zero closes the connection. */
static int peer_writeable(struct ws_peer *p)
{
    if (p->closing) {
        if (p->graceful) {
            lws_close_reason(p->wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
        }
        return -1;
    }
    if (p->want_ping) {
        unsigned char buf[LWS_PRE + 4];
        p->want_ping = false;
        if (lws_write(p->wsi, buf + LWS_PRE, 0, LWS_WRITE_PING) < 0) {
            return -1;
        }
    } else if (p->q_head) {
        struct ws_frame *f = p->q_head;
        p->q_head = f->next;
        if (!p->q_head) {
            p->q_tail = NULL;
        }
        p->q_bytes -= f->len;
        int rc = lws_write(p->wsi, f->data + LWS_PRE, f->len,
                           f->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
        free(f);
        if (rc < 0) {
            return -1;
        }
    }
    if (p->q_head || p->want_ping) {
        lws_callback_on_writable(p->wsi);
    }
    return 0;
}

/* Fires `closed` once. */
static void peer_closed(struct ws_peer *p)
{
    if (p->closed_fired) {
        return;
    }
    p->closed_fired = true;
    p->open = false;
    if (p->ev && p->ev->closed) {
        const struct ws_events *ev = p->ev;
        void *ud = p->ud;
        p->ev = NULL;
        ev->closed(ud, p);
    }
}

/* ---- Server side (called by server.c) ---- */

static void uri_of(struct lws *wsi, char *out, size_t len)
{
    out[0] = '\0';
    if (lws_hdr_copy(wsi, out, (int)len, WSI_TOKEN_GET_URI) <= 0) {
        out[0] = '\0';
    }
    char *q = strchr(out, '?');
    if (q) {
        *q = '\0';
    }
}

bool ws_routes__wants(struct ef_runtime *rt, struct lws *wsi)
{
    if (!rt->ws || !rt->ws->routes) {
        return false;
    }
    char uri[1024];
    uri_of(wsi, uri, sizeof(uri));
    return uri[0] && route_find(rt->ws, uri) != NULL;
}

int ws_routes__accept(struct ef_runtime *rt, struct lws *wsi, void **slot)
{
    char uri[1024];
    uri_of(wsi, uri, sizeof(uri));
    struct ws_route *r = route_find(rt->ws, uri);
    if (!r) {
        return -1;
    }
    struct ws_peer *p = peer_new(r->reg, r->ev, r->ud);
    if (!p) {
        return -1;
    }
    p->route = r;
    p->wsi = wsi;
    p->slot = slot;
    p->open = true;
    p->next = r->peers;
    r->peers = p;
    *slot = p;
    if (p->ev && p->ev->open) {
        p->ev->open(p->ud, p);
    }
    return 0;
}

int ws_routes__receive(void **slot, const void *in, size_t len)
{
    return *slot ? peer_rx(*slot, in, len) : -1;
}

void ws_routes__pong(void **slot)
{
    struct ws_peer *p = *slot;
    if (p && p->ev && p->ev->pong) {
        p->ev->pong(p->ud, p);
    }
}

int ws_routes__writeable(void **slot)
{
    return *slot ? peer_writeable(*slot) : -1;
}

void ws_routes__closed(void **slot)
{
    struct ws_peer *p = *slot;
    if (!p) {
        return;
    }
    *slot = NULL;
    if (p->route) {
        peer_unlink(&p->route->peers, p);
        p->route = NULL;
    }
    p->wsi = NULL;
    peer_closed(p);
    peer_free(p);
}

/* ---- Client side ---- */

static int client_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                           size_t len)
{
    struct ws_peer *p = user;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        if (!p) {
            return 0;
        }
        unsigned char **pos = in, *end = *pos + len;
        for (size_t i = 0; i < p->nheaders; i++) {
            if (lws_add_http_header_by_name(wsi, (const unsigned char *)p->hnames[i],
                                            (const unsigned char *)p->hvalues[i],
                                            (int)strlen(p->hvalues[i]), pos, end)) {
                return -1;
            }
        }
        return 0;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (!p) {
            return -1;
        }
        p->open = true;
        if (p->closing) {
            /* closed by the node while connecting */
            p->graceful = true;
            lws_callback_on_writable(wsi);
            return 0;
        }
        if (p->ev && p->ev->open) {
            p->ev->open(p->ud, p);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE: return p ? peer_rx(p, in, len) : -1;
    case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
        if (p && p->ev && p->ev->pong) {
            p->ev->pong(p->ud, p);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE: return p ? peer_writeable(p) : -1;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (!p) {
            return 0;
        }
        snprintf(p->conn_err, sizeof(p->conn_err), "%.*s", in ? (int)len : 0,
                 in ? (const char *)in : "");
        if (!p->conn_err[0]) {
            snprintf(p->conn_err, sizeof(p->conn_err), "connection failed");
        }
        if (!p->in_connect) {
            ef_log(EF_LOG_DEBUG, "websocket client %s: %s", p->id, p->conn_err);
            if (p->ev && p->ev->error) {
                p->ev->error(p->ud, p, p->conn_err);
            }
            peer_closed(p);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (p && !p->in_connect) {
            peer_closed(p);
        }
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (!p) {
            return 0;
        }
        p->wsi = NULL;
        p->dead = true;
        if (p->in_connect) {
            return 0; /* ws_routes__connect frees it */
        }
        peer_closed(p);
        peer_unlink(&p->reg->clients, p);
        peer_free(p);
        return 0;
    default: break;
    }
    return 0;
}

static const struct lws_protocols client_protocols[] = {
    {CLIENT_PROTOCOL, client_callback, 0, 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static int client_context(struct ws_routes *reg)
{
    if (reg->cctx) {
        return 0;
    }
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    void *loops[1] = {ef_loop_uv(&reg->rt->loop)};
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
                   LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.foreign_loops = loops;
    info.user = reg;
    info.fd_limit_per_thread = 1024;
    lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
    reg->cctx = lws_create_context(&info);
    return reg->cctx ? 0 : EF_EIO;
}

/* The client vhost for a TLS setup (shared by every connection with the same one). */
static struct lws_vhost *client_vhost(struct ws_routes *reg, const struct ws_client_opts *o)
{
    char key[4096];
    snprintf(key, sizeof(key), "%s|%s|%s|%s", o->ca ? o->ca : "", o->cert ? o->cert : "",
             o->key ? o->key : "", o->passphrase ? o->passphrase : "");
    for (struct ws_vhost *v = reg->vhosts; v; v = v->next) {
        if (!strcmp(v->key, key)) {
            return v->vh;
        }
    }
    struct ws_vhost *v = calloc(1, sizeof(*v));
    if (!v || !(v->key = strdup(key))) {
        free(v);
        return NULL;
    }
    char name[32];
    snprintf(name, sizeof(name), "ws-client-%u", reg->vhost_seq++);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = client_protocols;
    info.vhost_name = name;
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.client_ssl_ca_filepath = o->ca;
    info.client_ssl_cert_filepath = o->cert;
    info.client_ssl_private_key_filepath = o->key;
    info.client_ssl_private_key_password = o->passphrase;
    v->vh = lws_create_vhost(reg->cctx, &info);
    if (!v->vh) {
        free(v->key);
        free(v);
        return NULL;
    }
    v->next = reg->vhosts;
    reg->vhosts = v;
    return v->vh;
}

/* Copies the upgrade headers into p ("name:" as lws wants them). */
static int copy_headers(struct ws_peer *p, const struct ws_client_opts *o)
{
    if (!o->n_headers) {
        return 0;
    }
    p->hnames = calloc(o->n_headers, sizeof(char *));
    p->hvalues = calloc(o->n_headers, sizeof(char *));
    if (!p->hnames || !p->hvalues) {
        return EF_ENOMEM;
    }
    for (size_t i = 0; i < o->n_headers; i++) {
        size_t nl = strlen(o->header_names[i]);
        p->hnames[i] = malloc(nl + 2);
        p->hvalues[i] = strdup(o->header_values[i]);
        p->nheaders = i + 1;
        if (!p->hnames[i] || !p->hvalues[i]) {
            return EF_ENOMEM;
        }
        memcpy(p->hnames[i], o->header_names[i], nl);
        p->hnames[i][nl] = ':';
        p->hnames[i][nl + 1] = '\0';
    }
    return 0;
}

int ws_routes__connect(struct ef_runtime *rt, const struct ws_client_opts *o,
                       const struct ws_events *ev, void *ud, struct ws_peer **out, char *err,
                       size_t errlen)
{
    struct ws_routes *reg = registry(rt);
    if (!reg || client_context(reg) != 0) {
        snprintf(err, errlen, "cannot create the websocket client context");
        return reg ? EF_EIO : EF_ENOMEM;
    }
    bool tls = !strncasecmp(o->url, "wss://", 6);
    if (!tls && strncasecmp(o->url, "ws://", 5)) {
        snprintf(err, errlen, "Invalid URL: %s", o->url);
        return EF_EINVAL;
    }
    char *u = strdup(o->url);
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return EF_ENOMEM;
    }
    const char *prot, *ads, *path;
    int port;
    if (lws_parse_uri(u, &prot, &ads, &port, &path) || !*ads) {
        snprintf(err, errlen, "Invalid URL: %s", o->url);
        free(u);
        return EF_EINVAL;
    }
    struct lws_vhost *vh = client_vhost(reg, o);
    struct ws_peer *p = vh ? peer_new(reg, ev, ud) : NULL;
    if (!p || copy_headers(p, o) != 0) {
        snprintf(err, errlen, vh ? "out of memory" : "cannot set up TLS for %s", o->url);
        if (p) {
            peer_free(p);
        }
        free(u);
        return vh ? EF_ENOMEM : EF_EIO;
    }
    char fullpath[2048], host[300];
    snprintf(fullpath, sizeof(fullpath), "/%s", path);
    bool default_port = (tls && port == 443) || (!tls && port == 80);
    if (default_port) {
        snprintf(host, sizeof(host), "%s", ads);
    } else {
        snprintf(host, sizeof(host), "%s:%d", ads, port);
    }
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof(ci));
    ci.context = reg->cctx;
    ci.vhost = vh;
    ci.address = ads;
    ci.port = port;
    ci.path = fullpath;
    ci.host = o->servername && *o->servername ? o->servername : host;
    ci.origin = NULL;
    ci.protocol = o->subprotocols && *o->subprotocols ? o->subprotocols : NULL;
    ci.ietf_version_or_minus_one = -1;
    ci.userdata = p;
    ci.pwsi = &p->wsi;
    ci.local_protocol_name = CLIENT_PROTOCOL;
    ci.alpn = "http/1.1";
    if (tls) {
        ci.ssl_connection = LCCSCF_USE_SSL;
        if (!o->verify) {
            ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                                 LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
        }
    }
    p->client = true;
    p->in_connect = true;
    struct lws *wsi = lws_client_connect_via_info(&ci);
    p->in_connect = false;
    free(u);
    if (!wsi || p->dead) {
        snprintf(err, errlen, "%s", p->conn_err[0] ? p->conn_err : "connection failed");
        if (wsi && !p->dead) {
            lws_set_wsi_user(wsi, NULL);
            lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        }
        peer_free(p);
        return EF_EIO;
    }
    p->next = reg->clients;
    reg->clients = p;
    *out = p;
    return 0;
}

/* ---- Teardown ---- */

void ws_routes__free(struct ef_runtime *rt)
{
    struct ws_routes *reg = rt->ws;
    if (!reg) {
        return;
    }
    while (reg->routes) {
        ws_routes__unlisten(reg->routes);
    }
    for (struct ws_peer *p = reg->clients; p; p = p->next) {
        p->ev = NULL;
    }
    if (reg->cctx) {
        /* with a foreign loop the second destroy frees the context once
         * lws's handles are closed (DEPS.md, libwebsockets gotcha 5) */
        lws_context_destroy(reg->cctx);
        for (int i = 0; i < 64; i++) {
            uv_run(ef_loop_uv(&rt->loop), UV_RUN_NOWAIT);
        }
        lws_context_destroy(reg->cctx);
        reg->cctx = NULL;
    }
    while (reg->clients) {
        struct ws_peer *p = reg->clients;
        reg->clients = p->next;
        peer_free(p);
    }
    while (reg->vhosts) {
        struct ws_vhost *v = reg->vhosts;
        reg->vhosts = v->next;
        free(v->key);
        free(v);
    }
    free(reg);
    rt->ws = NULL;
}
