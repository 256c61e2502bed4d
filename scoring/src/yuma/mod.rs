//! One Yuma Consensus epoch, bit-exact with Bittensor's chain (`shared/YUMA_SPEC.md`).
//!
//! [`epoch`] runs the spec's steps in order, each a named function in a submodule:
//!
//! | spec | step | function |
//! | --- | --- | --- |
//! | §4.1 | activity | [`prepare::activity`] |
//! | §4.2 | stake, threshold, permits | [`prepare::stake_weights`], [`prepare::top_k_nonzero`], [`prepare::new_validator_permits`], [`prepare::epoch_permits`] |
//! | §4.3 | active stake, weight masks, row normalise | [`prepare::active_stake`], `prepare::MaskedWeights` |
//! | §5.1 | kappa-median consensus | [`consensus::weighted_median`] (the chain's search), `consensus::consensus` |
//! | §5.2–5.4 | clipping, validator trust, ranks/incentive, trust, bond weights | `consensus::Clip::row`, `consensus::Ranks` |
//! | §6 | bond column reset | [`bonds::bond_reset_columns`] |
//! | §7 | bonds and dividends | `bonds::original`, `bonds::yuma3`, [`bonds::liquid_alpha`], `bonds::storage_rows` |
//! | §8 | emission split | [`emission::emission_split`] |
//!
//! The cost follows the number of entries that exist (in practice only validator rows are
//! non-empty) rather than `n²`, and the stored matrices are read in place: the masked,
//! normalised weights are recomputed on each read rather than copied, consensus gathers the
//! voters' rows a block of columns at a time, and one pass per row does clipping, ranks and
//! the bond EMA, writing the bond rows that the output returns. Dense and sparse inputs
//! ([`U16Matrix`]) give identical outputs.

pub mod bonds;
pub mod consensus;
pub mod emission;
mod matrix;
mod output;
pub mod prepare;

pub use emission::{EmissionFallback, EmissionSplit};
pub use matrix::U16Matrix;
pub use output::{BondRow, EpochOutput, to_u16_proportions};

use crate::fixed::I32F32;

/// Largest subnet an epoch accepts: UIDs are u16.
pub const MAX_UIDS: usize = 1 << 16;

/// Per-subnet hyperparameters that act inside the epoch (YUMA_SPEC §2.2).
///
/// `Default` gives the chain's storage defaults (original Yuma, liquid alpha off) with
/// `max_allowed_validators = 128` and `rao_emission = 0`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochParams {
    /// Stake majority defining consensus, as a u16 ratio (`kappa / 65535`); default 32767.
    pub kappa: u16,
    /// EMA memory in parts per million; the EMA rate is `1 - bonds_moving_avg / 10⁶`.
    /// Default 900 000.
    pub bonds_moving_avg: u64,
    /// u16 ratio: 65535 buys bonds with clipped weights, 0 with raw weights. Default 65535.
    pub bonds_penalty: u16,
    /// Number of validator permits (top-k stake). Default 128.
    pub max_allowed_validators: u16,
    /// Per-entry EMA rate (liquid alpha); only used when `yuma3_enabled`. Default false.
    pub liquid_alpha_enabled: bool,
    /// Liquid-alpha lower rate as a u16 ratio. Default 45875 (0.7).
    pub alpha_low: u16,
    /// Liquid-alpha upper rate as a u16 ratio. Default 58982 (0.9).
    pub alpha_high: u16,
    /// Liquid-alpha sigmoid steepness, used divided by 100. Default 1000.
    pub alpha_sigmoid_steepness: i16,
    /// Yuma3 bonds (§7.2) instead of the original ones (§7.1). Default false.
    pub yuma3_enabled: bool,
    /// Reproduce the chain's sparse-path quirk in Yuma3 with liquid alpha (§9): a bond whose
    /// bond-weight entry is absent drops to 0 instead of decaying. Default false (the spec).
    pub yuma3_sparse_drop: bool,
    /// Stake units below which a UID's stake counts as 0 (the owner is exempt). Default 0.
    pub stake_threshold: u64,
    /// Token units distributed by this epoch. Default 0.
    pub rao_emission: u64,
    /// UID of the subnet owner's hotkey: always permitted, threshold-exempt, keeps its
    /// self-weight. A UID `>= n` is ignored, as on the chain. Default none.
    pub owner_uid: Option<u16>,
}

impl Default for EpochParams {
    fn default() -> Self {
        Self {
            kappa: 32_767,
            bonds_moving_avg: 900_000,
            bonds_penalty: u16::MAX,
            max_allowed_validators: 128,
            liquid_alpha_enabled: false,
            alpha_low: 45_875,
            alpha_high: 58_982,
            alpha_sigmoid_steepness: 1_000,
            yuma3_enabled: false,
            yuma3_sparse_drop: false,
            stake_threshold: 0,
            rao_emission: 0,
            owner_uid: None,
        }
    }
}

/// The state one epoch reads (YUMA_SPEC §2.1). Every vector has length `n = stake.len()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochInputs {
    /// Weights as stored (`n × n`, row `i` = what UID `i` set, max-upscaled u16).
    pub weights: U16Matrix,
    /// Bonds stored by the previous epoch (`n × n`; format depends on the bonds mode, §7.3).
    pub bonds_prev: U16Matrix,
    /// Raw stake per UID, in token units.
    pub stake: Vec<u64>,
    /// Whether each UID is active (see [`prepare::activity`]).
    pub active: Vec<bool>,
    /// Validator permits stored by the previous epoch.
    pub validator_permits_prev: Vec<bool>,
    /// Block at which each UID last set weights; with `block_at_registration` it masks outdated
    /// weights (§4.3.5). `None`: no outdated mask.
    pub last_update: Option<Vec<u64>>,
    /// Block at which each UID's current holder registered.
    pub block_at_registration: Option<Vec<u64>>,
    /// Commit-reveal mask (§4.3.6): per UID, the block of its earliest unexpired weight commit.
    /// Needs `block_at_registration`. `None`: commit-reveal off.
    pub weight_commit_blocks: Option<Vec<Option<u64>>>,
    /// Bond columns to drop before use (§6), e.g. from [`bonds::bond_reset_columns`].
    pub bonds_reset_cols: Option<Vec<bool>>,
}

impl EpochInputs {
    /// Inputs for `n` UIDs with no weights, no bonds, no stake, all active, no permits.
    pub fn empty(n: usize) -> Self {
        Self {
            weights: U16Matrix::empty_sparse(n),
            bonds_prev: U16Matrix::empty_sparse(n),
            stake: vec![0; n],
            active: vec![true; n],
            validator_permits_prev: vec![false; n],
            last_update: None,
            block_at_registration: None,
            weight_commit_blocks: None,
            bonds_reset_cols: None,
        }
    }
}

/// Why an epoch's inputs were rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EpochError {
    /// More UIDs than u16 can address.
    #[error("too many UIDs: {n} (at most 65536)")]
    TooManyUids {
        /// The subnet size (`stake.len()`).
        n: usize,
    },
    /// A vector or matrix has the wrong number of entries or rows.
    #[error("`{field}` has length {found}, expected n = {expected}")]
    LengthMismatch {
        /// The input field.
        field: &'static str,
        /// `n`.
        expected: usize,
        /// What was given.
        found: usize,
    },
    /// A dense matrix row is not `n` long.
    #[error("`{field}` row {row} has {found} entries, expected n = {expected}")]
    RowLengthMismatch {
        /// The input field.
        field: &'static str,
        /// The row (UID).
        row: usize,
        /// `n`.
        expected: usize,
        /// What was given.
        found: usize,
    },
    /// A sparse matrix entry names a column `>= n`.
    #[error("`{field}` row {row} has column {column}, but n = {n}")]
    ColumnOutOfRange {
        /// The input field.
        field: &'static str,
        /// The row (UID).
        row: usize,
        /// The column given.
        column: u16,
        /// Subnet size.
        n: usize,
    },
    /// A sparse matrix row's columns are not strictly increasing (unsorted or duplicated).
    #[error("`{field}` row {row}: columns are not strictly increasing")]
    UnsortedRow {
        /// The input field.
        field: &'static str,
        /// The row (UID).
        row: usize,
    },
    /// A mask needs `block_at_registration`, which was not given.
    #[error("`{field}` needs `block_at_registration`")]
    MissingBlockAtRegistration {
        /// The input field that needs it.
        field: &'static str,
    },
}

/// Memory one epoch can reuse from an earlier one: the bond rows of outputs the caller is done
/// with.
///
/// At n = 4096 with 256 validators an epoch returns about 16 MB of bond rows. A caller that
/// drops them and runs the next epoch lets the allocator give that memory back to the kernel,
/// and the next epoch page-faults it in again (about a fifth of the epoch's time). Handing
/// the rows back with [`EpochBuffers::recycle`] and running the next epoch with
/// [`epoch_with_buffers`] reuses them instead. Outputs do not depend on it: only where the rows
/// live changes.
#[derive(Debug, Default)]
pub struct EpochBuffers {
    rows: bonds::SpareRows,
}

impl EpochBuffers {
    /// No spare memory yet.
    pub const fn new() -> Self {
        Self { rows: Vec::new() }
    }

    /// Takes back the bond rows of an output (its [`EpochOutput::bonds`]) for the next epochs
    /// to fill. At most [`MAX_UIDS`] rows are kept.
    pub fn recycle(&mut self, bonds: Vec<BondRow>) {
        // Reversed, so that the next epoch's first rows (which it takes first) get the first
        // rows' memory: a UID's row has about the same length from one epoch to the next.
        for row in bonds.into_iter().rev() {
            if self.rows.len() >= MAX_UIDS {
                break;
            }
            if let BondRow::Store(row) = row
                && row.capacity() > 0
            {
                self.rows.push(row);
            }
        }
    }

    /// Spare rows held.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no spare row is held.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

fn check_len<T>(field: &'static str, v: &[T], n: usize) -> Result<(), EpochError> {
    if v.len() == n {
        Ok(())
    } else {
        Err(EpochError::LengthMismatch {
            field,
            expected: n,
            found: v.len(),
        })
    }
}

/// Runs one Yuma Consensus epoch (YUMA_SPEC §4–§8) in the chain's fixed-point arithmetic.
///
/// Pure and deterministic: the same inputs give bit-identical outputs on every machine.
///
/// # Errors
/// [`EpochError`] when the inputs are inconsistent: a vector or matrix whose length is not
/// `n = stake.len()`, a ragged dense row, an out-of-range or unsorted sparse entry, more than
/// [`MAX_UIDS`] UIDs, or a mask without `block_at_registration`. Any consistent input, including
/// `n = 0`, all-zero stake or all-zero weights, gives an output.
///
/// # Example
/// ```
/// use subnet_scoring::yuma::{epoch, EpochInputs, EpochParams, U16Matrix};
///
/// // UID 0 validates and puts all its weight on miner UID 1.
/// let inputs = EpochInputs {
///     weights: U16Matrix::Dense(vec![vec![0, 65535], vec![0, 0]]),
///     stake: vec![100, 0],
///     validator_permits_prev: vec![true, false],
///     ..EpochInputs::empty(2)
/// };
/// let params = EpochParams { rao_emission: 1_000, ..EpochParams::default() };
/// let out = epoch(&inputs, &params)?;
/// assert_eq!(out.server_emission, vec![0, 500]);
/// assert_eq!(out.validator_emission, vec![500, 0]);
/// # Ok::<(), subnet_scoring::yuma::EpochError>(())
/// ```
pub fn epoch(inputs: &EpochInputs, params: &EpochParams) -> Result<EpochOutput, EpochError> {
    epoch_with_buffers(inputs, params, &mut EpochBuffers::new())
}

/// [`epoch`], building the output's bond rows in the spare memory of `buffers` (see
/// [`EpochBuffers`]) where it has some. The output is bit-identical to [`epoch`]'s.
///
/// # Errors
/// As [`epoch`].
pub fn epoch_with_buffers(
    inputs: &EpochInputs,
    params: &EpochParams,
    buffers: &mut EpochBuffers,
) -> Result<EpochOutput, EpochError> {
    let n = inputs.stake.len();
    if n > MAX_UIDS {
        return Err(EpochError::TooManyUids { n });
    }
    check_len("active", &inputs.active, n)?;
    check_len("validator_permits_prev", &inputs.validator_permits_prev, n)?;
    let registration = inputs.block_at_registration.as_deref();
    if let Some(v) = registration {
        check_len("block_at_registration", v, n)?;
    }
    let outdated = match (inputs.last_update.as_deref(), registration) {
        (Some(last_update), Some(registered)) => {
            check_len("last_update", last_update, n)?;
            Some((last_update, registered))
        }
        (Some(_), None) => {
            return Err(EpochError::MissingBlockAtRegistration {
                field: "last_update",
            });
        }
        (None, _) => None,
    };
    let commits = match (inputs.weight_commit_blocks.as_deref(), registration) {
        (Some(commits), Some(registered)) => {
            check_len("weight_commit_blocks", commits, n)?;
            Some((commits, registered))
        }
        (Some(_), None) => {
            return Err(EpochError::MissingBlockAtRegistration {
                field: "weight_commit_blocks",
            });
        }
        (None, _) => None,
    };
    if let Some(v) = inputs.bonds_reset_cols.as_deref() {
        check_len("bonds_reset_cols", v, n)?;
    }
    let weights_stored = inputs.weights.checked_rows(n, "weights")?;
    let bonds_stored = inputs.bonds_prev.checked_rows(n, "bonds_prev")?;
    let owner = params.owner_uid.filter(|&uid| usize::from(uid) < n);

    // §4.2 stake and permits, §4.3 active stake and weights.
    let stake = prepare::stake_weights(&inputs.stake, params.stake_threshold, owner);
    let validator_permits =
        prepare::new_validator_permits(&stake, params.max_allowed_validators, owner);
    let permits = prepare::epoch_permits(&inputs.validator_permits_prev, owner);
    let active_stake = prepare::active_stake(&stake, &inputs.active, &permits);
    let weights = prepare::MaskedWeights::new(
        weights_stored,
        &prepare::WeightMasks {
            permits: &permits,
            owner,
            outdated,
            commits,
        },
    );

    // §5.1 consensus; §5.2–5.4 (clipping, trust, ranks, bond weights) run row by row inside the
    // bond pass, which reads each weight row once more.
    let consensus = consensus::consensus(
        &active_stake,
        &weights,
        I32F32::from_u16_ratio(params.kappa),
    );
    let clip = consensus::Clip::new(&consensus, I32F32::from_u16_ratio(params.bonds_penalty));

    // §6 and §7 bonds and dividends.
    let bond_inputs = bonds::BondInputs {
        bonds_prev: bonds_stored,
        reset_cols: inputs.bonds_reset_cols.as_deref(),
        weights: &weights,
        clip: &clip,
        active_stake: &active_stake,
        consensus: &consensus,
    };
    let mut ema = if params.yuma3_enabled {
        bonds::yuma3(&bond_inputs, params, &mut buffers.rows)
    } else {
        bonds::original(&bond_inputs, params, &mut buffers.rows)
    };
    let (ranks, trust) = ema.ranks.ranks_and_trust();
    let incentive = prepare::normalized(ranks);
    let dividends = if params.yuma3_enabled {
        bonds::yuma3_dividends(&ema, &incentive, &active_stake)
    } else {
        bonds::original_dividends(&mut ema, &incentive)
    };
    let liquid_alpha_used = ema.liquid_alpha_used;
    let validator_trust = core::mem::take(&mut ema.ranks.validator_trust);
    let bonds = bonds::storage_rows(ema.rows, &validator_permits, &permits);

    // §8 emission.
    let split = emission::emission_split(
        &incentive,
        &dividends,
        &active_stake,
        &stake,
        params.rao_emission,
    );

    Ok(EpochOutput {
        stake,
        active_stake,
        consensus,
        validator_trust,
        incentive,
        trust,
        dividends,
        emission_incentive_share: split.server_share,
        emission_dividend_share: split.validator_share,
        emission_combined_share: split.combined_share,
        validator_permits,
        emission_fallback: split.fallback,
        liquid_alpha_used,
        bonds,
        server_emission: split.server_emission,
        validator_emission: split.validator_emission,
        emission: split.emission,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` UIDs, the first `v` validators weighting every miner; `seed` varies the weights.
    fn inputs(n: usize, v: usize, seed: u64) -> EpochInputs {
        let weights = (0..n)
            .map(|i| {
                if i >= v {
                    return Vec::new();
                }
                (v..n)
                    .filter(|j| !(*j as u64 + seed + i as u64).is_multiple_of(7))
                    .map(|j| {
                        let w = (j as u64 * 2_654_435_761 + i as u64 * 97 + seed * 13) % 65_535;
                        (j as u16, w as u16 + 1)
                    })
                    .collect()
            })
            .collect();
        EpochInputs {
            weights: U16Matrix::Sparse(weights),
            stake: (0..n)
                .map(|i| if i < v { 1_000 + i as u64 } else { 0 })
                .collect(),
            validator_permits_prev: (0..n).map(|i| i < v).collect(),
            ..EpochInputs::empty(n)
        }
    }

    fn next_bonds(out: &EpochOutput, n: usize) -> U16Matrix {
        U16Matrix::Sparse(
            out.bonds
                .iter()
                .map(|row| row.to_u16_entries().unwrap_or_default())
                .chain(std::iter::repeat(Vec::new()))
                .take(n)
                .collect(),
        )
    }

    #[test]
    fn reused_buffers_give_identical_epochs() {
        let mut buffers = EpochBuffers::new();
        // Rows of another, larger subnet first: spare rows of every size.
        let big = epoch(&inputs(300, 40, 9), &EpochParams::default()).unwrap();
        buffers.recycle(big.bonds);
        assert!(!buffers.is_empty());
        for params in [
            EpochParams::default(),
            EpochParams {
                yuma3_enabled: true,
                ..EpochParams::default()
            },
            EpochParams {
                yuma3_enabled: true,
                liquid_alpha_enabled: true,
                ..EpochParams::default()
            },
        ] {
            let mut bonds = U16Matrix::empty_sparse(120);
            for seed in 0..4 {
                let inputs = EpochInputs {
                    bonds_prev: bonds,
                    ..inputs(120, 8 + seed as usize * 3, seed)
                };
                let fresh = epoch(&inputs, &params).unwrap();
                let reused = epoch_with_buffers(&inputs, &params, &mut buffers).unwrap();
                assert_eq!(fresh, reused);
                bonds = next_bonds(&fresh, 120);
                buffers.recycle(reused.bonds);
                assert!(buffers.len() <= MAX_UIDS);
            }
        }
    }
}
