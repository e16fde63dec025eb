/*
 * global_config.c - the global-config node Node-RED 4 stores global
 * environment variables in. The loader reads its `env` into the global
 * scope; the node itself does nothing.
 */
#include <edgeflow/edgeflow.h>

const struct ef_node_type ef_type_global_config = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "global-config",
    .description = "Global environment variables (env), visible to every flow",
    .category = "config",
    .inputs = 0,
    .outputs = 0,
    .flags = EF_TYPE_CONFIG | EF_TYPE_OPEN_PROPS,
};
