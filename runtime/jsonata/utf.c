/*
 * utf.c - UTF-8 helpers for JSONata's string functions, which count and
 * index strings in UTF-16 code units as JavaScript does.
 */
#include "internal.h"

/* Decodes the code point at s[*i] (invalid bytes decode as themselves). */
uint32_t jsonata__utf8_next(const char *s, size_t n, size_t *i)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t p = *i;
    uint32_t c = u[p];
    int extra = 0;
    if (c >= 0xF0 && c < 0xF8) {
        extra = 3;
        c &= 0x07;
    } else if (c >= 0xE0) {
        extra = c < 0xF0 ? 2 : 0;
        c = extra ? (c & 0x0F) : c;
    } else if (c >= 0xC0) {
        extra = 1;
        c &= 0x1F;
    }
    if (extra && p + (size_t)extra >= n) {
        *i = p + 1;
        return u[p];
    }
    for (int k = 1; k <= extra; k++) {
        if ((u[p + k] & 0xC0) != 0x80) {
            *i = p + 1;
            return u[p];
        }
        c = (c << 6) | (u[p + k] & 0x3F);
    }
    *i = p + 1 + (size_t)extra;
    return c;
}

/* Encodes cp as UTF-8 into out; returns the number of bytes (1..4). */
int jsonata__utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of s (n bytes of UTF-8) in UTF-16 code units. */
size_t jsonata__u16_len(const char *s, size_t n)
{
    size_t len = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char b = (unsigned char)s[i];
        if (b < 0x80) {
            len++;
            i++;
            continue;
        }
        uint32_t cp = jsonata__utf8_next(s, n, &i);
        len += cp >= 0x10000 ? 2 : 1;
    }
    return len;
}

/* Byte offset of UTF-16 unit index u in s; n when past the end. An index
 * inside a surrogate pair maps to the start of that character. */
size_t jsonata__u16_offset(const char *s, size_t n, size_t u)
{
    size_t i = 0, k = 0;
    while (i < n && k < u) {
        size_t start = i;
        uint32_t cp = jsonata__utf8_next(s, n, &i);
        k += cp >= 0x10000 ? 2 : 1;
        if (k > u) {
            return start;
        }
    }
    return i < n ? i : n;
}
