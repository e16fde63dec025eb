/*
 * fleet_proto.h - the fleet protocol of docs/fleet-protocol.md as C calls:
 * ed25519 key files, signed envelopes, sealed secrets, snapshot ids, path
 * and id rules, topic names, and parse+validate of every document type.
 *
 * Shared by the manager (fleet/manager) and the agent (fleet/agent). Every
 * call is pure (no loop, no global state besides libsodium's one-time
 * initialisation in fleet_proto_init()) and safe on any thread.
 *
 * Ownership: functions returning `char *` return a malloc'ed NUL-terminated
 * string the caller frees. The fleet_<doc>_read() functions fill a struct
 * whose string and value pointers are BORROWED from the ef_val document
 * they read: keep the document alive while using the struct. Only
 * fleet_desired's `files` array is allocated; fleet_desired_clear() frees it.
 * Errors: int functions return 0 or a negative EF_E* code and, when err is
 * not NULL, write a one-line reason into err (errlen bytes).
 */
#ifndef FLEET_PROTO_H
#define FLEET_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgeflow/err.h"
#include "edgeflow/val.h"

#define FLEET_PROTO_VERSION 1
#define FLEET_DEFAULT_PREFIX "edgeflow/v1"
#define FLEET_MAX_DESIRED (1024 * 1024) /* largest `desired` payload */
#define FLEET_MAX_MSG (64 * 1024)       /* largest payload of every other message */
#define FLEET_MAX_FILES 1000            /* files in a snapshot */
#define FLEET_MAX_PATH 255              /* bytes of a snapshot file path */
#define FLEET_MAX_ID 64                 /* bytes of a device id */
#define FLEET_MAX_TOPIC 512             /* bytes of a topic built here */
#define FLEET_PK_BYTES 32
#define FLEET_SK_BYTES 64
#define FLEET_SIG_BYTES 64
#define FLEET_MAX_SEQ 9007199254740991.0 /* 2^53 - 1: seq, ts and sizes are exact doubles */

/* Initialises libsodium (idempotent). 0, or EF_EUNSUPP when it cannot start. */
int fleet_proto_init(void);

/* ---- Keys ---- */

/* An ed25519 key pair (libsodium crypto_sign): sk holds the seed and pk. */
struct fleet_key {
    uint8_t pk[FLEET_PK_BYTES];
    uint8_t sk[FLEET_SK_BYTES];
};

/*
 * Loads the key file at path (one line: base64 of the 64-byte secret key),
 * or, when it does not exist and create is true, generates a key pair and
 * writes it atomically with mode 0600 (*created is set when not NULL).
 * A file readable by group or others is refused. 0, EF_ENOENT (missing and
 * create false), EF_EIO or EF_EPARSE.
 */
int fleet_key_load(const char *path, bool create, struct fleet_key *k, bool *created, char *err,
                   size_t errlen);
/* Generates a key pair in memory. 0 or EF_EUNSUPP. */
int fleet_key_generate(struct fleet_key *k);
/* The public key as standard base64 (malloc'ed), or NULL on OOM. */
char *fleet_key_pk_b64(const struct fleet_key *k);

/*
 * Writes data to path atomically: path.tmp, fsync, rename, fsync of the
 * directory. mode is the file's mode (0600 for secrets). 0 or EF_EIO.
 */
int fleet_write_atomic(const char *path, const void *data, size_t len, int mode, char *err,
                       size_t errlen);

/* ---- Encodings and names ---- */

/* Standard base64 with padding of data (malloc'ed), or NULL on OOM. */
char *fleet_b64_encode(const void *data, size_t len);
/*
 * Decodes strict standard base64 with padding (no whitespace). Writes at
 * most cap bytes to out and their count to *outlen. 0, or EF_EINVAL for bad
 * base64, EF_ERANGE when it would not fit.
 */
int fleet_b64_decode(const char *s, size_t slen, uint8_t *out, size_t cap, size_t *outlen);
/* Lowercase hex sha256 of data into out (65 bytes with the NUL). */
void fleet_sha256_hex(const void *data, size_t len, char out[65]);
/* True when s is 64 lowercase hex digits. */
bool fleet_sha256_valid(const char *s);
/* True when id matches ^[a-z0-9][a-z0-9_-]{0,63}$. */
bool fleet_device_id_valid(const char *id);
/*
 * True when path is a valid snapshot file path: relative, '/'-separated
 * segments of [A-Za-z0-9._-], none empty, "." or "..", at most 255 bytes.
 */
bool fleet_path_valid(const char *path);

/* ---- Signed envelopes ---- */

/*
 * Builds {"v":1,"signed":<doc as a JSON string>,"sig":<base64 signature of
 * the doc bytes>}. Returns the envelope text (malloc'ed; *outlen its length
 * when not NULL) or NULL on OOM.
 */
char *fleet_envelope_sign(const struct fleet_key *k, const char *doc, size_t len, size_t *outlen);
/* Prints doc (compact JSON) and signs it as fleet_envelope_sign. NULL on OOM. */
char *fleet_envelope_sign_val(const struct fleet_key *k, const struct ef_val *doc, size_t *outlen);
/*
 * Checks an envelope of at most max bytes: JSON object with v == 1, string
 * `signed`, base64 `sig` that verifies with the public key pk over the
 * bytes of `signed`. Only then returns a copy of `signed` (malloc'ed, NUL
 * terminated, *doclen its length when not NULL). NULL with the reason in
 * err otherwise; nothing of `signed` is parsed before the check.
 */
char *fleet_envelope_open(const uint8_t pk[FLEET_PK_BYTES], const char *payload, size_t len,
                          size_t max, size_t *doclen, char *err, size_t errlen);

/* ---- Enrolment proof ---- */

/* The base64 signature of "edgeflow-enrol:<token>:<pk base64>" (malloc'ed) or NULL. */
char *fleet_enrol_proof(const struct fleet_key *k, const char *token);
/* Verifies a proof. 0, or EF_EINVAL (bad key, bad base64 or bad signature). */
int fleet_enrol_proof_verify(const char *token, const char *pk_b64, const char *proof_b64);

/* ---- Sealed secrets ---- */

/*
 * crypto_box_seal of secret to the ed25519 public key ed_pk (converted to
 * curve25519). Returns the sealed box as base64 (malloc'ed) or NULL (OOM or
 * a public key that is not a valid ed25519 point).
 */
char *fleet_seal(const uint8_t ed_pk[FLEET_PK_BYTES], const void *secret, size_t len);
/*
 * Opens a base64 sealed box with the device's ed25519 key pair. *out gets
 * the secret (malloc'ed, NUL-terminated, *outlen its length). 0, or
 * EF_EINVAL (bad base64, wrong key or tampered box) or EF_ENOMEM.
 */
int fleet_unseal(const struct fleet_key *k, const char *b64, char **out, size_t *outlen, char *err,
                 size_t errlen);

/* ---- Snapshots ---- */

/* A file of a snapshot; strings are borrowed. */
struct fleet_file {
    const char *path;
    const char *sha256; /* 64 lowercase hex digits */
    uint64_t size;
};

/*
 * The env object printed with its keys sorted (bytewise) and no spaces,
 * values as JSON strings (malloc'ed). env NULL prints "{}". NULL on OOM or
 * EF_EINVAL-worthy input (a value that is not a string), with err set.
 */
char *fleet_env_canonical(const struct ef_val *env, char *err, size_t errlen);
/*
 * The snapshot id: sha256 hex of the lines "<sha256> <size> <path>\n", one
 * per file sorted by path (bytewise), then "env <canonical env>\n". Checks
 * every path and hash, at most FLEET_MAX_FILES files, no duplicate path.
 * 0 or EF_EINVAL/EF_ENOMEM with err set.
 */
int fleet_snapshot_id(const struct fleet_file *files, size_t n, const struct ef_val *env,
                      char out[65], char *err, size_t errlen);

/* ---- Topics ---- */

enum fleet_topic_kind {
    FLEET_TOPIC_DESIRED,
    FLEET_TOPIC_STATE,
    FLEET_TOPIC_HB,
    FLEET_TOPIC_CMD,
    FLEET_TOPIC_RESP,
};

/* "desired", "state", "hb", "cmd" or "resp". */
const char *fleet_topic_kind_name(enum fleet_topic_kind kind);
/*
 * Writes "<prefix>/d/<device>/<kind>" into buf. 0, or EF_EINVAL (bad device
 * id, empty prefix or one with a wildcard) or EF_ERANGE (does not fit).
 */
int fleet_topic(char *buf, size_t len, const char *prefix, const char *device,
                enum fleet_topic_kind kind);
/* Writes "<prefix>/manager". 0 or EF_ERANGE. */
int fleet_topic_manager(char *buf, size_t len, const char *prefix);
/* Writes the subscription filter "<prefix>/d/+/<kind>". 0 or EF_ERANGE. */
int fleet_topic_filter(char *buf, size_t len, const char *prefix, enum fleet_topic_kind kind);
/*
 * Splits a topic "<prefix>/d/<id>/<kind>": copies the device id into id
 * (FLEET_MAX_ID + 1 bytes) and sets *kind. 0, or EF_EINVAL when the topic is
 * not one of them or the id is not valid.
 */
int fleet_topic_parse(const char *topic, const char *prefix, char id[FLEET_MAX_ID + 1],
                      enum fleet_topic_kind *kind);

/* ---- Documents ---- */

/*
 * Parses a document's JSON text (at most max bytes) and checks that it is an
 * object with a string `type`. Returns the value (caller unrefs) and sets
 * *type (borrowed from it), or NULL with err set.
 */
struct ef_val *fleet_doc_parse(const char *text, size_t len, size_t max, const char **type,
                               char *err, size_t errlen);

/* desired (manager -> device, signed). */
struct fleet_desired {
    const char *device;
    uint64_t seq;
    uint64_t ts;
    const char *snapshot_id;
    uint64_t version;         /* 0 when absent */
    const char *group;        /* NULL when absent */
    const char *description;  /* NULL when absent */
    struct fleet_file *files; /* allocated; paths and hashes borrowed */
    size_t nfiles;
    const struct ef_val *env;          /* effective env: object of strings ({} when absent) */
    const struct ef_val *snapshot_env; /* snapshot.env, the one of the id (env when absent) */
    const char *credential_secret;     /* base64 sealed box, NULL when absent */
    double health_seconds;             /* default 10 */
    uint64_t health_max_errors;        /* default 0 */
    uint32_t heartbeat;                /* seconds, default 10 */
    const char *files_url;             /* NULL when absent (then no file can be fetched) */
    const char *rollout;               /* NULL outside a rollout */
};
/*
 * Reads and validates a desired document: type, device (equal to `device`
 * when that is not NULL), seq >= 1, the snapshot (valid id, 1..1000 files
 * with valid unique paths and hashes, flows.json among them), env values
 * strings, health, heartbeat 1..86400. It does NOT recompute the snapshot
 * id (the agent does that after fetching; fleet_desired_check_id does).
 * 0 or EF_EINVAL with err; on failure d holds nothing to free.
 */
int fleet_desired_read(const struct ef_val *doc, const char *device, struct fleet_desired *d,
                       char *err, size_t errlen);
/* Recomputes the snapshot id from files and snapshot_env. 0, or EF_EINVAL when it differs. */
int fleet_desired_check_id(const struct fleet_desired *d, char *err, size_t errlen);
/* Frees d->files; d can then be read into again. */
void fleet_desired_clear(struct fleet_desired *d);

/* revoked (manager -> device, signed). */
struct fleet_revoked {
    const char *device;
    uint64_t seq;
    uint64_t ts;
};
int fleet_revoked_read(const struct ef_val *doc, const char *device, struct fleet_revoked *r,
                       char *err, size_t errlen);

/* cmd (manager -> device, signed). */
enum fleet_cmd_kind { FLEET_CMD_RESTART, FLEET_CMD_LOGS, FLEET_CMD_PING };
struct fleet_cmd {
    const char *device;
    uint64_t seq;
    const char *id; /* 1..64 bytes */
    enum fleet_cmd_kind cmd;
    const struct ef_val *args; /* object ({} when absent) */
    uint32_t lines;            /* logs: args.lines, default 100, 1..1000 */
};
int fleet_cmd_read(const struct ef_val *doc, const char *device, struct fleet_cmd *c, char *err,
                   size_t errlen);

/* state (device -> manager, retained; also the last will). */
struct fleet_state {
    const char *device;
    bool online;
    uint64_t ts;
    const char *version;  /* NULL when absent */
    const char *snapshot; /* NULL when none runs */
    const char *health;   /* "starting", "healthy", "unhealthy" or "none" */
    bool has_result;
    uint64_t result_seq;
    const char *result_snapshot; /* may be NULL */
    const char *result_status;   /* "fetching", "applying", "applied", "rejected", "failed" */
    const char *result_reason;   /* NULL when none */
};
int fleet_state_read(const struct ef_val *doc, const char *device, struct fleet_state *s, char *err,
                     size_t errlen);
/* Builds a state document (compact JSON, malloc'ed) from s, or NULL on OOM. */
char *fleet_state_json(const struct fleet_state *s, size_t *len);

/* hb (device -> manager, QoS 0). */
struct fleet_hb {
    const char *device;
    uint64_t ts;
    uint64_t uptime;      /* seconds */
    const char *snapshot; /* NULL when none */
    const char *health;
    double cpu; /* percent of one core since the previous heartbeat */
    uint64_t rss;
    uint64_t msgs;
    uint64_t errors;
};
int fleet_hb_read(const struct ef_val *doc, const char *device, struct fleet_hb *h, char *err,
                  size_t errlen);
/* Builds an hb document (compact JSON, malloc'ed) from h, or NULL on OOM. */
char *fleet_hb_json(const struct fleet_hb *h, size_t *len);

/* resp (device -> manager). */
struct fleet_resp {
    const char *device;
    const char *id;
    bool ok;
    const struct ef_val *result; /* any value, NULL when absent */
    const char *error;           /* when !ok */
};
int fleet_resp_read(const struct ef_val *doc, const char *device, struct fleet_resp *r, char *err,
                    size_t errlen);
/* Builds a resp document (compact JSON, malloc'ed), or NULL on OOM. */
char *fleet_resp_json(const struct fleet_resp *r, size_t *len);

/* True when s is one of "starting", "healthy", "unhealthy", "none". */
bool fleet_health_valid(const char *s);

/* Sets key = v in object o, adopting v (freed on failure). false when v is NULL or memory ran
 * out: lets document builders chain sets with && and check once. */
bool fleet_put(struct ef_val *o, const char *key, struct ef_val *v);

#endif
