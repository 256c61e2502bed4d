//! The QUIC transport (feature `net`): a [`Server`] that answers verified requests through a
//! [`Handler`], and a [`Client`] that calls servers pinned by [`CertFingerprint`].
//!
//! - QUIC with TLS 1.3 (quinn, rustls with the ring provider), ALPN [`ALPN`] naming the protocol
//!   and its major version.
//! - Each server has a self-signed [`ServerCert`]; its SHA-256 fingerprint is published on chain
//!   and clients accept no other certificate.
//! - One bidirectional stream per request: one request frame, one answer frame
//!   ([codec](crate::codec)).
//! - Limits and timeouts come from [`NetConfig`], with safe defaults.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::net::SocketAddr;
//! use subnet_protocol::net::{Client, Handler, NetConfig, Server, ServerCert};
//! use subnet_protocol::{Keypair, RejectReason, RequestKind, VerifiedRequest};
//!
//! struct Echo;
//! impl Handler for Echo {
//!     async fn handle(&self, request: VerifiedRequest) -> Result<Vec<u8>, RejectReason> {
//!         Ok(request.into_body())
//!     }
//! }
//!
//! let miner = Keypair::generate();
//! let miner_hotkey = miner.public();
//! let cert = ServerCert::generate()?;
//! let server = Server::bind("127.0.0.1:0".parse()?, miner, &cert, NetConfig::default())?;
//! let addr = server.local_addr()?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let serving = tokio::spawn(server.serve(Echo, async move { let _ = stopped.await; }));
//!
//! let client = Client::bind("127.0.0.1:0".parse()?, Keypair::generate(), NetConfig::default())?;
//! let answer = client
//!     .call(addr, cert.fingerprint(), miner_hotkey, RequestKind::Health, b"ping".to_vec())
//!     .await?;
//! assert_eq!(answer.body(), b"ping");
//! client.close().await;
//! let _ = stop.send(());
//! serving.await?;
//! # Ok(()) }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

mod cert;
mod client;
mod config;
mod frame_io;
mod server;
mod tls;

pub use cert::{CertError, SERVER_NAME, ServerCert};
pub use client::{CallError, Client};
pub use config::{
    ConfigError, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONCURRENT_STREAMS,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_IP, DEFAULT_REQUEST_TIMEOUT, MAX_TIMEOUT,
    NetConfig,
};
pub use frame_io::StreamError;
pub use server::{Handler, Server, ServerStats};
pub use tls::{Pin, quinn_client_config, quinn_server_config};

pub use crate::fingerprint::CertFingerprint;

/// ALPN protocol id: the protocol's name and major version. A server speaks only this one, so
/// a peer of another major version fails the handshake instead of sending frames we misread.
pub const ALPN: &[u8] = b"subnet/1";

/// Setting up a server or client failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The certificate could not be used.
    #[error(transparent)]
    Cert(#[from] CertError),
    /// rustls refused the settings (for example a key that does not match the certificate).
    #[error("tls setup failed")]
    Tls(#[source] rustls::Error),
    /// The crypto provider lacks the cipher suite QUIC's initial packets need.
    #[error("no QUIC initial cipher suite")]
    CipherSuite,
    /// The UDP socket could not be bound or queried.
    #[error("socket error")]
    Io(#[source] std::io::Error),
}

/// Counter for the nonces of answers a server signs: starts at the current Unix time in
/// nanoseconds, so it stays above what an earlier run of the same key used.
#[derive(Debug)]
pub(crate) struct NonceSource(AtomicU64);

impl NonceSource {
    pub(crate) fn new() -> Self {
        Self(AtomicU64::new(unix_nanos()))
    }

    pub(crate) fn stamp(&self) -> crate::envelope::Stamp {
        crate::envelope::Stamp {
            nonce: self.0.fetch_add(1, Ordering::Relaxed),
            timestamp_ms: unix_ms(),
        }
    }
}

/// The system clock in milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// The system clock in nanoseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_nanos() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}
