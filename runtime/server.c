/*
 * server.c - edgeflow's HTTP and websocket server: one libwebsockets
 * context and vhost on the runtime's libuv loop (a foreign loop), bound to
 * 127.0.0.1 unless configured otherwise. Every request lands in one
 * protocol callback (protocols[0], so a bare `new WebSocket(url)` binds to
 * it too, see DEPS.md on libwebsockets): websocket upgrades on /comms go to
 * comms.c, everything else is read completely (bodies capped at 5 MiB,
 * 413 beyond) and handed to admin.c, which answers with srv_reply*() or a
 * static file. Responses are written from the writeable callback in 16 KiB
 * pieces so a slow reader never blocks the loop. server__handle_request()
 * feeds the same dispatch a request without a socket (the admin API's fuzz
 * target, tests/fuzz/fuzz_admin.c), keeping the reply in the srv_conn.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "http_routes.h"
#include "server.h"
#include "tls.h"
#include "ws_routes.h"

#define WRITE_CHUNK 16384

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

static void conn_reset(struct srv_conn *c)
{
    http_routes__detach(c);
    if (c->deferred && !c->responding && c->srv && c->srv->hooks.closed) {
        c->srv->hooks.closed(c->srv->hooks.ud, c);
    }
    c->deferred = false;
    free(c->body);
    free(c->resp);
    c->body = c->resp = NULL;
    c->body_len = c->body_cap = c->resp_len = c->resp_off = 0;
    c->body_too_big = c->headers_sent = c->close_after = c->responding = false;
    c->status = 0;
    c->ctype = NULL;
    c->location[0] = '\0';
}

void srv_reply(struct srv_conn *c, int status, const char *ctype, char *body, size_t len)
{
    free(c->resp);
    c->status = status;
    c->ctype = ctype;
    c->resp = body;
    c->resp_len = body ? len : 0;
    c->resp_off = 0;
    c->responding = true;
    if (c->wsi) {
        lws_callback_on_writable(c->wsi);
    }
}

void srv_reply_json(struct srv_conn *c, int status, struct ef_val *v)
{
    size_t len = 0;
    char *text = v ? ef_json_print(v, 0, &len) : NULL;
    ef_val_unref(v);
    if (!text) {
        srv_reply(c, 500, "text/plain", strdup("Internal Server Error"), 21);
        return;
    }
    srv_reply(c, status, "application/json; charset=utf-8", text, len);
}

void srv_reply_status(struct srv_conn *c, int status)
{
    const char *r = reason_phrase(status);
    srv_reply(c, status, "text/plain; charset=utf-8", strdup(r), strlen(r));
}

void srv_reply_error(struct srv_conn *c, int status, const char *code, const char *message)
{
    struct ef_val *o = ef_val_obj();
    if (o) {
        ef_val_obj_set_take(o, "code", ef_val_str(code));
        ef_val_obj_set_take(o, "message", ef_val_str(message ? message : "Error"));
    }
    srv_reply_json(c, status, o);
}

static const char *mime_of(const char *path)
{
    static const char *const map[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "application/javascript; charset=utf-8"},
        {".mjs", "application/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".gif", "image/gif"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".woff", "font/woff"},
        {".ttf", "font/ttf"},
        {".eot", "application/vnd.ms-fontobject"},
        {".map", "application/json; charset=utf-8"},
        {".ts", "text/plain; charset=utf-8"},
        {".md", "text/markdown; charset=utf-8"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof(map) / sizeof(map[0]); i++) {
        if (!strcasecmp(dot, map[i][0])) {
            return map[i][1];
        }
    }
    return "application/octet-stream";
}

void srv_reply_file(struct srv_conn *c, const char *path)
{
    struct stat st;
    if (strstr(path, "/../") || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        srv_reply_error(c, 404, "not_found", "Not Found");
        return;
    }
    if (!c->wsi) {
        size_t len = 0;
        char *body = srv_read_file(path, &len);
        srv_reply(c, body ? 200 : 500, mime_of(path), body, len);
        return;
    }
    c->responding = true;
    c->status = 200;
    int rc = lws_serve_http_file(c->wsi, path, mime_of(path), NULL, 0);
    if (rc < 0) {
        /* lws has already answered or closed; nothing more to do here */
        c->close_after = true;
    }
    /* completion comes as LWS_CALLBACK_HTTP_FILE_COMPLETION */
    c->status = -1; /* marks a file transfer */
}

char *srv_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (cap - n < 65536) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            break;
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len) {
        *len = n;
    }
    return buf;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    ch = tolower(ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

char *srv_pct_decode(const char *s, size_t len, bool plus, bool strict, size_t *outlen)
{
    char *o = malloc(len + 1);
    if (!o) {
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len && hexval((unsigned char)s[i + 1]) >= 0 &&
            hexval((unsigned char)s[i + 2]) >= 0) {
            o[n++] = (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
            i += 2;
        } else if (s[i] == '%' && strict) {
            free(o);
            return NULL;
        } else if (plus && s[i] == '+') {
            o[n++] = ' ';
        } else {
            o[n++] = s[i];
        }
    }
    o[n] = '\0';
    if (outlen) {
        *outlen = n;
    }
    return o;
}

/* The i-th '&'-separated fragment of a socketless request's query into frag; -1 past the last. */
static int req_query_fragment(const struct srv_conn *c, char *frag, size_t len, int i)
{
    const char *q = c->req ? c->req->query : NULL;
    for (; q && i > 0; i--) {
        q = strchr(q, '&');
        q = q ? q + 1 : NULL;
    }
    if (!q) {
        return -1;
    }
    size_t n = strcspn(q, "&");
    if (n >= len) {
        n = len - 1;
    }
    memcpy(frag, q, n);
    frag[n] = '\0';
    return (int)n;
}

/* A header of a socketless request by lower-case name with colon; -1 when absent. */
static int req_header(const struct srv_conn *c, const char *name, char *buf, size_t len)
{
    size_t nl = strlen(name);
    for (const char *l = c->req ? c->req->headers : NULL; l && *l;) {
        const char *eol = strchr(l, '\n');
        size_t ll = eol ? (size_t)(eol - l) : strlen(l);
        if (ll >= nl && !strncasecmp(l, name, nl)) {
            const char *v = l + nl, *e = l + ll;
            while (v < e && (*v == ' ' || *v == '\t')) {
                v++;
            }
            while (e > v && (e[-1] == '\r' || e[-1] == ' ')) {
                e--;
            }
            if ((size_t)(e - v) >= len) {
                return -1;
            }
            memcpy(buf, v, (size_t)(e - v));
            buf[e - v] = '\0';
            return (int)(e - v);
        }
        l = eol ? eol + 1 : NULL;
    }
    return -1;
}

void srv_peer(struct srv_conn *c, char *buf, size_t len)
{
    if (!c->wsi) {
        snprintf(buf, len, "%s", c->req && c->req->peer ? c->req->peer : "?");
    } else if (!lws_get_peer_simple(c->wsi, buf, len)) {
        snprintf(buf, len, "?");
    }
}

bool srv_query(struct srv_conn *c, const char *name, char *buf, size_t len)
{
    char key[64];
    snprintf(key, sizeof(key), "%s=", name);
    for (int i = 0;; i++) {
        char frag[1024];
        int n = c->wsi
                    ? lws_hdr_copy_fragment(c->wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i)
                    : req_query_fragment(c, frag, sizeof(frag), i);
        if (n < 0) {
            return false;
        }
        if (!strncmp(frag, key, strlen(key))) {
            char *d =
                srv_pct_decode(frag + strlen(key), strlen(frag + strlen(key)), true, false, NULL);
            snprintf(buf, len, "%s", d ? d : "");
            free(d);
            return d != NULL;
        }
    }
}

bool srv_header(struct srv_conn *c, const char *name, char *buf, size_t len)
{
    static const struct {
        const char *name;
        enum lws_token_indexes tok;
    } known[] = {
        {"accept:", WSI_TOKEN_HTTP_ACCEPT},
        {"accept-language:", WSI_TOKEN_HTTP_ACCEPT_LANGUAGE},
        {"content-type:", WSI_TOKEN_HTTP_CONTENT_TYPE},
        {"content-length:", WSI_TOKEN_HTTP_CONTENT_LENGTH},
        {"authorization:", WSI_TOKEN_HTTP_AUTHORIZATION},
    };
    buf[0] = '\0';
    if (!c->wsi) {
        return req_header(c, name, buf, len) >= 0;
    }
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (!strcmp(name, known[i].name)) {
            if (lws_hdr_total_length(c->wsi, known[i].tok) <= 0) {
                return false;
            }
            return lws_hdr_copy(c->wsi, buf, (int)len, known[i].tok) >= 0;
        }
    }
    int n = lws_hdr_custom_length(c->wsi, name, (int)strlen(name));
    if (n < 0 || (size_t)n >= len) {
        return false;
    }
    return lws_hdr_custom_copy(c->wsi, buf, (int)len, name, (int)strlen(name)) >= 0;
}

static enum srv_method method_of(struct lws *wsi)
{
    static const struct {
        enum lws_token_indexes tok;
        enum srv_method m;
    } map[] = {
        {WSI_TOKEN_GET_URI, SRV_GET},         {WSI_TOKEN_POST_URI, SRV_POST},
        {WSI_TOKEN_PUT_URI, SRV_PUT},         {WSI_TOKEN_DELETE_URI, SRV_DELETE},
        {WSI_TOKEN_PATCH_URI, SRV_PATCH},     {WSI_TOKEN_HEAD_URI, SRV_HEAD},
        {WSI_TOKEN_OPTIONS_URI, SRV_OPTIONS},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (lws_hdr_total_length(wsi, map[i].tok) > 0) {
            return map[i].m;
        }
    }
    return SRV_OTHER;
}

static void dispatch(struct srv_conn *c)
{
    if (c->srv->hooks.route && !c->body_too_big && c->srv->hooks.route(c->srv->hooks.ud, c)) {
        if (!c->responding && !c->deferred) {
            srv_reply_error(c, 500, "unexpected_error", "no response");
        }
        return;
    }
    if (c->wsi && http_routes__dispatch(c)) {
        return; /* an http in node's route: answered, or a flow will answer */
    }
    if (c->body_too_big) {
        c->close_after = true;
        srv_reply_error(c, 413, "request_too_large", "request entity too large");
        return;
    }
    admin__handle(c);
    if (!c->responding) {
        srv_reply_error(c, 500, "unexpected_error", "no response");
    }
}

void server__handle_request(struct srv_conn *c)
{
    c->wsi = NULL;
    if (c->body_len > c->srv->body_max) {
        c->body_too_big = true;
    }
    dispatch(c);
}

/* Starts an HTTP transaction; returns non-zero to close. */
static int on_http(struct srv_conn *c, struct ef_server *s, struct lws *wsi, const char *uri,
                   size_t len)
{
    conn_reset(c);
    c->srv = s;
    c->wsi = wsi;
    c->method = method_of(wsi);
    if (len >= sizeof(c->path)) {
        c->close_after = true;
        srv_reply_status(c, 414);
        return 0;
    }
    memcpy(c->path, uri, len);
    c->path[len] = '\0';
    if (c->method == SRV_POST || c->method == SRV_PUT || c->method == SRV_PATCH ||
        c->method == SRV_DELETE) {
        char cl[32];
        if (srv_header(c, "content-length:", cl, sizeof(cl)) && *cl) {
            char *end;
            unsigned long long n = strtoull(cl, &end, 10);
            if (*end || n > s->body_max) {
                c->body_too_big = true;
                dispatch(c);
                return 0;
            }
            if (n > 0) {
                c->body_cap = (size_t)n + 1;
                c->body = malloc(c->body_cap);
                if (!c->body) {
                    c->close_after = true;
                    srv_reply_status(c, 500);
                    return 0;
                }
                /* a client that stalls mid-body is dropped */
                lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, 30);
                return 0; /* wait for LWS_CALLBACK_HTTP_BODY_COMPLETION */
            }
        }
    }
    dispatch(c);
    return 0;
}

static int on_body(struct srv_conn *c, const void *in, size_t len)
{
    if (c->body_too_big || c->responding || c->http || len == 0) {
        return 0;
    }
    if (c->body_len + len + 1 > c->body_cap) {
        size_t ncap = c->body_len + len + 1;
        if (ncap > c->srv->body_max + 1) {
            c->body_too_big = true;
            return 0;
        }
        char *nb = realloc(c->body, ncap);
        if (!nb) {
            c->body_too_big = true;
            return 0;
        }
        c->body = nb;
        c->body_cap = ncap;
    }
    memcpy(c->body + c->body_len, in, len);
    c->body_len += len;
    c->body[c->body_len] = '\0';
    return 0;
}

/* Writes the next piece of a buffered response; non-zero closes. */
static int on_http_writeable(struct srv_conn *c, struct lws *wsi)
{
    if (!c->responding || c->status < 0) {
        return 0;
    }
    unsigned char buf[LWS_PRE + WRITE_CHUNK];
    if (!c->headers_sent) {
        unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
        if (c->http) {
            if (http_routes__write_headers(c, &p, end)) {
                return -1;
            }
        } else if (lws_add_http_common_headers(wsi, (unsigned int)c->status, c->ctype,
                                               (lws_filepos_t)c->resp_len, &p, end)) {
            return -1;
        }
        static const char nocache[] = "no-store";
        if (!c->http && lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                                    (const unsigned char *)nocache,
                                                    (int)strlen(nocache), &p, end)) {
            return -1;
        }
        if (c->location[0] && lws_add_http_header_by_name(wsi, (const unsigned char *)"location:",
                                                          (const unsigned char *)c->location,
                                                          (int)strlen(c->location), &p, end)) {
            return -1;
        }
        if (c->close_after &&
            lws_add_http_header_by_name(wsi, (const unsigned char *)"connection:",
                                        (const unsigned char *)"close", 5, &p, end)) {
            return -1;
        }
        if (lws_finalize_write_http_header(wsi, start, &p, end)) {
            return -1;
        }
        c->headers_sent = true;
        if (c->resp_len > 0 && c->method != SRV_HEAD && lws_send_pipe_choked(wsi)) {
            lws_callback_on_writable(wsi);
            return 0;
        }
        /* otherwise the first piece of the body goes out now, not one poll round later */
    }
    if (c->resp_len > 0 && c->method != SRV_HEAD) {
        size_t n = c->resp_len - c->resp_off;
        if (n > WRITE_CHUNK) {
            n = WRITE_CHUNK;
        }
        memcpy(buf + LWS_PRE, c->resp + c->resp_off, n);
        bool last = c->resp_off + n == c->resp_len;
        if (lws_write(wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) !=
            (int)n) {
            return -1;
        }
        c->resp_off += n;
        if (!last) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    bool close = c->close_after;
    conn_reset(c);
    if (close) {
        return -1;
    }
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static bool ws_uri_is_comms(struct lws *wsi)
{
    char uri[64];
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0) {
        return false;
    }
    return !strcmp(uri, "/comms");
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct srv_conn *c = user;
    struct lws_context *lctx = lws_get_context(wsi);
    struct ef_server *s = lctx ? lws_context_user(lctx) : NULL;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return on_http(c, s, wsi, in ? (const char *)in : "/", in ? strlen(in) : 1);
    case LWS_CALLBACK_HTTP_BODY: return on_body(c, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
        if (!c->responding && !c->http) {
            dispatch(c);
        }
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE: return on_http_writeable(c, wsi);
    case LWS_CALLBACK_HTTP_FILE_COMPLETION: {
        bool close = c->close_after;
        conn_reset(c);
        if (close) {
            return -1;
        }
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (c && !c->client) {
            conn_reset(c);
        }
        return 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        /* /comms and websocket-listener paths; anything else is refused */
        return ws_uri_is_comms(wsi) || ws_routes__wants(s->rt, wsi) ? 0 : 1;
    case LWS_CALLBACK_ESTABLISHED:
        conn_reset(c);
        c->srv = s;
        c->wsi = wsi;
        c->ws_peer = NULL;
        if (!ws_uri_is_comms(wsi)) {
            return ws_routes__accept(s->rt, wsi, &c->ws_peer);
        }
        return comms__open(c);
    case LWS_CALLBACK_RECEIVE:
        if (c->ws_peer) {
            return ws_routes__receive(&c->ws_peer, in, len);
        }
        return comms__receive(c, in, len, lws_is_final_fragment(wsi), lws_frame_is_binary(wsi));
    case LWS_CALLBACK_RECEIVE_PONG:
        if (c->ws_peer) {
            ws_routes__pong(&c->ws_peer);
        }
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (c->ws_peer) {
            return ws_routes__writeable(&c->ws_peer);
        }
        return comms__writeable(c);
    case LWS_CALLBACK_CLOSED:
        if (c->ws_peer) {
            ws_routes__closed(&c->ws_peer);
            return 0;
        }
        comms__closed(c);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (c) {
            if (c->ws_peer) {
                ws_routes__closed(&c->ws_peer);
            }
            if (c->client) {
                comms__closed(c);
            }
            conn_reset(c);
        }
        return 0;
    default: break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"edgeflow", callback, sizeof(struct srv_conn), 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* lws logs through here, into edgeflow's log at debug level (errors at warn). */
static void lws_log(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
        n--;
    }
    ef_log(level & LLL_ERR ? EF_LOG_WARN : EF_LOG_DEBUG, "lws: %.*s", (int)n, line);
}

static char *dup_or(const char *a, const char *b)
{
    return strdup(a && *a ? a : b);
}

/* Finds the folder holding @node-red/ (tools/node_modules of the source tree). */
static void default_modules_dir(char *out, size_t len)
{
    const char *env = getenv("EF_NODE_MODULES");
    if (env && *env) {
        snprintf(out, len, "%s", env);
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
        }
        const char *rel[] = {"/../tools/node_modules", "/tools/node_modules",
                             "/../../tools/node_modules"};
        for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
            char cand[PATH_MAX + 64], probe[PATH_MAX + 128];
            snprintf(cand, sizeof(cand), "%s%s", exe, rel[i]);
            snprintf(probe, sizeof(probe), "%s/@node-red/editor-client/package.json", cand);
            if (access(probe, R_OK) == 0) {
                char *real = realpath(cand, NULL);
                snprintf(out, len, "%.4000s", real ? real : cand);
                free(real);
                return;
            }
        }
    }
#ifdef EF_SOURCE_DIR
    snprintf(out, len, "%s/tools/node_modules", EF_SOURCE_DIR);
#else
    snprintf(out, len, "tools/node_modules");
#endif
}

static void default_defs_dir(const char *modules, char *out, size_t len)
{
    /* editor/nodes beside tools/ in the source tree */
    snprintf(out, len, "%s/../../editor/nodes", modules);
    char *real = realpath(out, NULL);
    if (real) {
        snprintf(out, len, "%s", real);
        free(real);
    }
}

/*
 * editor/plugins of the source tree the executable was built in: beside or
 * above the build directory, else EF_SOURCE_DIR's.
 */
static void default_plugins_dir(char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
        }
        const char *rel[] = {"/../editor/plugins", "/editor/plugins", "/../../editor/plugins"};
        for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
            char cand[PATH_MAX + 64];
            snprintf(cand, sizeof(cand), "%s%s", exe, rel[i]);
            char *real = realpath(cand, NULL);
            if (real) {
                snprintf(out, len, "%s", real);
                free(real);
                return;
            }
        }
    }
#ifdef EF_SOURCE_DIR
    snprintf(out, len, "%s/editor/plugins", EF_SOURCE_DIR);
#else
    snprintf(out, len, "editor/plugins");
#endif
}

static void cred_path_of(const char *flows, char *out, size_t len)
{
    /* Node-RED: <dir>/<name without .json>_cred.json */
    const char *slash = strrchr(flows, '/');
    const char *base = slash ? slash + 1 : flows;
    size_t blen = strlen(base);
    if (blen > 5 && !strcmp(base + blen - 5, ".json")) {
        blen -= 5;
    }
    snprintf(out, len, "%.*s%.*s_cred.json", (int)(base - flows), flows, (int)blen, base);
}

static void hook_debug(void *ud, const struct ef_debug_event *ev)
{
    comms__on_debug(ud, ev);
}

static void hook_status(void *ud, struct ef_node *n, const struct ef_val *status)
{
    comms__on_status(ud, n, status);
}

static void hook_deployed(void *ud, struct ef_runtime *rt)
{
    (void)rt;
    admin__on_deployed(ud);
}

struct ef_server *server__start(struct ef_runtime *rt, const struct ef_server_opts *o, char *err,
                                size_t errlen)
{
    struct ef_server *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->rt = rt;
    s->body_max = http_routes__body_max(rt->settings);
    snprintf(s->host, sizeof(s->host), "%s", o->host && *o->host ? o->host : "127.0.0.1");
    char modules[PATH_MAX], defs[PATH_MAX + 32], path[PATH_MAX + 64];
    default_modules_dir(modules, sizeof(modules));
    snprintf(path, sizeof(path), "%s/@node-red/editor-client", modules);
    s->editor_dir = dup_or(o->editor_dir, path);
    snprintf(path, sizeof(path), "%s/@node-red/nodes", modules);
    s->nodes_dir = dup_or(o->nodes_dir, path);
    default_defs_dir(modules, defs, sizeof(defs));
    s->defs_dir = dup_or(o->defs_dir, defs);
    if (o->plugins_dir) {
        default_plugins_dir(path, sizeof(path));
        s->plugins_dir = strdup(*o->plugins_dir ? o->plugins_dir : path);
    }
    s->flows_path = strdup(o->flows_path ? o->flows_path : "flows.json");
    if (o->hooks) {
        s->hooks = *o->hooks;
    }
    cred_path_of(s->flows_path, path, sizeof(path));
    s->cred_path = strdup(path);
    s->user_settings = ef_val_obj();
    s->retained = ef_val_obj();
    s->started = true;
    if (!s->editor_dir || !s->nodes_dir || !s->defs_dir || !s->flows_path || !s->cred_path ||
        !s->user_settings || !s->retained || (o->plugins_dir && !s->plugins_dir)) {
        snprintf(err, errlen, "out of memory");
        server__stop(s);
        return NULL;
    }
    if (auth__init(s, rt->settings, err, errlen) != 0 || admin__init(s, err, errlen) != 0 ||
        comms__init(s) != 0) {
        if (!*err) {
            snprintf(err, errlen, "cannot initialise the editor server");
        }
        server__stop(s);
        return NULL;
    }
    admin__on_deployed(s);

    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    void *loops[1] = {ef_loop_uv(&rt->loop)};
    info.port = o->port;
    info.iface = s->host;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6 |
                   LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    info.foreign_loops = loops;
    info.user = s;
    info.max_http_header_data = 8192;
    info.fd_limit_per_thread = 4096; /* lws sizes per-fd tables by this (default: ulimit -n) */
    info.pt_serv_buf_size = 65536;   /* static files go out in 64 KiB writes, not 4 KiB */
    info.timeout_secs = 30;
    info.keepalive_timeout = 30;
    info.ka_time = 0;
    int tls = tls__configure(rt->settings, &info, err, errlen);
    if (tls < 0) {
        server__stop(s);
        return NULL;
    }
    s->tls = tls > 0;
    s->ctx = lws_create_context(&info);
    if (!s->ctx) {
        snprintf(err, errlen, "cannot create the HTTP server");
        server__stop(s);
        return NULL;
    }
    info.vhost_name = "edgeflow";
    s->vhost = lws_create_vhost(s->ctx, &info);
    if (!s->vhost) {
        snprintf(err, errlen, "cannot listen on %s:%d (in use, or not an address of this host?)",
                 s->host, o->port);
        server__stop(s);
        return NULL;
    }
    s->port = lws_get_vhost_listen_port(s->vhost);
    runtime__add_hooks(rt, &(struct ef_runtime_hooks){.on_debug = hook_debug,
                                                      .on_status = hook_status,
                                                      .on_deployed = hook_deployed,
                                                      .ud = s});
    return s;
}

int server__port(const struct ef_server *s)
{
    return s ? s->port : 0;
}

void server__stop(struct ef_server *s)
{
    if (!s) {
        return;
    }
    s->stopping = true;
    /* unhook from the runtime: the hooks keep `s` as ud */
    struct ef_runtime *rt = s->rt;
    for (size_t i = 0; i < rt->nhooks; i++) {
        if (rt->hooks[i].ud == s) {
            memmove(&rt->hooks[i], &rt->hooks[i + 1], (rt->nhooks - i - 1) * sizeof(rt->hooks[0]));
            rt->nhooks--;
            i--;
        }
    }
    comms__close(s);
    if (s->ctx) {
        /* with a foreign loop lws closes its handles on the loop; the second
         * destroy, once they are closed, frees the context (DEPS.md gotcha 5) */
        lws_context_destroy(s->ctx);
        for (int i = 0; i < 64; i++) {
            uv_run(ef_loop_uv(&rt->loop), UV_RUN_NOWAIT);
        }
        lws_context_destroy(s->ctx);
        s->ctx = NULL;
    }
    /* let our timer (and anything lws left) finish closing */
    for (int i = 0; i < 64; i++) {
        uv_run(ef_loop_uv(&rt->loop), UV_RUN_NOWAIT);
    }
    admin__free(s);
    auth__free(s);
    ef_val_unref(s->flows);
    ef_val_unref(s->user_settings);
    ef_val_unref(s->retained);
    free(s->editor_dir);
    free(s->nodes_dir);
    free(s->defs_dir);
    free(s->plugins_dir);
    free(s->flows_path);
    free(s->cred_path);
    free(s);
}
