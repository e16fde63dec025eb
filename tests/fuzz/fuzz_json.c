/*
 * fuzz_json.c - the JSON parser and printer: any input is parsed or refused
 * with an error, and what parses prints to text that parses back and prints
 * the same (a JavaScript-compatible round trip).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <edgeflow/val.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    struct ef_val *v = ef_json_parse((const char *)data, size, err, sizeof(err));
    if (!v) {
        return 0;
    }
    size_t n1, n2;
    char *s1 = ef_json_print(v, 0, &n1);
    struct ef_val *v2 = s1 ? ef_json_parse(s1, n1, err, sizeof(err)) : NULL;
    char *s2 = v2 ? ef_json_print(v2, 0, &n2) : NULL;
    if (s1 && (!s2 || n1 != n2 || memcmp(s1, s2, n1) != 0)) {
        abort(); /* printed JSON must parse back to the same text */
    }
    free(s1);
    free(s2);
    ef_val_unref(v2);
    ef_val_unref(v);
    return 0;
}
