/*
 * fuzz_path.c - Node-RED property paths: parsing any text, then get, set
 * and delete on a message with nested objects and arrays.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <edgeflow/path.h>
#include <edgeflow/val.h>

static const char MSG[] = "{\"payload\":{\"a\":[1,{\"b c\":2}],\"x\":\"y\"},\"topic\":\"t\","
                          "\"arr\":[[0,1],[2,[3]]],\"k\":\"payload\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *expr = malloc(size + 1);
    memcpy(expr, data, size);
    expr[size] = 0;
    char err[256];
    struct ef_path *p = ef_path_parse(expr, err, sizeof(err));
    free(expr);
    if (!p) {
        return 0;
    }
    (void)ef_path_text(p);
    (void)ef_path_first_key(p);
    struct ef_val *msg = ef_json_parse(MSG, sizeof(MSG) - 1, NULL, 0);
    (void)ef_path_get(msg, p, msg);        /* borrowed */
    struct ef_val *copy = ef_val_ref(msg); /* shared: the set must copy on write */
    for (int create = 0; create < 2; create++) {
        struct ef_val *v = ef_val_num(42);
        if (ef_path_set_take(&copy, p, v, create, msg) != 0) {
            ef_val_unref(v);
        }
    }
    ef_path_delete(&copy, p, msg);
    size_t n;
    char *after = ef_json_print(msg, 0, &n);
    if (after && (n != sizeof(MSG) - 1 || memcmp(after, MSG, n) != 0)) {
        abort(); /* the shared original must not change under the copy */
    }
    free(after);
    ef_val_unref(copy);
    ef_val_unref(msg);
    ef_path_free(p);
    return 0;
}
