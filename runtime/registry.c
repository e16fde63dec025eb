/*
 * registry.c - the node-type registry and C plugin loading.
 *
 * Built-in types and plugin types register the same way, through
 * ef_register_type(). A shared object is opened with RTLD_NOW|RTLD_LOCAL,
 * must agree on an ABI version through ef_plugin_version(), and is closed
 * again, with all its registrations undone, if ef_plugin_init() fails.
 * Plugins may register loaders for plugin files of other kinds (the Lua
 * plugin loads "*.lua" node types): every plugin directory is scanned for
 * them after its shared objects are loaded.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "engine.h"
#include "settings.h"

struct ef_plugin {
    char *name;
    void *handle; /* dlopen handle, NULL for built-ins */
    void (*cleanup)(struct ef_plugin *p);
    struct ef_plugin *next;
};

struct reg_entry {
    const struct ef_node_type *type;
    struct ef_plugin *owner;
};

struct reg_loader {
    char *suffix;
    ef_file_loader_fn fn;
    struct ef_plugin *owner;
};

static struct reg_entry *reg_types;
static size_t reg_n, reg_cap;
static struct reg_loader *reg_loaders;
static size_t reg_nloaders;
static char **reg_dirs; /* plugin directories scanned so far */
static size_t reg_ndirs;
static struct ef_plugin *reg_plugins;
static struct ef_plugin reg_builtin = {"builtin", NULL, NULL, NULL};

extern const struct ef_node_type *const ef_builtin_types[];

const char *ef_plugin_name(const struct ef_plugin *p)
{
    return p->name;
}

const struct ef_node_type *registry__find(const char *name)
{
    for (size_t i = 0; i < reg_n; i++) {
        if (strcmp(reg_types[i].type->name, name) == 0) {
            return reg_types[i].type;
        }
    }
    return NULL;
}

int ef_register_type(struct ef_plugin *p, const struct ef_node_type *t)
{
    if (!p || !t || !t->name || !*t->name) {
        return EF_EINVAL;
    }
    if (t->abi_version == 0 || t->abi_version > EF_ABI_VERSION) {
        ef_log_error("plugin %s: type %s has ABI version %u, this runtime supports up to %d",
                     p->name, t->name, t->abi_version, EF_ABI_VERSION);
        return EF_EVERSION;
    }
    if (t->size < offsetof(struct ef_node_type, cb_close) + sizeof(t->cb_close)) {
        ef_log_error("plugin %s: type %s: struct size %u is too small", p->name, t->name, t->size);
        return EF_EINVAL;
    }
    if (registry__find(t->name)) {
        ef_log_error("plugin %s: node type %s is already registered", p->name, t->name);
        return EF_EEXIST;
    }
    if (reg_n == reg_cap) {
        size_t cap = reg_cap ? reg_cap * 2 : 64;
        struct reg_entry *e = realloc(reg_types, cap * sizeof(*e));
        if (!e) {
            return EF_ENOMEM;
        }
        reg_types = e;
        reg_cap = cap;
    }
    reg_types[reg_n++] = (struct reg_entry){t, p};
    return 0;
}

static void unregister_owner(const struct ef_plugin *p)
{
    size_t kept = 0;
    for (size_t i = 0; i < reg_n; i++) {
        if (reg_types[i].owner != p) {
            reg_types[kept++] = reg_types[i];
        }
    }
    reg_n = kept;
    kept = 0;
    for (size_t i = 0; i < reg_nloaders; i++) {
        if (reg_loaders[i].owner != p) {
            reg_loaders[kept++] = reg_loaders[i];
        } else {
            free(reg_loaders[i].suffix);
        }
    }
    reg_nloaders = kept;
}

static bool has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    return n > s && strcmp(name + n - s, suffix) == 0;
}

/* Calls loader l for each of its files in dir, in name order. */
static void scan_files(const char *dir, const struct reg_loader *l)
{
    struct dirent **list;
    int n = scandir(dir, &list, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        const char *name = list[i]->d_name;
        if (name[0] != '.' && has_suffix(name, l->suffix)) {
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", dir, name);
            l->fn(l->owner, path); /* the loader logs its own failures */
        }
        free(list[i]);
    }
    if (n >= 0) {
        free(list);
    }
}

int ef_register_file_loader(struct ef_plugin *p, const char *suffix, ef_file_loader_fn fn)
{
    if (!p || !suffix || !*suffix || !fn) {
        return EF_EINVAL;
    }
    for (size_t i = 0; i < reg_nloaders; i++) {
        if (!strcmp(reg_loaders[i].suffix, suffix)) {
            ef_log_error("plugin %s: files %s are already loaded by plugin %s", p->name, suffix,
                         reg_loaders[i].owner->name);
            return EF_EEXIST;
        }
    }
    struct reg_loader *l = realloc(reg_loaders, (reg_nloaders + 1) * sizeof(*l));
    if (!l) {
        return EF_ENOMEM;
    }
    reg_loaders = l;
    l = &reg_loaders[reg_nloaders];
    if (!(l->suffix = strdup(suffix))) {
        return EF_ENOMEM;
    }
    l->fn = fn;
    l->owner = p;
    reg_nloaders++;
    struct reg_loader copy = *l; /* a loader may register types, not loaders */
    for (size_t i = 0; i < reg_ndirs; i++) {
        scan_files(reg_dirs[i], &copy);
    }
    return 0;
}

int registry__init_builtins(void)
{
    if (registry__find("inject")) {
        return 0;
    }
    for (size_t i = 0; ef_builtin_types[i]; i++) {
        int rc = ef_register_type(&reg_builtin, ef_builtin_types[i]);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int cmp_types(const void *a, const void *b)
{
    const struct reg_entry *x = a, *y = b;
    return strcmp(x->type->name, y->type->name);
}

void registry__each(void (*fn)(const struct ef_node_type *t, void *ud), void *ud)
{
    qsort(reg_types, reg_n, sizeof(*reg_types), cmp_types);
    for (size_t i = 0; i < reg_n; i++) {
        fn(reg_types[i].type, ud);
    }
}

/* Loads one shared object; 0 on success, an EF_E* code (already logged) on failure. */
static int load_plugin(const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        ef_log_error("plugin %s: cannot load: %s", path, dlerror());
        return EF_EIO;
    }
    int (*version)(int, const int *) = (int (*)(int, const int *))dlsym(h, "ef_plugin_version");
    int (*init)(struct ef_plugin *) = (int (*)(struct ef_plugin *))dlsym(h, "ef_plugin_init");
    if (!version || !init) {
        ef_log_error("plugin %s: missing symbol %s", path,
                     !version ? "ef_plugin_version" : "ef_plugin_init");
        dlclose(h);
        return EF_EINVAL;
    }
    static const int supported[] = {EF_ABI_VERSION};
    int v = version(1, supported);
    if (v < 1 || v > EF_ABI_VERSION) {
        ef_log_error("plugin %s: no common ABI version (runtime offers %d, plugin chose %d)", path,
                     EF_ABI_VERSION, v);
        dlclose(h);
        return EF_EVERSION;
    }
    struct ef_plugin *p = calloc(1, sizeof(*p));
    const char *base = strrchr(path, '/');
    if (!p || !(p->name = strdup(base ? base + 1 : path))) {
        free(p);
        dlclose(h);
        return EF_ENOMEM;
    }
    p->handle = h;
    p->cleanup = (void (*)(struct ef_plugin *))dlsym(h, "ef_plugin_cleanup");
    int rc = init(p);
    if (rc != 0) {
        ef_log_error("plugin %s: init failed: %s", path, ef_strerror(rc));
        unregister_owner(p);
        dlclose(h);
        free(p->name);
        free(p);
        return rc < 0 ? rc : EF_EINVAL;
    }
    p->next = reg_plugins;
    reg_plugins = p;
    ef_log_info("loaded plugin %s", p->name);
    return 0;
}

static int so_filter(const struct dirent *e)
{
    size_t len = strlen(e->d_name);
    return len > 3 && strcmp(e->d_name + len - 3, ".so") == 0;
}

int registry__load_dir(const char *dir_in)
{
    char dir[PATH_MAX];
    if (!realpath(dir_in, dir)) {
        ef_log_warn("plugin directory %s: cannot open", dir_in);
        return 0;
    }
    for (size_t i = 0; i < reg_ndirs; i++) {
        if (!strcmp(reg_dirs[i], dir)) {
            ef_log_debug("plugin directory %s: already loaded", dir);
            return 0;
        }
    }
    struct dirent **names;
    int n = scandir(dir, &names, so_filter, alphasort); /* name order: deterministic */
    if (n < 0) {
        ef_log_warn("plugin directory %s: cannot open", dir);
        return 0;
    }
    int loaded = 0;
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX + 256];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        if (load_plugin(path) == 0) {
            loaded++;
        }
        free(names[i]);
    }
    free(names);
    char **dirs = realloc(reg_dirs, (reg_ndirs + 1) * sizeof(*dirs));
    if (dirs) {
        reg_dirs = dirs;
        if ((reg_dirs[reg_ndirs] = strdup(dir))) {
            reg_ndirs++;
        }
    }
    for (size_t i = 0; i < reg_nloaders; i++) {
        struct reg_loader copy = reg_loaders[i];
        scan_files(dir, &copy);
    }
    return loaded;
}

void registry__cleanup(void)
{
    while (reg_plugins) {
        struct ef_plugin *p = reg_plugins;
        reg_plugins = p->next;
        if (p->cleanup) {
            p->cleanup(p);
        }
        unregister_owner(p);
        dlclose(p->handle);
        free(p->name);
        free(p);
    }
    free(reg_types);
    reg_types = NULL;
    reg_n = reg_cap = 0;
    for (size_t i = 0; i < reg_nloaders; i++) {
        free(reg_loaders[i].suffix);
    }
    free(reg_loaders);
    reg_loaders = NULL;
    reg_nloaders = 0;
    for (size_t i = 0; i < reg_ndirs; i++) {
        free(reg_dirs[i]);
    }
    free(reg_dirs);
    reg_dirs = NULL;
    reg_ndirs = 0;
}

struct ef_plugin *registry__builtin(void)
{
    return &reg_builtin;
}

void registry__load_plugins(const char *const *dirs, int ndirs, const struct ef_settings *s)
{
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - sizeof("/plugins"));
    char *slash = len > 0 ? memrchr(exe, '/', (size_t)len) : NULL;
    struct stat st;
    if (slash) {
        strcpy(slash, "/plugins");
        if (stat(exe, &st) == 0 && S_ISDIR(st.st_mode)) {
            registry__load_dir(exe);
        }
    }
    for (int i = 0; i < ndirs; i++) {
        registry__load_dir(dirs[i]);
    }
    const struct ef_val *pdirs = s ? settings__get(s, "pluginDirs") : NULL;
    for (size_t i = 0; i < ef_val_arr_len(pdirs); i++) {
        registry__load_dir(ef_val_str_get(ef_val_arr_at(pdirs, i)));
    }
}
