/*
 * edgeflow/mqtt.h - publishing through an mqtt-broker config node: a node
 * type (a plugin too) shares that node's one connection, with its TLS,
 * credentials, MQTT version and reconnect logic, as mqtt out does.
 */
#ifndef EDGEFLOW_MQTT_H
#define EDGEFLOW_MQTT_H

#include <stddef.h>

struct ef_node;

/* An MQTT 5 user property (ignored on MQTT 3.1/3.1.1 connections). */
struct ef_mqtt_user_prop {
    const char *name;
    const char *value;
};

/* A message to publish; everything is copied by ef_mqtt_publish, nothing is kept. */
struct ef_mqtt_msg {
    const char *topic;
    const void *payload;
    size_t len;
    int qos; /* 0, 1 or 2 */
    int retain;
    const struct ef_mqtt_user_prop *user_props;
    size_t nuser_props;
};

/*
 * Runs once on the loop thread when a publish ends (possibly already inside
 * ef_mqtt_publish, when paho refuses the message at once): error is NULL when the
 * broker acknowledged it (PUBACK/PUBCOMP; for QoS 0, when it was written),
 * else why it was dropped (refused by the broker, connection closed for
 * good, ...). Messages accepted while the broker is unreachable are kept by
 * the connection and sent after it reconnects, so an outage delays done
 * rather than failing it.
 */
typedef void (*ef_mqtt_done_fn)(struct ef_node *n, const char *error, void *arg);

/*
 * Makes node n a user of the mqtt-broker node `broker` (found with
 * ef_node_lookup): the connection is opened when autoConnect allows, as for
 * mqtt in/out, but n's status is left to n. Returns 0, EF_EINVAL when
 * broker is not an mqtt-broker node, or EF_ENOMEM.
 */
int ef_mqtt_attach(struct ef_node *n, struct ef_node *broker);
/*
 * Ends n's use of broker (call it from cb_close). Publishes of n still
 * queued or in flight are still sent, but their done callbacks are dropped.
 */
void ef_mqtt_detach(struct ef_node *n, struct ef_node *broker);
/* Nonzero when the broker's connection is up (CONNACK received). */
int ef_mqtt_connected(struct ef_node *broker);
/*
 * Publishes m for node n (attached to broker) and calls done (may be NULL)
 * when it ends. Returns 0 when the connection took the message (done will
 * run), or EF_EINVAL (bad arguments, n not attached), EF_ESTATE (QoS 0 while
 * disconnected), EF_EFULL (the connection's offline buffer is full) or
 * EF_ENOMEM, and then done is not called.
 */
int ef_mqtt_publish(struct ef_node *n, struct ef_node *broker, const struct ef_mqtt_msg *m,
                    ef_mqtt_done_fn done, void *arg);

#endif
