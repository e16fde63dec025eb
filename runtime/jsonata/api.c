/*
 * api.c - the public JSONata API: compiling, evaluating with bindings,
 * natives and limits, error reporting in jsonata-js's words, and freeing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_getattr_np */
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "internal.h"

#define DEFAULT_MAX_DEPTH 2000

static void free_tree(struct ef_jsonata *e)
{
    for (struct jsonata__node *n = e->all; n; n = n->next_all) {
        ef_val_unref(n->lit);
        if (n->re) {
            pcre2_code_free(n->re);
        }
    }
    e->all = NULL;
    jsonata__pool_free(&e->pool);
}

/* Compiles expr; NULL with *err filled in on a syntax error. */
struct ef_jsonata *ef_jsonata_compile_ex(const char *expr, struct ef_jsonata_error *err)
{
    struct jsonata__errinfo info;
    memset(&info, 0, sizeof(info));
    struct ef_jsonata *e = calloc(1, sizeof(*e));
    if (!e || !(e->src = strdup(expr ? expr : ""))) {
        free(e);
        if (err) {
            memset(err, 0, sizeof(*err));
            snprintf(err->code, sizeof(err->code), "D1001");
            snprintf(err->message, sizeof(err->message), "out of memory");
        }
        return NULL;
    }
    if (jsonata__parse(e, &info) < 0) {
        if (err) {
            jsonata__error_export(&info, err);
        }
        ef_jsonata_free(e);
        return NULL;
    }
    return e;
}

/* Compiles expr; NULL with "CODE: message (position N)" in err on error. */
struct ef_jsonata *ef_jsonata_compile(const char *expr, char *err, size_t errlen)
{
    struct ef_jsonata_error e;
    struct ef_jsonata *j = ef_jsonata_compile_ex(expr, &e);
    if (!j && err && errlen) {
        snprintf(err, errlen, "%s: %s (position %d)", e.code, e.message, e.position);
    }
    return j;
}

const char *ef_jsonata_source(const struct ef_jsonata *e)
{
    return e ? e->src : NULL;
}

/* Frees a compiled expression (NULL-safe). */
void ef_jsonata_free(struct ef_jsonata *e)
{
    if (!e) {
        return;
    }
    free_tree(e);
    free(e->src);
    free(e);
}

static void put(char **p, char *end, const char *s, size_t n)
{
    while (n-- && *p < end - 1) {
        *(*p)++ = *s++;
    }
    **p = 0;
}

/* Fills a public error from the internal one, building the message text. */
void jsonata__error_export(const struct jsonata__errinfo *in, struct ef_jsonata_error *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->code, sizeof(out->code), "%s", in->code);
    out->position = in->position;
    snprintf(out->token, sizeof(out->token), "%s", in->token);
    const char *tpl = NULL;
    for (const struct jsonata__msg *m = jsonata__messages; m->code; m++) {
        if (strcmp(m->code, in->code) == 0) {
            tpl = m->text;
            break;
        }
    }
    if (in->text[0] && (!tpl || strstr(tpl, "{{{message}}}"))) {
        snprintf(out->message, sizeof(out->message), "%s", in->text);
        return;
    }
    if (!tpl) {
        snprintf(out->message, sizeof(out->message), "%s", in->text[0] ? in->text : "Error");
        return;
    }
    char *p = out->message, *end = out->message + sizeof(out->message);
    while (*tpl) {
        if (tpl[0] == '{' && tpl[1] == '{') {
            bool triple = tpl[2] == '{';
            const char *name = tpl + (triple ? 3 : 2);
            const char *close = strstr(name, "}}");
            if (!close) {
                break;
            }
            size_t nl = (size_t)(close - name);
            char tmp[300];
            tmp[0] = 0;
            if (nl == 5 && memcmp(name, "token", 5) == 0) {
                snprintf(tmp, sizeof(tmp), (triple || in->token_raw) ? "%s" : "\"%s\"", in->token);
                if (!in->has_token && !in->token[0]) {
                    snprintf(tmp, sizeof(tmp), "%s", triple ? "undefined" : "undefined");
                }
            } else if (nl == 5 && memcmp(name, "value", 5) == 0) {
                snprintf(tmp, sizeof(tmp), "%s", in->value[0] ? in->value : "undefined");
            } else if ((nl == 6 && memcmp(name, "value2", 6) == 0) ||
                       (nl == 3 && memcmp(name, "exp", 3) == 0)) {
                snprintf(tmp, sizeof(tmp), "%s", in->value2[0] ? in->value2 : "undefined");
            } else if (nl == 5 && memcmp(name, "index", 5) == 0) {
                snprintf(tmp, sizeof(tmp), "%d", in->index);
            } else if (nl == 4 && memcmp(name, "type", 4) == 0) {
                snprintf(tmp, sizeof(tmp), triple ? "%s" : "\"%s\"", in->type);
            } else if (nl == 7 && memcmp(name, "message", 7) == 0) {
                snprintf(tmp, sizeof(tmp), "%s", in->text);
            } else {
                snprintf(tmp, sizeof(tmp), "%s", in->value[0] ? in->value : "undefined");
            }
            put(&p, end, tmp, strlen(tmp));
            tpl = close + (triple ? 3 : 2);
            continue;
        }
        put(&p, end, tpl, 1);
        tpl++;
    }
}

/* Formats err as "CODE: message" into buf (len bytes); returns buf. */
char *ef_jsonata_strerror(const struct ef_jsonata_error *err, char *buf, size_t len)
{
    if (len) {
        snprintf(buf, len, "%s: %s", err->code, err->message);
    }
    return buf;
}

static void ctx_cleanup(struct jsonata__ctx *c)
{
    /* detach function values that outlive the evaluation */
    struct jsonata__fn *f = c->fns;
    while (f) {
        struct jsonata__fn *next = f->next;
        f->ctx = NULL;
        f->env = NULL;
        f->node = NULL; /* the AST may be freed before the value */
        f->prev = f->next = NULL;
        f = next;
    }
    /* pin every frame, drop their bindings (breaking cycles), then free */
    for (struct jsonata__env *e = c->envs; e; e = e->next_all) {
        e->refs++;
    }
    for (struct jsonata__env *e = c->envs; e; e = e->next_all) {
        for (int i = 0; i < e->n; i++) {
            jv_drop(&e->b[i].val);
        }
    }
    c->fns = NULL;
    struct jsonata__env *e = c->envs;
    while (e) {
        struct jsonata__env *next = e->next_all;
        for (int i = 0; i < e->n; i++) {
            if (e->b[i].own) {
                free((char *)e->b[i].name);
            }
        }
        if (e->b != e->inl) {
            free(e->b);
        }
        if (!e->on_stack) {
            free(e);
        }
        e = next;
    }
    c->envs = NULL;
    if (c->md) {
        pcre2_match_data_free(c->md);
    }
    for (int i = 0; i < c->nevals; i++) {
        ef_jsonata_free(c->evals[i]);
    }
    free(c->evals);
}

/* The lowest address this thread's stack may use, less a safety margin.
 * Looked up once per thread (a thread-local cache, not shared state). */
static uintptr_t stack_floor(void)
{
    static __thread uintptr_t floor_addr;
    static __thread bool known;
    if (!known) {
        known = true;
        pthread_attr_t attr;
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            void *addr;
            size_t size;
            if (pthread_attr_getstack(&attr, &addr, &size) == 0 && size > 256 * 1024) {
                /* keep 128 KiB for the C code below the deepest evaluation */
                floor_addr = (uintptr_t)addr + 128 * 1024;
            }
            pthread_attr_destroy(&attr);
        }
    }
    return floor_addr;
}

int64_t jsonata__now_ms(struct jsonata__ctx *c)
{
    if (c->now_ms == 0) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        c->now_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    }
    return c->now_ms;
}

/* Evaluates e against input; 0 with *out (NULL = undefined) or -1 with *err. */
int ef_jsonata_eval(const struct ef_jsonata *e, struct ef_val *input,
                    const struct ef_jsonata_opts *opts, struct ef_val **out,
                    struct ef_jsonata_error *err)
{
    struct jsonata__ctx c;
    memset(&c, 0, sizeof(c));
    *out = NULL;
    c.expr = e;
    c.opts = opts;
    c.max_depth = opts && opts->max_depth ? opts->max_depth : DEFAULT_MAX_DEPTH;
    c.err.position = -1;
    if (opts && opts->timeout_ms) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        c.deadline_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec +
                        (uint64_t)opts->timeout_ms * 1000000ull;
    }
    c.input = input && ef_val_type(input) == EF_ARR ? input : NULL;
    c.stack_limit = stack_floor();
    int rc = 0;
    struct jsonata__env root_frame;
    struct jsonata__env *root = &root_frame;
    jsonata__env_init(&c, root);
    {
        struct jv self = {ef_val_ref(input), 0};
        jsonata__env_bind(root, "$", 1, self);
        if (opts && opts->bindings && ef_val_type(opts->bindings) == EF_OBJ) {
            size_t n = ef_val_obj_len(opts->bindings);
            for (size_t i = 0; i < n; i++) {
                size_t kl;
                const char *k = ef_val_obj_key_at(opts->bindings, i, &kl);
                struct jv v = {ef_val_ref(ef_val_obj_val_at(opts->bindings, i)), 0};
                jsonata__env_bind(root, k, kl, v);
            }
        }
        struct jv r;
        rc = jsonata__eval(&c, e->root, input, root, &r);
        if (rc == 0) {
            *out = jsonata__seq_finish(&r);
        }
    }
    jsonata__env_unref(root);
    if (rc < 0 && err) {
        jsonata__error_export(&c.err, err);
    }
    ctx_cleanup(&c);
    return rc < 0 ? -1 : 0;
}
