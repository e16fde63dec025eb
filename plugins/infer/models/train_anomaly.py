#!/usr/bin/python3
"""Trains the vibration anomaly model the infer node ships with, and exports it.

Usage: /usr/bin/python3 train_anomaly.py [OUTDIR]   (default: this directory)
Writes vibration_anomaly.onnx and vibration_anomaly.json. Needs only numpy
and python3-onnx; deterministic (fixed seeds).

Data: synthetic accelerometer windows (1000 Hz, 256 samples) of a rotating
machine. A healthy machine shows its shaft frequency (24-26 Hz) and two
harmonics plus noise; a bearing fault adds a train of impacts at the defect
frequency (80-95 Hz), each ringing a structural resonance (280-320 Hz).

Features (8 per window x, in this order; see features()): rms =
sqrt(mean(x^2)), peak = max|x|, crest = peak / rms, kurtosis = m4 / m2^2
of x minus its mean, and for the bands 0-60, 60-150, 150-300 and 300-500 Hz
sqrt(sum over the band's bins of (|rfft(x)| / 256)^2). The .json also
carries one healthy and one faulty feature row as examples.

Model: an autoencoder 8 -> 3 (tanh) -> 8 trained with Adam on healthy
windows only, on standardised features. Its input "features" [N,8] takes
standardised features ((x - mean) / std, mean/std in the .json: the infer
node's preprocess "standardize" does it); outputs "reconstruction" [N,8] and
"score" [N], the mean squared reconstruction error. A score above
"threshold" in the .json (1.5 times the 99.5th percentile of healthy
validation windows) marks an anomaly.
"""
import json
import os
import sys

import numpy as np

FS = 1000
WINDOW = 256
FEATURES = ["rms", "peak", "crest", "kurtosis", "band_0_60", "band_60_150", "band_150_300",
            "band_300_500"]
BANDS = [(0, 60), (60, 150), (150, 300), (300, 500.1)]


def windows(rng, n, fault):
    """n windows of WINDOW samples of a healthy (fault=False) or faulty machine."""
    t = np.arange(WINDOW) / FS
    out = np.empty((n, WINDOW))
    for i in range(n):
        f0 = rng.uniform(24, 26)
        a = rng.uniform(0.8, 1.2)
        ph = rng.uniform(0, 2 * np.pi, 3)
        x = (a * np.sin(2 * np.pi * f0 * t + ph[0]) +
             0.3 * a * np.sin(2 * np.pi * 2 * f0 * t + ph[1]) +
             0.1 * a * np.sin(2 * np.pi * 3 * f0 * t + ph[2]) +
             rng.normal(0, 0.05, WINDOW))
        if fault:
            fd = rng.uniform(80, 95)
            fr = rng.uniform(280, 320)
            amp = rng.uniform(0.6, 1.2)
            start = rng.uniform(0, 1 / fd)
            for k in np.arange(start, t[-1], 1 / fd):
                dt = t - k
                m = dt >= 0
                x[m] += amp * np.exp(-dt[m] * 150) * np.sin(2 * np.pi * fr * dt[m])
        out[i] = x
    return out


def features(w):
    """The 8 features of each window (rows of w)."""
    w = np.asarray(w, dtype=np.float64)
    rms = np.sqrt(np.mean(w ** 2, axis=1))
    peak = np.max(np.abs(w), axis=1)
    c = w - w.mean(axis=1, keepdims=True)
    kurt = np.mean(c ** 4, axis=1) / np.mean(c ** 2, axis=1) ** 2
    spec = np.abs(np.fft.rfft(w, axis=1)) / WINDOW
    freqs = np.fft.rfftfreq(WINDOW, 1 / FS)
    bands = [np.sqrt(np.sum(spec[:, (freqs >= lo) & (freqs < hi)] ** 2, axis=1))
             for lo, hi in BANDS]
    return np.stack([rms, peak, peak / rms, kurt] + bands, axis=1)


def train(z, rng, hidden=3, steps=4000, lr=0.01):
    """Adam on the mean squared reconstruction error of z (rows: standardised features)."""
    n, f = z.shape
    p = {"W1": rng.normal(0, 0.5, (f, hidden)), "b1": np.zeros(hidden),
         "W2": rng.normal(0, 0.5, (hidden, f)), "b2": np.zeros(f)}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(v) for k, v in p.items()}
    for step in range(1, steps + 1):
        h = np.tanh(z @ p["W1"] + p["b1"])
        r = h @ p["W2"] + p["b2"]
        g_r = 2 * (r - z) / (n * f)
        g = {"W2": h.T @ g_r, "b2": g_r.sum(axis=0)}
        g_h = (g_r @ p["W2"].T) * (1 - h ** 2)
        g["W1"] = z.T @ g_h
        g["b1"] = g_h.sum(axis=0)
        for k in p:
            m[k] = 0.9 * m[k] + 0.1 * g[k]
            v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2
            mh = m[k] / (1 - 0.9 ** step)
            vh = v[k] / (1 - 0.999 ** step)
            p[k] -= lr * mh / (np.sqrt(vh) + 1e-8)
    return {k: val.astype(np.float32) for k, val in p.items()}


def forward(z, p):
    """Reconstruction and score of standardised rows z, in float32 as ONNX Runtime computes."""
    z = np.asarray(z, dtype=np.float32)
    r = np.tanh(z @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
    return r, np.mean((z - r) ** 2, axis=1)


def load_params(path):
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path)
    return {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}


def score(feats, meta, model=None):
    """The anomaly score of raw feature rows, as the model with standardize computes it."""
    model = model or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                  "vibration_anomaly.onnx")
    z = ((np.asarray(feats, dtype=np.float64) - meta["mean"]) / meta["std"]).astype(np.float32)
    return forward(z, load_params(model))[1]


def export(p, path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    F = TensorProto.FLOAT
    nodes = [
        helper.make_node("MatMul", ["features", "W1"], ["h1"]),
        helper.make_node("Add", ["h1", "b1"], ["h2"]),
        helper.make_node("Tanh", ["h2"], ["h"]),
        helper.make_node("MatMul", ["h", "W2"], ["r1"]),
        helper.make_node("Add", ["r1", "b2"], ["reconstruction"]),
        helper.make_node("Sub", ["features", "reconstruction"], ["d"]),
        helper.make_node("Mul", ["d", "d"], ["d2"]),
        helper.make_node("ReduceMean", ["d2"], ["score"], axes=[1], keepdims=0),
    ]
    g = helper.make_graph(
        nodes, "vibration_anomaly",
        [helper.make_tensor_value_info("features", F, ["N", len(FEATURES)])],
        [helper.make_tensor_value_info("reconstruction", F, ["N", len(FEATURES)]),
         helper.make_tensor_value_info("score", F, ["N"])],
        [numpy_helper.from_array(p[k], k) for k in ("W1", "b1", "W2", "b2")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="edgeflow train_anomaly.py")
    model.ir_version = 8
    model.doc_string = ("Vibration anomaly autoencoder; input: standardised features " +
                        ", ".join(FEATURES))
    onnx.checker.check_model(model)
    onnx.save(model, path)


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    rng = np.random.default_rng(8)
    train_f = features(windows(rng, 2000, fault=False))
    val_f = features(windows(rng, 500, fault=False))
    bad_f = features(windows(rng, 500, fault=True))
    mean, std = train_f.mean(axis=0), train_f.std(axis=0)
    p = train((train_f - mean) / std, rng)
    s_val = forward((val_f - mean) / std, p)[1]
    s_bad = forward((bad_f - mean) / std, p)[1]
    threshold = float(1.5 * np.percentile(s_val, 99.5))
    ex_ok = features(windows(rng, 1, fault=False))[0]
    ex_bad = features(windows(rng, 1, fault=True))[0]
    os.makedirs(outdir, exist_ok=True)
    export(p, os.path.join(outdir, "vibration_anomaly.onnx"))
    meta = {
        "model": "vibration_anomaly.onnx",
        "input": "features",
        "features": FEATURES,
        "sample_rate_hz": FS,
        "window_samples": WINDOW,
        "mean": [round(float(x), 6) for x in mean],
        "std": [round(float(x), 6) for x in std],
        "outputs": {"reconstruction": "[N,8] reconstructed standardised features",
                    "score": "[N] mean squared reconstruction error"},
        "threshold": round(threshold, 6),
        "examples": {"healthy": [round(float(x), 6) for x in ex_ok],
                     "faulty": [round(float(x), 6) for x in ex_bad]},
        "validation": {
            "healthy_false_alarms": int((s_val > threshold).sum()), "healthy_windows": len(s_val),
            "faulty_detected": int((s_bad > threshold).sum()), "faulty_windows": len(s_bad),
            "healthy_score_median": round(float(np.median(s_val)), 6),
            "faulty_score_median": round(float(np.median(s_bad)), 6)},
    }
    with open(os.path.join(outdir, "vibration_anomaly.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print(json.dumps(meta["validation"]))


if __name__ == "__main__":
    main()
