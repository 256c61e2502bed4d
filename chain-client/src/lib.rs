//! How miners, validators and the CLI reach the chain: one trait, [`Chain`], one error,
//! [`ChainError`], and its backends.
//!
//! - [`RpcChain`]: the local node (`subnet-node`) over JSON-RPC on HTTP. The default.
//! - [`EmbeddedChain`] (feature `embedded`, on by default): the chain library in-process with
//!   manual block advance, for tests and simulation.
//! - `SubtensorChain` (feature `subtensor`): Bittensor's chain, subtensor, over subxt's
//!   dynamic API (see `SUBTENSOR.md`).
//! - [`AnyChain`]: whichever [`ChainBackend`] the configuration names, behind the same trait.
//!
//! Helpers: [`MetagraphCache`] (refetch only when the chain moved), [`BlockWatcher`] (block by
//! block with long polls), [`ReceiptExt`] (the netuid, UID or AINFT id a write created).
//!
//! Views, calls and errors are those of [`subnet_protocol::chain`]; nothing is redefined here.
//!
//! ```
//! # #[cfg(feature = "embedded")]
//! # async fn demo() -> Result<(), subnet_chain_client::ChainError> {
//! use subnet_chain_client::{Chain, EmbeddedChain, EmbeddedConfig, Genesis};
//! use subnet_protocol::{Keypair, Rao};
//!
//! let config = EmbeddedConfig { auto_advance: true, ..EmbeddedConfig::default() };
//! let chain = EmbeddedChain::with_config(&Genesis::dev(), config)?;
//! let (alice, bob) = (Keypair::dev("alice"), Keypair::dev("bob"));
//! let receipt = chain.transfer(&alice, bob.public(), Rao(5)).await?;
//! assert_eq!(receipt.block.get(), 1);
//! # Ok(()) }
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod backend;
mod blocks;
mod chain;
#[cfg(feature = "embedded")]
mod embedded;
mod error;
mod metagraph;
mod receipt;
mod rpc;
mod subtensor;

pub use backend::{AnyChain, ChainBackend};
pub use blocks::{BLOCK_POLL, BlockWatcher};
pub use chain::{Chain, SparseRows};
#[cfg(feature = "embedded")]
pub use embedded::{EmbeddedChain, EmbeddedConfig, Genesis};
pub use error::{ChainError, ConfigError, Missing, TransportError, TransportKind};
pub use metagraph::MetagraphCache;
pub use receipt::ReceiptExt;
pub use rpc::{NodeUrl, RpcChain, RpcConfig};
pub use subtensor::SubtensorUrl;
#[cfg(feature = "subtensor")]
pub use subtensor::{
    AXON_PROTOCOL_QUIC, AinftEmission, AinftEmissions, Chopsticks, ChopsticksError, DevNeuron,
    Ed25519Signer, Publication, Runtime, StakeStorage, StoredAxon, SubtensorChain, SubtensorConfig,
    account_id, check_call, decode_ip, encode_ip, has_call, join_ainft_emissions, public_key,
    subtensor_commit_hash,
};
