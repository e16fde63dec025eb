/*
 * http_client.c - the SDK's HTTP client (edgeflow/http.h): one curl_loop per
 * event loop, created on the first request, shared by every node type that
 * calls ef_http_request. Each call copies its request, collects the response
 * body (bounded) and headers, and reports once to its node on the loop
 * thread; calls of a node that closes are cancelled without a report.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <edgeflow/http.h>

#include "curl_loop.h"
#include "engine.h"
#include "strbuf.h"

#define DEFAULT_MAX_RESPONSE (64u << 20)

struct http_client {
    struct curl_loop *cl;
    struct ef_http_call *calls; /* running, doubly linked */
};

struct ef_http_call {
    struct ef_http_call *prev, *next;
    struct http_client *hc;
    struct ef_node *node;
    CURL *easy;
    struct curl_slist *hdrs;
    struct strbuf body;
    size_t max_response;
    bool too_big;
    struct ef_val *headers; /* of the last response (redirects, 100 Continue reset it) */
    ef_http_done_fn done;
    void *arg;
    uint64_t started_ms;
    char errbuf[CURL_ERROR_SIZE];
};

static void call_free(struct ef_http_call *c)
{
    if (c->prev) {
        c->prev->next = c->next;
    } else if (c->hc->calls == c) {
        c->hc->calls = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    if (c->easy) {
        curl_easy_cleanup(c->easy);
    }
    curl_slist_free_all(c->hdrs);
    free(c->body.p);
    ef_val_unref(c->headers);
    free(c);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct ef_http_call *c = ud;
    size_t len = size * nmemb;
    if (c->body.n + len > c->max_response) {
        c->too_big = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    strbuf__add(&c->body, data, len);
    return c->body.oom ? 0 : len;
}

/* Collects "Name: value" lines; a status line starts a new header set. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    struct ef_http_call *c = ud;
    size_t len = size * nmemb;
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        ef_val_unref(c->headers);
        c->headers = ef_val_obj();
        return c->headers ? len : 0;
    }
    const char *colon = memchr(data, ':', len);
    if (!colon || !c->headers) {
        return len; /* the blank line that ends the headers, or junk */
    }
    size_t klen = (size_t)(colon - data);
    char key[256];
    if (klen == 0 || klen >= sizeof(key)) {
        return len;
    }
    for (size_t i = 0; i < klen; i++) {
        key[i] = (char)tolower((unsigned char)data[i]);
    }
    const char *v = colon + 1, *end = data + len;
    while (v < end && (*v == ' ' || *v == '\t')) {
        v++;
    }
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) {
        end--;
    }
    struct ef_val *val = ef_val_strn(v, (size_t)(end - v));
    if (!val || ef_val_obj_setn_take(c->headers, key, klen, val) != 0) {
        return 0;
    }
    return len;
}

static void on_done(CURL *easy, CURLcode result, void *ud)
{
    struct ef_http_call *c = ud;
    struct ef_http_res res = {0};
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    char why[CURL_ERROR_SIZE + 64];
    if (result != CURLE_OK) {
        if (c->too_big) {
            snprintf(why, sizeof(why), "response larger than %zu bytes", c->max_response);
        } else {
            snprintf(why, sizeof(why), "%s", c->errbuf[0] ? c->errbuf : curl_easy_strerror(result));
        }
        res.error = why;
    } else {
        res.status = (int)status;
    }
    if (c->body.oom && !res.error) {
        res.error = "out of memory";
        res.status = 0;
    }
    res.body = c->body.p ? c->body.p : "";
    res.body_len = c->body.p ? c->body.n : 0;
    if (!c->headers) {
        c->headers = ef_val_obj();
    }
    res.headers = c->headers;
    res.elapsed_ms = (double)(ef_mono_ms() - c->started_ms);
    c->done(c->node, &res, c->arg);
    call_free(c);
}

static struct http_client *client_of(struct ef_loop *l)
{
    if (!l->http) {
        struct http_client *hc = calloc(1, sizeof(*hc));
        if (!hc) {
            return NULL;
        }
        hc->cl = curl_loop__new(&l->uv, on_done);
        if (!hc->cl) {
            free(hc);
            return NULL;
        }
        l->http = hc;
    }
    return l->http;
}

static bool header_ok(const char *s)
{
    for (; *s; s++) {
        if (*s == '\r' || *s == '\n') {
            return false;
        }
    }
    return true;
}

/* Sets the easy handle up from req; false (with why) when req is invalid. */
static bool configure(struct ef_http_call *c, const struct ef_http_req *req, const char **why)
{
    CURL *e = c->easy;
    const char *method = req->method ? req->method : (req->body_len ? "POST" : "GET");
    for (const char *p = method; *p; p++) {
        if (!isupper((unsigned char)*p)) {
            *why = "method must be upper-case letters";
            return false;
        }
    }
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct ef_http_header *h = &req->headers[i];
        if (!h->name || !h->name[0] || strchr(h->name, ':') || !header_ok(h->name) || !h->value ||
            !header_ok(h->value)) {
            *why = "header names must be non-empty without ':' and no header may contain CR or LF";
            return false;
        }
        struct strbuf line = {0};
        strbuf__addf(&line, "%s: %s", h->name, h->value);
        char *s = strbuf__take(&line, NULL);
        struct curl_slist *n = s ? curl_slist_append(c->hdrs, s) : NULL;
        free(s);
        if (!n) {
            *why = "out of memory";
            return false;
        }
        c->hdrs = n;
    }
    struct curl_slist *n = curl_slist_append(c->hdrs, "Expect:"); /* no 100-continue round trip */
    if (!n) {
        *why = "out of memory";
        return false;
    }
    c->hdrs = n;
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    if (req->body_len || strcmp(method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req->body ? (const char *)req->body : "");
    }
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") == 0 && req->body_len) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "GET");
    }
    if (req->ca_file) {
        curl_easy_setopt(e, CURLOPT_CAINFO, req->ca_file);
    }
    if (req->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    return true;
}

struct ef_http_call *ef_http_request(struct ef_node *n, const struct ef_http_req *req,
                                     ef_http_done_fn done, void *arg)
{
    if (!n || !req || !req->url || !done || n->closed) {
        return NULL;
    }
    if (strncmp(req->url, "http://", 7) != 0 && strncmp(req->url, "https://", 8) != 0) {
        ef_node_warn(n, "HTTP request refused: URL must start with http:// or https://: %s",
                     req->url);
        return NULL;
    }
    struct http_client *hc = client_of(ef_node_loop(n));
    if (!hc) {
        ef_node_warn(n, "HTTP request refused: libcurl is not available");
        return NULL;
    }
    struct ef_http_call *c = calloc(1, sizeof(*c));
    if (!c) {
        return NULL;
    }
    c->hc = hc;
    c->node = n;
    c->done = done;
    c->arg = arg;
    c->max_response = req->max_response ? req->max_response : DEFAULT_MAX_RESPONSE;
    c->started_ms = ef_mono_ms();
    const char *why = "out of memory";
    if (!(c->easy = curl_easy_init()) || !configure(c, req, &why) ||
        curl_loop__add(hc->cl, c->easy, c) != 0) {
        ef_node_warn(n, "HTTP request refused: %s", why);
        call_free(c);
        return NULL;
    }
    c->next = hc->calls;
    if (hc->calls) {
        hc->calls->prev = c;
    }
    hc->calls = c;
    return c;
}

void ef_http_cancel(struct ef_http_call *c)
{
    if (!c) {
        return;
    }
    curl_loop__remove(c->hc->cl, c->easy);
    call_free(c);
}

void http_client__node_closed(struct ef_node *n)
{
    struct http_client *hc = ef_node_loop(n)->http;
    for (struct ef_http_call *c = hc ? hc->calls : NULL, *next; c; c = next) {
        next = c->next;
        if (c->node == n) {
            ef_http_cancel(c);
        }
    }
}

void http_client__free(struct ef_loop *l)
{
    struct http_client *hc = l->http;
    if (!hc) {
        return;
    }
    while (hc->calls) {
        ef_http_cancel(hc->calls);
    }
    curl_loop__free(hc->cl);
    free(hc);
    l->http = NULL;
}
