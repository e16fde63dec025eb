#!/usr/bin/env bash
# webhook_test.sh EDGEFLOW - the alert node POSTs its events to a real local
# HTTP server (hook_server.py on a free 127.0.0.1 port): raise then resolve,
# in order even though the server holds the raise back, as JSON equal to the
# alert message's payload; a 500 answer and a refused connection are logged
# and counted in the node status.
set -u
EF=$1
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/ef-alert-hook.XXXXXX)
pid=
spid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; [ -n "$spid" ] && kill "$spid" 2>/dev/null; rm -rf "$T"' EXIT
fails=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi; }

python3 "$HERE/hook_server.py" "$T/port" "$T/hooks.jsonl" &
spid=$!
for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
port=$(cat "$T/port")
# a port nobody listens on: bind one, then let it go
closed=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cat >"$T/flow.json" <<JSON
[{"id":"t1","type":"tab","label":"hooks"},
 {"id":"ok","type":"alert","z":"t1","raise":80,"store":"","webhook":"http://127.0.0.1:$port/hook","wires":[["out"],["out"],[]]},
 {"id":"bad","type":"alert","z":"t1","raise":80,"store":"","webhook":"http://127.0.0.1:$port/fail","wires":[[],[],[]]},
 {"id":"off","type":"alert","z":"t1","raise":80,"store":"","webhook":"http://127.0.0.1:$closed/hook","wires":[[],[],[]]},
 {"id":"i1","type":"inject","z":"t1","props":[{"p":"payload"},{"p":"topic","vt":"str"}],"once":true,"onceDelay":0.1,"topic":"s1","payload":"90","payloadType":"num","wires":[["ok","bad","off"]]},
 {"id":"i2","type":"inject","z":"t1","props":[{"p":"payload"},{"p":"topic","vt":"str"}],"once":true,"onceDelay":0.15,"topic":"s1","payload":"10","payloadType":"num","wires":[["ok"]]},
 {"id":"i9","type":"inject","z":"t1","props":[{"p":"payload"}],"once":true,"onceDelay":2,"payload":"","payloadType":"str","wires":[["done"]]},
 {"id":"st","type":"status","z":"t1","scope":["bad","off"],"wires":[["status"]]},
 {"id":"out","type":"debug","z":"t1","complete":"payload","wires":[]},
 {"id":"status","type":"debug","z":"t1","complete":"status","wires":[]},
 {"id":"done","type":"debug","z":"t1","complete":"payload","wires":[]}]
JSON
"$EF" run "$T/flow.json" --user-dir "$T" --port 0 --debug-stdout >"$T/run.out" 2>"$T/run.err" &
pid=$!
for _ in $(seq 100); do grep -q '"id":"done"' "$T/run.out" && break; sleep 0.1; done
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
check "edgeflow stops cleanly" "[ $rc -eq 0 ]"

py() { python3 -c "import json, sys
hooks = [json.loads(l) for l in open('$T/hooks.jsonl')] if __import__('os').path.exists('$T/hooks.jsonl') else []
out = [json.loads(l) for l in open('$T/run.out')]
$1"; }
check "two posts to /hook: raise, then resolve" \
    "[ \"\$(py 'print([json.loads(h[\"body\"])[\"event\"] for h in hooks if h[\"path\"] == \"/hook\"])')\" = \"['raise', 'resolve']\" ]"
check "posted as application/json" \
    "[ \"\$(py 'print(set(h[\"contentType\"] for h in hooks))')\" = \"{'application/json'}\" ]"
check "posted bodies equal the alert messages' payloads" \
    "py 'sys.exit(0 if [json.loads(h[\"body\"]) for h in hooks if h[\"path\"] == \"/hook\"] == [o[\"value\"] for o in out if o[\"id\"] == \"out\"] else 1)'"
check "the 500 answer is logged" "grep -q 'webhook POST to http://127.0.0.1:$port/fail failed: HTTP 500' '$T/run.err'"
check "the refused connection is logged" "grep -q 'webhook POST to http://127.0.0.1:$closed/hook failed: ' '$T/run.err'"
check "failures are counted in the status" \
    "[ \"\$(grep -c 'active, most severe: major; webhook failures: 1' '$T/run.out')\" -eq 2 ]"

echo "alert webhook: $fails failed"
[ "$fails" -eq 0 ]
