//! A straightforward dense `n × n` implementation of YUMA_SPEC, written from the spec text with
//! only the public fixed-point primitives, as an oracle for the optimised sparse engine.

use subnet_scoring::fixed::{I32F32, I64F64, emission_amount, exp_safe};
use subnet_scoring::yuma::EpochParams;

const ZERO: I32F32 = I32F32::ZERO;
const ONE: I32F32 = I32F32::ONE;

pub(crate) struct RefInputs<'a> {
    pub(crate) weights: &'a [Vec<u16>],
    pub(crate) bonds: &'a [Vec<u16>],
    pub(crate) stake: &'a [u64],
    pub(crate) active: &'a [bool],
    pub(crate) permits_prev: &'a [bool],
    pub(crate) reset_cols: Option<&'a [bool]>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RefOutput {
    pub(crate) stake: Vec<I32F32>,
    pub(crate) active_stake: Vec<I32F32>,
    pub(crate) consensus: Vec<I32F32>,
    pub(crate) validator_trust: Vec<I32F32>,
    pub(crate) incentive: Vec<I32F32>,
    pub(crate) trust: Vec<I32F32>,
    pub(crate) dividends: Vec<I32F32>,
    pub(crate) shares: [Vec<I32F32>; 3],
    pub(crate) permits: Vec<bool>,
    /// Stored rows; `None` = left unchanged.
    pub(crate) bonds: Vec<Option<Vec<I32F32>>>,
    pub(crate) amounts: [Vec<u64>; 3],
}

fn sum(v: &[I32F32]) -> I32F32 {
    v.iter().fold(ZERO, |a, x| a.saturating_add(*x))
}

fn normalize(v: &mut [I32F32]) {
    let s = sum(v);
    if s != ZERO {
        v.iter_mut().for_each(|x| *x = x.safe_div(s));
    }
}

fn col_normalize(m: &mut [Vec<I32F32>]) {
    let n = m.len();
    for j in 0..n {
        let s = m.iter().fold(ZERO, |a, r| a.saturating_add(r[j]));
        if s != ZERO {
            m.iter_mut().for_each(|r| r[j] = r[j].safe_div(s));
        }
    }
}

/// YUMA_SPEC §5.1 pseudocode, literally.
fn median(sigma: &[I32F32], x: &[I32F32], minority: I32F32, total: I32F32) -> I32F32 {
    let mut p: Vec<usize> = (0..x.len()).collect();
    let (mut lo, mut hi) = (ZERO, total);
    for _ in 0..=x.len() {
        if p.is_empty() {
            return ZERO;
        }
        if p.len() == 1 {
            return x[p[0]];
        }
        let pivot = x[p[p.len() / 2]];
        let l: Vec<usize> = p.iter().copied().filter(|&i| x[i] < pivot).collect();
        let u: Vec<usize> = p.iter().copied().filter(|&i| x[i] > pivot).collect();
        let lo_mass = l.iter().fold(ZERO, |a, &i| a.saturating_add(sigma[i]));
        let hi_mass = u.iter().fold(ZERO, |a, &i| a.saturating_add(sigma[i]));
        if minority < lo.saturating_add(lo_mass) && !l.is_empty() {
            hi = lo.saturating_add(lo_mass);
            p = l;
        } else if hi.saturating_sub(hi_mass) <= minority && !u.is_empty() {
            lo = hi.saturating_sub(hi_mass);
            p = u;
        } else {
            return pivot;
        }
    }
    ZERO
}

pub(crate) fn reference_epoch(inp: &RefInputs<'_>, p: &EpochParams) -> RefOutput {
    let n = inp.stake.len();
    let owner = p.owner_uid.map(usize::from).filter(|&o| o < n);
    let is_owner = |i: usize| owner == Some(i);

    // §4.2
    let s64: Vec<I64F64> = inp
        .stake
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let s = I64F64::saturating_from_u64(s);
            if !is_owner(i) && s.to_u64_saturating() < p.stake_threshold {
                I64F64::ZERO
            } else {
                s
            }
        })
        .collect();
    let total = s64.iter().fold(I64F64::ZERO, |a, x| a.saturating_add(*x));
    let stake: Vec<I32F32> = s64.iter().map(|s| s.safe_div(total).to_i32f32()).collect();
    let k = usize::from(p.max_allowed_validators);
    let mut permits: Vec<bool> = stake.iter().map(|s| *s != ZERO).collect();
    if n >= k {
        let mut idx: Vec<usize> = (0..n).collect();
        idx.sort_by_key(|&i| stake[i]);
        idx.iter().take(n - k).for_each(|&i| permits[i] = false);
    }
    let mut permit = inp.permits_prev.to_vec();
    if let Some(o) = owner {
        permits[o] = true;
        permit[o] = true;
    }

    // §4.3
    let mut s_act: Vec<I32F32> = (0..n)
        .map(|i| {
            if inp.active[i] && permit[i] {
                stake[i]
            } else {
                ZERO
            }
        })
        .collect();
    normalize(&mut s_act);
    let mut w: Vec<Vec<I32F32>> = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| {
                    let keep = permit[i] && (i != j || is_owner(i));
                    if keep {
                        I32F32::from_u16(inp.weights[i][j])
                    } else {
                        ZERO
                    }
                })
                .collect()
        })
        .collect();
    for row in &mut w {
        let s = sum(row);
        if s > ZERO {
            row.iter_mut().for_each(|x| *x = x.safe_div(s));
        }
    }

    // §5
    let voters: Vec<usize> = (0..n).filter(|&i| s_act[i] > ZERO).collect();
    let mut sigma: Vec<I32F32> = voters.iter().map(|&i| s_act[i]).collect();
    normalize(&mut sigma);
    let sigma_sum = sum(&sigma);
    let minority = sigma_sum.saturating_sub(I32F32::from_u16_ratio(p.kappa));
    let consensus: Vec<I32F32> = (0..n)
        .map(|j| {
            let col: Vec<I32F32> = voters.iter().map(|&i| w[i][j]).collect();
            median(&sigma, &col, minority, sigma_sum)
        })
        .collect();
    let wc: Vec<Vec<I32F32>> = w
        .iter()
        .map(|r| {
            r.iter()
                .zip(&consensus)
                .map(|(x, c)| (*x).min(*c))
                .collect()
        })
        .collect();
    let validator_trust: Vec<I32F32> = wc.iter().map(|r| sum(r)).collect();
    let rank_of = |m: &[Vec<I32F32>]| -> Vec<I32F32> {
        (0..n)
            .map(|j| {
                (0..n).fold(ZERO, |a, i| {
                    a.saturating_add(s_act[i].saturating_mul(m[i][j]))
                })
            })
            .collect()
    };
    let ranks = rank_of(&wc);
    let preranks = rank_of(&w);
    let trust: Vec<I32F32> = ranks
        .iter()
        .zip(&preranks)
        .map(|(r, q)| r.safe_div(*q))
        .collect();
    let mut incentive = ranks;
    normalize(&mut incentive);
    let beta = I32F32::from_u16_ratio(p.bonds_penalty);
    let wb: Vec<Vec<I32F32>> = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| {
                    w[i][j].saturating_add(beta.saturating_mul(wc[i][j].saturating_sub(w[i][j])))
                })
                .collect()
        })
        .collect();

    // §6, §7
    let reset = |j: usize| inp.reset_cols.is_some_and(|r| r[j]);
    let bma = I64F64::saturating_from_u64(p.bonds_moving_avg)
        .safe_div(I64F64::saturating_from_u64(1_000_000))
        .to_i32f32();
    let alpha = ONE.saturating_sub(bma);
    let (stored, mut dividends) = if p.yuma3_enabled {
        let b: Vec<Vec<I32F32>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| {
                        if reset(j) {
                            ZERO
                        } else {
                            I32F32::from_u16(inp.bonds[i][j]).safe_div(I32F32::U16_MAX)
                        }
                    })
                    .collect()
            })
            .collect();
        let liquid = p.liquid_alpha_enabled && consensus.iter().any(|c| *c != ZERO);
        let low = I32F32::from_u16_ratio(p.alpha_low);
        let high = I32F32::from_u16_ratio(p.alpha_high);
        let t = I32F32::from_i16(p.alpha_sigmoid_steepness)
            .saturating_div(I32F32::saturating_from_int(-100));
        let e: Vec<Vec<I32F32>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| {
                        let (wv, bv, c) = (wb[i][j], b[i][j], consensus[j]);
                        if liquid {
                            let clamp01 = |v: I32F32| v.min(ONE).max(ZERO);
                            let x = if wv >= bv {
                                clamp01(wv.saturating_sub(c))
                            } else {
                                clamp01(bv.saturating_sub(wv))
                            };
                            let sig = ONE.saturating_div(ONE.saturating_add(exp_safe(
                                t.saturating_mul(x.saturating_sub(I32F32::HALF)),
                            )));
                            let a = low
                                .saturating_add(sig.saturating_mul(high.saturating_sub(low)))
                                .min(high)
                                .max(low);
                            ONE.saturating_sub(a)
                                .saturating_mul(bv)
                                .saturating_add(a.saturating_mul(wv).max(ZERO))
                                .min(ONE)
                        } else {
                            alpha
                                .saturating_mul(wv)
                                .saturating_add(ONE.saturating_sub(alpha).saturating_mul(bv))
                        }
                    })
                    .collect()
            })
            .collect();
        let mut en = e.clone();
        col_normalize(&mut en);
        let d: Vec<I32F32> = (0..n)
            .map(|i| {
                let t = (0..n).fold(ZERO, |a, j| {
                    a.saturating_add(en[i][j].saturating_mul(incentive[j]))
                });
                t.checked_mul(s_act[i]).unwrap_or(ZERO)
            })
            .collect();
        (e, d)
    } else {
        let mut b: Vec<Vec<I32F32>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| {
                        if reset(j) {
                            ZERO
                        } else {
                            I32F32::from_u16(inp.bonds[i][j])
                        }
                    })
                    .collect()
            })
            .collect();
        col_normalize(&mut b);
        let mut delta: Vec<Vec<I32F32>> = (0..n)
            .map(|i| (0..n).map(|j| wb[i][j].saturating_mul(s_act[i])).collect())
            .collect();
        col_normalize(&mut delta);
        let mut e: Vec<Vec<I32F32>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| {
                        alpha
                            .saturating_mul(delta[i][j])
                            .saturating_add(ONE.saturating_sub(alpha).saturating_mul(b[i][j]))
                    })
                    .collect()
            })
            .collect();
        col_normalize(&mut e);
        let d: Vec<I32F32> = (0..n)
            .map(|i| {
                (0..n).fold(ZERO, |a, j| {
                    a.saturating_add(incentive[j].saturating_mul(e[i][j]))
                })
            })
            .collect();
        for j in 0..n {
            let m = e.iter().fold(ZERO, |a, r| a.max(r[j]));
            if m != ZERO {
                e.iter_mut().for_each(|r| r[j] = r[j].safe_div(m));
            }
        }
        (e, d)
    };
    normalize(&mut dividends);
    let bonds = (0..n)
        .map(|i| {
            if permits[i] {
                Some(stored[i].clone())
            } else if permit[i] {
                Some(vec![ZERO; n])
            } else {
                None
            }
        })
        .collect();

    // §8
    let combined: Vec<I32F32> = incentive
        .iter()
        .zip(&dividends)
        .map(|(a, b)| a.saturating_add(*b))
        .collect();
    let tot = sum(&combined);
    let div = |v: &[I32F32]| -> Vec<I32F32> {
        v.iter()
            .map(|x| if tot == ZERO { *x } else { x.safe_div(tot) })
            .collect()
    };
    let server = div(&incentive);
    let mut validator = div(&dividends);
    let mut comb = combined;
    normalize(&mut comb);
    if tot == ZERO {
        let src = if sum(&s_act) == ZERO {
            stake.clone()
        } else {
            s_act.clone()
        };
        validator = src.clone();
        comb = src;
    }
    let amounts = |v: &[I32F32]| {
        v.iter()
            .map(|s| emission_amount(*s, p.rao_emission))
            .collect()
    };
    RefOutput {
        amounts: [amounts(&server), amounts(&validator), amounts(&comb)],
        shares: [server, validator, comb],
        stake,
        active_stake: s_act,
        consensus,
        validator_trust,
        incentive,
        trust,
        dividends,
        permits,
        bonds,
    }
}
