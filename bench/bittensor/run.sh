#!/usr/bin/env bash
# Bittensor's Axon/Dendrite against this project's signed QUIC protocol, same payload, same run.
#
#   bench/bittensor/run.sh
#
# 1. Creates target/bench-venv (once) and installs bittensor==10.5.0 from PyPI into it.
# 2. Builds protocol/examples/synapse16.rs with --release.
# 3. Runs, each as two processes on 127.0.0.1 (server, client): Bittensor's Axon and Dendrite
#    (bt_bench.py), then our Server and Client (synapse16): sequential calls, then IN_FLIGHT
#    calls in flight; prints one table, the ratios and the load average.
#
# Nothing leaves loopback: where `unshare -n` works (root), step 3 runs in a fresh network
# namespace whose only interface is lo, so a connection elsewhere cannot even be routed;
# bt_bench.py also stubs Bittensor's public-IP lookup and refuses (and reports) any connect or
# name lookup outside 127.0.0.0/8; `ss` is sampled during each run and the addresses the four
# processes used are printed. STRACE=1 also traces every connect() of the Python processes.
#
# Environment (defaults): SEQUENTIAL=2000 CONCURRENT=10000 (our stack), BT_SEQUENTIAL=500
# BT_CONCURRENT=2000 (Bittensor's: ~50x slower, so fewer calls keep the run to minutes),
# IN_FLIGHT=64, BT_DENDRITES=1 (Dendrites sharing the validator hotkey for the concurrent
# calls: one, as a validator has; more avoid the Axon's nonce-order refusals, see bt_bench.py),
# NETNS=auto|0, STRACE=0, OUT=target/bench-bittensor (results and logs),
# NICE= (e.g. NICE=-10 as root: run the four processes at that priority, so that other jobs on a
# shared machine delay them less; both stacks alike), RT=1 (as root: run them SCHED_FIFO at
# priority 10 instead, so that other jobs cannot preempt them: latency as on a quiet machine).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/bench/bittensor"
VENV="$ROOT/target/bench-venv"
PY="$VENV/bin/python"
OUT="${OUT:-$ROOT/target/bench-bittensor}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OURS="$TARGET_DIR/release/examples/synapse16"
export SEQUENTIAL="${SEQUENTIAL:-2000}" CONCURRENT="${CONCURRENT:-10000}"
export BT_SEQUENTIAL="${BT_SEQUENTIAL:-500}" BT_CONCURRENT="${BT_CONCURRENT:-2000}"
export IN_FLIGHT="${IN_FLIGHT:-64}" BT_DENDRITES="${BT_DENDRITES:-1}" STRACE="${STRACE:-0}"
export NICE="${NICE:-}"
NICE_CMD=()
[[ -n $NICE ]] && NICE_CMD=(nice -n "$NICE")
[[ ${RT:-0} == 1 ]] && NICE_CMD=(chrt --fifo 10)

prepare() {
    if ! "$PY" -c 'import bittensor, sys; sys.exit(bittensor.__version__ != "10.5.0")' 2>/dev/null; then
        echo "== creating $VENV and installing bittensor==10.5.0 from PyPI" >&2
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --upgrade pip
        "$VENV/bin/pip" install --quiet "bittensor==10.5.0"
    fi
    echo "== building synapse16 (release)" >&2
    (cd "$ROOT" && cargo build --quiet --release -p subnet-protocol --features net --example synapse16)
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# Samples `ss` while process $1 lives; keeps the lines of pids $1 and $2.
sample_sockets() {
    local a=$1 b=$2 file=$3
    while kill -0 "$a" 2>/dev/null; do
        ss -tuanpH 2>/dev/null | grep -E "pid=($a|$b)," >>"$file" || true
        sleep 1
    done
}

# Prints the distinct local and peer hosts in an `ss` sample file; fails if one is not loopback.
check_sockets() {
    local file=$1 label=$2
    if [[ ! -s $file ]]; then
        echo "$label: no sockets sampled" >&2
        return 0
    fi
    local hosts
    hosts=$(awk '{print $5; print $6}' "$file" | sed -E 's/:[^:]*$//; s/^\[|\]$//g; s/%.*//' | sort -u | tr '\n' ' ')
    echo "$label sockets (local and peer hosts seen by ss, $(wc -l <"$file") samples): $hosts"
    for h in $hosts; do
        case $h in
            127.*|::1|::ffff:127.*|0.0.0.0|\*) ;; # 0.0.0.0:* / *:* is the unset peer of a UDP socket
            *) echo "NOT LOOPBACK: $h" >&2; return 1 ;;
        esac
    done
}

# Waits for "READY ..." on file $1 from process $2; prints the line.
wait_ready() {
    for _ in $(seq 600); do
        if grep -qs '^READY' "$1"; then grep -m1 '^READY' "$1"; return 0; fi
        kill -0 "$2" 2>/dev/null || { echo "server died:" >&2; cat "$1" >&2; return 1; }
        sleep 0.1
    done
    echo "server not ready" >&2
    return 1
}

# Runs "${@:2}" in place of this (background) shell, so that $! is its pid; under strace with
# STRACE=1, tracing its connect() calls to $1.
traced() {
    if [[ $STRACE == 1 ]]; then
        exec "${NICE_CMD[@]}" strace -f -qq -e trace=connect -o "$1" "${@:2}"
    else
        exec "${NICE_CMD[@]}" "${@:2}"
    fi
}

# SIGTERM, then SIGKILL after 10 s.
stop() {
    kill -TERM "$1" 2>/dev/null || return 0
    for _ in $(seq 100); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

STARTED=()
cleanup() {
    local pid
    for pid in "${STARTED[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
}

measure() {
    trap cleanup EXIT
    mkdir -p "$OUT"
    rm -f "$OUT"/*
    local results="$OUT/results.jsonl"
    ip link set lo up 2>/dev/null || true

    echo "== Bittensor $("$PY" -c 'import importlib.metadata as m; print(m.version("bittensor"))'): Axon and Dendrite" >&2
    echo "{\"loadavg\": {\"stack\": \"bittensor\", \"at\": \"start\", \"value\": \"$(loadavg)\"}}" >>"$results"
    traced "$OUT/strace-axon.txt" "$PY" -u "$HERE/bt_bench.py" axon >"$OUT/axon.out" 2>"$OUT/axon.err" &
    local axon=$!
    STARTED+=("$axon")
    local ready port
    ready=$(wait_ready "$OUT/axon.out" "$axon")
    port=$(echo "$ready" | cut -d' ' -f2)
    [[ $STRACE == 1 ]] && axon=$(pgrep -P "$axon" -n python || echo "$axon") && STARTED+=("$axon")
    ss -tlnpH "sport = :$port" | tee "$OUT/axon-listen.txt" >&2
    if ! grep -q "127.0.0.1:$port" "$OUT/axon-listen.txt"; then
        echo "the Axon does not listen on 127.0.0.1:$port" >&2
        exit 1
    fi
    traced "$OUT/strace-dendrite.txt" "$PY" -u "$HERE/bt_bench.py" dendrite --port "$port" --axon-pid "$axon" \
        --sequential "$BT_SEQUENTIAL" --concurrent "$BT_CONCURRENT" --in-flight "$IN_FLIGHT" \
        --dendrites "$BT_DENDRITES" >"$OUT/dendrite.out" 2>"$OUT/dendrite.err" &
    local dendrite=$!
    STARTED+=("$dendrite")
    sample_sockets "$dendrite" "$axon" "$OUT/ss-bittensor.txt" &
    wait "$dendrite" || { tail -20 "$OUT/dendrite.err" >&2; exit 1; }
    stop "$axon"
    cat "$OUT/dendrite.out" "$OUT/axon.out" | grep '^{' >>"$results"
    echo "{\"loadavg\": {\"stack\": \"bittensor\", \"at\": \"end\", \"value\": \"$(loadavg)\"}}" >>"$results"

    echo "== ours: synapse16 serve / query" >&2
    echo "{\"loadavg\": {\"stack\": \"ours\", \"at\": \"start\", \"value\": \"$(loadavg)\"}}" >>"$results"
    "${NICE_CMD[@]}" "$OURS" serve >"$OUT/ours-server.out" 2>"$OUT/ours-server.err" &
    local server=$!
    STARTED+=("$server")
    ready=$(wait_ready "$OUT/ours-server.out" "$server")
    local addr fingerprint
    addr=$(echo "$ready" | cut -d' ' -f2)
    fingerprint=$(echo "$ready" | cut -d' ' -f3)
    "${NICE_CMD[@]}" "$OURS" query --addr "$addr" --fingerprint "$fingerprint" --server-pid "$server" \
        --sequential "$SEQUENTIAL" --concurrent "$CONCURRENT" --in-flight "$IN_FLIGHT" \
        >"$OUT/ours-client.out" 2>"$OUT/ours-client.err" &
    local client=$!
    STARTED+=("$client")
    sample_sockets "$client" "$server" "$OUT/ss-ours.txt" &
    wait "$client" || { tail -20 "$OUT/ours-client.err" >&2; exit 1; }
    stop "$server"
    grep '^{' "$OUT/ours-client.out" >>"$results"
    echo "{\"loadavg\": {\"stack\": \"ours\", \"at\": \"end\", \"value\": \"$(loadavg)\"}}" >>"$results"
    wait # the socket samplers

    python3 "$HERE/report.py" "$results"
    echo
    check_sockets "$OUT/ss-bittensor.txt" "Bittensor"
    check_sockets "$OUT/ss-ours.txt" "ours"
    if [[ $STRACE == 1 ]]; then
        local outside
        outside=$(grep -h 'connect(' "$OUT"/strace-*.txt | grep -E 'sin6?_addr' | grep -vE 'inet_addr\("127\.|inet_pton\(AF_INET6, "::1"|"::ffff:127\.' || true)
        echo "strace: $(cat "$OUT"/strace-*.txt | grep -c 'connect(') connect() calls by the Python processes; outside loopback: ${outside:-none}"
    fi
    echo "network namespace: ${BENCH_NETNS_NOTE:-none, the host network}; priority: ${NICE_CMD[*]:-default}"
    echo "results and logs: $OUT"
}

if [[ ${1:-} == --inner ]]; then
    measure
    exit 0
fi

prepare
if [[ ${NETNS:-auto} != 0 ]] && unshare -n true 2>/dev/null; then
    export BENCH_NETNS_NOTE="fresh (unshare -n), only lo up: no route off the machine"
    exec unshare -n "$0" --inner
fi
measure
