#!/usr/bin/env python3
"""Prints the table of bench/bittensor/run.sh from its results.jsonl (standard library only)."""

import json
import sys


def main(path):
    runs, guards, load = [], [], {}
    with open(path) as f:
        for line in f:
            row = json.loads(line)
            if "guard" in row:
                guards.append(row["guard"])
            elif "loadavg" in row:
                la = row["loadavg"]
                load.setdefault(la["stack"], {})[la["at"]] = la["value"]
            else:
                runs.append(row)

    print()
    print(
        "| stack | mode | in flight | requests | errors | req/s | p50 ms | p99 ms "
        "| client CPU µs/req | server CPU µs/req | total CPU µs/req |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    by = {}
    for r in runs:
        attempted = r["requests"] + r["errors"]
        rate = r["requests"] / r["wall_s"] if r["wall_s"] > 0 else 0.0
        client = r["client_cpu_s"] / attempted * 1e6
        server = r["server_cpu_s"] / attempted * 1e6
        by[(r["stack"], r["mode"])] = dict(r, rate=rate, cpu=client + server)
        name = "Bittensor 10.5.0 Axon/Dendrite" if r["stack"] == "bittensor" else "ours (QUIC, signed)"
        print(
            f"| {name} | {r['mode']} | {r['in_flight']} | {r['requests']} | {r['errors']} "
            f"| {rate:,.0f} | {r['p50_us'] / 1e3:.3f} | {r['p99_us'] / 1e3:.3f} "
            f"| {client:,.0f} | {server:,.0f} | {client + server:,.0f} |"
        )
    print()
    for stack in ("bittensor", "ours"):
        if stack in load:
            span = load[stack]
            print(
                f"load average (1/5/15 min) during {stack}: "
                f"{span.get('start', '?')} at start, {span.get('end', '?')} at end"
            )
    errors = [r for r in runs if r["errors"]]
    for r in errors:
        kinds = ", ".join(r.get("error_kinds", [])) or "see the logs"
        print(f"{r['stack']} {r['mode']}: {r['errors']} failed calls ({kinds}), not in req/s or latency")
    for g in guards:
        refused = len(g["blocked_connects"]) + len(g["blocked_lookups"]) + len(g["blocked_popen"])
        print(
            f"loopback guard, {g['role']}: public-IP lookups stubbed {g['external_ip_lookups']}x, "
            f"non-loopback connects/lookups/popen refused: {refused}"
            + (f" {g['blocked_connects'] + g['blocked_lookups'] + g['blocked_popen']}" if refused else "")
        )

    print()
    try:
        bt_c, our_c = by[("bittensor", "concurrent")], by[("ours", "concurrent")]
        bt_s, our_s = by[("bittensor", "sequential")], by[("ours", "sequential")]
    except KeyError:
        print("missing runs: no ratios")
        return 1
    ratio = our_c["rate"] / bt_c["rate"]
    print(
        f"ours / Bittensor, req/s with {our_c['in_flight']} in flight: {ratio:,.1f}x "
        f"(target >= 40x: {'met' if ratio >= 40 else 'NOT met'})"
    )
    print(f"ours / Bittensor, req/s sequential: {our_s['rate'] / bt_s['rate']:,.1f}x")
    print(
        f"Bittensor / ours, CPU per request: {bt_s['cpu'] / our_s['cpu']:,.1f}x sequential, "
        f"{bt_c['cpu'] / our_c['cpu']:,.1f}x with {our_c['in_flight']} in flight"
    )
    p99 = our_s["p99_us"] / 1e3
    print(f"ours, p99 sequential latency: {p99:.3f} ms (target < 1 ms: {'met' if p99 < 1 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
