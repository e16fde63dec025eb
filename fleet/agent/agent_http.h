/*
 * agent_http.h - the agent's HTTP calls on the loop: the enrolment POST and
 * file downloads streamed to disk with their size and sha256 checked on the
 * way. http:// URLs use a small HTTP/1.1 client on libuv (one connection
 * per request, Content-Length, chunked or read-to-close bodies), so an
 * agent never maps libcurl and its TLS stack (about 6 MB of RSS); https://
 * URLs go through libcurl's multi interface (the runtime's curl_loop),
 * loaded on first use.
 *
 * Loop-thread only. A request's done callback runs exactly once unless the
 * request is cancelled first; the request is freed right after it returns.
 */
#ifndef AGENT_HTTP_H
#define AGENT_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct agent_http;
struct agent_req;

/*
 * POST answer: status (0 when no answer came), err (NULL when an answer
 * came, else why not), the body (NUL-terminated; valid during the call).
 */
typedef void (*agent_http_post_done)(void *ud, int status, const char *err, const char *body,
                                     size_t len);
/* Download result: err NULL when the file is in place, verified. */
typedef void (*agent_http_fetch_done)(void *ud, const char *err);

/* A client on uv (libcurl is loaded only for the first https:// request). NULL on OOM. */
struct agent_http *agent_http_new(uv_loop_t *uv, char *err, size_t errlen);
/*
 * POSTs body (copied) as application/json. Answers are capped at 64 KiB.
 * Returns the request, or NULL (done not called) when it cannot start.
 */
struct agent_req *agent_http_post(struct agent_http *h, const char *url, const char *body,
                                  size_t len, uint32_t timeout_ms, agent_http_post_done done,
                                  void *ud);
/*
 * GETs url with "Authorization: Bearer <bearer>" into <path>.part, checks
 * that it has exactly `size` bytes with the given sha256 (hex) and renames
 * it to path. Anything else (an HTTP status other than 200, a different
 * size or hash) fails and removes the partial file. NULL when it cannot
 * start.
 */
struct agent_req *agent_http_fetch(struct agent_http *h, const char *url, const char *bearer,
                                   const char *path, uint64_t size, const char *sha256,
                                   uint32_t timeout_ms, agent_http_fetch_done done, void *ud);
/* Abandons a request without calling done (removes a partial file). NULL is ignored. */
void agent_http_cancel(struct agent_req *r);
/* Cancels every request and frees the client. NULL is ignored. */
void agent_http_free(struct agent_http *h);

#endif
