#!/usr/bin/env python3
"""
fleet_agent_test.py - integration tests of `edgeflow agent` against a real
mosquitto (each case on its own free loopback port) and a real HTTP server
in this script that plays the manager's HTTP side (enrolment, file
downloads with the device token). The manager's MQTT side is played here
too: documents are signed with fleet_tool (fleet/common/fleet_proto.c) and
published with mosquitto_pub; the agent's state, heartbeats and responses
are read with mosquitto_sub. Snapshot ids are computed here in Python, an
independent implementation of the contract in docs/fleet-protocol.md.

    fleet_agent_test.py EDGEFLOW FLEET_TOOL CASE     (CASE: see CASES, or "all")

Exit status 0 when the case passes; what went wrong is printed otherwise.
"""
import base64
import hashlib
import http.server
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "mqtt"))
from mqttlib import Broker, free_port, pub, _procs  # noqa: E402

BIN = TOOL = WORK = None
PREFIX = "edgeflow/v1"


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)
    print("ok:", what)


def wait_for(pred, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            print("ok:", what)
            return v
        time.sleep(0.05)
    raise Fail("timed out: " + what)


# ---------------------------------------------------------------- manager's HTTP side

class Manager:
    """Enrolment and file downloads, as the real manager answers them."""

    def __init__(self, broker_port):
        self.dir = os.path.join(WORK, "manager")
        os.makedirs(self.dir, exist_ok=True)
        self.key = os.path.join(self.dir, "signing.key")
        self.pk = subprocess.run([TOOL, "keygen", self.key], check=True, capture_output=True,
                                 text=True).stdout.strip()
        self.token = "prov-token-1"
        self.device_token = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
        self.blobs = {}          # sha256 -> bytes served
        self.gets = []           # sha256 of every GET that answered 200
        self.enrolments = []
        self.echoes = []
        self.seq = 0
        self.broker_port = broker_port
        self.port = free_port()
        mgr = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reply_chunked(self, data):
                # larger files come chunked, in uneven pieces, as a streaming server sends them
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                i, step = 0, 1
                while i < len(data):
                    piece = data[i:i + step]
                    self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
                    i += len(piece)
                    step = step * 3 + 7
                self.wfile.write(b"0\r\n\r\n")

            def reply(self, code, body, ctype="application/json"):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n) or b"{}")
                if self.path != "/fleet/v1/enrol":
                    return self.reply(404, {"error": "not found"})
                ok = body.get("token") == mgr.token and subprocess.run(
                    [TOOL, "verify-proof", body.get("token", ""), body.get("publicKey", ""),
                     body.get("proof", "")]).returncode == 0
                if not ok:
                    return self.reply(401, {"error": "bad token or proof"})
                mgr.enrolments.append(body)
                dev = body["name"]
                self.reply(201, {
                    "deviceId": dev, "group": "line-1",
                    "broker": {"url": "mqtt://127.0.0.1:%d" % mgr.broker_port, "clientId": dev,
                               "username": dev, "password": mgr.device_token},
                    "managerKey": mgr.pk, "topicPrefix": PREFIX,
                    "filesUrl": "http://127.0.0.1:%d/fleet/v1/files/" % mgr.port})

            def do_GET(self):
                if self.path == "/echo":  # what a flow's http request node sends
                    mgr.echoes.append(self.headers.get("Authorization"))
                    return self.reply(200, b"ok", "text/plain")
                if self.headers.get("Authorization") != "Bearer " + mgr.device_token:
                    return self.reply(401, {"error": "bad token"})
                sha = self.path.rsplit("/", 1)[-1]
                if not self.path.startswith("/fleet/v1/files/") or sha not in mgr.blobs:
                    return self.reply(404, {"error": "no such file"})
                mgr.gets.append(sha)
                if len(mgr.blobs[sha]) > 1000:
                    return self.reply_chunked(mgr.blobs[sha])
                self.reply(200, mgr.blobs[sha], "application/octet-stream")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    # ---- snapshots and documents

    def snapshot(self, files, env, serve=True):
        """files: path -> bytes. Returns (id, file list). Also serves the bytes."""
        lst = []
        for path in sorted(files):
            data = files[path]
            sha = hashlib.sha256(data).hexdigest()
            lst.append({"path": path, "sha256": sha, "size": len(data)})
            if serve:
                self.blobs[sha] = data
        text = "".join("%s %d %s\n" % (f["sha256"], f["size"], f["path"]) for f in lst)
        text += "env " + json.dumps(env, sort_keys=True, separators=(",", ":"),
                                    ensure_ascii=False) + "\n"
        return hashlib.sha256(text.encode()).hexdigest(), lst

    def desired(self, device, files, env, health=1, max_errors=0, seq=None, snap_env=None,
                secret=None):
        sid, lst = self.snapshot(files, snap_env if snap_env is not None else env)
        if seq is None:
            self.seq += 1
            seq = self.seq
        doc = {"type": "desired", "device": device, "seq": seq, "ts": int(time.time() * 1000),
               "snapshot": {"id": sid, "version": seq, "group": "line-1", "description": "t",
                            "files": lst},
               "env": env, "health": {"seconds": health, "maxErrors": max_errors},
               "heartbeat": 1, "filesUrl": "http://127.0.0.1:%d/fleet/v1/files/" % self.port,
               "rollout": None}
        if snap_env is not None:
            doc["snapshot"]["env"] = snap_env
        if secret is not None:
            doc["credentialSecret"] = secret
        return sid, doc

    def seal(self, pk_b64, secret):
        return subprocess.run([TOOL, "seal", pk_b64, secret], check=True, capture_output=True,
                              text=True).stdout.strip()

    @staticmethod
    def encrypt_creds(secret, creds):
        """Node-RED's flows_cred.json: {"$": hex(iv) + base64(aes-256-ctr(sha256(secret)))}."""
        iv = os.urandom(16)
        key = hashlib.sha256(secret.encode()).hexdigest()
        ct = subprocess.run(["openssl", "enc", "-aes-256-ctr", "-K", key, "-iv", iv.hex(),
                             "-nosalt"], input=json.dumps(creds).encode(), check=True,
                            capture_output=True).stdout
        return json.dumps({"$": iv.hex() + base64.b64encode(ct).decode()}).encode()

    def sign(self, doc):
        text = json.dumps(doc, separators=(",", ":"))
        return subprocess.run([TOOL, "sign", self.key], input=text.encode(), check=True,
                              capture_output=True).stdout

    def send(self, device, kind, doc=None, raw=None, retain=True):
        payload = raw if raw is not None else self.sign(doc)
        path = os.path.join(self.dir, "out.json")
        with open(path, "wb") as f:
            f.write(payload)
        pub(self.broker_port, "%s/d/%s/%s" % (PREFIX, device, kind), file=path, qos=1,
            retain=retain)
        return payload

    def next_seq(self):
        self.seq += 1
        return self.seq


# ---------------------------------------------------------------- observing MQTT

class Watch:
    """mosquitto_sub -v on the given filters, lines kept with their arrival time."""

    def __init__(self, port, filters):
        args = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-v", "-q", "1"]
        for f in filters:
            args += ["-t", f]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        _procs.append(self.proc)
        self.msgs = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        time.sleep(0.2)

    def _read(self):
        for line in self.proc.stdout:
            topic, _, payload = line.rstrip("\n").partition(" ")
            with self.lock:
                self.msgs.append((topic, payload))

    def on(self, suffix):
        with self.lock:
            return [p for t, p in self.msgs if t.endswith(suffix)]

    def docs(self, suffix):
        out = []
        for p in self.on(suffix):
            try:
                out.append(json.loads(p))
            except ValueError:
                pass
        return out

    def last_state(self, dev):
        s = self.docs("/d/%s/state" % dev)
        return s[-1] if s else None

    def stop(self):
        self.proc.kill()


# ---------------------------------------------------------------- the agent

AGENTS = []


class Agent:
    def __init__(self, mgr, name="dev-1", extra=()):
        AGENTS.append(self)
        self.mgr = mgr
        self.name = name
        self.state = os.path.join(WORK, "state-" + name)
        self.extra = list(extra)
        self.proc = None
        self.log = []

    def start(self, enrol=True, token=None):
        args = [BIN, "agent", "--state-dir", self.state, "--log-level", "debug",
                "--name", self.name] + self.extra
        if enrol:
            args += ["--manager", "http://127.0.0.1:%d" % self.mgr.port, "--token",
                     token or self.mgr.token]
        self.log = []
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, cwd=WORK)
        _procs.append(self.proc)
        self.reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self.reader.start()

    def _read(self, proc):
        for line in proc.stderr:
            self.log.append(line.rstrip("\n"))
            if os.environ.get("FLEET_TEST_VERBOSE"):
                print("  agent:", line.rstrip("\n"))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise Fail("agent did not stop on SIGTERM")
        rc = self.proc.returncode
        self.reader.join(10)  # everything it wrote, sanitizer reports included
        bad = [l for l in self.log if "ERROR: AddressSanitizer" in l or "runtime error" in l
               or "LeakSanitizer" in l]
        if bad:
            raise Fail("sanitizer: " + "\n".join(self.log[-40:]))
        return rc

    def tail(self):
        rc = self.proc.poll() if self.proc else None
        return "exit status %s\n" % rc + "\n".join(self.log[-30:])


# ---------------------------------------------------------------- flows

def broker_node(port):
    return {"id": "b1", "type": "mqtt-broker", "broker": "127.0.0.1", "port": str(port),
            "clientid": "", "autoConnect": True, "usetls": False, "protocolVersion": "4",
            "keepalive": "60", "cleansession": True}


def flows(port, dev, once_topic="test/once", extra=(), tick=None):
    """inject(once) -> env LIMIT -> mqtt out; inject(once) -> file in data.txt -> mqtt out."""
    nodes = [{"id": "t1", "type": "tab", "label": "main"}, broker_node(port),
             {"id": "once", "type": "inject", "z": "t1", "once": True, "onceDelay": "0.1",
              "repeat": "", "props": [{"p": "payload"}], "payload": "LIMIT",
              "payloadType": "env", "topic": "", "wires": [["out1"]]},
             {"id": "out1", "type": "mqtt out", "z": "t1", "topic": "%s/%s" % (once_topic, dev),
              "qos": "1", "retain": "false", "broker": "b1", "wires": []},
             {"id": "rd", "type": "inject", "z": "t1", "once": True, "onceDelay": "0.1",
              "repeat": "", "props": [{"p": "payload"}], "payload": "", "payloadType": "date",
              "topic": "", "wires": [["fin"]]},
             {"id": "fin", "type": "file in", "z": "t1", "filename": "data.txt",
              "filenameType": "str", "format": "utf8", "wires": [["out2"]]},
             {"id": "out2", "type": "mqtt out", "z": "t1", "topic": "test/file/" + dev, "qos": "1",
              "retain": "false", "broker": "b1", "wires": []}]
    if tick:
        nodes.append({"id": "tick", "type": "inject", "z": "t1", "once": True,
                      "onceDelay": "0.1", "repeat": "0.2", "props": [{"p": "payload"}],
                      "payload": "", "payloadType": "date", "topic": "", "wires": [["bad"]]})
        nodes.append({"id": "bad", "type": "change", "z": "t1",
                      "rules": [{"t": "set", "p": "payload", "pt": "msg",
                                 "to": tick, "tot": "jsonata"}], "wires": [[]]})
    nodes += list(extra)
    return json.dumps(nodes).encode()


def state_ok(w, dev, sid, seq, health="healthy", status="applied"):
    def f():
        s = w.last_state(dev)
        return s if (s and s.get("online") and s.get("snapshot") == sid and
                     s.get("health") == health and (s.get("result") or {}).get("seq") == seq and
                     s["result"].get("status") == status) else None
    return f


def setup(name, dev="dev-1"):
    broker = Broker(WORK, "broker-" + name)
    mgr = Manager(broker.port)
    w = Watch(broker.port, [PREFIX + "/d/+/state", PREFIX + "/d/+/hb", PREFIX + "/d/+/resp",
                            "test/#"])
    ag = Agent(mgr, dev)
    return broker, mgr, w, ag


def deploy_first(mgr, w, ag, dev, files, env, health=1):
    sid, doc = mgr.desired(dev, files, env, health=health)
    mgr.send(dev, "desired", doc)
    wait_for(state_ok(w, dev, sid, doc["seq"]), 20, "snapshot %s… running healthy" % sid[:8])
    return sid, doc


# ---------------------------------------------------------------- cases

def case_mqtt_client():
    broker = Broker(WORK, "broker")
    r = subprocess.run([TOOL, "mqtt-selftest", "tcp://127.0.0.1:%d" % broker.port],
                       capture_output=True, text=True, timeout=60)
    print(r.stdout, r.stderr)
    check(r.returncode == 0, "fleet_mqtt self-test against mosquitto")


def case_deploy():
    broker, mgr, w, ag = setup("deploy")
    dev = "dev-1"
    ag.start()
    wait_for(lambda: mgr.enrolments, 10, "agent enrolled")
    e = mgr.enrolments[0]
    check(e["name"] == dev and len(base64.b64decode(e["publicKey"])) == 32,
          "enrolment carries the name and a 32-byte public key")
    wait_for(lambda: os.path.exists(os.path.join(ag.state, "enrolment.json")), 10,
             "enrolment answer kept")
    for f in ("device.key", "enrolment.json"):
        mode = stat.S_IMODE(os.stat(os.path.join(ag.state, f)).st_mode)
        check(mode == 0o600, "%s has mode 0600" % f)
    wait_for(lambda: (w.last_state(dev) or {}).get("online") is True, 10,
             "online state published")
    s0 = w.last_state(dev)
    check(s0["snapshot"] is None and s0["health"] == "none" and s0["result"] is None,
          "no snapshot before the first desired document")
    files = {"flows.json": flows(broker.port, dev), "data.txt": b"hello from the snapshot"}
    sid, doc = deploy_first(mgr, w, ag, dev, files, {"LIMIT": "40"})
    wait_for(lambda: "40" in w.on("test/once/" + dev), 10, "env LIMIT reaches the flow")
    wait_for(lambda: "hello from the snapshot" in w.on("test/file/" + dev), 10,
             "relative file path resolves in the snapshot directory")
    states = [s["result"]["status"] for s in w.docs("/d/%s/state" % dev) if s.get("result")]
    check("fetching" in states and "applied" in states, "state went fetching -> applied")
    cur = os.path.join(ag.state, "current.json")
    check(os.path.exists(cur) and json.load(open(cur))["sig"], "current.json keeps the envelope")
    hb = wait_for(lambda: [h for h in w.docs("/d/%s/hb" % dev)
                           if h.get("snapshot") == sid and h["health"] == "healthy"],
                  10, "heartbeat with the running snapshot")[-1]
    check(hb["rss"] > 0 and hb["msgs"] >= 2 and hb["errors"] == 0 and hb["cpu"] >= 0,
          "heartbeat reports rss, msgs and errors (%s)" % json.dumps(hb))
    # commands
    seq = mgr.next_seq()
    mgr.send(dev, "cmd", {"type": "cmd", "device": dev, "seq": seq, "id": "c-1", "cmd": "ping",
                          "args": {}}, retain=False)
    r = wait_for(lambda: [d for d in w.docs("/d/%s/resp" % dev) if d["id"] == "c-1"], 10,
                 "ping answered")[0]
    check(r["ok"] and r["result"]["pong"] is True, "ping result")
    seq = mgr.next_seq()
    mgr.send(dev, "cmd", {"type": "cmd", "device": dev, "seq": seq, "id": "c-2", "cmd": "logs",
                          "args": {"lines": 5}}, retain=False)
    r = wait_for(lambda: [d for d in w.docs("/d/%s/resp" % dev) if d["id"] == "c-2"], 10,
                 "logs answered")[0]
    check(r["ok"] and 0 < len(r["result"]["lines"]) <= 5, "logs returns at most 5 lines")
    n_once = len(w.on("test/once/" + dev))
    seq = mgr.next_seq()
    mgr.send(dev, "cmd", {"type": "cmd", "device": dev, "seq": seq, "id": "c-3",
                          "cmd": "restart"}, retain=False)
    wait_for(lambda: [d for d in w.docs("/d/%s/resp" % dev) if d["id"] == "c-3" and d["ok"]],
             10, "restart answered")
    wait_for(lambda: len(w.on("test/once/" + dev)) > n_once, 10,
             "restart started the flows again (inject once fired)")
    # a replayed command is ignored
    raw = mgr.sign({"type": "cmd", "device": dev, "seq": seq, "id": "c-4", "cmd": "ping"})
    mgr.send(dev, "cmd", raw=raw, retain=False)
    time.sleep(1.0)
    check(not [d for d in w.docs("/d/%s/resp" % dev) if d["id"] == "c-4"],
          "a command with an old seq is ignored")
    check(ag.stop() == 0, "agent stops with status 0 on SIGTERM")
    wait_for(lambda: (w.last_state(dev) or {}).get("online") is False, 10,
             "offline state published at a clean stop")
    w.stop()


def case_refuse():
    broker, mgr, w, ag = setup("refuse")
    dev = "dev-1"
    ag.start()
    files_a = {"flows.json": flows(broker.port, dev), "data.txt": b"version A"}
    sid_a, doc_a = deploy_first(mgr, w, ag, dev, files_a, {"LIMIT": "1"})
    env_a = mgr.sign(doc_a)
    n_gets = len(mgr.gets)
    model = os.urandom(5000)
    files_b = {"flows.json": flows(broker.port, dev, extra=[
        {"id": "n9", "type": "comment", "z": "t1", "name": "b", "wires": []}]),
        "data.txt": b"version A", "models/m.bin": model}
    # 1. tampered signature
    sid_b, doc_b = mgr.desired(dev, files_b, {"LIMIT": "1"})
    env = json.loads(mgr.sign(doc_b))
    env["signed"] = env["signed"].replace('"LIMIT":"1"', '"LIMIT":"2"')
    mgr.send(dev, "desired", raw=json.dumps(env).encode())
    wait_for(lambda: ((w.last_state(dev) or {}).get("result") or {}).get("status") == "rejected",
             10, "tampered signature rejected")
    s = w.last_state(dev)
    check("signature" in s["result"]["reason"] and s["snapshot"] == sid_a,
          "reason names the signature; snapshot A still runs")
    check(len(mgr.gets) == n_gets, "nothing fetched for a tampered document")
    # 2. a document for another device
    _, doc_x = mgr.desired("dev-x", files_b, {"LIMIT": "1"})
    mgr.send(dev, "desired", doc_x)
    wait_for(lambda: (w.last_state(dev) or {}).get("result", {}).get("seq") == doc_x["seq"], 10,
             "another device's document reported")
    s = w.last_state(dev)
    check(s["result"]["status"] == "rejected" and "dev-x" in s["result"]["reason"] and
          s["snapshot"] == sid_a, "wrong device rejected, A still runs")
    # 3. a file whose bytes do not match its hash
    bad_files = dict(files_b)
    bad_files["models/m.bin"] = model + b"x"
    sid_c, doc_c = mgr.desired(dev, bad_files, {"LIMIT": "1"})
    sha_c = [f for f in doc_c["snapshot"]["files"] if f["path"] == "models/m.bin"][0]["sha256"]
    mgr.blobs[sha_c] = model + b"y"  # same size, other bytes
    mgr.send(dev, "desired", doc_c)
    wait_for(lambda: (w.last_state(dev) or {}).get("result", {}).get("seq") == doc_c["seq"] and
             w.last_state(dev)["result"]["status"] == "rejected", 10, "wrong hash rejected")
    check("sha256" in w.last_state(dev)["result"]["reason"] and
          w.last_state(dev)["snapshot"] == sid_a, "reason names the hash; A still runs")
    check(not os.path.exists(os.path.join(ag.state, "files", sha_c)) and
          not os.path.exists(os.path.join(ag.state, "files", sha_c + ".part")),
          "the bad file is not kept")
    # 4. a snapshot id that does not match its files
    _, doc_d = mgr.desired(dev, files_b, {"LIMIT": "1"})
    doc_d["snapshot"]["id"] = "e" * 64
    mgr.send(dev, "desired", doc_d)
    wait_for(lambda: (w.last_state(dev) or {}).get("result", {}).get("seq") == doc_d["seq"] and
             w.last_state(dev)["result"]["status"] == "rejected", 10, "wrong snapshot id rejected")
    # 5. B for real: only missing files are fetched
    n_gets = len(mgr.gets)
    sid_b, doc_b = mgr.desired(dev, files_b, {"LIMIT": "1"})
    mgr.send(dev, "desired", doc_b)
    wait_for(state_ok(w, dev, sid_b, doc_b["seq"]), 20, "snapshot B applied and healthy")
    fetched = mgr.gets[n_gets:]
    sha_flows_b = hashlib.sha256(files_b["flows.json"]).hexdigest()
    # B's flows.json was fetched in the refused attempt too: kept (verified) when its download
    # ended before the bad model's, cancelled otherwise; data.txt is A's and is never fetched
    sha_model = hashlib.sha256(model).hexdigest()
    check(sorted(fetched) in ([sha_model], sorted([sha_model, sha_flows_b])),
          "only missing files were fetched (%s)" % fetched)
    check(mgr.gets.count(hashlib.sha256(b"version A").hexdigest()) == 1,
          "the file B shares with A was not downloaded again")
    check(open(os.path.join(ag.state, "snapshots", sid_b, "models", "m.bin"), "rb").read() == model,
          "the model is in the snapshot directory under its path")
    # 6. replay of A's older envelope: ignored
    mgr.send(dev, "desired", raw=env_a)
    time.sleep(1.5)
    s = w.last_state(dev)
    check(s["snapshot"] == sid_b and s["result"]["seq"] == doc_b["seq"],
          "a replayed older desired document is ignored")
    # 7. after a restart, the retained document (already applied) is not applied again
    ag.stop()
    ag.start(enrol=False)
    wait_for(state_ok(w, dev, sid_b, doc_b["seq"]), 15, "after a restart B runs again")
    check(len(mgr.gets) == n_gets + len(fetched), "nothing fetched again after the restart")
    ag.stop()
    w.stop()


def case_rollback():
    broker, mgr, w, ag = setup("rollback")
    dev = "dev-1"
    ag.start()
    files_a = {"flows.json": flows(broker.port, dev), "data.txt": b"A"}
    sid_a, doc_a = deploy_first(mgr, w, ag, dev, files_a, {"LIMIT": "1"})
    # a snapshot whose nodes keep failing: automatic rollback to A
    files_c = {"flows.json": flows(broker.port, dev, tick='$error("boom")'), "data.txt": b"A"}
    sid_c, doc_c = mgr.desired(dev, files_c, {"LIMIT": "1"}, health=3, max_errors=2)
    mgr.send(dev, "desired", doc_c)
    wait_for(lambda: (w.last_state(dev) or {}).get("result", {}).get("seq") == doc_c["seq"] and
             w.last_state(dev)["result"]["status"] == "failed", 15, "failing snapshot reported failed")
    s = w.last_state(dev)
    check(s["snapshot"] == sid_a and "node errors" in s["result"]["reason"],
          "rolled back to A by itself (%s)" % s["result"]["reason"])
    seen = [x for x in w.docs("/d/%s/state" % dev) if x.get("snapshot") == sid_c]
    check(seen and seen[-1]["health"] == "starting", "C ran as 'starting' before the rollback")
    cur = json.loads(json.load(open(os.path.join(ag.state, "current.json")))["signed"])
    check(cur["snapshot"]["id"] == sid_a, "current.json still names A")
    wait_for(lambda: w.last_state(dev)["health"] == "healthy", 5, "A healthy again")
    # a snapshot that cannot be deployed at all
    files_d = {"flows.json": json.dumps([{"id": "t1", "type": "tab"},
                                         {"id": "x", "type": "no-such-type", "z": "t1",
                                          "wires": []}]).encode()}
    sid_d, doc_d = mgr.desired(dev, files_d, {"LIMIT": "1"})
    mgr.send(dev, "desired", doc_d)
    wait_for(lambda: (w.last_state(dev) or {}).get("result", {}).get("seq") == doc_d["seq"] and
             w.last_state(dev)["result"]["status"] == "failed", 15, "undeployable snapshot failed")
    check(w.last_state(dev)["snapshot"] == sid_a, "A still runs after a refused deploy")
    # a newer document during a health window waits for the verdict on the one under watch
    files_c2 = dict(files_c, **{"data.txt": b"C2"})
    sid_c2, doc_c2 = mgr.desired(dev, files_c2, {"LIMIT": "1"}, health=2, max_errors=1000)
    mgr.send(dev, "desired", doc_c2)
    wait_for(lambda: (w.last_state(dev) or {}).get("snapshot") == sid_c2, 15,
             "C2 (errors allowed up to 1000) under watch")
    files_e = {"flows.json": flows(broker.port, dev), "data.txt": b"E"}
    sid_e, doc_e = mgr.desired(dev, files_e, {"LIMIT": "1"})
    mgr.send(dev, "desired", doc_e)
    wait_for(state_ok(w, dev, sid_e, doc_e["seq"]), 20, "E applied after C2's window")
    hist = [(x["result"]["seq"], x["result"]["status"], x["health"])
            for x in w.docs("/d/%s/state" % dev) if x.get("result")]
    check((doc_c2["seq"], "applied", "healthy") in hist,
          "C2 got its verdict (healthy) before E was applied")
    prev = json.loads(json.load(open(os.path.join(ag.state, "previous.json")))["signed"])
    check(prev["snapshot"]["id"] == sid_c2, "previous.json is C2, current.json is E")
    ag.stop()
    w.stop()


def case_nodes():
    broker, mgr, w, ag = setup("nodes")
    dev = "dev-1"
    ag.start()
    base = flows(broker.port, dev)
    sid_a, doc_a = deploy_first(mgr, w, ag, dev, {"flows.json": base, "data.txt": b"A"},
                                {"LIMIT": "1"})
    wait_for(lambda: len(w.on("test/once/" + dev)) == 1, 10, "inject once fired once")
    # B changes one unrelated node only: the inject keeps running (does not fire again)
    fb = flows(broker.port, dev, extra=[{"id": "c9", "type": "comment", "z": "t1",
                                         "name": "new", "wires": []}])
    sid_b, doc_b = mgr.desired(dev, {"flows.json": fb, "data.txt": b"A"}, {"LIMIT": "1"})
    mgr.send(dev, "desired", doc_b)
    wait_for(state_ok(w, dev, sid_b, doc_b["seq"]), 15, "B applied")
    time.sleep(0.5)
    check(len(w.on("test/once/" + dev)) == 1,
          "unchanged nodes were not restarted (inject once did not fire again)")
    # C changes the env: ${...} values are read at start, so everything restarts
    sid_c, doc_c = mgr.desired(dev, {"flows.json": fb, "data.txt": b"A"}, {"LIMIT": "2"})
    mgr.send(dev, "desired", doc_c)
    wait_for(state_ok(w, dev, sid_c, doc_c["seq"]), 15, "C applied")
    wait_for(lambda: "2" in w.on("test/once/" + dev), 10,
             "a changed env restarts the flows with the new value")
    # device overrides: snapshot.env is what the id covers, env is what runs
    sid_d, doc_d = mgr.desired(dev, {"flows.json": fb, "data.txt": b"A"},
                               {"LIMIT": "7", "EXTRA": "x"}, snap_env={"LIMIT": "2"})
    mgr.send(dev, "desired", doc_d)
    wait_for(state_ok(w, dev, sid_d, doc_d["seq"]), 15, "snapshot with device overrides applied")
    wait_for(lambda: "7" in w.on("test/once/" + dev), 10, "the device's override reaches the flow")
    check(sid_d == sid_c, "device overrides do not change the snapshot id")
    check(os.listdir(os.path.join(ag.state, "snapshots")) == [sid_c],
          "only the snapshots a rollback may need are kept")
    check(sorted(os.listdir(os.path.join(ag.state, "files"))) ==
          sorted([hashlib.sha256(fb).hexdigest(), hashlib.sha256(b"A").hexdigest()]),
          "files no kept snapshot uses are deleted")
    ag.stop()
    w.stop()


def case_boot_offline():
    broker, mgr, w, ag = setup("boot")
    dev = "dev-1"
    out = os.path.join(WORK, "boot-out.txt")
    fl = json.loads(flows(broker.port, dev))
    fl += [{"id": "bt", "type": "inject", "z": "t1", "once": True, "onceDelay": "0.1",
            "repeat": "", "props": [{"p": "payload"}], "payload": "booted", "payloadType": "str",
            "topic": "", "wires": [["fo"]]},
           {"id": "fo", "type": "file", "z": "t1", "filename": "OUT_FILE",
            "filenameType": "env", "appendNewline": True, "createDir": False,
            "overwriteFile": "false", "encoding": "none", "wires": [[]]}]
    files = {"flows.json": json.dumps(fl).encode(), "data.txt": b"A"}
    ag.start()
    sid, doc = deploy_first(mgr, w, ag, dev, files, {"LIMIT": "1", "OUT_FILE": out})
    wait_for(lambda: os.path.exists(out) and open(out).read().count("booted") == 1, 10,
             "the flow wrote its file")
    ag.stop()
    w.stop()
    broker.stop()
    mgr.httpd.shutdown()
    ag.start(enrol=False)
    wait_for(lambda: open(out).read().count("booted") == 2, 15,
             "with the broker and the manager down, the agent runs current.json from disk")
    time.sleep(1.0)
    check(ag.proc.poll() is None, "the agent keeps running without a broker")
    broker.start()
    w = Watch(broker.port, [PREFIX + "/d/+/state"])
    wait_for(lambda: (w.last_state(dev) or {}).get("online") is True and
             w.last_state(dev)["snapshot"] == sid, 20,
             "when the broker comes back the agent connects and reports the snapshot")
    # a broker restart under a connected agent: it reconnects and subscribes again
    w.stop()
    broker.stop()
    broker.start()
    w = Watch(broker.port, [PREFIX + "/d/+/state"])
    wait_for(lambda: (w.last_state(dev) or {}).get("online") is True, 20,
             "reconnected after a broker restart")
    mgr.httpd = None
    mgr2 = Manager(broker.port)  # the manager's HTTP side back, on a new port, same key
    mgr2.key, mgr2.pk, mgr2.device_token, mgr2.seq = mgr.key, mgr.pk, mgr.device_token, mgr.seq
    sid_b, doc_b = mgr2.desired(dev, dict(files, **{"data.txt": b"B"}), {"LIMIT": "1",
                                                                        "OUT_FILE": out})
    mgr2.send(dev, "desired", doc_b)
    wait_for(state_ok(w, dev, sid_b, doc_b["seq"]), 20,
             "after the reconnect a new desired document is received and applied")
    ag.stop()
    w.stop()


def case_revoked():
    broker, mgr, w, ag = setup("revoked")
    dev = "dev-1"
    ag.start()
    sid, doc = deploy_first(mgr, w, ag, dev, {"flows.json": flows(broker.port, dev),
                                              "data.txt": b"A"}, {"LIMIT": "1"})
    mgr.send(dev, "desired", {"type": "revoked", "device": dev, "seq": mgr.next_seq(),
                              "ts": int(time.time() * 1000)})
    try:
        ag.proc.wait(15)
    except subprocess.TimeoutExpired:
        raise Fail("the agent did not exit after 'revoked'")
    check(ag.proc.returncode == 3, "exit status 3 after 'revoked'")
    check(ag.stop() == 3, "no sanitizer report")
    wait_for(lambda: (w.last_state(dev) or {}).get("online") is False and
             w.last_state(dev)["snapshot"] is None, 10, "a last offline state without a snapshot")
    left = sorted(os.listdir(ag.state))
    check(left == ["device.key"], "token, snapshots and files removed (left: %s)" % left)
    w.stop()


def case_credentials():
    broker, mgr, w, ag = setup("creds")
    dev = "dev-1"
    ag.start()
    wait_for(lambda: mgr.enrolments, 10, "agent enrolled")
    pk = mgr.enrolments[0]["publicKey"]
    fl = [{"id": "t1", "type": "tab"},
          {"id": "go", "type": "inject", "z": "t1", "once": True, "onceDelay": "0.1",
           "repeat": "", "props": [{"p": "payload"}], "payload": "", "payloadType": "date",
           "topic": "", "wires": [["req1"]]},
          {"id": "req1", "type": "http request", "z": "t1", "method": "GET", "ret": "txt",
           "url": "http://127.0.0.1:%d/echo" % mgr.port, "authType": "basic", "wires": [[]]}]
    secret = "group-secret-%d" % os.getpid()
    creds = Manager.encrypt_creds(secret, {"req1": {"user": "alice", "password": "wonder"}})
    files = {"flows.json": json.dumps(fl).encode(), "flows_cred.json": creds}
    sid, doc = mgr.desired(dev, files, {}, secret=mgr.seal(pk, secret))
    mgr.send(dev, "desired", doc)
    wait_for(state_ok(w, dev, sid, doc["seq"]), 20, "snapshot with credentials applied")
    want = "Basic " + base64.b64encode(b"alice:wonder").decode()
    wait_for(lambda: want in mgr.echoes, 10,
             "flows_cred.json decrypted with the sealed credential secret")
    # sealed to another key: refused at deploy, the running snapshot stays
    other_key = os.path.join(WORK, "other.key")
    other = subprocess.run([TOOL, "keygen", other_key], check=True, capture_output=True,
                           text=True).stdout.strip()
    files2 = dict(files)
    files2["flows_cred.json"] = Manager.encrypt_creds(secret, {"req1": {"user": "bob",
                                                                         "password": "x"}})
    sid2, doc2 = mgr.desired(dev, files2, {}, secret=mgr.seal(other, secret))
    mgr.send(dev, "desired", doc2)
    wait_for(lambda: (w.last_state(dev) or {}).get("result", {}).get("seq") == doc2["seq"] and
             w.last_state(dev)["result"]["status"] == "failed", 15,
             "a secret sealed to another device fails")
    s = w.last_state(dev)
    check(s["snapshot"] == sid and "credentialSecret" in s["result"]["reason"],
          "the running snapshot stays (%s)" % s["result"]["reason"])
    ag.stop()
    w.stop()


def case_enrol():
    broker, mgr, w, ag = setup("enrol")
    # a wrong provisioning token: refused, exit status 2, nothing kept
    ag.start(token="not-a-token")
    try:
        ag.proc.wait(15)
    except subprocess.TimeoutExpired:
        raise Fail("the agent did not exit after a refused enrolment")
    check(ag.proc.returncode == 2 and not os.path.exists(os.path.join(ag.state, "enrolment.json")),
          "a refused enrolment exits with status 2 and keeps nothing")
    check(any("401" in l for l in ag.log), "the log says why (HTTP 401)")
    # a pinned manager key that is not the manager's: refused
    other = subprocess.run([TOOL, "keygen", os.path.join(WORK, "other.key")], check=True,
                           capture_output=True, text=True).stdout.strip()
    ag.extra = ["--manager-key", other]
    ag.start()
    try:
        ag.proc.wait(15)
    except subprocess.TimeoutExpired:
        raise Fail("the agent did not exit with a wrong --manager-key")
    check(ag.proc.returncode == 2 and not os.path.exists(os.path.join(ag.state, "enrolment.json")),
          "a manager key other than the pinned one is refused")
    # the right pin; the device key stays the same across attempts
    key_before = open(os.path.join(ag.state, "device.key")).read()
    ag.extra = ["--manager-key", mgr.pk]
    ag.start()
    wait_for(lambda: (w.last_state("dev-1") or {}).get("online") is True, 15,
             "enrolled and online with the pinned key")
    check(open(os.path.join(ag.state, "device.key")).read() == key_before and
          len(mgr.enrolments) == 2 and len({e["publicKey"] for e in mgr.enrolments}) == 1,
          "the device key is kept across starts")
    ag.stop()
    # a kept enrolment with a different pin: refused at start
    ag.extra = ["--manager-key", other]
    ag.start(enrol=False)
    try:
        ag.proc.wait(15)
    except subprocess.TimeoutExpired:
        raise Fail("the agent did not exit with a pin that differs from the kept key")
    check(ag.proc.returncode == 2, "a pin that differs from the kept manager key is refused")
    w.stop()


CASES = {"mqtt_client": case_mqtt_client, "deploy": case_deploy, "refuse": case_refuse,
         "rollback": case_rollback, "nodes": case_nodes, "boot_offline": case_boot_offline,
         "revoked": case_revoked, "credentials": case_credentials,
         "enrol": case_enrol}


def main():
    global BIN, TOOL, WORK
    if len(sys.argv) != 4 or (sys.argv[3] not in CASES and sys.argv[3] != "all"):
        print(__doc__)
        return 2
    BIN, TOOL = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    names = list(CASES) if sys.argv[3] == "all" else [sys.argv[3]]
    failed = 0
    for n in names:
        WORK = tempfile.mkdtemp(prefix="ef-fleet-agent-")
        AGENTS.clear()
        print("== %s" % n)
        try:
            CASES[n]()
            print("PASS %s" % n)
            shutil.rmtree(WORK, ignore_errors=True)
        except Exception as e:  # Fail, or a broken expectation of the script itself
            failed += 1
            print("FAIL %s: %s (work dir %s)" % (n, e, WORK))
            for ag in AGENTS:
                print("--- agent %s log:\n%s" % (ag.name, ag.tail()))
        finally:
            for p in _procs:
                if p.poll() is None:
                    p.kill()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
