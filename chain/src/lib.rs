//! The local chain's state machine: accounts and balances, subnets and their hyperparameters,
//! neurons, stake, weights and commit-reveal, Yuma Consensus epochs, the AINFT registry and the
//! emission ledger, stored in sled one atomic batch per block.
//!
//! - [`Genesis`]: initial balances and subnets and the chain-wide rules, from TOML;
//!   [`Genesis::dev`] is the documented development chain.
//! - [`Ledger`]: the state and its database. [`Ledger::produce_block`] applies signed
//!   transactions ([`subnet_protocol::chain::Call`]), runs the epochs due and commits;
//!   queries return the views of [`subnet_protocol::chain`].
//! - [`epoch`]: how the pool is paid out every `tempo` blocks; [`state`]: the state root.
//!
//! Deterministic: no clock, no randomness, no floating point in consensus; the same blocks give
//! the same state root on every machine. No async: the node binary wraps this library.
//!
//! ```
//! use subnet_chain::{Genesis, Ledger};
//!
//! let mut ledger = Ledger::open_temporary(&Genesis::dev())?;
//! let outcome = ledger.produce_block(Vec::new(), 1_700_000_000_000)?;
//! assert_eq!(outcome.block.header.number.get(), 1);
//! assert_eq!(ledger.info().height.get(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod apply;
pub mod epoch;
mod error;
mod genesis;
mod ledger;
pub mod rules;
pub mod state;
mod store;

pub use apply::Created;
pub use epoch::{EpochPlan, MAX_EPOCH_HISTORY};
pub use error::{OpenError, StorageError};
pub use genesis::{DEV_ACCOUNTS, DEV_BALANCE, GENESIS_TAG, Genesis, GenesisError, GenesisSubnet};
pub use ledger::{
    BlockOutcome, EXTRINSICS_TAG, HEADER_TAG, Ledger, RejectedTx, Supply, VerifiedTransaction,
    extrinsics_root, header_hash,
};

/// Most unrevealed, unexpired weight commits one hotkey may hold on one subnet.
pub const MAX_PENDING_COMMITS: usize = apply::MAX_PENDING_COMMITS;
