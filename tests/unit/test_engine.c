/*
 * test_engine.c - the engine with test node types: fan-out shares the tree
 * but no receiver sees another's change (and a 1 MB buffer is never copied),
 * delivery is FIFO and never recursive, the queue cap refuses and counts,
 * ef_loop_post works from another thread, and context stores persist.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "runtime.h"

/* ---- Test node types ---- */

#define MAX_CAPTURED 64
static struct ef_val *captured[MAX_CAPTURED];
static const char *captured_by[MAX_CAPTURED];
static size_t ncaptured;
static int send_results[256];
static size_t nsend_results;

static int cb_capture_input(struct ef_node *n, struct ef_msg *msg)
{
    if (ncaptured < MAX_CAPTURED) {
        captured_by[ncaptured] = ef_node_id(n);
        captured[ncaptured++] = ef_val_ref((struct ef_val *)ef_msg_root(msg));
    }
    ef_msg_free(msg);
    return EF_INPUT_DONE;
}

static int cb_mutate_input(struct ef_node *n, struct ef_msg *msg)
{
    ef_msg_set_take(msg, "payload.a", ef_val_num(99));
    ef_node_send(n, 0, msg);
    return EF_INPUT_DONE;
}

/* Loops a message back to itself `hops` times (a cycle), then passes it on. */
static int cb_cycle_input(struct ef_node *n, struct ef_msg *msg)
{
    double hops = ef_val_num_get(ef_msg_get(msg, "hops"));
    if (hops > 0) {
        ef_msg_set_take(msg, "hops", ef_val_num(hops - 1));
        ef_node_send(n, 0, msg);
    } else {
        ef_node_send(n, 1, msg);
    }
    return EF_INPUT_DONE;
}

/* On start: sends `count` messages with a 1 MB buffer and payload.a = 1. */
static void cb_source_start(struct ef_node *n)
{
    int count = (int)ef_val_num_get(ef_val_obj_get(ef_node_config(n), "count"));
    for (int i = 0; i < count; i++) {
        struct ef_msg *m = ef_msg_new();
        struct ef_val *payload = ef_val_obj();
        ef_val_obj_set_take(payload, "a", ef_val_num(1));
        ef_val_obj_set_take(payload, "big", ef_val_buf_take(calloc(1, 1 << 20), 1 << 20));
        ef_msg_set_take(m, "payload", payload);
        ef_msg_set_take(m, "hops",
                        ef_val_num(ef_val_num_get(ef_val_obj_get(ef_node_config(n), "hops"))));
        int rc = ef_node_send(n, 0, m);
        if (nsend_results < 256) {
            send_results[nsend_results++] = rc;
        }
        if (rc != 0) {
            ef_msg_free(m);
        }
    }
}

#define TEST_TYPE(var, tname, ins, outs, input, start)                                             \
    static const struct ef_node_type var = {.abi_version = EF_ABI_VERSION,                         \
                                            .size = sizeof(struct ef_node_type),                   \
                                            .name = tname,                                         \
                                            .inputs = ins,                                         \
                                            .outputs = outs,                                       \
                                            .flags = EF_TYPE_OPEN_PROPS,                           \
                                            .cb_start = start,                                     \
                                            .cb_input = input}
TEST_TYPE(t_capture, "t-capture", 1, 0, cb_capture_input, NULL);
TEST_TYPE(t_mutate, "t-mutate", 1, 1, cb_mutate_input, NULL);
TEST_TYPE(t_cycle, "t-cycle", 1, 2, cb_cycle_input, NULL);
TEST_TYPE(t_source, "t-source", 0, 1, NULL, cb_source_start);

static void reset_captures(void)
{
    for (size_t i = 0; i < ncaptured; i++) {
        ef_val_unref(captured[i]);
    }
    ncaptured = 0;
    nsend_results = 0;
}

static void register_test_types(void)
{
    if (!registry__find("t-capture")) {
        ef_register_type(registry__builtin(), &t_capture);
        ef_register_type(registry__builtin(), &t_mutate);
        ef_register_type(registry__builtin(), &t_cycle);
        ef_register_type(registry__builtin(), &t_source);
    }
}

/* Builds a runtime with the test types, deploys `flow` (JSON), runs until idle. */
static struct ef_runtime *run_flow(const char *flow, const char *settings_json)
{
    char err[256];
    struct ef_settings *s = settings__load(NULL, err, sizeof(err));
    if (settings_json) {
        ef_val_unref(s->root);
        s->root = ef_json_parse(settings_json, strlen(settings_json), NULL, 0);
        const struct ef_val *mq = ef_val_obj_get(s->root, "maxQueuedMessages");
        if (mq) {
            s->max_queue = (size_t)ef_val_num_get(mq);
        }
        const struct ef_val *ud = ef_val_obj_get(s->root, "userDir");
        if (ud) {
            free(s->user_dir);
            s->user_dir = strdup(ef_val_str_get(ud));
        }
    }
    struct ef_runtime *rt = calloc(1, sizeof(*rt));
    CU_ASSERT_FATAL(runtime__init(rt, s, err, sizeof(err)) == 0);
    register_test_types();
    struct ef_val *cfg = ef_json_parse(flow, strlen(flow), err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    struct ef_problems probs = {0};
    int rc = runtime__deploy(rt, cfg, &probs);
    for (size_t i = 0; i < probs.n; i++) {
        fprintf(stderr, "problem: %s\n", probs.items[i]);
    }
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    problems__free(&probs);
    ef_val_unref(cfg);
    uv_run(&rt->loop.uv, UV_RUN_DEFAULT);
    return rt;
}

static void finish(struct ef_runtime *rt)
{
    runtime__stop(rt);
    runtime__destroy(rt);
    free(rt);
}

/* ---- Tests ---- */

static void test_fanout_isolation(void)
{
    reset_captures();
    struct ef_runtime *rt =
        run_flow("[{\"id\":\"t\",\"type\":\"tab\"},"
                 "{\"id\":\"src\",\"type\":\"t-source\",\"z\":\"t\",\"count\":1,\"wires\":[["
                 "\"mut\",\"c2\",\"c3\"]]},"
                 "{\"id\":\"mut\",\"type\":\"t-mutate\",\"z\":\"t\",\"wires\":[[\"c1\"]]},"
                 "{\"id\":\"c1\",\"type\":\"t-capture\",\"z\":\"t\",\"wires\":[]},"
                 "{\"id\":\"c2\",\"type\":\"t-capture\",\"z\":\"t\",\"wires\":[]},"
                 "{\"id\":\"c3\",\"type\":\"t-capture\",\"z\":\"t\",\"wires\":[]}]",
                 NULL);
    CU_ASSERT_EQUAL_FATAL(ncaptured, 3);
    /* FIFO: c2, c3 were queued before mutate's send to c1. */
    CU_ASSERT_STRING_EQUAL(captured_by[0], "c2");
    CU_ASSERT_STRING_EQUAL(captured_by[1], "c3");
    CU_ASSERT_STRING_EQUAL(captured_by[2], "c1");
    const struct ef_val *p1 = ef_val_obj_get(captured[2], "payload");
    const struct ef_val *p2 = ef_val_obj_get(captured[0], "payload");
    CU_ASSERT_EQUAL(ef_val_num_get(ef_val_obj_get(p1, "a")), 99);
    CU_ASSERT_EQUAL(ef_val_num_get(ef_val_obj_get(p2, "a")), 1);
    /* Unchanged receivers share one tree; the 1 MB buffer was never copied. */
    CU_ASSERT_PTR_EQUAL(captured[0], captured[1]);
    CU_ASSERT_PTR_EQUAL(ef_val_obj_get(p1, "big"), ef_val_obj_get(p2, "big"));
    CU_ASSERT_STRING_EQUAL(ef_val_str_get(ef_val_obj_get(captured[2], "_msgid")),
                           ef_val_str_get(ef_val_obj_get(captured[0], "_msgid")));
    finish(rt);
    reset_captures();
}

static void test_cycle_not_recursive(void)
{
    reset_captures();
    /* 200000 trips round a self-loop: recursion would overflow the stack. */
    struct ef_runtime *rt =
        run_flow("[{\"id\":\"t\",\"type\":\"tab\"},"
                 "{\"id\":\"src\",\"type\":\"t-source\",\"z\":\"t\",\"count\":1,\"hops\":200000,"
                 "\"wires\":[[\"cy\"]]},"
                 "{\"id\":\"cy\",\"type\":\"t-cycle\",\"z\":\"t\",\"wires\":[[\"cy\"],[\"c1\"]]},"
                 "{\"id\":\"c1\",\"type\":\"t-capture\",\"z\":\"t\",\"wires\":[]}]",
                 NULL);
    CU_ASSERT_EQUAL(ncaptured, 1);
    CU_ASSERT(rt->loop.delivered >= 200002);
    finish(rt);
    reset_captures();
}

static void test_queue_cap(void)
{
    reset_captures();
    struct ef_runtime *rt = run_flow(
        "[{\"id\":\"t\",\"type\":\"tab\"},"
        "{\"id\":\"src\",\"type\":\"t-source\",\"z\":\"t\",\"count\":40,\"wires\":[[\"c1\"]]},"
        "{\"id\":\"c1\",\"type\":\"t-capture\",\"z\":\"t\",\"wires\":[]}]",
        "{\"maxQueuedMessages\":16}");
    size_t refused = 0;
    for (size_t i = 0; i < nsend_results; i++) {
        refused += send_results[i] == EF_EFULL;
    }
    CU_ASSERT_EQUAL(refused, 24);
    CU_ASSERT_EQUAL(rt->loop.dropped, 24);
    CU_ASSERT_EQUAL(ncaptured, 16);
    finish(rt);
    reset_captures();
}

struct post_state {
    struct ef_loop *loop;
    int count;
};

static void on_post(void *arg)
{
    struct post_state *ps = arg;
    if (++ps->count == 1000) {
        uv_stop(&ps->loop->uv);
    }
}

static void *poster(void *arg)
{
    struct post_state *ps = arg;
    for (int i = 0; i < 1000; i++) {
        ef_loop_post(ps->loop, on_post, ps);
    }
    return NULL;
}

static void test_loop_post_thread(void)
{
    struct ef_runtime *rt = run_flow("[]", NULL);
    struct post_state ps = {&rt->loop, 0};
    pthread_t th;
    pthread_create(&th, NULL, poster, &ps);
    uv_ref((uv_handle_t *)&rt->loop.inbox_async); /* keep the loop waiting for the posts */
    uv_run(&rt->loop.uv, UV_RUN_DEFAULT);
    uv_unref((uv_handle_t *)&rt->loop.inbox_async);
    pthread_join(th, NULL);
    CU_ASSERT_EQUAL(ps.count, 1000);
    finish(rt);
}

static void test_context_file_store(void)
{
    char dir[] = "/tmp/ef-ctx.XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    char settings[512];
    snprintf(settings, sizeof(settings),
             "{\"userDir\":\"%s\",\"contextStorage\":{\"default\":{\"module\":\"memory\"},"
             "\"disk\":{\"module\":\"localfilesystem\"}}}",
             dir);
    const char *flow = "[{\"id\":\"t\",\"type\":\"tab\"},"
                       "{\"id\":\"c1\",\"type\":\"t-capture\",\"z\":\"t\",\"wires\":[]}]";
    struct ef_runtime *rt = run_flow(flow, settings);
    struct ef_node *n = flowset__find(rt->active, "c1");
    CU_ASSERT_EQUAL(ef_ctx_set_take(n, EF_CTX_FLOW, "disk", "count", ef_val_num(7)), 0);
    CU_ASSERT_EQUAL(ef_ctx_set_take(n, EF_CTX_GLOBAL, "disk", "cfg.list[1]", ef_val_str("b")), 0);
    CU_ASSERT_EQUAL(ef_ctx_set_take(n, EF_CTX_NODE, NULL, "mem", ef_val_bool(true)), 0);
    struct ef_val *one = ef_val_num(1);
    CU_ASSERT_EQUAL(ef_ctx_set_take(n, EF_CTX_FLOW, "nostore", "x", one), EF_ENOENT);
    ef_val_unref(one); /* refused, so still ours */
    struct ef_val *v = ef_ctx_get(n, EF_CTX_GLOBAL, "disk", "cfg.list");
    CU_ASSERT_EQUAL(ef_val_arr_len(v), 2);
    ef_val_unref(v);
    char store[32];
    const char *key = ef_ctx_parse_store("#:(disk)::count", store, sizeof(store));
    CU_ASSERT_STRING_EQUAL(store, "disk");
    CU_ASSERT_STRING_EQUAL(key, "count");
    finish(rt); /* flushes */
    char path[600];
    snprintf(path, sizeof(path), "%s/context/t/flow.json", dir);
    FILE *f = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL(f);
    if (f) {
        fclose(f);
    }
    /* A new runtime reads the file store back; memory is gone. */
    rt = run_flow(flow, settings);
    n = flowset__find(rt->active, "c1");
    v = ef_ctx_get(n, EF_CTX_FLOW, "disk", "count");
    CU_ASSERT_EQUAL(ef_val_num_get(v), 7);
    ef_val_unref(v);
    v = ef_ctx_get(n, EF_CTX_GLOBAL, "disk", "cfg.list[1]");
    CU_ASSERT_STRING_EQUAL(ef_val_str_get(v), "b");
    ef_val_unref(v);
    CU_ASSERT_PTR_NULL(ef_ctx_get(n, EF_CTX_NODE, NULL, "mem"));
    struct ef_val *keys = ef_ctx_keys(n, EF_CTX_FLOW, "disk");
    CU_ASSERT_EQUAL(ef_val_arr_len(keys), 1);
    ef_val_unref(keys);
    finish(rt);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
}

/* A deploy that replaces the nodes messages are queued for delivers them first. */
static void test_deploy_drains(void)
{
    reset_captures();
    char err[256];
    struct ef_settings *s = settings__load(NULL, err, sizeof(err));
    struct ef_runtime *rt = calloc(1, sizeof(*rt));
    CU_ASSERT_FATAL(runtime__init(rt, s, err, sizeof(err)) == 0);
    register_test_types();
    const char *flow =
        "[{\"id\":\"t\",\"type\":\"tab\"},"
        "{\"id\":\"src\",\"type\":\"t-source\",\"z\":\"t\",\"count\":%d,\"wires\":[[\"m\"]]},"
        "{\"id\":\"m\",\"type\":\"t-mutate\",\"z\":\"t\",\"wires\":[[\"c1\"]]},"
        "{\"id\":\"c1\",\"type\":\"t-capture\",\"z\":\"t\",\"wires\":[]}]";
    char text[1024];
    struct ef_problems probs = {0};
    for (int count = 20; count >= 0; count -= 20) { /* the second deploy changes every node */
        snprintf(text, sizeof(text), flow, count);
        struct ef_val *cfg = ef_json_parse(text, strlen(text), NULL, 0);
        CU_ASSERT_EQUAL_FATAL(runtime__deploy(rt, cfg, &probs), 0);
        ef_val_unref(cfg);
    }
    CU_ASSERT_EQUAL(ncaptured, 20); /* all 20 went through the old m before it closed */
    CU_ASSERT_EQUAL(rt->loop.q_len, 0);
    runtime__stop(rt);
    runtime__destroy(rt);
    free(rt);
    reset_captures();
}

/* Stopping delivers what is already queued before nodes close. */
static void test_stop_drains(void)
{
    reset_captures();
    char err[256];
    struct ef_settings *s = settings__load(NULL, err, sizeof(err));
    struct ef_runtime *rt = calloc(1, sizeof(*rt));
    CU_ASSERT_FATAL(runtime__init(rt, s, err, sizeof(err)) == 0);
    register_test_types();
    const char *flow =
        "[{\"id\":\"t\",\"type\":\"tab\"},"
        "{\"id\":\"src\",\"type\":\"t-source\",\"z\":\"t\",\"count\":50,\"wires\":[[\"m\"]]},"
        "{\"id\":\"m\",\"type\":\"t-mutate\",\"z\":\"t\",\"wires\":[[\"c1\"]]},"
        "{\"id\":\"c1\",\"type\":\"t-capture\",\"z\":\"t\",\"wires\":[]}]";
    struct ef_val *cfg = ef_json_parse(flow, strlen(flow), NULL, 0);
    struct ef_problems probs = {0};
    CU_ASSERT_EQUAL_FATAL(runtime__deploy(rt, cfg, &probs), 0); /* the source sends 50 at start */
    CU_ASSERT_EQUAL(rt->loop.q_len, 50);
    runtime__stop(rt); /* no loop iteration ran: stop itself must drain */
    CU_ASSERT_EQUAL(ncaptured, 50);
    CU_ASSERT_EQUAL(rt->loop.q_len, 0);
    ef_val_unref(cfg);
    runtime__destroy(rt);
    free(rt);
    reset_captures();
}

int init_engine_tests(void)
{
    CU_pSuite s = CU_add_suite("engine", NULL, NULL);
    if (!s || !CU_add_test(s, "deploy delivers queued messages first", test_deploy_drains) ||
        !CU_add_test(s, "fanout_isolation", test_fanout_isolation) ||
        !CU_add_test(s, "cycle_not_recursive", test_cycle_not_recursive) ||
        !CU_add_test(s, "queue_cap", test_queue_cap) ||
        !CU_add_test(s, "loop_post_thread", test_loop_post_thread) ||
        !CU_add_test(s, "context_file_store", test_context_file_store) ||
        !CU_add_test(s, "stop_drains", test_stop_drains)) {
        return -1;
    }
    return 0;
}
