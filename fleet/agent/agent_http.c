/*
 * agent_http.c - the agent's HTTP client (agent_http.h): enrolment POSTs
 * and verified file downloads over the runtime's curl_loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "curl_loop.h"

#include "agent_http.h"

#define POST_MAX (64u * 1024)

struct agent_http {
    struct curl_loop *cl;
    struct agent_req *reqs; /* running, doubly linked */
};

struct agent_req {
    struct agent_req *prev, *next;
    struct agent_http *h;
    CURL *easy;
    struct curl_slist *hdrs;
    /* POST */
    agent_http_post_done post_done;
    char *body;
    size_t len, cap;
    bool too_big;
    /* fetch */
    agent_http_fetch_done fetch_done;
    int fd;
    char *path, *part;
    uint64_t want_size, got;
    char want_sha[65];
    crypto_hash_sha256_state sha;
    bool write_failed;
    void *ud;
    char errbuf[CURL_ERROR_SIZE];
};

static void req_free(struct agent_req *r)
{
    if (r->prev) {
        r->prev->next = r->next;
    } else if (r->h->reqs == r) {
        r->h->reqs = r->next;
    }
    if (r->next) {
        r->next->prev = r->prev;
    }
    if (r->easy) {
        curl_easy_cleanup(r->easy);
    }
    curl_slist_free_all(r->hdrs);
    if (r->fd >= 0) {
        close(r->fd);
    }
    if (r->part) {
        unlink(r->part); /* still there only when it was not renamed */
    }
    free(r->part);
    free(r->path);
    free(r->body);
    free(r);
}

static void finish_post(struct agent_req *r, CURLcode result)
{
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    const char *err = NULL;
    char why[CURL_ERROR_SIZE + 64];
    if (result != CURLE_OK) {
        snprintf(why, sizeof(why), "%s",
                 r->too_big ? "answer too large"
                            : (r->errbuf[0] ? r->errbuf : curl_easy_strerror(result)));
        err = why;
        status = 0;
    }
    r->post_done(r->ud, (int)status, err, r->body ? r->body : "", r->body ? r->len : 0);
}

static void finish_fetch(struct agent_req *r, CURLcode result)
{
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    char why[CURL_ERROR_SIZE + 128];
    const char *err = NULL;
    if (result != CURLE_OK && !r->write_failed) {
        snprintf(why, sizeof(why), "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(result));
        err = why;
    } else if (status != 200) {
        snprintf(why, sizeof(why), "HTTP status %ld", status);
        err = why;
    } else if (r->write_failed && r->got > r->want_size) {
        snprintf(why, sizeof(why), "more than the expected %llu bytes",
                 (unsigned long long)r->want_size);
        err = why;
    } else if (r->write_failed) {
        snprintf(why, sizeof(why), "cannot write %s", r->part);
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
            snprintf(why, sizeof(why), "cannot write %s: %s", r->part, strerror(errno));
            err = why;
        } else {
            r->fd = -1;
            if (rename(r->part, r->path) != 0) {
                snprintf(why, sizeof(why), "cannot rename %s: %s", r->part, strerror(errno));
                err = why;
            } else {
                free(r->part);
                r->part = NULL;
            }
        }
    }
    r->fetch_done(r->ud, err);
}

static void on_done(CURL *easy, CURLcode result, void *ud)
{
    struct agent_req *r = ud;
    (void)easy;
    if (r->post_done) {
        finish_post(r, result);
    } else {
        finish_fetch(r, result);
    }
    req_free(r);
}

struct agent_http *agent_http_new(uv_loop_t *uv, char *err, size_t errlen)
{
    struct agent_http *h = calloc(1, sizeof(*h));
    if (!h || !(h->cl = curl_loop__new(uv, on_done))) {
        snprintf(err, errlen, "HTTP client not available (libcurl cannot be loaded)");
        free(h);
        return NULL;
    }
    return h;
}

static size_t on_post_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct agent_req *r = ud;
    size_t n = size * nmemb;
    if (r->len + n > POST_MAX) {
        r->too_big = true;
        return 0;
    }
    if (r->len + n + 1 > r->cap) {
        size_t nc = r->len + n + 1 + 1024;
        char *nb = realloc(r->body, nc);
        if (!nb) {
            return 0;
        }
        r->body = nb;
        r->cap = nc;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

static size_t on_file_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct agent_req *r = ud;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        return n; /* an error page: not written, the status fails it */
    }
    if (r->got + n > r->want_size) {
        r->got += n;
        r->write_failed = true;
        return 0;
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
            return 0;
        }
        p += w;
        left -= (size_t)w;
    }
    crypto_hash_sha256_update(&r->sha, (const unsigned char *)data, n);
    r->got += n;
    return n;
}

static struct agent_req *req_new(struct agent_http *h, const char *url, uint32_t timeout_ms)
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
    if (!(r->easy = curl_easy_init())) {
        req_free(r);
        return NULL;
    }
    curl_easy_setopt(r->easy, CURLOPT_URL, url);
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    return r;
}

struct agent_req *agent_http_post(struct agent_http *h, const char *url, const char *body,
                                  size_t len, uint32_t timeout_ms, agent_http_post_done done,
                                  void *ud)
{
    struct agent_req *r = req_new(h, url, timeout_ms);
    if (!r) {
        return NULL;
    }
    r->post_done = done;
    r->ud = ud;
    struct curl_slist *s = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *s2 = s ? curl_slist_append(s, "Expect:") : NULL;
    if (!s2) {
        curl_slist_free_all(s);
        req_free(r);
        return NULL;
    }
    r->hdrs = s2;
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(r->easy, CURLOPT_COPYPOSTFIELDS, body);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_post_body);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    if (curl_loop__add(h->cl, r->easy, r) != 0) {
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
    struct agent_req *r = req_new(h, url, timeout_ms);
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
    char auth[512];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer ? bearer : "");
    r->hdrs = curl_slist_append(NULL, auth);
    if (!r->path || !r->part || !r->hdrs) {
        req_free(r);
        return NULL;
    }
    memcpy(r->part, path, pl);
    memcpy(r->part + pl, ".part", 6);
    r->fd = open(r->part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (r->fd < 0) {
        free(r->part);
        r->part = NULL;
        req_free(r);
        return NULL;
    }
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_file_body);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    if (curl_loop__add(h->cl, r->easy, r) != 0) {
        req_free(r);
        return NULL;
    }
    return r;
}

void agent_http_cancel(struct agent_req *r)
{
    if (!r) {
        return;
    }
    curl_loop__remove(r->h->cl, r->easy);
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
    curl_loop__free(h->cl);
    free(h);
}
