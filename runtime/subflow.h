/*
 * subflow.h - the engine-internal node types behind subflow instances.
 */
#ifndef EF_SUBFLOW_H
#define EF_SUBFLOW_H

#include "engine.h"

/* The type of a subflow instance node: its input goes to the template's in-wires. */
const struct ef_node_type *subflow__instance_type(void);
/* Creates the hidden node behind a subflow's status port (sets the instance's status). */
struct ef_node *subflow__status_node(struct ef_flowset *fs, struct ef_scope *s);

#endif
