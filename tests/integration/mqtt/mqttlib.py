"""
mqttlib.py - helpers for the MQTT integration tests: free loopback ports,
mosquitto brokers with generated configs (always killed at exit), edgeflow
runs whose debug lines and log are collected, and mosquitto_pub/sub.
"""
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

_procs = []


def _cleanup():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(2)
            except Exception:
                pass


atexit.register(_cleanup)
for _sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(_sig, lambda s, f: (_cleanup(), os._exit(1)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


class Broker:
    """A mosquitto on 127.0.0.1:port with extra config lines."""

    def __init__(self, workdir, name, extra=(), persistence=False):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        lines = ["listener %d 127.0.0.1" % self.port]
        if os.geteuid() == 0:
            lines.insert(0, "user root")  # else it switches to "mosquitto" and cannot read our files
        lines += list(extra) or ["allow_anonymous true"]
        if persistence:
            lines += ["persistence true", "persistence_location %s/" % self.dir,
                      "autosave_interval 1"]
        else:
            lines += ["persistence false"]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None
        self.start()

    def start(self):
        log = open(os.path.join(self.dir, "log.txt"), "a")
        self.proc = subprocess.Popen(["mosquitto", "-c", self.conf], stdout=log, stderr=log)
        _procs.append(self.proc)
        if not wait_port(self.port):
            raise RuntimeError("mosquitto did not start: " + open(os.path.join(self.dir, "log.txt")).read())

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(5)


class Run:
    """A running `edgeflow run FLOW --debug-stdout`, collecting lines."""

    def __init__(self, binary, flow, workdir, name="flow", settings=None, env=None):
        path = os.path.join(workdir, name + ".json")
        with open(path, "w") as f:
            json.dump(flow, f)
        args = [binary, "run", path, "--debug-stdout", "--port", "0", "--log-level", "debug"]
        if settings is not None:
            sp = os.path.join(workdir, name + ".settings.json")
            with open(sp, "w") as f:
                json.dump(settings, f)
            args += ["--settings", sp]
        self.lines = []
        self.log = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=workdir, env=dict(os.environ, **(env or {})))
        _procs.append(self.proc)
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.log), daemon=True).start()

    def _read(self, stream, into):
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.lock:
                if into is self.lines:
                    try:
                        into.append(json.loads(line))
                    except ValueError:
                        self.log.append("stdout: " + line)
                else:
                    into.append(line)

    def wait_for(self, pred, timeout=5.0):
        """Waits until pred(lines) is true; returns it."""
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                r = pred(list(self.lines))
            if r:
                return r
            time.sleep(0.02)
        with self.lock:
            return pred(list(self.lines))

    def wait_log(self, text, count=1, timeout=5.0):
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                n = sum(1 for l in self.log if text in l)
            if n >= count:
                return True
            time.sleep(0.02)
        return False

    def values(self, node_id):
        with self.lock:
            return [l.get("value") for l in self.lines if l.get("id") == node_id]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(8)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        time.sleep(0.05)
        bad = [l for l in self.log if "Sanitizer" in l or "runtime error:" in l]
        if bad or self.proc.returncode != 0:
            raise RuntimeError("edgeflow exited with %s: %s" % (self.proc.returncode,
                                                              "\n".join((bad or self.log)[-20:])))
        return self.proc.returncode


def pub(port, topic, payload=None, qos=0, retain=False, v5=False, props=(), file=None, extra=()):
    args = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-q", str(qos)]
    if retain:
        args.append("-r")
    if v5:
        args += ["-V", "5"]
    for p in props:
        args += ["-D", "publish"] + list(p)
    args += list(extra)
    if file:
        args += ["-f", file]
    elif payload is None:
        args.append("-n")
    else:
        args += ["-s"]
        subprocess.run(args, input=payload if isinstance(payload, bytes) else payload.encode(),
                       check=True, timeout=10)
        return
    subprocess.run(args, check=True, timeout=10)


def sub(port, topic, count, timeout=10, fmt="%t %q %r %p", extra=()):
    """Starts mosquitto_sub; returns the process (read .stdout after it exits)."""
    args = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-C", str(count),
            "-W", str(timeout), "-F", fmt] + list(extra)
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _procs.append(p)
    return p
