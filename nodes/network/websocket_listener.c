/*
 * websocket_listener.c - the websocket-listener config node (Node-RED's
 * 22-websocket.js): a websocket server path on edgeflow's own HTTP server
 * (same port as the editor), relative to httpNodeRoot. Each client that
 * connects gets a session id; websocket in nodes receive its messages with
 * msg._session, websocket out nodes reply to one session or broadcast.
 * wholemsg "true" sends and receives whole messages as JSON. The path is
 * registered when the flows start (after the previous deploy stopped), so a
 * redeploy frees and takes paths as it removes and adds listeners; two
 * listeners on one path are an error, as in Node-RED. A path that is a
 * ws:// or wss:// URL makes it a client, as Node-RED's shared constructor does.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "engine.h"

#include "lib/ws_conf.h"

static const struct ef_prop listener_props[] = {
    {EF_PROP_STR, "path", "\"\"", false, "path, relative to httpNodeRoot (e.g. /ws/data)",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "wholemsg", "\"false\"", false,
     "\"true\": send/receive the whole message as JSON; \"false\": the payload only",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "subprotocol", NULL, false, "accepted for compatibility (not used by a listener)",
     EF_PROP_NOFIELD},
    {EF_PROP_END},
};

static int cb_listener_init(struct ef_node *n, const struct ef_val *config)
{
    struct ws_conf *c = ef_node_priv(n);
    c->n = n;
    c->is_server = true;
    const struct ef_val *wm = ef_val_obj_get(config, "wholemsg");
    c->wholemsg = wm && ef_val_type(wm) == EF_STR && !strcmp(ef_val_str_get(wm), "true");
    const char *path = ef_val_str_get(ef_val_obj_get(config, "path"));
    if (!strncasecmp(path, "ws://", 5) || !strncasecmp(path, "wss://", 6)) {
        /* Node-RED's one constructor makes a listener with a URL a client */
        return ws_client__init(n, config);
    }
    ws_routes__full_path(n->fs->rt, path, c->full_path, sizeof(c->full_path));
    return 0;
}

static void cb_listener_start(struct ef_node *n)
{
    struct ws_conf *c = ef_node_priv(n);
    if (!c->is_server) {
        ws_client__start(n);
        return;
    }
    int rc = ws_routes__listen(n->fs->rt, c->full_path, &ws_conf__events, c, &c->route);
    if (rc == EF_EEXIST) {
        ef_node_error(n, NULL, "Cannot have two WebSocket listeners on the same path: %s",
                      ef_val_str_get(ef_val_obj_get(ef_node_config(n), "path")));
    } else if (rc != 0) {
        ef_node_error(n, NULL, "cannot listen on %s: %s", c->full_path, ef_strerror(rc));
    }
}

static void cb_listener_close(struct ef_node *n)
{
    struct ws_conf *c = ef_node_priv(n);
    if (!c->is_server) {
        ws_client__close(n);
        return;
    }
    c->closing = true;
    ws_routes__unlisten(c->route);
    c->route = NULL;
    ws_conf__free(c);
}

const struct ef_node_type ef_type_websocket_listener = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "websocket-listener",
    .description = "a websocket server path on edgeflow's HTTP port (under httpNodeRoot)",
    .category = "config",
    .inputs = 0,
    .outputs = 0,
    .flags = EF_TYPE_CONFIG,
    .props = listener_props,
    .priv_size = sizeof(struct ws_conf),
    .cb_init = cb_listener_init,
    .cb_start = cb_listener_start,
    .cb_close = cb_listener_close,
};
