//! Preparation (YUMA_SPEC §4): activity, stake and validator permits, active stake, weight masks.

use super::matrix::Rows;
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

/// How a row's kept u16 weights become I32F32 proportions (§4.3.7).
#[derive(Clone, Copy, Debug)]
enum RowScale {
    /// The kept weights sum to 0: every value is 0 (the row is left unchanged).
    Zero,
    /// Sum below 2³¹: the chain's I32F32 sum is exact and `w ÷ total` is `⌊w · 2³² / total⌋`.
    Exact(U64Divisor),
    /// Sum of 2³¹ or more: the chain's I32F32 sum saturates at its maximum.
    Saturated,
}

impl RowScale {
    /// The proportion bits of a kept weight `w` (at most 2³², i.e. 1.0).
    #[inline]
    fn apply(self, w: u16) -> u64 {
        match self {
            Self::Zero => 0,
            Self::Exact(d) => d.div(u64::from(w) << 32),
            Self::Saturated => {
                let v = I32F32::from_u16(w).safe_div(I32F32::MAX);
                u64::try_from(v.to_bits()).unwrap_or(0)
            }
        }
    }
}

/// Per-row masks of [`MaskedWeights`].
#[derive(Clone, Copy, Debug)]
struct RowMask {
    /// Whether the row is kept at all (epoch permit, §4.3.3).
    permitted: bool,
    /// The row's own column, dropped unless the row is the owner's (§4.3.4).
    self_col: Option<u16>,
    /// Drop `W_ij` when `block_at_registration_j ≥ drop_from` (§4.3.5–6 combined).
    drop_from: Option<u64>,
    scale: RowScale,
}

/// §4.3 steps 2–7: the stored weights as numbers, masked, then row-normalised, read in place.
///
/// Rows without a permit are dropped, self-weights except the owner's, outdated weights
/// (`last_update_i ≤ reg_j`) and, with commit-reveal, weights committed before the target
/// registered (`commit_i < reg_j`); each remaining row is divided by its sum when that is
/// positive. Explicit zero entries stay (they matter only to
/// [`EpochParams::yuma3_sparse_drop`](super::EpochParams::yuma3_sparse_drop)).
///
/// Nothing is copied: each read applies the masks and the row's divisor again, which costs less
/// than writing and re-reading a normalised copy of the matrix.
#[derive(Debug)]
pub(crate) struct MaskedWeights<'a> {
    rows: Rows<'a>,
    registered: &'a [u64],
    masks: Vec<RowMask>,
}

impl<'a> MaskedWeights<'a> {
    /// Computes each permitted row's masks and sum.
    pub(crate) fn new(rows: Rows<'a>, masks: &WeightMasks<'a>) -> Self {
        let registered = masks
            .outdated
            .map(|(_, reg)| reg)
            .or_else(|| masks.commits.map(|(_, reg)| reg))
            .unwrap_or_default();
        let mut out = Self {
            rows,
            registered,
            masks: Vec::with_capacity(masks.permits.len()),
        };
        for (i, &permitted) in masks.permits.iter().enumerate() {
            let updated = masks.outdated.and_then(|(lu, _)| lu.get(i).copied());
            // commit_i < reg_j ⇔ reg_j ≥ commit_i + 1 (never, for commit_i = u64::MAX).
            let committed = masks
                .commits
                .and_then(|(cb, _)| cb.get(i).copied().flatten())
                .map(|c| c.checked_add(1));
            let drop_from = match (updated, committed) {
                (None, None) | (None, Some(None)) => None,
                (Some(u), None | Some(None)) => Some(u),
                (None, Some(Some(c))) => Some(c),
                (Some(u), Some(Some(c))) => Some(u.min(c)),
            };
            let self_col = u16::try_from(i).ok().filter(|&j| masks.owner != Some(j));
            let mut mask = RowMask {
                permitted,
                self_col,
                drop_from,
                scale: RowScale::Zero,
            };
            if permitted {
                let total = if drop_from.is_none() {
                    // Only the self-weight can be masked: the whole row's sum less that entry.
                    let own = self_col.map_or(0, |j| u64::from(rows.get(i, j)));
                    rows.sum(i).wrapping_sub(own)
                } else {
                    let mut total = 0_u64;
                    out.for_each_kept(i, &mask, |_, w| total = total.wrapping_add(u64::from(w)));
                    total
                };
                mask.scale = match U64Divisor::new(total) {
                    Some(d) if total < (1 << 31) => RowScale::Exact(d),
                    Some(_) => RowScale::Saturated,
                    None => RowScale::Zero,
                };
            }
            out.masks.push(mask);
        }
        out
    }

    #[inline]
    fn keeps(&self, mask: &RowMask, j: u16) -> bool {
        mask.self_col != Some(j)
            && mask.drop_from.is_none_or(|from| {
                self.registered
                    .get(usize::from(j))
                    .is_none_or(|reg| *reg < from)
            })
    }

    /// Calls `f(column, u16 value)` for the stored entries of row `i` that survive the masks.
    #[inline]
    fn for_each_kept(&self, i: usize, mask: &RowMask, mut f: impl FnMut(u16, u16)) {
        self.rows.for_each(
            i,
            #[inline(always)]
            |j, w| {
                if self.keeps(mask, j) {
                    f(j, w);
                }
            },
        );
    }

    /// Replaces `out` with row `i`'s entries `(column, W_ij bits)`, in column order; the values
    /// are I32F32 proportions in `[0, 1]` (bits at most 2³²).
    pub(crate) fn row_into(&self, i: usize, out: &mut Vec<(u16, u64)>) {
        out.clear();
        let Some(mask) = self.masks.get(i).filter(|m| m.permitted) else {
            return;
        };
        match (self.rows, mask.scale, mask.drop_from) {
            // The common case, in a loop of its own: a sparse row, an exact divisor, and no
            // mask but the self-weight.
            (Rows::Sparse(rows), RowScale::Exact(d), None) => {
                let row = rows.get(i).map(Vec::as_slice).unwrap_or_default();
                for part in without_column(row, mask.self_col) {
                    out.extend(part.iter().map(|&(j, w)| (j, d.div(u64::from(w) << 32))));
                }
            }
            _ => self.for_each_kept(i, mask, |j, w| out.push((j, mask.scale.apply(w)))),
        }
    }

    /// [`Self::row_into`]'s entries restricted to columns `first..end`; see [`Rows::for_each_in`].
    #[inline]
    pub(crate) fn for_each_in(
        &self,
        i: usize,
        first: usize,
        end: usize,
        cursor: &mut usize,
        mut f: impl FnMut(u16, u64),
    ) {
        let Some(&mask) = self.masks.get(i).filter(|m| m.permitted) else {
            return;
        };
        if let (Rows::Sparse(rows), RowScale::Exact(d), None) =
            (self.rows, mask.scale, mask.drop_from)
        {
            // The common case: a sparse row, an exact divisor, no mask but the self-weight.
            let row = rows.get(i).map(Vec::as_slice).unwrap_or_default();
            let rest = row.get(*cursor..).unwrap_or_default();
            // The block's entries end at the first column ≥ end (rows are sorted).
            let len = rest.partition_point(|&(j, _)| usize::from(j) < end);
            *cursor = cursor.wrapping_add(len);
            for part in without_column(rest.get(..len).unwrap_or_default(), mask.self_col) {
                for &(j, w) in part {
                    f(j, d.div(u64::from(w) << 32));
                }
            }
            return;
        }
        if let (RowScale::Exact(d), None) = (mask.scale, mask.drop_from) {
            // A dense row with the mask in registers.
            let self_col = mask.self_col;
            self.rows.for_each_in(
                i,
                first,
                end,
                cursor,
                #[inline(always)]
                |j, w| {
                    if self_col != Some(j) {
                        f(j, d.div(u64::from(w) << 32));
                    }
                },
            );
            return;
        }
        self.rows.for_each_in(i, first, end, cursor, |j, w| {
            if self.keeps(&mask, j) {
                f(j, mask.scale.apply(w));
            }
        });
    }
}

/// A sorted row split around the entry of `column` (if any): the entries before it and after it.
fn without_column(row: &[(u16, u16)], column: Option<u16>) -> [&[(u16, u16)]; 2] {
    let at = column.and_then(|c| row.binary_search_by_key(&c, |&(j, _)| j).ok());
    match at {
        Some(k) => [
            row.get(..k).unwrap_or_default(),
            row.get(k.saturating_add(1)..).unwrap_or_default(),
        ],
        None => [row, &[]],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yuma::U16Matrix;

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
    fn row_normalize_matches_fixed_division() {
        let matrix = U16Matrix::Sparse(vec![
            vec![(0, 1), (1, 65535), (2, 7)],
            vec![(0, 0), (2, 0)],
            vec![(0, 5), (1, 9), (2, 3)],
        ]);
        let rows = matrix.checked_rows(3, "weights").unwrap();
        let permits = [true, true, false];
        let masks = WeightMasks {
            permits: &permits,
            owner: None,
            outdated: None,
            commits: None,
        };
        let weights = MaskedWeights::new(rows, &masks);
        let row = |i: usize| {
            let mut out = Vec::new();
            weights.row_into(i, &mut out);
            out
        };
        // Row 0: its self-weight (column 0) is masked; the rest is divided by 65542.
        let total = I32F32::from_u16(65535).saturating_add(I32F32::from_u16(7));
        let want: Vec<(u16, u64)> = [(1, 65535), (2, 7)]
            .iter()
            .map(|&(j, w)| (j, I32F32::from_u16(w).safe_div(total).to_bits() as u64))
            .collect();
        assert_eq!(row(0), want);
        // A zero row keeps its explicit zero entries (values 0); no permit: no entries.
        assert_eq!(row(1), vec![(0, 0), (2, 0)]);
        assert_eq!(row(2), vec![]);
    }

    #[test]
    fn masks_combine_outdated_and_commits() {
        let matrix = U16Matrix::Dense(vec![vec![0, 3, 3, 3], vec![0; 4], vec![0; 4], vec![0; 4]]);
        let rows = matrix.checked_rows(4, "weights").unwrap();
        let permits = [true; 4];
        let reg = [0, 10, 20, 30];
        let last_update = [25, 0, 0, 0];
        let commits = [Some(15), None, None, None];
        let masks = WeightMasks {
            permits: &permits,
            owner: None,
            outdated: Some((&last_update, &reg)),
            commits: Some((&commits, &reg)),
        };
        let weights = MaskedWeights::new(rows, &masks);
        let mut kept = Vec::new();
        weights.row_into(0, &mut kept);
        // Column 2 (reg 20 > commit 15) and column 3 (reg 30 ≥ update 25) are masked.
        assert_eq!(kept, vec![(1, 1 << 32)]);
    }
}
