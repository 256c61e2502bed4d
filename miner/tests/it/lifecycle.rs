//! Restarts and shutdown.

use std::sync::Arc;
use std::time::Duration;

use subnet_chain_client::Chain;
use subnet_miner::client::{call_task, health};
use subnet_miner::{ChainWrite, TlsFiles};
use subnet_protocol::keys::Keypair;
use subnet_protocol::task::{NextByte, NextByteRequest};

use crate::harness::{checkpoint, client, config, start, subnet, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_registers_nothing_already_there() {
    let subnet = subnet().await;
    let dir = tempfile::tempdir().unwrap();
    let mut first = config(&subnet, "m1");
    first.seed = None;
    first.tls = Some(TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    });
    let miner = start(first.clone(), &subnet.chain).await;
    assert_eq!(
        miner.writes,
        vec![
            ChainWrite::RegisteredAinft,
            ChainWrite::RegisteredHotkey,
            ChainWrite::ServedAxon
        ]
    );
    let (addr, uid, ainft) = (miner.addr, miner.uid, miner.miner_ainft);
    miner.stop().await;

    let (eve, hot) = (Keypair::dev("eve").public(), Keypair::dev("m1").public());
    let nonces = |chain: subnet_chain_client::EmbeddedChain| async move {
        (
            chain.account(&eve).await.unwrap().nonce,
            chain.account(&hot).await.unwrap().nonce,
        )
    };
    let before = nonces(subnet.chain.clone()).await;
    let height = subnet.chain.current_block().await.unwrap();

    // Same keys, certificate files, port and model: nothing to write.
    let mut again = first.clone();
    again.listen = addr;
    let miner = start(again.clone(), &subnet.chain).await;
    assert_eq!(miner.writes, vec![]);
    assert_eq!((miner.uid, miner.miner_ainft), (uid, ainft));
    assert_eq!(nonces(subnet.chain.clone()).await, before);
    assert_eq!(subnet.chain.current_block().await.unwrap(), height);
    let v = client(&subnet.v);
    call_task(
        &v,
        &miner.target,
        &NextByte,
        &NextByteRequest::new(text(0, 8), 1).unwrap(),
    )
    .await
    .unwrap();
    v.close().await;
    miner.stop().await;

    // A new model: a new AINFT, and the UID points at it; the axon is unchanged.
    let mut retrained = again;
    retrained.checkpoint = checkpoint("small");
    let miner = start(retrained, &subnet.chain).await;
    assert_eq!(
        miner.writes,
        vec![ChainWrite::RegisteredAinft, ChainWrite::SetNeuronAinft]
    );
    assert_eq!(miner.uid, uid);
    assert_ne!(miner.miner_ainft, ainft);
    let metagraph = subnet.chain.metagraph(subnet.netuid).await.unwrap();
    assert_eq!(
        metagraph.by_uid(uid).unwrap().ainft,
        Some(miner.miner_ainft)
    );
    miner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_requests_in_flight_finish() {
    let subnet = subnet().await;
    let mut config = config(&subnet, "m1");
    // Requests wait in the queue for a batch that does not fill before the shutdown comes;
    // shutting down runs them at once rather than after the wait.
    config.limits.max_batch_size = 64;
    config.limits.request_timeout = Duration::from_secs(60);
    config.limits.max_batch_wait = Duration::from_secs(60);
    let mut miner = start(config, &subnet.chain).await;
    let v = Arc::new(client(&subnet.v));
    let calls: Vec<_> = (0..4)
        .map(|i| {
            let (v, target) = (Arc::clone(&v), miner.target);
            tokio::spawn(async move {
                let request = NextByteRequest::new(text(i, 32), 2).unwrap();
                call_task(&v, &target, &NextByte, &request).await
            })
        })
        .collect();
    // Wait until the miner holds all four (health is answered without queueing).
    loop {
        let h = health(&v, &miner.target).await.unwrap();
        if h.queue_depth == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    miner.begin_stop();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(miner.metrics.inferences(), 4);
    miner.stop().await;
    v.close().await;
}
