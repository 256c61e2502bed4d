//! What a local subnet is made of: the three binaries, the configuration templates and
//! checkpoints, the development keys each participant uses, and each child's configuration
//! file, written from its template.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use subnet_chain_client::NodeUrl;
use subnet_protocol::ids::NetUid;
use subnet_service::parse_duration;

/// Coldkey that creates and owns the subnet (a funded `--dev` account).
pub(crate) const OWNER: &str = "alice";

/// One miner of the local subnet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MinerSpec {
    /// The shipped checkpoint it serves: `models/checkpoints/NAME.mpk`.
    pub(crate) checkpoint: &'static str,
    /// Its development hotkey.
    pub(crate) hotkey: &'static str,
    /// Its development coldkey: pays the burn, owns the AINFT and receives its emission.
    pub(crate) coldkey: &'static str,
}

/// The miners, worst checkpoint first.
pub(crate) const MINERS: [MinerSpec; 3] = [
    MinerSpec {
        checkpoint: "tiny",
        hotkey: "localnet-miner-tiny",
        coldkey: "dave",
    },
    MinerSpec {
        checkpoint: "small",
        hotkey: "localnet-miner-small",
        coldkey: "eve",
    },
    MinerSpec {
        checkpoint: "best",
        hotkey: "localnet-miner-best",
        coldkey: "ferdie",
    },
];

/// One validator of the local subnet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ValidatorSpec {
    /// Its development hotkey.
    pub(crate) hotkey: &'static str,
    /// Its development coldkey: registers it and stakes on it.
    pub(crate) coldkey: &'static str,
    /// Tokens staked on it.
    pub(crate) stake: u64,
}

/// The validators.
pub(crate) const VALIDATORS: [ValidatorSpec; 2] = [
    ValidatorSpec {
        hotkey: "localnet-validator-0",
        coldkey: "bob",
        stake: 2000,
    },
    ValidatorSpec {
        hotkey: "localnet-validator-1",
        coldkey: "charlie",
        stake: 1000,
    },
];

/// The executables started.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    /// `subnet-node`.
    pub(crate) node: PathBuf,
    /// `miner`.
    pub(crate) miner: PathBuf,
    /// `validator`.
    pub(crate) validator: PathBuf,
}

impl Binaries {
    /// The binaries in `bin_dir`, or else beside the running `subnet` executable.
    ///
    /// # Errors
    /// One line naming the first binary missing and the command that builds it.
    pub(crate) fn locate(bin_dir: Option<&Path>) -> Result<Self> {
        let dir = match bin_dir {
            Some(dir) => dir.to_owned(),
            None => std::env::current_exe()
                .context("locating the running `subnet` executable")?
                .parent()
                .context("the `subnet` executable has no directory")?
                .to_owned(),
        };
        let find = |name: &str| -> Result<PathBuf> {
            let path = dir.join(name);
            if path.is_file() {
                return Ok(path);
            }
            let build = match dir.file_name().and_then(|n| n.to_str()) {
                Some("debug") => "cargo build --locked --bins",
                _ => "cargo build --release --locked --bins",
            };
            bail!(
                "`{name}` not found in {}: build the binaries with `{build}` (or pass --bin-dir)",
                dir.display()
            )
        };
        Ok(Self {
            node: find("subnet-node")?,
            miner: find("miner")?,
            validator: find("validator")?,
        })
    }
}

/// Where the templates and checkpoints are.
#[derive(Debug, Clone)]
pub(crate) struct Assets {
    /// `subnet.toml`, `miner.toml`, `validator.toml`.
    pub(crate) config_dir: PathBuf,
    /// `tiny.mpk`, `small.mpk`, `best.mpk` and their `.json` metadata.
    pub(crate) checkpoints: PathBuf,
}

impl Assets {
    /// The given directories, or else `deploy/localnet` and `models/checkpoints` under the
    /// working directory, or else those of the source tree this binary was built from.
    ///
    /// # Errors
    /// If a directory is not found.
    pub(crate) fn locate(config_dir: Option<&Path>, checkpoints: Option<&Path>) -> Result<Self> {
        let find = |given: Option<&Path>, relative: &str, flag: &str| -> Result<PathBuf> {
            let source_tree = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(relative);
            let candidates: Vec<PathBuf> = match given {
                Some(dir) => vec![dir.to_owned()],
                None => vec![PathBuf::from(relative), source_tree],
            };
            for dir in &candidates {
                if dir.is_dir() {
                    return dir
                        .canonicalize()
                        .with_context(|| format!("resolving {}", dir.display()));
                }
            }
            bail!(
                "{} not found: run from the repository root or pass {flag}",
                candidates
                    .first()
                    .map_or_else(|| relative.into(), |d| d.display().to_string())
            )
        };
        Ok(Self {
            config_dir: find(config_dir, "deploy/localnet", "--config-dir")?,
            checkpoints: find(checkpoints, "models/checkpoints", "--checkpoints")?,
        })
    }

    /// `subnet.toml`.
    pub(crate) fn subnet_toml(&self) -> PathBuf {
        self.config_dir.join("subnet.toml")
    }

    /// A checkpoint's record file.
    pub(crate) fn checkpoint(&self, name: &str) -> PathBuf {
        self.checkpoints.join(format!("{name}.mpk"))
    }

    /// A checkpoint's evaluation loss in bits per byte, from its `.json` metadata.
    ///
    /// # Errors
    /// If the metadata cannot be read or lacks `eval_bits_per_byte`.
    pub(crate) fn eval_bits_per_byte(&self, name: &str) -> Result<f64> {
        let path = self.checkpoints.join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let meta: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        meta.get("eval_bits_per_byte")
            .and_then(serde_json::Value::as_f64)
            .with_context(|| format!("{} has no eval_bits_per_byte", path.display()))
    }

    fn template(&self, name: &str) -> Result<toml::Table> {
        let path = self.config_dir.join(name);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the template {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))
    }
}

/// What every child's configuration shares.
#[derive(Debug, Clone)]
pub(crate) struct Common {
    /// The node's JSON-RPC URL.
    pub(crate) url: NodeUrl,
    /// The subnet.
    pub(crate) netuid: NetUid,
    /// The node's block time.
    pub(crate) block_time: Duration,
}

impl Common {
    fn apply(&self, table: &mut toml::Table, hotkey: &str, seed: usize) {
        let mut chain = toml::Table::new();
        chain.insert("backend".into(), "local".into());
        chain.insert("url".into(), self.url.to_string().into());
        table.insert("chain".into(), chain.into());
        table.insert("netuid".into(), i64::from(self.netuid.0).into());
        table.insert("hotkey".into(), dev_key(hotkey));
        table.insert("metrics_addr".into(), "127.0.0.1:0".into());
        table.insert(
            "seed".into(),
            i64::try_from(seed.saturating_add(1)).unwrap_or(1).into(),
        );
    }
}

fn dev_key(name: &str) -> toml::Value {
    let mut key = toml::Table::new();
    key.insert("dev".into(), name.into());
    key.into()
}

/// Writes `dir/miner.toml` for `spec` from the template `miner.toml`: its keys and checkpoint,
/// a free loopback port, the node and subnet, metrics on a free port. Returns its path.
///
/// # Errors
/// If the template cannot be read or the file written.
pub(crate) fn write_miner_config(
    assets: &Assets,
    common: &Common,
    index: usize,
    spec: &MinerSpec,
    dir: &Path,
) -> Result<PathBuf> {
    let mut table = assets.template("miner.toml")?;
    common.apply(&mut table, spec.hotkey, index);
    table.insert("coldkey".into(), dev_key(spec.coldkey));
    table.insert("listen".into(), "127.0.0.1:0".into());
    table.remove("external_ip");
    table.remove("tls");
    let checkpoint = assets.checkpoint(spec.checkpoint);
    table.insert(
        "checkpoint".into(),
        checkpoint.to_string_lossy().into_owned().into(),
    );
    write(dir.join("miner.toml"), &table)
}

/// Shortest step interval a local validator gets (see [`write_validator_config`]).
pub(crate) const MIN_STEP_INTERVAL: Duration = Duration::from_secs(5);

/// Writes `dir/validator.toml` for `spec` from the template `validator.toml`: its key, its
/// database in `dir/db`, a loopback client socket, the node and subnet. Returns its path.
///
/// The step interval is at least a tempo (`tempo_time`) and at least [`MIN_STEP_INTERVAL`]:
/// weights go out once per tempo, so more steps add little, and the validator starts its next
/// step at once when a step overruns its interval, which on a loaded machine (debug builds,
/// two cores) would leave no time for the weights tick.
///
/// # Errors
/// If the template cannot be read or the file written.
pub(crate) fn write_validator_config(
    assets: &Assets,
    common: &Common,
    index: usize,
    spec: &ValidatorSpec,
    dir: &Path,
    tempo_time: Duration,
) -> Result<PathBuf> {
    let mut table = assets.template("validator.toml")?;
    common.apply(&mut table, spec.hotkey, index);
    table.insert(
        "data_dir".into(),
        dir.join("db").to_string_lossy().into_owned().into(),
    );
    table.insert("bind".into(), "127.0.0.1:0".into());
    let floor = tempo_time.max(MIN_STEP_INTERVAL);
    let step = table
        .get("step_interval")
        .and_then(toml::Value::as_str)
        .and_then(|text| parse_duration(text).ok());
    if step.is_none_or(|s| s < floor) {
        table.insert(
            "step_interval".into(),
            format!("{}ms", floor.as_millis()).into(),
        );
    }
    write(dir.join("validator.toml"), &table)
}

fn write(path: PathBuf, table: &toml::Table) -> Result<PathBuf> {
    let text = toml::to_string(table).context("encoding a configuration")?;
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_are_written_from_the_templates() {
        let assets = Assets::locate(None, None).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let common = Common {
            url: "http://127.0.0.1:4321".parse().unwrap(),
            netuid: NetUid(3),
            block_time: Duration::from_millis(250),
        };
        let path = write_miner_config(&assets, &common, 2, &MINERS[2], dir.path()).unwrap();
        let miner: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(miner["netuid"].as_integer(), Some(3));
        assert_eq!(miner["listen"].as_str(), Some("127.0.0.1:0"));
        assert_eq!(miner["hotkey"]["dev"].as_str(), Some("localnet-miner-best"));
        assert_eq!(
            miner["chain"]["url"].as_str(),
            Some("http://127.0.0.1:4321")
        );
        assert!(miner["checkpoint"].as_str().unwrap().ends_with("best.mpk"));
        let path = write_validator_config(
            &assets,
            &common,
            0,
            &VALIDATORS[0],
            dir.path(),
            Duration::from_secs(10),
        )
        .unwrap();
        let validator: toml::Table =
            toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(validator["step_interval"].as_str(), Some("10000ms"));
        assert_eq!(validator["bind"].as_str(), Some("127.0.0.1:0"));
        assert!((assets.eval_bits_per_byte("best").unwrap() - 2.36).abs() < 0.01);
    }
}
