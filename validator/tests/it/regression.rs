//! The second task of `examples/regression`: a linear-regression subnet served and validated by
//! the same engine, with an impostor caught by the same identity checks.

#[path = "../../examples/regression/task.rs"]
mod task;

use subnet_validator::{Failure, Standing, Validator, WeightsEvent};
use task::{LinearModel, LinearSolver, RegressionEvaluator, served};

use crate::harness::{hyperparameters, miner_config, start_served, subnet, validator_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_task_plugs_into_the_same_engine() {
    let subnet = subnet(hyperparameters(10)).await;
    let chain = &subnet.chain;
    let world = LinearModel {
        w: vec![0.5, -1.0, 2.0, 0.25],
        b: 0.1,
    };
    let close = LinearModel {
        w: vec![0.5, -1.0, 1.9, 0.25],
        b: 0.1,
    };
    let rough = LinearModel {
        w: vec![0.0, -0.5, 1.0, 0.0],
        b: 0.0,
    };
    let start = |name: &'static str, registered: LinearModel, answers: LinearModel| {
        let config = miner_config(&subnet, name, "tiny");
        async move {
            start_served(
                config,
                chain,
                served(name, &registered, LinearSolver(answers)),
            )
            .await
        }
    };
    let close_miner = start("reg-close", close.clone(), close.clone()).await;
    let rough_miner = start("reg-rough", rough.clone(), rough).await;
    // Registers the close model's AINFT (the same manifest), answers with another model.
    let impostor = start_served(
        miner_config(&subnet, "reg-impostor", "tiny"),
        chain,
        served("reg-close", &close, LinearSolver(impostor_answers())),
    )
    .await;
    assert_eq!(impostor.ainft, close_miner.ainft);

    let dir = tempfile::tempdir().unwrap();
    let mut config = validator_config(&subnet, dir.path());
    config.reward_temperature = 0.1;
    let mut v = Validator::start_with(config, chain.clone(), RegressionEvaluator::new(world))
        .await
        .unwrap();
    for _ in 0..3 {
        v.sync().await.unwrap();
        v.step().await.unwrap();
    }
    let scores = v.scores();
    assert!(
        scores[&close_miner.uid] > scores[&rough_miner.uid],
        "{scores:?}"
    );
    assert!(scores[&rough_miner.uid] > 0.0, "{scores:?}");
    assert_eq!(scores[&impostor.uid], 0.0);
    assert_eq!(v.standing(impostor.uid), Standing::Rejected);
    assert_eq!(v.metrics().verification_failures(Failure::SpotCheck), 1);
    v.sync().await.unwrap();
    let set = v.tick_weights().await.unwrap();
    assert!(
        set.iter()
            .any(|e| matches!(e, WeightsEvent::Set { uids, .. }
            if uids.contains(&close_miner.uid.0) && !uids.contains(&impostor.uid.0))),
        "{set:?}"
    );
    for miner in [close_miner, rough_miner, impostor] {
        miner.stop().await;
    }
}

/// A model close to the registered one, but not it.
fn impostor_answers() -> LinearModel {
    LinearModel {
        w: vec![0.5, -1.0, 1.8, 0.25],
        b: 0.1,
    }
}
