/*
 * ws_routes.h - websocket endpoints for the websocket nodes (internal).
 *
 * Server side: a websocket-listener registers a path (already joined to
 * httpNodeRoot); server.c asks ws_routes__wants() while an upgrade is being
 * filtered and hands the accepted connection over with ws_routes__accept().
 * The registry lives in the runtime, so listeners can be registered before
 * the server starts and survive without one (flow tests).
 *
 * Client side: a websocket-client opens connections with
 * ws_routes__connect() on a libwebsockets client context that runs on the
 * runtime's libuv loop, created on first use and destroyed by
 * ws_routes__free() when the runtime is destroyed.
 *
 * Every peer (accepted or outgoing) reassembles fragmented messages, closes
 * with 1009 when a message exceeds the maximum payload (settings
 * webSocketNodeMaxPayload, default 100 MiB as Node-RED's ws library) and
 * with 1007 when a text message is not UTF-8, and queues what is sent to it
 * until the socket is writeable. All calls run on the loop thread.
 */
#ifndef EF_WS_ROUTES_H
#define EF_WS_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

struct ef_runtime;
struct lws;
struct ws_peer;
struct ws_route;

#define WS_DEFAULT_MAX_PAYLOAD (100u << 20) /* ws 7's maxPayload default */

/*
 * What happens on a peer. `ud` is the value given to listen/connect. After
 * `closed` the peer is gone; `error` (with a text as Node's ws library
 * words it) always comes before `closed`.
 */
struct ws_events {
    void (*open)(void *ud, struct ws_peer *p);
    /* data is a whole message (len bytes; text is valid UTF-8) */
    void (*message)(void *ud, struct ws_peer *p, const char *data, size_t len, bool binary);
    void (*error)(void *ud, struct ws_peer *p, const char *text);
    void (*closed)(void *ud, struct ws_peer *p);
    void (*pong)(void *ud, struct ws_peer *p); /* a pong (or a ping) arrived; may be NULL */
};

/* ---- Listeners (server side) ---- */

/*
 * Registers a listener on `path` (copied, e.g. "/ws/data"). ev and ud are
 * kept until ws_routes__unlisten. Returns 0 with the route in *out,
 * EF_EEXIST when another listener has the path, or EF_ENOMEM.
 */
int ws_routes__listen(struct ef_runtime *rt, const char *path, const struct ws_events *ev, void *ud,
                      struct ws_route **out);
/*
 * Removes a listener (NULL-safe) and drops its connections at once (as
 * ws's server close() terminates its clients). No event fires for them.
 */
void ws_routes__unlisten(struct ws_route *r);
/* httpNodeRoot joined with a listener path as Node-RED joins them, into out. */
void ws_routes__full_path(struct ef_runtime *rt, const char *path, char *out, size_t len);

/* ---- Clients ---- */

struct ws_client_opts {
    const char *url;          /* ws://host[:port]/path or wss://... */
    const char *subprotocols; /* comma-separated list, or NULL/"" for none */
    /* TLS (wss): file paths or NULL */
    const char *ca, *cert, *key, *passphrase, *servername;
    bool verify;                     /* verify the server certificate */
    const char *const *header_names; /* extra upgrade headers (n_headers pairs) */
    const char *const *header_values;
    size_t n_headers;
};

/*
 * Starts a connection. Returns 0 with the peer in *out: `open` follows, or
 * `error` and `closed`. On failure to start returns EF_E* with the reason
 * (as ws words it where it can) in err; no event fires then.
 */
int ws_routes__connect(struct ef_runtime *rt, const struct ws_client_opts *o,
                       const struct ws_events *ev, void *ud, struct ws_peer **out, char *err,
                       size_t errlen);

/* ---- Peers ---- */

/* A 16 hex digit id, as Node-RED's RED.util.generateId(). */
const char *ws_peer__id(const struct ws_peer *p);
/* Whether the peer is open (a client still connecting is not). */
bool ws_peer__is_open(const struct ws_peer *p);
/*
 * Queues a message (copied): text (must be UTF-8) or binary. Returns 0,
 * EF_ESTATE when the peer is not open, EF_ERANGE when the peer's send queue
 * is over its cap (the message is dropped), or EF_ENOMEM.
 */
int ws_peer__send(struct ws_peer *p, const void *data, size_t len, bool binary);
/* Queues a ping. 0 or EF_ESTATE. */
int ws_peer__ping(struct ws_peer *p);
/*
 * Closes the peer and forgets its events: none fires after this call. With
 * `graceful` a close frame (1000) goes first, else the socket is dropped.
 */
void ws_peer__close(struct ws_peer *p, bool graceful);

/* ---- Hooks for server.c ---- */

/* Whether an upgrade request for `wsi` is for a registered listener path. */
bool ws_routes__wants(struct ef_runtime *rt, struct lws *wsi);
/*
 * An upgrade for a listener was established: creates the peer, stores it in
 * *slot (per-connection data of server.c) and fires `open`. Non-zero closes.
 */
int ws_routes__accept(struct ef_runtime *rt, struct lws *wsi, void **slot);
/* A piece of a message arrived for *slot's peer. Non-zero closes. */
int ws_routes__receive(void **slot, const void *in, size_t len);
/* A pong arrived for *slot's peer. */
void ws_routes__pong(void **slot);
/* The connection is writeable. Non-zero closes. */
int ws_routes__writeable(void **slot);
/* The connection closed: fires `closed`, frees the peer, sets *slot NULL. */
void ws_routes__closed(void **slot);

/* Frees the registry and the client context; call before the loop closes. */
void ws_routes__free(struct ef_runtime *rt);

#endif
