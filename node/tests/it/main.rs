//! subnet-node tests: the JSON-RPC server's robustness (in-process node) and crash safety of
//! the real binary under `kill -9`.

mod cli;
mod client;
mod crash;
mod hostile;
mod rpc;
