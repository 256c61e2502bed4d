#!/usr/bin/env bash
# The miner's model on CPU against PyTorch and numpy, in one run (issue #5):
#
#   bench/models/run.sh                 # CHECKPOINT=models/checkpoints/best.mpk THREADS=1
#
# 1. Writes the reference bundle of CHECKPOINT (weights and burn's log-probabilities) with the
#    `export_reference` example (--release).
# 2. Creates target/bench-torch (once) with numpy and torch from PyPI, checks PyTorch against
#    burn within 1e-4, and times one forward pass of 64 sequences of 64 bytes in PyTorch and
#    numpy on THREADS threads (bench/models/torch_forward.py).
# 3. Runs the miner's throughput bench, whose "inference only" table times the same batch
#    through the miner's solver (burn, ndarray backend, one inference thread).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CHECKPOINT="${CHECKPOINT:-$ROOT/models/checkpoints/best.mpk}"
THREADS="${THREADS:-1}"
VENV="$ROOT/target/bench-torch"
BUNDLE="$ROOT/target/bench-models/reference.bin"
cd "$ROOT"

mkdir -p "$(dirname "$BUNDLE")"
cargo run --locked --release -q -p subnet-models --example export_reference -- \
    --checkpoint "$CHECKPOINT" --out "$BUNDLE"
if ! "$VENV/bin/python" -c 'import torch, numpy' 2>/dev/null; then
    echo "== creating $VENV with numpy and torch from PyPI" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet numpy torch
fi
OPENBLAS_NUM_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS" \
    "$VENV/bin/python" bench/models/torch_forward.py "$BUNDLE" --threads "$THREADS"
echo
cargo bench --locked -q -p subnet-miner --bench throughput -- --rounds 3 --checkpoint "$CHECKPOINT"
