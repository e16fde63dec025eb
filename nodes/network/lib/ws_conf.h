/*
 * ws_conf.h - what the websocket-listener and websocket-client config nodes
 * (nodes/network/websocket_listener.c, websocket_client.c) share with the
 * websocket in and out nodes that use them, as Node-RED's
 * WebSocketListenerNode serves both types: the users (in and out nodes,
 * which show the connection status), the input nodes (which get every
 * message), turning a received message into a msg (payload or whole
 * message) and sending out to every client, one session or the server.
 */
#ifndef EF_NODES_WS_CONF_H
#define EF_NODES_WS_CONF_H

#include <stdbool.h>

#include <edgeflow/node.h>

#include "ws_routes.h"

struct tls_conf;

/* The private state of both config node types (the same struct). */
struct ws_conf {
    struct ef_node *n;
    bool is_server; /* websocket-listener */
    bool wholemsg;
    bool closing;
    struct ef_node **users; /* websocket in and out nodes: status */
    size_t nusers, ucap;
    struct ef_node **inputs; /* websocket in nodes: messages */
    size_t ninputs, icap;
    /* listener */
    char full_path[1024];
    struct ws_route *route;
    struct ws_peer **peers; /* connected clients, in order of arrival */
    size_t npeers, pcap;
    /* client */
    struct ws_peer *peer;       /* the current connection (also while connecting) */
    struct ef_timer *reconnect; /* 3 s after a close or an error */
    struct ef_timer *heartbeat; /* hb seconds, while open */
    bool hb_pending;
    double hb_ms;
    char *url, *subprotocols;
    const struct tls_conf *tls;
    char **hnames, **hvalues;
    size_t nheaders;
};

/* The ws_conf of a websocket-listener or websocket-client node, or NULL. */
struct ws_conf *ws_conf__of(struct ef_node *n);
/* The event callbacks both config types give ws_routes. */
extern const struct ws_events ws_conf__events;

/* Adds a user (status) and, with `input`, an input node. 0 or EF_ENOMEM. */
int ws_conf__add_user(struct ws_conf *c, struct ef_node *user, bool input);
/* Removes a node from the users and input nodes (NULL-safe). */
void ws_conf__remove_user(struct ws_conf *c, struct ef_node *user);
/*
 * Sends msg (borrowed) as websocket out does: the payload or the whole
 * message, to msg._session's client or to every client (or through the
 * client connection). `from` is the out node (for warnings).
 */
void ws_conf__send(struct ws_conf *c, struct ef_node *from, const struct ef_msg *msg);
/* Frees what both config types hold (users lists, peers list). */
void ws_conf__free(struct ws_conf *c);

/* websocket_client.c: the client's init, start and close (also used by a
 * websocket-listener whose path is a ws:// URL, as in Node-RED). */
int ws_client__init(struct ef_node *n, const struct ef_val *config);
void ws_client__start(struct ef_node *n);
void ws_client__close(struct ef_node *n);

#endif
