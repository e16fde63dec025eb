/*
 * tls_config.c - the tls-config config node (Node-RED's 05-tls.js): a CA
 * certificate, a client certificate and its private key (as local file
 * paths, or uploaded into the credentials as certdata/keydata/cadata), a
 * key passphrase, "verify server certificate", an SNI server name and an
 * ALPN protocol. Nodes such as mqtt-broker read it with tls_config__get().
 * Certificates that come from the credentials are written to private (0600)
 * temporary files, because paho and OpenSSL's file loaders take paths; the
 * files are removed when the node closes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"

#include "lib/tls.h"

static const struct ef_prop tls_props[] = {
    {EF_PROP_STR, "cert", "\"\"", false, "path to the certificate (PEM)", EF_PROP_NOFIELD},
    {EF_PROP_STR, "key", "\"\"", false, "path to the private key (PEM)", EF_PROP_NOFIELD},
    {EF_PROP_STR, "ca", "\"\"", false, "path to the CA certificate (PEM)", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "certname", NULL, false, "name of an uploaded certificate (editor only)",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "keyname", NULL, false, "name of an uploaded key (editor only)", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "caname", NULL, false, "name of an uploaded CA certificate (editor only)",
     EF_PROP_NOFIELD},
    {EF_PROP_STR, "servername", "\"\"", false, "server name for SNI", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "verifyservercert", "true", false, "verify the server certificate",
     EF_PROP_NOFIELD},
    {EF_PROP_STR, "alpnprotocol", "\"\"", false, "ALPN protocol", EF_PROP_NOFIELD},
    {EF_PROP_END},
};

/* String property, trimmed as JavaScript's trim() does, or NULL when empty. */
static char *trimmed(const struct ef_val *v)
{
    const char *s = ef_val_str_get(v);
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
        s++;
    }
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r')) {
        n--;
    }
    return n ? strndup(s, n) : NULL;
}

/* Checks a file can be read, reporting as Node's fs.readFileSync would. */
static bool readable(struct ef_node *n, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        const char *code = errno == ENOENT ? "ENOENT" : errno == EACCES ? "EACCES" : "EIO";
        ef_node_error(n, NULL, "Error: %s: %s, open '%s'", code, strerror(errno), path);
        return false;
    }
    fclose(f);
    return true;
}

/* Writes credential data to a private temporary file; returns its path or NULL. */
static char *write_temp(const char *data)
{
    const char *dir = getenv("TMPDIR");
    char *path = NULL;
    if (asprintf(&path, "%s/edgeflow-tls-XXXXXX", dir && *dir ? dir : "/tmp") < 0) {
        return NULL;
    }
    int fd = mkstemp(path); /* mode 0600 */
    if (fd < 0) {
        free(path);
        return NULL;
    }
    size_t len = strlen(data), off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w <= 0) {
            close(fd);
            unlink(path);
            free(path);
            return NULL;
        }
        off += (size_t)w;
    }
    close(fd);
    return path;
}

static int cb_tls_init(struct ef_node *n, const struct ef_val *config)
{
    struct tls_conf *t = ef_node_priv(n);
    t->valid = true;
    t->verify = ef_val_truthy(ef_val_obj_get(config, "verifyservercert"));
    t->servername = trimmed(ef_val_obj_get(config, "servername"));
    t->alpn = trimmed(ef_val_obj_get(config, "alpnprotocol"));
    char *cert = trimmed(ef_val_obj_get(config, "cert"));
    char *key = trimmed(ef_val_obj_get(config, "key"));
    char *ca = trimmed(ef_val_obj_get(config, "ca"));
    const struct ef_val *cred = ef_node_credentials(n);
    const char *pass = ef_val_str_get(ef_val_obj_get(cred, "passphrase"));
    t->passphrase = *pass ? strdup(pass) : NULL;
    if (cert || key || ca) {
        if (!cert != !key) {
            t->valid = false;
            ef_node_error(n, NULL, "No certificate/key file provided");
        } else if ((cert && !readable(n, cert)) || (key && !readable(n, key)) ||
                   (ca && !readable(n, ca))) {
            t->valid = false;
        } else {
            t->cert = cert;
            t->key = key;
            t->ca = ca;
            return 0;
        }
        free(cert);
        free(key);
        free(ca);
        return 0;
    }
    const char *certdata = ef_val_str_get(ef_val_obj_get(cred, "certdata"));
    const char *keydata = ef_val_str_get(ef_val_obj_get(cred, "keydata"));
    const char *cadata = ef_val_str_get(ef_val_obj_get(cred, "cadata"));
    if (!*certdata != !*keydata) {
        t->valid = false;
        ef_node_error(n, NULL, "No certificate/key file provided");
        return 0;
    }
    const char *data[3] = {certdata, keydata, cadata};
    char **dst[3] = {&t->cert, &t->key, &t->ca};
    for (int i = 0; i < 3; i++) {
        if (*data[i]) {
            t->tmp[i] = write_temp(data[i]);
            if (!t->tmp[i]) {
                t->valid = false;
                ef_node_error(n, NULL, "cannot write a temporary file for the TLS credentials");
                return 0;
            }
            *dst[i] = strdup(t->tmp[i]);
        }
    }
    return 0;
}

static void cb_tls_close(struct ef_node *n)
{
    struct tls_conf *t = ef_node_priv(n);
    for (int i = 0; i < 3; i++) {
        if (t->tmp[i]) {
            unlink(t->tmp[i]);
            free(t->tmp[i]);
        }
    }
    free(t->ca);
    free(t->cert);
    free(t->key);
    free(t->passphrase);
    free(t->servername);
    free(t->alpn);
    memset(t, 0, sizeof(*t));
}

const struct ef_node_type ef_type_tls_config = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "tls-config",
    .description = "TLS settings (CA, certificate, key, verification) for network nodes",
    .category = "config",
    .inputs = 0,
    .outputs = 0,
    .flags = EF_TYPE_CONFIG,
    .props = tls_props,
    .priv_size = sizeof(struct tls_conf),
    .cb_init = cb_tls_init,
    .cb_close = cb_tls_close,
};

const struct tls_conf *tls_config__get(struct ef_node *n)
{
    if (!n || strcmp(ef_node_type_name(n), "tls-config") != 0) {
        return NULL;
    }
    return ef_node_priv(n);
}
