"""ONNX Runtime CPU anchor for the visual-pathway benchmark: the same CORnet-Z (conv/ReLU/max-pool ×4, global
average pool), batch 1, one intra-op thread, in f32 and as ORT's own int8 (static QDQ quantisation: per-channel s8
weights, u8 activations, calibrated on a few random frames). Both sessions are timed in interleaved rounds; prints
one JSON line per size with the median and the 10th percentile of each.

Usage: python benches/ort_anchor.py [--channels C] [--sizes 64,96,224] [--iters N] [--no-int8]
With PYTHONPATH at a copy made by benches/ort_avx2.py, ORT runs its AVX2 kernels on an AVX-512 machine.

For instruction counts under an emulator (benches/avx2_count.sh), where anything else the process does is noise:
--save DIR writes DIR/f32.onnx and DIR/int8.onnx (first size) and exits; --count MODEL loads one of them and runs it
3 + N times, untimed, printing nothing, with ORT's thread pools told not to spin."""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from cornet_onnx import cornet_model, cornet_weights  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--channels", type=int, default=3)
ap.add_argument("--sizes", default="64,96,224")
ap.add_argument("--iters", type=int, default=50)
ap.add_argument("--no-int8", action="store_true", help="time the f32 model only")
ap.add_argument("--save", metavar="DIR", help="write the f32 and int8 models of the first size to DIR and exit")
ap.add_argument("--count", metavar="MODEL", help="run this model file 3 + N times, untimed, and print nothing")
args = ap.parse_args()


class Frames(CalibrationDataReader):
    """Eight random frames in 0..1 (the pathway's input range) for the activation ranges."""

    def __init__(self, channels, size):
        rng = np.random.default_rng(1)
        self.batches = iter([{"frames": rng.random((1, channels, size, size), dtype=np.float32)} for _ in range(8)])

    def get_next(self):
        return next(self.batches, None)


def session(model_bytes, spin=True):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    if not spin:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def int8_model(model, channels, size):
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "f32.onnx"), os.path.join(d, "int8.onnx")
        with open(src, "wb") as f:
            f.write(model.SerializeToString())
        quantize_static(src, dst, Frames(channels, size), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, reduce_range=False)
        with open(dst, "rb") as f:
            return f.read()


if args.count:
    with open(args.count, "rb") as f:
        s = session(f.read(), spin=False)
    shape = [d if isinstance(d, int) else 1 for d in s.get_inputs()[0].shape]
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    for _ in range(3 + args.iters):
        s.run(None, {"frames": x})
    sys.exit(0)

ws, bs = cornet_weights(1, args.channels, [64, 128, 256, 512])
if args.save:
    size = int(args.sizes.split(",")[0])
    model = cornet_model(ws, bs, args.channels, size)
    os.makedirs(args.save, exist_ok=True)
    for name, data in [("f32", model.SerializeToString()), ("int8", int8_model(model, args.channels, size))]:
        with open(os.path.join(args.save, f"{name}.onnx"), "wb") as f:
            f.write(data)
    sys.exit(0)
for size in map(int, args.sizes.split(",")):
    model = cornet_model(ws, bs, args.channels, size)
    sessions = {"f32": session(model.SerializeToString())}
    if not args.no_int8:
        sessions["int8"] = session(int8_model(model, args.channels, size))
    x = np.random.default_rng(0).random((1, args.channels, size, size), dtype=np.float32)
    times = {k: [] for k in sessions}
    for s in sessions.values():
        for _ in range(5):
            s.run(None, {"frames": x})
    # Interleave in blocks of 10 so background load hits both models alike.
    for _ in range(max(1, args.iters // 10)):
        for k, s in sessions.items():
            for _ in range(10):
                t0 = time.perf_counter()
                s.run(None, {"frames": x})
                times[k].append((time.perf_counter() - t0) * 1e3)
    out = {"anchor": f"onnxruntime {ort.__version__}", "size": size, "channels": args.channels, "threads": 1}
    if os.path.exists(os.path.join(os.path.dirname(ort.__file__), "AVX2_ONLY")):
        out["mlas"] = "avx2 (AVX-512 set-up patched out by benches/ort_avx2.py)"
    for k, t in times.items():
        t.sort()
        out[f"{k}_median_ms"] = round(t[len(t) // 2], 4)
        out[f"{k}_p10_ms"] = round(t[len(t) // 10], 4)
    out["median_ms"] = out["f32_median_ms"]
    print(json.dumps(out))
