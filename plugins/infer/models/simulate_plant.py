#!/usr/bin/python3
"""
simulate_plant.py - publishes vibration readings of simulated machines for
flows/predictive-maintenance.json: every period, one reading per machine on
plant/<machine>/vibration, {"features": [8 numbers], "operator": "..."}, the
features of a synthetic 256-sample accelerometer window made by
train_anomaly.py (healthy, or with a bearing fault while a machine is faulty).

  simulate_plant.py [--host 127.0.0.1] [--port 1883] [--machines press-1,press-2]
                    [--faulty press-2] [--fault-after 30] [--fault-for 30]
                    [--period 1] [--duration 0] [--seed 1]

The machines in --faulty are healthy for --fault-after seconds, faulty for
--fault-for seconds, then healthy again (repaired). --duration 0 runs until
interrupted. Needs numpy and mosquitto_pub (one long-lived "mosquitto_pub -l"
per machine, QoS 1).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_anomaly  # noqa: E402


def reading(features, operator):
    """The JSON text of one reading (features rounded to 6 digits)."""
    return json.dumps({"features": [round(float(v), 6) for v in features], "operator": operator})


def readings(rng, n, fault, operator):
    """n readings of one machine, healthy or faulty: (JSON lines, feature rows)."""
    feats = train_anomaly.features(train_anomaly.windows(rng, n, fault=fault))
    rows = np.asarray(feats).round(6)
    return [reading(r, operator) for r in rows], rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--machines", default="press-1,press-2")
    ap.add_argument("--faulty", default="press-2")
    ap.add_argument("--fault-after", type=float, default=30)
    ap.add_argument("--fault-for", type=float, default=30)
    ap.add_argument("--period", type=float, default=1)
    ap.add_argument("--duration", type=float, default=0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    machines = [m for m in a.machines.split(",") if m]
    faulty = set(m for m in a.faulty.split(",") if m)
    rng = np.random.default_rng(a.seed)
    pubs = {}
    for m in machines:
        pubs[m] = subprocess.Popen(["mosquitto_pub", "-h", a.host, "-p", str(a.port), "-q", "1",
                                    "-t", "plant/%s/vibration" % m, "-l"],
                                   stdin=subprocess.PIPE, text=True)
    start = time.time()
    state = {}
    try:
        while not a.duration or time.time() - start < a.duration:
            t = time.time() - start
            for m in machines:
                bad = m in faulty and a.fault_after <= t < a.fault_after + a.fault_for
                if state.get(m) != bad:
                    print("%6.1fs %s: %s" % (t, m, "faulty" if bad else "healthy"), flush=True)
                    state[m] = bad
                lines, _ = readings(rng, 1, bad, "operator of %s" % m)
                pubs[m].stdin.write(lines[0] + "\n")
                pubs[m].stdin.flush()
            time.sleep(max(0.0, a.period - (time.time() - start - t)))
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    finally:
        for p in pubs.values():
            try:
                p.stdin.close()
            except BrokenPipeError:
                pass
            p.wait(5)


if __name__ == "__main__":
    main()
