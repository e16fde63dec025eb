/*
 * fuzz_fleet_msg.c - what the fleet agent and manager do with a message
 * from the broker (fleet/common/fleet_proto.c). The first byte picks:
 *   0: a signed envelope, opened with a fixed manager key (the seed corpus
 *      is signed with it), then its document parsed as desired, revoked
 *      and cmd, and the snapshot id recomputed;
 *   1: an unsigned document read as every type (desired, revoked, cmd,
 *      state, hb, resp), and state/hb/resp printed back and read again;
 *   2: a topic split and a file path checked, then base64 decoded and
 *      opened as a sealed box with the fixed key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/fleet_proto.h"

static struct fleet_key key;

static void init_key(void)
{
    static int done;
    if (!done) {
        uint8_t seed[32];
        memset(seed, 0x42, sizeof(seed));
        fleet_proto_init();
        crypto_sign_seed_keypair(key.pk, key.sk, seed);
        done = 1;
    }
}

static void read_all(const struct ef_val *doc)
{
    char err[256];
    struct fleet_desired d;
    if (fleet_desired_read(doc, NULL, &d, err, sizeof(err)) == 0) {
        fleet_desired_check_id(&d, err, sizeof(err));
        fleet_desired_clear(&d);
    }
    struct fleet_revoked r;
    fleet_revoked_read(doc, "dev-1", &r, err, sizeof(err));
    struct fleet_cmd c;
    fleet_cmd_read(doc, NULL, &c, err, sizeof(err));
}

static void reports(const struct ef_val *doc)
{
    char err[256];
    size_t len = 0;
    const char *type;
    struct fleet_state s;
    if (fleet_state_read(doc, NULL, &s, err, sizeof(err)) == 0) {
        char *t = fleet_state_json(&s, &len);
        struct ef_val *v =
            t ? fleet_doc_parse(t, len, FLEET_MAX_MSG, &type, err, sizeof(err)) : NULL;
        if (t && (!v || fleet_state_read(v, s.device, &s, err, sizeof(err)) != 0)) {
            abort(); /* what we print must read back */
        }
        ef_val_unref(v);
        free(t);
    }
    struct fleet_hb h;
    if (fleet_hb_read(doc, NULL, &h, err, sizeof(err)) == 0) {
        char *t = fleet_hb_json(&h, &len);
        struct ef_val *v =
            t ? fleet_doc_parse(t, len, FLEET_MAX_MSG, &type, err, sizeof(err)) : NULL;
        if (t && (!v || fleet_hb_read(v, h.device, &h, err, sizeof(err)) != 0)) {
            abort();
        }
        ef_val_unref(v);
        free(t);
    }
    struct fleet_resp r;
    if (fleet_resp_read(doc, NULL, &r, err, sizeof(err)) == 0) {
        free(fleet_resp_json(&r, &len));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    init_key();
    int mode = data[0] % 3;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    char err[256];
    const char *type;
    if (mode == 0) {
        size_t dl = 0;
        char *doc =
            fleet_envelope_open(key.pk, text, len, FLEET_MAX_DESIRED, &dl, err, sizeof(err));
        struct ef_val *v =
            doc ? fleet_doc_parse(doc, dl, FLEET_MAX_DESIRED, &type, err, sizeof(err)) : NULL;
        if (v) {
            read_all(v);
        }
        ef_val_unref(v);
        free(doc);
    } else if (mode == 1) {
        struct ef_val *v = fleet_doc_parse(text, len, FLEET_MAX_DESIRED, &type, err, sizeof(err));
        if (v) {
            read_all(v);
            reports(v);
        }
        ef_val_unref(v);
    } else {
        char *s = malloc(len + 1);
        if (!s) {
            return 0;
        }
        memcpy(s, text, len);
        s[len] = '\0';
        char id[FLEET_MAX_ID + 1];
        enum fleet_topic_kind k;
        fleet_topic_parse(s, FLEET_DEFAULT_PREFIX, id, &k);
        fleet_path_valid(s);
        fleet_device_id_valid(s);
        char *out = NULL;
        size_t ol = 0;
        if (fleet_unseal(&key, s, &out, &ol, err, sizeof(err)) == 0) {
            free(out);
        }
        free(s);
    }
    return 0;
}
