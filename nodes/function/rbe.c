/*
 * rbe.c - the filter node (type "rbe", Node-RED rbe.js): report by
 * exception. rbe/rbei pass a message only when its property changed
 * (rbei ignores the first value); deadband/deadbandEq pass numbers that
 * moved by more than (at least) a gap, narrowband/narrowbandEq those within
 * it; the gap may be a percentage of the last value, and "last" is the last
 * input or the last output (inout). Values are kept per topic (septopics).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "js.h"

#include "lib/fnutil.h"

enum { F_RBE, F_RBEI, F_DEADBAND, F_DEADBAND_EQ, F_NARROWBAND, F_NARROWBAND_EQ };

struct rbe {
    int func;
    bool pc;         /* the gap is a percentage */
    double g;        /* parseFloat(gap) when pc */
    const char *gap; /* the configured gap text */
    double gapv;     /* node.gap as last computed */
    const char *start;
    bool inout_in; /* compare with the last input (else the last output) */
    const char *property, *topi;
    bool septopics;
    struct ef_val *previous; /* object: topic -> last value */
    char gapbuf[32];
};

static const struct ef_prop rbe_props[] = {
    {EF_PROP_ANY, "func", "\"rbe\"", false,
     "rbe, rbei, deadband, deadbandEq, narrowband or narrowbandEq", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "gap", NULL, false, "the band: a number, or a percentage such as \"10%\"",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "start", NULL, false, "narrowband: the value to start from", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "inout", "\"out\"", false, "compare with the last \"in\"put or \"out\"put",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "septopics", NULL, false, "keep a value per topic (default true)",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "property", "\"payload\"", false, "the message property to watch",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "topi", "\"topic\"", false, "the message property holding the topic",
     EF_PROP_NOFIELD},
    {EF_PROP_END},
};

static int cb_rbe_init(struct ef_node *n, const struct ef_val *config)
{
    struct rbe *r = ef_node_priv(n);
    const char *func = fn__cfg_str(config, "func", "rbe");
    r->func = !strcmp(func, "rbei")           ? F_RBEI
              : !strcmp(func, "deadband")     ? F_DEADBAND
              : !strcmp(func, "deadbandEq")   ? F_DEADBAND_EQ
              : !strcmp(func, "narrowband")   ? F_NARROWBAND
              : !strcmp(func, "narrowbandEq") ? F_NARROWBAND_EQ
                                              : F_RBE;
    const struct ef_val *gv = ef_val_obj_get(config, "gap");
    if (ef_val_type(gv) == EF_NUM && ef_val_truthy(gv)) {
        ef_num_format(ef_val_num_get(gv), r->gapbuf);
        r->gap = r->gapbuf;
    } else {
        r->gap = fn__cfg_str(config, "gap", "0");
    }
    size_t gl = strlen(r->gap);
    if (gl && r->gap[gl - 1] == '%') {
        r->pc = true;
        r->g = fn__parse_float_str(r->gap);
    }
    struct ef_val *gs = ef_val_str(r->gap);
    r->gapv = js__to_number(gs);
    ef_val_unref(gs);
    r->start = fn__cfg_str(config, "start", "");
    r->inout_in = !strcmp(fn__cfg_str(config, "inout", "out"), "in");
    r->property = fn__cfg_str(config, "property", "payload");
    r->topi = fn__cfg_str(config, "topi", "topic");
    const struct ef_val *sep = ef_val_obj_get(config, "septopics");
    r->septopics = !(ef_val_type(sep) == EF_BOOL && !ef_val_bool_get(sep));
    r->previous = ef_val_obj();
    return r->previous ? 0 : EF_ENOMEM;
}

/* The key a topic value is stored under (String(topic)); malloc'ed. */
static char *topic_key(const struct ef_val *topic)
{
    size_t len;
    return js__to_string(topic, &len);
}

static void set_prev(struct rbe *r, const char *t, struct ef_val *v)
{
    if (v && ef_val_obj_set_take(r->previous, t, v) != 0) {
        ef_val_unref(v);
    }
}

static void send_on(struct ef_node *n, struct ef_msg **msg)
{
    if (ef_node_send(n, 0, *msg) == 0) {
        *msg = NULL;
    }
}

/* Deadband and narrowband on the number x. */
static void band(struct ef_node *n, struct rbe *r, const char *t, double x, struct ef_msg **msg)
{
    struct ef_val *prev = ef_val_obj_get(r->previous, t);
    bool narrow = r->func == F_NARROWBAND || r->func == F_NARROWBAND_EQ;
    if (!prev && narrow) {
        if (!*r->start) {
            set_prev(r, t, ef_val_num(x));
        } else {
            set_prev(r, t, ef_val_str(r->start));
        }
        prev = ef_val_obj_get(r->previous, t);
    }
    if (r->pc) {
        double g = fabs(js__to_number(prev) * r->g / 100);
        r->gapv = isnan(g) ? 0 : g;
    }
    if (!prev && r->func == F_NARROWBAND_EQ) {
        set_prev(r, t, ef_val_num(x));
        prev = ef_val_obj_get(r->previous, t);
    }
    if (!prev) {
        set_prev(r, t, ef_val_num(x - r->gapv - 1));
        prev = ef_val_obj_get(r->previous, t);
    }
    double d = fabs(x - js__to_number(prev));
    bool pass = false;
    if (d == r->gapv) {
        pass = r->func == F_DEADBAND_EQ || r->func == F_NARROWBAND;
    } else if (d > r->gapv) {
        pass = r->func == F_DEADBAND || r->func == F_DEADBAND_EQ;
    } else if (d < r->gapv) {
        pass = narrow;
    }
    if (pass) {
        if (!r->inout_in) {
            set_prev(r, t, ef_val_num(x));
        }
        send_on(n, msg);
    }
    if (r->inout_in) {
        set_prev(r, t, ef_val_num(x));
    }
}

static int cb_rbe_input(struct ef_node *n, struct ef_msg *msg)
{
    struct rbe *r = ef_node_priv(n);
    const struct ef_val *topic = ef_msg_get(msg, r->topi);
    if (fn__has(msg, "reset")) {
        if (r->septopics && ef_val_type(topic) == EF_STR && ef_val_str_len(topic) > 0) {
            char *k = topic_key(ef_msg_get(msg, "topic"));
            if (k) {
                ef_val_obj_del(r->previous, k, strlen(k));
            }
            free(k);
        } else {
            ef_val_unref(r->previous);
            r->previous = ef_val_obj();
        }
    }
    const struct ef_val *value = ef_msg_get(msg, r->property);
    if (!value || !r->previous) {
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    char *t = r->septopics && ef_val_truthy(topic) ? topic_key(topic) : strdup("_no_topic");
    if (!t) {
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    if (r->func == F_RBE || r->func == F_RBEI) {
        const struct ef_val *prev = ef_val_obj_get(r->previous, t);
        bool do_send = r->func != F_RBEI || prev != NULL;
        enum ef_type vt = ef_val_type(value);
        bool is_obj = vt == EF_NULL || vt == EF_ARR || vt == EF_OBJ || vt == EF_BUF;
        bool changed;
        if (is_obj) {
            enum ef_type pt = prev ? ef_val_type(prev) : EF_STR;
            if (!prev || !(pt == EF_NULL || pt == EF_ARR || pt == EF_OBJ || pt == EF_BUF)) {
                set_prev(r, t, ef_val_obj());
                prev = ef_val_obj_get(r->previous, t);
            }
            changed = !ef_val_equal(value, prev);
        } else {
            changed = !fn__strict_eq(value, prev);
        }
        if (changed) {
            set_prev(r, t, ef_val_copy(value));
            if (do_send) {
                send_on(n, &msg);
            }
        }
    } else {
        double x = fn__parse_float(value);
        if (!isnan(x)) {
            band(n, r, t, x, &msg);
        } else {
            ef_node_warn(n, "no number found in payload");
        }
    }
    free(t);
    ef_msg_free(msg);
    return EF_INPUT_DONE;
}

static void cb_rbe_close(struct ef_node *n)
{
    struct rbe *r = ef_node_priv(n);
    ef_val_unref(r->previous);
    r->previous = NULL;
}

const struct ef_node_type ef_type_rbe = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "rbe",
    .description = "Filter: passes a message only when its value changed (report by exception) "
                   "or moved outside / stayed inside a band",
    .category = "function",
    .inputs = 1,
    .outputs = 1,
    .props = rbe_props,
    .priv_size = sizeof(struct rbe),
    .cb_init = cb_rbe_init,
    .cb_input = cb_rbe_input,
    .cb_close = cb_rbe_close,
};
