/*
 * server.h - edgeflow's HTTP and websocket server (libwebsockets on the
 * runtime's libuv loop): the Node-RED editor's static files, the admin API
 * (admin.c) and the /comms websocket (comms.c). See docs/editor.md.
 *
 * The first part is what `edgeflow run` calls; the rest is shared by
 * server.c, admin.c and comms.c only.
 */
#ifndef EF_SERVER_H
#define EF_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime.h"

struct ef_server;
struct srv_conn;
struct ef_val;

/*
 * Hooks for a program that serves more than the editor (the fleet manager,
 * fleet/manager): all optional; `edgeflow run` sets none.
 */
struct ef_server_hooks {
    /*
     * First look at every complete HTTP request, before adminAuth (the hook
     * does its own authorisation): returns true when it took the request.
     * It answers with srv_reply*() at once, or later after setting
     * c->deferred (then `closed` is called if the client goes first).
     */
    bool (*route)(void *ud, struct srv_conn *c);
    /* A deferred request's connection closed before it was answered: forget c. */
    void (*closed)(void *ud, struct srv_conn *c);
    /*
     * Authoring: when set, POST /flows does not deploy; it hands the
     * editor's flows (an array, with each node's `credentials` as the editor
     * sent them, borrowed) to save_flows with the user's name ("-" without
     * adminAuth). Returns 0, or non-zero with the reason in err (the
     * editor gets a 400 with it).
     */
    int (*save_flows)(void *ud, const struct ef_val *flows, const char *user, char *err,
                      size_t errlen);
    /* Authoring: the flows GET /flows shows (new reference to an array, or NULL for none). */
    struct ef_val *(*load_flows)(void *ud);
    void *ud;
};

/* What the server needs to know besides the runtime. Strings are copied. */
struct ef_server_opts {
    const char *host;       /* bind address; NULL or "" = 127.0.0.1 */
    int port;               /* > 0; `edgeflow run` treats port 0 as "no server" */
    const char *flows_path; /* where deploys are written (credentials beside it) */
    const char *editor_dir; /* @node-red/editor-client; NULL = built-in default */
    const char *nodes_dir;  /* @node-red/nodes; NULL = built-in default */
    const char *defs_dir;   /* edgeflow's own node definitions (editor/nodes); NULL = default */
    const struct ef_server_hooks *hooks; /* NULL for none; copied */
    /*
     * Editor plugins: every *.html in it is served at GET /plugins (the
     * manager's Fleet tab). "" = the built-in default (editor/plugins of the
     * source tree the executable was built in); NULL = none (`edgeflow run`).
     */
    const char *plugins_dir;
};

/*
 * Starts the server on rt's loop and hooks it to the runtime (debug, status
 * and deploy events). Call after runtime__init. Returns the server (owned by
 * the caller, freed by server__stop), or NULL with the reason in err.
 */
struct ef_server *server__start(struct ef_runtime *rt, const struct ef_server_opts *o, char *err,
                                size_t errlen);
/* The port the server listens on. */
int server__port(const struct ef_server *s);
/*
 * Closes every connection, destroys the lws context and runs the loop until
 * its handles are closed, then frees s (NULL-safe). Call after runtime__run
 * returned and before runtime__destroy.
 */
void server__stop(struct ef_server *s);

/*
 * Merges the credentials file that belongs to flows_path (flows_cred.json
 * beside flows.json, as Node-RED names it) into a flows value as each node's
 * `credentials` member, decrypting it as Node-RED does (credentialSecret,
 * or the generated key of settings__credential_key). Returns a new
 * reference (flows itself, referenced, when there is no credentials file),
 * or NULL with the reason in err.
 */
struct ef_val *server__load_credentials(struct ef_val *flows, const char *flows_path,
                                        struct ef_settings *s, char *err, size_t errlen);

/*
 * Node-RED's credentials file scheme, for the fleet manager's snapshots:
 * the text of a flows_cred.json holding creds (object: node id -> that
 * node's credentials) encrypted with secret (malloc'ed, *len its length),
 * or NULL on failure.
 */
char *server__encrypt_credentials(const char *secret, const struct ef_val *creds, size_t *len);
/*
 * The credentials object of a flows_cred.json text, decrypted with secret
 * (or as it is when it is in clear): a new reference, or NULL when it is not
 * valid or the secret is wrong.
 */
struct ef_val *server__decrypt_credentials(const char *secret, const char *text, size_t len);

/* ---- Internal: shared by server.c, admin.c and comms.c ---- */

#include <libwebsockets.h>
#include <uv.h>

#define SRV_BODY_MAX (5u << 20)   /* Node-RED's apiMaxLength default: 5mb */
#define SRV_WS_IN_MAX (64u << 10) /* largest /comms message we accept */

enum srv_method {
    SRV_GET,
    SRV_POST,
    SRV_PUT,
    SRV_DELETE,
    SRV_PATCH,
    SRV_HEAD,
    SRV_OPTIONS,
    SRV_OTHER
};

struct comms_client;

/*
 * A request handed to server__handle_request() without a socket (the admin
 * API fuzz target): what libwebsockets would otherwise parse.
 */
struct srv_req {
    const char *query;   /* after the '?' of the URI ("a=1&b=2"), or NULL */
    const char *headers; /* "Name: value" lines separated by '\n', or NULL */
    const char *peer;    /* the client's address, or NULL */
};

/* Per-connection state of lws (one struct for HTTP requests and websockets). */
struct srv_conn {
    struct ef_server *srv;
    struct lws *wsi;           /* NULL for a request without a socket (req) */
    const struct srv_req *req; /* with wsi NULL: the query, headers and peer */
    /* request */
    enum srv_method method;
    char path[1024]; /* URI path, without the query */
    char *body;
    size_t body_len, body_cap;
    bool body_too_big;
    /* response */
    int status;
    const char *ctype; /* static string */
    char *resp;
    size_t resp_len, resp_off;
    char location[512]; /* for redirects */
    bool headers_sent, close_after, responding;
    bool deferred; /* a server hook answers later (struct ef_server_hooks.route) */
    /* websocket */
    struct comms_client *client;
    /* who sent the request or opened the websocket (auth.c); NULL without adminAuth */
    const struct auth_user *user;
    void *ws_peer; /* a websocket-listener connection (ws_routes.c) */
    /* a request of an http in node (http_routes.c), or NULL */
    struct http_req *http;
};

struct srv_nodeset; /* a node definition set (admin.c) */
struct auth_user;   /* auth.c */
struct ef_auth;     /* auth.c: adminAuth users, sessions, login attempts */

struct ef_server {
    struct ef_runtime *rt;
    struct lws_context *ctx;
    struct lws_vhost *vhost;
    char host[64];
    int port;
    size_t body_max; /* apiMaxLength: largest request body read */
    char *flows_path, *cred_path;
    char *editor_dir, *nodes_dir, *defs_dir;
    char *plugins_dir; /* NULL: GET /plugins lists none */
    /* deployed configuration, as the editor sees it (credentials stripped) */
    struct ef_val *flows; /* array */
    char rev[65];
    bool started;   /* flows state */
    bool deploying; /* a deploy from the admin API is under way */
    /* node definitions (admin.c) */
    struct srv_nodeset *sets;
    size_t nsets;
    bool sets_loaded; /* read on the first admin request */
    char *nodes_html_lang;
    char *nodes_html;
    size_t nodes_html_len;
    char *index_html;
    size_t index_html_len;
    struct ef_val *user_settings; /* GET/POST /settings/user, kept in memory */
    struct ef_auth *auth;         /* adminAuth (auth.c); NULL when the settings have none */
    struct ef_server_hooks hooks; /* all NULL for `edgeflow run` */
    bool tls;                     /* settings.https: the port speaks TLS only (tls.c) */
    /* comms (comms.c) */
    struct comms_client *clients;
    struct ef_val *retained; /* topic -> data */
    uv_timer_t hb_timer;
    double last_sent;
    uint64_t dropped;        /* debug messages dropped for slow clients (also in /diagnostics) */
    uint64_t dropped_logged; /* ... as of the last warning (at most one per heartbeat, 15 s) */
    bool stopping;
};

/* server.c: replying to an HTTP request. Each takes what it is given. */
void srv_reply(struct srv_conn *c, int status, const char *ctype, char *body, size_t len);
void srv_reply_json(struct srv_conn *c, int status, struct ef_val *v);
/* Express's res.sendStatus(): the reason phrase as text/plain. */
void srv_reply_status(struct srv_conn *c, int status);
/* Node-RED's error body {"code","message"} with an HTTP status. */
void srv_reply_error(struct srv_conn *c, int status, const char *code, const char *message);
/* Serves a file (GET); 404 when it does not exist. */
void srv_reply_file(struct srv_conn *c, const char *path);
/*
 * Percent-decodes s[0..len) ('+' as a space when plus) into a new string
 * the caller frees, with its length in *outlen (may be NULL). NULL when
 * out of memory, or on a malformed escape when strict (else it is kept).
 */
char *srv_pct_decode(const char *s, size_t len, bool plus, bool strict, size_t *outlen);
/* A query argument (URL-decoded) into buf; false when absent. */
bool srv_query(struct srv_conn *c, const char *name, char *buf, size_t len);
/* A request header by lower-case name with colon ("accept:"); false when absent. */
bool srv_header(struct srv_conn *c, const char *name, char *buf, size_t len);
/* The client's address into buf ("?" when unknown). */
void srv_peer(struct srv_conn *c, char *buf, size_t len);
/*
 * Answers a complete request without a socket: c->srv, method, path, body
 * and req set by the caller, wsi NULL. http in routes need a socket and are
 * not dispatched; everything else goes where the lws callbacks send it.
 * The reply is left in c->status, c->ctype and c->resp (resp_len bytes,
 * for the caller to free); a file is read into resp.
 */
void server__handle_request(struct srv_conn *c);
/* Reads a whole file into a malloc'ed buffer (NULL when missing). */
char *srv_read_file(const char *path, size_t *len);

/* admin.c */
/* Routes a complete request (body read); always replies. */
void admin__handle(struct srv_conn *c);
/* Builds node definition sets and other caches; 0 or EF_E* with err. */
int admin__init(struct ef_server *s, char *err, size_t errlen);
void admin__free(struct ef_server *s);
/* The running flows changed: refresh the stripped copy and rev. */
void admin__on_deployed(struct ef_server *s);

/* comms.c */
int comms__init(struct ef_server *s);
void comms__close(struct ef_server *s);
/* Publishes {topic, data} to every client; adopts data; retained keeps the last one. */
void comms__publish(struct ef_server *s, const char *topic, struct ef_val *data, bool retain);
/* lws callbacks for a /comms connection. Return non-zero to close. */
int comms__open(struct srv_conn *c);
int comms__receive(struct srv_conn *c, const void *in, size_t len, bool final, bool binary);
int comms__writeable(struct srv_conn *c);
void comms__closed(struct srv_conn *c);
/* adminAuth: clients whose session ended (revoked, expired) get {"auth":"fail"} and are closed. */
void comms__check_sessions(struct ef_server *s);
/* Hooks from the runtime. */
void comms__on_debug(struct ef_server *s, const struct ef_debug_event *ev);
void comms__on_status(struct ef_server *s, struct ef_node *n, const struct ef_val *status);
/*
 * RED.util.encodeObject for one value: sets "msg" and "format" on obj
 * (unshared) the way the debug sidebar and context browser expect, with
 * strings, arrays and buffers cut at max_len. v NULL is undefined.
 */
int comms__encode(struct ef_val *obj, const struct ef_val *v, size_t max_len);

#endif
