#!/usr/bin/env bash
# bench/infer.sh - the infer node (plugins/infer) on the example model
# plugins/infer/models/vibration_anomaly.onnx: inferences/s, p50/p99 latency,
# ORT Run time, the node's overhead beyond Run, CPU per inference; single
# (closed loop) and bursts with batchSize 1 and 32. See bench/infer_bench.py
# for the method and docs/performance.md for results.
#
#   bench/infer.sh [N]        (default 20000 inferences per row)
#
# Needs a built edgeflow with its plugins (build/ or $EDGEFLOW), the npm
# onnxruntime-node library (scripts/setup.sh) and /usr/bin/python3.
# Reports; never fails on numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
EF=${EDGEFLOW:-build/edgeflow}
[ -x "$EF" ] || { echo "bench/infer.sh: $EF not built (make build)" >&2; exit 1; }
[ -f "$(dirname "$EF")/plugins/infer.so" ] || { echo "bench/infer.sh: $(dirname "$EF")/plugins/infer.so not built" >&2; exit 1; }
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
exec /usr/bin/python3 bench/infer_bench.py "$EF" "${1:-20000}"
