/*
 * template.c - the template node (Node-RED 80-template.js): renders a
 * Mustache template (lib/mustache.c, mustache.js's behaviour) against the
 * message, or passes plain text through, and writes the result - as text,
 * parsed JSON or parsed YAML (lib/yaml_load.c) - to a message property or a
 * flow/global context key. {{flow.x}}, {{global[store].x}} and {{env.X}}
 * are resolved before rendering, as Node-RED does, when the message itself
 * has no such property. An empty template takes msg.template.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "js.h"

#include "lib/fnutil.h"
#include "lib/mustache.h"
#include "lib/yaml_load.h"

enum { OUT_STR, OUT_JSON, OUT_YAML };
enum { FT_MSG, FT_FLOW, FT_GLOBAL };

struct template
{
    const char *field;
    int field_type;
    int output;
    bool mustache;
    const struct ef_val *tpl;    /* the configured template (borrowed), NULL if absent */
    struct mst_template *parsed; /* the configured template, parsed once */
    char parse_err[256];
};

static const struct ef_prop template_props[] = {
    {EF_PROP_ANY, "template", NULL, false, "the template (empty: use msg.template)",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "syntax", "\"mustache\"", false, "mustache or plain", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "output", "\"str\"", false, "str, json (parsed) or yaml (parsed)",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "field", "\"payload\"", false, "where the result goes", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "fieldType", "\"msg\"", false, "msg, flow or global", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "format", NULL, false, "editor highlighting only", EF_PROP_NOFIELD},
    {EF_PROP_END},
};

static int cb_template_init(struct ef_node *n, const struct ef_val *config)
{
    struct template *t = ef_node_priv(n);
    t->field = fn__cfg_str(config, "field", "payload");
    const char *ft = fn__cfg_str(config, "fieldType", "msg");
    t->field_type = !strcmp(ft, "flow") ? FT_FLOW : !strcmp(ft, "global") ? FT_GLOBAL : FT_MSG;
    const char *out = fn__cfg_str(config, "output", "str");
    t->output = !strcmp(out, "json") ? OUT_JSON : !strcmp(out, "yaml") ? OUT_YAML : OUT_STR;
    t->mustache = !strcmp(fn__cfg_str(config, "syntax", "mustache"), "mustache");
    t->tpl = ef_val_obj_get(config, "template");
    if (t->mustache && ef_val_type(t->tpl) == EF_STR && ef_val_str_len(t->tpl) > 0) {
        t->parsed = mst__parse(ef_val_str_get(t->tpl), ef_val_str_len(t->tpl), t->parse_err,
                               sizeof(t->parse_err));
    }
    return 0;
}

/* The parts of a {{flow.x}} / {{global[store].x}} name (parseContext). */
static bool parse_context(const char *name, enum ef_ctx_scope *scope, char *store, size_t slen,
                          const char **field)
{
    const char *p;
    if (!strncmp(name, "flow", 4)) {
        *scope = EF_CTX_FLOW;
        p = name + 4;
    } else if (!strncmp(name, "global", 6)) {
        *scope = EF_CTX_GLOBAL;
        p = name + 6;
    } else {
        return false;
    }
    store[0] = '\0';
    if (*p == '[') {
        const char *e = p + 1;
        while ((*e >= 'a' && *e <= 'z') || (*e >= 'A' && *e <= 'Z') || (*e >= '0' && *e <= '9') ||
               *e == '_') {
            e++;
        }
        if (e == p + 1 || *e != ']' || (size_t)(e - p - 1) >= slen) {
            return false;
        }
        memcpy(store, p + 1, (size_t)(e - p - 1));
        store[e - p - 1] = '\0';
        p = e + 1;
    }
    if (*p != '.' || !p[1] || strchr(p + 1, '\n')) {
        return false;
    }
    *field = p + 1;
    return true;
}

/* The X of an {{env.X}} name, or NULL. */
static const char *parse_env(const char *name)
{
    if (!strncmp(name, "env.", 4) && name[4] && !strchr(name + 4, '\n')) {
        return name + 4;
    }
    return NULL;
}

struct resolve {
    struct ef_node *n;
    struct ef_val *tokens; /* name -> value, for env/flow/global names */
    bool failed;
    char err[256];
};

/* Looks up one tag name's context or env value before rendering. */
static void resolve_name(void *ud, const char *name)
{
    struct resolve *r = ud;
    if (r->failed || ef_val_obj_get(r->tokens, name)) {
        return;
    }
    const char *env = parse_env(name);
    struct ef_val *v = NULL;
    if (env) {
        struct ef_val *key = ef_val_str(env);
        char err[256];
        if (key && ef_node_eval_typed(r->n, "env", key, NULL, &v, err, sizeof(err)) != 0) {
            v = NULL;
        }
        ef_val_unref(key);
    } else {
        enum ef_ctx_scope scope;
        char store[64];
        const char *field;
        if (!parse_context(name, &scope, store, sizeof(store), &field)) {
            return;
        }
        v = ef_ctx_get(r->n, scope, store[0] ? store : NULL, field);
    }
    if (!v) {
        return; /* undefined */
    }
    if (ef_val_obj_set_take(r->tokens, name, v) != 0) {
        ef_val_unref(v);
    }
}

static struct ef_val *missing(void *ud, const char *name)
{
    struct resolve *r = ud;
    return ef_val_ref(ef_val_obj_get(r->tokens, name));
}

/* Reports err for msg (done(err)) and drops the message. */
static int fail_msg(struct ef_node *n, struct ef_msg *msg, const char *err)
{
    ef_node_error(n, msg, "%s", err);
    ef_msg_free(msg);
    return EF_INPUT_DONE;
}

/* output(): parse as configured and store; takes value (NULL = undefined). */
static int output(struct ef_node *n, struct template *t, struct ef_msg *msg, struct ef_val *value)
{
    char err[512];
    if (t->output != OUT_STR) {
        size_t len;
        char *text = NULL;
        if (!value) {
            text = strdup("undefined");
            len = 9;
        } else {
            text = js__to_string(value, &len);
        }
        ef_val_unref(value);
        value = NULL;
        if (!text) {
            return fail_msg(n, msg, "out of memory");
        }
        if (t->output == OUT_JSON) {
            value = ef_json_parse(text, len, err, sizeof(err));
            free(text);
            if (!value) {
                return fail_msg(n, msg, err);
            }
        } else {
            int rc = yaml__load(text, len, &value, err, sizeof(err));
            free(text);
            if (rc != 0) {
                return fail_msg(n, msg, err);
            }
        }
    }
    if (t->field_type == FT_MSG) {
        if (!value) {
            ef_msg_delete(msg, t->field);
        } else if (ef_msg_set_take(msg, t->field, value) != 0) {
            ef_val_unref(value);
        }
    } else {
        char store[64];
        const char *key = ef_ctx_parse_store(t->field, store, sizeof(store));
        int rc = ef_ctx_set_take(n, t->field_type == FT_FLOW ? EF_CTX_FLOW : EF_CTX_GLOBAL,
                                 store[0] ? store : NULL, key, value);
        if (rc != 0) {
            ef_val_unref(value);
            return fail_msg(n, msg, ef_strerror(rc));
        }
    }
    if (ef_node_send(n, 0, msg) != 0) {
        ef_msg_free(msg);
    }
    return EF_INPUT_DONE;
}

/* typeStr() of mustache.js's "Invalid template!" error. */
static const char *type_str(const struct ef_val *v)
{
    if (!v) {
        return "undefined";
    }
    return ef_val_type(v) == EF_ARR ? "array" : js__typeof(v);
}

static int render(struct ef_node *n, struct template *t, struct ef_msg *msg,
                  const struct ef_val *tpl)
{
    char err[512];
    struct mst_template *own = NULL;
    const struct mst_template *m = NULL;
    if (tpl == t->tpl && t->parsed) {
        m = t->parsed;
    } else if (tpl == t->tpl && t->parse_err[0]) {
        return fail_msg(n, msg, t->parse_err);
    } else if (ef_val_type(tpl) == EF_STR) {
        m = own = mst__parse(ef_val_str_get(tpl), ef_val_str_len(tpl), err, sizeof(err));
        if (!m) {
            return fail_msg(n, msg, err);
        }
    } else if (ef_val_truthy(tpl)) {
        return fail_msg(n, msg, "this.tail.match is not a function");
    } else {
        snprintf(err, sizeof(err),
                 "Invalid template! Template should be a \"string\" but \"%s\" was given as the "
                 "first argument for mustache#render(template, view, partials)",
                 type_str(tpl));
        return fail_msg(n, msg, err);
    }
    struct resolve r = {.n = n, .tokens = ef_val_obj()};
    if (!r.tokens) {
        mst__free(own);
        return fail_msg(n, msg, "out of memory");
    }
    mst__each_name(m, resolve_name, &r);
    struct mst_hooks hooks = {
        .missing = missing, .escape_root_strings = t->output == OUT_JSON, .ud = &r};
    size_t len;
    char *text = mst__render(m, ef_msg_root(msg), &hooks, &len, err, sizeof(err));
    mst__free(own);
    ef_val_unref(r.tokens);
    if (!text) {
        return fail_msg(n, msg, err);
    }
    struct ef_val *v = ef_val_str_take(text, len);
    if (!v) {
        return fail_msg(n, msg, "out of memory");
    }
    return output(n, t, msg, v);
}

static int cb_template_input(struct ef_node *n, struct ef_msg *msg)
{
    struct template *t = ef_node_priv(n);
    const struct ef_val *tpl = t->tpl;
    struct ef_val *held = NULL;
    if (fn__has(msg, "template") && tpl &&
        (ef_val_type(tpl) == EF_NULL || (ef_val_type(tpl) == EF_STR && ef_val_str_len(tpl) == 0))) {
        held = ef_val_ref(ef_msg_get(msg, "template"));
        tpl = held;
    }
    int rc;
    if (t->mustache) {
        rc = render(n, t, msg, tpl);
    } else {
        rc = output(n, t, msg, ef_val_ref((struct ef_val *)tpl));
    }
    ef_val_unref(held);
    return rc;
}

static void cb_template_close(struct ef_node *n)
{
    struct template *t = ef_node_priv(n);
    mst__free(t->parsed);
    t->parsed = NULL;
}

const struct ef_node_type ef_type_template = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "template",
    .description = "Sets a property from a Mustache template or plain text, optionally parsed "
                   "as JSON or YAML",
    .category = "function",
    .inputs = 1,
    .outputs = 1,
    .props = template_props,
    .flags = EF_TYPE_NAME_ALWAYS,
    .priv_size = sizeof(struct template),
    .cb_init = cb_template_init,
    .cb_input = cb_template_input,
    .cb_close = cb_template_close,
};
