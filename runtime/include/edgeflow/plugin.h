/*
 * plugin.h - registering node types, for built-in nodes and shared objects.
 *
 * A C plugin (.so) exports:
 *   int ef_plugin_version(int n, const int *supported);  returns the ABI
 *       version it picks from `supported`, or -1 if none;
 *   int ef_plugin_init(struct ef_plugin *p);   registers its types; 0 or EF_E*;
 *   void ef_plugin_cleanup(struct ef_plugin *p);   optional.
 * If init fails, every registration it made is undone and the object closed.
 *
 * A plugin can also register a loader for plugin *files* of its own kind
 * (the Lua plugin loads "*.lua" node types this way): the runtime then calls
 * it for every such file in every plugin directory.
 */
#ifndef EDGEFLOW_PLUGIN_H
#define EDGEFLOW_PLUGIN_H

#include <edgeflow/node.h>

struct ef_plugin;

/*
 * Registers a node type. `t` must stay valid while the plugin is loaded
 * (usually a static const struct). Returns 0, EF_EEXIST (name taken),
 * EF_EVERSION (abi_version newer than the runtime) or EF_EINVAL.
 */
int ef_register_type(struct ef_plugin *p, const struct ef_node_type *t);
/*
 * Loads one plugin file (for example a Lua node type). Registers the types
 * the file declares with ef_register_type(p, ...), logs why it cannot, and
 * returns 0 or a negative EF_E* code.
 */
typedef int (*ef_file_loader_fn)(struct ef_plugin *p, const char *path);
/*
 * Registers `fn` for plugin files whose names end in `suffix` (".lua"). It
 * is called for each such file in every plugin directory: directories
 * already scanned are scanned again for it at once, later ones after their
 * shared objects are loaded. The loader is dropped with the plugin. Returns
 * 0, EF_EEXIST (suffix taken), EF_EINVAL or EF_ENOMEM.
 */
int ef_register_file_loader(struct ef_plugin *p, const char *suffix, ef_file_loader_fn fn);
/* The plugin's name (file name or "builtin"). */
const char *ef_plugin_name(const struct ef_plugin *p);

/*
 * Defines the ef_plugin_version() of a plugin that supports exactly the ABI
 * of the headers it was built with (EF_ABI_VERSION): write it once at file
 * scope. A plugin that supports several versions writes its own.
 */
#define EF_PLUGIN_VERSION_CURRENT                                                                  \
    int ef_plugin_version(int n, const int *supported)                                             \
    {                                                                                              \
        for (int i = 0; i < n; i++) {                                                              \
            if (supported[i] == EF_ABI_VERSION) {                                                  \
                return EF_ABI_VERSION;                                                             \
            }                                                                                      \
        }                                                                                          \
        return -1;                                                                                 \
    }

#endif
