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
# Protocol and runs: the sweep spec sweeps/scale-study.toml (byte tokenizer, Pythia init,
# T=10, C=128, M=10, E=4, Adam lr 1e-3 (state reset per document), --record none; width
# sweep 64/128/256/512 at depth 4, depth sweep 1/2/4/8 at width 256, 4 heads, MLP 4·width;
# cyclic and shuffled; seeds 0-2). It is planned into OUT/sweep and run with
# `reawaken sweep run --jobs $JOBS` (default 2: the cores divided between two runs), so an
# interrupted study continues where it stopped. Environment: JOBS, BIN (default
# target/release/reawaken), PY (default .venv/bin/python). About 20 minutes on 2 cores one
# run at a time. Prints a Markdown table (bench/scale_study.py) and renders the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/scale-study}
JOBS=${JOBS:-2}
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
# The spec reads runs/scale-study/docs.txt; for another OUT, point it there.
SPEC=sweeps/scale-study.toml
if [ "$OUT" != runs/scale-study ]; then
    SPEC="$OUT/scale-study.toml"
    sed "s|runs/scale-study/docs.txt|$OUT/docs.txt|" sweeps/scale-study.toml >"$SPEC"
fi
start=$(date +%s)
"$BIN" sweep plan "$SPEC" --out "$OUT/sweep"
"$BIN" sweep run "$OUT/sweep" --jobs "$JOBS"
echo "runs done in $(( $(date +%s) - start )) s"
"$BIN" sweep summary "$OUT/sweep" >/dev/null
"$PY" bench/scale_study.py "$OUT/sweep" | tee "$OUT/summary.md"
# Notes about recorder figures that record = "none" cannot have go to a log.
"$BIN" figures render --sweep "$OUT/sweep" --out "$OUT/figures" >/dev/null 2>"$OUT/figures.log" \
    || { cat "$OUT/figures.log" >&2; exit 1; }
echo "figures: $OUT/figures/"
