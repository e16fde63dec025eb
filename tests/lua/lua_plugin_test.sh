#!/usr/bin/env bash
# lua_plugin_test.sh EDGEFLOW - the Lua plugin through the edgeflow binary:
# lua.so is loaded by default from <build>/plugins; Lua node type files in
# a plugin directory (--plugin-dir or settings pluginDirs) register their
# types; files that clash with an existing type, do not compile, are
# bytecode, loop forever at load or declare nothing are refused with a clear
# message, one by one, and the runtime keeps going.
set -u
EF=$1
T=$(mktemp -d /tmp/ef-lua.XXXXXX)
trap '[ "${KEEP:-}" ] || rm -rf "$T"' EXIT
fails=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi; }

mkdir "$T/types"
cat >"$T/types/good.lua" <<'LUA'
return { name = "test-lua-good", outputs = 1,
  properties = { { name = "factor", type = "number", default = 2 } },
  input = function(node, msg) msg.payload = msg.payload * node.config.factor return msg end }
LUA
echo 'return { name = "debug", input = function(node, msg) return msg end }' >"$T/types/clash.lua"
echo 'return { name = "test-lua-good", input = function(node, msg) return msg end }' >"$T/types/zdup.lua"
echo 'return { name = "test-lua-broken", input = function(node, msg) return msg' >"$T/types/broken.lua"
printf '\033LuaT\000\031\223\r\n\032\n' >"$T/types/bytecode.lua"
echo 'while true do end' >"$T/types/loop.lua"
echo 'return 42' >"$T/types/nodecl.lua"
echo 'return { name = "test-lua-noinput" }' >"$T/types/noinput.lua"

"$EF" nodes --json >"$T/default.json" 2>"$T/default.err"
check "lua type available without flags" "grep -q '\"type\": \"lua\"' '$T/default.json'"

"$EF" nodes --json --plugin-dir "$T/types" >"$T/nodes.json" 2>"$T/nodes.err"
check "nodes exits 0 with bad Lua type files" "[ $? -eq 0 ]"
check "good Lua type listed" "grep -q '\"type\": \"test-lua-good\"' '$T/nodes.json'"
check "its property is in the table" "grep -q '\"name\": \"factor\"' '$T/nodes.json'"
check "clash with a built-in refused" "grep -q 'clash.lua: type debug refused: already exists' '$T/nodes.err'"
check "clash with another Lua type refused" "grep -q 'zdup.lua: type test-lua-good refused: already exists' '$T/nodes.err'"
check "syntax error names the file" "grep -q 'broken.lua: broken.lua:2:' '$T/nodes.err'"
check "bytecode refused" "grep -q \"bytecode.lua: .*attempt to load a binary chunk (mode is 't')\" '$T/nodes.err'"
check "endless load stopped" "grep -q 'loop.lua: Lua instruction limit exceeded' '$T/nodes.err'"
check "no declaration refused" "grep -q 'nodecl.lua: the file must return a table' '$T/nodes.err'"
check "missing input handler refused" "grep -q 'noinput.lua: a node type with an input needs' '$T/nodes.err'"
check "built-in debug untouched" "[ \"\$(grep -c '\"type\": \"debug\"' '$T/nodes.json')\" -eq 1 ]"

cat >"$T/flow.json" <<'FLOW'
[{"id":"t1","type":"tab","label":"T"},
 {"id":"i1","type":"inject","z":"t1","props":[{"p":"payload"}],"payload":"21","payloadType":"num","repeat":"","once":true,"onceDelay":0,"x":1,"y":1,"wires":[["l1"]]},
 {"id":"l1","type":"lua","z":"t1","func":"msg.payload = msg.payload * 3 + 1\nreturn msg","outputs":1,"x":1,"y":1,"wires":[["g1"]]},
 {"id":"g1","type":"test-lua-good","z":"t1","x":1,"y":1,"wires":[["d1"]]},
 {"id":"d1","type":"debug","z":"t1","complete":"payload","x":1,"y":1,"wires":[]}]
FLOW
echo "{\"pluginDirs\": [\"$T/types\"]}" >"$T/settings.json"
"$EF" check "$T/flow.json" --settings "$T/settings.json" >"$T/check.out" 2>&1
check "settings pluginDirs load Lua types" "grep -q 'valid' '$T/check.out'"
"$EF" run "$T/flow.json" --settings "$T/settings.json" --user-dir "$T" --port 0 --debug-stdout \
    >"$T/run.out" 2>"$T/run.err" &
pid=$!
for _ in $(seq 50); do [ -s "$T/run.out" ] && break; sleep 0.1; done
kill -TERM $pid
wait $pid
check "run exits 0" "[ $? -eq 0 ]"
check "lua node and Lua type run" "grep -q '\"value\":128' '$T/run.out'"
echo "lua plugin: $fails failed"
[ "$fails" -eq 0 ]
