//! Node benchmarks, through the real JSON-RPC path (`cargo bench -p subnet-node --bench node`):
//!
//! 1. `set_weights` throughput: 64 validators on a 256-UID subnet stream pre-signed
//!    `set_weights` transactions as `tx_submit` notifications (each returns at admission, after
//!    its signature check), and the node applies them in 1 s blocks, each committed durably.
//!    Reported: admissions per second and transactions applied per second (first submission to
//!    the commit of the block holding the last one).
//! 2. Epochs and block production: subnets of 256 and 4096 UIDs with dense weights from 64
//!    validators and `tempo = 5`; reported: epoch block time (the node's metric) and the largest
//!    gap between consecutive block timestamps against the 1 s block time.
//!
//! The subnets are built on the ledger directly (registrations, stake, a first epoch for the
//! validator permits), then the node is started on the same database. Arguments: `--quick`
//! runs smaller sizes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use subnet_chain::{Genesis, GenesisSubnet, Ledger};
use subnet_node::{GenesisSource, Node, NodeConfig, PoolConfig};
use subnet_protocol::chain::{Call, Hyperparameters, SignedTransaction, TOKEN, Transaction};
use subnet_protocol::ids::{BlockNumber, NetUid, Rao, Uid};
use subnet_protocol::keys::Keypair;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const NET: NetUid = NetUid(1);
const VALIDATORS: usize = 64;
const BLOCK_TIME_MS: u64 = 1000;

fn hotkey(i: usize) -> Keypair {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"bench-hotkey");
    hasher.update(&(i as u64).to_le_bytes());
    Keypair::from_seed(hasher.finalize().as_bytes())
}

/// Deterministic non-zero weights for validator `v`'s `k`-th submission over `n` UIDs.
fn weights(v: usize, k: u64, n: u16) -> (Vec<Uid>, Vec<u16>) {
    let uids: Vec<Uid> = (0..n).map(Uid).collect();
    let values = (0..u64::from(n))
        .map(|j| ((j * 2_654_435_761 + v as u64 * 97 + k * 13) % 65_535 + 1) as u16)
        .collect();
    (uids, values)
}

/// A database holding genesis subnet 1 with `n` UIDs (the first 64 staked validators with
/// permits), optionally dense weights from every validator, then `tempo` set to `tempo`.
struct Prepared {
    _dir: tempfile::TempDir,
    data_dir: PathBuf,
    genesis_file: PathBuf,
    genesis: Genesis,
}

fn prepare(n: u16, dense_weights: bool, tempo: u16) -> Prepared {
    let alice = Keypair::dev("alice");
    let mut genesis = Genesis::dev();
    genesis.block_time_ms = BLOCK_TIME_MS;
    genesis.subnets.push(GenesisSubnet {
        owner: alice.public(),
        hyperparameters: Hyperparameters {
            tempo: 1,
            max_allowed_uids: n,
            max_allowed_validators: VALIDATORS as u16,
            weights_rate_limit: 0,
            immunity_period: 1_000_000,
            activity_cutoff: 1_000_000,
            burn: Rao(1),
            ..Hyperparameters::default()
        },
    });
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("db");
    let genesis_file = dir.path().join("genesis.toml");
    std::fs::write(&genesis_file, genesis.to_toml().unwrap()).unwrap();
    let mut ledger = Ledger::open(&data_dir, &genesis).unwrap();
    let info = ledger.info();
    let mut nonce = 0;
    let tx = |call: Call, key: &Keypair, nonce: &mut u64| {
        let t = Transaction {
            signer: key.public(),
            nonce: *nonce,
            genesis_hash: info.genesis_hash,
            valid_until: BlockNumber(1_000_000),
            call,
        }
        .sign(key);
        *nonce += 1;
        t
    };
    let block = |txs: Vec<SignedTransaction>, ledger: &mut Ledger| {
        let count = txs.len();
        let outcome = ledger.produce_block(txs, 0).unwrap();
        assert!(
            outcome.rejected.is_empty(),
            "{:?}",
            outcome.rejected.first()
        );
        assert_eq!(outcome.receipts.len(), count);
    };
    let registrations = (0..usize::from(n))
        .map(|i| {
            let call = Call::Register {
                netuid: NET,
                hotkey: hotkey(i).public(),
                ainft: None,
            };
            tx(call, &alice, &mut nonce)
        })
        .collect();
    block(registrations, &mut ledger);
    let stakes = (0..VALIDATORS)
        .map(|i| {
            let call = Call::AddStake {
                hotkey: hotkey(i).public(),
                amount: Rao(1000 * TOKEN.0),
            };
            tx(call, &alice, &mut nonce)
        })
        .collect();
    block(stakes, &mut ledger);
    if dense_weights {
        let sets = (0..VALIDATORS)
            .map(|v| {
                let (uids, values) = weights(v, 0, n);
                let call = Call::SetWeights {
                    netuid: NET,
                    uids,
                    values,
                    version_key: 0,
                };
                let mut validator_nonce = 0;
                tx(call, &hotkey(v), &mut validator_nonce)
            })
            .collect();
        block(sets, &mut ledger);
    }
    let mut hp = ledger.subnet(NET).unwrap().hyperparameters;
    hp.tempo = tempo;
    let call = Call::SetHyperparameters {
        netuid: NET,
        hyperparameters: hp,
    };
    let set_tempo = tx(call, &alice, &mut nonce);
    block(vec![set_tempo], &mut ledger);
    let metagraph = ledger.metagraph(NET).unwrap();
    let permits = metagraph
        .neurons
        .iter()
        .take(VALIDATORS)
        .filter(|n| n.validator_permit)
        .count();
    assert_eq!(permits, VALIDATORS, "validators lack permits");
    drop(ledger);
    Prepared {
        _dir: dir,
        data_dir,
        genesis_file,
        genesis,
    }
}

async fn start(prepared: &Prepared) -> Node {
    let config = NodeConfig {
        genesis: GenesisSource::File {
            path: prepared.genesis_file.clone(),
        },
        data_dir: Some(prepared.data_dir.clone()),
        rpc_addr: "127.0.0.1:0".parse().unwrap(),
        metrics_addr: Some("127.0.0.1:0".parse().unwrap()),
        pool: PoolConfig {
            max_pending: 1_000_000,
            max_per_signer: 100_000,
            max_block_txs: 1_000_000,
        },
        ..NodeConfig::default()
    };
    Node::start(config).await.unwrap()
}

/// One kept-alive HTTP/1.1 connection that POSTs JSON-RPC bodies.
struct Conn {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (r, w) = stream.into_split();
        Self {
            reader: BufReader::new(r),
            writer: w,
        }
    }

    async fn post(&mut self, body: &[u8]) -> (u16, Vec<u8>) {
        let head = format!(
            "POST / HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        self.writer.write_all(head.as_bytes()).await.unwrap();
        self.writer.write_all(body).await.unwrap();
        let mut status = 0;
        let mut length = 0;
        let mut line = String::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).await.unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some(s) = l.strip_prefix("HTTP/1.1 ") {
                status = s[..3].parse().unwrap();
            } else if let Some((name, value)) = l.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).await.unwrap();
        (status, body)
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let (status, bytes) = self.post(body.to_string().as_bytes()).await;
        assert_eq!(status, 200);
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(v.get("error").is_none(), "{v}");
        v["result"].clone()
    }
}

async fn metric(addr: SocketAddr, name: &str) -> f64 {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// CPU time this process has used (user + system), from `/proc/self/stat`; zero elsewhere.
/// Wall-clock rates on a shared machine depend on its load; CPU time per transaction does not.
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

async fn throughput(per_validator: u64) {
    let n_uids = 256;
    let prepared = prepare(n_uids, false, 360);
    let node = start(&prepared).await;
    let addr = node.rpc_addr();
    let genesis = prepared.genesis.hash();
    let height = node.height().get();
    let signing = Instant::now();
    let bodies: Vec<Vec<Vec<u8>>> = (0..VALIDATORS)
        .map(|v| {
            let key = hotkey(v);
            (0..per_validator)
                .map(|k| {
                    let (uids, values) = weights(v, k, n_uids);
                    let tx = Transaction {
                        signer: key.public(),
                        nonce: k,
                        genesis_hash: genesis,
                        valid_until: BlockNumber(height + 10_000),
                        call: Call::SetWeights {
                            netuid: NET,
                            uids,
                            values,
                            version_key: 0,
                        },
                    }
                    .sign(&key);
                    let hex_tx = hex::encode(tx.encode());
                    json!({ "jsonrpc": "2.0", "method": "tx_submit", "params": { "tx": hex_tx } })
                        .to_string()
                        .into_bytes()
                })
                .collect()
        })
        .collect();
    let total = VALIDATORS as u64 * per_validator;
    println!(
        "set_weights: {total} transactions (64 validators x {per_validator}, 256 UIDs, {} bytes each) signed in {:.2?}",
        bodies[0][0].len(),
        signing.elapsed()
    );
    let metrics = node.metrics_addr().unwrap();
    let produced_before = metric(metrics, "subnet_node_block_production_seconds_sum").await;
    let blocks_before = metric(metrics, "subnet_node_block_production_seconds_count").await;

    let started = Instant::now();
    let cpu_started = cpu_time();
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|bodies| {
            tokio::spawn(async move {
                let mut conn = Conn::open(addr).await;
                for body in bodies {
                    let (status, _) = conn.post(&body).await;
                    assert_eq!(status, 204);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let admitted = started.elapsed();
    let mut conn = Conn::open(addr).await;
    let mut last = node.height().get();
    let (first_block, done_block) = loop {
        let next = conn
            .call(
                "chain_waitBlock",
                json!({ "after": last, "timeout_ms": 5000 }),
            )
            .await
            .as_u64()
            .unwrap();
        last = next;
        let mut all = true;
        for v in 0..VALIDATORS {
            let account = conn
                .call("account_info", json!({ "account": hotkey(v).public() }))
                .await;
            all &= account["nonce"].as_u64().unwrap() == per_validator;
        }
        if all {
            break (height + 1, next);
        }
    };
    let applied = started.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_started);
    let mut in_blocks = 0;
    let mut largest = 0;
    for b in first_block..=done_block {
        let block = conn.call("chain_block", json!({ "number": b })).await;
        let n = block["transactions"].as_array().unwrap().len();
        in_blocks += n;
        largest = largest.max(n);
    }
    assert_eq!(in_blocks as u64, total, "some set_weights were refused");
    let produced =
        metric(metrics, "subnet_node_block_production_seconds_sum").await - produced_before;
    let blocks =
        metric(metrics, "subnet_node_block_production_seconds_count").await - blocks_before;
    println!(
        "  admitted (RPC, decode, signature, pool) in {admitted:.2?}: {:.0} tx/s",
        total as f64 / admitted.as_secs_f64()
    );
    println!(
        "  applied durably in {applied:.2?} over blocks {first_block}..={done_block}: {:.0} tx/s; largest block {largest} txs; mean block production {:.1} ms",
        total as f64 / applied.as_secs_f64(),
        produced / blocks.max(1.0) * 1000.0
    );
    println!(
        "  CPU time (node and load generator, all threads): {cpu:.2?} = {:.0} us per transaction, {:.0} tx/s per fully used core",
        cpu.as_secs_f64() * 1e6 / total as f64,
        total as f64 / cpu.as_secs_f64().max(1e-9)
    );
    node.shutdown().await.unwrap();
}

async fn epochs(n_uids: u16, epochs_to_watch: u64) {
    let tempo = 5;
    let setup = Instant::now();
    let prepared = prepare(n_uids, true, tempo);
    let node = start(&prepared).await;
    let addr = node.rpc_addr();
    let metrics = node.metrics_addr().unwrap();
    let mut conn = Conn::open(addr).await;
    let start = node.height().get();
    let mut last = start;
    let end = start + epochs_to_watch * u64::from(tempo) + 1;
    while last < end {
        last = conn
            .call(
                "chain_waitBlock",
                json!({ "after": last, "timeout_ms": 30_000 }),
            )
            .await
            .as_u64()
            .unwrap();
    }
    let mut stamps = Vec::new();
    for b in start + 1..=last {
        let block = conn.call("chain_block", json!({ "number": b })).await;
        stamps.push(block["header"]["timestamp_ms"].as_u64().unwrap());
    }
    let largest_gap = stamps.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    let late = stamps
        .windows(2)
        .filter(|w| w[1] - w[0] > 2 * BLOCK_TIME_MS)
        .count();
    let epoch_sum = metric(metrics, "subnet_node_epoch_duration_seconds_sum").await;
    let epoch_count = metric(metrics, "subnet_node_epoch_duration_seconds_count").await;
    let block_sum = metric(metrics, "subnet_node_block_production_seconds_sum").await;
    let block_count = metric(metrics, "subnet_node_block_production_seconds_count").await;
    println!(
        "epochs at {n_uids} UIDs (64 validators, dense weights, setup {:.1?}): {epoch_count} epoch blocks, mean {:.1} ms; all blocks mean {:.2} ms; largest gap between blocks {largest_gap} ms for a {BLOCK_TIME_MS} ms block time; {late} gaps above two block times",
        setup.elapsed(),
        epoch_sum / epoch_count.max(1.0) * 1000.0,
        block_sum / block_count.max(1.0) * 1000.0,
    );
    node.shutdown().await.unwrap();
}

fn main() {
    // `cargo bench` passes `--bench`; only `--quick` is ours.
    let quick = std::env::args().any(|a| a == "--quick");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        throughput(if quick { 50 } else { 400 }).await;
        epochs(256, if quick { 1 } else { 3 }).await;
        epochs(if quick { 1024 } else { 4096 }, if quick { 1 } else { 3 }).await;
    });
}
