/*
 * edgeflow.h - everything a plugin includes.
 */
#ifndef EDGEFLOW_H
#define EDGEFLOW_H

#include <edgeflow/err.h>
#include <edgeflow/http.h>
#include <edgeflow/log.h>
#include <edgeflow/loop.h>
#include <edgeflow/msg.h>
#include <edgeflow/mqtt.h>
#include <edgeflow/mustache.h>
#include <edgeflow/node.h>
#include <edgeflow/path.h>
#include <edgeflow/plugin.h>
#include <edgeflow/val.h>

#endif
