/*
 * test_rollout.c - the fleet manager's rollout state machine
 * (fleet/manager/rollout.c) driven by device reports and a virtual clock:
 * wave planning, canary then waves, offline devices, failure budget,
 * automatic rollback, timeouts, pause/resume/cancel and restore.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "manager/rollout.h"

/* What the state machine asked for. */
struct sent {
    char device[RO_ID_MAX];
    char snapshot[RO_ID_MAX];
    bool rollback;
    int64_t seq;
};

struct fake {
    struct sent sent[256];
    int nsent;
    int64_t seq;
    int changes;
    bool refuse; /* send fails */
};

static int64_t fake_send(void *ud, struct ro_rollout *r, struct ro_device *d, const char *snapshot,
                         bool rollback)
{
    (void)r;
    struct fake *f = ud;
    if (f->refuse) {
        return -1;
    }
    struct sent *s = &f->sent[f->nsent++];
    snprintf(s->device, sizeof(s->device), "%s", d->id);
    snprintf(s->snapshot, sizeof(s->snapshot), "%s", snapshot);
    s->rollback = rollback;
    s->seq = ++f->seq;
    return s->seq;
}

static void fake_changed(void *ud, struct ro_rollout *r, struct ro_device *d)
{
    (void)r;
    (void)d;
    ((struct fake *)ud)->changes++;
}

static const struct ro_ops fake_ops = {.send = fake_send, .changed = fake_changed};

static void setup(struct ro_rollout *r, struct fake *f, size_t n, const bool *online,
                  const char *const *targets, int ntargets)
{
    memset(r, 0, sizeof(*r));
    memset(f, 0, sizeof(*f));
    snprintf(r->id, sizeof(r->id), "r-1");
    snprintf(r->group, sizeof(r->group), "g");
    snprintf(r->snapshot, sizeof(r->snapshot), "NEW");
    r->health_seconds = 5;
    r->wave_timeout = 60;
    r->auto_rollback = true;
    const char *ids[64], *from[64];
    char names[64][16];
    for (size_t i = 0; i < n; i++) {
        /* given in reverse order: the rollout sorts them */
        snprintf(names[i], sizeof(names[i]), "dev-%02u", (unsigned)((n - i) % 100));
        ids[i] = names[i];
        from[i] = "OLD";
    }
    bool on[64];
    for (size_t i = 0; i < n; i++) {
        on[i] = online ? online[n - 1 - i] : true;
    }
    char err[128];
    CU_ASSERT_EQUAL_FATAL(
        ro_init(r, ids, from, on, n, targets, ntargets, &fake_ops, f, err, sizeof(err)), 0);
}

/* The device reports the snapshot running healthy for the seq it was sent. */
static void report_healthy(struct ro_rollout *r, const char *id, int64_t now)
{
    struct ro_device *d = ro_find(r, id);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    struct ro_report rep = {.device = id,
                            .online = true,
                            .snapshot = r->snapshot,
                            .health = "healthy",
                            .result_seq = d->seq,
                            .result_snapshot = r->snapshot,
                            .result_status = "applied"};
    ro_on_report(r, &rep, now);
}

static void report_failed(struct ro_rollout *r, const char *id, int64_t now)
{
    struct ro_device *d = ro_find(r, id);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    struct ro_report rep = {.device = id,
                            .online = true,
                            .snapshot = "OLD",
                            .health = "healthy",
                            .result_seq = d->seq,
                            .result_snapshot = r->snapshot,
                            .result_status = "failed",
                            .result_reason = "3 node errors"};
    ro_on_report(r, &rep, now);
}

static int count_sent_to(const struct fake *f, const char *snapshot, bool rollback)
{
    int n = 0;
    for (int i = 0; i < f->nsent; i++) {
        n += !strcmp(f->sent[i].snapshot, snapshot) && f->sent[i].rollback == rollback;
    }
    return n;
}

static void test_plan(void)
{
    size_t ends[RO_WAVES_MAX];
    char err[128];
    const char *def[] = {"1", "10%", "50%", "100%"};
    CU_ASSERT_EQUAL(ro_plan(def, 4, 100, ends, RO_WAVES_MAX, err, sizeof(err)), 4);
    CU_ASSERT_EQUAL(ends[0], 1);
    CU_ASSERT_EQUAL(ends[1], 10);
    CU_ASSERT_EQUAL(ends[2], 50);
    CU_ASSERT_EQUAL(ends[3], 100);
    /* 3 devices: 10% rounds up to 1, the same as the canary, so it is dropped */
    CU_ASSERT_EQUAL(ro_plan(def, 4, 3, ends, RO_WAVES_MAX, err, sizeof(err)), 3);
    CU_ASSERT_EQUAL(ends[0], 1);
    CU_ASSERT_EQUAL(ends[1], 2);
    CU_ASSERT_EQUAL(ends[2], 3);
    /* targets that stop short get a last wave of everybody */
    const char *shortw[] = {"2", "5"};
    CU_ASSERT_EQUAL(ro_plan(shortw, 2, 20, ends, RO_WAVES_MAX, err, sizeof(err)), 3);
    CU_ASSERT_EQUAL(ends[2], 20);
    /* counts above n are clamped */
    const char *big[] = {"50"};
    CU_ASSERT_EQUAL(ro_plan(big, 1, 4, ends, RO_WAVES_MAX, err, sizeof(err)), 1);
    CU_ASSERT_EQUAL(ends[0], 4);
    /* no targets: one wave */
    CU_ASSERT_EQUAL(ro_plan(NULL, 0, 7, ends, RO_WAVES_MAX, err, sizeof(err)), 1);
    CU_ASSERT_EQUAL(ends[0], 7);
    CU_ASSERT_EQUAL(ro_plan(def, 4, 0, ends, RO_WAVES_MAX, err, sizeof(err)), 0);
    /* bad targets */
    const char *bad1[] = {"0"};
    CU_ASSERT_EQUAL(ro_plan(bad1, 1, 5, ends, RO_WAVES_MAX, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "wave 1"));
    const char *bad2[] = {"1", "150%"};
    CU_ASSERT_EQUAL(ro_plan(bad2, 2, 5, ends, RO_WAVES_MAX, err, sizeof(err)), -1);
    const char *bad3[] = {"x"};
    CU_ASSERT_EQUAL(ro_plan(bad3, 1, 5, ends, RO_WAVES_MAX, err, sizeof(err)), -1);
    const char *bad4[] = {"1.5"};
    CU_ASSERT_EQUAL(ro_plan(bad4, 1, 5, ends, RO_WAVES_MAX, err, sizeof(err)), -1);
}

static void test_waves(void)
{
    struct ro_rollout r;
    struct fake f;
    const char *t[] = {"1", "50%", "100%"};
    setup(&r, &f, 4, NULL, t, 3);
    CU_ASSERT_EQUAL(r.nwaves, 3);
    CU_ASSERT_STRING_EQUAL(r.dev[0].id, "dev-01"); /* sorted */
    ro_start(&r, 0);
    /* canary only */
    CU_ASSERT_EQUAL(f.nsent, 1);
    CU_ASSERT_STRING_EQUAL(f.sent[0].device, "dev-01");
    CU_ASSERT_EQUAL(r.dev[0].status, RO_DEV_UPDATING);
    CU_ASSERT_EQUAL(r.dev[1].status, RO_DEV_WAITING);
    /* a report for another seq (an older desired) is not success */
    struct ro_report old = {.device = "dev-01",
                            .online = true,
                            .snapshot = "OLD",
                            .health = "healthy",
                            .result_seq = 0};
    ro_on_report(&r, &old, 1000);
    CU_ASSERT_EQUAL(r.dev[0].status, RO_DEV_UPDATING);
    report_healthy(&r, "dev-01", 5000);
    CU_ASSERT_EQUAL(r.dev[0].status, RO_DEV_HEALTHY);
    /* wave 2: up to 50% = 2 devices */
    CU_ASSERT_EQUAL(f.nsent, 2);
    CU_ASSERT_STRING_EQUAL(f.sent[1].device, "dev-02");
    CU_ASSERT_EQUAL(r.wave, 1);
    report_healthy(&r, "dev-02", 9000);
    CU_ASSERT_EQUAL(f.nsent, 4);
    CU_ASSERT_EQUAL(r.wave, 2);
    report_healthy(&r, "dev-04", 10000);
    CU_ASSERT_EQUAL(r.state, RO_RUNNING);
    report_healthy(&r, "dev-03", 11000);
    CU_ASSERT_EQUAL(r.state, RO_COMPLETED);
    CU_ASSERT_FALSE(ro_active(&r));
    CU_ASSERT_EQUAL(count_sent_to(&f, "NEW", false), 4);
    CU_ASSERT_EQUAL(count_sent_to(&f, "OLD", true), 0);
    CU_ASSERT(f.changes > 0);
    ro_free(&r);
}

static void test_bad_canary_rolls_back(void)
{
    struct ro_rollout r;
    struct fake f;
    const char *t[] = {"1", "10%", "50%", "100%"};
    setup(&r, &f, 5, NULL, t, 4);
    ro_start(&r, 0);
    CU_ASSERT_EQUAL(f.nsent, 1);
    report_failed(&r, "dev-01", 3000);
    CU_ASSERT_EQUAL(r.state, RO_ROLLEDBACK);
    CU_ASSERT_EQUAL(r.dev[0].status, RO_DEV_ROLLEDBACK);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.reason, "dev-01"));
    /* the canary is sent back to its previous snapshot, nobody else got anything */
    CU_ASSERT_EQUAL(f.nsent, 2);
    CU_ASSERT_STRING_EQUAL(f.sent[1].device, "dev-01");
    CU_ASSERT_STRING_EQUAL(f.sent[1].snapshot, "OLD");
    CU_ASSERT_TRUE(f.sent[1].rollback);
    for (size_t i = 1; i < r.ndev; i++) {
        CU_ASSERT_EQUAL(r.dev[i].status, RO_DEV_WAITING);
    }
    /* later reports change nothing */
    report_healthy(&r, "dev-01", 9000);
    CU_ASSERT_EQUAL(r.state, RO_ROLLEDBACK);
    CU_ASSERT_EQUAL(f.nsent, 2);
    ro_tick(&r, 1000000);
    CU_ASSERT_EQUAL(f.nsent, 2);
    ro_free(&r);
}

static void test_budget_and_pause_without_rollback(void)
{
    struct ro_rollout r;
    struct fake f;
    setup(&r, &f, 4, NULL, NULL, 0); /* all at once */
    r.failure_budget = 1;
    r.auto_rollback = false;
    ro_start(&r, 0);
    CU_ASSERT_EQUAL(f.nsent, 4);
    report_failed(&r, "dev-02", 100);
    CU_ASSERT_EQUAL(r.state, RO_RUNNING); /* within budget */
    CU_ASSERT_EQUAL(r.failures, 1);
    report_failed(&r, "dev-03", 200);
    CU_ASSERT_EQUAL(r.state, RO_PAUSED);
    CU_ASSERT_EQUAL(count_sent_to(&f, "OLD", true), 0);
    char err[128];
    CU_ASSERT_EQUAL(ro_pause(&r, err, sizeof(err)), -1);
    /* an operator rolls back: every device that was sent the snapshot goes back */
    CU_ASSERT_EQUAL(ro_rollback(&r, NULL, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(r.state, RO_ROLLEDBACK);
    CU_ASSERT_EQUAL(count_sent_to(&f, "OLD", true), 4);
    CU_ASSERT_EQUAL(ro_rollback(&r, NULL, err, sizeof(err)), -1);
    ro_free(&r);
}

static void test_offline_pending_and_catch_up(void)
{
    struct ro_rollout r;
    struct fake f;
    const bool online[] = {true, false, true}; /* dev-02 offline */
    setup(&r, &f, 3, online, NULL, 0);
    ro_start(&r, 0);
    CU_ASSERT_EQUAL(f.nsent, 3); /* its desired is retained for it too */
    CU_ASSERT_EQUAL(ro_find(&r, "dev-02")->status, RO_DEV_PENDING);
    report_healthy(&r, "dev-01", 1000);
    report_healthy(&r, "dev-03", 1000);
    /* the offline device does not hold the rollout up */
    CU_ASSERT_EQUAL(r.state, RO_COMPLETED);
    CU_ASSERT_TRUE(ro_active(&r)); /* still waiting for dev-02 */
    /* it does not time out while offline */
    ro_tick(&r, 500000);
    CU_ASSERT_EQUAL(ro_find(&r, "dev-02")->status, RO_DEV_PENDING);
    /* back online: updating, then healthy */
    struct ro_report back = {
        .device = "dev-02", .online = true, .snapshot = "OLD", .health = "healthy"};
    ro_on_report(&r, &back, 600000);
    CU_ASSERT_EQUAL(ro_find(&r, "dev-02")->status, RO_DEV_UPDATING);
    report_healthy(&r, "dev-02", 610000);
    CU_ASSERT_EQUAL(ro_find(&r, "dev-02")->status, RO_DEV_HEALTHY);
    CU_ASSERT_FALSE(ro_active(&r));
    ro_free(&r);
}

static void test_timeout(void)
{
    struct ro_rollout r;
    struct fake f;
    const char *t[] = {"1", "100%"};
    setup(&r, &f, 3, NULL, t, 2);
    r.wave_timeout = 30;
    ro_start(&r, 0);
    ro_tick(&r, 29999);
    CU_ASSERT_EQUAL(r.dev[0].status, RO_DEV_UPDATING);
    ro_tick(&r, 30000);
    CU_ASSERT_EQUAL(r.state, RO_ROLLEDBACK);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.dev[0].reason, "30 s"));
    CU_ASSERT_EQUAL(f.nsent, 2);
    ro_free(&r);
}

static void test_pause_resume_cancel(void)
{
    struct ro_rollout r;
    struct fake f;
    const char *t[] = {"1", "2", "3"};
    setup(&r, &f, 3, NULL, t, 3);
    char err[128];
    ro_start(&r, 0);
    CU_ASSERT_EQUAL(ro_pause(&r, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(r.state, RO_PAUSED);
    report_healthy(&r, "dev-01", 100);
    CU_ASSERT_EQUAL(r.dev[0].status, RO_DEV_HEALTHY);
    CU_ASSERT_EQUAL(f.nsent, 1); /* paused: no next wave */
    CU_ASSERT_EQUAL(ro_resume(&r, 200, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(f.nsent, 2);
    CU_ASSERT_EQUAL(ro_resume(&r, 200, err, sizeof(err)), -1);
    CU_ASSERT_EQUAL(ro_cancel(&r, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(r.state, RO_CANCELLED);
    report_healthy(&r, "dev-02", 300);
    CU_ASSERT_EQUAL(f.nsent, 2);
    CU_ASSERT_FALSE(ro_active(&r));
    CU_ASSERT_EQUAL(ro_cancel(&r, err, sizeof(err)), -1);
    ro_free(&r);
}

static void test_restore(void)
{
    /* a rollout as a store would hold it: wave 0 done, wave 1 updating */
    struct ro_rollout r;
    struct fake f;
    memset(&r, 0, sizeof(r));
    memset(&f, 0, sizeof(f));
    f.seq = 10;
    snprintf(r.id, sizeof(r.id), "r-2");
    snprintf(r.snapshot, sizeof(r.snapshot), "NEW");
    r.wave_timeout = 60;
    r.auto_rollback = true;
    r.nwaves = 3;
    r.wave_end[0] = 1;
    r.wave_end[1] = 2;
    r.wave_end[2] = 3;
    r.wave = 1;
    r.state = RO_RUNNING;
    r.ndev = 3;
    r.dev = calloc(3, sizeof(*r.dev));
    const char *ids[] = {"c", "a", "b"}; /* unsorted as loaded */
    const int waves[] = {2, 0, 1};
    const enum ro_dev_status st[] = {RO_DEV_WAITING, RO_DEV_HEALTHY, RO_DEV_UPDATING};
    for (int i = 0; i < 3; i++) {
        snprintf(r.dev[i].id, sizeof(r.dev[i].id), "%s", ids[i]);
        snprintf(r.dev[i].from, sizeof(r.dev[i].from), "OLD");
        r.dev[i].wave = waves[i];
        r.dev[i].status = st[i];
        r.dev[i].seq = st[i] == RO_DEV_WAITING ? 0 : 5;
        r.dev[i].online = true;
    }
    ro_restore(&r, &fake_ops, &f, 1000000);
    ro_tick(&r, 1000000);
    CU_ASSERT_EQUAL(f.nsent, 0); /* b is still updating; its timeout restarted */
    ro_tick(&r, 1000000 + 59000);
    CU_ASSERT_EQUAL(ro_find(&r, "b")->status, RO_DEV_UPDATING);
    report_healthy(&r, "b", 1000000 + 60000);
    CU_ASSERT_EQUAL(f.nsent, 1);
    CU_ASSERT_STRING_EQUAL(f.sent[0].device, "c");
    report_healthy(&r, "c", 1000000 + 61000);
    CU_ASSERT_EQUAL(r.state, RO_COMPLETED);
    ro_free(&r);
}

static void test_send_failure_is_pending(void)
{
    struct ro_rollout r;
    struct fake f;
    setup(&r, &f, 2, NULL, NULL, 0);
    f.refuse = true;
    ro_start(&r, 0);
    CU_ASSERT_EQUAL(r.dev[0].status, RO_DEV_PENDING);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.dev[0].reason, "not published"));
    ro_free(&r);
}

static void test_names(void)
{
    CU_ASSERT_STRING_EQUAL(ro_state_name(RO_ROLLEDBACK), "rolledback");
    CU_ASSERT_EQUAL(ro_state_parse("paused"), RO_PAUSED);
    CU_ASSERT_EQUAL(ro_state_parse("nope"), -1);
    CU_ASSERT_STRING_EQUAL(ro_dev_status_name(RO_DEV_PENDING), "pending");
    CU_ASSERT_EQUAL(ro_dev_status_parse("healthy"), RO_DEV_HEALTHY);
    CU_ASSERT_EQUAL(ro_dev_status_parse(NULL), -1);
}

static void test_duplicate_ids(void)
{
    struct ro_rollout r;
    memset(&r, 0, sizeof(r));
    const char *ids[] = {"a", "b", "a"};
    char err[128];
    CU_ASSERT_EQUAL(ro_init(&r, ids, NULL, NULL, 3, NULL, 0, &fake_ops, NULL, err, sizeof(err)),
                    -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "twice"));
    CU_ASSERT_PTR_NULL(r.dev);
}

int init_rollout_tests(void)
{
    CU_pSuite s = CU_add_suite("rollout", NULL, NULL);
    if (!s || !CU_add_test(s, "plan", test_plan) || !CU_add_test(s, "waves", test_waves) ||
        !CU_add_test(s, "bad canary rolls back", test_bad_canary_rolls_back) ||
        !CU_add_test(s, "budget, pause", test_budget_and_pause_without_rollback) ||
        !CU_add_test(s, "offline pending", test_offline_pending_and_catch_up) ||
        !CU_add_test(s, "timeout", test_timeout) ||
        !CU_add_test(s, "pause resume cancel", test_pause_resume_cancel) ||
        !CU_add_test(s, "restore", test_restore) ||
        !CU_add_test(s, "send failure", test_send_failure_is_pending) ||
        !CU_add_test(s, "names", test_names) ||
        !CU_add_test(s, "duplicate ids", test_duplicate_ids)) {
        return -1;
    }
    return 0;
}
