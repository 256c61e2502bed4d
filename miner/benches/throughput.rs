//! Miner throughput: answers per second for 64 concurrent requests of a 64-byte context, with
//! and without dynamic batching, over real QUIC on 127.0.0.1 with an embedded chain; and the
//! solver's inference time per batch measured directly, for the fused CPU forward pass the
//! miner serves with and for burn's ndarray backend.
//!
//! `cargo bench -p subnet-miner --bench throughput [-- --rounds N --checkpoint FILE]`
//! prints a Markdown table.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use subnet_chain_client::{Chain, EmbeddedChain, EmbeddedConfig, Genesis, ReceiptExt};
use subnet_miner::client::{MinerTarget, call_task};
use subnet_miner::{Config, DevKey, KeySource, Miner, Solver, load_lm};
use subnet_models::{Cpu, FusedLm, Kernels, load_checkpoint};
use subnet_protocol::chain::{Hyperparameters, TOKEN};
use subnet_protocol::ids::{NetUid, Rao};
use subnet_protocol::keys::Keypair;
use subnet_protocol::net::{Client, NetConfig};
use subnet_protocol::task::{NextByte, NextByteRequest};

const CONCURRENT: usize = 64;
const CONTEXT: usize = 64;

struct Args {
    rounds: usize,
    checkpoint: PathBuf,
}

fn args() -> Args {
    let mut args = Args {
        rounds: 20,
        checkpoint: Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/checkpoints/best.mpk"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--rounds" => args.rounds = it.next().and_then(|v| v.parse().ok()).unwrap_or(20),
            "--checkpoint" => {
                if let Some(v) = it.next() {
                    args.checkpoint = v.into();
                }
            }
            // cargo bench passes --bench; anything else is ignored.
            _ => {}
        }
    }
    args
}

fn corpus_requests(positions: u16) -> Vec<NextByteRequest> {
    let corpus = subnet_models::Corpus::jargon().expect("embedded corpus");
    let text = corpus.eval().to_bytes();
    (0..CONCURRENT)
        .map(|i| {
            let start = (i * 997) % (text.len() - CONTEXT);
            NextByteRequest::new(text[start..start + CONTEXT].to_vec(), positions)
                .expect("valid request")
        })
        .collect()
}

async fn subnet() -> (EmbeddedChain, NetUid, Keypair) {
    let config = EmbeddedConfig {
        auto_advance: true,
        ..EmbeddedConfig::default()
    };
    let chain = EmbeddedChain::with_config(&Genesis::dev(), config).expect("chain");
    let (charlie, dave) = (Keypair::dev("charlie"), Keypair::dev("dave"));
    let hp = Hyperparameters {
        tempo: 4,
        max_allowed_validators: 1,
        ..Hyperparameters::default()
    };
    let netuid = chain
        .create_subnet(&charlie, hp)
        .await
        .expect("subnet")
        .created_netuid()
        .expect("netuid");
    let v = Keypair::from_seed(&[11; 32]);
    chain
        .register(&dave, netuid, v.public(), None)
        .await
        .expect("register");
    chain
        .add_stake(&dave, v.public(), Rao(1000 * TOKEN.0))
        .await
        .expect("stake");
    chain.advance_blocks(5).expect("blocks");
    (chain, netuid, v)
}

struct Row {
    label: String,
    answers_per_s: f64,
    batches: u64,
    mean_batch: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn serve_and_measure(
    chain: &EmbeddedChain,
    netuid: NetUid,
    v: &Keypair,
    args: &Args,
    name: &str,
    max_batch_size: usize,
    positions: u16,
) -> Row {
    let mut config = Config {
        hotkey: KeySource::Dev(DevKey { dev: name.into() }),
        coldkey: KeySource::Dev(DevKey { dev: "eve".into() }),
        netuid,
        listen: "127.0.0.1:0".parse().expect("addr"),
        checkpoint: args.checkpoint.clone(),
        seed: Some(1),
        ..Config::default()
    };
    config.limits.max_batch_size = max_batch_size;
    config.limits.max_batch_wait = Duration::from_millis(2);
    config.limits.requests_per_second = 1e9;
    config.limits.burst = 1_000_000;
    config.limits.queue_depth = 1024;
    let miner = Miner::start(config, chain.clone()).await.expect("miner");
    let target = MinerTarget {
        addr: miner.addr(),
        fingerprint: miner.fingerprint(),
        hotkey: miner.hotkey(),
    };
    let metrics = miner.metrics();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(miner.serve(async move {
        let _ = stopped.await;
    }));
    let client = Arc::new(
        Client::bind(
            "127.0.0.1:0".parse().expect("addr"),
            v.clone(),
            NetConfig::default(),
        )
        .expect("client"),
    );
    let requests = Arc::new(corpus_requests(positions));

    let round = |client: Arc<Client>, requests: Arc<Vec<NextByteRequest>>| async move {
        let calls: Vec<_> = (0..requests.len())
            .map(|i| {
                let (client, requests) = (Arc::clone(&client), Arc::clone(&requests));
                tokio::spawn(async move {
                    let started = Instant::now();
                    call_task(&client, &target, &NextByte, &requests[i])
                        .await
                        .expect("answer");
                    started.elapsed()
                })
            })
            .collect();
        let mut latencies = Vec::with_capacity(calls.len());
        for call in calls {
            latencies.push(call.await.expect("task"));
        }
        latencies
    };
    // Warm-up: connection, caches, allocator.
    round(Arc::clone(&client), Arc::clone(&requests)).await;
    let batches_before = metrics.batches();
    let started = Instant::now();
    let mut latencies = Vec::new();
    for _ in 0..args.rounds {
        latencies.extend(round(Arc::clone(&client), Arc::clone(&requests)).await);
    }
    let elapsed = started.elapsed();
    let batches = metrics.batches() - batches_before;
    latencies.sort();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[i].as_secs_f64() * 1e3
    };
    let answers = (args.rounds * CONCURRENT) as f64;
    client.close().await;
    let _ = stop.send(());
    serving.await.expect("join").expect("serve");
    Row {
        label: format!(
            "{} (max batch {max_batch_size}), {positions} scored position{}",
            if max_batch_size > 1 {
                "batched"
            } else {
                "unbatched"
            },
            if positions == 1 { "" } else { "s" }
        ),
        answers_per_s: answers / elapsed.as_secs_f64(),
        batches,
        mean_batch: answers / batches.max(1) as f64,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
    }
}

/// Times of `solve` on the same 64 requests with burn's ndarray backend or the fused CPU
/// forward pass the miner serves with.
struct Inference {
    /// Mean over the repeats, all 64 requests in one call.
    batched: Duration,
    /// Fastest of the repeats, all 64 requests in one call.
    batched_best: Duration,
    /// Mean over the repeats, one request per call.
    single: Duration,
}

fn direct_inference(
    args: &Args,
    fused: bool,
    positions: u16,
    repeats: usize,
    pass: usize,
) -> Inference {
    let mut solver = load_lm::<Cpu>(&args.checkpoint, Default::default(), None)
        .expect("checkpoint")
        .solver;
    if fused {
        solver = solver.into_fused().expect("fused weights");
    }
    solver.max_sequences_per_pass(pass);
    let requests = corpus_requests(positions);
    let _ = solver.solve(&requests);
    let (batched, batched_best) = timed(repeats, || {
        let answers = solver.solve(&requests);
        assert!(answers.iter().all(Result::is_ok));
    });
    let started = Instant::now();
    for _ in 0..repeats {
        for r in &requests {
            let answers = solver.solve(std::slice::from_ref(r));
            assert!(answers[0].is_ok());
        }
    }
    Inference {
        batched,
        batched_best,
        single: started.elapsed() / repeats as u32,
    }
}

/// Mean and best time of one forward pass over the 64 requests' contexts with `kernels`, or
/// `None` if this CPU cannot run them.
fn fused_kernels(args: &Args, kernels: Kernels, repeats: usize) -> Option<(Duration, Duration)> {
    let model = load_checkpoint::<Cpu>(&args.checkpoint, &Default::default())
        .expect("checkpoint")
        .model;
    let fused = FusedLm::from_model(&model)
        .expect("fused weights")
        .with_kernels(kernels)
        .ok()?;
    let requests = corpus_requests(64);
    let contexts: Vec<&[u8]> = requests.iter().map(NextByteRequest::context).collect();
    let _ = fused.infer(&contexts).expect("forward pass");
    Some(timed(repeats, || {
        let out = fused.infer(&contexts).expect("forward pass");
        assert_eq!(out.batch(), CONCURRENT);
    }))
}

/// Mean and fastest wall time of `repeats` calls of `run`.
fn timed(repeats: usize, mut run: impl FnMut()) -> (Duration, Duration) {
    let (mut total, mut best) = (Duration::ZERO, Duration::MAX);
    for _ in 0..repeats {
        let started = Instant::now();
        run();
        let took = started.elapsed();
        total += took;
        best = best.min(took);
    }
    (total / repeats as u32, best)
}

fn engine(fused: bool) -> &'static str {
    if fused {
        "fused CPU forward pass (served)"
    } else {
        "burn ndarray"
    }
}

fn main() {
    let args = args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "checkpoint: {}; {CONCURRENT} concurrent requests of a {CONTEXT}-byte context, {} rounds per row; {} CPUs",
        args.checkpoint.display(),
        args.rounds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!(
        "| serving | answers/s | batches | mean batch | p50 latency (ms) | p99 latency (ms) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    runtime.block_on(async {
        let (chain, netuid, v) = subnet().await;
        let mut n = 0;
        for positions in [64u16, 1] {
            for max_batch in [1usize, 64] {
                n += 1;
                let row = serve_and_measure(
                    &chain,
                    netuid,
                    &v,
                    &args,
                    &format!("bench-miner-{n}"),
                    max_batch,
                    positions,
                )
                .await;
                println!(
                    "| {} | {:.0} | {} | {:.1} | {:.1} | {:.1} |",
                    row.label,
                    row.answers_per_s,
                    row.batches,
                    row.mean_batch,
                    row.p50_ms,
                    row.p99_ms
                );
            }
        }
    });
    println!();
    println!(
        "| inference only (solver, no network) | one batch of 64, mean | best | 64 batches of 1 | per request, batched | per request, unbatched |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for fused in [true, false] {
        for positions in [64u16, 1] {
            let t = direct_inference(&args, fused, positions, 5, CONCURRENT);
            println!(
                "| {}, {positions} scored position{} | {:.2} ms | {:.2} ms | {:.2} ms | {:.3} ms | {:.3} ms |",
                engine(fused),
                if positions == 1 { "" } else { "s" },
                t.batched.as_secs_f64() * 1e3,
                t.batched_best.as_secs_f64() * 1e3,
                t.single.as_secs_f64() * 1e3,
                t.batched.as_secs_f64() * 1e3 / CONCURRENT as f64,
                t.single.as_secs_f64() * 1e3 / CONCURRENT as f64,
            );
        }
    }
    println!();
    println!(
        "| fused kernels (64 requests, 64 positions, one pass) | one batch of 64, mean | best |"
    );
    println!("| --- | ---: | ---: |");
    for kernels in [Kernels::Avx512, Kernels::Avx2, Kernels::Portable] {
        if let Some(t) = fused_kernels(&args, kernels, 5) {
            println!(
                "| {kernels}{} | {:.2} ms | {:.2} ms |",
                if kernels == Kernels::detect() {
                    " (served)"
                } else {
                    ""
                },
                t.0.as_secs_f64() * 1e3,
                t.1.as_secs_f64() * 1e3,
            );
        }
    }
    println!();
    println!(
        "| sequences per forward pass (64 requests, 64 positions) | fused: time per batch of 64 | burn: time per batch of 64 |"
    );
    println!("| ---: | ---: | ---: |");
    for pass in [1usize, 2, 4, 8, 16, 32, 64] {
        let fused = direct_inference(&args, true, 64, 5, pass).batched;
        let burn = direct_inference(&args, false, 64, 5, pass).batched;
        println!(
            "| {pass} | {:.2} ms | {:.2} ms |",
            fused.as_secs_f64() * 1e3,
            burn.as_secs_f64() * 1e3,
        );
    }
}
