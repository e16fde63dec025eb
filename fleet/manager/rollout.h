/*
 * rollout.h - the rollout state machine of the fleet manager (see
 * docs/fleet-protocol.md, "Rollouts"): wave planning over the selected
 * devices sorted by id, per-device outcomes, the failure budget, pause,
 * resume, cancel and rollback to each device's previous snapshot.
 *
 * Pure logic: no I/O and no clock of its own. The manager feeds it device
 * states and the time (milliseconds) and it acts through the callbacks of
 * struct ro_ops (publish a desired document, persist a change), so the unit
 * tests drive it with a virtual clock.
 */
#ifndef EF_FLEET_ROLLOUT_H
#define EF_FLEET_ROLLOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RO_ID_MAX 72 /* ids: device ids (64), snapshot sha256 (64), rollout ids */
#define RO_REASON_MAX 160
#define RO_WAVES_MAX 32

enum ro_state { RO_RUNNING, RO_PAUSED, RO_COMPLETED, RO_ROLLEDBACK, RO_CANCELLED };

enum ro_dev_status {
    RO_DEV_WAITING,   /* its wave has not started */
    RO_DEV_PENDING,   /* desired sent while it was offline: updates when it returns */
    RO_DEV_UPDATING,  /* desired sent, online, no outcome yet */
    RO_DEV_HEALTHY,   /* runs the snapshot healthy for the desired seq */
    RO_DEV_FAILED,    /* rejected, failed or timed out */
    RO_DEV_ROLLEDBACK /* sent back to the snapshot it ran before */
};

struct ro_device {
    char id[RO_ID_MAX];
    int wave; /* 0-based wave index */
    enum ro_dev_status status;
    char from[RO_ID_MAX]; /* snapshot it ran before ("" = none) */
    char reason[RO_REASON_MAX];
    int64_t seq;   /* seq of the desired document sent for this rollout (0 = none) */
    int64_t since; /* ms: when its current wait started (timeout base) */
    bool online;
};

struct ro_rollout;

/* What the state machine asks of the manager. */
struct ro_ops {
    /*
     * Publish a desired document to d for `snapshot` (the rollout's target,
     * or d->from on a rollback; "" on a rollback of a device that ran no
     * snapshot: clear its desired state). `rollback` tells which. Returns
     * the seq of the document sent (> 0), or -1 when it could not be sent.
     */
    int64_t (*send)(void *ud, struct ro_rollout *r, struct ro_device *d, const char *snapshot,
                    bool rollback);
    /* Something changed: d (NULL = the rollout itself: state, wave, counters). Persist it. */
    void (*changed)(void *ud, struct ro_rollout *r, struct ro_device *d);
};

struct ro_rollout {
    char id[RO_ID_MAX];
    char group[RO_ID_MAX];
    char snapshot[RO_ID_MAX];
    enum ro_state state;
    /* options */
    int health_seconds;
    int max_errors;
    int failure_budget;
    int wave_timeout; /* seconds */
    bool auto_rollback;
    /* plan: wave i covers devices [wave_end[i-1], wave_end[i]) */
    int nwaves;
    size_t wave_end[RO_WAVES_MAX];
    int wave; /* current wave (index of the last wave started), -1 before */
    int failures;
    char reason[RO_REASON_MAX]; /* why it paused or rolled back ("" otherwise) */
    /* devices, sorted by id */
    struct ro_device *dev;
    size_t ndev;
    const struct ro_ops *ops;
    void *ud;
};

/* A device state report as the manager parsed it (strings borrowed, may be NULL). */
struct ro_report {
    const char *device;
    bool online;
    const char *snapshot; /* running */
    const char *health;   /* "starting", "healthy", "unhealthy", "none" */
    int64_t result_seq;   /* result.seq, 0 when absent */
    const char *result_snapshot;
    const char *result_status; /* "fetching", "applying", "applied", "rejected", "failed" */
    const char *result_reason;
};

/*
 * Computes the cumulative wave ends for n devices from targets, each a
 * count ("1", "25") or a percentage ("10%", rounded up): clamped to n,
 * waves that add no device dropped, and a last wave covering all n added
 * when the targets stop short. ntargets 0 means one wave of all. Returns
 * the number of waves (0 when n is 0), or -1 with the reason in err for a
 * target that is not a positive count or a percentage in (0, 100].
 */
int ro_plan(const char *const *targets, int ntargets, size_t n, size_t *wave_end, int max,
            char *err, size_t errlen);

/*
 * Initialises r (zeroed by the caller with id, group, snapshot, options set)
 * for the devices `ids` (copied and sorted; from[i] is the snapshot device
 * i runs now, "" or NULL for none; online[i] whether it is online) with the
 * given wave targets. 0, or -1 with the reason in err (bad targets, out of
 * memory, a duplicate id). Nothing is sent before ro_start.
 */
int ro_init(struct ro_rollout *r, const char *const *ids, const char *const *from,
            const bool *online, size_t n, const char *const *targets, int ntargets,
            const struct ro_ops *ops, void *ud, char *err, size_t errlen);
/* Starts the first wave at time now. */
void ro_start(struct ro_rollout *r, int64_t now);
/*
 * Restores a rollout loaded from the store: r has every field set and dev
 * allocated with malloc (adopted); devices still updating restart their
 * timeout at now. Call ro_tick afterwards to go on.
 */
void ro_restore(struct ro_rollout *r, const struct ro_ops *ops, void *ud, int64_t now);
/* A device's state (or heartbeat's online bit) changed. Ignored for devices not in r. */
void ro_on_report(struct ro_rollout *r, const struct ro_report *rep, int64_t now);
/* Time passed: timeouts, wave advance. */
void ro_tick(struct ro_rollout *r, int64_t now);
/* Operator actions. Each returns 0, or -1 with the reason in err when not allowed now. */
int ro_pause(struct ro_rollout *r, char *err, size_t errlen);
int ro_resume(struct ro_rollout *r, int64_t now, char *err, size_t errlen);
int ro_cancel(struct ro_rollout *r, char *err, size_t errlen);
int ro_rollback(struct ro_rollout *r, const char *reason, char *err, size_t errlen);
/* True while the rollout still needs reports: running, paused, or completed with pending devices.
 */
bool ro_active(const struct ro_rollout *r);
/* The device with that id, or NULL. */
struct ro_device *ro_find(struct ro_rollout *r, const char *id);
/* Frees r's device table (not r). */
void ro_free(struct ro_rollout *r);

const char *ro_state_name(enum ro_state s);
const char *ro_dev_status_name(enum ro_dev_status s);
/* The enum of a name; -1 when unknown. */
int ro_state_parse(const char *name);
int ro_dev_status_parse(const char *name);

#endif
