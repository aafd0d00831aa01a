#!/usr/bin/env bash
# Benchmark: one run of `reawaken llm probe` and one of the same protocol in Hugging Face
# Transformers (bench/probe_hf.py), same random-init model (width 256, 4 blocks, byte
# vocabulary), same documents (first 10 of the built-in corpus), T=10, C=128, M=5, E=3,
# SGD lr 1e-3, CPU. Prints wall time and peak memory (/usr/bin/time -v) of both and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
TD=${CARGO_TARGET_DIR:-target}
# The work is in libtorch; the dev profile (deps at opt-level 2) is fine when no release build exists.
BIN=${BIN:-$TD/release/reawaken}
[ -x "$BIN" ] || BIN=$TD/debug/reawaken
[ -x "$BIN" ] || { cargo build -p reawaken; }
echo "binary: $BIN"
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)"; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$PY" bench/probe_hf.py --make-model "$WORK/model" --width 256 --depth 4 --heads 4 --seed 0 >/dev/null
COMMON=(--tasks 10 --context 128 --steps 5 --epochs 3 --lr 1e-3)
/usr/bin/time -v "$PY" bench/probe_hf.py --model "$WORK/model" --tokenizer bytes \
  --docs llm/corpus/builtin.txt "${COMMON[@]}" --out "$WORK/hf.npy" 2> "$WORK/hf.time" >/dev/null
/usr/bin/time -v "$BIN" llm probe --model "$WORK/model" --tokenizer bytes --device cpu \
  --docs llm/corpus/builtin.txt --sample first "${COMMON[@]}" --record none \
  --out "$WORK/rs" 2> "$WORK/rs.time" >/dev/null
get() { grep "$2" "$1" | awk -F': ' '{print $2}'; }
secs() { awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }' <<<"$1"; }
HF_T=$(secs "$(get "$WORK/hf.time" 'Elapsed (wall clock)')")
RS_T=$(secs "$(get "$WORK/rs.time" 'Elapsed (wall clock)')")
HF_M=$(get "$WORK/hf.time" 'Maximum resident')
RS_M=$(get "$WORK/rs.time" 'Maximum resident')
"$PY" - "$WORK/hf.npy" "$WORK/rs/losses.npy" <<'PYEOF'
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
print(f"loss matrices {a.shape}: max relative difference {np.max(np.abs(a-b)/np.abs(a)):.2e}")
PYEOF
echo "transformers (bench/probe_hf.py): ${HF_T} s wall, peak RSS ${HF_M} KiB"
echo "reawaken llm probe:               ${RS_T} s wall, peak RSS ${RS_M} KiB"
awk -v a="$HF_T" -v b="$RS_T" 'BEGIN { printf "speed-up: %.2fx (goal >= 2x)\n", a/b }'
echo "load average during the run: $(cut -d' ' -f1-3 /proc/loadavg)"
