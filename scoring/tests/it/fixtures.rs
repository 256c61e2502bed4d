//! The worked cases of `shared/yuma-vectors` (copied to `tests/fixtures/yuma`): floats within the
//! consensus-io tolerances, every chain integer exact, through dense and sparse inputs.

use serde_json::Value;
use subnet_scoring::I32F32;
use subnet_scoring::yuma::{EpochInputs, EpochOutput, epoch};

use crate::cases::{Case, all_cases};

/// consensus-io.md: proportion vectors within 1e-6, bonds within 1e-4.
const PROPORTION_TOLERANCE: f64 = 1e-6;
const BOND_TOLERANCE: f64 = 1e-4;

fn floats(v: &[I32F32]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

fn expect_floats(errors: &mut Vec<String>, field: &str, got: &[f64], want: &Value, tol: f64) {
    let want: Vec<f64> = want
        .as_array()
        .unwrap_or_else(|| panic!("expected.{field} missing"))
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    if got.len() != want.len() {
        errors.push(format!("{field}: length {} != {}", got.len(), want.len()));
        return;
    }
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        if (g - w).abs() > tol {
            errors.push(format!("{field}[{k}]: got {g}, want {w}"));
        }
    }
}

fn expect_ints<T: Into<i128> + Copy>(
    errors: &mut Vec<String>,
    field: &str,
    got: &[T],
    want: &Value,
) {
    let want: Vec<i128> = want
        .as_array()
        .unwrap_or_else(|| panic!("expected_i32f32.{field} missing"))
        .iter()
        .map(|x| i128::from(x.as_u64().unwrap()))
        .collect();
    let got: Vec<i128> = got.iter().map(|x| (*x).into()).collect();
    if got != want {
        errors.push(format!("{field}: got {got:?}, want {want:?}"));
    }
}

fn check_step(out: &EpochOutput, inputs: &EpochInputs, exp: &Value, ints: &Value) -> Vec<String> {
    let mut e = Vec::new();
    let vectors: [(&str, &[I32F32]); 11] = [
        ("stake", &out.stake),
        ("active_stake", &out.active_stake),
        ("consensus", &out.consensus),
        ("validator_trust", &out.validator_trust),
        ("incentive", &out.incentive),
        ("ranks", &out.incentive),
        ("trust", &out.trust),
        ("dividends", &out.dividends),
        ("emission_incentive_share", &out.emission_incentive_share),
        ("emission_dividend_share", &out.emission_dividend_share),
        ("emission_combined_share", &out.emission_combined_share),
    ];
    for (field, got) in vectors {
        expect_floats(
            &mut e,
            field,
            &floats(got),
            &exp[field],
            PROPORTION_TOLERANCE,
        );
    }
    let bonds = out.stored_bonds(&inputs.bonds_prev);
    let want_bonds = exp["bonds"].as_array().unwrap();
    for (i, (row, want)) in bonds.iter().zip(want_bonds).enumerate() {
        expect_floats(
            &mut e,
            &format!("bonds[{i}]"),
            &floats(row),
            want,
            BOND_TOLERANCE,
        );
    }
    if exp["validator_permits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_bool().unwrap())
        .collect::<Vec<_>>()
        != out.validator_permits
    {
        e.push(format!(
            "validator_permits: got {:?}",
            out.validator_permits
        ));
    }
    let fallback = out.emission_fallback.map(|f| f.as_str());
    if exp["emission_fallback"].as_str() != fallback {
        e.push(format!(
            "emission_fallback: got {fallback:?}, want {}",
            exp["emission_fallback"]
        ));
    }
    if exp["liquid_alpha_used"].as_bool() != Some(out.liquid_alpha_used) {
        e.push(format!("liquid_alpha_used: got {}", out.liquid_alpha_used));
    }

    for (i, (row, want)) in out
        .stored_bonds_u16(&inputs.bonds_prev)
        .iter()
        .zip(ints["bonds_u16"].as_array().unwrap())
        .enumerate()
    {
        expect_ints(&mut e, &format!("bonds_u16[{i}]"), row, want);
    }
    expect_ints(&mut e, "stake_u16", &out.stake_u16(), &ints["stake_u16"]);
    expect_ints(
        &mut e,
        "consensus_u16",
        &out.consensus_u16(),
        &ints["consensus_u16"],
    );
    expect_ints(
        &mut e,
        "incentive_u16",
        &out.incentive_u16(),
        &ints["incentive_u16"],
    );
    expect_ints(
        &mut e,
        "dividends_u16",
        &out.dividends_u16(),
        &ints["dividends_u16"],
    );
    expect_ints(
        &mut e,
        "validator_trust_u16",
        &out.validator_trust_u16(),
        &ints["validator_trust_u16"],
    );
    expect_ints(&mut e, "trust_u16", &out.trust_u16(), &ints["trust_u16"]);
    expect_ints(
        &mut e,
        "server_emission",
        &out.server_emission,
        &ints["server_emission"],
    );
    expect_ints(
        &mut e,
        "validator_emission",
        &out.validator_emission,
        &ints["validator_emission"],
    );
    expect_ints(&mut e, "emission", &out.emission, &ints["emission"]);
    e
}

fn run_case(case: &Case) -> Vec<String> {
    let mut errors = Vec::new();
    for (k, step) in case.steps.iter().enumerate() {
        let dense = epoch(&step.dense, &case.params).unwrap();
        let sparse = epoch(&step.sparse, &case.params).unwrap();
        if dense != sparse {
            errors.push(format!(
                "{} step {k}: dense and sparse outputs differ",
                case.name
            ));
        }
        for msg in check_step(&dense, &step.dense, &step.expected, &step.expected_i32f32) {
            errors.push(format!("{} step {k}: {msg}", case.name));
        }
    }
    errors
}

#[test]
fn every_fixture_matches_the_chain() {
    let cases = all_cases();
    let errors: Vec<String> = cases.iter().flat_map(run_case).collect();
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
}
