/*
 * junction.c - a wire junction: passes every message straight through.
 */
#include <edgeflow/edgeflow.h>

static int cb_junction_input(struct ef_node *n, struct ef_msg *msg)
{
    if (ef_node_send(n, 0, msg) != 0) {
        ef_msg_free(msg);
    }
    return EF_INPUT_DONE;
}

const struct ef_node_type ef_type_junction = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "junction",
    .description = "Joins and splits wires; passes messages through unchanged",
    .category = "common",
    .inputs = 1,
    .outputs = 1,
    .flags = EF_TYPE_OPEN_PROPS,
    .cb_input = cb_junction_input,
};
