//! Every transaction's success path and every rejection it can produce (weights are in
//! `weights.rs`). The harness checks that each rejection leaves the state root and the block
//! exactly as an empty block would.

use std::net::{IpAddr, Ipv4Addr};

use subnet_chain::{Genesis, Ledger};
use subnet_protocol::chain::{AxonInfo, Call, HyperparameterError, Hyperparameters, TxError};
use subnet_protocol::fingerprint::CertFingerprint;
use subnet_protocol::ids::{BlockNumber, NetUid, Rao, Uid};

use crate::harness::{Chain, NET, genesis, hp, key, manifest, pk};

fn chain() -> Chain {
    Chain::new(&genesis(hp()))
}

#[test]
fn envelope_checks_genesis_expiry_signature_and_nonce() {
    let mut c = chain();
    let alice = key("alice");
    let transfer = Call::Transfer {
        dest: pk("bob"),
        amount: Rao(1),
    };
    let at = BlockNumber(1);

    let mut wrong_chain = c.tx(&alice, transfer.clone());
    wrong_chain.tx.genesis_hash = Genesis::dev().hash();
    let resigned = wrong_chain.tx.sign(&alice);
    let want = TxError::WrongGenesis {
        got: Genesis::dev().hash(),
    };
    assert_eq!(c.ledger.check(&resigned, at), Err(want.clone()));
    assert_eq!(c.submit_signed(resigned), Err(want));

    let mut expired = c.tx(&alice, transfer.clone()).tx;
    expired.valid_until = BlockNumber(0);
    let expired = expired.sign(&alice);
    let want = TxError::Expired {
        valid_until: BlockNumber(0),
        current: BlockNumber(2),
    };
    assert_eq!(c.ledger.check(&expired, BlockNumber(2)), Err(want.clone()));
    assert_eq!(c.submit_signed(expired), Err(want));

    let mut forged = c.tx(&alice, transfer.clone());
    forged.tx.call = Call::Transfer {
        dest: pk("bob"),
        amount: Rao(1_000_000),
    };
    assert_eq!(c.ledger.check(&forged, at), Err(TxError::BadSignature));
    assert_eq!(c.submit_signed(forged), Err(TxError::BadSignature));

    let future = c.tx_with_nonce(&alice, 5, transfer.clone());
    let want = TxError::FutureNonce {
        got: 5,
        expected: 0,
    };
    assert_eq!(c.ledger.check(&future, at), Err(want.clone()));
    assert_eq!(c.submit_signed(future), Err(want));

    let first = c.tx(&alice, transfer);
    c.ledger
        .check(&first, c.height().saturating_add(1))
        .unwrap();
    c.submit_signed(first.clone()).unwrap();
    let want = TxError::StaleNonce {
        got: 0,
        expected: 1,
    };
    assert_eq!(c.ledger.check(&first, c.height()), Err(want.clone()));
    assert_eq!(c.submit_signed(first), Err(want));
    assert_eq!(c.ledger.account(&alice.public()).nonce, 1);
}

#[test]
fn several_transactions_of_one_signer_in_one_block() {
    let mut c = chain();
    let bob = key("bob");
    let txs = (0..3)
        .map(|i| {
            c.tx_with_nonce(
                &bob,
                i,
                Call::Transfer {
                    dest: pk("eve"),
                    amount: Rao(10),
                },
            )
        })
        .collect();
    let before = c.ledger.account(&pk("eve")).balance;
    let out = c.block(txs);
    assert_eq!(out.receipts.len(), 3);
    assert_eq!(out.block.transactions.len(), 3);
    assert_eq!(c.ledger.account(&pk("eve")).balance, Rao(before.0 + 30));
    assert_eq!(c.ledger.account(&bob.public()).nonce, 3);
}

#[test]
fn transfer() {
    let mut c = chain();
    let (alice, bob) = (key("alice"), pk("bob"));
    let a0 = c.ledger.account(&alice.public()).balance;
    let b0 = c.ledger.account(&bob).balance;
    let newcomer = pk("newcomer");
    c.ok(
        &alice,
        Call::Transfer {
            dest: bob,
            amount: Rao(123),
        },
    );
    c.ok(
        &alice,
        Call::Transfer {
            dest: newcomer,
            amount: Rao(7),
        },
    );
    c.ok(
        &alice,
        Call::Transfer {
            dest: alice.public(),
            amount: Rao(5),
        },
    );
    assert_eq!(c.ledger.account(&alice.public()).balance, Rao(a0.0 - 130));
    assert_eq!(c.ledger.account(&bob).balance, Rao(b0.0 + 123));
    assert_eq!(c.ledger.account(&newcomer).balance, Rao(7));
    c.err(
        &alice,
        Call::Transfer {
            dest: bob,
            amount: Rao(0),
        },
        TxError::InvalidAmount { amount: Rao(0) },
    );
    c.err(
        &key("newcomer"),
        Call::Transfer {
            dest: bob,
            amount: Rao(8),
        },
        TxError::InsufficientBalance {
            needed: Rao(8),
            available: Rao(7),
        },
    );
}

#[test]
fn add_and_remove_stake() {
    let mut c = chain();
    let bob = key("bob");
    let b0 = c.ledger.account(&bob.public()).balance;
    c.stake(&bob, "hk-v", 1_000);
    c.stake(&key("charlie"), "hk-v", 500);
    assert_eq!(c.ledger.stake_of(&bob.public(), &pk("hk-v")), Rao(1_000));
    assert_eq!(c.ledger.total_stake(&pk("hk-v")), Rao(1_500));
    assert_eq!(c.ledger.account(&bob.public()).balance, Rao(b0.0 - 1_000));
    c.ok(
        &bob,
        Call::RemoveStake {
            hotkey: pk("hk-v"),
            amount: Rao(400),
        },
    );
    assert_eq!(c.ledger.stake_of(&bob.public(), &pk("hk-v")), Rao(600));
    assert_eq!(c.ledger.total_stake(&pk("hk-v")), Rao(1_100));
    assert_eq!(c.ledger.account(&bob.public()).balance, Rao(b0.0 - 600));
    assert_eq!(c.ledger.stakers(&pk("hk-v")).len(), 2);

    c.err(
        &bob,
        Call::AddStake {
            hotkey: pk("hk-v"),
            amount: Rao(0),
        },
        TxError::InvalidAmount { amount: Rao(0) },
    );
    c.err(
        &bob,
        Call::AddStake {
            hotkey: pk("hk-v"),
            amount: Rao(b0.0),
        },
        TxError::InsufficientBalance {
            needed: Rao(b0.0),
            available: Rao(b0.0 - 600),
        },
    );
    c.err(
        &bob,
        Call::RemoveStake {
            hotkey: pk("hk-v"),
            amount: Rao(0),
        },
        TxError::InvalidAmount { amount: Rao(0) },
    );
    c.err(
        &bob,
        Call::RemoveStake {
            hotkey: pk("hk-v"),
            amount: Rao(601),
        },
        TxError::InsufficientStake {
            needed: Rao(601),
            available: Rao(600),
        },
    );
    c.ok(
        &bob,
        Call::RemoveStake {
            hotkey: pk("hk-v"),
            amount: Rao(600),
        },
    );
    assert_eq!(c.ledger.stakers(&pk("hk-v")).len(), 1);
    assert_eq!(c.ledger.account(&bob.public()).balance, b0);
}

#[test]
fn create_subnet_burns_and_takes_the_next_netuid() {
    let mut c = chain();
    let bob = key("bob");
    let burn = c.ledger.info().subnet_creation_burn;
    let supply = c.ledger.supply();
    let b0 = c.ledger.account(&bob.public()).balance;
    let created = c.ok(
        &bob,
        Call::CreateSubnet {
            hyperparameters: hp(),
        },
    );
    assert_eq!(created.as_deref(), Some("2"));
    let info = c.ledger.subnet(NetUid(2)).unwrap();
    assert_eq!(
        (info.owner, info.n, info.created_at),
        (bob.public(), 0, c.height())
    );
    assert_eq!(c.ledger.account(&bob.public()).balance, Rao(b0.0 - burn.0));
    let after = c.ledger.supply();
    assert_eq!(
        after.issuance.0 + burn.0,
        supply.issuance.0 + after.emitted.0 - supply.emitted.0
    );
    assert_eq!(after.burned.0 - supply.burned.0, burn.0);

    let bad = Hyperparameters { tempo: 0, ..hp() };
    let e = bad.validate().unwrap_err();
    c.err(
        &bob,
        Call::CreateSubnet {
            hyperparameters: bad,
        },
        TxError::InvalidHyperparameter(e),
    );
    c.err(
        &key("poor"),
        Call::CreateSubnet {
            hyperparameters: hp(),
        },
        TxError::InsufficientBalance {
            needed: burn,
            available: Rao(0),
        },
    );
    c.ok(
        &bob,
        Call::CreateSubnet {
            hyperparameters: hp(),
        },
    );
    assert_eq!(c.ledger.subnets().len(), 3);
    c.err(
        &bob,
        Call::CreateSubnet {
            hyperparameters: hp(),
        },
        TxError::TooManySubnets,
    );
}

#[test]
fn set_hyperparameters_owner_only_and_validated() {
    let mut c = chain();
    let alice = key("alice");
    let new = Hyperparameters {
        tempo: 9,
        kappa: 40_000,
        ..hp()
    };
    c.ok(
        &alice,
        Call::SetHyperparameters {
            netuid: NET,
            hyperparameters: new.clone(),
        },
    );
    assert_eq!(c.ledger.subnet(NET).unwrap().hyperparameters, new);
    c.err(
        &alice,
        Call::SetHyperparameters {
            netuid: NetUid(9),
            hyperparameters: new.clone(),
        },
        TxError::UnknownSubnet { netuid: NetUid(9) },
    );
    c.err(
        &key("bob"),
        Call::SetHyperparameters {
            netuid: NET,
            hyperparameters: new,
        },
        TxError::NotSubnetOwner { netuid: NET },
    );
    let bad = Hyperparameters {
        alpha_low: 1,
        ..hp()
    };
    let e = bad.validate().unwrap_err();
    c.err(
        &alice,
        Call::SetHyperparameters {
            netuid: NET,
            hyperparameters: bad,
        },
        TxError::InvalidHyperparameter(e),
    );
    c.register(&key("bob"), "m0", None);
    c.register(&key("bob"), "m1", None);
    let small = Hyperparameters {
        max_allowed_uids: 1,
        max_allowed_validators: 1,
        ..hp()
    };
    c.err(
        &alice,
        Call::SetHyperparameters {
            netuid: NET,
            hyperparameters: small,
        },
        TxError::InvalidHyperparameter(HyperparameterError {
            name: "max_allowed_uids".into(),
            reason: "must be at least the 2 UIDs in use".into(),
        }),
    );
}

#[test]
fn register_ainft_with_lineage() {
    let mut c = chain();
    let charlie = key("charlie");
    let base = manifest("base", None);
    let base_id = base.id();
    let created = c.ok(
        &charlie,
        Call::RegisterAinft {
            manifest: base.clone(),
        },
    );
    assert_eq!(created, Some(base_id.to_string()));
    let record = c.ledger.ainft(&base_id).unwrap();
    assert_eq!(
        (record.owner, record.registered_at),
        (charlie.public(), c.height())
    );
    assert_eq!(record.manifest, base);

    let child = manifest("child", Some((base_id, 100_000)));
    c.ok(
        &key("dave"),
        Call::RegisterAinft {
            manifest: child.clone(),
        },
    );
    assert_eq!(c.ledger.ainft(&child.id()).unwrap().owner, pk("dave"));

    c.err(
        &key("dave"),
        Call::RegisterAinft { manifest: child },
        TxError::AinftExists {
            ainft: manifest("child", Some((base_id, 100_000))).id(),
        },
    );
    let orphan_parent = manifest("nowhere", None).id();
    c.err(
        &key("dave"),
        Call::RegisterAinft {
            manifest: manifest("orphan", Some((orphan_parent, 1))),
        },
        TxError::UnknownAinft {
            ainft: orphan_parent,
        },
    );
    let mut empty = manifest("x", None);
    empty.model.name.clear();
    let reason = empty.validate().unwrap_err().to_string();
    c.err(
        &key("dave"),
        Call::RegisterAinft { manifest: empty },
        TxError::InvalidManifest { reason },
    );
    let greedy = manifest("greedy", Some((base_id, 1_000_001)));
    let reason = greedy.validate().unwrap_err().to_string();
    c.err(
        &key("dave"),
        Call::RegisterAinft { manifest: greedy },
        TxError::InvalidManifest { reason },
    );
}

#[test]
fn register_burns_and_assigns_uids() {
    let mut c = chain();
    let (bob, dave) = (key("bob"), key("dave"));
    let model = manifest("m", None);
    c.ok(
        &dave,
        Call::RegisterAinft {
            manifest: model.clone(),
        },
    );
    let b0 = c.ledger.account(&bob.public()).balance;
    assert_eq!(c.register(&bob, "m0", Some(model.id())), Uid(0));
    assert_eq!(c.register(&bob, "m1", None), Uid(1));
    let at = c.height();
    assert_eq!(
        c.ledger.account(&bob.public()).balance,
        Rao(b0.0 - 2 * hp().burn.0)
    );
    assert_eq!(c.ledger.hotkey_owner(&pk("m0")), Some(bob.public()));
    let mg = c.ledger.metagraph(NET).unwrap();
    assert_eq!(mg.neurons.len(), 2);
    let n1 = mg.by_uid(Uid(1)).unwrap();
    assert_eq!(
        (n1.hotkey, n1.coldkey, n1.ainft),
        (pk("m1"), bob.public(), None)
    );
    assert_eq!((n1.block_at_registration, n1.last_update), (at, at));
    assert_eq!(mg.by_hotkey(&pk("m0")).unwrap().ainft, Some(model.id()));
    assert_eq!(c.ledger.subnet(NET).unwrap().n, 2);

    // The same hotkey may join another subnet under its owner.
    c.ok(
        &bob,
        Call::CreateSubnet {
            hyperparameters: hp(),
        },
    );
    c.ok(
        &bob,
        Call::Register {
            netuid: NetUid(2),
            hotkey: pk("m0"),
            ainft: None,
        },
    );
    assert_eq!(c.ledger.uid_of(NetUid(2), &pk("m0")), Some(Uid(0)));

    let register = |hotkey: &str, ainft| Call::Register {
        netuid: NET,
        hotkey: pk(hotkey),
        ainft,
    };
    c.err(
        &bob,
        Call::Register {
            netuid: NetUid(7),
            hotkey: pk("x"),
            ainft: None,
        },
        TxError::UnknownSubnet { netuid: NetUid(7) },
    );
    c.err(
        &key("eve"),
        register("m0", None),
        TxError::HotkeyOwnedByOther { hotkey: pk("m0") },
    );
    c.err(
        &bob,
        register("m0", None),
        TxError::AlreadyRegistered {
            hotkey: pk("m0"),
            netuid: NET,
        },
    );
    let unknown = manifest("unregistered", None).id();
    c.err(
        &bob,
        register("m2", Some(unknown)),
        TxError::UnknownAinft { ainft: unknown },
    );
    c.err(
        &key("poor"),
        register("m9", None),
        TxError::InsufficientBalance {
            needed: hp().burn,
            available: Rao(0),
        },
    );
}

#[test]
fn set_neuron_ainft_and_serve_axon() {
    let mut c = chain();
    let (bob, dave) = (key("bob"), key("dave"));
    let m = manifest("m", None);
    c.ok(
        &dave,
        Call::RegisterAinft {
            manifest: m.clone(),
        },
    );
    c.register(&bob, "m0", None);
    c.ok(
        &key("m0"),
        Call::SetNeuronAinft {
            netuid: NET,
            ainft: Some(m.id()),
        },
    );
    assert_eq!(
        c.ledger.metagraph(NET).unwrap().neurons[0].ainft,
        Some(m.id())
    );
    c.ok(
        &key("m0"),
        Call::SetNeuronAinft {
            netuid: NET,
            ainft: None,
        },
    );
    assert_eq!(c.ledger.metagraph(NET).unwrap().neurons[0].ainft, None);
    let unknown = manifest("nope", None).id();
    c.err(
        &key("m0"),
        Call::SetNeuronAinft {
            netuid: NET,
            ainft: Some(unknown),
        },
        TxError::UnknownAinft { ainft: unknown },
    );
    c.err(
        &key("m0"),
        Call::SetNeuronAinft {
            netuid: NetUid(5),
            ainft: None,
        },
        TxError::UnknownSubnet { netuid: NetUid(5) },
    );
    c.err(
        &key("m1"),
        Call::SetNeuronAinft {
            netuid: NET,
            ainft: None,
        },
        TxError::NotRegistered {
            hotkey: pk("m1"),
            netuid: NET,
        },
    );

    let axon = AxonInfo {
        ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 4000,
        cert_fingerprint: CertFingerprint([9; 32]),
        protocol_version: 1,
    };
    c.ok(&key("m0"), Call::ServeAxon { netuid: NET, axon });
    assert_eq!(c.ledger.metagraph(NET).unwrap().neurons[0].axon, Some(axon));
    c.err(
        &key("m0"),
        Call::ServeAxon {
            netuid: NetUid(5),
            axon,
        },
        TxError::UnknownSubnet { netuid: NetUid(5) },
    );
    c.err(
        &key("m1"),
        Call::ServeAxon { netuid: NET, axon },
        TxError::NotRegistered {
            hotkey: pk("m1"),
            netuid: NET,
        },
    );
}

#[test]
fn temporary_ledgers_start_at_genesis() {
    let g = genesis(hp());
    let ledger = Ledger::open_temporary(&g).unwrap();
    let info = ledger.info();
    assert_eq!(info.height, BlockNumber(0));
    assert_eq!(info.genesis_hash, g.hash());
    assert_eq!(ledger.supply().issuance, g.total_balance().unwrap());
    let block0 = ledger.block(BlockNumber(0)).unwrap().unwrap();
    assert_eq!(block0.header.parent_hash, g.hash());
    assert_eq!(block0.header.state_root, ledger.state_root());
    assert_eq!(subnet_chain::header_hash(&block0.header), info.best_hash);
    assert!(ledger.block(BlockNumber(1)).unwrap().is_none());
}
