/*
 * complete.c - the complete node. The engine sends it a copy of each message
 * that a node in its scope finished handling, with msg.complete.source set.
 */
#include <edgeflow/edgeflow.h>

static const struct ef_prop complete_props[] = {
    {EF_PROP_ANY, "scope", "[]", false, "ids of the nodes to watch", EF_PROP_NOFIELD},
    {EF_PROP_BOOL, "uncaught", "false", false, "unused; kept for Node-RED compatibility",
     EF_PROP_NOFIELD},
    {EF_PROP_END},
};

static int cb_complete_input(struct ef_node *n, struct ef_msg *msg)
{
    if (ef_node_send(n, 0, msg) != 0) {
        ef_msg_free(msg);
    }
    return EF_INPUT_DONE;
}

const struct ef_node_type ef_type_complete = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "complete",
    .description = "Triggered when nodes in its scope finish handling a message",
    .category = "common",
    .inputs = 0,
    .outputs = 1,
    .props = complete_props,
    .cb_input = cb_complete_input,
};
