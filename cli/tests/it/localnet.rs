//! `subnet localnet`: the errors that need no running subnet (the end-to-end run is in the
//! workspace's `tests/` crate).

use crate::common::{fails, json};

#[test]
fn up_names_a_missing_binary_and_how_to_build_it() {
    let empty = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let bin_dir = empty.path().join("debug");
    std::fs::create_dir(&bin_dir).unwrap();
    let stderr = fails(
        &[
            "localnet",
            "up",
            "--bin-dir",
            bin_dir.to_str().unwrap(),
            "--data-dir",
            data.path().join("net").to_str().unwrap(),
        ],
        "`subnet-node` not found in",
    );
    assert!(stderr.contains("cargo build --locked --bins"), "{stderr}");
    assert!(!data.path().join("net").exists());
}

#[test]
fn down_without_a_localnet_does_nothing_and_leaves_other_directories_alone() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none");
    let report = json(&["localnet", "down", "--data-dir", missing.to_str().unwrap()]);
    assert_eq!(report["removed"], false);

    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "mine").unwrap();
    fails(
        &["localnet", "down", "--data-dir", other.to_str().unwrap()],
        "not a localnet data directory",
    );
    assert!(other.join("keep.txt").exists());
}
