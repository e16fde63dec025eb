/*
 * test_redeploy.c - modified-nodes and modified-flows deploys: unchanged
 * nodes keep running (same instance, no second init, state kept) and are
 * rewired; changed nodes, nodes whose config node or env changed, and
 * whole changed tabs restart; a refused deploy leaves everything running.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "runtime.h"

static int inits;
static struct ef_val *seen; /* ids of t-probe nodes that received, in order */

struct probe {
    int generation;
    int received;
};

static int cb_probe_init(struct ef_node *n, const struct ef_val *config)
{
    struct probe *p = ef_node_priv(n);
    p->generation = ++inits;
    return 0;
}

static int cb_probe_input(struct ef_node *n, struct ef_msg *msg)
{
    struct probe *p = ef_node_priv(n);
    p->received++;
    ef_val_arr_push_take(seen, ef_val_str(ef_node_id(n)));
    ef_node_send(n, 0, msg);
    return EF_INPUT_DONE;
}

static const struct ef_node_type probe_type = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "t-probe",
    .inputs = 1,
    .outputs = 1,
    .flags = EF_TYPE_OPEN_PROPS,
    .priv_size = sizeof(struct probe),
    .cb_init = cb_probe_init,
    .cb_input = cb_probe_input,
};

static const struct ef_node_type probe_config_type = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "t-probe-config",
    .flags = EF_TYPE_OPEN_PROPS | EF_TYPE_CONFIG,
    .priv_size = sizeof(struct probe),
    .cb_init = cb_probe_init,
};

static struct ef_runtime *rt_new(void)
{
    char err[256];
    struct ef_settings *s = settings__load(NULL, err, sizeof(err));
    struct ef_runtime *rt = calloc(1, sizeof(*rt));
    CU_ASSERT_FATAL(runtime__init(rt, s, err, sizeof(err)) == 0);
    if (!registry__find("t-probe")) {
        ef_register_type(registry__builtin(), &probe_type);
        ef_register_type(registry__builtin(), &probe_config_type);
    }
    return rt;
}

static int deploy(struct ef_runtime *rt, const char *json, enum ef_deploy_type type)
{
    struct ef_val *flows = ef_json_parse(json, strlen(json), NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(flows);
    struct ef_problems probs = {0};
    int rc = runtime__deploy_type(rt, flows, type, &probs);
    problems__free(&probs);
    ef_val_unref(flows);
    return rc;
}

static int generation(struct ef_runtime *rt, const char *id)
{
    struct ef_node *n = flowset__find(rt->active, id);
    return n ? ((struct probe *)ef_node_priv(n))->generation : -1;
}

/* Sends a message into node `id` and runs the loop; returns the ids it passed, as JSON. */
static char *trace(struct ef_runtime *rt, const char *id)
{
    ef_val_unref(seen);
    seen = ef_val_arr();
    struct ef_msg *m = ef_msg_new();
    loop__enqueue(&rt->loop, flowset__find(rt->active, id), m);
    uv_run(&rt->loop.uv, UV_RUN_DEFAULT);
    return ef_json_print(seen, 0, NULL);
}

static void finish(struct ef_runtime *rt)
{
    runtime__stop(rt);
    runtime__destroy(rt);
    free(rt);
    ef_val_unref(seen);
    seen = NULL;
}

#define FLOW_TAB1 "{\"id\":\"t1\",\"type\":\"tab\",\"env\":[]}"
#define FLOW_TAB2 "{\"id\":\"t2\",\"type\":\"tab\"}"

static void test_nodes_deploy(void)
{
    struct ef_runtime *rt = rt_new();
    CU_ASSERT_EQUAL(
        deploy(rt,
               "[" FLOW_TAB1 ","
               "{\"id\":\"a\",\"type\":\"t-probe\",\"z\":\"t1\",\"x\":1,\"wires\":[[\"b\"]]},"
               "{\"id\":\"b\",\"type\":\"t-probe\",\"z\":\"t1\",\"v\":1,\"wires\":[[\"c\"]]},"
               "{\"id\":\"c\",\"type\":\"t-probe\",\"z\":\"t1\",\"wires\":[]}]",
               EF_DEPLOY_FULL),
        0);
    int ga = generation(rt, "a"), gb = generation(rt, "b"), gc = generation(rt, "c");
    struct ef_node *na = flowset__find(rt->active, "a");
    char *t = trace(rt, "a");
    CU_ASSERT_STRING_EQUAL(t, "[\"a\",\"b\",\"c\"]");
    free(t);
    /* b changes, a moves and is rewired to skip b, c is untouched. */
    CU_ASSERT_EQUAL(
        deploy(rt,
               "[" FLOW_TAB1 ","
               "{\"id\":\"a\",\"type\":\"t-probe\",\"z\":\"t1\",\"x\":99,\"wires\":[[\"c\"]]},"
               "{\"id\":\"b\",\"type\":\"t-probe\",\"z\":\"t1\",\"v\":2,\"wires\":[[\"c\"]]},"
               "{\"id\":\"c\",\"type\":\"t-probe\",\"z\":\"t1\",\"wires\":[]}]",
               EF_DEPLOY_NODES),
        0);
    CU_ASSERT_PTR_EQUAL(flowset__find(rt->active, "a"), na);
    CU_ASSERT_EQUAL(generation(rt, "a"), ga);
    CU_ASSERT_EQUAL(generation(rt, "c"), gc);
    CU_ASSERT_NOT_EQUAL(generation(rt, "b"), gb);
    CU_ASSERT_EQUAL(((struct probe *)ef_node_priv(na))->received, 1); /* state kept */
    t = trace(rt, "a");
    CU_ASSERT_STRING_EQUAL(t, "[\"a\",\"c\"]");
    free(t);
    /* A refused deploy (unknown type) changes nothing, wiring included. */
    CU_ASSERT_NOT_EQUAL(
        deploy(rt,
               "[" FLOW_TAB1 ","
               "{\"id\":\"a\",\"type\":\"t-probe\",\"z\":\"t1\",\"x\":99,\"wires\":[[\"b\"]]},"
               "{\"id\":\"z\",\"type\":\"no-such-type\",\"z\":\"t1\",\"wires\":[]}]",
               EF_DEPLOY_NODES),
        0);
    CU_ASSERT_PTR_EQUAL(flowset__find(rt->active, "a"), na);
    t = trace(rt, "a");
    CU_ASSERT_STRING_EQUAL(t, "[\"a\",\"c\"]");
    free(t);
    /* A full deploy restarts everything. */
    int before = inits;
    CU_ASSERT_EQUAL(
        deploy(rt,
               "[" FLOW_TAB1 ","
               "{\"id\":\"a\",\"type\":\"t-probe\",\"z\":\"t1\",\"x\":99,\"wires\":[[\"c\"]]},"
               "{\"id\":\"c\",\"type\":\"t-probe\",\"z\":\"t1\",\"wires\":[]}]",
               EF_DEPLOY_FULL),
        0);
    CU_ASSERT_EQUAL(inits, before + 2);
    finish(rt);
}

static void test_flows_deploy(void)
{
    struct ef_runtime *rt = rt_new();
    const char *v1 = "[" FLOW_TAB1 "," FLOW_TAB2 ","
                     "{\"id\":\"a\",\"type\":\"t-probe\",\"z\":\"t1\",\"wires\":[]},"
                     "{\"id\":\"b\",\"type\":\"t-probe\",\"z\":\"t1\",\"v\":1,\"wires\":[]},"
                     "{\"id\":\"c\",\"type\":\"t-probe\",\"z\":\"t2\",\"wires\":[]}]";
    const char *v2 = "[" FLOW_TAB1 "," FLOW_TAB2 ","
                     "{\"id\":\"a\",\"type\":\"t-probe\",\"z\":\"t1\",\"wires\":[]},"
                     "{\"id\":\"b\",\"type\":\"t-probe\",\"z\":\"t1\",\"v\":2,\"wires\":[]},"
                     "{\"id\":\"c\",\"type\":\"t-probe\",\"z\":\"t2\",\"wires\":[]}]";
    CU_ASSERT_EQUAL(deploy(rt, v1, EF_DEPLOY_FULL), 0);
    int ga = generation(rt, "a"), gc = generation(rt, "c");
    CU_ASSERT_EQUAL(deploy(rt, v2, EF_DEPLOY_FLOWS), 0);
    CU_ASSERT_NOT_EQUAL(generation(rt, "a"), ga); /* same tab as the change */
    CU_ASSERT_EQUAL(generation(rt, "c"), gc);     /* other tab untouched */
    finish(rt);
}

static void test_dependencies_restart(void)
{
    struct ef_runtime *rt = rt_new();
    const char *v1 =
        "[{\"id\":\"t1\",\"type\":\"tab\",\"env\":[{\"name\":\"A\",\"value\":\"1\",\"type\":"
        "\"str\"}]}," FLOW_TAB2 ","
        "{\"id\":\"cfg\",\"type\":\"t-probe-config\",\"v\":1},"
        "{\"id\":\"user\",\"type\":\"t-probe\",\"z\":\"t2\",\"conf\":\"cfg\",\"wires\":[]},"
        "{\"id\":\"other\",\"type\":\"t-probe\",\"z\":\"t2\",\"wires\":[]},"
        "{\"id\":\"inenv\",\"type\":\"t-probe\",\"z\":\"t1\",\"wires\":[]}]";
    const char *v2 =
        "[{\"id\":\"t1\",\"type\":\"tab\",\"env\":[{\"name\":\"A\",\"value\":\"2\",\"type\":"
        "\"str\"}]}," FLOW_TAB2 ","
        "{\"id\":\"cfg\",\"type\":\"t-probe-config\",\"v\":2},"
        "{\"id\":\"user\",\"type\":\"t-probe\",\"z\":\"t2\",\"conf\":\"cfg\",\"wires\":[]},"
        "{\"id\":\"other\",\"type\":\"t-probe\",\"z\":\"t2\",\"wires\":[]},"
        "{\"id\":\"inenv\",\"type\":\"t-probe\",\"z\":\"t1\",\"wires\":[]}]";
    CU_ASSERT_EQUAL(deploy(rt, v1, EF_DEPLOY_FULL), 0);
    int gu = generation(rt, "user"), go = generation(rt, "other"), ge = generation(rt, "inenv");
    int gcfg = generation(rt, "cfg");
    CU_ASSERT_EQUAL(deploy(rt, v2, EF_DEPLOY_NODES), 0);
    CU_ASSERT_NOT_EQUAL(generation(rt, "cfg"), gcfg);
    CU_ASSERT_NOT_EQUAL(generation(rt, "user"), gu);  /* its config node changed */
    CU_ASSERT_NOT_EQUAL(generation(rt, "inenv"), ge); /* its tab's env changed */
    CU_ASSERT_EQUAL(generation(rt, "other"), go);
    finish(rt);
}

int init_redeploy_tests(void)
{
    CU_pSuite s = CU_add_suite("redeploy", NULL, NULL);
    if (!s || !CU_add_test(s, "nodes_deploy", test_nodes_deploy) ||
        !CU_add_test(s, "flows_deploy", test_flows_deploy) ||
        !CU_add_test(s, "dependencies_restart", test_dependencies_restart)) {
        return -1;
    }
    return 0;
}
