#!/usr/bin/env python3
"""Summarises bench/scale_study.sh: one Markdown table row per (width, depth, order),
mean ± sd over seeds of RS(2), RS(3) (RS(1) of a fresh model is mostly generic learning),
the online loss (mean over epochs 2..E of each task's loss just before its training),
the loss just after training on a task (how well a document is fitted, last epoch) and
the forgetting peak (max loss between two visits, last full cycle).

  scale_study.py SWEEP   (a `reawaken sweep` directory of sweeps/scale-study.toml: reads its
                          sweep.json and each run's run.json, losses.npy, order.npy)
"""
import json
import os
import sys
from collections import defaultdict

import numpy as np


def stats(vals):
    v = np.array([x for x in vals if x is not None and np.isfinite(x)], dtype=float)
    if len(v) == 0:
        return "n/a"
    if len(v) == 1:
        return f"{v[0]:.3f}"
    return f"{v.mean():.3f} ± {v.std(ddof=1):.3f}"


def main():
    out = sys.argv[1]
    groups = defaultdict(list)
    manifest = json.load(open(os.path.join(out, "sweep.json")))
    for entry in manifest["runs"]:
        v = entry["values"]
        m = [None, v["width"], v["depth"], v["order"], entry["seed"]]
        run = os.path.join(out, entry["record"])
        if not os.path.exists(os.path.join(run, "run.json")):
            continue
        info = json.load(open(os.path.join(run, "run.json")))
        if info.get("status") != "complete":
            continue
        L = np.load(os.path.join(run, "losses.npy"))
        order = np.load(os.path.join(run, "order.npy"))
        T = L.shape[1]
        last = range(len(order) - T, len(order))  # episodes of the last epoch
        after = np.mean([L[s + 1, order[s]] for s in last])
        met = info["metrics"]
        rs = met["recovery_score"]
        groups[(int(m[1]), int(m[2]), m[3])].append(
            dict(rs2=rs[1] if len(rs) > 1 else None, rs3=rs[2] if len(rs) > 2 else None,
                 online=met.get("online_loss_mean"), after=after,
                 params=info.get("model", {}).get("parameters"), seed=int(m[4]),
                 wall=info.get("elapsed_s")))
    def cell(w, d, o, key):
        return stats([r[key] for r in groups.get((w, d, o), [])])

    def diff(w, d):
        cyc = {r["seed"]: r["rs3"] for r in groups.get((w, d, "cyclic"), [])}
        shu = {r["seed"]: r["rs3"] for r in groups.get((w, d, "shuffled"), [])}
        ds = [cyc[k] - shu[k] for k in sorted(cyc)
              if k in shu and cyc[k] is not None and shu[k] is not None]
        if not ds:
            return "n/a"
        return f"{np.mean(ds):+.3f} ({' '.join(f'{x:+.3f}' for x in ds)})"

    keys = sorted({(w, d) for (w, d, _) in groups})
    seeds = max((len(v) for v in groups.values()), default=0)
    for title, axis, fixed, sel in (
        ("Width sweep (depth 4)", "width", 4, [k for k in keys if k[1] == 4]),
        ("Depth sweep (width 256)", "depth", 256, [k for k in keys if k[0] == 256]),
    ):
        if not sel:
            continue
        sel.sort(key=lambda k: k[0] if axis == "width" else k[1])
        print(f"### {title}, mean ± sd over {seeds} seeds")
        print()
        print(f"| {axis} | params | RS(3) cyclic | RS(3) shuffled | cyclic − shuffled (per seed) "
              "| RS(2) cyclic | RS(2) shuffled | online loss cyclic | online loss shuffled "
              "| loss just after training, cyclic |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for w, d in sel:
            params = next((r["params"] for r in groups.get((w, d, "cyclic"), []) if r["params"]), None)
            print(f"| {w if axis == 'width' else d} | {params / 1e6:.2f} M | " if params else
                  f"| {w if axis == 'width' else d} | ? | ", end="")
            print(f"{cell(w, d, 'cyclic', 'rs3')} | {cell(w, d, 'shuffled', 'rs3')} | {diff(w, d)} | "
                  f"{cell(w, d, 'cyclic', 'rs2')} | {cell(w, d, 'shuffled', 'rs2')} | "
                  f"{cell(w, d, 'cyclic', 'online')} | {cell(w, d, 'shuffled', 'online')} | "
                  f"{cell(w, d, 'cyclic', 'after')} |")
        print()


if __name__ == "__main__":
    main()
