//! What the shared suite needs beyond [`Chain`]: a way to let blocks pass.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use subnet_chain_client::{BlockWatcher, Chain, EmbeddedChain, EmbeddedConfig, Genesis, RpcChain};
use subnet_node::{Node, NodeConfig};
use subnet_protocol::ainft::{
    AinftManifest, DataSource, Digest, ModelSpec, ServiceSpec, StateLocation,
};
use subnet_protocol::ids::NetUid;

/// Block time of the in-process node: short, so that epochs come quickly.
pub(crate) const NODE_BLOCK_TIME: Duration = Duration::from_millis(50);

/// A chain the suite can run on.
pub(crate) trait Harness: Chain + Clone + 'static {
    /// Lets at least `n` more blocks be committed (produces them, or waits for them).
    fn blocks(&self, n: u64) -> impl Future<Output = ()>;
}

impl Harness for EmbeddedChain {
    async fn blocks(&self, n: u64) {
        self.advance_blocks(n).unwrap();
    }
}

impl Harness for RpcChain {
    async fn blocks(&self, n: u64) {
        let mut watcher = BlockWatcher::from_now(self).await.unwrap();
        let target = watcher.last().saturating_add(n);
        while watcher.next(self).await.unwrap() < target {}
    }
}

/// An embedded dev chain that produces a block per write.
pub(crate) fn embedded() -> EmbeddedChain {
    let config = EmbeddedConfig {
        auto_advance: true,
        ..EmbeddedConfig::default()
    };
    EmbeddedChain::with_config(&Genesis::dev(), config).unwrap()
}

/// A dev node on 127.0.0.1:0 with [`NODE_BLOCK_TIME`] blocks, and a client of it.
pub(crate) async fn node() -> (Node, RpcChain) {
    let config = NodeConfig {
        rpc_addr: "127.0.0.1:0".parse().unwrap(),
        block_time: Some(NODE_BLOCK_TIME),
        ..NodeConfig::default()
    };
    let node = Node::start(config).await.unwrap();
    let chain = RpcChain::new(node.rpc_addr().into());
    (node, chain)
}

/// A valid manifest named `name` serving `netuid`.
pub(crate) fn manifest(name: &str, netuid: NetUid) -> AinftManifest {
    AinftManifest {
        data: DataSource {
            uri: format!("file:///data/{name}"),
            digest: Digest::of(name.as_bytes()),
        },
        model: ModelSpec {
            name: name.into(),
            architecture: "byte-mlp".into(),
            hyperparameters: BTreeMap::from([("width".into(), "64".into())]),
            training_steps: 10,
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
        parent: None,
    }
}

/// Runs one suite case on a fresh embedded chain and on a fresh in-process node.
macro_rules! both_backends {
    ($($case:ident),* $(,)?) => {
        mod on_embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let chain = crate::harness::embedded();
                    crate::suite::$case(&chain).await;
                }
            )*
        }
        mod on_node {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (node, chain) = crate::harness::node().await;
                    crate::suite::$case(&chain).await;
                    node.shutdown().await.unwrap();
                }
            )*
        }
    };
}
pub(crate) use both_backends;
