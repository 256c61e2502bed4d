//! Runs the real `subnet` binary: consensus, wallets, the chain commands against an in-process
//! node, and the simulator.

mod chain;
mod common;
mod consensus;
mod localnet;
mod models;
mod simulate;
mod wallet;
