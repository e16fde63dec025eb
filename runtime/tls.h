/*
 * tls.h - TLS for the editor/admin port (and so for http in and websocket
 * listeners, which share it), from settings.https as in Node-RED:
 *
 *   "https": {"key": "<PEM or file path>", "cert": "<PEM or file path>"}
 *   "https": {"keyFile": "path", "certFile": "path"}
 *
 * OpenSSL through libwebsockets; SSLv3, TLS 1.0 and 1.1 are refused.
 * Internal to the editor server.
 */
#ifndef EF_TLS_H
#define EF_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <libwebsockets.h>

struct ef_settings;

/*
 * Fills the TLS members of info (used for the context and the vhost) from
 * settings.https. Strings point into st, which must outlive the vhost's
 * creation. Returns 1 when TLS is on, 0 when settings have no https, or -1
 * with the reason in err (a missing member or unreadable file).
 */
int tls__configure(const struct ef_settings *st, struct lws_context_creation_info *info, char *err,
                   size_t errlen);

#endif
