//! Round trips on 127.0.0.1: signed request/answer calls through `Client` and `Server`, against
//! a bare quinn echo with the same crypto and transport settings (the ceiling), in one run.
//!
//! Run: `cargo bench -p subnet-protocol --features net --bench roundtrip`. Prints a table; not a
//! timed test. Each mode runs `ROUNDTRIP_ROUNDS` times (default 3), interleaved with the other
//! modes so that background load hits them alike, and the fastest round of each is reported.
//! `ROUNDTRIP_CALLS` sets the calls per round with 64 in flight (default 20,000; a quarter of
//! that sequentially). The CPU column is the process's CPU time per call (client, server and
//! quinn together, Linux only): unlike calls/s it does not depend on what else the machine runs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use quinn::{Endpoint, RecvStream, SendStream};
use subnet_protocol::net::{
    CertFingerprint, Client, Handler, NetConfig, Server, ServerCert, quinn_client_config,
    quinn_server_config,
};
use subnet_protocol::{Keypair, PublicKey, RejectReason, RequestKind, VerifiedRequest};
use tokio::task::JoinSet;

const BODY_BYTES: usize = 256;
const IN_FLIGHT: usize = 64;

struct Echo;

impl Handler for Echo {
    async fn handle(&self, request: VerifiedRequest) -> Result<Vec<u8>, RejectReason> {
        Ok(request.into_body())
    }
}

/// One measured mode: its name, the wall time of the whole run, the process CPU time it used
/// (client, server and quinn together; `None` off Linux) and each call's latency.
struct Run {
    name: &'static str,
    wall: Duration,
    cpu: Option<Duration>,
    latencies: Vec<Duration>,
}

impl Run {
    /// CPU time per call, in µs: unlike calls/s, this does not depend on how much of the machine
    /// other processes take.
    fn cpu_per_call(&self) -> Option<f64> {
        self.cpu
            .map(|cpu| micros(cpu) / self.latencies.len() as f64)
    }

    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[index]
    }
}

/// Something that can make one 256-byte round trip.
trait RoundTrip: Send + Sync + 'static {
    fn once(&self) -> impl std::future::Future<Output = ()> + Send;
}

struct Signed {
    client: Client,
    addr: SocketAddr,
    fingerprint: CertFingerprint,
    hotkey: PublicKey,
}

impl RoundTrip for Signed {
    async fn once(&self) {
        let answer = self
            .client
            .call(
                self.addr,
                self.fingerprint,
                self.hotkey,
                RequestKind::Task,
                vec![7; BODY_BYTES],
            )
            .await
            .expect("signed call");
        assert_eq!(answer.body().len(), BODY_BYTES);
    }
}

struct Bare {
    connection: quinn::Connection,
}

impl RoundTrip for Bare {
    async fn once(&self) {
        let (mut send, mut recv) = self.connection.open_bi().await.expect("open stream");
        let mut frame = Vec::with_capacity(4 + BODY_BYTES);
        frame.extend_from_slice(&(BODY_BYTES as u32).to_le_bytes());
        frame.extend_from_slice(&[7; BODY_BYTES]);
        send.write_all(&frame).await.expect("write");
        send.finish().expect("finish");
        let answer = read_frame(&mut recv).await;
        assert_eq!(answer.len(), BODY_BYTES);
    }
}

async fn read_frame(recv: &mut RecvStream) -> Vec<u8> {
    let mut prefix = [0u8; 4];
    recv.read_exact(&mut prefix).await.expect("read prefix");
    let mut payload = vec![0; u32::from_le_bytes(prefix) as usize];
    recv.read_exact(&mut payload).await.expect("read payload");
    payload
}

async fn bare_echo_stream(mut send: SendStream, mut recv: RecvStream) {
    let payload = read_frame(&mut recv).await;
    let mut frame = Vec::with_capacity(4 + payload.len());
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&payload);
    // The client may already be gone at the end of the run.
    let _ = send.write_all(&frame).await;
    let _ = send.finish();
}

fn start_bare_server(cert: &ServerCert, config: &NetConfig) -> (Endpoint, SocketAddr) {
    let server_config = quinn_server_config(cert, config).expect("server config");
    let endpoint = Endpoint::server(server_config, localhost()).expect("bind bare server");
    let addr = endpoint.local_addr().expect("bare addr");
    let accepting = endpoint.clone();
    tokio::spawn(async move {
        while let Some(incoming) = accepting.accept().await {
            tokio::spawn(async move {
                let Ok(connection) = incoming.await else {
                    return;
                };
                while let Ok((send, recv)) = connection.accept_bi().await {
                    tokio::spawn(bare_echo_stream(send, recv));
                }
            });
        }
    });
    (endpoint, addr)
}

async fn measure<R: RoundTrip>(
    name: &'static str,
    target: Arc<R>,
    calls: usize,
    in_flight: usize,
) -> Run {
    let per_task = calls / in_flight;
    let cpu_start = process_cpu();
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..in_flight {
        let target = Arc::clone(&target);
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(per_task);
            for _ in 0..per_task {
                let t = Instant::now();
                target.once().await;
                latencies.push(t.elapsed());
            }
            latencies
        });
    }
    let mut latencies = Vec::with_capacity(calls);
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.expect("bench task"));
    }
    let wall = start.elapsed();
    let cpu = process_cpu()
        .zip(cpu_start)
        .map(|(end, start)| end.saturating_sub(start));
    Run {
        name,
        wall,
        cpu,
        latencies,
    }
}

/// User plus system CPU time of this process, from `/proc/self/stat` (Linux; 10 ms ticks).
fn process_cpu() -> Option<Duration> {
    const TICKS_PER_SECOND: u64 = 100; // USER_HZ, fixed at 100 in Linux's user-space ABI
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // Fields 14 and 15 of proc(5), counted from 3 after the command name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis(
        (utime + stime) * 1000 / TICKS_PER_SECOND,
    ))
}

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().expect("address")
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Single-threaded cost of the four signature operations each call makes.
fn crypto_costs() -> (Duration, Duration) {
    let kp = Keypair::from_seed(&[1; 32]);
    let message = [9u8; 141];
    let n = 2000;
    let start = Instant::now();
    let mut sig = kp.sign(&message);
    for _ in 0..n {
        sig = kp.sign(std::hint::black_box(&message));
    }
    let sign = start.elapsed() / n;
    let vk = kp.verifying_key();
    let start = Instant::now();
    for _ in 0..n {
        PublicKey::verify_with(&vk, std::hint::black_box(&message), &sig).expect("verifies");
    }
    (sign, start.elapsed() / n)
}

fn main() {
    let scale: usize = std::env::var("ROUNDTRIP_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let rounds: usize = std::env::var("ROUNDTRIP_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("runtime");
    let crypto = std::env::var("ROUNDTRIP_CRYPTO").map_or(true, |v| v != "0");
    let (sign, verify) = if crypto {
        (0..3)
            .map(|_| crypto_costs())
            .min_by_key(|(sign, verify)| *sign + *verify)
            .expect("three samples")
    } else {
        (Duration::ZERO, Duration::ZERO)
    };
    // `ROUNDTRIP_MODES=signed-64` (a comma list of bare-seq, signed-seq, bare-64, signed-64)
    // runs only those modes, e.g. to count one mode's instructions under valgrind.
    let modes = std::env::var("ROUNDTRIP_MODES")
        .unwrap_or_else(|_| "bare-seq,signed-seq,bare-64,signed-64".to_owned());
    let wanted = |mode: &str| modes.split(',').any(|m| m.trim() == mode);
    let runs = runtime.block_on(async {
        let config = NetConfig::default();
        let cert = ServerCert::generate().expect("certificate");

        let server_key = Keypair::from_seed(&[2; 32]);
        let hotkey = server_key.public();
        let server = Server::bind(localhost(), server_key, &cert, config.clone()).expect("bind");
        let addr = server.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve(Echo, async move {
            let _ = stopped.await;
        }));
        let client = Client::bind(localhost(), Keypair::from_seed(&[1; 32]), config.clone())
            .expect("client");
        let signed = Arc::new(Signed {
            client,
            addr,
            fingerprint: cert.fingerprint(),
            hotkey,
        });

        let (bare_endpoint, bare_addr) = start_bare_server(&cert, &config);
        let mut client_endpoint = Endpoint::client(localhost()).expect("bare client");
        client_endpoint.set_default_client_config(
            quinn_client_config(cert.fingerprint().into(), &config).expect("client config"),
        );
        let connection = client_endpoint
            .connect(bare_addr, subnet_protocol::net::SERVER_NAME)
            .expect("connect")
            .await
            .expect("handshake");
        let bare = Arc::new(Bare { connection });

        // Warm up connections, caches and allocators.
        measure("warm-up", Arc::clone(&bare), 1000, 8).await;
        measure("warm-up", Arc::clone(&signed), 1000, 8).await;

        let sequential = (scale / 4).max(1);
        // Per mode, the fastest of `rounds` rounds; rounds interleave the modes so that
        // background load hits them alike.
        let mut best: Vec<Option<Run>> = (0..4).map(|_| None).collect();
        for _ in 0..rounds.max(1) {
            let mut round = Vec::new();
            if wanted("bare-seq") {
                round.push((
                    0,
                    measure("bare quinn, sequential", Arc::clone(&bare), sequential, 1).await,
                ));
            }
            if wanted("signed-seq") {
                round.push((
                    1,
                    measure("signed, sequential", Arc::clone(&signed), sequential, 1).await,
                ));
            }
            if wanted("bare-64") {
                round.push((
                    2,
                    measure(
                        "bare quinn, 64 in flight",
                        Arc::clone(&bare),
                        scale,
                        IN_FLIGHT,
                    )
                    .await,
                ));
            }
            if wanted("signed-64") {
                round.push((
                    3,
                    measure(
                        "signed, 64 in flight",
                        Arc::clone(&signed),
                        scale,
                        IN_FLIGHT,
                    )
                    .await,
                ));
            }
            for (slot, run) in round {
                let keep = best[slot].as_ref().is_none_or(|b| run.rate() > b.rate());
                if keep {
                    best[slot] = Some(run);
                }
            }
        }

        signed.client.close().await;
        bare.connection.close(0u32.into(), b"done");
        let _ = stop.send(());
        serving.await.expect("server task");
        bare_endpoint.close(0u32.into(), b"done");
        best
    });

    println!(
        "\nprotocol round trips on 127.0.0.1, {BODY_BYTES}-byte bodies, {threads} runtime threads, \
         best of {rounds} rounds"
    );
    println!(
        "single-thread crypto: sign {:.1} µs, verify {:.1} µs (each call: 2 signs + 2 verifies)\n",
        micros(sign),
        micros(verify)
    );
    println!(
        "| {:<26} | {:>7} | {:>9} | {:>8} | {:>8} | {:>11} |",
        "mode", "calls", "calls/s", "p50 µs", "p99 µs", "CPU µs/call"
    );
    println!(
        "|{:-<28}|{:->9}|{:->11}|{:->10}|{:->10}|{:->13}|",
        "", "", "", "", "", ""
    );
    for run in runs.iter().flatten() {
        let cpu = run
            .cpu_per_call()
            .map_or_else(|| "n/a".to_owned(), |c| format!("{c:.1}"));
        println!(
            "| {:<26} | {:>7} | {:>9.0} | {:>8.1} | {:>8.1} | {:>11} |",
            run.name,
            run.latencies.len(),
            run.rate(),
            micros(run.percentile(0.50)),
            micros(run.percentile(0.99)),
            cpu,
        );
    }
    let ratio = |signed: &Run, bare: &Run| signed.rate() / bare.rate();
    if let (Some(signed), Some(bare)) = (&runs[1], &runs[0]) {
        println!(
            "\nsigned / bare, calls/s, sequential: {:.2}x",
            ratio(signed, bare)
        );
    }
    if let (Some(signed), Some(bare)) = (&runs[3], &runs[2]) {
        println!(
            "signed / bare, calls/s, 64 in flight: {:.2}x (target >= 0.25x)",
            ratio(signed, bare)
        );
        if let (Some(s), Some(b)) = (signed.cpu_per_call(), bare.cpu_per_call()) {
            println!(
                "signed / bare at equal CPU (64 in flight, bare CPU per call / signed CPU per \
                 call): {:.2}x",
                b / s
            );
        }
    }
}
