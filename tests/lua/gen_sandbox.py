# Writes the edgeflow-only Lua cases (sandbox limits and escapes, message
# conversion, stores, On Start/On Stop). Their "expect" is edgeflow's own
# documented behaviour (docs/plugins.md), not Node-RED's: run once, check by
# hand, keep. Re-running this script overwrites them.
import json, os
D = os.path.join(os.path.dirname(__file__), "cases")
from gen_cases import tab, inject, lua, debug

def catch(id="c1", wires="d2"):
    return {"id": id, "type": "catch", "z": "t1", "scope": None, "uncaught": False, "x": 1, "y": 1,
            "wires": [[wires]]}

def err(payload, message, node="l1"):
    return {"id": "d2", "value": {"payload": payload, "_msgid": "<any>",
            "error": {"message": message, "source": {"id": node, "type": "lua", "count": 1}}}}

ALIVE = {"id": "d1", "value": {"payload": "still alive", "_msgid": "<any>"}}

def sandbox(name, desc, body, message, run_ms=20000, **kw):
    func = "if msg.payload == 'ok' then msg.payload = 'still alive' return msg end\n" + body
    flow = [tab(), inject("i1", '"bad"', wires=["l1"]), inject("i2", '"ok"', wires=["l1"], delay=0.05),
            lua("l1", func, wires=[["d1"]], **kw), catch(), debug("d1"), debug("d2")]
    tc = {"description": desc, "run_ms": run_ms, "unordered": True, "flow": flow,
          "expect": [err("bad", message), ALIVE]}
    json.dump(tc, open(os.path.join(D, name + ".json"), "w"), indent=1)
    open(os.path.join(D, name + ".json"), "a").write("\n")

def case(name, tc):
    json.dump(tc, open(os.path.join(D, name + ".json"), "w"), indent=1)
    open(os.path.join(D, name + ".json"), "a").write("\n")

LIMIT = "Lua instruction limit exceeded (%d per call)"
MEM = "Lua memory limit exceeded (8388608 bytes)"
sandbox("sb_infinite_loop", "an infinite loop is stopped by the default instruction budget",
        "while true do end", LIMIT % 100000000)
sandbox("sb_alloc_bomb", "a growing table ends in the memory limit; the state stays usable",
        "local t = {}\nfor i = 1, 1e9 do t[i] = i end", MEM)
sandbox("sb_huge_string", "string.rep and doubling concatenation end in the memory limit",
        "local ok = pcall(string.rep, 'x', 1e9)\nlocal s = 'x'\nwhile true do s = s .. s end", MEM)
sandbox("sb_pcall_killed_loop", "pcall/xpcall cannot swallow the budget error (DEPS.md hole 1)",
        "while true do\n  pcall(pcall, pcall, function() while true do end end)\n"
        "  xpcall(function() while true do end end, function(e) return e end)\nend",
        LIMIT % 5000000, maxInstructions=5000000)
sandbox("sb_pattern", "a pathological pattern is charged to the budget (DEPS.md hole 2)",
        "local s = string.rep('a', 3000)\nreturn { payload = s:find('.-.-.-b') }",
        LIMIT % 10000000, maxInstructions=10000000)
sandbox("sb_plain_find", "a quadratic plain find is charged to the budget",
        "local s = string.rep('a', 2000000)\nreturn { payload = s:find(string.rep('a', 1000000) .. 'b', 1, true) }",
        LIMIT % 10000000, maxInstructions=10000000)
sandbox("sb_gsub_pattern", "gsub and gmatch with a pathological pattern are bounded too",
        "local s = string.rep('a', 3000)\nfor m in s:gmatch('.-.-.-b') do end\nreturn { payload = s:gsub('.-.-.-b', '') }",
        LIMIT % 10000000, maxInstructions=10000000)
sandbox("sb_table_move", "table.move over a huge empty range is charged to the budget",
        "table.move({}, 1, 1e15, 2)", LIMIT % 100000000)
sandbox("sb_deep_recursion", "unbounded recursion ends in a stack overflow or the memory limit",
        "local function f(n) return 1 + f(n + 1) end\nreturn { payload = f(1) }", MEM)
sandbox("sb_timeout", "the node's timeout (seconds) stops a call on the wall clock",
        "while true do end", "Script execution timed out after 200ms",
        timeout=0.2, maxInstructions=1e15)
sandbox("sb_gc_metamethod", "__gc finalizers are refused (they would run outside the limits)",
        "setmetatable({}, { __gc = function() while true do end end })",
        "body:2: __gc metamethods are not allowed in the sandbox")
sandbox("sb_load_absent", "load is not in the sandbox: no way to run bytecode or new chunks",
        "return load('return 1')", "body:2: attempt to call a nil value (global 'load')")
sandbox("sb_runtime_error", "a script error goes to the catch node with Lua's message",
        "local t = nil\nreturn t.x", "body:3: attempt to index a nil value (local 't')")

case("sb_globals", {"description": "io, os.execute, require, load, debug, package, dofile... are absent",
  "run_ms": 2000,
  "flow": [tab(), inject("i1", '"x"', wires=["l1"]),
     lua("l1", "local names = { 'io', 'require', 'load', 'loadfile', 'dofile', 'debug', 'package', 'collectgarbage', 'loadstring', 'module', 'coroutine' }\n"
               "local p = {}\nfor _, n in ipairs(names) do p[n] = type(_G[n]) end\n"
               "p.os_execute = type(os.execute)\np.os_exit = type(os.exit)\np.os_getenv = type(os.getenv)\np.os_remove = type(os.remove)\n"
               "p.string_dump = type(string.dump)\np.strmeta_dump = type(getmetatable('').__index.dump)\n"
               "p.os_time = type(os.time)\np.pcall = type(pcall)\np.string_find = type(string.find)\nmsg.payload = p\nreturn msg", wires=[["d1"]]),
     debug("d1")],
  "expect": [{"id": "d1", "value": {"payload": {"io": "nil", "require": "nil", "load": "nil", "loadfile": "nil", "dofile": "nil",
      "debug": "nil", "package": "nil", "collectgarbage": "nil", "loadstring": "nil", "module": "nil", "coroutine": "nil",
      "os_execute": "nil", "os_exit": "nil", "os_getenv": "nil", "os_remove": "nil", "string_dump": "nil", "strmeta_dump": "nil",
      "os_time": "function", "pcall": "function", "string_find": "function"}, "_msgid": "<any>"}}]})

case("sb_bytecode", {"description": "a binary (bytecode) chunk is refused when the flow is built",
  "flow": [tab(), lua("l1", "\u001bLuaT\u0000\u0019\u0093\r\n\u001a\n", wires=[[]])],
  "expect_problems": ["attempt to load a binary chunk (mode is 't')"]})

case("sb_syntax_error", {"description": "a body that does not compile refuses the flow with Lua's message",
  "flow": [tab(), lua("l1", "return msg +", wires=[[]])],
  "expect_problems": ["node l1 (type lua", "body:1: unexpected symbol near <eof>"]})

case("lua_conversion", {"description": "message conversion both ways: null, integers and floats, empty object vs array, holes, Buffers, JSON",
  "run_ms": 2000, "unordered": True,
  "flow": [tab(),
     inject("i1", '{"i":3,"f":1.5,"big":1e300,"n":null,"arr":[],"obj":{},"nested":[[1],[{}],[null]],"s":"x"}', wires=["l1"]),
     inject("i2", "[1,2,3]", ptype="bin", wires=["l2"], delay=0.05),
     lua("l1", "local p = msg.payload\n"
               "p.itype = math.type(p.i)\np.ftype = math.type(p.f)\np.istr = tostring(p.i)\np.isnull = p.n == null\n"
               "p.newarr = array()\np.newobj = {}\np.holes = { 1, nil, 3 }\np.sparse = { [1] = 'a', [100] = 'b' }\n"
               "p.idiv = 7 // 2\np.fdiv = 7 / 2\np.two53 = 2^53\np.mixed = { 1, 2, x = 3 }\np.numkeys = { [1.5] = 'a', [true] = 'b' }\n"
               "p.buf = Buffer.from('hi')\np.hex = Buffer.from('6869', 'hex'):tostring()\np.b64 = Buffer.from('hi'):tostring('base64')\n"
               "p.unb64 = Buffer.from('aGk=', 'base64'):tostring()\np.json = JSON.stringify({ a = { 1, 2 } })\np.parsed = JSON.parse('{\"x\":[1,2],\"y\":null}')\n"
               "p.fn = function() end\np.arrfn = { 1, function() end, 3 }\nreturn msg", wires=[["d1"]]),
     lua("l2", "local b = msg.payload\nb[0] = 9\nmsg.len = #b\nmsg.first = b[0]\nmsg.isbuf = Buffer.isBuffer(b)\nmsg.slice = b:slice(1)\nreturn msg", wires=[["d1"]]),
     debug("d1")],
  "expect": [
    {"id": "d1", "value": {"payload": {"i": 3, "f": 1.5, "big": 1e300, "n": None, "arr": [], "obj": {}, "nested": [[1], [{}], [None]], "s": "x",
       "itype": "integer", "ftype": "float", "istr": "3", "isnull": True, "newarr": [], "newobj": {}, "holes": [1, None, 3],
       "sparse": {"1": "a", "100": "b"}, "idiv": 3, "fdiv": 3.5, "two53": 9007199254740992, "mixed": {"1": 1, "2": 2, "x": 3},
       "numkeys": {"1.5": "a", "true": "b"}, "buf": {"type": "Buffer", "data": [104, 105]}, "hex": "hi", "b64": "aGk=", "unb64": "hi",
       "json": "{\"a\":[1,2]}", "parsed": {"x": [1, 2], "y": None}, "arrfn": [1, None, 3]}, "_msgid": "<any>"}},
    {"id": "d1", "value": {"payload": {"type": "Buffer", "data": [9, 2, 3]}, "_msgid": "<any>", "len": 3, "first": 9, "isbuf": True,
       "slice": {"type": "Buffer", "data": [2, 3]}}}]})

case("lua_stores", {"description": "context stores by name and with #:(store)::key",
  "run_ms": 2000,
  "settings": {"contextStorage": {"default": {"module": "memory"}, "other": {"module": "memory"}}},
  "flow": [tab(), inject("i1", '"x"', wires=["l1"]),
     lua("l1", "context.set('k', 1, 'other')\nflow.set('#:(other)::fk', 2)\nglobal.set('gk', 3, 'other')\n"
               "msg.payload = { def = context.get('k'), other = context.get('k', 'other'), fk = flow.get('fk', 'other'),\n"
               "  fk2 = flow.get('#:(other)::fk'), gk = global.get('gk', 'other'), keys = context.keys('other') }\n"
               "context.get('k', 'other', function(err, v) msg.payload.cb = v end)\nreturn msg", wires=[["d1"]]),
     debug("d1")],
  "expect": [{"id": "d1", "value": {"payload": {"other": 1, "fk": 2, "fk2": 2, "gk": 3, "keys": ["k"], "cb": 1}, "_msgid": "<any>"}}]})

case("lua_start_stop", {"description": "On Start can send (edgeflow runs it once the flows have started); On Stop runs at close; a failing On Start drops messages",
  "run_ms": 2000,
  "flow": [tab(), inject("i1", '"m"', wires=["l1", "l2"], delay=0.05),
     lua("l1", "msg.payload = msg.payload .. context.get('x')\nreturn msg", initialize="context.set('x', '!')\nnode.send({ payload = 'started' })",
         finalize="node.warn('stopping ' .. context.get('x'))\nnode.send({ payload = 'refused' })", wires=[["d1"]]),
     lua("l2", "return msg", initialize="error('nope')", wires=[["d1"]]),
     debug("d1")],
  "expect": [{"id": "d1", "value": {"payload": "started", "_msgid": "<any>"}},
             {"id": "d1", "value": {"payload": "m!", "_msgid": "<any>"}}],
  "expect_log": ["stopping !", "Cannot send from close function", "setup:1: nope"]})

case("lua_non_message", {"description": "returning something that is not a message is an error, as in Node-RED",
  "run_ms": 1000,
  "flow": [tab(), inject("i1", '"m"', wires=["l1"]), lua("l1", "return 'text'", wires=[["d1"]]), debug("d1")],
  "expect": [], "expect_log": ["Function tried to send a message of type string"]})

case("lua_timers", {"description": "setInterval/clearInterval and a setTimeout cleared before it fires",
  "run_ms": 3000,
  "flow": [tab(), inject("i1", '"m"', wires=["l1"]),
     lua("l1", "local n = 0\nlocal id\nid = setInterval(function()\n  n = n + 1\n  node.send({ payload = n })\n  if n == 3 then clearInterval(id) end\nend, 10)\n"
               "local t = setTimeout(function() node.send({ payload = 'never' }) end, 50)\nclearTimeout(t)\nreturn nil", wires=[["d1"]]),
     debug("d1", full=False)],
  "expect": [{"id": "d1", "value": 1}, {"id": "d1", "value": 2}, {"id": "d1", "value": 3}]})

case("examples_lua_types", {"description": "the example Lua node types end to end: properties with defaults, two outputs, status, context, errors to catch, close",
  "run_ms": 2000, "unordered": True,
  "flow": [tab(), inject("i1", "0", ptype="num", wires=["s1"]),
     lua("s1", "return { { { payload = 5 }, { payload = 15 }, { payload = 20 }, { payload = 'x' } } }", wires=[["th", "ma"]]),
     {"id": "th", "type": "example-threshold", "z": "t1", "limit": "12", "x": 1, "y": 1, "wires": [["d1"], ["d2"]]},
     {"id": "ma", "type": "example-moving-average", "z": "t1", "window": 2, "x": 1, "y": 1, "wires": [["d3"]]},
     {"id": "c1", "type": "catch", "z": "t1", "scope": ["th"], "uncaught": False, "x": 1, "y": 1, "wires": [["d4"]]},
     {"id": "st", "type": "status", "z": "t1", "scope": ["th"], "x": 1, "y": 1, "wires": [["d5"]]},
     debug("d1", full=False), debug("d2", full=False), debug("d3", full=False), debug("d4", full=False),
     {"id": "d5", "type": "debug", "z": "t1", "active": True, "tosidebar": True, "complete": "status.text", "targetType": "msg", "x": 1, "y": 1, "wires": []}],
  "expect": [{"id": "d2", "value": 5}, {"id": "d1", "value": 15}, {"id": "d1", "value": 20},
             {"id": "d3", "value": 5}, {"id": "d3", "value": 10}, {"id": "d3", "value": 17.5},
             {"id": "d4", "value": "x"}, {"id": "d5", "value": "above: 0"}, {"id": "d5", "value": "above: 1"}, {"id": "d5", "value": "above: 2"}],
  "expect_log": ["moving average closed with 2 values", "moving_average.lua:38: attempt to add"]})

case("examples_lua_type_required", {"description": "a Lua type's required property is enforced by the runtime from the generated table",
  "flow": [tab(), {"id": "th", "type": "example-threshold", "z": "t1", "x": 1, "y": 1, "wires": [[], []]}],
  "expect_problems": ["limit"]})

case("examples_c_ticker", {"description": "the example C plugin: properties, a timer, an output, status",
  "run_ms": 3000,
  "flow": [tab(), {"id": "tk", "type": "example-ticker", "z": "t1", "interval": 0.02, "topic": "t", "limit": 3, "x": 1, "y": 1, "wires": [["d1"]]},
     debug("d1")],
  "expect": [{"id": "d1", "value": {"topic": "t", "payload": 1, "_msgid": "<any>"}},
             {"id": "d1", "value": {"topic": "t", "payload": 2, "_msgid": "<any>"}},
             {"id": "d1", "value": {"topic": "t", "payload": 3, "_msgid": "<any>"}}]})
