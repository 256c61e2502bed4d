//! The subnet miner: loads a model, registers it on chain under its AINFT, and serves its
//! task to validators over QUIC.
//!
//! - [`Miner`]: [`Miner::start`] loads the checkpoint, builds the AINFT manifest, registers
//!   whatever the chain lacks (AINFT, hotkey, axon) and binds the endpoint;
//!   [`Miner::serve`] answers until shutdown. [`run`] does both from a [`Config`].
//! - [`Solver`]: how a miner computes a [`Task`](subnet_protocol::task::Task)'s answers, a
//!   batch at a time; [`LmSolver`] answers the default task with a burn
//!   [`ByteLm`](subnet_models::ByteLm), on the CPU through its fused forward pass
//!   ([`FusedLm`](subnet_models::FusedLm)). The serving code is generic over the task: a new
//!   task needs a `Task` (in `subnet_protocol::task`) and a `Solver`, and
//!   [`Miner::start_with`].
//! - [`client`]: typed calls to a miner (task, model info, weights download, health).
//!
//! Serving: callers must be registered on the subnet with a validator permit (from a
//! metagraph refreshed as blocks arrive) and within their token-bucket rate; others are
//! refused before any work, with a typed reason and a metric. Task requests are batched
//! (`max_batch_size`, `max_batch_wait`) and run on a dedicated inference thread; when the queue
//! is full, callers with more stake displace those with less. Answers are signed by the
//! envelope layer. Prometheus metrics are listed on [`MinerMetrics`].
//!
//! # Features
//! - `cuda`: `device = "cuda"` runs inference on a GPU through burn-cuda.
//!
//! # Example
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use subnet_miner::{Config, run};
//!
//! let config = Config::from_toml(&std::fs::read_to_string("miner.toml")?)?;
//! run(config, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod admission;
mod batch;
pub mod client;
mod config;
mod identity;
mod manifest;
mod metrics;
mod miner;
mod registration;
mod service;
mod solver;

pub use config::{
    Config, ConfigError, DEFAULT_LISTEN, DevKey, Device, DeviceParseError, DurationParseError,
    KeyFile, KeySource, Limits, TlsFiles, format_duration, parse_duration,
};
pub use identity::{IdentityError, load_certificate, miner_certificate};
pub use manifest::{LOCAL_CHAIN, data_source, manifest, model_spec};
pub use metrics::MinerMetrics;
pub use miner::{Miner, MinerError, ServedModel, load_lm, run};
pub use registration::{ChainWrite, Registration, RegistrationError, ensure_registered};
pub use solver::{DEFAULT_MAX_SEQUENCES_PER_PASS, LmSolveError, LmSolver, Solver};
