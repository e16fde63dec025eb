/*
 * edgeflow/http.h - an HTTP(S) client for node types: requests run on the
 * runtime's libcurl multi driver on the loop, never blocking it, many at once,
 * with keep-alive connection reuse.
 */
#ifndef EDGEFLOW_HTTP_H
#define EDGEFLOW_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct ef_node;
struct ef_val;
struct ef_http_call;

struct ef_http_header {
    const char *name;
    const char *value;
};

/* A request; everything is copied by ef_http_request, nothing is kept. */
struct ef_http_req {
    const char *method; /* NULL: "GET", or "POST" when body_len > 0 */
    const char *url;    /* http:// or https:// */
    const struct ef_http_header *headers;
    size_t nheaders;
    const void *body;
    size_t body_len;
    uint32_t timeout_ms; /* whole transfer; 0: no limit */
    const char *ca_file; /* PEM file of trusted CAs; NULL: the system's */
    int insecure;        /* nonzero: do not verify the server's certificate */
    size_t max_response; /* bytes of body accepted; 0: 64 MiB */
};

/* A finished request; valid only during the done callback. */
struct ef_http_res {
    int status;        /* HTTP status; 0 when no response arrived */
    const char *error; /* NULL when a response arrived (any status), else why not */
    const char *body;  /* the body, NUL-terminated (may contain NULs) */
    size_t body_len;
    const struct ef_val *headers; /* object: lower-case header names to strings */
    double elapsed_ms;
};

typedef void (*ef_http_done_fn)(struct ef_node *n, const struct ef_http_res *res, void *arg);

/*
 * Starts a request for node n; done runs once on the loop thread when it
 * ends (also for errors: res->error says why). Returns the call (owned by the
 * runtime until done returns or it is cancelled), or NULL with nothing
 * started when the request is invalid or libcurl cannot be loaded (the
 * reason is logged against n). done is never called after n's close
 * callback: calls still running then are cancelled, so a node that gave
 * arg ownership frees it in close.
 */
struct ef_http_call *ef_http_request(struct ef_node *n, const struct ef_http_req *req,
                                     ef_http_done_fn done, void *arg);

/* Abandons a running call without calling done. NULL is ignored. */
void ef_http_cancel(struct ef_http_call *call);

#endif
