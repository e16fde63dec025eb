#!/usr/bin/python3
"""Tests of the infer node (plugins/infer): real flows run by the edgeflow
binary with the plugin loaded from <build>/plugins, models made at test time
by plugins/infer/models/make_test_models.py, numeric outputs compared with
numpy's computation of the same model.

Usage: infer_test.py EDGEFLOW CASE      (CASE: one of the names in CASES, or "all")
Exit status 0 when the case passes.
"""
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
MODELS = os.path.join(SRC, "plugins", "infer", "models")
sys.path.insert(0, MODELS)
import make_test_models as mtm  # noqa: E402
import train_anomaly  # noqa: E402

EDGEFLOW = None


class Run:
    """edgeflow running one flow; debug lines collected as {"id","value"} dicts."""

    def __init__(self, flow, workdir, env=None, settings=None):
        self.lines = []
        self.log = []
        self.cv = threading.Condition()
        path = os.path.join(workdir, "flow.json")
        with open(path, "w") as f:
            json.dump(flow, f)
        args = [EDGEFLOW, "run", path, "--port", "0", "--debug-stdout", "--user-dir", workdir]
        if settings is not None:
            sp = os.path.join(workdir, "settings.json")
            with open(sp, "w") as f:
                json.dump(settings, f)
            args += ["--settings", sp]
        e = dict(os.environ)
        e.pop("EDGEFLOW_ORT_LIB", None)
        e.update(env or {})
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                                  text=True)
        self.t1 = threading.Thread(target=self._read, args=(self.p.stdout, True), daemon=True)
        self.t2 = threading.Thread(target=self._read, args=(self.p.stderr, False), daemon=True)
        self.t1.start()
        self.t2.start()

    def _read(self, stream, out):
        for line in stream:
            with self.cv:
                if out and line.startswith("{"):
                    try:
                        self.lines.append(json.loads(line))
                    except ValueError:
                        self.log.append(line)
                else:
                    self.log.append(line)
                self.cv.notify_all()

    def of(self, node):
        with self.cv:
            return [l.get("value") for l in self.lines if l["id"] == node]

    def wait(self, pred, timeout=20):
        end = time.time() + timeout
        with self.cv:
            while not pred(self):
                left = end - time.time()
                if left <= 0 or self.p.poll() is not None:
                    return pred(self)
                self.cv.wait(min(left, 0.2))
            return True

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.t1.join(5)
        self.t2.join(5)
        if not check(self.p.returncode == 0, "edgeflow exit status %s" % self.p.returncode):
            sys.stdout.write("".join(self.log[-40:]))
        return self.p.returncode


failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    return cond


def close(got, want, what, rtol=1e-5, atol=1e-6):
    g = np.asarray(got, dtype=np.float64)
    w = np.asarray(want, dtype=np.float64)
    ok = g.shape == w.shape and np.allclose(g, w, rtol=rtol, atol=atol)
    return check(ok, "%s: got %s, numpy %s" % (what, g.tolist(), w.tolist()))


def tab():
    return [{"id": "t1", "type": "tab", "label": "T"}]


def inject(id, payload, wires, delay=0.1, props=None):
    """An inject node sending `payload` (JSON) once after `delay` s."""
    n = {"id": id, "type": "inject", "z": "t1", "once": True, "onceDelay": delay,
         "props": props or [{"p": "payload"}], "payload": json.dumps(payload),
         "payloadType": "json", "wires": [wires]}
    return n


def infer(id, wires, **cfg):
    n = {"id": id, "type": "infer", "z": "t1", "wires": [wires]}
    n.update(cfg)
    return n


def debug(id, prop="payload"):
    return {"id": id, "type": "debug", "z": "t1", "active": True, "complete": prop, "wires": []}


def catch_status(catch_debug="dc", status_debug="ds"):
    return [{"id": "c1", "type": "catch", "z": "t1", "scope": None, "wires": [["cx"]]},
            {"id": "cx", "type": "change", "z": "t1", "rules": [
                {"t": "set", "p": "payload", "pt": "msg", "to": "error.message", "tot": "msg"}],
             "wires": [[catch_debug]]},
            debug(catch_debug),
            {"id": "s1", "type": "status", "z": "t1", "scope": None, "wires": [[status_debug]]},
            debug(status_debug, "status.text")]


def lua(id, body, wires):
    return {"id": id, "type": "lua", "z": "t1", "func": body, "outputs": 1, "wires": [wires]}


def f32buf(values):
    """The bytes of values as little-endian float32, as an inject "bin" JSON array."""
    return list(struct.pack("<%df" % len(values), *values))


# ---- cases ----

def case_multi_io(d):
    """Two inputs, two outputs: all outputs as an object, one output to a property,
    nested arrays, a batch in one message, a raw float32 Buffer, a typed array in its JSON
    form, custom mapping."""
    a1, b1 = [1.5, -2, 0.25, 3], [0.5, -1]
    a2, b2 = [[1, 2, 3, 4], [0, -1, 0.5, 2], [3, 3, -3, 1]], [[0.5, -1], [1, 1], [-2, 0]]
    flow = tab() + [
        inject("i1", {"a": a1, "b": b1}, ["n1", "n2"], 0.1),
        inject("i2", {"a": a2, "b": b2}, ["n1"], 0.3),
        inject("i4", {"a": {str(i): x for i, x in enumerate(a1)}, "b": b1}, ["n1"], 0.4),
        {"id": "i3", "type": "inject", "z": "t1", "once": True, "onceDelay": 0.5,
         "props": [{"p": "features", "v": json.dumps(f32buf(a1)), "vt": "bin"},
                   {"p": "payload", "v": json.dumps({"bb": b1}), "vt": "json"}],
         "wires": [["n3"]]},
        infer("n1", ["d1"], model="multi.onnx"),
        infer("n2", ["d2"], model="multi.onnx", outputName="norm", output="result"),
        infer("n3", ["d3"], model="multi.onnx", inputs={"a": "features", "b": "msg.payload.bb"}),
        debug("d1"), debug("d2", "result"), debug("d3"),
    ] + catch_status()
    r = Run(flow, d)
    r.wait(lambda r: len(r.of("d1")) >= 3 and r.of("d2") and r.of("d3"))
    r.stop()
    d1, d2, d3 = r.of("d1"), r.of("d2"), r.of("d3")
    check(len(d1) == 3 and d2 and d3, "outputs arrived: %s %s %s %s" % (d1, d2, d3, r.of("dc")))
    if len(d1) < 3 or not d2 or not d3:
        return
    check(d1[2] == d1[0], "a typed array as JSON ({\"0\":..}) reads as an array: %s" % d1[2])
    ref1 = mtm.reference("multi", {"a": [a1], "b": [b1]})
    check(sorted(d1[0]) == ["mix", "norm"], "all outputs keyed by name: %s" % d1[0])
    close(d1[0]["mix"], ref1["mix"][0], "one sample: mix (batch dimension dropped)")
    close(d1[0]["norm"], ref1["norm"][0], "one sample: norm is a number")
    ref2 = mtm.reference("multi", {"a": a2, "b": b2})
    close(d1[1]["mix"], ref2["mix"], "batch of 3 in one message: mix")
    close(d1[1]["norm"], ref2["norm"], "batch of 3 in one message: norm")
    close(d2[0], ref1["norm"][0], "outputName norm to msg.result")
    close(d3[0]["mix"], ref1["mix"][0], "float32 Buffer + custom mapping: mix")
    check(not r.of("dc"), "no errors: %s" % r.of("dc"))


def case_dynamic_batch(d):
    """Queued messages share one Run (batchSize 16) on a dynamic-batch model, each
    message gets its own rows back, in order, equal to numpy's."""
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(300, 4)).round(4)
    body = ("local xs = msg.payload\nfor i = 1, #xs do node.send({payload = xs[i], seq = i}) end\n"
            "return nil")
    flow = tab() + [
        inject("i1", xs.tolist(), ["gen"], 0.3),
        lua("gen", body, ["n1"]),
        infer("n1", ["d1"], model="classifier.onnx", batchSize=16, timing=True,
              outputName="probs"),
        debug("d1", "true"),
    ] + catch_status()
    r = Run(flow, d)
    r.wait(lambda r: len(r.of("d1")) >= 300)
    r.stop()
    out = r.of("d1")
    check(len(out) == 300, "300 results, got %d (errors %s)" % (len(out), r.of("dc")[:3]))
    if len(out) != 300:
        return
    check([m["seq"] for m in out] == list(range(1, 301)), "order kept")
    ref = mtm.reference("classifier", {"x": xs})["probs"]
    close([m["payload"] for m in out], ref, "probs of 300 messages")
    batches = [m["inferTiming"]["batch"] for m in out]
    check(max(batches) > 1 and max(batches) <= 16, "Runs served several messages (max %d)"
          % max(batches))
    t = out[-1]["inferTiming"]
    check(t["runUs"] > 0 and t["totalUs"] >= t["queueUs"], "timing fields: %s" % t)


def case_bad_inputs(d):
    """Wrong shapes and types go to catch with errors naming the input and the expected shape."""
    cases = [
        ("shape", {"a": [1, 2, 3], "b": [1, 2]},
         'input "a": msg.payload.a has shape [3] (3 values); expected shape [N,4] '
         '(or [4] for one sample, 4 values)'),
        ("string", {"a": "1,2,3,4", "b": [1, 2]},
         'input "a": msg.payload.a is a string; expected a number, an array of numbers or a '
         'Buffer of float32 (shape [N,4])'),
        ("ragged", {"a": [[1, 2, 3, 4], [1, 2]], "b": [[1, 2], [1, 2]]},
         'input "a": msg.payload.a is not a regular array (rows of different lengths); '
         'expected shape [N,4]'),
        ("missing", {"a": [1, 2, 3, 4]},
         'input "b": msg.payload.b is missing (expected shape [N,2])'),
        ("notnum", {"a": [1, 2, "x", 4], "b": [1, 2]},
         'input "a": msg.payload.a holds a value that is not a number; expected numbers of '
         'shape [N,4]'),
        ("samples", {"a": [[1, 2, 3, 4], [1, 2, 3, 4]], "b": [1, 2]},
         'input "b" has 1 samples but input "a" has 2; they must match'),
    ]
    flow = tab()
    for i, (name, payload, _) in enumerate(cases):
        flow.append(inject("i%d" % i, payload, ["n1"], 0.2 + 0.1 * i))
    flow += [
        infer("n1", ["d1"], model="multi.onnx"),
        {"id": "j1", "type": "inject", "z": "t1", "once": True, "onceDelay": 1.0,
         "props": [{"p": "payload", "v": json.dumps(list(range(10))), "vt": "bin"}],
         "wires": [["n2"]]},
        inject("j2", [[1, 2, 3], [4, 5, 6]], ["n2"], 1.1),
        inject("j3", [1, 2, 3], ["n2"], 1.2),
        inject("j4", [[1, 2, 3]], ["n2"], 1.3),
        infer("n2", ["d2"], model="fixed.onnx", outputName="y"),
        debug("d1"), debug("d2"),
    ] + catch_status()
    r = Run(flow, d)
    r.wait(lambda r: len(r.of("dc")) >= len(cases) + 2 and len(r.of("d2")) >= 2)
    r.stop()
    errs = r.of("dc")
    for name, _, want in cases:
        check(want in errs, "%s: error %r in %s" % (name, want, errs))
    check('input "x": msg.payload is a Buffer of 10 bytes, not a whole number of float32 values'
          ' (4 bytes each)' in errs, "buffer size error in %s" % errs)
    check('input "x": msg.payload has shape [2,3] (6 values); expected shape [1,3] (or [3] for'
          ' one sample, 3 values)' in errs, "fixed batch error in %s" % errs)
    check(r.of("d1") == [], "no outputs for bad inputs: %s" % r.of("d1"))
    check(r.of("d2") == [[2, 4, 6], [[2, 4, 6]]], "fixed [1,3] model: %s" % r.of("d2"))


def case_config_errors(d):
    """Bad configuration refuses the flow (edgeflow check) with a message naming the property;
    a model with a second dynamic dimension or unknown names does not load, with the reason."""
    bad = [
        ({"dropPolicy": "sometimes"}, 'dropPolicy "sometimes" is not oldest, newest or error'),
        ({"postprocess": "softmax"},
         'postprocess "softmax" is not none, argmax, topk, threshold or reconstruction'),
        ({"preprocess": "standardize", "mean": [1, 2], "std": [1, 2, 3]},
         "preprocess standardize needs mean and std as numbers or arrays of numbers of the same"
         " length"),
        ({"preprocess": "minmax", "min": 1, "max": 1},
         "preprocess minmax: feature 0 has min 1 and max 1, which do not give a usable scale"),
        ({"batchSize": 0}, "batchSize must be 1..4096"),
        ({"inputs": {"x": "payload..a"}}, "inputs.x must be a msg property: "),
        ({"labels": "nolabels.txt", "postprocess": "argmax"}, "labels file %s/nolabels.txt: "
         "No such file or directory" % d),
    ]
    for cfg, want in bad:
        flow = tab() + [infer("n1", [], model="scale2.onnx", **cfg)]
        path = os.path.join(d, "check.json")
        with open(path, "w") as f:
            json.dump(flow, f)
        p = subprocess.run([EDGEFLOW, "check", path, "--user-dir", d], capture_output=True,
                           text=True)
        check(p.returncode == 1 and want in p.stderr + p.stdout,
              "%s: refused with %r: %s" % (cfg, want, p.stderr + p.stdout))
    flow = tab() + [
        inject("i1", [1, 2], ["n1", "n2", "n3"], 0.5),
        infer("n1", ["d1"], model="dyn2.onnx"),
        infer("n2", ["d1"], model="scale2.onnx", inputs={"z": "payload"}),
        infer("n3", ["d1"], model="scale2.onnx", outputName="q"),
        debug("d1"),
    ] + catch_status()
    r = Run(flow, d)
    r.wait(lambda r: len(r.of("dc")) >= 3)
    r.stop()
    errs = r.of("dc")
    for want in ("x has shape [N,N]: dimension 1 is dynamic, but only the first (batch) "
                 "dimension may be",
                 'inputs maps "z", which the model does not have (its inputs: x)',
                 'outputName "q" is not an output of the model (its outputs: y)'):
        check(any(e.endswith(want) for e in errs), "%r in %s" % (want, errs))


def case_missing_library(d):
    """EDGEFLOW_ORT_LIB pointing at nothing: red status, every message to catch."""
    flow = tab() + [
        inject("i1", [1, 2], ["n1"], 0.2),
        inject("i2", [3, 4], ["n1"], 0.3),
        infer("n1", ["d1"], model="scale2.onnx"),
        debug("d1"),
    ] + catch_status()
    r = Run(flow, d, env={"EDGEFLOW_ORT_LIB": os.path.join(d, "nothing", "libonnxruntime.so.1")})
    r.wait(lambda r: len(r.of("dc")) >= 2)
    r.stop()
    check("ONNX Runtime not available" in r.of("ds"), "status: %s" % r.of("ds"))
    errs = r.of("dc")
    check(len(errs) == 2 and all(e.startswith("ONNX Runtime not available: ") and
                                 "nothing/libonnxruntime.so.1" in e for e in errs),
          "errors: %s" % errs)
    check(r.of("d1") == [], "no output")
    # the same through the node's own setting, and a library that is not ORT
    node = [n for n in flow if n["id"] == "n1"][0]
    node["runtimeLibrary"] = os.path.join(os.path.dirname(EDGEFLOW), "plugins", "lua.so")
    r = Run(flow, d)
    r.wait(lambda r: len(r.of("dc")) >= 2)
    r.stop()
    errs = r.of("dc")
    check(len(errs) == 2 and "has no OrtGetApiBase: not an ONNX Runtime library" in errs[0],
          "runtimeLibrary not ORT: %s" % errs)
    # and settings inferRuntimeLibrary
    del node["runtimeLibrary"]
    r = Run(flow, d, settings={"inferRuntimeLibrary": "/nonexistent/libort.so"})
    r.wait(lambda r: len(r.of("dc")) >= 2)
    r.stop()
    errs = r.of("dc")
    check(len(errs) == 2 and "/nonexistent/libort.so" in errs[0], "setting: %s" % errs)


def case_corrupt_model(d):
    """A corrupt model file and a missing one: red status, errors to catch, log line."""
    with open(os.path.join(d, "corrupt.onnx"), "wb") as f:
        f.write(b"\x08\x07this is not an onnx model" * 10)
    flow = tab() + [
        inject("i1", [1, 2], ["n1", "n2"], 0.5),
        infer("n1", ["d1"], model="corrupt.onnx"),
        infer("n2", ["d1"], model="absent.onnx"),
        debug("d1"),
    ] + catch_status()
    r = Run(flow, d)
    r.wait(lambda r: len(r.of("dc")) >= 2)
    r.stop()
    errs = r.of("dc")
    check("model error" in r.of("ds"), "status: %s" % r.of("ds"))
    check(any(e.startswith("model %s/corrupt.onnx is not loaded: cannot load model: " % d)
              for e in errs), "corrupt: %s" % errs)
    check(any(e.startswith("model %s/absent.onnx is not loaded: " % d) for e in errs),
          "absent: %s" % errs)
    check(any("corrupt.onnx: cannot load model" in l for l in r.log), "logged: %s" % r.log)


def case_ordering(d):
    """1000 messages in, the same 1000 out in the same order (batched and unbatched)."""
    body = "for i = 1, 1000 do node.send({payload = {i, -i}, seq = i}) end\nreturn nil"
    flow = tab() + [
        inject("i1", 0, ["gen"], 0.3),
        lua("gen", body, ["n1", "n2"]),
        infer("n1", ["d1"], model="scale2.onnx", batchSize=8, queueLimit=2000, outputName="y"),
        infer("n2", ["d2"], model="scale3.onnx", queueLimit=2000, outputName="y"),
        debug("d1", "true"), debug("d2", "true"),
    ] + catch_status()
    r = Run(flow, d)
    r.wait(lambda r: len(r.of("d1")) >= 1000 and len(r.of("d2")) >= 1000, 60)
    r.stop()
    for node, k in (("d1", 2), ("d2", 3)):
        out = r.of(node)
        check(len(out) == 1000, "%s: 1000 out, got %d" % (node, len(out)))
        check([m["seq"] for m in out] == list(range(1, 1001)), "%s: order kept" % node)
        check(all(m["payload"] == [k * m["seq"], -k * m["seq"]] for m in out),
              "%s: values" % node)


def case_reload(d):
    """The model file replaced on disk (rename over it) is reloaded between Runs: a steady
    stream of messages sees x*2, then x*3, with none lost and order kept."""
    shutil.copy(os.path.join(d, "scale2.onnx"), os.path.join(d, "model.onnx"))
    body = ('local n = (context.get("n") or 0) + 1\ncontext.set("n", n)\n'
            'msg.seq = n\nmsg.payload = {n, 1}\nreturn msg')
    flow = tab() + [
        {"id": "i1", "type": "inject", "z": "t1", "once": True, "onceDelay": 0.2, "repeat": "0.02",
         "props": [{"p": "payload"}], "payload": "", "payloadType": "date", "wires": [["gen"]]},
        lua("gen", body, ["n1"]),
        infer("n1", ["d1"], model="model.onnx", watch=0.1, outputName="y"),
        debug("d1", "true"),
    ] + catch_status()
    r = Run(flow, d)
    ok = r.wait(lambda r: len(r.of("d1")) >= 20)
    tmp = os.path.join(d, "model.tmp")
    shutil.copy(os.path.join(d, "scale3.onnx"), tmp)
    os.rename(tmp, os.path.join(d, "model.onnx"))
    ok = ok and r.wait(lambda r: sum(1 for m in r.of("d1") if m["payload"][1] == 3) >= 20)
    r.stop()
    out = r.of("d1")
    check(ok, "reloaded model in use (%d results, errors %s)" % (len(out), r.of("dc")[:2]))
    seqs = [m["seq"] for m in out]
    check(seqs == list(range(1, len(out) + 1)), "no message lost, order kept")
    ks = [m["payload"][1] for m in out]
    switch = ks.index(3) if 3 in ks else len(ks)
    check(all(k == 2 for k in ks[:switch]) and all(k == 3 for k in ks[switch:]),
          "one switch from x*2 to x*3")
    check(all(m["payload"][0] == m["seq"] * m["payload"][1] for m in out), "values")
    check(any("reloaded" in l for l in r.log), "reload logged")
    check(not r.of("dc"), "no errors: %s" % r.of("dc")[:3])


def case_preprocess(d):
    """standardize (mean/std per feature) and minmax before the model."""
    x = [1, 2, 3, 4, 5, 6, 7, 8]
    mean = [0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4]
    std = [1, 2, 3, 4, 0.5, 0.25, 2, 8]
    flow = tab() + [
        inject("i1", x, ["n1", "n2", "n3"], 0.3),
        infer("n1", ["d1"], model="identity8.onnx", preprocess="standardize", mean=mean, std=std,
              outputName="r"),
        infer("n2", ["d2"], model="identity8.onnx", preprocess="minmax", min=0, max=10,
              outputName="r"),
        infer("n3", ["d3"], model="identity8.onnx", preprocess="standardize", mean=[1, 2, 3],
              std=1, outputName="r"),
        debug("d1"), debug("d2"), debug("d3"),
    ] + catch_status()
    r = Run(flow, d)
    r.wait(lambda r: r.of("d1") and r.of("d2") and r.of("dc"))
    r.stop()
    xv = np.asarray(x, dtype=np.float64)
    z = ((xv - mean) / std).astype(np.float32)
    if check(r.of("d1") and r.of("d2"), "outputs: %s" % r.of("dc")):
        close(r.of("d1")[0], mtm.reference("identity8", {"x": z})["r"], "standardize")
        close(r.of("d2")[0], mtm.reference("identity8", {"x": (xv / 10).astype(np.float32)})["r"],
              "minmax")
    check("x has 8 values per sample; 3 mean/std values do not fit it" in "".join(r.log) and
          any(e.startswith("model %s/identity8.onnx is not loaded: x has 8 values per sample"
                           % d) for e in r.of("dc")), "mismatched mean: %s" % r.of("dc"))


def case_postprocess(d):
    """argmax with labels, top-k, threshold to booleans, reconstruction error."""
    with open(os.path.join(d, "labels.txt"), "w") as f:
        f.write("idle\nnormal\nwarm\nhot\nfault\n")
    x = [[0.3, -1.2, 2.0, 0.7], [1.5, 0.1, -0.4, -2.2]]
    xs = [[0.2, -0.4], [3.0, 1.0], [-2, 0.5]]
    flow = tab() + [
        inject("i1", x[0], ["n1", "n2"], 0.3),
        inject("i2", x, ["n1"], 0.4),
        inject("i3", xs, ["n3"], 0.3),
        inject("i4", [1, 2, 3, 4, 5, 6, 7, 8], ["n4", "n5"], 0.3),
        inject("i5", [[1, 2, 3, 4], [0, 0, 0, 0]], ["n6"], 0.3),
        infer("n1", ["d1"], model="classifier.onnx", postprocess="argmax", labels="labels.txt"),
        infer("n2", ["d2"], model="classifier.onnx", postprocess="topk", topK=3,
              labels="labels.txt"),
        infer("n3", ["d3"], model="sigmoid.onnx", postprocess="threshold", threshold=0.5),
        infer("n4", ["d4"], model="identity8.onnx", postprocess="reconstruction",
              threshold=0.1),
        infer("n5", ["d5"], model="identity8.onnx", postprocess="reconstruction", threshold=1,
              preprocess="standardize", mean=4, std=2),
        infer("n6", ["d6"], model="multi.onnx", outputName="mix", postprocess="threshold",
              threshold=1, inputs={"a": "payload", "b": "bzero"}),
        debug("d1"), debug("d2"), debug("d3"), debug("d4"), debug("d5"), debug("d6"),
    ] + catch_status()
    flow[5]["props"] = [{"p": "payload"}, {"p": "bzero", "v": "[[0,0],[0,0]]", "vt": "json"}]
    r = Run(flow, d)
    r.wait(lambda r: all(r.of(n) for n in ("d2", "d3", "d4", "d5", "d6")) and
           len(r.of("d1")) >= 2)
    r.stop()
    labels = ["idle", "normal", "warm", "hot", "fault"]
    probs = mtm.reference("classifier", {"x": x})["probs"]
    d1 = r.of("d1")
    if check(len(d1) == 2 and r.of("d2") and r.of("d3") and r.of("d4") and r.of("d5") and
             r.of("d6"), "outputs (errors %s)" % r.of("dc")):
        best = int(np.argmax(probs[0]))
        check(d1[0]["index"] == best and d1[0]["label"] == labels[best], "argmax %s" % d1[0])
        close(d1[0]["score"], probs[0][best], "argmax score")
        check([e["index"] for e in d1[1]] == [int(i) for i in np.argmax(probs, axis=1)],
              "argmax per sample of a batch: %s" % d1[1])
        top = r.of("d2")[0]
        order = [int(i) for i in np.argsort(-probs[0])[:3]]
        check([e["index"] for e in top] == order and [e["label"] for e in top] ==
              [labels[i] for i in order], "topk %s" % top)
        close([e["score"] for e in top], probs[0][order], "topk scores")
        p = mtm.reference("sigmoid", {"x": xs})["p"]
        check(r.of("d3")[0] == [bool(v > 0.5) for v in p[:, 0]], "threshold %s vs %s"
              % (r.of("d3"), p[:, 0]))
        xv = np.arange(1, 9, dtype=np.float32)
        mse = float(np.mean((xv - mtm.reference("identity8", {"x": xv})["r"]) ** 2))
        close(r.of("d4")[0]["score"], mse, "reconstruction MSE")
        check(r.of("d4")[0]["anomaly"] is (mse > 0.1), "anomaly flag")
        z = ((xv - 4) / 2).astype(np.float32)
        mse2 = float(np.mean((z - mtm.reference("identity8", {"x": z})["r"]) ** 2))
        close(r.of("d5")[0]["score"], mse2, "reconstruction after standardize")
        check(r.of("d5")[0]["anomaly"] is False, "no anomaly below threshold")
        mix = mtm.reference("multi", {"a": [[1, 2, 3, 4], [0, 0, 0, 0]],
                                      "b": [[0, 0], [0, 0]]})["mix"]
        check(r.of("d6")[0] == (mix > 1).tolist(), "threshold of a vector output per sample %s"
              % r.of("d6"))


def case_ints(d):
    """An int64 input from numbers and from a raw int64 Buffer."""
    k = [[3, -4], [10, 7]]
    raw = list(struct.pack("<2q", 5, 6))
    flow = tab() + [
        inject("i1", k, ["n1"], 0.3),
        {"id": "i2", "type": "inject", "z": "t1", "once": True, "onceDelay": 0.4,
         "props": [{"p": "payload", "v": json.dumps(raw), "vt": "bin"}], "wires": [["n1"]]},
        infer("n1", ["d1"], model="ints.onnx", outputName="f"),
        debug("d1"),
    ] + catch_status()
    r = Run(flow, d)
    r.wait(lambda r: len(r.of("d1")) >= 2)
    r.stop()
    check(r.of("d1") == [[[1.5, -2], [5, 3.5]], [2.5, 3]], "int64: %s %s" % (r.of("d1"),
                                                                            r.of("dc")))


def case_queue(d):
    """A full queue with each drop policy: the counter in the status, nothing lost unaccounted."""
    body = "for i = 1, 200 do node.send({payload = {i, 0}, seq = i}) end\nreturn nil"
    flow = tab() + [
        inject("i1", 0, ["gen"], 0.3),
        lua("gen", body, ["n1"]),
        debug("d1", "true"),
    ] + catch_status()
    for policy in ("oldest", "newest", "error"):
        f = [dict(n) for n in flow]
        f.append(infer("n1", ["d1"], model="scale2.onnx", queueLimit=5, dropPolicy=policy,
                       outputName="y"))
        r = Run(f, d)
        r.wait(lambda r: any((s or "").startswith("queue 0, dropped") for s in r.of("ds")) and
               len(r.of("d1")) + len(r.of("dc")) > 0)
        time.sleep(0.3)
        r.stop()
        out = [m["seq"] for m in r.of("d1")]
        st = [s for s in r.of("ds") if s and "dropped" in s]
        dropped = int(st[-1].split("dropped ")[1]) if st else 0
        errs = r.of("dc")
        check(st and st[-1].startswith("queue 0, dropped "), "%s: final status %s" % (policy, st))
        check(dropped > 0 and len(out) + dropped == 200, "%s: %d out + %d dropped = 200" %
              (policy, len(out), dropped))
        check(out == sorted(out), "%s: order kept" % policy)
        if policy == "oldest":
            check(out[-1] == 200, "oldest: the newest message survives")
        if policy == "newest":
            check(out[0] == 1 and out[-1] != 200, "newest: the first survives, the last dropped")
        if policy == "error":
            check(len(errs) == dropped and all(e.startswith("queue full: 5 messages are waiting")
                                               for e in errs), "error: %s" % errs[:2])
        else:
            check(not errs, "%s: no errors" % policy)


def case_vibration(d):
    """The committed vibration anomaly model: normal windows score low, faulty ones high,
    the node's reconstruction score equals the model's own score output and numpy's."""
    meta = json.load(open(os.path.join(MODELS, "vibration_anomaly.json")))
    rng = np.random.default_rng(99)
    normal = train_anomaly.features(train_anomaly.windows(rng, 40, fault=False))
    faulty = train_anomaly.features(train_anomaly.windows(rng, 40, fault=True))
    feats = np.concatenate([normal, faulty, [meta["examples"]["healthy"],
                                             meta["examples"]["faulty"]]]).round(6)
    model = os.path.join(MODELS, "vibration_anomaly.onnx")
    body = ("for i = 1, #msg.payload do node.send({payload = msg.payload[i], seq = i}) end\n"
            "return nil")
    flow = tab() + [
        inject("i1", feats.tolist(), ["gen"], 0.3),
        lua("gen", body, ["n1", "n2"]),
        infer("n1", ["d1"], model=model, preprocess="standardize", mean=meta["mean"],
              std=meta["std"], outputName="reconstruction", postprocess="reconstruction",
              threshold=meta["threshold"], batchSize=8),
        infer("n2", ["d2"], model=model, preprocess="standardize", mean=meta["mean"],
              std=meta["std"], outputName="score"),
        debug("d1"), debug("d2"),
    ] + catch_status()
    r = Run(flow, d)
    r.wait(lambda r: len(r.of("d1")) >= 82 and len(r.of("d2")) >= 82)
    r.stop()
    d1, d2 = r.of("d1"), r.of("d2")
    if not check(len(d1) == 82 and len(d2) == 82, "82 results each (%s)" % r.of("dc")[:2]):
        return
    ref = train_anomaly.score(feats, meta)
    close([x["score"] for x in d1], ref, "node reconstruction score vs numpy", rtol=1e-4)
    close(d2, ref, "model score output vs numpy", rtol=1e-4)
    flags = [x["anomaly"] for x in d1]
    check(sum(flags[:40]) <= 1 and sum(flags[40:80]) >= 38,
          "anomalies: %d of 40 normal, %d of 40 faulty" % (sum(flags[:40]), sum(flags[40:80])))
    check(flags[80:] == [False, True], "the .json's examples: healthy, faulty")


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}


def main():
    global EDGEFLOW
    if len(sys.argv) != 3 or (sys.argv[2] not in CASES and sys.argv[2] != "all"):
        sys.exit("usage: infer_test.py EDGEFLOW CASE (%s, all)" % ", ".join(CASES))
    EDGEFLOW = os.path.abspath(sys.argv[1])
    names = list(CASES) if sys.argv[2] == "all" else [sys.argv[2]]
    for name in names:
        d = tempfile.mkdtemp(prefix="ef-infer-%s." % name)
        try:
            mtm.build(d)
            CASES[name](d)
        finally:
            shutil.rmtree(d, ignore_errors=True)
        print("%s: %s" % (name, "failed" if failures else "ok"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
