/*
 * hash_sum.h - npm hash-sum (what Node-RED's http request node stores in
 * msg.headers["x-node-red-request-node"] and the http response node checks).
 */
#ifndef EF_HASH_SUM_H
#define EF_HASH_SUM_H

#include <edgeflow/val.h>

/* hash-sum(v) as a new string value (8+ lowercase hex digits); NULL on OOM. */
struct ef_val *hash_sum__of(const struct ef_val *v);

#endif
