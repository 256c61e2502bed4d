//! `subnet localnet up` runs a node, three miners (tiny, small, best checkpoints) and two
//! validators; emissions follow the models' quality, the ledger balances, and everything
//! stops cleanly. `subnet localnet down` cleans up after an `up` killed with SIGKILL.

use std::time::Duration;

use serde_json::Value;
use subnet_chain_client::{Chain, NodeUrl, RpcChain};
use subnet_protocol::ids::NetUid;

use crate::harness::{Up, alive, field, subnet};

/// Short blocks so that a tempo (10 blocks) takes 5 s.
const BLOCK_TIME: &str = "500ms";

/// A safety net only: a healthy run takes a fraction of it.
const TIMEOUT: Duration = Duration::from_secs(170);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn u64_of(value: &Value, key: &str) -> u64 {
    value[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no {key} in {value}"))
}

#[test]
fn emissions_follow_model_quality_and_everything_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("net");
    let mut up = Up::start(
        &data_dir,
        &["--epochs", "4", "--json", "--block-time", BLOCK_TIME],
    );
    let ready = up.wait_line("localnet ready ", TIMEOUT);
    let url: NodeUrl = field(&ready, "rpc").parse().unwrap();
    let netuid = NetUid(field(&ready, "netuid").parse().unwrap());

    // While it runs, the node answers over RPC: five UIDs, the miners with their AINFTs, the
    // validators with stake and permits, and a ledger in balance.
    let chain = RpcChain::new(url);
    let rt = runtime();
    let metagraph = rt.block_on(chain.metagraph(netuid)).unwrap();
    assert_eq!(metagraph.neurons.len(), 5, "{metagraph:?}");
    let miners: Vec<_> = metagraph
        .neurons
        .iter()
        .filter(|n| n.ainft.is_some())
        .collect();
    assert_eq!(miners.len(), 3);
    assert!(
        miners
            .iter()
            .all(|n| n.axon.is_some() && n.stake.get() == 0)
    );
    let validators: Vec<_> = metagraph
        .neurons
        .iter()
        .filter(|n| n.validator_permit)
        .collect();
    assert_eq!(validators.len(), 2);
    assert!(
        validators
            .iter()
            .all(|n| n.ainft.is_none() && n.stake.get() > 0)
    );
    let live = rt.block_on(chain.emissions()).unwrap();
    assert_eq!(live.total_credited, live.total_emitted);

    let out = up.wait(TIMEOUT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stderr}", out.status);
    let text = String::from_utf8(out.stdout).unwrap();
    let summary: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}\n{stderr}"));

    assert_eq!(u64_of(&summary, "epochs"), 4, "{summary:#}");
    assert!(stderr.contains("epoch 4 at block"), "{stderr}");
    let emitted = u64_of(&summary, "total_emitted");
    assert!(emitted > 0, "{summary:#}");
    assert_eq!(u64_of(&summary, "total_credited"), emitted);

    let miner = |name: &str| {
        summary["miners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["checkpoint"] == name)
            .unwrap_or_else(|| panic!("no {name} miner in {summary:#}"))
            .clone()
    };
    let (tiny, small, best) = (miner("tiny"), miner("small"), miner("best"));
    for m in [&tiny, &small, &best] {
        let on_chain = miners
            .iter()
            .find(|n| u64::from(n.uid.0) == u64_of(m, "uid"))
            .unwrap();
        assert_eq!(
            m["ainft"].as_str().unwrap(),
            on_chain.ainft.unwrap().to_string()
        );
    }
    let bits = |m: &Value| m["eval_bits_per_byte"].as_f64().unwrap();
    assert!(bits(&best) < bits(&small) && bits(&small) < bits(&tiny));
    // The better model earns more: the best checkpoint's AINFT more than the worst's.
    assert!(
        u64_of(&best, "emission") > u64_of(&tiny, "emission"),
        "{summary:#}"
    );
    assert!(u64_of(&best, "emission") > 0);
    let validators = summary["validators"].as_array().unwrap();
    assert_eq!(validators.len(), 2);
    assert!(
        validators.iter().all(|v| u64_of(v, "dividends") > 0),
        "{summary:#}"
    );

    // Every process exited 0 on SIGTERM, none needed SIGKILL.
    let processes = summary["processes"].as_array().unwrap();
    assert_eq!(processes.len(), 6, "{summary:#}");
    for p in processes {
        assert_eq!(p["exit_code"], 0, "{p}");
        assert_eq!(p["killed"], false, "{p}");
        assert!(!alive(u32::try_from(u64_of(p, "pid")).unwrap()), "{p}");
    }
    // The node is gone with them.
    assert!(rt.block_on(chain.info()).is_err());
}

#[test]
fn down_stops_what_a_killed_up_left_running() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("net");
    // With --json the progress lines, the ready line among them, go to stderr.
    let mut up = Up::start(&data_dir, &["--json", "--block-time", BLOCK_TIME]);
    up.wait_line("localnet ready ", TIMEOUT);
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(data_dir.join("localnet.json")).unwrap())
            .unwrap();
    assert_eq!(u64_of(&state, "up_pid"), u64::from(up.pid()));
    let pids: Vec<u32> = state["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| u32::try_from(u64_of(p, "pid")).unwrap())
        .collect();
    assert_eq!(pids.len(), 6, "{state:#}");

    up.kill();
    assert!(
        pids.iter().all(|&pid| alive(pid)),
        "the children should outlive a killed up"
    );
    // `up` refuses to start over a running localnet.
    let again = subnet()
        .args(["localnet", "up", "--data-dir"])
        .arg(&data_dir)
        .output()
        .unwrap();
    assert!(!again.status.success());
    let message = String::from_utf8_lossy(&again.stderr);
    assert!(message.contains("localnet down"), "{message}");

    let down = subnet()
        .args(["localnet", "down", "--json", "--data-dir"])
        .arg(&data_dir)
        .output()
        .unwrap();
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    let report: Value = serde_json::from_slice(&down.stdout).unwrap();
    assert_eq!(
        report["terminated"].as_array().unwrap().len(),
        6,
        "{report:#}"
    );
    assert_eq!(report["killed"].as_array().unwrap().len(), 0, "{report:#}");
    assert!(pids.iter().all(|&pid| !alive(pid)));
    assert!(!data_dir.exists());
}
