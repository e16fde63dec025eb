/*
 * context.c - node, flow and global context with named stores.
 *
 * Stores are configured as Node-RED's contextStorage: `memory` (default) or
 * `localfilesystem`/`file` (persistent). A file store keeps everything in
 * memory, loads a scope's file the first time it is used, and writes dirty
 * scopes atomically on ctx__flush() (run on a timer and at shutdown), in
 * Node-RED's layout: context/global/global.json, context/<flow>/flow.json,
 * context/<flow>/<node>.json. Keys are property paths ("a.b[0]"); a flow
 * key "$parent.x" reads the flow containing a subflow instance.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "storage.h"

#define CTX_FILE_MAX (256u << 20)

struct ctx_store {
    char *name;
    bool persistent;
    char *dir;            /* <userDir>/context for file stores */
    struct ef_val *data;  /* scope id -> object */
    struct ef_val *dirty; /* scope id -> true, for file stores */
};

struct ef_ctx_stores {
    struct ctx_store *s;
    size_t n;
    size_t def;
};

static int add_store(struct ef_ctx_stores *c, const char *name, const char *module,
                     const char *user_dir, char *err, size_t errlen)
{
    bool file = !strcmp(module, "localfilesystem") || !strcmp(module, "file");
    if (!file && strcmp(module, "memory") != 0) {
        snprintf(err, errlen, "contextStorage.%s: unknown module '%s' (memory, localfilesystem)",
                 name, module);
        return EF_EINVAL;
    }
    struct ctx_store *s = realloc(c->s, (c->n + 1) * sizeof(*s));
    if (!s) {
        return EF_ENOMEM;
    }
    c->s = s;
    s = &c->s[c->n];
    memset(s, 0, sizeof(*s));
    s->name = strdup(name);
    s->persistent = file;
    s->data = ef_val_obj();
    s->dirty = ef_val_obj();
    if (file) {
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s/context", user_dir && *user_dir ? user_dir : ".");
        s->dir = strdup(dir);
    }
    c->n++;
    if (!s->name || !s->data || !s->dirty || (file && !s->dir)) {
        return EF_ENOMEM;
    }
    return 0;
}

struct ef_ctx_stores *ctx__create(const struct ef_val *cfg, const char *user_dir, char *err,
                                  size_t errlen)
{
    struct ef_ctx_stores *c = calloc(1, sizeof(*c));
    if (!c) {
        return NULL;
    }
    const char *default_alias = NULL;
    for (size_t i = 0; i < ef_val_obj_len(cfg); i++) {
        const char *name = ef_val_obj_key_at(cfg, i, NULL);
        const struct ef_val *v = ef_val_obj_val_at(cfg, i);
        const char *module = ef_val_type(v) == EF_STR ? ef_val_str_get(v)
                                                      : ef_val_str_get(ef_val_obj_get(v, "module"));
        if (!strcmp(name, "default") && ef_val_type(v) == EF_STR &&
            ef_val_obj_get(cfg, ef_val_str_get(v))) {
            default_alias = ef_val_str_get(v); /* default: "file" names another store */
            continue;
        }
        if (add_store(c, name, *module ? module : "memory", user_dir, err, errlen) != 0) {
            ctx__destroy(c);
            return NULL;
        }
    }
    if (c->n == 0 && add_store(c, "default", "memory", user_dir, err, errlen) != 0) {
        ctx__destroy(c);
        return NULL;
    }
    c->def = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (!strcmp(c->s[i].name, default_alias ? default_alias : "default")) {
            c->def = i;
        }
    }
    return c;
}

static struct ctx_store *find_store(struct ef_ctx_stores *c, const char *name)
{
    if (!name || !*name) {
        return &c->s[c->def];
    }
    if (!strcmp(name, "default")) {
        return &c->s[c->def];
    }
    for (size_t i = 0; i < c->n; i++) {
        if (!strcmp(c->s[i].name, name)) {
            return &c->s[i];
        }
    }
    return NULL;
}

/* File of a scope id: "global", "<flow>", or "<node>:<flow>". */
static void scope_file(const struct ctx_store *s, const char *sid, char *out, size_t len)
{
    const char *colon = strchr(sid, ':');
    if (!strcmp(sid, "global")) {
        snprintf(out, len, "%s/global/global.json", s->dir);
    } else if (colon) {
        snprintf(out, len, "%s/%s/%.*s.json", s->dir, colon + 1, (int)(colon - sid), sid);
    } else {
        snprintf(out, len, "%s/%s/flow.json", s->dir, sid);
    }
}

/* The slot holding a scope's object, created (and loaded from disk) on first use. */
static struct ef_val **scope_slot(struct ctx_store *s, const char *sid, bool create)
{
    struct ef_val **slot = ef_val_obj_slot(s->data, sid, strlen(sid));
    if (slot || !create) {
        return slot;
    }
    struct ef_val *obj = NULL;
    if (s->persistent) {
        char path[4400];
        scope_file(s, sid, path, sizeof(path));
        size_t len;
        char *text = storage__read_file(path, CTX_FILE_MAX, &len);
        if (text) {
            char err[128];
            obj = ef_json_parse(text, len, err, sizeof(err));
            if (!obj || ef_val_type(obj) != EF_OBJ) {
                ef_log_warn("context file %s is not a JSON object (%s): starting empty", path,
                            obj ? "wrong type" : err);
                ef_val_unref(obj);
                obj = NULL;
            }
            free(text);
        }
    }
    if (!obj && !(obj = ef_val_obj())) {
        return NULL;
    }
    if (ef_val_obj_set_take(s->data, sid, obj) != 0) {
        ef_val_unref(obj);
        return NULL;
    }
    return ef_val_obj_slot(s->data, sid, strlen(sid));
}

/* Works out the scope id for (node, scope) and strips "$parent." prefixes. */
static void scope_id(struct ef_node *n, enum ef_ctx_scope scope, const char **key, char *out,
                     size_t len)
{
    if (scope == EF_CTX_GLOBAL) {
        snprintf(out, len, "global");
        return;
    }
    if (scope == EF_CTX_NODE) {
        snprintf(out, len, "%s:%s", n->alias ? n->alias : n->id, ef_node_flow_id(n));
        return;
    }
    struct ef_scope *f = n->flow;
    while (!strncmp(*key, "$parent.", 8) && f && f->kind == SCOPE_SUBFLOW && f->instance) {
        *key += 8;
        f = f->instance->flow;
    }
    snprintf(out, len, "%s", f && f->kind != SCOPE_GLOBAL ? f->id : "global");
}

struct ef_val *ef_ctx_get(struct ef_node *n, enum ef_ctx_scope scope, const char *store,
                          const char *key)
{
    struct ctx_store *s = find_store(n->fs->rt->ctx, store);
    if (!s) {
        ef_node_warn(n, "Unknown context store '%s'", store);
        return NULL;
    }
    char sid[512];
    scope_id(n, scope, &key, sid, sizeof(sid));
    struct ef_val **slot = scope_slot(s, sid, s->persistent);
    if (!slot) {
        return NULL;
    }
    struct ef_path *p = ef_path_parse(key, NULL, 0);
    if (!p) {
        return NULL;
    }
    struct ef_val *v = ef_path_get(*slot, p, NULL);
    ef_path_free(p);
    return ef_val_ref(v);
}

int ef_ctx_set_take(struct ef_node *n, enum ef_ctx_scope scope, const char *store, const char *key,
                    struct ef_val *v)
{
    struct ctx_store *s = find_store(n->fs->rt->ctx, store);
    if (!s) {
        return EF_ENOENT;
    }
    char sid[512];
    scope_id(n, scope, &key, sid, sizeof(sid));
    struct ef_val **slot = scope_slot(s, sid, true);
    if (!slot) {
        return EF_ENOMEM;
    }
    char err[200];
    struct ef_path *p = ef_path_parse(key, err, sizeof(err));
    if (!p) {
        return EF_EINVAL;
    }
    int rc = v ? ef_path_set_take(slot, p, v, true, NULL) : ef_path_delete(slot, p, NULL);
    ef_path_free(p);
    if (rc == 0 && s->persistent) {
        ef_val_obj_set_take(s->dirty, sid, ef_val_bool(true));
    }
    return rc;
}

struct ef_val *ef_ctx_keys(struct ef_node *n, enum ef_ctx_scope scope, const char *store)
{
    struct ctx_store *s = find_store(n->fs->rt->ctx, store);
    if (!s) {
        return NULL;
    }
    char sid[512];
    const char *key = "";
    scope_id(n, scope, &key, sid, sizeof(sid));
    struct ef_val **slot = scope_slot(s, sid, s->persistent);
    struct ef_val *keys = ef_val_arr();
    for (size_t i = 0; keys && slot && i < ef_val_obj_len(*slot); i++) {
        size_t kl;
        const char *k = ef_val_obj_key_at(*slot, i, &kl);
        ef_val_arr_push_take(keys, ef_val_strn(k, kl));
    }
    return keys;
}

const char *ef_ctx_parse_store(const char *in, char *store, size_t storelen)
{
    store[0] = '\0';
    if (!strncmp(in, "#:(", 3)) {
        const char *close = strstr(in + 3, ")::");
        if (close) {
            snprintf(store, storelen, "%.*s", (int)(close - in - 3), in + 3);
            return close + 3;
        }
    }
    return in;
}

void ctx__flush(struct ef_ctx_stores *c)
{
    for (size_t i = 0; c && i < c->n; i++) {
        struct ctx_store *s = &c->s[i];
        if (!s->persistent) {
            continue;
        }
        while (ef_val_obj_len(s->dirty)) {
            size_t kl;
            const char *sid = ef_val_obj_key_at(s->dirty, 0, &kl);
            char id[512], path[4400];
            snprintf(id, sizeof(id), "%.*s", (int)kl, sid);
            ef_val_obj_del(s->dirty, sid, kl);
            scope_file(s, id, path, sizeof(path));
            size_t len;
            char *text = ef_json_print(ef_val_obj_get(s->data, id), EF_JSON_PRETTY, &len);
            if (!text || storage__write_atomic(path, text, len, 0) != 0) {
                ef_log_error("context store %s: cannot write %s", s->name, path);
            }
            free(text);
        }
    }
}

void ctx__delete_node(struct ef_ctx_stores *c, const char *node_id)
{
    size_t idl = strlen(node_id);
    for (size_t i = 0; c && i < c->n; i++) {
        struct ctx_store *s = &c->s[i];
        for (size_t j = 0; j < ef_val_obj_len(s->data);) {
            size_t kl;
            const char *k = ef_val_obj_key_at(s->data, j, &kl);
            if (kl > idl && !strncmp(k, node_id, idl) && k[idl] == ':') {
                ef_val_obj_del(s->data, k, kl);
            } else {
                j++;
            }
        }
    }
}

void ctx__destroy(struct ef_ctx_stores *c)
{
    if (!c) {
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        free(c->s[i].name);
        free(c->s[i].dir);
        ef_val_unref(c->s[i].data);
        ef_val_unref(c->s[i].dirty);
    }
    free(c->s);
    free(c);
}
