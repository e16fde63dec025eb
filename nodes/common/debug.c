/*
 * debug.c - the debug node: shows msg.payload, another property, the whole
 * message or a JSONata result in the debug output (the editor's sidebar,
 * and stdout with --debug-stdout), optionally on the console and as the
 * node's status (auto, a property, JSONata, or a counter).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "inspect.h"
#include "runtime.h"
#include "typed.h"

#include "debug.h"

#define STATUS_LEN 32

struct debug {
    const char *complete;    /* "payload", "true", a property path, or a JSONata expression */
    const char *target_type; /* "msg", "full" or "jsonata" */
    bool active, console, tostatus, tosidebar;
    const char *status_type; /* auto, msg, jsonata, counter */
    const char *status_val;
    char *old_state;
    double counter;
    uint64_t last_time;
    struct ef_timer *counter_timer;
};

static const struct ef_prop debug_props[] = {
    {EF_PROP_ANY, "complete", "\"false\"", false,
     "what to show: \"false\" (msg.payload), \"true\" (whole message), a property or expression",
     EF_PROP_NOFIELD},
    {EF_PROP_STR, "targetType", "\"msg\"", false, "msg, full or jsonata",
     offsetof(struct debug, target_type)},
    {EF_PROP_BOOL, "active", "true", false, "whether output is enabled",
     offsetof(struct debug, active)},
    {EF_PROP_ANY, "console", "false", false, "also log to the console", EF_PROP_NOFIELD},
    {EF_PROP_BOOL, "tosidebar", "true", false, "send to the debug sidebar / --debug-stdout",
     offsetof(struct debug, tosidebar)},
    {EF_PROP_BOOL, "tostatus", "false", false, "show the value as node status",
     offsetof(struct debug, tostatus)},
    {EF_PROP_STR, "statusType", "\"auto\"", false, "auto, msg, jsonata or counter",
     offsetof(struct debug, status_type)},
    {EF_PROP_STR, "statusVal", "\"\"", false, "property or expression for the status",
     offsetof(struct debug, status_val)},
    {EF_PROP_END},
};

static void counter_status(struct ef_node *n)
{
    struct debug *d = ef_node_priv(n);
    char text[32];
    ef_num_format(d->counter, text);
    ef_node_status(n, "blue", "ring", text);
}

static void on_counter_timer(struct ef_node *n, void *arg)
{
    (void)arg;
    counter_status(n);
}

static int cb_debug_init(struct ef_node *n, const struct ef_val *config)
{
    struct debug *d = ef_node_priv(n);
    const struct ef_val *c = ef_val_obj_get(config, "complete");
    const struct ef_val *con = ef_val_obj_get(config, "console");
    d->console =
        ef_val_type(con) == EF_BOOL ? ef_val_bool_get(con) : !strcmp(ef_val_str_get(con), "true");
    if (!strcmp(d->target_type, "jsonata")) {
        d->complete = ef_val_str_get(c);
    } else {
        d->complete =
            ef_val_type(c) == EF_BOOL ? (ef_val_bool_get(c) ? "true" : "false") : ef_val_str_get(c);
        if (!*d->complete || !strcmp(d->complete, "false")) {
            d->complete = "payload";
        }
    }
    if (!*d->status_val) {
        d->status_val = d->complete;
    }
    d->last_time = ef_mono_ms();
    if (!strcmp(d->status_type, "counter")) {
        counter_status(n);
    }
    return 0;
}

/* The value the debug node shows for msg (new ref, NULL = undefined). */
static int debug_value(struct ef_node *n, const struct ef_msg *msg, const char *what, bool jsonata,
                       struct ef_val **out)
{
    char err[256];
    if (jsonata) {
        int rc = typed__jsonata(n, what, msg, out, err, sizeof(err));
        if (rc != 0) {
            ef_node_error(n, NULL, "Invalid JSONata expression: %s", what);
        }
        return rc;
    }
    if (!strcmp(what, "true")) {
        *out = ef_val_ref((struct ef_val *)ef_msg_root(msg));
        return 0;
    }
    struct ef_path *p = ef_path_parse(!strncmp(what, "msg.", 4) ? what + 4 : what, NULL, 0);
    *out = p ? ef_val_ref(ef_path_get(ef_msg_root(msg), p, ef_msg_root(msg))) : NULL;
    ef_path_free(p);
    return 0;
}

/* Status text: a string as it is, anything else as util.inspect shows it. */
static char *inspect(const struct ef_val *v)
{
    if (ef_val_type(v) == EF_STR) {
        return strdup(ef_val_str_get(v));
    }
    return inspect__value(v);
}

static void update_status(struct ef_node *n, const struct ef_msg *msg)
{
    struct debug *d = ef_node_priv(n);
    if (!strcmp(d->status_type, "counter")) {
        uint64_t now = ef_mono_ms();
        uint64_t diff = now - d->last_time;
        d->last_time = now;
        d->counter++;
        if (diff > 100) {
            counter_status(n);
        } else {
            if (!d->counter_timer) {
                d->counter_timer = ef_timer_new(n, on_counter_timer, NULL);
            }
            ef_timer_start(d->counter_timer, 200, 0);
        }
        return;
    }
    struct ef_val *out = NULL;
    bool is_auto = !strcmp(d->status_type, "auto");
    if (is_auto && !strcmp(d->complete, "true")) {
        out = ef_val_ref(ef_msg_get(msg, "payload"));
    } else if (is_auto) {
        if (debug_value(n, msg, d->complete, !strcmp(d->target_type, "jsonata"), &out) != 0) {
            return;
        }
    } else if (debug_value(n, msg, d->status_val, !strcmp(d->status_type, "jsonata"), &out) != 0) {
        return;
    }
    char *text = inspect(out);
    const char *fill = "grey", *shape = "dot";
    if (ef_val_type(out) == EF_OBJ && ef_val_truthy(ef_val_obj_get(out, "fill")) &&
        ef_val_truthy(ef_val_obj_get(out, "shape")) && ef_val_truthy(ef_val_obj_get(out, "text"))) {
        fill = ef_val_str_get(ef_val_obj_get(out, "fill"));
        shape = ef_val_str_get(ef_val_obj_get(out, "shape"));
        free(text);
        text = inspect(ef_val_obj_get(out, "text"));
    }
    if (is_auto) {
        const struct ef_val *e = ef_msg_get(msg, "error");
        const struct ef_val *s = ef_msg_get(msg, "status");
        if (e) {
            fill = "red";
            free(text);
            text = inspect(ef_val_obj_get(e, "message"));
        }
        if (s) {
            const struct ef_val *f = ef_val_obj_get(s, "fill");
            const struct ef_val *sh = ef_val_obj_get(s, "shape");
            const struct ef_val *t = ef_val_obj_get(s, "text");
            fill = ef_val_truthy(f) ? ef_val_str_get(f) : "grey";
            shape = ef_val_truthy(sh) ? ef_val_str_get(sh) : "ring";
            free(text);
            text = ef_val_truthy(t) ? inspect(t) : strdup("");
        }
    }
    if (text && strlen(text) > STATUS_LEN) {
        strcpy(text + STATUS_LEN, "...");
    }
    char state[512];
    snprintf(state, sizeof(state), "%s\x1f%s\x1f%s", fill, shape, text ? text : "");
    if (!d->old_state || strcmp(state, d->old_state) != 0) {
        ef_node_status(n, fill, shape, text ? text : "");
        free(d->old_state);
        d->old_state = strdup(state);
    }
    free(text);
    ef_val_unref(out);
}

/* What the console shows: as Node-RED's debug node logs it. */
static void log_console(struct ef_node *n, const struct ef_val *out, bool whole)
{
    enum ef_type t = ef_val_type(out);
    char *text;
    if (!whole && t == EF_STR) {
        const char *s = ef_val_str_get(out);
        ef_node_log(n, "%s%s", strchr(s, '\n') ? "\n" : "", s);
        return;
    }
    bool object = out && (whole || t == EF_NULL || t == EF_ARR || t == EF_OBJ || t == EF_BUF);
    text = inspect__depth(out, object ? 10 : 2);
    ef_node_log(n, "%s%s", object ? "\n" : "", text ? text : "");
    free(text);
}

static int cb_debug_input(struct ef_node *n, struct ef_msg *msg)
{
    struct debug *d = ef_node_priv(n);
    const char *src_id = ef_val_str_get(ef_msg_get(msg, "status.source.id"));
    if (!strcmp(src_id, ef_node_id(n))) {
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    if (d->tostatus) {
        update_status(n, msg);
    }
    bool jsonata = !strcmp(d->target_type, "jsonata");
    struct ef_val *out = NULL;
    if (debug_value(n, msg, d->complete, jsonata, &out) == 0) {
        if (d->console) {
            log_console(n, out, !strcmp(d->complete, "true"));
        }
        if (d->active && d->tosidebar) {
            struct ef_debug_event ev = {
                n, out, msg, jsonata || !strcmp(d->complete, "true") ? NULL : d->complete};
            runtime__emit_debug(n->fs->rt, &ev);
        }
    }
    ef_val_unref(out);
    ef_msg_free(msg);
    return EF_INPUT_DONE;
}

static void cb_debug_close(struct ef_node *n)
{
    struct debug *d = ef_node_priv(n);
    free(d->old_state);
}

int debug__set_active(struct ef_node *n, bool active)
{
    if (strcmp(ef_node_type_name(n), "debug") != 0) {
        return EF_ETYPE;
    }
    struct debug *d = ef_node_priv(n);
    d->active = active;
    return 0;
}

const struct ef_node_type ef_type_debug = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "debug",
    .description = "Shows messages in the debug output, the console or the node status",
    .category = "common",
    .inputs = 1,
    .outputs = 0,
    .props = debug_props,
    .flags = EF_TYPE_NAME_ALWAYS,
    .priv_size = sizeof(struct debug),
    .cb_init = cb_debug_init,
    .cb_input = cb_debug_input,
    .cb_close = cb_debug_close,
};
