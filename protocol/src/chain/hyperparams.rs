//! A subnet's hyperparameters: Bittensor's names and meanings where they exist.

use serde::{Deserialize, Serialize};

use crate::ids::Rao;

/// The tunable rules of one subnet, set at creation from `subnet.toml` and changed by its owner.
///
/// Ratios named `u16` stand for `k / 65535`. Defaults are Bittensor's defaults for a new subnet,
/// except where the local chain needs its own (emission, burn, owner cut).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hyperparameters {
    /// Blocks between epochs. Default 360.
    pub tempo: u16,
    /// Stake fraction that defines consensus, u16 ratio. Default 32767 (≈ 0.5).
    pub kappa: u16,
    /// Bond EMA memory in parts per million; the EMA rate is `1 − bonds_moving_avg / 10⁶`.
    /// Default 900 000.
    pub bonds_moving_avg: u64,
    /// How much bonds are bought with clipped rather than raw weights, u16 ratio. Default 65535.
    pub bonds_penalty: u16,
    /// Blocks after its last weight update that a validator still counts as active. Default 5000.
    pub activity_cutoff: u64,
    /// Blocks after registration during which a UID cannot be pruned. Default 5000.
    pub immunity_period: u64,
    /// Most UIDs the subnet holds. Default 256, at most [`MAX_UIDS`].
    pub max_allowed_uids: u16,
    /// Number of validator permits (top stake). Default 64.
    pub max_allowed_validators: u16,
    /// Fewest non-zero weights a `set_weights` may carry. Default 1.
    pub min_allowed_weights: u16,
    /// Largest single weight after normalisation, u16 ratio. Default 65535 (no cap).
    pub max_weight_limit: u16,
    /// Blocks a hotkey must wait between two weight submissions. Default 100.
    pub weights_rate_limit: u64,
    /// Version key that `set_weights` must carry (at least this value). Default 0.
    pub weights_version: u64,
    /// Weights are committed as a hash first and revealed later. Default false.
    pub commit_reveal_weights_enabled: bool,
    /// Tempos between a commit and its reveal window. Default 1.
    pub commit_reveal_period: u64,
    /// Yuma3 bonds (per-entry, not scaled by stake). Default true, as for new Bittensor subnets.
    pub yuma3_enabled: bool,
    /// Per-entry bond EMA rate from a sigmoid of disagreement (Yuma3 only). Default false.
    pub liquid_alpha_enabled: bool,
    /// Lowest liquid-alpha rate, u16 ratio. Default 45875 (0.7).
    pub alpha_low: u16,
    /// Highest liquid-alpha rate, u16 ratio. Default 58982 (0.9).
    pub alpha_high: u16,
    /// Liquid-alpha sigmoid steepness, used divided by 100. Default 1000.
    pub alpha_sigmoid_steepness: i16,
    /// Stake below which a UID counts as unstaked in the epoch, in rao. Default 0.
    pub stake_threshold: Rao,
    /// Whether a UID's metadata commitment wipes the bonds held on it. Default false.
    pub bonds_reset_enabled: bool,
    /// Registration cost, burned, in rao. Default 1 token.
    pub burn: Rao,
    /// Emission added to the subnet's pool each block, in rao. Default 1 token.
    pub emission_per_block: Rao,
    /// Share of each epoch's pool paid to the subnet owner, u16 ratio. Default 11796 (18 %).
    pub owner_cut: u16,
}

/// The largest subnet this chain supports.
pub const MAX_UIDS: u16 = 4096;
/// One token in rao.
pub const TOKEN: Rao = Rao(1_000_000_000);
/// Lowest allowed `alpha_low`, as on Bittensor.
pub const MIN_ALPHA_LOW: u16 = 1638;

impl Default for Hyperparameters {
    fn default() -> Self {
        Self {
            tempo: 360,
            kappa: 32_767,
            bonds_moving_avg: 900_000,
            bonds_penalty: u16::MAX,
            activity_cutoff: 5000,
            immunity_period: 5000,
            max_allowed_uids: 256,
            max_allowed_validators: 64,
            min_allowed_weights: 1,
            max_weight_limit: u16::MAX,
            weights_rate_limit: 100,
            weights_version: 0,
            commit_reveal_weights_enabled: false,
            commit_reveal_period: 1,
            yuma3_enabled: true,
            liquid_alpha_enabled: false,
            alpha_low: 45_875,
            alpha_high: 58_982,
            alpha_sigmoid_steepness: 1000,
            stake_threshold: Rao(0),
            bonds_reset_enabled: false,
            burn: TOKEN,
            emission_per_block: TOKEN,
            owner_cut: 11_796,
        }
    }
}

/// A hyperparameter value outside its allowed range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("hyperparameter `{name}` {reason}")]
pub struct HyperparameterError {
    /// The field's name, as in `subnet.toml`.
    pub name: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Hyperparameters {
    /// Checks every range the chain enforces.
    ///
    /// # Errors
    /// The first field out of range, by name.
    pub fn validate(&self) -> Result<(), HyperparameterError> {
        let fail = |name: &str, reason: String| {
            Err(HyperparameterError {
                name: name.to_owned(),
                reason,
            })
        };
        if self.tempo == 0 {
            return fail("tempo", "must be at least 1 block".into());
        }
        if self.bonds_moving_avg > 1_000_000 {
            return fail(
                "bonds_moving_avg",
                "must be at most 1000000 (parts per million)".into(),
            );
        }
        if self.activity_cutoff == 0 {
            return fail("activity_cutoff", "must be at least 1 block".into());
        }
        if self.max_allowed_uids == 0 || self.max_allowed_uids > MAX_UIDS {
            return fail("max_allowed_uids", format!("must be in 1..={MAX_UIDS}"));
        }
        if self.max_allowed_validators == 0 || self.max_allowed_validators > self.max_allowed_uids {
            return fail(
                "max_allowed_validators",
                "must be in 1..=max_allowed_uids".into(),
            );
        }
        if self.min_allowed_weights > self.max_allowed_uids {
            return fail(
                "min_allowed_weights",
                "must be at most max_allowed_uids".into(),
            );
        }
        if self.max_weight_limit == 0 {
            return fail("max_weight_limit", "must be above 0".into());
        }
        if self.commit_reveal_period == 0 {
            return fail("commit_reveal_period", "must be at least 1 tempo".into());
        }
        if self.alpha_low < MIN_ALPHA_LOW {
            return fail("alpha_low", format!("must be at least {MIN_ALPHA_LOW}"));
        }
        if self.alpha_low > self.alpha_high {
            return fail("alpha_high", "must be at least alpha_low".into());
        }
        Ok(())
    }

    /// Parses `subnet.toml` (a `[hyperparameters]` table, or the fields at top level), then
    /// validates.
    ///
    /// # Errors
    /// A TOML error naming the line, or the first field out of range.
    pub fn from_toml(text: &str) -> Result<Self, HyperparameterError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            hyperparameters: Hyperparameters,
        }
        let parsed = toml::from_str::<File>(text)
            .map(|f| f.hyperparameters)
            .or_else(|_| toml::from_str::<Self>(text))
            .map_err(|e| HyperparameterError {
                name: "subnet.toml".into(),
                reason: e.message().to_owned(),
            })?;
        parsed.validate()?;
        Ok(parsed)
    }

    /// Sets one field from its `subnet.toml` name and a textual value (`subnet hyperparams --set`).
    ///
    /// # Errors
    /// Unknown name or unparsable value. The result is not validated; call [`Self::validate`].
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), HyperparameterError> {
        let mut table = toml::Table::try_from(&*self).map_err(|e| HyperparameterError {
            name: name.into(),
            reason: e.to_string(),
        })?;
        if !table.contains_key(name) {
            return Err(HyperparameterError {
                name: name.into(),
                reason: "is not known".into(),
            });
        }
        let parsed: toml::Value = format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.to_owned()));
        table.insert(name.to_owned(), parsed);
        *self = table
            .try_into()
            .map_err(|e: toml::de::Error| HyperparameterError {
                name: name.into(),
                reason: e.message().to_owned(),
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip_through_toml() {
        let h = Hyperparameters::default();
        h.validate().unwrap();
        let text = toml::to_string(&h).unwrap();
        assert_eq!(Hyperparameters::from_toml(&text).unwrap(), h);
        let wrapped = "[hyperparameters]\ntempo = 12\nkappa = 100\n";
        let parsed = Hyperparameters::from_toml(wrapped).unwrap();
        assert_eq!((parsed.tempo, parsed.kappa, parsed.burn), (12, 100, TOKEN));
    }

    #[test]
    fn rejects_out_of_range_and_unknown_fields() {
        let err = Hyperparameters::from_toml("tempo = 0").unwrap_err();
        assert_eq!(err.name, "tempo");
        let err = Hyperparameters::from_toml("alpha_low = 100").unwrap_err();
        assert_eq!(err.name, "alpha_low");
        let err = Hyperparameters::from_toml("tempoo = 3").unwrap_err();
        assert!(err.reason.contains("tempoo"), "{err}");
        let err = Hyperparameters::from_toml("tempo = \"fast\"").unwrap_err();
        assert_eq!(err.name, "subnet.toml");
        let h = Hyperparameters {
            max_allowed_validators: 300,
            ..Default::default()
        };
        assert_eq!(h.validate().unwrap_err().name, "max_allowed_validators");
    }

    #[test]
    fn set_by_name() {
        let mut h = Hyperparameters::default();
        h.set("tempo", "7").unwrap();
        h.set("commit_reveal_weights_enabled", "true").unwrap();
        h.set("burn", "5").unwrap();
        assert_eq!(
            (h.tempo, h.commit_reveal_weights_enabled, h.burn),
            (7, true, Rao(5))
        );
        assert!(h.set("nope", "1").is_err());
        assert!(h.set("tempo", "seven").is_err());
        assert!(h.set("tempo", "70000").is_err());
    }
}
