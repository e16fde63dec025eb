/*
 * fuzz_admin.c - the admin API's request handling (admin.c, auth.c) without
 * a network: each input is one HTTP request handed to
 * server__handle_request(), the code server.c's lws callbacks feed, and the
 * reply is captured instead of written to a socket.
 *
 * Two editor servers are set up once, each on its own runtime with a
 * temporary userDir, credentialSecret set and a small flow deployed
 * (through POST /flows, as every later deploy): "open" without adminAuth,
 * and "auth" with adminAuth (users admin "*" and reader "read", password
 * "secret"). Deploys from the inputs save their files in the userDir.
 * An input that is not a GET or HEAD is followed by a deploy of the base
 * flow again, so each input meets the same flows. The loop runs only after
 * that deploy, so the nodes of a posted flow never receive a message;
 * listening is limited to port 1 and files to the userDir.
 *
 * Input:
 *   METHOD /path?query [AUTH]     AUTH sends it to the adminAuth server
 *   Header: value                 any number of lines; @TOKEN@ and
 *   ...                           @READTOKEN@ in them are replaced by the
 *                                 access tokens of admin and reader
 *   (blank line)
 *   body
 * Checked: every request gets one reply with an HTTP status, and a JSON
 * reply is valid JSON. FUZZ_ADMIN_VERBOSE=1 prints each request's status.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_tmpdir.h"
#include "runtime.h"
#include "server.h"

#define HASH "$2b$08$/4W38Iu4Yur/gHvOzaKUlOabpI3JRNqf7.3EloZpYpasW4udW3Jc2" /* "secret" */

static const char flows[] =
    "[{\"id\":\"t1\",\"type\":\"tab\",\"label\":\"Flow 1\"},"
    "{\"id\":\"i1\",\"type\":\"inject\",\"z\":\"t1\",\"props\":[{\"p\":\"payload\"}],"
    "\"repeat\":\"\",\"once\":false,\"payload\":\"\",\"payloadType\":\"date\",\"wires\":[[\"c1\"]]}"
    ","
    "{\"id\":\"c1\",\"type\":\"change\",\"z\":\"t1\",\"rules\":[{\"t\":\"set\",\"p\":\"topic\","
    "\"pt\":\"msg\",\"to\":\"x\",\"tot\":\"str\"}],\"wires\":[[\"d1\"]]},"
    "{\"id\":\"d1\",\"type\":\"debug\",\"z\":\"t1\",\"active\":true,\"complete\":\"false\","
    "\"wires\":[]},"
    "{\"id\":\"h1\",\"type\":\"http request\",\"z\":\"t1\",\"method\":\"GET\",\"url\":\"\","
    "\"credentials\":{\"user\":\"u\",\"password\":\"p\"},\"wires\":[[]]}]";

struct fuzz_server {
    struct ef_runtime rt;
    struct ef_server *srv;
    char token[256], read_token[256];
    bool dirty; /* the last request may have changed the flows */
};

static struct fuzz_server open_srv, auth_srv;
static char dir[64];

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_admin: %s\n", what);
    abort();
}

/* One request; the reply stays in c (resp for the caller to free). */
static void request(struct srv_conn *c, struct ef_server *s, enum srv_method m, const char *path,
                    const char *query, const char *headers, const char *body, size_t body_len)
{
    static struct srv_req req;
    req = (struct srv_req){.query = query, .headers = headers, .peer = "127.0.0.1"};
    memset(c, 0, sizeof(*c));
    c->srv = s;
    c->method = m;
    c->req = &req;
    snprintf(c->path, sizeof(c->path), "%s", path);
    if (body_len) {
        c->body = malloc(body_len + 1);
        memcpy(c->body, body, body_len);
        c->body[body_len] = '\0';
        c->body_len = body_len;
        c->body_cap = body_len + 1;
    }
    server__handle_request(c);
}

static void done(struct srv_conn *c)
{
    free(c->resp);
    free(c->body);
    c->resp = c->body = NULL;
}

/* Logs in as user; the access token into tok. */
static void login(struct fuzz_server *f, const char *user, char *tok, size_t len)
{
    struct srv_conn c;
    char body[256];
    int n = snprintf(body, sizeof(body),
                     "client_id=node-red-editor&grant_type=password&scope=*&username=%s"
                     "&password=secret",
                     user);
    request(&c, f->srv, SRV_POST, "/auth/token", NULL,
            "Content-Type: application/x-www-form-urlencoded\n", body, (size_t)n);
    struct ef_val *v = c.status == 200 ? ef_json_parse(c.resp, c.resp_len, NULL, 0) : NULL;
    const char *t = ef_val_str_get(ef_val_obj_get(v, "access_token"));
    if (!t) {
        fail("cannot log in to the adminAuth server");
    }
    snprintf(tok, len, "%s", t);
    ef_val_unref(v);
    done(&c);
}

/* Deploys the base flow (every input starts from it when the last one may have changed it). */
static void deploy_base(struct fuzz_server *f)
{
    char hdr[400];
    snprintf(hdr, sizeof(hdr),
             "Content-Type: application/json\nNode-RED-Deployment-Type: full\n"
             "Authorization: Bearer %s\n",
             f->token);
    struct srv_conn c;
    request(&c, f->srv, SRV_POST, "/flows", NULL, hdr, flows, strlen(flows));
    if (c.status != 200 && c.status != 204) {
        fprintf(stderr, "%d %.*s\n", c.status, (int)c.resp_len, c.resp ? c.resp : "");
        fail("the deploy of the base flow failed");
    }
    done(&c);
    f->dirty = false;
    /* let the replaced nodes finish closing (only the base flow runs now: an inject without
     * "once", change, debug and an unwired http request) */
    for (int i = 0; i < 8; i++) {
        uv_run(ef_loop_uv(&f->rt.loop), UV_RUN_NOWAIT);
    }
}

static void setup_one(struct fuzz_server *f, const char *name, const char *auth)
{
    char path[256], flows_path[256], err[512] = "";
    snprintf(path, sizeof(path), "%s/settings-%s.json", dir, name);
    FILE *fp = fopen(path, "w");
    if (!fp) {
        fail("cannot write the settings");
    }
    fprintf(fp,
            "{\"userDir\":\"%s\",\"credentialSecret\":\"fuzz secret\","
            "\"fileAllowedDirectories\":[\"%s\"],\"listenAllowedPorts\":[1]%s%s}",
            dir, dir, auth ? ",\"adminAuth\":" : "", auth ? auth : "");
    fclose(fp);
    struct ef_settings *s = settings__load(path, err, sizeof(err));
    if (!s || runtime__init(&f->rt, s, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        fail("cannot set up the runtime");
    }
    snprintf(flows_path, sizeof(flows_path), "%s/flows-%s.json", dir, name);
    struct ef_server_opts o = {.port = CONTEXT_PORT_NO_LISTEN_SERVER, .flows_path = flows_path};
    f->srv = server__start(&f->rt, &o, err, sizeof(err));
    if (!f->srv) {
        fprintf(stderr, "%s\n", err);
        fail("cannot start the editor server");
    }
    if (auth) {
        login(f, "admin", f->token, sizeof(f->token));
        login(f, "reader", f->read_token, sizeof(f->read_token));
    }
    deploy_base(f);
}

static void setup(void)
{
    const char *d = fuzz_tmpdir("ef-fuzz-admin");
    if (!d) {
        fail("cannot create a temporary directory");
    }
    snprintf(dir, sizeof(dir), "%s", d);
    ef_log_set_level(EF_LOG_FATAL); /* refused requests are expected; keep the output readable */
    setup_one(&open_srv, "open", NULL);
    setup_one(&auth_srv, "auth",
              "{\"type\":\"credentials\",\"users\":[{\"username\":\"admin\",\"password\":\"" HASH
              "\",\"permissions\":\"*\"},{\"username\":\"reader\",\"password\":\"" HASH
              "\",\"permissions\":\"read\"}]}");
}

static enum srv_method method_of(const char *m)
{
    static const struct {
        const char *name;
        enum srv_method m;
    } map[] = {{"GET", SRV_GET},        {"POST", SRV_POST},   {"PUT", SRV_PUT},
               {"DELETE", SRV_DELETE},  {"PATCH", SRV_PATCH}, {"HEAD", SRV_HEAD},
               {"OPTIONS", SRV_OPTIONS}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (!strcmp(m, map[i].name)) {
            return map[i].m;
        }
    }
    return SRV_OTHER;
}

/* Appends s[0..n) to the malloc'ed string *out with the tokens substituted. */
static void add_headers(char **out, size_t *len, const char *s, size_t n)
{
    char *o = malloc(n * 2 + 1024), *w = o;
    size_t k = 0;
    while (k < n) {
        const char *sub = NULL;
        size_t skip = 0;
        if (n - k >= 7 && !memcmp(s + k, "@TOKEN@", 7)) {
            sub = auth_srv.token, skip = 7;
        } else if (n - k >= 11 && !memcmp(s + k, "@READTOKEN@", 11)) {
            sub = auth_srv.read_token, skip = 11;
        }
        if (sub && (size_t)(w - o) + strlen(sub) + (n - k) * 2 < n * 2 + 1024) {
            w += sprintf(w, "%s", sub);
            k += skip;
        } else {
            *w++ = s[k] ? s[k] : ' ';
            k++;
        }
    }
    *w = '\0';
    *out = o;
    *len = (size_t)(w - o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        setup();
    }
    const char *in = (const char *)data;
    /* the head ends at the first blank line */
    size_t head_len = size, body_off = size;
    for (size_t i = 0; i < size; i++) {
        if (in[i] == '\n' && i + 1 < size && in[i + 1] == '\n') {
            head_len = i + 1, body_off = i + 2;
            break;
        }
        if (in[i] == '\n' && i + 2 < size && in[i + 1] == '\r' && in[i + 2] == '\n') {
            head_len = i + 1, body_off = i + 3;
            break;
        }
    }
    const char *nl = memchr(in, '\n', head_len);
    size_t line_len = nl ? (size_t)(nl - in) : head_len;
    char line[1200];
    if (line_len >= sizeof(line) || memchr(in, '\0', line_len)) {
        return 0;
    }
    memcpy(line, in, line_len);
    line[line_len] = '\0';
    if (line_len && line[line_len - 1] == '\r') {
        line[--line_len] = '\0';
    }
    char *sp1 = strchr(line, ' ');
    if (!sp1) {
        return 0;
    }
    *sp1 = '\0';
    char *target = sp1 + 1, *flag = strchr(target, ' ');
    bool auth = false;
    if (flag) {
        *flag++ = '\0';
        auth = !strcmp(flag, "AUTH");
    }
    char *query = strchr(target, '?');
    if (query) {
        *query++ = '\0';
    }
    struct srv_conn probe;
    if (strlen(target) >= sizeof(probe.path)) {
        return 0; /* server.c answers 414 before admin.c sees it */
    }
    char *headers;
    size_t hlen;
    const char *hstart = nl ? nl + 1 : in + head_len;
    add_headers(&headers, &hlen, hstart, (size_t)(in + head_len - hstart));

    struct fuzz_server *f = auth ? &auth_srv : &open_srv;
    if (f->dirty) {
        deploy_base(f);
    }
    enum srv_method m = method_of(line);
    f->dirty = m != SRV_GET && m != SRV_HEAD;
    struct srv_conn c;
    request(&c, f->srv, m, target, query, headers, in + body_off, size - body_off);
    if (!c.responding || c.status < 100 || c.status > 599) {
        fail("a request without a reply, or a reply without an HTTP status");
    }
    if (getenv("FUZZ_ADMIN_VERBOSE")) {
        fprintf(stderr, "%s %s%s -> %d %.200s\n", line, auth ? "(auth) " : "", target, c.status,
                c.resp && c.status != 200 ? c.resp : "");
    }
    if (c.resp && c.ctype && !strncmp(c.ctype, "application/json", 16) && c.resp_len) {
        char err[128];
        struct ef_val *v = ef_json_parse(c.resp, c.resp_len, err, sizeof(err));
        if (!v) {
            fprintf(stderr, "%d %.*s\n", c.status, (int)c.resp_len, c.resp);
            fail("a JSON reply that is not JSON");
        }
        ef_val_unref(v);
    }
    done(&c);
    free(headers);
    return 0;
}
