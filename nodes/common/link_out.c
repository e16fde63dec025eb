/*
 * link_out.c - the link out node. In "link" mode it sends to every link in
 * node it is connected to (the engine turns `links` into wires, as Node-RED
 * does); in "return" mode it hands the message back to the link call node
 * recorded on top of msg._linkSource.
 */
#include <string.h>

#include "link.h"

struct link_out {
    const char *mode;
};

static const struct ef_prop link_out_props[] = {
    {EF_PROP_STR, "mode", "\"link\"", false,
     "link: send to the linked link in nodes; return: "
     "return to the calling link call node",
     offsetof(struct link_out, mode)},
    {EF_PROP_ANY, "links", "[]", false, "ids of the link in nodes to send to", EF_PROP_NOFIELD},
    {EF_PROP_END},
};

static int cb_link_out_input(struct ef_node *n, struct ef_msg *msg)
{
    struct link_out *lo = ef_node_priv(n);
    ef_msg_set_take(msg, "_event", ef_val_strf("node:%s", ef_node_id(n)));
    if (strcmp(lo->mode, "return") != 0) {
        if (ef_node_send(n, 0, msg) != 0) {
            ef_msg_free(msg);
        }
        return EF_INPUT_DONE;
    }
    const struct ef_val *src = ef_msg_get(msg, "_linkSource");
    size_t len = ef_val_arr_len(src);
    if (ef_val_type(src) != EF_ARR || len == 0) {
        ef_node_warn(n, "Missing return node information");
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    struct ef_val **slot = ef_msg_slot(msg);
    struct ef_val *root = ef_msg_mut(msg);
    struct ef_val **arrslot = root ? ef_val_obj_slot(root, "_linkSource", 11) : NULL;
    struct ef_val *arr = arrslot ? ef_val_mut(arrslot) : NULL;
    (void)slot;
    if (!arr) {
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    struct ef_val *event = ef_val_ref(ef_val_arr_at(arr, len - 1));
    ef_val_arr_remove(arr, len - 1);
    const char *call_id = ef_val_str_get(ef_val_obj_get(event, "node"));
    const char *event_id = ef_val_str_get(ef_val_obj_get(event, "id"));
    struct ef_node *call = ef_node_lookup(n, call_id);
    if (!call || link_call__return(call, event_id, msg) != 0) {
        ef_node_warn(n, "Missing return node information");
        ef_msg_free(msg);
    }
    ef_val_unref(event);
    return EF_INPUT_DONE;
}

const struct ef_node_type ef_type_link_out = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "link out",
    .description = "Sends messages to link in nodes, or back to a link call",
    .category = "common",
    .inputs = 1,
    .outputs = 0,
    .props = link_out_props,
    .priv_size = sizeof(struct link_out),
    .cb_input = cb_link_out_input,
};
