/*
 * redeploy.h - deciding which running nodes a "nodes" or "flows" deploy
 * may carry over unchanged.
 */
#ifndef EF_REDEPLOY_H
#define EF_REDEPLOY_H

#include "idmap.h"
#include "runtime.h"

/*
 * Compares the running flows with the new ones and returns the ids of the
 * nodes (on tabs or global, and subflow instances) that may keep running
 * as they are: unchanged themselves (ignoring position and wires, as
 * Node-RED's diffNodes does), with unchanged tab/group/global env, unchanged
 * config nodes they use and, for instances, an unchanged subflow. With
 * EF_DEPLOY_FLOWS, a node is only carried over when nothing on its tab
 * changed. Returns a new map (free with idmap__free), or NULL on OOM or when
 * `type` restarts everything.
 */
struct id_map *redeploy__plan(const struct ef_val *old_config, const struct ef_val *new_config,
                              enum ef_deploy_type type);

#endif
