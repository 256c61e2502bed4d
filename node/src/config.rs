//! [`NodeConfig`]: everything `subnet-node` needs, from TOML and command-line flags.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use subnet_chain::Genesis;
pub use subnet_service::{DurationParseError, format_duration, parse_duration};

/// Default request body limit: the largest transaction in hex plus room for the envelope.
pub const DEFAULT_MAX_BODY_BYTES: usize = 2 * subnet_protocol::chain::MAX_TX_BYTES + 8 * 1024;

/// Default JSON-RPC address: loopback, port 9944 (Substrate's).
pub const DEFAULT_RPC_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9944);

/// The resolved configuration of a node.
///
/// Precedence is defaults < file (`--config`) < flags. `--dump-config` prints this in TOML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// Where the chain starts. Default [`GenesisSource::Dev`].
    pub genesis: GenesisSource,
    /// Directory of the sled database, created if missing. Default none: a temporary database
    /// deleted when the node stops.
    pub data_dir: Option<PathBuf>,
    /// JSON-RPC listen address. Default `127.0.0.1:9944`; port 0 picks a free port.
    pub rpc_addr: SocketAddr,
    /// Prometheus metrics listen address (`GET /metrics`). Default none (not served).
    pub metrics_addr: Option<SocketAddr>,
    /// Time between blocks. Default none: the genesis' `block_time_ms` (1 s for `--dev`). For
    /// the dev genesis a value here is written into the genesis (and so changes its hash); a
    /// genesis file fixes the block time and must agree.
    #[serde(with = "subnet_service::duration::serde_opt_duration")]
    pub block_time: Option<Duration>,
    /// Transaction pool limits.
    pub pool: PoolConfig,
    /// JSON-RPC server limits.
    pub rpc: RpcConfig,
}

/// Where the genesis comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum GenesisSource {
    /// [`Genesis::dev`]: funded development accounts, no subnets.
    #[default]
    Dev,
    /// A genesis TOML file (see [`subnet_chain::Genesis::from_toml`]).
    File {
        /// Its path.
        path: PathBuf,
    },
}

/// Bounds of the transaction pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolConfig {
    /// Most transactions waiting for a block. Default 16384; beyond it `tx_submit` answers
    /// `UNAVAILABLE`.
    pub max_pending: usize,
    /// Most transactions waiting from one signer. Default 256.
    pub max_per_signer: usize,
    /// Most transactions put into one block; the rest wait for the next. Default 16384.
    pub max_block_txs: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_pending: 16_384,
            max_per_signer: 256,
            max_block_txs: 16_384,
        }
    }
}

/// Limits of the JSON-RPC server: everything a client can make the node hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RpcConfig {
    /// Largest request body, in bytes. Default [`DEFAULT_MAX_BODY_BYTES`] (520 KiB: the largest
    /// transaction in hex and its envelope).
    /// Larger bodies get HTTP 413 with a JSON-RPC `INVALID_REQUEST` error.
    pub max_body_bytes: usize,
    /// Most open connections; further clients wait in the listen backlog. Default 256.
    pub max_connections: usize,
    /// Time allowed to receive a request's headers and body. Default 10 s.
    #[serde(with = "subnet_service::duration::serde_duration")]
    pub read_timeout: Duration,
    /// Longest a `chain_waitBlock` may wait, whatever the client asks. Default 30 s.
    #[serde(with = "subnet_service::duration::serde_duration")]
    pub max_wait_block: Duration,
    /// Longest `tx_submit` waits for its transaction's block before answering `UNAVAILABLE`.
    /// Default 60 s.
    #[serde(with = "subnet_service::duration::serde_duration")]
    pub max_wait_inclusion: Duration,
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_connections: 256,
            read_timeout: Duration::from_secs(10),
            max_wait_block: Duration::from_secs(30),
            max_wait_inclusion: Duration::from_secs(60),
        }
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            genesis: GenesisSource::Dev,
            data_dir: None,
            rpc_addr: DEFAULT_RPC_ADDR,
            metrics_addr: None,
            block_time: None,
            pool: PoolConfig::default(),
            rpc: RpcConfig::default(),
        }
    }
}

/// A configuration or genesis that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration TOML is invalid.
    #[error("invalid node configuration")]
    Toml(#[source] toml::de::Error),
    /// The genesis file is invalid.
    #[error("invalid genesis {path}")]
    Genesis {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: subnet_chain::GenesisError,
    },
    /// A block time of zero, or one the genesis file contradicts.
    #[error("block time {given:?} conflicts with the genesis ({genesis_ms} ms)")]
    BlockTime {
        /// The block time configured.
        given: Duration,
        /// `block_time_ms` of the genesis.
        genesis_ms: u64,
    },
    /// A limit of zero.
    #[error("`{name}` must be at least 1")]
    ZeroLimit {
        /// The field.
        name: &'static str,
    },
}

impl NodeConfig {
    /// Parses a TOML configuration file's text.
    ///
    /// # Errors
    /// [`ConfigError::Toml`] for syntax errors, unknown fields and bad values.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(ConfigError::Toml)
    }

    /// This configuration as TOML (what `--dump-config` prints).
    pub fn to_toml(&self) -> String {
        // Every field is plain data that TOML can represent; an error would be a bug here.
        toml::to_string(self).unwrap_or_default()
    }

    /// Loads the genesis and settles the block time: the dev genesis takes
    /// [`Self::block_time`]; a file's must agree with it.
    ///
    /// # Errors
    /// An unreadable or invalid genesis, a zero limit, or a conflicting block time.
    pub fn resolve_genesis(&self) -> Result<Genesis, ConfigError> {
        for (name, value) in [
            ("pool.max_pending", self.pool.max_pending),
            ("pool.max_per_signer", self.pool.max_per_signer),
            ("pool.max_block_txs", self.pool.max_block_txs),
            ("rpc.max_body_bytes", self.rpc.max_body_bytes),
            ("rpc.max_connections", self.rpc.max_connections),
        ] {
            if value == 0 {
                return Err(ConfigError::ZeroLimit { name });
            }
        }
        let mut genesis = match &self.genesis {
            GenesisSource::Dev => Genesis::dev(),
            GenesisSource::File { path } => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                Genesis::from_toml(&text).map_err(|source| ConfigError::Genesis {
                    path: path.clone(),
                    source,
                })?
            }
        };
        if let Some(given) = self.block_time {
            let ms = u64::try_from(given.as_millis()).unwrap_or(u64::MAX);
            let conflict = ConfigError::BlockTime {
                given,
                genesis_ms: genesis.block_time_ms,
            };
            if ms == 0 || Duration::from_millis(ms) != given {
                return Err(conflict);
            }
            match self.genesis {
                GenesisSource::Dev => genesis.block_time_ms = ms,
                GenesisSource::File { .. } if ms != genesis.block_time_ms => return Err(conflict),
                GenesisSource::File { .. } => {}
            }
        }
        Ok(genesis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_round_trip_and_unknown_fields() {
        let config = NodeConfig {
            block_time: Some(Duration::from_millis(100)),
            metrics_addr: Some("127.0.0.1:9615".parse().unwrap()),
            genesis: GenesisSource::File {
                path: "g.toml".into(),
            },
            ..NodeConfig::default()
        };
        let text = config.to_toml();
        assert_eq!(NodeConfig::from_toml(&text).unwrap(), config);
        assert!(NodeConfig::from_toml("rpc_adr = \"127.0.0.1:1\"").is_err());
        assert_eq!(NodeConfig::from_toml("").unwrap(), NodeConfig::default());
    }

    #[test]
    fn block_time_goes_into_the_dev_genesis() {
        let config = NodeConfig {
            block_time: Some(Duration::from_millis(50)),
            ..NodeConfig::default()
        };
        let genesis = config.resolve_genesis().unwrap();
        assert_eq!(genesis.block_time_ms, 50);
        assert_ne!(genesis.hash(), Genesis::dev().hash());
        let zero = NodeConfig {
            block_time: Some(Duration::ZERO),
            ..NodeConfig::default()
        };
        assert!(matches!(
            zero.resolve_genesis(),
            Err(ConfigError::BlockTime { .. })
        ));
    }
}
