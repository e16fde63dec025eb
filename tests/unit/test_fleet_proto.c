/*
 * test_fleet_proto.c - the fleet protocol library (fleet/common/fleet_proto.c):
 * key files, base64, signed envelopes (tampered text, signature, key),
 * enrolment proofs, sealed secrets, snapshot ids against vectors computed
 * independently (Python hashlib), file paths, topics, and the validation of
 * desired/revoked/cmd/state/hb/resp documents (wrong device, bad seq, bad
 * paths, sizes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "common/fleet_proto.h"

static struct ef_val *J(const char *json)
{
    char err[256];
    struct ef_val *v = ef_json_parse(json, strlen(json), err, sizeof(err));
    if (!v) {
        fprintf(stderr, "bad test JSON %s: %s\n", json, err);
    }
    return v;
}

static void test_keys(void)
{
    char dir[] = "/tmp/ef-fleet-keyXXXXXX";
    CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
    char path[256], err[256];
    snprintf(path, sizeof(path), "%s/device.key", dir);
    struct fleet_key k1, k2;
    bool created = false;
    CU_ASSERT_EQUAL(fleet_key_load(path, false, &k1, NULL, err, sizeof(err)), EF_ENOENT);
    CU_ASSERT_EQUAL(fleet_key_load(path, true, &k1, &created, err, sizeof(err)), 0);
    CU_ASSERT_TRUE(created);
    struct stat st;
    CU_ASSERT_EQUAL(stat(path, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
    CU_ASSERT_EQUAL(fleet_key_load(path, true, &k2, &created, err, sizeof(err)), 0);
    CU_ASSERT_FALSE(created);
    CU_ASSERT_EQUAL(memcmp(k1.pk, k2.pk, sizeof(k1.pk)), 0);
    CU_ASSERT_EQUAL(memcmp(k1.sk, k2.sk, sizeof(k1.sk)), 0);
    /* readable by others: refused */
    chmod(path, 0644);
    CU_ASSERT_EQUAL(fleet_key_load(path, false, &k2, NULL, err, sizeof(err)), EF_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "0600"));
    /* not a key */
    FILE *f = fopen(path, "w");
    fputs("hello\n", f);
    fclose(f);
    chmod(path, 0600);
    CU_ASSERT_EQUAL(fleet_key_load(path, false, &k2, NULL, err, sizeof(err)), EF_EPARSE);
    /* a key whose public half was swapped */
    struct fleet_key k3;
    fleet_key_generate(&k3);
    memcpy(k3.sk + 32, k1.pk, 32);
    char *b = fleet_b64_encode(k3.sk, 64);
    f = fopen(path, "w");
    fputs(b, f);
    fclose(f);
    free(b);
    CU_ASSERT_EQUAL(fleet_key_load(path, false, &k2, NULL, err, sizeof(err)), EF_EPARSE);
    unlink(path);
    rmdir(dir);
}

static void test_b64(void)
{
    uint8_t out[16];
    size_t n = 0;
    char *e = fleet_b64_encode("hello!?", 7);
    CU_ASSERT_STRING_EQUAL(e, "aGVsbG8hPw==");
    CU_ASSERT_EQUAL(fleet_b64_decode(e, strlen(e), out, sizeof(out), &n), 0);
    CU_ASSERT_EQUAL(n, 7);
    CU_ASSERT_EQUAL(memcmp(out, "hello!?", 7), 0);
    free(e);
    CU_ASSERT_EQUAL(fleet_b64_decode("aGVsbG8hPw", 10, out, sizeof(out), &n), EF_EINVAL);
    CU_ASSERT_EQUAL(fleet_b64_decode("aGVs bG8h", 9, out, sizeof(out), &n), EF_EINVAL);
    CU_ASSERT_EQUAL(fleet_b64_decode("aGVs-G8h", 8, out, sizeof(out), &n), EF_EINVAL);
    CU_ASSERT_EQUAL(fleet_b64_decode("aGVsbG8haGVsbG8h", 16, out, 4, &n), EF_ERANGE);
    char hex[65];
    fleet_sha256_hex("abc", 3, hex);
    CU_ASSERT_STRING_EQUAL(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CU_ASSERT_TRUE(fleet_sha256_valid(hex));
    hex[3] = 'A';
    CU_ASSERT_FALSE(fleet_sha256_valid(hex));
    CU_ASSERT_FALSE(fleet_sha256_valid("abc"));
}

static void test_names(void)
{
    CU_ASSERT_TRUE(fleet_device_id_valid("dev-1"));
    CU_ASSERT_TRUE(fleet_device_id_valid("0_a-b"));
    CU_ASSERT_FALSE(fleet_device_id_valid("-dev"));
    CU_ASSERT_FALSE(fleet_device_id_valid("Dev"));
    CU_ASSERT_FALSE(fleet_device_id_valid("a/b"));
    CU_ASSERT_FALSE(fleet_device_id_valid("a+"));
    CU_ASSERT_FALSE(fleet_device_id_valid(""));
    char id[80];
    memset(id, 'a', 64);
    id[64] = '\0';
    CU_ASSERT_TRUE(fleet_device_id_valid(id));
    id[64] = 'a';
    id[65] = '\0';
    CU_ASSERT_FALSE(fleet_device_id_valid(id));

    CU_ASSERT_TRUE(fleet_path_valid("flows.json"));
    CU_ASSERT_TRUE(fleet_path_valid("models/v2/m.onnx"));
    CU_ASSERT_TRUE(fleet_path_valid(".hidden"));
    CU_ASSERT_FALSE(fleet_path_valid("../etc/passwd"));
    CU_ASSERT_FALSE(fleet_path_valid("a/../b"));
    CU_ASSERT_FALSE(fleet_path_valid("./a"));
    CU_ASSERT_FALSE(fleet_path_valid("/etc/passwd"));
    CU_ASSERT_FALSE(fleet_path_valid("a//b"));
    CU_ASSERT_FALSE(fleet_path_valid("a/"));
    CU_ASSERT_FALSE(fleet_path_valid("a b"));
    CU_ASSERT_FALSE(fleet_path_valid("a\\b"));
    CU_ASSERT_FALSE(fleet_path_valid(""));
    char p[300];
    memset(p, 'x', 256);
    p[256] = '\0';
    CU_ASSERT_FALSE(fleet_path_valid(p));
    p[255] = '\0';
    CU_ASSERT_TRUE(fleet_path_valid(p));
}

static void test_envelope(void)
{
    struct fleet_key k, other;
    fleet_key_generate(&k);
    fleet_key_generate(&other);
    const char *doc = "{\"type\":\"ping\",\"x\":\"\\u00e9\"}";
    size_t len = 0, dl = 0;
    char err[256];
    char *env = fleet_envelope_sign(&k, doc, strlen(doc), &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    char *got = fleet_envelope_open(k.pk, env, len, FLEET_MAX_MSG, &dl, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_STRING_EQUAL(got, doc);
    CU_ASSERT_EQUAL(dl, strlen(doc));
    free(got);
    /* another manager's key */
    got = fleet_envelope_open(other.pk, env, len, FLEET_MAX_MSG, NULL, err, sizeof(err));
    CU_ASSERT_PTR_NULL(got);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "signature"));
    /* the signed text changed by one byte */
    char *t = strdup(env);
    char *p = strstr(t, "ping");
    p[0] = 'q';
    got = fleet_envelope_open(k.pk, t, len, FLEET_MAX_MSG, NULL, err, sizeof(err));
    CU_ASSERT_PTR_NULL(got);
    free(t);
    /* the signature changed */
    t = strdup(env);
    p = strstr(t, "\"sig\":\"") + 7;
    p[3] = p[3] == 'A' ? 'B' : 'A';
    got = fleet_envelope_open(k.pk, t, len, FLEET_MAX_MSG, NULL, err, sizeof(err));
    CU_ASSERT_PTR_NULL(got);
    free(t);
    /* too large */
    got = fleet_envelope_open(k.pk, env, len, len - 1, NULL, err, sizeof(err));
    CU_ASSERT_PTR_NULL(got);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "larger"));
    free(env);
    /* malformed envelopes */
    const char *bad[] = {"[]",
                         "{",
                         "{\"v\":2,\"signed\":\"{}\",\"sig\":\"\"}",
                         "{\"v\":1,\"signed\":{},\"sig\":\"\"}",
                         "{\"v\":1,\"signed\":\"{}\",\"sig\":\"abc\"}",
                         "{\"v\":1,\"signed\":\"{}\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        got = fleet_envelope_open(k.pk, bad[i], strlen(bad[i]), FLEET_MAX_MSG, NULL, err,
                                  sizeof(err));
        CU_ASSERT_PTR_NULL(got);
        free(got);
    }
    /* sign_val signs what it prints */
    struct ef_val *v = J("{\"type\":\"cmd\",\"device\":\"d\",\"seq\":1}");
    env = fleet_envelope_sign_val(&k, v, &len);
    got = fleet_envelope_open(k.pk, env, len, FLEET_MAX_MSG, NULL, err, sizeof(err));
    CU_ASSERT_STRING_EQUAL(got, "{\"type\":\"cmd\",\"device\":\"d\",\"seq\":1}");
    free(got);
    free(env);
    ef_val_unref(v);
}

static void test_proof_and_seal(void)
{
    struct fleet_key k, other;
    fleet_key_generate(&k);
    fleet_key_generate(&other);
    char *pk = fleet_key_pk_b64(&k);
    char *proof = fleet_enrol_proof(&k, "tok-1");
    CU_ASSERT_EQUAL(fleet_enrol_proof_verify("tok-1", pk, proof), 0);
    CU_ASSERT_EQUAL(fleet_enrol_proof_verify("tok-2", pk, proof), EF_EINVAL);
    char *opk = fleet_key_pk_b64(&other);
    CU_ASSERT_EQUAL(fleet_enrol_proof_verify("tok-1", opk, proof), EF_EINVAL);
    CU_ASSERT_EQUAL(fleet_enrol_proof_verify("tok-1", "xx", proof), EF_EINVAL);
    free(proof);
    free(pk);
    free(opk);

    char err[256];
    char *box = fleet_seal(k.pk, "s3cret", 6);
    CU_ASSERT_PTR_NOT_NULL_FATAL(box);
    char *out = NULL;
    size_t ol = 0;
    CU_ASSERT_EQUAL(fleet_unseal(&k, box, &out, &ol, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(ol, 6);
    CU_ASSERT_STRING_EQUAL(out, "s3cret");
    free(out);
    out = NULL;
    CU_ASSERT_EQUAL(fleet_unseal(&other, box, &out, &ol, err, sizeof(err)), EF_EINVAL);
    CU_ASSERT_PTR_NULL(out);
    box[10] = box[10] == 'A' ? 'B' : 'A';
    CU_ASSERT_EQUAL(fleet_unseal(&k, box, &out, &ol, err, sizeof(err)), EF_EINVAL);
    CU_ASSERT_EQUAL(fleet_unseal(&k, "abc", &out, &ol, err, sizeof(err)), EF_EINVAL);
    free(box);
}

static void test_snapshot_id(void)
{
    char id[65], err[256];
    char a[65], b[65], c[65];
    memset(a, 'a', 64);
    memset(b, 'b', 64);
    memset(c, 'c', 64);
    a[64] = b[64] = c[64] = '\0';
    /* vectors: sha256 of the documented text, computed with Python's hashlib */
    struct fleet_file files[] = {{"models/m.onnx", b, 2000}, {"flows.json", a, 10}};
    struct ef_val *env = J("{\"B\":\"x\\\"y\",\"A\":\"1\"}");
    CU_ASSERT_EQUAL(fleet_snapshot_id(files, 2, env, id, err, sizeof(err)), 0);
    CU_ASSERT_STRING_EQUAL(id, "861b5923ebc565f10096e3eaa1e6a39705ce96a3c46439c9257790fe455422a7");
    struct fleet_file one[] = {{"flows.json", c, 5}};
    CU_ASSERT_EQUAL(fleet_snapshot_id(one, 1, NULL, id, err, sizeof(err)), 0);
    CU_ASSERT_STRING_EQUAL(id, "a4deaf87e2ef854cd7a77d8dd8fea9f0edab6c70aa975be146ce3feb233e557e");
    struct ef_val *empty = J("{}");
    char id2[65];
    CU_ASSERT_EQUAL(fleet_snapshot_id(one, 1, empty, id2, err, sizeof(err)), 0);
    CU_ASSERT_STRING_EQUAL(id, id2);
    ef_val_unref(empty);
    /* refused: bad path, bad hash, duplicate, non-string env */
    struct fleet_file badp[] = {{"../x", a, 1}};
    CU_ASSERT_EQUAL(fleet_snapshot_id(badp, 1, NULL, id, err, sizeof(err)), EF_EINVAL);
    struct fleet_file badh[] = {{"x", "ABC", 1}};
    CU_ASSERT_EQUAL(fleet_snapshot_id(badh, 1, NULL, id, err, sizeof(err)), EF_EINVAL);
    struct fleet_file dup[] = {{"x", a, 1}, {"x", b, 1}};
    CU_ASSERT_EQUAL(fleet_snapshot_id(dup, 2, NULL, id, err, sizeof(err)), EF_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "twice"));
    struct ef_val *numenv = J("{\"A\":1}");
    CU_ASSERT_EQUAL(fleet_snapshot_id(one, 1, numenv, id, err, sizeof(err)), EF_EINVAL);
    ef_val_unref(numenv);
    char *canon = fleet_env_canonical(env, err, sizeof(err));
    CU_ASSERT_STRING_EQUAL(canon, "{\"A\":\"1\",\"B\":\"x\\\"y\"}");
    free(canon);
    ef_val_unref(env);
}

static void test_topics(void)
{
    char t[FLEET_MAX_TOPIC], id[FLEET_MAX_ID + 1];
    enum fleet_topic_kind k;
    CU_ASSERT_EQUAL(fleet_topic(t, sizeof(t), "edgeflow/v1", "dev-1", FLEET_TOPIC_DESIRED), 0);
    CU_ASSERT_STRING_EQUAL(t, "edgeflow/v1/d/dev-1/desired");
    CU_ASSERT_EQUAL(fleet_topic_parse(t, "edgeflow/v1", id, &k), 0);
    CU_ASSERT_STRING_EQUAL(id, "dev-1");
    CU_ASSERT_EQUAL(k, FLEET_TOPIC_DESIRED);
    CU_ASSERT_EQUAL(fleet_topic_parse("edgeflow/v1/d/dev-2/hb", "edgeflow/v1", id, &k), 0);
    CU_ASSERT_EQUAL(k, FLEET_TOPIC_HB);
    CU_ASSERT_EQUAL(fleet_topic_parse("edgeflow/v2/d/dev-2/hb", "edgeflow/v1", id, &k), EF_EINVAL);
    CU_ASSERT_EQUAL(fleet_topic_parse("edgeflow/v1/d/Dev/hb", "edgeflow/v1", id, &k), EF_EINVAL);
    CU_ASSERT_EQUAL(fleet_topic_parse("edgeflow/v1/d/dev/hb/x", "edgeflow/v1", id, &k), EF_EINVAL);
    CU_ASSERT_EQUAL(fleet_topic_parse("edgeflow/v1/d//hb", "edgeflow/v1", id, &k), EF_EINVAL);
    CU_ASSERT_EQUAL(fleet_topic(t, sizeof(t), "edgeflow/v1", "a/b", FLEET_TOPIC_STATE), EF_EINVAL);
    CU_ASSERT_EQUAL(fleet_topic(t, sizeof(t), "p/#", "a", FLEET_TOPIC_STATE), EF_EINVAL);
    CU_ASSERT_EQUAL(fleet_topic(t, 10, "edgeflow/v1", "dev", FLEET_TOPIC_STATE), EF_ERANGE);
    CU_ASSERT_EQUAL(fleet_topic_filter(t, sizeof(t), "x", FLEET_TOPIC_HB), 0);
    CU_ASSERT_STRING_EQUAL(t, "x/d/+/hb");
    CU_ASSERT_EQUAL(fleet_topic_manager(t, sizeof(t), "x"), 0);
    CU_ASSERT_STRING_EQUAL(t, "x/manager");
}

static const char *desired_fmt =
    "{\"type\":\"desired\",\"device\":\"%s\",\"seq\":%s,\"ts\":1795000000000,"
    "\"snapshot\":{\"id\":\"%s\",\"version\":3,\"group\":\"g\",\"description\":\"d\","
    "\"files\":[{\"path\":\"%s\",\"sha256\":\"%s\",\"size\":5}]},"
    "\"env\":%s,\"health\":{\"seconds\":2,\"maxErrors\":1},\"heartbeat\":5,"
    "\"filesUrl\":\"http://127.0.0.1:1/f/\",\"rollout\":null}";

static int read_desired(const char *device, const char *seq, const char *path, const char *env,
                        const char *for_dev, struct fleet_desired *d, char *err)
{
    char id[65], c[65], text[2048];
    memset(c, 'c', 64);
    c[64] = '\0';
    struct fleet_file f = {path, c, 5};
    struct ef_val *e = J(env);
    if (fleet_snapshot_id(&f, 1, e, id, err, 256) != 0) {
        memset(id, '0', 64);
        id[64] = '\0';
    }
    ef_val_unref(e);
    snprintf(text, sizeof(text), desired_fmt, device, seq, id, path, c, env);
    const char *type = NULL;
    struct ef_val *doc = fleet_doc_parse(text, strlen(text), FLEET_MAX_DESIRED, &type, err, 256);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    CU_ASSERT_STRING_EQUAL(type, "desired");
    int rc = fleet_desired_read(doc, for_dev, d, err, 256);
    if (rc == 0) {
        CU_ASSERT_EQUAL(fleet_desired_check_id(d, err, 256), 0);
        CU_ASSERT_EQUAL(d->nfiles, 1);
        CU_ASSERT_EQUAL(d->files[0].size, 5);
        CU_ASSERT_EQUAL(d->heartbeat, 5);
        CU_ASSERT_EQUAL(d->health_max_errors, 1);
        CU_ASSERT_DOUBLE_EQUAL(d->health_seconds, 2, 1e-9);
        CU_ASSERT_PTR_NULL(d->rollout);
        CU_ASSERT_STRING_EQUAL(d->files_url, "http://127.0.0.1:1/f/");
        fleet_desired_clear(d);
    }
    ef_val_unref(doc);
    return rc;
}

static void test_desired(void)
{
    struct fleet_desired d;
    char err[256];
    CU_ASSERT_EQUAL(read_desired("dev-1", "12", "flows.json", "{\"A\":\"1\"}", "dev-1", &d, err),
                    0);
    CU_ASSERT_EQUAL(read_desired("dev-1", "12", "flows.json", "{}", NULL, &d, err), 0);
    /* another device's document */
    CU_ASSERT_EQUAL(read_desired("dev-1", "12", "flows.json", "{}", "dev-2", &d, err), EF_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "dev-2"));
    /* seq: zero, negative, fractional, too large, a string */
    const char *badseq[] = {"0", "-1", "1.5", "9007199254740993", "\"3\""};
    for (size_t i = 0; i < sizeof(badseq) / sizeof(badseq[0]); i++) {
        CU_ASSERT_EQUAL(read_desired("dev-1", badseq[i], "flows.json", "{}", "dev-1", &d, err),
                        EF_EINVAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "seq"));
    }
    /* a path escaping the snapshot dir */
    CU_ASSERT_EQUAL(read_desired("dev-1", "1", "../flows.json", "{}", "dev-1", &d, err), EF_EINVAL);
    /* no flows.json */
    CU_ASSERT_EQUAL(read_desired("dev-1", "1", "other.json", "{}", "dev-1", &d, err), EF_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "flows.json"));
    /* env with a number */
    CU_ASSERT_EQUAL(read_desired("dev-1", "1", "flows.json", "{\"A\":2}", "dev-1", &d, err),
                    EF_EINVAL);
    /* an id that does not match the files */
    const char *type;
    char text[2048], c[65], wrong[65];
    memset(c, 'c', 64);
    memset(wrong, 'e', 64);
    c[64] = wrong[64] = '\0';
    snprintf(text, sizeof(text), desired_fmt, "dev-1", "1", wrong, "flows.json", c, "{}");
    struct ef_val *doc = fleet_doc_parse(text, strlen(text), FLEET_MAX_DESIRED, &type, err, 256);
    CU_ASSERT_EQUAL(fleet_desired_read(doc, "dev-1", &d, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(fleet_desired_check_id(&d, err, sizeof(err)), EF_EINVAL);
    fleet_desired_clear(&d);
    /* device overrides: the id is the one of snapshot.env, env is what the device runs */
    {
        struct fleet_file f = {"flows.json", c, 5};
        struct ef_val *senv = J("{\"A\":\"1\"}");
        char sid[65];
        CU_ASSERT_EQUAL(fleet_snapshot_id(&f, 1, senv, sid, err, sizeof(err)), 0);
        ef_val_unref(senv);
        char t2[2048];
        snprintf(t2, sizeof(t2),
                 "{\"type\":\"desired\",\"device\":\"dev-1\",\"seq\":4,\"snapshot\":{\"id\":"
                 "\"%s\",\"files\":[{\"path\":\"flows.json\",\"sha256\":\"%s\",\"size\":5}],"
                 "\"env\":{\"A\":\"1\"}},\"env\":{\"A\":\"1\",\"B\":\"2\"}}",
                 sid, c);
        struct ef_val *d2 = fleet_doc_parse(t2, strlen(t2), FLEET_MAX_DESIRED, &type, err, 256);
        CU_ASSERT_EQUAL(fleet_desired_read(d2, "dev-1", &d, err, sizeof(err)), 0);
        CU_ASSERT_EQUAL(fleet_desired_check_id(&d, err, sizeof(err)), 0);
        CU_ASSERT_EQUAL(ef_val_obj_len(d.env), 2);
        CU_ASSERT_EQUAL(d.heartbeat, 10);
        CU_ASSERT_DOUBLE_EQUAL(d.health_seconds, 10, 1e-9);
        fleet_desired_clear(&d);
        ef_val_unref(d2);
    }
    /* revoked is not desired */
    struct fleet_revoked r;
    CU_ASSERT_EQUAL(fleet_revoked_read(doc, "dev-1", &r, err, sizeof(err)), EF_EINVAL);
    ef_val_unref(doc);
    doc = J("{\"type\":\"revoked\",\"device\":\"dev-1\",\"seq\":13,\"ts\":5}");
    CU_ASSERT_EQUAL(fleet_revoked_read(doc, "dev-1", &r, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(r.seq, 13);
    CU_ASSERT_EQUAL(fleet_revoked_read(doc, "dev-2", &r, err, sizeof(err)), EF_EINVAL);
    CU_ASSERT_EQUAL(fleet_desired_read(doc, "dev-1", &d, err, sizeof(err)), EF_EINVAL);
    ef_val_unref(doc);
    /* size limit and not-JSON */
    CU_ASSERT_PTR_NULL(fleet_doc_parse(text, strlen(text), 100, &type, err, sizeof(err)));
    CU_ASSERT_PTR_NULL(fleet_doc_parse("{\"type\":", 8, 100, &type, err, sizeof(err)));
    CU_ASSERT_PTR_NULL(fleet_doc_parse("{\"type\":1}", 10, 100, &type, err, sizeof(err)));
}

static void test_cmd(void)
{
    char err[256];
    struct fleet_cmd c;
    struct ef_val *doc = J("{\"type\":\"cmd\",\"device\":\"d1\",\"seq\":3,\"id\":\"c-1\","
                           "\"cmd\":\"logs\",\"args\":{\"lines\":20}}");
    CU_ASSERT_EQUAL(fleet_cmd_read(doc, "d1", &c, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(c.cmd, FLEET_CMD_LOGS);
    CU_ASSERT_EQUAL(c.lines, 20);
    CU_ASSERT_STRING_EQUAL(c.id, "c-1");
    CU_ASSERT_EQUAL(fleet_cmd_read(doc, "d2", &c, err, sizeof(err)), EF_EINVAL);
    ef_val_unref(doc);
    doc = J("{\"type\":\"cmd\",\"device\":\"d1\",\"seq\":3,\"id\":\"c-1\",\"cmd\":\"logs\"}");
    CU_ASSERT_EQUAL(fleet_cmd_read(doc, "d1", &c, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(c.lines, 100);
    ef_val_unref(doc);
    doc = J("{\"type\":\"cmd\",\"device\":\"d1\",\"seq\":3,\"id\":\"c-1\","
            "\"cmd\":\"logs\",\"args\":{\"lines\":1001}}");
    CU_ASSERT_EQUAL(fleet_cmd_read(doc, "d1", &c, err, sizeof(err)), EF_EINVAL);
    ef_val_unref(doc);
    doc = J("{\"type\":\"cmd\",\"device\":\"d1\",\"seq\":3,\"id\":\"c-1\",\"cmd\":\"rm\"}");
    CU_ASSERT_EQUAL(fleet_cmd_read(doc, "d1", &c, err, sizeof(err)), EF_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown"));
    ef_val_unref(doc);
}

static void test_reports(void)
{
    char err[256];
    char snap[65];
    memset(snap, 'f', 64);
    snap[64] = '\0';
    struct fleet_state s = {.device = "dev-1",
                            .online = true,
                            .ts = 1795000000000ull,
                            .version = "0.1.0",
                            .snapshot = snap,
                            .health = "healthy",
                            .has_result = true,
                            .result_seq = 12,
                            .result_snapshot = snap,
                            .result_status = "applied"};
    size_t len;
    char *t = fleet_state_json(&s, &len);
    const char *type;
    struct ef_val *doc = fleet_doc_parse(t, len, FLEET_MAX_MSG, &type, err, sizeof(err));
    struct fleet_state s2;
    CU_ASSERT_EQUAL(fleet_state_read(doc, "dev-1", &s2, err, sizeof(err)), 0);
    CU_ASSERT_TRUE(s2.online);
    CU_ASSERT_EQUAL(s2.ts, 1795000000000ull);
    CU_ASSERT_STRING_EQUAL(s2.snapshot, snap);
    CU_ASSERT_STRING_EQUAL(s2.result_status, "applied");
    CU_ASSERT_EQUAL(s2.result_seq, 12);
    CU_ASSERT_PTR_NULL(s2.result_reason);
    CU_ASSERT_EQUAL(fleet_state_read(doc, "dev-9", &s2, err, sizeof(err)), EF_EINVAL);
    ef_val_unref(doc);
    free(t);
    doc = J("{\"type\":\"state\",\"device\":\"d\",\"online\":true,\"health\":\"great\"}");
    CU_ASSERT_EQUAL(fleet_state_read(doc, NULL, &s2, err, sizeof(err)), EF_EINVAL);
    ef_val_unref(doc);
    doc = J("{\"type\":\"state\",\"device\":\"d\",\"online\":false,\"snapshot\":null,"
            "\"result\":null}");
    CU_ASSERT_EQUAL(fleet_state_read(doc, NULL, &s2, err, sizeof(err)), 0);
    CU_ASSERT_FALSE(s2.online);
    CU_ASSERT_FALSE(s2.has_result);
    CU_ASSERT_STRING_EQUAL(s2.health, "none");
    ef_val_unref(doc);

    struct fleet_hb h = {.device = "dev-1",
                         .ts = 5,
                         .uptime = 7,
                         .snapshot = NULL,
                         .health = "starting",
                         .cpu = 1.234,
                         .rss = 4800000,
                         .msgs = 9,
                         .errors = 1};
    t = fleet_hb_json(&h, &len);
    doc = fleet_doc_parse(t, len, FLEET_MAX_MSG, &type, err, sizeof(err));
    struct fleet_hb h2;
    CU_ASSERT_EQUAL(fleet_hb_read(doc, "dev-1", &h2, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(h2.rss, 4800000);
    CU_ASSERT_DOUBLE_EQUAL(h2.cpu, 1.23, 1e-9);
    CU_ASSERT_PTR_NULL(h2.snapshot);
    ef_val_unref(doc);
    free(t);
    doc = J("{\"type\":\"hb\",\"device\":\"d\",\"cpu\":-1}");
    CU_ASSERT_EQUAL(fleet_hb_read(doc, NULL, &h2, err, sizeof(err)), EF_EINVAL);
    ef_val_unref(doc);

    struct ef_val *res = J("{\"lines\":[\"a\"]}");
    struct fleet_resp r = {.device = "dev-1", .id = "c-1", .ok = true, .result = res};
    t = fleet_resp_json(&r, &len);
    CU_ASSERT_STRING_EQUAL(t, "{\"type\":\"resp\",\"device\":\"dev-1\",\"id\":\"c-1\",\"ok\":true,"
                              "\"result\":{\"lines\":[\"a\"]}}");
    doc = fleet_doc_parse(t, len, FLEET_MAX_MSG, &type, err, sizeof(err));
    struct fleet_resp r2;
    CU_ASSERT_EQUAL(fleet_resp_read(doc, "dev-1", &r2, err, sizeof(err)), 0);
    CU_ASSERT_TRUE(r2.ok);
    ef_val_unref(doc);
    free(t);
    ef_val_unref(res);
    doc = J("{\"type\":\"resp\",\"device\":\"d\",\"id\":\"x\",\"ok\":false}");
    CU_ASSERT_EQUAL(fleet_resp_read(doc, NULL, &r2, err, sizeof(err)), EF_EINVAL);
    ef_val_unref(doc);
}

int init_fleet_proto_tests(void)
{
    CU_pSuite s = CU_add_suite("fleet_proto", NULL, NULL);
    if (!s || !CU_add_test(s, "keys", test_keys) || !CU_add_test(s, "b64", test_b64) ||
        !CU_add_test(s, "names", test_names) || !CU_add_test(s, "envelope", test_envelope) ||
        !CU_add_test(s, "proof_and_seal", test_proof_and_seal) ||
        !CU_add_test(s, "snapshot_id", test_snapshot_id) ||
        !CU_add_test(s, "topics", test_topics) || !CU_add_test(s, "desired", test_desired) ||
        !CU_add_test(s, "cmd", test_cmd) || !CU_add_test(s, "reports", test_reports)) {
        return CU_get_error();
    }
    return 0;
}
