/*
 * test_password.c - password checks for settings hashes (runtime/password.c):
 * bcrypt hashes made by bcryptjs (what Node-RED's `node-red admin hash-pw`
 * uses), in its $2a$ and $2b$ spellings, and the legacy 32-hex-digit MD5.
 */
#include <string.h>

#include <CUnit/CUnit.h>

#include "password.h"

/* bcryptjs.hashSync("s3cret", 8) and ("pässwörd", 4) */
static const char *const S3CRET = "$2b$08$vN3agE8CBzF5eRv.Ya8rbeXD/rldk6q0yR5YbGVSidbHmQLljO8fu";
static const char *const UMLAUT = "$2b$04$dOnx6f1IvyEIOuLq36E1KOJ5wlI9pQOf6SgyZ/18W5ieGqftjzpr.";

static void test_bcrypt(void)
{
    CU_ASSERT_TRUE(password__check("s3cret", S3CRET));
    CU_ASSERT_FALSE(password__check("s3creT", S3CRET));
    CU_ASSERT_FALSE(password__check("", S3CRET));
    CU_ASSERT_FALSE(password__check("s3cret ", S3CRET));
    CU_ASSERT_TRUE(password__check("pässwörd", UMLAUT));
    CU_ASSERT_FALSE(password__check("passwort", UMLAUT));
    /* the same hash spelled $2a$ (older bcrypt) still checks */
    char a[80];
    strcpy(a, S3CRET);
    a[2] = 'a';
    CU_ASSERT_TRUE(password__check("s3cret", a));
}

static void test_md5_and_bad(void)
{
    /* md5("secret") in hex: Node-RED's legacy httpNodeAuth form */
    CU_ASSERT_TRUE(password__check("secret", "5ebe2294ecd0e0f08eab7690d2a6ee69"));
    CU_ASSERT_FALSE(password__check("Secret", "5ebe2294ecd0e0f08eab7690d2a6ee69"));
    CU_ASSERT_FALSE(password__check("secret", ""));
    CU_ASSERT_FALSE(password__check("secret", "secret"));
    CU_ASSERT_FALSE(password__check("secret", "$2b$08$short"));
    CU_ASSERT_FALSE(password__check("secret", "$1$abc$def")); /* not bcrypt: refused */
    CU_ASSERT_FALSE(password__check(NULL, S3CRET));
    CU_ASSERT_FALSE(password__check("s3cret", NULL));
}

int init_password_tests(void)
{
    CU_pSuite s = CU_add_suite("password", NULL, NULL);
    if (!s || !CU_add_test(s, "bcrypt ($2a$, $2b$) from bcryptjs", test_bcrypt) ||
        !CU_add_test(s, "legacy md5, malformed and missing hashes", test_md5_and_bad)) {
        return -1;
    }
    return 0;
}
