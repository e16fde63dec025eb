/*
 * comment.c - the comment node: documentation on the canvas, does nothing.
 */
#include <edgeflow/edgeflow.h>

const struct ef_node_type ef_type_comment = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "comment",
    .description = "A note on the canvas; has no effect",
    .category = "common",
    .inputs = 0,
    .outputs = 0,
    .flags = EF_TYPE_OPEN_PROPS,
};
