/*
 * settings.h - the settings file: JSON with Node-RED's settings.js keys
 * where they apply (uiPort, uiHost, flowFile, userDir, credentialSecret,
 * contextStorage, functionTimeout, ...). Command-line options override it.
 */
#ifndef EF_SETTINGS_H
#define EF_SETTINGS_H

#include <edgeflow/val.h>

struct ef_settings {
    struct ef_val *root; /* the whole settings object (owned) */
    char *user_dir;
    char *flow_file;
    char *ui_host;
    int ui_port;
    double context_flush_ms;
    size_t max_queue;
};

/*
 * Loads settings from `path` (NULL for defaults only). Returns a new
 * settings object, or NULL with the reason (file and position) in err.
 */
struct ef_settings *settings__load(const char *path, char *err, size_t errlen);
void settings__free(struct ef_settings *s);
/* A top-level key (borrowed), or NULL. */
const struct ef_val *settings__get(const struct ef_settings *s, const char *key);

#endif
