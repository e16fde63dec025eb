/*
 * msg.h - messages: a refcounted object value plus its identity.
 *
 * A message wraps an object tree. ef_msg_share() gives another message over
 * the same tree (fan-out shares, it never deep-copies); the first write
 * through either copies only what it changes, so no receiver sees another
 * receiver's change.
 *
 * Ownership: every struct ef_msg has exactly one owner. A node's input
 * handler owns the message it receives and must either send it on
 * (ef_node_send) or free it (ef_msg_free), exactly once.
 */
#ifndef EDGEFLOW_MSG_H
#define EDGEFLOW_MSG_H

#include <edgeflow/path.h>
#include <edgeflow/val.h>

struct ef_msg;

/* New empty message with a fresh `_msgid`. Caller owns it; NULL on OOM. */
struct ef_msg *ef_msg_new(void);
/*
 * New message over object `obj`, adopting the reference on success (on
 * failure the caller keeps it). A `_msgid` is added if absent.
 */
struct ef_msg *ef_msg_new_take(struct ef_val *obj);
/* Another message sharing `m`'s tree (same _msgid). Caller owns it. */
struct ef_msg *ef_msg_share(const struct ef_msg *m);
/* A message with a deep copy of `m`'s tree (RED.util.cloneMessage). */
struct ef_msg *ef_msg_clone(const struct ef_msg *m);
/* Frees the message (NULL-safe). */
void ef_msg_free(struct ef_msg *m);

/* The root object (borrowed, read-only view). */
const struct ef_val *ef_msg_root(const struct ef_msg *m);
/* The root made writable (copy-on-write); NULL on OOM. Borrowed. */
struct ef_val *ef_msg_mut(struct ef_msg *m);
/* Slot of the root, for ef_path_* calls that may replace it. */
struct ef_val **ef_msg_slot(struct ef_msg *m);
/* Value at a property path (borrowed; NULL if absent or the path is bad). */
struct ef_val *ef_msg_get(const struct ef_msg *m, const char *path);
/* Sets a property path (creating intermediates), adopting v on success. */
int ef_msg_set_take(struct ef_msg *m, const char *path, struct ef_val *v);
/* Deletes a property path; 0 if deleted or absent. */
int ef_msg_delete(struct ef_msg *m, const char *path);
/* The message id (borrowed; "" if none). */
const char *ef_msg_id(const struct ef_msg *m);
/* Writes a new Node-RED style id (16 lowercase hex chars + NUL) into out. */
void ef_id_new(char out[17]);

#endif
