#!/usr/bin/env python3
"""CORnet-Z at batch 1 in PyTorch on the same GPU, for comparison with `avf-bel bench --device cuda`.

Run on an H200 (2026-12-04; README, GPU; docs/gpu.md). Usage (from the repository root, after
`cargo build --release --features cuda`):

    python3 benches/gpu_compare.py --sizes 64 96 224 --iters 200 --avf target/release/avf-bel > gpu_compare.json

For each frame size it times, on one CUDA stream at batch 1 with 5 input channels:
  * PyTorch eager, fp16 (conv -> ReLU -> max-pool 3/2/1 per block, then the global average pool), per layer and whole;
  * the same network replayed as a CUDA graph (torch.cuda.CUDAGraph);
  * `avf-bel bench --stage visual --device cuda` (one CORnet-Z stack incl. the IT accumulation) and
    `--stage pipeline` (whole pipeline), parsed from its --json line;
and estimates the roofline fraction from the FLOPs and the bytes each layer must move at least (weights + input +
output, fp16) against the peaks given with --peak-tflops / --peak-gbs (the datasheet values of the card in hand;
for the kernels here the relevant compute peak is fp16 without tensor cores).
"""
import argparse
import json
import subprocess
import time

import torch
import torch.nn as nn

WIDTHS = [64, 128, 256, 512]


def cornet_z(channels=5):
    layers = []
    cin = channels
    for i, cout in enumerate(WIDTHS):
        k, s, p = (7, 2, 3) if i == 0 else (3, 1, 1)
        layers += [nn.Conv2d(cin, cout, k, s, p), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1)]
    return nn.Sequential(*layers)


def time_cuda(fn, iters):
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(20):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def time_host(fn, iters):
    """Median host wall-clock milliseconds of `fn` followed by a device synchronisation (what a caller waits for)."""
    for _ in range(20):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[len(times) // 2]


def layer_costs(size, channels=5):
    out, h, cin = [], size, channels
    for i, cout in enumerate(WIDTHS):
        k, s = (7, 2) if i == 0 else (3, 1)
        ho = (h + 2 * (k // 2) - k) // s + 1
        ph = (ho + 1) // 2
        flops = 2 * cout * cin * k * k * ho * ho
        bytes_ = 2 * (cout * cin * k * k + cin * h * h + cout * ph * ph)
        out.append((f"block{i + 1}", flops, bytes_))
        h, cin = ph, cout
    return out


def avf_bench(avf, stage, size, iters):
    cmd = [avf, "bench", "--stage", stage, "--size", str(size), "--iters", str(iters), "--device", "cuda", "--json"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 96, 224])
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--avf", default="target/release/avf-bel")
    ap.add_argument("--peak-tflops", type=float, default=None, help="fp16 peak of this GPU (no tensor cores)")
    ap.add_argument("--peak-gbs", type=float, default=None, help="memory bandwidth of this GPU")
    args = ap.parse_args()
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    rows = []
    for size in args.sizes:
        net = cornet_z().to(dev).half().eval()
        x = torch.rand(1, 5, size, size, device=dev, dtype=torch.half)
        with torch.no_grad():
            eager = time_cuda(lambda: net(x), args.iters)
            per_layer = []
            y = x
            for i in range(0, 12, 3):
                block = net[i:i + 3]
                yi = y
                per_layer.append(time_cuda(lambda: block(yi), args.iters))
                y = block(y)
            g = torch.cuda.CUDAGraph()
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(3):
                    net(x)
            torch.cuda.current_stream().wait_stream(s)
            with torch.cuda.graph(g):
                net(x)
            graphed = time_cuda(g.replay, args.iters)
            # The same work as one `avf-bel bench --stage visual` iteration, on the same clock (host wall time): a
            # new 8-bit camera frame from (pageable) host memory into a 5-frame ring on the device, the stack
            # converted to fp16 in 0..1, CORnet-Z, then wait for the result.
            frame = torch.randint(0, 256, (size, size), dtype=torch.uint8)
            ring = torch.zeros(5, size, size, dtype=torch.uint8, device=dev)
            slot = [0]

            def eager_from_host():
                ring[slot[0] % 5].copy_(frame)
                slot[0] += 1
                net((ring.half() * (1.0 / 255.0)).unsqueeze(0))

            eager_host = time_host(eager_from_host, args.iters)
            xg = torch.zeros(1, 5, size, size, device=dev, dtype=torch.half)
            with torch.cuda.stream(s):
                for _ in range(3):
                    xg.copy_((ring.half() * (1.0 / 255.0)).unsqueeze(0))
                    net(xg)
            torch.cuda.current_stream().wait_stream(s)
            g2 = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g2):
                xg.copy_((ring.half() * (1.0 / 255.0)).unsqueeze(0))
                net(xg)

            def graph_from_host():
                ring[slot[0] % 5].copy_(frame)
                slot[0] += 1
                g2.replay()

            graphed_host = time_host(graph_from_host, args.iters)
            # Launch overhead: an empty kernel launch, timed on the host.
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(1000):
                torch.cuda._sleep(0)
            torch.cuda.synchronize()
            launch_us = (time.perf_counter() - t0) * 1e3
        avf_v = avf_bench(args.avf, "visual", size, args.iters)
        avf_p = avf_bench(args.avf, "pipeline", size, max(10, args.iters // 10))
        costs = layer_costs(size)
        row = {
            "device": torch.cuda.get_device_name(),
            "size": size,
            "torch_eager_fp16_ms": eager,
            "torch_cuda_graph_fp16_ms": graphed,
            "torch_per_block_ms": per_layer,
            "launch_overhead_us_per_kernel": launch_us,
            "avf_visual_ms": avf_v["median_ms"],
            "avf_pipeline_ms": avf_p["median_ms"],
            "torch_eager_fp16_host_ms": eager_host,
            "torch_cuda_graph_fp16_host_ms": graphed_host,
            # Same clock, same work: host wall time from a host frame to the result (avf-bel's bench measures this).
            "speedup_vs_eager": eager_host / avf_v["median_ms"],
            "speedup_vs_graph": graphed_host / avf_v["median_ms"],
            # avf-bel's host wall time against PyTorch's device time (CUDA events, input already on the device):
            # the comparison the first run reported; PyTorch's side leaves out the upload and the host round trip.
            "ratio_vs_eager_events": eager / avf_v["median_ms"],
            "ratio_vs_graph_events": graphed / avf_v["median_ms"],
        }
        if args.peak_tflops and args.peak_gbs:
            flops = sum(c[1] for c in costs)
            bytes_ = sum(c[2] for c in costs)
            t = avf_v["median_ms"] * 1e-3
            row["compute_roofline_fraction"] = flops / t / (args.peak_tflops * 1e12)
            row["memory_roofline_fraction"] = bytes_ / t / (args.peak_gbs * 1e9)
        rows.append(row)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
