/*
 * regex.c - JSONata regex literals on PCRE2, set up to behave like
 * JavaScript regular expressions (UTF-8, \uXXXX escapes, `$` only at the
 * end, unset back-references match empty), with match limits so that
 * catastrophic patterns fail instead of hanging.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "js.h"

/* Compiles a regex literal; NULL with err (S0301-like) on failure. */
pcre2_code *jsonata__regex_compile(const char *pat, size_t len, const char *flags,
                                   struct jsonata__errinfo *err)
{
    uint32_t opts = PCRE2_UTF | PCRE2_ALT_BSUX | PCRE2_MATCH_UNSET_BACKREF | PCRE2_DOLLAR_ENDONLY;
    for (const char *f = flags; f && *f; f++) {
        if (*f == 'i') {
            opts |= PCRE2_CASELESS;
        } else if (*f == 'm') {
            opts |= PCRE2_MULTILINE;
            opts &= ~(uint32_t)PCRE2_DOLLAR_ENDONLY;
        }
    }
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, len, opts, &ec, &eo, NULL);
    if (!re) {
        memset(err, 0, sizeof(*err));
        snprintf(err->code, sizeof(err->code), "S0302");
        PCRE2_UCHAR buf[120];
        pcre2_get_error_message(ec, buf, sizeof(buf));
        snprintf(err->text, sizeof(err->text), "%s", (char *)buf);
        return NULL;
    }
    js__regex_jit(re);
    return re;
}

/* Runs re on s from byte `start`. 1: match, *ov (malloc'ed) has ovn pairs. */
int jsonata__regex_exec(struct jsonata__ctx *c, const pcre2_code *re, const char *s, size_t n,
                        size_t start, size_t **ov, uint32_t *ovn)
{
    *ov = NULL;
    *ovn = 0;
    if (start > n) {
        return 0;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    if (!md || !mc) {
        pcre2_match_data_free(md);
        pcre2_match_context_free(mc);
        return jsonata__error(c, "D1001", -1, NULL);
    }
    pcre2_set_match_limit(mc, 5000000);
    pcre2_set_depth_limit(mc, 100000);
    int rc = pcre2_match(re, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, md, mc);
    int ret = 0;
    if (rc > 0) {
        uint32_t pairs = pcre2_get_ovector_count(md);
        PCRE2_SIZE *o = pcre2_get_ovector_pointer(md);
        size_t *copy = malloc(sizeof(size_t) * 2 * pairs);
        if (copy) {
            for (uint32_t i = 0; i < 2 * pairs; i++) {
                copy[i] = (i / 2 < (uint32_t)rc) ? o[i] : PCRE2_UNSET;
            }
            *ov = copy;
            *ovn = pairs;
            ret = 1;
        } else {
            ret = jsonata__error(c, "D1001", -1, NULL);
        }
    } else if (rc != PCRE2_ERROR_NOMATCH) {
        ret = jsonata__error(c, "U1001", -1, NULL);
        snprintf(c->err.text, sizeof(c->err.text),
                 "Regular expression evaluation failed (match limit exceeded)");
    }
    pcre2_match_data_free(md);
    pcre2_match_context_free(mc);
    return ret;
}

/* The compiled regex behind a regex function value, or NULL. */
const pcre2_code *jsonata__regex_of(const struct ef_val *fn)
{
    if (!jsonata__is_fn(fn)) {
        return NULL;
    }
    struct jsonata__fn *f = ef_val_handle_ptr(fn, &ef_jsonata_function_type);
    return f && f->kind == FN_REGEX && f->node ? f->node->re : NULL;
}

/* A function value for a regex literal node, registered with c so that it
 * is detached from the expression when the evaluation ends. */
struct ef_val *jsonata__regex_fn(struct jsonata__ctx *c, const struct jsonata__node *n)
{
    struct jsonata__fn *f = calloc(1, sizeof(*f));
    if (!f) {
        return NULL;
    }
    f->kind = FN_REGEX;
    f->node = n;
    f->ctx = c;
    f->next = c->fns;
    if (c->fns) {
        c->fns->prev = f;
    }
    c->fns = f;
    struct ef_val *v = ef_val_handle(f, &ef_jsonata_function_type);
    if (!v) {
        free(f);
    }
    return v;
}

/* The {match, index, groups} object $match returns for one match. */
struct ef_val *jsonata__match_obj(const char *s, size_t *ov, uint32_t ovn)
{
    struct ef_val *o = ef_val_obj();
    ef_val_obj_set_take(o, "match", ef_val_strn(s + ov[0], ov[1] - ov[0]));
    ef_val_obj_set_take(o, "index", ef_val_num((double)jsonata__u16_len(s, ov[0])));
    struct ef_val *g = ef_val_arr();
    for (uint32_t i = 1; i < ovn; i++) {
        if (ov[2 * i] == PCRE2_UNSET) {
            ef_val_arr_push_take(g, ef_val_str(""));
        } else {
            ef_val_arr_push_take(g, ef_val_strn(s + ov[2 * i], ov[2 * i + 1] - ov[2 * i]));
        }
    }
    ef_val_obj_set_take(o, "groups", g);
    return o;
}
