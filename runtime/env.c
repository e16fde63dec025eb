/*
 * env.c - environment variables as Node-RED resolves them: node, group(s),
 * subflow instance(s), tab, global-config env, then the process env; the
 * NR_* names; "$parent." to skip a level; ${VAR} substitution in node
 * properties (whole-string only, as Node-RED's mapEnvVarProperties); and
 * evaluation of a scope's env list (str, num, bool, json, bin, env, ...).
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "typed.h"

static struct ef_val *str_or_null(const char *s, bool present)
{
    return present && s ? ef_val_str(s) : NULL;
}

struct ef_val *env__get(struct ef_runtime *rt, struct ef_scope *s, const char *name)
{
    while (s) {
        bool skip_own = false;
        if (strncmp(name, "$parent.", 8) == 0) {
            name += 8;
            skip_own = true;
        }
        switch (s->kind) {
        case SCOPE_GROUP:
            if (!strcmp(name, "NR_GROUP_NAME")) {
                return str_or_null(s->name, s->has_name);
            }
            if (!strcmp(name, "NR_GROUP_ID")) {
                return ef_val_str(s->id);
            }
            break;
        case SCOPE_TAB:
            if (!strcmp(name, "NR_FLOW_NAME")) {
                return str_or_null(s->name, s->has_name);
            }
            if (!strcmp(name, "NR_FLOW_ID")) {
                return ef_val_str(s->id);
            }
            break;
        case SCOPE_SUBFLOW:
            if (s->instance) {
                struct ef_node *in = s->instance;
                if (!strcmp(name, "NR_NODE_NAME") || !strcmp(name, "NR_SUBFLOW_NAME")) {
                    return str_or_null(in->name, in->name != NULL);
                }
                if (!strcmp(name, "NR_NODE_ID") || !strcmp(name, "NR_SUBFLOW_ID")) {
                    return ef_val_str(in->id);
                }
                if (!strcmp(name, "NR_NODE_PATH") || !strcmp(name, "NR_SUBFLOW_PATH")) {
                    return ef_val_str(s->path ? s->path : in->id);
                }
            }
            break;
        case SCOPE_GLOBAL: break;
        }
        if (!skip_own && s->env) {
            struct ef_val *v = ef_val_obj_get(s->env, name);
            if (v) {
                return ef_val_ref(v);
            }
        }
        s = s->parent;
    }
    (void)rt;
    const char *pv = getenv(name);
    return pv ? ef_val_str(pv) : NULL;
}

struct ef_val *ef_node_env_get(const struct ef_node *n, const char *name)
{
    if (!strcmp(name, "NR_NODE_NAME")) {
        return str_or_null(n->name, n->name != NULL);
    }
    if (!strcmp(name, "NR_NODE_ID")) {
        return ef_val_str(n->id);
    }
    if (!strcmp(name, "NR_NODE_PATH")) {
        const char *fp = n->flow && n->flow->path ? n->flow->path : "";
        return ef_val_strf("%s/%s", fp, n->alias ? n->alias : n->id);
    }
    struct ef_scope *s = n->group ? n->group : n->flow;
    return env__get(n->fs->rt, s, name);
}

/* Is `s` exactly "${NAME}" or "$(NAME)" with no whitespace in NAME? */
static bool whole_env_ref(const char *s, size_t len)
{
    if (len < 4 || s[0] != '$') {
        return false;
    }
    char open = s[1], close = s[len - 1];
    if (!((open == '{' && close == '}') || (open == '(' && close == ')'))) {
        return false;
    }
    for (size_t i = 2; i + 1 < len; i++) {
        if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f' ||
            s[i] == '\v') {
            return false;
        }
    }
    return true;
}

static int substitute(struct ef_node *n, struct ef_val **slot, int depth)
{
    struct ef_val *v = *slot;
    if (depth > EF_JSON_MAX_DEPTH) {
        return 0;
    }
    switch (ef_val_type(v)) {
    case EF_STR: {
        size_t len = ef_val_str_len(v);
        const char *s = ef_val_str_get(v);
        if (whole_env_ref(s, len)) {
            char name[256];
            size_t nl = len - 3 < sizeof(name) - 1 ? len - 3 : sizeof(name) - 1;
            memcpy(name, s + 2, nl);
            name[nl] = '\0';
            struct ef_val *r = ef_node_env_get(n, name);
            if (r) {
                ef_val_unref(*slot);
                *slot = r;
            }
        }
        return 0;
    }
    case EF_ARR:
        for (size_t i = 0; i < ef_val_arr_len(v); i++) {
            if (ef_val_type(ef_val_arr_at(v, i)) < EF_STR ||
                ef_val_type(ef_val_arr_at(v, i)) == EF_BUF) {
                continue;
            }
            struct ef_val *w = ef_val_mut(slot);
            if (!w) {
                return EF_ENOMEM;
            }
            int rc = substitute(n, ef_val_arr_slot(w, i), depth + 1);
            if (rc) {
                return rc;
            }
            v = w;
        }
        return 0;
    case EF_OBJ:
        for (size_t i = 0; i < ef_val_obj_len(v); i++) {
            enum ef_type t = ef_val_type(ef_val_obj_val_at(v, i));
            if (t != EF_STR && t != EF_ARR && t != EF_OBJ) {
                continue;
            }
            struct ef_val *w = ef_val_mut(slot);
            if (!w) {
                return EF_ENOMEM;
            }
            size_t kl;
            const char *k = ef_val_obj_key_at(w, i, &kl);
            int rc = substitute(n, ef_val_obj_slot(w, k, kl), depth + 1);
            if (rc) {
                return rc;
            }
            v = w;
        }
        return 0;
    default: return 0;
    }
}

int env__substitute(struct ef_node *n, struct ef_val **config)
{
    return substitute(n, config, 0);
}

int env__eval_scope(struct ef_runtime *rt, struct ef_scope *s, const struct ef_val *envlist,
                    struct ef_problems *probs)
{
    if (ef_val_type(envlist) != EF_ARR) {
        return 0;
    }
    if (!s->env && !(s->env = ef_val_obj())) {
        return EF_ENOMEM;
    }
    /* Two passes, as Node-RED: plain values first, then "env" references. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < ef_val_arr_len(envlist); i++) {
            const struct ef_val *e = ef_val_arr_at(envlist, i);
            const char *name = ef_val_str_get(ef_val_obj_get(e, "name"));
            const char *type = ef_val_str_get(ef_val_obj_get(e, "type"));
            const struct ef_val *value = ef_val_obj_get(e, "value");
            if (!*name || (pass == 0) == (strcmp(type, "env") == 0)) {
                continue;
            }
            struct ef_val *out = NULL;
            char err[256] = "";
            int rc;
            if (pass == 1) {
                const char *ref = ef_val_str_get(value);
                char buf[300];
                if (!strcmp(ref, name)) {
                    snprintf(buf, sizeof(buf), "$parent.%s", name);
                    ref = buf;
                }
                struct ef_val *own = ef_val_obj_get(s->env, ref);
                out = own ? ef_val_ref(own) : NULL;
                if (!out) {
                    out = typed__env_string(rt, s, ref);
                }
                rc = out ? 0 : EF_ENOMEM;
            } else if (!strcmp(type, "cred")) {
                out = value ? ef_val_ref((struct ef_val *)value) : NULL;
                rc = 0;
            } else if (!strcmp(type, "jsonata")) {
                /* Node-RED logs a failed expression and leaves the variable undefined */
                if (typed__jsonata_env(rt, s, ef_val_str_get(value), &out, err, sizeof(err))) {
                    ef_log_error("[%s:%s] Error evaluating env property '%s': %s",
                                 s->kind == SCOPE_GROUP ? "group" : "flow", s->id, name, err);
                }
                rc = 0;
            } else {
                rc = typed__eval_static(rt, s, type, value, &out, err, sizeof(err));
            }
            if (rc != 0) {
                problems__add(probs, "%s %s: env var %s: %s",
                              s->kind == SCOPE_GROUP ? "group" : "flow", s->id, name,
                              err[0] ? err : ef_strerror(rc));
                continue;
            }
            if (out) {
                ef_val_obj_set_take(s->env, name, out);
            }
        }
    }
    return 0;
}
