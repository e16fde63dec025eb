/*
 * parser.c - turns a JSONata expression into an AST. A Pratt (top-down
 * operator precedence) parser builds the raw tree with jsonata-js's binding
 * powers and error codes; a second pass reshapes it for evaluation: paths
 * become step lists, predicates become step stages, `@`/`#` bindings and the
 * `%` parent operator are resolved into tuple steps, and lambda bodies get
 * tail-call thunks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct parser {
    struct ef_jsonata *e;
    struct jsonata__lexer lx;
    struct jsonata__token tok; /* current token */
    struct jsonata__errinfo *err;
    int label;
    int nslots;
    int depth; /* nesting of expression(), bounded so the C stack is safe */
    struct jsonata__slot **ancestry;
    int cancestry;
};

/* ---- pool ---- */

struct pool_hdr {
    void *next;
    size_t pad;
};

/* Allocates zeroed memory freed with the pool. Returns NULL on OOM. */
void *jsonata__palloc(struct jsonata__pool *p, size_t size)
{
    struct pool_hdr *h = calloc(1, sizeof(*h) + size);
    if (!h) {
        return NULL;
    }
    h->next = p->head;
    p->head = h;
    return h + 1;
}

/* Copies n bytes of s into the pool, NUL-terminated. */
char *jsonata__pstrndup(struct jsonata__pool *p, const char *s, size_t n)
{
    char *d = jsonata__palloc(p, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

/* Frees everything allocated from the pool. */
void jsonata__pool_free(struct jsonata__pool *p)
{
    struct pool_hdr *h = p->head;
    while (h) {
        struct pool_hdr *n = h->next;
        free(h);
        h = n;
    }
    p->head = NULL;
}

/* ---- helpers ---- */

static int perr(struct parser *p, const char *code, int pos, const char *tok, size_t toklen)
{
    struct jsonata__errinfo *e = p->err;
    memset(e, 0, sizeof(*e));
    snprintf(e->code, sizeof(e->code), "%s", code);
    e->position = pos;
    if (tok) {
        if (toklen >= sizeof(e->token)) {
            toklen = sizeof(e->token) - 1;
        }
        memcpy(e->token, tok, toklen);
        e->token[toklen] = 0;
        e->has_token = true;
    }
    return -1;
}

static struct jsonata__node *nnew(struct parser *p, int type, int pos)
{
    struct jsonata__node *n = jsonata__palloc(&p->e->pool, sizeof(*n));
    if (!n) {
        perr(p, "D1001", pos, NULL, 0);
        return NULL;
    }
    n->type = type;
    n->pos = pos;
    n->builtin = -1;
    n->next_all = p->e->all;
    p->e->all = n;
    return n;
}

static int grow(struct parser *p, void **arr, int *cap, int n, size_t elem)
{
    if (n < *cap) {
        return 0;
    }
    int nc = *cap ? *cap * 2 : 4;
    void *na = jsonata__palloc(&p->e->pool, (size_t)nc * elem);
    if (!na) {
        return perr(p, "D1001", 0, NULL, 0);
    }
    if (*arr) {
        memcpy(na, *arr, (size_t)n * elem);
    }
    *arr = na;
    *cap = nc;
    return 0;
}

static int push_item(struct parser *p, struct jsonata__node *n, struct jsonata__node *item)
{
    if (grow(p, (void **)&n->items, &n->citems, n->nitems, sizeof(item)) < 0) {
        return -1;
    }
    n->items[n->nitems++] = item;
    return 0;
}

static int push_seek(struct parser *p, struct jsonata__node *n, struct jsonata__slot *s)
{
    if (grow(p, (void **)&n->seeking, &n->cseeking, n->nseeking, sizeof(s)) < 0) {
        return -1;
    }
    n->seeking[n->nseeking++] = s;
    n->has_seeking = true;
    return 0;
}

static bool tok_is(const struct jsonata__token *t, const char *op)
{
    return t->type == TK_OP && strcmp(t->s, op) == 0;
}

static const char *tok_id(const struct jsonata__token *t)
{
    switch (t->type) {
    case TK_END: return "(end)";
    case TK_OP: return t->s;
    case TK_NAME:
    case TK_VAR: return "(name)";
    case TK_REGEX: return "(regex)";
    default: return "(literal)";
    }
}

static void tok_text(const struct jsonata__token *t, char *buf, size_t len)
{
    switch (t->type) {
    case TK_END: snprintf(buf, len, "(end)"); break;
    case TK_NUM: jsonata__num_str(t->num, buf, false); break;
    case TK_VALUE:
        snprintf(buf, len, "%s", t->value == 1 ? "true" : t->value ? "null" : "false");
        break;
    default: snprintf(buf, len, "%.*s", (int)t->len, t->s ? t->s : ""); break;
    }
}

static int lbp_of(const struct jsonata__token *t)
{
    if (t->type != TK_OP) {
        return 0;
    }
    static const struct {
        const char *op;
        int bp;
    } tbl[] = {{".", 75},  {"[", 80},   {"{", 70},  {"(", 80},  {"@", 80},  {"#", 80},  {"?", 20},
               {"+", 50},  {"-", 50},   {"*", 60},  {"/", 60},  {"%", 60},  {"=", 40},  {"<", 40},
               {">", 40},  {"^", 40},   {"!=", 40}, {"<=", 40}, {">=", 40}, {"~>", 40}, {"?:", 40},
               {"??", 40}, {"and", 30}, {"or", 25}, {"in", 40}, {"&", 50},  {":=", 10}, {NULL, 0}};
    for (int i = 0; tbl[i].op; i++) {
        if (strcmp(tbl[i].op, t->s) == 0) {
            return tbl[i].bp;
        }
    }
    return 0;
}

static bool known_op(const char *s)
{
    static const char *known[] = {".",  "[",  "]",   "{",  "}",  "(",  ")",  ",",  "@",  "#",
                                  ";",  ":",  "?",   "+",  "-",  "*",  "/",  "%",  "|",  "=",
                                  "<",  ">",  "^",   "**", "..", ":=", "!=", "<=", ">=", "~>",
                                  "?:", "??", "and", "or", "in", "&",  NULL};
    for (int i = 0; known[i]; i++) {
        if (strcmp(known[i], s) == 0) {
            return true;
        }
    }
    return false;
}

/* Moves to the next token; `id` (if set) must be the current one. */
static int advance(struct parser *p, const char *id, bool infix)
{
    if (id && strcmp(tok_id(&p->tok), id) != 0) {
        char t[64];
        tok_text(&p->tok, t, sizeof(t));
        int r = perr(p, p->tok.type == TK_END ? "S0203" : "S0202", p->tok.pos,
                     p->tok.type == TK_END ? NULL : t, strlen(t));
        snprintf(p->err->value, sizeof(p->err->value), "\"%s\"", id);
        p->err->has_value = true;
        p->err->token_raw = p->tok.type == TK_NUM || p->tok.type == TK_VALUE;
        return r;
    }
    if (jsonata__lex(&p->lx, &p->tok, infix) < 0) {
        return -1;
    }
    if (p->tok.type == TK_OP && !known_op(p->tok.s)) {
        return perr(p, "S0204", p->tok.pos, p->tok.s, p->tok.len);
    }
    return 0;
}

static struct jsonata__node *expression(struct parser *p, int rbp);
static struct jsonata__node *expression_inner(struct parser *p, int rbp);

static int binop_of(const char *s)
{
    static const struct {
        const char *s;
        int op;
    } t[] = {{"+", OP_ADD}, {"-", OP_SUB},    {"*", OP_MUL},   {"/", OP_DIV}, {"%", OP_MOD},
             {"=", OP_EQ},  {"!=", OP_NE},    {"<", OP_LT},    {"<=", OP_LE}, {">", OP_GT},
             {">=", OP_GE}, {"&", OP_CONCAT}, {"and", OP_AND}, {"or", OP_OR}, {"in", OP_IN},
             {".", OP_DOT}, {"~>", OP_APPLY}, {NULL, 0}};
    for (int i = 0; t[i].s; i++) {
        if (strcmp(t[i].s, s) == 0) {
            return t[i].op;
        }
    }
    return OP_NONE;
}

static struct jsonata__node *parse_object(struct parser *p, struct jsonata__node *n)
{
    if (!tok_is(&p->tok, "}")) {
        for (;;) {
            struct jsonata__node *k = expression(p, 0);
            if (!k || advance(p, ":", false) < 0) {
                return NULL;
            }
            struct jsonata__node *v = expression(p, 0);
            if (!v || push_item(p, n, k) < 0 || push_item(p, n, v) < 0) {
                return NULL;
            }
            if (!tok_is(&p->tok, ",")) {
                break;
            }
            if (advance(p, ",", false) < 0) {
                return NULL;
            }
        }
    }
    if (advance(p, "}", true) < 0) {
        return NULL;
    }
    return n;
}

/* Null denotation: t is the token just consumed (a copy). */
static struct jsonata__node *nud(struct parser *p, struct jsonata__token *t)
{
    struct jsonata__node *n;
    switch (t->type) {
    case TK_END: return nnew(p, N_END, t->pos); /* S0207 when processed */
    case TK_NAME:
        n = nnew(p, N_NAME, t->pos);
        if (n) {
            n->str = t->s;
            n->slen = t->len;
        }
        return n;
    case TK_VAR:
        n = nnew(p, N_VARIABLE, t->pos);
        if (n) {
            n->str = t->s;
            n->slen = t->len;
        }
        return n;
    case TK_STR:
        n = nnew(p, N_STRING, t->pos);
        if (n) {
            n->str = t->s;
            n->slen = t->len;
            n->lit = ef_val_strn(t->s, t->len);
        }
        return n;
    case TK_NUM:
        n = nnew(p, N_NUMBER, t->pos);
        if (n) {
            n->num = t->num;
            n->lit = ef_val_num(t->num);
        }
        return n;
    case TK_VALUE:
        n = nnew(p, N_VALUE, t->pos);
        if (n) {
            n->num = t->value;
            n->lit = t->value == 2 ? ef_val_null() : ef_val_bool(t->value == 1);
        }
        return n;
    case TK_REGEX:
        n = nnew(p, N_REGEX, t->pos);
        if (!n) {
            return NULL;
        }
        n->str = t->s;
        n->slen = t->len;
        n->re = jsonata__regex_compile(t->s, t->len, t->flags, p->err);
        if (!n->re) {
            p->err->position = t->pos;
            return NULL;
        }
        return n;
    default: break;
    }
    /* operators */
    const char *op = t->s;
    if (strcmp(op, "and") == 0 || strcmp(op, "or") == 0 || strcmp(op, "in") == 0) {
        n = nnew(p, N_NAME, t->pos);
        if (n) {
            n->str = op;
            n->slen = strlen(op);
        }
        return n;
    }
    if (strcmp(op, "-") == 0) {
        n = nnew(p, N_NEG, t->pos);
        if (!n || !(n->lhs = expression(p, 70))) {
            return NULL;
        }
        return n;
    }
    if (strcmp(op, "*") == 0) {
        return nnew(p, N_WILDCARD, t->pos);
    }
    if (strcmp(op, "**") == 0) {
        return nnew(p, N_DESCENDANT, t->pos);
    }
    if (strcmp(op, "%") == 0) {
        return nnew(p, N_PARENT, t->pos);
    }
    if (strcmp(op, "(") == 0) {
        n = nnew(p, N_BLOCK, t->pos);
        if (!n) {
            return NULL;
        }
        while (!tok_is(&p->tok, ")")) {
            struct jsonata__node *x = expression(p, 0);
            if (!x || push_item(p, n, x) < 0) {
                return NULL;
            }
            if (!tok_is(&p->tok, ";")) {
                break;
            }
            if (advance(p, ";", false) < 0) {
                return NULL;
            }
        }
        if (advance(p, ")", true) < 0) {
            return NULL;
        }
        return n;
    }
    if (strcmp(op, "[") == 0) {
        n = nnew(p, N_ARRAY, t->pos);
        if (!n) {
            return NULL;
        }
        if (!tok_is(&p->tok, "]")) {
            for (;;) {
                struct jsonata__node *item = expression(p, 0);
                if (!item) {
                    return NULL;
                }
                if (tok_is(&p->tok, "..")) {
                    struct jsonata__node *r = nnew(p, N_BINARY, p->tok.pos);
                    if (!r) {
                        return NULL;
                    }
                    r->op = OP_RANGE;
                    r->lhs = item;
                    if (advance(p, "..", false) < 0 || !(r->rhs = expression(p, 0))) {
                        return NULL;
                    }
                    item = r;
                }
                if (push_item(p, n, item) < 0) {
                    return NULL;
                }
                if (!tok_is(&p->tok, ",")) {
                    break;
                }
                if (advance(p, ",", false) < 0) {
                    return NULL;
                }
            }
        }
        if (advance(p, "]", true) < 0) {
            return NULL;
        }
        return n;
    }
    if (strcmp(op, "{") == 0) {
        n = nnew(p, N_OBJECT, t->pos);
        return n ? parse_object(p, n) : NULL;
    }
    if (strcmp(op, "|") == 0) {
        n = nnew(p, N_TRANSFORM, t->pos);
        if (!n || !(n->cond = expression(p, 0)) || advance(p, "|", false) < 0 ||
            !(n->then = expression(p, 0))) {
            return NULL;
        }
        if (tok_is(&p->tok, ",")) {
            if (advance(p, ",", false) < 0 || !(n->els = expression(p, 0))) {
                return NULL;
            }
        }
        if (advance(p, "|", false) < 0) {
            return NULL;
        }
        return n;
    }
    perr(p, "S0211", t->pos, op, strlen(op));
    return NULL;
}

static struct jsonata__node *parse_call(struct parser *p, struct jsonata__token *t,
                                        struct jsonata__node *left)
{
    struct jsonata__node *n = nnew(p, N_FUNCTION, t->pos);
    if (!n) {
        return NULL;
    }
    n->proc = left;
    if (!tok_is(&p->tok, ")")) {
        for (;;) {
            struct jsonata__node *a;
            if (tok_is(&p->tok, "?")) {
                n->type = N_PARTIAL;
                a = nnew(p, N_PLACEHOLDER, p->tok.pos);
                if (!a || advance(p, "?", false) < 0) {
                    return NULL;
                }
            } else {
                a = expression(p, 0);
                if (!a) {
                    return NULL;
                }
            }
            if (push_item(p, n, a) < 0) {
                return NULL;
            }
            if (!tok_is(&p->tok, ",")) {
                break;
            }
            if (advance(p, ",", false) < 0) {
                return NULL;
            }
        }
    }
    if (advance(p, ")", true) < 0) {
        return NULL;
    }
    if (left->type == N_NAME && ((left->slen == 8 && memcmp(left->str, "function", 8) == 0) ||
                                 (left->slen == 2 && memcmp(left->str, "\xce\xbb", 2) == 0))) {
        for (int i = 0; i < n->nitems; i++) {
            struct jsonata__node *a = n->items[i];
            if (a->type != N_VARIABLE) {
                char tb[64];
                snprintf(tb, sizeof(tb), "%.*s", (int)a->slen, a->str ? a->str : "");
                perr(p, "S0208", a->pos, tb, strlen(tb));
                p->err->index = i + 1;
                snprintf(p->err->value, sizeof(p->err->value), "%d", i + 1);
                return NULL;
            }
        }
        n->type = N_LAMBDA;
        if (tok_is(&p->tok, "<")) {
            int sigpos = p->tok.pos;
            int depth = 1;
            char sig[128] = "<";
            size_t sl = 1;
            while (depth > 0 && !tok_is(&p->tok, "{") && p->tok.type != TK_END) {
                if (advance(p, NULL, false) < 0) {
                    return NULL;
                }
                if (tok_is(&p->tok, ">")) {
                    depth--;
                } else if (tok_is(&p->tok, "<")) {
                    depth++;
                }
                char tb[64];
                tok_text(&p->tok, tb, sizeof(tb));
                size_t tl = strlen(tb);
                if (p->tok.type != TK_END && sl + tl < sizeof(sig)) {
                    memcpy(sig + sl, tb, tl + 1);
                    sl += tl;
                }
            }
            if (advance(p, ">", false) < 0) {
                return NULL;
            }
            n->sig = jsonata__palloc(&p->e->pool, sizeof(*n->sig));
            if (!n->sig) {
                return NULL;
            }
            if (jsonata__sig_parse(sig, n->sig, p->err) < 0) {
                p->err->position += sigpos;
                return NULL;
            }
        }
        if (advance(p, "{", false) < 0 || !(n->body = expression(p, 0)) ||
            advance(p, "}", false) < 0) {
            return NULL;
        }
    }
    return n;
}

/* Left denotation: t is the operator token just consumed. */
static struct jsonata__node *led(struct parser *p, struct jsonata__token *t,
                                 struct jsonata__node *left)
{
    const char *op = t->s;
    struct jsonata__node *n;
    if (strcmp(op, "(") == 0) {
        return parse_call(p, t, left);
    }
    if (strcmp(op, "[") == 0) {
        if (tok_is(&p->tok, "]")) {
            struct jsonata__node *step = left;
            while (step && step->type == N_BINARY && step->op == OP_PRED) {
                step = step->lhs;
            }
            step->keep_array = true;
            if (advance(p, "]", false) < 0) {
                return NULL;
            }
            return left;
        }
        n = nnew(p, N_BINARY, t->pos);
        if (!n) {
            return NULL;
        }
        n->op = OP_PRED;
        n->lhs = left;
        if (!(n->rhs = expression(p, 0)) || advance(p, "]", true) < 0) {
            return NULL;
        }
        return n;
    }
    if (strcmp(op, "{") == 0) {
        n = nnew(p, N_GROUPBY, t->pos);
        if (!n) {
            return NULL;
        }
        n->lhs = left;
        return parse_object(p, n);
    }
    if (strcmp(op, "^") == 0) {
        n = nnew(p, N_ORDERBY, t->pos);
        if (!n || advance(p, "(", false) < 0) {
            return NULL;
        }
        n->lhs = left;
        bool descs[64];
        for (;;) {
            bool d = false;
            if (tok_is(&p->tok, "<")) {
                if (advance(p, "<", false) < 0) {
                    return NULL;
                }
            } else if (tok_is(&p->tok, ">")) {
                d = true;
                if (advance(p, ">", false) < 0) {
                    return NULL;
                }
            }
            struct jsonata__node *x = expression(p, 0);
            if (!x || push_item(p, n, x) < 0) {
                return NULL;
            }
            if (n->nitems <= 64) {
                descs[n->nitems - 1] = d;
            }
            if (!tok_is(&p->tok, ",")) {
                break;
            }
            if (advance(p, ",", false) < 0) {
                return NULL;
            }
        }
        if (advance(p, ")", false) < 0) {
            return NULL;
        }
        n->desc = jsonata__palloc(&p->e->pool, (size_t)n->nitems * sizeof(bool));
        if (!n->desc) {
            return NULL;
        }
        for (int i = 0; i < n->nitems && i < 64; i++) {
            n->desc[i] = descs[i];
        }
        return n;
    }
    if (strcmp(op, ":=") == 0) {
        if (left->type != N_VARIABLE) {
            char tb[64];
            snprintf(tb, sizeof(tb), "%.*s", (int)left->slen, left->str ? left->str : "");
            perr(p, "S0212", left->pos, tb, strlen(tb));
            return NULL;
        }
        n = nnew(p, N_BINARY, t->pos);
        if (!n) {
            return NULL;
        }
        n->op = OP_BIND;
        n->lhs = left;
        if (!(n->rhs = expression(p, 9))) {
            return NULL;
        }
        return n;
    }
    if (strcmp(op, "@") == 0 || strcmp(op, "#") == 0) {
        n = nnew(p, N_BINARY, t->pos);
        if (!n) {
            return NULL;
        }
        n->op = op[0] == '@' ? OP_FOCUS : OP_INDEX;
        n->lhs = left;
        if (!(n->rhs = expression(p, 80))) {
            return NULL;
        }
        if (n->rhs->type != N_VARIABLE) {
            perr(p, "S0214", n->rhs->pos, op, 1);
            return NULL;
        }
        return n;
    }
    if (strcmp(op, "?") == 0) {
        n = nnew(p, N_CONDITION, t->pos);
        if (!n) {
            return NULL;
        }
        n->cond = left;
        if (!(n->then = expression(p, 0))) {
            return NULL;
        }
        if (tok_is(&p->tok, ":")) {
            if (advance(p, ":", false) < 0 || !(n->els = expression(p, 0))) {
                return NULL;
            }
        }
        return n;
    }
    if (strcmp(op, "?:") == 0 || strcmp(op, "??") == 0) {
        n = nnew(p, N_CONDITION, t->pos);
        if (!n) {
            return NULL;
        }
        n->op = op[1] == ':' ? 1 : 2; /* 1 elvis, 2 coalescing */
        n->cond = left;
        if (!(n->els = expression(p, 0))) {
            return NULL;
        }
        return n;
    }
    int bop = binop_of(op);
    if (bop == OP_NONE) {
        perr(p, "S0201", t->pos, op, strlen(op));
        return NULL;
    }
    n = nnew(p, N_BINARY, t->pos);
    if (!n) {
        return NULL;
    }
    n->op = bop;
    n->str = op;
    n->lhs = left;
    if (!(n->rhs = expression(p, lbp_of(t)))) {
        return NULL;
    }
    return n;
}

#define MAX_NESTING 400

static struct jsonata__node *expression(struct parser *p, int rbp)
{
    if (p->depth >= MAX_NESTING) {
        perr(p, "U1001", p->tok.pos, NULL, 0);
        snprintf(p->err->text, sizeof(p->err->text),
                 "Stack overflow error: the expression is nested too deeply");
        return NULL;
    }
    p->depth++;
    struct jsonata__node *r = expression_inner(p, rbp);
    p->depth--;
    return r;
}

static struct jsonata__node *expression_inner(struct parser *p, int rbp)
{
    struct jsonata__token t = p->tok;
    if (advance(p, NULL, true) < 0) {
        return NULL;
    }
    struct jsonata__node *left = nud(p, &t);
    if (!left) {
        return NULL;
    }
    while (rbp < lbp_of(&p->tok)) {
        t = p->tok;
        if (advance(p, NULL, false) < 0) {
            return NULL;
        }
        left = led(p, &t, left);
        if (!left) {
            return NULL;
        }
    }
    return left;
}

/* ---- AST post-processing ---- */

static struct jsonata__node *process(struct parser *p, struct jsonata__node *x);

static int push_ancestry(struct parser *p, struct jsonata__node *res, struct jsonata__node *val)
{
    if (val->has_seeking || val->type == N_PARENT) {
        if (!res->has_seeking) {
            res->has_seeking = true;
        }
        for (int i = 0; i < val->nseeking; i++) {
            if (push_seek(p, res, val->seeking[i]) < 0) {
                return -1;
            }
        }
        if (val->type == N_PARENT && push_seek(p, res, val->slot) < 0) {
            return -1;
        }
    }
    return 0;
}

static struct jsonata__slot *seek_parent(struct parser *p, struct jsonata__node *node,
                                         struct jsonata__slot *slot)
{
    switch (node->type) {
    case N_NAME:
    case N_WILDCARD:
        slot->level--;
        if (slot->level == 0) {
            if (node->ancestor) {
                p->ancestry[slot->index]->label = node->ancestor->label;
            }
            node->ancestor = slot;
            node->tuple = true;
        }
        break;
    case N_PARENT: slot->level++; break;
    case N_BLOCK:
        if (node->nitems > 0) {
            node->tuple = true;
            slot = seek_parent(p, node->items[node->nitems - 1], slot);
        }
        break;
    case N_PATH: {
        node->tuple = true;
        int index = node->nitems - 1;
        slot = seek_parent(p, node->items[index--], slot);
        while (slot && slot->level > 0 && index >= 0) {
            slot = seek_parent(p, node->items[index--], slot);
        }
        break;
    }
    default: {
        static const char *names[] = {
            "",       "path",      "binary", "unary",    "unary",      "unary",    "name",
            "string", "number",    "value",  "wildcard", "descendant", "parent",   "condition",
            "block",  "bind",      "regex",  "function", "partial",    "variable", "lambda",
            "apply",  "transform", "sort",   "operator", "operator",   "binary",   "binary"};
        const char *nm =
            node->type < (int)(sizeof(names) / sizeof(names[0])) ? names[node->type] : "?";
        perr(p, "S0217", node->pos, nm, strlen(nm));
        return NULL;
    }
    }
    return slot;
}

static int resolve_ancestry(struct parser *p, struct jsonata__node *path)
{
    struct jsonata__node *last = path->items[path->nitems - 1];
    int nslots = last->nseeking + (last->type == N_PARENT ? 1 : 0);
    struct jsonata__slot *slots[nslots + 1];
    for (int i = 0; i < last->nseeking; i++) {
        slots[i] = last->seeking[i];
    }
    if (last->type == N_PARENT) {
        slots[last->nseeking] = last->slot;
    }
    for (int is = 0; is < nslots; is++) {
        struct jsonata__slot *slot = slots[is];
        int index = path->nitems - 2;
        while (slot->level > 0) {
            if (index < 0) {
                if (push_seek(p, path, slot) < 0) {
                    return -1;
                }
                break;
            }
            struct jsonata__node *step = path->items[index--];
            while (index >= 0 && step->focus && path->items[index]->focus) {
                step = path->items[index--];
            }
            slot = seek_parent(p, step, slot);
            if (!slot) {
                return -1;
            }
        }
    }
    return 0;
}

static struct jsonata__node *tail_call(struct parser *p, struct jsonata__node *x)
{
    if (x->type == N_FUNCTION && x->npreds == 0) {
        struct jsonata__node *th = nnew(p, N_LAMBDA, x->pos);
        if (!th) {
            return NULL;
        }
        th->thunk = true;
        th->body = x;
        return th;
    }
    if (x->type == N_CONDITION && x->op == 0) {
        if (!(x->then = tail_call(p, x->then))) {
            return NULL;
        }
        if (x->els && !(x->els = tail_call(p, x->els))) {
            return NULL;
        }
        return x;
    }
    if (x->type == N_BLOCK && x->nitems > 0) {
        if (!(x->items[x->nitems - 1] = tail_call(p, x->items[x->nitems - 1]))) {
            return NULL;
        }
    }
    return x;
}

static int add_stage(struct parser *p, struct jsonata__node *step, struct jsonata__stage st)
{
    if (grow(p, (void **)&step->stages, &step->cstages, step->nstages, sizeof(st)) < 0) {
        return -1;
    }
    step->stages[step->nstages++] = st;
    return 0;
}

static int add_pred(struct parser *p, struct jsonata__node *step, struct jsonata__node *pr)
{
    if (grow(p, (void **)&step->preds, &step->cpreds, step->npreds, sizeof(pr)) < 0) {
        return -1;
    }
    step->preds[step->npreds++] = pr;
    return 0;
}

/* Moves a non-path node's predicates into stages (when it becomes a step). */
static int preds_to_stages(struct parser *p, struct jsonata__node *n)
{
    for (int i = 0; i < n->npreds; i++) {
        struct jsonata__stage st = {false, n->preds[i], NULL, n->preds[i]->pos};
        if (add_stage(p, n, st) < 0) {
            return -1;
        }
    }
    n->npreds = 0;
    return 0;
}

static struct jsonata__node *wrap_path(struct parser *p, struct jsonata__node *step)
{
    struct jsonata__node *path = nnew(p, N_PATH, step->pos);
    if (!path || push_item(p, path, step) < 0) {
        return NULL;
    }
    return path;
}

static struct jsonata__node *process_dot(struct parser *p, struct jsonata__node *x)
{
    struct jsonata__node *lstep = process(p, x->lhs);
    if (!lstep) {
        return NULL;
    }
    struct jsonata__node *res;
    if (lstep->type == N_PATH) {
        res = lstep;
    } else {
        res = wrap_path(p, lstep);
        if (!res) {
            return NULL;
        }
    }
    if (lstep->type == N_PARENT) {
        res->nseeking = 0;
        if (push_seek(p, res, lstep->slot) < 0) {
            return NULL;
        }
    }
    struct jsonata__node *rest = process(p, x->rhs);
    if (!rest) {
        return NULL;
    }
    if (rest->type == N_PATH) {
        for (int i = 0; i < rest->nitems; i++) {
            if (push_item(p, res, rest->items[i]) < 0) {
                return NULL;
            }
        }
    } else {
        if (preds_to_stages(p, rest) < 0 || push_item(p, res, rest) < 0) {
            return NULL;
        }
    }
    for (int i = 0; i < res->nitems; i++) {
        struct jsonata__node *st = res->items[i];
        if (st->type == N_NUMBER || st->type == N_VALUE) {
            char tb[64];
            if (st->type == N_NUMBER) {
                jsonata__num_str(st->num, tb, false);
            } else {
                snprintf(tb, sizeof(tb), "%s", st->num == 1 ? "true" : st->num ? "null" : "false");
            }
            perr(p, "S0213", st->pos, tb, strlen(tb));
            snprintf(p->err->value, sizeof(p->err->value), "%s", tb);
            p->err->has_value = true;
            return NULL;
        }
        if (st->type == N_STRING) {
            st->type = N_NAME;
        }
    }
    for (int i = 0; i < res->nitems; i++) {
        if (res->items[i]->keep_array) {
            res->keep_singleton = true;
        }
    }
    struct jsonata__node *first = res->items[0];
    if (first->type == N_ARRAY) {
        first->cons_array = true;
    }
    struct jsonata__node *last = res->items[res->nitems - 1];
    if (last->type == N_ARRAY) {
        last->cons_array = true;
    }
    if (resolve_ancestry(p, res) < 0) {
        return NULL;
    }
    return res;
}

static struct jsonata__node *process_binary(struct parser *p, struct jsonata__node *x)
{
    struct jsonata__node *res, *step;
    switch (x->op) {
    case OP_DOT: return process_dot(p, x);
    case OP_PRED: {
        res = process(p, x->lhs);
        if (!res) {
            return NULL;
        }
        step = res;
        bool stages = false;
        if (res->type == N_PATH) {
            step = res->items[res->nitems - 1];
            stages = true;
        }
        if (step->has_group) {
            perr(p, "S0209", x->pos, NULL, 0);
            return NULL;
        }
        struct jsonata__node *pred = process(p, x->rhs);
        if (!pred) {
            return NULL;
        }
        if (pred->has_seeking) {
            for (int i = 0; i < pred->nseeking; i++) {
                struct jsonata__slot *slot = pred->seeking[i];
                if (slot->level == 1) {
                    if (!seek_parent(p, step, slot)) {
                        return NULL;
                    }
                } else {
                    slot->level--;
                }
            }
            if (push_ancestry(p, step, pred) < 0) {
                return NULL;
            }
        }
        if (stages) {
            struct jsonata__stage st = {false, pred, NULL, x->pos};
            if (add_stage(p, step, st) < 0) {
                return NULL;
            }
        } else if (add_pred(p, step, pred) < 0) {
            return NULL;
        }
        return res;
    }
    case OP_BIND:
        res = nnew(p, N_BIND, x->pos);
        if (!res || !(res->lhs = process(p, x->lhs)) || !(res->rhs = process(p, x->rhs))) {
            return NULL;
        }
        if (push_ancestry(p, res, res->rhs) < 0) {
            return NULL;
        }
        return res;
    case OP_FOCUS:
        res = process(p, x->lhs);
        if (!res) {
            return NULL;
        }
        step = res;
        if (res->type == N_PATH) {
            step = res->items[res->nitems - 1];
        }
        if (step->nstages > 0 || step->npreds > 0) {
            perr(p, "S0215", x->pos, NULL, 0);
            return NULL;
        }
        if (step->type == N_SORT) {
            perr(p, "S0216", x->pos, NULL, 0);
            return NULL;
        }
        if (x->keep_array) {
            step->keep_array = true;
        }
        step->focus = x->rhs->str;
        step->tuple = true;
        return res;
    case OP_INDEX:
        res = process(p, x->lhs);
        if (!res) {
            return NULL;
        }
        step = res;
        if (res->type == N_PATH) {
            step = res->items[res->nitems - 1];
        } else {
            res = wrap_path(p, res);
            if (!res || preds_to_stages(p, step) < 0) {
                return NULL;
            }
        }
        if (step->nstages == 0) {
            step->index = x->rhs->str;
        } else {
            struct jsonata__stage st = {true, NULL, x->rhs->str, x->pos};
            if (add_stage(p, step, st) < 0) {
                return NULL;
            }
        }
        step->tuple = true;
        return res;
    case OP_APPLY:
        res = nnew(p, N_APPLY, x->pos);
        if (!res || !(res->lhs = process(p, x->lhs)) || !(res->rhs = process(p, x->rhs))) {
            return NULL;
        }
        res->keep_array = res->lhs->keep_array || res->rhs->keep_array;
        return res;
    default:
        res = nnew(p, N_BINARY, x->pos);
        if (!res) {
            return NULL;
        }
        res->op = x->op;
        res->str = x->str;
        if (!(res->lhs = process(p, x->lhs)) || push_ancestry(p, res, res->lhs) < 0 ||
            !(res->rhs = process(p, x->rhs)) || push_ancestry(p, res, res->rhs) < 0) {
            return NULL;
        }
        res->keep_array = x->keep_array;
        return res;
    }
}

static struct jsonata__node *process(struct parser *p, struct jsonata__node *x)
{
    struct jsonata__node *res;
    switch (x->type) {
    case N_BINARY: res = process_binary(p, x); break;
    case N_GROUPBY:
        res = process(p, x->lhs);
        if (!res) {
            return NULL;
        }
        if (res->has_group) {
            perr(p, "S0210", x->pos, NULL, 0);
            return NULL;
        }
        res->has_group = true;
        res->group_pos = x->pos;
        res->ngroup = x->nitems;
        res->group = jsonata__palloc(&p->e->pool, sizeof(*res->group) * (size_t)(x->nitems + 1));
        if (!res->group) {
            return NULL;
        }
        for (int i = 0; i < x->nitems; i++) {
            if (!(res->group[i] = process(p, x->items[i]))) {
                return NULL;
            }
        }
        break;
    case N_ORDERBY: {
        res = process(p, x->lhs);
        if (!res) {
            return NULL;
        }
        if (res->type != N_PATH && !(res = wrap_path(p, res))) {
            return NULL;
        }
        struct jsonata__node *sort = nnew(p, N_SORT, x->pos);
        if (!sort) {
            return NULL;
        }
        sort->desc = x->desc;
        for (int i = 0; i < x->nitems; i++) {
            struct jsonata__node *e = process(p, x->items[i]);
            if (!e || push_ancestry(p, sort, e) < 0 || push_item(p, sort, e) < 0) {
                return NULL;
            }
        }
        if (push_item(p, res, sort) < 0 || resolve_ancestry(p, res) < 0) {
            return NULL;
        }
        break;
    }
    case N_NEG:
        res = process(p, x->lhs);
        if (!res) {
            return NULL;
        }
        if (res->type == N_NUMBER) {
            res->num = -res->num;
            ef_val_unref(res->lit);
            res->lit = ef_val_num(res->num);
        } else {
            struct jsonata__node *neg = nnew(p, N_NEG, x->pos);
            if (!neg) {
                return NULL;
            }
            neg->lhs = res;
            if (push_ancestry(p, neg, res) < 0) {
                return NULL;
            }
            neg->keep_array = x->keep_array;
            res = neg;
        }
        break;
    case N_ARRAY:
    case N_OBJECT:
    case N_BLOCK:
        res = x;
        for (int i = 0; i < x->nitems; i++) {
            struct jsonata__node *v = process(p, x->items[i]);
            if (!v) {
                return NULL;
            }
            x->items[i] = v;
            if (push_ancestry(p, res, v) < 0) {
                return NULL;
            }
            if (x->type == N_BLOCK &&
                (v->cons_array || (v->type == N_PATH && v->items[0]->cons_array))) {
                res->cons_array = true;
            }
        }
        break;
    case N_FUNCTION:
    case N_PARTIAL:
        res = x;
        for (int i = 0; i < x->nitems; i++) {
            struct jsonata__node *v = process(p, x->items[i]);
            if (!v || push_ancestry(p, res, v) < 0) {
                return NULL;
            }
            x->items[i] = v;
        }
        if (!(x->proc = process(p, x->proc))) {
            return NULL;
        }
        break;
    case N_LAMBDA: {
        res = x;
        struct jsonata__node *body = process(p, x->body);
        if (!body || !(x->body = tail_call(p, body))) {
            return NULL;
        }
        break;
    }
    case N_CONDITION:
        res = x;
        if (!(x->cond = process(p, x->cond)) || push_ancestry(p, res, x->cond) < 0) {
            return NULL;
        }
        if (x->then && (!(x->then = process(p, x->then)) || push_ancestry(p, res, x->then) < 0)) {
            return NULL;
        }
        if (x->els && (!(x->els = process(p, x->els)) || push_ancestry(p, res, x->els) < 0)) {
            return NULL;
        }
        break;
    case N_TRANSFORM:
        res = x;
        if (!(x->cond = process(p, x->cond)) || !(x->then = process(p, x->then))) {
            return NULL;
        }
        if (x->els && !(x->els = process(p, x->els))) {
            return NULL;
        }
        break;
    case N_NAME:
        res = wrap_path(p, x);
        if (!res) {
            return NULL;
        }
        if (x->keep_array) {
            res->keep_singleton = true;
        }
        break;
    case N_PARENT: {
        res = x;
        x->slot = jsonata__palloc(&p->e->pool, sizeof(*x->slot));
        if (!x->slot) {
            return NULL;
        }
        x->slot->label = p->label++;
        x->slot->level = 1;
        x->slot->index = p->nslots++;
        if (grow(p, (void **)&p->ancestry, &p->cancestry, x->slot->index, sizeof(void *)) < 0) {
            return NULL;
        }
        p->ancestry[x->slot->index] = x->slot;
        break;
    }
    case N_VARIABLE:
        res = x;
        res->builtin = jsonata__builtin_find(x->str, x->slen);
        break;
    case N_END: perr(p, "S0207", x->pos, "(end)", 5); return NULL;
    default: res = x; break;
    }
    if (res && x->keep_array) {
        res->keep_array = true;
    }
    return res;
}

/* Parses e->src into e->root; returns 0, or -1 with *err filled in. */
int jsonata__parse(struct ef_jsonata *e, struct jsonata__errinfo *err)
{
    struct parser p;
    memset(&p, 0, sizeof(p));
    p.e = e;
    p.err = err;
    p.lx.src = e->src;
    p.lx.len = strlen(e->src);
    p.lx.pool = &e->pool;
    p.lx.err = err;
    if (advance(&p, NULL, false) < 0) {
        return -1;
    }
    struct jsonata__node *raw = expression(&p, 0);
    if (!raw) {
        return -1;
    }
    if (p.tok.type != TK_END) {
        char t[64];
        tok_text(&p.tok, t, sizeof(t));
        return perr(&p, "S0201", p.tok.pos, t, strlen(t));
    }
    struct jsonata__node *root = process(&p, raw);
    if (!root) {
        return -1;
    }
    if (root->type == N_PARENT || root->has_seeking) {
        const char *t = root->type == N_PARENT ? "parent"
                        : root->type == N_PATH ? "path"
                                               : "binary";
        return perr(&p, "S0217", root->pos, t, strlen(t));
    }
    e->root = root;
    return 0;
}
