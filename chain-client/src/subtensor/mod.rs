//! Bittensor's chain, subtensor, behind the [`crate::Chain`] trait (cargo feature `subtensor`).
//!
//! `SubtensorChain` speaks subtensor's WebSocket JSON-RPC through subxt's dynamic API: every
//! call and storage entry is looked up by name in the metadata of the block it runs at, so the
//! backend follows runtime upgrades, and what a runtime lacks is
//! [`crate::ChainError::Unsupported`]. `Ed25519Signer` lets the engine's own ed25519 keys sign
//! extrinsics. `SUBTENSOR.md` (next to this crate's manifest) maps each trait method to its
//! calls and storage, and says what per-AINFT emissions mean on Bittensor.

mod url;

pub use url::SubtensorUrl;

#[cfg(feature = "subtensor")]
mod axon;
#[cfg(feature = "subtensor")]
mod chain;
#[cfg(feature = "subtensor")]
mod client;
#[cfg(feature = "subtensor")]
mod dev;
#[cfg(feature = "subtensor")]
mod emissions;
#[cfg(feature = "subtensor")]
mod runtime;
#[cfg(feature = "subtensor")]
mod signer;
#[cfg(feature = "subtensor")]
mod snapshot;
#[cfg(feature = "subtensor")]
mod state;

#[cfg(feature = "subtensor")]
pub use axon::{AXON_PROTOCOL_QUIC, Publication, StoredAxon, decode_ip, encode_ip};
#[cfg(feature = "subtensor")]
pub use chain::subtensor_commit_hash;
#[cfg(feature = "subtensor")]
pub use client::{SubtensorChain, SubtensorConfig};
#[cfg(feature = "subtensor")]
pub use dev::{Chopsticks, ChopsticksError, DevNeuron};
#[cfg(feature = "subtensor")]
pub use emissions::{AinftEmission, AinftEmissions, join as join_ainft_emissions};
#[cfg(feature = "subtensor")]
pub use runtime::{Runtime, StakeStorage, check_call, has_call};
#[cfg(feature = "subtensor")]
pub use signer::{Ed25519Signer, account_id, public_key};
