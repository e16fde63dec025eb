/*
 * jsonata_bridge.c - evaluating `jsonata` typed inputs for nodes.
 */
#include <stdio.h>

#include "typed.h"

int typed__jsonata(struct ef_node *n, const char *expr, const struct ef_msg *msg,
                   struct ef_val **out, char *err, size_t errlen)
{
    (void)msg;
    (void)expr;
    *out = NULL;
    snprintf(err, errlen, "node %s (%s): JSONata expressions are not available in this build",
             ef_node_id(n), ef_node_type_name(n));
    return EF_EUNSUPP;
}
