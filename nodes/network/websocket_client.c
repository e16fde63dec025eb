/*
 * websocket_client.c - the websocket-client config node (Node-RED's
 * 22-websocket.js): one outgoing websocket connection (ws:// or wss://,
 * libwebsockets' client on the runtime's loop, see runtime/ws_routes.c)
 * shared by websocket in and out nodes. As in Node-RED it reconnects 3 s
 * after every close or error, optionally pings every `hb` seconds and
 * drops the connection when a ping got no pong by the next one, offers the
 * comma-separated `subprotocol` list, sends the configured upgrade headers
 * and takes its certificates from a tls-config node. wholemsg "true"
 * sends and receives whole messages as JSON.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "js.h"

#include "lib/tls.h"
#include "lib/ws_conf.h"

static const struct ef_prop client_props[] = {
    {EF_PROP_STR, "path", "\"\"", false, "URL to connect to (ws://host:port/path or wss://...)",
     EF_PROP_NOFIELD},
    {EF_PROP_STR, "tls", "\"\"", false, "tls-config node for wss://", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "wholemsg", "\"false\"", false,
     "\"true\": send/receive the whole message as JSON; \"false\": the payload only",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "hb", "\"\"", false, "heartbeat: ping every hb seconds (0 or empty: off)",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "subprotocol", "\"\"", false, "comma-separated subprotocols to offer",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "headers", "[]", false,
     "upgrade headers: [{keyType, keyValue, valueType, valueValue}]", EF_PROP_NOFIELD},
    {EF_PROP_END},
};

/* Node-RED's subprotocol option: split on commas, each trimmed, joined for the header. */
static char *subprotocols_of(const struct ef_val *v)
{
    if (!v || ef_val_type(v) != EF_STR || !ef_val_str_len(v)) {
        return NULL;
    }
    const char *s = ef_val_str_get(v);
    char *out = malloc(strlen(s) + 1);
    if (!out) {
        return NULL;
    }
    size_t o = 0;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        const char *a = s, *b = s + len;
        while (a < b && (*a == ' ' || *a == '\t')) {
            a++;
        }
        while (b > a && (b[-1] == ' ' || b[-1] == '\t')) {
            b--;
        }
        if (o) {
            out[o++] = ',';
        }
        memcpy(out + o, a, (size_t)(b - a));
        o += (size_t)(b - a);
        s = e ? e + 1 : s + len;
    }
    out[o] = '\0';
    return out;
}

/* The upgrade headers as Node-RED builds them; name and value must both be non-empty. */
static int headers_of(struct ef_node *n, struct ws_conf *c, const struct ef_val *hs)
{
    size_t count = hs && ef_val_type(hs) == EF_ARR ? ef_val_arr_len(hs) : 0;
    if (!count) {
        return 0;
    }
    c->hnames = calloc(count, sizeof(char *));
    c->hvalues = calloc(count, sizeof(char *));
    if (!c->hnames || !c->hvalues) {
        return EF_ENOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        const struct ef_val *h = ef_val_arr_at(hs, i);
        const char *kt = ef_val_str_get(ef_val_obj_get(h, "keyType"));
        const char *kv = ef_val_str_get(ef_val_obj_get(h, "keyValue"));
        const char *vt = ef_val_str_get(ef_val_obj_get(h, "valueType"));
        const struct ef_val *vv = ef_val_obj_get(h, "valueValue");
        const char *name = !strcmp(kt, "other") ? kv : kt;
        char *value = NULL;
        if (!strcmp(vt, "other")) {
            value = strdup(ef_val_str_get(vv));
        } else if (!strcmp(vt, "env")) {
            struct ef_val *out = NULL;
            char err[256];
            if (ef_node_eval_typed(n, "env", vv, NULL, &out, err, sizeof(err)) == 0 && out) {
                value = js__to_string(out, NULL);
            }
            ef_val_unref(out);
        } else {
            value = strdup(vt);
        }
        if (!*name || !value || !*value) {
            free(value);
            continue;
        }
        c->hnames[c->nheaders] = strdup(name);
        c->hvalues[c->nheaders] = value;
        if (!c->hnames[c->nheaders]) {
            free(value);
            return EF_ENOMEM;
        }
        c->nheaders++;
    }
    return 0;
}

/* Opens the connection (startconn); a failure to start counts as an error and a close. */
static void connect_now(struct ws_conf *c)
{
    struct ws_client_opts o = {
        .url = c->url,
        .subprotocols = c->subprotocols,
        .verify = true,
        .header_names = (const char *const *)c->hnames,
        .header_values = (const char *const *)c->hvalues,
        .n_headers = c->nheaders,
    };
    if (c->tls) {
        o.ca = c->tls->ca;
        o.cert = c->tls->cert;
        o.key = c->tls->key;
        o.passphrase = c->tls->passphrase;
        o.servername = c->tls->servername;
        o.verify = c->tls->verify;
    }
    char err[256];
    struct ws_peer *p = NULL;
    int rc = ws_routes__connect(c->n->fs->rt, &o, &ws_conf__events, c, &p, err, sizeof(err));
    if (rc == EF_EINVAL) {
        ef_node_error(c->n, NULL, "%s", err);
        return;
    }
    if (rc != 0) {
        ef_node_debug(c->n, "cannot connect to %s: %s", c->url, err);
        c->peer = NULL;
        /* as ws's 'error' then 'close': both show, the reconnect follows */
        ws_conf__events.error(c, NULL, err);
        ws_conf__events.closed(c, NULL);
        return;
    }
    c->peer = p;
}

static void on_reconnect(struct ef_node *n, void *arg)
{
    (void)n;
    struct ws_conf *c = arg;
    if (!c->closing && !c->peer) {
        connect_now(c);
    }
}

static void on_heartbeat(struct ef_node *n, void *arg)
{
    (void)n;
    struct ws_conf *c = arg;
    if (!c->peer) {
        ef_timer_stop(c->heartbeat);
        return;
    }
    if (c->hb_pending) {
        /* no pong since the last ping: terminate, report "timeout", reconnect */
        struct ws_peer *p = c->peer;
        c->peer = NULL;
        ws_conf__events.error(c, p, "timeout");
        ws_conf__events.closed(c, p);
        ws_peer__close(p, false);
        return;
    }
    c->hb_pending = true;
    ws_peer__ping(c->peer);
}

int ws_client__init(struct ef_node *n, const struct ef_val *config)
{
    struct ws_conf *c = ef_node_priv(n);
    c->n = n;
    c->is_server = false;
    const struct ef_val *wm = ef_val_obj_get(config, "wholemsg");
    c->wholemsg = wm && ef_val_type(wm) == EF_STR && !strcmp(ef_val_str_get(wm), "true");
    c->url = strdup(ef_val_str_get(ef_val_obj_get(config, "path")));
    c->subprotocols = subprotocols_of(ef_val_obj_get(config, "subprotocol"));
    const struct ef_val *hb = ef_val_obj_get(config, "hb");
    if (hb && ef_val_truthy(hb)) {
        double v = js__parse_int(hb);
        if (v > 0 && isfinite(v)) {
            c->hb_ms = v * 1000;
        }
    }
    const char *tls_id = ef_val_str_get(ef_val_obj_get(config, "tls"));
    if (*tls_id) {
        struct ef_node *t = ef_node_lookup(n, tls_id);
        c->tls = t ? tls_config__get(t) : NULL;
    }
    c->reconnect = ef_timer_new(n, on_reconnect, c);
    c->heartbeat = ef_timer_new(n, on_heartbeat, c);
    if (!c->url || !c->reconnect || !c->heartbeat ||
        headers_of(n, c, ef_val_obj_get(config, "headers")) != 0) {
        ef_node_error(n, NULL, "out of memory");
        return EF_ENOMEM;
    }
    return 0;
}

void ws_client__start(struct ef_node *n)
{
    connect_now(ef_node_priv(n));
}

void ws_client__close(struct ef_node *n)
{
    struct ws_conf *c = ef_node_priv(n);
    c->closing = true;
    if (c->peer) {
        ws_peer__close(c->peer, true);
        c->peer = NULL;
    }
    ef_timer_free(c->reconnect);
    ef_timer_free(c->heartbeat);
    c->reconnect = c->heartbeat = NULL;
    for (size_t i = 0; i < c->nheaders; i++) {
        free(c->hnames[i]);
        free(c->hvalues[i]);
    }
    free(c->hnames);
    free(c->hvalues);
    free(c->url);
    free(c->subprotocols);
    c->hnames = c->hvalues = NULL;
    c->url = c->subprotocols = NULL;
    ws_conf__free(c);
}

static int cb_client_init(struct ef_node *n, const struct ef_val *config)
{
    return ws_client__init(n, config);
}

const struct ef_node_type ef_type_websocket_client = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "websocket-client",
    .description = "an outgoing websocket connection that reconnects (ws:// or wss://)",
    .category = "config",
    .inputs = 0,
    .outputs = 0,
    .flags = EF_TYPE_CONFIG,
    .props = client_props,
    .priv_size = sizeof(struct ws_conf),
    .cb_init = cb_client_init,
    .cb_start = ws_client__start,
    .cb_close = ws_client__close,
};
