# Writes the source of the Node-RED comparison cases (nr_*.json); their
# "expect" is then filled in by make-lua-case.js from Node-RED itself.
import json, os
D = os.path.join(os.path.dirname(__file__), "cases")

def tab(): return {"id": "t1", "type": "tab", "label": "T"}
def inject(id, payload, ptype="json", wires=None, topic=None, delay=0):
    n = {"id": id, "type": "inject", "z": "t1", "props": [{"p": "payload"}], "payload": payload,
         "payloadType": ptype, "repeat": "", "once": True, "onceDelay": delay, "x": 1, "y": 1,
         "wires": [wires or []]}
    if topic is not None:
        n["props"].append({"p": "topic", "vt": "str"}); n["topic"] = topic
    return n
def lua(id, func, outputs=1, wires=None, **kw):
    n = {"id": id, "type": "lua", "z": "t1", "func": func, "outputs": outputs,
         "timeout": 0, "noerr": 0, "initialize": "", "finalize": "", "libs": [], "x": 1, "y": 1,
         "wires": wires or [[] for _ in range(outputs)]}
    n.update(kw); return n
def debug(id, full=True):
    return {"id": id, "type": "debug", "z": "t1", "active": True, "tosidebar": True,
            "console": False, "tostatus": False, "complete": "true" if full else "payload",
            "targetType": "full" if full else "msg", "x": 1, "y": 1, "wires": []}

def write(name, desc, flow, js, run_ms=500, **extra):
    path = os.path.join(D, name + ".json")
    old = json.load(open(path)) if os.path.exists(path) else {}
    tc = {"description": desc, "run_ms": run_ms}
    tc.update(extra)
    tc["flow"] = flow
    tc["nr_js"] = js
    tc["expect"] = old.get("expect", [])
    json.dump(tc, open(path, "w"), indent=1); open(path, "a").write("\n")

write("nr_return", "return a changed msg, a new msg, nil; integers and floats; strings",
  [tab(), inject("i1", '{"v":5,"w":2.5,"s":"ab"}', wires=["l1", "l2", "l3"]),
   lua("l1", "msg.payload.r = msg.payload.v * 3 + 1\nmsg.payload.q = msg.payload.w * 2\n"
             "msg.payload.d = msg.payload.v / 2\nmsg.payload.t = msg.payload.s .. tostring(msg.payload.v)\n"
             "msg.payload.n = #msg.payload.s\nmsg.topic = 'calc'\nreturn msg", wires=[["d1"]]),
   lua("l2", "return { payload = { fresh = true, list = {1, 2, 3}, nested = { a = { b = 'c' } } } }",
       wires=[["d1"]]),
   lua("l3", "if msg.payload.v > 1 then return nil end\nreturn msg", wires=[["d1"]]),
   debug("d1")],
  {"l1": {"func": "msg.payload.r = msg.payload.v * 3 + 1\nmsg.payload.q = msg.payload.w * 2\n"
                  "msg.payload.d = msg.payload.v / 2\nmsg.payload.t = msg.payload.s + String(msg.payload.v)\n"
                  "msg.payload.n = msg.payload.s.length\nmsg.topic = 'calc'\nreturn msg;"},
   "l2": {"func": "return { payload: { fresh: true, list: [1, 2, 3], nested: { a: { b: 'c' } } } };"},
   "l3": {"func": "if (msg.payload.v > 1) { return null; }\nreturn msg;"}},
  unordered=True)

write("nr_outputs", "several outputs: a message, nil and an array of messages per output",
  [tab(), inject("i1", "7", ptype="num", wires=["l1"]),
   lua("l1", "local m2 = { payload = msg.payload + 1 }\nlocal m3 = { payload = msg.payload + 2 }\n"
             "return { msg, nil, { m2, m3 } }", outputs=3, wires=[["d1"], ["d2"], ["d3"]]),
   debug("d1"), debug("d2"), debug("d3")],
  {"l1": {"func": "var m2 = { payload: msg.payload + 1 };\nvar m3 = { payload: msg.payload + 2 };\n"
                  "return [msg, null, [m2, m3]];"}})

write("nr_send_async", "node.send from a timer, node.done reaching a complete node",
  [tab(), inject("i1", "1", ptype="num", wires=["l1"], delay=0.1),
   lua("l1", "setTimeout(function()\n  node.send({ payload = 'later', topic = 't' })\n  msg.payload = 'done'\n  node.done()\nend, 20)\nreturn nil", wires=[["d1"]]),
   {"id": "c1", "type": "complete", "z": "t1", "scope": ["l1"], "uncaught": False, "x": 1, "y": 1, "wires": [["d2"]]},
   debug("d1"), debug("d2")],
  {"l1": {"func": "setTimeout(function() {\n  node.send({ payload: 'later', topic: 't' });\n  msg.payload = 'done';\n  node.done();\n}, 20);\nreturn null;"}}, any_keys=[])

write("nr_context", "context, flow and global get/set/keys across messages; On Start sets context",
  [tab(), inject("i1", "0", ptype="num", wires=["s1"]),
   lua("s1", "return { { { payload = 1 }, { payload = 2 }, { payload = 3 } } }", wires=[["l1"]]),
   lua("l1", "local c = (context.get('count') or 0) + 1\ncontext.set('count', c)\n"
             "flow.set('f', c * 10)\nglobal.set('g', { a = c })\ncontext.set({'x', 'y'}, {c, c + 1})\n"
             "msg.payload = { c = c, f = flow.get('f'), g = global.get('g'), base = context.get('base'),\n"
             "  xy = context.get({'x', 'y'}), keys = context.keys(), fkeys = flow.keys(), viaflow = context.flow.get('f') }\nreturn msg",
       initialize="context.set('base', 100)", wires=[["d1"]]),
   debug("d1")],
  {"s1": {"func": "return [[{ payload: 1 }, { payload: 2 }, { payload: 3 }]];"},
   "l1": {"func": "var c = (context.get('count') || 0) + 1;\ncontext.set('count', c);\n"
                  "flow.set('f', c * 10);\nglobal.set('g', { a: c });\ncontext.set(['x', 'y'], [c, c + 1]);\n"
                  "msg.payload = { c: c, f: flow.get('f'), g: global.get('g'), base: context.get('base'),\n"
                  "  xy: context.get(['x', 'y']), keys: context.keys(), fkeys: flow.keys(), viaflow: context.flow.get('f') };\nreturn msg;",
          "initialize": "context.set('base', 100);"}})

write("nr_status_error", "node.status reaching a status node, node.error(text, msg) reaching a catch node, node.warn",
  [tab(), inject("i1", '"x"', wires=["l1"]),
   lua("l1", "node.status({ fill = 'red', shape = 'ring', text = 'seen ' .. msg.payload })\n"
             "node.warn('a warning')\nnode.error('bad input', msg)\nreturn nil", wires=[["d1"]]),
   {"id": "c1", "type": "catch", "z": "t1", "scope": None, "uncaught": False, "x": 1, "y": 1, "wires": [["d2"]]},
   {"id": "st1", "type": "status", "z": "t1", "scope": None, "x": 1, "y": 1, "wires": [["d3"]]},
   debug("d1"), debug("d2"), debug("d3")],
  {"l1": {"func": "node.status({ fill: 'red', shape: 'ring', text: 'seen ' + msg.payload });\n"
                  "node.warn('a warning');\nnode.error('bad input', msg);\nreturn null;"}},
  unordered=True)

write("nr_env", "env.get: flow env, process env, NR_NODE_ID, missing",
  [{"id": "t1", "type": "tab", "label": "T", "env": [{"name": "TABVAR", "value": "tv", "type": "str"}]},
   inject("i1", "0", ptype="num", wires=["l1"]),
   lua("l1", "msg.payload = { tab = env.get('TABVAR'), proc = env.get('LUA_TEST_VAR'), id = env.get('NR_NODE_ID'), none = env.get('NOPE_NOT_SET') }\nreturn msg",
       wires=[["d1"]]),
   debug("d1")],
  {"l1": {"func": "msg.payload = { tab: env.get('TABVAR'), proc: env.get('LUA_TEST_VAR'), id: env.get('NR_NODE_ID'), none: env.get('NOPE_NOT_SET') };\nreturn msg;"}},
  env={"LUA_TEST_VAR": "from-process"})

write("nr_node_send", "node.send with one message, with an array per output, several messages on one output, then return",
  [tab(), inject("i1", "1", ptype="num", wires=["l1"]),
   lua("l1", "node.send({ payload = 'a' })\nnode.send({ { payload = 'b1' }, { payload = 'b2' } })\n"
             "node.send({ { { payload = 'c1' }, { payload = 'c2' } }, nil })\n"
             "msg.payload = 'ret'\nreturn { nil, msg }", outputs=2, wires=[["d1"], ["d2"]]),
   debug("d1"), debug("d2")],
  {"l1": {"func": "node.send({ payload: 'a' });\nnode.send([{ payload: 'b1' }, { payload: 'b2' }]);\n"
                  "node.send([[{ payload: 'c1' }, { payload: 'c2' }], null]);\n"
                  "msg.payload = 'ret';\nreturn [null, msg];"}})

write("nr_node_props", "node.id, node.name, node.outputCount",
  [tab(), inject("i1", "1", ptype="num", wires=["l1"]),
   lua("l1", "msg.payload = { id = node.id, name = node.name, outputs = node.outputCount }\nreturn msg",
       name="named", outputs=2, wires=[["d1"], []]),
   debug("d1")],
  {"l1": {"func": "msg.payload = { id: node.id, name: node.name, outputs: node.outputCount };\nreturn msg;"}})
