/*
 * change.c - the change node (Node-RED 15-change.js): rules that set,
 * change (search and replace), delete or move message properties and flow /
 * global context keys. Paths, regular expressions and constant values are
 * prepared once in cb_init; the legacy single-rule format (action, property,
 * from, to, reg) is migrated to a rule as Node-RED does.
 *
 * Values are refcounted and copy-on-write, so a value taken from the message
 * or context is never aliased the way a JavaScript object would be: every
 * rule behaves as if "deep copy" (dc) were set (see docs/nodes.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "js.h"
#include "typed.h"

enum { R_NONE, R_SET, R_CHANGE, R_DELETE, R_MOVE };
enum { K_MSG, K_FLOW, K_GLOBAL, K_OTHER };
/* How a rule's value is found per message. */
enum { V_STATIC, V_MSG, V_CTX, V_DATE, V_JSONATA, V_SKIP };
/* What applying a rule did to the message. */
enum { A_OK, A_DROP, A_SKIP };

/* A property a rule reads or writes: a message path or a context key. */
struct target {
    int kind;
    const char *text;       /* as configured (used in warnings) */
    struct ef_path *path;   /* K_MSG */
    struct ef_path *parent; /* K_MSG with more than one segment */
    const char *single;     /* K_MSG: the key of a one-key path (fast path) */
    char store[64];         /* K_FLOW/K_GLOBAL: "" for the default store */
    const char *key;        /* K_FLOW/K_GLOBAL: points into text */
    bool nested;            /* the context key holds [msg...] references */
};

struct crule {
    int t;
    struct target p;
    const char *tot;
    int vkind;
    const struct ef_val *to; /* configured value (borrowed from the config) */
    struct ef_val *to_static;
    struct target to_ref; /* V_MSG / V_CTX */
    /* change */
    const char *fromt;
    bool from_dynamic; /* fromt is msg, flow or global */
    const struct ef_val *from;
    struct js_regex *from_re;
    struct target from_ref;
    /* move: the set/delete steps it expands to */
    struct crule *sub;
    size_t nsub;
};

struct change {
    struct crule *rules;
    size_t nrules;
    struct ef_val *legacy; /* the rules array built from the legacy format */
};

static const struct ef_prop change_props[] = {
    {EF_PROP_ANY, "rules", NULL, false,
     "array of rules {t: set|change|delete|move, p, pt, to, tot, from, fromt, dc}",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "action", NULL, false, "legacy single rule: replace, change, delete, move",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "property", NULL, false, "legacy single rule: the property", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "from", NULL, false, "legacy single rule: search for", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "to", NULL, false, "legacy single rule: the value / replace with",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "reg", NULL, false, "legacy single rule: from is a regular expression",
     EF_PROP_NOFIELD},
    {EF_PROP_END},
};

static const char *str_or(const struct ef_val *v, const char *def)
{
    return ef_val_type(v) == EF_STR ? ef_val_str_get(v) : def;
}

static int scope_kind(const char *pt)
{
    if (!strcmp(pt, "msg")) {
        return K_MSG;
    }
    if (!strcmp(pt, "flow")) {
        return K_FLOW;
    }
    if (!strcmp(pt, "global")) {
        return K_GLOBAL;
    }
    return K_OTHER;
}

/* Where the last segment of a path expression starts (0 if it has one). */
static size_t last_segment(const char *s)
{
    size_t last = 0;
    int depth = 0;
    char quote = 0;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        if (quote) {
            if (c == quote) {
                quote = 0;
            }
        } else if (c == '"' || c == '\'') {
            quote = c;
        } else if (c == '[') {
            if (depth == 0) {
                last = i;
            }
            depth++;
        } else if (c == ']') {
            depth--;
        } else if (c == '.' && depth == 0) {
            last = i;
        }
    }
    return last;
}

/* Prepares a target; reports a bad path and returns -1. */
static int target_init(struct ef_node *n, struct target *t, int kind, const char *text)
{
    char err[256];
    memset(t, 0, sizeof(*t));
    t->kind = kind;
    t->text = text;
    if (kind == K_FLOW || kind == K_GLOBAL) {
        t->key = ef_ctx_parse_store(text, t->store, sizeof(t->store));
        t->nested = strstr(t->key, "[msg") != NULL;
        return 0;
    }
    if (kind != K_MSG) {
        return 0;
    }
    const char *expr = !strncmp(text, "msg.", 4) ? text + 4 : text;
    t->path = ef_path_parse(expr, err, sizeof(err));
    if (!t->path) {
        ef_node_error(n, NULL, "%s", err);
        return -1;
    }
    if (ef_path_nsegs(t->path) == 1) {
        t->single = ef_path_first_key(t->path);
    } else {
        size_t cut = last_segment(expr);
        char *ptext = strndup(expr, cut);
        t->parent = ptext ? ef_path_parse(ptext, NULL, 0) : NULL;
        free(ptext);
    }
    return 0;
}

static void target_free(struct target *t)
{
    ef_path_free(t->path);
    ef_path_free(t->parent);
}

static enum ef_ctx_scope ctx_scope(const struct target *t)
{
    return t->kind == K_FLOW ? EF_CTX_FLOW : EF_CTX_GLOBAL;
}

/*
 * Whether getMessageProperty would throw for a message target: reading a
 * key of undefined or null on the way (the rule is then skipped).
 */
static bool msg_get_throws(const struct target *t, const struct ef_msg *msg)
{
    if (t->kind != K_MSG || !t->parent) {
        return false;
    }
    const struct ef_val *root = ef_msg_root(msg);
    const struct ef_val *par = ef_path_get(root, t->parent, root);
    return !par || ef_val_type(par) == EF_NULL;
}

/* Reads a target (new reference; NULL = undefined). */
static struct ef_val *target_get(struct ef_node *n, const struct target *t,
                                 const struct ef_msg *msg)
{
    if (t->kind == K_MSG) {
        const struct ef_val *root = ef_msg_root(msg);
        if (t->single) {
            return ef_val_ref(ef_val_obj_get(root, t->single));
        }
        return ef_val_ref(ef_path_get(root, t->path, root));
    }
    if (t->kind != K_FLOW && t->kind != K_GLOBAL) {
        return NULL;
    }
    char *key = t->nested ? js__resolve_ctx_key(t->key, msg) : NULL;
    struct ef_val *v =
        ef_ctx_get(n, ctx_scope(t), t->store[0] ? t->store : NULL, key ? key : t->key);
    free(key);
    return v;
}

/*
 * setMessageProperty / context set, adopting v (NULL deletes). For messages
 * returns false when Node-RED's setMessageProperty would (a primitive or a
 * missing parent on the way).
 */
static bool target_set(struct ef_node *n, const struct target *t, struct ef_msg *msg,
                       struct ef_val *v, int *ctx_rc)
{
    *ctx_rc = 0;
    if (t->kind == K_MSG) {
        struct ef_val **slot = ef_msg_slot(msg);
        if (!v) {
            bool ok = true;
            if (t->parent) {
                const struct ef_val *par = ef_path_get(*slot, t->parent, *slot);
                enum ef_type pt = ef_val_type(par);
                ok = par && pt != EF_NULL && pt != EF_BOOL && pt != EF_NUM && pt != EF_STR;
            }
            ef_path_delete(slot, t->path, *slot);
            return ok;
        }
        int rc;
        if (t->single) {
            struct ef_val *root = ef_msg_mut(msg);
            rc = root ? ef_val_obj_set_take(root, t->single, v) : EF_ENOMEM;
        } else {
            rc = ef_path_set_take(slot, t->path, v, true, *slot);
        }
        if (rc != 0) {
            ef_val_unref(v);
        }
        return rc != EF_ETYPE;
    }
    char *key = t->nested ? js__resolve_ctx_key(t->key, msg) : NULL;
    *ctx_rc =
        ef_ctx_set_take(n, ctx_scope(t), t->store[0] ? t->store : NULL, key ? key : t->key, v);
    if (*ctx_rc != 0) {
        ef_val_unref(v);
    }
    free(key);
    return true;
}

static void rule_free(struct crule *r)
{
    target_free(&r->p);
    target_free(&r->to_ref);
    target_free(&r->from_ref);
    ef_val_unref(r->to_static);
    js__regex_free(r->from_re);
    for (size_t i = 0; i < r->nsub; i++) {
        rule_free(&r->sub[i]);
    }
    free(r->sub);
}

/* A set rule whose value is read from `src` (in scope srck) - a move step. */
static int sub_set(struct ef_node *n, struct crule *r, int pk, const char *p, int srck,
                   const char *src)
{
    memset(r, 0, sizeof(*r));
    r->t = R_SET;
    r->tot = srck == K_MSG ? "msg" : srck == K_FLOW ? "flow" : "global";
    r->vkind = srck == K_MSG ? V_MSG : (srck == K_OTHER ? V_STATIC : V_CTX);
    if (target_init(n, &r->p, pk, p) != 0 || target_init(n, &r->to_ref, srck, src) != 0) {
        return -1;
    }
    return 0;
}

static int sub_delete(struct ef_node *n, struct crule *r, int pk, const char *p)
{
    memset(r, 0, sizeof(*r));
    r->t = R_DELETE;
    return target_init(n, &r->p, pk, p);
}

static int move_init(struct ef_node *n, struct crule *r, const char *pt, const char *p,
                     const char *tot, const char *to)
{
    int pk = scope_kind(pt), tk = scope_kind(tot);
    bool direct = strcmp(tot, pt) != 0 || (strstr(p, to) != NULL && strcmp(p, to) != 0);
    r->nsub = direct ? 2 : 4;
    r->sub = calloc(r->nsub, sizeof(*r->sub));
    if (!r->sub) {
        return -1;
    }
    if (direct) {
        return sub_set(n, &r->sub[0], tk, to, pk, p) || sub_delete(n, &r->sub[1], pk, p) ? -1 : 0;
    }
    if (sub_set(n, &r->sub[0], tk, "_temp_move", pk, p) || sub_delete(n, &r->sub[1], pk, p) ||
        sub_set(n, &r->sub[2], tk, to, pk, "_temp_move") ||
        sub_delete(n, &r->sub[3], pk, "_temp_move")) {
        return -1;
    }
    return 0;
}

/* Prepares one rule as ChangeNode's constructor does; -1 after reporting. */
static int rule_init(struct ef_node *n, struct crule *r, const struct ef_val *cfg)
{
    char err[512];
    const char *t = str_or(ef_val_obj_get(cfg, "t"), "");
    const char *pt = str_or(ef_val_obj_get(cfg, "pt"), "");
    const char *p = str_or(ef_val_obj_get(cfg, "p"), "");
    const char *tot = str_or(ef_val_obj_get(cfg, "tot"), "");
    r->to = ef_val_obj_get(cfg, "to");
    r->fromt = str_or(ef_val_obj_get(cfg, "fromt"), "");
    r->from = ef_val_obj_get(cfg, "from");
    if (!*pt) {
        pt = "msg";
    }
    r->t = !strcmp(t, "set")      ? R_SET
           : !strcmp(t, "change") ? R_CHANGE
           : !strcmp(t, "delete") ? R_DELETE
           : !strcmp(t, "move")   ? R_MOVE
                                  : R_NONE;
    if (r->t == R_CHANGE && ef_val_truthy(ef_val_obj_get(cfg, "re"))) {
        r->fromt = "re";
    }
    if (r->t == R_SET && !*tot && !strncmp(ef_val_str_get(r->to), "msg.", 4)) {
        tot = "msg";
    }
    if (!*tot) {
        tot = "str";
    }
    if (!*r->fromt) {
        r->fromt = "str";
    }
    r->tot = tot;
    if (r->t == R_NONE) {
        return 0;
    }
    if (r->t == R_MOVE) {
        return move_init(n, r, pt, p, tot, ef_val_str_get(ef_val_obj_get(cfg, "to")));
    }
    if (target_init(n, &r->p, scope_kind(pt), p) != 0) {
        return -1;
    }
    r->from_dynamic =
        !strcmp(r->fromt, "msg") || !strcmp(r->fromt, "flow") || !strcmp(r->fromt, "global");
    if (r->t == R_CHANGE && !r->from_dynamic) {
        size_t len, elen;
        char *src = js__to_string(r->from, &len);
        char *pat = src && strcmp(r->fromt, "re") != 0 ? js__regex_escape(src, len, &elen) : NULL;
        if (pat) {
            free(src);
            src = pat;
            len = elen;
        }
        r->from_re = src ? js__regex_new(src, len, "g", err, sizeof(err)) : NULL;
        free(src);
        if (!r->from_re) {
            ef_node_error(n, NULL, "Invalid 'from' property: %s", err);
            return -1;
        }
    } else if (r->t == R_CHANGE) {
        if (target_init(n, &r->from_ref, scope_kind(r->fromt), ef_val_str_get(r->from)) != 0) {
            return -1;
        }
    }
    if (r->t != R_SET && r->t != R_CHANGE) {
        return 0;
    }
    /* The value: constant ones are evaluated once. */
    if (!strcmp(tot, "msg")) {
        r->vkind = V_MSG;
        const char *to = ef_val_str_get(ef_val_obj_get(cfg, "to"));
        return target_init(n, &r->to_ref, K_MSG, to);
    }
    if (!strcmp(tot, "flow") || !strcmp(tot, "global")) {
        r->vkind = V_CTX;
        return target_init(n, &r->to_ref, scope_kind(tot), ef_val_str_get(r->to));
    }
    if (!strcmp(tot, "date")) {
        r->vkind = V_DATE;
        return 0;
    }
    if (!strcmp(tot, "jsonata")) {
        r->vkind = V_JSONATA;
        return 0;
    }
    r->vkind = V_STATIC;
    if (!strcmp(tot, "num") || !strcmp(tot, "bool") || !strcmp(tot, "env")) {
        if (ef_node_eval_typed(n, tot, r->to, NULL, &r->to_static, err, sizeof(err)) != 0) {
            ef_node_error(n, NULL, "%s", err);
            return -1;
        }
    } else if (!strcmp(tot, "json") || !strcmp(tot, "bin")) {
        size_t len;
        char *text = js__to_string(r->to, &len);
        struct ef_val *j = text ? ef_json_parse(text, len, NULL, 0) : NULL;
        free(text);
        if (!j) {
            ef_node_error(n, NULL, "Invalid 'to' JSON property");
            return -1;
        }
        if (!strcmp(tot, "json")) {
            r->to_static = j;
        } else {
            ef_val_unref(j);
            /* Buffer.from() of a number or an object throws: the rule does nothing */
            if (ef_node_eval_typed(n, "bin", r->to, NULL, &r->to_static, err, sizeof(err)) != 0) {
                r->vkind = V_SKIP;
            }
        }
    } else {
        r->to_static = ef_val_ref((struct ef_val *)r->to);
    }
    return 0;
}

static void cb_change_close(struct ef_node *n);

static int cb_change_init(struct ef_node *n, const struct ef_val *config)
{
    struct change *c = ef_node_priv(n);
    const struct ef_val *rules = ef_val_obj_get(config, "rules");
    if (!rules || ef_val_type(rules) == EF_NULL) {
        /* The legacy single-rule format. */
        const char *action = str_or(ef_val_obj_get(config, "action"), "");
        struct ef_val *r = ef_val_obj();
        c->legacy = ef_val_arr();
        if (!r || !c->legacy || ef_val_arr_push_take(c->legacy, r) != 0) {
            ef_val_unref(r);
            return EF_ENOMEM;
        }
        const char *t = !strcmp(action, "replace") ? "set" : action;
        if (*t) {
            ef_val_obj_set_take(r, "t", ef_val_str(t));
        }
        const struct ef_val *prop = ef_val_obj_get(config, "property");
        ef_val_obj_set_take(
            r, "p", ef_val_truthy(prop) ? ef_val_ref((struct ef_val *)prop) : ef_val_str(""));
        const struct ef_val *to = ef_val_obj_get(config, "to");
        const struct ef_val *from = ef_val_obj_get(config, "from");
        struct ef_val *tov = ef_val_truthy(to) ? ef_val_ref((struct ef_val *)to) : ef_val_str("");
        if (!strcmp(t, "set") || !strcmp(t, "move")) {
            ef_val_obj_set_take(r, "to", tov);
        } else if (!strcmp(t, "change")) {
            ef_val_obj_set_take(r, "from",
                                ef_val_truthy(from) ? ef_val_ref((struct ef_val *)from)
                                                    : ef_val_str(""));
            ef_val_obj_set_take(r, "to", tov);
            const struct ef_val *reg = ef_val_obj_get(config, "reg");
            bool re = (reg && ef_val_type(reg) == EF_NULL) || ef_val_truthy(reg);
            ef_val_obj_set_take(r, "re", ef_val_bool(re));
        } else {
            ef_val_unref(tov);
        }
        rules = c->legacy;
    }
    c->nrules = ef_val_arr_len(rules);
    c->rules = c->nrules ? calloc(c->nrules, sizeof(*c->rules)) : NULL;
    if (c->nrules && !c->rules) {
        return EF_ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < c->nrules; i++) {
        if (rule_init(n, &c->rules[i], ef_val_arr_at(rules, i)) != 0) {
            rc = EF_EINVAL;
        }
    }
    if (rc != 0) {
        cb_change_close(n); /* not called for a node whose init failed */
        memset(c, 0, sizeof(*c));
    }
    return rc;
}

/* The value a set/change rule writes (new ref, NULL = undefined). */
static int rule_value(struct ef_node *n, const struct crule *r, struct ef_msg *msg,
                      struct ef_val **out)
{
    char err[512];
    *out = NULL;
    switch (r->vkind) {
    case V_STATIC: *out = ef_val_ref(r->to_static); return A_OK;
    case V_MSG:
        if (msg_get_throws(&r->to_ref, msg)) {
            return A_SKIP;
        }
        *out = target_get(n, &r->to_ref, msg);
        return A_OK;
    case V_CTX: *out = target_get(n, &r->to_ref, msg); return A_OK;
    case V_DATE: ef_node_eval_typed(n, "date", r->to, msg, out, err, sizeof(err)); return A_OK;
    case V_JSONATA:
        if (ef_node_eval_typed(n, "jsonata", r->to, msg, out, err, sizeof(err)) != 0) {
            ef_node_error(n, msg, "%s%s", js__jsonata_prefix(err), err);
            return A_DROP;
        }
        return A_OK;
    default: return A_OK;
    }
}

/* What a change rule searches for (getFromValue / getFromValueType). */
struct from {
    const char *type; /* "num", "bool", "str", "re", ... or NULL */
    const struct ef_val *value;
    struct ef_val *held; /* reference held on a dynamic value */
    struct js_regex *re; /* borrowed or owned */
    bool own_re;
};

static int from_value(struct ef_node *n, const struct crule *r, struct ef_msg *msg, struct from *f)
{
    memset(f, 0, sizeof(*f));
    if (!r->from_dynamic) {
        f->type = r->fromt;
        f->value = r->from;
        f->re = r->from_re;
        return A_OK;
    }
    if (msg_get_throws(&r->from_ref, msg)) {
        return A_SKIP;
    }
    f->held = target_get(n, &r->from_ref, msg);
    f->value = f->held;
    enum ef_type ty = ef_val_type(f->held);
    if (f->held && ty == EF_NUM) {
        f->type = "num";
    } else if (f->held && ty == EF_BOOL) {
        f->type = "bool";
    } else if (js__regexp_source(f->held)) {
        const char *src = js__regexp_source(f->held);
        char err[512];
        f->type = "re";
        f->re = js__regex_new(src, strlen(src), "g", err, sizeof(err));
        f->own_re = true;
    } else if (f->held && ty == EF_STR) {
        size_t elen;
        char err[512];
        char *pat = js__regex_escape(ef_val_str_get(f->held), ef_val_str_len(f->held), &elen);
        f->type = "str";
        f->re = pat ? js__regex_new(pat, elen, "g", err, sizeof(err)) : NULL;
        f->own_re = true;
        free(pat);
    } else {
        /*
         * Node-RED reports the error and then, calling its callback a second
         * time, applies the rule anyway with no search type.
         */
        ef_node_error(n, msg, "Error: Invalid 'from' property: unsupported type: %s",
                      js__typeof(f->held));
    }
    return A_OK;
}

static void from_free(struct from *f)
{
    if (f->own_re) {
        js__regex_free(f->re);
    }
    ef_val_unref(f->held);
}

/* current.replace(fromRE, value): a missing RegExp searches for "undefined". */
static struct ef_val *replace_in(const struct ef_val *current, const struct from *f,
                                 const struct ef_val *value)
{
    size_t rlen, olen;
    char *rep = js__to_string(value, &rlen);
    char *out = NULL;
    if (!rep) {
        return NULL;
    }
    if (f->re) {
        out = js__regex_replace(f->re, ef_val_str_get(current), ef_val_str_len(current), rep, rlen,
                                &olen);
    } else {
        char err[64];
        struct js_regex *u = js__regex_new("undefined", 9, "", err, sizeof(err));
        out = u ? js__regex_replace(u, ef_val_str_get(current), ef_val_str_len(current), rep, rlen,
                                    &olen)
                : NULL;
        js__regex_free(u);
    }
    free(rep);
    return out ? ef_val_str_take(out, olen) : NULL;
}

static bool type_is(const char *t, const char *want)
{
    return t && !strcmp(t, want);
}

/* Applies one rule. Returns A_OK (go on) or A_DROP (the message is gone). */
static int apply_rule(struct ef_node *n, const struct crule *r, struct ef_msg *msg);

static int apply_change(struct ef_node *n, const struct crule *r, struct ef_msg *msg,
                        struct ef_val *value, const struct from *f)
{
    struct ef_val *current = target_get(n, &r->p, msg);
    struct ef_val *result = NULL;
    bool write = false;
    enum ef_type ct = ef_val_type(current);
    if (current && ct == EF_STR) {
        bool exact_type =
            type_is(f->type, "num") || type_is(f->type, "bool") || type_is(f->type, "str");
        if (exact_type && ef_val_type(f->value) == EF_STR && f->value &&
            ef_val_str_len(f->value) == ef_val_str_len(current) &&
            !memcmp(ef_val_str_get(f->value), ef_val_str_get(current), ef_val_str_len(current))) {
            result = ef_val_ref(value);
        } else {
            result = replace_in(current, f, value);
            if (!result) {
                ef_val_unref(current);
                return A_OK;
            }
            if (r->p.kind == K_MSG && !strcmp(r->tot, "bool")) {
                size_t vl;
                char *vs = js__to_string(value, &vl);
                if (vs && vl == ef_val_str_len(result) && !memcmp(vs, ef_val_str_get(result), vl)) {
                    ef_val_unref(result);
                    result = ef_val_ref(value);
                }
                free(vs);
            }
        }
        write = true;
    } else if (current && ct == EF_NUM && type_is(f->type, "num")) {
        if (ef_val_num_get(current) == js__to_number(f->value)) {
            result = ef_val_ref(value);
            write = true;
        }
    } else if (current && ct == EF_BOOL && type_is(f->type, "bool")) {
        const char *s = ef_val_bool_get(current) ? "true" : "false";
        if (ef_val_type(f->value) == EF_STR && !strcmp(ef_val_str_get(f->value), s)) {
            result = ef_val_ref(value);
            write = true;
        }
    }
    ef_val_unref(current);
    if (!write) {
        return A_OK;
    }
    int crc;
    target_set(n, &r->p, msg, result, &crc);
    if (crc != 0) {
        ef_node_error(n, msg, "%s", ef_strerror(crc));
        return A_DROP;
    }
    return A_OK;
}

static int apply_rule(struct ef_node *n, const struct crule *r, struct ef_msg *msg)
{
    if (r->t == R_NONE) {
        return A_OK;
    }
    if (r->t == R_MOVE) {
        for (size_t i = 0; i < r->nsub; i++) {
            if (apply_rule(n, &r->sub[i], msg) != A_OK) {
                return A_DROP;
            }
        }
        return A_OK;
    }
    if (r->vkind == V_SKIP) {
        return A_OK;
    }
    struct ef_val *value = NULL;
    if (r->t == R_SET || r->t == R_CHANGE) {
        int vr = rule_value(n, r, msg, &value);
        if (vr != A_OK) {
            return vr == A_SKIP ? A_OK : A_DROP;
        }
    }
    struct from f = {0};
    if (r->t == R_CHANGE && from_value(n, r, msg, &f) == A_SKIP) {
        ef_val_unref(value);
        return A_OK;
    }
    int rc = A_OK;
    if (r->p.kind == K_OTHER) {
        rc = A_DROP; /* Node-RED never completes such a rule */
    } else if (r->t == R_CHANGE) {
        rc = apply_change(n, r, msg, value, &f);
    } else {
        int crc;
        bool ok = target_set(n, &r->p, msg, r->t == R_SET ? ef_val_ref(value) : NULL, &crc);
        if (crc != 0) {
            ef_node_error(n, msg, "%s", ef_strerror(crc));
            rc = A_DROP;
        } else if (!ok && r->t == R_SET) {
            ef_node_warn(n, "Cannot set property of non-object type: %s", r->p.text);
        }
    }
    from_free(&f);
    ef_val_unref(value);
    return rc;
}

static int cb_change_input(struct ef_node *n, struct ef_msg *msg)
{
    struct change *c = ef_node_priv(n);
    for (size_t i = 0; i < c->nrules; i++) {
        if (apply_rule(n, &c->rules[i], msg) != A_OK) {
            ef_msg_free(msg);
            return EF_INPUT_DONE;
        }
    }
    if (ef_node_send(n, 0, msg) != 0) {
        ef_msg_free(msg);
    }
    return EF_INPUT_DONE;
}

static void cb_change_close(struct ef_node *n)
{
    struct change *c = ef_node_priv(n);
    for (size_t i = 0; i < c->nrules; i++) {
        rule_free(&c->rules[i]);
    }
    free(c->rules);
    ef_val_unref(c->legacy);
}

const struct ef_node_type ef_type_change = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "change",
    .description = "Sets, changes, deletes or moves message properties and context keys",
    .category = "function",
    .inputs = 1,
    .outputs = 1,
    .props = change_props,
    .priv_size = sizeof(struct change),
    .cb_init = cb_change_init,
    .cb_input = cb_change_input,
    .cb_close = cb_change_close,
};
