/*
 * strbuf.c - growable strings, doubling their capacity as they grow.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

static bool reserve(struct strbuf *b, size_t extra)
{
    if (b->oom) {
        return false;
    }
    if (b->n + extra + 1 <= b->cap) {
        return true;
    }
    size_t cap = b->cap ? b->cap * 2 : 64;
    while (cap < b->n + extra + 1) {
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void strbuf__add(struct strbuf *b, const char *s, size_t len)
{
    if (!reserve(b, len)) {
        return;
    }
    if (len) {
        memcpy(b->p + b->n, s, len);
    }
    b->n += len;
    b->p[b->n] = '\0';
}

void strbuf__adds(struct strbuf *b, const char *s)
{
    strbuf__add(b, s, strlen(s));
}

void strbuf__addf(struct strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if ((size_t)n < sizeof(small)) {
        strbuf__add(b, small, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n)) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

char *strbuf__take(struct strbuf *b, size_t *len)
{
    if (b->oom || !reserve(b, 0)) {
        free(b->p);
        *b = (struct strbuf){0};
        return NULL;
    }
    char *p = b->p;
    p[b->n] = '\0'; /* also when nothing was added */
    if (len) {
        *len = b->n;
    }
    *b = (struct strbuf){0};
    return p;
}
