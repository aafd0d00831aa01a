#!/usr/bin/env bash
# What each recorder costs, both sides in one run: the bench config of bench/probe.sh
# (fresh width-256, 4-block, 4-head model, byte vocabulary, first 10 documents of the
# built-in corpus, T = 10, C = 128, M = 5, E = 3, SGD lr 1e-3, CPU, 2 threads) with
# --record none, each recorder alone, grads,weights,acts and all; the settings alternate,
# ROUNDS times (default 3). Prints the median elapsed_s of each, its overhead over
# `none`, and the run's own time profile (run.json timings.parts_s: training,
# evaluation, each recorder, safe points; set-up = the rest), medians over rounds.
#
#   [ROUNDS=3] bench/recorders.sh
#
# Needs cargo build --release. Run it with nothing else running on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/reawaken}
PY=${PY:-.venv/bin/python}
ROUNDS=${ROUNDS:-3}
[ -x "$BIN" ] || { echo "error: $BIN not found; run cargo build --release (or set BIN)" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $ROUNDS round(s)"
SETS=(none grads weights acts pairwise grads,weights,acts all)
COMMON=(--width 256 --depth 4 --heads 4 --tasks 10 --context 128 --steps 5 --epochs 3 --lr 1e-3
        --sample first --device cpu)
for r in $(seq 1 "$ROUNDS"); do
    for set in "${SETS[@]}"; do
        OMP_NUM_THREADS=$(nproc) "$BIN" llm probe "${COMMON[@]}" --record "$set" \
            --out "$WORK/$set-$r" >/dev/null 2>&1
    done
done
"$PY" - "$WORK" "$ROUNDS" "${SETS[@]}" <<'PY'
import json, statistics, sys
work, rounds, sets = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def runs(s):
    return [json.load(open(f"{work}/{s}-{r}/run.json"))["timings"] for r in range(1, rounds + 1)]
base = statistics.median(t["elapsed_s"] for t in runs("none"))
for s in sets:
    ts = runs(s)
    el = statistics.median(t["elapsed_s"] for t in ts)
    names = sorted({k for t in ts for k in t.get("parts_s", {})})
    parts = {k: statistics.median(t.get("parts_s", {}).get(k, 0.0) for t in ts) for k in names}
    setup = el - sum(parts.values())
    shown = ", ".join(f"{k} {v:.2f} s ({100 * v / el:.0f}%)" for k, v in parts.items())
    print(f"--record {s:<18} {el:6.2f} s  {100 * (el / base - 1):+5.1f}% over none | {shown}, set-up {setup:.2f} s")
PY
