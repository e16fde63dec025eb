/*
 * status.c - the status node. The engine routes status updates to it
 * (scope: all, group or a list of node ids) as msg.status; it passes them on.
 */
#include <edgeflow/edgeflow.h>

static const struct ef_prop status_props[] = {
    {EF_PROP_ANY, "scope", "null", false, "null (all nodes on the flow), \"group\", or node ids",
     EF_PROP_NOFIELD},
    {EF_PROP_END},
};

static int cb_status_input(struct ef_node *n, struct ef_msg *msg)
{
    if (ef_node_send(n, 0, msg) != 0) {
        ef_msg_free(msg);
    }
    return EF_INPUT_DONE;
}

const struct ef_node_type ef_type_status = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "status",
    .description = "Reports status changes of nodes on the same flow",
    .category = "common",
    .inputs = 0,
    .outputs = 1,
    .props = status_props,
    .cb_input = cb_status_input,
};
