//! `subnet models train` on a tiny model.

use crate::common::{fails, json};

const TINY: &str = "name = \"tiny\"\neval_windows = 4\n\n[model]\nd_model = 16\nn_heads = 2\nn_layers = 1\nd_ff = 32\ncontext_len = 16\n\n[optimizer]\nbatch_size = 4\nlearning_rate = 3e-3\nwarmup_steps = 1\nweight_decay = 0.01\n";

#[test]
fn trains_a_checkpoint_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tiny.toml");
    std::fs::write(&config, TINY).unwrap();
    let train = |out: &str| {
        let out = dir.path().join(out);
        let got = json(&[
            "models",
            "train",
            "--config",
            config.to_str().unwrap(),
            "--steps",
            "3",
            "--seed",
            "5",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(out.exists(), "no record at {}", out.display());
        assert!(out.with_extension("json").exists(), "no metadata");
        got
    };
    let a = train("a.mpk");
    let b = train("b.mpk");
    assert_eq!(a["steps"], 3);
    assert!(a["eval_bits_per_byte"].as_f64().unwrap() > 0.0);
    assert_eq!(a["weights_digest"], b["weights_digest"]);
    fails(
        &[
            "models",
            "train",
            "--config",
            "/nonexistent.toml",
            "--steps",
            "1",
            "--out",
            "/tmp/x",
        ],
        "/nonexistent.toml",
    );
}
