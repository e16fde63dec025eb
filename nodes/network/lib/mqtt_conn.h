/*
 * mqtt_conn.h - one MQTT connection shared by all the nodes that use an
 * mqtt-broker config node (Node-RED's MQTTBrokerNode): a paho MQTTAsync
 * client, the users whose status it drives, the subscriptions, the outgoing
 * queue with its bounded in-flight window, and reconnection with backoff.
 *
 * Threads: paho calls back on its own threads. Those callbacks only copy
 * plain C data (topic, payload bytes, properties, codes) into an event list
 * guarded by a mutex and wake the loop with one ef_loop_post(); everything
 * else here runs on the loop thread. See mqtt_conn.c for the details.
 */
#ifndef EF_NODES_MQTT_CONN_H
#define EF_NODES_MQTT_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <MQTTAsync.h>

#include <edgeflow/edgeflow.h>

#define MQTT_WINDOW 64                    /* publishes handed to paho and not yet completed */
#define MQTT_BUFFER_MAX_MSGS 100000       /* QoS 1/2 messages kept while disconnected */
#define MQTT_BUFFER_MAX_BYTES (64u << 20) /* ... and their payload bytes */
#define MQTT_RX_MAX 8192                  /* received messages waiting for the loop */
#define MQTT_V3_RECEIVE_MAX 20            /* QoS 1/2 in flight on MQTT 3.1.1 (no Receive Maximum) */

/* A birth, close or will message (Node-RED's createLWT result). */
struct mqtt_lwt {
    char *topic;
    uint8_t *payload;
    size_t len;
    int qos;
    bool retain;
    MQTTProperties props; /* v5 only; empty otherwise */
    int will_delay;       /* v5 will delay interval, -1 when unset */
};

/* Connection options, resolved from the config node (and msg.broker). */
struct mqtt_opts {
    char *uri;       /* what paho connects to: tcp://, ssl://, ws://, wss:// */
    char *brokerurl; /* Node-RED's form (mqtt://host:port) for log lines */
    char *client_id;
    bool client_id_set; /* configured (not generated) */
    char *username, *password;
    int version; /* 3, 4 or 5 */
    int keepalive;
    bool clean;
    bool auto_connect;
    bool auto_unsubscribe;
    bool is_local;          /* broker is "localhost" or "127.0.0.1": mqtt in adds msg._topic */
    int64_t session_expiry; /* v5; 0: not sent */
    MQTTProperties connect_user_props;
    struct mqtt_lwt *birth, *close, *will;
    /* TLS (from the tls-config node) */
    bool tls;
    char *ca, *cert, *key, *passphrase, *alpn;
    bool verify;
};

/* A received message, as handed to a subscriber (all borrowed). */
struct mqtt_rx {
    const char *topic;
    size_t topic_len;
    const uint8_t *payload;
    size_t len;
    int qos;
    bool retain;
    const MQTTProperties *props; /* v5 properties, or NULL */
};

typedef void (*mqtt_rx_cb)(struct ef_node *user, const struct mqtt_rx *m, const char *datatype);

/* Subscription options (Node-RED's subscription options object). */
struct mqtt_sub_opts {
    int qos;
    int nl, rap, rh; /* -1: not set */
};

/* A message to publish. Owned by the connection once handed over. */
struct mqtt_pub {
    struct mqtt_pub *next;
    uint64_t seq; /* acceptance order (kept when it is sent again) */
    char *topic;
    uint8_t *payload;
    size_t len;
    int qos;
    bool retain;
    MQTTProperties props;
    struct ef_node *origin; /* the node that published it (NULL once it closed) */
    /* ef_mqtt_publish's completion: called once with NULL (acknowledged) or why not */
    void (*done)(struct ef_node *origin, const char *error, void *arg);
    void *done_arg;
};

enum mqtt_state {
    MQTT_IDLE,       /* never connected, or disconnected by msg.action */
    MQTT_CONNECTING, /* CONNECT sent */
    MQTT_CONNECTED,  /* CONNACK received */
    MQTT_WAITING,    /* lost or refused: a retry timer is running */
};

struct mqtt_bridge;
struct mqtt_sub;

struct mqtt_conn {
    struct ef_node *node; /* the mqtt-broker node */
    const struct ef_val *config;
    struct ef_val *cfg; /* merged options (config + msg.broker overrides), owned */
    struct mqtt_opts opts;
    bool started, closing;
    bool recreate; /* options changed: a new paho handle is needed */
    enum mqtt_state state;
    MQTTAsync handle;
    struct mqtt_bridge *bridge;
    struct ef_timer *retry_timer, *pump_timer;
    unsigned attempt;
    uint64_t rng;
    uint64_t reconnect_cap_ms;
    /* users (mqtt in / mqtt out nodes) */
    struct ef_node **users;
    size_t nusers, users_cap;
    /* users through the SDK (ef_mqtt_attach): they keep the connection up, set their own status */
    struct ef_node **quiet;
    size_t nquiet, quiet_cap;
    /* subscriptions */
    struct mqtt_sub *subs;
    size_t nsubs, subs_cap;
    int next_subid;
    /* server properties from the CONNACK (v5) */
    int topic_alias_max;
    bool sub_ids_available;
    /* outgoing: retry list (sorted by seq), then the queue; in-flight slots */
    struct mqtt_pub *retry, *q_head, *q_tail;
    size_t q_count, q_bytes;
    struct mqtt_pub *slot[MQTT_WINDOW];
    uint32_t slot_seq[MQTT_WINDOW];
    int inflight, inflight_q; /* all / QoS 1-2 */
    int recv_max;             /* the broker's Receive Maximum */
    uint64_t next_seq;
    /* counters */
    uint64_t sent, received, dropped_qos0_offline, dropped_buffer_full, dropped_rejected;
    uint64_t resent;
};

/* ---- implemented in mqtt_broker.c ---- */
/*
 * Returns the connection of an mqtt-broker node, or NULL if `broker` is not
 * one (or is NULL).
 */
struct mqtt_conn *mqtt_broker__conn(struct ef_node *broker);
/*
 * Node-RED's setOptions(opts, false) for msg.broker: applies the keys opts
 * has (broker, port, url, clientid, username, password, keepalive, birth,
 * close, will, ...) over the current options. Returns 0 or EF_E*.
 */
int mqtt_broker__set_options(struct mqtt_conn *c, const struct ef_val *opts);

/* ---- mqtt_conn.c ---- */
/* Prepares a connection for broker node n (nothing is connected yet). */
void mqtt_conn__init(struct mqtt_conn *c, struct ef_node *n);
/* Frees the resolved options (not the connection). */
void mqtt_opts__free(struct mqtt_opts *o);
/* Frees a birth/close/will message (NULL-safe). */
void mqtt_lwt__free(struct mqtt_lwt *l);
/* Called from the broker's cb_start: connects when it has users and autoConnect. */
void mqtt_conn__start(struct mqtt_conn *c);
/* Publishes the close message, flushes, disconnects and frees everything. */
void mqtt_conn__close(struct mqtt_conn *c);
/* Adds a user node (its status follows the connection); connects on the first. */
void mqtt_conn__register(struct mqtt_conn *c, struct ef_node *user);
/* Adds a user whose status the connection leaves alone (ef_mqtt_attach). */
void mqtt_conn__register_quiet(struct mqtt_conn *c, struct ef_node *user);
/* Removes a user node and its subscriptions. */
void mqtt_conn__deregister(struct mqtt_conn *c, struct ef_node *user);
/* Sets the status of one user node (or all when user is NULL) from the state. */
void mqtt_conn__show_status(struct mqtt_conn *c, struct ef_node *user);
bool mqtt_conn__connected(const struct mqtt_conn *c);
/* Node-RED's canConnect(): neither connected nor connecting. */
bool mqtt_conn__can_connect(const struct mqtt_conn *c);
/* Starts connecting (no-op when connected or connecting). 0 or EF_E*. */
int mqtt_conn__connect(struct mqtt_conn *c);
/* Publishes the close message and disconnects; no reconnect follows. */
void mqtt_conn__disconnect(struct mqtt_conn *c);
/*
 * Subscribes `ref` to `topic` (replacing its earlier subscription to the
 * same topic); cb runs for each matching message with `datatype`.
 */
int mqtt_conn__subscribe(struct mqtt_conn *c, const char *topic, const struct mqtt_sub_opts *o,
                         struct ef_node *ref, mqtt_rx_cb cb, const char *datatype);
/*
 * Removes ref's subscription to topic; the broker subscription goes when
 * no other node uses the topic and `remove` or autoUnsubscribe is set.
 */
void mqtt_conn__unsubscribe(struct mqtt_conn *c, const char *topic, struct ef_node *ref,
                            bool remove);
/*
 * Hands a message over for publishing (takes p in every case). Returns 0
 * when it was accepted (sent, or buffered for QoS 1/2 while disconnected),
 * or EF_EFULL / EF_ESTATE when it was dropped (and counted).
 */
int mqtt_conn__publish(struct mqtt_conn *c, struct mqtt_pub *p);
/*
 * Node-RED's handleConnectAction for msg.action "connect" (mqtt in and
 * out): connects, applying msg.broker options; with msg.broker.force an
 * active connection is cycled. Takes msg. Returns EF_INPUT_DONE.
 */
int mqtt_conn__connect_action(struct ef_node *n, struct mqtt_conn *c, struct ef_msg *msg);
/*
 * Frees a publish record (NULL-safe). A pending done callback of a live
 * origin runs first with "not delivered (connection lost or closed)".
 */
void mqtt_pub__free(struct mqtt_pub *p);
/* A v5 topic alias check: 0, or EF_ERANGE when alias is not allowed by the server. */
int mqtt_conn__topic_alias_ok(const struct mqtt_conn *c, int alias);

#endif
