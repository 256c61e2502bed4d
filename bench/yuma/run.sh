#!/usr/bin/env bash
# One Yuma epoch, Rust (sparse and dense input, one thread) against the numpy float version,
# in the same run, as one table (issue #3). Usage, from anywhere:
#
#     bench/yuma/run.sh                       # sizes 256:64 1024:128 4096:256, 30 Rust runs each
#     SIZES="4096:256" REPS=60 bench/yuma/run.sh
#
# - Rust: `scoring/examples/epoch_timing.rs`, built --release, best and median of REPS runs per
#   size and layout (Yuma3, the mode new subnets run), on the synthetic subnet of
#   `scoring/benches/common/mod.rs`. Run twice: with glibc's default malloc settings (each
#   iteration frees its ~16 MB of returned bond rows, glibc gives the memory back to the
#   kernel, and the next epoch page-faults it in again) and with
#   MALLOC_TRIM_THRESHOLD_/MALLOC_MMAP_THRESHOLD_ raised so the memory stays mapped (the cost of
#   the epoch itself, as in a process whose allocator keeps its memory).
# - numpy: `bench/yuma/yuma_numpy.py`, first checked against the fixtures, then timed with BLAS
#   pinned to one thread (OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1); NUMPY_THREADS=all leaves
#   the thread count to numpy (OpenBLAS then uses every core for the matrix-vector products).
# - The venv is bench/.venv (created with numpy from PyPI when missing).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
sizes=${SIZES:-"256:64 1024:128 4096:256"}
reps=${REPS:-30}
venv=bench/.venv

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import numpy' 2>/dev/null; then
    "$venv/bin/pip" install --quiet numpy
fi

cargo build --quiet --release -p subnet-scoring --example epoch_timing
target_dir=$(cargo metadata --format-version 1 --no-deps |
    "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target_dir/release/examples/epoch_timing"

# shellcheck disable=SC2086 # $sizes is a list
rust_cold=$("$bin" --sizes $sizes --reps "$reps")
# shellcheck disable=SC2086
rust_warm=$(MALLOC_TRIM_THRESHOLD_=4294967296 MALLOC_MMAP_THRESHOLD_=33554432 \
    "$bin" --sizes $sizes --reps "$reps")
if [ "${NUMPY_THREADS:-1}" = all ]; then
    numpy_env=()
else
    numpy_env=(OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1)
fi
# shellcheck disable=SC2086
numpy=$(env "${numpy_env[@]}" "$venv/bin/python" bench/yuma/yuma_numpy.py \
    --check scoring/tests/fixtures/yuma --time $sizes --json | tail -n 1)

RUST_COLD=$rust_cold RUST_WARM=$rust_warm NUMPY=$numpy "$venv/bin/python" - <<'EOF'
import json, os, platform

cold = json.loads(os.environ["RUST_COLD"])["results"]
warm = json.loads(os.environ["RUST_WARM"])["results"]
numpy = json.loads(os.environ["NUMPY"])
rust = {}
for tag, rows in (("cold", cold), ("warm", warm)):
    for r in rows:
        rust[(r["n"], r["validators"], r["layout"], tag)] = r
        if tag == "warm":
            cold_digest = rust[(r["n"], r["validators"], r["layout"], "cold")]["digest"]
            assert r["digest"] == cold_digest, "the two runs disagree"

def ms(r, key="best_ms"):
    return f"{r[key]:.2f}"

print("| n | validators | Rust sparse best / median (ms) | Rust dense best / median (ms) "
      "| Rust sparse, memory kept mapped (ms) | Rust sparse, bond rows reused (ms) "
      "| numpy best / median (ms) | numpy / Rust sparse | numpy / Rust dense |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in numpy["results"]:
    n, v = r["n"], r["validators"]
    sparse, dense = rust[(n, v, "sparse", "cold")], rust[(n, v, "dense", "cold")]
    assert sparse["digest"] == dense["digest"], "sparse and dense epochs differ"
    kept = rust[(n, v, "sparse", "warm")]
    reused = rust[(n, v, "sparse_reused", "cold")]
    assert reused["digest"] == sparse["digest"], "reusing bond rows changed the epoch"
    nb, nm = r["best_seconds"] * 1e3, r["median_seconds"] * 1e3
    print(f"| {n} | {v} | {ms(sparse)} / {ms(sparse, 'median_ms')} "
          f"| {ms(dense)} / {ms(dense, 'median_ms')} | {ms(kept)} / {ms(kept, 'median_ms')} "
          f"| {ms(reused)} / {ms(reused, 'median_ms')} "
          f"| {nb:.1f} / {nm:.1f} | {nb / sparse['best_ms']:.0f}x | {nb / dense['best_ms']:.0f}x |")
print()
load = os.getloadavg()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"Rust: Yuma3, {cold[0]['reps']} runs per cell after one warm-up, one thread; sparse and dense "
      f"outputs identical (digest per size checked). numpy {numpy['numpy']}, float64, threads env "
      f"{numpy['threads_env']}; ratios use best times.")
print(f"Machine: {os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}, "
      f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end of the run.")
EOF
