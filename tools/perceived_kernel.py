#!/usr/bin/env python3
"""A kernel ridge on what the model perceives: how the fit and the query change its leave-one-stimulus-out error (E53
in docs/eval/experiments.md).

Reads `perceived.json` from an `avf-bel eval --out DIR` folder (every render's read-outs: the audio read-out's five
normalised slider estimates, then the visual one's; clean renders first) and the study's ratings, and scores Gaussian-
kernel ridge regressions from the read-outs to the consensus profile, each fold's penalty and width chosen by
leave-one-out over its own 29 stimuli (nested, as `avf-bel eval`'s kernel rows). Independent of the Rust code: the
first line must reproduce eval's row "kernel ridge on perceived sliders (nested)".

    python3 -m venv /tmp/npv && /tmp/npv/bin/pip install numpy
    /tmp/npv/bin/python tools/perceived_kernel.py DIR [--data DATA_DIR] [--export DIR_F16 DIR_INT8]
    /tmp/npv/bin/python tools/perceived_kernel.py --blend DIR0 DIR1 DIR2 [--data DATA_DIR]

`--blend` scores E54's rule instead: the fused model averaged half and half with the kernel, clean, under the
trained perturbations at moderate severity and with one sense, on each draw's folder and on their mean (each folder
from `avf-bel eval --robustness`, whose `robustness_perceived.json` carries the fused model's predictions).
`--kernel-weight 1 0.5` scores the kernel alone and the blend (E55); `--gammas` replaces the grid of widths;
`--inner-renders` chooses each fold's penalty and width by its stimuli's single renders (E56).
"""
import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from slider_baselines import kernel_ridge, load, loo  # noqa: E402

LAMBDAS = (0.01, 0.03, 0.1, 0.3, 1.0)
GAMMAS = (0.25, 0.5, 1.0, 2.0, 4.0)


FITTED = {}


def fold_models(fit_x, y, inner=None):
    """Per fold: the kernel ridge on the other stimuli's `fit_x` rows (one per stimulus), its penalty and width chosen
    by leave-one-out over them; a function from query rows to predictions. Fitted once per input (the nested choice
    is most of the tool's time, and several variants share a fit). With `inner` (stimuli x renders x features, E56)
    the leave-one-out scores each held-out stimulus by its error averaged over each of those renders queried alone,
    rather than by its row of `fit_x`."""
    key = (fit_x.tobytes(), fit_x.shape, y.tobytes(), None if inner is None else inner.tobytes())
    if key in FITTED:
        return FITTED[key]
    models = FITTED[key] = []

    def score(xt, yt, rt, hp):
        if rt is None:
            return np.abs(loo(xt, yt, lambda a, b, q: kernel_ridge(a, b, q, *hp)) - yt).mean()
        return np.mean([np.abs(kernel_ridge(np.delete(xt, h, 0), np.delete(yt, h, 0), rt[h], *hp) - yt[h]).mean()
                        for h in range(len(yt))])

    for i in range(len(y)):
        xt, yt = np.delete(fit_x, i, 0), np.delete(y, i, 0)
        rt = None if inner is None else np.delete(inner, i, 0)
        best = min(((l, g) for l in LAMBDAS for g in GAMMAS), key=lambda hp: score(xt, yt, rt, hp))
        models.append(lambda q, xt=xt, yt=yt, best=best: kernel_ridge(xt, yt, q, *best))
        models[-1].choice = best
    return models


def nested_kernel(fit_x, y, query):
    """`query(i, model)`: held-out stimulus i's prediction by its fold's model (see `fold_models`)."""
    return np.array([query(i, m) for i, m in enumerate(fold_models(fit_x, y))])


def render_kernel(renders, y, clean):
    """Held-out predictions (each clean render queried, averaged) of kernel ridges fitted on every render of the other
    stimuli, each fold's penalty and width chosen by leave-one-stimulus-out over its own stimuli; and the choices."""
    n, per, _ = renders.shape
    x = renders.reshape(n * per, -1)
    owner = np.repeat(np.arange(n), per)
    sq = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    grams = {g: np.exp(-g * sq) for g in GAMMAS}
    queried = (np.arange(n * per) % per) < clean

    def fit_predict(train, query, lam, g):
        k = grams[g]
        yt = y[owner[train]]
        mu = yt.mean(0)
        alpha = np.linalg.solve(k[np.ix_(train, train)] + lam * np.eye(train.sum()), yt - mu)
        return np.clip(k[np.ix_(query, train)] @ alpha + mu, 0, 1)

    preds, choices = [], []
    for i in range(n):
        stimuli = [s for s in range(n) if s != i]

        def inner(hp):
            err = 0.0
            for h in stimuli:
                train = (owner != i) & (owner != h)
                err += np.abs(fit_predict(train, (owner == h) & queried, *hp).mean(0) - y[h]).mean()
            return err

        best = min(((l, g) for l in LAMBDAS for g in GAMMAS), key=inner)
        choices.append(best)
        preds.append(fit_predict(owner != i, (owner == i) & queried, *best).mean(0))
    return np.array(preds), choices


EPP_WEIGHTS = np.array([3, 5, 4, 2, 1]) / 15  # src/core/epp.rs
# `--blend`'s figures that are levels, not a perturbation's change against clean.
LEVELS = ("clean", "epp", "kernel alone", "fused alone", "audio only", "video only")


def senses(x):
    """The two senses' read-outs (audio's five slider estimates, then the visual one's) averaged into five."""
    return (x[..., :5] + x[..., 5:]) / 2


def blend_draw(out, names, y, weights, inner_renders):
    """E54 on one draw's folder: for each candidate kernel and each kernel weight w, figures of
    `(1 − w)·fused + w·kernel` (see `--blend`)."""
    seen = json.load(open(out / "perceived.json"))
    clean = seen["clean_renders"]
    renders = np.array([seen["stimuli"][n] for n in names], dtype=np.float64)
    report = json.load(open(out / "eval.json"))
    model = lambda key: np.array([report["per_stimulus"][n]["model_profiles"][key] for n in names])
    fused = np.array([report["per_stimulus"][n]["fused_profile"] for n in names])
    rob = json.load(open(out / "robustness_perceived.json"))
    table = json.load(open(out / "robustness.json"))
    n = rob["renders"]
    mae = lambda p: np.abs(p - y).mean()
    epp = lambda p: np.abs((p - y) @ EPP_WEIGHTS).mean()
    as_array = lambda d: np.array([d[nm] for nm in names])
    # The dump's predictions are the table's: the fused model's figures must come back from them.
    # robustness.json rounds to five decimals.
    assert abs(mae(as_array(rob["clean_fused"])) - table["clean"]["profile_mae"]) < 6e-6, out
    assert len(rob["rows"]) == len(table["perturbations"]), out
    for row, t in zip(rob["rows"], table["perturbations"]):
        assert abs(mae(as_array(row["fused"])) - t["profile_mae"]) < 6e-6, (out, row["kind"])
    figures = {}
    for name, feat in (("both senses", lambda x: x), ("senses averaged", senses)):
        ms = fold_models(feat(renders).mean(1), y, feat(renders) if inner_renders else None)
        kernel = lambda x: np.array([ms[i](feat(x[i])).mean(0) for i in range(len(y))])
        k_clean = kernel(renders[:, :clean])
        k_one = {sense: kernel(np.tile(renders[:, :clean, cols], 2))
                 for sense, cols in (("audio only", slice(0, 5)), ("video only", slice(5, 10)))}
        k_base = kernel(renders[:, :n])
        k_rows = [kernel(np.array([row["stimuli"][nm] for nm in names], dtype=np.float64)) if row["level"] == 2
                  else None for row in rob["rows"]]
        choices = [m.choice for m in ms]
        for w in weights:
            mix = lambda f, k, w=w: (1 - w) * f + w * k
            f = {"clean": mae(mix(fused, k_clean)), "epp": epp(mix(fused, k_clean)),
                 "kernel alone": mae(k_clean), "fused alone": mae(fused)}
            for sense, key in (("audio only", "the model, audio only"), ("video only", "the model, video only")):
                f[sense] = mae(mix(model(key), k_one[sense]))
            base = mae(mix(as_array(rob["clean_fused"]), k_base))
            for row, k in zip(rob["rows"], k_rows):
                if k is not None:
                    f[row["kind"]] = mae(mix(as_array(row["fused"]), k)) - base
            figures[f"{w:g}·kernel on {name} + {1 - w:g}·fused"] = (f, choices)
    return figures


def blend(dirs, names, y, weights, inner_renders=False):
    """E54's rule over several draws' folders: each figure per draw and the mean, and the verdict."""
    per_draw = [blend_draw(d, names, y, weights, inner_renders) for d in dirs]
    noise = ("talker", "white-noise", "pink-noise")
    for name in per_draw[0]:
        print(f"\n{name}, draws {', '.join(d.name for d in dirs)} and their mean")
        choices = [c for f in per_draw for c in f[name][1]]
        print("  the folds' (penalty, width): " + ", ".join(f"{c} x{choices.count(c)}" for c in sorted(set(choices))))
        mean = {}
        for key in per_draw[0][name][0]:
            vals = [f[name][0][key] for f in per_draw]
            mean[key] = float(np.mean(vals))
            sign = "" if key in LEVELS else "+"
            cells = " / ".join(f"{v:{sign}.4f}" for v in vals)
            print(f"  {key:22} {cells}   mean {mean[key]:{sign}.4f}")
        kinds = [k for k in mean if k not in LEVELS]
        checks = [("clean <= 0.0420", mean["clean"] <= 0.0420), ("EPP <= 0.0178", mean["epp"] <= 0.0178),
                  ("audio only <= 0.060", mean["audio only"] <= 0.060),
                  ("video only <= 0.065", mean["video only"] <= 0.065),
                  ("every kind <= +0.010", all(mean[k] <= 0.010 for k in kinds)),
                  ("talker, white, pink <= +0.0080", all(mean[k] <= 0.0080 for k in noise))]
        failed = [c for c, ok in checks if not ok]
        print("  verdict: " + ("passes" if not failed else "fails: " + "; ".join(failed)))


def main():
    global GAMMAS
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("out", type=Path, nargs="?", help="an `avf-bel eval --out` folder of the f32 model")
    args.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args.add_argument("--export", type=Path, nargs="*", default=[],
                      help="eval folders of the same model's exported files (same draw): their read-outs query "
                           "the kernel fitted on the f32 model's, as a shipped file's would")
    args.add_argument("--render-fit", action="store_true",
                      help="also fit on every render rather than each stimulus' mean (minutes: 480-point kernels)")
    args.add_argument("--blend", type=Path, nargs="+", metavar="DIR",
                      help="E54: score the half-and-half blend on these draws' `eval --robustness` folders")
    args.add_argument("--kernel-weight", type=float, nargs="+", default=[0.5], metavar="W",
                      help="with --blend: the kernel's weights to score, the fused model's being 1 − W")
    args.add_argument("--inner-renders", action="store_true",
                      help="with --blend: choose each fold's penalty and width on single renders (E56)")
    args.add_argument("--gammas", type=float, nargs="+", help=f"the kernel's widths to choose from {GAMMAS}")
    a = args.parse_args()
    out, data = a.out, a.data
    _, y, _ = load(data)
    names = [r["stimulus"] for r in sorted(csv.DictReader(open(data / "stimuli.csv")),
                                           key=lambda r: int(r["stimulus_id"]))]
    if a.gammas:
        GAMMAS = tuple(a.gammas)
    if a.blend:
        return blend(a.blend, names, y, a.kernel_weight, a.inner_renders)
    if out is None:
        args.error("give an eval folder, or --blend with several")
    seen = json.load(open(out / "perceived.json"))
    clean = seen["clean_renders"]
    renders = np.array([seen["stimuli"][n] for n in names], dtype=np.float64)  # stimuli x renders x 10
    report = json.load(open(out / "eval.json"))
    fused = np.array([report["per_stimulus"][n]["fused_profile"] for n in names])
    mae = lambda p: np.abs(p - y).mean()
    print(f"fused (the model), from eval.json: {mae(fused):.4f}")
    both = slice(0, 10)
    variants = [
        # (name, columns, renders the fit averages, how the held-out stimulus is queried)
        ("fit: mean of all renders; query: mean of clean renders (eval's row)", both, slice(None), "mean"),
        ("fit: mean of all renders; query: each clean render, predictions averaged", both, slice(None), "each"),
        ("fit: mean of clean renders; query: each clean render, averaged", both, slice(0, clean), "each"),
        ("audio read-out only; fit all, query each", slice(0, 5), slice(None), "each"),
        ("visual read-out only; fit all, query each", slice(5, 10), slice(None), "each"),
    ]
    for name, cols, fit_renders, how in variants:
        fit_x = renders[:, fit_renders, cols].mean(1)

        def query(i, model, cols=cols, how=how):
            test = renders[i, :clean, cols]
            if how == "mean":
                return model(test.mean(0, keepdims=True))[0]
            return model(test).mean(0)

        p = nested_kernel(fit_x, y, query)
        print(f"{name}: {mae(p):.4f}; averaged with the fused model: {mae((p + fused) / 2):.4f}")
    # A sense missing, the pipeline's way (`InputConfig::substitute`): the present sense's estimates on both inputs of
    # the kernel fitted on both.
    both_models = fold_models(renders.mean(1), y)
    for name, sense in (("audio", slice(0, 5)), ("video", slice(5, 10))):
        p = np.array([m(np.tile(renders[i, :clean, sense], 2)).mean(0) for i, m in enumerate(both_models)])
        print(f"{name} only, substituted into the kernel on both: {mae(p):.4f}")
    # Every render an example (the other stimuli's clean and perturbed ones), the penalty and width chosen by
    # leave-one-stimulus-out over the fold's stimuli: a kernel that has seen how far noise moves the read-outs.
    if a.render_fit:
        p, choices = render_kernel(renders, y, clean)
        print(f"fit: every render of the other stimuli, nested by stimulus; query each: {mae(p):.4f}; "
              f"averaged with the fused model: {mae((p + fused) / 2):.4f}")
        print("  its folds' (penalty, width): " + ", ".join(f"{c} x{choices.count(c)}" for c in sorted(set(choices))))
    # Two senses averaged into one estimate of the five sliders.
    avg = senses(renders)
    p = nested_kernel(avg.mean(1), y, lambda i, m: m(avg[i, :clean]).mean(0))
    print(f"the senses' estimates averaged; fit all, query each: {mae(p):.4f}")

    models = both_models
    choices = [m.choice for m in models]
    print("the folds' (penalty, width) on both senses' read-outs: "
          + ", ".join(f"{c} x{choices.count(c)}" for c in sorted(set(choices))))

    # An exported file's perception reads slightly differently; the kernel is fitted on the f32 model's read-outs.
    for other in a.export:
        theirs = json.load(open(other / "perceived.json"))
        x = np.array([theirs["stimuli"][n] for n in names], dtype=np.float64)[:, :clean]
        mine = np.array([models[i](renders[i, :clean]) for i in range(len(y))])
        exported = np.array([models[i](x[i]) for i in range(len(y))])
        print(f"{other}: kernel MAE {mae(exported.mean(1)):.4f} (f32 {mae(mine.mean(1)):.4f}); "
              f"max |Δemotion| per render against f32 {np.abs(exported - mine).max():.4f}; "
              f"read-outs' max |Δ| {np.abs(x - renders[:, :clean]).max():.4f}")

    # Under the evaluation's perturbations (`eval --robustness [--probes]` keeps their read-outs): the kernel fitted
    # as above on clean and augmented renders, each held-out render queried under the perturbation, against the same
    # renders clean; beside the fused model's change from robustness.json. Then, at moderate severity only, two
    # variants that might cost less under noise (E53b): the senses' estimates averaged into five (the visual half of
    # the input does not move with the sound), and centres at the perturbed renders' means (where noise puts them).
    clean_cols = renders[:, :clean]
    variants = [
        ("both senses (as above)", models, lambda x: x),
        ("senses averaged", fold_models(senses(renders).mean(1), y), senses),
        ("centres at the perturbed renders' means", fold_models(renders[:, clean:].mean(1), y), lambda x: x),
    ]
    # (The averaged variant's clean figure is printed above.)
    for name, ms, feat in variants[2:]:
        p = np.array([ms[i](feat(clean_cols[i])).mean(0) for i in range(len(y))])
        print(f"{name}: clean, each render queried, {mae(p):.4f}")
    for stem in ("robustness", "probes"):
        path = out / f"{stem}_perceived.json"
        if not path.exists():
            print(f"\n{stem}: no {path.name} in {out} (written by `avf-bel eval --{stem}`)")
            continue
        rob = json.load(open(path))
        n = rob["renders"]
        table = json.load(open(out / f"{stem}.json"))
        fused_rows = {(r["kind"], r["level"]): r["profile_mae"] for r in table["perturbations"]}
        fused_clean = table["clean"]["profile_mae"]
        perturbed = [(row, np.array([row["stimuli"][nm] for nm in names], dtype=np.float64)) for row in rob["rows"]]
        for v, (name, ms, feat) in enumerate(variants):
            score = lambda x: mae(np.array([ms[i](feat(x[i])).mean(0) for i in range(len(y))]))
            base = score(renders[:, :n])
            levels = "each severity" if v == 0 else "moderate severity"
            print(f"\n{stem}, {name}: kernel on {n} clean renders {base:.4f} (fused {fused_clean:.4f}); change at "
                  f"{levels}, kernel (fused)")
            by_kind = {}
            for row, x in perturbed:
                if v > 0 and row["level"] != 2:
                    continue
                d, f = score(x) - base, fused_rows[(row["kind"], row["level"])] - fused_clean
                by_kind.setdefault(row["kind"], []).append(f"{d:+.4f} ({f:+.4f})")
            for kind, cells in by_kind.items():
                print(f"  {kind:22} " + "  ".join(cells))


if __name__ == "__main__":
    main()
