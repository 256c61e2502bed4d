//! Integration tests of `subnet-chain` through its public API.

mod emission;
mod harness;
mod properties;
mod registration;
mod storage;
mod transactions;
mod weights;
