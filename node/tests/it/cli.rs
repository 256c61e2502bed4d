//! The binary's command line: the resolved configuration it dumps, and a clean stop on
//! SIGTERM that leaves the database reopenable.

use std::process::Stdio;
use std::time::Duration;

use subnet_node::{GenesisSource, NodeConfig};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_subnet-node");

#[tokio::test]
async fn dump_config_reflects_flags_over_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("node.toml");
    std::fs::write(
        &file,
        "rpc_addr = \"127.0.0.1:7000\"\nblock_time = \"2s\"\n[pool]\nmax_pending = 10\n",
    )
    .unwrap();
    let output = Command::new(BIN)
        .arg("--config")
        .arg(&file)
        .args(["--block-time", "250ms", "--metrics", "127.0.0.1:9615"])
        .arg("--data-dir")
        .arg(dir.path().join("db"))
        .arg("--dump-config")
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let config = NodeConfig::from_toml(&String::from_utf8(output.stdout).unwrap()).unwrap();
    assert_eq!(config.rpc_addr, "127.0.0.1:7000".parse().unwrap());
    assert_eq!(config.block_time, Some(Duration::from_millis(250)));
    assert_eq!(config.metrics_addr, Some("127.0.0.1:9615".parse().unwrap()));
    assert_eq!(config.pool.max_pending, 10);
    assert_eq!(config.data_dir, Some(dir.path().join("db")));
    assert_eq!(config.genesis, GenesisSource::Dev);

    let bad = Command::new(BIN)
        .args(["--block-time", "fast", "--dump-config"])
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
}

#[tokio::test]
async fn sigterm_stops_cleanly_and_the_chain_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let start = || async {
        let mut child = Command::new(BIN)
            .args(["--dev", "--rpc", "127.0.0.1:0", "--block-time", "50ms"])
            .arg("--data-dir")
            .arg(dir.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let addr: std::net::SocketAddr = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("rpc="))
            .unwrap()
            .parse()
            .unwrap();
        (child, addr)
    };
    let (mut child, addr) = start().await;
    let reached = crate::client::call(
        addr,
        "chain_waitBlock",
        serde_json::json!({ "after": 3, "timeout_ms": 10_000 }),
    )
    .await
    .unwrap()
    .as_u64()
    .unwrap();
    assert!(reached > 3);
    let pid = child.id().unwrap().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status}");

    let (mut child, addr) = start().await;
    let info = crate::client::call(addr, "chain_info", serde_json::json!({}))
        .await
        .unwrap();
    assert!(info["height"].as_u64().unwrap() >= reached);
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}
