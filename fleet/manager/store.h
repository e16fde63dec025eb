/*
 * store.h - the fleet manager's storage: devices, groups, provisioning and API
 * tokens, snapshots with content-addressed file blobs, rollouts with per-device
 * progress, the audit log and counters. Callers see domain operations only;
 * the SQL lives in store.c, over db.h (SQLite or PostgreSQL).
 *
 * Backends (ef_store_open's url):
 *   - a file path (or "file:PATH", or ":memory:"): SQLite, WAL journal, one
 *     manager process (several handles on the same file are safe).
 *   - "postgresql://..." or "postgres://...": PostgreSQL through libpq, for
 *     several manager replicas sharing state. Every write is one transaction;
 *     counters and sequence numbers use UPDATE ... RETURNING; unique keys make
 *     concurrent inserts fail cleanly with EF_EEXIST. ef_store_leader_try()
 *     elects the one replica that drives rollouts. A connection that drops is
 *     reopened by the next call (the call that found it dead fails with EF_EIO).
 *   libpq.so.5 and libsqlite3.so.0 are loaded at the first open of that kind
 *   (not linked, so agents never map them).
 *
 * Threads: a handle is used by one thread at a time. Calls block until the
 * database answers (SQLite: microseconds; PostgreSQL: a round trip per call,
 * one round trip for a whole ef_store_devices_update_live batch).
 *
 * Return values: 0 on success or a negative EF_E* code (edgeflow/err.h):
 *   EF_ENOENT  the item does not exist
 *   EF_EEXIST  a unique key is taken (id, name, public key)
 *   EF_ESTATE  the item exists but cannot be used (expired or used-up token)
 *   EF_EINVAL  a bad argument (NULL where a value is needed, a missing blob)
 *   EF_ENOMEM  out of memory
 *   EF_EIO     the database failed; ef_store_errmsg() says how
 *   EF_EUNSUPP (open) the database's schema is newer than this code, or the
 *              backend's library cannot be loaded
 * After any failure ef_store_errmsg() gives a one-line English message.
 *
 * Ownership: record structs returned through `out` pointers are owned by the
 * caller, who releases them with the matching *_clear (one record) or
 * *_list_free (an array from a *_list call). Every char * in them is a
 * malloc'ed NUL-terminated string (or NULL where documented); every
 * struct ef_val * is a reference the caller owns. Input structs and strings
 * are borrowed for the duration of the call only.
 *
 * JSON-valued fields (labels, env, spec, result, detail, files) are
 * struct ef_val * trees (edgeflow/val.h), stored as JSON text. Labels and env
 * are objects whose values are strings. Times are milliseconds since the
 * epoch. Ids, hashes and keys are as in docs/fleet-protocol.md.
 */
#ifndef EF_FLEET_STORE_H
#define EF_FLEET_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgeflow/err.h"
#include "edgeflow/val.h"

/* The schema version this code creates and understands (table schema_version). */
#define EF_STORE_SCHEMA_VERSION 1

struct ef_store;

/* ================================================================ handle */

/*
 * Opens (creating if needed) the store at `url` and creates or migrates its
 * schema. A database whose schema_version is newer than
 * EF_STORE_SCHEMA_VERSION is refused. Returns 0 and *out, or an EF_E* code
 * with a message in err (errlen bytes, may be 0).
 */
int ef_store_open(const char *url, struct ef_store **out, char *err, size_t errlen);
/* Closes the handle (NULL-safe); a leader lock it held is released. */
void ef_store_close(struct ef_store *st);
/* The message of the last failure on this handle ("" if none); borrowed. */
const char *ef_store_errmsg(const struct ef_store *st);
/* True for PostgreSQL, false for SQLite. */
bool ef_store_is_postgres(const struct ef_store *st);

/*
 * Leader election between manager replicas: on PostgreSQL, a session-level
 * pg_try_advisory_lock held by this handle's connection (released when the
 * handle closes or its connection dies); on SQLite, always true. Call it
 * periodically (e.g. every few seconds): once held it checks that the
 * connection is alive, and after a lost connection it reconnects and tries
 * again. *leader tells whether this handle drives rollouts now.
 */
int ef_store_leader_try(struct ef_store *st, bool *leader);

/*
 * Atomically increments the named counter (created at 0) and returns the new
 * value (1, 2, ...) in *value. The store uses "rollout" for rollout ids; the
 * manager may use others (e.g. "cmd" for command ids).
 */
int ef_store_counter_next(struct ef_store *st, const char *name, int64_t *value);

/* A small key/value table for manager settings. *value is malloc'ed; EF_ENOENT if absent. */
int ef_store_setting_get(struct ef_store *st, const char *key, char **value);
int ef_store_setting_set(struct ef_store *st, const char *key, const char *value);
/* The group the manager's editor edits (setting "authoring"); EF_ENOENT if none set. */
int ef_store_authoring_get(struct ef_store *st, char **group);
/* Sets it; EF_ENOENT if the group does not exist. */
int ef_store_authoring_set(struct ef_store *st, const char *group);

/* ================================================================ devices */

struct ef_store_device {
    /* enrolment record */
    char *id;
    char *name;            /* the name it asked for at enrolment */
    char *group;           /* its group, or NULL when in none */
    struct ef_val *labels; /* object of strings, never NULL */
    struct ef_val *env;    /* object of strings: overrides of the group env, never NULL */
    char *public_key;      /* base64 ed25519 public key */
    char *token_sha256;    /* hex sha256 of its device token */
    char *agent_version;   /* or NULL */
    bool revoked;
    int64_t enrolled; /* ts */
    /* live fields (ef_store_devices_update_live) */
    bool online;
    char *snapshot;        /* id running, or NULL */
    char *health;          /* "starting"|"healthy"|"unhealthy"|"none", or NULL */
    int64_t last_seen;     /* ts, 0 = never */
    double cpu;            /* percent of one core */
    int64_t rss;           /* bytes */
    int64_t msgs;          /* hb counter */
    double msg_rate;       /* messages per second, computed by the manager */
    int64_t errors;        /* hb errors */
    struct ef_val *result; /* the state's last `result` object, or NULL */
    /* desired state (what the manager last sent) */
    int64_t desired_seq;    /* last seq used for this device (ef_store_device_next_seq) */
    char *desired_snapshot; /* snapshot id of the last desired document, or NULL */
};

/* The live fields of one device, for ef_store_devices_update_live. Borrowed. */
struct ef_store_live {
    const char *id;
    bool online;
    const char *snapshot; /* NULL = none */
    const char *health;   /* NULL = none */
    int64_t last_seen;
    double cpu;
    int64_t rss;
    int64_t msgs;
    double msg_rate;
    int64_t errors;
    const struct ef_val *result; /* NULL = none */
};

/* Releases the strings and values of *d and zeroes it (NULL-safe). */
void ef_store_device_clear(struct ef_store_device *d);
/* Clears and frees an array returned by ef_store_devices_list (NULL-safe). */
void ef_store_device_list_free(struct ef_store_device *list, size_t n);

/*
 * Inserts a newly enrolled device from the enrolment fields of *d (id, name,
 * group, labels, env, public_key, token_sha256, agent_version, enrolled; the
 * live fields start empty, desired_seq at 0). EF_EEXIST when the id or the
 * public key is taken: the caller picks another id (or, for the key, treats
 * it as a re-enrolment).
 */
int ef_store_device_insert(struct ef_store *st, const struct ef_store_device *d);
/* Reads one device by id / by public key / by token sha256. EF_ENOENT if none. */
int ef_store_device_get(struct ef_store *st, const char *id, struct ef_store_device *out);
int ef_store_device_by_key(struct ef_store *st, const char *public_key,
                           struct ef_store_device *out);
int ef_store_device_by_token(struct ef_store *st, const char *token_sha256,
                             struct ef_store_device *out);
/*
 * All devices (group NULL) or those of one group, ordered by id. *out is an
 * array of *n records (NULL when 0) to free with ef_store_device_list_free.
 */
int ef_store_devices_list(struct ef_store *st, const char *group, struct ef_store_device **out,
                          size_t *n);
/*
 * Changes a device's group, labels and env; a NULL argument leaves that field
 * unchanged (group "" removes the device from its group). EF_ENOENT if the
 * device does not exist, EF_EINVAL if the group does not exist.
 */
int ef_store_device_update(struct ef_store *st, const char *id, const char *group,
                           const struct ef_val *labels, const struct ef_val *env);
/*
 * Re-enrolment of a known device: new token, labels (NULL = unchanged) and
 * agent version (NULL = unchanged). EF_ENOENT if absent.
 */
int ef_store_device_reenrol(struct ef_store *st, const char *id, const char *token_sha256,
                            const struct ef_val *labels, const char *agent_version);
/* Marks a device revoked (idempotent). EF_ENOENT if absent. */
int ef_store_device_revoke(struct ef_store *st, const char *id);
/*
 * Atomically increments the device's desired seq (UPDATE ... RETURNING) and
 * returns the new value in *seq: the seq of the next signed document for it.
 */
int ef_store_device_next_seq(struct ef_store *st, const char *id, int64_t *seq);
/* Records the snapshot id (NULL = none) of the desired document last sent. */
int ef_store_device_set_desired(struct ef_store *st, const char *id, const char *snapshot);
/*
 * Writes the live fields of n devices in ONE transaction (the manager's
 * periodic heartbeat flush). Each row overwrites all live fields of its
 * device; ids that do not exist are skipped. On failure nothing is written.
 */
int ef_store_devices_update_live(struct ef_store *st, const struct ef_store_live *rows, size_t n);

/* ================================================================ groups */

struct ef_store_group {
    char *name;
    char *description;       /* "" if none */
    struct ef_val *env;      /* object of strings, never NULL */
    char *credential_secret; /* 64 hex digits: 32 random bytes made at creation */
    int64_t created;         /* ts */
    int64_t last_version;    /* version of its newest snapshot, 0 if none */
};

void ef_store_group_clear(struct ef_store_group *g);
void ef_store_group_list_free(struct ef_store_group *list, size_t n);
/*
 * Creates a group (name, description (NULL = ""), env (NULL = {}), created).
 * credential_secret NULL makes a random one. EF_EEXIST if the name is taken.
 */
int ef_store_group_create(struct ef_store *st, const struct ef_store_group *g);
int ef_store_group_get(struct ef_store *st, const char *name, struct ef_store_group *out);
/* All groups ordered by name. */
int ef_store_groups_list(struct ef_store *st, struct ef_store_group **out, size_t *n);
/* Changes description and/or env (NULL = unchanged). EF_ENOENT if absent. */
int ef_store_group_update(struct ef_store *st, const char *name, const char *description,
                          const struct ef_val *env);

/* ================================================================ provisioning tokens */

struct ef_store_prov_token {
    char *sha256;          /* hex sha256 of the token text */
    char *group;           /* group the enrolled device joins */
    struct ef_val *labels; /* object of strings given to the device, never NULL */
    int64_t uses_left;     /* -1 = unlimited */
    int64_t expires;       /* ts, 0 = never */
    int64_t created;       /* ts */
};

void ef_store_prov_token_clear(struct ef_store_prov_token *t);
void ef_store_prov_token_list_free(struct ef_store_prov_token *list, size_t n);
/* Stores a new token. EF_EINVAL if the group does not exist, EF_EEXIST if the hash is known. */
int ef_store_prov_token_create(struct ef_store *st, const struct ef_store_prov_token *t);
/*
 * Uses a token once, atomically: decrements uses_left (unless unlimited) if
 * it is not used up and not expired at `now`. Returns 0 and the token (after
 * the decrement) in *out; EF_ENOENT for an unknown hash; EF_ESTATE for an
 * expired or used-up token.
 */
int ef_store_prov_token_consume(struct ef_store *st, const char *sha256, int64_t now,
                                struct ef_store_prov_token *out);
/* All tokens, newest first. */
int ef_store_prov_tokens_list(struct ef_store *st, struct ef_store_prov_token **out, size_t *n);

/* ================================================================ API tokens */

struct ef_store_api_token {
    char *name;
    char *sha256;      /* hex sha256 of the token text */
    char *permissions; /* "read" or "*" (as Node-RED's adminAuth) */
    int64_t created;
};

void ef_store_api_token_clear(struct ef_store_api_token *t);
void ef_store_api_token_list_free(struct ef_store_api_token *list, size_t n);
/* EF_EEXIST if the name or hash is taken. */
int ef_store_api_token_create(struct ef_store *st, const struct ef_store_api_token *t);
/* Looks a token up by its hash (request authentication). EF_ENOENT if unknown. */
int ef_store_api_token_get(struct ef_store *st, const char *sha256, struct ef_store_api_token *out);
/* All tokens ordered by name. */
int ef_store_api_tokens_list(struct ef_store *st, struct ef_store_api_token **out, size_t *n);
/* EF_ENOENT if no token has that name. */
int ef_store_api_token_delete(struct ef_store *st, const char *name);

/* ================================================================ blobs */

/*
 * Stores a file's bytes under their sha256 (computed here; libsodium) and
 * writes the 64 hex digits + NUL into sha256_out. Storing the same bytes
 * again keeps one copy; *created (may be NULL) tells whether they were new.
 */
int ef_store_blob_put(struct ef_store *st, const void *data, size_t len, char sha256_out[65],
                      bool *created);
/* Reads a blob: *data is malloc'ed (free()), *len its size. EF_ENOENT if unknown. */
int ef_store_blob_get(struct ef_store *st, const char *sha256, void **data, size_t *len);
/* Whether a blob is stored, and its size (size may be NULL). */
int ef_store_blob_has(struct ef_store *st, const char *sha256, bool *has, int64_t *size);

/* ================================================================ snapshots */

struct ef_store_snapshot {
    char *id; /* snapshot id (docs/fleet-protocol.md) */
    char *group;
    int64_t version; /* 1, 2, ... per group, in creation order */
    char *description;
    char *author;
    int64_t ts;
    struct ef_val *env;   /* object of strings, never NULL */
    struct ef_val *files; /* array of {"path","sha256","size"}, sorted by path */
};

void ef_store_snapshot_clear(struct ef_store_snapshot *s);
void ef_store_snapshot_list_free(struct ef_store_snapshot *list, size_t n);
/*
 * Stores a snapshot from *s (id, group, description (NULL = ""), author
 * (NULL = ""), ts, env, files; version is ignored). Every file's blob must be
 * stored already (EF_EINVAL naming the missing one otherwise); the group must
 * exist (EF_ENOENT). The id is taken as given (the caller computed it).
 * When the group already has a snapshot with this id, nothing is written.
 * Either way *out gets the stored snapshot, with its version, and *created
 * (may be NULL) tells whether it is new.
 */
int ef_store_snapshot_put(struct ef_store *st, const struct ef_store_snapshot *s,
                          struct ef_store_snapshot *out, bool *created);
/*
 * Reads a snapshot by id: of the given group, or (group NULL) the newest one
 * with that id in any group. EF_ENOENT if none.
 */
int ef_store_snapshot_get(struct ef_store *st, const char *id, const char *group,
                          struct ef_store_snapshot *out);
/* The group's newest snapshot (highest version). EF_ENOENT if it has none. */
int ef_store_snapshot_latest(struct ef_store *st, const char *group, struct ef_store_snapshot *out);
/* Snapshots of one group (or all, group NULL), newest first (ts, then version). */
int ef_store_snapshots_list(struct ef_store *st, const char *group, struct ef_store_snapshot **out,
                            size_t *n);

/* ================================================================ rollouts */

struct ef_store_rollout {
    char *id; /* "r-<n>" from the counter "rollout" */
    char *group;
    char *snapshot;      /* target snapshot id */
    struct ef_val *spec; /* the normalised POST /rollouts body, never NULL */
    char *state;         /* "running"|"paused"|"completed"|"rolledback"|"cancelled" */
    int64_t wave;        /* index of the current wave, from 0 */
    char *reason;        /* why it paused / rolled back, or NULL */
    char *actor;         /* who started it */
    int64_t created;     /* ts */
    int64_t updated;     /* ts */
};

/* Progress of one device in one rollout. */
struct ef_store_progress {
    char *rollout;
    char *device;
    int64_t wave;
    char *status;        /* waiting|pending|updating|healthy|failed|rolledback */
    char *from_snapshot; /* what it ran before, or NULL */
    char *reason;        /* or NULL */
    int64_t seq;         /* seq of the desired document sent in this rollout, 0 = none yet */
    int64_t updated;     /* ts */
};

void ef_store_rollout_clear(struct ef_store_rollout *r);
void ef_store_rollout_list_free(struct ef_store_rollout *list, size_t n);
void ef_store_progress_clear(struct ef_store_progress *p);
void ef_store_progress_list_free(struct ef_store_progress *list, size_t n);
/*
 * Creates a rollout from *r (group, snapshot, spec, state (NULL =
 * "running"), wave, reason, actor, created; id is ignored) with a new id and
 * its devices' progress rows (np of them, their `rollout` field ignored) in
 * one transaction. *id_out (may be NULL) gets the malloc'ed new id.
 */
int ef_store_rollout_create(struct ef_store *st, const struct ef_store_rollout *r,
                            const struct ef_store_progress *progress, size_t np, char **id_out);
int ef_store_rollout_get(struct ef_store *st, const char *id, struct ef_store_rollout *out);
/*
 * Rollouts newest first; group and state (e.g. "running") filter when not
 * NULL; limit 0 = all.
 */
int ef_store_rollouts_list(struct ef_store *st, const char *group, const char *state, size_t limit,
                           struct ef_store_rollout **out, size_t *n);
/* Sets state, wave, reason (NULL = none) and updated. EF_ENOENT if absent. */
int ef_store_rollout_update(struct ef_store *st, const char *id, const char *state, int64_t wave,
                            const char *reason, int64_t updated);
/*
 * Inserts or replaces the progress rows (rollout, device) of n devices in one
 * transaction. EF_ENOENT if a row's rollout does not exist (nothing written).
 */
int ef_store_progress_put(struct ef_store *st, const struct ef_store_progress *rows, size_t n);
/* The progress rows of a rollout, ordered by device id. */
int ef_store_progress_list(struct ef_store *st, const char *rollout, struct ef_store_progress **out,
                           size_t *n);

/* ================================================================ audit */

struct ef_store_audit {
    int64_t ts;
    char *actor;
    char *action;          /* e.g. "rollout.start", "device.revoke" */
    char *target;          /* e.g. a device id, "r-7", "group:line-1" */
    struct ef_val *detail; /* any JSON value, never NULL (null if none) */
};

void ef_store_audit_clear(struct ef_store_audit *a);
void ef_store_audit_list_free(struct ef_store_audit *list, size_t n);
/* Appends an entry (detail NULL = null). */
int ef_store_audit_add(struct ef_store *st, int64_t ts, const char *actor, const char *action,
                       const char *target, const struct ef_val *detail);
/* Newest first (by ts, then insertion order), at most `limit` (0 = 100). */
int ef_store_audit_list(struct ef_store *st, size_t limit, struct ef_store_audit **out, size_t *n);

/* ================================================================ JSON shapes */
/*
 * The REST API shapes of docs/fleet-protocol.md, as new ef_val objects the
 * caller owns (NULL on OOM).
 *   device:   id,name,group,labels,env,online,snapshot,health,lastSeen,cpu,rss,
 *             msgRate,errors,revoked,enrolled (+ result, desiredSeq,
 *             desiredSnapshot, agentVersion when `detail`)
 *   group:    name,description,env,created,lastVersion (never the secret)
 *   snapshot: id,version,group,description,author,ts,env,files
 *   rollout:  id,group,snapshot,state,wave,reason,actor,created,updated + the
 *             spec's keys (strategy, waves, ...) ; devices are added by the caller
 *   progress: id,wave,status,from,reason,seq
 *   audit:    ts,actor,action,target,detail
 */
struct ef_val *ef_store_device_json(const struct ef_store_device *d, bool detail);
struct ef_val *ef_store_group_json(const struct ef_store_group *g);
struct ef_val *ef_store_snapshot_json(const struct ef_store_snapshot *s);
struct ef_val *ef_store_rollout_json(const struct ef_store_rollout *r);
struct ef_val *ef_store_progress_json(const struct ef_store_progress *p);
struct ef_val *ef_store_audit_json(const struct ef_store_audit *a);

#endif
