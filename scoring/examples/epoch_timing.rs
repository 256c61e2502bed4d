//! Wall-clock timing of one Yuma epoch, single-threaded, as JSON (used by `bench/yuma/run.sh`).
//!
//! ```text
//! cargo run --release -p subnet-scoring --example epoch_timing -- \
//!     [--sizes 256:64 1024:128 4096:256] [--modes yuma3 original yuma3_liquid] [--reps 30]
//! cargo run --release -p subnet-scoring --example epoch_timing -- --once 4096:256 yuma3 sparse 5
//! ```
//!
//! The default prints, per size, mode and layout (sparse, dense), the best and median of `reps`
//! runs in milliseconds after one warm-up run, and a BLAKE3 digest of every output integer (equal
//! digests: bit-identical epochs). `--once` builds the inputs and runs that one epoch `count`
//! times with no timing, for instruction counts (`valgrind --tool=callgrind`, `perf stat`); a
//! sixth argument `reused` builds each epoch in the previous one's bond rows. The
//! `sparse_reused` layout is the sparse epoch through `epoch_with_buffers`, each output's bond
//! rows handed back for the next epoch (`EpochBuffers::recycle`).

#[path = "../benches/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Instant;

use serde_json::json;
use subnet_scoring::yuma::{
    BondRow, EpochBuffers, EpochInputs, EpochOutput, EpochParams, epoch, epoch_with_buffers,
};

fn parse_size(s: &str) -> (usize, usize) {
    let (n, v) = s.split_once(':').expect("size is n:validators");
    (n.parse().expect("n"), v.parse().expect("validators"))
}

/// BLAKE3 over every integer of the output, in a fixed order.
fn digest(out: &EpochOutput) -> String {
    let mut h = blake3::Hasher::new();
    for v in [
        &out.stake,
        &out.active_stake,
        &out.consensus,
        &out.validator_trust,
        &out.incentive,
        &out.trust,
        &out.dividends,
        &out.emission_incentive_share,
        &out.emission_dividend_share,
        &out.emission_combined_share,
    ] {
        for x in v {
            h.update(&x.to_bits().to_le_bytes());
        }
    }
    for v in [&out.server_emission, &out.validator_emission, &out.emission] {
        for x in v {
            h.update(&x.to_le_bytes());
        }
    }
    for p in &out.validator_permits {
        h.update(&[u8::from(*p)]);
    }
    h.update(format!("{:?}{}", out.emission_fallback, out.liquid_alpha_used).as_bytes());
    for row in &out.bonds {
        match row {
            BondRow::Store(entries) => {
                h.update(b"S");
                for (j, v) in entries {
                    h.update(&j.to_le_bytes());
                    h.update(&v.to_bits().to_le_bytes());
                }
            }
            BondRow::Clear => {
                h.update(b"C");
            }
            BondRow::Keep => {
                h.update(b"K");
            }
        }
    }
    h.finalize().to_hex()[..16].to_string()
}

fn time(inputs: &EpochInputs, params: &EpochParams, reps: usize) -> (f64, f64, String) {
    let out = epoch(inputs, params).expect("valid inputs");
    let mut ms: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            black_box(epoch(black_box(inputs), params).expect("valid inputs"));
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    (ms[0], ms[ms.len() / 2], digest(&out))
}

/// As [`time`], each epoch built in the bond rows of the one before ([`EpochBuffers`]), as a
/// caller that recycles its outputs runs them.
fn time_reused(inputs: &EpochInputs, params: &EpochParams, reps: usize) -> (f64, f64, String) {
    let mut buffers = EpochBuffers::new();
    let out = epoch_with_buffers(inputs, params, &mut buffers).expect("valid inputs");
    let digest = digest(&out);
    buffers.recycle(out.bonds);
    let mut ms: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            let out =
                epoch_with_buffers(black_box(inputs), params, &mut buffers).expect("valid inputs");
            buffers.recycle(black_box(out).bonds);
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    (ms[0], ms[ms.len() / 2], digest)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--once") {
        let (n, v) = parse_size(&args[1]);
        let params = common::params(&args[2], v).expect("mode");
        let subnet = common::subnet(n, v);
        let inputs = if args[3] == "dense" {
            &subnet.dense
        } else {
            &subnet.sparse
        };
        let count: usize = args.get(4).map_or(1, |c| c.parse().expect("count"));
        // `reused` as a sixth argument: each epoch reuses the previous one's bond rows.
        let reused = args.get(5).is_some_and(|a| a == "reused");
        let mut buffers = EpochBuffers::new();
        for _ in 0..count {
            let out = if reused {
                epoch_with_buffers(black_box(inputs), &params, &mut buffers)
            } else {
                epoch(black_box(inputs), &params)
            };
            buffers.recycle(black_box(out.expect("valid inputs")).bonds);
        }
        return;
    }
    let mut sizes = vec!["256:64".to_string(), "1024:128".into(), "4096:256".into()];
    let mut modes = vec!["yuma3".to_string()];
    let mut reps = 30;
    let mut list: Option<&mut Vec<String>> = None;
    for arg in &args {
        match arg.as_str() {
            "--sizes" => {
                sizes.clear();
                list = Some(&mut sizes);
            }
            "--modes" => {
                modes.clear();
                list = Some(&mut modes);
            }
            "--reps" => list = None,
            other => match list.as_deref_mut() {
                Some(l) => l.push(other.to_string()),
                None => reps = other.parse().expect("--reps count"),
            },
        }
    }
    let mut results = Vec::new();
    for size in &sizes {
        let (n, v) = parse_size(size);
        let subnet = common::subnet(n, v);
        for mode in &modes {
            assert!(
                common::MODES.contains(&mode.as_str()),
                "unknown mode {mode}"
            );
            let params = common::params(mode, v).expect("mode");
            for (layout, inputs) in [("sparse", &subnet.sparse), ("dense", &subnet.dense)] {
                let (best, median, digest) = time(inputs, &params, reps);
                results.push(json!({
                    "n": n, "validators": v, "mode": mode, "layout": layout,
                    "reps": reps, "best_ms": best, "median_ms": median, "digest": digest,
                }));
            }
            let (best, median, digest) = time_reused(&subnet.sparse, &params, reps);
            results.push(json!({
                "n": n, "validators": v, "mode": mode, "layout": "sparse_reused",
                "reps": reps, "best_ms": best, "median_ms": median, "digest": digest,
            }));
        }
    }
    println!("{}", json!({ "threads": 1, "results": results }));
}
