/*
 * switch.c - the switch node (Node-RED 10-switch.js): routes a message to
 * the outputs whose rule matches a property (msg, flow, global, env or
 * JSONata), with JavaScript's comparison semantics, "checking all rules" or
 * "stopping after the first match", sequence rules (head, tail, index) and
 * the repair of message sequences (msg.parts) per output.
 *
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "js.h"
#include "settings.h"
#include "typed.h"

enum op {
    OP_EQ,
    OP_NEQ,
    OP_LT,
    OP_LTE,
    OP_GT,
    OP_GTE,
    OP_BTWN,
    OP_CONT,
    OP_REGEX,
    OP_TRUE,
    OP_FALSE,
    OP_NULL,
    OP_NNULL,
    OP_ISTYPE,
    OP_EMPTY,
    OP_NEMPTY,
    OP_HEAD,
    OP_TAIL,
    OP_INDEX,
    OP_HASK,
    OP_JSONATA,
    OP_ELSE,
    OP_UNKNOWN
};

static const char *const op_names[] = {"eq",    "neq",    "lt",          "lte",    "gt",    "gte",
                                       "btwn",  "cont",   "regex",       "true",   "false", "null",
                                       "nnull", "istype", "empty",       "nempty", "head",  "tail",
                                       "index", "hask",   "jsonata_exp", "else",   NULL};

/* How an operand is found per message. */
enum { O_STATIC, O_PREV, O_JSONATA, O_MSG, O_CTX, O_DYNAMIC, O_UNDEF };

struct operand {
    int kind;
    const char *type;
    const struct ef_val *v; /* configured value (borrowed from the config) */
    struct ef_val *fixed;   /* O_STATIC */
    struct ef_path *path;   /* O_MSG */
    char perr[256];         /* O_MSG: why the path did not parse */
    char store[64];         /* O_CTX */
    const char *key;
    bool nested;
};

struct srule {
    enum op op;
    struct operand v1, v2;
    bool icase;
    struct js_regex *re; /* regex rule with a constant value */
};

/* Messages of one sequence (msg.parts.id) waiting for the rest. */
struct group {
    char *id;
    struct ef_msg **msgs;
    size_t n, cap;
    struct ef_val *count;     /* parts.count once seen */
    struct ef_msg ***onwards; /* repair: per message, one slot per port */
    size_t *onward_len;
    size_t nout, outcap;
    double received;
};

struct sw {
    struct srule *rules;
    size_t nrules;
    struct operand prop; /* the property (propertyType + property) */
    const char *ptype;
    bool stop_first;
    bool repair, needs_count;
    struct ef_val *prev;
    struct group **in, **out;
    size_t nin, nout;
    size_t held; /* messages held in in and out (nodeMessageBufferMaxLength) */
};

static const struct ef_prop switch_props[] = {
    {EF_PROP_ANY, "property", "\"payload\"", false, "the property to test", EF_PROP_NOFIELD},
    {EF_PROP_STR, "propertyType", "\"msg\"", false, "msg, flow, global, env or jsonata",
     offsetof(struct sw, ptype)},
    {EF_PROP_ANY, "rules", "[]", false,
     "array of rules {t, v, vt, v2, v2t, case}; rule i sends to output i", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "checkall", "\"true\"", false, "\"false\": stop after the first matching rule",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "repair", "false", false, "recreate message sequences (msg.parts) per output",
     EF_PROP_NOFIELD},
    {EF_PROP_END},
};

static bool is_static_type(const char *t)
{
    return strcmp(t, "msg") && strcmp(t, "flow") && strcmp(t, "global") && strcmp(t, "jsonata") &&
           strcmp(t, "prev") && strcmp(t, "date");
}

/* !isNaN(Number(v)) */
static bool numeric(const struct ef_val *v)
{
    return !isnan(js__to_number(v));
}

/* Prepares an operand (RED.util.evaluateNodeProperty of v as type). */
static int operand_init(struct ef_node *n, struct operand *o, const char *type,
                        const struct ef_val *v, bool first)
{
    char err[512];
    o->type = type;
    o->v = v;
    if (!strcmp(type, "prev")) {
        o->kind = O_PREV;
    } else if (!strcmp(type, "jsonata")) {
        o->kind = O_JSONATA;
    } else if (first && (!strcmp(type, "json") || !strcmp(type, "null"))) {
        /* Node-RED's getV1 yields the type name itself for these */
        o->kind = O_STATIC;
        o->fixed = ef_val_str(type);
    } else if (!strcmp(type, "msg")) {
        o->kind = O_MSG;
        const char *expr = ef_val_str_get(v);
        if (!strncmp(expr, "msg.", 4)) {
            expr += 4;
        }
        o->path = ef_path_parse(expr, o->perr, sizeof(o->perr));
    } else if (!strcmp(type, "flow") || !strcmp(type, "global")) {
        o->kind = O_CTX;
        o->key = ef_ctx_parse_store(ef_val_str_get(v), o->store, sizeof(o->store));
        o->nested = strstr(o->key, "[msg") != NULL;
    } else if (is_static_type(type)) {
        o->kind = O_STATIC;
        if (ef_node_eval_typed(n, type, v, NULL, &o->fixed, err, sizeof(err)) != 0) {
            o->fixed = NULL; /* evaluateNodeProperty failed: undefined */
        }
    } else {
        o->kind = O_DYNAMIC;
    }
    return 0;
}

static void operand_free(struct operand *o)
{
    ef_val_unref(o->fixed);
    ef_path_free(o->path);
}

/*
 * The operand's value for msg (new ref; NULL = undefined). Returns 0, or
 * -1 after reporting an error for msg (the message is then not sent).
 */
static int operand_get(struct ef_node *n, struct sw *s, const struct operand *o,
                       const struct ef_msg *msg, struct ef_val **out)
{
    char err[512];
    *out = NULL;
    switch (o->kind) {
    case O_STATIC: *out = ef_val_ref(o->fixed); return 0;
    case O_PREV: *out = ef_val_ref(s->prev); return 0;
    case O_JSONATA:
        if (ef_node_eval_typed(n, "jsonata", o->v, msg, out, err, sizeof(err)) != 0) {
            ef_node_error(n, msg, "%s%s", js__jsonata_prefix(err), err);
            return -1;
        }
        return 0;
    case O_MSG:
        if (!o->path) {
            ef_node_error(n, msg, "Error: %s", o->perr);
            return -1;
        }
        *out = ef_val_ref(ef_path_get(ef_msg_root(msg), o->path, ef_msg_root(msg)));
        return 0;
    case O_CTX: {
        char *key = o->nested ? js__resolve_ctx_key(o->key, msg) : NULL;
        *out = ef_ctx_get(n, !strcmp(o->type, "flow") ? EF_CTX_FLOW : EF_CTX_GLOBAL,
                          o->store[0] ? o->store : NULL, key ? key : o->key);
        free(key);
        return 0;
    }
    case O_DYNAMIC:
        if (ef_node_eval_typed(n, o->type, o->v, msg, out, err, sizeof(err)) != 0) {
            *out = NULL;
        }
        return 0;
    default: return 0;
    }
}

/* rule.vt / rule.v2t when absent: "num" if Number(v) is a number, else "str". */
static const char *value_type(const struct ef_val *rule, const char *tkey, const char *vkey)
{
    const struct ef_val *t = ef_val_obj_get(rule, tkey);
    if (ef_val_type(t) == EF_STR && *ef_val_str_get(t)) {
        return ef_val_str_get(t);
    }
    return numeric(ef_val_obj_get(rule, vkey)) ? "num" : "str";
}

static void cb_switch_close(struct ef_node *n);

static int cb_switch_init(struct ef_node *n, const struct ef_val *config)
{
    struct sw *s = ef_node_priv(n);
    char err[512];
    const struct ef_val *rules = ef_val_obj_get(config, "rules");
    const struct ef_val *checkall = ef_val_obj_get(config, "checkall");
    /* n.checkall || "true", compared with == "false" */
    s->stop_first = ef_val_type(checkall) == EF_STR && !strcmp(ef_val_str_get(checkall), "false");
    s->repair = ef_val_truthy(ef_val_obj_get(config, "repair"));
    s->needs_count = s->repair;
    s->prev = ef_val_null();
    s->nrules = ef_val_arr_len(rules);
    s->rules = s->nrules ? calloc(s->nrules, sizeof(*s->rules)) : NULL;
    if (s->nrules && !s->rules) {
        return EF_ENOMEM;
    }
    const struct ef_val *property = ef_val_obj_get(config, "property");
    if (!strcmp(s->ptype, "msg")) {
        operand_init(n, &s->prop, "msg", property, false);
        if (!s->prop.path) {
            ef_node_error(n, NULL, "%s", s->prop.perr);
            cb_switch_close(n);
            return EF_EINVAL;
        }
    } else if (!strcmp(s->ptype, "jsonata")) {
        s->prop.kind = O_JSONATA;
        s->prop.type = "jsonata";
        s->prop.v = property;
    } else {
        operand_init(n, &s->prop, s->ptype, property, false);
    }
    for (size_t i = 0; i < s->nrules; i++) {
        const struct ef_val *rc = ef_val_arr_at(rules, i);
        struct srule *r = &s->rules[i];
        const char *t = ef_val_str_get(ef_val_obj_get(rc, "t"));
        r->op = OP_UNKNOWN;
        for (int k = 0; op_names[k]; k++) {
            if (!strcmp(t, op_names[k])) {
                r->op = (enum op)k;
            }
        }
        if (r->op == OP_TAIL) {
            s->needs_count = true;
        }
        r->icase = ef_val_truthy(ef_val_obj_get(rc, "case"));
        const char *vt = value_type(rc, "vt", "v");
        operand_init(n, &r->v1, vt, ef_val_obj_get(rc, "v"), true);
        const struct ef_val *v2 = ef_val_obj_get(rc, "v2");
        if (v2) {
            operand_init(n, &r->v2, value_type(rc, "v2t", "v2"), v2, false);
        } else {
            r->v2.kind = O_UNDEF;
        }
        if (r->op == OP_REGEX && r->v1.kind == O_STATIC) {
            const char *src = js__regexp_source(r->v1.fixed);
            size_t len = 0;
            char *text = NULL;
            if (!src) {
                text = r->v1.fixed ? js__to_string(r->v1.fixed, &len) : strdup("(?:)");
                len = text ? strlen(text) : 0;
                src = text;
            } else {
                len = strlen(src);
            }
            /* an invalid constant regex fails per message, as in Node-RED */
            r->re = src ? js__regex_new(src, len, r->icase ? "i" : "", err, sizeof(err)) : NULL;
            free(text);
        }
    }
    return 0;
}

/* ---- The operators ---- */

static bool str_contains(const struct ef_val *a, const struct ef_val *b)
{
    size_t al, bl;
    char *as = js__to_string(a, &al), *bs = js__to_string(b, &bl);
    bool r = as && bs && (bl == 0 || memmem(as, al, bs, bl) != NULL);
    free(as);
    free(bs);
    return r;
}

static bool is_empty(const struct ef_val *a, bool *applies)
{
    *applies = true;
    switch (ef_val_type(a)) {
    case EF_STR: return a && ef_val_str_len(a) == 0;
    case EF_ARR: return ef_val_arr_len(a) == 0;
    case EF_BUF: return ef_val_buf_len(a) == 0;
    case EF_OBJ: return ef_val_obj_len(a) == 0;
    case EF_HANDLE: return true;
    default: *applies = false; return false;
    }
}

static bool is_type(const struct ef_val *a, const struct ef_val *bv)
{
    const char *b = ef_val_type(bv) == EF_STR ? ef_val_str_get(bv) : "";
    enum ef_type t = ef_val_type(a);
    if (!strcmp(b, "array")) {
        return a && t == EF_ARR;
    }
    if (!strcmp(b, "buffer")) {
        return a && t == EF_BUF;
    }
    if (!strcmp(b, "json")) {
        size_t len;
        char *text = js__to_string(a, &len);
        struct ef_val *j = text ? ef_json_parse(text, len, NULL, 0) : NULL;
        free(text);
        ef_val_unref(j);
        return j != NULL;
    }
    if (!strcmp(b, "null")) {
        return a && t == EF_NULL;
    }
    if (!strcmp(b, "number")) {
        return a && t == EF_NUM && !isnan(ef_val_num_get(a));
    }
    if (a && (t == EF_ARR || t == EF_BUF || t == EF_NULL)) {
        return false;
    }
    return !strcmp(js__typeof(a), b);
}

/* A canonical array index ("0", "12"), as hasOwnProperty sees one. */
static bool array_index(const char *s, size_t len, size_t *idx)
{
    if (len == 0 || len > 10 || (len > 1 && s[0] == '0')) {
        return false;
    }
    size_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (size_t)(s[i] - '0');
    }
    *idx = v;
    return v < 4294967295u;
}

static bool has_key(const struct ef_val *a, const struct ef_val *b)
{
    enum ef_type bt = ef_val_type(b);
    if (!a || ef_val_type(a) == EF_NULL ||
        (b && (bt == EF_NULL || bt == EF_ARR || bt == EF_OBJ || bt == EF_BUF || bt == EF_HANDLE))) {
        return false;
    }
    size_t kl, idx;
    char *k = js__to_string(b, &kl);
    bool r = false;
    if (!k) {
        return false;
    }
    switch (ef_val_type(a)) {
    case EF_OBJ: r = ef_val_obj_getn(a, k, kl) != NULL; break;
    case EF_ARR:
        r = !strcmp(k, "length") || (array_index(k, kl, &idx) && idx < ef_val_arr_len(a));
        break;
    case EF_BUF: r = array_index(k, kl, &idx) && idx < ef_val_buf_len(a); break;
    case EF_STR:
        r = !strcmp(k, "length") || (array_index(k, kl, &idx) &&
                                     idx < js__utf16_length(ef_val_str_get(a), ef_val_str_len(a)));
        break;
    default: break;
    }
    free(k);
    return r;
}

/* `parts.<field>` for the sequence rules; -1 after a TypeError. */
static int parts_field(struct ef_node *n, const struct ef_msg *msg, const char *field,
                       const struct ef_val **out)
{
    const struct ef_val *parts = ef_msg_get(msg, "parts");
    if (!parts || ef_val_type(parts) == EF_NULL) {
        ef_node_error(n, msg, "TypeError: Cannot read properties of %s (reading '%s')",
                      parts ? "null" : "undefined", field);
        return -1;
    }
    *out = ef_val_type(parts) == EF_OBJ ? ef_val_obj_get(parts, field) : NULL;
    return 0;
}

/* Evaluates one rule; 1 match, 0 no match, -1 error (reported). */
static int eval_rule(struct ef_node *n, struct srule *r, const struct ef_val *a,
                     const struct ef_val *b, const struct ef_val *c, const struct ef_msg *msg)
{
    const struct ef_val *idx = NULL, *cnt = NULL;
    switch (r->op) {
    case OP_EQ: return js__loose_eq(a, b);
    case OP_NEQ: return !js__loose_eq(a, b);
    case OP_LT: return js__compare(a, b, '<');
    case OP_LTE: return js__compare(a, b, 'l');
    case OP_GT: return js__compare(a, b, '>');
    case OP_GTE: return js__compare(a, b, 'g');
    case OP_BTWN:
        return (js__compare(a, b, 'g') && js__compare(a, c, 'l')) ||
               (js__compare(a, b, 'l') && js__compare(a, c, 'g'));
    case OP_CONT: return str_contains(a, b);
    case OP_REGEX: {
        char err[512];
        struct js_regex *re = r->re;
        if (!re) {
            const char *src = js__regexp_source(b);
            char *text = NULL;
            size_t len;
            if (!src) {
                text = b ? js__to_string(b, &len) : strdup("(?:)");
                src = text;
            }
            re =
                src ? js__regex_new(src, strlen(src), r->icase ? "i" : "", err, sizeof(err)) : NULL;
            free(text);
            if (!re) {
                ef_node_error(n, msg, "SyntaxError: %s", err);
                return -1;
            }
        }
        size_t len;
        char *s = js__to_string(a, &len);
        int m = s ? js__regex_test(re, s, len) : 0;
        free(s);
        if (re != r->re) {
            js__regex_free(re);
        }
        return m;
    }
    case OP_TRUE: return ef_val_type(a) == EF_BOOL && a && ef_val_bool_get(a);
    case OP_FALSE: return ef_val_type(a) == EF_BOOL && a && !ef_val_bool_get(a);
    case OP_NULL: return !a || ef_val_type(a) == EF_NULL;
    case OP_NNULL: return a && ef_val_type(a) != EF_NULL;
    case OP_ISTYPE: return is_type(a, b);
    case OP_EMPTY:
    case OP_NEMPTY: {
        bool applies;
        bool e = a ? is_empty(a, &applies) : (applies = false);
        return applies ? (r->op == OP_EMPTY ? e : !e) : 0;
    }
    case OP_HEAD: {
        struct ef_val *count = ef_val_num(js__to_number(b));
        int rc = parts_field(n, msg, "index", &idx);
        int m = rc == 0 && js__compare(idx, count, '<');
        ef_val_unref(count);
        return rc ? -1 : m;
    }
    case OP_TAIL: {
        if (parts_field(n, msg, "count", &cnt) != 0) {
            return -1;
        }
        parts_field(n, msg, "index", &idx);
        struct ef_val *d = ef_val_num(js__to_number(cnt) - js__to_number(b));
        int m = js__compare(d, idx, 'l');
        ef_val_unref(d);
        return m;
    }
    case OP_INDEX: {
        struct ef_val *min = ef_val_num(js__to_number(b)), *max = ef_val_num(js__to_number(c));
        int rc = parts_field(n, msg, "index", &idx);
        int m = rc == 0 && js__compare(min, idx, 'l') && js__compare(idx, max, 'l');
        ef_val_unref(min);
        ef_val_unref(max);
        return rc ? -1 : m;
    }
    case OP_HASK: return has_key(a, b);
    case OP_JSONATA: return ef_val_type(b) == EF_BOOL && b && ef_val_bool_get(b);
    case OP_ELSE: return ef_val_type(a) == EF_BOOL && a && ef_val_bool_get(a);
    default: ef_node_error(n, msg, "TypeError: operators[rule.t] is not a function"); return -1;
    }
}

/*
 * applyRules: fills match[i] for the rules evaluated and returns how many
 * were (the length of Node-RED's `onward`), or -1 after an error.
 */
static int apply_rules(struct ef_node *n, struct sw *s, const struct ef_msg *msg,
                       const struct ef_val *property, bool *match)
{
    bool elseflag = true;
    size_t i;
    if (s->nrules == 0) {
        return 0;
    }
    for (i = 0; i < s->nrules; i++) {
        struct srule *r = &s->rules[i];
        struct ef_val *v1 = NULL, *v2 = NULL;
        if (operand_get(n, s, &r->v1, msg, &v1) != 0 || operand_get(n, s, &r->v2, msg, &v2) != 0) {
            ef_val_unref(v1);
            return -1;
        }
        struct ef_val *flag = NULL;
        const struct ef_val *a = property;
        if (r->op == OP_ELSE) {
            flag = ef_val_bool(elseflag);
            a = flag;
            elseflag = true;
        }
        int m = eval_rule(n, r, a, v1, v2, msg);
        ef_val_unref(flag);
        ef_val_unref(v1);
        ef_val_unref(v2);
        if (m < 0) {
            return -1;
        }
        match[i] = m > 0;
        if (m > 0) {
            elseflag = false;
            if (s->stop_first) {
                i++;
                break;
            }
        }
    }
    ef_val_unref(s->prev);
    s->prev = ef_val_ref((struct ef_val *)property);
    return (int)i;
}

/* Sends msg out of every port whose slot is set (node.send(onward)). */
static void send_onward(struct ef_node *n, struct ef_msg *msg, const bool *match, int len)
{
    int nports = ef_node_outputs(n);
    if (len > nports) {
        len = nports;
    }
    struct ef_msg *stack[16];
    struct ef_msg **msgs = len <= 16 ? stack : calloc((size_t)len, sizeof(*msgs));
    if (!msgs) {
        ef_msg_free(msg);
        return;
    }
    bool used = false;
    for (int i = 0; i < len; i++) {
        msgs[i] = NULL;
        if (match[i]) {
            msgs[i] = used ? ef_msg_share(msg) : msg;
            used = true;
        }
    }
    if (!used || ef_node_send_ports(n, msgs, len) != 0) {
        for (int i = 0; i < len; i++) {
            if (msgs[i] != msg) {
                ef_msg_free(msgs[i]);
            }
        }
        ef_msg_free(msg);
    }
    if (msgs != stack) {
        free(msgs);
    }
}

/* ---- Sequences ---- */

static bool has_parts(const struct ef_msg *msg)
{
    const struct ef_val *parts = ef_msg_get(msg, "parts");
    return ef_val_type(parts) == EF_OBJ && parts && ef_val_obj_get(parts, "id") &&
           ef_val_obj_get(parts, "index");
}

/* Groups are keyed by String(parts.id). */
static struct group *group_find(struct group ***list, size_t *n, const struct ef_msg *msg,
                                bool create)
{
    size_t kl;
    char *key = js__to_string(ef_msg_get(msg, "parts.id"), &kl);
    if (!key) {
        return NULL;
    }
    for (size_t i = 0; i < *n; i++) {
        if (!strcmp((*list)[i]->id, key)) {
            free(key);
            return (*list)[i];
        }
    }
    struct group *g = create ? calloc(1, sizeof(*g)) : NULL;
    struct group **nl = g ? realloc(*list, (*n + 1) * sizeof(**list)) : NULL;
    if (!nl) {
        free(g);
        free(key);
        return NULL;
    }
    *list = nl;
    g->id = key;
    (*list)[(*n)++] = g;
    return g;
}

static void group_free(struct group *g)
{
    for (size_t i = 0; i < g->n; i++) {
        ef_msg_free(g->msgs[i]);
    }
    for (size_t i = 0; i < g->nout; i++) {
        for (size_t j = 0; j < g->onward_len[i]; j++) {
            ef_msg_free(g->onwards[i][j]);
        }
        free(g->onwards[i]);
    }
    free(g->onwards);
    free(g->onward_len);
    free(g->msgs);
    ef_val_unref(g->count);
    free(g->id);
    free(g);
}

static void group_remove(struct group ***list, size_t *n, struct group *g)
{
    for (size_t i = 0; i < *n; i++) {
        if ((*list)[i] == g) {
            (*list)[i] = (*list)[--*n];
            break;
        }
    }
    group_free(g);
}

/* sendGroup: every port's messages become a sequence of their own. */
static void send_group(struct ef_node *n, struct group *g, size_t nports)
{
    size_t *counts = calloc(nports + 1, sizeof(size_t));
    size_t *indexes = calloc(nports + 1, sizeof(size_t));
    char(*ids)[17] = calloc(nports + 1, sizeof(*ids));
    struct ef_msg **ports = calloc(nports + 1, sizeof(*ports));
    int outputs = ef_node_outputs(n);
    if (counts && indexes && ids && ports) {
        for (size_t i = 0; i < g->nout; i++) {
            for (size_t j = 0; j < nports; j++) {
                /* a short onward counts its missing slots (undefined !== null) */
                counts[j] += j >= g->onward_len[i] || g->onwards[i][j] != NULL;
            }
        }
        for (size_t j = 0; j < nports; j++) {
            ef_id_new(ids[j]);
        }
        for (size_t i = 0; i < g->nout; i++) {
            for (size_t j = 0; j < nports; j++) {
                struct ef_msg *m = j < g->onward_len[i] ? g->onwards[i][j] : NULL;
                ports[j] = NULL;
                if (m) {
                    struct ef_msg *c = ef_msg_clone(m);
                    if (c) {
                        ef_msg_set_take(c, "parts.id", ef_val_str(ids[j]));
                        ef_msg_set_take(c, "parts.index", ef_val_num((double)indexes[j]));
                        ef_msg_set_take(c, "parts.count", ef_val_num((double)counts[j]));
                    }
                    ports[j] = c;
                    indexes[j]++;
                }
            }
            int np = (int)nports < outputs ? (int)nports : outputs;
            for (size_t j = (size_t)np; j < nports; j++) {
                ef_msg_free(ports[j]);
                ports[j] = NULL;
            }
            if (ef_node_send_ports(n, ports, np) != 0) {
                for (int j = 0; j < np; j++) {
                    ef_msg_free(ports[j]);
                }
            }
        }
    }
    free(counts);
    free(indexes);
    free(ids);
    free(ports);
}

/*
 * nodeMessageBufferMaxLength: when more than that many messages are held,
 * every held sequence is dropped and the error reported with msg (borrowed).
 */
static void check_held(struct ef_node *n, struct sw *s, const struct ef_msg *msg)
{
    const struct ef_val *v = settings__get(n->fs->rt->settings, "nodeMessageBufferMaxLength");
    double max = ef_val_type(v) == EF_NUM ? ef_val_num_get(v) : 0;
    if (max <= 0 || (double)s->held <= max) {
        return;
    }
    ef_node_error(n, msg, "too many pending messages in switch node");
    for (size_t i = 0; i < s->nin; i++) {
        group_free(s->in[i]);
    }
    for (size_t i = 0; i < s->nout; i++) {
        group_free(s->out[i]);
    }
    s->nin = s->nout = 0;
    s->held = 0;
}

/* sendGroupMessages: keeps one message's onward until its sequence is complete. */
static void keep_onward(struct ef_node *n, struct sw *s, struct ef_msg *msg, const bool *match,
                        int len)
{
    struct group *g = group_find(&s->out, &s->nout, msg, true);
    struct ef_msg **slots = calloc((size_t)len + 1, sizeof(*slots));
    if (g && slots && g->nout == g->outcap) {
        size_t cap = g->outcap * 2 + 4;
        struct ef_msg ***o = realloc(g->onwards, cap * sizeof(*o));
        g->onwards = o ? o : g->onwards;
        size_t *l = o ? realloc(g->onward_len, cap * sizeof(*l)) : NULL;
        g->onward_len = l ? l : g->onward_len;
        g->outcap = l ? cap : g->outcap;
    }
    if (!g || !slots || g->nout == g->outcap) {
        free(slots);
        ef_msg_free(msg);
        return;
    }
    for (int j = 0; j < len; j++) {
        slots[j] = match[j] ? ef_msg_share(msg) : NULL;
    }
    g->received++;
    bool send_ok = ef_val_type(ef_msg_get(msg, "parts.count")) == EF_NUM &&
                   g->received == ef_val_num_get(ef_msg_get(msg, "parts.count"));
    g->onwards[g->nout] = slots;
    g->onward_len[g->nout] = (size_t)len;
    g->nout++;
    s->held++;
    if (send_ok) {
        send_group(n, g, (size_t)len);
        s->held -= g->nout;
        group_remove(&s->out, &s->nout, g);
    }
    check_held(n, s, msg);
    ef_msg_free(msg);
}

/* processMessage(msg, checkParts) */
static void process(struct ef_node *n, struct sw *s, struct ef_msg *msg, bool check_parts);

/* addMessageToPending: holds sequence messages until parts.count is known. */
static void add_pending(struct ef_node *n, struct sw *s, struct ef_msg *msg)
{
    struct group *g = group_find(&s->in, &s->nin, msg, true);
    if (g && g->n == g->cap) {
        size_t cap = g->cap * 2 + 4;
        struct ef_msg **m = realloc(g->msgs, cap * sizeof(*m));
        if (m) {
            g->msgs = m;
            g->cap = cap;
        }
    }
    if (!g || g->n == g->cap) {
        ef_msg_free(msg);
        return;
    }
    const struct ef_val *pc = ef_msg_get(msg, "parts.count");
    g->msgs[g->n++] = msg;
    s->held++;
    if (pc) {
        ef_val_unref(g->count);
        g->count = ef_val_ref((struct ef_val *)pc);
    }
    if (ef_val_type(g->count) != EF_NUM || ef_val_num_get(g->count) != (double)g->n) {
        check_held(n, s, msg);
        return;
    }
    s->held -= g->n;
    /* Complete: process the messages in order with the count filled in. */
    size_t count = g->n;
    struct ef_msg **msgs = g->msgs;
    g->msgs = NULL;
    g->n = g->cap = 0;
    group_remove(&s->in, &s->nin, g);
    for (size_t i = 0; i < count; i++) {
        ef_msg_set_take(msgs[i], "parts.count", ef_val_num((double)count));
        process(n, s, msgs[i], false);
    }
    free(msgs);
}

static void process(struct ef_node *n, struct sw *s, struct ef_msg *msg, bool check_parts)
{
    char err[512];
    bool parts = has_parts(msg);
    if (s->needs_count && check_parts && parts) {
        add_pending(n, s, msg);
        return;
    }
    struct ef_val *property = NULL;
    if (s->prop.kind == O_JSONATA) {
        if (ef_node_eval_typed(n, "jsonata", s->prop.v, msg, &property, err, sizeof(err)) != 0) {
            ef_node_warn(n, "%s%s", js__jsonata_prefix(err), err);
            ef_msg_free(msg);
            return;
        }
    } else if (operand_get(n, s, &s->prop, msg, &property) != 0) {
        ef_msg_free(msg);
        return;
    }
    bool stack[16];
    bool *match = s->nrules <= 16 ? stack : calloc(s->nrules, sizeof(bool));
    int len = match ? apply_rules(n, s, msg, property, match) : -1;
    ef_val_unref(property);
    if (len < 0) {
        ef_msg_free(msg);
    } else if (!s->repair || !parts) {
        send_onward(n, msg, match, len);
    } else {
        keep_onward(n, s, msg, match, len);
    }
    if (match != stack) {
        free(match);
    }
}

static int cb_switch_input(struct ef_node *n, struct ef_msg *msg)
{
    process(n, ef_node_priv(n), msg, true);
    return EF_INPUT_DONE;
}

static void cb_switch_close(struct ef_node *n)
{
    struct sw *s = ef_node_priv(n);
    for (size_t i = 0; i < s->nrules; i++) {
        operand_free(&s->rules[i].v1);
        operand_free(&s->rules[i].v2);
        js__regex_free(s->rules[i].re);
    }
    free(s->rules);
    operand_free(&s->prop);
    ef_val_unref(s->prev);
    for (size_t i = 0; i < s->nin; i++) {
        group_free(s->in[i]);
    }
    for (size_t i = 0; i < s->nout; i++) {
        group_free(s->out[i]);
    }
    free(s->in);
    free(s->out);
    memset(s, 0, sizeof(*s));
}

const struct ef_node_type ef_type_switch = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "switch",
    .description = "Routes messages by property value or sequence position",
    .category = "function",
    .inputs = 1,
    .outputs = EF_OUTPUTS_FROM_CONFIG,
    .props = switch_props,
    .priv_size = sizeof(struct sw),
    .cb_init = cb_switch_init,
    .cb_input = cb_switch_input,
    .cb_close = cb_switch_close,
};
