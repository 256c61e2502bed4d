//! End-to-end tests: the real binaries (`subnet`, `subnet-node`, `miner`, `validator`) as
//! separate processes on 127.0.0.1, driven through `subnet localnet up|down`.
//!
//! They need the workspace's binaries built beside this test binary (`target/<profile>/`);
//! `cargo nextest run --workspace` builds them, `cargo build --bins` does too.

mod faults;
mod harness;
mod localnet;
