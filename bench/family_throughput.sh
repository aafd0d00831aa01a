#!/usr/bin/env bash
# Training-step time of every model family, ours (tch) vs Hugging Face Transformers, on the
# same random model directory (made by Transformers), same CPU threads, batch 1, SGD:
# width 256, 4 blocks, 8 heads (Llama family: 4 key/value heads), vocabulary 50304 (Image
# GPT: 513), context 256.
#
#   bench/family_throughput.sh [--threads N] [--rounds R] [--families "gpt2 llama ..."]
#
# For each family: R rounds (default 3), each running both sides once (alternating), then
# the median step time of each side and the ratio ours / HF (goal <= 1.10, i.e. within 10 %).
# Needs scripts/setup.sh first. ~6 minutes on 2 cores; run it with nothing else running.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
THREADS="$(nproc)"
ROUNDS=3
FAMILIES="gpt_neox gpt2 llama qwen2 mistral imagegpt"
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) THREADS="$2"; shift 2 ;;
        --rounds) ROUNDS="$2"; shift 2 ;;
        --families) FAMILIES="$2"; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown flag $1" >&2; exit 2 ;;
    esac
done
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || { echo "run scripts/setup.sh first (.venv missing)" >&2; exit 1; }
if [ -n "${BENCH_BIN:-}" ]; then
    BIN="$BENCH_BIN"
else
    echo "building the Rust bench (release)..." >&2
    cargo build --release -q -p reawaken-llm --example train_throughput
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/train_throughput"
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); threads per side: $THREADS" >&2
SHAPE=(--width 256 --depth 4 --heads 8 --vocab 50304)
for fam in $FAMILIES; do
    dir="$WORK/$fam"
    OMP_NUM_THREADS="$THREADS" "$PY" bench/neox_throughput.py --make-model "$dir" --family "$fam" "${SHAPE[@]}" 2>/dev/null
    ours=(); hf=()
    for r in $(seq 1 "$ROUNDS"); do
        o="$("$BIN" --threads "$THREADS" --model "$dir")"
        h="$(OMP_NUM_THREADS="$THREADS" "$PY" bench/neox_throughput.py --threads "$THREADS" --model "$dir" 2>/dev/null)"
        ours+=("$(echo "$o" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["step_ms"])')")
        hf+=("$(echo "$h" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["step_ms"])')")
    done
    "$PY" - "$fam" "${ours[*]}" "${hf[*]}" <<'PY'
import statistics, sys
fam = sys.argv[1]
ours = [float(x) for x in sys.argv[2].split()]
hf = [float(x) for x in sys.argv[3].split()]
mo, mh = statistics.median(ours), statistics.median(hf)
print(f"{fam:9s} step ms: ours median {mo:7.1f} {ours}  HF median {mh:7.1f} {hf}  ratio ours/HF {mo / mh:.3f}  (goal <= 1.10)")
PY
done
