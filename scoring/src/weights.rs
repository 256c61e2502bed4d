//! Weight helpers: float scores to the u16 weights a validator submits, the chain's checks and
//! max-upscale on store (YUMA_SPEC §2.3), and the commit-reveal commitment hash.
//!
//! The float helpers ([`normalize_max_weight`], [`scores_to_weights`]) run before consensus, on
//! the validator; everything the chain recomputes ([`max_upscale`], [`is_max_weight_limited`])
//! is in fixed point.

use crate::fixed::I32F32;
use crate::yuma::MAX_UIDS;
use crate::yuma::prepare::normalize;

/// A weight vector ready for `set_weights`: UIDs strictly increasing, values non-zero.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WeightVector {
    /// UIDs, strictly increasing.
    pub uids: Vec<u16>,
    /// u16 weight of each UID, the largest 65535 (max-upscaled, as the chain stores them).
    pub values: Vec<u16>,
}

/// The subnet hyperparameters a weight submission must satisfy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightLimits {
    /// Largest share of one UID, as a u16 ratio (`max_weight_limit / 65535`).
    pub max_weight_limit: u16,
    /// Fewest UIDs a submission must name (the chain requires `min(min_allowed_weights, n)`).
    pub min_allowed_weights: u16,
}

/// Why scores could not become a valid weight vector.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum WeightsError {
    /// A score is negative, NaN or infinite.
    #[error("score of uid {uid} is {score}; scores must be finite and >= 0")]
    InvalidScore {
        /// The UID.
        uid: usize,
        /// The score given.
        score: f64,
    },
    /// More scores than u16 UIDs.
    #[error("{n} scores, but UIDs are u16 (at most 65536)")]
    TooManyUids {
        /// Number of scores.
        n: usize,
    },
    /// Every score is 0 (or there are none): there is nothing to weight.
    #[error("no positive score to turn into weights")]
    NoPositiveScore,
    /// Even weighting all `n` UIDs equally gives one UID more than `max_weight_limit`.
    #[error(
        "max_weight_limit {max_weight_limit}/65535 needs at least {needed} UIDs, subnet has {n}"
    )]
    MaxWeightInfeasible {
        /// The limit.
        max_weight_limit: u16,
        /// UIDs needed for shares under the limit to sum to 1.
        needed: usize,
        /// UIDs available.
        n: usize,
    },
    /// u16 quantisation could not meet `max_weight_limit` exactly (a limit within a few u16
    /// steps of `1 / n`).
    #[error("u16 weights cannot meet max_weight_limit {max_weight_limit}/65535 exactly")]
    MaxWeightUnattainable {
        /// The limit.
        max_weight_limit: u16,
    },
}

/// Caps every share at `limit` and redistributes the excess over the rest, proportionally.
///
/// Returns `x / Σx` with the largest shares capped at `limit` and the others scaled up so the
/// shares still sum to 1: the SDK's `normalize_max_weight`, solved exactly (water-filling over
/// the sorted scores) instead of with its epsilon. When the positive scores cannot absorb the
/// mass under the cap (fewer than `1 / limit` of them), every positive share is `limit` and the
/// remainder is spread equally over the zero scores. Scores must be finite and non-negative. If
/// `Σx = 0` or `limit · n < 1` (no capped vector sums to 1) the result is uniform.
pub fn normalize_max_weight(x: &[f64], limit: f64) -> Vec<f64> {
    let n = x.len();
    let total: f64 = x.iter().sum();
    let n_f = n as f64;
    if n == 0 || total <= 0.0 || limit * n_f < 1.0 {
        return vec![1.0 / n_f; n];
    }
    let mut order: Vec<usize> = (0..n)
        .filter(|&i| x.get(i).is_some_and(|v| *v > 0.0))
        .collect();
    order.sort_by(|&a, &b| {
        let (xa, xb) = (x.get(a).copied(), x.get(b).copied());
        xb.partial_cmp(&xa).unwrap_or(core::cmp::Ordering::Equal)
    });
    // rest[c] = sum of the positive scores from rank c on, summed smallest first for accuracy.
    let mut rest = vec![0.0; order.len().saturating_add(1)];
    for c in (0..order.len()).rev() {
        let v = order.get(c).and_then(|&i| x.get(i)).copied().unwrap_or(0.0);
        let next = rest.get(c.saturating_add(1)).copied().unwrap_or(0.0);
        if let Some(r) = rest.get_mut(c) {
            *r = next + v;
        }
    }
    // Cap the `capped` largest at `limit`; scale the rest into the remaining mass; take the
    // smallest `capped` for which the largest uncapped share stays within the limit.
    let mut out = vec![0.0; n];
    for (capped, &top) in order.iter().enumerate() {
        let largest = x.get(top).copied().unwrap_or(0.0);
        let remaining = 1.0 - capped as f64 * limit;
        let rest_sum = rest.get(capped).copied().unwrap_or(0.0);
        if largest * remaining / rest_sum <= limit {
            let scale = remaining / rest_sum;
            for (rank, &i) in order.iter().enumerate() {
                if let Some(o) = out.get_mut(i) {
                    *o = if rank < capped {
                        limit
                    } else {
                        x.get(i).copied().unwrap_or(0.0) * scale
                    };
                }
            }
            return out;
        }
    }
    let zeros = n.saturating_sub(order.len());
    let spread = (1.0 - order.len() as f64 * limit) / zeros as f64;
    for (i, o) in out.iter_mut().enumerate() {
        *o = if x.get(i).is_some_and(|v| *v > 0.0) {
            limit
        } else {
            spread
        };
    }
    out
}

/// Turns per-UID scores (index = UID) into the u16 weights a validator submits.
///
/// 1. Scores must be finite and `>= 0`, and some must be positive.
/// 2. At least `max(min(min_allowed_weights, n), ⌈65535 / max_weight_limit⌉)` UIDs get weight:
///    when fewer scores are positive, the lowest zero-scored UIDs are lifted to a floor of
///    `min positive score / 65535`.
/// 3. Shares are capped at `max_weight_limit` ([`normalize_max_weight`]).
/// 4. Shares are max-upscaled to u16 (`round(p / max p · 65535)`, at least 1 for positive
///    shares) and checked with the chain's own rule ([`is_max_weight_limited`]); if rounding
///    breaks the limit, the cap is lowered a step at a time.
///
/// # Errors
/// [`WeightsError`]: invalid scores, no positive score, more than 65536 scores, or a
/// `max_weight_limit` that `n` UIDs cannot satisfy.
pub fn scores_to_weights(
    scores: &[f64],
    limits: WeightLimits,
) -> Result<WeightVector, WeightsError> {
    let n = scores.len();
    if n > MAX_UIDS {
        return Err(WeightsError::TooManyUids { n });
    }
    if let Some((uid, &score)) = scores
        .iter()
        .enumerate()
        .find(|(_, s)| !s.is_finite() || **s < 0.0)
    {
        return Err(WeightsError::InvalidScore { uid, score });
    }
    let min_positive = scores
        .iter()
        .copied()
        .filter(|s| *s > 0.0)
        .fold(f64::INFINITY, f64::min);
    if !min_positive.is_finite() {
        return Err(WeightsError::NoPositiveScore);
    }
    let max_weight_limit = limits.max_weight_limit;
    let needed_for_cap = if max_weight_limit == 0 {
        usize::MAX
    } else {
        usize::from(u16::MAX).div_ceil(usize::from(max_weight_limit))
    };
    if needed_for_cap > n {
        return Err(WeightsError::MaxWeightInfeasible {
            max_weight_limit,
            needed: needed_for_cap,
            n,
        });
    }
    let required = usize::from(limits.min_allowed_weights)
        .min(n)
        .max(needed_for_cap);
    let mut lifted = scores.to_vec();
    let positive = scores.iter().filter(|s| **s > 0.0).count();
    let floor = min_positive / 65_535.0;
    for s in lifted
        .iter_mut()
        .filter(|s| **s == 0.0)
        .take(required.saturating_sub(positive))
    {
        *s = floor;
    }

    let limit = f64::from(max_weight_limit) / 65_535.0;
    for step in 0..64_u32 {
        let shares = normalize_max_weight(&lifted, limit - f64::from(step) / 65_535.0);
        let max_share = shares.iter().copied().fold(0.0, f64::max);
        let mut out = WeightVector::default();
        for (uid, &p) in (0..=u16::MAX).zip(&shares) {
            if p > 0.0 {
                out.uids.push(uid);
                // p ≤ max_share, so the rounded value is in 1..=65535 and the cast is exact.
                let v = (p / max_share * 65_535.0).round().clamp(1.0, 65_535.0) as u16;
                out.values.push(v);
            }
        }
        if is_max_weight_limited(&out.values, max_weight_limit) {
            return Ok(out);
        }
    }
    Err(WeightsError::MaxWeightUnattainable { max_weight_limit })
}

/// The chain's check on a submission (`check_vec_max_limited`): after normalising the u16
/// values in I32F32, no share exceeds `max_weight_limit / 65535`. Empty vectors pass.
pub fn is_max_weight_limited(values: &[u16], max_weight_limit: u16) -> bool {
    let limit = I32F32::from_u16_ratio(max_weight_limit);
    let mut shares: Vec<I32F32> = values.iter().map(|&v| I32F32::from_u16(v)).collect();
    normalize(&mut shares);
    shares.iter().all(|s| *s <= limit)
}

/// §2.3 the chain's max-upscale on store (`vec_u16_max_upscale_to_u16`), in I32F32.
///
/// With `m = max(values)`: `m = 0` gives zeros; `m > 32768` gives `round(v · (65535 ÷ m))`;
/// otherwise `round((v · 65535) ÷ m)`; `round` is to nearest, ties away from zero.
pub fn max_upscale(values: &[u16]) -> Vec<u16> {
    let max = values.iter().copied().max().unwrap_or(0);
    let m = I32F32::from_u16(max);
    let factor = I32F32::U16_MAX.safe_div(m);
    values
        .iter()
        .map(|&v| {
            let v = I32F32::from_u16(v);
            let scaled = if max == 0 {
                v.saturating_mul(I32F32::U16_MAX)
            } else if max > 32_768 {
                v.saturating_mul(factor).round()
            } else {
                v.saturating_mul(I32F32::U16_MAX).safe_div(m).round()
            };
            scaled.to_u16_saturating()
        })
        .collect()
}

/// Domain tag that starts every commit-reveal commitment.
pub const COMMIT_DOMAIN: &[u8] = b"subnet-engine/weights-commit/v1";

/// What a validator commits to under commit-reveal, hashed by [`WeightCommit::hash`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightCommit<'a> {
    /// The validator's hotkey (ed25519 public key bytes).
    pub hotkey: &'a [u8; 32],
    /// The subnet.
    pub netuid: u16,
    /// UIDs as submitted.
    pub uids: &'a [u16],
    /// Weights as submitted.
    pub values: &'a [u16],
    /// Random salt that keeps the commitment hiding.
    pub salt: &'a [u8],
    /// The subnet's weights version key.
    pub version_key: u64,
}

impl WeightCommit<'_> {
    /// BLAKE3 of the canonical encoding, byte for byte:
    ///
    /// ```text
    /// len(COMMIT_DOMAIN) u64 LE ‖ COMMIT_DOMAIN
    /// hotkey (32 bytes) ‖ netuid u16 LE
    /// len(uids) u64 LE ‖ uids, each u16 LE
    /// len(values) u64 LE ‖ values, each u16 LE
    /// len(salt) u64 LE ‖ salt bytes
    /// version_key u64 LE
    /// ```
    ///
    /// Lengths prefix every variable field, so no two different commits share an encoding.
    pub fn hash(&self) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new();
        let put_len = |h: &mut blake3::Hasher, len: usize| {
            h.update(&u64::try_from(len).unwrap_or(u64::MAX).to_le_bytes());
        };
        put_len(&mut hasher, COMMIT_DOMAIN.len());
        hasher.update(COMMIT_DOMAIN);
        hasher.update(self.hotkey);
        hasher.update(&self.netuid.to_le_bytes());
        for list in [self.uids, self.values] {
            put_len(&mut hasher, list.len());
            for v in list {
                hasher.update(&v.to_le_bytes());
            }
        }
        put_len(&mut hasher, self.salt.len());
        hasher.update(self.salt);
        hasher.update(&self.version_key.to_le_bytes());
        *hasher.finalize().as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_upscale_matches_chain_examples() {
        assert_eq!(max_upscale(&[]), Vec::<u16>::new());
        assert_eq!(max_upscale(&[0, 0]), vec![0, 0]);
        assert_eq!(max_upscale(&[1, 2]), vec![32768, 65535]); // 32767.5 rounds away from zero
        assert_eq!(max_upscale(&[65535, 1]), vec![65535, 1]);
        // 65535 ÷ 40000 truncates, so 20000 · factor is just under 32767.5.
        assert_eq!(max_upscale(&[40000, 20000]), vec![65535, 32767]);
        assert_eq!(max_upscale(&[3, 1]), vec![65535, 21845]);
    }

    #[test]
    fn max_weight_check_is_the_chain_rule() {
        assert!(is_max_weight_limited(&[], 0));
        assert!(is_max_weight_limited(&[65535, 65535], 32768));
        assert!(!is_max_weight_limited(&[65535, 65534], 32767));
        assert!(is_max_weight_limited(&[0, 0], 0));
    }

    #[test]
    fn water_filling_caps_and_redistributes() {
        let p = normalize_max_weight(&[10.0, 1.0, 1.0, 0.0], 0.5);
        assert!((p[0] - 0.5).abs() < 1e-12);
        assert!((p[1] - 0.25).abs() < 1e-12 && (p[2] - 0.25).abs() < 1e-12);
        assert_eq!(p[3], 0.0);
        assert_eq!(normalize_max_weight(&[1.0, 1.0], 0.4), vec![0.5, 0.5]);
        assert_eq!(normalize_max_weight(&[0.0, 0.0], 1.0), vec![0.5, 0.5]);
    }

    #[test]
    fn scores_to_weights_errors() {
        let limits = WeightLimits {
            max_weight_limit: u16::MAX,
            min_allowed_weights: 1,
        };
        assert_eq!(
            scores_to_weights(&[0.0, 0.0], limits),
            Err(WeightsError::NoPositiveScore)
        );
        assert!(matches!(
            scores_to_weights(&[1.0, f64::NAN], limits),
            Err(WeightsError::InvalidScore { uid: 1, .. })
        ));
        assert!(matches!(
            scores_to_weights(&[1.0, -1.0], limits),
            Err(WeightsError::InvalidScore { uid: 1, .. })
        ));
        let tight = WeightLimits {
            max_weight_limit: 16384,
            min_allowed_weights: 0,
        };
        assert!(matches!(
            scores_to_weights(&[1.0, 1.0, 1.0], tight),
            Err(WeightsError::MaxWeightInfeasible {
                needed: 4,
                n: 3,
                ..
            })
        ));
    }

    #[test]
    fn scores_to_weights_lifts_to_min_allowed() {
        let limits = WeightLimits {
            max_weight_limit: u16::MAX,
            min_allowed_weights: 3,
        };
        let w = scores_to_weights(&[0.0, 5.0, 0.0, 0.0], limits).unwrap();
        assert_eq!(w.uids, vec![0, 1, 2]);
        assert_eq!(w.values, vec![1, 65535, 1]);
    }

    #[test]
    fn commit_hash_layout() {
        let hotkey = [7_u8; 32];
        let commit = WeightCommit {
            hotkey: &hotkey,
            netuid: 3,
            uids: &[1, 2],
            values: &[65535, 9],
            salt: b"salt",
            version_key: 42,
        };
        let mut bytes = Vec::new();
        bytes.extend((COMMIT_DOMAIN.len() as u64).to_le_bytes());
        bytes.extend(COMMIT_DOMAIN);
        bytes.extend(hotkey);
        bytes.extend(3_u16.to_le_bytes());
        bytes.extend(2_u64.to_le_bytes());
        bytes.extend([1, 0, 2, 0]);
        bytes.extend(2_u64.to_le_bytes());
        bytes.extend([0xff, 0xff, 9, 0]);
        bytes.extend(4_u64.to_le_bytes());
        bytes.extend(b"salt");
        bytes.extend(42_u64.to_le_bytes());
        assert_eq!(commit.hash(), *blake3::hash(&bytes).as_bytes());
        // Moving an element between the two lists changes the hash.
        let shifted = WeightCommit {
            uids: &[1, 2, 65535],
            values: &[9],
            ..commit
        };
        assert_ne!(commit.hash(), shifted.hash());
    }
}
