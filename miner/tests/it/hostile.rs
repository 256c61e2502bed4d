//! The bad input catalogue against a real miner (`docs/bad-input.md`): malformed frames, forged
//! and stale envelopes, stalled streams, idle connections and TLS mismatches on 127.0.0.1. Each
//! input gets its specific, signed rejection (or handshake failure), and afterwards an honest
//! validator is still answered correctly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use quinn::crypto::rustls::QuicClientConfig;
use quinn::rustls;
use subnet_miner::Config;
use subnet_miner::client::{MinerTarget, call_task, health};
use subnet_protocol::codec::{
    FRAME_PREFIX_BYTES, MAX_ANSWER_FRAME_BYTES, decode_frame, encode_frame_to_vec,
};
use subnet_protocol::envelope::BodyHash;
use subnet_protocol::keys::Keypair;
use subnet_protocol::net::{
    CallError, CertFingerprint, Client, NetConfig, SERVER_NAME, quinn_client_config,
};
use subnet_protocol::task::{NextByte, NextByteAnswer, NextByteRequest, Task, WeightsRequest};
use subnet_protocol::{
    Envelope, MessageKind, PublicKey, RejectReason, RequestId, RequestKind, Stamp,
};

use crate::harness::{Running, Subnet, config, start, subnet, text};

/// The miner's request frame limit in these tests (its default is 64 KiB).
const MAX_REQUEST: usize = 64 << 10;

fn unix_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// A fresh nonce above every nonce a client made earlier used: the clients count up from the
/// Unix time in nanoseconds.
fn fresh_nonce() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    )
    .unwrap()
}

fn now_stamp() -> Stamp {
    Stamp {
        nonce: fresh_nonce(),
        timestamp_ms: unix_ms(),
    }
}

/// A client for `key` bound to the loopback address `ip` (the whole 127/8 is loopback).
fn client_at(ip: &str, key: &Keypair) -> Client {
    let addr: SocketAddr = format!("{ip}:0").parse().unwrap();
    Client::bind(addr, key.clone(), NetConfig::default()).unwrap()
}

fn the_request() -> NextByteRequest {
    NextByteRequest::new(text(3, 64), 16).unwrap()
}

fn bits(answer: &NextByteAnswer, rows: usize) -> Vec<Vec<u32>> {
    (0..rows)
        .map(|r| answer.row(r).unwrap().iter().map(|v| v.to_bits()).collect())
        .collect()
}

/// The honest validator's answer to [`the_request`], from a fresh client (its nonces start above
/// anything sent before), compared with `expected`.
async fn still_served(subnet: &Subnet, miner: &Running, expected: &[Vec<u32>]) {
    let v = client_at("127.0.0.1", &subnet.v);
    let answer = call_task(&v, &miner.target, &NextByte, &the_request())
        .await
        .unwrap();
    assert_eq!(bits(&answer, expected.len()), expected);
    v.close().await;
}

/// The honest answer to compare with later.
async fn baseline(subnet: &Subnet, miner: &Running) -> Vec<Vec<u32>> {
    let v = client_at("127.0.0.1", &subnet.v);
    let answer = call_task(&v, &miner.target, &NextByte, &the_request())
        .await
        .unwrap();
    v.close().await;
    bits(&answer, 16)
}

/// A miner on a fresh subnet, the honest answer to compare with later, and an attacker's
/// client (an unregistered key) connected to it.
struct Attack {
    subnet: Subnet,
    miner: Running,
    target: MinerTarget,
    expected: Vec<Vec<u32>>,
    attacker: Client,
    conn: quinn::Connection,
}

impl Attack {
    /// Starts the miner with its test configuration, adjusted by `tune`.
    async fn start(tune: impl FnOnce(&mut Config)) -> Self {
        let subnet = subnet().await;
        let mut config = config(&subnet, "m1");
        tune(&mut config);
        let miner = start(config, &subnet.chain).await;
        let target = miner.target;
        let expected = baseline(&subnet, &miner).await;
        let attacker = client_at("127.0.0.1", &Keypair::from_seed(&[66; 32]));
        let conn = attacker
            .connection_to(target.addr, target.fingerprint)
            .await
            .unwrap();
        Self {
            subnet,
            miner,
            target,
            expected,
            attacker,
            conn,
        }
    }
}

/// Checks that `answer` is an error answer signed by the miner and returns its reason.
fn rejection(miner: &MinerTarget, answer: &Envelope) -> RejectReason {
    let h = answer.header();
    assert_eq!(h.kind, MessageKind::ErrorAnswer, "{answer:?}");
    assert_eq!(h.sender, miner.hotkey);
    assert!(h.body_hash.matches(answer.body()));
    miner
        .hotkey
        .verify(&h.signing_bytes(), answer.signature())
        .expect("the miner signs its rejections");
    RejectReason::from_body(answer.body()).expect("a reason code")
}

/// Sends `bytes` on a new stream (finished unless `finish` is false) and returns the answer.
async fn exchange(connection: &quinn::Connection, bytes: &[u8], finish: bool) -> Envelope {
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    send.write_all(bytes).await.unwrap();
    if finish {
        send.finish().unwrap();
    }
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        recv.read_to_end(MAX_ANSWER_FRAME_BYTES + FRAME_PREFIX_BYTES),
    )
    .await
    .expect("the miner answers every stream")
    .unwrap();
    decode_frame(&answer, MAX_ANSWER_FRAME_BYTES).unwrap()
}

async fn reject(miner: &MinerTarget, connection: &quinn::Connection, bytes: &[u8]) -> RejectReason {
    rejection(miner, &exchange(connection, bytes, true).await)
}

fn frame(envelope: &Envelope) -> Vec<u8> {
    encode_frame_to_vec(envelope, MAX_REQUEST).unwrap()
}

/// A signed request from `from` to `to`.
fn signed(from: &Keypair, to: PublicKey, kind: RequestKind, stamp: Stamp, body: &[u8]) -> Envelope {
    Envelope::request(from, to, kind, RequestId(7), stamp, body.to_vec())
}

fn task_body() -> Vec<u8> {
    NextByte.encode_request(&the_request()).unwrap()
}

/// `bytes` with its length prefix replaced by `len`.
fn with_prefix(len: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = len.to_le_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_get_their_specific_rejection() {
    let Attack {
        subnet,
        miner,
        target,
        expected,
        attacker,
        conn,
    } = Attack::start(|_| {}).await;
    let good = frame(&signed(
        &subnet.v,
        target.hotkey,
        RequestKind::Task,
        now_stamp(),
        &task_body(),
    ));
    let payload = &good[FRAME_PREFIX_BYTES..];
    let payload_len = u32::try_from(payload.len()).unwrap();

    // A prefix far over the limit, and one just over the miner's 64 KiB: refused unread.
    assert_eq!(
        reject(&target, &conn, &u32::MAX.to_le_bytes()).await,
        RejectReason::Oversized
    );
    let just_over = u32::try_from(MAX_REQUEST + 1).unwrap();
    assert_eq!(
        reject(&target, &conn, &with_prefix(just_over, payload)).await,
        RejectReason::Oversized
    );
    // Nothing at all, half a prefix, a prefix alone, a frame cut in the header, a frame cut in
    // the body: the stream ends before the announced bytes.
    for cut in [0, 2, FRAME_PREFIX_BYTES, 40, good.len() - 10] {
        assert_eq!(
            reject(&target, &conn, &good[..cut]).await,
            RejectReason::Malformed,
            "cut at {cut}"
        );
    }
    // Prefixes that announce less than the envelope (it then runs on past the frame) or more
    // (the stream ends first).
    for len in [payload_len - 50, 60, payload_len + 50] {
        assert_eq!(
            reject(&target, &conn, &with_prefix(len, payload)).await,
            RejectReason::Malformed,
            "prefix {len} for {payload_len} bytes"
        );
    }
    // A valid frame followed by garbage on the same stream: one stream carries one frame.
    let mut trailing = frame(&signed(
        &subnet.v,
        target.hotkey,
        RequestKind::Task,
        now_stamp(),
        &task_body(),
    ));
    trailing.extend_from_slice(b"garbage after the frame");
    assert_eq!(
        reject(&target, &conn, &trailing).await,
        RejectReason::Malformed
    );
    // Version 2 and an unknown kind byte (right after the one-byte version varint).
    let mut v2 = good.clone();
    v2[FRAME_PREFIX_BYTES] = 2;
    assert_eq!(reject(&target, &conn, &v2).await, RejectReason::BadVersion);
    let mut unknown_kind = good.clone();
    unknown_kind[FRAME_PREFIX_BYTES + 1] = 200;
    assert_eq!(
        reject(&target, &conn, &unknown_kind).await,
        RejectReason::UnknownKind
    );
    // Version 1, a task, then a request id varint that never ends.
    let mut endless = vec![1, MessageKind::TaskRequest.code()];
    endless.extend_from_slice(&[0xFF; 198]);
    assert_eq!(
        reject(&target, &conn, &with_prefix(200, &endless)).await,
        RejectReason::Malformed
    );
    // None of it reached the model.
    assert_eq!(miner.metrics.inferences(), 1);
    assert_eq!(miner.metrics.rejections(RejectReason::Malformed), 10);
    still_served(&subnet, &miner, &expected).await;
    attacker.close().await;
    miner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_stale_and_misaddressed_envelopes_are_refused() {
    let Attack {
        subnet,
        miner,
        target,
        expected,
        attacker,
        conn,
    } = Attack::start(|_| {}).await;
    let v = &subnet.v;
    let body = task_body();
    let task = |stamp: Stamp| signed(v, target.hotkey, RequestKind::Task, stamp, &body);

    // An answer kind sent as a request.
    let answer_kind = Envelope::sign(
        v,
        MessageKind::TaskAnswer,
        RequestId(1),
        target.hotkey,
        now_stamp(),
        body.clone(),
    );
    assert_eq!(
        reject(&target, &conn, &frame(&answer_kind)).await,
        RejectReason::UnexpectedKind
    );
    // Addressed to another miner.
    let elsewhere = signed(
        v,
        Keypair::from_seed(&[77; 32]).public(),
        RequestKind::Task,
        now_stamp(),
        &body,
    );
    assert_eq!(
        reject(&target, &conn, &frame(&elsewhere)).await,
        RejectReason::WrongReceiver
    );
    // A minute old, a minute ahead (the allowed skew is 30 s).
    let stale = task(Stamp {
        nonce: fresh_nonce(),
        timestamp_ms: unix_ms() - 60_000,
    });
    assert_eq!(
        reject(&target, &conn, &frame(&stale)).await,
        RejectReason::StaleTimestamp
    );
    let future = task(Stamp {
        nonce: fresh_nonce(),
        timestamp_ms: unix_ms() + 60_000,
    });
    assert_eq!(
        reject(&target, &conn, &frame(&future)).await,
        RejectReason::FutureTimestamp
    );
    // Claims to be the validator, signed by another key.
    let impostor = Keypair::from_seed(&[13; 32]);
    let (header, _, forged_body) = task(now_stamp()).into_parts();
    let forged = Envelope::from_parts(header, impostor.sign(&header.signing_bytes()), forged_body);
    assert_eq!(
        reject(&target, &conn, &frame(&forged)).await,
        RejectReason::BadSignature
    );
    // A valid signature, over a different body than the one sent.
    let (header, signature, _) = task(now_stamp()).into_parts();
    let other = NextByteRequest::new(text(5, 64), 16).unwrap();
    let swapped = Envelope::from_parts(header, signature, NextByte.encode_request(&other).unwrap());
    assert_eq!(
        reject(&target, &conn, &frame(&swapped)).await,
        RejectReason::BodyHashMismatch
    );
    // The same swap with the body hash updated too: now the signature no longer covers it.
    let (mut header, signature, body2) = swapped.into_parts();
    header.body_hash = BodyHash::of(&body2);
    assert_eq!(
        reject(
            &target,
            &conn,
            &frame(&Envelope::from_parts(header, signature, body2))
        )
        .await,
        RejectReason::BadSignature
    );
    // A header field changed after signing (the request id).
    let (mut header, signature, body3) = task(now_stamp()).into_parts();
    header.request_id = RequestId(8);
    assert_eq!(
        reject(
            &target,
            &conn,
            &frame(&Envelope::from_parts(header, signature, body3))
        )
        .await,
        RejectReason::BadSignature
    );
    // A sender key that is not a valid curve point, or a small-order one: no such key is
    // registered, so the miner refuses it before any signature work.
    let (mut header, signature, body4) = task(now_stamp()).into_parts();
    header.sender = PublicKey::from_bytes([0; 32]);
    assert_eq!(
        reject(
            &target,
            &conn,
            &frame(&Envelope::from_parts(header, signature, body4))
        )
        .await,
        RejectReason::NotRegistered
    );

    // A request accepted once, then replayed byte for byte.
    let once = frame(&task(now_stamp()));
    let first = exchange(&conn, &once, true).await;
    assert_eq!(first.header().kind, MessageKind::TaskAnswer);
    assert_eq!(
        reject(&target, &conn, &once).await,
        RejectReason::ReplayedNonce
    );
    // A new request reusing that nonce, and one far below it (outside the replay window).
    let used = decode_frame(&once, MAX_REQUEST).unwrap().header().nonce;
    let reused = task(Stamp {
        nonce: used,
        timestamp_ms: unix_ms(),
    });
    assert_eq!(
        reject(&target, &conn, &frame(&reused)).await,
        RejectReason::ReplayedNonce
    );
    let too_old = task(Stamp {
        nonce: used - 5_000,
        timestamp_ms: unix_ms(),
    });
    assert_eq!(
        reject(&target, &conn, &frame(&too_old)).await,
        RejectReason::ReplayedNonce
    );
    // Only the baseline and the one accepted request reached the model.
    assert_eq!(miner.metrics.inferences(), 2);
    still_served(&subnet, &miner, &expected).await;
    attacker.close().await;
    miner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_and_bodies_the_miner_does_not_serve_are_refused() {
    let Attack {
        subnet,
        miner,
        target,
        expected,
        attacker,
        conn,
    } = Attack::start(|_| {}).await;
    let v = &subnet.v;
    let body = task_body();

    // Properly signed by keys the subnet does not know, or that hold no validator permit.
    for (key, reason) in [
        (Keypair::from_seed(&[99; 32]), RejectReason::NotRegistered),
        (subnet.w.clone(), RejectReason::NoPermit),
    ] {
        for kind in RequestKind::ALL {
            let request = signed(&key, target.hotkey, kind, now_stamp(), &body);
            assert_eq!(
                reject(&target, &conn, &frame(&request)).await,
                reason,
                "{kind}"
            );
        }
    }
    // Unknown senders are refused before their signature is checked: a forged request too
    // (the last byte flipped: a registered sender would get a signature or body-hash error).
    let mut forged = frame(&signed(
        &Keypair::from_seed(&[99; 32]),
        target.hotkey,
        RequestKind::Task,
        now_stamp(),
        &body,
    ));
    if let Some(last) = forged.last_mut() {
        *last ^= 0x55;
    }
    assert_eq!(
        reject(&target, &conn, &forged).await,
        RejectReason::NotRegistered
    );
    // Admitted callers with bodies that are not requests of their kind.
    let bad_bodies: [(RequestKind, Vec<u8>); 6] = [
        (RequestKind::Task, Vec::new()),
        (RequestKind::Task, vec![0xFF; 300]),
        (RequestKind::Health, b"unexpected".to_vec()),
        (RequestKind::ModelInfo, vec![1]),
        (RequestKind::Weights, vec![0xFF; 40]),
        (
            RequestKind::Weights,
            subnet_protocol::task::encode::<_, ()>(
                &WeightsRequest {
                    offset: u64::MAX,
                    max_bytes: 1,
                },
                usize::MAX,
            )
            .unwrap(),
        ),
    ];
    for (kind, bad) in bad_bodies {
        let request = signed(v, target.hotkey, kind, now_stamp(), &bad);
        assert_eq!(
            reject(&target, &conn, &frame(&request)).await,
            RejectReason::BadRequest,
            "{kind} {bad:?}"
        );
    }
    assert_eq!(miner.metrics.rejections(RejectReason::NotRegistered), 5);
    assert_eq!(miner.metrics.rejections(RejectReason::NoPermit), 4);
    assert_eq!(miner.metrics.inferences(), 1);
    still_served(&subnet, &miner, &expected).await;
    attacker.close().await;
    miner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_streams_time_out_and_free_their_slots() {
    let Attack {
        subnet,
        miner,
        target,
        expected,
        attacker,
        conn,
    } = Attack::start(|config| {
        config.limits.request_timeout = Duration::from_secs(1);
        config.limits.max_concurrent_streams = 4;
    })
    .await;

    // Every stream the connection may have: two stop inside the prefix, two announce 100 bytes
    // and send 10; none is finished.
    let stalls: Vec<_> = (0..4)
        .map(|i| {
            let conn = conn.clone();
            tokio::spawn(async move {
                let bytes = if i % 2 == 0 {
                    vec![1, 0]
                } else {
                    with_prefix(100, &[0xEE; 10])
                };
                exchange(&conn, &bytes, false).await
            })
        })
        .collect();
    // Meanwhile an honest validator on its own connection is served.
    still_served(&subnet, &miner, &expected).await;
    for stall in stalls {
        let answer = stall.await.unwrap();
        assert_eq!(rejection(&target, &answer), RejectReason::Timeout);
    }
    // The timed-out streams gave their credit back: the same connection opens new ones.
    let more = tokio::time::timeout(Duration::from_secs(30), exchange(&conn, &[1, 0], true))
        .await
        .expect("stream credit was returned");
    assert_eq!(rejection(&target, &more), RejectReason::Malformed);
    assert_eq!(miner.metrics.rejections(RejectReason::Timeout), 4);
    still_served(&subnet, &miner, &expected).await;
    attacker.close().await;
    miner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_connections_are_held_to_the_per_address_limit() {
    let subnet = subnet().await;
    let miner = start(config(&subnet, "m1"), &subnet.chain).await;
    let target = miner.target;
    let expected = baseline(&subnet, &miner).await;

    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let client_config =
        quinn_client_config(target.fingerprint.into(), &NetConfig::default()).unwrap();
    let attempts: Vec<_> = (0..1000)
        .map(|_| {
            let connecting = endpoint
                .connect_with(client_config.clone(), target.addr, SERVER_NAME)
                .unwrap();
            tokio::spawn(connecting)
        })
        .collect();
    let mut idle = Vec::new();
    let mut refused = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(connection) => idle.push(connection),
            Err(quinn::ConnectionError::ConnectionClosed(close))
                if close.error_code == quinn::TransportErrorCode::CONNECTION_REFUSED =>
            {
                refused += 1;
            }
            Err(other) => panic!("expected a refusal, got {other}"),
        }
    }
    // Exactly the per-address limit (16 by default) got in; the rest were refused unserved.
    assert_eq!((idle.len(), refused), (16, 984));

    // While they sit idle, another address is served and this one is refused.
    let elsewhere = client_at("127.0.0.2", &subnet.v);
    let answer = call_task(&elsewhere, &target, &NextByte, &the_request())
        .await
        .unwrap();
    assert_eq!(bits(&answer, 16), expected);
    elsewhere.close().await;
    let same_address = client_at("127.0.0.1", &subnet.v);
    let err = health(&same_address, &target).await.unwrap_err();
    assert!(
        matches!(
            err,
            subnet_miner::client::MinerCallError::Call(CallError::Handshake(_))
        ),
        "{err:?}"
    );
    same_address.close().await;

    // Once they close, the address gets its slots back.
    for connection in &idle {
        connection.close(0u32.into(), b"done");
    }
    endpoint.wait_idle().await;
    let mut served = false;
    for _ in 0..100 {
        let v = client_at("127.0.0.1", &subnet.v);
        let result = call_task(&v, &target, &NextByte, &the_request()).await;
        v.close().await;
        if let Ok(answer) = result {
            assert_eq!(bits(&answer, 16), expected);
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "the address never got its connection slots back");
    miner.stop().await;
}

/// Accepts any server certificate: lets a test reach the miner's TLS layer with other settings.
#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &rustls::pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2 is not offered".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A QUIC client config offering `alpn` (none if empty) and trusting any certificate.
fn alpn_client(alpn: &[u8]) -> quinn::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    if !alpn.is_empty() {
        tls.alpn_protocols = vec![alpn.to_vec()];
    }
    quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls).unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_alpn_and_wrong_certificate_fail_the_handshake() {
    let subnet = subnet().await;
    let miner = start(config(&subnet, "m1"), &subnet.chain).await;
    let target = miner.target;
    let expected = baseline(&subnet, &miner).await;

    // Another major version's ALPN, or none: TLS alert 120 (no_application_protocol).
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    for alpn in [&b"subnet/2"[..], b"h3", b""] {
        let err = endpoint
            .connect_with(alpn_client(alpn), target.addr, SERVER_NAME)
            .unwrap()
            .await
            .unwrap_err();
        match err {
            quinn::ConnectionError::ConnectionClosed(close) => {
                assert_eq!(close.error_code, quinn::TransportErrorCode::crypto(120));
            }
            other => panic!("expected no_application_protocol, got {other}"),
        }
    }
    // The right ALPN with the same permissive client gets through.
    let ok = endpoint
        .connect_with(alpn_client(b"subnet/1"), target.addr, SERVER_NAME)
        .unwrap()
        .await
        .unwrap();
    ok.close(0u32.into(), b"done");
    endpoint.wait_idle().await;

    // A validator pinning another fingerprint (a stale axon, or an impostor at the address).
    let v = client_at("127.0.0.1", &subnet.v);
    let pinned = CertFingerprint([0x5A; 32]);
    let wrong = MinerTarget {
        fingerprint: pinned,
        ..target
    };
    match health(&v, &wrong).await.unwrap_err() {
        subnet_miner::client::MinerCallError::Call(CallError::FingerprintMismatch {
            expected,
            got,
        }) => {
            assert_eq!(expected, pinned);
            assert_eq!(got, target.fingerprint);
        }
        other => panic!("expected a fingerprint mismatch, got {other:?}"),
    }
    v.close().await;
    still_served(&subnet, &miner, &expected).await;
    miner.stop().await;
}
