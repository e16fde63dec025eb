/*
 * schema.c - checking a tool's JSON Schema and validating a model's tool
 * arguments against it (the subset listed in schema.h). Messages name the
 * offending place as a property path from the root ("arguments.items[2]") so
 * the model can correct its call.
 */
#include <math.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <edgeflow/err.h>

#include "schema.h"

/* A place in the value (or schema) being walked, built up as we descend. */
struct place {
    char text[512];
    size_t len;
};

static size_t place_push_key(struct place *p, const char *key)
{
    size_t old = p->len;
    bool ident = *key != '\0';
    for (const char *c = key; *c; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_' || *c == '$' ||
              (c != key && *c >= '0' && *c <= '9'))) {
            ident = false;
            break;
        }
    }
    int w =
        ident ? snprintf(p->text + p->len, sizeof(p->text) - p->len, "%s%s", p->len ? "." : "", key)
              : snprintf(p->text + p->len, sizeof(p->text) - p->len, "[\"%s\"]", key);
    if (w > 0) {
        p->len += (size_t)w < sizeof(p->text) - p->len ? (size_t)w : sizeof(p->text) - p->len - 1;
    }
    return old;
}

static size_t place_push_index(struct place *p, size_t i)
{
    size_t old = p->len;
    int w = snprintf(p->text + p->len, sizeof(p->text) - p->len, "[%zu]", i);
    if (w > 0) {
        p->len += (size_t)w < sizeof(p->text) - p->len ? (size_t)w : sizeof(p->text) - p->len - 1;
    }
    return old;
}

static void place_pop(struct place *p, size_t old)
{
    p->len = old;
    p->text[old] = '\0';
}

static int fail(char *err, size_t errlen, const struct place *p, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, const struct place *p, const char *fmt, ...)
{
    int w = snprintf(err, errlen, "%s: ", p->len ? p->text : "schema");
    if (w >= 0 && (size_t)w < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + w, errlen - (size_t)w, fmt, ap);
        va_end(ap);
    }
    return EF_EINVAL;
}

/* ---- Checking the schema ---- */

static const char *const type_names[] = {"object",  "array",   "string", "number",
                                         "integer", "boolean", "null",   NULL};

static bool known_type(const struct ef_val *t)
{
    if (ef_val_type(t) != EF_STR) {
        return false;
    }
    for (size_t i = 0; type_names[i]; i++) {
        if (!strcmp(ef_val_str_get(t), type_names[i])) {
            return true;
        }
    }
    return false;
}

static bool is_annotation(const char *k)
{
    static const char *const names[] = {"title",   "description", "default",  "examples", "format",
                                        "$schema", "$id",         "$comment", NULL};
    for (size_t i = 0; names[i]; i++) {
        if (!strcmp(k, names[i])) {
            return true;
        }
    }
    return false;
}

static bool is_count(const struct ef_val *v)
{
    double d = ef_val_num_get(v);
    return ef_val_type(v) == EF_NUM && d >= 0 && d == floor(d) && d < 9007199254740992.0;
}

static void note_unsupported(char *out, size_t outlen, const struct place *p, const char *k)
{
    if (!out || !outlen) {
        return;
    }
    size_t used = strlen(out);
    if (used + 1 >= outlen) {
        return;
    }
    snprintf(out + used, outlen - used, "%s%s%s%s", used ? ", " : "", p->len ? p->text : "",
             p->len ? "." : "", k);
}

static int check_node(const struct ef_val *s, struct place *p, char *err, size_t errlen, char *uns,
                      size_t unslen, int depth)
{
    if (depth > 64) {
        return fail(err, errlen, p, "nested too deeply");
    }
    if (ef_val_type(s) == EF_BOOL) {
        return 0; /* true: anything; false: nothing */
    }
    if (ef_val_type(s) != EF_OBJ) {
        return fail(err, errlen, p, "a schema must be an object, got %s",
                    ef_type_name(ef_val_type(s)));
    }
    for (size_t i = 0; i < ef_val_obj_len(s); i++) {
        const char *k = ef_val_obj_key_at(s, i, NULL);
        const struct ef_val *v = ef_val_obj_val_at(s, i);
        size_t old = place_push_key(p, k);
        int rc = 0;
        if (!strcmp(k, "type")) {
            if (ef_val_type(v) == EF_ARR) {
                for (size_t j = 0; j < ef_val_arr_len(v) && !rc; j++) {
                    if (!known_type(ef_val_arr_at(v, j))) {
                        rc = fail(err, errlen, p, "unknown type at index %zu", j);
                    }
                }
            } else if (!known_type(v)) {
                rc = fail(err, errlen, p,
                          "must be object, array, string, number, integer, boolean or null");
            }
        } else if (!strcmp(k, "enum")) {
            if (ef_val_type(v) != EF_ARR) {
                rc = fail(err, errlen, p, "must be an array");
            }
        } else if (!strcmp(k, "const")) {
            /* any value */
        } else if (!strcmp(k, "properties")) {
            if (ef_val_type(v) != EF_OBJ) {
                rc = fail(err, errlen, p, "must be an object");
            }
            for (size_t j = 0; !rc && j < ef_val_obj_len(v); j++) {
                size_t o2 = place_push_key(p, ef_val_obj_key_at(v, j, NULL));
                rc = check_node(ef_val_obj_val_at(v, j), p, err, errlen, uns, unslen, depth + 1);
                place_pop(p, o2);
            }
        } else if (!strcmp(k, "required")) {
            if (ef_val_type(v) != EF_ARR) {
                rc = fail(err, errlen, p, "must be an array of property names");
            }
            for (size_t j = 0; !rc && j < ef_val_arr_len(v); j++) {
                if (ef_val_type(ef_val_arr_at(v, j)) != EF_STR) {
                    rc = fail(err, errlen, p, "entry %zu is not a string", j);
                }
            }
        } else if (!strcmp(k, "additionalProperties") || !strcmp(k, "items")) {
            if (ef_val_type(v) == EF_ARR) {
                rc = fail(err, errlen, p, "a list of schemas (tuple form) is not supported");
            } else {
                rc = check_node(v, p, err, errlen, uns, unslen, depth + 1);
            }
        } else if (!strcmp(k, "minItems") || !strcmp(k, "maxItems") || !strcmp(k, "minLength") ||
                   !strcmp(k, "maxLength")) {
            if (!is_count(v)) {
                rc = fail(err, errlen, p, "must be a non-negative integer");
            }
        } else if (!strcmp(k, "minimum") || !strcmp(k, "maximum") ||
                   !strcmp(k, "exclusiveMinimum") || !strcmp(k, "exclusiveMaximum")) {
            if (ef_val_type(v) != EF_NUM) {
                rc = fail(err, errlen, p, "must be a number");
            }
        } else if (!is_annotation(k)) {
            place_pop(p, old);
            note_unsupported(uns, unslen, p, k);
            continue;
        }
        place_pop(p, old);
        if (rc) {
            return rc;
        }
    }
    return 0;
}

int schema__check(const struct ef_val *schema, char *err, size_t errlen, char *unsupported,
                  size_t unsupported_len)
{
    struct place p = {.len = 0};
    p.text[0] = '\0';
    if (unsupported && unsupported_len) {
        unsupported[0] = '\0';
    }
    if (ef_val_type(schema) != EF_OBJ) {
        snprintf(err, errlen, "the schema must be an object, got %s",
                 ef_type_name(ef_val_type(schema)));
        return EF_EINVAL;
    }
    return check_node(schema, &p, err, errlen, unsupported, unsupported_len, 0);
}

/* ---- Validating a value ---- */

/* The JSON Schema type name of v ("integer" for whole numbers). */
static const char *json_type(const struct ef_val *v)
{
    switch (ef_val_type(v)) {
    case EF_NULL: return "null";
    case EF_BOOL: return "boolean";
    case EF_NUM: {
        double d = ef_val_num_get(v);
        return isfinite(d) && d == floor(d) ? "integer" : "number";
    }
    case EF_STR: return "string";
    case EF_ARR: return "array";
    case EF_OBJ: return "object";
    default: return "unsupported value";
    }
}

static bool type_matches(const char *want, const struct ef_val *v)
{
    const char *have = json_type(v);
    return !strcmp(want, have) || (!strcmp(want, "number") && !strcmp(have, "integer"));
}

/* Number of Unicode code points in UTF-8 text (JSON Schema counts these). */
static size_t utf8_count(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            n++;
        }
    }
    return n;
}

/* Writes a short JSON rendering of v (for messages) into buf. */
static void short_json(const struct ef_val *v, char *buf, size_t len)
{
    char *j = ef_json_print(v, 0, NULL);
    if (!j) {
        snprintf(buf, len, "?");
        return;
    }
    if (strlen(j) >= len && len > 4) {
        snprintf(buf, len, "%.*s...", (int)(len - 4), j);
    } else {
        snprintf(buf, len, "%s", j);
    }
    free(j);
}

static int validate_node(const struct ef_val *s, const struct ef_val *v, struct place *p, char *err,
                         size_t errlen);

static int check_type(const struct ef_val *t, const struct ef_val *v, struct place *p, char *err,
                      size_t errlen)
{
    if (ef_val_type(t) == EF_STR) {
        if (!type_matches(ef_val_str_get(t), v)) {
            return fail(err, errlen, p, "expected %s, got %s", ef_val_str_get(t), json_type(v));
        }
        return 0;
    }
    char names[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < ef_val_arr_len(t); i++) {
        const char *name = ef_val_str_get(ef_val_arr_at(t, i));
        if (type_matches(name, v)) {
            return 0;
        }
        int w = snprintf(names + used, sizeof(names) - used, "%s%s", i ? " or " : "", name);
        if (w > 0 && (size_t)w < sizeof(names) - used) {
            used += (size_t)w;
        }
    }
    return fail(err, errlen, p, "expected %s, got %s", names, json_type(v));
}

static int check_enum(const struct ef_val *e, const struct ef_val *v, struct place *p, char *err,
                      size_t errlen)
{
    char list[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < ef_val_arr_len(e); i++) {
        if (ef_val_equal(ef_val_arr_at(e, i), v)) {
            return 0;
        }
        char one[64];
        short_json(ef_val_arr_at(e, i), one, sizeof(one));
        int w = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", one);
        if (w > 0 && (size_t)w < sizeof(list) - used) {
            used += (size_t)w;
        }
    }
    return fail(err, errlen, p, "must be one of %s", list);
}

static int check_object(const struct ef_val *s, const struct ef_val *v, struct place *p, char *err,
                        size_t errlen)
{
    const struct ef_val *props = ef_val_obj_get(s, "properties");
    const struct ef_val *req = ef_val_obj_get(s, "required");
    const struct ef_val *addl = ef_val_obj_get(s, "additionalProperties");
    for (size_t i = 0; i < ef_val_arr_len(req); i++) {
        const char *name = ef_val_str_get(ef_val_arr_at(req, i));
        if (!ef_val_obj_get(v, name)) {
            return fail(err, errlen, p, "missing required property '%s'", name);
        }
    }
    for (size_t i = 0; i < ef_val_obj_len(v); i++) {
        size_t klen;
        const char *k = ef_val_obj_key_at(v, i, &klen);
        const struct ef_val *sub = props ? ef_val_obj_getn(props, k, klen) : NULL;
        if (!sub) {
            sub = addl;
        }
        if (!sub) {
            continue;
        }
        size_t old = place_push_key(p, k);
        int rc;
        if (ef_val_type(sub) == EF_BOOL && !ef_val_bool_get(sub) && sub == addl) {
            place_pop(p, old);
            rc = fail(err, errlen, p, "unexpected property '%s'", k);
        } else {
            rc = validate_node(sub, ef_val_obj_val_at(v, i), p, err, errlen);
            place_pop(p, old);
        }
        if (rc) {
            return rc;
        }
    }
    return 0;
}

static int check_array(const struct ef_val *s, const struct ef_val *v, struct place *p, char *err,
                       size_t errlen)
{
    size_t n = ef_val_arr_len(v);
    const struct ef_val *min = ef_val_obj_get(s, "minItems");
    const struct ef_val *max = ef_val_obj_get(s, "maxItems");
    if (min && (double)n < ef_val_num_get(min)) {
        return fail(err, errlen, p, "must have at least %g items, has %zu", ef_val_num_get(min), n);
    }
    if (max && (double)n > ef_val_num_get(max)) {
        return fail(err, errlen, p, "must have at most %g items, has %zu", ef_val_num_get(max), n);
    }
    const struct ef_val *items = ef_val_obj_get(s, "items");
    for (size_t i = 0; items && i < n; i++) {
        size_t old = place_push_index(p, i);
        int rc = validate_node(items, ef_val_arr_at(v, i), p, err, errlen);
        place_pop(p, old);
        if (rc) {
            return rc;
        }
    }
    return 0;
}

static int check_string(const struct ef_val *s, const struct ef_val *v, struct place *p, char *err,
                        size_t errlen)
{
    size_t n = utf8_count(ef_val_str_get(v), ef_val_str_len(v));
    const struct ef_val *min = ef_val_obj_get(s, "minLength");
    const struct ef_val *max = ef_val_obj_get(s, "maxLength");
    if (min && (double)n < ef_val_num_get(min)) {
        return fail(err, errlen, p, "must be at least %g characters long", ef_val_num_get(min));
    }
    if (max && (double)n > ef_val_num_get(max)) {
        return fail(err, errlen, p, "must be at most %g characters long", ef_val_num_get(max));
    }
    return 0;
}

static int check_number(const struct ef_val *s, const struct ef_val *v, struct place *p, char *err,
                        size_t errlen)
{
    double d = ef_val_num_get(v);
    const struct ef_val *b;
    if ((b = ef_val_obj_get(s, "minimum")) && !(d >= ef_val_num_get(b))) {
        return fail(err, errlen, p, "must be >= %g", ef_val_num_get(b));
    }
    if ((b = ef_val_obj_get(s, "maximum")) && !(d <= ef_val_num_get(b))) {
        return fail(err, errlen, p, "must be <= %g", ef_val_num_get(b));
    }
    if ((b = ef_val_obj_get(s, "exclusiveMinimum")) && !(d > ef_val_num_get(b))) {
        return fail(err, errlen, p, "must be > %g", ef_val_num_get(b));
    }
    if ((b = ef_val_obj_get(s, "exclusiveMaximum")) && !(d < ef_val_num_get(b))) {
        return fail(err, errlen, p, "must be < %g", ef_val_num_get(b));
    }
    return 0;
}

static int validate_node(const struct ef_val *s, const struct ef_val *v, struct place *p, char *err,
                         size_t errlen)
{
    if (ef_val_type(s) == EF_BOOL) {
        return ef_val_bool_get(s) ? 0 : fail(err, errlen, p, "no value is allowed here");
    }
    const struct ef_val *t = ef_val_obj_get(s, "type");
    int rc = 0;
    if (t && (rc = check_type(t, v, p, err, errlen)) != 0) {
        return rc;
    }
    const struct ef_val *e = ef_val_obj_get(s, "enum");
    if (e && (rc = check_enum(e, v, p, err, errlen)) != 0) {
        return rc;
    }
    const struct ef_val *c = ef_val_obj_get(s, "const");
    if (c && !ef_val_equal(c, v)) {
        char one[64];
        short_json(c, one, sizeof(one));
        return fail(err, errlen, p, "must be %s", one);
    }
    switch (ef_val_type(v)) {
    case EF_OBJ: return check_object(s, v, p, err, errlen);
    case EF_ARR: return check_array(s, v, p, err, errlen);
    case EF_STR: return check_string(s, v, p, err, errlen);
    case EF_NUM: return check_number(s, v, p, err, errlen);
    default: return 0;
    }
}

int schema__validate(const struct ef_val *schema, const struct ef_val *v, const char *root,
                     char *err, size_t errlen)
{
    struct place p = {.len = 0};
    p.text[0] = '\0';
    place_push_key(&p, root && *root ? root : "value");
    return validate_node(schema, v, &p, err, errlen);
}
