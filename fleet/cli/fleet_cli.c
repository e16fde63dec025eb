/*
 * fleet_cli.c - `edgeflow fleet`: every endpoint of the manager's REST API
 * (docs/fleet-protocol.md) as a command, with human-readable tables or the
 * raw JSON (--json). libcurl easy, loaded on first use (curl_api.h).
 */
#include "cli/fleet_cli.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "curl_api.h"
#include "edgeflow/val.h"
#include "common/fleet_proto.h"

#define MAX_POS 4
#define MAX_KV 64
#define MAX_FILES 256
#define API_PREFIX "/fleet/v1"

struct kv {
    const char *key;
    size_t klen;
    const char *value;
};

struct cli {
    const char *cmd;
    const char *url;
    const char *token;
    bool json;
    const char *pos[MAX_POS];
    int npos;
    /* options; NULL / -1 / false when not given */
    const char *group, *description, *cred, *waves, *out;
    long long uses, expires_in, limit, lines, health_seconds, max_errors, failure_budget,
        wave_timeout;
    bool all, no_auto_rollback, flows;
    struct kv labels[MAX_KV];
    int nlabels;
    struct kv env[MAX_KV];
    int nenv;
    struct kv files[MAX_FILES];
    int nfiles;
    long status; /* HTTP status of the answer being printed */
};

/* ================================================================ small helpers */

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("edgeflow fleet: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (edgeflow fleet help lists the commands)\n", stderr);
    va_end(ap);
    return 2;
}

/* An object of the KEY=VALUE pairs (strings). */
static struct ef_val *kv_object(const struct kv *kv, int n)
{
    struct ef_val *o = ef_val_obj();
    for (int i = 0; o && i < n; i++) {
        struct ef_val *v = ef_val_str(kv[i].value);
        if (!v || ef_val_obj_setn_take(o, kv[i].key, kv[i].klen, v) != 0) {
            ef_val_unref(v);
            ef_val_unref(o);
            return NULL;
        }
    }
    return o;
}

/* Reads a whole file; malloc'ed (NUL-terminated), or NULL with errno. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) {
            if (ferror(f)) {
                free(buf);
                buf = NULL;
                errno = EIO;
            }
            break;
        }
        char *bigger = realloc(buf, cap * 2 + 1);
        if (!bigger) {
            free(buf);
            buf = NULL;
            errno = ENOMEM;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

/* Percent-encodes s into a malloc'ed string (unreserved characters stay). */
static char *url_escape(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1);
    if (!out) {
        return NULL;
    }
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            out[o++] = (char)*p;
        } else {
            o += (size_t)sprintf(out + o, "%%%02X", *p);
        }
    }
    out[o] = '\0';
    return out;
}

/* snprintf into a malloc'ed string. */
__attribute__((format(printf, 1, 2))) static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s) {
        va_start(ap, f);
        vsnprintf(s, (size_t)n + 1, f, ap);
        va_end(ap);
    }
    return s;
}

/* A path with one escaped segment: prefix + esc(seg) + suffix. */
static char *path1(const char *prefix, const char *seg, const char *suffix)
{
    char *e = url_escape(seg);
    char *p = e ? fmt("%s%s%s", prefix, e, suffix) : NULL;
    free(e);
    return p;
}

/* ================================================================ HTTP */

struct body {
    char *data;
    size_t len, cap;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct body *b = ud;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            return 0;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

struct resp {
    long status;
    char *body; /* NUL-terminated, never NULL after success */
    size_t len;
};

/*
 * Sends one request to <url>/fleet/v1<path> with an optional JSON body.
 * Returns 0 with a 2xx answer in *r; otherwise prints why (unreachable
 * manager, or the HTTP status and the server's error text) and returns 1.
 */
static int request(const struct cli *c, const char *method, const char *path,
                   const struct ef_val *json, struct resp *r)
{
    memset(r, 0, sizeof(*r));
    char err[256];
    if (curl_api__load(err, sizeof(err)) != 0) {
        fprintf(stderr, "edgeflow fleet: %s\n", err);
        return 1;
    }
    /* curl_api's table serves the loop's multi interface; the easy perform is looked up here. */
    void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_NOLOAD);
    __typeof__(CURLcode(*)(CURL *)) perform = NULL;
    if (lib) {
        *(void **)&perform = dlsym(lib, "curl_easy_perform");
        dlclose(lib); /* curl_api keeps its own reference */
    }
    if (!perform) {
        fprintf(stderr, "edgeflow fleet: libcurl.so.4 has no curl_easy_perform\n");
        return 1;
    }
    size_t blen = strlen(c->url);
    while (blen > 0 && c->url[blen - 1] == '/') {
        blen--;
    }
    char *url = fmt("%.*s" API_PREFIX "%s", (int)blen, c->url, path);
    char *text = json ? ef_json_print(json, 0, NULL) : NULL;
    char *auth = c->token && *c->token ? fmt("Authorization: Bearer %s", c->token) : NULL;
    CURL *h = curl_easy_init();
    if (!url || (json && !text) || (c->token && *c->token && !auth) || !h) {
        fprintf(stderr, "edgeflow fleet: out of memory\n");
        free(url);
        free(text);
        free(auth);
        if (h) {
            curl_easy_cleanup(h);
        }
        return 1;
    }
    struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/json");
    if (text) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    }
    if (auth) {
        hdrs = curl_slist_append(hdrs, auth);
    }
    struct body b = {0};
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, text ? text : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)(text ? strlen(text) : 0));
    }
    CURLcode cc = perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    free(text);
    free(auth);
    int rc = 0;
    if (cc != CURLE_OK) {
        fprintf(stderr, "edgeflow fleet: cannot reach the manager at %.*s: %s\n", (int)blen, c->url,
                cerr[0] ? cerr : curl_easy_strerror(cc));
        rc = 1;
    } else if (status < 200 || status > 299) {
        const char *why = b.data ? b.data : "";
        struct ef_val *e = b.data ? ef_json_parse(b.data, b.len, NULL, 0) : NULL;
        const struct ef_val *msg = ef_val_obj_get(e, "error");
        if (ef_val_type(msg) == EF_STR) {
            why = ef_val_str_get(msg);
        }
        fprintf(stderr, "edgeflow fleet: %s %s: HTTP %ld%s%.300s\n", method, url + blen, status,
                *why ? ": " : "", why);
        ef_val_unref(e);
        rc = 1;
    }
    free(url);
    if (rc != 0) {
        free(b.data);
        return rc;
    }
    r->status = status;
    r->body = b.data ? b.data : strdup("");
    r->len = b.len;
    return r->body ? 0 : 1;
}

/* Parses the answer as JSON; prints why not and returns NULL. */
static struct ef_val *parse_answer(const struct resp *r, const char *what)
{
    char err[128];
    struct ef_val *v = ef_json_parse(r->body, r->len, err, sizeof(err));
    if (!v) {
        fprintf(stderr, "edgeflow fleet: the manager's answer to %s is not JSON (%s)\n", what, err);
    }
    return v;
}

/* ================================================================ output */

/* Display text of a JSON value: strings as they are, null "-", others as JSON. Malloc'ed. */
static char *show(const struct ef_val *v)
{
    switch (ef_val_type(v)) {
    case EF_STR: return strdup(ef_val_str_get(v));
    case EF_NULL: return strdup("-");
    case EF_BOOL: return strdup(ef_val_bool_get(v) ? "yes" : "no");
    default: {
        if (!v) {
            return strdup("-");
        }
        char *s = ef_json_print(v, 0, NULL);
        return s ? s : strdup("?");
    }
    }
}

static char *show_key(const struct ef_val *o, const char *key)
{
    return show(ef_val_obj_get(o, key));
}

/* First n characters of a string field (snapshot ids), "-" when null. */
static char *show_short(const struct ef_val *o, const char *key, size_t n)
{
    char *s = show_key(o, key);
    if (s && strlen(s) > n) {
        s[n] = '\0';
    }
    return s;
}

static char *show_time(const struct ef_val *o, const char *key)
{
    const struct ef_val *v = ef_val_obj_get(o, key);
    if (ef_val_type(v) != EF_NUM || ef_val_num_get(v) <= 0) {
        return strdup("-");
    }
    time_t t = (time_t)(ef_val_num_get(v) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[32];
    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%SZ", &tm);
    return strdup(buf);
}

/* "12s ago", "3m ago", "5h ago", "2d ago", or "never". */
static char *show_ago(const struct ef_val *o, const char *key)
{
    const struct ef_val *v = ef_val_obj_get(o, key);
    if (ef_val_type(v) != EF_NUM || ef_val_num_get(v) <= 0) {
        return strdup("never");
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double s = ((double)now.tv_sec * 1000 + (double)now.tv_nsec / 1e6 - ef_val_num_get(v)) / 1000;
    if (s < 0) {
        s = 0;
    }
    return s < 120      ? fmt("%.0fs ago", s)
           : s < 7200   ? fmt("%.0fm ago", s / 60)
           : s < 172800 ? fmt("%.0fh ago", s / 3600)
                        : fmt("%.0fd ago", s / 86400);
}

static char *show_bytes(const struct ef_val *o, const char *key)
{
    const struct ef_val *v = ef_val_obj_get(o, key);
    if (ef_val_type(v) != EF_NUM) {
        return strdup("-");
    }
    double b = ef_val_num_get(v);
    return b >= 1048576 ? fmt("%.1fM", b / 1048576)
           : b >= 1024  ? fmt("%.0fK", b / 1024)
                        : fmt("%.0f", b);
}

static char *show_num(const struct ef_val *o, const char *key, const char *f)
{
    const struct ef_val *v = ef_val_obj_get(o, key);
    return ef_val_type(v) == EF_NUM ? fmt(f, ef_val_num_get(v)) : strdup("-");
}

/* "k=v,k2=v2" of an object of strings. */
static char *show_kv(const struct ef_val *o, const char *key)
{
    const struct ef_val *m = ef_val_obj_get(o, key);
    if (ef_val_type(m) != EF_OBJ || ef_val_obj_len(m) == 0) {
        return strdup("-");
    }
    size_t cap = 1;
    for (size_t i = 0; i < ef_val_obj_len(m); i++) {
        size_t klen;
        ef_val_obj_key_at(m, i, &klen);
        char *v = show(ef_val_obj_val_at(m, i));
        cap += klen + (v ? strlen(v) : 0) + 2;
        free(v);
    }
    char *s = malloc(cap);
    if (!s) {
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; i < ef_val_obj_len(m); i++) {
        size_t klen;
        const char *k = ef_val_obj_key_at(m, i, &klen);
        char *v = show(ef_val_obj_val_at(m, i));
        n += (size_t)snprintf(s + n, cap - n, "%s%.*s=%s", i ? "," : "", (int)klen, k, v ? v : "");
        free(v);
    }
    return s;
}

#define MAX_COLS 12

struct table {
    int ncols;
    const char *head[MAX_COLS];
    char **cells;
    size_t nrows, cap;
    bool oom;
};

/* Adds a row of ncols malloc'ed strings (adopted; NULL counts as out of memory). */
static void table_row(struct table *t, char **cells)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 32;
        char **c = realloc(t->cells, cap * (size_t)t->ncols * sizeof(*c));
        if (!c) {
            t->oom = true;
            for (int i = 0; i < t->ncols; i++) {
                free(cells[i]);
            }
            return;
        }
        t->cells = c;
        t->cap = cap;
    }
    for (int i = 0; i < t->ncols; i++) {
        t->oom = t->oom || !cells[i];
        t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = cells[i];
    }
    t->nrows++;
}

/* Prints the table (columns padded to their widest cell) and frees it. Returns 0 or 1 (OOM). */
static int table_print(struct table *t)
{
    size_t w[MAX_COLS];
    for (int c = 0; c < t->ncols; c++) {
        w[c] = strlen(t->head[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            const char *s = t->cells[r * (size_t)t->ncols + (size_t)c];
            size_t l = s ? strlen(s) : 0;
            w[c] = l > w[c] ? l : w[c];
        }
    }
    for (size_t r = 0; r <= t->nrows && !t->oom; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const char *s = r == 0 ? t->head[c] : t->cells[(r - 1) * (size_t)t->ncols + (size_t)c];
            if (c == t->ncols - 1) {
                printf("%s\n", s);
            } else {
                printf("%-*s  ", (int)w[c], s);
            }
        }
    }
    for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++) {
        free(t->cells[i]);
    }
    free(t->cells);
    if (t->oom) {
        fprintf(stderr, "edgeflow fleet: out of memory\n");
        return 1;
    }
    return 0;
}

/* Prints "key: value" lines for the listed keys of o. */
static void print_fields(const struct ef_val *o, const char *const *keys)
{
    for (size_t i = 0; keys[i]; i++) {
        const struct ef_val *v = ef_val_obj_get(o, keys[i]);
        if (!v) {
            continue;
        }
        char *s = ef_val_type(v) == EF_OBJ && strcmp(keys[i], "result") != 0 ? show_kv(o, keys[i])
                  : strcmp(keys[i], "lastSeen") == 0                         ? show_ago(o, keys[i])
                  : strcmp(keys[i], "rss") == 0 ? show_bytes(o, keys[i])
                  : (strcmp(keys[i], "enrolled") == 0 || strcmp(keys[i], "ts") == 0 ||
                     strcmp(keys[i], "created") == 0 || strcmp(keys[i], "updated") == 0 ||
                     strcmp(keys[i], "expires") == 0)
                      ? show_time(o, keys[i])
                      : show(v);
        printf("%-15s %s\n", keys[i], s ? s : "?");
        free(s);
    }
}

/* Prints the answer: raw with --json, else through `human` (a parsed value). */
static int answer(const struct cli *c, struct resp *r, const char *what,
                  int (*human)(const struct cli *c, const struct ef_val *v))
{
    int rc = 0;
    if (c->json) {
        fwrite(r->body, 1, r->len, stdout);
        if (r->len == 0 || r->body[r->len - 1] != '\n') {
            putchar('\n');
        }
    } else {
        struct ef_val *v = parse_answer(r, what);
        struct cli with_status = *c;
        with_status.status = r->status;
        rc = v ? human(&with_status, v) : 1;
        ef_val_unref(v);
    }
    free(r->body);
    return rc;
}

/* ================================================================ human output per resource */

static int human_devices(const struct cli *c, const struct ef_val *v)
{
    (void)c;
    struct table t = {.ncols = 11,
                      .head = {"ID", "GROUP", "ONLINE", "SNAPSHOT", "HEALTH", "LAST SEEN", "CPU%",
                               "RSS", "MSG/S", "ERRORS", "LABELS"}};
    for (size_t i = 0; i < ef_val_arr_len(v); i++) {
        const struct ef_val *d = ef_val_arr_at(v, i);
        bool revoked = ef_val_bool_get(ef_val_obj_get(d, "revoked"));
        char *cells[] = {show_key(d, "id"),
                         show_key(d, "group"),
                         strdup(revoked                                        ? "revoked"
                                : ef_val_bool_get(ef_val_obj_get(d, "online")) ? "yes"
                                                                               : "no"),
                         show_short(d, "snapshot", 12),
                         show_key(d, "health"),
                         show_ago(d, "lastSeen"),
                         show_num(d, "cpu", "%.1f"),
                         show_bytes(d, "rss"),
                         show_num(d, "msgRate", "%.1f"),
                         show_num(d, "errors", "%.0f"),
                         show_kv(d, "labels")};
        table_row(&t, cells);
    }
    return table_print(&t);
}

static int human_device(const struct cli *c, const struct ef_val *v)
{
    (void)c;
    static const char *const keys[] = {
        "id",       "name",       "group",           "labels",       "env",    "online",  "revoked",
        "snapshot", "health",     "lastSeen",        "cpu",          "rss",    "msgRate", "errors",
        "enrolled", "desiredSeq", "desiredSnapshot", "agentVersion", "result", NULL};
    print_fields(v, keys);
    return 0;
}

static int human_groups(const struct cli *c, const struct ef_val *v)
{
    (void)c;
    struct table t = {.ncols = 3, .head = {"NAME", "ENV", "DESCRIPTION"}};
    for (size_t i = 0; i < ef_val_arr_len(v); i++) {
        const struct ef_val *g = ef_val_arr_at(v, i);
        char *cells[] = {show_key(g, "name"), show_kv(g, "env"), show_key(g, "description")};
        table_row(&t, cells);
    }
    return table_print(&t);
}

static int human_group(const struct cli *c, const struct ef_val *v)
{
    (void)c;
    static const char *const keys[] = {"name", "description", "env", "created", NULL};
    print_fields(v, keys);
    const struct ef_val *s = ef_val_obj_get(v, "snapshot");
    if (ef_val_type(s) == EF_OBJ) {
        char *id = show_key(s, "id"), *ver = show_key(s, "version");
        printf("%-15s %s (version %s)\n", "snapshot", id ? id : "?", ver ? ver : "?");
        free(id);
        free(ver);
    } else if (s) {
        char *id = show(s);
        printf("%-15s %s\n", "snapshot", id ? id : "?");
        free(id);
    }
    return 0;
}

static int human_token(const struct cli *c, const struct ef_val *v)
{
    (void)c;
    static const char *const keys[] = {"token", "group", "uses", "expires", NULL};
    print_fields(v, keys);
    return 0;
}

static int human_snapshots(const struct cli *c, const struct ef_val *v)
{
    (void)c;
    struct table t = {.ncols = 7,
                      .head = {"GROUP", "VERSION", "ID", "DATE", "AUTHOR", "FILES", "DESCRIPTION"}};
    for (size_t i = 0; i < ef_val_arr_len(v); i++) {
        const struct ef_val *s = ef_val_arr_at(v, i);
        const struct ef_val *files = ef_val_obj_get(s, "files");
        char *cells[] = {show_key(s, "group"),      show_key(s, "version"),
                         show_short(s, "id", 12),   show_time(s, "ts"),
                         show_key(s, "author"),     fmt("%zu", ef_val_arr_len(files)),
                         show_key(s, "description")};
        table_row(&t, cells);
    }
    return table_print(&t);
}

static int human_snapshot(const struct cli *c, const struct ef_val *v)
{
    (void)c;
    static const char *const keys[] = {"id",     "group", "version", "description",
                                       "author", "ts",    "env",     NULL};
    print_fields(v, keys);
    const struct ef_val *files = ef_val_obj_get(v, "files");
    if (ef_val_arr_len(files)) {
        struct table t = {.ncols = 3, .head = {"SHA256", "SIZE", "PATH"}};
        for (size_t i = 0; i < ef_val_arr_len(files); i++) {
            const struct ef_val *f = ef_val_arr_at(files, i);
            char *cells[] = {show_key(f, "sha256"), show_key(f, "size"), show_key(f, "path")};
            table_row(&t, cells);
        }
        putchar('\n');
        return table_print(&t);
    }
    return 0;
}

static int human_snapshot_created(const struct cli *c, const struct ef_val *v)
{
    char *id = show_key(v, "id"), *ver = show_key(v, "version"), *g = show_key(v, "group");
    printf("snapshot %s: group %s, version %s%s\n", id ? id : "?", g ? g : "?", ver ? ver : "?",
           c->status == 200 ? " (an identical snapshot was already stored)" : "");
    free(id);
    free(ver);
    free(g);
    return 0;
}

static int human_rollouts(const struct cli *c, const struct ef_val *v)
{
    (void)c;
    struct table t = {.ncols = 7,
                      .head = {"ID", "GROUP", "SNAPSHOT", "STATE", "WAVE", "STARTED", "REASON"}};
    for (size_t i = 0; i < ef_val_arr_len(v); i++) {
        const struct ef_val *r = ef_val_arr_at(v, i);
        char *cells[] = {show_key(r, "id"),    show_key(r, "group"), show_short(r, "snapshot", 12),
                         show_key(r, "state"), show_key(r, "wave"),  show_time(r, "created"),
                         show_key(r, "reason")};
        table_row(&t, cells);
    }
    return table_print(&t);
}

static int human_rollout(const struct cli *c, const struct ef_val *v)
{
    (void)c;
    static const char *const keys[] = {"id",
                                       "group",
                                       "snapshot",
                                       "state",
                                       "wave",
                                       "reason",
                                       "strategy",
                                       "waves",
                                       "healthSeconds",
                                       "maxErrors",
                                       "failureBudget",
                                       "waveTimeout",
                                       "autoRollback",
                                       "actor",
                                       "created",
                                       "updated",
                                       NULL};
    print_fields(v, keys);
    const struct ef_val *devs = ef_val_obj_get(v, "devices");
    if (ef_val_arr_len(devs)) {
        struct table t = {.ncols = 5, .head = {"DEVICE", "WAVE", "STATUS", "FROM", "REASON"}};
        for (size_t i = 0; i < ef_val_arr_len(devs); i++) {
            const struct ef_val *d = ef_val_arr_at(devs, i);
            char *cells[] = {show_key(d, "id"), show_key(d, "wave"), show_key(d, "status"),
                             show_short(d, "from", 12), show_key(d, "reason")};
            table_row(&t, cells);
        }
        putchar('\n');
        return table_print(&t);
    }
    return 0;
}

static int human_audit(const struct cli *c, const struct ef_val *v)
{
    (void)c;
    struct table t = {.ncols = 5, .head = {"TIME", "ACTOR", "ACTION", "TARGET", "DETAIL"}};
    for (size_t i = 0; i < ef_val_arr_len(v); i++) {
        const struct ef_val *a = ef_val_arr_at(v, i);
        char *cells[] = {show_time(a, "ts"), show_key(a, "actor"), show_key(a, "action"),
                         show_key(a, "target"), show_key(a, "detail")};
        table_row(&t, cells);
    }
    return table_print(&t);
}

static int human_authoring(const struct cli *c, const struct ef_val *v)
{
    (void)c;
    char *g = show_key(v, "group");
    printf("authoring group: %s\n", g ? g : "?");
    free(g);
    return 0;
}

static int human_resp(const struct cli *c, const struct ef_val *v)
{
    (void)c;
    const struct ef_val *ok = ef_val_obj_get(v, "ok");
    if (ef_val_type(ok) == EF_BOOL && !ef_val_bool_get(ok)) {
        char *e = show_key(v, "error");
        fprintf(stderr, "edgeflow fleet: the device answered with an error: %s\n", e ? e : "?");
        free(e);
        return 1;
    }
    const struct ef_val *res = ef_val_obj_get(v, "result");
    const struct ef_val *lines = ef_val_type(res) == EF_OBJ ? ef_val_obj_get(res, "lines") : res;
    if (ef_val_type(lines) == EF_ARR) { /* logs: one line each */
        for (size_t i = 0; i < ef_val_arr_len(lines); i++) {
            char *s = show(ef_val_arr_at(lines, i));
            printf("%s\n", s ? s : "?");
            free(s);
        }
        return 0;
    }
    char *s = show(res);
    printf("%s\n", s ? s : "?");
    free(s);
    return 0;
}

/* ================================================================ commands */

static int simple(const struct cli *c, const char *method, char *path, const struct ef_val *body,
                  const char *what, int (*human)(const struct cli *, const struct ef_val *))
{
    if (!path) {
        fprintf(stderr, "edgeflow fleet: out of memory\n");
        return 1;
    }
    struct resp r;
    int rc = request(c, method, path, body, &r);
    free(path);
    return rc != 0 ? rc : answer(c, &r, what, human);
}

static char *with_query(const char *path, const char *key, const char *value)
{
    if (!value) {
        return strdup(path);
    }
    char *e = url_escape(value);
    char *p = e ? fmt("%s?%s=%s", path, key, e) : NULL;
    free(e);
    return p;
}

static int cmd_devices(const struct cli *c)
{
    return simple(c, "GET", with_query("/devices", "group", c->group), NULL, "devices",
                  human_devices);
}

static int cmd_device(const struct cli *c)
{
    return simple(c, "GET", path1("/devices/", c->pos[0], ""), NULL, "device", human_device);
}

static int cmd_device_set(const struct cli *c)
{
    if (!c->group && !c->nlabels && !c->nenv) {
        return usage_error("device-set needs --group, --label or --env");
    }
    struct ef_val *body = ef_val_obj();
    bool ok = body && (!c->group || fleet_put(body, "group", ef_val_str(c->group))) &&
              (!c->nlabels || fleet_put(body, "labels", kv_object(c->labels, c->nlabels))) &&
              (!c->nenv || fleet_put(body, "env", kv_object(c->env, c->nenv)));
    int rc =
        ok ? simple(c, "PATCH", path1("/devices/", c->pos[0], ""), body, "device", human_device)
           : 1;
    ef_val_unref(body);
    return rc;
}

static int cmd_revoke(const struct cli *c)
{
    return simple(c, "POST", path1("/devices/", c->pos[0], "/revoke"), NULL, "revoke",
                  human_device);
}

static int cmd_command(const struct cli *c)
{
    const char *cmd = c->pos[1];
    if (strcmp(cmd, "restart") != 0 && strcmp(cmd, "logs") != 0 && strcmp(cmd, "ping") != 0) {
        return usage_error("command must be restart, logs or ping, not '%s'", cmd);
    }
    struct ef_val *body = ef_val_obj();
    struct ef_val *args = ef_val_obj();
    bool ok = body && args &&
              (c->lines < 0 || fleet_put(args, "lines", ef_val_num((double)c->lines))) &&
              fleet_put(body, "cmd", ef_val_str(cmd));
    if (ok) {
        ok = fleet_put(body, "args", args); /* adopts args either way */
    } else {
        ef_val_unref(args);
    }
    int rc = ok ? simple(c, "POST", path1("/devices/", c->pos[0], "/commands"), body, "command",
                         human_resp)
                : 1;
    ef_val_unref(body);
    return rc;
}

static int cmd_groups(const struct cli *c)
{
    return simple(c, "GET", strdup("/groups"), NULL, "groups", human_groups);
}

static int cmd_group(const struct cli *c)
{
    return simple(c, "GET", path1("/groups/", c->pos[0], ""), NULL, "group", human_group);
}

static int group_write(const struct cli *c, bool create)
{
    struct ef_val *body = ef_val_obj();
    bool ok = body && (!create || fleet_put(body, "name", ef_val_str(c->pos[0]))) &&
              ((!create && !c->nenv) || fleet_put(body, "env", kv_object(c->env, c->nenv))) &&
              (!c->description || fleet_put(body, "description", ef_val_str(c->description)));
    if (!create && !c->nenv && !c->description) {
        ef_val_unref(body);
        return usage_error("group-set needs --env or --description");
    }
    int rc = !ok      ? 1
             : create ? simple(c, "POST", strdup("/groups"), body, "group-create", human_group)
                      : simple(c, "PATCH", path1("/groups/", c->pos[0], ""), body, "group-set",
                               human_group);
    ef_val_unref(body);
    return rc;
}

static int cmd_group_create(const struct cli *c)
{
    return group_write(c, true);
}

static int cmd_group_set(const struct cli *c)
{
    return group_write(c, false);
}

static int cmd_token_create(const struct cli *c)
{
    struct ef_val *body = ef_val_obj();
    bool ok =
        body && fleet_put(body, "group", ef_val_str(c->pos[0])) &&
        fleet_put(body, "labels", kv_object(c->labels, c->nlabels)) &&
        (c->uses < 0 || fleet_put(body, "uses", ef_val_num((double)c->uses))) &&
        (c->expires_in < 0 || fleet_put(body, "expiresIn", ef_val_num((double)c->expires_in)));
    int rc =
        ok ? simple(c, "POST", strdup("/provisioning-tokens"), body, "token-create", human_token)
           : 1;
    ef_val_unref(body);
    return rc;
}

static int cmd_snapshots(const struct cli *c)
{
    return simple(c, "GET", with_query("/snapshots", "group", c->group), NULL, "snapshots",
                  human_snapshots);
}

static int print_raw_json(const struct cli *c, const struct ef_val *v)
{
    (void)c;
    char *s = ef_json_print(v, EF_JSON_PRETTY, NULL);
    if (!s) {
        return 1;
    }
    printf("%s\n", s);
    free(s);
    return 0;
}

static int cmd_snapshot(const struct cli *c)
{
    if (c->flows) {
        return simple(c, "GET", path1("/snapshots/", c->pos[0], "/flows"), NULL, "flows",
                      print_raw_json);
    }
    return simple(c, "GET", path1("/snapshots/", c->pos[0], ""), NULL, "snapshot", human_snapshot);
}

/* Reads a local JSON file that must hold a value of type `want`. */
static struct ef_val *read_json(const char *path, enum ef_type want, const char *what)
{
    size_t len;
    char *text = read_file(path, &len);
    if (!text) {
        fprintf(stderr, "edgeflow fleet: cannot read %s %s: %s\n", what, path, strerror(errno));
        return NULL;
    }
    char err[160];
    struct ef_val *v = ef_json_parse(text, len, err, sizeof(err));
    free(text);
    if (!v) {
        fprintf(stderr, "edgeflow fleet: %s %s is not JSON: %s\n", what, path, err);
        return NULL;
    }
    if (ef_val_type(v) != want) {
        fprintf(stderr, "edgeflow fleet: %s %s must hold a JSON %s, not %s\n", what, path,
                ef_type_name(want), ef_type_name(ef_val_type(v)));
        ef_val_unref(v);
        return NULL;
    }
    return v;
}

/* {"path","content"} of one --file PATH=LOCALFILE; NULL after printing why. */
static struct ef_val *file_entry(const struct kv *f)
{
    size_t len;
    char *data = read_file(f->value, &len);
    if (!data) {
        fprintf(stderr, "edgeflow fleet: cannot read --file %.*s=%s: %s\n", (int)f->klen, f->key,
                f->value, strerror(errno));
        return NULL;
    }
    size_t b64len = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64len);
    struct ef_val *o = ef_val_obj();
    bool ok = b64 && o;
    if (ok) {
        sodium_bin2base64(b64, b64len, (const unsigned char *)data, len,
                          sodium_base64_VARIANT_ORIGINAL);
        struct ef_val *p = ef_val_strn(f->key, f->klen);
        ok = fleet_put(o, "path", p) && fleet_put(o, "content", ef_val_str(b64));
    }
    free(data);
    free(b64);
    if (!ok) {
        fprintf(stderr, "edgeflow fleet: out of memory\n");
        ef_val_unref(o);
        return NULL;
    }
    return o;
}

static int cmd_snapshot_create(const struct cli *c)
{
    struct ef_val *flows = read_json(c->pos[1], EF_ARR, "flows file");
    if (!flows) {
        return 2;
    }
    struct ef_val *creds = NULL;
    if (c->cred && !(creds = read_json(c->cred, EF_OBJ, "credentials file"))) {
        ef_val_unref(flows);
        return 2;
    }
    struct ef_val *body = ef_val_obj();
    bool ok = body && fleet_put(body, "group", ef_val_str(c->pos[0])) &&
              (!c->description || fleet_put(body, "description", ef_val_str(c->description)));
    if (ok) {
        ok = fleet_put(body, "flows", flows); /* adopts flows either way */
    } else {
        ef_val_unref(flows);
    }
    if (creds && ok) {
        ok = fleet_put(body, "credentials", creds);
    } else {
        ef_val_unref(creds);
    }
    ok = ok && (!c->nenv || fleet_put(body, "env", kv_object(c->env, c->nenv)));
    int rc = ok ? 0 : 1;
    if (ok && c->nfiles) {
        struct ef_val *files = ef_val_arr();
        ok = files && fleet_put(body, "files", files);
        for (int i = 0; ok && i < c->nfiles; i++) {
            struct ef_val *f = file_entry(&c->files[i]);
            if (!f) {
                rc = 2;
                ok = false;
            } else if (ef_val_arr_push_take(files, f) != 0) {
                ef_val_unref(f);
                rc = 1;
                ok = false;
            }
        }
    }
    if (ok) {
        rc = simple(c, "POST", strdup("/snapshots"), body, "snapshot-create",
                    human_snapshot_created);
    }
    ef_val_unref(body);
    return rc;
}

/* Parses "1,10%,100%" into [1,"10%","100%"]; NULL after printing why. */
static struct ef_val *parse_waves(const char *text)
{
    struct ef_val *arr = ef_val_arr();
    const char *p = text;
    while (arr && *p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char *endnum = NULL;
        double d = strtod(p, &endnum);
        struct ef_val *item = NULL;
        if (n > 0 && endnum == p + n - 1 && p[n - 1] == '%' && d > 0 && d <= 100) {
            item = ef_val_strn(p, n);
        } else if (n > 0 && endnum == p + n && d >= 1 && d == (double)(long long)d) {
            item = ef_val_num(d);
        } else {
            fprintf(stderr,
                    "edgeflow fleet: --waves: '%.*s' is not a count (1, 2, ...) or a percentage "
                    "(10%%)\n",
                    (int)n, p);
            ef_val_unref(arr);
            return NULL;
        }
        if (!item || ef_val_arr_push_take(arr, item) != 0) {
            ef_val_unref(item);
            ef_val_unref(arr);
            return NULL;
        }
        p += n + (end ? 1 : 0);
        if (end && !*p) {
            fprintf(stderr, "edgeflow fleet: --waves ends with a comma\n");
            ef_val_unref(arr);
            return NULL;
        }
    }
    if (arr && ef_val_arr_len(arr) == 0) {
        fprintf(stderr, "edgeflow fleet: --waves is empty\n");
        ef_val_unref(arr);
        return NULL;
    }
    return arr;
}

/* The id of the group's latest snapshot (GET /groups/:name), malloc'ed; NULL after printing why. */
static char *latest_snapshot(const struct cli *c, const char *group)
{
    char *path = path1("/groups/", group, "");
    struct resp r;
    int rc = path ? request(c, "GET", path, NULL, &r) : 1;
    free(path);
    if (rc != 0) {
        return NULL;
    }
    struct ef_val *g = parse_answer(&r, "group");
    free(r.body);
    const struct ef_val *s = ef_val_obj_get(g, "snapshot");
    if (ef_val_type(s) == EF_OBJ) {
        s = ef_val_obj_get(s, "id");
    }
    char *id = ef_val_type(s) == EF_STR ? strdup(ef_val_str_get(s)) : NULL;
    if (g && !id) {
        fprintf(stderr,
                "edgeflow fleet: group %s has no snapshot yet (snapshot-create makes one)\n",
                group);
    }
    ef_val_unref(g);
    return id;
}

static int cmd_rollout_start(const struct cli *c)
{
    if (c->all && c->waves) {
        return usage_error("rollout-start takes --all or --waves, not both");
    }
    struct ef_val *waves = NULL;
    if (c->waves && !(waves = parse_waves(c->waves))) {
        return 2;
    }
    char *snap =
        strcmp(c->pos[1], "latest") == 0 ? latest_snapshot(c, c->pos[0]) : strdup(c->pos[1]);
    if (!snap) {
        ef_val_unref(waves);
        return 1;
    }
    struct ef_val *body = ef_val_obj();
    struct ef_val *selector = ef_val_obj();
    bool ok = body && selector && fleet_put(selector, "labels", kv_object(c->labels, c->nlabels));
    ok = ok && fleet_put(body, "group", ef_val_str(c->pos[0])) &&
         fleet_put(body, "snapshot", ef_val_str(snap));
    if (ok) {
        ok = fleet_put(body, "selector", selector);
        selector = NULL;
    }
    ok = ok && fleet_put(body, "strategy", ef_val_str(c->all ? "all" : "waves"));
    if (ok && waves) {
        ok = fleet_put(body, "waves", waves);
        waves = NULL;
    }
    ok = ok && (c->health_seconds < 0 ||
                fleet_put(body, "healthSeconds", ef_val_num((double)c->health_seconds)));
    ok = ok &&
         (c->max_errors < 0 || fleet_put(body, "maxErrors", ef_val_num((double)c->max_errors)));
    ok = ok && (c->failure_budget < 0 ||
                fleet_put(body, "failureBudget", ef_val_num((double)c->failure_budget)));
    ok = ok && (c->wave_timeout < 0 ||
                fleet_put(body, "waveTimeout", ef_val_num((double)c->wave_timeout)));
    ok = ok && fleet_put(body, "autoRollback", ef_val_bool(!c->no_auto_rollback));
    int rc = ok ? simple(c, "POST", strdup("/rollouts"), body, "rollout-start", human_rollout) : 1;
    ef_val_unref(selector);
    ef_val_unref(waves);
    ef_val_unref(body);
    free(snap);
    return rc;
}

static int cmd_rollouts(const struct cli *c)
{
    return simple(c, "GET", strdup("/rollouts"), NULL, "rollouts", human_rollouts);
}

static int cmd_rollout(const struct cli *c)
{
    return simple(c, "GET", path1("/rollouts/", c->pos[0], ""), NULL, "rollout", human_rollout);
}

static int cmd_rollout_action(const struct cli *c)
{
    char *suffix = fmt("/%s", c->cmd);
    int rc = suffix ? simple(c, "POST", path1("/rollouts/", c->pos[0], suffix), NULL, c->cmd,
                             human_rollout)
                    : 1;
    free(suffix);
    return rc;
}

static int cmd_audit(const struct cli *c)
{
    char *path = c->limit >= 0 ? fmt("/audit?limit=%lld", c->limit) : strdup("/audit");
    return simple(c, "GET", path, NULL, "audit", human_audit);
}

static int cmd_authoring(const struct cli *c)
{
    if (c->npos == 0) {
        return simple(c, "GET", strdup("/authoring"), NULL, "authoring", human_authoring);
    }
    struct ef_val *body = ef_val_obj();
    int rc = body && fleet_put(body, "group", ef_val_str(c->pos[0]))
                 ? simple(c, "PUT", strdup("/authoring"), body, "authoring", human_authoring)
                 : 1;
    ef_val_unref(body);
    return rc;
}

static int cmd_file(const struct cli *c)
{
    char *path = path1("/files/", c->pos[0], "");
    struct resp r;
    int rc = path ? request(c, "GET", path, NULL, &r) : 1;
    free(path);
    if (rc != 0) {
        return rc;
    }
    FILE *f = c->out ? fopen(c->out, "wb") : stdout;
    if (!f) {
        fprintf(stderr, "edgeflow fleet: cannot write %s: %s\n", c->out, strerror(errno));
        free(r.body);
        return 2;
    }
    bool ok = fwrite(r.body, 1, r.len, f) == r.len;
    ok = (f == stdout ? fflush(f) == 0 : fclose(f) == 0) && ok;
    free(r.body);
    if (!ok) {
        fprintf(stderr, "edgeflow fleet: writing %s failed\n", c->out ? c->out : "stdout");
        return 2;
    }
    return 0;
}

/* ================================================================ command table and options */

struct command {
    const char *name;
    int min_pos, max_pos;
    const char *options; /* "|group|label|" : the options it takes besides --url/--token/--json */
    int (*run)(const struct cli *c);
    const char *usage;
};

static const struct command commands[] = {
    {"devices", 0, 0, "|group|", cmd_devices, "devices [--group G]"},
    {"device", 1, 1, "", cmd_device, "device ID"},
    {"device-set", 1, 1, "|group|label|env|", cmd_device_set,
     "device-set ID [--group G] [--label k=v]... [--env K=V]..."},
    {"revoke", 1, 1, "", cmd_revoke, "revoke ID"},
    {"command", 2, 2, "|lines|", cmd_command, "command ID restart|logs|ping [--lines N]"},
    {"groups", 0, 0, "", cmd_groups, "groups"},
    {"group", 1, 1, "", cmd_group, "group NAME"},
    {"group-create", 1, 1, "|env|description|", cmd_group_create,
     "group-create NAME [--env K=V]... [--description TEXT]"},
    {"group-set", 1, 1, "|env|description|", cmd_group_set,
     "group-set NAME [--env K=V]... [--description TEXT]"},
    {"token-create", 1, 1, "|uses|label|expires-in|", cmd_token_create,
     "token-create GROUP [--uses N] [--label k=v]... [--expires-in SECONDS]"},
    {"snapshots", 0, 0, "|group|", cmd_snapshots, "snapshots [--group G]"},
    {"snapshot", 1, 1, "|flows|", cmd_snapshot, "snapshot ID [--flows]"},
    {"snapshot-create", 2, 2, "|cred|file|description|env|", cmd_snapshot_create,
     "snapshot-create GROUP FLOWS.json [--cred CREDS.json] [--file PATH=LOCALFILE]...\n"
     "                       [--description TEXT] [--env K=V]..."},
    {"rollouts", 0, 0, "", cmd_rollouts, "rollouts"},
    {"rollout", 1, 1, "", cmd_rollout, "rollout ID"},
    {"rollout-start", 2, 2,
     "|waves|all|health-seconds|max-errors|failure-budget|wave-timeout|no-auto-rollback|label|",
     cmd_rollout_start,
     "rollout-start GROUP SNAPSHOT|latest [--waves 1,10%,100%] [--all] [--health-seconds N]\n"
     "                       [--max-errors N] [--failure-budget N] [--wave-timeout N]\n"
     "                       [--no-auto-rollback] [--label k=v]..."},
    {"pause", 1, 1, "", cmd_rollout_action, "pause ID"},
    {"resume", 1, 1, "", cmd_rollout_action, "resume ID"},
    {"rollback", 1, 1, "", cmd_rollout_action, "rollback ID"},
    {"cancel", 1, 1, "", cmd_rollout_action, "cancel ID"},
    {"audit", 0, 0, "|limit|", cmd_audit, "audit [--limit N]"},
    {"authoring", 0, 1, "", cmd_authoring, "authoring [GROUP]"},
    {"file", 1, 1, "|out|", cmd_file, "file SHA256 [--out FILE]   (with a device token)"},
};

static void print_usage(FILE *f)
{
    fputs("usage: edgeflow fleet COMMAND [ARGS] [--url URL] [--token TOKEN] [--json]\n"
          "  --url    the manager (default $EDGEFLOW_MANAGER, else http://127.0.0.1:1880)\n"
          "  --token  an API token (default $EDGEFLOW_TOKEN)\n"
          "  --json   print the manager's JSON answer as it is\n"
          "commands:\n",
          f);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(f, "  %s\n", commands[i].usage);
    }
}

/* Whether the command takes option `name` (without the dashes). */
static bool takes(const struct command *cmd, const char *name)
{
    char key[40];
    snprintf(key, sizeof(key), "|%s|", name);
    return strstr(cmd->options, key) != NULL;
}

static int parse_count(const char *opt, const char *v, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || errno || n < 0) {
        return usage_error("%s needs a whole number >= 0, not '%s'", opt, v);
    }
    *out = n;
    return 0;
}

static int parse_kv(const char *opt, const char *v, struct kv *list, int *n, int max)
{
    const char *eq = strchr(v, '=');
    if (!eq || eq == v) {
        return usage_error("%s needs KEY=VALUE, not '%s'", opt, v);
    }
    if (*n >= max) {
        return usage_error("too many %s options (at most %d)", opt, max);
    }
    list[*n] = (struct kv){.key = v, .klen = (size_t)(eq - v), .value = eq + 1};
    (*n)++;
    return 0;
}

static int parse(int argc, char **argv, const struct command *cmd, struct cli *c)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || strcmp(a, "--") == 0) {
            if (c->npos >= cmd->max_pos) {
                return usage_error("%s: unexpected argument '%s' (usage: %s)", cmd->name, a,
                                   cmd->usage);
            }
            c->pos[c->npos++] = a;
            continue;
        }
        const char *name = a + 2;
        bool flag = !strcmp(name, "json") || !strcmp(name, "all") ||
                    !strcmp(name, "no-auto-rollback") || !strcmp(name, "flows");
        bool global = !strcmp(name, "url") || !strcmp(name, "token") || !strcmp(name, "json");
        if (!global && !takes(cmd, name)) {
            return usage_error("%s: unknown option %s (usage: %s)", cmd->name, a, cmd->usage);
        }
        if (flag) {
            c->json = c->json || !strcmp(name, "json");
            c->all = c->all || !strcmp(name, "all");
            c->no_auto_rollback = c->no_auto_rollback || !strcmp(name, "no-auto-rollback");
            c->flows = c->flows || !strcmp(name, "flows");
            continue;
        }
        if (i + 1 >= argc) {
            return usage_error("%s needs a value", a);
        }
        const char *v = argv[++i];
        int rc = 0;
        if (!strcmp(name, "url")) {
            c->url = v;
        } else if (!strcmp(name, "token")) {
            c->token = v;
        } else if (!strcmp(name, "group")) {
            c->group = v;
        } else if (!strcmp(name, "description")) {
            c->description = v;
        } else if (!strcmp(name, "cred")) {
            c->cred = v;
        } else if (!strcmp(name, "waves")) {
            c->waves = v;
        } else if (!strcmp(name, "out")) {
            c->out = v;
        } else if (!strcmp(name, "label")) {
            rc = parse_kv(a, v, c->labels, &c->nlabels, MAX_KV);
        } else if (!strcmp(name, "env")) {
            rc = parse_kv(a, v, c->env, &c->nenv, MAX_KV);
        } else if (!strcmp(name, "file")) {
            rc = parse_kv(a, v, c->files, &c->nfiles, MAX_FILES);
        } else if (!strcmp(name, "uses")) {
            rc = parse_count(a, v, &c->uses);
        } else if (!strcmp(name, "expires-in")) {
            rc = parse_count(a, v, &c->expires_in);
        } else if (!strcmp(name, "limit")) {
            rc = parse_count(a, v, &c->limit);
        } else if (!strcmp(name, "lines")) {
            rc = parse_count(a, v, &c->lines);
        } else if (!strcmp(name, "health-seconds")) {
            rc = parse_count(a, v, &c->health_seconds);
        } else if (!strcmp(name, "max-errors")) {
            rc = parse_count(a, v, &c->max_errors);
        } else if (!strcmp(name, "failure-budget")) {
            rc = parse_count(a, v, &c->failure_budget);
        } else if (!strcmp(name, "wave-timeout")) {
            rc = parse_count(a, v, &c->wave_timeout);
        }
        if (rc != 0) {
            return rc;
        }
    }
    if (c->npos < cmd->min_pos) {
        return usage_error("%s: missing arguments (usage: %s)", cmd->name, cmd->usage);
    }
    return 0;
}

int ef_fleet_cli_main(int argc, char **argv)
{
    if (argc < 1 || !strcmp(argv[0], "help") || !strcmp(argv[0], "--help") ||
        !strcmp(argv[0], "-h")) {
        print_usage(argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    const struct command *cmd = NULL;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (!strcmp(argv[0], commands[i].name)) {
            cmd = &commands[i];
        }
    }
    if (!cmd) {
        return usage_error("unknown command '%s'", argv[0]);
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "edgeflow fleet: libsodium cannot initialise\n");
        return 1;
    }
    struct cli c = {.cmd = cmd->name,
                    .uses = -1,
                    .expires_in = -1,
                    .limit = -1,
                    .lines = -1,
                    .health_seconds = -1,
                    .max_errors = -1,
                    .failure_budget = -1,
                    .wave_timeout = -1};
    c.url = getenv("EDGEFLOW_MANAGER");
    c.token = getenv("EDGEFLOW_TOKEN");
    if (!c.url || !*c.url) {
        c.url = "http://127.0.0.1:1880";
    }
    int rc = parse(argc, argv, cmd, &c);
    if (rc != 0) {
        return rc;
    }
    return cmd->run(&c);
}
