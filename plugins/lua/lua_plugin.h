/*
 * lua_plugin.h - what the Lua plugin's files share: the `lua` node type and
 * the loader of Lua-defined node types.
 */
#ifndef EF_LUA_PLUGIN_H
#define EF_LUA_PLUGIN_H

#include <edgeflow/edgeflow.h>

#include "lnode.h"

/* The `lua` node type (lua_node.c). */
extern const struct ef_node_type lua_node_type;

/*
 * Loads one Lua node type file and registers its type as plugin p's. Logs
 * why it cannot; returns 0 or a negative EF_E* code (EF_EEXIST when the
 * type name is taken).
 */
int ltypes_load(struct ef_plugin *p, const char *path);
/* Frees every type loaded by ltypes_load (at plugin unload). */
void ltypes_free_all(void);

#endif
