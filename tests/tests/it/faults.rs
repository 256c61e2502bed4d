//! Faults: `kill -9` of the node, a miner and a validator while `subnet localnet up` runs.
//! `up` starts each again (the node on its port and database); the subnet goes on, no
//! committed block or acknowledged transaction is lost, and emission accounting stays exact.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use subnet_chain_client::{Chain, NodeUrl, RpcChain};
use subnet_protocol::chain::Block;
use subnet_protocol::ids::{BlockNumber, NetUid, Rao};
use subnet_protocol::keys::Keypair;

use crate::harness::{Up, alive, field};

/// Short blocks so that a tempo (10 blocks) takes 5 s.
const BLOCK_TIME: &str = "500ms";

/// Epochs the run lasts: enough for the three faults and epochs after them.
const EPOCHS: u64 = 8;

/// A safety net only: a healthy run takes a fraction of it.
const TIMEOUT: Duration = Duration::from_secs(170);

/// Blocks between epochs (`deploy/localnet/subnet.toml`'s tempo).
const TEMPO: u64 = 10;

/// The pid the state file gives `name`.
fn pid_of(data_dir: &Path, name: &str) -> u32 {
    let text = std::fs::read_to_string(data_dir.join("localnet.json")).unwrap();
    let state: Value = serde_json::from_str(&text).unwrap();
    let pid = state["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {state:#}"))["pid"]
        .as_u64()
        .unwrap();
    u32::try_from(pid).unwrap()
}

/// `kill -9 pid`, and waits until it is gone.
fn kill9(pid: u32) {
    // SAFETY: kill(2) on a pid of a child process of this test's `up`, read just before.
    let sent = unsafe { libc::kill(i32::try_from(pid).unwrap(), libc::SIGKILL) };
    assert_eq!(sent, 0, "kill -9 {pid}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(Instant::now() < deadline, "{pid} outlived SIGKILL");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills `name` with SIGKILL and waits for `up` to report it started again under a new pid.
fn crash(up: &mut Up, data_dir: &Path, name: &str) -> u32 {
    let pid = pid_of(data_dir, name);
    kill9(pid);
    let line = up.wait_line(&format!("{name} exited unexpectedly"), TIMEOUT);
    assert!(line.contains("signal 9"), "{line}");
    let again = pid_of(data_dir, name);
    assert_ne!(again, pid, "{line}");
    assert!(alive(again));
    again
}

#[test]
fn the_subnet_survives_kill_9_of_the_node_a_miner_and_a_validator() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("net");
    let epochs = EPOCHS.to_string();
    let mut up = Up::start(
        &data_dir,
        &["--epochs", &epochs, "--json", "--block-time", BLOCK_TIME],
    );
    let ready = up.wait_line("localnet ready ", TIMEOUT);
    let url: NodeUrl = field(&ready, "rpc").parse().unwrap();
    let netuid = NetUid(field(&ready, "netuid").parse().unwrap());
    let chain = RpcChain::new(url);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // An acknowledged transaction, and every block committed so far.
    let recipient = Keypair::dev("faults-recipient").public();
    let amount = Rao::from_tokens(7).unwrap();
    let receipt = rt
        .block_on(chain.transfer(&Keypair::dev("alice"), recipient, amount))
        .unwrap();
    let head = rt.block_on(chain.current_block()).unwrap();
    let committed: Vec<Block> = (1..=head.get())
        .map(|n| {
            rt.block_on(chain.block(BlockNumber(n)))
                .unwrap()
                .unwrap_or_else(|| panic!("block {n} of {head} missing"))
        })
        .collect();
    let included = committed
        .iter()
        .find(|b| b.header.number == receipt.block)
        .unwrap();
    assert!(
        included
            .transactions
            .iter()
            .any(|t| t.hash() == receipt.hash)
    );

    // The node: started again on its port and database, it has every block and the transfer.
    crash(&mut up, &data_dir, "node");
    let deadline = Instant::now() + TIMEOUT;
    let resumed = loop {
        match rt.block_on(chain.current_block()) {
            Ok(height) if height > head => break height,
            _ => {}
        }
        assert!(Instant::now() < deadline, "the node did not come back");
        std::thread::sleep(Duration::from_millis(200));
    };
    for block in &committed {
        let again = rt.block_on(chain.block(block.header.number)).unwrap();
        assert_eq!(again.as_ref(), Some(block), "block {}", block.header.number);
    }
    let account = rt.block_on(chain.account(&recipient)).unwrap();
    assert_eq!(account.balance, amount);

    // A miner: it comes back at a new port and publishes it; and a validator.
    crash(&mut up, &data_dir, "miner-best");
    let best = Keypair::dev("localnet-miner-best").public();
    let log = data_dir.join("miner-best/miner-best.log");
    let deadline = Instant::now() + TIMEOUT;
    let addr = loop {
        let text = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("miner ready "))
            .collect();
        if let [_, .., last] = lines.as_slice() {
            break field(last, "addr").to_owned();
        }
        assert!(Instant::now() < deadline, "miner-best not ready again");
        std::thread::sleep(Duration::from_millis(200));
    };
    crash(&mut up, &data_dir, "validator-0");
    let metagraph = rt.block_on(chain.metagraph(netuid)).unwrap();
    let axon = metagraph.by_hotkey(&best).unwrap().axon.as_ref().unwrap();
    assert_eq!(format!("{}:{}", axon.ip, axon.port), addr);
    assert!(metagraph.block > resumed);

    // Accounting before the end, once two epochs have run after the node's restart: every
    // epoch once, TEMPO blocks apart (none lost or repeated across the restart), and every rao
    // emitted credited.
    let deadline = Instant::now() + TIMEOUT;
    let report = loop {
        let report = rt.block_on(chain.emissions()).unwrap();
        let after = report
            .epochs
            .iter()
            .filter(|e| e.netuid == netuid && e.block > resumed)
            .count();
        if after >= 2 {
            break report;
        }
        assert!(Instant::now() < deadline, "no epochs after the restart");
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(report.total_credited, report.total_emitted);
    let per_epoch: u64 = report.epochs.iter().map(|e| e.emitted.get()).sum();
    assert_eq!(per_epoch, report.total_emitted.get());
    let credited: u64 = report
        .accounts
        .iter()
        .map(|a| a.as_ainft_owner.get() + a.as_staker.get() + a.as_subnet_owner.get())
        .sum();
    assert_eq!(credited, report.total_credited.get());
    let ours: Vec<_> = report
        .epochs
        .iter()
        .filter(|e| e.netuid == netuid)
        .collect();
    assert!(ours.iter().any(|e| e.block < resumed), "{ours:?}");
    for pair in ours.windows(2) {
        assert_eq!(pair[1].block.get() - pair[0].block.get(), TEMPO, "{pair:?}");
    }

    let out = up.wait(TIMEOUT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stderr}", out.status);
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["epochs"], EPOCHS, "{summary:#}");
    assert_eq!(summary["total_credited"], summary["total_emitted"]);
    for p in summary["processes"].as_array().unwrap() {
        let crashed = ["node", "miner-best", "validator-0"].contains(&p["name"].as_str().unwrap());
        assert_eq!(p["restarts"], u64::from(crashed), "{p}");
        assert_eq!(p["exit_code"], 0, "{p}");
        assert_eq!(p["killed"], false, "{p}");
    }
    // The best model still earns the most.
    let miners = summary["miners"].as_array().unwrap();
    let emission = |name: &str| {
        miners.iter().find(|m| m["checkpoint"] == name).unwrap()["emission"]
            .as_u64()
            .unwrap()
    };
    assert!(emission("best") > emission("tiny"), "{summary:#}");
}
