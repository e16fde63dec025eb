/*
 * loadgen.c - MQTT load generator for bench/mqtt.sh (paho MQTTAsync, QoS 0).
 *
 * Publishes `count` JSON messages {"seq":n,"ts":<monotonic ns>,"value":v} to
 * the input topic at `rate` messages/s (0: as fast as the window allows),
 * subscribes to the output filter and measures, for every message that comes
 * back, the latency from its "ts". At most `window` messages are out (sent and
 * not yet back) at a time, so a flood measures the sustained end-to-end rate
 * instead of filling queues. Prints one JSON line with the results.
 *
 *   loadgen -p PORT [-n COUNT] [-r RATE] [-i IN] [-o OUT_FILTER] [-w WINDOW]
 *           [-e EXPECT_PER_MSG] [-t TIMEOUT_S]
 *   loadgen -p PORT --relay [-i IN] [-o OUT]     forward IN to OUT (broker-only ceiling)
 *   loadgen -p PORT --probe [-i IN] [-o OUT] -s START_NS
 *           publish a probe every 2 ms until one comes back; print ms since START_NS
 *           (CLOCK_MONOTONIC) - the start-up time of the runtime under test
 */
#include <MQTTAsync.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

struct gen {
    MQTTAsync pub, sub;
    const char *in, *out;
    long count, expect;
    atomic_long received;
    atomic_int connected;
    uint64_t *lat; /* ns, one per received message */
    long lat_cap;
    int relay;
};

/* Receives on the subscriber: records latency (or forwards in relay mode). */
static int on_msg(void *ctx, char *topic, int tl, MQTTAsync_message *m)
{
    struct gen *g = ctx;
    (void)tl;
    if (g->relay) {
        MQTTAsync_message out = MQTTAsync_message_initializer;
        out.payload = m->payload;
        out.payloadlen = m->payloadlen;
        MQTTAsync_sendMessage(g->sub, g->out, &out, NULL);
    } else {
        uint64_t t = now_ns();
        const char *p =
            m->payloadlen > 0 ? memmem(m->payload, (size_t)m->payloadlen, "\"ts\":", 5) : NULL;
        long i = atomic_fetch_add(&g->received, 1);
        if (p && i < g->lat_cap) {
            g->lat[i] = t - strtoull(p + 5, NULL, 10);
        }
    }
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void on_conn(void *ctx, MQTTAsync_successData *r)
{
    (void)r;
    atomic_fetch_add(&((struct gen *)ctx)->connected, 1);
}

static void on_fail(void *ctx, MQTTAsync_failureData *r)
{
    (void)ctx;
    fprintf(stderr, "loadgen: connect failed: %d\n", r ? r->code : -1);
    exit(1);
}

static MQTTAsync client(struct gen *g, const char *uri, const char *id, int subscriber)
{
    MQTTAsync c;
    MQTTAsync_create(&c, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
    MQTTAsync_setCallbacks(c, g, NULL, subscriber ? on_msg : NULL, NULL);
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    co.keepAliveInterval = 60;
    co.cleansession = 1;
    co.onSuccess = on_conn;
    co.onFailure = on_fail;
    co.context = g;
    co.maxInflight = 65535;
    MQTTAsync_connect(c, &co);
    return c;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    struct gen g = {.in = "bench/in", .out = "bench/out/#", .count = 100000, .expect = 1};
    int port = 1883, probe = 0;
    double rate = 0, timeout_s = 120;
    long window = 1000;
    uint64_t start_ns = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "-p"))
            port = atoi(v), i++;
        else if (!strcmp(a, "-n"))
            g.count = atol(v), i++;
        else if (!strcmp(a, "-r"))
            rate = atof(v), i++;
        else if (!strcmp(a, "-i"))
            g.in = v, i++;
        else if (!strcmp(a, "-o"))
            g.out = v, i++;
        else if (!strcmp(a, "-w"))
            window = atol(v), i++;
        else if (!strcmp(a, "-e"))
            g.expect = atol(v), i++;
        else if (!strcmp(a, "-t"))
            timeout_s = atof(v), i++;
        else if (!strcmp(a, "-s"))
            start_ns = strtoull(v, NULL, 10), i++;
        else if (!strcmp(a, "--relay"))
            g.relay = 1;
        else if (!strcmp(a, "--probe"))
            probe = 1;
        else {
            fprintf(stderr, "loadgen: unknown argument %s\n", a);
            return 2;
        }
    }
    char uri[64], id[64];
    snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", port);
    g.lat_cap = g.count * g.expect + 16;
    g.lat = calloc((size_t)g.lat_cap, sizeof(uint64_t));
    snprintf(id, sizeof(id), "loadgen-sub-%d", (int)getpid());
    g.sub = client(&g, uri, id, 1);
    if (!g.relay) {
        snprintf(id, sizeof(id), "loadgen-pub-%d", (int)getpid());
        g.pub = client(&g, uri, id, 0);
    }
    while (atomic_load(&g.connected) < (g.relay ? 1 : 2)) {
        sleep_ns(1000000);
    }
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    MQTTAsync_subscribe(g.sub, g.relay ? g.in : g.out, 0, &ro);
    sleep_ns(200000000); /* SUBACK */
    if (g.relay) {
        for (;;) {
            pause();
        }
    }
    char buf[128];
    MQTTAsync_message m = MQTTAsync_message_initializer;
    if (probe) {
        for (long n = 0; atomic_load(&g.received) == 0; n++) {
            m.payloadlen = snprintf(buf, sizeof(buf), "{\"seq\":%ld,\"ts\":%llu,\"value\":1}", n,
                                    (unsigned long long)now_ns());
            m.payload = buf;
            MQTTAsync_sendMessage(g.pub, g.in, &m, NULL);
            sleep_ns(2000000);
            if (now_ns() - start_ns > (uint64_t)(timeout_s * 1e9)) {
                printf("{\"startup_ms\":null}\n");
                return 1;
            }
        }
        printf("{\"startup_ms\":%.1f}\n", (double)(now_ns() - start_ns) / 1e6);
        return 0;
    }
    uint64_t t0 = now_ns(), interval = rate > 0 ? (uint64_t)(1e9 / rate) : 0;
    long want = g.count * g.expect;
    for (long n = 0; n < g.count; n++) {
        if (interval) {
            uint64_t due = t0 + (uint64_t)n * interval, t = now_ns();
            if (due > t) {
                sleep_ns(due - t);
            }
        }
        while (n * g.expect - atomic_load(&g.received) > window * g.expect) {
            sleep_ns(20000);
            if (now_ns() - t0 > (uint64_t)(timeout_s * 1e9)) {
                break;
            }
        }
        m.payloadlen = snprintf(buf, sizeof(buf), "{\"seq\":%ld,\"ts\":%llu,\"value\":%ld}", n,
                                (unsigned long long)now_ns(), n % 100);
        m.payload = buf;
        while (MQTTAsync_sendMessage(g.pub, g.in, &m, NULL) != MQTTASYNC_SUCCESS) {
            sleep_ns(100000);
        }
    }
    uint64_t last_change = now_ns();
    long last = -1;
    while (atomic_load(&g.received) < want) {
        long r = atomic_load(&g.received);
        if (r != last) {
            last = r;
            last_change = now_ns();
        } else if (now_ns() - last_change > 3000000000ull) {
            break; /* nothing for 3 s: count what arrived */
        }
        sleep_ns(200000);
    }
    uint64_t t1 = now_ns();
    long got = atomic_load(&g.received);
    if (got == want) {
        last_change = t1;
    }
    double secs = (double)(last_change - t0) / 1e9;
    long nl = got < g.lat_cap ? got : g.lat_cap;
    qsort(g.lat, (size_t)nl, sizeof(uint64_t), cmp_u64);
    double p50 = nl ? (double)g.lat[nl / 2] / 1e3 : 0,
           p99 = nl ? (double)g.lat[nl * 99 / 100] / 1e3 : 0;
    printf("{\"sent\":%ld,\"received\":%ld,\"expected\":%ld,\"seconds\":%.3f,\"rate\":%.0f,"
           "\"p50_us\":%.0f,\"p99_us\":%.0f}\n",
           g.count, got, want, secs, secs > 0 ? (double)got / secs : 0, p50, p99);
    MQTTAsync_disconnect(g.pub, NULL);
    MQTTAsync_disconnect(g.sub, NULL);
    return got == want ? 0 : 3;
}
