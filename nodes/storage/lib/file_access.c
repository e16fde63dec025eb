/*
 * file_access.c - fileWorkingDirectory and fileAllowedDirectories (see
 * file_access.h).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "settings.h"
#include "strbuf.h"
#include "file_access.h"

/* Appends the components of `rest` to the absolute path in b, resolving "." and ".." lexically. */
static void push_components(struct strbuf *b, const char *rest)
{
    const char *s = rest;
    while (*s) {
        while (*s == '/') {
            s++;
        }
        const char *e = s;
        while (*e && *e != '/') {
            e++;
        }
        size_t len = (size_t)(e - s);
        if (len == 0 || (len == 1 && s[0] == '.')) {
            /* nothing */
        } else if (len == 2 && s[0] == '.' && s[1] == '.') {
            while (b->n > 1 && b->p[b->n - 1] != '/') {
                b->n--;
            }
            if (b->n > 1) {
                b->n--; /* the slash */
            }
            b->p[b->n] = 0;
        } else {
            if (b->n == 0 || b->p[b->n - 1] != '/') {
                strbuf__add(b, "/", 1);
            }
            strbuf__add(b, s, len);
        }
        s = e;
    }
}

/* The absolute, resolved form of path (see file_access.h); malloc'ed, NULL on OOM. */
static char *canonical(const char *path)
{
    struct strbuf abs = {0};
    if (path[0] != '/') {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd))) {
            return NULL;
        }
        strbuf__adds(&abs, cwd);
        strbuf__adds(&abs, "/");
    }
    strbuf__adds(&abs, path);
    char *a = strbuf__take(&abs, NULL);
    if (!a) {
        return NULL;
    }
    /* the longest prefix (at a slash) that exists */
    size_t cut = strlen(a);
    char real[PATH_MAX];
    for (;;) {
        char saved = a[cut];
        a[cut] = 0;
        bool ok = realpath(cut ? a : "/", real) != NULL;
        a[cut] = saved;
        if (ok || cut == 0) {
            if (!ok) {
                strcpy(real, "/");
            }
            break;
        }
        while (cut > 0 && a[cut - 1] != '/') {
            cut--;
        }
        while (cut > 0 && a[cut - 1] == '/') {
            cut--;
        }
    }
    struct strbuf out = {0};
    strbuf__adds(&out, real);
    if (out.p) {
        push_components(&out, a + cut);
    }
    free(a);
    return strbuf__take(&out, NULL);
}

char *file_access__full_path(struct ef_node *n, const char *filename)
{
    const struct ef_val *wd = settings__get(n->fs->rt->settings, "fileWorkingDirectory");
    if (!filename[0] || filename[0] == '/' || !wd || ef_val_type(wd) != EF_STR ||
        !ef_val_str_get(wd)[0]) {
        return strdup(filename);
    }
    struct strbuf b = {0};
    const char *w = ef_val_str_get(wd);
    if (w[0] != '/') {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof(cwd))) {
            strbuf__adds(&b, cwd);
        }
    }
    struct strbuf p = {0};
    strbuf__adds(&p, "/");
    if (b.p) {
        strbuf__adds(&p, b.p);
    }
    free(b.p);
    char *base = strbuf__take(&p, NULL);
    if (!base) {
        return NULL;
    }
    struct strbuf out = {0};
    strbuf__adds(&out, "/");
    push_components(&out, base);
    push_components(&out, w);
    push_components(&out, filename);
    free(base);
    return strbuf__take(&out, NULL);
}

bool file_access__allowed(struct ef_node *n, const char *path, char *err, size_t errlen)
{
    const struct ef_val *list = settings__get(n->fs->rt->settings, "fileAllowedDirectories");
    if (!list || ef_val_type(list) == EF_NULL) {
        return true;
    }
    if (ef_val_type(list) != EF_ARR) {
        snprintf(err, errlen, "the setting fileAllowedDirectories must be a list of directories");
        return false;
    }
    char *real = canonical(path);
    if (!real) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    bool ok = false;
    for (size_t i = 0; i < ef_val_arr_len(list) && !ok; i++) {
        const struct ef_val *e = ef_val_arr_at(list, i);
        if (ef_val_type(e) != EF_STR || !ef_val_str_get(e)[0]) {
            continue;
        }
        char *dir = canonical(ef_val_str_get(e));
        if (!dir) {
            continue;
        }
        size_t dl = strlen(dir);
        ok = !strcmp(dir, "/") || (!strncmp(real, dir, dl) && (real[dl] == 0 || real[dl] == '/'));
        free(dir);
    }
    if (!ok) {
        snprintf(err, errlen, "access to %s refused: it is outside fileAllowedDirectories (%s)",
                 path, real);
    }
    free(real);
    return ok;
}
