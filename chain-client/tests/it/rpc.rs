//! What only the RPC backend does: connection failures, the runtime-chosen backend.

use std::time::Duration;

use subnet_chain_client::{
    AnyChain, Chain, ChainBackend, ChainError, RpcChain, RpcConfig, TransportKind,
};
use subnet_protocol::ids::Rao;
use subnet_protocol::keys::Keypair;

#[tokio::test]
async fn an_unreachable_node_is_unavailable_after_retries() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let config = RpcConfig {
        connect_retries: 2,
        retry_backoff: Duration::from_millis(5),
        ..RpcConfig::default()
    };
    let chain = RpcChain::with_config(port.into(), config);
    match chain.info().await {
        Err(ChainError::Unavailable(e)) => {
            assert_eq!(e.kind(), &TransportKind::Connect);
            assert!(std::error::Error::source(&e).is_some());
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
    let err = chain
        .transfer(&Keypair::dev("alice"), Keypair::dev("bob").public(), Rao(1))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_chain_reaches_the_node_and_survives_its_restart_window() {
    let (node, _) = crate::harness::node().await;
    let url = format!("http://{}", node.rpc_addr()).parse().unwrap();
    let chain = AnyChain::from_backend(&ChainBackend::Local { url }).unwrap();
    let info = chain.info().await.unwrap();
    assert_eq!(info.genesis_hash, node.genesis_hash());
    let receipt = chain
        .transfer(&Keypair::dev("alice"), Keypair::dev("bob").public(), Rao(1))
        .await
        .unwrap();
    assert!(receipt.block > info.height);
    node.shutdown().await.unwrap();
    let err = chain.info().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}
