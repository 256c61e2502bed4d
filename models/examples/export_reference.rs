//! Writes a checkpoint's weights and its burn log-probabilities on fixed inputs to a bundle
//! that `bench/models/reference.py` checks against a numpy forward pass, after checking that
//! the fused CPU forward pass the miner serves with agrees with burn within 1e-4.
//!
//! ```text
//! cargo run --release -p subnet-models --example export_reference -- \
//!     --checkpoint models/checkpoints/best.mpk --out bench/out/reference-best.bin
//! bench/.venv/bin/python bench/models/reference.py bench/out/reference-best.bin
//! ```

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use subnet_models::{Corpus, Cpu, FusedLm, load_checkpoint, reference_bundle, reference_cases};

#[derive(Debug, Parser)]
struct Args {
    /// Checkpoint record file (its metadata JSON must sit next to it).
    #[arg(long)]
    checkpoint: PathBuf,
    /// Bundle to write.
    #[arg(long)]
    out: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let device = Default::default();
    let checkpoint = load_checkpoint::<Cpu>(&args.checkpoint, &device)
        .with_context(|| format!("loading {}", args.checkpoint.display()))?;
    let corpus = Corpus::jargon()?;
    let cases = reference_cases(corpus.eval(), checkpoint.meta.config.context_len);
    let bundle = reference_bundle(&checkpoint.model, &cases, &device)?;
    // The miner serves with the fused CPU forward pass: it must compute what the bundle holds.
    let fused = FusedLm::from_model(&checkpoint.model)?;
    for case in &cases {
        let rows: Vec<&[u8]> = case.rows.iter().map(Vec::as_slice).collect();
        let burn = checkpoint.model.infer(&rows, &device)?;
        let served = fused.infer(&rows)?;
        let diff = burn
            .max_abs_diff(&served)
            .context("the fused forward pass answered another shape")?;
        println!("fused vs burn, {:>20}: max |diff| {diff:.2e}", case.name);
        anyhow::ensure!(diff < 1e-4, "the fused forward pass is off by {diff}");
    }
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&args.out, &bundle)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "{}: {} cases, {} bytes, weights {}",
        args.out.display(),
        cases.len(),
        bundle.len(),
        checkpoint.meta.weights_digest
    );
    Ok(())
}
