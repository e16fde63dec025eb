/*
 * password.c - bcrypt password hashes (Node-RED's adminAuth format) with
 * libcrypt's crypt_rn and crypt_gensalt_rn. See password.h.
 */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "password.h"

bool password__is_bcrypt(const char *hash)
{
    if (!hash || strlen(hash) != 60 || hash[0] != '$' || hash[1] != '2' || hash[3] != '$' ||
        hash[6] != '$') {
        return false;
    }
    return (hash[2] == 'a' || hash[2] == 'b' || hash[2] == 'y') && hash[4] >= '0' &&
           hash[4] <= '3' && hash[5] >= '0' && hash[5] <= '9';
}

bool password__verify(const char *password, const char *hash)
{
    if (!password || !password__is_bcrypt(hash)) {
        return false;
    }
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (!cd) {
        return false;
    }
    const char *got = crypt_rn(password, hash, cd, (int)sizeof(*cd));
    bool ok = false;
    if (got && strlen(got) == 60) {
        unsigned char diff = 0;
        for (size_t i = 0; i < 60; i++) {
            diff |= (unsigned char)(got[i] ^ hash[i]);
        }
        ok = diff == 0;
    }
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return ok;
}

bool password__verify_basic(const char *password, const char *hash)
{
    if (!password || !hash || strlen(hash) != 32) {
        return password__verify(password, hash);
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(password, strlen(password), md, &mdlen, EVP_md5(), NULL) || mdlen != 16) {
        return false;
    }
    char hex[33];
    for (unsigned i = 0; i < 16; i++) {
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    }
    unsigned char diff = 0;
    for (size_t i = 0; i < 32; i++) {
        diff |= (unsigned char)(hex[i] ^ hash[i]);
    }
    return diff == 0;
}

int password__hash(const char *password, int cost, char *out, size_t outlen)
{
    if (!password || !out || outlen < 61 || cost < 4 || cost > 31) {
        return -1;
    }
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!crypt_gensalt_rn("$2b$", (unsigned long)cost, NULL, 0, salt, (int)sizeof(salt))) {
        return -1;
    }
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (!cd) {
        return -1;
    }
    const char *got = crypt_rn(password, salt, cd, (int)sizeof(*cd));
    int rc = -1;
    if (got && strlen(got) == 60) {
        memcpy(out, got, 61);
        rc = 0;
    }
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return rc;
}
