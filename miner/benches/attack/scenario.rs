//! The attack scenario shared by the `attack` bench and the miner's load test: one miner on an
//! embedded chain, four honest validators with permits (each on its own loopback address), and
//! one attacker opening many connections from loopback addresses of its own and sending
//! correctly signed requests from unregistered keys (the most expensive requests to refuse: the
//! miner verifies each signature before it can tell the sender is a stranger).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use subnet_chain_client::{Chain, EmbeddedChain, EmbeddedConfig, Genesis, ReceiptExt};
use subnet_miner::client::{MinerTarget, call_task};
use subnet_miner::{Config, DevKey, KeySource, Miner, MinerError};
use subnet_protocol::chain::{Hyperparameters, TOKEN};
use subnet_protocol::codec::{MAX_ANSWER_FRAME_BYTES, decode_frame, encode_frame_to_vec};
use subnet_protocol::ids::{NetUid, Rao};
use subnet_protocol::keys::Keypair;
use subnet_protocol::net::{Client, NetConfig, SERVER_NAME, quinn_client_config};
use subnet_protocol::task::{NextByte, NextByteRequest, Task};
use subnet_protocol::{
    Envelope, MAX_FRAME_BYTES, MessageKind, RejectReason, RequestId, RequestKind, Stamp,
};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

/// Honest validators.
pub(crate) const VALIDATORS: usize = 4;
/// Connections one address may hold at the miner (its default).
pub(crate) const PER_IP: usize = 16;
/// Distinct requests the honest validators cycle through.
const REQUESTS: usize = 8;

/// A miner serving a subnet with [`VALIDATORS`] permitted validators.
pub(crate) struct Setup {
    /// The chain, kept for as long as the miner runs.
    _chain: EmbeddedChain,
    /// The miner.
    pub(crate) target: MinerTarget,
    /// The validators' keys.
    pub(crate) validators: Vec<Keypair>,
    requests: Vec<NextByteRequest>,
    /// The answer to each request, as bit patterns, from a first call.
    expected: Vec<Vec<u32>>,
    stop: Option<oneshot::Sender<()>>,
    serving: Option<JoinHandle<Result<(), MinerError>>>,
}

fn text(seed: usize) -> Vec<u8> {
    const SOURCE: &[u8] = b"The Jargon File is a comprehensive compendium of hacker slang \
        illuminating many aspects of hackish tradition, folklore, and humor.";
    SOURCE
        .iter()
        .cycle()
        .skip(seed * 7)
        .take(64)
        .copied()
        .collect()
}

fn bits(answer: &subnet_protocol::task::NextByteAnswer) -> Vec<u32> {
    answer.rows().flatten().map(|v| v.to_bits()).collect()
}

/// Loopback address `127.0.<third>.<fourth>`.
pub(crate) fn loopback(third: u8, fourth: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, third, fourth))
}

fn unix_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// Starts the chain, the subnet and the miner serving `checkpoint`, with rate limits out of the
/// way (this measures the attack, not the token bucket).
pub(crate) async fn setup(checkpoint: &Path) -> Setup {
    let chain = EmbeddedChain::with_config(
        &Genesis::dev(),
        EmbeddedConfig {
            auto_advance: true,
            ..EmbeddedConfig::default()
        },
    )
    .expect("chain");
    let (charlie, dave) = (Keypair::dev("charlie"), Keypair::dev("dave"));
    let hp = Hyperparameters {
        tempo: 4,
        immunity_period: 1000,
        activity_cutoff: 1000,
        max_allowed_uids: 16,
        max_allowed_validators: VALIDATORS as u16,
        ..Hyperparameters::default()
    };
    let netuid: NetUid = chain
        .create_subnet(&charlie, hp.clone())
        .await
        .expect("subnet")
        .created_netuid()
        .expect("netuid");
    let validators: Vec<Keypair> = (0..VALIDATORS)
        .map(|i| Keypair::from_seed(&[20 + i as u8; 32]))
        .collect();
    for v in &validators {
        chain
            .register(&dave, netuid, v.public(), None)
            .await
            .expect("register");
        chain
            .add_stake(&dave, v.public(), Rao(1000 * TOKEN.0))
            .await
            .expect("stake");
    }
    chain
        .advance_blocks(u64::from(hp.tempo) + 1)
        .expect("blocks");
    let metagraph = chain.metagraph(netuid).await.expect("metagraph");
    for v in &validators {
        assert!(
            metagraph
                .by_hotkey(&v.public())
                .is_some_and(|n| n.validator_permit),
            "validator without permit"
        );
    }
    let mut config = Config {
        hotkey: KeySource::Dev(DevKey { dev: "m1".into() }),
        coldkey: KeySource::Dev(DevKey { dev: "eve".into() }),
        netuid,
        listen: "127.0.0.1:0".parse().expect("addr"),
        checkpoint: checkpoint.to_path_buf(),
        seed: Some(1),
        ..Config::default()
    };
    config.limits.max_batch_wait = Duration::from_millis(1);
    config.limits.requests_per_second = 1e9;
    config.limits.burst = 1_000_000;
    let miner = Miner::start(config, chain.clone()).await.expect("miner");
    let target = MinerTarget {
        addr: miner.addr(),
        fingerprint: miner.fingerprint(),
        hotkey: miner.hotkey(),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(miner.serve(async move {
        let _ = stopped.await;
    }));
    let requests: Vec<NextByteRequest> = (0..REQUESTS)
        .map(|i| NextByteRequest::new(text(i), 16).expect("request"))
        .collect();
    let reference = Client::bind(
        SocketAddr::new(loopback(0, 2), 0),
        validators[0].clone(),
        NetConfig::default(),
    )
    .expect("client");
    let mut expected = Vec::new();
    for request in &requests {
        let answer = call_task(&reference, &target, &NextByte, request)
            .await
            .expect("reference answer");
        expected.push(bits(&answer));
    }
    reference.close().await;
    Setup {
        _chain: chain,
        target,
        validators,
        requests,
        expected,
        stop: Some(stop),
        serving: Some(serving),
    }
}

impl Setup {
    /// Stops the miner and waits for it.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(serving) = self.serving.take() {
            serving.await.expect("join").expect("miner stopped cleanly");
        }
    }

    /// The validators' clients, validator `i` bound to `127.0.0.{2+i}`, already connected.
    pub(crate) async fn honest_clients(&self) -> Vec<Arc<Client>> {
        let mut clients = Vec::new();
        for (i, v) in self.validators.iter().enumerate() {
            let client = Client::bind(
                SocketAddr::new(loopback(0, 2 + i as u8), 0),
                v.clone(),
                NetConfig::default(),
            )
            .expect("client");
            client
                .connection_to(self.target.addr, self.target.fingerprint)
                .await
                .expect("honest connection");
            clients.push(Arc::new(client));
        }
        clients
    }

    /// Each client sends `per_client` requests one after another, all clients at once. Returns
    /// every call's latency, and the number of answers that were wrong or missing.
    pub(crate) async fn honest_run(
        &self,
        clients: &[Arc<Client>],
        per_client: usize,
    ) -> (Vec<Duration>, usize) {
        let mut runs = JoinSet::new();
        for (c, client) in clients.iter().enumerate() {
            let client = Arc::clone(client);
            let target = self.target;
            let requests = self.requests.clone();
            let expected = self.expected.clone();
            runs.spawn(async move {
                let mut latencies = Vec::with_capacity(per_client);
                let mut wrong = 0;
                for i in 0..per_client {
                    let k = (c + i) % requests.len();
                    let started = Instant::now();
                    let answer = call_task(&client, &target, &NextByte, &requests[k]).await;
                    latencies.push(started.elapsed());
                    match answer {
                        Ok(answer) if bits(&answer) == expected[k] => {}
                        _ => wrong += 1,
                    }
                }
                (latencies, wrong)
            });
        }
        let mut all = Vec::new();
        let mut wrong = 0;
        while let Some(done) = runs.join_next().await {
            let (latencies, w) = done.expect("honest task");
            all.extend(latencies);
            wrong += w;
        }
        (all, wrong)
    }
}

/// What the attacker achieved.
#[derive(Debug, Default, Clone)]
pub(crate) struct AttackOutcome {
    /// Connections the miner accepted.
    pub(crate) accepted: usize,
    /// Connections the miner refused (per-address or total limit).
    pub(crate) refused: usize,
    /// Connections that failed otherwise.
    pub(crate) failed: usize,
    /// Requests sent on accepted connections.
    pub(crate) sent: u64,
    /// Answers that were the miner's signed `not_registered` rejection.
    pub(crate) not_registered: u64,
    /// Answers of any other kind (a served request would count here).
    pub(crate) other: u64,
    /// Requests whose stream broke before an answer arrived.
    pub(crate) lost: u64,
}

/// A running attack; [`Attack::finish`] stops it and reports.
pub(crate) struct Attack {
    stop: Arc<AtomicBool>,
    outcome: AttackOutcome,
    tasks: JoinSet<()>,
    endpoints: Vec<quinn::Endpoint>,
    sent: Arc<AtomicU64>,
    not_registered: Arc<AtomicU64>,
    other: Arc<AtomicU64>,
    lost: Arc<AtomicU64>,
}

/// Opens `connections` connections to the miner, [`PER_IP`] per loopback address
/// `127.0.1.x`, all at once; on each accepted one, sends a correctly signed task request from
/// its own unregistered key, waits for the answer and repeats, pausing `pause` between requests
/// (zero: as fast as answers come), until [`Attack::finish`].
pub(crate) async fn start_attack(setup: &Setup, connections: usize, pause: Duration) -> Attack {
    let target = setup.target;
    let body = NextByte.encode_request(&setup.requests[0]).expect("body");
    let client_config = quinn_client_config(target.fingerprint.into(), &NetConfig::default())
        .expect("client config");
    let mut endpoints = Vec::new();
    let mut attempts = Vec::new();
    for i in 0..connections {
        if i % PER_IP == 0 {
            let ip = loopback(1, 1 + (i / PER_IP) as u8);
            endpoints.push(quinn::Endpoint::client(SocketAddr::new(ip, 0)).expect("endpoint"));
        }
        let endpoint = endpoints.last().expect("an endpoint").clone();
        let config = client_config.clone();
        attempts.push(tokio::spawn(async move {
            endpoint
                .connect_with(config, target.addr, SERVER_NAME)
                .expect("connect")
                .await
        }));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let not_registered = Arc::new(AtomicU64::new(0));
    let other = Arc::new(AtomicU64::new(0));
    let lost = Arc::new(AtomicU64::new(0));
    let mut outcome = AttackOutcome::default();
    // Every handshake first, then the traffic: what is measured is the requests, not
    // handshakes starved by the attacker's own earlier connections.
    let mut connected = Vec::with_capacity(attempts.len());
    for attempt in attempts {
        connected.push(attempt.await.expect("join"));
    }
    let mut tasks = JoinSet::new();
    for (i, attempt) in connected.into_iter().enumerate() {
        let connection = match attempt {
            Ok(connection) => connection,
            Err(quinn::ConnectionError::ConnectionClosed(close))
                if close.error_code == quinn::TransportErrorCode::CONNECTION_REFUSED =>
            {
                outcome.refused += 1;
                continue;
            }
            Err(_) => {
                outcome.failed += 1;
                continue;
            }
        };
        outcome.accepted += 1;
        let key = Keypair::from_seed(&seed(i));
        let (stop, sent, not_registered, other, lost) = (
            Arc::clone(&stop),
            Arc::clone(&sent),
            Arc::clone(&not_registered),
            Arc::clone(&other),
            Arc::clone(&lost),
        );
        let body = body.clone();
        tasks.spawn(async move {
            let mut nonce = 0u64;
            let mut frame = Vec::new();
            let mut signed_at = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Re-signed every second, to stay inside the miner's 30 s clock skew.
                let now = unix_ms();
                if now.saturating_sub(signed_at) > 1_000 {
                    nonce += 1;
                    signed_at = now;
                    let stamp = Stamp {
                        nonce,
                        timestamp_ms: now,
                    };
                    let request = Envelope::request(
                        &key,
                        target.hotkey,
                        RequestKind::Task,
                        RequestId(nonce),
                        stamp,
                        body.clone(),
                    );
                    frame = encode_frame_to_vec(&request, MAX_FRAME_BYTES).expect("frame");
                }
                let Ok((mut send, mut recv)) = connection.open_bi().await else {
                    break;
                };
                if send.write_all(&frame).await.is_err() || send.finish().is_err() {
                    break;
                }
                sent.fetch_add(1, Ordering::Relaxed);
                let answer = recv
                    .read_to_end(MAX_ANSWER_FRAME_BYTES + 4)
                    .await
                    .ok()
                    .and_then(|bytes| decode_frame(&bytes, MAX_ANSWER_FRAME_BYTES).ok());
                match answer {
                    Some(a)
                        if a.header().kind == MessageKind::ErrorAnswer
                            && RejectReason::from_body(a.body())
                                == Some(RejectReason::NotRegistered) =>
                    {
                        not_registered.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(_) => {
                        other.fetch_add(1, Ordering::Relaxed);
                    }
                    // No answer: the stream or connection broke (the attack is stopping, or the
                    // miner closed an idle or excess connection).
                    None => {
                        lost.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
            }
            connection.close(0u32.into(), b"done");
        });
    }
    Attack {
        stop,
        outcome,
        tasks,
        endpoints,
        sent,
        not_registered,
        other,
        lost,
    }
}

fn seed(i: usize) -> [u8; 32] {
    let mut seed = [0xA7; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    seed
}

impl Attack {
    /// Stops every attacking connection and reports what it got.
    pub(crate) async fn finish(mut self) -> AttackOutcome {
        self.stop.store(true, Ordering::Relaxed);
        while self.tasks.join_next().await.is_some() {}
        for endpoint in &self.endpoints {
            endpoint.wait_idle().await;
        }
        self.outcome.sent = self.sent.load(Ordering::Relaxed);
        self.outcome.not_registered = self.not_registered.load(Ordering::Relaxed);
        self.outcome.other = self.other.load(Ordering::Relaxed);
        self.outcome.lost = self.lost.load(Ordering::Relaxed);
        self.outcome
    }
}

/// The `q` quantile (0..=1) of `latencies` (sorted in place).
pub(crate) fn quantile(latencies: &mut [Duration], q: f64) -> Duration {
    latencies.sort();
    let last = latencies.len().saturating_sub(1);
    let at = ((last as f64) * q).round() as usize;
    latencies.get(at).copied().unwrap_or_default()
}
