#!/usr/bin/env bash
# From-scratch scale study (the CPU-sized echo of the paper's Fig. 3): recovery score and
# online loss of randomly initialised GPT-NeoX models against width and against depth,
# cyclic vs shuffled, several seeds, on real English text.
#
#   bench/scale_study.sh [OUT]          (default OUT = runs/scale-study)
#
# Text: Jules Verne, "Around the World in Eighty Days" (Project Gutenberg EBook #103, public
# domain in the USA), shipped as data/eighty.txt in the crates.io package esaxx-rs 0.1.10, a
# dependency of the tokenizers crate: already in the Cargo registry after `cargo build`.
# Its paragraphs of >= 128 characters become the documents (bench/gutenberg_docs.py); each
# seed draws its own T of them (--sample random).
#
# Protocol: byte tokenizer, Pythia init, T=10, C=128, M=10, E=4, Adam lr 1e-3 (state reset
# per document), --record none. Width sweep 64/128/256/512 at depth 4; depth sweep 1/2/4/8 at
# width 256; 4 heads throughout. Environment: SEEDS (default "0 1 2"), BIN (default
# target/release/reawaken), PY (default .venv/bin/python). Runs already complete in OUT are
# kept, so an interrupted study continues where it stopped. About 20 minutes on 2 cores.
# Prints a Markdown table (bench/scale_study.py) and renders the sweep figures.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/scale-study}
SEEDS=${SEEDS:-0 1 2}
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/reawaken}
PY=${PY:-.venv/bin/python}
[ -x "$BIN" ] || { echo "error: $BIN not found; run cargo build --release (or set BIN)" >&2; exit 1; }
[ -x "$PY" ] || { echo "error: $PY not found; run scripts/setup.sh --no-run (or set PY)" >&2; exit 1; }

SRC_DIR=$(cargo metadata --format-version 1 --locked 2>/dev/null | "$PY" -c '
import json, os, sys
m = json.load(sys.stdin)
print(next(os.path.dirname(p["manifest_path"]) for p in m["packages"] if p["name"] == "esaxx-rs"))')
mkdir -p "$OUT"
"$PY" bench/gutenberg_docs.py "$SRC_DIR/data/eighty.txt" "$OUT/docs.txt"

COMMON=(--docs "$OUT/docs.txt" --sample random --tokenizer bytes --init pythia --heads 4
        --tasks 10 --context 128 --steps 10 --epochs 4 --optimizer adam --lr 1e-3
        --record none --device cpu)
start=$(date +%s)
run() { # run <width> <depth> <order> <seed>
    local dir="$OUT/w$1-d$2-$3-seed$4"
    if [ -f "$dir/run.json" ] && grep -q '"status": *"complete"' "$dir/run.json"; then
        echo "  $dir (already complete)"; return
    fi
    local t0=$(date +%s)
    # MLP 4·width, as measured in docs/scale-study.md (a --width override alone keeps the
    # preset's MLP width, as the authors' ablations do).
    "$BIN" llm probe "${COMMON[@]}" --width "$1" --depth "$2" --intermediate-size $((4 * $1)) \
        --order "$3" --seed "$4" --out "$dir" --force >/dev/null || { echo "error: llm probe failed for $dir" >&2; exit 1; }
    echo "  $dir ($(( $(date +%s) - t0 )) s)"
}
CONFIGS=("64 4" "128 4" "256 4" "512 4" "256 1" "256 2" "256 8")
for seed in $SEEDS; do
    for wd in "${CONFIGS[@]}"; do
        for order in cyclic shuffled; do run $wd "$order" "$seed"; done
    done
done
echo "runs done in $(( $(date +%s) - start )) s"
"$PY" bench/scale_study.py "$OUT" | tee "$OUT/summary.md"

# Sweep figures: one reference run per sweep, then the other cyclic runs of that sweep.
fig() { # fig <name> <runs...>
    local name=$1 args=()
    shift
    for r in "$@"; do args+=(--run "$r"); done
    # Notes about recorder figures that --record none cannot have go to a log.
    "$BIN" figures render "${args[@]}" --out "$OUT/figures-$name" >/dev/null \
        2>"$OUT/figures-$name.log" || { cat "$OUT/figures-$name.log" >&2; exit 1; }
}
for name in width depth; do
    runs=()
    for seed in $SEEDS; do
        if [ $name = width ]; then set -- "256 4" "64 4" "128 4" "512 4"; else set -- "256 4" "256 1" "256 2" "256 8"; fi
        for wd in "$@"; do read -r w d <<<"$wd"; runs+=("$OUT/w$w-d$d-cyclic-seed$seed"); done
    done
    # Order the runs so that the first is the reference (width 256, depth 4, first seed).
    fig "$name" $(printf '%s\n' "${runs[@]}" | "$PY" -c 'import sys; r=sys.stdin.read().split(); r.sort(key=lambda p: ("w256-d4-" not in p, p)); print(" ".join(r))')
    echo "figures: $OUT/figures-$name/"
done
