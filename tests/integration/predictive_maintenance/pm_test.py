#!/usr/bin/python3
"""
pm_test.py BINARY CASE - end-to-end test of flows/predictive-maintenance.json:
a real mosquitto and a real HTTP server (route-to-cloud's test server) on free
loopback ports, the edgeflow binary running the committed flow (only the
flow's environment variables are changed to point at them), and vibration
features made by plugins/infer/models/train_anomaly.py from synthetic healthy
and faulty accelerometer windows, sent as simulate_plant.py formats them.

Cases:
  e2e      two machines send healthy readings, then press-2 turns faulty, then
           healthy again: exactly one alert (raise, then resolve) for press-2 on
           plant/alerts, none for press-1; the HTTP server gets the alert events
           and per-period summaries whose scores match numpy's computation of
           the model; no operator name reaches the server.
  restart  edgeflow is stopped (SIGTERM) while press-2's alert is active and
           started again on the same user directory: the alert is not raised a
           second time and resolves with its original raisedAt (the file context
           store of flows/predictive-maintenance.settings.json).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
MODELS = os.path.join(SRC, "plugins", "infer", "models")
sys.path.insert(0, os.path.join(HERE, "..", "mqtt"))
sys.path.insert(0, os.path.join(HERE, "..", "route_to_cloud"))
sys.path.insert(0, MODELS)
import mqttlib  # noqa: E402
import simulate_plant  # noqa: E402  (the reading format)
import train_anomaly  # noqa: E402
from rtc_test import Server  # noqa: E402  (the recording HTTP server)

BIN = os.path.abspath(sys.argv[1])
CASE = sys.argv[2]
META = json.load(open(os.path.join(MODELS, "vibration_anomaly.json")))
FLOW = os.path.join(SRC, "flows", "predictive-maintenance.json")
SETTINGS = os.path.join(SRC, "flows", "predictive-maintenance.settings.json")
OPERATORS = {"press-1": "Alice Example", "press-2": "Bob Example"}


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


class Subscriber:
    """mosquitto_sub on a topic, collecting (topic, payload) as they arrive."""

    def __init__(self, port, topic):
        self.msgs = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port),
                                      "-t", topic, "-q", "1", "-F", "%t %p"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        mqttlib._procs.append(self.proc)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            topic, _, payload = raw.decode().rstrip("\n").partition(" ")
            with self.lock:
                self.msgs.append((topic, json.loads(payload)))

    def alerts(self):
        with self.lock:
            return [p for _, p in self.msgs]

    def wait(self, pred, timeout, what):
        end = time.time() + timeout
        while time.time() < end:
            if pred(self.alerts()):
                return
            time.sleep(0.05)
        raise Fail("%s; plant/alerts got %s" % (what, json.dumps(self.alerts())))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)


def load_flow(mqtt_port, cloud_url, summary_seconds):
    """The committed flow with its environment pointing at the test's servers."""
    flow = json.load(open(FLOW))
    tab = [n for n in flow if n["type"] == "tab"][0]
    env = {e["name"]: e for e in tab["env"]}
    check(set(env) == {"MQTT_HOST", "MQTT_PORT", "PM_MODEL", "CLOUD_URL", "SUMMARY_SECONDS"},
          "the flow's environment variables: %s" % sorted(env))
    check(env["MQTT_HOST"]["value"] == "127.0.0.1" and env["MQTT_PORT"]["value"] == "1883",
          "default broker 127.0.0.1:1883")
    env["MQTT_PORT"]["value"] = str(mqtt_port)
    env["CLOUD_URL"]["value"] = cloud_url
    env["SUMMARY_SECONDS"]["value"] = str(summary_seconds)
    return flow


class Plant:
    """The broker, the cloud server, the user directory and edgeflow on the flow."""

    def __init__(self, workdir):
        self.dir = workdir
        self.broker = mqttlib.Broker(workdir, "broker")
        self.srv = Server()
        self.srv.start()
        self.user = os.path.join(workdir, "user")
        os.makedirs(os.path.join(self.user, "models"))
        shutil.copy(os.path.join(MODELS, "vibration_anomaly.onnx"),
                    os.path.join(self.user, "models"))
        self.flow = load_flow(self.broker.port, "http://127.0.0.1:%d/ingest" % self.srv.port, 2)
        self.settings = json.load(open(SETTINGS))
        self.settings["userDir"] = self.user
        self.sub = Subscriber(self.broker.port, "plant/alerts")
        self.run = None
        self.sent = {m: [] for m in OPERATORS}  # features sent per machine, in order

    def start(self):
        env = dict(os.environ)
        env.pop("EDGEFLOW_ORT_LIB", None)  # the build's default: tools/node_modules/onnxruntime-node
        self.run = mqttlib.Run(BIN, self.flow, self.user, name="flows", settings=self.settings,
                               env=env)
        check(self.run.wait_log("Connected to broker", timeout=15),
              "edgeflow connected to the broker:\n" + "\n".join(self.run.log[-20:]))
        time.sleep(0.5)  # the mqtt in subscription

    def stop(self):
        self.run.stop()

    def publish(self, machine, feats):
        """One reading per row, QoS 1, in order."""
        lines = []
        for row in np.asarray(feats).round(6).tolist():
            lines.append(simulate_plant.reading(row, OPERATORS[machine]))
            self.sent[machine].append(row)
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.broker.port),
                        "-t", "plant/%s/vibration" % machine, "-q", "1", "-l"],
                       input=("\n".join(lines) + "\n").encode(), check=True, timeout=20)

    def cloud(self):
        """Everything the HTTP server received: (kind, data) in arrival order."""
        out = []
        for _, data in self.srv.items():
            out.append(("summary" if data.get("kind") == "summary" else "alert", data))
        return out

    def readings_summarised(self):
        return sum(d["readings"] for k, d in self.cloud() if k == "summary")

    def wait_summaries(self, total, timeout):
        end = time.time() + timeout
        while time.time() < end and self.readings_summarised() < total:
            time.sleep(0.1)
        check(self.readings_summarised() == total,
              "summaries cover %d readings, expected %d; server got %s\nlog:\n%s" %
              (self.readings_summarised(), total, json.dumps(self.cloud())[:2000],
               "\n".join(self.run.log[-20:])))

    def no_flow_errors(self):
        errs = self.run.values("pm_errors")
        check(not errs, "no errors caught in the flow: %s" % errs[:3])


def healthy(rng, n):
    return train_anomaly.features(train_anomaly.windows(rng, n, fault=False))


def faulty(rng, n):
    return train_anomaly.features(train_anomaly.windows(rng, n, fault=True))


def events(alerts, key):
    return [a["event"] for a in alerts if a["key"] == key and a["condition"] == "boolean"]


def check_cloud(p, alerts_seen):
    """What the HTTP server got: the alert events as published, summaries whose scores
    match numpy's, and no operator name anywhere."""
    got = p.cloud()
    cloud_alerts = [d for k, d in got if k == "alert"]
    check([(a["key"], a["event"]) for a in cloud_alerts] ==
          [(a["key"], a["event"]) for a in alerts_seen if a["event"] in ("raise", "resolve")],
          "the server got the raised and resolved events: %s" % json.dumps(cloud_alerts))
    summaries = [d for k, d in got if k == "summary"]
    for s in summaries:
        check("operators" not in s, "operators redacted from the summary: %s" % json.dumps(s))
        check(s["readings"] == sum(m["readings"] for m in s["machines"].values()),
              "a summary's per-machine counts add up: %s" % json.dumps(s))
    raw = b"".join(r[3] for r in p.srv.requests)
    for name in OPERATORS.values():
        check(name.encode() not in raw, "%r never reaches the server" % name)
    for machine, rows in p.sent.items():
        ref = train_anomaly.score(np.asarray(rows), META)
        mine = [s["machines"][machine] for s in summaries if machine in s["machines"]]
        check(sum(m["readings"] for m in mine) == len(rows),
              "%s: %d readings summarised, %d sent" %
              (machine, sum(m["readings"] for m in mine), len(rows)))
        nano = sum(m["anomalies"] for m in mine)
        check(nano == int((ref > META["threshold"]).sum()),
              "%s: %d anomalies summarised, numpy says %d" %
              (machine, nano, int((ref > META["threshold"]).sum())))
        top = max(m["maxScore"] for m in mine)
        check(abs(top - ref.max()) <= 1e-3 * max(1.0, ref.max()),
              "%s: max score %s, numpy %s" % (machine, top, ref.max()))
    return summaries


def case_e2e(w):
    rng = np.random.default_rng(2024)
    p = Plant(w)
    p.start()
    # 1. both machines healthy
    p.publish("press-1", healthy(rng, 20))
    p.publish("press-2", healthy(rng, 20))
    p.wait_summaries(40, 20)
    check(p.sub.alerts() == [], "no alert while healthy: %s" % p.sub.alerts())
    # 2. press-2 develops a bearing fault; press-1 stays healthy
    p.publish("press-2", faulty(rng, 10))
    p.publish("press-1", healthy(rng, 10))
    p.sub.wait(lambda a: events(a, "press-2") == ["raise"], 15, "press-2 raised")
    raised = [a for a in p.sub.alerts() if a["key"] == "press-2"][0]
    check(raised["severity"] == "major" and raised["state"] == "active" and raised["value"] is True,
          "the raise event: %s" % json.dumps(raised))
    # 3. repaired: healthy readings again
    p.publish("press-2", healthy(rng, 10))
    p.publish("press-1", healthy(rng, 10))
    p.sub.wait(lambda a: events(a, "press-2") == ["raise", "resolve"], 15, "press-2 resolved")
    p.wait_summaries(80, 20)
    time.sleep(0.5)
    alerts = p.sub.alerts()
    check(events(alerts, "press-1") == [], "no alert for the healthy press-1: %s" % alerts)
    check(len(alerts) == 2, "exactly raise and resolve on plant/alerts: %s" % alerts)
    resolved = alerts[1]
    check(resolved["reason"] == "condition" and resolved["raisedAt"] == raised["raisedAt"] and
          resolved["dedupKey"] == raised["dedupKey"], "the resolve event: %s" % json.dumps(resolved))
    check_cloud(p, alerts)
    anomalous = p.run.values("pm_anomalous")
    check(len(anomalous) == 10 and all(m["machine"] == "press-2" for m in anomalous),
          "the 10 faulty windows were shown locally: %d" % len(anomalous))
    p.no_flow_errors()
    p.stop()
    p.sub.stop()


def case_restart(w):
    rng = np.random.default_rng(7)
    p = Plant(w)
    p.start()
    p.publish("press-1", healthy(rng, 5))
    p.publish("press-2", faulty(rng, 5))
    p.sub.wait(lambda a: events(a, "press-2") == ["raise"], 15, "press-2 raised")
    raised = p.sub.alerts()[0]
    p.wait_summaries(10, 20)
    p.stop()  # SIGTERM: the file store writes the alert state
    ctx = os.path.join(p.user, "context")
    check(os.path.isdir(ctx), "the file context store wrote %s" % ctx)
    p.start()
    p.publish("press-2", faulty(rng, 3))  # still faulty: the active alert is not raised again
    p.publish("press-2", healthy(rng, 5))
    p.publish("press-1", healthy(rng, 5))
    p.sub.wait(lambda a: events(a, "press-2") == ["raise", "resolve"], 15, "press-2 resolved")
    p.wait_summaries(23, 20)
    time.sleep(0.5)
    alerts = p.sub.alerts()
    check(len(alerts) == 2 and events(alerts, "press-1") == [],
          "one raise (before the restart) and one resolve: %s" % alerts)
    check(alerts[1]["raisedAt"] == raised["raisedAt"], "resolved with the original raisedAt")
    check_cloud(p, alerts)
    p.no_flow_errors()
    p.stop()
    p.sub.stop()


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}


def main():
    if CASE not in CASES:
        print("unknown case %s; cases: %s" % (CASE, " ".join(sorted(CASES))))
        return 2
    w = tempfile.mkdtemp(prefix="pm-%s-" % CASE)
    try:
        CASES[CASE](w)
    except Fail as ex:
        print("FAIL %s: %s (files in %s)" % (CASE, ex, w))
        return 1
    print("ok %s" % CASE)
    shutil.rmtree(w, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
