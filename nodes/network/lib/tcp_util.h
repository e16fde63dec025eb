/*
 * tcp_util.h - what the tcp in, tcp out and tcp request nodes share: the
 * session registry that Node-RED keeps as one module-wide connectionPool
 * (tcp in connections, found again by msg._session.id from a tcp out in
 * "reply" mode), writes and closes on libuv TCP handles, the bytes a
 * payload is sent as, and Node's texts for socket errors.
 *
 * The registry is not a process global: each tcp in node keeps its own
 * sessions in a struct tcp_pool at the start of its private state, and a
 * lookup walks the nodes of the caller's flow set (the running flows of
 * one runtime), so two runtimes in one process never see each other's
 * connections, and a node sees exactly the sessions Node-RED's pool holds.
 */
#ifndef EF_NODES_TCP_UTIL_H
#define EF_NODES_TCP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include <edgeflow/node.h>

/*
 * One connection in the registry. Its owner embeds it (first member) in
 * its own connection record. `destroy` closes the socket at once
 * (socket.destroy()); the owner then runs its close handling.
 */
struct tcp_sess {
    uv_tcp_t tcp; /* first: the handle's address is the session's */
    char id[17];  /* RED.util.generateId() */
    bool open;    /* connected and not closing: writable */
    uint64_t seq; /* creation order across nodes (the pool's key order) */
    struct tcp_sess *next;
    void (*destroy)(struct tcp_sess *s);
};

/* The sessions of one tcp in node: the first member of its private state. */
struct tcp_pool {
    struct tcp_sess *head;
};

/* Adds s at the end of pool (s->next is overwritten). */
void tcp_pool__add(struct tcp_pool *pool, struct tcp_sess *s);
/* Removes s from pool if it is there. */
void tcp_pool__remove(struct tcp_pool *pool, struct tcp_sess *s);
/* The session with this id among all tcp in nodes of from's flow set, or NULL. */
struct tcp_sess *tcp_pool__find(struct ef_node *from, const char *id);
/*
 * Every open session of every tcp in node in from's flow set, oldest first.
 * Returns a malloc'ed array (count in *n; NULL when empty or on OOM); the
 * sessions are borrowed and stay valid until the loop runs again.
 */
struct tcp_sess **tcp_pool__all(struct ef_node *from, size_t *n);

/* Bytes queued to one peer that has not read them before writes are refused. */
#define TCP_WRITE_QUEUE_MAX (64u << 20)
/* Bytes tcp in keeps from one connection while it waits for a delimiter or the end. */
#define TCP_PENDING_MAX (64u << 20)

/*
 * Writes len bytes (copied) to a stream; nothing when it is closing.
 * Returns 0 or a libuv error: UV_ENOBUFS (nothing written) when the bytes
 * already queued to the peer plus len would pass TCP_WRITE_QUEUE_MAX.
 */
int tcp__write(uv_stream_t *s, const void *data, size_t len);
/*
 * The bytes a tcp out node sends for a payload: a Buffer as it is, a string
 * decoded from Base64 when `base64`, anything else as "" + payload (so
 * undefined is "undefined"). Malloc'ed (length in *len); NULL on OOM.
 */
char *tcp__payload_bytes(const struct ef_val *payload, bool base64, size_t *len);
/*
 * Node's err.toString() for a socket error: "Error: connect ECONNREFUSED
 * 127.0.0.1:9", "Error: listen EADDRINUSE: address already in use :::80".
 */
void tcp__err_text(char *buf, size_t len, int uverr, const char *syscall, const char *addr);
/* Node's RED._("tcpin.status.connections", {count}): "1 connection", "2 connections". */
void tcp__connections_text(char *buf, size_t len, size_t count);
/* The settings value `key` as milliseconds, or def when unset or not a positive number. */
double tcp__setting_ms(struct ef_node *n, const char *key, double def);
/* The remote address of a TCP handle as Node reports it (ip text and port); false if unknown. */
bool tcp__peer(const uv_tcp_t *t, char *ip, size_t iplen, int *port);

/* A port number from a JavaScript number: the integer 0..65535, or -1 ("Invalid port"). */
int tcp__port(double d);

/* ---- Client connections ---- */

/*
 * Called once when a dial ends: status 0 when t is connected, else a libuv
 * error with Node's text for it in `err` ("Error: connect ECONNREFUSED
 * 127.0.0.1:9", "Error: getaddrinfo ENOTFOUND nohost").
 */
typedef void (*tcp_dial_cb)(void *ud, int status, const char *err);
struct tcp_dial;
/*
 * Resolves host (uv_getaddrinfo; "" is localhost) and connects the
 * initialised handle t to its first address and port. Returns the dial
 * (freed by itself after cb ran) or NULL on OOM (cb is then never called).
 */
struct tcp_dial *tcp__dial(uv_loop_t *loop, uv_tcp_t *t, const char *host, int port, tcp_dial_cb cb,
                           void *ud);
/* Makes sure cb is never called (the caller is going away); NULL-safe. */
void tcp__dial_cancel(struct tcp_dial *d);

#endif
