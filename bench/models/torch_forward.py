#!/usr/bin/env python3
"""The miner's model in PyTorch and numpy on CPU: checked against burn, then timed.

Loads a reference bundle written by the Rust example `export_reference` (weights and burn's
log-probabilities on fixed inputs), builds the same architecture in PyTorch (the operations of
reference.py, with torch's exact erf GELU), checks every case against burn within --tolerance,
and then times one forward pass of a batch of --batch sequences of --seq bytes (the miner's
batch of 64 requests of a 64-byte context) in PyTorch and in numpy, float32, with --threads
intra-op threads (1 by default, as the miner's one inference thread). Prints a table.

    bench/models/run.sh     # builds the bundle, runs this and the miner's inference timing
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference  # noqa: E402  (the numpy forward pass and the bundle reader)


def torch_forward(torch, w, config, tokens):
    """Next-byte log-probabilities [batch, seq, 256] for integer tokens [batch, seq]."""
    batch, seq = tokens.shape
    d_model, heads = config["d_model"], config["n_heads"]
    head_dim = d_model // heads
    future = torch.triu(torch.ones(seq, seq, dtype=torch.bool), diagonal=1)
    norm = torch.nn.functional.layer_norm

    def linear(x, name):
        return torch.addmm(w[name + ".bias"], x.reshape(-1, x.shape[-1]), w[name + ".weight"]).reshape(
            *x.shape[:-1], -1
        )

    def ln(x, name):
        return norm(x, (d_model,), w[name + ".gamma"], w[name + ".beta"], reference.LAYER_NORM_EPS)

    x = w["token_embedding"][tokens] + w["position_embedding"][:seq]
    for i in range(config["n_layers"]):
        p = f"blocks.{i}."
        h = ln(x, p + "ln1")

        def split(t):
            return t.reshape(batch, seq, heads, head_dim).transpose(1, 2)

        q = split(linear(h, p + "attn.query"))
        k = split(linear(h, p + "attn.key"))
        v = split(linear(h, p + "attn.value"))
        scores = (q @ k.transpose(-1, -2)) * (1.0 / head_dim**0.5)
        scores = scores.masked_fill(future, reference.MASKED_SCORE)
        mixed = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(batch, seq, d_model)
        x = x + linear(mixed, p + "attn.out")
        h = ln(x, p + "ln2")
        x = x + linear(torch.nn.functional.gelu(linear(h, p + "mlp.fc")), p + "mlp.proj")
    x = ln(x, "final_norm")
    return torch.log_softmax(linear(x, "head"), dim=-1)


def best_ms(run, repeats):
    """Fastest and median wall time of `repeats` calls, in ms, after two warm-up calls."""
    for _ in range(2):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return times[0], times[len(times) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", help="file written by the export_reference example")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    header, tensors, blob = reference.load_bundle(args.bundle)
    config = header["config"]
    w_np = {name: t.astype(np.float32) for name, t in tensors.items()}
    w_t = {name: torch.from_numpy(t.copy()) for name, t in w_np.items()}
    print(f"torch {torch.__version__}, numpy {np.__version__}, threads {args.threads}, config {config}")

    ok = True
    with torch.inference_mode():
        for case in header["cases"]:
            tokens = np.array(case["tokens"], dtype=np.int64)
            expected = blob[case["offset"] : case["offset"] + tokens.size * 256].reshape(*tokens.shape, 256)
            actual = torch_forward(torch, w_t, config, torch.from_numpy(tokens)).numpy()
            diff = float(np.max(np.abs(actual.astype(np.float64) - expected)))
            ok &= diff <= args.tolerance
            print(f"torch vs burn, {case['name']:>22}: max |diff| {diff:.2e}")
        if not ok:
            print(f"FAILED: PyTorch disagrees with burn beyond {args.tolerance:g}")
            return 1

        rng = np.random.default_rng(7)
        tokens = rng.integers(0, 256, size=(args.batch, args.seq), dtype=np.int64)
        tokens_t = torch.from_numpy(tokens)
        rows = [
            ("PyTorch (eager, float32)", best_ms(lambda: torch_forward(torch, w_t, config, tokens_t), args.repeats)),
            ("numpy reference (float32)", best_ms(lambda: reference.forward(w_np, config, tokens), args.repeats)),
        ]
    print()
    print(f"| forward pass, batch {args.batch} x {args.seq} bytes, {args.threads} thread(s) | best ms | median ms | ms per sequence |")
    print("| --- | ---: | ---: | ---: |")
    for name, (best, median) in rows:
        print(f"| {name} | {best:.2f} | {median:.2f} | {best / args.batch:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
