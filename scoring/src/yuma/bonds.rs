//! Bonds and dividends (YUMA_SPEC §6, §7).

use super::EpochParams;
use super::consensus::{Clip, Ranks};
use super::matrix::Rows;
use super::output::BondRow;
use super::prepare::{MaskedWeights, normalized};
use crate::fixed::{I32F32, I64F64, U64Divisor, exp_safe, mul_unit, recip_bits};

/// §6 bond column reset: column `j` is dropped when `last_epoch_block + 1 ≤ block_at_registration_j`
/// (the UID registered since the previous epoch). If the subnet never ran an epoch, pass
/// `current_block − tempo − 1`.
pub fn bond_reset_columns(last_epoch_block: u64, block_at_registration: &[u64]) -> Vec<bool> {
    let first_new_block = last_epoch_block.saturating_add(1);
    block_at_registration
        .iter()
        .map(|&registered| first_new_block <= registered)
        .collect()
}

/// The fixed EMA rate `α = 1 − bonds_moving_avg / 10⁶`: the quotient is formed in I64F64,
/// truncated to I32F32, then subtracted from 1 (§3).
pub fn bonds_moving_average_alpha(bonds_moving_avg: u64) -> I32F32 {
    let ratio = I64F64::saturating_from_u64(bonds_moving_avg)
        .safe_div(I64F64::saturating_from_u64(1_000_000))
        .to_i32f32();
    I32F32::ONE.saturating_sub(ratio)
}

/// Liquid-alpha parameters in fixed point (§7.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiquidAlpha {
    /// `alpha_low / 65535`.
    pub low: I32F32,
    /// `alpha_high / 65535`.
    pub high: I32F32,
    /// `steepness ÷ (−100)`, truncated.
    pub neg_steepness: I32F32,
}

impl LiquidAlpha {
    /// Converts the u16/i16 hyperparameters as the chain does.
    pub fn new(alpha_low: u16, alpha_high: u16, steepness: i16) -> Self {
        Self {
            low: I32F32::from_u16_ratio(alpha_low),
            high: I32F32::from_u16_ratio(alpha_high),
            neg_steepness: I32F32::from_i16(steepness)
                .saturating_div(I32F32::saturating_from_int(-100)),
        }
    }
}

/// §7.2 liquid alpha for one entry: the EMA rate for weight `w`, bond `b`, consensus `c`.
///
/// `buy = clamp(w − c, 0, 1)`, `sell = clamp(b − w, 0, 1)`, `x = buy if w ≥ b else sell`,
/// `sig = 1 ÷ (1 + exp_safe(t · (x − 0.5)))` with `t = steepness ÷ (−100)`, and
/// `a = clamp(low + sig · (high − low), low, high)` (clamp = `max(min(v, hi), lo)`).
pub fn liquid_alpha(c: I32F32, w: I32F32, b: I32F32, la: &LiquidAlpha) -> I32F32 {
    let clamp01 = |v: I32F32| v.min(I32F32::ONE).max(I32F32::ZERO);
    let x = if w >= b {
        clamp01(w.saturating_sub(c))
    } else {
        clamp01(b.saturating_sub(w))
    };
    let e = exp_safe(
        la.neg_steepness
            .saturating_mul(x.saturating_sub(I32F32::HALF)),
    );
    let denominator = I32F32::ONE.saturating_add(e);
    // 1 ÷ d for d ≥ 1 is ⌊2⁶⁴ / d⌋ on the bits: a 64-bit division instead of a 128-bit one.
    let sigmoid = u64::try_from(denominator.to_bits())
        .ok()
        .and_then(recip_bits)
        .and_then(|bits| i64::try_from(bits).ok())
        .map_or_else(
            || I32F32::ONE.saturating_div(denominator),
            I32F32::from_bits,
        );
    let alpha = la
        .low
        .saturating_add(sigmoid.saturating_mul(la.high.saturating_sub(la.low)));
    alpha.min(la.high).max(la.low)
}

/// What the bond step reads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BondInputs<'a> {
    /// Stored bonds, shape-checked.
    pub(crate) bonds_prev: Rows<'a>,
    pub(crate) reset_cols: Option<&'a [bool]>,
    /// Masked, row-normalised weights.
    pub(crate) weights: &'a MaskedWeights<'a>,
    /// Clipping and bond weights (§5.2–5.4), applied row by row.
    pub(crate) clip: &'a Clip<'a>,
    pub(crate) active_stake: &'a [I32F32],
    pub(crate) consensus: &'a [I32F32],
}

/// The EMA'd bond rows of one epoch (§7 steps 1–3), before dividends.
#[derive(Clone, Debug)]
pub(crate) struct Ema {
    /// Per row, its entries in increasing column order: the EMA `E` (Yuma3), or `E` column-
    /// normalised and then, by [`original_dividends`], column max-upscaled (original Yuma).
    pub(crate) rows: Vec<Vec<(u16, I32F32)>>,
    /// Column sums of the EMA (saturating, as the chain sums).
    col_sums: Vec<I32F32>,
    /// Validator trust, ranks and pre-ranks, accumulated in the same pass.
    pub(crate) ranks: Ranks,
    /// Whether liquid alpha set the EMA rates.
    pub(crate) liquid_alpha_used: bool,
}

/// Spare row allocations from earlier epochs' outputs (see [`super::EpochBuffers`]); a row that
/// needs room takes one instead of allocating.
pub(crate) type SpareRows = Vec<Vec<(u16, I32F32)>>;

/// An empty row with room for `capacity` entries: a spare one when there is one (its memory is
/// already mapped, unlike a fresh allocation of a freed and trimmed heap), else a new one.
fn take_row(spare: &mut SpareRows, capacity: usize) -> Vec<(u16, I32F32)> {
    if capacity == 0 {
        return Vec::new();
    }
    match spare.pop() {
        Some(mut row) => {
            row.clear();
            row.reserve_exact(capacity);
            row
        }
        None => Vec::with_capacity(capacity),
    }
}

/// Row buffers of [`ema_rows`], reused across rows.
#[derive(Debug)]
struct RowScratch {
    /// Dense accumulator, all zeros between rows.
    acc: Vec<I32F32>,
    weights: Vec<(u16, u64)>,
    new: Vec<(u16, I32F32)>,
    old: Vec<(u16, I32F32)>,
}

/// Builds the EMA rows for every row `i`: for each column in the weight part or the stored-bond
/// part of the row, `new + old` (absent side 0, saturating), kept when positive and added to the
/// column sums. `new_value(column, Wb_ij, S_act_i)` gives the weight part (from the clipped row,
/// §5.2–5.4; `ranks` accumulates the ranks on the way), `old_value(column, stored u16)` the
/// stored-bond part.
///
/// A row with many entries is accumulated densely (weight part stored, bond part added, one scan
/// over the columns); a short row is collected as two sorted lists and merged, so the cost of a
/// row follows its entries, not `n`. Both give the same row.
fn ema_rows(
    inp: &BondInputs<'_>,
    spare: &mut SpareRows,
    mut ranks: Option<&mut Ranks>,
    new_value: impl Fn(u16, I32F32, I32F32) -> I32F32,
    old_value: impl Fn(u16, u16) -> I32F32,
) -> (Vec<Vec<(u16, I32F32)>>, Vec<I32F32>) {
    let n = inp.active_stake.len();
    let mut rows = Vec::with_capacity(n);
    let mut col_sums = vec![I32F32::ZERO; n];
    let mut scratch = RowScratch {
        acc: vec![I32F32::ZERO; n],
        weights: Vec::new(),
        new: Vec::new(),
        old: Vec::new(),
    };
    for (i, &s) in inp.active_stake.iter().enumerate() {
        let RowScratch {
            acc,
            weights,
            new,
            old,
        } = &mut scratch;
        inp.weights.row_into(i, weights);
        let bound = weights.len().saturating_add(inp.bonds_prev.len_bound(i));
        // The dense scan costs about as much per column as the merge does per entry / 8.
        let row = if bound.saturating_mul(8) >= n {
            inp.clip.row(
                weights,
                i,
                s,
                ranks.as_deref_mut(),
                #[inline(always)]
                |j, wb, _| {
                    if let Some(a) = acc.get_mut(usize::from(j)) {
                        *a = new_value(j, wb, s);
                    }
                },
            );
            let stored = previous_row(
                inp,
                i,
                #[inline(always)]
                |j, v| {
                    if let Some(a) = acc.get_mut(usize::from(j)) {
                        *a = a.saturating_add(old_value(j, v));
                    }
                },
            );
            if weights.is_empty() && stored == 0 {
                Vec::new()
            } else {
                scan_row(acc, &mut col_sums, spare)
            }
        } else {
            new.clear();
            old.clear();
            inp.clip.row(
                weights,
                i,
                s,
                ranks.as_deref_mut(),
                #[inline(always)]
                |j, wb, _| new.push((j, new_value(j, wb, s))),
            );
            previous_row(
                inp,
                i,
                #[inline(always)]
                |j, v| old.push((j, old_value(j, v))),
            );
            let mut row = take_row(spare, new.len().saturating_add(old.len()).min(n));
            merge_sum(new, old, &mut row, &mut col_sums);
            row
        };
        rows.push(row);
    }
    (rows, col_sums)
}

/// The positive entries of a dense accumulator row in column order, added to `col_sums`; the
/// accumulator is left all zeros.
fn scan_row(
    acc: &mut [I32F32],
    col_sums: &mut [I32F32],
    spare: &mut SpareRows,
) -> Vec<(u16, I32F32)> {
    // Counted first so that the row is allocated at its size; then a branch-free compaction:
    // every column is written at the current position, which advances past positive values.
    let count = acc.iter().filter(|a| **a > I32F32::ZERO).count();
    let mut row = take_row(spare, count);
    row.resize(count, (0_u16, I32F32::ZERO));
    let slots = row.as_mut_slice();
    let mut kept = 0_usize;
    // n ≤ 65536, so every column fits a u16.
    let mut j = 0_u16;
    for (a, sum) in acc.iter_mut().zip(col_sums.iter_mut()) {
        let value = core::mem::take(a);
        let positive = value > I32F32::ZERO;
        if let Some(slot) = slots.get_mut(kept) {
            *slot = (j, value);
        }
        *sum = sum.saturating_add(if positive { value } else { I32F32::ZERO });
        kept = kept.wrapping_add(usize::from(positive));
        j = j.wrapping_add(1);
    }
    row
}

/// Column sums (or maxima) as exact divisors; a zero or negative one divides by 1, i.e. leaves
/// the column unchanged.
fn col_divisors(sums: &[I32F32]) -> Vec<U64Divisor> {
    let identity = U64Divisor::new(1 << 32);
    sums.iter()
        .filter_map(|a| {
            u64::try_from(a.to_bits())
                .ok()
                .and_then(U64Divisor::new)
                .or(identity)
        })
        .collect()
}

/// `v ÷` the divisor of column `j` (unchanged when there is none).
#[inline]
fn divide(v: I32F32, divisors: &[U64Divisor], j: u16) -> I32F32 {
    match divisors.get(usize::from(j)) {
        Some(d) => d.div_fixed(v),
        None => v,
    }
}

/// Appends the merge of two sorted rows: for each column in `new` or `old`, `new + old`
/// (absent side 0, saturating), kept when positive, and added to the column sums.
///
/// Branch-free merge: both heads are read, each side advances when its column is the smaller
/// (both on a tie), so the unpredictable column comparisons become conditional moves.
fn merge_sum(
    new: &[(u16, I32F32)],
    old: &[(u16, I32F32)],
    out: &mut Vec<(u16, I32F32)>,
    col_sums: &mut [I32F32],
) {
    const END: (u32, I32F32) = (u32::MAX, I32F32::ZERO);
    let head = |v: Option<&(u16, I32F32)>| v.map_or(END, |&(j, x)| (u32::from(j), x));
    let (mut a, mut b) = (0_usize, 0_usize);
    loop {
        let (ja, va) = head(new.get(a));
        let (jb, vb) = head(old.get(b));
        let Ok(j) = u16::try_from(ja.min(jb)) else {
            return;
        };
        let (take_a, take_b) = (ja <= jb, jb <= ja);
        let pick = |take: bool, v: I32F32| if take { v } else { I32F32::ZERO };
        let value = pick(take_a, va).saturating_add(pick(take_b, vb));
        if value > I32F32::ZERO {
            out.push((j, value));
            if let Some(sum) = col_sums.get_mut(usize::from(j)) {
                *sum = sum.saturating_add(value);
            }
        }
        a = a.wrapping_add(usize::from(take_a));
        b = b.wrapping_add(usize::from(take_b));
    }
}

/// Calls `f(column, new, old)` for each column of either sorted row (absent side `None`), in
/// increasing column order.
fn merge_rows<A: Copy, B: Copy>(
    new: &[(u16, A)],
    old: &[(u16, B)],
    mut f: impl FnMut(u16, Option<A>, Option<B>),
) {
    let (mut a, mut b) = (0_usize, 0_usize);
    loop {
        match (new.get(a).copied(), old.get(b).copied()) {
            (None, None) => return,
            (Some((x, va)), Some((y, vb))) if x == y => {
                f(x, Some(va), Some(vb));
                a = a.wrapping_add(1);
                b = b.wrapping_add(1);
            }
            (Some((x, va)), Some((y, _))) if x < y => {
                f(x, Some(va), None);
                a = a.wrapping_add(1);
            }
            (Some((x, va)), None) => {
                f(x, Some(va), None);
                a = a.wrapping_add(1);
            }
            (_, Some((y, vb))) => {
                f(y, None, Some(vb));
                b = b.wrapping_add(1);
            }
        }
    }
}

/// §6: calls `f(column, v)` for the non-zero stored bonds of row `i` outside the reset columns,
/// and returns how many there were. Zero entries are skipped: they weigh nothing in any sum and
/// decay to nothing.
#[inline]
fn previous_row(inp: &BondInputs<'_>, i: usize, mut f: impl FnMut(u16, u16)) -> usize {
    let mut count = 0_usize;
    let mut visit = |j: u16, v: u16| {
        count = count.wrapping_add(1);
        f(j, v);
    };
    match inp.reset_cols {
        Some(reset) => inp.bonds_prev.for_each(
            i,
            #[inline(always)]
            |j, v| {
                if v != 0 && !reset.get(usize::from(j)).copied().unwrap_or(false) {
                    visit(j, v);
                }
            },
        ),
        None => inp.bonds_prev.for_each(
            i,
            #[inline(always)]
            |j, v| {
                if v != 0 {
                    visit(j, v);
                }
            },
        ),
    }
    count
}

/// The bits of `x` when `0 ≤ x ≤ 1`.
fn unit_bits(x: I32F32) -> Option<u64> {
    u64::try_from(x.to_bits()).ok().filter(|&b| b <= 1 << 32)
}

/// `rate · x` for a rate in `[0, 1]` (as bits) and `x` in `[0, 1]` (a bond weight or a stored
/// bond): [`I32F32::saturating_mul`] without the range checks.
#[inline(always)]
fn unit_product(rate: u64, x: I32F32) -> I32F32 {
    let x = u64::try_from(x.to_bits()).unwrap_or(0);
    I32F32::from_bits(i64::try_from(mul_unit(rate, x)).unwrap_or(i64::MAX))
}

/// `v ÷ 65535` in I32F32, exactly: `v · 2³² = v · 65535 · 65537 + v`, so the truncated quotient
/// is `v · 65537 + ⌊v / 65535⌋`.
#[inline]
fn u16_proportion(v: u16) -> I32F32 {
    let v = i64::from(v);
    I32F32::from_bits(v.wrapping_mul(65_537).wrapping_add(i64::from(v == 65_535)))
}

/// §7.1 steps 1–3, original Yuma: `B = colnorm(reset(B_prev))`, `ΔB = colnorm(S_act ∘ Wb)`,
/// `E = colnorm(α·ΔB + (1−α)·B)`. Liquid alpha has no effect in this mode. Also accumulates
/// the ranks (§5.2–5.3).
pub(crate) fn original(inp: &BondInputs<'_>, params: &EpochParams, spare: &mut SpareRows) -> Ema {
    let n = inp.active_stake.len();
    // Column sums of the stored bonds (as raw numbers) and of ΔB.
    let mut bond_sums = vec![I32F32::ZERO; n];
    for i in 0..n {
        previous_row(
            inp,
            i,
            #[inline(always)]
            |j, v| {
                if let Some(sum) = bond_sums.get_mut(usize::from(j)) {
                    *sum = sum.saturating_add(I32F32::from_u16(v));
                }
            },
        );
    }
    let mut delta_sums = vec![I32F32::ZERO; n];
    let mut ranks = Ranks::new(n);
    let mut wrow = Vec::new();
    for (i, &s) in inp.active_stake.iter().enumerate() {
        inp.weights.row_into(i, &mut wrow);
        inp.clip.row(
            &wrow,
            i,
            s,
            Some(&mut ranks),
            #[inline(always)]
            |j, wb, _| {
                if let Some(sum) = delta_sums.get_mut(usize::from(j)) {
                    *sum = sum.saturating_add(wb.mul_fast(s));
                }
            },
        );
    }
    // A raw-bond column sum below 2³¹ is an exact integer k, and `v ÷ k` in I32F32 is
    // ⌊v · 2³² / k⌋; a saturated sum takes the general division.
    let bond_divisors: Vec<Option<U64Divisor>> = bond_sums
        .iter()
        .map(|sum| {
            let bits = u64::try_from(sum.to_bits()).ok()?;
            if bits & 0xFFFF_FFFF == 0 {
                U64Divisor::new(bits >> 32)
            } else {
                None
            }
        })
        .collect();
    let delta_divisors = col_divisors(&delta_sums);

    let alpha = bonds_moving_average_alpha(params.bonds_moving_avg);
    let keep = I32F32::ONE.saturating_sub(alpha);
    let (mut rows, col_sums) = ema_rows(
        inp,
        spare,
        None,
        #[inline(always)]
        |j, wb, s| alpha.mul_fast(divide(wb.mul_fast(s), &delta_divisors, j)),
        #[inline(always)]
        |j, v| {
            let b = match bond_divisors.get(usize::from(j)) {
                Some(Some(d)) => {
                    I32F32::from_bits(i64::try_from(d.div(u64::from(v) << 32)).unwrap_or(0))
                }
                _ => {
                    let sum = bond_sums.get(usize::from(j)).copied().unwrap_or_default();
                    I32F32::from_u16(v).safe_div(sum)
                }
            };
            keep.mul_fast(b)
        },
    );
    // E is column-normalised before dividends and storage.
    let divisors = col_divisors(&col_sums);
    for row in &mut rows {
        for (j, e) in row.iter_mut() {
            *e = divide(*e, &divisors, *j);
        }
    }
    Ema {
        rows,
        col_sums,
        ranks,
        liquid_alpha_used: false,
    }
}

/// §7.1 steps 4–5: `D = normalise(E · I)`, then each column of `E` is max-upscaled for storage.
pub(crate) fn original_dividends(ema: &mut Ema, incentive: &[I32F32]) -> Vec<I32F32> {
    let n = incentive.len();
    let mut maxes = vec![I32F32::ZERO; n];
    let dividends = ema
        .rows
        .iter()
        .map(|row| {
            row.iter().fold(I32F32::ZERO, |acc, &(j, e)| {
                let j = usize::from(j);
                if let Some(max) = maxes.get_mut(j) {
                    *max = (*max).max(e);
                }
                let inc = incentive.get(j).copied().unwrap_or_default();
                acc.saturating_add(inc.mul_fast(e))
            })
        })
        .collect();
    let divisors = col_divisors(&maxes);
    for row in &mut ema.rows {
        for (j, e) in row.iter_mut() {
            *e = divide(*e, &divisors, *j);
        }
    }
    normalized(dividends)
}

/// §7.2 steps 1–3, Yuma3: `B = reset(B_prev ÷ 65535)`; `E = min((1−a)·B + max(a·Wb, 0), 1)` per
/// entry with liquid alpha (when enabled and some `C_j ≠ 0`), else `E = α·Wb + (1−α)·B`. Also
/// accumulates the ranks (§5.2–5.3).
///
/// With [`EpochParams::yuma3_sparse_drop`] and liquid alpha, entries whose bond weight is absent
/// are dropped instead of decayed, as the chain's sparse path does (§9).
pub(crate) fn yuma3(inp: &BondInputs<'_>, params: &EpochParams, spare: &mut SpareRows) -> Ema {
    let n = inp.active_stake.len();
    let liquid = params.liquid_alpha_enabled && inp.consensus.iter().any(|c| *c != I32F32::ZERO);
    let mut ranks = Ranks::new(n);
    let (rows, col_sums) = if liquid {
        yuma3_liquid(inp, params, &mut ranks, spare)
    } else {
        let alpha = bonds_moving_average_alpha(params.bonds_moving_avg);
        let keep = I32F32::ONE.saturating_sub(alpha);
        match (unit_bits(alpha), unit_bits(keep)) {
            // Every realistic rate: both factors of each product are in [0, 1] (Wb and the
            // stored bond are), so the plain 128-bit product is the saturating one.
            (Some(a), Some(k)) => ema_rows(
                inp,
                spare,
                Some(&mut ranks),
                #[inline(always)]
                |_, wb, _| unit_product(a, wb),
                #[inline(always)]
                |_, v| unit_product(k, u16_proportion(v)),
            ),
            _ => ema_rows(
                inp,
                spare,
                Some(&mut ranks),
                #[inline(always)]
                |_, wb, _| alpha.mul_fast(wb),
                #[inline(always)]
                |_, v| keep.mul_fast(u16_proportion(v)),
            ),
        }
    };
    Ema {
        rows,
        col_sums,
        ranks,
        liquid_alpha_used: liquid,
    }
}

/// The liquid-alpha EMA of [`yuma3`]: each entry's rate comes from its weight, bond and
/// consensus (§7.2), so rows are merged entry by entry.
fn yuma3_liquid(
    inp: &BondInputs<'_>,
    params: &EpochParams,
    ranks: &mut Ranks,
    spare: &mut SpareRows,
) -> (Vec<Vec<(u16, I32F32)>>, Vec<I32F32>) {
    let n = inp.active_stake.len();
    let mut rows = Vec::with_capacity(n);
    let mut col_sums = vec![I32F32::ZERO; n];
    let la = LiquidAlpha::new(
        params.alpha_low,
        params.alpha_high,
        params.alpha_sigmoid_steepness,
    );
    let mut bond_weights: Vec<(u16, (I32F32, bool))> = Vec::new();
    let mut old: Vec<(u16, I32F32)> = Vec::new();
    let mut wrow = Vec::new();
    for (i, &s) in inp.active_stake.iter().enumerate() {
        bond_weights.clear();
        old.clear();
        inp.weights.row_into(i, &mut wrow);
        inp.clip.row(
            &wrow,
            i,
            s,
            Some(&mut *ranks),
            #[inline(always)]
            |j, wb, present| bond_weights.push((j, (wb, present))),
        );
        previous_row(
            inp,
            i,
            #[inline(always)]
            |j, v| old.push((j, u16_proportion(v))),
        );
        let mut row = take_row(spare, bond_weights.len().saturating_add(old.len()).min(n));
        merge_rows(&bond_weights, &old, |j, new, b| {
            let in_sparse_row = new.is_some_and(|(_, present)| present);
            if params.yuma3_sparse_drop && !in_sparse_row {
                return;
            }
            let (w, b) = (new.map_or(I32F32::ZERO, |(w, _)| w), b.unwrap_or_default());
            if w == I32F32::ZERO && b == I32F32::ZERO {
                return;
            }
            let c = inp
                .consensus
                .get(usize::from(j))
                .copied()
                .unwrap_or_default();
            let a = liquid_alpha(c, w, b, &la);
            let decayed = I32F32::ONE.saturating_sub(a).saturating_mul(b);
            let bought = a.saturating_mul(w).max(I32F32::ZERO);
            let value = decayed.saturating_add(bought).min(I32F32::ONE);
            if value > I32F32::ZERO {
                row.push((j, value));
                if let Some(sum) = col_sums.get_mut(usize::from(j)) {
                    *sum = sum.saturating_add(value);
                }
            }
        });
        rows.push(row);
    }
    (rows, col_sums)
}

/// §7.2 step 4: `T_i = Σ_j colnorm(E)_ij · I_j` (each entry normalised on the fly),
/// `D = normalise(T ∘ S_act)`.
pub(crate) fn yuma3_dividends(
    ema: &Ema,
    incentive: &[I32F32],
    active_stake: &[I32F32],
) -> Vec<I32F32> {
    // One table lookup per entry: the column's divisor and incentive side by side.
    let columns: Vec<(U64Divisor, I32F32)> = col_divisors(&ema.col_sums)
        .into_iter()
        .zip(incentive.iter().copied())
        .collect();
    normalized(
        active_stake
            .iter()
            .zip(&ema.rows)
            .map(|(s, row)| {
                if *s == I32F32::ZERO {
                    // T · 0 = 0 whatever T is.
                    return I32F32::ZERO;
                }
                let mut total = I32F32::ZERO;
                for &(j, e) in row {
                    let Some(&(d, inc)) = columns.get(usize::from(j)) else {
                        continue;
                    };
                    let term = match u64::try_from(e.to_bits()) {
                        // The common case: 0 ≤ E < 1, so colnorm(E) = ⌊E·2³²/sum⌋ ≤ 1 (the sum
                        // includes E) and the product with the incentive (≤ 1) cannot saturate.
                        Ok(bits) if bits >> 32 == 0 => I32F32::from_bits(mul_unit(
                            d.div(bits << 32),
                            u64::try_from(inc.to_bits()).unwrap_or(0),
                        )
                            as i64),
                        _ => d.div_fixed(e).mul_fast(inc),
                    };
                    total = total.saturating_add(term);
                }
                total.checked_mul(*s).unwrap_or_default()
            })
            .collect(),
    )
}

/// §7.3 what is stored per row: the computed row for new permits, an empty row for a lost permit
/// (previous permit, owner forced), and nothing (keep the stored row) otherwise.
pub(crate) fn storage_rows(
    rows: Vec<Vec<(u16, I32F32)>>,
    new_permits: &[bool],
    epoch_permits: &[bool],
) -> Vec<BondRow> {
    rows.into_iter()
        .zip(new_permits.iter().zip(epoch_permits))
        .map(|(row, (&new, &old))| {
            if new {
                BondRow::Store(row)
            } else if old {
                BondRow::Clear
            } else {
                BondRow::Keep
            }
        })
        .collect()
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_columns_boundary() {
        assert_eq!(
            bond_reset_columns(100, &[100, 101, 102, 0]),
            vec![false, true, true, false]
        );
    }

    #[test]
    fn ema_rate_from_ppm() {
        // 1 − 0.9: 0.9 in I64F64 truncated to I32F32, subtracted from 1.
        let ratio_bits = ((900_000_i128 << 64) / 1_000_000) >> 32;
        assert_eq!(
            bonds_moving_average_alpha(900_000).to_bits(),
            (1_i64 << 32) - ratio_bits as i64
        );
        assert_eq!(bonds_moving_average_alpha(0), I32F32::ONE);
        assert_eq!(bonds_moving_average_alpha(1_000_000), I32F32::ZERO);
    }

    /// The fast exponential and reciprocal against the plain fixed-point formula.
    #[test]
    fn liquid_alpha_matches_the_plain_formula() {
        let reference = |c: I32F32, w: I32F32, b: I32F32, la: &LiquidAlpha| {
            let clamp01 = |v: I32F32| v.min(I32F32::ONE).max(I32F32::ZERO);
            let x = if w >= b {
                clamp01(w.saturating_sub(c))
            } else {
                clamp01(b.saturating_sub(w))
            };
            let t = la
                .neg_steepness
                .saturating_mul(x.saturating_sub(I32F32::HALF));
            let limit = I32F32::saturating_from_int(20);
            let t = t.clamp(limit.saturating_neg(), limit);
            let e = crate::fixed::exp_series(t).unwrap_or(I32F32::MAX);
            let sigmoid = I32F32::ONE.saturating_div(I32F32::ONE.saturating_add(e));
            let alpha = la
                .low
                .saturating_add(sigmoid.saturating_mul(la.high.saturating_sub(la.low)));
            alpha.min(la.high).max(la.low)
        };
        let mut x: u64 = 17;
        let mut next = move |k: u64| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (x >> 31) % k
        };
        for steepness in [1000_i16, 1, -1000, i16::MAX, i16::MIN, 250] {
            let la = LiquidAlpha::new(1638, 65535, steepness);
            for _ in 0..3000 {
                let unit = |v: u64| I32F32::from_bits(v as i64);
                let (c, w, b) = (
                    unit(next((1 << 32) + 1)),
                    unit(next((1 << 32) + 1)),
                    unit(next((1 << 32) + 1)),
                );
                assert_eq!(liquid_alpha(c, w, b, &la), reference(c, w, b, &la));
            }
        }
    }

    #[test]
    fn liquid_alpha_moves_with_disagreement() {
        let la = LiquidAlpha::new(45_875, 58_982, 1_000);
        let half = I32F32::HALF;
        // Full agreement (w = c, w ≥ b): x = 0 -> sigmoid near 0 -> close to alpha_low.
        let agree = liquid_alpha(half, half, I32F32::ZERO, &la);
        // Full disagreement: x = 1 -> close to alpha_high.
        let disagree = liquid_alpha(I32F32::ZERO, I32F32::ONE, I32F32::ZERO, &la);
        assert!(agree >= la.low && agree < la.low.saturating_add(I32F32::from_bits(1 << 26)));
        assert!(
            disagree <= la.high && disagree > la.high.saturating_sub(I32F32::from_bits(1 << 26))
        );
        // x = 0.5 -> exp(0) = 1 -> sigmoid exactly 0.5.
        let mid = liquid_alpha(half, I32F32::ONE, I32F32::ZERO, &la);
        assert_eq!(
            mid,
            la.low
                .saturating_add(half.saturating_mul(la.high.saturating_sub(la.low)))
        );
        assert_eq!(la.neg_steepness, I32F32::saturating_from_int(-10));
        // Steepness that does not divide by 100 truncates toward zero.
        let odd = LiquidAlpha::new(1638, 1638, 1001);
        assert_eq!(
            odd.neg_steepness,
            I32F32::from_i16(1001).safe_div(I32F32::saturating_from_int(-100))
        );
    }
}
