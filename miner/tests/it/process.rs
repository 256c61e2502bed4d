//! The `miner` binary: flags, `--dump-config`, the ready line and SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use subnet_chain_client::{ChainBackend, Genesis};
use subnet_miner::{Config, DevKey, Device, KeySource};
use subnet_protocol::NetUid;
use subnet_protocol::keys::Keypair;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::harness::checkpoint;

const MINER: &str = env!("CARGO_BIN_EXE_miner");

/// Kills and reaps the child if a test fails before it exits.
struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.start_kill();
        }
    }
}

#[tokio::test]
async fn dump_config_shows_flags_over_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("miner.toml");
    std::fs::write(
        &file,
        "netuid = 3\ndevice = \"cpu\"\n[limits]\nmax_batch_size = 8\nqueue_depth = 9\n",
    )
    .unwrap();
    let out = Command::new(MINER)
        .args(["--config", file.to_str().unwrap()])
        .args([
            "--netuid",
            "7",
            "--listen",
            "127.0.0.1:0",
            "--dev-hotkey",
            "m9",
        ])
        .args([
            "--max-batch-wait",
            "7ms",
            "--chain-url",
            "http://127.0.0.1:9955",
        ])
        .arg("--dump-config")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = Config::from_toml(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert_eq!(config.netuid, NetUid(7));
    assert_eq!(config.listen, "127.0.0.1:0".parse().unwrap());
    assert_eq!(config.device, Device::Cpu);
    assert_eq!(config.hotkey, KeySource::Dev(DevKey { dev: "m9".into() }));
    assert_eq!(config.limits.max_batch_size, 8);
    assert_eq!(config.limits.queue_depth, 9);
    assert_eq!(config.limits.max_batch_wait, Duration::from_millis(7));
    assert_eq!(
        config.chain,
        ChainBackend::Local {
            url: "http://127.0.0.1:9955".parse().unwrap()
        }
    );

    let bad = Command::new(MINER)
        .args(["--config", file.to_str().unwrap(), "--device", "tpu"])
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
}

#[tokio::test]
async fn the_binary_registers_prints_ready_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    // An in-process chain with subnet 1 from genesis (owned by charlie).
    // The dev genesis may spell out its empty subnet list; the table below replaces it.
    let mut genesis = Genesis::dev()
        .to_toml()
        .unwrap()
        .replace("subnets = []\n", "");
    genesis.push_str(&format!(
        "\n[[subnets]]\nowner = \"{}\"\n",
        Keypair::dev("charlie").public()
    ));
    let genesis_file = dir.path().join("genesis.toml");
    std::fs::write(&genesis_file, genesis).unwrap();
    let config = Config {
        hotkey: KeySource::Dev(DevKey { dev: "m1".into() }),
        coldkey: KeySource::Dev(DevKey { dev: "eve".into() }),
        chain: ChainBackend::Embedded {
            genesis: Some(genesis_file),
        },
        netuid: NetUid(1),
        listen: "127.0.0.1:0".parse().unwrap(),
        checkpoint: checkpoint("tiny"),
        metrics_addr: Some("127.0.0.1:0".parse().unwrap()),
        ..Config::default()
    };
    let config_file = dir.path().join("miner.toml");
    std::fs::write(&config_file, config.to_toml()).unwrap();

    let mut child = KillOnDrop(Some(
        Command::new(MINER)
            .args(["--config", config_file.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    ));
    let stdout = child.0.as_mut().unwrap().stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
        .await
        .expect("no ready line within 120 s")
        .unwrap()
        .unwrap();
    assert!(ready.starts_with("miner ready addr=127.0.0.1:"), "{ready}");
    for field in [
        " uid=0 ",
        " ainft=ainft1",
        " hotkey=",
        " fingerprint=",
        " metrics=127.0.0.1:",
    ] {
        assert!(ready.contains(field), "{field} missing in {ready}");
    }

    let pid = child.0.as_ref().unwrap().id().unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(60), child.0.as_mut().unwrap().wait())
        .await
        .expect("miner did not stop within 60 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    child.0 = None;
}
