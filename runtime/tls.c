/*
 * tls.c - settings.https into libwebsockets' OpenSSL options. See tls.h.
 */
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "settings.h"
#include "tls.h"

static bool is_pem(const char *s)
{
    return !strncmp(s, "-----BEGIN", 10);
}

/* One of key/cert: PEM text in memory or a readable file. */
static int one(const struct ef_val *https, const char *name, const char *file_name,
               const char **path, const void **mem, unsigned int *mem_len, char *err, size_t errlen)
{
    const struct ef_val *v = ef_val_obj_get(https, name);
    const struct ef_val *f = ef_val_obj_get(https, file_name);
    if (ef_val_type(v) != EF_STR && ef_val_type(f) != EF_STR) {
        snprintf(err, errlen, "settings: https.%s (PEM text or a file path) or https.%s is missing",
                 name, file_name);
        return -1;
    }
    const char *s = ef_val_type(v) == EF_STR ? ef_val_str_get(v) : ef_val_str_get(f);
    if (ef_val_type(v) == EF_STR && is_pem(s)) {
        *mem = s;
        *mem_len = (unsigned int)ef_val_str_len(v) + 1; /* lws wants the NUL for PEM */
        return 0;
    }
    if (access(s, R_OK) != 0) {
        snprintf(err, errlen, "settings: https.%s: cannot read %s",
                 ef_val_type(v) == EF_STR ? name : file_name, s);
        return -1;
    }
    *path = s;
    return 0;
}

int tls__configure(const struct ef_settings *st, struct lws_context_creation_info *info, char *err,
                   size_t errlen)
{
    const struct ef_val *https = settings__get(st, "https");
    if (!https || ef_val_type(https) == EF_NULL ||
        (ef_val_type(https) == EF_BOOL && !ef_val_bool_get(https))) {
        return 0;
    }
    if (ef_val_type(https) != EF_OBJ) {
        snprintf(err, errlen, "settings: https must be an object {key, cert}");
        return -1;
    }
    if (one(https, "cert", "certFile", &info->ssl_cert_filepath, &info->server_ssl_cert_mem,
            &info->server_ssl_cert_mem_len, err, errlen) != 0 ||
        one(https, "key", "keyFile", &info->ssl_private_key_filepath,
            &info->server_ssl_private_key_mem, &info->server_ssl_private_key_mem_len, err,
            errlen) != 0) {
        return -1;
    }
    info->options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    /* TLS 1.2 and 1.3 only */
    info->ssl_options_set |=
        (long)(SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1);
    return 1;
}
