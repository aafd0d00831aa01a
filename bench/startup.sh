#!/usr/bin/env bash
# Start-up of the commands that need no tensors, both sides in one run: the current
# `reawaken` and (OLD=path, optional) an older binary that linked libtorch into every
# command. For each: median wall time of REPS runs (default 20) and peak RSS of
#   --version        the process start alone (exec, dynamic linking, exit)
#   --help
#   figures render   the gallery runs (runs/main-toy, runs/main-llm from the main job)
#   toy simulate     N = M = 1000, identity, lr 0.001, T = 25, E = 10, record written
# and, for the toy, its floor from run.json (timings.simulate_s = the simulation;
# elapsed_s - simulate_s = what the record's durable writes add: the arrays, metrics and
# final run.json, since its first writes go on during the simulation) against
# bench/toy_numpy.py as a whole process (python start, import, simulate, np.save; NUMPY_THREADS, default 1).
#
#   [OLD=/tmp/reawaken-old] [REPS=20] bench/startup.sh
#
# Needs scripts/setup.sh (and its main job, for the gallery runs). Nothing else running.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/reawaken}
REPS=${REPS:-20}
NUMPY_THREADS=${NUMPY_THREADS:-1}
[ -x "$BIN" ] || { echo "error: $BIN not found; run cargo build --release (or set BIN)" >&2; exit 1; }
[ -d runs/main-toy ] && [ -d runs/main-llm ] || { echo "error: runs/main-toy, runs/main-llm missing: run scripts/main-job.sh" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $REPS repetitions, medians"
TOY=(toy simulate --input-dim 1000 --embed-dim 1000 --mapping identity --lr 0.001 --tasks 25 --epochs 10 --force --out "$WORK/toy")
FIG=(figures render --sweep runs/main-toy --sweep runs/main-llm --out "$WORK/figs")
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# Microseconds since the epoch from bash itself ($EPOCHREALTIME, bash >= 5): timing with
# `date` would count the start of a `date` process (~1-2 ms here) in every measurement.
# (Read into variables directly: a $(...) would fork a subshell.)
wall_ms() { # wall_ms CMD... -> median milliseconds over REPS runs
    for _ in $(seq "$REPS"); do
        local t0 t1; t0=${EPOCHREALTIME/[.,]/}; "$@" >/dev/null 2>&1; t1=${EPOCHREALTIME/[.,]/}
        echo "$(( 10#$t1 - 10#$t0 ))"
    done | median | awk '{ printf "%.1f", $1 / 1000 }'
}
rss_mb() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1 | awk '{ printf "%.0f", $1 / 1024 }'; }
json() { "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['timings'][sys.argv[2]])" "$1" "$2"; }

side() { # side LABEL BIN
    local label=$1 b=$2
    printf '%-4s --version %6s ms (%s MB) | --help %6s ms (%s MB) | figures render %6s ms (%s MB) | toy simulate %6s ms (%s MB)\n' \
        "$label" "$(wall_ms "$b" --version)" "$(rss_mb "$b" --version)" \
        "$(wall_ms "$b" --help)" "$(rss_mb "$b" --help)" \
        "$(wall_ms "$b" "${FIG[@]}")" "$(rss_mb "$b" "${FIG[@]}")" \
        "$(wall_ms "$b" "${TOY[@]}")" "$(rss_mb "$b" "${TOY[@]}")"
}
[ -n "${OLD:-}" ] && side old "$OLD"
side new "$BIN"

# The toy's floor, from its own record (new binary), and numpy as a whole process.
for _ in $(seq "$REPS"); do
    "$BIN" "${TOY[@]}" >/dev/null 2>&1
    echo "$(json "$WORK/toy/run.json" simulate_s) $(json "$WORK/toy/run.json" elapsed_s)"
done > "$WORK/floor"
SIM=$(awk '{print $1 * 1000}' "$WORK/floor" | median)
REC=$(awk '{print ($2 - $1) * 1000}' "$WORK/floor" | median)
TOYW=$(wall_ms "$BIN" "${TOY[@]}")
for _ in 1 2 3 4 5; do
    t0=${EPOCHREALTIME/[.,]/}
    OPENBLAS_NUM_THREADS=$NUMPY_THREADS OMP_NUM_THREADS=$NUMPY_THREADS "$PY" bench/toy_numpy.py \
        --input-dim 1000 --embed-dim 1000 --mapping identity --lr 0.001 --tasks 25 --epochs 10 \
        --seed 0 --out "$WORK/np" >/dev/null
    t1=${EPOCHREALTIME/[.,]/}; echo "$(( 10#$t1 - 10#$t0 ))"
done | median > "$WORK/np.ms"
NPW=$(awk '{ printf "%.1f", $1 / 1000 }' "$WORK/np.ms")
printf 'toy floor (new): simulation %.1f ms, then the durable record writes add %.1f ms, whole process %s ms (process start: --version above)\n' "$SIM" "$REC" "$TOYW"
printf 'toy vs numpy as whole processes: numpy %s ms (median of 5, %s BLAS thread(s)), ours %s ms: %.0fx\n' \
    "$NPW" "$NUMPY_THREADS" "$TOYW" "$(awk -v a="$NPW" -v b="$TOYW" 'BEGIN { print a / b }')"
