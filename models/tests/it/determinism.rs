//! Same weights and input give bit-identical outputs on the CPU backend.

use subnet_models::{ByteLm, Corpus, Cpu, InferenceError};

use crate::{TEST_CONFIG, bits, test_model};

/// `n` evaluation-split windows of `len` bytes.
pub(crate) fn rows(corpus: &Corpus, len: usize, n: usize) -> Vec<Vec<u8>> {
    corpus
        .eval()
        .windows(len, Some(n))
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect()
}

#[test]
fn repeated_runs_and_rebuilt_models_agree_bit_for_bit() {
    let device = Default::default();
    let corpus = Corpus::jargon().unwrap();
    let inputs = rows(&corpus, TEST_CONFIG.context_len, 3);
    let batch: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    let model = test_model(5);
    let first = model.infer(&batch, &device).unwrap();
    let second = model.infer(&batch, &device).unwrap();
    let rebuilt = test_model(5).infer(&batch, &device).unwrap();
    assert_eq!(bits(first.as_slice()), bits(second.as_slice()));
    assert_eq!(bits(first.as_slice()), bits(rebuilt.as_slice()));
    let other_seed = test_model(6).infer(&batch, &device).unwrap();
    assert_ne!(bits(first.as_slice()), bits(other_seed.as_slice()));
}

#[test]
fn answers_do_not_depend_on_batch_companions() {
    let device = Default::default();
    let corpus = Corpus::jargon().unwrap();
    let model = test_model(7);
    for len in [1, 9, TEST_CONFIG.context_len] {
        let inputs = rows(&corpus, len, 8);
        let target = inputs[3].as_slice();
        let alone = model.infer(&[target], &device).unwrap();
        let alone_bits = bits(alone.sequence(0).unwrap());
        let all: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
        let full = model.infer(&all, &device).unwrap();
        assert_eq!(
            bits(full.sequence(3).unwrap()),
            alone_bits,
            "len {len}, batch of 8"
        );
        let reversed: Vec<&[u8]> = all.iter().rev().copied().collect();
        let rev = model.infer(&reversed, &device).unwrap();
        assert_eq!(
            bits(rev.sequence(4).unwrap()),
            alone_bits,
            "len {len}, reversed"
        );
        let pair = model.infer(&[all[0], target], &device).unwrap();
        assert_eq!(
            bits(pair.sequence(1).unwrap()),
            alone_bits,
            "len {len}, pair"
        );
        let dup = model.infer(&[target, target], &device).unwrap();
        assert_eq!(
            bits(dup.sequence(0).unwrap()),
            bits(dup.sequence(1).unwrap())
        );
    }
}

#[test]
fn outputs_are_causal_normalised_log_probabilities() {
    let device = Default::default();
    let model = test_model(8);
    let text = b"The Jargon File is a glossary of hacker slang.";
    let full = model
        .infer(&[&text[..TEST_CONFIG.context_len]], &device)
        .unwrap();
    let prefix = model.infer(&[&text[..10]], &device).unwrap();
    for pos in 0..10 {
        let (a, b) = (full.at(0, pos).unwrap(), prefix.at(0, pos).unwrap());
        // Later bytes must not influence earlier positions (the causal mask).
        let diff = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(diff < 1e-5, "position {pos} differs by {diff}");
        let total: f64 = a.iter().map(|&lp| f64::from(lp).exp()).sum();
        assert!((total - 1.0).abs() < 1e-4, "position {pos} sums to {total}");
        assert!(a.iter().all(|lp| lp.is_finite() && *lp <= 0.0));
    }
    // Changing a later byte changes later positions only.
    let mut edited = text[..TEST_CONFIG.context_len].to_vec();
    edited[20] ^= 0x20;
    let changed = model.infer(&[&edited], &device).unwrap();
    assert_eq!(
        bits(changed.at(0, 19).unwrap()),
        bits(full.at(0, 19).unwrap())
    );
    assert_ne!(
        bits(changed.at(0, 20).unwrap()),
        bits(full.at(0, 20).unwrap())
    );
}

#[test]
fn invalid_batches_are_rejected() {
    let device = Default::default();
    let model: ByteLm<Cpu> = test_model(1);
    assert!(matches!(
        model.infer(&[], &device),
        Err(InferenceError::EmptyBatch)
    ));
    assert!(matches!(
        model.infer(&[b""], &device),
        Err(InferenceError::EmptySequence)
    ));
    assert!(matches!(
        model.infer(&[b"ab", b"abc"], &device),
        Err(InferenceError::RaggedBatch {
            index: 1,
            len: 3,
            expected: 2
        })
    ));
    let long = vec![b'x'; TEST_CONFIG.context_len + 1];
    assert!(matches!(
        model.infer(&[&long], &device),
        Err(InferenceError::TooLong { .. })
    ));
}
