/*
 * good_plugin.c - a well-behaved test plugin: negotiates ABI 1 and registers
 * "test-upper", which upper-cases a string msg.payload and counts messages in
 * node context (exercising the SDK: messages, values, context, status).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <edgeflow/edgeflow.h>

static int cb_upper_input(struct ef_node *n, struct ef_msg *msg)
{
    const struct ef_val *p = ef_msg_get(msg, "payload");
    if (ef_val_type(p) != EF_STR) {
        ef_node_error(n, msg, "payload is not a string");
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    char *s = strdup(ef_val_str_get(p));
    for (char *c = s; c && *c; c++) {
        *c = (char)toupper((unsigned char)*c);
    }
    ef_msg_set_take(msg, "payload", ef_val_str_take(s, strlen(s)));
    struct ef_val *count = ef_ctx_get(n, EF_CTX_NODE, NULL, "count");
    double c = ef_val_num_get(count) + 1;
    ef_val_unref(count);
    ef_ctx_set_take(n, EF_CTX_NODE, NULL, "count", ef_val_num(c));
    ef_msg_set_take(msg, "count", ef_val_num(c));
    ef_node_send(n, 0, msg);
    return EF_INPUT_DONE;
}

static const struct ef_node_type upper_type = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "test-upper",
    .description = "Upper-cases msg.payload (test plugin)",
    .category = "test",
    .inputs = 1,
    .outputs = 1,
    .cb_input = cb_upper_input,
};

int ef_plugin_version(int n, const int *supported)
{
    for (int i = 0; i < n; i++) {
        if (supported[i] == EF_ABI_VERSION) {
            return EF_ABI_VERSION;
        }
    }
    return -1;
}

int ef_plugin_init(struct ef_plugin *p)
{
    return ef_register_type(p, &upper_type);
}
