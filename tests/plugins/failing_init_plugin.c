/*
 * failing_init_plugin.c - a test plugin whose init registers a type and then
 * fails: the runtime must undo the registration and unload it.
 */
#include <edgeflow/edgeflow.h>

static const struct ef_node_type half_type = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "test-half-registered",
    .inputs = 1,
    .outputs = 1,
};

int ef_plugin_version(int n, const int *supported)
{
    (void)n;
    return supported[0];
}

int ef_plugin_init(struct ef_plugin *p)
{
    ef_register_type(p, &half_type);
    return EF_EINVAL;
}
