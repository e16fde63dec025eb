/*
 * flowtest.c - runs one flow test case: builds the case's flow in-process,
 * runs the loop until it is idle (or run_ms passes), and compares what the
 * debug nodes showed, in order, with "expect". A case file is JSON:
 *   flow             the flows.json array under test
 *   expect           [{"id": debug node id, "value": what it shows}, ...]
 *   expect_problems  instead of running: substrings every build problem list must contain
 *   expect_log       substrings that must appear in the log (warnings, errors)
 *   settings, env    optional settings object and process environment
 *   run_ms           longest run (default 2000); "wait": true runs the whole time
 *   clock            "virtual" (or a start time in ms since the epoch): timers run on a
 *                    virtual clock, so run_ms of timed behaviour takes no real time and
 *                    the order of events is exact (default start: 2026-01-01T00:00:00Z)
 *   unordered        compare expect as a multiset
 * In expected values, the string "<any>" matches anything.
 * Exit status 0 when the case passes; the differences are printed otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"
#include "storage.h"

struct capture {
    struct ef_val *lines; /* array of {id, value} */
    struct ef_val *log;   /* array of strings */
};

static void on_debug(void *ud, const struct ef_debug_event *ev)
{
    struct ef_node *n = ev->node;
    const struct ef_val *value = ev->value;
    struct capture *c = ud;
    struct ef_val *line = ef_val_obj();
    ef_val_obj_set_take(line, "id",
                        ef_val_str(n->alias ? n->alias : n->id)); /* its flows.json id */
    if (value) {
        /* What --debug-stdout would print: round-trip through JSON. */
        char *text = ef_json_print(value, 0, NULL);
        struct ef_val *v = text ? ef_json_parse(text, strlen(text), NULL, 0) : NULL;
        free(text);
        ef_val_obj_set_take(line, "value", v);
    }
    ef_val_arr_push_take(c->lines, line);
}

static void on_log(void *ud, int level, const char *line)
{
    struct capture *c = ud;
    (void)level;
    ef_val_arr_push_take(c->log, ef_val_str(line));
}

static bool match(const struct ef_val *want, const struct ef_val *got)
{
    if (ef_val_type(want) == EF_STR && !strcmp(ef_val_str_get(want), "<any>")) {
        return true;
    }
    if (ef_val_type(want) != ef_val_type(got)) {
        return false;
    }
    if (ef_val_type(want) == EF_ARR) {
        if (ef_val_arr_len(want) != ef_val_arr_len(got)) {
            return false;
        }
        for (size_t i = 0; i < ef_val_arr_len(want); i++) {
            if (!match(ef_val_arr_at(want, i), ef_val_arr_at(got, i))) {
                return false;
            }
        }
        return true;
    }
    if (ef_val_type(want) == EF_OBJ) {
        if (ef_val_obj_len(want) != ef_val_obj_len(got)) {
            return false;
        }
        for (size_t i = 0; i < ef_val_obj_len(want); i++) {
            size_t kl;
            const char *k = ef_val_obj_key_at(want, i, &kl);
            const struct ef_val *g = ef_val_obj_getn(got, k, kl);
            if (!g || !match(ef_val_obj_val_at(want, i), g)) {
                return false;
            }
        }
        return true;
    }
    return ef_val_equal(want, got);
}

static void print_val(const char *label, const struct ef_val *v)
{
    char *t = ef_json_print(v, 0, NULL);
    fprintf(stderr, "  %s %s\n", label, t ? t : "?");
    free(t);
}

static void on_deadline(uv_timer_t *t)
{
    uv_stop(t->loop);
}

static int compare(const struct ef_val *want, const struct ef_val *got, bool unordered)
{
    int fails = 0;
    if (!unordered) {
        size_t n =
            ef_val_arr_len(want) > ef_val_arr_len(got) ? ef_val_arr_len(want) : ef_val_arr_len(got);
        for (size_t i = 0; i < n; i++) {
            const struct ef_val *w = ef_val_arr_at(want, i), *g = ef_val_arr_at(got, i);
            if (!w || !g || !match(w, g)) {
                fprintf(stderr, "line %zu differs:\n", i);
                print_val("expected:", w);
                print_val("got:     ", g);
                fails++;
            }
        }
        return fails;
    }
    size_t ng = ef_val_arr_len(got);
    bool *used = calloc(ng + 1, 1);
    for (size_t i = 0; i < ef_val_arr_len(want); i++) {
        bool found = false;
        for (size_t j = 0; j < ng && !found; j++) {
            if (!used[j] && match(ef_val_arr_at(want, i), ef_val_arr_at(got, j))) {
                used[j] = found = true;
            }
        }
        if (!found) {
            print_val("missing:", ef_val_arr_at(want, i));
            fails++;
        }
    }
    for (size_t j = 0; j < ng; j++) {
        if (!used[j]) {
            print_val("unexpected:", ef_val_arr_at(got, j));
            fails++;
        }
    }
    free(used);
    return fails;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: flowtest CASE.json\n");
        return 2;
    }
    size_t len;
    char *text = storage__read_file(argv[1], 64u << 20, &len);
    char err[512];
    struct ef_val *tc = text ? ef_json_parse(text, len, err, sizeof(err)) : NULL;
    free(text);
    if (!tc) {
        fprintf(stderr, "%s: cannot read test case: %s\n", argv[1], text ? err : "unreadable");
        return 2;
    }
    const struct ef_val *env = ef_val_obj_get(tc, "env");
    for (size_t i = 0; i < ef_val_obj_len(env); i++) {
        setenv(ef_val_obj_key_at(env, i, NULL), ef_val_str_get(ef_val_obj_val_at(env, i)), 1);
    }
    char tmpdir[] = "/tmp/flowtest.XXXXXX";
    if (!mkdtemp(tmpdir)) {
        return 2;
    }
    const struct ef_val *sv = ef_val_obj_get(tc, "settings");
    char spath[600];
    snprintf(spath, sizeof(spath), "%s/settings.json", tmpdir);
    char *stext = ef_json_print(sv ? sv : ef_val_obj_get(tc, "__none"), 0, NULL);
    if (sv) {
        storage__write_atomic(spath, stext, strlen(stext), 0);
    }
    free(stext);
    struct ef_settings *s = settings__load(sv ? spath : NULL, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "settings: %s\n", err);
        return 2;
    }
    if (!*s->user_dir) {
        free(s->user_dir);
        s->user_dir = strdup(tmpdir);
    }
    struct capture cap = {ef_val_arr(), ef_val_arr()};
    log__set_sink(on_log, &cap);
    struct ef_runtime *rt = calloc(1, sizeof(*rt));
    if (runtime__init(rt, s, err, sizeof(err)) != 0) {
        fprintf(stderr, "runtime: %s\n", err);
        return 2;
    }
    runtime__add_hooks(rt, &(struct ef_runtime_hooks){.on_debug = on_debug, .ud = &cap});
    const struct ef_val *clock = ef_val_obj_get(tc, "clock");
    bool virtual_clock = clock != NULL;
    if (virtual_clock) {
        loop__use_virtual_clock(&rt->loop, ef_val_type(clock) == EF_NUM ? ef_val_num_get(clock)
                                                                        : 1767225600000.0);
    }
    struct ef_problems probs = {0};
    int fails = 0;
    const struct ef_val *want_probs = ef_val_obj_get(tc, "expect_problems");
    int rc = runtime__deploy(rt, (struct ef_val *)ef_val_obj_get(tc, "flow"), &probs);
    if (want_probs) {
        if (rc == 0) {
            fprintf(stderr, "expected the flow to be refused, but it was accepted\n");
            fails++;
        }
        for (size_t i = 0; i < ef_val_arr_len(want_probs); i++) {
            const char *w = ef_val_str_get(ef_val_arr_at(want_probs, i));
            bool found = false;
            for (size_t j = 0; j < probs.n && !found; j++) {
                found = strstr(probs.items[j], w) != NULL;
            }
            if (!found) {
                fprintf(stderr, "no problem mentions: %s\n", w);
                fails++;
            }
        }
        for (size_t j = 0; j < probs.n; j++) {
            fprintf(stderr, "  problem: %s\n", probs.items[j]);
        }
    } else if (rc != 0) {
        for (size_t j = 0; j < probs.n; j++) {
            fprintf(stderr, "problem: %s\n", probs.items[j]);
        }
        fails++;
    } else {
        const struct ef_val *rv = ef_val_obj_get(tc, "run_ms");
        uint64_t run_ms = rv ? (uint64_t)ef_val_num_get(rv) : 2000;
        if (virtual_clock) {
            loop__advance(&rt->loop, run_ms);
        } else {
            uv_timer_t deadline;
            uv_timer_init(&rt->loop.uv, &deadline);
            uv_timer_start(&deadline, on_deadline, run_ms, 0);
            if (!ef_val_bool_get(ef_val_obj_get(tc, "wait"))) {
                uv_unref((uv_handle_t *)&deadline);
            }
            uv_run(&rt->loop.uv, UV_RUN_DEFAULT);
            uv_close((uv_handle_t *)&deadline, NULL);
        }
        runtime__stop(rt);
        fails += compare(ef_val_obj_get(tc, "expect"), cap.lines,
                         ef_val_bool_get(ef_val_obj_get(tc, "unordered")));
    }
    const struct ef_val *want_log = ef_val_obj_get(tc, "expect_log");
    for (size_t i = 0; i < ef_val_arr_len(want_log); i++) {
        const char *w = ef_val_str_get(ef_val_arr_at(want_log, i));
        bool found = false;
        for (size_t j = 0; j < ef_val_arr_len(cap.log) && !found; j++) {
            found = strstr(ef_val_str_get(ef_val_arr_at(cap.log, j)), w) != NULL;
        }
        if (!found) {
            fprintf(stderr, "no log line mentions: %s\n", w);
            fails++;
        }
    }
    if (fails) {
        fprintf(stderr, "%s: FAILED (%d)\n", argv[1], fails);
        for (size_t i = 0; i < ef_val_arr_len(cap.lines); i++) {
            print_val("debug:", ef_val_arr_at(cap.lines, i));
        }
    }
    log__set_sink(NULL, NULL);
    problems__free(&probs);
    runtime__destroy(rt);
    free(rt);
    registry__cleanup();
    ef_val_unref(cap.lines);
    ef_val_unref(cap.log);
    ef_val_unref(tc);
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot remove %s\n", tmpdir);
    }
    return fails ? 1 : 0;
}
