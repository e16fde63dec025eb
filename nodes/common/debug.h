/*
 * debug.h - what the editor's admin API asks of debug nodes.
 */
#ifndef EF_NODES_DEBUG_H
#define EF_NODES_DEBUG_H

#include <edgeflow/edgeflow.h>

/*
 * Turns a debug node's output on or off (POST /debug/:id/enable|disable).
 * Returns 0, or EF_ETYPE when n is not a debug node.
 */
int debug__set_active(struct ef_node *n, bool active);

#endif
