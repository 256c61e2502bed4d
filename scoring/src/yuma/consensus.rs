//! Consensus, clipping, trust and incentive (YUMA_SPEC §5).

use std::borrow::Cow;

use super::matrix::Csr;
use super::prepare::{normalize, sum};
use crate::fixed::I32F32;

/// Reusable buffers for [`weighted_median`], so that a per-column loop allocates once.
#[derive(Clone, Debug, Default)]
pub struct MedianScratch {
    current: Vec<(I32F32, I32F32)>,
    lower: Vec<(I32F32, I32F32)>,
    upper: Vec<(I32F32, I32F32)>,
}

/// §5.1 the chain's stake-weighted median search, exactly (ties included).
///
/// Returns the value `x` among `score` with `stake-mass{score < x} ≤ minority <
/// stake-mass{score ≤ x}`, found by the chain's deterministic mid-pivot search: partitions keep
/// index order, the pivot is the middle element of the partition, values equal to the pivot go to
/// neither side, and the comparisons are `minority < lo + lo_mass` (go lower) then
/// `hi − hi_mass ≤ minority` (go higher), else the pivot. `total` is the partition's upper edge
/// at the start (the fixed-point sum of `stake`). Empty input gives 0; the search is bounded
/// by `score.len()` rounds (0 if ever exceeded, which cannot happen).
pub fn weighted_median(
    stake: &[I32F32],
    score: &[I32F32],
    minority: I32F32,
    total: I32F32,
    scratch: &mut MedianScratch,
) -> I32F32 {
    let rounds = score.len().min(stake.len());
    let MedianScratch {
        current,
        lower,
        upper,
    } = scratch;
    current.clear();
    // (value, stake) pairs: the partitions copy them in order, with no indirection.
    current.extend(score.iter().copied().zip(stake.iter().copied()));
    lower.resize(current.len(), (I32F32::ZERO, I32F32::ZERO));
    upper.resize(current.len(), (I32F32::ZERO, I32F32::ZERO));
    let (mut lo, mut hi) = (I32F32::ZERO, total);
    for _ in 0..=rounds {
        let len = current.len();
        if len <= 1 {
            return current.first().map_or(I32F32::ZERO, |&(v, _)| v);
        }
        let pivot = current.get(len / 2).map_or(I32F32::ZERO, |&(v, _)| v);
        // Branch-free stable partition: every pair is written to both sides and each side's
        // length advances only when the pair belongs there (comparisons are unpredictable).
        let (mut n_lo, mut n_hi) = (0_usize, 0_usize);
        let (mut lo_mass, mut hi_mass) = (I32F32::ZERO, I32F32::ZERO);
        for &(value, weight) in current.iter() {
            let below = value < pivot;
            let above = value > pivot;
            if let Some(slot) = lower.get_mut(n_lo) {
                *slot = (value, weight);
            }
            if let Some(slot) = upper.get_mut(n_hi) {
                *slot = (value, weight);
            }
            n_lo = n_lo.wrapping_add(usize::from(below));
            n_hi = n_hi.wrapping_add(usize::from(above));
            lo_mass = lo_mass.saturating_add(if below { weight } else { I32F32::ZERO });
            hi_mass = hi_mass.saturating_add(if above { weight } else { I32F32::ZERO });
        }
        if minority < lo.saturating_add(lo_mass) && n_lo > 0 {
            hi = lo.saturating_add(lo_mass);
            current.clear();
            current.extend_from_slice(lower.get(..n_lo).unwrap_or_default());
        } else if hi.saturating_sub(hi_mass) <= minority && n_hi > 0 {
            lo = hi.saturating_sub(hi_mass);
            current.clear();
            current.extend_from_slice(upper.get(..n_hi).unwrap_or_default());
        } else {
            return pivot;
        }
    }
    I32F32::ZERO
}

/// Columns gathered per pass of [`consensus`]: `BLOCK × |V|` values stay in cache.
const BLOCK: usize = 64;

/// §5.1 consensus: per column, the kappa-median of the weights of the voters.
///
/// Voters `V = {i : S_act_i > 0}` in UID order with `σ = normalise(S_act|V)` (re-normalised, as
/// the chain does) and `minority = Σσ − κ`; column `j`'s consensus is [`weighted_median`] over
/// `(W_ij)_{i∈V}`, absent entries counting as 0. Columns nobody weights get 0 without a search.
/// The voters' rows are gathered a block of columns at a time: `O(nnz(V rows) + n · |V|)` time,
/// `O(BLOCK · |V| + n)` extra memory.
pub(crate) fn consensus(
    active_stake: &[I32F32],
    weights: &Csr<I32F32>,
    kappa: I32F32,
) -> Vec<I32F32> {
    let n = active_stake.len();
    let voters: Vec<usize> = (0..n)
        .filter(|&i| active_stake.get(i).is_some_and(|s| *s > I32F32::ZERO))
        .collect();
    let mut sigma: Vec<I32F32> = voters
        .iter()
        .map(|&i| active_stake.get(i).copied().unwrap_or_default())
        .collect();
    normalize(&mut sigma);
    let total = sum(&sigma);
    let minority = total.saturating_sub(kappa);
    let m = voters.len();
    let mut out = vec![I32F32::ZERO; n];
    if m == 0 {
        return out;
    }

    // Each voter's next unread entry; rows are sorted, so blocks are read front to back.
    let mut cursors: Vec<core::ops::Range<usize>> =
        voters.iter().map(|&i| weights.range(i)).collect();
    let mut block = vec![I32F32::ZERO; BLOCK.saturating_mul(m)];
    let mut touched = [false; BLOCK];
    let mut scratch = MedianScratch::default();
    for (block_index, out_block) in out.chunks_mut(BLOCK).enumerate() {
        let first = block_index.saturating_mul(BLOCK);
        let end = first.saturating_add(out_block.len());
        block.fill(I32F32::ZERO);
        touched.fill(false);
        for (k, cursor) in cursors.iter_mut().enumerate() {
            while cursor.start < cursor.end {
                let Some(&j) = weights.cols.get(cursor.start) else {
                    break;
                };
                let j = usize::from(j);
                if j >= end {
                    break;
                }
                let c = j.wrapping_sub(first);
                let w = weights.vals.get(cursor.start).copied().unwrap_or_default();
                if let Some(cell) = block.get_mut(c.saturating_mul(m).saturating_add(k)) {
                    *cell = w;
                }
                if let Some(t) = touched.get_mut(c) {
                    *t |= w != I32F32::ZERO;
                }
                cursor.start = cursor.start.saturating_add(1);
            }
        }
        for ((c, column), consensus) in block.chunks(m).enumerate().zip(out_block.iter_mut()) {
            // A column every voter gives 0: the search returns its first pivot, 0.
            if touched.get(c).copied().unwrap_or(false) {
                *consensus = weighted_median(&sigma, column, minority, total, &mut scratch);
            }
        }
    }
    out
}

/// Values aligned with a weight matrix's entries, with the chain's sparse presence of each entry.
#[derive(Clone, Debug)]
pub(crate) struct Aligned {
    /// One value per entry of the weight matrix.
    pub(crate) vals: Vec<I32F32>,
    /// Whether the chain's sparse matrix keeps the entry (an absent entry has value 0).
    pub(crate) present: Vec<bool>,
}

/// §5.2 clipping: `Wc_ij = min(W_ij, C_j)`.
///
/// An entry clipped to a consensus of 0 is absent from the chain's sparse result.
pub(crate) fn clip(weights: &Csr<I32F32>, consensus: &[I32F32]) -> Aligned {
    let (vals, present) = weights
        .cols
        .iter()
        .zip(&weights.vals)
        .map(|(&j, &w)| {
            let c = consensus.get(usize::from(j)).copied().unwrap_or_default();
            if c < w {
                if c > I32F32::ZERO {
                    (c, true)
                } else {
                    (I32F32::ZERO, false)
                }
            } else {
                (w, true)
            }
        })
        .unzip();
    Aligned { vals, present }
}

/// §5.2 validator trust: `Σ_j Wc_ij` per row (pass the clipped values aligned with `weights`).
pub(crate) fn row_sums(weights: &Csr<I32F32>, aligned: &[I32F32]) -> Vec<I32F32> {
    (0..weights.n_rows())
        .map(|i| sum(aligned.get(weights.range(i)).unwrap_or_default()))
        .collect()
}

/// §5.3 ranks `R_j = Σ_i S_act_i · X_ij` for values `X` aligned with `weights` (clipped weights
/// give the ranks, raw weights the historical pre-ranks).
pub(crate) fn ranks(
    weights: &Csr<I32F32>,
    aligned: &[I32F32],
    active_stake: &[I32F32],
) -> Vec<I32F32> {
    let mut out = vec![I32F32::ZERO; weights.n_rows()];
    for (i, s) in active_stake.iter().enumerate() {
        if *s == I32F32::ZERO {
            continue;
        }
        let range = weights.range(i);
        let cols = weights.cols.get(range.clone()).unwrap_or_default();
        let vals = aligned.get(range).unwrap_or_default();
        for (&j, &x) in cols.iter().zip(vals) {
            if let Some(r) = out.get_mut(usize::from(j)) {
                *r = r.saturating_add(s.saturating_mul(x));
            }
        }
    }
    out
}

/// Bond weights `Wb`, aligned with the weight matrix's entries (borrowed when `β` is 0 or 1).
#[derive(Clone, Debug)]
pub(crate) struct BondWeights<'a> {
    /// One value per entry of the weight matrix.
    pub(crate) vals: Cow<'a, [I32F32]>,
    /// Whether the chain's sparse `Wb` keeps the entry (an absent entry has value 0).
    pub(crate) present: Cow<'a, [bool]>,
}

/// §5.4 weights for bonds: `Wb = W` when `β = 0`, `Wc` when `β = 1`, else
/// `W + β · (Wc − W)`; entries are absent where the chain's sparse interpolation drops them
/// (value not positive).
pub(crate) fn bond_weights<'a>(
    weights: &'a Csr<I32F32>,
    clipped: &'a Aligned,
    beta: I32F32,
) -> BondWeights<'a> {
    if beta == I32F32::ZERO {
        return BondWeights {
            vals: Cow::Borrowed(&weights.vals),
            present: Cow::Owned(vec![true; weights.vals.len()]),
        };
    }
    if beta == I32F32::ONE {
        return BondWeights {
            vals: Cow::Borrowed(&clipped.vals),
            present: Cow::Borrowed(&clipped.present),
        };
    }
    let (vals, present): (Vec<I32F32>, Vec<bool>) = weights
        .vals
        .iter()
        .zip(&clipped.vals)
        .map(|(&w, &wc)| {
            let v = w.saturating_add(beta.saturating_mul(wc.saturating_sub(w)));
            (v, v > I32F32::ZERO)
        })
        .unzip();
    BondWeights {
        vals: Cow::Owned(vals),
        present: Cow::Owned(present),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(bits_over_4: i64) -> I32F32 {
        I32F32::from_bits(bits_over_4 << 30) // quarter units
    }

    fn median(stake: &[I32F32], score: &[I32F32], kappa: I32F32) -> I32F32 {
        let total = sum(stake);
        weighted_median(
            stake,
            score,
            total.saturating_sub(kappa),
            total,
            &mut MedianScratch::default(),
        )
    }

    #[test]
    fn median_is_stake_weighted() {
        let stake = [q(1), q(1), q(2)]; // 0.25, 0.25, 0.5
        let score = [q(4), q(2), q(1)];
        // kappa 0.5: largest x with mass{>= x} >= 0.5 is 0.5 (uid 1's and uid 0's weights).
        assert_eq!(median(&stake, &score, q(2)), q(2));
        // kappa 0 -> column max; kappa 1 -> column min.
        assert_eq!(median(&stake, &score, I32F32::ZERO), q(4));
        assert_eq!(median(&stake, &score, I32F32::ONE), q(1));
        assert_eq!(median(&[], &[], q(2)), I32F32::ZERO);
        assert_eq!(median(&[q(4)], &[q(3)], q(2)), q(3));
    }

    #[test]
    fn median_exact_tie_at_mass_boundary() {
        // Two voters with equal stake 0.5; minority = 1 − κ. With κ = 0.5 exactly, minority = 0.5
        // equals the mass below the higher value: mass{< 0.75} = 0.5 ≤ 0.5 < 1 -> 0.75 (upper).
        let stake = [q(2), q(2)];
        let score = [q(1), q(3)];
        assert_eq!(median(&stake, &score, q(2)), q(3));
        // One ulp more kappa makes minority < 0.5 -> the lower value.
        assert_eq!(
            median(&stake, &score, q(2).saturating_add(I32F32::from_bits(1))),
            q(1)
        );
        // One ulp less kappa -> still the upper value.
        assert_eq!(
            median(&stake, &score, q(2).saturating_sub(I32F32::from_bits(1))),
            q(3)
        );
        // Order does not matter for distinct values.
        assert_eq!(median(&stake, &[q(3), q(1)], q(2)), q(3));
    }

    #[test]
    fn median_chain_kappa_just_under_half() {
        // The chain's default kappa 32767/65535 is just under 0.5: equal-stake halves give the
        // upper value.
        let kappa = I32F32::from_u16_ratio(32_767);
        let stake = [q(2), q(2)];
        assert_eq!(median(&stake, &[q(0), q(4)], kappa), q(4));
        let kappa = I32F32::from_u16_ratio(32_768);
        assert_eq!(median(&stake, &[q(0), q(4)], kappa), q(0));
    }

    #[test]
    fn median_ties_with_pivot_go_to_neither_side() {
        // Equal scores: returns the shared value whatever the stake.
        let stake = [q(1), q(1), q(2)];
        assert_eq!(median(&stake, &[q(2), q(2), q(2)], q(2)), q(2));
        // Pivot (middle, uid 1) equals uid 2: its mass counts on neither side.
        let score = [q(4), q(1), q(1)];
        // mass{< 0.25} = 0; mass{> 0.25} = 0.25; minority 0.5: hi − 0.25 = 0.75 > 0.5 -> pivot.
        assert_eq!(median(&stake, &score, q(2)), q(1));
    }
}
