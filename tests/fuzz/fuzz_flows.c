/*
 * fuzz_flows.c - the flow loader: any text is parsed as a flows file and,
 * when it is JSON, validated and built into a flow set with every built-in
 * node type (nothing is started), then torn down. Problems are reported,
 * never fatal.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime.h"

static struct ef_runtime *rt;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!rt) {
        char err[256];
        struct ef_settings *s = settings__load(NULL, err, sizeof(err));
        rt = calloc(1, sizeof(*rt));
        if (!s || !rt || runtime__init(rt, s, err, sizeof(err)) != 0) {
            abort();
        }
        ef_log_set_level(EF_LOG_FATAL); /* problems are expected; keep the output readable */
    }
    struct ef_val *config = ef_json_parse((const char *)data, size, NULL, 0);
    if (!config) {
        return 0;
    }
    struct ef_problems probs = {0};
    struct ef_flowset *fs = flowset__build(rt, config, NULL, NULL, &probs);
    if (fs) {
        flowset__close(fs);
        flowset__free(fs);
    }
    problems__free(&probs);
    ef_val_unref(config);
    return 0;
}
