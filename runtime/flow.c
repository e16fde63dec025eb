/*
 * flow.c - loading a Node-RED flows.json into a flow set.
 *
 * Building is separate from running: flowset__build() validates the whole
 * configuration (reporting every problem at once, each naming node id, type
 * and property), creates scopes for tabs, groups and subflow instances,
 * instantiates nodes (config nodes first), expands subflows, resolves wires
 * and runs every cb_init. Only a flow set that built cleanly is started, so
 * a bad deploy never disturbs the running one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "idmap.h"
#include "subflow.h"
#include "typed.h"

#define SUBFLOW_MAX_DEPTH 16

struct build {
    struct ef_runtime *rt;
    struct ef_flowset *fs;
    struct ef_flowset *old; /* the running flow set, for carried nodes */
    struct id_map *carry;   /* ids of top-level nodes that may be carried over */
    struct ef_problems *probs;
    const struct ef_val *flows;
    struct id_map *entries;  /* id -> entry (const struct ef_val *) */
    struct id_map *scopes;   /* tab/group id -> scope */
    struct id_map *disabled; /* ids of nodes that are disabled or on disabled tabs */
    struct ef_node **instances;
    size_t ninst, instcap;
    struct ef_val *link_wires; /* link out id -> [link in ids], as Node-RED derives them */
};

/* ---- Problems ---- */

static void list_addv(char ***items, size_t *n, size_t *cap, const char *fmt, va_list ap)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        char **l = realloc(*items, c * sizeof(*l));
        if (!l) {
            return;
        }
        *items = l;
        *cap = c;
    }
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) >= 0) {
        (*items)[(*n)++] = s;
    }
}

void problems__add(struct ef_problems *p, const char *fmt, ...)
{
    if (!p) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    list_addv(&p->items, &p->n, &p->cap, fmt, ap);
    va_end(ap);
}

void problems__warn(struct ef_problems *p, const char *fmt, ...)
{
    if (!p) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    list_addv(&p->warnings, &p->nwarn, &p->warncap, fmt, ap);
    va_end(ap);
}

void problems__free(struct ef_problems *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->items[i]);
    }
    for (size_t i = 0; i < p->nwarn; i++) {
        free(p->warnings[i]);
    }
    free(p->items);
    free(p->warnings);
    memset(p, 0, sizeof(*p));
}

/* ---- Small helpers ---- */

static const char *str_at(const struct ef_val *o, const char *key)
{
    const struct ef_val *v = ef_val_obj_get(o, key);
    return ef_val_type(v) == EF_STR ? ef_val_str_get(v) : NULL;
}

static struct ef_scope *scope_new(struct ef_flowset *fs, enum scope_kind kind, const char *id,
                                  const char *name)
{
    struct ef_scope *s = calloc(1, sizeof(*s));
    if (!s) {
        return NULL;
    }
    if (fs->nscopes == fs->scap) {
        size_t cap = fs->scap ? fs->scap * 2 : 16;
        struct ef_scope **sc = realloc(fs->scopes, cap * sizeof(*sc));
        if (!sc) {
            free(s);
            return NULL;
        }
        fs->scopes = sc;
        fs->scap = cap;
    }
    fs->scopes[fs->nscopes++] = s;
    s->kind = kind;
    s->id = strdup(id);
    s->has_name = name != NULL;
    s->name = name ? strdup(name) : NULL;
    s->flow = s;
    return s;
}

static int scope_add_node(struct ef_node ***list, size_t *n, struct ef_node *node)
{
    struct ef_node **l = realloc(*list, (*n + 1) * sizeof(*l));
    if (!l) {
        return EF_ENOMEM;
    }
    l[(*n)++] = node;
    *list = l;
    return 0;
}

static int port_add(struct node_port *p, struct ef_node *target)
{
    struct ef_node **t = realloc(p->targets, (p->n + 1) * sizeof(*t));
    if (!t) {
        return EF_ENOMEM;
    }
    t[p->n++] = target;
    p->targets = t;
    return 0;
}

static int port_append(struct node_port *p, const struct node_port *from)
{
    for (size_t i = 0; from && i < from->n; i++) {
        if (port_add(p, from->targets[i]) != 0) {
            return EF_ENOMEM;
        }
    }
    return 0;
}

/* Makes sure node n has at least `count` ports. */
static int ports_reserve(struct node_port **ports, int *n, int count)
{
    if (count <= *n) {
        return 0;
    }
    struct node_port *p = realloc(*ports, (size_t)count * sizeof(*p));
    if (!p) {
        return EF_ENOMEM;
    }
    memset(p + *n, 0, (size_t)(count - *n) * sizeof(*p));
    *ports = p;
    *n = count;
    return 0;
}

/*
 * Finds the node a reference from inside scope s means: inside a subflow
 * instance the template's ids map to "<instance>:<id>", nearest first.
 */
static struct ef_node *resolve_ref(const struct ef_flowset *fs, const struct ef_scope *s,
                                   const char *id)
{
    char buf[1024];
    for (; s; s = s->parent) {
        if (s->kind == SCOPE_SUBFLOW) {
            snprintf(buf, sizeof(buf), "%s-%s", s->id, id);
            struct ef_node *n = idmap__get(fs->ids, buf);
            if (n) {
                return n;
            }
        }
    }
    return idmap__get(fs->ids, id);
}

struct ef_node *flowset__find(const struct ef_flowset *fs, const char *id)
{
    return idmap__get(fs->ids, id);
}

struct ef_node *ef_node_lookup(const struct ef_node *n, const char *id)
{
    return resolve_ref(n->fs, n->flow, id);
}

/* ---- Node creation ---- */

static const char *node_where(const struct ef_node *n)
{
    return n->flow && n->flow->kind != SCOPE_GLOBAL ? n->flow->id : "global";
}

/* Applies a property table: defaults, required keys, conversion into priv. */
/* Keys every node may carry (editor layout and Node-RED's own bookkeeping). */
static bool common_key(const char *k)
{
    static const char *const keys[] = {
        "id",          "type",    "z",      "g",    "name",  "x",    "y",     "w",
        "h",           "wires",   "d",      "info", "l",     "icon", "label", "_users",
        "credentials", "outputs", "inputs", "env",  "style", NULL};
    for (size_t i = 0; keys[i]; i++) {
        if (!strcmp(k, keys[i])) {
            return true;
        }
    }
    return false;
}

/* Warns about keys the type's property table does not know (not fatal). */
static void warn_unknown_keys(struct build *b, const struct ef_node *n)
{
    if (n->type->flags & EF_TYPE_OPEN_PROPS) {
        return;
    }
    for (size_t i = 0; i < ef_val_obj_len(n->config); i++) {
        const char *k = ef_val_obj_key_at(n->config, i, NULL);
        bool known = common_key(k);
        for (const struct ef_prop *p = n->type->props; !known && p && p->kind != EF_PROP_END; p++) {
            known = !strcmp(p->name, k);
        }
        if (!known) {
            problems__warn(b->probs, "node %s (type %s, flow %s): unknown property '%s' ignored",
                           n->id, n->type->name, node_where(n), k);
        }
    }
}

static void apply_props(struct build *b, struct ef_node *n)
{
    const struct ef_prop *props = n->type->props;
    warn_unknown_keys(b, n);
    for (size_t i = 0; props && props[i].kind != EF_PROP_END; i++) {
        const struct ef_prop *p = &props[i];
        const struct ef_val *v = ef_val_obj_get(n->config, p->name);
        if (!v && p->def) {
            struct ef_val *d = ef_json_parse(p->def, strlen(p->def), NULL, 0);
            if (d && ef_val_mut(&n->config) && ef_val_obj_set_take(n->config, p->name, d) == 0) {
                v = d;
            } else {
                ef_val_unref(d);
            }
        }
        if (!v) {
            if (p->required) {
                problems__add(b->probs, "node %s (type %s, flow %s): property '%s' is required",
                              n->id, n->type->name, node_where(n), p->name);
            }
            continue;
        }
        if (p->offset == EF_PROP_NOFIELD) {
            continue;
        }
        char *field = (char *)n->priv + p->offset;
        enum ef_type t = ef_val_type(v);
        const char *bad = NULL;
        switch (p->kind) {
        case EF_PROP_STR:
            if (t == EF_STR) {
                *(const char **)field = ef_val_str_get(v);
            } else if (t == EF_NULL) {
                *(const char **)field = "";
            } else {
                bad = "a string";
            }
            break;
        case EF_PROP_NUM:
        case EF_PROP_INT: {
            double d = 0;
            if (t == EF_NUM) {
                d = ef_val_num_get(v);
            } else if (t == EF_STR) {
                char *end;
                const char *s = ef_val_str_get(v);
                d = *s ? strtod(s, &end) : 0;
                if (*s && *end) {
                    bad = "a number";
                }
            } else if (t != EF_NULL) {
                bad = "a number";
            }
            if (!bad && p->kind == EF_PROP_INT) {
                *(int64_t *)field = (int64_t)d;
            } else if (!bad) {
                *(double *)field = d;
            }
            break;
        }
        case EF_PROP_BOOL:
            if (t == EF_BOOL) {
                *(bool *)field = ef_val_bool_get(v);
            } else if (t == EF_STR && (!strcmp(ef_val_str_get(v), "true") ||
                                       !strcmp(ef_val_str_get(v), "false"))) {
                *(bool *)field = !strcmp(ef_val_str_get(v), "true");
            } else if (t == EF_NULL) {
                *(bool *)field = false;
            } else {
                bad = "a boolean";
            }
            break;
        case EF_PROP_ANY: *(const struct ef_val **)field = v; break;
        case EF_PROP_NODE:
            if (t == EF_STR && ef_val_str_len(v)) {
                struct ef_node *ref = resolve_ref(b->fs, n->flow, ef_val_str_get(v));
                if (!ref) {
                    problems__add(b->probs,
                                  "node %s (type %s, flow %s): property '%s' refers to missing "
                                  "config node '%s'",
                                  n->id, n->type->name, node_where(n), p->name, ef_val_str_get(v));
                }
                *(struct ef_node **)field = ref;
            } else if (p->required) {
                bad = "a config node id";
            }
            break;
        default: break;
        }
        if (bad) {
            problems__add(b->probs, "node %s (type %s, flow %s): property '%s' must be %s, not %s",
                          n->id, n->type->name, node_where(n), p->name, bad, ef_type_name(t));
        }
    }
}

/* ---- Carried nodes (modified-nodes and modified-flows deploys) ---- */

struct node_saved {
    struct node_port *ports, *ext;
    int nports, n_ext;
    struct ef_node **watchers;
    size_t nwatch, slot;
    struct ef_flowset *fs;
    struct ef_scope *flow, *group, *sf_scope;
    const struct ef_val *sf_def, *entry;
    bool is_catch, is_status, is_complete;
};

static int fs_append(struct ef_flowset *fs, struct ef_node *n)
{
    if (fs->nnodes == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 64;
        struct ef_node **nodes = realloc(fs->nodes, cap * sizeof(*nodes));
        if (!nodes) {
            return EF_ENOMEM;
        }
        fs->nodes = nodes;
        fs->cap = cap;
    }
    n->slot = fs->nnodes;
    fs->nodes[fs->nnodes++] = n;
    return 0;
}

static void free_wiring(struct node_port *ports, int nports, struct node_port *ext, int n_ext,
                        struct ef_node **watchers)
{
    for (int i = 0; i < nports; i++) {
        free(ports[i].targets);
    }
    for (int i = 0; i < n_ext; i++) {
        free(ext[i].targets);
    }
    free(ports);
    free(ext);
    free(watchers);
}

/*
 * Takes the running node `o` into the flow set being built, keeping its
 * state; its old wiring is saved so a failed build can put it back.
 */
static struct ef_node *node_adopt(struct build *b, struct ef_node *o, struct ef_scope *flow,
                                  struct ef_scope *group)
{
    struct node_saved *sv = calloc(1, sizeof(*sv));
    if (!sv || idmap__put(b->fs->ids, o->id, o) != 0) {
        free(sv);
        return NULL;
    }
    *sv = (struct node_saved){o->ports,    o->ext,      o->nports,    o->n_ext,
                              o->watchers, o->nwatch,   o->slot,      o->fs,
                              o->flow,     o->group,    o->sf_scope,  o->sf_def,
                              o->entry,    o->is_catch, o->is_status, o->is_complete};
    if (fs_append(b->fs, o) != 0) {
        free(sv);
        return NULL;
    }
    o->saved = sv;
    o->carried = true;
    o->ports = o->ext = NULL;
    o->nports = o->n_ext = 0;
    o->watchers = NULL;
    o->nwatch = 0;
    o->fs = b->fs;
    o->flow = flow;
    o->group = group;
    o->is_catch = o->is_status = o->is_complete = false;
    return o;
}

/* A failed build: every carried node goes back to its flow set as it was. */
static void carried_rollback(struct ef_flowset *fs)
{
    for (size_t i = 0; i < fs->nnodes; i++) {
        struct ef_node *n = fs->nodes[i];
        if (!n || !n->saved) {
            continue;
        }
        struct node_saved *sv = n->saved;
        free_wiring(n->ports, n->nports, n->ext, n->n_ext, n->watchers);
        n->ports = sv->ports;
        n->ext = sv->ext;
        n->nports = sv->nports;
        n->n_ext = sv->n_ext;
        n->watchers = sv->watchers;
        n->nwatch = sv->nwatch;
        n->slot = sv->slot;
        n->fs = sv->fs;
        n->flow = sv->flow;
        n->group = sv->group;
        n->sf_scope = sv->sf_scope;
        n->sf_def = sv->sf_def;
        n->entry = sv->entry;
        n->is_catch = sv->is_catch;
        n->is_status = sv->is_status;
        n->is_complete = sv->is_complete;
        n->carried = false;
        n->saved = NULL;
        free(sv);
        fs->nodes[i] = NULL;
    }
}

void flowset__commit_carried(struct ef_flowset *fs, struct ef_flowset *old)
{
    for (size_t i = 0; i < fs->nnodes; i++) {
        struct ef_node *n = fs->nodes[i];
        if (!n || !n->saved) {
            continue;
        }
        struct node_saved *sv = n->saved;
        if (old && sv->slot < old->nnodes && old->nodes[sv->slot] == n) {
            old->nodes[sv->slot] = NULL;
        }
        free_wiring(sv->ports, sv->nports, sv->ext, sv->n_ext, sv->watchers);
        free(sv);
        n->saved = NULL;
    }
}

/*
 * Creates a node from a flow entry in scope `flow`, with id `id` (which
 * differs from the entry's id inside subflow instances). Returns NULL after
 * recording a problem.
 */
static struct ef_node *node_create(struct build *b, const struct ef_val *e, const char *id,
                                   const char *alias, struct ef_scope *flow, struct ef_scope *group,
                                   const struct ef_node_type *type, bool carry)
{
    struct ef_flowset *fs = b->fs;
    if (carry) {
        struct ef_node *o = idmap__get(b->old->ids, id);
        if (o && o->type == type && o->started && !o->closed && !o->carried) {
            o = node_adopt(b, o, flow, group);
            if (o) {
                o->entry = e; /* the new wiring */
            }
            return o;
        }
    }
    struct ef_node *n = calloc(1, sizeof(*n));
    if (!n) {
        return NULL;
    }
    n->type = type;
    n->fs = fs;
    n->flow = flow;
    n->group = group;
    n->id = strdup(id);
    n->alias = alias ? strdup(alias) : NULL;
    n->config = ef_val_ref((struct ef_val *)e);
    n->entry = e;
    if (type->priv_size) {
        n->priv = calloc(1, type->priv_size);
    }
    if (!n->id || (alias && !n->alias) || (type->priv_size && !n->priv)) {
        goto oom;
    }
    if (idmap__get(fs->ids, n->id)) {
        problems__add(b->probs, "node %s (type %s): duplicate id", id, type->name);
        goto fail;
    }
    if (fs_append(fs, n) != 0) {
        goto oom;
    }
    if (idmap__put(fs->ids, n->id, n) != 0) {
        fs->nnodes--;
        goto oom;
    }
    if (env__substitute(n, &n->config) != 0) {
        return NULL;
    }
    const struct ef_val *name = ef_val_obj_get(n->config, "name");
    /* As Node-RED's `if (n.name) this.name = n.name`: an empty name is no name. */
    /* Node-RED keeps a name only if it is non-empty, unless the node copies n.name itself. */
    bool named = ef_val_type(name) == EF_STR &&
                 (ef_val_str_len(name) || (type->flags & EF_TYPE_NAME_ALWAYS));
    n->name = named ? ef_val_str_get(name) : NULL;
    return n;
oom:
    problems__add(b->probs, "node %s: out of memory", id);
fail:
    free(n->id);
    free(n->alias);
    free(n->priv);
    ef_val_unref(n->config);
    free(n);
    return NULL;
}

static void node_free(struct ef_node *n)
{
    typed__jsonata_release(n);
    free_wiring(n->ports, n->nports, n->ext, n->n_ext, n->watchers);
    free(n->id);
    free(n->alias);
    free(n->priv);
    ef_val_unref(n->config);
    ef_val_unref(n->status);
    free(n);
}

/* ---- Wires ---- */

/* Resolves a node's "wires" into ports (or ext ports for subflow instances). */
static void wire_node(struct build *b, struct ef_node *n)
{
    const struct ef_val *wires = ef_val_obj_get(n->entry ? n->entry : n->config, "wires");
    struct ef_val *link_ports = NULL;
    if (!strcmp(n->type->name, "link out")) {
        const struct ef_val *targets = ef_val_obj_get(b->link_wires, n->alias ? n->alias : n->id);
        link_ports = ef_val_arr();
        ef_val_arr_push_take(link_ports,
                             targets ? ef_val_ref((struct ef_val *)targets) : ef_val_arr());
        wires = link_ports;
    }
    if (!wires) {
        return;
    }
    if (ef_val_type(wires) != EF_ARR) {
        problems__add(b->probs, "node %s (type %s, flow %s): property 'wires' must be an array",
                      n->id, n->type->name, node_where(n));
        return;
    }
    bool inst = n->sf_def != NULL;
    struct node_port **ports = inst ? &n->ext : &n->ports;
    int *np = inst ? &n->n_ext : &n->nports;
    if (ports_reserve(ports, np, (int)ef_val_arr_len(wires)) != 0) {
        return;
    }
    for (size_t p = 0; p < ef_val_arr_len(wires); p++) {
        const struct ef_val *port = ef_val_arr_at(wires, p);
        if (ef_val_type(port) != EF_ARR) {
            problems__add(b->probs,
                          "node %s (type %s, flow %s): wires[%zu] must be an array of node ids",
                          n->id, n->type->name, node_where(n), p);
            continue;
        }
        for (size_t i = 0; i < ef_val_arr_len(port); i++) {
            const struct ef_val *t = ef_val_arr_at(port, i);
            if (ef_val_type(t) != EF_STR) {
                problems__add(b->probs,
                              "node %s (type %s, flow %s): wires[%zu][%zu] is not a node id", n->id,
                              n->type->name, node_where(n), p, i);
                continue;
            }
            const char *tid = ef_val_str_get(t);
            struct ef_node *target = resolve_ref(b->fs, n->flow, tid);
            if (!target) {
                if (!idmap__get(b->disabled, tid)) {
                    problems__add(b->probs,
                                  "node %s (type %s, flow %s): wires[%zu] connects to '%s', "
                                  "which does not exist",
                                  n->id, n->type->name, node_where(n), p, tid);
                }
                continue;
            }
            if (!target->type->inputs) {
                problems__add(b->probs,
                              "node %s (type %s, flow %s): wires[%zu] connects to node %s (type "
                              "%s), which has no input",
                              n->id, n->type->name, node_where(n), p, tid, target->type->name);
                continue;
            }
            port_add(&(*ports)[p], target);
        }
    }
    ef_val_unref(link_ports);
}

static void link_wire_add(struct ef_val *lw, const char *out, const char *in)
{
    struct ef_val **slot = ef_val_obj_slot(lw, out, strlen(out));
    if (!slot) {
        ef_val_obj_set_take(lw, out, ef_val_arr());
        slot = ef_val_obj_slot(lw, out, strlen(out));
    }
    if (!in || !slot) {
        return;
    }
    for (size_t i = 0; i < ef_val_arr_len(*slot); i++) {
        if (!strcmp(ef_val_str_get(ef_val_arr_at(*slot, i)), in)) {
            return;
        }
    }
    ef_val_arr_push_take(*slot, ef_val_str(in));
}

/* Link out wires: its own links plus every link in that names it, in file order. */
static void compute_link_wires(struct build *b)
{
    for (size_t i = 0; i < ef_val_arr_len(b->flows); i++) {
        const struct ef_val *e = ef_val_arr_at(b->flows, i);
        const char *type = str_at(e, "type");
        const struct ef_val *links = ef_val_obj_get(e, "links");
        if (!type || ef_val_type(links) != EF_ARR) {
            continue;
        }
        for (size_t j = 0; j < ef_val_arr_len(links); j++) {
            const char *other = ef_val_str_get(ef_val_arr_at(links, j));
            if (!strcmp(type, "link in")) {
                link_wire_add(b->link_wires, other, str_at(e, "id"));
            }
        }
        if (!strcmp(type, "link out")) {
            link_wire_add(b->link_wires, str_at(e, "id"), NULL);
            for (size_t j = 0; j < ef_val_arr_len(links); j++) {
                link_wire_add(b->link_wires, str_at(e, "id"),
                              ef_val_str_get(ef_val_arr_at(links, j)));
            }
        }
    }
}

/*
 * Status and complete nodes drop from their scope the nodes they are wired
 * to (Node-RED removes them with splice inside a forward loop, which skips
 * the entry after each removal; that is reproduced).
 */
static void filter_scope_by_wires(struct ef_node *n)
{
    const struct ef_val *scope = ef_val_obj_get(n->config, "scope");
    const struct ef_val *wires = ef_val_obj_get(n->config, "wires");
    if (ef_val_type(scope) != EF_ARR) {
        return;
    }
    struct ef_val *copy = ef_val_copy(scope);
    for (size_t i = 0; copy && i < ef_val_arr_len(copy); i++) {
        const char *id = ef_val_str_get(ef_val_arr_at(copy, i));
        bool wired = false;
        for (size_t p = 0; p < ef_val_arr_len(wires) && !wired; p++) {
            const struct ef_val *port = ef_val_arr_at(wires, p);
            for (size_t k = 0; k < ef_val_arr_len(port) && !wired; k++) {
                wired = !strcmp(ef_val_str_get(ef_val_arr_at(port, k)), id);
            }
        }
        if (wired) {
            ef_val_arr_remove(copy, i);
        }
    }
    if (copy && ef_val_mut(&n->config)) {
        ef_val_obj_set_take(n->config, "scope", copy);
    } else {
        ef_val_unref(copy);
    }
}

/* Where a subflow template's port source {id, port} lands for instance `inst`. */
static struct node_port *subflow_source_port(struct build *b, struct ef_node *inst,
                                             const struct ef_val *src)
{
    const char *sid = str_at(src, "id");
    int port = (int)ef_val_num_get(ef_val_obj_get(src, "port"));
    if (!sid || port < 0 || port > 1000) {
        return NULL;
    }
    if (!strcmp(sid, str_at(inst->sf_def, "id"))) {
        return ports_reserve(&inst->ports, &inst->nports, 1) == 0 ? &inst->ports[0] : NULL;
    }
    struct ef_node *n = resolve_ref(b->fs, inst->sf_scope, sid);
    if (!n) {
        problems__add(b->probs,
                      "subflow %s (instance %s): unknown node referenced inside subflow: %s",
                      str_at(inst->sf_def, "id"), inst->id, sid);
        return NULL;
    }
    if (n->sf_def) {
        return ports_reserve(&n->ext, &n->n_ext, port + 1) == 0 ? &n->ext[port] : NULL;
    }
    return ports_reserve(&n->ports, &n->nports, port + 1) == 0 ? &n->ports[port] : NULL;
}

/* Connects a subflow instance: outputs straight to the outside, status port. */
static void wire_subflow(struct build *b, struct ef_node *inst)
{
    if (!inst->sf_scope) {
        return; /* not instantiated: already reported */
    }
    const struct ef_val *outs = ef_val_obj_get(inst->sf_def, "out");
    for (size_t i = 0; i < ef_val_arr_len(outs); i++) {
        const struct ef_val *w = ef_val_obj_get(ef_val_arr_at(outs, i), "wires");
        for (size_t j = 0; j < ef_val_arr_len(w); j++) {
            struct node_port *p = subflow_source_port(b, inst, ef_val_arr_at(w, j));
            if (p && (int)i < inst->n_ext) {
                port_append(p, &inst->ext[i]);
            }
        }
    }
    struct ef_node *st = inst->sf_scope->subflow_status;
    const struct ef_val *sw = ef_val_obj_get(ef_val_obj_get(inst->sf_def, "status"), "wires");
    for (size_t j = 0; st && j < ef_val_arr_len(sw); j++) {
        struct node_port *p = subflow_source_port(b, inst, ef_val_arr_at(sw, j));
        if (p) {
            port_add(p, st);
        }
    }
}

/* ---- Subflows ---- */

static int place_entries(struct build *b, const char *z, struct ef_scope *flow, const char *prefix,
                         int depth, bool carry_all);

/* Creates the scope and nodes of one subflow instance. */
static void subflow_instantiate(struct build *b, struct ef_node *inst, const struct ef_val *def,
                                int depth)
{
    const char *def_id = str_at(def, "id");
    if (depth >= SUBFLOW_MAX_DEPTH) {
        problems__add(b->probs,
                      "node %s (type subflow:%s): subflows nested deeper than %d "
                      "(a subflow that contains itself?)",
                      inst->id, def_id, SUBFLOW_MAX_DEPTH);
        return;
    }
    struct ef_scope *s = scope_new(b->fs, SCOPE_SUBFLOW, inst->id, str_at(def, "name"));
    if (!s) {
        return;
    }
    s->instance = inst;
    s->parent = inst->group ? inst->group : inst->flow;
    const char *ppath = inst->flow && inst->flow->path ? inst->flow->path : "";
    if (asprintf(&s->path, "%s/%s", ppath, inst->alias ? inst->alias : inst->id) < 0) {
        s->path = NULL;
    }
    inst->sf_def = def;
    inst->sf_scope = s;
    env__eval_scope(b->rt, s, ef_val_obj_get(def, "env"), b->probs);
    env__eval_scope(b->rt, s, ef_val_obj_get(inst->config, "env"), b->probs);
    if (ef_val_obj_get(def, "status")) {
        s->subflow_status = subflow__status_node(b->fs, s);
    }
    place_entries(b, def_id, s, inst->id, depth + 1, inst->carried);
    if (ports_reserve(&inst->ports, &inst->nports, 1) != 0) {
        return;
    }
    const struct ef_val *in = ef_val_arr_at(ef_val_obj_get(def, "in"), 0);
    const struct ef_val *w = ef_val_obj_get(in, "wires");
    for (size_t i = 0; i < ef_val_arr_len(w); i++) {
        const char *tid = str_at(ef_val_arr_at(w, i), "id");
        struct ef_node *t = tid ? resolve_ref(b->fs, s, tid) : NULL;
        if (t) {
            port_add(&inst->ports[0], t);
        } else if (tid && !idmap__get(b->disabled, tid)) {
            problems__add(b->probs, "subflow %s (instance %s): input wired to unknown node %s",
                          def_id, inst->id, tid);
        }
    }
}

/* ---- Placing entries ---- */

static struct ef_scope *group_for(struct build *b, const struct ef_val *e, const char *prefix)
{
    const char *g = str_at(e, "g");
    if (!g || !*g) {
        return NULL;
    }
    char key[1024];
    snprintf(key, sizeof(key), "%s%s%s", prefix ? prefix : "", prefix ? ":" : "", g);
    return idmap__get(b->scopes, key);
}

/* Creates the groups of tab/subflow `z` inside scope `flow`. */
static void place_groups(struct build *b, const char *z, struct ef_scope *flow, const char *prefix)
{
    size_t first = b->fs->nscopes;
    for (size_t i = 0; i < ef_val_arr_len(b->flows); i++) {
        const struct ef_val *e = ef_val_arr_at(b->flows, i);
        const char *type = str_at(e, "type");
        const char *ez = str_at(e, "z");
        if (!type || strcmp(type, "group") != 0 || !ez || strcmp(ez, z) != 0) {
            continue;
        }
        char key[1024];
        snprintf(key, sizeof(key), "%s%s%s", prefix ? prefix : "", prefix ? ":" : "",
                 str_at(e, "id"));
        struct ef_scope *g = scope_new(b->fs, SCOPE_GROUP, str_at(e, "id"), str_at(e, "name"));
        if (!g || idmap__put(b->scopes, key, g) != 0) {
            continue;
        }
        g->flow = flow;
        g->parent = flow;
        g->env = NULL;
    }
    /* Link nesting, then evaluate env outermost first. */
    for (size_t i = first; i < b->fs->nscopes; i++) {
        struct ef_scope *g = b->fs->scopes[i];
        const struct ef_val *e = idmap__get(b->entries, g->id);
        struct ef_scope *pg = group_for(b, e, prefix);
        if (pg) {
            g->group_parent = pg;
            g->parent = pg;
        }
    }
    for (size_t depth = 0; depth < 64; depth++) {
        for (size_t i = first; i < b->fs->nscopes; i++) {
            struct ef_scope *g = b->fs->scopes[i];
            size_t d = 0;
            for (struct ef_scope *p = g->group_parent; p && d < 64; p = p->group_parent) {
                d++;
            }
            if (d == depth) {
                env__eval_scope(b->rt, g, ef_val_obj_get(idmap__get(b->entries, g->id), "env"),
                                b->probs);
            }
        }
    }
}

/*
 * Creates the nodes whose z is `z` in scope `flow`. Inside a subflow
 * instance, ids become "<prefix>:<id>" with the template id as alias.
 */
static int place_entries(struct build *b, const char *z, struct ef_scope *flow, const char *prefix,
                         int depth, bool carry_all)
{
    place_groups(b, z, flow, prefix);
    for (size_t i = 0; i < ef_val_arr_len(b->flows); i++) {
        const struct ef_val *e = ef_val_arr_at(b->flows, i);
        const char *id = str_at(e, "id");
        const char *type = str_at(e, "type");
        const char *ez = str_at(e, "z");
        if (!id || !type || !strcmp(type, "tab") || !strcmp(type, "subflow") ||
            !strcmp(type, "group")) {
            continue;
        }
        if (strcmp(ez ? ez : "", z) != 0) {
            continue;
        }
        if (ef_val_bool_get(ef_val_obj_get(e, "d"))) {
            continue;
        }
        char idbuf[1024];
        const char *nid = id;
        if (prefix) {
            snprintf(idbuf, sizeof(idbuf), "%s-%s", prefix, id);
            nid = idbuf;
        }
        struct ef_scope *group = group_for(b, e, prefix);
        bool carry = b->old && (carry_all || (!prefix && b->carry && idmap__get(b->carry, id)));
        if (!strncmp(type, "subflow:", 8)) {
            const struct ef_val *def = idmap__get(b->entries, type + 8);
            if (!def || strcmp(str_at(def, "type"), "subflow") != 0) {
                problems__add(b->probs, "node %s (type %s, flow %s): unknown subflow '%s'", id,
                              type, flow->id, type + 8);
                continue;
            }
            static const struct ef_node_type *inst_type;
            inst_type = subflow__instance_type();
            struct ef_node *n =
                node_create(b, e, nid, prefix ? id : NULL, flow, group, inst_type, carry);
            if (!n) {
                continue;
            }
            if (b->ninst == b->instcap) {
                size_t cap = b->instcap ? b->instcap * 2 : 16;
                struct ef_node **l = realloc(b->instances, cap * sizeof(*l));
                if (!l) {
                    continue;
                }
                b->instances = l;
                b->instcap = cap;
            }
            b->instances[b->ninst++] = n;
            subflow_instantiate(b, n, def, depth);
            continue;
        }
        const struct ef_node_type *t = registry__find(type);
        if (!t) {
            problems__add(b->probs, "node %s on flow %s: unknown node type '%s'", id, flow->id,
                          type);
            idmap__put(b->disabled, nid, (void *)e); /* wires to it are not problems too */
            continue;
        }
        node_create(b, e, nid, prefix ? id : NULL, flow, group, t, carry);
    }
    return 0;
}

/* ---- Build ---- */

static bool index_entries(struct build *b)
{
    size_t before = b->probs->n;
    for (size_t i = 0; i < ef_val_arr_len(b->flows); i++) {
        const struct ef_val *e = ef_val_arr_at(b->flows, i);
        if (ef_val_type(e) != EF_OBJ) {
            problems__add(b->probs, "flows[%zu]: must be an object, not %s", i,
                          ef_type_name(ef_val_type(e)));
            continue;
        }
        const char *id = str_at(e, "id");
        const char *type = str_at(e, "type");
        if (!id || !*id) {
            problems__add(b->probs, "flows[%zu] (type %s): missing or empty 'id'", i,
                          type ? type : "?");
            continue;
        }
        if (!type || !*type) {
            problems__add(b->probs, "node %s: missing or empty 'type'", id);
            continue;
        }
        if (strlen(id) > 200) {
            problems__add(b->probs, "flows[%zu] (type %s): id longer than 200 characters", i, type);
            continue;
        }
        const struct ef_val *z = ef_val_obj_get(e, "z");
        if (z && ef_val_type(z) != EF_STR) {
            problems__add(b->probs, "node %s (type %s): property 'z' must be a string", id, type);
            continue;
        }
        if (idmap__put(b->entries, id, (void *)e) == EF_EEXIST) {
            problems__add(b->probs, "node %s (type %s): duplicate id", id, type);
        }
    }
    return b->probs->n == before;
}

/* Records ids that are disabled, or live on disabled tabs, so wires to them are dropped. */
static void mark_disabled(struct build *b)
{
    for (size_t i = 0; i < ef_val_arr_len(b->flows); i++) {
        const struct ef_val *e = ef_val_arr_at(b->flows, i);
        const char *id = str_at(e, "id");
        const char *z = str_at(e, "z");
        const struct ef_val *zt = z ? idmap__get(b->entries, z) : NULL;
        bool off = ef_val_bool_get(ef_val_obj_get(e, "d")) ||
                   (zt && ef_val_bool_get(ef_val_obj_get(zt, "disabled")));
        if (id && off) {
            idmap__put(b->disabled, id, (void *)e);
        }
    }
}

static void register_event_nodes(struct build *b)
{
    for (size_t i = 0; i < b->fs->nnodes; i++) {
        struct ef_node *n = b->fs->nodes[i];
        const char *tn = n->type->name;
        struct ef_scope *f = n->flow;
        if (!strcmp(tn, "catch")) {
            n->is_catch = true;
            scope_add_node(&f->catchers, &f->ncatch, n);
        } else if (!strcmp(tn, "status")) {
            n->is_status = true;
            if (!n->carried) {
                filter_scope_by_wires(n);
            }
            scope_add_node(&f->statuses, &f->nstatus, n);
        } else if (!strcmp(tn, "complete")) {
            n->is_complete = true;
            if (!n->carried) {
                filter_scope_by_wires(n);
            }
            const struct ef_val *scope = ef_val_obj_get(n->config, "scope");
            for (size_t j = 0; j < ef_val_arr_len(scope); j++) {
                struct ef_node *t = resolve_ref(b->fs, f, ef_val_str_get(ef_val_arr_at(scope, j)));
                if (t && t->flow == f) {
                    scope_add_node(&t->watchers, &t->nwatch, n);
                }
            }
        }
    }
}

struct ef_flowset *flowset__build(struct ef_runtime *rt, struct ef_val *config,
                                  struct ef_flowset *old, struct id_map *carry,
                                  struct ef_problems *probs)
{
    const struct ef_val *flows = config;
    if (ef_val_type(config) == EF_OBJ) {
        flows = ef_val_obj_get(config, "flows");
    }
    if (ef_val_type(flows) != EF_ARR) {
        problems__add(
            probs, "flow file must be an array of nodes or an object {\"rev\", \"flows\": [...]}");
        return NULL;
    }
    struct ef_flowset *fs = calloc(1, sizeof(*fs));
    struct build b = {rt,           fs,           old,  carry, probs, flows,       idmap__new(),
                      idmap__new(), idmap__new(), NULL, 0,     0,     ef_val_obj()};
    if (!fs || !b.entries || !b.scopes || !b.disabled || !(fs->ids = idmap__new())) {
        problems__add(probs, "out of memory");
        goto done;
    }
    fs->rt = rt;
    fs->config = ef_val_ref(config);
    fs->building = probs;
    size_t before = probs->n;
    if (!index_entries(&b)) {
        goto done;
    }
    mark_disabled(&b);
    compute_link_wires(&b);
    fs->global = scope_new(fs, SCOPE_GLOBAL, "global", NULL);
    if (!fs->global) {
        goto done;
    }
    fs->global->path = strdup("");
    /* global-config env, then tabs */
    for (size_t i = 0; i < ef_val_arr_len(flows); i++) {
        const struct ef_val *e = ef_val_arr_at(flows, i);
        if (!strcmp(str_at(e, "type") ? str_at(e, "type") : "", "global-config")) {
            env__eval_scope(rt, fs->global, ef_val_obj_get(e, "env"), probs);
        }
    }
    for (size_t i = 0; i < ef_val_arr_len(flows); i++) {
        const struct ef_val *e = ef_val_arr_at(flows, i);
        const char *type = str_at(e, "type");
        if (!type || strcmp(type, "tab") != 0) {
            continue;
        }
        struct ef_scope *t = scope_new(fs, SCOPE_TAB, str_at(e, "id"), str_at(e, "label"));
        if (!t) {
            continue;
        }
        t->parent = fs->global;
        t->path = strdup(t->id);
        t->disabled = ef_val_bool_get(ef_val_obj_get(e, "disabled"));
        idmap__put(b.scopes, t->id, t);
        env__eval_scope(rt, t, ef_val_obj_get(e, "env"), probs);
    }
    /* Check every z points somewhere. */
    for (size_t i = 0; i < ef_val_arr_len(flows); i++) {
        const struct ef_val *e = ef_val_arr_at(flows, i);
        const char *z = str_at(e, "z");
        const char *type = str_at(e, "type");
        if (z && *z && !idmap__get(b.entries, z)) {
            problems__add(probs, "node %s (type %s): 'z' refers to flow '%s', which does not exist",
                          str_at(e, "id"), type, z);
        }
    }
    /* Config nodes and nodes without a tab live in the global scope; then each tab. */
    place_entries(&b, "", fs->global, NULL, 0, false);
    for (size_t i = 0; i < fs->nscopes; i++) {
        struct ef_scope *t = fs->scopes[i];
        if (t->kind == SCOPE_TAB && !t->disabled) {
            place_entries(&b, t->id, t, NULL, 0, false);
        }
    }
    for (size_t i = 0; i < fs->nnodes; i++) {
        wire_node(&b, fs->nodes[i]);
    }
    for (size_t i = 0; i < b.ninst; i++) {
        wire_subflow(&b, b.instances[i]);
    }
    register_event_nodes(&b);
    /* Ports: what the type declares, what the wires use. */
    for (size_t i = 0; i < fs->nnodes; i++) {
        struct ef_node *n = fs->nodes[i];
        int want = n->type->outputs;
        if (want == EF_OUTPUTS_FROM_CONFIG) {
            want = (int)ef_val_num_get(ef_val_obj_get(n->config, "outputs"));
        }
        if (want > 0 && want < 1000) {
            ports_reserve(&n->ports, &n->nports, want);
        }
    }
    /* Properties and init: config nodes first; with problems, check properties only. */
    bool init = probs->n == before;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < fs->nnodes; i++) {
            struct ef_node *n = fs->nodes[i];
            if (n->carried || ((n->type->flags & EF_TYPE_CONFIG) != 0) != (pass == 0)) {
                continue;
            }
            size_t p0 = probs->n;
            apply_props(&b, n);
            bool ok = init && probs->n == p0;
            if (ok && n->type->cb_init) {
                int rc = n->type->cb_init(n, n->config);
                ok = rc == 0;
                if (rc != 0) {
                    if (probs->n == p0) {
                        problems__add(probs, "node %s (type %s, flow %s): %s", n->id, n->type->name,
                                      node_where(n), ef_strerror(rc));
                    }
                    n->closed = true; /* no cb_close for a node whose init failed */
                }
            }
            n->started = ok;
        }
    }
done:
    idmap__free(b.entries);
    idmap__free(b.scopes);
    idmap__free(b.disabled);
    free(b.instances);
    ef_val_unref(b.link_wires);
    if (fs) {
        fs->building = NULL;
    }
    if (fs && probs->n) {
        carried_rollback(fs);
        flowset__close(fs);
        flowset__free(fs);
        return NULL;
    }
    return fs;
}

void flowset__start(struct ef_flowset *fs)
{
    fs->started = true;
    for (size_t i = 0; i < fs->nnodes; i++) {
        struct ef_node *n = fs->nodes[i];
        if (n && !n->closed && !n->carried && n->type->cb_start) {
            n->type->cb_start(n);
        }
    }
    for (size_t i = 0; i < fs->nnodes; i++) {
        if (fs->nodes[i]) {
            fs->nodes[i]->carried = false;
        }
    }
}

void flowset__stop_inputs(struct ef_flowset *fs)
{
    for (size_t i = 0; i < fs->nnodes; i++) {
        struct ef_node *n = fs->nodes[i];
        if (n && !n->type->inputs && !(n->type->flags & EF_TYPE_CONFIG)) {
            node__close(n);
        }
    }
}

void flowset__close(struct ef_flowset *fs)
{
    /* Flow nodes first, config nodes (which they use) last. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = fs->nnodes; i-- > 0;) {
            struct ef_node *n = fs->nodes[i];
            if (n && ((n->type->flags & EF_TYPE_CONFIG) != 0) == (pass == 1)) {
                node__close(n);
            }
        }
    }
}

void flowset__free(struct ef_flowset *fs)
{
    if (!fs) {
        return;
    }
    loop__purge(&fs->rt->loop, fs);
    for (size_t i = 0; i < fs->nnodes; i++) {
        if (fs->nodes[i]) {
            node_free(fs->nodes[i]);
        }
    }
    for (size_t i = 0; i < fs->nscopes; i++) {
        struct ef_scope *s = fs->scopes[i];
        free(s->id);
        free(s->name);
        free(s->path);
        free(s->catchers);
        free(s->statuses);
        ef_val_unref(s->env);
        free(s);
    }
    free(fs->scopes);
    free(fs->nodes);
    idmap__free(fs->ids);
    ef_val_unref(fs->config);
    free(fs);
}
