//! [`Client`]: signed request/answer calls to servers pinned by certificate fingerprint.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use quinn::{Connection, Endpoint, TransportConfig, VarInt};
use rustls::crypto::CryptoProvider;
use tokio::time::timeout;

use super::cert::SERVER_NAME;
use super::config::NetConfig;
use super::frame_io::{ReadFrameError, StreamError, read_frame, write_frame};
use super::tls::Pin;
use super::{NetError, tls};
use crate::codec::{DecodeError, EncodeError, encode_frame_to_vec};
use crate::envelope::{Envelope, RequestId, RequestKind};
use crate::fingerprint::CertFingerprint;
use crate::key_cache::VerifyingKeyCache;
use crate::keys::{Keypair, PublicKey};
use crate::reject::RejectReason;
use crate::verifier::{
    Answer, AnswerError, ExpectedAnswer, UncheckedAnswer, check_answer, verify_answers,
};

/// Application error code for connections the client closes.
const CLOSE_CLIENT: u32 = 0;

/// Makes signed calls to servers.
///
/// One client keeps one QUIC connection per (address, [`Pin`]) and opens one stream per
/// call, so calls to the same server run concurrently over one handshake. It stamps each request
/// with the time and a nonce from a per-receiver counter that starts at the current Unix time in
/// nanoseconds and counts up, so a restarted client's nonces stay above its earlier ones (while
/// the system clock does not step back). It verifies every answer: signed by the called hotkey,
/// addressed to us, echoing the request id, with a matching body hash.
///
/// Share it behind an `Arc`; [`Client::close`] ends its connections.
#[derive(Debug)]
pub struct Client {
    keypair: Keypair,
    endpoint: Endpoint,
    config: NetConfig,
    transport: Arc<TransportConfig>,
    provider: Arc<CryptoProvider>,
    keys: VerifyingKeyCache,
    connections: Mutex<HashMap<(SocketAddr, Pin), Slot>>,
    nonces: Mutex<HashMap<PublicKey, u64>>,
    next_request_id: AtomicU64,
}

/// One server's connection, and the lock that lets one caller at a time (re)connect it.
#[derive(Debug, Default, Clone)]
struct Slot {
    connection: Option<Connection>,
    connecting: Arc<tokio::sync::Mutex<()>>,
}

/// Why a call did not return a verified answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The endpoint could not start a connection (for example an unusable address).
    #[error("cannot connect")]
    Connect(#[source] quinn::ConnectError),
    /// The server presented another certificate than the pinned one.
    #[error("server certificate {got} is not the pinned {expected}")]
    FingerprintMismatch {
        /// The pinned fingerprint.
        expected: CertFingerprint,
        /// The fingerprint presented.
        got: CertFingerprint,
    },
    /// Pinned to a hotkey ([`CertFingerprint::HOTKEY`] published), the server's handshake was
    /// not signed by it.
    #[error("the server did not prove it holds hotkey {hotkey}")]
    NotHotkey {
        /// The hotkey called.
        hotkey: PublicKey,
    },
    /// The handshake failed (wrong ALPN, TLS failure, server unreachable or refusing).
    #[error("handshake failed")]
    Handshake(#[source] quinn::ConnectionError),
    /// The connection was lost before the request could be sent.
    #[error("connection lost")]
    Connection(#[source] quinn::ConnectionError),
    /// The stream failed while sending the request or reading the answer.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The request is larger than the configured request frame limit.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The answer frame is oversized or undecodable.
    #[error("undecodable answer")]
    Decode(#[source] DecodeError),
    /// The answer does not verify or does not belong to the request.
    #[error("invalid answer")]
    InvalidAnswer(#[source] AnswerError),
    /// The server answered with a (verified) rejection.
    #[error("rejected by the server: {0}")]
    Rejected(RejectReason),
    /// The call did not finish within the request timeout.
    #[error("timed out")]
    Timeout,
    /// The client could not build its TLS settings.
    #[error("client setup failed")]
    Setup(#[source] NetError),
}

impl From<AnswerError> for CallError {
    fn from(e: AnswerError) -> Self {
        match e {
            AnswerError::Rejected(reason) => Self::Rejected(reason),
            other => Self::InvalidAnswer(other),
        }
    }
}

impl Client {
    /// A client bound to an ephemeral UDP port on all IPv4 interfaces. Must be called inside a
    /// tokio runtime.
    ///
    /// # Errors
    /// As [`Client::bind`].
    pub fn new(keypair: Keypair, config: NetConfig) -> Result<Self, NetError> {
        Self::bind(
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            keypair,
            config,
        )
    }

    /// A client bound to `addr` (tests bind `127.0.0.1:0`). Must be called inside a tokio
    /// runtime.
    ///
    /// # Errors
    /// [`NetError::Config`] for an invalid config, [`NetError::Io`] if the socket cannot be
    /// bound.
    pub fn bind(addr: SocketAddr, keypair: Keypair, config: NetConfig) -> Result<Self, NetError> {
        let transport = config.client_transport()?;
        let endpoint = Endpoint::client(addr).map_err(NetError::Io)?;
        Ok(Self {
            keypair,
            endpoint,
            keys: VerifyingKeyCache::new(config.key_cache_capacity),
            config,
            transport,
            provider: tls::provider(),
            connections: Mutex::new(HashMap::new()),
            nonces: Mutex::new(HashMap::new()),
            next_request_id: AtomicU64::new(1),
        })
    }

    /// The caller's hotkey.
    pub fn public(&self) -> PublicKey {
        self.keypair.public()
    }

    /// Sends a signed request of `kind` with `body` to the server at `addr` whose certificate
    /// has `fingerprint` and whose hotkey is `receiver`, and returns its verified answer.
    ///
    /// The whole call (connecting included) is bounded by the configured request timeout. A
    /// connection found dead before the request is sent is replaced once.
    ///
    /// # Errors
    /// [`CallError`]: a rejection by the server is [`CallError::Rejected`]; a certificate other
    /// than the pinned one is [`CallError::FingerprintMismatch`].
    pub async fn call(
        &self,
        addr: SocketAddr,
        fingerprint: CertFingerprint,
        receiver: PublicKey,
        kind: RequestKind,
        body: Vec<u8>,
    ) -> Result<Answer, CallError> {
        self.call_unchecked(addr, fingerprint, receiver, kind, body)
            .await?
            .verify(&self.keys)
            .map_err(CallError::from)
    }

    /// [`Client::call`] without the answer's signature check: the answer passed every other
    /// check, and [`Client::verify_answers`] verifies many such signatures at once, for about
    /// half the CPU. For callers that gather many answers before using any (a validator step).
    ///
    /// # Errors
    /// As [`Client::call`], except for a bad signature or a rejection, which
    /// [`Client::verify_answers`] reports.
    pub async fn call_unchecked(
        &self,
        addr: SocketAddr,
        fingerprint: CertFingerprint,
        receiver: PublicKey,
        kind: RequestKind,
        body: Vec<u8>,
    ) -> Result<UncheckedAnswer, CallError> {
        let (answer, expected) = timeout(
            self.config.request_timeout,
            self.exchange(addr, fingerprint, receiver, kind, body),
        )
        .await
        .map_err(|_| CallError::Timeout)??;
        check_answer(answer, &expected).map_err(CallError::from)
    }

    /// Verifies the signatures of answers from [`Client::call_unchecked`] in batches and
    /// returns each answer, or why it failed, in order: what [`Client::call`] would have.
    pub fn verify_answers(&self, answers: Vec<UncheckedAnswer>) -> Vec<Result<Answer, CallError>> {
        verify_answers(answers, &self.keys)
            .into_iter()
            .map(|a| a.map_err(CallError::from))
            .collect()
    }

    /// Sends the request and reads the answer's frame.
    async fn exchange(
        &self,
        addr: SocketAddr,
        fingerprint: CertFingerprint,
        receiver: PublicKey,
        kind: RequestKind,
        body: Vec<u8>,
    ) -> Result<(Envelope, ExpectedAnswer), CallError> {
        let pin = Pin::new(fingerprint, receiver);
        let connection = self.connection(addr, pin, None).await?;
        let (mut send, mut recv) = match connection.open_bi().await {
            Ok(streams) => streams,
            Err(_) => {
                let fresh = self.connection(addr, pin, Some(&connection)).await?;
                fresh.open_bi().await.map_err(CallError::Connection)?
            }
        };
        // Stamped only once the stream is open, so that requests waiting for stream credit do
        // not hold old nonces while newer ones overtake them (see `REPLAY_WINDOW`).
        let request_id = RequestId(self.next_request_id.fetch_add(1, Ordering::Relaxed));
        let stamp = self.next_stamp(&receiver);
        let request = Envelope::request(&self.keypair, receiver, kind, request_id, stamp, body);
        let frame = encode_frame_to_vec(&request, self.config.max_request_bytes)?;
        write_frame(&mut send, &frame).await?;
        let answer = read_frame(&mut recv, self.config.max_answer_bytes)
            .await
            .map_err(|e| match e {
                ReadFrameError::Stream(e) => CallError::Stream(e),
                ReadFrameError::Decode(e) => CallError::Decode(e),
            })?;
        let expected = ExpectedAnswer {
            from: receiver,
            to: self.keypair.public(),
            request_id,
            kind,
        };
        Ok((answer, expected))
    }

    /// The pinned connection to `(addr, pin)` that calls use (made if needed), for tools and
    /// tests that speak raw frames on their own streams.
    ///
    /// # Errors
    /// As the connection part of [`Client::call`].
    pub async fn connection_to(
        &self,
        addr: SocketAddr,
        pin: impl Into<Pin>,
    ) -> Result<Connection, CallError> {
        timeout(
            self.config.handshake_timeout,
            self.connection(addr, pin.into(), None),
        )
        .await
        .map_err(|_| CallError::Timeout)?
    }

    /// A live connection to `(addr, pin)`: the cached one, or a new one. `stale` is a
    /// connection the caller found dead; it is replaced unless another caller already did.
    async fn connection(
        &self,
        addr: SocketAddr,
        pin: Pin,
        stale: Option<&Connection>,
    ) -> Result<Connection, CallError> {
        let key = (addr, pin);
        let connecting = {
            let mut slots = self.slots();
            let slot = slots.entry(key).or_default();
            if let Some(c) = live(slot.connection.as_ref(), stale) {
                return Ok(c);
            }
            Arc::clone(&slot.connecting)
        };
        let _one_at_a_time = connecting.lock().await;
        if let Some(c) = live(
            self.slots().get(&key).and_then(|s| s.connection.as_ref()),
            stale,
        ) {
            return Ok(c);
        }
        let connection = self.connect(addr, pin).await?;
        let mut slots = self.slots();
        if slots.len() > self.config.max_connections {
            slots.retain(|_, s| {
                s.connection
                    .as_ref()
                    .is_some_and(|c| c.close_reason().is_none())
            });
        }
        slots.entry(key).or_default().connection = Some(connection.clone());
        Ok(connection)
    }

    async fn connect(&self, addr: SocketAddr, pin: Pin) -> Result<Connection, CallError> {
        let (crypto, verifier) =
            tls::client_crypto(&self.provider, pin).map_err(CallError::Setup)?;
        let mut config = quinn::ClientConfig::new(crypto);
        config.transport_config(Arc::clone(&self.transport));
        let connecting = self
            .endpoint
            .connect_with(config, addr, SERVER_NAME)
            .map_err(CallError::Connect)?;
        match timeout(self.config.handshake_timeout, connecting).await {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(e)) => Err(match (pin, verifier.mismatch()) {
                (Pin::Certificate(expected), Some(got)) => {
                    CallError::FingerprintMismatch { expected, got }
                }
                (Pin::Hotkey(hotkey), _) if verifier.hotkey_refused() => {
                    CallError::NotHotkey { hotkey }
                }
                _ => CallError::Handshake(e),
            }),
            Err(_) => Err(CallError::Timeout),
        }
    }

    fn next_stamp(&self, receiver: &PublicKey) -> crate::envelope::Stamp {
        let mut nonces = self.nonces.lock().unwrap_or_else(PoisonError::into_inner);
        // Forgetting all counters is safe: a fresh one starts at the current time in
        // nanoseconds, above anything an older counter reached at one call per nanosecond.
        if nonces.len() >= MAX_NONCE_COUNTERS && !nonces.contains_key(receiver) {
            nonces.clear();
        }
        let counter = nonces.entry(*receiver).or_insert_with(super::unix_nanos);
        let nonce = *counter;
        *counter = counter.saturating_add(1);
        crate::envelope::Stamp {
            nonce,
            timestamp_ms: super::unix_ms(),
        }
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<(SocketAddr, Pin), Slot>> {
        // Map operations cannot leave it invalid, so a poisoned lock is still usable.
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes every connection and waits (at most the handshake timeout) for the closes to be
    /// sent. Calls made afterwards reconnect.
    pub async fn close(&self) {
        let slots: Vec<Slot> = self.slots().drain().map(|(_, s)| s).collect();
        let mut closed = 0usize;
        for connection in slots.iter().filter_map(|s| s.connection.as_ref()) {
            connection.close(VarInt::from_u32(CLOSE_CLIENT), b"client closed");
            closed = closed.saturating_add(1);
        }
        if closed > 0 {
            // Bounded: an unreachable peer never acknowledges the close. Not waited for when
            // nothing was open, as failed handshakes linger in quinn for three probe timeouts.
            let _ = timeout(self.config.handshake_timeout, self.endpoint.wait_idle()).await;
        }
    }
}

/// Receivers whose nonce counters are kept; see `next_stamp`.
const MAX_NONCE_COUNTERS: usize = 65_536;

/// `candidate` if it is open and is not the connection the caller found dead.
fn live(candidate: Option<&Connection>, stale: Option<&Connection>) -> Option<Connection> {
    let c = candidate?;
    let is_stale = stale.is_some_and(|s| s.stable_id() == c.stable_id());
    (c.close_reason().is_none() && !is_stale).then(|| c.clone())
}
