/*
 * hash_sum.c - npm hash-sum over JSON-like values (see hash_sum.h), shared
 * by the http request and http response nodes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js.h"

#include "hash_sum.h"

/* JavaScript ToInt32. */
static double to_int32(double d)
{
    int64_t i = (int64_t)d;
    return (double)(int32_t)(uint32_t)(uint64_t)i;
}

/* hash-sum's fold over the UTF-16 code units of a UTF-8 string. */
static double fold(double hash, const char *s, size_t len)
{
    if (len == 0) {
        return hash;
    }
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        uint32_t cp;
        int n = 1;
        if (c < 0x80) {
            cp = c;
        } else if ((c & 0xe0) == 0xc0 && i + 1 < len) {
            cp = ((c & 0x1fu) << 6) | (s[i + 1] & 0x3fu);
            n = 2;
        } else if ((c & 0xf0) == 0xe0 && i + 2 < len) {
            cp = ((c & 0x0fu) << 12) | ((s[i + 1] & 0x3fu) << 6) | (s[i + 2] & 0x3fu);
            n = 3;
        } else if ((c & 0xf8) == 0xf0 && i + 3 < len) {
            cp = ((c & 0x07u) << 18) | ((s[i + 1] & 0x3fu) << 12) | ((s[i + 2] & 0x3fu) << 6) |
                 (s[i + 3] & 0x3fu);
            n = 4;
        } else {
            cp = 0xfffd;
        }
        i += (size_t)n;
        uint32_t units[2];
        int nu = 1;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            units[0] = 0xd800 + (cp >> 10);
            units[1] = 0xdc00 + (cp & 0x3ff);
            nu = 2;
        } else {
            units[0] = cp;
        }
        for (int k = 0; k < nu; k++) {
            double h32 = to_int32(hash);
            double shifted = (double)(int32_t)((uint32_t)(int32_t)h32 << 5);
            hash = to_int32(shifted - hash + units[k]);
        }
    }
    return hash < 0 ? hash * -2 : hash;
}

static double folds(double hash, const char *s)
{
    return fold(hash, s, strlen(s));
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* hash-sum's foldValue for JSON-like values (headers: strings and arrays). */
static double fold_value(double input, const struct ef_val *v, const char *key)
{
    static const char *const tags[] = {"[object Null]",   "[object Boolean]", "[object Number]",
                                       "[object String]", "[object Object]",  "[object Array]",
                                       "[object Object]", "[object Object]"};
    static const char *const types[] = {"object", "boolean", "number", "string",
                                        "object", "object",  "object", "object"};
    enum ef_type t = ef_val_type(v);
    double hash = folds(folds(folds(input, key), tags[t]), types[t]);
    if (t == EF_NULL) {
        return folds(hash, "null");
    }
    if (t == EF_OBJ || t == EF_ARR) {
        size_t n = t == EF_OBJ ? ef_val_obj_len(v) : ef_val_arr_len(v);
        char **keys = calloc(n ? n : 1, sizeof(char *));
        if (!keys) {
            return hash;
        }
        for (size_t i = 0; i < n; i++) {
            if (t == EF_OBJ) {
                size_t kl;
                const char *k = ef_val_obj_key_at(v, i, &kl);
                keys[i] = strndup(k, kl);
            } else {
                char b[32];
                snprintf(b, sizeof(b), "%zu", i);
                keys[i] = strdup(b);
            }
        }
        qsort(keys, n, sizeof(char *), cmp_keys);
        for (size_t i = 0; i < n; i++) {
            if (keys[i]) {
                const struct ef_val *item = t == EF_OBJ
                                                ? ef_val_obj_get(v, keys[i])
                                                : ef_val_arr_at(v, strtoul(keys[i], NULL, 10));
                hash = fold_value(hash, item, keys[i]);
            }
            free(keys[i]);
        }
        free(keys);
    }
    size_t len;
    char *s = js__to_string(v, &len);
    if (s) {
        hash = fold(hash, s, len);
        free(s);
    }
    return hash;
}

/* hash-sum(v): 8+ lowercase hex digits. */
struct ef_val *hash_sum__of(const struct ef_val *v)
{
    double h = fold_value(0, v, "");
    return ef_val_strf("%08llx", (unsigned long long)(int64_t)h);
}
