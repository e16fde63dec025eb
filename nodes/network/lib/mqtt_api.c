/*
 * mqtt_api.c - the SDK's edgeflow/mqtt.h: other node types (plugins too)
 * publish through an mqtt-broker config node's shared connection
 * (mqtt_conn.c), with a completion callback per message.
 */
#include <stdlib.h>
#include <string.h>

#include <edgeflow/mqtt.h>

#include "mqtt_conn.h"

int ef_mqtt_attach(struct ef_node *n, struct ef_node *broker)
{
    struct mqtt_conn *c = mqtt_broker__conn(broker);
    if (!n || !c) {
        return EF_EINVAL;
    }
    size_t before = c->nquiet;
    mqtt_conn__register_quiet(c, n);
    return c->nquiet > before ? 0 : EF_ENOMEM;
}

void ef_mqtt_detach(struct ef_node *n, struct ef_node *broker)
{
    struct mqtt_conn *c = mqtt_broker__conn(broker);
    if (n && c) {
        mqtt_conn__deregister(c, n);
    }
}

int ef_mqtt_connected(struct ef_node *broker)
{
    struct mqtt_conn *c = mqtt_broker__conn(broker);
    return c && mqtt_conn__connected(c);
}

static bool attached(const struct mqtt_conn *c, const struct ef_node *n)
{
    for (size_t i = 0; i < c->nquiet; i++) {
        if (c->quiet[i] == n) {
            return true;
        }
    }
    return false;
}

int ef_mqtt_publish(struct ef_node *n, struct ef_node *broker, const struct ef_mqtt_msg *m,
                    ef_mqtt_done_fn done, void *arg)
{
    struct mqtt_conn *c = mqtt_broker__conn(broker);
    if (!c || !n || !m || !m->topic || !*m->topic || (m->len && !m->payload) || m->qos < 0 ||
        m->qos > 2 || (m->nuser_props && !m->user_props) || !attached(c, n)) {
        return EF_EINVAL;
    }
    struct mqtt_pub *p = calloc(1, sizeof(*p));
    if (!p) {
        return EF_ENOMEM;
    }
    p->topic = strdup(m->topic);
    p->payload = malloc(m->len ? m->len : 1);
    if (!p->topic || !p->payload) {
        mqtt_pub__free(p);
        return EF_ENOMEM;
    }
    if (m->len) {
        memcpy(p->payload, m->payload, m->len);
    }
    p->len = m->len;
    p->qos = m->qos;
    p->retain = m->retain != 0;
    if (c->opts.version == 5) {
        for (size_t i = 0; i < m->nuser_props; i++) {
            const struct ef_mqtt_user_prop *u = &m->user_props[i];
            if (!u->name || !u->value) {
                mqtt_pub__free(p);
                return EF_EINVAL;
            }
            MQTTProperty prop = {.identifier = MQTTPROPERTY_CODE_USER_PROPERTY};
            prop.value.data.data = (char *)u->name;
            prop.value.data.len = (int)strlen(u->name);
            prop.value.value.data = (char *)u->value;
            prop.value.value.len = (int)strlen(u->value);
            if (MQTTProperties_add(&p->props, &prop) != 0) {
                mqtt_pub__free(p);
                return EF_ENOMEM;
            }
        }
    }
    p->origin = n;
    p->done = done;
    p->done_arg = arg;
    return mqtt_conn__publish(c, p);
}
