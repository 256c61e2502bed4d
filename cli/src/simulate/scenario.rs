//! The scenario file of `subnet simulate`: who validates and mines, how, and which
//! hyperparameter variants to compare.
//!
//! ```toml
//! seed = 7                  # every random draw (noise, salts) comes from this seed
//!
//! [[validators]]
//! name = "honest-1"
//! stake = 10000             # tokens staked on the validator's hotkey by its coldkey
//! behaviour = "honest"      # weights = true quality + Gaussian noise
//! noise = 0.05              # standard deviation of that noise (default 0)
//!
//! [[validators]]
//! name = "copier"
//! stake = 5000
//! behaviour = "copier"      # submits the consensus the chain published at the last epoch
//!
//! [[validators]]
//! name = "late"
//! stake = 5000
//! behaviour = "late"        # honest, but sees qualities `lag` epochs late
//! lag = 3
//!
//! [[validators]]
//! name = "contrarian"
//! stake = 2000
//! behaviour = "out_of_consensus"   # weights `targets` only, or 1 − quality when none given
//! targets = ["weak"]
//!
//! [[miners]]
//! name = "strong"
//! quality = 0.9             # true quality in [0, 1]
//! changes = [{ epoch = 20, quality = 0.2 }]   # from epoch 20 on (1-based) it is 0.2
//!
//! [[miners]]
//! name = "weak"
//! quality = 0.1
//!
//! [[variants]]              # each runs the whole scenario on a fresh chain
//! name = "yuma3 + commit-reveal"
//! hyperparameters = { yuma3_enabled = true, commit_reveal_weights_enabled = true }
//! ```
//!
//! Without `[[variants]]` one run uses `subnet.toml` as it is.

use std::collections::BTreeSet;

use anyhow::{Result, bail, ensure};
use serde::{Deserialize, Serialize};
use subnet_protocol::chain::Hyperparameters;

/// A whole scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Scenario {
    /// Seed of every random draw.
    #[serde(default)]
    pub(crate) seed: u64,
    /// Epochs to run when `--epochs` is not given.
    #[serde(default)]
    pub(crate) epochs: Option<u64>,
    /// Validators, in UID order (UIDs 0, 1, …).
    pub(crate) validators: Vec<ValidatorSpec>,
    /// Miners, in UID order after the validators.
    pub(crate) miners: Vec<MinerSpec>,
    /// Hyperparameter variants to compare; none means one run of `subnet.toml` as it is.
    #[serde(default)]
    pub(crate) variants: Vec<Variant>,
}

/// How a validator picks its weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Behaviour {
    /// True quality plus noise.
    Honest,
    /// The consensus published by the last epoch.
    Copier,
    /// True quality as it was `lag` epochs ago, plus noise.
    Late,
    /// Its own targets, or the inverse of quality.
    OutOfConsensus,
}

impl Behaviour {
    /// The name used in files and tables.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Honest => "honest",
            Self::Copier => "copier",
            Self::Late => "late",
            Self::OutOfConsensus => "out_of_consensus",
        }
    }
}

/// One validator.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ValidatorSpec {
    /// Unique name.
    pub(crate) name: String,
    /// Stake in whole tokens.
    pub(crate) stake: u64,
    /// Weight-setting behaviour.
    pub(crate) behaviour: Behaviour,
    /// Standard deviation of the Gaussian noise on each quality (honest, late,
    /// out_of_consensus without targets).
    #[serde(default)]
    pub(crate) noise: f64,
    /// Epochs of delay (late).
    #[serde(default)]
    pub(crate) lag: u64,
    /// Miners weighted (out_of_consensus); empty means `1 − quality`.
    #[serde(default)]
    pub(crate) targets: Vec<String>,
}

/// One miner.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MinerSpec {
    /// Unique name.
    pub(crate) name: String,
    /// True quality from epoch 1, in `[0, 1]`.
    pub(crate) quality: f64,
    /// Later qualities.
    #[serde(default)]
    pub(crate) changes: Vec<QualityChange>,
}

/// A miner's quality from some epoch on.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct QualityChange {
    /// First epoch (1-based) with the new quality.
    pub(crate) epoch: u64,
    /// The new quality, in `[0, 1]`.
    pub(crate) quality: f64,
}

/// A named set of hyperparameter overrides.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Variant {
    /// Name shown in tables and used (slugged) as the output subdirectory.
    pub(crate) name: String,
    /// Overrides, by `subnet.toml` name.
    #[serde(default)]
    pub(crate) hyperparameters: toml::Table,
}

impl MinerSpec {
    /// True quality at `epoch` (1-based; 0 reads as 1).
    pub(crate) fn quality_at(&self, epoch: u64) -> f64 {
        self.changes
            .iter()
            .filter(|c| c.epoch <= epoch)
            .max_by_key(|c| c.epoch)
            .map_or(self.quality, |c| c.quality)
    }
}

impl Variant {
    /// `base` with this variant's overrides applied and validated.
    pub(crate) fn apply(&self, base: &Hyperparameters) -> Result<Hyperparameters> {
        let mut h = base.clone();
        for (name, value) in &self.hyperparameters {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            h.set(name, &text)
                .map_err(|e| anyhow::anyhow!("variant `{}`: {e}", self.name))?;
        }
        h.validate()
            .map_err(|e| anyhow::anyhow!("variant `{}`: {e}", self.name))?;
        Ok(h)
    }

    /// File-system friendly name: lowercase letters, digits and `-`.
    pub(crate) fn slug(&self) -> String {
        slug(&self.name)
    }
}

/// `text` lowercased, every run of other characters turned into one `-`.
pub(crate) fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_matches('-');
    if trimmed.is_empty() {
        "variant".to_owned()
    } else {
        trimmed.to_owned()
    }
}

impl Scenario {
    /// Parses and checks a scenario.
    pub(crate) fn from_toml(text: &str) -> Result<Self> {
        let scenario: Self =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// The variants to run: those listed, or one named `base` without overrides.
    pub(crate) fn variants(&self) -> Vec<Variant> {
        if self.variants.is_empty() {
            vec![Variant {
                name: "base".into(),
                hyperparameters: toml::Table::new(),
            }]
        } else {
            self.variants.clone()
        }
    }

    /// Index of the miner named `name`.
    pub(crate) fn miner_index(&self, name: &str) -> Option<usize> {
        self.miners.iter().position(|m| m.name == name)
    }

    fn validate(&self) -> Result<()> {
        ensure!(
            !self.validators.is_empty(),
            "the scenario has no validators"
        );
        ensure!(!self.miners.is_empty(), "the scenario has no miners");
        let mut names = BTreeSet::new();
        for name in self
            .validators
            .iter()
            .map(|v| &v.name)
            .chain(self.miners.iter().map(|m| &m.name))
        {
            ensure!(!name.is_empty(), "empty validator or miner name");
            ensure!(names.insert(name), "`{name}` is named twice");
        }
        for v in &self.validators {
            ensure!(v.stake > 0, "validator `{}`: stake must be above 0", v.name);
            ensure!(
                v.noise.is_finite() && v.noise >= 0.0,
                "validator `{}`: noise must be a finite number >= 0",
                v.name
            );
            for t in &v.targets {
                if self.miner_index(t).is_none() {
                    bail!("validator `{}`: target `{t}` is not a miner", v.name);
                }
            }
        }
        for m in &self.miners {
            let qualities = std::iter::once(m.quality).chain(m.changes.iter().map(|c| c.quality));
            for q in qualities {
                ensure!(
                    (0.0..=1.0).contains(&q),
                    "miner `{}`: quality {q} is outside [0, 1]",
                    m.name
                );
            }
        }
        let mut slugs = BTreeSet::new();
        for variant in &self.variants {
            ensure!(
                slugs.insert(variant.slug()),
                "two variants share the directory name `{}`",
                variant.slug()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let doc = include_str!("scenario.rs")
            .lines()
            .take_while(|l| !l.starts_with("use "))
            .filter_map(|l| l.strip_prefix("//! "))
            .skip_while(|l| !l.starts_with("seed"))
            .take_while(|l| !l.starts_with("```"))
            .collect::<Vec<_>>()
            .join("\n");
        let s = Scenario::from_toml(&doc).unwrap();
        assert_eq!(s.validators.len(), 4);
        assert_eq!(s.miners[0].quality_at(1), 0.9);
        assert_eq!(s.miners[0].quality_at(20), 0.2);
        let h = s.variants()[0].apply(&Hyperparameters::default()).unwrap();
        assert!(h.commit_reveal_weights_enabled);
        assert_eq!(s.variants()[0].slug(), "yuma3-commit-reveal");
    }

    #[test]
    fn rejects_bad_scenarios() {
        let base = "[[validators]]\nname = \"v\"\nstake = 1\nbehaviour = \"honest\"\n";
        let miner = "[[miners]]\nname = \"m\"\nquality = 0.5\n";
        assert!(Scenario::from_toml(&format!("{base}{miner}")).is_ok());
        assert!(Scenario::from_toml(base).is_err());
        let dup = "[[miners]]\nname = \"v\"\nquality = 0.5\n";
        assert!(Scenario::from_toml(&format!("{base}{dup}")).is_err());
        let bad = "[[miners]]\nname = \"m\"\nquality = 1.5\n";
        assert!(Scenario::from_toml(&format!("{base}{bad}")).is_err());
        let unknown = format!(
            "{base}{miner}[[variants]]\nname = \"x\"\nhyperparameters = {{ tempoo = 3 }}\n"
        );
        let s = Scenario::from_toml(&unknown).unwrap();
        assert!(s.variants()[0].apply(&Hyperparameters::default()).is_err());
    }
}
