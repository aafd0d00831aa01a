#!/usr/bin/env bash
# The default `llm probe` on a busy machine, both sides in one run: for each binary
# (the current one, and OLD=path/to/an/older/reawaken if given), the default probe
#   1. alone;
#   2. beside a numpy matrix loop (bench/busy_numpy.py, numpy's default threads),
#      started 2 s before the probe;
#   3. the numpy loop started LAG seconds after the probe (the probe cannot see it
#      coming: it chose its threads already);
#   4. a default probe started LAG seconds (default 2; 0 = at the same moment) after
#      another default probe (each one's time, and the wall time until both are done);
# printed with the ratio to "alone" (goal: <= 2x, with no setting by the user).
# Times are each run's own (run.json elapsed_s: the run without the process start);
# `cpu_threads` from run.json says what each probe chose.
#
#   [OLD=/tmp/reawaken-old] [ROUNDS=1] [LAG=2] bench/busy_machine.sh
#
# Needs scripts/setup.sh first. Run it with nothing else running on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/reawaken}
ROUNDS=${ROUNDS:-1}
LAG=${LAG:-2}
[ -x "$BIN" ] || { echo "error: $BIN not found; run cargo build --release (or set BIN)" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'pkill -f "$WORK/busy" 2>/dev/null || true; rm -rf "$WORK"' EXIT
cp bench/busy_numpy.py "$WORK/busy.py"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
now() { date +%s.%N; }
threads() { grep -o '"cpu_threads": [0-9]*' "$1/run.json" | grep -o '[0-9]*$'; }
elapsed() { grep -o '"elapsed_s": [0-9.]*' "$1/run.json" | head -1 | grep -o '[0-9.]*$'; }
probe() { "$1" llm probe --out "$2" >/dev/null 2>"$2.log"; }

measure() { # measure LABEL BIN
    local label=$1 bin=$2 t0 t1 t2 t3 t4 t5
    rm -rf "$WORK/r"; mkdir -p "$WORK/r"
    t0=$(now); probe "$bin" "$WORK/r/alone"; t1=$(now)
    "$PY" "$WORK/busy.py" 600 & local busy=$!
    sleep 2
    t2=$(now); probe "$bin" "$WORK/r/numpy"; t3=$(now)
    kill "$busy"; wait "$busy" 2>/dev/null || true
    sleep 1
    probe "$bin" "$WORK/r/later" & local p=$!
    sleep "$LAG"
    "$PY" "$WORK/busy.py" 600 & busy=$!
    wait "$p"
    kill "$busy"; wait "$busy" 2>/dev/null || true
    sleep 1
    t4=$(now)
    probe "$bin" "$WORK/r/pair-a" & local a=$!
    sleep "$LAG"
    probe "$bin" "$WORK/r/pair-b"
    wait "$a"
    t5=$(now)
    awk -v l="$label" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v e="$t4" -v f="$t5" \
        -v ta="$(threads "$WORK/r/alone")" -v tn="$(threads "$WORK/r/numpy")" \
        -v tp="$(threads "$WORK/r/pair-b")+$(threads "$WORK/r/pair-a")" \
        -v ea="$(elapsed "$WORK/r/pair-a")" -v eb="$(elapsed "$WORK/r/pair-b")" \
        -v e1="$(elapsed "$WORK/r/alone")" -v e2="$(elapsed "$WORK/r/numpy")" \
        -v e3="$(elapsed "$WORK/r/later")" -v tl="$(threads "$WORK/r/later")" 'BEGIN {
        alone = e1; numpy = e2; later = e3; pair = f - e
        printf "%-4s alone %5.1f s (%s thr) | numpy before %5.1f s = %5.2fx (%s thr) | numpy after %5.1f s = %5.2fx (%s thr) | beside a probe: %.1f s = %.2fx (the one already running %.1f s = %.2fx; both done in %.1f s) (%s thr)\n",
            l, alone, ta, numpy, numpy / alone, tn, later, later / alone, tl, eb, eb / alone, ea, ea / alone, pair, tp }'
}

for round in $(seq 1 "$ROUNDS"); do
    [ -n "${OLD:-}" ] && measure "old" "$OLD"
    measure "new" "$BIN"
done
