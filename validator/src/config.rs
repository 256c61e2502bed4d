//! [`Config`]: everything a validator needs, from TOML and command-line flags.
//!
//! ```toml
//! netuid = 1
//! hotkey = { file = "keys/validator-hotkey.json" }
//! data_dir = "validator-data"
//! metrics_addr = "127.0.0.1:9617"
//! sample_size = 16
//! requests_per_miner = 8
//! step_interval = "12s"
//! request_timeout = "5s"
//! ema_alpha = 0.1
//! corpus = { source = "jargon-eval" }
//!
//! [chain]
//! backend = "local"
//! url = "http://127.0.0.1:9944"
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use subnet_chain_client::ChainBackend;
use subnet_protocol::NetUid;
use subnet_protocol::net::{MAX_TIMEOUT, NetConfig};
use subnet_protocol::task::{MAX_CONTEXT_BYTES, MAX_WEIGHTS_CHUNK_BYTES};
use subnet_service::KeyLoadError;
pub use subnet_service::{
    DevKey, DurationParseError, KeyFile, KeySource, format_duration, parse_duration,
};

/// The resolved configuration of a validator.
///
/// Precedence is defaults < file (`--config`) < flags; `--dump-config` prints this as TOML.
/// Secrets are never inline: the hotkey comes from a key file (or a named development key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The hotkey: holds the validator's UID, signs requests and weights. Default
    /// `{ file = "validator-hotkey.json" }`.
    pub hotkey: KeySource,
    /// The chain. Default `{ backend = "local", url = "http://127.0.0.1:9944" }`.
    pub chain: ChainBackend,
    /// The subnet validated. Default 1.
    pub netuid: NetUid,
    /// Local address of the QUIC client socket. Default `0.0.0.0:0` (any interface, a free
    /// port); tests use `127.0.0.1:0`.
    pub bind: SocketAddr,
    /// Miners queried per step, sampled among those serving an axon. Default 16.
    pub sample_size: usize,
    /// Task requests sent to each sampled miner per step (the same requests to every miner, so
    /// their losses compare). Default 8.
    pub requests_per_miner: usize,
    /// Time between the starts of two steps. Default 12 s (one Bittensor block).
    #[serde(with = "subnet_service::duration::serde_duration")]
    pub step_interval: Duration,
    /// Longest one request to a miner may take, connecting included. Default 5 s.
    #[serde(with = "subnet_service::duration::serde_duration")]
    pub request_timeout: Duration,
    /// Weight of a step's reward in the moving average: `s ← α·r + (1 − α)·s`, in `(0, 1]`.
    /// Default 0.1.
    pub ema_alpha: f64,
    /// Temperature `T` of the reward `exp(−loss / T)`, in the task's loss unit (bits per byte
    /// for the default task). Lower is sharper. Default 1.0.
    pub reward_temperature: f64,
    /// Text that requests are cut from. Default the Jargon File's evaluation split.
    pub corpus: EvalCorpus,
    /// Bytes of context in a request, at most 256. Default 64.
    pub context_len: usize,
    /// Final positions of each context that are scored (the last predicts the withheld byte),
    /// at most `context_len`. Default 8.
    pub scored_positions: u16,
    /// Fraction of each verified miner's answered requests re-run on its registered weights
    /// each step, in `[0, 1]`; at least one request per miner when above 0. Default 0.1.
    pub spot_check_rate: f64,
    /// Largest difference between a miner's value and the local re-run that still matches
    /// (absolute, per value). Default 1e-4, so GPU miners pass.
    pub spot_check_tolerance: f64,
    /// Seed of every random choice (miners sampled, windows, spot checks, commit salts).
    /// Default none (the operating system's generator).
    pub seed: Option<u64>,
    /// Directory of the validator's database (scores, identities, weights, commitments).
    /// Default `validator-data`.
    pub data_dir: PathBuf,
    /// Prometheus metrics address (`GET /metrics`). Default none (not served).
    pub metrics_addr: Option<SocketAddr>,
    /// Most requests to miners in flight at once. Default 64.
    pub max_in_flight: usize,
    /// Bytes asked for per weights download request. Default 1 MiB, at most 8 MiB.
    pub weights_chunk_bytes: u32,
}

/// The text requests are cut from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "kebab-case", deny_unknown_fields)]
pub enum EvalCorpus {
    /// The evaluation split of the Jargon File shipped with `subnet-models` (every tenth
    /// 4 KiB chunk; miners' checkpoints are trained on the others).
    #[default]
    JargonEval,
    /// A text file, used whole.
    File {
        /// The file.
        path: PathBuf,
    },
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML does not parse or has unknown fields.
    #[error("invalid configuration")]
    Parse(#[from] toml::de::Error),
    /// A value is out of its range.
    #[error("`{field}` {reason}")]
    Invalid {
        /// The field, as written in the file.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The hotkey cannot be loaded.
    #[error("hotkey")]
    Key(#[from] KeyLoadError),
}

impl Default for Config {
    fn default() -> Self {
        Self {
            hotkey: KeySource::File(KeyFile {
                file: "validator-hotkey.json".into(),
                password_file: None,
            }),
            chain: ChainBackend::default(),
            netuid: NetUid(1),
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            sample_size: 16,
            requests_per_miner: 8,
            step_interval: Duration::from_secs(12),
            request_timeout: Duration::from_secs(5),
            ema_alpha: 0.1,
            reward_temperature: 1.0,
            corpus: EvalCorpus::JargonEval,
            context_len: 64,
            scored_positions: 8,
            spot_check_rate: 0.1,
            spot_check_tolerance: 1e-4,
            seed: None,
            data_dir: "validator-data".into(),
            metrics_addr: None,
            max_in_flight: 64,
            weights_chunk_bytes: 1 << 20,
        }
    }
}

impl Config {
    /// Parses and validates a TOML configuration; absent fields take their defaults.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] or [`ConfigError::Invalid`].
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// The configuration as TOML (what `--dump-config` prints).
    pub fn to_toml(&self) -> String {
        // Every field is a plain value or table that TOML can express.
        toml::to_string(self).unwrap_or_default()
    }

    /// Checks every range.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the first field out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |field: &'static str, reason: &str| {
            Err(ConfigError::Invalid {
                field,
                reason: reason.to_owned(),
            })
        };
        if self.sample_size == 0 {
            return fail("sample_size", "must be at least 1");
        }
        if self.requests_per_miner == 0 {
            return fail("requests_per_miner", "must be at least 1");
        }
        if self.step_interval.is_zero() || self.step_interval > MAX_TIMEOUT {
            return fail("step_interval", "must be above 0 and at most a day");
        }
        if self.request_timeout.is_zero() || self.request_timeout > MAX_TIMEOUT {
            return fail("request_timeout", "must be above 0 and at most a day");
        }
        if !(self.ema_alpha > 0.0 && self.ema_alpha <= 1.0) {
            return fail("ema_alpha", "must be in (0, 1]");
        }
        if !(self.reward_temperature.is_finite() && self.reward_temperature > 0.0) {
            return fail("reward_temperature", "must be a positive number");
        }
        if self.context_len == 0 || self.context_len > MAX_CONTEXT_BYTES {
            return fail("context_len", "must be in 1..=256");
        }
        if self.scored_positions == 0 || usize::from(self.scored_positions) > self.context_len {
            return fail("scored_positions", "must be in 1..=context_len");
        }
        if !(0.0..=1.0).contains(&self.spot_check_rate) {
            return fail("spot_check_rate", "must be in [0, 1]");
        }
        if !(self.spot_check_tolerance.is_finite() && self.spot_check_tolerance >= 0.0) {
            return fail("spot_check_tolerance", "must be a number >= 0");
        }
        if self.max_in_flight == 0 {
            return fail("max_in_flight", "must be at least 1");
        }
        if self.weights_chunk_bytes == 0 || self.weights_chunk_bytes > MAX_WEIGHTS_CHUNK_BYTES {
            return fail("weights_chunk_bytes", "must be in 1..=8388608");
        }
        Ok(())
    }

    /// The QUIC client settings: the request timeout, and streams per connection up to
    /// `max_in_flight` (at most the transport's replay window).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] if the transport refuses the values.
    pub fn net_config(&self) -> Result<NetConfig, ConfigError> {
        let mut net = NetConfig::default();
        net.request_timeout(self.request_timeout)
            .handshake_timeout(self.request_timeout);
        net.validate().map_err(|e| ConfigError::Invalid {
            field: "request_timeout",
            reason: e.to_string(),
        })?;
        Ok(net)
    }
}

impl fmt::Display for EvalCorpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::JargonEval => f.write_str("jargon-eval"),
            Self::File { path } => write!(f, "file {}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let config = Config::default();
        config.validate().unwrap();
        let text = config.to_toml();
        assert_eq!(Config::from_toml(&text).unwrap(), config);
        assert_eq!(Config::from_toml("").unwrap(), config);
    }

    #[test]
    fn a_full_file_parses() {
        let config = Config::from_toml(
            r#"
            netuid = 3
            hotkey = { dev = "alice" }
            bind = "127.0.0.1:0"
            sample_size = 4
            requests_per_miner = 2
            step_interval = "250ms"
            request_timeout = "1.5s"
            ema_alpha = 0.5
            reward_temperature = 0.5
            corpus = { source = "file", path = "eval.txt" }
            context_len = 32
            scored_positions = 4
            spot_check_rate = 1.0
            seed = 7
            data_dir = "/tmp/v"
            metrics_addr = "127.0.0.1:9617"
            max_in_flight = 8

            [chain]
            backend = "embedded"
            "#,
        )
        .unwrap();
        assert_eq!(config.netuid, NetUid(3));
        assert_eq!(
            config.hotkey,
            KeySource::Dev(DevKey {
                dev: "alice".into()
            })
        );
        assert_eq!(config.step_interval, Duration::from_millis(250));
        assert_eq!(config.request_timeout, Duration::from_millis(1500));
        assert_eq!(
            config.corpus,
            EvalCorpus::File {
                path: "eval.txt".into()
            }
        );
        assert_eq!(config.chain, ChainBackend::Embedded { genesis: None });
        assert_eq!(config.seed, Some(7));
        assert_eq!(Config::from_toml(&config.to_toml()).unwrap(), config);
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        assert!(matches!(
            Config::from_toml("sample_sise = 3"),
            Err(ConfigError::Parse(_))
        ));
        assert!(matches!(
            Config::from_toml("step_interval = 12"),
            Err(ConfigError::Parse(_))
        ));
        assert!(matches!(
            Config::from_toml("corpus = { source = \"web\" }"),
            Err(ConfigError::Parse(_))
        ));
        for (text, field) in [
            ("ema_alpha = 0.0", "ema_alpha"),
            ("ema_alpha = 1.5", "ema_alpha"),
            ("sample_size = 0", "sample_size"),
            ("context_len = 300", "context_len"),
            ("context_len = 8\nscored_positions = 9", "scored_positions"),
            ("spot_check_rate = 1.1", "spot_check_rate"),
            ("reward_temperature = 0.0", "reward_temperature"),
            ("step_interval = \"0s\"", "step_interval"),
            ("max_in_flight = 0", "max_in_flight"),
        ] {
            match Config::from_toml(text) {
                Err(ConfigError::Invalid { field: f, .. }) => assert_eq!(f, field, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
