/*
 * auth.h - adminAuth for the editor and admin API, as Node-RED 4.1's
 * editor-api/lib/auth does it for `type: "credentials"`:
 *
 *   settings.adminAuth = {
 *     "type": "credentials",
 *     "users": [{"username": "admin", "password": "<bcrypt>", "permissions": "*"}],
 *     "default": {"permissions": "read"},      optional: anonymous access
 *     "sessionExpiryTime": 604800              seconds, Node-RED's default
 *   }
 *
 * GET /auth/login, POST /auth/token (OAuth2 password grant, client
 * node-red-editor or node-red-admin), POST /auth/revoke; access tokens are
 * 256 random bits from getrandom(), kept in memory with their expiry;
 * every admin route checks `Authorization: Bearer <token>` against the
 * permission Node-RED's route asks for (flows.read, flows.write, ...).
 * Login attempts are rate-limited and logged (see docs/security.md).
 *
 * Internal to the editor server (server.c, admin.c, comms.c).
 */
#ifndef EF_AUTH_H
#define EF_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include <edgeflow/val.h>

struct ef_server;
struct srv_conn;
struct ef_settings;
struct auth_user; /* a configured user, or the anonymous default user */

/*
 * Reads settings.adminAuth into s->auth (left NULL when there is none).
 * Returns 0, or -1 with the reason in err (unknown type, a user without a
 * bcrypt password, bad permissions, ...): edgeflow then refuses to start
 * rather than run an editor that is open by mistake.
 */
int auth__init(struct ef_server *s, const struct ef_settings *st, char *err, size_t errlen);
/* Frees s->auth (sessions, users, the attempt log). NULL-safe. */
void auth__free(struct ef_server *s);

/*
 * Called first for every admin HTTP request. Answers /auth/login,
 * /auth/token and /auth/revoke itself, and refuses (401, as Node-RED) a
 * request whose token does not grant the route's permission; returns true
 * when it has replied. Otherwise sets c->user (NULL without adminAuth)
 * and returns false: the caller handles the request.
 */
bool auth__handle(struct srv_conn *c);

/*
 * GET /settings' "user" member for the requester: {username, permissions}
 * or {anonymous: true, permissions}. New reference, or NULL without
 * adminAuth.
 */
struct ef_val *auth__user_value(const struct auth_user *u);
/* The user's name for logs ("anonymous" for the default user, "-" for NULL). */
const char *auth__user_name(const struct auth_user *u);

/*
 * /comms: the user a {"auth": token} message authenticates, or NULL (no
 * such session, expired, or without status.read).
 */
const struct auth_user *auth__comms_token(struct ef_server *s, const char *token);
/*
 * The fleet manager's REST API: the user an editor session token belongs
 * to when its scope grants `perm` ("flows.read", "flows.write"); with
 * token NULL, the anonymous default user when it has `perm`. NULL
 * otherwise, and always without adminAuth.
 */
const struct auth_user *auth__token_user(struct ef_server *s, const char *token, const char *perm);
/* /comms without a token: the default user when it may read status, else NULL. */
const struct auth_user *auth__comms_anonymous(struct ef_server *s);

#endif
