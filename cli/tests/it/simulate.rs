//! `subnet simulate` on the shipped weight-copier scenario: files, determinism, and what the
//! scenario is meant to show.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{fails, json};

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
        .to_str()
        .unwrap()
        .to_owned()
}

fn simulate(out: &Path, epochs: &str) -> Value {
    json(&[
        "simulate",
        "--subnet",
        &repo("deploy/localnet/subnet.toml"),
        "--scenario",
        &repo("deploy/scenarios/weight-copier.toml"),
        "--epochs",
        epochs,
        "--out",
        out.to_str().unwrap(),
    ])
}

/// Relative dividends per stake of `validator` in `variant`.
fn relative(summary: &Value, variant: &str, validator: &str) -> f64 {
    let v = summary["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == variant)
        .unwrap_or_else(|| panic!("no variant {variant}"));
    v["validators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == validator)
        .unwrap()["relative_to_honest"]
        .as_f64()
        .unwrap()
}

#[test]
fn weight_copier_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let summary = simulate(&out, "60");
    assert_eq!(summary["epochs"], 60);
    assert_eq!(summary["variants"].as_array().unwrap().len(), 4);

    for variant in ["yuma", "yuma-commit-reveal", "yuma3", "yuma3-commit-reveal"] {
        let d: PathBuf = out.join(variant);
        let validators = std::fs::read_to_string(d.join("validators.csv")).unwrap();
        assert_eq!(validators.lines().count(), 1 + 60 * 6, "{variant}");
        assert!(validators.starts_with("epoch,block,validator,"));
        let miners = std::fs::read_to_string(d.join("miners.csv")).unwrap();
        assert_eq!(miners.lines().count(), 1 + 60 * 4, "{variant}");
        let bonds = std::fs::read_to_string(d.join("bonds.csv")).unwrap();
        assert_eq!(bonds.lines().count(), 1 + 60 * 6 * 4, "{variant}");
        for chart in ["dividends_per_stake.png", "incentive.png", "bonds.png"] {
            let bytes = std::fs::read(d.join(chart)).unwrap();
            assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{variant}/{chart}");
            assert!(bytes.len() > 2000, "{variant}/{chart} looks empty");
        }
    }

    // Honest validators define the reference; the copier, always a consensus behind, earns
    // less per unit of stake, and commit-reveal (which delays what it copies by another tempo)
    // takes more from it under both Yuma versions. Across seeds 1..=9 the copier's relative
    // dividends were 0.93–0.95 without and 0.89–0.91 with commit-reveal.
    for variant in [
        "yuma",
        "yuma + commit-reveal",
        "yuma3",
        "yuma3 + commit-reveal",
    ] {
        let honest = relative(&summary, variant, "honest-1");
        assert!(
            (honest - 1.0).abs() < 0.03,
            "{variant}: honest-1 at {honest}"
        );
        let copier = relative(&summary, variant, "copier");
        assert!(copier < 0.97, "{variant}: copier at {copier}");
        let late = relative(&summary, variant, "late-mover");
        assert!(late < 0.95, "{variant}: late mover at {late}");
        let contrarian = relative(&summary, variant, "contrarian");
        assert!(contrarian < 0.2, "{variant}: contrarian at {contrarian}");
    }
    for (plain, hidden) in [
        ("yuma", "yuma + commit-reveal"),
        ("yuma3", "yuma3 + commit-reveal"),
    ] {
        let (p, h) = (
            relative(&summary, plain, "copier"),
            relative(&summary, hidden, "copier"),
        );
        assert!(
            h < p - 0.02,
            "commit-reveal did not hurt the copier: {plain} {p}, {hidden} {h}"
        );
    }

    // The same seed gives the same files.
    let again = dir.path().join("again");
    simulate(&again, "60");
    for file in [
        "summary.csv",
        "yuma3-commit-reveal/validators.csv",
        "yuma/bonds.csv",
    ] {
        assert_eq!(
            std::fs::read(out.join(file)).unwrap(),
            std::fs::read(again.join(file)).unwrap(),
            "{file}"
        );
    }
}

#[test]
fn simulate_rejects_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("bad.toml");
    std::fs::write(
        &scenario,
        "[[validators]]\nname = \"v\"\nstake = 1\nbehaviour = \"lazy\"\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let args = |scenario: &Path| {
        vec![
            "simulate".to_owned(),
            "--subnet".to_owned(),
            repo("deploy/localnet/subnet.toml"),
            "--scenario".to_owned(),
            scenario.to_str().unwrap().to_owned(),
            "--epochs".to_owned(),
            "2".to_owned(),
            "--out".to_owned(),
            out.to_str().unwrap().to_owned(),
        ]
    };
    let a = args(&scenario);
    fails(&a.iter().map(String::as_str).collect::<Vec<_>>(), "lazy");
    let too_big = dir.path().join("big.toml");
    let mut text = String::from("[[miners]]\nname = \"m\"\nquality = 0.5\n");
    for i in 0..20 {
        text.push_str(&format!(
            "[[validators]]\nname = \"v{i}\"\nstake = 1\nbehaviour = \"honest\"\n"
        ));
    }
    std::fs::write(&too_big, text).unwrap();
    let a = args(&too_big);
    fails(
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        "max_allowed_uids",
    );
}

#[test]
fn shipped_scenarios_run() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/scenarios");
    let mut ran = 0;
    for entry in std::fs::read_dir(&scenarios).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let out = dir.path().join(path.file_stem().unwrap());
        let summary = json(&[
            "simulate",
            "--subnet",
            &repo("deploy/localnet/subnet.toml"),
            "--scenario",
            path.to_str().unwrap(),
            "--epochs",
            "3",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(summary["epochs"], 3, "{}", path.display());
        assert!(out.join("summary.csv").exists());
        ran += 1;
    }
    assert!(ran >= 2, "found {ran} scenarios in {}", scenarios.display());
}
