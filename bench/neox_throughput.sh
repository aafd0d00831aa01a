#!/usr/bin/env bash
# Training throughput, ours (tch) vs Hugging Face Transformers, same CPU threads, same shape:
# Pythia-shaped GPT-NeoX, width 256, 4 layers, 8 heads, vocab 50304, context 256, batch 1, SGD.
#
#   bench/neox_throughput.sh [--threads N] [--rounds R] [extra flags for both sides...]
#
# Runs each side R times (default 3) alternating, prints tokens/s per run, the best of each,
# and the ratio ours / HF (goal >= 1.0). Needs scripts/setup.sh first. ~2 minutes on 2 cores.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
THREADS="$(nproc)"
ROUNDS=3
EXTRA=()
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) THREADS="$2"; shift 2 ;;
        --rounds) ROUNDS="$2"; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) EXTRA+=("$1"); shift ;;
    esac
done
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || { echo "run scripts/setup.sh first (.venv missing)" >&2; exit 1; }
if [ -n "${BENCH_BIN:-}" ]; then
    BIN="$BENCH_BIN"   # a prebuilt train_throughput example
else
    echo "building the Rust bench (release)..." >&2
    cargo build --release -q -p reawaken-llm --example train_throughput
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/train_throughput"
fi
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); threads per side: $THREADS" >&2

ours=(); hf=()
for r in $(seq 1 "$ROUNDS"); do
    o="$("$BIN" --threads "$THREADS" "${EXTRA[@]}")"
    h="$(OMP_NUM_THREADS="$THREADS" "$PY" bench/neox_throughput.py --threads "$THREADS" "${EXTRA[@]}")"
    echo "round $r: $o" ; echo "round $r: $h"
    ours+=("$(echo "$o" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["tokens_per_s"])')")
    hf+=("$(echo "$h" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["tokens_per_s"])')")
done
"$PY" - "${ours[*]}" "${hf[*]}" <<'PY'
import sys
ours = [float(x) for x in sys.argv[1].split()]
hf = [float(x) for x in sys.argv[2].split()]
bo, bh = max(ours), max(hf)
print(f"reawaken (tch):          best {bo:8.1f} tokens/s   runs {ours}")
print(f"transformers (PyTorch):  best {bh:8.1f} tokens/s   runs {hf}")
print(f"ratio ours / HF: {bo / bh:.3f}  (goal >= 1.0)")
PY
