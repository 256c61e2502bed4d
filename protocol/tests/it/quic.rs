//! The QUIC transport over real sockets on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use subnet_protocol::codec::{MAX_ANSWER_FRAME_BYTES, decode_frame, encode_frame_to_vec};
use subnet_protocol::net::{
    CallError, CertFingerprint, Client, Handler, NetConfig, Server, ServerCert, ServerStats,
};
use subnet_protocol::{
    AnswerError, Envelope, Keypair, MAX_FRAME_BYTES, MessageKind, PublicKey, RejectReason,
    RequestId, RequestKind, Stamp, VerifiedRequest,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Health answers "ok"; tasks answer their body reversed (an empty body is a bad request);
/// other kinds are unsupported. `blocked` is not registered.
struct TestHandler {
    blocked: PublicKey,
    rejections: Arc<AtomicU64>,
}

impl Handler for TestHandler {
    fn admit(&self, sender: &PublicKey, _kind: RequestKind) -> Result<(), RejectReason> {
        if *sender == self.blocked {
            return Err(RejectReason::NotRegistered);
        }
        Ok(())
    }

    async fn handle(&self, request: VerifiedRequest) -> Result<Vec<u8>, RejectReason> {
        match request.kind() {
            RequestKind::Health => Ok(b"ok".to_vec()),
            RequestKind::Task => {
                let mut body = request.into_body();
                if body.is_empty() {
                    return Err(RejectReason::BadRequest);
                }
                body.reverse();
                Ok(body)
            }
            _ => Err(RejectReason::Unsupported),
        }
    }

    fn on_reject(&self, _reason: RejectReason) {
        self.rejections.fetch_add(1, Ordering::Relaxed);
    }
}

struct Running {
    addr: SocketAddr,
    fingerprint: CertFingerprint,
    hotkey: PublicKey,
    stats: Arc<ServerStats>,
    rejections: Arc<AtomicU64>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn test_config() -> NetConfig {
    let mut config = NetConfig::default();
    config
        .request_timeout(Duration::from_secs(3))
        .handshake_timeout(Duration::from_secs(3));
    config
}

fn blocked_key() -> Keypair {
    Keypair::from_seed(&[13; 32])
}

fn start_server(config: NetConfig) -> Running {
    start_server_with(config, ServerCert::generate().unwrap())
}

/// A server with hotkey `Keypair::from_seed(&[2; 32])` presenting `cert`.
fn start_server_with(config: NetConfig, cert: ServerCert) -> Running {
    let keypair = Keypair::from_seed(&[2; 32]);
    let hotkey = keypair.public();
    let server = Server::bind(localhost(), keypair, &cert, config).unwrap();
    let addr = server.local_addr().unwrap();
    let stats = server.stats();
    let rejections = Arc::new(AtomicU64::new(0));
    let handler = TestHandler {
        blocked: blocked_key().public(),
        rejections: Arc::clone(&rejections),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(handler, async move {
        let _ = stopped.await;
    }));
    Running {
        addr,
        fingerprint: cert.fingerprint(),
        hotkey,
        stats,
        rejections,
        stop,
        task,
    }
}

impl Running {
    async fn shutdown(self) {
        self.stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("server stops within its grace period")
            .unwrap();
    }
}

fn client(seed: u8) -> Arc<Client> {
    Arc::new(Client::bind(localhost(), Keypair::from_seed(&[seed; 32]), test_config()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_signed_requests_are_answered() {
    let server = start_server(test_config());
    let client = client(1);
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8u32 {
        let client = Arc::clone(&client);
        let (addr, fp, hotkey) = (server.addr, server.fingerprint, server.hotkey);
        tasks.spawn(async move {
            for i in 0..125u32 {
                let body = format!("request {worker}/{i}").into_bytes();
                let answer = client
                    .call(addr, fp, hotkey, RequestKind::Task, body.clone())
                    .await
                    .unwrap();
                let mut expected = body;
                expected.reverse();
                assert_eq!(answer.body(), expected);
                assert_eq!(answer.header().kind, MessageKind::TaskAnswer);
                assert_eq!(answer.header().sender, hotkey);
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    assert_eq!(server.stats.served(), 1000);
    assert!(
        server
            .stats
            .rejected_by_reason()
            .iter()
            .all(|(_, n)| *n == 0),
        "{:?}",
        server.stats.rejected_by_reason()
    );
    client.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_pinned_fingerprint_fails_to_connect() {
    let server = start_server(test_config());
    let client = client(1);
    let wrong = CertFingerprint([0x5A; 32]);
    let err = client
        .call(
            server.addr,
            wrong,
            server.hotkey,
            RequestKind::Health,
            vec![],
        )
        .await
        .unwrap_err();
    match err {
        CallError::FingerprintMismatch { expected, got } => {
            assert_eq!(expected, wrong);
            assert_eq!(got, server.fingerprint);
        }
        other => panic!("expected a fingerprint mismatch, got {other:?}"),
    }
    // The right pin on the same client works.
    let ok = client
        .call(
            server.addr,
            server.fingerprint,
            server.hotkey,
            RequestKind::Health,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(ok.body(), b"ok");
    assert_eq!(server.stats.served(), 1);
    client.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hotkey_pin_accepts_only_a_handshake_signed_by_that_hotkey() {
    let pinned = CertFingerprint::HOTKEY;
    let health = |client: Arc<Client>, addr, hotkey| async move {
        client
            .call(addr, pinned, hotkey, RequestKind::Health, vec![])
            .await
    };
    // A server whose certificate key is its hotkey: served, with no fingerprint known.
    let own = start_server_with(
        test_config(),
        ServerCert::for_hotkey(&Keypair::from_seed(&[2; 32])).unwrap(),
    );
    let ok = health(client(1), own.addr, own.hotkey).await.unwrap();
    assert_eq!(ok.body(), b"ok");
    // The same server called as someone else: the handshake does not prove that key.
    let other = Keypair::from_seed(&[3; 32]).public();
    match health(client(1), own.addr, other).await {
        Err(CallError::NotHotkey { hotkey }) => assert_eq!(hotkey, other),
        other => panic!("expected NotHotkey, got {other:?}"),
    }
    assert_eq!(own.stats.served(), 1);
    own.shutdown().await;
    // An ECDSA certificate, and an Ed25519 certificate of another key, prove nothing either.
    for cert in [
        ServerCert::generate().unwrap(),
        ServerCert::for_hotkey(&Keypair::from_seed(&[3; 32])).unwrap(),
    ] {
        let server = start_server_with(test_config(), cert);
        match health(client(1), server.addr, server.hotkey).await {
            Err(CallError::NotHotkey { hotkey }) => assert_eq!(hotkey, server.hotkey),
            other => panic!("expected NotHotkey, got {other:?}"),
        }
        assert_eq!(server.stats.served(), 0);
        server.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_come_back_typed_and_are_counted() {
    let server = start_server(test_config());
    let (addr, fp, hotkey) = (server.addr, server.fingerprint, server.hotkey);

    let honest = client(1);
    let err = honest
        .call(addr, fp, hotkey, RequestKind::Task, vec![])
        .await
        .unwrap_err();
    assert!(
        matches!(err, CallError::Rejected(RejectReason::BadRequest)),
        "{err:?}"
    );
    let err = honest
        .call(addr, fp, hotkey, RequestKind::Weights, vec![1])
        .await
        .unwrap_err();
    assert!(
        matches!(err, CallError::Rejected(RejectReason::Unsupported)),
        "{err:?}"
    );

    let unregistered = Arc::new(Client::bind(localhost(), blocked_key(), test_config()).unwrap());
    let err = unregistered
        .call(addr, fp, hotkey, RequestKind::Health, vec![])
        .await
        .unwrap_err();
    assert!(
        matches!(err, CallError::Rejected(RejectReason::NotRegistered)),
        "{err:?}"
    );

    // Addressed to someone else: the server refuses, and its refusal, signed by a key other
    // than the one called, is not trusted by the client either.
    let someone_else = Keypair::from_seed(&[77; 32]).public();
    let err = honest
        .call(addr, fp, someone_else, RequestKind::Health, vec![])
        .await
        .unwrap_err();
    assert!(
        matches!(err, CallError::InvalidAnswer(AnswerError::WrongSender { got, .. }) if got == hotkey),
        "{err:?}"
    );

    let stats = &server.stats;
    assert_eq!(stats.rejected(RejectReason::BadRequest), 1);
    assert_eq!(stats.rejected(RejectReason::Unsupported), 1);
    assert_eq!(stats.rejected(RejectReason::NotRegistered), 1);
    assert_eq!(stats.rejected(RejectReason::WrongReceiver), 1);
    assert_eq!(server.rejections.load(Ordering::Relaxed), 4);
    assert_eq!(stats.served(), 0);
    honest.close().await;
    unregistered.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_request_frame_is_rejected_over_the_wire() {
    let server = start_server(test_config());
    let raw = client(1);
    let connection = raw
        .connection_to(server.addr, server.fingerprint)
        .await
        .unwrap();
    let now_ms = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let request = Envelope::request(
        &Keypair::from_seed(&[1; 32]),
        server.hotkey,
        RequestKind::Health,
        RequestId(1),
        Stamp {
            nonce: 42,
            timestamp_ms: now_ms,
        },
        vec![],
    );
    let frame = encode_frame_to_vec(&request, MAX_FRAME_BYTES).unwrap();
    let first = exchange(&connection, &frame).await;
    assert_eq!(first.header().kind, MessageKind::HealthAnswer);
    let second = exchange(&connection, &frame).await;
    assert_eq!(second.header().kind, MessageKind::ErrorAnswer);
    assert_eq!(
        RejectReason::from_body(second.body()),
        Some(RejectReason::ReplayedNonce)
    );
    raw.close().await;
    server.shutdown().await;
}

/// Sends raw bytes on a new stream and decodes the answer frame.
async fn exchange(connection: &quinn::Connection, bytes: &[u8]) -> Envelope {
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    send.write_all(bytes).await.unwrap();
    send.finish().unwrap();
    let answer = recv.read_to_end(MAX_ANSWER_FRAME_BYTES + 4).await.unwrap();
    decode_frame(&answer, MAX_ANSWER_FRAME_BYTES).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_flood_does_not_stop_an_honest_client() {
    let server = start_server(test_config());
    let (addr, fp, hotkey) = (server.addr, server.fingerprint, server.hotkey);

    let attacker = client(66);
    let connection = attacker.connection_to(addr, fp).await.unwrap();
    // Answers to frames too broken to name a sender are signed error answers to nobody.
    let oversized = exchange(&connection, &u32::MAX.to_le_bytes()).await;
    assert_eq!(oversized.header().kind, MessageKind::ErrorAnswer);
    assert_eq!(oversized.header().sender, hotkey);
    assert_eq!(
        RejectReason::from_body(oversized.body()),
        Some(RejectReason::Oversized)
    );

    let flood = {
        let connection = connection.clone();
        tokio::spawn(async move {
            let mut rng = 0x9E37_79B9_7F4A_7C15u64; // xorshift, fixed seed
            let mut next = move || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            let mut streams = tokio::task::JoinSet::new();
            for i in 0..400u64 {
                let bytes = match i % 4 {
                    // Announces far more than the limit.
                    0 => u32::MAX.to_le_bytes().to_vec(),
                    // Announces 100 bytes, sends 10, finishes.
                    1 => {
                        let mut b = 100u32.to_le_bytes().to_vec();
                        b.extend_from_slice(&[0xEE; 10]);
                        b
                    }
                    // Random bytes under a correct length prefix.
                    2 => {
                        let body: Vec<u8> = (0..64).map(|_| next() as u8).collect();
                        let mut b = 64u32.to_le_bytes().to_vec();
                        b.extend_from_slice(&body);
                        b
                    }
                    // Pure noise.
                    _ => (0..48).map(|_| next() as u8).collect(),
                };
                let connection = connection.clone();
                streams.spawn(async move {
                    // The attacker does not care about answers; errors are expected.
                    if let Ok((mut send, mut recv)) = connection.open_bi().await {
                        let _ = send.write_all(&bytes).await;
                        let _ = send.finish();
                        let _ = recv.read_to_end(1 << 16).await;
                    }
                });
            }
            while streams.join_next().await.is_some() {}
        })
    };

    let honest = client(1);
    for i in 0..50u8 {
        let answer = honest
            .call(addr, fp, hotkey, RequestKind::Task, vec![i, 1, 2])
            .await
            .unwrap();
        assert_eq!(answer.body(), [2, 1, i]);
    }
    flood.await.unwrap();
    assert_eq!(server.stats.served(), 50);
    let stats = &server.stats;
    assert!(
        stats.rejected(RejectReason::Oversized) >= 100,
        "{:?}",
        stats.rejected_by_reason()
    );
    assert!(
        stats.rejected(RejectReason::Malformed) >= 100,
        "{:?}",
        stats.rejected_by_reason()
    );
    let total: u64 = stats.rejected_by_reason().iter().map(|(_, n)| n).sum();
    assert_eq!(total, 401, "every garbage stream got an error answer");
    // After the flood, the honest client is still served.
    let answer = honest
        .call(addr, fp, hotkey, RequestKind::Health, vec![])
        .await
        .unwrap();
    assert_eq!(answer.body(), b"ok");
    attacker.close().await;
    honest.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_serving() {
    let server = start_server(test_config());
    let (addr, fp, hotkey) = (server.addr, server.fingerprint, server.hotkey);
    let mut quick = test_config();
    quick.handshake_timeout(Duration::from_millis(300));
    let client = Client::bind(localhost(), Keypair::from_seed(&[1; 32]), quick).unwrap();
    client
        .call(addr, fp, hotkey, RequestKind::Health, vec![])
        .await
        .unwrap();
    server.shutdown().await;
    // The server closed the connection; the client's new handshake goes unanswered.
    let err = client
        .call(addr, fp, hotkey, RequestKind::Health, vec![])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            CallError::Handshake(_) | CallError::Connection(_) | CallError::Timeout
        ),
        "{err:?}"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection_slot() {
    let mut config = test_config();
    config.max_connections_per_ip(1);
    let server = start_server(config);
    let (addr, fp, hotkey) = (server.addr, server.fingerprint, server.hotkey);
    let first = client(1);
    first
        .call(addr, fp, hotkey, RequestKind::Health, vec![])
        .await
        .unwrap();
    let second = client(3);
    let err = second
        .call(addr, fp, hotkey, RequestKind::Health, vec![])
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::Handshake(_)), "{err:?}");
    assert_eq!(server.stats.refused_connections(), 1);
    // The first client's connection keeps working.
    first
        .call(addr, fp, hotkey, RequestKind::Health, vec![])
        .await
        .unwrap();
    first.close().await;
    second.close().await;
    server.shutdown().await;
}
