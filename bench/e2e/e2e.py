#!/usr/bin/env python3
"""End-to-end benchmark of `subnet localnet up` (standard library only; run by bench/e2e/run.sh).

    e2e.py --subnet BIN/subnet --bin-dir BIN --data-dir DIR [--window 60] [--block-time 1s]

1. Starts `subnet localnet up` (node, subnet creation, three miners, two validators) and times,
   from that moment: the node's first block, `localnet ready` (every process up), the first
   epoch that distributed emissions, and the first epoch that paid the miners' AINFTs (the
   validators' weights reached the chain and Yuma Consensus turned them into incentive).
2. Steady state, over `--window` seconds after that: blocks/s (JSON-RPC `chain_info`), task
   queries/s across the subnet (the validators' `validator_queries_total`, by result, and the
   miners' `miner_requests_total`), and per process CPU (user + system, /proc/PID/stat, as a
   share of one core) and resident memory (VmRSS and VmHWM, /proc/PID/status).
3. Stops the local subnet with SIGTERM and prints the tables (and `--json FILE`).

Everything listens on 127.0.0.1 (localnet's own configuration); this script only talks to those
addresses.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")


def rpc(url, method, params=None, timeout=5):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer = json.load(response)
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def number(value):
    """Rao and block numbers may be serialised as numbers or strings."""
    if isinstance(value, dict) and len(value) == 1:
        value = next(iter(value.values()))
    return int(str(value))


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def memory_kib(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(rest.split()[0])
    except OSError:
        pass
    return out


def metrics(addr):
    """Prometheus text from http://ADDR/metrics as {(name, labels): value}."""
    try:
        with urllib.request.urlopen(f"http://{addr}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if m:
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def sum_metric(sample, name):
    by_label = {}
    for (n, labels), v in sample.items():
        if n == name:
            by_label[labels] = by_label.get(labels, 0.0) + v
    return by_label


def field(line, key):
    for kv in (line or "").split():
        if kv.startswith(key + "="):
            return kv[len(key) + 1 :]
    return None


def load_state(data_dir):
    try:
        with open(os.path.join(data_dir, "localnet.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subnet", required=True)
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--block-time")
    parser.add_argument("--startup-timeout", type=float, default=900.0)
    parser.add_argument("--json")
    args = parser.parse_args()

    command = [args.subnet, "localnet", "up", "--data-dir", args.data_dir, "--bin-dir", args.bin_dir]
    if args.block_time:
        command += ["--block-time", args.block_time]
    log_path = os.path.join(os.path.dirname(os.path.abspath(args.data_dir)), "localnet-up.log")
    log = open(log_path, "w")
    load_start = open("/proc/loadavg").read().split()[:3]
    t0 = time.monotonic()
    up = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    marks = {}

    def mark(name):
        if name not in marks:
            marks[name] = time.monotonic() - t0
            print(f"  {marks[name]:7.2f} s  {name}", file=sys.stderr, flush=True)

    def stop_up():
        if up.poll() is None:
            up.send_signal(signal.SIGTERM)
            try:
                up.wait(timeout=90)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait()

    try:
        url = None
        state = None
        # 1. Start-up milestones, polled every 50 ms.
        while "first miner emission" not in marks:
            if up.poll() is not None:
                raise SystemExit(f"localnet up exited ({up.returncode}); see {log_path}")
            if time.monotonic() - t0 > args.startup_timeout:
                raise SystemExit(f"no miner emission after {args.startup_timeout} s; see {log_path}")
            state = load_state(args.data_dir) or state
            if url is None and state and state.get("rpc"):
                url = state["rpc"]
                if not url.startswith("http"):
                    url = "http://" + url
            if url:
                try:
                    info = rpc(url, "chain_info", timeout=2)
                    if number(info["height"]) >= 1:
                        mark("first block")
                    emissions = rpc(url, "emissions", timeout=2)
                    epochs = emissions.get("epochs") or []
                    if any(number(e["emitted"]) > 0 for e in epochs):
                        mark("first epoch emission")
                    if any(number(e["miners"]) > 0 for e in epochs):
                        mark("first miner emission")
                except (OSError, RuntimeError, KeyError, ValueError):
                    pass
            with open(log_path) as f:
                if "localnet ready" in f.read():
                    mark("localnet ready")
            time.sleep(0.05)
        mark("localnet ready")  # in case the line came after the first miner emission

        # 2. Steady state over the window.
        state = load_state(args.data_dir)
        procs = [(p["name"], p["pid"], p.get("ready")) for p in state["processes"]]
        procs.append(("subnet localnet up", up.pid, None))
        addr_of = {name: field(ready, "metrics") for name, _, ready in procs}

        def snapshot():
            return {
                "t": time.monotonic(),
                "height": number(rpc(url, "chain_info")["height"]),
                "cpu": {name: cpu_seconds(pid) for name, pid, _ in procs},
                "metrics": {n: metrics(a) for n, a in addr_of.items() if a},
            }

        load_window_start = open("/proc/loadavg").read().split()[:3]
        first = snapshot()
        time.sleep(args.window)
        last = snapshot()
        memory = {name: memory_kib(pid) for name, pid, _ in procs}
        load_window_end = open("/proc/loadavg").read().split()[:3]
        emissions = rpc(url, "emissions")
    finally:
        stop_up()
        log.close()

    span = last["t"] - first["t"]
    blocks = last["height"] - first["height"]
    results = {
        "milestones_s": marks,
        "window_s": span,
        "blocks": blocks,
        "blocks_per_s": blocks / span,
        "loadavg": {
            "at_start": load_start,
            "window_start": load_window_start,
            "window_end": load_window_end,
        },
        "processes": [],
        "queries": {},
        "epochs": len(emissions.get("epochs") or []),
        "total_emitted": number(emissions["total_emitted"]),
        "total_credited": number(emissions["total_credited"]),
    }
    for kind, metric in (
        ("validator queries", "validator_queries_total"),
        ("miner requests", "miner_requests_total"),
    ):
        by_label = {}
        for name in last["metrics"]:
            before = sum_metric(first["metrics"].get(name, {}), metric)
            for labels, v in sum_metric(last["metrics"][name], metric).items():
                by_label[labels] = by_label.get(labels, 0.0) + v - before.get(labels, 0.0)
        results["queries"][kind] = {k or "{}": v / span for k, v in sorted(by_label.items())}
    for name, pid, _ in procs:
        c0, c1 = first["cpu"].get(name), last["cpu"].get(name)
        cpu = (c1 - c0) / span if c0 is not None and c1 is not None else None
        results["processes"].append(
            {
                "name": name,
                "pid": pid,
                "cpu_cores": cpu,
                "rss_mib": memory[name].get("VmRSS", 0) / 1024,
                "peak_rss_mib": memory[name].get("VmHWM", 0) / 1024,
            }
        )

    print()
    print("| from `localnet up` to | seconds |")
    print("|---|---:|")
    for name, t in marks.items():
        print(f"| {name} | {t:.2f} |")
    print()
    print(f"steady state over {span:.0f} s: {blocks} blocks, {blocks / span:.2f} blocks/s")
    for kind, rates in results["queries"].items():
        total = sum(rates.values())
        detail = ", ".join(f"{k} {v:.1f}/s" for k, v in rates.items())
        print(f"{kind}: {total:.1f}/s across the subnet ({detail or 'none'})")
    print()
    print("| process | CPU (share of one core) | RSS MiB | peak RSS MiB |")
    print("|---|---:|---:|---:|")
    for p in results["processes"]:
        cpu = "exited" if p["cpu_cores"] is None else f"{p['cpu_cores'] * 100:.1f} %"
        print(f"| {p['name']} | {cpu} | {p['rss_mib']:.1f} | {p['peak_rss_mib']:.1f} |")
    print()
    print(
        f"load average (1/5/15 min): {' '.join(load_start)} at start, "
        f"{' '.join(load_window_start)} -> {' '.join(load_window_end)} over the window"
    )
    print(
        f"emissions so far: {results['epochs']} epochs, emitted {results['total_emitted']}, "
        f"credited {results['total_credited']} (rao)"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
