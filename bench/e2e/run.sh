#!/usr/bin/env bash
# End to end: `subnet localnet up` until the first epoch's emissions, then the steady state.
#
#   bench/e2e/run.sh
#
# Builds (--release) `subnet`, `subnet-node`, `miner` and `validator` unless BIN_DIR names a
# directory that already holds them, then runs bench/e2e/e2e.py: time from `localnet up` to the
# first block, to every process ready, to the first epoch's emissions and to the first epoch
# that paid the miners; then over WINDOW seconds blocks/s, task queries/s across the subnet
# (validator and miner metrics) and CPU and memory per process (/proc). Prints tables.
#
# Environment (defaults): WINDOW=60 (seconds of steady state), BLOCK_TIME= (localnet's default,
# 1s), BIN_DIR=${CARGO_TARGET_DIR:-target}/release, OUT=target/bench-e2e.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN_DIR="${BIN_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/release}"
OUT="${OUT:-$ROOT/target/bench-e2e}"
WINDOW="${WINDOW:-60}"

missing=0
for bin in subnet subnet-node miner validator; do
    [[ -x $BIN_DIR/$bin ]] || missing=1
done
if [[ $missing == 1 ]]; then
    echo "== building subnet, subnet-node, miner, validator (release)" >&2
    (cd "$ROOT" && cargo build --release -p subnet-cli -p subnet-node -p subnet-miner -p subnet-validator --bins)
fi

mkdir -p "$OUT"
rm -rf "$OUT/localnet"
cd "$ROOT" # localnet finds deploy/localnet and models/checkpoints from here
extra=()
[[ -n ${BLOCK_TIME:-} ]] && extra+=(--block-time "$BLOCK_TIME")
python3 "$ROOT/bench/e2e/e2e.py" --subnet "$BIN_DIR/subnet" --bin-dir "$BIN_DIR" \
    --data-dir "$OUT/localnet" --window "$WINDOW" --json "$OUT/results.json" "${extra[@]}"
echo "results: $OUT/results.json; logs: $OUT/localnet-up.log and $OUT/localnet/"
