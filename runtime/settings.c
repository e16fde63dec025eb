/*
 * settings.c - reading the settings file and applying defaults.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <edgeflow/log.h>

#include "settings.h"
#include "storage.h"

#define SETTINGS_MAX (4u << 20)

static char *dup_str(const struct ef_val *v, const char *def)
{
    return strdup(ef_val_type(v) == EF_STR ? ef_val_str_get(v) : def);
}

struct ef_settings *settings__load(const char *path, char *err, size_t errlen)
{
    struct ef_settings *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (path) {
        size_t len;
        char *text = storage__read_file(path, SETTINGS_MAX, &len);
        if (!text) {
            snprintf(err, errlen, "settings file %s: %s", path, strerror(errno));
            free(s);
            return NULL;
        }
        char perr[200];
        s->root = ef_json_parse(text, len, perr, sizeof(perr));
        free(text);
        if (!s->root || ef_val_type(s->root) != EF_OBJ) {
            snprintf(err, errlen, "settings file %s: %s", path,
                     s->root ? "must be a JSON object" : perr);
            ef_val_unref(s->root);
            free(s);
            return NULL;
        }
    } else {
        s->root = ef_val_obj();
    }
    const struct ef_val *port = ef_val_obj_get(s->root, "uiPort");
    s->ui_port = ef_val_type(port) == EF_NUM ? (int)ef_val_num_get(port) : 1880;
    if (s->ui_port < 0 || s->ui_port > 65535) {
        snprintf(err, errlen, "settings file %s: uiPort %d is not a valid port", path, s->ui_port);
        settings__free(s);
        return NULL;
    }
    s->ui_host = dup_str(ef_val_obj_get(s->root, "uiHost"), "127.0.0.1");
    s->user_dir = dup_str(ef_val_obj_get(s->root, "userDir"), "");
    s->flow_file = dup_str(ef_val_obj_get(s->root, "flowFile"), "");
    const struct ef_val *fl = ef_val_obj_get(ef_val_obj_get(s->root, "contextStorage"), "file");
    const struct ef_val *fi = ef_val_obj_get(ef_val_obj_get(fl, "config"), "flushInterval");
    s->context_flush_ms = ef_val_type(fi) == EF_NUM ? ef_val_num_get(fi) * 1000 : 30000;
    const struct ef_val *mq = ef_val_obj_get(s->root, "maxQueuedMessages");
    s->max_queue = ef_val_type(mq) == EF_NUM && ef_val_num_get(mq) >= 16
                       ? (size_t)ef_val_num_get(mq)
                       : 1000000;
    return s;
}

const struct ef_val *settings__get(const struct ef_settings *s, const char *key)
{
    return ef_val_obj_get(s->root, key);
}

void settings__free(struct ef_settings *s)
{
    if (!s) {
        return;
    }
    ef_val_unref(s->root);
    free(s->ui_host);
    free(s->user_dir);
    free(s->flow_file);
    if (s->system_key) {
        explicit_bzero(s->system_key, strlen(s->system_key));
        free(s->system_key);
    }
    free(s);
}

const char *settings__credential_kind(const struct ef_settings *s)
{
    const struct ef_val *v = ef_val_obj_get(s->root, "credentialSecret");
    if (ef_val_type(v) == EF_STR && ef_val_str_len(v) > 0) {
        return "user";
    }
    return ef_val_type(v) == EF_BOOL && !ef_val_bool_get(v) ? "disabled" : "system";
}

const char *settings__credential_key(struct ef_settings *s, bool create, char *err, size_t errlen)
{
    const struct ef_val *v = ef_val_obj_get(s->root, "credentialSecret");
    const char *kind = settings__credential_kind(s);
    if (!strcmp(kind, "user")) {
        return ef_val_str_get(v);
    }
    if (!strcmp(kind, "disabled") || s->system_key) {
        return s->system_key;
    }
    char path[4200];
    snprintf(path, sizeof(path), "%.4096s/.config.runtime.json", *s->user_dir ? s->user_dir : ".");
    size_t len = 0;
    char *text = storage__read_file(path, 1u << 20, &len);
    struct ef_val *rt = text ? ef_json_parse(text, len, NULL, 0) : NULL;
    free(text);
    if (text && ef_val_type(rt) != EF_OBJ) {
        snprintf(err, errlen, "%s is not a JSON object", path);
        ef_val_unref(rt);
        return NULL;
    }
    const struct ef_val *k = ef_val_obj_get(rt, "_credentialSecret");
    if (ef_val_type(k) == EF_STR && ef_val_str_len(k) > 0) {
        s->system_key = strdup(ef_val_str_get(k));
        ef_val_unref(rt);
        return s->system_key;
    }
    if (!create) {
        snprintf(err, errlen, "no credentialSecret in the settings and no _credentialSecret in %s",
                 path);
        ef_val_unref(rt);
        return NULL;
    }
    unsigned char rnd[32];
    char hex[65];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        snprintf(err, errlen, "getrandom: %s", strerror(errno));
        ef_val_unref(rt);
        return NULL;
    }
    for (size_t i = 0; i < sizeof(rnd); i++) {
        snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
    }
    explicit_bzero(rnd, sizeof(rnd));
    if (!rt) {
        rt = ef_val_obj();
    }
    ef_val_obj_set_take(rt, "_credentialSecret", ef_val_str(hex));
    char *out = rt ? ef_json_print(rt, EF_JSON_PRETTY, &len) : NULL;
    ef_val_unref(rt);
    int rc = out ? storage__write_atomic(path, out, len, 0) : -1;
    if (out) {
        explicit_bzero(out, len);
        free(out);
    }
    if (rc != 0 || chmod(path, 0600) != 0) {
        snprintf(err, errlen, "cannot write %s", path);
        explicit_bzero(hex, sizeof(hex));
        return NULL;
    }
    s->system_key = strdup(hex);
    explicit_bzero(hex, sizeof(hex));
    ef_log_info("credentials: generated a key in %s (set credentialSecret to choose one)", path);
    return s->system_key;
}
