/*
 * idmap.h - a string-keyed hash map of node ids to pointers.
 */
#ifndef EF_IDMAP_H
#define EF_IDMAP_H

#include <stddef.h>

struct id_map;

struct id_map *idmap__new(void);
void idmap__free(struct id_map *m);
/* Adds key (copied) -> value. Returns 0, EF_EEXIST or EF_ENOMEM. */
int idmap__put(struct id_map *m, const char *key, void *value);
/* Adds key -> value, or replaces the value if key is present. 0 or EF_ENOMEM. */
int idmap__set(struct id_map *m, const char *key, void *value);
/* The value for key, or NULL. */
void *idmap__get(const struct id_map *m, const char *key);

#endif
