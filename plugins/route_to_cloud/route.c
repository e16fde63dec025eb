/*
 * route.c - route-to-cloud's policy: the rules that pick a route for a
 * message (local, onprem or cloud), and the data classification step that
 * keeps sensitive fields from leaving (redact, hash or keep local).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "rtc.h"

static const char *const route_names[] = {"local", "onprem", "cloud"};
static const char *const op_names[] = {"always", "eq", "neq",    "lt",      "lte",   "gt",
                                       "gte",    "in", "exists", "nexists", "prefix"};
static const char *const action_names[] = {"local", "redact", "hash"};

int rtc_route_parse(const char *s, enum rtc_route *out)
{
    for (int i = 0; i < 3; i++) {
        if (!strcmp(s, route_names[i])) {
            *out = (enum rtc_route)i;
            return 0;
        }
    }
    return EF_EINVAL;
}

const char *rtc_route_name(enum rtc_route r)
{
    return route_names[r];
}

int rtc_action_parse(const char *s, enum rtc_action *out)
{
    for (int i = 0; i < 3; i++) {
        if (!strcmp(s, action_names[i])) {
            *out = (enum rtc_action)i;
            return 0;
        }
    }
    return EF_EINVAL;
}

void rtc_paths_free(struct rtc_paths *p)
{
    for (size_t i = 0; i < p->n; i++) {
        ef_path_free(p->v[i]);
    }
    free(p->v);
    p->v = NULL;
    p->n = 0;
}

int rtc_paths_parse(const struct ef_val *arr, struct rtc_paths *out, const char *what, char *err,
                    size_t errlen)
{
    out->v = NULL;
    out->n = 0;
    if (!arr || ef_val_type(arr) == EF_NULL) {
        return 0;
    }
    if (ef_val_type(arr) != EF_ARR) {
        snprintf(err, errlen, "%s must be an array of property paths", what);
        return EF_EINVAL;
    }
    size_t n = ef_val_arr_len(arr);
    out->v = calloc(n ? n : 1, sizeof(*out->v));
    if (!out->v) {
        snprintf(err, errlen, "out of memory");
        return EF_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const struct ef_val *e = ef_val_arr_at(arr, i);
        char perr[160];
        if (ef_val_type(e) != EF_STR || !ef_val_str_len(e)) {
            snprintf(err, errlen, "%s[%zu] must be a non-empty string", what, i);
            rtc_paths_free(out);
            return EF_EINVAL;
        }
        const char *t = ef_val_str_get(e);
        if (!strncmp(t, "msg.", 4)) {
            t += 4;
        }
        struct ef_path *p = ef_path_parse(t, perr, sizeof(perr));
        if (!p) {
            snprintf(err, errlen, "%s[%zu] \"%s\": %s", what, i, ef_val_str_get(e), perr);
            rtc_paths_free(out);
            return EF_EINVAL;
        }
        out->v[out->n++] = p;
    }
    return 0;
}

void rtc_rules_free(struct rtc_rule *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ef_path_free(r[i].prop);
        ef_val_unref(r[i].value);
        rtc_paths_free(&r[i].sensitive);
    }
    free(r);
}

int rtc_rules_parse(const struct ef_val *arr, struct rtc_rule **out, size_t *nout, char *err,
                    size_t errlen)
{
    *out = NULL;
    *nout = 0;
    if (!arr || ef_val_type(arr) == EF_NULL) {
        return 0;
    }
    if (ef_val_type(arr) != EF_ARR) {
        snprintf(err, errlen, "rules must be an array of rule objects");
        return EF_EINVAL;
    }
    size_t n = ef_val_arr_len(arr);
    struct rtc_rule *rules = calloc(n ? n : 1, sizeof(*rules));
    if (!rules) {
        snprintf(err, errlen, "out of memory");
        return EF_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const struct ef_val *o = ef_val_arr_at(arr, i);
        struct rtc_rule *r = &rules[i];
        char what[64];
        *nout = i + 1;
        if (ef_val_type(o) != EF_OBJ) {
            snprintf(err, errlen, "rules[%zu] must be an object", i);
            goto fail;
        }
        const struct ef_val *v = ef_val_obj_get(o, "route");
        if (ef_val_type(v) != EF_STR || rtc_route_parse(ef_val_str_get(v), &r->route) != 0) {
            snprintf(err, errlen, "rules[%zu].route must be \"local\", \"onprem\" or \"cloud\"", i);
            goto fail;
        }
        v = ef_val_obj_get(o, "property");
        const struct ef_val *opv = ef_val_obj_get(o, "op");
        r->op = v ? RTC_OP_EQ : RTC_OP_ALWAYS;
        if (opv) {
            bool found = false;
            for (int k = 0; k < (int)(sizeof(op_names) / sizeof(op_names[0])); k++) {
                if (ef_val_type(opv) == EF_STR && !strcmp(ef_val_str_get(opv), op_names[k])) {
                    r->op = (enum rtc_op)k;
                    found = true;
                }
            }
            if (!found) {
                snprintf(err, errlen,
                         "rules[%zu].op must be one of always, eq, neq, lt, lte, gt, gte, in, "
                         "exists, nexists, prefix",
                         i);
                goto fail;
            }
        }
        if (r->op != RTC_OP_ALWAYS) {
            char perr[160];
            if (ef_val_type(v) != EF_STR || !ef_val_str_len(v)) {
                snprintf(err, errlen, "rules[%zu].property must be a message property path", i);
                goto fail;
            }
            const char *t = ef_val_str_get(v);
            if (!strncmp(t, "msg.", 4)) {
                t += 4;
            }
            r->prop = ef_path_parse(t, perr, sizeof(perr));
            if (!r->prop) {
                snprintf(err, errlen, "rules[%zu].property: %s", i, perr);
                goto fail;
            }
            v = ef_val_obj_get(o, "value");
            if (r->op != RTC_OP_EXISTS && r->op != RTC_OP_NEXISTS && !v) {
                snprintf(err, errlen, "rules[%zu].value is required for op %s", i, op_names[r->op]);
                goto fail;
            }
            if ((r->op == RTC_OP_IN && ef_val_type(v) != EF_ARR) ||
                (r->op == RTC_OP_PREFIX && ef_val_type(v) != EF_STR) ||
                (r->op >= RTC_OP_LT && r->op <= RTC_OP_GTE && ef_val_type(v) != EF_NUM)) {
                snprintf(err, errlen, "rules[%zu].value must be %s for op %s", i,
                         r->op == RTC_OP_IN       ? "an array"
                         : r->op == RTC_OP_PREFIX ? "a string"
                                                  : "a number",
                         op_names[r->op]);
                goto fail;
            }
            r->value = ef_val_ref((struct ef_val *)v);
        }
        v = ef_val_obj_get(o, "sensitive");
        snprintf(what, sizeof(what), "rules[%zu].sensitive", i);
        if (v) {
            r->has_sensitive = true;
            if (rtc_paths_parse(v, &r->sensitive, what, err, errlen) != 0) {
                goto fail;
            }
        }
        v = ef_val_obj_get(o, "action");
        if (v) {
            if (ef_val_type(v) != EF_STR || rtc_action_parse(ef_val_str_get(v), &r->action) != 0) {
                snprintf(err, errlen, "rules[%zu].action must be \"local\", \"redact\" or \"hash\"",
                         i);
                goto fail;
            }
            r->has_action = true;
        }
    }
    *out = rules;
    return 0;
fail:
    rtc_rules_free(rules, *nout);
    *nout = 0;
    return EF_EINVAL;
}

static bool rule_matches(const struct rtc_rule *r, const struct ef_msg *msg)
{
    if (r->op == RTC_OP_ALWAYS) {
        return true;
    }
    const struct ef_val *root = ef_msg_root(msg);
    const struct ef_val *v = ef_path_get(root, r->prop, root);
    switch (r->op) {
    case RTC_OP_EXISTS: return v != NULL;
    case RTC_OP_NEXISTS: return v == NULL;
    case RTC_OP_EQ: return v && ef_val_equal(v, r->value);
    case RTC_OP_NEQ: return !v || !ef_val_equal(v, r->value);
    case RTC_OP_IN:
        for (size_t i = 0; v && i < ef_val_arr_len(r->value); i++) {
            if (ef_val_equal(v, ef_val_arr_at(r->value, i))) {
                return true;
            }
        }
        return false;
    case RTC_OP_PREFIX:
        return ef_val_type(v) == EF_STR && ef_val_str_len(v) >= ef_val_str_len(r->value) &&
               !memcmp(ef_val_str_get(v), ef_val_str_get(r->value), ef_val_str_len(r->value));
    default: break;
    }
    if (ef_val_type(v) != EF_NUM) {
        return false;
    }
    double a = ef_val_num_get(v), b = ef_val_num_get(r->value);
    switch (r->op) {
    case RTC_OP_LT: return a < b;
    case RTC_OP_LTE: return a <= b;
    case RTC_OP_GT: return a > b;
    case RTC_OP_GTE: return a >= b;
    default: return false;
    }
}

const struct rtc_rule *rtc_rules_match(const struct rtc_rule *rules, size_t n,
                                       const struct ef_msg *msg)
{
    for (size_t i = 0; i < n; i++) {
        if (rule_matches(&rules[i], msg)) {
            return &rules[i];
        }
    }
    return NULL;
}

/* sha256 of bytes as 64 lowercase hex digits. */
static struct ef_val *sha256_hex(const void *data, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL)) {
        return NULL;
    }
    for (unsigned int i = 0; i < mdlen; i++) {
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    }
    return ef_val_strn(hex, 2 * (size_t)mdlen);
}

struct ef_val *rtc_hash_value(const struct ef_val *v)
{
    if (ef_val_type(v) == EF_STR) {
        return sha256_hex(ef_val_str_get(v), ef_val_str_len(v));
    }
    if (ef_val_type(v) == EF_BUF) {
        return sha256_hex(ef_val_buf_data(v), ef_val_buf_len(v));
    }
    size_t len = 0;
    char *json = ef_json_print(v, 0, &len);
    if (!json) {
        return NULL;
    }
    struct ef_val *h = sha256_hex(json, len);
    free(json);
    return h;
}

int rtc_classify(struct ef_msg *msg, const struct rtc_paths *paths, enum rtc_action action,
                 bool *keep_local)
{
    *keep_local = false;
    for (size_t i = 0; i < paths->n; i++) {
        const struct ef_val *root = ef_msg_root(msg);
        const struct ef_val *v = ef_path_get(root, paths->v[i], root);
        if (!v) {
            continue;
        }
        if (action == RTC_ACTION_LOCAL) {
            *keep_local = true;
            return 0;
        }
        int rc;
        if (action == RTC_ACTION_REDACT) {
            rc = ef_path_delete(ef_msg_slot(msg), paths->v[i], NULL);
        } else {
            struct ef_val *h = rtc_hash_value(v);
            if (!h) {
                return EF_ENOMEM;
            }
            rc = ef_path_set_take(ef_msg_slot(msg), paths->v[i], h, false, NULL);
            if (rc != 0) {
                ef_val_unref(h);
            }
        }
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}
