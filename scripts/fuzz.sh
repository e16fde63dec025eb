#!/usr/bin/env bash
# fuzz.sh - builds the libFuzzer targets (clang, ASan+UBSan, build-fuzz/) and
# runs each for FUZZ_SECONDS (default 600) on a working copy of its seed
# corpus. Crashes are saved in build-fuzz/artifacts/<target>/; fix them and
# keep the input in tests/fuzz/regressions/<target>/, which `make test`
# replays. Prints executions and coverage per target (build-fuzz/report.txt).
#   FUZZ_SECONDS=60 FUZZ_TARGETS="json path" scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-600}
JOBS=${JOBS:-$(nproc)}
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEF_JSONATA=ON -DEF_FUZZ=ON >/dev/null
targets=${FUZZ_TARGETS:-$(ls tests/fuzz/fuzz_*.c | sed 's|.*/fuzz_||; s|\.c$||')}
cmake --build build-fuzz -j"$JOBS" --target $(for t in $targets; do echo "fuzz_$t"; done)
report=build-fuzz/report.txt
: >"$report"
status=0
for t in $targets; do
    work=build-fuzz/corpus/$t art=build-fuzz/artifacts/$t
    mkdir -p "$work" "$art"
    cp -n tests/fuzz/corpus/"$t"/* "$work"/ 2>/dev/null || true
    log=build-fuzz/$t.log
    echo "fuzz_$t: ${SECONDS_EACH}s"
    if ! ASAN_OPTIONS=detect_leaks=1 build-fuzz/tests/fuzz/fuzz_"$t" -max_total_time="$SECONDS_EACH" \
        -timeout=10 -rss_limit_mb=2048 -max_len=65536 -artifact_prefix="$art/" -print_final_stats=1 \
        "$work" >"$log" 2>&1; then
        status=1
        echo "fuzz_$t: FAILED, see $log and $art/" | tee -a "$report"
    fi
    execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
    cov=$(grep -E '^#[0-9]+.*cov:' "$log" | tail -1 | sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+).*/cov \1 ft \2 corpus \3/')
    echo "fuzz_$t: ${execs:-?} executions in ${SECONDS_EACH}s, ${cov:-no stats}" | tee -a "$report"
done
exit $status
