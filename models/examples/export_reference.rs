//! Writes a checkpoint's weights and its burn log-probabilities on fixed inputs to a bundle
//! that `bench/models/reference.py` checks against a numpy forward pass.
//!
//! ```text
//! cargo run --release -p subnet-models --example export_reference -- \
//!     --checkpoint models/checkpoints/best.mpk --out bench/out/reference-best.bin
//! bench/.venv/bin/python bench/models/reference.py bench/out/reference-best.bin
//! ```

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use subnet_models::{Corpus, Cpu, load_checkpoint, reference_bundle, reference_cases};

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
