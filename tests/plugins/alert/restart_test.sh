#!/usr/bin/env bash
# restart_test.sh EDGEFLOW - alert state survives a restart. Runs the real
# binary with a `file` context store (settings contextStorage) three times:
#   run 1 raises a threshold alert for s1 and s2 and a missing-data alert for m1,
#         then stops on SIGTERM (which flushes the context to disk);
#   run 2 sends s1 a value still above the limit (no second raise), then one
#         below it (resolved, with run 1's raisedAt), s2 a value inside the
#         hysteresis band (nothing), and m1 data (its missing alert resolves);
#   run 3 sends s2 a low value: it resolves, so it stayed active through run 2;
#         m1, silent since run 2, gets its missing-data alert at once;
#   run 4 starts from a hand-damaged state file.
set -u
EF=$1
T=$(mktemp -d /tmp/ef-alert-restart.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; [ -z "${KEEP:-}" ] && rm -rf "$T"' EXIT
fails=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi; }

cat >"$T/settings.json" <<'JSON'
{"contextStorage": {"default": {"module": "memory"}, "file": {"module": "localfilesystem"}}}
JSON

# flow INJECTS: the alert nodes plus the given inject nodes (JSON objects, comma-separated).
flow() {
    cat <<JSON
[{"id":"t1","type":"tab","label":"alerts"},
 {"id":"al","type":"alert","z":"t1","condition":"threshold","raise":80,"resolve":70,"store":"file","wires":[["out"],["out"],["out"]]},
 {"id":"am","type":"alert","z":"t1","condition":"missing","missing":2,"store":"file","wires":[["out"],["out"],["out"]]},
 {"id":"out","type":"debug","z":"t1","complete":"payload","wires":[]},
 {"id":"done","type":"debug","z":"t1","complete":"payload","wires":[]},
 $1]
JSON
}

inj() { # inj ID DELAY_S TARGET TOPIC PAYLOAD
    printf '{"id":"%s","type":"inject","z":"t1","props":[{"p":"payload"},{"p":"topic","vt":"str"}],"once":true,"onceDelay":%s,"topic":"%s","payload":"%s","payloadType":"num","wires":[["%s"]]}' \
        "$1" "$2" "$4" "$5" "$3"
}

# run N: starts edgeflow on $T/flowN.json, waits until debug node "done" printed, stops it.
# Keep "done" well before any deadline the run must not reach (m1's 2 s of silence): a slow
# (ASan, loaded) machine may take a few hundred ms from "done" to the stop.
run() {
    "$EF" run "$T/flow$1.json" --settings "$T/settings.json" --user-dir "$T" --port 0 \
        --debug-stdout >"$T/run$1.out" 2>"$T/run$1.err" &
    pid=$!
    for _ in $(seq 100); do grep -q '"id":"done"' "$T/run$1.out" && break; sleep 0.1; done
    kill -TERM "$pid"
    wait "$pid"
    local rc=$?
    pid=
    check "run $1 stops cleanly on SIGTERM" "[ $rc -eq 0 ]"
}

# events N COND OUT: for each payload v of debug node "out" in run N for which the Python
# expression COND holds, prints the Python expression OUT.
events() {
    python3 -c '
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    v = d["value"]
    if d["id"] == "out" and eval(sys.argv[2]):
        print(eval(sys.argv[3]))' "$T/run$1.out" "$2" "$3"
}
j() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))'"$2"')' "$1"; }

flow "$(inj i1 0.1 al s1 90),$(inj i2 0.2 al s2 95),$(inj i3 0.1 am m1 1),$(inj i9 3.0 done x 0)" >"$T/flow1.json"
run 1
check "run 1 raises s1, s2 and m1" \
    "[ \"\$(events 1 True 'v[\"event\"] + \" \" + v[\"key\"]' | sort | tr '\n' ,)\" = 'raise m1,raise s1,raise s2,' ]"
check "state written to the file store" "[ \"\$(j '$T/context/t1/al.json' '[\"alerts\"][\"s1\"][\"alert\"][\"active\"]')\" = True ]"
raised_s1=$(events 1 'v["key"] == "s1"' 'v["raisedAt"]')
raised_m1=$(events 1 'v["key"] == "m1"' 'v["raisedAt"]')

flow "$(inj i4 0.1 al s1 92),$(inj i5 0.3 al s1 60),$(inj i6 0.4 al s2 75),$(inj i7 0.2 am m1 1),$(inj i9 0.6 done x 0)" >"$T/flow2.json"
run 2
check "run 2 raises nothing again" "[ -z \"\$(events 2 'v[\"event\"] == \"raise\"' v)\" ]"
check "run 2 resolves s1 with run 1's raisedAt" \
    "[ \"\$(events 2 'v[\"key\"] == \"s1\"' '(v[\"event\"], v[\"raisedAt\"], v[\"value\"])')\" = \"('resolve', $raised_s1, 60)\" ]"
check "run 2 resolves m1 on data, raisedAt from run 1" \
    "[ \"\$(events 2 'v[\"key\"] == \"m1\"' '(v[\"event\"], v[\"reason\"], v[\"raisedAt\"])')\" = \"('resolve', 'data', $raised_m1)\" ]"
check "run 2 sends nothing for s2 (inside the band)" "[ -z \"\$(events 2 'v[\"key\"] == \"s2\"' v)\" ]"

flow "$(inj i8 0.1 al s2 50),$(inj i9 0.5 done x 0)" >"$T/flow3.json"
run 3
check "run 3 resolves s2, still active after two restarts" \
    "[ \"\$(events 3 'v[\"node\"] == \"al\"' '(v[\"event\"], v[\"key\"], v[\"count\"])')\" = \"('resolve', 's2', 1)\" ]"
check "run 3 raises m1's missing data at once (silent since run 2)" \
    "[ \"\$(events 3 'v[\"node\"] == \"am\"' '(v[\"event\"], v[\"key\"])')\" = \"('raise', 'm1')\" ]"
# A hand-damaged state file: wrong types everywhere are tolerated, an entry that is not an
# object is dropped, the active alert in it still resolves.
cat >"$T/context/t1/al.json" <<'JSON'
{"alerts": {"x": 5, "s9": {"condition": "threshold", "seen": "x", "samples": "bad",
 "alert": {"active": true, "count": "many", "value": {"a": 1}, "dedupKey": 7}, "missing": []}}}
JSON
flow "$(inj i8 0.1 al s9 50),$(inj i9 0.5 done x 0)" >"$T/flow4.json"
run 4
check "run 4 resolves the alert from a damaged file" \
    "[ \"\$(events 4 'v[\"node\"] == \"al\"' '(v[\"event\"], v[\"key\"], v[\"dedupKey\"])')\" = \"('resolve', 's9', 'al:threshold:s9')\" ]"
check "run 4 warns about the dropped entry" "grep -q 'dropped the saved state of 1 source' '$T/run4.err'"

check "no errors logged" "! grep -qi 'error' '$T'/run?.err"

echo "alert restart: $fails failed"
[ "$fails" -eq 0 ]
