#!/usr/bin/env python3
"""
fleet_test.py - end-to-end tests of `edgeflow manager`: a real mosquitto on a
free loopback port, a real manager process driven over its REST API, and
devices: real `edgeflow agent` processes (cases ending in _agent) or
protocol-level devices (fleetlib.SimDevice) that enrol, verify signatures,
fetch files and report state and heartbeats over MQTT. Cases ending in _pg
use a real PostgreSQL store started on a loopback port.

usage: fleet_test.py EDGEFLOW CASE    (CASE: see CASES below, + _agent or _pg)
"""
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from fleetlib import AgentDevice, Broker, Manager, SimDevice, free_port, wait
import mqttlib

FLOWS_V1 = [{"id": "t1", "type": "tab", "label": "line"},
            {"id": "i1", "type": "inject", "z": "t1", "repeat": "1", "wires": [["d1"]]},
            {"id": "d1", "type": "debug", "z": "t1", "wires": []}]


def flows_v(n, bad=False):
    f = [dict(x) for x in FLOWS_V1]
    f[0]["label"] = "line v%d" % n
    if bad:
        # a node that errors on every message, five times a second
        f.append({"id": "i2", "type": "inject", "z": "t1", "repeat": "0.2", "once": True,
                  "onceDelay": 0.1, "wires": [["e1"]]})
        f.append({"id": "e1", "type": "function", "z": "t1",
                  "func": "throw new Error('broken');", "outputs": 1, "wires": [[]]})
    return f


class Env:
    def __init__(self, binary, store=None, device=SimDevice, dynsec=False):
        self.dev_cls = device
        self.dir = tempfile.mkdtemp(prefix="fleet-test-")
        extra, margs = (), ()
        if dynsec:
            extra, margs = dynsec_setup(self.dir)
            AgentDevice.watch_auth = ("admin", "adminpw")
        self.broker = Broker(self.dir, "broker", extra=extra)
        self.binary = binary
        self.mgr = Manager(binary, self.dir, self.broker.port, store=store, extra=margs)
        self.mgr.post("/groups", {"name": "line-1", "env": {"LIMIT": "40"}}, expect=201)
        self.devices = []

    def token(self, uses=100, **kw):
        body = {"group": "line-1", "uses": uses}
        body.update(kw)
        return self.mgr.post("/provisioning-tokens", body, expect=201)["token"]

    def add_devices(self, n, online=True):
        tok = self.token()
        for i in range(n):
            d = self.dev_cls(self.mgr, self.broker.port, "dev-%d" % (len(self.devices) + 1), tok)
            if online and d.dev_cls_connects:
                d.connect()
            self.devices.append(d)
        if online:
            ids = {d.id for d in self.devices}
            wait(lambda: ids <= {x["id"] for x in self.mgr.get("/devices") if x["online"]},
                 what="devices online")
        return self.devices

    def snapshot(self, n, bad=False, **kw):
        body = {"group": "line-1", "description": "v%d" % n, "flows": flows_v(n, bad)}
        body.update(kw)
        return self.mgr.post("/snapshots", body, expect=201)

    def rollout(self, snap, **kw):
        body = {"group": "line-1", "snapshot": snap["id"], "healthSeconds": 1, "waveTimeout": 30}
        body.update(kw)
        return self.mgr.post("/rollouts", body, expect=201)

    def wait_rollout(self, rid, state, timeout=30):
        return wait(lambda: (lambda r: r if r["state"] == state else None)(
            self.mgr.get("/rollouts/" + rid)), timeout, what="rollout %s %s" % (rid, state))

    def close(self, ok):
        for d in self.devices:
            if isinstance(d, AgentDevice):
                d.stop()
            else:
                d.go_offline()
        self.mgr.stop()
        self.broker.stop()
        if ok:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print("kept", self.dir, file=sys.stderr)
            print(self.mgr.logtext()[-4000:], file=sys.stderr)


DYNSEC_SO = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"


def dynsec_setup(workdir):
    """A dynamic security config with an admin client that may do everything (the manager)."""
    conf = os.path.join(workdir, "dynsec.json")
    subprocess.run(["mosquitto_ctrl", "dynsec", "init", conf, "admin", "adminpw"], check=True,
                   capture_output=True)
    with open(conf) as f:
        d = json.load(f)
    for r in d["roles"]:
        if r["rolename"] == "admin":
            for t in ("publishClientSend", "publishClientReceive", "subscribePattern"):
                r["acls"].append({"acltype": t, "topic": "#", "priority": 0, "allow": True})
    with open(conf, "w") as f:
        json.dump(d, f)
    return (["allow_anonymous false", "plugin " + DYNSEC_SO, "plugin_opt_config_file " + conf],
            ["--dynsec", "--broker-user", "admin", "--broker-password", "adminpw"])


def dynsec(e):
    """--dynsec: every enrolled device gets a broker client of its own (its id and token) that
    may use only its own topics; revoking it deletes the client."""
    devs = e.add_devices(2)
    s1 = e.snapshot(1)
    e.wait_rollout(e.rollout(s1, strategy="all")["id"], "completed")
    assert all(d.running == s1["id"] for d in devs)
    port = e.broker.port
    # without credentials, nothing
    st = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", "x",
                         "-m", "1"], capture_output=True, timeout=10)
    assert st.returncode != 0
    # dev-1's identity cannot overwrite dev-2's retained desired state
    a, b = devs
    st = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-u", a.id, "-P",
                         a.token, "-i", a.id, "-q", "1", "-r", "-t",
                         "edgeflow/v1/d/%s/desired" % b.id, "-m", "forged"],
                        capture_output=True, timeout=10)
    assert st.returncode == 0, st.stderr  # MQTT 3.1.1: a refused publish is dropped quietly
    got = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-u", "admin",
                          "-P", "adminpw", "-t", "edgeflow/v1/d/%s/desired" % b.id, "-C", "1",
                          "-W", "5"], capture_output=True, text=True, timeout=10).stdout
    assert got.startswith('{"v":1,"signed"'), got
    wait(lambda: a.running == s1["id"] and a.health == "healthy", what="dev-1 back")
    # revoked: the agent stops, and its broker identity goes
    e.mgr.post("/devices/%s/revoke" % a.id, expect=200)
    wait(lambda: a.exit_status == 3, what="agent stops")

    def refused():
        r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-u", a.id,
                            "-P", a.token, "-i", a.id, "-t", "edgeflow/v1/d/%s/hb" % a.id,
                            "-m", "{}"], capture_output=True, text=True, timeout=10)
        return r.returncode != 0
    wait(refused, 15, 0.5, what="broker refuses the revoked device")
    # the other device still works
    resp = e.mgr.post("/devices/%s/commands" % b.id, {"cmd": "ping"}, expect=200)
    assert resp["ok"] is True, resp
    assert "dynamic security" not in e.mgr.logtext()


def deploy_all(e):
    """Every device runs the first snapshot; then a second one reaches all at once."""
    devs = e.add_devices(3)
    s1 = e.snapshot(1)
    r = e.rollout(s1, strategy="all")
    assert r["state"] == "running" and len(r["devices"]) == 3, r
    r = e.wait_rollout(r["id"], "completed")
    assert all(d["status"] == "healthy" for d in r["devices"]), r
    assert all(d.running == s1["id"] for d in devs)
    listed = {x["id"]: x for x in e.mgr.get("/devices")}
    wait(lambda: all(x["snapshot"] == s1["id"] and x["health"] == "healthy"
                     for x in e.mgr.get("/devices")), what="device list updated")
    # heartbeats reach the device list
    wait(lambda: all(x["rss"] > 0 and x["lastSeen"] > 0 for x in e.mgr.get("/devices")),
         what="heartbeats")
    assert set(listed) == {d.id for d in devs}
    # the same snapshot again is not a new one
    st, again = e.mgr.call("POST", "/snapshots", {"group": "line-1", "description": "v1 again",
                                                  "flows": flows_v(1)})
    assert st == 200 and again["id"] == s1["id"], (st, again)
    # per-device env overrides the group env; the device gets the same snapshot with it
    seq = e.mgr.get("/devices/" + devs[0].id)["desiredSeq"]
    e.mgr.call("PATCH", "/devices/" + devs[0].id, {"env": {"LIMIT": "55"}}, expect=200)
    wait(lambda: e.mgr.get("/devices/" + devs[0].id)["desiredSeq"] > seq, what="env resent")
    if isinstance(devs[0], SimDevice):
        wait(lambda: devs[0].env.get("LIMIT") == "55", what="env override")
        assert devs[1].env.get("LIMIT") == "40"
    # the device keeps running the same snapshot with its new env
    wait(lambda: (e.mgr.get("/devices/" + devs[0].id)["result"] or {}).get("seq", 0) > seq and
         devs[0].running == s1["id"] and devs[0].health == "healthy", what="env applied")
    s2 = e.snapshot(2)
    r2 = e.rollout(s2, strategy="all")
    e.wait_rollout(r2["id"], "completed")
    assert all(d.running == s2["id"] for d in devs)
    g = e.mgr.get("/groups/line-1")
    assert g["snapshot"]["id"] == s2["id"] and g["snapshot"]["version"] == 2, g
    # a new device of the group gets the group's current snapshot at enrolment
    d4 = e.dev_cls(e.mgr, e.broker.port, "late", e.token())
    if d4.dev_cls_connects:
        d4.connect()
    e.devices.append(d4)
    wait(lambda: d4.running == s2["id"], what="new device catches up")
    # the manager's presence is retained
    p = mqttlib.sub(e.broker.port, "edgeflow/v1/manager", 1, fmt="%p")
    out = p.communicate(timeout=15)[0].decode()
    assert '"online":true' in out, out
    # the audit log names who did what
    actions = [a["action"] for a in e.mgr.get("/audit?limit=50")]
    for a in ("group.create", "token.create", "device.enrol", "snapshot.create",
              "rollout.start", "device.update"):
        assert a in actions, (a, actions)


def waves(e):
    """Canary first, then growing waves; nobody of a later wave updates before the one before."""
    devs = e.add_devices(5)
    s1 = e.snapshot(1)
    e.wait_rollout(e.rollout(s1, strategy="all")["id"], "completed")
    s2 = e.snapshot(2)
    # started with the CLI (edgeflow fleet, a client of the REST API)
    out = subprocess.run([e.binary, "fleet", "rollout-start", "line-1", "latest", "--waves",
                          "1,40%,100%", "--health-seconds", "2", "--wave-timeout", "30",
                          "--url", e.mgr.url(""), "--json"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["snapshot"] == s2["id"] and r["healthSeconds"] == 2, r
    rid = r["id"]
    waves_of = {d["id"]: d["wave"] for d in r["devices"]}
    # sorted by id; 40% of 5 is 2 devices in all, 100% the rest
    assert waves_of == {"dev-1": 0, "dev-2": 1, "dev-3": 2, "dev-4": 2, "dev-5": 2}, waves_of
    # while the canary is updating, the others have not been sent anything
    time.sleep(0.8)
    cur = e.mgr.get("/rollouts/" + rid)
    st = {d["id"]: d["status"] for d in cur["devices"]}
    assert st["dev-1"] == "updating", st
    assert all(st[x] == "waiting" for x in st if x != "dev-1"), st
    assert all(d.running == s1["id"] for d in devs[1:])
    # the second wave starts only once the canary is healthy
    wait(lambda: {d["id"]: d["status"] for d in e.mgr.get("/rollouts/" + rid)["devices"]}
         ["dev-2"] != "waiting", what="wave 2")
    mid = {d["id"]: d["status"] for d in e.mgr.get("/rollouts/" + rid)["devices"]}
    assert mid["dev-1"] == "healthy", mid
    assert all(mid[x] == "waiting" for x in ("dev-3", "dev-4", "dev-5")), mid
    r = e.wait_rollout(rid, "completed")
    assert all(d["status"] == "healthy" for d in r["devices"]), r
    assert all(d.running == s2["id"] for d in devs)


def bad_canary(e):
    """A snapshot whose nodes error fails health on the canary: the rollout stops, the canary
    goes back to its previous snapshot, nobody else is updated."""
    devs = e.add_devices(4)
    s1 = e.snapshot(1)
    e.wait_rollout(e.rollout(s1, strategy="all")["id"], "completed")
    bad = e.snapshot(2, bad=True)
    r = e.rollout(bad, strategy="waves")
    r = e.wait_rollout(r["id"], "rolledback")
    st = {d["id"]: d for d in r["devices"]}
    assert st["dev-1"]["status"] == "rolledback", st
    assert all(st[x]["status"] == "waiting" for x in st if x != "dev-1"), st
    assert "dev-1" in r["reason"], r
    wait(lambda: devs[0].running == s1["id"] and devs[0].health == "healthy",
         what="canary back on v1")
    assert all(d.running == s1["id"] for d in devs)
    assert all(bad["id"] not in d.applied for d in devs)
    # the canary's desired state is v1 again (retained for its next start)
    info = e.mgr.get("/devices/dev-1")
    assert info["desiredSnapshot"] == s1["id"], info
    # a bad rollout does not block the next one
    s3 = e.snapshot(3)
    e.wait_rollout(e.rollout(s3, strategy="all")["id"], "completed")


def tampered(e):
    """A desired document with a broken signature, published straight to the broker, is
    refused: the device reports it rejected and keeps running what it ran."""
    devs = e.add_devices(1)
    d = devs[0]
    s1 = e.snapshot(1)
    e.wait_rollout(e.rollout(s1, strategy="all")["id"], "completed")
    doc = {"type": "desired", "device": d.id, "seq": 999, "ts": 1,
           "snapshot": {"id": "0" * 64, "version": 9, "group": "line-1", "files": []},
           "env": {}, "health": {"seconds": 1, "maxErrors": 0}, "heartbeat": 1,
           "filesUrl": "http://127.0.0.1:1/", "rollout": None}
    signed = json.dumps(doc)
    sig = base64.b64encode(b"\x01" * 64).decode()
    mqttlib.pub(e.broker.port, "edgeflow/v1/d/%s/desired" % d.id,
                json.dumps({"v": 1, "signed": signed, "sig": sig}), qos=1)
    wait(lambda: d.rejected, what="rejection")
    assert d.running == s1["id"]
    wait(lambda: (e.mgr.get("/devices/" + d.id)["result"] or {}).get("status") == "rejected",
         what="manager sees the rejection")


def offline(e):
    """A device offline during the rollout does not hold it up; it catches up when it returns."""
    devs = e.add_devices(3)
    s1 = e.snapshot(1)
    e.wait_rollout(e.rollout(s1, strategy="all")["id"], "completed")
    devs[1].go_offline()
    wait(lambda: not e.mgr.get("/devices/" + devs[1].id)["online"], what="will seen")
    s2 = e.snapshot(2)
    r = e.rollout(s2, strategy="waves", waves=[1, "100%"])
    r = e.wait_rollout(r["id"], "completed")
    st = {d["id"]: d["status"] for d in r["devices"]}
    assert st[devs[1].id] == "pending", st
    assert devs[1].running == s1["id"]
    devs[1].connect()  # the retained desired state is waiting for it
    wait(lambda: devs[1].running == s2["id"], what="catch up")
    wait(lambda: {d["id"]: d["status"] for d in e.mgr.get("/rollouts/" + r["id"])["devices"]}
         [devs[1].id] == "healthy", what="rollout shows it healthy")


def restart(e):
    """A manager stopped in the middle of a rollout picks it up where it was."""
    devs = e.add_devices(4)
    s1 = e.snapshot(1)
    e.wait_rollout(e.rollout(s1, strategy="all")["id"], "completed")
    s2 = e.snapshot(2)
    r = e.rollout(s2, strategy="waves", waves=[1, 2, "100%"], healthSeconds=2)
    time.sleep(0.5)
    e.mgr.stop()  # the canary is updating
    time.sleep(2.5)  # the canary becomes healthy while no manager runs
    e.mgr.start()
    r = e.wait_rollout(r["id"], "completed", timeout=40)
    assert all(d["status"] == "healthy" for d in r["devices"]), r
    assert all(d.running == s2["id"] for d in devs)
    assert "resumed" in e.mgr.logtext()


def revoke(e):
    """A revoked device gets a signed revoked document and stops; its token stops working;
    enrolling again with its key is refused."""
    devs = e.add_devices(2)
    s1 = e.snapshot(1)
    e.wait_rollout(e.rollout(s1, strategy="all")["id"], "completed")
    d = devs[0]
    sha = s1["files"][0]["sha256"]
    req = urllib.request.Request(e.mgr.url("/fleet/v1/files/" + sha),
                                 headers={"Authorization": "Bearer " + d.token})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    info = e.mgr.post("/devices/%s/revoke" % d.id, expect=200)
    assert info["revoked"] is True, info
    wait(lambda: d.exit_status == 3, what="device stops")
    st, _ = e.mgr.call("GET", "/files/" + sha, token=d.token)
    assert st == 401, st
    st, _ = d.enrol(e.token(), expect=409)
    # the other device is untouched; commands still reach it
    resp = e.mgr.post("/devices/%s/commands" % devs[1].id, {"cmd": "ping"}, expect=200)
    assert resp["ok"] is True and resp["result"]["pong"] is True, resp
    st, _ = e.mgr.call("POST", "/devices/%s/commands" % d.id, {"cmd": "ping"})
    assert st == 409, st
    actions = [(a["action"], a["target"]) for a in e.mgr.get("/audit")]
    assert ("device.revoke", d.id) in actions, actions


def enrol(e):
    """Provisioning tokens: uses, expiry, bad proofs, re-enrolment, names."""
    tok = e.token(uses=2, labels={"site": "a"})
    a = SimDevice(e.mgr, e.broker.port, "Pump 7", tok, labels={"rack": "3"})
    assert a.id.startswith("pump7-") or a.id == "pump7", a.id  # sanitised + suffix
    b = SimDevice(e.mgr, e.broker.port, "pump-8", tok)
    assert b.id == "pump-8"
    # used up
    st, r = b.enrol(tok, expect=401)
    assert "used up" in r["error"], r
    # enrolling again with the same key and a valid token: same id, new token
    tok2 = e.token(uses=5)
    old = b.token
    st, r = b.enrol(tok2, expect=201)
    assert r["deviceId"] == "pump-8" and r["broker"]["password"] != old
    st, _ = e.mgr.call("GET", "/files/" + "0" * 64, token=old)
    assert st == 401
    # a name that is taken gets a suffix
    c = SimDevice(e.mgr, e.broker.port, "pump-8", tok2)
    assert c.id.startswith("pump-8-") and len(c.id) == len("pump-8-") + 6, c.id
    # bad proof
    body = {"token": tok2, "name": "x", "publicKey": c.pk, "proof": base64.b64encode(
        b"\x00" * 64).decode()}
    st, r = e.mgr.call("POST", "/enrol", body, token="")
    assert st == 401 and "proof" in r["error"], (st, r)
    st, r = e.mgr.call("POST", "/enrol", {"token": tok2}, token="")
    assert st == 400, st
    # expiry
    tok3 = e.token(uses=5, expiresIn=1)
    time.sleep(1.2)
    st, r = e.mgr.call("POST", "/enrol", {"token": tok3, "name": "late", "publicKey": c.pk,
                                          "proof": body["proof"]}, token="")
    assert st == 401, (st, r)
    d = e.mgr.get("/devices/" + a.id)
    assert d["labels"] == {"site": "a", "rack": "3"} and d["group"] == "line-1", d


def auth(e):
    """API tokens: without one the API refuses; a read token can only GET."""
    data = e.mgr.dir
    out = subprocess.run([e.binary, "manager", "token-create", "ci", "--data-dir", data],
                         capture_output=True, text=True, check=True).stdout.strip()
    ro = subprocess.run([e.binary, "manager", "token-create", "viewer", "--read", "--data-dir",
                         data], capture_output=True, text=True, check=True).stdout.strip()
    assert len(out) == 43 and len(ro) == 43, (out, ro)
    st, _ = e.mgr.call("GET", "/devices", token="")
    assert st == 401, st
    st, _ = e.mgr.call("GET", "/devices", token="nope")
    assert st == 401, st
    st, _ = e.mgr.call("GET", "/devices", token=ro)
    assert st == 200, st
    st, _ = e.mgr.call("POST", "/groups", {"name": "g2"}, token=ro)
    assert st == 403, st
    st, _ = e.mgr.call("POST", "/groups", {"name": "g2"}, token=out)
    assert st == 201, st
    a = e.mgr.call("GET", "/audit", token=ro)[1][0]
    assert a["actor"] == "token:ci" and a["action"] == "group.create", a
    # enrolment and files need no API token
    e.mgr.token = out
    tok = e.token()
    SimDevice(e.mgr, e.broker.port, "d", tok)


def adminauth(e):
    """With adminAuth in the settings, editor session tokens work on the API: a user with
    read permission may only GET; the editor's deploy saves a snapshot authored by the user."""
    pw = subprocess.run([e.binary, "hash-pw"], input="secret\n", capture_output=True,
                        text=True, check=True).stdout.strip()
    settings = os.path.join(e.dir, "settings.json")
    with open(settings, "w") as f:
        json.dump({"adminAuth": {"type": "credentials", "users": [
            {"username": "alice", "password": pw, "permissions": "*"},
            {"username": "bob", "password": pw, "permissions": "read"}]}}, f)
    e.mgr.stop()
    e.mgr.args += ["--settings", settings]
    e.mgr.start()

    def login(user, scope):
        req = urllib.request.Request(e.mgr.url("/auth/token"), method="POST", data=json.dumps({
            "client_id": "node-red-admin", "grant_type": "password", "scope": scope,
            "username": user, "password": "secret"}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())["access_token"]
    alice, bob = login("alice", "*"), login("bob", "read")
    st, _ = e.mgr.call("GET", "/groups", token="")
    assert st == 401, st
    st, _ = e.mgr.call("GET", "/groups", token="not-a-session")
    assert st == 401, st
    st, groups = e.mgr.call("GET", "/groups", token=bob)
    assert st == 200 and groups[0]["name"] == "line-1", (st, groups)
    st, _ = e.mgr.call("POST", "/groups", {"name": "g2"}, token=bob)
    assert st == 403, st
    e.mgr.call("PUT", "/authoring", {"group": "line-1"}, token=alice, expect=200)
    req = urllib.request.Request(e.mgr.url("/flows"), method="POST",
                                 data=json.dumps({"flows": flows_v(1)}).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Node-RED-API-Version": "v2",
                                          "Authorization": "Bearer " + alice})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    snaps = e.mgr.get("/snapshots", token=bob)
    assert snaps[0]["author"] == "alice", snaps
    audit = e.mgr.get("/audit", token=bob)
    assert (audit[0]["actor"], audit[0]["action"]) == ("alice", "snapshot.create"), audit[0]
    assert (audit[1]["actor"], audit[1]["action"]) == ("alice", "authoring.set"), audit[1]


def authoring(e):
    """The manager's editor: deploying saves a snapshot of the authoring group."""
    st, r = e.mgr.call("PUT", "/authoring", {"group": "nope"})
    assert st == 404, (st, r)
    e.mgr.call("PUT", "/authoring", {"group": "line-1"}, expect=200)
    flows = flows_v(1)
    flows[1] = dict(flows[1], credentials={"user": "u", "password": "p"})
    req = urllib.request.Request(e.mgr.url("/flows"), method="POST",
                                 data=json.dumps({"flows": flows}).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Node-RED-API-Version": "v2"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        rev = json.loads(resp.read())["rev"]
    snaps = e.mgr.get("/snapshots?group=line-1")
    assert len(snaps) == 1 and snaps[0]["description"] == "deployed from the editor", snaps
    paths = [f["path"] for f in snaps[0]["files"]]
    assert paths == ["flows.json", "flows_cred.json"], paths
    shown = e.mgr.get("/snapshots/%s/flows" % snaps[0]["id"])
    assert all("credentials" not in n for n in shown), shown
    with urllib.request.urlopen(urllib.request.Request(
            e.mgr.url("/flows"), headers={"Node-RED-API-Version": "v2"}), timeout=10) as resp:
        got = json.loads(resp.read())
    assert got["rev"] == rev and [n["id"] for n in got["flows"]] == ["t1", "i1", "d1"], got
    # a device gets the credentials secret sealed to its key, and the encrypted file
    d = e.add_devices(1)[0]
    e.wait_rollout(e.rollout(snaps[0], strategy="all")["id"], "completed")
    assert d.running == snaps[0]["id"]


CASES = {"deploy": deploy_all, "waves": waves, "bad_canary": bad_canary, "tampered": tampered,
         "offline": offline, "restart": restart, "revoke": revoke, "enrol": enrol,
         "auth": auth, "adminauth": adminauth, "authoring": authoring, "dynsec": dynsec}


def start_postgres(workdir):
    """A PostgreSQL from Debian on a free loopback port (initdb + postgres as the user
    'postgres' when running as root). Returns (url, stop)."""
    bindir = None
    for v in sorted(os.listdir("/usr/lib/postgresql"), reverse=True):
        if os.path.exists("/usr/lib/postgresql/%s/bin/initdb" % v):
            bindir = "/usr/lib/postgresql/%s/bin" % v
            break
    if not bindir:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    pgdir = os.path.join(workdir, "pg")
    os.makedirs(pgdir)
    port = free_port()
    pre = []
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
        shutil.chown(pgdir, "postgres")
        pre = ["runuser", "-u", "postgres", "--"]
    subprocess.run(pre + [bindir + "/initdb", "-D", pgdir + "/data", "-U", "fleet", "-A",
                          "trust", "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
    subprocess.run(pre + [bindir + "/pg_ctl", "-D", pgdir + "/data", "-l", pgdir + "/log.txt",
                          "-w", "-t", "60", "-o",
                          "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off" % (port, pgdir),
                          "start"], check=True, capture_output=True)
    url = "postgresql://fleet@127.0.0.1:%d/postgres" % port

    def stop():
        subprocess.run(pre + [bindir + "/pg_ctl", "-D", pgdir + "/data", "-m", "immediate", "-w",
                              "stop"], capture_output=True, timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    return url, stop


def main():
    binary, case = sys.argv[1], sys.argv[2]
    pg_stop = None
    store = None
    device = SimDevice
    if case.endswith("_pg"):
        case = case[:-3]
        pgwork = tempfile.mkdtemp(prefix="fleet-pg-")
        store, pg_stop = start_postgres(pgwork)
    if case.endswith("_agent"):
        case = case[:-6]
        device = AgentDevice
    e = Env(binary, store=store, device=device, dynsec=case == "dynsec")
    ok = False
    try:
        CASES[case](e)
        ok = True
    finally:
        e.close(ok)
        if pg_stop:
            pg_stop()
    print("fleet.%s: ok" % sys.argv[2])


if __name__ == "__main__":
    main()
