//! The fused CPU forward pass computes the burn model's function: the same log-probabilities
//! within 1e-4, bit-identical whatever the batch, and the same refusals.

use std::path::PathBuf;

use subnet_models::{ByteLm, Corpus, Cpu, FusedLm, InferenceError, ModelConfig, load_checkpoint};

use crate::determinism::rows;
use crate::{TEST_CONFIG, bits, test_model};

fn windows(len: usize, n: usize) -> Vec<Vec<u8>> {
    rows(&Corpus::jargon().unwrap(), len, n)
}

/// Largest absolute difference between the two engines on `len`-byte windows.
fn max_difference(model: &ByteLm<Cpu>, len: usize, n: usize) -> f32 {
    let fused = FusedLm::from_model(model).unwrap();
    let inputs = windows(len, n);
    let batch: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    let reference = model.infer(&batch, &Default::default()).unwrap();
    let fast = fused.infer(&batch).unwrap();
    assert_eq!((fast.batch(), fast.seq_len()), (n, len));
    reference.max_abs_diff(&fast).unwrap()
}

#[test]
fn fused_matches_burn_on_the_shipped_checkpoints() {
    for name in ["tiny", "best"] {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("checkpoints")
            .join(format!("{name}.mpk"));
        let model = load_checkpoint::<Cpu>(&path, &Default::default())
            .unwrap()
            .model;
        for len in [1, 13, 64] {
            let diff = max_difference(&model, len, 4);
            assert!(diff < 1e-4, "{name}, {len} bytes: max |diff| {diff}");
        }
    }
}

#[test]
fn fused_matches_burn_on_odd_shapes() {
    // Widths that are not multiples of the register tile exercise every tile size.
    for config in [
        TEST_CONFIG,
        ModelConfig {
            d_model: 20,
            n_heads: 4,
            n_layers: 3,
            d_ff: 36,
            context_len: 11,
        },
        ModelConfig {
            d_model: 8,
            n_heads: 1,
            n_layers: 1,
            d_ff: 8,
            context_len: 5,
        },
    ] {
        let model = ByteLm::<Cpu>::new(&config, 11, &Default::default()).unwrap();
        for len in [1, config.context_len / 2 + 1, config.context_len] {
            let diff = max_difference(&model, len, 3);
            assert!(diff < 1e-4, "{config:?}, {len} bytes: max |diff| {diff}");
        }
    }
}

#[test]
fn fused_answers_do_not_depend_on_batch_companions() {
    let fused = FusedLm::from_model(&test_model(7)).unwrap();
    for len in [1, 9, TEST_CONFIG.context_len] {
        let inputs = windows(len, 7);
        let all: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
        let alone = fused.infer(&[all[3]]).unwrap();
        let full = fused.infer(&all).unwrap();
        assert_eq!(bits(full.sequence(3).unwrap()), bits(alone.as_slice()));
        let reversed: Vec<&[u8]> = all.iter().rev().copied().collect();
        let rev = fused.infer(&reversed).unwrap();
        assert_eq!(bits(rev.sequence(3).unwrap()), bits(alone.as_slice()));
        let again = fused.infer(&all).unwrap();
        assert_eq!(bits(again.as_slice()), bits(full.as_slice()));
    }
    let other = FusedLm::from_model(&test_model(8)).unwrap();
    let input = windows(9, 1);
    assert_ne!(
        bits(other.infer(&[&input[0]]).unwrap().as_slice()),
        bits(fused.infer(&[&input[0]]).unwrap().as_slice())
    );
}

#[test]
fn fused_refuses_what_burn_refuses() {
    let fused = FusedLm::from_model(&test_model(1)).unwrap();
    assert_eq!(fused.config(), &TEST_CONFIG);
    assert!(matches!(fused.infer(&[]), Err(InferenceError::EmptyBatch)));
    assert!(matches!(
        fused.infer(&[b""]),
        Err(InferenceError::EmptySequence)
    ));
    assert!(matches!(
        fused.infer(&[b"abc", b"ab"]),
        Err(InferenceError::RaggedBatch { index: 1, .. })
    ));
    let long = vec![b'x'; TEST_CONFIG.context_len + 1];
    assert!(matches!(
        fused.infer(&[&long]),
        Err(InferenceError::TooLong { .. })
    ));
}
