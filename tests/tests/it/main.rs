//! End-to-end tests: the real binaries (`subnet`, `subnet-node`, `miner`, `validator`) as
//! separate processes on 127.0.0.1, driven through `subnet localnet up|down`.
//!
//! They need the workspace's binaries built beside this test binary (`target/<profile>/`);
//! `cargo nextest run --workspace` builds them, `cargo build --bins` does too. The Bittensor
//! test (feature `subtensor`, on under `--all-features`) also needs chopsticks (node and npm:
//! `chain-client/tests/install-chopsticks.sh`) and binaries built with `subtensor`.

#[cfg(feature = "subtensor")]
mod bittensor;
mod faults;
mod harness;
mod localnet;
