//! Training lowers the evaluation loss and is reproducible.

use subnet_models::train::{self, train_model};
use subnet_models::{
    Corpus, CpuTrain, ModelConfig, OptimizerConfig, Progress, TrainConfig, evaluate,
    load_checkpoint, weights_digest,
};

const TINY: ModelConfig = ModelConfig {
    d_model: 32,
    n_heads: 2,
    n_layers: 1,
    d_ff: 64,
    context_len: 32,
};

fn config() -> TrainConfig {
    TrainConfig {
        name: "test-tiny".into(),
        model: TINY,
        optimizer: OptimizerConfig {
            batch_size: 16,
            learning_rate: 1e-2,
            min_learning_rate: 1e-3,
            warmup_steps: 5,
            weight_decay: 0.0,
            grad_clip_norm: Some(1.0),
        },
        eval_windows: Some(64),
    }
}

#[test]
fn a_short_run_lowers_the_eval_loss() {
    let device = Default::default();
    let corpus = Corpus::jargon().unwrap();
    let config = config();
    let untrained = train_model::<CpuTrain>(&config, &corpus, 0, 3, &device, &mut |_| {}).unwrap();
    let before = evaluate(&untrained, corpus.eval(), Some(64), &device).unwrap();
    // An untrained model is close to uniform over 256 bytes: 8 bits per byte.
    assert!(
        (before.bits_per_byte - 8.0).abs() < 0.3,
        "untrained: {before:?}"
    );

    let mut losses = Vec::new();
    let trained = train_model::<CpuTrain>(&config, &corpus, 60, 3, &device, &mut |s| {
        losses.push(s.loss_bits);
    })
    .unwrap();
    let after = evaluate(&trained, corpus.eval(), Some(64), &device).unwrap();
    eprintln!(
        "eval {:.3} -> {:.3} bits/byte",
        before.bits_per_byte, after.bits_per_byte
    );
    assert_eq!(losses.len(), 60);
    assert!(
        after.bits_per_byte < before.bits_per_byte - 2.0,
        "eval loss {} -> {} bits/byte",
        before.bits_per_byte,
        after.bits_per_byte
    );
    assert!(after.bits_per_byte < 5.5, "{after:?}");
    assert_eq!(after.windows, 64);
    assert_eq!(after.predicted_bytes, 64 * TINY.context_len as u64);
}

#[test]
fn the_same_seed_trains_the_same_weights() {
    let device = Default::default();
    let corpus = Corpus::jargon().unwrap();
    let run = |seed| {
        let model =
            train_model::<CpuTrain>(&config(), &corpus, 4, seed, &device, &mut |_| {}).unwrap();
        weights_digest(&model).unwrap()
    };
    let first = run(9);
    assert_eq!(run(9), first);
    assert_ne!(run(10), first);
}

#[test]
fn train_writes_a_loadable_checkpoint_with_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny.mpk");
    let mut config = config();
    config.eval_windows = Some(8);
    let outcome = train::train(&config, 3, 4, &out, Progress::Hidden).unwrap();
    let meta = &outcome.meta;
    assert_eq!(meta.training.steps, 3);
    assert_eq!(meta.training.seed, 4);
    assert_eq!(meta.eval_windows, 8);
    assert_eq!(meta.config, TINY);
    assert_eq!(meta.data.digest, Corpus::jargon().unwrap().train().digest());
    let loaded = load_checkpoint::<subnet_models::Cpu>(&out, &Default::default()).unwrap();
    assert_eq!(&loaded.meta, meta);
    assert_eq!(weights_digest(&loaded.model).unwrap(), meta.weights_digest);
    let eval = evaluate(
        &loaded.model,
        Corpus::jargon().unwrap().eval(),
        Some(8),
        &Default::default(),
    );
    assert_eq!(eval.unwrap().bits_per_byte, meta.eval_bits_per_byte);
}
