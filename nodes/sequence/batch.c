/*
 * batch.c - the batch node (Node-RED 19-batch.js): groups messages into
 * sequences by count (with overlap, optionally ending a batch where an
 * incoming sequence ends), by time interval (optionally sending an empty
 * sequence {payload: null} when nothing arrived) or by concatenating
 * complete sequences of the configured topics in topic order.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <edgeflow/edgeflow.h>

#include "js.h"
#include "lib/seq.h"

enum { B_COUNT, B_INTERVAL, B_CONCAT, B_BAD };

struct mlist {
    struct ef_msg **m;
    size_t n, cap;
};

/* A sequence of one topic in concat mode. */
struct tgroup {
    struct ef_val *gid;
    double count; /* NaN = undefined */
    struct mlist msgs;
    struct tgroup *next;
};

struct ttopic {
    struct ef_val *topic;
    struct tgroup *groups; /* in arrival order (gids) */
    struct ttopic *next;
};

struct batch {
    int mode;
    double count, overlap, interval;
    bool honour, allow_empty, eof;
    struct mlist pending;
    double pending_count;
    struct ef_timer *timer;
    struct ef_val **topics;
    size_t ntopics;
    struct ttopic *tpending;
};

static const struct ef_prop batch_props[] = {
    {EF_PROP_STR, "mode", "\"count\"", false, "count, interval or concat", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "count", NULL, false, "count: messages per batch", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "overlap", NULL, false, "count: messages repeated in the next batch",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "interval", NULL, false, "interval: seconds", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "allowEmptySequence", NULL, false, "interval: send an empty sequence",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "honourParts", NULL, false, "count: end a batch where msg.parts ends",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "topics", NULL, false, "concat: [{topic}, ...]", EF_PROP_NOFIELD},
    {EF_PROP_END},
};

static int push(struct mlist *l, struct ef_msg *m)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        struct ef_msg **t = realloc(l->m, nc * sizeof(*t));
        if (!t) {
            return EF_ENOMEM;
        }
        l->m = t;
        l->cap = nc;
    }
    l->m[l->n++] = m;
    return 0;
}

static void clear(struct mlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        ef_msg_free(l->m[i]);
    }
    l->n = 0;
}

/* Number(x || dflt) as the node reads its numbers. */
static double num_or(const struct ef_val *v, double dflt)
{
    return ef_val_truthy(v) ? js__to_number(v) : dflt;
}

/* send_msgs(): parts {id of the first, index, count}; takes the messages
 * unless `clone`, when it sends shares and keeps them. */
static void send_msgs(struct ef_node *n, struct ef_msg **msgs, size_t count, bool clone)
{
    if (!count) {
        return;
    }
    struct ef_val *id = ef_val_ref(ef_val_obj_get(ef_msg_root(msgs[0]), "_msgid"));
    for (size_t i = 0; i < count; i++) {
        struct ef_msg *m = clone ? ef_msg_share(msgs[i]) : msgs[i];
        struct ef_val *root = m ? ef_msg_mut(m) : NULL;
        if (!root) {
            ef_msg_free(m);
            continue;
        }
        struct ef_val **slot = ef_val_obj_slot(root, "parts", 5);
        struct ef_val *parts = NULL;
        if (slot && ef_val_type(*slot) == EF_OBJ) {
            parts = ef_val_mut(slot);
        } else if (!slot) {
            parts = ef_val_obj();
            if (parts && ef_val_obj_set_take(root, "parts", parts) != 0) {
                ef_val_unref(parts);
                parts = NULL;
            }
        }
        if (parts) {
            ef_val_obj_set_take(parts, "id", id ? ef_val_ref(id) : ef_val_null());
            ef_val_obj_set_take(parts, "index", ef_val_num((double)i));
            ef_val_obj_set_take(parts, "count", ef_val_num((double)count));
        }
        if (ef_node_send(n, 0, m) != 0) {
            ef_msg_free(m);
        }
    }
    ef_val_unref(id);
}

static void on_interval(struct ef_node *n, void *arg)
{
    struct batch *b = arg;
    if (b->pending.n > 0) {
        send_msgs(n, b->pending.m, b->pending.n, false);
        b->pending.n = 0;
    } else if (b->allow_empty) {
        struct ef_val *root = ef_val_obj();
        struct ef_val *parts = ef_val_obj();
        if (root && parts) {
            ef_val_obj_set_take(root, "payload", ef_val_null());
            ef_val_obj_set_take(parts, "id", seq__id_val());
            ef_val_obj_set_take(parts, "index", ef_val_num(0));
            ef_val_obj_set_take(parts, "count", ef_val_num(1));
            ef_val_obj_set_take(root, "parts", parts);
            parts = NULL;
            struct ef_msg *m = ef_msg_new_take(root);
            if (m) {
                root = NULL;
                if (ef_node_send(n, 0, m) != 0) {
                    ef_msg_free(m);
                }
            }
        }
        ef_val_unref(root);
        ef_val_unref(parts);
    }
    b->pending_count = 0;
}

static int batch_init(struct ef_node *n, const struct ef_val *config)
{
    struct batch *b = ef_node_priv(n);
    const char *mode = ef_val_str_get(ef_val_obj_get(config, "mode"));
    b->honour = ef_val_truthy(ef_val_obj_get(config, "honourParts"));
    if (!*mode || !strcmp(mode, "count")) {
        b->mode = B_COUNT;
        b->count = num_or(ef_val_obj_get(config, "count"), 1);
        b->overlap = num_or(ef_val_obj_get(config, "overlap"), 0);
        if (b->count <= b->overlap) {
            seq__init_error(n, "Invalid count and overlap");
            b->mode = B_BAD;
        }
    } else if (!strcmp(mode, "interval")) {
        b->mode = B_INTERVAL;
        b->interval = num_or(ef_val_obj_get(config, "interval"), 0) * 1000;
        b->allow_empty = ef_val_truthy(ef_val_obj_get(config, "allowEmptySequence"));
    } else if (!strcmp(mode, "concat")) {
        b->mode = B_CONCAT;
        const struct ef_val *topics = ef_val_obj_get(config, "topics");
        size_t nt = ef_val_arr_len(topics);
        b->topics = calloc(nt ? nt : 1, sizeof(*b->topics));
        for (size_t i = 0; b->topics && i < nt; i++) {
            b->topics[i] = ef_val_ref(ef_val_obj_get(ef_val_arr_at(topics, i), "topic"));
        }
        b->ntopics = b->topics ? nt : 0;
    } else {
        seq__init_error(n, "unexpected mode");
        b->mode = B_BAD;
    }
    return 0;
}

/* setInterval(msgHandler, interval): Node.js runs delays below 1 ms after 1 ms. */
static void start_interval(struct ef_node *n, struct batch *b)
{
    if (!(b->interval > 0)) {
        return;
    }
    uint64_t ms = b->interval < 1 ? 1 : b->interval > 2147483647.0 ? 1 : (uint64_t)b->interval;
    if (!b->timer) {
        b->timer = ef_timer_new(n, on_interval, b);
    }
    if (b->timer) {
        ef_timer_start(b->timer, ms, ms);
    }
}

static void batch_start(struct ef_node *n)
{
    struct batch *b = ef_node_priv(n);
    if (b->mode == B_INTERVAL) {
        start_interval(n, b);
    }
}

static void tpending_clear(struct batch *b)
{
    while (b->tpending) {
        struct ttopic *t = b->tpending;
        b->tpending = t->next;
        while (t->groups) {
            struct tgroup *g = t->groups;
            t->groups = g->next;
            clear(&g->msgs);
            free(g->msgs.m);
            ef_val_unref(g->gid);
            free(g);
        }
        ef_val_unref(t->topic);
        free(t);
    }
}

static void batch_close(struct ef_node *n)
{
    struct batch *b = ef_node_priv(n);
    clear(&b->pending);
    free(b->pending.m);
    tpending_clear(b);
    for (size_t i = 0; i < b->ntopics; i++) {
        ef_val_unref(b->topics[i]);
    }
    free(b->topics);
}

static struct ttopic *topic_find(struct batch *b, const struct ef_val *topic)
{
    for (struct ttopic *t = b->tpending; t; t = t->next) {
        if (ef_val_equal(t->topic, topic)) {
            return t;
        }
    }
    return NULL;
}

static bool topic_complete(struct batch *b, const struct ef_val *topic)
{
    struct ttopic *t = topic_find(b, topic);
    return t && t->groups && t->groups->count == (double)t->groups->msgs.n;
}

static void try_concat(struct ef_node *n, struct batch *b)
{
    for (size_t i = 0; i < b->ntopics; i++) {
        if (!topic_complete(b, b->topics[i])) {
            return;
        }
    }
    struct mlist all = {0};
    for (size_t i = 0; i < b->ntopics; i++) {
        struct tgroup *g = topic_find(b, b->topics[i])->groups;
        for (size_t k = 0; k < g->msgs.n; k++) {
            push(&all, g->msgs.m[k]);
        }
    }
    send_msgs(n, all.m, all.n, true);
    b->pending_count -= (double)all.n;
    free(all.m);
    for (size_t i = 0; i < b->ntopics; i++) {
        struct ttopic *t = topic_find(b, b->topics[i]);
        struct tgroup *g = t->groups;
        if (!g) {
            continue; /* the same topic listed twice */
        }
        t->groups = g->next;
        clear(&g->msgs);
        free(g->msgs.m);
        ef_val_unref(g->gid);
        free(g);
    }
}

static void concat_msg(struct ef_node *n, struct batch *b, struct ef_msg *msg)
{
    const struct ef_val *root = ef_msg_root(msg);
    const struct ef_val *topic = ef_val_obj_get(root, "topic");
    bool listed = false;
    for (size_t i = 0; i < b->ntopics && !listed; i++) {
        listed = topic && seq__strict_eq(b->topics[i], topic);
    }
    if (!listed) {
        ef_msg_free(msg);
        return;
    }
    const struct ef_val *parts = ef_val_obj_get(root, "parts");
    if (ef_val_type(parts) != EF_OBJ || !ef_val_obj_get(parts, "id") ||
        !ef_val_obj_get(parts, "index") || !ef_val_obj_get(parts, "count")) {
        ef_node_error(n, msg, "no parts property in message");
        ef_msg_free(msg);
        return;
    }
    struct ttopic *t = topic_find(b, topic);
    if (!t) {
        t = calloc(1, sizeof(*t));
        if (!t) {
            ef_msg_free(msg);
            return;
        }
        t->topic = ef_val_ref((struct ef_val *)topic);
        t->next = b->tpending;
        b->tpending = t;
    }
    const struct ef_val *gid = ef_val_obj_get(parts, "id");
    struct tgroup **gp = &t->groups, *g = NULL;
    for (; *gp; gp = &(*gp)->next) {
        if (ef_val_equal((*gp)->gid, gid)) {
            g = *gp;
            break;
        }
    }
    if (!g) {
        g = calloc(1, sizeof(*g));
        if (!g) {
            ef_msg_free(msg);
            return;
        }
        g->gid = ef_val_ref((struct ef_val *)gid);
        g->count = NAN;
        *gp = g;
    }
    if (push(&g->msgs, msg) != 0) {
        ef_msg_free(msg);
        return;
    }
    if (isnan(g->count)) {
        g->count = js__to_number(ef_val_obj_get(parts, "count"));
    }
    b->pending_count++;
    double max = seq__max_kept(n);
    if (max > 0 && b->pending_count > max) {
        ef_node_error(n, msg, "too many pending messages in batch node");
        tpending_clear(b);
        b->pending_count = 0;
        return;
    }
    try_concat(n, b);
}

static int batch_input(struct ef_node *n, struct ef_msg *msg)
{
    struct batch *b = ef_node_priv(n);
    const struct ef_val *root = ef_msg_root(msg);
    if (b->mode == B_BAD) {
        ef_msg_free(msg);
        return EF_INPUT_ASYNC;
    }
    if (ef_val_obj_get(root, "reset")) {
        clear(&b->pending);
        tpending_clear(b);
        b->pending_count = 0;
        if (b->mode == B_INTERVAL) {
            start_interval(n, b);
        }
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    if (b->mode == B_CONCAT) {
        concat_msg(n, b, msg);
        return EF_INPUT_DONE;
    }
    if (b->mode == B_INTERVAL) {
        push(&b->pending, msg);
        b->pending_count++;
    } else {
        const struct ef_val *parts = ef_val_obj_get(root, "parts");
        if (b->honour && parts) {
            double idx = js__to_number(ef_val_obj_get(parts, "index"));
            double cnt = js__to_number(ef_val_obj_get(parts, "count"));
            if (idx + 1 == cnt) {
                b->eof = true;
            }
        }
        push(&b->pending, msg);
        b->pending_count++;
        if ((double)b->pending.n == b->count || b->eof) {
            bool ov = b->overlap > 0;
            send_msgs(n, b->pending.m, b->pending.n, ov);
            if (ov) {
                size_t keep = (size_t)b->overlap;
                size_t len = b->pending.n;
                /* queue.slice(-overlap) */
                size_t from = keep >= len ? 0 : len - keep;
                for (size_t i = 0; i < from; i++) {
                    ef_msg_free(b->pending.m[i]);
                }
                memmove(b->pending.m, b->pending.m + from, (len - from) * sizeof(*b->pending.m));
                b->pending.n = len - from;
            } else {
                b->pending.n = 0;
            }
            b->pending_count = 0;
            b->eof = false;
        }
    }
    double max = seq__max_kept(n);
    if (max > 0 && b->pending_count > max && b->pending.n) {
        ef_node_error(n, b->pending.m[b->pending.n - 1], "too many pending messages in batch node");
        clear(&b->pending);
        b->pending_count = 0;
    }
    return EF_INPUT_DONE;
}

const struct ef_node_type ef_type_batch = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "batch",
    .description = "groups messages into sequences by count, interval or topic",
    .category = "sequence",
    .inputs = 1,
    .outputs = 1,
    .props = batch_props,
    .priv_size = sizeof(struct batch),
    .cb_init = batch_init,
    .cb_start = batch_start,
    .cb_close = batch_close,
    .cb_input = batch_input,
};
