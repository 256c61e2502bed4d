//! What an epoch produces.

use super::emission::EmissionFallback;
use super::matrix::U16Matrix;
use crate::fixed::I32F32;

/// The chain's `floor_u16` of each proportion: `min(65535, max(0, ⌊x · 65535⌋))`.
pub fn to_u16_proportions(v: &[I32F32]) -> Vec<u16> {
    v.iter().map(|x| x.to_u16_proportion()).collect()
}

/// What the chain stores for one UID's bond row after the epoch (YUMA_SPEC §7.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BondRow {
    /// The UID holds a new permit: store these entries (sorted, positive, in the stored-bond
    /// convention before flooring: column max-upscaled for original Yuma, the bond itself for
    /// Yuma3). The u16 stored is [`I32F32::to_u16_proportion`] of each value.
    Store(Vec<(u16, I32F32)>),
    /// The UID lost its permit: store an empty row.
    Clear,
    /// The UID had no permit: its stored row is left as it was.
    Keep,
}

impl BondRow {
    /// The u16 entries to store; `None` for [`BondRow::Keep`].
    pub fn to_u16_entries(&self) -> Option<Vec<(u16, u16)>> {
        match self {
            Self::Store(entries) => Some(
                entries
                    .iter()
                    .map(|&(j, v)| (j, v.to_u16_proportion()))
                    .collect(),
            ),
            Self::Clear => Some(Vec::new()),
            Self::Keep => None,
        }
    }
}

/// Outputs of one epoch (YUMA_SPEC §5–§8). Vectors have length `n`; proportions are I32F32.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochOutput {
    /// Normalised stake after the threshold, `S`.
    pub stake: Vec<I32F32>,
    /// Normalised stake of active UIDs with a permit, `S_act`.
    pub active_stake: Vec<I32F32>,
    /// Kappa-median consensus weight per UID, `C`.
    pub consensus: Vec<I32F32>,
    /// Sum of each validator's clipped weights.
    pub validator_trust: Vec<I32F32>,
    /// Normalised ranks (= the removed `rank` output).
    pub incentive: Vec<I32F32>,
    /// Historical trust `R_j ÷ prerank_j` (removed from the chain in Oct 2025; diagnostic).
    pub trust: Vec<I32F32>,
    /// Normalised dividends.
    pub dividends: Vec<I32F32>,
    /// Miners' share of the emission.
    pub emission_incentive_share: Vec<I32F32>,
    /// Validators' share of the emission.
    pub emission_dividend_share: Vec<I32F32>,
    /// Combined share (the removed pruning score before max-upscaling).
    pub emission_combined_share: Vec<I32F32>,
    /// New validator permits, stored for the next epoch.
    pub validator_permits: Vec<bool>,
    /// Set when incentive and dividends were all zero (§8.3).
    pub emission_fallback: Option<EmissionFallback>,
    /// Whether liquid alpha set the bond EMA rates (Yuma3 only).
    pub liquid_alpha_used: bool,
    /// Per UID, what to store as its bond row.
    pub bonds: Vec<BondRow>,
    /// Miner emission per UID, in token units.
    pub server_emission: Vec<u64>,
    /// Validator emission per UID, in token units (used as proportions by the coinbase).
    pub validator_emission: Vec<u64>,
    /// Combined emission per UID, in token units.
    pub emission: Vec<u64>,
}

impl EpochOutput {
    /// Stake weight as stored (u16).
    pub fn stake_u16(&self) -> Vec<u16> {
        to_u16_proportions(&self.stake)
    }

    /// Consensus as stored (u16).
    pub fn consensus_u16(&self) -> Vec<u16> {
        to_u16_proportions(&self.consensus)
    }

    /// Incentive as stored (u16).
    pub fn incentive_u16(&self) -> Vec<u16> {
        to_u16_proportions(&self.incentive)
    }

    /// Dividends as stored (u16).
    pub fn dividends_u16(&self) -> Vec<u16> {
        to_u16_proportions(&self.dividends)
    }

    /// Validator trust as stored (u16).
    pub fn validator_trust_u16(&self) -> Vec<u16> {
        to_u16_proportions(&self.validator_trust)
    }

    /// Historical trust as the chain stored it before Oct 2025 (u16).
    pub fn trust_u16(&self) -> Vec<u16> {
        to_u16_proportions(&self.trust)
    }

    /// The full `n × n` bond matrix stored after this epoch, given the one stored before.
    pub fn stored_bonds_u16(&self, bonds_prev: &U16Matrix) -> Vec<Vec<u16>> {
        let n = self.bonds.len();
        self.bonds
            .iter()
            .enumerate()
            .map(|(i, row)| match row.to_u16_entries() {
                Some(entries) => dense(n, entries),
                None => bonds_prev.dense_row(i, n),
            })
            .collect()
    }

    /// The full `n × n` bond matrix in the stored convention before flooring; rows left
    /// unchanged are their stored u16 values read as proportions (`k / 65535`).
    pub fn stored_bonds(&self, bonds_prev: &U16Matrix) -> Vec<Vec<I32F32>> {
        let n = self.bonds.len();
        self.bonds
            .iter()
            .enumerate()
            .map(|(i, row)| match row {
                BondRow::Store(entries) => dense(n, entries.iter().copied()),
                BondRow::Clear => vec![I32F32::ZERO; n],
                BondRow::Keep => bonds_prev
                    .dense_row(i, n)
                    .into_iter()
                    .map(I32F32::from_u16_ratio)
                    .collect(),
            })
            .collect()
    }
}

fn dense<T: Copy + Default>(n: usize, entries: impl IntoIterator<Item = (u16, T)>) -> Vec<T> {
    let mut row = vec![T::default(); n];
    for (j, v) in entries {
        if let Some(cell) = row.get_mut(usize::from(j)) {
            *cell = v;
        }
    }
    row
}
