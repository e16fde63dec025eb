/*
 * tensor.c - message values to tensor data and back, for the infer node:
 * numbers, nested arrays and raw Buffers checked against the model's
 * declared shape (with a batch dimension), and outputs as nested arrays.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"

#define MAX_VALUES (64u << 20) /* values accepted in one message property */

int io_layout_of(const struct ort_io *io, struct io_layout *lay, char *err, size_t errlen)
{
    lay->dynamic_batch = io->rank >= 1 && io->dims[0] < 0;
    lay->has_batch = lay->dynamic_batch || (io->rank >= 2 && io->dims[0] == 1);
    lay->per_sample = 1;
    for (size_t d = lay->has_batch ? 1 : 0; d < io->rank; d++) {
        if (io->dims[d] < 0) {
            char shape[128];
            shape_text(io, shape, sizeof(shape));
            snprintf(err, errlen,
                     "%s has shape %s: dimension %zu is dynamic, but only the first (batch) "
                     "dimension may be",
                     io->name, shape, d);
            return -1;
        }
        lay->per_sample *= (size_t)io->dims[d];
    }
    return 0;
}

void shape_text(const struct ort_io *io, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "[");
    for (size_t d = 0; d < io->rank && o < len; d++) {
        if (io->dims[d] < 0) {
            o += (size_t)snprintf(buf + o, len - o, "%sN", d ? "," : "");
        } else {
            o += (size_t)snprintf(buf + o, len - o, "%s%lld", d ? "," : "", (long long)io->dims[d]);
        }
    }
    if (o < len) {
        snprintf(buf + o, len - o, "]");
    }
}

/* The per-sample shape (io's dims without the batch dimension) as text. */
static void sample_shape_text(const struct ort_io *io, const struct io_layout *lay, char *buf,
                              size_t len)
{
    struct ort_io tmp = *io;
    if (lay->has_batch) {
        tmp.rank = io->rank - 1;
        memmove(tmp.dims, io->dims + 1, tmp.rank * sizeof(tmp.dims[0]));
    }
    shape_text(&tmp, buf, len);
}

/* Shape of a nested array, following first elements. */
static size_t val_shape(const struct ef_val *v, size_t *shape, size_t max)
{
    size_t rank = 0;
    while (ef_val_type(v) == EF_ARR && rank < max) {
        shape[rank++] = ef_val_arr_len(v);
        v = ef_val_arr_at(v, 0);
    }
    return rank;
}

static void dims_text(const size_t *shape, size_t rank, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "[");
    for (size_t d = 0; d < rank && o < len; d++) {
        o += (size_t)snprintf(buf + o, len - o, "%s%zu", d ? "," : "", shape[d]);
    }
    if (o < len) {
        snprintf(buf + o, len - o, "]");
    }
}

/*
 * Copies the leaves of a regular nested array of shape[0..rank) into out.
 * Returns 0, 1 when the array is ragged, 2 when a leaf is not a number.
 */
static int flatten(const struct ef_val *v, const size_t *shape, size_t rank, double *out,
                   size_t *pos)
{
    if (rank == 0) {
        if (ef_val_type(v) == EF_NUM) {
            out[(*pos)++] = ef_val_num_get(v);
        } else if (ef_val_type(v) == EF_BOOL) {
            out[(*pos)++] = ef_val_bool_get(v) ? 1 : 0;
        } else {
            return ef_val_type(v) == EF_ARR ? 1 : 2;
        }
        return 0;
    }
    if (ef_val_type(v) != EF_ARR || ef_val_arr_len(v) != shape[0]) {
        return 1;
    }
    for (size_t i = 0; i < shape[0]; i++) {
        int rc = flatten(ef_val_arr_at(v, i), shape + 1, rank - 1, out, pos);
        if (rc) {
            return rc;
        }
    }
    return 0;
}

/*
 * A typed array as JSON carries it ({"0": 1.5, "1": 2, ...}, the form
 * JSON.stringify gives a Float32Array): its values as a new array, else NULL.
 */
static struct ef_val *typed_array_values(const struct ef_val *v)
{
    size_t n = ef_val_obj_len(v);
    if (n == 0) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        size_t kl;
        const char *k = ef_val_obj_key_at(v, i, &kl);
        char want[32];
        int wl = snprintf(want, sizeof(want), "%zu", i);
        if ((size_t)wl != kl || memcmp(k, want, kl) != 0) {
            return NULL;
        }
    }
    struct ef_val *a = ef_val_arr();
    for (size_t i = 0; a && i < n; i++) {
        struct ef_val *item = ef_val_obj_val_at(v, i);
        if (ef_val_arr_push_take(a, ef_val_ref(item)) != 0) {
            ef_val_unref(item);
            ef_val_unref(a);
            return NULL;
        }
    }
    return a;
}

int conv_value(const struct ef_val *v, const struct ort_io *io, const struct io_layout *lay,
               const char *where, struct conv *out, char *err, size_t errlen)
{
    if (ef_val_type(v) == EF_OBJ) {
        struct ef_val *arr = typed_array_values(v);
        if (arr) {
            int rc = conv_value(arr, io, lay, where, out, err, errlen);
            ef_val_unref(arr);
            return rc;
        }
    }
    char want[128], one[128];
    shape_text(io, want, sizeof(want));
    sample_shape_text(io, lay, one, sizeof(one));
    memset(out, 0, sizeof(*out));
    size_t shape[ORT_MAX_RANK + 1], rank = 0, count = 1;
    enum ef_type t = ef_val_type(v);
    if (!v) {
        snprintf(err, errlen, "input \"%s\": %s is missing (expected shape %s)", io->name, where,
                 want);
        return -1;
    }
    if (t == EF_BUF) {
        size_t es = ort_elem_size(io->elem);
        size_t len = ef_val_buf_len(v);
        if (len % es != 0) {
            snprintf(err, errlen,
                     "input \"%s\": %s is a Buffer of %zu bytes, not a whole number of %s "
                     "values (%zu bytes each)",
                     io->name, where, len, ort_elem_name(io->elem), es);
            return -1;
        }
        count = len / es;
        shape[0] = count;
        rank = 1;
    } else if (t == EF_NUM || t == EF_BOOL) {
        rank = 0;
    } else if (t == EF_ARR) {
        rank = val_shape(v, shape, ORT_MAX_RANK + 1);
        if (rank > ORT_MAX_RANK) {
            snprintf(err, errlen, "input \"%s\": %s is nested too deeply (expected shape %s)",
                     io->name, where, want);
            return -1;
        }
        for (size_t d = 0; d < rank; d++) {
            count *= shape[d];
            if (count > MAX_VALUES) {
                snprintf(err, errlen, "input \"%s\": %s has more than %u values", io->name, where,
                         MAX_VALUES);
                return -1;
            }
        }
    } else {
        snprintf(err, errlen,
                 "input \"%s\": %s is %s %s; expected a number, an array of numbers or a Buffer "
                 "of %s (shape %s)",
                 io->name, where, t == EF_OBJ ? "an" : "a", ef_type_name(t),
                 ort_elem_name(io->elem), want);
        return -1;
    }
    /* How many samples does this value hold? */
    bool ok = false;
    size_t got_shape[ORT_MAX_RANK + 1];
    memcpy(got_shape, shape, sizeof(shape));
    if (lay->has_batch && t == EF_ARR && rank == io->rank) {
        ok = true;
        for (size_t d = 1; d < rank; d++) {
            ok = ok && shape[d] == (size_t)io->dims[d];
        }
        if (ok) {
            out->samples = shape[0];
            out->batched = true;
        }
    }
    if (!ok && t == EF_BUF && lay->has_batch && lay->dynamic_batch && lay->per_sample > 0 &&
        count % lay->per_sample == 0 && count > lay->per_sample) {
        ok = true;
        out->samples = count / lay->per_sample;
        out->batched = true;
    }
    if (!ok && count == lay->per_sample) {
        /* one sample: flat, scalar, or exactly the per-sample shape */
        size_t srank = lay->has_batch ? io->rank - 1 : io->rank;
        const int64_t *sd = lay->has_batch ? io->dims + 1 : io->dims;
        bool exact = rank == srank;
        for (size_t d = 0; exact && d < rank; d++) {
            exact = shape[d] == (size_t)sd[d];
        }
        ok = exact || rank <= 1;
        out->samples = 1;
        out->batched = false;
    }
    if (ok && out->batched && !lay->dynamic_batch && out->samples != 1) {
        ok = false;
    }
    if (ok && out->samples == 0) {
        snprintf(err, errlen, "input \"%s\": %s holds no samples (expected shape %s)", io->name,
                 where, want);
        return -1;
    }
    if (!ok) {
        char got[128];
        if (t == EF_BUF) {
            snprintf(got, sizeof(got), "a Buffer of %zu %s values", count, ort_elem_name(io->elem));
        } else if (t == EF_ARR) {
            dims_text(got_shape, rank, got, sizeof(got));
            size_t l = strlen(got);
            snprintf(got + l, sizeof(got) - l, " (%zu values)", count);
        } else {
            snprintf(got, sizeof(got), "a single %s", ef_type_name(t));
        }
        if (lay->has_batch) {
            snprintf(err, errlen,
                     "input \"%s\": %s has shape %s; expected shape %s (or %s for one sample, "
                     "%zu values)",
                     io->name, where, got, want, one, lay->per_sample);
        } else {
            snprintf(err, errlen, "input \"%s\": %s has shape %s; expected shape %s (%zu values)",
                     io->name, where, got, want, lay->per_sample);
        }
        return -1;
    }
    out->count = count;
    out->vals = malloc((count ? count : 1) * sizeof(double));
    if (!out->vals) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (t == EF_BUF) {
        const uint8_t *data = ef_val_buf_data(v);
        for (size_t i = 0; i < count; i++) {
            out->vals[i] = elem_load(data, io->elem, i);
        }
    } else {
        size_t pos = 0;
        int rc = flatten(v, shape, rank, out->vals, &pos);
        if (rc) {
            snprintf(err, errlen,
                     rc == 1 ? "input \"%s\": %s is not a regular array (rows of different "
                               "lengths); expected shape %s"
                             : "input \"%s\": %s holds a value that is not a number; expected "
                               "numbers of shape %s",
                     io->name, where, want);
            free(out->vals);
            out->vals = NULL;
            return -1;
        }
    }
    for (size_t i = 0; i < count; i++) {
        if (!isfinite(out->vals[i]) && io->elem != ORT_ELEM_FLOAT && io->elem != ORT_ELEM_DOUBLE) {
            snprintf(err, errlen, "input \"%s\": %s holds a non-finite value for a %s input",
                     io->name, where, ort_elem_name(io->elem));
            free(out->vals);
            out->vals = NULL;
            return -1;
        }
    }
    return 0;
}

void elem_store(void *data, int elem, size_t i, double x)
{
    switch (elem) {
    case ORT_ELEM_FLOAT: ((float *)data)[i] = (float)x; break;
    case ORT_ELEM_DOUBLE: ((double *)data)[i] = x; break;
    case ORT_ELEM_INT32: ((int32_t *)data)[i] = (int32_t)x; break;
    case ORT_ELEM_INT64: ((int64_t *)data)[i] = (int64_t)x; break;
    case ORT_ELEM_UINT8: ((uint8_t *)data)[i] = (uint8_t)x; break;
    case ORT_ELEM_INT8: ((int8_t *)data)[i] = (int8_t)x; break;
    case ORT_ELEM_BOOL: ((uint8_t *)data)[i] = x != 0; break;
    default: break;
    }
}

double elem_load(const void *data, int elem, size_t i)
{
    switch (elem) {
    case ORT_ELEM_FLOAT: {
        float f;
        memcpy(&f, (const char *)data + i * 4, 4);
        return f;
    }
    case ORT_ELEM_DOUBLE: {
        double d;
        memcpy(&d, (const char *)data + i * 8, 8);
        return d;
    }
    case ORT_ELEM_INT32: {
        int32_t x;
        memcpy(&x, (const char *)data + i * 4, 4);
        return x;
    }
    case ORT_ELEM_INT64: {
        int64_t x;
        memcpy(&x, (const char *)data + i * 8, 8);
        return (double)x;
    }
    case ORT_ELEM_UINT8: return ((const uint8_t *)data)[i];
    case ORT_ELEM_INT8: return ((const int8_t *)data)[i];
    case ORT_ELEM_BOOL: return ((const uint8_t *)data)[i] != 0;
    default: return 0;
    }
}

static struct ef_val *elem_val(const void *data, int elem, size_t i)
{
    if (elem == ORT_ELEM_BOOL) {
        return ef_val_bool(((const uint8_t *)data)[i] != 0);
    }
    return ef_val_num(elem_load(data, elem, i));
}

struct ef_val *tensor_to_val(const void *data, int elem, size_t first, const int64_t *dims,
                             size_t rank)
{
    if (rank == 0) {
        return elem_val(data, elem, first);
    }
    struct ef_val *a = ef_val_arr();
    size_t stride = 1;
    for (size_t d = 1; d < rank; d++) {
        stride *= (size_t)dims[d];
    }
    for (int64_t i = 0; a && i < dims[0]; i++) {
        struct ef_val *item =
            tensor_to_val(data, elem, first + (size_t)i * stride, dims + 1, rank - 1);
        if (!item || ef_val_arr_push_take(a, item) != 0) {
            ef_val_unref(item);
            ef_val_unref(a);
            return NULL;
        }
    }
    return a;
}
