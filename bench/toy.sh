#!/usr/bin/env bash
# Benchmark: `reawaken toy simulate` against the straightforward numpy implementation
# (bench/toy_numpy.py) of the same equations.
#
#   bench/toy.sh            # main comparison (N=M=1000, identity, lr=0.001, T=25, E=10) + scaling table
#   REPS=3 SCALING=0 bench/toy.sh
#
# Reports, for both sides:
#   compute  = in-process time of sampling + simulation (numpy: time.perf_counter around
#              simulate(); ours: the `toy_stats time` example calling reawaken_toy::simulate),
#   wall     = end-to-end wall time of the process that writes the run (numpy: python start,
#              import, simulate, np.save; ours: `reawaken toy simulate --out DIR --force`, which
#              also writes run.json / losses.npy / order.npy / points.npy).
# If the CLI is not usable yet, the end-to-end column falls back to the example binary
# (no record written) and says so.
# numpy's BLAS runs with NUMPY_THREADS threads (default 1, like ours): on a small or busy machine
# OpenBLAS's extra threads make it slower, not faster (measured here: 2 threads 3x slower on a
# loaded 2-core box). Set NUMPY_THREADS=2 (or more) to compare against multi-threaded numpy.
# Environment: PYTHON (default .venv/bin/python), REPS (default 5), SCALING (default 1),
# NUMPY_THREADS (default 1), CARGO_TARGET_DIR (default target).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
REPS=${REPS:-5}
SCALING=${SCALING:-1}
TARGET=${CARGO_TARGET_DIR:-target}
NUMPY_THREADS=${NUMPY_THREADS:-1}
export OPENBLAS_NUM_THREADS=$NUMPY_THREADS OMP_NUM_THREADS=$NUMPY_THREADS MKL_NUM_THREADS=$NUMPY_THREADS
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "== building (release)" >&2
cargo build --release -q -p reawaken-toy --example toy_stats
STATS="$TARGET/release/examples/toy_stats"
BIN="$TARGET/release/reawaken"
USE_CLI=0
if cargo build --release -q -p reawaken --bin reawaken 2>"$WORK/build.log" \
   && "$BIN" toy simulate --tasks 3 --epochs 2 --out "$WORK/probe" --force >/dev/null 2>&1 \
   && [ -f "$WORK/probe/losses.npy" ]; then
  USE_CLI=1
else
  echo "NOTE: 'reawaken toy simulate' is not usable (build or run failed); end-to-end times use the" >&2
  echo "      toy_stats example process instead (same library call, but no run record written)." >&2
fi

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.9g\\n\", $* }"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# ours_wall N M T E LR MAPPING -> seconds (one process)
ours_wall() {
  local t0 t1
  t0=$(now)
  if [ "$USE_CLI" = 1 ]; then
    "$BIN" toy simulate --input-dim "$1" --embed-dim "$2" --tasks "$3" --epochs "$4" --lr "$5" \
      --mapping "$6" --seed 0 --out "$WORK/ours" --force >/dev/null 2>&1
  else
    "$STATS" time "$1" "$2" "$3" "$4" "$5" "$6" 1 >/dev/null
  fi
  t1=$(now)
  calc "$t1 - $t0"
}
# ours_compute N M T E LR MAPPING REPS -> median seconds (in-process)
ours_compute() {
  "$STATS" time "$@" | sed -n 's/.*median \([0-9.e-]*\) s.*/\1/p'
}
# numpy_run N M T E LR MAPPING -> "compute wall"
numpy_run() {
  local t0 t1 out
  t0=$(now)
  out=$("$PY" bench/toy_numpy.py --input-dim "$1" --embed-dim "$2" --tasks "$3" --epochs "$4" \
        --lr "$5" --mapping "$6" --seed 0 --out "$WORK/np")
  t1=$(now)
  echo "$(echo "$out" | sed -n 's/.*compute_s=\([0-9.]*\).*/\1/p') $(calc "$t1 - $t0")"
}

echo "== main comparison: N=M=1000, identity, lr=0.001, T=25, E=10, $REPS repetitions"
echo "   machine: $(getconf _NPROCESSORS_ONLN) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); numpy BLAS threads: $NUMPY_THREADS; ours: 1 thread"
: >"$WORK/np_c"; : >"$WORK/np_w"; : >"$WORK/us_w"
for r in $(seq "$REPS"); do
  read -r c w < <(numpy_run 1000 1000 25 10 0.001 identity)
  echo "$c" >>"$WORK/np_c"; echo "$w" >>"$WORK/np_w"
  ours_wall 1000 1000 25 10 0.001 identity >>"$WORK/us_w"
  printf '   rep %s: numpy compute %.3f s, wall %.3f s; ours wall %.4f s\n' "$r" "$c" "$w" "$(tail -1 "$WORK/us_w")"
done
NPC=$(median <"$WORK/np_c"); NPW=$(median <"$WORK/np_w"); USW=$(median <"$WORK/us_w")
USC=$(ours_compute 1000 1000 25 10 0.001 identity $((REPS * 10)))
printf '   median  numpy: compute %.3f s, wall %.3f s\n' "$NPC" "$NPW"
printf '   median  ours:  compute %.4f s, wall %.4f s (%s)\n' "$USC" "$USW" \
  "$([ "$USE_CLI" = 1 ] && echo 'reawaken toy simulate, record written' || echo 'example binary fallback')"
printf '   RATIO compute (numpy/ours): %.0fx   RATIO wall: %.0fx\n' \
  "$(calc "$NPC / $USC")" "$(calc "$NPW / $USW")"

if [ "$SCALING" = 1 ]; then
  echo "== scaling (identity, lr = 1/N so lr*|x|^2 ≈ 1/3, E=10; compute = in-process median)"
  echo "   numpy at N=4000 is run with E=1 and its time multiplied by 10 (every episode costs the same)"
  printf '   %6s %5s %14s %14s %10s %12s\n' "N=M" "T" "numpy s" "ours s" "ratio" "ours wall s"
  for n in 100 1000 4000; do
    for t in 25 100; do
      lr=$(calc "1 / $n")
      if [ "$n" -ge 4000 ]; then
        read -r c _ < <(numpy_run "$n" "$n" "$t" 1 "$lr" identity); c=$(calc "$c * 10"); mark="*"
      else
        read -r c _ < <(numpy_run "$n" "$n" "$t" 10 "$lr" identity); mark=" "
      fi
      reps=$([ "$n" -ge 4000 ] && echo 3 || echo 10)
      u=$(ours_compute "$n" "$n" "$t" 10 "$lr" identity "$reps")
      uw=$(ours_wall "$n" "$n" "$t" 10 "$lr" identity)
      printf '   %6s %5s %13.3f%s %14.5f %9.0fx %12.4f\n' "$n" "$t" "$c" "$mark" "$u" "$(calc "$c / $u")" "$uw"
    done
  done
fi
