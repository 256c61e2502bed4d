//! [`Config`]: everything a miner needs, from TOML and command-line flags.
//!
//! ```toml
//! netuid = 1
//! listen = "127.0.0.1:8091"
//! checkpoint = "models/checkpoints/best.mpk"
//! device = "cpu"                        # or "cuda", "cuda:1" (feature `cuda`)
//! metrics_addr = "127.0.0.1:9616"
//! hotkey = { file = "keys/miner-hotkey.json" }
//! coldkey = { file = "keys/coldkey.json", password_file = "keys/coldkey.pass" }
//!
//! [chain]
//! backend = "local"
//! url = "http://127.0.0.1:9944"
//!
//! [limits]
//! max_batch_size = 32
//! max_batch_wait = "2ms"
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subnet_chain_client::ChainBackend;
use subnet_protocol::NetUid;
use subnet_protocol::net::NetConfig;
use subnet_protocol::task::MAX_WEIGHTS_CHUNK_BYTES;
pub use subnet_service::{
    DevKey, DurationParseError, KeyFile, KeySource, format_duration, parse_duration,
};

/// Default QUIC listen address: loopback, port 8091 (Bittensor's axon port).
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8091);

/// Bytes of a weights chunk answer beyond its data: postcard header fields and the envelope.
const CHUNK_OVERHEAD_BYTES: usize = 4096;

/// The resolved configuration of a miner.
///
/// Precedence is defaults < file (`--config`) < flags; `--dump-config` prints this as TOML.
/// Secrets are never inline: keys come from key files (or named development keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The hotkey: holds the UID, signs answers. Default `{ file = "miner-hotkey.json" }`.
    pub hotkey: KeySource,
    /// The coldkey: pays the registration burn and owns the AINFT (credited with its
    /// emission). Default `{ file = "coldkey.json" }`.
    pub coldkey: KeySource,
    /// The chain. Default `{ backend = "local", url = "http://127.0.0.1:9944" }`.
    pub chain: ChainBackend,
    /// The subnet served. Default 1.
    pub netuid: NetUid,
    /// QUIC listen address; port 0 picks a free port. Default `127.0.0.1:8091`.
    pub listen: SocketAddr,
    /// IP published in the axon. Default: the listen address's IP, which must then be a
    /// specific address (not `0.0.0.0` or `::`).
    pub external_ip: Option<IpAddr>,
    /// The model: a burn record file with its `.json` metadata beside it. Default
    /// `models/checkpoints/best.mpk`.
    pub checkpoint: PathBuf,
    /// Where inference runs. Default `cpu`.
    pub device: Device,
    /// The QUIC certificate and key files, loaded if present, else generated and written.
    /// Default none: a fresh certificate each start (so each start publishes a new axon), or
    /// one derived from `seed` if that is set.
    pub tls: Option<TlsFiles>,
    /// Serve a certificate whose key is the hotkey, and publish no fingerprint
    /// (`CertFingerprint::HOTKEY`): validators then check that the TLS handshake is signed by
    /// the UID's hotkey. For chains with nowhere to publish a fingerprint (a subtensor runtime
    /// without the Commitments pallet); excludes `tls`. Default false.
    pub hotkey_certificate: bool,
    /// Admission, batching and transport limits.
    pub limits: Limits,
    /// Prometheus metrics address (`GET /metrics`). Default none (not served).
    pub metrics_addr: Option<SocketAddr>,
    /// Seed of the miner's only random choice, the key of a certificate made without `tls`
    /// files: with a seed it is derived from it (stable fingerprints for tests and local
    /// subnets; guessable, so never on a public network). Inference uses no randomness.
    /// Default none (the operating system's generator).
    pub seed: Option<u64>,
    /// URI of the training data written in the AINFT manifest. Default: the checkpoint
    /// metadata's description of its data.
    pub data_uri: Option<String>,
}

/// The miner's certificate files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// Certificate PEM.
    pub cert: PathBuf,
    /// Private key PEM (written with mode 0600).
    pub key: PathBuf,
}

/// Where inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// The CPU, with the fused forward pass ([`FusedLm`](subnet_models::FusedLm); AVX-512, AVX2
    /// or portable kernels, detected at start). Written `cpu`.
    #[default]
    Cpu,
    /// A CUDA GPU by index (feature `cuda`). Written `cuda` (index 0) or `cuda:N`.
    Cuda {
        /// The GPU's index.
        index: usize,
    },
}

/// Limits on what callers can make the miner do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Most task requests run in one inference batch. Default 32; 1 turns batching off.
    pub max_batch_size: usize,
    /// Longest a batch waits for more requests once its first one is there. Default 2 ms; at
    /// most `request_timeout`.
    #[serde(with = "subnet_service::duration::serde_duration")]
    pub max_batch_wait: Duration,
    /// Most task requests waiting for inference; past it the lowest-stake caller's request is
    /// refused with `busy`. Default 256.
    pub queue_depth: usize,
    /// Sustained requests per second per caller (token bucket). Default 50.
    pub requests_per_second: f64,
    /// Requests a caller may make at once before the rate applies. Default 100.
    pub burst: u32,
    /// Largest request frame, in bytes. Default 64 KiB.
    pub max_request_bytes: usize,
    /// Largest answer frame, in bytes. Default 16 MiB.
    pub max_answer_bytes: usize,
    /// Largest weights chunk sent, in bytes. Default 1 MiB, at most 8 MiB.
    pub weights_chunk_bytes: u32,
    /// Most open QUIC connections. Default 256.
    pub max_connections: usize,
    /// Most open QUIC connections from one IP address. Default 16.
    pub max_connections_per_ip: usize,
    /// Most concurrent requests per connection. Default 64.
    pub max_concurrent_streams: u32,
    /// Longest a request may take, reading to answering. Default 10 s.
    #[serde(with = "subnet_service::duration::serde_duration")]
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_batch_size: 32,
            max_batch_wait: Duration::from_millis(2),
            queue_depth: 256,
            requests_per_second: 50.0,
            burst: 100,
            max_request_bytes: 64 << 10,
            max_answer_bytes: 16 << 20,
            weights_chunk_bytes: 1 << 20,
            max_connections: 256,
            max_connections_per_ip: 16,
            max_concurrent_streams: 64,
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            hotkey: KeySource::File(KeyFile {
                file: "miner-hotkey.json".into(),
                password_file: None,
            }),
            coldkey: KeySource::File(KeyFile {
                file: "coldkey.json".into(),
                password_file: None,
            }),
            chain: ChainBackend::default(),
            netuid: NetUid(1),
            listen: DEFAULT_LISTEN,
            external_ip: None,
            checkpoint: "models/checkpoints/best.mpk".into(),
            device: Device::Cpu,
            tls: None,
            hotkey_certificate: false,
            limits: Limits::default(),
            metrics_addr: None,
            seed: None,
            data_uri: None,
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML is invalid (syntax, unknown field, bad value).
    #[error("invalid miner configuration")]
    Toml(#[source] toml::de::Error),
    /// A limit that must be positive is zero (or not a positive finite number).
    #[error("`limits.{field}` must be positive")]
    NotPositive {
        /// The field.
        field: &'static str,
    },
    /// The weights chunk does not fit the limits.
    #[error(
        "`limits.weights_chunk_bytes` = {chunk} must be at most {MAX_WEIGHTS_CHUNK_BYTES} and \
         fit in `limits.max_answer_bytes`"
    )]
    WeightsChunk {
        /// The chunk size configured.
        chunk: u32,
    },
    /// Batches would wait longer than requests may take.
    #[error(
        "`limits.max_batch_wait` ({wait:?}) is longer than `limits.request_timeout` ({timeout:?})"
    )]
    BatchWait {
        /// The batch wait.
        wait: Duration,
        /// The request timeout.
        timeout: Duration,
    },
    /// The transport limits are invalid.
    #[error(transparent)]
    Net(#[from] subnet_protocol::net::ConfigError),
    /// The listen address is unspecified and no `external_ip` says what to publish.
    #[error("listen address {listen} is unspecified: set `external_ip`")]
    NoExternalIp {
        /// The listen address.
        listen: SocketAddr,
    },
    /// `device = "cuda"` in a build without the `cuda` feature.
    #[error("device {device} needs the `cuda` feature")]
    CudaDisabled {
        /// The device asked for.
        device: Device,
    },
}

impl Config {
    /// Parses a TOML configuration file's text (fields left out take their defaults).
    ///
    /// # Errors
    /// [`ConfigError::Toml`] for syntax errors, unknown fields and bad values.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(ConfigError::Toml)
    }

    /// This configuration as TOML (what `--dump-config` prints); [`Config::from_toml`] reads
    /// it back to the same value.
    pub fn to_toml(&self) -> String {
        // Plain data that TOML represents; an error here would be a bug.
        toml::to_string(self).unwrap_or_default()
    }

    /// The IP published in the axon: `external_ip`, else the listen IP.
    ///
    /// # Errors
    /// [`ConfigError::NoExternalIp`] when neither is a specific address.
    pub fn axon_ip(&self) -> Result<IpAddr, ConfigError> {
        match self.external_ip {
            Some(ip) => Ok(ip),
            None if self.listen.ip().is_unspecified() => Err(ConfigError::NoExternalIp {
                listen: self.listen,
            }),
            None => Ok(self.listen.ip()),
        }
    }

    /// The QUIC limits these settings give.
    ///
    /// # Errors
    /// [`ConfigError::Net`] if they are invalid.
    pub fn net_config(&self) -> Result<NetConfig, ConfigError> {
        let l = &self.limits;
        let mut net = NetConfig::default();
        net.max_request_bytes(l.max_request_bytes)
            .max_answer_bytes(l.max_answer_bytes)
            .max_connections(l.max_connections)
            .max_connections_per_ip(l.max_connections_per_ip)
            .max_concurrent_streams(l.max_concurrent_streams)
            .request_timeout(l.request_timeout);
        net.validate()?;
        Ok(net)
    }

    /// Checks everything that can be checked without I/O.
    ///
    /// # Errors
    /// The first [`ConfigError`] found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let l = &self.limits;
        let positive = |field, ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::NotPositive { field })
            }
        };
        positive("max_batch_size", l.max_batch_size > 0)?;
        positive("queue_depth", l.queue_depth > 0)?;
        positive("burst", l.burst > 0)?;
        positive(
            "requests_per_second",
            l.requests_per_second.is_finite() && l.requests_per_second > 0.0,
        )?;
        if l.max_batch_wait > l.request_timeout {
            return Err(ConfigError::BatchWait {
                wait: l.max_batch_wait,
                timeout: l.request_timeout,
            });
        }
        let chunk = l.weights_chunk_bytes as usize;
        if chunk == 0
            || l.weights_chunk_bytes > MAX_WEIGHTS_CHUNK_BYTES
            || chunk.saturating_add(CHUNK_OVERHEAD_BYTES) > l.max_answer_bytes
        {
            return Err(ConfigError::WeightsChunk {
                chunk: l.weights_chunk_bytes,
            });
        }
        self.net_config()?;
        self.axon_ip()?;
        if matches!(self.device, Device::Cuda { .. }) && !cfg!(feature = "cuda") {
            return Err(ConfigError::CudaDisabled {
                device: self.device,
            });
        }
        Ok(())
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda { index: 0 } => f.write_str("cuda"),
            Self::Cuda { index } => write!(f, "cuda:{index}"),
        }
    }
}

/// A device name other than `cpu`, `cuda` or `cuda:N`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown device `{0}`: expected cpu, cuda or cuda:N")]
pub struct DeviceParseError(pub String);

impl FromStr for Device {
    type Err = DeviceParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda { index: 0 }),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(|index| Self::Cuda { index })
                .ok_or_else(|| DeviceParseError(s.to_owned())),
        }
    }
}

impl Serialize for Device {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Device {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let config = Config::default();
        config.validate().unwrap();
        assert_eq!(Config::from_toml(&config.to_toml()).unwrap(), config);
        assert_eq!(Config::from_toml("").unwrap(), config);
    }

    #[test]
    fn full_file_round_trips() {
        let text = r#"
            netuid = 3
            listen = "127.0.0.1:0"
            checkpoint = "ckpt/tiny.mpk"
            device = "cuda:1"
            metrics_addr = "127.0.0.1:9616"
            seed = 7
            hotkey = { dev = "m1" }
            coldkey = { file = "cold.json", password_file = "cold.pass" }
            tls = { cert = "c.pem", key = "k.pem" }

            [chain]
            backend = "local"
            url = "http://127.0.0.1:9955"

            [limits]
            max_batch_size = 8
            max_batch_wait = "5ms"
            requests_per_second = 2.5
        "#;
        let config = Config::from_toml(text).unwrap();
        assert_eq!(config.netuid, NetUid(3));
        assert_eq!(config.device, Device::Cuda { index: 1 });
        assert_eq!(config.hotkey, KeySource::Dev(DevKey { dev: "m1".into() }));
        assert_eq!(
            config.coldkey,
            KeySource::File(KeyFile {
                file: "cold.json".into(),
                password_file: Some("cold.pass".into())
            })
        );
        assert_eq!(config.limits.max_batch_wait, Duration::from_millis(5));
        assert_eq!(config.limits.queue_depth, Limits::default().queue_depth);
        assert_eq!(Config::from_toml(&config.to_toml()).unwrap(), config);
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        for bad in [
            "netuidd = 1",
            "device = \"tpu\"",
            "hotkey = { dev = \"a\", file = \"b\" }",
            "hotkey = { fil = \"b\" }",
            "[limits]\nmax_batch_wait = \"5\"",
            "[limits]\nmax_batch_siz = 1",
            "[chain]\nbackend = \"remote\"",
        ] {
            assert!(Config::from_toml(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validation_names_the_problem() {
        let mut config = Config::default();
        config.limits.max_batch_size = 0;
        assert!(matches!(
            config.validate(),
            Err(ConfigError::NotPositive {
                field: "max_batch_size"
            })
        ));
        let mut config = Config::default();
        config.limits.requests_per_second = f64::NAN;
        assert!(config.validate().is_err());
        let mut config = Config::default();
        config.limits.max_batch_wait = Duration::from_secs(11);
        assert!(matches!(
            config.validate(),
            Err(ConfigError::BatchWait { .. })
        ));
        let mut config = Config::default();
        config.limits.weights_chunk_bytes = MAX_WEIGHTS_CHUNK_BYTES + 1;
        assert!(matches!(
            config.validate(),
            Err(ConfigError::WeightsChunk { .. })
        ));
        let mut config = Config {
            listen: "0.0.0.0:8091".parse().unwrap(),
            ..Config::default()
        };
        assert!(matches!(
            config.validate(),
            Err(ConfigError::NoExternalIp { .. })
        ));
        config.external_ip = Some("10.0.0.1".parse().unwrap());
        assert_eq!(
            config.axon_ip().unwrap(),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
        let config = Config {
            device: Device::Cuda { index: 0 },
            ..Config::default()
        };
        assert_eq!(config.validate().is_ok(), cfg!(feature = "cuda"));
    }

    #[test]
    fn devices_parse() {
        assert_eq!("cpu".parse::<Device>().unwrap(), Device::Cpu);
        assert_eq!("cuda".parse::<Device>().unwrap(), Device::Cuda { index: 0 });
        assert_eq!(Device::Cuda { index: 2 }.to_string(), "cuda:2");
        assert!("cuda:x".parse::<Device>().is_err());
    }
}
