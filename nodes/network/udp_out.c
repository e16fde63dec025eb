/*
 * udp_out.c - the udp out node (Node-RED 32-udp.js "udp out"): sends
 * msg.payload as one UDP datagram to `addr`:`port` (or msg.ip / msg.port
 * when those are empty). Buffers go as they are, base64 text is decoded
 * when `base64` is set, anything else as String(payload). The socket is
 * bound to `outport` when given; multicast "broad" enables broadcast and
 * "multi" joins `addr` as a group. As in Node-RED the node starts taking
 * messages 75 ms after it starts (earlier ones are dropped).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "engine.h"
#include "js.h"
#include "base64.h"

/* Bytes of datagrams the kernel has not taken yet before sends are refused. */
#define UDP_SEND_QUEUE_MAX (16u << 20)

struct udp_out {
    struct ef_node *n;
    const char *addr, *multicast, *iface, *ipv;
    const struct ef_val *port, *outport;
    bool base64, ready;
    uv_udp_t *sock; /* freed in its close callback */
    struct ef_timer *tout;
    struct usend *sends; /* in progress */
};

/* One datagram being sent. */
struct usend {
    uv_udp_send_t req;
    struct ef_node *n; /* NULL once the node has closed */
    struct ef_msg *msg;
    char *data;
    struct usend *next, *prev;
};

static const struct ef_prop udp_out_props[] = {
    {EF_PROP_STR, "addr", "\"\"", false, "destination address (else msg.ip)",
     offsetof(struct udp_out, addr)},
    {EF_PROP_ANY, "port", "\"\"", false, "destination port (else msg.port)",
     offsetof(struct udp_out, port)},
    {EF_PROP_ANY, "outport", "\"\"", false, "local port to send from",
     offsetof(struct udp_out, outport)},
    {EF_PROP_BOOL, "base64", "false", false, "decode a base64 payload first",
     offsetof(struct udp_out, base64)},
    {EF_PROP_STR, "multicast", "\"false\"", false, "false, broad or multi",
     offsetof(struct udp_out, multicast)},
    {EF_PROP_STR, "iface", "\"\"", false, "interface address for multicast",
     offsetof(struct udp_out, iface)},
    {EF_PROP_STR, "ipv", "\"udp4\"", false, "udp4 or udp6", offsetof(struct udp_out, ipv)},
    {EF_PROP_END},
};

static void on_sent(uv_udp_send_t *req, int status)
{
    struct usend *s = req->data;
    if (s->n) {
        struct udp_out *u = ef_node_priv(s->n);
        if (s->prev) {
            s->prev->next = s->next;
        } else {
            u->sends = s->next;
        }
        if (s->next) {
            s->next->prev = s->prev;
        }
        if (status < 0) {
            ef_node_error(s->n, s->msg, "udp : Error: send %s", uv_err_name(status));
        }
        ef_node_done(s->n, s->msg);
    }
    ef_msg_free(s->msg);
    free(s->data);
    free(s);
}

/* Number(v) of a port value; "" and absent are 0. */
static double port_of(const struct ef_val *v)
{
    if (!v || (ef_val_type(v) == EF_STR && ef_val_str_len(v) == 0)) {
        return 0;
    }
    return js__to_number(v);
}

static int cb_input(struct ef_node *n, struct ef_msg *msg)
{
    struct udp_out *u = ef_node_priv(n);
    const struct ef_val *payload = ef_msg_get(msg, "payload");
    if (!u->ready || !u->sock || !payload) {
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    char *addr = u->addr[0] ? strdup(u->addr) : js__to_string(ef_msg_get(msg, "ip"), NULL);
    if (!u->addr[0] && !ef_msg_get(msg, "ip")) {
        free(addr);
        addr = strdup("");
    }
    double por = port_of(u->port);
    if (por == 0 || isnan(por)) {
        double mp = port_of(ef_msg_get(msg, "port"));
        por = por == 0 ? mp : por;
    }
    if (!addr || !addr[0]) {
        free(addr);
        ef_node_warn(n, "udp: ip address not set");
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    if (por == 0) {
        free(addr);
        ef_node_warn(n, "udp: port not set");
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    if (isnan(por) || por < 1 || por > 65535) {
        free(addr);
        ef_node_warn(n, "udp: port number not valid");
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    struct sockaddr_storage ss;
    bool v6 = !strcmp(u->ipv, "udp6");
    int rc = v6 ? uv_ip6_addr(addr, (int)por, (struct sockaddr_in6 *)&ss)
                : uv_ip4_addr(!strcmp(addr, "localhost") ? "127.0.0.1" : addr, (int)por,
                              (struct sockaddr_in *)&ss);
    if (rc != 0) {
        ef_node_error(n, msg, "udp : Error: getaddrinfo ENOTFOUND %s", addr);
        free(addr);
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    free(addr);
    struct usend *s = calloc(1, sizeof(*s));
    size_t len = 0;
    if (s) {
        if (u->base64) {
            char *t = js__to_string(payload, &len);
            s->data = t ? malloc(len + 1) : NULL;
            if (s->data) {
                len = base64__decode(t, len, (uint8_t *)s->data);
            }
            free(t);
        } else if (ef_val_type(payload) == EF_BUF) {
            len = ef_val_buf_len(payload);
            s->data = malloc(len ? len : 1);
            if (s->data) {
                memcpy(s->data, ef_val_buf_data(payload), len);
            }
        } else {
            s->data = js__to_string(payload, &len);
        }
    }
    if (!s || !s->data) {
        free(s);
        ef_node_error(n, msg, "udp : Error: out of memory");
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    if (uv_udp_get_send_queue_size(u->sock) + len > UDP_SEND_QUEUE_MAX) {
        /* edgeflow's bound (Node.js queues every datagram): the newest is refused */
        ef_node_error(n, msg, "udp : Error: send queue full (%u bytes waiting): message dropped",
                      UDP_SEND_QUEUE_MAX);
        free(s->data);
        free(s);
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    s->n = n;
    s->msg = msg;
    s->req.data = s;
    uv_buf_t b = uv_buf_init(s->data, (unsigned)len);
    rc = uv_udp_send(&s->req, u->sock, &b, 1, (const struct sockaddr *)&ss, on_sent);
    if (rc != 0) {
        ef_node_error(n, msg, "udp : Error: send %s", uv_err_name(rc));
        free(s->data);
        free(s);
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    s->next = u->sends;
    if (u->sends) {
        u->sends->prev = s;
    }
    u->sends = s;
    return EF_INPUT_ASYNC;
}

static void on_closed(uv_handle_t *h)
{
    free(h);
}

static void become_ready(struct ef_node *n, void *arg)
{
    (void)arg;
    struct udp_out *u = ef_node_priv(n);
    u->ready = true;
    u->sock = calloc(1, sizeof(*u->sock));
    if (!u->sock) {
        return;
    }
    uv_udp_init(ef_loop_uv(ef_node_loop(n)), u->sock);
    bool v6 = !strcmp(u->ipv, "udp6");
    char *ops = js__to_string(u->outport, NULL);
    int outport = ops ? atoi(ops) : 0;
    free(ops);
    if (outport > 0 || strcmp(u->multicast, "false")) {
        struct sockaddr_storage ss;
        if (v6) {
            uv_ip6_addr("::", outport, (struct sockaddr_in6 *)&ss);
        } else {
            uv_ip4_addr("0.0.0.0", outport, (struct sockaddr_in *)&ss);
        }
        int rc = uv_udp_bind(u->sock, (const struct sockaddr *)&ss, UV_UDP_REUSEADDR);
        if (rc == 0 && strcmp(u->multicast, "false")) {
            uv_udp_set_broadcast(u->sock, 1);
            uv_udp_set_multicast_loop(u->sock, 0);
            if (!strcmp(u->multicast, "multi")) {
                uv_udp_set_multicast_ttl(u->sock, 128);
                int mrc = uv_udp_set_membership(u->sock, u->addr, u->iface[0] ? u->iface : NULL,
                                                UV_JOIN_GROUP);
                if (mrc == UV_EINVAL) {
                    ef_node_error(n, NULL, "Bad Multicast Address");
                } else if (mrc == UV_ENODEV) {
                    ef_node_error(n, NULL, "Must be ip address of the required interface");
                } else if (mrc != 0) {
                    ef_node_error(n, NULL, "error: %s", uv_err_name(mrc));
                }
            }
        }
    }
}

static void cb_start(struct ef_node *n)
{
    struct udp_out *u = ef_node_priv(n);
    u->tout = ef_timer_new(n, become_ready, NULL);
    if (u->tout) {
        ef_timer_start(u->tout, 75, 0);
    }
}

static int cb_init(struct ef_node *n, const struct ef_val *config)
{
    (void)config;
    struct udp_out *u = ef_node_priv(n);
    u->n = n;
    return 0;
}

static void cb_close(struct ef_node *n)
{
    struct udp_out *u = ef_node_priv(n);
    for (struct usend *s = u->sends; s; s = s->next) {
        s->n = NULL; /* their callbacks only free them now */
    }
    u->sends = NULL;
    if (u->sock) {
        /* pending sends complete with UV_ECANCELED before the close callback */
        uv_close((uv_handle_t *)u->sock, on_closed);
        u->sock = NULL;
        ef_node_log(n, "udp output stopped");
    }
    ef_node_status(n, NULL, NULL, NULL);
}

/* The udp out node type. */
const struct ef_node_type ef_type_udp_out = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "udp out",
    .description = "Sends msg.payload as a UDP datagram",
    .category = "network",
    .inputs = 1,
    .outputs = 0,
    .props = udp_out_props,
    .priv_size = sizeof(struct udp_out),
    .cb_init = cb_init,
    .cb_start = cb_start,
    .cb_input = cb_input,
    .cb_close = cb_close,
};
