/*
 * websocket_out.c - the websocket out node (Node-RED's 22-websocket.js):
 * sends msg.payload (a Buffer as a binary frame; anything else as text,
 * objects as JSON; an empty string sends nothing), or with the config's
 * wholemsg the whole message as JSON without _session. With
 * msg._session.type "websocket" it goes only to that session's client of
 * the listener (nowhere if it is gone, or through a websocket-client);
 * otherwise to every client of the listener, or through the client
 * connection. Shows the connection status as websocket in does.
 */
#include <string.h>

#include "engine.h"

#include "lib/ws_conf.h"

struct ws_out {
    struct ws_conf *conf;
};

static const struct ef_prop ws_out_props[] = {
    {EF_PROP_STR, "server", "\"\"", false, "websocket-listener config node", EF_PROP_NOFIELD},
    {EF_PROP_STR, "client", "\"\"", false, "websocket-client config node (wins over server)",
     EF_PROP_NOFIELD},
    {EF_PROP_END},
};

static int cb_ws_out_init(struct ef_node *n, const struct ef_val *config)
{
    struct ws_out *w = ef_node_priv(n);
    const char *id = ef_val_str_get(ef_val_obj_get(config, "client"));
    if (!*id) {
        id = ef_val_str_get(ef_val_obj_get(config, "server"));
    }
    w->conf = *id ? ws_conf__of(ef_node_lookup(n, id)) : NULL;
    if (w->conf && ws_conf__add_user(w->conf, n, false) != 0) {
        w->conf = NULL;
        ef_node_error(n, NULL, "out of memory");
        return EF_ENOMEM;
    }
    return 0;
}

static void cb_ws_out_start(struct ef_node *n)
{
    struct ws_out *w = ef_node_priv(n);
    if (!w->conf) {
        ef_node_error(n, NULL, "Missing server configuration");
    }
}

static int cb_ws_out_input(struct ef_node *n, struct ef_msg *msg)
{
    struct ws_out *w = ef_node_priv(n);
    if (w->conf) {
        ws_conf__send(w->conf, n, msg);
    }
    ef_msg_free(msg);
    return EF_INPUT_DONE;
}

static void cb_ws_out_close(struct ef_node *n)
{
    struct ws_out *w = ef_node_priv(n);
    ws_conf__remove_user(w->conf, n);
    w->conf = NULL;
    ef_node_status(n, NULL, NULL, NULL);
}

const struct ef_node_type ef_type_websocket_out = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "websocket out",
    .description = "sends to a websocket listener's clients or through a websocket client",
    .category = "network",
    .inputs = 1,
    .outputs = 0,
    .props = ws_out_props,
    .priv_size = sizeof(struct ws_out),
    .cb_init = cb_ws_out_init,
    .cb_start = cb_ws_out_start,
    .cb_close = cb_ws_out_close,
    .cb_input = cb_ws_out_input,
};
