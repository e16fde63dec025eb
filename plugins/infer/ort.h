/*
 * ort.h - the part of the ONNX Runtime C API the infer node uses, reached
 * through a library loaded at run time (dlopen), and a small session
 * wrapper over it.
 *
 * No ONNX Runtime header is used. ORT publishes its C API as a table of
 * function pointers (OrtApi) returned by OrtGetApiBase()->GetApi(version);
 * new entries are only ever appended, so the position (slot) of an entry
 * never changes. ort.c declares the slots it calls, with their signatures,
 * from ORT's public API documentation, and copies those pointers into
 * struct ort_fns when the library loads.
 */
#ifndef EF_INFER_ORT_H
#define EF_INFER_ORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Opaque ORT objects. */
typedef struct OrtStatus OrtStatus;
typedef struct OrtEnv OrtEnv;
typedef struct OrtSession OrtSession;
typedef struct OrtSessionOptions OrtSessionOptions;
typedef struct OrtValue OrtValue;
typedef struct OrtMemoryInfo OrtMemoryInfo;
typedef struct OrtTypeInfo OrtTypeInfo;
typedef struct OrtTensorTypeAndShapeInfo OrtTensorTypeAndShapeInfo;
typedef struct OrtAllocator OrtAllocator;

/* ONNX tensor element types (ONNXTensorElementDataType values). */
enum ort_elem {
    ORT_ELEM_UNDEFINED = 0,
    ORT_ELEM_FLOAT = 1,
    ORT_ELEM_UINT8 = 2,
    ORT_ELEM_INT8 = 3,
    ORT_ELEM_INT32 = 6,
    ORT_ELEM_INT64 = 7,
    ORT_ELEM_BOOL = 9,
    ORT_ELEM_DOUBLE = 11,
};

/* The entries of OrtApi this project calls, typed. */
struct ort_fns {
    const char *(*GetErrorMessage)(const OrtStatus *status);
    OrtStatus *(*CreateEnv)(int log_level, const char *logid, OrtEnv **out);
    OrtStatus *(*CreateSession)(const OrtEnv *env, const char *path, const OrtSessionOptions *opt,
                                OrtSession **out);
    OrtStatus *(*Run)(OrtSession *s, const void *run_options, const char *const *input_names,
                      const OrtValue *const *inputs, size_t ninputs,
                      const char *const *output_names, size_t noutputs, OrtValue **outputs);
    OrtStatus *(*CreateSessionOptions)(OrtSessionOptions **out);
    OrtStatus *(*SetIntraOpNumThreads)(OrtSessionOptions *opt, int n);
    OrtStatus *(*SetInterOpNumThreads)(OrtSessionOptions *opt, int n);
    OrtStatus *(*SessionGetInputCount)(const OrtSession *s, size_t *out);
    OrtStatus *(*SessionGetOutputCount)(const OrtSession *s, size_t *out);
    OrtStatus *(*SessionGetInputTypeInfo)(const OrtSession *s, size_t i, OrtTypeInfo **out);
    OrtStatus *(*SessionGetOutputTypeInfo)(const OrtSession *s, size_t i, OrtTypeInfo **out);
    OrtStatus *(*SessionGetInputName)(const OrtSession *s, size_t i, OrtAllocator *a, char **out);
    OrtStatus *(*SessionGetOutputName)(const OrtSession *s, size_t i, OrtAllocator *a, char **out);
    OrtStatus *(*CreateTensorWithDataAsOrtValue)(const OrtMemoryInfo *info, void *data,
                                                 size_t bytes, const int64_t *shape, size_t rank,
                                                 int elem, OrtValue **out);
    OrtStatus *(*GetTensorMutableData)(OrtValue *v, void **out);
    OrtStatus *(*CastTypeInfoToTensorInfo)(const OrtTypeInfo *t,
                                           const OrtTensorTypeAndShapeInfo **out);
    OrtStatus *(*GetOnnxTypeFromTypeInfo)(const OrtTypeInfo *t, int *out);
    OrtStatus *(*GetTensorElementType)(const OrtTensorTypeAndShapeInfo *t, int *out);
    OrtStatus *(*GetDimensionsCount)(const OrtTensorTypeAndShapeInfo *t, size_t *out);
    OrtStatus *(*GetDimensions)(const OrtTensorTypeAndShapeInfo *t, int64_t *dims, size_t n);
    OrtStatus *(*GetTensorTypeAndShape)(const OrtValue *v, OrtTensorTypeAndShapeInfo **out);
    OrtStatus *(*CreateCpuMemoryInfo)(int alloc_type, int mem_type, OrtMemoryInfo **out);
    OrtStatus *(*AllocatorFree)(OrtAllocator *a, void *p);
    OrtStatus *(*GetAllocatorWithDefaultOptions)(OrtAllocator **out);
    void (*ReleaseEnv)(OrtEnv *);
    void (*ReleaseStatus)(OrtStatus *);
    void (*ReleaseMemoryInfo)(OrtMemoryInfo *);
    void (*ReleaseSession)(OrtSession *);
    void (*ReleaseValue)(OrtValue *);
    void (*ReleaseTypeInfo)(OrtTypeInfo *);
    void (*ReleaseTensorTypeAndShapeInfo)(OrtTensorTypeAndShapeInfo *);
    void (*ReleaseSessionOptions)(OrtSessionOptions *);
};

/* A loaded runtime: the library, its API and one environment. */
struct ort_rt {
    void *dl;
    struct ort_fns f;
    OrtEnv *env;
    OrtMemoryInfo *cpu;
    char version[32];
    char path[1024]; /* the library that was loaded */
};

#define ORT_MAX_RANK 8

/* One model input or output as the model declares it (-1: dynamic dimension). */
struct ort_io {
    char *name;
    int elem; /* enum ort_elem */
    size_t rank;
    int64_t dims[ORT_MAX_RANK];
};

/* A loaded model. */
struct ort_model {
    OrtSession *session;
    size_t ninputs, noutputs;
    struct ort_io *inputs, *outputs;
    const char **input_names, **output_names; /* views of the names, for Run */
};

/*
 * Loads the library at `path` and makes an environment. Returns a new
 * runtime the caller frees with ort_rt_free(), or NULL with the reason in err.
 */
struct ort_rt *ort_rt_load(const char *path, char *err, size_t errlen);
/* Releases the environment (the library stays mapped: ORT does not support unloading). */
void ort_rt_free(struct ort_rt *rt);
/*
 * Makes a session for the model file at `path` with `threads` intra-op
 * threads (0: ORT's default) and reads its inputs and outputs. Safe on a
 * worker thread. Returns the model (free with ort_model_free) or NULL with
 * the reason in err.
 */
struct ort_model *ort_model_load(struct ort_rt *rt, const char *path, int threads, char *err,
                                 size_t errlen);
void ort_model_free(struct ort_rt *rt, struct ort_model *m);
/*
 * Copies an ORT status's message into err and releases the status.
 * Returns true when there was an error (status not NULL).
 */
bool ort_failed(struct ort_rt *rt, OrtStatus *st, const char *what, char *err, size_t errlen);
/* Size in bytes of one element of type `elem`, 0 when unsupported. */
size_t ort_elem_size(int elem);
/* "float", "int64", ... for messages. */
const char *ort_elem_name(int elem);

#endif
