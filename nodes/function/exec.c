/*
 * exec.c - the exec node (Node-RED 90-exec.js): runs a command with the
 * message payload (or another property) appended, never blocking the loop
 * (uv_spawn). In exec mode the command runs through /bin/bash -c and
 * stdout, stderr and the return code come out of the three outputs when it
 * ends; in spawn mode it runs directly (arguments split on spaces, "double
 * quotes" keep spaces) and output is sent as it arrives. A timeout, or
 * msg.kill (with msg.pid when several run), signals the process.
 *
 * The node refuses to start when the settings turn it off: {"exec":
 * {"enabled": false}} (see docs/security.md).
 */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "js.h"
#include "settings.h"

#include "lib/fnutil.h"

#define DEFAULT_MAX_BUFFER 10000000.0

struct exec;

/* One running child and its pipes. */
struct proc {
    struct proc *next;
    struct exec *ex; /* NULL once the node has closed (the proc then only winds down) */
    uv_process_t process;
    uv_pipe_t in, out, err;
    int open; /* handles not yet closed */
    int pid;
    bool spawned;
    bool exited, out_eof, err_eof;
    int64_t status;
    int term_signal;
    bool killed_by_timeout;
    struct ef_msg *msg;
    struct ef_timer *tout;
    /* exec mode: what the command wrote */
    char *obuf, *ebuf;
    size_t olen, elen, ocap, ecap;
    bool overflow;
    char *cmdline;
};

struct exec {
    struct ef_node *n;
    char *cmd, *append;
    const char *addpay; /* property appended, or NULL */
    bool spawn;
    double timer_ms;
    bool oldrc;
    double max_buffer;
    struct proc *procs;
    size_t nprocs;
};

static const struct ef_prop exec_props[] = {
    {EF_PROP_ANY, "command", NULL, false, "the command", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "addpay", NULL, false,
     "the message property appended to the command (true: payload; \"\" or false: none)",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "append", NULL, false, "extra arguments, after the property", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "useSpawn", NULL, false, "\"true\": spawn mode (output while running)",
     EF_PROP_NOFIELD},
    {EF_PROP_ANY, "timer", NULL, false, "timeout in seconds (empty or 0: none)", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "oldrc", NULL, false, "true: the return code alone, not {code}", EF_PROP_NOFIELD},
    {EF_PROP_ANY, "winHide", NULL, false, "Windows only", EF_PROP_NOFIELD},
    {EF_PROP_END},
};

/* The signal name Node.js reports for a number ("SIGTERM"), or NULL. */
static const char *signal_name(int sig)
{
    static const struct {
        int n;
        const char *s;
    } names[] = {{SIGHUP, "SIGHUP"},       {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"},
                 {SIGILL, "SIGILL"},       {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"},
                 {SIGBUS, "SIGBUS"},       {SIGFPE, "SIGFPE"},   {SIGKILL, "SIGKILL"},
                 {SIGUSR1, "SIGUSR1"},     {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
                 {SIGPIPE, "SIGPIPE"},     {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"},
                 {SIGCHLD, "SIGCHLD"},     {SIGCONT, "SIGCONT"}, {SIGSTOP, "SIGSTOP"},
                 {SIGTSTP, "SIGTSTP"},     {SIGTTIN, "SIGTTIN"}, {SIGTTOU, "SIGTTOU"},
                 {SIGURG, "SIGURG"},       {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"},
                 {SIGVTALRM, "SIGVTALRM"}, {SIGPROF, "SIGPROF"}, {SIGWINCH, "SIGWINCH"},
                 {SIGIO, "SIGIO"},         {SIGSYS, "SIGSYS"}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].n == sig) {
            return names[i].s;
        }
    }
    return NULL;
}

/* A signal number from a name ("SIGKILL"), or -1 (Node.js throws then). */
static int signal_number(const char *name)
{
    for (int s = 1; s < 32; s++) {
        const char *n = signal_name(s);
        if (n && !strcmp(n, name)) {
            return s;
        }
    }
    return -1;
}

/* Whether the bytes are valid UTF-8 (the is-utf8 package). */
static bool is_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > n) {
            return false;
        }
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += len;
    }
    return true;
}

/* The output as Node-RED gives it: a string when it is UTF-8, else a Buffer. */
static struct ef_val *output_value(const char *data, size_t len)
{
    if (is_utf8((const unsigned char *)data, len)) {
        return ef_val_strn(data ? data : "", len);
    }
    return ef_val_buf(data, len);
}

static void set_status_text(struct ef_node *n, const char *fill, const char *fmt, long long v)
{
    char text[64];
    snprintf(text, sizeof(text), fmt, v);
    ef_node_status(n, fill, "dot", text);
}

/* ---- process bookkeeping ---- */

static void proc_free(struct proc *p)
{
    ef_msg_free(p->msg);
    free(p->obuf);
    free(p->ebuf);
    free(p->cmdline);
    free(p);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct proc *p = h->data;
    if (--p->open == 0) {
        proc_free(p);
    }
}

static void close_handle(struct proc *p, uv_handle_t *h)
{
    if (!uv_is_closing(h)) {
        uv_close(h, on_handle_closed);
    }
}

/* Removes p from the node's list of active processes. */
static void unlink_proc(struct exec *ex, struct proc *p)
{
    for (struct proc **pp = &ex->procs; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            ex->nprocs--;
            return;
        }
    }
}

static void send3(struct ef_node *n, struct ef_msg *a, struct ef_msg *b, struct ef_msg *c)
{
    struct ef_msg *msgs[3] = {a, b, c};
    int nports = ef_node_outputs(n) < 3 ? ef_node_outputs(n) : 3;
    for (int i = nports; i < 3; i++) {
        ef_msg_free(msgs[i]);
        msgs[i] = NULL;
    }
    if (nports > 0 && ef_node_send_ports(n, msgs, nports) != 0) {
        for (int i = 0; i < nports; i++) {
            ef_msg_free(msgs[i]);
        }
    }
}

/* The end of a spawned process: its return code on the third output. */
static void finish_spawn(struct exec *ex, struct proc *p)
{
    struct ef_node *n = ex->n;
    bool killed = p->term_signal != 0;
    struct ef_val *code = killed ? ef_val_null() : ef_val_num((double)p->status);
    struct ef_val *payload;
    if (!ex->oldrc) {
        payload = ef_val_obj();
        if (payload) {
            ef_val_obj_set_take(payload, "code", ef_val_ref(code));
            const char *sig = killed ? signal_name(p->term_signal) : NULL;
            if (sig) {
                ef_val_obj_set_take(payload, "signal", ef_val_str(sig));
            }
        }
    } else {
        payload = ef_val_ref(code);
    }
    if (!killed && p->status == 0) {
        ef_node_status(n, NULL, NULL, NULL);
    }
    if (killed) {
        ef_node_status(n, "red", "dot", "killed");
    } else if (p->status < 0) {
        set_status_text(n, "red", "rc:%lld", (long long)p->status);
    } else {
        set_status_text(n, "yellow", "rc:%lld", (long long)p->status);
    }
    ef_val_unref(code);
    if (payload && ef_msg_set_take(p->msg, "payload", payload) != 0) {
        ef_val_unref(payload);
    }
    struct ef_msg *out = ef_msg_clone(p->msg);
    send3(n, NULL, NULL, out);
    ef_node_done(n, p->msg);
}

/* The end of an exec-mode command: stdout, stderr and the code at once. */
static void finish_exec(struct exec *ex, struct proc *p)
{
    struct ef_node *n = ex->n;
    struct ef_msg *msg = p->msg;
    ef_msg_delete(msg, "payload");
    struct ef_msg *msg2 = NULL, *msg3 = NULL;
    if (p->elen > 0) {
        msg2 = ef_msg_clone(msg);
        if (msg2) {
            ef_msg_set_take(msg2, "payload", output_value(p->ebuf, p->elen));
        }
    }
    ef_msg_set_take(msg, "payload", output_value(p->obuf, p->olen));
    ef_node_status(n, NULL, NULL, NULL);
    bool killed = p->term_signal != 0;
    bool failed = killed || p->status != 0 || p->overflow;
    if (failed) {
        struct ef_val *rc = ef_val_obj();
        if (p->overflow) {
            ef_val_obj_set_take(rc, "code", ef_val_str("ERR_CHILD_PROCESS_STDIO_MAXBUFFER"));
            ef_val_obj_set_take(rc, "message", ef_val_str("stdout maxBuffer length exceeded"));
        } else {
            ef_val_obj_set_take(rc, "code", killed ? ef_val_null() : ef_val_num((double)p->status));
            /* Node.js: "Command failed: <cmd>\n<stderr>" (stderr read as latin1) */
            size_t ml = strlen(p->cmdline) + p->elen + 32;
            char *m = malloc(ml);
            if (m) {
                int k = snprintf(m, ml, "Command failed: %s\n", p->cmdline);
                size_t off = (size_t)k;
                char *lat = NULL;
                size_t latlen = 0;
                /* latin1 bytes as UTF-8 text */
                lat = malloc(p->elen * 2 + 1);
                for (size_t i = 0; lat && i < p->elen; i++) {
                    unsigned char c = (unsigned char)p->ebuf[i];
                    if (c < 0x80) {
                        lat[latlen++] = (char)c;
                    } else {
                        lat[latlen++] = (char)(0xc0 | (c >> 6));
                        lat[latlen++] = (char)(0x80 | (c & 0x3f));
                    }
                }
                struct ef_val *mv = NULL;
                char *full = malloc(off + latlen + 1);
                if (full) {
                    memcpy(full, m, off);
                    if (latlen) {
                        memcpy(full + off, lat, latlen);
                    }
                    full[off + latlen] = '\0';
                    mv = ef_val_str_take(full, off + latlen);
                }
                free(lat);
                free(m);
                ef_val_obj_set_take(rc, "message", mv ? mv : ef_val_str("Command failed"));
            }
            const char *sig = killed ? signal_name(p->term_signal) : NULL;
            if (sig) {
                ef_val_obj_set_take(rc, "signal", ef_val_str(sig));
            }
        }
        if (killed) {
            ef_node_status(n, "red", "dot", "killed");
        } else if (p->overflow) {
            ef_node_status(n, "red", "dot", "error:ERR_CHILD_PROCESS_STDIO_MAXBUFFER");
        } else {
            set_status_text(n, "red", "error:%lld", (long long)p->status);
        }
        msg3 = ef_msg_clone(msg);
        if (msg3) {
            ef_msg_set_take(msg3, "payload", rc);
        } else {
            ef_val_unref(rc);
        }
    } else if (!ex->oldrc) {
        msg3 = ef_msg_clone(msg);
        struct ef_val *rc = ef_val_obj();
        ef_val_obj_set_take(rc, "code", ef_val_num(0));
        if (msg3) {
            ef_msg_set_take(msg3, "payload", rc);
        } else {
            ef_val_unref(rc);
        }
    }
    if (!msg3) {
        ef_node_status(n, NULL, NULL, NULL);
    } else {
        const struct ef_val *rc = ef_msg_get(msg3, "payload");
        ef_msg_set_take(msg, "rc", ef_val_copy(rc));
        if (msg2) {
            ef_msg_set_take(msg2, "rc", ef_val_copy(rc));
        }
    }
    p->msg = NULL;
    ef_node_done(n, msg);
    send3(n, msg, msg2, msg3);
}

/* Called when the process has exited and both pipes are drained. */
static void maybe_finish(struct proc *p)
{
    if (!p->exited || !p->out_eof || !p->err_eof) {
        return;
    }
    struct exec *ex = p->ex;
    if (ex) {
        unlink_proc(ex, p);
        ef_timer_free(p->tout);
        p->tout = NULL;
        if (ex->spawn) {
            finish_spawn(ex, p);
        } else {
            finish_exec(ex, p);
        }
    }
    close_handle(p, (uv_handle_t *)&p->process);
    close_handle(p, (uv_handle_t *)&p->in);
    close_handle(p, (uv_handle_t *)&p->out);
    close_handle(p, (uv_handle_t *)&p->err);
}

static void on_proc_exit(uv_process_t *h, int64_t status, int term_signal)
{
    struct proc *p = h->data;
    p->exited = true;
    p->status = status;
    p->term_signal = term_signal;
    maybe_finish(p);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

static bool append_bytes(char **b, size_t *len, size_t *cap, const char *data, size_t n)
{
    if (*len + n > *cap) {
        size_t c = *cap ? *cap * 2 : 4096;
        while (c < *len + n) {
            c *= 2;
        }
        char *nb = realloc(*b, c);
        if (!nb) {
            return false;
        }
        *b = nb;
        *cap = c;
    }
    memcpy(*b + *len, data, n);
    *len += n;
    return true;
}

static void kill_proc(struct proc *p, int sig)
{
    if (p->spawned && !p->exited) {
        uv_process_kill(&p->process, sig);
    }
}

/* Output from the child: spawn mode sends it now; exec mode keeps it. */
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct proc *p = s->data;
    bool is_err = s == (uv_stream_t *)&p->err;
    if (nread < 0) {
        uv_read_stop(s);
        if (is_err) {
            p->err_eof = true;
        } else {
            p->out_eof = true;
        }
        free(buf->base);
        maybe_finish(p);
        return;
    }
    struct exec *ex = p->ex;
    if (nread > 0 && ex) {
        if (ex->spawn) {
            struct ef_val *v = output_value(buf->base, (size_t)nread);
            if (v && ef_msg_set_take(p->msg, "payload", v) != 0) {
                ef_val_unref(v);
            }
            struct ef_msg *m = ef_msg_clone(p->msg);
            if (m) {
                if (is_err) {
                    send3(ex->n, NULL, m, NULL);
                } else {
                    send3(ex->n, m, NULL, NULL);
                }
            }
        } else if (!p->overflow) {
            bool ok = is_err ? append_bytes(&p->ebuf, &p->elen, &p->ecap, buf->base, (size_t)nread)
                             : append_bytes(&p->obuf, &p->olen, &p->ocap, buf->base, (size_t)nread);
            if (!ok || (double)(is_err ? p->elen : p->olen) > ex->max_buffer) {
                p->overflow = true;
                kill_proc(p, SIGTERM);
            }
        }
    }
    free(buf->base);
}

static void on_timeout(struct ef_node *n, void *arg)
{
    (void)n;
    struct proc *p = arg;
    ef_timer_free(p->tout);
    p->tout = NULL;
    kill_proc(p, SIGTERM);
}

/* Splits a spawn command line as the node's regex does: quotes group, then go. */
static char **split_args(const char *line, size_t *count)
{
    size_t n = 0, cap = 8;
    char **argv = calloc(cap + 1, sizeof(*argv));
    const char *s = line;
    while (argv && *s) {
        while (*s && isspace((unsigned char)*s)) {
            s++;
        }
        if (!*s) {
            break;
        }
        const char *start = s;
        /* (?:[^\s"]+|"[^"]*")+ ; a lone unmatched quote stops the token */
        while (*s && !isspace((unsigned char)*s)) {
            if (*s == '"') {
                const char *close = strchr(s + 1, '"');
                if (!close) {
                    break;
                }
                s = close + 1;
            } else {
                s++;
            }
        }
        if (s == start) {
            s++; /* an unmatched quote is skipped, as the regex skips it */
            continue;
        }
        size_t len = (size_t)(s - start);
        char *tok;
        if (len >= 2 && start[0] == '"' && start[len - 1] == '"') {
            tok = strndup(start + 1, len - 2);
        } else {
            tok = strndup(start, len);
        }
        if (n == cap) {
            cap *= 2;
            char **a = realloc(argv, (cap + 1) * sizeof(*a));
            if (!a) {
                free(tok);
                break;
            }
            argv = a;
        }
        argv[n++] = tok;
        argv[n] = NULL;
    }
    *count = n;
    return argv;
}

static void free_args(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++) {
        free(argv[i]);
    }
    free(argv);
}

/* Starts the command for msg (taken). */
static void run(struct exec *ex, struct ef_msg *msg)
{
    struct ef_node *n = ex->n;
    /* the command line: cmd, then the property, then the extra arguments */
    size_t vlen = 0;
    char *value = NULL;
    if (ex->addpay) {
        const struct ef_val *v = ef_msg_get(msg, ex->addpay);
        if (v) {
            value = js__to_string(v, &vlen);
        }
    }
    size_t cap = strlen(ex->cmd) + vlen + strlen(ex->append) + 3;
    char *line = malloc(cap);
    struct proc *p = calloc(1, sizeof(*p));
    if (!line || !p) {
        free(value);
        free(line);
        free(p);
        ef_node_error(n, msg, "out of memory");
        ef_msg_free(msg);
        return;
    }
    snprintf(line, cap, "%s%s%s%s%s", ex->cmd, value ? " " : "", value ? value : "",
             *ex->append ? " " : "", ex->append);
    free(value);
    p->ex = ex;
    p->msg = msg;
    p->cmdline = line;
    uv_loop_t *loop = ef_loop_uv(ef_node_loop(n));
    uv_pipe_init(loop, &p->in, 0);
    uv_pipe_init(loop, &p->out, 0);
    uv_pipe_init(loop, &p->err, 0);
    p->in.data = p->out.data = p->err.data = p->process.data = p;
    p->open = 3;
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *)&p->in;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&p->out;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&p->err;
    char **argv = NULL;
    char *shell_argv[4] = {NULL, "-c", line, NULL};
    uv_process_options_t opts;
    memset(&opts, 0, sizeof(opts));
    opts.exit_cb = on_proc_exit;
    opts.stdio = stdio;
    opts.stdio_count = 3;
    if (ex->spawn) {
        size_t argc;
        argv = split_args(line, &argc);
        if (argv && argc == 0) {
            /* the JavaScript calls .map() on the null result of match() */
            free_args(argv);
            close_handle(p, (uv_handle_t *)&p->in);
            close_handle(p, (uv_handle_t *)&p->out);
            close_handle(p, (uv_handle_t *)&p->err);
            ef_node_error(n, msg, "TypeError: Cannot read properties of null (reading 'map')");
            return;
        }
        if (argv && argv[0]) {
            size_t alen = 0;
            for (size_t i = 1; argv[i]; i++) {
                alen += strlen(argv[i]) + 1;
            }
            char *joined = calloc(1, alen + 1);
            for (size_t i = 1; joined && argv[i]; i++) {
                strcat(joined, argv[i]);
                if (argv[i + 1]) {
                    strcat(joined, ",");
                }
            }
            ef_node_debug(n, "%s [%s]", argv[0], joined ? joined : "");
            free(joined);
        }
        opts.file = argv && argv[0] ? argv[0] : "";
        opts.args = argv;
    } else {
        ef_node_debug(n, "%s", line);
        shell_argv[0] = access("/bin/bash", X_OK) == 0 ? "/bin/bash" : "/bin/sh";
        opts.file = shell_argv[0];
        opts.args = shell_argv;
    }
    int rc = argv || !ex->spawn ? uv_spawn(loop, &p->process, &opts) : UV_ENOMEM;
    free_args(argv);
    p->open = 4; /* the process handle is initialised even when spawning fails */
    if (rc != 0) {
        /* Node.js: no pid, then "close" with the negative error number */
        ef_node_status(n, "blue", "dot", "pid:undefined");
        p->exited = p->out_eof = p->err_eof = true;
        p->status = rc;
        if (ex->spawn) {
            finish_spawn(ex, p);
        } else {
            finish_exec(ex, p);
        }
        close_handle(p, (uv_handle_t *)&p->process);
        close_handle(p, (uv_handle_t *)&p->in);
        close_handle(p, (uv_handle_t *)&p->out);
        close_handle(p, (uv_handle_t *)&p->err);
        return;
    }
    p->spawned = true;
    p->pid = p->process.pid;
    p->next = ex->procs;
    ex->procs = p;
    ex->nprocs++;
    set_status_text(n, "blue", "pid:%lld", (long long)p->pid);
    if (ex->timer_ms != 0) {
        p->tout = ef_timer_new(n, on_timeout, p);
        if (p->tout) {
            ef_timer_start(p->tout, fn__timer_ms(ex->timer_ms), 0);
        }
    }
    uv_read_start((uv_stream_t *)&p->out, on_alloc, on_read);
    uv_read_start((uv_stream_t *)&p->err, on_alloc, on_read);
}

/* msg.kill: signal the process named by msg.pid, or the only one running. */
static void kill_request(struct exec *ex, struct ef_msg *msg)
{
    struct ef_node *n = ex->n;
    const struct ef_val *k = ef_msg_get(msg, "kill");
    char name[32] = "SIGTERM";
    if (ef_val_type(k) == EF_STR && ef_val_str_len(k) > 0 && ef_val_str_len(k) < sizeof(name)) {
        char up[32];
        size_t len = ef_val_str_len(k);
        for (size_t i = 0; i <= len; i++) {
            up[i] = (char)toupper((unsigned char)ef_val_str_get(k)[i]);
        }
        if (!strncmp(up, "SIG", 3)) {
            memcpy(name, up, len + 1);
        }
    }
    int sig = signal_number(name);
    struct proc *target = NULL;
    if (fn__has(msg, "pid")) {
        size_t plen;
        char *want = js__to_string(ef_msg_get(msg, "pid"), &plen);
        for (struct proc *p = ex->procs; p && want; p = p->next) {
            char pid[32];
            snprintf(pid, sizeof(pid), "%d", p->pid);
            if (!strcmp(pid, want)) {
                target = p;
            }
        }
        free(want);
    } else if (ex->nprocs == 1) {
        target = ex->procs;
    }
    if (target) {
        if (sig < 0) {
            ef_node_error(n, msg, "Unknown signal: %s", name);
        } else {
            kill_proc(target, sig);
            ef_node_status(n, "red", "dot", "killed");
        }
    }
    ef_msg_free(msg);
}

static int cb_exec_input(struct ef_node *n, struct ef_msg *msg)
{
    struct exec *ex = ef_node_priv(n);
    if (fn__has(msg, "kill")) {
        kill_request(ex, msg);
        return EF_INPUT_DONE;
    }
    run(ex, msg);
    return EF_INPUT_ASYNC;
}

/* Whether the settings allow the exec node: {"exec": {"enabled": false}} turns it off. */
static bool exec_enabled(struct ef_node *n)
{
    const struct ef_val *s = settings__get(n->fs->rt->settings, "exec");
    const struct ef_val *en = ef_val_obj_get(s, "enabled");
    return !(ef_val_type(en) == EF_BOOL && !ef_val_bool_get(en));
}

static char *trimmed(const char *s)
{
    while (*s && isspace((unsigned char)*s)) {
        s++;
    }
    size_t len = strlen(s);
    while (len && isspace((unsigned char)s[len - 1])) {
        len--;
    }
    return strndup(s, len);
}

static int cb_exec_init(struct ef_node *n, const struct ef_val *config)
{
    struct exec *ex = ef_node_priv(n);
    ex->n = n;
    if (!exec_enabled(n)) {
        ef_node_error(n, NULL, "the exec node is disabled by the settings (exec.enabled is false)");
        return EF_EUNSUPP;
    }
    ex->cmd = trimmed(fn__cfg_str(config, "command", ""));
    ex->append = trimmed(fn__cfg_str(config, "append", ""));
    const struct ef_val *ap = ef_val_obj_get(config, "addpay");
    if (!ap || (ef_val_type(ap) == EF_BOOL && ef_val_bool_get(ap))) {
        ex->addpay = "payload";
    } else if (ef_val_type(ap) == EF_STR && ef_val_str_len(ap) > 0) {
        ex->addpay = ef_val_str_get(ap);
    } else {
        ex->addpay = NULL;
    }
    const struct ef_val *us = ef_val_obj_get(config, "useSpawn");
    ex->spawn = ef_val_type(us) == EF_STR && !strcmp(ef_val_str_get(us), "true");
    const struct ef_val *tm = ef_val_obj_get(config, "timer");
    ex->timer_ms = ef_val_truthy(tm) ? js__to_number(tm) * 1000 : 0;
    if (ex->timer_ms != ex->timer_ms) {
        ex->timer_ms = 1; /* NaN: setTimeout fires at once */
    }
    ex->oldrc = ef_val_truthy(ef_val_obj_get(config, "oldrc"));
    const struct ef_val *mb = settings__get(n->fs->rt->settings, "execMaxBufferSize");
    ex->max_buffer = ef_val_truthy(mb) ? js__to_number(mb) : DEFAULT_MAX_BUFFER;
    if (!ex->cmd || !ex->append) {
        free(ex->cmd);
        free(ex->append);
        ef_node_error(n, NULL, "out of memory");
        return EF_ENOMEM;
    }
    return 0;
}

static void cb_exec_close(struct ef_node *n)
{
    struct exec *ex = ef_node_priv(n);
    /* The children are told to stop; their handles wind down on their own. */
    while (ex->procs) {
        struct proc *p = ex->procs;
        ex->procs = p->next;
        p->ex = NULL;
        p->tout = NULL; /* freed with the node */
        kill_proc(p, SIGTERM);
        close_handle(p, (uv_handle_t *)&p->process);
        close_handle(p, (uv_handle_t *)&p->in);
        close_handle(p, (uv_handle_t *)&p->out);
        close_handle(p, (uv_handle_t *)&p->err);
    }
    ex->nprocs = 0;
    free(ex->cmd);
    free(ex->append);
    ex->cmd = ex->append = NULL;
}

const struct ef_node_type ef_type_exec = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "exec",
    .description = "Runs a system command: stdout, stderr and the return code on three outputs",
    .category = "function",
    .inputs = 1,
    .outputs = 3,
    .props = exec_props,
    .priv_size = sizeof(struct exec),
    .cb_init = cb_exec_init,
    .cb_input = cb_exec_input,
    .cb_close = cb_exec_close,
};
