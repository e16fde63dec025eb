/*
 * subflow.c - the two node types the engine creates for subflow instances:
 * the instance node, whose input forwards to the template's input wires, and
 * the status-port node, which turns messages into the instance's status as
 * Node-RED's subflow-status node does.
 */
#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "inspect.h"
#include "subflow.h"

static int cb_instance_input(struct ef_node *n, struct ef_msg *msg)
{
    if (ef_node_send(n, 0, msg) != 0) {
        ef_msg_free(msg);
    }
    return EF_INPUT_DONE;
}

static const struct ef_node_type instance_type = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "subflow",
    .description = "subflow instance",
    .inputs = 1,
    .outputs = 1,
    .flags = EF_TYPE_OPEN_PROPS,
    .cb_input = cb_instance_input,
};

const struct ef_node_type *subflow__instance_type(void)
{
    return &instance_type;
}

static bool looks_like_status(const struct ef_val *p)
{
    return ef_val_obj_get(p, "text") || ef_val_obj_get(p, "fill") || ef_val_obj_get(p, "shape") ||
           ef_val_obj_len(p) == 0;
}

static int cb_status_input(struct ef_node *n, struct ef_msg *msg)
{
    struct ef_node *inst = n->flow->instance;
    const struct ef_val *payload = ef_msg_get(msg, "payload");
    const struct ef_val *status = ef_msg_get(msg, "status");
    struct ef_val *st = NULL;
    if (payload) {
        if (ef_val_type(payload) == EF_STR) {
            st = ef_val_obj();
            ef_val_obj_set_take(st, "text", ef_val_ref((struct ef_val *)payload));
        } else if (ef_val_type(payload) == EF_OBJ && looks_like_status(payload)) {
            st = ef_val_ref((struct ef_val *)payload);
        } else {
            char *text = inspect__value(payload);
            if (text && strlen(text) > 32) {
                strcpy(text + 32, "...");
            }
            st = ef_val_obj();
            ef_val_obj_set_take(st, "text", ef_val_str(text ? text : ""));
            free(text);
        }
    } else if (ef_val_type(status) == EF_OBJ) {
        st = ef_val_ref((struct ef_val *)status);
    }
    if (st && inst) {
        node__set_status(inst, st);
    } else {
        ef_val_unref(st);
    }
    ef_msg_free(msg);
    return EF_INPUT_DONE;
}

static const struct ef_node_type status_type = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "subflow-status",
    .description = "subflow status port",
    .inputs = 1,
    .outputs = 0,
    .flags = EF_TYPE_OPEN_PROPS,
    .cb_input = cb_status_input,
};

struct ef_node *subflow__status_node(struct ef_flowset *fs, struct ef_scope *s)
{
    struct ef_node *n = calloc(1, sizeof(*n));
    if (!n || asprintf(&n->id, "%s:status", s->id) < 0) {
        free(n);
        return NULL;
    }
    n->type = &status_type;
    n->fs = fs;
    n->flow = s;
    n->config = ef_val_obj();
    n->started = true;
    if (fs->nnodes == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 64;
        struct ef_node **nodes = realloc(fs->nodes, cap * sizeof(*nodes));
        if (!nodes) {
            free(n->id);
            ef_val_unref(n->config);
            free(n);
            return NULL;
        }
        fs->nodes = nodes;
        fs->cap = cap;
    }
    n->slot = fs->nnodes;
    fs->nodes[fs->nnodes++] = n;
    idmap__put(fs->ids, n->id, n);
    return n;
}
