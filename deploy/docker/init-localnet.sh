#!/bin/sh
# One-shot set-up of the docker-compose local subnet, run by its `init` service:
#   1. waits for the node to answer,
#   2. creates subnet 1 from subnet.toml (owner: $SUBNET_OWNER), unless it exists,
#   3. registers each validator hotkey and stakes on it, unless it is registered already.
# Miners register themselves when they start (burned registration with their AINFT).
# Safe to run again: every step is skipped when the chain already shows its result.
#
# Environment (defaults are the development keys of `subnet-node --dev`: public knowledge,
# local subnets only):
#   SUBNET_CHAIN            node URL                        http://node:9944
#   SUBNET_CONFIG           subnet.toml                     /etc/subnet/subnet.toml
#   SUBNET_OWNER            owner coldkey                   dev:alice
#   SUBNET_VALIDATORS       HOTKEY=COLDKEY pairs            dev:validator-1=dev:bob dev:validator-2=dev:charlie
#   SUBNET_VALIDATOR_STAKE  tokens staked on each validator 10000
set -eu

CHAIN="${SUBNET_CHAIN:-http://node:9944}"
CONFIG="${SUBNET_CONFIG:-/etc/subnet/subnet.toml}"
OWNER="${SUBNET_OWNER:-dev:alice}"
VALIDATORS="${SUBNET_VALIDATORS:-dev:validator-1=dev:bob dev:validator-2=dev:charlie}"
STAKE="${SUBNET_VALIDATOR_STAKE:-10000}"
# A fresh dev chain gives the first subnet netuid 1 (the lowest free netuid).
NETUID=1

cli() { subnet --chain "$CHAIN" "$@"; }

tries=0
until cli subnet list >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then
        echo "init: the node at $CHAIN did not answer within 60 s" >&2
        exit 1
    fi
    sleep 1
done

if out=$(cli subnet hyperparams --netuid "$NETUID" 2>&1); then
    echo "init: subnet $NETUID exists"
else
    case "$out" in
        *"not found"*) cli subnet create --config "$CONFIG" --coldkey "$OWNER" ;;
        *) echo "init: $out" >&2; exit 1 ;;
    esac
fi

for pair in $VALIDATORS; do
    hotkey=${pair%%=*}
    coldkey=${pair#*=}
    if out=$(cli register --netuid "$NETUID" --hotkey "$hotkey" --coldkey "$coldkey" 2>&1); then
        echo "$out"
        cli stake add --hotkey "$hotkey" --amount "$STAKE" --coldkey "$coldkey"
    else
        case "$out" in
            *"already registered"*) echo "init: $hotkey is registered already" ;;
            *) echo "init: $out" >&2; exit 1 ;;
        esac
    fi
done
echo "init: done"
