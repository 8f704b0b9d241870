#!/usr/bin/env python3
"""Could a recalibration of the fused model's outputs reach issue 13's clean target? (E19, docs/eval/experiments.md)

E14 located most of the clean error at stimuli a leave-one-out fold must extrapolate to (the five prototypes, the
search specials) and suggested that a weight-decayed fusion under-reaches the ends of the emotion map. If so, the
held-out predictions would be compressed towards the middle, and a per-emotion stretch `t ≈ a + b·p` with b > 1
would undo it. This script measures that on the leave-one-stimulus-out predictions `avf-bel eval` writes
(`per_stimulus[name].fused_profile` and `.consensus_profile` in eval.json):

- in hindsight (fitted on all 30 held-out predictions, so an upper bound on what any recalibration could gain):
  a per-emotion scale about zero (representable in the weights file: BEL's amygdala, thalamic and orbitofrontal
  rows times b), a global scale, a stretch about the mean, and a per-emotion affine map;
- honestly: the per-emotion affine map fitted on the other 29 stimuli' held-out predictions, applied to the 30th;
- the mean signed error per kind of stimulus and emotion (whether the prototypes' errors share a direction).

    python3 -m venv /tmp/npv && /tmp/npv/bin/pip install numpy
    /tmp/npv/bin/python tools/output_calibration.py docs/eval/eval.json

Every MAE clamps predictions to 0-1, as the core reports intensities.
"""
import json
import sys

import numpy as np

EMOTIONS = ["angry", "happy", "peaceful", "sad", "scared"]


def load(path):
    """Held-out predictions, consensus (stimuli x 5, sorted by name) and each stimulus' kind."""
    per = json.load(open(path))["per_stimulus"]
    names = sorted(per)
    pred = np.array([per[n]["fused_profile"] for n in names], float)
    truth = np.array([per[n]["consensus_profile"] for n in names], float)
    return pred, truth, [per[n]["kind"] for n in names]


def mae(pred, truth):
    return float(np.abs(np.clip(pred, 0.0, 1.0) - truth).mean())


def affine(p, t):
    """Least-squares (a, b) of t ≈ a + b·p."""
    design = np.stack([np.ones_like(p), p], axis=1)
    return np.linalg.lstsq(design, t, rcond=None)[0]


def main(path):
    pred, truth, kinds = load(path)
    n = len(pred)
    print(f"{n} stimuli, held-out fused profile MAE as evaluated: {mae(pred, truth):.4f}")

    scale = (pred * truth).sum(0) / (pred * pred).sum(0)
    print(f"hindsight per-emotion scale {np.round(scale, 3).tolist()}: {mae(pred * scale, truth):.4f}")
    for s in (0.95, 1.05, 1.1):
        print(f"hindsight global scale {s}: {mae(pred * s, truth):.4f}")
    centre = pred.mean(0)
    for s in (1.05, 1.1, 1.2):
        print(f"hindsight stretch about the mean x{s}: {mae(centre + s * (pred - centre), truth):.4f}")
    fitted = np.empty_like(pred)
    for e in range(5):
        a, b = affine(pred[:, e], truth[:, e])
        fitted[:, e] = a + b * pred[:, e]
        print(f"  {EMOTIONS[e]:9s} hindsight affine: a {a:+.4f}, b {b:.3f}")
    print(f"hindsight per-emotion affine: {mae(fitted, truth):.4f}")

    honest = np.empty_like(pred)
    for i in range(n):
        keep = np.arange(n) != i
        for e in range(5):
            a, b = affine(pred[keep, e], truth[keep, e])
            honest[i, e] = a + b * pred[i, e]
    print(f"per-emotion affine fitted on the other stimuli (leave-one-out): {mae(honest, truth):.4f}")

    print("mean signed error (prediction - consensus) by kind:", " ".join(f"{e:>9s}" for e in EMOTIONS))
    for kind in ("prototype", "mix", "special"):
        rows = [i for i in range(n) if kinds[i] == kind]
        if rows:
            bias = (pred[rows] - truth[rows]).mean(0)
            label = f"  {kind} ({len(rows)}), MAE {mae(pred[rows], truth[rows]):.4f}:"
            print(f"{label:44s}", " ".join(f"{b:+9.4f}" for b in bias))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/eval/eval.json")
