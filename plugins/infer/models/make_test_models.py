#!/usr/bin/python3
"""Builds the small ONNX models the infer node's tests run, with python3-onnx.

Usage: /usr/bin/python3 make_test_models.py OUTDIR

Each model is deterministic (weights from a fixed seed) and comes with a
numpy function computing the same thing, so tests compare the node's
output with numpy's (see reference()). Models:
  multi.onnx       inputs a [N,4], b [N,2] (float32); outputs
                   mix = relu(a@W1 + b@W2 + c) [N,3], norm = sum(a*a, axis 1) [N]
  classifier.onnx  input x [N,4]; output probs = softmax(x@W + c) [N,5]
  sigmoid.onnx     input x [N,2]; output p = sigmoid(x@w + c) [N,1]
  fixed.onnx       input x [1,3] (no dynamic batch); output y = 2x [1,3]
  ints.onnx        input k [N,2] int64; output f = float(k) * 0.5 [N,2] float32
  scale2.onnx,     input x [N,2]; output y = x * 2 (resp. x * 3): the
  scale3.onnx      reload test swaps one for the other
  identity8.onnx   input x [N,8]; output r = x * 0.9 (a stand-in autoencoder)
  dyn2.onnx        input x [N,M] (two dynamic dimensions, which the node refuses)
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


def weights():
    rng = np.random.default_rng(20261122)
    f = np.float32
    return {
        "W1": rng.normal(size=(4, 3)).astype(f),
        "W2": rng.normal(size=(2, 3)).astype(f),
        "c": rng.normal(size=(3,)).astype(f),
        "Wc": rng.normal(size=(4, 5)).astype(f),
        "cc": rng.normal(size=(5,)).astype(f),
        "ws": rng.normal(size=(2, 1)).astype(f),
        "cs": rng.normal(size=(1,)).astype(f),
    }


def tensor(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def save(graph, path):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="edgeflow-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def build(outdir):
    w = weights()
    F = TensorProto.FLOAT
    os.makedirs(outdir, exist_ok=True)

    nodes = [
        helper.make_node("MatMul", ["a", "W1"], ["t1"]),
        helper.make_node("MatMul", ["b", "W2"], ["t2"]),
        helper.make_node("Add", ["t1", "t2"], ["t3"]),
        helper.make_node("Add", ["t3", "c"], ["t4"]),
        helper.make_node("Relu", ["t4"], ["mix"]),
        helper.make_node("Mul", ["a", "a"], ["sq"]),
        helper.make_node("ReduceSum", ["sq", "axes"], ["norm"], keepdims=0),
    ]
    g = helper.make_graph(
        nodes, "multi", [tensor("a", F, ["N", 4]), tensor("b", F, ["N", 2])],
        [tensor("mix", F, ["N", 3]), tensor("norm", F, ["N"])],
        [init("W1", w["W1"]), init("W2", w["W2"]), init("c", w["c"]),
         init("axes", np.array([1], dtype=np.int64))])
    save(g, os.path.join(outdir, "multi.onnx"))

    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "Wc"], ["l1"]),
         helper.make_node("Add", ["l1", "cc"], ["l2"]),
         helper.make_node("Softmax", ["l2"], ["probs"], axis=1)],
        "classifier", [tensor("x", F, ["N", 4])], [tensor("probs", F, ["N", 5])],
        [init("Wc", w["Wc"]), init("cc", w["cc"])])
    save(g, os.path.join(outdir, "classifier.onnx"))

    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "ws"], ["s1"]),
         helper.make_node("Add", ["s1", "cs"], ["s2"]),
         helper.make_node("Sigmoid", ["s2"], ["p"])],
        "sigmoid", [tensor("x", F, ["N", 2])], [tensor("p", F, ["N", 1])],
        [init("ws", w["ws"]), init("cs", w["cs"])])
    save(g, os.path.join(outdir, "sigmoid.onnx"))

    g = helper.make_graph(
        [helper.make_node("Mul", ["x", "two"], ["y"])], "fixed",
        [tensor("x", F, [1, 3])], [tensor("y", F, [1, 3])],
        [init("two", np.array([2.0], dtype=np.float32))])
    save(g, os.path.join(outdir, "fixed.onnx"))

    g = helper.make_graph(
        [helper.make_node("Cast", ["k"], ["kf"], to=F),
         helper.make_node("Mul", ["kf", "half"], ["f"])], "ints",
        [tensor("k", TensorProto.INT64, ["N", 2])], [tensor("f", F, ["N", 2])],
        [init("half", np.array([0.5], dtype=np.float32))])
    save(g, os.path.join(outdir, "ints.onnx"))

    for k in (2, 3):
        g = helper.make_graph(
            [helper.make_node("Mul", ["x", "k"], ["y"])], "scale%d" % k,
            [tensor("x", F, ["N", 2])], [tensor("y", F, ["N", 2])],
            [init("k", np.array([float(k)], dtype=np.float32))])
        save(g, os.path.join(outdir, "scale%d.onnx" % k))

    g = helper.make_graph(
        [helper.make_node("Mul", ["x", "k"], ["r"])], "identity8",
        [tensor("x", F, ["N", 8])], [tensor("r", F, ["N", 8])],
        [init("k", np.array([0.9], dtype=np.float32))])
    save(g, os.path.join(outdir, "identity8.onnx"))

    g = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "dyn2",
        [tensor("x", F, ["N", "M"])], [tensor("y", F, ["N", "M"])])
    save(g, os.path.join(outdir, "dyn2.onnx"))


def reference(model, inputs):
    """numpy's result for `model` on a dict of input arrays (a batch)."""
    w = weights()
    f32 = lambda v: np.asarray(v, dtype=np.float32)
    if model == "multi":
        a, b = f32(inputs["a"]), f32(inputs["b"])
        mix = np.maximum(a @ w["W1"] + b @ w["W2"] + w["c"], 0)
        return {"mix": mix, "norm": (a * a).sum(axis=1)}
    if model == "classifier":
        l = f32(inputs["x"]) @ w["Wc"] + w["cc"]
        e = np.exp(l - l.max(axis=1, keepdims=True))
        return {"probs": e / e.sum(axis=1, keepdims=True)}
    if model == "sigmoid":
        s = f32(inputs["x"]) @ w["ws"] + w["cs"]
        return {"p": 1 / (1 + np.exp(-s))}
    if model == "fixed":
        return {"y": f32(inputs["x"]) * 2}
    if model == "ints":
        return {"f": np.asarray(inputs["k"], dtype=np.int64).astype(np.float32) * 0.5}
    if model.startswith("scale"):
        return {"y": f32(inputs["x"]) * float(model[5:])}
    if model == "identity8":
        return {"r": f32(inputs["x"]) * np.float32(0.9)}
    raise KeyError(model)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_test_models.py OUTDIR")
    build(sys.argv[1])
