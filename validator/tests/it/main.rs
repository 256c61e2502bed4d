//! Integration tests of the validator: in-process miners and validators on an embedded chain,
//! over QUIC on 127.0.0.1.

mod commit_reveal;
mod faults;
mod harness;
mod identity;
mod process;
mod regression;
mod restart;
mod scenario;
