//! Metagraph sync time for a 256-UID subnet: the subtensor backend (the 2023 test runtime in
//! chopsticks, subnet state written with `dev_setStorage`) against the local node over
//! JSON-RPC (256 real registrations). Prints a table.
//!
//! ```text
//! cargo run --release -p subnet-chain-client --features subtensor --example metagraph_sync
//! ```
//!
//! `CHOPSTICKS` overrides where chopsticks is (else `tests/install-chopsticks.sh` installs it
//! once); `SYNC_ROUNDS` the timed reads (default 20).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::json;
use subnet_chain_client::{
    BlockWatcher, Chain, Chopsticks, DevNeuron, ReceiptExt, RpcChain, SubtensorChain,
};
use subnet_node::{Node, NodeConfig};
use subnet_protocol::chain::{AxonInfo, Hyperparameters, TOKEN};
use subnet_protocol::fingerprint::CertFingerprint;
use subnet_protocol::ids::NetUid;
use subnet_protocol::keys::Keypair;

const UIDS: u16 = 256;
const NETUID: NetUid = NetUid(1);

fn hotkey(i: u16) -> Keypair {
    Keypair::dev(&format!("bench-hot-{i}"))
}

/// Writes a 256-UID subnet straight into subtensor storage (every UID with an axon and stake).
async fn populate_subtensor(chain: &SubtensorChain) -> anyhow::Result<()> {
    let cold = Keypair::dev("bench-cold").public();
    let neurons: Vec<DevNeuron> = (0..UIDS)
        .map(|i| DevNeuron {
            hotkey: hotkey(i).public(),
            coldkey: cold,
            axon: Some(AxonInfo {
                ip: "127.0.0.1".parse().expect("an address"),
                port: 9000 + i,
                cert_fingerprint: CertFingerprint::HOTKEY,
                protocol_version: 1,
            }),
            validator_permit: true,
        })
        .collect();
    chain.dev_create_subnet(NETUID, 360).await?;
    chain.dev_seed_neurons(NETUID, &neurons).await?;
    let stake: Vec<_> = neurons
        .iter()
        .zip(1u64..)
        .map(|(n, i)| {
            json!([
                [format!("0x{}", hex::encode(n.hotkey.as_bytes()))],
                i * 1_000_000_000
            ])
        })
        .collect();
    chain
        .dev_set_storage(json!({ "SubtensorModule": { "TotalHotkeyStake": stake } }))
        .await?;
    chain.dev_new_blocks(1).await?;
    Ok(())
}

/// Registers 256 hotkeys on a fresh subnet of the local node.
async fn populate_local(chain: &RpcChain) -> anyhow::Result<NetUid> {
    let hp = Hyperparameters {
        max_allowed_uids: UIDS,
        immunity_period: 100_000,
        burn: subnet_protocol::ids::Rao(TOKEN.get() / 1000),
        ..Hyperparameters::default()
    };
    let netuid = chain
        .create_subnet(&Keypair::dev("charlie"), hp)
        .await?
        .created_netuid()?;
    let payers = ["alice", "bob", "dave", "eve", "ferdie"];
    let mut tasks = Vec::new();
    for (p, payer) in payers.iter().enumerate() {
        let chain = chain.clone();
        let payer = Keypair::dev(payer);
        tasks.push(tokio::spawn(async move {
            let mut i = u16::try_from(p).unwrap_or(0);
            while i < UIDS {
                chain
                    .register(&payer, netuid, hotkey(i).public(), None)
                    .await?;
                i += u16::try_from(payers.len()).unwrap_or(1);
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let mut watcher = BlockWatcher::from_now(chain).await?;
    watcher.next(chain).await?;
    Ok(netuid)
}

async fn time<C: Chain>(chain: &C, netuid: NetUid, rounds: usize) -> anyhow::Result<Vec<Duration>> {
    let first = chain.metagraph(netuid).await?;
    if first.neurons.len() != usize::from(UIDS) {
        bail!("expected {UIDS} neurons, got {}", first.neurons.len());
    }
    let mut out = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        let m = chain.metagraph(netuid).await?;
        out.push(start.elapsed());
        assert_eq!(m.neurons.len(), usize::from(UIDS));
    }
    out.sort();
    Ok(out)
}

fn row(name: &str, t: &[Duration]) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mean = t.iter().map(|d| ms(*d)).sum::<f64>() / t.len().max(1) as f64;
    println!(
        "| {name:<28} | {:>5} | {:>9.2} | {:>9.2} | {:>9.2} | {:>9.2} |",
        t.len(),
        ms(t[0]),
        ms(t[t.len() / 2]),
        mean,
        ms(t[t.len() - 1])
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::var("SYNC_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = root.parent().unwrap_or(root);
    let bin = Chopsticks::find_or_install(workspace)?;
    let spec = root.join("tests/fixtures/subtensor/raw_spec_testfinney.json");
    let chopsticks = Chopsticks::start(&bin, &spec, 0, Duration::from_secs(180))?;
    let subtensor = SubtensorChain::connect(chopsticks.url().clone()).await?;
    populate_subtensor(&subtensor).await?;
    let st = time(&subtensor, NETUID, rounds).await?;

    let config = NodeConfig {
        rpc_addr: "127.0.0.1:0".parse()?,
        block_time: Some(Duration::from_millis(50)),
        ..NodeConfig::default()
    };
    let node = Node::start(config).await?;
    let local = RpcChain::new(node.rpc_addr().into());
    let netuid = populate_local(&local).await?;
    let lt = time(&local, netuid, rounds).await?;
    node.shutdown().await?;

    println!("metagraph sync, {UIDS} UIDs, {rounds} reads each (ms)");
    println!(
        "| backend                      | reads |       min |    median |      mean |       max |"
    );
    println!(
        "|------------------------------|-------|-----------|-----------|-----------|-----------|"
    );
    row("subtensor (chopsticks, 2023)", &st);
    row("local node (JSON-RPC)", &lt);
    Ok(())
}
