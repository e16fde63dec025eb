/*
 * path.h - Node-RED message property paths: `payload.a[0]["b c"]`,
 * including nested references such as `payload[msg.topic]`.
 *
 * Parsing follows RED.util.normalisePropertyExpression, with the same error
 * texts. Get/set/delete follow RED.util.getMessageProperty /
 * setMessageProperty, writing through copy-on-write so only the path being
 * changed is copied.
 */
#ifndef EDGEFLOW_PATH_H
#define EDGEFLOW_PATH_H

#include <edgeflow/val.h>

struct ef_path;

/*
 * Parses `expr` as normalisePropertyExpression does: a leading "msg." is NOT
 * stripped here ("msg.a" is the keys msg, a). ef_msg_get/ef_msg_set_take/
 * ef_msg_delete strip it first, as getMessageProperty/setMessageProperty
 * do; nested references `[msg.x]` are resolved that way too. Returns a new path the
 * caller frees with ef_path_free(), or NULL with Node-RED's error text in
 * err (e.g. "Invalid property expression: unexpected . at position 3").
 */
struct ef_path *ef_path_parse(const char *expr, char *err, size_t errlen);
void ef_path_free(struct ef_path *p);
/* The text the path was parsed from (borrowed). */
const char *ef_path_text(const struct ef_path *p);
/* Number of segments; segment i is a string key, an index, or a nested path. */
size_t ef_path_nsegs(const struct ef_path *p);
/* Returns the first segment as a key if it is a plain string key, else NULL. */
const char *ef_path_first_key(const struct ef_path *p);

/*
 * Gets the value at `p` under `root` (borrowed; NULL if absent). `msg` is the
 * message nested references (`[msg.x]`) are resolved against; may be NULL,
 * and then a nested reference resolves to absent.
 */
struct ef_val *ef_path_get(const struct ef_val *root, const struct ef_path *p,
                           const struct ef_val *msg);
/*
 * Sets the value at `p` under *root, adopting `v` on success. Shared nodes on
 * the way are copied (copy-on-write) and *root may be replaced. With
 * `create_missing`, absent intermediates are created (an array when the next
 * segment is an index, else an object); without it, a missing intermediate
 * leaves everything unchanged and returns EF_ENOENT (the caller still owns v).
 * Returns 0, EF_ENOENT, EF_ETYPE (cannot descend into a primitive), EF_ENOMEM.
 */
int ef_path_set_take(struct ef_val **root, const struct ef_path *p, struct ef_val *v,
                     bool create_missing, const struct ef_val *msg);
/* Deletes the value at `p`; 0 if deleted or already absent. */
int ef_path_delete(struct ef_val **root, const struct ef_path *p, const struct ef_val *msg);

#endif
