/*
 * settings.h - the settings file: JSON with Node-RED's settings.js keys
 * where they apply (uiPort, uiHost, flowFile, userDir, credentialSecret,
 * contextStorage, functionTimeout, ...). Command-line options override it.
 */
#ifndef EF_SETTINGS_H
#define EF_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include <edgeflow/val.h>

struct ef_settings {
    struct ef_val *root; /* the whole settings object (owned) */
    char *user_dir;
    char *flow_file;
    char *ui_host;
    int ui_port;
    double context_flush_ms;
    size_t max_queue;
    char *system_key; /* Node-RED's generated credential key, once read or made (owned) */
};

/*
 * Loads settings from `path` (NULL for defaults only). Returns a new
 * settings object, or NULL with the reason (file and position) in err.
 */
struct ef_settings *settings__load(const char *path, char *err, size_t errlen);
void settings__free(struct ef_settings *s);
/* A top-level key (borrowed), or NULL. */
const struct ef_val *settings__get(const struct ef_settings *s, const char *key);

/*
 * The key flows_cred.json is encrypted with, chosen as Node-RED does:
 * credentialSecret when it is a non-empty string; NULL (no encryption) when
 * it is false; otherwise Node-RED's generated key, `_credentialSecret` in
 * <userDir>/.config.runtime.json ("." when userDir is empty), which is
 * made (32 random bytes as hex) and saved there (mode 0600) when `create`
 * and the file has none. Returns a string owned by s, or NULL: no
 * encryption, or (with the reason in err) no key could be read or made.
 */
const char *settings__credential_key(struct ef_settings *s, bool create, char *err, size_t errlen);
/* "user", "system" or "disabled": which key settings__credential_key uses (GET /settings). */
const char *settings__credential_kind(const struct ef_settings *s);

#endif
