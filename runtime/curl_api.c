/*
 * curl_api.c - loading libcurl at run time (see curl_api.h).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "curl_api.h"

struct curl_api curl__api;

static const char *const curl_names[] = {
    "curl_global_init",
    "curl_global_cleanup",
    "curl_easy_init",
    "curl_easy_setopt",
    "curl_easy_getinfo",
    "curl_easy_cleanup",
    "curl_easy_strerror",
    "curl_slist_append",
    "curl_slist_free_all",
    "curl_free",
    "curl_url",
    "curl_url_cleanup",
    "curl_url_set",
    "curl_url_get",
    "curl_multi_init",
    "curl_multi_cleanup",
    "curl_multi_setopt",
    "curl_multi_add_handle",
    "curl_multi_remove_handle",
    "curl_multi_socket_action",
    "curl_multi_assign",
    "curl_multi_info_read",
};

int curl_api__load(char *err, size_t errlen)
{
    if (curl__api.multi_info_read) {
        return 0;
    }
    _Static_assert(sizeof(curl_names) / sizeof(curl_names[0]) * sizeof(void (*)(void)) ==
                       sizeof(struct curl_api),
                   "curl_names and struct curl_api must list the same functions");
    void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, errlen, "cannot load libcurl: %s", dlerror());
        return -1;
    }
    struct curl_api api;
    void (**slot)(void) = (void (**)(void)) & api;
    for (size_t i = 0; i < sizeof(curl_names) / sizeof(curl_names[0]); i++) {
        void *sym = dlsym(h, curl_names[i]);
        if (!sym) {
            snprintf(err, errlen, "libcurl has no %s", curl_names[i]);
            dlclose(h);
            return -1;
        }
        memcpy(&slot[i], &sym, sizeof(sym));
    }
    curl__api = api; /* the library stays loaded for the life of the process */
    return 0;
}
