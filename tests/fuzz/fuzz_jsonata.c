/*
 * fuzz_jsonata.c - JSONata parsing and evaluation: the first line of the
 * input is the JSON document, the rest the expression. Evaluation runs with
 * a depth limit and a 50 ms time limit, as the nodes run it.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_split.h"
#include "jsonata/jsonata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *json, *expr;
    size_t json_len;
    fuzz_split(data, size, &json, &json_len, &expr);
    char err[256];
    struct ef_jsonata *e = ef_jsonata_compile(expr, err, sizeof(err));
    if (e) {
        struct ef_val *input = ef_json_parse(json, json_len, NULL, 0);
        struct ef_jsonata_opts opts = {.timeout_ms = 50};
        struct ef_val *out = NULL;
        struct ef_jsonata_error jerr;
        if (ef_jsonata_eval(e, input, &opts, &out, &jerr) != 0) {
            char buf[512];
            ef_jsonata_strerror(&jerr, buf, sizeof(buf));
        }
        ef_val_unref(out);
        ef_val_unref(input);
        ef_jsonata_free(e);
    }
    free(json);
    free(expr);
    return 0;
}
