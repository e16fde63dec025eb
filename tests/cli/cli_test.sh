#!/usr/bin/env bash
# cli_test.sh EDGEFLOW - checks the command line: exit codes and messages of
# check/run/nodes/version, refusal of malformed and hostile flow files, and
# the graceful stop on SIGTERM. Prints one line per check; exits non-zero if
# any failed.
set -u
EF=$1
T=$(mktemp -d /tmp/ef-cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }

# expect_rc NAME RC STDERR_SUBSTRING -- command...
expect_rc() {
    local name=$1 want=$2 needle=$3
    shift 4
    "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ "$rc" -ne "$want" ]; then
        fail "$name: exit $rc, expected $want"; sed 's/^/     /' "$T/err" | head -5; return
    fi
    if [ -n "$needle" ] && ! grep -qF -- "$needle" "$T/err" "$T/out"; then
        fail "$name: output lacks '$needle'"; sed 's/^/     /' "$T/err" | head -5; return
    fi
    pass "$name"
}

echo '[{"id":"t1","type":"tab","label":"T"},{"id":"d1","type":"debug","z":"t1","wires":[]}]' >"$T/ok.json"
expect_rc "check valid" 0 "" -- "$EF" check "$T/ok.json"
grep -q "valid" "$T/out" && pass "check prints valid" || fail "check prints valid"

echo '[{"id":"t1","type":"tab"},{"id":"d1","type":"debug","z":"t1","compleet":"true","wires":[]}]' >"$T/typo.json"
expect_rc "check warns about unknown property" 0 "node d1 (type debug, flow t1): unknown property 'compleet' ignored" -- "$EF" check "$T/typo.json"
expect_rc "check unreadable" 2 "No such file" -- "$EF" check "$T/missing.json"
printf '[{"id":"a",' >"$T/trunc.json"
expect_rc "check truncated JSON" 1 "position 11" -- "$EF" check "$T/trunc.json"
printf '[{"id":"a"}}]' >"$T/bad.json"
expect_rc "check bad JSON names position" 1 "position" -- "$EF" check "$T/bad.json"
printf '' >"$T/empty.json"
expect_rc "check empty file" 1 "invalid JSON" -- "$EF" check "$T/empty.json"

echo '[{"id":"t1","type":"tab"},{"id":"x","type":"nope","z":"t1","wires":[["y"]]},{"id":"d","type":"debug","z":"t1","wires":[["zz"]]}]' >"$T/multi.json"
expect_rc "check reports every problem" 1 "unknown node type 'nope'" -- "$EF" check "$T/multi.json"
grep -q "2 problems" "$T/err" && pass "check counts problems" || fail "check counts problems"

# Hostile nesting: 100000 nested arrays inside a property.
node -e 'process.stdout.write("[{\"id\":\"t\",\"type\":\"tab\"},{\"id\":\"c\",\"type\":\"comment\",\"z\":\"t\",\"info\":" + "[".repeat(100000) + "]".repeat(100000) + "}]")' >"$T/deep.json"
expect_rc "deep nesting refused" 1 "nesting" -- "$EF" check "$T/deep.json"

# Hostile size: 100000 comment nodes with long names load quickly and validly.
node -e 'const a=[{id:"t",type:"tab"}]; for(let i=0;i<100000;i++) a.push({id:"c"+i,type:"comment",z:"t",name:"x".repeat(100),x:1,y:1,wires:[]}); process.stdout.write(JSON.stringify(a))' >"$T/big.json"
start=$(date +%s%N)
expect_rc "100k nodes valid" 0 "" -- "$EF" check "$T/big.json"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "     (100k-node check took ${ms} ms)"

# A huge id and a binary file.
node -e 'process.stdout.write(JSON.stringify([{id:"x".repeat(1000000),type:"comment"}]))' >"$T/longid.json"
expect_rc "million-char id refused" 1 "id longer than 200" -- "$EF" check "$T/longid.json"
head -c 4096 /dev/urandom >"$T/random.bin"
expect_rc "binary file refused" 1 "invalid JSON" -- "$EF" check "$T/random.bin"

expect_rc "usage on no args" 2 "usage" -- "$EF"
expect_rc "unknown command" 2 "unknown command" -- "$EF" frobnicate
expect_rc "unknown option" 2 "unknown option" -- "$EF" run "$T/ok.json" --frob
expect_rc "bad port" 2 "not a port number" -- "$EF" run "$T/ok.json" --port 99999
expect_rc "bad settings file" 2 "settings file" -- "$EF" run "$T/ok.json" --settings "$T/missing-settings.json"
echo '{"uiPort": ' >"$T/badsettings.json"
expect_rc "settings with bad JSON" 2 "settings file" -- "$EF" run "$T/ok.json" --settings "$T/badsettings.json"
expect_rc "version" 0 "edgeflow" -- "$EF" version
expect_rc "nodes" 0 "debug" -- "$EF" nodes
expect_rc "nodes --json" 0 "\"type\": \"inject\"" -- "$EF" nodes --json
expect_rc "run refuses invalid flow" 1 "not started" -- "$EF" run "$T/multi.json"

# run: --debug-stdout lines, then SIGTERM stops it with exit 0.
cat >"$T/run.json" <<'FLOW'
[{"id":"t1","type":"tab","label":"T"},
 {"id":"i1","type":"inject","z":"t1","props":[{"p":"payload"}],"payload":"{\"a\":[1,0.5,\"x\"]}","payloadType":"json","once":true,"onceDelay":0,"repeat":"","x":1,"y":1,"wires":[["d1"]]},
 {"id":"d1","type":"debug","z":"t1","complete":"false","x":1,"y":1,"wires":[]}]
FLOW
"$EF" run "$T/run.json" --debug-stdout --user-dir "$T" --port 0 >"$T/run.out" 2>"$T/run.err" &
pid=$!
for _ in $(seq 50); do [ -s "$T/run.out" ] && break; sleep 0.1; done
kill -TERM $pid
wait $pid
rc=$?
[ "$rc" -eq 0 ] && pass "SIGTERM exits 0" || { fail "SIGTERM exits 0 (got $rc)"; cat "$T/run.err"; }
if [ "$(cat "$T/run.out")" = '{"id":"d1","value":{"a":[1,0.5,"x"]}}' ]; then
    pass "--debug-stdout line"
else
    fail "--debug-stdout line: $(cat "$T/run.out")"
fi
grep -q "stopped" "$T/run.err" && pass "logs stop" || fail "logs stop"

echo "cli: $fails failed"
[ "$fails" -eq 0 ]
