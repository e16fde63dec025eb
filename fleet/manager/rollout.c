/*
 * rollout.c - the rollout state machine of the fleet manager: wave
 * planning, per-device outcomes, failure budget, pause/resume/cancel and
 * rollback. See rollout.h and docs/fleet-protocol.md ("Rollouts").
 */
#include "manager/rollout.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_names[] = {"running", "paused", "completed", "rolledback",
                                          "cancelled"};
static const char *const status_names[] = {"waiting", "pending", "updating",
                                           "healthy", "failed",  "rolledback"};

const char *ro_state_name(enum ro_state s)
{
    return (unsigned)s < 5 ? state_names[s] : "?";
}

const char *ro_dev_status_name(enum ro_dev_status s)
{
    return (unsigned)s < 6 ? status_names[s] : "?";
}

int ro_state_parse(const char *name)
{
    for (int i = 0; name && i < 5; i++) {
        if (!strcmp(name, state_names[i])) {
            return i;
        }
    }
    return -1;
}

int ro_dev_status_parse(const char *name)
{
    for (int i = 0; name && i < 6; i++) {
        if (!strcmp(name, status_names[i])) {
            return i;
        }
    }
    return -1;
}

int ro_plan(const char *const *targets, int ntargets, size_t n, size_t *wave_end, int max,
            char *err, size_t errlen)
{
    int nw = 0;
    size_t last = 0;
    for (int i = 0; i < ntargets; i++) {
        const char *t = targets[i];
        char *end;
        errno = 0;
        double v = t ? strtod(t, &end) : 0;
        if (!t || end == t || errno || !(v > 0)) {
            snprintf(err, errlen, "wave %d: '%s' is not a count or a percentage", i + 1,
                     t ? t : "");
            return -1;
        }
        size_t upto;
        if (*end == '%' && !end[1]) {
            if (v > 100) {
                snprintf(err, errlen, "wave %d: %s is more than 100%%", i + 1, t);
                return -1;
            }
            upto = (size_t)ceil(v * (double)n / 100.0 - 1e-9);
        } else if (!*end && v == floor(v)) {
            upto = v > (double)n ? n : (size_t)v;
        } else {
            snprintf(err, errlen, "wave %d: '%s' is not a count or a percentage", i + 1, t);
            return -1;
        }
        if (upto > n) {
            upto = n;
        }
        if (upto <= last) {
            continue; /* adds no device */
        }
        if (nw == max) {
            snprintf(err, errlen, "more than %d waves", max);
            return -1;
        }
        wave_end[nw++] = upto;
        last = upto;
    }
    if (last < n) {
        if (nw == max) {
            snprintf(err, errlen, "more than %d waves", max);
            return -1;
        }
        wave_end[nw++] = n;
    }
    return nw;
}

static int cmp_dev(const void *a, const void *b)
{
    return strcmp(((const struct ro_device *)a)->id, ((const struct ro_device *)b)->id);
}

int ro_init(struct ro_rollout *r, const char *const *ids, const char *const *from,
            const bool *online, size_t n, const char *const *targets, int ntargets,
            const struct ro_ops *ops, void *ud, char *err, size_t errlen)
{
    int nw = ro_plan(targets, ntargets, n, r->wave_end, RO_WAVES_MAX, err, errlen);
    if (nw < 0) {
        return -1;
    }
    r->dev = n ? calloc(n, sizeof(*r->dev)) : NULL;
    if (n && !r->dev) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct ro_device *d = &r->dev[i];
        snprintf(d->id, sizeof(d->id), "%s", ids[i]);
        snprintf(d->from, sizeof(d->from), "%s", from && from[i] ? from[i] : "");
        d->online = online ? online[i] : false;
        d->status = RO_DEV_WAITING;
    }
    qsort(r->dev, n, sizeof(*r->dev), cmp_dev);
    for (size_t i = 1; i < n; i++) {
        if (!strcmp(r->dev[i - 1].id, r->dev[i].id)) {
            snprintf(err, errlen, "device %s is listed twice", r->dev[i].id);
            free(r->dev);
            r->dev = NULL;
            return -1;
        }
    }
    int w = 0;
    for (size_t i = 0; i < n; i++) {
        while (i >= r->wave_end[w]) {
            w++;
        }
        r->dev[i].wave = w;
    }
    r->ndev = n;
    r->nwaves = nw;
    r->wave = -1;
    r->failures = 0;
    r->state = RO_RUNNING;
    r->reason[0] = '\0';
    r->ops = ops;
    r->ud = ud;
    return 0;
}

struct ro_device *ro_find(struct ro_rollout *r, const char *id)
{
    struct ro_device key;
    snprintf(key.id, sizeof(key.id), "%s", id ? id : "");
    return r->ndev ? bsearch(&key, r->dev, r->ndev, sizeof(*r->dev), cmp_dev) : NULL;
}

static void changed(struct ro_rollout *r, struct ro_device *d)
{
    if (r->ops && r->ops->changed) {
        r->ops->changed(r->ud, r, d);
    }
}

static void start_wave(struct ro_rollout *r, int w, int64_t now)
{
    r->wave = w;
    for (size_t i = 0; i < r->ndev; i++) {
        struct ro_device *d = &r->dev[i];
        if (d->wave != w || d->status != RO_DEV_WAITING) {
            continue;
        }
        int64_t seq = r->ops->send(r->ud, r, d, r->snapshot, false);
        d->since = now;
        d->reason[0] = '\0';
        if (seq < 0) {
            /* not sent: it stays pending and is counted when it reports */
            d->status = RO_DEV_PENDING;
            snprintf(d->reason, sizeof(d->reason), "desired state not published");
        } else {
            d->seq = seq;
            d->status = d->online ? RO_DEV_UPDATING : RO_DEV_PENDING;
        }
        changed(r, d);
    }
    changed(r, NULL);
}

static void do_rollback(struct ro_rollout *r, const char *reason)
{
    for (size_t i = 0; i < r->ndev; i++) {
        struct ro_device *d = &r->dev[i];
        if (d->status == RO_DEV_WAITING || d->status == RO_DEV_ROLLEDBACK || d->seq == 0) {
            continue;
        }
        int64_t seq = r->ops->send(r->ud, r, d, d->from, true);
        if (seq > 0) {
            d->seq = seq;
        }
        d->status = RO_DEV_ROLLEDBACK;
        changed(r, d);
    }
    r->state = RO_ROLLEDBACK;
    snprintf(r->reason, sizeof(r->reason), "%s", reason);
    changed(r, NULL);
}

/* Moves to the next wave(s) when the current one has no device still updating. */
static void advance(struct ro_rollout *r, int64_t now)
{
    while (r->state == RO_RUNNING) {
        if (r->wave >= 0) {
            for (size_t i = 0; i < r->ndev && r->dev[i].wave <= r->wave; i++) {
                if (r->dev[i].status == RO_DEV_UPDATING || r->dev[i].status == RO_DEV_WAITING) {
                    return;
                }
            }
        }
        if (r->wave + 1 < r->nwaves) {
            start_wave(r, r->wave + 1, now);
        } else {
            r->state = RO_COMPLETED;
            changed(r, NULL);
        }
    }
}

static void device_failed(struct ro_rollout *r, struct ro_device *d)
{
    d->status = RO_DEV_FAILED;
    changed(r, d);
    if (r->state != RO_RUNNING && r->state != RO_PAUSED) {
        return; /* a late device of a completed rollout: recorded only */
    }
    r->failures++;
    if (r->failures <= r->failure_budget) {
        changed(r, NULL);
        return;
    }
    char why[RO_REASON_MAX];
    snprintf(why, sizeof(why), "failure budget exceeded: %s failed (%d failures)", d->id,
             r->failures);
    if (r->auto_rollback) {
        do_rollback(r, why);
    } else {
        r->state = RO_PAUSED;
        snprintf(r->reason, sizeof(r->reason), "%s", why);
        changed(r, NULL);
    }
}

static bool eq(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

void ro_start(struct ro_rollout *r, int64_t now)
{
    r->state = RO_RUNNING;
    advance(r, now);
}

void ro_restore(struct ro_rollout *r, const struct ro_ops *ops, void *ud, int64_t now)
{
    r->ops = ops;
    r->ud = ud;
    qsort(r->dev, r->ndev, sizeof(*r->dev), cmp_dev);
    for (size_t i = 0; i < r->ndev; i++) {
        if (r->dev[i].status == RO_DEV_UPDATING) {
            r->dev[i].since = now;
        }
    }
}

void ro_on_report(struct ro_rollout *r, const struct ro_report *rep, int64_t now)
{
    struct ro_device *d = ro_find(r, rep->device);
    if (!d) {
        return;
    }
    bool was_online = d->online;
    d->online = rep->online;
    if (r->state == RO_ROLLEDBACK || r->state == RO_CANCELLED) {
        return;
    }
    if (d->status != RO_DEV_PENDING && d->status != RO_DEV_UPDATING) {
        if (was_online != d->online) {
            changed(r, d);
        }
        return;
    }
    if (rep->online && eq(rep->snapshot, r->snapshot) && eq(rep->health, "healthy") &&
        rep->result_seq >= d->seq && eq(rep->result_snapshot, r->snapshot)) {
        d->status = RO_DEV_HEALTHY;
        d->reason[0] = '\0';
        changed(r, d);
    } else if (rep->result_seq == d->seq && eq(rep->result_snapshot, r->snapshot) &&
               (eq(rep->result_status, "rejected") || eq(rep->result_status, "failed"))) {
        snprintf(d->reason, sizeof(d->reason), "%s%s%s", rep->result_status,
                 rep->result_reason ? ": " : "", rep->result_reason ? rep->result_reason : "");
        device_failed(r, d);
    } else if (d->status == RO_DEV_PENDING && rep->online) {
        d->status = RO_DEV_UPDATING; /* back online: its wait starts now */
        d->since = now;
        d->reason[0] = '\0';
        changed(r, d);
    } else if (d->status == RO_DEV_UPDATING && !rep->online) {
        d->status = RO_DEV_PENDING; /* went away while updating: it does not hold the wave */
        changed(r, d);
    } else if (was_online != d->online) {
        changed(r, d);
    }
    advance(r, now);
}

void ro_tick(struct ro_rollout *r, int64_t now)
{
    if (r->state != RO_RUNNING && r->state != RO_PAUSED && r->state != RO_COMPLETED) {
        return;
    }
    int64_t limit = (int64_t)r->wave_timeout * 1000;
    for (size_t i = 0; i < r->ndev; i++) {
        struct ro_device *d = &r->dev[i];
        if (d->status == RO_DEV_UPDATING && d->online && now - d->since >= limit) {
            snprintf(d->reason, sizeof(d->reason), "not healthy within %d s", r->wave_timeout);
            device_failed(r, d);
            if (r->state == RO_ROLLEDBACK) {
                return;
            }
        }
    }
    advance(r, now);
}

int ro_pause(struct ro_rollout *r, char *err, size_t errlen)
{
    if (r->state != RO_RUNNING) {
        snprintf(err, errlen, "rollout %s is %s, not running", r->id, ro_state_name(r->state));
        return -1;
    }
    r->state = RO_PAUSED;
    snprintf(r->reason, sizeof(r->reason), "paused by request");
    changed(r, NULL);
    return 0;
}

int ro_resume(struct ro_rollout *r, int64_t now, char *err, size_t errlen)
{
    if (r->state != RO_PAUSED) {
        snprintf(err, errlen, "rollout %s is %s, not paused", r->id, ro_state_name(r->state));
        return -1;
    }
    r->state = RO_RUNNING;
    r->reason[0] = '\0';
    for (size_t i = 0; i < r->ndev; i++) {
        if (r->dev[i].status == RO_DEV_UPDATING) {
            r->dev[i].since = now;
        }
    }
    changed(r, NULL);
    advance(r, now);
    return 0;
}

int ro_cancel(struct ro_rollout *r, char *err, size_t errlen)
{
    if (r->state != RO_RUNNING && r->state != RO_PAUSED) {
        snprintf(err, errlen, "rollout %s is %s: nothing to cancel", r->id,
                 ro_state_name(r->state));
        return -1;
    }
    r->state = RO_CANCELLED;
    snprintf(r->reason, sizeof(r->reason), "cancelled by request");
    changed(r, NULL);
    return 0;
}

int ro_rollback(struct ro_rollout *r, const char *reason, char *err, size_t errlen)
{
    if (r->state == RO_ROLLEDBACK) {
        snprintf(err, errlen, "rollout %s is already rolled back", r->id);
        return -1;
    }
    do_rollback(r, reason ? reason : "rolled back by request");
    return 0;
}

bool ro_active(const struct ro_rollout *r)
{
    if (r->state == RO_RUNNING || r->state == RO_PAUSED) {
        return true;
    }
    if (r->state != RO_COMPLETED) {
        return false;
    }
    for (size_t i = 0; i < r->ndev; i++) {
        if (r->dev[i].status == RO_DEV_PENDING || r->dev[i].status == RO_DEV_UPDATING) {
            return true;
        }
    }
    return false;
}

void ro_free(struct ro_rollout *r)
{
    free(r->dev);
    r->dev = NULL;
    r->ndev = 0;
}
