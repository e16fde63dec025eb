/*
 * password.c - password checks for settings hashes (see password.h).
 * bcrypt goes through libcrypt's crypt_r (libxcrypt knows $2a$/$2b$/$2y$);
 * a 32-character hash is Node-RED's legacy hex MD5.
 */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "password.h"

static bool same(const char *a, const char *b, size_t n)
{
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++) {
        d |= (unsigned char)(a[i] ^ b[i]);
    }
    return d == 0;
}

bool password__check(const char *plain, const char *hash)
{
    if (!plain || !hash) {
        return false;
    }
    size_t hl = strlen(hash);
    if (hl == 32) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        if (!EVP_Digest(plain, strlen(plain), md, &mdlen, EVP_md5(), NULL) || mdlen != 16) {
            return false;
        }
        char hex[33];
        for (unsigned i = 0; i < 16; i++) {
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
        }
        return same(hex, hash, 32);
    }
    if (hl < 7 || hash[0] != '$' || hash[1] != '2') {
        return false;
    }
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (!cd) {
        return false;
    }
    const char *out = crypt_r(plain, hash, cd);
    bool ok = out && out[0] == '$' && strlen(out) == hl && same(out, hash, hl);
    free(cd);
    return ok;
}
