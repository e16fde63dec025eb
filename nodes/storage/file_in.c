/*
 * file_in.c - the file in node (Node-RED 10-file.js "file in"): reads a
 * file named by the config or a typed input (msg.filename by default) with
 * libuv's asynchronous file calls, 64 KiB at a time as Node's read streams
 * do, and sends it as one UTF-8 string (decoded with the configured
 * encoding), one Buffer, a message per line or a message per chunk. Lines
 * and chunks carry msg.parts as Node-RED sets them (the join node can put
 * them back together). Reads of different messages run independently.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "engine.h"
#include "strbuf.h"

#include "lib/file_access.h"
#include "lib/file_util.h"

#define CHUNK (64 * 1024) /* fs.createReadStream's highWaterMark */

enum { FMT_UTF8, FMT_BUFFER, FMT_LINES, FMT_STREAM };

struct rop;

struct file_in {
    struct ef_node *n;
    const char *filename, *filename_type, *encoding;
    int format;
    bool send_error, all_props;
    struct rop *reads; /* in progress */
};

/* One read in progress. */
struct rop {
    uv_fs_t req;
    struct file_in *owner; /* NULL once the node has closed */
    struct ef_msg *msg;
    char *path;
    uv_file fd;
    char *chunk;
    struct strbuf all;   /* FMT_UTF8/FMT_BUFFER: the whole file */
    struct strbuf spare; /* FMT_LINES: the unfinished line */
    double count;
    bool getout;
    struct rop *next, *prev;
};

static const struct ef_prop file_in_props[] = {
    {EF_PROP_STR, "filename", "\"\"", false, "file name (or property / env name)",
     offsetof(struct file_in, filename)},
    {EF_PROP_STR, "filenameType", "\"\"", false, "str, msg, env, flow, global, jsonata",
     offsetof(struct file_in, filename_type)},
    {EF_PROP_STR, "format", "\"utf8\"", false, "utf8, \"\" (a Buffer), lines or stream",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "chunk", "false", false, "legacy, unused", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "sendError", NULL, false, "also send a message on error (default when absent)",
     EF_PROP_NOFIELD},
    {EF_PROP_STR, "encoding", "\"none\"", false, "none, utf8, binary, hex, base64",
     offsetof(struct file_in, encoding)},
    {EF_PROP_BOOL, "allProps", "false", false, "copy all message properties to each part",
     offsetof(struct file_in, all_props)},
    {EF_PROP_END},
};

static void rop_free(struct rop *r)
{
    struct file_in *fi = r->owner;
    if (fi) {
        if (r->prev) {
            r->prev->next = r->next;
        } else {
            fi->reads = r->next;
        }
        if (r->next) {
            r->next->prev = r->prev;
        }
    }
    ef_msg_free(r->msg);
    free(r->path);
    free(r->chunk);
    free(strbuf__take(&r->all, NULL));
    free(strbuf__take(&r->spare, NULL));
    free(r);
}

static void send_msg(struct file_in *fi, struct ef_msg *m)
{
    if (m && ef_node_send(fi->n, 0, m) != 0) {
        ef_msg_free(m);
    }
}

/* msg.parts for part `index` (count < 0: unknown yet). */
static struct ef_val *parts(struct rop *r, const char *ch, const char *type, double count)
{
    struct ef_val *p = ef_val_obj();
    ef_val_obj_set_take(p, "index", ef_val_num(r->count));
    if (count >= 0) {
        ef_val_obj_set_take(p, "count", ef_val_num(count));
    }
    ef_val_obj_set_take(p, "ch", ef_val_str(ch));
    ef_val_obj_set_take(p, "type", ef_val_str(type));
    ef_val_obj_set_take(p, "id", ef_val_str(ef_msg_id(r->msg)));
    return p;
}

/* A new part message: a copy of msg (allProps) or {topic, filename}. */
static struct ef_msg *part_msg(struct rop *r, struct ef_val *payload, struct ef_val *pts)
{
    struct ef_msg *m;
    if (r->owner->all_props) {
        m = ef_msg_clone(r->msg);
        if (m) {
            ef_msg_set_take(m, "payload", payload);
            ef_msg_set_take(m, "parts", pts);
        }
    } else {
        struct ef_val *o = ef_val_obj();
        const struct ef_val *topic = ef_msg_get(r->msg, "topic");
        if (topic) {
            ef_val_obj_set_take(o, "topic", ef_val_ref((struct ef_val *)topic));
        }
        ef_val_obj_set_take(o, "filename", ef_val_ref(ef_msg_get(r->msg, "filename")));
        ef_val_obj_set_take(o, "payload", payload);
        ef_val_obj_set_take(o, "parts", pts);
        m = ef_msg_new_take(o);
        if (!m) {
            ef_val_unref(o);
        }
    }
    return m;
}

/* The message is finished with: done, and the read is freed. */
static void end_read(struct rop *r)
{
    if (r->owner) {
        ef_node_done(r->owner->n, r->msg);
    }
    rop_free(r);
}

static void on_read(uv_fs_t *req);

static void on_closed(uv_fs_t *req)
{
    struct rop *r = req->data;
    uv_fs_req_cleanup(req);
    struct file_in *fi = r->owner;
    if (!fi) {
        rop_free(r);
        return;
    }
    if (fi->format == FMT_UTF8 || fi->format == FMT_BUFFER) {
        size_t len = r->all.n;
        char *data = strbuf__take(&r->all, &len);
        struct ef_val *p;
        if (fi->format == FMT_UTF8) {
            p = fu__decode(data ? data : "", data ? len : 0, fi->encoding);
            free(data);
        } else {
            p = data ? ef_val_buf_take(data, len) : ef_val_buf("", 0);
        }
        ef_msg_set_take(r->msg, "payload", p);
        struct ef_msg *m = r->msg;
        ef_node_done(fi->n, m);
        r->msg = NULL;
        send_msg(fi, m);
        rop_free(r);
        return;
    }
    if (fi->format == FMT_LINES) {
        size_t len;
        char *s = strbuf__take(&r->spare, &len);
        struct ef_val *p = s ? ef_val_str_take(s, len) : ef_val_str("");
        send_msg(fi, part_msg(r, p, parts(r, "\n", "string", r->count + 1)));
    } else if (r->getout) {
        struct ef_val *o = ef_val_obj();
        ef_val_obj_set_take(o, "parts", parts(r, "", "buffer", r->count));
        struct ef_msg *m = ef_msg_new_take(o);
        if (!m) {
            ef_val_unref(o);
        }
        send_msg(fi, m);
    }
    end_read(r);
}

static void got_chunk(struct rop *r, const char *data, size_t n)
{
    struct file_in *fi = r->owner;
    if (fi->format == FMT_UTF8 || fi->format == FMT_BUFFER) {
        strbuf__add(&r->all, data, n);
        return;
    }
    r->getout = true;
    if (fi->format == FMT_LINES) {
        struct ef_val *s = fu__decode(data, n, fi->encoding);
        strbuf__add(&r->spare, ef_val_str_get(s), ef_val_str_len(s));
        ef_val_unref(s);
        size_t len;
        char *text = strbuf__take(&r->spare, &len);
        r->spare = (struct strbuf){0};
        if (!text) {
            return;
        }
        const char *p = text, *end = text + len, *nl;
        while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
            send_msg(fi,
                     part_msg(r, ef_val_strn(p, (size_t)(nl - p)), parts(r, "\n", "string", -1)));
            r->count++;
            p = nl + 1;
        }
        strbuf__add(&r->spare, p, (size_t)(end - p));
        free(text);
        return;
    }
    /* stream: a Buffer per chunk; a short one is the last */
    bool last = n < CHUNK;
    struct ef_val *pts = parts(r, "", "buffer", -1);
    r->count++;
    if (last) {
        r->getout = false;
        ef_val_obj_set_take(pts, "count", ef_val_num(r->count));
    }
    send_msg(fi, part_msg(r, ef_val_buf(data, n), pts));
}

static void read_next(struct rop *r, uv_loop_t *loop)
{
    uv_buf_t b = uv_buf_init(r->chunk, CHUNK);
    uv_fs_read(loop, &r->req, r->fd, &b, 1, -1, on_read);
}

static void report(struct rop *r, int err, const char *syscall)
{
    struct file_in *fi = r->owner;
    if (fi) {
        char text[1200];
        fu__err_text(text, sizeof(text), err, syscall, r->path);
        ef_node_error(fi->n, r->msg, "%s", text);
        if (fi->send_error) {
            struct ef_msg *m = ef_msg_clone(r->msg);
            if (m) {
                ef_msg_delete(m, "payload");
                ef_msg_set_take(m, "error", fu__err_obj(err, syscall, r->path));
            }
            send_msg(fi, m);
        }
    }
    end_read(r);
}

static void on_read(uv_fs_t *req)
{
    struct rop *r = req->data;
    ssize_t n = req->result;
    uv_loop_t *loop = req->loop;
    uv_fs_req_cleanup(req);
    if (n < 0) {
        uv_fs_t c;
        uv_fs_close(NULL, &c, r->fd, NULL);
        uv_fs_req_cleanup(&c);
        report(r, (int)n, "read");
        return;
    }
    if (n == 0 || !r->owner) {
        uv_fs_close(loop, &r->req, r->fd, on_closed);
        return;
    }
    got_chunk(r, r->chunk, (size_t)n);
    read_next(r, loop);
}

static void on_opened(uv_fs_t *req)
{
    struct rop *r = req->data;
    ssize_t n = req->result;
    uv_loop_t *loop = req->loop;
    uv_fs_req_cleanup(req);
    if (n < 0) {
        report(r, (int)n, "open");
        return;
    }
    r->fd = (uv_file)n;
    read_next(r, loop);
}

static int cb_input(struct ef_node *n, struct ef_msg *msg)
{
    struct file_in *fi = ef_node_priv(n);
    char err[512];
    char *name = fu__filename(n, fi->filename, fi->filename_type, msg, err, sizeof(err));
    if (!name) {
        ef_node_error(n, msg, "%s", err);
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    /* tabs and line breaks are removed from the name */
    size_t o = 0;
    for (size_t i = 0; name[i]; i++) {
        if (name[i] != '\t' && name[i] != '\r' && name[i] != '\n') {
            name[o++] = name[i];
        }
    }
    name[o] = 0;
    if (!name[0]) {
        free(name);
        ef_node_warn(n, "No filename specified");
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    ef_msg_set_take(msg, "filename", ef_val_str(name));
    /* fileWorkingDirectory and fileAllowedDirectories */
    char *full = file_access__full_path(n, name);
    free(name);
    name = full;
    if (!name || !file_access__allowed(n, name, err, sizeof(err))) {
        ef_node_error(n, msg, "%s", name ? err : "out of memory");
        free(name);
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    struct rop *r = calloc(1, sizeof(*r));
    char *chunk = malloc(CHUNK);
    if (!r || !chunk) {
        free(r);
        free(chunk);
        free(name);
        ef_node_error(n, msg, "out of memory");
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    r->owner = fi;
    r->msg = msg;
    r->path = name;
    r->chunk = chunk;
    r->req.data = r;
    r->next = fi->reads;
    if (fi->reads) {
        fi->reads->prev = r;
    }
    fi->reads = r;
    uv_fs_open(ef_loop_uv(ef_node_loop(n)), &r->req, r->path, O_RDONLY, 0, on_opened);
    return EF_INPUT_ASYNC;
}

static int cb_init(struct ef_node *n, const struct ef_val *config)
{
    struct file_in *fi = ef_node_priv(n);
    fi->n = n;
    const char *f = ef_val_str_get(ef_val_obj_get(config, "format"));
    fi->format = !strcmp(f, "utf8")     ? FMT_UTF8
                 : !strcmp(f, "lines")  ? FMT_LINES
                 : !strcmp(f, "stream") ? FMT_STREAM
                                        : FMT_BUFFER;
    const struct ef_val *se = ef_val_obj_get(config, "sendError");
    fi->send_error = se ? ef_val_truthy(se) : true;
    if (!fu__encoding_known(fi->encoding[0] ? fi->encoding : "none")) {
        ef_node_error(n, NULL, "Encoding not recognized: '%s'", fi->encoding);
        return EF_EINVAL;
    }
    if (!fi->encoding[0]) {
        fi->encoding = "none";
    }
    return 0;
}

static void cb_close(struct ef_node *n)
{
    struct file_in *fi = ef_node_priv(n);
    /* reads in progress finish on their own and free themselves */
    for (struct rop *r = fi->reads; r; r = r->next) {
        r->owner = NULL;
    }
    fi->reads = NULL;
    ef_node_status(n, NULL, NULL, NULL);
}

/* The file in node type. */
const struct ef_node_type ef_type_file_in = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "file in",
    .description = "Reads a file as a string, a Buffer, lines or chunks",
    .category = "storage",
    .inputs = 1,
    .outputs = 1,
    .props = file_in_props,
    .priv_size = sizeof(struct file_in),
    .cb_init = cb_init,
    .cb_input = cb_input,
    .cb_close = cb_close,
};
