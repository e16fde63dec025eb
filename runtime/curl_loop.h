/*
 * curl_loop.h - libcurl's multi interface driven by a libuv loop: one
 * uv_poll per socket curl asks to watch (CURLMOPT_SOCKETFUNCTION) and one
 * uv_timer for curl's timeouts (CURLMOPT_TIMERFUNCTION). Transfers run
 * concurrently and never block the loop; connections (keep-alive) are
 * reused within one curl_loop. Each http request node owns one, and each
 * loop one for the SDK's HTTP client (http_client.c); no global state;
 * everything runs on the loop thread.
 */
#ifndef EF_CURL_LOOP_H
#define EF_CURL_LOOP_H

#include "curl_api.h" /* <curl/curl.h>, with curl_* loaded on first use */
#include <uv.h>

struct curl_loop;

/*
 * Called on the loop thread when a transfer ends, after the easy handle has
 * been removed from the multi handle (the callback may free it). ud is the
 * pointer given to curl_loop__add.
 */
typedef void (*curl_loop_done_fn)(CURL *easy, CURLcode result, void *ud);

/* A new driver on `uv`; NULL on OOM or when curl cannot be initialised. */
struct curl_loop *curl_loop__new(uv_loop_t *uv, curl_loop_done_fn done);
/* Starts a transfer (the easy handle stays the caller's). 0 or -1. */
int curl_loop__add(struct curl_loop *cl, CURL *easy, void *ud);
/* Abandons a transfer without calling `done` (the caller frees the handle). */
void curl_loop__remove(struct curl_loop *cl, CURL *easy);
/*
 * Tears the driver down: the caller must have removed its transfers. The
 * libuv handles close asynchronously; the memory goes with the last one.
 */
void curl_loop__free(struct curl_loop *cl);

#endif
