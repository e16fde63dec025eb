/*
 * join.c - the join node (Node-RED 17-split.js, JoinNode): automatic
 * reassembly of sequences made by split (msg.parts), manual joins into a
 * string, Buffer, array, key/value object or merged object (completed by a
 * count, a timeout or msg.complete; optionally accumulating), and reduce
 * mode, where a JSONata expression folds a sequence with $A (accumulator),
 * $I (index) and $N (count), an init value and a fixup expression, left to
 * right or right to left.
 *
 * Parts are kept by reference (values are refcounted), indexed arrays grow
 * in place, so joining n parts is O(n). Completion of held messages is
 * reported to complete nodes when they arrive (see docs/nodes.md).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <edgeflow/edgeflow.h>

#include "js.h"
#include "lib/seq.h"

enum { M_AUTO, M_CUSTOM, M_REDUCE };

/* One group being joined (Node-RED's inflight[partId]). */
struct jgroup {
    struct ef_val *id;      /* the partId (string) */
    double current, target; /* target NaN = undefined */
    char *type;             /* group.type */
    struct ef_val *payload; /* array or object */
    struct ef_val *msg;     /* group.msg (root object) */
    struct ef_val *joinchar;
    struct ef_val *arraylen;
    double bufferlen;
    char *prop;
    struct ef_timer *timer;
    struct ef_node *node;
    struct jgroup *next;
};

/* A reduce group (Node-RED's pending[gid]). */
struct rgroup {
    struct ef_val *id;
    double count;
    struct ef_msg **msgs;
    size_t n, cap;
    struct rgroup *next;
};

struct join {
    int mode;
    bool full, broken, count_blank, useparts, accumulate;
    struct seq_prop prop, key;
    const char *build;
    double count, timer_ms;
    struct ef_val *joiner; /* string or buffer */
    struct jgroup *inflight;
    /* reduce */
    struct seq_jexpr rexp, fexp;
    bool has_fixup, reduce_right;
    const struct ef_val *init, *init_type;
    struct rgroup *pending;
    double pending_count;
};

static const struct ef_prop join_props[] = {
    {EF_PROP_STR, "mode", "\"auto\"", false, "auto, custom or reduce", EF_PROP_NOFIELD},
    {EF_PROP_STR, "build", "\"array\"", false, "string, buffer, array, object or merged",
     EF_PROP_NOFIELD},
    {EF_PROP_STR, "property", "\"payload\"", false, "the property to join", EF_PROP_NOFIELD},
    {EF_PROP_STR, "propertyType", "\"msg\"", false, "msg, or full for whole messages",
     EF_PROP_NOFIELD},
    {EF_PROP_STR, "key", "\"topic\"", false, "object: the property holding the key",
     EF_PROP_NOFIELD},
    {EF_PROP_STR, "joiner", "\"\"", false, "string: the joiner (escapes like \\n)",
     EF_PROP_NOFIELD},
    {EF_PROP_STR, "joinerType", "\"str\"", false, "str or bin", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "useparts", NULL, false, "custom mode: keep msg.parts", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "accumulate", NULL, false, "keep accumulating after sending", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "timeout", NULL, false, "seconds before sending what has arrived",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "count", NULL, false, "number of parts (\"\" uses msg.parts.count)",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "reduceRight", NULL, false, "reduce right to left", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "reduceExp", NULL, false, "reduce: JSONata expression ($A, $I, $N)",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "reduceInit", NULL, false, "reduce: initial value", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "reduceInitType", NULL, false, "reduce: type of the initial value",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "reduceFixup", NULL, false, "reduce: fixup expression ($A, $N)", EF_PROP_NOFIELD},
    {EF_PROP_END},
};

static void oset(struct ef_val *o, const char *k, struct ef_val *v)
{
    if (!v || ef_val_obj_set_take(o, k, v) != 0) {
        ef_val_unref(v);
    }
}

/* ---- configuration ---- */

static void join_close(struct ef_node *n);

static int join_init(struct ef_node *n, const struct ef_val *config)
{
    struct join *j = ef_node_priv(n);
    char err[300];
    const char *mode = ef_val_str_get(ef_val_obj_get(config, "mode"));
    j->mode = !strcmp(mode, "custom") ? M_CUSTOM : !strcmp(mode, "reduce") ? M_REDUCE : M_AUTO;
    if (*mode && strcmp(mode, "auto") && strcmp(mode, "custom") && strcmp(mode, "reduce")) {
        j->mode = M_CUSTOM; /* Node-RED treats any other mode like custom */
    }
    const char *ptype = ef_val_str_get(ef_val_obj_get(config, "propertyType"));
    j->full = !strcmp(ptype, "full");
    const char *prop = ef_val_str_get(ef_val_obj_get(config, "property"));
    if (j->full || !*prop) {
        prop = "payload";
    }
    if (seq__prop_init(&j->prop, prop, err, sizeof(err)) != 0) {
        ef_node_error(n, NULL, "%s", err);
        return EF_EINVAL;
    }
    const char *key = ef_val_str_get(ef_val_obj_get(config, "key"));
    if (seq__prop_init(&j->key, *key ? key : "topic", err, sizeof(err)) != 0) {
        ef_node_error(n, NULL, "%s", err);
        join_close(n); /* no cb_close after a failed init: free what was set up */
        return EF_EINVAL;
    }
    j->timer_ms = 0;
    if (j->mode != M_AUTO) {
        const struct ef_val *t = ef_val_obj_get(config, "timeout");
        j->timer_ms = ef_val_truthy(t) ? js__to_number(t) * 1000 : 0;
    }
    const struct ef_val *count = ef_val_obj_get(config, "count");
    j->count = ef_val_truthy(count) ? js__to_number(count) : 0;
    j->count_blank = ef_val_type(count) == EF_STR && ef_val_str_len(count) == 0;
    const struct ef_val *up = ef_val_obj_get(config, "useparts");
    j->useparts = up ? ef_val_truthy(up) : true;
    j->accumulate = ef_val_type(ef_val_obj_get(config, "accumulate")) == EF_BOOL &&
                    ef_val_bool_get(ef_val_obj_get(config, "accumulate"));
    const char *build = ef_val_str_get(ef_val_obj_get(config, "build"));
    j->build = *build ? build : "array";

    if (j->mode == M_REDUCE) {
        j->init = ef_val_obj_get(config, "reduceInit");
        j->init_type = ef_val_obj_get(config, "reduceInitType");
        j->reduce_right = ef_val_truthy(ef_val_obj_get(config, "reduceRight"));
        const struct ef_val *rexp = ef_val_obj_get(config, "reduceExp");
        const struct ef_val *fix = ef_val_obj_get(config, "reduceFixup");
        if (seq__jexpr_compile(&j->rexp, ef_val_str_get(rexp), err, sizeof(err)) != 0) {
            seq__init_error(n, "Invalid JSONata expression: %s", err);
            j->broken = true;
            return 0;
        }
        if (ef_val_type(fix) == EF_STR && ef_val_str_len(fix) > 0) {
            if (seq__jexpr_compile(&j->fexp, ef_val_str_get(fix), err, sizeof(err)) != 0) {
                seq__init_error(n, "Invalid JSONata expression: %s", err);
                j->broken = true;
                return 0;
            }
            j->has_fixup = true;
        }
    }
    const char *jt = ef_val_str_get(ef_val_obj_get(config, "joinerType"));
    const char *joiner = ef_val_str_get(ef_val_obj_get(config, "joiner"));
    if (!strcmp(jt, "bin")) {
        struct ef_val *arr = ef_json_parse(*joiner ? joiner : "[]", strlen(*joiner ? joiner : "[]"),
                                           err, sizeof(err));
        if (!arr || ef_val_type(arr) != EF_ARR) {
            /* Node-RED throws from the constructor: the node is not created */
            ef_node_error(n, NULL, "%s", arr ? "Error: not an array" : err);
            ef_val_unref(arr);
            join_close(n);
            return EF_EINVAL;
        }
        size_t l = ef_val_arr_len(arr);
        uint8_t *b = malloc(l + 1);
        for (size_t i = 0; b && i < l; i++) {
            b[i] = (uint8_t)(int64_t)js__to_number(ef_val_arr_at(arr, i));
        }
        j->joiner = b ? ef_val_buf_take(b, l) : NULL;
        ef_val_unref(arr);
    } else if (!*jt || !strcmp(jt, "str")) {
        size_t l;
        char *u = seq__unescape(joiner, &l);
        j->joiner = u ? ef_val_str_take(u, l) : NULL;
    } else {
        j->joiner = ef_val_str(joiner);
    }
    return 0;
}

static void group_free(struct jgroup *g)
{
    ef_timer_free(g->timer);
    ef_val_unref(g->id);
    free(g->type);
    ef_val_unref(g->payload);
    ef_val_unref(g->msg);
    ef_val_unref(g->joinchar);
    ef_val_unref(g->arraylen);
    free(g->prop);
    free(g);
}

static void rgroup_free(struct rgroup *g)
{
    for (size_t i = 0; i < g->n; i++) {
        ef_msg_free(g->msgs[i]);
    }
    free(g->msgs);
    ef_val_unref(g->id);
    free(g);
}

static void join_close(struct ef_node *n)
{
    struct join *j = ef_node_priv(n);
    while (j->inflight) {
        struct jgroup *g = j->inflight;
        j->inflight = g->next;
        group_free(g);
    }
    while (j->pending) {
        struct rgroup *g = j->pending;
        j->pending = g->next;
        rgroup_free(g);
    }
    seq__prop_free(&j->prop);
    seq__prop_free(&j->key);
    seq__jexpr_free(&j->rexp);
    seq__jexpr_free(&j->fexp);
    ef_val_unref(j->joiner);
}

/* ---- groups ---- */

static bool id_eq(const struct ef_val *a, const struct ef_val *b)
{
    return ef_val_equal(a, b);
}

static struct jgroup *group_find(struct join *j, const struct ef_val *id, struct jgroup ***prevp)
{
    struct jgroup **pp = &j->inflight;
    for (; *pp; pp = &(*pp)->next) {
        if (id_eq((*pp)->id, id)) {
            if (prevp) {
                *prevp = pp;
            }
            return *pp;
        }
    }
    return NULL;
}

static void group_unlink(struct join *j, struct jgroup *g)
{
    for (struct jgroup **pp = &j->inflight; *pp; pp = &(*pp)->next) {
        if (*pp == g) {
            *pp = g->next;
            return;
        }
    }
}

/* Array.prototype.join. */
static struct ef_val *array_join(const struct ef_val *arr, const char *sep, size_t sl)
{
    size_t len = ef_val_arr_len(arr), cap = 64, used = 0;
    char *out = malloc(cap);
    if (!out) {
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        const struct ef_val *e = ef_val_arr_at(arr, i);
        size_t el = 0;
        char *es = NULL;
        const char *ep = "";
        if (ef_val_type(e) == EF_STR) {
            ep = ef_val_str_get(e);
            el = ef_val_str_len(e);
        } else if (e && ef_val_type(e) != EF_NULL) {
            es = js__to_string(e, &el);
            ep = es ? es : "";
        }
        size_t need = used + el + (i ? sl : 0) + 1;
        if (need > cap) {
            while (cap < need) {
                cap *= 2;
            }
            char *t = realloc(out, cap);
            if (!t) {
                free(es);
                free(out);
                return NULL;
            }
            out = t;
        }
        if (i) {
            memcpy(out + used, sep, sl);
            used += sl;
        }
        memcpy(out + used, ep, el);
        used += el;
        free(es);
    }
    out[used] = 0;
    return ef_val_str_take(out, used);
}

/* Buffer.from(v) for a string, array or Buffer; NULL otherwise. */
static bool buffer_bytes(const struct ef_val *v, uint8_t **data, size_t *len, bool *owned)
{
    *owned = false;
    switch (ef_val_type(v)) {
    case EF_BUF:
        *data = (uint8_t *)ef_val_buf_data(v);
        *len = ef_val_buf_len(v);
        return true;
    case EF_STR:
        *data = (uint8_t *)ef_val_str_get(v);
        *len = ef_val_str_len(v);
        return true;
    case EF_ARR: {
        size_t l = ef_val_arr_len(v);
        uint8_t *b = malloc(l + 1);
        if (!b) {
            return false;
        }
        for (size_t i = 0; i < l; i++) {
            double d = js__to_number(ef_val_arr_at(v, i));
            b[i] = isfinite(d) ? (uint8_t)(int64_t)d : 0;
        }
        *data = b;
        *len = l;
        *owned = true;
        return true;
    }
    default: return false;
    }
}

/* completeSend(partId). Frees the group unless it keeps accumulating. */
static void complete_send(struct ef_node *n, struct join *j, struct jgroup *g,
                          const struct ef_msg *cause)
{
    ef_timer_stop(g->timer);
    bool drop = j->mode == M_AUTO || !j->accumulate || ef_val_obj_get(g->msg, "complete");
    if (drop) {
        group_unlink(j, g);
    }
    struct ef_val *result = NULL;
    const char *type = g->type ? g->type : "";
    if (!strcmp(type, "array") && ef_val_type(g->arraylen) == EF_NUM &&
        ef_val_num_get(g->arraylen) > 1) {
        struct ef_val *flat = ef_val_arr();
        for (size_t i = 0; flat && i < ef_val_arr_len(g->payload); i++) {
            struct ef_val *e = ef_val_arr_at(g->payload, i);
            if (ef_val_type(e) == EF_ARR) {
                for (size_t k = 0; k < ef_val_arr_len(e); k++) {
                    ef_val_arr_push_take(flat, ef_val_ref(ef_val_arr_at(e, k)));
                }
            } else {
                ef_val_arr_push_take(flat, ef_val_ref(e));
            }
        }
        ef_val_unref(g->payload);
        g->payload = flat ? flat : ef_val_arr();
    } else if (!strcmp(type, "buffer")) {
        size_t total = 0, cnt = ef_val_arr_len(g->payload);
        uint8_t *jb = NULL;
        size_t jl = 0;
        bool jown = false;
        if (g->joinchar) {
            buffer_bytes(g->joinchar, &jb, &jl, &jown);
        } else {
            for (size_t i = 0; i < cnt; i++) {
                if (ef_val_type(ef_val_arr_at(g->payload, i)) != EF_BUF) {
                    ef_node_error(n, cause,
                                  "TypeError [ERR_INVALID_ARG_TYPE]: The \"list[%zu]\" argument "
                                  "must be an instance of Buffer or Uint8Array.",
                                  i);
                    if (drop) {
                        group_free(g);
                    }
                    return;
                }
            }
        }
        for (size_t i = 0; i < cnt; i++) {
            total += ef_val_buf_len(ef_val_arr_at(g->payload, i)) +
                     ef_val_str_len(ef_val_arr_at(g->payload, i)) +
                     ef_val_arr_len(ef_val_arr_at(g->payload, i)) + (i ? jl : 0);
        }
        uint8_t *out = malloc(total + 1);
        size_t used = 0;
        for (size_t i = 0; out && i < cnt; i++) {
            uint8_t *d;
            size_t dl;
            bool own;
            if (i && jl) {
                memcpy(out + used, jb, jl);
                used += jl;
            }
            if (buffer_bytes(ef_val_arr_at(g->payload, i), &d, &dl, &own)) {
                memcpy(out + used, d, dl);
                used += dl;
                if (own) {
                    free(d);
                }
            }
        }
        if (jown) {
            free(jb);
        }
        result = out ? ef_val_buf_take(out, used) : NULL;
    }
    if (!ef_val_mut(&g->msg)) {
        return;
    }
    struct seq_prop prop;
    char err[200];
    if (seq__prop_init(&prop, g->prop ? g->prop : "payload", err, sizeof(err)) != 0) {
        ef_node_error(n, cause, "%s", err);
        if (drop) {
            group_free(g);
        }
        return;
    }
    if (!strcmp(type, "string")) {
        if (!g->joinchar) {
            ef_node_error(n, cause,
                          "TypeError: Cannot read properties of undefined (reading 'toString')");
            seq__prop_free(&prop);
            if (drop) {
                group_free(g);
            }
            return;
        }
        size_t sl;
        char *sep = js__to_string(g->joinchar, &sl);
        result = array_join(g->payload, sep ? sep : "", sep ? sl : 0);
        free(sep);
    } else if (!result) {
        result = ef_val_ref(g->payload);
    } else {
        /* buffer: group.payload becomes the Buffer */
        ef_val_unref(g->payload);
        g->payload = ef_val_arr();
        ef_val_arr_push_take(g->payload, ef_val_ref(result));
    }
    seq__root_set(&prop, &g->msg, result);
    seq__prop_free(&prop);
    struct ef_val *root = g->msg;
    const struct ef_val *parts = ef_val_obj_get(root, "parts");
    const struct ef_val *inner =
        ef_val_type(parts) == EF_OBJ ? ef_val_obj_get(parts, "parts") : NULL;
    if (inner) {
        oset(root, "parts", ef_val_ref((struct ef_val *)inner));
    } else {
        ef_val_obj_del(root, "parts", 5);
    }
    ef_val_obj_del(root, "complete", 8);
    if (!ef_val_obj_get(root, "_msgid")) {
        seq__set_new_id(root);
    }
    struct ef_msg *out = ef_msg_new_take(ef_val_ref(root));
    if (out && ef_node_send(n, 0, out) != 0) {
        ef_msg_free(out);
    }
    if (drop) {
        group_free(g);
    }
}

static void on_timeout(struct ef_node *n, void *arg)
{
    struct jgroup *g = arg;
    complete_send(n, ef_node_priv(n), g, NULL);
}

static struct jgroup *group_new(struct ef_node *n, struct join *j, const struct ef_val *id,
                                const char *ptype, const struct ef_msg *msg)
{
    struct jgroup *g = calloc(1, sizeof(*g));
    if (!g) {
        return NULL;
    }
    g->node = n;
    g->id = ef_val_ref((struct ef_val *)id);
    g->target = NAN;
    bool obj = !strcmp(ptype, "object") || !strcmp(ptype, "merged");
    g->type = strdup(obj ? "object" : ptype);
    g->payload = obj ? ef_val_obj() : ef_val_arr();
    g->msg = ef_val_ref((struct ef_val *)ef_msg_root(msg));
    g->next = j->inflight;
    j->inflight = g;
    if (j->timer_ms > 0) {
        g->timer = ef_timer_new(n, on_timeout, g);
        if (g->timer) {
            ef_timer_start(g->timer, (uint64_t)j->timer_ms, 0);
        }
    }
    return g;
}

/* Object.assign(group.msg, msg). */
static void assign(struct jgroup *g, const struct ef_val *root)
{
    if (g->msg == root) {
        return;
    }
    struct ef_val *dst = ef_val_mut(&g->msg);
    if (!dst) {
        return;
    }
    for (size_t i = 0; i < ef_val_obj_len(root); i++) {
        size_t kl;
        const char *k = ef_val_obj_key_at(root, i, &kl);
        struct ef_val *v = ef_val_ref(ef_val_obj_val_at(root, i));
        if (ef_val_obj_setn_take(dst, k, kl, v) != 0) {
            ef_val_unref(v);
        }
    }
}

static struct ef_val *partid_of(const struct ef_val *v)
{
    /* object keys are strings in JavaScript: inflight[5] is inflight["5"] */
    if (ef_val_type(v) == EF_STR) {
        return ef_val_ref((struct ef_val *)v);
    }
    size_t l;
    char *s = js__to_string(v, &l);
    return s ? ef_val_str_take(s, l) : NULL;
}

static int join_custom_auto(struct ef_node *n, struct join *j, struct ef_msg *msg)
{
    const struct ef_val *root = ef_msg_root(msg);
    char perr[200];
    if (!j->full && seq__prop_check(&j->prop, msg, perr, sizeof(perr)) != 0) {
        ef_node_warn(n, "Message property %s not found", j->prop.text);
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    const struct ef_val *parts = ef_val_obj_get(root, "parts");
    if (j->mode == M_AUTO && (ef_val_type(parts) != EF_OBJ || !ef_val_obj_get(parts, "id"))) {
        if (ef_val_obj_get(root, "reset")) {
            while (j->inflight) {
                struct jgroup *g = j->inflight;
                j->inflight = g->next;
                group_free(g);
            }
        } else {
            ef_node_warn(n, "Message missing msg.parts property - cannot join in 'auto' mode");
        }
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    if (j->mode == M_CUSTOM && ef_val_type(parts) == EF_OBJ && !j->useparts) {
        struct ef_val *r = ef_msg_mut(msg);
        const struct ef_val *inner = ef_val_obj_get(parts, "parts");
        if (inner) {
            struct ef_val *np = ef_val_obj();
            oset(np, "parts", ef_val_ref((struct ef_val *)inner));
            oset(r, "parts", np);
        } else {
            ef_val_obj_del(r, "parts", 5);
        }
        root = r;
        parts = ef_val_obj_get(root, "parts");
    }
    struct ef_val *underscore = ef_val_str("_");
    struct ef_val *part_id = underscore;
    const char *ptype;
    double target;
    struct ef_val *joinchar, *key = NULL, *arraylen = NULL;
    const struct ef_val *index = NULL;
    struct ef_val *property;
    char *prop_text = NULL;
    struct ef_val *pid_owned = NULL;
    if (j->mode == M_AUTO) {
        pid_owned = partid_of(ef_val_obj_get(parts, "id"));
        part_id = pid_owned;
        ptype = ef_val_str_get(ef_val_obj_get(parts, "type"));
        const struct ef_val *c = ef_val_obj_get(parts, "count");
        target = c ? js__to_number(c) : NAN;
        joinchar = ef_val_obj_get(parts, "ch");
        key = ef_val_obj_get(parts, "key");
        arraylen = ef_val_obj_get(parts, "len");
        index = ef_val_obj_get(parts, "index");
        const struct ef_val *pp = ef_val_obj_get(parts, "property");
        prop_text = strdup(ef_val_truthy(pp) ? ef_val_str_get(pp) : "payload");
        property = ef_msg_get(msg, prop_text);
    } else {
        ptype = j->build;
        target = j->count;
        joinchar = j->joiner;
        if (j->count_blank && ef_val_type(parts) == EF_OBJ) {
            const struct ef_val *c = ef_val_obj_get(parts, "count");
            target = ef_val_truthy(c) ? js__to_number(c) : 0;
            if (ef_val_obj_get(parts, "id")) {
                pid_owned = partid_of(ef_val_obj_get(parts, "id"));
                part_id = pid_owned;
            }
        }
        if (!strcmp(j->build, "object")) {
            key = seq__prop_get(&j->key, msg);
        }
        property = j->full ? (struct ef_val *)root : seq__prop_get(&j->prop, msg);
        prop_text = strdup(j->prop.text);
    }
    struct jgroup *g = group_find(j, part_id, NULL);
    if (ef_val_obj_get(root, "restartTimeout") && g) {
        ef_timer_stop(g->timer);
        if (j->timer_ms > 0 && g->timer) {
            ef_timer_start(g->timer, (uint64_t)j->timer_ms, 0);
        }
    }
    if (ef_val_obj_get(root, "reset")) {
        if (g) {
            group_unlink(j, g);
            group_free(g);
        }
        goto out;
    }
    bool no_key = !key || ef_val_type(key) == EF_NULL ||
                  (ef_val_type(key) == EF_STR && ef_val_str_len(key) == 0);
    if (!strcmp(ptype, "object") && no_key) {
        if (j->mode == M_AUTO) {
            ef_node_warn(n, "Message missing 'msg.parts.key' property - cannot add to object");
        } else if (ef_val_obj_get(root, "complete")) {
            if (g && ef_val_mut(&g->msg)) {
                oset(g->msg, "complete", ef_val_ref(ef_val_obj_get(root, "complete")));
                complete_send(n, j, g, msg);
            }
        } else {
            ef_node_warn(n, "Message missing key property 'msg.%s' - cannot add to object",
                         j->key.text);
        }
        goto out;
    }
    if (!g) {
        g = group_new(n, j, part_id, ptype, msg);
        if (!g) {
            goto out;
        }
        if (!strcmp(ptype, "string") || !strcmp(ptype, "buffer")) {
            g->joinchar = ef_val_ref(joinchar);
        } else if (!strcmp(ptype, "array")) {
            g->arraylen = ef_val_ref(arraylen);
        }
        g->target = target;
        g->prop = prop_text;
        prop_text = NULL;
    }
    if (!strcmp(ptype, "buffer") && property) {
        enum ef_type t = ef_val_type(property);
        if (t == EF_BUF) {
            g->bufferlen += (double)ef_val_buf_len(property);
        } else if (t == EF_STR) {
            g->bufferlen +=
                (double)js__utf16_length(ef_val_str_get(property), ef_val_str_len(property));
        } else if (t == EF_ARR) {
            g->bufferlen += (double)ef_val_arr_len(property);
        } else {
            ef_node_error(n, msg, "Cannot join %s to buffer", js__typeof(property));
            goto out;
        }
    }
    if (!strcmp(ptype, "object")) {
        struct ef_val *kp = partid_of(key);
        if (kp && ef_val_mut(&g->payload)) {
            struct ef_val *pv = property ? ef_val_ref(property) : ef_val_null();
            if (ef_val_obj_setn_take(g->payload, ef_val_str_get(kp), ef_val_str_len(kp), pv)) {
                ef_val_unref(pv);
            }
        }
        ef_val_unref(kp);
        g->current = (double)ef_val_obj_len(g->payload);
    } else if (!strcmp(ptype, "merged")) {
        if (ef_val_type(property) != EF_OBJ) {
            if (!ef_val_obj_get(root, "complete")) {
                ef_node_warn(n, "Cannot merge non-object types");
            }
        } else if (ef_val_type(g->payload) == EF_OBJ && ef_val_mut(&g->payload)) {
            for (size_t i = 0; i < ef_val_obj_len(property); i++) {
                size_t kl;
                const char *k = ef_val_obj_key_at(property, i, &kl);
                if (kl == 6 && !memcmp(k, "_msgid", 6)) {
                    continue;
                }
                struct ef_val *v = ef_val_ref(ef_val_obj_val_at(property, i));
                if (ef_val_obj_setn_take(g->payload, k, kl, v) != 0) {
                    ef_val_unref(v);
                }
            }
            g->current = (double)ef_val_obj_len(g->payload);
        }
    } else if (ef_val_type(g->payload) == EF_ARR) {
        double idx = index ? js__to_number(index) : NAN;
        if (!isnan(idx) && idx >= 0 && idx == floor(idx) && idx < 67108864.0) {
            size_t i = (size_t)idx;
            const struct ef_val *cur = ef_val_arr_at(g->payload, i);
            if (!cur || ef_val_type(cur) == EF_NULL) {
                g->current++;
            }
            if (ef_val_mut(&g->payload)) {
                struct ef_val *pv = property ? ef_val_ref(property) : ef_val_null();
                if (ef_val_arr_set_take(g->payload, i, pv) != 0) {
                    ef_val_unref(pv);
                }
            }
        } else if (property) {
            if (ef_val_mut(&g->payload) &&
                ef_val_arr_push_take(g->payload, ef_val_ref(property)) != 0) {
                ef_val_unref(property);
            }
            g->current++;
        }
    }
    assign(g, root);
    double tcnt = g->target;
    if (ef_val_type(parts) == EF_OBJ) {
        bool truthy = !isnan(g->target) && g->target != 0;
        const struct ef_val *pc = ef_val_obj_get(parts, "count");
        tcnt = truthy ? g->target : (pc ? js__to_number(pc) : NAN);
        g->target = tcnt;
    }
    if ((tcnt > 0 && g->current >= tcnt) || ef_val_obj_get(root, "complete")) {
        complete_send(n, j, g, msg);
    } else if (seq__max_kept(n) > 0 && g->current > seq__max_kept(n)) {
        /* edgeflow's bound on a manual/auto group (Node-RED has none): the group is dropped */
        ef_node_error(n, msg, "too many pending messages in join node");
        group_unlink(j, g);
        group_free(g);
    }
out:
    free(prop_text);
    ef_val_unref(pid_owned);
    ef_val_unref(underscore);
    ef_msg_free(msg);
    return EF_INPUT_DONE;
}

/* ---- reduce mode ---- */

struct ridx {
    struct ef_msg *m;
    const struct ef_val *index;
    size_t pos;
};

/* Stable merge sort of the group's messages by parts.index. */
static void rsort(struct ridx *a, struct ridx *tmp, size_t n, int flag)
{
    if (n < 2) {
        return;
    }
    size_t h = n / 2;
    rsort(a, tmp, h, flag);
    rsort(a + h, tmp, n - h, flag);
    size_t i = 0, k = h, o = 0;
    while (i < h && k < n) {
        /* take the right one only when it must come first (cmp(right,left) < 0) */
        int c = js__compare(a[k].index, a[i].index, '<')   ? -flag
                : js__compare(a[k].index, a[i].index, '>') ? flag
                                                           : 0;
        tmp[o++] = c < 0 ? a[k++] : a[i++];
    }
    while (i < h) {
        tmp[o++] = a[i++];
    }
    while (k < n) {
        tmp[o++] = a[k++];
    }
    memcpy(a, tmp, n * sizeof(*a));
}

static void reduce_group(struct ef_node *n, struct join *j, struct rgroup *g,
                         struct ef_msg *trigger)
{
    char err[400];
    struct ef_val *accum = NULL;
    if (j->init) {
        struct ef_msg *empty = ef_msg_new();
        const char *t = ef_val_str_get(j->init_type);
        if (!*t) {
            accum = ef_val_ref((struct ef_val *)j->init);
        } else if (ef_node_eval_typed(n, t, j->init, empty, &accum, err, sizeof(err)) != 0) {
            accum = NULL; /* Node-RED ignores the error: $A starts undefined */
        }
        ef_msg_free(empty);
    }
    size_t cnt = g->n;
    struct ridx *a = calloc(cnt ? cnt : 1, sizeof(*a));
    struct ridx *tmp = calloc(cnt ? cnt : 1, sizeof(*tmp));
    if (!a || !tmp) {
        free(a);
        free(tmp);
        ef_val_unref(accum);
        return;
    }
    for (size_t i = 0; i < cnt; i++) {
        a[i].m = g->msgs[i];
        a[i].index = ef_val_obj_get(ef_val_obj_get(ef_msg_root(g->msgs[i]), "parts"), "index");
        a[i].pos = i;
    }
    rsort(a, tmp, cnt, j->reduce_right ? -1 : 1);
    struct ef_val *bind = ef_val_obj();
    oset(bind, "N", ef_val_num(g->count));
    bool failed = false;
    for (size_t i = 0; i < cnt; i++) {
        if (a[i].index) {
            oset(bind, "I", ef_val_ref((struct ef_val *)a[i].index));
        } else {
            ef_val_obj_del(bind, "I", 1);
        }
        if (accum) {
            oset(bind, "A", accum);
        } else {
            ef_val_obj_del(bind, "A", 1);
        }
        accum = NULL;
        if (seq__jexpr_eval(n, &j->rexp, ef_msg_root(a[i].m), bind, &accum, err, sizeof(err))) {
            /* jsonata-js throws a plain object: Node-RED reports its toString() */
            ef_node_error(n, trigger, "[object Object]");
            failed = true;
            break;
        }
    }
    if (!failed && cnt > 0) {
        struct ef_msg *last = a[cnt - 1].m;
        struct ef_val *result = accum;
        accum = NULL;
        if (j->has_fixup) {
            struct ef_val *fb = ef_val_obj();
            oset(fb, "N", ef_val_num(g->count));
            if (result) {
                oset(fb, "A", result);
            }
            result = NULL;
            struct ef_val *empty = ef_val_obj();
            if (seq__jexpr_eval(n, &j->fexp, empty, fb, &result, err, sizeof(err))) {
                ef_node_error(n, trigger, "[object Object]");
                failed = true;
            }
            ef_val_unref(empty);
            ef_val_unref(fb);
        }
        if (!failed) {
            struct ef_val *root = ef_msg_mut(last);
            if (root && result) {
                oset(root, "payload", result);
                result = NULL;
            } else if (root) {
                ef_val_obj_del(root, "payload", 7);
            }
            /* the message leaves the group */
            for (size_t i = 0; i < g->n; i++) {
                if (g->msgs[i] == last) {
                    g->msgs[i] = NULL;
                }
            }
            if (ef_node_send(n, 0, last) != 0) {
                ef_msg_free(last);
            }
        }
        ef_val_unref(result);
    }
    ef_val_unref(accum);
    ef_val_unref(bind);
    free(a);
    free(tmp);
}

static int join_reduce(struct ef_node *n, struct join *j, struct ef_msg *msg)
{
    const struct ef_val *parts = ef_val_obj_get(ef_msg_root(msg), "parts");
    if (!parts) {
        if (ef_node_send(n, 0, msg) != 0) {
            ef_msg_free(msg);
        }
        return EF_INPUT_DONE;
    }
    const struct ef_val *gid = ef_val_obj_get(parts, "id");
    struct rgroup **pp = &j->pending, *g = NULL;
    for (; *pp; pp = &(*pp)->next) {
        if (ef_val_equal((*pp)->id, gid)) {
            g = *pp;
            break;
        }
    }
    const struct ef_val *pc = ef_val_obj_get(parts, "count");
    if (!g) {
        g = calloc(1, sizeof(*g));
        if (!g) {
            ef_msg_free(msg);
            return EF_INPUT_DONE;
        }
        g->id = gid ? ef_val_ref((struct ef_val *)gid) : NULL;
        g->count = pc ? js__to_number(pc) : NAN;
        /* append: Node-RED keeps groups in insertion order */
        struct rgroup **tail = &j->pending;
        while (*tail) {
            tail = &(*tail)->next;
        }
        *tail = g;
    }
    if (pc && isnan(g->count)) {
        g->count = js__to_number(pc);
    }
    if (g->n == g->cap) {
        size_t nc = g->cap ? g->cap * 2 : 16;
        struct ef_msg **t = realloc(g->msgs, nc * sizeof(*t));
        if (!t) {
            ef_msg_free(msg);
            return EF_INPUT_DONE;
        }
        g->msgs = t;
        g->cap = nc;
    }
    g->msgs[g->n++] = msg;
    double pending_count = j->pending_count + 1;
    bool held = true;
    if ((double)g->n == g->count) {
        held = false;
        for (pp = &j->pending; *pp != g; pp = &(*pp)->next) {
        }
        *pp = g->next;
        pending_count -= (double)g->n;
        reduce_group(n, j, g, msg);
        rgroup_free(g);
    }
    j->pending_count = pending_count;
    double max = seq__max_kept(n);
    if (held && max > 0 && pending_count > max) {
        ef_node_error(n, msg, "too many pending messages in join node");
        while (j->pending) {
            struct rgroup *r = j->pending;
            j->pending = r->next;
            rgroup_free(r);
        }
        j->pending_count = 0;
    }
    return EF_INPUT_DONE;
}

static int join_input(struct ef_node *n, struct ef_msg *msg)
{
    struct join *j = ef_node_priv(n);
    if (j->broken) {
        ef_msg_free(msg);
        return EF_INPUT_ASYNC;
    }
    if (j->mode == M_REDUCE) {
        return join_reduce(n, j, msg);
    }
    return join_custom_auto(n, j, msg);
}

const struct ef_node_type ef_type_join = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "join",
    .description = "joins message sequences into one message",
    .category = "sequence",
    .inputs = 1,
    .outputs = 1,
    .props = join_props,
    .priv_size = sizeof(struct join),
    .cb_init = join_init,
    .cb_input = join_input,
    .cb_close = join_close,
};
