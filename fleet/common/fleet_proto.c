/*
 * fleet_proto.c - the fleet protocol's data rules (docs/fleet-protocol.md):
 * key files, signed envelopes, enrolment proofs, sealed secrets, snapshot
 * ids, topic names and the validation of every document. See fleet_proto.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "fleet_proto.h"
#include "strbuf.h"

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int fleet_proto_init(void)
{
    return sodium_init() < 0 ? EF_EUNSUPP : 0;
}

/* ---- Files ---- */

int fleet_write_atomic(const char *path, const void *data, size_t len, int mode, char *err,
                       size_t errlen)
{
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 5);
    if (!tmp) {
        seterr(err, errlen, "out of memory");
        return EF_ENOMEM;
    }
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", 5);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        seterr(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        return EF_EIO;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            seterr(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            free(tmp);
            return EF_EIO;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fchmod(fd, (mode_t)mode) != 0 || fsync(fd) != 0 || close(fd) != 0) {
        seterr(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        unlink(tmp);
        free(tmp);
        return EF_EIO;
    }
    if (rename(tmp, path) != 0) {
        seterr(err, errlen, "cannot rename %s: %s", tmp, strerror(errno));
        unlink(tmp);
        free(tmp);
        return EF_EIO;
    }
    /* the rename itself is durable once the directory is synced */
    char *dir = strdup(path);
    if (dir) {
        int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    free(tmp);
    return 0;
}

/* ---- Encodings ---- */

char *fleet_b64_encode(const void *data, size_t len)
{
    size_t n = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    char *out = malloc(n);
    if (!out) {
        return NULL;
    }
    sodium_bin2base64(out, n, data, len, sodium_base64_VARIANT_ORIGINAL);
    return out;
}

int fleet_b64_decode(const char *s, size_t slen, uint8_t *out, size_t cap, size_t *outlen)
{
    size_t n = 0;
    const char *end = NULL;
    if (slen % 4 != 0) {
        return EF_EINVAL;
    }
    if (slen / 4 * 3 > cap + 2) {
        return EF_ERANGE;
    }
    if (sodium_base642bin(out, cap, s, slen, NULL, &n, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != s + slen) {
        return slen / 4 * 3 > cap ? EF_ERANGE : EF_EINVAL;
    }
    *outlen = n;
    return 0;
}

void fleet_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(md, data, len);
    sodium_bin2hex(out, 65, md, sizeof(md));
}

bool fleet_sha256_valid(const char *s)
{
    if (!s) {
        return false;
    }
    for (int i = 0; i < 64; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return s[64] == '\0';
}

bool fleet_device_id_valid(const char *id)
{
    if (!id || !((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= '0' && id[0] <= '9'))) {
        return false;
    }
    size_t i = 1;
    for (; id[i]; i++) {
        char c = id[i];
        if (i >= FLEET_MAX_ID ||
            !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}

bool fleet_path_valid(const char *path)
{
    if (!path || !*path || strlen(path) > FLEET_MAX_PATH) {
        return false;
    }
    const char *seg = path;
    for (const char *p = path;; p++) {
        char c = *p;
        if (c == '/' || c == '\0') {
            size_t n = (size_t)(p - seg);
            if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.')) {
                return false;
            }
            if (c == '\0') {
                return true;
            }
            seg = p + 1;
        } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '.' || c == '_' || c == '-')) {
            return false;
        }
    }
}

/* ---- Keys ---- */

int fleet_key_generate(struct fleet_key *k)
{
    if (fleet_proto_init() != 0) {
        return EF_EUNSUPP;
    }
    crypto_sign_keypair(k->pk, k->sk);
    return 0;
}

char *fleet_key_pk_b64(const struct fleet_key *k)
{
    return fleet_b64_encode(k->pk, sizeof(k->pk));
}

int fleet_key_load(const char *path, bool create, struct fleet_key *k, bool *created, char *err,
                   size_t errlen)
{
    if (created) {
        *created = false;
    }
    if (fleet_proto_init() != 0) {
        seterr(err, errlen, "libsodium cannot start");
        return EF_EUNSUPP;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if (!create) {
            seterr(err, errlen, "%s does not exist", path);
            return EF_ENOENT;
        }
        fleet_key_generate(k);
        char *b = fleet_b64_encode(k->sk, sizeof(k->sk));
        if (!b) {
            seterr(err, errlen, "out of memory");
            return EF_ENOMEM;
        }
        size_t bl = strlen(b);
        b[bl] = '\n';
        int rc = fleet_write_atomic(path, b, bl + 1, 0600, err, errlen);
        sodium_memzero(b, bl);
        free(b);
        if (rc == 0 && created) {
            *created = true;
        }
        return rc;
    }
    if (fd < 0) {
        seterr(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return EF_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
        seterr(err, errlen, "%s: a key file must be readable by its owner only (mode 0600)", path);
        close(fd);
        return EF_EIO;
    }
    char buf[256];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0) {
        seterr(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return EF_EIO;
    }
    size_t len = (size_t)n;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ')) {
        len--;
    }
    size_t got = 0;
    if (fleet_b64_decode(buf, len, k->sk, sizeof(k->sk), &got) != 0 || got != sizeof(k->sk)) {
        sodium_memzero(buf, sizeof(buf));
        seterr(err, errlen, "%s: not an ed25519 key file (base64 of 64 bytes)", path);
        return EF_EPARSE;
    }
    sodium_memzero(buf, sizeof(buf));
    crypto_sign_ed25519_sk_to_pk(k->pk, k->sk);
    /* the seed must give the public half stored with it */
    uint8_t pk2[FLEET_PK_BYTES], sk2[FLEET_SK_BYTES], seed[crypto_sign_SEEDBYTES];
    crypto_sign_ed25519_sk_to_seed(seed, k->sk);
    crypto_sign_seed_keypair(pk2, sk2, seed);
    bool same = sodium_memcmp(pk2, k->pk, sizeof(pk2)) == 0;
    sodium_memzero(sk2, sizeof(sk2));
    sodium_memzero(seed, sizeof(seed));
    if (!same) {
        seterr(err, errlen, "%s: the key's public half does not match its seed", path);
        return EF_EPARSE;
    }
    return 0;
}

/* ---- Signed envelopes ---- */

char *fleet_envelope_sign(const struct fleet_key *k, const char *doc, size_t len, size_t *outlen)
{
    uint8_t sig[FLEET_SIG_BYTES];
    crypto_sign_detached(sig, NULL, (const unsigned char *)doc, len, k->sk);
    char *sb = fleet_b64_encode(sig, sizeof(sig));
    struct ef_val *env = ef_val_obj();
    struct ef_val *s = ef_val_strn(doc, len);
    char *text = NULL;
    if (sb && env && s && ef_val_obj_set_take(env, "v", ef_val_num(1)) == 0 &&
        ef_val_obj_set_take(env, "signed", s) == 0) {
        s = NULL;
        if (ef_val_obj_set_take(env, "sig", ef_val_str(sb)) == 0) {
            text = ef_json_print(env, 0, outlen);
        }
    }
    ef_val_unref(s);
    ef_val_unref(env);
    free(sb);
    return text;
}

char *fleet_envelope_sign_val(const struct fleet_key *k, const struct ef_val *doc, size_t *outlen)
{
    size_t len;
    char *text = ef_json_print(doc, 0, &len);
    if (!text) {
        return NULL;
    }
    char *env = fleet_envelope_sign(k, text, len, outlen);
    free(text);
    return env;
}

char *fleet_envelope_open(const uint8_t pk[FLEET_PK_BYTES], const char *payload, size_t len,
                          size_t max, size_t *doclen, char *err, size_t errlen)
{
    char perr[160];
    if (len > max) {
        seterr(err, errlen, "envelope of %zu bytes is larger than %zu", len, max);
        return NULL;
    }
    struct ef_val *env = ef_json_parse(payload, len, perr, sizeof(perr));
    if (!env) {
        seterr(err, errlen, "envelope is not JSON: %s", perr);
        return NULL;
    }
    char *out = NULL;
    const struct ef_val *v = ef_val_obj_get(env, "v");
    const struct ef_val *s = ef_val_obj_get(env, "signed");
    const struct ef_val *sig = ef_val_obj_get(env, "sig");
    uint8_t sigbin[FLEET_SIG_BYTES + 3];
    size_t siglen = 0;
    if (ef_val_type(env) != EF_OBJ) {
        seterr(err, errlen, "envelope is not a JSON object");
    } else if (ef_val_type(v) != EF_NUM || ef_val_num_get(v) != 1) {
        seterr(err, errlen, "envelope version is not 1");
    } else if (ef_val_type(s) != EF_STR) {
        seterr(err, errlen, "envelope has no string 'signed'");
    } else if (ef_val_type(sig) != EF_STR ||
               fleet_b64_decode(ef_val_str_get(sig), ef_val_str_len(sig), sigbin, sizeof(sigbin),
                                &siglen) != 0 ||
               siglen != FLEET_SIG_BYTES) {
        seterr(err, errlen, "envelope 'sig' is not a base64 ed25519 signature");
    } else if (crypto_sign_verify_detached(sigbin, (const unsigned char *)ef_val_str_get(s),
                                           ef_val_str_len(s), pk) != 0) {
        seterr(err, errlen, "signature does not verify with the manager's key");
    } else {
        size_t n = ef_val_str_len(s);
        out = malloc(n + 1);
        if (!out) {
            seterr(err, errlen, "out of memory");
        } else {
            memcpy(out, ef_val_str_get(s), n);
            out[n] = '\0';
            if (doclen) {
                *doclen = n;
            }
        }
    }
    ef_val_unref(env);
    return out;
}

/* ---- Enrolment proof ---- */

static char *proof_text(const char *token, const char *pk_b64, size_t *len)
{
    size_t n = strlen("edgeflow-enrol:") + strlen(token) + 1 + strlen(pk_b64);
    char *t = malloc(n + 1);
    if (t) {
        snprintf(t, n + 1, "edgeflow-enrol:%s:%s", token, pk_b64);
        *len = n;
    }
    return t;
}

char *fleet_enrol_proof(const struct fleet_key *k, const char *token)
{
    char *pk = fleet_key_pk_b64(k);
    size_t n = 0;
    char *t = pk ? proof_text(token, pk, &n) : NULL;
    char *out = NULL;
    if (t) {
        uint8_t sig[FLEET_SIG_BYTES];
        crypto_sign_detached(sig, NULL, (const unsigned char *)t, n, k->sk);
        out = fleet_b64_encode(sig, sizeof(sig));
    }
    free(t);
    free(pk);
    return out;
}

int fleet_enrol_proof_verify(const char *token, const char *pk_b64, const char *proof_b64)
{
    uint8_t pk[FLEET_PK_BYTES + 3], sig[FLEET_SIG_BYTES + 3];
    size_t pkl = 0, sigl = 0;
    if (!token || !pk_b64 || !proof_b64 || fleet_proto_init() != 0 ||
        fleet_b64_decode(pk_b64, strlen(pk_b64), pk, sizeof(pk), &pkl) != 0 ||
        pkl != FLEET_PK_BYTES ||
        fleet_b64_decode(proof_b64, strlen(proof_b64), sig, sizeof(sig), &sigl) != 0 ||
        sigl != FLEET_SIG_BYTES) {
        return EF_EINVAL;
    }
    size_t n = 0;
    char *t = proof_text(token, pk_b64, &n);
    if (!t) {
        return EF_ENOMEM;
    }
    int ok = crypto_sign_verify_detached(sig, (const unsigned char *)t, n, pk);
    free(t);
    return ok == 0 ? 0 : EF_EINVAL;
}

/* ---- Sealed secrets ---- */

char *fleet_seal(const uint8_t ed_pk[FLEET_PK_BYTES], const void *secret, size_t len)
{
    uint8_t xpk[crypto_box_PUBLICKEYBYTES];
    if (fleet_proto_init() != 0 || crypto_sign_ed25519_pk_to_curve25519(xpk, ed_pk) != 0) {
        return NULL;
    }
    uint8_t *box = malloc(len + crypto_box_SEALBYTES);
    if (!box) {
        return NULL;
    }
    char *out = NULL;
    if (crypto_box_seal(box, secret, len, xpk) == 0) {
        out = fleet_b64_encode(box, len + crypto_box_SEALBYTES);
    }
    free(box);
    return out;
}

int fleet_unseal(const struct fleet_key *k, const char *b64, char **out, size_t *outlen, char *err,
                 size_t errlen)
{
    size_t bl = strlen(b64);
    size_t cap = bl / 4 * 3 + 3;
    uint8_t *box = malloc(cap);
    if (!box) {
        seterr(err, errlen, "out of memory");
        return EF_ENOMEM;
    }
    size_t n = 0;
    if (fleet_b64_decode(b64, bl, box, cap, &n) != 0 || n < crypto_box_SEALBYTES) {
        free(box);
        seterr(err, errlen, "sealed secret is not base64 of a sealed box");
        return EF_EINVAL;
    }
    uint8_t xpk[crypto_box_PUBLICKEYBYTES], xsk[crypto_box_SECRETKEYBYTES];
    if (crypto_sign_ed25519_pk_to_curve25519(xpk, k->pk) != 0 ||
        crypto_sign_ed25519_sk_to_curve25519(xsk, k->sk) != 0) {
        free(box);
        seterr(err, errlen, "device key cannot be converted for sealed boxes");
        return EF_EINVAL;
    }
    size_t ml = n - crypto_box_SEALBYTES;
    char *m = malloc(ml + 1);
    if (!m) {
        sodium_memzero(xsk, sizeof(xsk));
        free(box);
        seterr(err, errlen, "out of memory");
        return EF_ENOMEM;
    }
    int rc = crypto_box_seal_open((unsigned char *)m, box, n, xpk, xsk);
    sodium_memzero(xsk, sizeof(xsk));
    free(box);
    if (rc != 0) {
        free(m);
        seterr(err, errlen, "sealed secret does not open with this device's key");
        return EF_EINVAL;
    }
    m[ml] = '\0';
    *out = m;
    if (outlen) {
        *outlen = ml;
    }
    return 0;
}

/* ---- Snapshots ---- */

struct keyref {
    const char *key;
    size_t klen;
    const struct ef_val *val;
};

static int keyref_cmp(const void *a, const void *b)
{
    const struct keyref *x = a, *y = b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->key, y->key, n);
    if (c != 0) {
        return c;
    }
    return x->klen < y->klen ? -1 : x->klen > y->klen;
}

/* Appends JSON text of a string (escaped by the runtime's printer). */
static void json_str_add(struct strbuf *b, const char *s, size_t n)
{
    struct ef_val *v = ef_val_strn(s, n);
    size_t tl = 0;
    char *t = v ? ef_json_print(v, 0, &tl) : NULL;
    ef_val_unref(v);
    if (!t) {
        b->oom = true;
        return;
    }
    strbuf__add(b, t, tl);
    free(t);
}

static void canonical_env_add(struct strbuf *b, const struct ef_val *env)
{
    size_t n = ef_val_obj_len(env);
    struct keyref *ks = n ? calloc(n, sizeof(*ks)) : NULL;
    if (n && !ks) {
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        ks[i].key = ef_val_obj_key_at(env, i, &ks[i].klen);
        ks[i].val = ef_val_obj_val_at(env, i);
    }
    if (n > 1) {
        qsort(ks, n, sizeof(*ks), keyref_cmp);
    }
    strbuf__add(b, "{", 1);
    for (size_t i = 0; i < n; i++) {
        if (i) {
            strbuf__add(b, ",", 1);
        }
        json_str_add(b, ks[i].key, ks[i].klen);
        strbuf__add(b, ":", 1);
        json_str_add(b, ef_val_str_get(ks[i].val), ef_val_str_len(ks[i].val));
    }
    strbuf__add(b, "}", 1);
    free(ks);
}

static int check_env(const struct ef_val *env, char *err, size_t errlen)
{
    if (!env || ef_val_type(env) == EF_NULL) {
        return 0;
    }
    if (ef_val_type(env) != EF_OBJ) {
        seterr(err, errlen, "env is not an object");
        return EF_EINVAL;
    }
    for (size_t i = 0; i < ef_val_obj_len(env); i++) {
        size_t kl;
        const char *key = ef_val_obj_key_at(env, i, &kl);
        if (ef_val_type(ef_val_obj_val_at(env, i)) != EF_STR) {
            seterr(err, errlen, "env.%.*s is not a string", (int)(kl > 64 ? 64 : kl), key);
            return EF_EINVAL;
        }
        if (kl == 0 || memchr(key, '\0', kl) || memchr(key, '=', kl)) {
            seterr(err, errlen, "env has an invalid variable name");
            return EF_EINVAL;
        }
    }
    return 0;
}

char *fleet_env_canonical(const struct ef_val *env, char *err, size_t errlen)
{
    if (check_env(env, err, errlen) != 0) {
        return NULL;
    }
    struct strbuf b = {0};
    canonical_env_add(&b, ef_val_type(env) == EF_OBJ ? env : NULL);
    char *text = strbuf__take(&b, NULL);
    if (!text) {
        seterr(err, errlen, "out of memory");
    }
    return text;
}

static int file_cmp(const void *a, const void *b)
{
    const struct fleet_file *x = *(const struct fleet_file *const *)a;
    const struct fleet_file *y = *(const struct fleet_file *const *)b;
    return strcmp(x->path, y->path);
}

int fleet_snapshot_id(const struct fleet_file *files, size_t n, const struct ef_val *env,
                      char out[65], char *err, size_t errlen)
{
    if (n > FLEET_MAX_FILES) {
        seterr(err, errlen, "%zu files (at most %d)", n, FLEET_MAX_FILES);
        return EF_EINVAL;
    }
    if (check_env(env, err, errlen) != 0) {
        return EF_EINVAL;
    }
    const struct fleet_file **sorted = calloc(n ? n : 1, sizeof(*sorted));
    if (!sorted) {
        seterr(err, errlen, "out of memory");
        return EF_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (!fleet_path_valid(files[i].path)) {
            seterr(err, errlen, "file path '%.*s' is not valid", 80,
                   files[i].path ? files[i].path : "");
            free(sorted);
            return EF_EINVAL;
        }
        if (!fleet_sha256_valid(files[i].sha256)) {
            seterr(err, errlen, "file '%s': sha256 is not 64 lowercase hex digits", files[i].path);
            free(sorted);
            return EF_EINVAL;
        }
        sorted[i] = &files[i];
    }
    qsort(sorted, n, sizeof(*sorted), file_cmp);
    struct strbuf b = {0};
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(sorted[i - 1]->path, sorted[i]->path) == 0) {
            seterr(err, errlen, "file '%s' is listed twice", sorted[i]->path);
            free(sorted);
            free(b.p);
            return EF_EINVAL;
        }
        char line[FLEET_MAX_PATH + 100];
        int ll = snprintf(line, sizeof(line), "%s %llu %s\n", sorted[i]->sha256,
                          (unsigned long long)sorted[i]->size, sorted[i]->path);
        strbuf__add(&b, line, (size_t)ll);
    }
    free(sorted);
    strbuf__add(&b, "env ", 4);
    canonical_env_add(&b, ef_val_type(env) == EF_OBJ ? env : NULL);
    strbuf__add(&b, "\n", 1);
    size_t len;
    char *text = strbuf__take(&b, &len);
    if (!text) {
        seterr(err, errlen, "out of memory");
        return EF_ENOMEM;
    }
    fleet_sha256_hex(text, len, out);
    free(text);
    return 0;
}

/* ---- Topics ---- */

static const char *const kind_names[] = {"desired", "state", "hb", "cmd", "resp"};

const char *fleet_topic_kind_name(enum fleet_topic_kind kind)
{
    return (unsigned)kind < 5 ? kind_names[kind] : "?";
}

static bool prefix_ok(const char *prefix)
{
    return prefix && *prefix && !strpbrk(prefix, "+#");
}

int fleet_topic(char *buf, size_t len, const char *prefix, const char *device,
                enum fleet_topic_kind kind)
{
    if (!prefix_ok(prefix) || !fleet_device_id_valid(device) || (unsigned)kind >= 5) {
        return EF_EINVAL;
    }
    int n = snprintf(buf, len, "%s/d/%s/%s", prefix, device, kind_names[kind]);
    return n < 0 || (size_t)n >= len ? EF_ERANGE : 0;
}

int fleet_topic_manager(char *buf, size_t len, const char *prefix)
{
    if (!prefix_ok(prefix)) {
        return EF_EINVAL;
    }
    int n = snprintf(buf, len, "%s/manager", prefix);
    return n < 0 || (size_t)n >= len ? EF_ERANGE : 0;
}

int fleet_topic_filter(char *buf, size_t len, const char *prefix, enum fleet_topic_kind kind)
{
    if (!prefix_ok(prefix) || (unsigned)kind >= 5) {
        return EF_EINVAL;
    }
    int n = snprintf(buf, len, "%s/d/+/%s", prefix, kind_names[kind]);
    return n < 0 || (size_t)n >= len ? EF_ERANGE : 0;
}

int fleet_topic_parse(const char *topic, const char *prefix, char id[FLEET_MAX_ID + 1],
                      enum fleet_topic_kind *kind)
{
    size_t pl = strlen(prefix);
    if (!topic || strncmp(topic, prefix, pl) != 0 || strncmp(topic + pl, "/d/", 3) != 0) {
        return EF_EINVAL;
    }
    const char *s = topic + pl + 3;
    const char *slash = strchr(s, '/');
    if (!slash || (size_t)(slash - s) > FLEET_MAX_ID || slash == s) {
        return EF_EINVAL;
    }
    memcpy(id, s, (size_t)(slash - s));
    id[slash - s] = '\0';
    if (!fleet_device_id_valid(id)) {
        return EF_EINVAL;
    }
    for (int k = 0; k < 5; k++) {
        if (strcmp(slash + 1, kind_names[k]) == 0) {
            *kind = (enum fleet_topic_kind)k;
            return 0;
        }
    }
    return EF_EINVAL;
}

/* ---- Documents ---- */

struct ef_val *fleet_doc_parse(const char *text, size_t len, size_t max, const char **type,
                               char *err, size_t errlen)
{
    char perr[160];
    if (len > max) {
        seterr(err, errlen, "document of %zu bytes is larger than %zu", len, max);
        return NULL;
    }
    struct ef_val *doc = ef_json_parse(text, len, perr, sizeof(perr));
    if (!doc) {
        seterr(err, errlen, "document is not JSON: %s", perr);
        return NULL;
    }
    const struct ef_val *t = ef_val_obj_get(doc, "type");
    if (ef_val_type(doc) != EF_OBJ || ef_val_type(t) != EF_STR) {
        seterr(err, errlen, "document is not an object with a string 'type'");
        ef_val_unref(doc);
        return NULL;
    }
    *type = ef_val_str_get(t);
    return doc;
}

/* A string member: required or not, null allowed or not, max bytes (no NUL inside). */
static int get_str(const struct ef_val *o, const char *where, const char *key, bool required,
                   bool nullable, size_t max, const char **out, char *err, size_t errlen)
{
    const struct ef_val *v = ef_val_obj_get(o, key);
    *out = NULL;
    if (!v || (nullable && ef_val_type(v) == EF_NULL)) {
        if (required && !v) {
            seterr(err, errlen, "%s: '%s' is missing", where, key);
            return EF_EINVAL;
        }
        return 0;
    }
    if (ef_val_type(v) != EF_STR) {
        seterr(err, errlen, "%s: '%s' is not a string", where, key);
        return EF_EINVAL;
    }
    if (ef_val_str_len(v) > max || strlen(ef_val_str_get(v)) != ef_val_str_len(v)) {
        seterr(err, errlen, "%s: '%s' is longer than %zu bytes or holds a NUL", where, key, max);
        return EF_EINVAL;
    }
    *out = ef_val_str_get(v);
    return 0;
}

/* A non-negative integer member within [min, max]; def when absent and not required. */
static int get_uint(const struct ef_val *o, const char *where, const char *key, bool required,
                    uint64_t def, double min, double max, uint64_t *out, char *err, size_t errlen)
{
    const struct ef_val *v = ef_val_obj_get(o, key);
    if (!v) {
        if (required) {
            seterr(err, errlen, "%s: '%s' is missing", where, key);
            return EF_EINVAL;
        }
        *out = def;
        return 0;
    }
    double d = ef_val_num_get(v);
    if (ef_val_type(v) != EF_NUM || d != floor(d) || d < min || d > max) {
        seterr(err, errlen, "%s: '%s' is not an integer from %.0f to %.0f", where, key, min, max);
        return EF_EINVAL;
    }
    *out = (uint64_t)d;
    return 0;
}

static int check_type_device(const struct ef_val *doc, const char *type, const char *device,
                             const char **out, char *err, size_t errlen)
{
    const struct ef_val *t = ef_val_obj_get(doc, "type");
    if (ef_val_type(doc) != EF_OBJ || ef_val_type(t) != EF_STR ||
        strcmp(ef_val_str_get(t), type) != 0) {
        seterr(err, errlen, "not a '%s' document", type);
        return EF_EINVAL;
    }
    int rc = get_str(doc, type, "device", true, false, FLEET_MAX_ID, out, err, errlen);
    if (rc != 0) {
        return rc;
    }
    if (!fleet_device_id_valid(*out)) {
        seterr(err, errlen, "%s: 'device' is not a valid device id", type);
        return EF_EINVAL;
    }
    if (device && strcmp(device, *out) != 0) {
        seterr(err, errlen, "%s: for device '%s', not '%s'", type, *out, device);
        return EF_EINVAL;
    }
    return 0;
}

static int read_files(const struct ef_val *files, struct fleet_desired *d, char *err, size_t errlen)
{
    size_t n = ef_val_arr_len(files);
    if (ef_val_type(files) != EF_ARR || n == 0 || n > FLEET_MAX_FILES) {
        seterr(err, errlen, "desired: 'snapshot.files' is not an array of 1 to %d files",
               FLEET_MAX_FILES);
        return EF_EINVAL;
    }
    d->files = calloc(n, sizeof(*d->files));
    if (!d->files) {
        seterr(err, errlen, "out of memory");
        return EF_ENOMEM;
    }
    bool flows = false;
    for (size_t i = 0; i < n; i++) {
        const struct ef_val *f = ef_val_arr_at(files, i);
        struct fleet_file *ff = &d->files[i];
        char where[48];
        snprintf(where, sizeof(where), "desired: snapshot.files[%zu]", i);
        if (ef_val_type(f) != EF_OBJ) {
            seterr(err, errlen, "%s is not an object", where);
            return EF_EINVAL;
        }
        int rc = get_str(f, where, "path", true, false, FLEET_MAX_PATH, &ff->path, err, errlen);
        if (rc == 0) {
            rc = get_str(f, where, "sha256", true, false, 64, &ff->sha256, err, errlen);
        }
        if (rc == 0) {
            rc = get_uint(f, where, "size", true, 0, 0, FLEET_MAX_SEQ, &ff->size, err, errlen);
        }
        if (rc != 0) {
            return rc;
        }
        if (!fleet_path_valid(ff->path)) {
            seterr(err, errlen, "%s: path '%s' is not valid", where, ff->path);
            return EF_EINVAL;
        }
        if (!fleet_sha256_valid(ff->sha256)) {
            seterr(err, errlen, "%s: sha256 is not 64 lowercase hex digits", where);
            return EF_EINVAL;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(d->files[j].path, ff->path) == 0) {
                seterr(err, errlen, "%s: path '%s' is listed twice", where, ff->path);
                return EF_EINVAL;
            }
        }
        flows = flows || strcmp(ff->path, "flows.json") == 0;
        d->nfiles = i + 1;
    }
    if (!flows) {
        seterr(err, errlen, "desired: the snapshot has no flows.json");
        return EF_EINVAL;
    }
    return 0;
}

/* A shared immutable {} for absent objects; made once, lives for the process. */
static struct ef_val *empty_obj_val;
static pthread_once_t empty_obj_once = PTHREAD_ONCE_INIT;

static void empty_obj_make(void)
{
    empty_obj_val = ef_val_obj();
}

static const struct ef_val *empty_obj(void)
{
    pthread_once(&empty_obj_once, empty_obj_make);
    return empty_obj_val;
}

static int desired_read(const struct ef_val *doc, const char *device, struct fleet_desired *d,
                        char *err, size_t errlen)
{
    int rc = check_type_device(doc, "desired", device, &d->device, err, errlen);
    if (rc != 0) {
        return rc;
    }
    if ((rc = get_uint(doc, "desired", "seq", true, 0, 1, FLEET_MAX_SEQ, &d->seq, err, errlen)) ||
        (rc = get_uint(doc, "desired", "ts", false, 0, 0, FLEET_MAX_SEQ, &d->ts, err, errlen))) {
        return rc;
    }
    const struct ef_val *snap = ef_val_obj_get(doc, "snapshot");
    if (ef_val_type(snap) != EF_OBJ) {
        seterr(err, errlen, "desired: 'snapshot' is not an object");
        return EF_EINVAL;
    }
    if ((rc = get_str(snap, "desired: snapshot", "id", true, false, 64, &d->snapshot_id, err,
                      errlen)) ||
        (rc = get_uint(snap, "desired: snapshot", "version", false, 0, 0, FLEET_MAX_SEQ,
                       &d->version, err, errlen)) ||
        (rc = get_str(snap, "desired: snapshot", "group", false, true, 256, &d->group, err,
                      errlen)) ||
        (rc = get_str(snap, "desired: snapshot", "description", false, true, 4096, &d->description,
                      err, errlen))) {
        return rc;
    }
    if (!fleet_sha256_valid(d->snapshot_id)) {
        seterr(err, errlen, "desired: 'snapshot.id' is not 64 lowercase hex digits");
        return EF_EINVAL;
    }
    if ((rc = read_files(ef_val_obj_get(snap, "files"), d, err, errlen)) != 0) {
        return rc;
    }
    const struct ef_val *env = ef_val_obj_get(doc, "env");
    if (env && ef_val_type(env) != EF_NULL) {
        if ((rc = check_env(env, err, errlen)) != 0) {
            char e2[200];
            snprintf(e2, sizeof(e2), "desired: %s", err ? err : "bad env");
            seterr(err, errlen, "%s", e2);
            return rc;
        }
        d->env = env;
    } else {
        d->env = empty_obj();
        if (!d->env) {
            seterr(err, errlen, "out of memory");
            return EF_ENOMEM;
        }
    }
    const struct ef_val *senv = ef_val_obj_get(snap, "env");
    d->snapshot_env = d->env;
    if (senv && ef_val_type(senv) != EF_NULL) {
        if ((rc = check_env(senv, err, errlen)) != 0) {
            char e2[200];
            snprintf(e2, sizeof(e2), "desired: snapshot.%s", err ? err : "env is bad");
            seterr(err, errlen, "%s", e2);
            return rc;
        }
        d->snapshot_env = senv;
    }
    if ((rc = get_str(doc, "desired", "credentialSecret", false, true, 8192, &d->credential_secret,
                      err, errlen)) ||
        (rc = get_str(doc, "desired", "filesUrl", false, true, 2048, &d->files_url, err, errlen)) ||
        (rc = get_str(doc, "desired", "rollout", false, true, 256, &d->rollout, err, errlen))) {
        return rc;
    }
    uint64_t hb = 10;
    if ((rc = get_uint(doc, "desired", "heartbeat", false, 10, 1, 86400, &hb, err, errlen))) {
        return rc;
    }
    d->heartbeat = (uint32_t)hb;
    d->health_seconds = 10;
    d->health_max_errors = 0;
    const struct ef_val *h = ef_val_obj_get(doc, "health");
    if (h && ef_val_type(h) != EF_NULL) {
        const struct ef_val *sec = ef_val_obj_get(h, "seconds");
        if (ef_val_type(h) != EF_OBJ) {
            seterr(err, errlen, "desired: 'health' is not an object");
            return EF_EINVAL;
        }
        if (sec) {
            double s = ef_val_num_get(sec);
            if (ef_val_type(sec) != EF_NUM || !(s >= 0 && s <= 86400)) {
                seterr(err, errlen, "desired: 'health.seconds' is not a number from 0 to 86400");
                return EF_EINVAL;
            }
            d->health_seconds = s;
        }
        if ((rc = get_uint(h, "desired: health", "maxErrors", false, 0, 0, FLEET_MAX_SEQ,
                           &d->health_max_errors, err, errlen))) {
            return rc;
        }
    }
    if (d->files_url && strncmp(d->files_url, "http://", 7) != 0 &&
        strncmp(d->files_url, "https://", 8) != 0) {
        seterr(err, errlen, "desired: 'filesUrl' is not an http(s) URL");
        return EF_EINVAL;
    }
    return 0;
}

int fleet_desired_read(const struct ef_val *doc, const char *device, struct fleet_desired *d,
                       char *err, size_t errlen)
{
    memset(d, 0, sizeof(*d));
    int rc = desired_read(doc, device, d, err, errlen);
    if (rc != 0) {
        fleet_desired_clear(d);
    }
    return rc;
}

int fleet_desired_check_id(const struct fleet_desired *d, char *err, size_t errlen)
{
    char id[65];
    int rc = fleet_snapshot_id(d->files, d->nfiles, d->snapshot_env, id, err, errlen);
    if (rc != 0) {
        return rc;
    }
    if (strcmp(id, d->snapshot_id) != 0) {
        seterr(err, errlen, "snapshot id %.12s... does not match its files and env (%.12s...)",
               d->snapshot_id, id);
        return EF_EINVAL;
    }
    return 0;
}

void fleet_desired_clear(struct fleet_desired *d)
{
    free(d->files);
    memset(d, 0, sizeof(*d));
}

int fleet_revoked_read(const struct ef_val *doc, const char *device, struct fleet_revoked *r,
                       char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    int rc = check_type_device(doc, "revoked", device, &r->device, err, errlen);
    if (rc == 0) {
        rc = get_uint(doc, "revoked", "seq", true, 0, 1, FLEET_MAX_SEQ, &r->seq, err, errlen);
    }
    if (rc == 0) {
        rc = get_uint(doc, "revoked", "ts", false, 0, 0, FLEET_MAX_SEQ, &r->ts, err, errlen);
    }
    return rc;
}

int fleet_cmd_read(const struct ef_val *doc, const char *device, struct fleet_cmd *c, char *err,
                   size_t errlen)
{
    memset(c, 0, sizeof(*c));
    const char *cmd = NULL;
    int rc = check_type_device(doc, "cmd", device, &c->device, err, errlen);
    if (rc == 0) {
        rc = get_uint(doc, "cmd", "seq", true, 0, 1, FLEET_MAX_SEQ, &c->seq, err, errlen);
    }
    if (rc == 0) {
        rc = get_str(doc, "cmd", "id", true, false, 64, &c->id, err, errlen);
    }
    if (rc == 0) {
        rc = get_str(doc, "cmd", "cmd", true, false, 32, &cmd, err, errlen);
    }
    if (rc != 0) {
        return rc;
    }
    if (!*c->id) {
        seterr(err, errlen, "cmd: 'id' is empty");
        return EF_EINVAL;
    }
    if (!strcmp(cmd, "restart")) {
        c->cmd = FLEET_CMD_RESTART;
    } else if (!strcmp(cmd, "logs")) {
        c->cmd = FLEET_CMD_LOGS;
    } else if (!strcmp(cmd, "ping")) {
        c->cmd = FLEET_CMD_PING;
    } else {
        seterr(err, errlen, "cmd: unknown command '%.32s'", cmd);
        return EF_EINVAL;
    }
    const struct ef_val *args = ef_val_obj_get(doc, "args");
    if (args && ef_val_type(args) != EF_NULL && ef_val_type(args) != EF_OBJ) {
        seterr(err, errlen, "cmd: 'args' is not an object");
        return EF_EINVAL;
    }
    c->args = ef_val_type(args) == EF_OBJ ? args : empty_obj();
    uint64_t lines = 100;
    if (c->cmd == FLEET_CMD_LOGS && (rc = get_uint(c->args, "cmd: args", "lines", false, 100, 1,
                                                   1000, &lines, err, errlen)) != 0) {
        return rc;
    }
    c->lines = (uint32_t)lines;
    return 0;
}

bool fleet_health_valid(const char *s)
{
    return s && (!strcmp(s, "starting") || !strcmp(s, "healthy") || !strcmp(s, "unhealthy") ||
                 !strcmp(s, "none"));
}

static bool status_valid(const char *s)
{
    return s && (!strcmp(s, "fetching") || !strcmp(s, "applying") || !strcmp(s, "applied") ||
                 !strcmp(s, "rejected") || !strcmp(s, "failed"));
}

static int snapshot_ref(const struct ef_val *o, const char *where, const char *key,
                        const char **out, char *err, size_t errlen)
{
    int rc = get_str(o, where, key, false, true, 64, out, err, errlen);
    if (rc == 0 && *out && !fleet_sha256_valid(*out)) {
        seterr(err, errlen, "%s: '%s' is not a snapshot id", where, key);
        return EF_EINVAL;
    }
    return rc;
}

int fleet_state_read(const struct ef_val *doc, const char *device, struct fleet_state *s, char *err,
                     size_t errlen)
{
    memset(s, 0, sizeof(*s));
    int rc = check_type_device(doc, "state", device, &s->device, err, errlen);
    if (rc != 0) {
        return rc;
    }
    const struct ef_val *on = ef_val_obj_get(doc, "online");
    if (ef_val_type(on) != EF_BOOL) {
        seterr(err, errlen, "state: 'online' is not a boolean");
        return EF_EINVAL;
    }
    s->online = ef_val_bool_get(on);
    if ((rc = get_uint(doc, "state", "ts", false, 0, 0, FLEET_MAX_SEQ, &s->ts, err, errlen)) ||
        (rc = get_str(doc, "state", "version", false, true, 64, &s->version, err, errlen)) ||
        (rc = snapshot_ref(doc, "state", "snapshot", &s->snapshot, err, errlen)) ||
        (rc = get_str(doc, "state", "health", false, true, 16, &s->health, err, errlen))) {
        return rc;
    }
    if (!s->health) {
        s->health = "none";
    } else if (!fleet_health_valid(s->health)) {
        seterr(err, errlen, "state: unknown health '%s'", s->health);
        return EF_EINVAL;
    }
    const struct ef_val *r = ef_val_obj_get(doc, "result");
    if (!r || ef_val_type(r) == EF_NULL) {
        return 0;
    }
    if (ef_val_type(r) != EF_OBJ) {
        seterr(err, errlen, "state: 'result' is not an object");
        return EF_EINVAL;
    }
    s->has_result = true;
    if ((rc = get_uint(r, "state: result", "seq", true, 0, 0, FLEET_MAX_SEQ, &s->result_seq, err,
                       errlen)) ||
        (rc = snapshot_ref(r, "state: result", "snapshot", &s->result_snapshot, err, errlen)) ||
        (rc = get_str(r, "state: result", "status", true, false, 16, &s->result_status, err,
                      errlen)) ||
        (rc = get_str(r, "state: result", "reason", false, true, 1024, &s->result_reason, err,
                      errlen))) {
        return rc;
    }
    if (!status_valid(s->result_status)) {
        seterr(err, errlen, "state: unknown result status '%s'", s->result_status);
        return EF_EINVAL;
    }
    return 0;
}

static struct ef_val *str_or_null(const char *s)
{
    return s ? ef_val_str(s) : ef_val_null();
}

/* Prints o and frees it; NULL when o is NULL or printing fails. */
static char *print_free(struct ef_val *o, bool ok, size_t *len)
{
    char *t = o && ok ? ef_json_print(o, 0, len) : NULL;
    ef_val_unref(o);
    return t;
}

bool fleet_put(struct ef_val *o, const char *key, struct ef_val *v)
{
    if (!v) {
        return false;
    }
    if (ef_val_obj_set_take(o, key, v) != 0) {
        ef_val_unref(v);
        return false;
    }
    return true;
}

char *fleet_state_json(const struct fleet_state *s, size_t *len)
{
    struct ef_val *o = ef_val_obj();
    bool ok = o && fleet_put(o, "type", ef_val_str("state")) &&
              fleet_put(o, "device", ef_val_str(s->device)) &&
              fleet_put(o, "online", ef_val_bool(s->online)) &&
              fleet_put(o, "ts", ef_val_num((double)s->ts)) &&
              fleet_put(o, "version", str_or_null(s->version)) &&
              fleet_put(o, "snapshot", str_or_null(s->snapshot)) &&
              fleet_put(o, "health", ef_val_str(s->health ? s->health : "none"));
    if (ok && s->has_result) {
        struct ef_val *r = ef_val_obj();
        ok = r && fleet_put(r, "seq", ef_val_num((double)s->result_seq)) &&
             fleet_put(r, "snapshot", str_or_null(s->result_snapshot)) &&
             fleet_put(r, "status", ef_val_str(s->result_status ? s->result_status : "rejected")) &&
             fleet_put(r, "reason", str_or_null(s->result_reason));
        ok = ok ? fleet_put(o, "result", r) : (ef_val_unref(r), false);
    } else if (ok) {
        ok = fleet_put(o, "result", ef_val_null());
    }
    return print_free(o, ok, len);
}

int fleet_hb_read(const struct ef_val *doc, const char *device, struct fleet_hb *h, char *err,
                  size_t errlen)
{
    memset(h, 0, sizeof(*h));
    int rc = check_type_device(doc, "hb", device, &h->device, err, errlen);
    if (rc != 0) {
        return rc;
    }
    if ((rc = get_uint(doc, "hb", "ts", false, 0, 0, FLEET_MAX_SEQ, &h->ts, err, errlen)) ||
        (rc = get_uint(doc, "hb", "uptime", false, 0, 0, FLEET_MAX_SEQ, &h->uptime, err, errlen)) ||
        (rc = snapshot_ref(doc, "hb", "snapshot", &h->snapshot, err, errlen)) ||
        (rc = get_str(doc, "hb", "health", false, true, 16, &h->health, err, errlen)) ||
        (rc = get_uint(doc, "hb", "rss", false, 0, 0, FLEET_MAX_SEQ, &h->rss, err, errlen)) ||
        (rc = get_uint(doc, "hb", "msgs", false, 0, 0, FLEET_MAX_SEQ, &h->msgs, err, errlen)) ||
        (rc = get_uint(doc, "hb", "errors", false, 0, 0, FLEET_MAX_SEQ, &h->errors, err, errlen))) {
        return rc;
    }
    if (!h->health) {
        h->health = "none";
    } else if (!fleet_health_valid(h->health)) {
        seterr(err, errlen, "hb: unknown health '%s'", h->health);
        return EF_EINVAL;
    }
    const struct ef_val *cpu = ef_val_obj_get(doc, "cpu");
    if (cpu) {
        double c = ef_val_num_get(cpu);
        if (ef_val_type(cpu) != EF_NUM || !(c >= 0 && c <= 1e6)) {
            seterr(err, errlen, "hb: 'cpu' is not a non-negative number");
            return EF_EINVAL;
        }
        h->cpu = c;
    }
    return 0;
}

char *fleet_hb_json(const struct fleet_hb *h, size_t *len)
{
    struct ef_val *o = ef_val_obj();
    double cpu = round(h->cpu * 100) / 100;
    bool ok = o && fleet_put(o, "type", ef_val_str("hb")) &&
              fleet_put(o, "device", ef_val_str(h->device)) &&
              fleet_put(o, "ts", ef_val_num((double)h->ts)) &&
              fleet_put(o, "uptime", ef_val_num((double)h->uptime)) &&
              fleet_put(o, "snapshot", str_or_null(h->snapshot)) &&
              fleet_put(o, "health", ef_val_str(h->health ? h->health : "none")) &&
              fleet_put(o, "cpu", ef_val_num(cpu)) &&
              fleet_put(o, "rss", ef_val_num((double)h->rss)) &&
              fleet_put(o, "msgs", ef_val_num((double)h->msgs)) &&
              fleet_put(o, "errors", ef_val_num((double)h->errors));
    return print_free(o, ok, len);
}

int fleet_resp_read(const struct ef_val *doc, const char *device, struct fleet_resp *r, char *err,
                    size_t errlen)
{
    memset(r, 0, sizeof(*r));
    int rc = check_type_device(doc, "resp", device, &r->device, err, errlen);
    if (rc == 0) {
        rc = get_str(doc, "resp", "id", true, false, 64, &r->id, err, errlen);
    }
    if (rc != 0) {
        return rc;
    }
    const struct ef_val *ok = ef_val_obj_get(doc, "ok");
    if (ef_val_type(ok) != EF_BOOL) {
        seterr(err, errlen, "resp: 'ok' is not a boolean");
        return EF_EINVAL;
    }
    r->ok = ef_val_bool_get(ok);
    r->result = ef_val_obj_get(doc, "result");
    rc = get_str(doc, "resp", "error", !r->ok, true, 4096, &r->error, err, errlen);
    return rc;
}

char *fleet_resp_json(const struct fleet_resp *r, size_t *len)
{
    struct ef_val *o = ef_val_obj();
    bool ok = o && fleet_put(o, "type", ef_val_str("resp")) &&
              fleet_put(o, "device", ef_val_str(r->device)) &&
              fleet_put(o, "id", ef_val_str(r->id)) && fleet_put(o, "ok", ef_val_bool(r->ok));
    if (ok && r->ok) {
        ok = fleet_put(o, "result",
                       r->result ? ef_val_ref((struct ef_val *)r->result) : ef_val_null());
    } else if (ok) {
        ok = fleet_put(o, "error", ef_val_str(r->error ? r->error : "failed"));
    }
    return print_free(o, ok, len);
}
