/*
 * mqtt_in.c - the mqtt in node (Node-RED 4.1's MQTTInNode): subscribes to a
 * topic filter (wildcards, $share/ shared subscriptions, QoS 0/1/2, MQTT 5
 * no-local / retain-as-published / retain-handling) through its broker's
 * shared connection and sends one message per received publish, decoding
 * the payload by `datatype` (auto-detect, auto, utf8, json, buffer, base64)
 * exactly as Node-RED's subscriptionHandler does, MQTT 5 properties
 * included. With `inputs: 1` it is dynamic: msg.action subscribe,
 * unsubscribe, connect, disconnect and getSubscriptions.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js.h"
#include "engine.h"

#include "lib/mqtt_conn.h"
#include "lib/mqtt_util.h"

struct mqtt_in {
    struct ef_node *broker;
    const char *topic;
    struct mqtt_conn *conn; /* NULL when the node is inert (bad topic) */
    int qos;
    const char *datatype;
    bool dynamic;
    struct ef_val *dyn_subs; /* topic -> subscription object, in order */
};

static const struct ef_prop in_props[] = {
    {EF_PROP_STR, "topic", "\"\"", false, "topic filter (wildcards + and #, $share/...)",
     offsetof(struct mqtt_in, topic)},
    {EF_PROP_ANY, "qos", "\"2\"", false, "QoS of the subscription (0, 1, 2)", EF_PROP_NOFIELD},
    {EF_PROP_STR, "datatype", "\"utf8\"", false,
     "payload: auto-detect, auto, utf8, json, buffer or base64",
     offsetof(struct mqtt_in, datatype)},
    {EF_PROP_NODE, "broker", NULL, true, "the mqtt-broker config node",
     offsetof(struct mqtt_in, broker)},
    {EF_PROP_ANY, "nl", "false", false, "MQTT 5: do not receive own publishes", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "rap", "true", false, "MQTT 5: keep the retain flag as published",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "rh", "0", false, "MQTT 5: retained messages: 0 send, 1 new subs only, 2 none",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "subscriptionIdentifier", NULL, false, "MQTT 5 (accepted, unused)",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "topicType", NULL, false, "editor only", EF_PROP_NOFIELD},
    {EF_PROP_END},
};

/* Node-RED's setIntProp: -1 when absent with no default or out of range. */
static int int_prop(const struct ef_val *obj, const char *key, int min, int max, int def, bool *set)
{
    const struct ef_val *v = ef_val_obj_get(obj, key);
    *set = true;
    if (!v) {
        *set = def >= 0;
        return def;
    }
    double d = js__parse_int(v);
    if (isnan(d) || d < min || d > max) {
        *set = false;
        return -1;
    }
    return (int)d;
}

/* 1 for true/"true", 0 for false/"false", -1 otherwise. */
static int bool_flag(const struct ef_val *v)
{
    if ((ef_val_type(v) == EF_BOOL && ef_val_bool_get(v)) ||
        (ef_val_type(v) == EF_STR && !strcmp(ef_val_str_get(v), "true"))) {
        return 1;
    }
    if ((ef_val_type(v) == EF_BOOL && !ef_val_bool_get(v)) ||
        (ef_val_type(v) == EF_STR && !strcmp(ef_val_str_get(v), "false"))) {
        return 0;
    }
    return -1;
}

/* ---- receiving ---- */

static struct ef_val *lenstr(const MQTTLenString *s)
{
    return ef_val_strn(s->data ? s->data : "", (size_t)(s->len > 0 ? s->len : 0));
}

/* Copies the MQTT 5 properties of a publish onto msg as subscriptionHandler does. */
static void add_v5_props(struct ef_val *obj, const MQTTProperties *props)
{
    MQTTProperties *p = (MQTTProperties *)props;
    MQTTProperty *q = MQTTProperties_getProperty(p, MQTTPROPERTY_CODE_RESPONSE_TOPIC);
    if (q && q->value.data.len > 0) {
        ef_val_obj_set_take(obj, "responseTopic", lenstr(&q->value.data));
    }
    q = MQTTProperties_getProperty(p, MQTTPROPERTY_CODE_CORRELATION_DATA);
    if (q) {
        ef_val_obj_set_take(obj, "correlationData",
                            ef_val_buf(q->value.data.data, (size_t)q->value.data.len));
    }
    q = MQTTProperties_getProperty(p, MQTTPROPERTY_CODE_CONTENT_TYPE);
    if (q && q->value.data.len > 0) {
        ef_val_obj_set_take(obj, "contentType", lenstr(&q->value.data));
    }
    q = MQTTProperties_getProperty(p, MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL);
    if (q) {
        ef_val_obj_set_take(obj, "messageExpiryInterval", ef_val_num(q->value.integer4));
    }
    q = MQTTProperties_getProperty(p, MQTTPROPERTY_CODE_PAYLOAD_FORMAT_INDICATOR);
    if (q) {
        ef_val_obj_set_take(obj, "payloadFormatIndicator", ef_val_bool(q->value.byte != 0));
    }
    q = MQTTProperties_getProperty(p, MQTTPROPERTY_CODE_REASON_STRING);
    if (q && q->value.data.len > 0) {
        ef_val_obj_set_take(obj, "reasonString", lenstr(&q->value.data));
    }
    int nup = MQTTProperties_propertyCount(p, MQTTPROPERTY_CODE_USER_PROPERTY);
    if (nup <= 0) {
        return;
    }
    /* mqtt.js gathers repeated names into arrays; setUserProperties stringifies those. */
    struct ef_val *raw = ef_val_obj();
    for (int i = 0; i < nup; i++) {
        q = MQTTProperties_getPropertyAt(p, MQTTPROPERTY_CODE_USER_PROPERTY, i);
        size_t kl = (size_t)q->value.data.len;
        struct ef_val *val = lenstr(&q->value.value);
        struct ef_val *have = ef_val_obj_getn(raw, q->value.data.data, kl);
        if (!have) {
            ef_val_obj_setn_take(raw, q->value.data.data, kl, val);
        } else if (ef_val_type(have) == EF_ARR) {
            ef_val_arr_push_take(have, val);
        } else {
            struct ef_val *arr = ef_val_arr();
            ef_val_arr_push_take(arr, ef_val_ref(have));
            ef_val_arr_push_take(arr, val);
            ef_val_obj_setn_take(raw, q->value.data.data, kl, arr);
        }
    }
    struct ef_val *up = ef_val_obj();
    for (size_t i = 0; i < ef_val_obj_len(raw); i++) {
        size_t kl;
        const char *k = ef_val_obj_key_at(raw, i, &kl);
        char *s = mqtt_util__user_prop_string(ef_val_obj_val_at(raw, i));
        if (s) {
            ef_val_obj_setn_take(up, k, kl, ef_val_str_take(s, strlen(s)));
        }
    }
    ef_val_unref(raw);
    ef_val_obj_set_take(obj, "userProperties", up);
}

/* node.error(text, {payload, topic, qos, retain}) */
static void rx_error(struct ef_node *n, const struct mqtt_rx *m, struct ef_val *payload,
                     const char *text)
{
    struct ef_val *o = ef_val_obj();
    ef_val_obj_set_take(o, "payload", payload);
    ef_val_obj_set_take(o, "topic", ef_val_strn(m->topic, m->topic_len));
    ef_val_obj_set_take(o, "qos", ef_val_num(m->qos));
    ef_val_obj_set_take(o, "retain", ef_val_bool(m->retain));
    struct ef_msg *msg = ef_msg_new_take(o);
    if (!msg) {
        ef_val_unref(o);
        return;
    }
    ef_node_error(n, msg, "%s", text);
    ef_msg_free(msg);
}

/* Node-RED's subscriptionHandler for one received message. */
static void on_rx(struct ef_node *n, const struct mqtt_rx *m, const char *datatype)
{
    struct mqtt_in *in = ef_node_priv(n);
    bool v5 = in->conn->opts.version == 5;
    struct ef_val *obj = ef_val_obj();
    if (!obj) {
        return;
    }
    ef_val_obj_set_take(obj, "topic", ef_val_strn(m->topic, m->topic_len));
    ef_val_obj_set_take(obj, "payload", ef_val_null());
    ef_val_obj_set_take(obj, "qos", ef_val_num(m->qos));
    ef_val_obj_set_take(obj, "retain", ef_val_bool(m->retain));
    if (v5 && m->props) {
        add_v5_props(obj, m->props);
    }
    const struct ef_val *pfi = ef_val_obj_get(obj, "payloadFormatIndicator");
    bool v5_utf8 = v5 && ef_val_type(pfi) == EF_BOOL && ef_val_bool_get(pfi);
    const struct ef_val *ct = ef_val_obj_get(obj, "contentType");
    const char *media = v5 && ct && ef_val_str_len(ct) > 0 ? ef_val_str_get(ct) : NULL;
    struct mqtt_decoded d;
    if (mqtt_util__decode_payload(datatype, m->payload, m->len, v5_utf8, media, &d) != 0) {
        if (d.error) {
            rx_error(n, m, d.error_payload, d.error);
        }
        ef_val_unref(obj);
        return;
    }
    struct ef_val *payload = d.payload;
    if (!payload) {
        ef_val_unref(obj);
        return;
    }
    ef_val_obj_set_take(obj, "payload", payload);
    if (in->conn->opts.is_local) {
        ef_val_obj_set_take(obj, "_topic", ef_val_strn(m->topic, m->topic_len));
    }
    struct ef_msg *msg = ef_msg_new_take(obj);
    if (!msg) {
        ef_val_unref(obj);
        return;
    }
    if (ef_node_send(n, 0, msg) != 0) {
        ef_msg_free(msg);
    }
}

/* ---- configuration ---- */

static int cb_in_init(struct ef_node *n, const struct ef_val *config)
{
    struct mqtt_in *in = ef_node_priv(n);
    struct mqtt_conn *c = mqtt_broker__conn(in->broker);
    if (!c) {
        ef_node_error(n, NULL, "missing broker configuration");
        return EF_EINVAL;
    }
    const struct ef_val *inputs = ef_val_obj_get(config, "inputs");
    in->dynamic = inputs && ef_val_num_get(inputs) == 1;
    if (ef_val_type(inputs) == EF_STR) {
        in->dynamic = !strcmp(ef_val_str_get(inputs), "1");
    }
    double q = js__parse_int(ef_val_obj_get(config, "qos"));
    in->qos = isnan(q) || q < 0 || q > 2 ? 2 : (int)q;
    if (!in->dynamic && !mqtt_util__valid_sub_topic(in->topic)) {
        ef_node_warn(n, "Invalid topic specified");
        return 0;
    }
    if (!*in->datatype) {
        in->datatype = "utf8";
    }
    in->conn = c;
    in->dyn_subs = ef_val_obj();
    if (!in->dyn_subs) {
        return EF_ENOMEM;
    }
    ef_node_status(n, "red", "ring", "node-red:common.status.disconnected");
    if (*in->topic || in->dynamic) {
        mqtt_conn__register(c, n);
        if (!in->dynamic) {
            struct mqtt_sub_opts o = {in->qos, -1, -1, -1};
            if (c->opts.version == 5) {
                bool set;
                o.rh = int_prop(config, "rh", 0, 2, 0, &set);
                if (!set) {
                    o.rh = -1;
                }
                o.nl = bool_flag(ef_val_obj_get(config, "nl"));
                o.rap = bool_flag(ef_val_obj_get(config, "rap"));
            }
            mqtt_conn__subscribe(c, in->topic, &o, n, on_rx, in->datatype);
        }
    } else {
        ef_log(EF_LOG_ERROR, "[mqtt in:%s] topic not defined",
               *ef_node_name(n) ? ef_node_name(n) : ef_node_id(n));
    }
    return 0;
}

/* ---- actions ---- */

static int fail(struct ef_node *n, struct ef_msg *msg, const char *text)
{
    ef_node_error(n, msg, "Error: %s", text);
    ef_msg_free(msg);
    return EF_INPUT_DONE;
}

static struct ef_val *subs_array(const struct mqtt_in *in)
{
    struct ef_val *arr = ef_val_arr();
    for (size_t i = 0; i < ef_val_obj_len(in->dyn_subs); i++) {
        ef_val_arr_push_take(arr, ef_val_ref(ef_val_obj_val_at(in->dyn_subs, i)));
    }
    return arr;
}

static int do_subscribe(struct ef_node *n, struct mqtt_in *in, struct ef_msg *msg, bool sub)
{
    struct mqtt_conn *c = in->conn;
    const struct ef_val *topic = ef_msg_get(msg, "topic");
    struct ef_val *list = ef_val_arr();
    if (!sub && ef_val_type(topic) == EF_BOOL && ef_val_bool_get(topic)) {
        ef_val_unref(list);
        list = subs_array(in);
    } else if (ef_val_type(topic) == EF_ARR) {
        for (size_t i = 0; i < ef_val_arr_len(topic); i++) {
            ef_val_arr_push_take(list, ef_val_ref(ef_val_arr_at(topic, i)));
        }
    } else if (ef_val_type(topic) == EF_STR || ef_val_type(topic) == EF_OBJ ||
               ef_val_type(topic) == EF_NULL) {
        ef_val_arr_push_take(list, ef_val_ref((struct ef_val *)topic));
    } else {
        ef_val_unref(list);
        return fail(n, msg, "msg.topic is missing or invalid");
    }
    /* Each entry as an object {topic, ...} (a copy: it is kept). */
    struct ef_val *subs = ef_val_arr();
    for (size_t i = 0; i < ef_val_arr_len(list); i++) {
        const struct ef_val *e = ef_val_arr_at(list, i);
        struct ef_val *s;
        if (ef_val_type(e) == EF_STR) {
            s = ef_val_obj();
            ef_val_obj_set_take(s, "topic", ef_val_ref((struct ef_val *)e));
        } else {
            s = ef_val_type(e) == EF_OBJ ? ef_val_copy(e) : NULL;
        }
        const struct ef_val *t = ef_val_obj_get(s, "topic");
        if (!s || ef_val_type(t) != EF_STR || !ef_val_str_len(t) ||
            !mqtt_util__valid_sub_topic(ef_val_str_get(t))) {
            ef_val_unref(s);
            ef_val_unref(subs);
            ef_val_unref(list);
            return fail(n, msg, "Invalid topic specified");
        }
        ef_val_arr_push_take(subs, s);
    }
    ef_val_unref(list);
    bool v5 = c->opts.version == 5;
    for (size_t i = 0; i < ef_val_arr_len(subs); i++) {
        struct ef_val *s = ef_val_arr_at(subs, i);
        const char *t = ef_val_str_get(ef_val_obj_get(s, "topic"));
        size_t tl = strlen(t);
        if (!sub) {
            mqtt_conn__unsubscribe(c, t, n, true);
            ef_val_obj_del(in->dyn_subs, t, tl);
            continue;
        }
        if (ef_val_obj_get(in->dyn_subs, t)) {
            mqtt_conn__unsubscribe(c, t, n, true);
            ef_val_obj_del(in->dyn_subs, t, tl);
        }
        struct mqtt_sub_opts o = {0, -1, -1, -1};
        bool set;
        o.qos = int_prop(s, "qos", 0, 2, 2, &set);
        if (set) {
            ef_val_obj_set_take(s, "qos", ef_val_num(o.qos));
        } else {
            ef_val_obj_del(s, "qos", 3);
            o.qos = 0;
        }
        if (v5) {
            o.rh = int_prop(s, "rh", 0, 2, 0, &set);
            if (set) {
                ef_val_obj_set_take(s, "rh", ef_val_num(o.rh));
            } else {
                ef_val_obj_del(s, "rh", 2);
                o.rh = -1;
            }
            const struct ef_val *rap = ef_val_obj_get(s, "rap");
            o.rap = rap && ef_val_type(rap) != EF_NULL ? bool_flag(rap) : 1;
            if (o.rap >= 0) {
                ef_val_obj_set_take(s, "rap", ef_val_bool(o.rap == 1));
            } else {
                ef_val_obj_del(s, "rap", 3);
            }
            o.nl = bool_flag(ef_val_obj_get(s, "nl"));
            if (o.nl >= 0) {
                ef_val_obj_set_take(s, "nl", ef_val_bool(o.nl == 1));
            } else {
                ef_val_obj_del(s, "nl", 2);
            }
        }
        const struct ef_val *dt = ef_val_obj_get(s, "datatype");
        const char *datatype =
            ef_val_truthy(dt) && ef_val_type(dt) == EF_STR ? ef_val_str_get(dt) : in->datatype;
        mqtt_conn__subscribe(c, t, &o, n, on_rx, datatype);
        ef_val_obj_set_take(in->dyn_subs, t, ef_val_ref(s));
    }
    ef_val_unref(subs);
    ef_msg_set_take(msg, "subscriptions", subs_array(in));
    ef_msg_free(msg);
    return EF_INPUT_DONE;
}

static int cb_in_input(struct ef_node *n, struct ef_msg *msg)
{
    struct mqtt_in *in = ef_node_priv(n);
    if (!in->conn) {
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    const struct ef_val *av = ef_msg_get(msg, "action");
    const char *action = ef_val_type(av) == EF_STR ? ef_val_str_get(av) : "";
    if (!strcmp(action, "connect")) {
        return mqtt_conn__connect_action(n, in->conn, msg);
    }
    if (!strcmp(action, "disconnect")) {
        mqtt_conn__disconnect(in->conn);
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    if (!strcmp(action, "subscribe") || !strcmp(action, "unsubscribe")) {
        return do_subscribe(n, in, msg, !strcmp(action, "subscribe"));
    }
    if (!strcmp(action, "getSubscriptions")) {
        ef_msg_set_take(msg, "topic", ef_val_str("subscriptions"));
        ef_msg_set_take(msg, "payload", subs_array(in));
        if (ef_node_send(n, 0, msg) != 0) {
            ef_msg_free(msg);
        }
        return EF_INPUT_DONE;
    }
    return fail(n, msg, "Invalid action specified");
}

static void cb_in_close(struct ef_node *n)
{
    struct mqtt_in *in = ef_node_priv(n);
    if (in->conn) {
        mqtt_conn__deregister(in->conn, n);
    }
    ef_val_unref(in->dyn_subs);
    in->dyn_subs = NULL;
}

const struct ef_node_type ef_type_mqtt_in = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "mqtt in",
    .description = "Receives messages from an MQTT broker (topic filter or dynamic subscriptions)",
    .category = "network",
    .inputs = 1,
    .outputs = 1,
    .props = in_props,
    .priv_size = sizeof(struct mqtt_in),
    .cb_init = cb_in_init,
    .cb_input = cb_in_input,
    .cb_close = cb_in_close,
};
