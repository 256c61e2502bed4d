//! Identities, keys, AINFT ids, the signed envelope and its codec, and (feature `net`) the QUIC
//! transport of the subnet engine.
//!
//! - [`keys`]: ed25519 [`Keypair`] and [`PublicKey`] (hotkeys and coldkeys), shown as SS58.
//!
//! Features: `net` adds the QUIC transport (tokio, quinn, rustls); without it this crate does no
//! I/O but reading and writing keyfiles.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]
#![deny(missing_docs)]

pub mod keys;
pub mod ss58;

pub use keys::{Keypair, PublicKey, Signature, SignatureError};
