/*
 * fuzz_http_body.c - the request parsing of http in (runtime/http_routes.c),
 * which edgeflow writes itself rather than leaving to libwebsockets: the
 * query string and urlencoded bodies with nested keys (qs), cookies, the
 * Content-Type's media type and parameters, multipart/form-data uploads
 * and the UTF-8 decoding of text bodies.
 *
 * The file is compiled into this target (its parsers are static), which
 * then stands in for http_routes.o of edgeflow_core.
 *
 * Input: the first line is a Content-Type value, the rest the body. The
 * body goes through every parser (the Content-Type's boundary, if any, is
 * used for multipart); each result must print as JSON.
 */
#include "../../runtime/http_routes.c"

static void check_json(struct ef_val *v, const char *what)
{
    if (!v) {
        return;
    }
    size_t len = 0;
    char *text = ef_json_print(v, 0, &len);
    if (!text) {
        fprintf(stderr, "fuzz_http_body: %s does not print as JSON\n", what);
        abort();
    }
    free(text);
    ef_val_unref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nl = memchr(data, '\n', size);
    size_t ctl = nl ? (size_t)(nl - (const char *)data) : 0;
    size_t off = nl ? ctl + 1 : 0;
    char *ct = strndup((const char *)data, ctl); /* stops at a NUL, as a header value would */
    size_t len = size - off;
    char *body = malloc(len + 1); /* server.c keeps request bodies NUL-terminated */
    memcpy(body, data + off, len);
    body[len] = '\0';

    char mt[128], boundary[200];
    media_type(ct, mt, sizeof(mt));
    if (ct_param(ct, "boundary", boundary, sizeof(boundary))) {
        struct ef_val *fields = ef_val_obj(), *files = ef_val_arr();
        if (parse_multipart(body, len, boundary, fields, files) == 0) {
            qs_compact(fields);
        }
        check_json(fields, "multipart fields");
        check_json(files, "multipart files");
    }
    check_json(qs_parse(body, len), "a urlencoded body");
    check_json(parse_cookies(body), "cookies");
    check_json(js__utf8_decode(body, len), "a text body");
    size_t dl;
    free(srv_pct_decode(body, len, true, true, &dl));
    free(ct);
    free(body);
    return 0;
}
