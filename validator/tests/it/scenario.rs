//! Three honest miners of different quality, an impostor and a silent miner: the validator's
//! weights and the chain's emissions order the honest miners by quality and give the others
//! nothing.

use std::collections::BTreeMap;

use subnet_chain_client::Chain;
use subnet_protocol::ids::Uid;
use subnet_protocol::keys::Keypair;
use subnet_validator::{Failure, QueryResult, Standing, Validator, WeightsEvent};

use crate::harness::{
    Scripted, Silent, hyperparameters, miner_config, start_impostor, start_miner, subnet,
    validator_config, weights_row,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn weights_and_emissions_follow_model_quality() {
    let subnet = subnet(hyperparameters(10)).await;
    let chain = &subnet.chain;
    let tiny = start_miner(miner_config(&subnet, "m-tiny", "tiny"), chain).await;
    let small = start_miner(miner_config(&subnet, "m-small", "small"), chain).await;
    let best = start_miner(miner_config(&subnet, "m-best", "best"), chain).await;
    let impostor = start_impostor(
        miner_config(&subnet, "m-impostor", "best"),
        chain,
        "best",
        "tiny",
    )
    .await;
    assert_eq!(
        impostor.ainft, best.ainft,
        "the impostor registers best's AINFT"
    );
    let silent_key = Keypair::dev("m-silent");
    let silent = Scripted::start(&subnet, &silent_key, &silent_key, Some(tiny.ainft), Silent).await;

    let dir = tempfile::tempdir().unwrap();
    let mut v = Validator::start(validator_config(&subnet, dir.path()), chain.clone())
        .await
        .unwrap();
    assert_eq!(v.uid(), subnet.validator_uid);

    let mut set = Vec::new();
    for _tempo in 0..3 {
        for _ in 0..2 {
            v.sync().await.unwrap();
            let report = v.step().await.unwrap();
            assert!(!report.sampled.contains(&v.uid()), "never queries itself");
            assert_eq!(report.sampled.len(), 5);
        }
        v.sync().await.unwrap();
        for event in v.tick_weights().await.unwrap() {
            if let WeightsEvent::Set { uids, values, .. } = event {
                set.push((uids, values));
            }
        }
        chain.advance_blocks(u64::from(subnet.hp.tempo)).unwrap();
    }
    assert_eq!(set.len(), 3, "weights set once per tempo");

    let scores = v.scores();
    let score = |uid: Uid| scores[&uid];
    println!(
        "scores: tiny {} small {} best {} impostor {} silent {}",
        score(tiny.uid),
        score(small.uid),
        score(best.uid),
        score(impostor.uid),
        score(silent.uid)
    );
    assert!(score(best.uid) > score(small.uid), "{scores:?}");
    assert!(score(small.uid) > score(tiny.uid), "{scores:?}");
    assert!(score(tiny.uid) > 0.0, "{scores:?}");
    assert_eq!(score(impostor.uid), 0.0);
    assert_eq!(score(silent.uid), 0.0);
    assert_eq!(v.standing(impostor.uid), Standing::Rejected);
    assert!(v.record(impostor.uid).unwrap().rejected);
    assert_eq!(v.standing(silent.uid), Standing::Unverified);
    assert!(matches!(v.standing(best.uid), Standing::Verified { .. }));
    // One download per registered weights digest: tiny, small and best (shared by the
    // impostor).
    assert_eq!(v.references(), 3);
    let metrics = v.metrics();
    assert_eq!(metrics.verification_failures(Failure::SpotCheck), 1);
    assert!(metrics.spot_checks() > 0);
    assert!(metrics.queries(QueryResult::Ok) > 0);

    // The weights on chain order the honest miners and leave the others out.
    let row: BTreeMap<Uid, u16> = weights_row(&subnet, v.uid()).await.into_iter().collect();
    let w = |uid: Uid| row.get(&uid).copied().unwrap_or(0);
    assert!(w(best.uid) > w(small.uid) && w(small.uid) > w(tiny.uid) && w(tiny.uid) > 0);
    assert_eq!((w(impostor.uid), w(silent.uid)), (0, 0), "{row:?}");

    // The epochs since paid the miners in the same order.
    let metagraph = chain.metagraph(subnet.netuid).await.unwrap();
    let earned = |uid: Uid| metagraph.by_uid(uid).unwrap().total_emission.0;
    println!(
        "emission: tiny {} small {} best {} impostor {} silent {}",
        earned(tiny.uid),
        earned(small.uid),
        earned(best.uid),
        earned(impostor.uid),
        earned(silent.uid)
    );
    assert!(earned(best.uid) > earned(small.uid));
    assert!(earned(small.uid) > earned(tiny.uid));
    assert!(earned(tiny.uid) > 0);
    assert_eq!((earned(impostor.uid), earned(silent.uid)), (0, 0));
    let incentive = |uid: Uid| metagraph.by_uid(uid).unwrap().incentive;
    assert!(incentive(best.uid) > incentive(small.uid));
    assert!(incentive(small.uid) > incentive(tiny.uid));

    silent.stop().await;
    for miner in [tiny, small, best, impostor] {
        miner.stop().await;
    }
}
