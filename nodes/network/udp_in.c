/*
 * udp_in.c - the udp in node (Node-RED 32-udp.js "udp in"): listens on a
 * UDP port (libuv uv_udp, address reuse on) and sends a message per
 * datagram: {payload, fromip: "addr:port", ip, port}, the payload as a
 * Buffer, a UTF-8 string or base64 text (datatype). multicast "true" joins
 * `group` (on the interface address `iface`). IPv4 (udp4) or IPv6 (udp6).
 * A port outside settings.listenAllowedPorts is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "engine.h"
#include "js.h"
#include "base64.h"
#include "lib/listen_access.h"

struct udp_in {
    struct ef_node *n;
    const struct ef_val *port;
    const char *datatype, *multicast, *group, *iface, *ipv;
    uv_udp_t *sock; /* freed in its close callback */
};

static const struct ef_prop udp_in_props[] = {
    {EF_PROP_ANY, "port", NULL, true, "UDP port to listen on", offsetof(struct udp_in, port)},
    {EF_PROP_STR, "datatype", "\"buffer\"", false, "buffer, utf8 or base64",
     offsetof(struct udp_in, datatype)},
    {EF_PROP_STR, "multicast", "\"false\"", false, "\"true\" to join a multicast group",
     offsetof(struct udp_in, multicast)},
    {EF_PROP_STR, "group", "\"\"", false, "multicast group address",
     offsetof(struct udp_in, group)},
    {EF_PROP_STR, "iface", "\"\"", false, "interface address for multicast",
     offsetof(struct udp_in, iface)},
    {EF_PROP_STR, "ipv", "\"udp4\"", false, "udp4 or udp6", offsetof(struct udp_in, ipv)},
    {EF_PROP_END},
};

/* The payload as a Base64 string (datatype "base64"). */
static struct ef_val *base64_val(const unsigned char *u, size_t len)
{
    struct strbuf b = {0};
    base64__encode(&b, u, len);
    size_t n;
    char *text = strbuf__take(&b, &n);
    return text ? ef_val_str_take(text, n) : NULL;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = malloc(65536);
    buf->len = buf->base ? 65536 : 0;
}

static void on_recv(uv_udp_t *s, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags)
{
    (void)flags;
    struct udp_in *u = s->data;
    if (nread < 0) {
        ef_node_error(u->n, NULL, "error: %s", uv_err_name((int)nread));
    }
    if (nread < 0 || !addr) {
        free(buf->base);
        return;
    }
    char ip[INET6_ADDRSTRLEN] = "";
    int port = 0;
    if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)addr;
        uv_ip6_name(a6, ip, sizeof(ip));
        port = ntohs(a6->sin6_port);
    } else {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)addr;
        uv_ip4_name(a4, ip, sizeof(ip));
        port = ntohs(a4->sin_port);
    }
    struct ef_val *payload;
    if (!strcmp(u->datatype, "base64")) {
        payload = base64_val((const unsigned char *)buf->base, (size_t)nread);
        free(buf->base);
    } else if (!strcmp(u->datatype, "utf8")) {
        payload = ef_val_strn(buf->base, (size_t)nread);
        free(buf->base);
    } else {
        payload = ef_val_buf_take(buf->base, (size_t)nread);
    }
    struct ef_val *o = ef_val_obj();
    if (!o) {
        ef_val_unref(payload);
        return;
    }
    ef_val_obj_set_take(o, "payload", payload);
    ef_val_obj_set_take(o, "fromip", ef_val_strf("%s:%d", ip, port));
    ef_val_obj_set_take(o, "ip", ef_val_str(ip));
    ef_val_obj_set_take(o, "port", ef_val_num(port));
    struct ef_msg *m = ef_msg_new_take(o);
    if (!m) {
        ef_val_unref(o);
        return;
    }
    if (ef_node_send(u->n, 0, m) != 0) {
        ef_msg_free(m);
    }
}

static void on_closed(uv_handle_t *h)
{
    free(h);
}

static void cb_start(struct ef_node *n)
{
    struct udp_in *u = ef_node_priv(n);
    bool v6 = !strcmp(u->ipv, "udp6");
    char *ps = js__to_string(u->port, NULL);
    int port = ps ? atoi(ps) : 0;
    free(ps);
    char err[256];
    if (!listen__port_allowed(n, port, err, sizeof(err))) {
        ef_node_error(n, NULL, "error: %s", err);
        return;
    }
    struct sockaddr_storage ss;
    if (v6) {
        uv_ip6_addr("::", port, (struct sockaddr_in6 *)&ss);
    } else {
        uv_ip4_addr("0.0.0.0", port, (struct sockaddr_in *)&ss);
    }
    u->sock = calloc(1, sizeof(*u->sock));
    if (!u->sock) {
        ef_node_error(n, NULL, "error: ENOMEM");
        return;
    }
    uv_udp_init(ef_loop_uv(ef_node_loop(n)), u->sock);
    u->sock->data = u;
    int rc = uv_udp_bind(u->sock, (const struct sockaddr *)&ss, UV_UDP_REUSEADDR);
    if (rc == 0 && !strcmp(u->multicast, "true")) {
        uv_udp_set_broadcast(u->sock, 1);
        uv_udp_set_multicast_loop(u->sock, 0);
        uv_udp_set_multicast_ttl(u->sock, 128);
        int mrc =
            uv_udp_set_membership(u->sock, u->group, u->iface[0] ? u->iface : NULL, UV_JOIN_GROUP);
        if (mrc == UV_EINVAL) {
            ef_node_error(n, NULL, "Bad Multicast Address");
        } else if (mrc == UV_ENODEV) {
            ef_node_error(n, NULL, "Must be ip address of the required interface");
        } else if (mrc != 0) {
            ef_node_error(n, NULL, "error: %s", uv_err_name(mrc));
        } else {
            ef_node_log(n, "udp multicast group %s", u->group);
        }
    }
    if (rc == 0) {
        rc = uv_udp_recv_start(u->sock, on_alloc, on_recv);
    }
    if (rc != 0) {
        if (rc == UV_EACCES && port < 1024) {
            ef_node_error(n, NULL,
                          "UDP access error, you may need root access for ports below 1024");
        } else {
            ef_node_error(n, NULL, "error: %s", uv_err_name(rc));
        }
        uv_close((uv_handle_t *)u->sock, on_closed);
        u->sock = NULL;
        return;
    }
    ef_node_log(n, "udp listener at %s:%d", v6 ? "::" : "0.0.0.0", port);
}

static void cb_close(struct ef_node *n)
{
    struct udp_in *u = ef_node_priv(n);
    if (u->sock) {
        uv_udp_recv_stop(u->sock);
        if (!strcmp(u->multicast, "true")) {
            uv_udp_set_membership(u->sock, u->group, u->iface[0] ? u->iface : NULL, UV_LEAVE_GROUP);
        }
        uv_close((uv_handle_t *)u->sock, on_closed);
        u->sock = NULL;
        ef_node_log(n, "udp listener stopped");
    }
    ef_node_status(n, NULL, NULL, NULL);
}

static int cb_init(struct ef_node *n, const struct ef_val *config)
{
    (void)config;
    struct udp_in *u = ef_node_priv(n);
    u->n = n;
    return 0;
}

/* The udp in node type. */
const struct ef_node_type ef_type_udp_in = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "udp in",
    .description = "Receives UDP datagrams",
    .category = "network",
    .inputs = 0,
    .outputs = 1,
    .props = udp_in_props,
    .priv_size = sizeof(struct udp_in),
    .cb_init = cb_init,
    .cb_start = cb_start,
    .cb_close = cb_close,
};
