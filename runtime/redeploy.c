/*
 * redeploy.c - the change analysis behind "modified nodes" and "modified
 * flows" deploys (Node-RED's diffConfigs, reduced to what edgeflow needs:
 * which nodes can stay as they are). A node counts as changed when its own
 * entry changed (other than x, y and wires: rewiring never restarts a node),
 * when the env of its tab, of a group around it or of global-config changed,
 * when a config node it refers to changed, or, for a subflow instance, when
 * anything in the subflow changed.
 */
#include <stdlib.h>
#include <string.h>

#include "redeploy.h"

struct plan {
    const struct ef_val *oldf, *newf;
    struct id_map *old_ids, *new_ids;
    struct id_map *memo; /* id -> (void *)1 unchanged, (void *)2 changed */
};

static const struct ef_val *flows_array(const struct ef_val *config)
{
    return ef_val_type(config) == EF_OBJ ? ef_val_obj_get(config, "flows") : config;
}

static const char *str_at(const struct ef_val *o, const char *key)
{
    const struct ef_val *v = ef_val_obj_get(o, key);
    return ef_val_type(v) == EF_STR ? ef_val_str_get(v) : NULL;
}

static bool ignored_key(const char *type, const char *k)
{
    if (!strcmp(k, "x") || !strcmp(k, "y") || !strcmp(k, "wires")) {
        return true;
    }
    return type && !strcmp(type, "group") &&
           (!strcmp(k, "nodes") || !strcmp(k, "style") || !strcmp(k, "w") || !strcmp(k, "h"));
}

/* Node-RED's diffNodes: true when the entries differ in a key that matters. */
static bool entries_differ(const struct ef_val *a, const struct ef_val *b)
{
    if (!a || !b) {
        return a != b;
    }
    const char *type = str_at(b, "type");
    size_t na = 0, nb = 0;
    for (size_t i = 0; i < ef_val_obj_len(a); i++) {
        na += !ignored_key(type, ef_val_obj_key_at(a, i, NULL));
    }
    for (size_t i = 0; i < ef_val_obj_len(b); i++) {
        size_t kl;
        const char *k = ef_val_obj_key_at(b, i, &kl);
        if (ignored_key(type, k)) {
            continue;
        }
        nb++;
        if (!ef_val_equal(ef_val_obj_getn(a, k, kl), ef_val_obj_val_at(b, i))) {
            return true;
        }
    }
    return na != nb;
}

static struct id_map *index_by_id(const struct ef_val *flows)
{
    struct id_map *m = idmap__new();
    for (size_t i = 0; m && i < ef_val_arr_len(flows); i++) {
        const struct ef_val *e = ef_val_arr_at(flows, i);
        const char *id = str_at(e, "id");
        if (id) {
            idmap__put(m, id, (void *)e);
        }
    }
    return m;
}

static bool changed(struct plan *p, const char *id, int depth);

static bool entry_changed(struct plan *p, const char *id)
{
    return entries_differ(idmap__get(p->old_ids, id), idmap__get(p->new_ids, id));
}

/* Did anything with z == sid (the subflow's own nodes) change, or appear or go? */
static bool subflow_changed(struct plan *p, const char *sid, int depth)
{
    if (entry_changed(p, sid)) {
        return true;
    }
    const struct ef_val *lists[2] = {p->oldf, p->newf};
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; i < ef_val_arr_len(lists[l]); i++) {
            const struct ef_val *e = ef_val_arr_at(lists[l], i);
            const char *z = str_at(e, "z");
            const char *id = str_at(e, "id");
            if (z && id && !strcmp(z, sid) && changed(p, id, depth + 1)) {
                return true;
            }
        }
    }
    return false;
}

static bool changed_uncached(struct plan *p, const char *id, int depth)
{
    const struct ef_val *o = idmap__get(p->old_ids, id);
    const struct ef_val *n = idmap__get(p->new_ids, id);
    if (!o || !n || depth > 32 || entries_differ(o, n)) {
        return true;
    }
    const char *type = str_at(n, "type");
    if (type && !strncmp(type, "subflow:", 8) && subflow_changed(p, type + 8, depth)) {
        return true;
    }
    const char *z = str_at(n, "z");
    const struct ef_val *tab = z && *z ? idmap__get(p->new_ids, z) : NULL;
    const char *ztype = str_at(tab, "type");
    if (ztype && !strcmp(ztype, "tab") && entry_changed(p, z)) {
        return true; /* the tab's env (or label, NR_FLOW_NAME) changed */
    }
    /* Groups around it, outermost included. */
    const char *g = str_at(n, "g");
    for (int hops = 0; g && *g && hops < 64; hops++) {
        if (entry_changed(p, g)) {
            return true;
        }
        g = str_at(idmap__get(p->new_ids, g), "g");
    }
    /* Config nodes it refers to by id in a top-level property. */
    for (size_t i = 0; i < ef_val_obj_len(n); i++) {
        const char *k = ef_val_obj_key_at(n, i, NULL);
        const struct ef_val *v = ef_val_obj_val_at(n, i);
        if (ef_val_type(v) != EF_STR || !strcmp(k, "id") || !strcmp(k, "z") || !strcmp(k, "g") ||
            !strcmp(k, "type")) {
            continue;
        }
        const struct ef_val *ref = idmap__get(p->new_ids, ef_val_str_get(v));
        if (ref && !ef_val_obj_get(ref, "x") && ref != n &&
            changed(p, ef_val_str_get(v), depth + 1)) {
            return true;
        }
    }
    return false;
}

#define MEMO_UNCHANGED ((void *)1)
#define MEMO_CHANGED ((void *)2)

static bool changed(struct plan *p, const char *id, int depth)
{
    void *m = idmap__get(p->memo, id);
    if (m) {
        return m == MEMO_CHANGED;
    }
    idmap__put(p->memo, id, MEMO_CHANGED); /* a reference cycle counts as changed */
    bool c = changed_uncached(p, id, depth);
    idmap__set(p->memo, id, c ? MEMO_CHANGED : MEMO_UNCHANGED);
    return c;
}

static bool is_unchanged(struct plan *p, const char *id)
{
    return !changed(p, id, 0);
}

struct id_map *redeploy__plan(const struct ef_val *old_config, const struct ef_val *new_config,
                              enum ef_deploy_type type)
{
    if (type != EF_DEPLOY_NODES && type != EF_DEPLOY_FLOWS) {
        return NULL;
    }
    struct plan p = {flows_array(old_config), flows_array(new_config), NULL, NULL, NULL};
    p.old_ids = index_by_id(p.oldf);
    p.new_ids = index_by_id(p.newf);
    p.memo = idmap__new();
    struct id_map *carry = idmap__new();
    struct id_map *dirty_tabs = idmap__new();
    if (!p.old_ids || !p.new_ids || !p.memo || !carry || !dirty_tabs) {
        idmap__free(carry);
        carry = NULL;
        goto done;
    }
    /* global-config env reaches every node. */
    bool global_changed = false;
    const struct ef_val *lists[2] = {p.oldf, p.newf};
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; i < ef_val_arr_len(lists[l]); i++) {
            const struct ef_val *e = ef_val_arr_at(lists[l], i);
            const char *t = str_at(e, "type");
            const char *id = str_at(e, "id");
            if (t && id && !strcmp(t, "global-config") && entry_changed(&p, id)) {
                global_changed = true;
            }
        }
    }
    if (global_changed) {
        goto done;
    }
    if (type == EF_DEPLOY_FLOWS) {
        /* A tab with any change (a node changed, added or removed) restarts whole. */
        for (int l = 0; l < 2; l++) {
            for (size_t i = 0; i < ef_val_arr_len(lists[l]); i++) {
                const struct ef_val *e = ef_val_arr_at(lists[l], i);
                const char *id = str_at(e, "id");
                const char *z = str_at(e, "z");
                const char *t = str_at(e, "type");
                if (!id) {
                    continue;
                }
                if (t && !strcmp(t, "tab") && entry_changed(&p, id)) {
                    idmap__put(dirty_tabs, id, (void *)1);
                }
                if (z && *z && !is_unchanged(&p, id)) {
                    idmap__put(dirty_tabs, z, (void *)1);
                }
            }
        }
    }
    for (size_t i = 0; i < ef_val_arr_len(p.newf); i++) {
        const struct ef_val *e = ef_val_arr_at(p.newf, i);
        const char *id = str_at(e, "id");
        const char *z = str_at(e, "z");
        const char *t = str_at(e, "type");
        if (!id || !t || !strcmp(t, "tab") || !strcmp(t, "subflow") || !strcmp(t, "group")) {
            continue;
        }
        const struct ef_val *zt = z && *z ? idmap__get(p.new_ids, z) : NULL;
        const char *ztype = str_at(zt, "type");
        if (zt && (!ztype || strcmp(ztype, "tab") != 0)) {
            continue; /* inside a subflow template: follows its instance */
        }
        if (z && *z && idmap__get(dirty_tabs, z)) {
            continue;
        }
        if (is_unchanged(&p, id)) {
            idmap__put(carry, id, (void *)1);
        }
    }
done:
    idmap__free(p.old_ids);
    idmap__free(p.new_ids);
    idmap__free(p.memo);
    idmap__free(dirty_tabs);
    return carry;
}
