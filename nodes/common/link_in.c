/*
 * link_in.c - the link in node: messages from link out and link call nodes
 * arrive here (the engine wires link out nodes to their link ins) and are
 * passed on.
 */
#include <edgeflow/edgeflow.h>

static const struct ef_prop link_in_props[] = {
    {EF_PROP_ANY, "links", "[]", false, "ids of the link out nodes that send here",
     EF_PROP_NOFIELD},
    {EF_PROP_END},
};

static int cb_link_in_input(struct ef_node *n, struct ef_msg *msg)
{
    if (ef_node_send(n, 0, msg) != 0) {
        ef_msg_free(msg);
    }
    return EF_INPUT_DONE;
}

const struct ef_node_type ef_type_link_in = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "link in",
    .description = "Receives messages from link out and link call nodes",
    .category = "common",
    .inputs = 1,
    .outputs = 1,
    .props = link_in_props,
    .cb_input = cb_link_in_input,
};
