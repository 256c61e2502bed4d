//! Loading the consensus-io case files (`tests/fixtures/yuma/*.json`) into epoch inputs.

use std::path::{Path, PathBuf};

use serde_json::Value;
use subnet_scoring::yuma::{EpochInputs, EpochParams, U16Matrix};

/// One step of a case file: its inputs and the `expected` / `expected_i32f32` objects.
pub(crate) struct Step {
    pub(crate) dense: EpochInputs,
    pub(crate) sparse: EpochInputs,
    pub(crate) expected: Value,
    pub expected_i32f32: Value,
}

/// A case file: its name, params and steps.
pub(crate) struct Case {
    pub(crate) name: String,
    pub(crate) params: EpochParams,
    pub(crate) steps: Vec<Step>,
}

pub(crate) fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/yuma")
}

pub(crate) fn all_cases() -> Vec<Case> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 8, "fixtures missing: {paths:?}");
    paths.iter().map(|p| load(p)).collect()
}

fn u64s(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

fn bools(v: &Value) -> Vec<bool> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_bool().unwrap())
        .collect()
}

fn u16_matrix(v: &Value) -> Vec<Vec<u16>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|row| {
            u64s(row)
                .into_iter()
                .map(|x| u16::try_from(x).unwrap())
                .collect()
        })
        .collect()
}

/// The sparse form of a dense matrix: its non-zero entries.
pub(crate) fn to_sparse(dense: &[Vec<u16>]) -> U16Matrix {
    U16Matrix::Sparse(
        dense
            .iter()
            .map(|row| {
                (0..=u16::MAX)
                    .zip(row)
                    .filter(|(_, v)| **v != 0)
                    .map(|(j, v)| (j, *v))
                    .collect()
            })
            .collect(),
    )
}

pub(crate) fn params(p: &Value) -> EpochParams {
    let u16_of = |k: &str| u16::try_from(p[k].as_u64().unwrap()).unwrap();
    EpochParams {
        kappa: u16_of("kappa"),
        bonds_moving_avg: p["bonds_moving_avg"].as_u64().unwrap(),
        bonds_penalty: u16_of("bonds_penalty"),
        max_allowed_validators: u16_of("max_allowed_validators"),
        liquid_alpha_enabled: p["liquid_alpha_enabled"].as_bool().unwrap(),
        alpha_low: u16_of("alpha_low"),
        alpha_high: u16_of("alpha_high"),
        alpha_sigmoid_steepness: i16::try_from(p["alpha_sigmoid_steepness"].as_i64().unwrap())
            .unwrap(),
        yuma3_enabled: p["yuma3_enabled"].as_bool().unwrap(),
        yuma3_sparse_drop: p["yuma3_sparse_drop"].as_bool().unwrap_or(false),
        stake_threshold: p["stake_threshold"].as_u64().unwrap(),
        rao_emission: p["rao_emission"].as_u64().unwrap(),
        owner_uid: p["owner_uid"].as_u64().map(|u| u16::try_from(u).unwrap()),
    }
}

pub(crate) fn inputs(i: &Value, sparse: bool) -> EpochInputs {
    let weights = u16_matrix(&i["weights"]);
    let bonds = u16_matrix(&i["bonds_prev"]);
    let opt_u64s = |k: &str| i.get(k).filter(|v| !v.is_null()).map(u64s);
    EpochInputs {
        weights: if sparse {
            to_sparse(&weights)
        } else {
            U16Matrix::Dense(weights)
        },
        bonds_prev: if sparse {
            to_sparse(&bonds)
        } else {
            U16Matrix::Dense(bonds)
        },
        stake: u64s(&i["stake"]),
        active: bools(&i["active"]),
        validator_permits_prev: bools(&i["validator_permits_prev"]),
        last_update: opt_u64s("last_update"),
        block_at_registration: opt_u64s("block_at_registration"),
        weight_commit_blocks: None,
        bonds_reset_cols: i
            .get("bonds_reset_cols")
            .filter(|v| !v.is_null())
            .map(bools),
    }
}

pub(crate) fn load(path: &Path) -> Case {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    Case {
        name: path.file_name().unwrap().to_string_lossy().into_owned(),
        params: params(&doc["params"]),
        steps: doc["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| Step {
                dense: inputs(&s["inputs"], false),
                sparse: inputs(&s["inputs"], true),
                expected: s["expected"].clone(),
                expected_i32f32: s["expected_i32f32"].clone(),
            })
            .collect(),
    }
}
