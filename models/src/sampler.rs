//! Seeded random numbers for weight initialisation and batch sampling.
//!
//! Values are derived from raw ChaCha8 output with fixed formulas instead of `rand`'s
//! distributions, whose algorithms may change between releases: a seed must keep naming the same
//! checkpoint.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// ChaCha stream used for weight initialisation.
const INIT_STREAM: u64 = 0;
/// ChaCha stream used for sampling training windows.
const DATA_STREAM: u64 = 1;

/// The generator for initial weights of a run seeded with `seed`.
pub(crate) fn init_rng(seed: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(INIT_STREAM);
    rng
}

/// The generator for training windows of a run seeded with `seed`; independent of
/// [`init_rng`], so changing the model size does not change the data order.
pub(crate) fn data_rng(seed: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(DATA_STREAM);
    rng
}

/// A uniform float in `[0, 1)` with 53 random bits.
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
    (rng.next_u64() >> 11) as f64 * SCALE
}

/// A uniform integer in `0..bound` (Lemire's multiply-shift; the bias, below `bound / 2⁶⁴`,
/// is irrelevant for sampling text windows). Returns 0 when `bound` is 0.
pub(crate) fn index_below(rng: &mut ChaCha8Rng, bound: usize) -> usize {
    let wide = u128::from(rng.next_u64()) * bound as u128;
    // The high half is below `bound`, so it fits in usize.
    (wide >> 64) as usize
}

/// `count` samples of `N(0, std²)` by the Box–Muller transform.
pub(crate) fn normal(rng: &mut ChaCha8Rng, count: usize, std: f64) -> Vec<f32> {
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        // 1 - unit is in (0, 1], so the logarithm is finite.
        let radius = (-2.0 * (1.0 - unit(rng)).ln()).sqrt();
        let angle = std::f64::consts::TAU * unit(rng);
        out.push((std * radius * angle.cos()) as f32);
        if out.len() < count {
            out.push((std * radius * angle.sin()) as f32);
        }
    }
    out
}

/// `count` zeros.
pub(crate) fn zeroes(count: usize) -> Vec<f32> {
    vec![0.0; count]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_has_the_requested_moments() {
        let values = normal(&mut init_rng(7), 20_001, 0.5);
        assert_eq!(values.len(), 20_001);
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = values
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var.sqrt() - 0.5).abs() < 0.02, "std {}", var.sqrt());
    }

    #[test]
    fn streams_are_seeded_and_distinct() {
        let a: Vec<usize> = (0..8)
            .map(|_| index_below(&mut data_rng(3), 1000))
            .collect();
        let mut rng = data_rng(3);
        let b: Vec<usize> = (0..8).map(|_| index_below(&mut rng, 1000)).collect();
        assert!(
            a.iter().all(|&x| x == a[0]),
            "fresh generators repeat their first draw"
        );
        assert_eq!(b[0], a[0]);
        assert!(b.iter().all(|&x| x < 1000));
        assert_ne!(init_rng(3).next_u64(), data_rng(3).next_u64());
        assert_eq!(index_below(&mut rng, 0), 0);
    }
}
