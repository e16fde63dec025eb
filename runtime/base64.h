/*
 * base64.h - Base64 as Node's Buffer speaks it.
 */
#ifndef EF_BASE64_H
#define EF_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

/* Appends data as standard Base64 with '=' padding (buf.toString("base64")). */
void base64__encode(struct strbuf *b, const void *data, size_t len);
/*
 * Decodes as Buffer.from(s, "base64"): the standard and URL-safe alphabets,
 * other characters skipped, stops at the first '='. At most len * 3 / 4
 * bytes are written to `out` (len bytes always suffice). Returns how many.
 */
size_t base64__decode(const char *s, size_t len, uint8_t *out);

#endif
