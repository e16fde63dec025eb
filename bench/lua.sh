#!/usr/bin/env bash
# bench/lua.sh - the Lua node against Node-RED's function node.
#
# A node wired to itself does msg.payload.r = msg.payload.v * 3 + 1, counts
# msg.payload.v up and sends the message back to itself until v reaches N,
# so every message is one node activation plus one queued delivery. The
# node measures its own elapsed time (edgeflow: os.clock, the process' CPU
# time, and os.time; Node-RED: Date.now) and reports activations/s and time
# per activation with node.warn. Same logic in both: a `lua` node in
# edgeflow, a `function` node in Node-RED 4.1.15 (tools/nr-run.js).
#
#   bench/lua.sh [N_EDGEFLOW] [N_NODERED]      (defaults 5000000, 300000)
#
# Needs a built edgeflow (build/ or $EDGEFLOW) and tools/node_modules
# (scripts/setup.sh). Reports; never fails on numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
EF=${EDGEFLOW:-build/edgeflow}
N_EF=${1:-5000000}
N_NR=${2:-300000}
T=$(mktemp -d /tmp/ef-bench-lua.XXXXXX)
trap 'rm -rf "$T"' EXIT
[ -x "$EF" ] || { echo "bench/lua.sh: $EF not built (make build)" >&2; exit 1; }

cat >"$T/ef.json" <<FLOW
[{"id":"t1","type":"tab","label":"bench"},
 {"id":"i1","type":"inject","z":"t1","props":[{"p":"payload"}],"payload":"{\"v\":0}","payloadType":"json","repeat":"","once":true,"onceDelay":0.1,"x":1,"y":1,"wires":[["l1"]]},
 {"id":"l1","type":"lua","z":"t1","outputs":1,"x":1,"y":1,"wires":[["l1"]],
  "initialize":"N = $N_EF",
  "func":"local p = msg.payload\nif p.v == 0 then t0, w0 = os.clock(), os.time() end\np.r = p.v * 3 + 1\np.v = p.v + 1\nif p.v < N then return msg end\nlocal cpu = os.clock() - t0\nnode.warn(string.format('RESULT %d %.6f %d', N, cpu, os.time() - w0))\nreturn nil"}]
FLOW
cat >"$T/nr.json" <<FLOW
[{"id":"t1","type":"tab","label":"bench"},
 {"id":"i1","type":"inject","z":"t1","props":[{"p":"payload"}],"payload":"{\"v\":0}","payloadType":"json","repeat":"","once":true,"onceDelay":0.1,"x":1,"y":1,"wires":[["f1"]]},
 {"id":"f1","type":"function","z":"t1","outputs":1,"x":1,"y":1,"wires":[["f1"]],
  "initialize":"context.set('N', $N_NR);",
  "func":"const p = msg.payload;\nif (p.v === 0) { context.set('t0', Date.now()); }\np.r = p.v * 3 + 1;\np.v = p.v + 1;\nif (p.v < context.get('N')) { return msg; }\nnode.warn('RESULT ' + p.v + ' ' + ((Date.now() - context.get('t0')) / 1000));\nreturn null;"}]
FLOW

echo "== edgeflow lua node: $N_EF activations"
"$EF" run "$T/ef.json" --user-dir "$T" --port 0 >"$T/ef.out" 2>"$T/ef.err" &
pid=$!
for _ in $(seq 600); do grep -q RESULT "$T/ef.err" && break; sleep 0.1; done
kill -TERM $pid 2>/dev/null || true
wait $pid 2>/dev/null || true
read -r n cpu wall < <(grep -o 'RESULT.*' "$T/ef.err" | head -1 | cut -d' ' -f2-)
ef_rate=$(awk -v n="$n" -v c="$cpu" 'BEGIN { printf "%.0f", n / c }')
echo "  $n activations in $cpu s CPU (wall ~${wall} s): $ef_rate activations/s, $(awk -v n="$n" -v c="$cpu" 'BEGIN { printf "%.0f", c / n * 1e9 }') ns CPU per activation"

# Node-RED: CPU of the node process (utime+stime from /proc) when the result
# is in, minus the same for a 1-activation run, per activation.
nr_run() { # N -> prints "activations seconds cpu_ticks"
    sed "s/context.set('N', $N_NR)/context.set('N', $1)/" "$T/nr.json" >"$T/nr$1.json"
    (cd tools && exec node nr-run.js "$T/nr$1.json" --run-ms 600000 >"$T/nr.out" 2>"$T/nr$1.err") &
    local pid=$! ticks=0
    for _ in $(seq 1200); do grep -q RESULT "$T/nr$1.err" 2>/dev/null && break; sleep 0.1; done
    ticks=$(awk '{ print $14 + $15 }' /proc/$pid/stat 2>/dev/null || echo 0)
    kill -TERM $pid 2>/dev/null || true
    wait $pid 2>/dev/null || true
    echo "$(grep -o 'RESULT.*' "$T/nr$1.err" | head -1 | cut -d' ' -f2-) $ticks"
}
echo "== Node-RED 4.1.15 function node: $N_NR activations"
read -r nn secs ticks < <(nr_run "$N_NR")
read -r _ _ ticks0 < <(nr_run 1)
hz=$(getconf CLK_TCK)
nr_cpu=$(awk -v a="$ticks" -v b="$ticks0" -v hz="$hz" 'BEGIN { printf "%.3f", (a - b) / hz }')
nr_rate=$(awk -v n="$nn" -v c="$nr_cpu" 'BEGIN { printf "%.0f", n / c }')
echo "  $nn activations in $nr_cpu s CPU (wall $secs s): $nr_rate activations/s, $(awk -v n="$nn" -v c="$nr_cpu" 'BEGIN { printf "%.0f", c / n * 1e9 }') ns CPU per activation"
echo "== ratio (CPU per activation): edgeflow is $(awk -v a="$ef_rate" -v b="$nr_rate" 'BEGIN { printf "%.1f", a / b }')x Node-RED (targets: >= 5M activations/s, >= 20x)"
