//! A subnet on an embedded chain, miners started in-process, and validator clients.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use subnet_chain_client::{Chain, EmbeddedChain, EmbeddedConfig, Genesis, ReceiptExt};
use subnet_miner::client::MinerTarget;
use subnet_miner::{Config, DevKey, KeySource, Miner, MinerError, MinerMetrics};
use subnet_models::{ByteLm, Cpu, load_checkpoint};
use subnet_protocol::chain::{Hyperparameters, TOKEN};
use subnet_protocol::ids::{NetUid, Rao, Uid};
use subnet_protocol::keys::Keypair;
use subnet_protocol::net::{Client, NetConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The smallest shipped checkpoint.
pub(crate) fn checkpoint(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models/checkpoints")
        .join(format!("{name}.mpk"))
}

/// The tiny checkpoint's model, loaded here to compare against.
pub(crate) fn local_model() -> ByteLm<Cpu> {
    load_checkpoint::<Cpu>(&checkpoint("tiny"), &Default::default())
        .unwrap()
        .model
}

/// A subnet with a validator `v` that holds a permit (staked, after an epoch) and a
/// registered hotkey `w` without one (no stake; the subnet has a single permit).
pub(crate) struct Subnet {
    pub(crate) chain: EmbeddedChain,
    pub(crate) netuid: NetUid,
    pub(crate) v: Keypair,
    pub(crate) w: Keypair,
}

pub(crate) async fn subnet() -> Subnet {
    let config = EmbeddedConfig {
        auto_advance: true,
        ..EmbeddedConfig::default()
    };
    let chain = EmbeddedChain::with_config(&Genesis::dev(), config).unwrap();
    let (charlie, dave) = (Keypair::dev("charlie"), Keypair::dev("dave"));
    let hp = Hyperparameters {
        tempo: 4,
        immunity_period: 1000,
        activity_cutoff: 1000,
        weights_rate_limit: 0,
        max_allowed_uids: 16,
        max_allowed_validators: 1,
        ..Hyperparameters::default()
    };
    let netuid = chain
        .create_subnet(&charlie, hp.clone())
        .await
        .unwrap()
        .created_netuid()
        .unwrap();
    let v = Keypair::from_seed(&[11; 32]);
    let w = Keypair::from_seed(&[12; 32]);
    for key in [&v, &w] {
        chain
            .register(&dave, netuid, key.public(), None)
            .await
            .unwrap();
    }
    chain
        .add_stake(&dave, v.public(), Rao(1000 * TOKEN.0))
        .await
        .unwrap();
    chain.advance_blocks(u64::from(hp.tempo) + 1).unwrap();
    let metagraph = chain.metagraph(netuid).await.unwrap();
    assert!(metagraph.by_hotkey(&v.public()).unwrap().validator_permit);
    assert!(!metagraph.by_hotkey(&w.public()).unwrap().validator_permit);
    Subnet {
        chain,
        netuid,
        v,
        w,
    }
}

/// A miner config for `subnet`: dev hotkey `name`, coldkey eve, the tiny checkpoint, loopback.
pub(crate) fn config(subnet: &Subnet, name: &str) -> Config {
    let mut config = Config {
        hotkey: KeySource::Dev(DevKey { dev: name.into() }),
        coldkey: KeySource::Dev(DevKey { dev: "eve".into() }),
        netuid: subnet.netuid,
        listen: "127.0.0.1:0".parse().unwrap(),
        checkpoint: checkpoint("tiny"),
        seed: Some(1),
        ..Config::default()
    };
    config.limits.max_batch_wait = Duration::from_millis(1);
    config
}

/// A miner serving in the background.
pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    pub(crate) uid: Uid,
    pub(crate) target: MinerTarget,
    pub(crate) metrics: MinerMetrics,
    pub(crate) metrics_addr: Option<SocketAddr>,
    pub(crate) miner_ainft: subnet_protocol::ainft::AinftId,
    pub(crate) writes: Vec<subnet_miner::ChainWrite>,
    stop: Option<oneshot::Sender<()>>,
    serving: Option<JoinHandle<Result<(), MinerError>>>,
}

pub(crate) async fn start(config: Config, chain: &EmbeddedChain) -> Running {
    let miner = Miner::start(config, chain.clone()).await.unwrap();
    let target = MinerTarget {
        addr: miner.addr(),
        fingerprint: miner.fingerprint(),
        hotkey: miner.hotkey(),
    };
    let (addr, uid, metrics, metrics_addr) = (
        miner.addr(),
        miner.uid(),
        miner.metrics(),
        miner.metrics_addr(),
    );
    let (miner_ainft, writes) = (miner.ainft(), miner.registration().writes.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(miner.serve(async move {
        // A dropped sender also means stop.
        let _ = stopped.await;
    }));
    Running {
        addr,
        uid,
        target,
        metrics,
        metrics_addr,
        miner_ainft,
        writes,
        stop: Some(stop),
        serving: Some(serving),
    }
}

impl Running {
    /// Asks the miner to stop and waits for it.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(serving) = self.serving.take() {
            serving.await.unwrap().unwrap();
        }
    }

    /// Asks the miner to stop without waiting.
    pub(crate) fn begin_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A validator-side client for `key` on loopback.
pub(crate) fn client(key: &Keypair) -> Client {
    Client::bind(
        "127.0.0.1:0".parse().unwrap(),
        key.clone(),
        NetConfig::default(),
    )
    .unwrap()
}

/// Deterministic text-like contexts.
pub(crate) fn text(seed: usize, len: usize) -> Vec<u8> {
    const SOURCE: &[u8] = b"The Jargon File is a comprehensive compendium of hacker slang \
        illuminating many aspects of hackish tradition, folklore, and humor. This document is \
        in the public domain, to be freely used, shared, and modified.";
    SOURCE
        .iter()
        .cycle()
        .skip(seed * 7)
        .take(len)
        .copied()
        .collect()
}
