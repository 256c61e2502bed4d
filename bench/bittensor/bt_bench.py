#!/usr/bin/env python3
"""Bittensor 10.5.0 Axon (miner side) and Dendrite (validator side) on 127.0.0.1.

Two modes, run as two processes by bench/bittensor/run.sh:

    bt_bench.py axon                       # prints "READY <port> <hotkey ss58>", serves until SIGTERM
    bt_bench.py dendrite --port P --axon-pid PID [--sequential N] [--concurrent N] [--in-flight K]

The synapse carries 16 floats in (`x`, covered by the signed body hash) and 16 floats out (`y`).
Request signing and the Axon's default verification (signature, nonce, body hash) stay on. The
Axon admits only the Dendrite's hotkey through a blacklist function and prioritises through a
priority function, as miners built on the SDK do; there is no chain, subtensor or metagraph.

Nothing may leave loopback. Before bittensor is imported this module:
- replaces `bittensor.utils.networking.get_external_ip` (which asks checkip.amazonaws.com,
  ifconfig.me, ipinfo.io, ... whenever an Axon or a Dendrite is created) by a stub returning
  127.0.0.1, and counts its calls;
- guards `socket.socket.connect`/`connect_ex` and `socket.getaddrinfo`: a connection to, or a
  name lookup of, anything outside 127.0.0.0/8 and ::1 raises and is counted; `os.popen` (the
  IP lookup's `curl` fallback) raises and is counted.
The Axon is rebuilt to bind 127.0.0.1 (the SDK hard-codes uvicorn's host to 0.0.0.0), and the
Dendrite addresses the Axon by its IP (the SDK rewrites "my own external IP" to 0.0.0.0).
Each process prints a `{"guard": ...}` JSON line with those counters when it ends.
"""

import argparse
import asyncio
import ipaddress
import json
import os
import signal
import socket
import sys
import tempfile
import time
from typing import ClassVar, List, Optional, Tuple

# --- loopback guard, installed before anything imports bittensor -------------------------------

GUARD = {
    "external_ip_lookups": 0,
    "blocked_connects": [],
    "blocked_lookups": [],
    "blocked_popen": [],
}


def _is_loopback(host) -> bool:
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _check_address(sock, address):
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
        GUARD["blocked_connects"].append(str(address))
        raise OSError(101, f"loopback-only benchmark: refused connect to {address}")


def _guarded_connect(self, address):
    _check_address(self, address)
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    _check_address(self, address)
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if host is not None and not _is_loopback(host):
        GUARD["blocked_lookups"].append(str(host))
        raise socket.gaierror(socket.EAI_NONAME, f"loopback-only benchmark: no lookup of {host}")
    return _real_getaddrinfo(host, *args, **kwargs)


def _guarded_popen(cmd, *args, **kwargs):
    GUARD["blocked_popen"].append(str(cmd))
    raise OSError(f"loopback-only benchmark: refused to run {cmd!r}")


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex
socket.getaddrinfo = _guarded_getaddrinfo
os.popen = _guarded_popen

import bittensor as bt  # noqa: E402  (after the guard on purpose)
import uvicorn  # noqa: E402
from bittensor.core import axon as bt_axon  # noqa: E402
from bittensor.core.settings import version_as_int  # noqa: E402
from bittensor.utils import networking  # noqa: E402
from bittensor_wallet import Keypair, Wallet  # noqa: E402
from pydantic import Field  # noqa: E402


def _no_external_ip() -> str:
    GUARD["external_ip_lookups"] += 1
    return "127.0.0.1"


networking.get_external_ip = _no_external_ip


def _endpoint_url(self, target_axon, request_name):
    return f"http://{target_axon.ip}:{target_axon.port}/{request_name}"


bt.Dendrite._get_endpoint_url = _endpoint_url

# --- the synapse --------------------------------------------------------------------------------

AXON_URI = "//BenchAxon"
DENDRITE_URI = "//BenchDendrite"
WIDTH = 16


class Synapse16(bt.Synapse):
    """16 floats in, 16 floats out."""

    x: List[float] = Field(default_factory=list)
    y: Optional[List[float]] = None
    required_hash_fields: ClassVar[Tuple[str, ...]] = ("x",)

    def deserialize(self) -> "Synapse16":
        return self


def expected(x):
    return [2.0 * v + 1.0 for v in x]


def cpu_seconds(pid="self") -> float:
    """User + system CPU seconds of a process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def print_guard(role: str):
    print(json.dumps({"guard": {"role": role, **GUARD}}), flush=True)


# --- miner side ----------------------------------------------------------------------------------


def run_axon():
    keys = tempfile.mkdtemp(prefix="bt-bench-wallet-")
    wallet = Wallet(name="axon", hotkey="default", path=keys)
    wallet.create_hotkey_from_uri(AXON_URI, use_password=False, overwrite=True, suppress=True)
    wallet.create_coldkey_from_uri(
        AXON_URI + "Cold", use_password=False, overwrite=True, suppress=True
    )
    allowed = Keypair.create_from_uri(DENDRITE_URI).ss58_address

    def forward(synapse: Synapse16) -> Synapse16:
        if len(synapse.x) != WIDTH:
            raise ValueError(f"expected {WIDTH} floats")
        synapse.y = expected(synapse.x)
        return synapse

    def blacklist(synapse: Synapse16) -> Tuple[bool, str]:
        if synapse.dendrite is None or synapse.dendrite.hotkey != allowed:
            return True, "unknown hotkey"
        # Runs on the headers alone, before the body is read: the width is checked in forward.
        return False, "allowed"

    def priority(synapse: Synapse16) -> float:
        return 1.0

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    axon = bt.Axon(
        wallet=wallet, ip="127.0.0.1", port=port, external_ip="127.0.0.1", external_port=port
    )
    # The SDK passes host="0.0.0.0" to uvicorn whatever `ip` says: rebuild the server on loopback,
    # with the SDK's other settings.
    axon.fast_config = uvicorn.Config(
        axon.app, host="127.0.0.1", port=port, log_level="critical", loop="none"
    )
    axon.fast_server = bt_axon.FastAPIThreadedServer(config=axon.fast_config)
    axon.attach(forward_fn=forward, blacklist_fn=blacklist, priority_fn=priority)
    axon.start()
    for _ in range(200):
        if axon.fast_server.started:
            break
        time.sleep(0.05)
    print(f"READY {port} {wallet.hotkey.ss58_address}", flush=True)

    def stop(*_):
        # The counters first: the process ends here whether or not uvicorn's thread stops.
        print_guard("axon")
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        time.sleep(3600)


# --- validator side -----------------------------------------------------------------------------


async def measure(dendrites, info, mode, requests, in_flight, axon_pid):
    in_flight = max(1, min(in_flight, requests))
    latencies, errors = [], []

    async def worker(w):
        dendrite = dendrites[w % len(dendrites)]
        share = requests // in_flight + (1 if w < requests % in_flight else 0)
        for i in range(share):
            seed = w * 1_000_003 + i
            x = [((seed + j) % 1000) * 0.5 for j in range(WIDTH)]
            t = time.perf_counter()
            r = await dendrite.call(
                target_axon=info, synapse=Synapse16(x=x), timeout=12.0, deserialize=False
            )
            elapsed = time.perf_counter() - t
            if r.dendrite.status_code == 200 and r.y == expected(x):
                latencies.append(elapsed)
            else:
                errors.append(f"{r.dendrite.status_code} {r.dendrite.status_message}")

    client0, server0 = cpu_seconds(), cpu_seconds(axon_pid)
    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(in_flight)))
    wall = time.perf_counter() - start
    client1, server1 = cpu_seconds(), cpu_seconds(axon_pid)
    latencies.sort()

    def pct(p):
        return latencies[round((len(latencies) - 1) * p)] * 1e6 if latencies else 0.0

    if errors:
        print(f"bittensor {mode}: {len(errors)} errors, first: {errors[0]}", file=sys.stderr)
    return {
        "stack": "bittensor",
        "mode": mode,
        "in_flight": in_flight,
        "dendrites": len(dendrites),
        "requests": len(latencies),
        "errors": len(errors),
        "error_kinds": sorted({e.split(" ")[0] for e in errors}),
        "wall_s": wall,
        "p50_us": pct(0.50),
        "p99_us": pct(0.99),
        "client_cpu_s": client1 - client0,
        "server_cpu_s": server1 - server0,
    }


async def run_dendrite(args):
    keypair = Keypair.create_from_uri(DENDRITE_URI)
    info = bt.AxonInfo(
        version=version_as_int,
        ip="127.0.0.1",
        port=args.port,
        ip_type=4,
        hotkey=Keypair.create_from_uri(AXON_URI).ss58_address,
        coldkey=Keypair.create_from_uri(AXON_URI + "Cold").ss58_address,
    )
    one = [bt.Dendrite(wallet=keypair)]
    # The Axon keeps one nonce per (hotkey, dendrite uuid) and refuses a nonce below the last
    # one seen; concurrent calls from one Dendrite can arrive out of order and be refused.
    # `--dendrites K` spreads the in-flight calls over K Dendrites (same hotkey) to avoid that.
    many = one + [bt.Dendrite(wallet=keypair) for _ in range(max(0, args.dendrites - 1))]
    warm = await measure(many, info, "warm-up", args.warmup, 8, args.axon_pid)
    if warm["requests"] == 0:
        sys.exit("bittensor warm-up: every call failed")
    runs = [
        await measure(one, info, "sequential", args.sequential, 1, args.axon_pid),
        await measure(many, info, "concurrent", args.concurrent, args.in_flight, args.axon_pid),
    ]
    for d in many:
        await d.aclose_session()
    for run in runs:
        print(json.dumps(run), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["axon", "dendrite"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--axon-pid", type=int)
    parser.add_argument("--sequential", type=int, default=2000)
    parser.add_argument("--concurrent", type=int, default=10000)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--dendrites", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()
    if args.mode == "axon":
        run_axon()
    else:
        if args.port is None or args.axon_pid is None:
            parser.error("dendrite needs --port and --axon-pid")
        asyncio.run(run_dendrite(args))
        print_guard("dendrite")


if __name__ == "__main__":
    main()
