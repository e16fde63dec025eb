/*
 * http_proxy.h - what an `http proxy` config node (nodes/network/http_proxy.c)
 * offers the http request node: the proxy URL, the hosts not to proxy and
 * the proxy credentials, and the choice of proxy for a URL made as Node-RED
 * 4.1's proxyHelper makes it (from the node, else from the environment).
 */
#ifndef EF_NODES_HTTP_PROXY_H
#define EF_NODES_HTTP_PROXY_H

#include <stdbool.h>
#include <stddef.h>

#include <edgeflow/node.h>

struct http_proxy_conf {
    char *url;      /* "" when not set */
    char *noproxy;  /* the noproxy list joined with ',' ("" when empty) */
    char *user;     /* credentials.username, NULL when not set */
    char *password; /* credentials.password, NULL when not set */
};

/* The configuration of an http proxy node, or NULL if n is not one. */
const struct http_proxy_conf *http_proxy__get(struct ef_node *n);

/*
 * The proxy URL to use for `url`, or NULL for none; the caller frees it.
 * With pc (a proxy node) only its url and noproxy count, as http_proxy,
 * https_proxy and no_proxy; without, the process environment:
 * npm_config_<scheme>_proxy, <scheme>_proxy, npm_config_proxy, all_proxy
 * (each lower case first, then upper case) and npm_config_no_proxy/no_proxy.
 * NR_PROXY_MODE=legacy selects Node-RED's legacy rule (http_proxy/HTTP_PROXY
 * and no_proxy/NO_PROXY entries matched as substrings of the URL). A proxy
 * without "://" gets the URL's scheme in front.
 */
char *http_proxy__for_url(const struct http_proxy_conf *pc, const char *url);

/* Whether a no_proxy list (lower case, ',' or white space separated) exempts
   host (lower case, without port) on port: Node-RED's shouldProxy inverted. */
bool http_proxy__exempt(const char *no_proxy, const char *host, long port);

#endif
