/*
 * test_http_proxy.c - the http request node's choice of proxy
 * (nodes/network/lib/http_proxy.h), case by case as Node-RED 4.1's
 * proxyHelper decides: no-proxy entries (exact hosts, suffixes, ports, "*"),
 * an http proxy node's url and noproxy, and the environment variables with
 * their order of precedence, upper/lower case and the legacy mode.
 */
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "../../nodes/network/lib/http_proxy.h"
#include "curl_api.h"

static const char *const env_names[] = {"http_proxy",
                                        "HTTP_PROXY",
                                        "https_proxy",
                                        "HTTPS_PROXY",
                                        "all_proxy",
                                        "ALL_PROXY",
                                        "npm_config_http_proxy",
                                        "NPM_CONFIG_HTTP_PROXY",
                                        "no_proxy",
                                        "NO_PROXY",
                                        "npm_config_no_proxy",
                                        "npm_config_proxy",
                                        "nr_proxy_mode",
                                        "NR_PROXY_MODE",
                                        NULL};

static void clear_env(void)
{
    for (int i = 0; env_names[i]; i++) {
        unsetenv(env_names[i]);
    }
}

static int suite_init(void)
{
    char err[256];
    clear_env();
    return curl_api__load(err, sizeof(err)) == 0 ? 0 : -1;
}

static int suite_clean(void)
{
    clear_env();
    return 0;
}

/* http_proxy__for_url(pc, url) equals want (NULL for none). */
static void expect(const struct http_proxy_conf *pc, const char *url, const char *want)
{
    char *got = http_proxy__for_url(pc, url);
    if (want) {
        CU_ASSERT_PTR_NOT_NULL_FATAL(got);
        CU_ASSERT_STRING_EQUAL(got, want);
    } else {
        CU_ASSERT_PTR_NULL(got);
    }
    free(got);
}

static void test_exempt(void)
{
    CU_ASSERT_FALSE(http_proxy__exempt("", "a.com", 80));
    CU_ASSERT_TRUE(http_proxy__exempt("*", "a.com", 80));
    CU_ASSERT_TRUE(http_proxy__exempt("a.com", "a.com", 80));
    CU_ASSERT_FALSE(http_proxy__exempt("a.com", "b.a.com", 80)); /* exact without . or * */
    CU_ASSERT_TRUE(http_proxy__exempt(".a.com", "b.a.com", 80));
    CU_ASSERT_FALSE(http_proxy__exempt(".a.com", "a.com", 80));
    CU_ASSERT_TRUE(http_proxy__exempt("*a.com", "a.com", 80));
    CU_ASSERT_TRUE(http_proxy__exempt("*a.com", "ba.com", 80)); /* plain endsWith */
    CU_ASSERT_TRUE(http_proxy__exempt("a.com:8080", "a.com", 8080));
    CU_ASSERT_FALSE(http_proxy__exempt("a.com:8080", "a.com", 80));
    CU_ASSERT_TRUE(http_proxy__exempt("x.org, y.org a.com", "a.com", 80));
    CU_ASSERT_TRUE(http_proxy__exempt("x.org,,*", "a.com", 80)); /* "*" in a list: suffix "" */
    CU_ASSERT_FALSE(http_proxy__exempt("x.org,y.org", "a.com", 80));
    CU_ASSERT_TRUE(http_proxy__exempt("[::1]", "[::1]", 80));
}

static void test_node(void)
{
    clear_env();
    setenv("http_proxy", "http://env:1", 1); /* ignored when there is a proxy node */
    char url[] = "http://p:3128", np[] = "a.com,b.org:81", empty[] = "";
    struct http_proxy_conf pc = {url, np, NULL, NULL};
    expect(&pc, "http://x.com/", "http://p:3128");
    expect(&pc, "https://x.com/", "http://p:3128");
    expect(&pc, "http://A.COM/path", NULL);
    expect(&pc, "http://b.org:81/", NULL);
    expect(&pc, "http://b.org/", "http://p:3128");
    char bare[] = "p:3128";
    struct http_proxy_conf pb = {bare, empty, NULL, NULL};
    expect(&pb, "https://x.com/", "https://p:3128");
    struct http_proxy_conf none = {empty, empty, NULL, NULL};
    expect(&none, "http://x.com/", NULL);
    expect(&pc, "not a url", NULL);
    clear_env();
}

static void test_environment(void)
{
    clear_env();
    expect(NULL, "http://x.com/", NULL);
    setenv("HTTP_PROXY", "http://upper:1", 1);
    expect(NULL, "http://x.com/", "http://upper:1");
    setenv("http_proxy", "lower:2", 1); /* lower case first; the scheme is added */
    expect(NULL, "http://x.com/", "http://lower:2");
    expect(NULL, "https://x.com/", NULL);
    setenv("ALL_PROXY", "http://all:3", 1);
    expect(NULL, "https://x.com/", "http://all:3");
    setenv("HTTPS_PROXY", "http://s:4", 1);
    expect(NULL, "https://x.com/", "http://s:4");
    setenv("npm_config_http_proxy", "http://npm:5", 1);
    expect(NULL, "http://x.com/", "http://npm:5");
    setenv("NO_PROXY", "x.com", 1);
    expect(NULL, "http://x.com/", NULL);
    setenv("no_proxy", "y.com", 1); /* no_proxy wins over NO_PROXY */
    expect(NULL, "http://x.com/", "http://npm:5");
    expect(NULL, "http://y.com:99/", NULL);
    clear_env();
}

static void test_legacy(void)
{
    clear_env();
    setenv("NR_PROXY_MODE", "legacy", 1);
    setenv("http_proxy", "http://lower:1", 1);
    setenv("HTTP_PROXY", "http://upper:2", 1); /* the upper-case one wins here */
    expect(NULL, "https://x.com/", "http://upper:2");
    setenv("no_proxy", "x.c", 1); /* substring of the URL */
    expect(NULL, "http://x.com/", NULL);
    expect(NULL, "http://y.com/", "http://upper:2");
    char url[] = "http://p:3", np[] = "y.com";
    struct http_proxy_conf pc = {url, np, NULL, NULL};
    expect(&pc, "http://x.com/", "http://p:3");
    expect(&pc, "http://y.com/", NULL);
    clear_env();
}

int init_http_proxy_tests(void)
{
    CU_pSuite s = CU_add_suite("http_proxy", suite_init, suite_clean);
    if (!s || !CU_add_test(s, "no-proxy entries", test_exempt) ||
        !CU_add_test(s, "an http proxy node", test_node) ||
        !CU_add_test(s, "environment variables", test_environment) ||
        !CU_add_test(s, "legacy mode", test_legacy)) {
        return -1;
    }
    return 0;
}
