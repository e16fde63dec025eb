/*
 * infer.h - shared pieces of the infer plugin: turning message values into
 * tensor data and tensor data back into values (tensor.c).
 */
#ifndef EF_INFER_H
#define EF_INFER_H

#include <edgeflow/edgeflow.h>

#include "ort.h"

/* A message property converted for one model input. */
struct conv {
    double *vals;   /* malloc'ed, count values */
    size_t count;   /* samples * per-sample values */
    size_t samples; /* rows this message contributes to the batch */
    bool batched;   /* the message gave the batch dimension itself */
};

/* The batch layout of a model input: per-sample values and whether dim 0 is a batch. */
struct io_layout {
    bool has_batch;     /* dim 0 is dynamic, or 1 with rank >= 2 */
    bool dynamic_batch; /* dim 0 is dynamic */
    size_t per_sample;  /* values in one sample */
};

/*
 * Works out the layout of model input io. Returns 0, or -1 with the reason
 * in err when a dimension other than the first is dynamic.
 */
int io_layout_of(const struct ort_io *io, struct io_layout *lay, char *err, size_t errlen);
/* Writes io's shape as "[N,4]" (N for a dynamic dimension) into buf. */
void shape_text(const struct ort_io *io, char *buf, size_t len);
/*
 * Converts v (number, boolean, nested array of numbers, or a Buffer of raw
 * little-endian io->elem values) for input io with layout lay. `where`
 * names the property for errors. Returns 0 with *out filled (free
 * out->vals), or -1 with a message naming the input and the expected shape.
 */
int conv_value(const struct ef_val *v, const struct ort_io *io, const struct io_layout *lay,
               const char *where, struct conv *out, char *err, size_t errlen);
/* Stores value x as element i of a buffer of type elem. */
void elem_store(void *data, int elem, size_t i, double x);
/* Reads element i of a buffer of type elem as a double. */
double elem_load(const void *data, int elem, size_t i);
/*
 * Builds a nested array (or a number/boolean when rank is 0) of the
 * elements of data starting at element `first`, with dimensions dims[0..rank).
 * Returns a new value or NULL on OOM.
 */
struct ef_val *tensor_to_val(const void *data, int elem, size_t first, const int64_t *dims,
                             size_t rank);

#endif
