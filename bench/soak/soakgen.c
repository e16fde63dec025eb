/*
 * soakgen.c - the MQTT side of the soak test (bench/soak/soak.sh): publishes
 * {"seq":n,"value":v} at QoS 1 to the input topic at a steady rate, and
 * counts what comes back on the output filter on a persistent QoS 1
 * subscription, by sequence number: unique, duplicates and, at the end,
 * missing. Both clients reconnect by themselves; the subscriber keeps its
 * session (clean session off) and the publisher sends again every publish
 * that failed (connection lost before PUBACK), so broker restarts lose
 * nothing on this side. Prints a JSON line of counters every
 * -q seconds and a final one after the run has drained.
 *
 *   soakgen -p PORT -r RATE -d SECONDS [-i IN] [-o OUT_FILTER] [-w WINDOW] [-q SECONDS]
 */
#include <MQTTAsync.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../mqtt/clock.h"

struct soak {
    MQTTAsync pub, sub;
    const char *in, *out;
    long max_seq;
    uint8_t *seen; /* one byte per sequence number */
    atomic_long unique, dups, acked, failed;
    atomic_int pub_up, sub_up;
    pthread_mutex_t lock; /* the resend list */
    long *resend;
    size_t nresend, capresend;
};

static int on_msg(void *ctx, char *topic, int tl, MQTTAsync_message *m)
{
    struct soak *s = ctx;
    (void)tl;
    const char *p =
        m->payloadlen > 0 ? memmem(m->payload, (size_t)m->payloadlen, "\"seq\":", 6) : NULL;
    long seq = p ? strtol(p + 6, NULL, 10) : -1;
    if (seq >= 0 && seq < s->max_seq) {
        if (s->seen[seq]++) {
            atomic_fetch_add(&s->dups, 1);
        } else {
            atomic_fetch_add(&s->unique, 1);
        }
    }
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void on_sent(void *ctx, MQTTAsync_successData *r)
{
    (void)r;
    atomic_fetch_add(&((struct soak *)ctx)->acked, 1);
}

/* A publish that failed (connection lost before PUBACK): send it again. */
struct send_ctx {
    struct soak *s;
    long seq;
};

static void on_send_ok(void *ctx, MQTTAsync_successData *r)
{
    struct send_ctx *c = ctx;
    on_sent(c->s, r);
    free(c);
}

static void on_send_fail(void *ctx, MQTTAsync_failureData *r)
{
    (void)r;
    struct send_ctx *c = ctx;
    struct soak *s = c->s;
    atomic_fetch_add(&s->failed, 1);
    pthread_mutex_lock(&s->lock);
    if (s->nresend == s->capresend) {
        s->capresend = s->capresend ? s->capresend * 2 : 1024;
        s->resend = realloc(s->resend, s->capresend * sizeof(long));
    }
    s->resend[s->nresend++] = c->seq;
    pthread_mutex_unlock(&s->lock);
    free(c);
}

static void on_connected(void *ctx, char *cause)
{
    (void)cause;
    atomic_store((atomic_int *)ctx, 1);
}

static void on_lost(void *ctx, char *cause)
{
    (void)cause;
    atomic_store((atomic_int *)ctx, 0);
}

static void on_sub_connected(void *ctx, char *cause)
{
    struct soak *s = ctx;
    (void)cause;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    MQTTAsync_subscribe(s->sub, s->out, 1, &ro); /* again after a reconnect: harmless */
    atomic_store(&s->sub_up, 1);
}

static void on_sub_lost(void *ctx, char *cause)
{
    (void)cause;
    atomic_store(&((struct soak *)ctx)->sub_up, 0);
}

static MQTTAsync client(const char *uri, const char *id, void *ctx,
                        MQTTAsync_messageArrived *arrived, MQTTAsync_connected *conn,
                        MQTTAsync_connectionLost *lost)
{
    MQTTAsync c;
    MQTTAsync_create(&c, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
    MQTTAsync_setCallbacks(c, ctx, lost, arrived, NULL);
    MQTTAsync_setConnected(c, ctx, conn);
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    co.keepAliveInterval = 20;
    co.cleansession = arrived ? 0 : 1; /* the subscriber keeps its session; the publisher
                                        * re-sends what was not acknowledged itself */
    co.automaticReconnect = 1;
    co.minRetryInterval = 1;
    co.maxRetryInterval = 2;
    co.maxInflight = 1000;
    co.MQTTVersion =
        MQTTVERSION_3_1_1; /* paho falls back to 3.1 otherwise, which mosquitto then refuses */
    MQTTAsync_connect(c, &co);
    return c;
}

static void publish(struct soak *s, long seq)
{
    char buf[96];
    MQTTAsync_message m = MQTTAsync_message_initializer;
    m.payloadlen = snprintf(buf, sizeof(buf), "{\"seq\":%ld,\"value\":%ld}", seq, seq % 100);
    m.payload = buf;
    m.qos = 1;
    struct send_ctx *c = malloc(sizeof(*c));
    c->s = s;
    c->seq = seq;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess = on_send_ok;
    ro.onFailure = on_send_fail;
    ro.context = c;
    if (MQTTAsync_sendMessage(s->pub, s->in, &m, &ro) != MQTTASYNC_SUCCESS) {
        MQTTAsync_failureData fd = {0};
        on_send_fail(c, &fd);
    }
}

/* Sends again what failed; returns how many. */
static size_t resend_failed(struct soak *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->nresend;
    long *list = s->resend;
    s->resend = NULL;
    s->nresend = s->capresend = 0;
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; i < n; i++) {
        publish(s, list[i]);
    }
    free(list);
    return n;
}

static void report(struct soak *s, const char *kind, double t, long sent)
{
    printf("{\"kind\":\"%s\",\"t\":%.1f,\"sent\":%ld,\"acked\":%ld,\"failed\":%ld,"
           "\"unique\":%ld,\"dups\":%ld,\"pub_up\":%d,\"sub_up\":%d}\n",
           kind, t, sent, atomic_load(&s->acked), atomic_load(&s->failed), atomic_load(&s->unique),
           atomic_load(&s->dups), atomic_load(&s->pub_up), atomic_load(&s->sub_up));
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct soak s = {.in = "soak/in", .out = "soak/out/#"};
    pthread_mutex_init(&s.lock, NULL);
    int port = 1883;
    double rate = 1000, duration = 60, every = 10;
    long window = 2000;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "-p")) {
            port = atoi(v);
        } else if (!strcmp(a, "-r")) {
            rate = atof(v);
        } else if (!strcmp(a, "-d")) {
            duration = atof(v);
        } else if (!strcmp(a, "-i")) {
            s.in = v;
        } else if (!strcmp(a, "-o")) {
            s.out = v;
        } else if (!strcmp(a, "-w")) {
            window = atol(v);
        } else if (!strcmp(a, "-q")) {
            every = atof(v);
        } else {
            fprintf(stderr, "soakgen: unknown argument %s\n", a);
            return 2;
        }
    }
    s.max_seq = (long)(rate * duration) + 1;
    s.seen = calloc((size_t)s.max_seq, 1);
    char uri[64];
    snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", port);
    s.sub = client(uri, "soakgen-sub", &s, on_msg, on_sub_connected, on_sub_lost);
    s.pub = client(uri, "soakgen-pub", &s.pub_up, NULL, on_connected, on_lost);
    uint64_t t0 = now_ns();
    while (!atomic_load(&s.sub_up) || !atomic_load(&s.pub_up)) {
        sleep_ns(1000000);
        if (now_ns() - t0 > 10000000000ull) {
            fprintf(stderr, "soakgen: cannot connect to 127.0.0.1:%d\n", port);
            return 1;
        }
    }
    sleep_ns(300000000); /* SUBACK */
    t0 = now_ns();
    uint64_t interval = (uint64_t)(1e9 / rate), next_report = t0 + (uint64_t)(every * 1e9);
    long sent = 0;
    while (sent < s.max_seq - 1) {
        uint64_t t = now_ns(), due = t0 + (uint64_t)sent * interval;
        if (due > t) {
            sleep_ns(due - t < 1000000 ? due - t : 1000000);
            continue;
        }
        if (t >= next_report) {
            resend_failed(&s);
            report(&s, "progress", (double)(t - t0) / 1e9, sent);
            next_report += (uint64_t)(every * 1e9);
        }
        if (!atomic_load(&s.pub_up) || sent - atomic_load(&s.acked) > window) {
            sleep_ns(100000); /* paho's QoS 1 throughput collapses with a deep in-flight queue */
            continue;
        }
        publish(&s, sent++);
    }
    /* drain: everything acknowledged and received, or two minutes */
    uint64_t end = now_ns() + 120000000000ull;
    while (now_ns() < end && atomic_load(&s.unique) < sent) {
        resend_failed(&s);
        sleep_ns(100000000);
    }
    report(&s, "final", (double)(now_ns() - t0) / 1e9, sent);
    long missing = 0, ranges = 0;
    printf("{\"kind\":\"missing_ranges\",\"ranges\":[");
    for (long i = 0; i < sent; i++) {
        if (!s.seen[i]) {
            long j = i;
            while (j + 1 < sent && !s.seen[j + 1]) {
                j++;
            }
            missing += j - i + 1;
            if (ranges++ < 20) {
                printf("%s[%ld,%ld]", ranges > 1 ? "," : "", i, j);
            }
            i = j;
        }
    }
    printf("]}\n{\"kind\":\"summary\",\"sent\":%ld,\"missing\":%ld,\"dups\":%ld}\n", sent, missing,
           atomic_load(&s.dups));
    return missing ? 1 : 0;
}
