//! The chain-client test suite: the same checks against the embedded backend and against a
//! node started in-process on 127.0.0.1:0, plus backend-specific behaviour.

mod embedded;
mod harness;
mod rpc;
#[cfg(feature = "subtensor")]
mod subtensor;
mod suite;
