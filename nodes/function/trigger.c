/*
 * trigger.c - the trigger node (Node-RED 89-trigger.js): on a message it
 * sends a first value (op1), then - after `duration`, unless reset first -
 * a second value (op2), optionally on a second output. Later messages are
 * ignored while waiting, or extend the wait (extend); a negative duration
 * resends op1 every |duration| until reset; a duration of 0 waits for a
 * reset. msg.reset, or a payload equal to the configured reset value, cancels.
 * Values may be strings (with {{mustache}}), numbers, booleans, JSON, the
 * time, the original or latest payload, context, env, or nothing. With
 * bytopic "topic" every topic (msg[topic property]) has its own state.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "js.h"
#include "settings.h"

#include "lib/fnutil.h"
#include "lib/mustache.h"

/* What a topic's timer is doing (node.topics[topic].tout). */
enum { TO_NONE, TO_ZERO, TO_TIMEOUT, TO_EXTEND, TO_INTERVAL };

struct trigger;

struct topic {
    char *key;
    struct trigger *tr;
    int tout;
    struct ef_timer *timer;
    struct ef_val *m2;  /* node.topics[topic].m2 (NULL = undefined) */
    struct ef_msg *msg; /* the message the running timer's closure holds */
};

/* npay[topic]: the latest message, for op2type "payl". */
struct npay {
    char *key;
    struct ef_msg *msg;
};

struct op {
    const char *type;
    struct ef_val *value;     /* op1/op2 as configured (after the type fix-ups) */
    struct mst_template *tpl; /* str values holding {{ */
    char tpl_err[256];
};

struct trigger {
    struct ef_node *n;
    bool bytopic;
    struct op op1, op2;
    bool second;
    const char *topic_prop;
    bool extend, override_delay, loop;
    const char *reset;
    double duration;
    struct topic **topics;
    size_t ntopics, captopics;
    struct npay *npay;
    size_t nnpay, capnpay;
};

static const struct ef_prop trigger_props[] = {
    {EF_PROP_ANY, "op1", NULL, false, "the first value to send", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "op1type", NULL, false,
     "str, num, bool, json, date, pay (original payload), nul (nothing), flow, global, env, val",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "op2", NULL, false, "the second value to send", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "op2type", NULL, false, "as op1type, plus payl (the latest message)",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "duration", NULL, false,
     "time before the second value; 0 waits for a reset, negative resends op1", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "units", NULL, false, "ms, s, min or hr", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "extend", NULL, false, "a new message restarts the wait", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "overrideDelay", NULL, false, "msg.delay (ms) replaces the duration",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "reset", NULL, false, "a payload equal to this resets", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "bytopic", NULL, false, "all, or topic (separate state per topic)",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "topic", NULL, false, "the property that names the topic (default topic)",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "outputs", NULL, false, "2: the second value goes to a second output",
     EF_PROP_NOFIELD},
    {EF_PROP_END},
};

/* ---- topics ---- */

static struct topic *topic_find(struct trigger *tr, const char *key)
{
    for (size_t i = 0; i < tr->ntopics; i++) {
        if (!strcmp(tr->topics[i]->key, key)) {
            return tr->topics[i];
        }
    }
    return NULL;
}

static struct topic *topic_get(struct trigger *tr, const char *key)
{
    struct topic *t = topic_find(tr, key);
    if (t) {
        return t;
    }
    if (tr->ntopics == tr->captopics) {
        size_t cap = tr->captopics ? tr->captopics * 2 : 8;
        struct topic **a = realloc(tr->topics, cap * sizeof(*a));
        if (!a) {
            return NULL;
        }
        tr->topics = a;
        tr->captopics = cap;
    }
    t = calloc(1, sizeof(*t));
    if (!t || !(t->key = strdup(key))) {
        free(t);
        return NULL;
    }
    t->tr = tr;
    tr->topics[tr->ntopics++] = t;
    return t;
}

/* Stops the topic's timer and forgets what it held. */
static void topic_stop(struct topic *t)
{
    ef_timer_free(t->timer);
    t->timer = NULL;
    ef_msg_free(t->msg);
    t->msg = NULL;
}

/* delete node.topics[topic]. */
static void topic_delete(struct trigger *tr, struct topic *t)
{
    for (size_t i = 0; i < tr->ntopics; i++) {
        if (tr->topics[i] == t) {
            tr->topics[i] = tr->topics[--tr->ntopics];
            break;
        }
    }
    topic_stop(t);
    ef_val_unref(t->m2);
    free(t->key);
    free(t);
}

static struct npay *npay_find(struct trigger *tr, const char *key)
{
    for (size_t i = 0; i < tr->nnpay; i++) {
        if (!strcmp(tr->npay[i].key, key)) {
            return &tr->npay[i];
        }
    }
    return NULL;
}

/* npay[topic] = msg (adopted). */
static void npay_set(struct trigger *tr, const char *key, struct ef_msg *msg)
{
    struct npay *p = npay_find(tr, key);
    if (p) {
        ef_msg_free(p->msg);
        p->msg = msg;
        return;
    }
    if (tr->nnpay == tr->capnpay) {
        size_t cap = tr->capnpay ? tr->capnpay * 2 : 8;
        struct npay *a = realloc(tr->npay, cap * sizeof(*a));
        if (!a) {
            ef_msg_free(msg);
            return;
        }
        tr->npay = a;
        tr->capnpay = cap;
    }
    char *k = strdup(key);
    if (!k) {
        ef_msg_free(msg);
        return;
    }
    tr->npay[tr->nnpay].key = k;
    tr->npay[tr->nnpay].msg = msg;
    tr->nnpay++;
}

/* Takes npay[topic] out (NULL when there is none). */
static struct ef_msg *npay_take(struct trigger *tr, const char *key)
{
    struct npay *p = npay_find(tr, key);
    if (!p) {
        return NULL;
    }
    struct ef_msg *m = p->msg;
    free(p->key);
    *p = tr->npay[--tr->nnpay];
    return m;
}

/* stat(): nothing, a dot, or a dot with the number of topics. */
static void show_status(struct trigger *tr)
{
    if (tr->ntopics == 0) {
        ef_node_status(tr->n, NULL, NULL, NULL);
    } else if (tr->ntopics == 1) {
        ef_node_status(tr->n, "blue", "dot", NULL);
    } else {
        char text[32];
        snprintf(text, sizeof(text), "%zu", tr->ntopics);
        ef_node_status(tr->n, "blue", "dot", text);
    }
}

/* ---- values ---- */

/* Evaluates op for msg: a new reference in *out (NULL = undefined); 0 or -1 with err. */
static int op_eval(struct trigger *tr, struct op *op, const struct ef_msg *msg, struct ef_val **out,
                   char *err, size_t errlen)
{
    *out = NULL;
    if (op->tpl || op->tpl_err[0]) {
        /* mustache.js throws Error objects: Node-RED reports "Error: <message>" */
        if (!op->tpl) {
            snprintf(err, errlen, "Error: %s", op->tpl_err);
            return -1;
        }
        size_t len;
        char text_err[400];
        char *text = mst__render(op->tpl, ef_msg_root(msg), NULL, &len, text_err, sizeof(text_err));
        if (!text) {
            snprintf(err, errlen, "Error: %s", text_err);
            return -1;
        }
        *out = ef_val_str_take(text, len);
        return 0;
    }
    if (!strcmp(op->type, "null")) {
        *out = ef_val_null();
        return 0;
    }
    char e[400];
    if (ef_node_eval_typed(tr->n, op->type, op->value, msg, out, e, sizeof(e)) != 0) {
        /* the rejection is an Error object; Node-RED reports its toString() */
        bool json = !strcmp(op->type, "json") || !strcmp(op->type, "bin");
        snprintf(err, errlen, "%s%s", json && strncmp(e, "SyntaxError", 11) ? "SyntaxError: " : "",
                 e);
        return -1;
    }
    return 0;
}

static bool is_ctx_type(const char *t)
{
    return !strcmp(t, "flow") || !strcmp(t, "global");
}

/* Sends the second message: out of port 1 with a second output. Takes msg. */
static void send_second(struct trigger *tr, struct ef_msg *msg)
{
    if (!msg) {
        return;
    }
    int port = tr->second ? 1 : 0;
    if (port >= ef_node_outputs(tr->n) || ef_node_send(tr->n, port, msg) != 0) {
        ef_msg_free(msg);
    }
}

static void send_first(struct trigger *tr, struct ef_msg *msg)
{
    if (ef_node_send(tr->n, 0, msg) != 0) {
        ef_msg_free(msg);
    }
}

/* The wait is over: the second message (setTimeout in the first branch). */
static void on_timeout(struct ef_node *n, void *arg)
{
    struct topic *t = arg;
    struct trigger *tr = t->tr;
    ef_timer_free(t->timer);
    t->timer = NULL;
    struct ef_msg *msg = t->msg; /* the first message, as sent */
    t->msg = NULL;
    if (strcmp(tr->op2.type, "nul") != 0) {
        char err[512];
        if (is_ctx_type(tr->op2.type) || !strcmp(tr->op2.type, "date")) {
            struct ef_val *v;
            if (op_eval(tr, &tr->op2, msg, &v, err, sizeof(err)) != 0) {
                ef_node_error(n, NULL, "%s", err);
                ef_msg_free(msg);
                return;
            }
            ef_val_unref(t->m2);
            t->m2 = v;
        }
        if (!strcmp(tr->op2.type, "payl")) {
            send_second(tr, npay_take(tr, t->key));
        } else {
            struct ef_msg *m2 = ef_msg_clone(msg);
            if (m2) {
                if (t->m2) {
                    ef_msg_set_take(m2, "payload", ef_val_ref(t->m2));
                } else {
                    ef_msg_delete(m2, "payload");
                }
            }
            send_second(tr, m2);
        }
    }
    ef_msg_free(msg);
    topic_delete(tr, t);
    show_status(tr);
}

/* An extended wait is over (setTimeout in the extend branch). */
static void on_extend(struct ef_node *n, void *arg)
{
    struct topic *t = arg;
    struct trigger *tr = t->tr;
    ef_timer_free(t->timer);
    t->timer = NULL;
    struct ef_msg *msg = t->msg; /* the message that extended the wait */
    t->msg = NULL;
    struct ef_msg *m2 = NULL;
    if (strcmp(tr->op2.type, "nul") != 0) {
        if (is_ctx_type(tr->op2.type)) {
            char err[512];
            struct ef_val *v;
            if (op_eval(tr, &tr->op2, msg, &v, err, sizeof(err)) != 0) {
                ef_node_error(n, NULL, "%s", err);
                ef_msg_free(msg);
                return;
            }
            ef_val_unref(t->m2);
            t->m2 = v;
        }
        m2 = ef_msg_clone(msg);
        if (m2) {
            if (t->m2) {
                ef_msg_set_take(m2, "payload", ef_val_ref(t->m2));
            } else {
                ef_msg_delete(m2, "payload");
            }
        }
    }
    ef_msg_free(msg);
    topic_delete(tr, t);
    show_status(tr);
    send_second(tr, m2);
}

/* Resending (negative duration): op1 again, the time refreshed for "date". */
static void on_interval(struct ef_node *n, void *arg)
{
    (void)n;
    struct topic *t = arg;
    struct trigger *tr = t->tr;
    if (!t->msg) {
        return;
    }
    if (!strcmp(tr->op1.type, "date")) {
        ef_msg_set_take(t->msg, "payload", ef_val_num(floor(ef_now_ms())));
    }
    struct ef_msg *c = ef_msg_clone(t->msg);
    if (c) {
        send_first(tr, c);
    }
}

/* Whether msg resets: msg.reset, or payload.toString() == the reset value. */
static bool is_reset(const struct trigger *tr, const struct ef_msg *msg)
{
    if (fn__has(msg, "reset")) {
        return true;
    }
    if (!*tr->reset) {
        return false;
    }
    const struct ef_val *p = ef_msg_get(msg, "payload");
    if (!p || ef_val_type(p) == EF_NULL) {
        return false;
    }
    size_t len;
    char *s = js__to_string(p, &len);
    bool eq = s && len == strlen(tr->reset) && !memcmp(s, tr->reset, len);
    free(s);
    return eq;
}

static int fail(struct ef_node *n, struct ef_msg *msg, const char *err)
{
    ef_node_error(n, msg, "%s", err);
    ef_msg_free(msg);
    return EF_INPUT_DONE;
}

static int start_waiting(struct trigger *tr, struct topic *t, struct ef_msg *msg, double duration)
{
    struct ef_node *n = tr->n;
    char err[512];
    if (!strcmp(tr->op2.type, "pay")) {
        ef_val_unref(t->m2);
        t->m2 = ef_val_copy(ef_msg_get(msg, "payload"));
    } else if (strcmp(tr->op2.type, "nul") != 0) {
        struct ef_val *v;
        if (op_eval(tr, &tr->op2, msg, &v, err, sizeof(err)) != 0) {
            return fail(n, msg, err);
        }
        ef_val_unref(t->m2);
        t->m2 = v;
    }
    if (strcmp(tr->op1.type, "pay") != 0 && strcmp(tr->op1.type, "nul") != 0) {
        struct ef_val *v;
        if (op_eval(tr, &tr->op1, msg, &v, err, sizeof(err)) != 0) {
            return fail(n, msg, err);
        }
        if (v) {
            if (ef_msg_set_take(msg, "payload", v) != 0) {
                ef_val_unref(v);
            }
        } else {
            ef_msg_delete(msg, "payload");
        }
    }
    if (duration == 0) {
        t->tout = TO_ZERO;
    } else if (tr->loop) {
        topic_stop(t);
        if (strcmp(tr->op1.type, "nul") != 0) {
            t->msg = ef_msg_clone(msg);
            t->timer = ef_timer_new(n, on_interval, t);
            if (t->timer) {
                uint64_t ms = fn__timer_ms(duration);
                ef_timer_start(t->timer, ms, ms);
                t->tout = TO_INTERVAL;
            }
        }
    } else if (t->tout == TO_NONE) {
        t->msg = ef_msg_share(msg);
        t->timer = ef_timer_new(n, on_timeout, t);
        if (t->timer) {
            ef_timer_start(t->timer, fn__timer_ms(duration), 0);
            t->tout = TO_TIMEOUT;
        }
    }
    show_status(tr);
    if (strcmp(tr->op1.type, "nul") != 0) {
        /* the closure keeps the message as sent; a later write copies (copy-on-write) */
        send_first(tr, msg);
    } else {
        ef_msg_free(msg);
    }
    return EF_INPUT_DONE;
}

static int cb_trigger_input(struct ef_node *n, struct ef_msg *msg)
{
    struct trigger *tr = ef_node_priv(n);
    double duration = tr->duration;
    if (tr->override_delay && fn__has(msg, "delay")) {
        double d = fn__parse_float(ef_msg_get(msg, "delay"));
        if (!isnan(d)) {
            duration = d;
        }
    }
    char *key = NULL;
    if (tr->bytopic) {
        const struct ef_val *tv = ef_msg_get(msg, tr->topic_prop);
        size_t len;
        key = ef_val_truthy(tv) ? js__to_string(tv, &len) : NULL;
    }
    /* edgeflow's bound on topics waiting (Node-RED has none): a new one is refused */
    const struct ef_val *mv = settings__get(n->fs->rt->settings, "nodeMessageBufferMaxLength");
    double max = ef_val_type(mv) == EF_NUM ? ef_val_num_get(mv) : 0;
    if (max > 0 && (double)tr->ntopics >= max && !topic_find(tr, key ? key : "_none") &&
        !is_reset(tr, msg)) {
        free(key);
        return fail(n, msg, "too many pending messages in trigger node");
    }
    struct topic *t = topic_get(tr, key ? key : "_none");
    free(key);
    if (!t) {
        return fail(n, msg, "out of memory");
    }
    if (is_reset(tr, msg)) {
        topic_delete(tr, t);
        show_status(tr);
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    if (!strcmp(tr->op2.type, "payl")) {
        struct ef_msg *c = ef_msg_clone(msg);
        if (c) {
            npay_set(tr, t->key, c);
        }
    }
    if (t->tout == TO_NONE || tr->loop) {
        return start_waiting(tr, t, msg, duration);
    }
    if (tr->extend && duration > 0) {
        if (!strcmp(tr->op2.type, "payl")) {
            ef_val_unref(t->m2);
            t->m2 = ef_val_copy(ef_msg_get(msg, "payload"));
        }
        topic_stop(t);
        t->msg = msg;
        t->timer = ef_timer_new(n, on_extend, t);
        if (t->timer) {
            ef_timer_start(t->timer, fn__timer_ms(duration), 0);
            t->tout = TO_EXTEND;
        }
        return EF_INPUT_DONE;
    }
    ef_msg_free(msg);
    return EF_INPUT_DONE;
}

/* Reads op1/op2 and their types as TriggerNode's constructor does. */
static void op_init(struct ef_node *n, struct op *op, const struct ef_val *config, const char *vk,
                    const char *tk, const char *def)
{
    op->type = fn__cfg_str(config, tk, "str");
    const struct ef_val *v = ef_val_obj_get(config, vk);
    const char *text = NULL;
    char num[32];
    if (ef_val_type(v) == EF_STR && ef_val_str_len(v) > 0) {
        text = ef_val_str_get(v);
    } else if (ef_val_truthy(v)) {
        size_t len;
        char *s = js__to_string(v, &len);
        snprintf(num, sizeof(num), "%s", s ? s : "");
        free(s);
        text = num;
    } else {
        text = def;
    }
    if (!strcmp(op->type, "date") && !strcmp(text, def)) {
        text = "";
    }
    if (!strcmp(op->type, "val")) {
        if (!strcmp(text, "true") || !strcmp(text, "false")) {
            op->type = "bool";
        } else if (!strcmp(text, "null")) {
            op->type = "null";
        } else {
            op->type = "str";
        }
    }
    op->value = ef_val_str(text);
    if (!strcmp(op->type, "str") && strstr(text, "{{")) {
        op->tpl = mst__parse(text, strlen(text), op->tpl_err, sizeof(op->tpl_err));
    }
    (void)n;
}

static int cb_trigger_init(struct ef_node *n, const struct ef_val *config)
{
    struct trigger *tr = ef_node_priv(n);
    tr->n = n;
    tr->bytopic = strcmp(fn__cfg_str(config, "bytopic", "all"), "all") != 0;
    op_init(n, &tr->op1, config, "op1", "op1type", "1");
    op_init(n, &tr->op2, config, "op2", "op2type", "0");
    const struct ef_val *outs = ef_val_obj_get(config, "outputs");
    tr->second = outs && js__to_number(outs) == 2;
    tr->topic_prop = fn__cfg_str(config, "topic", "topic");
    const struct ef_val *ext = ef_val_obj_get(config, "extend");
    tr->extend = (ef_val_type(ext) == EF_BOOL && ef_val_bool_get(ext)) ||
                 (ef_val_type(ext) == EF_STR && !strcmp(ef_val_str_get(ext), "true"));
    tr->override_delay = ef_val_truthy(ef_val_obj_get(config, "overrideDelay"));
    const struct ef_val *rv = ef_val_obj_get(config, "reset");
    if (ef_val_type(rv) == EF_STR) {
        tr->reset = ef_val_str_get(rv);
    } else {
        tr->reset = "";
    }
    tr->duration = fn__parse_float(ef_val_obj_get(config, "duration"));
    if (isnan(tr->duration)) {
        tr->duration = 250;
    }
    if (tr->duration < 0) {
        tr->loop = true;
        tr->duration = -tr->duration;
        tr->extend = false;
    }
    const char *units = fn__cfg_str(config, "units", "ms");
    if (!strcmp(units, "s")) {
        tr->duration *= 1000;
    } else if (!strcmp(units, "min")) {
        tr->duration *= 1000 * 60;
    } else if (!strcmp(units, "hr")) {
        tr->duration *= 1000 * 60 * 60;
    }
    if (!tr->op1.value || !tr->op2.value) {
        ef_node_error(n, NULL, "out of memory");
        return EF_ENOMEM;
    }
    return 0;
}

static void cb_trigger_close(struct ef_node *n)
{
    struct trigger *tr = ef_node_priv(n);
    /* The runtime frees the node's timers after this returns. */
    for (size_t i = 0; i < tr->ntopics; i++) {
        struct topic *t = tr->topics[i];
        ef_msg_free(t->msg);
        ef_val_unref(t->m2);
        free(t->key);
        free(t);
    }
    free(tr->topics);
    tr->topics = NULL;
    tr->ntopics = 0;
    for (size_t i = 0; i < tr->nnpay; i++) {
        free(tr->npay[i].key);
        ef_msg_free(tr->npay[i].msg);
    }
    free(tr->npay);
    tr->npay = NULL;
    tr->nnpay = 0;
    struct op *ops[2] = {&tr->op1, &tr->op2};
    for (int i = 0; i < 2; i++) {
        ef_val_unref(ops[i]->value);
        ops[i]->value = NULL;
        mst__free(ops[i]->tpl);
        ops[i]->tpl = NULL;
    }
}

const struct ef_node_type ef_type_trigger = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "trigger",
    .description = "Sends a message, then optionally a second one after a delay unless reset or "
                   "extended",
    .category = "function",
    .inputs = 1,
    .outputs = EF_OUTPUTS_FROM_CONFIG,
    .props = trigger_props,
    .priv_size = sizeof(struct trigger),
    .cb_init = cb_trigger_init,
    .cb_input = cb_trigger_input,
    .cb_close = cb_trigger_close,
};
