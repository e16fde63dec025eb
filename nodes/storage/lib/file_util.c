/*
 * file_util.c - encodings, error texts, filenames and mkdir -p for the file
 * nodes (see file_util.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "engine.h"
#include "js.h"
#include "strbuf.h"
#include "base64.h"

#include "file_util.h"

/* True for the encodings the nodes implement. */
bool fu__encoding_known(const char *enc)
{
    static const char *const known[] = {"none",   "utf8", "utf-8",  "binary",
                                        "latin1", "hex",  "base64", NULL};
    for (int i = 0; known[i]; i++) {
        if (!strcasecmp(enc, known[i])) {
            return true;
        }
    }
    return false;
}

/* The next code point of UTF-8 text (invalid bytes as U+FFFD). */
static uint32_t next_cp(const unsigned char *s, size_t len, size_t *i)
{
    unsigned char c = s[*i];
    uint32_t cp = 0xfffd;
    size_t n = 1;
    if (c < 0x80) {
        cp = c;
    } else if ((c & 0xe0) == 0xc0 && *i + 1 < len) {
        cp = ((c & 0x1fu) << 6) | (s[*i + 1] & 0x3fu);
        n = 2;
    } else if ((c & 0xf0) == 0xe0 && *i + 2 < len) {
        cp = ((c & 0x0fu) << 12) | ((s[*i + 1] & 0x3fu) << 6) | (s[*i + 2] & 0x3fu);
        n = 3;
    } else if ((c & 0xf8) == 0xf0 && *i + 3 < len) {
        cp = ((c & 0x07u) << 18) | ((s[*i + 1] & 0x3fu) << 12) | ((s[*i + 2] & 0x3fu) << 6) |
             (s[*i + 3] & 0x3fu);
        n = 4;
    }
    *i += n;
    return cp;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* String to bytes as iconv-lite encodes (see file_util.h). */
char *fu__encode(const char *s, size_t len, const char *enc, size_t *outlen)
{
    const unsigned char *u = (const unsigned char *)s;
    char *out = malloc(len + 1);
    size_t o = 0;
    if (!out) {
        return NULL;
    }
    if (!strcasecmp(enc, "binary") || !strcasecmp(enc, "latin1")) {
        for (size_t i = 0; i < len;) {
            uint32_t cp = next_cp(u, len, &i);
            if (cp >= 0x10000) { /* a surrogate pair: two code units */
                cp -= 0x10000;
                out[o++] = (char)((0xd800 + (cp >> 10)) & 0xff);
                out[o++] = (char)((0xdc00 + (cp & 0x3ff)) & 0xff);
            } else {
                out[o++] = (char)(cp & 0xff);
            }
        }
    } else if (!strcasecmp(enc, "hex")) {
        for (size_t i = 0; i + 1 < len; i += 2) {
            int a = hexval(u[i]), b = hexval(u[i + 1]);
            if (a < 0 || b < 0) {
                break;
            }
            out[o++] = (char)(a * 16 + b);
        }
    } else if (!strcasecmp(enc, "base64")) {
        o = base64__decode(s, len, (uint8_t *)out);
    } else {
        memcpy(out, s, len);
        o = len;
    }
    *outlen = o;
    return out;
}

/* Bytes to a string as iconv-lite decodes (see file_util.h). */
struct ef_val *fu__decode(const void *data, size_t len, const char *enc)
{
    const unsigned char *u = data;
    struct strbuf b = {0};
    if (!strcasecmp(enc, "binary") || !strcasecmp(enc, "latin1")) {
        for (size_t i = 0; i < len; i++) {
            if (u[i] < 0x80) {
                strbuf__add(&b, (const char *)&u[i], 1);
            } else {
                char e[2] = {(char)(0xc0 | (u[i] >> 6)), (char)(0x80 | (u[i] & 0x3f))};
                strbuf__add(&b, e, 2);
            }
        }
    } else if (!strcasecmp(enc, "hex")) {
        for (size_t i = 0; i < len; i++) {
            strbuf__addf(&b, "%02x", u[i]);
        }
    } else if (!strcasecmp(enc, "base64")) {
        base64__encode(&b, u, len);
    } else {
        size_t start = 0;
        if (strcasecmp(enc, "none") && len >= 3 && u[0] == 0xef && u[1] == 0xbb && u[2] == 0xbf) {
            start = 3; /* iconv-lite strips the BOM */
        }
        return js__utf8_decode(u + start, len - start); /* b is still empty */
    }
    size_t l;
    char *s = strbuf__take(&b, &l);
    return s ? ef_val_str_take(s, l) : NULL;
}

/* "Error: CODE: description, syscall 'path'" as Node's fs errors print. */
void fu__err_text(char *buf, size_t len, int uverr, const char *syscall, const char *path)
{
    if (!path) {
        snprintf(buf, len, "Error: %s: %s, %s", uv_err_name(uverr), uv_strerror(uverr), syscall);
        return;
    }
    snprintf(buf, len, "Error: %s: %s, %s '%s'", uv_err_name(uverr), uv_strerror(uverr), syscall,
             path);
}

/* The enumerable properties of Node's fs Error. */
struct ef_val *fu__err_obj(int uverr, const char *syscall, const char *path)
{
    struct ef_val *o = ef_val_obj();
    if (o) {
        ef_val_obj_set_take(o, "errno", ef_val_num(uverr));
        ef_val_obj_set_take(o, "code", ef_val_str(uv_err_name(uverr)));
        ef_val_obj_set_take(o, "syscall", ef_val_str(syscall));
        ef_val_obj_set_take(o, "path", ef_val_str(path));
    }
    return o;
}

/* The filename for one message (see file_util.h). */
char *fu__filename(struct ef_node *n, const char *filename, const char *type,
                   const struct ef_msg *msg, char *err, size_t errlen)
{
    if (!type || !type[0]) {
        if (!filename[0]) {
            filename = "filename";
            type = "msg";
        } else {
            type = "str";
        }
    }
    if (!strcmp(type, "str")) {
        return strdup(filename);
    }
    struct ef_val *in = ef_val_str(filename);
    struct ef_val *out = NULL;
    int rc = ef_node_eval_typed(n, type, in, msg, &out, err, errlen);
    ef_val_unref(in);
    if (rc != 0) {
        return NULL;
    }
    char *s = NULL;
    if (!out || ef_val_type(out) == EF_NULL) {
        s = strdup("");
    } else {
        s = js__to_string(out, NULL);
    }
    ef_val_unref(out);
    if (!s) {
        snprintf(err, errlen, "out of memory");
    }
    return s;
}

/* mkdir -p. */
int fu__mkdir_p(const char *dir)
{
    char *p = strdup(dir);
    if (!p) {
        return UV_ENOMEM;
    }
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (p[0] && mkdir(p, 0777) != 0 && errno != EEXIST) {
                rc = -errno;
                free(p);
                return rc;
            }
            *s = c;
            if (!c) {
                break;
            }
        }
    }
    struct stat st;
    if (stat(dir, &st) != 0) {
        rc = -errno;
    } else if (!S_ISDIR(st.st_mode)) {
        rc = UV_EEXIST;
    }
    free(p);
    return rc;
}
