/*
 * split.c - the split node (Node-RED 17-split.js): turns a string (by a
 * separator, escapes such as \n included, or into fixed-length pieces), an
 * array (in chunks of arraySplt), an object (one message per key, the key
 * optionally copied to a property) or a Buffer (by a byte separator or a
 * length) into a sequence of messages with msg.parts built exactly as
 * Node-RED builds it. Stream mode carries the unfinished remainder over to
 * the next message and keeps counting indexes.
 *
 * Each message of the sequence shares the input's tree: only the root,
 * the property and msg.parts are new, so splitting 100k elements costs
 * 100k small objects and no copies of the elements.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <edgeflow/edgeflow.h>

#include "js.h"
#include "lib/seq.h"

enum { T_STR, T_BIN, T_LEN, T_OTHER };

struct split {
    struct seq_prop prop;
    struct seq_prop addname;
    bool has_addname, broken, stream;
    int type;
    char *splt; /* separator bytes (str: unescaped text; bin: the bytes) */
    size_t spltlen;
    struct ef_val *ch; /* msg.parts.ch: the separator string, or the bin array */
    double len;        /* T_LEN */
    double arr_len;    /* arraySplt */
    double c;          /* node.c: the running index */
    char *rem;         /* string remainder (stream) */
    size_t remlen;
    uint8_t *buf; /* buffer remainder (stream) */
    size_t buflen;
};

static const struct ef_prop split_props[] = {
    {EF_PROP_ANY, "splt", NULL, false, "separator (str/bin) or length (len); default \"\\n\"",
     EF_PROP_NOFIELD},
    {EF_PROP_STR, "spltType", "\"str\"", false, "str, bin or len", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "arraySplt", NULL, false, "array chunk size (default 1)", EF_PROP_NOFIELD},
    {EF_PROP_STR, "arraySpltType", "\"len\"", false, "always len", EF_PROP_NOFIELD},
    {EF_PROP_BOOL, "stream", "false", false, "handle as a stream of messages",
     offsetof(struct split, stream)},
    {EF_PROP_STR, "addname", "\"\"", false, "object split: copy the key to this property",
     EF_PROP_NOFIELD},
    {EF_PROP_STR, "property", "\"payload\"", false, "the property to split", EF_PROP_NOFIELD},
    {EF_PROP_END},
};

/* ---- configuration ---- */

static void split_close(struct ef_node *n);

static int split_init(struct ef_node *n, const struct ef_val *config)
{
    struct split *s = ef_node_priv(n);
    char err[256];
    const struct ef_val *splt = ef_val_obj_get(config, "splt");
    const char *type = ef_val_str_get(ef_val_obj_get(config, "spltType"));
    if (!*type) {
        type = "str";
    }
    const char *prop = ef_val_str_get(ef_val_obj_get(config, "property"));
    if (seq__prop_init(&s->prop, *prop ? prop : "payload", err, sizeof(err)) != 0) {
        ef_node_error(n, NULL, "%s", err);
        return EF_EINVAL;
    }
    const char *addname = ef_val_str_get(ef_val_obj_get(config, "addname"));
    if (*addname) {
        if (seq__prop_init(&s->addname, addname, err, sizeof(err)) != 0) {
            ef_node_error(n, NULL, "%s", err);
            split_close(n); /* no cb_close after a failed init: free what was set up */
            return EF_EINVAL;
        }
        s->has_addname = true;
    }
    size_t sl = 0;
    char *stext = js__to_string(splt, &sl);
    if (!stext) {
        split_close(n);
        return EF_ENOMEM;
    }
    if (!strcmp(type, "str")) {
        s->type = T_STR;
        const char *src = ef_val_truthy(splt) ? stext : "\\n";
        s->splt = seq__unescape(src, &s->spltlen);
        s->ch = s->splt ? ef_val_strn(s->splt, s->spltlen) : NULL;
    } else if (!strcmp(type, "bin")) {
        s->type = T_BIN;
        char perr[200] = "";
        struct ef_val *arr = ef_json_parse(stext, sl, perr, sizeof(perr));
        if (!arr || ef_val_type(arr) != EF_ARR) {
            seq__init_error(n, "Invalid split property: %s%s",
                            arr ? "Error: " : "SyntaxError: ", arr ? "not an array" : perr);
            ef_val_unref(arr);
            s->broken = true;
        } else {
            s->spltlen = ef_val_arr_len(arr);
            s->splt = malloc(s->spltlen + 1);
            for (size_t i = 0; s->splt && i < s->spltlen; i++) {
                double d = js__to_number(ef_val_arr_at(arr, i));
                s->splt[i] = (char)(uint8_t)(isfinite(d) ? (int64_t)d : 0);
            }
            s->ch = arr;
        }
    } else if (!strcmp(type, "len")) {
        s->type = T_LEN;
        s->len = seq__parse_int(splt);
        if (isnan(s->len) || s->len < 1) {
            seq__init_error(n, "Invalid split property: Error: invalid split length: %s",
                            splt ? stext : "undefined");
            s->broken = true;
        }
    } else {
        s->type = T_OTHER;
    }
    free(stext);
    if (!s->broken) {
        const struct ef_val *as = ef_val_obj_get(config, "arraySplt");
        s->arr_len = as ? seq__parse_int(as) : 1;
        if (isnan(s->arr_len) || s->arr_len < 1) {
            size_t al;
            char *t = js__to_string(as, &al);
            seq__init_error(n, "Invalid split property: Error: invalid array split length: %s",
                            t ? t : "");
            free(t);
            s->broken = true;
        }
    }
    return 0;
}

static void split_close(struct ef_node *n)
{
    struct split *s = ef_node_priv(n);
    seq__prop_free(&s->prop);
    seq__prop_free(&s->addname);
    free(s->splt);
    ef_val_unref(s->ch);
    free(s->rem);
    free(s->buf);
}

/* ---- sending ---- */

/* Sends one piece: the base message with the property, (addname) and a copy
 * of the parts template with index (and count when count >= 0). Adopts v. */
static void send_piece(struct ef_node *n, struct split *s, const struct ef_msg *base,
                       const struct ef_val *tmpl, struct ef_val *v, double index, double count,
                       struct ef_val *key)
{
    struct ef_msg *m = ef_msg_share(base);
    struct ef_val *parts = ef_val_ref((struct ef_val *)tmpl);
    if (!m || !ef_val_mut(&parts)) {
        ef_msg_free(m);
        ef_val_unref(parts);
        ef_val_unref(v);
        ef_val_unref(key);
        return;
    }
    if (key) {
        ef_val_obj_set_take(parts, "key", ef_val_ref(key));
    }
    ef_val_obj_set_take(parts, "index", ef_val_num(index));
    if (count >= 0) {
        ef_val_obj_set_take(parts, "count", ef_val_num(count));
    }
    seq__prop_set(&s->prop, m, v);
    if (key && s->has_addname) {
        seq__prop_set(&s->addname, m, ef_val_ref(key));
    }
    ef_val_unref(key);
    struct ef_val *root = ef_msg_mut(m);
    if (!root) {
        ef_val_unref(parts);
        ef_msg_free(m);
        return;
    }
    ef_val_obj_set_take(root, "parts", parts);
    seq__set_new_id(root);
    if (ef_node_send(n, 0, m) != 0) {
        ef_msg_free(m);
    }
}

/* Adds key = value to the template (placeholder keys fix the key order). */
static void tset(struct ef_val *t, const char *k, struct ef_val *v)
{
    if (ef_val_obj_set_take(t, k, v) != 0) {
        ef_val_unref(v);
    }
}

/* Bytes of the first `units` UTF-16 code units of s (from byte pos). */
static size_t utf16_advance(const char *s, size_t len, size_t pos, double units)
{
    while (pos < len && units > 0) {
        unsigned char c = (unsigned char)s[pos];
        size_t w = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        units -= w == 4 ? 2 : 1;
        pos += w;
    }
    return pos > len ? len : pos;
}

/* Splits "str" by the separator (JavaScript's String.prototype.split). */
static struct ef_val *js_split(const char *v, size_t vl, const char *sep, size_t sl)
{
    struct ef_val *a = ef_val_arr();
    if (!a) {
        return NULL;
    }
    if (sl == 0) {
        for (size_t i = 0; i < vl;) {
            size_t j = utf16_advance(v, vl, i, 1);
            if (j == i) {
                j = i + 1;
            }
            ef_val_arr_push_take(a, ef_val_strn(v + i, j - i));
            i = j;
        }
        return a;
    }
    size_t p = 0;
    for (;;) {
        const char *hit = vl - p >= sl ? memmem(v + p, vl - p, sep, sl) : NULL;
        if (!hit) {
            ef_val_arr_push_take(a, ef_val_strn(v + p, vl - p));
            return a;
        }
        ef_val_arr_push_take(a, ef_val_strn(v + p, (size_t)(hit - (v + p))));
        p = (size_t)(hit - v) + sl;
    }
}

/* sendArray(): every element with index (and count unless streaming). */
static void send_array(struct ef_node *n, struct split *s, const struct ef_msg *base,
                       const struct ef_val *tmpl, const struct ef_val *arr)
{
    size_t len = ef_val_arr_len(arr);
    double cnt = s->stream ? -1 : (double)len;
    for (size_t i = 0; i + 1 < len; i++) {
        send_piece(n, s, base, tmpl, ef_val_ref(ef_val_arr_at(arr, i)), s->c++, cnt, NULL);
    }
    if (!s->stream) {
        send_piece(n, s, base, tmpl, ef_val_ref(ef_val_arr_at(arr, len ? len - 1 : 0)), s->c++,
                   (double)len, NULL);
        s->c = 0;
    } else {
        const struct ef_val *last = len ? ef_val_arr_at(arr, len - 1) : NULL;
        free(s->rem);
        s->remlen = ef_val_str_len(last);
        s->rem = strndup(ef_val_str_get(last), s->remlen);
    }
}

static void split_string(struct ef_node *n, struct split *s, const struct ef_msg *base,
                         struct ef_val *tmpl, const struct ef_val *value)
{
    size_t vl = (s->rem ? s->remlen : 0) + ef_val_str_len(value);
    char *v = malloc(vl + 1);
    if (!v) {
        return;
    }
    size_t rl = s->rem ? s->remlen : 0;
    if (rl) {
        memcpy(v, s->rem, rl);
    }
    memcpy(v + rl, ef_val_str_get(value), ef_val_str_len(value));
    v[vl] = 0;
    tset(tmpl, "type", ef_val_str("string"));
    if (s->type == T_LEN) {
        tset(tmpl, "ch", ef_val_str(""));
        tset(tmpl, "len", ef_val_num(s->len));
        double count = ceil((double)js__utf16_length(v, vl) / s->len);
        if (!s->stream) {
            tset(tmpl, "count", ef_val_num(count));
            s->c = 0;
        }
        tset(tmpl, "index", ef_val_num(0));
        size_t pos = 0;
        for (double i = 0; i < count - 1; i++) {
            size_t end = utf16_advance(v, vl, pos, s->len);
            send_piece(n, s, base, tmpl, ef_val_strn(v + pos, end - pos), s->c++, -1, NULL);
            pos = end;
        }
        free(s->rem);
        s->remlen = vl - pos;
        s->rem = strndup(v + pos, s->remlen);
        if (!s->stream || (double)js__utf16_length(s->rem, s->remlen) == s->len) {
            send_piece(n, s, base, tmpl, ef_val_strn(s->rem, s->remlen), s->c++, -1, NULL);
            free(s->rem);
            s->rem = strdup("");
            s->remlen = 0;
        }
        free(v);
        return;
    }
    struct ef_val *arr = NULL;
    if (s->type == T_STR || s->type == T_BIN) {
        tset(tmpl, "ch", ef_val_ref(s->ch));
        arr = js_split(v, vl, s->splt, s->spltlen);
    } else {
        arr = ef_val_arr();
    }
    free(v);
    tset(tmpl, "index", ef_val_num(0));
    if (!s->stream) {
        tset(tmpl, "count", ef_val_num(0));
    }
    if (arr) {
        send_array(n, s, base, tmpl, arr);
    }
    ef_val_unref(arr);
}

static void split_buffer(struct ef_node *n, struct split *s, const struct ef_msg *base,
                         struct ef_val *tmpl, const struct ef_val *value)
{
    size_t bl = s->buflen + ef_val_buf_len(value);
    uint8_t *b = malloc(bl + 1);
    if (!b) {
        return;
    }
    if (s->buflen) {
        memcpy(b, s->buf, s->buflen);
    }
    memcpy(b + s->buflen, ef_val_buf_data(value), ef_val_buf_len(value));
    free(s->buf);
    s->buf = NULL;
    s->buflen = 0;
    tset(tmpl, "type", ef_val_str("buffer"));
    if (s->type == T_LEN) {
        size_t L = (size_t)s->len;
        double count = ceil((double)bl / s->len);
        if (!s->stream) {
            tset(tmpl, "count", ef_val_num(count));
            s->c = 0;
        }
        tset(tmpl, "len", ef_val_num(s->len));
        tset(tmpl, "index", ef_val_num(0));
        size_t pos = 0;
        for (double i = 0; i < count - 1; i++) {
            size_t end = pos + L > bl ? bl : pos + L;
            send_piece(n, s, base, tmpl, ef_val_buf(b + pos, end - pos), s->c++, -1, NULL);
            pos = end;
        }
        if (!s->stream || bl - pos == L) {
            send_piece(n, s, base, tmpl, ef_val_buf(b + pos, bl - pos), s->c++, -1, NULL);
            free(b);
        } else {
            memmove(b, b + pos, bl - pos);
            s->buf = b;
            s->buflen = bl - pos;
        }
        return;
    }
    if (s->type == T_STR || s->type == T_BIN) {
        tset(tmpl, "ch", ef_val_ref(s->ch));
    }
    const char *sep = s->splt ? s->splt : "";
    size_t sl = s->splt ? s->spltlen : 0;
    /* Buffer.indexOf of an empty needle finds it at every position but the
     * loops below would never end; Node-RED would hang: treat it as absent. */
    double count = 1;
    size_t p = 0;
    if (sl) {
        for (const uint8_t *h = memmem(b, bl, sep, sl); h;
             h = memmem(h + sl, bl - (size_t)(h + sl - b), sep, sl)) {
            count++;
        }
    }
    if (!s->stream) {
        tset(tmpl, "count", ef_val_num(count));
        s->c = 0;
    }
    tset(tmpl, "index", ef_val_num(0));
    if (sl) {
        for (const uint8_t *h = memmem(b, bl, sep, sl); h; h = memmem(b + p, bl - p, sep, sl)) {
            size_t pos = (size_t)(h - b);
            send_piece(n, s, base, tmpl, ef_val_buf(b + p, pos - p), s->c++, -1, NULL);
            p = pos + sl;
        }
    }
    if (!s->stream && p < bl) {
        double idx = s->c++;
        double cnt = s->c++;
        send_piece(n, s, base, tmpl, ef_val_buf(b + p, bl - p), idx, cnt, NULL);
        free(b);
    } else if (bl - p > 0) {
        memmove(b, b + p, bl - p);
        s->buf = b;
        s->buflen = bl - p;
    } else {
        free(b);
    }
}

static void split_object(struct ef_node *n, struct split *s, const struct ef_msg *base,
                         struct ef_val *tmpl, const struct ef_val *value)
{
    size_t l = ef_val_obj_len(value);
    tset(tmpl, "type", ef_val_str("object"));
    tset(tmpl, "key", ef_val_str(""));
    tset(tmpl, "index", ef_val_num(0));
    tset(tmpl, "count", ef_val_num((double)l));
    for (size_t j = 0; j < l; j++) {
        size_t kl;
        const char *k = ef_val_obj_key_at(value, j, &kl);
        send_piece(n, s, base, tmpl, ef_val_ref(ef_val_obj_val_at(value, j)), (double)j, -1,
                   ef_val_strn(k, kl));
    }
}

static void split_array(struct ef_node *n, struct split *s, const struct ef_msg *base,
                        struct ef_val *tmpl, const struct ef_val *value)
{
    size_t len = ef_val_arr_len(value);
    double count = ceil((double)len / s->arr_len);
    tset(tmpl, "type", ef_val_str("array"));
    tset(tmpl, "count", ef_val_num(count));
    tset(tmpl, "len", ef_val_num(s->arr_len));
    tset(tmpl, "index", ef_val_num(0));
    size_t chunk = (size_t)s->arr_len;
    size_t pos = 0;
    for (double i = 0; i < count; i++, pos += chunk) {
        struct ef_val *piece;
        if (chunk == 1) {
            piece = ef_val_ref(ef_val_arr_at(value, pos)); /* m[0] */
        } else {
            piece = ef_val_arr();
            for (size_t k = pos; piece && k < pos + chunk && k < len; k++) {
                ef_val_arr_push_take(piece, ef_val_ref(ef_val_arr_at(value, k)));
            }
        }
        send_piece(n, s, base, tmpl, piece, i, -1, NULL);
    }
}

static int split_input(struct ef_node *n, struct ef_msg *msg)
{
    struct split *s = ef_node_priv(n);
    if (s->broken) {
        ef_msg_free(msg);
        return EF_INPUT_ASYNC; /* Node-RED registered no input handler */
    }
    char perr[200];
    if (seq__prop_check(&s->prop, msg, perr, sizeof(perr)) != 0) {
        ef_node_error(n, msg, "%s", perr);
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    struct ef_val *value = ef_val_ref(seq__prop_get(&s->prop, msg));
    if (!value) {
        ef_msg_free(msg);
        return EF_INPUT_ASYNC; /* nothing sent and done() never called, as in Node-RED */
    }
    struct ef_val *tmpl = ef_val_obj();
    struct ef_val *root = ef_msg_mut(msg);
    if (!tmpl || !root) {
        ef_val_unref(tmpl);
        ef_val_unref(value);
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    const struct ef_val *old = ef_val_obj_get(root, "parts");
    if (old) {
        tset(tmpl, "parts", ef_val_ref((struct ef_val *)old));
    }
    tset(tmpl, "id", seq__id_val());
    if (strcmp(s->prop.text, "payload") != 0) {
        tset(tmpl, "property", ef_val_str(s->prop.text));
    }
    ef_val_obj_del(root, "_msgid", 6);
    /* The parts key goes where Node-RED puts it (replaced in place, or last);
     * each piece replaces this placeholder with its own parts object. */
    ef_val_obj_set_take(root, "parts", ef_val_null());
    switch (ef_val_type(value)) {
    case EF_STR: split_string(n, s, msg, tmpl, value); break;
    case EF_ARR: split_array(n, s, msg, tmpl, value); break;
    case EF_OBJ: split_object(n, s, msg, tmpl, value); break;
    case EF_BUF: split_buffer(n, s, msg, tmpl, value); break;
    case EF_NULL:
        ef_val_obj_set_take(root, "parts", ef_val_ref(tmpl));
        ef_node_error(n, msg, "TypeError: Cannot convert undefined or null to object");
        break;
    default: break;
    }
    ef_val_unref(tmpl);
    ef_val_unref(value);
    ef_msg_free(msg);
    return EF_INPUT_DONE;
}

const struct ef_node_type ef_type_split = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "split",
    .description = "splits a string, array, object or buffer into a message sequence",
    .category = "sequence",
    .inputs = 1,
    .outputs = 1,
    .props = split_props,
    .priv_size = sizeof(struct split),
    .cb_init = split_init,
    .cb_input = split_input,
    .cb_close = split_close,
};
