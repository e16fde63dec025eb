/*
 * curl_api.h - libcurl, loaded on first use. edgeflow does not link libcurl
 * (its dependency tree, gnutls, krb5, ldap, ssh2 and more, would be mapped
 * into every process, costing megabytes of RSS and start-up time); the
 * http request node loads it with curl_api__load(). After this header,
 * curl_* calls go through the loaded function table.
 */
#ifndef EF_CURL_API_H
#define EF_CURL_API_H

#define CURL_DISABLE_TYPECHECK 1 /* plain prototypes, so the names can be redirected */
#include <curl/curl.h>

struct curl_api {
    __typeof__(curl_global_init) *global_init;
    __typeof__(curl_global_cleanup) *global_cleanup;
    __typeof__(curl_easy_init) *easy_init;
    __typeof__(curl_easy_setopt) *easy_setopt;
    __typeof__(curl_easy_getinfo) *easy_getinfo;
    __typeof__(curl_easy_cleanup) *easy_cleanup;
    __typeof__(curl_easy_strerror) *easy_strerror;
    __typeof__(curl_slist_append) *slist_append;
    __typeof__(curl_slist_free_all) *slist_free_all;
    __typeof__(curl_free) *free;
    __typeof__(curl_url) *url;
    __typeof__(curl_url_cleanup) *url_cleanup;
    __typeof__(curl_url_set) *url_set;
    __typeof__(curl_url_get) *url_get;
    __typeof__(curl_multi_init) *multi_init;
    __typeof__(curl_multi_cleanup) *multi_cleanup;
    __typeof__(curl_multi_setopt) *multi_setopt;
    __typeof__(curl_multi_add_handle) *multi_add_handle;
    __typeof__(curl_multi_remove_handle) *multi_remove_handle;
    __typeof__(curl_multi_socket_action) *multi_socket_action;
    __typeof__(curl_multi_assign) *multi_assign;
    __typeof__(curl_multi_info_read) *multi_info_read;
};

/* The loaded table (process-wide, written once by the first successful load). */
extern struct curl_api curl__api;

/*
 * Loads libcurl.so.4 and resolves the table, once per process. Returns 0,
 * or -1 with the reason in err (errlen bytes) when the library or a symbol
 * is missing.
 */
int curl_api__load(char *err, size_t errlen);

#undef curl_easy_setopt /* curl.h maps these three to themselves */
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define curl_global_init (curl__api.global_init)
#define curl_global_cleanup (curl__api.global_cleanup)
#define curl_easy_init (curl__api.easy_init)
#define curl_easy_setopt (curl__api.easy_setopt)
#define curl_easy_getinfo (curl__api.easy_getinfo)
#define curl_easy_cleanup (curl__api.easy_cleanup)
#define curl_easy_strerror (curl__api.easy_strerror)
#define curl_slist_append (curl__api.slist_append)
#define curl_slist_free_all (curl__api.slist_free_all)
#define curl_free (curl__api.free)
#define curl_url (curl__api.url)
#define curl_url_cleanup (curl__api.url_cleanup)
#define curl_url_set (curl__api.url_set)
#define curl_url_get (curl__api.url_get)
#define curl_multi_init (curl__api.multi_init)
#define curl_multi_cleanup (curl__api.multi_cleanup)
#define curl_multi_setopt (curl__api.multi_setopt)
#define curl_multi_add_handle (curl__api.multi_add_handle)
#define curl_multi_remove_handle (curl__api.multi_remove_handle)
#define curl_multi_socket_action (curl__api.multi_socket_action)
#define curl_multi_assign (curl__api.multi_assign)
#define curl_multi_info_read (curl__api.multi_info_read)

#endif
