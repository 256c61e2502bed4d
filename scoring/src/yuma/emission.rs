//! Emission split (YUMA_SPEC §8).

use super::prepare::{normalized, sum};
use crate::fixed::{I32F32, emission_amount};

/// Which vector replaced the shares when incentive and dividends were all zero (§8.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EmissionFallback {
    /// Shares follow the normalised active stake.
    ActiveStake,
    /// No active stake either: shares follow the normalised stake.
    Stake,
}

impl EmissionFallback {
    /// The name used in `consensus-io.md`: `"active_stake"` or `"stake"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ActiveStake => "active_stake",
            Self::Stake => "stake",
        }
    }
}

/// Shares and token amounts of one epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmissionSplit {
    /// `incentive_i ÷ tot` (miners' side).
    pub server_share: Vec<I32F32>,
    /// `dividends_i ÷ tot` (validators' side), or the fallback.
    pub validator_share: Vec<I32F32>,
    /// `normalise(incentive + dividends)`, or the fallback.
    pub combined_share: Vec<I32F32>,
    /// Set when `tot = 0` and the fallback was used.
    pub fallback: Option<EmissionFallback>,
    /// `⌊server_share_i · E⌋`.
    pub server_emission: Vec<u64>,
    /// `⌊validator_share_i · E⌋`.
    pub validator_emission: Vec<u64>,
    /// `⌊combined_share_i · E⌋`.
    pub emission: Vec<u64>,
}

/// §8 emission split.
///
/// With `tot = Σ (incentive + dividends)`: if `tot ≠ 0`, `server = incentive ÷ tot`,
/// `validator = dividends ÷ tot`, `combined = normalise(incentive + dividends)`; otherwise
/// `server = 0` and `validator = combined = active_stake` (or `stake` when the active stake sums
/// to 0). Amounts are `⌊share · E⌋` in the chain's I96F32; the flooring dust is not redistributed.
pub fn emission_split(
    incentive: &[I32F32],
    dividends: &[I32F32],
    active_stake: &[I32F32],
    stake: &[I32F32],
    rao_emission: u64,
) -> EmissionSplit {
    let combined: Vec<I32F32> = incentive
        .iter()
        .zip(dividends)
        .map(|(i, d)| i.saturating_add(*d))
        .collect();
    let total = sum(&combined);
    let divide = |v: &[I32F32]| -> Vec<I32F32> {
        if total == I32F32::ZERO {
            v.to_vec()
        } else {
            v.iter().map(|x| x.safe_div(total)).collect()
        }
    };
    let server_share = divide(incentive);
    let mut validator_share = divide(dividends);
    let mut combined_share = normalized(combined);
    let mut fallback = None;
    if total == I32F32::ZERO {
        let (source, kind) = if sum(active_stake) == I32F32::ZERO {
            (stake, EmissionFallback::Stake)
        } else {
            (active_stake, EmissionFallback::ActiveStake)
        };
        validator_share = source.to_vec();
        combined_share = source.to_vec();
        fallback = Some(kind);
    }
    let amounts = |shares: &[I32F32]| -> Vec<u64> {
        shares
            .iter()
            .map(|s| emission_amount(*s, rao_emission))
            .collect()
    };
    EmissionSplit {
        server_emission: amounts(&server_share),
        validator_emission: amounts(&validator_share),
        emission: amounts(&combined_share),
        server_share,
        validator_share,
        combined_share,
        fallback,
    }
}
