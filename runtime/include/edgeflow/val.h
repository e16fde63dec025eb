/*
 * val.h - edgeflow values: the refcounted tree that messages are made of.
 *
 * A value is null, bool, number (IEEE double), string (UTF-8 bytes with a
 * length), buffer (bytes), array, object (keys kept in JavaScript order) or a
 * handle (an opaque refcounted pointer such as an HTTP response, shared and
 * never copied, like Node-RED's msg.req/msg.res).
 *
 * Ownership rules:
 *   - Every function that returns `struct ef_val *` and whose name contains
 *     new/copy/ref/take/parse returns a reference the caller owns and must
 *     drop with ef_val_unref().
 *   - Getters (ef_val_obj_get, ef_val_arr_at, ...) return borrowed pointers,
 *     valid while the container is alive and unchanged.
 *   - `_take` setters adopt the caller's reference on success only; on
 *     failure the caller still owns it.
 *   - A value with more than one reference is shared and therefore
 *     immutable. Writers go through ef_val_mut(), which makes a shallow copy
 *     when the value is shared (copy-on-write), so only the path being
 *     changed is copied.
 *   - Refcounts are not atomic: values are touched only on the loop thread,
 *     or handed whole to one other thread and back.
 */
#ifndef EDGEFLOW_VAL_H
#define EDGEFLOW_VAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ef_type {
    EF_NULL = 0,
    EF_BOOL,
    EF_NUM,
    EF_STR,
    EF_BUF,
    EF_ARR,
    EF_OBJ,
    EF_HANDLE,
};

struct ef_val;

/* Describes a handle type: its name and how to free the pointer. */
struct ef_handle_type {
    const char *name;
    void (*free)(void *ptr);
};

/* ---- Construction (each returns a new reference or NULL on OOM) ---- */
struct ef_val *ef_val_null(void);
struct ef_val *ef_val_bool(bool b);
struct ef_val *ef_val_num(double n);
struct ef_val *ef_val_str(const char *s);
struct ef_val *ef_val_strn(const char *s, size_t len);
/* Adopts a malloc'ed NUL-terminated string of `len` bytes; frees it on failure. */
struct ef_val *ef_val_str_take(char *s, size_t len);
struct ef_val *ef_val_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
struct ef_val *ef_val_buf(const void *data, size_t len);
/* Adopts a malloc'ed byte block; frees it on failure. */
struct ef_val *ef_val_buf_take(void *data, size_t len);
struct ef_val *ef_val_arr(void);
struct ef_val *ef_val_obj(void);
/* Wraps `ptr` as a handle; `type->free(ptr)` runs when the last ref goes. */
struct ef_val *ef_val_handle(void *ptr, const struct ef_handle_type *type);

/* ---- References ---- */
/* Adds a reference and returns `v` (NULL-safe). */
struct ef_val *ef_val_ref(struct ef_val *v);
/* Drops a reference (NULL-safe); frees the value at zero. */
void ef_val_unref(struct ef_val *v);
/* Number of references held on `v`. */
uint32_t ef_val_refcount(const struct ef_val *v);
/* Deep copy: a new unshared tree (handles and buffers are shared, not copied). */
struct ef_val *ef_val_copy(const struct ef_val *v);
/*
 * Makes *slot writable: if it is shared, replaces it with a shallow copy
 * (children gain a reference) and drops one reference on the original.
 * Returns the writable value, or NULL on OOM (then *slot is unchanged).
 */
struct ef_val *ef_val_mut(struct ef_val **slot);

/* ---- Inspection ---- */
enum ef_type ef_val_type(const struct ef_val *v);
const char *ef_type_name(enum ef_type t);           /* "null","boolean","number",... */
bool ef_val_bool_get(const struct ef_val *v);       /* false if not a bool */
double ef_val_num_get(const struct ef_val *v);      /* 0 if not a number */
const char *ef_val_str_get(const struct ef_val *v); /* NUL-terminated; "" if not a string */
size_t ef_val_str_len(const struct ef_val *v);
const uint8_t *ef_val_buf_data(const struct ef_val *v);
size_t ef_val_buf_len(const struct ef_val *v);
void *ef_val_handle_ptr(const struct ef_val *v, const struct ef_handle_type *type);
const struct ef_handle_type *ef_val_handle_type(const struct ef_val *v);
/* JavaScript truthiness (0, NaN, "", null, false are falsy). */
bool ef_val_truthy(const struct ef_val *v);
/* Deep structural equality (handles compare by pointer). */
bool ef_val_equal(const struct ef_val *a, const struct ef_val *b);

/* ---- Arrays (ef_val_arr_* on a non-array return NULL / EF_ETYPE) ---- */
size_t ef_val_arr_len(const struct ef_val *a);
struct ef_val *ef_val_arr_at(const struct ef_val *a, size_t i); /* borrowed */
/* Appends, adopting `item` on success. `a` must be unshared. */
int ef_val_arr_push_take(struct ef_val *a, struct ef_val *item);
/* Sets index i (growing with nulls), adopting `item` on success. */
int ef_val_arr_set_take(struct ef_val *a, size_t i, struct ef_val *item);
/* Returns a slot pointer for copy-on-write descent; NULL if out of range. */
struct ef_val **ef_val_arr_slot(struct ef_val *a, size_t i);
int ef_val_arr_remove(struct ef_val *a, size_t i);
int ef_val_arr_insert_take(struct ef_val *a, size_t i, struct ef_val *item);

/* ---- Objects: keys keep JavaScript order (integer keys ascending first) ---- */
size_t ef_val_obj_len(const struct ef_val *o);
struct ef_val *ef_val_obj_get(const struct ef_val *o, const char *key);
struct ef_val *ef_val_obj_getn(const struct ef_val *o, const char *key, size_t klen);
/* i-th key/value in order (borrowed); NULL past the end. */
const char *ef_val_obj_key_at(const struct ef_val *o, size_t i, size_t *klen);
struct ef_val *ef_val_obj_val_at(const struct ef_val *o, size_t i);
/* Sets key (replacing), adopting `item` on success. `o` must be unshared. */
int ef_val_obj_set_take(struct ef_val *o, const char *key, struct ef_val *item);
int ef_val_obj_setn_take(struct ef_val *o, const char *key, size_t klen, struct ef_val *item);
/* Slot pointer for copy-on-write descent; NULL if absent. */
struct ef_val **ef_val_obj_slot(struct ef_val *o, const char *key, size_t klen);
/* Removes key; returns 0, or EF_ENOENT if it was absent. */
int ef_val_obj_del(struct ef_val *o, const char *key, size_t klen);

/* ---- JSON (JavaScript-compatible number printing) ---- */
#define EF_JSON_MAX_DEPTH 512
/*
 * Parses JSON text into a new value. On error returns NULL and, if `err`
 * is not NULL, writes a message naming the position into err (errlen bytes).
 */
struct ef_val *ef_json_parse(const char *text, size_t len, char *err, size_t errlen);
/* Options for ef_json_print. */
enum {
    EF_JSON_PRETTY = 1,     /* indent by 4 spaces (JSON.stringify(v,null,4)) */
    EF_JSON_BUF_OBJECT = 2, /* buffers as {"type":"Buffer","data":[..]} (default) */
};
/*
 * Serialises `v` as JSON.stringify would (buffers as Node's Buffer.toJSON,
 * NaN/Infinity as null, handles as {}). Returns a malloc'ed NUL-terminated
 * string the caller frees, or NULL on OOM; *len (if not NULL) gets its length.
 */
char *ef_json_print(const struct ef_val *v, int flags, size_t *len);
/* Formats a double as JavaScript's Number.prototype.toString does. buf >= 32. */
size_t ef_num_format(double d, char *buf);

#endif
