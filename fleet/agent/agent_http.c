/*
 * agent_http.c - the agent's HTTP client (agent_http.h): enrolment POSTs
 * and verified file downloads. Plain http:// runs on a small HTTP/1.1
 * client over libuv here; https:// goes through the runtime's curl_loop.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sodium.h>

#include "curl_loop.h"

#include "agent_http.h"

#define POST_MAX (64u * 1024)
#define HEAD_MAX (16u * 1024)

struct agent_http {
    uv_loop_t *uv;
    struct curl_loop *cl;   /* made on the first https:// request */
    struct agent_req *reqs; /* running, doubly linked */
};

enum body_mode { BODY_LENGTH, BODY_CHUNKED, BODY_CLOSE };
enum chunk_state { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER };

struct agent_req {
    struct agent_req *prev, *next;
    struct agent_http *h;
    bool finished;
    /* what to do with the answer */
    agent_http_post_done post_done;
    agent_http_fetch_done fetch_done;
    void *ud;
    char *body; /* POST answer */
    size_t len, cap;
    bool too_big;
    int fd; /* download */
    char *path, *part;
    uint64_t want_size, got;
    char want_sha[65];
    crypto_hash_sha256_state sha;
    bool write_failed;
    int status;
    /* libcurl (https) */
    CURL *easy;
    struct curl_slist *hdrs;
    char errbuf[CURL_ERROR_SIZE];
    /* built-in client (http) */
    bool native;
    char *host, *port, *request;
    size_t request_len;
    uv_getaddrinfo_t *gai; /* own allocation: it may outlive a cancelled request */
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t conn;
    uv_write_t wr;
    int open_handles;
    char *head; /* response head until the blank line */
    size_t head_len;
    bool in_body;
    enum body_mode mode;
    uint64_t remaining; /* BODY_LENGTH: bytes left; CH_DATA: bytes left of the chunk */
    enum chunk_state ch;
    char line[64];
    size_t line_len;
};

/* ---- request list and freeing ---- */

static void unlink_req(struct agent_req *r)
{
    if (r->prev) {
        r->prev->next = r->next;
    } else if (r->h && r->h->reqs == r) {
        r->h->reqs = r->next;
    }
    if (r->next) {
        r->next->prev = r->prev;
    }
    r->prev = r->next = NULL;
    r->h = NULL;
}

static void req_release(struct agent_req *r)
{
    /* libcurl's functions exist only once it was loaded (https) */
    if (r->easy) {
        curl_easy_cleanup(r->easy);
    }
    if (r->hdrs) {
        curl_slist_free_all(r->hdrs);
    }
    if (r->fd >= 0) {
        close(r->fd);
    }
    if (r->part) {
        unlink(r->part); /* still there only when it was not renamed */
    }
    free(r->part);
    free(r->path);
    free(r->body);
    free(r->host);
    free(r->port);
    free(r->request);
    free(r->head);
    free(r);
}

static void on_handle_closed(uv_handle_t *hd)
{
    struct agent_req *r = hd->data;
    if (--r->open_handles == 0) {
        req_release(r);
    }
}

/* Ends a request: unlinks it and frees it (after its libuv handles close). */
static void req_free(struct agent_req *r)
{
    unlink_req(r);
    if (r->gai) {
        r->gai->data = NULL; /* its callback frees it */
        uv_cancel((uv_req_t *)r->gai);
        r->gai = NULL;
    }
    if (r->native && r->open_handles > 0) {
        if (!uv_is_closing((uv_handle_t *)&r->tcp)) {
            uv_close((uv_handle_t *)&r->tcp, on_handle_closed);
        }
        if (!uv_is_closing((uv_handle_t *)&r->timer)) {
            uv_close((uv_handle_t *)&r->timer, on_handle_closed);
        }
        return;
    }
    req_release(r);
}

/* ---- answers ---- */

static void finish_post(struct agent_req *r, const char *transport_err)
{
    const char *err = NULL;
    char why[CURL_ERROR_SIZE + 64];
    int status = r->status;
    if (transport_err || r->too_big) {
        snprintf(why, sizeof(why), "%s", r->too_big ? "answer too large" : transport_err);
        err = why;
        status = 0;
    }
    r->post_done(r->ud, status, err, r->body ? r->body : "", r->body ? r->len : 0);
}

static void finish_fetch(struct agent_req *r, const char *transport_err)
{
    char why[CURL_ERROR_SIZE + 128];
    const char *err = NULL;
    if (transport_err && !r->write_failed) {
        snprintf(why, sizeof(why), "%s", transport_err);
        err = why;
    } else if (r->status != 200) {
        snprintf(why, sizeof(why), "HTTP status %d", r->status);
        err = why;
    } else if (r->write_failed && r->got > r->want_size) {
        snprintf(why, sizeof(why), "more than the expected %llu bytes",
                 (unsigned long long)r->want_size);
        err = why;
    } else if (r->write_failed) {
        snprintf(why, sizeof(why), "cannot write %.200s", r->part);
        err = why;
    } else if (r->got != r->want_size) {
        snprintf(why, sizeof(why), "%llu bytes instead of %llu", (unsigned long long)r->got,
                 (unsigned long long)r->want_size);
        err = why;
    } else {
        unsigned char md[crypto_hash_sha256_BYTES];
        char hex[65];
        crypto_hash_sha256_final(&r->sha, md);
        sodium_bin2hex(hex, sizeof(hex), md, sizeof(md));
        if (strcmp(hex, r->want_sha) != 0) {
            snprintf(why, sizeof(why), "sha256 %.12s... instead of %.12s...", hex, r->want_sha);
            err = why;
        } else if (fsync(r->fd) != 0 || close(r->fd) != 0) {
            r->fd = -1;
            snprintf(why, sizeof(why), "cannot write %.200s: %s", r->part, strerror(errno));
            err = why;
        } else {
            r->fd = -1;
            if (rename(r->part, r->path) != 0) {
                snprintf(why, sizeof(why), "cannot rename %.200s: %s", r->part, strerror(errno));
                err = why;
            } else {
                free(r->part);
                r->part = NULL;
            }
        }
    }
    if (err && r->part) {
        /* gone before anyone hears of the failure */
        if (r->fd >= 0) {
            close(r->fd);
            r->fd = -1;
        }
        unlink(r->part);
        free(r->part);
        r->part = NULL;
    }
    r->fetch_done(r->ud, err);
}

/* Reports once, then frees. */
static void finish(struct agent_req *r, const char *transport_err)
{
    if (r->finished) {
        return;
    }
    r->finished = true;
    if (r->post_done) {
        finish_post(r, transport_err);
    } else {
        finish_fetch(r, transport_err);
    }
    req_free(r);
}

/* Body bytes of a POST answer (bounded) or of a download (checked, hashed). */
static bool sink(struct agent_req *r, const char *data, size_t n)
{
    if (r->post_done) {
        if (r->len + n > POST_MAX) {
            r->too_big = true;
            return false;
        }
        if (r->len + n + 1 > r->cap) {
            size_t nc = r->len + n + 1 + 1024;
            char *nb = realloc(r->body, nc);
            if (!nb) {
                return false;
            }
            r->body = nb;
            r->cap = nc;
        }
        memcpy(r->body + r->len, data, n);
        r->len += n;
        r->body[r->len] = '\0';
        return true;
    }
    if (r->status != 200) {
        return true; /* an error page: not written, the status fails it */
    }
    if (r->got + n > r->want_size) {
        r->got += n;
        r->write_failed = true;
        return false;
    }
    const char *p = data;
    size_t left = n;
    while (left > 0) {
        ssize_t w = write(r->fd, p, left);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            r->write_failed = true;
            return false;
        }
        p += w;
        left -= (size_t)w;
    }
    crypto_hash_sha256_update(&r->sha, (const unsigned char *)data, n);
    r->got += n;
    return true;
}

/* ---- libcurl (https) ---- */

static void curl_done(CURL *easy, CURLcode result, void *ud)
{
    struct agent_req *r = ud;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    r->status = (int)status;
    char why[CURL_ERROR_SIZE + 8];
    const char *err = NULL;
    if (result != CURLE_OK) {
        snprintf(why, sizeof(why), "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(result));
        err = why;
    }
    finish(r, err);
}

static size_t curl_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct agent_req *r = ud;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    r->status = (int)status;
    return sink(r, data, n) ? n : 0;
}

static int curl_start(struct agent_req *r, const char *url, const char *bearer, uint32_t timeout_ms,
                      const char *body, size_t len)
{
    struct agent_http *h = r->h;
    if (!h->cl && !(h->cl = curl_loop__new(h->uv, curl_done))) {
        return -1;
    }
    if (!(r->easy = curl_easy_init())) {
        return -1;
    }
    char line[512];
    if (bearer) {
        snprintf(line, sizeof(line), "Authorization: Bearer %s", bearer);
    } else {
        snprintf(line, sizeof(line), "Content-Type: application/json");
    }
    struct curl_slist *s = curl_slist_append(NULL, line);
    struct curl_slist *s2 = s ? curl_slist_append(s, "Expect:") : NULL;
    if (!s2) {
        curl_slist_free_all(s);
        return -1;
    }
    r->hdrs = s2;
    curl_easy_setopt(r->easy, CURLOPT_URL, url);
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, curl_body);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    if (body) {
        curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(r->easy, CURLOPT_COPYPOSTFIELDS, body);
    }
    return curl_loop__add(h->cl, r->easy, r);
}

/* ---- built-in HTTP/1.1 client (http) ---- */

static void native_fail(struct agent_req *r, const char *what, int uverr)
{
    char why[256];
    snprintf(why, sizeof(why), "%s: %s", what, uverr ? uv_strerror(uverr) : "protocol error");
    finish(r, why);
}

/* Parses the response head; false when it is not HTTP/1.x. */
static bool parse_head(struct agent_req *r)
{
    char *h = r->head;
    if (strncmp(h, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)h[9])) {
        return false;
    }
    r->status = atoi(h + 9);
    r->mode = BODY_CLOSE;
    for (char *line = strstr(h, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
        char *name = line + 2;
        char *colon = strchr(name, ':');
        char *eol = strstr(name, "\r\n");
        if (!colon || (eol && colon > eol)) {
            continue;
        }
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t') {
            v++;
        }
        size_t nl = (size_t)(colon - name);
        if (nl == 14 && !strncasecmp(name, "content-length", 14) && r->mode != BODY_CHUNKED) {
            r->mode = BODY_LENGTH;
            r->remaining = strtoull(v, NULL, 10);
        } else if (nl == 17 && !strncasecmp(name, "transfer-encoding", 17) &&
                   !strncasecmp(v, "chunked", 7)) {
            r->mode = BODY_CHUNKED;
            r->ch = CH_SIZE;
        }
    }
    return true;
}

/* Feeds body bytes; true when the body is complete. */
static bool feed_body(struct agent_req *r, const char *p, size_t n, bool *bad)
{
    if (r->mode == BODY_CLOSE) {
        if (n && !sink(r, p, n)) {
            *bad = true;
        }
        return false;
    }
    if (r->mode == BODY_LENGTH) {
        size_t take = n < r->remaining ? n : (size_t)r->remaining;
        if (take && !sink(r, p, take)) {
            *bad = true;
            return false;
        }
        r->remaining -= take;
        return r->remaining == 0;
    }
    while (n > 0) {
        if (r->ch == CH_DATA) {
            size_t take = n < r->remaining ? n : (size_t)r->remaining;
            if (!sink(r, p, take)) {
                *bad = true;
                return false;
            }
            r->remaining -= take;
            p += take;
            n -= take;
            if (r->remaining == 0) {
                r->ch = CH_DATA_END;
                r->line_len = 0;
            }
            continue;
        }
        /* a line: chunk size, the CRLF after data, or a trailer */
        char c = *p++;
        n--;
        if (c != '\n') {
            if (r->line_len + 1 >= sizeof(r->line)) {
                *bad = true;
                return false;
            }
            r->line[r->line_len++] = c;
            continue;
        }
        if (r->line_len && r->line[r->line_len - 1] == '\r') {
            r->line_len--;
        }
        r->line[r->line_len] = '\0';
        size_t ll = r->line_len;
        r->line_len = 0;
        if (r->ch == CH_DATA_END) {
            r->ch = CH_SIZE;
        } else if (r->ch == CH_SIZE) {
            char *end;
            unsigned long long sz = strtoull(r->line, &end, 16);
            if (end == r->line) {
                *bad = true;
                return false;
            }
            if (sz == 0) {
                r->ch = CH_TRAILER;
            } else {
                r->remaining = sz;
                r->ch = CH_DATA;
            }
        } else if (ll == 0) {
            return true; /* the blank line after the last chunk */
        }
    }
    return false;
}

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
    (void)hd;
    (void)suggested;
    static char slab[65536]; /* loop thread only; consumed before the next read */
    buf->base = slab;
    buf->len = sizeof(slab);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct agent_req *r = s->data;
    if (r->finished) {
        return;
    }
    if (nread == UV_EOF) {
        bool ok = r->in_body && r->mode == BODY_CLOSE;
        if (ok) {
            finish(r, NULL);
        } else {
            native_fail(r, "connection closed before the answer was complete", 0);
        }
        return;
    }
    if (nread < 0) {
        native_fail(r, "read", (int)nread);
        return;
    }
    const char *p = buf->base;
    size_t n = (size_t)nread;
    if (!r->in_body) {
        size_t room = HEAD_MAX - r->head_len;
        size_t take = n < room ? n : room;
        char *nh = realloc(r->head, r->head_len + take + 1);
        if (!nh) {
            native_fail(r, "out of memory", 0);
            return;
        }
        r->head = nh;
        memcpy(r->head + r->head_len, p, take);
        size_t old = r->head_len;
        r->head_len += take;
        r->head[r->head_len] = '\0';
        char *end = strstr(r->head, "\r\n\r\n");
        if (!end) {
            if (r->head_len >= HEAD_MAX) {
                native_fail(r, "answer head too large", 0);
            }
            return;
        }
        size_t head_bytes = (size_t)(end - r->head) + 4;
        end[2] = '\0'; /* keep the last header's CRLF for parse_head */
        if (!parse_head(r)) {
            native_fail(r, "not an HTTP/1.x answer", 0);
            return;
        }
        r->in_body = true;
        size_t consumed = head_bytes - old; /* of this read */
        p += consumed;
        n -= consumed;
        if (r->mode == BODY_LENGTH && r->remaining == 0) {
            finish(r, NULL);
            return;
        }
    }
    bool bad = false;
    bool done = feed_body(r, p, n, &bad);
    if (bad) {
        finish(r, r->write_failed || r->too_big ? "body refused" : "bad chunked encoding");
    } else if (done) {
        finish(r, NULL);
    }
}

static void on_written(uv_write_t *w, int status)
{
    struct agent_req *r = w->data;
    if (status < 0 && !r->finished) {
        native_fail(r, "write", status);
    }
}

static void on_connected(uv_connect_t *c, int status)
{
    struct agent_req *r = c->data;
    if (r->finished) {
        return;
    }
    if (status < 0) {
        native_fail(r, "connect", status);
        return;
    }
    uv_buf_t b = uv_buf_init(r->request, (unsigned)r->request_len);
    r->wr.data = r;
    int rc = uv_write(&r->wr, (uv_stream_t *)&r->tcp, &b, 1, on_written);
    if (rc == 0) {
        rc = uv_read_start((uv_stream_t *)&r->tcp, on_alloc, on_read);
    }
    if (rc < 0) {
        native_fail(r, "write", rc);
    }
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res)
{
    struct agent_req *r = g->data;
    if (!r) { /* cancelled */
        uv_freeaddrinfo(res);
        free(g);
        return;
    }
    r->gai = NULL;
    free(g);
    if (status < 0 || !res) {
        uv_freeaddrinfo(res);
        native_fail(r, "resolve", status);
        return;
    }
    r->conn.data = r;
    int rc = uv_tcp_connect(&r->conn, &r->tcp, res->ai_addr, on_connected);
    uv_freeaddrinfo(res);
    if (rc < 0) {
        native_fail(r, "connect", rc);
    }
}

static void on_timeout(uv_timer_t *t)
{
    struct agent_req *r = t->data;
    finish(r, "timed out");
}

/* Splits http://host[:port]/path. */
static bool split_url(const char *url, char **host, char **port, const char **path)
{
    const char *h = url + 7;
    const char *slash = strchr(h, '/');
    const char *end = slash ? slash : h + strlen(h);
    const char *hend = end, *pstart = NULL;
    if (*h == '[') {
        const char *rb = memchr(h, ']', (size_t)(end - h));
        if (!rb) {
            return false;
        }
        hend = rb;
        h++;
        pstart = rb[1] == ':' ? rb + 2 : NULL;
    } else {
        const char *colon = memchr(h, ':', (size_t)(end - h));
        if (colon) {
            hend = colon;
            pstart = colon + 1;
        }
    }
    if (hend == h) {
        return false;
    }
    *host = strndup(h, (size_t)(hend - h));
    *port = pstart ? strndup(pstart, (size_t)(end - pstart)) : strdup("80");
    *path = slash ? slash : "/";
    return *host && *port;
}

static int native_start(struct agent_req *r, const char *url, const char *bearer,
                        uint32_t timeout_ms, const char *body, size_t len)
{
    const char *path;
    if (!split_url(url, &r->host, &r->port, &path)) {
        return -1;
    }
    for (const char *c = path; *c; c++) {
        if (*c == '\r' || *c == '\n' || *c == ' ') {
            return -1;
        }
    }
    size_t cap = strlen(path) + strlen(r->host) + strlen(r->port) + (bearer ? strlen(bearer) : 0) +
                 len + 256;
    r->request = malloc(cap);
    if (!r->request) {
        return -1;
    }
    int n;
    if (body) {
        n = snprintf(r->request, cap,
                     "POST %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     path, r->host, r->port, len);
        memcpy(r->request + n, body, len);
        r->request_len = (size_t)n + len;
    } else {
        n = snprintf(r->request, cap,
                     "GET %s HTTP/1.1\r\nHost: %s:%s\r\nAuthorization: Bearer %s\r\n"
                     "Connection: close\r\n\r\n",
                     path, r->host, r->port, bearer ? bearer : "");
        r->request_len = (size_t)n;
    }
    uv_tcp_init(r->h->uv, &r->tcp);
    uv_timer_init(r->h->uv, &r->timer);
    r->tcp.data = r->timer.data = r;
    r->open_handles = 2;
    r->native = true;
    uv_timer_start(&r->timer, on_timeout, timeout_ms ? timeout_ms : 600000, 0);
    r->gai = calloc(1, sizeof(*r->gai));
    if (!r->gai) {
        return -1;
    }
    r->gai->data = r;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int rc = uv_getaddrinfo(r->h->uv, r->gai, on_resolved, r->host, r->port, &hints);
    if (rc < 0) {
        free(r->gai);
        r->gai = NULL;
        return -1;
    }
    return 0;
}

/* ---- public calls ---- */

struct agent_http *agent_http_new(uv_loop_t *uv, char *err, size_t errlen)
{
    struct agent_http *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->uv = uv;
    return h;
}

static struct agent_req *req_new(struct agent_http *h)
{
    struct agent_req *r = calloc(1, sizeof(*r));
    if (!r) {
        return NULL;
    }
    r->h = h;
    r->fd = -1;
    r->next = h->reqs;
    if (h->reqs) {
        h->reqs->prev = r;
    }
    h->reqs = r;
    return r;
}

static int start(struct agent_req *r, const char *url, const char *bearer, uint32_t timeout_ms,
                 const char *body, size_t len)
{
    if (!strncmp(url, "http://", 7)) {
        return native_start(r, url, bearer, timeout_ms, body, len);
    }
    if (!strncmp(url, "https://", 8)) {
        return curl_start(r, url, bearer, timeout_ms, body, len);
    }
    return -1;
}

struct agent_req *agent_http_post(struct agent_http *h, const char *url, const char *body,
                                  size_t len, uint32_t timeout_ms, agent_http_post_done done,
                                  void *ud)
{
    struct agent_req *r = req_new(h);
    if (!r) {
        return NULL;
    }
    r->post_done = done;
    r->ud = ud;
    if (start(r, url, NULL, timeout_ms, body, len) != 0) {
        r->finished = true;
        req_free(r);
        return NULL;
    }
    return r;
}

struct agent_req *agent_http_fetch(struct agent_http *h, const char *url, const char *bearer,
                                   const char *path, uint64_t size, const char *sha256,
                                   uint32_t timeout_ms, agent_http_fetch_done done, void *ud)
{
    if (strlen(sha256) != 64) {
        return NULL;
    }
    struct agent_req *r = req_new(h);
    if (!r) {
        return NULL;
    }
    r->fetch_done = done;
    r->ud = ud;
    r->want_size = size;
    memcpy(r->want_sha, sha256, 65);
    crypto_hash_sha256_init(&r->sha);
    size_t pl = strlen(path);
    r->path = strdup(path);
    r->part = malloc(pl + 6);
    if (r->part) {
        memcpy(r->part, path, pl);
        memcpy(r->part + pl, ".part", 6);
        r->fd = open(r->part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (r->fd < 0) {
            free(r->part);
            r->part = NULL;
        }
    }
    if (!r->path || !r->part || start(r, url, bearer ? bearer : "", timeout_ms, NULL, 0) != 0) {
        r->finished = true;
        req_free(r);
        return NULL;
    }
    return r;
}

void agent_http_cancel(struct agent_req *r)
{
    if (!r || r->finished) {
        return;
    }
    r->finished = true;
    if (r->easy && r->h && r->h->cl) {
        curl_loop__remove(r->h->cl, r->easy);
    }
    req_free(r);
}

void agent_http_free(struct agent_http *h)
{
    if (!h) {
        return;
    }
    while (h->reqs) {
        agent_http_cancel(h->reqs);
    }
    if (h->cl) {
        curl_loop__free(h->cl);
    }
    free(h);
}
