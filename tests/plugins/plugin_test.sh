#!/usr/bin/env bash
# plugin_test.sh EDGEFLOW SODIR - loads the test plugins in SODIR: the good one
# registers and runs; a wrong ABI version, a failing init (its registration
# undone), a missing symbol, a too-new type and a type name clash (the whole
# plugin refused) are refused with clear logs,
# and none of them stops the runtime.
set -u
EF=$1
SO=$2
T=$(mktemp -d /tmp/ef-plugins.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi; }

"$EF" nodes --json --plugin-dir "$SO" >"$T/nodes.json" 2>"$T/nodes.err"
check "nodes exits 0 with bad plugins present" "[ $? -eq 0 ]"
check "good plugin type listed" "grep -q '\"test-upper\"' '$T/nodes.json'"
check "type from newer-ABI struct refused" "! grep -q '\"test-future\"' '$T/nodes.json'"
check "valid type of same plugin kept" "grep -q '\"test-present\"' '$T/nodes.json'"
check "failed init's registration undone" "! grep -q 'test-half-registered' '$T/nodes.json'"
check "bad version logged" "grep -q 'bad_version_plugin.so: no common ABI version' '$T/nodes.err'"
check "failing init logged" "grep -q 'failing_init_plugin.so: init failed' '$T/nodes.err'"
check "missing symbol logged" "grep -q 'missing_symbol_plugin.so: missing symbol ef_plugin_init' '$T/nodes.err'"
check "newer type logged" "grep -q 'type test-future has ABI version 2' '$T/nodes.err'"
check "name clash logged" "grep -q 'name_clash_plugin.so: node type inject is already registered' '$T/nodes.err'"
check "name clash refuses the plugin" "grep -q 'name_clash_plugin.so: init failed: ' '$T/nodes.err'"
check "clashing plugin's other type undone" "! grep -q 'test-clash-companion' '$T/nodes.json'"
check "built-in keeps the clashed name" "[ \"\$(grep -c '\"type\": \"inject\"' '$T/nodes.json')\" -eq 1 ]"

cat >"$T/flow.json" <<'FLOW'
[{"id":"t1","type":"tab","label":"T"},
 {"id":"i1","type":"inject","z":"t1","props":[{"p":"payload"}],"payload":"hello","payloadType":"str","repeat":"0.05","once":true,"onceDelay":0,"x":1,"y":1,"wires":[["u1"]]},
 {"id":"u1","type":"test-upper","z":"t1","x":1,"y":1,"wires":[["d1"]]},
 {"id":"d1","type":"debug","z":"t1","complete":"true","targetType":"full","x":1,"y":1,"wires":[]}]
FLOW
"$EF" run "$T/flow.json" --plugin-dir "$SO" --debug-stdout --user-dir "$T" --port 0 >"$T/run.out" 2>"$T/run.err" &
pid=$!
for _ in $(seq 50); do [ "$(wc -l <"$T/run.out")" -ge 2 ] && break; sleep 0.1; done
kill -TERM $pid
wait $pid
check "run with plugin exits 0" "[ $? -eq 0 ]"
check "plugin node transforms" "head -1 '$T/run.out' | grep -q '\"payload\":\"HELLO\"'"
check "plugin node keeps context" "sed -n 2p '$T/run.out' | grep -q '\"count\":2'"
"$EF" check "$T/flow.json" >/dev/null 2>"$T/check.err"
check "without the plugin the type is unknown" "grep -q \"unknown node type 'test-upper'\" '$T/check.err'"
echo "plugins: $fails failed"
[ "$fails" -eq 0 ]
