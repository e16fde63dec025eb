/*
 * tool.c - the ai tool node (declares one tool an ai agent may call; the
 * call leaves the node as a message carrying the arguments) and the
 * ai tool result node (hands the flow's answer back to the agent that is
 * waiting for it, found by msg.toolCall.agent and msg.toolCall.id).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai.h"
#include "schema.h"

/* ---- ai tool ---- */

struct ai_tool {
    const char *tool_name;
    const char *description;
    const struct ef_val *parameters; /* borrowed from the config */
    double timeout;
    struct ef_val *schema; /* owned: the parsed or referenced schema */
    struct ai_tool_conf conf;
    bool ready;
};

static const struct ef_prop tool_props[] = {
    {EF_PROP_STR, "toolName", NULL, true,
     "the tool's name as the model sees it (letters, digits, _ and -, at most 64)",
     offsetof(struct ai_tool, tool_name)},
    {EF_PROP_STR, "description", "\"\"", false, "what the tool does, for the model",
     offsetof(struct ai_tool, description)},
    {EF_PROP_ANY, "parameters", "{\"type\":\"object\",\"properties\":{}}", false,
     "JSON Schema of the arguments (object or JSON text); checked before the flow sees them",
     offsetof(struct ai_tool, parameters)},
    {EF_PROP_NUM, "timeout", "30", false,
     "seconds the agent waits for the ai tool result before telling the model the call failed",
     offsetof(struct ai_tool, timeout)},
    {EF_PROP_END},
};

static bool tool_name_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 64) {
        return false;
    }
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-')) {
            return false;
        }
    }
    return true;
}

static int cb_tool_init(struct ef_node *n, const struct ef_val *config)
{
    struct ai_tool *t = ef_node_priv(n);
    (void)config;
    if (!tool_name_ok(t->tool_name)) {
        ef_node_error(n, NULL,
                      "toolName '%s' must be 1 to 64 letters, digits, underscores or dashes",
                      t->tool_name);
        return EF_EINVAL;
    }
    if (!(t->timeout > 0) || t->timeout > 86400) {
        ef_node_error(n, NULL, "timeout must be between 0 and 86400 seconds, got %g", t->timeout);
        return EF_EINVAL;
    }
    char err[512];
    if (ef_val_type(t->parameters) == EF_STR) {
        t->schema = ef_json_parse(ef_val_str_get(t->parameters), ef_val_str_len(t->parameters), err,
                                  sizeof(err));
        if (!t->schema) {
            ef_node_error(n, NULL, "parameters is not valid JSON: %s", err);
            return EF_EINVAL;
        }
    } else {
        t->schema = ef_val_ref((struct ef_val *)t->parameters);
    }
    char unsupported[512];
    if (schema__check(t->schema, err, sizeof(err), unsupported, sizeof(unsupported)) != 0) {
        ef_node_error(n, NULL, "parameters: %s", err);
        return EF_EINVAL;
    }
    const struct ef_val *type = ef_val_obj_get(t->schema, "type");
    if (type && (ef_val_type(type) != EF_STR || strcmp(ef_val_str_get(type), "object") != 0)) {
        ef_node_error(n, NULL, "parameters: the arguments schema must have type \"object\"");
        return EF_EINVAL;
    }
    if (unsupported[0]) {
        ef_node_warn(n, "parameters: keywords not checked: %s", unsupported);
    }
    t->conf = (struct ai_tool_conf){
        .name = t->tool_name,
        .description = t->description,
        .parameters = t->schema,
        .timeout_ms = t->timeout * 1000,
    };
    t->ready = true;
    return 0;
}

static void cb_tool_close(struct ef_node *n)
{
    struct ai_tool *t = ef_node_priv(n);
    t->ready = false;
    ef_val_unref(t->schema);
    t->schema = NULL;
}

const struct ai_tool_conf *ai__tool_conf(struct ef_node *n)
{
    if (!n || ef_node_type_of(n) != &ai__tool_type) {
        return NULL;
    }
    struct ai_tool *t = ef_node_priv(n);
    return t->ready ? &t->conf : NULL;
}

const struct ef_node_type ai__tool_type = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "ai tool",
    .description = "A tool an ai agent may call: the call leaves as msg.payload (the arguments) "
                   "and msg.toolCall; answer it with an ai tool result node",
    .category = "ai",
    .inputs = 0,
    .outputs = 1,
    .props = tool_props,
    .priv_size = sizeof(struct ai_tool),
    .cb_init = cb_tool_init,
    .cb_close = cb_tool_close,
};

/* ---- ai tool result ---- */

/* The text of msg.error when a catch node (or the flow) marked the call failed; else NULL. */
static const char *error_text(const struct ef_msg *msg, char *buf, size_t len)
{
    const struct ef_val *e = ef_msg_get(msg, "error");
    if (!e || !ef_val_truthy(e)) {
        return NULL;
    }
    const struct ef_val *m = ef_val_type(e) == EF_OBJ ? ef_val_obj_get(e, "message") : e;
    if (ef_val_type(m) == EF_STR) {
        snprintf(buf, len, "%s", ef_val_str_get(m));
    } else {
        char *j = ef_json_print(m ? m : e, 0, NULL);
        snprintf(buf, len, "%s", j ? j : "error");
        free(j);
    }
    return buf;
}

static int cb_result_input(struct ef_node *n, struct ef_msg *msg)
{
    const struct ef_val *tc = ef_msg_get(msg, "toolCall");
    const struct ef_val *id = ef_val_obj_get(tc, "id");
    const struct ef_val *agent = ef_val_obj_get(tc, "agent");
    if (ef_val_type(id) != EF_STR || ef_val_type(agent) != EF_STR) {
        ef_node_error(n, msg,
                      "msg.toolCall.id and msg.toolCall.agent are missing: this message did not "
                      "come from an ai tool node");
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    struct ef_node *a = ef_node_lookup(n, ef_val_str_get(agent));
    if (!a || ef_node_type_of(a) != &ai__agent_type) {
        ef_node_error(n, msg, "msg.toolCall.agent '%s' is not an ai agent node",
                      ef_val_str_get(agent));
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    char ebuf[1024];
    const char *err = error_text(msg, ebuf, sizeof(ebuf));
    if (ai__agent_tool_result(a, ef_val_str_get(id), ef_msg_get(msg, "payload"), err) != 0) {
        ef_node_warn(n, "no ai agent is waiting for tool call %s (it timed out or was redeployed)",
                     ef_val_str_get(id));
    }
    ef_msg_free(msg);
    return EF_INPUT_DONE;
}

const struct ef_node_type ai__tool_result_type = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "ai tool result",
    .description = "Returns msg.payload as the result of the tool call in msg.toolCall to the "
                   "waiting ai agent (msg.error marks the call failed)",
    .category = "ai",
    .inputs = 1,
    .outputs = 0,
    .props = NULL,
    .priv_size = 0,
    .cb_input = cb_result_input,
};
