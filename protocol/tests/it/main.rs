//! Integration tests of subnet-protocol, through its public API (one test binary).

mod envelope;
#[cfg(feature = "net")]
mod quic;
