/*
 * functions.h - the built-in function table of the JSONata evaluator: one
 * X-macro line per function (JSONata name, C name, signature), used to
 * declare the implementations and to build jsonata__builtins[].
 */
#ifndef EF_JSONATA_FUNCTIONS_H
#define EF_JSONATA_FUNCTIONS_H

#include "internal.h"

/* The i-th argument of a built-in call, or NULL (undefined). */
#define ARG(i) ((i) < n ? a[(i)].v : NULL)

#define JSONATA_BUILTINS(X)                                                                        \
    X("sum", sum, "<a<n>:n>")                                                                      \
    X("count", count, "<a:n>")                                                                     \
    X("max", max, "<a<n>:n>")                                                                      \
    X("min", min, "<a<n>:n>")                                                                      \
    X("average", average, "<a<n>:n>")                                                              \
    X("string", string, "<x-b?:s>")                                                                \
    X("substring", substring, "<s-nn?:s>")                                                         \
    X("substringBefore", substring_before, "<s-s:s>")                                              \
    X("substringAfter", substring_after, "<s-s:s>")                                                \
    X("lowercase", lowercase, "<s-:s>")                                                            \
    X("uppercase", uppercase, "<s-:s>")                                                            \
    X("length", length, "<s-:n>")                                                                  \
    X("trim", trim, "<s-:s>")                                                                      \
    X("pad", pad, "<s-ns?:s>")                                                                     \
    X("match", match, "<s-f<s:o>n?:a<o>>")                                                         \
    X("contains", contains, "<s-(sf):b>")                                                          \
    X("replace", replace, "<s-(sf)(sf)n?:s>")                                                      \
    X("split", split, "<s-(sf)n?:a<s>>")                                                           \
    X("join", join, "<a<s>s?:s>")                                                                  \
    X("formatNumber", format_number, "<n-so?:s>")                                                  \
    X("formatBase", format_base, "<n-n?:s>")                                                       \
    X("formatInteger", format_integer, "<n-s:s>")                                                  \
    X("parseInteger", parse_integer, "<s-s:n>")                                                    \
    X("number", number, "<(nsb)-:n>")                                                              \
    X("floor", floor, "<n-:n>")                                                                    \
    X("ceil", ceil, "<n-:n>")                                                                      \
    X("round", round, "<n-n?:n>")                                                                  \
    X("abs", abs, "<n-:n>")                                                                        \
    X("sqrt", sqrt, "<n-:n>")                                                                      \
    X("power", power, "<n-n:n>")                                                                   \
    X("random", random, "<:n>")                                                                    \
    X("boolean", boolean, "<x-:b>")                                                                \
    X("not", not, "<x-:b>")                                                                        \
    X("map", map, "<af>")                                                                          \
    X("zip", zip, "<a+>")                                                                          \
    X("filter", filter, "<af>")                                                                    \
    X("single", single, "<af?>")                                                                   \
    X("reduce", reduce, "<afj?:j>")                                                                \
    X("sift", sift, "<o-f?:o>")                                                                    \
    X("keys", keys, "<x-:a<s>>")                                                                   \
    X("lookup", lookup, "<x-s:x>")                                                                 \
    X("append", append, "<xx:a>")                                                                  \
    X("exists", exists, "<x:b>")                                                                   \
    X("spread", spread, "<x-:a<o>>")                                                               \
    X("merge", merge, "<a<o>:o>")                                                                  \
    X("reverse", reverse, "<a:a>")                                                                 \
    X("each", each, "<o-f:a>")                                                                     \
    X("error", error, "<s?:x>")                                                                    \
    X("assert", assert, "<bs?:x>")                                                                 \
    X("type", type, "<x:s>")                                                                       \
    X("sort", sort, "<af?:a>")                                                                     \
    X("shuffle", shuffle, "<a:a>")                                                                 \
    X("distinct", distinct, "<x:x>")                                                               \
    X("base64encode", base64encode, "<s-:s>")                                                      \
    X("base64decode", base64decode, "<s-:s>")                                                      \
    X("encodeUrlComponent", encode_url_component, "<s-:s>")                                        \
    X("encodeUrl", encode_url, "<s-:s>")                                                           \
    X("decodeUrlComponent", decode_url_component, "<s-:s>")                                        \
    X("decodeUrl", decode_url, "<s-:s>")                                                           \
    X("eval", eval, "<sx?:x>")                                                                     \
    X("toMillis", to_millis, "<s-s?:n>")                                                           \
    X("fromMillis", from_millis, "<n-s?s?:s>")                                                     \
    X("clone", clone, "<(oa)-:o>")                                                                 \
    X("now", now, "<s?s?:s>")                                                                      \
    X("millis", millis, "<:n>")

#define JSONATA_DECLARE(name, cname, sig)                                                          \
    int jsonata__fn_##cname(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,     \
                            struct jsonata__env *env, struct jv *out);
JSONATA_BUILTINS(JSONATA_DECLARE)
#undef JSONATA_DECLARE

#endif
