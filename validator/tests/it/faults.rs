//! Miners that time out, refuse, send garbage or sign with the wrong key score 0 for those
//! requests; the step goes on and the honest miner is scored as usual.

use std::time::Duration;

use subnet_protocol::RejectReason;
use subnet_protocol::keys::Keypair;
use subnet_protocol::task::{NextByte, NextByteAnswer, Task};
use subnet_validator::{QueryResult, Standing, Validator};

use crate::harness::{
    Faulty, Reply, Scripted, Silent, hyperparameters, miner_config, model_info, start_miner,
    subnet, validator_config,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faulty_answers_score_zero_and_the_step_goes_on() {
    let subnet = subnet(hyperparameters(10)).await;
    let chain = &subnet.chain;
    let tiny = start_miner(miner_config(&subnet, "f-tiny", "tiny"), chain).await;
    let info = model_info(&subnet, "tiny").await;
    assert_eq!(info.id, tiny.ainft);
    // Serves tiny's identity, then per task request in turn: a valid (uniform) answer,
    // garbage, nothing, a refusal.
    let faulty = Faulty::new("tiny", &info, |n, request| match n % 4 {
        0 => {
            let rows = usize::from(request.positions());
            let answer = NextByteAnswer::new(vec![-(256f32.ln()); rows * 256]);
            Reply::Body(NextByte.encode_answer(&answer).unwrap())
        }
        1 => Reply::Body(vec![0xde, 0xad, 0xbe, 0xef]),
        2 => Reply::Hang,
        _ => Reply::Refuse(RejectReason::Busy),
    });
    let faulty_key = Keypair::dev("f-faulty");
    let faulty = Scripted::start(&subnet, &faulty_key, &faulty_key, Some(info.id), faulty).await;
    // Registered under one hotkey, signing with another: nothing it sends verifies.
    let (registered, signer) = (Keypair::dev("f-forger"), Keypair::dev("f-other"));
    let forger = Scripted::start(&subnet, &registered, &signer, Some(info.id), Silent).await;

    let dir = tempfile::tempdir().unwrap();
    let mut config = validator_config(&subnet, dir.path());
    config.spot_check_rate = 0.0;
    config.requests_per_miner = 8;
    config.request_timeout = Duration::from_secs(3);
    let mut v = Validator::start(config, chain.clone()).await.unwrap();
    let mut results = std::collections::BTreeMap::new();
    for _ in 0..2 {
        v.sync().await.unwrap();
        let report = v.step().await.unwrap();
        assert_eq!(report.queried.len(), 2, "{report:?}");
        for (result, n) in report.results {
            *results.entry(result).or_insert(0) += n;
        }
        assert!(report.rewards[&tiny.uid] > report.rewards[&faulty.uid]);
        assert!(report.rewards[&faulty.uid] > 0.0, "its valid answers count");
        assert_eq!(report.rewards[&forger.uid], 0.0);
    }
    for result in [
        QueryResult::Ok,
        QueryResult::BadAnswer,
        QueryResult::Timeout,
        QueryResult::Refused,
    ] {
        assert!(
            results.get(&result).is_some_and(|n| *n >= 4),
            "{result:?}: {results:?}"
        );
    }
    assert_eq!(
        results[&QueryResult::Ok],
        16 + 4,
        "tiny all, faulty a quarter"
    );
    assert_eq!(v.standing(forger.uid), Standing::Unverified);
    assert!(matches!(v.standing(faulty.uid), Standing::Verified { .. }));
    let scores = v.scores();
    assert!(scores[&tiny.uid] > scores[&faulty.uid] && scores[&faulty.uid] > 0.0);
    assert_eq!(scores[&forger.uid], 0.0);
    assert_eq!(
        v.metrics().queries(QueryResult::Timeout),
        results[&QueryResult::Timeout] as u64
    );

    faulty.stop().await;
    forger.stop().await;
    tiny.stop().await;
}
