/*
 * lexer.c - splits a JSONata expression into tokens: names, $variables,
 * operators, string/number/true/false/null literals and /regex/ literals,
 * skipping blanks and comments. Token positions are the offset just past the
 * token, as jsonata-js reports them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *ops1 = ".[]{}(),@#;:?+-*/%|=<>^&!~";

static int lex_err(struct jsonata__lexer *lx, const char *code, size_t pos, const char *tok,
                   size_t toklen)
{
    struct jsonata__errinfo *e = lx->err;
    memset(e, 0, sizeof(*e));
    snprintf(e->code, sizeof(e->code), "%s", code);
    e->position = (int)pos;
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

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

static int read_u4(const char *s, size_t avail)
{
    if (avail < 4) {
        return -1;
    }
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval((unsigned char)s[i]);
        if (h < 0) {
            return -1;
        }
        v = v * 16 + h;
    }
    return v;
}

static int lex_string(struct jsonata__lexer *lx, struct jsonata__token *t)
{
    char q = lx->src[lx->pos];
    size_t p = lx->pos + 1;
    char *buf = malloc(lx->len - lx->pos + 8);
    size_t n = 0;
    if (!buf) {
        return lex_err(lx, "D1001", p, NULL, 0);
    }
    while (p < lx->len) {
        char ch = lx->src[p];
        if (ch == '\\') {
            p++;
            ch = p < lx->len ? lx->src[p] : 0;
            switch (ch) {
            case '"': buf[n++] = '"'; break;
            case '\\': buf[n++] = '\\'; break;
            case '/': buf[n++] = '/'; break;
            case 'b': buf[n++] = '\b'; break;
            case 'f': buf[n++] = '\f'; break;
            case 'n': buf[n++] = '\n'; break;
            case 'r': buf[n++] = '\r'; break;
            case 't': buf[n++] = '\t'; break;
            case 'u': {
                int cp = read_u4(lx->src + p + 1, lx->len - p - 1);
                if (cp < 0) {
                    free(buf);
                    return lex_err(lx, "S0104", p, NULL, 0);
                }
                p += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF && p + 2 < lx->len && lx->src[p + 1] == '\\' &&
                    lx->src[p + 2] == 'u') {
                    int lo = read_u4(lx->src + p + 3, lx->len - p - 3);
                    if (lo >= 0xDC00 && lo <= 0xDFFF) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        p += 6;
                    }
                }
                n += (size_t)jsonata__utf8_put((uint32_t)cp, buf + n);
                break;
            }
            default: {
                free(buf);
                return lex_err(lx, "S0103", p, &lx->src[p], p < lx->len ? 1 : 0);
            }
            }
            p++;
            continue;
        }
        if (ch == q) {
            p++;
            t->type = TK_STR;
            t->s = jsonata__pstrndup(lx->pool, buf, n);
            t->len = n;
            free(buf);
            lx->pos = p;
            t->pos = (int)p;
            return t->s ? 0 : lex_err(lx, "D1001", p, NULL, 0);
        }
        buf[n++] = ch;
        p++;
    }
    free(buf);
    return lex_err(lx, "S0101", p, NULL, 0);
}

static int lex_regex(struct jsonata__lexer *lx, struct jsonata__token *t)
{
    size_t start = lx->pos;
    size_t p = start;
    int depth = 0;
    while (p < lx->len) {
        char ch = lx->src[p];
        if (ch == '/' && depth == 0) {
            size_t bs = 0;
            while (p >= bs + 1 && lx->src[p - bs - 1] == '\\') {
                bs++;
            }
            if (bs % 2 == 0) {
                if (p == start) {
                    return lex_err(lx, "S0301", p, NULL, 0);
                }
                t->type = TK_REGEX;
                t->s = jsonata__pstrndup(lx->pool, lx->src + start, p - start);
                t->len = p - start;
                p++;
                int nf = 0;
                while (p < lx->len && (lx->src[p] == 'i' || lx->src[p] == 'm')) {
                    if (nf < 3) {
                        t->flags[nf++] = lx->src[p];
                    }
                    p++;
                }
                t->flags[nf] = 0;
                lx->pos = p;
                t->pos = (int)p;
                return 0;
            }
        }
        bool esc = p > 0 && lx->src[p - 1] == '\\';
        if ((ch == '(' || ch == '[' || ch == '{') && !esc) {
            depth++;
        }
        if ((ch == ')' || ch == ']' || ch == '}') && !esc) {
            depth--;
        }
        p++;
    }
    return lex_err(lx, "S0302", p, NULL, 0);
}

/* Matches JSONata's number syntax at s: -?(0|[1-9][0-9]*)(\.[0-9]+)?([Ee][-+]?[0-9]+)? */
static size_t match_number(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-') {
        i++;
    }
    if (i < n && s[i] == '0') {
        i++;
    } else if (i < n && s[i] >= '1' && s[i] <= '9') {
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
    } else {
        return 0;
    }
    if (i + 1 < n && s[i] == '.' && s[i + 1] >= '0' && s[i + 1] <= '9') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < n && (s[j] == '+' || s[j] == '-')) {
            j++;
        }
        if (j < n && s[j] >= '0' && s[j] <= '9') {
            while (j < n && s[j] >= '0' && s[j] <= '9') {
                j++;
            }
            i = j;
        }
    }
    return i;
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v';
}

/* Reads the next token into *t. infix=true means a '/' is division, not a regex. */
int jsonata__lex(struct jsonata__lexer *lx, struct jsonata__token *t, bool infix)
{
    memset(t, 0, sizeof(*t));
    for (;;) {
        while (lx->pos < lx->len && is_blank(lx->src[lx->pos])) {
            lx->pos++;
        }
        if (lx->pos + 1 < lx->len && lx->src[lx->pos] == '/' && lx->src[lx->pos + 1] == '*') {
            size_t start = lx->pos;
            size_t p = lx->pos + 2;
            while (!(p + 1 < lx->len && lx->src[p] == '*' && lx->src[p + 1] == '/')) {
                if (p + 1 >= lx->len) {
                    return lex_err(lx, "S0106", start, NULL, 0);
                }
                p++;
            }
            lx->pos = p + 2;
            continue;
        }
        break;
    }
    if (lx->pos >= lx->len) {
        t->type = TK_END;
        t->pos = (int)lx->len;
        return 0;
    }
    const char *s = lx->src + lx->pos;
    size_t rest = lx->len - lx->pos;
    char ch = s[0];
    if (!infix && ch == '/') {
        lx->pos++;
        return lex_regex(lx, t);
    }
    static const char *ops2[] = {"..", ":=", "!=", ">=", "<=", "**", "~>", "?:", "??", NULL};
    if (rest >= 2) {
        for (int i = 0; ops2[i]; i++) {
            if (s[0] == ops2[i][0] && s[1] == ops2[i][1]) {
                t->type = TK_OP;
                t->s = ops2[i];
                t->len = 2;
                lx->pos += 2;
                t->pos = (int)lx->pos;
                return 0;
            }
        }
    }
    if (strchr(ops1, ch)) {
        static const char single[] =
            ".\0[\0]\0{\0}\0(\0)\0,\0@\0#\0;\0:\0?\0+\0-\0*\0/\0%\0|\0=\0<\0>"
            "\0^\0&\0!\0~";
        const char *op = single;
        while (*op != ch) {
            op += 2;
        }
        t->type = TK_OP;
        t->s = op;
        t->len = 1;
        lx->pos++;
        t->pos = (int)lx->pos;
        return 0;
    }
    if (ch == '"' || ch == '\'') {
        return lex_string(lx, t);
    }
    size_t nl = match_number(s, rest);
    if (nl > 0) {
        char tmp[64];
        if (nl >= sizeof(tmp)) {
            return lex_err(lx, "S0102", lx->pos, s, nl);
        }
        memcpy(tmp, s, nl);
        tmp[nl] = 0;
        double d = strtod(tmp, NULL);
        if (!isfinite(d)) {
            return lex_err(lx, "S0102", lx->pos, s, nl);
        }
        t->type = TK_NUM;
        t->num = d;
        lx->pos += nl;
        t->pos = (int)lx->pos;
        return 0;
    }
    if (ch == '`') {
        const char *end = memchr(s + 1, '`', rest - 1);
        if (!end) {
            lx->pos = lx->len;
            return lex_err(lx, "S0105", lx->len, NULL, 0);
        }
        t->type = TK_NAME;
        t->s = jsonata__pstrndup(lx->pool, s + 1, (size_t)(end - s - 1));
        t->len = (size_t)(end - s - 1);
        lx->pos += (size_t)(end - s) + 1;
        t->pos = (int)lx->pos;
        return 0;
    }
    size_t i = 0;
    while (i < rest && !is_blank(s[i]) && !strchr(ops1, s[i])) {
        i++;
    }
    lx->pos += i;
    t->pos = (int)lx->pos;
    if (ch == '$') {
        t->type = TK_VAR;
        t->s = jsonata__pstrndup(lx->pool, s + 1, i - 1);
        t->len = i - 1;
        return 0;
    }
    if ((i == 2 && memcmp(s, "or", 2) == 0) || (i == 2 && memcmp(s, "in", 2) == 0) ||
        (i == 3 && memcmp(s, "and", 3) == 0)) {
        t->type = TK_OP;
        t->s = s[0] == 'o' ? "or" : s[0] == 'i' ? "in" : "and";
        t->len = i;
        return 0;
    }
    if (i == 4 && memcmp(s, "true", 4) == 0) {
        t->type = TK_VALUE;
        t->value = 1;
        return 0;
    }
    if (i == 5 && memcmp(s, "false", 5) == 0) {
        t->type = TK_VALUE;
        t->value = 0;
        return 0;
    }
    if (i == 4 && memcmp(s, "null", 4) == 0) {
        t->type = TK_VALUE;
        t->value = 2;
        return 0;
    }
    t->type = TK_NAME;
    t->s = jsonata__pstrndup(lx->pool, s, i);
    t->len = i;
    return 0;
}
