#!/usr/bin/env bash
# bench/run.sh - what `make bench` runs: side-by-side benchmarks of edgeflow
# and node-red@4.1.15 on this machine, in the same run, on the same flows.
#   1. scripts/setup.sh (Debian packages, tools/node_modules with node-red)
#   2. edgeflow in Release:  cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release
#      with -O2 (CMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG": the optimisation level
#      `make test` keeps warning-free under -Werror; gcc 12's -O3 adds
#      maybe-uninitialized false positives)
#   3. the benchmark plugin: cmake -S bench -B build-bench/bench-nodes
#                            -> build-bench/bench-plugins/bench_nodes.so
#   4. node bench/bench.js: each benchmark BENCH_REPS times (default 5) per
#      engine, alternately; prints a markdown table (medians, ratios) and
#      writes build-bench/bench-results.{md,json}.
# Benchmarks report; they never fail: if edgeflow does not build, Node-RED is
# still measured and the edgeflow column says n/a. Exit status is always 0.
# Extra arguments go to bench.js (e.g. --only chain,idle --reps 3). Then the
# Lua, sequence, MQTT, editor, HTTP, infer and route-to-cloud benchmarks run
# (BENCH_CORE_ONLY=1 skips them).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/build-bench

bash scripts/setup.sh || echo "bench: scripts/setup.sh failed; trying anyway" >&2

EF_ARGS=()
if cmake -S "$ROOT" -B "$OUT" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_C_FLAGS_RELEASE=-O2 -DNDEBUG" >/dev/null &&
   cmake --build "$OUT" -j"$(nproc)" --target edgeflow ef_lua ef_infer ef_route_to_cloud >/dev/null; then
    if cmake -S "$ROOT/bench" -B "$OUT/bench-nodes" -DCMAKE_BUILD_TYPE=Release \
             -DEF_BENCH_PLUGIN_DIR="$OUT/bench-plugins" >/dev/null &&
       cmake --build "$OUT/bench-nodes" >/dev/null; then
        EF_ARGS=(--edgeflow "$OUT/edgeflow" --plugin-dir "$OUT/bench-plugins")
    else
        echo "bench: building bench/nodes/bench_nodes.c failed; edgeflow will be n/a" >&2
    fi
else
    echo "bench: building edgeflow (Release) failed; edgeflow will be n/a" >&2
fi

node "$ROOT/bench/bench.js" "${EF_ARGS[@]}" --ef-build "Release, -O2" \
    --md "$OUT/bench-results.md" --json "$OUT/bench-results.json" "$@" ||
    echo "bench: bench.js failed" >&2

# The benchmarks of the other parts, on the same Release binary (BENCH_CORE_ONLY=1 skips them).
if [ -z "${BENCH_CORE_ONLY:-}" ] && [ -x "$OUT/edgeflow" ]; then
    for b in lua sequence mqtt editor http infer route_to_cloud; do
        echo
        echo "## bench/$b.sh"
        EDGEFLOW="$OUT/edgeflow" bash "$ROOT/bench/$b.sh" || echo "bench: $b.sh failed" >&2
    done
fi
exit 0
