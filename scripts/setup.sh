#!/usr/bin/env bash
# reawaken set-up: the one command to run after cloning. Idempotent (re-running is cheap).
#
#   scripts/setup.sh            venv + libtorch + cargo build --release + the main job
#   scripts/setup.sh --no-run   everything but the main job
#
# 0. OpenBLAS's LAPACK for the analysis layer's PCA: Debian's single-threaded build
#    (libopenblas0-serial, no thread pool), installed with apt-get when missing. Nothing
#    links it: the executables open it when a PCA first needs it (analysis/src/lapack.rs).
# 1. .venv (python3 -m venv) with the pinned scripts/requirements.txt: PyPI torch==2.13.0
#    (carries libtorch for tch 0.26, CPU and CUDA), numpy, transformers, safetensors, tokenizers.
# 2. .libtorch -> the venv's torch directory. .cargo/config.toml points LIBTORCH there and
#    build.rs adds an rpath, so cargo build / cargo test / the binary need no exports.
# 3. cargo build --release.
# 4. scripts/main-job.sh (toy + llm default runs, figures), unless --no-run.
#
# One-time cost (measured, see docs/gpt-neox.md): ~3.5 GB of wheels (torch + CUDA libraries),
# 4.9 GB on disk in .venv; building torch-sys takes about 2.5 minutes on 2 cores.
# Environment: PYTHON=python3.X picks the interpreter for the venv (default python3).
set -euo pipefail

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }

RUN_MAIN=1
for arg in "$@"; do
    case "$arg" in
        --no-run) RUN_MAIN=0 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "setup.sh: unknown argument $arg (try --help)" >&2; exit 2 ;;
    esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
step() { printf '\n==> %s\n' "$*"; }

step "OpenBLAS / LAPACK (libopenblas0-serial)"
if dpkg -s libopenblas0-serial >/dev/null 2>&1; then
    echo "libopenblas0-serial present"
elif command -v apt-get >/dev/null; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libopenblas0-serial >/dev/null
    echo "installed libopenblas0-serial"
elif ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so\.0\|liblapack\.so\.3'; then
    echo "OpenBLAS/LAPACK present (not Debian: the library the loader finds is used)"
else
    echo "setup.sh: install OpenBLAS (libopenblas.so.0) with your package manager" >&2; exit 1
fi

step "Python virtualenv (.venv)"
if [ ! -x .venv/bin/python ]; then
    command -v "$PY" >/dev/null || { echo "setup.sh: $PY not found; install Python >= 3.10 (python3-venv)" >&2; exit 1; }
    "$PY" -m venv .venv
    echo "created .venv with $("$PY" --version)"
else
    echo ".venv exists ($(.venv/bin/python --version))"
fi

step "Python packages (scripts/requirements.txt)"
if .venv/bin/python - <<'PY' 2>/dev/null
import importlib.metadata as md, re, sys
for line in open("scripts/requirements.txt"):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, ver = re.split(r"==", line)
    if md.version(name) != ver:
        sys.exit(1)
PY
then
    echo "all pinned packages already installed"
else
    t0=$(date +%s)
    .venv/bin/python -m pip install --upgrade pip >/dev/null
    .venv/bin/python -m pip install -r scripts/requirements.txt
    echo "installed in $(( $(date +%s) - t0 )) s"
fi

step "libtorch link (.libtorch)"
TORCH_DIR="$(.venv/bin/python -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
REL="$(.venv/bin/python -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$TORCH_DIR" "$ROOT")"
ln -sfn "$REL" .libtorch
[ -f .libtorch/lib/libtorch_cpu.so ] || { echo "setup.sh: $TORCH_DIR/lib/libtorch_cpu.so missing; is torch installed correctly?" >&2; exit 1; }
echo ".libtorch -> $REL (torch $(.venv/bin/python -c 'import torch; print(torch.__version__)'))"

step "cargo build --release"
command -v cargo >/dev/null || { echo "setup.sh: cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }
cargo build --release

if [ "$RUN_MAIN" = 1 ]; then
    if [ -x scripts/main-job.sh ]; then
        step "main job (scripts/main-job.sh)"
        scripts/main-job.sh
    else
        echo "scripts/main-job.sh not found; skipping the main job"
    fi
fi
step "done: target/release/reawaken --help"
