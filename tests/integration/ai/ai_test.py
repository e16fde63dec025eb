#!/usr/bin/env python3
"""
ai_test.py - integration tests of the ai agent plugin (ai-model, ai agent,
ai tool, ai tool result): the real edgeflow binary runs a flow whose models
are scripted OpenAI-compatible servers (fake_openai.py) on free loopback
ports; each case checks what came out of the flow (debug and catch output,
the log) and what the agent sent to each model (messages, tools schema,
headers).

    ai_test.py EDGEFLOW_BINARY CASE      (CASE: see CASES below, or "all")

Exit status 0 when the case passes; what differed is printed otherwise.
"""
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "mqtt"))
from fake_openai import FakeModel  # noqa: E402
from mqttlib import Run, free_port  # noqa: E402

BIN = None
WORK = None


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def eq(got, want, what):
    if got != want:
        raise Fail("%s: got %s, want %s" % (what, json.dumps(got), json.dumps(want)))


# ---- flow building ----

def tab():
    return {"id": "t1", "type": "tab", "label": "ai"}


def model(mid, url, model_name="local-llm", name="", **kw):
    n = {"id": mid, "type": "ai-model", "name": name, "baseURL": url, "model": model_name,
         "timeout": 5}
    n.update(kw)
    return n


def agent(aid, model_id, wires, **kw):
    n = {"id": aid, "type": "ai agent", "z": "t1", "name": "", "model": model_id,
         "wires": [wires]}
    n.update(kw)
    return n


def tool(tid, name, params, wires, **kw):
    n = {"id": tid, "type": "ai tool", "z": "t1", "toolName": name,
         "description": "the %s tool" % name, "parameters": params, "wires": [wires]}
    n.update(kw)
    return n


def result(rid):
    return {"id": rid, "type": "ai tool result", "z": "t1", "wires": []}


def template(tid, text, wires):
    return {"id": tid, "type": "template", "z": "t1", "name": "", "field": "payload",
            "fieldType": "msg", "format": "handlebars", "syntax": "mustache", "template": text,
            "output": "str", "wires": [wires]}


def delay(did, ms, wires):
    return {"id": did, "type": "delay", "z": "t1", "pauseType": "delay", "timeout": str(ms),
            "timeoutUnits": "milliseconds", "rate": "1", "nbRateUnits": "1", "rateUnits": "second",
            "randomFirst": "1", "randomLast": "5", "randomUnits": "seconds", "drop": False,
            "allowrate": False, "outputs": 1, "wires": [wires]}


def inject(iid, wires, payload, delay_s=0.1, extra=None):
    props = [{"p": "payload"}]
    for k, v in (extra or {}).items():
        vt = "bool" if isinstance(v, bool) else "str"
        props.append({"p": k, "v": str(v).lower() if isinstance(v, bool) else v, "vt": vt})
    return {"id": iid, "type": "inject", "z": "t1", "props": props, "repeat": "", "crontab": "",
            "once": True, "onceDelay": delay_s, "topic": "", "payload": payload,
            "payloadType": "str", "wires": [wires]}


def debug(did):
    return {"id": did, "type": "debug", "z": "t1", "active": True, "tosidebar": True,
            "console": False, "tostatus": False, "complete": "true", "targetType": "full",
            "wires": []}


def catch(cid, wires):
    return {"id": cid, "type": "catch", "z": "t1", "scope": None, "uncaught": False,
            "wires": [wires]}


def switch(sid, cases):
    """Routes msg.payload == value to target, for each (value, target)."""
    return {"id": sid, "type": "switch", "z": "t1", "name": "", "property": "payload",
            "propertyType": "msg", "rules": [{"t": "eq", "v": v, "vt": "str"} for v, _ in cases],
            "checkall": "true", "repair": False, "outputs": len(cases),
            "wires": [[t] for _, t in cases]}


def then(cid, payload, wires, sets=None, drop=()):
    """A change node that turns an answer (or caught error) into the next question."""
    rules = [{"t": "set", "p": "payload", "pt": "msg", "to": payload, "tot": "str"}]
    for k, v in (sets or {}).items():
        rules.append({"t": "set", "p": k, "pt": "msg", "to": str(v).lower()
                      if isinstance(v, bool) else v, "tot": "bool" if isinstance(v, bool)
                      else "str"})
    for k in ["agent", "error"] + list(drop):
        rules.append({"t": "delete", "p": k, "pt": "msg"})
    return {"id": cid, "type": "change", "z": "t1", "name": "", "rules": rules,
            "wires": [wires]}


def creds(node, key):
    node["credentials"] = {"apiKey": key}
    return node


def reply(content, usage=None):
    e = {"message": {"role": "assistant", "content": content}}
    if usage:
        e["usage"] = usage
    return e


def calls(*tcs):
    return {"message": {"role": "assistant", "content": None, "tool_calls": [
        {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}
        for cid, name, args in tcs]}}


READINGS_SCHEMA = {"type": "object",
                   "properties": {"sensor": {"type": "string", "enum": ["pump1", "pump2"]},
                                  "minutes": {"type": "integer", "minimum": 1, "maximum": 60}},
                   "required": ["sensor"], "additionalProperties": False}
LOG_SCHEMA = {"type": "object", "properties": {"machine": {"type": "string", "minLength": 1}},
              "required": ["machine"]}


def start(flow, name="flow"):
    return Run(BIN, flow, WORK, name=name)


def outputs(run, did, count, timeout=8.0):
    run.wait_for(lambda lines: sum(1 for l in lines if l.get("id") == did) >= count, timeout)
    return run.values(did)


def tool_messages(body):
    return [m for m in body["messages"] if m["role"] == "tool"]


# ---- cases ----

def case_basic():
    """One question, no tools: request shape, headers, answer, usage, log line."""
    m = FakeModel([reply("Pump 1 is fine.", {"prompt_tokens": 21, "completion_tokens": 4,
                                             "total_tokens": 25})])
    flow = [tab(), creds(model("m1", m.base_url + "/", "llama3.2:3b", maxTokens=256,
                               temperature="0.2"), "sk-local"),
            inject("i1", ["a1"], "How is pump 1?", extra={"topic": "pumps & valves"}),
            agent("a1", "m1", ["d1"], systemPrompt="You watch the {{topic}} ({{{topic}}})."),
            debug("d1"),
            {"id": "st", "type": "status", "z": "t1", "scope": ["a1"], "wires": [["ds"]]},
            debug("ds")]
    run = start(flow)
    out = outputs(run, "d1", 1)
    time.sleep(0.1)
    statuses = [v["status"] for v in run.values("ds")]
    run.stop()
    m.stop()
    check(len(out) == 1, "no answer: %s" % run.log[-10:])
    msg = out[0]
    eq(msg["payload"], "Pump 1 is fine.", "payload")
    eq(msg["agent"]["model"], "llama3.2:3b", "agent.model")
    eq(msg["agent"]["fallback"], False, "agent.fallback")
    eq(msg["agent"]["iterations"], 1, "agent.iterations")
    eq(msg["agent"]["usage"], {"prompt_tokens": 21, "completion_tokens": 4, "total_tokens": 25},
       "agent.usage")
    eq([s["type"] for s in msg["agent"]["steps"]], ["model"], "steps")
    eq(len(m.requests), 1, "requests")
    req = m.requests[0]
    eq(req["path"], "/v1/chat/completions", "path")
    eq(req["headers"].get("authorization"), "Bearer sk-local", "authorization header")
    check(req["headers"].get("content-type", "").startswith("application/json"), "content type")
    body = req["body"]
    eq(body["model"], "llama3.2:3b", "model")
    eq(body["max_tokens"], 256, "max_tokens")
    eq(body["temperature"], 0.2, "temperature")
    check("tools" not in body, "tools sent without tools")
    # a prompt is not HTML: {{ }} does not escape (as {{{ }}})
    eq(body["messages"], [{"role": "system",
                           "content": "You watch the pumps & valves (pumps & valves)."},
                          {"role": "user", "content": "How is pump 1?"}], "messages")
    check(any("model llama3.2:3b: HTTP 200, 21 prompt + 4 completion = 25 tokens" in l
              for l in run.log), "no request log line: %s" % run.log[-10:])
    # the status counts the node's tokens: asking, then the total
    eq([(x.get("fill"), x.get("shape"), x.get("text")) for x in statuses],
       [("blue", "ring", "asking llama3.2:3b"), ("blue", "dot", "25 tokens, 1 request"),
        ("green", "dot", "25 tokens, 1 request")], "status")


def case_tools():
    """Two tool calls in one reply run in parallel; results go back in order."""
    m = FakeModel([
        calls(("call_a", "get_readings", '{"sensor":"pump1","minutes":10}'),
              ("call_b", "read_log", '{"machine":"pump1"}')),
        reply("Work order: replace the bearing of pump 1."),
    ])
    flow = [tab(), model("m1", m.base_url),
            inject("i1", ["a1"], "Vibration alert on pump1", extra={"sessionId": "s-1"}),
            agent("a1", "m1", ["d1"], tools=["tr", "tl"], systemPrompt="Plant assistant"),
            # get_readings answers slowly (after read_log): order must still follow the calls
            tool("tr", "get_readings", READINGS_SCHEMA, ["dl", "dtr"]),
            delay("dl", 300, ["fr"]),
            template("fr", '{"sensor":"{{payload.sensor}}","rms":[4.1,4.3,7.9]}', ["res"]),
            tool("tl", "read_log", LOG_SCHEMA, ["fl"]),
            template("fl", "{{payload.machine}}: bearing noise reported 2 days ago", ["res"]),
            result("res"), debug("d1"), debug("dtr")]
    run = start(flow)
    out = outputs(run, "d1", 1)
    trs = run.values("dtr")
    run.stop()
    m.stop()
    check(len(out) == 1, "no answer: %s" % run.log[-10:])
    eq(out[0]["payload"], "Work order: replace the bearing of pump 1.", "payload")
    eq(len(m.requests), 2, "requests")
    first, second = m.bodies()
    eq(first["tools"], [
        {"type": "function", "function": {"name": "get_readings",
                                          "description": "the get_readings tool",
                                          "parameters": READINGS_SCHEMA}},
        {"type": "function", "function": {"name": "read_log", "description": "the read_log tool",
                                          "parameters": LOG_SCHEMA}}], "tools schema")
    eq(second["tools"], first["tools"], "tools of the second request")
    msgs = second["messages"]
    eq([x["role"] for x in msgs], ["system", "user", "assistant", "tool", "tool"], "roles")
    eq([t["id"] for t in msgs[2]["tool_calls"]], ["call_a", "call_b"], "assistant tool_calls")
    eq(msgs[3], {"role": "tool", "content": '{"sensor":"pump1","rms":[4.1,4.3,7.9]}',
                 "tool_call_id": "call_a"}, "first tool message")
    eq(msgs[4], {"role": "tool", "content": "pump1: bearing noise reported 2 days ago",
                 "tool_call_id": "call_b"}, "second tool message")
    # what the flow saw for get_readings
    eq(len(trs), 1, "get_readings calls")
    eq(trs[0]["payload"], {"sensor": "pump1", "minutes": 10}, "tool arguments")
    tc = trs[0]["toolCall"]
    eq((tc["name"], tc["agent"], tc["callId"], tc["session"]),
       ("get_readings", "a1", "call_a", "s-1"), "msg.toolCall")
    steps = out[0]["agent"]["steps"]
    eq([s["type"] for s in steps], ["model", "tool", "tool", "model"], "step types")
    eq([s.get("name") for s in steps if s["type"] == "tool"], ["read_log", "get_readings"],
       "tool steps in completion order")
    eq(out[0]["agent"]["iterations"], 2, "iterations")
    eq(out[0]["agent"]["usage"]["total_tokens"], 30, "usage summed")


def case_invalid():
    """Malformed arguments, an unknown tool and a schema violation go back to the model."""
    m = FakeModel([
        calls(("c1", "get_readings", '{"sensor": "pump1",'),
              ("c2", "delete_everything", "{}"),
              ("c3", "get_readings", '{"sensor":"pump9","minutes":10}'),
              ("c4", "get_readings", '{"sensor":"pump1","minutes":0}'),
              ("c5", "get_readings", '{"sensor":"pump1","extra":1}'),
              ("c6", "read_log", '{}'),
              ("c7", "get_readings", '[1]'),
              ("", "nope", "{}")),
        reply("Sorry, I could not read the data."),
    ])
    flow = [tab(), model("m1", m.base_url), inject("i1", ["a1"], "check pump"),
            agent("a1", "m1", ["d1"], tools=["tr", "tl"]),
            tool("tr", "get_readings", READINGS_SCHEMA, ["dtr"]),
            tool("tl", "read_log", LOG_SCHEMA, ["dtr"]),
            debug("d1"), debug("dtr")]
    run = start(flow)
    out = outputs(run, "d1", 1)
    time.sleep(0.2)
    trs = run.values("dtr")
    run.stop()
    m.stop()
    check(len(out) == 1, "no answer: %s" % run.log[-10:])
    eq(trs, [], "the flow saw an invalid call")
    tm = tool_messages(m.bodies()[1])
    # a call without an id (some local servers) gets one, in the assistant message too
    eq([t["tool_call_id"] for t in tm], ["c1", "c2", "c3", "c4", "c5", "c6", "c7", "call_7"],
       "ids")
    eq([c["id"] for c in m.bodies()[1]["messages"][1]["tool_calls"]],
       ["c1", "c2", "c3", "c4", "c5", "c6", "c7", "call_7"], "assistant tool_calls ids")
    want = [
        "Error: the arguments are not valid JSON",
        "Error: unknown tool 'delete_everything'; the tools are: get_readings, read_log",
        "Error: invalid arguments for 'get_readings': arguments.sensor: must be one of "
        "\"pump1\", \"pump2\"",
        "Error: invalid arguments for 'get_readings': arguments.minutes: must be >= 1",
        "Error: invalid arguments for 'get_readings': arguments: unexpected property 'extra'",
        "Error: invalid arguments for 'read_log': arguments: missing required property 'machine'",
        "Error: the arguments must be a JSON object, got array",
    ]
    for t, w in zip(tm, want):
        check(t["content"].startswith(w), "tool message %s: %r does not start with %r"
              % (t["tool_call_id"], t["content"], w))
    errs = [s for s in out[0]["agent"]["steps"] if s["type"] == "tool"]
    check(len(errs) == 8 and all("error" in s for s in errs), "tool steps: %s" % errs)


def case_endless():
    """A model that never stops calling tools is stopped by maxIterations."""
    m = FakeModel([dict(calls(("c", "read_log", '{"machine":"m"}')), repeat=True)])
    flow = [tab(), model("m1", m.base_url), inject("i1", ["a1"], "loop"),
            agent("a1", "m1", ["d1"], tools=["tl"], maxIterations=3),
            tool("tl", "read_log", LOG_SCHEMA, ["fl"]), template("fl", "nothing new", ["res"]),
            result("res"), debug("d1"), catch("c1", ["dc"]), debug("dc")]
    run = start(flow)
    errs = outputs(run, "dc", 1)
    time.sleep(0.3)
    out = run.values("d1")
    run.stop()
    m.stop()
    eq(out, [], "answers")
    check(len(errs) == 1, "no error: %s" % run.log[-10:])
    eq(errs[0]["error"]["message"], "stopped after 3 iterations: the model still asks for tools",
       "error")
    eq(len(m.requests), 3, "requests")
    eq(errs[0]["agent"]["iterations"], 3, "agent.iterations on the error message")
    eq(len(tool_messages(m.bodies()[2])), 2, "tool messages in the last request")


def case_timeout_tool():
    """A tool whose flow never answers ends with an error the model sees."""
    m = FakeModel([calls(("c1", "read_log", '{"machine":"m"}')), reply("no log")])
    flow = [tab(), model("m1", m.base_url), inject("i1", ["a1"], "x"),
            agent("a1", "m1", ["d1"], tools=["tl"]),
            tool("tl", "read_log", LOG_SCHEMA, [], timeout=0.3), debug("d1")]
    run = start(flow)
    out = outputs(run, "d1", 1)
    run.stop()
    m.stop()
    check(len(out) == 1, "no answer: %s" % run.log[-10:])
    tm = tool_messages(m.bodies()[1])
    eq(tm, [{"role": "tool", "content": "Error: the tool 'read_log' did not answer within 0.3 s",
             "tool_call_id": "c1"}], "tool message")
    # the loop's cached clock may start the timer a little early under load
    lat = out[0]["agent"]["steps"][1]["latencyMs"]
    check(200 <= lat < 2000, "timeout latency %s ms" % lat)


def case_fallback_slow():
    """The local model is too slow: the run moves to the cloud model."""
    local = FakeModel([{"delay": 2.0, "message": {"content": "late"}}])
    cloud = FakeModel([reply("from the cloud")])
    flow = [tab(), model("ml", local.base_url, "phi3", name="local", timeout=0.5),
            creds(model("mc", cloud.base_url, "gpt-4o-mini", name="cloud"), "sk-cloud"),
            inject("i1", ["a1"], "q"), agent("a1", "ml", ["d1"], fallback="mc"), debug("d1")]
    run = start(flow)
    out = outputs(run, "d1", 1)
    run.stop()
    local.stop()
    cloud.stop()
    check(len(out) == 1, "no answer: %s" % run.log[-10:])
    eq(out[0]["payload"], "from the cloud", "payload")
    eq((out[0]["agent"]["model"], out[0]["agent"]["fallback"]), ("cloud", True), "model")
    eq(len(local.requests), 1, "local requests")
    eq(len(cloud.requests), 1, "cloud requests")
    eq(cloud.requests[0]["headers"].get("authorization"), "Bearer sk-cloud", "cloud key")
    eq(cloud.bodies()[0]["model"], "gpt-4o-mini", "cloud model name")
    eq(cloud.bodies()[0]["messages"], local.bodies()[0]["messages"], "same conversation")
    check("authorization" not in local.requests[0]["headers"], "local got a key")
    steps = out[0]["agent"]["steps"]
    check(450 <= steps[0]["latencyMs"] < 1500,
          "the timeout did not cut the slow request (%s ms)" % steps[0]["latencyMs"])
    eq([(s["model"], "error" in s) for s in steps], [("local", True), ("cloud", False)], "steps")
    check(any("model local failed" in l and "asking the fallback model cloud" in l
              for l in run.log), "no fallback warning: %s" % run.log[-10:])


def case_http500():
    """HTTP 500: an error on the catch path without fallback, the fallback with one."""
    bad = FakeModel([{"status": 500, "body": {"error": {"message": "model crashed"}},
                      "repeat": True}])
    cloud = FakeModel([reply("cloud answer")])
    # the cloud is Azure-style: the key in an api-key header
    flow = [tab(), model("ml", bad.base_url, name="local"),
            creds(model("mc", cloud.base_url, name="cloud", apiKeyHeader="api-key"), "az-key"),
            inject("i1", ["a1"], "q1"), agent("a1", "ml", ["d1"]),
            inject("i2", ["a2"], "q2", delay_s=0.3), agent("a2", "ml", ["d2"], fallback="mc"),
            debug("d1"), debug("d2"), catch("c1", ["dc"]), debug("dc")]
    run = start(flow)
    errs = outputs(run, "dc", 1)
    out2 = outputs(run, "d2", 1)
    run.stop()
    bad.stop()
    cloud.stop()
    check(len(errs) == 1, "no error: %s" % run.log[-10:])
    eq(errs[0]["error"]["message"], "model local failed: HTTP 500: model crashed", "error")
    eq(errs[0]["error"]["source"]["id"], "a1", "error source")
    eq(run.values("d1"), [], "answer without a model")
    check(len(out2) == 1, "no fallback answer")
    eq((out2[0]["payload"], out2[0]["agent"]["model"]), ("cloud answer", "cloud"), "fallback")
    eq(out2[0]["agent"]["steps"][0]["status"], 500, "status in the step")
    eq(cloud.requests[0]["headers"].get("api-key"), "az-key", "api-key header")
    check("authorization" not in cloud.requests[0]["headers"], "authorization with api-key")


def case_refused():
    """Nothing listens at the local model's port: error, or the fallback."""
    port = free_port()
    cloud = FakeModel([reply("cloud answer")])
    flow = [tab(), model("ml", "http://127.0.0.1:%d/v1" % port, name="local"),
            model("mc", cloud.base_url, name="cloud"),
            inject("i1", ["a1"], "q1"), agent("a1", "ml", ["d1"]),
            inject("i2", ["a2"], "q2", delay_s=0.3), agent("a2", "ml", ["d2"], fallback="mc"),
            debug("d1"), debug("d2"), catch("c1", ["dc"]), debug("dc")]
    run = start(flow)
    errs = outputs(run, "dc", 1)
    out2 = outputs(run, "d2", 1)
    run.stop()
    cloud.stop()
    check(len(errs) == 1, "no error: %s" % run.log[-10:])
    check(errs[0]["error"]["message"].startswith("model local failed: "),
          "error: %s" % errs[0]["error"])
    check(len(out2) == 1 and out2[0]["payload"] == "cloud answer", "no fallback answer")


def case_sensitive():
    """Sensitive messages (and sessions that had one) never reach the cloud model."""
    local = FakeModel([reply("local answer 1"),
                       {"status": 503, "body": {"error": {"message": "busy"}}, "repeat": True}])
    cloud = FakeModel([reply("cloud answer")])
    secret = "Operator badge 4711 reported the leak"
    # Each message starts when the one before has ended (so memory is written first):
    # 1: sensitive, local answers; 2: same session, not marked, local fails: the session holds
    # a sensitive turn, so no cloud; 3: sensitive, local fails; 4: another session, not
    # sensitive: cloud; 5: a localOnly node: never cloud
    flow = [tab(), model("ml", local.base_url, name="local"),
            model("mc", cloud.base_url, name="cloud"),
            inject("i1", ["a1"], secret, 0.1, {"sensitive": True, "sessionId": "s1"}),
            agent("a1", "ml", ["d1", "next"], fallback="mc"),
            agent("a2", "ml", ["d1"], fallback="mc", localOnly=True),
            debug("d1"), catch("c1", ["dc", "next"]), debug("dc"),
            switch("next", [("local answer 1", "m2"), ("and now?", "m3"),
                            (secret + " again", "m4"), ("cloud answer", "m5")]),
            then("m2", "and now?", ["a1"], drop=["sensitive"]),
            then("m3", secret + " again", ["a1"], sets={"sensitive": True},
                 drop=["sessionId"]),
            then("m4", "public question", ["a1"], sets={"sessionId": "s2"},
                 drop=["sensitive"]),
            then("m5", "local only question", ["a2"], drop=["sessionId"])]
    run = start(flow)
    errs = outputs(run, "dc", 3, timeout=10)
    out = run.values("d1")
    run.stop()
    local.stop()
    cloud.stop()
    eq([o["payload"] for o in out], ["local answer 1", "cloud answer"], "answers")
    eq(out[0]["agent"]["sensitive"], True, "agent.sensitive")
    eq([e["payload"] for e in errs], ["and now?", secret + " again", "local only question"],
       "failed messages")
    check(all("not asking the fallback model cloud" in e["error"]["message"] for e in errs),
          "errors: %s" % [e["error"]["message"] for e in errs])
    check("the node is local only" in errs[2]["error"]["message"], "local only reason")
    eq(len(cloud.requests), 1, "cloud requests")
    sent = json.dumps(cloud.bodies())
    check("4711" not in sent and "and now?" not in sent, "sensitive text reached the cloud")
    eq(cloud.bodies()[0]["messages"], [{"role": "user", "content": "public question"}],
       "cloud conversation")
    eq(len(local.requests), 5, "local requests")


def case_memory():
    """Sessions remember the last memoryTurns turns; other sessions do not see them."""
    m = FakeModel([reply("A1"), reply("A2"), reply("B1"), reply("A3")])
    # each question is asked when the answer before it has come
    flow = [tab(), model("m1", m.base_url),
            inject("i1", ["a1"], "Q1", 0.1, {"sessionId": "A"}),
            agent("a1", "m1", ["d1", "next"], memoryTurns=1, systemPrompt="S"), debug("d1"),
            switch("next", [("A1", "q2"), ("A2", "p1"), ("B1", "q3")]),
            then("q2", "Q2", ["a1"]), then("p1", "P1", ["a1"], sets={"sessionId": "B"}),
            then("q3", "Q3", ["a1"], sets={"sessionId": "A"})]
    run = start(flow)
    out = outputs(run, "d1", 4)
    run.stop()
    m.stop()
    eq([o["payload"] for o in out], ["A1", "A2", "B1", "A3"], "answers")
    b = m.bodies()

    def conv(body):
        return [(x["role"], x["content"]) for x in body["messages"]]
    eq(conv(b[0]), [("system", "S"), ("user", "Q1")], "first")
    eq(conv(b[1]), [("system", "S"), ("user", "Q1"), ("assistant", "A1"), ("user", "Q2")],
       "second (remembers one turn)")
    eq(conv(b[2]), [("system", "S"), ("user", "P1")], "other session")
    eq(conv(b[3]), [("system", "S"), ("user", "Q2"), ("assistant", "A2"), ("user", "Q3")],
       "window of one turn")


def case_bad_reply():
    """A 200 reply that is not a chat completion is a model failure, not a crash."""
    m = FakeModel([{"raw": "<html>proxy login</html>"}, {"body": {"choices": []}}])
    flow = [tab(), model("m1", m.base_url, name="local"),
            inject("i1", ["a1"], "q1"), inject("i2", ["a1"], "q2", 0.4),
            agent("a1", "m1", ["d1"]), debug("d1"), catch("c1", ["dc"]), debug("dc")]
    run = start(flow)
    errs = outputs(run, "dc", 2)
    run.stop()
    m.stop()
    eq(len(errs), 2, "errors")
    for e in errs:
        check(e["error"]["message"].startswith("model local failed: the reply has no "
                                               "choices[0].message"), "error: %s" % e["error"])


def case_config_errors():
    """Bad configuration is refused with messages naming the node and property."""
    flow = [tab(), model("m1", "ftp://x/v1"),
            agent("a1", "m1", [], maxIterations=0),
            tool("tb1", "bad name!", {"type": "object"}, []),
            tool("tb2", "ok", {"type": "object", "properties": {"a": {"type": "strin"}}}, [])]
    path = os.path.join(WORK, "bad.json")
    with open(path, "w") as f:
        json.dump(flow, f)
    import subprocess
    p = subprocess.run([BIN, "check", path], capture_output=True, text=True, timeout=20)
    text = p.stdout + p.stderr
    check(p.returncode != 0, "check accepted a bad flow")
    for want in ["baseURL must start with http:// or https://",
                 "maxIterations must be from 1 to 1000",
                 "toolName 'bad name!' must be 1 to 64 letters",
                 "parameters: properties.a.type: must be object, array, string"]:
        check(want in text, "missing %r in:\n%s" % (want, text))
    # tools that are missing or named twice are reported at start and left out
    m = FakeModel([reply("ok")])
    flow = [tab(), model("m1", m.base_url), inject("i1", ["a1"], "q", 0.3),
            agent("a1", "m1", ["d1"], tools=["nope", "tr", "tr2", "i1"]),
            tool("tr", "get_readings", READINGS_SCHEMA, []),
            tool("tr2", "get_readings", LOG_SCHEMA, []), debug("d1")]
    run = start(flow, "tools")
    out = outputs(run, "d1", 1)
    run.stop()
    m.stop()
    check(len(out) == 1, "no answer")
    for want in ["tools[0]: 'nope' is not a working ai tool node; left out",
                 "tools[2]: a tool named 'get_readings' is already listed; left out",
                 "tools[3]: 'i1' is not a working ai tool node"]:
        check(any(want in l for l in run.log), "missing %r in:\n%s" % (want, run.log))
    eq([t["function"]["parameters"] for t in m.bodies()[0]["tools"]], [READINGS_SCHEMA],
       "tools sent")


def case_tool_error():
    """msg.error on the result is a failed call; a result after the timeout is only a warning."""
    m = FakeModel([calls(("c1", "read_log", '{"machine":"m"}'),
                         ("c2", "get_readings", '{"sensor":"pump2"}')), reply("done")])
    flow = [tab(), model("m1", m.base_url), inject("i1", ["a1"], "x"),
            agent("a1", "m1", ["d1"], tools=["tl", "tr"]),
            tool("tl", "read_log", LOG_SCHEMA, ["ch"]),
            {"id": "ch", "type": "change", "z": "t1", "name": "", "wires": [["res"]],
             "rules": [{"t": "set", "p": "error", "pt": "msg", "to": "log server offline",
                        "tot": "str"}]},
            tool("tr", "get_readings", READINGS_SCHEMA, ["dl"], timeout=0.2),
            delay("dl", 600, ["res"]), result("res"), debug("d1")]
    run = start(flow)
    out = outputs(run, "d1", 1)
    late = run.wait_log("no ai agent is waiting for tool call a1-", timeout=3)
    run.stop()
    m.stop()
    check(len(out) == 1, "no answer: %s" % run.log[-10:])
    eq(tool_messages(m.bodies()[1]), [
        {"role": "tool", "content": "Error: log server offline", "tool_call_id": "c1"},
        {"role": "tool", "content": "Error: the tool 'get_readings' did not answer within 0.2 s",
         "tool_call_id": "c2"}], "tool messages")
    check(late, "no warning for the late result: %s" % run.log[-10:])


def case_shutdown():
    """Stopping edgeflow with a model request and a tool call in flight is clean."""
    slow = FakeModel([{"delay": 3.0, "message": {"content": "late"}}])
    m = FakeModel([calls(("c1", "read_log", '{"machine":"m"}'))])
    flow = [tab(), model("ms", slow.base_url), model("m1", m.base_url),
            inject("i1", ["a1", "a2"], "x"), agent("a1", "ms", ["d1"]),
            agent("a2", "m1", ["d1"], tools=["tl"]), tool("tl", "read_log", LOG_SCHEMA, ["dt"]),
            debug("d1"), debug("dt")]
    run = start(flow)
    check(outputs(run, "dt", 1), "the tool call did not leave: %s" % run.log[-10:])
    time.sleep(0.2)
    check(len(slow.requests) == 1, "no request to the slow model")
    run.stop()  # raises on a non-zero exit or sanitizer report
    slow.stop()
    m.stop()
    eq(run.values("d1"), [], "answers")


def case_example():
    """flows/ai-agent.json with its models pointed at scripted servers: both tools work."""
    root = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
    with open(os.path.join(root, "flows", "ai-agent.json")) as f:
        flow = json.load(f)
    local = FakeModel([calls(("r1", "get_recent_readings", '{"sensor":"pump1","count":3}'),
                             ("r2", "read_maintenance_log", '{"machine":"pump1"}')),
                       reply("WORK ORDER pump1: replace drive-end bearing (SKF 6309). High.")])
    cloud = FakeModel([])
    for n in flow:
        if n["id"] == "ai_local":
            n["baseURL"] = local.base_url
        elif n["id"] == "ai_cloud":
            n["baseURL"] = cloud.base_url
        elif n["id"] == "log_file":
            n["filename"] = os.path.join(root, n["filename"])
        elif n["id"] == "alert":
            n["onceDelay"] = 2.5
    run = start(flow)
    out = outputs(run, "order", 1, timeout=12)
    run.stop()
    local.stop()
    cloud.stop()
    check(len(out) == 1, "no work order: %s" % run.log[-10:])
    eq(out[0]["payload"], "WORK ORDER pump1: replace drive-end bearing (SKF 6309). High.",
       "work order")
    eq(len(cloud.requests), 0, "cloud requests")
    first, second = local.bodies()
    check("An alert arrived on alert/pump1." in first["messages"][0]["content"], "system prompt")
    eq(json.loads(first["messages"][1]["content"])["machine"], "pump1", "alert as user input")
    tm = tool_messages(second)
    readings = json.loads(tm[0]["content"])
    eq((readings["sensor"], readings["unit"]), ("pump1", "mm/s RMS"), "readings tool")
    check(1 <= len(readings["readings"]) <= 3 and all("rms" in r for r in readings["readings"]),
          "readings: %s" % readings)
    log = tm[1]["content"].split("\n")
    eq(len(log), 3, "log lines of pump1")
    check(all("pump1" in l for l in log), "log: %s" % log)


def case_concurrent():
    """Two messages in flight in one agent: each tool result goes back to its own run."""
    m = FakeModel([calls(("c1", "read_log", '{"machine":"A"}')),
                   calls(("c2", "read_log", '{"machine":"B"}')),
                   reply("R1"), reply("R2")])
    flow = [tab(), model("m1", m.base_url),
            inject("i1", ["a1"], "q1", 0.2), inject("i2", ["a1"], "q2", 0.2),
            agent("a1", "m1", ["d1"], tools=["tl"]),
            tool("tl", "read_log", LOG_SCHEMA, ["dl"]), delay("dl", 200, ["fl"]),
            template("fl", "log of {{payload.machine}}", ["res"]), result("res"), debug("d1")]
    run = start(flow)
    out = outputs(run, "d1", 2)
    run.stop()
    m.stop()
    eq(sorted(o["payload"] for o in out), ["R1", "R2"], "answers")
    eq(len(m.requests), 4, "requests")
    # Which question got which tool call depends on which request the server took first;
    # each run's second request must carry the result of its own call.
    asked = {}
    for r in m.requests:
        msgs = r["body"]["messages"]
        if len(msgs) == 1:
            args = r["entry"]["message"]["tool_calls"][0]["function"]["arguments"]
            asked[msgs[0]["content"]] = json.loads(args)["machine"]
    eq(sorted(asked), ["q1", "q2"], "first requests")
    check(sorted(asked.values()) == ["A", "B"], "tool calls: %s" % asked)
    seconds = [r["body"] for r in m.requests if len(r["body"]["messages"]) > 1]
    eq(len(seconds), 2, "second requests")
    for b in seconds:
        machine = asked[b["messages"][0]["content"]]
        call = b["messages"][1]["tool_calls"][0]
        eq(json.loads(call["function"]["arguments"])["machine"], machine, "assistant message")
        eq(b["messages"][2], {"role": "tool", "content": "log of " + machine,
                              "tool_call_id": call["id"]}, "tool result of " + call["id"])


def case_memory_sessions():
    """Past memorySessions, the session updated longest ago is forgotten."""
    m = FakeModel([reply(x) for x in ["a1", "b1", "c1", "a2", "c2"]])
    flow = [tab(), model("m1", m.base_url),
            inject("i1", ["a1"], "qa", 0.1, {"sessionId": "A"}),
            agent("a1", "m1", ["d1", "next"], memorySessions=2), debug("d1"),
            switch("next", [("a1", "qb"), ("b1", "qc"), ("c1", "qa2"), ("a2", "qc2")]),
            then("qb", "qb", ["a1"], sets={"sessionId": "B"}),
            then("qc", "qc", ["a1"], sets={"sessionId": "C"}),
            then("qa2", "qa2", ["a1"], sets={"sessionId": "A"}),
            then("qc2", "qc2", ["a1"], sets={"sessionId": "C"})]
    run = start(flow)
    out = outputs(run, "d1", 5)
    run.stop()
    m.stop()
    eq([o["payload"] for o in out], ["a1", "b1", "c1", "a2", "c2"], "answers")
    conv = [[x["content"] for x in b["messages"]] for b in m.bodies()]
    eq(conv[3], ["qa2"], "A was forgotten when C came")
    eq(conv[4], ["qc", "c1", "qc2"], "C is remembered")


def case_bounded():
    """maxConcurrent runs at once, maxQueued wait in order, and the rest are dropped with an error."""
    m = FakeModel([dict(reply("R1"), delay=0.4), dict(reply("R2"), delay=0.1)])
    flow = [tab(), model("m1", m.base_url),
            inject("i1", ["a1"], "q1", 0.2), inject("i2", ["a1"], "q2", 0.2),
            inject("i3", ["a1"], "q3", 0.2),
            agent("a1", "m1", ["d1"], maxConcurrent=1, maxQueued=1), debug("d1"),
            catch("c1", ["dc"]), debug("dc")]
    run = start(flow)
    out = outputs(run, "d1", 2)
    errs = outputs(run, "dc", 1)
    time.sleep(0.3)
    run.stop()
    m.stop()
    eq([o["payload"] for o in out], ["R1", "R2"], "answers in arrival order")
    eq(len(errs), 1, "dropped messages")
    eq(errs[0]["payload"], "q3", "the dropped message")
    check("maxQueued" in errs[0]["error"]["message"], "error text: %s" % errs[0]["error"])
    eq([r["body"]["messages"][-1]["content"] for r in m.requests], ["q1", "q2"], "requests")
    first, second = m.requests
    check(second["time"] >= first["time"] + 0.35,
          "the second request waited for the first run (%.3f s apart)"
          % (second["time"] - first["time"]))


CASES = {
    "basic": case_basic,
    "tools": case_tools,
    "invalid": case_invalid,
    "endless": case_endless,
    "timeout_tool": case_timeout_tool,
    "fallback_slow": case_fallback_slow,
    "http500": case_http500,
    "refused": case_refused,
    "sensitive": case_sensitive,
    "memory": case_memory,
    "bad_reply": case_bad_reply,
    "config_errors": case_config_errors,
    "tool_error": case_tool_error,
    "shutdown": case_shutdown,
    "example": case_example,
    "concurrent": case_concurrent,
    "memory_sessions": case_memory_sessions,
    "bounded": case_bounded,
}


def main():
    global BIN, WORK
    if len(sys.argv) != 3 or (sys.argv[2] not in CASES and sys.argv[2] != "all"):
        sys.stderr.write("usage: ai_test.py EDGEFLOW_BINARY CASE (%s|all)\n" % "|".join(CASES))
        return 2
    BIN = os.path.abspath(sys.argv[1])
    names = list(CASES) if sys.argv[2] == "all" else [sys.argv[2]]
    failed = 0
    for name in names:
        WORK = tempfile.mkdtemp(prefix="ef-ai-")
        try:
            CASES[name]()
            print("ok   %s" % name)
        except (Fail, RuntimeError) as e:
            failed += 1
            print("FAIL %s: %s" % (name, e))
        finally:
            shutil.rmtree(WORK, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
