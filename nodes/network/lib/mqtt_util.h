/*
 * mqtt_util.h - pure helpers shared by the MQTT nodes: topic validation and
 * matching as Node-RED 4.1's 10-mqtt.js does them, UTF-8 checks and decoding
 * as the is-utf8 module and Node's Buffer.toString('utf8') do them, base64,
 * the payload encoding of mqtt out and the payload decoding (`datatype`) of
 * mqtt in.
 */
#ifndef EF_NODES_MQTT_UTIL_H
#define EF_NODES_MQTT_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <edgeflow/val.h>

/* Node-RED's isValidSubscriptionTopic (the empty string passes, as there). */
bool mqtt_util__valid_sub_topic(const char *topic);
/* Node-RED's isValidPublishTopic: not empty, no + # or control characters. */
bool mqtt_util__valid_pub_topic(const char *topic, size_t len);
/*
 * Node-RED's matchTopic(filter, topic): "#" matches everything, "+" one or
 * more characters of a level, a trailing "/#" the parent level too, and a
 * "$share/<group>/" prefix is ignored.
 */
bool mqtt_util__match_topic(const char *filter, const char *topic, size_t topic_len);
/* The is-utf8 module's test (which also refuses ASCII control characters). */
bool mqtt_util__is_utf8(const uint8_t *p, size_t n);
/* Buffer.toString('base64'). New string value. */
struct ef_val *mqtt_util__base64(const uint8_t *p, size_t n);
/*
 * The bytes Node-RED publishes for a payload: Buffers as they are, null or
 * absent as "", objects and arrays as JSON, other values as String(v).
 * Returns a malloc'ed block (never NULL on success, even for 0 bytes) and
 * its length, or NULL on OOM.
 */
uint8_t *mqtt_util__encode_payload(const struct ef_val *payload, size_t *len);
/* A value as the string JavaScript's String(v) / JSON.stringify gives for user properties. */
char *mqtt_util__user_prop_string(const struct ef_val *v);

/* The result of mqtt_util__decode_payload. */
struct mqtt_decoded {
    struct ef_val *payload;       /* new reference on success */
    const char *error;            /* Node-RED's error text, static */
    struct ef_val *error_payload; /* new reference: msg.payload of the error message */
};
/*
 * mqtt in's decoding of a received payload for `datatype` (auto-detect,
 * auto, buffer, utf8, json, base64) as Node-RED 4.1 does it. utf8_flag is
 * MQTT 5's payloadFormatIndicator; content_type MQTT 5's content type
 * (NULL when absent or empty, and always for MQTT 3.1.1). Returns 0 with
 * d->payload, or -1 with d->error and d->error_payload (the caller owns
 * it), or -1 with d->error NULL when memory ran out.
 */
int mqtt_util__decode_payload(const char *datatype, const uint8_t *p, size_t len, bool utf8_flag,
                              const char *content_type, struct mqtt_decoded *d);

#endif
