#!/usr/bin/env python3
"""gen_cases.py - writes the alert flow cases in cases/ (flowtest format).

Each case is a flow of inject nodes firing at fixed virtual times into alert
nodes whose three outputs go to debug nodes; the expected alert messages are
written out by hand below (times are the virtual clock's start,
2026-01-01T00:00:00Z, plus the offset). Run it after changing a case:
    python3 tests/plugins/alert/gen_cases.py
"""
import json
import os

EPOCH = 1767225600000
HERE = os.path.dirname(os.path.abspath(__file__))


def inject(nid, t_ms, target, **props):
    """An inject node firing once at t_ms (virtual) with the given msg properties."""
    node = {"id": nid, "type": "inject", "z": "t1", "props": [], "repeat": "", "crontab": "",
            "once": True, "onceDelay": t_ms / 1000, "topic": "", "payload": "",
            "payloadType": "date", "wires": [[target]]}
    for p, v in props.items():
        vt = ("bool" if isinstance(v, bool) else "num" if isinstance(v, (int, float))
              else "json" if isinstance(v, (dict, list)) else "str")
        text = json.dumps(v) if vt in ("bool", "json") else str(v)
        if p == "topic":
            node["topic"] = text
            node["props"].append({"p": "topic", "vt": "str"})
        elif p == "payload":
            node["payload"] = text
            node["payloadType"] = vt
            node["props"].append({"p": "payload"})
        else:
            node["props"].append({"p": p, "v": text, "vt": vt})
    return node


def alert(nid, outs=("raised", "resolved", "acked"), **cfg):
    node = {"id": nid, "type": "alert", "z": "t1", "store": ""}
    node.update(cfg)
    node["wires"] = [[o] if o else [] for o in outs]
    return node


def debug(nid, complete="payload"):
    return {"id": nid, "type": "debug", "z": "t1", "active": True, "tosidebar": True,
            "console": False, "tostatus": False, "complete": complete, "targetType": "msg",
            "wires": []}


def debugs():
    return [debug("raised"), debug("resolved"), debug("acked")]


def ev(out, node, event, condition, key, value, threshold, raised, text, severity="major",
       resolved=None, acked=None, count=1, dedup=None, reason=None, name=None, state=None):
    """An expected debug line: the payload of one alert event (times in ms from the start)."""
    if state is None:
        state = ("resolved" if event == "resolve" else
                 "acknowledged" if acked is not None else "active")
    return {"id": out, "value": {
        "alert": name or condition,
        "event": event,
        "state": state,
        "condition": condition,
        "key": key,
        "severity": severity,
        "value": value,
        "threshold": threshold,
        "raisedAt": EPOCH + raised,
        "resolvedAt": None if resolved is None else EPOCH + resolved,
        "acknowledgedAt": None if acked is None else EPOCH + acked,
        "count": count,
        "dedupKey": dedup if dedup is not None else "%s:%s:%s" % (node, condition, key),
        "reason": reason,
        "node": node,
        "text": text,
    }}


def write(name, case):
    case.setdefault("clock", "virtual")
    case["flow"] = [{"id": "t1", "type": "tab", "label": name}] + case["flow"]
    with open(os.path.join(HERE, "cases", name + ".json"), "w") as f:
        json.dump(case, f, indent=1)
        f.write("\n")


cases = {}

# Threshold above with hysteresis (raise above 80, resolve at or below 70), two sources.
cases["threshold_hysteresis"] = {
    "run_ms": 1000,
    "flow": [
        dict(alert("a1", condition="threshold", direction="above"), **{"raise": 80, "resolve": 70}),
        inject("i1", 100, "a1", topic="s1", payload=75),
        inject("i2", 200, "a1", topic="s1", payload=85),
        inject("i3", 250, "a1", topic="s2", payload=95),
        inject("i4", 300, "a1", topic="s1", payload=78),
        inject("i5", 400, "a1", topic="s1", payload=82),
        inject("i6", 500, "a1", topic="s1", payload=70),
        inject("i7", 600, "a1", topic="s1", payload=75),
        inject("i8", 650, "a1", topic="s2", payload=71),
        inject("i9", 660, "a1", topic="s2", payload="10.5"),
        inject("i10", 700, "a1", topic="s1", payload=90),
    ] + debugs(),
    "expect": [
        ev("raised", "a1", "raise", "threshold", "s1", 85, 80, 200,
           "threshold s1: value 85 above 80"),
        ev("raised", "a1", "raise", "threshold", "s2", 95, 80, 250,
           "threshold s2: value 95 above 80"),
        ev("resolved", "a1", "resolve", "threshold", "s1", 70, 80, 200,
           "threshold s1: value 70 above 80 (resolved)", resolved=500, reason="condition"),
        ev("resolved", "a1", "resolve", "threshold", "s2", 10.5, 80, 250,
           "threshold s2: value 10.5 above 80 (resolved)", resolved=660, reason="condition"),
        ev("raised", "a1", "raise", "threshold", "s1", 90, 80, 700,
           "threshold s1: value 90 above 80"),
    ],
}

# Below a level: raise under 10, resolve at 15 or more; one source (no key), named node.
cases["threshold_below"] = {
    "run_ms": 1000,
    "flow": [
        dict(alert("a1", condition="threshold", direction="below", key="", severity="critical",
                   name="tank low"), **{"raise": 10, "resolve": 15}),
        inject("i1", 100, "a1", payload=12),
        inject("i2", 200, "a1", payload=9.5),
        inject("i3", 300, "a1", payload=14),
        inject("i4", 400, "a1", payload=8),
        inject("i5", 500, "a1", payload=15),
    ] + debugs(),
    "expect": [
        ev("raised", "a1", "raise", "threshold", "", 9.5, 10, 200, "tank low: value 9.5 below 10",
           severity="critical", name="tank low"),
        ev("resolved", "a1", "resolve", "threshold", "", 15, 10, 200,
           "tank low: value 15 below 10 (resolved)", severity="critical", name="tank low",
           resolved=500, reason="condition"),
    ],
}

# Rate of change over a 10 s window: raise above 2 units/s, resolve at 1 or less. The last
# raise happens only because samples older than the window are dropped.
cases["rate_window"] = {
    "run_ms": 17000,
    "flow": [
        dict(alert("a1", condition="rate", window=10), **{"raise": 2, "resolve": 1}),
        inject("i1", 1000, "a1", topic="m", payload=0),
        inject("i2", 2000, "a1", topic="m", payload=1),
        inject("i3", 3000, "a1", topic="m", payload=5),
        inject("i4", 4000, "a1", topic="m", payload=6),
        inject("i5", 8000, "a1", topic="m", payload=6),
        inject("i6", 15000, "a1", topic="m", payload=6),
        inject("i7", 16000, "a1", topic="m", payload=30),
    ] + debugs(),
    "expect": [
        ev("raised", "a1", "raise", "rate", "m", 2.5, 2, 3000, "rate m: rate 2.5/s above 2/s"),
        ev("resolved", "a1", "resolve", "rate", "m", 6 / 7, 2, 3000,
           "rate m: rate 0.8571428571428571/s above 2/s (resolved)", resolved=8000,
           reason="condition"),
        ev("raised", "a1", "raise", "rate", "m", 3, 2, 16000, "rate m: rate 3/s above 2/s"),
    ],
}

# A falling rate: direction below, raise under -2 units/s, resolve at -1 or more.
cases["rate_below"] = {
    "run_ms": 9000,
    "flow": [
        dict(alert("a1", condition="rate", direction="below", window=10, key="",
                   severity="warning"), **{"raise": -2, "resolve": -1}),
        inject("i1", 1000, "a1", payload=10),
        inject("i2", 2000, "a1", payload=5),
        inject("i3", 3000, "a1", payload=5),
        inject("i4", 8000, "a1", payload=5),
    ] + debugs(),
    "expect": [
        ev("raised", "a1", "raise", "rate", "", -5, -2, 2000, "rate: rate -5/s below -2/s",
           severity="warning"),
        ev("resolved", "a1", "resolve", "rate", "", -5 / 7, -2, 2000,
           "rate: rate -0.7142857142857143/s below -2/s (resolved)", severity="warning",
           resolved=8000, reason="condition"),
    ],
}

# Anomaly score (raise above 0.8, resolve at 0.5) and a boolean (e.g. an infer node's
# verdict); a value that is not a number goes to the catch node.
cases["score_boolean"] = {
    "run_ms": 1000,
    "flow": [
        dict(alert("a1", condition="score", key="", severity="minor"),
             **{"raise": 0.8, "resolve": 0.5}),
        alert("a2", condition="boolean", value="payload.anomaly", key="", severity="warning"),
        inject("i1", 100, "a1", payload=0.3),
        inject("i2", 200, "a1", payload=0.91),
        inject("i3", 300, "a1", payload=0.6),
        inject("i4", 400, "a1", payload=0.5),
        inject("i5", 450, "a1", payload="high"),
        inject("j1", 500, "a2", payload={"anomaly": False}),
        inject("j2", 600, "a2", payload={"anomaly": True}),
        inject("j3", 700, "a2", payload={"anomaly": True}),
        inject("j4", 800, "a2", payload={"anomaly": False}),
        inject("j5", 850, "a2", payload={"other": 1}),
        {"id": "c1", "type": "catch", "z": "t1", "scope": None, "uncaught": False,
         "wires": [["errors"]]},
        debug("errors", "error.message"),
    ] + debugs(),
    "expect": [
        ev("raised", "a1", "raise", "score", "", 0.91, 0.8, 200, "score: score 0.91 above 0.8",
           severity="minor"),
        ev("resolved", "a1", "resolve", "score", "", 0.5, 0.8, 200,
           "score: score 0.5 above 0.8 (resolved)", severity="minor", resolved=400,
           reason="condition"),
        {"id": "errors", "value": "alert: msg.payload is not a number (string)"},
        ev("raised", "a2", "raise", "boolean", "", True, None, 600, "boolean: value true",
           severity="warning"),
        ev("resolved", "a2", "resolve", "boolean", "", False, None, 600,
           "boolean: value false (resolved)", severity="warning", resolved=800,
           reason="condition"),
        {"id": "errors", "value": "alert: msg.payload.anomaly is missing"},
    ],
}

# Missing data per key: no message for 5 s raises, the next message resolves, silence again
# raises again. A second node without a key watches one source from the start.
cases["missing_data"] = {
    "run_ms": 16000,
    "flow": [
        alert("a1", condition="missing", missing=5),
        alert("a2", condition="missing", missing=3, key="", severity="critical",
              outs=("raised2", "resolved", "acked")),
        inject("i1", 1000, "a1", topic="s1", payload=1),
        inject("i2", 3000, "a1", topic="s2", payload=1),
        inject("i3", 4000, "a1", topic="s1", payload=1),
        inject("i4", 10000, "a1", topic="s1", payload=1),
        inject("j1", 4500, "a2", payload=1),
    ] + debugs() + [debug("raised2")],
    "expect": [
        ev("raised2", "a2", "raise", "missing", "", None, 3, 3000, "missing: no data for 3 s",
           severity="critical"),
        ev("resolved", "a2", "resolve", "missing", "", None, 3, 3000,
           "missing: no data for 3 s (resolved)", severity="critical", resolved=4500,
           reason="data"),
        ev("raised2", "a2", "raise", "missing", "", None, 3, 7500, "missing: no data for 3 s",
           severity="critical"),
        ev("raised", "a1", "raise", "missing", "s2", None, 5, 8000, "missing s2: no data for 5 s"),
        ev("raised", "a1", "raise", "missing", "s1", None, 5, 9000, "missing s1: no data for 5 s"),
        ev("resolved", "a1", "resolve", "missing", "s1", None, 5, 9000,
           "missing s1: no data for 5 s (resolved)", resolved=10000, reason="data"),
        ev("raised", "a1", "raise", "missing", "s1", None, 5, 15000,
           "missing s1: no data for 5 s"),
    ],
}

# Cooldown of 10 s: a raise during it waits for its end (and happens only if the condition
# still holds then).
cases["cooldown"] = {
    "run_ms": 25000,
    "flow": [
        dict(alert("a1", condition="threshold", cooldown=10), **{"raise": 50}),
        inject("i1", 1000, "a1", topic="p", payload=60),
        inject("i2", 2000, "a1", topic="p", payload=40),
        inject("i3", 3000, "a1", topic="p", payload=70),
        inject("i4", 5000, "a1", topic="p", payload=65),
        inject("i5", 13000, "a1", topic="p", payload=40),
        inject("i6", 14000, "a1", topic="p", payload=70),
        inject("i7", 15000, "a1", topic="p", payload=40),
    ] + debugs(),
    "expect": [
        ev("raised", "a1", "raise", "threshold", "p", 60, 50, 1000,
           "threshold p: value 60 above 50"),
        ev("resolved", "a1", "resolve", "threshold", "p", 40, 50, 1000,
           "threshold p: value 40 above 50 (resolved)", resolved=2000, reason="condition"),
        ev("raised", "a1", "raise", "threshold", "p", 65, 50, 12000,
           "threshold p: value 65 above 50"),
        ev("resolved", "a1", "resolve", "threshold", "p", 40, 50, 12000,
           "threshold p: value 40 above 50 (resolved)", resolved=13000, reason="condition"),
    ],
}

# Re-notify every 5 s while active and unacknowledged; acknowledgement by key (msg.ack true)
# and by dedup key (msg.ack "<dedupKey>"); an ack for nothing is a warning.
cases["renotify_ack"] = {
    "run_ms": 22000,
    "flow": [
        dict(alert("a1", condition="threshold", renotify=5), **{"raise": 80}),
        inject("i1", 1000, "a1", topic="s1", payload=90),
        inject("i2", 2000, "a1", topic="s2", payload=99),
        inject("i3", 3000, "a1", ack="a1:threshold:s2"),
        inject("i4", 12000, "a1", topic="s1", ack=True),
        inject("i5", 13000, "a1", topic="s1", payload=95),
        inject("i6", 20000, "a1", topic="s1", payload=10),
        inject("i7", 21000, "a1", topic="s3", ack=True),
    ] + debugs(),
    "expect": [
        ev("raised", "a1", "raise", "threshold", "s1", 90, 80, 1000,
           "threshold s1: value 90 above 80"),
        ev("raised", "a1", "raise", "threshold", "s2", 99, 80, 2000,
           "threshold s2: value 99 above 80"),
        ev("acked", "a1", "ack", "threshold", "s2", 99, 80, 2000,
           "threshold s2: value 99 above 80", acked=3000),
        ev("raised", "a1", "renotify", "threshold", "s1", 90, 80, 1000,
           "threshold s1: value 90 above 80", count=2),
        ev("raised", "a1", "renotify", "threshold", "s1", 90, 80, 1000,
           "threshold s1: value 90 above 80", count=3),
        ev("acked", "a1", "ack", "threshold", "s1", 90, 80, 1000,
           "threshold s1: value 90 above 80", acked=12000, count=3),
        ev("resolved", "a1", "resolve", "threshold", "s1", 10, 80, 1000,
           "threshold s1: value 10 above 80 (resolved)", acked=12000, count=3, resolved=20000,
           reason="condition"),
    ],
    "expect_log": ["ack: no active unacknowledged alert for key 's3'"],
}

# Auto-resolve 5 s after the condition was last met (a boolean that never says false).
cases["auto_resolve"] = {
    "run_ms": 10000,
    "flow": [
        alert("a1", condition="boolean", key="", autoResolve=5),
        inject("i1", 1000, "a1", payload=True),
        inject("i2", 3000, "a1", payload="true"),
        inject("i3", 9000, "a1", payload=1),
    ] + debugs(),
    "expect": [
        ev("raised", "a1", "raise", "boolean", "", True, None, 1000, "boolean: value true"),
        ev("resolved", "a1", "resolve", "boolean", "", True, None, 1000,
           "boolean: value true (resolved)", resolved=8000, reason="auto"),
        ev("raised", "a1", "raise", "boolean", "", True, None, 9000, "boolean: value true"),
    ],
}

# A missing-data alert next to a threshold on the same node, each with its severity; the
# dedup key from a message property; the topic template; the status (count, most severe).
cases["combined_status_topic"] = {
    "run_ms": 10000,
    "flow": [
        dict(alert("a1", condition="threshold", missing=4, severity="minor",
                   missingSeverity="critical", dedupProperty="alarmId",
                   topic="plant/{{severity}}/{{key}}/{{event}}", outs=("topics", "topics", "")),
             **{"raise": 100}),
        inject("i1", 1000, "a1", topic="boiler", payload=120, alarmId="B-7"),
        inject("i2", 2000, "a1", topic="pump", payload=20),
        inject("i3", 3000, "a1", topic="pump", payload=130),
        inject("i4", 9000, "a1", topic="boiler", payload=50, alarmId="B-8"),
        debug("topics", "topic"),
        {"id": "st", "type": "status", "z": "t1", "scope": ["a1"], "wires": [["status"]]},
        debug("status", "status.text"),
    ],
    "expect": [
        {"id": "status", "value": "no active alerts"},
        {"id": "topics", "value": "plant/minor/boiler/raise"},
        {"id": "status", "value": "1 active, most severe: minor"},
        {"id": "topics", "value": "plant/minor/pump/raise"},
        {"id": "status", "value": "2 active, most severe: minor"},
        {"id": "topics", "value": "plant/critical/boiler/raise"},
        {"id": "status", "value": "3 active, most severe: critical"},
        {"id": "topics", "value": "plant/critical/pump/raise"},
        {"id": "status", "value": "4 active, most severe: critical"},
        {"id": "topics", "value": "plant/critical/boiler/resolve"},
        {"id": "topics", "value": "plant/minor/boiler/resolve"},
        {"id": "status", "value": "2 active, most severe: critical"},
    ],
}

# The dedup key from msg.alarmId, kept in the raise and the resolve.
cases["dedup_property"] = {
    "run_ms": 1000,
    "flow": [
        dict(alert("a1", condition="threshold", dedupProperty="alarmId"), **{"raise": 100}),
        inject("i1", 100, "a1", topic="boiler", payload=120, alarmId="B-7"),
        inject("i2", 200, "a1", ack="B-7"),
        inject("i3", 300, "a1", topic="boiler", payload=50),
    ] + debugs(),
    "expect": [
        ev("raised", "a1", "raise", "threshold", "boiler", 120, 100, 100,
           "threshold boiler: value 120 above 100", dedup="B-7"),
        ev("acked", "a1", "ack", "threshold", "boiler", 120, 100, 100,
           "threshold boiler: value 120 above 100", dedup="B-7", acked=200),
        ev("resolved", "a1", "resolve", "threshold", "boiler", 50, 100, 100,
           "threshold boiler: value 50 above 100 (resolved)", dedup="B-7", acked=200,
           resolved=300, reason="condition"),
    ],
}

# Configuration errors refuse the flow, naming the node and the property.
cases["config_errors"] = {
    "flow": [
        alert("b1", condition="spike"),
        dict(alert("b2", condition="threshold"), **{"raise": 80, "resolve": 90}),
        alert("b3", condition="threshold", dedupKey="{{node}}-{{sensor}}"),
        alert("b4", condition="missing"),
        alert("b5", condition="threshold", severity="urgent"),
        dict(alert("b6", condition="rate", window=0)),
        alert("b7", condition="score", direction="below"),
        alert("b8", condition="threshold", cooldown=-1),
        alert("b9", condition="threshold", webhook="ftp://example/hook"),
    ] + debugs(),
    "expect_problems": [
        "condition: unknown 'spike'",
        "resolve: 90 is not on the safe side of raise 80",
        "dedupKey: unknown placeholder {{sensor}}",
        "missing: a missing-data alert needs missing > 0 seconds",
        "severity: must be critical, major, minor, warning or info, not 'urgent'",
        "window: a rate alert needs a window > 0 seconds",
        "direction: a score alert is raised above its threshold",
        "cooldown: must be a number of seconds >= 0, not -1",
        "webhook: must be an http:// or https:// URL, not 'ftp://example/hook'",
    ],
}

# Without the configured store the node warns and keeps its state in the default store.
cases["store_missing"] = {
    "run_ms": 1000,
    "flow": [
        dict(alert("a1", condition="threshold", key=""), **{"raise": 1, "store": "file"}),
        inject("i1", 100, "a1", payload=5),
    ] + debugs(),
    "expect": [
        ev("raised", "a1", "raise", "threshold", "", 5, 1, 100, "threshold: value 5 above 1"),
    ],
    "expect_log": ["context store 'file' is not configured (settings contextStorage)"],
}

for name, case in cases.items():
    write(name, case)
