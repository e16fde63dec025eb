/*
 * http_in.c - the http in node (Node-RED 21-httpin.js, HTTPIn): registers
 * an HTTP endpoint (method + Express-style path such as /device/:id) on
 * edgeflow's own server under httpNodeRoot; runtime/http_routes.c parses
 * each request and sends {req, res, payload} from here: payload is the
 * query object for GET and the parsed body otherwise, msg.res a shared
 * handle that an http response node answers. Routes come and go with the
 * node (deploys add and remove them).
 */
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "http_routes.h"

struct http_in {
    struct ef_node *n;
    const char *url;
    const char *method;
    bool upload, raw;
    bool registered;
};

static const struct ef_prop http_in_props[] = {
    {EF_PROP_STR, "url", "\"\"", false,
     "path under httpNodeRoot; Express syntax: /a/:param, /a/:optional?, /files/*",
     offsetof(struct http_in, url)},
    {EF_PROP_STR, "method", "\"get\"", false, "get, post, put, delete or patch",
     offsetof(struct http_in, method)},
    {EF_PROP_BOOL, "upload", "false", false,
     "POST: parse multipart/form-data into msg.req.files (Accept file uploads)",
     offsetof(struct http_in, upload)},
    {EF_PROP_BOOL, "skipBodyParsing", "false", false,
     "do not parse the request body: msg.payload is a Buffer", offsetof(struct http_in, raw)},
    {EF_PROP_ANY, "swaggerDoc", "\"\"", false, "id of a swagger-doc node (editor only)",
     EF_PROP_NOFIELD},
    {EF_PROP_END},
};

static int cb_init(struct ef_node *n, const struct ef_val *config)
{
    (void)config;
    struct http_in *h = ef_node_priv(n);
    h->n = n;
    return 0;
}

static void cb_start(struct ef_node *n)
{
    struct http_in *h = ef_node_priv(n);
    struct ef_runtime *rt = n->fs->rt;
    if (!http_routes__enabled(rt)) {
        ef_node_warn(n, "Cannot create http-in node when httpNodeRoot set to false");
        return;
    }
    if (!h->url || !*h->url) {
        ef_node_warn(n, "missing path");
        return;
    }
    struct http_routes *r = http_routes__of(rt);
    int rc = r ? http_routes__add(r, n, h->method, h->url, h->upload, h->raw) : EF_ENOMEM;
    if (rc == 0) {
        h->registered = true;
    } else if (rc != EF_EINVAL) {
        /* an unknown method registers nothing, as in Node-RED */
        ef_node_error(n, NULL, "cannot register %s %s: %s", h->method, h->url, ef_strerror(rc));
    }
}

static void cb_close(struct ef_node *n)
{
    struct http_in *h = ef_node_priv(n);
    struct ef_runtime *rt = n->fs->rt;
    if (h->registered && rt->http_routes) {
        http_routes__remove(rt->http_routes, n);
    }
    h->registered = false;
}

const struct ef_node_type ef_type_http_in = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "http in",
    .description = "Creates an HTTP endpoint on edgeflow's server; the request goes out as msg.req "
                   "with msg.payload (query for GET, parsed body otherwise) and msg.res",
    .category = "network",
    .inputs = 0,
    .outputs = 1,
    .props = http_in_props,
    .priv_size = sizeof(struct http_in),
    .cb_init = cb_init,
    .cb_start = cb_start,
    .cb_close = cb_close,
};
