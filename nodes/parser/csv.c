/*
 * csv.c - the csv node (Node-RED 70-CSV.js) in both of its modes:
 *   - RFC 4180 mode ("spec": "rfc", the default for new nodes): Node-RED
 *     4.1's parser (lib/csv): quoted cells, "" escapes, \r, \n or \r\n
 *     record ends, strict parsing of headers and column templates, numbers
 *     by JavaScript's Number() unless they look like "+1" or "01".
 *   - legacy mode (no "spec"): the older character loop with its quirks
 *     (numbers by a regular expression and parseFloat, nulls for empty
 *     cells between separators, "colN" names without a template).
 * Both convert CSV text to objects (one message per row with msg.parts,
 * or one array, optionally gathered from a split sequence) and objects or
 * arrays back to CSV with an optional header row (all, once, none).
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <edgeflow/edgeflow.h>

#include "../sequence/lib/seq.h"
#include "js.h"
#include "strbuf.h"

/* ---- a growable string (runtime/strbuf.h) ---- */

static void sb_addc(struct strbuf *b, char c)
{
    strbuf__add(b, &c, 1);
}

static struct ef_val *sb_val(struct strbuf *b)
{
    struct ef_val *v = ef_val_strn(b->p ? b->p : "", b->n);
    free(b->p);
    memset(b, 0, sizeof(*b));
    return v;
}

/* ---- node state ---- */

struct csv {
    bool rfc, hdrin, parsestrings, inc_empty, inc_null, goodtmpl, hdr_sent, warn_tmpl;
    char *sep, *ret, *tmpl_text;
    int sepc; /* the separator when it is one byte, else -1 (never matches) */
    const char *multi, *hdrout;
    double skip;
    struct ef_val *template; /* array of strings (null for holes) */
    struct ef_val *store;    /* rows gathered from a sequence */
    char *resep;             /* legacy: the separator of the last clean() */
    struct js_regex *numre;  /* legacy number test */
    bool no_template, broken;
};

static const struct ef_prop csv_props[] = {
    {EF_PROP_ANY, "spec", NULL, false, "rfc for RFC 4180 mode; absent for legacy mode",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "sep", NULL, false, "separator (default \",\"; \\t allowed)", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "hdrin", NULL, false, "first row holds the column names", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "hdrout", NULL, false, "header row in output: none, all or once",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "multi", NULL, false, "one (message per row) or mult (one array)",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "ret", NULL, false, "line end for output (\\n, \\r\\n)", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "temp", NULL, false, "column names template", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "skip", NULL, false, "lines to skip", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "strings", NULL, false, "parse numerical values", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "include_empty_strings", NULL, false, "include empty strings", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "include_null_values", NULL, false, "include null values", EF_PROP_NOFIELD},
    {EF_PROP_END},
};

static void aset(struct ef_val *a, size_t i, struct ef_val *v)
{
    if (!v || ef_val_arr_set_take(a, i, v) != 0) {
        ef_val_unref(v);
    }
}

static void oset(struct ef_val *o, const char *k, size_t kl, struct ef_val *v)
{
    if (!v || ef_val_obj_setn_take(o, k, kl, v) != 0) {
        ef_val_unref(v);
    }
}

static bool truthy_str(const struct ef_val *v)
{
    return ef_val_type(v) == EF_STR && ef_val_str_len(v) > 0;
}

/* .replace(/\\t/g,"\t").replace(/\\n/g,"\n").replace(/\\r/g,"\r") */
static char *unesc(const char *s)
{
    size_t n = strlen(s), o = 0;
    char *r = malloc(n + 1);
    if (!r) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && (s[i + 1] == 't' || s[i + 1] == 'n' || s[i + 1] == 'r')) {
            r[o++] = s[i + 1] == 't' ? '\t' : s[i + 1] == 'n' ? '\n' : '\r';
            i++;
        } else {
            r[o++] = s[i];
        }
    }
    r[o] = 0;
    return r;
}

/* ======================================================================
 * RFC 4180 parser (Node-RED's lib/csv parse())
 * ====================================================================== */

struct parse_res {
    struct ef_val *rows; /* array of arrays of string|null */
    size_t cursor;
    char err[96];
};

/* Returns 0, or -1 with the error (strict mode) in r->err. */
static int csv_parse(const char *in, size_t len, size_t cursor, int sep, bool strict,
                     bool headers_only, struct parse_res *r)
{
    const char quote = '"';
    struct ef_val *rows = ef_val_arr(), *row = ef_val_arr();
    struct strbuf cell = {0};
    bool new_cell = true, in_quote = false, closed = false, have_cell = false;
    r->err[0] = 0;
#define FINISH_CELL()                                                                              \
    do {                                                                                           \
        struct ef_val *cv =                                                                        \
            cell.n ? ef_val_strn(cell.p, cell.n) : (new_cell ? ef_val_null() : ef_val_str(""));    \
        ef_val_arr_push_take(row, cv);                                                             \
        cell.n = 0;                                                                                \
        have_cell = false;                                                                         \
    } while (0)
#define FINISH_ROW()                                                                               \
    do {                                                                                           \
        if (have_cell) {                                                                           \
            FINISH_CELL();                                                                         \
        }                                                                                          \
        if (ef_val_arr_len(row)) {                                                                 \
            ef_val_arr_push_take(rows, row);                                                       \
            row = ef_val_arr();                                                                    \
        }                                                                                          \
    } while (0)
    while (cursor < len) {
        char c = in[cursor];
        if (in_quote) {
            if (c == quote && cursor + 1 < len && in[cursor + 1] == quote) {
                sb_addc(&cell, quote);
                have_cell = true;
                cursor += 2;
                new_cell = false;
                closed = false;
            } else if (c == quote) {
                in_quote = false;
                cursor++;
                new_cell = false;
                closed = true;
            } else {
                sb_addc(&cell, c);
                have_cell = true;
                new_cell = false;
                closed = false;
                cursor++;
            }
        } else if ((unsigned char)c == (unsigned)sep && sep >= 0) {
            FINISH_CELL();
            cursor++;
            new_cell = true;
            closed = false;
        } else if (c == quote) {
            if (new_cell) {
                in_quote = true;
                cursor++;
                new_cell = false;
                closed = false;
            } else if (strict) {
                snprintf(r->err, sizeof(r->err),
                         "UnquotedQuoteError: Quote found in the middle of an unquoted field");
                goto fail;
            } else {
                cursor++;
                if (cursor < len && in[cursor] != '\n' && in[cursor] != '\r' &&
                    !((unsigned char)in[cursor] == (unsigned)sep && sep >= 0)) {
                    sb_addc(&cell, c);
                    have_cell = true;
                    if (in[cursor] == quote) {
                        cursor++;
                    }
                }
            }
        } else if (c == '\n' || c == '\r') {
            FINISH_ROW();
            cursor += (cursor + 1 < len && in[cursor + 1] == '\n') ? 2 : 1;
            new_cell = true;
            closed = false;
            if (headers_only) {
                break;
            }
        } else if (closed) {
            if (strict) {
                snprintf(r->err, sizeof(r->err),
                         "DataAfterCloseError: Data found after closing quote");
                goto fail;
            }
            /* Node-RED steps back to the closing quote and re-reads it as
             * an unquoted quote: `"ab"c` gives ab"c */
            cursor--;
            closed = false;
        } else {
            sb_addc(&cell, c);
            have_cell = true;
            new_cell = false;
            cursor++;
        }
    }
    if (strict && in_quote) {
        snprintf(r->err, sizeof(r->err), "ParseError: Missing quote, unclosed cell");
        goto fail;
    }
    FINISH_ROW();
#undef FINISH_ROW
#undef FINISH_CELL
    ef_val_unref(row);
    free(cell.p);
    r->rows = rows;
    r->cursor = cursor;
    return 0;
fail:
    ef_val_unref(row);
    ef_val_unref(rows);
    free(cell.p);
    r->rows = NULL;
    return -1;
}

/* quoteCell(): quotes when the cell holds one of the quoteables. */
static void quote_cell(struct strbuf *b, const char *s, size_t l, const char *sep, bool strict_q)
{
    bool q = false;
    bool dq = memchr(s, '"', l) != NULL;
    if (dq || memchr(s, '\n', l) || memchr(s, '\r', l)) {
        q = true;
    } else if (strict_q) {
        q = memchr(s, ',', l) != NULL;
    } else if (*sep) {
        q = l >= strlen(sep) && memmem(s, l, sep, strlen(sep)) != NULL;
    }
    if (q) {
        sb_addc(b, '"');
    }
    for (size_t i = 0; i < l; i++) {
        if (s[i] == '"') {
            sb_addc(b, '"');
        }
        sb_addc(b, s[i]);
    }
    if (q) {
        sb_addc(b, '"');
    }
}

/* parse(...).header: non-empty headers quoted for commas, joined by ",". */
static struct ef_val *header_string(const struct ef_val *headers)
{
    struct strbuf b = {0};
    bool any = false;
    strbuf__adds(&b, "");
    for (size_t i = 0; i < ef_val_arr_len(headers); i++) {
        const struct ef_val *h = ef_val_arr_at(headers, i);
        if (!ef_val_truthy(h)) {
            continue;
        }
        if (any) {
            sb_addc(&b, ',');
        }
        size_t l;
        char *s = js__to_string(h, &l);
        quote_cell(&b, s ? s : "", s ? l : 0, ",", true);
        free(s);
        any = true;
    }
    return sb_val(&b);
}

/* columnStringToTemplateArray(): the one row of a strict parse, or NULL. */
static struct ef_val *template_from(struct csv *c, const char *col, int sep, bool *bad)
{
    struct parse_res r;
    *bad = false;
    if (csv_parse(col, strlen(col), 0, sep, true, false, &r) != 0) {
        *bad = true;
        return NULL;
    }
    size_t n = ef_val_arr_len(r.rows);
    c->goodtmpl = n == 1;
    struct ef_val *t = n == 1 ? ef_val_ref(ef_val_arr_at(r.rows, 0)) : NULL;
    ef_val_unref(r.rows);
    return t;
}

static bool has_template(const struct ef_val *t)
{
    size_t n = ef_val_arr_len(t);
    if (!t || n == 0) {
        return false;
    }
    const struct ef_val *f = ef_val_arr_at(t, 0);
    return !(n == 1 && ef_val_type(f) == EF_STR && ef_val_str_len(f) == 0);
}

static struct ef_val *blank_template(void)
{
    struct ef_val *t = ef_val_arr();
    ef_val_arr_push_take(t, ef_val_str(""));
    return t;
}

/* RED.util.ensureString */
static char *ensure_string(const struct ef_val *v, size_t *len)
{
    enum ef_type t = ef_val_type(v);
    if (v && (t == EF_OBJ || t == EF_ARR || t == EF_NULL)) {
        return ef_json_print(v, 0, len);
    }
    return js__to_string(v, len);
}

/* Object.keys(v) as an array of strings. */
static struct ef_val *keys_of(const struct ef_val *v)
{
    struct ef_val *k = ef_val_arr();
    if (ef_val_type(v) == EF_OBJ) {
        for (size_t i = 0; i < ef_val_obj_len(v); i++) {
            size_t kl;
            const char *key = ef_val_obj_key_at(v, i, &kl);
            ef_val_arr_push_take(k, ef_val_strn(key, kl));
        }
    } else if (ef_val_type(v) == EF_ARR) {
        for (size_t i = 0; i < ef_val_arr_len(v); i++) {
            ef_val_arr_push_take(k, ef_val_strf("%zu", i));
        }
    } else if (ef_val_type(v) == EF_STR) {
        for (size_t i = 0; i < js__utf16_length(ef_val_str_get(v), ef_val_str_len(v)); i++) {
            ef_val_arr_push_take(k, ef_val_strf("%zu", i));
        }
    }
    return k;
}

/* row[key] for an object or array row (borrowed; NULL = undefined). */
static const struct ef_val *cell_of(const struct ef_val *row, const struct ef_val *key)
{
    if (ef_val_type(row) == EF_OBJ) {
        size_t l;
        char *k = js__to_string(key, &l);
        const struct ef_val *v = k ? ef_val_obj_getn(row, k, l) : NULL;
        free(k);
        return v;
    }
    if (ef_val_type(row) == EF_ARR) {
        double d = js__to_number(key);
        if (d >= 0 && d == floor(d)) {
            return ef_val_arr_at(row, (size_t)d);
        }
    }
    return NULL;
}

static void send_or_free(struct ef_node *n, struct ef_msg *m)
{
    if (ef_node_send(n, 0, m) != 0) {
        ef_msg_free(m);
    }
}

/* ---- RFC mode: objects to CSV ---- */

static int rfc_to_csv(struct ef_node *n, struct csv *c, struct ef_msg *msg, char *err,
                      size_t errlen)
{
    const struct ef_val *root = ef_msg_root(msg);
    struct ef_val *input = ef_val_ref(ef_val_obj_get(root, "payload"));
    bool is_arr = ef_val_type(input) == EF_ARR;
    size_t ilen = ef_val_arr_len(input);
    const struct ef_val *first = is_arr && ilen ? ef_val_arr_at(input, 0) : NULL;
    enum ef_type ft = ef_val_type(first);
    bool first_obj = first && (ft == EF_OBJ || ft == EF_ARR || ft == EF_NULL);
    bool arr_of_arrs = is_arr && ilen > 0 && ft == EF_ARR;
    if (!is_arr || (ilen > 0 && !first_obj)) {
        if (is_arr) {
            arr_of_arrs = true;
        }
        struct ef_val *w = ef_val_arr();
        ef_val_arr_push_take(w, input);
        input = w;
    }
    if (!is_arr && ef_val_type(ef_val_arr_at(input, 0)) == EF_NULL) {
        snprintf(err, errlen, "TypeError: Cannot convert undefined or null to object");
        ef_val_unref(input);
        return -1;
    }
    const struct ef_val *parts = ef_val_obj_get(root, "parts");
    const struct ef_val *pidx = ef_val_obj_get(parts, "index");
    bool bad;
    if (!(c->no_template && pidx && js__to_number(pidx) > 0)) {
        ef_val_unref(c->template);
        c->template = template_from(c, c->tmpl_text, ',', &bad);
        if (!c->template) {
            c->template = blank_template();
        }
    }
    struct strbuf out = {0};
    bool first_line = true;
    const struct ef_val *columns = ef_val_obj_get(root, "columns");
    bool send_headers = !strcmp(c->hdrout, "all") || !strcmp(c->hdrout, "once");
    if (send_headers && !c->hdr_sent) {
        if (!has_template(c->template)) {
            struct ef_val *t;
            if (columns) {
                size_t cl;
                char *cs = ef_val_truthy(columns) ? js__to_string(columns, &cl) : strdup("");
                t = template_from(c, cs ? cs : "", ',', &bad);
                free(cs);
                if (bad) {
                    snprintf(err, errlen,
                             "UnquotedQuoteError: Quote found in the middle of an unquoted field");
                    ef_val_unref(input);
                    free(out.p);
                    return -1;
                }
            } else {
                t = keys_of(ef_val_arr_at(input, 0));
            }
            ef_val_unref(c->template);
            c->template = t ? t : blank_template();
        }
        for (size_t i = 0; i < ef_val_arr_len(c->template); i++) {
            if (i) {
                strbuf__adds(&out, c->sep);
            }
            const struct ef_val *h = ef_val_arr_at(c->template, i);
            size_t l = 0;
            char *s = ef_val_truthy(h) ? js__to_string(h, &l) : NULL;
            quote_cell(&out, s ? s : "", s ? l : 0, c->sep, false);
            free(s);
        }
        first_line = false;
        if (!strcmp(c->hdrout, "once")) {
            c->hdr_sent = true;
        }
    }
    for (size_t s = 0; s < ef_val_arr_len(input); s++) {
        const struct ef_val *row = ef_val_arr_at(input, s);
        if (!first_line) {
            strbuf__adds(&out, c->ret);
        }
        first_line = false;
        if (arr_of_arrs) {
            bool ht = has_template(c->template);
            size_t len = ht ? ef_val_arr_len(c->template) : ef_val_arr_len(row);
            for (size_t t = 0; t < len; t++) {
                if (t) {
                    strbuf__adds(&out, c->sep);
                }
                if (ht && !ef_val_truthy(ef_val_arr_at(c->template, t))) {
                    continue;
                }
                const struct ef_val *cell =
                    ef_val_type(row) == EF_ARR ? ef_val_arr_at(row, t) : NULL;
                size_t l = 0;
                char *cs = cell ? ensure_string(cell, &l) : strdup("");
                quote_cell(&out, cs ? cs : "", cs ? l : 0, c->sep, false);
                free(cs);
            }
            continue;
        }
        if (!has_template(c->template) && columns) {
            size_t cl;
            char *cs = ef_val_truthy(columns) ? js__to_string(columns, &cl) : strdup("");
            ef_val_unref(c->template);
            c->template = template_from(c, cs ? cs : "", ',', &bad);
            free(cs);
        }
        if (!has_template(c->template)) {
            if (c->warn_tmpl) {
                ef_node_warn(n, "No columns template specified for object -> CSV.");
                c->warn_tmpl = false;
            }
            ef_val_unref(c->template);
            c->template = keys_of(row);
            const struct ef_val *f0 = ef_val_arr_at(input, 0);
            bool any = false;
            for (size_t i = 0; ef_val_type(f0) == EF_OBJ && i < ef_val_obj_len(f0); i++) {
                size_t kl;
                const char *k = ef_val_obj_key_at(f0, i, &kl);
                const struct ef_val *cell =
                    ef_val_type(row) == EF_OBJ ? ef_val_obj_getn(row, k, kl) : NULL;
                enum ef_type ct = ef_val_type(cell);
                if (!cell || ct == EF_OBJ || ct == EF_ARR || ct == EF_NULL || ct == EF_BUF) {
                    continue;
                }
                if (any) {
                    strbuf__adds(&out, c->sep);
                }
                size_t l;
                char *cs = js__to_string(cell, &l);
                quote_cell(&out, cs ? cs : "", cs ? l : 0, c->sep, false);
                free(cs);
                any = true;
            }
        } else {
            for (size_t t = 0; t < ef_val_arr_len(c->template); t++) {
                if (t) {
                    strbuf__adds(&out, c->sep);
                }
                const struct ef_val *h = ef_val_arr_at(c->template, t);
                if (!ef_val_truthy(h)) {
                    continue;
                }
                const struct ef_val *cell = cell_of(row, h);
                size_t l = 0;
                char *cs = cell ? ensure_string(cell, &l) : strdup("");
                quote_cell(&out, cs ? cs : "", cs ? l : 0, c->sep, false);
                free(cs);
            }
        }
    }
    strbuf__adds(&out, c->ret);
    ef_val_unref(input);
    struct ef_val *r = ef_msg_mut(msg);
    if (!r) {
        free(out.p);
        return 0;
    }
    bool empty = out.n == 0;
    ef_val_obj_set_take(r, "payload", sb_val(&out));
    ef_val_obj_set_take(r, "columns", header_string(c->template));
    if (!empty) {
        send_or_free(n, msg);
    } else {
        ef_msg_free(msg);
    }
    return 1;
}

/* ---- CSV text to objects (both modes share the output stage) ---- */

/* Sends rows as Node-RED does for the multi/one options. Takes msg. */
static void send_rows(struct ef_node *n, struct csv *c, struct ef_msg *msg, struct ef_val *data,
                      struct ef_val *columns, bool has_parts, bool last, double nocr,
                      struct ef_val *legacy_o)
{
    const struct ef_val *parts = ef_val_obj_get(ef_msg_root(msg), "parts");
    if (strcmp(c->multi, "one") != 0) {
        struct ef_val *root = ef_msg_mut(msg);
        if (has_parts && nocr <= 1) {
            if (!ef_val_mut(&c->store)) {
                goto done;
            }
            if (legacy_o) {
                if (ef_val_obj_len(legacy_o)) {
                    ef_val_arr_push_take(c->store, ef_val_ref(legacy_o));
                }
            } else {
                for (size_t i = 0; i < ef_val_arr_len(data); i++) {
                    ef_val_arr_push_take(c->store, ef_val_ref(ef_val_arr_at(data, i)));
                }
            }
            ef_val_obj_set_take(root, "payload", ef_val_ref(data));
            double idx = js__to_number(ef_val_obj_get(parts, "index"));
            double cnt = js__to_number(ef_val_obj_get(parts, "count"));
            if (idx + 1 == cnt) {
                ef_val_obj_set_take(root, "payload", c->store);
                c->store = ef_val_arr();
                ef_val_obj_set_take(root, "columns", ef_val_ref(columns));
                ef_val_obj_del(root, "parts", 5);
                send_or_free(n, msg);
                msg = NULL;
            }
        } else {
            ef_val_obj_set_take(root, "payload", ef_val_ref(data));
            ef_val_obj_set_take(root, "columns", ef_val_ref(columns));
            send_or_free(n, msg);
            msg = NULL;
        }
        goto done;
    }
    size_t len = ef_val_arr_len(data);
    for (size_t i = 0; i < len; i++) {
        struct ef_msg *m = ef_msg_share(msg);
        struct ef_val *r = m ? ef_msg_mut(m) : NULL;
        if (!r) {
            ef_msg_free(m);
            continue;
        }
        ef_val_obj_set_take(r, "columns", ef_val_ref(columns));
        ef_val_obj_set_take(r, "payload", ef_val_ref(ef_val_arr_at(data, i)));
        if (!has_parts) {
            struct ef_val *p = ef_val_obj();
            ef_val_obj_set_take(p, "id", ef_val_ref(ef_val_obj_get(r, "_msgid")));
            ef_val_obj_set_take(p, "index", ef_val_num((double)i));
            ef_val_obj_set_take(p, "count", ef_val_num((double)len));
            ef_val_obj_set_take(r, "parts", p);
        } else {
            struct ef_val **slot = ef_val_obj_slot(r, "parts", 5);
            struct ef_val *p = slot ? ef_val_mut(slot) : NULL;
            if (p) {
                double adj = c->skip + (c->hdrin ? 1 : 0);
                double idx = js__to_number(ef_val_obj_get(p, "index")) - adj;
                double cnt = js__to_number(ef_val_obj_get(p, "count")) - adj;
                ef_val_obj_set_take(p, "index", ef_val_num(idx));
                ef_val_obj_set_take(p, "count", ef_val_num(cnt));
            }
        }
        if (last) {
            ef_val_obj_set_take(r, "complete", ef_val_bool(true));
        }
        send_or_free(n, m);
    }
    if (has_parts && last && len == 0) {
        struct ef_val *o = ef_val_obj();
        ef_val_obj_set_take(o, "complete", ef_val_bool(true));
        struct ef_msg *m = ef_msg_new_take(o);
        if (m) {
            send_or_free(n, m);
        } else {
            ef_val_unref(o);
        }
    }
done:
    ef_msg_free(msg);
}

static double count_crlf(const char *s, size_t len)
{
    double k = 0;
    for (size_t i = 0; i < len; i++) {
        k += s[i] == '\r' || s[i] == '\n';
    }
    return k;
}

static int rfc_from_csv(struct ef_node *n, struct csv *c, struct ef_msg *msg, char *err,
                        size_t errlen)
{
    const struct ef_val *root = ef_msg_root(msg);
    const struct ef_val *in = ef_val_obj_get(root, "payload");
    const char *s = ef_val_str_get(in);
    size_t len = ef_val_str_len(in);
    bool first_line = true, last = false;
    double linecount = 0;
    const struct ef_val *parts = ef_val_obj_get(root, "parts");
    bool has_parts = parts != NULL;
    if (has_parts) {
        double idx = js__to_number(ef_val_obj_get(parts, "index"));
        linecount = idx;
        if (idx > c->skip) {
            first_line = false;
        }
        const struct ef_val *pc = ef_val_obj_get(parts, "count");
        if (pc && idx + 1 >= js__to_number(pc)) {
            last = true;
        }
    }
    size_t cursor = 0;
    if (c->skip > 0 && linecount < c->skip) {
        for (; cursor < len; cursor++) {
            if (first_line && linecount < c->skip) {
                if (s[cursor] == '\r' || s[cursor] == '\n') {
                    linecount++;
                }
                continue;
            }
            break;
        }
        if (cursor >= len) {
            ef_msg_free(msg);
            return 2; /* Node-RED returns without done() */
        }
    }
    double nocr = count_crlf(s + cursor, len - cursor);
    if (has_parts && !strcmp(c->multi, "mult") && nocr > 1) {
        first_line = true;
    }
    struct parse_res r;
    if (first_line && c->hdrin) {
        if (csv_parse(s, len, cursor, c->sepc, true, true, &r) != 0) {
            ef_node_status(n, "red", "dot", "Malformed columns template.");
            snprintf(err, errlen, "%s", r.err);
            return -1;
        }
        ef_val_unref(c->template);
        c->template = ef_val_arr_len(r.rows) ? ef_val_ref(ef_val_arr_at(r.rows, 0)) : ef_val_arr();
        ef_val_unref(r.rows);
        cursor = r.cursor;
    }
    csv_parse(s, len, cursor, c->sepc, false, false, &r);
    struct ef_val *headers;
    if (has_template(c->template)) {
        headers = ef_val_ref(c->template);
    } else {
        headers = ef_val_arr();
        size_t w = ef_val_arr_len(r.rows) ? ef_val_arr_len(ef_val_arr_at(r.rows, 0)) : 0;
        for (size_t i = 0; i < w; i++) {
            ef_val_arr_push_take(headers, ef_val_strf("col%zu", i + 1));
        }
    }
    struct ef_val *data = ef_val_arr();
    for (size_t i = 0; i < ef_val_arr_len(r.rows); i++) {
        const struct ef_val *row = ef_val_arr_at(r.rows, i);
        struct ef_val *o = ef_val_obj();
        for (size_t j = 0; j < ef_val_arr_len(headers); j++) {
            const struct ef_val *h = ef_val_arr_at(headers, j);
            if (!ef_val_truthy(h)) {
                continue;
            }
            const struct ef_val *v = ef_val_arr_at(row, j);
            struct ef_val *out;
            if (!v || ef_val_type(v) == EF_NULL) {
                if (!c->inc_null) {
                    continue;
                }
                out = ef_val_null();
            } else if (ef_val_str_len(v) == 0) {
                if (!c->inc_empty) {
                    continue;
                }
                out = ef_val_str("");
            } else {
                out = NULL;
                const char *t = ef_val_str_get(v);
                if (c->parsestrings) {
                    const char *p = t;
                    while (*p == ' ') {
                        p++;
                    }
                    bool skipnum = *p == '+' || (p[0] == '0' && isdigit((unsigned char)p[1])) ||
                                   (p[0] == '-' && p[1] == '0' && isdigit((unsigned char)p[2]));
                    double d = skipnum ? NAN : js__to_number(v);
                    if (!isnan(d)) {
                        out = ef_val_num(d);
                    }
                }
                if (!out) {
                    out = ef_val_ref((struct ef_val *)v);
                }
            }
            size_t kl;
            char *k = js__to_string(h, &kl);
            oset(o, k ? k : "", k ? kl : 0, out);
            free(k);
        }
        if (ef_val_obj_len(o)) {
            ef_val_arr_push_take(data, o);
        } else {
            ef_val_unref(o);
        }
    }
    ef_val_unref(r.rows);
    struct ef_val *columns = header_string(headers);
    ef_val_unref(headers);
    send_rows(n, c, msg, data, columns, has_parts, last, nocr, NULL);
    ef_val_unref(data);
    ef_val_unref(columns);
    return 0;
}

/* ======================================================================
 * Legacy mode
 * ====================================================================== */

/* clean(): split on sep outside quotes, drop quotes, trim. */
static struct ef_val *legacy_clean(struct csv *c, const char *col, const char *sep)
{
    if (sep) {
        free(c->resep);
        c->resep = strdup(sep);
    }
    const char *rs = c->resep ? c->resep : ",";
    size_t rl = strlen(rs);
    /* col.trim() */
    const char *b = col;
    while (*b && isspace((unsigned char)*b)) {
        b++;
    }
    size_t l = strlen(b);
    while (l && isspace((unsigned char)b[l - 1])) {
        l--;
    }
    /* quotes after each position, to test the even-quotes lookahead */
    size_t total_q = 0;
    for (size_t i = 0; i < l; i++) {
        total_q += b[i] == '"';
    }
    struct ef_val *out = ef_val_arr();
    size_t start = 0, seen_q = 0;
    for (size_t i = 0; i < l;) {
        if (rl && i + rl <= l && !memcmp(b + i, rs, rl)) {
            size_t after = total_q - seen_q;
            for (size_t k = i; k < i + rl; k++) {
                after -= b[k] == '"';
            }
            if (after % 2 == 0) {
                ef_val_arr_push_take(out, ef_val_strn(b + start, i - start));
                for (size_t k = i; k < i + rl; k++) {
                    seen_q += b[k] == '"';
                }
                i += rl;
                start = i;
                continue;
            }
        }
        seen_q += b[i] == '"';
        i++;
    }
    ef_val_arr_push_take(out, ef_val_strn(b + start, l - start));
    /* x.replace(/"/g,'').trim() */
    for (size_t i = 0; i < ef_val_arr_len(out); i++) {
        const char *s = ef_val_str_get(ef_val_arr_at(out, i));
        struct strbuf t = {0};
        strbuf__adds(&t, "");
        for (; *s; s++) {
            if (*s != '"') {
                sb_addc(&t, *s);
            }
        }
        size_t a = 0, e = t.n;
        while (a < e && isspace((unsigned char)t.p[a])) {
            a++;
        }
        while (e > a && isspace((unsigned char)t.p[e - 1])) {
            e--;
        }
        ef_val_arr_set_take(out, i, ef_val_strn(t.p + a, e - a));
        free(t.p);
    }
    c->goodtmpl = !(ef_val_arr_len(out) == 1 && ef_val_str_len(ef_val_arr_at(out, 0)) == 0);
    return out;
}

static struct ef_val *columns_legacy(const struct ef_val *t, bool filter)
{
    struct strbuf b = {0};
    strbuf__adds(&b, "");
    bool any = false;
    for (size_t i = 0; i < ef_val_arr_len(t); i++) {
        const struct ef_val *h = ef_val_arr_at(t, i);
        size_t l = 0;
        char *s = h && ef_val_type(h) != EF_NULL ? js__to_string(h, &l) : NULL;
        if (filter && (!s || !l)) {
            free(s);
            continue;
        }
        if (any || (!filter && i)) {
            sb_addc(&b, ',');
        }
        bool q = s && memchr(s, ',', l);
        if (q) {
            sb_addc(&b, '"');
        }
        strbuf__add(&b, s ? s : "", s ? l : 0);
        if (q) {
            sb_addc(&b, '"');
        }
        free(s);
        any = true;
    }
    return sb_val(&b);
}

/* The legacy cell quoting of object -> CSV. */
static void legacy_quote(struct strbuf *b, const char *s, size_t l, const char *sep, bool nl)
{
    if (memchr(s, '"', l)) {
        sb_addc(b, '"');
        for (size_t i = 0; i < l; i++) {
            if (s[i] == '"') {
                sb_addc(b, '"');
            }
            sb_addc(b, s[i]);
        }
        sb_addc(b, '"');
    } else if ((*sep && memmem(s, l, sep, strlen(sep))) || (nl && memchr(s, '\n', l))) {
        sb_addc(b, '"');
        strbuf__add(b, s, l);
        sb_addc(b, '"');
    } else {
        strbuf__add(b, s, l);
    }
}

static int legacy_to_csv(struct ef_node *n, struct csv *c, struct ef_msg *msg, char *err,
                         size_t errlen)
{
    const struct ef_val *root = ef_msg_root(msg);
    const struct ef_val *parts = ef_val_obj_get(root, "parts");
    const struct ef_val *pidx = ef_val_obj_get(parts, "index");
    if (!(c->no_template && pidx && js__to_number(pidx) > 0)) {
        ef_val_unref(c->template);
        c->template = legacy_clean(c, c->tmpl_text, NULL);
    }
    struct ef_val *payload = ef_val_ref(ef_val_obj_get(root, "payload"));
    if (ef_val_type(payload) != EF_ARR) {
        struct ef_val *w = ef_val_arr();
        ef_val_arr_push_take(w, payload);
        payload = w;
    }
    const struct ef_val *columns = ef_val_obj_get(root, "columns");
    struct strbuf out = {0};
    strbuf__adds(&out, "");
    size_t lines = 0;
    if (strcmp(c->hdrout, "none") != 0 && !c->hdr_sent) {
        if (!has_template(c->template)) {
            ef_val_unref(c->template);
            if (columns) {
                size_t cl;
                char *cs = ef_val_truthy(columns) ? js__to_string(columns, &cl) : strdup("");
                c->template = legacy_clean(c, cs ? cs : "", ",");
                free(cs);
            } else {
                c->template = keys_of(ef_val_arr_at(payload, 0));
            }
        }
        for (size_t i = 0; i < ef_val_arr_len(c->template); i++) {
            if (i) {
                strbuf__adds(&out, c->sep);
            }
            const char *h = ef_val_str_get(ef_val_arr_at(c->template, i));
            bool q = *c->sep && strstr(h, c->sep);
            if (q) {
                sb_addc(&out, '"');
            }
            strbuf__adds(&out, h);
            if (q) {
                sb_addc(&out, '"');
            }
        }
        lines++;
        if (!strcmp(c->hdrout, "once")) {
            c->hdr_sent = true;
        }
    }
    for (size_t s = 0; s < ef_val_arr_len(payload); s++) {
        const struct ef_val *row = ef_val_arr_at(payload, s);
        enum ef_type rt = ef_val_type(row);
        if (lines++) {
            strbuf__adds(&out, c->ret);
        }
        if (rt == EF_ARR || (rt != EF_OBJ && rt != EF_NULL && rt != EF_BUF)) {
            if (rt != EF_ARR) {
                /* msg.payload = [msg.payload]: the whole array becomes one row */
                row = payload;
                s = ef_val_arr_len(payload);
            }
            for (size_t t = 0; t < ef_val_arr_len(row); t++) {
                if (t) {
                    strbuf__adds(&out, c->sep);
                }
                const struct ef_val *cell = ef_val_arr_at(row, t);
                if (ef_val_type(cell) == EF_NULL) {
                    snprintf(err, errlen,
                             "TypeError: Cannot read properties of null (reading 'toString')");
                    free(out.p);
                    ef_val_unref(payload);
                    return -1;
                }
                size_t l;
                char *cs = js__to_string(cell, &l);
                legacy_quote(&out, cs ? cs : "", cs ? l : 0, c->sep, true);
                free(cs);
            }
            continue;
        }
        if (!has_template(c->template) && columns) {
            size_t cl;
            char *cs = ef_val_truthy(columns) ? js__to_string(columns, &cl) : strdup("");
            ef_val_unref(c->template);
            c->template = legacy_clean(c, cs ? cs : "", ",");
            free(cs);
        }
        if (!has_template(c->template)) {
            if (c->warn_tmpl) {
                ef_node_warn(n, "No columns template specified for object -> CSV.");
                c->warn_tmpl = false;
            }
            const struct ef_val *f0 = ef_val_arr_at(payload, 0);
            bool any = false;
            for (size_t i = 0; ef_val_type(f0) == EF_OBJ && i < ef_val_obj_len(f0); i++) {
                size_t kl;
                const char *k = ef_val_obj_key_at(f0, i, &kl);
                const struct ef_val *cell = rt == EF_OBJ ? ef_val_obj_getn(row, k, kl) : NULL;
                enum ef_type ct = ef_val_type(cell);
                if (!cell || ct == EF_OBJ || ct == EF_ARR || ct == EF_NULL || ct == EF_BUF) {
                    continue;
                }
                if (any) {
                    strbuf__adds(&out, c->sep);
                }
                size_t l;
                char *cs = js__to_string(cell, &l);
                bool qt = cs && memchr(cs, '"', l);
                if (qt) {
                    legacy_quote(&out, cs, l, c->sep, false);
                } else if ((cs && *c->sep && memmem(cs, l, c->sep, strlen(c->sep))) ||
                           memchr(k, '\n', kl)) {
                    sb_addc(&out, '"');
                    strbuf__add(&out, cs ? cs : "", cs ? l : 0);
                    sb_addc(&out, '"');
                } else {
                    strbuf__add(&out, cs ? cs : "", cs ? l : 0);
                }
                free(cs);
                any = true;
            }
        } else {
            for (size_t t = 0; t < ef_val_arr_len(c->template); t++) {
                if (t) {
                    strbuf__adds(&out, c->sep);
                }
                const struct ef_val *h = ef_val_arr_at(c->template, t);
                if (!ef_val_str_len(h)) {
                    continue;
                }
                const struct ef_val *cell = cell_of(row, h);
                size_t l = 0;
                char *cs = cell ? ensure_string(cell, &l) : strdup("");
                legacy_quote(&out, cs ? cs : "", cs ? l : 0, c->sep, true);
                free(cs);
            }
        }
    }
    strbuf__adds(&out, c->ret);
    ef_val_unref(payload);
    struct ef_val *r = ef_msg_mut(msg);
    if (!r) {
        free(out.p);
        return 0;
    }
    bool empty = out.n == 0;
    ef_val_obj_set_take(r, "payload", sb_val(&out));
    ef_val_obj_set_take(r, "columns", columns_legacy(c->template, false));
    if (!empty) {
        send_or_free(n, msg);
    } else {
        ef_msg_free(msg);
    }
    return 1;
}

/* Stores k (a cell) under template[j] as the legacy rules say. */
static void legacy_store(struct csv *c, struct ef_val *o, struct ef_val *cell, size_t j)
{
    const struct ef_val *h = ef_val_arr_at(c->template, j);
    if (!h || ef_val_type(h) != EF_STR || ef_val_str_len(h) == 0) {
        ef_val_unref(cell);
        return;
    }
    if (cell && ef_val_type(cell) == EF_STR && c->parsestrings) {
        const char *s = ef_val_str_get(cell);
        size_t l = ef_val_str_len(cell);
        while (l && isspace((unsigned char)*s)) {
            s++;
            l--;
        }
        while (l && isspace((unsigned char)s[l - 1])) {
            l--;
        }
        if (c->numre && js__regex_test(c->numre, s, l) == 1) {
            char *t = strndup(s, l);
            double d = t ? strtod(t, NULL) : NAN;
            free(t);
            ef_val_unref(cell);
            cell = ef_val_num(d);
        }
    }
    const char *k = ef_val_str_get(h);
    size_t kl = ef_val_str_len(h);
    enum ef_type t = ef_val_type(cell);
    if (t == EF_NULL) {
        if (c->inc_null) {
            oset(o, k, kl, ef_val_null());
        }
    } else if (t == EF_STR && ef_val_str_len(cell) == 0) {
        if (c->inc_empty) {
            oset(o, k, kl, ef_val_str(""));
        }
    } else {
        oset(o, k, kl, ef_val_ref(cell));
    }
    ef_val_unref(cell);
}

static void name_col(struct csv *c, size_t j)
{
    if (!c->goodtmpl && ef_val_mut(&c->template)) {
        aset(c->template, j, ef_val_strf("col%zu", j + 1));
    }
}

static int legacy_from_csv(struct ef_node *n, struct csv *c, struct ef_msg *msg, char *err,
                           size_t errlen)
{
    const struct ef_val *root = ef_msg_root(msg);
    const struct ef_val *pv = ef_val_obj_get(root, "payload");
    const char *line = ef_val_str_get(pv);
    size_t len = ef_val_str_len(pv);
    bool f = true, first = true, last = false;
    size_t j = 0;
    struct ef_val *k = ef_val_arr(); /* cells: strings or null */
    ef_val_arr_push_take(k, ef_val_str(""));
    struct strbuf cur = {0}; /* k[j] while it is being built */
    bool cur_null = false;
    struct ef_val *o = ef_val_obj(), *a = ef_val_arr();
    double linecount = 0;
    struct strbuf tmp = {0};
    strbuf__adds(&tmp, "");
    strbuf__adds(&cur, "");
    const struct ef_val *parts = ef_val_obj_get(root, "parts");
    bool has_parts = parts != NULL;
    if (has_parts) {
        double idx = js__to_number(ef_val_obj_get(parts, "index"));
        linecount = idx;
        if (idx > c->skip) {
            first = false;
        }
        const struct ef_val *pc = ef_val_obj_get(parts, "count");
        if (pc && idx + 1 >= js__to_number(pc)) {
            last = true;
        }
    }
    double nocr = count_crlf(line, len);
    if (has_parts && !strcmp(c->multi, "mult") && nocr > 1) {
        tmp.n = 0;
        first = true;
    }
    int rc = 0;
#define CELL() (cur_null ? ef_val_null() : ef_val_strn(cur.p, cur.n))
    for (size_t i = 0; i < len; i++) {
        char ch = line[i];
        if (first && linecount < c->skip) {
            if (ch == '\n') {
                linecount++;
            }
            continue;
        }
        if (c->hdrin && first) {
            if (ch == '\n' || ch == '\r' || len - i == 1) {
                if (len - i == 1) {
                    sb_addc(&tmp, ch);
                }
                ef_val_unref(c->template);
                c->template = legacy_clean(c, tmp.p, c->sep);
                first = false;
            } else {
                sb_addc(&tmp, ch);
            }
            continue;
        }
        if (ch == '"') {
            f = !f;
            if (i > 0 && line[i - 1] == '"' && !f) {
                sb_addc(&cur, '"');
            }
        } else if (c->sepc >= 0 && (unsigned char)ch == (unsigned)c->sepc && f) {
            name_col(c, j);
            const struct ef_val *h = ef_val_arr_at(c->template, j);
            if (ef_val_type(h) == EF_STR && ef_val_str_len(h)) {
                if (i == 0) {
                    snprintf(err, errlen,
                             "TypeError: Cannot read properties of undefined (reading "
                             "'includes')");
                    rc = -1;
                    break;
                }
                if ((unsigned char)line[i - 1] == (unsigned)c->sepc || line[i - 1] == '\n') {
                    cur_null = true;
                }
            }
            legacy_store(c, o, CELL(), j);
            j++;
            cur.n = 0;
            cur_null = len - 1 == i;
        } else if ((ch == '\n' || ch == '\r') && f) {
            name_col(c, j);
            const struct ef_val *h = ef_val_arr_at(c->template, j);
            if (ef_val_type(h) == EF_STR && ef_val_str_len(h) && i > 0 &&
                (unsigned char)line[i - 1] == (unsigned)c->sepc && c->sepc >= 0) {
                cur_null = true;
            }
            legacy_store(c, o, CELL(), j);
            if (ef_val_obj_len(o)) {
                ef_val_arr_push_take(a, o);
                o = ef_val_obj();
            }
            j = 0;
            cur.n = 0;
            cur_null = false;
            f = true;
        } else {
            if (cur_null) {
                cur.n = 0;
                strbuf__adds(&cur, "null");
                cur_null = false;
            }
            sb_addc(&cur, ch);
        }
    }
    if (rc == 0) {
        if (!f) {
            ef_node_warn(n, "Malformed CSV data - output probably corrupt.");
        }
        name_col(c, j);
        legacy_store(c, o, CELL(), j);
        if (ef_val_obj_len(o)) {
            ef_val_arr_push_take(a, ef_val_ref(o));
        }
    }
#undef CELL
    free(cur.p);
    free(tmp.p);
    ef_val_unref(k);
    if (rc != 0) {
        ef_val_unref(o);
        ef_val_unref(a);
        return rc;
    }
    struct ef_val *columns = columns_legacy(c->template, true);
    send_rows(n, c, msg, a, columns, has_parts, last, nocr, o);
    ef_val_unref(o);
    ef_val_unref(a);
    ef_val_unref(columns);
    return 0;
}

/* ======================================================================
 * The node
 * ====================================================================== */

static int csv_init(struct ef_node *n, const struct ef_val *config)
{
    struct csv *c = ef_node_priv(n);
    char err[200];
    c->rfc = !strcmp(ef_val_str_get(ef_val_obj_get(config, "spec")), "rfc");
    const struct ef_val *sep = ef_val_obj_get(config, "sep");
    c->sep = unesc(truthy_str(sep) ? ef_val_str_get(sep) : ",");
    const struct ef_val *ret = ef_val_obj_get(config, "ret");
    c->ret = unesc(truthy_str(ret) ? ef_val_str_get(ret) : (c->rfc ? "\r\n" : "\n"));
    if (!c->sep || !c->ret) {
        return EF_ENOMEM;
    }
    c->sepc = strlen(c->sep) == 1 ? (unsigned char)c->sep[0] : -1;
    const struct ef_val *temp = ef_val_obj_get(config, "temp");
    c->tmpl_text = strdup(truthy_str(temp) ? ef_val_str_get(temp) : "");
    const struct ef_val *multi = ef_val_obj_get(config, "multi");
    c->multi = truthy_str(multi) ? ef_val_str_get(multi) : "one";
    const struct ef_val *hdrin = ef_val_obj_get(config, "hdrin");
    c->hdrin = ef_val_type(hdrin) == EF_BOOL && ef_val_bool_get(hdrin);
    const struct ef_val *hdrout = ef_val_obj_get(config, "hdrout");
    if (ef_val_type(hdrout) == EF_BOOL) {
        c->hdrout = ef_val_bool_get(hdrout) ? "all" : "none";
    } else {
        c->hdrout = truthy_str(hdrout) ? ef_val_str_get(hdrout) : "none";
    }
    const struct ef_val *skip = ef_val_obj_get(config, "skip");
    c->skip = ef_val_truthy(skip) ? seq__parse_int(skip) : 0;
    const struct ef_val *strs = ef_val_obj_get(config, "strings");
    c->parsestrings = !strs || (ef_val_type(strs) == EF_BOOL && ef_val_bool_get(strs));
    c->inc_empty = ef_val_truthy(ef_val_obj_get(config, "include_empty_strings"));
    c->inc_null = ef_val_truthy(ef_val_obj_get(config, "include_null_values"));
    c->goodtmpl = true;
    c->warn_tmpl = true;
    c->store = ef_val_arr();
    if (c->rfc) {
        bool bad;
        c->template = template_from(c, c->tmpl_text, ',', &bad);
        if (bad) {
            ef_node_warn(n, "Malformed columns template.");
            c->broken = true;
        }
        if (!c->template) {
            c->template = blank_template();
        }
    } else {
        static const char num_re[] = "^[-]?(?!E)(?!0\\d)\\d*\\.?\\d*(E-?\\+?)?\\d+$";
        c->numre = js__regex_new(num_re, sizeof(num_re) - 1, "i", err, sizeof(err));
        c->template = legacy_clean(c, c->tmpl_text, ",");
    }
    c->no_template = !has_template(c->template);
    return 0;
}

static void csv_start(struct ef_node *n)
{
    struct csv *c = ef_node_priv(n);
    if (c->broken) {
        ef_node_status(n, "red", "dot", "Malformed columns template.");
    }
}

static void csv_close(struct ef_node *n)
{
    struct csv *c = ef_node_priv(n);
    free(c->sep);
    free(c->ret);
    free(c->tmpl_text);
    free(c->resep);
    ef_val_unref(c->template);
    ef_val_unref(c->store);
    js__regex_free(c->numre);
}

static int csv_input(struct ef_node *n, struct ef_msg *msg)
{
    struct csv *c = ef_node_priv(n);
    if (c->broken) {
        ef_msg_free(msg);
        return EF_INPUT_ASYNC;
    }
    if (c->rfc) {
        ef_node_status(n, NULL, NULL, NULL);
    }
    const struct ef_val *root = ef_msg_root(msg);
    if (ef_val_obj_get(root, "reset")) {
        c->hdr_sent = false;
    }
    const struct ef_val *payload = ef_val_obj_get(root, "payload");
    if (!payload) {
        if (!ef_val_obj_get(root, "reset")) {
            send_or_free(n, msg);
        } else {
            ef_msg_free(msg);
        }
        return EF_INPUT_DONE;
    }
    char err[256] = "";
    int rc;
    enum ef_type t = ef_val_type(payload);
    if (t == EF_OBJ || t == EF_ARR || t == EF_NULL || t == EF_BUF) {
        rc = c->rfc ? rfc_to_csv(n, c, msg, err, sizeof(err))
                    : legacy_to_csv(n, c, msg, err, sizeof(err));
    } else if (t == EF_STR) {
        rc = c->rfc ? rfc_from_csv(n, c, msg, err, sizeof(err))
                    : legacy_from_csv(n, c, msg, err, sizeof(err));
        if (rc == 2) {
            return EF_INPUT_ASYNC;
        }
    } else if (c->rfc) {
        ef_node_status(n, "red", "dot", "This node only handles CSV strings or js objects.");
        snprintf(err, sizeof(err), "Error: This node only handles CSV strings or js objects.");
        rc = -1;
    } else {
        ef_node_warn(n, "This node only handles CSV strings or js objects.");
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    if (rc < 0) {
        ef_node_error(n, msg, "%s", err);
        ef_msg_free(msg);
    }
    return EF_INPUT_DONE;
}

const struct ef_node_type ef_type_csv = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "csv",
    .description = "converts between CSV text and objects",
    .category = "parser",
    .inputs = 1,
    .outputs = 1,
    .props = csv_props,
    .priv_size = sizeof(struct csv),
    .cb_init = csv_init,
    .cb_start = csv_start,
    .cb_input = csv_input,
    .cb_close = csv_close,
};
