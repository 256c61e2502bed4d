//! A UID whose AINFT changes starts over: score 0, identity checked again, and a miner still
//! serving its old model under the new registration is rejected.

use subnet_chain_client::Chain;
use subnet_protocol::keys::Keypair;
use subnet_validator::{Failure, Standing, Validator};

use crate::harness::{
    hyperparameters, miner_config, model_info, start_miner, subnet, validator_config,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ainft_change_at_a_uid_starts_its_score_over() {
    let subnet = subnet(hyperparameters(10)).await;
    let chain = &subnet.chain;
    let miner = start_miner(miner_config(&subnet, "i-tiny", "tiny"), chain).await;
    let dir = tempfile::tempdir().unwrap();
    let mut v = Validator::start(validator_config(&subnet, dir.path()), chain.clone())
        .await
        .unwrap();
    for _ in 0..2 {
        v.sync().await.unwrap();
        v.step().await.unwrap();
    }
    assert!(v.scores()[&miner.uid] > 0.0);
    assert!(matches!(v.standing(miner.uid), Standing::Verified { .. }));

    // The UID now claims the small checkpoint's AINFT, while still serving tiny.
    let small = model_info(&subnet, "small").await;
    chain
        .set_neuron_ainft(&Keypair::dev("i-tiny"), subnet.netuid, Some(small.id))
        .await
        .unwrap();
    assert!(v.sync().await.unwrap());
    assert_eq!(v.scores()[&miner.uid], 0.0, "score starts over");
    assert_eq!(v.standing(miner.uid), Standing::Unverified);
    assert_eq!(v.record(miner.uid).unwrap().ainft, Some(small.id));

    let report = v.step().await.unwrap();
    assert_eq!(report.rejected, vec![(miner.uid, Failure::AinftMismatch)]);
    assert_eq!(v.standing(miner.uid), Standing::Rejected);
    assert_eq!(v.scores()[&miner.uid], 0.0);
    miner.stop().await;
}
