//! Scoring: losses to rewards, rewards to moving averages, moving averages to the u16 weights
//! the chain takes (through [`subnet_scoring::weights`]).
//!
//! # The rule
//!
//! 1. **Per request**: a miner's answer to request `r` has loss `L_r` (the task's unit; bits
//!    per byte for the default task). Its reward is `exp(−L_r / T)` with the configured
//!    temperature `T`. A request that failed (timeout, reset stream, garbage, bad signature,
//!    refusal, an answer of the wrong shape) earns 0.
//! 2. **Per step**: a miner's reward is the mean over the step's requests. A miner that could
//!    not be verified this step, or failed a spot check, earns 0.
//! 3. **Moving average**: `s ← α·reward + (1 − α)·s`, from `s = 0` for a new identity (a UID
//!    whose hotkey or AINFT changed starts over). A miner caught serving another model than
//!    its registered AINFT is set to 0 and stays there while its identity is unchanged.
//! 4. **Weights**: `w_i = s_i / Σ_j s_j`, capped at `max_weight_limit` and spread over at least
//!    `min_allowed_weights` UIDs by [`scores_to_weights`], then max-upscaled to u16.
//!
//! Every miner gets the same requests in a step, so with all miners sampled each step the
//! weights are a softmax over the negative (averaged) losses with temperature `T`; with a
//! sample per step, the moving averages carry the comparison across steps.

use std::collections::BTreeMap;

use subnet_protocol::ids::Uid;
use subnet_scoring::weights::{WeightLimits, WeightVector, WeightsError, scores_to_weights};

/// The reward of one answer with loss `loss` at temperature `temperature`: `exp(−loss / T)`,
/// in `[0, 1]`; 0 for an infinite or NaN loss.
pub fn reward(loss: f64, temperature: f64) -> f64 {
    if loss.is_nan() {
        return 0.0;
    }
    let r = (-loss.max(0.0) / temperature).exp();
    if r.is_finite() { r } else { 0.0 }
}

/// A miner's reward for a step: the mean of [`reward`] over its requests, a failed request
/// (`None`) counting 0. 0 when there were no requests.
pub fn step_reward(losses: &[Option<f64>], temperature: f64) -> f64 {
    if losses.is_empty() {
        return 0.0;
    }
    let total: f64 = losses
        .iter()
        .map(|l| l.map_or(0.0, |l| reward(l, temperature)))
        .sum();
    total / losses.len() as f64
}

/// One moving-average update: `α·reward + (1 − α)·previous`.
pub fn ema(previous: f64, reward: f64, alpha: f64) -> f64 {
    alpha * reward + (1.0 - alpha) * previous
}

/// The weights a validator sets from its moving averages `scores` (by UID) on a subnet of `n`
/// UIDs. UIDs at or above `n` are ignored; negative or non-finite scores count as 0.
///
/// # Errors
/// [`WeightsError::NoPositiveScore`] when nothing scored above 0 (nothing to set), or a
/// `max_weight_limit` that `n` UIDs cannot meet.
pub fn weights(
    scores: &BTreeMap<Uid, f64>,
    n: u16,
    limits: WeightLimits,
) -> Result<WeightVector, WeightsError> {
    let mut dense = vec![0.0; usize::from(n)];
    for (uid, &s) in scores {
        if let Some(slot) = dense.get_mut(uid.index()) {
            *slot = if s.is_finite() && s > 0.0 { s } else { 0.0 };
        }
    }
    scores_to_weights(&dense, limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewards_fall_with_loss() {
        assert_eq!(reward(0.0, 1.0), 1.0);
        assert!((reward(2.0, 1.0) - (-2.0f64).exp()).abs() < 1e-12);
        assert!(reward(2.0, 0.5) < reward(2.0, 1.0));
        assert_eq!(reward(f64::INFINITY, 1.0), 0.0);
        assert_eq!(reward(f64::NAN, 1.0), 0.0);
        // Better models earn more: the shipped checkpoints' losses.
        assert!(reward(2.36, 1.0) > reward(3.32, 1.0));
        assert!(reward(3.32, 1.0) > reward(4.82, 1.0));
    }

    #[test]
    fn failed_requests_count_zero() {
        let r = step_reward(&[Some(0.0), None], 1.0);
        assert!((r - 0.5).abs() < 1e-12);
        assert_eq!(step_reward(&[None, None], 1.0), 0.0);
        assert_eq!(step_reward(&[], 1.0), 0.0);
    }

    #[test]
    fn ema_moves_toward_the_reward() {
        assert!((ema(0.0, 1.0, 0.1) - 0.1).abs() < 1e-12);
        assert_eq!(ema(0.5, 0.5, 0.3), 0.5);
        assert_eq!(ema(0.7, 0.2, 1.0), 0.2);
    }

    #[test]
    fn weights_follow_scores() {
        let limits = WeightLimits {
            max_weight_limit: u16::MAX,
            min_allowed_weights: 1,
        };
        let scores = BTreeMap::from([(Uid(1), 0.1), (Uid(2), 0.4), (Uid(3), 0.0), (Uid(9), 1.0)]);
        let w = weights(&scores, 4, limits).unwrap();
        assert_eq!(w.uids, vec![1, 2]);
        assert_eq!(w.values, vec![16_384, 65_535]);
        assert!(matches!(
            weights(&BTreeMap::new(), 4, limits),
            Err(WeightsError::NoPositiveScore)
        ));
    }
}
