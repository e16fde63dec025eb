/*
 * lua_types.c - node types written in Lua. A plugin directory file
 * `<name>.lua` returns a declaration table:
 *
 *   return {
 *     name = "threshold", category = "function", color = "#E2D96E",
 *     description = "...", inputs = 1, outputs = 2,
 *     properties = { {name = "limit", type = "number", default = 10,
 *                     required = true, help = "..."}, ... },
 *     credentials = { {name = "token", type = "password"} },
 *     init = function(node) ... end,          -- when the flows start
 *     input = function(node, msg) ... end,    -- returns like the lua node
 *     close = function(node) ... end,
 *   }
 *
 * The loader runs the file once in a throw-away sandbox to read the
 * declaration, builds an ordinary struct ef_node_type with a generated
 * property table (types string, number, integer, boolean, json) and
 * registers it with ef_register_type(), so the runtime validates, applies
 * defaults, lists and runs it like any other type. Each node instance gets
 * its own sandbox, runs the file again and keeps its handlers; node.config
 * holds the converted properties and node.credentials the credentials.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua_plugin.h"

#define LTYPE_MAX_FILE (1u << 20)

/* A property value as the runtime stores it (see ef_prop offsets). */
union slot {
    const char *s;
    double d;
    int64_t i;
    bool b;
    const struct ef_val *v;
};

struct ltype {
    struct ef_node_type t; /* first: ef_node_type_of() gives back the ltype */
    char *path, *src;
    size_t srclen;
    char *name, *category, *description, *color, *chunkname;
    struct ef_prop *props;
    size_t nprops;
    char **cred_names;
    size_t ncreds;
    bool uses_done;
    struct ltype *next;
};

struct ltnode {
    struct lnode ln;
    union slot slots[];
};

/*
 * Types loaded by this plugin, freed by ltypes_free_all() when it unloads.
 * Written only while plugins load (start-up), like the runtime's registry.
 */
static struct ltype *loaded;

static void ltype_free(struct ltype *lt)
{
    if (!lt) {
        return;
    }
    for (size_t i = 0; i < lt->nprops; i++) {
        free((char *)lt->props[i].name);
        free((char *)lt->props[i].def);
        free((char *)lt->props[i].help);
    }
    for (size_t i = 0; i < lt->ncreds; i++) {
        free(lt->cred_names[i]);
    }
    free(lt->cred_names);
    free(lt->props);
    free(lt->path);
    free(lt->src);
    free(lt->name);
    free(lt->category);
    free(lt->description);
    free(lt->color);
    free(lt->chunkname);
    free(lt);
}

/* ---- Reading the declaration ---- */

struct decl {
    struct ltype *lt;
    struct lsb *sb;
    char err[512];
};

static char *opt_str(lua_State *L, int idx, const char *key, const char *def)
{
    lua_getfield(L, idx, key);
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : def;
    char *out = s ? strdup(s) : NULL;
    lua_pop(L, 1);
    return out;
}

static lua_Integer opt_int(lua_State *L, int idx, const char *key, lua_Integer def)
{
    lua_getfield(L, idx, key);
    lua_Integer v = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : def;
    lua_pop(L, 1);
    return v;
}

static enum ef_prop_kind kind_of(const char *t)
{
    static const struct {
        const char *name;
        enum ef_prop_kind kind;
    } kinds[] = {{"string", EF_PROP_STR},   {"str", EF_PROP_STR},     {"number", EF_PROP_NUM},
                 {"num", EF_PROP_NUM},      {"integer", EF_PROP_INT}, {"int", EF_PROP_INT},
                 {"boolean", EF_PROP_BOOL}, {"bool", EF_PROP_BOOL},   {"json", EF_PROP_ANY},
                 {"any", EF_PROP_ANY}};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (!strcmp(t, kinds[i].name)) {
            return kinds[i].kind;
        }
    }
    return EF_PROP_END;
}

/* Runs in protected mode: evaluates the file and fills the ltype from its table. */
static int read_decl(lua_State *L)
{
    struct decl *d = lua_touserdata(L, 1);
    struct ltype *lt = d->lt;
    conv_open(L, d->sb);
    if (sb_compile(d->sb, lt->src, lt->srclen, lt->chunkname, NULL, d->err, sizeof(d->err)) != 0) {
        return luaL_error(L, "%s", d->err);
    }
    lua_call(L, 0, 1);
    if (lua_type(L, -1) != LUA_TTABLE) {
        return luaL_error(L, "the file must return a table declaring the node type");
    }
    int t = lua_gettop(L);
    lt->name = opt_str(L, t, "name", NULL);
    if (!lt->name || !*lt->name) {
        return luaL_error(L, "the declaration has no name");
    }
    lt->category = opt_str(L, t, "category", "function");
    lt->description = opt_str(L, t, "description", "");
    lt->color = opt_str(L, t, "color", NULL);
    if (!lt->color) {
        lt->color = opt_str(L, t, "colour", "#fdd0a2");
    }
    lua_Integer inputs = opt_int(L, t, "inputs", 1);
    lua_Integer outputs = opt_int(L, t, "outputs", 1);
    if (inputs < 0 || inputs > 1 || outputs < 0 || outputs > 64) {
        return luaL_error(L, "inputs must be 0 or 1 and outputs 0 to 64");
    }
    lua_getfield(L, t, "input");
    if (inputs == 1 && lua_type(L, -1) != LUA_TFUNCTION) {
        return luaL_error(L, "a node type with an input needs an input(node, msg) handler");
    }
    lua_pop(L, 1);
    lua_getfield(L, t, "properties");
    lua_Integer np = lua_type(L, -1) == LUA_TTABLE ? (lua_Integer)lua_rawlen(L, -1) : 0;
    if (np > 256) {
        return luaL_error(L, "too many properties");
    }
    lt->props = calloc((size_t)np + 1, sizeof(*lt->props));
    if (!lt->props) {
        return luaL_error(L, "not enough memory");
    }
    for (lua_Integer i = 1; i <= np; i++) {
        lua_rawgeti(L, -1, i);
        int p = lua_gettop(L);
        if (lua_type(L, p) != LUA_TTABLE) {
            return luaL_error(L, "properties[%d] is not a table", (int)i);
        }
        struct ef_prop *pr = &lt->props[lt->nprops];
        char *type = opt_str(L, p, "type", "string");
        pr->kind = kind_of(type ? type : "");
        free(type);
        pr->name = opt_str(L, p, "name", NULL);
        pr->help = opt_str(L, p, "help", "");
        lt->nprops++;
        if (!pr->name || pr->kind == EF_PROP_END) {
            return luaL_error(L,
                              "properties[%d]: needs a name and a type (string, number, "
                              "integer, boolean, json)",
                              (int)i);
        }
        lua_getfield(L, p, "required");
        pr->required = lua_toboolean(L, -1);
        lua_pop(L, 1);
        lua_getfield(L, p, "default");
        if (!lua_isnil(L, -1)) {
            char err[256];
            struct ef_val *v = conv_to_val(L, -1, NULL, err, sizeof(err));
            pr->def = v ? ef_json_print(v, 0, NULL) : NULL;
            ef_val_unref(v);
            if (!pr->def) {
                return luaL_error(L, "properties[%d]: bad default: %s", (int)i, err);
            }
        }
        lua_pop(L, 2);
        pr->offset = offsetof(struct ltnode, slots) + (size_t)(i - 1) * sizeof(union slot);
    }
    lua_pop(L, 1);
    lua_getfield(L, t, "credentials");
    lua_Integer nc = lua_type(L, -1) == LUA_TTABLE ? (lua_Integer)lua_rawlen(L, -1) : 0;
    lt->cred_names = calloc((size_t)nc + 1, sizeof(char *));
    if (!lt->cred_names) {
        return luaL_error(L, "not enough memory");
    }
    for (lua_Integer i = 1; i <= nc && nc <= 64; i++) {
        lua_rawgeti(L, -1, i);
        if (lua_type(L, -1) == LUA_TTABLE) {
            lt->cred_names[lt->ncreds] = opt_str(L, lua_gettop(L), "name", NULL);
            lt->ncreds += lt->cred_names[lt->ncreds] != NULL;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    lt->t.inputs = (int)inputs;
    lt->t.outputs = (int)outputs;
    return 0;
}

/* ---- Instances ---- */

static struct ltype *ltype_of(struct ef_node *n)
{
    return (struct ltype *)ef_node_type_of(n);
}

/* Runs in protected mode: evaluates the file in the instance's sandbox and keeps its handlers. */
static int instance_setup(lua_State *L)
{
    struct ltnode *tn = lua_touserdata(L, 1);
    struct ef_node *n = tn->ln.n;
    struct ltype *lt = ltype_of(n);
    char err[512];
    if (sb_compile(&tn->ln.sb, lt->src, lt->srclen, lt->chunkname, NULL, err, sizeof(err)) != 0) {
        return luaL_error(L, "%s", err);
    }
    lua_call(L, 0, 1);
    if (lua_type(L, -1) != LUA_TTABLE) {
        return luaL_error(L, "%s did not return its declaration", lt->path);
    }
    int decl = lua_gettop(L);
    static const char *const handlers[] = {"input", "init", "close"};
    int *refs[] = {&tn->ln.fn_ref, &tn->ln.start_ref, &tn->ln.close_ref};
    for (int i = 0; i < 3; i++) {
        lua_getfield(L, decl, handlers[i]);
        if (lua_type(L, -1) == LUA_TFUNCTION) {
            *refs[i] = luaL_ref(L, LUA_REGISTRYINDEX);
        } else {
            lua_pop(L, 1);
        }
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, tn->ln.node_ref);
    int node = lua_gettop(L);
    lua_createtable(L, 0, (int)lt->nprops);
    for (size_t i = 0; i < lt->nprops; i++) {
        const union slot *s = &tn->slots[i];
        switch (lt->props[i].kind) {
        case EF_PROP_STR: lua_pushstring(L, s->s ? s->s : ""); break;
        case EF_PROP_NUM: lua_pushnumber(L, s->d); break;
        case EF_PROP_INT: lua_pushinteger(L, (lua_Integer)s->i); break;
        case EF_PROP_BOOL: lua_pushboolean(L, s->b); break;
        default: conv_push(L, s->v, NULL); break;
        }
        lua_setfield(L, -2, lt->props[i].name);
    }
    lua_setfield(L, node, "config");
    const struct ef_val *cred = ef_node_credentials(n);
    if (cred) {
        conv_push(L, cred, NULL);
    } else {
        lua_newtable(L);
    }
    lua_setfield(L, node, "credentials");
    return 0;
}

static int cb_ltype_init(struct ef_node *n, const struct ef_val *config)
{
    struct ltnode *tn = ef_node_priv(n);
    struct ltype *lt = ltype_of(n);
    char err[1024];
    (void)config;
    if (lnode_open(&tn->ln, n, 0, 0, 0, err, sizeof(err)) != 0) {
        ef_node_error(n, NULL, "%s", err);
        return EF_EINVAL;
    }
    tn->ln.uses_done = lt->uses_done;
    if (lnode_protected(&tn->ln, instance_setup, tn, err, sizeof(err)) != 0) {
        ef_node_error(n, NULL, "%s", err);
        lnode_close(&tn->ln);
        return EF_EINVAL;
    }
    return 0;
}

static void cb_ltype_start(struct ef_node *n)
{
    struct ltnode *tn = ef_node_priv(n);
    char err[1024];
    if (tn->ln.start_ref != LUA_NOREF &&
        lnode_call(&tn->ln, tn->ln.start_ref, NULL, false, false, err, sizeof(err)) != 0) {
        ef_node_error(n, NULL, "init: %s", err);
        tn->ln.broken = true;
    }
}

static int cb_ltype_input(struct ef_node *n, struct ef_msg *msg)
{
    struct ltnode *tn = ef_node_priv(n);
    char err[1024];
    if (tn->ln.broken || tn->ln.fn_ref == LUA_NOREF) {
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    int rc = lnode_call(&tn->ln, tn->ln.fn_ref, msg, false, true, err, sizeof(err));
    if (rc != 0) {
        ef_node_error(n, msg, "%s", err);
    }
    ef_msg_free(msg);
    return rc == 0 && tn->ln.uses_done ? EF_INPUT_ASYNC : EF_INPUT_DONE;
}

static void cb_ltype_close(struct ef_node *n)
{
    struct ltnode *tn = ef_node_priv(n);
    char err[1024];
    tn->ln.closing = true;
    if (tn->ln.close_ref != LUA_NOREF &&
        lnode_call(&tn->ln, tn->ln.close_ref, NULL, false, false, err, sizeof(err)) != 0) {
        ef_node_error(n, NULL, "close: %s", err);
    }
    lnode_close(&tn->ln);
}

/* ---- Loading ---- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    char *buf = malloc(LTYPE_MAX_FILE + 1);
    size_t n = buf ? fread(buf, 1, LTYPE_MAX_FILE + 1, f) : 0;
    fclose(f);
    if (!buf || n > LTYPE_MAX_FILE) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

int ltypes_load(struct ef_plugin *p, const char *path)
{
    struct ltype *lt = calloc(1, sizeof(*lt));
    if (!lt || !(lt->path = strdup(path))) {
        free(lt);
        return EF_ENOMEM;
    }
    lt->src = read_file(path, &lt->srclen);
    if (!lt->src) {
        ef_log_error("lua node type %s: cannot read the file (or it is over %u bytes)", path,
                     LTYPE_MAX_FILE);
        ltype_free(lt);
        return EF_EIO;
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    lt->chunkname = malloc(strlen(base) + 2);
    if (!lt->chunkname) {
        ltype_free(lt);
        return EF_ENOMEM;
    }
    sprintf(lt->chunkname, "@%s", base);
    lt->uses_done = lnode_calls_done(lt->src);

    struct lsb sb;
    struct decl d = {lt, &sb, ""};
    char err[1024];
    int rc = -1;
    if (sb_open(&sb, 0, err, sizeof(err)) == 0) {
        lua_pushcfunction(sb.L, read_decl);
        lua_pushlightuserdata(sb.L, &d);
        sb_begin(&sb, 0, SB_DEFAULT_TIME_MS);
        rc = sb_pcall(&sb, 1, 0, err, sizeof(err));
        sb_end(&sb);
        sb_close(&sb);
    }
    if (rc != 0) {
        ef_log_error("lua node type %s: %s", path, err);
        ltype_free(lt);
        return EF_EINVAL;
    }
    lt->t.abi_version = EF_ABI_VERSION;
    lt->t.size = sizeof(struct ef_node_type);
    lt->t.name = lt->name;
    lt->t.description = lt->description;
    lt->t.category = lt->category;
    lt->t.props = lt->props;
    lt->t.priv_size = sizeof(struct ltnode) + lt->nprops * sizeof(union slot);
    lt->t.cb_init = cb_ltype_init;
    lt->t.cb_start = cb_ltype_start;
    lt->t.cb_input = cb_ltype_input;
    lt->t.cb_close = cb_ltype_close;
    rc = ef_register_type(p, &lt->t);
    if (rc != 0) {
        ef_log_error("lua node type %s: type %s refused: %s", path, lt->name, ef_strerror(rc));
        ltype_free(lt);
        return rc;
    }
    lt->next = loaded;
    loaded = lt;
    ef_log_info("loaded Lua node type %s from %s", lt->name, path);
    return 0;
}

void ltypes_free_all(void)
{
    while (loaded) {
        struct ltype *lt = loaded;
        loaded = lt->next;
        ltype_free(lt);
    }
}
