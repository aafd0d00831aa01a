#!/usr/bin/env python3
"""Compare run records array by array (numpy.array_equal), for refactors that must not
change a number.

    scripts/compare_records.py BEFORE_DIR AFTER_DIR

Each argument is a record directory (with run.json) or a folder of record directories
(matched by name). For every .npy present on either side it prints dtype, shape and
`array_equal`, or the largest relative difference; it compares run.json's `metrics` too.
Exit status 0 when everything is equal, 1 otherwise.
"""
import json
import sys
from pathlib import Path

import numpy as np


def records(root: Path):
    if (root / "run.json").is_file():
        return {"": root}
    return {p.name: p for p in sorted(root.iterdir()) if (p / "run.json").is_file()}


def rel_diff(x, y):
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    scale = np.nanmax(np.abs(x)) if x.size else 0.0
    return float(np.nanmax(np.abs(x - y)) / scale) if scale else float(np.nanmax(np.abs(x - y)))


def main(a: Path, b: Path) -> int:
    ra, rb = records(a), records(b)
    ok = set(ra) == set(rb)
    if not ok:
        print(f"record sets differ: {sorted(ra)} vs {sorted(rb)}")
    for name in sorted(set(ra) & set(rb)):
        da, db = ra[name], rb[name]
        files = sorted({p.name for p in da.glob("*.npy")} | {p.name for p in db.glob("*.npy")})
        for f in files:
            label = f"{name}/{f}" if name else f
            if not (da / f).is_file() or not (db / f).is_file():
                print(f"{label}: only on one side")
                ok = False
                continue
            x, y = np.load(da / f), np.load(db / f)
            if x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y, equal_nan=True):
                print(f"{label}: {x.dtype}{x.shape} array_equal")
            else:
                ok = False
                same = x.shape == y.shape
                d = f", max rel diff {rel_diff(x, y):.2e}" if same else ""
                print(f"{label}: {x.dtype}{x.shape} vs {y.dtype}{y.shape} DIFFERENT{d}")
        ma = json.loads((da / "run.json").read_text())["metrics"]
        mb = json.loads((db / "run.json").read_text())["metrics"]
        label = f"{name}/run.json" if name else "run.json"
        for k in sorted(set(ma) | set(mb)):
            if ma.get(k) != mb.get(k):
                ok = False
                try:
                    d = f", max rel diff {rel_diff(ma.get(k), mb.get(k)):.2e}"
                except (TypeError, ValueError):
                    d = ""
                print(f"{label} metrics.{k}: DIFFERENT{d}")
    print("ALL EQUAL" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
