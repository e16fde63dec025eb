/*
 * inject.c - the inject node: sends a message built from a list of typed
 * properties ({p, v, vt}; the legacy payload/payloadType/topic fields fill
 * in as Node-RED's 20-inject.js does), once after start (onceDelay
 * seconds), every `repeat` seconds, on a cron schedule, or when the editor's
 * button fires it (inject__trigger). Cron schedules come from lib/cron.c.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "typed.h"

#include "lib/cron.h"
#include "inject.h"

#ifdef EF_HAVE_JSONATA
#include "jsonata/jsonata.h"
#endif

/* ======================================================================
 * The inject node
 * ====================================================================== */

#define TIMEOUT_MAX 2147483647.0 /* Node.js setTimeout's largest delay */

struct inject {
    struct ef_val *props; /* array of {p, v?, vt?} (owned) */
    uint64_t repeat_ms;   /* 0: no interval */
    bool has_cron, once, too_long;
    struct cron_expr cron;
    const char *crontab;
    uint64_t once_ms;
    double cron_next;
    struct ef_timer *once_timer, *repeat_timer, *cron_timer;
};

static const struct ef_prop inject_props[] = {
    {EF_PROP_ANY, "props", NULL, false, "the properties to set: [{p, v, vt}, ...]",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "repeat", NULL, false, "interval in seconds (\"\" for none)", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "crontab", NULL, false, "cron schedule (when no repeat interval)",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "once", NULL, false, "inject once after start", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "onceDelay", NULL, false, "seconds before the first inject (default 0.1)",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "topic", NULL, false, "legacy: msg.topic", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "payload", NULL, false, "legacy: the payload value", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "payloadType", NULL, false, "legacy: the payload type (str, num, date, ...)",
     EF_PROP_NOFIELD},
    {EF_PROP_END},
};

/* Number(v) of a JavaScript value; absent (undefined) is NaN. */
static double js_number(const struct ef_val *v)
{
    if (!v) {
        return NAN;
    }
    switch (ef_val_type(v)) {
    case EF_NUM: return ef_val_num_get(v);
    case EF_BOOL: return ef_val_bool_get(v) ? 1 : 0;
    case EF_NULL: return 0;
    case EF_STR: return typed__to_number(ef_val_str_get(v), ef_val_str_len(v));
    default: return NAN;
    }
}

/* The delay Node.js's setTimeout/setInterval actually uses for `ms`. */
static uint64_t node_delay(double ms)
{
    if (!(ms >= 1 && ms <= TIMEOUT_MAX)) {
        return 1;
    }
    return (uint64_t)ms;
}

static struct ef_val *prop_obj(const char *p, const struct ef_val *v, const struct ef_val *vt)
{
    struct ef_val *o = ef_val_obj();
    if (!o) {
        return NULL;
    }
    ef_val_obj_set_take(o, "p", ef_val_str(p));
    if (v) {
        ef_val_obj_set_take(o, "v", ef_val_ref((struct ef_val *)v));
    }
    if (vt) {
        ef_val_obj_set_take(o, "vt", ef_val_ref((struct ef_val *)vt));
    }
    return o;
}

/* The property list as 20-inject.js sets it up, legacy fields folded in. */
static struct ef_val *build_props(const struct ef_val *config)
{
    const struct ef_val *props = ef_val_obj_get(config, "props");
    const struct ef_val *payload = ef_val_obj_get(config, "payload");
    const struct ef_val *ptype = ef_val_obj_get(config, "payloadType");
    const struct ef_val *topic = ef_val_obj_get(config, "topic");
    struct ef_val *out = ef_val_arr();
    if (!out) {
        return NULL;
    }
    if (ef_val_type(props) != EF_ARR) {
        struct ef_val *str = ef_val_str("str");
        ef_val_arr_push_take(out, prop_obj("payload", payload, ptype));
        ef_val_arr_push_take(out, prop_obj("topic", topic, str));
        ef_val_unref(str);
        return out;
    }
    for (size_t i = 0; i < ef_val_arr_len(props); i++) {
        struct ef_val *item = ef_val_copy(ef_val_arr_at(props, i));
        if (item && ef_val_type(item) == EF_OBJ) {
            const struct ef_val *p = ef_val_obj_get(item, "p");
            bool has_v = ef_val_obj_get(item, "v") != NULL;
            bool is_str = ef_val_type(p) == EF_STR;
            const char *vt = ef_val_str_get(ef_val_obj_get(item, "vt"));
            if (is_str && !strcmp(ef_val_str_get(p), "payload") && !has_v) {
                if (payload) {
                    ef_val_obj_set_take(item, "v", ef_val_ref((struct ef_val *)payload));
                }
                ef_val_obj_del(item, "vt", 2);
                if (ptype) {
                    ef_val_obj_set_take(item, "vt", ef_val_ref((struct ef_val *)ptype));
                }
            } else if (is_str && !strcmp(ef_val_str_get(p), "topic") && !strcmp(vt, "str") &&
                       ef_val_type(ef_val_obj_get(item, "vt")) == EF_STR && !has_v && topic) {
                ef_val_obj_set_take(item, "v", ef_val_ref((struct ef_val *)topic));
            }
        }
        if (!item || ef_val_arr_push_take(out, item) != 0) {
            ef_val_unref(item);
            ef_val_unref(out);
            return NULL;
        }
    }
    return out;
}

/* Appends "; " and text to the error list. */
static void add_error(char *errs, size_t len, const char *text)
{
    size_t used = strlen(errs);
    snprintf(errs + used, len - used, "%s%s", used ? "; " : "", text);
}

/* Sets one property on msg; a failure is added to errs. v is adopted. */
static void set_prop(struct ef_msg *msg, const char *p, struct ef_val *v, char *errs, size_t elen)
{
    char err[256];
    struct ef_path *path = ef_path_parse(!strncmp(p, "msg.", 4) ? p + 4 : p, err, sizeof(err));
    if (!path) {
        char text[300];
        snprintf(text, sizeof(text), "Error: %s", err);
        add_error(errs, elen, text);
        ef_val_unref(v);
        return;
    }
    ef_path_free(path);
    if (!v) {
        ef_msg_delete(msg, p); /* undefined: JSON shows no key */
        return;
    }
    if (ef_msg_set_take(msg, p, v) != 0) {
        ef_val_unref(v);
        char text[300];
        snprintf(text, sizeof(text), "Error: cannot set property %s", p);
        add_error(errs, elen, text);
    }
}

/*
 * Builds and sends the message (the node's "input" handler). msg is owned:
 * NULL for a timer (the message starts empty and gets its _msgid when
 * sent, as Node-RED's node.emit("input", {})), or a message given by the
 * admin API (node.receive(), _msgid first).
 */
static void inject_fire(struct ef_node *n, struct ef_msg *msg)
{
    struct inject *in = ef_node_priv(n);
    bool add_id = false;
    if (!msg) {
        msg = ef_msg_new();
        if (!msg) {
            ef_node_error(n, NULL, "out of memory");
            return;
        }
        ef_msg_delete(msg, "_msgid");
        add_id = true;
    }
    struct ef_val *props = ef_val_ref(in->props);
    struct ef_val *user = ef_msg_get(msg, "__user_inject_props__");
    if (user && ef_val_type(user) == EF_ARR) {
        ef_val_unref(props);
        props = ef_val_ref(user);
    }
    ef_msg_delete(msg, "__user_inject_props__");
    char errs[2048] = "";
    for (size_t i = 0; i < ef_val_arr_len(props); i++) {
        const struct ef_val *item = ef_val_arr_at(props, i);
        const struct ef_val *pv = ef_val_obj_get(item, "p");
        if (ef_val_type(item) != EF_OBJ || !ef_val_truthy(pv)) {
            continue;
        }
        if (ef_val_type(pv) != EF_STR) {
            continue;
        }
        const char *p = ef_val_str_get(pv);
        const struct ef_val *v = ef_val_obj_get(item, "v");
        const struct ef_val *vtv = ef_val_obj_get(item, "vt");
        const char *vt = vtv ? ef_val_str_get(vtv) : "str";
        struct ef_val *empty = NULL;
        if (!v) {
            v = empty = ef_val_str("");
        }
        char err[512] = "";
        struct ef_val *out = NULL;
        if (!strcmp(vt, "jsonata")) {
            if (ef_val_truthy(ef_val_obj_get(item, "v"))) {
                if (ef_node_eval_typed(n, vt, v, msg, &out, err, sizeof(err)) != 0) {
                    char text[600];
                    snprintf(text, sizeof(text), "Invalid JSONata expression: %s", err);
                    add_error(errs, sizeof(errs), text);
                } else {
                    set_prop(msg, p, out, errs, sizeof(errs));
                }
            }
        } else if (ef_node_eval_typed(n, vt, v, msg, &out, err, sizeof(err)) != 0) {
            add_error(errs, sizeof(errs), err[0] ? err : "Error: cannot evaluate property");
        } else {
            set_prop(msg, p, out, errs, sizeof(errs));
        }
        ef_val_unref(empty);
    }
    ef_val_unref(props);
    if (errs[0]) {
        ef_node_error(n, msg, "%s", errs);
        ef_msg_free(msg);
        return;
    }
    if (add_id && !ef_msg_get(msg, "_msgid")) {
        char id[17];
        ef_id_new(id);
        ef_msg_set_take(msg, "_msgid", ef_val_str(id));
    }
    ef_node_done(n, msg);
    if (ef_node_send(n, 0, msg) != 0) {
        ef_msg_free(msg);
    }
}

static void arm_cron(struct ef_node *n)
{
    struct inject *in = ef_node_priv(n);
    if (in->cron_next < 0) {
        return; /* no more dates: the task has ended */
    }
    double delay = in->cron_next - ef_now_ms();
    ef_timer_start(in->cron_timer, node_delay(delay < TIMEOUT_MAX ? delay : TIMEOUT_MAX), 0);
}

static void on_cron(struct ef_node *n, void *arg)
{
    (void)arg;
    struct inject *in = ef_node_priv(n);
    double now = ef_now_ms();
    if (in->cron_next <= now) {
        inject_fire(n, NULL);
        in->cron_next = cron__next(&in->cron, ef_now_ms());
    }
    arm_cron(n);
}

static void on_repeat(struct ef_node *n, void *arg)
{
    (void)arg;
    inject_fire(n, NULL);
}

/* node.repeaterSetup(): the interval, or else the cron schedule. */
static void repeater_setup(struct ef_node *n)
{
    struct inject *in = ef_node_priv(n);
    if (in->repeat_ms) {
        ef_node_debug(n, "repeat = %llu", (unsigned long long)in->repeat_ms);
        in->repeat_timer = ef_timer_new(n, on_repeat, NULL);
        if (in->repeat_timer) {
            ef_timer_start(in->repeat_timer, in->repeat_ms, in->repeat_ms);
        }
    } else if (in->has_cron) {
        ef_node_debug(n, "crontab = %s", in->crontab);
        in->cron_timer = ef_timer_new(n, on_cron, NULL);
        if (in->cron_timer) {
            in->cron_next = cron__next(&in->cron, ef_now_ms());
            arm_cron(n);
        }
    }
}

static void on_once(struct ef_node *n, void *arg)
{
    (void)arg;
    inject_fire(n, NULL);
    repeater_setup(n);
}

static int cb_inject_init(struct ef_node *n, const struct ef_val *config)
{
    struct inject *in = ef_node_priv(n);
    in->props = build_props(config);
    if (!in->props) {
        ef_node_error(n, NULL, "out of memory");
        return EF_ENOMEM;
    }
    const struct ef_val *rv = ef_val_obj_get(config, "repeat");
    double repeat = js_number(rv);
    if (repeat > 2147483) {
        in->too_long = true; /* reported at start: Node-RED logs it and runs on */
        rv = NULL;
        repeat = NAN;
    }
    if (ef_val_truthy(rv) && !isnan(repeat) && repeat > 0) {
        in->repeat_ms = node_delay(repeat * 1000);
    } else {
        const struct ef_val *cv = ef_val_obj_get(config, "crontab");
        if (ef_val_type(cv) == EF_STR && ef_val_truthy(cv)) {
            char err[256];
            in->crontab = ef_val_str_get(cv);
            if (cron__parse(in->crontab, &in->cron, err, sizeof(err)) != 0) {
                ef_node_error(n, NULL, "invalid crontab '%s': %s", in->crontab, err);
                ef_val_unref(in->props); /* no cb_close after a failed init */
                in->props = NULL;
                return EF_EINVAL;
            }
            in->has_cron = true;
        }
    }
    const struct ef_val *once = ef_val_obj_get(config, "once");
    in->once = once && ef_val_truthy(once);
    const struct ef_val *od = ef_val_obj_get(config, "onceDelay");
    double delay = od && ef_val_truthy(od) ? js_number(od) * 1000 : 100;
    in->once_ms = node_delay(delay);
    return 0;
}

/*
 * Node-RED prepares each JSONata property when the node is created and logs
 * a syntax error (the node still runs). Done at start: an error reported
 * during init would refuse the flow.
 */
static void check_jsonata(struct ef_node *n)
{
#ifdef EF_HAVE_JSONATA
    struct inject *in = ef_node_priv(n);
    for (size_t i = 0; i < ef_val_arr_len(in->props); i++) {
        const struct ef_val *item = ef_val_arr_at(in->props, i);
        if (strcmp(ef_val_str_get(ef_val_obj_get(item, "vt")), "jsonata") != 0) {
            continue;
        }
        const struct ef_val *v = ef_val_obj_get(item, "v");
        struct ef_jsonata_error err;
        memset(&err, 0, sizeof(err));
        struct ef_jsonata *e =
            ef_jsonata_compile_ex(ef_val_truthy(v) ? ef_val_str_get(v) : "", &err);
        if (!e) {
            ef_node_error(n, NULL, "Invalid JSONata expression: %s", err.message);
        }
        ef_jsonata_free(e);
    }
#else
    (void)n;
#endif
}

static void cb_inject_start(struct ef_node *n)
{
    struct inject *in = ef_node_priv(n);
    check_jsonata(n);
    if (in->too_long) {
        ef_node_error(n, NULL, "Interval too large");
    }
    if (in->once) {
        in->once_timer = ef_timer_new(n, on_once, NULL);
        if (in->once_timer) {
            ef_timer_start(in->once_timer, in->once_ms, 0);
        }
    } else {
        repeater_setup(n);
    }
}

static void cb_inject_close(struct ef_node *n)
{
    struct inject *in = ef_node_priv(n);
    /* The runtime has already stopped and freed the node's timers. */
    in->once_timer = in->repeat_timer = in->cron_timer = NULL;
    ef_val_unref(in->props);
    in->props = NULL;
}

const struct ef_node_type ef_type_inject = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "inject",
    .description = "Injects a message: by hand, once after start, at intervals or on a cron "
                   "schedule",
    .category = "common",
    .inputs = 0,
    .outputs = 1,
    .props = inject_props,
    .priv_size = sizeof(struct inject),
    .cb_init = cb_inject_init,
    .cb_start = cb_inject_start,
    .cb_close = cb_inject_close,
};

/* Fires inject node n with the request body of POST /inject/:id (see inject.h). */
int inject__trigger_body(struct ef_node *n, const struct ef_val *body)
{
    if (!n || ef_node_type_of(n) != &ef_type_inject || n->closed) {
        return EF_EINVAL;
    }
    struct ef_msg *msg;
    const struct ef_val *up = ef_val_obj_get(body, "__user_inject_props__");
    if (body && ef_val_type(body) == EF_OBJ && ef_val_truthy(up)) {
        struct ef_val *copy = ef_val_copy(body);
        msg = copy ? ef_msg_new_take(copy) : NULL;
        if (!msg) {
            ef_val_unref(copy);
        }
    } else {
        msg = ef_msg_new();
    }
    if (!msg) {
        return EF_ENOMEM;
    }
    inject_fire(n, msg);
    return 0;
}

/* Fires inject node n now, as the editor's button does (see inject.h). */
int inject__trigger(struct ef_node *n)
{
    return inject__trigger_body(n, NULL);
}
