/*
 * password.h - checking a password against the hashes Node-RED's settings
 * hold (adminAuth users, httpNodeAuth, httpStaticAuth): bcrypt ($2a$, $2b$,
 * $2y$) through libcrypt's crypt_r, and the legacy 32-hex-digit MD5 form.
 */
#ifndef EF_PASSWORD_H
#define EF_PASSWORD_H

#include <stdbool.h>

/*
 * True when `plain` matches `hash`: a bcrypt hash, or (as Node-RED's
 * basicAuthMiddleware) a hash of exactly 32 characters taken as the hex MD5
 * of the password. Compares in constant time. Both strings are borrowed.
 */
bool password__check(const char *plain, const char *hash);

#endif
