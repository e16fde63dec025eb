/*
 * route_to_cloud.c - the route-to-cloud node type (plugin route_to_cloud.so):
 * routes each message by policy (route.c) to its `local` output, an
 * on-premises destination or a cloud destination, each an HTTP(S) endpoint
 * (edgeflow/http.h) or an MQTT broker (edgeflow/mqtt.h), through a durable
 * store-and-forward queue per destination (queue.c).
 *
 * A message for a destination is appended to that destination's queue
 * before it counts as accepted (ef_node_done). Delivery reads the queue in
 * order, groups records into batches (count, bytes, time), compresses them
 * (gzip), paces them (a token bucket in bytes/s) and sends them; a batch
 * leaves the queue (rtcq_ack) only when acknowledged (a 2xx answer, a
 * PUBACK), strictly in order. Failures are retried after exponential backoff
 * with jitter; nothing is dropped except by the queue's explicit bounds.
 * docs/route-to-cloud.md describes the settings and guarantees.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include <edgeflow/edgeflow.h>
#include <edgeflow/http.h>
#include <edgeflow/mqtt.h>

#include "queue.h"
#include "rtc.h"

#define MQTT_WINDOW 16    /* batches in flight to a broker */
#define MAX_HEADERS 32    /* configured extra HTTP headers */
#define STATUS_MS 1000    /* status refresh and age expiry */
#define LATENCY_ALPHA 0.2 /* weight of a new sample in the latency average */

enum dest_kind { DEST_NONE, DEST_HTTP, DEST_MQTT };
enum link_state { LINK_UNKNOWN, LINK_ONLINE, LINK_OFFLINE };

/* A growable byte buffer. */
struct sbuf {
    uint8_t *p;
    size_t len, cap;
};

struct dest;

/* Records sent (or to be sent) as one request or publish. */
struct batch {
    struct batch *next;
    struct dest *d;
    uint64_t first_seq, last_seq;
    size_t count;
    uint8_t *body; /* what goes on the wire (compressed when gzip is on) */
    size_t len;
    char *key;   /* dedup key of a single-record batch; NULL in batch mode */
    char *topic; /* MQTT topic */
    bool sent, acked;
    uint64_t sent_at; /* ef_mono_ms() */
    struct ef_http_call *call;
};

struct dest {
    struct ef_node *n;
    struct rtc *r;
    const char *name; /* "cloud" or "onprem" */
    enum dest_kind kind;
    const char *url, *topic;
    struct ef_node *broker;
    bool attached;
    struct rtcq *q;
    /* the batch being assembled */
    struct sbuf build;
    size_t build_count;
    uint64_t build_first, build_last;
    double build_first_ts;
    char *build_key, *build_topic;
    /* sent and not yet acknowledged, in queue order */
    struct batch *head, *tail;
    int ninflight, window;
    /* link */
    enum link_state link;
    uint64_t backoff_until; /* ef_mono_ms(); 0: none */
    unsigned attempt;
    char last_error[256];
    char open_error[512]; /* why the queue could not be opened */
    double latency_ms;
    bool have_latency;
    double tokens;
    uint64_t tokens_at;
    struct ef_timer *wake;
    bool pumping;
    /* counters */
    uint64_t accepted, delivered, requests, failures, retries, bytes_out;
};

struct rtc {
    /* properties */
    const struct ef_val *rules_cfg, *sensitive_cfg, *headers_cfg;
    const char *default_route, *sensitive_action, *latency_prop, *property, *dedup_prop;
    const char *cloud_type, *cloud_url, *cloud_topic;
    struct ef_node *cloud_broker;
    const char *onprem_type, *onprem_url, *onprem_topic;
    struct ef_node *onprem_broker;
    double timeout;
    bool insecure;
    const char *ca_file;
    int64_t batch_count, batch_bytes, batch_ms;
    bool gzip;
    double bandwidth;
    const char *queue_dir, *fsync, *overflow;
    int64_t fsync_ms, max_bytes, max_records, segment_bytes;
    double max_age;
    int64_t backoff_ms, backoff_max_ms;
    /* state */
    struct ef_node *n;
    struct rtc_rule *rules;
    size_t nrules;
    struct rtc_paths sensitive;
    enum rtc_action action;
    enum rtc_route def_route;
    struct ef_http_header headers[MAX_HEADERS + 3];
    size_t nheaders;
    struct dest cloud, onprem;
    struct ef_timer *fsync_timer, *status_timer;
    struct sbuf rec; /* scratch for one record */
    uint64_t rng;
    uint64_t local_count;
    char status_text[256];
};

/* ---- small helpers ---- */

static int sbuf_reserve(struct sbuf *b, size_t more)
{
    if (b->len + more <= b->cap) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more) {
        cap *= 2;
    }
    uint8_t *np = realloc(b->p, cap);
    if (!np) {
        return EF_ENOMEM;
    }
    b->p = np;
    b->cap = cap;
    return 0;
}

static int sbuf_add(struct sbuf *b, const void *data, size_t len)
{
    if (sbuf_reserve(b, len) != 0) {
        return EF_ENOMEM;
    }
    if (len) {
        memcpy(b->p + b->len, data, len);
    }
    b->len += len;
    return 0;
}

static int sbuf_str(struct sbuf *b, const char *s)
{
    return sbuf_add(b, s, strlen(s));
}

/* Appends s as a JSON string literal. */
static int sbuf_json_str(struct sbuf *b, const char *s, size_t len)
{
    int rc = sbuf_add(b, "\"", 1);
    for (size_t i = 0; i < len && rc == 0; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            rc = sbuf_add(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            rc = sbuf_add(b, esc, 6);
        } else {
            rc = sbuf_add(b, &s[i], 1);
        }
    }
    return rc ? rc : sbuf_add(b, "\"", 1);
}

static uint64_t rng_next(struct rtc *r)
{
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return r->rng;
}

/* gzip (RFC 1952) of data; a malloc'ed block in *out. 0 or EF_ENOMEM. */
static int gzip_bytes(const uint8_t *data, size_t len, uint8_t **out, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        return EF_ENOMEM;
    }
    size_t cap = deflateBound(&zs, (uLong)len);
    uint8_t *buf = malloc(cap ? cap : 1);
    if (!buf) {
        deflateEnd(&zs);
        return EF_ENOMEM;
    }
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)len;
    zs.next_out = buf;
    zs.avail_out = (uInt)cap;
    int rc = deflate(&zs, Z_FINISH);
    *outlen = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(buf);
        return EF_ENOMEM;
    }
    *out = buf;
    return 0;
}

/* ---- properties ---- */

#define P(kind, name, def, help, field)                                                            \
    {                                                                                              \
        kind, name, def, false, help, offsetof(struct rtc, field)                                  \
    }

static const struct ef_prop rtc_props[] = {
    {EF_PROP_STR, "name", "\"\"", false, "node name", EF_PROP_NOFIELD},
    P(EF_PROP_ANY, "rules", "[]", "routing rules, first match wins (docs/route-to-cloud.md)",
      rules_cfg),
    P(EF_PROP_STR, "defaultRoute", "\"cloud\"", "route when no rule matches: local, onprem, cloud",
      default_route),
    P(EF_PROP_ANY, "sensitive", "[]", "message property paths that must not leave as they are",
      sensitive_cfg),
    P(EF_PROP_STR, "sensitiveAction", "\"redact\"",
      "for sensitive fields going to the cloud: local, redact or hash (sha256)", sensitive_action),
    P(EF_PROP_STR, "latencyProperty", "\"latencyBudget\"",
      "msg property with a latency budget in ms (over budget: local)", latency_prop),
    P(EF_PROP_STR, "property", "\"payload\"", "msg property that is sent (empty: the whole msg)",
      property),
    P(EF_PROP_STR, "dedupProperty", "\"_msgid\"", "msg property sent as the dedup key", dedup_prop),
    P(EF_PROP_STR, "cloudType", "\"http\"", "cloud destination: http, mqtt or none", cloud_type),
    P(EF_PROP_STR, "cloudUrl", "\"\"", "cloud HTTP(S) endpoint (POST)", cloud_url),
    P(EF_PROP_NODE, "cloudBroker", NULL, "cloud mqtt-broker config node", cloud_broker),
    P(EF_PROP_STR, "cloudTopic", "\"\"", "cloud MQTT topic (empty: msg.topic)", cloud_topic),
    P(EF_PROP_STR, "onpremType", "\"none\"", "on-premises destination: http, mqtt or none",
      onprem_type),
    P(EF_PROP_STR, "onpremUrl", "\"\"", "on-premises HTTP(S) endpoint (POST)", onprem_url),
    P(EF_PROP_NODE, "onpremBroker", NULL, "on-premises mqtt-broker config node", onprem_broker),
    P(EF_PROP_STR, "onpremTopic", "\"\"", "on-premises MQTT topic (empty: msg.topic)",
      onprem_topic),
    P(EF_PROP_ANY, "headers", "{}", "extra HTTP request headers (object of strings)", headers_cfg),
    P(EF_PROP_NUM, "timeout", "10", "HTTP request timeout in seconds", timeout),
    P(EF_PROP_BOOL, "insecure", "false", "do not verify HTTPS certificates", insecure),
    P(EF_PROP_STR, "caFile", "\"\"", "PEM file of trusted CAs for HTTPS", ca_file),
    P(EF_PROP_INT, "batchCount", "1", "records per request (1: one message per request)",
      batch_count),
    P(EF_PROP_INT, "batchBytes", "1048576", "a batch is sent when its data reaches this size",
      batch_bytes),
    P(EF_PROP_INT, "batchMs", "0", "longest wait for a batch to fill, in ms", batch_ms),
    P(EF_PROP_BOOL, "gzip", "false", "gzip request bodies / MQTT payloads", gzip),
    P(EF_PROP_NUM, "bandwidth", "0", "bandwidth cap in bytes/s per destination (0: none)",
      bandwidth),
    P(EF_PROP_STR, "queueDir", "\"\"",
      "queue directory (default <userDir>/route-to-cloud/<node id>)", queue_dir),
    P(EF_PROP_STR, "fsync", "\"interval\"", "always, interval or none", fsync),
    P(EF_PROP_INT, "fsyncMs", "100", "fsync interval in ms (fsync interval)", fsync_ms),
    P(EF_PROP_INT, "maxBytes", "268435456", "queue bound in bytes per destination (0: none)",
      max_bytes),
    P(EF_PROP_INT, "maxRecords", "0", "queue bound in records per destination (0: none)",
      max_records),
    P(EF_PROP_NUM, "maxAge", "0", "records older than this many seconds are dropped (0: never)",
      max_age),
    P(EF_PROP_STR, "overflow", "\"dropOldest\"", "when full: dropOldest or refuse", overflow),
    P(EF_PROP_INT, "segmentBytes", "8388608", "queue segment file size", segment_bytes),
    P(EF_PROP_INT, "backoffMs", "250", "first retry delay in ms", backoff_ms),
    P(EF_PROP_INT, "backoffMaxMs", "30000", "longest retry delay in ms", backoff_max_ms),
    {EF_PROP_END},
};

/* ---- delivery ---- */

static void pump(struct dest *d);

static void batch_free(struct batch *b)
{
    if (!b) {
        return;
    }
    ef_http_cancel(b->call);
    free(b->body);
    free(b->key);
    free(b->topic);
    free(b);
}

static void wake_in(struct dest *d, uint64_t ms)
{
    ef_timer_start(d->wake, ms ? ms : 1, 0);
}

/* Drops acknowledged batches from the front and trims the queue. */
static void settle(struct dest *d)
{
    uint64_t upto = 0;
    while (d->head && d->head->acked) {
        struct batch *b = d->head;
        d->head = b->next;
        if (!d->head) {
            d->tail = NULL;
        }
        d->ninflight--;
        d->delivered += b->count;
        upto = b->last_seq;
        batch_free(b);
    }
    if (upto && rtcq_ack(d->q, upto) != 0) {
        ef_node_warn(d->n, "%s queue: cannot persist the read position", d->name);
    }
}

static void batch_ok(struct batch *b, double elapsed_ms)
{
    struct dest *d = b->d;
    b->call = NULL;
    b->acked = true;
    d->latency_ms = d->have_latency
                        ? (1 - LATENCY_ALPHA) * d->latency_ms + LATENCY_ALPHA * elapsed_ms
                        : elapsed_ms;
    d->have_latency = true;
    d->link = LINK_ONLINE;
    d->attempt = 0;
    d->backoff_until = 0;
    settle(d);
    pump(d);
}

static void batch_failed(struct batch *b, const char *why)
{
    struct dest *d = b->d;
    struct rtc *r = d->r;
    b->call = NULL;
    b->sent = false;
    d->failures++;
    if (d->link != LINK_OFFLINE || strcmp(d->last_error, why) != 0) {
        ef_node_warn(d->n, "%s: delivery failed, will retry: %s", d->name, why);
    }
    snprintf(d->last_error, sizeof(d->last_error), "%s", why);
    d->link = LINK_OFFLINE;
    /* exponential backoff with "equal jitter": half fixed, half random */
    uint64_t delay = (uint64_t)r->backoff_ms;
    for (unsigned i = 0; i < d->attempt && delay < (uint64_t)r->backoff_max_ms; i++) {
        delay *= 2;
    }
    if (delay > (uint64_t)r->backoff_max_ms) {
        delay = (uint64_t)r->backoff_max_ms;
    }
    delay = delay / 2 + (delay > 1 ? rng_next(r) % (delay / 2 + 1) : 0);
    d->attempt++;
    uint64_t until = ef_mono_ms() + delay;
    if (until > d->backoff_until) {
        d->backoff_until = until;
    }
    if (!d->pumping) {
        wake_in(d, delay);
    }
}

static void on_http_done(struct ef_node *n, const struct ef_http_res *res, void *arg)
{
    struct batch *b = arg;
    (void)n;
    if (!res->error && res->status >= 200 && res->status < 300) {
        batch_ok(b, res->elapsed_ms);
        return;
    }
    char why[256];
    if (res->error) {
        snprintf(why, sizeof(why), "%s", res->error);
    } else {
        snprintf(why, sizeof(why), "HTTP %d", res->status);
    }
    b->call = NULL;
    batch_failed(b, why);
    if (!b->d->pumping) {
        pump(b->d);
    }
}

static void on_mqtt_done(struct ef_node *n, const char *error, void *arg)
{
    struct batch *b = arg;
    (void)n;
    if (!error) {
        batch_ok(b, (double)(ef_mono_ms() - b->sent_at));
        return;
    }
    batch_failed(b, error);
}

static bool link_up(const struct dest *d)
{
    if (d->kind == DEST_MQTT) {
        return ef_mqtt_connected(d->broker) != 0;
    }
    return d->link != LINK_OFFLINE;
}

/* Sends (or resends) b. Returns false when it failed at once. */
static bool batch_send(struct dest *d, struct batch *b)
{
    struct rtc *r = d->r;
    b->sent = true;
    b->sent_at = ef_mono_ms();
    d->requests++;
    d->bytes_out += b->len;
    if (d->kind == DEST_HTTP) {
        struct ef_http_header h[MAX_HEADERS + 3];
        size_t nh = 0;
        h[nh++] = (struct ef_http_header){"Content-Type", "application/json"};
        if (r->gzip) {
            h[nh++] = (struct ef_http_header){"Content-Encoding", "gzip"};
        }
        if (b->key) {
            h[nh++] = (struct ef_http_header){"Idempotency-Key", b->key};
        }
        for (size_t i = 0; i < r->nheaders; i++) {
            h[nh++] = r->headers[i];
        }
        struct ef_http_req req = {
            .method = "POST",
            .url = d->url,
            .headers = h,
            .nheaders = nh,
            .body = b->body,
            .body_len = b->len,
            .timeout_ms = (uint32_t)(r->timeout * 1000),
            .ca_file = *r->ca_file ? r->ca_file : NULL,
            .insecure = r->insecure,
            .max_response = 1 << 20,
        };
        b->call = ef_http_request(d->n, &req, on_http_done, b);
        if (!b->call) {
            batch_failed(b, "the HTTP request could not be started");
            return false;
        }
        return true;
    }
    struct ef_mqtt_user_prop up[2];
    size_t nup = 0;
    if (b->key) {
        up[nup++] = (struct ef_mqtt_user_prop){"Idempotency-Key", b->key};
    }
    if (r->gzip) {
        up[nup++] = (struct ef_mqtt_user_prop){"Content-Encoding", "gzip"};
    }
    struct ef_mqtt_msg m = {
        .topic = b->topic,
        .payload = b->body,
        .len = b->len,
        .qos = 1,
        .user_props = up,
        .nuser_props = nup,
    };
    int rc = ef_mqtt_publish(d->n, d->broker, &m, on_mqtt_done, b);
    if (rc != 0) {
        batch_failed(b, ef_strerror(rc));
        return false;
    }
    return true;
}

/* Takes off the key and topic of a stored record; returns the JSON text. */
static bool rec_split(const struct rtcq_rec *rec, const char **key, size_t *klen,
                      const char **topic, size_t *tlen, const uint8_t **json, size_t *jlen)
{
    const uint8_t *p = rec->data;
    size_t left = rec->len;
    if (left < 2) {
        return false;
    }
    *klen = (size_t)p[0] | (size_t)p[1] << 8;
    if (left < 4 + *klen) {
        return false;
    }
    *key = (const char *)p + 2;
    p += 2 + *klen;
    left -= 2 + *klen;
    *tlen = (size_t)p[0] | (size_t)p[1] << 8;
    if (left < 2 + *tlen) {
        return false;
    }
    *topic = (const char *)p + 2;
    *json = p + 2 + *tlen;
    *jlen = left - 2 - *tlen;
    return true;
}

static bool batch_mode(const struct rtc *r)
{
    return r->batch_count > 1;
}

/* Adds one record to the batch being assembled. */
static int build_add(struct dest *d, const struct rtcq_rec *rec)
{
    struct rtc *r = d->r;
    const char *key, *topic;
    const uint8_t *json;
    size_t klen, tlen, jlen;
    if (!rec_split(rec, &key, &klen, &topic, &tlen, &json, &jlen)) {
        ef_node_warn(d->n, "%s queue: record %llu is malformed; skipped", d->name,
                     (unsigned long long)rec->seq);
        return EF_EPARSE;
    }
    int rc = 0;
    if (!d->build_count) {
        d->build_first = rec->seq;
        d->build_first_ts = rec->ts_ms;
        d->build.len = 0;
        free(d->build_topic);
        d->build_topic = strndup(topic, tlen);
        if (!batch_mode(r)) {
            free(d->build_key);
            d->build_key = strndup(key, klen);
        } else {
            rc = sbuf_add(&d->build, "[", 1);
        }
    }
    if (batch_mode(r)) {
        char seq[40];
        snprintf(seq, sizeof(seq), ",\"seq\":%llu,\"data\":", (unsigned long long)rec->seq);
        rc = rc ? rc : sbuf_str(&d->build, d->build_count ? ",{\"key\":" : "{\"key\":");
        rc = rc ? rc : sbuf_json_str(&d->build, key, klen);
        rc = rc ? rc : sbuf_str(&d->build, seq);
        rc = rc ? rc : sbuf_add(&d->build, json, jlen);
        rc = rc ? rc : sbuf_add(&d->build, "}", 1);
    } else {
        rc = sbuf_add(&d->build, json, jlen);
    }
    d->build_last = rec->seq;
    d->build_count++;
    return rc;
}

/* Turns the assembled records into a batch at the tail of the in-flight list. */
static struct batch *build_finish(struct dest *d)
{
    struct rtc *r = d->r;
    struct batch *b = calloc(1, sizeof(*b));
    if (!b || (batch_mode(r) && sbuf_add(&d->build, "]", 1) != 0)) {
        free(b);
        return NULL;
    }
    b->d = d;
    b->first_seq = d->build_first;
    b->last_seq = d->build_last;
    b->count = d->build_count;
    b->key = d->build_key;
    d->build_key = NULL;
    b->topic = *d->topic ? strdup(d->topic) : d->build_topic;
    if (!*d->topic) {
        d->build_topic = NULL;
    }
    if (r->gzip) {
        if (gzip_bytes(d->build.p, d->build.len, &b->body, &b->len) != 0) {
            batch_free(b);
            return NULL;
        }
    } else {
        b->body = malloc(d->build.len ? d->build.len : 1);
        if (!b->body) {
            batch_free(b);
            return NULL;
        }
        memcpy(b->body, d->build.p, d->build.len);
        b->len = d->build.len;
    }
    d->build_count = 0;
    d->build.len = 0;
    if (d->tail) {
        d->tail->next = b;
    } else {
        d->head = b;
    }
    d->tail = b;
    d->ninflight++;
    return b;
}

/* Token bucket: true when `len` bytes may go now, else the wait in *wait_ms. */
static bool bandwidth_ok(struct dest *d, uint64_t *wait_ms)
{
    struct rtc *r = d->r;
    if (r->bandwidth <= 0) {
        return true;
    }
    uint64_t now = ef_mono_ms();
    double cap = r->bandwidth / 10; /* at most 100 ms worth of burst */
    d->tokens += r->bandwidth * (double)(now - d->tokens_at) / 1000.0;
    if (d->tokens > cap) {
        d->tokens = cap;
    }
    d->tokens_at = now;
    if (d->tokens >= 0) {
        return true;
    }
    *wait_ms = (uint64_t)ceil(-d->tokens * 1000.0 / r->bandwidth);
    return false;
}

static void pump(struct dest *d)
{
    struct rtc *r = d->r;
    if (d->kind == DEST_NONE || !d->q || d->pumping) {
        return;
    }
    d->pumping = true;
    for (;;) {
        uint64_t now = ef_mono_ms();
        uint64_t wait = 0;
        if (d->backoff_until > now) {
            wake_in(d, d->backoff_until - now);
            break;
        }
        /* first the batches that failed and wait to be sent again, in order */
        struct batch *resend = NULL;
        for (struct batch *b = d->head; b; b = b->next) {
            if (!b->sent && !b->acked) {
                resend = b;
                break;
            }
        }
        if (resend) {
            if (!bandwidth_ok(d, &wait)) {
                wake_in(d, wait);
                break;
            }
            d->retries++;
            d->tokens -= (double)resend->len;
            if (!batch_send(d, resend)) {
                continue;
            }
            continue;
        }
        if (d->ninflight >= d->window) {
            break;
        }
        /* fill the batch */
        struct rtcq_rec rec;
        while (d->build_count < (size_t)(r->batch_count > 0 ? r->batch_count : 1) &&
               d->build.len < (size_t)r->batch_bytes && rtcq_read(d->q, &rec) == 0) {
            build_add(d, &rec);
        }
        if (!d->build_count) {
            break;
        }
        bool full = d->build_count >= (size_t)(r->batch_count > 0 ? r->batch_count : 1) ||
                    d->build.len >= (size_t)r->batch_bytes;
        double age = ef_now_ms() - d->build_first_ts;
        if (!full && age < (double)r->batch_ms) {
            wake_in(d, (uint64_t)ceil((double)r->batch_ms - age));
            break;
        }
        if (!bandwidth_ok(d, &wait)) {
            wake_in(d, wait);
            break;
        }
        struct batch *b = build_finish(d);
        if (!b) {
            ef_node_error(d->n, NULL, "%s: out of memory building a batch", d->name);
            wake_in(d, 1000);
            break;
        }
        d->tokens -= (double)b->len;
        batch_send(d, b);
    }
    d->pumping = false;
}

static void on_wake(struct ef_node *n, void *arg)
{
    (void)n;
    pump(arg);
}

/* ---- status ---- */

static void fmt_age(double ms, char *out, size_t len)
{
    if (ms < 1000) {
        snprintf(out, len, "%.0fms", ms);
    } else if (ms < 120000) {
        snprintf(out, len, "%.0fs", ms / 1000);
    } else if (ms < 7200000) {
        snprintf(out, len, "%.0fm", ms / 60000);
    } else {
        snprintf(out, len, "%.0fh", ms / 3600000);
    }
}

static void update_status(struct rtc *r)
{
    char text[256] = "";
    size_t used = 0;
    const char *fill = "green";
    struct dest *ds[2] = {&r->cloud, &r->onprem};
    int active = 0;
    for (int i = 0; i < 2; i++) {
        struct dest *d = ds[i];
        if (d->kind == DEST_NONE) {
            continue;
        }
        if (!d->q) {
            fill = "red";
            used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%s queue unavailable",
                                     active ? " | " : "", d->name);
            if (used >= sizeof(text)) {
                used = sizeof(text) - 1;
            }
            active++;
            continue;
        }
        struct rtcq_stats st;
        rtcq_get_stats(d->q, &st);
        bool up = link_up(d);
        char age[48] = "";
        if (st.records) {
            char a[24];
            fmt_age(ef_now_ms() - st.oldest_ms, a, sizeof(a));
            snprintf(age, sizeof(age), ", oldest %s", a);
        }
        if (!up) {
            fill = "red";
        } else if (st.records && strcmp(fill, "red") != 0) {
            fill = "yellow";
        }
        used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%s%s %s, %llu queued%s",
                                 active ? " | " : "", r->onprem.kind != DEST_NONE ? d->name : "",
                                 r->onprem.kind != DEST_NONE ? ":" : "", up ? "online" : "offline",
                                 (unsigned long long)st.records, age);
        if (used >= sizeof(text)) {
            used = sizeof(text) - 1;
        }
        active++;
    }
    if (!active) {
        snprintf(text, sizeof(text), "local only");
    }
    if (strcmp(text, r->status_text) != 0) {
        snprintf(r->status_text, sizeof(r->status_text), "%s", text);
        ef_node_status(r->n, fill, !strcmp(fill, "red") ? "ring" : "dot", text);
    }
}

static void on_status_timer(struct ef_node *n, void *arg)
{
    struct rtc *r = arg;
    (void)n;
    struct dest *ds[2] = {&r->cloud, &r->onprem};
    for (int i = 0; i < 2; i++) {
        if (ds[i]->q && r->max_age > 0) {
            uint64_t gone = rtcq_expire(ds[i]->q, ef_now_ms());
            if (gone) {
                ef_node_warn(n, "%s queue: %llu record(s) older than %gs dropped", ds[i]->name,
                             (unsigned long long)gone, r->max_age);
            }
        }
    }
    update_status(r);
}

static void on_fsync_timer(struct ef_node *n, void *arg)
{
    struct rtc *r = arg;
    struct dest *ds[2] = {&r->cloud, &r->onprem};
    for (int i = 0; i < 2; i++) {
        if (ds[i]->q && rtcq_sync(ds[i]->q) != 0) {
            ef_node_warn(n, "%s queue: fsync failed", ds[i]->name);
        }
    }
}

static struct ef_val *dest_stats(struct rtc *r, struct dest *d)
{
    struct ef_val *o = ef_val_obj();
    if (!o) {
        return NULL;
    }
    struct rtcq_stats st;
    memset(&st, 0, sizeof(st));
    if (d->q) {
        rtcq_get_stats(d->q, &st);
    }
    const char *kind = d->kind == DEST_HTTP ? "http" : d->kind == DEST_MQTT ? "mqtt" : "none";
    struct {
        const char *k;
        double v;
    } nums[] = {
        {"queued", (double)st.records},
        {"queuedBytes", (double)st.bytes},
        {"oldestAge", st.records ? ef_now_ms() - st.oldest_ms : 0},
        {"segments", (double)st.segments},
        {"accepted", (double)d->accepted},
        {"delivered", (double)d->delivered},
        {"requests", (double)d->requests},
        {"retries", (double)d->retries},
        {"failures", (double)d->failures},
        {"bytesSent", (double)d->bytes_out},
        {"inFlight", (double)d->ninflight},
        {"dropped", (double)st.dropped},
        {"refused", (double)st.refused},
        {"expired", (double)st.expired},
        {"corrupt", (double)st.corrupt},
        {"truncated", (double)st.truncated},
        {"ioErrors", (double)st.io_errors},
    };
    ef_val_obj_set_take(o, "type", ef_val_str(kind));
    ef_val_obj_set_take(o, "online", ef_val_bool(d->kind != DEST_NONE && link_up(d)));
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        ef_val_obj_set_take(o, nums[i].k, ef_val_num(nums[i].v));
    }
    ef_val_obj_set_take(o, "latencyMs",
                        d->have_latency ? ef_val_num(d->latency_ms) : ef_val_null());
    ef_val_obj_set_take(o, "lastError", *d->last_error ? ef_val_str(d->last_error) : ef_val_null());
    (void)r;
    return o;
}

/* Answers msg.control == "status" on the second output. Takes msg. */
static int report(struct ef_node *n, struct rtc *r, struct ef_msg *msg)
{
    struct ef_val *p = ef_val_obj();
    if (p) {
        ef_val_obj_set_take(p, "cloud", dest_stats(r, &r->cloud));
        ef_val_obj_set_take(p, "onprem", dest_stats(r, &r->onprem));
        ef_val_obj_set_take(p, "local", ef_val_num((double)r->local_count));
        ef_val_obj_set_take(p, "time", ef_val_num(ef_now_ms()));
    }
    if (!p || ef_msg_set_take(msg, "payload", p) != 0) {
        ef_val_unref(p);
        ef_node_error(n, msg, "out of memory");
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    if (ef_node_send(n, 1, msg) != 0) {
        ef_msg_free(msg);
    }
    return EF_INPUT_DONE;
}

/* ---- accepting messages ---- */

/* The text of a dedup key value (string, or a number as JavaScript prints it). */
static void key_text(const struct ef_val *v, char *out, size_t len)
{
    out[0] = 0;
    if (ef_val_type(v) == EF_STR) {
        snprintf(out, len, "%s", ef_val_str_get(v));
    } else if (ef_val_type(v) == EF_NUM && len >= 32) {
        ef_num_format(ef_val_num_get(v), out);
    }
}

/* Encodes msg as a queue record in r->rec: key, topic, JSON of the sent property. */
static int encode(struct rtc *r, const struct ef_msg *msg)
{
    char key[1024];
    key_text(ef_msg_get(msg, r->dedup_prop), key, sizeof(key));
    const struct ef_val *t = ef_msg_get(msg, "topic");
    const char *topic = ef_val_type(t) == EF_STR ? ef_val_str_get(t) : "";
    size_t klen = strlen(key), tlen = strlen(topic);
    if (tlen > 65535) {
        return EF_ERANGE;
    }
    const struct ef_val *v = *r->property ? ef_msg_get(msg, r->property) : ef_msg_root(msg);
    size_t jlen = 4;
    char *json = v ? ef_json_print(v, 0, &jlen) : NULL;
    if (v && !json) {
        return EF_ENOMEM;
    }
    uint8_t l[2];
    r->rec.len = 0;
    int rc = 0;
    l[0] = (uint8_t)klen;
    l[1] = (uint8_t)(klen >> 8);
    rc = rc ? rc : sbuf_add(&r->rec, l, 2);
    rc = rc ? rc : sbuf_add(&r->rec, key, klen);
    l[0] = (uint8_t)tlen;
    l[1] = (uint8_t)(tlen >> 8);
    rc = rc ? rc : sbuf_add(&r->rec, l, 2);
    rc = rc ? rc : sbuf_add(&r->rec, topic, tlen);
    rc = rc ? rc : sbuf_add(&r->rec, json ? json : "null", jlen);
    free(json);
    return rc;
}

static int send_local(struct ef_node *n, struct rtc *r, struct ef_msg *msg)
{
    r->local_count++;
    if (ef_node_send(n, 0, msg) != 0) {
        ef_node_error(n, msg, "could not send to the local output");
        ef_msg_free(msg);
    }
    return EF_INPUT_DONE;
}

static int cb_input(struct ef_node *n, struct ef_msg *msg)
{
    struct rtc *r = ef_node_priv(n);
    const struct ef_val *ctl = ef_msg_get(msg, "control");
    if (ef_val_type(ctl) == EF_STR && !strcmp(ef_val_str_get(ctl), "status")) {
        return report(n, r, msg);
    }
    const struct rtc_rule *rule = rtc_rules_match(r->rules, r->nrules, msg);
    enum rtc_route route = rule ? rule->route : r->def_route;
    if (route == RTC_LOCAL) {
        return send_local(n, r, msg);
    }
    struct dest *d = route == RTC_CLOUD ? &r->cloud : &r->onprem;
    /* latency budget: over budget (or unreachable) keeps the work local */
    const struct ef_val *budget = *r->latency_prop ? ef_msg_get(msg, r->latency_prop) : NULL;
    if (ef_val_type(budget) == EF_NUM &&
        (!link_up(d) || (d->have_latency && d->latency_ms > ef_val_num_get(budget)))) {
        return send_local(n, r, msg);
    }
    if (route == RTC_CLOUD) {
        const struct rtc_paths *paths =
            rule && rule->has_sensitive ? &rule->sensitive : &r->sensitive;
        enum rtc_action action = rule && rule->has_action ? rule->action : r->action;
        bool keep_local = false;
        int rc = rtc_classify(msg, paths, action, &keep_local);
        if (rc != 0) {
            ef_node_error(n, msg, "data classification failed: %s", ef_strerror(rc));
            ef_msg_free(msg);
            return EF_INPUT_DONE;
        }
        if (keep_local) {
            return send_local(n, r, msg);
        }
    }
    if (d->kind == DEST_MQTT && !*d->topic) {
        const struct ef_val *t = ef_msg_get(msg, "topic");
        if (ef_val_type(t) != EF_STR || !ef_val_str_len(t)) {
            ef_node_error(n, msg, "%s: msg.topic must be a non-empty string (no %sTopic is set)",
                          d->name, d->name);
            ef_msg_free(msg);
            return EF_INPUT_DONE;
        }
    }
    if (!d->q) {
        ef_node_error(n, msg, "%s queue is not available: %s", d->name, d->open_error);
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    int rc = encode(r, msg);
    if (rc == 0) {
        rc = rtcq_append(d->q, r->rec.p, r->rec.len, ef_now_ms());
    }
    if (rc != 0) {
        struct rtcq_stats st;
        rtcq_get_stats(d->q, &st);
        if (rc == EF_EFULL) {
            ef_node_error(n, msg, "%s queue is full (%llu records, %llu bytes): message refused",
                          d->name, (unsigned long long)st.records, (unsigned long long)st.bytes);
        } else {
            ef_node_error(n, msg, "%s queue: message not accepted: %s", d->name, ef_strerror(rc));
        }
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    d->accepted++;
    ef_msg_free(msg);
    pump(d);
    return EF_INPUT_DONE;
}

/* ---- life cycle ---- */

static int dest_init(struct ef_node *n, struct rtc *r, struct dest *d, const char *name,
                     const char *type, const char *url, struct ef_node *broker, const char *topic)
{
    d->n = n;
    d->r = r;
    d->name = name;
    d->url = url;
    d->topic = topic;
    d->broker = broker;
    if (!strcmp(type, "none")) {
        d->kind = DEST_NONE;
        return 0;
    }
    if (!strcmp(type, "http")) {
        if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
            ef_node_error(n, NULL, "%sUrl must be an http:// or https:// URL, not \"%s\"", name,
                          url);
            return EF_EINVAL;
        }
        d->kind = DEST_HTTP;
        d->window = 1;
    } else if (!strcmp(type, "mqtt")) {
        if (!broker || strcmp(ef_node_type_name(broker), "mqtt-broker") != 0) {
            ef_node_error(n, NULL, "%sBroker must name an mqtt-broker config node", name);
            return EF_EINVAL;
        }
        if (!*topic && r->batch_count > 1) {
            ef_node_error(n, NULL, "%sTopic is required when batchCount > 1", name);
            return EF_EINVAL;
        }
        d->kind = DEST_MQTT;
        d->window = MQTT_WINDOW;
    } else {
        ef_node_error(n, NULL, "%sType must be http, mqtt or none, not \"%s\"", name, type);
        return EF_EINVAL;
    }
    d->wake = ef_timer_new(n, on_wake, d);
    if (!d->wake) {
        return EF_ENOMEM;
    }
    d->tokens = r->bandwidth / 10;
    d->tokens_at = ef_mono_ms();
    return 0;
}

static int open_queue(struct ef_node *n, struct rtc *r, struct dest *d)
{
    char dir[4096], err[512];
    struct rtcq_opts o = {
        .max_bytes = (uint64_t)r->max_bytes,
        .max_records = (uint64_t)r->max_records,
        .max_age_ms = r->max_age * 1000,
        .segment_bytes = (uint64_t)r->segment_bytes,
        .fsync = !strcmp(r->fsync, "always") ? RTCQ_FSYNC_ALWAYS
                 : !strcmp(r->fsync, "none") ? RTCQ_FSYNC_NONE
                                             : RTCQ_FSYNC_INTERVAL,
        .overflow = !strcmp(r->overflow, "refuse") ? RTCQ_REFUSE : RTCQ_DROP_OLDEST,
    };
    if (*r->queue_dir) {
        snprintf(dir, sizeof(dir), "%s/%s", r->queue_dir, d->name);
    } else {
        const char *ud = ef_node_user_dir(n);
        snprintf(dir, sizeof(dir), "%s%sroute-to-cloud/%s/%s", ud, *ud ? "/" : "", ef_node_id(n),
                 d->name);
    }
    int rc = rtcq_open(dir, &o, &d->q, err, sizeof(err));
    if (rc != 0) {
        snprintf(d->open_error, sizeof(d->open_error), "%s", err);
        ef_node_error(n, NULL, "%s queue: %s", d->name, err);
        return rc;
    }
    struct rtcq_stats st;
    rtcq_get_stats(d->q, &st);
    if (st.records) {
        ef_node_log(n, "%s queue: %llu record(s) waiting from an earlier run", d->name,
                    (unsigned long long)st.records);
    }
    return 0;
}

static int cb_init(struct ef_node *n, const struct ef_val *config)
{
    struct rtc *r = ef_node_priv(n);
    char err[512];
    (void)config;
    r->n = n;
    r->rng = (uint64_t)ef_mono_ms() * 6364136223846793005ull + (uintptr_t)r;
    if (!r->rng) {
        r->rng = 1;
    }
    if (rtc_route_parse(r->default_route, &r->def_route) != 0) {
        ef_node_error(n, NULL, "defaultRoute must be local, onprem or cloud, not \"%s\"",
                      r->default_route);
        return EF_EINVAL;
    }
    if (rtc_action_parse(r->sensitive_action, &r->action) != 0) {
        ef_node_error(n, NULL, "sensitiveAction must be local, redact or hash, not \"%s\"",
                      r->sensitive_action);
        return EF_EINVAL;
    }
    if (rtc_paths_parse(r->sensitive_cfg, &r->sensitive, "sensitive", err, sizeof(err)) != 0 ||
        rtc_rules_parse(r->rules_cfg, &r->rules, &r->nrules, err, sizeof(err)) != 0) {
        ef_node_error(n, NULL, "%s", err);
        return EF_EINVAL;
    }
    if (strcmp(r->fsync, "always") && strcmp(r->fsync, "interval") && strcmp(r->fsync, "none")) {
        ef_node_error(n, NULL, "fsync must be always, interval or none, not \"%s\"", r->fsync);
        return EF_EINVAL;
    }
    if (strcmp(r->overflow, "dropOldest") && strcmp(r->overflow, "refuse")) {
        ef_node_error(n, NULL, "overflow must be dropOldest or refuse, not \"%s\"", r->overflow);
        return EF_EINVAL;
    }
    if (r->batch_count < 1 || r->batch_bytes < 1 || r->batch_ms < 0 || r->fsync_ms < 1 ||
        r->max_bytes < 0 || r->max_records < 0 || r->max_age < 0 || r->bandwidth < 0 ||
        r->segment_bytes < 4096 || r->backoff_ms < 1 || r->backoff_max_ms < r->backoff_ms ||
        r->timeout <= 0) {
        ef_node_error(n, NULL,
                      "out of range: batchCount and batchBytes must be >= 1, fsyncMs >= 1, "
                      "segmentBytes >= 4096, backoffMs >= 1 and <= backoffMaxMs, timeout > 0, "
                      "the others >= 0");
        return EF_EINVAL;
    }
    if (ef_val_type(r->headers_cfg) != EF_OBJ || ef_val_obj_len(r->headers_cfg) > MAX_HEADERS) {
        ef_node_error(n, NULL, "headers must be an object of at most %d strings", MAX_HEADERS);
        return EF_EINVAL;
    }
    for (size_t i = 0; i < ef_val_obj_len(r->headers_cfg); i++) {
        const struct ef_val *v = ef_val_obj_val_at(r->headers_cfg, i);
        if (ef_val_type(v) != EF_STR) {
            ef_node_error(n, NULL, "headers: the value of \"%s\" must be a string",
                          ef_val_obj_key_at(r->headers_cfg, i, NULL));
            return EF_EINVAL;
        }
        r->headers[r->nheaders++] =
            (struct ef_http_header){ef_val_obj_key_at(r->headers_cfg, i, NULL), ef_val_str_get(v)};
    }
    if (dest_init(n, r, &r->cloud, "cloud", r->cloud_type, r->cloud_url, r->cloud_broker,
                  r->cloud_topic) != 0 ||
        dest_init(n, r, &r->onprem, "onprem", r->onprem_type, r->onprem_url, r->onprem_broker,
                  r->onprem_topic) != 0) {
        return EF_EINVAL;
    }
    struct dest *ds[2] = {&r->cloud, &r->onprem};
    bool used[3] = {false, false, false};
    used[r->def_route] = true;
    for (size_t i = 0; i < r->nrules; i++) {
        used[r->rules[i].route] = true;
    }
    for (int i = 0; i < 2; i++) {
        enum rtc_route rt = i == 0 ? RTC_CLOUD : RTC_ONPREM;
        if (used[rt] && ds[i]->kind == DEST_NONE) {
            ef_node_error(n, NULL, "a rule or defaultRoute sends to %s, but %sType is none",
                          ds[i]->name, ds[i]->name);
            return EF_EINVAL;
        }
    }
    r->status_timer = ef_timer_new(n, on_status_timer, r);
    if (!r->status_timer) {
        return EF_ENOMEM;
    }
    if (!strcmp(r->fsync, "interval")) {
        r->fsync_timer = ef_timer_new(n, on_fsync_timer, r);
        if (!r->fsync_timer) {
            return EF_ENOMEM;
        }
    }
    return 0;
}

static void cb_start(struct ef_node *n)
{
    struct rtc *r = ef_node_priv(n);
    struct dest *ds[2] = {&r->cloud, &r->onprem};
    for (int i = 0; i < 2; i++) {
        if (ds[i]->kind == DEST_MQTT) {
            ds[i]->attached = ef_mqtt_attach(n, ds[i]->broker) == 0;
            if (!ds[i]->attached) {
                ef_node_error(n, NULL, "%s: cannot use the mqtt-broker node", ds[i]->name);
            }
        }
    }
    /* The queues open here, not in cb_init: on a redeploy the new flow is built while the old
     * one (which holds the queue's lock) still runs, and is started after it closed. */
    for (int i = 0; i < 2; i++) {
        if (ds[i]->kind != DEST_NONE) {
            open_queue(n, r, ds[i]);
        }
    }
    ef_timer_start(r->status_timer, STATUS_MS, STATUS_MS);
    if (r->fsync_timer) {
        ef_timer_start(r->fsync_timer, (uint64_t)r->fsync_ms, (uint64_t)r->fsync_ms);
    }
    update_status(r);
    for (int i = 0; i < 2; i++) {
        pump(ds[i]);
    }
}

static void dest_close(struct ef_node *n, struct dest *d)
{
    if (d->attached) {
        ef_mqtt_detach(n, d->broker);
        d->attached = false;
    }
    while (d->head) {
        struct batch *b = d->head;
        d->head = b->next;
        batch_free(b);
    }
    d->tail = NULL;
    free(d->build.p);
    free(d->build_key);
    free(d->build_topic);
    rtcq_close(d->q);
    d->q = NULL;
}

static void cb_close(struct ef_node *n)
{
    struct rtc *r = ef_node_priv(n);
    dest_close(n, &r->cloud);
    dest_close(n, &r->onprem);
    rtc_rules_free(r->rules, r->nrules);
    r->rules = NULL;
    rtc_paths_free(&r->sensitive);
    free(r->rec.p);
}

static const struct ef_node_type rtc_type = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "route-to-cloud",
    .description = "Routes messages by policy to a local output, an on-premises or a cloud "
                   "destination (HTTP or MQTT) through a durable store-and-forward queue",
    .category = "network",
    .inputs = 1,
    .outputs = 2,
    .props = rtc_props,
    .priv_size = sizeof(struct rtc),
    .cb_init = cb_init,
    .cb_start = cb_start,
    .cb_input = cb_input,
    .cb_close = cb_close,
};

EF_PLUGIN_VERSION_CURRENT

int ef_plugin_init(struct ef_plugin *p)
{
    return ef_register_type(p, &rtc_type);
}
