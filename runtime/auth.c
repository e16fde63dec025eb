/*
 * auth.c - adminAuth: users from the settings, the OAuth2 password grant
 * of Node-RED's editor (/auth/token), bearer tokens with an expiry, the
 * permission each admin route needs, login rate limits and audit lines.
 * See auth.h and docs/security.md.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "auth.h"
#include "password.h"
#include "server.h"
#include "settings.h"

#define TOKEN_BYTES 32
#define MAX_SESSIONS 1000    /* the oldest session goes when a new one would pass this */
#define ATTEMPT_WINDOW 600e3 /* ms: Node-RED's loginSignInWindow, 10 minutes */
#define MAX_USER_ATTEMPTS 5  /* per username in the window, as Node-RED */
#define MAX_ADDR_FAILS 20    /* failed logins per remote address in the window */
#define MAX_ATTEMPT_LOG 4096 /* remembered attempts; the oldest are forgotten first */

struct auth_user {
    char *username; /* NULL for the anonymous default user */
    char *hash;
    struct ef_val *permissions; /* "*", "read", or an array of them */
};

struct auth_session {
    char token[2 * TOKEN_BYTES + 1];
    const struct auth_user *user;
    struct ef_val *scope;
    double expires; /* ms since the epoch */
    struct auth_session *next;
};

struct auth_attempt {
    double time;
    bool by_addr; /* a failed login from an address, else an attempt on a username */
    char key[80]; /* user name or address, cut to 79 bytes (lookups cut the same way) */
};

struct ef_auth {
    struct auth_user *users;
    size_t nusers;
    struct auth_user anon; /* permissions NULL: no default user */
    double expiry_s;
    struct auth_session *sessions;
    size_t nsessions;
    struct auth_attempt *attempts; /* oldest first; grows up to MAX_ATTEMPT_LOG */
    size_t nattempts, cap_attempts;
    /* a hash of a random password, checked for unknown users so a wrong
     * username takes as long as a wrong password */
    char dummy_hash[64];
};

/* ---- permissions (Node-RED's permissions.js) ---- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix) && (a == b || s[a - b - 1] == '.');
}

static bool has_permission(const struct ef_val *scope, const char *perm)
{
    if (!*perm) {
        return true;
    }
    if (ef_val_type(scope) == EF_ARR) {
        for (size_t i = 0; i < ef_val_arr_len(scope); i++) {
            if (has_permission(ef_val_arr_at(scope, i), perm)) {
                return true;
            }
        }
        return false;
    }
    if (ef_val_type(scope) != EF_STR) {
        return false;
    }
    const char *s = ef_val_str_get(scope);
    if (!strcmp(s, "*") || !strcmp(s, perm)) {
        return true;
    }
    if (!strcmp(s, "read") || !strcmp(s, "*.read")) {
        return ends_with(perm, "read");
    }
    if (!strcmp(s, "write") || !strcmp(s, "*.write")) {
        return ends_with(perm, "write");
    }
    return false;
}

static bool valid_permissions(const struct ef_val *p)
{
    if (ef_val_type(p) == EF_STR) {
        return ef_val_str_len(p) > 0;
    }
    if (ef_val_type(p) != EF_ARR || ef_val_arr_len(p) == 0) {
        return false;
    }
    for (size_t i = 0; i < ef_val_arr_len(p); i++) {
        if (ef_val_type(ef_val_arr_at(p, i)) != EF_STR) {
            return false;
        }
    }
    return true;
}

/* ---- settings ---- */

int auth__init(struct ef_server *s, const struct ef_settings *st, char *err, size_t errlen)
{
    const struct ef_val *aa = settings__get(st, "adminAuth");
    if (!aa || ef_val_type(aa) == EF_NULL || (ef_val_type(aa) == EF_BOOL && !ef_val_bool_get(aa))) {
        return 0;
    }
    const struct ef_val *type = ef_val_obj_get(aa, "type");
    if (ef_val_type(aa) != EF_OBJ || ef_val_type(type) != EF_STR ||
        strcmp(ef_val_str_get(type), "credentials") != 0) {
        snprintf(err, errlen,
                 "settings: adminAuth must be an object with type \"credentials\" (edgeflow has "
                 "no other login strategies)");
        return -1;
    }
    const struct ef_val *users = ef_val_obj_get(aa, "users");
    if (ef_val_type(users) != EF_ARR) {
        snprintf(err, errlen, "settings: adminAuth.users must be an array");
        return -1;
    }
    struct ef_auth *a = calloc(1, sizeof(*a));
    if (!a ||
        (ef_val_arr_len(users) && !(a->users = calloc(ef_val_arr_len(users), sizeof(*a->users))))) {
        free(a);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->auth = a;
    for (size_t i = 0; i < ef_val_arr_len(users); i++) {
        const struct ef_val *u = ef_val_arr_at(users, i);
        const struct ef_val *name = ef_val_obj_get(u, "username");
        const struct ef_val *pw = ef_val_obj_get(u, "password");
        const struct ef_val *perm = ef_val_obj_get(u, "permissions");
        if (ef_val_type(name) != EF_STR || ef_val_str_len(name) == 0 ||
            ef_val_str_len(name) >= 100) {
            snprintf(err, errlen, "settings: adminAuth.users[%zu].username must be a string", i);
            return -1;
        }
        if (ef_val_type(pw) != EF_STR || !password__is_bcrypt(ef_val_str_get(pw))) {
            snprintf(err, errlen,
                     "settings: adminAuth.users[%zu] (%s): password must be a bcrypt hash "
                     "($2b$...; make one with `edgeflow hash-pw`)",
                     i, ef_val_str_get(name));
            return -1;
        }
        if (!valid_permissions(perm)) {
            snprintf(err, errlen,
                     "settings: adminAuth.users[%zu] (%s): permissions must be \"*\", \"read\" or "
                     "an array of permissions",
                     i, ef_val_str_get(name));
            return -1;
        }
        struct auth_user *au = &a->users[a->nusers++];
        au->username = strdup(ef_val_str_get(name));
        au->hash = strdup(ef_val_str_get(pw));
        au->permissions = ef_val_ref((struct ef_val *)perm);
        if (!au->username || !au->hash) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    const struct ef_val *def = ef_val_obj_get(aa, "default");
    if (def) {
        const struct ef_val *perm = ef_val_obj_get(def, "permissions");
        if (!valid_permissions(perm)) {
            snprintf(err, errlen,
                     "settings: adminAuth.default.permissions must be \"*\", "
                     "\"read\" or an array of permissions");
            return -1;
        }
        a->anon.permissions = ef_val_ref((struct ef_val *)perm);
    }
    const struct ef_val *exp = ef_val_obj_get(aa, "sessionExpiryTime");
    a->expiry_s =
        ef_val_type(exp) == EF_NUM && ef_val_num_get(exp) > 0 ? ef_val_num_get(exp) : 604800;
    unsigned char rnd[16];
    char pw[33];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        snprintf(err, errlen, "getrandom: %s", strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < sizeof(rnd); i++) {
        snprintf(pw + 2 * i, 3, "%02x", rnd[i]);
    }
    /* the cost of the first user's hash, so unknown users take as long */
    int cost = a->nusers ? atoi(a->users[0].hash + 4) : 8;
    if (password__hash(pw, cost, a->dummy_hash, sizeof(a->dummy_hash)) != 0) {
        snprintf(err, errlen, "cannot make a bcrypt hash (libcrypt)");
        return -1;
    }
    ef_log_info("adminAuth: %zu user%s%s, sessions expire after %.0f s", a->nusers,
                a->nusers == 1 ? "" : "s", a->anon.permissions ? ", anonymous access" : "",
                a->expiry_s);
    return 0;
}

static void session_free(struct auth_session *ss)
{
    explicit_bzero(ss->token, sizeof(ss->token));
    ef_val_unref(ss->scope);
    free(ss);
}

void auth__free(struct ef_server *s)
{
    struct ef_auth *a = s ? s->auth : NULL;
    if (!a) {
        return;
    }
    for (size_t i = 0; i < a->nusers; i++) {
        free(a->users[i].username);
        free(a->users[i].hash);
        ef_val_unref(a->users[i].permissions);
    }
    free(a->users);
    ef_val_unref(a->anon.permissions);
    while (a->sessions) {
        struct auth_session *n = a->sessions->next;
        session_free(a->sessions);
        a->sessions = n;
    }
    free(a->attempts);
    free(a);
    s->auth = NULL;
}

/* ---- sessions ---- */

static bool token_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = la != lb;
    for (size_t i = 0; i < la && i < lb; i++) {
        d |= (unsigned char)(a[i] ^ b[i]);
    }
    return d == 0;
}

/* Drops expired sessions and returns the one for token, or NULL. */
static struct auth_session *session_get(struct ef_auth *a, const char *token)
{
    double now = ef_now_ms();
    struct auth_session *found = NULL;
    for (struct auth_session **pp = &a->sessions; *pp;) {
        struct auth_session *ss = *pp;
        if (ss->expires < now) {
            *pp = ss->next;
            a->nsessions--;
            session_free(ss);
            continue;
        }
        if (token && token_eq(ss->token, token)) {
            found = ss;
        }
        pp = &ss->next;
    }
    return found;
}

static struct auth_session *session_new(struct ef_auth *a, const struct auth_user *u,
                                        const struct ef_val *scope)
{
    session_get(a, NULL);
    if (a->nsessions >= MAX_SESSIONS) {
        /* drop the session that expires first */
        struct auth_session **oldest = &a->sessions;
        for (struct auth_session **pp = &a->sessions; *pp; pp = &(*pp)->next) {
            if ((*pp)->expires < (*oldest)->expires) {
                oldest = pp;
            }
        }
        struct auth_session *o = *oldest;
        *oldest = o->next;
        a->nsessions--;
        session_free(o);
    }
    unsigned char rnd[TOKEN_BYTES];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        ef_log_error("adminAuth: getrandom failed: %s", strerror(errno));
        return NULL;
    }
    struct auth_session *ss = calloc(1, sizeof(*ss));
    if (!ss) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof(rnd); i++) {
        snprintf(ss->token + 2 * i, 3, "%02x", rnd[i]);
    }
    explicit_bzero(rnd, sizeof(rnd));
    ss->user = u;
    ss->scope = ef_val_ref((struct ef_val *)scope);
    ss->expires = ef_now_ms() + a->expiry_s * 1000.0;
    ss->next = a->sessions;
    a->sessions = ss;
    a->nsessions++;
    return ss;
}

/* ---- the login attempt log ---- */

static void attempts_prune(struct ef_auth *a, double now)
{
    size_t k = 0;
    while (k < a->nattempts && a->attempts[k].time + ATTEMPT_WINDOW <= now) {
        k++;
    }
    if (k) {
        memmove(a->attempts, a->attempts + k, (a->nattempts - k) * sizeof(*a->attempts));
        a->nattempts -= k;
    }
}

static void attempt_add(struct ef_auth *a, bool by_addr, const char *key, double now)
{
    if (a->nattempts == a->cap_attempts && a->cap_attempts < MAX_ATTEMPT_LOG) {
        size_t ncap = a->cap_attempts ? a->cap_attempts * 2 : 64;
        struct auth_attempt *na = realloc(a->attempts, ncap * sizeof(*na));
        if (na) {
            a->attempts = na;
            a->cap_attempts = ncap;
        }
    }
    if (a->nattempts == a->cap_attempts) {
        if (!a->nattempts) {
            return;
        }
        memmove(a->attempts, a->attempts + 1, (a->nattempts - 1) * sizeof(*a->attempts));
        a->nattempts--;
    }
    struct auth_attempt *e = &a->attempts[a->nattempts++];
    e->time = now;
    e->by_addr = by_addr;
    snprintf(e->key, sizeof(e->key), "%s", key);
}

static size_t attempt_count(const struct ef_auth *a, bool by_addr, const char *key)
{
    char k[sizeof(a->attempts->key)];
    snprintf(k, sizeof(k), "%s", key);
    size_t n = 0;
    for (size_t i = 0; i < a->nattempts; i++) {
        n += a->attempts[i].by_addr == by_addr && !strcmp(a->attempts[i].key, k);
    }
    return n;
}

static void attempts_forget_user(struct ef_auth *a, const char *user)
{
    char u[sizeof(a->attempts->key)];
    snprintf(u, sizeof(u), "%s", user);
    size_t k = 0;
    for (size_t i = 0; i < a->nattempts; i++) {
        if (a->attempts[i].by_addr || strcmp(a->attempts[i].key, u) != 0) {
            a->attempts[k++] = a->attempts[i];
        }
    }
    a->nattempts = k;
}

/* ---- requests ---- */

static void peer_of(struct srv_conn *c, char *buf, size_t len)
{
    srv_peer(c, buf, len);
}

/* Log-safe copy of a user-supplied name: printable ASCII, at most 64 bytes. */
static void clean(const char *in, char *out, size_t len)
{
    size_t k = 0;
    for (const char *p = in ? in : ""; *p && k + 1 < len && k < 64; p++) {
        out[k++] = isprint((unsigned char)*p) ? *p : '?';
    }
    out[k] = '\0';
}

static int hexv(int ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    ch = tolower(ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* application/x-www-form-urlencoded into an object of strings (new reference). */
static struct ef_val *parse_form(const char *body, size_t len)
{
    struct ef_val *o = ef_val_obj();
    char *buf = malloc(len + 1);
    if (!o || !buf) {
        free(buf);
        ef_val_unref(o);
        return NULL;
    }
    size_t i = 0;
    while (i < len) {
        size_t kl = 0, vl = 0;
        bool in_val = false;
        char *key = buf, *val = NULL;
        size_t out = 0;
        for (; i < len && body[i] != '&'; i++) {
            int ch = (unsigned char)body[i];
            if (ch == '=' && !in_val) {
                kl = out;
                in_val = true;
                val = buf + out;
                continue;
            }
            if (ch == '+') {
                ch = ' ';
            } else if (ch == '%' && i + 2 < len && hexv(body[i + 1]) >= 0 &&
                       hexv(body[i + 2]) >= 0) {
                ch = hexv(body[i + 1]) * 16 + hexv(body[i + 2]);
                i += 2;
            }
            buf[out++] = (char)ch;
        }
        i++; /* the '&' */
        if (!in_val) {
            kl = out;
            val = buf + out;
        }
        vl = (size_t)(buf + out - val);
        if (kl > 0) {
            ef_val_obj_setn_take(o, key, kl, ef_val_strn(val, vl));
        }
    }
    explicit_bzero(buf, len + 1);
    free(buf);
    return o;
}

static struct ef_val *request_params(struct srv_conn *c)
{
    char ct[128];
    if (!c->body || c->body_len == 0) {
        return ef_val_obj();
    }
    srv_header(c, "content-type:", ct, sizeof(ct));
    if (strstr(ct, "json")) {
        struct ef_val *v = ef_json_parse(c->body, c->body_len, NULL, 0);
        if (ef_val_type(v) != EF_OBJ) {
            ef_val_unref(v);
            return NULL;
        }
        return v;
    }
    return parse_form(c->body, c->body_len);
}

static const char *param(const struct ef_val *p, const char *name)
{
    const struct ef_val *v = ef_val_obj_get(p, name);
    return ef_val_type(v) == EF_STR ? ef_val_str_get(v) : NULL;
}

static void oauth_error(struct srv_conn *c, int status, const char *error, const char *desc)
{
    struct ef_val *o = ef_val_obj();
    ef_val_obj_set_take(o, "error", ef_val_str(error));
    ef_val_obj_set_take(o, "error_description", ef_val_str(desc));
    srv_reply_json(c, status, o);
}

static const struct auth_user *find_user(const struct ef_auth *a, const char *name)
{
    for (size_t i = 0; name && i < a->nusers; i++) {
        if (!strcmp(a->users[i].username, name)) {
            return &a->users[i];
        }
    }
    return NULL;
}

/* POST /auth/token: Node-RED's oauth2orize password exchange. */
static void post_token(struct srv_conn *c)
{
    struct ef_auth *a = c->srv->auth;
    struct ef_val *p = request_params(c);
    if (!p) {
        srv_reply_error(c, 400, "invalid_request", "the request body is not a JSON object");
        return;
    }
    const char *client = param(p, "client_id"), *secret = param(p, "client_secret");
    const char *grant = param(p, "grant_type"), *user = param(p, "username");
    const char *pw = param(p, "password"), *scope = param(p, "scope");
    char addr[64], uname[80], cname[80];
    peer_of(c, addr, sizeof(addr));
    clean(user, uname, sizeof(uname));
    clean(client, cname, sizeof(cname));
    if (!client || (strcmp(client, "node-red-editor") != 0 && strcmp(client, "node-red-admin")) ||
        (secret && strcmp(secret, "not_available") != 0)) {
        ef_log_info("audit: auth.invalid-client client=%s from %s", cname, addr);
        srv_reply_status(c, 401);
    } else if (!grant || strcmp(grant, "password") != 0) {
        char d[128], gname[80];
        clean(grant ? grant : "undefined", gname, sizeof(gname));
        snprintf(d, sizeof(d), "Unsupported grant type: %s", gname);
        oauth_error(c, 501, "unsupported_grant_type", d);
    } else if (!user || !pw) {
        oauth_error(c, 400, "invalid_request",
                    !user ? "Missing required parameter: username"
                          : "Missing required parameter: password");
    } else {
        double now = ef_now_ms();
        attempts_prune(a, now);
        /* a blocked address adds nothing to the log: it cannot flush others' counts */
        bool addr_blocked = attempt_count(a, true, addr) >= MAX_ADDR_FAILS;
        if (!addr_blocked) {
            attempt_add(a, false, user, now);
        }
        if (addr_blocked || attempt_count(a, false, user) > MAX_USER_ATTEMPTS) {
            ef_log_warn("audit: auth.login.fail.too-many-attempts user=%s from %s", uname, addr);
            oauth_error(c, 500, "server_error",
                        "Too many login attempts. Wait 10 minutes and try again");
            ef_val_unref(p);
            return;
        }
        const struct auth_user *u = find_user(a, user);
        /* unknown users cost a bcrypt check too */
        bool ok = password__verify(pw, u ? u->hash : a->dummy_hash) && u;
        struct ef_val *sc = NULL;
        if (ok && scope) {
            sc = *scope ? ef_val_str(scope) : ef_val_ref(u->permissions);
        }
        if (!ok || !sc || !has_permission(u->permissions, scope && *scope ? scope : "")) {
            attempt_add(a, true, addr, now);
            ef_log_info("audit: auth.login.fail.%s user=%s from %s",
                        ok ? "permissions" : "credentials", uname, addr);
            oauth_error(c, 403, "invalid_grant", "Invalid resource owner credentials");
            ef_val_unref(sc);
            ef_val_unref(p);
            return;
        }
        attempts_forget_user(a, user);
        struct auth_session *ss = session_new(a, u, sc);
        ef_val_unref(sc);
        if (!ss) {
            oauth_error(c, 500, "server_error", "cannot create a session");
        } else {
            char scs[64];
            clean(scope && *scope
                      ? scope
                      : (ef_val_type(u->permissions) == EF_STR ? ef_val_str_get(u->permissions)
                                                               : "[...]"),
                  scs, sizeof(scs));
            ef_log_info("audit: auth.login user=%s scope=%s from %s", u->username, scs, addr);
            struct ef_val *o = ef_val_obj();
            ef_val_obj_set_take(o, "access_token", ef_val_str(ss->token));
            ef_val_obj_set_take(o, "expires_in", ef_val_num(a->expiry_s));
            ef_val_obj_set_take(o, "token_type", ef_val_str("Bearer"));
            srv_reply_json(c, 200, o);
        }
    }
    ef_val_unref(p);
}

static void get_login(struct srv_conn *c)
{
    struct ef_val *o = ef_val_obj();
    if (c->srv->auth) {
        ef_val_obj_set_take(o, "type", ef_val_str("credentials"));
        struct ef_val *pr = ef_val_arr();
        static const char *const f[2][3] = {{"username", "text", "user.username"},
                                            {"password", "password", "user.password"}};
        for (int i = 0; i < 2; i++) {
            struct ef_val *e = ef_val_obj();
            ef_val_obj_set_take(e, "id", ef_val_str(f[i][0]));
            ef_val_obj_set_take(e, "type", ef_val_str(f[i][1]));
            ef_val_obj_set_take(e, "label", ef_val_str(f[i][2]));
            ef_val_arr_push_take(pr, e);
        }
        ef_val_obj_set_take(o, "prompts", pr);
    }
    srv_reply_json(c, 200, o);
}

/* Splits "/a/b/c" into at most 8 segments (pointers into buf). */
static size_t segments(const char *path, char *buf, size_t len, const char *seg[8])
{
    snprintf(buf, len, "%s", path);
    size_t n = 0;
    for (char *p = buf; *p && n < 8;) {
        while (*p == '/') {
            *p++ = '\0';
        }
        if (!*p) {
            break;
        }
        seg[n++] = p;
        while (*p && *p != '/') {
            p++;
        }
    }
    return n;
}

/*
 * The permission Node-RED's route for (method, path) asks for; NULL for
 * what it serves to anyone (the editor's files, theme, locales, node
 * icons, /auth/login). Routes edgeflow does not know need an
 * authenticated user (GET) or write access to everything (the rest).
 */
static const char *route_permission(enum srv_method m, const char *path)
{
    char buf[1024];
    const char *sg[8];
    size_t n = segments(path, buf, sizeof(buf), sg);
    bool get = m == SRV_GET || m == SRV_HEAD;
    if (n == 0) {
        return get ? NULL : "*";
    }
    const char *s0 = sg[0];
    if (get && (!strcmp(s0, "red") || !strcmp(s0, "vendor") || !strcmp(s0, "types") ||
                !strcmp(s0, "favicon.ico") || !strcmp(s0, "theme") || !strcmp(s0, "locales") ||
                !strcmp(s0, "resources") || (!strcmp(s0, "icons") && n >= 3) ||
                (!strcmp(s0, "debug") && n >= 2 && !strcmp(sg[1], "view")))) {
        return NULL;
    }
    if (!strcmp(s0, "flows") || !strcmp(s0, "flow")) {
        return get ? "flows.read" : "flows.write";
    }
    if (!strcmp(s0, "nodes") || !strcmp(s0, "icons")) {
        return get ? "nodes.read" : "nodes.write";
    }
    if (!strcmp(s0, "context")) {
        return get ? "context.read" : "context.write";
    }
    if (!strcmp(s0, "settings")) {
        return get ? "settings.read" : "settings.write";
    }
    if (!strcmp(s0, "plugins")) {
        return get ? "plugins.read" : "plugins.write";
    }
    if (!strcmp(s0, "diagnostics")) {
        return get ? "diagnostics.read" : "diagnostics.write";
    }
    if (!strcmp(s0, "library")) {
        return get ? "library.read" : "library.write";
    }
    if (!strcmp(s0, "credentials")) {
        return get ? "credentials.read" : "credentials.write";
    }
    if (!strcmp(s0, "inject")) {
        return get ? "inject.read" : "inject.write";
    }
    if (!strcmp(s0, "debug")) {
        return get ? "debug.read" : "debug.write";
    }
    return get ? "" : "*";
}

/* The bearer token of the request into buf; false when there is none. */
static bool bearer(struct srv_conn *c, char *buf, size_t len)
{
    char h[512];
    if (!srv_header(c, "authorization:", h, sizeof(h)) || strncmp(h, "Bearer ", 7) != 0) {
        return false;
    }
    size_t n = strlen(h + 7);
    if (n == 0 || n >= len) {
        return false; /* longer than any token edgeflow gives out */
    }
    memcpy(buf, h + 7, n + 1);
    return true;
}

bool auth__handle(struct srv_conn *c)
{
    struct ef_auth *a = c->srv->auth;
    c->user = NULL;
    if (!strcmp(c->path, "/auth/login") && (c->method == SRV_GET || c->method == SRV_HEAD)) {
        get_login(c);
        return true;
    }
    if (!a) {
        return false;
    }
    if (!strcmp(c->path, "/auth/token") && c->method == SRV_POST) {
        post_token(c);
        return true;
    }
    bool revoke = !strcmp(c->path, "/auth/revoke") && c->method == SRV_POST;
    const char *perm = revoke ? "" : route_permission(c->method, c->path);
    char tok[256];
    struct auth_session *ss = bearer(c, tok, sizeof(tok)) ? session_get(a, tok) : NULL;
    const struct auth_user *u = ss ? ss->user : a->anon.permissions ? &a->anon : NULL;
    const struct ef_val *scope = ss ? ss->scope : a->anon.permissions;
    if (!perm) {
        c->user = u;
        return false;
    }
    if (!u) {
        srv_reply_status(c, 401);
        return true;
    }
    if (!has_permission(scope, perm)) {
        char addr[64];
        peer_of(c, addr, sizeof(addr));
        ef_log_info("audit: permission.fail user=%s permission=%s path=%s from %s",
                    auth__user_name(u), perm, c->path, addr);
        srv_reply(c, 401, NULL, NULL, 0);
        return true;
    }
    c->user = u;
    if (revoke) {
        struct ef_val *p = request_params(c);
        const char *t = param(p, "token");
        struct auth_session *victim = t ? session_get(a, t) : NULL;
        for (struct auth_session **pp = &a->sessions; victim && *pp; pp = &(*pp)->next) {
            if (*pp == victim) {
                *pp = victim->next;
                a->nsessions--;
                session_free(victim);
                break;
            }
        }
        char addr[64];
        peer_of(c, addr, sizeof(addr));
        ef_log_info("audit: auth.login.revoke user=%s from %s", auth__user_name(u), addr);
        ef_val_unref(p);
        comms__check_sessions(c->srv);
        srv_reply(c, 200, NULL, NULL, 0);
        return true;
    }
    return false;
}

struct ef_val *auth__user_value(const struct auth_user *u)
{
    if (!u) {
        return NULL;
    }
    struct ef_val *o = ef_val_obj();
    if (!u->username) {
        ef_val_obj_set_take(o, "anonymous", ef_val_bool(true));
    } else {
        ef_val_obj_set_take(o, "username", ef_val_str(u->username));
    }
    ef_val_obj_set_take(o, "permissions", ef_val_ref(u->permissions));
    return o;
}

const char *auth__user_name(const struct auth_user *u)
{
    return !u ? "-" : u->username ? u->username : "anonymous";
}

const struct auth_user *auth__comms_token(struct ef_server *s, const char *token)
{
    struct auth_session *ss = s->auth && token ? session_get(s->auth, token) : NULL;
    return ss && has_permission(ss->scope, "status.read") ? ss->user : NULL;
}

const struct auth_user *auth__token_user(struct ef_server *s, const char *token, const char *perm)
{
    struct ef_auth *a = s->auth;
    if (!a) {
        return NULL;
    }
    if (!token) {
        return a->anon.permissions && has_permission(a->anon.permissions, perm) ? &a->anon : NULL;
    }
    struct auth_session *ss = session_get(a, token);
    return ss && has_permission(ss->scope, perm) ? ss->user : NULL;
}

const struct auth_user *auth__comms_anonymous(struct ef_server *s)
{
    struct ef_auth *a = s->auth;
    return a && a->anon.permissions && has_permission(a->anon.permissions, "status.read") ? &a->anon
                                                                                          : NULL;
}
