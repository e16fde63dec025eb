/*
 * mqtt_util.c - topic rules, UTF-8 and base64 helpers and payload encoding
 * for the MQTT nodes (see mqtt_util.h). Each follows the JavaScript it
 * replaces in Node-RED 4.1.15 (10-mqtt.js, is-utf8, Node's Buffer).
 */
#include <stdlib.h>
#include <string.h>

#include "js.h"
#include "mqtt_util.h"

/* One level of a subscription filter: "+", "#" (last only) or no wildcard. */
static bool valid_level(const char *s, size_t n, bool last)
{
    if (n == 1 && (s[0] == '+' || (last && s[0] == '#'))) {
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+' || s[i] == '#') {
            return false;
        }
    }
    return true;
}

bool mqtt_util__valid_sub_topic(const char *topic)
{
    if (!strcmp(topic, "#")) {
        return true;
    }
    const char *p = topic;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        /* The regex allows "#" as the last level only when it follows a "/". */
        if (!valid_level(p, n, !slash && p != topic)) {
            return false;
        }
        if (!slash) {
            return true;
        }
        p = slash + 1;
    }
}

bool mqtt_util__valid_pub_topic(const char *topic, size_t len)
{
    if (len == 0) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        switch (topic[i]) {
        case '+':
        case '#':
        case '\b':
        case '\f':
        case '\n':
        case '\r':
        case '\t':
        case '\v':
        case '\0': return false;
        default: break;
        }
    }
    return true;
}

bool mqtt_util__match_topic(const char *f, const char *t, size_t tn)
{
    if (!strcmp(f, "#")) {
        return true;
    }
    if (!strncmp(f, "$share/", 7)) {
        const char *g = f + 7;
        size_t gl = strcspn(g, "#+/");
        if (gl > 0 && g[gl] == '/') {
            f = g + gl + 1;
            if (!strcmp(f, "#")) {
                return true;
            }
        }
    }
    size_t ti = 0;
    for (size_t fi = 0; f[fi];) {
        if (f[fi] == '/' && f[fi + 1] == '#' && f[fi + 2] == '\0') {
            /* "(/.*)?" */
            return ti == tn || t[ti] == '/';
        }
        if (f[fi] == '+') {
            size_t start = ti;
            while (ti < tn && t[ti] != '/') {
                ti++;
            }
            if (ti == start) {
                return false; /* "[^/]+" needs one character */
            }
            fi++;
            continue;
        }
        if (ti >= tn || t[ti] != f[fi]) {
            return false;
        }
        ti++;
        fi++;
    }
    return ti == tn;
}

bool mqtt_util__is_utf8(const uint8_t *b, size_t n)
{
    size_t i = 0;
#define AT(k) (i + (k) < n ? b[i + (k)] : 0)
#define CONT(k) (AT(k) >= 0x80 && AT(k) <= 0xBF)
    while (i < n) {
        uint8_t c = b[i];
        if (c == 0x09 || c == 0x0A || c == 0x0D || (c >= 0x20 && c <= 0x7E)) {
            i += 1;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF && CONT(1)) {
            i += 2;
            continue;
        }
        if ((c == 0xE0 && AT(1) >= 0xA0 && AT(1) <= 0xBF && CONT(2)) ||
            (((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) && CONT(1) && CONT(2)) ||
            (c == 0xED && AT(1) >= 0x80 && AT(1) <= 0x9F && CONT(2))) {
            i += 3;
            continue;
        }
        if ((c == 0xF0 && AT(1) >= 0x90 && AT(1) <= 0xBF && CONT(2) && CONT(3)) ||
            (c >= 0xF1 && c <= 0xF3 && CONT(1) && CONT(2) && CONT(3)) ||
            (c == 0xF4 && AT(1) >= 0x80 && AT(1) <= 0x8F && CONT(2) && CONT(3))) {
            i += 4;
            continue;
        }
        return false;
    }
#undef CONT
#undef AT
    return true;
}

struct ef_val *mqtt_util__base64(const uint8_t *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t olen = (n + 2) / 3 * 4;
    char *out = malloc(olen + 1);
    if (!out) {
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) {
            v |= (uint32_t)p[i + 1] << 8;
        }
        if (i + 2 < n) {
            v |= p[i + 2];
        }
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return ef_val_str_take(out, o);
}

uint8_t *mqtt_util__encode_payload(const struct ef_val *v, size_t *len)
{
    char num[32];
    const void *src = "";
    size_t n = 0;
    char *json = NULL;
    switch (ef_val_type(v)) {
    case EF_BUF:
        src = ef_val_buf_data(v);
        n = ef_val_buf_len(v);
        break;
    case EF_STR:
        src = ef_val_str_get(v);
        n = ef_val_str_len(v);
        break;
    case EF_NUM:
        n = ef_num_format(ef_val_num_get(v), num);
        src = num;
        break;
    case EF_BOOL:
        src = ef_val_bool_get(v) ? "true" : "false";
        n = strlen(src);
        break;
    case EF_ARR:
    case EF_OBJ:
    case EF_HANDLE:
        json = ef_json_print(v, 0, &n);
        if (!json) {
            return NULL;
        }
        src = json;
        break;
    default: break; /* null, absent: "" */
    }
    uint8_t *out = malloc(n ? n : 1);
    if (out && n) {
        memcpy(out, src, n);
    }
    free(json);
    *len = n;
    return out;
}

char *mqtt_util__user_prop_string(const struct ef_val *v)
{
    if (ef_val_type(v) == EF_STR) {
        return strdup(ef_val_str_get(v));
    }
    return ef_json_print(v, 0, NULL);
}

/* ---- mqtt in's payload decoding ---- */

static const struct {
    const char *type, *kind;
} known_media[] = {
    {"text/css", "string"},
    {"text/html", "string"},
    {"text/plain", "string"},
    {"application/json", "json"},
    {"application/octet-stream", "buffer"},
    {"application/pdf", "buffer"},
    {"application/x-gtar", "buffer"},
    {"application/x-gzip", "buffer"},
    {"application/x-tar", "buffer"},
    {"application/xml", "string"},
    {"application/zip", "buffer"},
    {"audio/aac", "buffer"},
    {"audio/ac3", "buffer"},
    {"audio/basic", "buffer"},
    {"audio/mp4", "buffer"},
    {"audio/ogg", "buffer"},
    {"image/bmp", "buffer"},
    {"image/gif", "buffer"},
    {"image/jpeg", "buffer"},
    {"image/tiff", "buffer"},
    {"image/png", "buffer"},
};

/* The kind Node-RED's knownMediaTypes gives a lower-case content type, or NULL. */
static const char *media_kind(const char *lc)
{
    for (size_t i = 0; i < sizeof(known_media) / sizeof(known_media[0]); i++) {
        if (!strcmp(known_media[i].type, lc)) {
            return known_media[i].kind;
        }
    }
    return NULL;
}

static struct ef_val *parse_json(const struct ef_val *s)
{
    return s ? ef_json_parse(ef_val_str_get(s), ef_val_str_len(s), NULL, 0) : NULL;
}

static int decode_error(struct mqtt_decoded *d, struct ef_val *payload, const char *text)
{
    d->error = text;
    d->error_payload = payload;
    return -1;
}

int mqtt_util__decode_payload(const char *datatype, const uint8_t *p, size_t len, bool utf8_flag,
                              const char *content_type, struct mqtt_decoded *d)
{
    *d = (struct mqtt_decoded){0};
    struct ef_val *payload = NULL;
    if (!strcmp(datatype, "buffer")) {
        payload = ef_val_buf(p, len);
    } else if (!strcmp(datatype, "base64")) {
        payload = mqtt_util__base64(p, len);
    } else if (!strcmp(datatype, "utf8")) {
        payload = js__utf8_decode(p, len);
    } else if (!strcmp(datatype, "json")) {
        if (!utf8_flag && !mqtt_util__is_utf8(p, len)) {
            return decode_error(d, ef_val_buf(p, len), "Invalid JSON string");
        }
        struct ef_val *s = js__utf8_decode(p, len); /* JSON.parse(payload.toString()) */
        payload = parse_json(s);
        ef_val_unref(s);
        if (!payload) {
            return decode_error(d, ef_val_buf(p, len), "Failed to parse JSON string");
        }
    } else {
        bool detect = !strcmp(datatype, "auto-detect");
        const char *kind = NULL;
        if (content_type) {
            char lc[256];
            size_t i = 0;
            for (; content_type[i] && i < sizeof(lc) - 1; i++) {
                char c = content_type[i];
                lc[i] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
            }
            lc[i] = '\0';
            kind = media_kind(lc);
        }
        if (kind && !strcmp(kind, "string")) {
            payload = js__utf8_decode(p, len);
        } else if (kind && !strcmp(kind, "buffer")) {
            payload = ef_val_buf(p, len);
        } else if (kind) { /* json */
            struct ef_val *s = js__utf8_decode(p, len);
            struct ef_val *parsed = parse_json(s);
            if (!parsed) {
                return decode_error(d, s, "Failed to parse JSON string");
            }
            if (detect) {
                ef_val_unref(s);
                payload = parsed;
            } else {
                ef_val_unref(parsed);
                payload = s;
            }
        } else if (utf8_flag || mqtt_util__is_utf8(p, len)) {
            payload = js__utf8_decode(p, len);
            struct ef_val *parsed = detect ? parse_json(payload) : NULL;
            if (parsed) {
                ef_val_unref(payload);
                payload = parsed;
            }
        } else {
            payload = ef_val_buf(p, len);
        }
    }
    d->payload = payload;
    return payload ? 0 : -1;
}
