/*
 * test_http_client.c - the SDK's HTTP client (edgeflow/http.h) against a
 * real HTTP server on a loopback port (a thread of this test): GET with
 * headers, POST bodies, statuses, response headers, the response size cap,
 * timeouts, refused connections, invalid requests, and calls of a closed
 * node cancelled without a report.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <edgeflow/http.h>

#include "runtime.h"

/* ---- The server: one connection at a time, answers by path ---- */

static int srv_fd = -1;
static int srv_port;
static pthread_t srv_thread;

static void answer(int c, const char *req, size_t reqlen)
{
    char path[128] = "", method[16] = "";
    sscanf(req, "%15s %127s", method, path);
    const char *hdr_end = strstr(req, "\r\n\r\n");
    const char *body = hdr_end ? hdr_end + 4 : "";
    size_t blen = hdr_end ? reqlen - (size_t)(body - req) : 0;
    char out[4096];
    int n;
    if (strcmp(path, "/echo") == 0) {
        const char *xt = strstr(req, "X-Test: ");
        char xv[64] = "";
        if (xt) {
            sscanf(xt + 8, "%63[^\r]", xv);
        }
        n = snprintf(out, sizeof(out),
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Reply: Yes\r\n"
                     "Connection: close\r\nContent-Length: %zu\r\n\r\n%s %s %.*s",
                     strlen(method) + 2 + strlen(xv) + blen, method, xv, (int)blen, body);
        send(c, out, (size_t)n, MSG_NOSIGNAL);
    } else if (strcmp(path, "/fail") == 0) {
        n = snprintf(out, sizeof(out),
                     "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n"
                     "Content-Length: 4\r\n\r\noops");
        send(c, out, (size_t)n, MSG_NOSIGNAL);
    } else if (strcmp(path, "/big") == 0) {
        size_t len = 200000;
        char *big = malloc(len);
        memset(big, 'x', len);
        n = snprintf(out, sizeof(out),
                     "HTTP/1.1 200 OK\r\nConnection: close\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     len);
        send(c, out, (size_t)n, MSG_NOSIGNAL);
        send(c, big, len, MSG_NOSIGNAL);
        free(big);
    } else if (strcmp(path, "/slow") == 0) {
        usleep(1500 * 1000);
        n = snprintf(out, sizeof(out),
                     "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
        send(c, out, (size_t)n, MSG_NOSIGNAL);
    }
}

/* Reads one request: headers, then Content-Length bytes of body. */
static size_t read_request(int c, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        ssize_t r = recv(c, buf + len, cap - 1 - len, 0);
        if (r <= 0) {
            break;
        }
        len += (size_t)r;
        buf[len] = 0;
        const char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            const char *cl = strstr(buf, "Content-Length: ");
            size_t want = cl ? (size_t)atol(cl + 16) : 0;
            if (len >= (size_t)(end + 4 - buf) + want) {
                break;
            }
        }
        if (len == cap - 1) {
            break;
        }
    }
    buf[len] = 0;
    return len;
}

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept(srv_fd, NULL, NULL);
        if (c < 0) {
            return NULL; /* the listening socket was shut down */
        }
        char req[8192];
        size_t len = read_request(c, req, sizeof(req));
        if (len) {
            answer(c, req, len);
        }
        close(c);
    }
}

static int suite_init(void)
{
    srv_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    if (srv_fd < 0 || bind(srv_fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(srv_fd, 16) != 0 || getsockname(srv_fd, (struct sockaddr *)&a, &alen) != 0) {
        return -1;
    }
    srv_port = ntohs(a.sin_port);
    return pthread_create(&srv_thread, NULL, serve, NULL);
}

static int suite_clean(void)
{
    shutdown(srv_fd, SHUT_RDWR);
    pthread_join(srv_thread, NULL);
    close(srv_fd);
    return 0;
}

/* ---- A node type that makes the request its config describes ---- */

struct result {
    int calls, status;
    char error[256], body[256], reply_hdr[32];
    size_t body_len;
};
static struct result res;
static struct ef_http_call *pending;

static void on_done(struct ef_node *n, const struct ef_http_res *r, void *arg)
{
    (void)n;
    CU_ASSERT_PTR_EQUAL(arg, &res);
    res.calls++;
    res.status = r->status;
    snprintf(res.error, sizeof(res.error), "%s", r->error ? r->error : "");
    snprintf(res.body, sizeof(res.body), "%.*s", (int)(r->body_len < 255 ? r->body_len : 255),
             r->body);
    res.body_len = r->body_len;
    const char *h = ef_val_str_get(ef_val_obj_get(r->headers, "x-reply"));
    snprintf(res.reply_hdr, sizeof(res.reply_hdr), "%s", h ? h : "");
    pending = NULL;
}

/* A string property of the node's config, NULL when absent or empty. */
static const char *prop(struct ef_node *n, const char *name)
{
    const char *s = ef_val_str_get(ef_val_obj_get(ef_node_config(n), name));
    return s && s[0] ? s : NULL;
}

static void cb_start(struct ef_node *n)
{
    const struct ef_val *cfg = ef_node_config(n);
    char url[256];
    snprintf(url, sizeof(url), "%s", prop(n, "url"));
    char *port = strstr(url, "PORT");
    if (port) {
        char rest[200];
        snprintf(rest, sizeof(rest), "%s", port + 4);
        snprintf(port, sizeof(url) - (size_t)(port - url), "%d%s", srv_port, rest);
    }
    const char *body = prop(n, "body");
    const char *hname = prop(n, "hname");
    struct ef_http_header h = {hname ? hname : "X-Test", "hello"};
    struct ef_http_req req = {
        .method = prop(n, "method"),
        .url = url,
        .headers = &h,
        .nheaders = 1,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .timeout_ms = (uint32_t)ef_val_num_get(ef_val_obj_get(cfg, "timeout")),
        .max_response = (size_t)ef_val_num_get(ef_val_obj_get(cfg, "max")),
    };
    pending = ef_http_request(n, &req, on_done, &res);
    if (!pending) {
        snprintf(res.error, sizeof(res.error), "refused");
    }
}

static const struct ef_node_type t_http = {.abi_version = EF_ABI_VERSION,
                                           .size = sizeof(struct ef_node_type),
                                           .name = "t-http",
                                           .flags = EF_TYPE_OPEN_PROPS,
                                           .cb_start = cb_start};

/* Deploys one t-http node with the given properties and runs until idle
 * (or, with close_early, stops the runtime before any loop iteration). */
static void run(const char *props, bool close_early)
{
    memset(&res, 0, sizeof(res));
    char err[256], flow[1024];
    struct ef_settings *s = settings__load(NULL, err, sizeof(err));
    struct ef_runtime *rt = calloc(1, sizeof(*rt));
    CU_ASSERT_FATAL(runtime__init(rt, s, err, sizeof(err)) == 0);
    if (!registry__find("t-http")) {
        ef_register_type(registry__builtin(), &t_http);
    }
    snprintf(flow, sizeof(flow),
             "[{\"id\":\"t\",\"type\":\"tab\"},{\"id\":\"h\",\"type\":\"t-http\",\"z\":\"t\",%s}]",
             props);
    struct ef_val *cfg = ef_json_parse(flow, strlen(flow), err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    struct ef_problems probs = {0};
    CU_ASSERT_EQUAL(runtime__deploy(rt, cfg, &probs), 0);
    problems__free(&probs);
    ef_val_unref(cfg);
    if (!close_early) {
        uv_run(&rt->loop.uv, UV_RUN_DEFAULT);
    }
    runtime__stop(rt);
    runtime__destroy(rt);
    free(rt);
}

/* ---- Tests ---- */

static void test_get_with_header(void)
{
    run("\"url\":\"http://127.0.0.1:PORT/echo\"", false);
    CU_ASSERT_EQUAL(res.calls, 1);
    CU_ASSERT_EQUAL(res.status, 200);
    CU_ASSERT_STRING_EQUAL(res.error, "");
    CU_ASSERT_STRING_EQUAL(res.body, "GET hello ");
    CU_ASSERT_STRING_EQUAL(res.reply_hdr, "Yes");
}

static void test_post_and_put_bodies(void)
{
    run("\"url\":\"http://127.0.0.1:PORT/echo\",\"body\":\"{\\\"a\\\":1}\"", false);
    CU_ASSERT_EQUAL(res.status, 200);
    CU_ASSERT_STRING_EQUAL(res.body, "POST hello {\"a\":1}");
    run("\"url\":\"http://127.0.0.1:PORT/echo\",\"method\":\"PUT\",\"body\":\"x=1\"", false);
    CU_ASSERT_STRING_EQUAL(res.body, "PUT hello x=1");
}

static void test_error_status_is_a_response(void)
{
    run("\"url\":\"http://127.0.0.1:PORT/fail\"", false);
    CU_ASSERT_EQUAL(res.calls, 1);
    CU_ASSERT_EQUAL(res.status, 500);
    CU_ASSERT_STRING_EQUAL(res.error, "");
    CU_ASSERT_STRING_EQUAL(res.body, "oops");
}

static void test_response_cap(void)
{
    run("\"url\":\"http://127.0.0.1:PORT/big\",\"max\":1000", false);
    CU_ASSERT_EQUAL(res.calls, 1);
    CU_ASSERT_EQUAL(res.status, 0);
    CU_ASSERT_STRING_EQUAL(res.error, "response larger than 1000 bytes");
    run("\"url\":\"http://127.0.0.1:PORT/big\"", false);
    CU_ASSERT_EQUAL(res.status, 200);
    CU_ASSERT_EQUAL(res.body_len, 200000);
}

static void test_timeout(void)
{
    run("\"url\":\"http://127.0.0.1:PORT/slow\",\"timeout\":200", false);
    CU_ASSERT_EQUAL(res.calls, 1);
    CU_ASSERT_EQUAL(res.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.error, "timed out")); /* curl: "Operation timed out ..." */
}

static void test_refused_connection(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0); /* a port nobody listens on */
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    getsockname(fd, (struct sockaddr *)&a, &alen);
    char props[128];
    snprintf(props, sizeof(props), "\"url\":\"http://127.0.0.1:%d/\"", ntohs(a.sin_port));
    run(props, false);
    close(fd);
    CU_ASSERT_EQUAL(res.calls, 1);
    CU_ASSERT_EQUAL(res.status, 0);
    CU_ASSERT_STRING_NOT_EQUAL(res.error, "");
}

static void test_invalid_requests_refused(void)
{
    run("\"url\":\"file:///etc/passwd\"", false);
    CU_ASSERT_EQUAL(res.calls, 0);
    CU_ASSERT_STRING_EQUAL(res.error, "refused");
    run("\"url\":\"http://127.0.0.1:PORT/echo\",\"hname\":\"X-A\\r\\nX-B\"", false);
    CU_ASSERT_EQUAL(res.calls, 0);
    CU_ASSERT_STRING_EQUAL(res.error, "refused");
    run("\"url\":\"http://127.0.0.1:PORT/echo\",\"method\":\"get x\"", false);
    CU_ASSERT_EQUAL(res.calls, 0);
}

static void test_closed_node_is_not_called(void)
{
    run("\"url\":\"http://127.0.0.1:PORT/slow\"", true);
    CU_ASSERT_EQUAL(res.calls, 0); /* cancelled when the node closed; no use after free */
    CU_ASSERT_STRING_EQUAL(res.error, "");
    usleep(1600 * 1000); /* let the server finish the abandoned request */
}

/* Registers the http_client suite. */
int init_http_client_tests(void)
{
    CU_pSuite s = CU_add_suite("http_client", suite_init, suite_clean);
    if (!s || !CU_add_test(s, "GET with a header, response headers", test_get_with_header) ||
        !CU_add_test(s, "POST and PUT bodies", test_post_and_put_bodies) ||
        !CU_add_test(s, "an error status is a response", test_error_status_is_a_response) ||
        !CU_add_test(s, "the response size cap", test_response_cap) ||
        !CU_add_test(s, "timeout", test_timeout) ||
        !CU_add_test(s, "refused connection", test_refused_connection) ||
        !CU_add_test(s, "invalid requests are refused", test_invalid_requests_refused) ||
        !CU_add_test(s, "a closed node's calls are cancelled", test_closed_node_is_not_called)) {
        return -1;
    }
    return 0;
}
