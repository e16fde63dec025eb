/*
 * ort.c - loading ONNX Runtime at run time and wrapping a session: the
 * OrtApi slot numbers this project uses (ORT only appends to the table, so
 * they never move), the environment, and reading a model's inputs/outputs.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ort.h"

/* OrtApiBase: the one symbol the library exports by name. */
struct ort_api_base {
    const void *(*GetApi)(uint32_t version);
    const char *(*GetVersionString)(void);
};

/*
 * The API version asked for. Every slot below exists since version 1, and a
 * newer library serves older versions, so any ORT 1.x library will do.
 */
#define ORT_API_VERSION_USED 1

/* Where each entry of struct ort_fns sits in OrtApi. */
static const struct {
    size_t slot;
    size_t offset;
} ort_slots[] = {
#define SLOT(n, name)                                                                              \
    {                                                                                              \
        n, offsetof(struct ort_fns, name)                                                          \
    }
    SLOT(2, GetErrorMessage),
    SLOT(3, CreateEnv),
    SLOT(7, CreateSession),
    SLOT(9, Run),
    SLOT(10, CreateSessionOptions),
    SLOT(24, SetIntraOpNumThreads),
    SLOT(25, SetInterOpNumThreads),
    SLOT(30, SessionGetInputCount),
    SLOT(31, SessionGetOutputCount),
    SLOT(33, SessionGetInputTypeInfo),
    SLOT(34, SessionGetOutputTypeInfo),
    SLOT(36, SessionGetInputName),
    SLOT(37, SessionGetOutputName),
    SLOT(49, CreateTensorWithDataAsOrtValue),
    SLOT(51, GetTensorMutableData),
    SLOT(55, CastTypeInfoToTensorInfo),
    SLOT(56, GetOnnxTypeFromTypeInfo),
    SLOT(60, GetTensorElementType),
    SLOT(61, GetDimensionsCount),
    SLOT(62, GetDimensions),
    SLOT(65, GetTensorTypeAndShape),
    SLOT(69, CreateCpuMemoryInfo),
    SLOT(76, AllocatorFree),
    SLOT(78, GetAllocatorWithDefaultOptions),
    SLOT(92, ReleaseEnv),
    SLOT(93, ReleaseStatus),
    SLOT(94, ReleaseMemoryInfo),
    SLOT(95, ReleaseSession),
    SLOT(96, ReleaseValue),
    SLOT(98, ReleaseTypeInfo),
    SLOT(99, ReleaseTensorTypeAndShapeInfo),
    SLOT(100, ReleaseSessionOptions),
#undef SLOT
};

enum {
    ORT_LOG_ERROR = 3,       /* OrtLoggingLevel: errors only */
    ORT_ARENA_ALLOCATOR = 1, /* OrtAllocatorType */
    ORT_MEM_DEFAULT = 0,     /* OrtMemType */
    ORT_ONNX_TENSOR = 1,     /* ONNXType */
};

bool ort_failed(struct ort_rt *rt, OrtStatus *st, const char *what, char *err, size_t errlen)
{
    if (!st) {
        return false;
    }
    snprintf(err, errlen, "%s: %s", what, rt->f.GetErrorMessage(st));
    rt->f.ReleaseStatus(st);
    return true;
}

size_t ort_elem_size(int elem)
{
    switch (elem) {
    case ORT_ELEM_FLOAT: return 4;
    case ORT_ELEM_DOUBLE: return 8;
    case ORT_ELEM_INT32: return 4;
    case ORT_ELEM_INT64: return 8;
    case ORT_ELEM_UINT8: return 1;
    case ORT_ELEM_INT8: return 1;
    case ORT_ELEM_BOOL: return 1;
    default: return 0;
    }
}

const char *ort_elem_name(int elem)
{
    switch (elem) {
    case ORT_ELEM_FLOAT: return "float32";
    case ORT_ELEM_DOUBLE: return "float64";
    case ORT_ELEM_INT32: return "int32";
    case ORT_ELEM_INT64: return "int64";
    case ORT_ELEM_UINT8: return "uint8";
    case ORT_ELEM_INT8: return "int8";
    case ORT_ELEM_BOOL: return "bool";
    default: return "unsupported";
    }
}

struct ort_rt *ort_rt_load(const char *path, char *err, size_t errlen)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *why = dlerror();
        snprintf(err, errlen, "%s", why ? why : "cannot load");
        return NULL;
    }
    const struct ort_api_base *(*get_base)(void);
    void *sym = dlsym(dl, "OrtGetApiBase");
    if (!sym) {
        snprintf(err, errlen, "%s has no OrtGetApiBase: not an ONNX Runtime library", path);
        dlclose(dl);
        return NULL;
    }
    memcpy(&get_base, &sym, sizeof(get_base));
    const struct ort_api_base *base = get_base();
    const void *api = base ? base->GetApi(ORT_API_VERSION_USED) : NULL;
    if (!api) {
        snprintf(err, errlen, "%s does not provide ORT API version %d", path, ORT_API_VERSION_USED);
        dlclose(dl);
        return NULL;
    }
    struct ort_rt *rt = calloc(1, sizeof(*rt));
    if (!rt) {
        snprintf(err, errlen, "out of memory");
        dlclose(dl);
        return NULL;
    }
    rt->dl = dl;
    const void *const *table = api;
    for (size_t i = 0; i < sizeof(ort_slots) / sizeof(ort_slots[0]); i++) {
        memcpy((char *)&rt->f + ort_slots[i].offset, &table[ort_slots[i].slot], sizeof(void *));
    }
    snprintf(rt->version, sizeof(rt->version), "%s",
             base->GetVersionString ? base->GetVersionString() : "?");
    snprintf(rt->path, sizeof(rt->path), "%s", path);
    if (ort_failed(rt, rt->f.CreateEnv(ORT_LOG_ERROR, "edgeflow-infer", &rt->env), "CreateEnv", err,
                   errlen) ||
        ort_failed(rt, rt->f.CreateCpuMemoryInfo(ORT_ARENA_ALLOCATOR, ORT_MEM_DEFAULT, &rt->cpu),
                   "CreateCpuMemoryInfo", err, errlen)) {
        ort_rt_free(rt);
        return NULL;
    }
    return rt;
}

void ort_rt_free(struct ort_rt *rt)
{
    if (!rt) {
        return;
    }
    if (rt->cpu) {
        rt->f.ReleaseMemoryInfo(rt->cpu);
    }
    if (rt->env) {
        rt->f.ReleaseEnv(rt->env);
    }
    /* rt->dl stays open: ORT keeps process-wide state and threads. */
    free(rt);
}

/* Reads the tensor description of one input or output into io. */
static int read_io(struct ort_rt *rt, OrtTypeInfo *ti, struct ort_io *io, char *err, size_t errlen)
{
    int kind = 0;
    if (ort_failed(rt, rt->f.GetOnnxTypeFromTypeInfo(ti, &kind), "GetOnnxTypeFromTypeInfo", err,
                   errlen)) {
        return -1;
    }
    if (kind != ORT_ONNX_TENSOR) {
        snprintf(err, errlen, "%s is not a tensor (only tensor inputs and outputs are supported)",
                 io->name);
        return -1;
    }
    const OrtTensorTypeAndShapeInfo *tinfo;
    if (ort_failed(rt, rt->f.CastTypeInfoToTensorInfo(ti, &tinfo), "CastTypeInfoToTensorInfo", err,
                   errlen) ||
        ort_failed(rt, rt->f.GetTensorElementType(tinfo, &io->elem), "GetTensorElementType", err,
                   errlen) ||
        ort_failed(rt, rt->f.GetDimensionsCount(tinfo, &io->rank), "GetDimensionsCount", err,
                   errlen)) {
        return -1;
    }
    if (io->rank > ORT_MAX_RANK) {
        snprintf(err, errlen, "%s has rank %zu (at most %d supported)", io->name, io->rank,
                 ORT_MAX_RANK);
        return -1;
    }
    if (ort_failed(rt, rt->f.GetDimensions(tinfo, io->dims, io->rank), "GetDimensions", err,
                   errlen)) {
        return -1;
    }
    if (!ort_elem_size(io->elem)) {
        snprintf(err, errlen,
                 "%s has element type %d (supported: float32, float64, int32, int64, "
                 "uint8, int8, bool)",
                 io->name, io->elem);
        return -1;
    }
    return 0;
}

/* Reads the names and types of the inputs (out == false) or outputs. */
static int read_ios(struct ort_rt *rt, struct ort_model *m, bool out, char *err, size_t errlen)
{
    size_t n;
    OrtStatus *st = out ? rt->f.SessionGetOutputCount(m->session, &n)
                        : rt->f.SessionGetInputCount(m->session, &n);
    if (ort_failed(rt, st, "SessionGetCount", err, errlen)) {
        return -1;
    }
    struct ort_io *ios = calloc(n ? n : 1, sizeof(*ios));
    const char **names = calloc(n ? n : 1, sizeof(*names));
    if (out) {
        m->outputs = ios, m->output_names = names, m->noutputs = n;
    } else {
        m->inputs = ios, m->input_names = names, m->ninputs = n;
    }
    if (!ios || !names) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    OrtAllocator *alloc;
    if (ort_failed(rt, rt->f.GetAllocatorWithDefaultOptions(&alloc), "GetAllocator", err, errlen)) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char *name;
        st = out ? rt->f.SessionGetOutputName(m->session, i, alloc, &name)
                 : rt->f.SessionGetInputName(m->session, i, alloc, &name);
        if (ort_failed(rt, st, "SessionGetName", err, errlen)) {
            return -1;
        }
        ios[i].name = strdup(name);
        rt->f.AllocatorFree(alloc, name);
        if (!ios[i].name) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        names[i] = ios[i].name;
        OrtTypeInfo *ti;
        st = out ? rt->f.SessionGetOutputTypeInfo(m->session, i, &ti)
                 : rt->f.SessionGetInputTypeInfo(m->session, i, &ti);
        if (ort_failed(rt, st, "SessionGetTypeInfo", err, errlen)) {
            return -1;
        }
        int rc = read_io(rt, ti, &ios[i], err, errlen);
        rt->f.ReleaseTypeInfo(ti);
        if (rc != 0) {
            return -1;
        }
    }
    return 0;
}

struct ort_model *ort_model_load(struct ort_rt *rt, const char *path, int threads, char *err,
                                 size_t errlen)
{
    struct ort_model *m = calloc(1, sizeof(*m));
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    OrtSessionOptions *opt = NULL;
    char why[768];
    if (ort_failed(rt, rt->f.CreateSessionOptions(&opt), "CreateSessionOptions", err, errlen) ||
        (threads > 0 && ort_failed(rt, rt->f.SetIntraOpNumThreads(opt, threads),
                                   "SetIntraOpNumThreads", err, errlen)) ||
        ort_failed(rt, rt->f.SetInterOpNumThreads(opt, 1), "SetInterOpNumThreads", err, errlen)) {
        goto fail;
    }
    if (ort_failed(rt, rt->f.CreateSession(rt->env, path, opt, &m->session), "cannot load model",
                   why, sizeof(why))) {
        snprintf(err, errlen, "%s", why);
        goto fail;
    }
    rt->f.ReleaseSessionOptions(opt);
    opt = NULL;
    if (read_ios(rt, m, false, err, errlen) != 0 || read_ios(rt, m, true, err, errlen) != 0) {
        goto fail;
    }
    return m;
fail:
    if (opt) {
        rt->f.ReleaseSessionOptions(opt);
    }
    ort_model_free(rt, m);
    return NULL;
}

void ort_model_free(struct ort_rt *rt, struct ort_model *m)
{
    if (!m) {
        return;
    }
    if (m->session) {
        rt->f.ReleaseSession(m->session);
    }
    for (size_t i = 0; m->inputs && i < m->ninputs; i++) {
        free(m->inputs[i].name);
    }
    for (size_t i = 0; m->outputs && i < m->noutputs; i++) {
        free(m->outputs[i].name);
    }
    free(m->inputs);
    free(m->outputs);
    free(m->input_names);
    free(m->output_names);
    free(m);
}
