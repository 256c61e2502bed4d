//! What the engine's long-running binaries (`subnet-node`, `miner`, `validator`) share, so that
//! each binary is argument parsing and wiring only:
//!
//! - [`duration`]: durations in config files and flags (`250ms`, `12s`, `1.5m`, `1h`);
//! - [`keys`]: where a hotkey or coldkey comes from (a keyfile or a named development key);
//! - [`http`]: a bounded HTTP/1.1 server loop with graceful shutdown;
//! - [`metrics`]: the Prometheus `GET /metrics` endpoint on top of it;
//! - [`process`]: logging setup and the SIGINT/SIGTERM shutdown signal.

pub mod duration;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod process;

pub use duration::{DurationParseError, format_duration, parse_duration};
pub use keys::{DevKey, KeyFile, KeyLoadError, KeySource};
