/*
 * idmap.c - open-addressing hash map from id strings to pointers, used to
 * find nodes by id while building and running a flow set.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <edgeflow/err.h>
#include "idmap.h"

struct id_slot {
    char *key;
    void *value;
};

struct id_map {
    struct id_slot *slots;
    size_t cap, n;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s) {
        h = (h ^ (uint8_t)*s++) * 1099511628211ull;
    }
    return h;
}

struct id_map *idmap__new(void)
{
    struct id_map *m = calloc(1, sizeof(*m));
    if (m) {
        m->cap = 64;
        m->slots = calloc(m->cap, sizeof(*m->slots));
        if (!m->slots) {
            free(m);
            return NULL;
        }
    }
    return m;
}

void idmap__free(struct id_map *m)
{
    if (!m) {
        return;
    }
    for (size_t i = 0; i < m->cap; i++) {
        free(m->slots[i].key);
    }
    free(m->slots);
    free(m);
}

static int grow(struct id_map *m)
{
    size_t cap = m->cap * 2;
    struct id_slot *s = calloc(cap, sizeof(*s));
    if (!s) {
        return EF_ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].key) {
            size_t p = hash_str(m->slots[i].key) & (cap - 1);
            while (s[p].key) {
                p = (p + 1) & (cap - 1);
            }
            s[p] = m->slots[i];
        }
    }
    free(m->slots);
    m->slots = s;
    m->cap = cap;
    return 0;
}

int idmap__put(struct id_map *m, const char *key, void *value)
{
    if ((m->n + 1) * 2 > m->cap && grow(m) != 0) {
        return EF_ENOMEM;
    }
    size_t p = hash_str(key) & (m->cap - 1);
    while (m->slots[p].key) {
        if (!strcmp(m->slots[p].key, key)) {
            return EF_EEXIST;
        }
        p = (p + 1) & (m->cap - 1);
    }
    if (!(m->slots[p].key = strdup(key))) {
        return EF_ENOMEM;
    }
    m->slots[p].value = value;
    m->n++;
    return 0;
}

int idmap__set(struct id_map *m, const char *key, void *value)
{
    size_t p = hash_str(key) & (m->cap - 1);
    while (m->slots[p].key) {
        if (!strcmp(m->slots[p].key, key)) {
            m->slots[p].value = value;
            return 0;
        }
        p = (p + 1) & (m->cap - 1);
    }
    return idmap__put(m, key, value);
}

void *idmap__get(const struct id_map *m, const char *key)
{
    size_t p = hash_str(key) & (m->cap - 1);
    while (m->slots[p].key) {
        if (!strcmp(m->slots[p].key, key)) {
            return m->slots[p].value;
        }
        p = (p + 1) & (m->cap - 1);
    }
    return NULL;
}
