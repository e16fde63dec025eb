/*
 * inject.h - what the admin API calls to fire an inject node (Node-RED's
 * `POST /inject/:id`).
 */
#ifndef EF_NODES_INJECT_H
#define EF_NODES_INJECT_H

#include <edgeflow/node.h>

/*
 * Fires inject node n now, as the editor's button does: a message with a
 * fresh _msgid, then the node's configured properties. Returns 0, or
 * EF_EINVAL if n is not an inject node (or is closed), EF_ENOMEM.
 */
int inject__trigger(struct ef_node *n);

/*
 * As inject__trigger, with the request body: when `body` (may be NULL) has
 * an array `__user_inject_props__` ({p, v, vt} objects, the editor's
 * "inject now" with custom properties), those are set instead of the
 * node's own, as Node-RED's node.receive(req.body) does.
 */
int inject__trigger_body(struct ef_node *n, const struct ef_val *body);

#endif
