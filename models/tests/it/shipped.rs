//! The checkpoints shipped in `models/checkpoints/` load, match their recorded digests and
//! losses, and are ordered by quality.

use std::path::PathBuf;

use subnet_models::{Corpus, Cpu, evaluate, load_checkpoint};

const SHIPPED: [&str; 3] = ["tiny", "small", "best"];

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("checkpoints")
        .join(format!("{name}.mpk"))
}

#[test]
fn shipped_checkpoints_load_and_are_ordered_by_quality() {
    let device = Default::default();
    let corpus = Corpus::jargon().unwrap();
    let mut recorded = Vec::new();
    for name in SHIPPED {
        // load_checkpoint verifies the weights digest in the metadata.
        let checkpoint = load_checkpoint::<Cpu>(&path(name), &device).unwrap();
        let meta = &checkpoint.meta;
        assert_eq!(meta.data.digest, corpus.train().digest(), "{name}");
        // A sample of the evaluation windows, to keep the test quick in debug builds.
        let sample = evaluate(&checkpoint.model, corpus.eval(), Some(128), &device).unwrap();
        assert!(
            (sample.bits_per_byte - meta.eval_bits_per_byte).abs() < 0.15,
            "{name}: sample {} vs recorded {}",
            sample.bits_per_byte,
            meta.eval_bits_per_byte
        );
        recorded.push(meta.eval_bits_per_byte);
    }
    assert!(
        recorded.windows(2).all(|w| w[0] > w[1] + 0.3),
        "{recorded:?}"
    );
}
