/*
 * newer_type_plugin.c - negotiates ABI 1 but registers one type built
 * against a newer ABI (refused) and one valid type (kept).
 */
#include <edgeflow/edgeflow.h>

static const struct ef_node_type future_type = {
    .abi_version = EF_ABI_VERSION + 1,
    .size = sizeof(struct ef_node_type),
    .name = "test-future",
};

static const struct ef_node_type ok_type = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "test-present",
    .inputs = 1,
};

int ef_plugin_version(int n, const int *supported)
{
    (void)n;
    return supported[0];
}

int ef_plugin_init(struct ef_plugin *p)
{
    if (ef_register_type(p, &future_type) != EF_EVERSION) {
        return EF_EINVAL;
    }
    return ef_register_type(p, &ok_type);
}
