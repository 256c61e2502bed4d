//! Ledger benchmarks.
//!
//! - `set_weights/durable/{64,640,6400}`: blocks of `SetWeights` from 64 validators (1, 10 or
//!   100 each) on a 256-UID subnet (each row names all 256 UIDs), signature checks included,
//!   each block one sled batch flushed to disk; throughput is transactions per second.
//! - `epoch_block/{256,4096}`: a block whose only work is the subnet's epoch (tempo 1), with 64
//!   validators whose weight rows name every UID: Yuma plus storing outputs and paying out.
//! - `yuma_only/{256,4096}`: `subnet_scoring::epoch` alone on the same inputs.
//!
//! Run with `cargo bench -p subnet-chain --bench ledger`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use subnet_chain::{Genesis, GenesisSubnet, Ledger};
use subnet_protocol::ainft::Digest;
use subnet_protocol::chain::{Call, Hyperparameters, SignedTransaction, Transaction};
use subnet_protocol::ids::{BlockNumber, NetUid, Rao, Uid};
use subnet_protocol::keys::Keypair;

const NET: NetUid = NetUid(1);
const VALIDATORS: usize = 64;

fn hotkey(i: usize) -> Keypair {
    Keypair::dev(&format!("bench-hot-{i}"))
}

fn owner() -> Keypair {
    Keypair::dev("alice")
}

/// A subnet with `n` UIDs, the first 64 staked validators holding permits.
fn network(ledger: &mut Ledger, n: usize) -> Vec<Keypair> {
    let owner = owner();
    let genesis_hash = ledger.info().genesis_hash;
    let mut nonce = ledger.account(&owner.public()).nonce;
    let mut tx = |call: Call| {
        let signed = Transaction {
            signer: owner.public(),
            nonce,
            genesis_hash,
            valid_until: BlockNumber(u64::MAX),
            call,
        }
        .sign(&owner);
        nonce += 1;
        signed
    };
    let hotkeys: Vec<Keypair> = (0..n).map(hotkey).collect();
    let mut txs: Vec<SignedTransaction> = hotkeys
        .iter()
        .map(|h| {
            tx(Call::Register {
                netuid: NET,
                hotkey: h.public(),
                ainft: None,
            })
        })
        .collect();
    txs.extend(hotkeys.iter().take(VALIDATORS).enumerate().map(|(i, h)| {
        tx(Call::AddStake {
            hotkey: h.public(),
            amount: Rao(1_000_000_000 + i as u64),
        })
    }));
    for chunk in txs.chunks(1024) {
        let out = ledger.produce_block(chunk.to_vec(), 0).expect("block");
        assert!(out.rejected.is_empty(), "{:?}", out.rejected.first());
    }
    // Tempo 1: the block just produced ran an epoch, so the validators hold permits.
    ledger.produce_block(Vec::new(), 0).expect("block");
    let mg = ledger.metagraph(NET).expect("subnet");
    assert!(
        mg.neurons
            .iter()
            .take(VALIDATORS)
            .all(|x| x.validator_permit)
    );
    hotkeys.into_iter().take(VALIDATORS).collect()
}

fn genesis(n: usize) -> Genesis {
    let mut g = Genesis::dev();
    g.subnets.push(GenesisSubnet {
        owner: owner().public(),
        hyperparameters: Hyperparameters {
            tempo: 1,
            max_allowed_uids: u16::try_from(n).expect("n fits u16"),
            max_allowed_validators: VALIDATORS as u16,
            weights_rate_limit: 0,
            immunity_period: 0,
            burn: Rao(1),
            ..Hyperparameters::default()
        },
    });
    g
}

/// Moves the epoch out of the way (tempo 65535).
fn slow_tempo(ledger: &mut Ledger) {
    let owner = owner();
    let mut hp = ledger.subnet(NET).expect("subnet").hyperparameters;
    hp.tempo = u16::MAX;
    let tx = Transaction {
        signer: owner.public(),
        nonce: ledger.account(&owner.public()).nonce,
        genesis_hash: ledger.info().genesis_hash,
        valid_until: BlockNumber(u64::MAX),
        call: Call::SetHyperparameters {
            netuid: NET,
            hyperparameters: hp,
        },
    }
    .sign(&owner);
    let out = ledger.produce_block(vec![tx], 0).expect("block");
    assert!(out.rejected.is_empty());
}

/// One `SetWeights` per validator per round, naming every UID with pseudo-random values.
fn weight_txs(
    genesis_hash: Digest,
    nonces: &mut [u64],
    validators: &[Keypair],
    n: usize,
    rounds: usize,
    salt: u64,
) -> Vec<SignedTransaction> {
    let uids: Vec<Uid> = (0..n).map(|u| Uid(u as u16)).collect();
    let mut txs = Vec::with_capacity(validators.len() * rounds);
    for round in 0..rounds {
        for (i, v) in validators.iter().enumerate() {
            let mut x = salt ^ ((i as u64) << 32) ^ round as u64;
            let values = (0..n)
                .map(|_| {
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    (x >> 48) as u16 | 1
                })
                .collect();
            let nonce = nonces[i];
            nonces[i] += 1;
            txs.push(
                Transaction {
                    signer: v.public(),
                    nonce,
                    genesis_hash,
                    valid_until: BlockNumber(u64::MAX),
                    call: Call::SetWeights {
                        netuid: NET,
                        uids: uids.clone(),
                        values,
                        version_key: 0,
                    },
                }
                .sign(v),
            );
        }
    }
    txs
}

fn set_weights(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = Ledger::open(dir.path(), &genesis(256)).expect("ledger");
    let validators = network(&mut ledger, 256);
    slow_tempo(&mut ledger);
    let mut group = c.benchmark_group("set_weights/durable");
    group.sample_size(10);
    for rounds in [1usize, 10, 100] {
        let per_block = VALIDATORS * rounds;
        group.throughput(Throughput::Elements(per_block as u64));
        let mut salt = 0u64;
        let genesis_hash = ledger.info().genesis_hash;
        let mut nonces: Vec<u64> = validators
            .iter()
            .map(|v| ledger.account(&v.public()).nonce)
            .collect();
        group.bench_function(per_block.to_string(), |b| {
            b.iter_batched(
                || {
                    salt += 1;
                    weight_txs(genesis_hash, &mut nonces, &validators, 256, rounds, salt)
                },
                |txs| {
                    let out = ledger.produce_block(txs, 0).expect("block");
                    assert!(out.rejected.is_empty(), "{:?}", out.rejected.first());
                    black_box(out.hash)
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

fn epoch(c: &mut Criterion) {
    let mut group = c.benchmark_group("epoch");
    group.sample_size(10);
    for n in [256usize, 4096] {
        let mut ledger = Ledger::open_temporary(&genesis(n)).expect("ledger");
        let validators = network(&mut ledger, n);
        // Weights from every validator on every UID, in blocks small enough for the tx limit.
        let genesis_hash = ledger.info().genesis_hash;
        for chunk in validators.chunks(16) {
            let mut nonces: Vec<u64> = chunk
                .iter()
                .map(|v| ledger.account(&v.public()).nonce)
                .collect();
            let txs = weight_txs(genesis_hash, &mut nonces, chunk, n, 1, 7);
            let out = ledger.produce_block(txs, 0).expect("block");
            assert!(out.rejected.is_empty(), "{:?}", out.rejected.first());
        }
        // Let bonds form.
        for _ in 0..3 {
            ledger.produce_block(Vec::new(), 0).expect("block");
        }
        let plan = ledger.epoch_preview(NET).expect("plan");
        group.bench_function(format!("yuma_only/{n}"), |b| {
            b.iter(|| black_box(subnet_scoring::epoch(&plan.inputs, &plan.params).expect("epoch")));
        });
        group.bench_function(format!("epoch_block/{n}"), |b| {
            b.iter(|| {
                let out = ledger.produce_block(Vec::new(), 0).expect("block");
                assert_eq!(out.epochs.len(), 1);
                black_box(out.hash)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, set_weights, epoch);
criterion_main!(benches);
