/*
 * mustache.c - a Mustache engine with mustache.js 4.2's behaviour (see
 * mustache.h). The parser follows mustache.js's parseTemplate: text is cut
 * into one token per character so that whitespace on "standalone" lines
 * (a line holding only section, inverted, closing, comment, partial or
 * delimiter tags) can be dropped, then squashed and nested. Lookups follow
 * mustache.js's Context.lookup, including its quirks (a dotted name whose
 * last key is missing is looked up again in the enclosing contexts; "length"
 * and indices of strings and arrays are properties).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <edgeflow/mustache.h>

#include "js.h"
#include "mustache.h"

#define MAX_DEPTH 256 /* partial recursion: JavaScript would overflow its stack */
/* Partials expanded in one render: partials that include each other twice
 * would otherwise take exponential time (mustache.js never finishes). */
#define MAX_PARTIAL_EXPANSIONS 100000
/* Output of one render, and partial text parsed in one render (an indented partial that includes
 * itself can double its indentation at every level): past either the render fails instead of
 * taking the process's memory. Nested sections over arrays multiply the output the same way. */
#define MAX_OUTPUT (64u << 20)
#define MAX_PARTIAL_BYTES (64u << 10)

enum {
    T_TEXT,
    T_NAME,     /* {{x}}: escaped */
    T_AMP,      /* {{&x}} or {{{x}}}: raw */
    T_SECTION,  /* {{#x}} */
    T_INVERTED, /* {{^x}} */
    T_CLOSE,    /* {{/x}}: only while parsing */
    T_PARTIAL,  /* {{>x}} */
    T_COMMENT,  /* {{!x}} */
    T_DELIM,    /* {{=a b=}} */
};

struct mtok {
    int type;
    char *s; /* text, or the tag's name */
    size_t len;
    struct mtok *kids; /* sections */
    size_t nkids, cap;
    /* partials: how they are indented */
    char *indent;
    size_t indent_len;
    int tag_index;
    bool line_has_nonspace;
};

struct mst_template {
    struct mtok root;
};

/* ---- a growable byte buffer ---- */

struct buf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->oom) {
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->len + n + 1) {
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
    if (n) {
        memcpy(b->p + b->len, s, n);
    }
    b->len += n;
    b->p[b->len] = '\0';
}

/* ---- characters ---- */

/* Length of the UTF-8 character at p (1 for a stray byte). */
static size_t char_len(const char *p, const char *end)
{
    unsigned char c = (unsigned char)*p;
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    return (size_t)(end - p) < n ? 1 : n;
}

/* Byte length of a JavaScript \s character at p, or 0. */
static size_t ws_len(const char *p, const char *end)
{
    unsigned char c = (unsigned char)*p;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r') {
        return 1;
    }
    if (c < 0x80) {
        return 0;
    }
    size_t n = char_len(p, end);
    uint32_t cp = 0;
    if (n == 2) {
        cp = ((c & 0x1fu) << 6) | ((unsigned char)p[1] & 0x3fu);
    } else if (n == 3) {
        cp = ((c & 0x0fu) << 12) | (((unsigned char)p[1] & 0x3fu) << 6) |
             ((unsigned char)p[2] & 0x3fu);
    } else {
        return 0;
    }
    bool ws = cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 ||
              cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000 || cp == 0xfeff;
    return ws ? n : 0;
}

/* ---- the parser ---- */

/* One token of the flat list, before squashing and nesting. */
struct ftok {
    int type;
    bool dead;
    size_t a, b; /* text: the character; tags: the value */
    size_t start;
    char *indent;
    size_t indent_len;
    int tag_index;
    bool lhns;
};

struct parser {
    const char *t;
    size_t len, pos;
    char *open, *close;
    size_t olen, clen;
    struct ftok *toks;
    size_t ntoks, cap;
    char *err;
    size_t errlen;
};

static bool starts_at(const struct parser *p, size_t at, const char *s, size_t n)
{
    return at + n <= p->len && memcmp(p->t + at, s, n) == 0;
}

/* Skips \s* at the scanner position. */
static void skip_ws(struct parser *p)
{
    size_t n;
    while (p->pos < p->len && (n = ws_len(p->t + p->pos, p->t + p->len)) > 0) {
        p->pos += n;
    }
}

/*
 * scanUntil(/\s*NEEDLE/): moves to where the match starts (the whitespace
 * run just before the first NEEDLE), or to the end when there is none.
 */
static void scan_until_ws(struct parser *p, const char *needle, size_t nlen)
{
    size_t run = SIZE_MAX;
    size_t i = p->pos;
    while (i < p->len) {
        if (starts_at(p, i, needle, nlen)) {
            p->pos = run != SIZE_MAX ? run : i;
            return;
        }
        size_t w = ws_len(p->t + i, p->t + p->len);
        if (w) {
            if (run == SIZE_MAX) {
                run = i;
            }
            i += w;
        } else {
            run = SIZE_MAX;
            i += char_len(p->t + i, p->t + p->len);
        }
    }
    p->pos = p->len;
}

/* scan(/\s*NEEDLE/) at the scanner position. */
static bool scan_ws(struct parser *p, const char *needle, size_t nlen)
{
    size_t save = p->pos;
    skip_ws(p);
    if (starts_at(p, p->pos, needle, nlen)) {
        p->pos += nlen;
        return true;
    }
    p->pos = save;
    return false;
}

static void set_err(struct parser *p, const char *fmt, const char *name, size_t nlen, size_t at)
{
    size_t pos = js__utf16_length(p->t, at);
    if (name) {
        snprintf(p->err, p->errlen, fmt, (int)nlen, name, pos);
    } else {
        snprintf(p->err, p->errlen, fmt, pos);
    }
}

static struct ftok *push_tok(struct parser *p)
{
    if (p->ntoks == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct ftok *t = realloc(p->toks, cap * sizeof(*t));
        if (!t) {
            return NULL;
        }
        p->toks = t;
        p->cap = cap;
    }
    struct ftok *t = &p->toks[p->ntoks++];
    memset(t, 0, sizeof(*t));
    return t;
}

/* compileTags(value): "a b" (split on whitespace, first two pieces). */
static int compile_tags(struct parser *p, const char *v, size_t n)
{
    const char *end = v + n;
    const char *a = v, *ae = v;
    while (ae < end && !ws_len(ae, end)) {
        ae += char_len(ae, end);
    }
    const char *b = ae;
    size_t w;
    while (b < end && (w = ws_len(b, end)) > 0) {
        b += w;
    }
    const char *be = b;
    while (be < end && !ws_len(be, end)) {
        be += char_len(be, end);
    }
    if (ae == end) {
        /* one piece only: mustache.js prints the array it got */
        snprintf(p->err, p->errlen, "Invalid tags: %.*s", (int)n, v);
        return -1;
    }
    char *o = strndup(a, (size_t)(ae - a));
    char *c = strndup(b, (size_t)(be - b));
    if (!o || !c) {
        free(o);
        free(c);
        snprintf(p->err, p->errlen, "out of memory");
        return -1;
    }
    free(p->open);
    free(p->close);
    p->open = o;
    p->olen = strlen(o);
    p->close = c;
    p->clen = strlen(c);
    return 0;
}

static void tok_free(struct mtok *t)
{
    for (size_t i = 0; i < t->nkids; i++) {
        tok_free(&t->kids[i]);
    }
    free(t->kids);
    free(t->s);
    free(t->indent);
}

static struct mtok *add_kid(struct mtok *parent)
{
    if (parent->nkids == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 8;
        struct mtok *k = realloc(parent->kids, cap * sizeof(*k));
        if (!k) {
            return NULL;
        }
        parent->kids = k;
        parent->cap = cap;
    }
    struct mtok *k = &parent->kids[parent->nkids++];
    memset(k, 0, sizeof(*k));
    return k;
}

/* squashTokens + nestTokens: the flat list becomes the tree under root. */
static int build_tree(struct parser *p, struct mtok *root)
{
    struct mtok *stack[MAX_DEPTH * 4];
    size_t depth = 0;
    struct mtok *collector = root;
    struct mtok *last_text = NULL;
    for (size_t i = 0; i < p->ntoks; i++) {
        struct ftok *f = &p->toks[i];
        if (f->dead) {
            continue;
        }
        if (f->type == T_TEXT) {
            if (last_text) {
                char *s = realloc(last_text->s, last_text->len + (f->b - f->a) + 1);
                if (!s) {
                    return -1;
                }
                memcpy(s + last_text->len, p->t + f->a, f->b - f->a);
                last_text->len += f->b - f->a;
                s[last_text->len] = '\0';
                last_text->s = s;
                continue;
            }
        }
        if (f->type == T_CLOSE) {
            last_text = NULL;
            depth--;
            collector = depth ? stack[depth - 1] : root;
            continue;
        }
        struct mtok *k = add_kid(collector);
        if (!k) {
            return -1;
        }
        k->type = f->type;
        k->s = strndup(p->t + f->a, f->b - f->a);
        if (!k->s) {
            return -1;
        }
        k->len = f->b - f->a;
        last_text = f->type == T_TEXT ? k : NULL;
        if (f->type == T_PARTIAL) {
            k->indent = f->indent;
            f->indent = NULL;
            k->indent_len = f->indent_len;
            k->tag_index = f->tag_index;
            k->line_has_nonspace = f->lhns;
        }
        if (f->type == T_SECTION || f->type == T_INVERTED) {
            if (depth == sizeof(stack) / sizeof(stack[0])) {
                snprintf(p->err, p->errlen, "sections nested too deeply");
                return -1;
            }
            stack[depth++] = k;
            collector = k;
        }
    }
    return 0;
}

/* parseTemplate with the default tags. */
static int parse_into(struct parser *p, struct mtok *root)
{
    size_t *spaces = NULL, nspaces = 0, capspaces = 0;
    size_t *sections = NULL, nsections = 0, capsections = 0;
    struct buf indentation = {0};
    bool has_tag = false, non_space = false, line_has_non_space = false;
    int tag_index = 0;
    int rc = -1;
    p->open = strdup("{{");
    p->close = strdup("}}");
    p->olen = p->clen = 2;
    if (!p->open || !p->close) {
        goto oom;
    }
    while (p->pos < p->len) {
        size_t start = p->pos;
        /* scanUntil(openingTagRe): the text before the next tag */
        size_t tend = p->len;
        for (size_t i = p->pos; i + p->olen <= p->len; i++) {
            if (starts_at(p, i, p->open, p->olen)) {
                tend = i;
                break;
            }
        }
        p->pos = tend;
        for (size_t i = start; i < tend;) {
            size_t n = char_len(p->t + i, p->t + tend);
            bool ws = ws_len(p->t + i, p->t + tend) > 0;
            if (ws) {
                if (nspaces == capspaces) {
                    capspaces = capspaces ? capspaces * 2 : 32;
                    size_t *s = realloc(spaces, capspaces * sizeof(*s));
                    if (!s) {
                        goto oom;
                    }
                    spaces = s;
                }
                spaces[nspaces++] = p->ntoks;
                buf_add(&indentation, p->t + i, n);
            } else {
                non_space = true;
                line_has_non_space = true;
                buf_add(&indentation, " ", 1);
            }
            struct ftok *t = push_tok(p);
            if (!t || indentation.oom) {
                goto oom;
            }
            t->type = T_TEXT;
            t->a = i;
            t->b = i + n;
            i += n;
            if (p->t[t->a] == '\n') {
                /* stripSpace() */
                if (has_tag && !non_space) {
                    while (nspaces) {
                        p->toks[spaces[--nspaces]].dead = true;
                    }
                } else {
                    nspaces = 0;
                }
                has_tag = non_space = false;
                indentation.len = 0;
                tag_index = 0;
                line_has_non_space = false;
            }
        }
        start = p->pos;
        if (!starts_at(p, p->pos, p->open, p->olen)) {
            break;
        }
        p->pos += p->olen;
        skip_ws(p);
        has_tag = true;
        int type = T_NAME;
        char c = p->pos < p->len ? p->t[p->pos] : '\0';
        const char *types = "#^/>{&=!";
        if (c && strchr(types, c)) {
            p->pos++;
            type = c == '#'   ? T_SECTION
                   : c == '^' ? T_INVERTED
                   : c == '/' ? T_CLOSE
                   : c == '>' ? T_PARTIAL
                   : c == '{' ? -1
                   : c == '&' ? T_AMP
                   : c == '=' ? T_DELIM
                              : T_COMMENT;
        }
        skip_ws(p);
        size_t va = p->pos, vb;
        if (type == T_DELIM) {
            scan_until_ws(p, "=", 1);
            vb = p->pos;
            scan_ws(p, "=", 1);
            scan_until_ws(p, p->close, p->clen);
        } else if (type == -1) {
            char *cc = malloc(p->clen + 2);
            if (!cc) {
                goto oom;
            }
            cc[0] = '}';
            memcpy(cc + 1, p->close, p->clen + 1);
            scan_until_ws(p, cc, p->clen + 1);
            free(cc);
            vb = p->pos;
            scan_ws(p, "}", 1);
            scan_until_ws(p, p->close, p->clen);
            type = T_AMP;
        } else {
            scan_until_ws(p, p->close, p->clen);
            vb = p->pos;
        }
        if (!scan_ws(p, p->close, p->clen)) {
            set_err(p, "Unclosed tag at %zu", NULL, 0, p->pos);
            goto fail;
        }
        struct ftok *t = push_tok(p);
        if (!t) {
            goto oom;
        }
        t->type = type;
        t->a = va;
        t->b = vb;
        t->start = start;
        if (type == T_PARTIAL) {
            t->indent = indentation.len ? strndup(indentation.p, indentation.len) : NULL;
            t->indent_len = indentation.len;
            t->tag_index = tag_index;
            t->lhns = line_has_non_space;
            if (indentation.len && !t->indent) {
                goto oom;
            }
        }
        tag_index++;
        if (type == T_SECTION || type == T_INVERTED) {
            if (nsections == capsections) {
                capsections = capsections ? capsections * 2 : 16;
                size_t *s = realloc(sections, capsections * sizeof(*s));
                if (!s) {
                    goto oom;
                }
                sections = s;
            }
            sections[nsections++] = p->ntoks - 1;
        } else if (type == T_CLOSE) {
            if (!nsections) {
                set_err(p, "Unopened section \"%.*s\" at %zu", p->t + va, vb - va, start);
                goto fail;
            }
            struct ftok *o = &p->toks[sections[--nsections]];
            if (o->b - o->a != vb - va || memcmp(p->t + o->a, p->t + va, vb - va) != 0) {
                set_err(p, "Unclosed section \"%.*s\" at %zu", p->t + o->a, o->b - o->a, start);
                goto fail;
            }
        } else if (type == T_NAME || type == T_AMP) {
            non_space = true;
        } else if (type == T_DELIM) {
            if (compile_tags(p, p->t + va, vb - va) != 0) {
                goto fail;
            }
        }
    }
    if (has_tag && !non_space) {
        while (nspaces) {
            p->toks[spaces[--nspaces]].dead = true;
        }
    }
    if (nsections) {
        struct ftok *o = &p->toks[sections[nsections - 1]];
        set_err(p, "Unclosed section \"%.*s\" at %zu", p->t + o->a, o->b - o->a, p->pos);
        goto fail;
    }
    if (build_tree(p, root) != 0) {
        if (!p->err[0]) {
            snprintf(p->err, p->errlen, "out of memory");
        }
        goto fail;
    }
    rc = 0;
    goto fail;
oom:
    snprintf(p->err, p->errlen, "out of memory");
fail:
    free(spaces);
    free(sections);
    free(indentation.p);
    for (size_t i = 0; i < p->ntoks; i++) {
        free(p->toks[i].indent);
    }
    free(p->toks);
    free(p->open);
    free(p->close);
    return rc;
}

/* Parses a template (see mustache.h). */
struct mst_template *mst__parse(const char *text, size_t len, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    struct mst_template *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    struct parser p = {.t = text, .len = len, .err = err, .errlen = errlen};
    if (parse_into(&p, &t->root) != 0) {
        mst__free(t);
        return NULL;
    }
    return t;
}

/* Frees a parsed template (NULL-safe). */
void mst__free(struct mst_template *t)
{
    if (!t) {
        return;
    }
    tok_free(&t->root);
    free(t);
}

static void each_name(const struct mtok *t, void (*fn)(void *ud, const char *name), void *ud)
{
    for (size_t i = 0; i < t->nkids; i++) {
        const struct mtok *k = &t->kids[i];
        if (k->type != T_TEXT) {
            fn(ud, k->s);
            each_name(k, fn, ud);
        }
    }
}

/* Visits the names of all tags (extractTokens in Node-RED's template node). */
void mst__each_name(const struct mst_template *t, void (*fn)(void *ud, const char *name), void *ud)
{
    if (t) {
        each_name(&t->root, fn, ud);
    }
}

/* ---- rendering ---- */

struct ctx {
    const struct ef_val *view;
    const struct ctx *parent;
};

struct render {
    struct buf out;
    const struct mst_hooks *hooks;
    char *err;
    size_t errlen;
    bool failed;
    int depth;
    long expansions;      /* partials expanded so far */
    size_t partial_bytes; /* bytes of partial text parsed so far */
};

static bool is_object(const struct ef_val *v)
{
    enum ef_type t = ef_val_type(v);
    return t == EF_OBJ || t == EF_ARR || t == EF_BUF || t == EF_HANDLE;
}

/* A canonical array index ("0", "17"), or -1. */
static long array_index(const char *k, size_t n)
{
    if (n == 0 || n > 10 || (n > 1 && k[0] == '0')) {
        return -1;
    }
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (k[i] < '0' || k[i] > '9') {
            return -1;
        }
        v = v * 10 + (k[i] - '0');
    }
    return v < 4294967295L ? v : -1;
}

/* The i-th UTF-16 code unit of a UTF-8 string, as a one-character string. */
static struct ef_val *string_char(const char *s, size_t len, long index)
{
    long unit = 0;
    for (size_t i = 0; i < len;) {
        size_t n = char_len(s + i, s + len);
        long units = n == 4 ? 2 : 1;
        if (index < unit + units) {
            if (units == 2) {
                return ef_val_str("\xef\xbf\xbd"); /* half a surrogate pair */
            }
            return ef_val_strn(s + i, n);
        }
        unit += units;
        i += n;
    }
    return NULL;
}

/*
 * v[key] as JavaScript reads it (new reference, NULL for undefined); *own
 * tells whether `key in v` (objects) or v.hasOwnProperty(key) (strings).
 */
static struct ef_val *get_prop(const struct ef_val *v, const char *k, size_t n, bool *own)
{
    *own = false;
    if (!v) {
        return NULL;
    }
    switch (ef_val_type(v)) {
    case EF_OBJ: {
        struct ef_val *x = ef_val_obj_getn(v, k, n);
        *own = x != NULL;
        return ef_val_ref(x);
    }
    case EF_ARR:
    case EF_BUF:
    case EF_STR: {
        enum ef_type t = ef_val_type(v);
        size_t len = t == EF_ARR   ? ef_val_arr_len(v)
                     : t == EF_BUF ? ef_val_buf_len(v)
                                   : js__utf16_length(ef_val_str_get(v), ef_val_str_len(v));
        if (n == 6 && !memcmp(k, "length", 6)) {
            *own = true;
            return ef_val_num((double)len);
        }
        long i = array_index(k, n);
        if (i < 0 || (size_t)i >= len) {
            return NULL;
        }
        *own = true;
        if (t == EF_ARR) {
            return ef_val_ref(ef_val_arr_at(v, (size_t)i));
        }
        if (t == EF_BUF) {
            return ef_val_num(ef_val_buf_data(v)[i]);
        }
        return string_char(ef_val_str_get(v), ef_val_str_len(v), i);
    }
    default: return NULL;
    }
}

/* Context.lookup(name): a new reference, or NULL for undefined. */
static struct ef_val *lookup_views(struct render *r, const struct ctx *c, const char *name,
                                   bool *at_root)
{
    size_t nlen = strlen(name);
    *at_root = c->parent == NULL;
    if (!strcmp(name, ".")) {
        return ef_val_ref((struct ef_val *)c->view);
    }
    const char *dot = strchr(name, '.');
    bool dotted = dot && dot > name;
    for (; c; c = c->parent) {
        bool hit = false;
        struct ef_val *value = NULL;
        if (dotted) {
            struct ef_val *iv = ef_val_ref((struct ef_val *)c->view);
            const char *seg = name;
            while (iv && ef_val_type(iv) != EF_NULL) {
                const char *e = strchr(seg, '.');
                size_t sl = e ? (size_t)(e - seg) : strlen(seg);
                bool own;
                struct ef_val *next = get_prop(iv, seg, sl, &own);
                if (!e) {
                    hit = own && (is_object(iv) || ef_val_type(iv) == EF_STR);
                }
                ef_val_unref(iv);
                iv = next;
                if (!e) {
                    break;
                }
                seg = e + 1;
            }
            value = iv;
        } else {
            if (ef_val_type(c->view) == EF_NULL) {
                snprintf(r->err, r->errlen, "Cannot read properties of null (reading '%s')", name);
                r->failed = true;
                return NULL;
            }
            bool own;
            value = get_prop(c->view, name, nlen, &own);
            hit = own && is_object(c->view);
        }
        if (hit) {
            *at_root = c->parent == NULL;
            return value;
        }
        ef_val_unref(value);
    }
    return NULL;
}

/* The strings of the outermost view, escaped for a JSON string literal. */
static struct ef_val *json_escape(struct ef_val *v)
{
    const char *s = ef_val_str_get(v);
    size_t n = ef_val_str_len(v);
    struct buf b = {0};
    for (size_t i = 0; i < n; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '\\': rep = "\\\\"; break;
        case '\n': rep = "\\n"; break;
        case '\t': rep = "\\t"; break;
        case '\r': rep = "\\r"; break;
        case '\f': rep = "\\f"; break;
        case '\b': rep = "\\b"; break;
        default: break;
        }
        if (rep) {
            buf_add(&b, rep, 2);
        } else {
            buf_add(&b, s + i, 1);
        }
    }
    if (b.oom) {
        free(b.p);
        return v;
    }
    ef_val_unref(v);
    return b.p ? ef_val_str_take(b.p, b.len) : ef_val_str("");
}

/* Node-RED's NodeContext.lookup: the views, then the caller's hook. */
static struct ef_val *lookup(struct render *r, const struct ctx *c, const char *name)
{
    bool at_root;
    struct ef_val *v = lookup_views(r, c, name, &at_root);
    if (r->failed) {
        return NULL;
    }
    if (v) {
        if (at_root && c->parent == NULL && r->hooks && r->hooks->escape_root_strings &&
            ef_val_type(v) == EF_STR) {
            v = json_escape(v);
        }
        return v;
    }
    if (r->hooks && r->hooks->missing) {
        return r->hooks->missing(r->hooks->ud, name);
    }
    return NULL;
}

static void escape_html(struct buf *b, const char *s, size_t n)
{
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        case '/': rep = "&#x2F;"; break;
        case '`': rep = "&#x60;"; break;
        case '=': rep = "&#x3D;"; break;
        default: break;
        }
        if (rep) {
            buf_add(b, s + from, i - from);
            buf_add(b, rep, strlen(rep));
            from = i + 1;
        }
    }
    buf_add(b, s + from, n - from);
}

/* Appends String(v), HTML-escaped unless raw (numbers are never escaped). */
static void put_value(struct render *r, const struct ef_val *v, bool raw)
{
    raw = raw || (r->hooks && r->hooks->no_html_escape);
    if (ef_val_type(v) == EF_STR) {
        if (raw) {
            buf_add(&r->out, ef_val_str_get(v), ef_val_str_len(v));
        } else {
            escape_html(&r->out, ef_val_str_get(v), ef_val_str_len(v));
        }
        return;
    }
    size_t len;
    char *s = js__to_string(v, &len);
    if (!s) {
        r->out.oom = true;
        return;
    }
    if (raw || ef_val_type(v) == EF_NUM) {
        buf_add(&r->out, s, len);
    } else {
        escape_html(&r->out, s, len);
    }
    free(s);
}

static void render_tokens(struct render *r, const struct mtok *toks, size_t n, const struct ctx *c);

/* indentPartial: prefixes the partial's lines with the tag's indentation. */
static char *indent_partial(const struct mtok *t, const char *text, size_t len, size_t *outlen)
{
    struct buf ind = {0}, out = {0};
    for (size_t i = 0; i < t->indent_len; i++) {
        if (t->indent[i] == ' ' || t->indent[i] == '\t') {
            buf_add(&ind, t->indent + i, 1);
        }
    }
    size_t line = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || text[i] == '\n') {
            if (i > line && (line > 0 || !t->line_has_nonspace)) {
                buf_add(&out, ind.p, ind.len);
            }
            buf_add(&out, text + line, i - line);
            if (i < len) {
                buf_add(&out, "\n", 1);
            }
            line = i + 1;
        }
    }
    free(ind.p);
    if (out.oom) {
        free(out.p);
        return NULL;
    }
    *outlen = out.len;
    if (!out.p) {
        return strdup("");
    }
    return out.p;
}

static void render_partial(struct render *r, const struct mtok *t, const struct ctx *c)
{
    if (!r->hooks || !r->hooks->partial) {
        return;
    }
    size_t len;
    const char *text = r->hooks->partial(r->hooks->ud, t->s, &len);
    if (!text) {
        return;
    }
    if (r->depth >= MAX_DEPTH) {
        snprintf(r->err, r->errlen, "Maximum call stack size exceeded");
        r->failed = true;
        return;
    }
    if (++r->expansions > MAX_PARTIAL_EXPANSIONS) {
        snprintf(r->err, r->errlen, "More than %d partial expansions", MAX_PARTIAL_EXPANSIONS);
        r->failed = true;
        return;
    }
    char *indented = NULL;
    if (t->tag_index == 0 && t->indent_len) {
        indented = indent_partial(t, text, len, &len);
        if (!indented) {
            r->out.oom = true;
            return;
        }
        text = indented;
    }
    r->partial_bytes += len;
    if (r->partial_bytes > MAX_PARTIAL_BYTES) {
        snprintf(r->err, r->errlen, "Partials expand to more than %u KiB", MAX_PARTIAL_BYTES >> 10);
        r->failed = true;
        free(indented);
        return;
    }
    struct mst_template *pt = mst__parse(text, len, r->err, r->errlen);
    free(indented);
    if (!pt) {
        r->failed = true;
        return;
    }
    r->depth++;
    render_tokens(r, pt->root.kids, pt->root.nkids, c);
    r->depth--;
    mst__free(pt);
}

static void render_section(struct render *r, const struct mtok *t, const struct ctx *c)
{
    struct ef_val *v = lookup(r, c, t->s);
    if (r->failed || !v || !ef_val_truthy(v)) {
        ef_val_unref(v);
        return;
    }
    enum ef_type vt = ef_val_type(v);
    if (vt == EF_ARR) {
        for (size_t j = 0; j < ef_val_arr_len(v) && !r->failed; j++) {
            struct ctx sub = {ef_val_arr_at(v, j), c};
            render_tokens(r, t->kids, t->nkids, &sub);
        }
    } else if (vt == EF_BOOL) {
        render_tokens(r, t->kids, t->nkids, c);
    } else {
        struct ctx sub = {v, c};
        render_tokens(r, t->kids, t->nkids, &sub);
    }
    ef_val_unref(v);
}

static void render_tokens(struct render *r, const struct mtok *toks, size_t n, const struct ctx *c)
{
    for (size_t i = 0; i < n && !r->failed && !r->out.oom; i++) {
        if (r->out.len > MAX_OUTPUT) {
            snprintf(r->err, r->errlen, "The output is larger than %u MiB", MAX_OUTPUT >> 20);
            r->failed = true;
            return;
        }
        const struct mtok *t = &toks[i];
        switch (t->type) {
        case T_TEXT: buf_add(&r->out, t->s, t->len); break;
        case T_SECTION: render_section(r, t, c); break;
        case T_INVERTED: {
            struct ef_val *v = lookup(r, c, t->s);
            bool empty =
                !v || !ef_val_truthy(v) || (ef_val_type(v) == EF_ARR && ef_val_arr_len(v) == 0);
            ef_val_unref(v);
            if (!r->failed && empty) {
                render_tokens(r, t->kids, t->nkids, c);
            }
            break;
        }
        case T_PARTIAL: render_partial(r, t, c); break;
        case T_NAME:
        case T_AMP: {
            struct ef_val *v = lookup(r, c, t->s);
            if (v && ef_val_type(v) != EF_NULL) {
                put_value(r, v, t->type == T_AMP);
            }
            ef_val_unref(v);
            break;
        }
        default: break;
        }
    }
}

/* Renders a parsed template against a view (see mustache.h). */
char *mst__render(const struct mst_template *t, const struct ef_val *view,
                  const struct mst_hooks *hooks, size_t *len, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    struct render r = {.hooks = hooks, .err = err, .errlen = errlen};
    struct ctx root = {view, NULL};
    buf_add(&r.out, "", 0);
    render_tokens(&r, t->root.kids, t->root.nkids, &root);
    if (r.failed || r.out.oom) {
        if (!r.failed) {
            snprintf(err, errlen, "out of memory");
        }
        free(r.out.p);
        return NULL;
    }
    if (len) {
        *len = r.out.len;
    }
    return r.out.p;
}

/* ---- Public SDK (edgeflow/mustache.h) ---- */

char *ef_mustache_render(const char *tmpl, size_t len, const struct ef_val *view, int flags,
                         size_t *out_len, char *err, size_t errlen)
{
    struct mst_template *t = mst__parse(tmpl ? tmpl : "", tmpl ? len : 0, err, errlen);
    if (!t) {
        return NULL;
    }
    struct mst_hooks hooks = {.no_html_escape = (flags & EF_MUSTACHE_NO_ESCAPE) != 0};
    char *out = mst__render(t, view, &hooks, out_len, err, errlen);
    mst__free(t);
    return out;
}
