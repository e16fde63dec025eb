/*
 * alert.c - the `alert` node type (docs/alert.md), a C plugin built against
 * the public SDK only. One node watches many sources (one per value of a key
 * property such as msg.topic) and keeps, per source, up to two alerts: the
 * configured condition (threshold with hysteresis, rate of change over a
 * window, anomaly score, boolean) and, when `missing` is set, a missing-data
 * alert. Alerts are raised, re-notified, acknowledged and resolved as
 * messages on three outputs (raised, resolved, ack), with cooldown and
 * auto-resolve. The state lives in node context (a persistent `file` store
 * by default), so a restart neither raises an active alert again nor forgets
 * to resolve it.
 *
 * Why C and not a Lua node type: the Lua SDK has timers and context, but no
 * clock that follows the runtime's (os.time has whole seconds and ignores
 * the test harness's virtual clock), and no HTTP client for the webhook.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <edgeflow/edgeflow.h>

#include "alert.h"

#define ALERT_KEY_MAX 1024
#define ALERT_SAMPLES_MAX 10000
#define ALERT_CTX_KEY "alerts"
#define ALERT_SAVE_MS 1000 /* changed sources are written to the context store this often */

static const char *const severities[] = {"critical", "major", "minor", "warning", "info"};
static const char *const conditions[] = {"threshold", "rate", "score", "boolean", "missing"};
static const char *const placeholders[] = {"node",     "name",     "condition", "key",
                                           "severity", "dedupKey", "event"};

static const struct ef_prop alert_props[] = {
    {EF_PROP_STR, "condition", "\"threshold\"", false, "threshold, rate, score, boolean or missing",
     offsetof(struct alert, condition)},
    {EF_PROP_STR, "value", "\"payload\"", false, "msg property holding the value",
     offsetof(struct alert, value_path)},
    {EF_PROP_STR, "key", "\"topic\"", false,
     "msg property naming the source (one alert per source); empty: a single source",
     offsetof(struct alert, key_path)},
    {EF_PROP_STR, "direction", "\"above\"", false,
     "threshold and rate: above (raise when greater) or below (raise when smaller)",
     offsetof(struct alert, direction)},
    {EF_PROP_NUM, "raise", "0", false, "threshold, score and rate (units/s): raise level",
     offsetof(struct alert, raise)},
    {EF_PROP_NUM, "resolve", NULL, false, "resolve level (hysteresis); empty: the raise level",
     EF_PROP_NOFIELD},
    {EF_PROP_NUM, "window", "60", false, "rate: seconds of history the rate is taken over",
     offsetof(struct alert, window)},
    {EF_PROP_NUM, "missing", "0", false,
     "seconds without a message from a source that raise a missing-data alert (0: off)",
     offsetof(struct alert, missing)},
    {EF_PROP_STR, "severity", "\"major\"", false, "critical, major, minor, warning or info",
     offsetof(struct alert, severity)},
    {EF_PROP_STR, "missingSeverity", "\"\"", false,
     "severity of missing-data alerts; empty: severity", offsetof(struct alert, missing_severity)},
    {EF_PROP_STR, "dedupKey", "\"{{node}}:{{condition}}:{{key}}\"", false,
     "template of the alert's dedup key", offsetof(struct alert, dedup_tpl)},
    {EF_PROP_STR, "dedupProperty", "\"\"", false,
     "msg property whose value is the dedup key when present", offsetof(struct alert, dedup_path)},
    {EF_PROP_STR, "topic", "\"alert/{{dedupKey}}\"", false,
     "template of msg.topic of alert messages", offsetof(struct alert, topic_tpl)},
    {EF_PROP_NUM, "cooldown", "0", false, "seconds after a resolve during which no raise happens",
     offsetof(struct alert, cooldown)},
    {EF_PROP_NUM, "renotify", "0", false,
     "seconds between repeats of an active, unacknowledged alert (0: never)",
     offsetof(struct alert, renotify)},
    {EF_PROP_NUM, "autoResolve", "0", false,
     "seconds after the condition was last met that an active alert resolves by itself (0: never)",
     offsetof(struct alert, auto_resolve)},
    {EF_PROP_INT, "maxKeys", "10000", false, "most sources tracked",
     offsetof(struct alert, max_keys)},
    {EF_PROP_STR, "store", "\"file\"", false,
     "context store for the state (configure it in contextStorage)", offsetof(struct alert, store)},
    {EF_PROP_STR, "webhook", "\"\"", false,
     "http(s) URL that every alert event's payload is POSTed to as JSON (empty: none)",
     offsetof(struct alert, webhook)},
    {EF_PROP_END},
};

/* ---- Small helpers ---- */

static int index_of(const char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(list[i], s)) {
            return (int)i;
        }
    }
    return -1;
}

#define INDEX_OF(list, s) index_of(list, sizeof(list) / sizeof(list[0]), s)

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603u;
    for (; *s; s++) {
        h = (h ^ (uint8_t)*s) * 1099511628211u;
    }
    return h;
}

/* A number from a number or a numeric string; false otherwise. */
static bool to_number(const struct ef_val *v, double *out)
{
    if (ef_val_type(v) == EF_NUM) {
        *out = ef_val_num_get(v);
        return isfinite(*out);
    }
    if (ef_val_type(v) == EF_STR && ef_val_str_len(v)) {
        char *end;
        *out = strtod(ef_val_str_get(v), &end);
        while (*end == ' ') {
            end++;
        }
        return !*end && isfinite(*out);
    }
    return false;
}

static double num_at(const struct ef_val *o, const char *k)
{
    return ef_val_num_get(ef_val_obj_get(o, k));
}

/* ---- Templates: text with {{placeholder}} ---- */

/* Checks that every {{...}} in tpl names a known placeholder. */
static int template_check(struct ef_node *n, const char *prop, const char *tpl)
{
    for (const char *p = strstr(tpl, "{{"); p; p = strstr(p + 2, "{{")) {
        const char *end = strstr(p + 2, "}}");
        if (!end) {
            ef_node_error(n, NULL, "%s: unterminated {{ in \"%s\"", prop, tpl);
            return EF_EINVAL;
        }
        bool known = false;
        for (size_t i = 0; i < sizeof(placeholders) / sizeof(placeholders[0]) && !known; i++) {
            known = strlen(placeholders[i]) == (size_t)(end - p - 2) &&
                    !strncmp(placeholders[i], p + 2, (size_t)(end - p - 2));
        }
        if (!known) {
            ef_node_error(n, NULL,
                          "%s: unknown placeholder {{%.*s}} (node, name, condition, key, "
                          "severity, dedupKey, event)",
                          prop, (int)(end - p - 2), p + 2);
            return EF_EINVAL;
        }
    }
    return 0;
}

/* Expands tpl with vars[i] for placeholders[i]. Returns a malloc'ed string or NULL (OOM). */
static char *template_expand(const char *tpl, const char *const vars[7])
{
    size_t cap = strlen(tpl) + 64, len = 0;
    char *out = malloc(cap);
    while (out && *tpl) {
        const char *add = tpl;
        size_t addlen = 1, skip = 1;
        if (tpl[0] == '{' && tpl[1] == '{') {
            const char *end = strstr(tpl + 2, "}}");
            for (size_t i = 0; end && i < sizeof(placeholders) / sizeof(placeholders[0]); i++) {
                if (strlen(placeholders[i]) == (size_t)(end - tpl - 2) &&
                    !strncmp(placeholders[i], tpl + 2, (size_t)(end - tpl - 2))) {
                    add = vars[i] ? vars[i] : "";
                    addlen = strlen(add);
                    skip = (size_t)(end - tpl) + 2;
                    break;
                }
            }
        }
        if (len + addlen + 1 > cap) {
            cap = (len + addlen + 1) * 2;
            char *grown = realloc(out, cap);
            if (!grown) {
                free(out);
                return NULL;
            }
            out = grown;
        }
        memcpy(out + len, add, addlen);
        len += addlen;
        tpl += skip;
    }
    if (out) {
        out[len] = '\0';
    }
    return out;
}

/* ---- Sources ---- */

static struct source *source_find(struct alert *a, const char *key)
{
    if (!a->nbuckets) {
        return NULL;
    }
    for (struct source *s = a->buckets[hash_str(key) % a->nbuckets]; s; s = s->next) {
        if (!strcmp(s->key, key)) {
            return s;
        }
    }
    return NULL;
}

static int rehash(struct alert *a)
{
    size_t nb = a->nbuckets ? a->nbuckets * 2 : 16;
    struct source **b = calloc(nb, sizeof(*b));
    if (!b) {
        return EF_ENOMEM;
    }
    for (size_t i = 0; i < a->nbuckets; i++) {
        for (struct source *s = a->buckets[i], *next; s; s = next) {
            next = s->next;
            size_t h = hash_str(s->key) % nb;
            s->next = b[h];
            b[h] = s;
        }
    }
    free(a->buckets);
    a->buckets = b;
    a->nbuckets = nb;
    return 0;
}

/* Adds a new source (key copied). Returns it, or NULL on OOM. */
static struct source *source_add(struct alert *a, const char *key)
{
    if ((a->nsources + 1) * 2 > a->nbuckets && rehash(a) != 0) {
        return NULL;
    }
    struct source *s = calloc(1, sizeof(*s));
    if (!s || !(s->key = strdup(key))) {
        free(s);
        return NULL;
    }
    size_t h = hash_str(key) % a->nbuckets;
    s->next = a->buckets[h];
    a->buckets[h] = s;
    a->nsources++;
    return s;
}

static void source_free(struct source *s)
{
    free(s->key);
    free(s->samples);
    free(s->dedup_prop);
    for (int which = 0; which < 2; which++) {
        free(s->inst[which].dedup);
        ef_val_unref(s->inst[which].value);
    }
    free(s);
}

static void sources_free(struct alert *a)
{
    for (size_t i = 0; i < a->nbuckets; i++) {
        for (struct source *s = a->buckets[i], *next; s; s = next) {
            next = s->next;
            source_free(s);
        }
    }
    free(a->buckets);
    a->buckets = NULL;
    a->nbuckets = 0;
    a->nsources = 0;
}

/* Records a sample and drops those older than the window (and beyond the cap). */
static int sample_add(struct alert *a, struct source *s, double t, double v)
{
    size_t drop = 0;
    while (drop < s->nsamples && s->samples[drop].t < t - a->window * 1000) {
        drop++;
    }
    if (s->nsamples - drop >= ALERT_SAMPLES_MAX) {
        drop = s->nsamples - ALERT_SAMPLES_MAX + 1;
    }
    if (drop) {
        memmove(s->samples, s->samples + drop, (s->nsamples - drop) * sizeof(*s->samples));
        s->nsamples -= drop;
    }
    if (s->nsamples == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        struct sample *grown = realloc(s->samples, cap * sizeof(*grown));
        if (!grown) {
            return EF_ENOMEM;
        }
        s->samples = grown;
        s->cap = cap;
    }
    s->samples[s->nsamples++] = (struct sample){t, v};
    return 0;
}

/* Units per second between the oldest and newest sample of the window; false if undefined. */
static bool sample_rate(const struct source *s, double *rate)
{
    if (s->nsamples < 2) {
        return false;
    }
    const struct sample *first = &s->samples[0], *last = &s->samples[s->nsamples - 1];
    if (last->t <= first->t) {
        return false;
    }
    *rate = (last->v - first->v) / ((last->t - first->t) / 1000.0);
    return true;
}

/* ---- Persistence: the sources object in node context, one entry per source ---- */

static struct ef_val *inst_to_val(const struct inst *in)
{
    struct ef_val *o = ef_val_obj();
    if (!o) {
        return NULL;
    }
    ef_val_obj_set_take(o, "active", ef_val_bool(in->active));
    ef_val_obj_set_take(o, "acked", ef_val_bool(in->acked));
    ef_val_obj_set_take(o, "pending", ef_val_bool(in->pending));
    ef_val_obj_set_take(o, "raisedAt", ef_val_num(in->raised_at));
    ef_val_obj_set_take(o, "resolvedAt", ef_val_num(in->resolved_at));
    ef_val_obj_set_take(o, "ackedAt", ef_val_num(in->acked_at));
    ef_val_obj_set_take(o, "lastNotify", ef_val_num(in->last_notify));
    ef_val_obj_set_take(o, "lastTrue", ef_val_num(in->last_true));
    ef_val_obj_set_take(o, "count", ef_val_num(in->count));
    ef_val_obj_set_take(o, "value", ef_val_ref(in->value));
    ef_val_obj_set_take(o, "dedupKey", in->dedup ? ef_val_str(in->dedup) : ef_val_null());
    return o;
}

static struct ef_val *source_to_val(const struct alert *a, const struct source *s)
{
    struct ef_val *o = ef_val_obj();
    struct ef_val *samples = ef_val_arr();
    if (!o || !samples) {
        ef_val_unref(o);
        ef_val_unref(samples);
        return NULL;
    }
    ef_val_obj_set_take(o, "condition", ef_val_str(a->condition));
    ef_val_obj_set_take(o, "seen", ef_val_num(s->seen));
    if (s->dedup_prop) {
        ef_val_obj_set_take(o, "dedup", ef_val_str(s->dedup_prop));
    }
    for (size_t i = 0; i < s->nsamples; i++) {
        struct ef_val *pair = ef_val_arr();
        ef_val_arr_push_take(pair, ef_val_num(s->samples[i].t));
        ef_val_arr_push_take(pair, ef_val_num(s->samples[i].v));
        if (ef_val_arr_push_take(samples, pair) != 0) {
            ef_val_unref(pair);
        }
    }
    ef_val_obj_set_take(o, "samples", samples);
    ef_val_obj_set_take(o, "alert", inst_to_val(&s->inst[0]));
    ef_val_obj_set_take(o, "missing", inst_to_val(&s->inst[1]));
    return o;
}

/*
 * Writes the changed sources' entries into the context copy and hands the copy
 * to the store: once per ALERT_SAVE_MS, and when the node closes (before the
 * runtime flushes the file store on a clean stop).
 */
static void save_dirty(struct ef_node *n, struct alert *a)
{
    if (!a->ndirty) {
        return;
    }
    struct ef_val *obj = ef_val_mut(&a->saved);
    for (size_t i = 0; i < a->ndirty; i++) {
        struct source *s = a->dirty[i];
        struct ef_val *sv = obj ? source_to_val(a, s) : NULL;
        if (!sv || ef_val_obj_set_take(obj, s->key, sv) != 0) {
            ef_val_unref(sv);
            ef_node_warn(n, "alert: out of memory saving the state of '%s'", s->key);
        }
        s->dirty = false;
    }
    a->ndirty = 0;
    int rc = ef_ctx_set_take(n, EF_CTX_NODE, a->store_name, ALERT_CTX_KEY, ef_val_ref(a->saved));
    if (rc != 0) {
        ef_val_unref(a->saved); /* the reference handed over was not adopted */
        ef_node_warn(n, "alert: cannot save the state in context store '%s': %s",
                     a->store_name ? a->store_name : "default", ef_strerror(rc));
    }
}

static void on_save_timer(struct ef_node *n, void *arg)
{
    save_dirty(n, arg);
}

/* Marks a source as changed; it is saved within ALERT_SAVE_MS. */
static void persist(struct ef_node *n, struct alert *a, struct source *s)
{
    if (s->dirty) {
        return;
    }
    if (a->ndirty == a->dirty_cap) {
        size_t cap = a->dirty_cap ? a->dirty_cap * 2 : 16;
        struct source **grown = realloc(a->dirty, cap * sizeof(*grown));
        if (!grown) {
            ef_node_warn(n, "alert: out of memory saving the state of '%s'", s->key);
            return;
        }
        a->dirty = grown;
        a->dirty_cap = cap;
    }
    a->dirty[a->ndirty++] = s;
    s->dirty = true;
    if (a->ndirty == 1) {
        ef_timer_start(a->save_timer, ALERT_SAVE_MS, 0);
    }
}

static void inst_from_val(struct inst *in, const struct ef_val *o)
{
    in->active = ef_val_bool_get(ef_val_obj_get(o, "active"));
    in->acked = ef_val_bool_get(ef_val_obj_get(o, "acked"));
    in->pending = ef_val_bool_get(ef_val_obj_get(o, "pending"));
    in->raised_at = num_at(o, "raisedAt");
    in->resolved_at = num_at(o, "resolvedAt");
    in->acked_at = num_at(o, "ackedAt");
    in->last_notify = num_at(o, "lastNotify");
    in->last_true = num_at(o, "lastTrue");
    in->count = num_at(o, "count");
    const struct ef_val *v = ef_val_obj_get(o, "value");
    in->value = v ? ef_val_ref((struct ef_val *)v) : NULL;
    const struct ef_val *d = ef_val_obj_get(o, "dedupKey");
    in->dedup = ef_val_type(d) == EF_STR ? strdup(ef_val_str_get(d)) : NULL;
}

static const char *inst_condition(const struct alert *a, int which)
{
    return which == 1 ? "missing" : a->condition;
}

static const char *inst_severity(const struct alert *a, int which)
{
    return which == 1 && *a->missing_severity ? a->missing_severity : a->severity;
}

static char *dedup_for(struct ef_node *n, const struct alert *a, const struct source *s, int which)
{
    if (which == 0 && s->dedup_prop) {
        return strdup(s->dedup_prop);
    }
    const char *vars[7] = {ef_node_id(n), ef_node_name(n),         inst_condition(a, which),
                           s->key,        inst_severity(a, which), NULL,
                           NULL};
    return template_expand(a->dedup_tpl, vars);
}

/* Loads the saved state; entries of another condition (the node was reconfigured) are dropped. */
static void restore(struct ef_node *n, struct alert *a)
{
    struct ef_val *saved = ef_ctx_get(n, EF_CTX_NODE, a->store_name, ALERT_CTX_KEY);
    size_t dropped = 0;
    for (size_t i = 0; ef_val_type(saved) == EF_OBJ && i < ef_val_obj_len(saved); i++) {
        const char *key = ef_val_obj_key_at(saved, i, NULL);
        const struct ef_val *o = ef_val_obj_val_at(saved, i);
        if (ef_val_type(o) != EF_OBJ ||
            strcmp(ef_val_str_get(ef_val_obj_get(o, "condition")), a->condition) != 0) {
            dropped++;
            continue;
        }
        struct source *s = source_add(a, key);
        if (!s) {
            break;
        }
        s->seen = num_at(o, "seen");
        const struct ef_val *d = ef_val_obj_get(o, "dedup");
        s->dedup_prop = ef_val_type(d) == EF_STR ? strdup(ef_val_str_get(d)) : NULL;
        const struct ef_val *samples = ef_val_obj_get(o, "samples");
        for (size_t j = 0; j < ef_val_arr_len(samples); j++) {
            const struct ef_val *pair = ef_val_arr_at(samples, j);
            sample_add(a, s, ef_val_num_get(ef_val_arr_at(pair, 0)),
                       ef_val_num_get(ef_val_arr_at(pair, 1)));
        }
        inst_from_val(&s->inst[0], ef_val_obj_get(o, "alert"));
        inst_from_val(&s->inst[1], ef_val_obj_get(o, "missing"));
        for (int which = 0; which < 2; which++) {
            if (s->inst[which].active && !s->inst[which].dedup) {
                s->inst[which].dedup = dedup_for(n, a, s, which);
            }
            if (s->inst[which].active) {
                a->nactive[INDEX_OF(severities, inst_severity(a, which))]++;
            }
        }
    }
    if (dropped) {
        ef_node_warn(n,
                     "alert: dropped the saved state of %zu source(s) (not an object, or kept for "
                     "another condition)",
                     dropped);
    }
    ef_val_unref(saved);
    /* Start the context copy from what was kept. */
    a->saved = ef_val_obj();
    for (size_t i = 0; a->saved && i < a->nbuckets; i++) {
        for (struct source *s = a->buckets[i]; s; s = s->next) {
            struct ef_val *sv = source_to_val(a, s);
            if (sv && ef_val_obj_set_take(a->saved, s->key, sv) != 0) {
                ef_val_unref(sv);
            }
        }
    }
    if (a->saved && (a->nsources || dropped) &&
        ef_ctx_set_take(n, EF_CTX_NODE, a->store_name, ALERT_CTX_KEY, ef_val_ref(a->saved)) != 0) {
        ef_val_unref(a->saved); /* not adopted */
    }
}

/* ---- Alert events ---- */

/* The threshold reported for an alert: raise level, or the missing-data timeout in seconds. */
static struct ef_val *inst_threshold(const struct alert *a, int which)
{
    if (which == 1) {
        return ef_val_num(a->missing);
    }
    return a->cond == COND_BOOLEAN ? ef_val_null() : ef_val_num(a->raise);
}

static void text_value(char *out, size_t len, const struct ef_val *v)
{
    if (ef_val_type(v) == EF_NUM) {
        char buf[32];
        ef_num_format(ef_val_num_get(v), buf);
        snprintf(out, len, "%s", buf);
    } else if (ef_val_type(v) == EF_BOOL) {
        snprintf(out, len, "%s", ef_val_bool_get(v) ? "true" : "false");
    } else {
        snprintf(out, len, "null");
    }
}

/* A one-line human description of the alert. */
static struct ef_val *describe(const struct alert *a, const struct source *s, int which,
                               const char *event)
{
    const struct inst *in = &s->inst[which];
    char value[40], level[32], what[160];
    text_value(value, sizeof(value), in->value);
    ef_num_format(which == 1 ? a->missing : a->raise, level);
    if (which == 1) {
        snprintf(what, sizeof(what), "no data for %s s", level);
    } else if (a->cond == COND_BOOLEAN) {
        snprintf(what, sizeof(what), "value %s", value);
    } else if (a->cond == COND_RATE) {
        snprintf(what, sizeof(what), "rate %s/s %s %s/s", value, a->below ? "below" : "above",
                 level);
    } else {
        snprintf(what, sizeof(what), "%s %s %s %s", a->cond == COND_SCORE ? "score" : "value",
                 value, a->below ? "below" : "above", level);
    }
    const char *name = *a->name ? a->name : inst_condition(a, which);
    return ef_val_strf("%s%s%s: %s%s", name, *s->key ? " " : "", s->key, what,
                       !strcmp(event, "resolve") ? " (resolved)" : "");
}

static struct ef_val *num_or_null(double t)
{
    return t > 0 ? ef_val_num(t) : ef_val_null();
}

/* Builds the alert message of an event. Returns a new message or NULL (OOM). */
static struct ef_msg *event_msg(struct ef_node *n, const struct alert *a, const struct source *s,
                                int which, const char *event, const char *reason)
{
    const struct inst *in = &s->inst[which];
    struct ef_val *p = ef_val_obj();
    if (!p) {
        return NULL;
    }
    const char *state = !in->active ? "resolved" : in->acked ? "acknowledged" : "active";
    ef_val_obj_set_take(p, "alert", ef_val_str(*a->name ? a->name : inst_condition(a, which)));
    ef_val_obj_set_take(p, "event", ef_val_str(event));
    ef_val_obj_set_take(p, "state", ef_val_str(state));
    ef_val_obj_set_take(p, "condition", ef_val_str(inst_condition(a, which)));
    ef_val_obj_set_take(p, "key", ef_val_str(s->key));
    ef_val_obj_set_take(p, "severity", ef_val_str(inst_severity(a, which)));
    ef_val_obj_set_take(p, "value", in->value ? ef_val_ref(in->value) : ef_val_null());
    ef_val_obj_set_take(p, "threshold", inst_threshold(a, which));
    ef_val_obj_set_take(p, "raisedAt", num_or_null(in->raised_at));
    ef_val_obj_set_take(p, "resolvedAt", in->active ? ef_val_null() : num_or_null(in->resolved_at));
    ef_val_obj_set_take(p, "acknowledgedAt", in->acked ? num_or_null(in->acked_at) : ef_val_null());
    ef_val_obj_set_take(p, "count", ef_val_num(in->count));
    ef_val_obj_set_take(p, "dedupKey", ef_val_str(in->dedup ? in->dedup : ""));
    ef_val_obj_set_take(p, "reason", reason ? ef_val_str(reason) : ef_val_null());
    ef_val_obj_set_take(p, "node", ef_val_str(ef_node_id(n)));
    ef_val_obj_set_take(p, "text", describe(a, s, which, event));

    const char *vars[7] = {ef_node_id(n), ef_node_name(n),         inst_condition(a, which),
                           s->key,        inst_severity(a, which), in->dedup ? in->dedup : "",
                           event};
    char *topic = template_expand(a->topic_tpl, vars);
    struct ef_msg *m = ef_msg_new();
    if (!topic || !m || ef_msg_set_take(m, "topic", ef_val_str(topic)) != 0) {
        free(topic);
        ef_msg_free(m);
        ef_val_unref(p);
        return NULL;
    }
    free(topic);
    if (ef_msg_set_take(m, "payload", p) != 0) {
        ef_val_unref(p);
        ef_msg_free(m);
        return NULL;
    }
    return m;
}

/* Sends an event out of `port` (0 raised, 1 resolved, 2 ack) and to the webhook. */
static void emit(struct ef_node *n, struct alert *a, const struct source *s, int which, int port,
                 const char *event, const char *reason)
{
    struct ef_msg *m = event_msg(n, a, s, which, event, reason);
    if (!m) {
        ef_node_warn(n, "alert: out of memory building the %s event of '%s'", event, s->key);
        return;
    }
    alert__webhook_post(n, a, ef_msg_get(m, "payload"));
    if (ef_node_send(n, port, m) != 0) {
        ef_msg_free(m);
        ef_node_warn(n, "alert: cannot send the %s event of '%s'", event, s->key);
    }
}

static void do_raise(struct ef_node *n, struct alert *a, struct source *s, int which, double now)
{
    struct inst *in = &s->inst[which];
    a->nactive[INDEX_OF(severities, inst_severity(a, which))]++;
    in->active = true;
    in->acked = false;
    in->pending = false;
    in->raised_at = now;
    in->acked_at = 0;
    in->last_notify = now;
    in->last_true = now;
    in->count = 1;
    free(in->dedup);
    in->dedup = dedup_for(n, a, s, which);
    emit(n, a, s, which, 0, "raise", NULL);
}

static void do_resolve(struct ef_node *n, struct alert *a, struct source *s, int which, double now,
                       const char *reason)
{
    struct inst *in = &s->inst[which];
    a->nactive[INDEX_OF(severities, inst_severity(a, which))]--;
    in->active = false;
    in->pending = false;
    in->resolved_at = now;
    emit(n, a, s, which, 1, "resolve", reason);
}

static void set_value(struct inst *in, struct ef_val *v)
{
    ef_val_unref(in->value);
    in->value = v;
}

/*
 * Applies one evaluation: `meets` (the raise condition holds) or `clears`
 * (the resolve condition holds); neither means inside the hysteresis band.
 * Adopts `value` (may be NULL).
 */
static void evaluate(struct ef_node *n, struct alert *a, struct source *s, int which, bool meets,
                     bool clears, struct ef_val *value, double now, const char *reason)
{
    struct inst *in = &s->inst[which];
    if (value) {
        set_value(in, value);
    }
    if (meets) {
        in->last_true = now;
        if (!in->active) {
            if (in->resolved_at > 0 && now < in->resolved_at + a->cooldown * 1000) {
                in->pending = true; /* raised when the cooldown ends, if still met */
            } else {
                do_raise(n, a, s, which, now);
            }
        }
    } else if (clears) {
        in->pending = false;
        if (in->active) {
            do_resolve(n, a, s, which, now, reason);
        }
    }
}

/* ---- Timers ---- */

static double missing_deadline(const struct alert *a, const struct source *s)
{
    const struct inst *in = &s->inst[1];
    if (a->missing <= 0 || s->seen <= 0 || in->active || in->pending) {
        return INFINITY;
    }
    return fmax(s->seen, in->resolved_at) + a->missing * 1000;
}

/* The earliest time something is due for this alert instance. */
static double inst_deadline(const struct alert *a, const struct inst *in)
{
    double next = INFINITY;
    if (in->active && !in->acked && a->renotify > 0) {
        next = fmin(next, in->last_notify + a->renotify * 1000);
    }
    if (in->active && a->auto_resolve > 0) {
        next = fmin(next, in->last_true + a->auto_resolve * 1000);
    }
    if (!in->active && in->pending) {
        next = fmin(next, in->resolved_at + a->cooldown * 1000);
    }
    return next;
}

/* Fires what is due on one source; true if anything changed. */
static bool source_due(struct ef_node *n, struct alert *a, struct source *s, double now)
{
    bool changed = false;
    for (int which = 0; which < 2; which++) {
        struct inst *in = &s->inst[which];
        if (inst_deadline(a, in) > now) {
            continue;
        }
        changed = true;
        if (!in->active && in->pending) {
            do_raise(n, a, s, which, now);
        } else if (in->active && a->auto_resolve > 0 &&
                   now >= in->last_true + a->auto_resolve * 1000) {
            do_resolve(n, a, s, which, now, "auto");
        } else if (in->active && !in->acked && a->renotify > 0) {
            in->count++;
            in->last_notify = now;
            emit(n, a, s, which, 0, "renotify", NULL);
        }
    }
    if (missing_deadline(a, s) <= now) {
        changed = true;
        evaluate(n, a, s, 1, true, false, NULL, now, NULL);
    }
    return changed;
}

void alert__show_status(struct ef_node *n, struct alert *a)
{
    size_t active = 0;
    int worst = -1;
    for (int sev = 4; sev >= 0; sev--) {
        active += a->nactive[sev];
        worst = a->nactive[sev] ? sev : worst;
    }
    char failed[64] = "";
    if (a->wh_failed > 0) {
        char count[32];
        ef_num_format(a->wh_failed, count);
        snprintf(failed, sizeof(failed), "; webhook failures: %s", count);
    }
    static const char *const fills[] = {"red", "red", "yellow", "yellow", "blue"};
    char text[sizeof(a->status)];
    if (!active) {
        snprintf(text, sizeof(text), "no active alerts%s", failed);
    } else {
        snprintf(text, sizeof(text), "%zu active, most severe: %s%s", active, severities[worst],
                 failed);
    }
    if (strcmp(text, a->status) != 0) { /* only changes reach the editor and status nodes */
        memcpy(a->status, text, sizeof(text));
        ef_node_status(n, active ? fills[worst] : "green", active ? "dot" : "ring", text);
    }
}

static double source_deadline(const struct alert *a, const struct source *s)
{
    return fmin(missing_deadline(a, s),
                fmin(inst_deadline(a, &s->inst[0]), inst_deadline(a, &s->inst[1])));
}

/*
 * Makes the timer fire by `when` (ms since the epoch). A deadline that moved
 * later leaves the timer early; it then finds nothing due and re-arms.
 */
static void arm(struct alert *a, double when, double now)
{
    if (!(when < a->armed)) {
        return;
    }
    a->armed = when;
    /* Far deadlines (restored from a file) are looked at again after a day. */
    double ms = fmin(ceil(when - now), 86400000.0);
    ef_timer_start(a->timer, ms > 0 ? (uint64_t)ms : 0, 0);
}

/* Fires what is due on every source and re-arms for the earliest deadline left. */
static void on_timer(struct ef_node *n, void *arg)
{
    struct alert *a = arg;
    double now = ef_now_ms(), next = INFINITY;
    bool changed = false;
    for (size_t i = 0; i < a->nbuckets; i++) {
        for (struct source *s = a->buckets[i]; s; s = s->next) {
            if (source_due(n, a, s, now)) {
                persist(n, a, s);
                changed = true;
            }
            next = fmin(next, source_deadline(a, s));
        }
    }
    if (changed) {
        alert__show_status(n, a);
    }
    a->armed = INFINITY;
    arm(a, next, now);
}

/* ---- Input ---- */

/* The source key of a message: text of the key property, "" when absent. */
static int message_key(struct ef_node *n, const struct alert *a, const struct ef_msg *msg,
                       char *out, size_t len)
{
    out[0] = '\0';
    if (!*a->key_path) {
        return 0;
    }
    const struct ef_val *k = ef_msg_get(msg, a->key_path);
    switch (ef_val_type(k)) {
    case EF_NULL: return 0;
    case EF_STR:
        if (ef_val_str_len(k) >= len) {
            ef_node_error(n, msg, "alert: msg.%s is longer than %zu bytes", a->key_path, len - 1);
            return EF_ERANGE;
        }
        memcpy(out, ef_val_str_get(k), ef_val_str_len(k) + 1);
        return 0;
    case EF_NUM: ef_num_format(ef_val_num_get(k), out); return 0;
    case EF_BOOL: snprintf(out, len, "%s", ef_val_bool_get(k) ? "true" : "false"); return 0;
    default:
        ef_node_error(n, msg, "alert: msg.%s must be a string or number to serve as key, not %s",
                      a->key_path, ef_type_name(ef_val_type(k)));
        return EF_ETYPE;
    }
}

static void ack_inst(struct ef_node *n, struct alert *a, struct source *s, int which, double now,
                     int *acked)
{
    struct inst *in = &s->inst[which];
    if (in->active && !in->acked) {
        in->acked = true;
        in->acked_at = now;
        emit(n, a, s, which, 2, "ack", NULL);
        (*acked)++;
    }
}

/* msg.ack: true acknowledges the alerts of the message's source, a string the alert with that
 * dedup key. */
static void handle_ack(struct ef_node *n, struct alert *a, const struct ef_msg *msg,
                       const struct ef_val *ack, double now)
{
    int acked = 0;
    if (ef_val_type(ack) == EF_STR) {
        const char *dk = ef_val_str_get(ack);
        for (size_t i = 0; i < a->nbuckets; i++) {
            for (struct source *s = a->buckets[i]; s; s = s->next) {
                int before = acked;
                for (int which = 0; which < 2; which++) {
                    if (s->inst[which].dedup && !strcmp(s->inst[which].dedup, dk)) {
                        ack_inst(n, a, s, which, now, &acked);
                    }
                }
                if (acked > before) {
                    persist(n, a, s);
                }
            }
        }
        if (!acked) {
            ef_node_warn(n, "alert: ack: no active unacknowledged alert has dedup key '%s'", dk);
        }
        return;
    }
    char key[ALERT_KEY_MAX];
    if (message_key(n, a, msg, key, sizeof(key)) != 0) {
        return;
    }
    struct source *s = source_find(a, key);
    if (s) {
        ack_inst(n, a, s, 0, now, &acked);
        ack_inst(n, a, s, 1, now, &acked);
    }
    if (acked) {
        persist(n, a, s);
    } else {
        ef_node_warn(n, "alert: ack: no active unacknowledged alert for key '%s'", key);
    }
}

/* Reads the value of a data message for the condition; reports and returns an error if unusable. */
static int read_value(struct ef_node *n, const struct alert *a, const struct ef_msg *msg,
                      double *num, bool *flag)
{
    const struct ef_val *v = ef_msg_get(msg, a->value_path);
    if (!v) {
        ef_node_error(n, msg, "alert: msg.%s is missing", a->value_path);
        return EF_ENOENT;
    }
    if (a->cond == COND_BOOLEAN) {
        const char *s = ef_val_str_get(v);
        if (ef_val_type(v) == EF_BOOL) {
            *flag = ef_val_bool_get(v);
        } else if (ef_val_type(v) == EF_NUM && isfinite(ef_val_num_get(v))) {
            *flag = ef_val_num_get(v) != 0;
        } else if (ef_val_type(v) == EF_STR && (!strcmp(s, "true") || !strcmp(s, "false"))) {
            *flag = !strcmp(s, "true");
        } else {
            ef_node_error(n, msg, "alert: msg.%s is not a boolean (%s)", a->value_path,
                          ef_type_name(ef_val_type(v)));
            return EF_ETYPE;
        }
        return 0;
    }
    if (!to_number(v, num)) {
        ef_node_error(n, msg, "alert: msg.%s is not a number (%s)", a->value_path,
                      ef_type_name(ef_val_type(v)));
        return EF_ETYPE;
    }
    return 0;
}

/* Threshold test in the configured direction: raise beyond `raise`, resolve back past `resolve`. */
static void level_test(const struct alert *a, double v, bool *meets, bool *clears)
{
    *meets = a->below ? v < a->raise : v > a->raise;
    *clears = a->below ? v >= a->resolve : v <= a->resolve;
}

/* A reading: updates the source and evaluates its alerts; problems go to catch nodes. */
static struct source *handle_data(struct ef_node *n, struct alert *a, const struct ef_msg *msg,
                                  double now)
{
    char key[ALERT_KEY_MAX];
    if (message_key(n, a, msg, key, sizeof(key)) != 0) {
        return NULL;
    }
    struct source *s = source_find(a, key);
    if (!s) {
        if (a->nsources >= (size_t)a->max_keys) {
            ef_node_error(n, msg, "alert: more than maxKeys (%lld) sources; '%s' is not tracked",
                          (long long)a->max_keys, key);
            return NULL;
        }
        if (!(s = source_add(a, key))) {
            ef_node_error(n, msg, "alert: out of memory");
            return NULL;
        }
    }
    /* Any message from the source ends its silence, even one whose value is unusable. */
    s->seen = now;
    if (a->missing > 0 || s->inst[1].active) { /* also one restored after `missing` was unset */
        evaluate(n, a, s, 1, false, true, NULL, now, "data");
    }
    if (*a->dedup_path) {
        const struct ef_val *d = ef_msg_get(msg, a->dedup_path);
        char buf[32];
        const char *text = ef_val_type(d) == EF_STR ? ef_val_str_get(d) : NULL;
        if (ef_val_type(d) == EF_NUM) {
            ef_num_format(ef_val_num_get(d), buf);
            text = buf;
        }
        if (text) {
            free(s->dedup_prop);
            s->dedup_prop = strdup(text);
        }
    }
    double num = 0;
    bool flag = false;
    if (a->cond != COND_MISSING && read_value(n, a, msg, &num, &flag) == 0) {
        bool meets = false, clears = false;
        struct ef_val *value = NULL;
        if (a->cond == COND_BOOLEAN) {
            meets = flag;
            clears = !flag;
            value = ef_val_bool(flag);
        } else if (a->cond == COND_RATE) {
            double rate;
            sample_add(a, s, now, num);
            if (sample_rate(s, &rate)) {
                level_test(a, rate, &meets, &clears);
                value = ef_val_num(rate);
            }
        } else {
            level_test(a, num, &meets, &clears);
            value = ef_val_num(num);
        }
        evaluate(n, a, s, 0, meets, clears, value, now, "condition");
    }
    persist(n, a, s);
    return s;
}

static int cb_alert_input(struct ef_node *n, struct ef_msg *msg)
{
    struct alert *a = ef_node_priv(n);
    double now = ef_now_ms();
    const struct ef_val *ack = ef_msg_get(msg, "ack");
    if (ef_val_type(ack) == EF_STR || (ef_val_type(ack) == EF_BOOL && ef_val_bool_get(ack))) {
        handle_ack(n, a, msg, ack, now);
    } else {
        struct source *s = handle_data(n, a, msg, now);
        if (s) {
            arm(a, source_deadline(a, s), now); /* an ack only moves deadlines later */
        }
    }
    alert__show_status(n, a);
    ef_msg_free(msg);
    return EF_INPUT_DONE;
}

/* ---- Life cycle ---- */

static int cb_alert_init(struct ef_node *n, const struct ef_val *config)
{
    struct alert *a = ef_node_priv(n);
    int cond = INDEX_OF(conditions, a->condition);
    if (cond < 0) {
        ef_node_error(n, NULL, "condition: unknown '%s' (threshold, rate, score, boolean, missing)",
                      a->condition);
        return EF_EINVAL;
    }
    a->cond = (enum alert_cond)cond;
    a->name = ef_node_name(n);
    if (strcmp(a->direction, "above") != 0 && strcmp(a->direction, "below") != 0) {
        ef_node_error(n, NULL, "direction: must be above or below, not '%s'", a->direction);
        return EF_EINVAL;
    }
    a->below = !strcmp(a->direction, "below");
    if (a->cond == COND_SCORE && a->below) {
        ef_node_error(n, NULL, "direction: a score alert is raised above its threshold");
        return EF_EINVAL;
    }
    const struct ef_val *res = ef_val_obj_get(config, "resolve");
    a->resolve = a->raise;
    if (res && !(ef_val_type(res) == EF_STR && !ef_val_str_len(res)) &&
        ef_val_type(res) != EF_NULL && !to_number(res, &a->resolve)) {
        ef_node_error(n, NULL, "resolve: must be a number or empty, not %s",
                      ef_type_name(ef_val_type(res)));
        return EF_EINVAL;
    }
    if (a->below ? a->resolve < a->raise : a->resolve > a->raise) {
        ef_node_error(n, NULL,
                      "resolve: %g is not on the safe side of raise %g (direction %s: resolve "
                      "must be %s raise)",
                      a->resolve, a->raise, a->direction, a->below ? ">=" : "<=");
        return EF_EINVAL;
    }
    if (INDEX_OF(severities, a->severity) < 0 ||
        (*a->missing_severity && INDEX_OF(severities, a->missing_severity) < 0)) {
        ef_node_error(n, NULL,
                      "severity: must be critical, major, minor, warning or info, not '%s'",
                      INDEX_OF(severities, a->severity) < 0 ? a->severity : a->missing_severity);
        return EF_EINVAL;
    }
    struct {
        const char *name;
        double v;
    } nums[] = {{"window", a->window},
                {"missing", a->missing},
                {"cooldown", a->cooldown},
                {"renotify", a->renotify},
                {"autoResolve", a->auto_resolve}};
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        if (!(nums[i].v >= 0) || nums[i].v > 1e9) {
            ef_node_error(n, NULL, "%s: must be a number of seconds >= 0, not %g", nums[i].name,
                          nums[i].v);
            return EF_EINVAL;
        }
    }
    if (a->cond == COND_RATE && a->window <= 0) {
        ef_node_error(n, NULL, "window: a rate alert needs a window > 0 seconds");
        return EF_EINVAL;
    }
    if (a->cond == COND_MISSING && a->missing <= 0) {
        ef_node_error(n, NULL, "missing: a missing-data alert needs missing > 0 seconds");
        return EF_EINVAL;
    }
    if (a->max_keys < 1) {
        ef_node_error(n, NULL, "maxKeys: must be at least 1");
        return EF_EINVAL;
    }
    const char *paths[][2] = {
        {"value", a->value_path}, {"key", a->key_path}, {"dedupProperty", a->dedup_path}};
    for (size_t i = 0; i < 3; i++) {
        char err[160];
        struct ef_path *p = *paths[i][1] ? ef_path_parse(paths[i][1], err, sizeof(err)) : NULL;
        if (*paths[i][1] && !p) {
            ef_node_error(n, NULL, "%s: bad property '%s': %s", paths[i][0], paths[i][1], err);
            return EF_EINVAL;
        }
        ef_path_free(p);
    }
    if (!*a->value_path && a->cond != COND_MISSING) {
        ef_node_error(n, NULL, "value: a msg property is required");
        return EF_EINVAL;
    }
    if (template_check(n, "dedupKey", a->dedup_tpl) != 0 ||
        template_check(n, "topic", a->topic_tpl) != 0 || alert__webhook_init(n, a) != 0) {
        return EF_EINVAL;
    }
    a->timer = ef_timer_new(n, on_timer, a);
    a->save_timer = ef_timer_new(n, on_save_timer, a);
    a->armed = INFINITY;
    return a->timer && a->save_timer ? 0 : EF_ENOMEM;
}

static void cb_alert_start(struct ef_node *n)
{
    struct alert *a = ef_node_priv(n);
    a->store_name = *a->store ? a->store : NULL;
    struct ef_val *probe = ef_ctx_keys(n, EF_CTX_NODE, a->store_name);
    if (!probe) {
        ef_node_warn(n,
                     "alert: context store '%s' is not configured (settings contextStorage); the "
                     "alert state is kept in the default store and may not survive a restart",
                     a->store);
        a->store_name = NULL;
    }
    ef_val_unref(probe);
    restore(n, a);
    double now = ef_now_ms();
    if (!*a->key_path && a->missing > 0 && !source_find(a, "")) {
        /* A single source is expected from the start: its silence counts from now. */
        struct source *s = source_add(a, "");
        if (s) {
            s->seen = now;
            persist(n, a, s);
        }
    }
    alert__show_status(n, a);
    on_timer(n, a); /* fires what fell due while the runtime was down, arms the timer */
}

static void cb_alert_close(struct ef_node *n)
{
    struct alert *a = ef_node_priv(n);
    save_dirty(n, a);
    free(a->dirty);
    a->dirty = NULL;
    sources_free(a);
    ef_val_unref(a->saved);
    a->saved = NULL;
    alert__webhook_close(n, a);
}

static const struct ef_node_type alert_type = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "alert",
    .description = "Raises, re-notifies and resolves alerts from thresholds, rates, scores, "
                   "booleans and missing data; state survives restarts",
    .category = "edge intelligence",
    .inputs = 1,
    .outputs = 3,
    .props = alert_props,
    .priv_size = sizeof(struct alert),
    .cb_init = cb_alert_init,
    .cb_start = cb_alert_start,
    .cb_input = cb_alert_input,
    .cb_close = cb_alert_close,
};

EF_PLUGIN_VERSION_CURRENT

int ef_plugin_init(struct ef_plugin *p)
{
    return ef_register_type(p, &alert_type);
}
