/*
 * ai.h - what the files of the AI agent plugin share: the four node types
 * (ai-model, ai agent, ai tool, ai tool result) and the calls between them.
 * Nodes find each other by id with ef_node_lookup at the moment they need
 * each other, and check the type they found, so no node keeps a pointer to
 * another node that a partial deploy may have replaced.
 */
#ifndef EF_AI_H
#define EF_AI_H

#include <edgeflow/edgeflow.h>

extern const struct ef_node_type ai__model_type;
extern const struct ef_node_type ai__agent_type;
extern const struct ef_node_type ai__tool_type;
extern const struct ef_node_type ai__tool_result_type;

/* ---- ai-model (model.c) ---- */

/* What an ai-model config node says about its endpoint (borrowed from the node). */
struct ai_model_conf {
    const char *url;       /* {baseURL}/chat/completions */
    const char *model;     /* the "model" member of each request */
    const char *label;     /* name for logs and msg.agent.model: the node's name or model */
    const char *auth_name; /* header carrying the key: "Authorization" (Bearer) or another */
    const char *api_key;   /* from the credentials; NULL when none */
    double timeout_ms;
    double max_tokens;  /* 0: not sent */
    double temperature; /* NAN: not sent */
    bool has_temperature;
};

/* The configuration of ai-model node m, or NULL if m is not one (or failed init). */
const struct ai_model_conf *ai__model_conf(struct ef_node *m);

/* ---- ai tool (tool.c) ---- */

/* A tool as the agent sees it: borrowed from the ai tool node. */
struct ai_tool_conf {
    const char *name;
    const char *description;
    const struct ef_val *parameters; /* checked JSON Schema object */
    double timeout_ms;
};

/* The declaration of ai tool node t, or NULL if t is not one (or failed init). */
const struct ai_tool_conf *ai__tool_conf(struct ef_node *t);

/* ---- ai agent (agent.c) ---- */

/*
 * Hands the result of tool call `call_id` to agent node a: `result` is
 * borrowed (a string goes to the model as is, anything else as JSON);
 * `error` (may be NULL) marks the call failed with that text. Returns 0, or
 * EF_ENOENT when a is not waiting for that call (it timed out, the agent
 * was redeployed, or the id is wrong).
 */
int ai__agent_tool_result(struct ef_node *a, const char *call_id, const struct ef_val *result,
                          const char *error);

#endif
