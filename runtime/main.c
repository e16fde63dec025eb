/*
 * main.c - the edgeflow command line: run, check, nodes, version.
 * See docs/cli.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime.h"
#include "password.h"
#include "server.h"
#include "cli/fleet_cli.h"
#include "manager/manager.h"
#include "agent/agent.h"

static const char *const usage =
    "usage: edgeflow run [FLOWS] [--settings FILE] [--user-dir DIR] [--port N] [--host ADDR]\n"
    "                    [--debug-stdout] [--plugin-dir DIR]... [--log-level LEVEL]\n"
    "       edgeflow check FLOWS [--plugin-dir DIR]...\n"
    "       edgeflow nodes [--json] [--plugin-dir DIR]...\n"
    "       edgeflow agent --state-dir DIR [--manager URL --token TOKEN] ...  (docs/cli.md)\n"
    "       edgeflow hash-pw          (reads a password on stdin, prints its bcrypt hash)\n"
    "       edgeflow fleet COMMAND ... (the fleet manager's REST client: edgeflow fleet help)\n"
    "       edgeflow manager [--data-dir DIR] [--store URL] [--broker URL] ...  (fleet manager)\n"
    "       edgeflow version\n";

struct cli {
    const char *cmd;
    const char *flows;
    const char *settings;
    const char *user_dir;
    const char *host;
    int port;
    bool debug_stdout;
    bool json;
    const char *plugin_dirs[16];
    int nplugin_dirs;
};

/* Prints one debug line: {"id":"<node id>","value":<value>} */
static void print_debug(void *ud, const struct ef_debug_event *ev)
{
    struct ef_node *n = ev->node;
    const struct ef_val *value = ev->value;
    (void)ud;
    struct ef_val *line = ef_val_obj();
    if (!line) {
        return;
    }
    ef_val_obj_set_take(line, "id",
                        ef_val_str(n->alias ? n->alias : n->id)); /* its flows.json id */
    if (value) {
        ef_val_obj_set_take(line, "value", ef_val_ref((struct ef_val *)value));
    }
    size_t len;
    char *text = ef_json_print(line, 0, &len);
    if (text) {
        fwrite(text, 1, len, stdout);
        fputc('\n', stdout);
        fflush(stdout);
    }
    free(text);
    ef_val_unref(line);
}

static int parse_args(int argc, char **argv, struct cli *c)
{
    memset(c, 0, sizeof(*c));
    c->port = -1;
    if (argc < 2) {
        return -1;
    }
    c->cmd = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDS_ARG                                                                                  \
    if (!next) {                                                                                   \
        fprintf(stderr, "edgeflow: %s needs a value\n", a);                                        \
        return -1;                                                                                 \
    }                                                                                              \
    i++
        if (!strcmp(a, "--settings") || !strcmp(a, "-s")) {
            NEEDS_ARG;
            c->settings = next;
        } else if (!strcmp(a, "--user-dir") || !strcmp(a, "-u")) {
            NEEDS_ARG;
            c->user_dir = next;
        } else if (!strcmp(a, "--port") || !strcmp(a, "-p")) {
            NEEDS_ARG;
            char *end;
            long p = strtol(next, &end, 10);
            if (*end || p < 0 || p > 65535) {
                fprintf(stderr, "edgeflow: --port %s is not a port number\n", next);
                return -1;
            }
            c->port = (int)p;
        } else if (!strcmp(a, "--host")) {
            NEEDS_ARG;
            c->host = next;
        } else if (!strcmp(a, "--debug-stdout")) {
            c->debug_stdout = true;
        } else if (!strcmp(a, "--json")) {
            c->json = true;
        } else if (!strcmp(a, "--plugin-dir")) {
            NEEDS_ARG;
            if (c->nplugin_dirs == 16) {
                fprintf(stderr, "edgeflow: at most 16 --plugin-dir options\n");
                return -1;
            }
            c->plugin_dirs[c->nplugin_dirs++] = next;
        } else if (!strcmp(a, "--log-level")) {
            NEEDS_ARG;
            int lvl = ef_log_level_parse(next);
            if (lvl < 0) {
                fprintf(stderr,
                        "edgeflow: unknown log level '%s' (error, warn, info, debug, trace)\n",
                        next);
                return -1;
            }
            ef_log_set_level((enum ef_log_level)lvl);
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "edgeflow: unknown option %s\n", a);
            return -1;
        } else if (!c->flows) {
            c->flows = a;
        } else {
            fprintf(stderr, "edgeflow: unexpected argument %s\n", a);
            return -1;
        }
#undef NEEDS_ARG
    }
    return 0;
}

static void print_problems(const char *file, const struct ef_problems *p)
{
    for (size_t i = 0; i < p->n; i++) {
        fprintf(stderr, "%s: %s\n", file, p->items[i]);
    }
}

static void print_warnings(const char *file, const struct ef_problems *p, bool to_log)
{
    for (size_t i = 0; i < p->nwarn; i++) {
        if (to_log) {
            ef_log_debug("%s: %s", file, p->warnings[i]);
        } else {
            fprintf(stderr, "%s: warning: %s\n", file, p->warnings[i]);
        }
    }
}

static int cmd_run_or_check(const struct cli *c, bool run)
{
    char err[512];
    struct ef_settings *s = settings__load(c->settings, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "edgeflow: %s\n", err);
        return 2;
    }
    if (c->user_dir) {
        free(s->user_dir);
        s->user_dir = strdup(c->user_dir);
    }
    if (c->host) {
        free(s->ui_host);
        s->ui_host = strdup(c->host);
    }
    if (c->port >= 0) {
        s->ui_port = c->port;
    }
    const char *flows = c->flows ? c->flows : (*s->flow_file ? s->flow_file : NULL);
    char defpath[4096];
    if (!flows) {
        snprintf(defpath, sizeof(defpath), "%s%sflows.json", s->user_dir, *s->user_dir ? "/" : "");
        flows = defpath;
    }
    struct ef_runtime *rt = calloc(1, sizeof(*rt));
    if (!rt || runtime__init(rt, s, err, sizeof(err)) != 0) {
        fprintf(stderr, "edgeflow: %s\n", rt ? err : "out of memory");
        free(rt);
        return 2;
    }
    runtime__catch_signals(rt);
    registry__load_plugins(c->plugin_dirs, c->nplugin_dirs, s);
    bool unreadable;
    struct ef_val *config = runtime__read_flows(flows, &unreadable, err, sizeof(err));
    if (!config) {
        fprintf(stderr, "edgeflow: %s\n", err);
        runtime__destroy(rt);
        free(rt);
        registry__cleanup();
        return unreadable ? 2 : 1;
    }
    if (run) {
        /* credentials kept beside the flows file (flows_cred.json) */
        struct ef_val *withc = server__load_credentials(config, flows, s, err, sizeof(err));
        ef_val_unref(config);
        if (!withc) {
            fprintf(stderr, "edgeflow: %s\n", err);
            runtime__destroy(rt);
            free(rt);
            registry__cleanup();
            return 1;
        }
        config = withc;
    }
    if (c->debug_stdout) {
        runtime__add_hooks(rt, &(struct ef_runtime_hooks){.on_debug = print_debug});
    }
    int status = 0;
    struct ef_problems probs = {0};
    if (!run) {
        struct ef_flowset *fs = flowset__build(rt, config, NULL, NULL, &probs);
        print_warnings(flows, &probs, false);
        if (fs) {
            flowset__close(fs);
            flowset__free(fs);
            printf("%s: valid\n", flows);
        } else {
            print_problems(flows, &probs);
            fprintf(stderr, "%s: %zu problem%s\n", flows, probs.n, probs.n == 1 ? "" : "s");
            status = 1;
        }
    } else if (runtime__deploy(rt, config, &probs) != 0) {
        print_problems(flows, &probs);
        fprintf(stderr, "edgeflow: %s: not started (%zu problem%s)\n", flows, probs.n,
                probs.n == 1 ? "" : "s");
        status = 1;
    } else {
        print_warnings(flows, &probs, true);
        ef_log_info("edgeflow %s running %s", EF_VERSION, flows);
        /* the editor and admin API: on unless the port is 0 */
        struct ef_server *srv = NULL;
        if (s->ui_port > 0) {
            struct ef_server_opts so = {
                .host = s->ui_host, .port = s->ui_port, .flows_path = flows};
            srv = server__start(rt, &so, err, sizeof(err));
            if (srv) {
                ef_log_info("editor at %s://%s:%d/", srv->tls ? "https" : "http",
                            *s->ui_host ? s->ui_host : "127.0.0.1", server__port(srv));
            } else {
                ef_log_error("editor not started: %s", err);
            }
        }
        runtime__run(rt);
        runtime__stop(rt);
        server__stop(srv);
        ef_log_info("stopped");
    }
    problems__free(&probs);
    ef_val_unref(config);
    runtime__destroy(rt);
    free(rt);
    registry__cleanup();
    return status;
}

static void print_type_text(const struct ef_node_type *t, void *ud)
{
    (void)ud;
    printf("%-20s %-10s in:%d out:%s  %s\n", t->name, t->category ? t->category : "", t->inputs,
           t->outputs == EF_OUTPUTS_FROM_CONFIG ? "n" : (char[]){(char)('0' + t->outputs), 0},
           t->description ? t->description : "");
    for (const struct ef_prop *p = t->props; p && p->kind != EF_PROP_END; p++) {
        printf("    %-18s default %-12s %s%s\n", p->name, p->def ? p->def : "-",
               p->required ? "(required) " : "", p->help ? p->help : "");
    }
}

static const char *kind_name(enum ef_prop_kind k)
{
    static const char *const names[] = {"end",     "string", "number", "integer",
                                        "boolean", "any",    "node"};
    return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

static void add_type_json(const struct ef_node_type *t, void *ud)
{
    struct ef_val *arr = ud;
    struct ef_val *o = ef_val_obj();
    ef_val_obj_set_take(o, "type", ef_val_str(t->name));
    ef_val_obj_set_take(o, "category", ef_val_str(t->category ? t->category : ""));
    ef_val_obj_set_take(o, "description", ef_val_str(t->description ? t->description : ""));
    ef_val_obj_set_take(o, "inputs", ef_val_num(t->inputs));
    ef_val_obj_set_take(o, "outputs",
                        t->outputs == EF_OUTPUTS_FROM_CONFIG ? ef_val_str("config")
                                                             : ef_val_num(t->outputs));
    ef_val_obj_set_take(o, "config", ef_val_bool(t->flags & EF_TYPE_CONFIG));
    struct ef_val *props = ef_val_arr();
    for (const struct ef_prop *p = t->props; p && p->kind != EF_PROP_END; p++) {
        struct ef_val *po = ef_val_obj();
        ef_val_obj_set_take(po, "name", ef_val_str(p->name));
        ef_val_obj_set_take(po, "kind", ef_val_str(kind_name(p->kind)));
        struct ef_val *d = p->def ? ef_json_parse(p->def, strlen(p->def), NULL, 0) : NULL;
        ef_val_obj_set_take(po, "default", d ? d : ef_val_null());
        ef_val_obj_set_take(po, "required", ef_val_bool(p->required));
        ef_val_obj_set_take(po, "help", ef_val_str(p->help ? p->help : ""));
        ef_val_arr_push_take(props, po);
    }
    ef_val_obj_set_take(o, "properties", props);
    ef_val_arr_push_take(arr, o);
}

static int cmd_nodes(const struct cli *c)
{
    if (registry__init_builtins() != 0) {
        return 2;
    }
    registry__load_plugins(c->plugin_dirs, c->nplugin_dirs, NULL);
    if (c->json) {
        struct ef_val *arr = ef_val_arr();
        registry__each(add_type_json, arr);
        char *text = ef_json_print(arr, EF_JSON_PRETTY, NULL);
        if (text) {
            puts(text);
        }
        free(text);
        ef_val_unref(arr);
    } else {
        registry__each(print_type_text, NULL);
    }
    registry__cleanup();
    return 0;
}

/* Node-RED's `node-red admin hash-pw`: a bcrypt hash for adminAuth.users[].password. */
static int cmd_hash_pw(void)
{
    char line[1024];
    if (isatty(STDIN_FILENO)) {
        fputs("Password: ", stderr);
    }
    if (!fgets(line, sizeof(line), stdin)) {
        fprintf(stderr, "edgeflow hash-pw: no password on stdin\n");
        return 1;
    }
    line[strcspn(line, "\r\n")] = '\0';
    char hash[64];
    int rc = *line ? password__hash(line, 8, hash, sizeof(hash)) : -1;
    explicit_bzero(line, sizeof(line));
    if (rc != 0) {
        fprintf(stderr, "edgeflow hash-pw: %s\n",
                *line ? "cannot hash (libcrypt)" : "empty password");
        return 1;
    }
    puts(hash);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "fleet")) {
        return ef_fleet_cli_main(argc - 2, argv + 2);
    }
    struct cli c;
    if (argc >= 2 && !strcmp(argv[1], "manager")) {
        return fleet_manager_main(argc - 1, argv + 1);
    }
    if (argc >= 2 && !strcmp(argv[1], "agent")) {
        return fleet_agent_main(argc - 1, argv + 1);
    }
    if (parse_args(argc, argv, &c) != 0) {
        fputs(usage, stderr);
        return 2;
    }
    if (!strcmp(c.cmd, "run")) {
        return cmd_run_or_check(&c, true);
    }
    if (!strcmp(c.cmd, "check")) {
        if (!c.flows) {
            fputs(usage, stderr);
            return 2;
        }
        return cmd_run_or_check(&c, false);
    }
    if (!strcmp(c.cmd, "nodes")) {
        return cmd_nodes(&c);
    }
    if (!strcmp(c.cmd, "hash-pw")) {
        return cmd_hash_pw();
    }
    if (!strcmp(c.cmd, "version") || !strcmp(c.cmd, "--version")) {
        printf("edgeflow %s (node ABI %d)\n", EF_VERSION, EF_ABI_VERSION);
        return 0;
    }
    if (!strcmp(c.cmd, "help") || !strcmp(c.cmd, "--help") || !strcmp(c.cmd, "-h")) {
        fputs(usage, stdout);
        return 0;
    }
    fprintf(stderr, "edgeflow: unknown command '%s'\n", c.cmd);
    fputs(usage, stderr);
    return 2;
}
