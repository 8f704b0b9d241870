#!/usr/bin/env python3
"""The shipped model scored on the 30 stimuli it was trained on (fresh renders): an in-sample figure.

Leave-one-stimulus-out (`avf-bel eval`) is the figure that counts; this one exists to compare like with like when a
baseline is quoted in-sample (see E17 in docs/eval/experiments.md). Each stimulus is rendered `R` times (seeds
1000..1000+R, never the training's), run through the binary's built-in model (`avf-bel run --stimulus NAME --seed S
--json`), and the mean profile compared with the fused consensus as eval does.

    cargo build --release
    python3 -m venv /tmp/npv && /tmp/npv/bin/pip install numpy
    /tmp/npv/bin/python tools/shipped_in_sample.py [R] [DATA_DIR]
"""
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from slider_baselines import EMOTIONS, load


def main():
    renders = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    data = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parents[2] / "shared" / "data"
    binary = Path(__file__).resolve().parents[1] / "target" / "release" / "avf-bel"
    _, consensus, _ = load(data)
    rows = sorted(csv.DictReader(open(data / "stimuli.csv")), key=lambda r: int(r["stimulus_id"]))
    predicted = []
    for row in rows:
        total = np.zeros(5)
        for seed in range(1000, 1000 + renders):
            cmd = [str(binary), "run", "--data", str(data), "--stimulus", row["stimulus"], "--seed", str(seed), "--json"]
            out = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
            total += np.array([out["emotions"][e] for e in EMOTIONS])
        predicted.append(total / renders)
    mae = np.abs(np.array(predicted) - consensus).mean()
    print(f"shipped model, in-sample ({len(rows)} stimuli, {renders} fresh renders each): profile MAE {mae:.4f}")


if __name__ == "__main__":
    main()
