/*
 * val_internal.h - the layout of struct ef_val, for the engine's own hot
 * paths (JSON, paths, JSONata). Plugins see only the accessors in val.h.
 */
#ifndef EF_VAL_INTERNAL_H
#define EF_VAL_INTERNAL_H

#include <edgeflow/val.h>

enum {
    VAL_F_IMMORTAL = 1, /* static singleton: refcounting is skipped */
    VAL_F_INLINE = 2,   /* string/buffer bytes live right after the struct */
};

struct ef_obj_ent {
    struct ef_val *key; /* an EF_STR value, shared between copies */
    struct ef_val *val;
    uint32_t hash;
    uint32_t index; /* numeric value of an array-index key (entries < nidx) */
};

struct ef_val {
    uint32_t refs;
    uint8_t type;
    uint8_t flags;
    union {
        bool b;
        double n;
        struct {
            char *p; /* NUL-terminated */
            size_t len;
        } s;
        struct {
            uint8_t *p;
            size_t len;
        } buf;
        struct {
            struct ef_val **items;
            size_t len, cap;
        } arr;
        struct {
            struct ef_obj_ent *ents;
            size_t len, cap;
            size_t nidx;     /* leading entries whose keys are array indexes */
            uint32_t *index; /* open-addressing table of ent+1, or NULL */
            size_t index_cap;
        } obj;
        struct {
            void *p;
            const struct ef_handle_type *t;
        } h;
    } u;
};

/* Aborts with a message: for broken invariants only, never for bad input. */
_Noreturn void ef_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
