/*
 * strbuf.h - a growable byte string for building text (JSON, inspect
 * output, replacements). Out of memory is remembered, not reported per call.
 */
#ifndef EF_STRBUF_H
#define EF_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
    char *p; /* NUL-terminated when not NULL */
    size_t n, cap;
    bool oom;
};

/* Appends len bytes. */
void strbuf__add(struct strbuf *b, const char *s, size_t len);
/* Appends a NUL-terminated string. */
void strbuf__adds(struct strbuf *b, const char *s);
/* Appends printf-formatted text. */
void strbuf__addf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Hands the text over: a malloc'ed NUL-terminated string ("" when nothing
 * was added) the caller frees, with its length in *len (may be NULL); NULL
 * if memory ran out at any point (the buffer is freed either way).
 */
char *strbuf__take(struct strbuf *b, size_t *len);

#endif
