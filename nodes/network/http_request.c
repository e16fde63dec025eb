/*
 * http_request.c - the http request node (Node-RED 21-httprequest.js): sends
 * an HTTP(S) request per message through libcurl's multi interface on the
 * loop (lib/curl_loop.c), so any number of requests are in flight without
 * blocking. Method from the config or msg.method ("use"), URL from the
 * config (with mustache {{placeholders}} from msg) or msg.url, headers from
 * msg.headers and the config list, the payload as the body (or, for GET, as
 * the query string / body), basic or bearer auth from the credentials, TLS
 * options from a tls-config node. The answer comes back as msg.payload
 * (UTF-8 text, a Buffer or parsed JSON), msg.statusCode, msg.headers (as
 * Node.js reports them, with Node-RED's x-node-red-request-node hash),
 * msg.responseUrl and msg.redirectList. Errors go to catch nodes with
 * got's texts and, unless senderr is set, out with the error as payload.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "js.h"
#include "settings.h"
#include "strbuf.h"
#include "base64.h"

#include "../function/lib/mustache.h"
#include "curl_loop.h"
#include "lib/hash_sum.h"
#include "lib/http_proxy.h"
#include "lib/tls.h"

#define DEFAULT_TIMEOUT_MS 120000

struct hreq;

struct http_request {
    struct ef_node *n;
    const char *url; /* configured URL ("" when from msg.url) */
    struct mst_template *url_tpl;
    const char *method; /* configured method, "use" for msg.method */
    int ret;            /* RET_* */
    bool paytoqs, paytobody, senderr;
    int auth; /* AUTH_* */
    const struct ef_val *headers;
    struct ef_node *tls;
    bool proxy_set;        /* the proxy property names a node (the environment is then ignored) */
    struct ef_node *proxy; /* that node, NULL when it is not an http proxy node */
    struct curl_loop *cl;
    struct hreq *reqs; /* requests in flight */
    size_t nreqs;      /* how many */
    int count;
};

enum { RET_TXT, RET_BIN, RET_OBJ };
enum { AUTH_BASIC, AUTH_DIGEST, AUTH_BEARER };

/* One request in flight. */
struct hreq {
    struct http_request *hr;
    struct ef_msg *msg;
    CURL *easy;
    struct curl_slist *hdrs;
    char *url;
    char *proxy; /* proxy URL, NULL for none */
    char *body;
    size_t body_len;
    uint64_t timeout_ms;
    struct strbuf resp;
    struct ef_val *headers;   /* of the response being read */
    struct ef_val *redirects; /* redirectList */
    long status;              /* of the response being read */
    char errbuf[CURL_ERROR_SIZE];
    struct hreq *next, *prev;
};

static const struct ef_prop http_request_props[] = {
    {EF_PROP_STR, "method", "\"GET\"", false,
     "GET, POST, PUT, DELETE, HEAD, ... or use (msg.method)",
     offsetof(struct http_request, method)},
    {EF_PROP_STR, "url", "\"\"", false, "URL, may hold {{mustache}} references to msg",
     offsetof(struct http_request, url)},
    {EF_PROP_STR, "ret", "\"txt\"", false, "txt (UTF-8 string), bin (Buffer) or obj (parsed JSON)",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "paytoqs", "false", false, "false/ignore, true/query or body: GET payload use",
     EF_PROP_NOFIELD},
    {EF_PROP_STR, "tls", "\"\"", false, "tls-config node id", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "persist", "false", false, "keep connections alive (always on here)",
     EF_PROP_NOFIELD},
    {EF_PROP_STR, "proxy", "\"\"", false, "http proxy config node id", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "insecureHTTPParser", "false", false, "ignored", EF_PROP_NOFIELD},
    {EF_PROP_STR, "authType", "\"basic\"", false, "basic, digest or bearer", EF_PROP_NOFIELD},
    {EF_PROP_BOOL, "senderr", "false", false, "send errors only to catch nodes",
     offsetof(struct http_request, senderr)},
    {EF_PROP_ANY, "headers", "[]", false, "[{keyType, keyValue, valueType, valueValue}]",
     offsetof(struct http_request, headers)},
    {EF_PROP_END},
};

/* ---- helpers ---- */

/* updateHeader: case-insensitive replace of a header, removed when v is falsy. */
static void update_header(struct ef_val *hdrs, const char *name, const struct ef_val *v)
{
    for (size_t i = 0; i < ef_val_obj_len(hdrs);) {
        size_t kl;
        const char *k = ef_val_obj_key_at(hdrs, i, &kl);
        if (strlen(name) == kl && strncasecmp(k, name, kl) == 0) {
            ef_val_obj_del(hdrs, k, kl);
        } else {
            i++;
        }
    }
    if (v && ef_val_truthy(v)) {
        ef_val_obj_set_take(hdrs, name, ef_val_ref((struct ef_val *)v));
    }
}

struct known {
    char ct[128], cl[128];
};

/* normaliseKnownHeader: content-type/-length kept lower-case, their case remembered. */
static const char *normalise_known(struct known *kn, const char *name, char *buf, size_t blen)
{
    if (!strcasecmp(name, "content-type")) {
        snprintf(kn->ct, sizeof(kn->ct), "%s", name);
        snprintf(buf, blen, "content-type");
        return buf;
    }
    if (!strcasecmp(name, "content-length")) {
        snprintf(kn->cl, sizeof(kn->cl), "%s", name);
        snprintf(buf, blen, "content-length");
        return buf;
    }
    return name;
}

/* querystring.escape (encodeURIComponent's set of unreserved characters). */
static void qs_escape(struct strbuf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || strchr("-_.!~*'()", c)) {
            strbuf__add(b, (const char *)&c, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            strbuf__add(b, e, 3);
        }
    }
}

/* querystring's stringifyPrimitive: strings, finite numbers and booleans. */
static void qs_prim(struct strbuf *b, const struct ef_val *v)
{
    switch (ef_val_type(v)) {
    case EF_STR: qs_escape(b, ef_val_str_get(v), ef_val_str_len(v)); break;
    case EF_BOOL: strbuf__adds(b, ef_val_bool_get(v) ? "true" : "false"); break;
    case EF_NUM:
        if (isfinite(ef_val_num_get(v))) {
            char nb[32];
            ef_num_format(ef_val_num_get(v), nb);
            strbuf__adds(b, nb);
        }
        break;
    default: break;
    }
}

/* querystring.stringify(obj). */
static void qs_stringify(struct strbuf *b, const struct ef_val *o)
{
    bool first = true;
    for (size_t i = 0; i < ef_val_obj_len(o); i++) {
        size_t kl;
        const char *k = ef_val_obj_key_at(o, i, &kl);
        const struct ef_val *v = ef_val_obj_val_at(o, i);
        if (ef_val_type(v) == EF_ARR) {
            for (size_t j = 0; j < ef_val_arr_len(v); j++) {
                strbuf__adds(b, first ? "" : "&");
                first = false;
                qs_escape(b, k, kl);
                strbuf__add(b, "=", 1);
                qs_prim(b, ef_val_arr_at(v, j));
            }
            continue;
        }
        strbuf__adds(b, first ? "" : "&");
        first = false;
        qs_escape(b, k, kl);
        strbuf__add(b, "=", 1);
        qs_prim(b, v);
    }
}

/*
 * The URL as got sends it: stray '%' in the query (not followed by two hex
 * digits) escaped as Node-RED does, then what the WHATWG URL parser
 * percent-encodes in the path and query (spaces, controls, non-ASCII, ...).
 */
static char *normalise_url(const char *url)
{
    static const char hex[] = "0123456789ABCDEF";
    struct strbuf b = {0};
    const char *scheme = strstr(url, "://");
    const char *path = scheme ? strchr(scheme + 3, '/') : NULL;
    const char *q = strchr(url, '?');
    if (q && (!path || q < path)) {
        path = q;
    }
    if (!path) {
        strbuf__adds(&b, url);
        return strbuf__take(&b, NULL);
    }
    strbuf__add(&b, url, (size_t)(path - url));
    bool in_query = false, in_frag = false;
    for (const char *p = path; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '?' && !in_query && !in_frag) {
            in_query = true;
        } else if (c == '#' && !in_frag) {
            in_frag = true;
        }
        if (in_query && !in_frag && c == '%' &&
            !(isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2]))) {
            strbuf__adds(&b, "%25");
            continue;
        }
        bool enc = c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' ||
                   (!in_query && !in_frag && (c == '`' || c == '{' || c == '}')) ||
                   (in_query && !in_frag && c == '\'');
        if (enc) {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            strbuf__add(&b, e, 3);
        } else {
            strbuf__add(&b, (const char *)&c, 1);
        }
    }
    return strbuf__take(&b, NULL);
}

/* ---- response ---- */

/* Node.js drops duplicates of these response headers (the first wins). */
static bool single_valued(const char *k)
{
    static const char *const names[] = {"age",
                                        "authorization",
                                        "content-length",
                                        "content-type",
                                        "etag",
                                        "expires",
                                        "from",
                                        "host",
                                        "if-modified-since",
                                        "if-unmodified-since",
                                        "last-modified",
                                        "location",
                                        "max-forwards",
                                        "proxy-authorization",
                                        "referer",
                                        "retry-after",
                                        "server",
                                        "user-agent",
                                        NULL};
    for (int i = 0; names[i]; i++) {
        if (!strcmp(k, names[i])) {
            return true;
        }
    }
    return false;
}

static void finish_response_headers(struct hreq *r)
{
    /* a redirect that curl follows: remember its location */
    if (r->headers && r->status >= 300 && r->status < 400) {
        const struct ef_val *loc = ef_val_obj_get(r->headers, "location");
        if (loc) {
            struct ef_val *o = ef_val_obj();
            ef_val_obj_set_take(o, "location", ef_val_ref((struct ef_val *)loc));
            ef_val_arr_push_take(r->redirects, o);
        }
    }
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    struct hreq *r = ud;
    size_t len = size * nmemb;
    if (len >= 5 && !strncmp(data, "HTTP/", 5)) {
        finish_response_headers(r);
        ef_val_unref(r->headers);
        r->headers = ef_val_obj();
        const char *sp = memchr(data, ' ', len);
        r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        return len;
    }
    const char *colon = memchr(data, ':', len);
    if (!colon || !r->headers) {
        return len;
    }
    char name[256];
    size_t nl = (size_t)(colon - data);
    if (nl == 0 || nl >= sizeof(name)) {
        return len;
    }
    for (size_t i = 0; i < nl; i++) {
        name[i] = (char)tolower((unsigned char)data[i]);
    }
    name[nl] = 0;
    const char *v = colon + 1, *end = data + len;
    while (v < end && (*v == ' ' || *v == '\t')) {
        v++;
    }
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }
    struct ef_val *old = ef_val_obj_get(r->headers, name);
    struct ef_val *nv = ef_val_strn(v, (size_t)(end - v));
    if (!strcmp(name, "set-cookie")) {
        if (!old) {
            struct ef_val *a = ef_val_arr();
            ef_val_arr_push_take(a, nv);
            ef_val_obj_set_take(r->headers, name, a);
        } else {
            ef_val_arr_push_take(ef_val_mut(ef_val_obj_slot(r->headers, name, nl)), nv);
        }
    } else if (!old) {
        ef_val_obj_set_take(r->headers, name, nv);
    } else if (single_valued(name)) {
        ef_val_unref(nv);
    } else {
        struct ef_val *j = ef_val_strf("%s, %s", ef_val_str_get(old), ef_val_str_get(nv));
        ef_val_unref(nv);
        ef_val_obj_set_take(r->headers, name, j);
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct hreq *r = ud;
    strbuf__add(&r->resp, data, size * nmemb);
    return r->resp.oom ? 0 : size * nmemb;
}

/* decodeURIComponent of s (len bytes) when it holds '%', else a copy; the text as is when invalid.
 */
static struct ef_val *cookie_decode(const char *s, size_t len)
{
    if (!memchr(s, '%', len)) {
        return ef_val_strn(s, len);
    }
    char *out = malloc(len + 1);
    size_t o = 0;
    if (!out) {
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            if (i + 2 >= len || !isxdigit((unsigned char)s[i + 1]) ||
                !isxdigit((unsigned char)s[i + 2])) {
                free(out);
                return ef_val_strn(s, len);
            }
            char h[3] = {s[i + 1], s[i + 2], 0};
            out[o++] = (char)strtol(h, NULL, 16);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    return ef_val_str_take(out, o);
}

/* cookie.parse + extractCookies for one Set-Cookie value. */
static void extract_cookie(struct ef_val *cookies, const char *c)
{
    const char *eq = strchr(c, '=');
    if (!eq) {
        return;
    }
    const char *ks = c, *ke = eq;
    while (ks < ke && isspace((unsigned char)*ks)) {
        ks++;
    }
    while (ke > ks && isspace((unsigned char)ke[-1])) {
        ke--;
    }
    if (ke == ks) {
        return;
    }
    struct ef_val *o = ef_val_obj();
    struct ef_val *value = NULL;
    const char *p = c;
    bool first = true;
    while (*p) {
        const char *semi = strchr(p, ';');
        const char *pe = semi ? semi : p + strlen(p);
        const char *e = memchr(p, '=', (size_t)(pe - p));
        if (e) {
            const char *a = p, *b = e, *va = e + 1, *vb = pe;
            while (a < b && isspace((unsigned char)*a)) {
                a++;
            }
            while (b > a && isspace((unsigned char)b[-1])) {
                b--;
            }
            while (va < vb && isspace((unsigned char)*va)) {
                va++;
            }
            while (vb > va && isspace((unsigned char)vb[-1])) {
                vb--;
            }
            if (vb - va >= 2 && *va == '"' && vb[-1] == '"') {
                va++;
                vb--;
            }
            struct ef_val *sv = cookie_decode(va, (size_t)(vb - va));
            if (first) {
                value = sv;
            } else if (!ef_val_obj_getn(o, a, (size_t)(b - a))) {
                ef_val_obj_setn_take(o, a, (size_t)(b - a), sv);
            } else {
                ef_val_unref(sv);
            }
        }
        first = false;
        p = semi ? semi + 1 : pe;
    }
    ef_val_obj_set_take(o, "value", value ? value : ef_val_str(""));
    ef_val_obj_setn_take(cookies, ks, (size_t)(ke - ks), o);
}

/* ---- requests ---- */

static void hreq_free(struct hreq *r)
{
    struct http_request *hr = r->hr;
    if (r->prev) {
        r->prev->next = r->next;
    } else {
        hr->reqs = r->next;
    }
    if (r->next) {
        r->next->prev = r->prev;
    }
    hr->nreqs--;
    if (r->easy) {
        curl_easy_cleanup(r->easy);
    }
    curl_slist_free_all(r->hdrs);
    free(r->url);
    free(r->proxy);
    free(r->body);
    free(strbuf__take(&r->resp, NULL));
    ef_val_unref(r->headers);
    ef_val_unref(r->redirects);
    free(r);
}

static void send_msg(struct ef_node *n, struct ef_msg *msg)
{
    ef_node_done(n, msg);
    if (ef_node_send(n, 0, msg) != 0) {
        ef_msg_free(msg);
    }
}

/* Node.js's error code for an OpenSSL certificate verify result (X509_V_ERR_*). */
static const char *verify_code(long vr)
{
    switch (vr) {
    case 2: return "UNABLE_TO_GET_ISSUER_CERT";
    case 9: return "CERT_NOT_YET_VALID";
    case 10: return "CERT_HAS_EXPIRED";
    case 18: return "DEPTH_ZERO_SELF_SIGNED_CERT";
    case 19: return "SELF_SIGNED_CERT_IN_CHAIN";
    case 20: return "UNABLE_TO_GET_ISSUER_CERT_LOCALLY";
    default: return "UNABLE_TO_VERIFY_LEAF_SIGNATURE";
    }
}

static void on_error(struct hreq *r, CURLcode rc)
{
    struct http_request *hr = r->hr;
    struct ef_node *n = hr->n;
    char text[CURL_ERROR_SIZE + 300];
    const char *code = "ERR";
    char codebuf[64];
    long oserr = 0;
    curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &oserr);
    const char *ip = NULL;
    long port = 0;
    curl_easy_getinfo(r->easy, CURLINFO_PRIMARY_IP, &ip);
    curl_easy_getinfo(r->easy, CURLINFO_PRIMARY_PORT, &port);
    bool timeout = rc == CURLE_OPERATION_TIMEDOUT;
    long connect_code = 0;
    curl_easy_getinfo(r->easy, CURLINFO_HTTP_CONNECTCODE, &connect_code);
    if (connect_code >= 300 && !timeout) {
        /* the proxy refused the CONNECT tunnel (hpagent's error) */
        code = "ERR_GOT_REQUEST_ERROR";
        snprintf(text, sizeof(text), "RequestError: Bad response: %ld", connect_code);
    } else if (timeout) {
        code = "ETIMEDOUT";
        snprintf(text, sizeof(text), "TimeoutError: Timeout awaiting 'request' for %llums",
                 (unsigned long long)r->timeout_ms);
    } else if (rc == CURLE_COULDNT_CONNECT) {
        code = oserr == ECONNREFUSED   ? "ECONNREFUSED"
               : oserr == EHOSTUNREACH ? "EHOSTUNREACH"
               : oserr == ENETUNREACH  ? "ENETUNREACH"
                                       : "ECONNREFUSED";
        char *host = NULL, *portstr = NULL;
        CURLU *u = curl_url();
        if (u && curl_url_set(u, CURLUPART_URL, r->url, 0) == CURLUE_OK) {
            curl_url_get(u, CURLUPART_HOST, &host, 0);
            curl_url_get(u, CURLUPART_PORT, &portstr, CURLU_DEFAULT_PORT);
        }
        if (ip && *ip && port > 0) {
            snprintf(text, sizeof(text), "RequestError: connect %s %s:%ld", code, ip, port);
        } else {
            snprintf(text, sizeof(text), "RequestError: connect %s %s:%s", code, host ? host : "",
                     portstr ? portstr : "");
        }
        curl_free(host);
        curl_free(portstr);
        curl_url_cleanup(u);
    } else if (rc == CURLE_COULDNT_RESOLVE_HOST) {
        code = "ENOTFOUND";
        char *host = NULL;
        CURLU *u = curl_url();
        if (u && curl_url_set(u, CURLUPART_URL, r->url, 0) == CURLUE_OK) {
            curl_url_get(u, CURLUPART_HOST, &host, 0);
        }
        snprintf(text, sizeof(text), "RequestError: getaddrinfo ENOTFOUND %s", host ? host : "");
        curl_free(host);
        curl_url_cleanup(u);
    } else if ((rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR || rc == CURLE_PARTIAL_FILE ||
                rc == CURLE_GOT_NOTHING) &&
               (oserr == ECONNRESET || strstr(r->errbuf, "reset by peer"))) {
        /* the peer reset the connection (before or during the answer) */
        code = "ECONNRESET";
        snprintf(text, sizeof(text), "RequestError: read ECONNRESET");
    } else if (rc == CURLE_GOT_NOTHING || rc == CURLE_RECV_ERROR || rc == CURLE_PARTIAL_FILE) {
        code = "ECONNRESET";
        snprintf(text, sizeof(text), "RequestError: socket hang up");
    } else if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE) {
        long vr = 0;
        curl_easy_getinfo(r->easy, CURLINFO_SSL_VERIFYRESULT, &vr);
        code = verify_code(vr);
        /* Node.js gives OpenSSL's verify text without curl's prefix */
        const char *msg = r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);
        const char *pre = "SSL certificate problem: ";
        if (!strncmp(msg, pre, strlen(pre))) {
            msg += strlen(pre);
        }
        snprintf(text, sizeof(text), "RequestError: %s", msg);
    } else if (rc == CURLE_TOO_MANY_REDIRECTS) {
        code = "ERR_TOO_MANY_REDIRECTS";
        snprintf(text, sizeof(text), "MaxRedirectsError: Redirected 21 times. Aborting.");
    } else {
        snprintf(codebuf, sizeof(codebuf), "ECURL%d", (int)rc);
        code = codebuf;
        snprintf(text, sizeof(text), "RequestError: %s",
                 r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
    }
    struct ef_msg *msg = r->msg;
    r->msg = NULL;
    if (timeout) {
        ef_node_error(n, msg, "no response from server");
        ef_node_status(n, "red", "ring", "no response from server");
    } else {
        ef_node_error(n, msg, "%s", text);
        ef_node_status(n, "red", "ring", code);
    }
    ef_msg_set_take(msg, "payload", ef_val_strf("%s : %s", text, r->url));
    ef_msg_set_take(msg, "statusCode", ef_val_str(code));
    hr->count--;
    if (!hr->senderr) {
        send_msg(n, msg);
    } else {
        ef_node_done(n, msg);
        ef_msg_free(msg);
    }
}

/* responseUrl as WHATWG URL prints it: an empty path becomes "/". */
static struct ef_val *response_url(const char *eff)
{
    const char *p = strstr(eff, "://");
    if (p && !strpbrk(p + 3, "/?#")) {
        return ef_val_strf("%s/", eff);
    }
    return ef_val_str(eff);
}

static void on_done(CURL *easy, CURLcode rc, void *ud)
{
    (void)easy;
    struct hreq *r = ud;
    struct http_request *hr = r->hr;
    struct ef_node *n = hr->n;
    if (rc != CURLE_OK) {
        on_error(r, rc);
        hreq_free(r);
        return;
    }
    struct ef_msg *msg = r->msg;
    r->msg = NULL;
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    const char *eff = NULL;
    curl_easy_getinfo(r->easy, CURLINFO_EFFECTIVE_URL, &eff);
    struct ef_val *headers = r->headers ? r->headers : ef_val_obj();
    r->headers = NULL;
    struct ef_val *cookies = NULL;
    const struct ef_val *sc = ef_val_obj_get(headers, "set-cookie");
    if (sc) {
        cookies = ef_val_obj();
        for (size_t i = 0; i < ef_val_arr_len(sc); i++) {
            extract_cookie(cookies, ef_val_str_get(ef_val_arr_at(sc, i)));
        }
    }
    ef_val_obj_set_take(headers, "x-node-red-request-node", hash_sum__of(headers));
    size_t blen;
    char *body = strbuf__take(&r->resp, &blen);
    if (!body) {
        body = strdup("");
        blen = 0;
    }
    ef_msg_set_take(msg, "statusCode", ef_val_num((double)status));
    ef_msg_set_take(msg, "headers", headers);
    ef_msg_set_take(msg, "responseUrl", response_url(eff ? eff : r->url));
    struct ef_val *payload;
    if (hr->ret == RET_BIN) {
        payload = ef_val_buf_take(body, blen);
    } else {
        payload = ef_val_str_take(body, blen);
        if (hr->ret == RET_OBJ) {
            const char *t = status == 204 ? "{}" : ef_val_str_get(payload);
            size_t tl = status == 204 ? 2 : ef_val_str_len(payload);
            struct ef_val *p = ef_json_parse(t, tl, NULL, 0);
            if (p) {
                ef_val_unref(payload);
                payload = p;
            } else {
                ef_node_warn(n, "JSON parse error");
            }
        }
    }
    ef_msg_set_take(msg, "payload", payload);
    ef_msg_set_take(msg, "redirectList", r->redirects);
    r->redirects = NULL;
    ef_msg_set_take(msg, "retry", ef_val_num(0));
    if (cookies) {
        ef_msg_set_take(msg, "responseCookies", cookies);
    }
    hreq_free(r);
    if (--hr->count == 0) {
        ef_node_status(n, NULL, NULL, NULL);
    }
    send_msg(n, msg);
}

/* Appends "Name: value" for each header in the map. */
static struct curl_slist *header_list(const struct ef_val *hdrs)
{
    struct curl_slist *l = NULL;
    for (size_t i = 0; i < ef_val_obj_len(hdrs); i++) {
        size_t kl;
        const char *k = ef_val_obj_key_at(hdrs, i, &kl);
        size_t vl;
        char *v = js__to_string(ef_val_obj_val_at(hdrs, i), &vl);
        struct strbuf b = {0};
        strbuf__add(&b, k, kl);
        strbuf__adds(&b, ": ");
        if (v) {
            strbuf__add(&b, v, vl);
        }
        free(v);
        char *line = strbuf__take(&b, NULL);
        if (line) {
            /* curl needs "Name;" to send a header with an empty value */
            struct curl_slist *nl = curl_slist_append(l, line);
            if (nl) {
                l = nl;
            }
            free(line);
        }
    }
    return l;
}

/* Config headers: the name or value from "other", msg, or the type itself. */
static struct ef_val *header_part(struct ef_node *n, const struct ef_msg *msg, const char *type,
                                  const struct ef_val *value)
{
    if (!strcmp(type, "other")) {
        return value ? ef_val_ref((struct ef_val *)value) : NULL;
    }
    if (!strcmp(type, "msg")) {
        struct ef_val *out = NULL;
        char err[128];
        if (ef_node_eval_typed(n, "msg", value, msg, &out, err, sizeof(err)) != 0) {
            return NULL;
        }
        return out;
    }
    return ef_val_str(type);
}

/*
 * Reports err for a request not yet started and drops it. As in Node-RED,
 * the count of requests in flight (and so the "requesting" status) stays.
 */
static int fail_request(struct ef_node *n, struct ef_msg *msg, struct hreq *r, const char *err)
{
    ef_node_error(n, msg, "%s", err);
    ef_node_done(n, msg);
    ef_msg_free(msg);
    if (r->easy) {
        curl_easy_cleanup(r->easy);
    }
    curl_slist_free_all(r->hdrs);
    free(r->url);
    free(r->proxy);
    free(r->body);
    ef_val_unref(r->redirects);
    free(r);
    return EF_INPUT_ASYNC;
}

static int cb_input(struct ef_node *n, struct ef_msg *msg)
{
    struct http_request *hr = ef_node_priv(n);
    /* edgeflow's bound on requests in flight (Node-RED has none): the newest is refused */
    const struct ef_val *mv = settings__get(n->fs->rt->settings, "nodeMessageBufferMaxLength");
    if (ef_val_type(mv) == EF_NUM && ef_val_num_get(mv) > 0 &&
        (double)hr->nreqs >= ef_val_num_get(mv)) {
        ef_node_error(n, msg, "too many pending messages in http request node");
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    hr->count++;
    ef_node_status(n, "blue", "dot", "requesting");
    const struct ef_val *murl = ef_msg_get(msg, "url");
    char *url = NULL;
    if (murl && ef_val_truthy(murl) && hr->url[0] && strcmp(ef_val_str_get(murl), hr->url)) {
        ef_node_warn(n, "Warning: msg properties can no longer override set node properties. "
                        "See bit.ly/nr-override-msg-props");
    }
    if (hr->url_tpl) {
        char err[256];
        size_t l;
        url = mst__render(hr->url_tpl, ef_msg_root(msg), NULL, &l, err, sizeof(err));
    } else if (hr->url[0]) {
        url = strdup(hr->url);
    } else if (murl && ef_val_truthy(murl)) {
        url = js__to_string(murl, NULL);
    }
    if (!url || !url[0]) {
        free(url);
        ef_node_error(n, msg, "No url specified");
        ef_node_done(n, msg);
        ef_msg_free(msg);
        return EF_INPUT_ASYNC;
    }
    if (strstr(url, "://") && strncmp(url, "http", 4) != 0) {
        free(url);
        ef_node_warn(n, "non-http transport requested");
        ef_node_status(n, "red", "ring", "non-http transport requested");
        ef_node_done(n, msg);
        ef_msg_free(msg);
        return EF_INPUT_ASYNC;
    }
    if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) {
        char *u = NULL;
        if (asprintf(&u, "%s%s", hr->tls ? "https://" : "http://", url) < 0) {
            u = NULL;
        }
        free(url);
        url = u;
    }
    /* the proxy for this URL: from the proxy node, else from the environment */
    char *proxy = NULL;
    if (url && !hr->proxy_set) {
        proxy = http_proxy__for_url(NULL, url);
    } else if (url && hr->proxy) {
        proxy = http_proxy__for_url(http_proxy__get(hr->proxy), url);
    }
    char *fixed = url ? normalise_url(url) : NULL;
    free(url);
    url = fixed;
    struct hreq *r = calloc(1, sizeof(*r));
    if (!url || !r) {
        free(url);
        free(proxy);
        free(r);
        ef_node_error(n, msg, "out of memory");
        ef_node_done(n, msg);
        ef_msg_free(msg);
        return EF_INPUT_ASYNC;
    }
    r->hr = hr;
    r->url = url;
    r->proxy = proxy;
    r->redirects = ef_val_arr();
    r->timeout_ms = DEFAULT_TIMEOUT_MS;

    /* method */
    char method[32];
    snprintf(method, sizeof(method), "%s", hr->method[0] ? hr->method : "GET");
    const struct ef_val *mmethod = ef_msg_get(msg, "method");
    if (mmethod && ef_val_truthy(mmethod) && hr->method[0] && strcmp(hr->method, "use")) {
        ef_node_warn(n, "Warning: msg properties can no longer override set node properties. "
                        "See bit.ly/nr-override-msg-props");
    }
    if (mmethod && ef_val_truthy(mmethod) && !strcmp(hr->method, "use")) {
        snprintf(method, sizeof(method), "%s", ef_val_str_get(mmethod));
    }
    for (char *p = method; *p; p++) {
        *p = (char)toupper((unsigned char)*p);
    }

    /* timeout */
    const struct ef_val *rt = ef_msg_get(msg, "requestTimeout");
    if (rt) {
        double t = js__to_number(rt);
        if (isnan(t)) {
            ef_node_warn(n, "Timeout value is not a valid number, ignoring");
        } else if (t < 1) {
            ef_node_warn(n, "Timeout value is negative, ignoring");
        } else {
            r->timeout_ms = (uint64_t)t;
        }
    }

    /* headers */
    struct known kn = {"Content-Type", "Content-Length"};
    struct ef_val *hdrs = ef_val_obj();
    const struct ef_val *mh = ef_msg_get(msg, "headers");
    if (mh && ef_val_type(mh) == EF_OBJ) {
        const struct ef_val *tag = ef_val_obj_get(mh, "x-node-red-request-node");
        if (tag) {
            struct ef_val *tagc = ef_val_ref((struct ef_val *)tag);
            ef_msg_delete(msg, "headers[\"x-node-red-request-node\"]");
            mh = ef_msg_get(msg, "headers");
            struct ef_val *h = hash_sum__of(mh);
            if (ef_val_equal(h, tagc)) {
                ef_msg_delete(msg, "headers");
                mh = NULL;
            }
            ef_val_unref(h);
            ef_val_unref(tagc);
        }
        for (size_t i = 0; mh && i < ef_val_obj_len(mh); i++) {
            size_t kl;
            const char *k = ef_val_obj_key_at(mh, i, &kl);
            char *name = strndup(k, kl), buf[32];
            if (name) {
                update_header(hdrs, normalise_known(&kn, name, buf, sizeof(buf)),
                              ef_val_obj_val_at(mh, i));
            }
            free(name);
        }
    }
    for (size_t i = 0; i < ef_val_arr_len(hr->headers); i++) {
        const struct ef_val *h = ef_val_arr_at(hr->headers, i);
        const char *kt = ef_val_str_get(ef_val_obj_get(h, "keyType"));
        const char *vt = ef_val_str_get(ef_val_obj_get(h, "valueType"));
        struct ef_val *name = header_part(n, msg, kt, ef_val_obj_get(h, "keyValue"));
        if (!name || !ef_val_truthy(name)) {
            ef_val_unref(name);
            continue;
        }
        struct ef_val *value = header_part(n, msg, vt, ef_val_obj_get(h, "valueValue"));
        char *ns = js__to_string(name, NULL), buf[32];
        if (ns) {
            update_header(hdrs, normalise_known(&kn, ns, buf, sizeof(buf)), value);
        }
        free(ns);
        ef_val_unref(name);
        ef_val_unref(value);
    }
    bool follow = true;
    const struct ef_val *fr = ef_msg_get(msg, "followRedirects");
    if (fr) {
        follow = ef_val_truthy(fr);
    }

    /* credentials: from the node, else from the URL */
    CURL *e = curl_easy_init();
    r->easy = e;
    if (!e) {
        ef_val_unref(hdrs);
        return fail_request(n, msg, r, "out of memory");
    }
    {
        const struct ef_val *cred = ef_node_credentials(n);
        const struct ef_val *cu = ef_val_obj_get(cred, "user");
        const struct ef_val *cp = ef_val_obj_get(cred, "password");
        char *uuser = NULL, *upass = NULL;
        CURLU *u = curl_url();
        if (u && curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK) {
            curl_url_get(u, CURLUPART_USER, &uuser, CURLU_URLDECODE);
            curl_url_get(u, CURLUPART_PASSWORD, &upass, CURLU_URLDECODE);
        }
        curl_url_cleanup(u);
        const char *user = cu ? ef_val_str_get(cu) : uuser;
        const char *pass = cp ? ef_val_str_get(cp) : upass;
        bool any = ef_val_obj_len(cred) > 0 || user || pass;
        if (any && hr->auth == AUTH_BASIC && ((user && *user) || (pass && *pass))) {
            struct strbuf cb = {0}, hb = {0};
            strbuf__addf(&cb, "%s:%s", user ? user : "", pass ? pass : "");
            size_t cl;
            char *c = strbuf__take(&cb, &cl);
            strbuf__adds(&hb, "Basic ");
            if (c) {
                base64__encode(&hb, c, cl);
            }
            free(c);
            size_t hl;
            char *hv = strbuf__take(&hb, &hl);
            struct ef_val *v = hv ? ef_val_str_take(hv, hl) : NULL;
            update_header(hdrs, "Authorization", v);
            ef_val_unref(v);
        } else if (any && hr->auth == AUTH_BEARER) {
            struct ef_val *hv = ef_val_strf("Bearer %s", pass ? pass : "");
            update_header(hdrs, "Authorization", hv);
            ef_val_unref(hv);
        } else if (any && hr->auth == AUTH_DIGEST) {
            curl_easy_setopt(e, CURLOPT_HTTPAUTH, CURLAUTH_DIGEST);
            curl_easy_setopt(e, CURLOPT_USERNAME, user ? user : "");
            curl_easy_setopt(e, CURLOPT_PASSWORD, pass ? pass : "");
        }
        curl_free(uuser);
        curl_free(upass);
    }

    /* body */
    const struct ef_val *payload = ef_msg_get(msg, "payload");
    bool is_get = !strcmp(method, "GET"), has_body = false;
    if (!is_get && strcmp(method, "HEAD") && payload) {
        const char *ct = ef_val_str_get(ef_val_obj_get(hdrs, "content-type"));
        enum ef_type pt = ef_val_type(payload);
        if (pt == EF_STR) {
            r->body = strndup(ef_val_str_get(payload), ef_val_str_len(payload));
            r->body_len = ef_val_str_len(payload);
        } else if (pt == EF_BUF) {
            r->body_len = ef_val_buf_len(payload);
            r->body = malloc(r->body_len ? r->body_len : 1);
            if (r->body) {
                memcpy(r->body, ef_val_buf_data(payload), r->body_len);
            }
        } else if (pt == EF_NUM) {
            r->body = js__to_string(payload, &r->body_len);
        } else if (!strcmp(ct, "application/x-www-form-urlencoded")) {
            struct strbuf b = {0};
            if (pt == EF_OBJ) {
                qs_stringify(&b, payload);
            }
            r->body = strbuf__take(&b, &r->body_len);
        } else {
            r->body = ef_json_print(payload, 0, &r->body_len);
            if (!ef_val_obj_get(hdrs, "content-type")) {
                ef_val_obj_set_take(hdrs, kn.ct, ef_val_str("application/json"));
            }
        }
        has_body = true;
    }
    if (is_get && payload && hr->paytoqs) {
        if (ef_val_type(payload) != EF_OBJ && ef_val_type(payload) != EF_ARR &&
            ef_val_type(payload) != EF_BUF && ef_val_type(payload) != EF_NULL) {
            ef_val_unref(hdrs);
            return fail_request(n, msg, r, "Invalid payload");
        }
        struct strbuf b = {0};
        strbuf__adds(&b, url);
        size_t ul = strlen(url);
        strbuf__adds(&b, strchr(url, '?') ? (ul && url[ul - 1] == '?' ? "" : "&") : "?");
        if (ef_val_type(payload) == EF_OBJ) {
            qs_stringify(&b, payload);
        }
        char *nu = strbuf__take(&b, NULL);
        if (nu) {
            free(r->url);
            r->url = url = nu;
        }
    } else if (is_get && payload && hr->paytobody) {
        enum ef_type pt = ef_val_type(payload);
        if (pt == EF_STR) {
            r->body = strndup(ef_val_str_get(payload), ef_val_str_len(payload));
            r->body_len = ef_val_str_len(payload);
        } else if (pt == EF_BUF) {
            r->body_len = ef_val_buf_len(payload);
            r->body = malloc(r->body_len ? r->body_len : 1);
            if (r->body) {
                memcpy(r->body, ef_val_buf_data(payload), r->body_len);
            }
        } else if (pt == EF_NUM) {
            r->body = js__to_string(payload, &r->body_len);
        } else {
            r->body = ef_json_print(payload, 0, &r->body_len);
        }
        has_body = r->body != NULL;
    }
    /* restore the user's capitalisation of content-type / content-length */
    {
        struct ef_val *ctv = ef_val_obj_get(hdrs, "content-type");
        if (ctv && strcmp(kn.ct, "content-type")) {
            ef_val_ref(ctv);
            ef_val_obj_del(hdrs, "content-type", 12);
            ef_val_obj_set_take(hdrs, kn.ct, ctv);
        }
        /* curl computes Content-Length itself */
        for (size_t i = 0; i < ef_val_obj_len(hdrs);) {
            size_t kl;
            const char *k = ef_val_obj_key_at(hdrs, i, &kl);
            if (kl == 14 && !strncasecmp(k, "content-length", 14)) {
                ef_val_obj_del(hdrs, k, kl);
            } else {
                i++;
            }
        }
    }
    r->hdrs = header_list(hdrs);
    bool has_ct = false;
    for (size_t i = 0; i < ef_val_obj_len(hdrs); i++) {
        size_t kl;
        const char *k = ef_val_obj_key_at(hdrs, i, &kl);
        has_ct = has_ct || (kl == 12 && !strncasecmp(k, "content-type", 12));
    }
    ef_val_unref(hdrs);
    struct curl_slist *tmp;
    if ((tmp = curl_slist_append(r->hdrs, "Expect:"))) {
        r->hdrs = tmp;
    }
    if ((tmp = curl_slist_append(r->hdrs, "Accept:"))) {
        r->hdrs = tmp;
    }
    if (has_body && !has_ct && (tmp = curl_slist_append(r->hdrs, "Content-Type:"))) {
        r->hdrs = tmp;
    }

    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)r->timeout_ms);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 21L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    if (has_body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
        if (strcmp(method, "POST")) {
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        }
    } else if (!strcmp(method, "HEAD")) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (!is_get) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    /* proxy: always a CONNECT tunnel (as Node-RED's hpagent agents do, for http too); ""
       keeps curl from reading the environment itself */
    curl_easy_setopt(e, CURLOPT_PROXY, r->proxy ? r->proxy : "");
    if (r->proxy) {
        curl_easy_setopt(e, CURLOPT_HTTPPROXYTUNNEL, 1L);
        curl_easy_setopt(e, CURLOPT_PROXYAUTH, CURLAUTH_BASIC);
        const struct http_proxy_conf *pc = http_proxy__get(hr->proxy);
        if (pc && ((pc->user && *pc->user) || (pc->password && *pc->password))) {
            curl_easy_setopt(e, CURLOPT_PROXYUSERNAME, pc->user ? pc->user : "");
            curl_easy_setopt(e, CURLOPT_PROXYPASSWORD, pc->password ? pc->password : "");
        }
    }
    /* TLS */
    const struct tls_conf *tc = hr->tls ? tls_config__get(hr->tls) : NULL;
    if (tc) {
        if (tc->ca) {
            curl_easy_setopt(e, CURLOPT_CAINFO, tc->ca);
        }
        if (tc->cert) {
            curl_easy_setopt(e, CURLOPT_SSLCERT, tc->cert);
        }
        if (tc->key) {
            curl_easy_setopt(e, CURLOPT_SSLKEY, tc->key);
        }
        if (tc->passphrase) {
            curl_easy_setopt(e, CURLOPT_KEYPASSWD, tc->passphrase);
        }
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, tc->verify ? 1L : 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, tc->verify ? 2L : 0L);
    } else {
        const struct ef_val *ru = ef_msg_get(msg, "rejectUnauthorized");
        if (ru) {
            int verify = -1;
            if (ef_val_type(ru) == EF_BOOL) {
                verify = ef_val_bool_get(ru);
            } else if (ef_val_type(ru) == EF_STR && !strcasecmp(ef_val_str_get(ru), "true")) {
                verify = 1;
            } else if (ef_val_type(ru) == EF_STR && !strcasecmp(ef_val_str_get(ru), "false")) {
                verify = 0;
            } else {
                ef_node_warn(n, "msg.rejectUnauthorized should be a boolean");
            }
            if (verify == 0) {
                curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
                curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
            }
        }
    }
    r->msg = msg;
    r->next = hr->reqs;
    if (hr->reqs) {
        hr->reqs->prev = r;
    }
    hr->reqs = r;
    hr->nreqs++;
    if (curl_loop__add(hr->cl, e, r) != 0) {
        ef_node_error(n, msg, "RequestError: cannot start the request");
        r->msg = NULL;
        hr->count--;
        ef_node_done(n, msg);
        ef_msg_free(msg);
        hreq_free(r);
    }
    return EF_INPUT_ASYNC;
}

static int cb_init(struct ef_node *n, const struct ef_val *config)
{
    struct http_request *hr = ef_node_priv(n);
    hr->n = n;
    if (strstr(hr->url, "{{")) {
        char err[256];
        hr->url_tpl = mst__parse(hr->url, strlen(hr->url), err, sizeof(err));
        if (!hr->url_tpl) {
            ef_node_error(n, NULL, "%s", err);
            return EF_EINVAL;
        }
    }
    const char *ret = ef_val_str_get(ef_val_obj_get(config, "ret"));
    hr->ret = !strcmp(ret, "bin") ? RET_BIN : !strcmp(ret, "obj") ? RET_OBJ : RET_TXT;
    const char *auth = ef_val_str_get(ef_val_obj_get(config, "authType"));
    hr->auth = !strcmp(auth, "bearer")   ? AUTH_BEARER
               : !strcmp(auth, "digest") ? AUTH_DIGEST
                                         : AUTH_BASIC;
    const struct ef_val *pq = ef_val_obj_get(config, "paytoqs");
    hr->paytoqs = (ef_val_type(pq) == EF_BOOL && ef_val_bool_get(pq)) ||
                  (ef_val_type(pq) == EF_STR && !strcmp(ef_val_str_get(pq), "query"));
    hr->paytobody = ef_val_type(pq) == EF_STR && !strcmp(ef_val_str_get(pq), "body");
    const char *tls = ef_val_str_get(ef_val_obj_get(config, "tls"));
    if (tls[0]) {
        hr->tls = ef_node_lookup(n, tls);
    }
    const char *proxy = ef_val_str_get(ef_val_obj_get(config, "proxy"));
    if (proxy[0]) {
        hr->proxy_set = true;
        hr->proxy = ef_node_lookup(n, proxy);
        if (hr->proxy && !http_proxy__get(hr->proxy)) {
            hr->proxy = NULL;
        }
    }
    hr->cl = curl_loop__new(ef_loop_uv(ef_node_loop(n)), on_done);
    if (!hr->cl) {
        ef_node_error(n, NULL, "cannot initialise libcurl");
        return EF_ENOMEM;
    }
    return 0;
}

static void cb_close(struct ef_node *n)
{
    struct http_request *hr = ef_node_priv(n);
    while (hr->reqs) {
        struct hreq *r = hr->reqs;
        curl_loop__remove(hr->cl, r->easy);
        if (r->msg) {
            ef_msg_free(r->msg);
            r->msg = NULL;
        }
        hreq_free(r);
    }
    curl_loop__free(hr->cl);
    hr->cl = NULL;
    mst__free(hr->url_tpl);
    ef_node_status(n, NULL, NULL, NULL);
}

/* The http request node type. */
const struct ef_node_type ef_type_http_request = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "http request",
    .description = "Sends HTTP requests and returns the response",
    .category = "network",
    .inputs = 1,
    .outputs = 1,
    .props = http_request_props,
    .priv_size = sizeof(struct http_request),
    .cb_init = cb_init,
    .cb_input = cb_input,
    .cb_close = cb_close,
};
