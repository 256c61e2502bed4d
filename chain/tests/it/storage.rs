//! Persistence: reopening continues from the last committed block with the same state root, a
//! copy of the directory taken at any moment opens at a committed block, blocks chain by hash,
//! and a database refuses another genesis.

use std::path::Path;

use subnet_chain::{Genesis, Ledger, OpenError, extrinsics_root, header_hash};
use subnet_protocol::chain::{Call, SignedTransaction, Transaction};
use subnet_protocol::ids::{BlockNumber, NetUid, Rao};
use subnet_protocol::keys::Keypair;

use crate::harness::{NET, genesis, hp, key, manifest, pk};

/// A deterministic list of blocks: registrations, stake, weights, transfers, epochs.
fn script(genesis_hash: subnet_protocol::ainft::Digest) -> Vec<Vec<SignedTransaction>> {
    let mut nonces = std::collections::BTreeMap::new();
    let mut tx = |k: &Keypair, call: Call| {
        let nonce = nonces.entry(k.public()).or_insert(0u64);
        let signed = Transaction {
            signer: k.public(),
            nonce: *nonce,
            genesis_hash,
            valid_until: BlockNumber(1_000),
            call,
        }
        .sign(k);
        *nonce += 1;
        signed
    };
    let (bob, charlie) = (key("bob"), key("charlie"));
    let m = manifest("stored", None);
    let mut blocks = vec![
        vec![
            tx(
                &charlie,
                Call::RegisterAinft {
                    manifest: m.clone(),
                },
            ),
            tx(
                &bob,
                Call::Register {
                    netuid: NET,
                    hotkey: pk("v0"),
                    ainft: None,
                },
            ),
            tx(
                &bob,
                Call::AddStake {
                    hotkey: pk("v0"),
                    amount: Rao(5_000_000),
                },
            ),
        ],
        vec![tx(
            &charlie,
            Call::Register {
                netuid: NET,
                hotkey: pk("m1"),
                ainft: Some(m.id()),
            },
        )],
        vec![tx(
            &charlie,
            Call::Register {
                netuid: NET,
                hotkey: pk("m2"),
                ainft: None,
            },
        )],
    ];
    for round in 0..6u16 {
        blocks.extend(std::iter::repeat_with(Vec::new).take(4));
        blocks.push(vec![
            tx(
                &key("v0"),
                crate::harness::weights_call(&[1, 2], &[100 + round, 50], 0),
            ),
            tx(
                &bob,
                Call::Transfer {
                    dest: pk("eve"),
                    amount: Rao(u64::from(round) + 1),
                },
            ),
        ]);
    }
    blocks
}

fn run(ledger: &mut Ledger, blocks: &[Vec<SignedTransaction>]) {
    for txs in blocks {
        let ts = ledger.height().get() * 1000;
        let out = ledger.produce_block(txs.clone(), ts).unwrap();
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn reopen_gives_the_same_state_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(hp());
    let blocks = script(g.hash());
    let (first, rest) = blocks.split_at(20);

    let mut reference = Ledger::open_temporary(&g).unwrap();
    run(&mut reference, first);

    {
        let mut ledger = Ledger::open(dir.path(), &g).unwrap();
        run(&mut ledger, first);
        assert_eq!(ledger.state_root(), reference.state_root());
    }
    let mut ledger = Ledger::open(dir.path(), &g).unwrap();
    assert_eq!(ledger.height(), BlockNumber(20));
    assert_eq!(ledger.info(), reference.info());
    assert_eq!(ledger.state_root(), reference.state_root());
    assert_eq!(ledger.metagraph(NET), reference.metagraph(NET));
    assert_eq!(ledger.emissions(), reference.emissions());
    assert_eq!(ledger.supply(), reference.supply());
    assert_eq!(ledger.weights(NET), reference.weights(NET));
    assert_eq!(ledger.bonds(NET), reference.bonds(NET));
    assert!(reference.metagraph(NET).unwrap().last_epoch_block.is_some());

    run(&mut ledger, rest);
    run(&mut reference, rest);
    assert_eq!(ledger.state_root(), reference.state_root());
    assert_eq!(ledger.info().best_hash, reference.info().best_hash);
    drop(ledger);
    let reopened = Ledger::open(dir.path(), &g).unwrap();
    assert_eq!(reopened.height(), reference.height());
    assert_eq!(reopened.state_root(), reference.state_root());
    assert_eq!(reopened.account(&pk("bob")), reference.account(&pk("bob")));
}

#[test]
fn blocks_are_stored_and_chained() {
    let g = genesis(hp());
    let mut ledger = Ledger::open_temporary(&g).unwrap();
    let blocks = script(g.hash());
    run(&mut ledger, &blocks);
    let height = ledger.height().get();
    let mut parent = ledger.block(BlockNumber(0)).unwrap().unwrap();
    for n in 1..=height {
        let block = ledger.block(BlockNumber(n)).unwrap().unwrap();
        assert_eq!(block.header.number, BlockNumber(n));
        assert_eq!(block.header.parent_hash, header_hash(&parent.header));
        assert_eq!(
            block.header.extrinsics_root,
            extrinsics_root(&block.transactions)
        );
        assert_eq!(block.transactions, blocks[n as usize - 1]);
        parent = block;
    }
    assert_eq!(header_hash(&parent.header), ledger.info().best_hash);
    assert_eq!(parent.header.state_root, ledger.state_root());
    assert!(ledger.block(BlockNumber(height + 1)).unwrap().is_none());

    // Replaying the stored blocks reproduces every header.
    let mut replay = Ledger::open_temporary(&g).unwrap();
    for n in 1..=height {
        let block = ledger.block(BlockNumber(n)).unwrap().unwrap();
        let out = replay
            .produce_block(block.transactions.clone(), block.header.timestamp_ms)
            .unwrap();
        assert_eq!(out.block, block);
    }
    assert_eq!(replay.info(), ledger.info());
}

#[test]
fn a_copy_taken_between_blocks_opens_at_a_committed_block() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(hp());
    let blocks = script(g.hash());
    let mut ledger = Ledger::open(dir.path(), &g).unwrap();
    let mut roots = vec![ledger.state_root()];
    for (i, txs) in blocks.iter().take(12).enumerate() {
        ledger.produce_block(txs.clone(), i as u64).unwrap();
        roots.push(ledger.state_root());
        // As if the process were killed right now: the files as they are on disk.
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), copy.path());
        let crashed = Ledger::open(copy.path(), &g).unwrap();
        let h = crashed.height().get() as usize;
        assert_eq!(h, i + 1, "a returned block is durable");
        assert_eq!(crashed.state_root(), roots[h]);
    }
}

#[test]
fn another_genesis_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(hp());
    drop(Ledger::open(dir.path(), &g).unwrap());
    let other = Genesis::dev();
    match Ledger::open(dir.path(), &other) {
        Err(OpenError::GenesisMismatch { stored, given }) => {
            assert_eq!((stored, given), (g.hash(), other.hash()));
        }
        other => panic!("expected GenesisMismatch, got {other:?}"),
    }
    let mut bad = g.clone();
    bad.block_time_ms = 0;
    assert!(matches!(
        Ledger::open_temporary(&bad),
        Err(OpenError::Genesis(_))
    ));
    Ledger::open(dir.path(), &g).unwrap();
}

#[test]
fn identical_blocks_give_identical_roots_and_different_blocks_do_not() {
    let g = genesis(hp());
    let blocks = script(g.hash());
    let mut a = Ledger::open_temporary(&g).unwrap();
    let mut b = Ledger::open_temporary(&g).unwrap();
    run(&mut a, &blocks);
    run(&mut b, &blocks);
    assert_eq!(a.state_root(), b.state_root());
    assert_eq!(a.info(), b.info());
    let mut c = Ledger::open_temporary(&g).unwrap();
    run(&mut c, &blocks[..blocks.len() - 1]);
    let mut last = blocks[blocks.len() - 1].clone();
    last.pop();
    run(&mut c, &[last]);
    assert_ne!(c.state_root(), a.state_root());
    assert_eq!(c.subnet(NetUid(1)).unwrap().n, 3);
}
