//! The chain commands against an in-process node on 127.0.0.1:0: subnet create, hyperparameters,
//! AINFT register and show, register, stake, metagraph, emissions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use subnet_chain_client::{Chain, RpcChain};
use subnet_node::{Node, NodeConfig};
use subnet_protocol::ainft::{
    AinftManifest, DataSource, Digest, ModelSpec, Parent, ServiceSpec, StateLocation,
};
use subnet_protocol::ids::{BlockNumber, NetUid, Uid};
use subnet_protocol::keys::Keypair;

use crate::common::{fails, json, ok};

/// Short blocks, so that epochs of a few blocks come quickly.
const BLOCK_TIME: Duration = Duration::from_millis(50);
/// Longest wait for the chain to reach a state.
const PATIENCE_BLOCKS: u64 = 400;

fn manifest(name: &str, netuid: NetUid, parent: Option<Parent>) -> AinftManifest {
    AinftManifest {
        data: DataSource {
            uri: format!("file:///data/{name}"),
            digest: Digest::of(name.as_bytes()),
        },
        model: ModelSpec {
            name: name.into(),
            architecture: "byte-transformer".into(),
            hyperparameters: BTreeMap::from([("d_model".into(), "64".into())]),
            training_steps: 100,
            weights_digest: Digest::of(format!("weights-{name}").as_bytes()),
        },
        service: ServiceSpec {
            netuid,
            task: "next-byte".into(),
            protocol_version: 1,
        },
        state: StateLocation {
            chain: "local".into(),
            genesis_hash: Digest::default(),
            netuid,
        },
        parent,
    }
}

struct Ctx {
    url: String,
    wallets: tempfile::TempDir,
}

impl Ctx {
    fn args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec![
            "--chain",
            self.url.as_str(),
            "--wallet-dir",
            self.wallets.path().to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        all
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.wallets.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// Blocks until `done` holds for the chain's state, checking once per block.
fn wait_until(
    runtime: &tokio::runtime::Runtime,
    chain: &RpcChain,
    what: &str,
    mut done: impl FnMut(&RpcChain) -> bool,
) {
    let start = runtime.block_on(chain.current_block()).unwrap();
    loop {
        if done(chain) {
            return;
        }
        let now = runtime.block_on(chain.current_block()).unwrap();
        assert!(
            now.get() < start.get() + PATIENCE_BLOCKS,
            "gave up waiting for {what} after {PATIENCE_BLOCKS} blocks"
        );
        runtime
            .block_on(chain.wait_for_block(now, Duration::from_secs(5)))
            .unwrap();
    }
}

#[test]
fn chain_commands_against_a_node() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let node = runtime
        .block_on(Node::start(NodeConfig {
            rpc_addr: "127.0.0.1:0".parse().unwrap(),
            block_time: Some(BLOCK_TIME),
            ..NodeConfig::default()
        }))
        .unwrap();
    let chain = RpcChain::new(node.rpc_addr().into());
    let ctx = Ctx {
        url: format!("http://{}", node.rpc_addr()),
        wallets: tempfile::tempdir().unwrap(),
    };

    // Subnet from the shipped localnet config, owned by the dev key alice.
    let config = repo("deploy/localnet/subnet.toml");
    let created = json(&ctx.args(&[
        "subnet",
        "create",
        "--config",
        config.to_str().unwrap(),
        "--coldkey",
        "dev:alice",
    ]));
    let netuid = created["netuid"].as_u64().unwrap() as u16;
    let netuid_text = netuid.to_string();
    let n = netuid_text.as_str();
    assert_eq!(created["hyperparameters"]["tempo"], 10);
    let listed = json(&ctx.args(&["subnet", "list"]));
    assert_eq!(listed[0]["netuid"], netuid);

    // Hyperparameters: read, set by the owner, refused for anyone else.
    let hp = json(&ctx.args(&["subnet", "hyperparams", "--netuid", n]));
    assert_eq!(hp["tempo"], 10);
    let hp = json(&ctx.args(&[
        "subnet",
        "hyperparams",
        "--netuid",
        n,
        "--set",
        "tempo=4",
        "--set",
        "weights_rate_limit=1",
        "--coldkey",
        "dev:alice",
    ]));
    assert_eq!(
        (hp["tempo"].as_u64(), hp["weights_rate_limit"].as_u64()),
        (Some(4), Some(1))
    );
    assert!(ok(&ctx.args(&["subnet", "hyperparams", "--netuid", n])).contains("tempo"));
    fails(
        &ctx.args(&[
            "subnet",
            "hyperparams",
            "--netuid",
            n,
            "--set",
            "tempo=7",
            "--coldkey",
            "dev:bob",
        ]),
        "rejected",
    );
    fails(
        &ctx.args(&[
            "subnet",
            "hyperparams",
            "--netuid",
            n,
            "--set",
            "tempoo=7",
            "--coldkey",
            "dev:alice",
        ]),
        "tempoo",
    );

    // AINFTs: a parent (bob's) and a child paying it a 10 % royalty (dave's).
    let parent = manifest("parent-model", NetUid(netuid), None);
    let path = ctx.write("parent.json", &serde_json::to_string(&parent).unwrap());
    let registered = json(&ctx.args(&[
        "ainft",
        "register",
        "--manifest",
        path.to_str().unwrap(),
        "--coldkey",
        "dev:bob",
    ]));
    let parent_id = parent.id().to_string();
    assert_eq!(registered["id"], parent_id.as_str());
    let child = manifest(
        "child-model",
        NetUid(netuid),
        Some(Parent {
            id: parent.id(),
            royalty_ppm: 100_000,
        }),
    );
    let path = ctx.write("child.json", &serde_json::to_string(&child).unwrap());
    ok(&ctx.args(&[
        "ainft",
        "register",
        "--manifest",
        path.to_str().unwrap(),
        "--coldkey",
        "dev:dave",
    ]));
    let child_id = child.id().to_string();

    // A miner hotkey from the wallet serving the child; a validator with stake.
    ok(&ctx.args(&["wallet", "create-hotkey", "miner1"]));
    let miner = json(&ctx.args(&[
        "register",
        "--netuid",
        n,
        "--hotkey",
        "miner1",
        "--coldkey",
        "dev:dave",
        "--ainft",
        &child_id,
    ]));
    assert_eq!(miner["uid"], 0);
    // Staked before it registers, so that no epoch's dividends land between the checks.
    let validator = Keypair::dev("validator");
    let address = validator.public().to_string();
    let staked = json(&ctx.args(&[
        "stake",
        "add",
        "--hotkey",
        &address,
        "--amount",
        "1000",
        "--coldkey",
        "dev:charlie",
    ]));
    assert_eq!(staked["stake"], 1_000_000_000_000u64);
    let staked = json(&ctx.args(&[
        "stake",
        "remove",
        "--hotkey",
        &address,
        "--amount",
        "100.5",
        "--coldkey",
        "dev:charlie",
    ]));
    assert_eq!(staked["stake"], 899_500_000_000u64);
    fails(
        &ctx.args(&[
            "stake",
            "remove",
            "--hotkey",
            &address,
            "--amount",
            "1000000",
            "--coldkey",
            "dev:charlie",
        ]),
        "rejected",
    );
    fails(
        &ctx.args(&[
            "stake",
            "add",
            "--hotkey",
            &address,
            "--amount",
            "1.0000000001",
            "--coldkey",
            "dev:charlie",
        ]),
        "decimal",
    );

    let registered = json(&ctx.args(&[
        "register",
        "--netuid",
        n,
        "--hotkey",
        "dev:validator",
        "--coldkey",
        "dev:charlie",
    ]));
    assert_eq!(registered["uid"], 1);

    // Once the validator holds a permit it weights the miner; two epochs later emission flowed.
    let netuid = NetUid(netuid);
    wait_until(&runtime, &chain, "a validator permit", |c| {
        let m = runtime.block_on(c.metagraph(netuid)).unwrap();
        m.neurons.get(1).is_some_and(|v| v.validator_permit)
    });
    runtime
        .block_on(chain.set_weights(&validator, netuid, vec![Uid(0)], vec![u16::MAX], 0))
        .unwrap();
    let first = runtime
        .block_on(chain.metagraph(netuid))
        .unwrap()
        .last_epoch_block;
    wait_until(&runtime, &chain, "two epochs", |c| {
        let m = runtime.block_on(c.metagraph(netuid)).unwrap();
        m.last_epoch_block > first.map(|b| BlockNumber(b.get() + 4))
    });

    let m = json(&ctx.args(&["metagraph", "--netuid", n]));
    let neurons = m["neurons"].as_array().unwrap();
    assert_eq!(neurons.len(), 2);
    assert_eq!(neurons[0]["ainft"], child_id.as_str());
    assert!(neurons[0]["incentive"].as_u64().unwrap() > 0, "{m}");
    assert!(neurons[0]["total_emission"].as_u64().unwrap() > 0, "{m}");
    assert!(neurons[1]["dividends"].as_u64().unwrap() > 0, "{m}");
    assert!(
        neurons[1]["stake"].as_u64().unwrap() > 899_500_000_000,
        "{m}"
    );
    let text = ok(&ctx.args(&["metagraph", "--netuid", n]));
    assert!(
        text.contains("INCENTIVE") && text.contains(&child.id().short()),
        "{text}"
    );

    let e = json(&ctx.args(&["emissions"]));
    assert_eq!(e["total_emitted"], e["total_credited"], "{e}");
    assert!(e["total_emitted"].as_u64().unwrap() > 0);
    let ainfts = e["ainfts"].as_array().unwrap();
    let find = |id: &str| ainfts.iter().find(|a| a["id"] == id).unwrap().clone();
    let (c, p) = (find(&child_id), find(&parent_id));
    let earned = c["earned"].as_u64().unwrap();
    let royalty = c["royalties_paid"].as_u64().unwrap();
    assert!(earned > 0, "{e}");
    // 10 % of each epoch's amount, floored per epoch.
    assert!(
        royalty <= earned / 10 && royalty + 100 >= earned / 10,
        "{e}"
    );
    assert_eq!(p["royalties_received"], c["royalties_paid"]);
    assert_eq!(c["lineage"], serde_json::json!([parent_id]));
    assert_eq!(p["children"], serde_json::json!([child_id]));
    let dave = Keypair::dev("dave").public().to_string();
    let accounts = e["accounts"].as_array().unwrap();
    let dave_row = accounts
        .iter()
        .find(|a| a["account"] == dave.as_str())
        .unwrap();
    assert!(
        dave_row["as_ainft_owner"].as_u64().unwrap() >= earned - royalty,
        "{e}"
    );
    let text = ok(&ctx.args(&["emissions"]));
    assert!(text.contains(&child.id().short()), "{text}");
    assert!(text.contains(&parent.id().short()), "{text}");

    let shown = json(&ctx.args(&["ainft", "show", &child_id]));
    assert_eq!(shown["parent"], parent_id.as_str());
    assert_eq!(shown["royalty_ppm"], 100_000);
    assert_eq!(shown["owner"], dave.as_str());
    assert!(shown["earned"].as_u64().unwrap() >= earned);
    assert_eq!(shown["manifest"]["model"]["name"], "child-model");
    let text = ok(&ctx.args(&["ainft", "show", &parent_id]));
    assert!(
        text.contains("parent-model") && text.contains(&child.id().short()),
        "{text}"
    );

    // Errors are one line.
    fails(&ctx.args(&["metagraph", "--netuid", "99"]), "not found");
    let unknown = manifest("never-registered", netuid, None).id().to_string();
    fails(&ctx.args(&["ainft", "show", &unknown]), "not registered");
    fails(&ctx.args(&["ainft", "show", "ainft1nope"]), "ainft1nope");
    fails(
        &[
            "--chain",
            "http://127.0.0.1:9",
            "metagraph",
            "--netuid",
            "1",
        ],
        "unavailable",
    );

    runtime.block_on(node.shutdown()).unwrap();
}
