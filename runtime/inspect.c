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
#include "strbuf.h"

#define INSPECT_DEPTH 2
#define BREAK_LENGTH 80

/* Quotes a string as inspect does: '...' unless it contains ' but not ". */
static void put_quoted(struct strbuf *b, const char *s, size_t len)
{
    char q = '\'';
    if (memchr(s, '\'', len)) {
        q = !memchr(s, '"', len) ? '"' : (!memchr(s, '`', len) ? '`' : '\'');
    }
    strbuf__add(b, &q, 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == (unsigned char)q || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            strbuf__add(b, esc, 2);
        } else if (c == '\n') {
            strbuf__adds(b, "\\n");
        } else if (c == '\t') {
            strbuf__adds(b, "\\t");
        } else if (c == '\r') {
            strbuf__adds(b, "\\r");
        } else if (c == '\b') {
            strbuf__adds(b, "\\b");
        } else if (c == '\f') {
            strbuf__adds(b, "\\f");
        } else if (c == '\v') {
            strbuf__adds(b, "\\v");
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof(esc), "\\x%02X", c);
            strbuf__adds(b, esc);
        } else {
            strbuf__add(b, (const char *)&c, 1);
        }
    }
    strbuf__add(b, &q, 1);
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
static void join_entries(struct strbuf *b, char **entries, size_t n, const char *open,
                         const char *close, int indent)
{
    size_t total = n + (size_t)indent + strlen(open) + 10 + n;
    bool multiline_entry = false;
    for (size_t i = 0; i < n; i++) {
        total += strlen(entries[i]);
        multiline_entry |= strchr(entries[i], '\n') != NULL;
    }
    if (total <= BREAK_LENGTH && !multiline_entry) {
        strbuf__adds(b, open);
        strbuf__adds(b, " ");
        for (size_t i = 0; i < n; i++) {
            strbuf__adds(b, entries[i]);
            if (i + 1 < n) {
                strbuf__adds(b, ", ");
            }
        }
        strbuf__adds(b, " ");
        strbuf__adds(b, close);
        return;
    }
    char pad[128];
    int w = indent < 120 ? indent : 120;
    memset(pad, ' ', (size_t)w);
    pad[w] = '\0';
    strbuf__adds(b, open);
    for (size_t i = 0; i < n; i++) {
        strbuf__adds(b, "\n");
        strbuf__adds(b, pad);
        strbuf__adds(b, "  ");
        strbuf__adds(b, entries[i]);
        if (i + 1 < n) {
            strbuf__adds(b, ",");
        }
    }
    strbuf__adds(b, "\n");
    strbuf__adds(b, pad);
    strbuf__adds(b, close);
}

static char *format(const struct ef_val *v, int depth, int indent, int max_depth)
{
    struct strbuf b = {0};
    char num[40];
    switch (ef_val_type(v)) {
    case EF_NULL: strbuf__adds(&b, v ? "null" : "undefined"); break;
    case EF_BOOL: strbuf__adds(&b, ef_val_bool_get(v) ? "true" : "false"); break;
    case EF_NUM: {
        double d = ef_val_num_get(v);
        if (d == 0 && 1 / d < 0) {
            strbuf__adds(&b, "-0");
        } else {
            ef_num_format(d, num);
            strbuf__adds(&b, num);
        }
        break;
    }
    case EF_STR: put_quoted(&b, ef_val_str_get(v), ef_val_str_len(v)); break;
    case EF_BUF: {
        strbuf__adds(&b, "<Buffer");
        size_t n = ef_val_buf_len(v), show = n > 50 ? 50 : n;
        for (size_t i = 0; i < show; i++) {
            snprintf(num, sizeof(num), " %02x", ef_val_buf_data(v)[i]);
            strbuf__adds(&b, num);
        }
        if (n > show) {
            snprintf(num, sizeof(num), " ... %zu more byte%s", n - show, n - show == 1 ? "" : "s");
            strbuf__adds(&b, num);
        }
        strbuf__adds(&b, ">");
        break;
    }
    case EF_ARR:
    case EF_OBJ: {
        bool arr = ef_val_type(v) == EF_ARR;
        size_t n = arr ? ef_val_arr_len(v) : ef_val_obj_len(v);
        if (n == 0) {
            strbuf__adds(&b, arr ? "[]" : "{}");
            break;
        }
        if (depth > max_depth) {
            strbuf__adds(&b, arr ? "[Array]" : "[Object]");
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
            struct strbuf e = {0};
            if (identifier_key(key, kl)) {
                strbuf__add(&e, key, kl);
            } else {
                put_quoted(&e, key, kl);
            }
            strbuf__adds(&e, ": ");
            strbuf__adds(&e, inner);
            free(inner);
            entries[k] = strbuf__take(&e, NULL);
            if (!entries[k]) {
                break;
            }
        }
        if (arr && n > shown) {
            char more[64];
            snprintf(more, sizeof(more), "... %zu more item%s", n - shown,
                     n - shown == 1 ? "" : "s");
            entries[k++] = strdup(more);
        }
        join_entries(&b, entries, k, arr ? "[" : "{", arr ? "]" : "}", indent);
        for (size_t i = 0; i < k; i++) {
            free(entries[i]);
        }
        free(entries);
        break;
    }
    case EF_HANDLE: strbuf__adds(&b, "{}"); break;
    }
    return strbuf__take(&b, NULL);
}

char *inspect__value(const struct ef_val *v)
{
    return format(v, 0, 0, INSPECT_DEPTH);
}

char *inspect__depth(const struct ef_val *v, int depth)
{
    return format(v, 0, 0, depth);
}
