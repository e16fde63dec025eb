/*
 * alert.h - the alert plugin's instance state, shared by alert.c (the node)
 * and webhook.c (POSTing events to a URL). Internal to the plugin.
 */
#ifndef EF_PLUGIN_ALERT_H
#define EF_PLUGIN_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <edgeflow/edgeflow.h>

enum alert_cond { COND_THRESHOLD, COND_RATE, COND_SCORE, COND_BOOLEAN, COND_MISSING };

/* One alert of a source: the condition's (inst[0]) or missing data (inst[1]). */
struct inst {
    bool active;  /* raised and not yet resolved */
    bool acked;   /* acknowledged while active */
    bool pending; /* condition met during the cooldown: raise when it ends */
    double raised_at, resolved_at, acked_at; /* ms since the epoch; 0: never */
    double last_notify;                      /* last raise or re-notify */
    double last_true;                        /* last time the condition was met */
    double count;                            /* notifications of this activation */
    struct ef_val *value;                    /* last value (number, boolean) or NULL */
    char *dedup;                             /* dedup key, fixed when raised */
};

struct sample {
    double t, v;
};

/* A source: one value of the key property. */
struct source {
    char *key;
    double seen;            /* time of its last message; 0: never */
    struct sample *samples; /* rate: the window, oldest first */
    size_t nsamples, cap;
    char *dedup_prop; /* last value of dedupProperty, or NULL */
    struct inst inst[2];
    bool dirty;          /* changed since last saved */
    struct source *next; /* hash chain */
};

struct alert {
    /* properties (filled by the runtime from the property table) */
    const char *condition, *value_path, *key_path, *direction;
    double raise;
    double window, missing;
    const char *severity, *missing_severity, *dedup_tpl, *dedup_path, *topic_tpl;
    double cooldown, renotify, auto_resolve;
    int64_t max_keys;
    const char *store, *webhook;
    /* derived */
    enum alert_cond cond;
    bool below;
    double resolve;
    const char *name;
    const char *store_name; /* NULL: the default store */
    /* state */
    struct source **buckets;
    size_t nbuckets, nsources;
    struct ef_val *saved;        /* the sources object last handed to the context store */
    struct ef_timer *timer;      /* the earliest deadline of any source */
    double armed;                /* when it fires (ms since the epoch); INFINITY: stopped */
    struct ef_timer *save_timer; /* writes the changed sources to the context store */
    struct source **dirty;       /* the changed sources */
    size_t ndirty, dirty_cap;
    size_t nactive[5]; /* active alerts per severity (critical first) */
    char status[160];  /* the status text last shown */
    /* webhook (webhook.c) */
    char **wh_queue; /* ring of JSON bodies waiting */
    size_t wh_head, wh_len;
    struct ef_http_call *wh_call; /* the post running, or NULL */
    double wh_failed;             /* posts that failed or were dropped */
};

/* Shows the active alert count, the most severe, and webhook failures as the node status. */
void alert__show_status(struct ef_node *n, struct alert *a);
/* Checks the webhook URL. Returns 0, or EF_EINVAL after ef_node_error. */
int alert__webhook_init(struct ef_node *n, struct alert *a);
/* Queues a POST of an event payload (borrowed) to the webhook URL, if one is set. */
void alert__webhook_post(struct ef_node *n, struct alert *a, const struct ef_val *payload);
/* Frees the queue (the runtime cancels a running post when the node closes). */
void alert__webhook_close(struct ef_node *n, struct alert *a);

#endif
