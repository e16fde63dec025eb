/*
 * jsonata_suite.c - runs the official JSONata test suite against the C
 * evaluator. Usage: jsonata_suite SUITE_DIR [KNOWN_FAILURES] [-v] [GROUP...]
 * SUITE_DIR holds groups/<group>/caseNNN.json and datasets/. Prints passed/total
 * per group and overall; exits non-zero when a case fails that is not
 * listed in KNOWN_FAILURES (lines "group/caseNNN  reason").
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "edgeflow/val.h"
#include "jsonata/jsonata.h"

static int verbose;

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        if (len) {
            *len = (size_t)n;
        }
    }
    return buf;
}

static struct ef_val *load_json(const char *path)
{
    size_t len;
    char *text = read_file(path, &len);
    if (!text) {
        return NULL;
    }
    char err[200];
    struct ef_val *v = ef_json_parse(text, len, err, sizeof(err));
    if (!v) {
        fprintf(stderr, "%s: %s\n", path, err);
    }
    free(text);
    return v;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **list_dir(const char *path, size_t *n, int want_dirs)
{
    DIR *d = opendir(path);
    char **names = NULL;
    size_t cnt = 0, cap = 0;
    if (!d) {
        *n = 0;
        return NULL;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') {
            continue;
        }
        size_t l = strlen(e->d_name);
        if (!want_dirs && (l < 5 || strcmp(e->d_name + l - 5, ".json") != 0)) {
            continue;
        }
        if (cnt == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof(*names));
        }
        names[cnt++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, cnt, sizeof(*names), cmp_str);
    *n = cnt;
    return names;
}

/* Deep equality; numbers compare with a tiny relative tolerance. */
static int same(const struct ef_val *a, const struct ef_val *b, int unordered)
{
    if (!a || !b) {
        return a == b;
    }
    if (ef_val_type(a) == EF_NUM && ef_val_type(b) == EF_NUM) {
        double x = ef_val_num_get(a), y = ef_val_num_get(b);
        return x == y || fabs(x - y) <= 1e-13 * fmax(fabs(x), fabs(y));
    }
    if (ef_val_type(a) != ef_val_type(b)) {
        return 0;
    }
    if (ef_val_type(a) == EF_ARR) {
        size_t n = ef_val_arr_len(a);
        if (n != ef_val_arr_len(b)) {
            return 0;
        }
        if (unordered) {
            char *used = calloc(n + 1, 1);
            for (size_t i = 0; i < n; i++) {
                size_t j;
                for (j = 0; j < n; j++) {
                    if (!used[j] && same(ef_val_arr_at(a, i), ef_val_arr_at(b, j), 0)) {
                        used[j] = 1;
                        break;
                    }
                }
                if (j == n) {
                    free(used);
                    return 0;
                }
            }
            free(used);
            return 1;
        }
        for (size_t i = 0; i < n; i++) {
            if (!same(ef_val_arr_at(a, i), ef_val_arr_at(b, i), 0)) {
                return 0;
            }
        }
        return 1;
    }
    if (ef_val_type(a) == EF_OBJ) {
        size_t n = ef_val_obj_len(a);
        if (n != ef_val_obj_len(b)) {
            return 0;
        }
        for (size_t i = 0; i < n; i++) {
            size_t kl;
            const char *k = ef_val_obj_key_at(a, i, &kl);
            struct ef_val *bv = ef_val_obj_getn(b, k, kl);
            if (!bv || !same(ef_val_obj_val_at(a, i), bv, 0)) {
                return 0;
            }
        }
        return 1;
    }
    if (ef_val_type(a) == EF_HANDLE) {
        return 1;
    }
    return ef_val_equal(a, b);
}

struct known {
    char **names;
    size_t n;
};

static int is_known(const struct known *k, const char *name)
{
    for (size_t i = 0; i < k->n; i++) {
        if (strcmp(k->names[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

static void load_known(const char *path, struct known *k)
{
    k->names = NULL;
    k->n = 0;
    char *text = path ? read_file(path, NULL) : NULL;
    if (!text) {
        return;
    }
    size_t cap = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        while (*line == ' ' || *line == '\t') {
            line++;
        }
        if (!*line || *line == '#') {
            continue;
        }
        size_t l = strcspn(line, " \t");
        if (k->n == cap) {
            cap = cap ? cap * 2 : 32;
            k->names = realloc(k->names, cap * sizeof(char *));
        }
        k->names[k->n++] = strndup(line, l);
    }
    free(text);
}

static const char *suite_dir;

/* Runs one case; returns 1 on pass. */
static int run_case(const char *group, const char *name, const struct ef_val *tc)
{
    char path[1024];
    const struct ef_val *ev = ef_val_obj_get(tc, "expr");
    char *expr_text = NULL;
    if (!ev) {
        const struct ef_val *ef = ef_val_obj_get(tc, "expr-file");
        if (!ef) {
            return 0;
        }
        snprintf(path, sizeof(path), "%s/groups/%s/%s", suite_dir, group, ef_val_str_get(ef));
        expr_text = read_file(path, NULL);
        if (!expr_text) {
            fprintf(stderr, "FAIL %s/%s: missing expr-file %s\n", group, name, path);
            return 0;
        }
    } else {
        expr_text = strdup(ef_val_str_get(ev));
    }
    struct ef_val *input = NULL;
    const struct ef_val *data = ef_val_obj_get(tc, "data");
    const struct ef_val *dataset = ef_val_obj_get(tc, "dataset");
    if (data) {
        input = ef_val_ref((struct ef_val *)data);
    } else if (dataset && ef_val_type(dataset) == EF_STR) {
        snprintf(path, sizeof(path), "%s/datasets/%s.json", suite_dir, ef_val_str_get(dataset));
        input = load_json(path);
    }
    const struct ef_val *expected = ef_val_obj_get(tc, "result");
    const struct ef_val *undef = ef_val_obj_get(tc, "undefinedResult");
    const struct ef_val *code = ef_val_obj_get(tc, "code");
    const struct ef_val *errobj = ef_val_obj_get(tc, "error");
    if (!code && errobj) {
        code = ef_val_obj_get(errobj, "code");
    }
    int unordered = ef_val_bool_get(ef_val_obj_get(tc, "unordered"));
    struct ef_jsonata_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.bindings = ef_val_obj_get(tc, "bindings");
    const struct ef_val *tl = ef_val_obj_get(tc, "timelimit");
    const struct ef_val *depth = ef_val_obj_get(tc, "depth");
    if (tl) {
        opts.timeout_ms = (unsigned)ef_val_num_get(tl);
#if defined(__SANITIZE_ADDRESS__)
        opts.timeout_ms *= 5; /* sanitizer builds run several times slower */
#endif
    }
    if (depth) {
        /* the suite counts nested evaluations the way jsonata-js does */
        opts.max_depth = (unsigned)ef_val_num_get(depth);
    }
    int pass = 0;
    struct ef_jsonata_error err;
    memset(&err, 0, sizeof(err));
    struct ef_val *result = NULL;
    int failed_eval = 0;
    struct ef_jsonata *e = ef_jsonata_compile_ex(expr_text, &err);
    if (!e) {
        failed_eval = 1;
    } else if (ef_jsonata_eval(e, input, &opts, &result, &err) < 0) {
        failed_eval = 1;
    }
    if (code) {
        pass = failed_eval && strcmp(err.code, ef_val_str_get(code)) == 0;
    } else if (failed_eval) {
        pass = 0;
    } else if (undef && ef_val_bool_get(undef)) {
        pass = result == NULL;
    } else if (expected) {
        pass = same(result, expected, unordered);
    } else {
        pass = result == NULL;
    }
    if (!pass && verbose) {
        char *got = result ? ef_json_print(result, 0, NULL) : strdup("undefined");
        char *want = expected ? ef_json_print(expected, 0, NULL) : strdup("undefined");
        fprintf(stderr, "FAIL %s/%s: %s\n   want: %.300s%s%s\n   got:  %.300s%s%s\n", group, name,
                expr_text, code ? "error " : "", code ? ef_val_str_get(code) : want, "",
                failed_eval ? "error " : "", failed_eval ? err.code : got,
                failed_eval ? err.message : "");
        free(got);
        free(want);
    }
    ef_val_unref(result);
    ef_jsonata_free(e);
    ef_val_unref(input);
    free(expr_text);
    return pass;
}

int main(int argc, char **argv)
{
    const char *known_path = NULL;
    const char *only[64];
    int nonly = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) {
            verbose = 1;
        } else if (!suite_dir) {
            suite_dir = argv[i];
        } else if (!known_path) {
            known_path = argv[i];
        } else if (nonly < 64) {
            only[nonly++] = argv[i];
        }
    }
    if (!suite_dir) {
        fprintf(stderr, "usage: %s SUITE_DIR [KNOWN_FAILURES] [-v] [GROUP...]\n", argv[0]);
        return 2;
    }
    struct stat st;
    if (stat(suite_dir, &st) != 0) {
        /* ctest reports exit 77 as skipped (SKIP_RETURN_CODE): no suite, nothing to measure. */
        fprintf(stderr, "JSONata conformance suite not found at %s: skipped\n", suite_dir);
        return 77;
    }
    struct known known;
    load_known(known_path, &known);
    char gpath[1024];
    snprintf(gpath, sizeof(gpath), "%s/groups", suite_dir);
    size_t ng;
    char **groups = list_dir(gpath, &ng, 1);
    if (!groups) {
        fprintf(stderr, "cannot read %s\n", gpath);
        return 2;
    }
    int total = 0, passed = 0, unexpected = 0;
    for (size_t g = 0; g < ng; g++) {
        int wanted = nonly == 0;
        for (int k = 0; k < nonly; k++) {
            wanted |= strcmp(only[k], groups[g]) == 0;
        }
        if (!wanted) {
            free(groups[g]);
            continue;
        }
        char dpath[1100];
        snprintf(dpath, sizeof(dpath), "%s/%s", gpath, groups[g]);
        size_t nf;
        char **files = list_dir(dpath, &nf, 0);
        int gt = 0, gp = 0;
        for (size_t f = 0; f < nf; f++) {
            char fpath[1400];
            snprintf(fpath, sizeof(fpath), "%s/%s", dpath, files[f]);
            struct ef_val *doc = load_json(fpath);
            files[f][strlen(files[f]) - 5] = 0;
            if (!doc) {
                gt++;
                continue;
            }
            size_t ncase = ef_val_type(doc) == EF_ARR ? ef_val_arr_len(doc) : 1;
            for (size_t k = 0; k < ncase; k++) {
                const struct ef_val *tc = ef_val_type(doc) == EF_ARR ? ef_val_arr_at(doc, k) : doc;
                char name[300], full[700];
                if (ef_val_type(doc) == EF_ARR) {
                    snprintf(name, sizeof(name), "%s[%zu]", files[f], k);
                } else {
                    snprintf(name, sizeof(name), "%s", files[f]);
                }
                snprintf(full, sizeof(full), "%s/%s", groups[g], name);
                int ok = run_case(groups[g], name, tc);
                gt++;
                gp += ok;
                if (!ok && !is_known(&known, full)) {
                    unexpected++;
                    if (!verbose) {
                        fprintf(stderr, "unexpected failure: %s\n", full);
                    }
                }
            }
            ef_val_unref(doc);
            free(files[f]);
        }
        free(files);
        printf("%-36s %4d/%-4d\n", groups[g], gp, gt);
        total += gt;
        passed += gp;
        free(groups[g]);
    }
    free(groups);
    printf("%-36s %4d/%-4d (%.1f%%)\n", "TOTAL", passed, total,
           total ? 100.0 * passed / total : 0.0);
    for (size_t i = 0; i < known.n; i++) {
        free(known.names[i]);
    }
    free(known.names);
    if (unexpected) {
        printf("%d unexpected failure(s)\n", unexpected);
        return 1;
    }
    return 0;
}
