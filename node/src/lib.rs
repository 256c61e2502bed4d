//! The local chain's node: the `subnet-node` binary's library. It wraps the deterministic
//! [`subnet_chain::Ledger`] with what a running chain needs:
//!
//! - block production every block time from a bounded transaction pool (arrival order,
//!   per-signer nonce order), on a blocking thread so epochs never stall the servers;
//! - a JSON-RPC 2.0 server over HTTP on loopback (the methods of
//!   [`subnet_protocol::chain::rpc`]), with body size limits, read timeouts and bounded
//!   connections; `tx_submit` answers once the transaction's block is committed and flushed.
//!   A `tx_submit` *notification* (no `id`) returns HTTP 204 at admission instead, so one
//!   connection can stream a signer's consecutive nonces;
//! - Prometheus metrics (`GET /metrics`) when configured: `subnet_node_block_height`,
//!   `subnet_node_pool_pending`, `subnet_node_txs_applied_total`,
//!   `subnet_node_txs_rejected_total{stage,reason}`, `subnet_node_block_production_seconds`,
//!   `subnet_node_epoch_duration_seconds` (production time of blocks that ran an epoch) and
//!   `subnet_node_rpc_requests_total{method,result}`.
//!
//! `subnet-node` prints one line on stdout once serving:
//! `subnet-node ready rpc=ADDR genesis=HEX height=N [metrics=ADDR]`.
//!
//! Entry points: [`NodeConfig`] (TOML and flags), [`Node::start`] (bind, then serve in the
//! background) and [`run`] (start and run until a shutdown future completes).
//!
//! ```no_run
//! # async fn demo() -> Result<(), subnet_node::NodeError> {
//! use subnet_node::{Node, NodeConfig};
//!
//! let config = NodeConfig { rpc_addr: "127.0.0.1:0".parse().unwrap(), ..NodeConfig::default() };
//! let node = Node::start(config).await?;
//! println!("{}", node.ready_line());
//! node.shutdown().await?;
//! # Ok(()) }
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod config;
mod http;
mod metrics;
mod node;
mod pool;
mod rpc;

pub use config::{
    ConfigError, DEFAULT_MAX_BODY_BYTES, DEFAULT_RPC_ADDR, DurationParseError, GenesisSource,
    NodeConfig, PoolConfig, RpcConfig, format_duration, parse_duration,
};
pub use node::{Node, NodeError, run};

/// Parses one JSON-RPC request body exactly as the RPC server does, without running it (for
/// fuzzing and tools): the method name, or the JSON error response body the server would send.
///
/// # Errors
/// The error response body (`PARSE_ERROR`, `INVALID_REQUEST` or `INVALID_PARAMS`).
pub fn parse_rpc_request(body: &[u8]) -> Result<String, Vec<u8>> {
    match rpc::jsonrpc::parse_request(body) {
        Ok(request) => Ok(request.method),
        Err(malformed) => Err(rpc::jsonrpc::failure(malformed.id, &malformed.error)),
    }
}
