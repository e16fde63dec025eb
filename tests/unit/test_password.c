/*
 * test_password.c - bcrypt password hashes (runtime/password.c): hashes as
 * Node-RED's bcryptjs writes them ($2a$ and $2b$), wrong passwords and
 * malformed hashes refused, and hashes made here verify.
 */
#include <string.h>

#include <CUnit/CUnit.h>

#include "password.h"

/* "secret" at cost 8, written by bcryptjs (node-red admin hash-pw) */
static const char *const NR_HASH = "$2b$08$/4W38Iu4Yur/gHvOzaKUlOabpI3JRNqf7.3EloZpYpasW4udW3Jc2";

static void test_node_red_hashes(void)
{
    CU_ASSERT_TRUE(password__is_bcrypt(NR_HASH));
    CU_ASSERT_TRUE(password__verify("secret", NR_HASH));
    CU_ASSERT_FALSE(password__verify("Secret", NR_HASH));
    CU_ASSERT_FALSE(password__verify("secret ", NR_HASH));
    CU_ASSERT_FALSE(password__verify("", NR_HASH));
    /* older bcryptjs and Node-RED's docs write $2a$: the same hash for ASCII passwords */
    char a[61];
    memcpy(a, NR_HASH, 61);
    a[2] = 'a';
    CU_ASSERT_TRUE(password__verify("secret", a));
    /* one changed character of the hash */
    a[40] = a[40] == 'x' ? 'y' : 'x';
    CU_ASSERT_FALSE(password__verify("secret", a));
}

static void test_malformed(void)
{
    CU_ASSERT_FALSE(password__is_bcrypt(NULL));
    CU_ASSERT_FALSE(password__is_bcrypt("secret"));
    CU_ASSERT_FALSE(password__is_bcrypt("$1$abc$def"));
    CU_ASSERT_FALSE(password__is_bcrypt("$2b$08$short"));
    CU_ASSERT_FALSE(
        password__is_bcrypt("$2x$08$/4W38Iu4Yur/gHvOzaKUlOabpI3JRNqf7.3EloZpYpasW4udW3Jc2"));
    CU_ASSERT_FALSE(password__verify("secret", "secret"));
    CU_ASSERT_FALSE(password__verify("secret", NULL));
    CU_ASSERT_FALSE(password__verify(NULL, NR_HASH));
    /* a bcrypt-shaped string with characters outside bcrypt's alphabet */
    CU_ASSERT_FALSE(password__verify(
        "secret", "$2b$08$!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"));
}

/* httpNodeAuth also takes Node-RED's legacy hex MD5 form. */
static void test_basic_md5(void)
{
    /* md5("secret") in hex */
    CU_ASSERT_TRUE(password__verify_basic("secret", "5ebe2294ecd0e0f08eab7690d2a6ee69"));
    CU_ASSERT_FALSE(password__verify_basic("Secret", "5ebe2294ecd0e0f08eab7690d2a6ee69"));
    CU_ASSERT_FALSE(password__verify_basic("secret", ""));
    CU_ASSERT_FALSE(password__verify_basic("secret", "secret"));
    CU_ASSERT_FALSE(password__verify_basic(NULL, "5ebe2294ecd0e0f08eab7690d2a6ee69"));
    CU_ASSERT_FALSE(password__verify_basic("secret", NULL));
}

static void test_hash_round_trip(void)
{
    char h1[61], h2[61];
    CU_ASSERT_EQUAL(password__hash("pa55 word", 4, h1, sizeof(h1)), 0);
    CU_ASSERT_EQUAL(password__hash("pa55 word", 4, h2, sizeof(h2)), 0);
    CU_ASSERT_EQUAL(strncmp(h1, "$2b$04$", 7), 0);
    CU_ASSERT_TRUE(password__is_bcrypt(h1));
    CU_ASSERT_STRING_NOT_EQUAL(h1, h2); /* random salts */
    CU_ASSERT_TRUE(password__verify("pa55 word", h1));
    CU_ASSERT_TRUE(password__verify("pa55 word", h2));
    CU_ASSERT_FALSE(password__verify("pa55 wore", h1));
    CU_ASSERT_EQUAL(password__hash("x", 3, h1, sizeof(h1)), -1);
    CU_ASSERT_EQUAL(password__hash("x", 4, h1, 60), -1);
}

int init_password_tests(void)
{
    CU_pSuite s = CU_add_suite("password", NULL, NULL);
    if (!s) {
        return -1;
    }
    if (!CU_add_test(s, "hashes written by Node-RED", test_node_red_hashes) ||
        !CU_add_test(s, "malformed hashes and arguments", test_malformed) ||
        !CU_add_test(s, "legacy md5 for httpNodeAuth", test_basic_md5) ||
        !CU_add_test(s, "hash and verify", test_hash_round_trip)) {
        return -1;
    }
    return 0;
}
