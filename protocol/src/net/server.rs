//! [`Server`]: accepts QUIC connections, verifies each request and hands it to a [`Handler`].
//!
//! Per connection, each bidirectional stream carries one request frame and one answer frame.
//! For every request the server: reads the length prefix and rejects oversized frames unread;
//! decodes (version, kind); runs [`RequestVerifier::check`] (receiver, timestamp, nonce, body
//! hash, signature), after [`Handler::screen`] has had the chance to refuse unknown senders
//! without a signature check; asks [`Handler::admit`] whether this caller may make this request; records
//! the nonce; runs [`Handler::handle`]; and writes the signed answer. Every rejection is a signed
//! error answer carrying a [`RejectReason`], counted in [`ServerStats`] and reported to
//! [`Handler::on_reject`]. Peer input never panics the server.
//!
//! Bounds: connections (a semaphore; extra ones are refused), streams per connection (QUIC flow
//! control), bytes buffered per connection (receive windows sized to whole frames), a handshake
//! timeout and a per-request deadline.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use quinn::{Connection, Endpoint, Incoming, RecvStream, SendStream, VarInt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout, timeout_at};
use tracing::{debug, warn};

use super::config::NetConfig;
use super::frame_io::{ReadFrameError, StreamError, read_frame, write_frame};
use super::{NetError, NonceSource, ServerCert, tls, unix_ms};
use crate::codec::encode_frame_to_vec;
use crate::envelope::{Envelope, Header, RequestKind};
use crate::fingerprint::CertFingerprint;
use crate::key_cache::VerifyingKeyCache;
use crate::keys::{Keypair, PublicKey};
use crate::reject::RejectReason;
use crate::verifier::{RequestVerifier, VerifiedRequest};

/// Application error code for connections closed because the server is shutting down.
const CLOSE_SHUTDOWN: u32 = 1;

/// What a server does with verified requests. One value serves every connection.
pub trait Handler: Send + Sync + 'static {
    /// A refusal that needs no proof of who sent the request: whether the claimed `sender` is
    /// known at all (registration, validator permit), from public information only. Called
    /// before the signature is verified, so that requests from unknown keys cost no signature
    /// check; it must have no side effects (no rate-limit budget spent: the sender is not yet
    /// authenticated). The default lets every request through to verification.
    ///
    /// # Errors
    /// The [`RejectReason`] sent back (typically `NotRegistered` or `NoPermit`).
    fn screen(&self, sender: &PublicKey, kind: RequestKind) -> Result<(), RejectReason> {
        let _ = (sender, kind);
        Ok(())
    }

    /// Whether `sender` may make a request of `kind`: registration, validator permits, rate
    /// limits. Called after the signature verified and before the nonce is recorded or any
    /// expensive work; keep it cheap and non-blocking. The default admits everyone.
    ///
    /// # Errors
    /// The [`RejectReason`] sent back (typically `NotRegistered`, `NoPermit`, `RateLimited`).
    fn admit(&self, sender: &PublicKey, kind: RequestKind) -> Result<(), RejectReason> {
        let _ = (sender, kind);
        Ok(())
    }

    /// Answers a verified request with the answer body (the server signs and frames it).
    /// Runs under the server's request deadline; offload blocking work (inference) with
    /// `spawn_blocking`.
    ///
    /// # Errors
    /// The [`RejectReason`] sent back in an error answer.
    fn handle(
        &self,
        request: VerifiedRequest,
    ) -> impl Future<Output = Result<Vec<u8>, RejectReason>> + Send;

    /// Called once per rejected request, for metrics. The default does nothing.
    fn on_reject(&self, reason: RejectReason) {
        let _ = reason;
    }
}

/// Counters of a running server, readable at any time (for example by a metrics exporter).
#[derive(Debug)]
pub struct ServerStats {
    served: AtomicU64,
    rejected: [AtomicU64; RejectReason::ALL.len()],
    refused_connections: AtomicU64,
}

impl ServerStats {
    fn new() -> Self {
        Self {
            served: AtomicU64::new(0),
            rejected: std::array::from_fn(|_| AtomicU64::new(0)),
            refused_connections: AtomicU64::new(0),
        }
    }

    /// Requests answered successfully.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Requests rejected for `reason`.
    pub fn rejected(&self, reason: RejectReason) -> u64 {
        self.slot(reason)
            .map_or(0, |counter| counter.load(Ordering::Relaxed))
    }

    /// Rejections by reason, every reason listed (zeros included), in code order.
    pub fn rejected_by_reason(&self) -> Vec<(RejectReason, u64)> {
        RejectReason::ALL
            .iter()
            .map(|r| (*r, self.rejected(*r)))
            .collect()
    }

    /// Connections refused because the server was at `max_connections`, or the peer's address
    /// at `max_connections_per_ip`.
    pub fn refused_connections(&self) -> u64 {
        self.refused_connections.load(Ordering::Relaxed)
    }

    fn slot(&self, reason: RejectReason) -> Option<&AtomicU64> {
        let index = RejectReason::ALL.iter().position(|r| *r == reason)?;
        self.rejected.get(index)
    }

    fn count_rejection(&self, reason: RejectReason) {
        if let Some(counter) = self.slot(reason) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A bound QUIC server endpoint, not yet serving.
#[derive(Debug)]
pub struct Server {
    endpoint: Endpoint,
    keypair: Keypair,
    fingerprint: CertFingerprint,
    config: NetConfig,
    stats: Arc<ServerStats>,
}

/// State shared by every connection task.
struct Shared<H> {
    handler: H,
    keypair: Keypair,
    verifier: RequestVerifier,
    config: NetConfig,
    stats: Arc<ServerStats>,
    nonces: NonceSource,
}

impl Server {
    /// Binds a UDP socket at `addr` (port 0 picks one) and prepares to serve with `keypair`'s
    /// hotkey and `cert`. Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// [`NetError::Config`] for an invalid config, [`NetError::Tls`] if the certificate and key
    /// do not belong together, [`NetError::Io`] if the socket cannot be bound.
    pub fn bind(
        addr: SocketAddr,
        keypair: Keypair,
        cert: &ServerCert,
        config: NetConfig,
    ) -> Result<Self, NetError> {
        let server_config = tls::quinn_server_config(cert, &config)?;
        let endpoint = Endpoint::server(server_config, addr).map_err(NetError::Io)?;
        Ok(Self {
            endpoint,
            keypair,
            fingerprint: cert.fingerprint(),
            config,
            stats: Arc::new(ServerStats::new()),
        })
    }

    /// The address the endpoint is bound to (with the real port when bound to port 0).
    ///
    /// # Errors
    /// [`NetError::Io`] if the socket cannot report it.
    pub fn local_addr(&self) -> Result<SocketAddr, NetError> {
        self.endpoint.local_addr().map_err(NetError::Io)
    }

    /// The fingerprint of the server's certificate, to publish on chain.
    pub const fn fingerprint(&self) -> CertFingerprint {
        self.fingerprint
    }

    /// The server's counters, shared with the running server.
    pub fn stats(&self) -> Arc<ServerStats> {
        Arc::clone(&self.stats)
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight requests finish
    /// (each is bounded by the request deadline) and closes the endpoint. Every task it spawns
    /// is awaited before it returns.
    pub async fn serve<H: Handler>(self, handler: H, shutdown: impl Future<Output = ()>) {
        let shared = Arc::new(Shared {
            handler,
            verifier: RequestVerifier::new(
                self.keypair.public(),
                &self.config.replay,
                VerifyingKeyCache::new(self.config.key_cache_capacity),
            ),
            keypair: self.keypair,
            config: self.config,
            stats: self.stats,
            nonces: NonceSource::new(),
        });
        let limit = Arc::new(Semaphore::new(shared.config.max_connections));
        let per_ip = Arc::new(PerIpLimit::new(shared.config.max_connections_per_ip));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                incoming = self.endpoint.accept() => {
                    let Some(incoming) = incoming else { break };
                    let ip = incoming.remote_address().ip();
                    let permits = Arc::clone(&limit)
                        .try_acquire_owned()
                        .ok()
                        .zip(PerIpLimit::acquire(&per_ip, ip));
                    let Some(permit) = permits else {
                        shared.stats.refused_connections.fetch_add(1, Ordering::Relaxed);
                        incoming.refuse();
                        continue;
                    };
                    connections.spawn(serve_connection(
                        Arc::clone(&shared),
                        incoming,
                        permit,
                        stop_rx.clone(),
                    ));
                }
                Some(done) = connections.join_next(), if !connections.is_empty() => {
                    log_join(done);
                }
            }
        }
        self.endpoint.set_server_config(None);
        // A send error means every receiver is gone: nothing left to stop.
        let _ = stop_tx.send(true);
        let grace = shared
            .config
            .request_timeout
            .saturating_add(shared.config.handshake_timeout);
        let drained = timeout(grace, async {
            while let Some(done) = connections.join_next().await {
                log_join(done);
            }
        })
        .await;
        if drained.is_err() {
            connections.shutdown().await;
        }
        self.endpoint
            .close(VarInt::from_u32(CLOSE_SHUTDOWN), b"shutdown");
        // Lets the close reach peers; bounded in case they never answer.
        let _ = timeout(shared.config.handshake_timeout, self.endpoint.wait_idle()).await;
    }
}

/// Open connections per peer IP address.
struct PerIpLimit {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's share of its IP's limit; released on drop.
struct IpPermit {
    limit: Arc<PerIpLimit>,
    ip: IpAddr,
}

impl PerIpLimit {
    fn new(max: usize) -> Self {
        Self {
            max,
            open: Mutex::new(HashMap::new()),
        }
    }

    fn acquire(limit: &Arc<Self>, ip: IpAddr) -> Option<IpPermit> {
        let mut open = limit.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(ip).or_insert(0);
        if *count >= limit.max {
            return None;
        }
        *count = count.saturating_add(1);
        Some(IpPermit {
            limit: Arc::clone(limit),
            ip,
        })
    }
}

impl Drop for IpPermit {
    fn drop(&mut self) {
        let mut open = self
            .limit
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

fn log_join(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done
        && e.is_panic()
    {
        warn!(error = %e, "server task panicked");
    }
}

async fn serve_connection<H: Handler>(
    shared: Arc<Shared<H>>,
    incoming: Incoming,
    _permit: (OwnedSemaphorePermit, IpPermit),
    mut stop: watch::Receiver<bool>,
) {
    let peer = incoming.remote_address();
    let connecting = match incoming.accept() {
        Ok(connecting) => connecting,
        Err(e) => {
            debug!(%peer, error = %e, "connection not accepted");
            return;
        }
    };
    let connection = match timeout(shared.config.handshake_timeout, connecting).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(e)) => {
            debug!(%peer, error = %e, "handshake failed");
            return;
        }
        Err(_) => {
            debug!(%peer, "handshake timed out");
            return;
        }
    };
    let mut streams = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            stream = connection.accept_bi() => match stream {
                Ok((send, recv)) => {
                    streams.spawn(serve_stream(Arc::clone(&shared), peer, send, recv));
                }
                Err(e) => {
                    debug!(%peer, error = %e, "connection ended");
                    break;
                }
            },
            Some(done) = streams.join_next(), if !streams.is_empty() => log_join(done),
        }
    }
    while let Some(done) = streams.join_next().await {
        log_join(done);
    }
    close_quietly(&connection);
}

fn close_quietly(connection: &Connection) {
    if connection.close_reason().is_none() {
        connection.close(VarInt::from_u32(CLOSE_SHUTDOWN), b"shutdown");
    }
}

async fn serve_stream<H: Handler>(
    shared: Arc<Shared<H>>,
    peer: SocketAddr,
    mut send: SendStream,
    mut recv: RecvStream,
) {
    // The config caps timeouts (see `NetConfig::validate`), so this addition cannot overflow.
    let now = Instant::now();
    let deadline = now
        .checked_add(shared.config.request_timeout)
        .unwrap_or(now);
    let Some(answer) = answer(&shared, peer, &mut recv, deadline).await else {
        return;
    };
    let max = shared.config.max_answer_bytes;
    let frame = match encode_frame_to_vec(&answer, max) {
        Ok(frame) => frame,
        Err(e) => {
            warn!(%peer, error = %e, "answer too large");
            let internal = shared.reject(Some(answer.header()), RejectReason::Internal);
            match encode_frame_to_vec(&internal, max) {
                Ok(frame) => frame,
                Err(_) => return,
            }
        }
    };
    match timeout(
        shared.config.request_timeout,
        write_frame(&mut send, &frame),
    )
    .await
    {
        Ok(Ok(())) => {
            // Closing the connection (as shutdown does once its streams end) discards stream
            // data the peer has not acknowledged: hold this stream until the answer arrived.
            let _ = timeout(shared.config.request_timeout, send.stopped()).await;
        }
        Ok(Err(e)) => debug!(%peer, error = %e, "answer not delivered"),
        Err(_) => debug!(%peer, "answer write timed out"),
    }
}

/// The envelope to send back for one request stream, or `None` if the peer is gone.
async fn answer<H: Handler>(
    shared: &Shared<H>,
    peer: SocketAddr,
    recv: &mut RecvStream,
    deadline: Instant,
) -> Option<Envelope> {
    let read = timeout_at(deadline, read_frame(recv, shared.config.max_request_bytes)).await;
    let envelope = match read {
        Ok(Ok(envelope)) => envelope,
        Ok(Err(ReadFrameError::Decode(e))) => {
            debug!(%peer, error = %e, "undecodable request");
            return Some(shared.reject(None, e.reason()));
        }
        Ok(Err(ReadFrameError::Stream(StreamError::Truncated { expected, got }))) => {
            debug!(%peer, expected, got, "request stream ended mid-frame");
            return Some(shared.reject(None, RejectReason::Malformed));
        }
        Ok(Err(ReadFrameError::Stream(e))) => {
            debug!(%peer, error = %e, "request stream failed");
            return None;
        }
        Err(_) => return Some(shared.reject(None, RejectReason::Timeout)),
    };
    let header = *envelope.header();
    // A stream carries one request frame: bytes after it make the request malformed (as in
    // `decode_frame`), rather than being ignored. Waits for the peer's finish, under the deadline.
    match timeout_at(deadline, recv.read_chunk(1, true)).await {
        Ok(Ok(None)) => {}
        Ok(Ok(Some(_))) => {
            debug!(%peer, "bytes after the request frame");
            return Some(shared.reject(Some(&header), RejectReason::Malformed));
        }
        Ok(Err(e)) => {
            debug!(%peer, error = %e, "request stream failed");
            return None;
        }
        Err(_) => return Some(shared.reject(Some(&header), RejectReason::Timeout)),
    }
    if let Some(kind) = header.kind.as_request()
        && let Err(reason) = shared.handler.screen(&header.sender, kind)
    {
        return Some(shared.reject(Some(&header), reason));
    }
    let checked = match shared.verifier.check(envelope, unix_ms()) {
        Ok(checked) => checked,
        Err(e) => {
            debug!(%peer, hotkey = %header.sender, error = %e, "request rejected");
            return Some(shared.reject(Some(&header), e.reason()));
        }
    };
    let kind = checked.kind();
    if let Err(reason) = shared.handler.admit(&header.sender, kind) {
        return Some(shared.reject(Some(&header), reason));
    }
    let request = match shared.verifier.accept(checked, unix_ms()) {
        Ok(request) => request,
        Err(e) => return Some(shared.reject(Some(&header), e.reason())),
    };
    match timeout_at(deadline, shared.handler.handle(request)).await {
        Ok(Ok(body)) => {
            shared.stats.served.fetch_add(1, Ordering::Relaxed);
            Some(Envelope::sign(
                &shared.keypair,
                kind.answer(),
                header.request_id,
                header.sender,
                shared.nonces.stamp(),
                body,
            ))
        }
        Ok(Err(reason)) => Some(shared.reject(Some(&header), reason)),
        Err(_) => Some(shared.reject(Some(&header), RejectReason::Timeout)),
    }
}

impl<H: Handler> Shared<H> {
    fn reject(&self, request: Option<&Header>, reason: RejectReason) -> Envelope {
        self.stats.count_rejection(reason);
        self.handler.on_reject(reason);
        Envelope::error_answer(&self.keypair, request, reason, self.nonces.stamp())
    }
}
