/*
 * http_proxy.c - the http proxy config node (Node-RED 06-httpproxy.js): a
 * proxy URL, a list of hosts that are reached directly (noproxy) and
 * credentials (username, password) for the proxy. The http request node
 * reads it with http_proxy__get() and picks the proxy for each URL with
 * http_proxy__for_url(), which follows Node-RED 4.1's proxyHelper (also
 * for the environment variables used when a request has no proxy node).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curl_api.h" /* libcurl, loaded at run time */

#include "engine.h"
#include "js.h"
#include "strbuf.h"

#include "lib/http_proxy.h"

static const struct ef_prop http_proxy_props[] = {
    {EF_PROP_STR, "url", "\"\"", false, "proxy URL, http://host:port", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "noproxy", "[]", false, "hosts reached without the proxy ([\"host\", ...])",
     EF_PROP_NOFIELD},
    {EF_PROP_END},
};

static char *dup_or_null(const struct ef_val *v)
{
    return v && ef_val_type(v) == EF_STR ? strdup(ef_val_str_get(v)) : NULL;
}

static int cb_proxy_init(struct ef_node *n, const struct ef_val *config)
{
    struct http_proxy_conf *pc = ef_node_priv(n);
    pc->url = strdup(ef_val_str_get(ef_val_obj_get(config, "url")));
    /* (noproxy || []).join(',') */
    struct strbuf b = {0};
    const struct ef_val *np = ef_val_obj_get(config, "noproxy");
    if (np && ef_val_type(np) == EF_ARR) {
        for (size_t i = 0; i < ef_val_arr_len(np); i++) {
            const struct ef_val *e = ef_val_arr_at(np, i);
            strbuf__adds(&b, i ? "," : "");
            if (ef_val_type(e) != EF_NULL) {
                char *s = js__to_string(e, NULL);
                strbuf__adds(&b, s ? s : "");
                free(s);
            }
        }
    } else if (np && ef_val_type(np) == EF_STR) {
        strbuf__adds(&b, ef_val_str_get(np));
    }
    pc->noproxy = strbuf__take(&b, NULL);
    if (!pc->noproxy) {
        pc->noproxy = strdup("");
    }
    const struct ef_val *cred = ef_node_credentials(n);
    pc->user = dup_or_null(ef_val_obj_get(cred, "username"));
    pc->password = dup_or_null(ef_val_obj_get(cred, "password"));
    if (!pc->url || !pc->noproxy) {
        ef_node_error(n, NULL, "out of memory");
        return EF_ENOMEM;
    }
    return 0;
}

static void cb_proxy_close(struct ef_node *n)
{
    struct http_proxy_conf *pc = ef_node_priv(n);
    free(pc->url);
    free(pc->noproxy);
    free(pc->user);
    free(pc->password);
    memset(pc, 0, sizeof(*pc));
}

/* The http proxy node type. */
const struct ef_node_type ef_type_http_proxy = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "http proxy",
    .description = "Proxy URL, hosts to reach directly and proxy credentials for http request",
    .category = "config",
    .inputs = 0,
    .outputs = 0,
    .flags = EF_TYPE_CONFIG,
    .props = http_proxy_props,
    .priv_size = sizeof(struct http_proxy_conf),
    .cb_init = cb_proxy_init,
    .cb_close = cb_proxy_close,
};

const struct http_proxy_conf *http_proxy__get(struct ef_node *n)
{
    if (!n || strcmp(ef_node_type_name(n), "http proxy") != 0) {
        return NULL;
    }
    return ef_node_priv(n);
}

/*
 * getEnv(key): with a proxy node its values (http_proxy, https_proxy,
 * no_proxy only), else the environment, lower-case name first. "" when unset.
 */
static const char *env_get(const struct http_proxy_conf *pc, const char *key)
{
    if (pc) {
        if (!strcmp(key, "http_proxy") || !strcmp(key, "https_proxy")) {
            return pc->url;
        }
        return !strcmp(key, "no_proxy") ? pc->noproxy : "";
    }
    const char *v = getenv(key);
    if (v && *v) {
        return v;
    }
    char up[96];
    size_t i = 0;
    for (; key[i] && i + 1 < sizeof(up); i++) {
        up[i] = (char)toupper((unsigned char)key[i]);
    }
    up[i] = 0;
    v = getenv(up);
    return v && *v ? v : "";
}

bool http_proxy__exempt(const char *no_proxy, const char *host, long port)
{
    if (!*no_proxy) {
        return false;
    }
    if (!strcmp(no_proxy, "*")) {
        return true;
    }
    size_t hl = strlen(host);
    const char *p = no_proxy;
    while (*p) {
        size_t len = strcspn(p, ", \t\n\r\v\f");
        if (len) {
            /* "host:port" counts only on that port */
            size_t tl = len;
            const char *colon = NULL;
            for (size_t i = len; i > 0; i--) {
                if (p[i - 1] == ':') {
                    colon = p + i - 1;
                    break;
                }
                if (!isdigit((unsigned char)p[i - 1])) {
                    break;
                }
            }
            long pport = 0;
            if (colon && colon > p && colon + 1 < p + len) {
                tl = (size_t)(colon - p);
                pport = strtol(colon + 1, NULL, 10);
            }
            if (!pport || pport == port) {
                const char *t = p;
                if (*t != '.' && *t != '*') {
                    if (tl == hl && !strncmp(t, host, hl)) {
                        return true;
                    }
                } else {
                    if (*t == '*') {
                        t++;
                        tl--;
                    }
                    if (tl <= hl && !strncmp(host + hl - tl, t, tl)) {
                        return true;
                    }
                }
            }
        }
        p += len;
        if (*p) {
            p++;
        }
    }
    return false;
}

/* Node-RED's legacy rule: http_proxy (HTTP_PROXY wins), unless a no_proxy entry is in the URL. */
static char *legacy_for_url(const struct http_proxy_conf *pc, const char *url)
{
    const char *prox = NULL, *noprox = NULL, *v;
    if (pc) {
        prox = *pc->url ? pc->url : NULL;
        noprox = *pc->noproxy ? pc->noproxy : NULL;
    } else {
        if ((v = getenv("http_proxy")) && *v) {
            prox = v;
        }
        if ((v = getenv("HTTP_PROXY")) && *v) {
            prox = v;
        }
        if ((v = getenv("no_proxy")) && *v) {
            noprox = v;
        }
        if ((v = getenv("NO_PROXY")) && *v) {
            noprox = v;
        }
    }
    if (!prox) {
        return NULL;
    }
    for (const char *p = noprox; p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *a = p, *b = p + len;
        while (a < b && isspace((unsigned char)*a)) {
            a++;
        }
        while (b > a && isspace((unsigned char)b[-1])) {
            b--;
        }
        char *entry = strndup(a, (size_t)(b - a));
        bool hit = entry && strstr(url, entry);
        free(entry);
        if (hit) {
            return NULL;
        }
        p = e ? e + 1 : NULL;
    }
    return strdup(prox);
}

static long default_port(const char *scheme)
{
    static const struct {
        const char *s;
        long port;
    } ports[] = {{"ftp", 21}, {"gopher", 70}, {"http", 80},   {"https", 443},
                 {"ws", 80},  {"wss", 443},   {"mqtt", 1880}, {"mqtts", 8883}};
    for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
        if (!strcmp(scheme, ports[i].s)) {
            return ports[i].port;
        }
    }
    return 0;
}

char *http_proxy__for_url(const struct http_proxy_conf *pc, const char *url)
{
    const char *mode = env_get(NULL, "nr_proxy_mode");
    if (!strcmp(mode, "legacy")) {
        return legacy_for_url(pc, url);
    }
    char *scheme = NULL, *host = NULL, *portstr = NULL, *result = NULL;
    CURLU *u = curl_url();
    if (!u || curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
        goto out; /* no scheme or host: never proxied */
    }
    for (char *c = host; *c; c++) {
        *c = (char)tolower((unsigned char)*c);
    }
    for (char *c = scheme; *c; c++) {
        *c = (char)tolower((unsigned char)*c);
    }
    long port = 0;
    if (curl_url_get(u, CURLUPART_PORT, &portstr, 0) == CURLUE_OK) {
        port = strtol(portstr, NULL, 10);
    }
    if (!port) {
        port = default_port(scheme);
    }
    char key[96];
    const char *np = env_get(pc, "npm_config_no_proxy");
    if (!*np) {
        np = env_get(pc, "no_proxy");
    }
    char *nplow = strdup(np);
    if (!nplow) {
        goto out;
    }
    for (char *c = nplow; *c; c++) {
        *c = (char)tolower((unsigned char)*c);
    }
    bool exempt = http_proxy__exempt(nplow, host, port);
    free(nplow);
    if (exempt) {
        goto out;
    }
    snprintf(key, sizeof(key), "npm_config_%s_proxy", scheme);
    const char *proxy = env_get(pc, key);
    if (!*proxy) {
        snprintf(key, sizeof(key), "%s_proxy", scheme);
        proxy = env_get(pc, key);
    }
    if (!*proxy) {
        proxy = env_get(pc, "npm_config_proxy");
    }
    if (!*proxy) {
        proxy = env_get(pc, "all_proxy");
    }
    if (*proxy) {
        struct strbuf b = {0};
        if (!strstr(proxy, "://")) {
            strbuf__addf(&b, "%s://", scheme);
        }
        strbuf__adds(&b, proxy);
        result = strbuf__take(&b, NULL);
    }
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(portstr);
    curl_url_cleanup(u);
    return result;
}
