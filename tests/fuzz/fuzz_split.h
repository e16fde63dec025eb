/*
 * fuzz_split.h - fuzz inputs made of two parts: the first line (a JSON
 * document) and the rest (an expression or template).
 */
#ifndef EF_FUZZ_SPLIT_H
#define EF_FUZZ_SPLIT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Copies data into two malloc'ed NUL-terminated strings at the first '\n'. */
static inline void fuzz_split(const uint8_t *data, size_t size, char **first, size_t *first_len,
                              char **rest)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t n1 = nl ? (size_t)(nl - data) : size;
    size_t n2 = nl ? size - n1 - 1 : 0;
    *first = malloc(n1 + 1);
    memcpy(*first, data, n1);
    (*first)[n1] = 0;
    *first_len = n1;
    *rest = malloc(n2 + 1);
    memcpy(*rest, nl ? nl + 1 : data, n2);
    (*rest)[n2] = 0;
}

#endif
