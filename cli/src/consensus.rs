//! `subnet consensus run`: the JSON contract of `shared/consensus-io.md`.
//!
//! Reads `{ "params": {...}, "steps": [{ "inputs": {...} }, ...] }`, runs one epoch per step
//! (steps are independent) and prints `{ "steps": [{ "outputs": {...} }, ...] }`. Unknown fields
//! are ignored; every rejection names the offending field by its JSON path.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::Value;
use subnet_scoring::I32F32;
use subnet_scoring::yuma::{EpochInputs, EpochOutput, EpochParams, U16Matrix, epoch};

/// `subnet consensus ...`
#[derive(Debug, Subcommand)]
pub(crate) enum ConsensusCommand {
    /// Run Yuma Consensus on the epochs described in a JSON file and print the outputs as JSON
    /// (always JSON; the global `--json` is accepted and changes nothing).
    Run(RunArgs),
}

/// Arguments of `subnet consensus run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Input file in the consensus-io format; `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
}

/// Runs a `consensus` subcommand.
pub(crate) fn run(command: ConsensusCommand) -> Result<()> {
    match command {
        ConsensusCommand::Run(args) => run_file(&args),
    }
}

fn run_file(args: &RunArgs) -> Result<()> {
    let text = if args.input.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading standard input")?;
        text
    } else {
        std::fs::read_to_string(&args.input)
            .with_context(|| format!("reading {}", args.input.display()))?
    };
    let output = run_json(&text)?;
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, &output).context("writing the output")?;
    writeln!(stdout).context("writing the output")?;
    Ok(())
}

/// Parses a consensus-io document, runs every step and returns the output document.
fn run_json(text: &str) -> Result<OutputDoc> {
    let doc: Value = serde_json::from_str(text).context("input is not valid JSON")?;
    let params = parse_params(field(&doc, "", "params")?)?;
    let steps = array(field(&doc, "", "steps")?, "steps")?;
    let mut outputs = Vec::with_capacity(steps.len());
    for (k, step) in steps.iter().enumerate() {
        let path = format!("steps[{k}]");
        let inputs = parse_inputs(field(step, &path, "inputs")?, &format!("{path}.inputs"))?;
        let out = epoch(&inputs, &params).with_context(|| format!("{path}.inputs"))?;
        outputs.push(StepOutput {
            outputs: Outputs::new(&out, &inputs),
        });
    }
    Ok(OutputDoc { steps: outputs })
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn field<'a>(obj: &'a Value, path: &str, key: &str) -> Result<&'a Value> {
    let Some(map) = obj.as_object() else {
        bail!(
            "{}: expected an object",
            if path.is_empty() { "input" } else { path }
        );
    };
    match map.get(key) {
        Some(v) => Ok(v),
        None => bail!("{}: missing field", join(path, key)),
    }
}

fn optional<'a>(obj: &'a Value, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn array<'a>(v: &'a Value, path: &str) -> Result<&'a Vec<Value>> {
    v.as_array()
        .with_context(|| format!("{path}: expected an array, found {}", kind(v)))
}

fn boolean(v: &Value, path: &str) -> Result<bool> {
    v.as_bool()
        .with_context(|| format!("{path}: expected true or false, found {}", kind(v)))
}

/// An integer in `[min, max]`, with a message naming `path` otherwise.
fn integer(v: &Value, path: &str, type_name: &str, min: i128, max: i128) -> Result<i128> {
    let Value::Number(num) = v else {
        bail!(
            "{path}: expected an integer ({type_name}), found {}",
            kind(v)
        );
    };
    let value = if let Some(u) = num.as_u64() {
        i128::from(u)
    } else if let Some(i) = num.as_i64() {
        i128::from(i)
    } else {
        bail!("{path}: {num} is not an integer ({type_name} expected)");
    };
    if value < min {
        if min == 0 {
            bail!("{path}: negative value {value} ({type_name} must be >= 0)");
        }
        bail!("{path}: {value} is out of range for {type_name} ({min}..={max})");
    }
    if value > max {
        bail!("{path}: {value} is out of range for {type_name} ({min}..={max})");
    }
    Ok(value)
}

fn to_u16(v: &Value, path: &str) -> Result<u16> {
    let value = integer(v, path, "u16", 0, i128::from(u16::MAX))?;
    u16::try_from(value).with_context(|| format!("{path}: out of range for u16"))
}

fn to_u64(v: &Value, path: &str) -> Result<u64> {
    let value = integer(v, path, "u64", 0, i128::from(u64::MAX))?;
    u64::try_from(value).with_context(|| format!("{path}: out of range for u64"))
}

fn to_i16(v: &Value, path: &str) -> Result<i16> {
    let value = integer(v, path, "i16", i128::from(i16::MIN), i128::from(i16::MAX))?;
    i16::try_from(value).with_context(|| format!("{path}: out of range for i16"))
}

fn parse_params(p: &Value) -> Result<EpochParams> {
    let path = "params";
    let get = |key: &str| field(p, path, key);
    let at = |key: &str| join(path, key);
    Ok(EpochParams {
        kappa: to_u16(get("kappa")?, &at("kappa"))?,
        bonds_moving_avg: to_u64(get("bonds_moving_avg")?, &at("bonds_moving_avg"))?,
        bonds_penalty: to_u16(get("bonds_penalty")?, &at("bonds_penalty"))?,
        max_allowed_validators: to_u16(
            get("max_allowed_validators")?,
            &at("max_allowed_validators"),
        )?,
        liquid_alpha_enabled: boolean(get("liquid_alpha_enabled")?, &at("liquid_alpha_enabled"))?,
        alpha_low: to_u16(get("alpha_low")?, &at("alpha_low"))?,
        alpha_high: to_u16(get("alpha_high")?, &at("alpha_high"))?,
        alpha_sigmoid_steepness: to_i16(
            get("alpha_sigmoid_steepness")?,
            &at("alpha_sigmoid_steepness"),
        )?,
        yuma3_enabled: boolean(get("yuma3_enabled")?, &at("yuma3_enabled"))?,
        // Not part of consensus-io.md: the case generator's switch for the chain's sparse-path
        // quirk (YUMA_SPEC §9); absent means the spec's behaviour.
        yuma3_sparse_drop: optional(p, "yuma3_sparse_drop")
            .map(|v| boolean(v, &at("yuma3_sparse_drop")))
            .transpose()?
            .unwrap_or(false),
        stake_threshold: to_u64(get("stake_threshold")?, &at("stake_threshold"))?,
        rao_emission: to_u64(get("rao_emission")?, &at("rao_emission"))?,
        owner_uid: optional(p, "owner_uid")
            .map(|v| to_u16(v, &at("owner_uid")))
            .transpose()?,
    })
}

fn vector<T>(
    v: &Value,
    path: &str,
    n: Option<usize>,
    item: impl Fn(&Value, &str) -> Result<T>,
) -> Result<Vec<T>> {
    let items = array(v, path)?;
    if let Some(n) = n
        && items.len() != n
    {
        bail!(
            "{path}: expected n = {n} entries (the length of stake), found {}",
            items.len()
        );
    }
    items
        .iter()
        .enumerate()
        .map(|(k, x)| item(x, &format!("{path}[{k}]")))
        .collect()
}

fn square_u16(v: &Value, path: &str, n: usize) -> Result<Vec<Vec<u16>>> {
    let rows = array(v, path)?;
    if rows.len() != n {
        bail!(
            "{path}: expected an n x n matrix with n = {n} rows (the length of stake), found {} rows",
            rows.len()
        );
    }
    rows.iter()
        .enumerate()
        .map(|(i, row)| {
            let row_path = format!("{path}[{i}]");
            let entries = array(row, &row_path)?;
            if entries.len() != n {
                bail!(
                    "{row_path}: ragged matrix: expected n = {n} entries, found {}",
                    entries.len()
                );
            }
            vector(row, &row_path, None, to_u16)
        })
        .collect()
}

fn parse_inputs(inputs: &Value, path: &str) -> Result<EpochInputs> {
    let at = |key: &str| join(path, key);
    let stake = vector(field(inputs, path, "stake")?, &at("stake"), None, to_u64)?;
    let n = stake.len();
    let weights = square_u16(field(inputs, path, "weights")?, &at("weights"), n)?;
    let bonds_prev = square_u16(field(inputs, path, "bonds_prev")?, &at("bonds_prev"), n)?;
    let active = vector(
        field(inputs, path, "active")?,
        &at("active"),
        Some(n),
        boolean,
    )?;
    let validator_permits_prev = vector(
        field(inputs, path, "validator_permits_prev")?,
        &at("validator_permits_prev"),
        Some(n),
        boolean,
    )?;
    let blocks = |key: &str| -> Result<Option<Vec<u64>>> {
        optional(inputs, key)
            .map(|v| vector(v, &at(key), Some(n), to_u64))
            .transpose()
    };
    let last_update = blocks("last_update")?;
    let block_at_registration = blocks("block_at_registration")?;
    if last_update.is_some() != block_at_registration.is_some() {
        let missing = if last_update.is_some() {
            "block_at_registration"
        } else {
            "last_update"
        };
        bail!(
            "{}: missing field (last_update and block_at_registration go together)",
            at(missing)
        );
    }
    let bonds_reset_cols = optional(inputs, "bonds_reset_cols")
        .map(|v| vector(v, &at("bonds_reset_cols"), Some(n), boolean))
        .transpose()?;
    Ok(EpochInputs {
        weights: U16Matrix::Dense(weights),
        bonds_prev: U16Matrix::Dense(bonds_prev),
        stake,
        active,
        validator_permits_prev,
        last_update,
        block_at_registration,
        weight_commit_blocks: None,
        bonds_reset_cols,
    })
}

/// The output document.
#[derive(Debug, Serialize)]
struct OutputDoc {
    steps: Vec<StepOutput>,
}

#[derive(Debug, Serialize)]
struct StepOutput {
    outputs: Outputs,
}

/// One step's outputs, in the order consensus-io.md lists them.
#[derive(Debug, Serialize)]
struct Outputs {
    stake: Vec<f64>,
    active_stake: Vec<f64>,
    consensus: Vec<f64>,
    validator_trust: Vec<f64>,
    incentive: Vec<f64>,
    dividends: Vec<f64>,
    emission_incentive_share: Vec<f64>,
    emission_dividend_share: Vec<f64>,
    emission_combined_share: Vec<f64>,
    bonds: Vec<Vec<f64>>,
    validator_permits: Vec<bool>,
    emission_fallback: Option<&'static str>,
    bonds_u16: Vec<Vec<u16>>,
    stake_u16: Vec<u16>,
    consensus_u16: Vec<u16>,
    incentive_u16: Vec<u16>,
    dividends_u16: Vec<u16>,
    validator_trust_u16: Vec<u16>,
    server_emission: Vec<u64>,
    validator_emission: Vec<u64>,
    emission: Vec<u64>,
}

/// Proportions as f64: exact conversions of the I32F32 values (serde_json prints the shortest
/// representation that reads back to the same f64, at most 17 significant digits).
fn floats(v: &[I32F32]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

impl Outputs {
    fn new(out: &EpochOutput, inputs: &EpochInputs) -> Self {
        Self {
            stake: floats(&out.stake),
            active_stake: floats(&out.active_stake),
            consensus: floats(&out.consensus),
            validator_trust: floats(&out.validator_trust),
            incentive: floats(&out.incentive),
            dividends: floats(&out.dividends),
            emission_incentive_share: floats(&out.emission_incentive_share),
            emission_dividend_share: floats(&out.emission_dividend_share),
            emission_combined_share: floats(&out.emission_combined_share),
            bonds: out
                .stored_bonds(&inputs.bonds_prev)
                .iter()
                .map(|row| floats(row))
                .collect(),
            validator_permits: out.validator_permits.clone(),
            emission_fallback: out.emission_fallback.map(|f| f.as_str()),
            bonds_u16: out.stored_bonds_u16(&inputs.bonds_prev),
            stake_u16: out.stake_u16(),
            consensus_u16: out.consensus_u16(),
            incentive_u16: out.incentive_u16(),
            dividends_u16: out.dividends_u16(),
            validator_trust_u16: out.validator_trust_u16(),
            server_emission: out.server_emission.clone(),
            validator_emission: out.validator_emission.clone(),
            emission: out.emission.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> Value {
        serde_json::json!({
            "params": {
                "kappa": 32767, "bonds_moving_avg": 900000, "bonds_penalty": 65535,
                "max_allowed_validators": 128, "liquid_alpha_enabled": false,
                "alpha_low": 45875, "alpha_high": 58982, "alpha_sigmoid_steepness": 1000,
                "yuma3_enabled": false, "stake_threshold": 0, "rao_emission": 1000,
                "owner_uid": null
            },
            "steps": [{ "inputs": {
                "weights": [[0, 65535], [0, 0]], "stake": [100, 0],
                "bonds_prev": [[0, 0], [0, 0]], "active": [true, true],
                "validator_permits_prev": [true, false]
            }}]
        })
    }

    fn error_of(doc: &Value) -> String {
        format!("{:#}", run_json(&doc.to_string()).unwrap_err())
    }

    #[test]
    fn runs_a_minimal_document() {
        let out = run_json(&minimal().to_string()).unwrap();
        let o = &out.steps[0].outputs;
        assert_eq!(o.server_emission, vec![0, 500]);
        assert_eq!(o.validator_emission, vec![500, 0]);
        assert_eq!(o.bonds_u16, vec![vec![0, 65535], vec![0, 0]]);
    }

    #[test]
    fn errors_name_the_field() {
        let mut doc = minimal();
        doc["steps"][0]["inputs"]["weights"][1] = serde_json::json!([0]);
        assert!(error_of(&doc).contains("steps[0].inputs.weights[1]"));

        let mut doc = minimal();
        doc["steps"][0]["inputs"]["stake"][1] = serde_json::json!(-5);
        let e = error_of(&doc);
        assert!(
            e.contains("steps[0].inputs.stake[1]") && e.contains("negative"),
            "{e}"
        );

        let mut doc = minimal();
        doc["params"]["kappa"] = serde_json::json!(70000);
        assert!(error_of(&doc).contains("params.kappa"));

        let mut doc = minimal();
        doc["params"]
            .as_object_mut()
            .unwrap()
            .remove("rao_emission");
        assert!(error_of(&doc).contains("params.rao_emission: missing field"));

        let mut doc = minimal();
        doc["steps"][0]["inputs"]["last_update"] = serde_json::json!([1, 2]);
        assert!(error_of(&doc).contains("block_at_registration"));

        assert!(format!("{:#}", run_json("{").unwrap_err()).contains("not valid JSON"));
    }
}
