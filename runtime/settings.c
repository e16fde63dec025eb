/*
 * settings.c - reading the settings file and applying defaults.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    free(s);
}
