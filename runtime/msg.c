/*
 * msg.c - messages: an object tree shared by reference, plus its _msgid.
 *
 * A struct ef_msg is a one-pointer wrapper so that copy-on-write can swap
 * the root without the caller noticing. Wrappers are recycled through a
 * small per-thread free list, since every delivery to a wire makes one.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <edgeflow/err.h>
#include <edgeflow/msg.h>
#include <edgeflow/path.h>
#include "val_internal.h"

struct ef_msg {
    struct ef_val *root; /* always an object */
    struct ef_msg *next_free;
};

#define MSG_FREE_MAX 4096

static _Thread_local struct ef_msg *msg_free_list;
static _Thread_local size_t msg_free_count;
static _Thread_local uint64_t id_state[2];

static struct ef_msg *msg_alloc(struct ef_val *root)
{
    struct ef_msg *m = msg_free_list;
    if (m) {
        msg_free_list = m->next_free;
        msg_free_count--;
    } else {
        m = malloc(sizeof(*m));
        if (!m) {
            return NULL;
        }
    }
    m->root = root;
    m->next_free = NULL;
    return m;
}

/* xorshift128+ seeded once per thread from the kernel. */
static uint64_t id_next(void)
{
    if (id_state[0] == 0 && id_state[1] == 0) {
        if (getrandom(id_state, sizeof(id_state), 0) != sizeof(id_state)) {
            id_state[0] = (uint64_t)(uintptr_t)&id_state ^ 0x9e3779b97f4a7c15ull;
        }
        id_state[1] |= 1;
    }
    uint64_t s1 = id_state[0];
    const uint64_t s0 = id_state[1];
    id_state[0] = s0;
    s1 ^= s1 << 23;
    id_state[1] = s1 ^ s0 ^ (s1 >> 18) ^ (s0 >> 5);
    return id_state[1] + s0;
}

void ef_id_new(char out[17])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t r = id_next();
    for (int i = 15; i >= 0; i--) {
        out[i] = hex[r & 15];
        r >>= 4;
    }
    out[16] = '\0';
}

struct ef_msg *ef_msg_new_take(struct ef_val *obj)
{
    if (!obj || ef_val_type(obj) != EF_OBJ) {
        return NULL;
    }
    if (!ef_val_obj_get(obj, "_msgid")) {
        if (!ef_val_mut(&obj)) {
            return NULL;
        }
        char id[17];
        ef_id_new(id);
        struct ef_val *idv = ef_val_strn(id, 16);
        if (!idv || ef_val_obj_set_take(obj, "_msgid", idv) != 0) {
            ef_val_unref(idv);
            return NULL;
        }
    }
    return msg_alloc(obj);
}

struct ef_msg *ef_msg_new(void)
{
    struct ef_val *obj = ef_val_obj();
    struct ef_msg *m = obj ? ef_msg_new_take(obj) : NULL;
    if (!m) {
        ef_val_unref(obj);
    }
    return m;
}

struct ef_msg *ef_msg_share(const struct ef_msg *m)
{
    return msg_alloc(ef_val_ref(m->root));
}

struct ef_msg *ef_msg_clone(const struct ef_msg *m)
{
    struct ef_val *copy = ef_val_copy(m->root);
    if (!copy) {
        return NULL;
    }
    struct ef_msg *c = msg_alloc(copy);
    if (!c) {
        ef_val_unref(copy);
    }
    return c;
}

void ef_msg_free(struct ef_msg *m)
{
    if (!m) {
        return;
    }
    ef_val_unref(m->root);
    if (msg_free_count < MSG_FREE_MAX) {
        m->next_free = msg_free_list;
        msg_free_list = m;
        msg_free_count++;
    } else {
        free(m);
    }
}

const struct ef_val *ef_msg_root(const struct ef_msg *m)
{
    return m->root;
}

struct ef_val *ef_msg_mut(struct ef_msg *m)
{
    return ef_val_mut(&m->root);
}

struct ef_val **ef_msg_slot(struct ef_msg *m)
{
    return &m->root;
}

/* True if `path` is a plain key that needs no parsing ("payload"). */
static bool plain_key(const char *path)
{
    if (!*path) {
        return false;
    }
    for (const char *p = path; *p; p++) {
        if (*p == '.' || *p == '[' || *p == ']' || *p == '"' || *p == '\'' || *p == ' ') {
            return false;
        }
    }
    return true;
}

static const char *strip_msg(const char *path)
{
    return strncmp(path, "msg.", 4) == 0 ? path + 4 : path;
}

struct ef_val *ef_msg_get(const struct ef_msg *m, const char *path)
{
    path = strip_msg(path);
    if (plain_key(path)) {
        return ef_val_obj_get(m->root, path);
    }
    struct ef_path *p = ef_path_parse(path, NULL, 0);
    if (!p) {
        return NULL;
    }
    struct ef_val *v = ef_path_get(m->root, p, m->root);
    ef_path_free(p);
    return v;
}

int ef_msg_set_take(struct ef_msg *m, const char *path, struct ef_val *v)
{
    path = strip_msg(path);
    if (plain_key(path)) {
        if (!ef_val_mut(&m->root)) {
            return EF_ENOMEM;
        }
        return ef_val_obj_set_take(m->root, path, v);
    }
    struct ef_path *p = ef_path_parse(path, NULL, 0);
    if (!p) {
        return EF_EINVAL;
    }
    /* ef_path_* resolve nested [msg.x] references before changing anything. */
    int rc = ef_path_set_take(&m->root, p, v, true, m->root);
    ef_path_free(p);
    return rc;
}

int ef_msg_delete(struct ef_msg *m, const char *path)
{
    path = strip_msg(path);
    struct ef_path *p = ef_path_parse(path, NULL, 0);
    if (!p) {
        return EF_EINVAL;
    }
    int rc = ef_path_delete(&m->root, p, m->root);
    ef_path_free(p);
    return rc;
}

const char *ef_msg_id(const struct ef_msg *m)
{
    return ef_val_str_get(ef_val_obj_get(m->root, "_msgid"));
}

/* Wraps an object as a message without adding a _msgid (Node-RED builds
 * some messages, such as catch's error message without an input, bare). */
struct ef_msg *msg__wrap(struct ef_val *root)
{
    return msg_alloc(root);
}
