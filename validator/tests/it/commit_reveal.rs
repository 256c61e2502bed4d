//! On a commit-reveal subnet, weights reach the chain only when revealed, inside the reveal
//! window, even when the validator restarts between commit and reveal.

use subnet_protocol::ids::BlockNumber;
use subnet_validator::{Validator, WeightsEvent, reveal_window};

use crate::harness::{
    hyperparameters, miner_config, start_miner, subnet, validator_config, weights_row,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn weights_appear_only_after_the_reveal() {
    let mut hp = hyperparameters(10);
    hp.commit_reveal_weights_enabled = true;
    hp.commit_reveal_period = 1;
    let subnet = subnet(hp).await;
    let chain = &subnet.chain;
    let small = start_miner(miner_config(&subnet, "c-small", "small"), chain).await;
    let best = start_miner(miner_config(&subnet, "c-best", "best"), chain).await;
    let dir = tempfile::tempdir().unwrap();
    let config = validator_config(&subnet, dir.path());

    let mut v = Validator::start(config.clone(), chain.clone())
        .await
        .unwrap();
    for _ in 0..2 {
        v.sync().await.unwrap();
        v.step().await.unwrap();
    }
    // Commit in the first block of an epoch interval, so its window opens a tempo later.
    let created_at = subnet_chain_client::Chain::subnet(chain, subnet.netuid)
        .await
        .unwrap()
        .created_at;
    let height = v.block().get();
    let boundary = created_at.get() + (height - created_at.get()).div_ceil(10) * 10;
    chain.advance_to(BlockNumber(boundary)).unwrap();
    v.sync().await.unwrap();
    let events = v.tick_weights().await.unwrap();
    let Some(&WeightsEvent::Committed {
        block,
        opens,
        closes,
    }) = events.first()
    else {
        panic!("expected a commit, got {events:?}");
    };
    assert_eq!(block.get(), boundary + 1);
    assert_eq!((opens, closes), reveal_window(created_at, 10, 1, block));
    assert!(
        weights_row(&subnet, v.uid()).await.is_empty(),
        "committed weights are hidden"
    );
    // Nothing to reveal yet, and the next commit is not due.
    v.sync().await.unwrap();
    assert_eq!(v.tick_weights().await.unwrap(), vec![]);
    assert!(weights_row(&subnet, v.uid()).await.is_empty());
    drop(v);

    // Restart just before the window: the commitment comes back from the database.
    chain.advance_to(BlockNumber(opens.get() - 2)).unwrap();
    let mut v = Validator::start(config, chain.clone()).await.unwrap();
    v.sync().await.unwrap();
    assert_eq!(v.tick_weights().await.unwrap(), vec![]);
    assert!(
        weights_row(&subnet, v.uid()).await.is_empty(),
        "still hidden before the window"
    );
    chain.advance_blocks(1).unwrap();
    v.sync().await.unwrap();
    let events = v.tick_weights().await.unwrap();
    let revealed = events.iter().find_map(|e| match e {
        WeightsEvent::Revealed {
            commit_block,
            block,
        } => Some((*commit_block, *block)),
        _ => None,
    });
    let (commit_block, at) = revealed.unwrap_or_else(|| panic!("no reveal in {events:?}"));
    assert_eq!(commit_block, block);
    assert!(
        opens <= at && at <= closes,
        "revealed at {at}, window {opens}..={closes}"
    );
    let row = weights_row(&subnet, v.uid()).await;
    let w = |uid| row.iter().find(|(u, _)| *u == uid).map_or(0, |(_, w)| *w);
    assert!(w(best.uid) > w(small.uid) && w(small.uid) > 0, "{row:?}");
    assert_eq!(v.metrics().weights("reveal", "ok"), 1);

    small.stop().await;
    best.stop().await;
}
