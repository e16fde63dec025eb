/*
 * http_routes.h - the routes of Node-RED's `http in` nodes, served by the
 * editor's libwebsockets server (server.c) under the httpNodeRoot setting,
 * and the requests waiting for an `http response` node. Internal to the
 * runtime and the two node types; see docs/editor.md ("HTTP endpoints").
 *
 * A request that matches a route becomes a message whose msg.res is a
 * handle value (EF_HANDLE of type http_routes__res_type) on a struct
 * http_req: fan-out shares the handle, never copies it, so every copy of
 * the message answers the same request, and only the first answer counts.
 */
#ifndef EF_HTTP_ROUTES_H
#define EF_HTTP_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include "engine.h"

struct http_routes;
struct http_req;
struct srv_conn;

/* The handle type of msg.res (its pointer is a struct http_req). */
extern const struct ef_handle_type http_routes__res_type;

/* ---- Node side (http in, http response) ---- */

/*
 * The route registry of rt, created on first use (owned by rt, freed by
 * http_routes__free from runtime__destroy). NULL on OOM.
 */
struct http_routes *http_routes__of(struct ef_runtime *rt);
void http_routes__free(struct http_routes *r);
/* False when the settings say httpNodeRoot: false (no http in routes). */
bool http_routes__enabled(struct ef_runtime *rt);
/*
 * Registers node n's route: method "get", "post", "put", "delete" or
 * "patch", url as configured (a leading "/" is added), upload (multipart to
 * msg.req.files), raw (skipBodyParsing: the body as a Buffer). Routes are
 * tried in the order they were added; the first match answers. Returns 0,
 * EF_EINVAL for a method it does not know, or EF_ENOMEM.
 */
int http_routes__add(struct http_routes *r, struct ef_node *n, const char *method, const char *url,
                     bool upload, bool raw);
/* Removes every route of node n (on close). Requests in flight stay answerable. */
void http_routes__remove(struct http_routes *r, struct ef_node *n);

/* One response header: name and value, both borrowed. */
struct http_header {
    const char *name;
    const char *value;
};

/* What msg.payload is, for http_req__send (Express's res.send / res.jsonp). */
enum http_body {
    HTTP_BODY_NONE, /* undefined: no body, no content type */
    HTTP_BODY_TEXT, /* a string: text/html unless a content type was set */
    HTTP_BODY_BUF,  /* a Buffer: application/octet-stream unless set */
    HTTP_BODY_JSON, /* an object, array or null: JSON (JSONP with ?callback=) */
};

/*
 * Answers the request of handle q as Express's res.status(status) then
 * res.set(headers...) and res.send/jsonp would: content type defaults and
 * charset, a weak ETag, 304 for a fresh conditional GET, no body for HEAD,
 * 204 and 304. `headers` (nh entries, borrowed) are set in order, a later
 * one with the same name replacing an earlier one unless the name is
 * Set-Cookie. `body` (len bytes, borrowed) is the payload text, bytes, or
 * the JSON text. Returns 0; EF_ESTATE when the request was answered
 * already (Node-RED: "Cannot set headers after they are sent to the
 * client"); 1 when the client has gone (nothing to do, as Node-RED).
 */
int http_req__send(struct http_req *q, int status, const struct http_header *headers, size_t nh,
                   enum http_body kind, const char *body, size_t len);

/* ---- Server side (server.c) ---- */

/*
 * Offers a complete request (its body read, or too big) to the http in
 * routes. Returns true when it took it: answered (401, CORS preflight,
 * OPTIONS, a parse error) or passed to a flow that will answer; false to
 * let the editor/admin API answer.
 */
bool http_routes__dispatch(struct srv_conn *c);
/*
 * Writes the status line and headers of c's node answer into the lws
 * header buffer. Returns non-zero when they do not fit.
 */
int http_routes__write_headers(struct srv_conn *c, unsigned char **p, unsigned char *end);
/* The connection c is done with its node request (answered or closed). */
void http_routes__detach(struct srv_conn *c);
/* apiMaxLength (Node-RED's body limit, default "5mb") in bytes. */
size_t http_routes__body_max(const struct ef_settings *s);

#endif
