#!/usr/bin/env python3
"""A straightforward numpy (float64, dense) Yuma Consensus epoch: the baseline the Rust
fixed-point implementation is measured against (issue #3).

It follows ../../../shared/YUMA_SPEC.md step by step with floats, the way a simulation would
(bactensor-style): no fixed point, dense n x n matrices, vectorised numpy. It is checked against
the worked cases in scoring/tests/fixtures/yuma (floats within 1e-6) before it is timed, so the
comparison is between two implementations of the same epoch.

    python3 bench/yuma/yuma_numpy.py --check scoring/tests/fixtures/yuma
    python3 bench/yuma/yuma_numpy.py --time 256:64 1024:128 4096:256 --json
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

U16 = 65535.0


def normalise(v):
    s = v.sum()
    return v / s if s != 0 else v


def col_normalise(m):
    s = m.sum(axis=0)
    out = m.copy()
    nz = s != 0
    out[:, nz] = m[:, nz] / s[nz]
    return out


def row_normalise(m):
    s = m.sum(axis=1)
    out = m.copy()
    nz = s != 0
    out[nz, :] = m[nz, :] / s[nz, None]
    return out


def weighted_median_col(stake, w, kappa):
    """C_j = max{x : stake-mass{W_ij >= x} >= kappa} over validators with stake > 0."""
    idx = np.nonzero(stake > 0)[0]
    n = w.shape[1]
    if idx.size == 0:
        return np.zeros(n)
    s = normalise(stake[idx])
    sub = w[idx, :]
    order = np.argsort(-sub, axis=0, kind="stable")  # descending per column
    sorted_w = np.take_along_axis(sub, order, axis=0)
    mass = np.cumsum(s[order], axis=0)
    # first position where cumulative mass of values >= x reaches kappa
    reach = mass >= kappa - 1e-12
    first = np.where(reach.any(axis=0), reach.argmax(axis=0), sub.shape[0] - 1)
    return sorted_w[first, np.arange(n)]


def epoch(p, inp):
    w = np.asarray(inp["weights"], dtype=np.float64)
    n = w.shape[0]
    stake = np.asarray(inp["stake"], dtype=np.float64)
    active = np.asarray(inp["active"], dtype=bool)
    permit_prev = np.asarray(inp["validator_permits_prev"], dtype=bool)
    b_prev = np.asarray(inp["bonds_prev"], dtype=np.float64).reshape(n, n)
    owner = p.get("owner_uid")
    kappa = p["kappa"] / U16

    s = stake.copy()
    thr = p["stake_threshold"]
    low = np.floor(stake) < thr
    if owner is not None:
        low[owner] = False
    s[low] = 0.0
    S = normalise(s)

    k = p["max_allowed_validators"]
    permit_new = S != 0
    if n >= k:
        order = np.argsort(S, kind="stable")
        permit_new[order[: n - k]] = False
    permit = permit_prev.copy()
    if owner is not None:
        permit_new[owner] = True
        permit[owner] = True

    s_act = np.where(active & permit, S, 0.0)
    s_act = normalise(s_act)

    w = np.where(permit[:, None], w, 0.0)
    diag = np.arange(n)
    keep = diag == owner if owner is not None else np.zeros(n, dtype=bool)
    w[diag[~keep], diag[~keep]] = 0.0
    if "last_update" in inp and "block_at_registration" in inp:
        lu = np.asarray(inp["last_update"])
        reg = np.asarray(inp["block_at_registration"])
        w[lu[:, None] <= reg[None, :]] = 0.0
    w = row_normalise(w)

    c = weighted_median_col(s_act, w, kappa)
    wc = np.minimum(w, c[None, :])
    vtrust = wc.sum(axis=1)
    ranks = s_act @ wc
    incentive = normalise(ranks)
    beta = p["bonds_penalty"] / U16
    wb = w + beta * (wc - w)

    reset = np.asarray(inp.get("bonds_reset_cols", [False] * n), dtype=bool)
    alpha = 1.0 - p["bonds_moving_avg"] / 1e6
    if not p["yuma3_enabled"]:
        b = col_normalise(np.where(reset[None, :], 0.0, b_prev))
        delta = col_normalise(s_act[:, None] * wb)
        e = col_normalise(alpha * delta + (1 - alpha) * b)
        dividends = normalise(e @ incentive)
        stored = e / np.where(e.max(axis=0) > 0, e.max(axis=0), 1.0)[None, :]
    else:
        b = np.where(reset[None, :], 0.0, b_prev / U16)
        if p["liquid_alpha_enabled"] and (c != 0).any():
            lo, hi = p["alpha_low"] / U16, p["alpha_high"] / U16
            buy = np.clip(wb - c[None, :], 0, 1)
            sell = np.clip(b - wb, 0, 1)
            x = np.where(wb >= b, buy, sell)
            sig = 1.0 / (1.0 + np.exp(-(p["alpha_sigmoid_steepness"] / 100.0) * (x - 0.5)))
            a = np.clip(lo + sig * (hi - lo), lo, hi)
            e = np.minimum((1 - a) * b + np.maximum(a * wb, 0), 1.0)
        else:
            e = alpha * wb + (1 - alpha) * b
        en = col_normalise(e)
        dividends = normalise((en @ incentive) * s_act)
        stored = e
    bonds = np.where(permit_new[:, None], stored, np.where(permit[:, None], 0.0, b_prev / U16))

    tot = (incentive + dividends).sum()
    fallback = None
    if tot != 0:
        inc_share, div_share = incentive / tot, dividends / tot
        comb = normalise(incentive + dividends)
    else:
        inc_share = np.zeros(n)
        fallback = "active_stake" if s_act.sum() != 0 else "stake"
        div_share = comb = s_act if s_act.sum() != 0 else S
    return {
        "stake": S, "active_stake": s_act, "consensus": c, "validator_trust": vtrust,
        "incentive": incentive, "dividends": dividends,
        "emission_incentive_share": inc_share, "emission_dividend_share": div_share,
        "emission_combined_share": comb, "validator_permits": permit_new,
        "emission_fallback": fallback, "bonds": bonds,
    }


def check(fixtures):
    worst = 0.0
    for path in sorted(Path(fixtures).glob("*.json")):
        case = json.loads(path.read_text())
        for i, step in enumerate(case["steps"]):
            out = epoch(case["params"], step["inputs"])
            for key in ["stake", "active_stake", "consensus", "validator_trust", "incentive",
                        "dividends", "emission_incentive_share", "emission_dividend_share",
                        "emission_combined_share"]:
                want = np.asarray(step["expected"][key], dtype=np.float64)
                err = float(np.max(np.abs(out[key] - want))) if want.size else 0.0
                worst = max(worst, err)
                if err > 1e-6:
                    print(f"{path.name} step {i} {key}: max error {err:.3g}", file=sys.stderr)
                    return False
            bonds_err = float(np.max(np.abs(out["bonds"] - np.asarray(step["expected"]["bonds"]))))
            if bonds_err > 1e-4:
                print(f"{path.name} step {i} bonds: max error {bonds_err:.3g}", file=sys.stderr)
                return False
            if out["emission_fallback"] != step["expected"]["emission_fallback"]:
                print(f"{path.name} step {i}: fallback differs", file=sys.stderr)
                return False
            if list(map(bool, out["validator_permits"])) != step["expected"]["validator_permits"]:
                print(f"{path.name} step {i}: permits differ", file=sys.stderr)
                return False
    print(f"numpy reference matches every fixture (worst float error {worst:.2e})")
    return True


def random_inputs(n, validators, rng):
    """Validators (the top-staked UIDs) weight ~90% of miners; miners set no weights."""
    w = np.zeros((n, n))
    vals = rng.integers(0, 65536, size=(validators, n)).astype(np.float64)
    vals[rng.random((validators, n)) < 0.1] = 0.0
    w[:validators, :] = vals
    stake = np.zeros(n)
    stake[:validators] = rng.integers(1_000, 1_000_000_000_000, size=validators)
    bonds = np.zeros((n, n))
    bonds[:validators, :] = rng.integers(0, 65536, size=(validators, n))
    params = {"kappa": 32767, "bonds_moving_avg": 900_000, "bonds_penalty": 65535,
              "max_allowed_validators": validators, "liquid_alpha_enabled": False,
              "alpha_low": 45875, "alpha_high": 58982, "alpha_sigmoid_steepness": 1000,
              "yuma3_enabled": True, "stake_threshold": 0, "rao_emission": 10**9,
              "owner_uid": None}
    inputs = {"weights": w, "stake": stake, "bonds_prev": bonds, "active": [True] * n,
              "validator_permits_prev": [i < validators for i in range(n)]}
    return params, inputs


def time_epoch(n, validators, min_seconds=1.0, min_runs=5):
    """Seconds per epoch over repeated runs (after one warm-up): (best, median, mean, runs)."""
    rng = np.random.default_rng(42)
    params, inputs = random_inputs(n, validators, rng)
    epoch(params, inputs)  # warm up
    times = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        epoch(params, inputs)
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start >= min_seconds and len(times) >= min_runs:
            break
    times.sort()
    return times[0], times[len(times) // 2], sum(times) / len(times), len(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", help="fixtures directory to verify against")
    ap.add_argument("--time", nargs="*", default=[], help="n:validators sizes to time")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--min-seconds", type=float, default=1.0,
                    help="time each size for at least this long (and at least 5 runs)")
    args = ap.parse_args()
    if args.check and not check(args.check):
        return 1
    results = []
    for size in args.time:
        n, v = (int(x) for x in size.split(":"))
        best, median, mean, runs = time_epoch(n, v, args.min_seconds)
        results.append({"n": n, "validators": v, "seconds": mean, "best_seconds": best,
                        "median_seconds": median, "runs": runs})
    if args.json:
        threads = {k: os.environ.get(k) for k in
                   ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        print(json.dumps({"numpy": np.__version__, "threads_env": threads, "results": results}))
    else:
        for r in results:
            print(f"n={r['n']:5} validators={r['validators']:4} best {r['best_seconds'] * 1e3:9.3f}"
                  f" ms, median {r['median_seconds'] * 1e3:9.3f} ms ({r['runs']} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
