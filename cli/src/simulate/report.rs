//! What `subnet simulate` writes: a CSV per series, the summary (table, CSV and JSON).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use subnet_protocol::chain::Hyperparameters;

use super::engine::Run;
use super::scenario::{Behaviour, Scenario};
use crate::table::Table;

/// One variant's outcome in short.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct VariantSummary {
    /// The variant's name.
    pub(crate) name: String,
    /// Its output subdirectory.
    pub(crate) dir: String,
    /// The hyperparameters it ran with.
    pub(crate) hyperparameters: Hyperparameters,
    /// By validator, scenario order.
    pub(crate) validators: Vec<ValidatorSummary>,
    /// By miner, scenario order.
    pub(crate) miners: Vec<MinerSummary>,
}

/// One validator over a whole run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ValidatorSummary {
    /// Its name.
    pub(crate) name: String,
    /// Its behaviour.
    pub(crate) behaviour: Behaviour,
    /// Sum over epochs of dividends per unit of stake held before each epoch.
    pub(crate) dividends_per_stake: f64,
    /// `dividends_per_stake` over the mean of the honest validators' (of all validators when
    /// none is honest); `None` when that mean is 0.
    pub(crate) relative_to_honest: Option<f64>,
    /// Mean validator trust.
    pub(crate) mean_validator_trust: f64,
    /// Weight transactions the chain refused, by reason.
    pub(crate) rejected: BTreeMap<String, u64>,
}

/// One miner over a whole run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MinerSummary {
    /// Its name.
    pub(crate) name: String,
    /// Its quality in the last epoch.
    pub(crate) final_quality: f64,
    /// Its share of everything paid to miners.
    pub(crate) emission_share: f64,
    /// Mean incentive.
    pub(crate) mean_incentive: f64,
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// Summarises one variant's run.
pub(crate) fn summarize(
    scenario: &Scenario,
    name: &str,
    dir: &str,
    hyperparameters: &Hyperparameters,
    run: &Run,
) -> VariantSummary {
    let per_stake: Vec<f64> = (0..scenario.validators.len())
        .map(|v| {
            run.epochs
                .iter()
                .filter_map(|e| e.validators.get(v))
                .map(|x| x.per_stake)
                .sum()
        })
        .collect();
    let honest: Vec<f64> = scenario
        .validators
        .iter()
        .zip(&per_stake)
        .filter(|(s, _)| s.behaviour == Behaviour::Honest)
        .map(|(_, p)| *p)
        .collect();
    let reference = if honest.is_empty() {
        mean(per_stake.iter().copied())
    } else {
        mean(honest.into_iter())
    };
    let validators = scenario
        .validators
        .iter()
        .enumerate()
        .map(|(v, spec)| {
            let total = per_stake.get(v).copied().unwrap_or(0.0);
            ValidatorSummary {
                name: spec.name.clone(),
                behaviour: spec.behaviour,
                dividends_per_stake: total,
                relative_to_honest: (reference > 0.0).then(|| total / reference),
                mean_validator_trust: mean(
                    run.epochs
                        .iter()
                        .filter_map(|e| e.validators.get(v))
                        .map(|x| x.validator_trust),
                ),
                rejected: run.rejected.get(v).cloned().unwrap_or_default(),
            }
        })
        .collect();
    let emitted: Vec<u64> = (0..scenario.miners.len())
        .map(|k| {
            run.epochs
                .iter()
                .filter_map(|e| e.miners.get(k))
                .map(|m| m.emission.get())
                .fold(0u64, u64::saturating_add)
        })
        .collect();
    let all: u64 = emitted.iter().copied().fold(0, u64::saturating_add);
    let miners = scenario
        .miners
        .iter()
        .enumerate()
        .map(|(k, spec)| MinerSummary {
            name: spec.name.clone(),
            final_quality: run
                .epochs
                .last()
                .and_then(|e| e.miners.get(k))
                .map_or(spec.quality, |m| m.quality),
            emission_share: if all == 0 {
                0.0
            } else {
                emitted.get(k).copied().unwrap_or(0) as f64 / all as f64
            },
            mean_incentive: mean(
                run.epochs
                    .iter()
                    .filter_map(|e| e.miners.get(k))
                    .map(|m| m.incentive),
            ),
        })
        .collect();
    VariantSummary {
        name: name.to_owned(),
        dir: dir.to_owned(),
        hyperparameters: hyperparameters.clone(),
        validators,
        miners,
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Quotes a CSV field if it needs it.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// Writes `validators.csv`, `miners.csv` and `bonds.csv` of one run into `dir`.
pub(crate) fn write_series(dir: &Path, scenario: &Scenario, run: &Run) -> Result<()> {
    let mut v = String::from(
        "epoch,block,validator,behaviour,stake_before_rao,dividends_rao,dividends_per_stake,dividend_share,validator_trust\n",
    );
    let mut m = String::from("epoch,block,miner,quality,incentive,consensus,emission_rao\n");
    let mut b = String::from("epoch,block,validator,miner,bond\n");
    for e in &run.epochs {
        for (spec, x) in scenario.validators.iter().zip(&e.validators) {
            let _ = writeln!(
                v,
                "{},{},{},{},{},{},{:.9e},{:.6},{:.6}",
                e.epoch,
                e.block,
                field(&spec.name),
                spec.behaviour.as_str(),
                x.stake_before.get(),
                x.dividends.get(),
                x.per_stake,
                x.dividend_share,
                x.validator_trust
            );
        }
        for (spec, x) in scenario.miners.iter().zip(&e.miners) {
            let _ = writeln!(
                m,
                "{},{},{},{:.6},{:.6},{:.6},{}",
                e.epoch,
                e.block,
                field(&spec.name),
                x.quality,
                x.incentive,
                x.consensus,
                x.emission.get()
            );
        }
        for (spec, row) in scenario.validators.iter().zip(&e.bonds) {
            for (miner, bond) in scenario.miners.iter().zip(row) {
                let _ = writeln!(
                    b,
                    "{},{},{},{},{bond:.6}",
                    e.epoch,
                    e.block,
                    field(&spec.name),
                    field(&miner.name)
                );
            }
        }
    }
    write(&dir.join("validators.csv"), &v)?;
    write(&dir.join("miners.csv"), &m)?;
    write(&dir.join("bonds.csv"), &b)
}

/// Writes `summary.csv` and `summary.json` into `out`.
pub(crate) fn write_summary(out: &Path, summaries: &[VariantSummary]) -> Result<()> {
    let mut csv = String::from(
        "variant,validator,behaviour,dividends_per_stake,relative_to_honest,mean_validator_trust,rejected\n",
    );
    for s in summaries {
        for v in &s.validators {
            let rejected: u64 = v.rejected.values().sum();
            let _ = writeln!(
                csv,
                "{},{},{},{:.9e},{},{:.6},{rejected}",
                field(&s.name),
                field(&v.name),
                v.behaviour.as_str(),
                v.dividends_per_stake,
                v.relative_to_honest
                    .map_or_else(String::new, |r| format!("{r:.6}")),
                v.mean_validator_trust
            );
        }
    }
    write(&out.join("summary.csv"), &csv)?;
    let json = serde_json::to_string_pretty(summaries).context("encoding the summary")?;
    write(&out.join("summary.json"), &json)
}

/// The summary as text: dividends per stake relative to honest validators, one column per
/// variant; then each miner's share of miner emission.
pub(crate) fn summary_text(scenario: &Scenario, summaries: &[VariantSummary]) -> String {
    let mut out = String::from(
        "dividends per unit of stake, relative to the honest validators' mean (1.00 = honest):\n",
    );
    let mut header = vec!["VALIDATOR".to_owned(), "BEHAVIOUR".to_owned()];
    header.extend(summaries.iter().map(|s| s.name.clone()));
    let mut t = Table::new(header);
    for (v, spec) in scenario.validators.iter().enumerate() {
        let mut row = vec![spec.name.clone(), spec.behaviour.as_str().to_owned()];
        for s in summaries {
            row.push(
                s.validators
                    .get(v)
                    .and_then(|x| x.relative_to_honest)
                    .map_or_else(|| "-".to_owned(), |r| format!("{r:.3}")),
            );
        }
        t.row(row);
    }
    out.push_str(&t.render());
    out.push_str("\nshare of miner emission:\n");
    let mut header = vec!["MINER".to_owned(), "FINAL QUALITY".to_owned()];
    header.extend(summaries.iter().map(|s| s.name.clone()));
    let mut t = Table::new(header);
    for (k, spec) in scenario.miners.iter().enumerate() {
        let quality = summaries
            .first()
            .and_then(|s| s.miners.get(k))
            .map_or(spec.quality, |m| m.final_quality);
        let mut row = vec![spec.name.clone(), format!("{quality:.2}")];
        for s in summaries {
            row.push(s.miners.get(k).map_or_else(
                || "-".to_owned(),
                |m| format!("{:.1}%", m.emission_share * 100.0),
            ));
        }
        t.row(row);
    }
    out.push_str(&t.render());
    for s in summaries {
        for v in &s.validators {
            if !v.rejected.is_empty() {
                let reasons: Vec<String> = v
                    .rejected
                    .iter()
                    .map(|(r, n)| format!("{r} ×{n}"))
                    .collect();
                let _ = writeln!(
                    out,
                    "note: {} / {}: the chain refused weight transactions: {}",
                    s.name,
                    v.name,
                    reasons.join(", ")
                );
            }
        }
    }
    out
}
