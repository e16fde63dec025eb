/*
 * webhook.c - the alert node's optional webhook: every alert event's payload
 * is POSTed as JSON to the configured URL with the SDK's HTTP client
 * (edgeflow/http.h). Posts go one at a time per node, in event order, from a
 * bounded queue; a failure (no response, or a status other than 2xx) is
 * logged as a warning and counted in the node's status. No retries: for
 * delivery that survives outages, send the alert messages through
 * route-to-cloud instead.
 */
#include <stdlib.h>
#include <string.h>

#include "alert.h"

#define WEBHOOK_QUEUE_MAX 1000
#define WEBHOOK_TIMEOUT_MS 10000

int alert__webhook_init(struct ef_node *n, struct alert *a)
{
    if (!*a->webhook) {
        return 0;
    }
    if (strncmp(a->webhook, "http://", 7) != 0 && strncmp(a->webhook, "https://", 8) != 0) {
        ef_node_error(n, NULL, "webhook: must be an http:// or https:// URL, not '%s'", a->webhook);
        return EF_EINVAL;
    }
    return 0;
}

static void send_next(struct ef_node *n, struct alert *a);

static void on_posted(struct ef_node *n, const struct ef_http_res *res, void *arg)
{
    struct alert *a = ef_node_priv(n);
    (void)arg;
    a->wh_call = NULL;
    if (res->error || res->status < 200 || res->status > 299) {
        a->wh_failed++;
        if (res->error) {
            ef_node_warn(n, "alert: webhook POST to %s failed: %s", a->webhook, res->error);
        } else {
            ef_node_warn(n, "alert: webhook POST to %s failed: HTTP %d", a->webhook, res->status);
        }
        alert__show_status(n, a);
    }
    send_next(n, a);
}

/* Starts the oldest queued post unless one is running. */
static void send_next(struct ef_node *n, struct alert *a)
{
    while (!a->wh_call && a->wh_len) {
        char *body = a->wh_queue[a->wh_head];
        a->wh_head = (a->wh_head + 1) % WEBHOOK_QUEUE_MAX;
        a->wh_len--;
        const struct ef_http_header headers[] = {{"Content-Type", "application/json"}};
        const struct ef_http_req req = {
            .method = "POST",
            .url = a->webhook,
            .headers = headers,
            .nheaders = 1,
            .body = body,
            .body_len = strlen(body),
            .timeout_ms = WEBHOOK_TIMEOUT_MS,
            .max_response = 65536,
        };
        a->wh_call = ef_http_request(n, &req, on_posted, NULL);
        free(body); /* the request copied it */
        if (!a->wh_call) {
            a->wh_failed++; /* the client logged why */
        }
    }
}

void alert__webhook_post(struct ef_node *n, struct alert *a, const struct ef_val *payload)
{
    if (!*a->webhook) {
        return;
    }
    if (!a->wh_queue && !(a->wh_queue = calloc(WEBHOOK_QUEUE_MAX, sizeof(*a->wh_queue)))) {
        a->wh_failed++;
        return;
    }
    char *body = ef_json_print(payload, 0, NULL);
    if (!body || a->wh_len == WEBHOOK_QUEUE_MAX) {
        free(body);
        a->wh_failed++;
        ef_node_warn(n, "alert: webhook queue full (%d posts waiting): event dropped",
                     WEBHOOK_QUEUE_MAX);
        return;
    }
    a->wh_queue[(a->wh_head + a->wh_len) % WEBHOOK_QUEUE_MAX] = body;
    a->wh_len++;
    send_next(n, a);
}

void alert__webhook_close(struct ef_node *n, struct alert *a)
{
    (void)n;
    /* A running call is cancelled by the runtime when the node closes; its callback never runs. */
    a->wh_call = NULL;
    while (a->wh_len) {
        free(a->wh_queue[a->wh_head]);
        a->wh_head = (a->wh_head + 1) % WEBHOOK_QUEUE_MAX;
        a->wh_len--;
    }
    free(a->wh_queue);
    a->wh_queue = NULL;
}
