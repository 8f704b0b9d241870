"""ONNX Runtime CPU anchor for the visual-pathway benchmark: the same CORnet-Z (conv/ReLU/max-pool ×4, global
average pool), batch 1, one intra-op thread, median over N runs. Prints one JSON line per size.

Usage: python benches/ort_anchor.py [--channels C] [--sizes 64,96,224] [--iters N]"""
import argparse
import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from cornet_onnx import cornet_model, cornet_weights  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--channels", type=int, default=3)
ap.add_argument("--sizes", default="64,96,224")
ap.add_argument("--iters", type=int, default=50)
args = ap.parse_args()

ws, bs = cornet_weights(1, args.channels, [64, 128, 256, 512])
for size in map(int, args.sizes.split(",")):
    model = cornet_model(ws, bs, args.channels, size)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, args.channels, size, size), dtype=np.float32)
    for _ in range(5):
        sess.run(None, {"frames": x})
    times = []
    for _ in range(args.iters):
        t0 = time.perf_counter()
        sess.run(None, {"frames": x})
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    print(json.dumps({"anchor": f"onnxruntime {ort.__version__}", "size": size, "channels": args.channels,
                      "threads": 1, "median_ms": round(times[len(times) // 2], 4)}))
