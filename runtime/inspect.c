/*
 * inspect.c - a port of the parts of Node's util.inspect() that Node-RED's
 * output depends on: primitives, strings quoted as inspect quotes them,
 * arrays and objects with the default depth of 2 ([Object]/[Array] below
 * it), Buffers, and the rule that an object goes on one line when its
 * entries fit in 80 columns, else one entry per line indented by two.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inspect.h"

#define INSPECT_DEPTH 2
#define BREAK_LENGTH 80

struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
};

static void put(struct sbuf *b, const char *s, size_t len)
{
    if (b->oom) {
        return;
    }
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->n + len + 1) {
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}

static void puts_(struct sbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* Quotes a string as inspect does: '...' unless it contains ' but not ". */
static void put_quoted(struct sbuf *b, const char *s, size_t len)
{
    char q = '\'';
    if (memchr(s, '\'', len)) {
        q = !memchr(s, '"', len) ? '"' : (!memchr(s, '`', len) ? '`' : '\'');
    }
    put(b, &q, 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == (unsigned char)q || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(b, esc, 2);
        } else if (c == '\n') {
            puts_(b, "\\n");
        } else if (c == '\t') {
            puts_(b, "\\t");
        } else if (c == '\r') {
            puts_(b, "\\r");
        } else if (c == '\b') {
            puts_(b, "\\b");
        } else if (c == '\f') {
            puts_(b, "\\f");
        } else if (c == '\v') {
            puts_(b, "\\v");
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof(esc), "\\x%02X", c);
            puts_(b, esc);
        } else {
            put(b, (const char *)&c, 1);
        }
    }
    put(b, &q, 1);
}

static bool identifier_key(const char *k, size_t len)
{
    if (len == 0 || !(isalpha((unsigned char)k[0]) || k[0] == '_' || k[0] == '$')) {
        return false;
    }
    for (size_t i = 1; i < len; i++) {
        if (!(isalnum((unsigned char)k[i]) || k[i] == '_' || k[i] == '$')) {
            return false;
        }
    }
    return true;
}

static char *format(const struct ef_val *v, int depth, int indent, int max_depth);

/* Joins entries on one line if they fit, else one per line (reduceToSingleString). */
static void join_entries(struct sbuf *b, char **entries, size_t n, const char *open,
                         const char *close, int indent)
{
    size_t total = n + (size_t)indent + strlen(open) + 10 + n;
    bool multiline_entry = false;
    for (size_t i = 0; i < n; i++) {
        total += strlen(entries[i]);
        multiline_entry |= strchr(entries[i], '\n') != NULL;
    }
    if (total <= BREAK_LENGTH && !multiline_entry) {
        puts_(b, open);
        puts_(b, " ");
        for (size_t i = 0; i < n; i++) {
            puts_(b, entries[i]);
            if (i + 1 < n) {
                puts_(b, ", ");
            }
        }
        puts_(b, " ");
        puts_(b, close);
        return;
    }
    char pad[128];
    int w = indent < 120 ? indent : 120;
    memset(pad, ' ', (size_t)w);
    pad[w] = '\0';
    puts_(b, open);
    for (size_t i = 0; i < n; i++) {
        puts_(b, "\n");
        puts_(b, pad);
        puts_(b, "  ");
        puts_(b, entries[i]);
        if (i + 1 < n) {
            puts_(b, ",");
        }
    }
    puts_(b, "\n");
    puts_(b, pad);
    puts_(b, close);
}

static char *format(const struct ef_val *v, int depth, int indent, int max_depth)
{
    struct sbuf b = {0};
    char num[40];
    switch (ef_val_type(v)) {
    case EF_NULL: puts_(&b, v ? "null" : "undefined"); break;
    case EF_BOOL: puts_(&b, ef_val_bool_get(v) ? "true" : "false"); break;
    case EF_NUM: {
        double d = ef_val_num_get(v);
        if (d == 0 && 1 / d < 0) {
            puts_(&b, "-0");
        } else {
            ef_num_format(d, num);
            puts_(&b, num);
        }
        break;
    }
    case EF_STR: put_quoted(&b, ef_val_str_get(v), ef_val_str_len(v)); break;
    case EF_BUF: {
        puts_(&b, "<Buffer");
        size_t n = ef_val_buf_len(v), show = n > 50 ? 50 : n;
        for (size_t i = 0; i < show; i++) {
            snprintf(num, sizeof(num), " %02x", ef_val_buf_data(v)[i]);
            puts_(&b, num);
        }
        if (n > show) {
            snprintf(num, sizeof(num), " ... %zu more byte%s", n - show, n - show == 1 ? "" : "s");
            puts_(&b, num);
        }
        puts_(&b, ">");
        break;
    }
    case EF_ARR:
    case EF_OBJ: {
        bool arr = ef_val_type(v) == EF_ARR;
        size_t n = arr ? ef_val_arr_len(v) : ef_val_obj_len(v);
        if (n == 0) {
            puts_(&b, arr ? "[]" : "{}");
            break;
        }
        if (depth > max_depth) {
            puts_(&b, arr ? "[Array]" : "[Object]");
            break;
        }
        size_t shown = arr && n > 100 ? 100 : n;
        char **entries = calloc(shown + 1, sizeof(*entries));
        if (!entries) {
            b.oom = true;
            break;
        }
        size_t k = 0;
        for (; k < shown; k++) {
            const struct ef_val *item = arr ? ef_val_arr_at(v, k) : ef_val_obj_val_at(v, k);
            char *inner = format(item, depth + 1, indent + 2, max_depth);
            if (!inner) {
                break;
            }
            if (arr) {
                entries[k] = inner;
                continue;
            }
            size_t kl;
            const char *key = ef_val_obj_key_at(v, k, &kl);
            struct sbuf e = {0};
            if (identifier_key(key, kl)) {
                put(&e, key, kl);
            } else {
                put_quoted(&e, key, kl);
            }
            puts_(&e, ": ");
            puts_(&e, inner);
            free(inner);
            entries[k] = e.p;
        }
        if (arr && n > shown) {
            char more[64];
            snprintf(more, sizeof(more), "... %zu more item%s", n - shown, n - shown == 1 ? "" : "s");
            entries[k++] = strdup(more);
        }
        join_entries(&b, entries, k, arr ? "[" : "{", arr ? "]" : "}", indent);
        for (size_t i = 0; i < k; i++) {
            free(entries[i]);
        }
        free(entries);
        break;
    }
    case EF_HANDLE: puts_(&b, "{}"); break;
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p ? b.p : strdup("");
}

char *inspect__value(const struct ef_val *v)
{
    return format(v, 0, 0, INSPECT_DEPTH);
}

char *inspect__depth(const struct ef_val *v, int depth)
{
    return format(v, 0, 0, depth);
}
