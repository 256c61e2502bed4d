//! Honest validators' latency while an attacker floods the miner with connections from
//! unregistered keys. One miner (embedded chain, the tiny checkpoint), four validators with
//! permits on `127.0.0.2..5`, and an attacker opening `--connections` QUIC connections from
//! `127.0.1.x` (16 per address, the miner's per-address limit) that send correctly signed task
//! requests from unregistered keys on every connection the miner accepts.
//!
//! `cargo bench -p subnet-miner --bench attack [-- --connections 1000 --requests 300]` prints a
//! Markdown table: honest p50/p99 without the attack, under a paced attack (one request per
//! connection every 10 ms) and under a flood (no pause), and what the attacker got.

use std::path::{Path, PathBuf};
use std::time::Duration;

mod scenario;

use scenario::{AttackOutcome, quantile, setup, start_attack};

struct Args {
    connections: usize,
    requests: usize,
    checkpoint: PathBuf,
}

fn args() -> Args {
    let mut args = Args {
        connections: 1000,
        requests: 300,
        checkpoint: Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/checkpoints/tiny.mpk"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_default();
        match arg.as_str() {
            "--connections" => args.connections = value().parse().unwrap_or(args.connections),
            "--requests" => args.requests = value().parse().unwrap_or(args.requests),
            "--checkpoint" => args.checkpoint = value().into(),
            // cargo bench passes --bench; anything else is ignored.
            _ => {}
        }
    }
    args
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let args = args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let setup = setup(&args.checkpoint).await;
        let clients = setup.honest_clients().await;
        // Warm-up: connections, key caches, allocator.
        let _ = setup.honest_run(&clients, 20).await;

        println!(
            "| run | honest requests | wrong or failed | honest p50 (ms) | honest p99 (ms) | p99 / baseline | attacker connections accepted / refused | attacker requests | answered not_registered | other answers | unanswered |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |");
        let (mut base, wrong) = setup.honest_run(&clients, args.requests).await;
        let base_p99 = quantile(&mut base, 0.99);
        println!(
            "| no attack | {} | {wrong} | {:.2} | {:.2} | 1.00 | - | - | - | - | - |",
            base.len(),
            ms(quantile(&mut base, 0.5)),
            ms(base_p99),
        );
        for (label, pause) in [
            ("attack, paced (10 ms)", Duration::from_millis(10)),
            ("attack, flood", Duration::ZERO),
        ] {
            let attack = start_attack(&setup, args.connections, pause).await;
            let (mut under, wrong) = setup.honest_run(&clients, args.requests).await;
            let outcome: AttackOutcome = attack.finish().await;
            let p99 = quantile(&mut under, 0.99);
            println!(
                "| {label} | {} | {wrong} | {:.2} | {:.2} | {:.2} | {} / {} (failed {}) | {} | {} | {} | {} |",
                under.len(),
                ms(quantile(&mut under, 0.5)),
                ms(p99),
                p99.as_secs_f64() / base_p99.as_secs_f64().max(1e-9),
                outcome.accepted,
                outcome.refused,
                outcome.failed,
                outcome.sent,
                outcome.not_registered,
                outcome.other,
                outcome.lost,
            );
        }
        for client in &clients {
            client.close().await;
        }
        setup.stop().await;
    });
}
