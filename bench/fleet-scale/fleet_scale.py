#!/usr/bin/env python3
"""fleet_scale.py - the fleet scale benchmark (bench/fleet-scale/run.sh runs it).

One mosquitto, one `edgeflow manager` and FLEET_AGENTS real `edgeflow agent`
processes on this machine, all on 127.0.0.1 free ports in a temporary
directory:
  1. start mosquitto (max_connections -1; run.sh raised ulimit -n) and the
     manager; create a group and a provisioning token through the REST API;
  2. start the agents, FLEET_STAGGER per 100 ms, each enrolling with the token
     and its own key pair; wait until the manager shows them all online;
  3. rollout 1: a first snapshot to every device (strategy "all"), so each
     agent runs flows;
  4. rollout 2, the measured one: a new snapshot (one node changed) in waves
     FLEET_WAVES with health gate FLEET_HEALTH_S seconds; the time from
     POST /rollouts until GET /devices shows every device running the new
     snapshot healthy (and the rollout completed);
  5. resources: the manager's and mosquitto's CPU time (during rollout 2 and
     in total) and RSS, every agent's RSS and PSS (/proc/PID/smaps_rollup:
     shared library pages divided among the processes that map them).
Prints a summary and a line "RESULT {json}".
With SIM=<sim binary> it runs the protocol simulator (sim.c; SIM_DEVICES,
SIM_HB, SIM_SETTLE, SIM_SECONDS, SIM_ROLLOUT) against the manager instead of
agents, and the simulator prints the RESULT line.
Environment: EDGEFLOW (the binary), FLEET_AGENTS (1000), FLEET_WAVES
(JSON, default [1,"10%","50%","100%"]), FLEET_HEALTH_S (2), FLEET_STAGGER (10),
FLEET_KEEP=1 keeps the temporary directory.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

EDGEFLOW = os.environ.get("EDGEFLOW", "build-bench/edgeflow")
N = int(os.environ.get("FLEET_AGENTS", "1000"))
WAVES = json.loads(os.environ.get("FLEET_WAVES", '[1,"10%","50%","100%"]'))
HEALTH_S = int(os.environ.get("FLEET_HEALTH_S", "2"))
STAGGER = int(os.environ.get("FLEET_STAGGER", "10"))
HZ = os.sysconf("SC_CLK_TCK")
SIM = os.environ.get("SIM")  # the simulator binary: run it instead of agents


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def log(*a):
    print("fleet-scale:", *a, flush=True)


class Api:
    def __init__(self, base, token=None):
        self.base = base
        self.token = token

    def call(self, method, path, body=None, ok=(200, 201)):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + "/fleet/v1" + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, text = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        if status not in ok:
            raise RuntimeError("%s %s: HTTP %d %s" % (method, path, status, text[:300]))
        return json.loads(text) if text else None


def cpu_s(pid):
    """utime + stime of pid (and its reaped children) in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def rollup_kb(pid, keys):
    """The sum of the given fields of /proc/PID/smaps_rollup (kB); -1 when unreadable."""
    total, seen = 0, False
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                k = line.split(":", 1)[0]
                if k in keys:
                    total += int(line.split()[1])
                    seen = True
    except OSError:
        pass
    return total if seen else -1


def pss_kb(pid):
    return rollup_kb(pid, ("Pss",))


def uss_kb(pid):
    """Private pages only: what one more process costs."""
    return rollup_kb(pid, ("Private_Clean", "Private_Dirty"))


def port_open(port, proc):
    if proc.poll() is not None:
        raise RuntimeError("%s exited with %s" % (proc.args[0], proc.returncode))
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def mem_used_kb():
    m = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            m[k] = int(v.split()[0])
    return m["MemTotal"] - m["MemAvailable"]


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return (xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2) if n else -1


def wait_for(what, cond, timeout, step=0.25):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise RuntimeError("timed out after %d s waiting for %s" % (timeout, what))


def flows(label, rate):
    """A small flow: an inject every `rate` seconds through a change node into an inactive debug."""
    return [
        {"id": "tab1", "type": "tab", "label": "scale"},
        {"id": "inj", "type": "inject", "z": "tab1", "repeat": str(rate), "once": True,
         "onceDelay": 0.1, "topic": "", "payload": "", "payloadType": "date",
         "props": [{"p": "payload"}], "wires": [["chg"]]},
        {"id": "chg", "type": "change", "z": "tab1", "name": label,
         "rules": [{"t": "set", "p": "label", "pt": "msg", "to": label, "tot": "str"}],
         "wires": [["dbg"]]},
        {"id": "dbg", "type": "debug", "z": "tab1", "active": False, "complete": "payload",
         "targetType": "msg", "wires": []},
    ]


def main():
    work = tempfile.mkdtemp(prefix="ef-fleet-scale-")
    mem0 = mem_used_kb()
    procs = []
    agents = []
    result = {"agents": N, "waves": WAVES, "health_s": HEALTH_S}
    try:
        bport, mport = free_port(), free_port()
        conf = os.path.join(work, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("%slistener %d 127.0.0.1\nallow_anonymous true\nmax_connections -1\n"
                    "persistence false\nmax_queued_messages 10000\n"
                    % ("user root\n" if os.getuid() == 0 else "", bport))
        mosq = subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(work, "mosquitto.log"), "w"))
        procs.append(mosq)
        wait_for("mosquitto", lambda: port_open(bport, mosq), 10)

        mdir = os.path.join(work, "manager")
        os.makedirs(mdir)
        mgr = subprocess.Popen(manager_cmd(mdir, mport, bport), stdout=subprocess.DEVNULL,
                               stderr=open(os.path.join(work, "manager.log"), "w"))
        procs.append(mgr)
        base = "http://127.0.0.1:%d" % mport
        api = Api(base)

        def up():
            if mgr.poll() is not None:
                raise RuntimeError("the manager exited with %s: see %s/manager.log" % (mgr.returncode, work))
            try:
                api.call("GET", "/groups")
                return True
            except (OSError, RuntimeError):
                return False
        wait_for("the manager's REST API", up, 20)
        if SIM:
            return run_sim(work, api, base, bport, mgr, mosq, result)
        api.call("POST", "/groups", {"name": "scale", "description": "fleet-scale bench"}, ok=(200, 201, 409))
        tok = api.call("POST", "/provisioning-tokens", {"group": "scale", "uses": N + 10})["token"]

        log("starting %d agents, %d per 100 ms" % (N, STAGGER))
        t0 = time.time()
        for i in range(N):
            sdir = os.path.join(work, "a", "%04d" % i)
            os.makedirs(sdir)
            with open(os.path.join(sdir, "agent.log"), "w") as lf:
                agents.append(subprocess.Popen(agent_cmd(sdir, base, tok, "a-%04d" % i),
                                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                               stderr=lf))
            if (i + 1) % STAGGER == 0:
                time.sleep(0.1)

        def all_online():
            dead = [a.args for a in agents if a.poll() is not None]
            if dead:
                raise RuntimeError("%d agents exited, e.g. %s" % (len(dead), dead[0]))
            devs = api.call("GET", "/devices?group=scale")
            return sum(1 for d in devs if d.get("online")) >= N
        wait_for("every agent online", all_online, 120 + N / 10, step=1)
        result["all_online_s"] = round(time.time() - t0, 1)
        log("%d agents online after %.1f s" % (N, result["all_online_s"]))

        def rollout(label, strategy, waves):
            snap = api.call("POST", "/snapshots", {"group": "scale", "description": label,
                                                   "flows": flows(label, 1), "env": {}})
            body = {"group": "scale", "snapshot": snap["id"], "strategy": strategy,
                    "healthSeconds": HEALTH_S, "maxErrors": 0, "failureBudget": max(1, N // 100),
                    "waveTimeout": 120, "autoRollback": False}
            if waves:
                body["waves"] = waves
            c0, b0 = cpu_s(mgr.pid), cpu_s(mosq.pid)
            t = time.time()
            r = api.call("POST", "/rollouts", body)

            def converged():
                devs = api.call("GET", "/devices?group=scale")
                good = sum(1 for d in devs if d.get("snapshot") == snap["id"] and d.get("health") == "healthy")
                return good >= N and good
            wait_for("rollout %s to converge" % r["id"], converged, 300)
            conv = time.time() - t
            state = api.call("GET", "/rollouts/" + r["id"])
            st = state.get("state") or state.get("status")
            if st != "completed":
                wait_for("rollout %s completed" % r["id"],
                         lambda: (api.call("GET", "/rollouts/" + r["id"]).get("state") == "completed"), 30)
            return {"id": r["id"], "converged_s": round(conv, 2),
                    "completed_s": round(time.time() - t, 2),
                    "manager_cpu_s": round(cpu_s(mgr.pid) - c0, 2),
                    "broker_cpu_s": round(cpu_s(mosq.pid) - b0, 2)}

        r1 = rollout("v1", "all", None)
        log("rollout 1 (first snapshot, all at once): every device healthy after %.1f s" % r1["converged_s"])
        time.sleep(2)
        r2 = rollout("v2", "waves", WAVES)
        log("rollout 2 (new snapshot, waves %s, health %d s): every device healthy after %.1f s"
            % (json.dumps(WAVES), HEALTH_S, r2["converged_s"]))
        result["rollout_first"] = r1
        result["rollout_update"] = r2

        rss = [status_kb(a.pid, "VmRSS") for a in agents]
        pss = [pss_kb(a.pid) for a in agents]
        uss = [uss_kb(a.pid) for a in agents]
        result.update({
            "manager_rss_kb": status_kb(mgr.pid, "VmRSS"), "manager_hwm_kb": status_kb(mgr.pid, "VmHWM"),
            "manager_cpu_total_s": round(cpu_s(mgr.pid), 2),
            "broker_rss_kb": status_kb(mosq.pid, "VmRSS"), "broker_hwm_kb": status_kb(mosq.pid, "VmHWM"),
            "broker_cpu_total_s": round(cpu_s(mosq.pid), 2),
            "agent_rss_mean_kb": round(sum(rss) / len(rss)), "agent_rss_median_kb": median(rss),
            "agent_rss_max_kb": max(rss),
            "agent_pss_mean_kb": round(sum(pss) / len(pss)), "agent_pss_median_kb": median(pss),
            "agent_uss_mean_kb": round(sum(uss) / len(uss)),
            "free_mem_used_kb": mem_used_kb() - mem0,
        })
        log("manager: RSS %.1f MB (peak %.1f MB), CPU %.1f s in total, %.2f s during rollout 2"
            % (result["manager_rss_kb"] / 1024, result["manager_hwm_kb"] / 1024,
               result["manager_cpu_total_s"], r2["manager_cpu_s"]))
        log("mosquitto: RSS %.1f MB (peak %.1f MB), CPU %.1f s in total, %.2f s during rollout 2"
            % (result["broker_rss_kb"] / 1024, result["broker_hwm_kb"] / 1024,
               result["broker_cpu_total_s"], r2["broker_cpu_s"]))
        log("agents: RSS mean %.2f MB (median %.2f, max %.2f), PSS mean %.2f MB (median %.2f), "
            "private (USS) mean %.2f MB; the machine's used memory grew by %.0f MB"
            % (result["agent_rss_mean_kb"] / 1024, result["agent_rss_median_kb"] / 1024,
               result["agent_rss_max_kb"] / 1024, result["agent_pss_mean_kb"] / 1024,
               result["agent_pss_median_kb"] / 1024, result["agent_uss_mean_kb"] / 1024,
               result["free_mem_used_kb"] / 1024))
        print("RESULT " + json.dumps(result), flush=True)
        return 0
    except Exception as e:  # report what was reached, then clean up
        log("FAILED: %s" % e)
        print("RESULT " + json.dumps(dict(result, error=str(e))), flush=True)
        return 1
    finally:
        for a in agents:
            if a.poll() is None:
                a.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        end = time.time() + 15
        for p in agents + procs:
            try:
                p.wait(timeout=max(0.1, end - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
        if os.environ.get("FLEET_KEEP"):
            log("kept " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)


def run_sim(work, api, base, bport, mgr, mosq, result):
    """The protocol simulator (sim.c) against this manager; its RESULT line is the result."""
    n = int(os.environ.get("SIM_DEVICES", "10000"))
    args = [SIM, "--manager", base, "--manager-pid", str(mgr.pid), "--broker-pid", str(mosq.pid),
            "--broker", "127.0.0.1:%d" % bport, "-n", str(n), "--group", "sim",
            "--hb", os.environ.get("SIM_HB", "10"), "--settle", os.environ.get("SIM_SETTLE", "15"),
            "--seconds", os.environ.get("SIM_SECONDS", "60"), "--state", os.path.join(work, "sim.state")]
    if os.environ.get("SIM_ROLLOUT", "1") == "1":
        args.append("--rollout")
    log("running " + " ".join(args))
    rc = subprocess.call(args)
    if rc != 0:
        raise RuntimeError("sim exited with %d (manager log: %s/manager.log)" % (rc, work))
    return 0


def manager_cmd(mdir, port, bport):
    return [EDGEFLOW, "manager", "--data-dir", mdir, "--port", str(port),
            "--broker", "mqtt://127.0.0.1:%d" % bport]


def agent_cmd(sdir, base, token, name):
    return [EDGEFLOW, "agent", "--state-dir", sdir, "--manager", base, "--token", token, "--name", name]


if __name__ == "__main__":
    sys.exit(main())
