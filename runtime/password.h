/*
 * password.h - password hashes in the format Node-RED's settings use
 * (bcrypt, "$2a$" / "$2b$" / "$2y$" + cost + salt + hash, as bcryptjs and
 * `node-red admin hash-pw` write them), checked with libcrypt (libxcrypt).
 * Used by adminAuth (auth.c) and meant for httpNodeAuth as well.
 *
 * Internal API (not part of the plugin SDK). Nothing here keeps state;
 * every function is safe to call from any thread.
 */
#ifndef EF_PASSWORD_H
#define EF_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

/* True when `hash` looks like a bcrypt hash libcrypt can check. */
bool password__is_bcrypt(const char *hash);

/*
 * Checks `password` against `hash` (a bcrypt string). Returns true only on
 * a match; false for a wrong password, a NULL argument or a hash that is
 * not bcrypt. The comparison takes the same time for every wrong answer.
 * Costs what bcrypt costs (about 50 ms at cost 10 on a small ARM board):
 * call it only after rate limiting.
 */
bool password__verify(const char *password, const char *hash);

/*
 * httpNodeAuth's check (Node-RED's basicAuthMiddleware): a hash of exactly
 * 32 characters is the legacy hex MD5 of the password, anything else goes
 * to password__verify. Constant-time comparison; NULL never matches.
 */
bool password__verify_basic(const char *password, const char *hash);
/*
 * Hashes `password` into `out` as "$2b$<cost>$<salt+hash>" (60 characters
 * and a NUL, so outlen >= 61) with a random salt from the OS. cost 4..31
 * (Node-RED uses 8). Returns 0, or -1 (bad arguments, no randomness).
 */
int password__hash(const char *password, int cost, char *out, size_t outlen);

#endif
