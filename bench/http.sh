#!/usr/bin/env bash
# bench/http.sh - HTTP endpoint benchmark: edgeflow vs Node-RED 4.1.15 in the
# same run. The flow is http in (GET /bench) -> change (sets msg.payload to a
# small object from the query) -> http response; wrk (Debian package) drives
# it over keep-alive connections on loopback. Each runtime is measured REPS
# times, alternately, for DUR seconds each; the table shows the medians of
# requests/s, p50/p99 latency, the server's CPU time per request (from
# /proc/PID/stat, which a loaded machine distorts less than throughput) and
# the ratios.
#
#   bench/http.sh [EDGEFLOW_BINARY]   (default $EDGEFLOW, else build/edgeflow)
#   env: REPS=3 DUR=5 CONNS=32 THREADS=1
# Results: a markdown table on stdout and build-bench/http/results.json.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
EF=${1:-${EDGEFLOW:-$ROOT/build/edgeflow}}
REPS=${REPS:-3}
DUR=${DUR:-5}
CONNS=${CONNS:-32}
THREADS=${THREADS:-1}
OUT=$ROOT/build-bench/http
mkdir -p "$OUT"
command -v wrk >/dev/null || { echo "bench/http.sh: wrk is missing (scripts/setup.sh installs it)" >&2; exit 1; }
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
freeport() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

cat > "$OUT/flows.json" <<'JSON'
[
{"id":"t1","type":"tab","label":"bench"},
{"id":"in","type":"http in","z":"t1","url":"/bench","method":"get","x":100,"y":100,"wires":[["ch"]]},
{"id":"ch","type":"change","z":"t1","rules":[{"t":"set","p":"payload","pt":"msg","to":"{\"ok\":true}","tot":"json"},{"t":"set","p":"payload.n","pt":"msg","to":"req.query.n","tot":"msg"}],"x":300,"y":100,"wires":[["out"]]},
{"id":"out","type":"http response","z":"t1","statusCode":"","headers":{},"x":500,"y":100,"wires":[]}
]
JSON

wait_up() { # url
    for _ in $(seq 1 300); do
        curl -sf -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "bench/http.sh: $1 did not answer" >&2
    return 1
}

start_ef() {
    PORT=$(freeport)
    mkdir -p "$OUT/ef"
    cp "$OUT/flows.json" "$OUT/ef/flows.json"
    "$EF" run "$OUT/ef/flows.json" --port "$PORT" --user-dir "$OUT/ef" > "$OUT/ef.log" 2>&1 &
    SRV=$!; PIDS+=($SRV)
    wait_up "http://127.0.0.1:$PORT/bench?n=1"
}

start_nr() {
    PORT=$(freeport)
    mkdir -p "$OUT/nr"
    cp "$OUT/flows.json" "$OUT/nr/flows.json"
    cat > "$OUT/nr/settings.js" <<JS
module.exports = { uiHost: "127.0.0.1", uiPort: $PORT, flowFile: "flows.json", userDir: "$OUT/nr",
  credentialSecret: false, telemetry: { enabled: false }, editorTheme: { tours: false },
  logging: { console: { level: "warn" } } };
JS
    node "$ROOT/tools/node_modules/node-red/red.js" --settings "$OUT/nr/settings.js" --userDir "$OUT/nr" > "$OUT/nr.log" 2>&1 &
    SRV=$!; PIDS+=($SRV)
    wait_up "http://127.0.0.1:$PORT/bench?n=1"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run_wrk() { # name rep
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/bench?n=1"
    wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$PORT/bench?n=1" > /dev/null # warm-up
    local t0; t0=$(cpu_ticks "$SRV")
    wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --latency "http://127.0.0.1:$PORT/bench?n=1" > "$OUT/$1-$2.txt"
    echo "cpu_ticks: $(( $(cpu_ticks "$SRV") - t0 )) $(getconf CLK_TCK)" >> "$OUT/$1-$2.txt"
    kill "$SRV" 2>/dev/null || true
    wait "$SRV" 2>/dev/null || true
}

for rep in $(seq 1 "$REPS"); do
    start_ef; run_wrk edgeflow "$rep"
    start_nr; run_wrk nodered "$rep"
done

python3 - "$OUT" "$REPS" "$CONNS" "$DUR" <<'PY'
import json, re, statistics, sys
out, reps, conns, dur = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
res = {}
for eng in ("edgeflow", "nodered"):
    rps, p99, p50, cpu, errs = [], [], [], [], 0
    for r in range(1, reps + 1):
        t = open(f"{out}/{eng}-{r}.txt").read()
        rps.append(float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1)))
        m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
        p99.append(ms(*m.groups()))
        m = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
        p50.append(ms(*m.groups()))
        n = int(re.search(r"(\d+) requests in", t).group(1))
        m = re.search(r"cpu_ticks: (\d+) (\d+)", t)
        cpu.append(int(m.group(1)) / int(m.group(2)) * 1e6 / max(n, 1))
        m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
        errs += int(m.group(1)) if m else 0
    res[eng] = {"rps": rps, "p99_ms": p99, "p50_ms": p50, "cpu_us": cpu, "non2xx": errs,
                "cpu_us_median": statistics.median(cpu),
                "rps_median": statistics.median(rps), "p99_median_ms": statistics.median(p99),
                "p50_median_ms": statistics.median(p50)}
e, n = res["edgeflow"], res["nodered"]
print(f"\nhttp in -> change -> http response, wrk {conns} connections, {dur} s x {reps} runs each (medians)\n")
print("| | edgeflow | Node-RED 4.1.15 | ratio |")
print("|---|---:|---:|---:|")
print(f"| requests/s | {e['rps_median']:.0f} | {n['rps_median']:.0f} | {e['rps_median']/n['rps_median']:.1f}x |")
print(f"| p50 latency | {e['p50_median_ms']:.2f} ms | {n['p50_median_ms']:.2f} ms | {n['p50_median_ms']/e['p50_median_ms']:.1f}x lower |")
print(f"| p99 latency | {e['p99_median_ms']:.2f} ms | {n['p99_median_ms']:.2f} ms | {n['p99_median_ms']/e['p99_median_ms']:.1f}x lower |")
print(f"| server CPU per request | {e['cpu_us_median']:.0f} µs | {n['cpu_us_median']:.0f} µs | {n['cpu_us_median']/e['cpu_us_median']:.1f}x less |")
print(f"| non-2xx answers | {e['non2xx']} | {n['non2xx']} | |")
json.dump(res, open(f"{out}/results.json", "w"), indent=1)
PY
