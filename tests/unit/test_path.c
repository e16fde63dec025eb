/*
 * test_path.c - Node-RED property paths: every normalisePropertyExpression,
 * getMessageProperty and setMessageProperty case of node-red's
 * test/unit/@node-red/util/lib/util_spec.js, the error texts, and
 * copy-on-write behaviour of set and delete.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include <edgeflow/err.h>
#include <edgeflow/path.h>
#include <edgeflow/val.h>

static struct ef_val *J(const char *json)
{
    char err[256];
    struct ef_val *v = ef_json_parse(json, strlen(json), err, sizeof(err));
    if (!v) {
        fprintf(stderr, "bad test JSON %s: %s\n", json, err);
    }
    return v;
}

static void describe(const struct ef_path *p, char *out, size_t n);

/* Parses expr and compares its segments, shown by describe(), with want. */
static void check_parts(const char *expr, const char *want_json)
{
    char err[256];
    struct ef_path *p = ef_path_parse(expr, err, sizeof(err));
    if (!p) {
        fprintf(stderr, "\n %s: %s\n", expr, err);
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    char got[512];
    describe(p, got, sizeof(got));
    if (strcmp(got, want_json) != 0) {
        fprintf(stderr, "\n %s: got %s want %s\n", expr, got, want_json);
    }
    CU_ASSERT_STRING_EQUAL(got, want_json);
    CU_ASSERT_STRING_EQUAL(ef_path_text(p), expr);
    ef_path_free(p);
}

static void check_invalid(const char *expr, const char *want)
{
    char err[256] = "x";
    struct ef_path *p = ef_path_parse(expr, err, sizeof(err));
    CU_ASSERT_PTR_NULL(p);
    ef_path_free(p);
    if (want) {
        if (strcmp(err, want) != 0) {
            fprintf(stderr, "\n %s: got '%s' want '%s'\n", expr, err, want);
        }
        CU_ASSERT_STRING_EQUAL(err, want);
    } else {
        CU_ASSERT(strncmp(err, "Invalid", 7) == 0);
    }
}

/*
 * Shows a path's segments: sets "X" through it on an empty object with
 * create_missing, against a msg whose nested references resolve to "<a>",
 * "<b>", "<c>". String segments become object keys, numbers array indexes.
 */
static void describe(const struct ef_path *p, char *out, size_t n)
{
    struct ef_val *root = ef_val_obj();
    struct ef_val *v = ef_val_str("X");
    struct ef_val *msg = J("{\"b\":\"<b>\",\"a\":\"<a>\",\"c\":\"<c>\"}");
    int rc = ef_path_set_take(&root, p, v, true, msg);
    if (rc != 0) {
        ef_val_unref(v);
        snprintf(out, n, "set failed %d", rc);
    } else {
        char *s = ef_json_print(root, 0, NULL);
        snprintf(out, n, "%s", s);
        free(s);
    }
    ef_val_unref(msg);
    ef_val_unref(root);
}

static void test_parse_valid(void)
{
    /* util_spec 'pass' cases; the expected parts are shown as the tree a
     * set with create_missing builds: strings become keys, numbers arrays. */
    check_parts("a.b.c", "{\"a\":{\"b\":{\"c\":\"X\"}}}");
    check_parts("a[\"b\"][\"c\"]", "{\"a\":{\"b\":{\"c\":\"X\"}}}");
    check_parts("a[\"b\"].c", "{\"a\":{\"b\":{\"c\":\"X\"}}}");
    check_parts("a['b'].c", "{\"a\":{\"b\":{\"c\":\"X\"}}}");
    check_parts("a[0].c", "{\"a\":[{\"c\":\"X\"}]}");
    check_parts("a.0.c", "{\"a\":[{\"c\":\"X\"}]}");
    check_parts("a['a.b[0]'].c", "{\"a\":{\"a.b[0]\":{\"c\":\"X\"}}}");
    check_parts("a[0][0][0]", "{\"a\":[[[\"X\"]]]}");
    check_parts("'1.2.3.4'", "{\"1.2.3.4\":\"X\"}");
    check_parts("'a.b'[1]", "{\"a.b\":[null,\"X\"]}");
    check_parts("'a.b'.c", "{\"a.b\":{\"c\":\"X\"}}");
    check_parts("a[msg.b]", "{\"a\":{\"<b>\":\"X\"}}");
    check_parts("b[msg.a][2]", "{\"b\":{\"<a>\":[null,null,\"X\"]}}");
    check_parts("a.$b.c", "{\"a\":{\"$b\":{\"c\":\"X\"}}}");
    check_parts("a[\"$b\"].c", "{\"a\":{\"$b\":{\"c\":\"X\"}}}");
    check_parts("a._b.c", "{\"a\":{\"_b\":{\"c\":\"X\"}}}");
    check_parts("a[\"_b\"].c", "{\"a\":{\"_b\":{\"c\":\"X\"}}}");
    check_parts("a[msg.c][0][\"fred\"]", "{\"a\":{\"<c>\":[{\"fred\":\"X\"}]}}");
    /* Quirks kept from Node-RED: a last ".0" is the string "0"; "0[" too. */
    check_parts("a.0", "{\"a\":{\"0\":\"X\"}}");
    check_parts("a.0[1]", "{\"a\":{\"0\":[null,\"X\"]}}");
    check_parts("a.01.b", "{\"a\":[null,{\"b\":\"X\"}]}");
    check_parts("a-b.c", "{\"a-b\":{\"c\":\"X\"}}");
}

static void test_parse_nested_shapes(void)
{
    /* a[msg['b]"[']] and a[msg['b][']] parse (brackets inside quotes count) */
    struct ef_path *p = ef_path_parse("a[msg['b]\"[']]", NULL, 0);
    CU_ASSERT_PTR_NOT_NULL(p);
    CU_ASSERT_EQUAL(ef_path_nsegs(p), 2);
    struct ef_val *msg = J("{\"msg\":{\"b]\\\"[\":\"k\"},\"a\":{\"k\":7}}");
    /* msg['b]"['] has no "msg." prefix, so it is read as msg.msg[...] */
    CU_ASSERT_EQUAL(ef_val_num_get(ef_path_get(msg, p, msg)), 7);
    ef_path_free(p);
    ef_val_unref(msg);
    p = ef_path_parse("a[msg['b][']]", NULL, 0);
    CU_ASSERT_PTR_NOT_NULL(p);
    ef_path_free(p);
    p = ef_path_parse("a[msg[msg.b]]", NULL, 0);
    CU_ASSERT_PTR_NOT_NULL(p);
    CU_ASSERT_EQUAL(ef_path_nsegs(p), 2);
    CU_ASSERT_STRING_EQUAL(ef_path_first_key(p), "a");
    ef_path_free(p);
    p = ef_path_parse("[0]", NULL, 0);
    CU_ASSERT_PTR_NULL(p);
    p = ef_path_parse("'q'.r", NULL, 0);
    CU_ASSERT_STRING_EQUAL(ef_path_first_key(p), "q");
    ef_path_free(p);
    p = ef_path_parse("0.r", NULL, 0);
    CU_ASSERT_PTR_NULL(ef_path_first_key(p));
    ef_path_free(p);
}

static void test_parse_invalid(void)
{
    /* util_spec 'fail' cases, with the texts node-red 4.1 throws */
    check_invalid("a'b'.c", "Invalid property expression: unexpected ' at position 1");
    check_invalid("a['b'.c",
                  "Invalid property expression: unexpected array expression at position 3");
    check_invalid("a[]", "Invalid property expression: unexpected ] at position 2");
    check_invalid("a]", "Invalid property expression: unexpected ] at position 1");
    check_invalid("a[", "Invalid property expression: unterminated expression");
    check_invalid("a[0d]",
                  "Invalid property expression: unexpected array expression at position 2");
    check_invalid("a['", "Invalid property expression: unterminated expression");
    check_invalid("a[']", "Invalid property expression: unterminated expression");
    check_invalid("a[0']", "Invalid property expression: unexpected ' at position 3");
    check_invalid("a.[0]", "Invalid property expression: unexpected [ at position 2");
    check_invalid("[0]", "Invalid property expression: unexpected [ at position 0");
    check_invalid("a[0", "Invalid property expression: unterminated expression");
    check_invalid("a.", "Invalid property expression: unterminated expression");
    check_invalid(".a", "Invalid property expression: unexpected . at position 0");
    check_invalid("a. b", "Invalid property expression: unexpected   at position 2");
    check_invalid(" a.b", "Invalid property expression: unexpected ' ' at position 0");
    check_invalid("a[0].[1]", "Invalid property expression: unexpected [ at position 5");
    check_invalid("a['']", "Invalid property expression: zero-length string at position 3");
    check_invalid("'a.b'c", "Invalid property expression: unexpected c expression at position 5");
    check_invalid("", "Invalid property expression: zero-length");
    check_invalid("a[b]", "Invalid property expression: unexpected b at position 2");
    check_invalid("a[msg.]", "Invalid expression started at position 2");
    check_invalid("a[msg[]", "Invalid property expression: unmatched '[' at position 1");
    check_invalid("a[msg.[]]", "Invalid expression started at position 2");
    check_invalid("a[msg['af]]", "Invalid expression started at position 2");
    /* positions count UTF-16 code units, as JavaScript does */
    check_invalid("\xc3\xa9\xf0\x9f\x98\x80.",
                  "Invalid property expression: unterminated expression");
    check_invalid("\xc3\xa9\xf0\x9f\x98\x80[x]",
                  "Invalid property expression: unexpected x at position 4");
    check_invalid("a.\xc3\xa9", "Invalid property expression: unexpected \xc3\xa9 at position 2");
    /* NULL err is fine */
    CU_ASSERT_PTR_NULL(ef_path_parse("a..b", NULL, 0));
}

static struct ef_val *get(const char *json, const char *expr)
{
    static struct ef_val *keep;
    ef_val_unref(keep);
    keep = json ? J(json) : NULL;
    if (!keep) {
        return NULL;
    }
    struct ef_path *p = ef_path_parse(expr, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL(p);
    struct ef_val *v = ef_path_get(keep, p, keep);
    ef_path_free(p);
    return v;
}

static void test_get(void)
{
    CU_ASSERT_STRING_EQUAL(ef_val_str_get(get("{\"a\":\"foo\"}", "a")), "foo");
    CU_ASSERT_EQUAL(ef_val_num_get(get("{\"a\":\"foo\",\"b\":{\"foo\":1,\"bar\":2}}", "b[msg.a]")),
                    1);
    CU_ASSERT_EQUAL(ef_val_num_get(get("{\"a\":\"bar\",\"b\":{\"foo\":1,\"bar\":2}}", "b[msg.a]")),
                    2);
    CU_ASSERT_PTR_NULL(get("{\"a\":\"foo\"}", "b"));
    CU_ASSERT_PTR_NULL(get("{\"a\":\"foo\"}", "a.b.c")); /* node-red throws */
    CU_ASSERT_STRING_EQUAL(ef_val_str_get(get("{\"a\":[\"foo\",\"bar\"]}", "a[0]")), "foo");
    CU_ASSERT_STRING_EQUAL(ef_val_str_get(get("{\"a\":[null,{\"b\":\"foo\"}]}", "a[1].b")), "foo");
    CU_ASSERT_STRING_EQUAL(ef_val_str_get(get("{\"a\":[[[\"foo\"]]]}", "a[0][0][0]")), "foo");
    /* getObjectProperty does not strip msg. */
    CU_ASSERT_STRING_EQUAL(ef_val_str_get(get("{\"msg\":{\"a\":\"foo\"},\"a\":\"bar\"}", "msg.a")),
                           "foo");
    /* strings index arrays ("a.1"), numbers name object keys ("a[1]") */
    CU_ASSERT_EQUAL(ef_val_num_get(get("{\"a\":[5,6]}", "a.1")), 6);
    CU_ASSERT_EQUAL(ef_val_num_get(get("{\"a\":{\"1\":7}}", "a[1]")), 7);
    CU_ASSERT_PTR_NULL(get("{\"a\":[5,6]}", "a[2]"));
    CU_ASSERT_PTR_NULL(get("{\"a\":[5,6]}", "a.01"));
    CU_ASSERT_PTR_NULL(get("{\"a\":\"str\"}", "a.length"));
    /* nested: numbers, undefined references, msg[...] without "msg." */
    CU_ASSERT_EQUAL(ef_val_num_get(get("{\"i\":1,\"a\":[5,6]}", "a[msg.i]")), 6);
    CU_ASSERT_PTR_NULL(get("{\"a\":[5,6]}", "a[msg.i]"));
    /* "msg[msg.y]" has no "msg." prefix, so it reads msg.msg[...]: absent
     * here (node-red throws), found when msg.msg exists */
    CU_ASSERT_PTR_NULL(get("{\"k\":\"x\",\"y\":\"k\",\"a\":{\"x\":3}}", "a[msg[msg.y]]"));
    CU_ASSERT_EQUAL(
        ef_val_num_get(get("{\"msg\":{\"k\":\"x\"},\"y\":\"k\",\"a\":{\"x\":3}}", "a[msg[msg.y]]")),
        3);
    CU_ASSERT_STRING_EQUAL(ef_val_str_get(get("{\"a\":{\"true\":\"t\"},\"f\":true}", "a[msg.f]")),
                           "t");
    /* no msg: nested references are absent */
    struct ef_val *root = J("{\"a\":{\"x\":1},\"k\":\"x\"}");
    struct ef_path *p = ef_path_parse("a[msg.k]", NULL, 0);
    CU_ASSERT_PTR_NULL(ef_path_get(root, p, NULL));
    CU_ASSERT_EQUAL(ef_val_num_get(ef_path_get(root, p, root)), 1);
    ef_path_free(p);
    ef_val_unref(root);
    get(NULL, NULL);
}

/* Sets expr on the JSON object; returns rc and the resulting JSON in out. */
static int set(const char *json, const char *expr, const char *vjson, bool create, char *out,
               size_t n)
{
    struct ef_val *root = J(json);
    struct ef_path *p = ef_path_parse(expr, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL(p);
    int rc;
    if (vjson) {
        struct ef_val *v = J(vjson);
        rc = ef_path_set_take(&root, p, v, create, root);
        if (rc != 0) {
            ef_val_unref(v);
        }
    } else {
        rc = ef_path_delete(&root, p, root);
    }
    char *s = ef_json_print(root, 0, NULL);
    snprintf(out, n, "%s", s);
    free(s);
    ef_path_free(p);
    ef_val_unref(root);
    return rc;
}

#define CHECK_SET(json, expr, v, create, want_rc, want_json)                                       \
    do {                                                                                           \
        char out_[512];                                                                            \
        int rc_ = set(json, expr, v, create, out_, sizeof(out_));                                  \
        if (rc_ != (want_rc) || strcmp(out_, want_json) != 0) {                                    \
            fprintf(stderr, "\n %s: rc %d %s\n", expr, rc_, out_);                                 \
        }                                                                                          \
        CU_ASSERT_EQUAL(rc_, want_rc);                                                             \
        CU_ASSERT_STRING_EQUAL(out_, want_json);                                                   \
    } while (0)

static void test_set(void)
{
    CHECK_SET("{\"a\":\"foo\"}", "a", "\"bar\"", true, 0, "{\"a\":\"bar\"}");
    CHECK_SET("{\"a\":{\"b\":{\"c\":\"foo\"}}}", "a.b.c", "\"bar\"", true, 0,
              "{\"a\":{\"b\":{\"c\":\"bar\"}}}");
    CHECK_SET("{\"a\":{}}", "a.b.c", "\"bar\"", true, 0, "{\"a\":{\"b\":{\"c\":\"bar\"}}}");
    CHECK_SET("{\"a\":{}}", "a.b.c", "\"bar\"", false, EF_ENOENT, "{\"a\":{}}");
    CHECK_SET("{\"a\":{}}", "a.b[1].c", "\"bar\"", false, EF_ENOENT, "{\"a\":{}}");
    CHECK_SET("{\"a\":\"foo\"}", "a.b.c", "\"bar\"", false, EF_ETYPE, "{\"a\":\"foo\"}");
    CHECK_SET("{\"a\":\"foo\"}", "a.b", "\"bar\"", false, EF_ETYPE, "{\"a\":\"foo\"}");
    CHECK_SET("{\"a\":123}", "a.b", "\"bar\"", false, EF_ETYPE, "{\"a\":123}");
    CHECK_SET("{\"a\":123}", "a.b.c", "\"bar\"", false, EF_ETYPE, "{\"a\":123}");
    CHECK_SET("{\"a\":true}", "a.b", "\"bar\"", false, EF_ETYPE, "{\"a\":true}");
    CHECK_SET("{\"a\":true}", "a.b.c", "\"bar\"", false, EF_ETYPE, "{\"a\":true}");
    CHECK_SET("{\"a\":123}", "a.b", "\"bar\"", true, EF_ETYPE, "{\"a\":123}");
    CHECK_SET("{\"a\":null}", "a.b", "1", true, EF_ETYPE, "{\"a\":null}");
    CHECK_SET("{\"a\":{\"b\":[\"foo\",{\"c\":[\"\",\"\"]}]}}", "a.b[1].c[1]", "\"bar\"", true, 0,
              "{\"a\":{\"b\":[\"foo\",{\"c\":[\"\",\"bar\"]}]}}");
    CHECK_SET("{\"a\":[]}", "a[2]", "\"bar\"", true, 0, "{\"a\":[null,null,\"bar\"]}");
    CHECK_SET("{}", "a[2].b", "\"bar\"", true, 0, "{\"a\":[null,null,{\"b\":\"bar\"}]}");
    CHECK_SET("{}", "a[2][2]", "\"bar\"", true, 0, "{\"a\":[null,null,[null,null,\"bar\"]]}");
    CHECK_SET("{\"a\":[]}", "a[1][1]", "\"bar\"", false, EF_ENOENT, "{\"a\":[]}");
    CHECK_SET("{\"a\":{}}", "a.b[2]", "\"bar\"", false, EF_ENOENT, "{\"a\":{}}");
    CHECK_SET("{\"a\":\"foo\",\"b\":{}}", "b[msg.a]", "\"bar\"", true, 0,
              "{\"a\":\"foo\",\"b\":{\"foo\":\"bar\"}}");
    CHECK_SET("{\"a\":\"foo\",\"b\":{\"foo\":[0,0,0]}}", "b[msg.a][2]", "\"bar\"", true, 0,
              "{\"a\":\"foo\",\"b\":{\"foo\":[0,0,\"bar\"]}}");
    /* setObjectProperty does not strip msg. */
    CHECK_SET("{}", "msg.a", "\"bar\"", true, 0, "{\"msg\":{\"a\":\"bar\"}}");
    /* undefined nested reference */
    CHECK_SET("{\"b\":{}}", "b[msg.undefined][2]", "1", true, EF_EINVAL, "{\"b\":{}}");
    /* a trailing ".0" is the string "0": an object is created (as in JS) */
    CHECK_SET("{}", "a.0", "1", true, 0, "{\"a\":{\"0\":1}}");
    CHECK_SET("{\"a\":[5]}", "a.0", "1", true, 0, "{\"a\":[1]}");
    CHECK_SET("{\"a\":[5]}", "a.x", "1", true, EF_ETYPE, "{\"a\":[5]}");
    CHECK_SET("{\"a\":{}}", "a[3]", "1", true, 0, "{\"a\":{\"3\":1}}");
    CHECK_SET("{\"a\":[]}", "a[999999999]", "1", true, EF_ERANGE, "{\"a\":[]}");
}

static void test_delete(void)
{
    CHECK_SET("{\"a\":{\"b\":{\"c\":\"foo\"}}}", "a.b.c", NULL, false, 0, "{\"a\":{\"b\":{}}}");
    CHECK_SET("{\"a\":{}}", "a.b.c", NULL, false, 0, "{\"a\":{}}");
    CHECK_SET("{\"a\":[1,2,3]}", "a[1]", NULL, false, 0, "{\"a\":[1,3]}");
    /* delete arr["1"] leaves a hole, which JSON shows as null */
    CHECK_SET("{\"a\":[1,2,3]}", "a.1", NULL, false, 0, "{\"a\":[1,null,3]}");
    CHECK_SET("{\"a\":[1,2,3]}", "a[7]", NULL, false, 0, "{\"a\":[1,2,3]}");
    CHECK_SET("{\"a\":\"s\"}", "a.b", NULL, false, 0, "{\"a\":\"s\"}");
    CHECK_SET("{\"k\":\"x\",\"a\":{\"x\":1,\"y\":2}}", "a[msg.k]", NULL, false, 0,
              "{\"k\":\"x\",\"a\":{\"y\":2}}");
    CHECK_SET("{\"a\":{}}", "a[msg.nope]", NULL, false, EF_EINVAL, "{\"a\":{}}");
}

static void test_cow(void)
{
    struct ef_val *orig = J("{\"a\":{\"b\":{\"c\":1},\"d\":[1,2]},\"e\":{\"f\":2}}");
    struct ef_val *share = ef_val_ref(orig);
    struct ef_val *e_before = ef_val_obj_get(orig, "e");
    struct ef_val *d_before = ef_val_obj_get(ef_val_obj_get(orig, "a"), "d");
    struct ef_path *p = ef_path_parse("a.b.c", NULL, 0);
    CU_ASSERT_EQUAL(ef_path_set_take(&share, p, ef_val_num(9), true, share), 0);
    CU_ASSERT_PTR_NOT_EQUAL(share, orig);
    char *s = ef_json_print(orig, 0, NULL);
    CU_ASSERT_STRING_EQUAL(s, "{\"a\":{\"b\":{\"c\":1},\"d\":[1,2]},\"e\":{\"f\":2}}");
    free(s);
    s = ef_json_print(share, 0, NULL);
    CU_ASSERT_STRING_EQUAL(s, "{\"a\":{\"b\":{\"c\":9},\"d\":[1,2]},\"e\":{\"f\":2}}");
    free(s);
    /* untouched subtrees are the same pointers */
    CU_ASSERT_PTR_EQUAL(ef_val_obj_get(share, "e"), e_before);
    CU_ASSERT_PTR_EQUAL(ef_val_obj_get(ef_val_obj_get(share, "a"), "d"), d_before);
    CU_ASSERT_EQUAL(ef_val_refcount(e_before), 2);
    CU_ASSERT_EQUAL(ef_val_refcount(orig), 1);
    /* a second write to the now-unshared copy happens in place */
    struct ef_val *before = share;
    CU_ASSERT_EQUAL(ef_path_set_take(&share, p, ef_val_num(10), true, share), 0);
    CU_ASSERT_PTR_EQUAL(share, before);
    ef_path_free(p);
    /* delete through a shared array */
    p = ef_path_parse("a.d[0]", NULL, 0);
    CU_ASSERT_EQUAL(ef_path_delete(&share, p, share), 0);
    CU_ASSERT_EQUAL(ef_val_arr_len(ef_val_obj_get(ef_val_obj_get(orig, "a"), "d")), 2);
    CU_ASSERT_EQUAL(ef_val_arr_len(ef_val_obj_get(ef_val_obj_get(share, "a"), "d")), 1);
    ef_path_free(p);
    /* a failing set copies nothing */
    struct ef_val *third = ef_val_ref(orig);
    p = ef_path_parse("a.b.c.x", NULL, 0);
    CU_ASSERT_EQUAL(ef_path_set_take(&third, p, ef_val_null(), true, third), EF_ETYPE);
    CU_ASSERT_PTR_EQUAL(third, orig);
    ef_path_free(p);
    /* deleting something absent copies nothing */
    p = ef_path_parse("a.zz", NULL, 0);
    CU_ASSERT_EQUAL(ef_path_delete(&third, p, third), 0);
    CU_ASSERT_PTR_EQUAL(third, orig);
    ef_path_free(p);
    ef_val_unref(third);
    ef_val_unref(share);
    ef_val_unref(orig);
}

int init_path_tests(void)
{
    CU_pSuite s = CU_add_suite("path", NULL, NULL);
    if (!s || !CU_add_test(s, "parse_valid", test_parse_valid) ||
        !CU_add_test(s, "parse_nested_shapes", test_parse_nested_shapes) ||
        !CU_add_test(s, "parse_invalid", test_parse_invalid) || !CU_add_test(s, "get", test_get) ||
        !CU_add_test(s, "set", test_set) || !CU_add_test(s, "delete", test_delete) ||
        !CU_add_test(s, "cow", test_cow)) {
        return CU_get_error();
    }
    return 0;
}
