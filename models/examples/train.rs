//! Trains a byte-level model on the embedded Jargon File and writes a checkpoint.
//!
//! ```text
//! cargo run --release -p subnet-models --example train -- \
//!     --config models/configs/bytelm-d64-l2.toml --steps 300 --seed 1 --out models/checkpoints/small.mpk
//! ```
//!
//! Writes the record to `--out` and its metadata to the same path with extension `json`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use subnet_models::{Progress, TrainConfig, train};

#[derive(Debug, Parser)]
struct Args {
    /// Training config (TOML).
    #[arg(long)]
    config: PathBuf,
    /// Optimiser steps.
    #[arg(long)]
    steps: u64,
    /// Seed of weight initialisation and batch sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Record file to write; metadata goes next to it as JSON.
    #[arg(long)]
    out: PathBuf,
    /// Train on the first CUDA GPU (needs feature `cuda`).
    #[arg(long)]
    cuda: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = TrainConfig::load(&args.config)
        .with_context(|| format!("loading {}", args.config.display()))?;
    let progress = if args.quiet {
        Progress::Hidden
    } else {
        Progress::Bar
    };
    let outcome = if args.cuda {
        train_cuda(&config, &args, progress)?
    } else {
        train::train(&config, args.steps, args.seed, &args.out, progress)?
    };
    let meta = &outcome.meta;
    println!(
        "{}: {} params, {} steps in {:.1} s, eval {:.4} bits/byte over {} windows, weights {}",
        meta.name,
        meta.num_params,
        meta.training.steps,
        outcome.train_time.as_secs_f64(),
        meta.eval_bits_per_byte,
        meta.eval_windows,
        meta.weights_digest,
    );
    Ok(())
}

#[cfg(feature = "cuda")]
fn train_cuda(
    config: &TrainConfig,
    args: &Args,
    progress: Progress,
) -> anyhow::Result<subnet_models::TrainOutcome> {
    let device = subnet_models::CudaDevice::default();
    Ok(train::train_on::<subnet_models::CudaTrain>(
        config, args.steps, args.seed, &args.out, progress, &device,
    )?)
}

#[cfg(not(feature = "cuda"))]
fn train_cuda(
    _config: &TrainConfig,
    _args: &Args,
    _progress: Progress,
) -> anyhow::Result<subnet_models::TrainOutcome> {
    anyhow::bail!("--cuda needs the `cuda` feature")
}
