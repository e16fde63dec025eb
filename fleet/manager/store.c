/*
 * store.c - the fleet manager's storage (store.h): schema, migrations and every
 * domain operation, written once over db.h for SQLite and PostgreSQL.
 */
#include "manager/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/fleet_proto.h"
#include "manager/db.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Key of the leader advisory lock ("efleader" in ASCII). */
#define EF_STORE_LEADER_KEY 0x65666c6561646572LL
/* Key of the advisory lock that serialises schema migrations of replicas. */
#define EF_STORE_MIGRATE_KEY 0x65666d6967726174LL

struct ef_store {
    struct db *db;
    bool leader;
    unsigned leader_gen; /* the connection generation that took the lock */
    char err[512];
};

__attribute__((format(printf, 3, 4))) static int fail(struct ef_store *st, int code,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err, sizeof(st->err), fmt, ap);
    va_end(ap);
    return code;
}

/* Copies the database's message for a db_* failure `rc` into the store's. */
static int dbfail(struct ef_store *st, int rc)
{
    snprintf(st->err, sizeof(st->err), "%s", db_errmsg(st->db));
    return rc;
}

/* Rolls back the open transaction and returns rc (keeping the first message). */
static int abort_tx(struct ef_store *st, int rc)
{
    db_rollback(st->db);
    return rc;
}

/* JSON text of v (NULL gives "null"), malloc'ed; NULL on OOM. */
static char *to_json(const struct ef_val *v)
{
    if (!v) {
        return strdup("null");
    }
    return ef_json_print(v, 0, NULL);
}

/* Text of an object argument, "{}" when NULL. EF_EINVAL if it is not an object. */
static int obj_json(struct ef_store *st, const struct ef_val *v, const char *what, char **out)
{
    *out = NULL;
    if (v && ef_val_type(v) != EF_OBJ) {
        return fail(st, EF_EINVAL, "%s must be an object, not %s", what,
                    ef_type_name(ef_val_type(v)));
    }
    *out = v ? to_json(v) : strdup("{}");
    return *out ? 0 : fail(st, EF_ENOMEM, "out of memory");
}

/* Parses a stored JSON column; SQL NULL gives `dflt` (a new value of that type or NULL). */
static int json_col(struct ef_store *st, const struct db_res *res, size_t r, size_t c,
                    enum ef_type dflt, struct ef_val **out)
{
    const char *t = db_get_text(res, r, c);
    *out = NULL;
    if (!t) {
        if (dflt == EF_OBJ) {
            *out = ef_val_obj();
        } else if (dflt == EF_ARR) {
            *out = ef_val_arr();
        } else if (dflt == EF_NULL) {
            *out = ef_val_null();
        } else {
            return 0;
        }
        return *out ? 0 : fail(st, EF_ENOMEM, "out of memory");
    }
    char perr[128];
    *out = ef_json_parse(t, strlen(t), perr, sizeof(perr));
    if (!*out) {
        return fail(st, EF_EIO, "stored JSON is corrupt (%s): %.60s", perr, t);
    }
    return 0;
}

static int64_t opt_int(const struct db_res *res, size_t r, size_t c)
{
    return db_get_int(res, r, c);
}

/* ================================================================ schema */

/* Version 1. @BLOB@ and @SERIAL@ are replaced per backend. */
static const char schema_v1[] =
    "CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS fleet_groups (name TEXT PRIMARY KEY, description TEXT NOT NULL,"
    " env TEXT NOT NULL, credential_secret TEXT NOT NULL, created BIGINT NOT NULL,"
    " last_version BIGINT NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS devices (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
    " grp TEXT REFERENCES fleet_groups(name), labels TEXT NOT NULL, env TEXT NOT NULL,"
    " public_key TEXT NOT NULL UNIQUE, token_sha256 TEXT, agent_version TEXT,"
    " revoked BIGINT NOT NULL DEFAULT 0, enrolled BIGINT NOT NULL,"
    " online BIGINT NOT NULL DEFAULT 0, snapshot TEXT, health TEXT,"
    " last_seen BIGINT NOT NULL DEFAULT 0, cpu DOUBLE PRECISION NOT NULL DEFAULT 0,"
    " rss BIGINT NOT NULL DEFAULT 0, msgs BIGINT NOT NULL DEFAULT 0,"
    " msg_rate DOUBLE PRECISION NOT NULL DEFAULT 0, errors BIGINT NOT NULL DEFAULT 0,"
    " result TEXT, desired_seq BIGINT NOT NULL DEFAULT 0, desired_snapshot TEXT);"
    "CREATE INDEX IF NOT EXISTS devices_grp ON devices(grp);"
    "CREATE INDEX IF NOT EXISTS devices_token ON devices(token_sha256);"
    "CREATE TABLE IF NOT EXISTS prov_tokens (sha256 TEXT PRIMARY KEY,"
    " grp TEXT NOT NULL REFERENCES fleet_groups(name), labels TEXT NOT NULL,"
    " uses_left BIGINT NOT NULL, expires BIGINT NOT NULL, created BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS api_tokens (name TEXT PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE,"
    " permissions TEXT NOT NULL, created BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS blobs (sha256 TEXT PRIMARY KEY, size BIGINT NOT NULL,"
    " data @BLOB@ NOT NULL);"
    "CREATE TABLE IF NOT EXISTS snapshots (grp TEXT NOT NULL REFERENCES fleet_groups(name),"
    " id TEXT NOT NULL, version BIGINT NOT NULL, description TEXT NOT NULL,"
    " author TEXT NOT NULL, ts BIGINT NOT NULL, env TEXT NOT NULL, files TEXT NOT NULL,"
    " PRIMARY KEY (grp, id), UNIQUE (grp, version));"
    "CREATE INDEX IF NOT EXISTS snapshots_id ON snapshots(id);"
    "CREATE TABLE IF NOT EXISTS rollouts (id TEXT PRIMARY KEY, num BIGINT NOT NULL UNIQUE,"
    " grp TEXT NOT NULL, snapshot TEXT NOT NULL, spec TEXT NOT NULL, state TEXT NOT NULL,"
    " wave BIGINT NOT NULL, reason TEXT, actor TEXT, created BIGINT NOT NULL,"
    " updated BIGINT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS rollouts_state ON rollouts(state);"
    "CREATE TABLE IF NOT EXISTS rollout_devices (rollout TEXT NOT NULL REFERENCES rollouts(id),"
    " device TEXT NOT NULL, wave BIGINT NOT NULL, status TEXT NOT NULL, from_snapshot TEXT,"
    " reason TEXT, seq BIGINT NOT NULL, updated BIGINT NOT NULL,"
    " PRIMARY KEY (rollout, device));"
    "CREATE TABLE IF NOT EXISTS audit (id @SERIAL@, ts BIGINT NOT NULL, actor TEXT NOT NULL,"
    " action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS audit_ts ON audit(ts);";

/* schema_v1 with the backend's type names; malloc'ed. */
static char *schema_text(enum db_kind kind)
{
    const char *blob = kind == DB_POSTGRES ? "BYTEA" : "BLOB";
    const char *serial =
        kind == DB_POSTGRES ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT";
    size_t cap = sizeof(schema_v1) + 64;
    char *out = malloc(cap);
    if (!out) {
        return NULL;
    }
    size_t o = 0;
    for (const char *p = schema_v1; *p;) {
        const char *rep = NULL;
        size_t skip = 0;
        if (strncmp(p, "@BLOB@", 6) == 0) {
            rep = blob, skip = 6;
        } else if (strncmp(p, "@SERIAL@", 8) == 0) {
            rep = serial, skip = 8;
        }
        if (rep) {
            size_t n = strlen(rep);
            memcpy(out + o, rep, n);
            o += n;
            p += skip;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    return out;
}

static int migrate(struct ef_store *st)
{
    int rc = db_begin(st->db);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    if (db_kind(st->db) == DB_POSTGRES) {
        struct db_param p[] = {db_int(EF_STORE_MIGRATE_KEY)};
        rc = db_exec(st->db, "SELECT pg_advisory_xact_lock($1)", p, N(p), NULL);
    }
    if (rc == 0) {
        rc = db_script(st->db,
                       "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)");
    }
    struct db_res res;
    if (rc == 0) {
        rc = db_exec(st->db, "SELECT max(version) FROM schema_version", NULL, 0, &res);
    }
    if (rc != 0) {
        return abort_tx(st, dbfail(st, rc));
    }
    int64_t version = db_get_int(&res, 0, 0);
    db_res_clear(&res);
    if (version > EF_STORE_SCHEMA_VERSION) {
        return abort_tx(st, fail(st, EF_EUNSUPP,
                                 "the database has schema version %lld, newer than this "
                                 "edgeflow's %d: upgrade edgeflow",
                                 (long long)version, EF_STORE_SCHEMA_VERSION));
    }
    if (version < 1) {
        char *ddl = schema_text(db_kind(st->db));
        if (!ddl) {
            return abort_tx(st, fail(st, EF_ENOMEM, "out of memory"));
        }
        rc = db_script(st->db, ddl);
        free(ddl);
        if (rc == 0 && db_kind(st->db) == DB_POSTGRES) {
            /* Room in each page for the new row versions of heartbeat updates, which touch
             * no indexed column: they stay HOT (no index writes). */
            rc = db_script(st->db, "ALTER TABLE devices SET (fillfactor = 50)");
        }
        struct db_param p[] = {db_int(1)};
        if (rc == 0) {
            rc = db_exec(st->db, "DELETE FROM schema_version", NULL, 0, NULL);
        }
        if (rc == 0) {
            rc = db_exec(st->db, "INSERT INTO schema_version (version) VALUES ($1)", p, N(p), NULL);
        }
        if (rc != 0) {
            return abort_tx(st, dbfail(st, rc));
        }
    }
    /* Later versions: if (version < 2) { ALTER TABLE ...; version = 2 } */
    rc = db_commit(st->db);
    return rc == 0 ? 0 : dbfail(st, rc);
}

/* ================================================================ handle */

int ef_store_open(const char *url, struct ef_store **out, char *err, size_t errlen)
{
    *out = NULL;
    if (sodium_init() < 0) {
        if (errlen) {
            snprintf(err, errlen, "libsodium cannot initialise");
        }
        return EF_EIO;
    }
    struct ef_store *st = calloc(1, sizeof(*st));
    if (!st) {
        if (errlen) {
            snprintf(err, errlen, "out of memory");
        }
        return EF_ENOMEM;
    }
    int rc = db_open(url, &st->db, err, errlen);
    if (rc == 0) {
        rc = migrate(st);
        if (rc != 0 && errlen) {
            snprintf(err, errlen, "%s: %s", url, st->err);
        }
    }
    if (rc != 0) {
        ef_store_close(st);
        return rc;
    }
    *out = st;
    return 0;
}

void ef_store_close(struct ef_store *st)
{
    if (!st) {
        return;
    }
    db_close(st->db);
    free(st);
}

const char *ef_store_errmsg(const struct ef_store *st)
{
    return st->err;
}

bool ef_store_is_postgres(const struct ef_store *st)
{
    return db_kind(st->db) == DB_POSTGRES;
}

int ef_store_leader_try(struct ef_store *st, bool *leader)
{
    *leader = false;
    if (db_kind(st->db) == DB_SQLITE) {
        *leader = true;
        return 0;
    }
    /* The lock lives as long as the connection that took it. */
    if (st->leader && db_generation(st->db) == st->leader_gen && db_alive(st->db)) {
        *leader = true;
        return 0;
    }
    st->leader = false;
    if (!db_alive(st->db)) {
        int rc = db_reconnect(st->db);
        if (rc != 0) {
            return dbfail(st, rc);
        }
    }
    struct db_param p[] = {db_int(EF_STORE_LEADER_KEY)};
    struct db_res res;
    int rc = db_exec(st->db, "SELECT pg_try_advisory_lock($1)", p, N(p), &res);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    const char *t = db_get_text(&res, 0, 0);
    st->leader = t && (t[0] == 't' || t[0] == '1');
    st->leader_gen = db_generation(st->db);
    db_res_clear(&res);
    *leader = st->leader;
    return 0;
}

static int counter_next(struct ef_store *st, const char *name, int64_t *value)
{
    struct db_param p[] = {db_text(name)};
    struct db_res res;
    int rc = db_exec(st->db,
                     "INSERT INTO counters (name, value) VALUES ($1, 1) ON CONFLICT (name) DO "
                     "UPDATE SET value = counters.value + 1 RETURNING value",
                     p, N(p), &res);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    *value = db_get_int(&res, 0, 0);
    db_res_clear(&res);
    return 0;
}

int ef_store_counter_next(struct ef_store *st, const char *name, int64_t *value)
{
    if (!name || !*name) {
        return fail(st, EF_EINVAL, "counter name missing");
    }
    return counter_next(st, name, value);
}

int ef_store_setting_get(struct ef_store *st, const char *key, char **value)
{
    *value = NULL;
    struct db_param p[] = {db_text(key)};
    struct db_res res;
    int rc = db_exec(st->db, "SELECT value FROM settings WHERE key = $1", p, N(p), &res);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    if (res.nrows == 0) {
        db_res_clear(&res);
        return fail(st, EF_ENOENT, "no setting %s", key);
    }
    *value = db_dup_text(&res, 0, 0);
    db_res_clear(&res);
    return *value ? 0 : fail(st, EF_ENOMEM, "out of memory");
}

int ef_store_setting_set(struct ef_store *st, const char *key, const char *value)
{
    if (!key || !value) {
        return fail(st, EF_EINVAL, "setting key or value missing");
    }
    struct db_param p[] = {db_text(key), db_text(value)};
    int rc = db_exec(st->db,
                     "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO "
                     "UPDATE SET value = excluded.value",
                     p, N(p), NULL);
    return rc == 0 ? 0 : dbfail(st, rc);
}

/* Whether a group exists: 0 and *exists, or an error. */
static int group_exists(struct ef_store *st, const char *name, bool *exists)
{
    struct db_param p[] = {db_text(name)};
    struct db_res res;
    int rc = db_exec(st->db, "SELECT 1 FROM fleet_groups WHERE name = $1", p, N(p), &res);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    *exists = res.nrows > 0;
    db_res_clear(&res);
    return 0;
}

int ef_store_authoring_get(struct ef_store *st, char **group)
{
    int rc = ef_store_setting_get(st, "authoring", group);
    if (rc == EF_ENOENT) {
        fail(st, EF_ENOENT, "no authoring group set");
    }
    return rc;
}

int ef_store_authoring_set(struct ef_store *st, const char *group)
{
    bool exists = false;
    int rc = group ? group_exists(st, group, &exists) : 0;
    if (rc != 0) {
        return rc;
    }
    if (!exists) {
        return fail(st, EF_ENOENT, "no group %s", group ? group : "(null)");
    }
    return ef_store_setting_set(st, "authoring", group);
}

/* ================================================================ devices */

#define DEVICE_COLS                                                                                \
    "id, name, grp, labels, env, public_key, token_sha256, agent_version, revoked, enrolled, "     \
    "online, snapshot, health, last_seen, cpu, rss, msgs, msg_rate, errors, result, "              \
    "desired_seq, desired_snapshot"

void ef_store_device_clear(struct ef_store_device *d)
{
    if (!d) {
        return;
    }
    free(d->id);
    free(d->name);
    free(d->group);
    ef_val_unref(d->labels);
    ef_val_unref(d->env);
    free(d->public_key);
    free(d->token_sha256);
    free(d->agent_version);
    free(d->snapshot);
    free(d->health);
    ef_val_unref(d->result);
    free(d->desired_snapshot);
    memset(d, 0, sizeof(*d));
}

void ef_store_device_list_free(struct ef_store_device *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) {
        ef_store_device_clear(&list[i]);
    }
    free(list);
}

static int row_device(struct ef_store *st, const struct db_res *res, size_t r,
                      struct ef_store_device *d)
{
    memset(d, 0, sizeof(*d));
    d->id = db_dup_text(res, r, 0);
    d->name = db_dup_text(res, r, 1);
    d->group = db_dup_text(res, r, 2);
    d->public_key = db_dup_text(res, r, 5);
    d->token_sha256 = db_dup_text(res, r, 6);
    d->agent_version = db_dup_text(res, r, 7);
    d->revoked = opt_int(res, r, 8) != 0;
    d->enrolled = opt_int(res, r, 9);
    d->online = opt_int(res, r, 10) != 0;
    d->snapshot = db_dup_text(res, r, 11);
    d->health = db_dup_text(res, r, 12);
    d->last_seen = opt_int(res, r, 13);
    d->cpu = db_get_real(res, r, 14);
    d->rss = opt_int(res, r, 15);
    d->msgs = opt_int(res, r, 16);
    d->msg_rate = db_get_real(res, r, 17);
    d->errors = opt_int(res, r, 18);
    d->desired_seq = opt_int(res, r, 20);
    d->desired_snapshot = db_dup_text(res, r, 21);
    int rc = json_col(st, res, r, 3, EF_OBJ, &d->labels);
    if (rc == 0) {
        rc = json_col(st, res, r, 4, EF_OBJ, &d->env);
    }
    if (rc == 0) {
        rc = json_col(st, res, r, 19, EF_BOOL /* none: stays NULL */, &d->result);
    }
    if (rc == 0 && (!d->id || !d->name || !d->public_key)) {
        rc = fail(st, EF_ENOMEM, "out of memory");
    }
    if (rc != 0) {
        ef_store_device_clear(d);
    }
    return rc;
}

/* Runs a device query expected to give at most one row. */
static int device_one(struct ef_store *st, const char *sql, const char *arg, const char *what,
                      struct ef_store_device *out)
{
    memset(out, 0, sizeof(*out));
    struct db_param p[] = {db_text(arg)};
    struct db_res res;
    int rc = db_exec(st->db, sql, p, N(p), &res);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    if (res.nrows == 0) {
        db_res_clear(&res);
        return fail(st, EF_ENOENT, "no device with %s %s", what, arg ? arg : "(null)");
    }
    rc = row_device(st, &res, 0, out);
    db_res_clear(&res);
    return rc;
}

int ef_store_device_get(struct ef_store *st, const char *id, struct ef_store_device *out)
{
    return device_one(st, "SELECT " DEVICE_COLS " FROM devices WHERE id = $1", id, "id", out);
}

int ef_store_device_by_key(struct ef_store *st, const char *public_key, struct ef_store_device *out)
{
    return device_one(st, "SELECT " DEVICE_COLS " FROM devices WHERE public_key = $1", public_key,
                      "public key", out);
}

int ef_store_device_by_token(struct ef_store *st, const char *token_sha256,
                             struct ef_store_device *out)
{
    return device_one(st, "SELECT " DEVICE_COLS " FROM devices WHERE token_sha256 = $1",
                      token_sha256, "token", out);
}

int ef_store_device_insert(struct ef_store *st, const struct ef_store_device *d)
{
    if (!d->id || !*d->id || !d->public_key) {
        return fail(st, EF_EINVAL, "a device needs an id and a public key");
    }
    if (d->group) {
        bool exists = false;
        int rc = group_exists(st, d->group, &exists);
        if (rc != 0) {
            return rc;
        }
        if (!exists) {
            return fail(st, EF_EINVAL, "no group %s", d->group);
        }
    }
    char *labels = NULL, *env = NULL;
    int rc = obj_json(st, d->labels, "labels", &labels);
    if (rc == 0) {
        rc = obj_json(st, d->env, "env", &env);
    }
    if (rc == 0) {
        struct db_param p[] = {db_text(d->id),
                               db_text(d->name ? d->name : d->id),
                               db_text(d->group),
                               db_text(labels),
                               db_text(env),
                               db_text(d->public_key),
                               db_text(d->token_sha256),
                               db_text(d->agent_version),
                               db_int(d->revoked),
                               db_int(d->enrolled)};
        rc = db_exec(st->db,
                     "INSERT INTO devices (id, name, grp, labels, env, public_key, token_sha256, "
                     "agent_version, revoked, enrolled) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
                     "$9, $10)",
                     p, N(p), NULL);
        if (rc == EF_EEXIST) {
            fail(st, EF_EEXIST, "device id %s or its public key is taken", d->id);
        } else if (rc != 0) {
            dbfail(st, rc);
        }
    }
    free(labels);
    free(env);
    return rc;
}

int ef_store_devices_list(struct ef_store *st, const char *group, struct ef_store_device **out,
                          size_t *n)
{
    *out = NULL;
    *n = 0;
    struct db_param p[] = {db_text(group)};
    struct db_res res;
    int rc =
        group ? db_exec(st->db, "SELECT " DEVICE_COLS " FROM devices WHERE grp = $1 ORDER BY id", p,
                        N(p), &res)
              : db_exec(st->db, "SELECT " DEVICE_COLS " FROM devices ORDER BY id", NULL, 0, &res);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    struct ef_store_device *list = res.nrows ? calloc(res.nrows, sizeof(*list)) : NULL;
    if (res.nrows && !list) {
        db_res_clear(&res);
        return fail(st, EF_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < res.nrows; i++) {
        rc = row_device(st, &res, i, &list[i]);
        if (rc != 0) {
            ef_store_device_list_free(list, i);
            db_res_clear(&res);
            return rc;
        }
    }
    *out = list;
    *n = res.nrows;
    db_res_clear(&res);
    return 0;
}

/* Runs an UPDATE on one device and maps "no row changed" to EF_ENOENT. */
static int device_write(struct ef_store *st, const char *sql, const struct db_param *p, size_t np,
                        const char *id)
{
    struct db_res res;
    int rc = db_exec(st->db, sql, p, np, &res);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    int64_t changes = res.changes;
    db_res_clear(&res);
    return changes > 0 ? 0 : fail(st, EF_ENOENT, "no device %s", id ? id : "(null)");
}

int ef_store_device_update(struct ef_store *st, const char *id, const char *group,
                           const struct ef_val *labels, const struct ef_val *env)
{
    char *lj = NULL, *ej = NULL;
    int rc = labels ? obj_json(st, labels, "labels", &lj) : 0;
    if (rc == 0 && env) {
        rc = obj_json(st, env, "env", &ej);
    }
    if (rc == 0 && group && *group) {
        bool exists = false;
        rc = group_exists(st, group, &exists);
        if (rc == 0 && !exists) {
            rc = fail(st, EF_EINVAL, "no group %s", group);
        }
    }
    if (rc == 0) {
        rc = db_begin(st->db);
        if (rc != 0) {
            dbfail(st, rc);
        }
    }
    if (rc == 0) {
        struct db_param p[] = {db_text(id)};
        rc = device_write(st, "UPDATE devices SET id = id WHERE id = $1", p, N(p), id);
    }
    if (rc == 0 && group) {
        struct db_param p[] = {db_text(id), db_text(*group ? group : NULL)};
        rc = device_write(st, "UPDATE devices SET grp = $2 WHERE id = $1", p, N(p), id);
    }
    if (rc == 0 && lj) {
        struct db_param p[] = {db_text(id), db_text(lj)};
        rc = device_write(st, "UPDATE devices SET labels = $2 WHERE id = $1", p, N(p), id);
    }
    if (rc == 0 && ej) {
        struct db_param p[] = {db_text(id), db_text(ej)};
        rc = device_write(st, "UPDATE devices SET env = $2 WHERE id = $1", p, N(p), id);
    }
    if (rc == 0) {
        rc = db_commit(st->db);
        if (rc != 0) {
            dbfail(st, rc);
        }
    } else {
        db_rollback(st->db);
    }
    free(lj);
    free(ej);
    return rc;
}

int ef_store_device_reenrol(struct ef_store *st, const char *id, const char *token_sha256,
                            const struct ef_val *labels, const char *agent_version)
{
    char *lj = NULL;
    int rc = labels ? obj_json(st, labels, "labels", &lj) : 0;
    if (rc != 0) {
        return rc;
    }
    struct db_param p[] = {db_text(id), db_text(token_sha256), db_text(lj), db_text(agent_version)};
    if (lj && agent_version) {
        rc = device_write(st,
                          "UPDATE devices SET token_sha256 = $2, labels = $3, agent_version = $4 "
                          "WHERE id = $1",
                          p, N(p), id);
    } else if (lj) {
        rc = device_write(st, "UPDATE devices SET token_sha256 = $2, labels = $3 WHERE id = $1", p,
                          3, id);
    } else if (agent_version) {
        struct db_param q[] = {db_text(id), db_text(token_sha256), db_text(agent_version)};
        rc = device_write(st,
                          "UPDATE devices SET token_sha256 = $2, agent_version = $3 WHERE id = $1",
                          q, N(q), id);
    } else {
        rc = device_write(st, "UPDATE devices SET token_sha256 = $2 WHERE id = $1", p, 2, id);
    }
    free(lj);
    return rc;
}

int ef_store_device_revoke(struct ef_store *st, const char *id)
{
    struct db_param p[] = {db_text(id)};
    return device_write(st, "UPDATE devices SET revoked = 1 WHERE id = $1", p, N(p), id);
}

int ef_store_device_next_seq(struct ef_store *st, const char *id, int64_t *seq)
{
    struct db_param p[] = {db_text(id)};
    struct db_res res;
    int rc = db_exec(st->db,
                     "UPDATE devices SET desired_seq = desired_seq + 1 WHERE id = $1 RETURNING "
                     "desired_seq",
                     p, N(p), &res);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    if (res.nrows == 0) {
        db_res_clear(&res);
        return fail(st, EF_ENOENT, "no device %s", id ? id : "(null)");
    }
    *seq = db_get_int(&res, 0, 0);
    db_res_clear(&res);
    return 0;
}

int ef_store_device_set_desired(struct ef_store *st, const char *id, const char *snapshot)
{
    struct db_param p[] = {db_text(id), db_text(snapshot)};
    return device_write(st, "UPDATE devices SET desired_snapshot = $2 WHERE id = $1", p, N(p), id);
}

static struct ef_val *str_or_null(const char *s)
{
    return s ? ef_val_str(s) : ef_val_null();
}

/* SQLite: one cached UPDATE per device inside one transaction (no round trips to save). */
static int live_sqlite(struct ef_store *st, const struct ef_store_live *rows, size_t n)
{
    int rc = db_begin(st->db);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct ef_store_live *l = &rows[i];
        char *result = l->result ? to_json(l->result) : NULL;
        if (l->result && !result) {
            rc = fail(st, EF_ENOMEM, "out of memory");
            break;
        }
        struct db_param p[] = {db_text(l->id),     db_int(l->online),    db_text(l->snapshot),
                               db_text(l->health), db_int(l->last_seen), db_real(l->cpu),
                               db_int(l->rss),     db_int(l->msgs),      db_real(l->msg_rate),
                               db_int(l->errors),  db_text(result)};
        rc = db_exec(st->db,
                     "UPDATE devices SET online = $2, snapshot = $3, health = $4, last_seen = $5, "
                     "cpu = $6, rss = $7, msgs = $8, msg_rate = $9, errors = $10, result = $11 "
                     "WHERE id = $1",
                     p, N(p), NULL);
        free(result);
        if (rc != 0) {
            dbfail(st, rc);
        }
    }
    if (rc != 0) {
        return abort_tx(st, rc);
    }
    rc = db_commit(st->db);
    return rc == 0 ? 0 : dbfail(st, rc);
}

/* PostgreSQL: the whole batch travels as one JSON parameter of one statement. */
static int live_postgres(struct ef_store *st, const struct ef_store_live *rows, size_t n)
{
    struct ef_val *arr = ef_val_arr();
    bool ok = arr != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        const struct ef_store_live *l = &rows[i];
        struct ef_val *o = ef_val_obj();
        char *result = l->result ? to_json(l->result) : NULL;
        ok = o && (!l->result || result) && fleet_put(o, "id", ef_val_str(l->id)) &&
             fleet_put(o, "online", ef_val_num(l->online ? 1 : 0)) &&
             fleet_put(o, "snapshot", str_or_null(l->snapshot)) &&
             fleet_put(o, "health", str_or_null(l->health)) &&
             fleet_put(o, "last_seen", ef_val_num((double)l->last_seen)) &&
             fleet_put(o, "cpu", ef_val_num(l->cpu)) &&
             fleet_put(o, "rss", ef_val_num((double)l->rss)) &&
             fleet_put(o, "msgs", ef_val_num((double)l->msgs)) &&
             fleet_put(o, "msg_rate", ef_val_num(l->msg_rate)) &&
             fleet_put(o, "errors", ef_val_num((double)l->errors)) &&
             fleet_put(o, "result", str_or_null(result));
        free(result);
        if (ok && ef_val_arr_push_take(arr, o) != 0) {
            ok = false;
        }
        if (!ok) {
            ef_val_unref(o);
        }
    }
    char *json = ok ? ef_json_print(arr, 0, NULL) : NULL;
    ef_val_unref(arr);
    if (!json) {
        return fail(st, EF_ENOMEM, "out of memory");
    }
    struct db_param p[] = {db_text(json)};
    int rc = db_exec(
        st->db,
        "UPDATE devices AS d SET online = u.online, snapshot = u.snapshot, health = u.health, "
        "last_seen = u.last_seen, cpu = u.cpu, rss = u.rss, msgs = u.msgs, msg_rate = u.msg_rate, "
        "errors = u.errors, result = u.result FROM json_to_recordset($1::json) AS u(id text, "
        "online bigint, snapshot text, health text, last_seen bigint, cpu double precision, rss "
        "bigint, msgs bigint, msg_rate double precision, errors bigint, result text) WHERE d.id "
        "= u.id",
        p, N(p), NULL);
    free(json);
    return rc == 0 ? 0 : dbfail(st, rc);
}

int ef_store_devices_update_live(struct ef_store *st, const struct ef_store_live *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!rows[i].id) {
            return fail(st, EF_EINVAL, "live row %zu has no device id", i);
        }
    }
    if (n == 0) {
        return 0;
    }
    return db_kind(st->db) == DB_SQLITE ? live_sqlite(st, rows, n) : live_postgres(st, rows, n);
}

/* ================================================================ groups */

void ef_store_group_clear(struct ef_store_group *g)
{
    if (!g) {
        return;
    }
    free(g->name);
    free(g->description);
    ef_val_unref(g->env);
    free(g->credential_secret);
    memset(g, 0, sizeof(*g));
}

void ef_store_group_list_free(struct ef_store_group *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) {
        ef_store_group_clear(&list[i]);
    }
    free(list);
}

#define GROUP_COLS "name, description, env, credential_secret, created, last_version"

static int row_group(struct ef_store *st, const struct db_res *res, size_t r,
                     struct ef_store_group *g)
{
    memset(g, 0, sizeof(*g));
    g->name = db_dup_text(res, r, 0);
    g->description = db_dup_text(res, r, 1);
    g->credential_secret = db_dup_text(res, r, 3);
    g->created = db_get_int(res, r, 4);
    g->last_version = db_get_int(res, r, 5);
    int rc = json_col(st, res, r, 2, EF_OBJ, &g->env);
    if (rc == 0 && (!g->name || !g->description || !g->credential_secret)) {
        rc = fail(st, EF_ENOMEM, "out of memory");
    }
    if (rc != 0) {
        ef_store_group_clear(g);
    }
    return rc;
}

int ef_store_group_create(struct ef_store *st, const struct ef_store_group *g)
{
    if (!g->name || !*g->name) {
        return fail(st, EF_EINVAL, "a group needs a name");
    }
    char secret[65];
    if (!g->credential_secret) {
        unsigned char raw[32];
        randombytes_buf(raw, sizeof(raw));
        sodium_bin2hex(secret, sizeof(secret), raw, sizeof(raw));
    }
    char *env = NULL;
    int rc = obj_json(st, g->env, "env", &env);
    if (rc != 0) {
        return rc;
    }
    struct db_param p[] = {
        db_text(g->name), db_text(g->description ? g->description : ""), db_text(env),
        db_text(g->credential_secret ? g->credential_secret : secret), db_int(g->created)};
    rc = db_exec(st->db,
                 "INSERT INTO fleet_groups (name, description, env, credential_secret, created) "
                 "VALUES ($1, $2, $3, $4, $5)",
                 p, N(p), NULL);
    free(env);
    if (rc == EF_EEXIST) {
        return fail(st, rc, "group %s exists", g->name);
    }
    return rc == 0 ? 0 : dbfail(st, rc);
}

int ef_store_group_get(struct ef_store *st, const char *name, struct ef_store_group *out)
{
    memset(out, 0, sizeof(*out));
    struct db_param p[] = {db_text(name)};
    struct db_res res;
    int rc =
        db_exec(st->db, "SELECT " GROUP_COLS " FROM fleet_groups WHERE name = $1", p, N(p), &res);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    rc = res.nrows ? row_group(st, &res, 0, out)
                   : fail(st, EF_ENOENT, "no group %s", name ? name : "(null)");
    db_res_clear(&res);
    return rc;
}

int ef_store_groups_list(struct ef_store *st, struct ef_store_group **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    struct db_res res;
    int rc =
        db_exec(st->db, "SELECT " GROUP_COLS " FROM fleet_groups ORDER BY name", NULL, 0, &res);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    struct ef_store_group *list = res.nrows ? calloc(res.nrows, sizeof(*list)) : NULL;
    if (res.nrows && !list) {
        db_res_clear(&res);
        return fail(st, EF_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < res.nrows; i++) {
        rc = row_group(st, &res, i, &list[i]);
        if (rc != 0) {
            ef_store_group_list_free(list, i);
            db_res_clear(&res);
            return rc;
        }
    }
    *out = list;
    *n = res.nrows;
    db_res_clear(&res);
    return 0;
}

int ef_store_group_update(struct ef_store *st, const char *name, const char *description,
                          const struct ef_val *env)
{
    char *ej = NULL;
    int rc = env ? obj_json(st, env, "env", &ej) : 0;
    if (rc != 0) {
        return rc;
    }
    /* PostgreSQL wants every parameter used, so each shape gets exactly its own. */
    struct db_param p[3] = {db_text(name)};
    size_t np = 1;
    const char *sql = "UPDATE fleet_groups SET name = name WHERE name = $1";
    if (description && ej) {
        sql = "UPDATE fleet_groups SET description = $2, env = $3 WHERE name = $1";
        p[np++] = db_text(description);
        p[np++] = db_text(ej);
    } else if (description) {
        sql = "UPDATE fleet_groups SET description = $2 WHERE name = $1";
        p[np++] = db_text(description);
    } else if (ej) {
        sql = "UPDATE fleet_groups SET env = $2 WHERE name = $1";
        p[np++] = db_text(ej);
    }
    struct db_res res;
    rc = db_exec(st->db, sql, p, np, &res);
    free(ej);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    int64_t changes = res.changes;
    db_res_clear(&res);
    return changes ? 0 : fail(st, EF_ENOENT, "no group %s", name ? name : "(null)");
}

/* ================================================================ provisioning tokens */

#define PROV_COLS "sha256, grp, labels, uses_left, expires, created"

void ef_store_prov_token_clear(struct ef_store_prov_token *t)
{
    if (!t) {
        return;
    }
    free(t->sha256);
    free(t->group);
    ef_val_unref(t->labels);
    memset(t, 0, sizeof(*t));
}

void ef_store_prov_token_list_free(struct ef_store_prov_token *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) {
        ef_store_prov_token_clear(&list[i]);
    }
    free(list);
}

static int row_prov(struct ef_store *st, const struct db_res *res, size_t r,
                    struct ef_store_prov_token *t)
{
    memset(t, 0, sizeof(*t));
    t->sha256 = db_dup_text(res, r, 0);
    t->group = db_dup_text(res, r, 1);
    t->uses_left = db_get_int(res, r, 3);
    t->expires = db_get_int(res, r, 4);
    t->created = db_get_int(res, r, 5);
    int rc = json_col(st, res, r, 2, EF_OBJ, &t->labels);
    if (rc == 0 && (!t->sha256 || !t->group)) {
        rc = fail(st, EF_ENOMEM, "out of memory");
    }
    if (rc != 0) {
        ef_store_prov_token_clear(t);
    }
    return rc;
}

int ef_store_prov_token_create(struct ef_store *st, const struct ef_store_prov_token *t)
{
    if (!t->sha256 || !t->group) {
        return fail(st, EF_EINVAL, "a provisioning token needs a hash and a group");
    }
    bool exists = false;
    int rc = group_exists(st, t->group, &exists);
    if (rc != 0) {
        return rc;
    }
    if (!exists) {
        return fail(st, EF_EINVAL, "no group %s", t->group);
    }
    char *labels = NULL;
    rc = obj_json(st, t->labels, "labels", &labels);
    if (rc != 0) {
        return rc;
    }
    struct db_param p[] = {db_text(t->sha256),   db_text(t->group),  db_text(labels),
                           db_int(t->uses_left), db_int(t->expires), db_int(t->created)};
    rc = db_exec(st->db, "INSERT INTO prov_tokens (" PROV_COLS ") VALUES ($1, $2, $3, $4, $5, $6)",
                 p, N(p), NULL);
    free(labels);
    if (rc == EF_EEXIST) {
        return fail(st, rc, "this provisioning token exists");
    }
    return rc == 0 ? 0 : dbfail(st, rc);
}

int ef_store_prov_token_consume(struct ef_store *st, const char *sha256, int64_t now,
                                struct ef_store_prov_token *out)
{
    memset(out, 0, sizeof(*out));
    struct db_param p[] = {db_text(sha256), db_int(now)};
    struct db_res res;
    int rc = db_exec(st->db,
                     "UPDATE prov_tokens SET uses_left = CASE WHEN uses_left < 0 THEN uses_left "
                     "ELSE uses_left - 1 END WHERE sha256 = $1 AND uses_left <> 0 AND (expires = "
                     "0 OR expires > $2) RETURNING " PROV_COLS,
                     p, N(p), &res);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    if (res.nrows) {
        rc = row_prov(st, &res, 0, out);
        db_res_clear(&res);
        return rc;
    }
    db_res_clear(&res);
    rc =
        db_exec(st->db, "SELECT uses_left, expires FROM prov_tokens WHERE sha256 = $1", p, 1, &res);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    if (res.nrows == 0) {
        rc = fail(st, EF_ENOENT, "unknown provisioning token");
    } else if (db_get_int(&res, 0, 0) == 0) {
        rc = fail(st, EF_ESTATE, "the provisioning token is used up");
    } else {
        rc = fail(st, EF_ESTATE, "the provisioning token has expired");
    }
    db_res_clear(&res);
    return rc;
}

int ef_store_prov_tokens_list(struct ef_store *st, struct ef_store_prov_token **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    struct db_res res;
    int rc = db_exec(st->db, "SELECT " PROV_COLS " FROM prov_tokens ORDER BY created DESC", NULL, 0,
                     &res);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    struct ef_store_prov_token *list = res.nrows ? calloc(res.nrows, sizeof(*list)) : NULL;
    if (res.nrows && !list) {
        db_res_clear(&res);
        return fail(st, EF_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < res.nrows; i++) {
        rc = row_prov(st, &res, i, &list[i]);
        if (rc != 0) {
            ef_store_prov_token_list_free(list, i);
            db_res_clear(&res);
            return rc;
        }
    }
    *out = list;
    *n = res.nrows;
    db_res_clear(&res);
    return 0;
}

/* ================================================================ API tokens */

#define API_COLS "name, sha256, permissions, created"

void ef_store_api_token_clear(struct ef_store_api_token *t)
{
    if (!t) {
        return;
    }
    free(t->name);
    free(t->sha256);
    free(t->permissions);
    memset(t, 0, sizeof(*t));
}

void ef_store_api_token_list_free(struct ef_store_api_token *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) {
        ef_store_api_token_clear(&list[i]);
    }
    free(list);
}

static int row_api(struct ef_store *st, const struct db_res *res, size_t r,
                   struct ef_store_api_token *t)
{
    t->name = db_dup_text(res, r, 0);
    t->sha256 = db_dup_text(res, r, 1);
    t->permissions = db_dup_text(res, r, 2);
    t->created = db_get_int(res, r, 3);
    if (!t->name || !t->sha256 || !t->permissions) {
        ef_store_api_token_clear(t);
        return fail(st, EF_ENOMEM, "out of memory");
    }
    return 0;
}

int ef_store_api_token_create(struct ef_store *st, const struct ef_store_api_token *t)
{
    if (!t->name || !*t->name || !t->sha256) {
        return fail(st, EF_EINVAL, "an API token needs a name and a hash");
    }
    struct db_param p[] = {db_text(t->name), db_text(t->sha256),
                           db_text(t->permissions ? t->permissions : "*"), db_int(t->created)};
    int rc = db_exec(st->db, "INSERT INTO api_tokens (" API_COLS ") VALUES ($1, $2, $3, $4)", p,
                     N(p), NULL);
    if (rc == EF_EEXIST) {
        return fail(st, rc, "an API token named %s (or with this value) exists", t->name);
    }
    return rc == 0 ? 0 : dbfail(st, rc);
}

int ef_store_api_token_get(struct ef_store *st, const char *sha256, struct ef_store_api_token *out)
{
    memset(out, 0, sizeof(*out));
    struct db_param p[] = {db_text(sha256)};
    struct db_res res;
    int rc =
        db_exec(st->db, "SELECT " API_COLS " FROM api_tokens WHERE sha256 = $1", p, N(p), &res);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    rc = res.nrows ? row_api(st, &res, 0, out) : fail(st, EF_ENOENT, "unknown API token");
    db_res_clear(&res);
    return rc;
}

int ef_store_api_tokens_list(struct ef_store *st, struct ef_store_api_token **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    struct db_res res;
    int rc = db_exec(st->db, "SELECT " API_COLS " FROM api_tokens ORDER BY name", NULL, 0, &res);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    struct ef_store_api_token *list = res.nrows ? calloc(res.nrows, sizeof(*list)) : NULL;
    if (res.nrows && !list) {
        db_res_clear(&res);
        return fail(st, EF_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < res.nrows; i++) {
        rc = row_api(st, &res, i, &list[i]);
        if (rc != 0) {
            ef_store_api_token_list_free(list, i);
            db_res_clear(&res);
            return rc;
        }
    }
    *out = list;
    *n = res.nrows;
    db_res_clear(&res);
    return 0;
}

int ef_store_api_token_delete(struct ef_store *st, const char *name)
{
    struct db_param p[] = {db_text(name)};
    struct db_res res;
    int rc = db_exec(st->db, "DELETE FROM api_tokens WHERE name = $1", p, N(p), &res);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    int64_t changes = res.changes;
    db_res_clear(&res);
    return changes ? 0 : fail(st, EF_ENOENT, "no API token named %s", name ? name : "(null)");
}

/* ================================================================ blobs */

int ef_store_blob_put(struct ef_store *st, const void *data, size_t len, char sha256_out[65],
                      bool *created)
{
    unsigned char hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(hash, data, len);
    sodium_bin2hex(sha256_out, 65, hash, sizeof(hash));
    struct db_param p[] = {db_text(sha256_out), db_int((int64_t)len), db_blob(data, len)};
    struct db_res res;
    int rc = db_exec(st->db,
                     "INSERT INTO blobs (sha256, size, data) VALUES ($1, $2, $3) ON CONFLICT "
                     "(sha256) DO NOTHING",
                     p, N(p), &res);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    if (created) {
        *created = res.changes > 0;
    }
    db_res_clear(&res);
    return 0;
}

int ef_store_blob_get(struct ef_store *st, const char *sha256, void **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    struct db_param p[] = {db_text(sha256)};
    struct db_res res;
    int rc = db_exec(st->db, "SELECT data FROM blobs WHERE sha256 = $1", p, N(p), &res);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    if (res.nrows == 0) {
        db_res_clear(&res);
        return fail(st, EF_ENOENT, "no file %s", sha256 ? sha256 : "(null)");
    }
    /* Hand over the cell's buffer instead of copying it. */
    struct db_cell *cell = &res.cells[0];
    *data = cell->data ? cell->data : malloc(1);
    *len = cell->len;
    cell->data = NULL;
    db_res_clear(&res);
    return *data ? 0 : fail(st, EF_ENOMEM, "out of memory");
}

int ef_store_blob_has(struct ef_store *st, const char *sha256, bool *has, int64_t *size)
{
    struct db_param p[] = {db_text(sha256)};
    struct db_res res;
    int rc = db_exec(st->db, "SELECT size FROM blobs WHERE sha256 = $1", p, N(p), &res);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    *has = res.nrows > 0;
    if (size) {
        *size = res.nrows ? db_get_int(&res, 0, 0) : 0;
    }
    db_res_clear(&res);
    return 0;
}

/* ================================================================ snapshots */

#define SNAP_COLS "id, grp, version, description, author, ts, env, files"

void ef_store_snapshot_clear(struct ef_store_snapshot *s)
{
    if (!s) {
        return;
    }
    free(s->id);
    free(s->group);
    free(s->description);
    free(s->author);
    ef_val_unref(s->env);
    ef_val_unref(s->files);
    memset(s, 0, sizeof(*s));
}

void ef_store_snapshot_list_free(struct ef_store_snapshot *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) {
        ef_store_snapshot_clear(&list[i]);
    }
    free(list);
}

static int row_snap(struct ef_store *st, const struct db_res *res, size_t r,
                    struct ef_store_snapshot *s)
{
    memset(s, 0, sizeof(*s));
    s->id = db_dup_text(res, r, 0);
    s->group = db_dup_text(res, r, 1);
    s->version = db_get_int(res, r, 2);
    s->description = db_dup_text(res, r, 3);
    s->author = db_dup_text(res, r, 4);
    s->ts = db_get_int(res, r, 5);
    int rc = json_col(st, res, r, 6, EF_OBJ, &s->env);
    if (rc == 0) {
        rc = json_col(st, res, r, 7, EF_ARR, &s->files);
    }
    if (rc == 0 && (!s->id || !s->group || !s->description || !s->author)) {
        rc = fail(st, EF_ENOMEM, "out of memory");
    }
    if (rc != 0) {
        ef_store_snapshot_clear(s);
    }
    return rc;
}

static int snap_query(struct ef_store *st, const char *sql, const struct db_param *p, size_t np,
                      struct ef_store_snapshot **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    struct db_res res;
    int rc = db_exec(st->db, sql, p, np, &res);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    struct ef_store_snapshot *list = res.nrows ? calloc(res.nrows, sizeof(*list)) : NULL;
    if (res.nrows && !list) {
        db_res_clear(&res);
        return fail(st, EF_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < res.nrows; i++) {
        rc = row_snap(st, &res, i, &list[i]);
        if (rc != 0) {
            ef_store_snapshot_list_free(list, i);
            db_res_clear(&res);
            return rc;
        }
    }
    *out = list;
    *n = res.nrows;
    db_res_clear(&res);
    return 0;
}

/* Moves the first record of a list query into *out (EF_ENOENT with `what` if none). */
static int snap_one(struct ef_store *st, const char *sql, const struct db_param *p, size_t np,
                    const char *what, struct ef_store_snapshot *out)
{
    memset(out, 0, sizeof(*out));
    struct ef_store_snapshot *list;
    size_t n;
    int rc = snap_query(st, sql, p, np, &list, &n);
    if (rc != 0) {
        return rc;
    }
    if (n == 0) {
        return fail(st, EF_ENOENT, "%s", what);
    }
    *out = list[0];
    memset(&list[0], 0, sizeof(list[0]));
    ef_store_snapshot_list_free(list, n);
    return 0;
}

int ef_store_snapshot_get(struct ef_store *st, const char *id, const char *group,
                          struct ef_store_snapshot *out)
{
    char what[160];
    snprintf(what, sizeof(what), "no snapshot %s%s%s", id ? id : "(null)",
             group ? " in group " : "", group ? group : "");
    struct db_param p[] = {db_text(id), db_text(group)};
    if (group) {
        return snap_one(st, "SELECT " SNAP_COLS " FROM snapshots WHERE id = $1 AND grp = $2", p, 2,
                        what, out);
    }
    return snap_one(st, "SELECT " SNAP_COLS " FROM snapshots WHERE id = $1 ORDER BY ts DESC", p, 1,
                    what, out);
}

int ef_store_snapshot_latest(struct ef_store *st, const char *group, struct ef_store_snapshot *out)
{
    char what[160];
    snprintf(what, sizeof(what), "group %s has no snapshot", group ? group : "(null)");
    struct db_param p[] = {db_text(group)};
    return snap_one(st,
                    "SELECT " SNAP_COLS " FROM snapshots WHERE grp = $1 ORDER BY version DESC "
                    "LIMIT 1",
                    p, 1, what, out);
}

int ef_store_snapshots_list(struct ef_store *st, const char *group, struct ef_store_snapshot **out,
                            size_t *n)
{
    struct db_param p[] = {db_text(group)};
    if (group) {
        return snap_query(st,
                          "SELECT " SNAP_COLS " FROM snapshots WHERE grp = $1 ORDER BY version "
                          "DESC",
                          p, 1, out, n);
    }
    return snap_query(st, "SELECT " SNAP_COLS " FROM snapshots ORDER BY ts DESC, version DESC",
                      NULL, 0, out, n);
}

/* Checks a files array and that every blob is stored. */
static int check_files(struct ef_store *st, const struct ef_val *files)
{
    if (!files || ef_val_type(files) != EF_ARR) {
        return fail(st, EF_EINVAL, "snapshot files must be an array");
    }
    for (size_t i = 0; i < ef_val_arr_len(files); i++) {
        const struct ef_val *f = ef_val_arr_at(files, i);
        const struct ef_val *path = ef_val_obj_get(f, "path");
        const struct ef_val *sha = ef_val_obj_get(f, "sha256");
        if (ef_val_type(f) != EF_OBJ || ef_val_type(path) != EF_STR || ef_val_type(sha) != EF_STR) {
            return fail(st, EF_EINVAL, "snapshot file %zu needs a path and a sha256", i);
        }
        bool has = false;
        int rc = ef_store_blob_has(st, ef_val_str_get(sha), &has, NULL);
        if (rc != 0) {
            return rc;
        }
        if (!has) {
            return fail(st, EF_EINVAL, "snapshot file %s: no stored file with sha256 %s",
                        ef_val_str_get(path), ef_val_str_get(sha));
        }
    }
    return 0;
}

int ef_store_snapshot_put(struct ef_store *st, const struct ef_store_snapshot *s,
                          struct ef_store_snapshot *out, bool *created)
{
    memset(out, 0, sizeof(*out));
    if (created) {
        *created = false;
    }
    if (!s->id || !*s->id || !s->group) {
        return fail(st, EF_EINVAL, "a snapshot needs an id and a group");
    }
    bool exists = false;
    int rc = group_exists(st, s->group, &exists);
    if (rc != 0) {
        return rc;
    }
    if (!exists) {
        return fail(st, EF_ENOENT, "no group %s", s->group);
    }
    rc = ef_store_snapshot_get(st, s->id, s->group, out);
    if (rc != EF_ENOENT) {
        return rc; /* already stored (0), or a failure */
    }
    rc = check_files(st, s->files);
    char *env = NULL, *files = NULL;
    if (rc == 0) {
        rc = obj_json(st, s->env, "env", &env);
    }
    if (rc == 0 && !(files = to_json(s->files))) {
        rc = fail(st, EF_ENOMEM, "out of memory");
    }
    if (rc == 0 && (rc = db_begin(st->db)) != 0) {
        dbfail(st, rc);
    }
    bool inserted = false;
    if (rc == 0) {
        /* The group row's lock orders concurrent writers; its counter gives the version. */
        struct db_param p[] = {db_text(s->group)};
        struct db_res res;
        rc = db_exec(st->db,
                     "UPDATE fleet_groups SET last_version = last_version + 1 WHERE name = $1 "
                     "RETURNING last_version",
                     p, N(p), &res);
        int64_t version = rc == 0 ? db_get_int(&res, 0, 0) : 0;
        db_res_clear(&res);
        if (rc == 0) {
            struct db_param q[] = {db_text(s->group),
                                   db_text(s->id),
                                   db_int(version),
                                   db_text(s->description ? s->description : ""),
                                   db_text(s->author ? s->author : ""),
                                   db_int(s->ts),
                                   db_text(env),
                                   db_text(files)};
            rc = db_exec(st->db,
                         "INSERT INTO snapshots (grp, id, version, description, author, ts, env, "
                         "files) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (grp, id) DO "
                         "NOTHING",
                         q, N(q), &res);
            inserted = rc == 0 && res.changes > 0;
            db_res_clear(&res);
        }
        if (rc != 0) {
            dbfail(st, rc);
            db_rollback(st->db);
        } else if (!inserted) {
            db_rollback(st->db); /* another writer stored it meanwhile: keep its version */
        } else if ((rc = db_commit(st->db)) != 0) {
            dbfail(st, rc);
        }
    }
    free(env);
    free(files);
    if (rc != 0) {
        return rc;
    }
    if (created) {
        *created = inserted;
    }
    return ef_store_snapshot_get(st, s->id, s->group, out);
}

/* ================================================================ rollouts */

#define ROLLOUT_COLS "id, grp, snapshot, spec, state, wave, reason, actor, created, updated"
#define PROGRESS_COLS "rollout, device, wave, status, from_snapshot, reason, seq, updated"

void ef_store_rollout_clear(struct ef_store_rollout *r)
{
    if (!r) {
        return;
    }
    free(r->id);
    free(r->group);
    free(r->snapshot);
    ef_val_unref(r->spec);
    free(r->state);
    free(r->reason);
    free(r->actor);
    memset(r, 0, sizeof(*r));
}

void ef_store_rollout_list_free(struct ef_store_rollout *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) {
        ef_store_rollout_clear(&list[i]);
    }
    free(list);
}

void ef_store_progress_clear(struct ef_store_progress *p)
{
    if (!p) {
        return;
    }
    free(p->rollout);
    free(p->device);
    free(p->status);
    free(p->from_snapshot);
    free(p->reason);
    memset(p, 0, sizeof(*p));
}

void ef_store_progress_list_free(struct ef_store_progress *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) {
        ef_store_progress_clear(&list[i]);
    }
    free(list);
}

static int row_rollout(struct ef_store *st, const struct db_res *res, size_t i,
                       struct ef_store_rollout *r)
{
    memset(r, 0, sizeof(*r));
    r->id = db_dup_text(res, i, 0);
    r->group = db_dup_text(res, i, 1);
    r->snapshot = db_dup_text(res, i, 2);
    r->state = db_dup_text(res, i, 4);
    r->wave = db_get_int(res, i, 5);
    r->reason = db_dup_text(res, i, 6);
    r->actor = db_dup_text(res, i, 7);
    r->created = db_get_int(res, i, 8);
    r->updated = db_get_int(res, i, 9);
    int rc = json_col(st, res, i, 3, EF_OBJ, &r->spec);
    if (rc == 0 && (!r->id || !r->group || !r->snapshot || !r->state)) {
        rc = fail(st, EF_ENOMEM, "out of memory");
    }
    if (rc != 0) {
        ef_store_rollout_clear(r);
    }
    return rc;
}

static int row_progress(struct ef_store *st, const struct db_res *res, size_t i,
                        struct ef_store_progress *p)
{
    memset(p, 0, sizeof(*p));
    p->rollout = db_dup_text(res, i, 0);
    p->device = db_dup_text(res, i, 1);
    p->wave = db_get_int(res, i, 2);
    p->status = db_dup_text(res, i, 3);
    p->from_snapshot = db_dup_text(res, i, 4);
    p->reason = db_dup_text(res, i, 5);
    p->seq = db_get_int(res, i, 6);
    p->updated = db_get_int(res, i, 7);
    if (!p->rollout || !p->device || !p->status) {
        ef_store_progress_clear(p);
        return fail(st, EF_ENOMEM, "out of memory");
    }
    return 0;
}

/* Upserts progress rows inside the caller's transaction. */
static int progress_write(struct ef_store *st, const char *rollout,
                          const struct ef_store_progress *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct ef_store_progress *r = &rows[i];
        if (!r->device || !r->status) {
            return fail(st, EF_EINVAL, "progress row %zu needs a device and a status", i);
        }
        struct db_param p[] = {db_text(rollout ? rollout : r->rollout),
                               db_text(r->device),
                               db_int(r->wave),
                               db_text(r->status),
                               db_text(r->from_snapshot),
                               db_text(r->reason),
                               db_int(r->seq),
                               db_int(r->updated)};
        int rc = db_exec(st->db,
                         "INSERT INTO rollout_devices (" PROGRESS_COLS
                         ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (rollout, "
                         "device) DO UPDATE SET wave = excluded.wave, status = excluded.status, "
                         "from_snapshot = excluded.from_snapshot, reason = excluded.reason, seq "
                         "= excluded.seq, updated = excluded.updated",
                         p, N(p), NULL);
        if (rc != 0) {
            return dbfail(st, rc);
        }
    }
    return 0;
}

int ef_store_rollout_create(struct ef_store *st, const struct ef_store_rollout *r,
                            const struct ef_store_progress *progress, size_t np, char **id_out)
{
    if (id_out) {
        *id_out = NULL;
    }
    if (!r->group || !r->snapshot) {
        return fail(st, EF_EINVAL, "a rollout needs a group and a snapshot");
    }
    char *spec = NULL;
    int rc = obj_json(st, r->spec, "rollout spec", &spec);
    if (rc != 0) {
        return rc;
    }
    if ((rc = db_begin(st->db)) != 0) {
        free(spec);
        return dbfail(st, rc);
    }
    int64_t num = 0;
    char id[32];
    rc = counter_next(st, "rollout", &num);
    if (rc == 0) {
        snprintf(id, sizeof(id), "r-%lld", (long long)num);
        struct db_param p[] = {db_text(id),
                               db_int(num),
                               db_text(r->group),
                               db_text(r->snapshot),
                               db_text(spec),
                               db_text(r->state ? r->state : "running"),
                               db_int(r->wave),
                               db_text(r->reason),
                               db_text(r->actor),
                               db_int(r->created),
                               db_int(r->updated ? r->updated : r->created)};
        rc = db_exec(st->db,
                     "INSERT INTO rollouts (id, num, grp, snapshot, spec, state, wave, reason, "
                     "actor, created, updated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
                     "$11)",
                     p, N(p), NULL);
        if (rc != 0) {
            dbfail(st, rc);
        }
    }
    if (rc == 0) {
        rc = progress_write(st, id, progress, np);
    }
    free(spec);
    if (rc != 0) {
        return abort_tx(st, rc);
    }
    if ((rc = db_commit(st->db)) != 0) {
        return dbfail(st, rc);
    }
    if (id_out && !(*id_out = strdup(id))) {
        return fail(st, EF_ENOMEM, "out of memory");
    }
    return 0;
}

static int rollout_query(struct ef_store *st, const char *sql, const struct db_param *p, size_t np,
                         struct ef_store_rollout **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    struct db_res res;
    int rc = db_exec(st->db, sql, p, np, &res);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    struct ef_store_rollout *list = res.nrows ? calloc(res.nrows, sizeof(*list)) : NULL;
    if (res.nrows && !list) {
        db_res_clear(&res);
        return fail(st, EF_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < res.nrows; i++) {
        rc = row_rollout(st, &res, i, &list[i]);
        if (rc != 0) {
            ef_store_rollout_list_free(list, i);
            db_res_clear(&res);
            return rc;
        }
    }
    *out = list;
    *n = res.nrows;
    db_res_clear(&res);
    return 0;
}

int ef_store_rollout_get(struct ef_store *st, const char *id, struct ef_store_rollout *out)
{
    memset(out, 0, sizeof(*out));
    struct db_param p[] = {db_text(id)};
    struct ef_store_rollout *list;
    size_t n;
    int rc = rollout_query(st, "SELECT " ROLLOUT_COLS " FROM rollouts WHERE id = $1", p, N(p),
                           &list, &n);
    if (rc != 0) {
        return rc;
    }
    if (n == 0) {
        return fail(st, EF_ENOENT, "no rollout %s", id ? id : "(null)");
    }
    *out = list[0];
    free(list);
    return 0;
}

int ef_store_rollouts_list(struct ef_store *st, const char *group, const char *state, size_t limit,
                           struct ef_store_rollout **out, size_t *n)
{
    /* NULL filters match everything: ($1 IS NULL OR grp = $1) needs a typed parameter on
     * PostgreSQL, so the four shapes are spelled out. */
    struct db_param p[] = {db_text(group ? group : state), db_text(state),
                           db_int(limit ? (int64_t)limit : INT64_MAX)};
    if (group && state) {
        return rollout_query(st,
                             "SELECT " ROLLOUT_COLS " FROM rollouts WHERE grp = $1 AND state = "
                             "$2 ORDER BY num DESC LIMIT $3",
                             p, 3, out, n);
    }
    if (group) {
        struct db_param q[] = {db_text(group), db_int(p[2].i)};
        return rollout_query(st,
                             "SELECT " ROLLOUT_COLS " FROM rollouts WHERE grp = $1 ORDER BY num "
                             "DESC LIMIT $2",
                             q, 2, out, n);
    }
    if (state) {
        struct db_param q[] = {db_text(state), db_int(p[2].i)};
        return rollout_query(st,
                             "SELECT " ROLLOUT_COLS " FROM rollouts WHERE state = $1 ORDER BY num "
                             "DESC LIMIT $2",
                             q, 2, out, n);
    }
    struct db_param q[] = {db_int(p[2].i)};
    return rollout_query(st, "SELECT " ROLLOUT_COLS " FROM rollouts ORDER BY num DESC LIMIT $1", q,
                         1, out, n);
}

int ef_store_rollout_update(struct ef_store *st, const char *id, const char *state, int64_t wave,
                            const char *reason, int64_t updated)
{
    if (!state) {
        return fail(st, EF_EINVAL, "a rollout state is needed");
    }
    struct db_param p[] = {db_text(id), db_text(state), db_int(wave), db_text(reason),
                           db_int(updated)};
    struct db_res res;
    int rc = db_exec(st->db,
                     "UPDATE rollouts SET state = $2, wave = $3, reason = $4, updated = $5 WHERE "
                     "id = $1",
                     p, N(p), &res);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    int64_t changes = res.changes;
    db_res_clear(&res);
    return changes ? 0 : fail(st, EF_ENOENT, "no rollout %s", id ? id : "(null)");
}

int ef_store_progress_put(struct ef_store *st, const struct ef_store_progress *rows, size_t n)
{
    if (n == 0) {
        return 0;
    }
    int rc = db_begin(st->db);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    const char *checked = NULL;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *rid = rows[i].rollout;
        if (!rid) {
            rc = fail(st, EF_EINVAL, "progress row %zu has no rollout", i);
            break;
        }
        if (checked && strcmp(checked, rid) == 0) {
            continue;
        }
        struct db_param p[] = {db_text(rid)};
        struct db_res res;
        rc = db_exec(st->db, "SELECT 1 FROM rollouts WHERE id = $1", p, N(p), &res);
        if (rc != 0) {
            dbfail(st, rc);
        } else if (res.nrows == 0) {
            rc = fail(st, EF_ENOENT, "no rollout %s", rid);
        }
        db_res_clear(&res);
        checked = rid;
    }
    if (rc == 0) {
        rc = progress_write(st, NULL, rows, n);
    }
    if (rc != 0) {
        return abort_tx(st, rc);
    }
    rc = db_commit(st->db);
    return rc == 0 ? 0 : dbfail(st, rc);
}

int ef_store_progress_list(struct ef_store *st, const char *rollout, struct ef_store_progress **out,
                           size_t *n)
{
    *out = NULL;
    *n = 0;
    struct db_param p[] = {db_text(rollout)};
    struct db_res res;
    int rc = db_exec(st->db,
                     "SELECT " PROGRESS_COLS " FROM rollout_devices WHERE rollout = $1 ORDER BY "
                     "device",
                     p, N(p), &res);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    struct ef_store_progress *list = res.nrows ? calloc(res.nrows, sizeof(*list)) : NULL;
    if (res.nrows && !list) {
        db_res_clear(&res);
        return fail(st, EF_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < res.nrows; i++) {
        rc = row_progress(st, &res, i, &list[i]);
        if (rc != 0) {
            ef_store_progress_list_free(list, i);
            db_res_clear(&res);
            return rc;
        }
    }
    *out = list;
    *n = res.nrows;
    db_res_clear(&res);
    return 0;
}

/* ================================================================ audit */

void ef_store_audit_clear(struct ef_store_audit *a)
{
    if (!a) {
        return;
    }
    free(a->actor);
    free(a->action);
    free(a->target);
    ef_val_unref(a->detail);
    memset(a, 0, sizeof(*a));
}

void ef_store_audit_list_free(struct ef_store_audit *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) {
        ef_store_audit_clear(&list[i]);
    }
    free(list);
}

int ef_store_audit_add(struct ef_store *st, int64_t ts, const char *actor, const char *action,
                       const char *target, const struct ef_val *detail)
{
    if (!action) {
        return fail(st, EF_EINVAL, "an audit entry needs an action");
    }
    char *dj = to_json(detail);
    if (!dj) {
        return fail(st, EF_ENOMEM, "out of memory");
    }
    struct db_param p[] = {db_int(ts), db_text(actor ? actor : ""), db_text(action),
                           db_text(target ? target : ""), db_text(dj)};
    int rc = db_exec(st->db,
                     "INSERT INTO audit (ts, actor, action, target, detail) VALUES ($1, $2, $3, "
                     "$4, $5)",
                     p, N(p), NULL);
    free(dj);
    return rc == 0 ? 0 : dbfail(st, rc);
}

int ef_store_audit_list(struct ef_store *st, size_t limit, struct ef_store_audit **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    struct db_param p[] = {db_int(limit ? (int64_t)limit : 100)};
    struct db_res res;
    int rc = db_exec(st->db,
                     "SELECT ts, actor, action, target, detail FROM audit ORDER BY ts DESC, id "
                     "DESC LIMIT $1",
                     p, N(p), &res);
    if (rc != 0) {
        return dbfail(st, rc);
    }
    struct ef_store_audit *list = res.nrows ? calloc(res.nrows, sizeof(*list)) : NULL;
    if (res.nrows && !list) {
        db_res_clear(&res);
        return fail(st, EF_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < res.nrows && rc == 0; i++) {
        struct ef_store_audit *a = &list[i];
        a->ts = db_get_int(&res, i, 0);
        a->actor = db_dup_text(&res, i, 1);
        a->action = db_dup_text(&res, i, 2);
        a->target = db_dup_text(&res, i, 3);
        rc = json_col(st, &res, i, 4, EF_NULL, &a->detail);
        if (rc == 0 && (!a->actor || !a->action || !a->target)) {
            rc = fail(st, EF_ENOMEM, "out of memory");
        }
        if (rc != 0) {
            ef_store_audit_list_free(list, i + 1);
            db_res_clear(&res);
            return rc;
        }
    }
    *out = list;
    *n = res.nrows;
    db_res_clear(&res);
    return 0;
}

/* ================================================================ JSON shapes */

static struct ef_val *val_or_null(const struct ef_val *v)
{
    return v ? ef_val_ref((struct ef_val *)v) : ef_val_null();
}

struct ef_val *ef_store_device_json(const struct ef_store_device *d, bool detail)
{
    struct ef_val *o = ef_val_obj();
    bool ok = o && fleet_put(o, "id", str_or_null(d->id)) &&
              fleet_put(o, "name", str_or_null(d->name)) &&
              fleet_put(o, "group", str_or_null(d->group)) &&
              fleet_put(o, "labels", d->labels ? ef_val_ref(d->labels) : ef_val_obj()) &&
              fleet_put(o, "env", d->env ? ef_val_ref(d->env) : ef_val_obj()) &&
              fleet_put(o, "online", ef_val_bool(d->online)) &&
              fleet_put(o, "snapshot", str_or_null(d->snapshot)) &&
              fleet_put(o, "health", str_or_null(d->health)) &&
              fleet_put(o, "lastSeen", ef_val_num((double)d->last_seen)) &&
              fleet_put(o, "cpu", ef_val_num(d->cpu)) &&
              fleet_put(o, "rss", ef_val_num((double)d->rss)) &&
              fleet_put(o, "msgRate", ef_val_num(d->msg_rate)) &&
              fleet_put(o, "errors", ef_val_num((double)d->errors)) &&
              fleet_put(o, "revoked", ef_val_bool(d->revoked)) &&
              fleet_put(o, "enrolled", ef_val_num((double)d->enrolled));
    if (ok && detail) {
        ok = fleet_put(o, "result", val_or_null(d->result)) &&
             fleet_put(o, "desiredSeq", ef_val_num((double)d->desired_seq)) &&
             fleet_put(o, "desiredSnapshot", str_or_null(d->desired_snapshot)) &&
             fleet_put(o, "agentVersion", str_or_null(d->agent_version)) &&
             fleet_put(o, "msgs", ef_val_num((double)d->msgs));
    }
    if (!ok) {
        ef_val_unref(o);
        return NULL;
    }
    return o;
}

struct ef_val *ef_store_group_json(const struct ef_store_group *g)
{
    struct ef_val *o = ef_val_obj();
    bool ok = o && fleet_put(o, "name", str_or_null(g->name)) &&
              fleet_put(o, "description", ef_val_str(g->description ? g->description : "")) &&
              fleet_put(o, "env", g->env ? ef_val_ref(g->env) : ef_val_obj()) &&
              fleet_put(o, "created", ef_val_num((double)g->created)) &&
              fleet_put(o, "lastVersion", ef_val_num((double)g->last_version));
    if (!ok) {
        ef_val_unref(o);
        return NULL;
    }
    return o;
}

struct ef_val *ef_store_snapshot_json(const struct ef_store_snapshot *s)
{
    struct ef_val *o = ef_val_obj();
    bool ok = o && fleet_put(o, "id", str_or_null(s->id)) &&
              fleet_put(o, "version", ef_val_num((double)s->version)) &&
              fleet_put(o, "group", str_or_null(s->group)) &&
              fleet_put(o, "description", ef_val_str(s->description ? s->description : "")) &&
              fleet_put(o, "author", ef_val_str(s->author ? s->author : "")) &&
              fleet_put(o, "ts", ef_val_num((double)s->ts)) &&
              fleet_put(o, "env", s->env ? ef_val_ref(s->env) : ef_val_obj()) &&
              fleet_put(o, "files", s->files ? ef_val_ref(s->files) : ef_val_arr());
    if (!ok) {
        ef_val_unref(o);
        return NULL;
    }
    return o;
}

struct ef_val *ef_store_rollout_json(const struct ef_store_rollout *r)
{
    struct ef_val *o = ef_val_obj();
    bool ok = o != NULL;
    for (size_t i = 0; ok && r->spec && i < ef_val_obj_len(r->spec); i++) {
        size_t klen;
        const char *key = ef_val_obj_key_at(r->spec, i, &klen);
        struct ef_val *v = ef_val_ref(ef_val_obj_val_at(r->spec, i));
        if (ef_val_obj_setn_take(o, key, klen, v) != 0) {
            ef_val_unref(v);
            ok = false;
        }
    }
    ok = ok && fleet_put(o, "id", str_or_null(r->id)) &&
         fleet_put(o, "group", str_or_null(r->group)) &&
         fleet_put(o, "snapshot", str_or_null(r->snapshot)) &&
         fleet_put(o, "state", str_or_null(r->state)) &&
         fleet_put(o, "wave", ef_val_num((double)r->wave)) &&
         fleet_put(o, "reason", str_or_null(r->reason)) &&
         fleet_put(o, "actor", str_or_null(r->actor)) &&
         fleet_put(o, "created", ef_val_num((double)r->created)) &&
         fleet_put(o, "updated", ef_val_num((double)r->updated));
    if (!ok) {
        ef_val_unref(o);
        return NULL;
    }
    return o;
}

struct ef_val *ef_store_progress_json(const struct ef_store_progress *p)
{
    struct ef_val *o = ef_val_obj();
    bool ok = o && fleet_put(o, "id", str_or_null(p->device)) &&
              fleet_put(o, "wave", ef_val_num((double)p->wave)) &&
              fleet_put(o, "status", str_or_null(p->status)) &&
              fleet_put(o, "from", str_or_null(p->from_snapshot)) &&
              fleet_put(o, "reason", str_or_null(p->reason)) &&
              fleet_put(o, "seq", ef_val_num((double)p->seq));
    if (!ok) {
        ef_val_unref(o);
        return NULL;
    }
    return o;
}

struct ef_val *ef_store_audit_json(const struct ef_store_audit *a)
{
    struct ef_val *o = ef_val_obj();
    bool ok = o && fleet_put(o, "ts", ef_val_num((double)a->ts)) &&
              fleet_put(o, "actor", str_or_null(a->actor)) &&
              fleet_put(o, "action", str_or_null(a->action)) &&
              fleet_put(o, "target", str_or_null(a->target)) &&
              fleet_put(o, "detail", val_or_null(a->detail));
    if (!ok) {
        ef_val_unref(o);
        return NULL;
    }
    return o;
}
