#!/usr/bin/env python3
"""How much would combining the fused model with a second, differently built model gain? (E20 in
docs/eval/experiments.md.)

Reads the held-out (leave-one-stimulus-out) predictions `avf-bel eval` keeps in eval.json
(`per_stimulus[name].model_profiles`: every row of its table) and scores averages of the fused model with each other
row, and with one slider model fitted here the same nested way as tools/slider_baselines.py: a ridge on similarities
to the five emotion prototypes' sliders, from the true sliders and (E53) from the perceived ones. Every prediction
combined is a held-out one, but the choice of what to combine and with which weight is read off these same 30
stimuli: these are ceilings and leads, not results a shipped model could claim.

    python3 -m venv /tmp/npv && /tmp/npv/bin/pip install numpy
    /tmp/npv/bin/python tools/model_combinations.py docs/eval/eval.json [DATA_DIR]
"""
import csv
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from slider_baselines import EMOTIONS, load, nested_predictions, ridge  # noqa: E402

FUSED = "fused (the model)"


def main():
    report_path = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/eval/eval.json")
    report = json.load(open(report_path))
    data = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parents[2] / "shared" / "data"
    x, y, _ = load(data)
    stimuli = sorted(csv.DictReader(open(data / "stimuli.csv")), key=lambda r: int(r["stimulus_id"]))
    names = [r["stimulus"] for r in stimuli]
    per = report["per_stimulus"]
    truth = np.array([per[n]["consensus_profile"] for n in names])
    assert np.abs(truth - y).max() < 1e-9, "eval.json and the data disagree on the consensus"
    rows = {m: np.array([per[n]["model_profiles"][m] for n in names]) for m in per[names[0]]["model_profiles"]}

    # One slider model eval does not fit, on the true sliders (the read-outs' estimates of them are what a robot
    # would have); eval's own slider rows (ridge, kernel ridge, fusion + BEL on true sliders) come from the file.
    protos = np.array([x[names.index(e)] for e in EMOTIONS])

    def prototype_ridge(xt, yt, xq, lam, width):
        sim = lambda a: np.exp(-((a[:, None, :] - protos[None]) ** 2).sum(-1) / (2 * width ** 2))
        return ridge(sim(xt), yt, sim(xq), lam)

    rows["ridge on prototype similarities (nested, here)"] = nested_predictions(
        x, y, prototype_ridge, [(lam, w) for lam in (0.01, 0.1, 0.3, 1, 3) for w in (0.15, 0.25, 0.4, 0.6, 1.0)])

    # The same prototype ridge on what a robot has (E53): each stimulus' perceived sliders (`perceived.json` beside
    # eval.json: every render's read-outs, the audio read-out's five estimates, then the visual one's), the mean over
    # its clean renders, the two senses' estimates averaged. Absent from folders written before E53.
    seen_file = report_path.parent / "perceived.json"
    if seen_file.exists():
        seen = json.load(open(seen_file))
        seen = np.array([seen["stimuli"][n][:seen["clean_renders"]] for n in names]).mean(1)
        seen = (seen[:, :5] + seen[:, 5:]) / 2
        rows["ridge on prototype similarities of perceived sliders (nested, here)"] = nested_predictions(
            seen, y, prototype_ridge, [(lam, w) for lam in (0.01, 0.1, 0.3, 1, 3) for w in (0.15, 0.25, 0.4, 0.6, 1.0)])

    mae = lambda p: np.abs(p - y).mean()
    kinds = np.array([r["kind"] for r in stimuli])
    by_kind = lambda p: ", ".join(
        f"{k} {np.abs(p - y)[kinds == k].mean():.4f}" for k in ("prototype", "mix", "special"))
    fused = rows[FUSED]
    print(f"{'row':52} {'alone':>7} {'w=0.25':>7} {'w=0.5':>7}   (w: the other row's weight in the average)")
    for name, p in rows.items():
        if name == FUSED:
            print(f"{name:52} {mae(p):7.4f}   ({by_kind(p)})")
            continue
        mix = [mae((1 - w) * fused + w * p) for w in (0.25, 0.5)]
        print(f"{name:52} {mae(p):7.4f} {mix[0]:7.4f} {mix[1]:7.4f}   (w=0.5: {by_kind(0.5 * fused + 0.5 * p)})")
        r = [np.corrcoef((fused - y)[:, e], (p - y)[:, e])[0, 1] for e in range(5)]
        print(f"{'':52} errors' correlation with the fused model's, per emotion: "
              + ", ".join(f"{v:.2f}" for v in r))


if __name__ == "__main__":
    main()
