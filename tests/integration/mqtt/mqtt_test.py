#!/usr/bin/env python3
"""
mqtt_test.py - integration tests of the MQTT nodes against a real mosquitto
(Debian's), each started on a free loopback port with a generated config
and killed at the end (also on failure). Every case runs the real edgeflow
binary (`edgeflow run FLOW --debug-stdout`); `compare` also runs the same
flow in Node-RED 4.1.15 (tools/nr-run.js) and requires the same output.

    mqtt_test.py EDGEFLOW_BINARY CASE      (CASE: see CASES below, or "all")

Exit status 0 when the case passes; what differed is printed otherwise.
"""
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mqttlib import Broker, Run, pub, sub, free_port  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BIN = None
WORK = None


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def broker_node(port, bid="b1", version="4", **kw):
    n = {"id": bid, "type": "mqtt-broker", "broker": "127.0.0.1", "port": str(port),
         "clientid": "", "autoConnect": True, "usetls": False, "protocolVersion": version,
         "keepalive": "60", "cleansession": True, "autoUnsubscribe": True}
    n.update(kw)
    return n


def mqtt_in(nid, topic, wires, broker="b1", qos="2", datatype="auto-detect", **kw):
    n = {"id": nid, "type": "mqtt in", "z": "t1", "name": "", "topic": topic, "qos": qos,
         "datatype": datatype, "broker": broker, "nl": False, "rap": True, "rh": 0,
         "inputs": 0, "wires": [wires]}
    n.update(kw)
    return n


def mqtt_out(nid, topic="", broker="b1", qos="", retain="", **kw):
    n = {"id": nid, "type": "mqtt out", "z": "t1", "name": "", "topic": topic, "qos": qos,
         "retain": retain, "respTopic": "", "contentType": "", "userProps": "", "correl": "",
         "expiry": "", "broker": broker, "wires": []}
    n.update(kw)
    return n


def debug(nid, complete="true"):
    return {"id": nid, "type": "debug", "z": "t1", "active": True, "tosidebar": True,
            "console": False, "tostatus": False, "complete": complete, "targetType": "full"
            if complete == "true" else "msg", "wires": []}


def inject(nid, wires, once_delay=0.3, props=None, **kw):
    n = {"id": nid, "type": "inject", "z": "t1", "props": props or [{"p": "payload"}, {"p": "topic", "vt": "str"}],
         "repeat": "", "crontab": "", "once": True, "onceDelay": once_delay, "topic": "",
         "payload": "", "payloadType": "date", "wires": [wires]}
    n.update(kw)
    return n


def tab():
    return {"id": "t1", "type": "tab", "label": "mqtt"}


def strip_ids(v):
    if isinstance(v, dict):
        return {k: strip_ids(x) for k, x in v.items() if k not in ("_msgid",)}
    if isinstance(v, list):
        return [strip_ids(x) for x in v]
    return v


# ---------------------------------------------------------------------------

DT_PAYLOADS = [
    ("obj", b'{"a":1,"b":[true,null]}'),
    ("num", b"42.50"),
    ("text", "héllo wörld".encode()),
    ("bad_json", b'{"a":'),
    ("non_utf8", b"\xff\xfe\x80abc\xc3"),
    ("ctrl", b"a\x01b"),
    ("spaced", b" 7 "),
    ("null", b"null"),
]
DATATYPES = ["auto-detect", "auto", "utf8", "json", "buffer", "base64"]


def compare_flow(port):
    """Retained messages read with every datatype, plus an MQTT 5 round trip."""
    nodes = [tab(), broker_node(port, "b1", "4"), broker_node(port, "b5", "5")]
    for i, dt in enumerate(DATATYPES):
        nodes.append(mqtt_in("dtin%d" % i, "dt/#", ["d_%s" % dt], datatype=dt, qos="1"))
        nodes.append(debug("d_%s" % dt))
    nodes.append(mqtt_in("in5a", "v5dt/#", ["d_v5dt"], broker="b5", datatype="auto-detect"))
    nodes.append(debug("d_v5dt"))
    nodes.append({"id": "ctch", "type": "catch", "z": "t1", "scope": None, "uncaught": False,
                  "wires": [["c_fn"]]})
    # report error.message, payload and topic (what Node-RED's catch shows)
    nodes.append({"id": "c_fn", "type": "change", "z": "t1", "rules": [
        {"t": "set", "p": "payload", "pt": "msg", "to": "{\"m\":\"\"}", "tot": "json"},
        {"t": "set", "p": "payload.m", "pt": "msg", "to": "error.message", "tot": "msg"},
        {"t": "set", "p": "payload.t", "pt": "msg", "to": "topic", "tot": "msg"},
        {"t": "set", "p": "payload.s", "pt": "msg", "to": "error.source.type", "tot": "msg"},
    ], "wires": [["d_err"]]})
    nodes.append(debug("d_err", complete="payload"))
    # MQTT 5: mqtt out with properties -> mqtt in on a v5 connection
    nodes.append(inject("inj5", ["o5"], once_delay=0.8, props=[
        {"p": "payload"}, {"p": "topic", "vt": "str"},
        {"p": "userProperties", "v": "{\"k\":\"v\",\"n\":5}", "vt": "json"},
        {"p": "contentType", "v": "application/json", "vt": "str"},
        {"p": "responseTopic", "v": "reply/here", "vt": "str"},
        {"p": "correlationData", "v": "corr-1", "vt": "str"},
        {"p": "messageExpiryInterval", "v": "60", "vt": "num"},
        {"p": "payloadFormatIndicator", "v": "true", "vt": "bool"}],
        payload="{\"x\":[1,2]}", payloadType="json", topic="v5/rt"))
    nodes.append(mqtt_out("o5", broker="b5", qos="1"))
    nodes.append(mqtt_in("in5", "v5/#", ["d_v5"], broker="b5", datatype="auto-detect"))
    nodes.append(debug("d_v5"))
    return nodes


def prepare_retained(port):
    for name, data in DT_PAYLOADS:
        pub(port, "dt/" + name, data, qos=1, retain=True)
    pub(port, "v5dt/ct_json", b'{"ok":true}', retain=True, v5=True,
        props=[("content-type", "application/json")])
    pub(port, "v5dt/ct_text", b'{"ok":true}', retain=True, v5=True,
        props=[("content-type", "text/plain")])
    pub(port, "v5dt/ct_bin", b"\x00\x01", retain=True, v5=True,
        props=[("content-type", "image/png")])
    pub(port, "v5dt/ct_badjson", b"{nope", retain=True, v5=True,
        props=[("content-type", "application/json")])
    pub(port, "v5dt/pfi", b"plain", retain=True, v5=True,
        props=[("payload-format-indicator", "1"), ("user-property", "a", "1"),
               ("user-property", "a", "2")])


def canon(lines):
    out = []
    for l in lines:
        out.append(json.dumps(strip_ids(l), sort_keys=True))
    return sorted(out)


def case_compare():
    """Datatypes, malformed and non-UTF-8 payloads, MQTT 5 properties: same as Node-RED."""
    b = Broker(WORK, "broker")
    prepare_retained(b.port)
    flow = compare_flow(b.port)
    r = Run(BIN, flow, WORK, "compare")
    # 6 datatypes x 8 payloads (3 of them errors), 5 v5 retained (1 error), 1 round trip
    expected_count = len(DT_PAYLOADS) * len(DATATYPES) + 5 + 1
    r.wait_for(lambda ls: len(ls) >= expected_count, 6)
    time.sleep(0.3)
    r.stop()
    ours = canon(r.lines)
    check(not any("ERROR: AddressSanitizer" in l for l in r.log), "sanitizer report")
    nr = os.path.join(ROOT, "tools", "nr-run.js")
    if not shutil.which("node") or not os.path.exists(nr):
        print("compare: Node-RED not available, checked edgeflow's output only")
        check(len(ours) >= expected_count, "got %d lines" % len(ours))
        return
    path = os.path.join(WORK, "compare.json")
    p = subprocess.run(["node", nr, path, "--run-ms", "2500"], capture_output=True, timeout=60)
    theirs = canon([json.loads(l) for l in p.stdout.decode().splitlines() if l.startswith("{")])
    if ours != theirs:
        import difflib
        print("\n".join(difflib.unified_diff(theirs, ours, "node-red", "edgeflow", lineterm="")))
        print("\n".join(r.log[-10:]))
        raise Fail("edgeflow and Node-RED differ")
    print("compare: %d lines identical to Node-RED 4.1.15" % len(ours))


def case_qos_wildcards():
    """QoS 0/1/2 end to end (in -> out chains) and topic filters incl. shared subscriptions."""
    b = Broker(WORK, "broker")
    flow = [tab(), broker_node(b.port), broker_node(b.port, "bv")]
    for q in (0, 1, 2):
        flow.append(mqtt_in("in%d" % q, "e2e/in%d" % q, ["out%d" % q, "dq"], qos=str(q),
                            datatype="utf8"))
        flow.append(mqtt_out("out%d" % q, "e2e/out%d" % q, qos=str(q)))
        # the verifier: a second connection subscribed at the same QoS
        flow.append(mqtt_in("v%d" % q, "e2e/out%d" % q, ["dv"], broker="bv", qos=str(q),
                            datatype="utf8"))
    flow.append(debug("dq"))
    flow.append(debug("dv"))
    filters = {"w1": "a/+/c", "w2": "a/#", "w3": "+/b/#", "w4": "$share/g/a/b/+", "w5": "#"}
    for nid, f in filters.items():
        flow.append(mqtt_in(nid, f, ["d_" + nid], datatype="utf8"))
        flow.append(debug("d_" + nid, complete="topic"))
    r = Run(BIN, flow, WORK, "qos")
    check(r.wait_log("Connected to broker", 2), "edgeflow did not connect")
    time.sleep(0.3)
    N = 100
    for q in (0, 1, 2):
        data = "\n".join("q%d-%d" % (q, i) for i in range(N)) + "\n"
        subprocess.run(["mosquitto_pub", "-p", str(b.port), "-t", "e2e/in%d" % q, "-q", str(q),
                        "-l"], input=data.encode(), check=True, timeout=10)
    for t in ("a/b/c", "a/x/c", "a", "a/b", "x/b/y/z", "a/b/c/d", "a//c"):
        pub(b.port, t, "t:" + t)
    r.wait_for(lambda ls: len([l for l in ls if l["id"] == "dv"]) >= 3 * N, 8)
    time.sleep(0.2)
    r.stop()
    got_in = r.values("dq")
    got = r.values("dv")
    for q in (0, 1, 2):
        mine_in = [v for v in got_in if v["topic"] == "e2e/in%d" % q]
        mine = [v for v in got if v["topic"] == "e2e/out%d" % q]
        check(len(mine_in) == N, "QoS %d in: %d of %d" % (q, len(mine_in), N))
        check(all(v["qos"] == q for v in mine_in), "QoS %d in: qos %s" % (q, mine_in[:2]))
        check(len(mine) == N, "QoS %d end to end: %d of %d arrived" % (q, len(mine), N))
        check(all(v["qos"] == q for v in mine), "QoS %d out: qos %s" % (q, mine[:2]))
        check([v["payload"] for v in mine] == ["q%d-%d" % (q, i) for i in range(N)],
              "QoS %d: order" % q)
    want = {
        "w1": ["a/b/c", "a/x/c"],          # + needs one character: a//c does not match
        "w2": ["a/b/c", "a/x/c", "a", "a/b", "a/b/c/d", "a//c"],
        "w3": ["a/b/c", "a/b", "x/b/y/z", "a/b/c/d"],
        "w4": ["a/b/c"],
        "w5": ["a/b/c", "a/x/c", "a", "a/b", "x/b/y/z", "a/b/c/d", "a//c"],
    }
    for nid, topics in want.items():
        seen = [t for t in r.values("d_" + nid) if not t.startswith("e2e/")]
        check(sorted(seen) == sorted(topics), "%s (%s): got %s want %s" %
              (nid, filters[nid], sorted(seen), sorted(topics)))
    print("qos_wildcards: %d messages per QoS end to end, 5 filters ok" % N)


def case_retained():
    """Retained messages in both directions."""
    b = Broker(WORK, "broker")
    pub(b.port, "keep/in", "was retained", qos=1, retain=True)
    flow = [tab(), broker_node(b.port), mqtt_in("in", "keep/in", ["d"], datatype="utf8"), debug("d"),
            inject("i", ["o"], payload="r1", payloadType="str", topic="keep/out"),
            mqtt_out("o", "", qos="1", retain="true")]
    r = Run(BIN, flow, WORK, "retained")
    v = r.wait_for(lambda ls: [l for l in ls if l["id"] == "d"], 5)
    check(v and v[0]["value"]["retain"] is True and v[0]["value"]["payload"] == "was retained",
          "retained message in: %s" % v)
    time.sleep(0.8)
    s = sub(b.port, "keep/out", 1, timeout=5)
    out, _ = s.communicate(timeout=10)
    check(out.decode().strip() == "keep/out 0 1 r1", "retained out: %r" % out)
    r.stop()
    print("retained: ok")


def case_v5_live():
    """MQTT 5 properties published by mosquitto_pub reach msg (live, not retained)."""
    b = Broker(WORK, "broker")
    flow = [tab(), broker_node(b.port, version="5"),
            mqtt_in("in", "p/#", ["d"], datatype="auto-detect", rh=0), debug("d")]
    r = Run(BIN, flow, WORK, "v5")
    check(r.wait_log("Connected to broker"), "no connection")
    time.sleep(0.2)
    pub(b.port, "p/1", b'{"v":1}', qos=1, v5=True, props=[
        ("content-type", "application/json"), ("response-topic", "p/reply"),
        ("correlation-data", "abc"), ("message-expiry-interval", "120"),
        ("user-property", "who", "me")])
    v = r.wait_for(lambda ls: [l["value"] for l in ls if l["id"] == "d"], 5)
    r.stop()
    check(v, "nothing received")
    m = v[0]
    check(m["payload"] == {"v": 1}, "payload %r" % m)
    check(m["contentType"] == "application/json", "contentType %r" % m)
    check(m["responseTopic"] == "p/reply", "responseTopic %r" % m)
    check(m["correlationData"] == {"type": "Buffer", "data": list(b"abc")}, "correlationData %r" % m)
    check(m["messageExpiryInterval"] in (119, 120), "expiry %r" % m)
    check(m["userProperties"] == {"who": "me"}, "userProperties %r" % m)
    print("v5_live: ok")


def case_dynamic():
    """msg.action subscribe / getSubscriptions / unsubscribe / disconnect / connect."""
    b = Broker(WORK, "broker")
    def act(nid, delay, action, topic=None, wires=("dyn",)):
        props = [{"p": "action", "v": action, "vt": "str"}]
        if topic is not None:
            props.append({"p": "topic", "v": json.dumps(topic), "vt": "json"})
        return inject(nid, list(wires), once_delay=delay, props=props)
    flow = [tab(), broker_node(b.port),
            mqtt_in("dyn", "", ["d"], datatype="utf8", inputs=1),
            debug("d"),
            act("a1", 0.3, "subscribe", [{"topic": "dyn/a", "qos": 1}, "dyn/b/#"]),
            act("a2", 0.6, "getSubscriptions"),
            act("a3", 1.5, "unsubscribe", "dyn/a"),
            act("a4", 1.7, "getSubscriptions"),
            act("a5", 1.9, "bogus"),
            {"id": "ctch", "type": "catch", "z": "t1", "scope": ["dyn"], "uncaught": False,
             "wires": [["derr"]]},
            debug("derr", complete="error.message")]
    r = Run(BIN, flow, WORK, "dynamic")
    r.wait_for(lambda ls: any(l["id"] == "d" for l in ls), 3)
    time.sleep(0.2)
    pub(b.port, "dyn/a", "A1", qos=1)
    pub(b.port, "dyn/b/x", "B1")
    pub(b.port, "dyn/c", "C1")
    time.sleep(1.0)
    pub(b.port, "dyn/a", "A2", qos=1)
    pub(b.port, "dyn/b/y", "B2")
    time.sleep(0.6)
    r.stop()
    vals = r.values("d")
    subs = [v["payload"] for v in vals if v.get("topic") == "subscriptions"]
    data = sorted(v["payload"] for v in vals if v.get("topic") != "subscriptions")
    check(subs and subs[0] == [{"topic": "dyn/a", "qos": 1}, {"topic": "dyn/b/#", "qos": 2}],
          "getSubscriptions #1: %s" % subs)
    check(len(subs) == 2 and subs[1] == [{"topic": "dyn/b/#", "qos": 2}], "after unsubscribe: %s" % subs)
    check(data == ["A1", "B1", "B2"], "received %s" % data)
    check(r.values("derr") == ["Error: Invalid action specified"], "errors %s" % r.values("derr"))
    print("dynamic: ok")


def make_ca(d):
    def ossl(*a):
        subprocess.run(["openssl"] + list(a), check=True, capture_output=True, timeout=30)
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=edgeflow test CA",
         "-keyout", d + "/ca.key", "-out", d + "/ca.crt")
    with open(d + "/san.cnf", "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for who in ("server", "client"):
        ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + ("localhost" if who == "server" else "client"),
             "-keyout", "%s/%s.key" % (d, who), "-out", "%s/%s.csr" % (d, who))
        ossl("x509", "-req", "-in", "%s/%s.csr" % (d, who), "-CA", d + "/ca.crt", "-CAkey", d + "/ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", d + "/san.cnf", "-out", "%s/%s.crt" % (d, who))
    # a second CA the server is not signed by
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=other CA",
         "-keyout", d + "/other.key", "-out", d + "/other.crt")


def case_tls():
    """TLS with a CA made now: client certificate required; a wrong CA is refused."""
    d = os.path.join(WORK, "pki")
    os.makedirs(d)
    make_ca(d)
    b = Broker(WORK, "broker", extra=["allow_anonymous true", "cafile %s/ca.crt" % d,
                                      "certfile %s/server.crt" % d, "keyfile %s/server.key" % d,
                                      "require_certificate true"])
    def flow(ca, bid_suffix=""):
        return [tab(),
                {"id": "tls", "type": "tls-config", "name": "", "cert": d + "/client.crt",
                 "key": d + "/client.key", "ca": ca, "certname": "", "keyname": "", "caname": "",
                 "servername": "", "verifyservercert": True, "alpnprotocol": ""},
                broker_node(b.port, usetls=True, tls="tls"),
                mqtt_in("in", "sec/#", ["d"], datatype="utf8"), debug("d"),
                inject("i", ["o"], once_delay=0.8, payload="over tls", payloadType="str", topic="sec/x"),
                mqtt_out("o", "", qos="1")]
    r = Run(BIN, flow(d + "/ca.crt"), WORK, "tls")
    v = r.wait_for(lambda ls: [l["value"] for l in ls if l["id"] == "d"], 6)
    r.stop()
    check(v and v[0]["payload"] == "over tls", "TLS round trip: %s / %s" % (v, r.log[-5:]))
    r2 = Run(BIN, flow(d + "/other.crt"), WORK, "tls_bad")
    ok = r2.wait_log("Connection failed to broker", 1, 6)
    r2.stop()
    check(ok, "wrong CA was not refused: %s" % r2.log[-5:])
    check(not r2.values("d"), "message over an unverified connection")
    print("tls: ok")


def case_auth():
    """Username/password from credentials; a refused login: status, log line, backoff."""
    pw = os.path.join(WORK, "passwd")
    subprocess.run(["mosquitto_passwd", "-b", "-c", pw, "alice", "s3cret"], check=True, timeout=10)
    b = Broker(WORK, "broker", extra=["allow_anonymous false", "password_file " + pw])
    def flow(password):
        bn = broker_node(b.port)
        bn["credentials"] = {"user": "alice", "password": password}
        return [tab(), bn, mqtt_in("in", "auth/#", ["d"], datatype="utf8"), debug("d"),
                inject("i", ["o"], once_delay=0.6, payload="let in", payloadType="str", topic="auth/x"),
                mqtt_out("o", ""),
                {"id": "st", "type": "status", "z": "t1", "scope": None, "wires": [["ds"]]},
                debug("ds", complete="status")]
    r = Run(BIN, flow("s3cret"), WORK, "auth_ok")
    v = r.wait_for(lambda ls: [l["value"] for l in ls if l["id"] == "d"], 5)
    r.stop()
    check(v and v[0]["payload"] == "let in", "authenticated round trip: %s" % v)
    r = Run(BIN, flow("wrong"), WORK, "auth_bad")
    t0 = time.time()
    ok = r.wait_log("Connection failed to broker", 3, 8)
    elapsed = time.time() - t0
    r.stop()
    lines = [l for l in r.log if "Connection failed" in l]
    check(ok, "expected 3 refused attempts, log: %s" % r.log[-6:])
    check("not authorized" in lines[0].lower() or "bad user name or password" in lines[0].lower(),
          "log line names the reason: %s" % lines[0])
    delays = [int(m.group(1)) for m in (re.search(r"retrying in (\d+) ms", l) for l in lines) if m]
    check(len(delays) >= 3 and delays[2] > delays[0] // 2, "backoff delays %s" % delays)
    st = [s for s in r.values("ds") if s and "refused" in s.get("text", "")]
    check(st and st[0]["fill"] == "red", "status shows the refusal: %s" % r.values("ds")[-3:])
    check(not r.values("d"), "refused client received data")
    print("auth: ok (retries after %s ms, %.1fs for 3 attempts)" % (delays, elapsed))


def case_restart():
    """Broker killed and restarted mid-stream with QoS 1: nothing lost."""
    src = Broker(WORK, "src")
    dst = Broker(WORK, "dst", persistence=True)
    N = 600
    flow = [tab(), broker_node(src.port, "bs"), broker_node(dst.port, "bd", clientid="ef-restart"),
            mqtt_in("in", "seq", ["out"], broker="bs", qos="1", datatype="utf8"),
            mqtt_out("out", "seq/out", broker="bd", qos="1")]
    # verifier: persistent session on the destination broker
    # (QoS 1 may deliver duplicates, so it reads until every number has arrived)
    ver = subprocess.Popen(["mosquitto_sub", "-p", str(dst.port), "-t", "seq/out", "-q", "1", "-c",
                            "-i", "verifier", "-W", "40"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    import mqttlib
    mqttlib._procs.append(ver)
    got = set()
    import threading

    def read_ver():
        for line in ver.stdout:
            try:
                got.add(int(line))
            except ValueError:
                pass
            if len(got) >= N:
                break
    reader = threading.Thread(target=read_ver, daemon=True)
    reader.start()
    r = Run(BIN, flow, WORK, "restart")
    check(r.wait_log("Connected to broker", 2), "edgeflow did not connect to both brokers")
    time.sleep(0.3)
    feeder = subprocess.Popen(["mosquitto_pub", "-p", str(src.port), "-t", "seq", "-q", "1", "-l"],
                              stdin=subprocess.PIPE)
    for i in range(N):
        feeder.stdin.write(b"%d\n" % i)
        feeder.stdin.flush()
        if i == N // 3:
            dst.stop(signal.SIGTERM)    # broker gone mid-stream
        if i == N // 2:
            time.sleep(1.0)
            dst.start()                 # back, same port and persistence
        time.sleep(0.002)
    feeder.stdin.close()
    feeder.wait(10)
    reader.join(40)
    ver.kill()
    r.stop()
    missing = sorted(set(range(N)) - got)
    check(r.wait_log("Disconnected from broker", 1, 0.1), "edgeflow did not notice the restart")
    if missing:
        print("\n".join(r.log[-15:]))
    check(not missing, "%d of %d lost: %s" % (len(missing), N, missing[:20]))
    print("restart: %d/%d delivered across a broker restart" % (len(got), N))


def case_big():
    """A 1 MB binary payload through mqtt in (buffer) -> mqtt out."""
    b = Broker(WORK, "broker")
    blob = os.urandom(1 << 20)
    path = os.path.join(WORK, "blob.bin")
    with open(path, "wb") as f:
        f.write(blob)
    flow = [tab(), broker_node(b.port), mqtt_in("in", "big/in", ["out"], datatype="buffer", qos="1"),
            mqtt_out("out", "big/out", qos="1")]
    r = Run(BIN, flow, WORK, "big")
    check(r.wait_log("Connected to broker"), "no connection")
    time.sleep(0.2)
    s = subprocess.Popen(["mosquitto_sub", "-p", str(b.port), "-t", "big/out", "-C", "1", "-W", "10",
                          "-N"], stdout=subprocess.PIPE)
    time.sleep(0.3)
    pub(b.port, "big/in", file=path, qos=1)
    out, _ = s.communicate(timeout=15)
    r.stop()
    check(hashlib.sha256(out).hexdigest() == hashlib.sha256(blob).hexdigest(),
          "1 MB payload differs (%d bytes back)" % len(out))
    print("big: 1 MiB round trip ok")


CASES = {
    "compare": case_compare,
    "qos_wildcards": case_qos_wildcards,
    "retained": case_retained,
    "v5_live": case_v5_live,
    "dynamic": case_dynamic,
    "tls": case_tls,
    "auth": case_auth,
    "restart": case_restart,
    "big": case_big,
}


def main():
    global BIN, WORK
    if len(sys.argv) != 3 or (sys.argv[2] not in CASES and sys.argv[2] != "all"):
        print("usage: mqtt_test.py EDGEFLOW_BINARY CASE (%s | all)" % " | ".join(CASES))
        return 2
    BIN = os.path.abspath(sys.argv[1])
    if not shutil.which("mosquitto") or not shutil.which("mosquitto_pub"):
        print("mosquitto and mosquitto-clients are needed (scripts/setup.sh installs them)")
        return 1
    names = list(CASES) if sys.argv[2] == "all" else [sys.argv[2]]
    failed = []
    for name in names:
        WORK = tempfile.mkdtemp(prefix="ef-mqtt-%s-" % name)
        t0 = time.time()
        try:
            CASES[name]()
            print("PASS %s (%.1fs)" % (name, time.time() - t0))
            shutil.rmtree(WORK, ignore_errors=True)
        except Exception as e:  # noqa
            import traceback
            traceback.print_exc()
            print("FAIL %s: %s (files in %s)" % (name, e, WORK))
            failed.append(name)
        finally:
            import mqttlib
            mqttlib._cleanup()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
