/*
 * api.c - the fleet manager's REST API under /fleet/v1 (the table of
 * docs/fleet-protocol.md): devices, groups, provisioning tokens, snapshots,
 * rollouts, the audit log, the authoring group, enrolment and file
 * downloads. Authorization: API tokens (`edgeflow manager token-create`),
 * the editor's session tokens when adminAuth is set ("read" = GET only),
 * device tokens for /files; every change is written to the audit log with
 * the user or token name as actor.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "auth.h"
#include "manager/manager.h"
#include "server.h"

#define API "/fleet/v1"

static void reply_err(struct srv_conn *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reply_err(struct srv_conn *c, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct ef_val *o = ef_val_obj();
    ef_val_obj_set_take(o, "error", ef_val_str(msg));
    srv_reply_json(c, status, o);
}

static int store_status(int rc)
{
    switch (rc) {
    case EF_ENOENT: return 404;
    case EF_EEXIST: return 409;
    case EF_ESTATE: return 409;
    case EF_EINVAL: return 400;
    default: return 500;
    }
}

/* The request body as a JSON object (NULL after replying 400). */
static struct ef_val *body_obj(struct srv_conn *c)
{
    char err[200];
    struct ef_val *v = c->body_len ? ef_json_parse(c->body, c->body_len, err, sizeof(err)) : NULL;
    if (!c->body_len) {
        snprintf(err, sizeof(err), "no body");
    }
    if (ef_val_type(v) != EF_OBJ) {
        reply_err(c, 400, "the body must be a JSON object (%s)", v ? "not an object" : err);
        ef_val_unref(v);
        return NULL;
    }
    return v;
}

static const char *opt_str(const struct ef_val *o, const char *key)
{
    const struct ef_val *v = ef_val_obj_get(o, key);
    return ef_val_type(v) == EF_STR ? ef_val_str_get(v) : NULL;
}

/* An object of strings (or absent). */
static bool str_obj_ok(const struct ef_val *v)
{
    if (!v) {
        return true;
    }
    if (ef_val_type(v) != EF_OBJ) {
        return false;
    }
    for (size_t i = 0; i < ef_val_obj_len(v); i++) {
        if (ef_val_type(ef_val_obj_val_at(v, i)) != EF_STR) {
            return false;
        }
    }
    return true;
}

static bool bearer(struct srv_conn *c, char *buf, size_t len)
{
    char h[600];
    if (!srv_header(c, "authorization:", h, sizeof(h))) {
        return false;
    }
    if (strncasecmp(h, "Bearer ", 7) != 0) {
        return false;
    }
    size_t l = strlen(h + 7);
    if (l >= len) {
        return false;
    }
    memcpy(buf, h + 7, l + 1);
    return l > 0;
}

/*
 * Checks the request's token; sets actor. Replies 401/403 and returns
 * false when refused.
 */
static bool authorize(struct mgr *m, struct srv_conn *c, char *actor, size_t alen)
{
    bool write = c->method != SRV_GET && c->method != SRV_HEAD;
    const char *perm = write ? "flows.write" : "flows.read";
    char tok[512];
    if (bearer(c, tok, sizeof(tok))) {
        char sha[65];
        fleet_sha256_hex(tok, strlen(tok), sha);
        struct ef_store_api_token t = {0};
        if (ef_store_api_token_get(m->st, sha, &t) == 0) {
            bool ok = !write || !strcmp(t.permissions, "*");
            snprintf(actor, alen, "token:%s", t.name);
            ef_store_api_token_clear(&t);
            if (!ok) {
                reply_err(c, 403, "token %s may only read", actor + 6);
            }
            return ok;
        }
        if (m->srv->auth) {
            const struct auth_user *u = auth__token_user(m->srv, tok, perm);
            if (u) {
                snprintf(actor, alen, "%s", auth__user_name(u));
                return true;
            }
            if (write && auth__token_user(m->srv, tok, "flows.read")) {
                reply_err(c, 403, "this user may only read");
                return false;
            }
        }
        reply_err(c, 401, "invalid or expired token");
        return false;
    }
    if (m->srv->auth) {
        const struct auth_user *u = auth__token_user(m->srv, NULL, perm);
        if (u) {
            snprintf(actor, alen, "anonymous");
            return true;
        }
        reply_err(c, 401, "a bearer token is needed");
        return false;
    }
    struct ef_store_api_token *list = NULL;
    size_t n = 0;
    ef_store_api_tokens_list(m->st, &list, &n);
    ef_store_api_token_list_free(list, n);
    if (n > 0) {
        reply_err(c, 401, "a bearer token is needed");
        return false;
    }
    snprintf(actor, alen, "anonymous");
    return true;
}

/* ---- devices ---- */

/* The store's JSON of a device with the live table's fresher fields. */
static struct ef_val *dev_json(struct mgr *m, const struct ef_store_device *d, bool detail)
{
    struct ef_val *o = ef_store_device_json(d, detail);
    struct mgr_dev *l = mgr_dev_get(m, d->id);
    if (!o || !l) {
        return o;
    }
    ef_val_obj_set_take(o, "online", ef_val_bool(l->online));
    ef_val_obj_set_take(o, "snapshot", *l->snapshot ? ef_val_str(l->snapshot) : ef_val_null());
    ef_val_obj_set_take(o, "health", *l->health ? ef_val_str(l->health) : ef_val_null());
    ef_val_obj_set_take(o, "lastSeen", ef_val_num((double)l->last_seen));
    ef_val_obj_set_take(o, "cpu", ef_val_num(l->cpu));
    ef_val_obj_set_take(o, "rss", ef_val_num((double)l->rss));
    ef_val_obj_set_take(o, "msgRate", ef_val_num(l->msg_rate));
    ef_val_obj_set_take(o, "errors", ef_val_num((double)l->errors));
    if (detail) {
        ef_val_obj_set_take(o, "result", l->result ? ef_val_ref(l->result) : ef_val_null());
    }
    return o;
}

static void get_devices(struct mgr *m, struct srv_conn *c)
{
    char group[128];
    bool g = srv_query(c, "group", group, sizeof(group)) && *group;
    struct ef_store_device *list = NULL;
    size_t n = 0;
    int rc = ef_store_devices_list(m->st, g ? group : NULL, &list, &n);
    if (rc != 0) {
        reply_err(c, store_status(rc), "%s", ef_store_errmsg(m->st));
        return;
    }
    struct ef_val *arr = ef_val_arr();
    for (size_t i = 0; i < n; i++) {
        ef_val_arr_push_take(arr, dev_json(m, &list[i], false));
    }
    ef_store_device_list_free(list, n);
    srv_reply_json(c, 200, arr);
}

static bool load_device(struct mgr *m, struct srv_conn *c, const char *id,
                        struct ef_store_device *d)
{
    int rc = ef_store_device_get(m->st, id, d);
    if (rc != 0) {
        reply_err(c, store_status(rc), rc == EF_ENOENT ? "no device %s" : "%s",
                  rc == EF_ENOENT ? id : ef_store_errmsg(m->st));
        return false;
    }
    return true;
}

static void reply_device(struct mgr *m, struct srv_conn *c, const char *id, int status)
{
    struct ef_store_device d = {0};
    if (load_device(m, c, id, &d)) {
        srv_reply_json(c, status, dev_json(m, &d, true));
    }
    ef_store_device_clear(&d);
}

/* The snapshot a group's devices should run: that of its newest completed rollout. */
static bool group_current(struct mgr *m, const char *group, char out[65])
{
    struct ef_store_rollout *list = NULL;
    size_t n = 0;
    bool ok = false;
    if (group && ef_store_rollouts_list(m->st, group, "completed", 1, &list, &n) == 0 && n > 0) {
        snprintf(out, 65, "%s", list[0].snapshot);
        ok = true;
    }
    ef_store_rollout_list_free(list, n);
    return ok;
}

static void patch_device(struct mgr *m, struct srv_conn *c, const char *id, const char *actor)
{
    struct ef_val *b = body_obj(c);
    if (!b) {
        return;
    }
    const struct ef_val *gv = ef_val_obj_get(b, "group");
    const struct ef_val *labels = ef_val_obj_get(b, "labels");
    const struct ef_val *env = ef_val_obj_get(b, "env");
    if ((gv && ef_val_type(gv) != EF_STR && ef_val_type(gv) != EF_NULL) || !str_obj_ok(labels) ||
        !str_obj_ok(env)) {
        reply_err(c, 400, "group must be a string, labels and env objects of strings");
        ef_val_unref(b);
        return;
    }
    struct ef_store_device before = {0};
    if (!load_device(m, c, id, &before)) {
        ef_val_unref(b);
        return;
    }
    const char *group = gv ? (ef_val_type(gv) == EF_NULL ? "" : ef_val_str_get(gv)) : NULL;
    int rc = ef_store_device_update(m->st, id, group, labels, env);
    if (rc != 0) {
        reply_err(c, store_status(rc), "%s", ef_store_errmsg(m->st));
        ef_store_device_clear(&before);
        ef_val_unref(b);
        return;
    }
    /* a new group: its current snapshot; new env: the same snapshot again */
    bool group_changed = group && strcmp(group, before.group ? before.group : "") != 0;
    char snap[65] = "";
    if (group_changed) {
        group_current(m, *group ? group : NULL, snap);
    } else if (env && before.desired_snapshot) {
        snprintf(snap, sizeof(snap), "%s", before.desired_snapshot);
    }
    if (*snap && !before.revoked) {
        mgr_send_desired(m, id, snap, NULL, false);
    }
    mgr_audit(m, actor, "device.update", id, ef_val_ref(b));
    ef_store_device_clear(&before);
    ef_val_unref(b);
    reply_device(m, c, id, 200);
}

static void revoke_device(struct mgr *m, struct srv_conn *c, const char *id, const char *actor)
{
    int rc = ef_store_device_revoke(m->st, id);
    if (rc != 0) {
        reply_err(c, store_status(rc), "%s",
                  rc == EF_ENOENT ? "no such device" : ef_store_errmsg(m->st));
        return;
    }
    struct mgr_dev *l = mgr_dev_get(m, id);
    if (l) {
        l->revoked = true;
    }
    mgr_send_revoked(m, id);
    mgr_dynsec_revoke(m, id);
    mgr_audit(m, actor, "device.revoke", id, NULL);
    reply_device(m, c, id, 200);
}

static void post_command(struct mgr *m, struct srv_conn *c, const char *id, const char *actor)
{
    struct ef_val *b = body_obj(c);
    if (!b) {
        return;
    }
    const char *cmd = opt_str(b, "cmd");
    const struct ef_val *args = ef_val_obj_get(b, "args");
    if (!cmd || (strcmp(cmd, "restart") && strcmp(cmd, "logs") && strcmp(cmd, "ping")) ||
        (args && ef_val_type(args) != EF_OBJ)) {
        reply_err(c, 400, "cmd must be restart, logs or ping; args an object");
        ef_val_unref(b);
        return;
    }
    struct ef_store_device d = {0};
    if (!load_device(m, c, id, &d)) {
        ef_val_unref(b);
        return;
    }
    bool revoked = d.revoked;
    ef_store_device_clear(&d);
    if (revoked) {
        reply_err(c, 409, "device %s is revoked", id);
        ef_val_unref(b);
        return;
    }
    char err[256];
    if (mgr_send_cmd(m, id, cmd, args, c, err, sizeof(err)) != 0) {
        reply_err(c, 500, "%s", err);
        ef_val_unref(b);
        return;
    }
    c->deferred = true;
    mgr_audit(m, actor, "device.command", id, ef_val_ref(b));
    ef_val_unref(b);
}

void api__cmd_done(struct mgr *m, struct mgr_cmd *cmd, const struct ef_val *resp)
{
    (void)m;
    if (cmd->conn) {
        if (resp) {
            srv_reply_json(cmd->conn, 200, ef_val_ref((struct ef_val *)resp));
        } else {
            reply_err(cmd->conn, 504, "no answer from %s within 10 s", cmd->device);
        }
    }
    free(cmd);
}

/* ---- groups ---- */

static bool name_ok(const char *s)
{
    return s && fleet_device_id_valid(s);
}

static void post_group(struct mgr *m, struct srv_conn *c, const char *actor)
{
    struct ef_val *b = body_obj(c);
    if (!b) {
        return;
    }
    const char *name = opt_str(b, "name");
    const struct ef_val *env = ef_val_obj_get(b, "env");
    if (!name_ok(name) || !str_obj_ok(env)) {
        reply_err(c, 400, "name must match ^[a-z0-9][a-z0-9_-]{0,63}$, env an object of strings");
        ef_val_unref(b);
        return;
    }
    struct ef_store_group g = {.name = (char *)name,
                               .description = (char *)opt_str(b, "description"),
                               .env = (struct ef_val *)env,
                               .created = mgr_now()};
    int rc = ef_store_group_create(m->st, &g);
    if (rc != 0) {
        reply_err(c, store_status(rc), rc == EF_EEXIST ? "group %s exists" : "%s",
                  rc == EF_EEXIST ? name : ef_store_errmsg(m->st));
        ef_val_unref(b);
        return;
    }
    char target[160];
    snprintf(target, sizeof(target), "group:%s", name);
    mgr_audit(m, actor, "group.create", target, ef_val_ref(b));
    struct ef_store_group out = {0};
    ef_store_group_get(m->st, name, &out);
    srv_reply_json(c, 201, ef_store_group_json(&out));
    ef_store_group_clear(&out);
    ef_val_unref(b);
}

static void get_group(struct mgr *m, struct srv_conn *c, const char *name)
{
    struct ef_store_group g = {0};
    int rc = ef_store_group_get(m->st, name, &g);
    if (rc != 0) {
        reply_err(c, store_status(rc), "no group %s", name);
        return;
    }
    struct ef_val *o = ef_store_group_json(&g);
    struct ef_store_snapshot s = {0};
    ef_val_obj_set_take(o, "snapshot",
                        ef_store_snapshot_latest(m->st, name, &s) == 0 ? ef_store_snapshot_json(&s)
                                                                       : ef_val_null());
    ef_store_snapshot_clear(&s);
    ef_store_group_clear(&g);
    srv_reply_json(c, 200, o);
}

static void patch_group(struct mgr *m, struct srv_conn *c, const char *name, const char *actor)
{
    struct ef_val *b = body_obj(c);
    if (!b) {
        return;
    }
    const struct ef_val *env = ef_val_obj_get(b, "env");
    const struct ef_val *desc = ef_val_obj_get(b, "description");
    if (!str_obj_ok(env) || (desc && ef_val_type(desc) != EF_STR)) {
        reply_err(c, 400, "env must be an object of strings, description a string");
        ef_val_unref(b);
        return;
    }
    int rc = ef_store_group_update(m->st, name, desc ? ef_val_str_get(desc) : NULL, env);
    if (rc != 0) {
        reply_err(c, store_status(rc), "no group %s", name);
        ef_val_unref(b);
        return;
    }
    char target[160];
    snprintf(target, sizeof(target), "group:%s", name);
    mgr_audit(m, actor, "group.update", target, ef_val_ref(b));
    ef_val_unref(b);
    get_group(m, c, name);
}

static void get_groups(struct mgr *m, struct srv_conn *c)
{
    struct ef_store_group *list = NULL;
    size_t n = 0;
    if (ef_store_groups_list(m->st, &list, &n) != 0) {
        reply_err(c, 500, "%s", ef_store_errmsg(m->st));
        return;
    }
    struct ef_val *arr = ef_val_arr();
    for (size_t i = 0; i < n; i++) {
        ef_val_arr_push_take(arr, ef_store_group_json(&list[i]));
    }
    ef_store_group_list_free(list, n);
    srv_reply_json(c, 200, arr);
}

/* ---- provisioning tokens ---- */

static void post_prov_token(struct mgr *m, struct srv_conn *c, const char *actor)
{
    struct ef_val *b = body_obj(c);
    if (!b) {
        return;
    }
    const char *group = opt_str(b, "group");
    const struct ef_val *labels = ef_val_obj_get(b, "labels");
    const struct ef_val *uses = ef_val_obj_get(b, "uses");
    const struct ef_val *exp = ef_val_obj_get(b, "expiresIn");
    if (!group || !str_obj_ok(labels) || (uses && ef_val_type(uses) != EF_NUM) ||
        (exp && ef_val_type(exp) != EF_NUM) || (uses && ef_val_num_get(uses) < -1) ||
        (uses && ef_val_num_get(uses) == 0) || (exp && ef_val_num_get(exp) < 0)) {
        reply_err(c, 400,
                  "group (string), labels (object of strings), uses (number, -1 = "
                  "unlimited), expiresIn (seconds)");
        ef_val_unref(b);
        return;
    }
    char tok[45], sha[65];
    mgr_random_token(tok);
    fleet_sha256_hex(tok, strlen(tok), sha);
    int64_t now = mgr_now();
    struct ef_store_prov_token t = {
        .sha256 = sha,
        .group = (char *)group,
        .labels = (struct ef_val *)labels,
        .uses_left = uses ? (int64_t)ef_val_num_get(uses) : 1,
        .expires = exp && ef_val_num_get(exp) > 0 ? now + (int64_t)(ef_val_num_get(exp) * 1000) : 0,
        .created = now};
    if (!labels) {
        t.labels = ef_val_obj();
    }
    int rc = ef_store_prov_token_create(m->st, &t);
    if (!labels) {
        ef_val_unref(t.labels);
    }
    if (rc != 0) {
        reply_err(c, store_status(rc), rc == EF_EINVAL ? "no group %s" : "%s",
                  rc == EF_EINVAL ? group : ef_store_errmsg(m->st));
        ef_val_unref(b);
        return;
    }
    char target[160];
    snprintf(target, sizeof(target), "group:%s", group);
    struct ef_val *d = ef_val_obj();
    ef_val_obj_set_take(d, "uses", ef_val_num((double)t.uses_left));
    ef_val_obj_set_take(d, "expires", ef_val_num((double)t.expires));
    mgr_audit(m, actor, "token.create", target, d);
    struct ef_val *o = ef_val_obj();
    ef_val_obj_set_take(o, "token", ef_val_str(tok));
    ef_val_obj_set_take(o, "group", ef_val_str(group));
    ef_val_obj_set_take(o, "uses", ef_val_num((double)t.uses_left));
    ef_val_obj_set_take(o, "expires", t.expires ? ef_val_num((double)t.expires) : ef_val_null());
    srv_reply_json(c, 201, o);
    ef_val_unref(b);
}

/* ---- snapshots ---- */

static void post_snapshot(struct mgr *m, struct srv_conn *c, const char *actor)
{
    struct ef_val *b = body_obj(c);
    if (!b) {
        return;
    }
    const char *group = opt_str(b, "group");
    const struct ef_val *flows = ef_val_obj_get(b, "flows");
    const struct ef_val *creds = ef_val_obj_get(b, "credentials");
    const struct ef_val *env = ef_val_obj_get(b, "env");
    const struct ef_val *files = ef_val_obj_get(b, "files");
    if (!group || ef_val_type(flows) != EF_ARR || (creds && ef_val_type(creds) != EF_OBJ) ||
        !str_obj_ok(env) || (files && ef_val_type(files) != EF_ARR)) {
        reply_err(c, 400,
                  "group (string) and flows (array) are needed; credentials an "
                  "object, env an object of strings, files an array");
        ef_val_unref(b);
        return;
    }
    struct ef_store_snapshot s = {0};
    bool created = false;
    char err[512];
    int rc = mgr_snapshot_create(m, group, opt_str(b, "description"), actor, flows, creds, env,
                                 files, &s, &created, err, sizeof(err));
    if (rc != 0) {
        reply_err(c, rc == EF_ENOENT ? 404 : rc == EF_EINVAL ? 400 : 500, "%s", err);
        ef_val_unref(b);
        return;
    }
    char target[160];
    snprintf(target, sizeof(target), "group:%s", group);
    struct ef_val *d = ef_val_obj();
    ef_val_obj_set_take(d, "snapshot", ef_val_str(s.id));
    ef_val_obj_set_take(d, "version", ef_val_num((double)s.version));
    ef_val_obj_set_take(d, "created", ef_val_bool(created));
    mgr_audit(m, actor, "snapshot.create", target, d);
    srv_reply_json(c, created ? 201 : 200, ef_store_snapshot_json(&s));
    ef_store_snapshot_clear(&s);
    ef_val_unref(b);
}

static void get_snapshots(struct mgr *m, struct srv_conn *c)
{
    char group[128];
    bool g = srv_query(c, "group", group, sizeof(group)) && *group;
    struct ef_store_snapshot *list = NULL;
    size_t n = 0;
    if (ef_store_snapshots_list(m->st, g ? group : NULL, &list, &n) != 0) {
        reply_err(c, 500, "%s", ef_store_errmsg(m->st));
        return;
    }
    struct ef_val *arr = ef_val_arr();
    for (size_t i = 0; i < n; i++) {
        ef_val_arr_push_take(arr, ef_store_snapshot_json(&list[i]));
    }
    ef_store_snapshot_list_free(list, n);
    srv_reply_json(c, 200, arr);
}

static void get_snapshot(struct mgr *m, struct srv_conn *c, const char *id, bool flows)
{
    struct ef_store_snapshot s = {0};
    if (ef_store_snapshot_get(m->st, id, NULL, &s) != 0) {
        reply_err(c, 404, "no snapshot %s", id);
        return;
    }
    if (flows) {
        struct ef_val *f = mgr_snapshot_flows(m, &s, false);
        if (f) {
            srv_reply_json(c, 200, f);
        } else {
            reply_err(c, 500, "the flows of snapshot %s cannot be read", id);
        }
    } else {
        srv_reply_json(c, 200, ef_store_snapshot_json(&s));
    }
    ef_store_snapshot_clear(&s);
}

/* ---- rollouts ---- */

static void reply_rollout(struct mgr *m, struct srv_conn *c, const char *id, int status)
{
    struct ef_store_rollout r = {0};
    struct ef_store_progress *pl = NULL;
    size_t n = 0;
    if (ef_store_rollout_get(m->st, id, &r) != 0) {
        reply_err(c, 404, "no rollout %s", id);
        return;
    }
    struct ef_val *o = ef_store_rollout_json(&r);
    struct ef_val *devs = ef_val_arr();
    if (ef_store_progress_list(m->st, id, &pl, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            ef_val_arr_push_take(devs, ef_store_progress_json(&pl[i]));
        }
    }
    ef_val_obj_set_take(o, "devices", devs);
    ef_store_progress_list_free(pl, n);
    ef_store_rollout_clear(&r);
    srv_reply_json(c, status, o);
}

static void get_rollouts(struct mgr *m, struct srv_conn *c)
{
    char group[128];
    bool g = srv_query(c, "group", group, sizeof(group)) && *group;
    struct ef_store_rollout *list = NULL;
    size_t n = 0;
    if (ef_store_rollouts_list(m->st, g ? group : NULL, NULL, 0, &list, &n) != 0) {
        reply_err(c, 500, "%s", ef_store_errmsg(m->st));
        return;
    }
    struct ef_val *arr = ef_val_arr();
    for (size_t i = 0; i < n; i++) {
        ef_val_arr_push_take(arr, ef_store_rollout_json(&list[i]));
    }
    ef_store_rollout_list_free(list, n);
    srv_reply_json(c, 200, arr);
}

static bool labels_match(const struct ef_val *labels, const struct ef_val *want)
{
    for (size_t i = 0; i < ef_val_obj_len(want); i++) {
        size_t kl;
        const char *k = ef_val_obj_key_at(want, i, &kl);
        const struct ef_val *have = ef_val_obj_getn(labels, k, kl);
        if (!have || strcmp(ef_val_str_get(have), ef_val_str_get(ef_val_obj_val_at(want, i)))) {
            return false;
        }
    }
    return true;
}

static bool num_opt(const struct ef_val *b, const char *key, double min, double def, double *out)
{
    const struct ef_val *v = ef_val_obj_get(b, key);
    if (!v) {
        *out = def;
        return true;
    }
    *out = ef_val_num_get(v);
    return ef_val_type(v) == EF_NUM && *out >= min && *out <= 1e9;
}

static bool has_active_rollout(struct mgr *m, const char *group)
{
    static const char *const states[] = {"running", "paused"};
    for (int i = 0; i < 2; i++) {
        struct ef_store_rollout *list = NULL;
        size_t n = 0;
        ef_store_rollouts_list(m->st, group, states[i], 1, &list, &n);
        ef_store_rollout_list_free(list, n);
        if (n) {
            return true;
        }
    }
    return false;
}

static void post_rollout(struct mgr *m, struct srv_conn *c, const char *actor)
{
    struct ef_val *b = body_obj(c);
    if (!b) {
        return;
    }
    const char *group = opt_str(b, "group");
    const char *snap = opt_str(b, "snapshot");
    const char *strategy = opt_str(b, "strategy");
    const struct ef_val *waves = ef_val_obj_get(b, "waves");
    const struct ef_val *sel = ef_val_obj_get(ef_val_obj_get(b, "selector"), "labels");
    const struct ef_val *ar = ef_val_obj_get(b, "autoRollback");
    double hs, me, fb, wt;
    struct ef_val *spec = NULL;
    struct ef_store_device *devs = NULL;
    struct ef_store_progress *rows = NULL;
    size_t nd = 0, np = 0;
    char err[256];
    if (!group || (strategy && strcmp(strategy, "all") && strcmp(strategy, "waves")) ||
        (waves && ef_val_type(waves) != EF_ARR) || !str_obj_ok(sel) ||
        (ar && ef_val_type(ar) != EF_BOOL) || !num_opt(b, "healthSeconds", 0, 10, &hs) ||
        !num_opt(b, "maxErrors", 0, 0, &me) || !num_opt(b, "failureBudget", 0, 0, &fb) ||
        !num_opt(b, "waveTimeout", 1, 120, &wt)) {
        reply_err(c, 400,
                  "group is needed; strategy all or waves; waves an array; "
                  "healthSeconds, maxErrors, failureBudget >= 0, waveTimeout >= 1; "
                  "autoRollback a boolean; selector.labels an object of strings");
        goto out;
    }
    if (has_active_rollout(m, group)) {
        reply_err(c, 409, "group %s has a rollout running or paused", group);
        goto out;
    }
    struct ef_store_snapshot s = {0};
    if (snap && !strcmp(snap, "latest")) {
        snap = NULL;
    }
    int rc = snap ? ef_store_snapshot_get(m->st, snap, group, &s)
                  : ef_store_snapshot_latest(m->st, group, &s);
    if (rc != 0) {
        reply_err(c, 404, snap ? "group %s has no snapshot %s" : "group %s has no snapshot%s",
                  group, snap ? snap : "");
        goto out;
    }
    char snap_id[65];
    snprintf(snap_id, sizeof(snap_id), "%s", s.id);
    ef_store_snapshot_clear(&s);
    /* wave targets as text */
    const char *targets[RO_WAVES_MAX];
    char tbuf[RO_WAVES_MAX][32];
    int nt = 0;
    struct ef_val *wv = ef_val_arr();
    bool all = strategy && !strcmp(strategy, "all");
    if (all) {
        ef_val_arr_push_take(wv, ef_val_str("100%"));
    } else if (waves) {
        for (size_t i = 0; i < ef_val_arr_len(waves); i++) {
            ef_val_arr_push_take(wv, ef_val_ref(ef_val_arr_at(waves, i)));
        }
    } else {
        ef_val_arr_push_take(wv, ef_val_num(1));
        ef_val_arr_push_take(wv, ef_val_str("10%"));
        ef_val_arr_push_take(wv, ef_val_str("50%"));
        ef_val_arr_push_take(wv, ef_val_str("100%"));
    }
    for (size_t i = 0; i < ef_val_arr_len(wv); i++) {
        const struct ef_val *t = ef_val_arr_at(wv, i);
        if (nt == RO_WAVES_MAX || (ef_val_type(t) != EF_NUM && ef_val_type(t) != EF_STR)) {
            reply_err(c, 400, "waves: at most %d counts or percentages", RO_WAVES_MAX);
            ef_val_unref(wv);
            goto out;
        }
        if (ef_val_type(t) == EF_NUM) {
            snprintf(tbuf[nt], sizeof(tbuf[nt]), "%.17g", ef_val_num_get(t));
        } else {
            snprintf(tbuf[nt], sizeof(tbuf[nt]), "%s", ef_val_str_get(t));
        }
        targets[nt] = tbuf[nt];
        nt++;
    }
    /* the devices: the group's, not revoked, matching the selector, by id */
    if (ef_store_devices_list(m->st, group, &devs, &nd) != 0) {
        reply_err(c, 500, "%s", ef_store_errmsg(m->st));
        ef_val_unref(wv);
        goto out;
    }
    rows = nd ? calloc(nd, sizeof(*rows)) : NULL;
    for (size_t i = 0; i < nd; i++) {
        if (devs[i].revoked || (sel && !labels_match(devs[i].labels, sel))) {
            continue;
        }
        struct mgr_dev *l = mgr_dev_get(m, devs[i].id);
        const char *from = l && *l->snapshot ? l->snapshot : devs[i].desired_snapshot;
        rows[np++] = (struct ef_store_progress){.device = devs[i].id,
                                                .status = "waiting",
                                                .from_snapshot = (char *)from,
                                                .updated = mgr_now()};
    }
    if (np == 0) {
        reply_err(c, 400, "no device of group %s matches", group);
        ef_val_unref(wv);
        goto out;
    }
    size_t ends[RO_WAVES_MAX];
    int nw = ro_plan(targets, nt, np, ends, RO_WAVES_MAX, err, sizeof(err));
    if (nw < 0) {
        reply_err(c, 400, "%s", err);
        ef_val_unref(wv);
        goto out;
    }
    for (size_t i = 0, w = 0; i < np; i++) {
        while (i >= ends[w]) {
            w++;
        }
        rows[i].wave = (int64_t)w;
    }
    spec = ef_val_obj();
    ef_val_obj_set_take(spec, "strategy", ef_val_str(all ? "all" : "waves"));
    ef_val_obj_set_take(spec, "waves", wv);
    ef_val_obj_set_take(spec, "selector",
                        sel ? ef_val_ref((struct ef_val *)ef_val_obj_get(b, "selector"))
                            : ef_val_obj());
    ef_val_obj_set_take(spec, "healthSeconds", ef_val_num(hs));
    ef_val_obj_set_take(spec, "maxErrors", ef_val_num(me));
    ef_val_obj_set_take(spec, "failureBudget", ef_val_num(fb));
    ef_val_obj_set_take(spec, "waveTimeout", ef_val_num(wt));
    ef_val_obj_set_take(spec, "autoRollback", ef_val_bool(ar ? ef_val_bool_get(ar) : true));
    struct ef_store_rollout r = {.group = (char *)group,
                                 .snapshot = snap_id,
                                 .spec = spec,
                                 .state = "running",
                                 .actor = (char *)actor,
                                 .created = mgr_now()};
    char *id = NULL;
    if (ef_store_rollout_create(m->st, &r, rows, np, &id) != 0) {
        reply_err(c, 500, "%s", ef_store_errmsg(m->st));
        goto out;
    }
    struct ef_val *d = ef_val_ref(spec);
    mgr_audit(m, actor, "rollout.start", id, d);
    if (mgr_rollout_start(m, id, err, sizeof(err)) != 0) {
        ef_log_warn("fleet: rollout %s not started: %s", id, err);
    }
    reply_rollout(m, c, id, 201);
    free(id);
out:
    free(rows);
    ef_store_device_list_free(devs, nd);
    ef_val_unref(spec);
    ef_val_unref(b);
}

static void rollout_action(struct mgr *m, struct srv_conn *c, const char *id, const char *action,
                           const char *actor)
{
    char err[256];
    struct mgr_rollout *mr = mgr_rollout_open(m, id, err, sizeof(err));
    if (!mr) {
        reply_err(c, m->leader ? 404 : 409, "%s", err);
        return;
    }
    int rc;
    int64_t now = mgr_now();
    if (!strcmp(action, "pause")) {
        rc = ro_pause(&mr->ro, err, sizeof(err));
    } else if (!strcmp(action, "resume")) {
        rc = ro_resume(&mr->ro, now, err, sizeof(err));
    } else if (!strcmp(action, "cancel")) {
        rc = ro_cancel(&mr->ro, err, sizeof(err));
    } else {
        char why[160];
        snprintf(why, sizeof(why), "rolled back by %s", actor);
        rc = ro_rollback(&mr->ro, why, err, sizeof(err));
    }
    if (rc != 0) {
        reply_err(c, 409, "%s", err);
        return;
    }
    char act[32];
    snprintf(act, sizeof(act), "rollout.%s", action);
    mgr_audit(m, actor, act, id, NULL);
    reply_rollout(m, c, id, 200);
}

/* ---- audit, authoring ---- */

static void get_audit(struct mgr *m, struct srv_conn *c)
{
    char buf[32];
    size_t limit = 100;
    if (srv_query(c, "limit", buf, sizeof(buf))) {
        char *end;
        long l = strtol(buf, &end, 10);
        if (*end || l < 1 || l > 10000) {
            reply_err(c, 400, "limit must be 1..10000");
            return;
        }
        limit = (size_t)l;
    }
    struct ef_store_audit *list = NULL;
    size_t n = 0;
    if (ef_store_audit_list(m->st, limit, &list, &n) != 0) {
        reply_err(c, 500, "%s", ef_store_errmsg(m->st));
        return;
    }
    struct ef_val *arr = ef_val_arr();
    for (size_t i = 0; i < n; i++) {
        ef_val_arr_push_take(arr, ef_store_audit_json(&list[i]));
    }
    ef_store_audit_list_free(list, n);
    srv_reply_json(c, 200, arr);
}

static void authoring(struct mgr *m, struct srv_conn *c, const char *actor)
{
    if (c->method == SRV_PUT) {
        struct ef_val *b = body_obj(c);
        if (!b) {
            return;
        }
        const char *group = opt_str(b, "group");
        int rc = group ? ef_store_authoring_set(m->st, group) : EF_EINVAL;
        if (rc != 0) {
            reply_err(c, rc == EF_EINVAL ? 400 : store_status(rc),
                      rc == EF_EINVAL ? "group (string) is needed" : "no group %s",
                      group ? group : "");
            ef_val_unref(b);
            return;
        }
        mgr_audit(m, actor, "authoring.set", group, NULL);
        ef_val_unref(b);
    }
    char *group = NULL;
    struct ef_val *o = ef_val_obj();
    ef_val_obj_set_take(
        o, "group", ef_store_authoring_get(m->st, &group) == 0 ? ef_val_str(group) : ef_val_null());
    free(group);
    srv_reply_json(c, 200, o);
}

/* ---- enrolment and files (device side) ---- */

static void merge_labels(struct ef_val *into, const struct ef_val *from)
{
    for (size_t i = 0; i < ef_val_obj_len(from); i++) {
        size_t kl;
        const char *k = ef_val_obj_key_at(from, i, &kl);
        ef_val_obj_setn_take(into, k, kl, ef_val_ref(ef_val_obj_val_at(from, i)));
    }
}

static void enrol(struct mgr *m, struct srv_conn *c)
{
    struct ef_val *b = body_obj(c);
    if (!b) {
        return;
    }
    const char *token = opt_str(b, "token");
    const char *name = opt_str(b, "name");
    const char *pk = opt_str(b, "publicKey");
    const char *proof = opt_str(b, "proof");
    const struct ef_val *labels = ef_val_obj_get(b, "labels");
    const char *version = opt_str(b, "agentVersion");
    uint8_t pkb[FLEET_PK_BYTES];
    size_t pklen = 0;
    struct ef_store_prov_token t = {0};
    struct ef_store_device old = {0};
    struct ef_val *lab = NULL;
    if (!token || !name || !pk || !proof || !str_obj_ok(labels) ||
        fleet_b64_decode(pk, strlen(pk), pkb, sizeof(pkb), &pklen) != 0 ||
        pklen != FLEET_PK_BYTES) {
        reply_err(c, 400, "token, name, publicKey (base64 of 32 bytes) and proof are needed");
        goto out;
    }
    if (fleet_enrol_proof_verify(token, pk, proof) != 0) {
        reply_err(c, 401, "the proof does not verify with this public key");
        goto out;
    }
    bool known = ef_store_device_by_key(m->st, pk, &old) == 0;
    if (known && old.revoked) {
        reply_err(c, 409, "device %s is revoked", old.id);
        goto out;
    }
    char sha[65];
    fleet_sha256_hex(token, strlen(token), sha);
    int rc = ef_store_prov_token_consume(m->st, sha, mgr_now(), &t);
    if (rc != 0) {
        reply_err(c, rc == EF_EIO ? 500 : 401,
                  rc == EF_ESTATE ? "the provisioning token is expired or used up"
                                  : "unknown provisioning token");
        goto out;
    }
    lab = ef_val_obj();
    merge_labels(lab, t.labels);
    merge_labels(lab, labels);
    char dtok[45], dsha[65];
    mgr_random_token(dtok);
    fleet_sha256_hex(dtok, strlen(dtok), dsha);
    char id[FLEET_MAX_ID + 1];
    if (known) {
        snprintf(id, sizeof(id), "%s", old.id);
        rc = ef_store_device_reenrol(m->st, id, dsha, lab, version);
    } else {
        /* its name when valid and free, else the name (or "device") and 6 random hex digits */
        char base[FLEET_MAX_ID + 1];
        size_t bl = 0;
        for (const char *p = name; *p && bl < FLEET_MAX_ID - 7; p++) {
            char ch = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
            if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                (bl > 0 && (ch == '-' || ch == '_'))) {
                base[bl++] = ch;
            }
        }
        base[bl] = '\0';
        if (!bl) {
            snprintf(base, sizeof(base), "device");
        }
        bool use_name = fleet_device_id_valid(name);
        rc = EF_EEXIST;
        for (int attempt = 0; attempt < 8 && rc == EF_EEXIST; attempt++) {
            if (use_name && attempt == 0) {
                snprintf(id, sizeof(id), "%s", name);
            } else {
                snprintf(id, sizeof(id), "%.56s-%06x", base,
                         (unsigned)randombytes_uniform(0x1000000) & 0xffffffu);
            }
            struct ef_store_device d = {.id = id,
                                        .name = (char *)name,
                                        .group = t.group,
                                        .labels = lab,
                                        .env = NULL,
                                        .public_key = (char *)pk,
                                        .token_sha256 = dsha,
                                        .agent_version = (char *)version,
                                        .enrolled = mgr_now()};
            struct ef_val *env = ef_val_obj();
            d.env = env;
            rc = ef_store_device_insert(m->st, &d);
            ef_val_unref(env);
        }
    }
    if (rc != 0) {
        reply_err(c, 500, "device not stored: %s", ef_store_errmsg(m->st));
        goto out;
    }
    struct mgr_dev *l = mgr_dev_add(m, id);
    if (l) {
        l->revoked = false;
    }
    mgr_dynsec_enrol(m, id, dtok);
    struct ef_val *d = ef_val_obj();
    ef_val_obj_set_take(d, "group", t.group ? ef_val_str(t.group) : ef_val_null());
    ef_val_obj_set_take(d, "again", ef_val_bool(known));
    mgr_audit(m, "enrolment", "device.enrol", id, d);
    ef_log_info("fleet: %s %s (group %s)", known ? "re-enrolled" : "enrolled", id,
                t.group ? t.group : "-");
    struct ef_val *o = ef_val_obj();
    ef_val_obj_set_take(o, "deviceId", ef_val_str(id));
    ef_val_obj_set_take(o, "group", t.group ? ef_val_str(t.group) : ef_val_null());
    struct ef_val *br = ef_val_obj();
    ef_val_obj_set_take(br, "url", ef_val_str(m->device_broker));
    ef_val_obj_set_take(br, "clientId", ef_val_str(id));
    ef_val_obj_set_take(br, "username", ef_val_str(id));
    ef_val_obj_set_take(br, "password", ef_val_str(dtok));
    ef_val_obj_set_take(o, "broker", br);
    ef_val_obj_set_take(o, "managerKey", ef_val_str(m->key_b64));
    ef_val_obj_set_take(o, "topicPrefix", ef_val_str(m->prefix));
    char url[1024];
    snprintf(url, sizeof(url), "%s/fleet/v1/files/", m->public_url);
    ef_val_obj_set_take(o, "filesUrl", ef_val_str(url));
    srv_reply_json(c, 201, o);
    /* a new device of a group that runs a snapshot gets it at once */
    char snap[65];
    if (!known && group_current(m, t.group, snap)) {
        mgr_send_desired(m, id, snap, NULL, false);
    }
out:
    ef_val_unref(lab);
    ef_store_prov_token_clear(&t);
    ef_store_device_clear(&old);
    ef_val_unref(b);
}

static void get_file(struct mgr *m, struct srv_conn *c, const char *sha)
{
    char tok[512], tsha[65];
    struct ef_store_device d = {0};
    if (!bearer(c, tok, sizeof(tok))) {
        reply_err(c, 401, "a device token is needed");
        return;
    }
    fleet_sha256_hex(tok, strlen(tok), tsha);
    if (ef_store_device_by_token(m->st, tsha, &d) != 0 || d.revoked) {
        ef_store_device_clear(&d);
        reply_err(c, 401, "invalid or revoked device token");
        return;
    }
    ef_store_device_clear(&d);
    void *data = NULL;
    size_t len = 0;
    if (!fleet_sha256_valid(sha) || ef_store_blob_get(m->st, sha, &data, &len) != 0) {
        reply_err(c, 404, "no file %s", sha);
        return;
    }
    srv_reply(c, 200, "application/octet-stream", data, len);
}

/* ---- routing ---- */

/* Matches "/a/:x/b" against path (both without the API prefix); captures into p. */
static bool match(const char *pattern, const char *path, char p[][128], int max)
{
    int n = 0;
    while (*pattern && *path) {
        if (*pattern == ':') {
            while (*pattern && *pattern != '/') {
                pattern++;
            }
            size_t l = strcspn(path, "/");
            if (n == max || l == 0 || l >= 128) {
                return false;
            }
            memcpy(p[n], path, l);
            p[n++][l] = '\0';
            path += l;
        } else if (*pattern++ != *path++) {
            return false;
        }
    }
    return !*pattern && !*path;
}

bool api__route(struct mgr *m, struct srv_conn *c)
{
    if (strncmp(c->path, API "/", sizeof(API)) != 0) {
        return false;
    }
    const char *path = c->path + sizeof(API) - 1;
    enum srv_method me = c->method == SRV_HEAD ? SRV_GET : c->method;
    char p[2][128];
    if (!strcmp(path, "/enrol")) {
        if (me != SRV_POST) {
            reply_err(c, 405, "POST only");
        } else {
            enrol(m, c);
        }
        return true;
    }
    if (match("/files/:sha", path, p, 2)) {
        if (me != SRV_GET) {
            reply_err(c, 405, "GET only");
        } else {
            get_file(m, c, p[0]);
        }
        return true;
    }
    char actor[160];
    if (!authorize(m, c, actor, sizeof(actor))) {
        return true;
    }
    if (!strcmp(path, "/devices") && me == SRV_GET) {
        get_devices(m, c);
    } else if (match("/devices/:id", path, p, 2) && me == SRV_GET) {
        reply_device(m, c, p[0], 200);
    } else if (match("/devices/:id", path, p, 2) && me == SRV_PATCH) {
        patch_device(m, c, p[0], actor);
    } else if (match("/devices/:id/revoke", path, p, 2) && me == SRV_POST) {
        revoke_device(m, c, p[0], actor);
    } else if (match("/devices/:id/commands", path, p, 2) && me == SRV_POST) {
        post_command(m, c, p[0], actor);
    } else if (!strcmp(path, "/groups") && me == SRV_GET) {
        get_groups(m, c);
    } else if (!strcmp(path, "/groups") && me == SRV_POST) {
        post_group(m, c, actor);
    } else if (match("/groups/:name", path, p, 2) && me == SRV_GET) {
        get_group(m, c, p[0]);
    } else if (match("/groups/:name", path, p, 2) && me == SRV_PATCH) {
        patch_group(m, c, p[0], actor);
    } else if (!strcmp(path, "/provisioning-tokens") && me == SRV_POST) {
        post_prov_token(m, c, actor);
    } else if (!strcmp(path, "/snapshots") && me == SRV_GET) {
        get_snapshots(m, c);
    } else if (!strcmp(path, "/snapshots") && me == SRV_POST) {
        post_snapshot(m, c, actor);
    } else if (match("/snapshots/:id", path, p, 2) && me == SRV_GET) {
        get_snapshot(m, c, p[0], false);
    } else if (match("/snapshots/:id/flows", path, p, 2) && me == SRV_GET) {
        get_snapshot(m, c, p[0], true);
    } else if (!strcmp(path, "/rollouts") && me == SRV_GET) {
        get_rollouts(m, c);
    } else if (!strcmp(path, "/rollouts") && me == SRV_POST) {
        post_rollout(m, c, actor);
    } else if (match("/rollouts/:id", path, p, 2) && me == SRV_GET) {
        reply_rollout(m, c, p[0], 200);
    } else if (match("/rollouts/:id/:action", path, p, 2) && me == SRV_POST &&
               (!strcmp(p[1], "pause") || !strcmp(p[1], "resume") || !strcmp(p[1], "rollback") ||
                !strcmp(p[1], "cancel"))) {
        rollout_action(m, c, p[0], p[1], actor);
    } else if (!strcmp(path, "/audit") && me == SRV_GET) {
        get_audit(m, c);
    } else if (!strcmp(path, "/authoring") && (me == SRV_GET || me == SRV_PUT)) {
        authoring(m, c, actor);
    } else {
        reply_err(c, 404, "no route %s %s", me == SRV_GET ? "GET" : "for this method", c->path);
    }
    return true;
}
