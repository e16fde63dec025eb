/*
 * fleet_tool.c - the manager's side of the fleet protocol for the agent
 * tests, built on fleet/common: key files, signed envelopes, sealed
 * secrets, snapshot ids, and a self-test of the MQTT client (fleet_mqtt)
 * against a real broker.
 *
 *   fleet_tool keygen KEYFILE          creates (or loads) a key, prints its public key
 *   fleet_tool seedkey HEX KEYFILE     writes the key made from a 32-byte seed (fuzz corpus)
 *   fleet_tool sign KEYFILE            signs the document on stdin, prints the envelope
 *   fleet_tool seal PK_B64 SECRET      prints the sealed box (base64)
 *   fleet_tool verify-proof TOKEN PK PROOF   exit 0 when the enrolment proof is valid
 *   fleet_tool snapid                  stdin {"files":[{path,sha256,size}],"env":{}}: prints the id
 *   fleet_tool mqtt-selftest URI       exercises fleet_mqtt; exit 0 when every check passed
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/fleet_mqtt.h"
#include "common/fleet_proto.h"
#include "runtime.h"

static char *read_stdin(size_t *len)
{
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    size_t r;
    while (b && (r = fread(b + n, 1, cap - n - 1, stdin)) > 0) {
        n += r;
        if (cap - n < 2) {
            cap *= 2;
            char *nb = realloc(b, cap);
            if (!nb) {
                free(b);
                return NULL;
            }
            b = nb;
        }
    }
    if (b) {
        b[n] = '\0';
        *len = n;
    }
    return b;
}

/* ---- MQTT self-test ---- */

#define N_QOS1 2000

struct st {
    struct ef_runtime *rt;
    struct fleet_mqtt *a, *b, *c;
    int next_expected;
    int out_of_order;
    bool got_retained, got_queued, got_late_sub;
    int phase;
    int failures;
    uv_timer_t deadline;
};

static void check(struct st *s, bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "FAIL: %s\n", what);
        s->failures++;
    } else {
        printf("ok: %s\n", what);
    }
}

static void finish(struct st *s)
{
    uv_timer_stop(&s->deadline);
    runtime__stop(s->rt);
}

static void maybe_done(struct st *s)
{
    if (s->next_expected == N_QOS1 && s->got_retained && s->got_queued && s->got_late_sub) {
        check(s, s->out_of_order == 0, "QoS 1 messages arrived in order");
        struct fleet_mqtt_stats st;
        fleet_mqtt_stats(s->a, &st);
        check(s, st.received >= N_QOS1 + 1, "stats count received messages");
        check(s, st.inflight <= 32, "in-flight bounded by the window");
        finish(s);
    }
}

static void b_connect(void *ud);

static void on_msg_a(void *ud, const char *topic, const uint8_t *p, size_t len, bool retained)
{
    struct st *s = ud;
    (void)retained;
    if (!strcmp(topic, "st/n")) {
        int v = atoi((const char *)p);
        (void)len;
        if (v != s->next_expected) {
            s->out_of_order++;
        }
        s->next_expected = v + 1;
    } else if (!strcmp(topic, "st/queued")) {
        s->got_queued = len == 6 && !memcmp(p, "queued", 6);
    }
    maybe_done(s);
}

static void on_msg_b(void *ud, const char *topic, const uint8_t *p, size_t len, bool retained)
{
    struct st *s = ud;
    if (!strcmp(topic, "st/ret")) {
        s->got_retained = retained && len == 3 && !memcmp(p, "ret", 3);
    }
    if (!strcmp(topic, "st/late")) {
        s->got_late_sub = true;
    }
    maybe_done(s);
}

static void b_connect(void *ud)
{
    struct st *s = ud;
    /* subscribing while connected sends it at once */
    fleet_mqtt_subscribe(s->b, "st/late", 1);
    fleet_mqtt_publish(s->b, "st/late", "x", 1, 1, false);
}

static void a_connect(void *ud)
{
    struct st *s = ud;
    if (s->phase++ > 0) {
        return;
    }
    fleet_mqtt_publish(s->a, "st/ret", "ret", 3, 1, true);
    char num[16];
    for (int i = 0; i < N_QOS1; i++) {
        int n = snprintf(num, sizeof(num), "%d", i);
        if (fleet_mqtt_publish(s->a, "st/n", num, (size_t)n, 1, false) != 0) {
            check(s, false, "publish accepted");
            return;
        }
    }
    struct fleet_mqtt_stats st;
    fleet_mqtt_stats(s->a, &st);
    check(s, st.inflight <= 32 && st.queued > 0, "publishes beyond the window wait in the queue");
    /* c: queued while not connected, sent after connecting */
    check(s, fleet_mqtt_publish(s->c, "st/x", "y", 1, 0, false) == EF_ESTATE,
          "QoS 0 refused while disconnected");
    check(s, fleet_mqtt_publish(s->c, "st/queued", "queued", 6, 1, false) == 0,
          "QoS 1 queued while disconnected");
    fleet_mqtt_connect(s->c);
    fleet_mqtt_subscribe(s->b, "st/ret", 1);
    fleet_mqtt_connect(s->b);
}

static void on_deadline(uv_timer_t *t)
{
    struct st *s = t->data;
    fprintf(stderr, "FAIL: timeout (next %d, retained %d, queued %d, late %d)\n", s->next_expected,
            s->got_retained, s->got_queued, s->got_late_sub);
    s->failures++;
    finish(s);
}

static int mqtt_selftest(const char *uri)
{
    char err[256];
    struct ef_settings *set = settings__load(NULL, err, sizeof(err));
    struct ef_runtime *rt = calloc(1, sizeof(*rt));
    if (!set || !rt || runtime__init(rt, set, err, sizeof(err)) != 0) {
        fprintf(stderr, "runtime: %s\n", err);
        return 2;
    }
    struct st s = {.rt = rt};
    struct fleet_mqtt_opts oa = {.uri = uri,
                                 .client_id = "selftest-a",
                                 .will_topic = "st/will",
                                 .will_payload = "gone",
                                 .will_len = 4,
                                 .will_retain = true,
                                 .will_qos = 1,
                                 .on_connect = a_connect,
                                 .on_message = on_msg_a,
                                 .ud = &s};
    struct fleet_mqtt_opts ob = {.uri = uri,
                                 .client_id = "selftest-b",
                                 .on_connect = b_connect,
                                 .on_message = on_msg_b,
                                 .ud = &s};
    struct fleet_mqtt_opts oc = {.uri = uri, .client_id = "selftest-c", .ud = &s};
    struct fleet_mqtt_opts bad = {.uri = "http://x", .client_id = "x"};
    check(&s, fleet_mqtt_create(&rt->loop, &bad, err, sizeof(err)) == NULL,
          "a non-MQTT URI is refused");
    s.a = fleet_mqtt_create(&rt->loop, &oa, err, sizeof(err));
    s.b = fleet_mqtt_create(&rt->loop, &ob, err, sizeof(err));
    s.c = fleet_mqtt_create(&rt->loop, &oc, err, sizeof(err));
    if (!s.a || !s.b || !s.c) {
        fprintf(stderr, "create: %s\n", err);
        return 2;
    }
    fleet_mqtt_subscribe(s.a, "st/n", 1);
    fleet_mqtt_subscribe(s.a, "st/queued", 1);
    fleet_mqtt_connect(s.a);
    uv_timer_init(ef_loop_uv(&rt->loop), &s.deadline);
    s.deadline.data = &s;
    uv_timer_start(&s.deadline, on_deadline, 20000, 0);
    runtime__run(rt);
    uv_close((uv_handle_t *)&s.deadline, NULL);
    fleet_mqtt_destroy(s.a, 1000);
    fleet_mqtt_destroy(s.b, 0);
    fleet_mqtt_destroy(s.c, 0);
    runtime__destroy(rt);
    free(rt);
    printf("%s\n", s.failures ? "FAILED" : "PASSED");
    return s.failures ? 1 : 0;
}

/* ---- crypto helpers ---- */

int main(int argc, char **argv)
{
    char err[256];
    if (fleet_proto_init() != 0) {
        return 2;
    }
    if (argc == 3 && !strcmp(argv[1], "keygen")) {
        struct fleet_key k;
        if (fleet_key_load(argv[2], true, &k, NULL, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        char *pk = fleet_key_pk_b64(&k);
        puts(pk);
        free(pk);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "sign")) {
        struct fleet_key k;
        if (fleet_key_load(argv[2], false, &k, NULL, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        size_t len = 0, el = 0;
        char *doc = read_stdin(&len);
        char *env = doc ? fleet_envelope_sign(&k, doc, len, &el) : NULL;
        if (!env) {
            return 1;
        }
        fwrite(env, 1, el, stdout);
        free(env);
        free(doc);
        return 0;
    }
    if (argc == 4 && !strcmp(argv[1], "seal")) {
        uint8_t pk[FLEET_PK_BYTES + 3];
        size_t n = 0;
        if (fleet_b64_decode(argv[2], strlen(argv[2]), pk, sizeof(pk), &n) != 0 ||
            n != FLEET_PK_BYTES) {
            fprintf(stderr, "bad public key\n");
            return 1;
        }
        char *box = fleet_seal(pk, argv[3], strlen(argv[3]));
        if (!box) {
            return 1;
        }
        puts(box);
        free(box);
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "snapid")) {
        size_t len = 0;
        char *text = read_stdin(&len);
        struct ef_val *v = text ? ef_json_parse(text, len, err, sizeof(err)) : NULL;
        free(text);
        const struct ef_val *files = ef_val_obj_get(v, "files");
        size_t n = ef_val_arr_len(files);
        struct fleet_file *ff = calloc(n ? n : 1, sizeof(*ff));
        for (size_t i = 0; ff && i < n; i++) {
            const struct ef_val *f = ef_val_arr_at(files, i);
            ff[i].path = ef_val_str_get(ef_val_obj_get(f, "path"));
            ff[i].sha256 = ef_val_str_get(ef_val_obj_get(f, "sha256"));
            ff[i].size = (uint64_t)ef_val_num_get(ef_val_obj_get(f, "size"));
        }
        char id[65];
        int rc = ff ? fleet_snapshot_id(ff, n, ef_val_obj_get(v, "env"), id, err, sizeof(err))
                    : EF_ENOMEM;
        free(ff);
        ef_val_unref(v);
        if (rc != 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        puts(id);
        return 0;
    }
    if (argc == 4 && !strcmp(argv[1], "seedkey")) {
        uint8_t seed[32];
        struct fleet_key k;
        size_t n = 0;
        if (sodium_hex2bin(seed, sizeof(seed), argv[2], strlen(argv[2]), NULL, &n, NULL) != 0 ||
            n != sizeof(seed)) {
            fprintf(stderr, "the seed is 64 hex digits\n");
            return 1;
        }
        crypto_sign_seed_keypair(k.pk, k.sk, seed);
        char *b = fleet_b64_encode(k.sk, sizeof(k.sk));
        int rc = fleet_write_atomic(argv[3], b, strlen(b), 0600, err, sizeof(err));
        free(b);
        return rc == 0 ? 0 : 1;
    }
    if (argc == 5 && !strcmp(argv[1], "verify-proof")) {
        return fleet_enrol_proof_verify(argv[2], argv[3], argv[4]) == 0 ? 0 : 1;
    }
    if (argc == 3 && !strcmp(argv[1], "mqtt-selftest")) {
        return mqtt_selftest(argv[2]);
    }
    fprintf(stderr, "usage: fleet_tool keygen KEYFILE | sign KEYFILE | seal PK SECRET | snapid | "
                    "verify-proof TOKEN PK PROOF | mqtt-selftest URI\n");
    return 2;
}
