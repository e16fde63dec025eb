/*
 * seq.c - helpers shared by the sequence and parser nodes: pre-parsed
 * message properties, JSONata evaluation with bindings (join's reduce mode,
 * sort's key expressions) and a few JavaScript conversions.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "settings.h"

#include "seq.h"
#include "typed.h"

#ifdef EF_HAVE_JSONATA
#include "jsonata/jsonata.h"
#endif

int seq__prop_init(struct seq_prop *p, const char *expr, char *err, size_t errlen)
{
    memset(p, 0, sizeof(*p));
    if (!strncmp(expr, "msg.", 4)) {
        expr += 4;
    }
    p->text = strdup(expr);
    p->path = p->text ? ef_path_parse(expr, err, errlen) : NULL;
    if (!p->path) {
        free(p->text);
        p->text = NULL;
        return -1;
    }
    if (ef_path_nsegs(p->path) == 1) {
        p->single = ef_path_first_key(p->path);
        return 0;
    }
    /* the top-level segment boundaries: '.' and '[' outside quotes/brackets */
    size_t n = strlen(expr), nb = 0;
    size_t *cut = calloc(n + 1, sizeof(*cut));
    int depth = 0;
    char quote = 0;
    for (size_t i = 0; cut && i < n; i++) {
        char c = expr[i];
        if (quote) {
            quote = c == quote ? 0 : quote;
        } else if (c == '"' || c == '\'') {
            quote = c;
        } else if (c == '[') {
            if (depth == 0 && i > 0) {
                cut[nb++] = i;
            }
            depth++;
        } else if (c == ']') {
            depth--;
        } else if (c == '.' && depth == 0) {
            cut[nb++] = i;
        }
    }
    p->prefix = calloc(nb + 1, sizeof(*p->prefix));
    p->seg = calloc(nb + 1, sizeof(*p->seg));
    for (size_t k = 0; cut && p->prefix && p->seg && k < nb; k++) {
        char *pt = strndup(expr, cut[k]);
        p->prefix[k] = pt ? ef_path_parse(pt, NULL, 0) : NULL;
        free(pt);
        /* the key the next segment reads, without its dot, brackets or quotes */
        size_t a = cut[k] + 1, e = k + 1 < nb ? cut[k + 1] : n;
        if (expr[cut[k]] == '[') {
            a = cut[k] + 1;
            e = a;
            while (e < n && expr[e] != ']') {
                e++;
            }
            if (e > a && (expr[a] == '"' || expr[a] == '\'') && expr[e - 1] == expr[a]) {
                a++;
                e--;
            }
        }
        p->seg[k] = strndup(expr + a, e > a ? e - a : 0);
        p->nprefix = k + 1;
    }
    free(cut);
    return 0;
}

int seq__prop_check(const struct seq_prop *p, const struct ef_msg *m, char *err, size_t errlen)
{
    const struct ef_val *root = ef_msg_root(m);
    for (size_t k = 0; k < p->nprefix; k++) {
        if (!p->prefix[k]) {
            continue;
        }
        const struct ef_val *v = ef_path_get(root, p->prefix[k], root);
        if (!v || ef_val_type(v) == EF_NULL) {
            snprintf(err, errlen, "TypeError: Cannot read properties of %s (reading '%s')",
                     v ? "null" : "undefined", p->seg[k] ? p->seg[k] : "");
            return -1;
        }
        if (ef_val_type(v) != EF_OBJ && ef_val_type(v) != EF_ARR) {
            return 0; /* reading a key of a primitive gives undefined, no throw */
        }
    }
    return 0;
}

void seq__prop_free(struct seq_prop *p)
{
    for (size_t k = 0; k < p->nprefix; k++) {
        ef_path_free(p->prefix[k]);
        free(p->seg[k]);
    }
    free(p->prefix);
    free(p->seg);
    ef_path_free(p->path);
    free(p->text);
    memset(p, 0, sizeof(*p));
}

struct ef_val *seq__prop_get(const struct seq_prop *p, const struct ef_msg *m)
{
    const struct ef_val *root = ef_msg_root(m);
    if (p->single) {
        return ef_val_obj_get(root, p->single);
    }
    return ef_path_get(root, p->path, root);
}

int seq__root_set(const struct seq_prop *p, struct ef_val **root, struct ef_val *v)
{
    if (!v) {
        return ef_path_delete(root, p->path, *root);
    }
    if (p->single) {
        struct ef_val *r = ef_val_mut(root);
        if (!r) {
            return EF_ENOMEM;
        }
        return ef_val_obj_set_take(r, p->single, v);
    }
    return ef_path_set_take(root, p->path, v, true, *root);
}

int seq__prop_set(const struct seq_prop *p, struct ef_msg *m, struct ef_val *v)
{
    int rc = seq__root_set(p, ef_msg_slot(m), v);
    if (rc != 0 && v) {
        ef_val_unref(v);
    }
    return rc;
}

struct ef_val *seq__id_val(void)
{
    char id[17];
    ef_id_new(id);
    return ef_val_strn(id, 16);
}

int seq__set_new_id(struct ef_val *root)
{
    struct ef_val *id = seq__id_val();
    if (!id) {
        return EF_ENOMEM;
    }
    int rc = ef_val_obj_set_take(root, "_msgid", id);
    if (rc != 0) {
        ef_val_unref(id);
    }
    return rc;
}

double seq__parse_int(const struct ef_val *v)
{
    if (ef_val_type(v) == EF_NUM) {
        double d = ef_val_num_get(v);
        if (!isfinite(d)) {
            return NAN;
        }
        return trunc(d); /* parseInt(String(2.5)) */
    }
    if (ef_val_type(v) != EF_STR) {
        return NAN;
    }
    const char *s = ef_val_str_get(v);
    while (isspace((unsigned char)*s)) {
        s++;
    }
    int sign = 1;
    if (*s == '+' || *s == '-') {
        sign = *s == '-' ? -1 : 1;
        s++;
    }
    int base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    double r = 0;
    bool any = false;
    for (;; s++) {
        int d;
        if (isdigit((unsigned char)*s)) {
            d = *s - '0';
        } else if (base == 16 && isxdigit((unsigned char)*s)) {
            d = tolower((unsigned char)*s) - 'a' + 10;
        } else {
            break;
        }
        r = r * base + d;
        any = true;
    }
    return any ? sign * r : NAN;
}

char *seq__unescape(const char *s, size_t *len)
{
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    if (!out) {
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n && strchr("nrtef0", s[i + 1])) {
            switch (s[i + 1]) {
            case 'n': out[o++] = '\n'; break;
            case 'r': out[o++] = '\r'; break;
            case 't': out[o++] = '\t'; break;
            case 'e': out[o++] = 'e'; break; /* "\e" is just "e" in JavaScript */
            case 'f': out[o++] = '\f'; break;
            default: out[o++] = '\0'; break;
            }
            i++;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = 0;
    *len = o;
    return out;
}

double seq__max_kept(struct ef_node *n)
{
    const struct ef_settings *s = n->fs && n->fs->rt ? n->fs->rt->settings : NULL;
    const struct ef_val *v = s ? ef_val_obj_get(s->root, "nodeMessageBufferMaxLength") : NULL;
    return ef_val_type(v) == EF_NUM ? ef_val_num_get(v) : 0;
}

bool seq__strict_eq(const struct ef_val *a, const struct ef_val *b)
{
    if (!a || !b) {
        return a == b;
    }
    enum ef_type ta = ef_val_type(a);
    if (ta != ef_val_type(b)) {
        return false;
    }
    switch (ta) {
    case EF_NULL: return true;
    case EF_BOOL: return ef_val_bool_get(a) == ef_val_bool_get(b);
    case EF_NUM: return ef_val_num_get(a) == ef_val_num_get(b);
    case EF_STR:
        return ef_val_str_len(a) == ef_val_str_len(b) &&
               !memcmp(ef_val_str_get(a), ef_val_str_get(b), ef_val_str_len(a));
    default: return a == b;
    }
}

/* ---- JSONata ---- */

#ifdef EF_HAVE_JSONATA

/* Node-RED's legacy test: /(^|[^a-zA-Z0-9_'".])msg([^a-zA-Z0-9_'"]|$)/ */
int seq__jexpr_compile(struct seq_jexpr *x, const char *src, char *err, size_t errlen)
{
    struct ef_jsonata_error e;
    memset(x, 0, sizeof(*x));
    x->e = ef_jsonata_compile_ex(src ? src : "", &e);
    if (!x->e) {
        snprintf(err, errlen, "%s", e.message);
        return -1;
    }
    x->legacy = typed__jsonata_legacy(src ? src : "");
    return 0;
}

void seq__jexpr_free(struct seq_jexpr *x)
{
    ef_jsonata_free(x->e);
    x->e = NULL;
}

int seq__jexpr_eval(struct ef_node *n, const struct seq_jexpr *x, const struct ef_val *input,
                    const struct ef_val *bindings, struct ef_val **out, char *err, size_t errlen)
{
    return typed__jsonata_eval(n, x->e, x->legacy, input, bindings, out, err, errlen) ? -1 : 0;
}

#else

int seq__jexpr_compile(struct seq_jexpr *x, const char *src, char *err, size_t errlen)
{
    (void)src;
    memset(x, 0, sizeof(*x));
    snprintf(err, errlen, "JSONata is not available in this build");
    return -1;
}

void seq__jexpr_free(struct seq_jexpr *x)
{
    (void)x;
}

int seq__jexpr_eval(struct ef_node *n, const struct seq_jexpr *x, const struct ef_val *input,
                    const struct ef_val *bindings, struct ef_val **out, char *err, size_t errlen)
{
    (void)n;
    (void)x;
    (void)input;
    (void)bindings;
    *out = NULL;
    snprintf(err, errlen, "JSONata is not available in this build");
    return -1;
}

#endif

void seq__init_error(struct ef_node *n, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    const char *name = ef_node_name(n);
    ef_log(EF_LOG_ERROR, "[%s:%s] %s", ef_node_type_name(n), *name ? name : ef_node_id(n), text);
}
