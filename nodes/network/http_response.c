/*
 * http_response.c - the http response node (Node-RED 21-httpin.js,
 * HTTPOut): answers the request behind msg.res (a handle made by an http in
 * node, runtime/http_routes.c) with msg.payload. Status: the configured
 * code, else msg.statusCode, else 200. Headers: the configured ones, then
 * msg.headers for names not configured (ignored when they are exactly the
 * headers an http request node returned, by its x-node-red-request-node
 * hash). msg.cookies set or clear cookies as Express's res.cookie and
 * res.clearCookie. Objects, arrays and null go out as JSON, Buffers as
 * bytes, numbers and strings as text. Only the first answer to a request
 * counts; a later one is an error, as in Node-RED.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "http_routes.h"
#include "js.h"
#include "strbuf.h"

#include "lib/hash_sum.h"

struct http_response {
    struct ef_node *n;
    int status; /* configured status code, 0 when none */
    const struct ef_val *headers;
};

static const struct ef_prop http_response_props[] = {
    {EF_PROP_ANY, "statusCode", "\"\"", false, "status code; empty: msg.statusCode, else 200",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "headers", "{}", false, "headers to set (name: value)",
     offsetof(struct http_response, headers)},
    {EF_PROP_END},
};

/* JavaScript parseInt(v) as a status code: 0 when NaN (falsy in `a || b`). */
static int parse_status(const struct ef_val *v)
{
    if (!v) {
        return 0;
    }
    double d = js__parse_int(v);
    return isnan(d) || d == 0 || fabs(d) > 1e9 ? 0 : (int)d;
}

static int cb_init(struct ef_node *n, const struct ef_val *config)
{
    struct http_response *h = ef_node_priv(n);
    h->n = n;
    h->status = parse_status(ef_val_obj_get(config, "statusCode"));
    if (h->headers && ef_val_type(h->headers) != EF_OBJ) {
        h->headers = NULL;
    }
    return 0;
}

/* ---- headers ---- */

struct hdrs {
    struct http_header *v;
    char **owned;
    size_t n, cap, nowned;
    bool oom;
};

static const char *own(struct hdrs *h, char *s)
{
    if (!s) {
        h->oom = true;
        return "";
    }
    char **no = realloc(h->owned, (h->nowned + 1) * sizeof(char *));
    if (!no) {
        free(s);
        h->oom = true;
        return "";
    }
    h->owned = no;
    h->owned[h->nowned++] = s;
    return s;
}

static void hdr_add(struct hdrs *h, const char *name, const char *value)
{
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 16;
        struct http_header *nv = realloc(h->v, nc * sizeof(*nv));
        if (!nv) {
            h->oom = true;
            return;
        }
        h->v = nv;
        h->cap = nc;
    }
    h->v[h->n].name = name;
    h->v[h->n].value = value;
    h->n++;
}

/* res.set(name, value): arrays become repeated headers, the rest String(value). */
static void hdr_set(struct hdrs *h, const char *name, size_t nl, const struct ef_val *v)
{
    const char *nm = own(h, strndup(name, nl));
    if (ef_val_type(v) == EF_ARR) {
        for (size_t i = 0; i < ef_val_arr_len(v); i++) {
            hdr_add(h, nm, own(h, js__to_string(ef_val_arr_at(v, i), NULL)));
        }
        return;
    }
    hdr_add(h, nm, own(h, js__to_string(v, NULL)));
}

static void hdrs_free(struct hdrs *h)
{
    for (size_t i = 0; i < h->nowned; i++) {
        free(h->owned[i]);
    }
    free(h->owned);
    free(h->v);
}

/* ---- cookies (Express's res.cookie over the cookie package's serialize) ---- */

static void uri_encode(struct strbuf *b, const char *s, size_t len)
{
    static const char safe[] = "-_.!~*'()";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || (c && strchr(safe, c))) {
            strbuf__add(b, (const char *)&c, 1);
        } else {
            strbuf__addf(b, "%%%02X", c);
        }
    }
}

/* The cookie package's fieldContentRegExp: tab, printable ASCII and 0x80-0xff only. */
static bool field_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p != '\t' && (*p < 0x20 || *p == 0x7f)) {
            return false;
        }
    }
    return true;
}

static void utc_string(double ms, char out[64])
{
    time_t t = (time_t)floor(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 64, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/*
 * One Set-Cookie value for name=value with options (an object or NULL), as
 * res.cookie(name, value, options). Returns 0, or -1 with the cookie
 * package's TypeError text in err.
 */
static int cookie_value(struct strbuf *b, const char *name, const struct ef_val *value,
                        const struct ef_val *opts, double expires_ms, char *err, size_t errlen)
{
    for (const char *p = name; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c != '\t' && (c < 0x20 || c == 0x7f)) {
            snprintf(err, errlen, "argument name is invalid");
            return -1;
        }
    }
    if (!*name) {
        snprintf(err, errlen, "argument name is invalid");
        return -1;
    }
    char *val;
    size_t vl;
    if (value && (ef_val_type(value) == EF_OBJ || ef_val_type(value) == EF_ARR ||
                  ef_val_type(value) == EF_NULL)) {
        char *j = ef_json_print(value, 0, &vl);
        val = j ? malloc(vl + 3) : NULL;
        if (val) {
            memcpy(val, "j:", 2);
            memcpy(val + 2, j, vl + 1);
            vl += 2;
        }
        free(j);
    } else if (value) {
        val = js__to_string(value, &vl);
    } else {
        val = strdup("undefined");
        vl = 9;
    }
    if (!val) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    strbuf__adds(b, name);
    strbuf__adds(b, "=");
    uri_encode(b, val, vl);
    free(val);
    const struct ef_val *ma = opts ? ef_val_obj_get(opts, "maxAge") : NULL;
    bool has_expires = false;
    double exp = expires_ms;
    if (!isnan(expires_ms)) {
        has_expires = true;
    }
    if (ma && ef_val_type(ma) != EF_NULL) {
        double m = js__to_number(ma);
        if (!isnan(m)) {
            if (!isfinite(m)) {
                snprintf(err, errlen, "option maxAge is invalid");
                return -1;
            }
            exp = ef_now_ms() + m;
            has_expires = true;
            strbuf__addf(b, "; Max-Age=%.0f", floor(floor(m / 1000)));
        }
    } else if (opts && ef_val_truthy(ef_val_obj_get(opts, "expires")) && isnan(expires_ms)) {
        /* an expires from a message is a string or number, never a Date */
        snprintf(err, errlen, "option expires is invalid");
        return -1;
    }
    const struct ef_val *domain = opts ? ef_val_obj_get(opts, "domain") : NULL;
    if (domain && ef_val_truthy(domain)) {
        if (!field_ok(ef_val_str_get(domain))) {
            snprintf(err, errlen, "option domain is invalid");
            return -1;
        }
        strbuf__addf(b, "; Domain=%s", ef_val_str_get(domain));
    }
    const struct ef_val *path = opts ? ef_val_obj_get(opts, "path") : NULL;
    if (path && ef_val_type(path) != EF_NULL) {
        if (ef_val_truthy(path)) {
            char *ps = js__to_string(path, NULL);
            bool ok = ps && field_ok(ps);
            if (ok) {
                strbuf__addf(b, "; Path=%s", ps);
            }
            free(ps);
            if (!ok) {
                snprintf(err, errlen, "option path is invalid");
                return -1;
            }
        }
    } else {
        strbuf__adds(b, "; Path=/");
    }
    if (has_expires) {
        char d[64];
        utc_string(exp, d);
        strbuf__addf(b, "; Expires=%s", d);
    }
    if (opts && ef_val_truthy(ef_val_obj_get(opts, "httpOnly"))) {
        strbuf__adds(b, "; HttpOnly");
    }
    if (opts && ef_val_truthy(ef_val_obj_get(opts, "secure"))) {
        strbuf__adds(b, "; Secure");
    }
    if (opts && ef_val_truthy(ef_val_obj_get(opts, "partitioned"))) {
        strbuf__adds(b, "; Partitioned");
    }
    const struct ef_val *pr = opts ? ef_val_obj_get(opts, "priority") : NULL;
    if (pr && ef_val_truthy(pr)) {
        const char *s = ef_val_str_get(pr);
        if (!strcasecmp(s, "low")) {
            strbuf__adds(b, "; Priority=Low");
        } else if (!strcasecmp(s, "medium")) {
            strbuf__adds(b, "; Priority=Medium");
        } else if (!strcasecmp(s, "high")) {
            strbuf__adds(b, "; Priority=High");
        } else {
            snprintf(err, errlen, "option priority is invalid");
            return -1;
        }
    }
    const struct ef_val *ss = opts ? ef_val_obj_get(opts, "sameSite") : NULL;
    if (ss && ef_val_truthy(ss)) {
        const char *s = ef_val_type(ss) == EF_STR ? ef_val_str_get(ss) : "";
        if (ef_val_type(ss) == EF_BOOL || !strcasecmp(s, "strict")) {
            strbuf__adds(b, "; SameSite=Strict");
        } else if (!strcasecmp(s, "lax")) {
            strbuf__adds(b, "; SameSite=Lax");
        } else if (!strcasecmp(s, "none")) {
            strbuf__adds(b, "; SameSite=None");
        } else {
            snprintf(err, errlen, "option sameSite is invalid");
            return -1;
        }
    }
    return 0;
}

/* msg.cookies: set, or clear (null, or {value: null, ...options}). */
static int add_cookies(struct hdrs *h, const struct ef_val *cookies, char *err, size_t errlen)
{
    for (size_t i = 0; i < ef_val_obj_len(cookies); i++) {
        size_t kl;
        const char *k = ef_val_obj_key_at(cookies, i, &kl);
        const struct ef_val *c = ef_val_obj_val_at(cookies, i);
        char *name = strndup(k, kl);
        if (!name) {
            return -1;
        }
        struct strbuf b = {0};
        int rc;
        bool is_obj = ef_val_type(c) == EF_OBJ;
        const struct ef_val *value = is_obj ? ef_val_obj_get(c, "value") : c;
        if (ef_val_type(c) == EF_NULL || (is_obj && value && ef_val_type(value) == EF_NULL)) {
            /* res.clearCookie(name, options): empty value, expired, Path=/ unless given */
            struct ef_val *empty = ef_val_str("");
            const struct ef_val *exp = is_obj ? ef_val_obj_get(c, "expires") : NULL;
            double when = exp && ef_val_truthy(exp) ? NAN : 1;
            rc = cookie_value(&b, name, empty, is_obj ? c : NULL, when, err, errlen);
            ef_val_unref(empty);
        } else {
            rc = cookie_value(&b, name, value, is_obj ? c : NULL, NAN, err, errlen);
        }
        free(name);
        char *line = strbuf__take(&b, NULL);
        if (rc != 0 || !line) {
            free(line);
            return -1;
        }
        hdr_add(h, "Set-Cookie", own(h, line));
    }
    return 0;
}

/*
 * Node's checks in res.setHeader: the name an HTTP token, the value without
 * control characters (CR/LF would split the answer). Writes Node's error
 * text into err and returns false on the first bad header.
 */
static bool headers_valid(const struct hdrs *h, char *err, size_t errlen)
{
    static const char tok[] = "^_`-!#$%&'*+.|~";
    for (size_t i = 0; i < h->n; i++) {
        const unsigned char *k = (const unsigned char *)h->v[i].name;
        bool ok = *k != '\0';
        for (; *k && ok; k++) {
            ok = isalnum(*k) || strchr(tok, *k);
        }
        if (!ok) {
            snprintf(err, errlen, "Header name must be a valid HTTP token [\"%s\"]", h->v[i].name);
            return false;
        }
        for (const unsigned char *v = (const unsigned char *)h->v[i].value; *v; v++) {
            if (*v != '\t' && (*v < 0x20 || *v == 0x7f)) {
                snprintf(err, errlen, "Invalid character in header content [\"%s\"]", h->v[i].name);
                return false;
            }
        }
    }
    return true;
}

/* ---- input ---- */

static bool has_key_exact(const struct ef_val *o, const char *k, size_t kl)
{
    return o && ef_val_obj_getn(o, k, kl) != NULL;
}

static int cb_input(struct ef_node *n, struct ef_msg *msg)
{
    struct http_response *hr = ef_node_priv(n);
    const struct ef_val *resv = ef_msg_get(msg, "res");
    struct http_req *q = resv ? ef_val_handle_ptr(resv, &http_routes__res_type) : NULL;
    if (!q) {
        ef_node_warn(n, "No response object");
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    struct hdrs h = {0};
    const struct ef_val *cfg = hr->headers;
    for (size_t i = 0; cfg && i < ef_val_obj_len(cfg); i++) {
        size_t kl;
        const char *k = ef_val_obj_key_at(cfg, i, &kl);
        hdr_set(&h, k, kl, ef_val_obj_val_at(cfg, i));
    }
    const struct ef_val *mh = ef_msg_get(msg, "headers");
    struct ef_val *mine = NULL;
    if (mh && ef_val_type(mh) == EF_OBJ) {
        const struct ef_val *tag = ef_val_obj_get(mh, "x-node-red-request-node");
        if (tag) {
            /* the headers of an http request node's answer, unchanged: not sent back */
            mine = ef_val_copy(mh);
            if (mine) {
                ef_val_obj_del(mine, "x-node-red-request-node", strlen("x-node-red-request-node"));
                struct ef_val *hash = hash_sum__of(mine);
                bool same = hash && ef_val_equal(hash, tag);
                ef_val_unref(hash);
                if (same) {
                    ef_val_unref(mine);
                    mine = NULL;
                    mh = NULL;
                } else {
                    mh = mine;
                }
            }
        }
        for (size_t i = 0; mh && i < ef_val_obj_len(mh); i++) {
            size_t kl;
            const char *k = ef_val_obj_key_at(mh, i, &kl);
            if (!has_key_exact(cfg, k, kl)) {
                hdr_set(&h, k, kl, ef_val_obj_val_at(mh, i));
            }
        }
    }
    char err[256] = "";
    const struct ef_val *cookies = ef_msg_get(msg, "cookies");
    if (cookies && ef_val_type(cookies) == EF_OBJ && add_cookies(&h, cookies, err, sizeof(err))) {
        ef_node_error(n, msg, "%s", *err ? err : "out of memory");
        goto out;
    }
    if (!headers_valid(&h, err, sizeof(err))) {
        ef_node_error(n, msg, "%s", err);
        goto out;
    }
    int status = hr->status ? hr->status : parse_status(ef_msg_get(msg, "statusCode"));
    if (!status) {
        status = 200;
    }
    if (status < 100 || status > 999) {
        ef_node_error(n, msg, "Invalid status code: %d", status);
        goto out;
    }
    const struct ef_val *p = ef_msg_get(msg, "payload");
    enum ef_type t = p ? ef_val_type(p) : EF_NULL;
    int rc;
    if (p && (t == EF_OBJ || t == EF_ARR || t == EF_NULL || t == EF_HANDLE)) {
        size_t len = 0;
        char *json = ef_json_print(p, 0, &len);
        rc = json ? http_req__send(q, status, h.v, h.n, HTTP_BODY_JSON, json, len) : EF_ENOMEM;
        free(json);
    } else if (!p) {
        rc = http_req__send(q, status, h.v, h.n, HTTP_BODY_NONE, NULL, 0);
    } else if (t == EF_BUF) {
        rc = http_req__send(q, status, h.v, h.n, HTTP_BODY_BUF, (const char *)ef_val_buf_data(p),
                            ef_val_buf_len(p));
    } else if (t == EF_STR) {
        rc = http_req__send(q, status, h.v, h.n, HTTP_BODY_TEXT, ef_val_str_get(p),
                            ef_val_str_len(p));
    } else if (t == EF_NUM) {
        char num[32];
        size_t len = ef_num_format(ef_val_num_get(p), num);
        rc = http_req__send(q, status, h.v, h.n, HTTP_BODY_TEXT, num, len);
    } else {
        /* Buffer.byteLength(true) throws in Node-RED before anything is sent */
        ef_node_error(n, msg,
                      "The \"string\" argument must be of type string or an instance of Buffer or "
                      "ArrayBuffer. Received type boolean (%s)",
                      ef_val_bool_get(p) ? "true" : "false");
        goto out;
    }
    if (h.oom) {
        rc = EF_ENOMEM;
    }
    if (rc == EF_ESTATE) {
        ef_node_error(n, msg, "Cannot set headers after they are sent to the client");
    } else if (rc < 0) {
        ef_node_error(n, msg, "cannot answer the request: %s", ef_strerror(rc));
    }
out:
    ef_val_unref(mine);
    hdrs_free(&h);
    ef_msg_free(msg);
    return EF_INPUT_DONE;
}

const struct ef_node_type ef_type_http_response = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "http response",
    .description = "Answers the HTTP request of an http in node with msg.payload, "
                   "msg.statusCode, msg.headers and msg.cookies",
    .category = "network",
    .inputs = 1,
    .outputs = 0,
    .props = http_response_props,
    .priv_size = sizeof(struct http_response),
    .cb_init = cb_init,
    .cb_input = cb_input,
};
