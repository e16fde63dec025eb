/*
 * plugin.c - the Lua plugin's entry points (lua.so): negotiates the ABI,
 * registers the `lua` node type and a loader for "*.lua" node type files
 * in the plugin directories. The runtime has no Lua-specific code: this is
 * an ordinary plugin using the public SDK.
 */
#include "lua_plugin.h"

/* Picks EF_ABI_VERSION if the runtime offers it; -1 otherwise. */
EF_PLUGIN_VERSION_CURRENT

/* Registers the lua type, then the .lua loader (which loads the node type files at once). */
int ef_plugin_init(struct ef_plugin *p)
{
    int rc = ef_register_type(p, &lua_node_type);
    if (rc != 0) {
        return rc;
    }
    return ef_register_file_loader(p, ".lua", ltypes_load);
}

/* Frees the Lua-defined types when the plugin unloads. */
void ef_plugin_cleanup(struct ef_plugin *p)
{
    (void)p;
    ltypes_free_all();
}
