/*
 * sort.c - the sort node (Node-RED 18-sort.js): sorts an array held in a
 * message property, or a message sequence (msg.parts) once all of it has
 * arrived, by the value itself / a message property or by a JSONata
 * expression, ascending or descending, optionally as numbers. The
 * comparison is Node-RED's (=== equal, > greater) in a stable merge sort,
 * as V8's TimSort is stable.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <edgeflow/edgeflow.h>

#include "js.h"
#include "lib/seq.h"

struct sgroup {
    struct ef_val *id;
    double count; /* NaN = undefined */
    struct ef_msg **msgs;
    size_t n, cap;
    double seq_no;
    struct sgroup *next;
};

struct sort {
    int dir;
    bool as_num, target_is_prop, key_is_exp, broken;
    struct seq_prop target, key_prop;
    struct seq_jexpr exp;
    struct sgroup *pending;
    double pending_count, pending_id;
};

static const struct ef_prop sort_props[] = {
    {EF_PROP_STR, "order", "\"ascending\"", false, "ascending or descending", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "as_num", NULL, false, "compare as numbers", EF_PROP_NOFIELD},
    {EF_PROP_STR, "target", "\"payload\"", false, "the array property (targetType msg)",
     EF_PROP_NOFIELD},
    {EF_PROP_STR, "targetType", "\"msg\"", false, "msg (an array property) or seq (a sequence)",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "msgKey", NULL, false, "array: the key (elem or a JSONata expression)",
     EF_PROP_NOFIELD},
    {EF_PROP_STR, "msgKeyType", "\"elem\"", false, "elem or jsonata", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "seqKey", NULL, false, "sequence: the key property or JSONata expression",
     EF_PROP_NOFIELD},
    {EF_PROP_STR, "seqKeyType", "\"msg\"", false, "msg or jsonata", EF_PROP_NOFIELD},
    {EF_PROP_END},
};

static int sort_init(struct ef_node *n, const struct ef_val *config)
{
    struct sort *s = ef_node_priv(n);
    char err[300];
    const char *order = ef_val_str_get(ef_val_obj_get(config, "order"));
    s->dir = (!*order || !strcmp(order, "ascending")) ? 1 : -1;
    s->as_num = ef_val_truthy(ef_val_obj_get(config, "as_num"));
    const char *target = ef_val_str_get(ef_val_obj_get(config, "target"));
    s->target_is_prop = !strcmp(ef_val_str_get(ef_val_obj_get(config, "targetType")), "msg");
    const char *kt = s->target_is_prop ? ef_val_str_get(ef_val_obj_get(config, "msgKeyType"))
                                       : ef_val_str_get(ef_val_obj_get(config, "seqKeyType"));
    s->key_is_exp = !strcmp(kt, "jsonata");
    const char *seq_key = ef_val_str_get(ef_val_obj_get(config, "seqKey"));
    const char *exp =
        s->target_is_prop ? ef_val_str_get(ef_val_obj_get(config, "msgKey")) : seq_key;
    if (seq__prop_init(&s->target, *target ? target : "payload", err, sizeof(err)) != 0 ||
        seq__prop_init(&s->key_prop, *seq_key && !s->key_is_exp ? seq_key : "payload", err,
                       sizeof(err)) != 0) {
        ef_node_error(n, NULL, "%s", err);
        seq__prop_free(&s->target); /* no cb_close after a failed init */
        return EF_EINVAL;
    }
    if (s->key_is_exp && seq__jexpr_compile(&s->exp, exp, err, sizeof(err)) != 0) {
        seq__init_error(n, "Invalid JSONata expression in sort node: %s", err);
        s->broken = true;
    }
    return 0;
}

static void sgroup_free(struct sgroup *g)
{
    for (size_t i = 0; i < g->n; i++) {
        ef_msg_free(g->msgs[i]);
    }
    free(g->msgs);
    ef_val_unref(g->id);
    free(g);
}

static void sort_close(struct ef_node *n)
{
    struct sort *s = ef_node_priv(n);
    while (s->pending) {
        struct sgroup *g = s->pending;
        s->pending = g->next;
        ef_node_log(n, "clear pending message in sort node");
        sgroup_free(g);
    }
    seq__prop_free(&s->target);
    seq__prop_free(&s->key_prop);
    seq__jexpr_free(&s->exp);
}

/* ---- sorting ---- */

struct item {
    struct ef_val *key; /* the sort value, conv applied (owned; NULL = undefined) */
    size_t pos;
};

static int compare(const struct sort *s, const struct item *x, const struct item *y)
{
    if (seq__strict_eq(x->key, y->key)) {
        return 0;
    }
    if (js__compare(x->key, y->key, '>')) {
        return s->dir;
    }
    return -s->dir;
}

static void msort(const struct sort *s, struct item *a, struct item *tmp, size_t n)
{
    if (n < 2) {
        return;
    }
    size_t h = n / 2;
    msort(s, a, tmp, h);
    msort(s, a + h, tmp, n - h);
    size_t i = 0, k = h, o = 0;
    while (i < h && k < n) {
        tmp[o++] = compare(s, &a[k], &a[i]) < 0 ? a[k++] : a[i++];
    }
    while (i < h) {
        tmp[o++] = a[i++];
    }
    while (k < n) {
        tmp[o++] = a[k++];
    }
    memcpy(a, tmp, n * sizeof(*a));
}

/* conv(x): Number(x) when sorting as numbers. Adopts v. */
static struct ef_val *conv(const struct sort *s, struct ef_val *v)
{
    if (!s->as_num) {
        return v;
    }
    double d = js__to_number(v);
    ef_val_unref(v);
    return ef_val_num(d);
}

/* Sorts `items` (n of them); returns 0. */
static void sort_items(const struct sort *s, struct item *items, size_t n)
{
    struct item *tmp = malloc((n ? n : 1) * sizeof(*tmp));
    if (!tmp) {
        return;
    }
    msort(s, items, tmp, n);
    free(tmp);
}

static void free_items(struct item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ef_val_unref(items[i].key);
    }
    free(items);
}

/* Sorts the array property of msg. Returns 1 to send, 0 to drop, -1 on error. */
static int sort_property(struct ef_node *n, struct sort *s, struct ef_msg *msg, char *err,
                         size_t errlen)
{
    const struct ef_val *data = seq__prop_get(&s->target, msg);
    if (ef_val_type(data) != EF_ARR) {
        return 0;
    }
    size_t len = ef_val_arr_len(data);
    struct item *items = calloc(len ? len : 1, sizeof(*items));
    if (!items) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        struct ef_val *e = ef_val_arr_at(data, i);
        items[i].pos = i;
        if (s->key_is_exp) {
            char e2[300];
            struct ef_val *out;
            if (seq__jexpr_eval(n, &s->exp, e, NULL, &out, e2, sizeof(e2)) != 0) {
                /* Node-RED reports the thrown object's toString() */
                snprintf(err, errlen, "Invalid JSONata expression in sort node: [object Object]");
                free_items(items, i);
                return -1;
            }
            items[i].key = conv(s, out);
        } else {
            items[i].key = conv(s, ef_val_ref(e));
        }
    }
    sort_items(s, items, len);
    struct ef_val *sorted = ef_val_arr();
    for (size_t i = 0; sorted && i < len; i++) {
        ef_val_arr_push_take(sorted, ef_val_ref(ef_val_arr_at(data, items[i].pos)));
    }
    free_items(items, len);
    if (sorted) {
        seq__prop_set(&s->target, msg, sorted);
    }
    return 1;
}

static void sort_group(struct ef_node *n, struct sort *s, struct sgroup *g, struct ef_msg *trigger)
{
    struct item *items = calloc(g->n ? g->n : 1, sizeof(*items));
    if (!items) {
        return;
    }
    for (size_t i = 0; i < g->n; i++) {
        items[i].pos = i;
        if (s->key_is_exp) {
            char e2[300];
            struct ef_val *out;
            if (seq__jexpr_eval(n, &s->exp, ef_msg_root(g->msgs[i]), NULL, &out, e2, sizeof(e2)) !=
                0) {
                ef_node_error(n, trigger,
                              "Invalid JSONata expression in sort node: [object Object]");
                free_items(items, i);
                return;
            }
            items[i].key = conv(s, out);
        } else {
            items[i].key = conv(s, ef_val_ref(seq__prop_get(&s->key_prop, g->msgs[i])));
        }
    }
    sort_items(s, items, g->n);
    for (size_t i = 0; i < g->n; i++) {
        struct ef_msg *m = g->msgs[items[i].pos];
        g->msgs[items[i].pos] = NULL;
        struct ef_val *root = ef_msg_mut(m);
        struct ef_val **slot = root ? ef_val_obj_slot(root, "parts", 5) : NULL;
        struct ef_val *parts = slot ? ef_val_mut(slot) : NULL;
        if (parts) {
            ef_val_obj_set_take(parts, "index", ef_val_num((double)i));
        }
        if (ef_node_send(n, 0, m) != 0) {
            ef_msg_free(m);
        }
    }
    free_items(items, g->n);
}

static int sort_input(struct ef_node *n, struct ef_msg *msg)
{
    struct sort *s = ef_node_priv(n);
    if (s->broken) {
        ef_msg_free(msg);
        return EF_INPUT_ASYNC;
    }
    if (s->target_is_prop) {
        char err[400];
        int rc = sort_property(n, s, msg, err, sizeof(err));
        if (rc < 0) {
            ef_node_error(n, msg, "%s", err);
            ef_msg_free(msg);
        } else if (rc == 0) {
            ef_msg_free(msg);
        } else if (ef_node_send(n, 0, msg) != 0) {
            ef_msg_free(msg);
        }
        return EF_INPUT_DONE;
    }
    const struct ef_val *parts = ef_val_obj_get(ef_msg_root(msg), "parts");
    if (ef_val_type(parts) != EF_OBJ || !ef_val_obj_get(parts, "id") ||
        !ef_val_obj_get(parts, "index")) {
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    const struct ef_val *gid = ef_val_obj_get(parts, "id");
    struct sgroup **pp, *g = NULL;
    for (pp = &s->pending; *pp; pp = &(*pp)->next) {
        if (ef_val_equal((*pp)->id, gid)) {
            g = *pp;
            break;
        }
    }
    if (!g) {
        g = calloc(1, sizeof(*g));
        if (!g) {
            ef_msg_free(msg);
            return EF_INPUT_DONE;
        }
        g->id = ef_val_ref((struct ef_val *)gid);
        g->count = NAN;
        g->seq_no = s->pending_id++;
        *pp = g;
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
    const struct ef_val *pc = ef_val_obj_get(parts, "count");
    if (pc) {
        g->count = js__to_number(pc);
    }
    s->pending_count++;
    if (g->count == (double)g->n) {
        for (pp = &s->pending; *pp != g; pp = &(*pp)->next) {
        }
        *pp = g->next;
        s->pending_count -= (double)g->n;
        sort_group(n, s, g, msg);
        sgroup_free(g);
    } else {
        double max = seq__max_kept(n);
        if (max > 0 && s->pending_count > max) {
            struct sgroup *old = NULL, **op = NULL;
            for (pp = &s->pending; *pp; pp = &(*pp)->next) {
                if (!old || (*pp)->seq_no < old->seq_no) {
                    old = *pp;
                    op = pp;
                }
            }
            if (old) {
                ef_node_error(n, old->msgs[old->n - 1], "Too many pending messages in sort node");
                *op = old->next;
                s->pending_count -= (double)old->n;
                sgroup_free(old);
            }
        }
    }
    return EF_INPUT_DONE;
}

const struct ef_node_type ef_type_sort = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "sort",
    .description = "sorts an array property or a message sequence",
    .category = "sequence",
    .inputs = 1,
    .outputs = 1,
    .props = sort_props,
    .priv_size = sizeof(struct sort),
    .cb_init = sort_init,
    .cb_input = sort_input,
    .cb_close = sort_close,
};
