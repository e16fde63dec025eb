"""
fleetlib.py - helpers for the fleet manager's end-to-end tests: a real
`edgeflow manager` process, its REST API, a small MQTT 3.1.1 client,
AgentDevice (a real `edgeflow agent` process) and SimDevice, a device that
speaks docs/fleet-protocol.md at the protocol level
(enrolment with an ed25519 proof, verified signed desired documents, file
downloads checked by sha256 and snapshot id, state with a last will,
heartbeats, commands, revocation). The brokers come from ../mqtt/mqttlib.py.
"""
import base64
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mqtt"))
import mqttlib  # noqa: E402
from mqttlib import Broker, free_port, wait_port  # noqa: E402,F401

from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: E402
    Ed25519PrivateKey, Ed25519PublicKey)
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.exceptions import InvalidSignature  # noqa: E402


def now_ms():
    return int(time.time() * 1000)


def wait(pred, timeout=20.0, step=0.05, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        r = pred()
        if r:
            return r
        time.sleep(step)
    raise AssertionError("timed out waiting for " + what)


# ---------------------------------------------------------------- MQTT


class Mqtt:
    """A minimal MQTT 3.1.1 client: connect (will, user/password), subscribe,
    publish QoS 0/1 (retain), a reader thread that acks QoS 1 deliveries."""

    def __init__(self, port, client_id, on_message, username=None, password=None,
                 will=None, keepalive=30):
        self.sock = socket.create_connection(("127.0.0.1", port), 5)
        self.on_message = on_message
        self.lock = threading.Lock()
        self.mid = 0
        self.closed = False
        flags = 0x02  # clean session
        payload = self._str(client_id)
        if will:
            topic, msg, qos, retain = will
            flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
            payload += self._str(topic) + self._bin(msg)
        if username is not None:
            flags |= 0x80
            payload += self._str(username)
        if password is not None:
            flags |= 0x40
            payload += self._bin(password.encode())
        var = self._str("MQTT") + bytes([4, flags]) + struct.pack(">H", keepalive)
        self._send(0x10, var + payload)
        hdr, body = self._read_packet()
        if hdr >> 4 != 2 or body[1] != 0:
            raise ConnectionRefusedError("CONNACK %r" % body)
        self.sock.settimeout(None)  # the reader waits as long as the connection lives
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        self.ping = threading.Thread(target=self._pinger, args=(keepalive,), daemon=True)
        self.ping.start()

    @staticmethod
    def _str(s):
        b = s.encode()
        return struct.pack(">H", len(b)) + b

    @staticmethod
    def _bin(b):
        return struct.pack(">H", len(b)) + b

    def _send(self, first, body):
        n = len(body)
        rl = b""
        while True:
            d = n % 128
            n //= 128
            rl += bytes([d | (0x80 if n else 0)])
            if not n:
                break
        with self.lock:
            self.sock.sendall(bytes([first]) + rl + body)

    def _recv(self, n):
        b = b""
        while len(b) < n:
            c = self.sock.recv(n - len(b))
            if not c:
                raise ConnectionError("closed")
            b += c
        return b

    def _read_packet(self):
        hdr = self._recv(1)[0]
        mult, n = 1, 0
        while True:
            d = self._recv(1)[0]
            n += (d & 0x7F) * mult
            mult *= 128
            if not d & 0x80:
                break
        return hdr, self._recv(n) if n else b""

    def _loop(self):
        try:
            while not self.closed:
                hdr, body = self._read_packet()
                if hdr >> 4 == 3:
                    qos = (hdr >> 1) & 3
                    tl = struct.unpack(">H", body[:2])[0]
                    topic = body[2:2 + tl].decode()
                    off = 2 + tl
                    if qos:
                        mid = body[off:off + 2]
                        off += 2
                        self._send(0x40, mid)
                    try:
                        self.on_message(topic, body[off:], bool(hdr & 1))
                    except Exception as e:  # a test device must not die silently
                        print("device callback failed:", repr(e), file=sys.stderr)
        except (ConnectionError, OSError):
            pass

    def _pinger(self, keepalive):
        while not self.closed:
            time.sleep(max(1, keepalive / 2))
            try:
                self._send(0xC0, b"")
            except OSError:
                return

    def subscribe(self, topic, qos=1):
        self.mid += 1
        self._send(0x82, struct.pack(">H", self.mid) + self._str(topic) + bytes([qos]))

    def publish(self, topic, payload, qos=0, retain=False):
        if isinstance(payload, str):
            payload = payload.encode()
        body = self._str(topic)
        if qos:
            self.mid += 1
            body += struct.pack(">H", self.mid)
        self._send(0x30 | (qos << 1) | (1 if retain else 0), body + payload)

    def disconnect(self, clean=True):
        """clean: DISCONNECT (no will); else the socket just drops (the will fires)."""
        self.closed = True
        try:
            if clean:
                self._send(0xE0, b"")
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


# ---------------------------------------------------------------- manager


class Manager:
    """A running `edgeflow manager` with its REST API."""

    def __init__(self, binary, workdir, broker_port, name="manager", store=None, port=None,
                 extra=()):
        self.binary = binary
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or free_port()
        self.args = [binary, "manager", "--data-dir", self.dir, "--broker",
                     "tcp://127.0.0.1:%d" % broker_port, "--port", str(self.port),
                     "--heartbeat", "1", "--log-level", "debug"] + list(extra)
        if store:
            self.args += ["--store", store]
        self.token = None
        self.start()

    def start(self):
        self.log = open(os.path.join(self.dir, "log.txt"), "a")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=self.log)
        mqttlib._procs.append(self.proc)
        if not wait_port(self.port, 10):
            raise RuntimeError("manager did not start: " + self.logtext())

    def logtext(self):
        with open(os.path.join(self.dir, "log.txt")) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        text = self.logtext()
        if "Sanitizer" in text or "runtime error:" in text:
            raise RuntimeError("manager: sanitizer report:\n" + text[-4000:])
        if sig == signal.SIGTERM and self.proc.returncode != 0:
            raise RuntimeError("manager exited with %s:\n%s" % (self.proc.returncode, text[-3000:]))

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def call(self, method, path, body=None, token=None, expect=None, raw=False):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url("/fleet/v1" + path), data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        tok = token if token is not None else self.token
        if tok:
            req.add_header("Authorization", "Bearer " + tok)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, text = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        if expect is not None and status != expect:
            raise AssertionError("%s %s: %d %s (expected %d)" % (method, path, status, text[:500],
                                                                 expect))
        if raw:
            return status, text
        return status, (json.loads(text) if text else None)

    def get(self, path, **kw):
        return self.call("GET", path, expect=kw.pop("expect", 200), **kw)[1]

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body if body is not None else {},
                         expect=kw.pop("expect", None), **kw)[1]


# ---------------------------------------------------------------- simulated device


def b64(b):
    return base64.b64encode(b).decode()


def snapshot_id(files, env):
    lines = "".join("%s %d %s\n" % (f["sha256"], f["size"], f["path"])
                    for f in sorted(files, key=lambda f: f["path"].encode()))
    lines += "env " + json.dumps(env, sort_keys=True, separators=(",", ":"),
                                 ensure_ascii=False) + "\n"
    return hashlib.sha256(lines.encode()).hexdigest()


class SimDevice:
    """A device at the protocol level (see the module comment). It reports a
    snapshot healthy after health.seconds unless its flows contain a function
    node that throws (a node that errors): then it goes back to its previous
    snapshot and reports "failed", as the agent does."""

    dev_cls_connects = True  # the test connects it after enrolment

    def __init__(self, manager, broker_port, name, token, labels=None):
        self.manager = manager
        self.broker_port = broker_port
        self.key = Ed25519PrivateKey.generate()
        self.pk = b64(self.key.public_key().public_bytes(serialization.Encoding.Raw,
                                                           serialization.PublicFormat.Raw))
        self.name = name
        self.enrol(token, labels, expect=201)
        self.mq = None
        self.running = None  # snapshot id
        self.previous = None
        self.health = "none"
        self.result = None
        self.last_seq = 0
        self.applied = []  # snapshot ids applied, in order
        self.rejected = []  # reasons
        self.env = {}
        self.stopped = False
        self.exit_status = None
        self.lock = threading.Lock()
        self.timers = []
        self.hb_stop = threading.Event()

    def enrol(self, token, labels=None, expect=201):
        msg = ("edgeflow-enrol:%s:%s" % (token, self.pk)).encode()
        body = {"token": token, "name": self.name, "publicKey": self.pk,
                "proof": b64(self.key.sign(msg)), "labels": labels or {},
                "agentVersion": "sim-1"}
        status, r = self.manager.call("POST", "/enrol", body, token="", expect=expect)
        if status == 201:
            self.id = r["deviceId"]
            self.token = r["broker"]["password"]
            self.manager_key = Ed25519PublicKey.from_public_key_bytes(
                base64.b64decode(r["managerKey"])) if hasattr(
                Ed25519PublicKey, "from_public_key_bytes") else \
                Ed25519PublicKey.from_public_bytes(base64.b64decode(r["managerKey"]))
            self.prefix = r["topicPrefix"]
            self.files_url = r["filesUrl"]
        return status, r

    def topic(self, kind):
        return "%s/d/%s/%s" % (self.prefix, self.id, kind)

    def state_doc(self, online=True):
        return json.dumps({"type": "state", "device": self.id, "online": online, "ts": now_ms(),
                           "version": "sim-1", "snapshot": self.running, "health": self.health,
                           "result": self.result})

    # -- connection

    def connect(self):
        self.stopped = False
        self.mq = Mqtt(self.broker_port, self.id, self._message, username=self.id,
                       password=self.token,
                       will=(self.topic("state"), self.state_doc(False).encode(), 1, True))
        self.mq.subscribe(self.topic("desired"), 1)
        self.mq.subscribe(self.topic("cmd"), 1)
        self.publish_state()
        self.hb_stop.clear()
        threading.Thread(target=self._hb, daemon=True).start()

    def go_offline(self):
        """Drops the connection without DISCONNECT: the broker publishes the will."""
        self.hb_stop.set()
        if self.mq:
            self.mq.disconnect(clean=False)
            self.mq = None

    def publish_state(self):
        if self.mq:
            self.mq.publish(self.topic("state"), self.state_doc(True), qos=1, retain=True)

    def _hb(self):
        start = time.time()
        while not self.hb_stop.wait(1.0):
            mq = self.mq
            if not mq:
                return
            try:
                mq.publish(self.topic("hb"), json.dumps({
                    "type": "hb", "device": self.id, "ts": now_ms(),
                    "uptime": int(time.time() - start), "snapshot": self.running,
                    "health": self.health, "cpu": 0.5, "rss": 4000000, "msgs": 10, "errors": 0}))
            except OSError:
                return

    # -- documents

    def _open(self, payload):
        env = json.loads(payload)
        signed = env["signed"]
        try:
            self.manager_key.verify(base64.b64decode(env["sig"]), signed.encode())
        except InvalidSignature:
            return None
        return json.loads(signed)

    def _message(self, topic, payload, retained):
        if self.stopped or not payload:
            return
        doc = self._open(payload)
        if doc is None:
            with self.lock:
                self.rejected.append("bad signature")
                self.result = {"seq": self.last_seq, "snapshot": None, "status": "rejected",
                               "reason": "signature does not verify"}
            self.publish_state()
            return
        if doc.get("device") != self.id or doc.get("seq", 0) <= self.last_seq:
            return
        self.last_seq = doc["seq"]
        if doc["type"] == "revoked":
            self.stopped = True
            self.running = None
            self.health = "none"
            self.publish_state()
            self.hb_stop.set()
            self.exit_status = 3
            time.sleep(0.1)
            mq, self.mq = self.mq, None
            if mq:
                mq.disconnect(clean=True)
            return
        if doc["type"] == "cmd":
            self.mq.publish(self.topic("resp"), json.dumps({
                "type": "resp", "device": self.id, "id": doc["id"], "ok": True,
                "result": {"pong": True} if doc["cmd"] == "ping" else {"cmd": doc["cmd"]}}),
                qos=1)
            return
        if doc["type"] == "desired":
            threading.Thread(target=self._apply, args=(doc,), daemon=True).start()

    def _fetch(self, f):
        req = urllib.request.Request(self.files_url + f["sha256"])
        req.add_header("Authorization", "Bearer " + self.token)
        with urllib.request.urlopen(req, timeout=10) as r:
            data = r.read()
        if len(data) != f["size"] or hashlib.sha256(data).hexdigest() != f["sha256"]:
            raise ValueError("file %s does not match its hash" % f["path"])
        return data

    def _report(self, seq, snap, status, reason=None):
        with self.lock:
            self.result = {"seq": seq, "snapshot": snap, "status": status, "reason": reason}
        self.publish_state()

    def _apply(self, doc):
        seq, snap = doc["seq"], doc["snapshot"]
        sid = snap["id"]
        self.env = doc.get("env", {})
        if sid == self.running:
            self._report(seq, sid, "applied")
            return
        self._report(seq, sid, "fetching")
        try:
            files = {f["path"]: self._fetch(f) for f in snap["files"]}
            if snapshot_id(snap["files"], snap.get("env", doc.get("env", {}))) != sid:
                raise ValueError("snapshot id does not match its files")
        except Exception as e:  # noqa: BLE001
            self.rejected.append(str(e))
            self._report(seq, sid, "rejected", str(e))
            return
        flows = json.loads(files["flows.json"])
        self.previous, self.running = self.running, sid
        self.health = "starting"
        self._report(seq, sid, "applying")
        bad = any(n.get("type") == "function" and "throw" in n.get("func", "") for n in flows)
        time.sleep(min(doc["health"]["seconds"], 1.0) if bad else doc["health"]["seconds"])
        if self.last_seq != seq:
            return  # a newer desired document took over
        if bad:
            self.running, self.health = self.previous, "healthy" if self.previous else "none"
            self._report(seq, sid, "failed", "3 node errors (limit %d)" %
                         doc["health"]["maxErrors"])
            return
        self.health = "healthy"
        self.applied.append(sid)
        self._report(seq, sid, "applied")


# ---------------------------------------------------------------- real agent


class AgentDevice:
    """A real `edgeflow agent` process with the same face as SimDevice for the tests: it
    enrols with a provisioning token, and what it runs is read from the state it publishes
    (watched with a subscription to its retained state topic)."""

    dev_cls_connects = False  # the process connects by itself
    watch_auth = (None, None)  # broker credentials of the state watcher (dynsec tests)

    def __init__(self, manager, broker_port, name, token, labels=None):
        self.manager = manager
        self.broker_port = broker_port
        self.name = name
        self.dir = os.path.join(manager.dir, "..", "agent-" + name)
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None
        self.running = None
        self.health = None
        self.result = None
        self.applied = []
        self.rejected = []
        self.env = {}
        self.exit_status = None
        self.enrol_token = token
        self.connect()
        wait(lambda: os.path.exists(os.path.join(self.dir, "enrolment.json")), 20,
             what="agent %s enrolled" % name)
        with open(os.path.join(self.dir, "enrolment.json")) as f:
            e = json.load(f)
        self.id = e["deviceId"]
        self.token = e["broker"]["password"]
        self.prefix = e["topicPrefix"]
        self.watch = Mqtt(broker_port, "watch-" + self.id, self._state,
                          username=self.watch_auth[0], password=self.watch_auth[1])
        self.watch.subscribe("%s/d/%s/state" % (self.prefix, self.id), 1)

    def _state(self, topic, payload, retained):
        if not payload:
            return
        s = json.loads(payload)
        if not s.get("online"):
            return
        self.running, self.health, self.result = s.get("snapshot"), s.get("health"), \
            s.get("result")
        if self.health == "healthy" and self.running and self.running not in self.applied:
            self.applied.append(self.running)
        r = self.result or {}
        if r.get("status") == "rejected" and r.get("reason") not in self.rejected:
            self.rejected.append(r.get("reason"))

    def connect(self):
        args = [self.manager.binary, "agent", "--state-dir", self.dir, "--name", self.name,
                "--manager", self.manager.url(""), "--token", self.enrol_token,
                "--log-level", "debug"]
        self.log = open(os.path.join(self.dir, "log.txt"), "a")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        mqttlib._procs.append(self.proc)
        threading.Thread(target=self._reap, args=(self.proc,), daemon=True).start()

    def _reap(self, proc):
        rc = proc.wait()
        if proc is self.proc:
            self.exit_status = rc

    def go_offline(self):
        """SIGKILL: the connection drops and the broker publishes the agent's will."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.watch.disconnect()
        with open(os.path.join(self.dir, "log.txt")) as f:
            text = f.read()
        if "Sanitizer" in text or "runtime error:" in text:
            raise RuntimeError("agent %s: sanitizer report:\n%s" % (self.name, text[-4000:]))

    def enrol(self, token, labels=None, expect=201):
        """Enrols again with the agent's own key (read from its key file) through the API."""
        with open(os.path.join(self.dir, "device.key")) as f:
            sk = base64.b64decode(f.read().strip())
        key = Ed25519PrivateKey.from_private_bytes(sk[:32])
        pk = b64(key.public_key().public_bytes(serialization.Encoding.Raw,
                                               serialization.PublicFormat.Raw))
        msg = ("edgeflow-enrol:%s:%s" % (token, pk)).encode()
        body = {"token": token, "name": self.name, "publicKey": pk,
                "proof": b64(key.sign(msg))}
        return self.manager.call("POST", "/enrol", body, token="", expect=expect)
