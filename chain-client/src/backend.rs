//! [`ChainBackend`] (which chain, from configuration) and [`AnyChain`] (the backend chosen at
//! run time, behind the same [`Chain`] trait).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use subnet_protocol::ainft::AinftId;
use subnet_protocol::chain::rpc::TxReceipt;
use subnet_protocol::chain::{
    AccountInfo, AinftRecord, Block, Call, ChainInfo, EmissionReport, Metagraph, SignedTransaction,
    SubnetInfo,
};
use subnet_protocol::ids::{BlockNumber, NetUid, Rao};
use subnet_protocol::keys::{Keypair, PublicKey};

use crate::chain::{Chain, SparseRows};
#[cfg(feature = "embedded")]
use crate::embedded::{EmbeddedChain, EmbeddedConfig, Genesis};
use crate::error::{ChainError, ConfigError};
use crate::rpc::{NodeUrl, RpcChain};
#[cfg(feature = "subtensor")]
use crate::subtensor::SubtensorChain;
use crate::subtensor::SubtensorUrl;

/// Which chain a binary talks to, as its configuration file says:
///
/// ```toml
/// [chain]
/// backend = "local"                  # the node over JSON-RPC (default)
/// url = "http://127.0.0.1:9944"
/// ```
///
/// or `backend = "embedded"` (with an optional `genesis = "genesis.toml"`) for an in-process
/// chain that produces a block per write (tests and demos; nothing else can reach it), or
/// `backend = "subtensor"` with `url = "ws://127.0.0.1:9944"` for Bittensor's chain (cargo
/// feature `subtensor`; without it, building the chain fails with a "rebuild with" error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "backend", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChainBackend {
    /// The local node (`subnet-node`) over JSON-RPC.
    Local {
        /// Its JSON-RPC URL. Default `http://127.0.0.1:9944`.
        #[serde(default)]
        url: NodeUrl,
    },
    /// An in-process ledger in a temporary database, one block per write (cargo feature
    /// `embedded`).
    Embedded {
        /// Genesis TOML file. Default: the dev genesis.
        #[serde(default)]
        genesis: Option<PathBuf>,
    },
    /// A subtensor node (Bittensor) over WebSocket JSON-RPC (cargo feature `subtensor`).
    Subtensor {
        /// Its `ws://` or `wss://` URL. Default `ws://127.0.0.1:9944`.
        #[serde(default)]
        url: SubtensorUrl,
    },
}

impl ChainBackend {
    /// The backend a URL names: `ws://` or `wss://` is a subtensor node, anything else the
    /// engine's own node (`http://`, or a bare `host:port`).
    ///
    /// # Errors
    /// [`ConfigError`] for a URL neither parser accepts.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        if url.starts_with("ws://") || url.starts_with("wss://") {
            return Ok(Self::Subtensor { url: url.parse()? });
        }
        Ok(Self::Local { url: url.parse()? })
    }
}

impl std::str::FromStr for ChainBackend {
    type Err = ConfigError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        Self::from_url(url)
    }
}

impl Default for ChainBackend {
    fn default() -> Self {
        Self::Local {
            url: NodeUrl::default(),
        }
    }
}

/// A chain whose backend was chosen at run time. Delegates every [`Chain`] method.
#[derive(Debug, Clone)]
pub enum AnyChain {
    /// The local node over JSON-RPC.
    Rpc(RpcChain),
    /// The ledger in-process.
    #[cfg(feature = "embedded")]
    Embedded(EmbeddedChain),
    /// A subtensor node.
    #[cfg(feature = "subtensor")]
    Subtensor(SubtensorChain),
}

impl AnyChain {
    /// Builds the backend `backend` names. The RPC client connects lazily (on its first call);
    /// calls must run inside a tokio runtime.
    ///
    /// # Errors
    /// [`ChainError::Config`] for an unreadable genesis or a backend compiled out;
    /// [`ChainError::Unavailable`] if the embedded ledger cannot be created.
    pub fn from_backend(backend: &ChainBackend) -> Result<Self, ChainError> {
        match backend {
            ChainBackend::Local { url } => Ok(Self::Rpc(RpcChain::new(url.clone()))),
            #[cfg(feature = "embedded")]
            ChainBackend::Embedded { genesis } => {
                let genesis = match genesis {
                    None => Genesis::dev(),
                    Some(path) => {
                        let fail = |reason: String| ConfigError::Genesis {
                            path: path.clone(),
                            reason,
                        };
                        let text =
                            std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
                        Genesis::from_toml(&text).map_err(|e| fail(e.to_string()))?
                    }
                };
                let config = EmbeddedConfig {
                    auto_advance: true,
                    ..EmbeddedConfig::default()
                };
                Ok(Self::Embedded(EmbeddedChain::with_config(
                    &genesis, config,
                )?))
            }
            #[cfg(not(feature = "embedded"))]
            ChainBackend::Embedded { .. } => Err(ConfigError::BackendDisabled {
                backend: "embedded",
                feature: "embedded",
            }
            .into()),
            #[cfg(feature = "subtensor")]
            ChainBackend::Subtensor { url } => {
                Ok(Self::Subtensor(SubtensorChain::new(url.clone())))
            }
            #[cfg(not(feature = "subtensor"))]
            ChainBackend::Subtensor { .. } => Err(ConfigError::BackendDisabled {
                backend: "subtensor",
                feature: "subtensor",
            }
            .into()),
        }
    }
}

impl From<RpcChain> for AnyChain {
    fn from(c: RpcChain) -> Self {
        Self::Rpc(c)
    }
}

#[cfg(feature = "embedded")]
impl From<EmbeddedChain> for AnyChain {
    fn from(c: EmbeddedChain) -> Self {
        Self::Embedded(c)
    }
}

#[cfg(feature = "subtensor")]
impl From<SubtensorChain> for AnyChain {
    fn from(c: SubtensorChain) -> Self {
        Self::Subtensor(c)
    }
}

/// Calls the same method on whichever backend `$self` holds.
macro_rules! delegate {
    ($self:ident, $c:ident => $call:expr) => {
        match $self {
            AnyChain::Rpc($c) => $call.await,
            #[cfg(feature = "embedded")]
            AnyChain::Embedded($c) => $call.await,
            #[cfg(feature = "subtensor")]
            AnyChain::Subtensor($c) => $call.await,
        }
    };
}

impl Chain for AnyChain {
    async fn info(&self) -> Result<ChainInfo, ChainError> {
        delegate!(self, c => c.info())
    }

    async fn block(&self, number: BlockNumber) -> Result<Option<Block>, ChainError> {
        delegate!(self, c => c.block(number))
    }

    async fn wait_for_block(
        &self,
        after: BlockNumber,
        timeout: Duration,
    ) -> Result<BlockNumber, ChainError> {
        delegate!(self, c => c.wait_for_block(after, timeout))
    }

    async fn account(&self, account: &PublicKey) -> Result<AccountInfo, ChainError> {
        delegate!(self, c => c.account(account))
    }

    async fn stake_of(&self, coldkey: &PublicKey, hotkey: &PublicKey) -> Result<Rao, ChainError> {
        delegate!(self, c => c.stake_of(coldkey, hotkey))
    }

    async fn subnets(&self) -> Result<Vec<SubnetInfo>, ChainError> {
        delegate!(self, c => c.subnets())
    }

    async fn subnet(&self, netuid: NetUid) -> Result<SubnetInfo, ChainError> {
        delegate!(self, c => c.subnet(netuid))
    }

    async fn metagraph(&self, netuid: NetUid) -> Result<Metagraph, ChainError> {
        delegate!(self, c => c.metagraph(netuid))
    }

    async fn weights(&self, netuid: NetUid) -> Result<SparseRows, ChainError> {
        delegate!(self, c => c.weights(netuid))
    }

    async fn bonds(&self, netuid: NetUid) -> Result<SparseRows, ChainError> {
        delegate!(self, c => c.bonds(netuid))
    }

    async fn ainft(&self, id: &AinftId) -> Result<Option<AinftRecord>, ChainError> {
        delegate!(self, c => c.ainft(id))
    }

    async fn emissions(&self) -> Result<EmissionReport, ChainError> {
        delegate!(self, c => c.emissions())
    }

    async fn submit_signed(&self, tx: SignedTransaction) -> Result<TxReceipt, ChainError> {
        delegate!(self, c => c.submit_signed(tx))
    }

    async fn submit(&self, signer: &Keypair, call: Call) -> Result<TxReceipt, ChainError> {
        delegate!(self, c => c.submit(signer, call))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct File {
        chain: ChainBackend,
    }

    #[test]
    fn backend_from_toml() {
        let f: File =
            toml::from_str("[chain]\nbackend = \"local\"\nurl = \"http://127.0.0.1:1234\"\n")
                .unwrap();
        assert_eq!(
            f.chain,
            ChainBackend::Local {
                url: "http://127.0.0.1:1234".parse().unwrap()
            }
        );
        let f: File = toml::from_str("[chain]\nbackend = \"local\"\n").unwrap();
        assert_eq!(f.chain, ChainBackend::default());
        let f: File = toml::from_str("[chain]\nbackend = \"embedded\"\n").unwrap();
        assert_eq!(f.chain, ChainBackend::Embedded { genesis: None });
        assert!(toml::from_str::<File>("[chain]\nbackend = \"remote\"\n").is_err());
        assert!(
            toml::from_str::<File>("[chain]\nbackend = \"local\"\nurl = \"ftp://x:1\"\n").is_err()
        );
        assert!(toml::from_str::<File>("[chain]\nbackend = \"local\"\nurll = \"x\"\n").is_err());
    }

    #[test]
    fn a_url_names_its_backend() {
        assert_eq!(
            "ws://127.0.0.1:9944".parse::<ChainBackend>().unwrap(),
            ChainBackend::Subtensor {
                url: "ws://127.0.0.1:9944".parse().unwrap()
            }
        );
        assert!(matches!(
            ChainBackend::from_url("wss://entrypoint-finney.opentensor.ai:443"),
            Ok(ChainBackend::Subtensor { .. })
        ));
        assert_eq!(
            ChainBackend::from_url("http://127.0.0.1:9944").unwrap(),
            ChainBackend::Local {
                url: "http://127.0.0.1:9944".parse().unwrap()
            }
        );
        assert!(ChainBackend::from_url("ftp://x:1").is_err());
        assert!(ChainBackend::from_url("ws://").is_err());
    }

    #[test]
    fn subtensor_backend_from_toml() {
        let f: File =
            toml::from_str("chain = { backend = \"subtensor\", url = \"ws://127.0.0.1:9955\" }\n")
                .unwrap();
        assert_eq!(
            f.chain,
            ChainBackend::Subtensor {
                url: "ws://127.0.0.1:9955".parse().unwrap()
            }
        );
        let f: File = toml::from_str("[chain]\nbackend = \"subtensor\"\n").unwrap();
        assert_eq!(
            f.chain,
            ChainBackend::Subtensor {
                url: SubtensorUrl::default()
            }
        );
        assert!(
            toml::from_str::<File>("[chain]\nbackend = \"subtensor\"\nurl = \"http://x:1\"\n")
                .is_err()
        );
        let built = AnyChain::from_backend(&f.chain);
        #[cfg(feature = "subtensor")]
        assert!(matches!(built, Ok(AnyChain::Subtensor(_))));
        #[cfg(not(feature = "subtensor"))]
        {
            let err = built.unwrap_err().to_string();
            assert!(err.contains("--features subtensor"), "{err}");
        }
    }
}
