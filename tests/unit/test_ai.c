/*
 * test_ai.c - the parts of the ai agent plugin that need no model: the
 * JSON Schema subset of plugins/ai_agent/schema.c (checking schemas and
 * validating tool arguments, with the messages the model gets back) and
 * the public Mustache call (edgeflow/mustache.h) the system prompt uses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include <edgeflow/err.h>
#include <edgeflow/mustache.h>
#include <edgeflow/val.h>

#include "../../plugins/ai_agent/schema.h"

static struct ef_val *J(const char *json)
{
    char err[256];
    struct ef_val *v = ef_json_parse(json, strlen(json), err, sizeof(err));
    if (!v) {
        fprintf(stderr, "bad test JSON %s: %s\n", json, err);
    }
    return v;
}

/* Validates value against schema; want NULL for valid, else the exact message. */
static void expect(const char *schema, const char *value, const char *want)
{
    struct ef_val *s = J(schema);
    struct ef_val *v = J(value);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    char err[512] = "", uns[256];
    CU_ASSERT_EQUAL_FATAL(schema__check(s, err, sizeof(err), uns, sizeof(uns)), 0);
    err[0] = '\0';
    int rc = schema__validate(s, v, "arguments", err, sizeof(err));
    if (want == NULL ? rc != 0 : (rc == 0 || strcmp(err, want) != 0)) {
        fprintf(stderr, "\n %s against %s: rc %d '%s', want '%s'\n", value, schema, rc, err,
                want ? want : "(valid)");
    }
    CU_ASSERT_EQUAL(rc, want ? EF_EINVAL : 0);
    if (want) {
        CU_ASSERT_STRING_EQUAL(err, want);
    }
    ef_val_unref(s);
    ef_val_unref(v);
}

static void test_types(void)
{
    expect("{\"type\":\"string\"}", "\"a\"", NULL);
    expect("{\"type\":\"string\"}", "1", "arguments: expected string, got integer");
    expect("{\"type\":\"number\"}", "1", NULL);
    expect("{\"type\":\"number\"}", "1.5", NULL);
    expect("{\"type\":\"integer\"}", "1.5", "arguments: expected integer, got number");
    expect("{\"type\":\"integer\"}", "3", NULL);
    expect("{\"type\":\"boolean\"}", "null", "arguments: expected boolean, got null");
    expect("{\"type\":\"null\"}", "null", NULL);
    expect("{\"type\":\"array\"}", "{}", "arguments: expected array, got object");
    expect("{\"type\":[\"string\",\"null\"]}", "null", NULL);
    expect("{\"type\":[\"string\",\"null\"]}", "true",
           "arguments: expected string or null, got boolean");
    expect("{}", "[1,{\"a\":null}]", NULL);
}

static void test_objects(void)
{
    const char *s = "{\"type\":\"object\",\"properties\":{\"sensor\":{\"type\":\"string\"},"
                    "\"n\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":60}},"
                    "\"required\":[\"sensor\"],\"additionalProperties\":false}";
    expect(s, "{\"sensor\":\"p1\"}", NULL);
    expect(s, "{\"sensor\":\"p1\",\"n\":60}", NULL);
    expect(s, "{}", "arguments: missing required property 'sensor'");
    expect(s, "{\"sensor\":\"p1\",\"x\":1}", "arguments: unexpected property 'x'");
    expect(s, "{\"sensor\":\"p1\",\"n\":0}", "arguments.n: must be >= 1");
    expect(s, "{\"sensor\":\"p1\",\"n\":61}", "arguments.n: must be <= 60");
    expect(s, "{\"sensor\":2}", "arguments.sensor: expected string, got integer");
    /* additionalProperties as a schema; keys that are not identifiers are quoted */
    expect("{\"additionalProperties\":{\"type\":\"number\"}}", "{\"a b\":1,\"c\":\"x\"}",
           "arguments.c: expected number, got string");
    expect("{\"additionalProperties\":{\"type\":\"number\"}}", "{\"a b\":\"x\"}",
           "arguments[\"a b\"]: expected number, got string");
    /* nested */
    expect("{\"properties\":{\"a\":{\"properties\":{\"b\":{\"const\":3}}}}}", "{\"a\":{\"b\":4}}",
           "arguments.a.b: must be 3");
    /* a property schema of false forbids that property */
    expect("{\"properties\":{\"a\":false}}", "{\"a\":1}", "arguments.a: no value is allowed here");
}

static void test_arrays_strings_enums(void)
{
    const char *s = "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"minLength\":2,"
                    "\"maxLength\":3},\"minItems\":1,\"maxItems\":2}";
    expect(s, "[\"ab\"]", NULL);
    expect(s, "[]", "arguments: must have at least 1 items, has 0");
    expect(s, "[\"ab\",\"ab\",\"ab\"]", "arguments: must have at most 2 items, has 3");
    expect(s, "[\"ab\",\"a\"]", "arguments[1]: must be at least 2 characters long");
    expect(s, "[\"abcd\"]", "arguments[0]: must be at most 3 characters long");
    /* characters, not bytes: three two-byte letters */
    expect(s, "[\"\xc3\xa4\xc3\xb6\xc3\xbc\"]", NULL);
    expect("{\"enum\":[\"c\",\"f\",1]}", "\"k\"", "arguments: must be one of \"c\", \"f\", 1");
    expect("{\"enum\":[\"c\",\"f\",1]}", "1", NULL);
    expect("{\"enum\":[{\"a\":[1]}]}", "{\"a\":[1]}", NULL);
    expect("{\"exclusiveMinimum\":0,\"exclusiveMaximum\":1}", "0", "arguments: must be > 0");
    expect("{\"exclusiveMinimum\":0,\"exclusiveMaximum\":1}", "1", "arguments: must be < 1");
    expect("{\"exclusiveMinimum\":0,\"exclusiveMaximum\":1}", "0.5", NULL);
}

/* schema__check: wrong shapes fail with the place; unknown keywords are listed, not fatal. */
static void check_schema(const char *schema, const char *want_err, const char *want_uns)
{
    struct ef_val *s = J(schema);
    char err[512] = "", uns[256] = "x";
    int rc = schema__check(s, err, sizeof(err), uns, sizeof(uns));
    if (want_err) {
        CU_ASSERT_EQUAL(rc, EF_EINVAL);
        if (strcmp(err, want_err) != 0) {
            fprintf(stderr, "\n %s: '%s', want '%s'\n", schema, err, want_err);
        }
        CU_ASSERT_STRING_EQUAL(err, want_err);
    } else {
        CU_ASSERT_EQUAL(rc, 0);
        if (strcmp(uns, want_uns) != 0) {
            fprintf(stderr, "\n %s: unsupported '%s', want '%s'\n", schema, uns, want_uns);
        }
        CU_ASSERT_STRING_EQUAL(uns, want_uns);
    }
    ef_val_unref(s);
}

static void test_check(void)
{
    check_schema("{\"type\":\"object\",\"description\":\"d\",\"title\":\"t\",\"properties\":"
                 "{\"d\":{\"type\":\"string\",\"format\":\"date\",\"default\":\"x\"}}}",
                 NULL, "");
    check_schema("true", "the schema must be an object, got boolean", NULL);
}

static void test_check_errors(void)
{
    struct ef_val *s = J("[]");
    char err[256], uns[64];
    CU_ASSERT_EQUAL(schema__check(s, err, sizeof(err), uns, sizeof(uns)), EF_EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "the schema must be an object, got array");
    ef_val_unref(s);
    check_schema("{\"properties\":{\"a\":{\"type\":\"strin\"}}}",
                 "properties.a.type: must be object, array, string, number, integer, boolean or "
                 "null",
                 NULL);
    check_schema("{\"required\":[1]}", "required: entry 0 is not a string", NULL);
    check_schema("{\"items\":[{}]}", "items: a list of schemas (tuple form) is not supported",
                 NULL);
    check_schema("{\"minLength\":-1}", "minLength: must be a non-negative integer", NULL);
    check_schema("{\"maximum\":\"9\"}", "maximum: must be a number", NULL);
    check_schema("{\"properties\":{\"a\":3}}",
                 "properties.a: a schema must be an object, got number", NULL);
    check_schema("{\"type\":\"string\",\"pattern\":\"^a\",\"properties\":{\"b\":{\"anyOf\":[]}}}",
                 NULL, "pattern, properties.b.anyOf");
}

static void test_mustache_sdk(void)
{
    struct ef_val *view = J("{\"topic\":\"pumps & valves\",\"a\":{\"b\":[1,2]}}");
    char err[256];
    size_t len = 0;
    const char *tpl = "{{topic}}|{{{topic}}}|{{a.b.1}}|{{#a.b}}<{{.}}>{{/a.b}}|{{missing}}";
    char *out = ef_mustache_render(tpl, strlen(tpl), view, 0, &len, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_STRING_EQUAL(out, "pumps &amp; valves|pumps & valves|2|<1><2>|");
    CU_ASSERT_EQUAL(len, strlen(out));
    free(out);
    out = ef_mustache_render(tpl, strlen(tpl), view, EF_MUSTACHE_NO_ESCAPE, NULL, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_STRING_EQUAL(out, "pumps & valves|pumps & valves|2|<1><2>|");
    free(out);
    out = ef_mustache_render("{{#a}}", 6, view, 0, NULL, err, sizeof(err));
    CU_ASSERT_PTR_NULL(out);
    CU_ASSERT_STRING_EQUAL(err, "Unclosed section \"a\" at 6");
    ef_val_unref(view);
}

int init_ai_tests(void)
{
    CU_pSuite s = CU_add_suite("ai", NULL, NULL);
    if (!s || !CU_add_test(s, "types", test_types) || !CU_add_test(s, "objects", test_objects) ||
        !CU_add_test(s, "arrays, strings, enums", test_arrays_strings_enums) ||
        !CU_add_test(s, "schema check", test_check) ||
        !CU_add_test(s, "schema check errors", test_check_errors) ||
        !CU_add_test(s, "mustache sdk", test_mustache_sdk)) {
        return -1;
    }
    return 0;
}
