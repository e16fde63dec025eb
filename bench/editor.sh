#!/usr/bin/env bash
# Editor benchmarks, edgeflow vs Node-RED 4.1.15: editor load time (first
# byte to palette ready) and the round trip of a full deploy of a 1,000-node
# flow. Builds edgeflow (build-bench, Release) unless EDGEFLOW names a binary.
# Usage: bench/editor.sh [--runs N] [--json OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${EDGEFLOW:-}" ]; then
    cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build-bench -j"$(nproc)" --target edgeflow >/dev/null
    EDGEFLOW=build-bench/edgeflow
fi
exec node bench/editor.js "$EDGEFLOW" "$@"
