/*
 * plugin.h - registering node types, for built-in nodes and shared objects.
 *
 * A C plugin (.so) exports:
 *   int ef_plugin_version(int n, const int *supported);  returns the ABI
 *       version it picks from `supported`, or -1 if none;
 *   int ef_plugin_init(struct ef_plugin *p);   registers its types; 0 or EF_E*;
 *   void ef_plugin_cleanup(struct ef_plugin *p);   optional.
 * If init fails, every registration it made is undone and the object closed.
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
/* The plugin's name (file name or "builtin"). */
const char *ef_plugin_name(const struct ef_plugin *p);

#endif
