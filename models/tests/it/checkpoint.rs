//! Checkpoint files: round trips and rejection of bad inputs.

use subnet_models::{
    ARCHITECTURE, CHECKPOINT_FORMAT_VERSION, CheckpointError, CheckpointMeta, Cpu, DataDigest,
    DataInfo, ModelConfig, OptimizerConfig, RECORD_FORMAT, TrainingInfo, load_checkpoint,
    load_weights, meta_path, record_bytes, save_checkpoint, weights_digest,
};

use crate::{TEST_CONFIG, bits, test_model};

pub(crate) fn meta_for(
    config: ModelConfig,
    digest: subnet_models::WeightsDigest,
) -> CheckpointMeta {
    CheckpointMeta {
        format_version: CHECKPOINT_FORMAT_VERSION,
        name: "test".into(),
        architecture: ARCHITECTURE.into(),
        config,
        num_params: config.num_params(),
        training: TrainingInfo {
            steps: 0,
            seed: 0,
            optimizer: OptimizerConfig {
                batch_size: 1,
                learning_rate: 1e-3,
                min_learning_rate: 0.0,
                warmup_steps: 0,
                weight_decay: 0.0,
                grad_clip_norm: None,
            },
        },
        data: DataInfo {
            source: "none".into(),
            digest: DataDigest::of(b""),
            bytes: 0,
        },
        weights_digest: digest,
        eval_bits_per_byte: 8.0,
        eval_windows: 0,
        record_format: RECORD_FORMAT.into(),
    }
}

#[test]
fn save_load_round_trip_keeps_outputs_and_digest() {
    let device = Default::default();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.mpk");
    let model = test_model(11);
    let digest = weights_digest(&model).unwrap();
    let meta = meta_for(TEST_CONFIG, digest);
    save_checkpoint(&model, &meta, &path).unwrap();
    assert!(meta_path(&path).exists());

    let loaded = load_checkpoint::<Cpu>(&path, &device).unwrap();
    assert_eq!(loaded.meta, meta);
    assert_eq!(weights_digest(&loaded.model).unwrap(), digest);
    assert_eq!(loaded.model.config(), TEST_CONFIG);
    let input: &[u8] = b"round trip: identical weights, identical answers";
    let input = &input[..TEST_CONFIG.context_len];
    let before = model.infer(&[input], &device).unwrap();
    let after = loaded.model.infer(&[input], &device).unwrap();
    assert_eq!(bits(before.as_slice()), bits(after.as_slice()));
}

#[test]
fn tampered_or_mismatched_checkpoints_are_rejected() {
    let device = Default::default();
    let model = test_model(12);
    let digest = weights_digest(&model).unwrap();
    let bytes = record_bytes(&model).unwrap();

    let mut wrong_digest = meta_for(TEST_CONFIG, digest);
    wrong_digest.weights_digest.0[0] ^= 1;
    assert!(matches!(
        load_weights::<Cpu>(&wrong_digest, bytes.clone(), &device),
        Err(CheckpointError::DigestMismatch { .. })
    ));

    let wider = ModelConfig {
        d_ff: TEST_CONFIG.d_ff * 2,
        ..TEST_CONFIG
    };
    assert!(load_weights::<Cpu>(&meta_for(wider, digest), bytes.clone(), &device).is_err());
    let deeper = ModelConfig {
        n_layers: TEST_CONFIG.n_layers + 1,
        ..TEST_CONFIG
    };
    assert!(load_weights::<Cpu>(&meta_for(deeper, digest), bytes.clone(), &device).is_err());

    let mut other_arch = meta_for(TEST_CONFIG, digest);
    other_arch.architecture = "something-else".into();
    assert!(matches!(
        load_weights::<Cpu>(&other_arch, bytes.clone(), &device),
        Err(CheckpointError::Architecture(_))
    ));

    let meta = meta_for(TEST_CONFIG, digest);
    for garbage in [
        Vec::new(),
        b"not a record".to_vec(),
        bytes[..bytes.len() / 2].to_vec(),
    ] {
        assert!(matches!(
            load_weights::<Cpu>(&meta, garbage, &device),
            Err(CheckpointError::RecordTooSmall { .. })
        ));
    }
    let mut scrambled = bytes.clone();
    scrambled.truncate(bytes.len() - 100);
    scrambled.extend_from_slice(&[0xc1; 100]);
    let zeros = vec![0u8; bytes.len()];
    for garbage in [scrambled, zeros] {
        assert!(matches!(
            load_weights::<Cpu>(&meta, garbage, &device),
            Err(CheckpointError::Record(_))
        ));
    }
    let huge = ModelConfig {
        d_model: 4096,
        n_layers: 64,
        d_ff: 16384,
        ..TEST_CONFIG
    };
    assert!(matches!(
        load_weights::<Cpu>(&meta_for(huge, digest), bytes.clone(), &device),
        Err(CheckpointError::RecordTooSmall { .. })
    ));
    assert!(load_weights::<Cpu>(&meta, bytes, &device).is_ok());

    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        load_checkpoint::<Cpu>(&dir.path().join("missing.mpk"), &device),
        Err(CheckpointError::Io { .. })
    ));
}
