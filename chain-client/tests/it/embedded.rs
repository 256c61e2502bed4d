//! What only the embedded backend does: manual block advance and its queue.

use std::time::Duration;

use subnet_chain_client::{
    AnyChain, Chain, ChainBackend, ChainError, EmbeddedChain, EmbeddedConfig, Genesis,
};
use subnet_protocol::chain::{TOKEN, TxError};
use subnet_protocol::ids::{BlockNumber, Rao};
use subnet_protocol::keys::Keypair;

fn manual() -> EmbeddedChain {
    EmbeddedChain::new(&Genesis::dev()).unwrap()
}

/// Waits (yielding) until `n` writes are queued.
async fn queued(chain: &EmbeddedChain, n: usize) {
    while chain.pending() < n {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn writes_wait_for_advance_and_share_a_block() {
    let chain = manual();
    let alice = Keypair::dev("alice");
    let dest = Keypair::from_seed(&[7; 32]).public();
    let first = tokio::spawn({
        let (chain, alice) = (chain.clone(), alice.clone());
        async move { chain.transfer(&alice, dest, Rao(10)).await }
    });
    queued(&chain, 1).await;
    let second = tokio::spawn({
        let (chain, alice) = (chain.clone(), alice.clone());
        async move { chain.transfer(&alice, dest, Rao(20)).await }
    });
    queued(&chain, 2).await;
    assert_eq!(chain.account(&dest).await.unwrap().balance, Rao(0));
    let block = chain.advance().unwrap();
    assert_eq!(block.header.number, BlockNumber(1));
    assert_eq!(block.transactions.len(), 2);
    let (a, b) = (
        first.await.unwrap().unwrap(),
        second.await.unwrap().unwrap(),
    );
    assert_eq!((a.block, b.block), (BlockNumber(1), BlockNumber(1)));
    let nonces: Vec<u64> = block.transactions.iter().map(|t| t.tx.nonce).collect();
    assert_eq!(nonces, vec![0, 1]);
    assert_eq!(chain.account(&dest).await.unwrap().balance, Rao(30));
    assert_eq!(chain.pending(), 0);
}

#[tokio::test]
async fn a_block_refuses_what_no_longer_fits() {
    let chain = manual();
    let poor = Keypair::from_seed(&[8; 32]);
    let alice = Keypair::dev("alice");
    chain.set_auto_advance(true);
    chain
        .transfer(&alice, poor.public(), Rao(TOKEN.0))
        .await
        .unwrap();
    chain.set_auto_advance(false);
    let dest = Keypair::from_seed(&[9; 32]).public();
    let spend_all = tokio::spawn({
        let (chain, poor) = (chain.clone(), poor.clone());
        async move { chain.transfer(&poor, dest, Rao(TOKEN.0)).await }
    });
    queued(&chain, 1).await;
    let spend_more = tokio::spawn({
        let (chain, poor) = (chain.clone(), poor.clone());
        async move { chain.transfer(&poor, dest, Rao(1)).await }
    });
    queued(&chain, 2).await;
    chain.advance().unwrap();
    spend_all.await.unwrap().unwrap();
    match spend_more.await.unwrap() {
        Err(ChainError::Rejected(TxError::InsufficientBalance { .. })) => {}
        other => panic!("expected insufficient balance, got {other:?}"),
    }
    assert_eq!(chain.account(&poor.public()).await.unwrap().nonce, 1);
}

#[tokio::test]
async fn manual_clock_and_long_poll() {
    let chain = manual();
    assert_eq!(
        chain
            .wait_for_block(BlockNumber(0), Duration::from_millis(20))
            .await
            .unwrap(),
        BlockNumber(0)
    );
    let waiter = tokio::spawn({
        let chain = chain.clone();
        async move {
            chain
                .wait_for_block(BlockNumber(2), Duration::from_secs(60))
                .await
        }
    });
    assert_eq!(chain.advance_to(BlockNumber(3)).unwrap(), BlockNumber(3));
    assert_eq!(waiter.await.unwrap().unwrap(), BlockNumber(3));
    let block_time = chain.with_ledger(|l| l.genesis().block_time_ms);
    let times: Vec<u64> = [1, 2, 3]
        .into_iter()
        .map(|n| {
            futures_ready(chain.block(BlockNumber(n)))
                .unwrap()
                .unwrap()
                .header
                .timestamp_ms
        })
        .collect();
    assert_eq!(times, vec![0, block_time, 2 * block_time]);
}

/// Polls a future that the embedded backend completes without waiting.
fn futures_ready<F: std::future::Future>(f: F) -> F::Output {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("embedded query did not complete at once"),
    }
}

#[tokio::test]
async fn same_blocks_give_the_same_state_root() {
    let config = EmbeddedConfig {
        auto_advance: true,
        ..EmbeddedConfig::default()
    };
    let a = EmbeddedChain::with_config(&Genesis::dev(), config).unwrap();
    let b = EmbeddedChain::with_config(&Genesis::dev(), config).unwrap();
    for chain in [&a, &b] {
        chain
            .transfer(&Keypair::dev("bob"), Keypair::dev("eve").public(), Rao(77))
            .await
            .unwrap();
        chain.advance_blocks(3).unwrap();
    }
    let root = |c: &EmbeddedChain| c.with_ledger(|l| l.state_root());
    assert_eq!(root(&a), root(&b));
}

#[tokio::test]
async fn any_chain_builds_the_embedded_backend() {
    let chain = AnyChain::from_backend(&ChainBackend::Embedded { genesis: None }).unwrap();
    let receipt = chain
        .transfer(&Keypair::dev("alice"), Keypair::dev("bob").public(), Rao(1))
        .await
        .unwrap();
    assert_eq!(receipt.block, BlockNumber(1));
    let missing = ChainBackend::Embedded {
        genesis: Some("/nonexistent/genesis.toml".into()),
    };
    assert!(matches!(
        AnyChain::from_backend(&missing),
        Err(ChainError::Config(_))
    ));
}
