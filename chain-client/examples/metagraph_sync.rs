//! Metagraph sync time for a 256-UID subnet: the subtensor backend (the 2023 test runtime in
//! chopsticks, subnet state written with `dev_setStorage`) against the local node over
//! JSON-RPC (256 real registrations). Prints a table.
//!
//! ```text
//! chain-client/tests/install-chopsticks.sh
//! cargo run --release -p subnet-chain-client --features subtensor --example metagraph_sync
//! ```
//!
//! `CHOPSTICKS` overrides where chopsticks is; `SYNC_ROUNDS` the timed reads (default 20).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use subnet_chain_client::{
    BlockWatcher, Chain, ReceiptExt, RpcChain, SubtensorChain, SubtensorUrl,
};
use subnet_node::{Node, NodeConfig};
use subnet_protocol::chain::{Hyperparameters, TOKEN};
use subnet_protocol::ids::NetUid;
use subnet_protocol::keys::{Keypair, PublicKey};

const UIDS: u16 = 256;
const NETUID: u16 = 1;

struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn hotkey(i: u16) -> Keypair {
    Keypair::dev(&format!("bench-hot-{i}"))
}

fn hex(key: &PublicKey) -> String {
    format!("0x{}", ::hex::encode(key.as_bytes()))
}

fn start_chopsticks() -> anyhow::Result<(Guard, SubtensorUrl)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = std::env::var_os("CHOPSTICKS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../target/chopsticks/node_modules/.bin/chopsticks"));
    let mut child = Command::new(&bin)
        .arg("--genesis")
        .arg(root.join("tests/fixtures/subtensor/raw_spec_testfinney.json"))
        .args([
            "--allow-unresolved-imports",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| {
            format!(
                "starting {} (run tests/install-chopsticks.sh)",
                bin.display()
            )
        })?;
    let stdout = child.stdout.take().context("chopsticks stdout")?;
    let guard = Guard(child);
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line?;
        if let Some(at) = line.find("ws://") {
            let addr: String = line[at..]
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '"')
                .collect();
            std::thread::spawn(move || for _ in lines {});
            return Ok((guard, addr.parse()?));
        }
    }
    bail!("chopsticks exited before listening")
}

/// Writes a 256-UID subnet straight into subtensor storage.
async fn populate_subtensor(chain: &SubtensorChain) -> anyhow::Result<()> {
    let n = usize::from(UIDS);
    let cold = Keypair::dev("bench-cold").public();
    let hot: Vec<PublicKey> = (0..UIDS).map(|i| hotkey(i).public()).collect();
    let per_uid = |f: &dyn Fn(u16, &PublicKey) -> Value| -> Vec<Value> {
        hot.iter().zip(0..UIDS).map(|(h, i)| f(i, h)).collect()
    };
    let storage = json!({ "SubtensorModule": {
        "NetworksAdded": [[[NETUID], true]],
        "Tempo": [[[NETUID], 360]],
        "SubnetworkN": [[[NETUID], UIDS]],
        "MaxAllowedUids": [[[NETUID], UIDS]],
        "Keys": per_uid(&|i, h| json!([[NETUID, i], hex(h)])),
        // Raw SCALE: chopsticks drops a falsy JSON value (uid 0) instead of writing it.
        "Uids": per_uid(&|i, h| json!([[NETUID, hex(h)], format!("0x{:04x}", i.swap_bytes())])),
        "Owner": per_uid(&|_, h| json!([[hex(h)], hex(&cold)])),
        "TotalHotkeyStake": per_uid(&|i, h| json!([[hex(h)], 1_000_000_000u64 * u64::from(i + 1)])),
        "BlockAtRegistration": per_uid(&|i, _| json!([[NETUID, i], 1])),
        "Axons": per_uid(&|i, h| json!([[NETUID, hex(h)], {
            "block": 1, "version": 1, "ip": 0x7f00_0001u32, "port": 9000 + i,
            "ipType": 4, "protocol": 1, "placeholder1": 0, "placeholder2": 0
        }])),
        "Consensus": [[[NETUID], vec![100u16; n]]],
        "Incentive": [[[NETUID], vec![200u16; n]]],
        "Dividends": [[[NETUID], vec![300u16; n]]],
        "ValidatorTrust": [[[NETUID], vec![400u16; n]]],
        "Emission": [[[NETUID], vec![1000u64; n]]],
        "LastUpdate": [[[NETUID], vec![1u64; n]]],
        "ValidatorPermit": [[[NETUID], vec![true; n]]],
    }});
    chain
        .raw_request("dev_setStorage", json!([storage]))
        .await?;
    chain
        .raw_request("dev_newBlock", json!([{ "count": 1 }]))
        .await?;
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

    let (_chopsticks, url) = start_chopsticks()?;
    let subtensor = SubtensorChain::connect(url).await?;
    populate_subtensor(&subtensor).await?;
    let st = time(&subtensor, NetUid(NETUID), rounds).await?;

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
