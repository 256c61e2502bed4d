//! The subnet validator: measures how good miners' answers are and says so with weights.
//!
//! - [`Validator`]: [`Validator::start`] loads the hotkey, finds its UID, opens its database
//!   and binds its QUIC client; [`Validator::run`] then steps every `step_interval` and sets
//!   weights every tempo until shutdown. [`run`] does both from a [`Config`].
//! - [`Evaluator`]: the validator's side of a [`Task`](subnet_protocol::task::Task): what to
//!   ask (requests and their withheld truth), how to score answers (a loss), and how to re-run
//!   a miner's registered model. [`LmEvaluator`] evaluates the default task, next-byte
//!   prediction, by cross-entropy in bits per byte. The loop is generic over it: a new task
//!   plugs in with [`Validator::start_with`] (see `examples/regression/`).
//!
//! Layout: `query` (the network: task requests to many miners with bounded concurrency,
//! model info and weights downloads), [`score`] (losses to rewards, moving averages and
//! weights through `subnet_scoring`), `verify` (identity checks: registered AINFT, weights
//! digest, spot checks), `commit` (weights on chain: set, or commit then reveal), `store`
//! (sled), `metrics` (Prometheus).
//!
//! Every step sends the same fresh requests to each sampled, verified miner; a miner that
//! times out, resets the stream, sends garbage or a bad signature scores 0 for that request.
//! A miner whose model info, weights or spot-checked answers do not match the AINFT
//! registered at its UID is rejected: reward 0 until its hotkey or AINFT changes. Scores,
//! identities, the last weights and pending commitments live in sled, so a restart continues.
//!
//! # Example
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use subnet_validator::{Config, run};
//!
//! let config = Config::from_toml(&std::fs::read_to_string("validator.toml")?)?;
//! run(config, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod backoff;
mod commit;
mod config;
mod evaluator;
mod lm;
mod metrics;
mod query;
mod sampling;
pub mod score;
mod store;
mod validator;
mod verify;

pub use backoff::{CHAIN_ATTEMPTS, CHAIN_RETRY_INITIAL, CHAIN_RETRY_MAX};
pub use commit::{CommitError, SALT_BYTES, SkipReason, WeightsEvent, reveal_window};
pub use config::{
    Config, ConfigError, DevKey, DurationParseError, EvalCorpus, KeyFile, KeySource,
    format_duration, parse_duration,
};
pub use evaluator::{AnswerOf, Evaluator, Probe, ProbeOf, RequestOf};
pub use lm::{LmError, LmEvaluator, LmReference, NextBytes, cross_entropy_bits};
pub use metrics::ValidatorMetrics;
pub use query::{FetchError, QueryResult, Target};
pub use store::{LastWeights, PendingCommit, StoreError, UidRecord};
pub use validator::{StepReport, Validator, ValidatorError, run};
pub use verify::{Failure, MAX_VERIFY_BACKOFF_STEPS, Standing};
