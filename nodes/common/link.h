/*
 * link.h - what the link nodes share: link out (return mode) hands a message
 * back to the link call node that sent it.
 */
#ifndef EF_NODES_LINK_H
#define EF_NODES_LINK_H

#include <edgeflow/edgeflow.h>

/*
 * Returns msg (adopted) to the link call node `call` for the call event
 * `event_id`. Returns 0, or EF_ENOENT when `call` is not a link call node
 * (then the caller still owns msg).
 */
int link_call__return(struct ef_node *call, const char *event_id, struct ef_msg *msg);

#endif
