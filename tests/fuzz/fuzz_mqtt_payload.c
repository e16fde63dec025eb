/*
 * fuzz_mqtt_payload.c - mqtt in's payload decoding: the first byte picks
 * the datatype and the MQTT 5 UTF-8 flag, the second the length of an MQTT
 * 5 content type taken from the input, the rest is the payload.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../nodes/network/lib/mqtt_util.h"

static const char *const datatypes[] = {"auto-detect", "auto", "buffer", "utf8", "json", "base64"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    const char *datatype = datatypes[data[0] % 6];
    bool utf8_flag = data[0] & 0x80;
    size_t ctlen = data[1];
    data += 2;
    size -= 2;
    if (ctlen > size) {
        ctlen = size;
    }
    char *ct = NULL;
    if (ctlen) {
        ct = malloc(ctlen + 1);
        memcpy(ct, data, ctlen);
        ct[ctlen] = 0;
        data += ctlen;
        size -= ctlen;
    }
    struct mqtt_decoded d;
    if (mqtt_util__decode_payload(datatype, data, size, utf8_flag, ct && *ct ? ct : NULL, &d) ==
        0) {
        ef_val_unref(d.payload);
    } else {
        ef_val_unref(d.error_payload);
    }
    free(ct);
    return 0;
}
