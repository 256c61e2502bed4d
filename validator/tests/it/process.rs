//! The `validator` binary: `--dump-config` with file and flag precedence, and a real run
//! against an in-process node: ready line, metrics, clean stop on SIGTERM.

use std::process::{Command, Stdio};
use std::time::Duration;

use subnet_chain_client::{Chain, NodeUrl, ReceiptExt, RpcChain};
use subnet_node::{Node, NodeConfig};
use subnet_protocol::chain::Hyperparameters;
use subnet_protocol::ids::NetUid;
use subnet_protocol::keys::Keypair;
use subnet_validator::{Config, DevKey, KeySource};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

fn validator() -> Command {
    Command::new(env!("CARGO_BIN_EXE_validator"))
}

#[test]
fn dump_config_applies_the_file_then_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("validator.toml");
    std::fs::write(
        &file,
        "netuid = 2\nsample_size = 3\nstep_interval = \"30s\"\n",
    )
    .unwrap();
    let out = validator()
        .args([
            "--config",
            file.to_str().unwrap(),
            "--dump-config",
            "--netuid",
            "5",
        ])
        .args([
            "--step-interval",
            "250ms",
            "--dev-hotkey",
            "alice",
            "--seed",
            "9",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = Config::from_toml(std::str::from_utf8(&out.stdout).unwrap()).unwrap();
    assert_eq!(config.netuid, NetUid(5));
    assert_eq!(config.sample_size, 3);
    assert_eq!(config.step_interval, Duration::from_millis(250));
    assert_eq!(
        config.hotkey,
        KeySource::Dev(DevKey {
            dev: "alice".into()
        })
    );
    assert_eq!(config.seed, Some(9));
    assert_eq!(config.request_timeout, Config::default().request_timeout);

    let bad = validator()
        .args(["--dump-config", "--spot-check-rate", "2"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    std::fs::write(&file, "sample_sise = 3\n").unwrap();
    let unknown = validator()
        .args(["--config", file.to_str().unwrap(), "--dump-config"])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_validates_against_a_node_and_stops_on_sigterm() {
    let node = Node::start(NodeConfig {
        rpc_addr: "127.0.0.1:0".parse().unwrap(),
        block_time: Some(Duration::from_millis(100)),
        ..NodeConfig::default()
    })
    .await
    .unwrap();
    let url = NodeUrl::from(node.rpc_addr());
    let chain = RpcChain::new(url.clone());
    let netuid = chain
        .create_subnet(&Keypair::dev("charlie"), Hyperparameters::default())
        .await
        .unwrap()
        .created_netuid()
        .unwrap();
    let hotkey = Keypair::dev("process-validator");
    let uid = chain
        .register(&Keypair::dev("dave"), netuid, hotkey.public(), None)
        .await
        .unwrap()
        .created_uid()
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_validator"))
        .args([
            "--chain-url",
            &url.to_string(),
            "--netuid",
            &netuid.to_string(),
        ])
        .args(["--dev-hotkey", "process-validator", "--bind", "127.0.0.1:0"])
        .args([
            "--metrics",
            "127.0.0.1:0",
            "--step-interval",
            "100ms",
            "--seed",
            "1",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("no ready line in time")
        .unwrap()
        .expect("stdout closed before the ready line");
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")).map(str::to_owned))
            .unwrap_or_else(|| panic!("no {name} in {line:?}"))
    };
    assert!(line.starts_with("validator ready "), "{line}");
    assert_eq!(field("uid"), uid.to_string());
    assert_eq!(field("hotkey"), hotkey.public().to_string());
    let metrics_addr = field("metrics");

    // The loop runs: its steps show in the metrics (no miners yet, so steps are empty).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut stream = tokio::net::TcpStream::connect(&metrics_addr).await.unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: v\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).await.unwrap();
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        if text.lines().any(|l| {
            l.strip_prefix("validator_steps_total ")
                .is_some_and(|v| v.parse::<u64>().is_ok_and(|n| n >= 2))
        }) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no steps: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let pid = i32::try_from(child.id().unwrap()).unwrap();
    // SAFETY: signalling a child we spawned and have not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("no exit after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
    node.shutdown().await.unwrap();
}
