/*
 * model.c - the ai-model config node: one OpenAI-compatible chat-completions
 * endpoint (Ollama, llama.cpp server, vLLM, LM Studio, OpenAI, Azure, ...).
 * It holds the settings; the ai agent nodes that use it make the requests
 * (POST {baseURL}/chat/completions) with the runtime's HTTP client.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai.h"

struct ai_model {
    const char *base_url;
    const char *model;
    double timeout;
    int64_t max_tokens;
    const struct ef_val *temperature;
    const char *api_key_header;
    struct ai_model_conf conf;
    char *url; /* owned */
    bool ready;
};

static const struct ef_prop model_props[] = {
    {EF_PROP_STR, "baseURL", NULL, true,
     "the API's base URL, e.g. http://127.0.0.1:11434/v1 (requests go to "
     "{baseURL}/chat/completions)",
     offsetof(struct ai_model, base_url)},
    {EF_PROP_STR, "model", NULL, true, "model name sent with each request (e.g. llama3.2:3b)",
     offsetof(struct ai_model, model)},
    {EF_PROP_NUM, "timeout", "60", false, "seconds a request may take before it fails",
     offsetof(struct ai_model, timeout)},
    {EF_PROP_INT, "maxTokens", "0", false, "max_tokens of each request (0: not sent)",
     offsetof(struct ai_model, max_tokens)},
    {EF_PROP_ANY, "temperature", "\"\"", false, "sampling temperature 0..2 (empty: not sent)",
     offsetof(struct ai_model, temperature)},
    {EF_PROP_STR, "apiKeyHeader", "\"Authorization\"", false,
     "header carrying credentials.apiKey: Authorization sends \"Bearer <key>\", any other "
     "name (Azure: api-key) the key itself",
     offsetof(struct ai_model, api_key_header)},
    {EF_PROP_END},
};

static bool header_name_ok(const char *s)
{
    if (!*s) {
        return false;
    }
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_')) {
            return false;
        }
    }
    return true;
}

static int cb_model_init(struct ef_node *n, const struct ef_val *config)
{
    struct ai_model *m = ef_node_priv(n);
    (void)config;
    size_t blen = strlen(m->base_url);
    if (strncmp(m->base_url, "http://", 7) != 0 && strncmp(m->base_url, "https://", 8) != 0) {
        ef_node_error(n, NULL, "baseURL must start with http:// or https://, got '%s'",
                      m->base_url);
        return EF_EINVAL;
    }
    if (!*m->model) {
        ef_node_error(n, NULL, "model must name the model to use");
        return EF_EINVAL;
    }
    if (!(m->timeout > 0) || m->timeout > 86400) {
        ef_node_error(n, NULL, "timeout must be between 0 and 86400 seconds, got %g", m->timeout);
        return EF_EINVAL;
    }
    if (m->max_tokens < 0) {
        ef_node_error(n, NULL, "maxTokens must not be negative");
        return EF_EINVAL;
    }
    if (!header_name_ok(m->api_key_header)) {
        ef_node_error(n, NULL, "apiKeyHeader '%s' is not a header name", m->api_key_header);
        return EF_EINVAL;
    }
    double temp = NAN;
    bool has_temp = false;
    if (ef_val_type(m->temperature) == EF_NUM ||
        (ef_val_type(m->temperature) == EF_STR && ef_val_str_len(m->temperature) > 0)) {
        double t = ef_val_num_get(m->temperature);
        if (ef_val_type(m->temperature) == EF_STR) {
            char *end;
            t = strtod(ef_val_str_get(m->temperature), &end);
            if (*end) {
                t = NAN;
            }
        }
        if (!(t >= 0 && t <= 2)) {
            ef_node_error(n, NULL, "temperature must be a number from 0 to 2");
            return EF_EINVAL;
        }
        temp = t;
        has_temp = true;
    } else if (ef_val_type(m->temperature) != EF_NULL && ef_val_type(m->temperature) != EF_STR) {
        ef_node_error(n, NULL, "temperature must be a number from 0 to 2");
        return EF_EINVAL;
    }
    while (blen > 0 && m->base_url[blen - 1] == '/') {
        blen--;
    }
    size_t ulen = blen + sizeof("/chat/completions");
    m->url = malloc(ulen);
    if (!m->url) {
        return EF_ENOMEM;
    }
    snprintf(m->url, ulen, "%.*s/chat/completions", (int)blen, m->base_url);
    const struct ef_val *key = ef_val_obj_get(ef_node_credentials(n), "apiKey");
    m->conf = (struct ai_model_conf){
        .url = m->url,
        .model = m->model,
        .label = *ef_node_name(n) ? ef_node_name(n) : m->model,
        .auth_name = m->api_key_header,
        .api_key = ef_val_type(key) == EF_STR && ef_val_str_len(key) ? ef_val_str_get(key) : NULL,
        .timeout_ms = m->timeout * 1000,
        .max_tokens = (double)m->max_tokens,
        .temperature = temp,
        .has_temperature = has_temp,
    };
    m->ready = true;
    return 0;
}

static void cb_model_close(struct ef_node *n)
{
    struct ai_model *m = ef_node_priv(n);
    free(m->url);
    m->url = NULL;
    m->ready = false;
}

const struct ai_model_conf *ai__model_conf(struct ef_node *n)
{
    if (!n || ef_node_type_of(n) != &ai__model_type) {
        return NULL;
    }
    struct ai_model *m = ef_node_priv(n);
    return m->ready ? &m->conf : NULL;
}

const struct ef_node_type ai__model_type = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "ai-model",
    .description = "An OpenAI-compatible chat-completions endpoint (local or cloud) for ai agent "
                   "nodes; the API key is credentials.apiKey",
    .category = "config",
    .inputs = 0,
    .outputs = 0,
    .flags = EF_TYPE_CONFIG,
    .props = model_props,
    .priv_size = sizeof(struct ai_model),
    .cb_init = cb_model_init,
    .cb_close = cb_model_close,
};
