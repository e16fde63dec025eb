/*
 * js.h - JavaScript semantics nodes need (change, switch, typed inputs):
 * RegExp on PCRE2 (compiled with options that make it behave like
 * JavaScript's, with V8's error texts for the common syntax errors),
 * String.prototype.replace with `$1`/`$&`/`$<name>` patterns, and the
 * String()/Number() conversions and comparison operators (==, <, ...) that
 * Node-RED's JavaScript gets for free.
 */
#ifndef EF_JS_H
#define EF_JS_H

#include <stdbool.h>
#include <stddef.h>

#include <edgeflow/val.h>

struct js_regex;

/*
 * Compiles `src` (len bytes) as new RegExp(src, flags), where flags is ""
 * or "i" (case-insensitive) or "g" (only used in error texts and for
 * replace-all). Returns NULL with V8's message in err, e.g.
 * "Invalid regular expression: /(/: Unterminated group".
 */
struct js_regex *js__regex_new(const char *src, size_t len, const char *flags, char *err,
                               size_t errlen);
void js__regex_free(struct js_regex *re);
/* JIT-compiles a pcre2_code for speed (not under valgrind, which cannot follow it). */
void js__regex_jit(void *code);
/* 1 when re matches somewhere in s, 0 when not. */
int js__regex_test(struct js_regex *re, const char *s, size_t len);
/*
 * s.replace(re, rep): every match when the regex was made with "g", else
 * the first. Returns a malloc'ed NUL-terminated string (length in *outlen)
 * or NULL on OOM.
 */
char *js__regex_replace(struct js_regex *re, const char *s, size_t len, const char *rep,
                        size_t replen, size_t *outlen);
/*
 * Escapes the characters -[]{}()*+?.,\^$|# and whitespace with a
 * backslash, as Node-RED does to search for a literal string. Malloc'ed.
 */
char *js__regex_escape(const char *s, size_t len, size_t *outlen);

/* The RegExp source text of a `re` typed value, or NULL if v is not one. */
const char *js__regexp_source(const struct ef_val *v);

/*
 * A context key with its [msg.x] references replaced by their values, as
 * normalisePropertyExpression(key, msg, true) does. Malloc'ed; NULL on OOM.
 */
struct ef_msg;
char *js__resolve_ctx_key(const char *key, const struct ef_msg *msg);

/*
 * "Invalid JSONata expression: " unless err (from a jsonata typed input)
 * already starts with it, as compile errors do.
 */
const char *js__jsonata_prefix(const char *err);

/* ---- JavaScript conversions; v == NULL is undefined ---- */

/* String(v) / "" + v. Malloc'ed, length in *len; NULL on OOM. */
char *js__to_string(const struct ef_val *v, size_t *len);
/* The length of a UTF-8 string in UTF-16 code units (JavaScript's .length). */
size_t js__utf16_length(const char *s, size_t len);
/* parseInt(v, 10): NaN unless it starts (after whitespace) with an integer. */
double js__parse_int(const struct ef_val *v);
/* Number(v). */
double js__to_number(const struct ef_val *v);
/* typeof v as JavaScript reports it ("undefined", "object", ...). */
const char *js__typeof(const struct ef_val *v);
/* a == b (loose equality). */
bool js__loose_eq(const struct ef_val *a, const struct ef_val *b);
/* Abstract relational comparison: op is '<', 'l' (<=), '>', 'g' (>=). */
bool js__compare(const struct ef_val *a, const struct ef_val *b, char op);
/*
 * Buffer.toString('utf8'): bytes as UTF-8 text, each invalid or truncated
 * sequence (its maximal valid prefix) becoming U+FFFD as the WHATWG decoder
 * does. Returns a new string value, NULL on OOM.
 */
struct ef_val *js__utf8_decode(const void *data, size_t len);

#endif
