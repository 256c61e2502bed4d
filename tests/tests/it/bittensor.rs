//! The real `miner` and `validator` binaries on Bittensor's own runtime (the 2023 test-network
//! runtime, run by chopsticks on 127.0.0.1), driven by the README's commands: `subnet
//! chopsticks seed`, `subnet chopsticks blocks`, `miner --config deploy/subtensor/miner.toml`,
//! `validator --config deploy/subtensor/validator.toml`. The miner answers over QUIC with a
//! hotkey certificate (the runtime has nowhere to publish a fingerprint), the validator scores
//! it and sets weights through subtensor's `set_weights`, and the runtime's own Yuma Consensus
//! pays the miner.

use std::fs::File;
use std::io::{BufRead as _, BufReader};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use subnet_chain_client::Chopsticks;

use crate::harness::{bin_dir, field, subnet, workspace_root};

/// Chopsticks compiles the runtime on start.
const CHOPSTICKS_START: Duration = Duration::from_secs(180);
/// A safety net only: a healthy run pays the miner within a few tempos.
const TIMEOUT: Duration = Duration::from_secs(240);

/// `CHOPSTICKS`, else the copy the install script puts under `target/chopsticks`.
fn chopsticks_bin() -> PathBuf {
    Chopsticks::find_or_install(&workspace_root()).unwrap_or_else(|e| panic!("{e}"))
}

/// A child killed and reaped on drop, its output in a log file.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, command: &mut Command, dir: &Path) -> Self {
        let log = dir.join(format!("{name}.log"));
        let file = File::create(&log).unwrap();
        let child = command
            .current_dir(workspace_root())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Self { name, child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics, with its log, if it has exited.
    fn check_alive(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("{} exited ({status}); its log:\n{}", self.name, self.log());
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Already exited is fine; there is nothing else to do on failure in a drop.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A UDP port free on 127.0.0.1 now (the miner binds it a moment later).
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One epoch as `subnet chopsticks blocks` prints it: the `uid=` lines after an `epoch` line.
fn read_epoch(lines: &Receiver<String>, deadline: Instant) -> Option<Vec<String>> {
    let mut epoch: Option<Vec<String>> = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left.min(Duration::from_secs(2))) {
            Ok(line) if line.starts_with("epoch ") => epoch = Some(Vec::new()),
            Ok(line) if line.trim_start().starts_with("uid=") => {
                if let Some(rows) = epoch.as_mut() {
                    rows.push(line.trim().to_owned());
                }
            }
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) if epoch.is_some() => return epoch,
            Err(RecvTimeoutError::Timeout) if Instant::now() >= deadline => return None,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return epoch,
        }
    }
}

#[test]
fn the_miner_and_validator_binaries_earn_on_the_bittensor_runtime() {
    let spec =
        workspace_root().join("chain-client/tests/fixtures/subtensor/raw_spec_testfinney.json");
    let chopsticks = Chopsticks::start(&chopsticks_bin(), &spec, 0, CHOPSTICKS_START)
        .unwrap_or_else(|e| panic!("{e}"));
    let url = chopsticks.url().to_string();
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();

    // The subnet: UID 0 the validator (staked), UID 1 the miner with its loopback axon.
    let seeded = subnet()
        .args(["chopsticks", "seed", "--url", &url, "--tempo", "5"])
        .args([
            "--coldkey",
            "dev:alice",
            "--validator",
            "dev:subtensor-validator",
        ])
        .arg("--miner")
        .arg(format!("dev:subtensor-miner@127.0.0.1:{port}"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&seeded.stdout);
    assert!(
        seeded.status.success(),
        "seed failed: {out}{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    let rows: Vec<&str> = out.lines().filter(|l| l.starts_with("uid=")).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(field(rows[0], "permit"), "true", "{out}");
    assert!(field(rows[0], "stake").starts_with("1000"), "{out}");
    assert_eq!(field(rows[1], "axon"), format!("127.0.0.1:{port}"), "{out}");
    let (validator_key, miner_key) = (field(rows[0], "hotkey"), field(rows[1], "hotkey"));

    // Blocks every 300 ms, with each epoch printed.
    let mut blocks = Command::new(bin_dir().join("subnet"))
        .args(["chopsticks", "blocks", "--url", &url, "--every", "300ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (tx, lines) = channel();
    let stdout = blocks.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let blocks = Proc {
        name: "blocks",
        child: blocks,
        log: dir.path().join("none"),
    };

    let mut miner = Proc::spawn(
        "miner",
        Command::new(bin_dir().join("miner"))
            .args([
                "--config",
                "deploy/subtensor/miner.toml",
                "--chain-url",
                &url,
            ])
            .args(["--listen", &format!("127.0.0.1:{port}")]),
        dir.path(),
    );
    let mut validator = Proc::spawn(
        "validator",
        Command::new(bin_dir().join("validator"))
            .args([
                "--config",
                "deploy/subtensor/validator.toml",
                "--chain-url",
                &url,
            ])
            .arg("--data-dir")
            .arg(dir.path().join("validator-db"))
            .args(["--step-interval", "1s", "--request-timeout", "3s"]),
        dir.path(),
    );

    // Epochs until one pays the miner for the validator's weights.
    let deadline = Instant::now() + TIMEOUT;
    let paid = loop {
        miner.check_alive();
        validator.check_alive();
        let Some(epoch) = read_epoch(&lines, deadline) else {
            panic!(
                "no epoch paid the miner within {TIMEOUT:?}\n--- miner ---\n{}\n--- validator \
                 ---\n{}",
                miner.log(),
                validator.log()
            );
        };
        let row = |key: &str| epoch.iter().find(|r| field(r, "hotkey") == key).cloned();
        let (Some(m), Some(v)) = (row(miner_key), row(validator_key)) else {
            panic!("an epoch without both UIDs: {epoch:?}");
        };
        let earned: u64 = field(&m, "emission").parse().unwrap();
        if earned > 0 {
            break (m, v);
        }
    };
    let (m, v) = paid;
    // The miner has all the incentive; the validator the dividends (its bonds to the miner).
    assert_eq!(field(&m, "incentive"), "1.0000", "{m}");
    assert_ne!(field(&v, "dividends"), "0.0000", "{v}");
    let miner_log = miner.log();
    assert!(miner_log.contains("miner ready "), "{miner_log}");
    // The seeded axon was already what the miner serves: it wrote nothing to the chain.
    assert!(!miner_log.contains("axon published"), "{miner_log}");
    assert!(validator.log().contains("validator ready "));

    // The operator's command reads the same state from subtensor (`--chain ws://…`).
    let shown = subnet()
        .args(["--chain", &url, "--json", "metagraph", "--netuid", "1"])
        .output()
        .unwrap();
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    let metagraph: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let neurons = metagraph["neurons"].as_array().unwrap();
    assert_eq!(neurons.len(), 2, "{metagraph}");
    let shown_miner = neurons.iter().find(|n| n["hotkey"] == miner_key).unwrap();
    assert!(
        shown_miner["incentive"].as_u64().unwrap() > 0,
        "{metagraph}"
    );
    let shown_validator = neurons
        .iter()
        .find(|n| n["hotkey"] == validator_key)
        .unwrap();
    assert_eq!(shown_validator["validator_permit"], true, "{metagraph}");
    drop((miner, validator, blocks, chopsticks));
}
