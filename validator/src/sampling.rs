//! Seeded random choices from raw ChaCha8 output with fixed formulas, so that a seed keeps
//! naming the same requests and samples across `rand` releases.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The generator of step `step` of a validator seeded with `seed`: one ChaCha stream per
/// step, so a restarted validator (which resumes its step count) draws fresh requests.
pub(crate) fn step_rng(seed: u64, step: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(step);
    rng
}

/// A uniform integer in `0..bound` (Lemire's multiply-shift; the bias, below `bound / 2⁶⁴`, is
/// irrelevant here). 0 when `bound` is 0.
pub(crate) fn index_below(rng: &mut ChaCha8Rng, bound: usize) -> usize {
    let wide = u128::from(rng.next_u64()) * bound as u128;
    // The high half is below `bound`, so it fits in usize.
    (wide >> 64) as usize
}

/// `k` distinct indices of `0..n` (all of them when `k >= n`), in increasing order: a
/// partial Fisher–Yates shuffle.
pub(crate) fn choose(rng: &mut ChaCha8Rng, n: usize, k: usize) -> Vec<usize> {
    let mut all: Vec<usize> = (0..n).collect();
    let k = k.min(n);
    for i in 0..k {
        let j = i + index_below(rng, n - i);
        all.swap(i, j);
    }
    all.truncate(k);
    all.sort_unstable();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_are_distinct_seeded_and_bounded() {
        let a = choose(&mut step_rng(1, 0), 100, 10);
        assert_eq!(a, choose(&mut step_rng(1, 0), 100, 10));
        assert_ne!(a, choose(&mut step_rng(1, 1), 100, 10));
        assert_eq!(a.len(), 10);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert!(a.iter().all(|&i| i < 100));
        assert_eq!(choose(&mut step_rng(1, 0), 3, 10), vec![0, 1, 2]);
        assert!(choose(&mut step_rng(1, 0), 0, 1).is_empty());
        assert_eq!(index_below(&mut step_rng(1, 0), 0), 0);
    }
}
