/*
 * admin.c - Node-RED's admin HTTP API and the editor's static files, with
 * Node-RED 4.1.15's request and response shapes (editor-api/lib/admin/,
 * editor-api/lib/editor/): settings, node definitions (HTML and JSON),
 * message catalogues, icons, flows (v1/v2, rev, deployment types, 409 on a
 * stale rev), flows state, single flows, inject and debug buttons, context
 * browsing, diagnostics, an empty local library, and credentials.
 *
 * Node definitions: for each node set of @node-red/nodes (one .html file:
 * its data-template-name types) that has at least one type edgeflow has
 * registered, the file plus its help from locales/<lang>/; our own
 * definitions from editor/nodes/ (.html files); for registered types that neither
 * defines, a definition generated from the type's property table.
 *
 * Deploys keep credentials out of the flows file: a node's `credentials`
 * member goes to flows_cred.json (encrypted as Node-RED does when
 * settings.credentialSecret is a string), and stays in the configuration
 * handed to the engine. See docs/editor.md.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "../nodes/common/debug.h"
#include "../nodes/common/inject.h"
#include "auth.h"
#include "server.h"
#include "storage.h"

#define NR_VERSION "4.1.15"

struct srv_nodeset {
    char *id;     /* "node-red/inject", "edgeflow/foo" */
    char *name;   /* "inject" */
    char *module; /* "node-red", "edgeflow" */
    const char *version;
    char **types;
    size_t ntypes;
    char *html_path; /* NULL for generated sets */
    char *help_rel;  /* "<cat>/<file>.html" under nodes/locales/<lang>/ */
    char *generated; /* generated definition HTML */
    bool include;
};

/* ---- small helpers ---- */

struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
};

static void sb_addn(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom) {
        return;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1) {
            cap *= 2;
        }
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_add(struct sbuf *b, const char *s)
{
    sb_addn(b, s, strlen(s));
}

static void sb_addf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_addf(struct sbuf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if ((size_t)n < sizeof(tmp)) {
        sb_addn(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_addn(b, big, (size_t)n);
    free(big);
}

static void sb_add_html(struct sbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': sb_add(b, "&lt;"); break;
        case '>': sb_add(b, "&gt;"); break;
        case '&': sb_add(b, "&amp;"); break;
        case '"': sb_add(b, "&quot;"); break;
        default: sb_addn(b, s, 1);
        }
    }
}

/* A JSON literal of v, safe inside a <script> element. */
static void sb_add_js(struct sbuf *b, const struct ef_val *v)
{
    char *t = ef_json_print(v, 0, NULL);
    if (!t) {
        b->oom = true;
        return;
    }
    for (char *p = t; *p; p++) {
        if (*p == '<') {
            sb_add(b, "\\u003c");
        } else {
            sb_addn(b, p, 1);
        }
    }
    free(t);
}

static void sb_add_js_str(struct sbuf *b, const char *s)
{
    struct ef_val *v = ef_val_str(s);
    sb_add_js(b, v);
    ef_val_unref(v);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entries of a directory (files or folders), NULL-terminated. */
static char **list_dir(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    *count = 0;
    if (!d) {
        return NULL;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') {
            continue;
        }
        if (n + 2 > cap) {
            cap = cap ? cap * 2 : 32;
            char **nn = realloc(names, cap * sizeof(*nn));
            if (!nn) {
                break;
            }
            names = nn;
        }
        names[n++] = strdup(e->d_name);
        names[n] = NULL;
    }
    closedir(d);
    if (names) {
        qsort(names, n, sizeof(*names), cmp_str);
    }
    *count = n;
    return names;
}

static void free_list(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(l[i]);
    }
    free(l);
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- node definition sets ---- */

static void set_free(struct srv_nodeset *ns)
{
    free(ns->id);
    free(ns->name);
    free(ns->module);
    for (size_t i = 0; i < ns->ntypes; i++) {
        free(ns->types[i]);
    }
    free(ns->types);
    free(ns->html_path);
    free(ns->help_rel);
    free(ns->generated);
}

static struct srv_nodeset *add_set(struct ef_server *s)
{
    struct srv_nodeset *n = realloc(s->sets, (s->nsets + 1) * sizeof(*n));
    if (!n) {
        return NULL;
    }
    s->sets = n;
    memset(&n[s->nsets], 0, sizeof(*n));
    return &n[s->nsets++];
}

static void set_add_type(struct srv_nodeset *ns, const char *t, size_t len)
{
    char **nt = realloc(ns->types, (ns->ntypes + 1) * sizeof(*nt));
    if (!nt) {
        return;
    }
    ns->types = nt;
    ns->types[ns->ntypes] = strndup(t, len);
    if (ns->types[ns->ntypes]) {
        ns->ntypes++;
    }
}

/* Node-RED's loadNodeTemplate: the data-template-name values of a file. */
static void scan_types(struct srv_nodeset *ns, const char *html)
{
    const char *p = html;
    while ((p = strstr(p, "<script"))) {
        const char *end = strchr(p, '>');
        if (!end) {
            break;
        }
        const char *a = strstr(p, "data-template-name");
        if (a && a < end) {
            a += strlen("data-template-name");
            while (*a == ' ' || *a == '=') {
                a++;
            }
            char q = *a;
            if (q == '"' || q == '\'') {
                const char *e = strchr(a + 1, q);
                if (e && e < end) {
                    set_add_type(ns, a + 1, (size_t)(e - a - 1));
                }
            }
        }
        p = end;
    }
}

static bool type_registered(const char *name)
{
    return registry__find(name) != NULL;
}

static bool set_has_type(const struct ef_server *s, const char *type)
{
    for (size_t i = 0; i < s->nsets; i++) {
        if (!s->sets[i].include) {
            continue;
        }
        for (size_t j = 0; j < s->sets[i].ntypes; j++) {
            if (!strcmp(s->sets[i].types[j], type)) {
                return true;
            }
        }
    }
    return false;
}

static int load_html_set(struct ef_server *s, const char *path, const char *module,
                         const char *version, const char *help_rel, bool always)
{
    char *html = srv_read_file(path, NULL);
    if (!html) {
        return 0;
    }
    struct srv_nodeset *ns = add_set(s);
    if (!ns) {
        free(html);
        return EF_ENOMEM;
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    /* "20-inject.html" -> "inject" (Node-RED strips the numeric prefix) */
    const char *b = base;
    while (*b >= '0' && *b <= '9') {
        b++;
    }
    if (b != base && *b == '-') {
        base = b + 1;
    }
    size_t blen = strlen(base);
    if (blen > 5 && !strcmp(base + blen - 5, ".html")) {
        blen -= 5;
    }
    ns->name = strndup(base, blen);
    ns->module = strdup(module);
    ns->version = version;
    ns->html_path = strdup(path);
    ns->help_rel = help_rel ? strdup(help_rel) : NULL;
    if (ns->name && asprintf(&ns->id, "%s/%s", module, ns->name) < 0) {
        ns->id = NULL;
    }
    scan_types(ns, html);
    free(html);
    if (ns->ntypes == 0 && ns->name) {
        /* 05-junction.html defines no template: its type is the set's name */
        set_add_type(ns, ns->name, strlen(ns->name));
    }
    ns->include = always;
    for (size_t i = 0; i < ns->ntypes && !ns->include; i++) {
        ns->include = type_registered(ns->types[i]);
    }
    /* a set whose types are all taken already (ours over Node-RED's) is left out */
    return ns->name && ns->module && ns->html_path && ns->id ? 0 : EF_ENOMEM;
}

static const char *kind_name(enum ef_prop_kind k)
{
    switch (k) {
    case EF_PROP_STR: return "string";
    case EF_PROP_NUM: return "number";
    case EF_PROP_INT: return "integer";
    case EF_PROP_BOOL: return "boolean";
    case EF_PROP_ANY: return "json";
    case EF_PROP_NODE: return "config node";
    default: return "";
    }
}

static bool reserved_prop(const char *n)
{
    static const char *const r[] = {"id",    "type", "z", "x",    "y",
                                    "wires", "g",    "d", "name", "credentials"};
    for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
        if (!strcmp(n, r[i])) {
            return true;
        }
    }
    return false;
}

/* A definition (registerType, edit template, help) from a type's property table. */
static char *generate_definition(const struct ef_node_type *t)
{
    struct sbuf b = {0};
    bool config = t->flags & EF_TYPE_CONFIG;
    const char *in = config ? "node-config-input-" : "node-input-";
    sb_add(&b, "<script type=\"text/javascript\">\n    RED.nodes.registerType(");
    sb_add_js_str(&b, t->name);
    sb_add(&b, ", {\n        category: ");
    sb_add_js_str(&b, config ? "config" : (t->category && *t->category ? t->category : "edgeflow"));
    sb_add(&b,
           ",\n        color: \"#C7E9C0\",\n        defaults: {\n            name: {value: \"\"}");
    for (const struct ef_prop *p = t->props; p && p->kind != EF_PROP_END; p++) {
        if (reserved_prop(p->name)) {
            continue;
        }
        sb_add(&b, ",\n            ");
        sb_add_js_str(&b, p->name);
        sb_add(&b, ": {value: ");
        struct ef_val *d = p->def ? ef_json_parse(p->def, strlen(p->def), NULL, 0) : NULL;
        if (!d) {
            d = p->kind == EF_PROP_BOOL ? ef_val_bool(false) : ef_val_str("");
        }
        sb_add_js(&b, d);
        ef_val_unref(d);
        if (p->required) {
            sb_add(&b, ", required: true");
        }
        if (p->kind == EF_PROP_NUM || p->kind == EF_PROP_INT) {
            sb_add(&b, ", validate: RED.validators.number(true)");
        }
        sb_add(&b, "}");
    }
    sb_add(&b, "\n        },\n");
    if (!config) {
        sb_addf(&b, "        inputs: %d,\n        outputs: %d,\n", t->inputs,
                t->outputs == EF_OUTPUTS_FROM_CONFIG ? 1 : t->outputs);
        sb_add(&b, "        icon: \"cog.svg\",\n");
    }
    sb_add(&b, "        paletteLabel: ");
    sb_add_js_str(&b, t->name);
    sb_add(&b, ",\n        label: function() { return this.name || ");
    sb_add_js_str(&b, t->name);
    sb_add(&b, "; }\n    });\n</script>\n\n<script type=\"text/html\" data-template-name=\"");
    sb_add_html(&b, t->name);
    sb_addf(&b,
            "\">\n    <div class=\"form-row\">\n        <label for=\"%sname\"><i class=\"fa "
            "fa-tag\"></i> Name</label>\n        <input type=\"text\" id=\"%sname\">\n    "
            "</div>\n",
            in, in);
    for (const struct ef_prop *p = t->props; p && p->kind != EF_PROP_END; p++) {
        if (reserved_prop(p->name) || p->kind == EF_PROP_ANY) {
            continue;
        }
        sb_add(&b, "    <div class=\"form-row\">\n        <label for=\"");
        sb_add(&b, in);
        sb_add_html(&b, p->name);
        sb_add(&b, "\">");
        sb_add_html(&b, p->name);
        sb_add(&b, "</label>\n        <input type=\"");
        sb_add(&b, p->kind == EF_PROP_BOOL ? "checkbox\" style=\"width:auto" : "text");
        sb_add(&b, "\" id=\"");
        sb_add(&b, in);
        sb_add_html(&b, p->name);
        sb_add(&b, "\">\n    </div>\n");
    }
    sb_add(&b, "</script>\n\n<script type=\"text/html\" data-help-name=\"");
    sb_add_html(&b, t->name);
    sb_add(&b, "\">\n    <p>");
    sb_add_html(&b, t->description ? t->description : "");
    sb_add(&b, "</p>\n");
    if (t->props && t->props->kind != EF_PROP_END) {
        sb_add(&b, "    <h3>Properties</h3>\n    <dl class=\"message-properties\">\n");
        for (const struct ef_prop *p = t->props; p->kind != EF_PROP_END; p++) {
            sb_add(&b, "        <dt>");
            sb_add_html(&b, p->name);
            sb_add(&b, " <span class=\"property-type\">");
            sb_add(&b, kind_name(p->kind));
            sb_add(&b, "</span></dt>\n        <dd>");
            sb_add_html(&b, p->help ? p->help : "");
            if (p->def) {
                sb_add(&b, " (default ");
                sb_add_html(&b, p->def);
                sb_add(&b, ")");
            }
            sb_add(&b, "</dd>\n");
        }
        sb_add(&b, "    </dl>\n");
    }
    sb_add(&b, "</script>\n");
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static void add_generated(const struct ef_node_type *t, void *ud)
{
    struct ef_server *s = ud;
    if (set_has_type(s, t->name)) {
        return;
    }
    struct srv_nodeset *ns = add_set(s);
    if (!ns) {
        return;
    }
    ns->name = strdup(t->name);
    ns->module = strdup("edgeflow");
    ns->version = EF_VERSION;
    if (asprintf(&ns->id, "edgeflow/%s", t->name) < 0) {
        ns->id = NULL;
    }
    set_add_type(ns, t->name, strlen(t->name));
    ns->generated = generate_definition(t);
    ns->include = ns->name && ns->module && ns->id && ns->generated;
}

int admin__init(struct ef_server *s, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/templates/index.mst", s->editor_dir);
    if (!is_file(path)) {
        snprintf(err, errlen,
                 "the Node-RED editor is not installed at %s (run scripts/setup.sh, or set "
                 "EF_NODE_MODULES to the folder holding @node-red/editor-client)",
                 s->editor_dir);
        return EF_ENOENT;
    }
    return 0; /* the node sets are read on the first admin request (load_sets) */
}

/*
 * Reads the node definitions the editor needs: editor/ first, then
 * @node-red/nodes, then generated ones. Done once, on the first admin
 * request, so start-up and idle memory do not pay for an editor nobody opened.
 */
static void load_sets(struct ef_server *s)
{
    char path[4096];
    /* our own definitions first: they win over Node-RED's for the same type */
    size_t nd;
    char **defs = list_dir(s->defs_dir, &nd);
    for (size_t i = 0; i < nd; i++) {
        size_t l = strlen(defs[i]);
        if (l > 5 && !strcmp(defs[i] + l - 5, ".html")) {
            snprintf(path, sizeof(path), "%s/%s", s->defs_dir, defs[i]);
            load_html_set(s, path, "edgeflow", EF_VERSION, NULL, false);
        }
    }
    free_list(defs, nd);
    /* @node-red/nodes: core/<category>/<file>.html, in Node-RED's load order */
    char core[4096];
    snprintf(core, sizeof(core), "%s/core", s->nodes_dir);
    size_t nc;
    char **cats = list_dir(core, &nc);
    for (size_t i = 0; i < nc; i++) {
        char catdir[8192];
        snprintf(catdir, sizeof(catdir), "%s/%s", core, cats[i]);
        if (!is_dir(catdir)) {
            continue;
        }
        size_t nf;
        char **files = list_dir(catdir, &nf);
        for (size_t j = 0; j < nf; j++) {
            size_t l = strlen(files[j]);
            if (l <= 5 || strcmp(files[j] + l - 5, ".html") != 0) {
                continue;
            }
            char rel[1024];
            char fpath[8192 + 256];
            snprintf(fpath, sizeof(fpath), "%s/%s", catdir, files[j]);
            snprintf(rel, sizeof(rel), "%.500s/%.500s", cats[i], files[j]);
            size_t before = s->nsets;
            load_html_set(s, fpath, "node-red", NR_VERSION, rel,
                          !strcmp(files[j], "98-unknown.html"));
            /* a type we define ourselves hides Node-RED's set of it */
            if (s->nsets > before) {
                struct srv_nodeset *ns = &s->sets[s->nsets - 1];
                for (size_t k = 0; k < before && ns->include; k++) {
                    for (size_t t = 0; t < ns->ntypes; t++) {
                        for (size_t u = 0; s->sets[k].include && u < s->sets[k].ntypes; u++) {
                            if (!strcmp(ns->types[t], s->sets[k].types[u])) {
                                ns->include = false;
                            }
                        }
                    }
                }
            }
        }
        free_list(files, nf);
    }
    free_list(cats, nc);
    registry__each(add_generated, s);
}

void admin__free(struct ef_server *s)
{
    for (size_t i = 0; i < s->nsets; i++) {
        set_free(&s->sets[i]);
    }
    free(s->sets);
    s->sets = NULL;
    s->nsets = 0;
    free(s->nodes_html);
    free(s->nodes_html_lang);
    free(s->index_html);
}

/* ---- languages ---- */

/* Picks the locale folder under `dir` for a requested language. */
static void pick_lang(const char *dir, const char *want, char *out, size_t len)
{
    char p[4096];
    if (want && *want && !strchr(want, '/') && !strstr(want, "..")) {
        snprintf(p, sizeof(p), "%s/%s", dir, want);
        if (is_dir(p)) {
            snprintf(out, len, "%s", want);
            return;
        }
        /* "en" -> "en-US", "de-DE" -> "de" */
        size_t n;
        char **langs = list_dir(dir, &n);
        size_t wl = strcspn(want, "-_");
        for (size_t i = 0; i < n; i++) {
            if (!strncmp(langs[i], want, wl) && (langs[i][wl] == '\0' || langs[i][wl] == '-')) {
                snprintf(out, len, "%s", langs[i]);
                free_list(langs, n);
                return;
            }
        }
        free_list(langs, n);
    }
    snprintf(out, len, "en-US");
}

static void request_lang(struct srv_conn *c, char *out, size_t len)
{
    char q[64];
    if (srv_query(c, "lng", q, sizeof(q)) && *q) {
        snprintf(out, len, "%s", q);
        return;
    }
    char al[256];
    if (srv_header(c, "accept-language:", al, sizeof(al)) && *al) {
        al[strcspn(al, ",;")] = '\0';
        snprintf(out, len, "%.63s", al);
        return;
    }
    snprintf(out, len, "en-US");
}

/* ---- flows, rev and credentials ---- */

static const struct ef_val *flows_array(const struct ef_val *config)
{
    if (ef_val_type(config) == EF_OBJ) {
        return ef_val_obj_get(config, "flows");
    }
    return config;
}

/* A copy of the array with each node's `credentials` member removed. */
static struct ef_val *strip_credentials(const struct ef_val *flows)
{
    struct ef_val *out = ef_val_arr();
    for (size_t i = 0; out && i < ef_val_arr_len(flows); i++) {
        struct ef_val *n = ef_val_arr_at(flows, i);
        if (ef_val_obj_get(n, "credentials")) {
            struct ef_val *copy = ef_val_obj();
            for (size_t k = 0; copy && k < ef_val_obj_len(n); k++) {
                size_t kl;
                const char *key = ef_val_obj_key_at(n, k, &kl);
                if (strcmp(key, "credentials") != 0) {
                    ef_val_obj_setn_take(copy, key, kl, ef_val_ref(ef_val_obj_val_at(n, k)));
                }
            }
            if (!copy) {
                ef_val_unref(out);
                return NULL;
            }
            ef_val_arr_push_take(out, copy);
        } else {
            ef_val_arr_push_take(out, ef_val_ref(n));
        }
    }
    return out;
}

static void sha256_hex(const char *data, size_t len, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)data, len, md);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
}

/* The flows the editor is shown (adopted, credentials stripped) and their revision. */
static void show_flows(struct ef_server *s, struct ef_val *stripped)
{
    ef_val_unref(s->flows);
    s->flows = stripped;
    size_t len;
    char *text = ef_json_print(stripped, 0, &len);
    if (text) {
        sha256_hex(text, len, s->rev);
        free(text);
    }
}

void admin__on_deployed(struct ef_server *s)
{
    if (s->stopping) {
        return;
    }
    const struct ef_val *arr = s->rt->active ? flows_array(s->rt->active->config) : NULL;
    if (!s->started && s->flows) {
        return; /* POST /flows/state stop: the flows stay what they were */
    }
    struct ef_val *stripped = strip_credentials(arr);
    if (!stripped) {
        return;
    }
    show_flows(s, stripped);
    struct ef_val *st = ef_val_obj();
    ef_val_obj_set_take(st, "state", ef_val_str("start"));
    if (s->deploying) {
        ef_val_obj_set_take(st, "deploy", ef_val_bool(true));
    }
    comms__publish(s, "notification/runtime-state", st, true);
    struct ef_val *d = ef_val_obj();
    ef_val_obj_set_take(d, "revision", ef_val_str(s->rev));
    comms__publish(s, "notification/runtime-deploy", d, true);
}

/*
 * The manager (server hooks): the flows the editor shows are the authoring
 * group's latest snapshot, not running flows; s->flows and s->rev follow it.
 */
static void author_refresh(struct ef_server *s)
{
    if (!s->hooks.load_flows) {
        return;
    }
    struct ef_val *loaded = s->hooks.load_flows(s->hooks.ud);
    struct ef_val *stripped = strip_credentials(loaded);
    ef_val_unref(loaded);
    if (!stripped) {
        return;
    }
    show_flows(s, stripped);
}

static const struct ef_val *find_by_id(const struct ef_val *flows, const char *id)
{
    for (size_t i = 0; i < ef_val_arr_len(flows); i++) {
        const struct ef_val *n = ef_val_arr_at(flows, i);
        if (!strcmp(ef_val_str_get(ef_val_obj_get(n, "id")), id)) {
            return n;
        }
    }
    return NULL;
}

/*
 * The configuration to deploy from what the editor sent: credentials the
 * editor sent are merged over the running ones ("__PWRD__" keeps a password
 * as it was); nodes it sent without credentials keep theirs.
 */
static struct ef_val *with_credentials(const struct ef_val *posted, const struct ef_val *running)
{
    struct ef_val *out = ef_val_arr();
    for (size_t i = 0; out && i < ef_val_arr_len(posted); i++) {
        struct ef_val *n = ef_val_arr_at(posted, i);
        const char *id = ef_val_str_get(ef_val_obj_get(n, "id"));
        const struct ef_val *old = ef_val_obj_get(find_by_id(running, id), "credentials");
        const struct ef_val *sent = ef_val_obj_get(n, "credentials");
        if (ef_val_type(n) != EF_OBJ || (!old && !sent)) {
            ef_val_arr_push_take(out, ef_val_ref(n));
            continue;
        }
        struct ef_val *creds = ef_val_obj();
        for (size_t k = 0; creds && k < ef_val_obj_len(old); k++) {
            size_t kl;
            const char *key = ef_val_obj_key_at(old, k, &kl);
            ef_val_obj_setn_take(creds, key, kl, ef_val_ref(ef_val_obj_val_at(old, k)));
        }
        for (size_t k = 0; creds && ef_val_type(sent) == EF_OBJ && k < ef_val_obj_len(sent); k++) {
            size_t kl;
            const char *key = ef_val_obj_key_at(sent, k, &kl);
            const struct ef_val *v = ef_val_obj_val_at(sent, k);
            if (!strcmp(ef_val_str_get(v), "__PWRD__")) {
                continue;
            }
            if (!strncmp(key, "has_", 4)) {
                continue;
            }
            ef_val_obj_setn_take(creds, key, kl, ef_val_ref((struct ef_val *)v));
        }
        struct ef_val *copy = ef_val_obj();
        for (size_t k = 0; copy && k < ef_val_obj_len(n); k++) {
            size_t kl;
            const char *key = ef_val_obj_key_at(n, k, &kl);
            if (strcmp(key, "credentials") != 0) {
                ef_val_obj_setn_take(copy, key, kl, ef_val_ref(ef_val_obj_val_at(n, k)));
            }
        }
        if (!creds || !copy) {
            ef_val_unref(creds);
            ef_val_unref(copy);
            ef_val_unref(out);
            return NULL;
        }
        if (ef_val_obj_len(creds) > 0) {
            ef_val_obj_set_take(copy, "credentials", creds);
        } else {
            ef_val_unref(creds);
        }
        ef_val_arr_push_take(out, copy);
    }
    return out;
}

/* Node-RED's scheme: {"$": hex(iv) + base64(aes-256-ctr(sha256(secret), iv, json))}. */
static struct ef_val *encrypt_creds(const char *secret, const char *json, size_t len)
{
    unsigned char key[SHA256_DIGEST_LENGTH], iv[16];
    SHA256((const unsigned char *)secret, strlen(secret), key);
    if (RAND_bytes(iv, sizeof(iv)) != 1) {
        return NULL;
    }
    unsigned char *ct = malloc(len + 16);
    char *out = malloc(32 + 4 * ((len + 2) / 3) + 2);
    EVP_CIPHER_CTX *cx = EVP_CIPHER_CTX_new();
    int n1 = 0, n2 = 0;
    struct ef_val *res = NULL;
    if (ct && out && cx && EVP_EncryptInit_ex(cx, EVP_aes_256_ctr(), NULL, key, iv) == 1 &&
        EVP_EncryptUpdate(cx, ct, &n1, (const unsigned char *)json, (int)len) == 1 &&
        EVP_EncryptFinal_ex(cx, ct + n1, &n2) == 1) {
        for (int i = 0; i < 16; i++) {
            snprintf(out + 2 * i, 3, "%02x", iv[i]);
        }
        int b = EVP_EncodeBlock((unsigned char *)out + 32, ct, n1 + n2);
        res = ef_val_obj();
        if (res) {
            ef_val_obj_set_take(res, "$", ef_val_strn(out, 32 + (size_t)b));
        }
    }
    EVP_CIPHER_CTX_free(cx);
    free(ct);
    free(out);
    return res;
}

static char *decrypt_creds(const char *secret, const char *enc, size_t *outlen)
{
    size_t elen = strlen(enc);
    if (elen < 32) {
        return NULL;
    }
    unsigned char key[SHA256_DIGEST_LENGTH], iv[16];
    SHA256((const unsigned char *)secret, strlen(secret), key);
    for (int i = 0; i < 16; i++) {
        unsigned int x;
        if (sscanf(enc + 2 * i, "%2x", &x) != 1) {
            return NULL;
        }
        iv[i] = (unsigned char)x;
    }
    const char *b64 = enc + 32;
    size_t blen = elen - 32;
    unsigned char *ct = malloc(blen + 4);
    char *pt = malloc(blen + 16);
    EVP_CIPHER_CTX *cx = EVP_CIPHER_CTX_new();
    char *res = NULL;
    int n = blen ? EVP_DecodeBlock(ct, (const unsigned char *)b64, (int)blen) : 0;
    if (ct && pt && cx && n >= 0) {
        for (size_t i = blen; i > 0 && b64[i - 1] == '='; i--) {
            n--;
        }
        int n1 = 0, n2 = 0;
        if (EVP_DecryptInit_ex(cx, EVP_aes_256_ctr(), NULL, key, iv) == 1 &&
            EVP_DecryptUpdate(cx, (unsigned char *)pt, &n1, ct, n) == 1 &&
            EVP_DecryptFinal_ex(cx, (unsigned char *)pt + n1, &n2) == 1) {
            pt[n1 + n2] = '\0';
            *outlen = (size_t)(n1 + n2);
            res = pt;
            pt = NULL;
        }
    }
    EVP_CIPHER_CTX_free(cx);
    free(ct);
    free(pt);
    return res;
}

char *server__encrypt_credentials(const char *secret, const struct ef_val *creds, size_t *len)
{
    size_t tlen;
    char *text = ef_json_print(creds, 0, &tlen);
    struct ef_val *file = text ? encrypt_creds(secret, text, tlen) : NULL;
    free(text);
    char *out = file ? ef_json_print(file, 0, len) : NULL;
    ef_val_unref(file);
    return out;
}

struct ef_val *server__decrypt_credentials(const char *secret, const char *text, size_t len)
{
    struct ef_val *file = ef_json_parse(text, len, NULL, 0);
    if (ef_val_type(file) != EF_OBJ) {
        ef_val_unref(file);
        return NULL;
    }
    const struct ef_val *enc = ef_val_obj_get(file, "$");
    if (ef_val_type(enc) != EF_STR) {
        return file; /* in clear */
    }
    size_t plen = 0;
    char *plain = secret ? decrypt_creds(secret, ef_val_str_get(enc), &plen) : NULL;
    ef_val_unref(file);
    struct ef_val *dec = plain ? ef_json_parse(plain, plen, NULL, 0) : NULL;
    free(plain);
    if (dec && ef_val_type(dec) != EF_OBJ) {
        ef_val_unref(dec);
        dec = NULL;
    }
    return dec;
}

struct ef_val *server__load_credentials(struct ef_val *flows, const char *flows_path,
                                        struct ef_settings *st, char *err, size_t errlen)
{
    char path[4096];
    const char *slash = strrchr(flows_path, '/');
    const char *base = slash ? slash + 1 : flows_path;
    size_t blen = strlen(base);
    if (blen > 5 && !strcmp(base + blen - 5, ".json")) {
        blen -= 5;
    }
    snprintf(path, sizeof(path), "%.*s%.*s_cred.json", (int)(base - flows_path), flows_path,
             (int)blen, base);
    size_t len;
    char *text = storage__read_file(path, 64u << 20, &len);
    if (!text) {
        return ef_val_ref(flows);
    }
    char perr[200];
    struct ef_val *creds = ef_json_parse(text, len, perr, sizeof(perr));
    free(text);
    if (!creds || ef_val_type(creds) != EF_OBJ) {
        snprintf(err, errlen, "%s: invalid JSON: %s", path, creds ? "not an object" : perr);
        ef_val_unref(creds);
        return NULL;
    }
    const struct ef_val *enc = ef_val_obj_get(creds, "$");
    if (ef_val_type(enc) == EF_STR) {
        char kerr[300] = "";
        const char *secret = settings__credential_key(st, false, kerr, sizeof(kerr));
        size_t plen = 0;
        char *plain = secret ? decrypt_creds(secret, ef_val_str_get(enc), &plen) : NULL;
        struct ef_val *dec = plain ? ef_json_parse(plain, plen, NULL, 0) : NULL;
        free(plain);
        ef_val_unref(creds);
        if (!dec) {
            snprintf(err, errlen, "%s: encrypted credentials cannot be read (%s)", path,
                     secret  ? "wrong credentialSecret?"
                     : *kerr ? kerr
                             : "credentialSecret is false");
            return NULL;
        }
        creds = dec;
    }
    const struct ef_val *arr = flows_array(flows);
    struct ef_val *out = ef_val_arr();
    for (size_t i = 0; out && i < ef_val_arr_len(arr); i++) {
        struct ef_val *n = ef_val_arr_at(arr, i);
        const struct ef_val *c = ef_val_obj_get(creds, ef_val_str_get(ef_val_obj_get(n, "id")));
        if (c && ef_val_type(n) == EF_OBJ && !ef_val_obj_get(n, "credentials")) {
            struct ef_val *copy = ef_val_copy(n);
            if (copy) {
                ef_val_obj_set_take(copy, "credentials", ef_val_ref((struct ef_val *)c));
                ef_val_arr_push_take(out, copy);
            }
        } else {
            ef_val_arr_push_take(out, ef_val_ref(n));
        }
    }
    ef_val_unref(creds);
    return out;
}

/* Writes the flows file and, when there are any, the credentials file. */
static int save_flows(struct ef_server *s, const struct ef_val *config)
{
    struct ef_val *stripped = strip_credentials(config);
    size_t len;
    char *text = stripped ? ef_json_print(stripped, EF_JSON_PRETTY, &len) : NULL;
    ef_val_unref(stripped);
    if (!text) {
        return EF_ENOMEM;
    }
    int rc = storage__write_atomic(s->flows_path, text, len, 1);
    free(text);
    if (rc != 0) {
        ef_log_error("cannot write %s", s->flows_path);
        return rc;
    }
    struct ef_val *creds = ef_val_obj();
    for (size_t i = 0; creds && i < ef_val_arr_len(config); i++) {
        const struct ef_val *n = ef_val_arr_at(config, i);
        const struct ef_val *c = ef_val_obj_get(n, "credentials");
        if (ef_val_type(c) == EF_OBJ && ef_val_obj_len(c) > 0) {
            ef_val_obj_set_take(creds, ef_val_str_get(ef_val_obj_get(n, "id")),
                                ef_val_ref((struct ef_val *)c));
        }
    }
    if (!creds) {
        return EF_ENOMEM;
    }
    if (ef_val_obj_len(creds) == 0 && access(s->cred_path, F_OK) != 0) {
        ef_val_unref(creds);
        return 0;
    }
    char kerr[300] = "";
    const char *secret = settings__credential_key(s->rt->settings, true, kerr, sizeof(kerr));
    if (!secret && *kerr) {
        /* never fall back to writing them in clear */
        ef_log_error("credentials not saved: %s", kerr);
        ef_val_unref(creds);
        return EF_EIO;
    }
    char *ctext = ef_json_print(creds, 0, &len);
    ef_val_unref(creds);
    if (!ctext) {
        return EF_ENOMEM;
    }
    struct ef_val *file = NULL;
    if (secret) {
        file = encrypt_creds(secret, ctext, len);
        free(ctext);
        ctext = file ? ef_json_print(file, EF_JSON_PRETTY, &len) : NULL;
        ef_val_unref(file);
        if (!ctext) {
            return EF_ENOMEM;
        }
    }
    rc = storage__write_atomic(s->cred_path, ctext, len, 1);
    free(ctext);
    if (rc != 0) {
        ef_log_error("cannot write %s", s->cred_path);
    }
    return rc;
}

static const char *dtype_name(enum ef_deploy_type t)
{
    switch (t) {
    case EF_DEPLOY_NODES: return "nodes";
    case EF_DEPLOY_FLOWS: return "flows";
    case EF_DEPLOY_RELOAD: return "reload";
    default: return "full";
    }
}

/*
 * Deploys `posted` (the editor's flows array) with credentials merged in,
 * saves it and notifies the editors. On failure replies with the problems
 * and returns non-zero; on success the caller replies.
 */
static int deploy(struct srv_conn *c, const struct ef_val *posted, enum ef_deploy_type type)
{
    struct ef_server *s = c->srv;
    const struct ef_val *running = s->rt->active ? flows_array(s->rt->active->config) : NULL;
    struct ef_val *config = with_credentials(posted, running);
    if (!config) {
        srv_reply_error(c, 500, "unexpected_error", "out of memory");
        return EF_ENOMEM;
    }
    struct ef_problems probs = {0};
    struct ef_val *st = ef_val_obj();
    ef_val_obj_set_take(st, "state", ef_val_str("stop"));
    ef_val_obj_set_take(st, "deploy", ef_val_bool(true));
    comms__publish(s, "notification/runtime-state", st, true);
    bool was_started = s->started;
    s->started = true;
    s->deploying = true; /* admin__on_deployed marks its notifications as a deploy's */
    uint64_t t0 = uv_hrtime();
    int rc = runtime__deploy_type(s->rt, config, type, &probs);
    uint64_t t1 = uv_hrtime();
    s->deploying = false;
    if (rc != 0) {
        s->started = was_started;
        struct sbuf b = {0};
        for (size_t i = 0; i < probs.n; i++) {
            sb_add(&b, i ? "; " : "");
            sb_add(&b, probs.items[i]);
        }
        ef_log_warn("deploy refused: %s", b.p ? b.p : "invalid flows");
        st = ef_val_obj();
        ef_val_obj_set_take(st, "state", ef_val_str("start"));
        comms__publish(s, "notification/runtime-state", st, true);
        srv_reply_error(c, 400, "invalid_flows", b.p ? b.p : "invalid flows");
        free(b.p);
        problems__free(&probs);
        ef_val_unref(config);
        return EF_EINVAL;
    }
    problems__free(&probs);
    save_flows(s, config);
    ef_val_unref(config);
    ef_log_info("deployed %zu entries (%s) in %.1f ms, saved in %.1f ms", ef_val_arr_len(posted),
                dtype_name(type), (double)(t1 - t0) / 1e6, (double)(uv_hrtime() - t1) / 1e6);
    if (s->auth) {
        char addr[64];
        srv_peer(c, addr, sizeof(addr));
        ef_log_info("audit: flows.set user=%s type=%s path=%s from %s", auth__user_name(c->user),
                    dtype_name(type), c->path, addr);
    }
    return 0;
}

/*
 * The manager's authoring seam (server hooks): the editor's flows become a
 * snapshot through save_flows instead of running here. Credentials the
 * editor did not resend are taken from the flows the editor was shown.
 * Replies on failure and returns non-zero.
 */
static int author_save(struct srv_conn *c, const struct ef_val *posted)
{
    struct ef_server *s = c->srv;
    struct ef_val *shown = s->hooks.load_flows ? s->hooks.load_flows(s->hooks.ud) : NULL;
    struct ef_val *config = with_credentials(posted, shown);
    ef_val_unref(shown);
    if (!config) {
        srv_reply_error(c, 500, "unexpected_error", "out of memory");
        return EF_ENOMEM;
    }
    char err[512] = "";
    int rc = s->hooks.save_flows(s->hooks.ud, config, auth__user_name(c->user), err, sizeof(err));
    ef_val_unref(config);
    if (rc != 0) {
        srv_reply_error(c, 400, "invalid_flows", *err ? err : "the flows were not saved");
        return EF_EINVAL;
    }
    author_refresh(s);
    struct ef_val *d = ef_val_obj();
    ef_val_obj_set_take(d, "revision", ef_val_str(s->rev));
    comms__publish(s, "notification/runtime-deploy", d, true);
    return 0;
}

/* ---- route helpers ---- */

/* Matches "/flow/:id" against a path; captures up to 4 params into p. */
static bool route(const char *pattern, const char *path, char p[][512], int *np)
{
    *np = 0;
    while (*pattern && *path) {
        if (*pattern == ':') {
            while (*pattern && *pattern != '/') {
                pattern++;
            }
            size_t n = strcspn(path, "/");
            if (n == 0 || *np == 4 || n >= 512) {
                return false;
            }
            memcpy(p[*np], path, n);
            p[*np][n] = '\0';
            (*np)++;
            path += n;
            continue;
        }
        if (*pattern == '*') {
            if (*np == 4 || strlen(path) >= 512) {
                return false;
            }
            snprintf(p[(*np)++], 512, "%s", path);
            return true;
        }
        if (*pattern != *path) {
            return false;
        }
        pattern++;
        path++;
    }
    if (*pattern == '*' && *np < 4) {
        p[(*np)++][0] = '\0';
        return true;
    }
    return *pattern == '\0' && *path == '\0';
}

static struct ef_val *parse_body(struct srv_conn *c, bool *bad)
{
    *bad = false;
    if (!c->body || c->body_len == 0) {
        return ef_val_obj();
    }
    char err[200];
    struct ef_val *v = ef_json_parse(c->body, c->body_len, err, sizeof(err));
    if (!v) {
        *bad = true;
        srv_reply_error(c, 400, "invalid_json", err);
    }
    return v;
}

/* ---- GET /settings and friends ---- */

static struct ef_val *context_stores(const struct ef_server *s, const char **def)
{
    struct ef_val *stores = ef_val_arr();
    const struct ef_val *cs = settings__get(s->rt->settings, "contextStorage");
    *def = NULL;
    for (size_t i = 0; i < ef_val_obj_len(cs); i++) {
        const char *k = ef_val_obj_key_at(cs, i, NULL);
        const struct ef_val *v = ef_val_obj_val_at(cs, i);
        if (!strcmp(k, "default") && ef_val_type(v) == EF_STR) {
            *def = ef_val_str_get(v);
            continue;
        }
        ef_val_arr_push_take(stores, ef_val_str(k));
    }
    if (ef_val_arr_len(stores) == 0) {
        ef_val_arr_push_take(stores, ef_val_str("memory"));
        *def = "memory";
    } else if (!*def) {
        *def = ef_val_obj_get(cs, "default") ? "default" : ef_val_str_get(ef_val_arr_at(stores, 0));
    }
    return stores;
}

static void get_settings(struct srv_conn *c)
{
    struct ef_server *s = c->srv;
    struct ef_val *o = ef_val_obj();
    /* Node-RED: settings.httpNodeRoot || "/" */
    const struct ef_val *hnr = settings__get(s->rt->settings, "httpNodeRoot");
    ef_val_obj_set_take(o, "httpNodeRoot",
                        hnr && ef_val_truthy(hnr) ? ef_val_ref((struct ef_val *)hnr)
                                                  : ef_val_str("/"));
    ef_val_obj_set_take(o, "version", ef_val_str(NR_VERSION));
    struct ef_val *user = auth__user_value(c->user);
    if (user) {
        ef_val_obj_set_take(o, "user", user);
    }
    const char *def;
    struct ef_val *ctx = ef_val_obj();
    struct ef_val *stores = context_stores(s, &def);
    ef_val_obj_set_take(ctx, "default", ef_val_str(def));
    ef_val_obj_set_take(ctx, "stores", stores);
    ef_val_obj_set_take(o, "context", ctx);
    struct ef_val *libs = ef_val_arr();
    struct ef_val *local = ef_val_obj();
    ef_val_obj_set_take(local, "id", ef_val_str("local"));
    ef_val_obj_set_take(local, "label", ef_val_str("editor:library.types.local"));
    ef_val_obj_set_take(local, "user", ef_val_bool(false));
    ef_val_obj_set_take(local, "icon", ef_val_str("font-awesome/fa-hdd-o"));
    ef_val_arr_push_take(libs, local);
    ef_val_obj_set_take(o, "libraries", libs);
    ef_val_obj_set_take(o, "flowEncryptionType",
                        ef_val_str(settings__credential_kind(s->rt->settings)));
    struct ef_val *diag = ef_val_obj();
    ef_val_obj_set_take(diag, "enabled", ef_val_bool(true));
    ef_val_obj_set_take(diag, "ui", ef_val_bool(true));
    ef_val_obj_set_take(o, "diagnostics", diag);
    const struct ef_val *rs = settings__get(s->rt->settings, "runtimeState");
    bool rs_on = ef_val_bool_get(ef_val_obj_get(rs, "enabled"));
    struct ef_val *rso = ef_val_obj();
    ef_val_obj_set_take(rso, "enabled", ef_val_bool(rs_on));
    ef_val_obj_set_take(rso, "ui", ef_val_bool(rs_on && ef_val_bool_get(ef_val_obj_get(rs, "ui"))));
    ef_val_obj_set_take(o, "runtimeState", rso);
    ef_val_obj_set_take(o, "functionExternalModules", ef_val_bool(false));
    const struct ef_val *ft = settings__get(s->rt->settings, "functionTimeout");
    ef_val_obj_set_take(o, "functionTimeout", ef_val_num(ef_val_num_get(ft)));
    ef_val_obj_set_take(o, "tlsConfigDisableLocalFiles", ef_val_bool(false));
    struct ef_val *theme = ef_val_obj();
    struct ef_val *langs = ef_val_arr();
    char ldir[4096];
    snprintf(ldir, sizeof(ldir), "%s/locales", s->editor_dir);
    size_t nl;
    char **l = list_dir(ldir, &nl);
    for (size_t i = 0; i < nl; i++) {
        ef_val_arr_push_take(langs, ef_val_str(l[i]));
    }
    free_list(l, nl);
    ef_val_obj_set_take(theme, "languages", langs);
    /* edgeflow cannot install npm nodes: no palette manager, no catalogue fetch */
    struct ef_val *pal = ef_val_obj();
    ef_val_obj_set_take(pal, "editable", ef_val_bool(false));
    ef_val_obj_set_take(pal, "catalogues", ef_val_arr());
    ef_val_obj_set_take(theme, "palette", pal);
    ef_val_obj_set_take(theme, "tours", ef_val_bool(false));
    struct ef_val *proj = ef_val_obj();
    ef_val_obj_set_take(proj, "enabled", ef_val_bool(false));
    ef_val_obj_set_take(theme, "projects", proj);
    ef_val_obj_set_take(o, "editorTheme", theme);
    struct ef_val *ext = ef_val_obj();
    struct ef_val *extp = ef_val_obj();
    ef_val_obj_set_take(extp, "allowInstall", ef_val_bool(false));
    ef_val_obj_set_take(extp, "allowUpload", ef_val_bool(false));
    ef_val_obj_set_take(ext, "palette", extp);
    ef_val_obj_set_take(o, "externalModules", ext);
    /* edgeflow never phones home: no "enable update notifications" prompt */
    ef_val_obj_set_take(o, "telemetryEnabled", ef_val_bool(false));
    srv_reply_json(c, 200, o);
}

static struct ef_val *theme_value(void)
{
    static const char theme[] =
        "{\"page\":{\"title\":\"edgeflow\",\"favicon\":\"favicon.ico\",\"tabicon\":{\"icon\":"
        "\"red/images/node-red-icon-black.svg\",\"colour\":\"#8f0000\"}},\"header\":{\"title\":"
        "\"edgeflow\",\"image\":\"red/images/node-red.svg\"},\"asset\":{\"red\":\"red/red.min.js\","
        "\"main\":\"red/main.min.js\",\"vendorMonaco\":\"vendor/monaco/monaco-bootstrap.js\"},"
        "\"themes\":[]}";
    return ef_json_parse(theme, sizeof(theme) - 1, NULL, 0);
}

/* ---- the editor page: templates/index.mst, rendered as Mustache would ---- */

static const struct ef_val *ctx_lookup(const struct ef_val *ctx, const char *name, size_t len)
{
    const struct ef_val *v = ctx;
    while (len > 0) {
        size_t n = 0;
        while (n < len && name[n] != '.') {
            n++;
        }
        v = ef_val_obj_getn(v, name, n);
        if (!v) {
            return NULL;
        }
        name += n;
        len -= n;
        if (len) {
            name++;
            len--;
        }
    }
    return v;
}

static void render(struct sbuf *b, const char *t, size_t len, const struct ef_val *ctx,
                   const struct ef_val *dot, int depth)
{
    const char *end = t + len;
    while (t < end) {
        const char *open = memmem(t, (size_t)(end - t), "{{", 2);
        if (!open) {
            sb_addn(b, t, (size_t)(end - t));
            return;
        }
        sb_addn(b, t, (size_t)(open - t));
        bool triple = open + 2 < end && open[2] == '{';
        const char *close =
            memmem(open, (size_t)(end - open), triple ? "}}}" : "}}", triple ? 3 : 2);
        if (!close) {
            sb_addn(b, open, (size_t)(end - open));
            return;
        }
        const char *tag = open + (triple ? 3 : 2);
        const char *tend = close;
        while (tag < tend && *tag == ' ') {
            tag++;
        }
        while (tend > tag && tend[-1] == ' ') {
            tend--;
        }
        t = close + (triple ? 3 : 2);
        char kind = *tag;
        if ((kind == '#' || kind == '^') && depth < 8) {
            const char *name = tag + 1;
            while (*name == ' ') {
                name++;
            }
            size_t nlen = (size_t)(tend - name);
            /* find the matching {{/name}} */
            char closer[128];
            snprintf(closer, sizeof(closer), "%.*s", (int)nlen, name);
            const char *body = t, *p = t, *section_end = NULL;
            while ((p = memmem(p, (size_t)(end - p), "{{", 2))) {
                const char *q = p + 2;
                while (*q == ' ') {
                    q++;
                }
                if (*q == '/') {
                    q++;
                    while (*q == ' ') {
                        q++;
                    }
                    if (!strncmp(q, closer, nlen)) {
                        section_end = p;
                        break;
                    }
                }
                p += 2;
            }
            if (!section_end) {
                return;
            }
            const struct ef_val *v = ctx_lookup(ctx, name, nlen);
            bool truthy =
                v && ef_val_truthy(v) && !(ef_val_type(v) == EF_ARR && !ef_val_arr_len(v));
            if (kind == '^') {
                if (!truthy) {
                    render(b, body, (size_t)(section_end - body), ctx, dot, depth + 1);
                }
            } else if (ef_val_type(v) == EF_ARR) {
                for (size_t i = 0; i < ef_val_arr_len(v); i++) {
                    render(b, body, (size_t)(section_end - body), ctx, ef_val_arr_at(v, i),
                           depth + 1);
                }
            } else if (truthy) {
                render(b, body, (size_t)(section_end - body), ctx, dot, depth + 1);
            }
            t = memmem(section_end, (size_t)(end - section_end), "}}", 2);
            t = t ? t + 2 : end;
            continue;
        }
        if (kind == '!' || kind == '/') {
            continue;
        }
        const struct ef_val *v =
            (tend - tag == 1 && *tag == '.') ? dot : ctx_lookup(ctx, tag, (size_t)(tend - tag));
        if (!v) {
            continue;
        }
        char num[32];
        const char *text = ef_val_type(v) == EF_NUM ? (ef_num_format(ef_val_num_get(v), num), num)
                                                    : ef_val_str_get(v);
        if (triple) {
            sb_add(b, text);
        } else {
            sb_add_html(b, text);
        }
    }
}

static void get_index(struct srv_conn *c)
{
    struct ef_server *s = c->srv;
    if (!s->index_html) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/templates/index.mst", s->editor_dir);
        size_t len;
        char *tpl = srv_read_file(path, &len);
        struct ef_val *ctx = theme_value();
        if (!tpl || !ctx) {
            free(tpl);
            ef_val_unref(ctx);
            srv_reply_status(c, 500);
            return;
        }
        char cb[65];
        char seed[64];
        snprintf(seed, sizeof(seed), "%s-edgeflow-%s", NR_VERSION, EF_VERSION);
        sha256_hex(seed, strlen(seed), cb);
        cb[12] = '\0';
        ef_val_obj_set_take(ctx, "cacheBuster", ef_val_str(cb));
        struct sbuf b = {0};
        render(&b, tpl, len, ctx, NULL, 0);
        free(tpl);
        ef_val_unref(ctx);
        if (b.oom) {
            free(b.p);
            srv_reply_status(c, 500);
            return;
        }
        s->index_html = b.p;
        s->index_html_len = b.n;
    }
    char *copy = malloc(s->index_html_len + 1);
    if (!copy) {
        srv_reply_status(c, 500);
        return;
    }
    memcpy(copy, s->index_html, s->index_html_len + 1);
    srv_reply(c, 200, "text/html; charset=utf-8", copy, s->index_html_len);
}

/* ---- /nodes ---- */

static void get_nodes_json(struct srv_conn *c)
{
    struct ef_server *s = c->srv;
    struct ef_val *arr = ef_val_arr();
    for (size_t i = 0; arr && i < s->nsets; i++) {
        const struct srv_nodeset *ns = &s->sets[i];
        if (!ns->include) {
            continue;
        }
        struct ef_val *o = ef_val_obj();
        ef_val_obj_set_take(o, "id", ef_val_str(ns->id));
        ef_val_obj_set_take(o, "name", ef_val_str(ns->name));
        struct ef_val *types = ef_val_arr();
        for (size_t j = 0; j < ns->ntypes; j++) {
            ef_val_arr_push_take(types, ef_val_str(ns->types[j]));
        }
        ef_val_obj_set_take(o, "types", types);
        ef_val_obj_set_take(o, "enabled", ef_val_bool(true));
        ef_val_obj_set_take(o, "local", ef_val_bool(false));
        ef_val_obj_set_take(o, "user", ef_val_bool(false));
        ef_val_obj_set_take(o, "module", ef_val_str(ns->module));
        ef_val_obj_set_take(o, "version", ef_val_str(ns->version));
        ef_val_arr_push_take(arr, o);
    }
    srv_reply_json(c, 200, arr);
}

static void get_nodes_html(struct srv_conn *c)
{
    struct ef_server *s = c->srv;
    char want[64], lang[64], ldir[4096];
    request_lang(c, want, sizeof(want));
    snprintf(ldir, sizeof(ldir), "%s/locales", s->nodes_dir);
    pick_lang(ldir, want, lang, sizeof(lang));
    if (!s->nodes_html || strcmp(s->nodes_html_lang, lang) != 0) {
        struct sbuf b = {0};
        for (size_t i = 0; i < s->nsets; i++) {
            const struct srv_nodeset *ns = &s->sets[i];
            if (!ns->include) {
                continue;
            }
            sb_addf(&b, "\n<!-- --- [red-module:%s] --- -->\n", ns->id);
            if (ns->generated) {
                sb_add(&b, ns->generated);
                continue;
            }
            size_t len;
            char *html = srv_read_file(ns->html_path, &len);
            if (html) {
                sb_addn(&b, html, len);
                free(html);
            }
            if (ns->help_rel) {
                char hp[8192];
                snprintf(hp, sizeof(hp), "%s/%s/%s", ldir, lang, ns->help_rel);
                char *help = srv_read_file(hp, &len);
                if (!help) {
                    snprintf(hp, sizeof(hp), "%s/en-US/%s", ldir, ns->help_rel);
                    help = srv_read_file(hp, &len);
                }
                if (help) {
                    sb_addn(&b, help, len);
                    free(help);
                }
            }
        }
        if (b.oom) {
            free(b.p);
            srv_reply_status(c, 500);
            return;
        }
        free(s->nodes_html);
        free(s->nodes_html_lang);
        s->nodes_html = b.p ? b.p : strdup("");
        s->nodes_html_len = b.n;
        s->nodes_html_lang = strdup(lang);
    }
    char *copy = malloc(s->nodes_html_len + 1);
    if (!copy) {
        srv_reply_status(c, 500);
        return;
    }
    memcpy(copy, s->nodes_html, s->nodes_html_len + 1);
    srv_reply(c, 200, "text/html; charset=utf-8", copy, s->nodes_html_len);
}

static bool wants_json(struct srv_conn *c)
{
    char accept[256];
    if (!srv_header(c, "accept:", accept, sizeof(accept))) {
        return false;
    }
    return strstr(accept, "application/json") && !strstr(accept, "text/html");
}

static void get_icons(struct srv_conn *c)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/icons", c->srv->nodes_dir);
    size_t n;
    char **l = list_dir(dir, &n);
    struct ef_val *arr = ef_val_arr();
    for (size_t i = 0; i < n; i++) {
        ef_val_arr_push_take(arr, ef_val_str(l[i]));
    }
    free_list(l, n);
    struct ef_val *o = ef_val_obj();
    ef_val_obj_set_take(o, "node-red", arr);
    srv_reply_json(c, 200, o);
}

static bool safe_name(const char *p)
{
    return *p && !strstr(p, "..") && !strchr(p, '\\');
}

static void get_icon(struct srv_conn *c, const char *module, const char *icon)
{
    struct ef_server *s = c->srv;
    char path[8192];
    if (safe_name(icon) && !strchr(icon, '/')) {
        if (!strcmp(module, "node-red") || !strcmp(module, "edgeflow")) {
            snprintf(path, sizeof(path), "%s/icons/%s", s->nodes_dir, icon);
            if (is_file(path)) {
                srv_reply_file(c, path);
                return;
            }
        }
        snprintf(path, sizeof(path), "%s/public/red/images/icons/%s", s->editor_dir, icon);
        if (is_file(path)) {
            srv_reply_file(c, path);
            return;
        }
    }
    /* Node-RED answers a missing icon with its default one */
    snprintf(path, sizeof(path), "%s/public/red/images/icons/arrow-in.svg", s->editor_dir);
    srv_reply_file(c, path);
}

static void get_locale(struct srv_conn *c, const char *ns)
{
    struct ef_server *s = c->srv;
    char want[64], lang[64], dir[4096], path[8192];
    request_lang(c, want, sizeof(want));
    if (!strcmp(ns, "editor") || !strcmp(ns, "jsonata") || !strcmp(ns, "infotips")) {
        snprintf(dir, sizeof(dir), "%s/locales", s->editor_dir);
        pick_lang(dir, want, lang, sizeof(lang));
        snprintf(path, sizeof(path), "%s/%s/%s.json", dir, lang, ns);
    } else if (!strcmp(ns, "node-red")) {
        snprintf(dir, sizeof(dir), "%s/locales", s->nodes_dir);
        pick_lang(dir, want, lang, sizeof(lang));
        snprintf(path, sizeof(path), "%s/%s/messages.json", dir, lang);
    } else {
        srv_reply(c, 200, "application/json; charset=utf-8", strdup("{}"), 2);
        return;
    }
    size_t len;
    char *text = srv_read_file(path, &len);
    if (!text) {
        srv_reply(c, 200, "application/json; charset=utf-8", strdup("{}"), 2);
        return;
    }
    srv_reply(c, 200, "application/json; charset=utf-8", text, len);
}

/* ---- /flows ---- */

static bool api_version(struct srv_conn *c, int *v)
{
    char h[16];
    *v = 1;
    if (!srv_header(c, "node-red-api-version:", h, sizeof(h))) {
        return true;
    }
    if (!strcmp(h, "v1")) {
        return true;
    }
    if (!strcmp(h, "v2")) {
        *v = 2;
        return true;
    }
    srv_reply_error(c, 400, "invalid_api_version", "Invalid API Version requested");
    return false;
}

static void get_flows(struct srv_conn *c)
{
    struct ef_server *s = c->srv;
    int v;
    if (!api_version(c, &v)) {
        return;
    }
    author_refresh(s);
    struct ef_val *flows = s->flows ? ef_val_ref(s->flows) : ef_val_arr();
    if (v == 1) {
        srv_reply_json(c, 200, flows);
        return;
    }
    struct ef_val *o = ef_val_obj();
    ef_val_obj_set_take(o, "flows", flows);
    ef_val_obj_set_take(o, "rev", ef_val_str(s->rev));
    srv_reply_json(c, 200, o);
}

static void post_flows(struct srv_conn *c)
{
    struct ef_server *s = c->srv;
    int v;
    if (!api_version(c, &v)) {
        return;
    }
    char dt[32] = "full";
    srv_header(c, "node-red-deployment-type:", dt, sizeof(dt));
    enum ef_deploy_type type = EF_DEPLOY_FULL;
    if (!strcmp(dt, "nodes")) {
        type = EF_DEPLOY_NODES;
    } else if (!strcmp(dt, "flows")) {
        type = EF_DEPLOY_FLOWS;
    } else if (!strcmp(dt, "reload")) {
        type = EF_DEPLOY_RELOAD;
    } else if (*dt && strcmp(dt, "full") != 0) {
        srv_reply_error(c, 400, "invalid_request", "unknown Node-RED-Deployment-Type");
        return;
    }
    author_refresh(s);
    struct ef_val *flows = NULL;
    if (type == EF_DEPLOY_RELOAD && !s->hooks.save_flows) {
        /* the flows file as saved (with its credentials) */
        char err[512];
        bool unreadable;
        struct ef_val *file = runtime__read_flows(s->flows_path, &unreadable, err, sizeof(err));
        struct ef_val *withc =
            file ? server__load_credentials(file, s->flows_path, s->rt->settings, err, sizeof(err))
                 : NULL;
        ef_val_unref(file);
        if (!withc) {
            srv_reply_error(c, 400, "unexpected_error", err);
            return;
        }
        flows = ef_val_ref((struct ef_val *)flows_array(withc));
        ef_val_unref(withc);
    } else {
        bool bad;
        struct ef_val *body = parse_body(c, &bad);
        if (bad) {
            return;
        }
        const struct ef_val *arr = body;
        if (v == 2) {
            if (ef_val_type(body) != EF_OBJ) {
                ef_val_unref(body);
                srv_reply_error(c, 400, "invalid_request", "expected {\"flows\": [...]}");
                return;
            }
            const struct ef_val *rev = ef_val_obj_get(body, "rev");
            if (rev && strcmp(ef_val_str_get(rev), s->rev) != 0) {
                ef_val_unref(body);
                srv_reply_error(c, 409, "version_mismatch", "Error");
                return;
            }
            arr = ef_val_obj_get(body, "flows");
        }
        if (ef_val_type(arr) != EF_ARR) {
            ef_val_unref(body);
            srv_reply_error(c, 400, "invalid_request", "the flows must be an array");
            return;
        }
        flows = ef_val_ref((struct ef_val *)arr);
        ef_val_unref(body);
    }
    int rc;
    if (s->hooks.save_flows) {
        rc = author_save(c, flows);
    } else {
        rc = deploy(c, flows, type);
    }
    ef_val_unref(flows);
    if (rc != 0) {
        return;
    }
    if (v == 1) {
        srv_reply(c, 204, NULL, NULL, 0);
        return;
    }
    struct ef_val *o = ef_val_obj();
    ef_val_obj_set_take(o, "rev", ef_val_str(s->rev));
    srv_reply_json(c, 200, o);
}

static bool runtime_state_enabled(const struct ef_server *s)
{
    const struct ef_val *rs = settings__get(s->rt->settings, "runtimeState");
    return ef_val_bool_get(ef_val_obj_get(rs, "enabled"));
}

static void get_flows_state(struct srv_conn *c)
{
    struct ef_val *o = ef_val_obj();
    ef_val_obj_set_take(o, "state", ef_val_str(c->srv->started ? "start" : "stop"));
    srv_reply_json(c, 200, o);
}

static void post_flows_state(struct srv_conn *c)
{
    struct ef_server *s = c->srv;
    bool bad;
    struct ef_val *body = parse_body(c, &bad);
    if (bad) {
        return;
    }
    const char *want = ef_val_str_get(ef_val_obj_get(body, "state"));
    bool start = !strcmp(want, "start");
    if (!start && strcmp(want, "stop") != 0) {
        ef_val_unref(body);
        srv_reply_error(c, 400, "invalid_run_state", "Invalid state");
        return;
    }
    ef_val_unref(body);
    if (start != s->started) {
        struct ef_problems probs = {0};
        if (start) {
            /* start again from the flows as they were deployed (with credentials) */
            char err[512];
            bool unreadable;
            struct ef_val *file = runtime__read_flows(s->flows_path, &unreadable, err, sizeof(err));
            struct ef_val *withc = file
                                       ? server__load_credentials(file, s->flows_path,
                                                                  s->rt->settings, err, sizeof(err))
                                       : NULL;
            ef_val_unref(file);
            s->started = true;
            int rc = withc ? runtime__deploy_type(s->rt, withc, EF_DEPLOY_FULL, &probs) : EF_EIO;
            ef_val_unref(withc);
            if (rc != 0) {
                s->started = false;
                problems__free(&probs);
                srv_reply_error(c, 400, "unexpected_error", "the flows could not be started");
                return;
            }
        } else {
            s->started = false;
            struct ef_val *empty = ef_val_arr();
            runtime__deploy_type(s->rt, empty, EF_DEPLOY_FULL, &probs);
            ef_val_unref(empty);
            struct ef_val *st = ef_val_obj();
            ef_val_obj_set_take(st, "state", ef_val_str("stop"));
            comms__publish(s, "notification/runtime-state", st, true);
        }
        problems__free(&probs);
    }
    get_flows_state(c);
}

/* ---- /flow/:id ---- */

static bool is_config_type(const char *type)
{
    const struct ef_node_type *t = registry__find(type);
    return t && (t->flags & EF_TYPE_CONFIG);
}

static struct ef_val *node_for_api(const struct ef_val *n)
{
    struct ef_val *copy = ef_val_obj();
    bool link_out = !strcmp(ef_val_str_get(ef_val_obj_get(n, "type")), "link out");
    for (size_t k = 0; copy && k < ef_val_obj_len(n); k++) {
        size_t kl;
        const char *key = ef_val_obj_key_at(n, k, &kl);
        if (!strcmp(key, "credentials") || (link_out && !strcmp(key, "wires"))) {
            continue;
        }
        ef_val_obj_setn_take(copy, key, kl, ef_val_ref(ef_val_obj_val_at(n, k)));
    }
    return copy;
}

static void get_flow(struct srv_conn *c, const char *id)
{
    const struct ef_val *flows = c->srv->flows;
    struct ef_val *o = ef_val_obj();
    ef_val_obj_set_take(o, "id", ef_val_str(id));
    if (!strcmp(id, "global")) {
        struct ef_val *configs = ef_val_arr();
        struct ef_val *subflows = ef_val_arr();
        for (size_t i = 0; i < ef_val_arr_len(flows); i++) {
            const struct ef_val *n = ef_val_arr_at(flows, i);
            const char *type = ef_val_str_get(ef_val_obj_get(n, "type"));
            if (!strcmp(type, "subflow")) {
                struct ef_val *sf = node_for_api(n);
                struct ef_val *nodes = ef_val_arr();
                const char *sid = ef_val_str_get(ef_val_obj_get(n, "id"));
                for (size_t j = 0; j < ef_val_arr_len(flows); j++) {
                    const struct ef_val *m = ef_val_arr_at(flows, j);
                    if (!strcmp(ef_val_str_get(ef_val_obj_get(m, "z")), sid)) {
                        ef_val_arr_push_take(nodes, node_for_api(m));
                    }
                }
                ef_val_obj_set_take(sf, "nodes", nodes);
                ef_val_arr_push_take(subflows, sf);
            } else if (!ef_val_obj_get(n, "z") && strcmp(type, "tab") != 0) {
                ef_val_arr_push_take(configs, node_for_api(n));
            }
        }
        if (ef_val_arr_len(configs)) {
            ef_val_obj_set_take(o, "configs", configs);
        } else {
            ef_val_unref(configs);
        }
        if (ef_val_arr_len(subflows)) {
            ef_val_obj_set_take(o, "subflows", subflows);
        } else {
            ef_val_unref(subflows);
        }
        srv_reply_json(c, 200, o);
        return;
    }
    const struct ef_val *tab = find_by_id(flows, id);
    if (!tab || strcmp(ef_val_str_get(ef_val_obj_get(tab, "type")), "tab") != 0) {
        ef_val_unref(o);
        srv_reply_error(c, 404, "not_found", "Error");
        return;
    }
    static const char *const keys[] = {"label", "disabled", "info", "env"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const struct ef_val *v = ef_val_obj_get(tab, keys[i]);
        if (v && (i != 0 || ef_val_truthy(v))) {
            ef_val_obj_set_take(o, keys[i], ef_val_ref((struct ef_val *)v));
        }
    }
    struct ef_val *nodes = ef_val_arr();
    struct ef_val *configs = ef_val_arr();
    for (int pass = 0; pass < 2; pass++) { /* groups first, as Node-RED lists them */
        for (size_t i = 0; i < ef_val_arr_len(flows); i++) {
            const struct ef_val *n = ef_val_arr_at(flows, i);
            if (strcmp(ef_val_str_get(ef_val_obj_get(n, "z")), id) != 0) {
                continue;
            }
            const char *type = ef_val_str_get(ef_val_obj_get(n, "type"));
            bool group = !strcmp(type, "group");
            if (group != (pass == 0)) {
                continue;
            }
            ef_val_arr_push_take(is_config_type(type) ? configs : nodes, node_for_api(n));
        }
    }
    ef_val_obj_set_take(o, "nodes", nodes);
    if (ef_val_arr_len(configs)) {
        ef_val_obj_set_take(o, "configs", configs);
    } else {
        ef_val_unref(configs);
    }
    srv_reply_json(c, 200, o);
}

/* The running flows minus tab `id` and everything on it (credentials kept). */
static struct ef_val *flows_without(const struct ef_val *running, const char *id)
{
    struct ef_val *out = ef_val_arr();
    for (size_t i = 0; out && i < ef_val_arr_len(running); i++) {
        struct ef_val *n = ef_val_arr_at(running, i);
        if (!*id) {
            ef_val_arr_push_take(out, ef_val_ref(n));
            continue;
        }
        if (!strcmp(ef_val_str_get(ef_val_obj_get(n, "id")), id) ||
            !strcmp(ef_val_str_get(ef_val_obj_get(n, "z")), id)) {
            continue;
        }
        ef_val_arr_push_take(out, ef_val_ref(n));
    }
    return out;
}

/* Appends a flow object ({label, nodes, configs, ...}) as tab `id`; NULL + reply on error. */
static bool append_flow(struct srv_conn *c, struct ef_val *out, const struct ef_val *flow,
                        const char *id)
{
    const struct ef_val *nodes = ef_val_obj_get(flow, "nodes");
    if (ef_val_type(nodes) != EF_ARR) {
        srv_reply_error(c, 400, "unexpected_error", "Error: missing nodes property");
        return false;
    }
    struct ef_val *tab = ef_val_obj();
    ef_val_obj_set_take(tab, "type", ef_val_str("tab"));
    const struct ef_val *label = ef_val_obj_get(flow, "label");
    if (label) {
        ef_val_obj_set_take(tab, "label", ef_val_ref((struct ef_val *)label));
    }
    ef_val_obj_set_take(tab, "id", ef_val_str(id));
    static const char *const keys[] = {"info", "disabled", "env"};
    for (size_t i = 0; i < 3; i++) {
        const struct ef_val *v = ef_val_obj_get(flow, keys[i]);
        if (v) {
            ef_val_obj_set_take(tab, keys[i], ef_val_ref((struct ef_val *)v));
        }
    }
    ef_val_arr_push_take(out, tab);
    const struct ef_val *lists[2] = {nodes, ef_val_obj_get(flow, "configs")};
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; i < ef_val_arr_len(lists[l]); i++) {
            const struct ef_val *n = ef_val_arr_at(lists[l], i);
            const char *type = ef_val_str_get(ef_val_obj_get(n, "type"));
            const char *nid = ef_val_str_get(ef_val_obj_get(n, "id"));
            if (ef_val_type(n) != EF_OBJ || !strcmp(type, "tab") || !strcmp(type, "subflow")) {
                srv_reply_error(c, 400, "unexpected_error", "Error: invalid node type");
                return false;
            }
            if (find_by_id(out, nid)) {
                srv_reply_error(c, 400, "unexpected_error", "Error: duplicate id");
                return false;
            }
            struct ef_val *copy = ef_val_copy(n);
            if (!copy) {
                srv_reply_status(c, 500);
                return false;
            }
            ef_val_obj_set_take(copy, "z", ef_val_str(id));
            ef_val_arr_push_take(out, copy);
        }
    }
    return true;
}

static void add_or_update_flow(struct srv_conn *c, const char *id)
{
    struct ef_server *s = c->srv;
    const struct ef_val *running = s->rt->active ? flows_array(s->rt->active->config) : NULL;
    if (id) {
        const struct ef_val *tab = find_by_id(s->flows, id);
        if (!tab || strcmp(ef_val_str_get(ef_val_obj_get(tab, "type")), "tab") != 0) {
            srv_reply_error(c, 404, "not_found", "Error");
            return;
        }
    }
    bool bad;
    struct ef_val *body = parse_body(c, &bad);
    if (bad) {
        return;
    }
    char newid[17];
    if (!id) {
        ef_id_new(newid);
    }
    struct ef_val *out = flows_without(running, id ? id : "");
    if (!out || !append_flow(c, out, body, id ? id : newid)) {
        ef_val_unref(out);
        ef_val_unref(body);
        return;
    }
    ef_val_unref(body);
    int rc = deploy(c, out, EF_DEPLOY_FLOWS);
    ef_val_unref(out);
    if (rc != 0) {
        return;
    }
    struct ef_val *o = ef_val_obj();
    ef_val_obj_set_take(o, "id", ef_val_str(id ? id : newid));
    srv_reply_json(c, 200, o);
}

static void delete_flow(struct srv_conn *c, const char *id)
{
    struct ef_server *s = c->srv;
    const struct ef_val *tab = find_by_id(s->flows, id);
    if (!tab || strcmp(ef_val_str_get(ef_val_obj_get(tab, "type")), "tab") != 0) {
        srv_reply_error(c, 404, "not_found", "Error");
        return;
    }
    const struct ef_val *running = s->rt->active ? flows_array(s->rt->active->config) : NULL;
    struct ef_val *out = flows_without(running, id);
    int rc = out ? deploy(c, out, EF_DEPLOY_FLOWS) : EF_ENOMEM;
    ef_val_unref(out);
    if (rc == 0) {
        srv_reply(c, 204, NULL, NULL, 0);
    } else if (!c->responding) {
        srv_reply_status(c, 500);
    }
}

/* ---- inject and debug buttons ---- */

static struct ef_node *find_node(struct ef_server *s, const char *id)
{
    return s->rt->active ? flowset__find(s->rt->active, id) : NULL;
}

static void post_inject(struct srv_conn *c, const char *id)
{
    struct ef_node *n = find_node(c->srv, id);
    if (!n || strcmp(n->type->name, "inject") != 0) {
        srv_reply_status(c, 404);
        return;
    }
    bool bad;
    struct ef_val *body = parse_body(c, &bad);
    if (bad) {
        return;
    }
    int rc = inject__trigger_body(n, body);
    ef_val_unref(body);
    srv_reply_status(c, rc == 0 ? 200 : 500);
}

static void post_debug(struct srv_conn *c, const char *id, const char *state)
{
    bool enable = !strcmp(state, "enable");
    if (!enable && strcmp(state, "disable") != 0) {
        srv_reply_status(c, 404);
        return;
    }
    if (!id) {
        bool bad;
        struct ef_val *body = parse_body(c, &bad);
        if (bad) {
            return;
        }
        const struct ef_val *nodes = ef_val_obj_get(body, "nodes");
        if (ef_val_type(nodes) != EF_ARR) {
            ef_val_unref(body);
            srv_reply_status(c, 400);
            return;
        }
        for (size_t i = 0; i < ef_val_arr_len(nodes); i++) {
            struct ef_node *n = find_node(c->srv, ef_val_str_get(ef_val_arr_at(nodes, i)));
            if (n) {
                debug__set_active(n, enable);
            }
        }
        ef_val_unref(body);
        srv_reply_status(c, enable ? 200 : 201);
        return;
    }
    struct ef_node *n = find_node(c->srv, id);
    if (!n || debug__set_active(n, enable) != 0) {
        srv_reply_status(c, 404);
        return;
    }
    srv_reply_status(c, enable ? 200 : 201);
}

/* ---- /context ---- */

/* A node to read context through: the node itself, one on the flow, or any. */
static struct ef_node *context_node(struct ef_server *s, enum ef_ctx_scope scope, const char *id)
{
    struct ef_flowset *fs = s->rt->active;
    if (!fs) {
        return NULL;
    }
    if (scope == EF_CTX_NODE) {
        return flowset__find(fs, id);
    }
    for (size_t i = 0; i < fs->nnodes; i++) {
        struct ef_node *n = fs->nodes[i];
        if (scope == EF_CTX_GLOBAL) {
            return n;
        }
        if (n->flow && n->flow->kind == SCOPE_TAB && !strcmp(n->flow->id, id)) {
            return n;
        }
    }
    return NULL;
}

static const char *store_arg(struct ef_server *s, const char *name)
{
    /* "memory" is what the editor calls the store when none is configured */
    const struct ef_val *cs = settings__get(s->rt->settings, "contextStorage");
    if (!name || !*name || (!ef_val_obj_len(cs) && !strcmp(name, "memory"))) {
        return NULL;
    }
    return name;
}

static void context_api(struct srv_conn *c, const char *scope_name, const char *id, const char *key)
{
    struct ef_server *s = c->srv;
    enum ef_ctx_scope scope = !strcmp(scope_name, "global") ? EF_CTX_GLOBAL
                              : !strcmp(scope_name, "flow") ? EF_CTX_FLOW
                                                            : EF_CTX_NODE;
    char store[128] = "";
    bool has_store = srv_query(c, "store", store, sizeof(store));
    struct ef_node *n = context_node(s, scope, id);
    size_t max = 1000;
    if (c->method == SRV_DELETE) {
        if (!key || !*key) {
            srv_reply_status(c, 400);
            return;
        }
        if (n) {
            ef_ctx_set_take(n, scope, store_arg(s, store), key, NULL);
        }
        srv_reply(c, 204, NULL, NULL, 0);
        return;
    }
    const char *def;
    struct ef_val *stores = context_stores(s, &def);
    if (key && *key) {
        const char *st = has_store ? store : def;
        struct ef_val *v = n ? ef_ctx_get(n, scope, store_arg(s, st), key) : NULL;
        struct ef_val *o = ef_val_obj();
        if (v) {
            comms__encode(o, v, max);
        }
        ef_val_unref(v);
        ef_val_unref(stores);
        srv_reply_json(c, 200, o);
        return;
    }
    struct ef_val *o = ef_val_obj();
    for (size_t i = 0; i < ef_val_arr_len(stores); i++) {
        const char *st = ef_val_str_get(ef_val_arr_at(stores, i));
        if (has_store && strcmp(st, store) != 0) {
            continue;
        }
        struct ef_val *so = ef_val_obj();
        struct ef_val *keys = n ? ef_ctx_keys(n, scope, store_arg(s, st)) : NULL;
        for (size_t k = 0; k < ef_val_arr_len(keys); k++) {
            const char *kn = ef_val_str_get(ef_val_arr_at(keys, k));
            struct ef_val *v = ef_ctx_get(n, scope, store_arg(s, st), kn);
            struct ef_val *e = ef_val_obj();
            comms__encode(e, v, max);
            ef_val_unref(v);
            ef_val_obj_set_take(so, kn, e);
        }
        ef_val_unref(keys);
        ef_val_obj_set_take(o, st, so);
    }
    ef_val_unref(stores);
    srv_reply_json(c, 200, o);
}

/* ---- /diagnostics ---- */

static void get_diagnostics(struct srv_conn *c)
{
    struct ef_server *s = c->srv;
    struct ef_val *o = ef_val_obj();
    ef_val_obj_set_take(o, "report", ef_val_str("diagnostics"));
    ef_val_obj_set_take(o, "scope", ef_val_str("basic"));
    time_t now = time(NULL);
    struct tm tm;
    char buf[128];
    struct ef_val *t = ef_val_obj();
    gmtime_r(&now, &tm);
    strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    ef_val_obj_set_take(t, "utc", ef_val_str(buf));
    localtime_r(&now, &tm);
    strftime(buf, sizeof(buf), "%m/%d/%Y, %I:%M:%S %p", &tm);
    ef_val_obj_set_take(t, "local", ef_val_str(buf));
    ef_val_obj_set_take(o, "time", t);
    struct ef_val *intl = ef_val_obj();
    ef_val_obj_set_take(intl, "locale", ef_val_str("en-US"));
    const char *tz = getenv("TZ");
    ef_val_obj_set_take(intl, "timeZone", ef_val_str(tz && *tz ? tz : "UTC"));
    ef_val_obj_set_take(o, "intl", intl);
    struct ef_val *ef = ef_val_obj();
    ef_val_obj_set_take(ef, "version", ef_val_str(EF_VERSION));
    ef_val_obj_set_take(ef, "abi", ef_val_num(EF_ABI_VERSION));
    long rss_pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        long dummy;
        if (fscanf(f, "%ld %ld", &dummy, &rss_pages) != 2) {
            rss_pages = 0;
        }
        fclose(f);
    }
    struct ef_val *mem = ef_val_obj();
    ef_val_obj_set_take(mem, "rss", ef_val_num((double)rss_pages * (double)sysconf(_SC_PAGESIZE)));
    ef_val_obj_set_take(ef, "memoryUsage", mem);
    ef_val_obj_set_take(o, "edgeflow", ef);
    struct ef_val *os = ef_val_obj();
    struct sysinfo si;
    struct utsname un;
    sysinfo(&si);
    uname(&un);
    ef_val_obj_set_take(os, "containerised", ef_val_bool(access("/.dockerenv", F_OK) == 0));
    ef_val_obj_set_take(os, "wsl", ef_val_bool(false));
    ef_val_obj_set_take(os, "totalmem", ef_val_num((double)si.totalram * si.mem_unit));
    ef_val_obj_set_take(os, "freemem", ef_val_num((double)si.freeram * si.mem_unit));
    ef_val_obj_set_take(os, "arch", ef_val_str(un.machine));
    struct ef_val *la = ef_val_arr();
    for (int i = 0; i < 3; i++) {
        ef_val_arr_push_take(la, ef_val_num((double)si.loads[i] / 65536.0));
    }
    ef_val_obj_set_take(os, "loadavg", la);
    ef_val_obj_set_take(os, "platform", ef_val_str("linux"));
    ef_val_obj_set_take(os, "release", ef_val_str(un.release));
    ef_val_obj_set_take(os, "type", ef_val_str(un.sysname));
    ef_val_obj_set_take(os, "uptime", ef_val_num((double)si.uptime));
    ef_val_obj_set_take(os, "version", ef_val_str(un.version));
    ef_val_obj_set_take(o, "os", os);
    struct ef_val *rt = ef_val_obj();
    ef_val_obj_set_take(rt, "version", ef_val_str(NR_VERSION));
    ef_val_obj_set_take(rt, "isStarted", ef_val_bool(true));
    struct ef_val *fl = ef_val_obj();
    ef_val_obj_set_take(fl, "state", ef_val_str(s->started ? "start" : "stop"));
    ef_val_obj_set_take(fl, "started", ef_val_bool(s->started));
    ef_val_obj_set_take(rt, "flows", fl);
    /* debug messages not sent to editors that read too slowly (comms.c) */
    ef_val_obj_set_take(rt, "commsDropped", ef_val_num((double)s->dropped));
    struct ef_val *mods = ef_val_obj();
    ef_val_obj_set_take(mods, "edgeflow", ef_val_str(EF_VERSION));
    ef_val_obj_set_take(rt, "modules", mods);
    struct ef_val *set = ef_val_obj();
    ef_val_obj_set_take(set, "available", ef_val_bool(true));
    static const char *const keys[] = {
        "apiMaxLength", "contextStorage",   "debugMaxLength", "editorTheme", "flowFile",
        "adminAuth",    "httpAdminRoot",    "httpNodeRoot",   "uiHost",      "uiPort",
        "userDir",      "credentialSecret", "runtimeState"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        ef_val_obj_set_take(set, keys[i],
                            ef_val_str(settings__get(s->rt->settings, keys[i]) ? "SET" : "UNSET"));
    }
    ef_val_obj_set_take(rt, "settings", set);
    ef_val_obj_set_take(o, "runtime", rt);
    srv_reply_json(c, 200, o);
}

/* ---- /credentials/:type/:id ---- */

/*
 * The credential definitions of the core nodes that have credentials
 * (their .html: credentials: {...}): a "password" field is answered only
 * as has_<name>, anything else with its value. Types not listed answer {},
 * as Node-RED does for a type without a definition.
 */
static const struct {
    const char *type, *field;
    bool password;
} cred_defs[] = {
    {"mqtt-broker", "user", false},    {"mqtt-broker", "password", true},
    {"http request", "user", false},   {"http request", "password", true},
    {"http proxy", "username", false}, {"http proxy", "password", true},
    {"tls-config", "certdata", false}, {"tls-config", "keydata", false},
    {"tls-config", "cadata", false},   {"tls-config", "passphrase", true},
    {"global-config", "map", false},
};

static bool cred_set(const struct ef_val *v)
{
    return v && ef_val_type(v) != EF_NULL && !(ef_val_type(v) == EF_STR && ef_val_str_len(v) == 0);
}

/* Node-RED's getNodeCredentials: never a password, only whether there is one. */
static void get_credentials(struct srv_conn *c, const char *type, const char *id)
{
    struct ef_server *s = c->srv;
    const struct ef_val *running = s->rt->active ? flows_array(s->rt->active->config) : NULL;
    const struct ef_val *creds = ef_val_obj_get(find_by_id(running, id), "credentials");
    struct ef_val *o = ef_val_obj();
    char hk[300];
    bool flags_only = (!strncmp(type, "subflow", 7) && (type[7] == '\0' || type[7] == ':')) ||
                      !strcmp(type, "tab") || !strcmp(type, "group");
    if (ef_val_type(creds) != EF_OBJ) {
        /* no credentials: {} */
    } else if (flags_only) {
        for (size_t i = 0; i < ef_val_obj_len(creds); i++) {
            snprintf(hk, sizeof(hk), "has_%s", ef_val_obj_key_at(creds, i, NULL));
            ef_val_obj_set_take(o, hk, ef_val_bool(cred_set(ef_val_obj_val_at(creds, i))));
        }
    } else {
        for (size_t i = 0; i < sizeof(cred_defs) / sizeof(cred_defs[0]); i++) {
            if (strcmp(cred_defs[i].type, type) != 0) {
                continue;
            }
            const struct ef_val *v = ef_val_obj_get(creds, cred_defs[i].field);
            if (cred_defs[i].password) {
                snprintf(hk, sizeof(hk), "has_%s", cred_defs[i].field);
                ef_val_obj_set_take(o, hk, ef_val_bool(cred_set(v)));
            } else {
                ef_val_obj_set_take(o, cred_defs[i].field,
                                    ef_val_truthy(v) ? ef_val_ref((struct ef_val *)v)
                                                     : ef_val_str(""));
            }
        }
    }
    srv_reply_json(c, 200, o);
}

/* ---- editor plugins (ef_server_opts.plugins_dir) ---- */

/* A plugin file's stem: the name before ".html", made of [A-Za-z0-9._-]. */
static bool plugin_stem(const char *file, char *stem, size_t len)
{
    size_t l = strlen(file);
    if (l <= 5 || strcmp(file + l - 5, ".html") != 0 || l - 5 >= len) {
        return false;
    }
    for (size_t i = 0; i < l - 5; i++) {
        char ch = file[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-')) {
            return false;
        }
    }
    memcpy(stem, file, l - 5);
    stem[l - 5] = '\0';
    return true;
}

/*
 * GET /plugins. Without a plugins_dir: no plugins. With one, every *.html in
 * it is an editor plugin of the module "edgeflow-plugins" named after the
 * file: the JSON list as @node-red/registry's getPluginList gives it, or the
 * files' HTML, each after the "<!-- --- [red-plugin:<id>] --- -->" line the
 * editor splits on. The files are read at each request (they are small and
 * the editor asks once per load).
 */
static void get_plugins(struct srv_conn *c, bool json)
{
    const char *dir = c->srv->plugins_dir;
    size_t n = 0;
    char **files = dir ? list_dir(dir, &n) : NULL;
    struct ef_val *list = json ? ef_val_arr() : NULL;
    char *html = NULL;
    size_t hlen = 0;
    for (size_t i = 0; i < n; i++) {
        char stem[256], id[300], path[4096];
        if (!plugin_stem(files[i], stem, sizeof(stem))) {
            continue;
        }
        snprintf(id, sizeof(id), "edgeflow-plugins/%s", stem);
        if (json) {
            struct ef_val *e = ef_val_obj(), *pl = ef_val_arr(), *p = ef_val_obj();
            ef_val_obj_set_take(p, "id", ef_val_str(stem));
            ef_val_obj_set_take(p, "module", ef_val_str("edgeflow-plugins"));
            ef_val_arr_push_take(pl, p);
            ef_val_obj_set_take(e, "id", ef_val_str(id));
            ef_val_obj_set_take(e, "name", ef_val_str(stem));
            ef_val_obj_set_take(e, "enabled", ef_val_bool(true));
            ef_val_obj_set_take(e, "local", ef_val_bool(false));
            ef_val_obj_set_take(e, "user", ef_val_bool(false));
            ef_val_obj_set_take(e, "module", ef_val_str("edgeflow-plugins"));
            ef_val_obj_set_take(e, "plugins", pl);
            ef_val_obj_set_take(e, "editor", ef_val_bool(true));
            ef_val_obj_set_take(e, "runtime", ef_val_bool(false));
            ef_val_obj_set_take(e, "version", ef_val_str(EF_VERSION));
            ef_val_arr_push_take(list, e);
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        size_t flen;
        char *text = srv_read_file(path, &flen);
        if (!text) {
            continue;
        }
        char head[400];
        int hl = snprintf(head, sizeof(head), "\n<!-- --- [red-plugin:%s] --- -->\n", id);
        char *nh = realloc(html, hlen + (size_t)hl + flen + 1);
        if (nh) {
            html = nh;
            memcpy(html + hlen, head, (size_t)hl);
            memcpy(html + hlen + hl, text, flen);
            hlen += (size_t)hl + flen;
            html[hlen] = '\0';
        }
        free(text);
    }
    free_list(files, n);
    if (json) {
        srv_reply_json(c, 200, list);
    } else {
        srv_reply(c, 200, "text/html; charset=utf-8", html ? html : strdup(""), hlen);
    }
}

/* ---- static files ---- */

static bool serve_static(struct srv_conn *c)
{
    struct ef_server *s = c->srv;
    const char *p = c->path;
    char path[8192];
    if (strstr(p, "..") || strstr(p, "//")) {
        return false;
    }
    if (!strncmp(p, "/red/", 5) || !strncmp(p, "/vendor/", 8) || !strncmp(p, "/types/", 7) ||
        !strcmp(p, "/favicon.ico")) {
        snprintf(path, sizeof(path), "%s/public%s", s->editor_dir, p);
        srv_reply_file(c, path);
        return true;
    }
    if (!strncmp(p, "/debug/view/", 12) && !strchr(p + 12, '/')) {
        snprintf(path, sizeof(path), "%s/core/common/lib/debug/%s", s->nodes_dir, p + 12);
        srv_reply_file(c, path);
        return true;
    }
    return false;
}

/* ---- the router ---- */

void admin__handle(struct srv_conn *c)
{
    if (auth__handle(c)) {
        return; /* an /auth/ route, or refused */
    }
    if (!c->srv->sets_loaded) {
        c->srv->sets_loaded = true;
        load_sets(c->srv);
    }
    struct ef_server *s = c->srv;
    char p[4][512];
    int np;
    const char *path = c->path;
    enum srv_method m = c->method == SRV_HEAD ? SRV_GET : c->method;
    if (m == SRV_GET) {
        if (!strcmp(path, "/")) {
            get_index(c);
        } else if (serve_static(c)) {
        } else if (!strcmp(path, "/settings")) {
            get_settings(c);
        } else if (!strcmp(path, "/settings/user")) {
            srv_reply_json(c, 200, ef_val_ref(s->user_settings));
        } else if (!strcmp(path, "/theme")) {
            srv_reply_json(c, 200, theme_value());
        } else if (!strcmp(path, "/nodes")) {
            if (wants_json(c)) {
                get_nodes_json(c);
            } else {
                get_nodes_html(c);
            }
        } else if (!strcmp(path, "/nodes/messages") || !strcmp(path, "/plugins/messages")) {
            srv_reply(c, 200, "application/json; charset=utf-8", strdup("{}"), 2);
        } else if (!strcmp(path, "/plugins")) {
            get_plugins(c, wants_json(c));
        } else if (!strcmp(path, "/icons")) {
            get_icons(c);
        } else if (route("/icons/:module/:icon", path, p, &np)) {
            get_icon(c, p[0], p[1]);
        } else if (route("/icons/:scope/:module/:icon", path, p, &np)) {
            get_icon(c, p[1], p[2]);
        } else if (route("/locales/:ns", path, p, &np)) {
            get_locale(c, p[0]);
        } else if (!strcmp(path, "/flows")) {
            get_flows(c);
        } else if (!strcmp(path, "/flows/state")) {
            get_flows_state(c);
        } else if (route("/flow/:id", path, p, &np)) {
            get_flow(c, p[0]);
        } else if (!strcmp(path, "/context/global") || route("/context/global/*", path, p, &np)) {
            context_api(c, "global", "global", strcmp(path, "/context/global") ? p[0] : NULL);
        } else if (route("/context/:scope/:id", path, p, &np) ||
                   route("/context/:scope/:id/*", path, p, &np)) {
            if (strcmp(p[0], "flow") != 0 && strcmp(p[0], "node") != 0) {
                srv_reply_error(c, 404, "not_found", "Not Found");
            } else {
                context_api(c, p[0], p[1], np > 2 ? p[2] : NULL);
            }
        } else if (!strcmp(path, "/diagnostics")) {
            get_diagnostics(c);
        } else if (route("/credentials/:type/:id", path, p, &np)) {
            get_credentials(c, p[0], p[1]);
        } else if (route("/library/:lib/:type/*", path, p, &np) ||
                   route("/library/:lib/:type", path, p, &np)) {
            /* the local library is empty: folders list nothing, entries do not exist */
            size_t l = strlen(path);
            if (np < 3 || !*p[2] || path[l - 1] == '/') {
                srv_reply(c, 200, "application/json; charset=utf-8", strdup("[]"), 2);
            } else {
                srv_reply_error(c, 404, "not_found", "Not Found");
            }
        } else {
            srv_reply_error(c, 404, "not_found", "Not Found");
        }
        return;
    }
    if (m == SRV_POST) {
        if (!strcmp(path, "/flows")) {
            post_flows(c);
        } else if (!strcmp(path, "/flows/state")) {
            if (!runtime_state_enabled(s)) {
                srv_reply_error(c, 404, "not_found", "Not Found");
            } else {
                post_flows_state(c);
            }
        } else if (!strcmp(path, "/flow")) {
            add_or_update_flow(c, NULL);
        } else if (route("/inject/:id", path, p, &np)) {
            post_inject(c, p[0]);
        } else if (route("/debug/:id/:state", path, p, &np)) {
            post_debug(c, p[0], p[1]);
        } else if (route("/debug/:state", path, p, &np)) {
            post_debug(c, NULL, p[0]);
        } else if (!strcmp(path, "/settings/user")) {
            bool bad;
            struct ef_val *body = parse_body(c, &bad);
            if (bad) {
                return;
            }
            if (ef_val_type(body) == EF_OBJ) {
                for (size_t i = 0; i < ef_val_obj_len(body); i++) {
                    size_t kl;
                    const char *k = ef_val_obj_key_at(body, i, &kl);
                    ef_val_obj_setn_take(s->user_settings, k, kl,
                                         ef_val_ref(ef_val_obj_val_at(body, i)));
                }
            }
            ef_val_unref(body);
            srv_reply(c, 204, NULL, NULL, 0);
        } else if (route("/library/:lib/:type/*", path, p, &np)) {
            srv_reply_error(c, 501, "not_supported", "the local library is read-only in edgeflow");
        } else {
            srv_reply_error(c, 404, "not_found", "Not Found");
        }
        return;
    }
    if (m == SRV_PUT && route("/flow/:id", path, p, &np)) {
        add_or_update_flow(c, p[0]);
        return;
    }
    if (m == SRV_DELETE) {
        if (route("/flow/:id", path, p, &np)) {
            delete_flow(c, p[0]);
            return;
        }
        if (route("/context/global/*", path, p, &np)) {
            context_api(c, "global", "global", p[0]);
            return;
        }
        if (route("/context/:scope/:id/*", path, p, &np) &&
            (!strcmp(p[0], "flow") || !strcmp(p[0], "node"))) {
            context_api(c, p[0], p[1], p[2]);
            return;
        }
    }
    srv_reply_error(c, 404, "not_found", "Not Found");
}
