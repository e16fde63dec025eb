/*
 * mqtt_broker.c - the mqtt-broker config node (Node-RED 4.1's
 * MQTTBrokerNode): turns its configuration (and msg.broker overrides from a
 * connect action) into connection options exactly as Node-RED's setOptions
 * does - broker URL, generated client id, keepalive, clean session/start,
 * protocol 3.1/3.1.1/5, credentials, TLS, birth/close/will messages with
 * their MQTT 5 properties, session expiry, connect user properties - and
 * owns the one shared connection (lib/mqtt_conn.c) that all its mqtt in and
 * mqtt out users share.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js.h"
#include "engine.h"

#include "lib/mqtt_conn.h"
#include "lib/mqtt_util.h"
#include "lib/tls.h"

struct mqtt_broker {
    struct mqtt_conn conn; /* first: mqtt_broker__conn() relies on it */
    struct ef_node *tls;
};

#define ANY(key, help)                                                                             \
    {                                                                                              \
        EF_PROP_ANY, key, NULL, false, help, EF_PROP_NOFIELD                                       \
    }

static const struct ef_prop broker_props[] = {
    ANY("broker", "host name or address, or a URL (mqtt://, mqtts://, ws://, wss://)"),
    ANY("port", "port (default 1883)"),
    {EF_PROP_NODE, "tls", NULL, false, "a tls-config node", offsetof(struct mqtt_broker, tls)},
    ANY("clientid", "client id (generated when empty)"),
    ANY("autoConnect", "connect when the first node uses it (default true)"),
    ANY("usetls", "use TLS"),
    ANY("verifyservercert", "legacy: verify the server certificate (without a tls-config)"),
    ANY("compatmode", "legacy: MQTT 3.1"),
    ANY("protocolVersion", "3, 4 (MQTT 3.1.1, default) or 5"),
    ANY("keepalive", "keepalive in seconds (default 60)"),
    ANY("cleansession", "clean session / clean start (default true)"),
    ANY("autoUnsubscribe", "unsubscribe when nodes stop (default true)"),
    ANY("birthTopic", "birth message topic (empty: none)"),
    ANY("birthQos", "birth message QoS"),
    ANY("birthRetain", "birth message retain"),
    ANY("birthPayload", "birth message payload"),
    ANY("birthMsg", "birth message MQTT 5 properties"),
    ANY("closeTopic", "close message topic (empty: none)"),
    ANY("closeQos", "close message QoS"),
    ANY("closeRetain", "close message retain"),
    ANY("closePayload", "close message payload"),
    ANY("closeMsg", "close message MQTT 5 properties"),
    ANY("willTopic", "will message topic (empty: none)"),
    ANY("willQos", "will message QoS"),
    ANY("willRetain", "will message retain"),
    ANY("willPayload", "will message payload"),
    ANY("willMsg", "will message MQTT 5 properties"),
    ANY("userProps", "MQTT 5 connect user properties (JSON object)"),
    ANY("sessionExpiry", "MQTT 5 session expiry interval in seconds"),
    ANY("sessionExpiryInterval", "legacy name of sessionExpiry"),
    ANY("userProperties", "legacy name of userProps"),
    ANY("url", "legacy: broker URL"),
    ANY("topicAliasMaximum", "MQTT 5 (accepted, unused as in Node-RED)"),
    ANY("maximumPacketSize", "MQTT 5 (accepted, unused as in Node-RED)"),
    ANY("receiveMaximum", "MQTT 5 (accepted, unused as in Node-RED)"),
    {EF_PROP_END},
};

struct mqtt_conn *mqtt_broker__conn(struct ef_node *broker)
{
    if (!broker || strcmp(ef_node_type_name(broker), "mqtt-broker") != 0) {
        return NULL;
    }
    return &((struct mqtt_broker *)ef_node_priv(broker))->conn;
}

/* ---- JavaScript conversions ---- */

/* Number(v) as JavaScript (for keepalive and qos). */
static double js_number(const struct ef_val *v)
{
    switch (ef_val_type(v)) {
    case EF_NUM: return ef_val_num_get(v);
    case EF_BOOL: return ef_val_bool_get(v) ? 1 : 0;
    case EF_NULL: return 0;
    case EF_STR: {
        const char *s = ef_val_str_get(v);
        char *end;
        while (*s == ' ') {
            s++;
        }
        if (!*s) {
            return 0;
        }
        double d = strtod(s, &end);
        while (*end == ' ') {
            end++;
        }
        return *end ? NAN : d;
    }
    default: return NAN;
    }
}

/* `v == "true" || v === true` */
static bool js_true(const struct ef_val *v)
{
    return (ef_val_type(v) == EF_BOOL && ef_val_bool_get(v)) ||
           (ef_val_type(v) == EF_STR && !strcmp(ef_val_str_get(v), "true"));
}

static char *str_or_null(const struct ef_val *v)
{
    return ef_val_type(v) == EF_STR && ef_val_str_len(v) ? strdup(ef_val_str_get(v)) : NULL;
}

/* Adds string user properties from an object as Node-RED's setUserProperties. */
static void add_user_props(MQTTProperties *props, const struct ef_val *obj)
{
    for (size_t i = 0; i < ef_val_obj_len(obj); i++) {
        size_t kl;
        const char *k = ef_val_obj_key_at(obj, i, &kl);
        const struct ef_val *v = ef_val_obj_val_at(obj, i);
        if (ef_val_type(v) == EF_NULL) {
            continue;
        }
        char *s = mqtt_util__user_prop_string(v);
        if (!s) {
            continue;
        }
        MQTTProperty p = {.identifier = MQTTPROPERTY_CODE_USER_PROPERTY};
        p.value.data.data = (char *)k;
        p.value.data.len = (int)kl;
        p.value.value.data = s;
        p.value.value.len = (int)strlen(s);
        MQTTProperties_add(props, &p);
        free(s);
    }
}

static void add_str_prop(MQTTProperties *props, enum MQTTPropertyCodes id, const char *s,
                         size_t len)
{
    MQTTProperty p = {.identifier = id};
    p.value.data.data = (char *)s;
    p.value.data.len = (int)len;
    MQTTProperties_add(props, &p);
}

/* Node-RED's createLWT(topic, payload, qos, retain, v5opts). */
static struct mqtt_lwt *create_lwt(const struct ef_val *topic, const struct ef_val *payload,
                                   const struct ef_val *qos, const struct ef_val *retain,
                                   const struct ef_val *v5, bool is_v5)
{
    if (!ef_val_truthy(topic)) {
        return NULL;
    }
    struct mqtt_lwt *l = calloc(1, sizeof(*l));
    if (!l) {
        return NULL;
    }
    l->will_delay = -1;
    char *t = ef_val_type(topic) == EF_STR ? strdup(ef_val_str_get(topic))
                                           : mqtt_util__user_prop_string(topic);
    l->topic = t;
    l->payload = mqtt_util__encode_payload(ef_val_truthy(payload) ? payload : NULL, &l->len);
    double q = ef_val_truthy(qos) ? js_number(qos) : 0;
    l->qos = q == 1 ? 1 : q == 2 ? 2 : 0;
    l->retain = js_true(retain);
    if (is_v5 && ef_val_type(v5) == EF_OBJ) {
        const struct ef_val *up = ef_val_obj_get(v5, "userProperties");
        if (!up) {
            up = ef_val_obj_get(v5, "userProps");
        }
        if (ef_val_type(up) == EF_STR) {
            const char *s = ef_val_str_get(up);
            while (*s == ' ') {
                s++;
            }
            if (*s == '{') {
                struct ef_val *parsed = ef_json_parse(s, strlen(s), NULL, 0);
                add_user_props(&l->props, parsed);
                ef_val_unref(parsed);
            }
        } else if (ef_val_type(up) == EF_OBJ) {
            add_user_props(&l->props, up);
        }
        const struct ef_val *v = ef_val_obj_get(v5, "contentType");
        if (ef_val_type(v) == EF_STR && ef_val_str_len(v)) {
            add_str_prop(&l->props, MQTTPROPERTY_CODE_CONTENT_TYPE, ef_val_str_get(v),
                         ef_val_str_len(v));
        }
        v = ef_val_obj_get(v5, "responseTopic");
        if (!v) {
            v = ef_val_obj_get(v5, "respTopic");
        }
        if (ef_val_type(v) == EF_STR && ef_val_str_len(v)) {
            add_str_prop(&l->props, MQTTPROPERTY_CODE_RESPONSE_TOPIC, ef_val_str_get(v),
                         ef_val_str_len(v));
        }
        v = ef_val_obj_get(v5, "correlationData");
        if (!v) {
            v = ef_val_obj_get(v5, "correl");
        }
        if (ef_val_truthy(v)) {
            size_t n;
            uint8_t *b = mqtt_util__encode_payload(v, &n);
            if (b) {
                add_str_prop(&l->props, MQTTPROPERTY_CODE_CORRELATION_DATA, (const char *)b, n);
                free(b);
            }
        }
        v = ef_val_obj_get(v5, "messageExpiryInterval");
        if (!v) {
            v = ef_val_obj_get(v5, "expiry");
        }
        double e = js__parse_int(v);
        if (!isnan(e) && e >= 0) {
            MQTTProperty p = {.identifier = MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL};
            p.value.integer4 = (unsigned)e;
            MQTTProperties_add(&l->props, &p);
        }
        v = ef_val_obj_get(v5, "willDelayInterval");
        if (!v) {
            v = ef_val_obj_get(v5, "delay");
        }
        double d = js__parse_int(v);
        if (!isnan(d) && d >= 0) {
            l->will_delay = (int)d;
        }
    }
    if (!l->topic || !l->payload) {
        mqtt_lwt__free(l);
        return NULL;
    }
    return l;
}

/* True if s is an IPv6 address (contains ':' and only hex digits, ':' and '.'). */
static bool is_ipv6(const char *s)
{
    if (!strchr(s, ':')) {
        return false;
    }
    for (; *s; s++) {
        if (!strchr("0123456789abcdefABCDEF:.%", *s)) {
            return false;
        }
    }
    return true;
}

/* Builds c->opts from c->cfg as Node-RED's setOptions does. Returns 0 or EF_ENOMEM. */
static int build_opts(struct mqtt_broker *b, bool init)
{
    struct mqtt_conn *c = &b->conn;
    struct ef_node *n = c->node;
    const struct ef_val *cfg = c->cfg;
    struct mqtt_opts o = {0};
    char *old_client = c->opts.client_id_set ? NULL : c->opts.client_id;
    c->opts.client_id = old_client ? NULL : c->opts.client_id;

    const struct ef_val *url = ef_val_obj_get(cfg, "url");
    const struct ef_val *broker = ef_val_obj_get(cfg, "broker");
    const char *bs = ef_val_type(broker) == EF_STR ? ef_val_str_get(broker) : "";
    bool usetls = ef_val_truthy(ef_val_obj_get(cfg, "usetls"));
    char *brokerurl = NULL;
    if (ef_val_truthy(url) && ef_val_type(url) == EF_STR) {
        brokerurl = strdup(ef_val_str_get(url));
    } else if (strstr(bs, "://")) {
        brokerurl = strdup(bs);
    } else {
        const struct ef_val *port = ef_val_obj_get(cfg, "port");
        char portbuf[64] = "1883";
        if (ef_val_truthy(port)) {
            if (ef_val_type(port) == EF_NUM) {
                ef_num_format(ef_val_num_get(port), portbuf);
            } else {
                snprintf(portbuf, sizeof(portbuf), "%s", ef_val_str_get(port));
            }
        }
        const char *scheme = usetls ? "mqtts://" : "mqtt://";
        if (!*bs) {
            brokerurl = strdup(usetls ? "mqtts://localhost:1883" : "mqtt://localhost:1883");
        } else if (asprintf(&brokerurl, is_ipv6(bs) ? "%s[%s]:%s" : "%s%s:%s", scheme, bs,
                            portbuf) < 0) {
            brokerurl = NULL;
        }
    }
    if (!brokerurl) {
        return EF_ENOMEM;
    }
    o.brokerurl = brokerurl;
    /* paho's schemes: tcp://, ssl://, ws://, wss:// (mqtt:// and mqtts:// mapped). */
    const char *rest = strstr(brokerurl, "://");
    rest = rest ? rest + 3 : brokerurl;
    const char *pscheme = "tcp://";
    bool secure = usetls;
    if (!strncmp(brokerurl, "mqtts://", 8) || !strncmp(brokerurl, "ssl://", 6) ||
        !strncmp(brokerurl, "tls://", 6)) {
        pscheme = "ssl://";
        secure = true;
    } else if (!strncmp(brokerurl, "wss://", 6)) {
        pscheme = "wss://";
        secure = true;
    } else if (!strncmp(brokerurl, "ws://", 5)) {
        pscheme = "ws://";
    } else if (secure) {
        pscheme = "ssl://";
    }
    if (asprintf(&o.uri, "%s%s", pscheme, rest) < 0) {
        o.uri = NULL;
        mqtt_opts__free(&o);
        return EF_ENOMEM;
    }
    o.is_local = !strcmp(bs, "localhost") || !strcmp(bs, "127.0.0.1");

    const struct ef_val *cs = ef_val_obj_get(cfg, "cleansession");
    o.clean = cs ? ef_val_truthy(cs) : true;
    const struct ef_val *cid = ef_val_obj_get(cfg, "clientid");
    if (ef_val_truthy(cid)) {
        o.client_id = ef_val_type(cid) == EF_STR ? strdup(ef_val_str_get(cid))
                                                 : mqtt_util__user_prop_string(cid);
        o.client_id_set = true;
    } else {
        if (!o.clean) {
            o.clean = true;
            ef_node_warn(n, "No client ID set, using clean session");
        }
        if (old_client) {
            o.client_id = old_client; /* keep the generated id across option changes */
            old_client = NULL;
        } else {
            char id[17];
            ef_id_new(id);
            if (asprintf(&o.client_id, "nodered%s", id) < 0) {
                o.client_id = NULL;
            }
        }
    }
    free(old_client);
    const struct ef_val *ka = ef_val_obj_get(cfg, "keepalive");
    double kad = ka ? js_number(ka) : 60;
    o.keepalive = isnan(kad) || kad < 0 ? 60 : (int)kad;
    const struct ef_val *ac = ef_val_obj_get(cfg, "autoConnect");
    o.auto_connect = !(ef_val_type(ac) == EF_BOOL
                           ? !ef_val_bool_get(ac)
                           : (ef_val_type(ac) == EF_STR && !strcmp(ef_val_str_get(ac), "false")));
    const struct ef_val *au = ef_val_obj_get(cfg, "autoUnsubscribe");
    o.auto_unsubscribe = ef_val_type(au) == EF_BOOL ? ef_val_bool_get(au) : true;

    const struct ef_val *pv = ef_val_obj_get(cfg, "protocolVersion");
    double pvn = js_number(pv);
    if (js_true(ef_val_obj_get(cfg, "compatmode")) || pvn == 3) {
        o.version = 3;
    } else if (pvn == 5) {
        o.version = 5;
    } else {
        o.version = 4;
    }
    bool v5 = o.version == 5;
    if (v5) {
        const struct ef_val *up = ef_val_obj_get(cfg, "userProperties");
        if (!up || (ef_val_type(up) == EF_STR && !ef_val_str_len(up))) {
            up = ef_val_obj_get(cfg, "userProps");
        }
        if (ef_val_type(up) == EF_STR) {
            const char *s = ef_val_str_get(up);
            while (*s == ' ') {
                s++;
            }
            if (*s == '{') {
                struct ef_val *parsed = ef_json_parse(s, strlen(s), NULL, 0);
                add_user_props(&o.connect_user_props, parsed);
                ef_val_unref(parsed);
            }
        }
        const struct ef_val *se = ef_val_obj_get(cfg, "sessionExpiry");
        if (!se) {
            se = ef_val_obj_get(cfg, "sessionExpiryInterval");
        }
        if (ef_val_truthy(se) && !(ef_val_type(se) == EF_STR && !strcmp(ef_val_str_get(se), "0"))) {
            double d = js__parse_int(se);
            o.session_expiry = isnan(d) || d < 0 ? 0 : (int64_t)d;
        }
    }
    o.birth = create_lwt(ef_val_obj_get(cfg, "birthTopic"), ef_val_obj_get(cfg, "birthPayload"),
                         ef_val_obj_get(cfg, "birthQos"), ef_val_obj_get(cfg, "birthRetain"),
                         ef_val_obj_get(cfg, "birthMsg"), v5);
    o.close = create_lwt(ef_val_obj_get(cfg, "closeTopic"), ef_val_obj_get(cfg, "closePayload"),
                         ef_val_obj_get(cfg, "closeQos"), ef_val_obj_get(cfg, "closeRetain"),
                         ef_val_obj_get(cfg, "closeMsg"), v5);
    o.will = create_lwt(ef_val_obj_get(cfg, "willTopic"), ef_val_obj_get(cfg, "willPayload"),
                        ef_val_obj_get(cfg, "willQos"), ef_val_obj_get(cfg, "willRetain"),
                        ef_val_obj_get(cfg, "willMsg"), v5);

    /* Credentials, then msg.broker's username/password (not at init). */
    const struct ef_val *cred = ef_node_credentials(n);
    o.username = str_or_null(ef_val_obj_get(cred, "user"));
    o.password = str_or_null(ef_val_obj_get(cred, "password"));
    if (!init) {
        const struct ef_val *u = ef_val_obj_get(cfg, "username");
        if (u) {
            free(o.username);
            o.username = str_or_null(u);
        }
        const struct ef_val *p = ef_val_obj_get(cfg, "password");
        if (p) {
            free(o.password);
            o.password = str_or_null(p);
        }
    }

    /* TLS: the tls-config node when usetls, else the legacy verifyservercert. */
    o.tls = secure;
    o.verify = js_true(ef_val_obj_get(cfg, "verifyservercert"));
    const struct tls_conf *t = usetls ? tls_config__get(b->tls) : NULL;
    if (t) {
        if (t->valid) {
            o.ca = t->ca ? strdup(t->ca) : NULL;
            o.cert = t->cert ? strdup(t->cert) : NULL;
            o.key = t->key ? strdup(t->key) : NULL;
            o.passphrase = t->passphrase ? strdup(t->passphrase) : NULL;
        }
        o.alpn = t->alpn ? strdup(t->alpn) : NULL;
        o.verify = t->verify;
        if (t->servername && init) {
            ef_node_warn(n,
                         "tls-config servername '%s' is not supported by the MQTT client "
                         "(paho sends the broker host name for SNI)",
                         t->servername);
        }
    }
    if (!o.client_id) {
        mqtt_opts__free(&o);
        return EF_ENOMEM;
    }
    bool handle_changed = !c->opts.uri || strcmp(c->opts.uri, o.uri) != 0 ||
                          strcmp(c->opts.client_id ? c->opts.client_id : "", o.client_id) != 0 ||
                          c->opts.version != o.version;
    mqtt_opts__free(&c->opts);
    c->opts = o;
    if (handle_changed && c->handle) {
        c->recreate = true;
    }
    return 0;
}

/* Keys of msg.broker that setOptions copies when present. */
static const char *const option_keys[] = {"url",
                                          "broker",
                                          "port",
                                          "clientid",
                                          "autoConnect",
                                          "usetls",
                                          "verifyservercert",
                                          "compatmode",
                                          "protocolVersion",
                                          "keepalive",
                                          "cleansession",
                                          "autoUnsubscribe",
                                          "topicAliasMaximum",
                                          "maximumPacketSize",
                                          "receiveMaximum",
                                          "userProperties",
                                          "userProps",
                                          "sessionExpiry",
                                          "sessionExpiryInterval",
                                          "username",
                                          "password",
                                          NULL};

int mqtt_broker__set_options(struct mqtt_conn *c, const struct ef_val *opts)
{
    struct mqtt_broker *b = (struct mqtt_broker *)c;
    if (ef_val_type(opts) != EF_OBJ) {
        return 0;
    }
    struct ef_val *cfg = ef_val_mut(&c->cfg);
    if (!cfg) {
        return EF_ENOMEM;
    }
    for (size_t i = 0; option_keys[i]; i++) {
        const struct ef_val *v = ef_val_obj_get(opts, option_keys[i]);
        if (v) {
            ef_val_obj_set_take(cfg, option_keys[i], ef_val_ref((struct ef_val *)v));
        }
    }
    /* birth/close/will objects map onto the flat config keys. */
    static const char *const lwt[] = {"birth", "close", "will"};
    static const char *const parts[][2] = {{"topic", "Topic"},
                                           {"payload", "Payload"},
                                           {"qos", "Qos"},
                                           {"retain", "Retain"},
                                           {"properties", "Msg"}};
    for (int i = 0; i < 3; i++) {
        const struct ef_val *o = ef_val_obj_get(opts, lwt[i]);
        if (!o) {
            continue;
        }
        for (int k = 0; k < 5; k++) {
            char key[32];
            snprintf(key, sizeof(key), "%s%s", lwt[i], parts[k][1]);
            const struct ef_val *v =
                ef_val_type(o) == EF_OBJ ? ef_val_obj_get(o, parts[k][0]) : NULL;
            if (v) {
                ef_val_obj_set_take(cfg, key, ef_val_ref((struct ef_val *)v));
            } else {
                ef_val_obj_del(cfg, key, strlen(key));
            }
        }
    }
    return build_opts(b, false);
}

static int cb_broker_init(struct ef_node *n, const struct ef_val *config)
{
    struct mqtt_broker *b = ef_node_priv(n);
    struct mqtt_conn *c = &b->conn;
    mqtt_conn__init(c, n);
    c->config = config;
    c->cfg = ef_val_copy(config);
    if (!c->cfg) {
        return EF_ENOMEM;
    }
    if (b->tls && !tls_config__get(b->tls)) {
        ef_node_error(n, NULL, "property 'tls' must name a tls-config node");
        return EF_EINVAL;
    }
    return build_opts(b, true);
}

static void cb_broker_start(struct ef_node *n)
{
    struct mqtt_broker *b = ef_node_priv(n);
    /* TLS files are known once every config node has been initialised. */
    if (b->tls) {
        build_opts(b, true);
    }
    mqtt_conn__start(&b->conn);
}

static void cb_broker_close(struct ef_node *n)
{
    struct mqtt_broker *b = ef_node_priv(n);
    mqtt_conn__close(&b->conn);
}

const struct ef_node_type ef_type_mqtt_broker = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "mqtt-broker",
    .description = "An MQTT broker connection shared by mqtt in and mqtt out nodes",
    .category = "config",
    .inputs = 0,
    .outputs = 0,
    .flags = EF_TYPE_CONFIG,
    .props = broker_props,
    .priv_size = sizeof(struct mqtt_broker),
    .cb_init = cb_broker_init,
    .cb_start = cb_broker_start,
    .cb_close = cb_broker_close,
};
