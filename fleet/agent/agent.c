/*
 * agent.c - `edgeflow agent`: runs the last applied snapshot from its state
 * directory, enrols once over HTTP, then follows the manager over MQTT as
 * docs/fleet-protocol.md says: verifies signed desired documents, fetches
 * only missing files (size and sha256 checked), applies a snapshot with a
 * "nodes" deploy, watches it for a health window and rolls back to the last
 * healthy snapshot by itself; publishes state (retained, also its last
 * will), heartbeats and command responses.
 *
 * State directory:
 *   device.key        ed25519 key pair (0600), made at the first start
 *   enrolment.json    the manager's enrolment answer with the device token (0600)
 *   seq.json          the last accepted desired and cmd seq (replay guard)
 *   current.json      verified envelope of the last healthy snapshot
 *   previous.json     the one before it
 *   files/<sha256>    content-addressed snapshot files
 *   snapshots/<id>/   a snapshot's files under their paths (hard links into files/)
 * Every file is written atomically (tmp, fsync, rename).
 *
 * Everything runs on the runtime's loop thread; the MQTT client and the
 * HTTP client hand their results to it.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <MQTTAsync.h>
#include <sodium.h>

#include "common/fleet_mqtt.h"
#include "common/fleet_proto.h"
#include "runtime.h"
#include "server.h"
#include "storage.h"

#include "agent.h"
#include "agent_http.h"

#define LOG_RING 1000
#define LOG_LINE_MAX 400
#define MAX_FETCHES 4
#define PATH_LEN 4096

static const char *const agent_usage =
    "usage: edgeflow agent --state-dir DIR [--manager URL --token TOKEN] [--name NAME]\n"
    "                      [--manager-key B64] [--broker URL] [--port N] [--settings FILE]\n"
    "                      [--plugin-dir DIR]... [--log-level LEVEL]\n";

struct agent_opts {
    const char *state_dir, *manager, *token, *name, *manager_key, *broker, *settings;
    const char *plugin_dirs[16];
    int nplugin_dirs;
    int port;
};

struct agent;

/* Each download slot remembers its agent and file. */
struct fetch_ctx {
    struct agent *a;
    int idx;
    size_t file;
};

/* A desired document being fetched, applied or watched. */
struct op {
    char *envelope; /* the verified envelope as received (becomes current.json) */
    size_t envelope_len;
    struct ef_val *doc;
    struct fleet_desired d;
    size_t next_file; /* next index of d.files to look at */
    size_t running;   /* downloads under way */
    struct agent_req *reqs[MAX_FETCHES];
    struct fetch_ctx fc[MAX_FETCHES];
    bool in_window;
    uint64_t window_end;
};

struct agent {
    struct agent_opts o;
    char dir[3072]; /* the state dir, absolute */
    struct ef_runtime *rt;
    struct ef_server *srv;
    struct fleet_key key;
    uint8_t manager_pk[FLEET_PK_BYTES];
    bool enrolled;
    /* enrolment answer (strings owned by enrol_doc) */
    struct ef_val *enrol_doc;
    const char *device_id, *broker_url, *client_id, *username, *password, *prefix, *files_url;
    struct agent_http *http;
    struct agent_req *enrol_req;
    unsigned enrol_attempt;
    /* MQTT */
    struct fleet_mqtt *mq;
    char t_desired[FLEET_MAX_TOPIC], t_state[FLEET_MAX_TOPIC], t_hb[FLEET_MAX_TOPIC],
        t_cmd[FLEET_MAX_TOPIC], t_resp[FLEET_MAX_TOPIC];
    uint64_t dropped_msgs;
    /* what runs */
    bool running;
    char running_id[65];
    struct ef_val *running_flows; /* deployed config (with credentials) */
    struct ef_val *running_env;   /* the env applied (object of strings) */
    const char *health;
    uint64_t err_base; /* rt->node_errors when the running snapshot started */
    double health_seconds;
    uint64_t max_errors;
    uint32_t heartbeat;
    /* the newest desired document's outcome */
    bool has_result;
    uint64_t res_seq;
    char res_snapshot[65];
    const char *res_status;
    char res_reason[512];
    uint64_t last_seq, last_cmd_seq;
    struct op *op;
    uint8_t *pending; /* a desired message that came during a health window */
    size_t pending_len;
    bool boot_window; /* watching the snapshot started from disk */
    uint64_t boot_window_end;
    /* timers */
    uv_timer_t hb_timer, health_timer, enrol_timer, pending_timer;
    bool timers_init;
    /* metrics */
    uint64_t start_ms, hb_prev_ms;
    double cpu_prev_s;
    /* log ring */
    uv_mutex_t log_mu;
    char *ring[LOG_RING];
    size_t ring_head, ring_n;
    int exit_code;
    bool revoked;
};

/* ======================================================================
 * Small helpers
 * ====================================================================== */

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)(ts.tv_nsec / 1000000);
}

static uint64_t mono_ms(void)
{
    return uv_hrtime() / 1000000u;
}

static void pathf(char *out, const struct agent *a, const char *fmt, const char *arg)
{
    char rel[1000];
    snprintf(rel, sizeof(rel), fmt, arg ? arg : "");
    snprintf(out, PATH_LEN, "%s/%s", a->dir, rel);
}

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[PATH_LEN];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, mode) != 0 && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    return mkdir(tmp, mode) != 0 && errno != EEXIST ? -1 : 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The sha256 of a file in hex; false when it cannot be read. */
static bool file_sha256(const char *path, char out[65], uint64_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return false;
    }
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    unsigned char buf[65536];
    size_t n;
    uint64_t total = 0;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        crypto_hash_sha256_update(&st, buf, n);
        total += n;
    }
    bool ok = !ferror(f);
    fclose(f);
    unsigned char md[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&st, md);
    sodium_bin2hex(out, 65, md, sizeof(md));
    *size = total;
    return ok;
}

/* ======================================================================
 * Log ring (for the `logs` command)
 * ====================================================================== */

static const char *const level_names[] = {"fatal", "error", "warn", "info", "debug", "trace"};

static void log_sink(void *ud, int level, const char *line)
{
    struct agent *a = ud;
    char buf[LOG_LINE_MAX + 64];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%d %b %H:%M:%S", &tm);
    snprintf(buf, sizeof(buf), "%s - [%s] %.*s", stamp,
             level >= 0 && level < 6 ? level_names[level] : "?", LOG_LINE_MAX, line);
    char *copy = strdup(buf);
    if (!copy) {
        return;
    }
    uv_mutex_lock(&a->log_mu);
    size_t slot = (a->ring_head + a->ring_n) % LOG_RING;
    if (a->ring_n == LOG_RING) {
        free(a->ring[a->ring_head]);
        a->ring_head = (a->ring_head + 1) % LOG_RING;
        slot = (a->ring_head + a->ring_n - 1) % LOG_RING;
    } else {
        a->ring_n++;
    }
    a->ring[slot] = copy;
    uv_mutex_unlock(&a->log_mu);
}

/* The last n lines, oldest first, as an array value. */
static struct ef_val *log_lines(struct agent *a, size_t n)
{
    struct ef_val *arr = ef_val_arr();
    uv_mutex_lock(&a->log_mu);
    size_t take = n < a->ring_n ? n : a->ring_n;
    for (size_t i = a->ring_n - take; arr && i < a->ring_n; i++) {
        ef_val_arr_push_take(arr, ef_val_str(a->ring[(a->ring_head + i) % LOG_RING]));
    }
    uv_mutex_unlock(&a->log_mu);
    return arr;
}

/* ======================================================================
 * Persistent small state
 * ====================================================================== */

/* Keeps the last accepted seqs and the newest result (seq.json), so a restart neither
 * applies an old document again nor forgets what it reported. */
static void save_seq(struct agent *a)
{
    char path[PATH_LEN], err[256];
    pathf(path, a, "seq.json", NULL);
    struct ef_val *o = ef_val_obj();
    if (!o) {
        return;
    }
    ef_val_obj_set_take(o, "desired", ef_val_num((double)a->last_seq));
    ef_val_obj_set_take(o, "cmd", ef_val_num((double)a->last_cmd_seq));
    if (a->has_result) {
        struct ef_val *r = ef_val_obj();
        if (r) {
            ef_val_obj_set_take(r, "seq", ef_val_num((double)a->res_seq));
            ef_val_obj_set_take(r, "snapshot", ef_val_str(a->res_snapshot));
            ef_val_obj_set_take(r, "status", ef_val_str(a->res_status));
            ef_val_obj_set_take(r, "reason", ef_val_str(a->res_reason));
            ef_val_obj_set_take(o, "result", r);
        }
    }
    size_t len = 0;
    char *text = ef_json_print(o, 0, &len);
    ef_val_unref(o);
    if (text && fleet_write_atomic(path, text, len, 0600, err, sizeof(err)) != 0) {
        ef_log_error("agent: %s", err);
    }
    free(text);
}

static const char *const statuses[] = {"fetching", "applying", "applied", "rejected", "failed"};

static void load_seq(struct agent *a)
{
    char path[PATH_LEN];
    pathf(path, a, "seq.json", NULL);
    size_t len = 0;
    char *text = storage__read_file(path, 65536, &len);
    struct ef_val *v = text ? ef_json_parse(text, len, NULL, 0) : NULL;
    free(text);
    a->last_seq = (uint64_t)ef_val_num_get(ef_val_obj_get(v, "desired"));
    a->last_cmd_seq = (uint64_t)ef_val_num_get(ef_val_obj_get(v, "cmd"));
    const struct ef_val *r = ef_val_obj_get(v, "result");
    const char *st = ef_val_str_get(ef_val_obj_get(r, "status"));
    for (size_t i = 0; ef_val_type(r) == EF_OBJ && i < 5; i++) {
        if (!strcmp(st, statuses[i])) {
            a->has_result = true;
            a->res_status = statuses[i];
            a->res_seq = (uint64_t)ef_val_num_get(ef_val_obj_get(r, "seq"));
            snprintf(a->res_snapshot, sizeof(a->res_snapshot), "%s",
                     ef_val_str_get(ef_val_obj_get(r, "snapshot")));
            snprintf(a->res_reason, sizeof(a->res_reason), "%s",
                     ef_val_str_get(ef_val_obj_get(r, "reason")));
        }
    }
    ef_val_unref(v);
}

/* ======================================================================
 * State, heartbeats, responses
 * ====================================================================== */

static void fill_state(const struct agent *a, struct fleet_state *s, bool online)
{
    memset(s, 0, sizeof(*s));
    s->device = a->device_id;
    s->online = online;
    s->ts = wall_ms();
    s->version = EF_VERSION;
    s->snapshot = a->running ? a->running_id : NULL;
    s->health = a->running ? a->health : "none";
    s->has_result = a->has_result;
    s->result_seq = a->res_seq;
    s->result_snapshot = a->res_snapshot[0] ? a->res_snapshot : NULL;
    s->result_status = a->res_status;
    s->result_reason = a->res_reason[0] ? a->res_reason : NULL;
}

/* Publishes the state (retained) and makes the will its offline twin. */
static void publish_state(struct agent *a)
{
    if (!a->mq) {
        return;
    }
    struct fleet_state s;
    size_t len = 0;
    fill_state(a, &s, false);
    char *will = fleet_state_json(&s, &len);
    if (will) {
        fleet_mqtt_set_will(a->mq, will, len);
        free(will);
    }
    if (!fleet_mqtt_connected(a->mq)) {
        return; /* sent fresh at the next connect */
    }
    fill_state(a, &s, true);
    char *text = fleet_state_json(&s, &len);
    if (text) {
        fleet_mqtt_publish(a->mq, a->t_state, text, len, 1, true);
        free(text);
    }
}

static void set_result(struct agent *a, uint64_t seq, const char *snapshot, const char *status,
                       const char *reason)
{
    a->has_result = true;
    a->res_seq = seq;
    snprintf(a->res_snapshot, sizeof(a->res_snapshot), "%s",
             snapshot && fleet_sha256_valid(snapshot) ? snapshot : "");
    a->res_status = status;
    snprintf(a->res_reason, sizeof(a->res_reason), "%s", reason ? reason : "");
    if (!strcmp(status, "rejected") || !strcmp(status, "failed")) {
        ef_log_warn("agent: desired seq %llu %s: %s", (unsigned long long)seq, status,
                    reason ? reason : "");
    } else {
        ef_log_info("agent: desired seq %llu %s%s%s", (unsigned long long)seq, status,
                    reason ? ": " : "", reason ? reason : "");
    }
    publish_state(a);
}

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &res) != 2) {
            res = 0;
        }
        fclose(f);
    }
    return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static uint64_t errors_now(const struct agent *a)
{
    return a->running ? a->rt->node_errors - a->err_base : 0;
}

static void on_hb(uv_timer_t *t)
{
    struct agent *a = t->data;
    uint64_t now = mono_ms();
    double cpu = cpu_seconds();
    double dt = (double)(now - a->hb_prev_ms) / 1000.0;
    double pct = dt > 0 ? (cpu - a->cpu_prev_s) / dt * 100.0 : 0;
    a->hb_prev_ms = now;
    a->cpu_prev_s = cpu;
    /* past the health window, too many errors make the snapshot unhealthy */
    if (a->running && !a->op && !a->boot_window && !strcmp(a->health, "healthy") &&
        errors_now(a) > a->max_errors) {
        a->health = "unhealthy";
        publish_state(a);
    }
    if (!a->mq || !fleet_mqtt_connected(a->mq)) {
        return;
    }
    struct fleet_hb h = {.device = a->device_id,
                         .ts = wall_ms(),
                         .uptime = (now - a->start_ms) / 1000,
                         .snapshot = a->running ? a->running_id : NULL,
                         .health = a->running ? a->health : "none",
                         .cpu = pct < 0 ? 0 : pct,
                         .rss = rss_bytes(),
                         .msgs = a->rt->loop.delivered,
                         .errors = errors_now(a)};
    size_t len = 0;
    char *text = fleet_hb_json(&h, &len);
    if (text) {
        fleet_mqtt_publish(a->mq, a->t_hb, text, len, 0, false);
        free(text);
    }
}

static void restart_hb(struct agent *a)
{
    if (a->timers_init) {
        uint64_t every = (uint64_t)a->heartbeat * 1000u;
        uv_timer_start(&a->hb_timer, on_hb, every, every);
    }
}

static void send_resp(struct agent *a, const char *id, bool ok, struct ef_val *result,
                      const char *error)
{
    struct fleet_resp r = {
        .device = a->device_id, .id = id, .ok = ok, .result = result, .error = error};
    size_t len = 0;
    char *text = fleet_resp_json(&r, &len);
    if (text && a->mq) {
        fleet_mqtt_publish(a->mq, a->t_resp, text, len, 1, false);
    }
    free(text);
}

/* ======================================================================
 * Activating a snapshot
 * ====================================================================== */

/* Makes snapshots/<id>/ from files/ (hard links, copies where links fail). */
static int build_snapshot_dir(struct agent *a, const struct fleet_desired *d, char *dir, char *err,
                              size_t errlen)
{
    pathf(dir, a, "snapshots/%s", d->snapshot_id);
    if (exists(dir)) {
        return 0;
    }
    char tmp[PATH_LEN + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", dir);
    rm_rf(tmp);
    for (size_t i = 0; i < d->nfiles; i++) {
        char src[PATH_LEN], dst[PATH_LEN * 2];
        pathf(src, a, "files/%s", d->files[i].sha256);
        snprintf(dst, sizeof(dst), "%s/%s", tmp, d->files[i].path);
        char *slash = strrchr(dst, '/');
        *slash = '\0';
        if (mkdir_p(dst, 0755) != 0) {
            snprintf(err, errlen, "cannot create %.300s: %s", dst, strerror(errno));
            rm_rf(tmp);
            return EF_EIO;
        }
        *slash = '/';
        if (link(src, dst) != 0) {
            size_t len = 0;
            char *data = storage__read_file(src, (size_t)1 << 40, &len);
            char e2[256];
            int rc = data ? fleet_write_atomic(dst, data, len, 0644, e2, sizeof(e2)) : EF_EIO;
            free(data);
            if (rc != 0) {
                snprintf(err, errlen, "cannot place %s in the snapshot", d->files[i].path);
                rm_rf(tmp);
                return EF_EIO;
            }
        }
    }
    if (rename(tmp, dir) != 0) {
        snprintf(err, errlen, "cannot rename %.300s: %s", tmp, strerror(errno));
        rm_rf(tmp);
        return EF_EIO;
    }
    return 0;
}

/* Sets the process environment to env, removing what the old one had. */
static void apply_env(const struct ef_val *old, const struct ef_val *env)
{
    for (size_t i = 0; i < ef_val_obj_len(old); i++) {
        size_t kl;
        const char *k = ef_val_obj_key_at(old, i, &kl);
        if (!ef_val_obj_getn(env, k, kl)) {
            char name[256];
            snprintf(name, sizeof(name), "%.*s", (int)kl, k);
            unsetenv(name);
        }
    }
    for (size_t i = 0; i < ef_val_obj_len(env); i++) {
        size_t kl;
        const char *k = ef_val_obj_key_at(env, i, &kl);
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)kl, k);
        setenv(name, ef_val_str_get(ef_val_obj_val_at(env, i)), 1);
    }
}

/* Reads the snapshot's flows with their credentials (decrypted with the sealed secret). */
static struct ef_val *load_flows(struct agent *a, const struct fleet_desired *d, const char *dir,
                                 char *err, size_t errlen)
{
    char flows_path[PATH_LEN + 16];
    snprintf(flows_path, sizeof(flows_path), "%s/flows.json", dir);
    bool unreadable = false;
    struct ef_val *flows = runtime__read_flows(flows_path, &unreadable, err, errlen);
    if (!flows) {
        return NULL;
    }
    struct ef_settings *s = a->rt->settings;
    char *secret = NULL;
    if (d->credential_secret) {
        size_t sl = 0;
        char e2[256];
        if (fleet_unseal(&a->key, d->credential_secret, &secret, &sl, e2, sizeof(e2)) != 0) {
            snprintf(err, errlen, "credentialSecret: %s", e2);
            ef_val_unref(flows);
            return NULL;
        }
        ef_val_obj_set_take(s->root, "credentialSecret", ef_val_str(secret));
    }
    struct ef_val *withc = server__load_credentials(flows, flows_path, s, err, errlen);
    if (secret) {
        ef_val_obj_del(s->root, "credentialSecret", strlen("credentialSecret"));
        sodium_memzero(secret, strlen(secret));
        free(secret);
    }
    ef_val_unref(flows);
    return withc;
}

/*
 * Makes d's snapshot the running one: snapshot dir, flows and credentials,
 * env, working directory, then a deploy of `type` (a changed env makes it
 * full, since ${VAR} values are taken at start). 0, or EF_E* with err.
 */
static int activate(struct agent *a, const struct fleet_desired *d, enum ef_deploy_type type,
                    char *err, size_t errlen)
{
    char dir[PATH_LEN];
    int rc = build_snapshot_dir(a, d, dir, err, errlen);
    if (rc != 0) {
        return rc;
    }
    struct ef_val *flows = load_flows(a, d, dir, err, errlen);
    if (!flows) {
        return EF_EINVAL;
    }
    bool env_changed = !a->running_env || !ef_val_equal(a->running_env, d->env);
    apply_env(a->running_env, d->env);
    setenv("EDGEFLOW_SNAPSHOT_DIR", dir, 1);
    if (chdir(dir) != 0) {
        ef_log_warn("agent: cannot change to %s: %s", dir, strerror(errno));
    }
    if (env_changed && type == EF_DEPLOY_NODES && a->running_env) {
        type = EF_DEPLOY_FULL;
    }
    struct ef_problems probs = {0};
    rc = runtime__deploy_type(a->rt, flows, type, &probs);
    if (rc != 0) {
        snprintf(err, errlen, "deploy refused: %s%s", probs.n ? probs.items[0] : "invalid flows",
                 probs.n > 1 ? " (and more)" : "");
        problems__free(&probs);
        ef_val_unref(flows);
        /* the env now is d's; the caller's rollback sets it again */
        ef_val_unref(a->running_env);
        a->running_env = ef_val_ref((struct ef_val *)d->env);
        return EF_EINVAL;
    }
    problems__free(&probs);
    ef_val_unref(a->running_flows);
    a->running_flows = flows;
    ef_val_unref(a->running_env);
    a->running_env = ef_val_ref((struct ef_val *)d->env);
    a->running = true;
    snprintf(a->running_id, sizeof(a->running_id), "%s", d->snapshot_id);
    a->err_base = a->rt->node_errors;
    a->health_seconds = d->health_seconds;
    a->max_errors = d->health_max_errors;
    if (d->heartbeat != a->heartbeat) {
        a->heartbeat = d->heartbeat;
        restart_hb(a);
    }
    return 0;
}

/* Stops every flow: nothing runs. */
static void deactivate(struct agent *a)
{
    struct ef_val *empty = ef_val_arr();
    struct ef_problems probs = {0};
    if (empty) {
        runtime__deploy_type(a->rt, empty, EF_DEPLOY_FULL, &probs);
    }
    problems__free(&probs);
    ef_val_unref(empty);
    ef_val_unref(a->running_flows);
    a->running_flows = NULL;
    a->running = false;
    a->running_id[0] = '\0';
    a->health = "none";
}

/*
 * Reads and verifies a stored envelope (current.json or previous.json).
 * Returns the parsed document (and fills d), or NULL.
 */
static struct ef_val *load_stored(struct agent *a, const char *name, struct fleet_desired *d,
                                  char **envelope, size_t *envelope_len, char *err, size_t errlen)
{
    char path[PATH_LEN];
    pathf(path, a, "%s", name);
    size_t len = 0;
    char *text = storage__read_file(path, FLEET_MAX_DESIRED, &len);
    if (!text) {
        snprintf(err, errlen, "no %s", name);
        return NULL;
    }
    size_t dl = 0;
    char e2[256];
    char *doc_text =
        fleet_envelope_open(a->manager_pk, text, len, FLEET_MAX_DESIRED, &dl, e2, sizeof(e2));
    const char *type = NULL;
    struct ef_val *doc =
        doc_text ? fleet_doc_parse(doc_text, dl, FLEET_MAX_DESIRED, &type, e2, sizeof(e2)) : NULL;
    free(doc_text);
    if (!doc || fleet_desired_read(doc, a->device_id, d, e2, sizeof(e2)) != 0) {
        snprintf(err, errlen, "%s: %s", name, e2);
        ef_val_unref(doc);
        free(text);
        return NULL;
    }
    if (envelope) {
        *envelope = text;
        *envelope_len = len;
    } else {
        free(text);
    }
    return doc;
}

/* Goes back to the last healthy snapshot (current.json), or stops everything. */
static void rollback(struct agent *a)
{
    char err[512];
    struct fleet_desired d;
    struct ef_val *doc = load_stored(a, "current.json", &d, NULL, NULL, err, sizeof(err));
    if (doc) {
        int rc = activate(a, &d, EF_DEPLOY_NODES, err, sizeof(err));
        fleet_desired_clear(&d);
        ef_val_unref(doc);
        if (rc == 0) {
            a->health = "healthy";
            ef_log_info("agent: rolled back to snapshot %.12s", a->running_id);
            return;
        }
        ef_log_error("agent: rollback failed: %s", err);
    }
    deactivate(a);
}

/* ======================================================================
 * Desired documents
 * ====================================================================== */

static void op_free(struct op *op)
{
    if (!op) {
        return;
    }
    for (int i = 0; i < MAX_FETCHES; i++) {
        agent_http_cancel(op->reqs[i]);
    }
    fleet_desired_clear(&op->d);
    ef_val_unref(op->doc);
    free(op->envelope);
    free(op);
}

static void on_pending(uv_timer_t *t);

/* Ends the document under way (if any) and keeps its seq. */
static void end_op(struct agent *a)
{
    if (!a->op) {
        return;
    }
    if (!a->boot_window) {
        uv_timer_stop(&a->health_timer);
    }
    op_free(a->op);
    a->op = NULL;
    save_seq(a);
    if (a->pending && a->timers_init && !a->revoked) {
        uv_timer_start(&a->pending_timer, on_pending, 0, 0); /* not from inside the caller */
    }
}

static void op_reject(struct agent *a, const char *reason)
{
    struct op *op = a->op;
    set_result(a, op->d.seq, op->d.snapshot_id, "rejected", reason);
    end_op(a);
}

static bool listed(char (*shas)[65], size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(shas[i], name)) {
            return true;
        }
    }
    return false;
}

/* Removes every entry of dir (files/ or snapshots/) whose name is not in keep. */
static void prune_dir(struct agent *a, const char *sub, char (*keep)[65], size_t n)
{
    char dir[PATH_LEN];
    pathf(dir, a, "%s", sub);
    DIR *dh = opendir(dir);
    struct dirent *de;
    while (dh && (de = readdir(dh))) {
        if (de->d_name[0] == '.' || listed(keep, n, de->d_name)) {
            continue;
        }
        char p[PATH_LEN * 2];
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        rm_rf(p);
    }
    if (dh) {
        closedir(dh);
    }
}

/*
 * Keeps what current.json and previous.json (the snapshots a rollback may
 * need) and the running snapshot use: their snapshot directories and files.
 */
static void prune_snapshots(struct agent *a)
{
    char(*keep)[65] = calloc(2 * FLEET_MAX_FILES + 3, sizeof(*keep));
    if (!keep) {
        return;
    }
    size_t nids = 0, nfiles = 0;
    char(*ids)[65] = keep;
    snprintf(ids[nids++], 65, "%s", a->running_id);
    const char *names[2] = {"current.json", "previous.json"};
    struct fleet_desired d[2];
    struct ef_val *doc[2];
    for (int i = 0; i < 2; i++) {
        char err[256];
        doc[i] = load_stored(a, names[i], &d[i], NULL, NULL, err, sizeof(err));
        if (doc[i]) {
            snprintf(ids[nids++], 65, "%s", d[i].snapshot_id);
        }
    }
    prune_dir(a, "snapshots", ids, nids);
    char(*files)[65] = keep + 3;
    for (int i = 0; i < 2; i++) {
        for (size_t f = 0; doc[i] && f < d[i].nfiles; f++) {
            snprintf(files[nfiles++], 65, "%s", d[i].files[f].sha256);
        }
    }
    if (doc[0]) { /* without current.json nothing is known well enough to delete files */
        prune_dir(a, "files", files, nfiles);
    }
    for (int i = 0; i < 2; i++) {
        if (doc[i]) {
            fleet_desired_clear(&d[i]);
            ef_val_unref(doc[i]);
        }
    }
    free(keep);
}

/* The window passed: the new snapshot becomes current. */
static void op_healthy(struct agent *a)
{
    struct op *op = a->op;
    char cur[PATH_LEN], prev[PATH_LEN], err[256];
    pathf(cur, a, "current.json", NULL);
    pathf(prev, a, "previous.json", NULL);
    size_t len = 0;
    char *old = storage__read_file(cur, FLEET_MAX_DESIRED, &len);
    if (old) {
        if (fleet_write_atomic(prev, old, len, 0600, err, sizeof(err)) != 0) {
            ef_log_error("agent: %s", err);
        }
        free(old);
    }
    if (fleet_write_atomic(cur, op->envelope, op->envelope_len, 0600, err, sizeof(err)) != 0) {
        ef_log_error("agent: %s", err);
    }
    a->health = "healthy";
    prune_snapshots(a); /* on disk before it is reported */
    set_result(a, op->d.seq, op->d.snapshot_id, "applied", NULL);
    end_op(a);
}

static void on_health(uv_timer_t *t)
{
    struct agent *a = t->data;
    uint64_t errors = errors_now(a);
    if (a->op && a->op->in_window) {
        struct op *op = a->op;
        if (errors > op->d.health_max_errors) {
            char reason[256];
            snprintf(reason, sizeof(reason),
                     "%llu node errors in the health window (at most %llu); rolled back",
                     (unsigned long long)errors, (unsigned long long)op->d.health_max_errors);
            rollback(a);
            set_result(a, op->d.seq, op->d.snapshot_id, "failed", reason);
            end_op(a);
        } else if (mono_ms() >= op->window_end) {
            op_healthy(a);
        }
        return;
    }
    if (a->boot_window) {
        if (errors > a->max_errors || mono_ms() >= a->boot_window_end) {
            a->boot_window = false;
            a->health = errors > a->max_errors ? "unhealthy" : "healthy";
            uv_timer_stop(&a->health_timer);
            publish_state(a);
        }
        return;
    }
    uv_timer_stop(&a->health_timer);
}

/* The op's snapshot runs: watch it for health.seconds (see on_health). */
static void start_window(struct agent *a)
{
    struct op *op = a->op;
    a->boot_window = false;
    op->in_window = true;
    op->window_end = mono_ms() + (uint64_t)(op->d.health_seconds * 1000.0);
    a->health = "starting";
    set_result(a, op->d.seq, op->d.snapshot_id, "applied", NULL);
    uv_timer_start(&a->health_timer, on_health, 100, 100);
}

/* Every file is in files/: deploy and watch. */
static void op_files_ready(struct agent *a)
{
    struct op *op = a->op;
    char err[512];
    set_result(a, op->d.seq, op->d.snapshot_id, "applying", NULL);
    if (activate(a, &op->d, EF_DEPLOY_NODES, err, sizeof(err)) != 0) {
        char reason[600];
        snprintf(reason, sizeof(reason), "%s; rolled back", err);
        rollback(a);
        set_result(a, op->d.seq, op->d.snapshot_id, "failed", reason);
        end_op(a);
        return;
    }
    start_window(a);
}

static bool have_file(struct agent *a, const struct fleet_file *f)
{
    char path[PATH_LEN], hex[65];
    uint64_t size = 0;
    pathf(path, a, "files/%s", f->sha256);
    if (!exists(path)) {
        return false;
    }
    if (!file_sha256(path, hex, &size) || size != f->size || strcmp(hex, f->sha256) != 0) {
        ef_log_warn("agent: stored file %.12s... is damaged; fetching it again", f->sha256);
        unlink(path);
        return false;
    }
    return true;
}

static void fetch_more(struct agent *a);

static void fetch_done(void *ud, const char *err)
{
    struct fetch_ctx *fc = ud;
    struct agent *a = fc->a;
    struct op *op = a->op;
    size_t file = fc->file;
    op->reqs[fc->idx] = NULL;
    op->running--;
    if (err) {
        char reason[512];
        snprintf(reason, sizeof(reason), "file %s: %s", op->d.files[file].path, err);
        op_reject(a, reason);
        return;
    }
    fetch_more(a);
}

/* Starts downloads of missing files up to MAX_FETCHES; when none is left, applies. */
static void fetch_more(struct agent *a)
{
    struct op *op = a->op;
    const char *base = op->d.files_url ? op->d.files_url : a->files_url;
    while (op->running < MAX_FETCHES && op->next_file < op->d.nfiles) {
        const struct fleet_file *f = &op->d.files[op->next_file];
        size_t idx = op->next_file++;
        bool dup = false;
        for (size_t j = 0; j < idx; j++) {
            dup = dup || !strcmp(op->d.files[j].sha256, f->sha256);
        }
        if (dup || have_file(a, f)) {
            continue;
        }
        if (!base || !*base) {
            op_reject(a, "files are missing and no filesUrl is known");
            return;
        }
        if (!a->http) {
            char err[256];
            a->http = agent_http_new(ef_loop_uv(&a->rt->loop), err, sizeof(err));
            if (!a->http) {
                op_reject(a, err);
                return;
            }
        }
        int slot = 0;
        while (op->reqs[slot]) {
            slot++;
        }
        char url[4096], path[PATH_LEN];
        snprintf(url, sizeof(url), "%s%s", base, f->sha256);
        pathf(path, a, "files/%s", f->sha256);
        struct fetch_ctx *fc = &op->fc[slot];
        fc->a = a;
        fc->idx = slot;
        fc->file = idx;
        op->reqs[slot] = agent_http_fetch(a->http, url, a->password, path, f->size, f->sha256,
                                          600000, fetch_done, fc);
        if (!op->reqs[slot]) {
            op_reject(a, "cannot start a download");
            return;
        }
        op->running++;
        ef_log_debug("agent: fetching %s (%s)", f->path, url);
    }
    if (op->running == 0 && op->next_file == op->d.nfiles) {
        op_files_ready(a);
    }
}

/* Applies the same snapshot's new env and settings. A changed env restarts the flows and
 * goes through a health window like a new snapshot; so does a snapshot still in its window. */
static void op_same_snapshot(struct agent *a)
{
    struct op *op = a->op;
    char err[512], cur[PATH_LEN];
    if (!ef_val_equal(a->running_env, op->d.env)) {
        if (activate(a, &op->d, EF_DEPLOY_FULL, err, sizeof(err)) != 0) {
            char reason[600];
            snprintf(reason, sizeof(reason), "%s; rolled back", err);
            rollback(a);
            set_result(a, op->d.seq, op->d.snapshot_id, "failed", reason);
            end_op(a);
            return;
        }
        a->health = "starting";
    }
    a->health_seconds = op->d.health_seconds;
    a->max_errors = op->d.health_max_errors;
    if (op->d.heartbeat != a->heartbeat) {
        a->heartbeat = op->d.heartbeat;
        restart_hb(a);
    }
    if (!strcmp(a->health, "starting")) {
        start_window(a);
        return;
    }
    pathf(cur, a, "current.json", NULL);
    if (fleet_write_atomic(cur, op->envelope, op->envelope_len, 0600, err, sizeof(err)) != 0) {
        ef_log_error("agent: %s", err);
    }
    set_result(a, op->d.seq, op->d.snapshot_id, "applied", NULL);
    end_op(a);
}

static void handle_revoked(struct agent *a)
{
    ef_log_warn("agent: this device was revoked by the manager; removing its token and snapshots");
    end_op(a);
    deactivate(a);
    char p[PATH_LEN];
    const char *names[] = {"enrolment.json", "current.json", "previous.json",
                           "seq.json",       "files",        "snapshots"};
    if (chdir(a->dir) != 0) {
        ef_log_warn("agent: cannot change to %s", a->dir);
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        pathf(p, a, "%s", names[i]);
        rm_rf(p);
    }
    a->has_result = false;
    a->revoked = true;
    if (a->mq && fleet_mqtt_connected(a->mq)) {
        struct fleet_state s;
        size_t len = 0;
        fill_state(a, &s, false);
        char *text = fleet_state_json(&s, &len);
        if (text) {
            fleet_mqtt_publish(a->mq, a->t_state, text, len, 1, true);
            free(text);
        }
    }
    fleet_mqtt_destroy(a->mq, 2000);
    a->mq = NULL;
    a->exit_code = 3;
    runtime__stop(a->rt);
}

/* The seq of a verified document even when the rest is not valid (0 if none). */
static uint64_t doc_seq(const struct ef_val *doc)
{
    const struct ef_val *s = ef_val_obj_get(doc, "seq");
    double v = ef_val_num_get(s);
    return ef_val_type(s) == EF_NUM && v >= 1 && v <= FLEET_MAX_SEQ && v == (double)(uint64_t)v
               ? (uint64_t)v
               : 0;
}

static void on_desired(struct agent *a, const uint8_t *payload, size_t len)
{
    char err[256];
    size_t dl = 0;
    if (len == 0) {
        return; /* a cleared retained message */
    }
    if (a->op && a->op->in_window) {
        /* the snapshot under watch gets its verdict first; the newest message waits */
        uint8_t *copy = malloc(len);
        if (copy) {
            memcpy(copy, payload, len);
            free(a->pending);
            a->pending = copy;
            a->pending_len = len;
        }
        return;
    }
    char *text = fleet_envelope_open(a->manager_pk, (const char *)payload, len, FLEET_MAX_DESIRED,
                                     &dl, err, sizeof(err));
    if (!text) {
        a->dropped_msgs++;
        set_result(a, 0, NULL, "rejected", err);
        return;
    }
    const char *type = NULL;
    struct ef_val *doc = fleet_doc_parse(text, dl, FLEET_MAX_DESIRED, &type, err, sizeof(err));
    free(text);
    if (!doc) {
        set_result(a, 0, NULL, "rejected", err);
        return;
    }
    uint64_t seq = doc_seq(doc);
    if (seq && seq <= a->last_seq) {
        ef_log_debug("agent: desired seq %llu ignored (last accepted %llu)",
                     (unsigned long long)seq, (unsigned long long)a->last_seq);
        ef_val_unref(doc);
        return;
    }
    if (!strcmp(type, "revoked")) {
        struct fleet_revoked r;
        if (fleet_revoked_read(doc, a->device_id, &r, err, sizeof(err)) != 0) {
            set_result(a, seq, NULL, "rejected", err);
        } else {
            a->last_seq = r.seq;
            handle_revoked(a);
        }
        ef_val_unref(doc);
        return;
    }
    struct op *op = calloc(1, sizeof(*op));
    if (!op) {
        ef_val_unref(doc);
        return;
    }
    if (strcmp(type, "desired") != 0 ||
        fleet_desired_read(doc, a->device_id, &op->d, err, sizeof(err)) != 0) {
        if (strcmp(type, "desired") != 0) {
            snprintf(err, sizeof(err), "unknown document type '%.32s' on the desired topic", type);
        }
        if (seq) {
            a->last_seq = seq;
        }
        set_result(a, seq, NULL, "rejected", err);
        save_seq(a);
        ef_val_unref(doc);
        free(op);
        return;
    }
    /* a newer document replaces whatever was under way */
    end_op(a);
    a->last_seq = op->d.seq;
    op->doc = doc;
    op->envelope = malloc(len + 1);
    if (!op->envelope) {
        op_free(op);
        return;
    }
    memcpy(op->envelope, payload, len);
    op->envelope[len] = '\0';
    op->envelope_len = len;
    a->op = op;
    if (fleet_desired_check_id(&op->d, err, sizeof(err)) != 0) {
        op_reject(a, err);
        return;
    }
    if (a->running && !strcmp(a->running_id, op->d.snapshot_id)) {
        op_same_snapshot(a);
        return;
    }
    set_result(a, op->d.seq, op->d.snapshot_id, "fetching", NULL);
    fetch_more(a);
}

static void on_pending(uv_timer_t *t)
{
    struct agent *a = t->data;
    uint8_t *p = a->pending;
    size_t len = a->pending_len;
    a->pending = NULL;
    if (p && !a->revoked) {
        on_desired(a, p, len);
    }
    free(p);
}

/* ======================================================================
 * Commands
 * ====================================================================== */

static void on_cmd(struct agent *a, const uint8_t *payload, size_t len)
{
    char err[256];
    size_t dl = 0;
    char *text = fleet_envelope_open(a->manager_pk, (const char *)payload, len, FLEET_MAX_MSG, &dl,
                                     err, sizeof(err));
    if (!text) {
        a->dropped_msgs++;
        ef_log_warn("agent: command dropped: %s", err);
        return;
    }
    const char *type = NULL;
    struct ef_val *doc = fleet_doc_parse(text, dl, FLEET_MAX_MSG, &type, err, sizeof(err));
    free(text);
    struct fleet_cmd c;
    if (!doc || fleet_cmd_read(doc, a->device_id, &c, err, sizeof(err)) != 0) {
        const char *id = ef_val_str_get(ef_val_obj_get(doc, "id"));
        ef_log_warn("agent: command refused: %s", err);
        if (doc && *id && doc_seq(doc) > a->last_cmd_seq) {
            send_resp(a, id, false, NULL, err);
        }
        ef_val_unref(doc);
        return;
    }
    if (c.seq <= a->last_cmd_seq) {
        ef_log_debug("agent: command seq %llu ignored", (unsigned long long)c.seq);
        ef_val_unref(doc);
        return;
    }
    a->last_cmd_seq = c.seq;
    save_seq(a);
    struct ef_val *res = ef_val_obj();
    switch (c.cmd) {
    case FLEET_CMD_PING:
        ef_val_obj_set_take(res, "pong", ef_val_bool(true));
        ef_val_obj_set_take(res, "ts", ef_val_num((double)wall_ms()));
        send_resp(a, c.id, true, res, NULL);
        break;
    case FLEET_CMD_LOGS:
        ef_val_obj_set_take(res, "lines", log_lines(a, c.lines));
        send_resp(a, c.id, true, res, NULL);
        break;
    case FLEET_CMD_RESTART: {
        if (!a->running || !a->running_flows) {
            send_resp(a, c.id, false, NULL, "no snapshot is running");
            break;
        }
        struct ef_problems probs = {0};
        ef_log_info("agent: restarting the flows of snapshot %.12s", a->running_id);
        int rc = runtime__deploy_type(a->rt, a->running_flows, EF_DEPLOY_FULL, &probs);
        problems__free(&probs);
        if (rc == 0) {
            ef_val_obj_set_take(res, "restarted", ef_val_bool(true));
            send_resp(a, c.id, true, res, NULL);
        } else {
            send_resp(a, c.id, false, NULL, "the flows could not be started again");
        }
        break;
    }
    }
    ef_val_unref(res);
    ef_val_unref(doc);
}

/* ======================================================================
 * MQTT
 * ====================================================================== */

static void mq_connect(void *ud)
{
    struct agent *a = ud;
    ef_log_info("agent: connected to %s as %s", a->o.broker ? a->o.broker : a->broker_url,
                a->device_id);
    publish_state(a);
}

static void mq_disconnect(void *ud, const char *reason)
{
    struct agent *a = ud;
    (void)a;
    ef_log_debug("agent: MQTT: %s", reason ? reason : "disconnected");
}

static void mq_message(void *ud, const char *topic, const uint8_t *payload, size_t len,
                       bool retained)
{
    struct agent *a = ud;
    (void)retained;
    if (!strcmp(topic, a->t_desired)) {
        on_desired(a, payload, len);
    } else if (!strcmp(topic, a->t_cmd)) {
        on_cmd(a, payload, len);
    } else {
        a->dropped_msgs++;
    }
}

static int start_mqtt(struct agent *a)
{
    char err[256];
    const char *prefix = a->prefix ? a->prefix : FLEET_DEFAULT_PREFIX;
    if (fleet_topic(a->t_desired, sizeof(a->t_desired), prefix, a->device_id,
                    FLEET_TOPIC_DESIRED) != 0 ||
        fleet_topic(a->t_state, sizeof(a->t_state), prefix, a->device_id, FLEET_TOPIC_STATE) ||
        fleet_topic(a->t_hb, sizeof(a->t_hb), prefix, a->device_id, FLEET_TOPIC_HB) ||
        fleet_topic(a->t_cmd, sizeof(a->t_cmd), prefix, a->device_id, FLEET_TOPIC_CMD) ||
        fleet_topic(a->t_resp, sizeof(a->t_resp), prefix, a->device_id, FLEET_TOPIC_RESP)) {
        ef_log_error("agent: topic prefix '%s' or device id '%s' is not usable", prefix,
                     a->device_id);
        return EF_EINVAL;
    }
    struct fleet_state s;
    size_t wl = 0;
    fill_state(a, &s, false);
    char *will = fleet_state_json(&s, &wl);
    struct fleet_mqtt_opts o = {.uri = a->o.broker ? a->o.broker : a->broker_url,
                                .client_id = a->client_id ? a->client_id : a->device_id,
                                .username = a->username ? a->username : a->device_id,
                                .password = a->password,
                                .will_topic = a->t_state,
                                .will_payload = will,
                                .will_len = wl,
                                .will_retain = true,
                                .will_qos = 1,
                                .window = 8,
                                .max_queue = 256,
                                .max_queue_bytes = 4u << 20,
                                .on_connect = mq_connect,
                                .on_disconnect = mq_disconnect,
                                .on_message = mq_message,
                                .ud = a};
    a->mq = fleet_mqtt_create(&a->rt->loop, &o, err, sizeof(err));
    free(will);
    if (!a->mq) {
        ef_log_error("agent: %s", err);
        return EF_EINVAL;
    }
    fleet_mqtt_subscribe(a->mq, a->t_desired, 1);
    fleet_mqtt_subscribe(a->mq, a->t_cmd, 1);
    fleet_mqtt_connect(a->mq);
    return 0;
}

/* ======================================================================
 * Enrolment
 * ====================================================================== */

/* Reads enrolment.json into the agent. 0, EF_ENOENT or EF_EINVAL (err set). */
static int load_enrolment(struct agent *a, char *err, size_t errlen)
{
    char path[PATH_LEN];
    pathf(path, a, "enrolment.json", NULL);
    size_t len = 0;
    char *text = storage__read_file(path, 65536, &len);
    if (!text) {
        return EF_ENOENT;
    }
    char perr[200];
    struct ef_val *v = ef_json_parse(text, len, perr, sizeof(perr));
    free(text);
    const struct ef_val *b = ef_val_obj_get(v, "broker");
    const char *id = ef_val_str_get(ef_val_obj_get(v, "deviceId"));
    const char *mk = ef_val_str_get(ef_val_obj_get(v, "managerKey"));
    size_t n = 0;
    uint8_t pk[FLEET_PK_BYTES + 3];
    if (!v || ef_val_type(v) != EF_OBJ || !fleet_device_id_valid(id) ||
        ef_val_type(ef_val_obj_get(b, "url")) != EF_STR ||
        ef_val_type(ef_val_obj_get(b, "password")) != EF_STR ||
        fleet_b64_decode(mk, strlen(mk), pk, sizeof(pk), &n) != 0 || n != FLEET_PK_BYTES) {
        snprintf(err, errlen,
                 "%.300s: not an enrolment answer (deviceId, broker.url, broker.password, "
                 "managerKey)",
                 path);
        ef_val_unref(v);
        return EF_EINVAL;
    }
    ef_val_unref(a->enrol_doc);
    a->enrol_doc = v;
    a->device_id = id;
    a->broker_url = ef_val_str_get(ef_val_obj_get(b, "url"));
    const struct ef_val *cid = ef_val_obj_get(b, "clientId");
    const struct ef_val *user = ef_val_obj_get(b, "username");
    a->client_id = ef_val_type(cid) == EF_STR ? ef_val_str_get(cid) : NULL;
    a->username = ef_val_type(user) == EF_STR ? ef_val_str_get(user) : NULL;
    a->password = ef_val_str_get(ef_val_obj_get(b, "password"));
    const struct ef_val *pre = ef_val_obj_get(v, "topicPrefix");
    a->prefix = ef_val_type(pre) == EF_STR && ef_val_str_len(pre) ? ef_val_str_get(pre) : NULL;
    const struct ef_val *fu = ef_val_obj_get(v, "filesUrl");
    a->files_url = ef_val_type(fu) == EF_STR ? ef_val_str_get(fu) : NULL;
    memcpy(a->manager_pk, pk, FLEET_PK_BYTES);
    a->enrolled = true;
    return 0;
}

static void start_enrol(struct agent *a);

static void on_enrol_timer(uv_timer_t *t)
{
    start_enrol(t->data);
}

static void enrol_retry(struct agent *a, const char *why)
{
    uint64_t delay = 1000ull << (a->enrol_attempt < 5 ? a->enrol_attempt : 5);
    a->enrol_attempt++;
    ef_log_warn("agent: enrolment at %s failed (%s); trying again in %llu s", a->o.manager, why,
                (unsigned long long)(delay / 1000));
    uv_timer_start(&a->enrol_timer, on_enrol_timer, delay, 0);
}

static void enrol_fatal(struct agent *a, const char *why)
{
    ef_log_error("agent: enrolment refused: %s", why);
    a->exit_code = 2;
    runtime__stop(a->rt);
}

static void on_enrolled(void *ud, int status, const char *err, const char *body, size_t len)
{
    struct agent *a = ud;
    char why[512];
    a->enrol_req = NULL;
    if (status == 0 || status >= 500) {
        snprintf(why, sizeof(why), "%s", err ? err : "server error");
        if (status >= 500) {
            snprintf(why, sizeof(why), "HTTP %d", status);
        }
        enrol_retry(a, why);
        return;
    }
    if (status != 201 && status != 200) {
        struct ef_val *e = ef_json_parse(body, len, NULL, 0);
        snprintf(why, sizeof(why), "HTTP %d: %s", status,
                 ef_val_type(ef_val_obj_get(e, "error")) == EF_STR
                     ? ef_val_str_get(ef_val_obj_get(e, "error"))
                     : "no reason given");
        ef_val_unref(e);
        enrol_fatal(a, why);
        return;
    }
    char path[PATH_LEN], e2[256];
    pathf(path, a, "enrolment.json", NULL);
    /* check it before keeping it */
    char tmp[PATH_LEN + 8];
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    if (fleet_write_atomic(tmp, body, len, 0600, e2, sizeof(e2)) != 0) {
        enrol_fatal(a, e2);
        return;
    }
    uint8_t pinned[FLEET_PK_BYTES + 3];
    size_t pn = 0;
    bool pin = a->o.manager_key != NULL;
    if (pin && (fleet_b64_decode(a->o.manager_key, strlen(a->o.manager_key), pinned, sizeof(pinned),
                                 &pn) != 0 ||
                pn != FLEET_PK_BYTES)) {
        unlink(tmp);
        enrol_fatal(a, "--manager-key is not a base64 ed25519 public key");
        return;
    }
    if (rename(tmp, path) != 0 || load_enrolment(a, e2, sizeof(e2)) != 0) {
        unlink(path);
        enrol_fatal(a, "the manager's answer is not an enrolment answer");
        return;
    }
    if (pin && memcmp(pinned, a->manager_pk, FLEET_PK_BYTES) != 0) {
        unlink(path);
        a->enrolled = false;
        enrol_fatal(a, "the manager's key is not the one given with --manager-key");
        return;
    }
    ef_log_info("agent: enrolled as %s", a->device_id);
    a->heartbeat = a->heartbeat ? a->heartbeat : 10;
    if (start_mqtt(a) != 0) {
        a->exit_code = 2;
        runtime__stop(a->rt);
    }
}

static void start_enrol(struct agent *a)
{
    char err[256];
    if (!a->http) {
        a->http = agent_http_new(ef_loop_uv(&a->rt->loop), err, sizeof(err));
        if (!a->http) {
            enrol_fatal(a, err);
            return;
        }
    }
    char *pk = fleet_key_pk_b64(&a->key);
    char *proof = fleet_enrol_proof(&a->key, a->o.token);
    struct ef_val *body = ef_val_obj();
    if (!pk || !proof || !body) {
        free(pk);
        free(proof);
        ef_val_unref(body);
        enrol_fatal(a, "out of memory");
        return;
    }
    ef_val_obj_set_take(body, "token", ef_val_str(a->o.token));
    ef_val_obj_set_take(body, "name", ef_val_str(a->o.name));
    ef_val_obj_set_take(body, "publicKey", ef_val_str(pk));
    ef_val_obj_set_take(body, "proof", ef_val_str(proof));
    ef_val_obj_set_take(body, "agentVersion", ef_val_str(EF_VERSION));
    size_t len = 0;
    char *text = ef_json_print(body, 0, &len);
    ef_val_unref(body);
    free(pk);
    free(proof);
    char url[2048];
    size_t ml = strlen(a->o.manager);
    while (ml > 0 && a->o.manager[ml - 1] == '/') {
        ml--;
    }
    snprintf(url, sizeof(url), "%.*s/fleet/v1/enrol", (int)ml, a->o.manager);
    a->enrol_req = text ? agent_http_post(a->http, url, text, len, 30000, on_enrolled, a) : NULL;
    free(text);
    if (!a->enrol_req) {
        enrol_retry(a, "the request could not start");
    }
}

/* ======================================================================
 * Start-up
 * ====================================================================== */

static int parse_opts(int argc, char **argv, struct agent_opts *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **dst = NULL;
        if (!strcmp(a, "--state-dir")) {
            dst = &o->state_dir;
        } else if (!strcmp(a, "--manager")) {
            dst = &o->manager;
        } else if (!strcmp(a, "--token")) {
            dst = &o->token;
        } else if (!strcmp(a, "--name")) {
            dst = &o->name;
        } else if (!strcmp(a, "--manager-key")) {
            dst = &o->manager_key;
        } else if (!strcmp(a, "--broker")) {
            dst = &o->broker;
        } else if (!strcmp(a, "--settings") || !strcmp(a, "-s")) {
            dst = &o->settings;
        } else if (!strcmp(a, "--plugin-dir") || !strcmp(a, "--port") ||
                   !strcmp(a, "--log-level")) {
            if (!v) {
                fprintf(stderr, "edgeflow agent: %s needs a value\n", a);
                return -1;
            }
            i++;
            if (!strcmp(a, "--plugin-dir")) {
                if (o->nplugin_dirs == 16) {
                    fprintf(stderr, "edgeflow agent: at most 16 --plugin-dir options\n");
                    return -1;
                }
                o->plugin_dirs[o->nplugin_dirs++] = v;
            } else if (!strcmp(a, "--port")) {
                char *end;
                long p = strtol(v, &end, 10);
                if (*end || p < 0 || p > 65535) {
                    fprintf(stderr, "edgeflow agent: --port %s is not a port number\n", v);
                    return -1;
                }
                o->port = (int)p;
            } else {
                int lvl = ef_log_level_parse(v);
                if (lvl < 0) {
                    fprintf(stderr, "edgeflow agent: unknown log level '%s'\n", v);
                    return -1;
                }
                ef_log_set_level((enum ef_log_level)lvl);
            }
            continue;
        } else {
            fprintf(stderr, "edgeflow agent: unknown argument %s\n", a);
            return -1;
        }
        if (!v) {
            fprintf(stderr, "edgeflow agent: %s needs a value\n", a);
            return -1;
        }
        *dst = v;
        i++;
    }
    if (!o->state_dir) {
        fprintf(stderr, "edgeflow agent: --state-dir is required\n");
        return -1;
    }
    return 0;
}

/* A device name from the host name: lower case, other characters as '-'. */
static void default_name(char *out, size_t len)
{
    char host[256] = "device";
    gethostname(host, sizeof(host) - 1);
    size_t j = 0;
    for (size_t i = 0; host[i] && j + 1 < len && j < FLEET_MAX_ID; i++) {
        char c = host[i];
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        out[j++] = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ? c : '-';
    }
    out[j] = '\0';
    if (!fleet_device_id_valid(out)) {
        snprintf(out, len, "device");
    }
}

/* Runs current.json (or previous.json) from disk: no network needed. */
static void boot_from_disk(struct agent *a)
{
    const char *names[] = {"current.json", "previous.json"};
    for (int i = 0; i < 2; i++) {
        char err[512];
        struct fleet_desired d;
        struct ef_val *doc = load_stored(a, names[i], &d, NULL, NULL, err, sizeof(err));
        if (!doc) {
            char path[PATH_LEN];
            pathf(path, a, "%s", names[i]);
            if (exists(path)) {
                ef_log_warn("agent: %s", err);
            }
            continue;
        }
        bool complete = true;
        for (size_t f = 0; f < d.nfiles && complete; f++) {
            char p[PATH_LEN];
            pathf(p, a, "files/%s", d.files[f].sha256);
            complete = exists(p);
        }
        int rc = complete ? activate(a, &d, EF_DEPLOY_FULL, err, sizeof(err)) : EF_ENOENT;
        if (rc == 0) {
            ef_log_info("agent: running snapshot %.12s from %s", d.snapshot_id, names[i]);
            a->health = "starting";
            a->boot_window = true;
            a->boot_window_end = mono_ms() + (uint64_t)(d.health_seconds * 1000.0);
            uv_timer_start(&a->health_timer, on_health, 100, 100);
            fleet_desired_clear(&d);
            ef_val_unref(doc);
            return;
        }
        ef_log_error("agent: %s cannot run: %s", names[i], complete ? err : "files are missing");
        fleet_desired_clear(&d);
        ef_val_unref(doc);
    }
}

static void close_timer(uv_timer_t *t)
{
    if (!uv_is_closing((uv_handle_t *)t)) {
        uv_timer_stop(t);
        uv_close((uv_handle_t *)t, NULL);
    }
}

int fleet_agent_main(int argc, char **argv)
{
    struct agent_opts o;
    if (parse_opts(argc, argv, &o) != 0) {
        fputs(agent_usage, stderr);
        return 2;
    }
    struct agent *a = calloc(1, sizeof(*a));
    if (!a) {
        return 2;
    }
    a->o = o;
    a->health = "none";
    a->heartbeat = 10;
    a->health_seconds = 10;
    uv_mutex_init(&a->log_mu);
    char err[512];
    int status = 2;
    char real[PATH_MAX];
    if (mkdir_p(o.state_dir, 0700) != 0 || !realpath(o.state_dir, real) ||
        strlen(real) >= sizeof(a->dir)) {
        fprintf(stderr, "edgeflow agent: cannot use state dir %s: %s\n", o.state_dir,
                strerror(errno));
        goto out_free;
    }
    memcpy(a->dir, real, strlen(real) + 1);
    char p[PATH_LEN];
    pathf(p, a, "files", NULL);
    mkdir_p(p, 0700);
    pathf(p, a, "snapshots", NULL);
    mkdir_p(p, 0700);
    pathf(p, a, "device.key", NULL);
    if (fleet_proto_init() != 0 || fleet_key_load(p, true, &a->key, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "edgeflow agent: %s\n", err);
        goto out_free;
    }
    struct ef_settings *s = settings__load(o.settings, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "edgeflow agent: %s\n", err);
        goto out_free;
    }
    s->ui_port = o.port;
    if (!*s->user_dir) {
        free(s->user_dir);
        s->user_dir = strdup(a->dir);
    }
    a->rt = calloc(1, sizeof(*a->rt));
    if (!a->rt || runtime__init(a->rt, s, err, sizeof(err)) != 0) {
        fprintf(stderr, "edgeflow agent: %s\n", a->rt ? err : "out of memory");
        free(a->rt);
        a->rt = NULL;
        goto out_free;
    }
    runtime__catch_signals(a->rt);
    log__set_sink(log_sink, a);
    registry__load_plugins(o.plugin_dirs, o.nplugin_dirs, s);
    uv_loop_t *uv = ef_loop_uv(&a->rt->loop);
    uv_timer_init(uv, &a->hb_timer);
    uv_timer_init(uv, &a->health_timer);
    uv_timer_init(uv, &a->enrol_timer);
    uv_timer_init(uv, &a->pending_timer);
    a->hb_timer.data = a->health_timer.data = a->enrol_timer.data = a->pending_timer.data = a;
    a->timers_init = true;
    a->start_ms = a->hb_prev_ms = mono_ms();
    a->cpu_prev_s = cpu_seconds();
    load_seq(a);
    {
        MQTTAsync_init_options io = MQTTAsync_init_options_initializer;
        io.do_openssl_init = 0;
        MQTTAsync_global_init(&io);
    }
    int er = load_enrolment(a, err, sizeof(err));
    if (er == EF_EINVAL) {
        ef_log_error("agent: %s", err);
        goto out_rt;
    }
    if (er == 0 && o.manager_key) {
        uint8_t pk[FLEET_PK_BYTES + 3];
        size_t n = 0;
        if (fleet_b64_decode(o.manager_key, strlen(o.manager_key), pk, sizeof(pk), &n) != 0 ||
            n != FLEET_PK_BYTES || memcmp(pk, a->manager_pk, FLEET_PK_BYTES) != 0) {
            ef_log_error("agent: --manager-key is not the manager key kept at enrolment");
            goto out_rt;
        }
    }
    char name[FLEET_MAX_ID + 1];
    if (er != 0) {
        if (!o.manager || !o.token) {
            ef_log_error("agent: not enrolled yet: give --manager URL and --token TOKEN");
            goto out_rt;
        }
        if (!o.name) {
            default_name(name, sizeof(name));
            a->o.name = name;
        } else if (!fleet_device_id_valid(o.name)) {
            ef_log_error("agent: --name '%s' is not a device id (^[a-z0-9][a-z0-9_-]{0,63}$)",
                         o.name);
            goto out_rt;
        }
    }
    if (a->enrolled) {
        boot_from_disk(a);
    }
    if (o.port > 0) {
        char ed[PATH_LEN];
        pathf(ed, a, "editor-flows.json", NULL);
        struct ef_server_opts so = {.host = s->ui_host, .port = o.port, .flows_path = ed};
        a->srv = server__start(a->rt, &so, err, sizeof(err));
        if (!a->srv) {
            ef_log_error("agent: editor not started: %s", err);
        }
    }
    if (a->enrolled) {
        if (start_mqtt(a) != 0) {
            goto out_rt;
        }
    } else {
        start_enrol(a);
    }
    restart_hb(a);
    ef_log_info("edgeflow agent %s, state in %s", EF_VERSION, a->dir);
    status = 0;
    runtime__run(a->rt);
    runtime__stop(a->rt);
    if (a->mq && fleet_mqtt_connected(a->mq)) {
        /* a clean stop: say so (the will is only for crashes and lost links) */
        struct fleet_state st;
        size_t len = 0;
        fill_state(a, &st, false);
        char *text = fleet_state_json(&st, &len);
        if (text) {
            fleet_mqtt_publish(a->mq, a->t_state, text, len, 1, true);
            free(text);
        }
    }
    fleet_mqtt_destroy(a->mq, 2000);
    a->mq = NULL;
    status = a->exit_code;
out_rt:
    log__set_sink(NULL, NULL);
    end_op(a);
    if (a->timers_init) {
        close_timer(&a->hb_timer);
        close_timer(&a->health_timer);
        close_timer(&a->enrol_timer);
        close_timer(&a->pending_timer);
    }
    if (a->enrol_req) {
        agent_http_cancel(a->enrol_req);
    }
    agent_http_free(a->http);
    fleet_mqtt_destroy(a->mq, 0);
    server__stop(a->srv);
    uv_run(ef_loop_uv(&a->rt->loop), UV_RUN_NOWAIT);
    ef_val_unref(a->running_flows);
    ef_val_unref(a->running_env);
    ef_val_unref(a->enrol_doc);
    runtime__destroy(a->rt);
    free(a->rt);
    registry__cleanup();
out_free:
    for (size_t i = 0; i < a->ring_n; i++) {
        free(a->ring[(a->ring_head + i) % LOG_RING]);
    }
    free(a->pending);
    uv_mutex_destroy(&a->log_mu);
    sodium_memzero(&a->key, sizeof(a->key));
    free(a);
    return status;
}
