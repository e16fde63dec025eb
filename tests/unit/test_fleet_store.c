/*
 * test_fleet_store.c - the fleet manager's store (fleet/manager/store.h) run
 * twice: against SQLite (a temp file) and against a real PostgreSQL 15 that
 * the suite starts itself on a free loopback port in a temp dir (as the
 * `postgres` user when the test runs as root, since initdb refuses root).
 * If PostgreSQL cannot start, the suite fails with the reason.
 */
#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <CUnit/CUnit.h>

#include "manager/db.h"
#include "manager/store.h"

enum backend { SQLITE, PG };

static enum backend backend;
static char tmpdir[256];   /* SQLite files */
static char pgdir[256];    /* PostgreSQL cluster + socket + logs */
static char pg_bin[256];   /* its binaries */
static char pg_admin[256]; /* URL of the maintenance database */
static bool pg_running;
static int dbno;

/* ---------------------------------------------------------------- setup */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &alen) == 0) {
        port = ntohs(a.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

/* Runs a shell command; on failure prints it, its status and the log file's tail. */
static int run(const char *cmd, const char *log)
{
    int rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr, "\nfleet_store: command failed (status %d): %s\n", rc, cmd);
        if (log) {
            char tail[512];
            snprintf(tail, sizeof(tail), "tail -n 20 %s >&2", log);
            if (system(tail) != 0) {
                fprintf(stderr, "(no log at %s)\n", log);
            }
        }
    }
    return rc;
}

static int suite_init_sqlite(void)
{
    backend = SQLITE;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ef-store-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int suite_clean_sqlite(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static int pg_stop(void)
{
    if (!pg_running) {
        return 0;
    }
    pg_running = false;
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cd / && %s%s/pg_ctl -D %s/data -m immediate -w stop > /dev/null",
             geteuid() == 0 ? "runuser -u postgres -- " : "", pg_bin, pgdir);
    return run(cmd, NULL);
}

static int suite_init_pg(void)
{
    backend = PG;
    const char *bin = getenv("EF_PG_BIN");
    snprintf(pg_bin, sizeof(pg_bin), "%s", bin ? bin : "/usr/lib/postgresql/15/bin");
    char path[300];
    snprintf(path, sizeof(path), "%s/initdb", pg_bin);
    if (access(path, X_OK) != 0) {
        fprintf(stderr,
                "\nfleet_store: PostgreSQL is not installed: no %s (scripts/setup.sh installs "
                "the postgresql package; EF_PG_BIN names another bin dir)\n",
                path);
        return -1;
    }
    snprintf(pgdir, sizeof(pgdir), "/tmp/ef-pg-XXXXXX");
    if (!mkdtemp(pgdir)) {
        fprintf(stderr, "\nfleet_store: mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    const char *as = "";
    if (geteuid() == 0) { /* initdb and postgres refuse to run as root */
        struct passwd *pw = getpwnam("postgres");
        if (!pw) {
            fprintf(stderr, "\nfleet_store: running as root and there is no postgres user to "
                            "run PostgreSQL as (the postgresql package creates it)\n");
            return -1;
        }
        if (chown(pgdir, pw->pw_uid, pw->pw_gid) != 0) {
            fprintf(stderr, "\nfleet_store: chown %s: %s\n", pgdir, strerror(errno));
            return -1;
        }
        as = "runuser -u postgres -- ";
    }
    int port = free_port();
    if (port < 0) {
        fprintf(stderr, "\nfleet_store: no free port\n");
        return -1;
    }
    char cmd[2048], log[300];
    snprintf(log, sizeof(log), "%s/initdb.log", pgdir);
    snprintf(cmd, sizeof(cmd),
             "cd / && %s%s/initdb -D %s/data -U postgres -A trust -E UTF8 --no-sync > %s 2>&1", as,
             pg_bin, pgdir, log);
    if (run(cmd, log) != 0) {
        return -1;
    }
    snprintf(log, sizeof(log), "%s/server.log", pgdir);
    snprintf(cmd, sizeof(cmd),
             "cd / && %s%s/pg_ctl -D %s/data -l %s -w -t 60 -o \"-p %d -k %s -c "
             "listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c "
             "full_page_writes=off\" start > /dev/null",
             as, pg_bin, pgdir, log, port, pgdir);
    if (run(cmd, log) != 0) {
        return -1;
    }
    pg_running = true;
    snprintf(pg_admin, sizeof(pg_admin), "postgresql://postgres@127.0.0.1:%d/postgres", port);
    return 0;
}

static int suite_clean_pg(void)
{
    int rc = pg_stop();
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", pgdir);
    return (system(cmd) == 0 && rc == 0) ? 0 : -1;
}

/* A URL of a new, empty database for one test. */
static void fresh_url(char *url, size_t len)
{
    dbno++;
    if (backend == SQLITE) {
        snprintf(url, len, "%s/t%d.db", tmpdir, dbno);
        return;
    }
    struct db *admin = NULL;
    char err[256] = "";
    char sql[64];
    snprintf(sql, sizeof(sql), "CREATE DATABASE t%d", dbno);
    int rc = db_open(pg_admin, &admin, err, sizeof(err));
    if (rc == 0) {
        rc = db_exec(admin, sql, NULL, 0, NULL);
        if (rc != 0) {
            snprintf(err, sizeof(err), "%s", db_errmsg(admin));
        }
    }
    db_close(admin);
    if (rc != 0) {
        fprintf(stderr, "\nfleet_store: %s: %s\n", sql, err);
    }
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    const char *slash = strrchr(pg_admin, '/');
    snprintf(url, len, "%.*s/t%d", (int)(slash - pg_admin), pg_admin, dbno);
}

static struct ef_store *open_url(const char *url)
{
    struct ef_store *st = NULL;
    char err[512] = "";
    int rc = ef_store_open(url, &st, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "\nfleet_store: open %s: %s\n", url, err);
    }
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    return st;
}

static struct ef_store *open_fresh(char *url, size_t len)
{
    fresh_url(url, len);
    return open_url(url);
}

static struct ef_val *J(const char *text)
{
    struct ef_val *v = ef_json_parse(text, strlen(text), NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    return v;
}

/* Whether v printed as JSON is exactly `text`. */
static bool json_is(const struct ef_val *v, const char *text)
{
    char *s = ef_json_print(v, 0, NULL);
    bool same = s && strcmp(s, text) == 0;
    if (!same) {
        fprintf(stderr, "\nexpected %s, got %s\n", text, s ? s : "(null)");
    }
    free(s);
    return same;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void make_group(struct ef_store *st, const char *name)
{
    struct ef_store_group g = {.name = (char *)name, .created = 1000};
    CU_ASSERT_EQUAL_FATAL(ef_store_group_create(st, &g), 0);
}

static int add_device(struct ef_store *st, const char *id, const char *group, const char *key)
{
    char tok[80];
    snprintf(tok, sizeof(tok), "tok-%s", id);
    struct ef_store_device d = {.id = (char *)id,
                                .name = (char *)id,
                                .group = (char *)group,
                                .public_key = (char *)key,
                                .token_sha256 = tok,
                                .enrolled = 5000};
    return ef_store_device_insert(st, &d);
}

/* ---------------------------------------------------------------- tests */

static void test_open_and_schema(void)
{
    char url[300];
    struct ef_store *st = open_fresh(url, sizeof(url));
    CU_ASSERT_EQUAL(ef_store_is_postgres(st), backend == PG);
    ef_store_close(st);
    st = open_url(url); /* a second open finds the schema in place */
    ef_store_close(st);

    /* A schema newer than this code is refused, naming both versions. */
    struct db *db = NULL;
    char err[512] = "";
    CU_ASSERT_EQUAL_FATAL(db_open(url, &db, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(db_exec(db, "UPDATE schema_version SET version = 7", NULL, 0, NULL), 0);
    db_close(db);
    st = NULL;
    CU_ASSERT_EQUAL(ef_store_open(url, &st, err, sizeof(err)), EF_EUNSUPP);
    CU_ASSERT_PTR_NULL(st);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "schema version 7, newer than this edgeflow's 1"));

    /* Unreachable databases fail with the reason. */
    if (backend == PG) {
        char bad[100];
        snprintf(bad, sizeof(bad), "postgresql://postgres@127.0.0.1:%d/x", free_port());
        CU_ASSERT_EQUAL(ef_store_open(bad, &st, err, sizeof(err)), EF_EIO);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot connect"));
    } else {
        CU_ASSERT_EQUAL(ef_store_open("/nonexistent-dir/x.db", &st, err, sizeof(err)), EF_EIO);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent-dir/x.db"));
    }
    CU_ASSERT_EQUAL(ef_store_open("", &st, err, sizeof(err)), EF_EINVAL);
}

static void test_groups(void)
{
    char url[300];
    struct ef_store *st = open_fresh(url, sizeof(url));
    struct ef_val *env = J("{\"LIMIT\":\"40\"}");
    struct ef_store_group g = {.name = "line-1", .description = "first", .env = env, .created = 42};
    CU_ASSERT_EQUAL(ef_store_group_create(st, &g), 0);
    CU_ASSERT_EQUAL(ef_store_group_create(st, &g), EF_EEXIST);
    CU_ASSERT_PTR_NOT_NULL(strstr(ef_store_errmsg(st), "line-1"));
    make_group(st, "line-0");
    struct ef_store_group out;
    CU_ASSERT_EQUAL_FATAL(ef_store_group_get(st, "line-1", &out), 0);
    CU_ASSERT_STRING_EQUAL(out.description, "first");
    CU_ASSERT(json_is(out.env, "{\"LIMIT\":\"40\"}"));
    CU_ASSERT_EQUAL(out.created, 42);
    CU_ASSERT_EQUAL(out.last_version, 0);
    CU_ASSERT_EQUAL(strlen(out.credential_secret), 64);
    CU_ASSERT_EQUAL(strspn(out.credential_secret, "0123456789abcdef"), 64);
    char secret1[65];
    snprintf(secret1, sizeof(secret1), "%s", out.credential_secret);
    ef_store_group_clear(&out);

    struct ef_store_group *list;
    size_t n;
    CU_ASSERT_EQUAL_FATAL(ef_store_groups_list(st, &list, &n), 0);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_STRING_EQUAL(list[0].name, "line-0");
    CU_ASSERT_STRING_EQUAL(list[1].name, "line-1");
    CU_ASSERT_STRING_NOT_EQUAL(list[0].credential_secret, secret1); /* random per group */
    CU_ASSERT(json_is(list[0].env, "{}"));
    ef_store_group_list_free(list, n);

    struct ef_val *env2 = J("{\"LIMIT\":\"50\",\"MODE\":\"x\"}");
    CU_ASSERT_EQUAL(ef_store_group_update(st, "line-1", NULL, env2), 0);
    CU_ASSERT_EQUAL(ef_store_group_update(st, "line-1", "second", NULL), 0);
    CU_ASSERT_EQUAL(ef_store_group_update(st, "nope", "x", NULL), EF_ENOENT);
    struct ef_val *arr = J("[1]");
    CU_ASSERT_EQUAL(ef_store_group_update(st, "line-1", NULL, arr), EF_EINVAL);
    ef_val_unref(arr);
    CU_ASSERT_EQUAL_FATAL(ef_store_group_get(st, "line-1", &out), 0);
    CU_ASSERT_STRING_EQUAL(out.description, "second");
    CU_ASSERT(json_is(out.env, "{\"LIMIT\":\"50\",\"MODE\":\"x\"}"));
    CU_ASSERT_STRING_EQUAL(out.credential_secret, secret1);
    struct ef_val *gj = ef_store_group_json(&out);
    CU_ASSERT(json_is(gj, "{\"name\":\"line-1\",\"description\":\"second\",\"env\":{\"LIMIT\":"
                          "\"50\",\"MODE\":\"x\"},\"created\":42,\"lastVersion\":0}"));
    ef_val_unref(gj);
    ef_store_group_clear(&out);
    CU_ASSERT_EQUAL(ef_store_group_get(st, "nope", &out), EF_ENOENT);

    /* authoring */
    char *a = NULL;
    CU_ASSERT_EQUAL(ef_store_authoring_get(st, &a), EF_ENOENT);
    CU_ASSERT_EQUAL(ef_store_authoring_set(st, "nope"), EF_ENOENT);
    CU_ASSERT_EQUAL(ef_store_authoring_set(st, "line-0"), 0);
    CU_ASSERT_EQUAL(ef_store_authoring_set(st, "line-1"), 0);
    CU_ASSERT_EQUAL_FATAL(ef_store_authoring_get(st, &a), 0);
    CU_ASSERT_STRING_EQUAL(a, "line-1");
    free(a);
    ef_val_unref(env);
    ef_val_unref(env2);
    ef_store_close(st);
}

static void test_devices(void)
{
    char url[300];
    struct ef_store *st = open_fresh(url, sizeof(url));
    make_group(st, "g1");
    make_group(st, "g2");
    struct ef_val *labels = J("{\"site\":\"a\"}");
    struct ef_store_device d = {.id = "dev-1",
                                .name = "dev",
                                .group = "g1",
                                .labels = labels,
                                .public_key = "KEY1",
                                .token_sha256 = "t1",
                                .agent_version = "0.1.0",
                                .enrolled = 77};
    CU_ASSERT_EQUAL(ef_store_device_insert(st, &d), 0);
    CU_ASSERT_EQUAL(ef_store_device_insert(st, &d), EF_EEXIST); /* same id */
    d.id = "dev-2";
    CU_ASSERT_EQUAL(ef_store_device_insert(st, &d), EF_EEXIST); /* same public key */
    d.public_key = "KEY2";
    d.group = "nope";
    CU_ASSERT_EQUAL(ef_store_device_insert(st, &d), EF_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(ef_store_errmsg(st), "no group nope"));
    CU_ASSERT_EQUAL(add_device(st, "dev-2", "g2", "KEY2"), 0);
    CU_ASSERT_EQUAL(add_device(st, "dev-0", NULL, "KEY0"), 0);

    struct ef_store_device out;
    CU_ASSERT_EQUAL_FATAL(ef_store_device_get(st, "dev-1", &out), 0);
    CU_ASSERT_STRING_EQUAL(out.name, "dev");
    CU_ASSERT_STRING_EQUAL(out.group, "g1");
    CU_ASSERT(json_is(out.labels, "{\"site\":\"a\"}"));
    CU_ASSERT(json_is(out.env, "{}"));
    CU_ASSERT_STRING_EQUAL(out.agent_version, "0.1.0");
    CU_ASSERT_EQUAL(out.enrolled, 77);
    CU_ASSERT_FALSE(out.revoked);
    CU_ASSERT_FALSE(out.online);
    CU_ASSERT_PTR_NULL(out.snapshot);
    CU_ASSERT_PTR_NULL(out.result);
    CU_ASSERT_EQUAL(out.desired_seq, 0);
    ef_store_device_clear(&out);
    CU_ASSERT_EQUAL_FATAL(ef_store_device_by_key(st, "KEY2", &out), 0);
    CU_ASSERT_STRING_EQUAL(out.id, "dev-2");
    ef_store_device_clear(&out);
    CU_ASSERT_EQUAL_FATAL(ef_store_device_by_token(st, "tok-dev-0", &out), 0);
    CU_ASSERT_STRING_EQUAL(out.id, "dev-0");
    CU_ASSERT_PTR_NULL(out.group);
    ef_store_device_clear(&out);
    CU_ASSERT_EQUAL(ef_store_device_by_token(st, "nope", &out), EF_ENOENT);
    CU_ASSERT_EQUAL(ef_store_device_get(st, "nope", &out), EF_ENOENT);

    struct ef_store_device *list;
    size_t n;
    CU_ASSERT_EQUAL_FATAL(ef_store_devices_list(st, NULL, &list, &n), 0);
    CU_ASSERT_EQUAL_FATAL(n, 3);
    CU_ASSERT_STRING_EQUAL(list[0].id, "dev-0");
    CU_ASSERT_STRING_EQUAL(list[2].id, "dev-2");
    ef_store_device_list_free(list, n);
    CU_ASSERT_EQUAL_FATAL(ef_store_devices_list(st, "g1", &list, &n), 0);
    CU_ASSERT_EQUAL(n, 1);
    ef_store_device_list_free(list, n);

    /* PATCH: group, labels, env; NULL leaves a field, "" leaves the group */
    struct ef_val *l2 = J("{\"site\":\"b\",\"hw\":\"pi\"}");
    struct ef_val *e2 = J("{\"LIMIT\":\"9\"}");
    CU_ASSERT_EQUAL(ef_store_device_update(st, "dev-1", "g2", l2, NULL), 0);
    CU_ASSERT_EQUAL(ef_store_device_update(st, "dev-1", NULL, NULL, e2), 0);
    CU_ASSERT_EQUAL(ef_store_device_update(st, "dev-1", "nope", NULL, NULL), EF_EINVAL);
    CU_ASSERT_EQUAL(ef_store_device_update(st, "nope", "g1", NULL, NULL), EF_ENOENT);
    struct ef_val *str = J("\"x\"");
    CU_ASSERT_EQUAL(ef_store_device_update(st, "dev-1", NULL, str, NULL), EF_EINVAL);
    ef_val_unref(str);
    CU_ASSERT_EQUAL_FATAL(ef_store_device_get(st, "dev-1", &out), 0);
    CU_ASSERT_STRING_EQUAL(out.group, "g2");
    CU_ASSERT(json_is(out.labels, "{\"site\":\"b\",\"hw\":\"pi\"}"));
    CU_ASSERT(json_is(out.env, "{\"LIMIT\":\"9\"}"));
    ef_store_device_clear(&out);
    CU_ASSERT_EQUAL(ef_store_device_update(st, "dev-1", "", NULL, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(ef_store_device_get(st, "dev-1", &out), 0);
    CU_ASSERT_PTR_NULL(out.group);
    ef_store_device_clear(&out);

    /* re-enrolment: new token (the old one stops matching), agent version */
    CU_ASSERT_EQUAL(ef_store_device_reenrol(st, "dev-2", "t2new", NULL, "0.2.0"), 0);
    CU_ASSERT_EQUAL(ef_store_device_by_token(st, "tok-dev-2", &out), EF_ENOENT);
    CU_ASSERT_EQUAL_FATAL(ef_store_device_by_token(st, "t2new", &out), 0);
    CU_ASSERT_STRING_EQUAL(out.agent_version, "0.2.0");
    ef_store_device_clear(&out);
    CU_ASSERT_EQUAL(ef_store_device_reenrol(st, "nope", "x", NULL, NULL), EF_ENOENT);

    /* seq counter and desired snapshot */
    int64_t seq = 0;
    for (int i = 1; i <= 3; i++) {
        CU_ASSERT_EQUAL(ef_store_device_next_seq(st, "dev-2", &seq), 0);
        CU_ASSERT_EQUAL(seq, i);
    }
    CU_ASSERT_EQUAL(ef_store_device_next_seq(st, "nope", &seq), EF_ENOENT);
    CU_ASSERT_EQUAL(ef_store_device_set_desired(st, "dev-2", "abc"), 0);

    /* live fields */
    struct ef_val *result = J("{\"seq\":3,\"snapshot\":\"abc\",\"status\":\"applied\","
                              "\"reason\":null}");
    struct ef_store_live live = {.id = "dev-2",
                                 .online = true,
                                 .snapshot = "abc",
                                 .health = "healthy",
                                 .last_seen = 1795000000123LL,
                                 .cpu = 1.5,
                                 .rss = 4800000,
                                 .msgs = 123456,
                                 .msg_rate = 12.25,
                                 .errors = 2,
                                 .result = result};
    CU_ASSERT_EQUAL(ef_store_devices_update_live(st, &live, 1), 0);
    CU_ASSERT_EQUAL_FATAL(ef_store_device_get(st, "dev-2", &out), 0);
    CU_ASSERT_TRUE(out.online);
    CU_ASSERT_STRING_EQUAL(out.snapshot, "abc");
    CU_ASSERT_STRING_EQUAL(out.health, "healthy");
    CU_ASSERT_EQUAL(out.last_seen, 1795000000123LL);
    CU_ASSERT_DOUBLE_EQUAL(out.cpu, 1.5, 1e-9);
    CU_ASSERT_EQUAL(out.rss, 4800000);
    CU_ASSERT_EQUAL(out.msgs, 123456);
    CU_ASSERT_DOUBLE_EQUAL(out.msg_rate, 12.25, 1e-9);
    CU_ASSERT_EQUAL(out.errors, 2);
    CU_ASSERT_EQUAL(out.desired_seq, 3);
    CU_ASSERT_STRING_EQUAL(out.desired_snapshot, "abc");
    CU_ASSERT_PTR_NOT_NULL_FATAL(out.result);
    CU_ASSERT(json_is(out.result,
                      "{\"seq\":3,\"snapshot\":\"abc\",\"status\":\"applied\",\"reason\":null}"));
    struct ef_val *dj = ef_store_device_json(&out, false);
    CU_ASSERT(json_is(dj, "{\"id\":\"dev-2\",\"name\":\"dev-2\",\"group\":\"g2\",\"labels\":{},"
                          "\"env\":{},\"online\":true,\"snapshot\":\"abc\",\"health\":\"healthy\","
                          "\"lastSeen\":1795000000123,\"cpu\":1.5,\"rss\":4800000,\"msgRate\":"
                          "12.25,\"errors\":2,\"revoked\":false,\"enrolled\":5000}"));
    ef_val_unref(dj);
    dj = ef_store_device_json(&out, true);
    CU_ASSERT_EQUAL(ef_val_num_get(ef_val_obj_get(dj, "desiredSeq")), 3);
    CU_ASSERT_PTR_NOT_NULL(ef_val_obj_get(dj, "result"));
    ef_val_unref(dj);
    ef_store_device_clear(&out);
    /* going offline clears the snapshot and result when the row says so */
    live.online = false;
    live.result = NULL;
    live.snapshot = NULL;
    CU_ASSERT_EQUAL(ef_store_devices_update_live(st, &live, 1), 0);
    CU_ASSERT_EQUAL_FATAL(ef_store_device_get(st, "dev-2", &out), 0);
    CU_ASSERT_FALSE(out.online);
    CU_ASSERT_PTR_NULL(out.snapshot);
    CU_ASSERT_PTR_NULL(out.result);
    ef_store_device_clear(&out);

    CU_ASSERT_EQUAL(ef_store_device_revoke(st, "dev-2"), 0);
    CU_ASSERT_EQUAL(ef_store_device_revoke(st, "dev-2"), 0);
    CU_ASSERT_EQUAL(ef_store_device_revoke(st, "nope"), EF_ENOENT);
    CU_ASSERT_EQUAL_FATAL(ef_store_device_get(st, "dev-2", &out), 0);
    CU_ASSERT_TRUE(out.revoked);
    ef_store_device_clear(&out);

    ef_val_unref(labels);
    ef_val_unref(l2);
    ef_val_unref(e2);
    ef_val_unref(result);
    ef_store_close(st);
}

static void test_tokens(void)
{
    char url[300];
    struct ef_store *st = open_fresh(url, sizeof(url));
    make_group(st, "g");
    struct ef_val *labels = J("{\"site\":\"a\"}");
    struct ef_store_prov_token t = {
        .sha256 = "p1", .group = "g", .labels = labels, .uses_left = 2, .expires = 0, .created = 1};
    CU_ASSERT_EQUAL(ef_store_prov_token_create(st, &t), 0);
    CU_ASSERT_EQUAL(ef_store_prov_token_create(st, &t), EF_EEXIST);
    t.sha256 = "p2";
    t.group = "nope";
    CU_ASSERT_EQUAL(ef_store_prov_token_create(st, &t), EF_EINVAL);
    t.group = "g";
    t.uses_left = -1;
    t.expires = 10000;
    t.created = 2;
    CU_ASSERT_EQUAL(ef_store_prov_token_create(st, &t), 0);

    struct ef_store_prov_token out;
    CU_ASSERT_EQUAL_FATAL(ef_store_prov_token_consume(st, "p1", 5000, &out), 0);
    CU_ASSERT_STRING_EQUAL(out.group, "g");
    CU_ASSERT_EQUAL(out.uses_left, 1);
    CU_ASSERT(json_is(out.labels, "{\"site\":\"a\"}"));
    ef_store_prov_token_clear(&out);
    CU_ASSERT_EQUAL(ef_store_prov_token_consume(st, "p1", 5000, &out), 0);
    CU_ASSERT_EQUAL(out.uses_left, 0);
    ef_store_prov_token_clear(&out);
    CU_ASSERT_EQUAL(ef_store_prov_token_consume(st, "p1", 5000, &out), EF_ESTATE);
    CU_ASSERT_STRING_EQUAL(ef_store_errmsg(st), "the provisioning token is used up");
    CU_ASSERT_EQUAL(ef_store_prov_token_consume(st, "zz", 5000, &out), EF_ENOENT);
    for (int i = 0; i < 3; i++) { /* unlimited stays unlimited */
        CU_ASSERT_EQUAL(ef_store_prov_token_consume(st, "p2", 9999, &out), 0);
        CU_ASSERT_EQUAL(out.uses_left, -1);
        ef_store_prov_token_clear(&out);
    }
    CU_ASSERT_EQUAL(ef_store_prov_token_consume(st, "p2", 10000, &out), EF_ESTATE);
    CU_ASSERT_STRING_EQUAL(ef_store_errmsg(st), "the provisioning token has expired");
    struct ef_store_prov_token *plist;
    size_t n;
    CU_ASSERT_EQUAL_FATAL(ef_store_prov_tokens_list(st, &plist, &n), 0);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_STRING_EQUAL(plist[0].sha256, "p2"); /* newest first */
    ef_store_prov_token_list_free(plist, n);

    struct ef_store_api_token a = {
        .name = "ci", .sha256 = "h1", .permissions = "read", .created = 3};
    CU_ASSERT_EQUAL(ef_store_api_token_create(st, &a), 0);
    CU_ASSERT_EQUAL(ef_store_api_token_create(st, &a), EF_EEXIST);
    a.name = "ci2"; /* same hash */
    CU_ASSERT_EQUAL(ef_store_api_token_create(st, &a), EF_EEXIST);
    a.sha256 = "h2";
    a.permissions = NULL;
    CU_ASSERT_EQUAL(ef_store_api_token_create(st, &a), 0);
    struct ef_store_api_token ao;
    CU_ASSERT_EQUAL_FATAL(ef_store_api_token_get(st, "h1", &ao), 0);
    CU_ASSERT_STRING_EQUAL(ao.name, "ci");
    CU_ASSERT_STRING_EQUAL(ao.permissions, "read");
    ef_store_api_token_clear(&ao);
    CU_ASSERT_EQUAL_FATAL(ef_store_api_token_get(st, "h2", &ao), 0);
    CU_ASSERT_STRING_EQUAL(ao.permissions, "*");
    ef_store_api_token_clear(&ao);
    CU_ASSERT_EQUAL(ef_store_api_token_get(st, "h3", &ao), EF_ENOENT);
    struct ef_store_api_token *alist;
    CU_ASSERT_EQUAL_FATAL(ef_store_api_tokens_list(st, &alist, &n), 0);
    CU_ASSERT_EQUAL(n, 2);
    ef_store_api_token_list_free(alist, n);
    CU_ASSERT_EQUAL(ef_store_api_token_delete(st, "ci"), 0);
    CU_ASSERT_EQUAL(ef_store_api_token_delete(st, "ci"), EF_ENOENT);
    CU_ASSERT_EQUAL(ef_store_api_token_get(st, "h1", &ao), EF_ENOENT);

    /* counters and settings */
    int64_t v = 0;
    CU_ASSERT_EQUAL(ef_store_counter_next(st, "cmd", &v), 0);
    CU_ASSERT_EQUAL(v, 1);
    CU_ASSERT_EQUAL(ef_store_counter_next(st, "cmd", &v), 0);
    CU_ASSERT_EQUAL(v, 2);
    CU_ASSERT_EQUAL(ef_store_counter_next(st, "other", &v), 0);
    CU_ASSERT_EQUAL(v, 1);
    char *s = NULL;
    CU_ASSERT_EQUAL(ef_store_setting_get(st, "k", &s), EF_ENOENT);
    CU_ASSERT_EQUAL(ef_store_setting_set(st, "k", "v1"), 0);
    CU_ASSERT_EQUAL(ef_store_setting_set(st, "k", "v2"), 0);
    CU_ASSERT_EQUAL_FATAL(ef_store_setting_get(st, "k", &s), 0);
    CU_ASSERT_STRING_EQUAL(s, "v2");
    free(s);
    ef_val_unref(labels);
    ef_store_close(st);
}

static void test_blobs_and_snapshots(void)
{
    char url[300];
    struct ef_store *st = open_fresh(url, sizeof(url));
    make_group(st, "g");
    make_group(st, "h");
    char sha[65], sha2[65], sha3[65];
    bool created = false;
    CU_ASSERT_EQUAL(ef_store_blob_put(st, "hello", 5, sha, &created), 0);
    CU_ASSERT_TRUE(created);
    CU_ASSERT_STRING_EQUAL(sha, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    CU_ASSERT_EQUAL(ef_store_blob_put(st, "hello", 5, sha2, &created), 0);
    CU_ASSERT_FALSE(created);
    CU_ASSERT_STRING_EQUAL(sha, sha2);
    const unsigned char bin[] = {0, 1, 2, 0, 255, '\\', 'x', 0};
    CU_ASSERT_EQUAL(ef_store_blob_put(st, bin, sizeof(bin), sha3, &created), 0);
    CU_ASSERT_TRUE(created);
    void *data = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(ef_store_blob_get(st, sha3, &data, &len), 0);
    CU_ASSERT_EQUAL(len, sizeof(bin));
    CU_ASSERT_EQUAL(memcmp(data, bin, sizeof(bin)), 0);
    free(data);
    CU_ASSERT_EQUAL(ef_store_blob_put(st, "", 0, sha2, &created), 0); /* empty file */
    CU_ASSERT_EQUAL_FATAL(ef_store_blob_get(st, sha2, &data, &len), 0);
    CU_ASSERT_EQUAL(len, 0);
    free(data);
    CU_ASSERT_EQUAL(ef_store_blob_get(st, "00", &data, &len), EF_ENOENT);
    bool has = false;
    int64_t size = 0;
    CU_ASSERT_EQUAL(ef_store_blob_has(st, sha, &has, &size), 0);
    CU_ASSERT_TRUE(has);
    CU_ASSERT_EQUAL(size, 5);
    CU_ASSERT_EQUAL(ef_store_blob_has(st, "00", &has, NULL), 0);
    CU_ASSERT_FALSE(has);
    /* one stored copy of "hello" */
    struct db *db = NULL;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(db_open(url, &db, err, sizeof(err)), 0);
    struct db_res res;
    CU_ASSERT_EQUAL_FATAL(db_exec(db, "SELECT count(*) FROM blobs", NULL, 0, &res), 0);
    CU_ASSERT_EQUAL(db_get_int(&res, 0, 0), 3);
    db_res_clear(&res);
    db_close(db);

    char files_text[400];
    snprintf(files_text, sizeof(files_text),
             "[{\"path\":\"flows.json\",\"sha256\":\"%s\",\"size\":5}]", sha);
    struct ef_val *files = J(files_text);
    struct ef_val *env = J("{\"A\":\"1\"}");
    struct ef_store_snapshot s = {.id = "snap-a",
                                  .group = "g",
                                  .description = "first",
                                  .author = "alice",
                                  .ts = 100,
                                  .env = env,
                                  .files = files};
    struct ef_store_snapshot out;
    CU_ASSERT_EQUAL_FATAL(ef_store_snapshot_put(st, &s, &out, &created), 0);
    CU_ASSERT_TRUE(created);
    CU_ASSERT_EQUAL(out.version, 1);
    CU_ASSERT_STRING_EQUAL(out.author, "alice");
    CU_ASSERT(json_is(out.files, files_text));
    ef_store_snapshot_clear(&out);
    s.description = "again";
    CU_ASSERT_EQUAL_FATAL(ef_store_snapshot_put(st, &s, &out, &created), 0);
    CU_ASSERT_FALSE(created); /* identical: the stored one */
    CU_ASSERT_EQUAL(out.version, 1);
    CU_ASSERT_STRING_EQUAL(out.description, "first");
    ef_store_snapshot_clear(&out);
    s.id = "snap-b";
    s.ts = 200;
    CU_ASSERT_EQUAL_FATAL(ef_store_snapshot_put(st, &s, &out, &created), 0);
    CU_ASSERT_TRUE(created);
    CU_ASSERT_EQUAL(out.version, 2);
    ef_store_snapshot_clear(&out);
    s.group = "h"; /* the same content in another group gets that group's version */
    s.ts = 300;
    CU_ASSERT_EQUAL_FATAL(ef_store_snapshot_put(st, &s, &out, &created), 0);
    CU_ASSERT_EQUAL(out.version, 1);
    ef_store_snapshot_clear(&out);
    s.group = "nope";
    CU_ASSERT_EQUAL(ef_store_snapshot_put(st, &s, &out, &created), EF_ENOENT);
    /* a file whose blob is missing */
    struct ef_val *bad = J("[{\"path\":\"m.onnx\",\"sha256\":\"ffff\",\"size\":1}]");
    s.group = "g";
    s.id = "snap-c";
    s.files = bad;
    CU_ASSERT_EQUAL(ef_store_snapshot_put(st, &s, &out, &created), EF_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(ef_store_errmsg(st), "m.onnx"));
    ef_val_unref(bad);

    CU_ASSERT_EQUAL_FATAL(ef_store_snapshot_latest(st, "g", &out), 0);
    CU_ASSERT_STRING_EQUAL(out.id, "snap-b");
    ef_store_snapshot_clear(&out);
    CU_ASSERT_EQUAL(ef_store_snapshot_latest(st, "nope", &out), EF_ENOENT);
    CU_ASSERT_EQUAL_FATAL(ef_store_snapshot_get(st, "snap-b", NULL, &out), 0);
    CU_ASSERT_STRING_EQUAL(out.group, "h"); /* the newest with that id */
    ef_store_snapshot_clear(&out);
    CU_ASSERT_EQUAL_FATAL(ef_store_snapshot_get(st, "snap-a", "g", &out), 0);
    struct ef_val *sj = ef_store_snapshot_json(&out);
    char expect[700];
    snprintf(expect, sizeof(expect),
             "{\"id\":\"snap-a\",\"version\":1,\"group\":\"g\",\"description\":\"first\","
             "\"author\":\"alice\",\"ts\":100,\"env\":{\"A\":\"1\"},\"files\":%s}",
             files_text);
    CU_ASSERT(json_is(sj, expect));
    ef_val_unref(sj);
    ef_store_snapshot_clear(&out);
    CU_ASSERT_EQUAL(ef_store_snapshot_get(st, "snap-a", "h", &out), EF_ENOENT);

    struct ef_store_snapshot *list;
    size_t n;
    CU_ASSERT_EQUAL_FATAL(ef_store_snapshots_list(st, "g", &list, &n), 0);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_STRING_EQUAL(list[0].id, "snap-b");
    CU_ASSERT_STRING_EQUAL(list[1].id, "snap-a");
    ef_store_snapshot_list_free(list, n);
    CU_ASSERT_EQUAL_FATAL(ef_store_snapshots_list(st, NULL, &list, &n), 0);
    CU_ASSERT_EQUAL(n, 3);
    ef_store_snapshot_list_free(list, n);
    struct ef_store_group g;
    CU_ASSERT_EQUAL_FATAL(ef_store_group_get(st, "g", &g), 0);
    CU_ASSERT_EQUAL(g.last_version, 2);
    ef_store_group_clear(&g);
    ef_val_unref(files);
    ef_val_unref(env);
    ef_store_close(st);
}

static void test_rollouts_and_audit(void)
{
    char url[300];
    struct ef_store *st = open_fresh(url, sizeof(url));
    struct ef_val *spec = J("{\"strategy\":\"waves\",\"waves\":[1,\"50%\"],\"failureBudget\":0}");
    struct ef_store_rollout r = {
        .group = "g", .snapshot = "s1", .spec = spec, .actor = "bob", .created = 10};
    struct ef_store_progress prog[2] = {
        {.device = "d2", .wave = 1, .status = "waiting", .from_snapshot = "s0", .updated = 10},
        {.device = "d1", .wave = 0, .status = "updating", .seq = 4, .updated = 10},
    };
    char *id = NULL;
    CU_ASSERT_EQUAL_FATAL(ef_store_rollout_create(st, &r, prog, 2, &id), 0);
    CU_ASSERT_STRING_EQUAL(id, "r-1");
    free(id);
    CU_ASSERT_EQUAL_FATAL(ef_store_rollout_create(st, &r, NULL, 0, &id), 0);
    CU_ASSERT_STRING_EQUAL(id, "r-2");
    free(id);
    /* a bad progress row leaves no rollout behind (one transaction) */
    struct ef_store_progress badrow = {.device = "d9"};
    CU_ASSERT_EQUAL(ef_store_rollout_create(st, &r, &badrow, 1, &id), EF_EINVAL);
    struct ef_store_rollout *list;
    size_t n;
    CU_ASSERT_EQUAL_FATAL(ef_store_rollouts_list(st, NULL, NULL, 0, &list, &n), 0);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_STRING_EQUAL(list[0].id, "r-2"); /* newest first */
    CU_ASSERT_STRING_EQUAL(list[1].state, "running");
    ef_store_rollout_list_free(list, n);

    CU_ASSERT_EQUAL(ef_store_rollout_update(st, "r-1", "paused", 1, "failure budget", 20), 0);
    CU_ASSERT_EQUAL(ef_store_rollout_update(st, "r-9", "paused", 1, NULL, 20), EF_ENOENT);
    CU_ASSERT_EQUAL_FATAL(ef_store_rollouts_list(st, NULL, "running", 0, &list, &n), 0);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_STRING_EQUAL(list[0].id, "r-2");
    ef_store_rollout_list_free(list, n);
    CU_ASSERT_EQUAL_FATAL(ef_store_rollouts_list(st, "g", "paused", 5, &list, &n), 0);
    CU_ASSERT_EQUAL(n, 1);
    ef_store_rollout_list_free(list, n);
    CU_ASSERT_EQUAL_FATAL(ef_store_rollouts_list(st, "other", NULL, 0, &list, &n), 0);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL_FATAL(ef_store_rollouts_list(st, "g", NULL, 1, &list, &n), 0);
    CU_ASSERT_EQUAL(n, 1);
    ef_store_rollout_list_free(list, n);

    struct ef_store_rollout ro;
    CU_ASSERT_EQUAL_FATAL(ef_store_rollout_get(st, "r-1", &ro), 0);
    CU_ASSERT_STRING_EQUAL(ro.state, "paused");
    CU_ASSERT_EQUAL(ro.wave, 1);
    CU_ASSERT_STRING_EQUAL(ro.reason, "failure budget");
    CU_ASSERT_EQUAL(ro.updated, 20);
    struct ef_val *rj = ef_store_rollout_json(&ro);
    CU_ASSERT(json_is(rj, "{\"strategy\":\"waves\",\"waves\":[1,\"50%\"],\"failureBudget\":0,"
                          "\"id\":\"r-1\",\"group\":\"g\",\"snapshot\":\"s1\",\"state\":\"paused\","
                          "\"wave\":1,\"reason\":\"failure budget\",\"actor\":\"bob\","
                          "\"created\":10,\"updated\":20}"));
    ef_val_unref(rj);
    ef_store_rollout_clear(&ro);
    CU_ASSERT_EQUAL(ef_store_rollout_get(st, "r-9", &ro), EF_ENOENT);

    struct ef_store_progress upd[2] = {
        {.rollout = "r-1", .device = "d1", .wave = 0, .status = "healthy", .seq = 4, .updated = 30},
        {.rollout = "r-1", .device = "d3", .wave = 1, .status = "pending", .updated = 30},
    };
    CU_ASSERT_EQUAL(ef_store_progress_put(st, upd, 2), 0);
    upd[1].rollout = "r-9";
    CU_ASSERT_EQUAL(ef_store_progress_put(st, upd, 2), EF_ENOENT);
    struct ef_store_progress *pl;
    CU_ASSERT_EQUAL_FATAL(ef_store_progress_list(st, "r-1", &pl, &n), 0);
    CU_ASSERT_EQUAL_FATAL(n, 3);
    CU_ASSERT_STRING_EQUAL(pl[0].device, "d1");
    CU_ASSERT_STRING_EQUAL(pl[0].status, "healthy");
    CU_ASSERT_EQUAL(pl[0].updated, 30);
    CU_ASSERT_STRING_EQUAL(pl[1].device, "d2");
    CU_ASSERT_STRING_EQUAL(pl[1].from_snapshot, "s0");
    CU_ASSERT_STRING_EQUAL(pl[2].device, "d3");
    CU_ASSERT_PTR_NULL(pl[2].from_snapshot);
    struct ef_val *pj = ef_store_progress_json(&pl[1]);
    CU_ASSERT(json_is(pj, "{\"id\":\"d2\",\"wave\":1,\"status\":\"waiting\",\"from\":\"s0\","
                          "\"reason\":null,\"seq\":0}"));
    ef_val_unref(pj);
    ef_store_progress_list_free(pl, n);

    /* audit, newest first; equal ts keep insertion order reversed */
    struct ef_val *detail = J("{\"devices\":3}");
    CU_ASSERT_EQUAL(ef_store_audit_add(st, 100, "alice", "group.create", "g", NULL), 0);
    CU_ASSERT_EQUAL(ef_store_audit_add(st, 200, "bob", "rollout.start", "r-1", detail), 0);
    CU_ASSERT_EQUAL(ef_store_audit_add(st, 200, "bob", "rollout.pause", "r-1", NULL), 0);
    CU_ASSERT_EQUAL(ef_store_audit_add(st, 150, "carol", "device.revoke", "d1", NULL), 0);
    struct ef_store_audit *al;
    CU_ASSERT_EQUAL_FATAL(ef_store_audit_list(st, 0, &al, &n), 0);
    CU_ASSERT_EQUAL_FATAL(n, 4);
    CU_ASSERT_STRING_EQUAL(al[0].action, "rollout.pause");
    CU_ASSERT_STRING_EQUAL(al[1].action, "rollout.start");
    CU_ASSERT_STRING_EQUAL(al[2].action, "device.revoke");
    CU_ASSERT_STRING_EQUAL(al[3].action, "group.create");
    struct ef_val *aj = ef_store_audit_json(&al[1]);
    CU_ASSERT(json_is(aj, "{\"ts\":200,\"actor\":\"bob\",\"action\":\"rollout.start\","
                          "\"target\":\"r-1\",\"detail\":{\"devices\":3}}"));
    ef_val_unref(aj);
    CU_ASSERT_EQUAL(ef_val_type(al[0].detail), EF_NULL);
    ef_store_audit_list_free(al, n);
    CU_ASSERT_EQUAL_FATAL(ef_store_audit_list(st, 2, &al, &n), 0);
    CU_ASSERT_EQUAL(n, 2);
    ef_store_audit_list_free(al, n);
    ef_val_unref(detail);
    ef_val_unref(spec);
    ef_store_close(st);
}

static void test_db_layer(void)
{
    char url[300];
    fresh_url(url, sizeof(url));
    struct db *db = NULL;
    char err[256] = "";
    CU_ASSERT_EQUAL_FATAL(db_open(url, &db, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(db_kind(db), backend == PG ? DB_POSTGRES : DB_SQLITE);
    CU_ASSERT_EQUAL(db_script(db, "CREATE TABLE t (k TEXT PRIMARY KEY, i BIGINT, d DOUBLE "
                                  "PRECISION, b BYTEA_OR_BLOB, n TEXT)") == 0,
                    backend == SQLITE); /* SQLite takes any type name; PostgreSQL does not */
    if (backend == PG) {
        CU_ASSERT_PTR_NOT_NULL(strstr(db_errmsg(db), "bytea_or_blob"));
        CU_ASSERT_EQUAL_FATAL(db_script(db, "CREATE TABLE t (k TEXT PRIMARY KEY, i BIGINT, d "
                                            "DOUBLE PRECISION, b BYTEA, n TEXT)"),
                              0);
    }
    /* typed parameters, a parameter used twice, NULL */
    const unsigned char bytes[] = {0, 0xff, 'a', 0};
    struct db_param p[] = {db_text("k1"), db_int(-9007199254740993LL), db_real(0.1),
                           db_blob(bytes, sizeof(bytes)), db_text(NULL)};
    struct db_res res;
    CU_ASSERT_EQUAL(db_exec(db, "INSERT INTO t VALUES ($1, $2, $3, $4, $5)", p, 5, &res), 0);
    CU_ASSERT_EQUAL(res.changes, 1);
    db_res_clear(&res);
    CU_ASSERT_EQUAL(db_exec(db, "INSERT INTO t VALUES ($1, $2, $3, $4, $5)", p, 5, NULL),
                    EF_EEXIST);
    CU_ASSERT_PTR_NOT_NULL(strstr(db_errmsg(db), "INSERT INTO t"));
    CU_ASSERT_EQUAL_FATAL(
        db_exec(db, "SELECT k, i, d, b, n, k = $1 FROM t WHERE k = $1", p, 1, &res), 0);
    CU_ASSERT_EQUAL_FATAL(res.nrows, 1);
    CU_ASSERT_EQUAL(res.ncols, 6);
    CU_ASSERT_STRING_EQUAL(db_get_text(&res, 0, 0), "k1");
    CU_ASSERT_EQUAL(db_get_int(&res, 0, 1), -9007199254740993LL);
    CU_ASSERT_DOUBLE_EQUAL(db_get_real(&res, 0, 2), 0.1, 1e-15);
    size_t len = 0;
    const void *b = db_get_blob(&res, 0, 3, &len);
    CU_ASSERT_EQUAL(len, sizeof(bytes));
    CU_ASSERT(b && memcmp(b, bytes, sizeof(bytes)) == 0);
    CU_ASSERT_PTR_NULL(db_get_text(&res, 0, 4));
    CU_ASSERT_PTR_NULL(db_dup_text(&res, 0, 4));
    CU_ASSERT_PTR_NULL(db_get_text(&res, 1, 0)); /* out of range */
    CU_ASSERT_PTR_NULL(db_get_text(&res, 0, 9));
    db_res_clear(&res);
    /* too few parameters, bad SQL: errors with the statement named */
    CU_ASSERT_NOT_EQUAL(db_exec(db, "SELECT k FROM t WHERE k = $2", p, 1, NULL), 0);
    CU_ASSERT_EQUAL(db_exec(db, "SELEKT 1", NULL, 0, NULL), EF_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(db_errmsg(db), "SELEKT 1"));
    /* transactions: rollback undoes, commit keeps, no nesting */
    CU_ASSERT_EQUAL(db_begin(db), 0);
    CU_ASSERT_TRUE(db_in_transaction(db));
    CU_ASSERT_EQUAL(db_begin(db), EF_EINVAL);
    CU_ASSERT_EQUAL(db_exec(db, "DELETE FROM t", NULL, 0, NULL), 0);
    db_rollback(db);
    CU_ASSERT_FALSE(db_in_transaction(db));
    CU_ASSERT_EQUAL(db_commit(db), EF_EINVAL);
    CU_ASSERT_EQUAL_FATAL(db_exec(db, "SELECT count(*) FROM t", NULL, 0, &res), 0);
    CU_ASSERT_EQUAL(db_get_int(&res, 0, 0), 1);
    db_res_clear(&res);
    CU_ASSERT_EQUAL(db_begin(db), 0);
    struct db_param q[] = {db_text("k2")};
    CU_ASSERT_EQUAL(db_exec(db, "INSERT INTO t (k) VALUES ($1)", q, 1, NULL), 0);
    CU_ASSERT_EQUAL(db_commit(db), 0);
    CU_ASSERT_EQUAL_FATAL(db_exec(db, "SELECT count(*) FROM t", NULL, 0, &res), 0);
    CU_ASSERT_EQUAL(db_get_int(&res, 0, 0), 2);
    db_res_clear(&res);
    CU_ASSERT_TRUE(db_alive(db));
    db_close(db);
}

/* ---------------------------------------------------------------- concurrency */

struct worker {
    const char *url;
    int64_t seqs[200];
    int64_t counters[200];
    int rc;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    struct ef_store *st = NULL;
    char err[256];
    w->rc = ef_store_open(w->url, &st, err, sizeof(err));
    for (int i = 0; i < 200 && w->rc == 0; i++) {
        w->rc = ef_store_device_next_seq(st, "dev", &w->seqs[i]);
        if (w->rc == 0) {
            w->rc = ef_store_counter_next(st, "rollout", &w->counters[i]);
        }
        if (w->rc != 0) {
            fprintf(stderr, "\nworker: %s\n", ef_store_errmsg(st));
        }
    }
    ef_store_close(st);
    return NULL;
}

/* Second round: tokens consumed and snapshots stored from two threads at once. */
struct worker2 {
    const char *url;
    int id;
    int used, refused;
    int64_t versions[20];
    int rc;
};

static void *worker2_run(void *arg)
{
    struct worker2 *w = arg;
    struct ef_store *st = NULL;
    char err[256];
    w->rc = ef_store_open(w->url, &st, err, sizeof(err));
    for (int i = 0; i < 40 && w->rc == 0; i++) {
        struct ef_store_prov_token t;
        int rc = ef_store_prov_token_consume(st, "tok50", 1, &t);
        if (rc == 0) {
            w->used++;
            ef_store_prov_token_clear(&t);
        } else if (rc == EF_ESTATE) {
            w->refused++;
        } else {
            w->rc = rc;
        }
    }
    char sha[65];
    if (w->rc == 0) {
        w->rc = ef_store_blob_put(st, "x", 1, sha, NULL);
    }
    char ft[200];
    snprintf(ft, sizeof(ft), "[{\"path\":\"flows.json\",\"sha256\":\"%s\",\"size\":1}]", sha);
    struct ef_val *files = ef_json_parse(ft, strlen(ft), NULL, 0);
    for (int i = 0; i < 20 && w->rc == 0; i++) {
        char id[32];
        snprintf(id, sizeof(id), "w%d-%d", w->id, i);
        struct ef_store_snapshot s = {.id = id, .group = "g", .files = files}, out;
        w->rc = ef_store_snapshot_put(st, &s, &out, NULL);
        w->versions[i] = out.version;
        ef_store_snapshot_clear(&out);
    }
    if (w->rc != 0) {
        fprintf(stderr, "\nworker2: %s\n", ef_store_errmsg(st));
    }
    ef_val_unref(files);
    ef_store_close(st);
    return NULL;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_two_handles(void)
{
    char url[300];
    struct ef_store *a = open_fresh(url, sizeof(url));
    struct ef_store *b = open_url(url);
    make_group(a, "g");
    CU_ASSERT_EQUAL(add_device(a, "dev", "g", "K"), 0);
    /* each sees the other's writes */
    struct ef_store_device d;
    CU_ASSERT_EQUAL_FATAL(ef_store_device_get(b, "dev", &d), 0);
    ef_store_device_clear(&d);
    CU_ASSERT_EQUAL(add_device(b, "dev", "g", "K2"), EF_EEXIST);

    /* the same snapshot stored through both handles: one row, one version */
    char sha[65];
    CU_ASSERT_EQUAL(ef_store_blob_put(a, "x", 1, sha, NULL), 0);
    char ft[200];
    snprintf(ft, sizeof(ft), "[{\"path\":\"flows.json\",\"sha256\":\"%s\",\"size\":1}]", sha);
    struct ef_val *files = J(ft);
    struct ef_store_snapshot s = {.id = "s", .group = "g", .files = files};
    struct ef_store_snapshot o1, o2;
    bool c1 = false, c2 = false;
    CU_ASSERT_EQUAL(ef_store_snapshot_put(a, &s, &o1, &c1), 0);
    CU_ASSERT_EQUAL(ef_store_snapshot_put(b, &s, &o2, &c2), 0);
    CU_ASSERT_TRUE(c1);
    CU_ASSERT_FALSE(c2);
    CU_ASSERT_EQUAL(o1.version, o2.version);
    ef_store_snapshot_clear(&o1);
    ef_store_snapshot_clear(&o2);
    ef_val_unref(files);

    /* seq and counter increments from two threads, each with its own handle */
    struct worker w[2] = {{.url = url}, {.url = url}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        CU_ASSERT_EQUAL(w[i].rc, 0);
    }
    int64_t all[400], allc[400];
    memcpy(all, w[0].seqs, sizeof(w[0].seqs));
    memcpy(all + 200, w[1].seqs, sizeof(w[1].seqs));
    memcpy(allc, w[0].counters, sizeof(w[0].counters));
    memcpy(allc + 200, w[1].counters, sizeof(w[1].counters));
    qsort(all, 400, sizeof(all[0]), cmp64);
    qsort(allc, 400, sizeof(allc[0]), cmp64);
    int dup = 0;
    for (int i = 0; i < 400; i++) { /* exactly 1..400: none lost, none given twice */
        dup += all[i] != i + 1 || allc[i] != i + 1;
    }
    CU_ASSERT_EQUAL(dup, 0);
    for (int t = 0; t < 2; t++) { /* each thread saw its own values increase */
        for (int i = 1; i < 200; i++) {
            CU_ASSERT_TRUE_FATAL(w[t].seqs[i] > w[t].seqs[i - 1]);
        }
    }
    /* a 50-use token consumed 80 times from two threads: exactly 50 succeed; 40 snapshots
     * stored from two threads get the group's versions 2..41, each once */
    struct ef_store_prov_token tok = {.sha256 = "tok50", .group = "g", .uses_left = 50};
    CU_ASSERT_EQUAL(ef_store_prov_token_create(a, &tok), 0);
    struct worker2 w2[2] = {{.url = url, .id = 0}, {.url = url, .id = 1}};
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, worker2_run, &w2[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        CU_ASSERT_EQUAL(w2[i].rc, 0);
    }
    CU_ASSERT_EQUAL(w2[0].used + w2[1].used, 50);
    CU_ASSERT_EQUAL(w2[0].refused + w2[1].refused, 30);
    int64_t vers[40];
    memcpy(vers, w2[0].versions, sizeof(w2[0].versions));
    memcpy(vers + 20, w2[1].versions, sizeof(w2[1].versions));
    qsort(vers, 40, sizeof(vers[0]), cmp64);
    int badv = 0;
    for (int i = 0; i < 40; i++) {
        badv += vers[i] != i + 2; /* version 1 is snapshot "s" above */
    }
    CU_ASSERT_EQUAL(badv, 0);

    /* the rollout counter is shared with rollout ids */
    char *id = NULL;
    struct ef_store_rollout r = {.group = "g", .snapshot = "s", .created = 1};
    CU_ASSERT_EQUAL(ef_store_rollout_create(b, &r, NULL, 0, &id), 0);
    CU_ASSERT_STRING_EQUAL(id, "r-401");
    free(id);

    /* leader lock: one handle on PostgreSQL, everyone on SQLite */
    bool la = false, lb = false;
    CU_ASSERT_EQUAL(ef_store_leader_try(a, &la), 0);
    CU_ASSERT_EQUAL(ef_store_leader_try(b, &lb), 0);
    CU_ASSERT_TRUE(la);
    CU_ASSERT_EQUAL(lb, backend == SQLITE);
    CU_ASSERT_EQUAL(ef_store_leader_try(a, &la), 0); /* kept */
    CU_ASSERT_TRUE(la);
    ef_store_close(a); /* the leader goes away: the other takes over */
    for (int i = 0; i < 50 && !lb; i++) {
        CU_ASSERT_EQUAL(ef_store_leader_try(b, &lb), 0);
        if (!lb) {
            usleep(20000);
        }
    }
    CU_ASSERT_TRUE(lb);
    if (backend == PG) {
        struct ef_store *c = open_url(url);
        bool lc = true;
        CU_ASSERT_EQUAL(ef_store_leader_try(c, &lc), 0);
        CU_ASSERT_FALSE(lc);
        /* The server drops every connection to this database, the leader's with its lock. */
        struct db *adm = NULL;
        char err[256];
        CU_ASSERT_EQUAL_FATAL(db_open(url, &adm, err, sizeof(err)), 0);
        CU_ASSERT_EQUAL(db_exec(adm,
                                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                                "WHERE datname = current_database() AND pid <> pg_backend_pid()",
                                NULL, 0, NULL),
                        0);
        db_close(adm);
        /* The first call on the dead connection fails with the reason; the next reconnects. */
        int64_t v = 0;
        CU_ASSERT_EQUAL(ef_store_counter_next(b, "x", &v), EF_EIO);
        CU_ASSERT_PTR_NOT_NULL(strstr(ef_store_errmsg(b), "postgresql"));
        CU_ASSERT_EQUAL(ef_store_counter_next(b, "x", &v), 0);
        CU_ASSERT_EQUAL(v, 1);
        /* The lock went with the old connection: another replica takes it, and the old
         * leader, although its handle works again, knows it is no longer the leader. */
        CU_ASSERT_EQUAL(ef_store_leader_try(c, &lc), 0);
        CU_ASSERT_TRUE(lc);
        CU_ASSERT_EQUAL(ef_store_leader_try(b, &lb), 0);
        CU_ASSERT_FALSE(lb);
        ef_store_close(c);
        CU_ASSERT_EQUAL(ef_store_leader_try(b, &lb), 0);
        for (int i = 0; i < 50 && !lb; i++) {
            usleep(20000);
            CU_ASSERT_EQUAL(ef_store_leader_try(b, &lb), 0);
        }
        CU_ASSERT_TRUE(lb);
    }
    ef_store_close(b);
}

static void test_batch_10000(void)
{
    enum { NDEV = 10000 };
    char url[300];
    struct ef_store *st = open_fresh(url, sizeof(url));
    make_group(st, "g");
    /* Enrol 10,000 devices through a raw transaction to keep the test short. */
    struct db *db = NULL;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(db_open(url, &db, err, sizeof(err)), 0);
    double t0 = now_s();
    CU_ASSERT_EQUAL_FATAL(db_begin(db), 0);
    for (int i = 0; i < NDEV; i++) {
        char id[32], key[32];
        snprintf(id, sizeof(id), "dev-%05d", i);
        snprintf(key, sizeof(key), "key-%05d", i);
        struct db_param p[] = {db_text(id), db_text(key)};
        int rc = db_exec(db,
                         "INSERT INTO devices (id, name, grp, labels, env, public_key, enrolled) "
                         "VALUES ($1, $1, 'g', '{}', '{}', $2, 1)",
                         p, 2, NULL);
        if (rc != 0) {
            fprintf(stderr, "\n%s\n", db_errmsg(db));
            CU_FAIL_FATAL("insert");
        }
    }
    CU_ASSERT_EQUAL_FATAL(db_commit(db), 0);
    double t1 = now_s();
    db_close(db);

    static struct ef_store_live rows[NDEV + 1];
    static char ids[NDEV][16];
    struct ef_val *result = J("{\"seq\":1,\"status\":\"applied\"}");
    for (int i = 0; i < NDEV; i++) {
        snprintf(ids[i], sizeof(ids[i]), "dev-%05d", i);
        rows[i] = (struct ef_store_live){.id = ids[i],
                                         .online = i % 2 == 0,
                                         .snapshot = "snap",
                                         .health = "healthy",
                                         .last_seen = 1795000000000LL + i,
                                         .cpu = i / 100.0,
                                         .rss = 4000000 + i,
                                         .msgs = i * 10,
                                         .msg_rate = 1.5,
                                         .errors = i % 3,
                                         .result = i == 7 ? result : NULL};
    }
    rows[NDEV] = (struct ef_store_live){.id = "not-enrolled", .online = true};
    /* The manager flushes over and over: time three flushes of all 10,000. */
    double t[4];
    t[0] = now_s();
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < NDEV; i++) {
            rows[i].last_seen += k;
        }
        CU_ASSERT_EQUAL(ef_store_devices_update_live(st, rows, NDEV + 1), 0);
        t[k + 1] = now_s();
    }
    printf("\n    %s: insert 10,000 devices %.3f s; update_live of 10,000 devices (one "
           "transaction each) %.3f s, %.3f s, %.3f s\n",
           backend == PG ? "postgresql" : "sqlite", t1 - t0, t[1] - t[0], t[2] - t[1], t[3] - t[2]);

    struct ef_store_device d;
    CU_ASSERT_EQUAL_FATAL(ef_store_device_get(st, "dev-09999", &d), 0);
    CU_ASSERT_FALSE(d.online);
    CU_ASSERT_EQUAL(d.last_seen, 1795000000000LL + 9999 + 3);
    CU_ASSERT_DOUBLE_EQUAL(d.cpu, 99.99, 1e-9);
    CU_ASSERT_EQUAL(d.rss, 4009999);
    CU_ASSERT_EQUAL(d.msgs, 99990);
    CU_ASSERT_EQUAL(d.errors, 0);
    CU_ASSERT_PTR_NULL(d.result);
    ef_store_device_clear(&d);
    CU_ASSERT_EQUAL_FATAL(ef_store_device_get(st, "dev-00007", &d), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d.result);
    CU_ASSERT(json_is(d.result, "{\"seq\":1,\"status\":\"applied\"}"));
    ef_store_device_clear(&d);
    CU_ASSERT_EQUAL(ef_store_device_get(st, "not-enrolled", &d), EF_ENOENT);
    struct ef_store_device *list;
    size_t n;
    CU_ASSERT_EQUAL_FATAL(ef_store_devices_list(st, "g", &list, &n), 0);
    CU_ASSERT_EQUAL(n, NDEV);
    int online = 0;
    for (size_t i = 0; i < n; i++) {
        online += list[i].online;
    }
    CU_ASSERT_EQUAL(online, NDEV / 2);
    ef_store_device_list_free(list, n);
    /* a row without an id writes nothing */
    rows[3].id = NULL;
    rows[2].cpu = 55;
    CU_ASSERT_EQUAL(ef_store_devices_update_live(st, rows, 5), EF_EINVAL);
    CU_ASSERT_EQUAL_FATAL(ef_store_device_get(st, "dev-00002", &d), 0);
    CU_ASSERT_DOUBLE_EQUAL(d.cpu, 0.02, 1e-9);
    ef_store_device_clear(&d);
    ef_val_unref(result);
    ef_store_close(st);
}

/* ---------------------------------------------------------------- registration */

static int add_tests(CU_pSuite s)
{
    return !s || !CU_add_test(s, "db layer: parameters, errors, transactions", test_db_layer) ||
           !CU_add_test(s, "open, schema version, bad urls", test_open_and_schema) ||
           !CU_add_test(s, "groups and authoring", test_groups) ||
           !CU_add_test(s, "devices, seq, live fields", test_devices) ||
           !CU_add_test(s, "provisioning and API tokens, counters", test_tokens) ||
           !CU_add_test(s, "blobs and snapshots", test_blobs_and_snapshots) ||
           !CU_add_test(s, "rollouts, progress, audit", test_rollouts_and_audit) ||
           !CU_add_test(s, "two handles, two threads, leader lock, lost connection",
                        test_two_handles) ||
           !CU_add_test(s, "batch update of 10,000 devices", test_batch_10000);
}

int init_fleet_store_tests(void)
{
    if (add_tests(CU_add_suite("fleet_store_sqlite", suite_init_sqlite, suite_clean_sqlite)) ||
        add_tests(CU_add_suite("fleet_store_postgresql", suite_init_pg, suite_clean_pg))) {
        return -1;
    }
    return 0;
}
