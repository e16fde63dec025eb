/*
 * test_jsonata.c - unit tests of the JSONata API: compiling and syntax
 * errors, evaluation results and undefined, bindings, caller-provided
 * native functions, limits (depth and time), errors at evaluation and
 * function values in results.
 */
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "edgeflow/val.h"
#include "jsonata/jsonata.h"

static struct ef_val *json(const char *text)
{
    return ef_json_parse(text, strlen(text), NULL, 0);
}

/* Evaluates expr against JSON input; returns the result printed as JSON
 * (malloc'ed), "undefined", or "error CODE". */
static char *run(const char *expr, const char *input, const struct ef_jsonata_opts *opts)
{
    char err[256];
    struct ef_jsonata *e = ef_jsonata_compile(expr, err, sizeof(err));
    if (!e) {
        char *r = malloc(300);
        snprintf(r, 300, "compile %s", err);
        return r;
    }
    struct ef_val *in = input ? json(input) : NULL;
    struct ef_val *out = NULL;
    struct ef_jsonata_error je;
    char *r;
    if (ef_jsonata_eval(e, in, opts, &out, &je) < 0) {
        r = malloc(300);
        snprintf(r, 300, "error %s", je.code);
    } else if (!out) {
        r = strdup("undefined");
    } else {
        r = ef_json_print(out, 0, NULL);
    }
    ef_val_unref(out);
    ef_val_unref(in);
    ef_jsonata_free(e);
    return r;
}

#define CHECK_RUN(expr, input, opts, want)                                                         \
    do {                                                                                           \
        char *got_ = run(expr, input, opts);                                                       \
        CU_ASSERT_STRING_EQUAL(got_, want);                                                        \
        free(got_);                                                                                \
    } while (0)

static void test_compile_errors(void)
{
    char err[256];
    CU_ASSERT_PTR_NULL(ef_jsonata_compile("payload.", err, sizeof(err)));
    CU_ASSERT_STRING_EQUAL(strncmp(err, "S0207", 5) == 0 ? "S0207" : err, "S0207");
    struct ef_jsonata_error je;
    CU_ASSERT_PTR_NULL(ef_jsonata_compile_ex("\"abc", &je));
    CU_ASSERT_STRING_EQUAL(je.code, "S0101");
    CU_ASSERT_PTR_NULL(ef_jsonata_compile_ex("1 + )", &je));
    CU_ASSERT_STRING_EQUAL(je.code, "S0211");
    CU_ASSERT_PTR_NULL(ef_jsonata_compile_ex("a b", &je));
    CU_ASSERT_STRING_EQUAL(je.code, "S0201");
    CU_ASSERT_EQUAL(je.position, 3);
    CU_ASSERT_STRING_EQUAL(je.token, "b");
    char buf[300];
    ef_jsonata_strerror(&je, buf, sizeof(buf));
    CU_ASSERT_STRING_EQUAL(buf, "S0201: Syntax error: \"b\"");
    struct ef_jsonata *e = ef_jsonata_compile("payload.a", err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(e);
    CU_ASSERT_STRING_EQUAL(ef_jsonata_source(e), "payload.a");
    ef_jsonata_free(e);
    ef_jsonata_free(NULL);
}

static void test_eval_basics(void)
{
    const char *msg = "{\"payload\":{\"a\":5,\"items\":[{\"p\":1.5},{\"p\":2.5}]},\"topic\":\"t\"}";
    CHECK_RUN("payload.a", msg, NULL, "5");
    CHECK_RUN("payload.missing", msg, NULL, "undefined");
    CHECK_RUN("$sum(payload.items.p)", msg, NULL, "4");
    CHECK_RUN("payload.items.p", msg, NULL, "[1.5,2.5]");
    CHECK_RUN("payload.items[0].p", msg, NULL, "1.5");
    CHECK_RUN("payload.items[p>2].p[]", msg, NULL, "[2.5]");
    CHECK_RUN("{\"x\": payload.a, \"t\": topic}", msg, NULL, "{\"x\":5,\"t\":\"t\"}");
    CHECK_RUN("$length(\"h\\u00e9llo\")", NULL, NULL, "5");
    CHECK_RUN("$string(0.1 + 0.2)", NULL, NULL, "\"0.3\"");
    CHECK_RUN("payload.a + \"x\"", msg, NULL, "error T2002");
    CHECK_RUN("$", NULL, NULL, "undefined");
}

static void test_bindings(void)
{
    struct ef_val *b = json("{\"x\": 10, \"name\": \"bob\"}");
    struct ef_jsonata_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.bindings = b;
    CHECK_RUN("$x * 2", NULL, &opts, "20");
    CHECK_RUN("$uppercase($name)", NULL, &opts, "\"BOB\"");
    CHECK_RUN("($x := 1; $x)", NULL, &opts, "1");
    CHECK_RUN("$x", NULL, &opts, "10");
    ef_val_unref(b);
}

static int native_add(void *ud, struct ef_val *const *args, size_t nargs, struct ef_val **out,
                      char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    double base = ud ? *(double *)ud : 0;
    double t = base;
    for (size_t i = 0; i < nargs; i++) {
        t += args[i] ? ef_val_num_get(args[i]) : 0;
    }
    *out = ef_val_num(t);
    return 0;
}

static int native_fail(void *ud, struct ef_val *const *args, size_t nargs, struct ef_val **out,
                       char *err, size_t errlen)
{
    (void)ud;
    (void)args;
    (void)nargs;
    (void)out;
    snprintf(err, errlen, "E1234: flow context not available");
    return -1;
}

static int native_echo(void *ud, struct ef_val *const *args, size_t nargs, struct ef_val **out,
                       char *err, size_t errlen)
{
    (void)ud;
    (void)err;
    (void)errlen;
    *out = nargs > 0 ? ef_val_ref(args[0]) : NULL;
    return 0;
}

static void test_natives(void)
{
    double base = 100;
    struct ef_jsonata_native nat[] = {
        {"add", "<nn?:n>", native_add, &base},
        {"fail", NULL, native_fail, NULL},
        {"echo", "<x-:x>", native_echo, NULL},
    };
    struct ef_jsonata_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.natives = nat;
    opts.nnatives = 3;
    CHECK_RUN("$add(1, 2)", NULL, &opts, "103");
    CHECK_RUN("$add(1)", NULL, &opts, "101");
    CHECK_RUN("$add(\"x\")", NULL, &opts, "error T0410");
    CHECK_RUN("$map([1,2], $add)", NULL, &opts, "[101,103]");
    CHECK_RUN("$fail()", NULL, &opts, "error E1234");
    CHECK_RUN("payload.$echo()", "{\"payload\":\"ctx\"}", &opts, "\"ctx\"");

    struct ef_jsonata *e = ef_jsonata_compile("$fail()", NULL, 0);
    struct ef_val *out = NULL;
    struct ef_jsonata_error je;
    CU_ASSERT_EQUAL(ef_jsonata_eval(e, NULL, &opts, &out, &je), -1);
    CU_ASSERT_PTR_NULL(out);
    CU_ASSERT_STRING_EQUAL(je.message, "flow context not available");
    ef_jsonata_free(e);
}

static void test_limits(void)
{
    struct ef_jsonata_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.max_depth = 50;
    CHECK_RUN("($f := function($n){$n = 0 ? 0 : 1 + $f($n - 1)}; $f(1000))", NULL, &opts,
              "error U1001");
    /* tail calls run in constant depth */
    CHECK_RUN("($f := function($n, $a){$n = 0 ? $a : $f($n - 1, $a + 1)}; $f(2000, 0))", NULL,
              &opts, "2000");
    memset(&opts, 0, sizeof(opts));
    opts.timeout_ms = 50;
    CHECK_RUN("($f := function($n){$f($n + 1)}; $f(0))", NULL, &opts, "error U1001");
    /* without limits, deep recursion still ends with an error, not a crash */
    CHECK_RUN("($f := function($n){1 + $f($n + 1)}; $f(0))", NULL, NULL, "error U1001");
    CHECK_RUN("[1..100000000]", NULL, NULL, "error D2014");
}

static void test_errors_and_functions(void)
{
    struct ef_jsonata *e = ef_jsonata_compile("$error(\"boom\")", NULL, 0);
    struct ef_val *out = NULL;
    struct ef_jsonata_error je;
    CU_ASSERT_EQUAL(ef_jsonata_eval(e, NULL, NULL, &out, &je), -1);
    CU_ASSERT_STRING_EQUAL(je.code, "D3137");
    CU_ASSERT_STRING_EQUAL(je.message, "boom");
    ef_jsonata_free(e);

    e = ef_jsonata_compile("function($x){$x}", NULL, 0);
    CU_ASSERT_EQUAL(ef_jsonata_eval(e, NULL, NULL, &out, &je), 0);
    CU_ASSERT_PTR_NOT_NULL(out);
    CU_ASSERT_EQUAL(ef_val_type(out), EF_HANDLE);
    CU_ASSERT_PTR_EQUAL(ef_val_handle_type(out), &ef_jsonata_function_type);
    ef_val_unref(out);
    ef_jsonata_free(e);

    /* a function value outliving its evaluation (and its expression) is inert */
    e = ef_jsonata_compile("{\"f\": function($x){$x}, \"r\": /a/}", NULL, 0);
    CU_ASSERT_EQUAL(ef_jsonata_eval(e, NULL, NULL, &out, &je), 0);
    ef_jsonata_free(e);
    struct ef_jsonata_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.bindings = out;
    CHECK_RUN("$f(1)", NULL, &opts, "error T1006");
    CHECK_RUN("$match(\"a\", $r)", NULL, &opts, "error T1006");
    CHECK_RUN("$type($f)", NULL, &opts, "\"function\"");
    ef_val_unref(out);

    /* one compiled expression, many evaluations */
    e = ef_jsonata_compile("$count(payload)", NULL, 0);
    for (int i = 0; i < 100; i++) {
        struct ef_val *in = json("{\"payload\":[1,2,3]}");
        CU_ASSERT_EQUAL(ef_jsonata_eval(e, in, NULL, &out, NULL), 0);
        CU_ASSERT_EQUAL(ef_val_num_get(out), 3);
        ef_val_unref(out);
        ef_val_unref(in);
    }
    ef_jsonata_free(e);
}

int init_jsonata_tests(void)
{
    CU_pSuite s = CU_add_suite("jsonata", NULL, NULL);
    if (!s || !CU_add_test(s, "compile errors", test_compile_errors) ||
        !CU_add_test(s, "evaluation", test_eval_basics) ||
        !CU_add_test(s, "bindings", test_bindings) || !CU_add_test(s, "natives", test_natives) ||
        !CU_add_test(s, "limits", test_limits) ||
        !CU_add_test(s, "errors and functions", test_errors_and_functions)) {
        return 1;
    }
    return 0;
}
