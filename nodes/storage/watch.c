/*
 * watch.c - the watch node (Node-RED 23-watch.js, which uses node-watch
 * 0.7): watches a comma-separated list of files and directories with
 * inotify (libuv uv_fs_event; directories below a watched one too when
 * `recursive`, as Node.js 20's recursive fs.watch does on Linux) and sends
 * {payload: path, topic, file, filename, event: "update"|"remove", size,
 * type}. Like node-watch, the raw events of each listed path are gathered
 * for 200 ms and reported once per changed name, in the order first seen,
 * as "update" when the name still exists and "remove" when it does not;
 * with several paths, the same event for the same name is reported once.
 * Paths outside settings.fileAllowedDirectories are refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "engine.h"
#include "strbuf.h"
#include "lib/file_access.h"

#define DEBOUNCE_MS 200

struct wroot;

/* One watched directory (inotify watch). */
struct wdir {
    uv_fs_event_t h; /* first */
    struct wroot *root;
    char *path; /* the directory as watched */
    char *rel;  /* its path relative to the root directory ("" for the root) */
    struct wdir *next;
};

/* One entry of the node's list: a file (its parent is watched) or a directory. */
struct wroot {
    struct watch_node *w;
    char *path;   /* as listed */
    bool is_file; /* watching one file through its parent directory */
    char *base;   /* the directory names are joined to: path, or path/../ for a file */
    char *target; /* a file root: its resolved path */
    struct wdir *dirs;
    struct ef_timer *debounce;
    char **cache; /* names seen since the debounce started */
    size_t ncache, cap;
};

struct watch_node {
    struct ef_node *n;
    const char *files;
    bool recursive;
    char *topic;
    struct wroot *roots;
    size_t nroots;
    /* several roots: the same event for the same name within one turn is sent once */
    struct ef_val *memo; /* array of [event, name] */
    struct ef_timer *memo_timer;
    struct ef_timer *errors; /* reports missing paths after the start (nextTick) */
};

static const struct ef_prop watch_props[] = {
    {EF_PROP_STR, "files", "\"\"", false, "comma-separated files and directories",
     offsetof(struct watch_node, files)},
    {EF_PROP_BOOL, "recursive", "false", false, "watch the directories below too",
     offsetof(struct watch_node, recursive)},
    {EF_PROP_END},
};

/* ---- Paths (Node's path.posix) ---- */

/* path.normalize */
static char *pnormalize(const char *p)
{
    bool abs = p[0] == '/';
    size_t len = strlen(p);
    bool trail = len > 0 && p[len - 1] == '/';
    char *copy = strdup(p);
    if (!copy) {
        return NULL;
    }
    const char **seg = malloc((len / 2 + 2) * sizeof(*seg));
    if (!seg) {
        free(copy);
        return NULL;
    }
    size_t ns = 0;
    char *save = NULL;
    for (char *s = strtok_r(copy, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
        if (!strcmp(s, ".")) {
            continue;
        }
        if (!strcmp(s, "..")) {
            if (ns > 0 && strcmp(seg[ns - 1], "..") != 0) {
                ns--;
                continue;
            }
            if (abs) {
                continue;
            }
        }
        seg[ns++] = s;
    }
    struct strbuf b = {0};
    if (abs) {
        strbuf__adds(&b, "/");
    }
    for (size_t i = 0; i < ns; i++) {
        if (i) {
            strbuf__adds(&b, "/");
        }
        strbuf__adds(&b, seg[i]);
    }
    if (!abs && ns == 0) {
        strbuf__adds(&b, ".");
    }
    if (trail && ns > 0) {
        strbuf__adds(&b, "/");
    }
    free(seg);
    free(copy);
    return strbuf__take(&b, NULL);
}

/* path.join(a, b, c) (empty parts are skipped) */
static char *pjoin3(const char *a, const char *b, const char *c)
{
    struct strbuf s = {0};
    const char *parts[3] = {a, b, c};
    bool any = false;
    for (int i = 0; i < 3; i++) {
        if (parts[i] && parts[i][0]) {
            if (any) {
                strbuf__adds(&s, "/");
            }
            strbuf__adds(&s, parts[i]);
            any = true;
        }
    }
    char *joined = strbuf__take(&s, NULL);
    if (!joined) {
        return NULL;
    }
    char *out = pnormalize(joined[0] ? joined : ".");
    free(joined);
    return out;
}

/* path.basename */
static char *pbasename(const char *p)
{
    size_t len = strlen(p);
    while (len > 1 && p[len - 1] == '/') {
        len--;
    }
    size_t start = len;
    while (start > 0 && p[start - 1] != '/') {
        start--;
    }
    if (len == 1 && p[0] == '/') {
        return strdup("");
    }
    return strndup(p + start, len - start);
}

/* path.resolve(p) */
static char *presolve(const char *p)
{
    if (p[0] == '/') {
        return pnormalize(p);
    }
    char cwd[4096];
    size_t cl = sizeof(cwd);
    if (uv_cwd(cwd, &cl) != 0) {
        return pnormalize(p);
    }
    char *j = pjoin3(cwd, p, NULL);
    if (j && strlen(j) > 1 && j[strlen(j) - 1] == '/') {
        j[strlen(j) - 1] = 0;
    }
    return j;
}

/* ---- Reporting ---- */

static void send_change(struct watch_node *w, const char *event, const char *fpath)
{
    struct ef_val *o = ef_val_obj();
    if (!o) {
        return;
    }
    ef_val_obj_set_take(o, "payload", ef_val_str(fpath));
    ef_val_obj_set_take(o, "topic", ef_val_str(w->topic));
    char *file = pbasename(fpath);
    ef_val_obj_set_take(o, "file", ef_val_str(file ? file : ""));
    free(file);
    ef_val_obj_set_take(o, "filename", ef_val_str(fpath));
    ef_val_obj_set_take(o, "event", ef_val_str(event));
    struct stat st;
    const char *type = "none";
    if (stat(fpath, &st) == 0) {
        if (S_ISREG(st.st_mode)) {
            type = "file";
            ef_val_obj_set_take(o, "size", ef_val_num((double)st.st_size));
        } else if (S_ISBLK(st.st_mode)) {
            type = "blockdevice";
        } else if (S_ISCHR(st.st_mode)) {
            type = "characterdevice";
        } else if (S_ISSOCK(st.st_mode)) {
            type = "socket";
        } else if (S_ISFIFO(st.st_mode)) {
            type = "fifo";
        } else if (S_ISDIR(st.st_mode)) {
            type = "directory";
        } else {
            type = "n/a";
        }
    }
    ef_val_obj_set_take(o, "type", ef_val_str(type));
    struct ef_msg *m = ef_msg_new_take(o);
    if (!m) {
        ef_val_unref(o);
        return;
    }
    if (ef_node_send(w->n, 0, m) != 0) {
        ef_msg_free(m);
    }
}

static void flush_memo(struct ef_node *n, void *arg)
{
    (void)arg;
    struct watch_node *w = ef_node_priv(n);
    struct ef_val *memo = w->memo;
    w->memo = ef_val_arr();
    for (size_t i = 0; memo && i < ef_val_arr_len(memo); i++) {
        const struct ef_val *e = ef_val_arr_at(memo, i);
        send_change(w, ef_val_str_get(ef_val_arr_at(e, 0)), ef_val_str_get(ef_val_arr_at(e, 1)));
    }
    ef_val_unref(memo);
}

/* One change of a root: sent at once, or through the duplicate filter of several roots. */
static void emit(struct watch_node *w, const char *event, const char *fpath)
{
    if (w->nroots == 1) {
        send_change(w, event, fpath);
        return;
    }
    if (!w->memo && !(w->memo = ef_val_arr())) {
        return;
    }
    for (size_t i = 0; i < ef_val_arr_len(w->memo); i++) {
        const struct ef_val *e = ef_val_arr_at(w->memo, i);
        if (!strcmp(ef_val_str_get(ef_val_arr_at(e, 0)), event) &&
            !strcmp(ef_val_str_get(ef_val_arr_at(e, 1)), fpath)) {
            return;
        }
    }
    struct ef_val *e = ef_val_arr();
    ef_val_arr_push_take(e, ef_val_str(event));
    ef_val_arr_push_take(e, ef_val_str(fpath));
    ef_val_arr_push_take(w->memo, e);
    ef_timer_start(w->memo_timer, 0, 0);
}

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/*
 * node-watch's editor-file names: ending in "~", starting with ".#", or
 * "##". strip() gives the name without those marks (its /~$|^\.#|^##$/g).
 */
static bool special(const char *name)
{
    size_t l = strlen(name);
    return (l > 0 && name[l - 1] == '~') || !strncmp(name, ".#", 2) || !strcmp(name, "##");
}

static char *strip(const char *name)
{
    if (!strcmp(name, "##")) {
        return strdup("");
    }
    size_t l = strlen(name);
    const char *s = name;
    if (!strncmp(s, ".#", 2)) {
        s += 2;
        l -= 2;
    }
    if (l > 0 && s[l - 1] == '~') {
        l--;
    }
    return strndup(s, l);
}

/*
 * The debounce ends: each name once, in the order first seen, "update" when
 * it exists and "remove" when not. When an editor-file name was seen and two
 * names are alike without the marks (or one came twice), node-watch reports
 * only the names that exist.
 */
static void on_debounce(struct ef_node *n, void *arg)
{
    (void)n;
    struct wroot *r = arg;
    char **cache = r->cache;
    size_t nc = r->ncache;
    r->cache = NULL;
    r->ncache = r->cap = 0;
    bool has_special = false;
    for (size_t i = 0; i < nc; i++) {
        has_special = has_special || special(cache[i]);
    }
    bool dup = false;
    for (size_t i = 0; has_special && i < nc && !dup; i++) {
        char *a = strip(cache[i]);
        for (size_t j = i + 1; a && j < nc && !dup; j++) {
            char *b2 = strip(cache[j]);
            dup = b2 && !strcmp(a, b2);
            free(b2);
        }
        free(a);
    }
    for (size_t i = 0; i < nc; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            seen = !strcmp(cache[i], cache[j]);
        }
        bool ex = exists(cache[i]);
        if (!seen && (!dup || ex)) {
            emit(r->w, ex ? "update" : "remove", cache[i]);
        }
    }
    for (size_t i = 0; i < nc; i++) {
        free(cache[i]);
    }
    free(cache);
}

static void note(struct wroot *r, const char *name)
{
    if (r->ncache == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        char **c = realloc(r->cache, cap * sizeof(*c));
        if (!c) {
            return;
        }
        r->cache = c;
        r->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy) {
        return;
    }
    r->cache[r->ncache++] = copy;
    if (r->ncache == 1) {
        ef_timer_start(r->debounce, DEBOUNCE_MS, 0);
    }
}

/* ---- Watching ---- */

static void watch_dir(struct wroot *r, const char *path, const char *rel, bool report);

static void on_dir_freed(uv_handle_t *h)
{
    struct wdir *d = (struct wdir *)h;
    free(d->path);
    free(d->rel);
    free(d);
}

/* Stops watching the directory at rel and those below it. */
static void unwatch(struct wroot *r, const char *rel)
{
    size_t rl = strlen(rel);
    struct wdir **pp = &r->dirs;
    while (*pp) {
        struct wdir *d = *pp;
        bool below = !strncmp(d->rel, rel, rl) && (d->rel[rl] == 0 || d->rel[rl] == '/');
        if (rl && below) {
            *pp = d->next;
            uv_fs_event_stop(&d->h);
            uv_close((uv_handle_t *)&d->h, on_dir_freed);
        } else {
            pp = &d->next;
        }
    }
}

static bool watched(struct wroot *r, const char *rel)
{
    for (struct wdir *d = r->dirs; d; d = d->next) {
        if (!strcmp(d->rel, rel)) {
            return true;
        }
    }
    return false;
}

static void on_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    (void)events;
    struct wdir *d = (struct wdir *)h;
    struct wroot *r = d->root;
    struct watch_node *w = r->w;
    if (status < 0) {
        struct ef_val *o = ef_val_obj();
        ef_val_obj_set_take(o, "payload", ef_val_str(""));
        struct ef_msg *m = ef_msg_new_take(o);
        ef_node_error(w->n, m, "Error: %s: %s, watch '%s'", uv_err_name(status),
                      uv_strerror(status), d->path);
        ef_msg_free(m);
        return;
    }
    if (!filename) {
        filename = "";
    }
    if (r->is_file) {
        char *name = pjoin3(r->base, filename, NULL);
        char *res = name ? presolve(name) : NULL;
        if (res && !strcmp(res, r->target)) {
            note(r, name);
        }
        free(res);
        free(name);
        return;
    }
    if (d->rel[0] && !exists(d->path)) {
        /* a watched subdirectory has gone: its parent reports it; what was in it still counts */
        char *base = pbasename(d->path);
        bool self = base && !strcmp(base, filename);
        free(base);
        if (!self) {
            char *name = pjoin3(r->base, d->rel, filename);
            if (name) {
                note(r, name);
            }
            free(name);
        }
        char *rel = strdup(d->rel);
        if (rel) {
            unwatch(r, rel);
            free(rel);
        }
        return;
    }
    char *rel = pjoin3(d->rel, filename, NULL);
    char *name = pjoin3(r->base, d->rel, filename);
    if (!rel || !name) {
        free(rel);
        free(name);
        return;
    }
    if (w->recursive) {
        char *full = pjoin3(d->path, filename, NULL);
        uv_fs_t req;
        bool isdir =
            full && uv_fs_stat(NULL, &req, full, NULL) == 0 && S_ISDIR(req.statbuf.st_mode);
        if (full) {
            uv_fs_req_cleanup(&req);
        }
        note(r, name);
        if (isdir && !watched(r, rel)) {
            watch_dir(r, full, rel, true);
        } else if (!isdir && watched(r, rel)) {
            unwatch(r, rel);
        }
        free(full);
    } else {
        note(r, name);
    }
    free(rel);
    free(name);
}

/* Watches dir (and, when recursive, those below it); `report` notes what it finds. */
static void watch_dir(struct wroot *r, const char *path, const char *rel, bool report)
{
    struct watch_node *w = r->w;
    struct wdir *d = calloc(1, sizeof(*d));
    if (!d || !(d->path = strdup(path)) || !(d->rel = strdup(rel))) {
        if (d) {
            free(d->path);
        }
        free(d);
        return;
    }
    d->root = r;
    uv_fs_event_init(ef_loop_uv(ef_node_loop(w->n)), &d->h);
    int rc = uv_fs_event_start(&d->h, on_event, path, 0);
    if (rc != 0) {
        struct ef_val *o = ef_val_obj();
        ef_val_obj_set_take(o, "payload", ef_val_str(""));
        struct ef_msg *m = ef_msg_new_take(o);
        ef_node_error(w->n, m, "Error: %s: %s, watch '%s'", uv_err_name(rc), uv_strerror(rc), path);
        ef_msg_free(m);
        uv_close((uv_handle_t *)&d->h, on_dir_freed);
        return;
    }
    d->next = r->dirs;
    r->dirs = d;
    if (!w->recursive) {
        return;
    }
    uv_fs_t req;
    if (uv_fs_scandir(NULL, &req, path, 0, NULL) < 0) {
        uv_fs_req_cleanup(&req);
        return;
    }
    uv_dirent_t ent;
    while (uv_fs_scandir_next(&req, &ent) != UV_EOF) {
        char *crel = pjoin3(rel, ent.name, NULL);
        char *cpath = pjoin3(path, ent.name, NULL);
        if (report && crel) {
            char *name = pjoin3(r->base, crel, NULL);
            if (name) {
                note(r, name);
            }
            free(name);
        }
        if (crel && cpath && ent.type == UV_DIRENT_DIR && !watched(r, crel)) {
            watch_dir(r, cpath, crel, report);
        }
        free(crel);
        free(cpath);
    }
    uv_fs_req_cleanup(&req);
}

static void report_missing(struct ef_node *n, void *arg)
{
    (void)arg;
    struct watch_node *w = ef_node_priv(n);
    for (size_t i = 0; i < w->nroots; i++) {
        struct wroot *r = &w->roots[i];
        if (!r->dirs && !exists(r->path)) {
            struct ef_val *o = ef_val_obj();
            ef_val_obj_set_take(o, "payload", ef_val_str(""));
            struct ef_msg *m = ef_msg_new_take(o);
            ef_node_error(n, m, "Error: %s does not exist.", r->path);
            ef_msg_free(m);
        }
    }
}

static void cb_start(struct ef_node *n)
{
    struct watch_node *w = ef_node_priv(n);
    bool missing = false;
    for (size_t i = 0; i < w->nroots; i++) {
        struct wroot *r = &w->roots[i];
        char err[1024];
        if (!file_access__allowed(n, r->path, err, sizeof(err))) {
            struct ef_val *o = ef_val_obj();
            ef_val_obj_set_take(o, "payload", ef_val_str(""));
            struct ef_msg *m = ef_msg_new_take(o);
            ef_node_error(n, m, "%s", err);
            ef_msg_free(m);
            continue;
        }
        uv_fs_t req;
        int rc = uv_fs_stat(NULL, &req, r->path, NULL);
        bool isdir = rc == 0 && S_ISDIR(req.statbuf.st_mode);
        bool isfile = rc == 0 && S_ISREG(req.statbuf.st_mode);
        uv_fs_req_cleanup(&req);
        if (isfile) {
            r->is_file = true;
            r->base = pjoin3(r->path, "../", NULL);
            r->target = presolve(r->path);
            if (r->base && r->target) {
                watch_dir(r, r->base, "", false);
            }
        } else if (isdir) {
            r->base = strdup(r->path);
            if (r->base) {
                watch_dir(r, r->path, "", false);
            }
        } else if (rc != 0) {
            missing = true;
        }
    }
    if (missing) {
        ef_timer_start(w->errors, 0, 0);
    }
}

static void cb_close(struct ef_node *n)
{
    struct watch_node *w = ef_node_priv(n);
    for (size_t i = 0; i < w->nroots; i++) {
        struct wroot *r = &w->roots[i];
        while (r->dirs) {
            struct wdir *d = r->dirs;
            r->dirs = d->next;
            uv_fs_event_stop(&d->h);
            uv_close((uv_handle_t *)&d->h, on_dir_freed);
        }
        for (size_t k = 0; k < r->ncache; k++) {
            free(r->cache[k]);
        }
        free(r->cache);
        free(r->path);
        free(r->base);
        free(r->target);
    }
    free(w->roots);
    w->roots = NULL;
    w->nroots = 0;
    free(w->topic);
    w->topic = NULL;
    ef_val_unref(w->memo);
    w->memo = NULL;
}

static int cb_init(struct ef_node *n, const struct ef_val *config)
{
    (void)config;
    struct watch_node *w = ef_node_priv(n);
    w->n = n;
    /* files.split(",") with each part trimmed */
    struct ef_val *list = ef_val_arr();
    const char *s = w->files;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        const char *a = s, *b = s + len;
        while (a < b && (*a == ' ' || *a == '\t' || *a == '\n' || *a == '\r')) {
            a++;
        }
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\n' || b[-1] == '\r')) {
            b--;
        }
        ef_val_arr_push_take(list, ef_val_strn(a, (size_t)(b - a)));
        if (!comma) {
            break;
        }
        s = comma + 1;
    }
    size_t nl = ef_val_arr_len(list);
    w->topic =
        nl == 1 ? strdup(ef_val_str_get(ef_val_arr_at(list, 0))) : ef_json_print(list, 0, NULL);
    /* the same path listed twice is watched once */
    w->roots = calloc(nl, sizeof(*w->roots));
    for (size_t i = 0; w->roots && i < nl; i++) {
        const char *p = ef_val_str_get(ef_val_arr_at(list, i));
        bool dup = false;
        for (size_t j = 0; j < w->nroots && !dup; j++) {
            dup = !strcmp(w->roots[j].path, p);
        }
        if (dup) {
            continue;
        }
        struct wroot *r = &w->roots[w->nroots];
        r->w = w;
        r->path = strdup(p);
        r->debounce = ef_timer_new(n, on_debounce, r);
        if (!r->path || !r->debounce) {
            free(r->path);
            break;
        }
        w->nroots++;
    }
    ef_val_unref(list);
    w->memo_timer = ef_timer_new(n, flush_memo, NULL);
    w->errors = ef_timer_new(n, report_missing, NULL);
    if (!w->topic || !w->roots || !w->memo_timer || !w->errors) {
        ef_node_error(n, NULL, "out of memory");
        return EF_ENOMEM;
    }
    return 0;
}

/* The watch node type. */
const struct ef_node_type ef_type_watch = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "watch",
    .description = "Reports changes to files and directories",
    .category = "storage",
    .inputs = 0,
    .outputs = 1,
    .props = watch_props,
    .priv_size = sizeof(struct watch_node),
    .cb_init = cb_init,
    .cb_start = cb_start,
    .cb_close = cb_close,
};
