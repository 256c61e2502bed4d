//! Weight helpers: scores to u16 weights, the chain's max-upscale and max-weight rule.

use proptest::prelude::*;
use subnet_scoring::weights::{
    WeightLimits, WeightsError, is_max_weight_limited, max_upscale, normalize_max_weight,
    scores_to_weights,
};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed_0004),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn score() -> impl Strategy<Value = f64> {
    prop_oneof![2 => Just(0.0), 3 => 0.0..1.0_f64, 1 => 0.0..1e6_f64, 1 => Just(1.0)]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn scores_become_valid_submissions(
        scores in proptest::collection::vec(score(), 0..64),
        max_weight_limit in prop_oneof![Just(u16::MAX), 1_000_u16..=u16::MAX],
        min_allowed_weights in 0_u16..80,
    ) {
        let n = scores.len();
        let limits = WeightLimits { max_weight_limit, min_allowed_weights };
        match scores_to_weights(&scores, limits) {
            Ok(w) => {
                prop_assert_eq!(w.uids.len(), w.values.len());
                prop_assert!(w.uids.windows(2).all(|p| p[0] < p[1]));
                prop_assert!(w.values.iter().all(|v| *v > 0));
                prop_assert_eq!(w.values.iter().copied().max(), Some(u16::MAX));
                prop_assert!(w.uids.len() >= usize::from(min_allowed_weights).min(n));
                // The chain accepts it, and storing it changes nothing (already max-upscaled).
                prop_assert!(is_max_weight_limited(&w.values, max_weight_limit));
                prop_assert_eq!(&max_upscale(&w.values), &w.values);
                // Every positive score is weighted, and a higher score never gets less weight.
                for (uid, s) in scores.iter().enumerate() {
                    if *s > 0.0 {
                        prop_assert!(w.uids.contains(&(uid as u16)));
                    }
                }
                for (a, va) in w.uids.iter().zip(&w.values) {
                    for (b, vb) in w.uids.iter().zip(&w.values) {
                        if scores[usize::from(*a)] > scores[usize::from(*b)] {
                            prop_assert!(va >= vb);
                        }
                    }
                }
            }
            Err(WeightsError::NoPositiveScore) => prop_assert!(scores.iter().all(|s| *s == 0.0)),
            Err(WeightsError::MaxWeightInfeasible { needed, .. }) => prop_assert!(needed > n),
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    #[test]
    fn capped_shares_sum_to_one_within_the_limit(
        scores in proptest::collection::vec(score(), 1..64),
        limit in 0.01..1.0_f64,
    ) {
        let p = normalize_max_weight(&scores, limit);
        let total: f64 = p.iter().sum();
        prop_assert!((total - 1.0).abs() < 1e-9, "sum {total}");
        if limit * scores.len() as f64 >= 1.0 {
            prop_assert!(p.iter().all(|x| *x <= limit + 1e-12));
        }
    }

    #[test]
    fn max_upscale_keeps_proportions(values in proptest::collection::vec(any::<u16>(), 0..64)) {
        let out = max_upscale(&values);
        prop_assert_eq!(out.len(), values.len());
        let m = values.iter().copied().max().unwrap_or(0);
        if m == 0 {
            prop_assert!(out.iter().all(|v| *v == 0));
        } else {
            prop_assert_eq!(out.iter().copied().max(), Some(u16::MAX));
            for (v, o) in values.iter().zip(&out) {
                let want = f64::from(*v) / f64::from(m) * 65535.0;
                prop_assert!((f64::from(*o) - want).abs() <= 0.5 + 1e-6, "{v} -> {o}, want {want}");
            }
        }
    }
}

#[test]
fn chain_rejects_what_the_helper_avoids() {
    // Two equal weights are 50 % each: a 49 % limit rejects them, a 50 % one accepts.
    assert!(!is_max_weight_limited(&[65535, 65535], 32112));
    assert!(is_max_weight_limited(&[65535, 65535], 32768));
    let w = scores_to_weights(
        &[9.0, 1.0, 1.0, 1.0],
        WeightLimits {
            max_weight_limit: 32768,
            min_allowed_weights: 1,
        },
    )
    .unwrap();
    assert_eq!(w.uids, vec![0, 1, 2, 3]);
    // Capped at one half, the other half shared equally: at exactly the cap, rounding 21844.33
    // down would give UID 0 65535/131067 > 32768/65535, so the cap is lowered one step.
    assert_eq!(w.values, vec![65535, 21846, 21846, 21846]);
    assert!(is_max_weight_limited(&w.values, 32768));
}
