/*
 * tcp_util.c - the tcp nodes' session registry, writes and texts (see
 * tcp_util.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "js.h"
#include "base64.h"
#include "settings.h"
#include "tcp_util.h"

void tcp_pool__add(struct tcp_pool *pool, struct tcp_sess *s)
{
    s->next = NULL;
    s->seq = uv_hrtime();
    struct tcp_sess **pp = &pool->head;
    while (*pp) {
        pp = &(*pp)->next;
    }
    *pp = s;
}

void tcp_pool__remove(struct tcp_pool *pool, struct tcp_sess *s)
{
    for (struct tcp_sess **pp = &pool->head; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            s->next = NULL;
            return;
        }
    }
}

/* The pool of node n if it is a running tcp in node, else NULL. */
static struct tcp_pool *pool_of(struct ef_node *n)
{
    if (!n || n->closed || !n->priv || strcmp(n->type->name, "tcp in") != 0) {
        return NULL;
    }
    return (struct tcp_pool *)n->priv;
}

struct tcp_sess *tcp_pool__find(struct ef_node *from, const char *id)
{
    struct ef_flowset *fs = from->fs;
    for (size_t i = 0; fs && i < fs->nnodes; i++) {
        struct tcp_pool *p = pool_of(fs->nodes[i]);
        for (struct tcp_sess *s = p ? p->head : NULL; s; s = s->next) {
            if (!strcmp(s->id, id)) {
                return s;
            }
        }
    }
    return NULL;
}

static int by_seq(const void *a, const void *b)
{
    const struct tcp_sess *x = *(struct tcp_sess *const *)a;
    const struct tcp_sess *y = *(struct tcp_sess *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

struct tcp_sess **tcp_pool__all(struct ef_node *from, size_t *n)
{
    *n = 0;
    struct ef_flowset *fs = from->fs;
    size_t cnt = 0;
    for (size_t i = 0; fs && i < fs->nnodes; i++) {
        struct tcp_pool *p = pool_of(fs->nodes[i]);
        for (struct tcp_sess *s = p ? p->head : NULL; s; s = s->next) {
            cnt++;
        }
    }
    if (!cnt) {
        return NULL;
    }
    struct tcp_sess **all = malloc(cnt * sizeof(*all));
    if (!all) {
        return NULL;
    }
    for (size_t i = 0; i < fs->nnodes; i++) {
        struct tcp_pool *p = pool_of(fs->nodes[i]);
        for (struct tcp_sess *s = p ? p->head : NULL; s; s = s->next) {
            all[(*n)++] = s;
        }
    }
    qsort(all, *n, sizeof(*all), by_seq);
    return all;
}

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

int tcp__write(uv_stream_t *s, const void *data, size_t len)
{
    if (uv_is_closing((uv_handle_t *)s)) {
        return UV_EPIPE;
    }
    if (!len) {
        return 0;
    }
    if (uv_stream_get_write_queue_size(s) + len > TCP_WRITE_QUEUE_MAX) {
        return UV_ENOBUFS; /* a peer that does not read: drop rather than grow */
    }
    /* the request and a copy of the data in one block, freed when written */
    uv_write_t *req = malloc(sizeof(*req) + len);
    if (!req) {
        return UV_ENOMEM;
    }
    char *copy = (char *)(req + 1);
    memcpy(copy, data, len);
    uv_buf_t b = uv_buf_init(copy, (unsigned)len);
    int rc = uv_write(req, s, &b, 1, on_written);
    if (rc) {
        free(req);
    }
    return rc;
}

char *tcp__payload_bytes(const struct ef_val *payload, bool base64, size_t *len)
{
    if (payload && ef_val_type(payload) == EF_BUF) {
        size_t n = ef_val_buf_len(payload);
        char *out = malloc(n + 1);
        if (out) {
            memcpy(out, ef_val_buf_data(payload), n);
            *len = n;
        }
        return out;
    }
    if (payload && ef_val_type(payload) == EF_STR && base64) {
        size_t sl = ef_val_str_len(payload);
        uint8_t *out = malloc(sl / 4 * 3 + 4);
        if (out) {
            *len = base64__decode(ef_val_str_get(payload), sl, out);
        }
        return (char *)out;
    }
    return js__to_string(payload, len);
}

void tcp__err_text(char *buf, size_t len, int uverr, const char *syscall, const char *addr)
{
    if (!strcmp(syscall, "listen")) {
        snprintf(buf, len, "Error: listen %s: %s %s", uv_err_name(uverr), uv_strerror(uverr), addr);
    } else {
        snprintf(buf, len, "Error: %s %s%s%s", syscall, uv_err_name(uverr), addr[0] ? " " : "",
                 addr);
    }
}

void tcp__connections_text(char *buf, size_t len, size_t count)
{
    snprintf(buf, len, "%zu connection%s", count, count == 1 ? "" : "s");
}

double tcp__setting_ms(struct ef_node *n, const char *key, double def)
{
    const struct ef_val *v = settings__get(n->fs->rt->settings, key);
    double d = v ? js__to_number(v) : 0;
    return d > 0 ? d : def;
}

bool tcp__peer(const uv_tcp_t *t, char *ip, size_t iplen, int *port)
{
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    if (uv_tcp_getpeername(t, (struct sockaddr *)&ss, &sl) != 0) {
        return false;
    }
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&ss;
        uv_ip6_name(a6, ip, iplen);
        *port = ntohs(a6->sin6_port);
    } else {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)&ss;
        uv_ip4_name(a4, ip, iplen);
        *port = ntohs(a4->sin_port);
    }
    return true;
}

int tcp__port(double d)
{
    if (!(d >= 0 && d <= 65535) || d != (double)(int)d) {
        return -1;
    }
    return (int)d;
}

/* ---- Client connections ---- */

struct tcp_dial {
    uv_getaddrinfo_t gai;
    uv_connect_t conn;
    uv_tcp_t *t;
    tcp_dial_cb cb;
    void *ud;
    bool cancelled;
    int port;
    char addr[INET6_ADDRSTRLEN + 8];
    char host[];
};

static void dial_end(struct tcp_dial *d, int status, const char *err)
{
    if (!d->cancelled) {
        d->cb(d->ud, status, err);
    }
    free(d);
}

static void on_connected(uv_connect_t *req, int status)
{
    struct tcp_dial *d = req->data;
    char err[256] = "";
    if (status) {
        tcp__err_text(err, sizeof(err), status, "connect", d->addr);
    }
    dial_end(d, status, err);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct tcp_dial *d = req->data;
    char err[512];
    if (d->cancelled) {
        uv_freeaddrinfo(res);
        free(d);
        return;
    }
    if (status || !res) {
        bool notfound = status == UV_EAI_NONAME || status == UV_EAI_NODATA || !res;
        snprintf(err, sizeof(err), "Error: getaddrinfo %s %s",
                 notfound ? "ENOTFOUND" : uv_err_name(status), d->host);
        uv_freeaddrinfo(res);
        dial_end(d, status ? status : UV_EAI_NONAME, err);
        return;
    }
    char ip[INET6_ADDRSTRLEN] = "";
    if (res->ai_family == AF_INET6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)res->ai_addr;
        a6->sin6_port = htons((uint16_t)d->port);
        uv_ip6_name(a6, ip, sizeof(ip));
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)res->ai_addr;
        a4->sin_port = htons((uint16_t)d->port);
        uv_ip4_name(a4, ip, sizeof(ip));
    }
    snprintf(d->addr, sizeof(d->addr), "%s:%d", ip, d->port);
    d->conn.data = d;
    int rc = uv_tcp_connect(&d->conn, d->t, res->ai_addr, on_connected);
    uv_freeaddrinfo(res);
    if (rc) {
        tcp__err_text(err, sizeof(err), rc, "connect", d->addr);
        dial_end(d, rc, err);
    }
}

struct tcp_dial *tcp__dial(uv_loop_t *loop, uv_tcp_t *t, const char *host, int port, tcp_dial_cb cb,
                           void *ud)
{
    if (!host || !host[0]) {
        host = "localhost";
    }
    size_t hl = strlen(host);
    struct tcp_dial *d = calloc(1, sizeof(*d) + hl + 1);
    if (!d) {
        return NULL;
    }
    memcpy(d->host, host, hl + 1);
    d->t = t;
    d->cb = cb;
    d->ud = ud;
    d->port = port;
    d->gai.data = d;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int rc = uv_getaddrinfo(loop, &d->gai, on_resolved, d->host, NULL, &hints);
    if (rc) {
        free(d);
        return NULL;
    }
    return d;
}

void tcp__dial_cancel(struct tcp_dial *d)
{
    if (d) {
        d->cancelled = true;
    }
}
