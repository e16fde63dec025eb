/*
 * http_routes.c - the HTTP endpoints of Node-RED's `http in` nodes on
 * edgeflow's own server (server.c hands every complete request here first):
 * the route registry (Express's path syntax: /a/:id, /a/:id?, *), the
 * settings httpNodeRoot, httpNodeAuth (basic auth, bcrypt), httpNodeCors
 * (the cors package's headers), httpNodeTimeout (503 for requests no flow
 * answers), httpNodeMaxPending (503 at once past that many waiting) and
 * apiMaxLength, Express's request parsing (query and
 * urlencoded bodies as qs, cookies as cookie-parser, JSON as body-parser,
 * text/raw as Node-RED's rawBodyParser, multipart as multer's memory
 * storage) and, for the http response node, Express's res.send: content
 * type and charset, weak ETag, freshness (304), HEAD, JSONP.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "js.h"
#include "base64.h"
#include "http_routes.h"
#include "password.h"
#include "server.h"
#include "strbuf.h"

#define DEFAULT_TIMEOUT_MS 120000
#define DEFAULT_MAX_PENDING 10000 /* httpNodeMaxPending: requests waiting for an answer */
#define DEFAULT_BODY_MAX (5u << 20)
#define MAX_SEGS 32
#define QS_DEPTH 5
#define QS_ARRAY_LIMIT 20
#define QS_PARAM_LIMIT 1000

enum { M_GET, M_POST, M_PUT, M_DELETE, M_PATCH };
static const char *const method_names[] = {"get", "post", "put", "delete", "patch"};

struct route {
    struct ef_node *node;
    int method;
    char *url;            /* as registered, with a leading "/" */
    char *segs[MAX_SEGS]; /* url split at "/" */
    int nsegs;
    bool upload, raw;
    struct route *next;
};

struct http_routes {
    struct ef_runtime *rt;
    struct route *head;
    struct http_req *pending; /* requests handed to flows, not yet freed */
    size_t npending;          /* ... and how many: at most httpNodeMaxPending */
    uint64_t refused_busy;    /* answered 503 because npending was at the limit */
    /* httpNodeAuth: SHA-256 of the last password that passed (Node-RED caches it too) */
    unsigned char good[32];
    bool has_good;
};

/* One request handed to a flow: shared by the connection and msg.res. */
struct http_req {
    unsigned refs;                  /* connection + handle value + open timer */
    struct srv_conn *c;             /* NULL once the client has gone or it is answered */
    struct ef_node *node;           /* the http in node (for warnings); NULL when it closed */
    struct http_routes *routes;     /* NULL when not listed in routes->pending */
    struct http_req *next, **pprev; /* in routes->pending */
    bool answered, get_like;
    char *query_callback; /* ?callback= for JSONP, or NULL */
    char *if_none_match;  /* request's If-None-Match, or NULL */
    bool no_cache;        /* request Cache-Control: no-cache */
    struct strbuf cors;   /* CORS headers for the answer: name\0value\0... */
    struct strbuf hdrs;   /* the answer's headers: name\0value\0... */
    int status;
    bool timer_open;
    uv_timer_t timer;
};

/* ---- small helpers ---- */

static void kv_add(struct strbuf *b, const char *name, const char *value)
{
    strbuf__add(b, name, strlen(name) + 1);
    strbuf__add(b, value, strlen(value) + 1);
}

/* ---- settings ---- */

static const struct ef_val *setting(struct ef_runtime *rt, const char *key)
{
    return rt && rt->settings ? settings__get(rt->settings, key) : NULL;
}

bool http_routes__enabled(struct ef_runtime *rt)
{
    const struct ef_val *v = setting(rt, "httpNodeRoot");
    return !(v && ef_val_type(v) == EF_BOOL && !ef_val_bool_get(v));
}

/* httpNodeRoot without its trailing "/" ("" for "/"). */
static void node_root(struct ef_runtime *rt, char *out, size_t len)
{
    const struct ef_val *v = setting(rt, "httpNodeRoot");
    const char *s = v && ef_val_type(v) == EF_STR ? ef_val_str_get(v) : "/";
    snprintf(out, len, "%s%s", s[0] == '/' ? "" : "/", s);
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '/') {
        out[--n] = '\0';
    }
}

size_t http_routes__body_max(const struct ef_settings *s)
{
    const struct ef_val *v = s ? settings__get(s, "apiMaxLength") : NULL;
    if (!v) {
        return DEFAULT_BODY_MAX;
    }
    if (ef_val_type(v) == EF_NUM) {
        double d = ef_val_num_get(v);
        return d >= 0 && d < 1e12 ? (size_t)d : DEFAULT_BODY_MAX;
    }
    /* the bytes package: "100kb", "5mb", "1.5gb", "512" (bytes) */
    const char *t = ef_val_str_get(v);
    char *end;
    double d = strtod(t, &end);
    if (end == t || d < 0) {
        return DEFAULT_BODY_MAX;
    }
    while (*end == ' ') {
        end++;
    }
    double mul = 1;
    if (!strcasecmp(end, "kb")) {
        mul = 1024;
    } else if (!strcasecmp(end, "mb")) {
        mul = 1024.0 * 1024;
    } else if (!strcasecmp(end, "gb")) {
        mul = 1024.0 * 1024 * 1024;
    } else if (*end && strcasecmp(end, "b") != 0) {
        return DEFAULT_BODY_MAX;
    }
    d = floor(d * mul);
    return d < 1e12 ? (size_t)d : DEFAULT_BODY_MAX;
}

/* ---- registry ---- */

struct http_routes *http_routes__of(struct ef_runtime *rt)
{
    if (!rt->http_routes) {
        struct http_routes *r = calloc(1, sizeof(*r));
        if (!r) {
            return NULL;
        }
        r->rt = rt;
        rt->http_routes = r;
    }
    return rt->http_routes;
}

static void route_free(struct route *rt)
{
    for (int i = 0; i < rt->nsegs; i++) {
        free(rt->segs[i]);
    }
    free(rt->url);
    free(rt);
}

void http_routes__free(struct http_routes *r)
{
    if (!r) {
        return;
    }
    while (r->head) {
        struct route *n = r->head->next;
        route_free(r->head);
        r->head = n;
    }
    for (struct http_req *q = r->pending; q; q = q->next) {
        q->routes = NULL;
        q->node = NULL;
    }
    r->rt->http_routes = NULL;
    free(r);
}

int http_routes__add(struct http_routes *r, struct ef_node *n, const char *method, const char *url,
                     bool upload, bool raw)
{
    int m = -1;
    for (int i = 0; i < 5; i++) {
        if (!strcmp(method, method_names[i])) {
            m = i;
        }
    }
    if (m < 0) {
        return EF_EINVAL;
    }
    struct route *rt = calloc(1, sizeof(*rt));
    if (!rt) {
        return EF_ENOMEM;
    }
    rt->node = n;
    rt->method = m;
    rt->upload = upload;
    rt->raw = raw;
    size_t ul = strlen(url);
    rt->url = malloc(ul + 2);
    if (!rt->url) {
        free(rt);
        return EF_ENOMEM;
    }
    snprintf(rt->url, ul + 2, "%s%s", url[0] == '/' ? "" : "/", url);
    const char *p = rt->url + 1;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t l = slash ? (size_t)(slash - p) : strlen(p);
        if (!slash && l == 0) {
            break; /* trailing "/" is optional (Express's non-strict routing) */
        }
        if (rt->nsegs == MAX_SEGS || !(rt->segs[rt->nsegs] = strndup(p, l))) {
            int rc = rt->nsegs == MAX_SEGS ? EF_ERANGE : EF_ENOMEM;
            route_free(rt);
            return rc;
        }
        rt->nsegs++;
        if (!slash) {
            break;
        }
        p = slash + 1;
    }
    struct route **tail = &r->head;
    while (*tail) {
        tail = &(*tail)->next;
    }
    *tail = rt;
    return 0;
}

void http_routes__remove(struct http_routes *r, struct ef_node *n)
{
    for (struct route **pp = &r->head; *pp;) {
        if ((*pp)->node == n) {
            struct route *d = *pp;
            *pp = d->next;
            route_free(d);
        } else {
            pp = &(*pp)->next;
        }
    }
    for (struct http_req *q = r->pending; q; q = q->next) {
        if (q->node == n) {
            q->node = NULL;
        }
    }
}

/*
 * Matches path (a raw URL path, relative to httpNodeRoot) against a route
 * as Express's path-to-regexp 0.1 would (case-insensitive, optional
 * trailing slash). Adds decoded params to `params` when not NULL. Returns
 * 1 on a match, 0 when not, -1 when a parameter is not valid
 * percent-encoding (Express answers 400).
 */
static int route_match(const struct route *rt, const char *path, struct ef_val *params)
{
    const char *segs[MAX_SEGS + 1];
    size_t lens[MAX_SEGS + 1];
    int ns = 0;
    const char *p = path[0] == '/' ? path + 1 : path;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t l = slash ? (size_t)(slash - p) : strlen(p);
        if (!slash && l == 0 && ns > 0) {
            break; /* one trailing "/" */
        }
        if (!slash && l == 0 && ns == 0) {
            break; /* "/" itself */
        }
        if (ns == MAX_SEGS + 1) {
            return 0;
        }
        segs[ns] = p;
        lens[ns++] = l;
        if (!slash) {
            break;
        }
        p = slash + 1;
    }
    int wild = 0;
    int si = 0;
    for (int i = 0; i < rt->nsegs; i++) {
        const char *pat = rt->segs[i];
        if (strchr(pat, '*')) {
            /* "*" matches the rest of the path (from this segment on) */
            if (si > ns) {
                return 0;
            }
            const char *start = si < ns ? segs[si] : path + strlen(path);
            size_t plen = strlen(pat);
            const char *star = strchr(pat, '*');
            size_t pre = (size_t)(star - pat);
            if (si < ns && strncasecmp(start, pat, pre) != 0) {
                return 0;
            }
            size_t pathlen = strlen(path);
            if (si >= ns && (pre > 0 || pathlen == 0 || path[pathlen - 1] != '/')) {
                return 0; /* a trailing "*" needs the "/" before it */
            }
            if (i != rt->nsegs - 1 || pre + 1 != plen) {
                return 0; /* only a trailing "*" (the common form) is supported */
            }
            /* Express's (.*) is greedy: a trailing "/" stays in the match */
            const char *rest = si < ns ? start + pre : start;
            size_t rl = strlen(rest);
            if (params) {
                char key[16];
                snprintf(key, sizeof(key), "%d", wild++);
                char *d = srv_pct_decode(rest, rl, false, true, NULL);
                if (!d) {
                    return -1;
                }
                ef_val_obj_set_take(params, key, ef_val_str_take(d, strlen(d)));
            }
            return 1;
        }
        if (pat[0] == ':') {
            size_t pl = strlen(pat);
            bool opt = pl > 1 && pat[pl - 1] == '?';
            if (si >= ns) {
                if (opt) {
                    continue;
                }
                return 0;
            }
            if (lens[si] == 0) {
                return 0;
            }
            if (params) {
                char *d = srv_pct_decode(segs[si], lens[si], false, true, NULL);
                if (!d) {
                    return -1;
                }
                ef_val_obj_setn_take(params, pat + 1, pl - 1 - (opt ? 1 : 0),
                                     ef_val_str_take(d, strlen(d)));
            }
            si++;
            continue;
        }
        if (si >= ns || strlen(pat) != lens[si] || strncasecmp(pat, segs[si], lens[si]) != 0) {
            return 0;
        }
        si++;
    }
    return si == ns ? 1 : 0;
}

/* ---- qs (Express's "extended" query parser and urlencoded bodies) ---- */

static bool is_index(const char *s, size_t l, size_t *out)
{
    if (l == 0 || l > 6) {
        return false;
    }
    size_t v = 0;
    for (size_t i = 0; i < l; i++) {
        if (!isdigit((unsigned char)s[i])) {
            return false;
        }
        v = v * 10 + (size_t)(s[i] - '0');
    }
    *out = v;
    return v <= QS_ARRAY_LIMIT;
}

/* Adds value under key into container (object), merging duplicates into arrays. */
static void qs_put(struct ef_val *o, const char *k, size_t kl, struct ef_val *v)
{
    struct ef_val **slot = ef_val_obj_slot(o, k, kl);
    if (!slot) {
        ef_val_obj_setn_take(o, k, kl, v);
        return;
    }
    if (ef_val_type(*slot) == EF_ARR) {
        ef_val_arr_push_take(*slot, v);
        return;
    }
    struct ef_val *arr = ef_val_arr();
    if (!arr) {
        ef_val_unref(v);
        return;
    }
    ef_val_arr_push_take(arr, ef_val_ref(*slot));
    ef_val_arr_push_take(arr, v);
    ef_val_obj_setn_take(o, k, kl, arr);
}

/* Removes the holes a[3]=x leaves (qs compacts sparse arrays). */
static void qs_compact(struct ef_val *v)
{
    if (ef_val_type(v) == EF_ARR) {
        for (size_t i = 0; i < ef_val_arr_len(v);) {
            if (ef_val_type(ef_val_arr_at(v, i)) == EF_NULL) {
                ef_val_arr_remove(v, i);
            } else {
                qs_compact(ef_val_arr_at(v, i));
                i++;
            }
        }
    } else if (ef_val_type(v) == EF_OBJ) {
        for (size_t i = 0; i < ef_val_obj_len(v); i++) {
            qs_compact(ef_val_obj_val_at(v, i));
        }
    }
}

static void qs_assign(struct ef_val *root, const char *key, size_t kl, struct ef_val *val)
{
    /* split "a[b][]" into "a", "b", "" */
    const char *segs[QS_DEPTH + 2];
    size_t lens[QS_DEPTH + 2];
    int n = 0;
    const char *br = memchr(key, '[', kl);
    if (!br || br == key) {
        qs_put(root, key, kl, val);
        return;
    }
    segs[n] = key;
    lens[n++] = (size_t)(br - key);
    const char *p = br;
    const char *end = key + kl;
    while (p < end && *p == '[' && n <= QS_DEPTH) {
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (!close) {
            break;
        }
        segs[n] = p + 1;
        lens[n++] = (size_t)(close - p - 1);
        p = close + 1;
    }
    if (p < end) {
        /* what is left (too deep, or not brackets) is one literal key, as qs does */
        segs[n] = p;
        lens[n++] = (size_t)(end - p);
    }
    struct ef_val *cur = root;
    for (int i = 0; i < n; i++) {
        bool last = i == n - 1;
        size_t idx;
        if (ef_val_type(cur) == EF_ARR) {
            if (lens[i] == 0 || !is_index(segs[i], lens[i], &idx)) {
                idx = ef_val_arr_len(cur);
            }
            if (last) {
                if (idx < ef_val_arr_len(cur) && ef_val_type(ef_val_arr_at(cur, idx)) != EF_NULL) {
                    ef_val_arr_push_take(cur, val);
                } else {
                    ef_val_arr_set_take(cur, idx, val);
                }
                return;
            }
            struct ef_val *child = idx < ef_val_arr_len(cur) ? ef_val_arr_at(cur, idx) : NULL;
            if (!child || (ef_val_type(child) != EF_OBJ && ef_val_type(child) != EF_ARR)) {
                size_t nx;
                child = lens[i + 1] == 0 || is_index(segs[i + 1], lens[i + 1], &nx) ? ef_val_arr()
                                                                                    : ef_val_obj();
                ef_val_arr_set_take(cur, idx, child);
            }
            cur = child;
            continue;
        }
        if (last) {
            qs_put(cur, segs[i], lens[i], val);
            return;
        }
        struct ef_val *child = ef_val_obj_getn(cur, segs[i], lens[i]);
        if (!child || (ef_val_type(child) != EF_OBJ && ef_val_type(child) != EF_ARR)) {
            size_t nx;
            child = lens[i + 1] == 0 || is_index(segs[i + 1], lens[i + 1], &nx) ? ef_val_arr()
                                                                                : ef_val_obj();
            ef_val_obj_setn_take(cur, segs[i], lens[i], child);
        }
        cur = child;
    }
    ef_val_unref(val);
}

/* Parses "a=1&b[c]=2" as qs.parse does (strings only). Returns a new object. */
static struct ef_val *qs_parse(const char *s, size_t len)
{
    struct ef_val *o = ef_val_obj();
    if (!o) {
        return NULL;
    }
    size_t i = 0;
    int count = 0;
    while (i < len && count < QS_PARAM_LIMIT) {
        const char *amp = memchr(s + i, '&', len - i);
        size_t pl = amp ? (size_t)(amp - (s + i)) : len - i;
        const char *part = s + i;
        i += pl + 1;
        if (pl == 0) {
            continue;
        }
        count++;
        const char *eq = memchr(part, '=', pl);
        size_t kl = eq ? (size_t)(eq - part) : pl;
        size_t klen, vlen;
        char *k = srv_pct_decode(part, kl, true, false, &klen);
        char *v = eq ? srv_pct_decode(eq + 1, pl - kl - 1, true, false, &vlen) : strdup("");
        if (!k || !v) {
            free(k);
            free(v);
            continue;
        }
        if (!eq) {
            vlen = 0;
        }
        if (klen > 0) {
            struct ef_val *sv = ef_val_str_take(v, vlen);
            if (sv) {
                qs_assign(o, k, klen, sv);
            }
        } else {
            free(v);
        }
        free(k);
    }
    qs_compact(o);
    return o;
}

/* ---- request headers ---- */

/* Custom (non-standard) request headers lws can look up but not list: these are copied. */
static const char *const custom_headers[] = {
    "x-api-key",
    "x-request-id",
    "x-requested-with",
    "x-correlation-id",
    "x-real-ip",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-csrf-token",
    "x-auth-token",
    "x-access-token",
    "x-hub-signature",
    "x-hub-signature-256",
    "x-github-event",
    "x-github-delivery",
    "x-gitlab-token",
    "x-gitlab-event",
    "x-device-id",
    "x-client-id",
    "x-node-red-request-node",
    "x-test",
    "x-custom",
    "traceparent",
    "tracestate",
    "dnt",
    "sec-fetch-site",
    "sec-fetch-mode",
    "sec-fetch-dest",
    "sec-fetch-user",
    "sec-ch-ua",
    "sec-ch-ua-mobile",
    "sec-ch-ua-platform",
    "upgrade-insecure-requests",
    "priority",
};

static void add_header_value(struct ef_val *h, const char *name, const char *v, size_t vl)
{
    struct ef_val **slot = ef_val_obj_slot(h, name, strlen(name));
    if (slot && ef_val_type(*slot) == EF_STR) {
        /* Node joins repeated headers with ", " (cookie with "; ") */
        const char *sep = !strcmp(name, "cookie") ? "; " : ", ";
        struct ef_val *j = ef_val_strf("%s%s%.*s", ef_val_str_get(*slot), sep, (int)vl, v);
        if (j) {
            ef_val_obj_set_take(h, name, j);
        }
        return;
    }
    ef_val_obj_set_take(h, name, ef_val_strn(v, vl));
}

/* msg.req.headers: every header lws knows by name, plus the custom ones it can find. */
static struct ef_val *req_headers(struct lws *wsi, const struct ef_val *extra)
{
    struct ef_val *h = ef_val_obj();
    if (!h) {
        return NULL;
    }
    char *buf = malloc(8192);
    if (!buf) {
        return h;
    }
    for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
        switch (t) {
        case WSI_TOKEN_GET_URI:
        case WSI_TOKEN_POST_URI:
        case WSI_TOKEN_OPTIONS_URI:
        case WSI_TOKEN_PUT_URI:
        case WSI_TOKEN_PATCH_URI:
        case WSI_TOKEN_DELETE_URI:
        case WSI_TOKEN_HEAD_URI:
        case WSI_TOKEN_HTTP_URI_ARGS:
        case WSI_TOKEN_HTTP_COLON_PATH:
        case WSI_TOKEN_HTTP_COLON_METHOD:
        case WSI_TOKEN_HTTP_COLON_SCHEME:
        case WSI_TOKEN_HTTP_COLON_AUTHORITY:
        case WSI_TOKEN_HTTP_COLON_STATUS:
        case WSI_TOKEN_HTTP: continue;
        default: break;
        }
        const char *name = (const char *)lws_token_to_string((enum lws_token_indexes)t);
        if (!name || !*name || lws_hdr_total_length(wsi, (enum lws_token_indexes)t) <= 0) {
            continue;
        }
        size_t nl = strlen(name);
        if (name[nl - 1] != ':' || name[0] == ':') {
            continue;
        }
        char lname[128];
        if (nl >= sizeof(lname)) {
            continue;
        }
        for (size_t i = 0; i < nl - 1; i++) {
            lname[i] = (char)tolower((unsigned char)name[i]);
        }
        lname[nl - 1] = '\0';
        for (int f = 0;; f++) {
            int n = lws_hdr_copy_fragment(wsi, buf, 8192, (enum lws_token_indexes)t, f);
            if (n < 0) {
                break;
            }
            add_header_value(h, lname, buf, (size_t)n);
        }
    }
    size_t nc = sizeof(custom_headers) / sizeof(custom_headers[0]);
    size_t ne = extra && ef_val_type(extra) == EF_ARR ? ef_val_arr_len(extra) : 0;
    for (size_t i = 0; i < nc + ne; i++) {
        char name[128];
        const char *base =
            i < nc ? custom_headers[i] : ef_val_str_get(ef_val_arr_at(extra, i - nc));
        size_t bl = strlen(base);
        if (bl == 0 || bl + 2 > sizeof(name)) {
            continue;
        }
        for (size_t k = 0; k < bl; k++) {
            name[k] = (char)tolower((unsigned char)base[k]);
        }
        name[bl] = ':';
        name[bl + 1] = '\0';
        int n = lws_hdr_custom_length(wsi, name, (int)bl + 1);
        if (n < 0 || n >= 8192) {
            continue;
        }
        if (lws_hdr_custom_copy(wsi, buf, 8192, name, (int)bl + 1) < 0) {
            continue;
        }
        name[bl] = '\0';
        ef_val_obj_set_take(h, name, ef_val_strn(buf, (size_t)n));
    }
    free(buf);
    return h;
}

/* cookie.parse + cookie-parser's JSON cookies ("j:{...}"). */
static struct ef_val *parse_cookies(const char *s)
{
    struct ef_val *o = ef_val_obj();
    if (!o || !s) {
        return o;
    }
    const char *p = s;
    while (*p) {
        const char *semi = strchr(p, ';');
        size_t pl = semi ? (size_t)(semi - p) : strlen(p);
        const char *eq = memchr(p, '=', pl);
        if (eq) {
            const char *k = p, *ke = eq;
            while (k < ke && (*k == ' ' || *k == '\t')) {
                k++;
            }
            while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t')) {
                ke--;
            }
            const char *v = eq + 1, *ve = p + pl;
            while (v < ve && (*v == ' ' || *v == '\t')) {
                v++;
            }
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) {
                ve--;
            }
            if (ve - v >= 2 && *v == '"' && ve[-1] == '"') {
                v++;
                ve--;
            }
            if (ke > k && !ef_val_obj_getn(o, k, (size_t)(ke - k))) {
                size_t dl;
                char *d = srv_pct_decode(v, (size_t)(ve - v), false, true, &dl);
                struct ef_val *val = NULL;
                if (!d) {
                    val = ef_val_strn(v, (size_t)(ve - v));
                } else {
                    if (dl > 2 && d[0] == 'j' && d[1] == ':') {
                        val = ef_json_parse(d + 2, dl - 2, NULL, 0);
                    }
                    if (!val) {
                        val = ef_val_str_take(d, dl);
                        d = NULL;
                    }
                    free(d);
                }
                if (val) {
                    ef_val_obj_setn_take(o, k, (size_t)(ke - k), val);
                }
            }
        }
        if (!semi) {
            break;
        }
        p = semi + 1;
    }
    return o;
}

/* The media type of a Content-Type value, lower-cased, without parameters. */
static void media_type(const char *ct, char *out, size_t len)
{
    size_t i = 0;
    while (*ct == ' ') {
        ct++;
    }
    for (; ct[i] && ct[i] != ';' && ct[i] != ' ' && i + 1 < len; i++) {
        out[i] = (char)tolower((unsigned char)ct[i]);
    }
    out[i] = '\0';
}

/* A parameter (e.g. boundary) of a Content-Type value into out; false when absent. */
static bool ct_param(const char *ct, const char *name, char *out, size_t len)
{
    size_t nl = strlen(name);
    for (const char *p = strchr(ct, ';'); p; p = strchr(p + 1, ';')) {
        const char *q = p + 1;
        while (*q == ' ') {
            q++;
        }
        if (!strncasecmp(q, name, nl) && q[nl] == '=') {
            q += nl + 1;
            size_t i = 0;
            bool quoted = *q == '"';
            if (quoted) {
                q++;
            }
            while (*q && i + 1 < len && (quoted ? *q != '"' : (*q != ';' && *q != ' '))) {
                out[i++] = *q++;
            }
            out[i] = '\0';
            return i > 0;
        }
    }
    return false;
}

/* ---- multipart/form-data (multer's memory storage) ---- */

static const char *memfind(const char *h, size_t hl, const char *n, size_t nl)
{
    if (nl == 0 || hl < nl) {
        return NULL;
    }
    for (const char *p = h; p + nl <= h + hl; p++) {
        p = memchr(p, n[0], (size_t)(h + hl - p));
        if (!p || p + nl > h + hl) {
            return NULL;
        }
        if (!memcmp(p, n, nl)) {
            return p;
        }
    }
    return NULL;
}

/* A disposition parameter (name="x") of a part header block; malloc'ed or NULL. */
static char *disp_param(const char *hdr, size_t hl, const char *param)
{
    char key[32];
    int kl = snprintf(key, sizeof(key), "%s=\"", param);
    for (const char *p = hdr; (p = memfind(p, (size_t)(hdr + hl - p), key, (size_t)kl)); p += kl) {
        if (p == hdr || p[-1] == ' ' || p[-1] == ';') {
            const char *v = p + kl;
            const char *e = memchr(v, '"', (size_t)(hdr + hl - v));
            return e ? strndup(v, (size_t)(e - v)) : NULL;
        }
    }
    return NULL;
}

/*
 * Parses a multipart body into fields (object) and files (array of
 * {fieldname, originalname, encoding, mimetype, buffer, size}). Returns 0,
 * or -1 when the body is not valid multipart (multer: "Unexpected end of
 * form" and friends).
 */
static int parse_multipart(const char *body, size_t len, const char *boundary,
                           struct ef_val *fields, struct ef_val *files)
{
    char delim[256];
    int dl = snprintf(delim, sizeof(delim), "--%s", boundary);
    if (dl <= 2 || (size_t)dl >= sizeof(delim)) {
        return -1;
    }
    const char *p = memfind(body, len, delim, (size_t)dl);
    if (!p) {
        return -1;
    }
    const char *end = body + len;
    for (;;) {
        p += dl;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
            return 0; /* closing delimiter */
        }
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
            return -1;
        }
        p += 2;
        const char *he = memfind(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!he) {
            return -1;
        }
        size_t hl = (size_t)(he - p);
        const char *data = he + 4;
        char crdelim[260];
        int cl = snprintf(crdelim, sizeof(crdelim), "\r\n%s", delim);
        const char *next = memfind(data, (size_t)(end - data), crdelim, (size_t)cl);
        if (!next) {
            return -1;
        }
        char *name = disp_param(p, hl, "name");
        char *filename = disp_param(p, hl, "filename");
        char ctype[256] = "";
        const char *ctp = NULL;
        for (const char *q = p; q < he; q++) {
            if ((q == p || q[-1] == '\n') && !strncasecmp(q, "content-type:", 13)) {
                ctp = q + 13;
                break;
            }
        }
        if (ctp) {
            while (*ctp == ' ') {
                ctp++;
            }
            size_t i = 0;
            while (ctp < he && *ctp != '\r' && i + 1 < sizeof(ctype)) {
                ctype[i++] = *ctp++;
            }
            ctype[i] = '\0';
        }
        size_t dlen = (size_t)(next - data);
        if (name && filename) {
            struct ef_val *f = ef_val_obj();
            if (f) {
                ef_val_obj_set_take(f, "fieldname", ef_val_str(name));
                ef_val_obj_set_take(f, "originalname", ef_val_str(filename));
                ef_val_obj_set_take(f, "encoding", ef_val_str("7bit"));
                ef_val_obj_set_take(f, "mimetype", ef_val_str(*ctype ? ctype : "text/plain"));
                ef_val_obj_set_take(f, "buffer", ef_val_buf(data, dlen));
                ef_val_obj_set_take(f, "size", ef_val_num((double)dlen));
                ef_val_arr_push_take(files, f);
            }
        } else if (name) {
            struct ef_val *v = ef_val_strn(data, dlen);
            if (v) {
                qs_assign(fields, name, strlen(name), v);
            }
        }
        free(name);
        free(filename);
        p = next + 2;
    }
}

/*
 * A request header by lower-case name with its colon ("origin:") into buf,
 * whether lws knows it as a token or keeps it as a custom header. Repeated
 * headers are joined with ", ". Returns false when absent.
 */
static bool hdr_get(struct srv_conn *c, const char *name, char *buf, size_t len)
{
    buf[0] = '\0';
    for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
        const char *tn = (const char *)lws_token_to_string((enum lws_token_indexes)t);
        if (tn && !strcasecmp(tn, name)) {
            if (lws_hdr_total_length(c->wsi, (enum lws_token_indexes)t) <= 0) {
                return false;
            }
            size_t n = 0;
            for (int f = 0;; f++) {
                int r = lws_hdr_copy_fragment(c->wsi, buf + n + (n ? 2 : 0),
                                              (int)(len - n - (n ? 2 : 0)),
                                              (enum lws_token_indexes)t, f);
                if (r < 0) {
                    break;
                }
                if (n) {
                    memcpy(buf + n, ", ", 2);
                    n += 2;
                }
                n += (size_t)r;
                if (n + 3 >= len) {
                    break;
                }
            }
            buf[n] = '\0';
            return true;
        }
    }
    return srv_header(c, name, buf, len);
}

/* ---- requests in flight ---- */

static void req_unref(struct http_req *q)
{
    if (--q->refs > 0) {
        return;
    }
    if (q->routes) {
        q->routes->npending--;
        *q->pprev = q->next;
        if (q->next) {
            q->next->pprev = q->pprev;
        }
    }
    free(q->query_callback);
    free(q->if_none_match);
    free(q->cors.p);
    free(q->hdrs.p);
    free(q);
}

static void handle_free(void *ptr)
{
    req_unref(ptr);
}

const struct ef_handle_type http_routes__res_type = {"http response", handle_free};

static void timer_closed(uv_handle_t *h)
{
    req_unref(h->data);
}

static void req_stop_timer(struct http_req *q)
{
    if (q->timer_open) {
        q->timer_open = false;
        uv_close((uv_handle_t *)&q->timer, timer_closed);
    }
}

void http_routes__detach(struct srv_conn *c)
{
    struct http_req *q = c->http;
    if (!q) {
        return;
    }
    c->http = NULL;
    q->c = NULL;
    req_stop_timer(q);
    req_unref(q);
}

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return NULL;
    }
}

/* Looks a header up in a name\0value\0 list (case-insensitive); NULL when absent. */
static const char *kv_get(const struct strbuf *b, const char *name)
{
    for (size_t i = 0; b->p && i < b->n;) {
        const char *k = b->p + i;
        const char *v = k + strlen(k) + 1;
        if (!strcasecmp(k, name)) {
            return v;
        }
        i = (size_t)(v + strlen(v) + 1 - b->p);
    }
    return NULL;
}

/* Removes a header from a name\0value\0 list. */
static void kv_del(struct strbuf *b, const char *name)
{
    for (size_t i = 0; b->p && i < b->n;) {
        char *k = b->p + i;
        char *v = k + strlen(k) + 1;
        size_t end = (size_t)(v + strlen(v) + 1 - b->p);
        if (!strcasecmp(k, name)) {
            memmove(k, b->p + end, b->n - end);
            b->n -= end - i;
        } else {
            i = end;
        }
    }
}

static void kv_set(struct strbuf *b, const char *name, const char *value)
{
    if (strcasecmp(name, "set-cookie") != 0) {
        kv_del(b, name);
    }
    kv_add(b, name, value);
}

/* Express's res.set('Content-Type', v): adds "; charset=utf-8" to text types. */
static char *with_charset(const char *v)
{
    const char *semi = strchr(v, ';');
    bool has = false;
    for (const char *p = semi; p; p = strchr(p + 1, ';')) {
        const char *q = p + 1;
        while (*q == ' ') {
            q++;
        }
        if (!strncasecmp(q, "charset", 7)) {
            has = true;
        }
    }
    char mt[128];
    media_type(v, mt, sizeof(mt));
    if (!has && (!strncmp(mt, "text/", 5) || !strcmp(mt, "application/javascript") ||
                 !strcmp(mt, "application/json"))) {
        char *o = malloc(strlen(v) + 16);
        if (o) {
            sprintf(o, "%s; charset=utf-8", v);
        }
        return o;
    }
    return strdup(v);
}

/* Express's setCharset for string bodies: replaces/adds charset=utf-8. */
static char *set_charset(const char *v)
{
    struct strbuf b = {0};
    const char *semi = strchr(v, ';');
    strbuf__add(&b, v, semi ? (size_t)(semi - v) : strlen(v));
    for (const char *p = semi; p;) {
        const char *q = p + 1;
        const char *nx = strchr(q, ';');
        while (*q == ' ') {
            q++;
        }
        size_t l = nx ? (size_t)(nx - q) : strlen(q);
        if (strncasecmp(q, "charset", 7) != 0 && l > 0) {
            strbuf__adds(&b, "; ");
            strbuf__add(&b, q, l);
        }
        p = nx;
    }
    strbuf__adds(&b, "; charset=utf-8");
    return strbuf__take(&b, NULL);
}

/* Node's etag package, weak: W/"<len hex>-<sha1 base64, 27 chars>". */
static void weak_etag(const char *body, size_t len, char out[64])
{
    if (len == 0) {
        snprintf(out, 64, "W/\"0-2jmj7l5rSw0yVb/vlWAYkK/YBwk\"");
        return;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    EVP_Digest(body, len, md, &ml, EVP_sha1(), NULL);
    struct strbuf b = {0};
    base64__encode(&b, md, ml);
    char *b64 = strbuf__take(&b, NULL);
    snprintf(out, 64, "W/\"%zx-%.27s\"", len, b64 ? b64 : "");
    free(b64);
}

/* fresh's check of If-None-Match against the ETag. */
static bool is_fresh(const struct http_req *q, const char *etag)
{
    if (!q->if_none_match || q->no_cache || !etag) {
        return false;
    }
    const char *p = q->if_none_match;
    while (*p == ' ') {
        p++;
    }
    if (!strcmp(p, "*")) {
        return true;
    }
    const char *e = etag;
    const char *eb = !strncmp(e, "W/", 2) ? e + 2 : e;
    for (;;) {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        if (!*p) {
            return false;
        }
        const char *end = strchr(p, ',');
        size_t l = end ? (size_t)(end - p) : strlen(p);
        while (l > 0 && p[l - 1] == ' ') {
            l--;
        }
        const char *t = p;
        if (l >= 2 && !strncmp(t, "W/", 2)) {
            t += 2;
            l -= 2;
        }
        if (l == strlen(eb) && !strncmp(t, eb, l)) {
            return true;
        }
        if (!end) {
            return false;
        }
        p = end + 1;
    }
}

/* Takes the answer over to the connection (status, headers in q->hdrs, body adopted). */
static void req_answer(struct http_req *q, int status, char *body, size_t len)
{
    q->answered = true;
    q->status = status;
    req_stop_timer(q);
    struct srv_conn *c = q->c;
    if (!c) {
        free(body);
        return;
    }
    srv_reply(c, status, NULL, body, body ? len : 0);
}

int http_req__send(struct http_req *q, int status, const struct http_header *headers, size_t nh,
                   enum http_body kind, const char *body, size_t len)
{
    if (q->answered) {
        return EF_ESTATE;
    }
    /* CORS headers first (the cors middleware ran before the flow) */
    if (q->cors.p) {
        strbuf__add(&q->hdrs, q->cors.p, q->cors.n);
    }
    for (size_t i = 0; i < nh; i++) {
        /* consecutive entries with one name are one array value: they add up */
        bool more = i > 0 && !strcasecmp(headers[i - 1].name, headers[i].name);
        if (!strcasecmp(headers[i].name, "content-type")) {
            char *v = with_charset(headers[i].value);
            if (v) {
                kv_set(&q->hdrs, headers[i].name, v);
            }
            free(v);
        } else if (more) {
            kv_add(&q->hdrs, headers[i].name, headers[i].value);
        } else {
            kv_set(&q->hdrs, headers[i].name, headers[i].value);
        }
    }
    struct strbuf out = {0};
    if (kind == HTTP_BODY_JSON) {
        if (!kv_get(&q->hdrs, "Content-Type")) {
            kv_set(&q->hdrs, "X-Content-Type-Options", "nosniff");
            kv_set(&q->hdrs, "Content-Type", "application/json");
        }
        if (q->query_callback) {
            /* res.jsonp with ?callback=: sanitised name, U+2028/9 escaped */
            struct strbuf cb = {0};
            for (const char *p = q->query_callback; *p; p++) {
                if (isalnum((unsigned char)*p) || *p == '_' || *p == '$' || *p == '.' ||
                    *p == '[' || *p == ']') {
                    strbuf__add(&cb, p, 1);
                }
            }
            char *name = strbuf__take(&cb, NULL);
            if (name) {
                kv_set(&q->hdrs, "X-Content-Type-Options", "nosniff");
                kv_set(&q->hdrs, "Content-Type", "text/javascript");
                strbuf__addf(&out, "/**/ typeof %s === 'function' && %s(", name, name);
                for (size_t i = 0; i < len; i++) {
                    if (i + 2 < len && (unsigned char)body[i] == 0xe2 &&
                        (unsigned char)body[i + 1] == 0x80 &&
                        ((unsigned char)body[i + 2] == 0xa8 ||
                         (unsigned char)body[i + 2] == 0xa9)) {
                        strbuf__adds(&out,
                                     (unsigned char)body[i + 2] == 0xa8 ? "\\u2028" : "\\u2029");
                        i += 2;
                    } else {
                        strbuf__add(&out, body + i, 1);
                    }
                }
                strbuf__adds(&out, ");");
            } else {
                strbuf__add(&out, body, len);
            }
            free(name);
        } else {
            strbuf__add(&out, body, len);
        }
        kind = HTTP_BODY_TEXT;
    } else if (kind != HTTP_BODY_NONE) {
        strbuf__add(&out, body, len);
    }
    if (kind == HTTP_BODY_TEXT) {
        const char *ct = kv_get(&q->hdrs, "Content-Type");
        char *v = set_charset(ct ? ct : "text/html");
        if (v) {
            kv_set(&q->hdrs, "Content-Type", v);
        }
        free(v);
    } else if (kind == HTTP_BODY_BUF && !kv_get(&q->hdrs, "Content-Type")) {
        kv_set(&q->hdrs, "Content-Type", "application/octet-stream");
    }
    size_t blen = 0;
    char *b = strbuf__take(&out, &blen);
    if (!b) {
        return EF_ENOMEM;
    }
    kv_del(&q->hdrs, "Content-Length");
    kv_del(&q->hdrs, "Transfer-Encoding");
    if (kind != HTTP_BODY_NONE) {
        char etag[64];
        if (!kv_get(&q->hdrs, "ETag")) {
            weak_etag(b, blen, etag);
            kv_set(&q->hdrs, "ETag", etag);
        }
        if (q->get_like && ((status >= 200 && status < 300) || status == 304) &&
            is_fresh(q, kv_get(&q->hdrs, "ETag"))) {
            status = 304;
        }
    }
    if (status == 204 || status == 304) {
        kv_del(&q->hdrs, "Content-Type");
        blen = 0;
    } else if (status == 205) {
        blen = 0;
    }
    if (q->hdrs.oom) {
        free(b);
        return EF_ENOMEM;
    }
    int rc = q->c ? 0 : 1;
    req_answer(q, status, b, blen);
    return rc;
}

int http_routes__write_headers(struct srv_conn *c, unsigned char **p, unsigned char *end)
{
    struct http_req *q = c->http;
    if (lws_add_http_header_status(c->wsi, (unsigned int)c->status, p, end)) {
        return 1;
    }
    if (c->status != 204 && c->status != 304 &&
        lws_add_http_header_content_length(c->wsi, c->resp_len, p, end)) {
        return 1;
    }
    for (size_t i = 0; q && q->hdrs.p && i < q->hdrs.n;) {
        const char *k = q->hdrs.p + i;
        const char *v = k + strlen(k) + 1;
        char name[256];
        snprintf(name, sizeof(name), "%s:", k);
        if (lws_add_http_header_by_name(c->wsi, (const unsigned char *)name,
                                        (const unsigned char *)v, (int)strlen(v), p, end)) {
            return 1;
        }
        i = (size_t)(v + strlen(v) + 1 - q->hdrs.p);
    }
    return 0;
}

/* Express's res.sendStatus(n) (text/plain, weak ETag) on a request with no flow. */
static void send_status(struct http_req *q, int status)
{
    const char *t = status_text(status);
    char num[16];
    snprintf(num, sizeof(num), "%d", status);
    kv_set(&q->hdrs, "Content-Type", "text/plain");
    const char *body = t ? t : num;
    http_req__send(q, status, NULL, 0, HTTP_BODY_TEXT, body, strlen(body));
}

static void on_timeout(uv_timer_t *t)
{
    struct http_req *q = t->data;
    if (!q->answered && q->c) {
        if (q->node) {
            ef_node_warn(q->node, "no http response within httpNodeTimeout: answered 503");
        }
        q->c->close_after = true;
        free(q->hdrs.p);
        memset(&q->hdrs, 0, sizeof(q->hdrs));
        send_status(q, 503);
    }
    req_stop_timer(q);
}

/* ---- dispatch ---- */

/* The editor's own paths (it sits at "/" in front of the node routes): they win, as in Node-RED. */
static bool admin_path(const char *path)
{
    static const char *const exact[] = {
        "/",      "/settings", "/theme",       "/nodes", "/plugins",    "/icons",
        "/flows", "/flow",     "/diagnostics", "/comms", "/favicon.ico"};
    static const char *const prefix[] = {"/red/",     "/vendor/",  "/icons/",    "/locales/",
                                         "/flow/",    "/flows/",   "/context/",  "/credentials/",
                                         "/library/", "/nodes/",   "/inject/",   "/debug/",
                                         "/types/",   "/plugins/", "/settings/", "/auth/"};
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
        if (!strcmp(path, exact[i])) {
            return true;
        }
    }
    for (size_t i = 0; i < sizeof(prefix) / sizeof(prefix[0]); i++) {
        if (!strncmp(path, prefix[i], strlen(prefix[i]))) {
            return true;
        }
    }
    return false;
}

/* The request state of connection c (attached to it; the connection holds one reference). */
static struct http_req *req_new(struct srv_conn *c)
{
    struct http_req *q = calloc(1, sizeof(*q));
    if (!q) {
        return NULL;
    }
    q->refs = 1; /* the connection's */
    q->c = c;
    c->http = q;
    q->get_like = c->method == SRV_GET || c->method == SRV_HEAD;
    return q;
}

/* httpNodeAuth: true when the request may pass. r (may be NULL) caches the last good password. */
static bool auth_ok(struct srv_conn *c, const struct ef_val *auth, struct http_routes *r)
{
    const char *user = ef_val_str_get(ef_val_obj_get(auth, "user"));
    const char *pass = ef_val_str_get(ef_val_obj_get(auth, "pass"));
    char h[1024];
    if (!srv_header(c, "authorization:", h, sizeof(h))) {
        return false;
    }
    const char *p = h;
    while (*p == ' ') {
        p++;
    }
    if (strncasecmp(p, "basic ", 6) != 0) {
        return false;
    }
    p += 6;
    while (*p == ' ') {
        p++;
    }
    size_t pl = strlen(p);
    unsigned char *d = malloc(pl + 1);
    if (!d) {
        return false;
    }
    size_t dl = base64__decode(p, pl, d);
    char *colon = memchr(d, ':', dl);
    bool ok = false;
    if (colon) {
        *colon = '\0';
        char *pw = strndup(colon + 1, dl - (size_t)(colon + 1 - (char *)d));
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int ml = 0;
        bool hashed = pw && EVP_Digest(pw, strlen(pw), md, &ml, EVP_sha256(), NULL) && ml == 32;
        if (pw && !strcmp((char *)d, user)) {
            if (hashed && r && r->has_good && CRYPTO_memcmp(md, r->good, 32) == 0) {
                ok = true;
            } else if (password__verify_basic(pw, pass)) {
                ok = true;
                if (hashed && r) {
                    memcpy(r->good, md, 32);
                    r->has_good = true;
                }
            }
        }
        if (pw) {
            OPENSSL_cleanse(pw, strlen(pw));
        }
        free(pw);
    }
    free(d);
    return ok;
}

/* The cors package's Access-Control-Allow-Origin for this request; appends Vary when needed. */
static void cors_origin(struct srv_conn *c, const struct ef_val *cfg, struct strbuf *b)
{
    const struct ef_val *o = ef_val_obj_get(cfg, "origin");
    char origin[512] = "";
    hdr_get(c, "origin:", origin, sizeof(origin));
    if (!o || (ef_val_type(o) == EF_STR && !strcmp(ef_val_str_get(o), "*"))) {
        kv_add(b, "Access-Control-Allow-Origin", "*");
        return;
    }
    if (ef_val_type(o) == EF_STR) {
        kv_add(b, "Access-Control-Allow-Origin", ef_val_str_get(o));
        kv_add(b, "Vary", "Origin");
        return;
    }
    bool allowed = false;
    if (ef_val_type(o) == EF_BOOL) {
        if (!ef_val_bool_get(o)) {
            return;
        }
        allowed = true;
    } else if (ef_val_type(o) == EF_ARR) {
        for (size_t i = 0; i < ef_val_arr_len(o); i++) {
            if (!strcmp(ef_val_str_get(ef_val_arr_at(o, i)), origin)) {
                allowed = true;
            }
        }
    }
    if (allowed && *origin) {
        kv_add(b, "Access-Control-Allow-Origin", origin);
    }
    kv_add(b, "Vary", "Origin");
}

static void cors_common(const struct ef_val *cfg, struct strbuf *b, bool preflight,
                        struct srv_conn *c)
{
    if (ef_val_truthy(ef_val_obj_get(cfg, "credentials"))) {
        kv_add(b, "Access-Control-Allow-Credentials", "true");
    }
    if (preflight) {
        const struct ef_val *m = ef_val_obj_get(cfg, "methods");
        struct strbuf mb = {0};
        if (!m) {
            strbuf__adds(&mb, "GET,HEAD,PUT,PATCH,POST,DELETE");
        } else if (ef_val_type(m) == EF_ARR) {
            for (size_t i = 0; i < ef_val_arr_len(m); i++) {
                strbuf__addf(&mb, "%s%s", i ? "," : "", ef_val_str_get(ef_val_arr_at(m, i)));
            }
        } else {
            strbuf__adds(&mb, ef_val_str_get(m));
        }
        char *ms = strbuf__take(&mb, NULL);
        if (ms) {
            kv_add(b, "Access-Control-Allow-Methods", ms);
        }
        free(ms);
        const struct ef_val *ah = ef_val_obj_get(cfg, "allowedHeaders");
        if (!ah) {
            ah = ef_val_obj_get(cfg, "headers");
        }
        if (ah) {
            struct strbuf hb = {0};
            if (ef_val_type(ah) == EF_ARR) {
                for (size_t i = 0; i < ef_val_arr_len(ah); i++) {
                    strbuf__addf(&hb, "%s%s", i ? "," : "", ef_val_str_get(ef_val_arr_at(ah, i)));
                }
            } else {
                strbuf__adds(&hb, ef_val_str_get(ah));
            }
            char *hs = strbuf__take(&hb, NULL);
            if (hs && *hs) {
                kv_add(b, "Access-Control-Allow-Headers", hs);
            }
            free(hs);
        } else {
            char req[1024];
            kv_add(b, "Vary", "Access-Control-Request-Headers");
            if (hdr_get(c, "access-control-request-headers:", req, sizeof(req)) && *req) {
                kv_add(b, "Access-Control-Allow-Headers", req);
            }
        }
        const struct ef_val *ma = ef_val_obj_get(cfg, "maxAge");
        if (ma && (ef_val_type(ma) == EF_NUM || ef_val_type(ma) == EF_STR)) {
            char n[32];
            if (ef_val_type(ma) == EF_NUM) {
                ef_num_format(ef_val_num_get(ma), n);
            } else {
                snprintf(n, sizeof(n), "%s", ef_val_str_get(ma));
            }
            if (*n) {
                kv_add(b, "Access-Control-Max-Age", n);
            }
        }
    }
    const struct ef_val *eh = ef_val_obj_get(cfg, "exposedHeaders");
    if (eh) {
        struct strbuf hb = {0};
        if (ef_val_type(eh) == EF_ARR) {
            for (size_t i = 0; i < ef_val_arr_len(eh); i++) {
                strbuf__addf(&hb, "%s%s", i ? "," : "", ef_val_str_get(ef_val_arr_at(eh, i)));
            }
        } else {
            strbuf__adds(&hb, ef_val_str_get(eh));
        }
        char *hs = strbuf__take(&hb, NULL);
        if (hs && *hs) {
            kv_add(b, "Access-Control-Expose-Headers", hs);
        }
        free(hs);
    }
}

/* The cors package merges repeated Vary values into one header. */
static void merge_vary(struct strbuf *b)
{
    struct strbuf out = {0}, vary = {0};
    for (size_t i = 0; b->p && i < b->n;) {
        const char *k = b->p + i;
        const char *v = k + strlen(k) + 1;
        if (!strcmp(k, "Vary")) {
            strbuf__addf(&vary, "%s%s", vary.n ? ", " : "", v);
        } else {
            kv_add(&out, k, v);
        }
        i = (size_t)(v + strlen(v) + 1 - b->p);
    }
    char *vs = strbuf__take(&vary, NULL);
    if (vs && *vs) {
        kv_add(&out, "Vary", vs);
    }
    free(vs);
    free(b->p);
    *b = out;
}

/* finalhandler's HTML error page (Express's answer when no route takes a request). */
static void error_page(struct http_req *q, int status, const char *msg)
{
    struct strbuf b = {0};
    strbuf__adds(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                     "<title>Error</title>\n</head>\n<body>\n<pre>");
    for (const char *s = msg; *s; s++) {
        switch (*s) {
        case '<': strbuf__adds(&b, "&lt;"); break;
        case '>': strbuf__adds(&b, "&gt;"); break;
        case '&': strbuf__adds(&b, "&amp;"); break;
        case '"': strbuf__adds(&b, "&quot;"); break;
        case '\'': strbuf__adds(&b, "&#39;"); break;
        default: strbuf__add(&b, s, 1);
        }
    }
    strbuf__adds(&b, "</pre>\n</body>\n</html>\n");
    size_t bl = 0;
    char *page = strbuf__take(&b, &bl);
    if (q->cors.p) {
        strbuf__add(&q->hdrs, q->cors.p, q->cors.n);
    }
    kv_set(&q->hdrs, "Content-Security-Policy", "default-src 'none'");
    kv_set(&q->hdrs, "X-Content-Type-Options", "nosniff");
    kv_set(&q->hdrs, "Content-Type", "text/html; charset=utf-8");
    req_answer(q, status, page, page ? bl : 0);
}

static const char *const method_upper[] = {"GET",   "POST", "PUT",     "DELETE",
                                           "PATCH", "HEAD", "OPTIONS", "GET"};

/*
 * The body parsers that run before the route (the editor's JSON and
 * urlencoded parsers, mounted in front of the node routes in Node-RED when
 * the editor is on): 0, or an HTTP status (400) with the error in err.
 */
static int parse_json_body(struct srv_conn *c, struct ef_val **body, char *err, size_t errlen)
{
    const char *p = c->body ? c->body : "";
    size_t i = 0;
    while (i < c->body_len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')) {
        i++;
    }
    if (c->body_len == 0) {
        *body = ef_val_obj();
        return 0;
    }
    if (i == c->body_len) {
        snprintf(err, errlen, "SyntaxError: Unexpected end of JSON input");
        return 400;
    }
    if (p[i] != '{' && p[i] != '[') {
        /* body-parser's strict mode: only objects and arrays */
        snprintf(err, errlen, "SyntaxError: Unexpected token '%c', \"%.20s\" is not valid JSON",
                 p[i], p + i);
        return 400;
    }
    char perr[256];
    *body = ef_json_parse(p, c->body_len, perr, sizeof(perr));
    if (!*body) {
        snprintf(err, errlen, "SyntaxError: %s", perr);
        return 400;
    }
    return 0;
}

/* Decodes the body of a routed request as the node's middleware chain would; -1 on error. */
static int parse_body(struct srv_conn *c, const struct route *rt, bool raw, const char *mt,
                      const char *ct, struct ef_val *req, struct ef_val **body, char *err,
                      size_t errlen)
{
    if (raw) {
        *body = ef_val_buf(c->body ? c->body : "", c->body_len);
        return 0;
    }
    if (rt->upload && c->method == SRV_POST) {
        if (c->body && !strncmp(mt, "multipart/", 10)) {
            char boundary[200];
            bool hasb = ct_param(ct, "boundary", boundary, sizeof(boundary));
            struct ef_val *fields = ef_val_obj(), *files = ef_val_arr();
            if (!fields || !files || !hasb ||
                parse_multipart(c->body, c->body_len, boundary, fields, files) != 0) {
                ef_val_unref(fields);
                ef_val_unref(files);
                snprintf(err, errlen, "Error: %s",
                         hasb ? "Unexpected end of form" : "Multipart: Boundary not found");
                return -1;
            }
            qs_compact(fields);
            ef_val_obj_set_take(req, "files", files);
            *body = fields;
            return 0;
        }
        /* multer passes other types through and marks the body parsed: req.body stays {} */
        *body = ef_val_obj();
        return 0;
    }
    /* Node-RED's rawBodyParser */
    bool text = true;
    if (*mt) {
        const char *slash = strchr(mt, '/');
        size_t tl = slash ? (size_t)(slash - mt) : strlen(mt);
        const char *sub = slash ? slash + 1 : "";
        size_t sl = strlen(sub);
        bool xml = !strcmp(sub, "xml") || (sl > 4 && !strcmp(sub + sl - 4, "+xml"));
        if (tl == 4 && !strncmp(mt, "text", 4)) {
            text = true;
        } else if (xml) {
            text = true;
        } else if (tl != 11 || strncmp(mt, "application", 11) != 0) {
            text = false;
        } else if (strcmp(sub, "octet-stream") != 0 && strcmp(sub, "cbor") != 0 &&
                   strcmp(sub, "x-protobuf") != 0) {
            /* Node-RED sets checkUTF here but leaves isText true: always text */
            text = true;
        } else {
            text = false;
        }
    }
    const char *p = c->body ? c->body : "";
    if (text) {
        *body = js__utf8_decode(p, c->body_len);
    } else {
        *body = ef_val_buf(p, c->body_len);
    }
    return 0;
}

/* Node-RED's rawBodyCapture key test: the exact path (// collapsed, no trailing /) of the route. */
static bool raw_path_match(const char *path, const char *root, const char *url)
{
    char want[2048], got[2048];
    snprintf(want, sizeof(want), "%s%s", root, url);
    const char *srcs[2] = {want, path};
    char *dsts[2] = {want, got};
    char tmp[2048];
    for (int k = 0; k < 2; k++) {
        size_t n = 0;
        snprintf(tmp, sizeof(tmp), "%s", srcs[k]);
        for (const char *s = tmp; *s && n + 1 < sizeof(got); s++) {
            if (*s == '/' && n > 0 && dsts[k][n - 1] == '/') {
                continue;
            }
            dsts[k][n++] = *s;
        }
        while (n > 0 && dsts[k][n - 1] == '/') {
            n--;
        }
        dsts[k][n] = '\0';
    }
    return !strcmp(want, got);
}

static struct ef_val *str_or_empty(const char *s)
{
    return ef_val_str(s ? s : "");
}

bool http_routes__dispatch(struct srv_conn *c)
{
    struct ef_runtime *rt = c->srv->rt;
    if (admin_path(c->path)) {
        return false; /* the editor's routes come first, as in Node-RED */
    }
    const struct ef_val *adm = setting(rt, "httpAdminRoot");
    bool admin_front = !(adm && ef_val_type(adm) == EF_BOOL && !ef_val_bool_get(adm));
    bool enabled = http_routes__enabled(rt);
    if (!admin_front && !enabled) {
        return false;
    }
    struct http_req *q = req_new(c);
    if (!q) {
        c->close_after = true;
        srv_reply_status(c, 500);
        return true;
    }
    char conn[64];
    if (lws_hdr_copy(c->wsi, conn, sizeof(conn), WSI_TOKEN_CONNECTION) > 0 &&
        strcasestr(conn, "close")) {
        c->close_after = true; /* lws keeps a bodiless PUT/POST open otherwise */
    }
    char mt[128] = "", ct[512] = "", tmp[64];
    if (srv_header(c, "content-type:", ct, sizeof(ct)) && *ct) {
        media_type(ct, mt, sizeof(mt));
    }
    /* type-is's hasBody: a Content-Length (even 0) or a Transfer-Encoding */
    bool has_body = c->body || c->body_len || hdr_get(c, "content-length:", tmp, sizeof(tmp)) ||
                    hdr_get(c, "transfer-encoding:", tmp, sizeof(tmp));
    char root[512];
    node_root(rt, root, sizeof(root));
    size_t rl = strlen(root);
    bool under_root = enabled && (rl == 0 || (!strncasecmp(c->path, root, rl) &&
                                              (c->path[rl] == '\0' || c->path[rl] == '/')));
    const char *rel = under_root && c->path[rl] ? c->path + rl : "/";
    const struct ef_val *cors = setting(rt, "httpNodeCors");
    if (cors && !ef_val_truthy(cors)) {
        cors = NULL;
    }
    const struct ef_val *auth = setting(rt, "httpNodeAuth");
    struct http_routes *r = rt->http_routes;

    /* which route? (HEAD is served by GET routes, as in Express) */
    int want = -1;
    switch (c->method) {
    case SRV_GET:
    case SRV_HEAD: want = M_GET; break;
    case SRV_POST: want = M_POST; break;
    case SRV_PUT: want = M_PUT; break;
    case SRV_DELETE: want = M_DELETE; break;
    case SRV_PATCH: want = M_PATCH; break;
    default: break;
    }
    struct route *hit = NULL;
    bool any_path = false;
    for (struct route *p = r && under_root ? r->head : NULL; p; p = p->next) {
        if (route_match(p, rel, NULL) == 0) {
            continue;
        }
        any_path = true;
        if (p->method == want && !hit) {
            hit = p;
        }
    }
    bool raw = hit && hit->raw && raw_path_match(c->path, root, hit->url);
    struct ef_val *body = NULL;
    char err[512] = "";
    if (admin_front) {
        /* the editor's middleware runs first: its CORS (origin "*", GET,PUT,POST,DELETE) ... */
        kv_add(&q->cors, "Access-Control-Allow-Origin", "*");
        if (c->method == SRV_OPTIONS) {
            char acrh[1024];
            kv_add(&q->hdrs, "Access-Control-Allow-Origin", "*");
            kv_add(&q->hdrs, "Access-Control-Allow-Methods", "GET,PUT,POST,DELETE");
            kv_add(&q->hdrs, "Vary", "Access-Control-Request-Headers");
            if (hdr_get(c, "access-control-request-headers:", acrh, sizeof(acrh)) && *acrh) {
                kv_add(&q->hdrs, "Access-Control-Allow-Headers", acrh);
            }
            kv_add(&q->hdrs, "Content-Length", "0");
            q->answered = true;
            srv_reply(c, 204, NULL, NULL, 0);
            return true;
        }
        /* ... and its JSON and urlencoded body parsers (limit apiMaxLength) */
        bool parsed_type =
            !strcmp(mt, "application/json") || !strcmp(mt, "application/x-www-form-urlencoded");
        if (c->body_too_big && !raw) {
            c->close_after = true;
            error_page(q, 413, "PayloadTooLargeError: request entity too large");
            return true;
        }
        if (!raw && parsed_type && has_body) {
            if (!strcmp(mt, "application/json")) {
                int st = parse_json_body(c, &body, err, sizeof(err));
                if (st) {
                    error_page(q, st, err);
                    return true;
                }
            } else {
                body = qs_parse(c->body ? c->body : "", c->body_len);
            }
        }
    }
    if (!under_root) {
        ef_val_unref(body);
        char msg[1200];
        snprintf(msg, sizeof(msg), "Cannot %s %s", method_upper[c->method], c->path);
        error_page(q, 404, msg);
        return true;
    }
    if (auth && ef_val_type(auth) == EF_OBJ && c->method != SRV_OPTIONS &&
        !auth_ok(c, auth, http_routes__of(rt))) {
        ef_val_unref(body);
        kv_set(&q->hdrs, "WWW-Authenticate", "Basic realm=\"Authorization Required\"");
        send_status(q, 401);
        return true;
    }
    if (c->method == SRV_OPTIONS) {
        /* only without the editor: httpNodeCors's preflight, or Express's automatic answer */
        if (cors) {
            struct strbuf b = {0};
            cors_origin(c, cors, &b);
            cors_common(cors, &b, true, c);
            merge_vary(&b);
            q->hdrs = b;
            kv_add(&q->hdrs, "Content-Length", "0");
            q->answered = true;
            srv_reply(c, 204, NULL, NULL, 0);
            return true;
        }
        if (any_path) {
            struct strbuf allow = {0};
            bool seen[5] = {false};
            for (struct route *p = r->head; p; p = p->next) {
                if (route_match(p, rel, NULL) > 0 && !seen[p->method]) {
                    seen[p->method] = true;
                    strbuf__addf(&allow, "%s%s", allow.n ? "," : "", method_upper[p->method]);
                    if (p->method == M_GET) {
                        strbuf__adds(&allow, ",HEAD");
                    }
                }
            }
            char *a = strbuf__take(&allow, NULL);
            if (a) {
                kv_set(&q->hdrs, "Allow", a);
                http_req__send(q, 200, NULL, 0, HTTP_BODY_TEXT, a, strlen(a));
            }
            free(a);
            return true;
        }
    }
    if (!hit) {
        ef_val_unref(body);
        char msg[1200];
        snprintf(msg, sizeof(msg), "Cannot %s %s", method_upper[c->method], c->path);
        error_page(q, 404, msg);
        return true;
    }
    struct ef_node *node = hit->node;
    struct ef_val *req = ef_val_obj();
    struct ef_val *params = ef_val_obj();
    if (!req || !params) {
        ef_val_unref(req);
        ef_val_unref(params);
        ef_val_unref(body);
        send_status(q, 500);
        return true;
    }
    if (route_match(hit, rel, params) < 0) {
        ef_val_unref(req);
        ef_val_unref(params);
        ef_val_unref(body);
        char msg[1200];
        snprintf(msg, sizeof(msg), "URIError: Failed to decode param '%s'",
                 strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel);
        error_page(q, 400, msg);
        return true;
    }
    if (cors) {
        /* httpNodeCors on the request itself (it replaces the editor's origin header) */
        free(q->cors.p);
        memset(&q->cors, 0, sizeof(q->cors));
        cors_origin(c, cors, &q->cors);
        cors_common(cors, &q->cors, false, c);
        merge_vary(&q->cors);
    }
    if (c->body_too_big) {
        /* the node's body parsers fail: its error handler warns and answers 500 */
        c->close_after = true;
        ef_val_unref(req);
        ef_val_unref(params);
        ef_node_warn(node, "PayloadTooLargeError: request entity too large");
        send_status(q, 500);
        return true;
    }
    /* query string */
    struct strbuf ab = {0};
    char frag[4096];
    for (int i = 0;; i++) {
        int n = lws_hdr_copy_fragment(c->wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0) {
            break;
        }
        strbuf__addf(&ab, "%s%.*s", i ? "&" : "", n, frag);
    }
    size_t alen = 0;
    char *args = strbuf__take(&ab, &alen);
    struct ef_val *query = qs_parse(args ? args : "", alen);
    const struct ef_val *cbq = query ? ef_val_obj_get(query, "callback") : NULL;
    if (cbq && ef_val_type(cbq) == EF_ARR) {
        cbq = ef_val_arr_at(cbq, 0);
    }
    if (cbq && ef_val_type(cbq) == EF_STR && ef_val_str_len(cbq) > 0) {
        q->query_callback = strdup(ef_val_str_get(cbq));
    }
    char inm[1024];
    if (hdr_get(c, "if-none-match:", inm, sizeof(inm)) && *inm) {
        q->if_none_match = strdup(inm);
    }
    char ccq[256];
    if (hdr_get(c, "cache-control:", ccq, sizeof(ccq)) && strstr(ccq, "no-cache")) {
        q->no_cache = true;
    }
    struct ef_val *headers = req_headers(c->wsi, setting(rt, "httpNodeHeaders"));
    const char *cookie_hdr = headers ? ef_val_str_get(ef_val_obj_get(headers, "cookie")) : "";
    struct ef_val *cookies = parse_cookies(cookie_hdr);
    ef_val_obj_set_take(req, "method", ef_val_str(method_upper[c->method]));
    struct strbuf ub = {0};
    strbuf__adds(&ub, c->path);
    if (args && alen) {
        strbuf__addf(&ub, "?%s", args);
    }
    size_t ul = 0;
    char *url = strbuf__take(&ub, &ul);
    ef_val_obj_set_take(req, "url", ef_val_str(url && ul > rl ? url + rl : "/"));
    ef_val_obj_set_take(req, "originalUrl", str_or_empty(url));
    ef_val_obj_set_take(req, "baseUrl", ef_val_str(root));
    ef_val_obj_set_take(req, "path", ef_val_str(rel));
    free(url);
    free(args);
    char host[256] = "";
    hdr_get(c, "host:", host, sizeof(host));
    char *colon = strrchr(host, ':');
    if (colon && !strchr(host, ']')) {
        *colon = '\0';
    }
    ef_val_obj_set_take(req, "hostname", ef_val_str(host));
    char ip[64] = "";
    lws_get_peer_simple(c->wsi, ip, sizeof(ip));
    ef_val_obj_set_take(req, "ip", ef_val_str(ip));
    ef_val_obj_set_take(req, "ips", ef_val_arr());
    ef_val_obj_set_take(req, "protocol", ef_val_str(lws_is_ssl(c->wsi) ? "https" : "http"));
    ef_val_obj_set_take(req, "secure", ef_val_bool(lws_is_ssl(c->wsi)));
    ef_val_obj_set_take(req, "headers", headers);
    ef_val_obj_set_take(req, "params", params);
    ef_val_obj_set_take(req, "query", query ? ef_val_ref(query) : ef_val_obj());
    ef_val_obj_set_take(req, "cookies", cookies);
    ef_val_obj_set_take(req, "signedCookies", ef_val_obj());
    if (hit->method != M_GET) {
        if (!body && !admin_front && has_body &&
            (!strcmp(mt, "application/json") || !strcmp(mt, "application/x-www-form-urlencoded"))) {
            /* without the editor in front, the node's own parsers do this */
            if (!strcmp(mt, "application/json")) {
                if (parse_json_body(c, &body, err, sizeof(err))) {
                    ef_node_warn(node, "%s", err);
                    ef_val_unref(req);
                    ef_val_unref(query);
                    send_status(q, 500);
                    return true;
                }
            } else {
                body = qs_parse(c->body ? c->body : "", c->body_len);
            }
        }
        if (!body && (has_body || raw || hit->upload)) {
            if (parse_body(c, hit, raw, mt, ct, req, &body, err, sizeof(err)) != 0) {
                ef_node_warn(node, "%s", err);
                ef_val_unref(req);
                ef_val_unref(query);
                send_status(q, 500);
                return true;
            }
        }
        if (!body) {
            /* no body at all: the parsers leave {} and rawBodyParser reads "" */
            body = raw ? ef_val_buf("", 0) : ef_val_str("");
        }
        ef_val_obj_set_take(req, "body", ef_val_ref(body));
    } else {
        ef_val_unref(body);
        body = NULL;
        ef_val_obj_set_take(req, "body", ef_val_obj());
    }
    /* requests waiting for a flow's answer are bounded: past the limit, 503 at once */
    const struct ef_val *mp = setting(rt, "httpNodeMaxPending");
    double max_pending = mp && ef_val_type(mp) == EF_NUM ? ef_val_num_get(mp) : DEFAULT_MAX_PENDING;
    if (max_pending > 0 && (double)r->npending >= max_pending) {
        if (r->refused_busy++ % 1000 == 0) {
            ef_node_warn(node,
                         "%zu requests are waiting for an http response (httpNodeMaxPending): "
                         "answered 503 (%llu so far)",
                         r->npending, (unsigned long long)r->refused_busy);
        }
        ef_val_unref(req);
        ef_val_unref(query);
        ef_val_unref(body);
        c->close_after = true;
        send_status(q, 503);
        return true;
    }
    struct ef_msg *msg = ef_msg_new();
    struct ef_val *res = ef_val_handle(q, &http_routes__res_type);
    if (!msg || !res) {
        ef_msg_free(msg);
        ef_val_unref(res);
        ef_val_unref(req);
        ef_val_unref(query);
        ef_val_unref(body);
        send_status(q, 500);
        return true;
    }
    q->refs++; /* the handle's */
    q->node = node;
    q->routes = r;
    r->npending++;
    q->next = r->pending;
    q->pprev = &r->pending;
    if (r->pending) {
        r->pending->pprev = &q->next;
    }
    r->pending = q;
    ef_msg_set_take(msg, "req", req);
    ef_msg_set_take(msg, "res", res);
    if (hit->method == M_GET) {
        ef_msg_set_take(msg, "payload", query ? query : ef_val_obj());
    } else {
        ef_msg_set_take(msg, "payload", body ? body : ef_val_obj());
        ef_val_unref(query);
    }
    /* requests no flow answers get 503 after httpNodeTimeout ms (0: never) */
    const struct ef_val *to = setting(rt, "httpNodeTimeout");
    double ms = to && ef_val_type(to) == EF_NUM ? ef_val_num_get(to) : DEFAULT_TIMEOUT_MS;
    if (ms > 0 && uv_timer_init(ef_loop_uv(&rt->loop), &q->timer) == 0) {
        q->timer.data = q;
        q->timer_open = true;
        q->refs++; /* the timer's, dropped when it is closed */
        uv_timer_start(&q->timer, on_timeout, (uint64_t)ms, 0);
    }
    if (ef_node_send(node, 0, msg) != 0) {
        ef_msg_free(msg);
        ef_node_warn(node, "cannot deliver the request (queue full)");
        c->close_after = true;
        send_status(q, 503);
    }
    return true;
}
