//! `subnet consensus run` on worked cases, and on bad inputs.

use std::path::PathBuf;

use serde_json::Value;

use crate::common::subnet;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../scoring/tests/fixtures/yuma")
        .join(name)
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn assert_close(field: &str, got: &Value, want: &Value, tol: f64) {
    let (got, want) = (floats(got), floats(want));
    assert_eq!(got.len(), want.len(), "{field}");
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((g - w).abs() <= tol, "{field}[{k}]: got {g}, want {w}");
    }
}

/// Checks the binary's output for a case file against the file's expected values.
fn check_case(name: &str) {
    let path = fixture(name);
    let out = subnet(
        &["consensus", "run", "--input", path.to_str().unwrap()],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let case: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let steps = case["steps"].as_array().unwrap();
    assert_eq!(got["steps"].as_array().unwrap().len(), steps.len());
    for (k, step) in steps.iter().enumerate() {
        let o = &got["steps"][k]["outputs"];
        let (exp, ints) = (&step["expected"], &step["expected_i32f32"]);
        for field in [
            "stake",
            "active_stake",
            "consensus",
            "validator_trust",
            "incentive",
            "dividends",
            "emission_incentive_share",
            "emission_dividend_share",
            "emission_combined_share",
        ] {
            assert_close(
                &format!("{name} step {k} {field}"),
                &o[field],
                &exp[field],
                1e-6,
            );
        }
        for (i, row) in exp["bonds"].as_array().unwrap().iter().enumerate() {
            assert_close(
                &format!("{name} step {k} bonds[{i}]"),
                &o["bonds"][i],
                row,
                1e-4,
            );
        }
        assert_eq!(
            o["validator_permits"], exp["validator_permits"],
            "{name} step {k}"
        );
        assert_eq!(
            o["emission_fallback"], exp["emission_fallback"],
            "{name} step {k}"
        );
        for field in [
            "bonds_u16",
            "stake_u16",
            "consensus_u16",
            "incentive_u16",
            "dividends_u16",
            "validator_trust_u16",
            "server_emission",
            "validator_emission",
            "emission",
        ] {
            assert_eq!(o[field], ints[field], "{name} step {k} {field}");
        }
    }
}

#[test]
fn consensus_run_matches_worked_cases() {
    for name in [
        "case_001.json",
        "case_005.json",
        "case_007.json",
        "case_030.json",
    ] {
        check_case(name);
    }
}

#[test]
fn consensus_run_reads_stdin() {
    let text = std::fs::read_to_string(fixture("case_003.json")).unwrap();
    let out = subnet(&["consensus", "run", "--input", "-"], Some(&text));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        got["steps"][0]["outputs"]["server_emission"],
        serde_json::json!([0, 500_000_000])
    );
}

/// The case file with one edit, run through stdin: must fail and name `field` on stderr.
fn assert_rejected(edit: impl FnOnce(&mut Value), field: &str) {
    let mut doc: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("case_005.json")).unwrap()).unwrap();
    edit(&mut doc);
    let out = subnet(
        &["consensus", "run", "--input", "-"],
        Some(&doc.to_string()),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "accepted; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr.contains(field),
        "stderr does not name {field}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn consensus_run_rejects_bad_inputs_naming_the_field() {
    assert_rejected(
        |d| {
            d["steps"][0]["inputs"]
                .as_object_mut()
                .unwrap()
                .remove("stake");
        },
        "steps[0].inputs.stake",
    );
    assert_rejected(
        |d| {
            d["params"].as_object_mut().unwrap().remove("kappa");
        },
        "params.kappa",
    );
    assert_rejected(
        |d| d["steps"][0]["inputs"]["weights"][2] = serde_json::json!([0, 1, 2]),
        "steps[0].inputs.weights[2]",
    );
    assert_rejected(
        |d| {
            d["steps"][0]["inputs"]["weights"]
                .as_array_mut()
                .unwrap()
                .pop();
        },
        "steps[0].inputs.weights",
    );
    assert_rejected(
        |d| d["steps"][0]["inputs"]["stake"][3] = serde_json::json!(-10),
        "steps[0].inputs.stake[3]",
    );
    assert_rejected(
        |d| d["steps"][0]["inputs"]["bonds_prev"][1][4] = serde_json::json!(65536),
        "steps[0].inputs.bonds_prev[1][4]",
    );
    assert_rejected(
        |d| d["steps"][0]["inputs"]["weights"][0][4] = serde_json::json!(-1),
        "steps[0].inputs.weights[0][4]",
    );
    assert_rejected(
        |d| d["params"]["alpha_sigmoid_steepness"] = serde_json::json!(40000),
        "params.alpha_sigmoid_steepness",
    );
    assert_rejected(
        |d| d["steps"][0]["inputs"]["active"] = serde_json::json!([true]),
        "steps[0].inputs.active",
    );
}

#[test]
fn consensus_run_rejects_non_json_and_missing_files() {
    let out = subnet(&["consensus", "run", "--input", "-"], Some("not json"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid JSON"));
    let out = subnet(
        &["consensus", "run", "--input", "/nonexistent/case.json"],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/case.json"));
}

#[test]
fn empty_subnet_runs() {
    let doc = serde_json::json!({
        "params": {
            "kappa": 32767, "bonds_moving_avg": 900000, "bonds_penalty": 65535,
            "max_allowed_validators": 64, "liquid_alpha_enabled": false, "alpha_low": 45875,
            "alpha_high": 58982, "alpha_sigmoid_steepness": 1000, "yuma3_enabled": true,
            "stake_threshold": 0, "rao_emission": 1000, "owner_uid": null
        },
        "steps": [{ "inputs": {
            "weights": [], "stake": [], "bonds_prev": [], "active": [],
            "validator_permits_prev": []
        }}]
    });
    let out = subnet(
        &["consensus", "run", "--input", "-"],
        Some(&doc.to_string()),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        got["steps"][0]["outputs"]["emission"],
        serde_json::json!([])
    );
    assert_eq!(got["steps"][0]["outputs"]["emission_fallback"], "stake");
}
