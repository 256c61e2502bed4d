//! The "16 floats in, 16 floats out" benchmark of `bench/bittensor/run.sh`, on this project's
//! stack: a signed task request over QUIC to a `Server` whose `Handler` admits one validator
//! hotkey, decodes the request with a [`Task`], answers, and signs the answer; the `Client`
//! verifies the signed answer and decodes it with the same task. Server and client are two
//! processes, as Bittensor's Axon and Dendrite are in the same benchmark.
//!
//! ```sh
//! synapse16 serve [--threads T]        # prints "READY <addr> <fingerprint>", serves until killed
//! synapse16 query --addr A --fingerprint F --server-pid P [--threads T] \
//!     [--sequential 2000] [--concurrent 10000] [--in-flight 64] [--warmup 500]
//! ```
//!
//! `--threads 0` runs a current-thread tokio runtime, `--threads N` a multi-thread one with N
//! workers; the default is a multi-thread runtime with one worker per CPU, as the miner and
//! validator binaries use.
//!
//! `query` prints one JSON line per mode (sequential, then `--in-flight` concurrent calls):
//! requests, errors, wall seconds, p50/p99 latency in µs, and the CPU seconds (user + system,
//! from `/proc`) the client process and the server process used during that mode.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use subnet_protocol::net::{CertFingerprint, Client, Handler, NetConfig, Server, ServerCert};
use subnet_protocol::task::Task;
use subnet_protocol::{Keypair, PublicKey, RejectReason, RequestKind, VerifiedRequest};
use tokio::task::JoinSet;

/// Floats in a request and in an answer.
const WIDTH: usize = 16;

/// The validator's and the miner's keys: fixed seeds, so both processes know both hotkeys
/// without a chain (Bittensor's side derives its keys from fixed URIs the same way).
const VALIDATOR_SEED: [u8; 32] = [1; 32];
const MINER_SEED: [u8; 32] = [2; 32];

/// The benchmark's task: 16 finite floats in, 16 floats out (`2x + 1`, as on the Python side).
struct Synapse16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a value is not finite")]
struct NotFinite;

impl Task for Synapse16 {
    const NAME: &'static str = "synapse16";
    // postcard writes an f32 as 4 bytes and a fixed array without a length.
    const MAX_REQUEST_BYTES: usize = 4 * WIDTH;
    const MAX_ANSWER_BYTES: usize = 4 * WIDTH;

    type Request = [f32; WIDTH];
    type Answer = [f32; WIDTH];
    type Error = NotFinite;

    fn check_request(&self, request: &Self::Request) -> Result<(), NotFinite> {
        request
            .iter()
            .all(|v| v.is_finite())
            .then_some(())
            .ok_or(NotFinite)
    }

    fn check_answer(
        &self,
        _request: &Self::Request,
        answer: &Self::Answer,
    ) -> Result<(), NotFinite> {
        answer
            .iter()
            .all(|v| v.is_finite())
            .then_some(())
            .ok_or(NotFinite)
    }
}

fn forward(x: &[f32; WIDTH]) -> [f32; WIDTH] {
    x.map(|v| 2.0 * v + 1.0)
}

/// The miner side: admits only the validator's hotkey (the analogue of the Axon's blacklist
/// function), then decodes, computes and encodes.
struct Miner {
    validator: PublicKey,
}

impl Handler for Miner {
    fn admit(&self, sender: &PublicKey, kind: RequestKind) -> Result<(), RejectReason> {
        if *sender != self.validator {
            return Err(RejectReason::NotRegistered);
        }
        if kind != RequestKind::Task {
            return Err(RejectReason::BadRequest);
        }
        Ok(())
    }

    async fn handle(&self, request: VerifiedRequest) -> Result<Vec<u8>, RejectReason> {
        let x = Synapse16
            .decode_request(request.body())
            .map_err(|_| RejectReason::BadRequest)?;
        Synapse16
            .encode_answer(&forward(&x))
            .map_err(|_| RejectReason::Internal)
    }
}

/// One mode's measurements, printed as one JSON line.
struct Measured {
    mode: &'static str,
    in_flight: usize,
    errors: usize,
    wall: Duration,
    latencies: Vec<Duration>,
    client_cpu: f64,
    server_cpu: f64,
}

impl Measured {
    fn json(&self) -> String {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let pct = |p: f64| {
            let last = sorted.len().saturating_sub(1);
            let index = ((last as f64) * p).round() as usize;
            sorted.get(index).map_or(0.0, |d| d.as_secs_f64() * 1e6)
        };
        serde_json::json!({
            "stack": "ours",
            "mode": self.mode,
            "in_flight": self.in_flight,
            "requests": self.latencies.len(),
            "errors": self.errors,
            "wall_s": self.wall.as_secs_f64(),
            "p50_us": pct(0.50),
            "p99_us": pct(0.99),
            "client_cpu_s": self.client_cpu,
            "server_cpu_s": self.server_cpu,
        })
        .to_string()
    }
}

/// User + system CPU seconds of process `pid` ("self" for this one), from `/proc/PID/stat`.
fn cpu_seconds(pid: &str) -> f64 {
    const TICKS_PER_SECOND: f64 = 100.0; // USER_HZ, fixed at 100 in Linux's user-space ABI
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // Fields 14 and 15 of proc(5); the command name (field 2) may hold spaces.
    let Some(rest) = stat.rfind(')').and_then(|i| stat.get(i + 2..)) else {
        return f64::NAN;
    };
    let fields: Vec<&str> = rest.split(' ').collect();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    match (field(11), field(12)) {
        (Some(user), Some(system)) => (user + system) / TICKS_PER_SECOND,
        _ => f64::NAN,
    }
}

struct Target {
    client: Client,
    addr: SocketAddr,
    fingerprint: CertFingerprint,
    miner: PublicKey,
}

impl Target {
    /// One call; `Err` if it failed or the answer was wrong.
    async fn once(&self, seed: usize) -> Result<(), String> {
        let x: [f32; WIDTH] = std::array::from_fn(|i| (seed.wrapping_add(i) % 1000) as f32 * 0.5);
        let body = Synapse16.encode_request(&x).map_err(|e| e.to_string())?;
        let answer = self
            .client
            .call(
                self.addr,
                self.fingerprint,
                self.miner,
                RequestKind::Task,
                body,
            )
            .await
            .map_err(|e| e.to_string())?;
        let y = Synapse16
            .decode_answer(&x, answer.body())
            .map_err(|e| e.to_string())?;
        if y == forward(&x) {
            Ok(())
        } else {
            Err("wrong answer".to_owned())
        }
    }
}

async fn measure(
    target: &Arc<Target>,
    mode: &'static str,
    requests: usize,
    in_flight: usize,
    server_pid: &str,
) -> Measured {
    let in_flight = in_flight.clamp(1, requests.max(1));
    let (client_start, server_start) = (cpu_seconds("self"), cpu_seconds(server_pid));
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for worker in 0..in_flight {
        let target = Arc::clone(target);
        // Spread `requests` over the workers; the first ones take the remainder.
        let share = requests / in_flight + usize::from(worker < requests % in_flight);
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(share);
            let mut errors = Vec::new();
            for i in 0..share {
                let t = Instant::now();
                match target.once(worker * 1_000_003 + i).await {
                    Ok(()) => latencies.push(t.elapsed()),
                    Err(e) => errors.push(e),
                }
            }
            (latencies, errors)
        });
    }
    let mut latencies = Vec::with_capacity(requests);
    let mut errors = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (l, e) = done.expect("bench worker");
        latencies.extend(l);
        errors.extend(e);
    }
    let wall = start.elapsed();
    let (client_end, server_end) = (cpu_seconds("self"), cpu_seconds(server_pid));
    if let Some(first) = errors.first() {
        eprintln!("synapse16 {mode}: {} errors, first: {first}", errors.len());
    }
    Measured {
        mode,
        in_flight,
        errors: errors.len(),
        wall,
        latencies,
        client_cpu: client_end - client_start,
        server_cpu: server_end - server_start,
    }
}

/// `--name value` from the arguments, parsed, or `default`.
fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: Option<T>) -> T {
    let found = args
        .iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1));
    match (found, default) {
        (Some(v), _) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}: cannot parse {v:?}")),
        (None, Some(d)) => d,
        (None, None) => panic!("missing {name}"),
    }
}

fn localhost() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn serve(args: &[String]) {
    let addr: SocketAddr = arg(args, "--addr", Some(localhost()));
    let cert = ServerCert::generate().expect("certificate");
    let server = Server::bind(
        addr,
        Keypair::from_seed(&MINER_SEED),
        &cert,
        NetConfig::default(),
    )
    .expect("bind");
    let bound = server.local_addr().expect("local address");
    println!("READY {bound} {}", cert.fingerprint());
    let miner = Miner {
        validator: Keypair::from_seed(&VALIDATOR_SEED).public(),
    };
    server.serve(miner, std::future::pending()).await;
}

async fn query(args: &[String]) {
    let server_pid: String = arg(args, "--server-pid", None);
    let sequential: usize = arg(args, "--sequential", Some(2_000));
    let concurrent: usize = arg(args, "--concurrent", Some(10_000));
    let in_flight: usize = arg(args, "--in-flight", Some(64));
    let warmup: usize = arg(args, "--warmup", Some(500));
    let client = Client::bind(
        localhost(),
        Keypair::from_seed(&VALIDATOR_SEED),
        NetConfig::default(),
    )
    .expect("client");
    let target = Arc::new(Target {
        client,
        addr: arg(args, "--addr", None),
        fingerprint: arg(args, "--fingerprint", None),
        miner: Keypair::from_seed(&MINER_SEED).public(),
    });
    // Connection, caches and allocators warm, as on the Python side.
    let warm = measure(&target, "warm-up", warmup, 8, &server_pid).await;
    assert_eq!(warm.errors, 0, "warm-up calls failed");
    for run in [
        measure(&target, "sequential", sequential, 1, &server_pid).await,
        measure(&target, "concurrent", concurrent, in_flight, &server_pid).await,
    ] {
        println!("{}", run.json());
    }
    target.client.close().await;
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `--threads 0`: a current-thread runtime (endpoint driver and calls on one thread);
    // otherwise a multi-thread runtime with that many workers (default: one per CPU).
    let threads: usize = arg(&args, "--threads", Some(usize::MAX));
    let runtime = match threads {
        0 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        usize::MAX => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    }
    .expect("tokio runtime");
    match args.first().map(String::as_str) {
        Some("serve") => runtime.block_on(serve(&args)),
        Some("query") => runtime.block_on(query(&args)),
        _ => {
            eprintln!(
                "usage: synapse16 serve [--addr A] | synapse16 query --addr A --fingerprint F --server-pid P [--sequential N] [--concurrent N] [--in-flight N] [--warmup N]"
            );
            std::process::exit(2);
        }
    }
}
