#!/usr/bin/env bash
# The main job: runs the built-in defaults into runs/ and renders the figure gallery (figures/gallery/).
#
#   scripts/main-job.sh            (after `cargo build --release`; scripts/setup.sh calls it)
#
# Environment overrides: REAWAKEN_BIN (default target/release/reawaken),
# RUNS_DIR (default runs), FIGURES_DIR (default figures/gallery), SKIP_LLM=1 (toy only).
# The runs are two sweeps (sweeps/main-toy.toml, sweeps/main-llm.toml), each planned afresh
# into $RUNS/<name> and run two at a time (the cores divided between them); their tables
# (mean ± sd over seeds) are printed, their records rendered into the gallery.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${REAWAKEN_BIN:-target/release/reawaken}
RUNS=${RUNS_DIR:-runs}
FIGS=${FIGURES_DIR:-figures/gallery}

if [ ! -x "$BIN" ]; then
    echo "error: $BIN not found; build it first: cargo build --release (or set REAWAKEN_BIN)" >&2
    exit 1
fi
mkdir -p "$RUNS" "$FIGS"
start=$(date +%s)
SWEEPS=()

sweep() { # sweep <name> <spec> <jobs>: plans the spec afresh into $RUNS/<name> and runs it
    local dir="$RUNS/$1"
    rm -rf "$dir" # the main job shows this build's numbers: never reuse an older sweep
    "$BIN" sweep plan "$2" --out "$dir" >/dev/null
    "$BIN" sweep run "$dir" --jobs "$3"
    "$BIN" sweep summary "$dir"
    SWEEPS+=(--sweep "$dir")
}

echo "toy model: defaults (paper Fig. 10b, 11) cyclic vs prequential-shuffled, and N = M in 20, 50, 200, 400 with lr = 1/N; seeds 0-2 (sweeps/main-toy.toml)"
sweep main-toy sweeps/main-toy.toml 2

if [ "${SKIP_LLM:-0}" = 1 ]; then
    echo "LLM runs skipped (SKIP_LLM=1)"
elif "$BIN" llm probe --help >/dev/null 2>&1; then
    echo "LLM probe: built-in defaults, --order cyclic vs prequential-shuffled (sweeps/main-llm.toml)"
    sweep main-llm sweeps/main-llm.toml 2
else
    echo "LLM runs skipped: 'reawaken llm probe' does not run (is reawaken-llm, the LLM executable, built next to $BIN?)"
fi

echo "figures -> $FIGS/"
"$BIN" figures render "${SWEEPS[@]}" --out "$FIGS"
echo "main job done in $(($(date +%s) - start)) s"
