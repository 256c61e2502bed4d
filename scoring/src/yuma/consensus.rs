//! Consensus, clipping, trust and incentive (YUMA_SPEC §5).

use super::prepare::{MaskedWeights, normalize, sum};
use crate::fixed::{I32F32, mul_unit};

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

/// Gathered keys per block of columns in [`consensus`] (128 KiB: stays in the L2 cache).
const BLOCK_KEYS: usize = 1 << 14;

/// A gathered weight: `value << KEY_SHIFT | voter`, so that keys order by value.
const KEY_SHIFT: u32 = 16;

/// §5.1 consensus: per column, the kappa-median of the weights of the voters.
///
/// Voters `V = {i : S_act_i > 0}` in UID order with `σ = normalise(S_act|V)` (re-normalised, as
/// the chain does) and `minority = Σσ − κ`; column `j`'s consensus is what [`weighted_median`]
/// returns over `(W_ij)_{i∈V}`, absent entries counting as 0.
///
/// Instead of running the chain's search, each column solves its characterisation directly. With
/// exact (integer) stake sums the search returns the unique value `x` of the column with
/// `mass{W < x} ≤ minority < mass{W ≤ x}`, the smallest value when `minority < 0` and the
/// largest when `minority ≥ Σσ` (see the unit tests, which compare the two). The zero weights'
/// mass `Z` is known without listing them (`Σσ` minus the non-zero entries' mass): if
/// `Z > minority` the answer is 0, otherwise a weighted quickselect over the column's non-zero
/// entries finds the smallest value whose mass at or below it exceeds `minority − Z` (one
/// bucketing pass on value, then quickselect inside one bucket).
///
/// The voters' rows are gathered a block of columns at a time into packed `value | voter` keys:
/// `O(nnz(V rows) + n · |V| / block)` time, `O(max(BLOCK_KEYS, 8 · |V|) + n)` extra memory.
pub(crate) fn consensus(
    active_stake: &[I32F32],
    weights: &MaskedWeights<'_>,
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
    let minority = total.saturating_sub(kappa).to_bits();
    let total = u64::try_from(total.to_bits()).unwrap_or(0);
    // σ ≤ 1 each (normalised), so every mass below is an exact sum far from overflow.
    let sigma: Vec<u64> = sigma
        .iter()
        .map(|s| u64::try_from(s.to_bits()).unwrap_or(0))
        .collect();
    let m = voters.len();
    let mut out = vec![I32F32::ZERO; n];
    if m == 0 {
        return out;
    }

    let block = BLOCK_KEYS.checked_div(m).unwrap_or(0).clamp(8, 256);
    // Each column's keys start a cache line further into the L1 sets than the previous one's:
    // with a stride of exactly 2 KiB (256 voters) every column would map to the same sets.
    let stride = m.next_multiple_of(8).saturating_add(8);
    let mut keys = vec![0_u64; block.saturating_mul(stride)];
    let mut lens = vec![0_usize; block];
    let mut cursors = vec![0_usize; m];
    let mut select = Select::default();
    for (block_index, out_block) in out.chunks_mut(block).enumerate() {
        let first = block_index.saturating_mul(block);
        let end = first.saturating_add(out_block.len());
        lens.fill(0);
        for ((&voter, cursor), k) in voters.iter().zip(cursors.iter_mut()).zip(0_u64..) {
            weights.for_each_in(
                voter,
                first,
                end,
                cursor,
                #[inline(always)]
                |j, w| {
                    let c = usize::from(j).wrapping_sub(first);
                    if let Some(len) = lens.get_mut(c) {
                        // W ≤ 2³² and k < 2¹⁶: the key fits in 49 bits.
                        if let Some(slot) = keys.get_mut(c.wrapping_mul(stride).wrapping_add(*len))
                        {
                            *slot = (w << KEY_SHIFT) | k;
                        }
                        *len = len.wrapping_add(usize::from(w != 0));
                    }
                },
            );
        }
        for ((keys, &len), consensus) in
            keys.chunks_mut(stride).zip(&lens).zip(out_block.iter_mut())
        {
            let keys = keys.get_mut(..len).unwrap_or_default();
            let value = select.column(keys, &sigma, total, minority, len < m);
            *consensus = I32F32::from_bits(i64::try_from(value).unwrap_or(0));
        }
    }
    out
}

/// Buckets of [`Select::run`]'s first pass.
const BUCKETS: usize = 64;

/// Weighted selection, reusing its histogram.
#[derive(Debug)]
struct Select {
    mass: [u64; BUCKETS],
}

impl Default for Select {
    fn default() -> Self {
        Self { mass: [0; BUCKETS] }
    }
}

impl Select {
    /// One column's consensus value (bits): `keys` are its non-zero weights, `total` the voters'
    /// stake, `minority = Σσ − κ`, `has_zeros` when some voter's weight is 0.
    fn column(
        &mut self,
        keys: &mut [u64],
        sigma: &[u64],
        total: u64,
        minority: i64,
        has_zeros: bool,
    ) -> u64 {
        if keys.is_empty() {
            return 0;
        }
        let (min, max) = keys.iter().fold((u64::MAX, 0), |(lo, hi), &k| {
            (lo.min(k >> KEY_SHIFT), hi.max(k >> KEY_SHIFT))
        });
        let Ok(minority) = u64::try_from(minority) else {
            // No value qualifies: the search descends to the smallest weight.
            return if has_zeros { 0 } else { min };
        };
        if minority >= total {
            // Every value qualifies: the search climbs to the largest weight.
            return max;
        }
        self.run(keys, sigma, total, minority, min, max)
    }

    /// The smallest value `x` among `keys` (values in `min..=max`) with `zeros + mass{≤ x} >
    /// minority`, where `zeros` is the stake outside the keys (`total` minus theirs); 0 when
    /// `zeros` alone exceeds `minority` (`minority < total`).
    ///
    /// One pass spreads the stake over buckets of equal value width (`(v − min) >> shift`, which
    /// preserves order); the answer lies in the first bucket where the running mass exceeds the
    /// target, and only that bucket's keys (a few, for spread-out values) go on to
    /// [`weighted_select`].
    fn run(
        &mut self,
        keys: &mut [u64],
        sigma: &[u64],
        total: u64,
        minority: u64,
        min: u64,
        max: u64,
    ) -> u64 {
        let range = max.wrapping_sub(min);
        let shift = (u64::BITS.wrapping_sub(range.leading_zeros()))
            .saturating_sub(BUCKETS.trailing_zeros());
        let bucket =
            |k: u64| usize::try_from(((k >> KEY_SHIFT).wrapping_sub(min)) >> shift).unwrap_or(0);
        self.mass.fill(0);
        for &k in keys.iter() {
            if let Some(mass) = self.mass.get_mut(bucket(k)) {
                *mass = mass.wrapping_add(stake_of(sigma, k));
            }
        }
        let mass = self.mass.iter().fold(0_u64, |acc, &m| acc.wrapping_add(m));
        let zeros = total.wrapping_sub(mass);
        if zeros > minority {
            // The voters giving 0 hold more than the minority.
            return 0;
        }
        let target = minority.wrapping_sub(zeros);
        let mut below = 0_u64;
        let mut chosen = 0_usize;
        for (b, &mass) in self.mass.iter().enumerate() {
            chosen = b;
            if below.wrapping_add(mass) > target {
                break;
            }
            below = below.wrapping_add(mass);
        }
        // Few keys fall in the chosen bucket: move them to the front (a rarely taken branch).
        let mut kept = 0_usize;
        for r in 0..keys.len() {
            let k = keys.get(r).copied().unwrap_or(0);
            if bucket(k) == chosen {
                if let Some(slot) = keys.get_mut(kept) {
                    *slot = k;
                }
                kept = kept.wrapping_add(1);
            }
        }
        let kept = keys.get_mut(..kept).unwrap_or_default();
        weighted_select(kept, sigma, target.wrapping_sub(below))
    }
}

/// The stake of the voter a key names.
#[inline]
fn stake_of(sigma: &[u64], k: u64) -> u64 {
    sigma
        .get(usize::try_from(k & 0xFFFF).unwrap_or(usize::MAX))
        .copied()
        .unwrap_or(0)
}

/// The smallest value among `keys` whose stake mass at or below it exceeds `target`, by
/// quickselect with a median-of-three pivot. The keys' total mass must exceed `target`, which
/// keeps each kept side non-empty; a run of poor pivots falls back to sorting.
fn weighted_select(keys: &mut [u64], sigma: &[u64], target: u64) -> u64 {
    weighted_select_rounds(keys, sigma, target, 64)
}

/// [`weighted_select`] with at most `rounds` partitioning rounds before it sorts what is left.
fn weighted_select_rounds(keys: &mut [u64], sigma: &[u64], mut target: u64, rounds: u32) -> u64 {
    let stake = |k: u64| stake_of(sigma, k);
    let mut len = keys.len();
    for _ in 0..rounds {
        let live = keys.get_mut(..len).unwrap_or_default();
        let (Some(&a), Some(&b), Some(&c)) = (live.first(), live.get(len / 2), live.last()) else {
            return 0;
        };
        if len == 1 {
            return a >> KEY_SHIFT;
        }
        let (a, b, c) = (a >> KEY_SHIFT, b >> KEY_SHIFT, c >> KEY_SHIFT);
        let pivot = a.min(b).max(a.max(b).min(c));
        let below_key = pivot << KEY_SHIFT;
        let above_key = pivot.wrapping_add(1) << KEY_SHIFT;
        let (mut below, mut at_or_below) = (0_u64, 0_u64);
        for &k in live.iter() {
            let s = stake(k);
            below = below.wrapping_add(if k < below_key { s } else { 0 });
            at_or_below = at_or_below.wrapping_add(if k < above_key { s } else { 0 });
        }
        let keep_below = if below > target {
            true
        } else if at_or_below > target {
            return pivot;
        } else {
            target = target.wrapping_sub(at_or_below);
            false
        };
        // Stable in-place compaction of the side that holds the answer.
        let mut kept = 0_usize;
        for r in 0..len {
            let k = live.get(r).copied().unwrap_or(0);
            if let Some(slot) = live.get_mut(kept) {
                *slot = k;
            }
            let keep = if keep_below {
                k < below_key
            } else {
                k >= above_key
            };
            kept = kept.wrapping_add(usize::from(keep));
        }
        len = kept;
    }
    let live = keys.get_mut(..len).unwrap_or_default();
    live.sort_unstable();
    let mut mass = 0_u64;
    for &k in live.iter() {
        mass = mass.wrapping_add(stake(k));
        if mass > target {
            return k >> KEY_SHIFT;
        }
    }
    0
}

/// How bond weights follow from the clipped weights (§5.4).
#[derive(Clone, Copy, Debug)]
enum Penalty {
    /// `β = 0`: `Wb = W`, every entry kept.
    Raw,
    /// `β = 1`: `Wb = Wc`.
    Clipped,
    /// `Wb = W + β · (Wc − W)`, entries kept where positive.
    Mixed(I32F32),
}

/// §5.2–5.4 per row: clipping `Wc_ij = min(W_ij, C_j)`, validator trust, ranks and pre-ranks,
/// and the bond weights `Wb`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clip<'a> {
    consensus: &'a [I32F32],
    penalty: Penalty,
}

/// What [`Clip::row`] accumulates over the rows: validator trust `Σ_j Wc_ij` per row, ranks
/// `R_j = Σ_i S_act_i · Wc_ij` and pre-ranks `Σ_i S_act_i · W_ij` per column.
#[derive(Clone, Debug)]
pub(crate) struct Ranks {
    pub(crate) validator_trust: Vec<I32F32>,
    ranks: Vec<u64>,
    preranks: Vec<u64>,
}

impl Ranks {
    /// Zeros for `n` UIDs.
    pub(crate) fn new(n: usize) -> Self {
        Self {
            validator_trust: vec![I32F32::ZERO; n],
            ranks: vec![0; n],
            preranks: vec![0; n],
        }
    }

    /// Ranks `R` and the historical trust `R ÷ prerank` (§5.3).
    pub(crate) fn ranks_and_trust(&self) -> (Vec<I32F32>, Vec<I32F32>) {
        let fixed = |v: u64| I32F32::from_bits(i64::try_from(v).unwrap_or(i64::MAX));
        let ranks: Vec<I32F32> = self.ranks.iter().map(|&r| fixed(r)).collect();
        let trust = ranks
            .iter()
            .zip(&self.preranks)
            .map(|(r, &p)| r.safe_div(fixed(p)))
            .collect();
        (ranks, trust)
    }
}

impl<'a> Clip<'a> {
    /// Clipping against `consensus` with bonds penalty `β`.
    pub(crate) fn new(consensus: &'a [I32F32], beta: I32F32) -> Self {
        let penalty = if beta == I32F32::ZERO {
            Penalty::Raw
        } else if beta == I32F32::ONE {
            Penalty::Clipped
        } else {
            Penalty::Mixed(beta)
        };
        Self { consensus, penalty }
    }

    /// Clips one row (its weights `row`, from [`MaskedWeights::row_into`]; active stake
    /// `stake`): with `ranks`, sets its validator trust (at `i`) and adds its ranks and
    /// pre-ranks; calls `emit(column, Wb_ij, present)` for each entry, where `present` says
    /// whether the chain's sparse `Wb` keeps it (an entry clipped to a consensus of 0, or an
    /// interpolated value that is not positive, is absent there).
    #[inline]
    pub(crate) fn row(
        &self,
        row: &[(u16, u64)],
        i: usize,
        stake: I32F32,
        ranks: Option<&mut Ranks>,
        mut emit: impl FnMut(u16, I32F32, bool),
    ) {
        let s = u64::try_from(stake.to_bits()).unwrap_or(0);
        let as_fixed = |v: u64| I32F32::from_bits(i64::try_from(v).unwrap_or(i64::MAX));
        let consensus = self.consensus;
        let penalty = self.penalty;
        let mut trust = 0_u64;
        let (trust_slot, mut ranked) = match ranks {
            Some(Ranks {
                validator_trust,
                ranks,
                preranks,
            }) => (
                validator_trust.get_mut(i),
                (s != 0).then_some((ranks.as_mut_slice(), preranks.as_mut_slice())),
            ),
            None => (None, None),
        };
        for &(j, w) in row {
            let ju = usize::from(j);
            // C_j and W_ij are proportions in [0, 1] (bits ≤ 2³²).
            let c = consensus
                .get(ju)
                .map_or(0, |c| u64::try_from(c.to_bits()).unwrap_or(0));
            let clipped = w.min(c);
            trust = trust.wrapping_add(clipped);
            if let Some((ranks, preranks)) = ranked.as_mut()
                && let (Some(r), Some(p)) = (ranks.get_mut(ju), preranks.get_mut(ju))
            {
                *r = r.wrapping_add(mul_unit(s, clipped));
                *p = p.wrapping_add(mul_unit(s, w));
            }
            match penalty {
                Penalty::Raw => emit(j, as_fixed(w), true),
                Penalty::Clipped => emit(j, as_fixed(clipped), !(c == 0 && w > 0)),
                Penalty::Mixed(beta) => {
                    let (w, wc) = (as_fixed(w), as_fixed(clipped));
                    let v = w.saturating_add(beta.saturating_mul(wc.saturating_sub(w)));
                    emit(j, v, v > I32F32::ZERO);
                }
            }
        }
        // A row of floored proportions sums to at most 1: the chain's saturating sum is exact.
        if let Some(slot) = trust_slot {
            *slot = as_fixed(trust);
        }
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

    /// The block gather, the zero-mass shortcut, the buckets and the quickselect against the
    /// chain's search, column by column, on subnets with many ties, zeros and edge kappas.
    #[test]
    fn consensus_matches_the_chain_search() {
        use crate::yuma::U16Matrix;
        use crate::yuma::prepare::WeightMasks;

        let mut x: u64 = 0x5eed;
        let mut next = move |k: u64| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) % k.max(1)
        };
        for trial in 0..300 {
            let n = 1 + next(if trial % 10 == 0 { 700 } else { 120 }) as usize;
            let style = next(4);
            let density = next(101);
            let mut rows: Vec<Vec<(u16, u16)>> = vec![Vec::new(); n];
            for row in &mut rows {
                for j in 0..n as u16 {
                    if next(100) >= density {
                        continue;
                    }
                    let v = match style {
                        0 => [0, 1, 65535, 32768][next(4) as usize] as u16,
                        1 => next(8) as u16 * 8000,
                        // Values spread over orders of magnitude: uneven buckets.
                        2 => 1_u16 << next(16),
                        _ => next(65536) as u16,
                    };
                    row.push((j, v));
                }
            }
            let stake: Vec<I32F32> = (0..n)
                .map(|_| match next(4) {
                    0 => I32F32::ZERO,
                    1 => I32F32::from_bits(1 << 20),
                    _ => I32F32::from_bits(next(1 << 32) as i64),
                })
                .collect();
            let kappa = match next(5) {
                0 => I32F32::ZERO,
                1 => I32F32::ONE,
                2 => I32F32::from_u16_ratio(32_767),
                3 => I32F32::from_bits(next(1 << 33) as i64),
                _ => I32F32::from_u16_ratio(next(65536) as u16),
            };
            let matrix = U16Matrix::Sparse(rows);
            let permits = vec![true; n];
            let weights = MaskedWeights::new(
                matrix.checked_rows(n, "weights").unwrap(),
                &WeightMasks {
                    permits: &permits,
                    owner: None,
                    outdated: None,
                    commits: None,
                },
            );
            let got = consensus(&stake, &weights, kappa);

            let voters: Vec<usize> = (0..n).filter(|&i| stake[i] > I32F32::ZERO).collect();
            let mut sigma: Vec<I32F32> = voters.iter().map(|&i| stake[i]).collect();
            normalize(&mut sigma);
            let total = sum(&sigma);
            let minority = total.saturating_sub(kappa);
            let mut dense = vec![vec![I32F32::ZERO; n]; voters.len()];
            let mut row = Vec::new();
            for (k, &i) in voters.iter().enumerate() {
                weights.row_into(i, &mut row);
                for &(j, w) in &row {
                    dense[k][usize::from(j)] = I32F32::from_bits(w as i64);
                }
            }
            let mut scratch = MedianScratch::default();
            for j in 0..n {
                let column: Vec<I32F32> = dense.iter().map(|r| r[j]).collect();
                let want = if voters.is_empty() {
                    I32F32::ZERO
                } else {
                    weighted_median(&sigma, &column, minority, total, &mut scratch)
                };
                assert_eq!(got[j], want, "trial {trial}, column {j}, kappa {kappa:?}");
            }
        }
    }

    #[test]
    fn weighted_select_matches_a_sorted_scan() {
        let mut x: u64 = 99;
        let mut next = move |k: u64| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (x >> 33) % k
        };
        for trial in 0..2000 {
            let len = 1 + next(300) as usize;
            let sigma: Vec<u64> = (0..len).map(|_| next(1 << 24)).collect();
            let spread = [4, 1 << 10, 1 << 33][trial % 3];
            let keys: Vec<u64> = (0..len as u64)
                .map(|k| (next(spread) << KEY_SHIFT) | k)
                .collect();
            let total: u64 = sigma.iter().sum();
            if total == 0 {
                continue;
            }
            let target = next(total);
            let mut sorted = keys.clone();
            sorted.sort_unstable();
            let mut mass = 0;
            let want = sorted
                .iter()
                .find(|&&k| {
                    mass += sigma[(k & 0xFFFF) as usize];
                    mass > target
                })
                .map(|k| k >> KEY_SHIFT)
                .unwrap();
            for rounds in [0, 1, 3, 64] {
                let got = weighted_select_rounds(&mut keys.clone(), &sigma, target, rounds);
                assert_eq!(got, want, "trial {trial}, {rounds} rounds");
            }
        }
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
