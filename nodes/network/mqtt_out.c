/*
 * mqtt_out.c - the mqtt out node (Node-RED 4.1's MQTTOutNode): publishes
 * msg.payload to the configured topic or msg.topic, with QoS and retain
 * from the node or the message (doPublish's precedence rules), MQTT 5
 * properties from the node or the message (user properties, response
 * topic, correlation data, content type, message expiry, topic alias,
 * payload format indicator), and the payload encoded as Node-RED does
 * (Buffers as bytes, objects as JSON, numbers and booleans as strings).
 * msg.action "connect"/"disconnect" drive the shared connection.
 * Completion is reported when the connection has accepted the message
 * (sent, or buffered for QoS 1/2 while disconnected).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js.h"
#include "engine.h"

#include "lib/mqtt_conn.h"
#include "lib/mqtt_util.h"

struct mqtt_out {
    struct ef_node *broker;
    struct mqtt_conn *conn;
    const char *topic;
    const struct ef_val *qos, *retain;
    const char *resp_topic, *content_type, *correl;
    const struct ef_val *expiry;
    struct ef_val *user_props; /* parsed userProps, or NULL */
};

static const struct ef_prop out_props[] = {
    {EF_PROP_STR, "topic", "\"\"", false, "topic (empty: msg.topic)",
     offsetof(struct mqtt_out, topic)},
    {EF_PROP_ANY, "qos", "\"\"", false, "QoS 0, 1, 2 (empty: msg.qos)",
     offsetof(struct mqtt_out, qos)},
    {EF_PROP_ANY, "retain", "\"\"", false, "retain \"true\"/\"false\" (empty: msg.retain)",
     offsetof(struct mqtt_out, retain)},
    {EF_PROP_NODE, "broker", NULL, true, "the mqtt-broker config node",
     offsetof(struct mqtt_out, broker)},
    {EF_PROP_STR, "respTopic", "\"\"", false, "MQTT 5 response topic",
     offsetof(struct mqtt_out, resp_topic)},
    {EF_PROP_STR, "contentType", "\"\"", false, "MQTT 5 content type",
     offsetof(struct mqtt_out, content_type)},
    {EF_PROP_ANY, "userProps", "\"\"", false, "MQTT 5 user properties (JSON object)",
     EF_PROP_NOFIELD},
    {EF_PROP_STR, "correl", "\"\"", false, "MQTT 5 correlation data",
     offsetof(struct mqtt_out, correl)},
    {EF_PROP_ANY, "expiry", "\"\"", false, "MQTT 5 message expiry interval (seconds)",
     offsetof(struct mqtt_out, expiry)},
    {EF_PROP_END},
};

/* Number(v) as JavaScript. */
static double js_number(const struct ef_val *v)
{
    switch (ef_val_type(v)) {
    case EF_NUM: return ef_val_num_get(v);
    case EF_BOOL: return ef_val_bool_get(v) ? 1 : 0;
    case EF_NULL: return 0;
    case EF_STR: {
        const char *s = ef_val_str_get(v);
        while (*s == ' ') {
            s++;
        }
        if (!*s) {
            return 0;
        }
        char *end;
        double d = strtod(s, &end);
        while (*end == ' ') {
            end++;
        }
        return *end ? NAN : d;
    }
    default: return NAN;
    }
}

static void add_str(MQTTProperties *props, enum MQTTPropertyCodes id, const char *s, size_t len)
{
    MQTTProperty p = {.identifier = id};
    p.value.data.data = (char *)s;
    p.value.data.len = (int)len;
    MQTTProperties_add(props, &p);
}

static void add_int(MQTTProperties *props, enum MQTTPropertyCodes id, unsigned v)
{
    MQTTProperty p = {.identifier = id};
    if (id == MQTTPROPERTY_CODE_TOPIC_ALIAS) {
        p.value.integer2 = (unsigned short)v;
    } else if (id == MQTTPROPERTY_CODE_PAYLOAD_FORMAT_INDICATOR) {
        p.value.byte = (unsigned char)v;
    } else {
        p.value.integer4 = v;
    }
    MQTTProperties_add(props, &p);
}

/* Node-RED's setUserProperties into an object of strings; NULL when none. */
static struct ef_val *user_props_of(const struct ef_val *src)
{
    if (ef_val_type(src) != EF_OBJ || !ef_val_obj_len(src)) {
        return NULL;
    }
    struct ef_val *o = ef_val_obj();
    for (size_t i = 0; i < ef_val_obj_len(src); i++) {
        size_t kl;
        const char *k = ef_val_obj_key_at(src, i, &kl);
        const struct ef_val *v = ef_val_obj_val_at(src, i);
        if (ef_val_type(v) == EF_NULL) {
            continue;
        }
        char *s = mqtt_util__user_prop_string(v);
        if (s) {
            ef_val_obj_setn_take(o, k, kl, ef_val_str_take(s, strlen(s)));
        }
    }
    if (!ef_val_obj_len(o)) {
        ef_val_unref(o);
        return NULL;
    }
    return o;
}

/* Bytes of Buffer.from(v) for a correlation data value; NULL when not convertible. */
static uint8_t *buffer_from(const struct ef_val *v, size_t *len)
{
    switch (ef_val_type(v)) {
    case EF_BUF:
    case EF_STR: return mqtt_util__encode_payload(v, len);
    case EF_ARR: {
        size_t n = ef_val_arr_len(v);
        uint8_t *b = malloc(n ? n : 1);
        if (!b) {
            return NULL;
        }
        for (size_t i = 0; i < n; i++) {
            b[i] = (uint8_t)((int64_t)ef_val_num_get(ef_val_arr_at(v, i)) & 0xff);
        }
        *len = n;
        return b;
    }
    default: return NULL;
    }
}

static int cb_out_init(struct ef_node *n, const struct ef_val *config)
{
    struct mqtt_out *o = ef_node_priv(n);
    o->conn = mqtt_broker__conn(o->broker);
    if (!o->conn) {
        ef_node_error(n, NULL, "missing broker configuration");
        return EF_EINVAL;
    }
    const struct ef_val *up = ef_val_obj_get(config, "userProps");
    if (ef_val_type(up) == EF_STR) {
        const char *s = ef_val_str_get(up);
        while (*s == ' ') {
            s++;
        }
        if (*s == '{') {
            struct ef_val *parsed = ef_json_parse(s, strlen(s), NULL, 0);
            o->user_props = user_props_of(parsed);
            ef_val_unref(parsed);
        }
    }
    ef_node_status(n, "red", "ring", "node-red:common.status.disconnected");
    mqtt_conn__register(o->conn, n);
    return 0;
}

/* doPublish + the broker's publish: builds the record and hands it over. */
static int publish(struct ef_node *n, struct ef_msg *msg)
{
    struct mqtt_out *o = ef_node_priv(n);
    struct mqtt_conn *c = o->conn;
    bool v5 = c->opts.version == 5;
    const struct ef_val *root = ef_msg_root(msg);
    /* qos: node, then a valid msg.qos, then 0 */
    const struct ef_val *mq = ef_val_obj_get(root, "qos");
    double msg_qos = 0;
    if (ef_val_truthy(mq)) {
        double q = js__parse_int(mq);
        msg_qos = (q == 0 || q == 1 || q == 2) ? q : 0;
    }
    double qos = ef_val_truthy(o->qos) ? js_number(o->qos) : msg_qos;
    if (!(qos == 1 || qos == 2)) {
        qos = 0;
    }
    const struct ef_val *r = ef_val_truthy(o->retain) ? o->retain : ef_val_obj_get(root, "retain");
    bool retain = (ef_val_type(r) == EF_BOOL && ef_val_bool_get(r)) ||
                  (ef_val_type(r) == EF_STR && !strcmp(ef_val_str_get(r), "true"));
    if (!ef_val_obj_get(root, "payload")) {
        return 0; /* nothing to publish: done() */
    }
    struct mqtt_pub *p = calloc(1, sizeof(*p));
    if (!p) {
        return EF_ENOMEM;
    }
    p->qos = (int)qos;
    p->retain = retain;
    p->origin = n;
    p->payload = mqtt_util__encode_payload(ef_val_obj_get(root, "payload"), &p->len);
    const struct ef_val *tv = *o->topic ? NULL : ef_val_obj_get(root, "topic");
    const char *topic = *o->topic                   ? o->topic
                        : ef_val_type(tv) == EF_STR ? ef_val_str_get(tv)
                                                    : NULL;
    size_t topic_len = *o->topic ? strlen(o->topic) : ef_val_str_len(tv);
    bool topic_ok = topic && mqtt_util__valid_pub_topic(topic, topic_len);
    if (v5) {
        /* node properties override the message's */
        const struct ef_val *rt = ef_val_obj_get(root, "responseTopic");
        const char *resp = *o->resp_topic              ? o->resp_topic
                           : ef_val_type(rt) == EF_STR ? ef_val_str_get(rt)
                                                       : "";
        if (*resp) {
            add_str(&p->props, MQTTPROPERTY_CODE_RESPONSE_TOPIC, resp, strlen(resp));
        }
        size_t cl = 0;
        uint8_t *cd = NULL;
        if (*o->correl) {
            cd = (uint8_t *)strdup(o->correl);
            cl = strlen(o->correl);
        } else {
            const struct ef_val *cv = ef_val_obj_get(root, "correlationData");
            if (ef_val_truthy(cv)) {
                cd = buffer_from(cv, &cl);
            }
        }
        if (cd) {
            add_str(&p->props, MQTTPROPERTY_CODE_CORRELATION_DATA, (const char *)cd, cl);
            free(cd);
        }
        const struct ef_val *ctv = ef_val_obj_get(root, "contentType");
        const char *ct = *o->content_type             ? o->content_type
                         : ef_val_type(ctv) == EF_STR ? ef_val_str_get(ctv)
                                                      : "";
        if (*ct) {
            add_str(&p->props, MQTTPROPERTY_CODE_CONTENT_TYPE, ct, strlen(ct));
        }
        const struct ef_val *ex =
            ef_val_truthy(o->expiry) ? o->expiry : ef_val_obj_get(root, "messageExpiryInterval");
        if (ex) {
            double e = js__parse_int(ex);
            if (!isnan(e) && e >= 0 && e <= 4294967295.0) {
                add_int(&p->props, MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL, (unsigned)e);
            }
        }
        struct ef_val *up = o->user_props ? ef_val_ref(o->user_props)
                                          : user_props_of(ef_val_obj_get(root, "userProperties"));
        for (size_t i = 0; i < ef_val_obj_len(up); i++) {
            size_t kl;
            const char *k = ef_val_obj_key_at(up, i, &kl);
            const struct ef_val *v = ef_val_obj_val_at(up, i);
            MQTTProperty prop = {.identifier = MQTTPROPERTY_CODE_USER_PROPERTY};
            prop.value.data.data = (char *)k;
            prop.value.data.len = (int)kl;
            prop.value.value.data = (char *)ef_val_str_get(v);
            prop.value.value.len = (int)ef_val_str_len(v);
            MQTTProperties_add(&p->props, &prop);
        }
        ef_val_unref(up);
        const struct ef_val *ta = ef_val_obj_get(root, "topicAlias");
        if (ta) {
            double a = js__parse_int(ta);
            if (!isnan(js_number(ta)) && !isnan(a) && mqtt_conn__topic_alias_ok(c, (int)a) == 0) {
                add_int(&p->props, MQTTPROPERTY_CODE_TOPIC_ALIAS, (unsigned)a);
            }
        }
        const struct ef_val *pf = ef_val_obj_get(root, "payloadFormatIndicator");
        if ((ef_val_type(pf) == EF_BOOL && ef_val_bool_get(pf)) ||
            (ef_val_type(pf) == EF_STR && !strcmp(ef_val_str_get(pf), "true"))) {
            add_int(&p->props, MQTTPROPERTY_CODE_PAYLOAD_FORMAT_INDICATOR, 1);
        } else if ((ef_val_type(pf) == EF_BOOL) ||
                   (ef_val_type(pf) == EF_STR && !strcmp(ef_val_str_get(pf), "false"))) {
            add_int(&p->props, MQTTPROPERTY_CODE_PAYLOAD_FORMAT_INDICATOR, 0);
        }
        if ((!topic || !*topic) && *resp) {
            topic = resp;
            topic_len = strlen(resp);
            topic_ok = mqtt_util__valid_pub_topic(topic, topic_len);
        }
    }
    if (!topic_ok) {
        mqtt_pub__free(p);
        ef_node_warn(n, "Invalid topic specified");
        return 0;
    }
    p->topic = strndup(topic, topic_len);
    if (!p->topic || !p->payload) {
        mqtt_pub__free(p);
        return EF_ENOMEM;
    }
    mqtt_conn__publish(c, p);
    return 0;
}

static int cb_out_input(struct ef_node *n, struct ef_msg *msg)
{
    struct mqtt_out *o = ef_node_priv(n);
    const struct ef_val *av = ef_msg_get(msg, "action");
    if (ef_val_truthy(av)) {
        const char *action = ef_val_type(av) == EF_STR ? ef_val_str_get(av) : "";
        if (!strcmp(action, "connect")) {
            return mqtt_conn__connect_action(n, o->conn, msg);
        }
        if (!strcmp(action, "disconnect")) {
            mqtt_conn__disconnect(o->conn);
        } else {
            ef_node_error(n, msg, "Error: Invalid action specified");
        }
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    publish(n, msg);
    ef_msg_free(msg);
    return EF_INPUT_DONE;
}

static void cb_out_close(struct ef_node *n)
{
    struct mqtt_out *o = ef_node_priv(n);
    mqtt_conn__deregister(o->conn, n);
    ef_val_unref(o->user_props);
    o->user_props = NULL;
}

const struct ef_node_type ef_type_mqtt_out = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "mqtt out",
    .description = "Publishes msg.payload to an MQTT broker",
    .category = "network",
    .inputs = 1,
    .outputs = 0,
    .props = out_props,
    .priv_size = sizeof(struct mqtt_out),
    .cb_init = cb_out_init,
    .cb_input = cb_out_input,
    .cb_close = cb_out_close,
};
