#!/usr/bin/env bash
# bench/fleet-scale/run.sh - the fleet scale benchmarks (docs/performance.md, "Fleet").
#
#   bench/fleet-scale/run.sh agents   FLEET_AGENTS (default 1000) real `edgeflow agent`
#                                     processes, one mosquitto and one `edgeflow manager`;
#                                     a rollout to all of them in waves (fleet_scale.py)
#   bench/fleet-scale/run.sh sim      the protocol simulator (sim.c): SIM_DEVICES (default
#                                     10000) devices with heartbeats every 10 s against the
#                                     manager; its CPU over a steady minute, then a rollout
#
# Builds edgeflow in Release (-O2, build-bench/, as bench/run.sh does) unless
# EDGEFLOW names a binary. Raises the open-file limit to its hard limit: mosquitto
# holds one socket per device and the simulator one per simulated device.
# Needs about 5 MB of RAM per agent. Prints a summary and a line "RESULT {json}".
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=$ROOT/build-bench
mode=${1:-agents}
if [ -z "${EDGEFLOW:-}" ]; then
    cmake -S "$ROOT" -B "$OUT" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_C_FLAGS_RELEASE=-O2 -DNDEBUG" >/dev/null
    cmake --build "$OUT" -j2 --target edgeflow >/dev/null
    export EDGEFLOW=$OUT/edgeflow
fi
ulimit -n "$(ulimit -Hn)"
case "$mode" in
agents)
    exec python3 "$ROOT/bench/fleet-scale/fleet_scale.py"
    ;;
sim)
    mkdir -p "$OUT"
    gcc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -o "$OUT/fleet-sim" "$ROOT/bench/fleet-scale/sim.c" -lsodium
    SIM=$OUT/fleet-sim exec python3 "$ROOT/bench/fleet-scale/fleet_scale.py"
    ;;
*)
    echo "usage: bench/fleet-scale/run.sh agents|sim" >&2
    exit 2
    ;;
esac
