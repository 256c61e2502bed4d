//! Integration tests of `subnet-models` (one test binary).

mod checkpoint;
mod determinism;
mod digest;
mod fused;
mod shipped;
mod training;

use subnet_models::{ByteLm, Cpu, ModelConfig};

/// A model small enough for debug-build tests.
pub(crate) const TEST_CONFIG: ModelConfig = ModelConfig {
    d_model: 32,
    n_heads: 4,
    n_layers: 2,
    d_ff: 64,
    context_len: 32,
};

pub(crate) fn test_model(seed: u64) -> ByteLm<Cpu> {
    ByteLm::new(&TEST_CONFIG, seed, &Default::default()).unwrap()
}

/// Bit patterns, so that comparisons are exact and NaNs compare equal to themselves.
pub(crate) fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}
