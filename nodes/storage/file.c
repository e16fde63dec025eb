/*
 * file.c - the file node (Node-RED 10-file.js "file"): writes msg.payload to
 * a file (overwrite or append), or deletes the file. The filename comes
 * from the config or a typed input (msg.filename by default when none is
 * set) and is written back to msg.filename. Objects are written as JSON,
 * strings get a newline if configured (not the last part of a split
 * string), then are encoded (utf8, binary, hex, base64, or set by
 * msg.encoding). Messages are handled one at a time, in order, per node,
 * with libuv's asynchronous file calls; the message goes on once the data
 * is written and the file closed.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "engine.h"
#include "js.h"
#include "settings.h"

#include "lib/file_access.h"
#include "lib/file_util.h"

enum { MODE_APPEND, MODE_OVERWRITE, MODE_DELETE };

struct fop;

struct file_node {
    struct ef_node *n;
    const char *filename, *filename_type, *encoding;
    bool newline, create_dir;
    int mode;
    struct fop *head, *tail; /* queue; head is in progress when busy */
    size_t queued;           /* messages in the queue */
    bool busy;
};

/* One queued message and, while it is the head, its file operation. */
struct fop {
    uv_fs_t req;
    struct file_node *owner; /* NULL once the node has closed */
    struct ef_msg *msg;
    char *path;
    char *buf;
    size_t len, off;
    uv_file fd;
    struct fop *next;
};

static const struct ef_prop file_props[] = {
    {EF_PROP_STR, "filename", "\"\"", false, "file name (or property / env name)",
     offsetof(struct file_node, filename)},
    {EF_PROP_STR, "filenameType", "\"\"", false, "str, msg, env, flow, global, jsonata",
     offsetof(struct file_node, filename_type)},
    {EF_PROP_BOOL, "appendNewline", "true", false, "add \\n to each string payload",
     offsetof(struct file_node, newline)},
    {EF_PROP_BOOL, "createDir", "false", false, "create the directory if missing",
     offsetof(struct file_node, create_dir)},
    {EF_PROP_ANY, "overwriteFile", "\"false\"", false,
     "\"false\" append, \"true\" overwrite, \"delete\"", EF_PROP_NOFIELD},
    {EF_PROP_STR, "encoding", "\"none\"", false, "none, utf8, binary, hex, base64 or setbymsg",
     offsetof(struct file_node, encoding)},
    {EF_PROP_END},
};

static void run_queue(struct file_node *fn);

static void fop_free(struct fop *op)
{
    ef_msg_free(op->msg);
    free(op->path);
    free(op->buf);
    free(op);
}

/* The head is finished: send its message on (if ok), drop it, start the next. */
static void finish(struct fop *op, bool ok)
{
    struct file_node *fn = op->owner;
    if (!fn) {
        fop_free(op);
        return;
    }
    struct ef_node *n = fn->n;
    fn->head = op->next;
    if (!fn->head) {
        fn->tail = NULL;
    }
    fn->queued--;
    fn->busy = false;
    struct ef_msg *msg = op->msg;
    op->msg = NULL;
    ef_node_done(n, msg);
    if (!ok || ef_node_send(n, 0, msg) != 0) {
        ef_msg_free(msg);
    }
    fop_free(op);
    run_queue(fn);
}

/*
 * Reports a failure. Node-RED's append stream still sends the message after
 * an error (its write callback or close event fires anyway); so does its
 * overwrite stream when the write fails after the file was opened (the close
 * event comes anyway); delete does not. Errors of a write on an open file
 * name no path, as Node's fs.write errors do (ENOSPC on a full disk).
 */
static void fail(struct fop *op, const char *what, int err, const char *syscall)
{
    bool send = false;
    if (op->owner) {
        char text[1200];
        bool write = !strcmp(syscall, "write");
        fu__err_text(text, sizeof(text), err, syscall, write ? NULL : op->path);
        ef_node_error(op->owner->n, op->msg, "%s: %s", what, text);
        send = (op->owner->mode == MODE_APPEND && strcmp(syscall, "mkdir") != 0) ||
               (op->owner->mode == MODE_OVERWRITE && write);
    }
    finish(op, send);
}

static const char *fail_text(const struct fop *op)
{
    int mode = op->owner ? op->owner->mode : MODE_APPEND;
    return mode == MODE_OVERWRITE ? "failed to write to file" : "failed to append to file";
}

static void on_closed(uv_fs_t *req)
{
    struct fop *op = req->data;
    uv_fs_req_cleanup(req);
    finish(op, true);
}

static void on_written(uv_fs_t *req)
{
    struct fop *op = req->data;
    ssize_t r = req->result;
    uv_fs_req_cleanup(req);
    if (r < 0) {
        uv_fs_t c;
        uv_fs_close(NULL, &c, op->fd, NULL);
        uv_fs_req_cleanup(&c);
        fail(op, fail_text(op), (int)r, "write");
        return;
    }
    op->off += (size_t)r;
    uv_loop_t *loop = req->loop;
    if (op->off < op->len) {
        uv_buf_t b = uv_buf_init(op->buf + op->off, (unsigned)(op->len - op->off));
        uv_fs_write(loop, &op->req, op->fd, &b, 1, -1, on_written);
        return;
    }
    uv_fs_close(loop, &op->req, op->fd, on_closed);
}

static void on_opened(uv_fs_t *req)
{
    struct fop *op = req->data;
    ssize_t r = req->result;
    uv_fs_req_cleanup(req);
    if (r < 0) {
        fail(op, fail_text(op), (int)r, "open");
        return;
    }
    op->fd = (uv_file)r;
    uv_buf_t b = uv_buf_init(op->buf, (unsigned)op->len);
    uv_fs_write(req->loop, &op->req, op->fd, &b, 1, -1, on_written);
}

static void on_unlinked(uv_fs_t *req)
{
    struct fop *op = req->data;
    ssize_t r = req->result;
    uv_fs_req_cleanup(req);
    if (r < 0) {
        fail(op, "failed to delete file", (int)r, "unlink");
        return;
    }
    finish(op, true);
}

/* The bytes to write for msg (see the header comment); NULL with err set. */
static char *payload_bytes(struct file_node *fn, struct ef_msg *msg, const struct ef_val *p,
                           size_t *len, char *err, size_t errlen)
{
    const char *enc = fn->encoding[0] ? fn->encoding : "none";
    if (!strcmp(enc, "setbymsg")) {
        const struct ef_val *me = ef_msg_get(msg, "encoding");
        enc = me && ef_val_truthy(me) ? ef_val_str_get(me) : "none";
    }
    if (!fu__encoding_known(enc)) {
        snprintf(err, errlen, "Error: Encoding not recognized: '%s'", enc);
        return NULL;
    }
    char *text = NULL;
    size_t tl = 0;
    enum ef_type t = ef_val_type(p);
    if (t == EF_BUF) {
        if (!strcmp(enc, "none")) {
            *len = ef_val_buf_len(p);
            char *out = malloc(*len ? *len : 1);
            if (out) {
                memcpy(out, ef_val_buf_data(p), *len);
            }
            return out;
        }
        /* iconv-lite turns a Buffer into a (UTF-8) string first */
        struct ef_val *s = fu__decode(ef_val_buf_data(p), ef_val_buf_len(p), "none");
        text = s ? strndup(ef_val_str_get(s), ef_val_str_len(s)) : NULL;
        tl = s ? ef_val_str_len(s) : 0;
        ef_val_unref(s);
    } else {
        if (t == EF_OBJ || t == EF_ARR || t == EF_NULL) {
            text = ef_json_print(p, 0, &tl);
        } else {
            text = js__to_string(p, &tl);
        }
        const struct ef_val *parts = ef_msg_get(msg, "parts");
        const struct ef_val *count = ef_val_obj_get(parts, "count");
        const struct ef_val *index = ef_val_obj_get(parts, "index");
        bool last_string_part = parts &&
                                !strcmp(ef_val_str_get(ef_val_obj_get(parts, "type")), "string") &&
                                ef_val_type(count) == EF_NUM && ef_val_type(index) == EF_NUM &&
                                ef_val_num_get(count) == ef_val_num_get(index) + 1;
        if (text && fn->newline && !last_string_part) {
            char *t2 = realloc(text, tl + 2);
            if (t2) {
                text = t2;
                text[tl++] = '\n';
                text[tl] = 0;
            }
        }
    }
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    char *out = fu__encode(text, tl, enc, len);
    free(text);
    if (!out) {
        snprintf(err, errlen, "out of memory");
    }
    return out;
}

/* Starts the head of the queue (skipping those that end at once). */
static void run_queue(struct file_node *fn)
{
    struct ef_node *n = fn->n;
    uv_loop_t *loop = ef_loop_uv(ef_node_loop(n));
    while (fn->head && !fn->busy) {
        struct fop *op = fn->head;
        char err[512];
        char *name = fu__filename(n, fn->filename, fn->filename_type, op->msg, err, sizeof(err));
        if (!name) {
            ef_node_error(n, op->msg, "%s", err);
            finish(op, false);
            return;
        }
        ef_msg_set_take(op->msg, "filename", ef_val_str(name));
        if (!name[0]) {
            free(name);
            ef_node_warn(n, "No filename specified");
            finish(op, false);
            return;
        }
        /* fileWorkingDirectory and fileAllowedDirectories */
        op->path = file_access__full_path(n, name);
        free(name);
        if (!op->path || !file_access__allowed(n, op->path, err, sizeof(err))) {
            ef_node_error(n, op->msg, "%s", op->path ? err : "out of memory");
            finish(op, false);
            return;
        }
        fn->busy = true;
        if (fn->mode == MODE_DELETE) {
            uv_fs_unlink(loop, &op->req, op->path, on_unlinked);
            return;
        }
        const struct ef_val *p = ef_msg_get(op->msg, "payload");
        if (!p) {
            finish(op, false);
            return;
        }
        if (fn->create_dir) {
            char *dir = strdup(op->path);
            char *slash = dir ? strrchr(dir, '/') : NULL;
            int rc = 0;
            if (slash && slash != dir) {
                *slash = 0;
                rc = fu__mkdir_p(dir);
            }
            free(dir);
            if (rc < 0) {
                fail(op, "failed to create file", rc, "mkdir");
                return;
            }
        }
        op->buf = payload_bytes(fn, op->msg, p, &op->len, err, sizeof(err));
        if (!op->buf) {
            ef_node_error(n, op->msg, "%s", err);
            finish(op, false);
            return;
        }
        int flags = O_WRONLY | O_CREAT | (fn->mode == MODE_OVERWRITE ? O_TRUNC : O_APPEND);
        uv_fs_open(loop, &op->req, op->path, flags, 0666, on_opened);
        return;
    }
}

static int cb_input(struct ef_node *n, struct ef_msg *msg)
{
    struct file_node *fn = ef_node_priv(n);
    /* edgeflow's bound on writes waiting for a slow disk (Node-RED has none) */
    const struct ef_val *mv = settings__get(n->fs->rt->settings, "nodeMessageBufferMaxLength");
    if (ef_val_type(mv) == EF_NUM && ef_val_num_get(mv) > 0 &&
        (double)fn->queued >= ef_val_num_get(mv)) {
        ef_node_error(n, msg, "too many pending messages in file node");
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    struct fop *op = calloc(1, sizeof(*op));
    if (!op) {
        ef_node_error(n, msg, "out of memory");
        ef_msg_free(msg);
        return EF_INPUT_DONE;
    }
    op->owner = fn;
    op->msg = msg;
    op->req.data = op;
    if (fn->tail) {
        fn->tail->next = op;
    } else {
        fn->head = op;
    }
    fn->tail = op;
    fn->queued++;
    run_queue(fn);
    return EF_INPUT_ASYNC;
}

static int cb_init(struct ef_node *n, const struct ef_val *config)
{
    struct file_node *fn = ef_node_priv(n);
    fn->n = n;
    char *ow = js__to_string(ef_val_obj_get(config, "overwriteFile"), NULL);
    fn->mode = !ow                     ? MODE_APPEND
               : !strcmp(ow, "true")   ? MODE_OVERWRITE
               : !strcmp(ow, "delete") ? MODE_DELETE
                                       : MODE_APPEND;
    free(ow);
    return 0;
}

static void cb_close(struct ef_node *n)
{
    struct file_node *fn = ef_node_priv(n);
    struct fop *op = fn->head;
    if (op && fn->busy) {
        op->owner = NULL; /* its libuv callbacks free it */
        op = op->next;
    }
    while (op) {
        struct fop *next = op->next;
        fop_free(op);
        op = next;
    }
    fn->head = fn->tail = NULL;
    ef_node_status(n, NULL, NULL, NULL);
}

/* The file node type. */
const struct ef_node_type ef_type_file = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "file",
    .description = "Writes msg.payload to a file, appends to it or deletes it",
    .category = "storage",
    .inputs = 1,
    .outputs = 1,
    .props = file_props,
    .priv_size = sizeof(struct file_node),
    .cb_init = cb_init,
    .cb_input = cb_input,
    .cb_close = cb_close,
};
