/*
 * fuzz_mustache.c - the Mustache engine: the first line of the input is the
 * JSON view, the rest the template (with a partial named "p" that is the
 * template itself, so recursion through partials is exercised).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../nodes/function/lib/mustache.h"
#include "fuzz_split.h"

static const char *partial(void *ud, const char *name, size_t *len)
{
    if (strcmp(name, "p") != 0) {
        return NULL;
    }
    *len = strlen(ud);
    return ud;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *json, *text;
    size_t json_len;
    fuzz_split(data, size, &json, &json_len, &text);
    char err[256];
    struct mst_template *t = mst__parse(text, strlen(text), err, sizeof(err));
    if (t) {
        struct ef_val *view = ef_json_parse(json, json_len, NULL, 0);
        struct mst_hooks hooks = {.partial = partial, .escape_root_strings = true, .ud = text};
        size_t len;
        free(mst__render(t, view, &hooks, &len, err, sizeof(err)));
        ef_val_unref(view);
        mst__free(t);
    }
    free(json);
    free(text);
    return 0;
}
