#!/usr/bin/python3
"""The infer node benchmark (run by bench/infer.sh): the example model
plugins/infer/models/vibration_anomaly.onnx with its standardize
pre-processing and reconstruction post-processing, in edgeflow.

  single        closed loop, one message in flight: the next is sent when the
                result is back (latency without queueing)
  groups of 32  closed loop of 32 messages sent at once, with batchSize 1 (32
                Runs) and 32 (the node joins queued messages into one Run);
                latency includes the wait for the Runs before
  all at once   N messages sent at once, batchSize 32: the throughput ceiling
                (latency there is time in a queue of N)

The node measures ORT's Run time itself (msg.inferTiming.runUs, the time
inside OrtApi Run on the worker thread) and the time from a message's
arrival to its result being sent (totalUs). Overhead per inference is the
node's time beyond Run: wall time per inference minus ORT Run time per
inference (this includes the Lua driver node and message passing), and for
the single row also the median of totalUs - runUs measured inside the node. CPU per inference is the process's
user+system CPU (all threads, the Lua driver nodes included) over the run,
divided by N, split into the loop thread (the node's conversions, the Lua
driver, message passing) and the other threads (libuv's workers running ORT).

Usage: infer_bench.py EDGEFLOW [N]
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(SRC, "plugins", "infer", "models")

# Closed loop of groups: G messages are sent at once; when all G results are
# back, the next G go. G = 1 is one message in flight.
DRIVE = """
local function group()
  local g = {}
  for i = 1, G do g[i] = {payload = X} end
  return {g, nil}
end
if not msg.inferTiming then
  n, lat, over, runsum, ingroup, maxb = 0, {}, {}, 0, 0, 0
  return group()
end
n = n + 1
local t = msg.inferTiming
lat[n] = t.totalUs
over[n] = t.totalUs - t.runUs
runsum = runsum + t.runUs / t.batch
if t.batch > maxb then maxb = t.batch end
if n == 1 then first = t.atUs - t.totalUs end
if n >= N then
  table.sort(lat)
  table.sort(over)
  local wall = t.atUs - first
  return {nil, {payload = {n = n, wallUs = wall, runUs = runsum / n, maxBatch = maxb,
    p50 = lat[math.floor(n * 0.5)], p99 = lat[math.floor(n * 0.99)],
    overheadUs = (wall - runsum) / n, overheadP50 = over[math.floor(n * 0.5)]}}}
end
ingroup = ingroup + 1
if ingroup == G then
  ingroup = 0
  return group()
end
return nil
"""

# Open loop: all N messages at once (the throughput ceiling; latency is queueing).
GEN = """
for i = 1, N do node.send({payload = X}) end
return nil
"""

COLLECT = """
n = (n or 0) + 1
local t = msg.inferTiming
if n == 1 then first, lat, runsum, maxb = t.atUs - t.totalUs, {}, 0, 0 end
lat[n] = t.totalUs
runsum = runsum + t.runUs / t.batch
if t.batch > maxb then maxb = t.batch end
if n < N then return nil end
table.sort(lat)
local wall = t.atUs - first
return {payload = {n = n, wallUs = wall, runUs = runsum / n, maxBatch = maxb,
  p50 = lat[math.floor(n * 0.5)], p99 = lat[math.floor(n * 0.99)],
  overheadUs = (wall - runsum) / n}}
"""


def cpu_seconds(pid):
    """CPU seconds of the loop thread (the main thread) and of all other threads."""
    main = other = 0.0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        if int(tid) == pid:
            main += s
        else:
            other += s
    return main, other


def run(edgeflow, flow, workdir):
    path = os.path.join(workdir, "flow.json")
    with open(path, "w") as f:
        json.dump(flow, f)
    p = subprocess.Popen([edgeflow, "run", path, "--port", "0", "--debug-stdout"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(1.2)  # ORT loaded, model loaded; the inject fires at 1.5 s
    c0 = cpu_seconds(p.pid)
    result = None
    for line in p.stdout:
        if line.startswith("{"):
            result = json.loads(line)["value"]
            break
    c1 = cpu_seconds(p.pid)
    p.send_signal(signal.SIGTERM)
    p.wait()
    if result is None:
        sys.exit("infer_bench: no result from edgeflow")
    result["cpuLoopUs"] = (c1[0] - c0[0]) * 1e6 / result["n"]
    result["cpuWorkersUs"] = (c1[1] - c0[1]) * 1e6 / result["n"]
    return result


def node(meta, **extra):
    n = {"id": "inf", "type": "infer", "z": "t1",
         "model": os.path.join(MODELS, "vibration_anomaly.onnx"),
         "preprocess": "standardize", "mean": meta["mean"], "std": meta["std"],
         "outputName": "reconstruction", "postprocess": "reconstruction",
         "threshold": meta["threshold"], "timing": True, "watch": 0}
    n.update(extra)
    return n


def lua(id, body, outputs, wires):
    return {"id": id, "type": "lua", "z": "t1", "func": body, "outputs": outputs, "wires": wires}


def main():
    edgeflow = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    meta = json.load(open(os.path.join(MODELS, "vibration_anomaly.json")))
    x = "{" + ",".join("%.6f" % v for v in meta["mean"]) + "}"
    consts = "local N, X = %d, %s\n" % (n, x)
    tab = {"id": "t1", "type": "tab", "label": "bench"}
    start = {"id": "i1", "type": "inject", "z": "t1", "once": True, "onceDelay": 1.5,
             "props": [{"p": "payload"}], "payload": "", "payloadType": "date",
             "wires": [["drv"]]}
    out = {"id": "d1", "type": "debug", "z": "t1", "active": True, "complete": "payload",
           "wires": []}
    rows = []
    with tempfile.TemporaryDirectory(prefix="ef-bench-infer.") as d:
        for name, g, b in (("single (1 in flight)", 1, 1), ("groups of 32, batchSize 1", 32, 1),
                           ("groups of 32, batchSize 32", 32, 32)):
            c = "local N, X, G = %d, %s, %d\n" % (n, x, g)
            flow = [tab, start, out, lua("drv", c + DRIVE, 2, [["inf"], ["d1"]]),
                    dict(node(meta, batchSize=b), wires=[["drv"]])]
            rows.append((name, run(edgeflow, flow, d)))
        flow = [tab, start, out, lua("drv", consts + GEN, 1, [["inf"]]),
                dict(node(meta, batchSize=32, queueLimit=n), wires=[["col"]]),
                lua("col", consts.replace("local ", "") + COLLECT, 1, [["d1"]])]
        rows.append(("all %d at once, batchSize 32" % n, run(edgeflow, flow, d)))
    print("infer benchmark: %s, %d inferences per row, model vibration_anomaly.onnx "
          "(8 features, standardize + reconstruction)" % (edgeflow, n))
    print("| mode | inferences/s | p50 latency | p99 latency | ORT Run per inference | "
          "node overhead per inference (single: in-node median) | CPU per inference: loop thread + "
          "worker threads |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows:
        rate = r["n"] / (r["wallUs"] / 1e6)
        med = " (%.1f µs)" % r["overheadP50"] if name.startswith("single") else ""
        print("| %s | %.0f | %.0f µs | %.0f µs | %.1f µs | %.1f µs%s | %.1f + %.1f µs |" % (
            name, rate, r["p50"], r["p99"], r["runUs"], r["overheadUs"], med, r["cpuLoopUs"],
            r["cpuWorkersUs"]))
    print(json.dumps({name: r for name, r in rows}))


if __name__ == "__main__":
    main()
