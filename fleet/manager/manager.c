/*
 * manager.c - `edgeflow manager`: the loop, the editor server with the
 * authoring seam, the store, the signing key, the MQTT client with its
 * retained P/manager and will, the live device table (state and hb in,
 * batched writes to the store), desired/revoked/cmd publishing and the
 * rollouts this replica drives while it holds the store's leader lock.
 * See manager.h, docs/fleet.md and docs/fleet-protocol.md.
 */
#include "manager/manager.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "common/fleet_mqtt.h"
#include "runtime.h"
#include "server.h"

#define FLUSH_MS 2000  /* live fields go to the store at most this often */
#define LEADER_MS 5000 /* leader lock checks */
#define SETTLE_MS 1500 /* after connecting, time for the retained device states to arrive */

int64_t mgr_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- live device table ---- */

static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s) {
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    }
    return h;
}

struct mgr_dev *mgr_dev_get(struct mgr *m, const char *id)
{
    if (!m->tab_cap || !id) {
        return NULL;
    }
    for (size_t i = hash_id(id) & (m->tab_cap - 1);; i = (i + 1) & (m->tab_cap - 1)) {
        struct mgr_dev *d = m->tab[i];
        if (!d) {
            return NULL;
        }
        if (!strcmp(d->id, id)) {
            return d;
        }
    }
}

static int tab_grow(struct mgr *m)
{
    size_t cap = m->tab_cap ? m->tab_cap * 2 : 1024;
    struct mgr_dev **t = calloc(cap, sizeof(*t));
    if (!t) {
        return -1;
    }
    for (size_t i = 0; i < m->tab_cap; i++) {
        struct mgr_dev *d = m->tab[i];
        if (d) {
            size_t j = hash_id(d->id) & (cap - 1);
            while (t[j]) {
                j = (j + 1) & (cap - 1);
            }
            t[j] = d;
        }
    }
    free(m->tab);
    m->tab = t;
    m->tab_cap = cap;
    return 0;
}

struct mgr_dev *mgr_dev_add(struct mgr *m, const char *id)
{
    struct mgr_dev *d = mgr_dev_get(m, id);
    if (d) {
        return d;
    }
    if ((m->ndev + 1) * 2 > m->tab_cap && tab_grow(m) != 0) {
        return NULL;
    }
    d = calloc(1, sizeof(*d));
    if (!d) {
        return NULL;
    }
    snprintf(d->id, sizeof(d->id), "%s", id);
    size_t j = hash_id(id) & (m->tab_cap - 1);
    while (m->tab[j]) {
        j = (j + 1) & (m->tab_cap - 1);
    }
    m->tab[j] = d;
    m->ndev++;
    return d;
}

static void mark_dirty(struct mgr *m, struct mgr_dev *d)
{
    if (!d->dirty) {
        d->dirty = true;
        d->next_dirty = m->dirty;
        m->dirty = d;
        m->ndirty++;
    }
}

/* Writes the live fields of every changed device in one transaction. */
static void flush_live(struct mgr *m)
{
    if (!m->ndirty) {
        return;
    }
    struct ef_store_live *rows = calloc(m->ndirty, sizeof(*rows));
    if (!rows) {
        return;
    }
    size_t n = 0;
    for (struct mgr_dev *d = m->dirty; d; d = d->next_dirty) {
        rows[n++] = (struct ef_store_live){.id = d->id,
                                           .online = d->online,
                                           .snapshot = *d->snapshot ? d->snapshot : NULL,
                                           .health = *d->health ? d->health : NULL,
                                           .last_seen = d->last_seen,
                                           .cpu = d->cpu,
                                           .rss = d->rss,
                                           .msgs = d->msgs,
                                           .msg_rate = d->msg_rate,
                                           .errors = d->errors,
                                           .result = d->result};
    }
    int rc = ef_store_devices_update_live(m->st, rows, n);
    free(rows);
    if (rc != 0) {
        ef_log_warn("fleet: device states not saved (%s); trying again", ef_store_errmsg(m->st));
        return;
    }
    struct mgr_dev *d = m->dirty;
    while (d) {
        struct mgr_dev *next = d->next_dirty;
        d->dirty = false;
        d->next_dirty = NULL;
        d = next;
    }
    m->dirty = NULL;
    m->ndirty = 0;
}

static void load_devices(struct mgr *m)
{
    struct ef_store_device *list = NULL;
    size_t n = 0;
    if (ef_store_devices_list(m->st, NULL, &list, &n) != 0) {
        ef_log_warn("fleet: devices not loaded: %s", ef_store_errmsg(m->st));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct mgr_dev *d = mgr_dev_add(m, list[i].id);
        if (!d) {
            break;
        }
        d->revoked = list[i].revoked;
        d->online = list[i].online; /* as last flushed; its retained state will tell */
        snprintf(d->snapshot, sizeof(d->snapshot), "%s", list[i].snapshot ? list[i].snapshot : "");
        snprintf(d->health, sizeof(d->health), "%s", list[i].health ? list[i].health : "");
        d->last_seen = list[i].last_seen;
        d->cpu = list[i].cpu;
        d->rss = list[i].rss;
        d->msgs = list[i].msgs;
        d->msg_rate = list[i].msg_rate;
        d->errors = list[i].errors;
        d->result = list[i].result ? ef_val_ref(list[i].result) : NULL;
    }
    ef_store_device_list_free(list, n);
}

/* ---- audit ---- */

void mgr_audit(struct mgr *m, const char *actor, const char *action, const char *target,
               struct ef_val *detail)
{
    if (ef_store_audit_add(m->st, mgr_now(), actor ? actor : "-", action, target ? target : "",
                           detail) != 0) {
        ef_log_warn("fleet: audit entry %s %s not saved: %s", action, target ? target : "",
                    ef_store_errmsg(m->st));
    }
    ef_val_unref(detail);
}

/* ---- publishing ---- */

static int publish_signed(struct mgr *m, const char *id, enum fleet_topic_kind kind,
                          struct ef_val *doc, bool retain)
{
    char topic[FLEET_MAX_TOPIC];
    if (fleet_topic(topic, sizeof(topic), m->prefix, id, kind) != 0) {
        ef_val_unref(doc);
        return -1;
    }
    size_t len;
    char *env = doc ? fleet_envelope_sign_val(&m->key, doc, &len) : NULL;
    ef_val_unref(doc);
    if (!env) {
        return -1;
    }
    int rc = fleet_mqtt_publish(m->mq, topic, env, len, 1, retain);
    free(env);
    if (rc != 0) {
        ef_log_warn("fleet: %s for %s not queued (%d)", fleet_topic_kind_name(kind), id, rc);
        return -1;
    }
    return 0;
}

static bool has_file(const struct ef_val *files, const char *path)
{
    for (size_t i = 0; i < ef_val_arr_len(files); i++) {
        if (!strcmp(ef_val_str_get(ef_val_obj_get(ef_val_arr_at(files, i), "path")), path)) {
            return true;
        }
    }
    return false;
}

int64_t mgr_send_desired(struct mgr *m, const char *id, const char *snapshot,
                         const struct ro_rollout *r, bool in_rollout)
{
    if (!snapshot || !*snapshot) {
        /* nothing to go back to: clear the retained desired state */
        char topic[FLEET_MAX_TOPIC];
        if (fleet_topic(topic, sizeof(topic), m->prefix, id, FLEET_TOPIC_DESIRED) != 0 ||
            fleet_mqtt_publish(m->mq, topic, "", 0, 1, true) != 0) {
            return -1;
        }
        ef_store_device_set_desired(m->st, id, NULL);
        int64_t seq = 0;
        ef_store_device_next_seq(m->st, id, &seq);
        return seq > 0 ? seq : 1;
    }
    struct ef_store_device dev = {0};
    struct ef_store_snapshot s = {0};
    if (ef_store_device_get(m->st, id, &dev) != 0) {
        ef_log_warn("fleet: desired for %s: %s", id, ef_store_errmsg(m->st));
        return -1;
    }
    if (ef_store_snapshot_get(m->st, snapshot, NULL, &s) != 0) {
        ef_log_warn("fleet: desired for %s: snapshot %s: %s", id, snapshot, ef_store_errmsg(m->st));
        ef_store_device_clear(&dev);
        return -1;
    }
    int64_t seq = 0;
    if (ef_store_device_next_seq(m->st, id, &seq) != 0) {
        ef_store_device_clear(&dev);
        ef_store_snapshot_clear(&s);
        return -1;
    }
    struct ef_val *doc = ef_val_obj();
    ef_val_obj_set_take(doc, "type", ef_val_str("desired"));
    ef_val_obj_set_take(doc, "device", ef_val_str(id));
    ef_val_obj_set_take(doc, "seq", ef_val_num((double)seq));
    ef_val_obj_set_take(doc, "ts", ef_val_num((double)mgr_now()));
    struct ef_val *so = ef_val_obj();
    ef_val_obj_set_take(so, "id", ef_val_str(s.id));
    ef_val_obj_set_take(so, "version", ef_val_num((double)s.version));
    ef_val_obj_set_take(so, "group", ef_val_str(s.group));
    ef_val_obj_set_take(so, "description", ef_val_str(s.description ? s.description : ""));
    ef_val_obj_set_take(so, "files", ef_val_ref(s.files));
    /* the env the snapshot id covers; `env` below adds the device's overrides */
    ef_val_obj_set_take(so, "env", ef_val_ref(s.env));
    ef_val_obj_set_take(doc, "snapshot", so);
    /* the snapshot's env with the device's own overrides on top */
    struct ef_val *env = ef_val_copy(s.env);
    for (size_t i = 0; env && i < ef_val_obj_len(dev.env); i++) {
        size_t kl;
        const char *k = ef_val_obj_key_at(dev.env, i, &kl);
        ef_val_obj_setn_take(env, k, kl, ef_val_ref(ef_val_obj_val_at(dev.env, i)));
    }
    ef_val_obj_set_take(doc, "env", env ? env : ef_val_obj());
    if (has_file(s.files, "flows_cred.json")) {
        struct ef_store_group g = {0};
        uint8_t pk[FLEET_PK_BYTES];
        size_t pklen = 0;
        if (ef_store_group_get(m->st, s.group, &g) == 0 &&
            fleet_b64_decode(dev.public_key, strlen(dev.public_key), pk, sizeof(pk), &pklen) == 0 &&
            pklen == FLEET_PK_BYTES) {
            char *sealed = fleet_seal(pk, g.credential_secret, strlen(g.credential_secret));
            if (sealed) {
                ef_val_obj_set_take(doc, "credentialSecret", ef_val_str(sealed));
                free(sealed);
            }
        }
        ef_store_group_clear(&g);
    }
    struct ef_val *h = ef_val_obj();
    ef_val_obj_set_take(h, "seconds", ef_val_num(r ? r->health_seconds : 10));
    ef_val_obj_set_take(h, "maxErrors", ef_val_num(r ? r->max_errors : 0));
    ef_val_obj_set_take(doc, "health", h);
    ef_val_obj_set_take(doc, "heartbeat", ef_val_num(m->heartbeat));
    char url[1024];
    snprintf(url, sizeof(url), "%s/fleet/v1/files/", m->public_url);
    ef_val_obj_set_take(doc, "filesUrl", ef_val_str(url));
    ef_val_obj_set_take(doc, "rollout", r && in_rollout ? ef_val_str(r->id) : ef_val_null());
    ef_store_device_clear(&dev);
    int rc = publish_signed(m, id, FLEET_TOPIC_DESIRED, doc, true);
    ef_log_debug("fleet: desired seq %lld for %s: snapshot %.12s%s%s", (long long)seq, id, s.id,
                 r && in_rollout ? " in rollout " : "", r && in_rollout ? r->id : "");
    if (rc == 0) {
        ef_store_device_set_desired(m->st, id, s.id);
    }
    ef_store_snapshot_clear(&s);
    return rc == 0 ? seq : -1;
}

int mgr_send_revoked(struct mgr *m, const char *id)
{
    int64_t seq = 0;
    if (ef_store_device_next_seq(m->st, id, &seq) != 0) {
        return -1;
    }
    struct ef_val *doc = ef_val_obj();
    ef_val_obj_set_take(doc, "type", ef_val_str("revoked"));
    ef_val_obj_set_take(doc, "device", ef_val_str(id));
    ef_val_obj_set_take(doc, "seq", ef_val_num((double)seq));
    ef_val_obj_set_take(doc, "ts", ef_val_num((double)mgr_now()));
    return publish_signed(m, id, FLEET_TOPIC_DESIRED, doc, true);
}

int mgr_send_cmd(struct mgr *m, const char *device, const char *cmd, const struct ef_val *args,
                 struct srv_conn *conn, char *err, size_t errlen)
{
    int64_t n = 0, seq = 0;
    if (ef_store_counter_next(m->st, "cmd", &n) != 0 ||
        ef_store_device_next_seq(m->st, device, &seq) != 0) {
        snprintf(err, errlen, "%s", ef_store_errmsg(m->st));
        return -1;
    }
    struct mgr_cmd *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(c->id, sizeof(c->id), "c-%lld", (long long)n);
    snprintf(c->device, sizeof(c->device), "%s", device);
    struct ef_val *doc = ef_val_obj();
    ef_val_obj_set_take(doc, "type", ef_val_str("cmd"));
    ef_val_obj_set_take(doc, "device", ef_val_str(device));
    ef_val_obj_set_take(doc, "seq", ef_val_num((double)seq));
    ef_val_obj_set_take(doc, "id", ef_val_str(c->id));
    ef_val_obj_set_take(doc, "cmd", ef_val_str(cmd));
    ef_val_obj_set_take(doc, "args", args ? ef_val_ref((struct ef_val *)args) : ef_val_obj());
    if (publish_signed(m, device, FLEET_TOPIC_CMD, doc, false) != 0) {
        free(c);
        snprintf(err, errlen, "the command could not be published");
        return -1;
    }
    c->conn = conn;
    c->deadline = mgr_now() + 10000;
    c->next = m->cmds;
    m->cmds = c;
    return 0;
}

/* ---- rollouts ---- */

static int64_t ro_send_cb(void *ud, struct ro_rollout *r, struct ro_device *d, const char *snapshot,
                          bool rollback)
{
    return mgr_send_desired(ud, d->id, snapshot, r, !rollback);
}

static void ro_changed_cb(void *ud, struct ro_rollout *r, struct ro_device *d)
{
    struct mgr *m = ud;
    int64_t now = mgr_now();
    if (!d) {
        if (ef_store_rollout_update(m->st, r->id, ro_state_name(r->state),
                                    r->wave < 0 ? 0 : r->wave, *r->reason ? r->reason : NULL,
                                    now) != 0) {
            ef_log_warn("fleet: rollout %s not saved: %s", r->id, ef_store_errmsg(m->st));
        }
        return;
    }
    struct ef_store_progress p = {.rollout = r->id,
                                  .device = d->id,
                                  .wave = d->wave,
                                  .status = (char *)ro_dev_status_name(d->status),
                                  .from_snapshot = *d->from ? d->from : NULL,
                                  .reason = *d->reason ? d->reason : NULL,
                                  .seq = d->seq,
                                  .updated = now};
    if (ef_store_progress_put(m->st, &p, 1) != 0) {
        ef_log_warn("fleet: rollout %s device %s not saved: %s", r->id, d->id,
                    ef_store_errmsg(m->st));
    }
}

static const struct ro_ops mgr_ro_ops = {.send = ro_send_cb, .changed = ro_changed_cb};

struct mgr_rollout *mgr_rollout_find(struct mgr *m, const char *id)
{
    for (struct mgr_rollout *r = m->rollouts; r; r = r->next) {
        if (!strcmp(r->ro.id, id)) {
            return r;
        }
    }
    return NULL;
}

static int spec_int(const struct ef_val *spec, const char *key, int def)
{
    const struct ef_val *v = ef_val_obj_get(spec, key);
    return ef_val_type(v) == EF_NUM ? (int)ef_val_num_get(v) : def;
}

/* Builds the in-memory rollout from its stored record and progress rows. */
static struct mgr_rollout *rollout_load(struct mgr *m, const char *id, char *err, size_t errlen)
{
    struct ef_store_rollout sr = {0};
    struct ef_store_progress *pl = NULL;
    size_t np = 0;
    if (ef_store_rollout_get(m->st, id, &sr) != 0 ||
        ef_store_progress_list(m->st, id, &pl, &np) != 0) {
        snprintf(err, errlen, "rollout %s: %s", id, ef_store_errmsg(m->st));
        ef_store_rollout_clear(&sr);
        return NULL;
    }
    struct mgr_rollout *mr = calloc(1, sizeof(*mr));
    struct ro_rollout *r = mr ? &mr->ro : NULL;
    if (!mr) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    snprintf(r->id, sizeof(r->id), "%s", sr.id);
    snprintf(r->group, sizeof(r->group), "%s", sr.group);
    snprintf(r->snapshot, sizeof(r->snapshot), "%s", sr.snapshot);
    r->health_seconds = spec_int(sr.spec, "healthSeconds", 10);
    r->max_errors = spec_int(sr.spec, "maxErrors", 0);
    r->failure_budget = spec_int(sr.spec, "failureBudget", 0);
    r->wave_timeout = spec_int(sr.spec, "waveTimeout", 120);
    const struct ef_val *ar = ef_val_obj_get(sr.spec, "autoRollback");
    r->auto_rollback = ar ? ef_val_bool_get(ar) : true;
    /* the plan: wave ends from the stored wave of each device */
    r->nwaves = 0;
    for (size_t i = 0; i < np; i++) {
        int w = (int)pl[i].wave;
        if (w >= 0 && w < RO_WAVES_MAX && w + 1 > r->nwaves) {
            r->nwaves = w + 1;
        }
    }
    for (size_t i = 0; i < np; i++) {
        int w = (int)pl[i].wave;
        if (w >= 0 && w < RO_WAVES_MAX) {
            r->wave_end[w]++;
        }
    }
    for (int w = 1; w < r->nwaves; w++) {
        r->wave_end[w] += r->wave_end[w - 1];
    }
    int st = ro_state_parse(sr.state);
    r->state = st < 0 ? RO_RUNNING : (enum ro_state)st;
    r->wave = (int)sr.wave;
    snprintf(r->reason, sizeof(r->reason), "%s", sr.reason ? sr.reason : "");
    r->dev = np ? calloc(np, sizeof(*r->dev)) : NULL;
    if (np && !r->dev) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    r->ndev = np;
    bool any_sent = false;
    for (size_t i = 0; i < np; i++) {
        struct ro_device *d = &r->dev[i];
        snprintf(d->id, sizeof(d->id), "%s", pl[i].device);
        snprintf(d->from, sizeof(d->from), "%s", pl[i].from_snapshot ? pl[i].from_snapshot : "");
        snprintf(d->reason, sizeof(d->reason), "%s", pl[i].reason ? pl[i].reason : "");
        d->wave = (int)pl[i].wave;
        int ds = ro_dev_status_parse(pl[i].status);
        d->status = ds < 0 ? RO_DEV_WAITING : (enum ro_dev_status)ds;
        d->seq = pl[i].seq;
        any_sent |= d->seq > 0;
        struct mgr_dev *live = mgr_dev_get(m, d->id);
        d->online = live && live->online;
    }
    if (!any_sent) {
        r->wave = -1; /* stored before its first wave went out */
    }
    ef_store_rollout_clear(&sr);
    ef_store_progress_list_free(pl, np);
    ro_restore(r, &mgr_ro_ops, m, mgr_now());
    return mr;
fail:
    free(mr);
    ef_store_rollout_clear(&sr);
    ef_store_progress_list_free(pl, np);
    return NULL;
}

/* Feeds a (re)loaded rollout what the live table knows of its devices now. */
static void feed_live(struct mgr *m, struct mgr_rollout *mr)
{
    int64_t now = mgr_now();
    for (size_t i = 0; i < mr->ro.ndev && ro_active(&mr->ro); i++) {
        struct mgr_dev *l = mgr_dev_get(m, mr->ro.dev[i].id);
        if (!l) {
            continue;
        }
        const struct ef_val *res = l->result;
        struct ro_report rep = {.device = l->id,
                                .online = l->online,
                                .snapshot = *l->snapshot ? l->snapshot : NULL,
                                .health = *l->health ? l->health : NULL,
                                .result_seq = (int64_t)ef_val_num_get(ef_val_obj_get(res, "seq")),
                                .result_snapshot = ef_val_str_get(ef_val_obj_get(res, "snapshot")),
                                .result_status = ef_val_str_get(ef_val_obj_get(res, "status")),
                                .result_reason =
                                    ef_val_type(ef_val_obj_get(res, "reason")) == EF_STR
                                        ? ef_val_str_get(ef_val_obj_get(res, "reason"))
                                        : NULL};
        ro_on_report(&mr->ro, &rep, now);
    }
}

struct mgr_rollout *mgr_rollout_open(struct mgr *m, const char *id, char *err, size_t errlen)
{
    if (!m->leader) {
        snprintf(err, errlen, "this manager replica does not drive rollouts (not the leader)");
        return NULL;
    }
    struct mgr_rollout *mr = mgr_rollout_find(m, id);
    if (mr) {
        return mr;
    }
    mr = rollout_load(m, id, err, errlen);
    if (mr) {
        mr->next = m->rollouts;
        m->rollouts = mr;
        feed_live(m, mr);
    }
    return mr;
}

int mgr_rollout_start(struct mgr *m, const char *id, char *err, size_t errlen)
{
    if (!m->leader) {
        return 0; /* the leader replica picks it up from the store */
    }
    struct mgr_rollout *mr = rollout_load(m, id, err, errlen);
    if (!mr) {
        return -1;
    }
    mr->next = m->rollouts;
    m->rollouts = mr;
    ro_start(&mr->ro, mgr_now());
    return 0;
}

static void rollouts_drop(struct mgr *m)
{
    while (m->rollouts) {
        struct mgr_rollout *r = m->rollouts;
        m->rollouts = r->next;
        ro_free(&r->ro);
        free(r);
    }
}

/* Picks up the running and paused rollouts of the store (at start, or on becoming leader). */
static void rollouts_resume(struct mgr *m)
{
    static const char *const states[] = {"running", "paused", "completed"};
    for (size_t s = 0; s < 3; s++) {
        struct ef_store_rollout *list = NULL;
        size_t n = 0;
        if (ef_store_rollouts_list(m->st, NULL, states[s], 0, &list, &n) != 0) {
            ef_log_warn("fleet: rollouts not loaded: %s", ef_store_errmsg(m->st));
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            if (mgr_rollout_find(m, list[i].id)) {
                continue;
            }
            char err[256];
            struct mgr_rollout *mr = rollout_load(m, list[i].id, err, sizeof(err));
            if (!mr) {
                ef_log_warn("fleet: %s", err);
                continue;
            }
            if (!ro_active(&mr->ro)) {
                ro_free(&mr->ro);
                free(mr);
                continue;
            }
            ef_log_info("fleet: rollout %s resumed (%s, wave %d)", mr->ro.id,
                        ro_state_name(mr->ro.state), mr->ro.wave + 1);
            mr->next = m->rollouts;
            m->rollouts = mr;
            if (mr->ro.wave < 0 && mr->ro.state == RO_RUNNING) {
                ro_start(&mr->ro, mgr_now());
            } else {
                feed_live(m, mr);
            }
        }
        ef_store_rollout_list_free(list, n);
    }
}

static void rollouts_tick(struct mgr *m, int64_t now)
{
    struct mgr_rollout **pp = &m->rollouts;
    while (*pp) {
        struct mgr_rollout *r = *pp;
        ro_tick(&r->ro, now);
        if (!ro_active(&r->ro)) {
            *pp = r->next;
            ro_free(&r->ro);
            free(r);
        } else {
            pp = &r->next;
        }
    }
}

/* ---- MQTT in ---- */

static void on_state(struct mgr *m, const char *id, const char *payload, size_t len)
{
    struct mgr_dev *d = mgr_dev_get(m, id);
    if (!d || d->revoked) {
        m->dropped++;
        return;
    }
    char err[200];
    const char *type;
    struct ef_val *doc = fleet_doc_parse(payload, len, FLEET_MAX_MSG, &type, err, sizeof(err));
    struct fleet_state s;
    if (!doc || fleet_state_read(doc, id, &s, err, sizeof(err)) != 0) {
        m->dropped++;
        ef_log_debug("fleet: state of %s dropped: %s", id, err);
        ef_val_unref(doc);
        return;
    }
    d->online = s.online;
    snprintf(d->snapshot, sizeof(d->snapshot), "%s", s.snapshot ? s.snapshot : "");
    snprintf(d->health, sizeof(d->health), "%s", s.health ? s.health : "");
    d->last_seen = mgr_now();
    ef_val_unref(d->result);
    d->result = NULL;
    const struct ef_val *res = ef_val_obj_get(doc, "result");
    if (ef_val_type(res) == EF_OBJ) {
        d->result = ef_val_ref((struct ef_val *)res);
    }
    mark_dirty(m, d);
    struct ro_report rep = {.device = id,
                            .online = s.online,
                            .snapshot = s.snapshot,
                            .health = s.health,
                            .result_seq = s.has_result ? (int64_t)s.result_seq : 0,
                            .result_snapshot = s.has_result ? s.result_snapshot : NULL,
                            .result_status = s.has_result ? s.result_status : NULL,
                            .result_reason = s.has_result ? s.result_reason : NULL};
    int64_t now = mgr_now();
    for (struct mgr_rollout *r = m->rollouts; r; r = r->next) {
        ro_on_report(&r->ro, &rep, now);
    }
    ef_val_unref(doc);
}

static void on_hb(struct mgr *m, const char *id, const char *payload, size_t len)
{
    struct mgr_dev *d = mgr_dev_get(m, id);
    if (!d || d->revoked) {
        m->dropped++;
        return;
    }
    char err[200];
    const char *type;
    struct ef_val *doc = fleet_doc_parse(payload, len, FLEET_MAX_MSG, &type, err, sizeof(err));
    struct fleet_hb h;
    if (!doc || fleet_hb_read(doc, id, &h, err, sizeof(err)) != 0) {
        m->dropped++;
        ef_val_unref(doc);
        return;
    }
    int64_t now = mgr_now();
    if (d->msgs_ts > 0 && (int64_t)h.ts > d->msgs_ts && (int64_t)h.msgs >= d->msgs) {
        d->msg_rate =
            (double)((int64_t)h.msgs - d->msgs) * 1000.0 / (double)((int64_t)h.ts - d->msgs_ts);
    }
    d->msgs_ts = (int64_t)h.ts;
    d->msgs = (int64_t)h.msgs;
    d->cpu = h.cpu;
    d->rss = (int64_t)h.rss;
    d->errors = (int64_t)h.errors;
    d->last_seen = now;
    d->online = true;
    snprintf(d->snapshot, sizeof(d->snapshot), "%s", h.snapshot ? h.snapshot : "");
    if (h.health) {
        snprintf(d->health, sizeof(d->health), "%s", h.health);
    }
    mark_dirty(m, d);
    ef_val_unref(doc);
}

static void on_resp(struct mgr *m, const char *id, const char *payload, size_t len)
{
    char err[200];
    const char *type;
    struct ef_val *doc = fleet_doc_parse(payload, len, FLEET_MAX_MSG, &type, err, sizeof(err));
    struct fleet_resp r;
    if (!doc || fleet_resp_read(doc, id, &r, err, sizeof(err)) != 0) {
        m->dropped++;
        ef_val_unref(doc);
        return;
    }
    for (struct mgr_cmd **pp = &m->cmds; *pp; pp = &(*pp)->next) {
        struct mgr_cmd *c = *pp;
        if (!strcmp(c->id, r.id) && !strcmp(c->device, id)) {
            *pp = c->next;
            api__cmd_done(m, c, doc);
            break;
        }
    }
    ef_val_unref(doc);
}

/* ---- broker identities (mosquitto's dynamic security plugin) ---- */

#define DYNSEC_TOPIC "$CONTROL/dynamic-security/v1"
#define DYNSEC_DELETE_MS 3000 /* time for a revoked device to receive its revoked document */

static void dynsec_send(struct mgr *m, struct ef_val *cmds)
{
    struct ef_val *o = ef_val_obj();
    ef_val_obj_set_take(o, "commands", cmds);
    size_t len;
    char *text = ef_json_print(o, 0, &len);
    ef_val_unref(o);
    if (!text || fleet_mqtt_publish(m->mq, DYNSEC_TOPIC, text, len, 1, false) != 0) {
        ef_log_warn("fleet: dynamic security command not queued");
    }
    free(text);
}

static struct ef_val *dynsec_acl(const char *type, const char *prefix, const char *id,
                                 const char *kind)
{
    struct ef_val *a = ef_val_obj();
    ef_val_obj_set_take(a, "acltype", ef_val_str(type));
    ef_val_obj_set_take(a, "topic",
                        id ? ef_val_strf("%s/d/%s/%s", prefix, id, kind)
                           : ef_val_strf("%s/%s", prefix, kind));
    ef_val_obj_set_take(a, "allow", ef_val_bool(true));
    return a;
}

void mgr_dynsec_enrol(struct mgr *m, const char *id, const char *password)
{
    if (!m->dynsec) {
        return;
    }
    /* mosquitto 2.0's ACLs do not substitute %u: one role per device with its own topics */
    char role[FLEET_MAX_ID + 32];
    snprintf(role, sizeof(role), "edgeflow-device-%s", id);
    struct ef_val *acls = ef_val_arr();
    ef_val_arr_push_take(acls, dynsec_acl("publishClientSend", m->prefix, id, "state"));
    ef_val_arr_push_take(acls, dynsec_acl("publishClientSend", m->prefix, id, "hb"));
    ef_val_arr_push_take(acls, dynsec_acl("publishClientSend", m->prefix, id, "resp"));
    ef_val_arr_push_take(acls, dynsec_acl("subscribeLiteral", m->prefix, id, "desired"));
    ef_val_arr_push_take(acls, dynsec_acl("subscribeLiteral", m->prefix, id, "cmd"));
    ef_val_arr_push_take(acls, dynsec_acl("subscribeLiteral", m->prefix, NULL, "manager"));
    struct ef_val *cmds = ef_val_arr();
    struct ef_val *c = ef_val_obj();
    ef_val_obj_set_take(c, "command", ef_val_str("createRole"));
    ef_val_obj_set_take(c, "rolename", ef_val_str(role));
    ef_val_obj_set_take(c, "acls", acls);
    ef_val_arr_push_take(cmds, c);
    struct ef_val *roles = ef_val_arr();
    struct ef_val *r = ef_val_obj();
    ef_val_obj_set_take(r, "rolename", ef_val_str(role));
    ef_val_arr_push_take(roles, r);
    c = ef_val_obj();
    ef_val_obj_set_take(c, "command", ef_val_str("createClient"));
    ef_val_obj_set_take(c, "username", ef_val_str(id));
    ef_val_obj_set_take(c, "clientid", ef_val_str(id));
    ef_val_obj_set_take(c, "password", ef_val_str(password));
    ef_val_obj_set_take(c, "roles", roles);
    ef_val_arr_push_take(cmds, c);
    /* a device enrolling again: the client exists, its password changes */
    c = ef_val_obj();
    ef_val_obj_set_take(c, "command", ef_val_str("setClientPassword"));
    ef_val_obj_set_take(c, "username", ef_val_str(id));
    ef_val_obj_set_take(c, "password", ef_val_str(password));
    ef_val_arr_push_take(cmds, c);
    dynsec_send(m, cmds);
}

void mgr_dynsec_revoke(struct mgr *m, const char *id)
{
    if (!m->dynsec) {
        return;
    }
    struct mgr_dynsec_del *d = calloc(1, sizeof(*d));
    if (!d) {
        return;
    }
    snprintf(d->id, sizeof(d->id), "%s", id);
    d->at = mgr_now() + DYNSEC_DELETE_MS;
    d->next = m->dynsec_dels;
    m->dynsec_dels = d;
}

/* Deletes the clients and roles of revoked devices whose time has come. */
static void dynsec_tick(struct mgr *m, int64_t now)
{
    struct mgr_dynsec_del **pp = &m->dynsec_dels;
    while (*pp) {
        struct mgr_dynsec_del *d = *pp;
        if (now < d->at) {
            pp = &d->next;
            continue;
        }
        *pp = d->next;
        struct ef_val *cmds = ef_val_arr();
        struct ef_val *c = ef_val_obj();
        ef_val_obj_set_take(c, "command", ef_val_str("deleteClient"));
        ef_val_obj_set_take(c, "username", ef_val_str(d->id));
        ef_val_arr_push_take(cmds, c);
        c = ef_val_obj();
        ef_val_obj_set_take(c, "command", ef_val_str("deleteRole"));
        ef_val_obj_set_take(c, "rolename", ef_val_strf("edgeflow-device-%s", d->id));
        ef_val_arr_push_take(cmds, c);
        dynsec_send(m, cmds);
        ef_log_info("fleet: broker identity of revoked device %s deleted", d->id);
        free(d);
    }
}

/* The plugin's answers: failures are logged (an existing client on re-enrolment is expected). */
static void dynsec_response(const uint8_t *payload, size_t len)
{
    struct ef_val *v = ef_json_parse((const char *)payload, len, NULL, 0);
    const struct ef_val *rs = ef_val_obj_get(v, "responses");
    for (size_t i = 0; i < ef_val_arr_len(rs); i++) {
        const struct ef_val *r = ef_val_arr_at(rs, i);
        const struct ef_val *e = ef_val_obj_get(r, "error");
        const char *cmd = ef_val_str_get(ef_val_obj_get(r, "command"));
        if (e && !strstr(ef_val_str_get(e), "already exists")) {
            ef_log_warn("fleet: dynamic security %s: %s", cmd, ef_val_str_get(e));
        }
    }
    ef_val_unref(v);
}

static void mq_message(void *ud, const char *topic, const uint8_t *payload, size_t len,
                       bool retained)
{
    (void)retained;
    struct mgr *m = ud;
    if (m->dynsec && !strcmp(topic, DYNSEC_TOPIC "/response")) {
        dynsec_response(payload, len);
        return;
    }
    char id[FLEET_MAX_ID + 1];
    enum fleet_topic_kind kind;
    if (fleet_topic_parse(topic, m->prefix, id, &kind) != 0 || len > FLEET_MAX_MSG) {
        m->dropped++;
        return;
    }
    switch (kind) {
    case FLEET_TOPIC_STATE: on_state(m, id, (const char *)payload, len); break;
    case FLEET_TOPIC_HB: on_hb(m, id, (const char *)payload, len); break;
    case FLEET_TOPIC_RESP: on_resp(m, id, (const char *)payload, len); break;
    default: break;
    }
}

static void mq_connect(void *ud)
{
    struct mgr *m = ud;
    if (!m->connected) {
        m->connected_at = mgr_now();
    }
    m->connected = true;
    char topic[FLEET_MAX_TOPIC], body[96];
    fleet_topic_manager(topic, sizeof(topic), m->prefix);
    int n = snprintf(body, sizeof(body), "{\"online\":true,\"ts\":%lld}", (long long)mgr_now());
    fleet_mqtt_publish(m->mq, topic, body, (size_t)n, 1, true);
    ef_log_info("fleet: connected to %s", m->broker_url);
}

static void mq_disconnect(void *ud, const char *reason)
{
    struct mgr *m = ud;
    if (m->connected) {
        ef_log_warn("fleet: broker connection lost: %s", reason);
    }
    m->connected = false;
}

/* ---- the periodic timer: flushes, rollouts, command timeouts, leader lock ---- */

static void on_timer(uv_timer_t *t)
{
    struct mgr *m = t->data;
    int64_t now = mgr_now();
    /*
     * Leadership (and so the rollouts) only once the broker has handed over
     * the devices' retained states: a rollout resumed before would take
     * every device for offline and rush through its waves.
     */
    if (now - m->last_leader >= LEADER_MS && m->connected && now - m->connected_at >= SETTLE_MS) {
        m->last_leader = now;
        bool leader = false;
        if (ef_store_leader_try(m->st, &leader) != 0) {
            leader = false;
        }
        if (leader && !m->leader) {
            ef_log_info("fleet: this manager drives rollouts (leader)");
            m->leader = true;
            rollouts_resume(m);
        } else if (!leader && m->leader) {
            ef_log_warn("fleet: leadership lost; rollouts left to the new leader");
            m->leader = false;
            rollouts_drop(m);
        }
    }
    if (m->leader) {
        rollouts_tick(m, now);
    }
    dynsec_tick(m, now);
    struct mgr_cmd **pp = &m->cmds;
    while (*pp) {
        struct mgr_cmd *c = *pp;
        if (now >= c->deadline) {
            *pp = c->next;
            api__cmd_done(m, c, NULL);
        } else {
            pp = &c->next;
        }
    }
    if (now - m->last_flush >= FLUSH_MS) {
        m->last_flush = now;
        flush_live(m);
    }
}

/* ---- snapshots ---- */

static int put_blob(struct mgr *m, struct ef_val *files, const char *path, const void *data,
                    size_t len, char *err, size_t errlen)
{
    char sha[65];
    if (ef_store_blob_put(m->st, data, len, sha, NULL) != 0) {
        snprintf(err, errlen, "%s not stored: %s", path, ef_store_errmsg(m->st));
        return EF_EIO;
    }
    struct ef_val *f = ef_val_obj();
    ef_val_obj_set_take(f, "path", ef_val_str(path));
    ef_val_obj_set_take(f, "sha256", ef_val_str(sha));
    ef_val_obj_set_take(f, "size", ef_val_num((double)len));
    ef_val_arr_push_take(files, f);
    return 0;
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const struct fleet_file *)a)->path, ((const struct fleet_file *)b)->path);
}

int mgr_snapshot_create(struct mgr *m, const char *group, const char *description,
                        const char *author, const struct ef_val *flows,
                        const struct ef_val *credentials, const struct ef_val *env,
                        const struct ef_val *files, struct ef_store_snapshot *out, bool *created,
                        char *err, size_t errlen)
{
    struct ef_store_group g = {0};
    if (ef_store_group_get(m->st, group, &g) != 0) {
        snprintf(err, errlen, "no group %s", group);
        return EF_ENOENT;
    }
    if (ef_val_type(flows) != EF_ARR) {
        ef_store_group_clear(&g);
        snprintf(err, errlen, "flows must be an array");
        return EF_EINVAL;
    }
    /* credentials: the nodes' own members, then the `credentials` object over them */
    struct ef_val *creds = ef_val_obj();
    struct ef_val *clean = ef_val_arr();
    for (size_t i = 0; i < ef_val_arr_len(flows); i++) {
        struct ef_val *n = ef_val_arr_at(flows, i);
        const struct ef_val *c = ef_val_obj_get(n, "credentials");
        if (ef_val_type(n) != EF_OBJ || !c) {
            ef_val_arr_push_take(clean, ef_val_ref(n));
            continue;
        }
        if (ef_val_type(c) == EF_OBJ && ef_val_obj_len(c) > 0) {
            ef_val_obj_set_take(creds, ef_val_str_get(ef_val_obj_get(n, "id")),
                                ef_val_ref((struct ef_val *)c));
        }
        struct ef_val *copy = ef_val_obj();
        for (size_t k = 0; k < ef_val_obj_len(n); k++) {
            size_t kl;
            const char *key = ef_val_obj_key_at(n, k, &kl);
            if (strcmp(key, "credentials") != 0) {
                ef_val_obj_setn_take(copy, key, kl, ef_val_ref(ef_val_obj_val_at(n, k)));
            }
        }
        ef_val_arr_push_take(clean, copy);
    }
    for (size_t k = 0; ef_val_type(credentials) == EF_OBJ && k < ef_val_obj_len(credentials); k++) {
        size_t kl;
        const char *key = ef_val_obj_key_at(credentials, k, &kl);
        ef_val_obj_setn_take(creds, key, kl, ef_val_ref(ef_val_obj_val_at(credentials, k)));
    }
    struct ef_val *flist = ef_val_arr();
    int rc = 0;
    size_t len;
    char *text = ef_json_print(clean, EF_JSON_PRETTY, &len);
    ef_val_unref(clean);
    rc = text ? put_blob(m, flist, "flows.json", text, len, err, errlen) : EF_ENOMEM;
    free(text);
    if (rc == 0 && ef_val_obj_len(creds) > 0) {
        text = server__encrypt_credentials(g.credential_secret, creds, &len);
        rc = text ? put_blob(m, flist, "flows_cred.json", text, len, err, errlen) : EF_ENOMEM;
        free(text);
    }
    for (size_t i = 0; rc == 0 && i < ef_val_arr_len(files); i++) {
        const struct ef_val *f = ef_val_arr_at(files, i);
        const char *path = ef_val_str_get(ef_val_obj_get(f, "path"));
        const char *content = ef_val_str_get(ef_val_obj_get(f, "content"));
        if (!fleet_path_valid(path) || !strcmp(path, "flows.json") ||
            !strcmp(path, "flows_cred.json") || has_file(flist, path)) {
            snprintf(err, errlen, "files[%zu]: bad or duplicate path '%s'", i, path);
            rc = EF_EINVAL;
            break;
        }
        size_t clen = strlen(content);
        uint8_t *bytes = malloc(clen / 4 * 3 + 3);
        size_t blen = 0;
        if (!bytes || fleet_b64_decode(content, clen, bytes, clen / 4 * 3 + 3, &blen) != 0) {
            snprintf(err, errlen, "files[%zu] (%s): content is not base64", i, path);
            rc = EF_EINVAL;
        } else {
            rc = put_blob(m, flist, path, bytes, blen, err, errlen);
        }
        free(bytes);
    }
    ef_val_unref(creds);
    if (rc == 0 && ef_val_arr_len(flist) > FLEET_MAX_FILES) {
        snprintf(err, errlen, "more than %d files", FLEET_MAX_FILES);
        rc = EF_EINVAL;
    }
    const struct ef_val *use_env = env ? env : g.env;
    for (size_t k = 0; rc == 0 && k < ef_val_obj_len(use_env); k++) {
        if (ef_val_type(ef_val_obj_val_at(use_env, k)) != EF_STR) {
            snprintf(err, errlen, "env values must be strings");
            rc = EF_EINVAL;
        }
    }
    if (rc == 0 && ef_val_type(use_env) != EF_OBJ) {
        snprintf(err, errlen, "env must be an object of strings");
        rc = EF_EINVAL;
    }
    char id[65];
    size_t nf = ef_val_arr_len(flist);
    struct fleet_file *ff = nf ? calloc(nf, sizeof(*ff)) : NULL;
    if (rc == 0) {
        for (size_t i = 0; i < nf; i++) {
            const struct ef_val *f = ef_val_arr_at(flist, i);
            ff[i].path = ef_val_str_get(ef_val_obj_get(f, "path"));
            ff[i].sha256 = ef_val_str_get(ef_val_obj_get(f, "sha256"));
            ff[i].size = (uint64_t)ef_val_num_get(ef_val_obj_get(f, "size"));
        }
        qsort(ff, nf, sizeof(*ff), cmp_file);
        rc = fleet_snapshot_id(ff, nf, use_env, id, err, errlen);
    }
    if (rc == 0) {
        /* files sorted by path, as the store keeps them */
        struct ef_val *sorted = ef_val_arr();
        for (size_t i = 0; i < nf; i++) {
            struct ef_val *f = ef_val_obj();
            ef_val_obj_set_take(f, "path", ef_val_str(ff[i].path));
            ef_val_obj_set_take(f, "sha256", ef_val_str(ff[i].sha256));
            ef_val_obj_set_take(f, "size", ef_val_num((double)ff[i].size));
            ef_val_arr_push_take(sorted, f);
        }
        struct ef_store_snapshot s = {.id = id,
                                      .group = (char *)group,
                                      .description = (char *)(description ? description : ""),
                                      .author = (char *)(author ? author : ""),
                                      .ts = mgr_now(),
                                      .env = (struct ef_val *)use_env,
                                      .files = sorted};
        rc = ef_store_snapshot_put(m->st, &s, out, created);
        if (rc != 0) {
            snprintf(err, errlen, "snapshot not stored: %s", ef_store_errmsg(m->st));
        }
        ef_val_unref(sorted);
    }
    free(ff);
    ef_val_unref(flist);
    ef_store_group_clear(&g);
    return rc;
}

static bool file_sha(const struct ef_val *files, const char *path, const char **sha)
{
    for (size_t i = 0; i < ef_val_arr_len(files); i++) {
        const struct ef_val *f = ef_val_arr_at(files, i);
        if (!strcmp(ef_val_str_get(ef_val_obj_get(f, "path")), path)) {
            *sha = ef_val_str_get(ef_val_obj_get(f, "sha256"));
            return true;
        }
    }
    return false;
}

struct ef_val *mgr_snapshot_flows(struct mgr *m, const struct ef_store_snapshot *s, bool creds)
{
    const char *sha;
    void *data = NULL;
    size_t len = 0;
    if (!file_sha(s->files, "flows.json", &sha) ||
        ef_store_blob_get(m->st, sha, &data, &len) != 0) {
        return NULL;
    }
    struct ef_val *flows = ef_json_parse(data, len, NULL, 0);
    free(data);
    if (!creds || ef_val_type(flows) != EF_ARR || !file_sha(s->files, "flows_cred.json", &sha) ||
        ef_store_blob_get(m->st, sha, &data, &len) != 0) {
        return flows;
    }
    struct ef_store_group g = {0};
    struct ef_val *cv = NULL;
    if (ef_store_group_get(m->st, s->group, &g) == 0) {
        cv = server__decrypt_credentials(g.credential_secret, data, len);
    }
    free(data);
    ef_store_group_clear(&g);
    if (!cv) {
        return flows;
    }
    struct ef_val *out = ef_val_arr();
    for (size_t i = 0; i < ef_val_arr_len(flows); i++) {
        struct ef_val *n = ef_val_arr_at(flows, i);
        const struct ef_val *c = ef_val_obj_get(cv, ef_val_str_get(ef_val_obj_get(n, "id")));
        if (c && ef_val_type(n) == EF_OBJ) {
            struct ef_val *copy = ef_val_copy(n);
            ef_val_obj_set_take(copy, "credentials", ef_val_ref((struct ef_val *)c));
            ef_val_arr_push_take(out, copy);
        } else {
            ef_val_arr_push_take(out, ef_val_ref(n));
        }
    }
    ef_val_unref(cv);
    ef_val_unref(flows);
    return out;
}

/* ---- authoring seam (server hooks) ---- */

static int author_save(void *ud, const struct ef_val *flows, const char *user, char *err,
                       size_t errlen)
{
    struct mgr *m = ud;
    char *group = NULL;
    if (ef_store_authoring_get(m->st, &group) != 0) {
        snprintf(err, errlen,
                 "no authoring group: choose one with PUT /fleet/v1/authoring {\"group\":...}");
        return -1;
    }
    struct ef_store_snapshot s = {0};
    bool created = false;
    if (!strcmp(user, "-")) {
        user = "anonymous"; /* no adminAuth */
    }
    int rc = mgr_snapshot_create(m, group, "deployed from the editor", user, flows, NULL, NULL,
                                 NULL, &s, &created, err, errlen);
    if (rc == 0) {
        ef_log_info("fleet: editor deploy saved snapshot %s v%lld of group %s", s.id,
                    (long long)s.version, group);
        struct ef_val *d = ef_val_obj();
        ef_val_obj_set_take(d, "snapshot", ef_val_str(s.id));
        ef_val_obj_set_take(d, "version", ef_val_num((double)s.version));
        ef_val_obj_set_take(d, "created", ef_val_bool(created));
        char target[160];
        snprintf(target, sizeof(target), "group:%s", group);
        mgr_audit(m, user, "snapshot.create", target, d);
    }
    ef_store_snapshot_clear(&s);
    free(group);
    return rc;
}

static struct ef_val *author_load(void *ud)
{
    struct mgr *m = ud;
    char *group = NULL;
    if (ef_store_authoring_get(m->st, &group) != 0) {
        return NULL;
    }
    struct ef_store_snapshot s = {0};
    struct ef_val *flows = NULL;
    if (ef_store_snapshot_latest(m->st, group, &s) == 0) {
        flows = mgr_snapshot_flows(m, &s, true);
    }
    ef_store_snapshot_clear(&s);
    free(group);
    return flows;
}

static bool hook_route(void *ud, struct srv_conn *c)
{
    return api__route(ud, c);
}

static void hook_closed(void *ud, struct srv_conn *c)
{
    struct mgr *m = ud;
    for (struct mgr_cmd *cmd = m->cmds; cmd; cmd = cmd->next) {
        if (cmd->conn == c) {
            cmd->conn = NULL; /* the answer has nowhere to go */
        }
    }
}

/* ---- command line ---- */

static const char *const usage =
    "usage: edgeflow manager [--data-dir DIR] [--store URL] [--broker URL]\n"
    "                        [--broker-user NAME] [--broker-password TEXT]\n"
    "                        [--device-broker URL] [--port N] [--host ADDR]\n"
    "                        [--settings FILE] [--public-url URL] [--topic-prefix P]\n"
    "                        [--heartbeat SECONDS] [--dynsec] [--log-level LEVEL]\n"
    "       edgeflow manager token-create NAME [--read] [--data-dir DIR] [--store URL]\n";

struct mgr_cli {
    const char *data_dir, *store, *broker, *broker_user, *broker_pass, *device_broker;
    const char *host, *settings, *public_url, *prefix;
    int port, heartbeat;
    const char *token_name;
    bool token_read;
    bool dynsec;
};

static int parse_cli(int argc, char **argv, struct mgr_cli *c)
{
    memset(c, 0, sizeof(*c));
    c->port = -1;
    c->heartbeat = 10;
    int i = 1;
    if (argc > 1 && !strcmp(argv[1], "token-create")) {
        if (argc < 3 || argv[2][0] == '-') {
            return -1;
        }
        c->token_name = argv[2];
        i = 3;
    }
    for (; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **dst = NULL;
        if (!strcmp(a, "--read")) {
            c->token_read = true;
            continue;
        }
        if (!strcmp(a, "--dynsec")) {
            c->dynsec = true;
            continue;
        }
        if (!strcmp(a, "--data-dir")) {
            dst = &c->data_dir;
        } else if (!strcmp(a, "--store")) {
            dst = &c->store;
        } else if (!strcmp(a, "--broker")) {
            dst = &c->broker;
        } else if (!strcmp(a, "--broker-user")) {
            dst = &c->broker_user;
        } else if (!strcmp(a, "--broker-password")) {
            dst = &c->broker_pass;
        } else if (!strcmp(a, "--device-broker")) {
            dst = &c->device_broker;
        } else if (!strcmp(a, "--host")) {
            dst = &c->host;
        } else if (!strcmp(a, "--settings") || !strcmp(a, "-s")) {
            dst = &c->settings;
        } else if (!strcmp(a, "--public-url")) {
            dst = &c->public_url;
        } else if (!strcmp(a, "--topic-prefix")) {
            dst = &c->prefix;
        } else if (!strcmp(a, "--port") || !strcmp(a, "-p") || !strcmp(a, "--heartbeat")) {
            char *end;
            long n = v ? strtol(v, &end, 10) : -1;
            if (!v || *end || n < 0 || n > 65535 || (a[2] == 'h' && n < 1)) {
                fprintf(stderr, "edgeflow manager: %s needs a number\n", a);
                return -1;
            }
            if (a[2] == 'h') {
                c->heartbeat = (int)n;
            } else {
                c->port = (int)n;
            }
            i++;
            continue;
        } else if (!strcmp(a, "--log-level")) {
            int lvl = v ? ef_log_level_parse(v) : -1;
            if (lvl < 0) {
                fprintf(stderr, "edgeflow manager: --log-level needs error, warn, info, debug "
                                "or trace\n");
                return -1;
            }
            ef_log_set_level((enum ef_log_level)lvl);
            i++;
            continue;
        } else {
            fprintf(stderr, "edgeflow manager: unknown option %s\n", a);
            return -1;
        }
        if (!v) {
            fprintf(stderr, "edgeflow manager: %s needs a value\n", a);
            return -1;
        }
        *dst = v;
        i++;
    }
    return 0;
}

static char *store_url(const struct mgr_cli *c, char *buf, size_t len)
{
    if (c->store) {
        return (char *)c->store;
    }
    snprintf(buf, len, "%s/fleet.db", c->data_dir ? c->data_dir : ".");
    return buf;
}

void mgr_random_token(char out[45])
{
    uint8_t b[32];
    randombytes_buf(b, sizeof(b));
    sodium_bin2base64(out, 45, b, sizeof(b), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(b, sizeof(b));
}

static int token_create(const struct mgr_cli *c)
{
    char buf[4096];
    struct ef_store *st;
    char err[512];
    if (ef_store_open(store_url(c, buf, sizeof(buf)), &st, err, sizeof(err)) != 0) {
        fprintf(stderr, "edgeflow manager: %s\n", err);
        return 2;
    }
    char tok[45];
    mgr_random_token(tok);
    char sha[65];
    fleet_sha256_hex(tok, strlen(tok), sha);
    struct ef_store_api_token t = {.name = (char *)c->token_name,
                                   .sha256 = sha,
                                   .permissions = (char *)(c->token_read ? "read" : "*"),
                                   .created = mgr_now()};
    int rc = ef_store_api_token_create(st, &t);
    if (rc != 0) {
        fprintf(stderr, "edgeflow manager: token %s not created: %s\n", c->token_name,
                ef_store_errmsg(st));
        ef_store_close(st);
        return 1;
    }
    struct ef_val *d = ef_val_obj();
    ef_val_obj_set_take(d, "permissions", ef_val_str(t.permissions));
    ef_store_audit_add(st, mgr_now(), "cli", "token.create", c->token_name, d);
    ef_val_unref(d);
    ef_store_close(st);
    puts(tok);
    return 0;
}

static void mgr_free(struct mgr *m)
{
    for (size_t i = 0; i < m->tab_cap; i++) {
        if (m->tab[i]) {
            ef_val_unref(m->tab[i]->result);
            free(m->tab[i]);
        }
    }
    free(m->tab);
    rollouts_drop(m);
    while (m->cmds) {
        struct mgr_cmd *c = m->cmds;
        m->cmds = c->next;
        free(c);
    }
    while (m->dynsec_dels) {
        struct mgr_dynsec_del *d = m->dynsec_dels;
        m->dynsec_dels = d->next;
        free(d);
    }
    free(m->key_b64);
    free(m->public_url);
    free(m->broker_url);
    free(m->device_broker);
    sodium_memzero(&m->key, sizeof(m->key));
}

static void timer_closed(uv_handle_t *h)
{
    (void)h;
}

int fleet_manager_main(int argc, char **argv)
{
    struct mgr_cli c;
    if (parse_cli(argc, argv, &c) != 0) {
        fputs(usage, stderr);
        return 2;
    }
    if (fleet_proto_init() != 0) {
        fprintf(stderr, "edgeflow manager: libsodium did not start\n");
        return 2;
    }
    if (c.token_name) {
        return token_create(&c);
    }
    char err[512];
    const char *dir = c.data_dir ? c.data_dir : ".";
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "edgeflow manager: cannot create %s: %s\n", dir, strerror(errno));
        return 2;
    }
    struct ef_settings *s = settings__load(c.settings, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "edgeflow manager: %s\n", err);
        return 2;
    }
    free(s->user_dir);
    s->user_dir = strdup(dir);
    if (c.host) {
        free(s->ui_host);
        s->ui_host = strdup(c.host);
    }
    s->ui_port = c.port >= 0 ? c.port : (s->ui_port > 0 ? s->ui_port : 1880);
    struct mgr m = {0};
    m.heartbeat = c.heartbeat;
    snprintf(m.prefix, sizeof(m.prefix), "%s", c.prefix ? c.prefix : FLEET_DEFAULT_PREFIX);
    char path[4096];
    snprintf(path, sizeof(path), "%s/signing.key", dir);
    bool created = false;
    if (fleet_key_load(path, true, &m.key, &created, err, sizeof(err)) != 0) {
        fprintf(stderr, "edgeflow manager: %s\n", err);
        settings__free(s);
        return 2;
    }
    m.key_b64 = fleet_key_pk_b64(&m.key);
    char sbuf[4096];
    if (ef_store_open(store_url(&c, sbuf, sizeof(sbuf)), &m.st, err, sizeof(err)) != 0) {
        fprintf(stderr, "edgeflow manager: %s\n", err);
        settings__free(s);
        mgr_free(&m);
        return 2;
    }
    m.rt = calloc(1, sizeof(*m.rt));
    if (!m.rt || runtime__init(m.rt, s, err, sizeof(err)) != 0) {
        fprintf(stderr, "edgeflow manager: %s\n", m.rt ? err : "out of memory");
        free(m.rt);
        ef_store_close(m.st);
        mgr_free(&m);
        return 2;
    }
    runtime__catch_signals(m.rt);
    load_devices(&m);
    /* the editor and REST API */
    struct ef_server_hooks hooks = {.route = hook_route,
                                    .closed = hook_closed,
                                    .save_flows = author_save,
                                    .load_flows = author_load,
                                    .ud = &m};
    snprintf(path, sizeof(path), "%s/flows.json", dir);
    /* plugins_dir "": the editor's plugins of the source tree (the Fleet sidebar tab) */
    struct ef_server_opts so = {.host = s->ui_host,
                                .port = s->ui_port,
                                .flows_path = path,
                                .plugins_dir = "",
                                .hooks = &hooks};
    m.srv = server__start(m.rt, &so, err, sizeof(err));
    int status = 0;
    if (!m.srv) {
        fprintf(stderr, "edgeflow manager: editor server: %s\n", err);
        status = 2;
        goto out;
    }
    char url[512];
    snprintf(url, sizeof(url), "http://%s:%d", *s->ui_host ? s->ui_host : "127.0.0.1",
             server__port(m.srv));
    m.public_url = strdup(c.public_url ? c.public_url : url);
    size_t pl = strlen(m.public_url);
    while (pl > 0 && m.public_url[pl - 1] == '/') {
        m.public_url[--pl] = '\0';
    }
    m.broker_url = strdup(c.broker ? c.broker : "tcp://127.0.0.1:1883");
    m.device_broker = strdup(c.device_broker ? c.device_broker : m.broker_url);
    /* MQTT */
    char will_topic[FLEET_MAX_TOPIC];
    fleet_topic_manager(will_topic, sizeof(will_topic), m.prefix);
    static const char will[] = "{\"online\":false}";
    char cid[64];
    snprintf(cid, sizeof(cid), "edgeflow-manager-%08x", randombytes_random());
    struct fleet_mqtt_opts mo = {.uri = m.broker_url,
                                 .client_id = cid,
                                 .username = c.broker_user,
                                 .password = c.broker_pass,
                                 .will_topic = will_topic,
                                 .will_payload = will,
                                 .will_len = sizeof(will) - 1,
                                 .will_retain = true,
                                 .will_qos = 1,
                                 .max_queue = 200000,
                                 .max_queue_bytes = 256u << 20,
                                 .on_connect = mq_connect,
                                 .on_disconnect = mq_disconnect,
                                 .on_message = mq_message,
                                 .ud = &m};
    m.mq = fleet_mqtt_create(&m.rt->loop, &mo, err, sizeof(err));
    if (!m.mq) {
        fprintf(stderr, "edgeflow manager: %s\n", err);
        status = 2;
        goto out;
    }
    char filter[FLEET_MAX_TOPIC];
    fleet_topic_filter(filter, sizeof(filter), m.prefix, FLEET_TOPIC_STATE);
    fleet_mqtt_subscribe(m.mq, filter, 1);
    fleet_topic_filter(filter, sizeof(filter), m.prefix, FLEET_TOPIC_HB);
    fleet_mqtt_subscribe(m.mq, filter, 0);
    fleet_topic_filter(filter, sizeof(filter), m.prefix, FLEET_TOPIC_RESP);
    fleet_mqtt_subscribe(m.mq, filter, 1);
    m.dynsec = c.dynsec;
    if (m.dynsec) {
        fleet_mqtt_subscribe(m.mq, DYNSEC_TOPIC "/response", 1);
    }
    fleet_mqtt_connect(m.mq);
    uv_timer_init(ef_loop_uv(&m.rt->loop), &m.timer);
    m.timer.data = &m;
    m.last_flush = mgr_now();
    uv_timer_start(&m.timer, on_timer, 0, 500);
    ef_log_info("edgeflow manager %s: editor and API at %s/, devices fetch from %s, %zu devices%s",
                EF_VERSION, url, m.public_url, m.ndev, created ? ", new signing key" : "");
    runtime__run(m.rt);
    uv_timer_stop(&m.timer);
    uv_close((uv_handle_t *)&m.timer, timer_closed);
    flush_live(&m);
    runtime__stop(m.rt);
out:
    if (m.mq) {
        fleet_mqtt_destroy(m.mq, 1000);
    }
    /* commands still waiting get no answer: their connections close with the server */
    while (m.cmds) {
        struct mgr_cmd *cmd = m.cmds;
        m.cmds = cmd->next;
        free(cmd);
    }
    server__stop(m.srv);
    runtime__destroy(m.rt);
    free(m.rt);
    registry__cleanup();
    ef_store_close(m.st);
    mgr_free(&m);
    return status;
}
