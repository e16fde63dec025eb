/*
 * name_clash_plugin.c - a test plugin that registers a new type and then one
 * whose name is taken ("inject"). ef_register_type refuses the clash with
 * EF_EEXIST; the plugin returns that from init, so the runtime refuses the
 * whole plugin: its other type is unregistered too and the object unloaded,
 * while the built-in inject keeps working.
 */
#include <edgeflow/edgeflow.h>

static const struct ef_node_type ok_type = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "test-clash-companion",
    .inputs = 1,
};

static const struct ef_node_type clash_type = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "inject",
    .inputs = 1,
};

int ef_plugin_version(int n, const int *supported)
{
    (void)n;
    return supported[0];
}

int ef_plugin_init(struct ef_plugin *p)
{
    int rc = ef_register_type(p, &ok_type);
    if (rc == 0) {
        rc = ef_register_type(p, &clash_type);
    }
    return rc;
}
