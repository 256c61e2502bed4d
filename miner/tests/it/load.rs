//! Load: four honest validators keep being answered, correctly and without a large slowdown,
//! while an attacker opens 1,000 connections and sends signed requests from unregistered keys
//! on every one the miner accepts. The numbers are measured by `benches/attack`; this asserts
//! them loosely (p99 under attack within 5x of the run without, with a floor for scheduler noise).

use std::time::Duration;

#[path = "../../benches/attack/scenario.rs"]
#[allow(dead_code)]
mod scenario;

use scenario::{PER_IP, VALIDATORS, quantile, setup, start_attack};

use crate::harness::checkpoint;

const CONNECTIONS: usize = 1000;
const REQUESTS: usize = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_validators_are_served_through_a_connection_flood() {
    let setup = setup(&checkpoint("tiny")).await;
    let clients = setup.honest_clients().await;
    let _ = setup.honest_run(&clients, 10).await;
    let (mut base, wrong) = setup.honest_run(&clients, REQUESTS).await;
    assert_eq!((base.len(), wrong), (VALIDATORS * REQUESTS, 0));
    let base_p99 = quantile(&mut base, 0.99);

    let attack = start_attack(&setup, CONNECTIONS, Duration::from_millis(10)).await;
    let (mut under, wrong) = setup.honest_run(&clients, REQUESTS).await;
    let outcome = attack.finish().await;
    // Every honest request answered, with the model's own answer.
    assert_eq!((under.len(), wrong), (VALIDATORS * REQUESTS, 0));
    // The miner holds 256 connections; the validators hold four of them, so the attacker (16
    // per address over 63 addresses) gets at most the rest and every other attempt is refused
    // (a handshake that fails under load frees its slot for a later attempt).
    let room = 256 - VALIDATORS;
    assert_eq!(
        outcome.accepted + outcome.refused + outcome.failed,
        CONNECTIONS
    );
    assert!(outcome.accepted <= room, "{outcome:?}");
    assert!(outcome.accepted > 0 && outcome.failed <= 10, "{outcome:?}");
    assert!(
        outcome.refused + outcome.failed >= CONNECTIONS - room,
        "{outcome:?}"
    );
    assert!(outcome.accepted <= CONNECTIONS.div_ceil(PER_IP) * PER_IP);
    // It kept the miner busy, and got nothing but signed `not_registered` refusals.
    assert!(outcome.sent >= outcome.accepted as u64, "{outcome:?}");
    assert_eq!(outcome.other, 0, "{outcome:?}");
    assert_eq!(
        outcome.not_registered + outcome.lost,
        outcome.sent,
        "{outcome:?}"
    );
    // Only streams cut when the attack stops go unanswered: one per connection at most.
    assert!(outcome.lost <= outcome.accepted as u64, "{outcome:?}");
    let p99 = quantile(&mut under, 0.99);
    let bound = base_p99.max(Duration::from_millis(20)) * 5;
    assert!(
        p99 <= bound,
        "honest p99 {p99:?} under attack, {base_p99:?} without (bound {bound:?})"
    );
    for client in &clients {
        client.close().await;
    }
    setup.stop().await;
}
