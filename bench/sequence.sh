#!/usr/bin/env bash
# bench/sequence.sh - split -> change -> join of a 100k-element array and a
# csv -> json pipeline, edgeflow (Release) side by side with node-red@4.1.15.
# Reports throughput and peak RSS (medians of BENCH_REPS runs, default 3)
# and their ratios; never fails. EDGEFLOW=path skips the build.
# Extra arguments go to bench/sequence.js (e.g. --n 200000 --reps 5).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/build-seqbench
bash scripts/setup.sh >/dev/null || echo "sequence bench: setup failed; trying anyway" >&2
BIN=${EDGEFLOW:-}
if [ -z "$BIN" ]; then
    if cmake -S "$ROOT" -B "$OUT" -DCMAKE_BUILD_TYPE=Release >/dev/null &&
       cmake --build "$OUT" -j"$(nproc)" --target edgeflow >/dev/null; then
        BIN=$OUT/edgeflow
    else
        echo "sequence bench: building edgeflow failed; Node-RED only" >&2
    fi
fi
node "$ROOT/bench/sequence.js" ${BIN:+--edgeflow "$BIN"} --reps "${BENCH_REPS:-3}" \
    --md "$OUT/sequence-results.md" "$@" || echo "sequence bench: sequence.js failed" >&2
exit 0
