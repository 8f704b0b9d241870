"""CORnet-Z as an ONNX graph, built with onnx.helper, with weights drawn from the same SplitMix64 stream the Rust
tests use. Shared by the golden-vector generator and the ONNX Runtime benchmark anchor.

Weight draw order (must match tests/visual.rs): for each block V1, V2, V4, IT: all weights in [cout][cin][k][k]
order, uniform in [-a, a) with a = sqrt(6 / (fan_in + fan_out)) (Xavier-uniform); then for each block its biases,
uniform in [-0.1, 0.1).
"""
import numpy as np
import onnx
from onnx import TensorProto, helper

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def next_f32(self, n):
        out = np.empty(n, dtype=np.float32)
        for i in range(n):
            out[i] = np.float32((self.next_u64() >> 40) / float(1 << 24))
        return out

    def uniform(self, n, a):
        u = self.next_f32(n)
        return ((np.float32(2.0) * u - np.float32(1.0)) * np.float32(a)).astype(np.float32)


def cornet_weights(seed, channels, widths):
    rng = SplitMix64(seed)
    ws, bs = [], []
    cin = channels
    for i, cout in enumerate(widths):
        k = 7 if i == 0 else 3
        a = np.sqrt(np.float32(6.0) / np.float32(cin * k * k + cout * k * k), dtype=np.float32)
        ws.append(rng.uniform(cout * cin * k * k, a).reshape(cout, cin, k, k))
        cin = cout
    for cout in widths:
        bs.append(rng.uniform(cout, 0.1))
    return ws, bs


def cornet_model(ws, bs, channels, size):
    nodes, inits = [], []
    prev = "frames"
    for i, (w, b) in enumerate(zip(ws, bs)):
        k = w.shape[2]
        stride, pad = (2, 3) if i == 0 else (1, 1)
        inits.append(helper.make_tensor(f"w{i}", TensorProto.FLOAT, w.shape, w.flatten().tolist()))
        inits.append(helper.make_tensor(f"b{i}", TensorProto.FLOAT, b.shape, b.tolist()))
        nodes.append(helper.make_node("Conv", [prev, f"w{i}", f"b{i}"], [f"c{i}"], kernel_shape=[k, k],
                                      strides=[stride, stride], pads=[pad] * 4))
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
        nodes.append(helper.make_node("MaxPool", [f"r{i}"], [f"p{i}"], kernel_shape=[3, 3], strides=[2, 2],
                                      pads=[1, 1, 1, 1]))
        prev = f"p{i}"
    nodes.append(helper.make_node("GlobalAveragePool", [prev], ["gap"]))
    nodes.append(helper.make_node("Flatten", ["gap"], ["it"]))
    graph = helper.make_graph(
        nodes, "cornet_z", [helper.make_tensor_value_info("frames", TensorProto.FLOAT, [1, channels, size, size])],
        [helper.make_tensor_value_info("it", TensorProto.FLOAT, [1, ws[-1].shape[0]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def frames(channels, size):
    """Frame t, pixel i = (31·i + 17·t) mod 256, scaled by 1/255 exactly as the Rust pathway scales u8 pixels."""
    i = np.arange(size * size, dtype=np.int64)
    out = np.stack([((31 * i + 17 * t) % 256).astype(np.uint8) for t in range(channels)])
    return out, (out.astype(np.float32) * np.float32(1.0 / 255.0)).reshape(1, channels, size, size)
