/*
 * jsonata_bridge.c - evaluating `jsonata` typed inputs for nodes, as
 * RED.util.prepareJSONataExpression/evaluateJSONataExpression do: the
 * message is the context (or {msg} in legacy mode, when the expression
 * names `msg`), and $flowContext, $globalContext, $env and $clone are
 * available. Compiled expressions are cached per node.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "typed.h"

#ifdef EF_HAVE_JSONATA
#include "jsonata/jsonata.h"

struct jsonata_cache {
    struct ef_jsonata *expr;
    bool legacy;
    struct jsonata_cache *next;
};

/* Node-RED's legacy test: /(^|[^a-zA-Z0-9_'".])msg([^a-zA-Z0-9_'"]|$)/ */
bool typed__jsonata_legacy(const char *s)
{
    for (const char *p = strstr(s, "msg"); p; p = strstr(p + 1, "msg")) {
        char before = p == s ? 0 : p[-1];
        char after = p[3];
        bool ok_before = !before || !(isalnum((unsigned char)before) || strchr("_'\".", before));
        bool ok_after = !after || !(isalnum((unsigned char)after) || strchr("_'\"", after));
        if (ok_before && ok_after) {
            return true;
        }
    }
    return false;
}

static int fn_context(struct ef_node *n, enum ef_ctx_scope scope, struct ef_val *const *args,
                      size_t nargs, struct ef_val **out)
{
    const char *key = ef_val_str_get(args[0]);
    const char *store = nargs > 1 && args[1] ? ef_val_str_get(args[1]) : NULL;
    *out = ef_ctx_get(n, scope, store, key);
    return 0;
}

static int fn_flow_context(void *ud, struct ef_val *const *args, size_t nargs, struct ef_val **out,
                           char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    return fn_context(ud, EF_CTX_FLOW, args, nargs, out);
}

static int fn_global_context(void *ud, struct ef_val *const *args, size_t nargs,
                             struct ef_val **out, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    return fn_context(ud, EF_CTX_GLOBAL, args, nargs, out);
}

static int fn_env(void *ud, struct ef_val *const *args, size_t nargs, struct ef_val **out,
                  char *err, size_t errlen)
{
    (void)nargs;
    (void)err;
    (void)errlen;
    *out = ef_node_env_get(ud, ef_val_str_get(args[0]));
    if (!*out) {
        *out = ef_val_str("");
    }
    return 0;
}

static int fn_clone(void *ud, struct ef_val *const *args, size_t nargs, struct ef_val **out,
                    char *err, size_t errlen)
{
    (void)ud;
    (void)nargs;
    (void)err;
    (void)errlen;
    *out = args[0] ? ef_val_copy(args[0]) : NULL;
    return 0;
}

static struct jsonata_cache *cache_get(struct ef_node *n, const char *expr, char *err,
                                       size_t errlen)
{
    for (struct jsonata_cache *c = n->jsonata; c; c = c->next) {
        if (!strcmp(ef_jsonata_source(c->expr), expr)) {
            return c;
        }
    }
    struct ef_jsonata_error e;
    struct ef_jsonata *compiled = ef_jsonata_compile_ex(expr, &e);
    if (!compiled) {
        snprintf(err, errlen, "%s", e.message); /* err.message, as Node-RED reports it */
        return NULL;
    }
    struct jsonata_cache *c = calloc(1, sizeof(*c));
    if (!c) {
        ef_jsonata_free(compiled);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->expr = compiled;
    c->legacy = typed__jsonata_legacy(expr);
    c->next = n->jsonata;
    n->jsonata = c;
    return c;
}

int typed__jsonata_eval(struct ef_node *n, const struct ef_jsonata *e, bool legacy,
                        const struct ef_val *input, const struct ef_val *bindings,
                        struct ef_val **out, char *err, size_t errlen)
{
    const struct ef_jsonata_native natives[] = {
        {"flowContext", "<s?s?:x>", fn_flow_context, n},
        {"globalContext", "<s?s?:x>", fn_global_context, n},
        {"env", "<s:x>", fn_env, n},
        {"clone", "<(oa)-:o>", fn_clone, NULL},
    };
    struct ef_jsonata_opts opts = {
        .bindings = bindings, .natives = natives, .nnatives = 4, .timeout_ms = 10000};
    struct ef_val *in = (struct ef_val *)input;
    struct ef_val *wrapped = NULL;
    *out = NULL;
    if (legacy) {
        wrapped = ef_val_obj();
        if (!wrapped) {
            snprintf(err, errlen, "out of memory");
            return EF_ENOMEM;
        }
        if (in) {
            ef_val_obj_set_take(wrapped, "msg", ef_val_ref(in));
        }
        in = wrapped;
    }
    struct ef_jsonata_error je;
    int rc = ef_jsonata_eval(e, in, &opts, out, &je);
    ef_val_unref(wrapped);
    if (rc != 0) {
        snprintf(err, errlen, "%s", je.message); /* err.message, without the code */
        return EF_EINVAL;
    }
    return 0;
}

int typed__jsonata(struct ef_node *n, const char *expr, const struct ef_msg *msg,
                   struct ef_val **out, char *err, size_t errlen)
{
    *out = NULL;
    struct jsonata_cache *c = cache_get(n, expr, err, errlen);
    if (!c) {
        return EF_EPARSE;
    }
    return typed__jsonata_eval(n, c->expr, c->legacy, msg ? ef_msg_root(msg) : NULL, NULL, out, err,
                               errlen);
}

void typed__jsonata_release(struct ef_node *n)
{
    while (n->jsonata) {
        struct jsonata_cache *c = n->jsonata;
        n->jsonata = c->next;
        ef_jsonata_free(c->expr);
        free(c);
    }
}

struct env_scope {
    struct ef_runtime *rt;
    struct ef_scope *s;
};

static int fn_scope_env(void *ud, struct ef_val *const *args, size_t nargs, struct ef_val **out,
                        char *err, size_t errlen)
{
    const struct env_scope *es = ud;
    (void)nargs;
    (void)err;
    (void)errlen;
    *out = env__get(es->rt, es->s, ef_val_str_get(args[0]));
    if (!*out) {
        *out = ef_val_str("");
    }
    return 0;
}

int typed__jsonata_env(struct ef_runtime *rt, struct ef_scope *s, const char *expr,
                       struct ef_val **out, char *err, size_t errlen)
{
    *out = NULL;
    struct ef_jsonata_error je;
    struct ef_jsonata *e = ef_jsonata_compile_ex(expr, &je);
    if (!e) {
        snprintf(err, errlen, "%s", je.message);
        return EF_EPARSE;
    }
    struct env_scope es = {rt, s};
    const struct ef_jsonata_native natives[] = {
        {"env", "<s:x>", fn_scope_env, &es},
        {"clone", "<(oa)-:o>", fn_clone, NULL},
    };
    struct ef_jsonata_opts opts = {.natives = natives, .nnatives = 2, .timeout_ms = 10000};
    int rc = ef_jsonata_eval(e, NULL, &opts, out, &je);
    ef_jsonata_free(e);
    if (rc != 0) {
        snprintf(err, errlen, "%s", je.message);
        return EF_EINVAL;
    }
    return 0;
}

#else

int typed__jsonata_env(struct ef_runtime *rt, struct ef_scope *s, const char *expr,
                       struct ef_val **out, char *err, size_t errlen)
{
    (void)rt;
    (void)s;
    (void)expr;
    *out = NULL;
    snprintf(err, errlen, "JSONata is not available in this build (EF_JSONATA=OFF)");
    return EF_EUNSUPP;
}

int typed__jsonata(struct ef_node *n, const char *expr, const struct ef_msg *msg,
                   struct ef_val **out, char *err, size_t errlen)
{
    (void)msg;
    (void)expr;
    *out = NULL;
    snprintf(err, errlen, "node %s (%s): JSONata is not available in this build (EF_JSONATA=OFF)",
             ef_node_id(n), ef_node_type_name(n));
    return EF_EUNSUPP;
}

void typed__jsonata_release(struct ef_node *n)
{
    (void)n;
}

#endif
