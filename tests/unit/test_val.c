/*
 * test_val.c - values: construction, reference counts, copy-on-write
 * (shared trees stay unchanged, untouched subtrees stay shared), JavaScript
 * key order, equality and truthiness.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include <edgeflow/err.h>
#include <edgeflow/path.h>
#include <edgeflow/val.h>

static int freed;

static void count_free(void *p)
{
    (void)p;
    freed++;
}

static const struct ef_handle_type counted = {"counted", count_free};

static char *print(const struct ef_val *v)
{
    return ef_json_print(v, 0, NULL);
}

static void test_construct(void)
{
    struct ef_val *v = ef_val_num(1.5);
    CU_ASSERT_EQUAL(ef_val_type(v), EF_NUM);
    CU_ASSERT_EQUAL(ef_val_num_get(v), 1.5);
    CU_ASSERT_EQUAL(ef_val_refcount(v), 1);
    ef_val_unref(v);
    v = ef_val_strn("a\0b", 3);
    CU_ASSERT_EQUAL(ef_val_str_len(v), 3);
    CU_ASSERT(memcmp(ef_val_str_get(v), "a\0b", 4) == 0);
    ef_val_unref(v);
    v = ef_val_strf("%d-%s", 7, "x");
    CU_ASSERT_STRING_EQUAL(ef_val_str_get(v), "7-x");
    ef_val_unref(v);
    char *heap = strdup("taken");
    v = ef_val_str_take(heap, 5);
    CU_ASSERT_STRING_EQUAL(ef_val_str_get(v), "taken");
    ef_val_unref(v);
    v = ef_val_buf("\x00\x01", 2);
    CU_ASSERT_EQUAL(ef_val_buf_len(v), 2);
    CU_ASSERT_EQUAL(ef_val_buf_data(v)[1], 1);
    ef_val_unref(v);
    CU_ASSERT_EQUAL(ef_val_type(ef_val_null()), EF_NULL);
    CU_ASSERT(ef_val_bool_get(ef_val_bool(true)));
    CU_ASSERT_EQUAL(ef_val_type(NULL), EF_NULL);
    CU_ASSERT_STRING_EQUAL(ef_type_name(EF_OBJ), "object");
    CU_ASSERT_STRING_EQUAL(ef_val_str_get(NULL), "");
    /* wrong-type accessors */
    struct ef_val *n = ef_val_num(1);
    CU_ASSERT_STRING_EQUAL(ef_val_str_get(n), "");
    CU_ASSERT_EQUAL(ef_val_arr_len(n), 0);
    CU_ASSERT_NOT_EQUAL(ef_val_arr_push_take(n, ef_val_null()), 0);
    CU_ASSERT_NOT_EQUAL(ef_val_obj_set_take(n, "a", ef_val_null()), 0);
    ef_val_unref(n);
}

static void test_refcount_handles(void)
{
    freed = 0;
    int dummy;
    struct ef_val *h = ef_val_handle(&dummy, &counted);
    CU_ASSERT_PTR_EQUAL(ef_val_handle_ptr(h, &counted), &dummy);
    CU_ASSERT_PTR_NULL(ef_val_handle_ptr(h, &(struct ef_handle_type){"other", NULL}));
    struct ef_val *o = ef_val_obj();
    CU_ASSERT_EQUAL(ef_val_obj_set_take(o, "res", ef_val_ref(h)), 0);
    CU_ASSERT_EQUAL(ef_val_refcount(h), 2);
    struct ef_val *copy = ef_val_copy(o); /* handles are shared, not copied */
    CU_ASSERT_PTR_EQUAL(ef_val_obj_get(copy, "res"), h);
    CU_ASSERT_EQUAL(ef_val_refcount(h), 3);
    ef_val_unref(o);
    ef_val_unref(copy);
    CU_ASSERT_EQUAL(freed, 0);
    ef_val_unref(h);
    CU_ASSERT_EQUAL(freed, 1);
    ef_val_unref(NULL);
    CU_ASSERT_PTR_NULL(ef_val_ref(NULL));
}

static void test_arrays(void)
{
    struct ef_val *a = ef_val_arr();
    for (int i = 0; i < 100; i++) {
        CU_ASSERT_EQUAL(ef_val_arr_push_take(a, ef_val_num(i)), 0);
    }
    CU_ASSERT_EQUAL(ef_val_arr_len(a), 100);
    CU_ASSERT_EQUAL(ef_val_num_get(ef_val_arr_at(a, 42)), 42);
    CU_ASSERT_PTR_NULL(ef_val_arr_at(a, 100));
    CU_ASSERT_EQUAL(ef_val_arr_remove(a, 0), 0);
    CU_ASSERT_EQUAL(ef_val_num_get(ef_val_arr_at(a, 0)), 1);
    CU_ASSERT_EQUAL(ef_val_arr_remove(a, 500), EF_ENOENT);
    CU_ASSERT_EQUAL(ef_val_arr_insert_take(a, 0, ef_val_str("first")), 0);
    CU_ASSERT_STRING_EQUAL(ef_val_str_get(ef_val_arr_at(a, 0)), "first");
    CU_ASSERT_EQUAL(ef_val_arr_set_take(a, 102, ef_val_bool(true)), 0);
    CU_ASSERT_EQUAL(ef_val_arr_len(a), 103);
    CU_ASSERT_EQUAL(ef_val_type(ef_val_arr_at(a, 101)), EF_NULL);
    CU_ASSERT_PTR_NULL(ef_val_arr_slot(a, 103));
    CU_ASSERT_PTR_NOT_NULL(ef_val_arr_slot(a, 102));
    ef_val_unref(a);
}

static void test_key_order(void)
{
    struct ef_val *o = ef_val_obj();
    const char *keys[] = {"b", "10", "a", "2", "01", "-1", "0", "4294967295", "4294967294"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        CU_ASSERT_EQUAL(ef_val_obj_set_take(o, keys[i], ef_val_num((double)i)), 0);
    }
    char *s = print(o);
    /* node: Object.keys of the same insertions */
    CU_ASSERT_STRING_EQUAL(s, "{\"0\":6,\"2\":3,\"10\":1,\"4294967294\":8,\"b\":0,\"a\":2,\"01\":4,"
                              "\"-1\":5,\"4294967295\":7}");
    free(s);
    /* replacing keeps the position; deleting and re-adding moves to the end */
    CU_ASSERT_EQUAL(ef_val_obj_set_take(o, "b", ef_val_num(99)), 0);
    CU_ASSERT_STRING_EQUAL(ef_val_obj_key_at(o, 4, NULL), "b");
    CU_ASSERT_EQUAL(ef_val_obj_del(o, "b", 1), 0);
    CU_ASSERT_EQUAL(ef_val_obj_del(o, "b", 1), EF_ENOENT);
    CU_ASSERT_EQUAL(ef_val_obj_set_take(o, "b", ef_val_num(1)), 0);
    size_t kl;
    CU_ASSERT_STRING_EQUAL(ef_val_obj_key_at(o, ef_val_obj_len(o) - 1, &kl), "b");
    CU_ASSERT_EQUAL(kl, 1);
    CU_ASSERT_PTR_NULL(ef_val_obj_key_at(o, ef_val_obj_len(o), NULL));
    /* many keys: lookups keep working once the hash index exists */
    for (int i = 0; i < 1000; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        ef_val_obj_set_take(o, k, ef_val_num(i));
    }
    CU_ASSERT_EQUAL(ef_val_num_get(ef_val_obj_get(o, "k777")), 777);
    CU_ASSERT_EQUAL(ef_val_obj_del(o, "k5", 2), 0);
    CU_ASSERT_PTR_NULL(ef_val_obj_get(o, "k5"));
    CU_ASSERT_EQUAL(ef_val_num_get(ef_val_obj_get(o, "k999")), 999);
    CU_ASSERT_EQUAL(ef_val_num_get(ef_val_obj_getn(o, "k12345", 3)), 12);
    ef_val_unref(o);
}

static void test_cow_mut(void)
{
    const char *src = "{\"a\":{\"b\":[1,{\"c\":2}]},\"d\":{\"e\":3}}";
    struct ef_val *orig = ef_json_parse(src, strlen(src), NULL, 0);
    struct ef_val *other = ef_val_ref(orig);
    struct ef_val *d = ef_val_obj_get(orig, "d");
    /* mutate other: root, a, a.b, a.b[1] are copied; d stays shared */
    struct ef_val *root = ef_val_mut(&other);
    CU_ASSERT_PTR_NOT_EQUAL(root, orig);
    CU_ASSERT_EQUAL(ef_val_refcount(orig), 1);
    struct ef_val *a = ef_val_mut(ef_val_obj_slot(root, "a", 1));
    struct ef_val *b = ef_val_mut(ef_val_obj_slot(a, "b", 1));
    struct ef_val *c = ef_val_mut(ef_val_arr_slot(b, 1));
    CU_ASSERT_EQUAL(ef_val_obj_set_take(c, "c", ef_val_str("changed")), 0);
    char *s = print(orig);
    CU_ASSERT_STRING_EQUAL(s, src);
    free(s);
    s = print(other);
    CU_ASSERT_STRING_EQUAL(s, "{\"a\":{\"b\":[1,{\"c\":\"changed\"}]},\"d\":{\"e\":3}}");
    free(s);
    CU_ASSERT_PTR_EQUAL(ef_val_obj_get(other, "d"), d);
    CU_ASSERT_EQUAL(ef_val_refcount(d), 2);
    CU_ASSERT_PTR_EQUAL(ef_val_arr_at(b, 0),
                        ef_val_arr_at(ef_val_obj_get(ef_val_obj_get(orig, "a"), "b"), 0));
    /* an unshared value is its own writable self */
    struct ef_val *before = other;
    CU_ASSERT_PTR_EQUAL(ef_val_mut(&other), before);
    ef_val_unref(other);
    ef_val_unref(orig);
}

static void test_cow_path(void)
{
    const char *src = "{\"payload\":{\"x\":[1,2,3],\"y\":{\"z\":true}},\"topic\":\"t\"}";
    struct ef_val *m1 = ef_json_parse(src, strlen(src), NULL, 0);
    struct ef_val *m2 = ef_val_ref(m1);
    struct ef_val *m3 = ef_val_ref(m1);
    struct ef_path *p = ef_path_parse("payload.x[1]", NULL, 0);
    CU_ASSERT_EQUAL(ef_path_set_take(&m2, p, ef_val_str("two"), true, m2), 0);
    ef_path_free(p);
    p = ef_path_parse("payload.y.z", NULL, 0);
    CU_ASSERT_EQUAL(ef_path_delete(&m3, p, m3), 0);
    ef_path_free(p);
    char *s = print(m1);
    CU_ASSERT_STRING_EQUAL(s, src);
    free(s);
    s = print(m2);
    CU_ASSERT_STRING_EQUAL(
        s, "{\"payload\":{\"x\":[1,\"two\",3],\"y\":{\"z\":true}},\"topic\":\"t\"}");
    free(s);
    s = print(m3);
    CU_ASSERT_STRING_EQUAL(s, "{\"payload\":{\"x\":[1,2,3],\"y\":{}},\"topic\":\"t\"}");
    free(s);
    /* siblings off the written path are still shared by all three */
    struct ef_val *y1 = ef_val_obj_get(ef_val_obj_get(m1, "payload"), "y");
    CU_ASSERT_PTR_EQUAL(ef_val_obj_get(ef_val_obj_get(m2, "payload"), "y"), y1);
    CU_ASSERT_PTR_EQUAL(ef_val_obj_get(m3, "topic"), ef_val_obj_get(m1, "topic"));
    CU_ASSERT_PTR_EQUAL(ef_val_obj_get(m2, "topic"), ef_val_obj_get(m1, "topic"));
    ef_val_unref(m1);
    ef_val_unref(m2);
    ef_val_unref(m3);
}

static void test_copy_equal(void)
{
    const char *src = "{\"a\":[1,\"x\",{\"b\":null}],\"c\":false,\"n\":1.5}";
    struct ef_val *a = ef_json_parse(src, strlen(src), NULL, 0);
    struct ef_val *b = ef_val_copy(a);
    CU_ASSERT_PTR_NOT_EQUAL(a, b);
    CU_ASSERT(ef_val_equal(a, b));
    CU_ASSERT_PTR_NOT_EQUAL(ef_val_obj_get(a, "a"), ef_val_obj_get(b, "a"));
    CU_ASSERT_EQUAL(ef_val_refcount(ef_val_obj_get(a, "a")), 1);
    ef_val_obj_set_take(b, "c", ef_val_bool(true));
    CU_ASSERT(!ef_val_equal(a, b));
    struct ef_val *n1 = ef_val_num(1), *n2 = ef_val_num(1), *s1 = ef_val_str("1");
    CU_ASSERT(ef_val_equal(n1, n2));
    CU_ASSERT(!ef_val_equal(n1, s1));
    CU_ASSERT(ef_val_equal(ef_val_null(), ef_val_null()));
    CU_ASSERT(!ef_val_equal(ef_val_null(), ef_val_bool(false)));
    struct ef_val *b1 = ef_val_buf("ab", 2), *b2 = ef_val_buf("ab", 2);
    CU_ASSERT(ef_val_equal(b1, b2));
    ef_val_unref(b1);
    ef_val_unref(b2);
    ef_val_unref(n1);
    ef_val_unref(n2);
    ef_val_unref(s1);
    ef_val_unref(a);
    ef_val_unref(b);
}

static void test_truthy(void)
{
    struct ef_val *vals[] = {ef_val_num(0),    ef_val_num(NAN), ef_val_str(""),
                             ef_val_num(-0.0), ef_val_num(0.5), ef_val_str("0"),
                             ef_val_arr(),     ef_val_obj(),    ef_val_buf("", 0)};
    bool want[] = {false, false, false, false, true, true, true, true, true};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        CU_ASSERT_EQUAL(ef_val_truthy(vals[i]), want[i]);
        ef_val_unref(vals[i]);
    }
    CU_ASSERT(!ef_val_truthy(ef_val_null()));
    CU_ASSERT(!ef_val_truthy(ef_val_bool(false)));
    CU_ASSERT(ef_val_truthy(ef_val_bool(true)));
    CU_ASSERT(!ef_val_truthy(NULL));
}

int init_val_tests(void)
{
    CU_pSuite s = CU_add_suite("val", NULL, NULL);
    if (!s || !CU_add_test(s, "construct", test_construct) ||
        !CU_add_test(s, "refcount_handles", test_refcount_handles) ||
        !CU_add_test(s, "arrays", test_arrays) || !CU_add_test(s, "key_order", test_key_order) ||
        !CU_add_test(s, "cow_mut", test_cow_mut) || !CU_add_test(s, "cow_path", test_cow_path) ||
        !CU_add_test(s, "copy_equal", test_copy_equal) || !CU_add_test(s, "truthy", test_truthy)) {
        return CU_get_error();
    }
    return 0;
}
