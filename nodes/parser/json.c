/*
 * json.c - the json node (Node-RED 70-JSON.js): converts a property between
 * a JSON string (or Buffer) and a value, in either direction or always to
 * one form (action "", "obj", "str"), optionally pretty-printed with four
 * spaces. Parse errors carry V8's JSON.parse text. JSON Schema validation
 * (msg.schema) is not implemented: the message passes unvalidated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <edgeflow/edgeflow.h>

#include "../sequence/lib/seq.h"

struct json {
    struct seq_prop prop;
    const char *action;
    bool pretty;
};

static const struct ef_prop json_props[] = {
    {EF_PROP_STR, "property", "\"payload\"", false, "the property to convert", EF_PROP_NOFIELD},
    {EF_PROP_STR, "action", "\"\"", false, "\"\" (convert both ways), obj or str",
     offsetof(struct json, action)},
    {EF_PROP_ANY, "pretty", NULL, false, "indent JSON output", EF_PROP_NOFIELD},
    {EF_PROP_END},
};

static int json_init(struct ef_node *n, const struct ef_val *config)
{
    struct json *j = ef_node_priv(n);
    char err[256];
    const char *prop = ef_val_str_get(ef_val_obj_get(config, "property"));
    if (seq__prop_init(&j->prop, *prop ? prop : "payload", err, sizeof(err)) != 0) {
        ef_node_error(n, NULL, "%s", err);
        return EF_EINVAL;
    }
    j->pretty = ef_val_truthy(ef_val_obj_get(config, "pretty"));
    return 0;
}

static void json_close(struct ef_node *n)
{
    struct json *j = ef_node_priv(n);
    seq__prop_free(&j->prop);
}

static int json_input(struct ef_node *n, struct ef_msg *msg)
{
    struct json *j = ef_node_priv(n);
    char perr[200];
    if (seq__prop_check(&j->prop, msg, perr, sizeof(perr)) != 0) {
        ef_node_error(n, msg, "%s", perr);
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    const struct ef_val *value = seq__prop_get(&j->prop, msg);
    if (value) {
        enum ef_type t = ef_val_type(value);
        bool to_obj = !*j->action || !strcmp(j->action, "obj");
        bool to_str = !*j->action || !strcmp(j->action, "str");
        if (t == EF_STR || t == EF_BUF) {
            if (to_obj) {
                char err[256];
                const char *text =
                    t == EF_STR ? ef_val_str_get(value) : (const char *)ef_val_buf_data(value);
                size_t len = t == EF_STR ? ef_val_str_len(value) : ef_val_buf_len(value);
                struct ef_val *v = ef_json_parse(text, len, err, sizeof(err));
                if (!v) {
                    ef_node_error(n, msg, "%s", err);
                    ef_msg_free(msg);
                    return EF_INPUT_DONE;
                }
                seq__prop_set(&j->prop, msg, v);
            }
        } else if (t == EF_OBJ || t == EF_ARR || t == EF_NULL || t == EF_BOOL || t == EF_NUM ||
                   t == EF_HANDLE) {
            if (to_str) {
                size_t len;
                char *text = ef_json_print(value, j->pretty ? EF_JSON_PRETTY : 0, &len);
                if (!text) {
                    ef_node_error(n, msg, "Failed to convert payload");
                    ef_msg_free(msg);
                    return EF_INPUT_DONE;
                }
                seq__prop_set(&j->prop, msg, ef_val_str_take(text, len));
            }
        } else {
            ef_node_warn(n, "Ignored unsupported payload type");
            ef_msg_free(msg);
            return EF_INPUT_DONE;
        }
    }
    if (ef_node_send(n, 0, msg) != 0) {
        ef_msg_free(msg);
    }
    return EF_INPUT_DONE;
}

const struct ef_node_type ef_type_json = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "json",
    .description = "converts between a JSON string and an object",
    .category = "parser",
    .inputs = 1,
    .outputs = 1,
    .props = json_props,
    .priv_size = sizeof(struct json),
    .cb_init = json_init,
    .cb_input = json_input,
    .cb_close = json_close,
};
