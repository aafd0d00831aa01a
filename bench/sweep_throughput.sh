#!/usr/bin/env bash
# Sweep throughput on this machine, both sides in one go:
#   A. 8 small LLM runs (the built-in tiny probe, seeds 0-7) one after another, each with the
#      default threads (every core), as a shell loop would run them;
#   B. the same 8 runs as one sweep: `reawaken sweep run --jobs 2` (cores divided: 1 thread
#      each on 2 cores);
# and two probes started by hand at the same moment:
#   C. one probe alone (reference);
#   D. two default probes at once (the second finds the cores taken and uses the one
#      thread left to it, instead of spinning against the first);
#   E. two probes at once that both insist on every core (OMP_NUM_THREADS=$(nproc) each:
#      what two default probes did before the cores were shared — OpenMP spin-waiting).
#
#   [ROUNDS=3] bench/sweep_throughput.sh [OUT]     (default OUT = /tmp/reawaken-sweep-bench)
#
# A and B alternate ROUNDS times (default 1); the median ratio is printed.
#
# Run it with nothing else running on the machine: libtorch's threads spin-wait, so any
# other CPU-heavy process changes every number here.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/reawaken}
OUT=${1:-/tmp/reawaken-sweep-bench}
[ -x "$BIN" ] || { echo "error: $BIN not found; run cargo build --release (or set BIN)" >&2; exit 1; }
rm -rf "$OUT"; mkdir -p "$OUT"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
cat > "$OUT/spec.toml" <<'SPEC'
command = "llm probe"
seeds = [0, 1, 2, 3, 4, 5, 6, 7]
SPEC
"$BIN" sweep plan "$OUT/spec.toml" --out "$OUT/sweep" >/dev/null
now() { date +%s.%N; }
ROUNDS=${ROUNDS:-1}
ratios=()
for round in $(seq 1 "$ROUNDS"); do
    rm -rf "$OUT/loop" "$OUT/sweep/runs"/* "$OUT/sweep/logs"/*
    t0=$(now)
    for i in 0 1 2 3 4 5 6 7; do
        cfg=$(printf '%s/sweep/configs/%03d.toml' "$OUT" "$i")
        "$BIN" llm probe --config "$cfg" --out "$OUT/loop/$i" >/dev/null 2>&1
    done
    t1=$(now)
    "$BIN" sweep run "$OUT/sweep" --jobs 2 2>"$OUT/sweep-run.log"
    t2=$(now)
    r=$(awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "%.2f", (b - a) / (c - b) }')
    ratios+=("$r")
    awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="$round" 'BEGIN {
        printf "round %d: A. 8 runs one after another, default threads: %5.1f s;  B. sweep run --jobs 2: %5.1f s;  A/B = %.2fx\n", n, b - a, c - b, (b - a) / (c - b) }'
done
echo "A/B over $ROUNDS round(s): ${ratios[*]} (median $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')x)"
t3=$(now)
"$BIN" llm probe --out "$OUT/alone" >/dev/null 2>&1
t4=$(now)
"$BIN" llm probe --out "$OUT/pair-a" >/dev/null 2>&1 &
"$BIN" llm probe --out "$OUT/pair-b" >/dev/null 2>&1
wait
t5=$(now)
OMP_NUM_THREADS=$(nproc) "$BIN" llm probe --out "$OUT/spin-a" >/dev/null 2>&1 &
OMP_NUM_THREADS=$(nproc) "$BIN" llm probe --out "$OUT/spin-b" >/dev/null 2>&1
wait
t6=$(now)
awk -v c="$t3" -v d="$t4" -v e="$t5" -v f="$t6" 'BEGIN {
    alone = d - c; pair = e - d; spin = f - e
    printf "C. one probe alone:                            %6.1f s\n", alone
    printf "D. two default probes started at once:         %6.1f s   (%.2fx one alone; both done)\n", pair, pair / alone
    printf "E. two probes at once, each on every core:     %6.1f s   (%.2fx one alone; D is %.1fx faster)\n", spin, spin / alone, spin / pair
}'
printf 'threads of the two default probes started at once: %s and %s\n' \
    "$(grep -o '"cpu_threads": [0-9]*' "$OUT/pair-a/run.json")" "$(grep -o '"cpu_threads": [0-9]*' "$OUT/pair-b/run.json")"
"$BIN" sweep summary "$OUT/sweep" | tail -3
