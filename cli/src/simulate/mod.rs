//! `subnet simulate`: a subnet's incentives on a scenario, run in-process on the real ledger.
//!
//! Each variant (a set of hyperparameter overrides) runs the whole scenario on a fresh
//! [`subnet_chain::Ledger`] ([`engine`]); the outputs go to `--out`:
//!
//! - `summary.csv`, `summary.json`: per variant and validator, dividends per unit of stake summed
//!   over the epochs and relative to the honest validators' mean; per miner, its emission share;
//! - `<variant>/validators.csv`, `miners.csv`, `bonds.csv`: every epoch's series;
//! - `<variant>/dividends_per_stake.png`, `incentive.png`, `bonds.png`: their charts.
//!
//! The same scenario seed gives the same files.

mod chart;
mod engine;
mod report;
mod scenario;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use self::chart::{Line, line_chart};
use self::engine::Run;
use self::report::VariantSummary;
use self::scenario::Scenario;
use crate::context::Global;
use crate::subnets::load_hyperparameters;
use crate::table::emit;

/// Arguments of `subnet simulate`.
#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    /// `subnet.toml`: the hyperparameters the variants start from.
    #[arg(long, value_name = "FILE")]
    subnet: PathBuf,
    /// The scenario: validators, miners, variants (see `deploy/scenarios/`).
    #[arg(long, value_name = "FILE")]
    scenario: PathBuf,
    /// Epochs to simulate per variant (default: the scenario's `epochs`).
    #[arg(long)]
    epochs: Option<u64>,
    /// Directory for the CSV files, charts and summary (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

#[derive(Debug, Serialize)]
struct Output<'a> {
    out: &'a Path,
    epochs: u64,
    seed: u64,
    charts_have_text: bool,
    variants: &'a [VariantSummary],
}

/// Runs `subnet simulate`.
pub(crate) fn run(global: &Global, args: &SimulateArgs) -> Result<()> {
    let base = load_hyperparameters(&args.subnet)?;
    let text = std::fs::read_to_string(&args.scenario)
        .with_context(|| format!("reading {}", args.scenario.display()))?;
    let scenario =
        Scenario::from_toml(&text).with_context(|| args.scenario.display().to_string())?;
    let Some(epochs) = args.epochs.or(scenario.epochs) else {
        bail!("give --epochs (the scenario sets no `epochs`)");
    };
    if epochs == 0 {
        bail!("--epochs must be at least 1");
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let variants = scenario.variants();
    // Check every variant before the first long run.
    let settings = variants
        .iter()
        .map(|v| v.apply(&base))
        .collect::<Result<Vec<_>>>()?;

    let total = epochs.saturating_mul(variants.len() as u64);
    let bar = if global.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total)
    };
    bar.set_style(
        ProgressStyle::with_template("{msg:24} [{bar:40}] {pos}/{len} epochs, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut summaries = Vec::with_capacity(variants.len());
    for (variant, hp) in variants.iter().zip(&settings) {
        bar.set_message(variant.name.clone());
        let run = engine::run(&scenario, hp, epochs, &mut || bar.inc(1))
            .with_context(|| format!("variant `{}`", variant.name))?;
        let dir = args.out.join(variant.slug());
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        report::write_series(&dir, &scenario, &run)?;
        charts(&dir, &scenario, &variant.name, &run)?;
        summaries.push(report::summarize(
            &scenario,
            &variant.name,
            &variant.slug(),
            hp,
            &run,
        ));
    }
    bar.finish_and_clear();
    report::write_summary(&args.out, &summaries)?;
    let fonts = chart::fonts();
    let output = Output {
        out: &args.out,
        epochs,
        seed: scenario.seed,
        charts_have_text: fonts.available,
        variants: &summaries,
    };
    emit(global.json, &output, |o| {
        let mut text = report::summary_text(&scenario, o.variants);
        text.push_str(&format!(
            "\n{} epochs per variant, seed {}; CSV files and charts in {}\n",
            o.epochs,
            o.seed,
            o.out.display()
        ));
        if !o.charts_have_text {
            text.push_str(
                "note: no TrueType font found (set SUBNET_FONT=/path/to/font.ttf); charts have no text\n",
            );
        }
        text
    })
}

/// Draws the three charts of one variant.
fn charts(dir: &Path, scenario: &Scenario, variant: &str, run: &Run) -> Result<()> {
    let series = |value: &dyn Fn(&engine::EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        run.epochs
            .iter()
            .filter_map(|e| value(e).map(|y| (e.epoch as f64, y)))
            .collect()
    };
    let validator_label = |v: usize| {
        scenario.validators.get(v).map_or_else(String::new, |s| {
            format!("{} ({})", s.name, s.behaviour.as_str())
        })
    };
    let dividends: Vec<Line> = (0..scenario.validators.len())
        .map(|v| Line {
            label: validator_label(v),
            // Per 1000 tokens of stake, so the axis reads in ordinary numbers.
            points: series(&|e| e.validators.get(v).map(|x| x.per_stake * 1000.0)),
        })
        .collect();
    line_chart(
        &dir.join("dividends_per_stake.png"),
        &format!("{variant}: dividends per epoch per 1000 tokens staked"),
        "tokens per 1000 staked",
        &dividends,
    )?;
    let incentive: Vec<Line> = scenario
        .miners
        .iter()
        .enumerate()
        .map(|(k, m)| Line {
            label: m.name.clone(),
            points: series(&|e| e.miners.get(k).map(|x| x.incentive)),
        })
        .collect();
    line_chart(
        &dir.join("incentive.png"),
        &format!("{variant}: miner incentive"),
        "incentive",
        &incentive,
    )?;
    let bonds: Vec<Line> = (0..scenario.validators.len())
        .map(|v| Line {
            label: validator_label(v),
            points: series(&|e| e.bonds.get(v).map(|row| row.iter().sum())),
        })
        .collect();
    line_chart(
        &dir.join("bonds.png"),
        &format!("{variant}: validator bonds (sum over miners)"),
        "bond (sum of u16 fractions)",
        &bonds,
    )
}
