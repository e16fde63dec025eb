/*
 * manager.h - `edgeflow manager`: the fleet manager of docs/fleet.md and
 * docs/fleet-protocol.md. One process runs the edgeflow loop and editor
 * server (no flows run), the store (store.h), an MQTT client (fleet_mqtt.h)
 * to the devices, a live device table fed by their state and heartbeats
 * and flushed to the store in batches, the rollouts (rollout.h) and the
 * REST API under /fleet/v1 (api.c).
 *
 * The first part is what runtime/main.c calls; the rest is shared by
 * manager.c and api.c only.
 */
#ifndef EF_FLEET_MANAGER_H
#define EF_FLEET_MANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * `edgeflow manager [options]` and `edgeflow manager token-create NAME`:
 * argv[0] is "manager". Returns the process exit status.
 */
int fleet_manager_main(int argc, char **argv);

/* ---- Internal: shared by manager.c and api.c ---- */

#include <uv.h>

#include "common/fleet_proto.h"
#include "manager/rollout.h"
#include "manager/store.h"

struct ef_runtime;
struct ef_server;
struct srv_conn;
struct fleet_mqtt;

/* What the manager knows of a device between store flushes. */
struct mgr_dev {
    char id[FLEET_MAX_ID + 1];
    bool online;
    bool revoked;
    char snapshot[65]; /* running, "" = none */
    char health[16];
    int64_t last_seen;
    double cpu;
    int64_t rss;
    int64_t msgs;
    double msg_rate;
    int64_t errors;
    int64_t msgs_ts;       /* ts of the heartbeat msgs came from (for msg_rate) */
    struct ef_val *result; /* the state's result object, or NULL */
    bool dirty;            /* changed since the last flush */
    struct mgr_dev *next_dirty;
};

/* A broker identity to delete a little after its device was revoked (dynsec). */
struct mgr_dynsec_del {
    char id[FLEET_MAX_ID + 1];
    int64_t at;
    struct mgr_dynsec_del *next;
};

/* An active rollout (the leader drives it). */
struct mgr_rollout {
    struct ro_rollout ro;
    struct mgr_rollout *next;
};

/* A command waiting for its device's resp (POST /devices/:id/commands). */
struct mgr_cmd {
    char id[32];
    char device[FLEET_MAX_ID + 1];
    struct srv_conn *conn;
    int64_t deadline;
    struct mgr_cmd *next;
};

struct mgr {
    struct ef_runtime *rt;
    struct ef_server *srv;
    struct ef_store *st;
    struct fleet_mqtt *mq;
    struct fleet_key key;
    char *key_b64;
    char prefix[128];
    char *public_url;    /* base URL devices reach the manager at, no trailing '/' */
    char *broker_url;    /* what the manager connects to */
    char *device_broker; /* what devices are told to connect to */
    int heartbeat;       /* seconds, sent in desired */
    /* live table: open addressing on id */
    struct mgr_dev **tab;
    size_t tab_cap, ndev;
    struct mgr_dev *dirty;
    size_t ndirty;
    struct mgr_rollout *rollouts;
    struct mgr_cmd *cmds;
    bool dynsec; /* manage devices' broker identities (mosquitto dynamic security) */
    struct mgr_dynsec_del *dynsec_dels;
    bool leader;
    bool connected;
    uv_timer_t timer;
    int64_t last_flush, last_leader;
    int64_t connected_at; /* when the broker connection came up */
    uint64_t dropped;     /* messages dropped (bad JSON, wrong device, unknown device) */
};

int64_t mgr_now(void);
/* A new secret token: 32 random bytes as base64url without padding (43 characters). */
void mgr_random_token(char out[45]);
/* The live entry of a device, or NULL. */
struct mgr_dev *mgr_dev_get(struct mgr *m, const char *id);
/* Adds (or returns) the live entry of a device; NULL on OOM. */
struct mgr_dev *mgr_dev_add(struct mgr *m, const char *id);
/*
 * Publishes a signed desired document for device `id` and `snapshot` (""
 * clears its retained desired state) with the rollout's health options (r
 * NULL: defaults, rollout null). Returns the seq used (> 0), or -1 with
 * the reason logged.
 */
int64_t mgr_send_desired(struct mgr *m, const char *id, const char *snapshot,
                         const struct ro_rollout *r, bool in_rollout);
/*
 * --dynsec: creates (or updates) the device's broker client (username and
 * client id = id, password = its device token) with a role of its own that
 * allows only its topics. No-op without --dynsec.
 */
void mgr_dynsec_enrol(struct mgr *m, const char *id, const char *password);
/* --dynsec: deletes the device's broker client and role a few seconds from now. */
void mgr_dynsec_revoke(struct mgr *m, const char *id);
/* Publishes a signed `revoked` document for the device. 0 or -1. */
int mgr_send_revoked(struct mgr *m, const char *id);
/* Publishes a signed cmd; waits for its resp on behalf of conn. 0 or -1 with err. */
int mgr_send_cmd(struct mgr *m, const char *device, const char *cmd, const struct ef_val *args,
                 struct srv_conn *conn, char *err, size_t errlen);
/*
 * Starts a rollout already stored (id) with its devices: builds its state
 * machine and sends the first wave when this manager leads. 0 or -1 with err.
 */
int mgr_rollout_start(struct mgr *m, const char *id, char *err, size_t errlen);
/*
 * The rollout with that id, loaded from the store into memory when it is
 * not there (so a completed rollout can be rolled back). NULL with the
 * reason in err: not the leader, or no such rollout.
 */
struct mgr_rollout *mgr_rollout_open(struct mgr *m, const char *id, char *err, size_t errlen);
/* The in-memory rollout with that id (leader only), or NULL. */
struct mgr_rollout *mgr_rollout_find(struct mgr *m, const char *id);
/* Appends an audit entry (logged on failure). */
void mgr_audit(struct mgr *m, const char *actor, const char *action, const char *target,
               struct ef_val *detail /* adopted, may be NULL */);
/*
 * Stores a snapshot of `group` from flows (array; nodes' `credentials`
 * members go to flows_cred.json encrypted with the group's secret),
 * extra credentials (object id -> credentials, may be NULL), env (NULL =
 * the group's) and extra files (array of {path, content base64}, may be
 * NULL). *out gets the stored snapshot; *created whether it is new.
 * 0, or an EF_E* code with the reason in err.
 */
int mgr_snapshot_create(struct mgr *m, const char *group, const char *description,
                        const char *author, const struct ef_val *flows,
                        const struct ef_val *credentials, const struct ef_val *env,
                        const struct ef_val *files, struct ef_store_snapshot *out, bool *created,
                        char *err, size_t errlen);
/* The flows of a stored snapshot (new reference), with credentials merged when creds. */
struct ef_val *mgr_snapshot_flows(struct mgr *m, const struct ef_store_snapshot *s, bool creds);

/* api.c: the server hook for /fleet/v1/...; true when it took the request. */
bool api__route(struct mgr *m, struct srv_conn *c);
/* api.c: answers a waiting command (resp NULL: timed out) and frees cmd. */
void api__cmd_done(struct mgr *m, struct mgr_cmd *cmd, const struct ef_val *resp);

#endif
