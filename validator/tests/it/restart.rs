//! A validator stopped mid-run and started again on the same database continues with the
//! scores, rejections and step count it had.

use std::collections::BTreeMap;
use std::time::Duration;

use subnet_protocol::ids::Uid;
use subnet_validator::{Standing, Validator};

use crate::harness::{
    hyperparameters, miner_config, start_impostor, start_miner, subnet, validator_config,
};

/// The `validator_score` gauges of a metrics exposition.
fn scores_in(text: &str) -> BTreeMap<Uid, f64> {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("validator_score{uid=\"")?;
            let (uid, value) = rest.split_once("\"} ")?;
            Some((Uid(uid.parse().ok()?), value.parse().ok()?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scores_survive_a_restart_mid_run() {
    let subnet = subnet(hyperparameters(10)).await;
    let chain = &subnet.chain;
    let tiny = start_miner(miner_config(&subnet, "r-tiny", "tiny"), chain).await;
    let best = start_miner(miner_config(&subnet, "r-best", "best"), chain).await;
    let impostor = start_impostor(
        miner_config(&subnet, "r-impostor", "best"),
        chain,
        "best",
        "tiny",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = validator_config(&subnet, dir.path());
    config.spot_check_rate = 1.0;

    // First run: the real loop, stopped once it has stepped a few times.
    let first = Validator::start(config.clone(), chain.clone())
        .await
        .unwrap();
    let metrics = first.metrics();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(first.run(async move {
        let _ = stopped.await;
    }));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while metrics.steps() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    let before = scores_in(&metrics.render());
    let steps = metrics.steps();
    assert!(
        before[&best.uid] > before[&tiny.uid] && before[&tiny.uid] > 0.0,
        "{before:?}"
    );
    assert_eq!(before[&impostor.uid], 0.0);

    // Second run on the same database.
    let mut second = Validator::start(config, chain.clone()).await.unwrap();
    let after = second.scores();
    for (uid, score) in &before {
        assert_eq!(after.get(uid), Some(score), "uid {uid}");
    }
    assert_eq!(second.steps(), steps);
    assert_eq!(second.standing(impostor.uid), Standing::Rejected);
    assert_eq!(second.standing(best.uid), Standing::Unverified);
    let report = second.step().await.unwrap();
    assert_eq!(report.step, steps);
    assert!(
        !report.queried.contains(&impostor.uid),
        "a rejected miner is not queried"
    );
    assert!(second.scores()[&best.uid] > 0.0);
    assert_eq!(second.scores()[&impostor.uid], 0.0);

    for miner in [tiny, best, impostor] {
        miner.stop().await;
    }
}
