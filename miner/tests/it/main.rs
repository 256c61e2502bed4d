//! Integration tests of the miner: real QUIC on 127.0.0.1, an embedded chain, the shipped tiny
//! checkpoint.

mod harness;
mod hostile;
mod lifecycle;
mod load;
mod process;
mod serving;
