#!/usr/bin/env bash
# Benchmark: whole runs of `reawaken llm probe` against the same protocol written with
# Hugging Face Transformers (bench/probe_hf.py), same random-init model (width 256, 4
# blocks, 4 heads, byte vocabulary), same documents (first 10 of the built-in corpus),
# T=10, C=128, M=5, E=3, SGD lr 1e-3, CPU, --record none.
#
#   bench/probe.sh            (ROUNDS=3 by default: the two sides alternate, 3 runs each)
#
# Prints per round: wall time (process start to exit) and peak RSS (/usr/bin/time -v) of
# both, plus the protocol-only time (Transformers: after imports and model load, as printed
# by probe_hf.py; ours: run.json timings.elapsed_s), then the medians and the speed-up of
# the medians, and the loss-matrix difference. Needs scripts/setup.sh first. ~3 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
TD=${CARGO_TARGET_DIR:-target}
ROUNDS=${ROUNDS:-3}
BIN=${BIN:-$TD/release/reawaken}
[ -x "$BIN" ] || { echo "error: $BIN not found; run cargo build --release (or set BIN)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
echo "binary: $BIN; machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$PY" bench/probe_hf.py --make-model "$WORK/model" --width 256 --depth 4 --heads 4 --seed 0 >/dev/null 2>&1
COMMON=(--tasks 10 --context 128 --steps 5 --epochs 3 --lr 1e-3)
get() { grep "$2" "$1" | awk -F': ' '{print $2}'; }
secs() { awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }' <<<"$1"; }
: > "$WORK/rows"
for r in $(seq 1 "$ROUNDS"); do
    /usr/bin/time -v "$PY" bench/probe_hf.py --model "$WORK/model" --tokenizer bytes \
      --docs llm/corpus/builtin.txt "${COMMON[@]}" --out "$WORK/hf.npy" 2> "$WORK/hf.time" > "$WORK/hf.json"
    rm -rf "$WORK/rs"
    /usr/bin/time -v "$BIN" llm probe --model "$WORK/model" --tokenizer bytes --device cpu \
      --docs llm/corpus/builtin.txt --sample first "${COMMON[@]}" --record none \
      --out "$WORK/rs" 2> "$WORK/rs.time" >/dev/null
    HF_T=$(secs "$(get "$WORK/hf.time" 'Elapsed (wall clock)')")
    RS_T=$(secs "$(get "$WORK/rs.time" 'Elapsed (wall clock)')")
    HF_M=$(get "$WORK/hf.time" 'Maximum resident')
    RS_M=$(get "$WORK/rs.time" 'Maximum resident')
    HF_P=$("$PY" -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["wall_s"], 2))' "$WORK/hf.json")
    RS_P=$("$PY" -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["timings"]["elapsed_s"], 2))' "$WORK/rs/run.json")
    echo "round $r: transformers ${HF_T} s wall (protocol ${HF_P} s), peak RSS $((HF_M / 1024)) MiB;" \
         "reawaken ${RS_T} s wall (protocol ${RS_P} s), peak RSS $((RS_M / 1024)) MiB"
    echo "$HF_T $RS_T $HF_P $RS_P $HF_M $RS_M" >> "$WORK/rows"
done
"$PY" - "$WORK/rows" "$WORK/hf.npy" "$WORK/rs/losses.npy" <<'PYEOF'
import sys, numpy as np
r = np.loadtxt(sys.argv[1], ndmin=2)
med = np.median(r, axis=0)
a, b = np.load(sys.argv[2]), np.load(sys.argv[3])
print(f"loss matrices {a.shape}: max relative difference {np.max(np.abs(a - b) / np.abs(a)):.2e}")
print(f"median of {len(r)} rounds: transformers {med[0]:.2f} s wall (protocol {med[2]:.2f} s), "
      f"reawaken {med[1]:.2f} s wall (protocol {med[3]:.2f} s)")
print(f"peak RSS (median): transformers {med[4] / 1024:.0f} MiB, reawaken {med[5] / 1024:.0f} MiB")
print(f"speed-up, whole run: {med[0] / med[1]:.2f}x (goal >= 2x); protocol only: {med[2] / med[3]:.2f}x")
PYEOF
echo "load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
