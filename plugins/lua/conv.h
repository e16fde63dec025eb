/*
 * conv.h - edgeflow values to Lua values and back (docs/plugins.md,
 * "Message conversion"), the Buffer userdata, the `null` sentinel and the
 * array marker.
 */
#ifndef EF_LUA_CONV_H
#define EF_LUA_CONV_H

#include <edgeflow/edgeflow.h>

#include "sandbox.h"

/*
 * Remembers which Lua table was made from which edgeflow object during one
 * call, so that converting back keeps the original key order. Borrowed
 * pointers; valid while the source message lives.
 */
struct conv_map {
    const void **tables;
    const struct ef_val **objs;
    size_t n, cap; /* cap is a power of two (open addressing) or 0 */
};

/* Empties the map (keeps its memory). */
void conv_map_reset(struct conv_map *m);
void conv_map_free(struct conv_map *m);

/*
 * Installs Buffer, null, array(), JSON and the metatables in the sandbox
 * environment. Runs in protected mode (may raise).
 */
void conv_open(lua_State *L, struct lsb *sb);

/*
 * Pushes v as a Lua value (may raise a memory error, so call it in
 * protected mode). NULL pushes nil. Records objects in `map` when not NULL.
 */
void conv_push(lua_State *L, const struct ef_val *v, struct conv_map *map);

/* conv_push(v) that also drops the caller's reference, even when it raises. */
void conv_push_take(lua_State *L, struct ef_val *v);
/* Pushes a malloc'ed string and frees it, even when it raises. */
void conv_push_text_take(lua_State *L, char *text, size_t len);

/*
 * Converts the Lua value at idx to a new edgeflow value. Never raises.
 * Returns NULL with a reason in err on failure (unconvertible key, cycle or
 * too deep, out of memory). nil gives ef null. Functions and other
 * non-data values are skipped in objects and become null in arrays, as
 * JSON.stringify does.
 */
struct ef_val *conv_to_val(lua_State *L, int idx, const struct conv_map *map, char *err,
                           size_t errlen);

/* True if the value at idx is a table that converts to an array. */
bool conv_is_array(lua_State *L, int idx);

#endif
