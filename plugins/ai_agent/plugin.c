/*
 * plugin.c - the AI agent plugin (ai_agent.so): registers ai-model,
 * ai agent, ai tool and ai tool result. Built against the public SDK only
 * and loaded by default from <build>/plugins (docs/ai-agent.md).
 */
#include "ai.h"

EF_PLUGIN_VERSION_CURRENT

int ef_plugin_init(struct ef_plugin *p)
{
    const struct ef_node_type *types[] = {&ai__model_type, &ai__agent_type, &ai__tool_type,
                                          &ai__tool_result_type};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        int rc = ef_register_type(p, types[i]);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}
