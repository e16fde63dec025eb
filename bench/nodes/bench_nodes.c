/*
 * bench_nodes.c - bench-source and bench-sink for edgeflow: a C plugin written
 * only against the public SDK (runtime/include/edgeflow/), the edgeflow half
 * of the side-by-side benchmarks. Same type names, properties and stdout line
 * as the Node-RED versions in bench/nodered-nodes/bench-nodes.js, so both
 * engines run the same flows.json (see that file for the full description).
 *
 * bench-source: on start (and on any input) sends `count` messages
 *   {payload: <payload> | <index if seq> | <one shared `size`-byte buffer>},
 *   `batch` per loop turn and at most `window` in flight (sent but not yet
 *   counted by the sinks naming it). The next batch is scheduled with
 *   ef_loop_post(), which runs it on the next loop turn after the queued
 *   deliveries have had their turn, like Node-RED's setImmediate(), so the
 *   loop's FIFO queue stays bounded. (Not a 0 ms ef_timer re-armed from its
 *   own callback: libuv 1.44, Debian 12's, runs such a timer again in the same
 *   timers phase, forever, and the deliveries would never be drained.)
 * bench-sink: counts; on the count-th message takes the time (ms since the
 *   source's first send) and, on the next loop turn (0 ms timer), prints
 *   {"bench":"done","id":..,"n":..,"ms":..,"rss_kb":..,"hwm_kb":..,"rss0_kb":..}
 *   `hold` keeps the messages until close.
 *
 * Built as a module that does not link edgeflow_core: the ef_* symbols come
 * from the edgeflow binary at load time (bench/CMakeLists.txt).
 */
#include <edgeflow/edgeflow.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXPORT __attribute__((visibility("default")))

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* VmRSS and VmHWM of this process in kB (-1 when unknown). */
static void proc_status(long *rss, long *hwm)
{
    *rss = -1;
    *hwm = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) {
        return;
    }
    char line[256];
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "VmRSS:", 6)) {
            *rss = strtol(line + 6, NULL, 10);
        } else if (!strncmp(line, "VmHWM:", 6)) {
            *hwm = strtol(line + 6, NULL, 10);
        }
    }
    fclose(f);
}

/* ---- bench-source ---- */

struct bsource {
    const char *name;
    int64_t count, batch, size, window, delay;
    bool seq, start;
    const struct ef_val *payload;
    /* run state */
    struct ef_timer *delay_timer;
    struct bsource_post *post; /* the pending next-batch post, if any */
    struct ef_val *buf;
    int64_t sent, acked;
    double t0;
    long rss0;
    bool started;
};

static const struct ef_prop bsource_props[] = {
    {EF_PROP_STR, "name", "\"\"", false, "Label", offsetof(struct bsource, name)},
    {EF_PROP_INT, "count", "1", false, "Messages to send per run", offsetof(struct bsource, count)},
    {EF_PROP_ANY, "payload", "0", false, "Payload of every message",
     offsetof(struct bsource, payload)},
    {EF_PROP_BOOL, "seq", "false", false, "Payload is the message index",
     offsetof(struct bsource, seq)},
    {EF_PROP_INT, "size", "0", false, "If > 0, payload is one shared buffer of this many bytes",
     offsetof(struct bsource, size)},
    {EF_PROP_INT, "batch", "1000", false, "Messages sent per loop turn",
     offsetof(struct bsource, batch)},
    {EF_PROP_INT, "window", "0", false, "Most messages in flight (0: no limit)",
     offsetof(struct bsource, window)},
    {EF_PROP_INT, "delay", "0", false, "Milliseconds before a run starts",
     offsetof(struct bsource, delay)},
    {EF_PROP_BOOL, "start", "true", false, "Run once the flows have started",
     offsetof(struct bsource, start)},
    {EF_PROP_END, NULL, NULL, false, NULL, 0},
};

/*
 * A posted "send the next batch". The source may close before the post runs,
 * so the post owns this token and close() only marks it cancelled.
 */
struct bsource_post {
    struct ef_node *node;
    bool cancelled;
};

static void bsource_step(struct ef_node *n);

static void bsource_posted(void *arg)
{
    struct bsource_post *p = arg;
    if (!p->cancelled) {
        struct bsource *s = ef_node_priv(p->node);
        s->post = NULL;
        bsource_step(p->node);
    }
    free(p);
}

static void bsource_schedule(struct ef_node *n)
{
    struct bsource *s = ef_node_priv(n);
    if (s->post) {
        return;
    }
    struct bsource_post *p = calloc(1, sizeof(*p));
    if (!p) {
        ef_node_error(n, NULL, "out of memory");
        return;
    }
    p->node = n;
    if (ef_loop_post(ef_node_loop(n), bsource_posted, p) != 0) {
        free(p);
        ef_node_error(n, NULL, "cannot schedule the next batch");
        return;
    }
    s->post = p;
}

static void bsource_step(struct ef_node *n)
{
    struct bsource *s = ef_node_priv(n);
    int64_t end = s->sent + s->batch;
    if (end > s->count) {
        end = s->count;
    }
    if (s->window > 0 && end > s->acked + s->window) {
        end = s->acked + s->window;
    }
    while (s->sent < end) {
        struct ef_val *obj = ef_val_obj();
        struct ef_val *pv = s->buf   ? ef_val_ref(s->buf)
                            : s->seq ? ef_val_num((double)s->sent)
                                     : ef_val_ref((struct ef_val *)s->payload);
        if (!pv) {
            pv = ef_val_null();
        }
        if (!obj || !pv || ef_val_obj_set_take(obj, "payload", pv) != 0) {
            ef_val_unref(pv);
            ef_val_unref(obj);
            break;
        }
        struct ef_msg *m = ef_msg_new_take(obj);
        if (!m) {
            ef_val_unref(obj);
            break;
        }
        if (ef_node_send(n, 0, m) != 0) { /* queue full: retry next turn */
            ef_msg_free(m);
            break;
        }
        s->sent++;
    }
    if (s->sent < s->count) {
        bsource_schedule(n);
    }
}

static void bsource_begin(struct ef_node *n, void *arg)
{
    (void)arg;
    struct bsource *s = ef_node_priv(n);
    if (s->size > 0 && !s->buf) {
        uint8_t *data = malloc((size_t)s->size);
        if (!data) {
            ef_node_error(n, NULL, "cannot allocate %lld bytes", (long long)s->size);
            return;
        }
        for (int64_t i = 0; i < s->size; i++) {
            data[i] = (uint8_t)(i & 0xff);
        }
        s->buf = ef_val_buf_take(data, (size_t)s->size);
        if (!s->buf) {
            return;
        }
    }
    long hwm;
    proc_status(&s->rss0, &hwm);
    s->sent = 0;
    s->acked = 0;
    s->t0 = mono_ms();
    s->started = true;
    bsource_step(n);
}

static void bsource_kick(struct ef_node *n)
{
    struct bsource *s = ef_node_priv(n);
    if (s->delay > 0) {
        ef_timer_start(s->delay_timer, (uint64_t)s->delay, 0);
    } else {
        bsource_begin(n, NULL);
    }
}

static int bsource_init(struct ef_node *n, const struct ef_val *config)
{
    (void)config;
    struct bsource *s = ef_node_priv(n);
    if (s->batch < 1) {
        s->batch = 1;
    }
    s->rss0 = -1;
    s->delay_timer = ef_timer_new(n, bsource_begin, NULL);
    if (!s->delay_timer) {
        ef_node_error(n, NULL, "out of memory");
        return EF_ENOMEM;
    }
    return 0;
}

static void bsource_start(struct ef_node *n)
{
    struct bsource *s = ef_node_priv(n);
    if (s->start) {
        bsource_kick(n);
    }
}

static int bsource_input(struct ef_node *n, struct ef_msg *msg)
{
    ef_msg_free(msg);
    bsource_kick(n);
    return EF_INPUT_DONE;
}

static void bsource_close(struct ef_node *n)
{
    struct bsource *s = ef_node_priv(n);
    if (s->post) {
        s->post->cancelled = true;
        s->post = NULL;
    }
    ef_val_unref(s->buf);
    s->buf = NULL;
}

static const struct ef_node_type bsource_type = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "bench-source",
    .description = "Benchmark source: sends `count` messages as fast as the flow takes them",
    .category = "common",
    .inputs = 1,
    .outputs = 1,
    .flags = 0,
    .props = bsource_props,
    .priv_size = sizeof(struct bsource),
    .cb_init = bsource_init,
    .cb_start = bsource_start,
    .cb_input = bsource_input,
    .cb_close = bsource_close,
};

/* ---- bench-sink ---- */

struct bsink {
    const char *name;
    int64_t count;
    const char *source;
    bool hold;
    /* state */
    int64_t got;
    double first;
    struct bsource *src;
    struct ef_msg **held;
    size_t nheld, capheld;
    struct ef_timer *report_timer;
    double elapsed;
    long rss0;
};

static const struct ef_prop bsink_props[] = {
    {EF_PROP_STR, "name", "\"\"", false, "Label", offsetof(struct bsink, name)},
    {EF_PROP_INT, "count", "1", false, "Messages to count before reporting",
     offsetof(struct bsink, count)},
    {EF_PROP_STR, "source", "\"\"", false, "Id of the bench-source timing starts from",
     offsetof(struct bsink, source)},
    {EF_PROP_BOOL, "hold", "false", false, "Keep the messages received until close",
     offsetof(struct bsink, hold)},
    {EF_PROP_END, NULL, NULL, false, NULL, 0},
};

/* Writes s as a JSON string body (ids are plain, but be safe). */
static void put_json_str(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            printf("\\%c", c);
        } else if (c < 0x20) {
            printf("\\u%04x", c);
        } else {
            putchar(c);
        }
    }
}

static int bsink_input(struct ef_node *n, struct ef_msg *msg)
{
    struct bsink *k = ef_node_priv(n);
    if (k->got == 0) {
        k->first = mono_ms();
        k->src = NULL;
        if (k->source && k->source[0]) {
            struct ef_node *sn = ef_node_lookup(n, k->source);
            if (sn && !strcmp(ef_node_type_name(sn), "bench-source")) {
                k->src = ef_node_priv(sn);
            }
        }
    }
    k->got++;
    if (k->src) {
        k->src->acked++;
    }
    if (k->hold) {
        if (k->nheld == k->capheld) {
            size_t cap = k->capheld ? k->capheld * 2 : 16;
            struct ef_msg **h = realloc(k->held, cap * sizeof(*h));
            if (!h) {
                ef_msg_free(msg);
                msg = NULL;
            } else {
                k->held = h;
                k->capheld = cap;
            }
        }
        if (msg) {
            k->held[k->nheld++] = msg;
        }
    } else {
        ef_msg_free(msg);
    }
    if (k->got == k->count) {
        double t0 = k->src && k->src->started ? k->src->t0 : k->first;
        k->elapsed = mono_ms() - t0;
        k->rss0 = k->src ? k->src->rss0 : -1L;
        /* Report on the next loop turn, so that reading /proc and printing
           do not delay deliveries still queued (e.g. the other fan-out wires). */
        ef_timer_start(k->report_timer, 0, 0);
    }
    return EF_INPUT_DONE;
}

static void bsink_report(struct ef_node *n, void *arg)
{
    (void)arg;
    struct bsink *k = ef_node_priv(n);
    long rss, hwm;
    proc_status(&rss, &hwm);
    printf("{\"bench\":\"done\",\"id\":\"");
    put_json_str(ef_node_id(n));
    printf("\",\"n\":%lld,\"ms\":%.3f,\"rss_kb\":%ld,\"hwm_kb\":%ld,\"rss0_kb\":%ld}\n",
           (long long)k->got, k->elapsed, rss, hwm, k->rss0);
    fflush(stdout);
}

static int bsink_init(struct ef_node *n, const struct ef_val *config)
{
    (void)config;
    struct bsink *k = ef_node_priv(n);
    k->report_timer = ef_timer_new(n, bsink_report, NULL);
    if (!k->report_timer) {
        ef_node_error(n, NULL, "out of memory");
        return EF_ENOMEM;
    }
    return 0;
}

static void bsink_close(struct ef_node *n)
{
    struct bsink *k = ef_node_priv(n);
    for (size_t i = 0; i < k->nheld; i++) {
        ef_msg_free(k->held[i]);
    }
    free(k->held);
    k->held = NULL;
    k->nheld = k->capheld = 0;
    k->src = NULL;
}

static const struct ef_node_type bsink_type = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "bench-sink",
    .description = "Benchmark sink: counts messages and prints one JSON line when done",
    .category = "common",
    .inputs = 1,
    .outputs = 0,
    .flags = 0,
    .props = bsink_props,
    .priv_size = sizeof(struct bsink),
    .cb_init = bsink_init,
    .cb_start = NULL,
    .cb_input = bsink_input,
    .cb_close = bsink_close,
};

/* ---- plugin entry points ---- */

EXPORT int ef_plugin_version(int n, const int *supported)
{
    for (int i = 0; i < n; i++) {
        if (supported[i] == EF_ABI_VERSION) {
            return EF_ABI_VERSION;
        }
    }
    return -1;
}

EXPORT int ef_plugin_init(struct ef_plugin *p)
{
    int rc = ef_register_type(p, &bsource_type);
    if (rc == 0) {
        rc = ef_register_type(p, &bsink_type);
    }
    return rc;
}
