/*
 * infer.c - the "infer" node: runs an ONNX model on message properties with
 * ONNX Runtime (loaded at run time, see ort.h), off the loop on libuv's
 * worker pool, one Run in flight per node so message order is kept,
 * batching queued messages into one Run when the model has a dynamic batch
 * dimension, with a bounded queue, pre- and post-processing, and reloading
 * of a model file replaced on disk. docs/infer.md describes it.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <edgeflow/edgeflow.h>

#include "infer.h"

#ifndef EF_INFER_ORT_DEFAULT
#define EF_INFER_ORT_DEFAULT ""
#endif

enum pre_mode { PRE_NONE, PRE_STANDARDIZE, PRE_MINMAX };
enum post_mode { POST_NONE, POST_ARGMAX, POST_TOPK, POST_THRESHOLD, POST_RECON };
enum drop_policy { DROP_OLDEST, DROP_NEWEST, DROP_ERROR };

/* The configuration, filled by the property table. */
struct infer_cfg {
    const char *model;
    const char *runtime_library;
    const struct ef_val *inputs; /* object: input name -> msg property */
    const char *output;
    const char *output_name;
    const char *preprocess;
    const struct ef_val *mean, *std, *min, *max;
    const char *postprocess;
    const char *labels;
    int64_t top_k;
    double threshold;
    int64_t threads;
    int64_t batch_size;
    int64_t queue_limit;
    const char *drop_policy;
    double watch;
    bool timing;
};

/* A message waiting for inference. */
struct job {
    struct ef_msg *msg;
    uint64_t t_in; /* uv_hrtime() at arrival */
    struct job *next;
};

/* One Run: the messages it serves, its input buffers and its outputs. */
struct prepared;
struct batch {
    struct core *c;
    struct prepared *p;
    size_t nmsgs;
    struct ef_msg **msgs;
    uint64_t *t_in;
    size_t *samples;
    bool *batched;
    size_t total; /* samples in all */
    void **in_data;
    int64_t (*in_shape)[ORT_MAX_RANK];
    OrtValue **outs;
    uint64_t t_start, run_ns;
    char err[768];
    uv_work_t req;
};

/* A model load on the worker pool. */
struct load {
    struct core *c;
    char path[PATH_MAX];
    int threads;
    struct ort_model *model;
    char err[768];
    uv_work_t req;
};

/* The node's private area: the configuration and the heap state. */
struct core;
struct infer {
    struct infer_cfg cfg;
    struct core *core;
};

static const struct ef_prop infer_props[] = {
    {EF_PROP_STR, "model", "\"\"", true, "model file (.onnx); relative paths are in the user dir",
     offsetof(struct infer, cfg.model)},
    {EF_PROP_STR, "runtimeLibrary", "\"\"", false,
     "libonnxruntime.so to load (default: settings inferRuntimeLibrary, EDGEFLOW_ORT_LIB, the npm "
     "onnxruntime-node copy, then libonnxruntime.so.1)",
     offsetof(struct infer, cfg.runtime_library)},
    {EF_PROP_ANY, "inputs", "{}", false,
     "object: model input name -> msg property (default: payload, or payload.<name> for "
     "several inputs)",
     offsetof(struct infer, cfg.inputs)},
    {EF_PROP_STR, "output", "\"payload\"", false, "msg property the result is written to",
     offsetof(struct infer, cfg.output)},
    {EF_PROP_STR, "outputName", "\"\"", false,
     "one model output to write (default: all outputs as an object keyed by name)",
     offsetof(struct infer, cfg.output_name)},
    {EF_PROP_STR, "preprocess", "\"none\"", false, "none, standardize (mean/std) or minmax",
     offsetof(struct infer, cfg.preprocess)},
    {EF_PROP_ANY, "mean", "null", false, "per-feature means (number or array) for standardize",
     offsetof(struct infer, cfg.mean)},
    {EF_PROP_ANY, "std", "null", false, "per-feature standard deviations for standardize",
     offsetof(struct infer, cfg.std)},
    {EF_PROP_ANY, "min", "null", false, "per-feature minimums for minmax",
     offsetof(struct infer, cfg.min)},
    {EF_PROP_ANY, "max", "null", false, "per-feature maximums for minmax",
     offsetof(struct infer, cfg.max)},
    {EF_PROP_STR, "postprocess", "\"none\"", false,
     "none, argmax, topk, threshold or reconstruction", offsetof(struct infer, cfg.postprocess)},
    {EF_PROP_STR, "labels", "\"\"", false, "labels file, one per line (argmax, topk)",
     offsetof(struct infer, cfg.labels)},
    {EF_PROP_INT, "topK", "3", false, "how many classes topk reports",
     offsetof(struct infer, cfg.top_k)},
    {EF_PROP_NUM, "threshold", "0.5", false,
     "threshold: output > threshold is true; reconstruction: score > threshold is an anomaly",
     offsetof(struct infer, cfg.threshold)},
    {EF_PROP_INT, "threads", "1", false, "ONNX Runtime intra-op threads (0: its default)",
     offsetof(struct infer, cfg.threads)},
    {EF_PROP_INT, "batchSize", "1", false,
     "most queued messages joined into one Run (dynamic batch models)",
     offsetof(struct infer, cfg.batch_size)},
    {EF_PROP_INT, "queueLimit", "1000", false, "most messages waiting for inference",
     offsetof(struct infer, cfg.queue_limit)},
    {EF_PROP_STR, "dropPolicy", "\"oldest\"", false,
     "when the queue is full: oldest (drop it), newest (drop the new one), error (refuse it)",
     offsetof(struct infer, cfg.drop_policy)},
    {EF_PROP_NUM, "watch", "1", false, "seconds between checks of the model file (0: never)",
     offsetof(struct infer, cfg.watch)},
    {EF_PROP_BOOL, "timing", "false", false,
     "add msg.inferTiming (runUs, queueUs, totalUs, batch, samples, atUs)",
     offsetof(struct infer, cfg.timing)},
    {EF_PROP_END},
};

/* A path from the configuration: absolute, or relative to the user dir. */
static void resolve_path(struct ef_node *n, const char *p, char *out, size_t len)
{
    const char *ud = ef_node_user_dir(n);
    if (p[0] == '/' || !*ud) {
        snprintf(out, len, "%s", p);
    } else {
        snprintf(out, len, "%s/%s", ud, p);
    }
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* A loaded model checked against the configuration. */
struct prepared {
    struct ort_model *m;
    struct io_layout *lay; /* per model input */
    char **props;          /* per model input: the msg property it is read from */
    bool batchable;        /* messages can share a Run */
    size_t sel;            /* the output written alone or post-processed */
};

/* ---- The node's state ---- */

/*
 * It lives on the heap apart from the node's private area, so that a Run or
 * a model load still on the worker pool when the node closes finds it: the
 * last of (close, Run done, load done) frees it.
 */
struct core {
    struct ef_node *n; /* NULL once the node has closed */
    struct infer_cfg cfg;
    enum pre_mode pre;
    enum post_mode post;
    enum drop_policy drop;
    double *pre_a, *pre_b; /* x' = (x - a[f]) * b[f], f = index % npre */
    size_t npre;
    char **labels;
    size_t nlabels;
    struct ort_rt *rt;
    char rt_err[1400];
    char model_path[PATH_MAX];
    struct prepared *model; /* the model Runs use */
    struct prepared *next;  /* a reloaded model, swapped in between Runs */
    bool load_failed;       /* no model, and the last load failed */
    char model_err[1024];
    struct load *loading;
    struct batch *running;
    struct job *head, *tail;
    size_t depth;
    uint64_t dropped;
    struct stat seen; /* the model file as last loaded (or tried) */
    struct stat change;
    bool change_pending; /* a change seen; loaded once it holds still for a tick */
    struct ef_timer *watch_timer, *status_timer;
    char status_text[160];
};

static void prepared_free(struct ort_rt *rt, struct prepared *p)
{
    if (!p) {
        return;
    }
    for (size_t i = 0; p->props && i < p->m->ninputs; i++) {
        free(p->props[i]);
    }
    free(p->props);
    free(p->lay);
    ort_model_free(rt, p->m);
    free(p);
}

static void core_free(struct core *c)
{
    for (struct job *j = c->head; j;) {
        struct job *next = j->next;
        ef_msg_free(j->msg);
        free(j);
        j = next;
    }
    if (c->rt) {
        prepared_free(c->rt, c->model);
        prepared_free(c->rt, c->next);
        ort_rt_free(c->rt);
    }
    for (size_t i = 0; i < c->nlabels; i++) {
        free(c->labels[i]);
    }
    free(c->labels);
    free(c->pre_a);
    free(c->pre_b);
    free(c);
}

/* Frees the core once the node has closed and no work is left on the pool. */
static void core_release(struct core *c)
{
    if (!c->n && !c->running && !c->loading) {
        core_free(c);
    }
}

/* ---- Status ---- */

static void show_status(struct core *c)
{
    char text[160];
    const char *fill = "green", *shape = "dot";
    if (!c->rt) {
        fill = "red", shape = "ring";
        snprintf(text, sizeof(text), "ONNX Runtime not available");
    } else if (!c->model && c->load_failed) {
        fill = "red", shape = "ring";
        snprintf(text, sizeof(text), "model error");
    } else if (!c->model) {
        fill = "yellow", shape = "ring";
        snprintf(text, sizeof(text), "loading model");
    } else if (c->dropped) {
        fill = "yellow";
        snprintf(text, sizeof(text), "queue %zu, dropped %llu", c->depth,
                 (unsigned long long)c->dropped);
    } else if (c->depth) {
        snprintf(text, sizeof(text), "queue %zu", c->depth);
    } else {
        snprintf(text, sizeof(text), "ready");
    }
    if (strcmp(text, c->status_text) != 0) {
        snprintf(c->status_text, sizeof(c->status_text), "%s", text);
        ef_node_status(c->n, fill, shape, text);
    }
}

static void on_status_tick(struct ef_node *n, void *arg)
{
    (void)n;
    show_status(arg);
}

/* ---- Failing messages ---- */

static void fail_msg(struct core *c, struct ef_msg *msg, const char *fmt, const char *detail)
{
    ef_node_error(c->n, msg, fmt, detail);
    ef_node_done(c->n, msg);
    ef_msg_free(msg);
}

/* Errors out every queued message (no model could be loaded). */
static void fail_queue(struct core *c)
{
    while (c->head) {
        struct job *j = c->head;
        c->head = j->next;
        c->depth--;
        struct ef_msg *msg = j->msg;
        free(j);
        ef_node_error(c->n, msg, "model %s is not loaded: %s", c->model_path, c->model_err);
        ef_node_done(c->n, msg);
        ef_msg_free(msg);
    }
    c->tail = NULL;
}

/* ---- Preparing a loaded model ---- */

static struct prepared *prepare(struct core *c, struct ort_model *m, char *err, size_t errlen)
{
    struct prepared *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->m = m;
    p->lay = calloc(m->ninputs ? m->ninputs : 1, sizeof(*p->lay));
    p->props = calloc(m->ninputs ? m->ninputs : 1, sizeof(*p->props));
    if (!p->lay || !p->props) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (m->ninputs == 0 || m->noutputs == 0 || m->ninputs > 64 || m->noutputs > 64) {
        snprintf(err, errlen,
                 "the model has %zu inputs and %zu outputs; 1 to 64 of each are "
                 "supported",
                 m->ninputs, m->noutputs);
        goto fail;
    }
    char names[512];
    size_t o = 0;
    names[0] = 0;
    for (size_t i = 0; i < m->ninputs && o < sizeof(names); i++) {
        o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s", i ? ", " : "",
                              m->inputs[i].name);
    }
    for (size_t i = 0; i < ef_val_obj_len(c->cfg.inputs); i++) {
        size_t kl;
        const char *k = ef_val_obj_key_at(c->cfg.inputs, i, &kl);
        bool found = false;
        for (size_t j = 0; j < m->ninputs && !found; j++) {
            found = strlen(m->inputs[j].name) == kl && !memcmp(m->inputs[j].name, k, kl);
        }
        if (!found) {
            snprintf(err, errlen,
                     "inputs maps \"%.*s\", which the model does not have (its "
                     "inputs: %s)",
                     (int)kl, k, names);
            goto fail;
        }
    }
    p->batchable = true;
    for (size_t i = 0; i < m->ninputs; i++) {
        const struct ort_io *io = &m->inputs[i];
        if (io_layout_of(io, &p->lay[i], err, errlen) != 0) {
            goto fail;
        }
        p->batchable = p->batchable && p->lay[i].dynamic_batch;
        const struct ef_val *prop = ef_val_obj_get(c->cfg.inputs, io->name);
        if (prop) {
            p->props[i] = strdup(ef_val_str_get(prop));
        } else if (m->ninputs == 1) {
            p->props[i] = strdup("payload");
        } else {
            size_t len = strlen(io->name) + 16;
            p->props[i] = malloc(len);
            if (p->props[i]) {
                snprintf(p->props[i], len, "payload.%s", io->name);
            }
        }
        if (!p->props[i]) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        bool fl = io->elem == ORT_ELEM_FLOAT || io->elem == ORT_ELEM_DOUBLE;
        if (c->pre != PRE_NONE && fl && p->lay[i].per_sample % c->npre != 0) {
            snprintf(err, errlen, "%s has %zu values per sample; %zu %s values do not fit it",
                     io->name, p->lay[i].per_sample, c->npre,
                     c->pre == PRE_STANDARDIZE ? "mean/std" : "min/max");
            goto fail;
        }
    }
    for (size_t i = 0; i < m->noutputs; i++) {
        p->batchable = p->batchable && m->outputs[i].rank >= 1 && m->outputs[i].dims[0] < 0;
    }
    p->sel = 0;
    if (*c->cfg.output_name) {
        p->sel = m->noutputs;
        o = 0;
        for (size_t i = 0; i < m->noutputs; i++) {
            if (!strcmp(m->outputs[i].name, c->cfg.output_name)) {
                p->sel = i;
            }
            if (o < sizeof(names)) {
                o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s", i ? ", " : "",
                                      m->outputs[i].name);
            }
        }
        if (p->sel == m->noutputs) {
            snprintf(err, errlen,
                     "outputName \"%s\" is not an output of the model (its outputs: "
                     "%s)",
                     c->cfg.output_name, names);
            goto fail;
        }
    }
    return p;
fail:
    p->m = m;
    if (p->props) {
        for (size_t i = 0; i < m->ninputs; i++) {
            free(p->props[i]);
        }
    }
    free(p->props);
    free(p->lay);
    free(p);
    return NULL;
}

/* ---- Loading the model on the worker pool ---- */

static void dispatch(struct core *c);

static void work_load(uv_work_t *req)
{
    struct load *ld = req->data;
    ld->model = ort_model_load(ld->c->rt, ld->path, ld->threads, ld->err, sizeof(ld->err));
}

static void after_load(uv_work_t *req, int status)
{
    struct load *ld = req->data;
    struct core *c = ld->c;
    c->loading = NULL;
    if (!c->n) {
        ort_model_free(c->rt, ld->model);
        free(ld);
        core_release(c);
        return;
    }
    struct prepared *p = NULL;
    if (status != 0) {
        snprintf(ld->err, sizeof(ld->err), "load cancelled (%s)", uv_strerror(status));
    } else if (ld->model) {
        p = prepare(c, ld->model, ld->err, sizeof(ld->err));
        if (!p) {
            ort_model_free(c->rt, ld->model);
        }
    }
    bool reload = c->model != NULL;
    if (p) {
        c->load_failed = false;
        c->model_err[0] = 0;
        prepared_free(c->rt, c->next);
        c->next = p;
        if (reload) {
            ef_node_log(c->n, "model %s reloaded", c->model_path);
        }
    } else if (reload) {
        ef_node_warn(c->n, "model %s changed but cannot be loaded, keeping the previous one: %s",
                     c->model_path, ld->err);
    } else {
        c->load_failed = true;
        snprintf(c->model_err, sizeof(c->model_err), "%s", ld->err);
        ef_node_error(c->n, NULL, "model %s: %s", c->model_path, ld->err);
    }
    free(ld);
    dispatch(c);
    show_status(c);
}

static void start_load(struct core *c)
{
    struct load *ld = calloc(1, sizeof(*ld));
    if (!ld) {
        return;
    }
    ld->c = c;
    snprintf(ld->path, sizeof(ld->path), "%s", c->model_path);
    ld->threads = (int)c->cfg.threads;
    ld->req.data = ld;
    if (stat(c->model_path, &c->seen) != 0) {
        memset(&c->seen, 0, sizeof(c->seen));
    }
    c->change_pending = false;
    if (uv_queue_work(ef_loop_uv(ef_node_loop(c->n)), &ld->req, work_load, after_load) != 0) {
        free(ld);
        return;
    }
    c->loading = ld;
}

/* Watches the model file: a change that holds still for one tick is loaded. */
static void on_watch_tick(struct ef_node *n, void *arg)
{
    struct core *c = arg;
    struct stat st;
    (void)n;
    if (stat(c->model_path, &st) != 0 || same_file(&st, &c->seen)) {
        c->change_pending = false;
        return;
    }
    if (c->change_pending && same_file(&st, &c->change)) {
        if (!c->loading) {
            start_load(c);
        }
        return;
    }
    c->change = st;
    c->change_pending = true;
}

/* ---- Runs ---- */

static void batch_free(struct core *c, struct batch *b)
{
    size_t nin = b->p ? b->p->m->ninputs : 0, nout = b->p ? b->p->m->noutputs : 0;
    for (size_t i = 0; i < b->nmsgs; i++) {
        ef_msg_free(b->msgs[i]);
    }
    for (size_t i = 0; b->in_data && i < nin; i++) {
        free(b->in_data[i]);
    }
    for (size_t i = 0; b->outs && i < nout; i++) {
        if (b->outs[i]) {
            c->rt->f.ReleaseValue(b->outs[i]);
        }
    }
    free(b->in_data);
    free(b->in_shape);
    free(b->outs);
    free(b->msgs);
    free(b->t_in);
    free(b->samples);
    free(b->batched);
    free(b);
}

static void work_run(uv_work_t *req)
{
    struct batch *b = req->data;
    struct ort_rt *rt = b->c->rt;
    struct ort_model *m = b->p->m;
    OrtValue *ins[64] = {0};
    size_t nin = m->ninputs;
    for (size_t i = 0; i < nin; i++) {
        const struct ort_io *io = &m->inputs[i];
        size_t count = 1;
        for (size_t d = 0; d < io->rank; d++) {
            count *= (size_t)b->in_shape[i][d];
        }
        if (ort_failed(rt,
                       rt->f.CreateTensorWithDataAsOrtValue(
                           rt->cpu, b->in_data[i], count * ort_elem_size(io->elem), b->in_shape[i],
                           io->rank, io->elem, &ins[i]),
                       "cannot make the input tensor", b->err, sizeof(b->err))) {
            goto out;
        }
    }
    uint64_t t0 = uv_hrtime();
    OrtStatus *st = rt->f.Run(m->session, NULL, m->input_names, (const OrtValue *const *)ins, nin,
                              m->output_names, m->noutputs, b->outs);
    b->run_ns = uv_hrtime() - t0;
    ort_failed(rt, st, "ONNX Runtime Run failed", b->err, sizeof(b->err));
out:
    for (size_t i = 0; i < nin; i++) {
        if (ins[i]) {
            rt->f.ReleaseValue(ins[i]);
        }
    }
}

/* An output tensor as read back after a Run. */
struct out_view {
    const void *data;
    int elem;
    size_t rank;
    int64_t dims[ORT_MAX_RANK];
    size_t count;
    bool rows; /* dim 0 is the batch: it can be split between messages */
};

static int read_output(struct core *c, struct batch *b, size_t i, struct out_view *v)
{
    struct ort_rt *rt = c->rt;
    OrtTensorTypeAndShapeInfo *info = NULL;
    void *data = NULL;
    const char *name = b->p->m->outputs[i].name;
    if (ort_failed(rt, rt->f.GetTensorTypeAndShape(b->outs[i], &info), name, b->err,
                   sizeof(b->err))) {
        return -1;
    }
    bool bad =
        ort_failed(rt, rt->f.GetTensorElementType(info, &v->elem), name, b->err, sizeof(b->err)) ||
        ort_failed(rt, rt->f.GetDimensionsCount(info, &v->rank), name, b->err, sizeof(b->err)) ||
        v->rank > ORT_MAX_RANK ||
        ort_failed(rt, rt->f.GetDimensions(info, v->dims, v->rank), name, b->err, sizeof(b->err)) ||
        ort_failed(rt, rt->f.GetTensorMutableData(b->outs[i], &data), name, b->err, sizeof(b->err));
    rt->f.ReleaseTensorTypeAndShapeInfo(info);
    if (bad || !ort_elem_size(v->elem)) {
        if (!bad) {
            snprintf(b->err, sizeof(b->err), "output %s has unsupported element type %d", name,
                     v->elem);
        }
        return -1;
    }
    v->data = data;
    v->count = 1;
    for (size_t d = 0; d < v->rank; d++) {
        v->count *= (size_t)v->dims[d];
    }
    v->rows = b->p->lay[0].has_batch && v->rank >= 1 && (size_t)v->dims[0] == b->total;
    if (!v->rows && b->nmsgs > 1) {
        snprintf(b->err, sizeof(b->err),
                 "output %s has %lld rows for a batch of %zu samples; it cannot be split "
                 "between messages",
                 name, v->rank ? (long long)v->dims[0] : 0LL, b->total);
        return -1;
    }
    return 0;
}

/* The value of output v for message k: its rows, or the whole tensor. */
static struct ef_val *output_value(const struct out_view *v, size_t off, size_t samples,
                                   bool batched)
{
    if (!v->rows) {
        return tensor_to_val(v->data, v->elem, 0, v->dims, v->rank);
    }
    size_t stride = v->count / (size_t)v->dims[0];
    int64_t dims[ORT_MAX_RANK];
    memcpy(dims, v->dims, sizeof(dims));
    if (batched) {
        dims[0] = (int64_t)samples;
        return tensor_to_val(v->data, v->elem, off * stride, dims, v->rank);
    }
    return tensor_to_val(v->data, v->elem, off * stride, dims + 1, v->rank - 1);
}

static struct ef_val *class_entry(struct core *c, size_t index, double score)
{
    struct ef_val *o = ef_val_obj();
    if (!o) {
        return NULL;
    }
    ef_val_obj_set_take(o, "index", ef_val_num((double)index));
    if (index < c->nlabels) {
        ef_val_obj_set_take(o, "label", ef_val_str(c->labels[index]));
    }
    ef_val_obj_set_take(o, "score", ef_val_num(score));
    return o;
}

/*
 * Post-processes one sample: `n` output values starting at element `first`
 * of v; for reconstruction, compared with the sample's input values.
 * Returns a new value, or NULL with the reason in err.
 */
static struct ef_val *post_sample(struct core *c, struct batch *b, const struct out_view *v,
                                  size_t first, size_t n, size_t row, char *err, size_t errlen)
{
    switch (c->post) {
    case POST_ARGMAX: {
        size_t best = 0;
        for (size_t i = 1; i < n; i++) {
            if (elem_load(v->data, v->elem, first + i) >
                elem_load(v->data, v->elem, first + best)) {
                best = i;
            }
        }
        return class_entry(c, best, elem_load(v->data, v->elem, first + best));
    }
    case POST_TOPK: {
        size_t k = (size_t)c->cfg.top_k < n ? (size_t)c->cfg.top_k : n;
        size_t *idx = malloc((n ? n : 1) * sizeof(size_t));
        struct ef_val *a = ef_val_arr();
        if (!idx || !a) {
            free(idx);
            ef_val_unref(a);
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        for (size_t i = 0; i < n; i++) {
            idx[i] = i;
        }
        for (size_t i = 0; i < k; i++) { /* partial selection sort: k is small */
            size_t best = i;
            for (size_t j = i + 1; j < n; j++) {
                if (elem_load(v->data, v->elem, first + idx[j]) >
                    elem_load(v->data, v->elem, first + idx[best])) {
                    best = j;
                }
            }
            size_t t = idx[i];
            idx[i] = idx[best];
            idx[best] = t;
            ef_val_arr_push_take(
                a, class_entry(c, idx[i], elem_load(v->data, v->elem, first + idx[i])));
        }
        free(idx);
        return a;
    }
    case POST_THRESHOLD: {
        if (n == 1) {
            return ef_val_bool(elem_load(v->data, v->elem, first) > c->cfg.threshold);
        }
        struct ef_val *a = ef_val_arr();
        for (size_t i = 0; a && i < n; i++) {
            ef_val_arr_push_take(
                a, ef_val_bool(elem_load(v->data, v->elem, first + i) > c->cfg.threshold));
        }
        return a;
    }
    case POST_RECON: {
        const struct ort_io *in = &b->p->m->inputs[0];
        size_t per = b->p->lay[0].per_sample;
        if (per != n) {
            snprintf(err, errlen,
                     "reconstruction: input %s has %zu values per sample but output %s has %zu",
                     in->name, per, b->p->m->outputs[b->p->sel].name, n);
            return NULL;
        }
        double sum = 0;
        for (size_t i = 0; i < n; i++) {
            double d = elem_load(v->data, v->elem, first + i) -
                       elem_load(b->in_data[0], in->elem, row * per + i);
            sum += d * d;
        }
        double mse = n ? sum / (double)n : 0;
        struct ef_val *o = ef_val_obj();
        if (o) {
            ef_val_obj_set_take(o, "score", ef_val_num(mse));
            ef_val_obj_set_take(o, "anomaly", ef_val_bool(mse > c->cfg.threshold));
        }
        return o;
    }
    default: return NULL;
    }
}

/* The post-processed result of the selected output for message k. */
static struct ef_val *post_value(struct core *c, struct batch *b, const struct out_view *v,
                                 size_t off, size_t samples, bool batched, char *err, size_t errlen)
{
    size_t rows = v->rows ? samples : 1;
    size_t stride = v->rows ? v->count / (size_t)v->dims[0] : v->count;
    size_t first = v->rows ? off * stride : 0;
    if (!v->rows && samples != 1) {
        snprintf(err, errlen, "output %s has no batch dimension to split into %zu samples",
                 b->p->m->outputs[b->p->sel].name, samples);
        return NULL;
    }
    if (!batched || !v->rows) {
        return post_sample(c, b, v, first, stride, off, err, errlen);
    }
    struct ef_val *a = ef_val_arr();
    for (size_t r = 0; a && r < rows; r++) {
        struct ef_val *item =
            post_sample(c, b, v, first + r * stride, stride, off + r, err, errlen);
        if (!item) {
            ef_val_unref(a);
            return NULL;
        }
        ef_val_arr_push_take(a, item);
    }
    return a;
}

static void deliver(struct core *c, struct batch *b)
{
    struct ort_model *m = b->p->m;
    struct out_view views[64];
    bool ok = !b->err[0];
    for (size_t i = 0; ok && i < m->noutputs; i++) {
        ok = read_output(c, b, i, &views[i]) == 0;
    }
    uint64_t now = uv_hrtime();
    size_t off = 0;
    for (size_t k = 0; k < b->nmsgs; k++) {
        struct ef_msg *msg = b->msgs[k];
        b->msgs[k] = NULL;
        if (!ok) {
            fail_msg(c, msg, "%s", b->err);
            continue;
        }
        char err[768] = "";
        struct ef_val *val = NULL;
        if (c->post != POST_NONE) {
            val = post_value(c, b, &views[b->p->sel], off, b->samples[k], b->batched[k], err,
                             sizeof(err));
        } else if (*c->cfg.output_name) {
            val = output_value(&views[b->p->sel], off, b->samples[k], b->batched[k]);
        } else {
            val = ef_val_obj();
            for (size_t i = 0; val && i < m->noutputs; i++) {
                struct ef_val *item = output_value(&views[i], off, b->samples[k], b->batched[k]);
                if (!item || ef_val_obj_set_take(val, m->outputs[i].name, item) != 0) {
                    ef_val_unref(item);
                    ef_val_unref(val);
                    val = NULL;
                }
            }
        }
        off += b->samples[k];
        if (!val) {
            fail_msg(c, msg, "%s", err[0] ? err : "out of memory");
            continue;
        }
        if (ef_msg_set_take(msg, c->cfg.output, val) != 0) {
            ef_val_unref(val);
            fail_msg(c, msg, "cannot set msg.%s", c->cfg.output);
            continue;
        }
        if (c->cfg.timing) {
            struct ef_val *t = ef_val_obj();
            if (t) {
                ef_val_obj_set_take(t, "runUs", ef_val_num((double)b->run_ns / 1e3));
                ef_val_obj_set_take(t, "queueUs",
                                    ef_val_num((double)(b->t_start - b->t_in[k]) / 1e3));
                ef_val_obj_set_take(t, "totalUs", ef_val_num((double)(now - b->t_in[k]) / 1e3));
                ef_val_obj_set_take(t, "batch", ef_val_num((double)b->nmsgs));
                ef_val_obj_set_take(t, "samples", ef_val_num((double)b->total));
                ef_val_obj_set_take(t, "atUs", ef_val_num((double)now / 1e3));
                if (ef_msg_set_take(msg, "inferTiming", t) != 0) {
                    ef_val_unref(t);
                }
            }
        }
        ef_node_done(c->n, msg);
        if (ef_node_send(c->n, 0, msg) != 0) {
            ef_msg_free(msg);
        }
    }
}

static void after_run(uv_work_t *req, int status)
{
    struct batch *b = req->data;
    struct core *c = b->c;
    c->running = NULL;
    if (c->n) {
        if (status != 0 && !b->err[0]) {
            snprintf(b->err, sizeof(b->err), "Run cancelled (%s)", uv_strerror(status));
        }
        deliver(c, b);
    }
    batch_free(c, b);
    if (!c->n) {
        core_release(c);
        return;
    }
    dispatch(c);
}

/* Converts every input of msg; on failure reports it and returns -1 (msg freed). */
static int convert_msg(struct core *c, struct prepared *p, struct ef_msg *msg, struct conv *cv)
{
    struct ort_model *m = p->m;
    char err[768], where[300];
    for (size_t i = 0; i < m->ninputs; i++) {
        const char *prop = p->props[i];
        snprintf(where, sizeof(where), "%s%s", strncmp(prop, "msg.", 4) ? "msg." : "", prop);
        if (conv_value(ef_msg_get(msg, prop), &m->inputs[i], &p->lay[i], where, &cv[i], err,
                       sizeof(err)) != 0 ||
            (i > 0 && cv[i].samples != cv[0].samples &&
             snprintf(err, sizeof(err),
                      "input \"%s\" has %zu samples but input \"%s\" has %zu; they must match",
                      m->inputs[i].name, cv[i].samples, m->inputs[0].name, cv[0].samples))) {
            for (size_t j = 0; j <= i; j++) {
                free(cv[j].vals);
                cv[j].vals = NULL;
            }
            fail_msg(c, msg, "%s", err);
            return -1;
        }
    }
    return 0;
}

/* Copies converted values into a batch's typed input buffers, pre-processing float inputs. */
static void fill_inputs(struct core *c, struct batch *b, struct conv *cv, size_t nconv)
{
    struct ort_model *m = b->p->m;
    for (size_t i = 0; i < m->ninputs; i++) {
        const struct ort_io *io = &m->inputs[i];
        bool pre =
            c->pre != PRE_NONE && (io->elem == ORT_ELEM_FLOAT || io->elem == ORT_ELEM_DOUBLE);
        size_t pos = 0;
        for (size_t k = 0; k < nconv; k++) {
            const struct conv *x = &cv[k * m->ninputs + i];
            for (size_t e = 0; e < x->count; e++) {
                double val = x->vals[e];
                if (pre) {
                    size_t f = e % c->npre;
                    val = (val - c->pre_a[f]) * c->pre_b[f];
                }
                elem_store(b->in_data[i], io->elem, pos++, val);
            }
        }
        if (b->p->lay[i].has_batch) {
            b->in_shape[i][0] = (int64_t)b->total;
            for (size_t d = 1; d < io->rank; d++) {
                b->in_shape[i][d] = io->dims[d];
            }
        } else {
            memcpy(b->in_shape[i], io->dims, io->rank * sizeof(int64_t));
        }
    }
}

/* Makes a batch from the head of the queue; NULL when every message taken failed. */
static struct batch *make_batch(struct core *c)
{
    struct prepared *p = c->model;
    struct ort_model *m = p->m;
    size_t max = p->batchable ? (size_t)c->cfg.batch_size : 1;
    if (max > c->depth) {
        max = c->depth;
    }
    struct batch *b = calloc(1, sizeof(*b));
    struct conv *cv = calloc(max * m->ninputs, sizeof(*cv));
    if (b) {
        b->msgs = calloc(max, sizeof(*b->msgs));
        b->t_in = calloc(max, sizeof(*b->t_in));
        b->samples = calloc(max, sizeof(*b->samples));
        b->batched = calloc(max, sizeof(*b->batched));
        b->in_data = calloc(m->ninputs, sizeof(*b->in_data));
        b->in_shape = calloc(m->ninputs, sizeof(*b->in_shape));
        b->outs = calloc(m->noutputs, sizeof(*b->outs));
    }
    if (!b || !cv || !b->msgs || !b->t_in || !b->samples || !b->batched || !b->in_data ||
        !b->in_shape || !b->outs) {
        free(cv);
        if (b) {
            batch_free(c, b);
        }
        struct job *j = c->head; /* fail one message so the queue still moves */
        c->head = j->next;
        if (!c->head) {
            c->tail = NULL;
        }
        c->depth--;
        fail_msg(c, j->msg, "%s", "out of memory");
        free(j);
        return NULL;
    }
    b->c = c;
    b->p = p;
    b->req.data = b;
    while (c->head && b->nmsgs < max) {
        struct job *j = c->head;
        c->head = j->next;
        if (!c->head) {
            c->tail = NULL;
        }
        c->depth--;
        struct ef_msg *msg = j->msg;
        uint64_t t_in = j->t_in;
        free(j);
        if (convert_msg(c, p, msg, &cv[b->nmsgs * m->ninputs]) != 0) {
            continue;
        }
        b->msgs[b->nmsgs] = msg;
        b->t_in[b->nmsgs] = t_in;
        b->samples[b->nmsgs] = cv[b->nmsgs * m->ninputs].samples;
        b->batched[b->nmsgs] = cv[b->nmsgs * m->ninputs].batched;
        b->total += b->samples[b->nmsgs];
        b->nmsgs++;
    }
    bool oom = false;
    for (size_t i = 0; b->nmsgs && i < m->ninputs; i++) {
        size_t count = b->total * p->lay[i].per_sample;
        b->in_data[i] = malloc((count ? count : 1) * ort_elem_size(m->inputs[i].elem));
        oom = oom || !b->in_data[i];
    }
    if (b->nmsgs && !oom) {
        fill_inputs(c, b, cv, b->nmsgs);
    }
    for (size_t k = 0; k < b->nmsgs * m->ninputs; k++) {
        free(cv[k].vals);
    }
    free(cv);
    if (oom) {
        for (size_t k = 0; k < b->nmsgs; k++) {
            fail_msg(c, b->msgs[k], "%s", "out of memory for the input tensors");
            b->msgs[k] = NULL;
        }
        b->nmsgs = 0;
    }
    if (!b->nmsgs) {
        batch_free(c, b);
        return NULL;
    }
    return b;
}

/* Starts the next Run if none is in flight; swaps in a reloaded model first. */
static void dispatch(struct core *c)
{
    if (!c->n || c->running) {
        return;
    }
    if (c->next) {
        prepared_free(c->rt, c->model);
        c->model = c->next;
        c->next = NULL;
    }
    if (!c->model) {
        if (c->load_failed) {
            fail_queue(c);
        }
        return;
    }
    while (c->head) {
        struct batch *b = make_batch(c);
        if (!b) {
            continue;
        }
        b->t_start = uv_hrtime();
        if (uv_queue_work(ef_loop_uv(ef_node_loop(c->n)), &b->req, work_run, after_run) != 0) {
            for (size_t k = 0; k < b->nmsgs; k++) {
                fail_msg(c, b->msgs[k], "%s", "cannot queue the Run on the worker pool");
                b->msgs[k] = NULL;
            }
            b->nmsgs = 0;
            batch_free(c, b);
            continue;
        }
        c->running = b;
        return;
    }
}

/* ---- Node callbacks ---- */

static int cb_infer_input(struct ef_node *n, struct ef_msg *msg)
{
    struct infer *in = ef_node_priv(n);
    struct core *c = in->core;
    if (!c->rt) {
        fail_msg(c, msg, "ONNX Runtime not available: %s", c->rt_err);
        return EF_INPUT_ASYNC;
    }
    if (!c->model && !c->next && c->load_failed) {
        ef_node_error(n, msg, "model %s is not loaded: %s", c->model_path, c->model_err);
        ef_node_done(n, msg);
        ef_msg_free(msg);
        return EF_INPUT_ASYNC;
    }
    if (c->depth >= (size_t)c->cfg.queue_limit) {
        c->dropped++;
        if (c->drop == DROP_NEWEST) {
            ef_msg_free(msg);
            show_status(c);
            return EF_INPUT_ASYNC;
        }
        if (c->drop == DROP_ERROR) {
            char why[96];
            snprintf(why, sizeof(why), "%zu messages are waiting (queueLimit)", c->depth);
            fail_msg(c, msg, "queue full: %s", why);
            show_status(c);
            return EF_INPUT_ASYNC;
        }
        struct job *old = c->head; /* DROP_OLDEST */
        c->head = old->next;
        if (!c->head) {
            c->tail = NULL;
        }
        c->depth--;
        ef_msg_free(old->msg);
        free(old);
    }
    struct job *j = malloc(sizeof(*j));
    if (!j) {
        fail_msg(c, msg, "%s", "out of memory");
        return EF_INPUT_ASYNC;
    }
    j->msg = msg;
    j->t_in = uv_hrtime();
    j->next = NULL;
    if (c->tail) {
        c->tail->next = j;
    } else {
        c->head = j;
    }
    c->tail = j;
    c->depth++;
    if (c->dropped) {
        show_status(c);
    }
    dispatch(c);
    return EF_INPUT_ASYNC;
}

/* Reads a number or an array of numbers into a new array; *len gets its length. */
static double *num_list(const struct ef_val *v, size_t *len)
{
    size_t n = ef_val_type(v) == EF_ARR ? ef_val_arr_len(v) : 1;
    double *out = malloc(n * sizeof(double));
    if (!out) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const struct ef_val *x = ef_val_type(v) == EF_ARR ? ef_val_arr_at(v, i) : v;
        if (ef_val_type(x) == EF_STR && *ef_val_str_get(x)) {
            char *end;
            out[i] = strtod(ef_val_str_get(x), &end);
            if (*end) {
                free(out);
                return NULL;
            }
        } else if (ef_val_type(x) == EF_NUM) {
            out[i] = ef_val_num_get(x);
        } else {
            free(out);
            return NULL;
        }
    }
    *len = n;
    return out;
}

/* Sets up pre-processing from mean/std or min/max; reports and returns -1 on bad values. */
static int setup_pre(struct ef_node *n, struct core *c)
{
    const struct ef_val *a = c->pre == PRE_STANDARDIZE ? c->cfg.mean : c->cfg.min;
    const struct ef_val *b = c->pre == PRE_STANDARDIZE ? c->cfg.std : c->cfg.max;
    const char *an = c->pre == PRE_STANDARDIZE ? "mean" : "min";
    const char *bn = c->pre == PRE_STANDARDIZE ? "std" : "max";
    size_t la = 0, lb = 0;
    double *va = num_list(a, &la), *vb = num_list(b, &lb);
    if (!va || !vb || (la != lb && la != 1 && lb != 1)) {
        ef_node_error(n, NULL,
                      "preprocess %s needs %s and %s as numbers or arrays of numbers of the same "
                      "length",
                      c->cfg.preprocess, an, bn);
        free(va);
        free(vb);
        return -1;
    }
    c->npre = la > lb ? la : lb;
    c->pre_a = malloc(c->npre * sizeof(double));
    c->pre_b = malloc(c->npre * sizeof(double));
    if (!c->pre_a || !c->pre_b) {
        free(va);
        free(vb);
        return -1;
    }
    for (size_t f = 0; f < c->npre; f++) {
        double x = va[la == 1 ? 0 : f], y = vb[lb == 1 ? 0 : f];
        double scale = c->pre == PRE_STANDARDIZE ? y : y - x;
        if (!(scale != 0) || !isfinite(scale) || !isfinite(x)) {
            ef_node_error(n, NULL,
                          "preprocess %s: feature %zu has %s %g and %s %g, which do not "
                          "give a usable scale",
                          c->cfg.preprocess, f, an, x, bn, y);
            free(va);
            free(vb);
            return -1;
        }
        c->pre_a[f] = x;
        c->pre_b[f] = 1.0 / scale;
    }
    free(va);
    free(vb);
    return 0;
}

/* Reads the labels file: one label per line. */
static int read_labels(struct ef_node *n, struct core *c)
{
    char path[PATH_MAX];
    resolve_path(n, c->cfg.labels, path, sizeof(path));
    FILE *f = fopen(path, "r");
    if (!f) {
        ef_node_error(n, NULL, "labels file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    size_t cap = 0;
    while (fgets(line, sizeof(line), f)) {
        size_t len = strcspn(line, "\r\n");
        line[len] = 0;
        if (c->nlabels == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(c->labels, cap * sizeof(char *));
            if (!grown) {
                fclose(f);
                return -1;
            }
            c->labels = grown;
        }
        c->labels[c->nlabels] = strdup(line);
        if (!c->labels[c->nlabels]) {
            fclose(f);
            return -1;
        }
        c->nlabels++;
    }
    fclose(f);
    while (c->nlabels && !*c->labels[c->nlabels - 1]) { /* trailing blank lines */
        free(c->labels[--c->nlabels]);
    }
    return 0;
}

/*
 * Loads ONNX Runtime: the node's runtimeLibrary, else settings
 * inferRuntimeLibrary, else $EDGEFLOW_ORT_LIB (each of these alone, when
 * set), else the npm onnxruntime-node copy the build knows, else
 * libonnxruntime.so.1 from the system's library path.
 */
static void load_runtime(struct ef_node *n, struct core *c)
{
    char path[PATH_MAX], why[600];
    const char *explicit = NULL;
    const struct ef_val *setting = ef_node_setting(n, "inferRuntimeLibrary");
    struct ef_val *env = ef_node_env_get(n, "EDGEFLOW_ORT_LIB");
    if (*c->cfg.runtime_library) {
        explicit = c->cfg.runtime_library;
    } else if (ef_val_type(setting) == EF_STR && ef_val_str_len(setting)) {
        explicit = ef_val_str_get(setting);
    } else if (ef_val_type(env) == EF_STR && ef_val_str_len(env)) {
        explicit = ef_val_str_get(env);
    }
    if (explicit) {
        resolve_path(n, explicit, path, sizeof(path));
        c->rt = ort_rt_load(path, why, sizeof(why));
        if (!c->rt) {
            snprintf(c->rt_err, sizeof(c->rt_err), "%s", why);
        }
        ef_val_unref(env);
        return;
    }
    ef_val_unref(env);
    const char *candidates[] = {EF_INFER_ORT_DEFAULT, "libonnxruntime.so.1"};
    size_t o = 0;
    for (size_t i = 0; i < 2 && !c->rt; i++) {
        if (!*candidates[i]) {
            continue;
        }
        c->rt = ort_rt_load(candidates[i], why, sizeof(why));
        if (!c->rt && o < sizeof(c->rt_err)) {
            o += (size_t)snprintf(c->rt_err + o, sizeof(c->rt_err) - o, "%s%s", o ? "; " : "", why);
        }
    }
}

static int parse_modes(struct ef_node *n, struct core *c)
{
    const struct infer_cfg *g = &c->cfg;
    if (!strcmp(g->preprocess, "none") || !*g->preprocess) {
        c->pre = PRE_NONE;
    } else if (!strcmp(g->preprocess, "standardize")) {
        c->pre = PRE_STANDARDIZE;
    } else if (!strcmp(g->preprocess, "minmax")) {
        c->pre = PRE_MINMAX;
    } else {
        ef_node_error(n, NULL, "preprocess \"%s\" is not none, standardize or minmax",
                      g->preprocess);
        return -1;
    }
    static const char *const posts[] = {"none", "argmax", "topk", "threshold", "reconstruction"};
    c->post = (enum post_mode)5;
    for (int i = 0; i < 5; i++) {
        if (!strcmp(g->postprocess, posts[i])) {
            c->post = (enum post_mode)i;
        }
    }
    if (!*g->postprocess) {
        c->post = POST_NONE;
    }
    if ((int)c->post == 5) {
        ef_node_error(n, NULL,
                      "postprocess \"%s\" is not none, argmax, topk, threshold or reconstruction",
                      g->postprocess);
        return -1;
    }
    if (!strcmp(g->drop_policy, "oldest")) {
        c->drop = DROP_OLDEST;
    } else if (!strcmp(g->drop_policy, "newest")) {
        c->drop = DROP_NEWEST;
    } else if (!strcmp(g->drop_policy, "error")) {
        c->drop = DROP_ERROR;
    } else {
        ef_node_error(n, NULL, "dropPolicy \"%s\" is not oldest, newest or error", g->drop_policy);
        return -1;
    }
    if (g->batch_size < 1 || g->batch_size > 4096 || g->queue_limit < 1 || g->threads < 0 ||
        g->threads > 256 || g->top_k < 1 || g->watch < 0 || !isfinite(g->threshold)) {
        ef_node_error(n, NULL,
                      "batchSize must be 1..4096, queueLimit at least 1, threads 0..256, "
                      "topK at least 1, watch at least 0 and threshold a number");
        return -1;
    }
    if (ef_val_type(g->inputs) != EF_OBJ) {
        ef_node_error(n, NULL,
                      "inputs must be an object mapping model input names to msg "
                      "properties");
        return -1;
    }
    for (size_t i = 0; i < ef_val_obj_len(g->inputs); i++) {
        const struct ef_val *v = ef_val_obj_val_at(g->inputs, i);
        size_t kl;
        const char *k = ef_val_obj_key_at(g->inputs, i, &kl);
        char perr[200];
        struct ef_path *p =
            ef_val_type(v) == EF_STR ? ef_path_parse(ef_val_str_get(v), perr, sizeof(perr)) : NULL;
        if (!p) {
            ef_node_error(n, NULL, "inputs.%.*s must be a msg property%s%s", (int)kl, k,
                          ef_val_type(v) == EF_STR ? ": " : "",
                          ef_val_type(v) == EF_STR ? perr : "");
            return -1;
        }
        ef_path_free(p);
    }
    char perr[200];
    struct ef_path *op = ef_path_parse(g->output, perr, sizeof(perr));
    if (!op) {
        ef_node_error(n, NULL, "output: %s", perr);
        return -1;
    }
    ef_path_free(op);
    return 0;
}

static int cb_infer_init(struct ef_node *n, const struct ef_val *config)
{
    struct infer *in = ef_node_priv(n);
    (void)config;
    struct core *c = calloc(1, sizeof(*c));
    if (!c) {
        return EF_ENOMEM;
    }
    c->n = n;
    c->cfg = in->cfg;
    in->core = c;
    if (!*c->cfg.model) {
        ef_node_error(n, NULL, "no model file configured");
        return EF_EINVAL;
    }
    if (parse_modes(n, c) != 0 || (c->pre != PRE_NONE && setup_pre(n, c) != 0) ||
        (*c->cfg.labels && read_labels(n, c) != 0)) {
        return EF_EINVAL;
    }
    resolve_path(n, c->cfg.model, c->model_path, sizeof(c->model_path));
    load_runtime(n, c);
    if (!c->rt) {
        /* not ef_node_error: that would refuse the whole flow */
        ef_node_warn(n, "ONNX Runtime not available: %s", c->rt_err);
    }
    c->status_timer = ef_timer_new(n, on_status_tick, c);
    c->watch_timer = ef_timer_new(n, on_watch_tick, c);
    return c->status_timer && c->watch_timer ? 0 : EF_ENOMEM;
}

static void cb_infer_start(struct ef_node *n)
{
    struct infer *in = ef_node_priv(n);
    struct core *c = in->core;
    show_status(c);
    if (!c->rt) {
        return;
    }
    start_load(c);
    if (!c->loading) {
        c->load_failed = true;
        snprintf(c->model_err, sizeof(c->model_err), "cannot start loading");
    }
    ef_timer_start(c->status_timer, 250, 250);
    if (c->cfg.watch > 0) {
        uint64_t ms = (uint64_t)(c->cfg.watch * 1000);
        ef_timer_start(c->watch_timer, ms, ms);
    }
}

static void cb_infer_close(struct ef_node *n)
{
    struct infer *in = ef_node_priv(n);
    struct core *c = in->core;
    if (!c) {
        return;
    }
    in->core = NULL;
    ef_timer_free(c->status_timer);
    ef_timer_free(c->watch_timer);
    c->n = NULL;
    for (struct job *j = c->head; j;) {
        struct job *next = j->next;
        ef_msg_free(j->msg);
        free(j);
        j = next;
    }
    c->head = c->tail = NULL;
    c->depth = 0;
    core_release(c);
}

static const struct ef_node_type infer_type = {
    .abi_version = EF_ABI_VERSION,
    .size = sizeof(struct ef_node_type),
    .name = "infer",
    .description = "Runs an ONNX model on message properties (ONNX Runtime, off the event loop)",
    .category = "edge intelligence",
    .inputs = 1,
    .outputs = 1,
    .props = infer_props,
    .priv_size = sizeof(struct infer),
    .cb_init = cb_infer_init,
    .cb_start = cb_infer_start,
    .cb_input = cb_infer_input,
    .cb_close = cb_infer_close,
};

EF_PLUGIN_VERSION_CURRENT

int ef_plugin_init(struct ef_plugin *p)
{
    return ef_register_type(p, &infer_type);
}
