/*
 * test_editor_plugins.c - GET /plugins of the editor server: with no
 * plugins_dir (`edgeflow run`) the editor is told there are none; with one,
 * every *.html in it is listed (JSON, as @node-red/registry lists plugins)
 * and served (HTML, each after the red-plugin marker the editor splits on),
 * and other files are ignored; "" finds the source tree's editor/plugins. Requests go through
 * server__handle_request without a socket.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "runtime.h"
#include "server.h"

struct fixture {
    struct ef_runtime rt;
    struct ef_server *srv;
    char dir[64];
};

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fputs(text, fp);
    fclose(fp);
}

static void start_with(struct fixture *f, bool with_plugins, const char *plugins_dir)
{
    char err[512] = "", flows[128];
    snprintf(f->dir, sizeof(f->dir), "/tmp/ef-plugins-XXXXXX");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(f->dir));
    struct ef_settings *s = settings__load(NULL, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL_FATAL(runtime__init(&f->rt, s, err, sizeof(err)), 0);
    snprintf(flows, sizeof(flows), "%s/flows.json", f->dir);
    if (with_plugins) {
        write_file(f->dir, "fleet.html",
                   "<script>RED.plugins.registerPlugin('fleet',{});</script>");
        write_file(f->dir, "b-two.html", "<p>two</p>");
        write_file(f->dir, "notes.txt", "not a plugin");
        write_file(f->dir, "bad name.html", "<p>ignored: a space in the name</p>");
    }
    struct ef_server_opts o = {.port = CONTEXT_PORT_NO_LISTEN_SERVER,
                               .flows_path = flows,
                               .plugins_dir = with_plugins ? f->dir : plugins_dir};
    f->srv = server__start(&f->rt, &o, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->srv);
}

static void start(struct fixture *f, bool with_plugins)
{
    start_with(f, with_plugins, NULL);
}

static void stop(struct fixture *f)
{
    server__stop(f->srv);
    runtime__destroy(&f->rt);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
}

/* GET path with an Accept header; the body as a new string (caller frees). */
static char *get(struct fixture *f, const char *path, const char *accept, int *status)
{
    static struct srv_req req;
    static char headers[128];
    snprintf(headers, sizeof(headers), "Accept: %s", accept);
    req = (struct srv_req){.headers = headers, .peer = "127.0.0.1"};
    struct srv_conn c;
    memset(&c, 0, sizeof(c));
    c.srv = f->srv;
    c.method = SRV_GET;
    c.req = &req;
    snprintf(c.path, sizeof(c.path), "%s", path);
    server__handle_request(&c);
    *status = c.status;
    char *out = malloc(c.resp_len + 1);
    memcpy(out, c.resp ? c.resp : "", c.resp_len);
    out[c.resp_len] = '\0';
    free(c.resp);
    free(c.body);
    return out;
}

static void test_no_plugins_dir(void)
{
    struct fixture f;
    memset(&f, 0, sizeof(f));
    start(&f, false);
    int st;
    char *j = get(&f, "/plugins", "application/json", &st);
    CU_ASSERT_EQUAL(st, 200);
    CU_ASSERT_STRING_EQUAL(j, "[]");
    char *h = get(&f, "/plugins", "text/html", &st);
    CU_ASSERT_EQUAL(st, 200);
    CU_ASSERT_STRING_EQUAL(h, "");
    free(j);
    free(h);
    stop(&f);
}

static void test_plugins_dir(void)
{
    struct fixture f;
    memset(&f, 0, sizeof(f));
    start(&f, true);
    int st;
    char *j = get(&f, "/plugins", "application/json", &st);
    CU_ASSERT_EQUAL(st, 200);
    struct ef_val *list = ef_json_parse(j, strlen(j), NULL, 0);
    CU_ASSERT_EQUAL_FATAL(ef_val_type(list), EF_ARR);
    CU_ASSERT_EQUAL_FATAL(ef_val_arr_len(list), 2);
    /* sorted by file name: b-two, fleet */
    const struct ef_val *e = ef_val_arr_at(list, 1);
    CU_ASSERT_STRING_EQUAL(ef_val_str_get(ef_val_obj_get(e, "id")), "edgeflow-plugins/fleet");
    CU_ASSERT_STRING_EQUAL(ef_val_str_get(ef_val_obj_get(e, "module")), "edgeflow-plugins");
    CU_ASSERT_STRING_EQUAL(ef_val_str_get(ef_val_obj_get(e, "name")), "fleet");
    CU_ASSERT(ef_val_truthy(ef_val_obj_get(e, "enabled")));
    const struct ef_val *pl = ef_val_obj_get(e, "plugins");
    CU_ASSERT_EQUAL(ef_val_arr_len(pl), 1);
    CU_ASSERT_STRING_EQUAL(ef_val_str_get(ef_val_obj_get(ef_val_arr_at(pl, 0), "id")), "fleet");
    CU_ASSERT_STRING_EQUAL(ef_val_str_get(ef_val_obj_get(ef_val_arr_at(list, 0), "id")),
                           "edgeflow-plugins/b-two");
    ef_val_unref(list);
    free(j);

    char *h = get(&f, "/plugins", "text/html", &st);
    CU_ASSERT_EQUAL(st, 200);
    CU_ASSERT_STRING_EQUAL(h, "\n<!-- --- [red-plugin:edgeflow-plugins/b-two] --- -->\n<p>two</p>"
                              "\n<!-- --- [red-plugin:edgeflow-plugins/fleet] --- -->\n"
                              "<script>RED.plugins.registerPlugin('fleet',{});</script>");
    free(h);
    char *m = get(&f, "/plugins/messages", "application/json", &st);
    CU_ASSERT_EQUAL(st, 200);
    CU_ASSERT_STRING_EQUAL(m, "{}");
    free(m);
    stop(&f);
}

/* "" is the source tree's editor/plugins: the Fleet tab is there. */
static void test_default_dir(void)
{
    struct fixture f;
    memset(&f, 0, sizeof(f));
    start_with(&f, false, "");
    int st;
    char *j = get(&f, "/plugins", "application/json", &st);
    CU_ASSERT_EQUAL(st, 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"id\":\"edgeflow-plugins/fleet\""));
    free(j);
    char *h = get(&f, "/plugins", "text/html", &st);
    CU_ASSERT_PTR_NOT_NULL(strstr(h, "<!-- --- [red-plugin:edgeflow-plugins/fleet] --- -->\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(h, "RED.plugins.registerPlugin(\"edgeflow-fleet\""));
    free(h);
    stop(&f);
}

int init_editor_plugins_tests(void)
{
    CU_pSuite s = CU_add_suite("editor_plugins", NULL, NULL);
    if (!s || !CU_add_test(s, "no_plugins_dir", test_no_plugins_dir) ||
        !CU_add_test(s, "plugins_dir", test_plugins_dir) ||
        !CU_add_test(s, "default_dir", test_default_dir)) {
        return -1;
    }
    return 0;
}
