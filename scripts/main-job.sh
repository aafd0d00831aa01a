#!/usr/bin/env bash
# The main job: runs the built-in defaults into runs/ and renders the figure gallery (figures/gallery/).
#
#   scripts/main-job.sh            (after `cargo build --release`; scripts/setup.sh calls it)
#
# Environment overrides: REAWAKEN_BIN (default target/release/reawaken),
# RUNS_DIR (default runs), FIGURES_DIR (default figures/gallery), SKIP_LLM=1 (toy only).
# Every run is written with --force, replacing the previous one.
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
RUN_ARGS=()

toy() { # toy <name> [flags...]
    local name=$1
    shift
    "$BIN" toy simulate --out "$RUNS/$name" --force "$@" >/dev/null
    RUN_ARGS+=(--run "$RUNS/$name")
    echo "  $RUNS/$name"
}

echo "toy model: defaults (paper Fig. 10b, 11), seeds 0-2"
for s in 0 1 2; do toy "toy-cyclic-seed$s" --seed "$s"; done
echo "toy model: --order prequential-shuffled (the paper's control: document 1 stays first), seeds 0-2"
for s in 0 1 2; do toy "toy-prequential-seed$s" --seed "$s" --order prequential-shuffled; done
echo "toy model: sweep N = M (input-dim = embed-dim) in 20, 50, (100 = default), 200, 400 with lr = 1/N"
for n in 20 50 200 400; do
    lr=$(awk "BEGIN { print 1 / $n }")
    for s in 0 1 2; do toy "toy-dim$n-seed$s" --seed "$s" --input-dim "$n" --embed-dim "$n" --lr "$lr"; done
done

if [ "${SKIP_LLM:-0}" = 1 ]; then
    echo "LLM runs skipped (SKIP_LLM=1)"
elif "$BIN" llm probe --help >/dev/null 2>&1; then
    for order in cyclic prequential-shuffled; do
        echo "LLM probe: built-in defaults, --order $order"
        t0=$(date +%s)
        "$BIN" llm probe --order "$order" --out "$RUNS/llm-$order" --force
        echo "  $RUNS/llm-$order ($(($(date +%s) - t0)) s)"
        RUN_ARGS+=(--run "$RUNS/llm-$order")
    done
else
    echo "LLM runs skipped: $BIN has no 'llm probe' subcommand (built without the llm feature / libtorch)"
fi

echo "figures -> $FIGS/"
"$BIN" figures render "${RUN_ARGS[@]}" --out "$FIGS"
echo "main job done in $(($(date +%s) - start)) s"
