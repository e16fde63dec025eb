#!/usr/bin/env bash
# bench/route_to_cloud.sh - route-to-cloud's durable queue, end to end.
#
# 1. accepted messages/s: a `lua` node wired to itself sends N small
#    messages ({seq, temp, site}) into a route-to-cloud node whose HTTP
#    destination is down, so every message is routed, serialised and appended
#    to the on-disk queue (nothing is delivered). A status request before and
#    after (msg.control = "status", answered in order with the data) gives
#    accepted/(time). Run with fsync every 100 ms and with fsync per message.
# 2. drain rate: the destination (bench/rtc_sink.py, Python's http.server)
#    comes up with the N messages queued; records/s from the first request
#    until the last record arrived (batchCount 1000, no gzip).
#
#   bench/route_to_cloud.sh [N] [N_FSYNC_ALWAYS]     (defaults 1000000, 2000)
#
# Needs a built edgeflow with its plugins (build/ or $EDGEFLOW). Reports;
# never fails on numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
EF=$(realpath "${EDGEFLOW:-build/edgeflow}")
N=${1:-1000000}
N_ALWAYS=${2:-2000}
T=$(mktemp -d /tmp/ef-bench-rtc.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$T"' EXIT
[ -x "$EF" ] || { echo "bench/route_to_cloud.sh: $EF not built (make build)" >&2; exit 1; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

flow() { # N FSYNC -> flow file
    cat >"$T/flow-$2.json" <<FLOW
[{"id":"t1","type":"tab","label":"bench"},
 {"id":"i1","type":"inject","z":"t1","props":[{"p":"payload"}],"payload":"{\"v\":0}","payloadType":"json","repeat":"","once":true,"onceDelay":0.2,"wires":[["gen"]]},
 {"id":"gen","type":"lua","z":"t1","outputs":2,"wires":[["rtc"],["gen"]],
  "initialize":"N = $1",
  "func":"local v = msg.payload.v\nif v == 0 then return {{control='status'}, {payload={v=1}}} end\nif v > N then return {{control='status'}} end\nreturn {{payload={seq=v, temp=21.5, site='plant-1'}}, {payload={v=v+1}}}"},
 {"id":"rtc","type":"route-to-cloud","z":"t1","cloudType":"http","cloudUrl":"http://127.0.0.1:$PORT/ingest",
  "fsync":"$2","batchCount":1000,"batchMs":50,"backoffMs":50,"backoffMaxMs":100,"maxBytes":1073741824,
  "wires":[[],["st"]]},
 {"id":"st","type":"debug","z":"t1","active":true,"tosidebar":true,"complete":"payload","wires":[]}]
FLOW
}

stop_ef() { # FSYNC
    local pid
    pid=$(cat "$T/pid-$1")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}

# Runs the accept phase; leaves edgeflow running (pid in $T/pid-FSYNC).
# Prints "rate accepted seconds cpu_rate cpu_seconds": wall-clock rate, and
# accepted messages per CPU-second of the edgeflow process (the generator
# included), which is what the node costs when other work shares the cores.
accept() { # N FSYNC
    flow "$1" "$2"
    rm -rf "$T/ud-$2"
    mkdir -p "$T/ud-$2"
    "$EF" run "$T/flow-$2.json" --user-dir "$T/ud-$2" --port 0 --debug-stdout >"$T/out-$2" 2>"$T/err-$2" &
    local pid=$! c0=0 c1=0
    echo $pid >"$T/pid-$2"
    for _ in $(seq 3000); do [ "$(grep -c '"id":"st"' "$T/out-$2" || true)" -ge 1 ] && break; sleep 0.02; done
    c0=$(awk '{ print $14 + $15 }' /proc/$pid/stat)
    for _ in $(seq 18000); do [ "$(grep -c '"id":"st"' "$T/out-$2" || true)" -ge 2 ] && break; sleep 0.02; done
    c1=$(awk '{ print $14 + $15 }' /proc/$pid/stat)
    python3 - "$T/out-$2" "$c0" "$c1" "$(getconf CLK_TCK)" <<'PY'
import json, sys
st = [json.loads(l)["value"] for l in open(sys.argv[1]) if '"id":"st"' in l]
a, b = st[0], st[1]
n = b["cloud"]["accepted"] - a["cloud"]["accepted"]
secs = (b["time"] - a["time"]) / 1000
cpu = max(int(sys.argv[3]) - int(sys.argv[2]), 1) / int(sys.argv[4])
print("%.0f %d %.3f %.0f %.2f" % (n / secs, n, secs, n / cpu, cpu))
PY
}

echo "== accepted messages/s, fsync every 100 ms: $N messages"
read -r rate n secs crate cpu < <(accept "$N" interval)
echo "  $n accepted in $secs s: $rate msgs/s wall clock; $cpu s CPU: $crate msgs per CPU-second (target >= 100000)"
du -sh "$T/ud-interval/route-to-cloud" | awk '{ print "  queue on disk: " $1 }'

echo "== drain after the outage: $n queued messages, batchCount 1000"
python3 bench/rtc_sink.py "$PORT" "$n" >"$T/sink.out" &
SINK=$!
wait $SINK || true
read -r _ recs dsecs order < <(grep DRAINED "$T/sink.out")
echo "  $recs records delivered in $dsecs s: $(awk -v n="$recs" -v s="$dsecs" 'BEGIN { printf "%.0f", n / s }') records/s ($order)"
stop_ef interval

echo "== accepted messages/s, fsync per message: $N_ALWAYS messages"
read -r rate n secs crate cpu < <(accept "$N_ALWAYS" always)
echo "  $n accepted in $secs s: $rate msgs/s wall clock; $cpu s CPU: $crate msgs per CPU-second"
stop_ef always
