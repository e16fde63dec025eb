#!/usr/bin/env bash
# bench/mqtt.sh - MQTT benchmarks: edgeflow vs Node-RED 4.1.15 vs the broker-only ceiling.
#
# Starts a mosquitto on a free loopback port, then for each flow (passthrough:
# mqtt in -> mqtt out; pipeline: mqtt in -> json -> change (JSONata) -> switch
# -> two mqtt outs; chain10: mqtt in -> json -> 10 change nodes -> mqtt out) and
# each runtime it measures: start-up (exec to first message through the flow),
# idle RSS, a 100k-message QoS 0 flood (messages/s, CPU us per message, peak
# RSS), and p50/p99 latency at 1k and 10k messages/s. The ceiling is a minimal C
# relay (bench/mqtt/loadgen.c --relay) in place of the runtime. function:
# mqtt in -> json -> the same arithmetic in a Lua node (edgeflow) or a
# function node (Node-RED) -> mqtt out.
#
#   bench/mqtt.sh [EDGEFLOW_BINARY]     (default $EDGEFLOW, else build/edgeflow; env N=100000)
# Results: a markdown table on stdout and build-bench/mqtt/results.json.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
EF=${1:-${EDGEFLOW:-$ROOT/build/edgeflow}}
N=${N:-100000}
OUT=$ROOT/build-bench/mqtt
mkdir -p "$OUT"
gcc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -o "$OUT/loadgen" bench/mqtt/loadgen.c -lpaho-mqtt3a
LG=$OUT/loadgen
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
USERLINE=""; [ "$(id -u)" = 0 ] && USERLINE="user root"
printf '%s\nlistener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$USERLINE" "$PORT" > "$OUT/mosquitto.conf"
mosquitto -c "$OUT/mosquitto.conf" > "$OUT/mosquitto.log" 2>&1 &
MOSQ=$!; PIDS+=($MOSQ)
sleep 0.5

python3 - "$OUT" "$PORT" <<'PY'
import json, sys
out, port = sys.argv[1], sys.argv[2]
def base():
    return [{"id": "t1", "type": "tab", "label": "bench"},
            {"id": "b1", "type": "mqtt-broker", "name": "", "broker": "127.0.0.1", "port": port,
             "clientid": "", "autoConnect": True, "usetls": False, "protocolVersion": "4",
             "keepalive": "60", "cleansession": True, "autoUnsubscribe": True,
             "birthTopic": "", "closeTopic": "", "willTopic": ""}]
def min_(nid, wires, dt="utf8"):
    return {"id": nid, "type": "mqtt in", "z": "t1", "name": "", "topic": "bench/in", "qos": "0",
            "datatype": dt, "broker": "b1", "nl": False, "rap": True, "rh": 0, "inputs": 0,
            "x": 100, "y": 100, "wires": [wires]}
def mout(nid, topic):
    return {"id": nid, "type": "mqtt out", "z": "t1", "name": "", "topic": topic, "qos": "0",
            "retain": "false", "respTopic": "", "contentType": "", "userProps": "", "correl": "",
            "expiry": "", "broker": "b1", "x": 500, "y": 100, "wires": []}
def change(nid, rules, wires):
    return {"id": nid, "type": "change", "z": "t1", "name": "", "rules": rules, "x": 300, "y": 100,
            "wires": [wires]}
flows = {}
flows["passthrough"] = base() + [min_("in", ["out"]), mout("out", "bench/out/a")]
flows["pipeline"] = base() + [
    min_("in", ["json"]),
    {"id": "json", "type": "json", "z": "t1", "name": "", "property": "payload", "action": "",
     "pretty": False, "x": 200, "y": 100, "wires": [["chg"]]},
    change("chg", [{"t": "set", "p": "payload.scaled", "pt": "msg",
                    "to": "payload.value * 1.8 + 32", "tot": "jsonata"}], ["sw"]),
    {"id": "sw", "type": "switch", "z": "t1", "name": "", "property": "payload.value",
     "propertyType": "msg", "rules": [{"t": "gte", "v": "50", "vt": "num"}, {"t": "else"}],
     "checkall": "false", "repair": False, "outputs": 2, "x": 400, "y": 100,
     "wires": [["hi"], ["lo"]]},
    mout("hi", "bench/out/hi"), mout("lo", "bench/out/lo")]
chain = [min_("in", ["json"]),
         {"id": "json", "type": "json", "z": "t1", "name": "", "property": "payload", "action": "",
          "pretty": False, "x": 200, "y": 100, "wires": [["c0"]]}]
for i in range(10):
    chain.append(change("c%d" % i, [{"t": "set", "p": "payload.s%d" % i, "pt": "msg",
                                      "to": str(i), "tot": "num"}],
                        ["c%d" % (i + 1)] if i < 9 else ["out"]))
chain.append(mout("out", "bench/out/a"))
flows["chain10"] = base() + chain
# function: the same arithmetic in a Lua node (edgeflow) and a function node (Node-RED).
def fn(node):
    return base() + [min_("in", ["json"]),
        {"id": "json", "type": "json", "z": "t1", "name": "", "property": "payload", "action": "",
         "pretty": False, "x": 200, "y": 100, "wires": [["fn"]]},
        dict(node, id="fn", z="t1", name="", outputs=1, x=300, y=100, wires=[["out"]]),
        mout("out", "bench/out/a")]
flows["function-ef"] = fn({"type": "lua",
    "func": "msg.payload.r = msg.payload.value * 3 + 1\nmsg.payload.s = msg.payload.value / 2 - 7\nreturn msg"})
flows["function-nr"] = fn({"type": "function", "noerr": 0, "initialize": "", "finalize": "", "libs": [],
    "func": "msg.payload.r = msg.payload.value * 3 + 1;\nmsg.payload.s = msg.payload.value / 2 - 7;\nreturn msg;"})
for k, v in flows.items():
    json.dump(v, open("%s/%s.json" % (out, k), "w"))
PY

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/{print $2}' "/proc/$1/status"; }
HZ=$(getconf CLK_TCK)
RESULTS=$OUT/results.jsonl
: > "$RESULTS"

# run_one NAME FLOW CMD... : start-up, idle RSS, flood, latency at 1k and 10k msg/s
run_one() {
    local name=$1 flow=$2; shift 2
    local start; start=$(python3 -c 'import time;print(time.monotonic_ns())')
    "$@" > "$OUT/$name-$flow.log" 2>&1 &
    local pid=$!; PIDS+=($pid)
    local st; st=$("$LG" -p "$PORT" --probe -i bench/in -o 'bench/out/#' -s "$start" -t 60 | sed 's/.*: *\([0-9.null]*\)}/\1/')
    sleep 1
    local idle; idle=$(rss_kb $pid)
    local c0; c0=$(cpu_ticks $pid)
    local flood; flood=$("$LG" -p "$PORT" -n "$N" -w 2000 -t 300 || true)
    local c1; c1=$(cpu_ticks $pid)
    local l1k; l1k=$("$LG" -p "$PORT" -n 5000 -r 1000 -t 60 || true)
    local l10k; l10k=$("$LG" -p "$PORT" -n 20000 -r 10000 -t 60 || true)
    local peak; peak=$(hwm_kb $pid)
    kill $pid; wait $pid 2>/dev/null || true
    python3 - "$name" "$flow" "$st" "$idle" "$peak" "$c0" "$c1" "$HZ" "$flood" "$l1k" "$l10k" >> "$RESULTS" <<'PY'
import json, sys
name, flow, st, idle, peak, c0, c1, hz, flood, l1k, l10k = sys.argv[1:]
f = json.loads(flood); a = json.loads(l1k); b = json.loads(l10k)
cpu_us = (int(c1) - int(c0)) * 1e6 / int(hz) / max(f["received"], 1)
print(json.dumps({"runtime": name, "flow": flow, "startup_ms": None if st == "null" else float(st),
                  "idle_rss_mb": int(idle) / 1024, "peak_rss_mb": int(peak) / 1024,
                  "flood_rate": f["rate"], "flood_received": f["received"], "flood_expected": f["expected"],
                  "cpu_us_per_msg": cpu_us, "p50_1k_us": a["p50_us"], "p99_1k_us": a["p99_us"],
                  "p50_10k_us": b["p50_us"], "p99_10k_us": b["p99_us"], "rate_10k": b["rate"]}))
PY
}

for flow in passthrough pipeline chain10 function; do
    eff=$flow nrf=$flow
    [ "$flow" = function ] && eff=function-ef nrf=function-nr
    run_one edgeflow $flow "$EF" run "$OUT/$eff.json" --port 0 --log-level warn
    if command -v node >/dev/null && [ -f tools/node_modules/node-red/red.js ]; then
        NRDIR=$(mktemp -d)
        BENCH_NR_PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])') \
            run_one node-red $flow node tools/node_modules/node-red/red.js --settings bench/settings.js \
            --userDir "$NRDIR" "$OUT/$nrf.json"
        rm -rf "$NRDIR"
    fi
done
run_one broker-ceiling relay "$LG" -p "$PORT" --relay -i bench/in -o bench/out/a

python3 - "$RESULTS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| flow | runtime | msgs/s (100k flood) | CPU us/msg | p50/p99 @1k/s (us) | p50/p99 @10k/s (us) | idle RSS MB | peak RSS MB | start-up ms |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    lost = "" if r["flood_received"] == r["flood_expected"] else " (%d/%d)" % (r["flood_received"], r["flood_expected"])
    print("| %s | %s | %.0f%s | %.1f | %.0f / %.0f | %.0f / %.0f | %.1f | %.1f | %s |" % (
        r["flow"], r["runtime"], r["flood_rate"], lost, r["cpu_us_per_msg"], r["p50_1k_us"], r["p99_1k_us"],
        r["p50_10k_us"], r["p99_10k_us"], r["idle_rss_mb"], r["peak_rss_mb"],
        "%.0f" % r["startup_ms"] if r["startup_ms"] is not None else "-"))
PY
