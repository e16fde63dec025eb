/*
 * rtc.h - what the files of the route-to-cloud plugin share: the policy
 * (route.c) and the node (route_to_cloud.c). The durable queue has its own
 * header, queue.h.
 */
#ifndef RTC_H
#define RTC_H

#include <stdbool.h>
#include <stddef.h>

#include <edgeflow/edgeflow.h>

enum rtc_route { RTC_LOCAL, RTC_ONPREM, RTC_CLOUD };

enum rtc_op {
    RTC_OP_ALWAYS,
    RTC_OP_EQ,
    RTC_OP_NEQ,
    RTC_OP_LT,
    RTC_OP_LTE,
    RTC_OP_GT,
    RTC_OP_GTE,
    RTC_OP_IN,
    RTC_OP_EXISTS,
    RTC_OP_NEXISTS,
    RTC_OP_PREFIX,
};

enum rtc_action { RTC_ACTION_LOCAL, RTC_ACTION_REDACT, RTC_ACTION_HASH };

/* Parsed message property paths (the sensitive fields). */
struct rtc_paths {
    struct ef_path **v;
    size_t n;
};

/* One routing rule: when `prop op value` holds, the message takes `route`. */
struct rtc_rule {
    enum rtc_op op;
    struct ef_path *prop; /* NULL for RTC_OP_ALWAYS */
    struct ef_val *value; /* owned; NULL for always/exists/nexists */
    enum rtc_route route;
    bool has_sensitive, has_action; /* override the node's settings */
    struct rtc_paths sensitive;
    enum rtc_action action;
};

/* "local"/"onprem"/"cloud" to the enum; 0 or EF_EINVAL. */
int rtc_route_parse(const char *s, enum rtc_route *out);
const char *rtc_route_name(enum rtc_route r);
/* "local"/"redact"/"hash" to the enum; 0 or EF_EINVAL. */
int rtc_action_parse(const char *s, enum rtc_action *out);
/*
 * Parses an array of property path strings (a leading "msg." is allowed)
 * into out (freed by the rules or by rtc_paths_free). Returns 0, or EF_E*
 * with a message naming `what` and the index in err.
 */
int rtc_paths_parse(const struct ef_val *arr, struct rtc_paths *out, const char *what, char *err,
                    size_t errlen);
void rtc_paths_free(struct rtc_paths *p);
/*
 * Parses the "rules" array: objects {property, op, value, route,
 * sensitive, action}. Returns 0 with a malloc'ed array (free with
 * rtc_rules_free) or EF_EINVAL with the reason in err.
 */
int rtc_rules_parse(const struct ef_val *arr, struct rtc_rule **out, size_t *nout, char *err,
                    size_t errlen);
void rtc_rules_free(struct rtc_rule *r, size_t n);
/* The first rule that matches msg (borrowed), or NULL. */
const struct rtc_rule *rtc_rules_match(const struct rtc_rule *rules, size_t n,
                                       const struct ef_msg *msg);
/*
 * sha256 as 64 hex digits of a value: a string's or buffer's bytes, else its
 * JSON text. New reference, NULL on OOM.
 */
struct ef_val *rtc_hash_value(const struct ef_val *v);
/*
 * Applies data classification to msg (which must be the caller's own copy):
 * for each path present, RTC_ACTION_LOCAL sets *keep_local and stops;
 * REDACT deletes it; HASH replaces it with rtc_hash_value. 0 or EF_E*.
 */
int rtc_classify(struct ef_msg *msg, const struct rtc_paths *paths, enum rtc_action action,
                 bool *keep_local);

#endif
