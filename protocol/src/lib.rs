//! Identities, keys, AINFT ids, the signed envelope and its codec, and (feature `net`) the QUIC
//! transport of the subnet engine.
//!
//! - [`keys`]: ed25519 [`Keypair`] and [`PublicKey`] (hotkeys and coldkeys), shown as SS58.
//! - [`ids`]: the domain newtypes every crate shares: [`Uid`], [`NetUid`], [`BlockNumber`] and
//!   the amount [`Rao`] (10⁻⁹ token; checked and saturating arithmetic only).
//! - [`keyfile`]: hotkey and coldkey files: versioned JSON, Argon2id + XChaCha20-Poly1305 for
//!   encrypted keys, atomic writes with mode 0600, a typed [`KeyfileError`] for every failure.
//! - [`ainft`]: the [`AinftManifest`] that names a model, its hand-written canonical encoding,
//!   and its [`AinftId`] (BLAKE3 of that encoding, written `ainft1…`).
//! - [`envelope`], [`codec`], [`verifier`], [`replay`]: the signed [`Envelope`] every request and
//!   answer travels in, its length-prefixed postcard frames, the receiver's checks in order of
//!   cost ([`RequestVerifier`]) with the [`ReplayGuard`], and the typed [`RejectReason`] of every
//!   refusal.
//! - `net` (feature `net`): the QUIC `Server` and `Client`, with certificates pinned by
//!   [`CertFingerprint`].
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

pub mod ainft;
pub mod ids;
pub mod keyfile;
pub mod keys;
pub mod ss58;

pub mod chain;
pub mod codec;
pub mod envelope;
pub mod fingerprint;
pub mod key_cache;
#[cfg(feature = "net")]
pub mod net;
pub mod reject;
pub mod replay;
pub mod task;
pub mod verifier;

pub use ainft::{AinftId, AinftManifest, Digest};
pub use ids::{BlockNumber, NetUid, Rao, Uid};
pub use keyfile::{KdfParams, KeyKind, Keyfile, KeyfileError};
pub use keys::{Keypair, PublicKey, Signature, SignatureError};

pub use codec::{DecodeError, EncodeError, MAX_ANSWER_FRAME_BYTES, MAX_FRAME_BYTES};
pub use envelope::{
    Envelope, Header, MessageKind, PROTOCOL_VERSION, RequestId, RequestKind, Stamp,
};
pub use fingerprint::CertFingerprint;
pub use key_cache::VerifyingKeyCache;
pub use reject::RejectReason;
pub use replay::{ReplayConfig, ReplayError, ReplayGuard};
pub use verifier::{
    Answer, AnswerError, ExpectedAnswer, RequestVerifier, VerifiedRequest, VerifyError,
};
