/*
 * link_call.c - the link call node: sends a message to a link in node
 * (fixed, or chosen per message by id or name from msg.target) and waits
 * for a link out in return mode to send it back, then passes it on. Calls
 * that do not return within `timeout` seconds become a "timeout" error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "link.h"

struct call_event {
    char id[29];
    struct ef_msg *orig; /* the message as sent, for the timeout error */
    struct ef_timer *timer;
    struct call_event *next;
};

struct link_call {
    const char *link_type;
    const struct ef_val *links;
    double timeout_s;
    struct call_event *events;
};

static const struct ef_prop link_call_props[] = {
    {EF_PROP_STR, "linkType", "\"static\"", false,
     "static: the target in links; dynamic: msg.target", offsetof(struct link_call, link_type)},
    {EF_PROP_ANY, "links", "[]", false, "the id of the target link in node",
     offsetof(struct link_call, links)},
    {EF_PROP_ANY, "timeout", "\"30\"", false, "seconds to wait for the return", EF_PROP_NOFIELD},
    {EF_PROP_END},
};

static int cb_link_call_init(struct ef_node *n, const struct ef_val *config)
{
    struct link_call *lc = ef_node_priv(n);
    const struct ef_val *t = ef_val_obj_get(config, "timeout");
    double secs = ef_val_type(t) == EF_NUM ? ef_val_num_get(t) : strtod(ef_val_str_get(t), NULL);
    if (ef_val_type(t) == EF_STR && !*ef_val_str_get(t)) {
        secs = 30;
    }
    lc->timeout_s = secs > 0 ? secs : (secs == 0 ? 0 : 30);
    return 0;
}

static bool is_link_in(const struct ef_node *t)
{
    return t && !strcmp(t->type->name, "link in");
}

static const char *link_name(const struct ef_node *t)
{
    return t->name && *t->name ? t->name : t->id;
}

/* Finds the target link in node, or writes Node-RED's error text to err. */
static struct ef_node *find_target(struct ef_node *n, const struct ef_msg *msg, char *err,
                                   size_t errlen)
{
    struct link_call *lc = ef_node_priv(n);
    bool dynamic = !strcmp(lc->link_type, "dynamic");
    const char *target;
    if (dynamic) {
        target = ef_val_str_get(ef_msg_get(msg, "target"));
    } else {
        target = ef_val_type(lc->links) == EF_STR ? ef_val_str_get(lc->links)
                                                  : ef_val_str_get(ef_val_arr_at(lc->links, 0));
    }
    struct ef_node *found = *target ? ef_node_lookup(n, target) : NULL;
    if (found && !is_link_in(found)) {
        found = NULL;
    }
    if (!found && dynamic && *target) {
        struct ef_flowset *fs = n->fs;
        struct ef_node *same_flow = NULL, *only = NULL;
        size_t same_count = 0, count = 0;
        for (size_t i = 0; i < fs->nnodes; i++) {
            struct ef_node *t = fs->nodes[i];
            if (!t || !is_link_in(t) || strcmp(link_name(t), target) != 0) {
                continue;
            }
            if (t->flow == n->flow) {
                same_flow = t;
                same_count++;
            }
            if (t->flow->kind != SCOPE_SUBFLOW) {
                only = t;
                count++;
            }
        }
        if (same_count == 1) {
            found = same_flow;
        } else if (count == 1) {
            found = only;
        } else if (count > 1) {
            snprintf(err, errlen, "Error: Multiple link-in nodes named '%s' found", target);
            return NULL;
        }
    }
    if (!found) {
        /* Node-RED throws an Error here, so the message reads "Error: ..." */
        snprintf(err, errlen, "Error: target link-in node '%s' not found", target);
    }
    return found;
}

static void on_call_timeout(struct ef_node *n, void *arg)
{
    struct link_call *lc = ef_node_priv(n);
    struct call_event *ev = arg;
    for (struct call_event **pp = &lc->events; *pp; pp = &(*pp)->next) {
        if (*pp == ev) {
            *pp = ev->next;
            break;
        }
    }
    ef_node_error(n, ev->orig, "timeout");
    ef_msg_free(ev->orig);
    ef_timer_free(ev->timer);
    free(ev);
}

static int cb_link_call_input(struct ef_node *n, struct ef_msg *msg)
{
    struct link_call *lc = ef_node_priv(n);
    char err[300];
    struct ef_node *target = find_target(n, msg, err, sizeof(err));
    if (!target) {
        ef_node_error(n, msg, "%s", err);
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    struct call_event *ev = calloc(1, sizeof(*ev));
    if (!ev) {
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    char a[17], b[17];
    ef_id_new(a);
    ef_id_new(b);
    snprintf(ev->id, sizeof(ev->id), "%s%.12s", a, b);
    if (!ef_msg_get(msg, "_linkSource")) {
        ef_msg_set_take(msg, "_linkSource", ef_val_arr());
    }
    ev->orig = ef_msg_clone(msg);
    struct ef_val *event = ef_val_obj();
    ef_val_obj_set_take(event, "id", ef_val_str(ev->id));
    ef_val_obj_set_take(event, "node", ef_val_str(ef_node_id(n)));
    struct ef_val *root = ef_msg_mut(msg);
    struct ef_val **arrslot = ef_val_obj_slot(root, "_linkSource", 11);
    struct ef_val *arr = arrslot ? ef_val_mut(arrslot) : NULL;
    if (!arr || ef_val_type(arr) != EF_ARR || ef_val_arr_push_take(arr, event) != 0) {
        ef_node_error(n, msg, "msg._linkSource is not an array");
        ef_val_unref(event);
        ef_msg_free(ev->orig);
        free(ev);
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    ev->timer = ef_timer_new(n, on_call_timeout, ev);
    if (ev->timer) {
        ef_timer_start(ev->timer, (uint64_t)(lc->timeout_s * 1000), 0);
    }
    ev->next = lc->events;
    lc->events = ev;
    node__deliver(target, msg); /* Node-RED calls the link in's receive() directly */
    return EF_INPUT_ASYNC;
}

int link_call__return(struct ef_node *call, const char *event_id, struct ef_msg *msg)
{
    if (strcmp(call->type->name, "link call") != 0) {
        return EF_ENOENT;
    }
    struct link_call *lc = ef_node_priv(call);
    const struct ef_val *src = ef_msg_get(msg, "_linkSource");
    if (ef_val_type(src) == EF_ARR && ef_val_arr_len(src) == 0) {
        ef_msg_delete(msg, "_linkSource");
    }
    for (struct call_event **pp = &lc->events; *pp; pp = &(*pp)->next) {
        struct call_event *ev = *pp;
        if (!strcmp(ev->id, event_id)) {
            *pp = ev->next;
            ef_timer_free(ev->timer);
            ef_msg_free(ev->orig);
            free(ev);
            ef_node_done(call, msg);
            break;
        }
    }
    if (ef_node_send(call, 0, msg) != 0) {
        ef_msg_free(msg);
    }
    return 0;
}

static void cb_link_call_close(struct ef_node *n)
{
    struct link_call *lc = ef_node_priv(n);
    while (lc->events) {
        struct call_event *ev = lc->events;
        lc->events = ev->next;
        ef_msg_free(ev->orig);
        free(ev); /* its timer is freed with the node */
    }
}

const struct ef_node_type ef_type_link_call = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "link call",
    .description = "Calls a link in flow and waits for its link out (return) reply",
    .category = "common",
    .inputs = 1,
    .outputs = 1,
    .props = link_call_props,
    .priv_size = sizeof(struct link_call),
    .cb_init = cb_link_call_init,
    .cb_input = cb_link_call_input,
    .cb_close = cb_link_call_close,
};
