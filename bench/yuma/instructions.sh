#!/usr/bin/env bash
# Instructions per Yuma epoch, counted by valgrind (callgrind), so that implementations can be
# compared on a loaded machine where wall-clock timings are noisy. Usage, from anywhere:
#
#     bench/yuma/instructions.sh                     # 4096:256, every mode, sparse and dense
#     bench/yuma/instructions.sh 1024:128 yuma3 sparse
#     BIN=path/to/epoch_timing bench/yuma/instructions.sh   # another build of the example
#
# Each count is (instructions of setup + 2 epochs − instructions of setup alone) / 2, from
# `epoch_timing --once SIZE MODE LAYOUT COUNT`.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
if [ -z "${BIN:-}" ]; then
    cargo build --quiet --release -p subnet-scoring --example epoch_timing
    target_dir=$(cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
    BIN="$target_dir/release/examples/epoch_timing"
fi

count() { # size mode layout epochs
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" --once "$@" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

if [ $# -eq 3 ]; then
    cases=("$1 $2 $3")
else
    cases=()
    for mode in yuma3 original yuma3_liquid; do
        for layout in sparse dense; do
            cases+=("4096:256 $mode $layout")
        done
    done
fi
for case in "${cases[@]}"; do
    # shellcheck disable=SC2086 # $case is three words
    set -- $case
    setup=$(count "$1" "$2" "$3" 0)
    two=$(count "$1" "$2" "$3" 2)
    echo "$1 $2 $3: $(((two - setup) / 2)) instructions per epoch"
done
