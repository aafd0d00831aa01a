#!/usr/bin/env python3
"""Straightforward numpy implementation of the reawaken toy model (docs/toy-model.md), the baseline
of bench/toy.sh and the statistical cross-check of docs/toy-model.md.

Exactly the equations, written the obvious way: an explicit P (M x N); one training step
on task i is
    r = P x_i - f_i(w);  P <- P - lr * outer(r, x_i);  w <- f_i^{-1}(P x_i)
and after every episode the losses of all T tasks are computed from Z = P @ X.

Usage (flags mirror `reawaken toy simulate`):
    toy_numpy.py [--seed S] [--tasks T] [--input-dim N] [--embed-dim M] [--lr A]
                 [--mapping target|identity] [--epochs E] [--steps K]
                 [--order cyclic|shuffled] [--out DIR]
Prints one line `numpy compute_s=<seconds> ...` (sampling + simulation, no import/IO).
With --out it writes losses.npy (float32, (T*E+1, T)), order.npy (int64), points.npy
(float32, (E+1, T, M)) and recovery scores to stdout.
Its random numbers come from numpy's PCG64 and differ from reawaken's ChaCha streams:
the two agree in distribution, not run by run.
"""
import argparse
import os
import time

import numpy as np


def recovery_scores(losses, order, epochs):
    """RS(n), n = 1..E-1 (docs/records.md, ratio of averages) for any order."""
    t = losses.shape[1]
    occ = [[] for _ in range(t)]
    for s, task in enumerate(order):
        occ[task].append(s + 1)
    out = []
    for n in range(1, epochs):
        mx = bf = af = 0.0
        cnt = 0
        for task in range(t):
            o = occ[task]
            if len(o) <= n:
                continue
            a, b = o[n - 1], o[n] - 1
            col = losses[a:b + 1, task]
            mx += col.max()
            bf += col[-1]
            af += col[0]
            cnt += 1
        out.append(None if cnt == 0 or mx - af <= 0 else (mx - bf) / (mx - af))
    return out


def simulate(seed, tasks, input_dim, embed_dim, lr, mapping, epochs, steps, order_kind):
    rng = np.random.default_rng(seed)
    n, m, t = input_dim, embed_dim, tasks
    X = rng.uniform(-1.0, 1.0, size=(n, t))          # column i = x_i
    Y = rng.uniform(-1.0, 1.0, size=(m, t))          # column i = y_i
    w = rng.uniform(-1.0, 1.0, size=m)
    P = rng.normal(0.0, 1.0 / n, size=(m, n))        # std 1/N
    identity = mapping == "identity"

    def f(i, w):
        return w if identity else Y[:, i] - w

    def f_inv(i, v):
        return v if identity else Y[:, i] - v

    def all_losses(P, w):
        Z = P @ X                                    # (M, T)
        F = w[:, None] if identity else Y - w[:, None]
        return 0.5 * ((Z - F) ** 2).sum(axis=0)

    losses = np.zeros((t * epochs + 1, t))
    points = np.zeros((epochs + 1, t, m))
    order = []
    losses[0] = all_losses(P, w)
    points[0] = (P @ X if identity else Y - P @ X).T
    s = 0
    for e in range(epochs):
        ep_order = range(t) if order_kind == "cyclic" else rng.permutation(t)
        for i in ep_order:
            xi = X[:, i]
            for _ in range(steps):
                r = P @ xi - f(i, w)
                P -= lr * np.outer(r, xi)
                w = f_inv(i, P @ xi)
            s += 1
            order.append(int(i))
            losses[s] = all_losses(P, w)
        points[e + 1] = (P @ X if identity else Y - P @ X).T
    return losses, np.array(order, dtype=np.int64), points


def summary(losses, order, t, epochs):
    rs = recovery_scores(losses, order, epochs)
    online = float(np.mean([losses[s, task] for s, task in enumerate(order) if s >= t]))
    last = losses[(epochs - 1) * t:epochs * t + 1, 0]
    return rs[0], rs[-1], online, float(last.max())


def seed_stats(a):
    rows = []
    for seed in range(a.seeds[0], a.seeds[1] + 1):
        losses, order, _ = simulate(seed, a.tasks, a.input_dim, a.embed_dim, a.lr, a.mapping,
                                    a.epochs, a.steps, a.order)
        rows.append(summary(losses, order, a.tasks, a.epochs))
    v = np.array(rows, dtype=float)
    names = ["RS(1)", f"RS({a.epochs - 1})", "online", "task1-peak"]
    se = v.std(axis=0, ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.zeros(v.shape[1])
    print(f"numpy seeds {a.seeds[0]}..={a.seeds[1]}: " + ", ".join(
        f"{n} {m:.3f} ± {s:.3f}" for n, m, s in zip(names, v.mean(axis=0), se)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tasks", type=int, default=25)
    ap.add_argument("--input-dim", type=int, default=100)
    ap.add_argument("--embed-dim", type=int, default=100)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--mapping", choices=["target", "identity"], default="target")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--order", choices=["cyclic", "shuffled"], default="cyclic")
    ap.add_argument("--out", default=None, help="directory for losses.npy, order.npy, points.npy")
    ap.add_argument("--seeds", type=int, nargs=2, metavar=("FIRST", "LAST"), default=None,
                    help="statistics mode: run seeds FIRST..=LAST and print mean ± standard error of "
                         "RS(1), RS(E-1), online loss and the task-1 peak loss in the last epoch")
    a = ap.parse_args()
    if a.seeds:
        return seed_stats(a)
    t0 = time.perf_counter()
    losses, order, points = simulate(a.seed, a.tasks, a.input_dim, a.embed_dim, a.lr, a.mapping,
                                     a.epochs, a.steps, a.order)
    dt = time.perf_counter() - t0
    if not np.isfinite(losses).all():
        raise SystemExit("numpy: non-finite losses (lr too large for this input-dim)")
    rs = recovery_scores(losses, order, a.epochs)
    print(f"numpy compute_s={dt:.6f} N={a.input_dim} M={a.embed_dim} T={a.tasks} E={a.epochs} "
          f"RS={' '.join('null' if v is None else f'{v:.3f}' for v in rs)}", flush=True)
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        np.save(os.path.join(a.out, "losses.npy"), losses.astype(np.float32))
        np.save(os.path.join(a.out, "order.npy"), order)
        np.save(os.path.join(a.out, "points.npy"), points.astype(np.float32))


if __name__ == "__main__":
    main()
