/*
 * websocket_in.c - the websocket in node (Node-RED's 22-websocket.js):
 * sends a message for every message a websocket-listener's clients or a
 * websocket-client's connection receive: {payload, _session:{type:
 * "websocket", id}} (a text frame gives a string, a binary frame a Buffer),
 * or with the config's wholemsg the parsed JSON message. Connecting and
 * disconnecting send nothing; they show as the node's status ("connected
 * N", error, disconnected), with event and _session for status nodes.
 */
#include <string.h>

#include "engine.h"

#include "lib/ws_conf.h"

struct ws_in {
    struct ws_conf *conf;
};

static const struct ef_prop ws_in_props[] = {
    {EF_PROP_STR, "server", "\"\"", false, "websocket-listener config node", EF_PROP_NOFIELD},
    {EF_PROP_STR, "client", "\"\"", false, "websocket-client config node (wins over server)",
     EF_PROP_NOFIELD},
    {EF_PROP_END},
};

/* The config node a websocket in or out node names (client wins, as in Node-RED). */
static struct ws_conf *conf_of(struct ef_node *n, const struct ef_val *config)
{
    const char *id = ef_val_str_get(ef_val_obj_get(config, "client"));
    if (!*id) {
        id = ef_val_str_get(ef_val_obj_get(config, "server"));
    }
    return *id ? ws_conf__of(ef_node_lookup(n, id)) : NULL;
}

static int cb_ws_in_init(struct ef_node *n, const struct ef_val *config)
{
    struct ws_in *w = ef_node_priv(n);
    w->conf = conf_of(n, config);
    if (w->conf && ws_conf__add_user(w->conf, n, true) != 0) {
        w->conf = NULL;
        ef_node_error(n, NULL, "out of memory");
        return EF_ENOMEM;
    }
    return 0;
}

static void cb_ws_in_start(struct ef_node *n)
{
    struct ws_in *w = ef_node_priv(n);
    if (!w->conf) {
        ef_node_error(n, NULL, "Missing server configuration");
    }
}

static void cb_ws_in_close(struct ef_node *n)
{
    struct ws_in *w = ef_node_priv(n);
    ws_conf__remove_user(w->conf, n);
    w->conf = NULL;
    ef_node_status(n, NULL, NULL, NULL);
}

const struct ef_node_type ef_type_websocket_in = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "websocket in",
    .description = "messages received by a websocket listener or client",
    .category = "network",
    .inputs = 0,
    .outputs = 1,
    .props = ws_in_props,
    .priv_size = sizeof(struct ws_in),
    .cb_init = cb_ws_in_init,
    .cb_start = cb_ws_in_start,
    .cb_close = cb_ws_in_close,
};
