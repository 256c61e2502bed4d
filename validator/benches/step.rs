//! One validator step against 256 miners: lightweight in-process QUIC servers speaking the real
//! protocol (signed envelopes, pinned certificates, the default task's codec and checks) that
//! answer from a precomputed distribution, so inference is excluded.
//!
//! The validator runs on a current-thread runtime on the main thread (its QUIC endpoint
//! driver included); the miners run on their own runtime. The main thread's CPU time over a
//! step, divided by the requests sent, is the validator's CPU per query: request building and
//! encoding, signing, QUIC and TLS, answer verification, decoding and shape checks, scoring,
//! moving averages and the database write. Spot checks (inference) are off.
//!
//! Prints a table; not a timed test. `cargo bench -p subnet-validator --bench step`
//! (`-- --quick` for fewer repetitions).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use subnet_chain_client::{Chain, EmbeddedChain, EmbeddedConfig, Genesis, ReceiptExt};
use subnet_miner::load_lm;
use subnet_models::Cpu;
use subnet_protocol::ainft::Digest;
use subnet_protocol::chain::{AxonInfo, Hyperparameters, TOKEN};
use subnet_protocol::ids::{NetUid, Rao};
use subnet_protocol::keys::{Keypair, PublicKey};
use subnet_protocol::net::{Client, Handler, NetConfig, Server, ServerCert};
use subnet_protocol::task::{
    ModelInfo, NextByte, NextByteAnswer, NextByteRequest, Task, WeightsChunk, WeightsRequest,
    decode, encode,
};
use subnet_protocol::{PROTOCOL_VERSION, RejectReason, RequestKind, VerifiedRequest};
use subnet_validator::{Config, DevKey, KeySource, QueryResult, Validator};

const MINERS: usize = 256;
const IN_FLIGHT: usize = 64;
/// Scored positions per request by default (8 KiB answers); `STEP_SCORED` overrides.
const SCORED: usize = 8;

/// A miner without a model: serves a real checkpoint's identity, answers every task request
/// with one precomputed valid distribution.
struct Canned {
    info: Vec<u8>,
    weights: Arc<Vec<u8>>,
    file_digest: Digest,
    /// Answer bodies by scored-position count.
    answers: Arc<Vec<Vec<u8>>>,
}

impl Handler for Canned {
    async fn handle(&self, request: VerifiedRequest) -> Result<Vec<u8>, RejectReason> {
        match request.kind() {
            RequestKind::Task => {
                let task = NextByte
                    .decode_request(request.body())
                    .map_err(|_| RejectReason::BadRequest)?;
                self.answers
                    .get(usize::from(task.positions()))
                    .cloned()
                    .ok_or(RejectReason::BadRequest)
            }
            RequestKind::ModelInfo => Ok(self.info.clone()),
            RequestKind::Weights => {
                let ask: WeightsRequest =
                    decode::<_, ()>(request.body(), 64).map_err(|_| RejectReason::BadRequest)?;
                let start = usize::try_from(ask.offset)
                    .unwrap_or(usize::MAX)
                    .min(self.weights.len());
                let end = (start + ask.max_bytes as usize).min(self.weights.len());
                let chunk = WeightsChunk {
                    offset: ask.offset,
                    total_bytes: self.weights.len() as u64,
                    file_digest: self.file_digest,
                    data: self.weights[start..end].to_vec(),
                };
                encode::<_, ()>(&chunk, usize::MAX).map_err(|_| RejectReason::Internal)
            }
            RequestKind::Health => Err(RejectReason::Unsupported),
        }
    }
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

struct Row {
    requests_per_miner: usize,
    queries: usize,
    ok: usize,
    wall: Duration,
    slowest: Duration,
    cpu: Duration,
}

fn main() -> anyhow::Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let repeats = if quick { 1 } else { 3 };
    // `STEP_REQUESTS=8` runs one row only (for profiling).
    let per_miner: Vec<usize> = match std::env::var("STEP_REQUESTS") {
        Ok(v) => vec![v.parse().context("STEP_REQUESTS")?],
        Err(_) => vec![1, 4, 8],
    };
    let scored: usize = match std::env::var("STEP_SCORED") {
        Ok(v) => v.parse().context("STEP_SCORED")?,
        Err(_) => SCORED,
    };
    let servers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("miners")
        .enable_all()
        .build()?;
    let validator_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    // The chain and the miners.
    let checkpoint = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/checkpoints/tiny.mpk");
    let (chain, netuid, _servers, targets) = validator_rt.block_on(async {
        let chain = EmbeddedChain::with_config(
            &Genesis::dev(),
            EmbeddedConfig {
                auto_advance: true,
                ..EmbeddedConfig::default()
            },
        )?;
        let hp = Hyperparameters {
            tempo: 1000,
            burn: Rao(1),
            max_allowed_uids: 512,
            max_allowed_validators: 1,
            immunity_period: 100_000,
            ..Hyperparameters::default()
        };
        let (owner, eve) = (Keypair::dev("charlie"), Keypair::dev("eve"));
        let netuid = chain
            .create_subnet(&owner, hp)
            .await?
            .created_netuid()
            .context("netuid")?;
        let validator = Keypair::dev("bench-validator");
        chain
            .register(&eve, netuid, validator.public(), None)
            .await?;
        chain
            .add_stake(&eve, validator.public(), Rao(1000 * TOKEN.0))
            .await?;
        let served = load_lm::<Cpu>(&checkpoint, Default::default(), None)?;
        let genesis = chain.info().await?.genesis_hash;
        let manifest =
            subnet_miner::manifest(served.data, served.model, NextByte::NAME, netuid, genesis);
        let ainft = chain
            .register_ainft(&eve, manifest.clone())
            .await?
            .created_ainft()
            .context("ainft")?;
        let info = ModelInfo {
            id: ainft,
            manifest,
            weights_bytes: served.weights_file.len() as u64,
            weights_file_digest: Digest::of(&served.weights_file),
            weights_format: served.weights_format,
            metadata: served.metadata,
        };
        let info_body =
            encode::<_, std::convert::Infallible>(&info, usize::MAX).context("model info")?;
        let weights = Arc::new(served.weights_file);
        let answers: Vec<Vec<u8>> = (0..=scored)
            .map(|rows| {
                let uniform = NextByteAnswer::new(vec![-(256f32.ln()); rows * 256]);
                NextByte.encode_answer(&uniform).unwrap_or_default()
            })
            .collect();
        let answers = Arc::new(answers);
        let mut running = Vec::new();
        let mut targets = Vec::new();
        for i in 0..MINERS {
            let key = Keypair::from_seed(&[
                (i % 251) as u8,
                (i / 251) as u8 + 1,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
                7,
            ]);
            let cert = ServerCert::generate()?;
            let handler = Canned {
                info: info_body.clone(),
                weights: Arc::clone(&weights),
                file_digest: info.weights_file_digest,
                answers: Arc::clone(&answers),
            };
            let (server, addr) = {
                let _guard = servers.enter();
                let server = Server::bind(
                    "127.0.0.1:0".parse()?,
                    key.clone(),
                    &cert,
                    NetConfig::default(),
                )?;
                let addr = server.local_addr()?;
                (server, addr)
            };
            running.push(servers.spawn(server.serve(handler, std::future::pending::<()>())));
            chain
                .register(&eve, netuid, key.public(), Some(ainft))
                .await?;
            let axon = AxonInfo {
                ip: addr.ip(),
                port: addr.port(),
                cert_fingerprint: cert.fingerprint(),
                protocol_version: PROTOCOL_VERSION,
            };
            chain.serve_axon(&key, netuid, axon).await?;
            targets.push((addr, cert.fingerprint(), key.public()));
        }
        chain.advance_blocks(1001)?;
        anyhow::Ok((chain, netuid, running, targets))
    })?;

    let mut rows = Vec::new();
    for requests_per_miner in per_miner {
        let dir = tempfile::tempdir()?;
        let config = Config {
            hotkey: KeySource::Dev(DevKey {
                dev: "bench-validator".into(),
            }),
            netuid: NetUid(netuid.0),
            bind: "127.0.0.1:0".parse()?,
            sample_size: MINERS,
            requests_per_miner,
            request_timeout: Duration::from_secs(30),
            context_len: 64,
            scored_positions: u16::try_from(scored)?,
            spot_check_rate: 0.0,
            seed: Some(1),
            data_dir: dir.path().to_path_buf(),
            max_in_flight: IN_FLIGHT,
            ..Config::default()
        };
        validator_rt.block_on(async {
            let mut v = Validator::start(config, chain.clone()).await?;
            // Warm-up: verifies every miner (model info, one weights download) and connects.
            let warm = v.step().await?;
            anyhow::ensure!(
                warm.queried.len() == MINERS,
                "only {} verified",
                warm.queried.len()
            );
            for _ in 0..repeats {
                let cpu0 = thread_cpu();
                let report = v.step().await?;
                let cpu = thread_cpu() - cpu0;
                let queries: usize = report.results.values().sum();
                rows.push(Row {
                    requests_per_miner,
                    queries,
                    ok: report.results.get(&QueryResult::Ok).copied().unwrap_or(0),
                    wall: report.took,
                    slowest: report.slowest_answer,
                    cpu,
                });
            }
            anyhow::Ok(())
        })?;
    }

    // The same calls through the protocol's client alone, then with the task's decoding and
    // checks: what the validator adds on top is the difference.
    let mut baselines = Vec::new();
    for decode in [false, true] {
        let cpu = validator_rt.block_on(protocol_only(&targets, 8, scored, decode))?;
        baselines.push((decode, cpu));
    }

    println!(
        "validator step: {MINERS} miners (in-process QUIC servers, canned answers), \
         {IN_FLIGHT} in flight, context 64 bytes, {scored} scored positions ({} KiB answers)",
        scored
    );
    println!(
        "| requests/miner | queries | ok | step wall | slowest answer | wall / slowest | \
         validator CPU | CPU per query |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.1} ms | {:.1} ms | {:.1}× | {:.1} ms | {:.1} µs |",
            r.requests_per_miner,
            r.queries,
            r.ok,
            r.wall.as_secs_f64() * 1e3,
            r.slowest.as_secs_f64() * 1e3,
            r.wall.as_secs_f64() / r.slowest.as_secs_f64().max(1e-9),
            r.cpu.as_secs_f64() * 1e3,
            r.cpu.as_secs_f64() * 1e6 / r.queries.max(1) as f64,
        );
    }
    for (decode, (queries, cpu)) in &baselines {
        let what = if *decode {
            "protocol client + NextByte decode_answer (shape and normalisation checks)"
        } else {
            "protocol client only (sign, QUIC, verify)"
        };
        println!(
            "{what}: {queries} calls, {:.1} µs CPU per call",
            cpu.as_secs_f64() * 1e6 / (*queries).max(1) as f64
        );
    }
    Ok(())
}

/// `per_miner` calls of one task request to each miner through a bare [`Client`], 64 in
/// flight, after a warm-up call each; returns the calls made and the calling thread's CPU.
async fn protocol_only(
    targets: &[(
        std::net::SocketAddr,
        subnet_protocol::net::CertFingerprint,
        PublicKey,
    )],
    per_miner: usize,
    scored: usize,
    decode: bool,
) -> anyhow::Result<(usize, Duration)> {
    let client = Arc::new(Client::bind(
        "127.0.0.1:0".parse()?,
        Keypair::dev("bench-protocol"),
        NetConfig::default(),
    )?);
    let request = NextByteRequest::new(vec![b'a'; 64], u16::try_from(scored)?)?;
    let body = NextByte.encode_request(&request).context("request")?;
    let request = Arc::new(request);
    let permits = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut cpu = Duration::ZERO;
    let mut calls = 0;
    for round in 0..=per_miner {
        let cpu0 = thread_cpu();
        let mut set = tokio::task::JoinSet::new();
        for &(addr, fingerprint, hotkey) in targets {
            let permit = Arc::clone(&permits).acquire_owned().await?;
            let (client, body, request) = (Arc::clone(&client), body.clone(), Arc::clone(&request));
            set.spawn(async move {
                let _permit = permit;
                let answer = client
                    .call(addr, fingerprint, hotkey, RequestKind::Task, body)
                    .await
                    .ok()?;
                if decode {
                    NextByte.decode_answer(&request, answer.body()).ok()?;
                }
                Some(())
            });
        }
        let mut ok = 0;
        while let Some(done) = set.join_next().await {
            ok += usize::from(matches!(done, Ok(Some(()))));
        }
        anyhow::ensure!(
            ok == targets.len(),
            "{ok} of {} calls succeeded",
            targets.len()
        );
        // Round 0 connects.
        if round > 0 {
            cpu += thread_cpu() - cpu0;
            calls += ok;
        }
    }
    client.close().await;
    Ok((calls, cpu))
}
