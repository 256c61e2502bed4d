//! The node's JSON-RPC 2.0 interface: method names, parameter shapes and error codes, shared by
//! the node and its clients so that neither spells them twice.
//!
//! Every method takes its parameters as a JSON object (named) and returns the view types of
//! [`super::info`]. Transactions are submitted as the hex of [`super::SignedTransaction::encode`].

use serde::{Deserialize, Serialize};

use super::tx::TxError;

/// `{}` → [`super::ChainInfo`].
pub const CHAIN_INFO: &str = "chain_info";
/// `{ "number": u64 }` → [`super::Block`] or null.
pub const CHAIN_BLOCK: &str = "chain_block";
/// `{ "after": u64, "timeout_ms": u64 }` → the height once it exceeds `after`, or the current
/// height when the timeout passes first (long poll, timeout capped by the node).
pub const CHAIN_WAIT_BLOCK: &str = "chain_waitBlock";
/// `{ "account": ss58 }` → [`super::AccountInfo`].
pub const ACCOUNT_INFO: &str = "account_info";
/// `{ "coldkey": ss58, "hotkey": ss58 }` → stake in rao (u64).
pub const STAKE_OF: &str = "stake_of";
/// `{}` → list of [`super::SubnetInfo`].
pub const SUBNET_LIST: &str = "subnet_list";
/// `{ "netuid": u16 }` → [`super::SubnetInfo`].
pub const SUBNET_INFO: &str = "subnet_info";
/// `{ "netuid": u16 }` → [`super::Metagraph`].
pub const SUBNET_METAGRAPH: &str = "subnet_metagraph";
/// `{ "netuid": u16 }` → stored weights, sparse rows `[[ [uid, u16] ] ]` by UID.
pub const SUBNET_WEIGHTS: &str = "subnet_weights";
/// `{ "netuid": u16 }` → stored bonds, sparse rows as for weights.
pub const SUBNET_BONDS: &str = "subnet_bonds";
/// `{ "id": "ainft1…" }` → [`super::AinftRecord`] or null.
pub const AINFT_GET: &str = "ainft_get";
/// `{}` → [`super::EmissionReport`].
pub const EMISSIONS: &str = "emissions";
/// `{ "tx": hex }` → [`TxReceipt`] once included, or a [`TX_REJECTED`] error whose `data` is
/// the [`TxError`].
pub const TX_SUBMIT: &str = "tx_submit";

/// JSON-RPC: invalid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC: not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC: no such method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// JSON-RPC: parameters missing or of the wrong type.
pub const INVALID_PARAMS: i64 = -32602;
/// JSON-RPC: the node failed internally.
pub const INTERNAL_ERROR: i64 = -32603;
/// The transaction was refused; `data` holds the [`TxError`].
pub const TX_REJECTED: i64 = 1000;
/// The thing asked for does not exist (subnet, block).
pub const NOT_FOUND: i64 = 1001;
/// The node is shutting down or overloaded.
pub const UNAVAILABLE: i64 = 1002;

/// Where an accepted transaction went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxReceipt {
    /// Its hash.
    pub hash: crate::ainft::Digest,
    /// Block that includes it.
    pub block: crate::ids::BlockNumber,
    /// What it created, if anything (a netuid, a UID, an AINFT id), as text.
    pub created: Option<String>,
}

/// A JSON-RPC error object's `data` for [`TX_REJECTED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxRejection {
    /// Stable label ([`TxError::as_label`]).
    pub label: String,
    /// The typed error.
    pub error: TxError,
}
