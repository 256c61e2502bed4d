//! Preparation (YUMA_SPEC §4): activity, stake and validator permits, active stake, weight masks.

use super::matrix::Csr;
use crate::fixed::{I32F32, I64F64, U64Divisor};

/// §4.1 activity: `active_i = ¬(last_update_i + activity_cutoff < current_block)`.
///
/// The sum saturates, so a UID updated near `u64::MAX` stays active.
pub fn activity(last_update: &[u64], activity_cutoff: u64, current_block: u64) -> Vec<bool> {
    last_update
        .iter()
        .map(|&updated| updated.saturating_add(activity_cutoff) >= current_block)
        .collect()
}

/// The chain's activity cutoff in blocks: `max(1, ⌊factor_milli · tempo / 1000⌋)`
/// (factor 13 889 at tempo 360 gives 5000).
pub fn activity_cutoff_blocks(factor_milli: u64, tempo: u16) -> u64 {
    (factor_milli.saturating_mul(u64::from(tempo)) / 1000).max(1)
}

/// Sum of fixed-point values, saturating (the chain's sums never reach the bounds).
pub fn sum(v: &[I32F32]) -> I32F32 {
    v.iter().fold(I32F32::ZERO, |acc, x| acc.saturating_add(*x))
}

/// "normalise v" (§1): `v_i ← v_i ÷ Σv`, unless the sum is exactly 0 (then unchanged).
pub fn normalize(v: &mut [I32F32]) {
    let total = sum(v);
    if total != I32F32::ZERO {
        for x in v.iter_mut() {
            *x = x.safe_div(total);
        }
    }
}

/// [`normalize`] by value.
pub fn normalized(mut v: Vec<I32F32>) -> Vec<I32F32> {
    normalize(&mut v);
    v
}

/// §4.2 steps 1–2: stake weights `S`.
///
/// `s_i = stake_i` (as I64F64, saturating above 2⁶³), or 0 when `⌊s_i⌋ < stake_threshold` and
/// `i` is not the owner; then `S = normalise(s)` in I64F64, truncated to I32F32.
pub fn stake_weights(stake: &[u64], stake_threshold: u64, owner: Option<u16>) -> Vec<I32F32> {
    let filtered: Vec<I64F64> = stake
        .iter()
        .enumerate()
        .map(|(uid, &s)| {
            let s = I64F64::saturating_from_u64(s);
            let is_owner = owner.is_some_and(|o| usize::from(o) == uid);
            if !is_owner && s.to_u64_saturating() < stake_threshold {
                I64F64::ZERO
            } else {
                s
            }
        })
        .collect();
    let total = filtered
        .iter()
        .fold(I64F64::ZERO, |acc, s| acc.saturating_add(*s));
    filtered
        .into_iter()
        .map(|s| {
            if total == I64F64::ZERO {
                s.to_i32f32()
            } else {
                s.safe_div(total).to_i32f32()
            }
        })
        .collect()
}

/// §4.2 step 3: the chain's `is_topk_nonzero`.
///
/// Starts from `S_i ≠ 0`; when `n ≥ k`, sorts the indices by `S_i` ascending with a stable sort
/// (ties keep UID order) and clears the first `n − k`. Among equal stakes at the cut the higher
/// UIDs keep their permits.
pub fn top_k_nonzero(stake: &[I32F32], k: usize) -> Vec<bool> {
    let n = stake.len();
    let mut result: Vec<bool> = stake.iter().map(|s| *s != I32F32::ZERO).collect();
    if n < k {
        return result;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| stake.get(i).copied().unwrap_or_default());
    for &i in order.iter().take(n.saturating_sub(k)) {
        if let Some(cell) = result.get_mut(i) {
            *cell = false;
        }
    }
    result
}

/// §4.2 step 3: new validator permits, `top_k_nonzero(S, max_allowed_validators)` with the owner
/// forced to true. Stored for the next epoch; this epoch masks with [`epoch_permits`].
pub fn new_validator_permits(
    stake: &[I32F32],
    max_allowed_validators: u16,
    owner: Option<u16>,
) -> Vec<bool> {
    let mut permits = top_k_nonzero(stake, usize::from(max_allowed_validators));
    force_owner(&mut permits, owner);
    permits
}

/// §4.2 step 4: the permits this epoch masks with: the previous epoch's, owner forced to true.
pub fn epoch_permits(permits_prev: &[bool], owner: Option<u16>) -> Vec<bool> {
    let mut permits = permits_prev.to_vec();
    force_owner(&mut permits, owner);
    permits
}

fn force_owner(permits: &mut [bool], owner: Option<u16>) {
    if let Some(cell) = owner.and_then(|o| permits.get_mut(usize::from(o))) {
        *cell = true;
    }
}

/// §4.3 step 1: `S_act_i = S_i` if `active_i ∧ permit_i`, else 0; then normalised.
pub fn active_stake(stake: &[I32F32], active: &[bool], permits: &[bool]) -> Vec<I32F32> {
    let masked = stake
        .iter()
        .zip(active.iter().zip(permits))
        .map(|(s, (a, p))| if *a && *p { *s } else { I32F32::ZERO })
        .collect();
    normalized(masked)
}

/// The masks of §4.3 steps 3–6, applied by [`masked_weights`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct WeightMasks<'a> {
    /// Epoch permits: rows without one are dropped (§4.3.3).
    pub(crate) permits: &'a [bool],
    /// The owner keeps its self-weight (§4.3.4).
    pub(crate) owner: Option<u16>,
    /// `(last_update, block_at_registration)`: drop `W_ij` if `last_update_i ≤ reg_j` (§4.3.5).
    pub(crate) outdated: Option<(&'a [u64], &'a [u64])>,
    /// `(commit block, block_at_registration)`: drop `W_ij` if `commit_i < reg_j` (§4.3.6).
    pub(crate) commits: Option<(&'a [Option<u64>], &'a [u64])>,
}

/// §4.3 steps 2–7: stored weights as numbers, masked, then row-normalised.
///
/// Drops rows without a permit, self-weights except the owner's, outdated weights and (with
/// commit-reveal) weights committed before the target registered; each remaining row is divided
/// by its sum when that is positive. Explicit zero entries stay (they matter only to
/// [`EpochParams::yuma3_sparse_drop`](super::EpochParams::yuma3_sparse_drop)).
pub(crate) fn masked_weights(stored: &Csr<u16>, masks: &WeightMasks<'_>) -> Csr<I32F32> {
    let n = stored.n_rows();
    let mut out = Csr::with_capacity(n, stored.cols.len());
    let mut kept: Vec<(u16, u16)> = Vec::new();
    for (i, cols, vals) in stored.iter_rows() {
        kept.clear();
        if masks.permits.get(i).copied().unwrap_or(false) {
            let updated = masks.outdated.and_then(|(lu, _)| lu.get(i).copied());
            let committed = masks
                .commits
                .and_then(|(cb, _)| cb.get(i).copied().flatten());
            for (&j, &w) in cols.iter().zip(vals) {
                let ju = usize::from(j);
                if ju == i && masks.owner != Some(j) {
                    continue;
                }
                let outdated = masks.outdated.is_some_and(|(_, reg)| {
                    updated.is_some_and(|u| reg.get(ju).is_some_and(|r| u <= *r))
                });
                let uncommitted = masks.commits.is_some_and(|(_, reg)| {
                    committed.is_some_and(|c| reg.get(ju).is_some_and(|r| c < *r))
                });
                if !outdated && !uncommitted {
                    kept.push((j, w));
                }
            }
        }
        push_row_normalized(&mut out, &kept);
    }
    out
}

/// Appends one row of u16 weights divided by their I32F32 sum (when positive).
fn push_row_normalized(out: &mut Csr<I32F32>, row: &[(u16, u16)]) {
    let total: u64 = row.iter().map(|&(_, w)| u64::from(w)).sum();
    // The chain sums in I32F32, saturating at 2³¹; below that the sum is an exact integer and
    // `w ÷ total` in fixed point equals the integer quotient `⌊w · 2³² / total⌋`.
    let exact = if total < (1 << 31) {
        U64Divisor::new(total)
    } else {
        None
    };
    let saturated_sum = I32F32::saturating_from_int(i64::try_from(total).unwrap_or(i64::MAX));
    for &(j, w) in row {
        let value = if total == 0 {
            I32F32::from_u16(w)
        } else if let Some(d) = exact {
            I32F32::from_bits(i64::try_from(d.div(u64::from(w) << 32)).unwrap_or(0))
        } else {
            I32F32::from_u16(w).safe_div(saturated_sum)
        };
        out.push(j, value);
    }
    out.end_row();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_boundary() {
        // active iff last_update + cutoff >= current_block.
        assert_eq!(activity(&[0, 1, 2], 9, 10), vec![false, true, true]);
        assert_eq!(activity(&[u64::MAX], 5, u64::MAX), vec![true]);
        assert_eq!(activity_cutoff_blocks(13_889, 360), 5000);
        assert_eq!(activity_cutoff_blocks(0, 360), 1);
    }

    #[test]
    fn top_k_ties_keep_higher_uids() {
        let s: Vec<I32F32> = [50, 20, 20, 20, 10]
            .iter()
            .map(|&v| I32F32::from_u16(v))
            .collect();
        assert_eq!(top_k_nonzero(&s, 3), vec![true, false, true, true, false]);
        // n < k: every non-zero stake.
        assert_eq!(top_k_nonzero(&s, 6), vec![true; 5]);
        // zero stake never gets a permit, even when k is large enough.
        let z = [I32F32::ZERO, I32F32::ONE];
        assert_eq!(top_k_nonzero(&z, 2), vec![false, true]);
        assert_eq!(top_k_nonzero(&z, 0), vec![false, false]);
    }

    #[test]
    fn stake_threshold_exempts_owner() {
        let s = stake_weights(&[5, 10, 5], 6, Some(2));
        assert_eq!(s[0], I32F32::ZERO);
        assert_eq!(s[1], I32F32::from_bits(((10_i128 << 32) / 15) as i64));
        assert_eq!(s[2], I32F32::from_bits(((5_i128 << 32) / 15) as i64));
        assert_eq!(stake_weights(&[0, 0], 0, None), vec![I32F32::ZERO; 2]);
    }

    #[test]
    fn permits_force_owner() {
        assert_eq!(epoch_permits(&[false, false], Some(1)), vec![false, true]);
        assert_eq!(epoch_permits(&[false], Some(7)), vec![false]);
        let s = [I32F32::ONE, I32F32::ZERO];
        assert_eq!(new_validator_permits(&s, 1, Some(1)), vec![true, true]);
    }

    #[test]
    fn row_normalize_integer_fast_path_matches_fixed_division() {
        let mut out = Csr::with_rows(1);
        push_row_normalized(&mut out, &[(0, 1), (1, 65535), (2, 7)]);
        let total = I32F32::from_u16(1)
            .saturating_add(I32F32::from_u16(65535))
            .saturating_add(I32F32::from_u16(7));
        let want: Vec<I32F32> = [1, 65535, 7]
            .iter()
            .map(|&w| I32F32::from_u16(w).safe_div(total))
            .collect();
        assert_eq!(out.vals, want);
    }
}
