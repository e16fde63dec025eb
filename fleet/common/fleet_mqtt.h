/*
 * fleet_mqtt.h - a small MQTT 3.1.1 client for the fleet manager and agent,
 * over paho MQTTAsync, driven from the edgeflow loop.
 *
 * Every callback runs on the loop thread (paho's threads only copy data and
 * ef_loop_post). The client connects by itself and reconnects with
 * exponential backoff (250 ms doubling up to reconnect_max_ms, with
 * jitter); subscriptions are sent again after every reconnect (clean
 * session). Publishing never blocks: messages go into a bounded queue and
 * at most `window` of them are handed to paho at a time (paho slows down a
 * lot with many QoS 1 messages in flight, see DEPS.md). QoS 1 messages wait
 * in the queue while disconnected and in-flight ones are sent again after a
 * reconnect (at least once); QoS 0 messages are dropped while disconnected.
 *
 * All calls are loop-thread only. Memory: one client is about 3 KB plus the
 * queued messages (one allocation each) and paho's own per-connection state.
 */
#ifndef FLEET_MQTT_H
#define FLEET_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ef_loop;
struct fleet_mqtt;

struct fleet_mqtt_opts {
    const char *uri;          /* tcp://host:port or ssl://host:port (required) */
    const char *client_id;    /* required */
    const char *username;     /* NULL: none */
    const char *password;     /* NULL: none */
    const char *will_topic;   /* NULL: no last will */
    const void *will_payload; /* will_len bytes */
    size_t will_len;
    bool will_retain;
    int will_qos;              /* 0 or 1 */
    int keepalive;             /* seconds; 0: 30 */
    int window;                /* messages handed to paho at once, 1..64; 0: 32 */
    size_t max_queue;          /* queued messages; 0: 10000 */
    size_t max_queue_bytes;    /* queued payload bytes; 0: 16 MiB */
    size_t max_payload;        /* larger received messages are dropped; 0: 1 MiB + 1 KiB */
    uint32_t reconnect_max_ms; /* backoff cap; 0: 5000 */
    /* Connected (also after every reconnect, once subscriptions are re-sent). */
    void (*on_connect)(void *ud);
    /* A connection was lost or an attempt failed; reason is a short text. */
    void (*on_disconnect)(void *ud, const char *reason);
    /* A message arrived; topic and payload are valid during the call only. */
    void (*on_message)(void *ud, const char *topic, const uint8_t *payload, size_t len,
                       bool retained);
    void *ud;
};

struct fleet_mqtt_stats {
    uint64_t published;       /* messages completed (acknowledged, or written for QoS 0) */
    uint64_t received;        /* messages delivered to on_message */
    uint64_t dropped_offline; /* QoS 0 publishes refused while disconnected */
    uint64_t dropped_full;    /* publishes refused because the queue was full */
    uint64_t dropped_big;     /* received messages larger than max_payload */
    uint64_t failed;          /* publishes paho refused for good */
    uint64_t connects;        /* successful connections */
    size_t queued;            /* messages waiting now */
    size_t inflight;          /* messages with paho now */
};

/*
 * Creates a client (not yet connecting). Every string and the will payload
 * are copied. Returns the client, or NULL with the reason in err (bad URI,
 * missing client id, out of memory).
 */
struct fleet_mqtt *fleet_mqtt_create(struct ef_loop *loop, const struct fleet_mqtt_opts *o,
                                     char *err, size_t errlen);
/* Starts connecting (and keeps reconnecting until destroyed). 0 or EF_E*. */
int fleet_mqtt_connect(struct fleet_mqtt *m);
/* Replaces the last will payload used from the next connection on (copied). 0 or EF_ENOMEM. */
int fleet_mqtt_set_will(struct fleet_mqtt *m, const void *payload, size_t len);
/*
 * Adds a subscription (filter copied), sent now when connected and after
 * every reconnect. 0, EF_EINVAL or EF_ENOMEM.
 */
int fleet_mqtt_subscribe(struct fleet_mqtt *m, const char *filter, int qos);
/*
 * Queues a message (topic and payload copied). 0; EF_ESTATE for QoS 0 while
 * disconnected; EF_EFULL when the queue is full; EF_EINVAL or EF_ENOMEM.
 */
int fleet_mqtt_publish(struct fleet_mqtt *m, const char *topic, const void *payload, size_t len,
                       int qos, bool retain);
/* True while connected. */
bool fleet_mqtt_connected(const struct fleet_mqtt *m);
/* Copies the counters. */
void fleet_mqtt_stats(const struct fleet_mqtt *m, struct fleet_mqtt_stats *st);
/*
 * Disconnects and frees the client; no callback runs afterwards. With
 * flush_ms > 0 and a connection up, queued messages are sent first and the
 * client waits up to flush_ms (blocking the loop) for them and a clean
 * DISCONNECT (which suppresses the last will). NULL is ignored. May be
 * called from within one of the client's callbacks.
 */
void fleet_mqtt_destroy(struct fleet_mqtt *m, int flush_ms);

#endif
