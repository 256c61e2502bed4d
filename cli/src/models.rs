//! `subnet models train`: trains a byte-level model on the embedded corpus and writes a
//! checkpoint ([`subnet_models::train`]).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde::Serialize;
use subnet_models::{Progress, TrainConfig, TrainOutcome};

use crate::context::Global;
use crate::table::emit;

/// `subnet models ...`
#[derive(Debug, Subcommand)]
pub(crate) enum ModelsCommand {
    /// Trains a model from a TOML config and writes its checkpoint (record + JSON metadata).
    Train(TrainArgs),
}

/// Arguments of `subnet models train`.
#[derive(Debug, Args)]
pub(crate) struct TrainArgs {
    /// Training config (TOML: name, [model], [optimizer]).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Optimiser steps.
    #[arg(long)]
    steps: u64,
    /// Seed of weight initialisation and batch sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Record file to write; its metadata goes next to it with extension `json`.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Train on the first CUDA GPU (cargo feature `cuda`).
    #[arg(long)]
    cuda: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Serialize)]
struct Trained {
    name: String,
    out: PathBuf,
    steps: u64,
    seed: u64,
    num_params: u64,
    train_seconds: f64,
    eval_bits_per_byte: f64,
    eval_windows: u64,
    weights_digest: String,
}

/// Runs a `models` subcommand.
pub(crate) fn run(global: &Global, command: ModelsCommand) -> Result<()> {
    let ModelsCommand::Train(args) = command;
    let config = TrainConfig::load(&args.config)
        .with_context(|| format!("loading {}", args.config.display()))?;
    let progress = if args.quiet || global.json {
        Progress::Hidden
    } else {
        Progress::Bar
    };
    let outcome = if args.cuda {
        train_cuda(&config, &args, progress)?
    } else {
        subnet_models::train::train(&config, args.steps, args.seed, &args.out, progress)
            .context("training")?
    };
    let meta = &outcome.meta;
    let trained = Trained {
        name: meta.name.clone(),
        out: args.out,
        steps: meta.training.steps,
        seed: meta.training.seed,
        num_params: meta.num_params,
        train_seconds: outcome.train_time.as_secs_f64(),
        eval_bits_per_byte: meta.eval_bits_per_byte,
        eval_windows: meta.eval_windows,
        weights_digest: meta.weights_digest.to_string(),
    };
    emit(global.json, &trained, |t| {
        format!(
            "{}: {} params, {} steps in {:.1} s, eval {:.4} bits/byte over {} windows\n  weights {}\n  written to {}\n",
            t.name,
            t.num_params,
            t.steps,
            t.train_seconds,
            t.eval_bits_per_byte,
            t.eval_windows,
            t.weights_digest,
            t.out.display()
        )
    })
}

#[cfg(feature = "cuda")]
fn train_cuda(config: &TrainConfig, args: &TrainArgs, progress: Progress) -> Result<TrainOutcome> {
    let device = subnet_models::CudaDevice::default();
    subnet_models::train::train_on::<subnet_models::CudaTrain>(
        config, args.steps, args.seed, &args.out, progress, &device,
    )
    .context("training on CUDA")
}

#[cfg(not(feature = "cuda"))]
fn train_cuda(
    _config: &TrainConfig,
    _args: &TrainArgs,
    _progress: Progress,
) -> Result<TrainOutcome> {
    anyhow::bail!(
        "--cuda needs a build with the `cuda` feature (cargo build -p subnet-cli --features cuda)"
    )
}
