/*
 * catch.c - the catch node. The engine routes errors to it (scope: all,
 * group or a list of node ids; "uncaught" only) with msg.error set; the node
 * passes what it receives on.
 */
#include <edgeflow/edgeflow.h>

static const struct ef_prop catch_props[] = {
    {EF_PROP_ANY, "scope", "null", false, "null (all nodes on the flow), \"group\", or node ids",
     EF_PROP_NOFIELD},
    {EF_PROP_BOOL, "uncaught", "false", false, "only errors no other catch node handled",
     EF_PROP_NOFIELD},
    {EF_PROP_END},
};

static int cb_catch_input(struct ef_node *n, struct ef_msg *msg)
{
    if (ef_node_send(n, 0, msg) != 0) {
        ef_msg_free(msg);
    }
    return EF_INPUT_DONE;
}

const struct ef_node_type ef_type_catch = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "catch",
    .description = "Catches errors thrown by nodes on the same flow",
    .category = "common",
    .inputs = 0,
    .outputs = 1,
    .props = catch_props,
    .cb_input = cb_catch_input,
};
