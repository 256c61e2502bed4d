//! Bonds and dividends (YUMA_SPEC §6, §7).

use super::EpochParams;
use super::consensus::BondWeights;
use super::matrix::Csr;
use super::output::BondRow;
use super::prepare::normalized;
use crate::fixed::{I32F32, I64F64, U64Divisor, exp_safe};

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
    let sigmoid = I32F32::ONE.saturating_div(I32F32::ONE.saturating_add(e));
    let alpha = la
        .low
        .saturating_add(sigmoid.saturating_mul(la.high.saturating_sub(la.low)));
    alpha.min(la.high).max(la.low)
}

/// What the bond step reads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BondInputs<'a> {
    pub(crate) bonds_prev: &'a Csr<u16>,
    pub(crate) reset_cols: Option<&'a [bool]>,
    /// Masked, row-normalised weights; its entry structure is shared with `bond_weights`.
    pub(crate) weights: &'a Csr<I32F32>,
    pub(crate) bond_weights: &'a BondWeights<'a>,
    pub(crate) active_stake: &'a [I32F32],
    pub(crate) incentive: &'a [I32F32],
    pub(crate) consensus: &'a [I32F32],
}

/// Result of the bond step for every row (storage rules applied later by [`storage_rows`]).
#[derive(Clone, Debug)]
pub(crate) struct BondOutcome {
    /// Bonds in the stored convention before u16 flooring, for every row.
    pub(crate) stored: Csr<I32F32>,
    /// Normalised dividends.
    pub(crate) dividends: Vec<I32F32>,
    /// Whether liquid alpha set the EMA rates.
    pub(crate) liquid_alpha_used: bool,
}

/// §6: previous bonds as numbers (`convert` maps the stored u16), reset columns dropped.
fn previous_bonds(
    stored: &Csr<u16>,
    reset_cols: Option<&[bool]>,
    convert: impl Fn(u16) -> I32F32,
) -> Csr<I32F32> {
    let mut out = Csr::with_capacity(stored.n_rows(), stored.cols.len());
    for (_, cols, vals) in stored.iter_rows() {
        for (&j, &v) in cols.iter().zip(vals) {
            let reset = reset_cols.is_some_and(|r| r.get(usize::from(j)).copied().unwrap_or(false));
            if !reset {
                out.push(j, convert(v));
            }
        }
        out.end_row();
    }
    out
}

/// Column sums of entries given as parallel `(column, value)` slices, as exact divisors
/// (`None` for a zero sum).
fn col_divisors(
    cols: &[u16],
    vals: &[I32F32],
    n: usize,
    combine: fn(I32F32, I32F32) -> I32F32,
) -> Vec<Option<U64Divisor>> {
    let mut acc = vec![I32F32::ZERO; n];
    for (&j, v) in cols.iter().zip(vals) {
        if let Some(a) = acc.get_mut(usize::from(j)) {
            *a = combine(*a, *v);
        }
    }
    acc.iter()
        .map(|a| u64::try_from(a.to_bits()).ok().and_then(U64Divisor::new))
        .collect()
}

/// Divides each entry by its column's divisor (entries of columns without one are unchanged).
fn divide_cols(cols: &[u16], vals: &mut [I32F32], divisors: &[Option<U64Divisor>]) {
    for (&j, v) in cols.iter().zip(vals.iter_mut()) {
        if let Some(Some(d)) = divisors.get(usize::from(j)) {
            *v = d.div_fixed(*v);
        }
    }
}

/// Column-normalise entries given as parallel `(column, value)` slices (zero columns unchanged).
fn col_normalize(cols: &[u16], vals: &mut [I32F32], n: usize) {
    let sums = col_divisors(cols, vals, n, I32F32::saturating_add);
    divide_cols(cols, vals, &sums);
}

/// Column max-upscale: each entry divided by its column's maximum (zero columns unchanged).
fn col_max_upscale(cols: &[u16], vals: &mut [I32F32], n: usize) {
    let maxes = col_divisors(cols, vals, n, I32F32::max);
    divide_cols(cols, vals, &maxes);
}

/// Merges two sorted sparse rows, calling `f(column, new, old)` for each column in either
/// (absent side `None`), in increasing column order.
fn merge_rows(
    new: (&[u16], &[I32F32]),
    old: (&[u16], &[I32F32]),
    mut f: impl FnMut(u16, Option<usize>, Option<I32F32>),
) {
    let (mut a, mut b) = (0_usize, 0_usize);
    loop {
        match (new.0.get(a).copied(), old.0.get(b).copied()) {
            (None, None) => return,
            (Some(x), Some(y)) if x == y => {
                f(x, Some(a), old.1.get(b).copied());
                a = a.saturating_add(1);
                b = b.saturating_add(1);
            }
            (Some(x), Some(y)) if x < y => {
                f(x, Some(a), None);
                a = a.saturating_add(1);
            }
            (Some(x), None) => {
                f(x, Some(a), None);
                a = a.saturating_add(1);
            }
            (_, Some(y)) => {
                f(y, None, old.1.get(b).copied());
                b = b.saturating_add(1);
            }
        }
    }
}

/// §7.1 original Yuma: `B = colnorm(reset(B_prev))`, `ΔB = colnorm(S_act ∘ Wb)`,
/// `E = colnorm(α·ΔB + (1−α)·B)`, `D = normalise(E · I)`; stored as column max-upscaled `E`.
/// Liquid alpha has no effect in this mode.
pub(crate) fn original(inp: &BondInputs<'_>, params: &EpochParams) -> BondOutcome {
    let n = inp.active_stake.len();
    let mut prev = previous_bonds(inp.bonds_prev, inp.reset_cols, I32F32::from_u16);
    col_normalize(&prev.cols, &mut prev.vals, n);

    let weights = inp.weights;
    let mut delta: Vec<I32F32> = Vec::with_capacity(weights.vals.len());
    for (i, s) in inp.active_stake.iter().enumerate() {
        let range = weights.range(i);
        let wb = inp.bond_weights.vals.get(range).unwrap_or_default();
        delta.extend(wb.iter().map(|w| w.saturating_mul(*s)));
    }
    col_normalize(&weights.cols, &mut delta, n);

    let alpha = bonds_moving_average_alpha(params.bonds_moving_avg);
    let keep = I32F32::ONE.saturating_sub(alpha);
    let mut ema = Csr::with_capacity(n, weights.cols.len().saturating_add(prev.cols.len()));
    for i in 0..n {
        let range = weights.range(i);
        let new_cols = weights.cols.get(range.clone()).unwrap_or_default();
        let new_vals = delta.get(range).unwrap_or_default();
        merge_rows((new_cols, new_vals), prev.row(i), |j, new, old| {
            let mut acc = I32F32::ZERO;
            if let Some(d) = new.and_then(|k| new_vals.get(k)) {
                acc = acc.saturating_add(alpha.saturating_mul(*d));
            }
            if let Some(b) = old {
                acc = acc.saturating_add(keep.saturating_mul(b));
            }
            if acc > I32F32::ZERO {
                ema.push(j, acc);
            }
        });
        ema.end_row();
    }
    col_normalize(&ema.cols, &mut ema.vals, n);

    let dividends = normalized(
        (0..n)
            .map(|i| {
                let (cols, vals) = ema.row(i);
                cols.iter().zip(vals).fold(I32F32::ZERO, |acc, (&j, e)| {
                    let inc = inp
                        .incentive
                        .get(usize::from(j))
                        .copied()
                        .unwrap_or_default();
                    acc.saturating_add(inc.saturating_mul(*e))
                })
            })
            .collect(),
    );
    col_max_upscale(&ema.cols, &mut ema.vals, n);
    BondOutcome {
        stored: ema,
        dividends,
        liquid_alpha_used: false,
    }
}

/// §7.2 Yuma3: `B = reset(B_prev ÷ 65535)`; `E = min((1−a)·B + max(a·Wb, 0), 1)` per entry with
/// liquid alpha (when enabled and some `C_j ≠ 0`), else `E = α·Wb + (1−α)·B`;
/// `D = normalise(S_act ∘ (colnorm(E) · I))`; stored as `E`.
///
/// With [`EpochParams::yuma3_sparse_drop`] and liquid alpha, entries whose bond weight is absent
/// are dropped instead of decayed, as the chain's sparse path does (§9).
pub(crate) fn yuma3(inp: &BondInputs<'_>, params: &EpochParams) -> BondOutcome {
    let n = inp.active_stake.len();
    let prev = previous_bonds(inp.bonds_prev, inp.reset_cols, |v| {
        I32F32::from_u16(v).safe_div(I32F32::U16_MAX)
    });
    let weights = inp.weights;
    let liquid = params.liquid_alpha_enabled && inp.consensus.iter().any(|c| *c != I32F32::ZERO);
    let la = LiquidAlpha::new(
        params.alpha_low,
        params.alpha_high,
        params.alpha_sigmoid_steepness,
    );
    let alpha = bonds_moving_average_alpha(params.bonds_moving_avg);
    let keep = I32F32::ONE.saturating_sub(alpha);

    let mut ema = Csr::with_capacity(n, weights.cols.len().saturating_add(prev.cols.len()));
    for i in 0..n {
        let range = weights.range(i);
        let new_cols = weights.cols.get(range.clone()).unwrap_or_default();
        let wb = inp.bond_weights.vals.get(range.clone()).unwrap_or_default();
        let present = inp.bond_weights.present.get(range).unwrap_or_default();
        merge_rows((new_cols, wb), prev.row(i), |j, new, old| {
            let w = new.and_then(|k| wb.get(k)).copied();
            let value = if liquid {
                let in_sparse_row = new.is_some_and(|k| present.get(k).copied().unwrap_or(false));
                if params.yuma3_sparse_drop && !in_sparse_row {
                    return;
                }
                let (w, b) = (w.unwrap_or_default(), old.unwrap_or_default());
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
                decayed.saturating_add(bought).min(I32F32::ONE)
            } else {
                let mut acc = I32F32::ZERO;
                if let Some(w) = w {
                    acc = acc.saturating_add(alpha.saturating_mul(w));
                }
                if let Some(b) = old {
                    acc = acc.saturating_add(keep.saturating_mul(b));
                }
                acc
            };
            if value > I32F32::ZERO {
                ema.push(j, value);
            }
        });
        ema.end_row();
    }

    // T_i = Σ_j colnorm(E)_ij · I_j, normalising each entry on the fly.
    let col_sums = col_divisors(&ema.cols, &ema.vals, n, I32F32::saturating_add);
    let dividends = normalized(
        inp.active_stake
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let (cols, vals) = ema.row(i);
                let total = cols.iter().zip(vals).fold(I32F32::ZERO, |acc, (&j, e)| {
                    let j = usize::from(j);
                    let e = match col_sums.get(j) {
                        Some(Some(d)) => d.div_fixed(*e),
                        _ => *e,
                    };
                    let inc = inp.incentive.get(j).copied().unwrap_or_default();
                    acc.saturating_add(e.saturating_mul(inc))
                });
                total.checked_mul(*s).unwrap_or_default()
            })
            .collect(),
    );
    BondOutcome {
        stored: ema,
        dividends,
        liquid_alpha_used: liquid,
    }
}

/// §7.3 what is stored per row: the computed row for new permits, an empty row for a lost permit
/// (previous permit, owner forced), and nothing (keep the stored row) otherwise.
pub(crate) fn storage_rows(
    stored: &Csr<I32F32>,
    new_permits: &[bool],
    epoch_permits: &[bool],
) -> Vec<BondRow> {
    new_permits
        .iter()
        .zip(epoch_permits)
        .enumerate()
        .map(|(i, (&new, &old))| {
            if new {
                let (cols, vals) = stored.row(i);
                BondRow::Store(cols.iter().copied().zip(vals.iter().copied()).collect())
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
