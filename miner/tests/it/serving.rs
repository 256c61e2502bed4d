//! A miner serving validators over QUIC on 127.0.0.1, on an embedded chain.

use std::sync::Arc;
use std::time::Duration;

use subnet_chain_client::Chain;
use subnet_miner::ChainWrite;
use subnet_miner::client::MinerTarget;
use subnet_miner::client::{call_task, decode_weights, download_weights, health, model_info};
use subnet_models::{FusedLm, weights_digest};
use subnet_protocol::RejectReason;
use subnet_protocol::keys::Keypair;
use subnet_protocol::task::{NextByte, NextByteAnswer, NextByteRequest};

use crate::harness::{client, config, local_model, start, subnet, text};

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permitted_validator_gets_the_models_own_answers() {
    let subnet = subnet().await;
    let miner = start(config(&subnet, "m1"), &subnet.chain).await;
    assert_eq!(
        miner.writes,
        vec![
            ChainWrite::RegisteredAinft,
            ChainWrite::RegisteredHotkey,
            ChainWrite::ServedAxon
        ]
    );
    // What the chain publishes is what the miner serves on.
    let metagraph = subnet.chain.metagraph(subnet.netuid).await.unwrap();
    let neuron = metagraph.by_uid(miner.uid).unwrap();
    assert_eq!(neuron.ainft, Some(miner.miner_ainft));
    let axon = neuron.axon.unwrap();
    assert_eq!((axon.ip, axon.port), (miner.addr.ip(), miner.addr.port()));
    assert_eq!(axon.cert_fingerprint, miner.target.fingerprint);

    // The miner serves on CPU with the fused forward pass: its answers are that engine's bit
    // for bit, and burn's within 1e-4.
    let burn = local_model();
    let model = FusedLm::from_model(&burn).unwrap();
    let device = Default::default();
    let v = client(&subnet.v);
    for (i, positions) in [64u16, 1, 17].into_iter().enumerate() {
        let context = text(i, 64);
        let request = NextByteRequest::new(context.clone(), positions).unwrap();
        let answer = call_task(&v, &miner.target, &NextByte, &request)
            .await
            .unwrap();
        let local = model.infer(&[&context]).unwrap();
        let reference = burn.infer(&[&context], &device).unwrap();
        for (row, p) in request.scored_positions().enumerate() {
            assert_eq!(
                bits(answer.row(row).unwrap()),
                bits(local.at(0, p).unwrap())
            );
            let served = answer.row(row).unwrap().iter();
            for (a, b) in served.zip(reference.at(0, p).unwrap()) {
                assert!((a - b).abs() < 1e-4, "served {a}, burn {b}");
            }
        }
    }
    // A context longer than the model's window: positions below 64 come from the first 64
    // bytes, each later position from the 64 bytes that end at it.
    let context = text(9, 100);
    let request = NextByteRequest::new(context.clone(), 40).unwrap();
    let answer = call_task(&v, &miner.target, &NextByte, &request)
        .await
        .unwrap();
    let head = model.infer(&[&context[..64]]).unwrap();
    for (row, p) in request.scored_positions().enumerate() {
        let expected = if p < 64 {
            bits(head.at(0, p).unwrap())
        } else {
            let window = &context[p + 1 - 64..=p];
            bits(model.infer(&[window]).unwrap().at(0, 63).unwrap())
        };
        assert_eq!(bits(answer.row(row).unwrap()), expected, "position {p}");
    }
    assert_eq!(miner.metrics.inferences(), 4);

    let info = model_info(&v, &miner.target).await.unwrap();
    assert_eq!(info.id, miner.miner_ainft);
    let h = health(&v, &miner.target).await.unwrap();
    assert_eq!(h.ainft, miner.miner_ainft);
    assert_eq!(h.queue_depth, 0);
    v.close().await;
    miner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_and_validators_without_permit_are_refused_before_inference() {
    let subnet = subnet().await;
    let miner = start(config(&subnet, "m1"), &subnet.chain).await;
    let request = NextByteRequest::new(text(0, 64), 8).unwrap();
    let stranger = client(&Keypair::from_seed(&[99; 32]));
    let unpermitted = client(&subnet.w);
    for _ in 0..3 {
        let err = call_task(&stranger, &miner.target, &NextByte, &request)
            .await
            .unwrap_err();
        assert_eq!(
            err.rejection(),
            Some(RejectReason::NotRegistered),
            "{err:?}"
        );
        let err = call_task(&unpermitted, &miner.target, &NextByte, &request)
            .await
            .unwrap_err();
        assert_eq!(err.rejection(), Some(RejectReason::NoPermit), "{err:?}");
    }
    // Every other kind is refused too, before any work.
    let err = model_info(&stranger, &miner.target).await.unwrap_err();
    assert_eq!(err.rejection(), Some(RejectReason::NotRegistered));
    let err = health(&unpermitted, &miner.target).await.unwrap_err();
    assert_eq!(err.rejection(), Some(RejectReason::NoPermit));

    assert_eq!(miner.metrics.inferences(), 0);
    assert_eq!(miner.metrics.batches(), 0);
    assert_eq!(miner.metrics.rejections(RejectReason::NotRegistered), 4);
    assert_eq!(miner.metrics.rejections(RejectReason::NoPermit), 4);
    // The permitted validator is served, and is the only one the model ran for.
    let v = client(&subnet.v);
    call_task(&v, &miner.target, &NextByte, &request)
        .await
        .unwrap();
    assert_eq!(miner.metrics.inferences(), 1);
    for c in [stranger, unpermitted, v] {
        c.close().await;
    }
    miner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_caller_is_held_to_its_rate() {
    let subnet = subnet().await;
    let mut config = config(&subnet, "m1");
    // A burst of 3, then practically nothing: the test cannot outlast the refill.
    config.limits.burst = 3;
    config.limits.requests_per_second = 0.0001;
    let miner = start(config, &subnet.chain).await;
    let v = client(&subnet.v);
    let request = NextByteRequest::new(text(1, 32), 4).unwrap();
    for _ in 0..3 {
        call_task(&v, &miner.target, &NextByte, &request)
            .await
            .unwrap();
    }
    for _ in 0..2 {
        let err = call_task(&v, &miner.target, &NextByte, &request)
            .await
            .unwrap_err();
        assert_eq!(err.rejection(), Some(RejectReason::RateLimited), "{err:?}");
    }
    let err = health(&v, &miner.target).await.unwrap_err();
    assert_eq!(err.rejection(), Some(RejectReason::RateLimited));
    assert_eq!(miner.metrics.inferences(), 3);
    assert_eq!(miner.metrics.rejections(RejectReason::RateLimited), 3);
    v.close().await;
    miner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_and_unbatched_answers_are_identical() {
    let subnet = subnet().await;
    let mut single = config(&subnet, "single");
    single.limits.max_batch_size = 1;
    let mut batched = config(&subnet, "batched");
    batched.limits.max_batch_size = 16;
    // Long enough for all 16 concurrent requests to join one batch on a slow machine; the
    // batch closes as soon as it is full, so the test does not wait for it.
    batched.limits.max_batch_wait = Duration::from_secs(5);
    let single = start(single, &subnet.chain).await;
    let batched = start(batched, &subnet.chain).await;
    // Both serve the same weights: one AINFT, registered by the first.
    assert_eq!(single.miner_ainft, batched.miner_ainft);
    assert!(!batched.writes.contains(&ChainWrite::RegisteredAinft));

    let v = Arc::new(client(&subnet.v));
    let requests: Vec<NextByteRequest> = (0..16)
        .map(|i| NextByteRequest::new(text(i, 48), 1 + (i as u16 * 3) % 48).unwrap())
        .collect();
    let one_by_one = concurrently(&v, single.target, &requests).await;
    let together = concurrently(&v, batched.target, &requests).await;
    for (i, (a, b)) in one_by_one.iter().zip(&together).enumerate() {
        assert_eq!(bits(a.as_slice()), bits(b.as_slice()), "request {i}");
    }
    assert_eq!(single.metrics.batches(), 16);
    assert_eq!(batched.metrics.inferences(), 16);
    assert!(
        batched.metrics.batches() < 16,
        "{}",
        batched.metrics.batches()
    );
    v.close().await;
    single.stop().await;
    batched.stop().await;
}

/// Sends every request at once and returns the answers in request order.
async fn concurrently(
    client: &Arc<subnet_protocol::net::Client>,
    target: MinerTarget,
    requests: &[NextByteRequest],
) -> Vec<NextByteAnswer> {
    let calls: Vec<_> = requests
        .iter()
        .cloned()
        .map(|request| {
            let client = Arc::clone(client);
            tokio::spawn(async move {
                call_task(&client, &target, &NextByte, &request)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(calls.len());
    for call in calls {
        answers.push(call.await.unwrap());
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weights_download_matches_the_registered_digest() {
    let subnet = subnet().await;
    let mut config = config(&subnet, "m1");
    config.limits.weights_chunk_bytes = 100_000;
    let miner = start(config, &subnet.chain).await;
    let v = client(&subnet.v);
    let info = model_info(&v, &miner.target).await.unwrap();
    let registered = subnet.chain.ainft(&info.id).await.unwrap().unwrap();
    assert_eq!(registered.manifest, info.manifest);

    // Asks for more than the miner sends per chunk: 6 chunks of at most 100 kB.
    let file = download_weights(&v, &miner.target, &info, 1 << 20)
        .await
        .unwrap();
    assert_eq!(file.len() as u64, info.weights_bytes);
    assert!(
        miner
            .metrics
            .answered(subnet_protocol::RequestKind::Weights)
            >= 6
    );
    let model = decode_weights(&info, file).unwrap();
    assert_eq!(
        weights_digest(&model).unwrap().0,
        *registered.manifest.model.weights_digest.as_bytes()
    );
    v.close().await;
    miner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_over_http() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let subnet = subnet().await;
    let mut config = config(&subnet, "m1");
    config.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    let miner = start(config, &subnet.chain).await;
    let v = client(&subnet.v);
    let stranger = client(&Keypair::from_seed(&[98; 32]));
    let request = NextByteRequest::new(text(2, 64), 64).unwrap();
    call_task(&v, &miner.target, &NextByte, &request)
        .await
        .unwrap();
    call_task(&stranger, &miner.target, &NextByte, &request)
        .await
        .unwrap_err();

    let mut stream = tokio::net::TcpStream::connect(miner.metrics_addr.unwrap())
        .await
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: miner\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    for line in [
        "miner_requests_total{kind=\"task\",result=\"ok\"} 1",
        "miner_rejections_total{reason=\"not_registered\"} 1",
        "miner_inferences_total 1",
        "miner_batch_size_count 1",
        "miner_inference_seconds_count 1",
        "miner_queue_depth 0",
        "miner_request_duration_seconds_count{kind=\"task\"} 1",
    ] {
        assert!(response.contains(line), "missing {line}:\n{response}");
    }
    for c in [v, stranger] {
        c.close().await;
    }
    miner.stop().await;
}
