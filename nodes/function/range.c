/*
 * range.c - the range node (Node-RED 16-range.js): maps a numeric message
 * property from an input range to an output range, scaling freely, clamping
 * to the input range, wrapping around it (roll) or dropping messages outside
 * it, optionally rounding to the nearest integer.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "js.h"

#include "lib/fnutil.h"

enum { A_SCALE, A_CLAMP, A_ROLL, A_DROP };

struct range {
    int action;
    bool round;
    double minin, maxin, minout, maxout;
    const char *property;
};

static const struct ef_prop range_props[] = {
    {EF_PROP_ANY, "action", "\"scale\"", false, "scale, clamp, roll or drop", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "round", "false", false, "round the result to an integer", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "minin", NULL, false, "input range minimum", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "maxin", NULL, false, "input range maximum", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "minout", NULL, false, "output range minimum", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "maxout", NULL, false, "output range maximum", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "property", "\"payload\"", false, "the message property to map", EF_PROP_NOFIELD},
    {EF_PROP_END},
};

static int cb_range_init(struct ef_node *n, const struct ef_val *config)
{
    struct range *r = ef_node_priv(n);
    const char *action = fn__cfg_str(config, "action", "");
    r->action = !strcmp(action, "clamp")  ? A_CLAMP
                : !strcmp(action, "roll") ? A_ROLL
                : !strcmp(action, "drop") ? A_DROP
                                          : A_SCALE;
    r->round = ef_val_truthy(ef_val_obj_get(config, "round"));
    r->minin = fn__cfg_num(config, "minin");
    r->maxin = fn__cfg_num(config, "maxin");
    r->minout = fn__cfg_num(config, "minout");
    r->maxout = fn__cfg_num(config, "maxout");
    if (r->minin > r->maxin) {
        double t = r->minin;
        r->minin = r->maxin;
        r->maxin = t;
        t = r->minout;
        r->minout = r->maxout;
        r->maxout = t;
    }
    if (r->round) {
        r->maxout = floor(r->maxout);
        r->minout = ceil(r->minout);
    }
    r->property = fn__cfg_str(config, "property", "payload");
    return 0;
}

static int cb_range_input(struct ef_node *n, struct ef_msg *msg)
{
    struct range *r = ef_node_priv(n);
    const struct ef_val *value = ef_msg_get(msg, r->property);
    if (!value) {
        if (ef_node_send(n, 0, msg) != 0) {
            ef_msg_free(msg);
        }
        return EF_INPUT_DONE;
    }
    double x = js__to_number(value);
    if (isnan(x)) {
        size_t len;
        char *text = js__to_string(value, &len);
        ef_node_log(n, "Not a number: %s", text ? text : "");
        free(text);
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    if (r->action == A_DROP && (x < r->minin || x > r->maxin)) {
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    if (r->action == A_CLAMP) {
        if (x < r->minin) {
            x = r->minin;
        }
        if (x > r->maxin) {
            x = r->maxin;
        }
    }
    if (r->action == A_ROLL) {
        double d = r->maxin - r->minin;
        x = fmod(fmod(x - r->minin, d) + d, d) + r->minin;
    }
    double out = (x - r->minin) / (r->maxin - r->minin) * (r->maxout - r->minout) + r->minout;
    if (r->round) {
        out = fn__js_round(out);
    }
    struct ef_val *v = ef_val_num(out);
    if (!v || ef_msg_set_take(msg, r->property, v) != 0) {
        ef_val_unref(v);
    }
    if (ef_node_send(n, 0, msg) != 0) {
        ef_msg_free(msg);
    }
    return EF_INPUT_DONE;
}

const struct ef_node_type ef_type_range = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "range",
    .description = "Maps a number from one range to another: scale, clamp, roll or drop",
    .category = "function",
    .inputs = 1,
    .outputs = 1,
    .props = range_props,
    .priv_size = sizeof(struct range),
    .cb_init = cb_range_init,
    .cb_input = cb_range_input,
};
