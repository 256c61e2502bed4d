#!/usr/bin/env python3
"""numpy reference forward pass of subnet-models' ByteLm (byte-transformer-v1).

Reads a reference bundle written by the Rust example `export_reference` (weights plus burn's
log-probabilities on fixed inputs), runs the same architecture in numpy and checks that every
log-probability agrees within --tolerance (default 1e-4). Exits 0 on agreement, 1 on a
mismatch, 2 on an unreadable bundle.

    cargo run --release -p subnet-models --example export_reference -- \
        --checkpoint models/checkpoints/best.mpk --out bench/out/reference-best.bin
    python3 -m venv bench/.venv && bench/.venv/bin/pip install numpy
    bench/.venv/bin/python bench/models/reference.py bench/out/reference-best.bin

For timings (--bench N), pin BLAS threads (OPENBLAS_NUM_THREADS=1) on a shared machine:
OpenBLAS oversubscribing 2 busy cores made a batch-64 forward pass 14x slower here.

Bundle layout (models/src/export.rs): b"SNMREF01", u64 LE header length, JSON header, then
little-endian f32. The header lists `tensors` (name, shape, offset in f32 elements) and `cases`
(name, tokens, offset of the expected [batch, seq, 256] log-probabilities).

The architecture, operation by operation as in models/src/layers.rs and model.rs:
    x = token_embedding[tokens] + position_embedding[:seq]
    per block:  x = x + attn(ln1(x));  x = x + proj(gelu(fc(ln2(x))))
    attn(h):    q, k, v = h Wq + bq, ...; split into heads;
                softmax(q kᵀ / sqrt(head_dim), future positions set to -1e9) v; then out proj
    layer norm: (x - mean) / sqrt(biased var + 1e-5) * gamma + beta
    gelu:       x/2 (1 + erf(x / sqrt 2))
    output:     log_softmax(final_norm(x) W_head + b_head)
"""

import argparse
import json
import struct
import sys
import time

import numpy as np

MAGIC = b"SNMREF01"
LAYER_NORM_EPS = 1e-5
MASKED_SCORE = -1.0e9
WEIGHTS_DIGEST_CONTEXT = "subnet-models 2025 weights digest v1"


def load_bundle(path):
    """Returns (header, {name: array}, blob) from a reference bundle."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != MAGIC:
        raise ValueError(f"{path}: not a reference bundle (magic {data[:8]!r})")
    (header_len,) = struct.unpack_from("<Q", data, 8)
    header = json.loads(data[16 : 16 + header_len])
    blob = np.frombuffer(data, dtype="<f4", offset=16 + header_len)
    tensors = {}
    for t in header["tensors"]:
        size = int(np.prod(t["shape"]))
        tensors[t["name"]] = blob[t["offset"] : t["offset"] + size].reshape(t["shape"])
    return header, tensors, blob


def erf(x):
    """Vectorised erf, Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7)."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def gelu(x):
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)).astype(x.dtype))


def layer_norm(x, gamma, beta):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + LAYER_NORM_EPS) * gamma + beta


def linear(x, w, name):
    return x @ w[name + ".weight"] + w[name + ".bias"]


def log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def forward(w, config, tokens):
    """Next-byte log-probabilities [batch, seq, 256] for integer tokens [batch, seq]."""
    batch, seq = tokens.shape
    d_model, heads = config["d_model"], config["n_heads"]
    head_dim = d_model // heads
    future = np.triu(np.ones((seq, seq), dtype=bool), k=1)
    x = w["token_embedding"][tokens] + w["position_embedding"][:seq]
    for i in range(config["n_layers"]):
        p = f"blocks.{i}."
        h = layer_norm(x, w[p + "ln1.gamma"], w[p + "ln1.beta"])

        def split(t):
            return t.reshape(batch, seq, heads, head_dim).transpose(0, 2, 1, 3)

        q = split(linear(h, w, p + "attn.query"))
        k = split(linear(h, w, p + "attn.key"))
        v = split(linear(h, w, p + "attn.value"))
        scores = (q @ k.transpose(0, 1, 3, 2)) * x.dtype.type(1.0 / np.sqrt(head_dim))
        scores = np.where(future, x.dtype.type(MASKED_SCORE), scores)
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        attn = scores / scores.sum(axis=-1, keepdims=True)
        mixed = (attn @ v).transpose(0, 2, 1, 3).reshape(batch, seq, d_model)
        x = x + linear(mixed, w, p + "attn.out")
        h = layer_norm(x, w[p + "ln2.gamma"], w[p + "ln2.beta"])
        x = x + linear(gelu(linear(h, w, p + "mlp.fc")), w, p + "mlp.proj")
    x = layer_norm(x, w["final_norm.gamma"], w["final_norm.beta"])
    return log_softmax(linear(x, w, "head"))


def weights_digest(header, tensors):
    """The crate's weights digest, if the optional `blake3` package is installed."""
    try:
        import blake3
    except ImportError:
        return None
    h = blake3.blake3(derive_key_context=WEIGHTS_DIGEST_CONTEXT)
    u64 = lambda n: struct.pack("<Q", n)
    names = sorted(t["name"] for t in header["tensors"])
    h.update(u64(len(names)))
    for name in names:
        t = tensors[name]
        h.update(u64(len(name.encode())) + name.encode() + u64(t.ndim))
        for dim in t.shape:
            h.update(u64(dim))
        h.update(u64(3) + b"f32" + t.astype("<f4").tobytes())
    return h.hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", help="file written by the export_reference example")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="max |burn - numpy|")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--bench", type=int, default=0, metavar="N",
                        help="also time N forward passes of each case")
    args = parser.parse_args()

    try:
        header, tensors, blob = load_bundle(args.bundle)
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    config = header["config"]
    weights = {name: t.astype(args.dtype) for name, t in tensors.items()}
    print(f"config {config}, weights {header['weights_digest']}")
    digest = weights_digest(header, tensors)
    ok = True
    if digest is not None:
        same = digest == header["weights_digest"]
        ok &= same
        print(f"weights digest recomputed in Python: {'match' if same else 'MISMATCH ' + digest}")

    for case in header["cases"]:
        tokens = np.array(case["tokens"], dtype=np.int64)
        expected = blob[case["offset"] : case["offset"] + tokens.size * 256]
        expected = expected.reshape(*tokens.shape, 256)
        actual = forward(weights, config, tokens)
        diff = float(np.max(np.abs(actual.astype(np.float64) - expected.astype(np.float64))))
        passed = diff <= args.tolerance
        ok &= passed
        line = f"{case['name']:>22}: batch {tokens.shape[0]}, seq {tokens.shape[1]:>3}, max |diff| {diff:.2e}"
        if args.bench:
            start = time.perf_counter()
            for _ in range(args.bench):
                forward(weights, config, tokens)
            line += f", {(time.perf_counter() - start) / args.bench * 1e3:.2f} ms/forward"
        print(line + ("" if passed else f"  MISMATCH (tolerance {args.tolerance:g})"))

    print("ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
