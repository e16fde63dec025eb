#!/usr/bin/env bash
# bench/soak/soak.sh - the soak test: the pipeline flow (mqtt in -> json ->
# change (JSONata) -> switch -> two mqtt outs, QoS 1, persistent sessions)
# under a steady MQTT load (soakgen.c) for SOAK_SECONDS, with a deploy every
# DEPLOY_EVERY seconds (alternately a `nodes` deploy that changes the change
# node and a `full` deploy) and a broker restart every RESTART_EVERY seconds.
# Reports edgeflow's RSS every 10 s and its slope, messages lost and
# duplicated at QoS 1, and error lines in edgeflow's log. With VALGRIND=1
# edgeflow runs under valgrind memcheck, which must report no leaks.
#
#   bench/soak/soak.sh [EDGEFLOW]   env: SOAK_SECONDS (3600) RATE (10000)
#                                   DEPLOY_EVERY (300) RESTART_EVERY (420) VALGRIND (0)
# Results: build-bench/soak/summary.json (also printed), rss.csv, *.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
EF=${1:-${EDGEFLOW:-$ROOT/build/edgeflow}}
SOAK_SECONDS=${SOAK_SECONDS:-3600}
RATE=${RATE:-10000}
DEPLOY_EVERY=${DEPLOY_EVERY:-300}
RESTART_EVERY=${RESTART_EVERY:-420}
VALGRIND=${VALGRIND:-0}
OUT=$ROOT/build-bench/soak
[ "$VALGRIND" = 1 ] && OUT=$OUT-valgrind
rm -rf "$OUT" && mkdir -p "$OUT/user" "$OUT/mosq"
gcc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -o "$OUT/soakgen" bench/soak/soakgen.c -lpaho-mqtt3a -lpthread
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
BPORT=$(free_port)
APORT=$(free_port)
USERLINE=""; [ "$(id -u)" = 0 ] && USERLINE="user root"
cat >"$OUT/mosquitto.conf" <<CONF
$USERLINE
listener $BPORT 127.0.0.1
allow_anonymous true
persistence true
persistence_location $OUT/mosq/
max_queued_messages 0
max_inflight_messages 100
CONF
start_broker() {
    mosquitto -c "$OUT/mosquitto.conf" >>"$OUT/mosquitto.log" 2>&1 &
    MOSQ=$!
    PIDS+=("$MOSQ")
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/"$BPORT") 2>/dev/null && return; sleep 0.1; done
}
start_broker

python3 - "$OUT/user/flows.json" "$BPORT" <<'PY'
import json, sys
path, port = sys.argv[1], sys.argv[2]
def mout(nid, topic):
    return {"id": nid, "type": "mqtt out", "z": "t1", "name": "", "topic": topic, "qos": "1",
            "retain": "false", "broker": "b1", "x": 500, "y": 100, "wires": []}
flows = [{"id": "t1", "type": "tab", "label": "soak"},
    {"id": "b1", "type": "mqtt-broker", "name": "", "broker": "127.0.0.1", "port": port,
     "clientid": "soak-edgeflow", "autoConnect": True, "usetls": False, "protocolVersion": "4",
     "keepalive": "20", "cleansession": False, "autoUnsubscribe": False, "birthTopic": "", "closeTopic": "", "willTopic": ""},
    {"id": "in", "type": "mqtt in", "z": "t1", "name": "", "topic": "soak/in", "qos": "1",
     "datatype": "utf8", "broker": "b1", "nl": False, "rap": True, "rh": 0, "inputs": 0,
     "x": 100, "y": 100, "wires": [["json"]]},
    {"id": "json", "type": "json", "z": "t1", "name": "", "property": "payload", "action": "",
     "pretty": False, "x": 200, "y": 100, "wires": [["chg"]]},
    {"id": "chg", "type": "change", "z": "t1", "name": "", "x": 300, "y": 100, "wires": [["sw"]],
     "rules": [{"t": "set", "p": "payload.scaled", "pt": "msg", "to": "payload.value * 1.8 + 32",
                "tot": "jsonata"}]},
    {"id": "sw", "type": "switch", "z": "t1", "name": "", "property": "payload.value",
     "propertyType": "msg", "rules": [{"t": "gte", "v": "50", "vt": "num"}, {"t": "else"}],
     "checkall": "false", "repair": False, "outputs": 2, "x": 400, "y": 100,
     "wires": [["hi"], ["lo"]]},
    mout("hi", "soak/out/hi"), mout("lo", "soak/out/lo")]
json.dump(flows, open(path, "w"))
PY

RUNNER=()
if [ "$VALGRIND" = 1 ]; then
    RUNNER=(valgrind --leak-check=full --show-leak-kinds=definite,indirect
            --errors-for-leak-kinds=definite,indirect --error-exitcode=9 --log-file="$OUT/valgrind.log")
fi
"${RUNNER[@]}" "$EF" run "$OUT/user/flows.json" --user-dir "$OUT/user" --port "$APORT" >"$OUT/edgeflow.log" 2>&1 &
EFPID=$!
PIDS+=("$EFPID")
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$APORT/settings" >/dev/null && break; sleep 0.1; done
sleep 1

"$OUT/soakgen" -p "$BPORT" -r "$RATE" -d "$SOAK_SECONDS" -q 10 >"$OUT/soakgen.log" 2>&1 &
GEN=$!
PIDS+=("$GEN")

deploy() { # $1: nodes | full; the change node's constant alternates so the node really changes
    python3 - "$APORT" "$1" "$2" <<'PY'
import json, sys, urllib.request
port, kind, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
base = "http://127.0.0.1:%s" % port
got = json.load(urllib.request.urlopen(urllib.request.Request(base + "/flows",
                headers={"Node-RED-API-Version": "v2"})))
for node in got["flows"]:
    if node["id"] == "chg":
        node["rules"][0]["to"] = "payload.value * 1.8 + %d" % (32 + n % 2)
body = json.dumps({"rev": got["rev"], "flows": got["flows"]}).encode()
req = urllib.request.Request(base + "/flows", data=body, method="POST", headers={
    "Content-Type": "application/json", "Node-RED-API-Version": "v2",
    "Node-RED-Deployment-Type": kind})
urllib.request.urlopen(req).read()
PY
}

echo "t_s,rss_kib" >"$OUT/rss.csv"
t=0 deploys=0 restarts=0
while kill -0 "$GEN" 2>/dev/null; do
    sleep 10
    t=$((t + 10))
    echo "$t,$(awk '/^VmRSS/{print $2}' /proc/$EFPID/status)" >>"$OUT/rss.csv"
    if [ "$t" -lt "$SOAK_SECONDS" ] && [ $((t % DEPLOY_EVERY)) -eq 0 ]; then
        deploys=$((deploys + 1))
        deploy "$([ $((deploys % 2)) = 1 ] && echo nodes || echo flows)" "$deploys" ||
            echo "deploy $deploys failed" >>"$OUT/soak-errors.log"
    fi
    if [ "$t" -lt "$SOAK_SECONDS" ] && [ $((t % RESTART_EVERY)) -eq 0 ]; then
        restarts=$((restarts + 1))
        kill -TERM "$MOSQ"; wait "$MOSQ" 2>/dev/null || true
        sleep 2
        start_broker
    fi
done
gen_status=0
wait "$GEN" || gen_status=$?
kill -TERM "$EFPID"
ef_status=0
wait "$EFPID" || ef_status=$?

python3 - "$OUT" "$deploys" "$restarts" "$gen_status" "$ef_status" "$VALGRIND" <<'PY'
import json, sys, re, os
out, deploys, restarts, gen_status, ef_status, vg = sys.argv[1], *map(int, sys.argv[2:])
rows = [tuple(map(float, l.split(","))) for l in open(out + "/rss.csv").read().split()[1:] if "," in l and l.split(",")[1]]
tail = rows[len(rows) // 10:] or rows
n = len(tail)
slope = 0.0
if n > 1:
    mx = sum(r[0] for r in tail) / n; my = sum(r[1] for r in tail) / n
    sxx = sum((r[0] - mx) ** 2 for r in tail)
    slope = sum((r[0] - mx) * (r[1] - my) for r in tail) / sxx * 3600 if sxx else 0.0
summary = [json.loads(l) for l in open(out + "/soakgen.log") if l.startswith("{")]
final = next((s for s in summary if s["kind"] == "summary"), {})
log = open(out + "/edgeflow.log", errors="replace").read()
errors = [l for l in log.splitlines() if "[error]" in l]
res = {"seconds": rows[-1][0] if rows else 0, "rss_first_kib": rows[0][1] if rows else None,
       "rss_last_kib": rows[-1][1] if rows else None, "rss_max_kib": max((r[1] for r in rows), default=None),
       "rss_slope_kib_per_hour": round(slope, 1), "deploys": deploys, "broker_restarts": restarts,
       "sent": final.get("sent"), "missing": final.get("missing"), "duplicates": final.get("dups"),
       "error_lines": len(errors), "first_errors": errors[:5], "edgeflow_exit": ef_status}
if vg:
    v = open(out + "/valgrind.log", errors="replace").read()
    m = re.search(r"ERROR SUMMARY: (\d+) errors", v)
    res["valgrind_errors"] = int(m.group(1)) if m else None
    res["valgrind_definitely_lost"] = (re.search(r"definitely lost: ([\d,]+) bytes", v) or [None, "0"])[1]
json.dump(res, open(out + "/summary.json", "w"), indent=1)
print(json.dumps(res, indent=1))
ok = final.get("missing") == 0 and not errors and ef_status == 0
sys.exit(0 if ok else 1)
PY
