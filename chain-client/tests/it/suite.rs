//! The backend-independent suite: every case is generic over [`Harness`] and instantiated for
//! the embedded chain and for the node over JSON-RPC.

use subnet_chain_client::{BlockWatcher, ChainError, MetagraphCache, Missing, ReceiptExt};
use subnet_protocol::ainft::Digest;
use subnet_protocol::chain::{AxonInfo, Hyperparameters, TOKEN, Transaction, TxError};
use subnet_protocol::fingerprint::CertFingerprint;
use subnet_protocol::ids::{BlockNumber, NetUid, Rao, Uid};
use subnet_protocol::keys::Keypair;
use subnet_scoring::weights::WeightCommit;

use crate::harness::{Harness, both_backends, manifest};

both_backends!(
    transfers_and_lookups,
    concurrent_writes_from_one_key,
    subnet_lifecycle,
    commit_reveal,
    raw_rejections,
    caches_and_watchers,
);

fn dev(name: &str) -> Keypair {
    Keypair::dev(name)
}

fn tokens(n: u64) -> Rao {
    Rao(n * TOKEN.0)
}

fn rejection(result: Result<impl std::fmt::Debug, ChainError>) -> TxError {
    match result {
        Err(ChainError::Rejected(e)) => e,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

pub(crate) async fn transfers_and_lookups<C: Harness>(chain: &C) {
    let alice = dev("alice");
    let fresh = Keypair::from_seed(&[41; 32]);
    let info = chain.info().await.unwrap();
    assert_ne!(info.genesis_hash, Digest::default());
    let before = chain.account(&alice.public()).await.unwrap();

    let receipt = chain
        .transfer(&alice, fresh.public(), tokens(5))
        .await
        .unwrap();
    assert!(receipt.block > info.height);
    assert_eq!(receipt.created, None);
    let after = chain.account(&alice.public()).await.unwrap();
    assert_eq!(after.nonce, before.nonce + 1);
    assert_eq!(
        after.balance,
        before.balance.checked_sub(tokens(5)).unwrap()
    );
    let got = chain.account(&fresh.public()).await.unwrap();
    assert_eq!((got.balance, got.nonce), (tokens(5), 0));

    let block = chain.block(receipt.block).await.unwrap().unwrap();
    assert_eq!(block.header.number, receipt.block);
    assert!(block.transactions.iter().any(|t| t.hash() == receipt.hash));
    assert!(chain.current_block().await.unwrap() >= receipt.block);

    // A write that fails in its block changes nothing, not even the nonce.
    let err = rejection(chain.transfer(&fresh, alice.public(), tokens(6)).await);
    assert!(
        matches!(err, TxError::InsufficientBalance { .. }),
        "{err:?}"
    );
    assert_eq!(chain.account(&fresh.public()).await.unwrap().nonce, 0);
    let err = rejection(chain.transfer(&fresh, alice.public(), Rao(0)).await);
    assert_eq!(err, TxError::InvalidAmount { amount: Rao(0) });

    let missing = NetUid(99);
    assert!(matches!(
        chain.subnet(missing).await,
        Err(ChainError::NotFound(Missing::Subnet(NetUid(99))))
    ));
    assert!(matches!(
        chain.metagraph(missing).await,
        Err(ChainError::NotFound(Missing::Subnet(_)))
    ));
    assert!(matches!(
        chain.weights(missing).await,
        Err(ChainError::NotFound(_))
    ));
    assert!(matches!(
        chain.hyperparameters(missing).await,
        Err(ChainError::NotFound(_))
    ));
    assert!(chain.subnets().await.unwrap().is_empty());
    let id = manifest("nobody", NetUid(1)).id();
    assert_eq!(chain.ainft(&id).await.unwrap(), None);
    assert_eq!(chain.block(BlockNumber(1_000_000)).await.unwrap(), None);
    let report = chain.emissions().await.unwrap();
    assert_eq!(report.total_emitted, report.total_credited);
}

pub(crate) async fn concurrent_writes_from_one_key<C: Harness>(chain: &C) {
    let bob = dev("bob");
    let start = chain.account(&bob.public()).await.unwrap().nonce;
    let mut tasks = Vec::new();
    for i in 0..6u8 {
        let chain = chain.clone();
        let bob = bob.clone();
        let dest = Keypair::from_seed(&[100 + i; 32]).public();
        tasks.push(tokio::spawn(async move {
            chain.transfer(&bob, dest, Rao(1000 + u64::from(i))).await
        }));
    }
    let mut hashes = Vec::new();
    for task in tasks {
        hashes.push(task.await.unwrap().unwrap().hash);
    }
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), 6);
    assert_eq!(chain.account(&bob.public()).await.unwrap().nonce, start + 6);
    for i in 0..6u8 {
        let dest = Keypair::from_seed(&[100 + i; 32]).public();
        assert_eq!(
            chain.account(&dest).await.unwrap().balance,
            Rao(1000 + u64::from(i))
        );
    }
}

fn small_subnet() -> Hyperparameters {
    Hyperparameters {
        tempo: 4,
        immunity_period: 1000,
        activity_cutoff: 1000,
        weights_rate_limit: 0,
        max_allowed_uids: 8,
        max_allowed_validators: 2,
        ..Hyperparameters::default()
    }
}

/// Creates a subnet owned by charlie with validator `v` (staked by dave) and miners `m1`, `m2`
/// (registered by eve, `m1` serving an AINFT), and waits for an epoch so `v` has its permit.
async fn populated_subnet<C: Harness>(
    chain: &C,
    hp: Hyperparameters,
) -> (NetUid, Keypair, Keypair, Keypair) {
    let (charlie, dave, eve) = (dev("charlie"), dev("dave"), dev("eve"));
    let netuid = chain
        .create_subnet(&charlie, hp.clone())
        .await
        .unwrap()
        .created_netuid()
        .unwrap();
    let (v, m1, m2) = (
        Keypair::from_seed(&[1; 32]),
        Keypair::from_seed(&[2; 32]),
        Keypair::from_seed(&[3; 32]),
    );
    let receipt = chain
        .register(&dave, netuid, v.public(), None)
        .await
        .unwrap();
    assert_eq!(receipt.created_uid().unwrap(), Uid(0));
    let ainft = chain
        .register_ainft(&eve, manifest("m1", netuid))
        .await
        .unwrap()
        .created_ainft()
        .unwrap();
    assert_eq!(ainft, manifest("m1", netuid).id());
    let uid = chain
        .register(&eve, netuid, m1.public(), Some(ainft))
        .await
        .unwrap()
        .created_uid()
        .unwrap();
    assert_eq!(uid, Uid(1));
    chain
        .register(&eve, netuid, m2.public(), None)
        .await
        .unwrap();
    chain
        .add_stake(&dave, v.public(), tokens(1000))
        .await
        .unwrap();
    chain.blocks(u64::from(hp.tempo) + 1).await;
    let metagraph = chain.metagraph(netuid).await.unwrap();
    assert!(metagraph.by_hotkey(&v.public()).unwrap().validator_permit);
    (netuid, v, m1, m2)
}

pub(crate) async fn subnet_lifecycle<C: Harness>(chain: &C) {
    let (alice, charlie, dave, eve) = (dev("alice"), dev("charlie"), dev("dave"), dev("eve"));
    let hp = small_subnet();

    // Weights need the permit of a past epoch: a fresh validator has none.
    let netuid = chain
        .create_subnet(&charlie, hp.clone())
        .await
        .unwrap()
        .created_netuid()
        .unwrap();
    let early = Keypair::from_seed(&[9; 32]);
    chain
        .register(&dave, netuid, early.public(), None)
        .await
        .unwrap();
    let err = rejection(
        chain
            .set_weights(&early, netuid, vec![Uid(0)], vec![1], 0)
            .await,
    );
    assert_eq!(err, TxError::NoValidatorPermit { netuid });

    let (netuid, v, m1, m2) = populated_subnet(chain, hp.clone()).await;
    let info = chain.subnet(netuid).await.unwrap();
    assert_eq!((info.owner, info.n), (charlie.public(), 3));
    assert_eq!(chain.hyperparameters(netuid).await.unwrap(), hp);
    assert_eq!(chain.subnets().await.unwrap().len(), 2);

    let err = rejection(chain.set_hyperparameters(&alice, netuid, hp.clone()).await);
    assert_eq!(err, TxError::NotSubnetOwner { netuid });
    let changed = Hyperparameters {
        weights_version: 3,
        ..hp.clone()
    };
    chain
        .set_hyperparameters(&charlie, netuid, changed.clone())
        .await
        .unwrap();
    assert_eq!(chain.hyperparameters(netuid).await.unwrap(), changed);

    let axon = AxonInfo {
        ip: "127.0.0.1".parse().unwrap(),
        port: 4242,
        cert_fingerprint: CertFingerprint([7; 32]),
        protocol_version: 1,
    };
    chain.serve_axon(&m1, netuid, axon).await.unwrap();
    let ainft = manifest("m1", netuid).id();
    chain
        .set_neuron_ainft(&m2, netuid, Some(ainft))
        .await
        .unwrap();
    // At least what dave staked: the first epoch may already have paid dividends to stake.
    assert!(chain.stake_of(&dave.public(), &v.public()).await.unwrap() >= tokens(1000));

    let uids = vec![Uid(1), Uid(2)];
    let err = rejection(
        chain
            .set_weights(&v, netuid, uids.clone(), vec![u16::MAX, 1000], 2)
            .await,
    );
    assert_eq!(
        err,
        TxError::IncorrectWeightsVersion {
            got: 2,
            required: 3
        }
    );
    chain
        .set_weights(&v, netuid, uids, vec![u16::MAX, u16::MAX / 2], 3)
        .await
        .unwrap();
    let weights = chain.weights(netuid).await.unwrap();
    assert_eq!(weights[0], vec![(Uid(1), u16::MAX), (Uid(2), u16::MAX / 2)]);

    let eve_before = chain.account(&eve.public()).await.unwrap().balance;
    chain.blocks(u64::from(hp.tempo) + 1).await;
    let metagraph = chain.metagraph(netuid).await.unwrap();
    let (n1, n2) = (
        metagraph.by_uid(Uid(1)).unwrap(),
        metagraph.by_uid(Uid(2)).unwrap(),
    );
    assert_eq!(n1.axon, Some(axon));
    assert_eq!((n1.ainft, n2.ainft), (Some(ainft), Some(ainft)));
    assert!(
        n1.incentive > n2.incentive && n2.incentive > 0,
        "{n1:?} {n2:?}"
    );
    assert!(metagraph.by_uid(Uid(0)).unwrap().dividends > 0);
    assert!(!chain.bonds(netuid).await.unwrap()[0].is_empty());
    let record = chain.ainft(&ainft).await.unwrap().unwrap();
    assert_eq!(record.owner, eve.public());
    assert!(record.earned > Rao(0));
    assert!(chain.account(&eve.public()).await.unwrap().balance > eve_before);
    let report = chain.emissions().await.unwrap();
    assert!(report.total_emitted > Rao(0));
    assert_eq!(report.total_emitted, report.total_credited);
    assert!(
        report
            .epochs
            .iter()
            .any(|e| e.netuid == netuid && e.miners > Rao(0))
    );

    let staked = chain.stake_of(&dave.public(), &v.public()).await.unwrap();
    chain
        .remove_stake(&dave, v.public(), tokens(1))
        .await
        .unwrap();
    assert_eq!(
        chain.stake_of(&dave.public(), &v.public()).await.unwrap(),
        staked.checked_sub(tokens(1)).unwrap()
    );
}

/// First block of the reveal window of a commit made in `commit_block` (the chain's rule).
fn reveal_opens(created: BlockNumber, tempo: u64, period: u64, commit_block: BlockNumber) -> u64 {
    let interval = (commit_block.get() - created.get()).div_ceil(tempo);
    created.get() + (interval + period - 1) * tempo + 1
}

pub(crate) async fn commit_reveal<C: Harness>(chain: &C) {
    let hp = Hyperparameters {
        commit_reveal_weights_enabled: true,
        commit_reveal_period: 1,
        ..small_subnet()
    };
    let (netuid, v, _, _) = populated_subnet(chain, hp.clone()).await;
    let tempo = u64::from(hp.tempo);
    let created = chain.subnet(netuid).await.unwrap().created_at;
    let (uids, values, salt) = (vec![1u16, 2], vec![u16::MAX, 100], b"pepper".to_vec());
    let hash = |salt: &[u8]| {
        Digest::from_bytes(
            WeightCommit {
                hotkey: v.public().as_bytes(),
                netuid: netuid.0,
                uids: &uids,
                values: &values,
                salt,
                version_key: 0,
            }
            .hash(),
        )
    };
    let typed: Vec<Uid> = uids.iter().copied().map(Uid).collect();

    let err = rejection(
        chain
            .set_weights(&v, netuid, typed.clone(), values.clone(), 0)
            .await,
    );
    assert_eq!(
        err,
        TxError::CommitRevealMode {
            enabled: true,
            netuid
        }
    );
    let committed = chain.commit_weights(&v, netuid, hash(&salt)).await.unwrap();
    let opens = reveal_opens(created, tempo, 1, committed.block);
    let revealed = match chain
        .reveal_weights(&v, netuid, typed.clone(), values.clone(), salt.clone(), 0)
        .await
    {
        Err(ChainError::Rejected(TxError::RevealTooEarly { opens: got })) => {
            assert_eq!(got.get(), opens);
            let now = chain.current_block().await.unwrap().get();
            chain.blocks((opens - 1).saturating_sub(now)).await;
            chain
                .reveal_weights(&v, netuid, typed.clone(), values.clone(), salt.clone(), 0)
                .await
                .unwrap()
        }
        other => other.unwrap(),
    };
    assert!(revealed.block.get() >= opens);
    assert_eq!(chain.weights(netuid).await.unwrap()[0].len(), 2);

    // A reveal that matches no commit, and one after its window closed.
    let err = rejection(
        chain
            .reveal_weights(&v, netuid, typed.clone(), values.clone(), b"x".to_vec(), 0)
            .await,
    );
    assert_eq!(err, TxError::RevealMismatch);
    let late_salt = b"late".to_vec();
    let committed = chain
        .commit_weights(&v, netuid, hash(&late_salt))
        .await
        .unwrap();
    let closes = reveal_opens(created, tempo, 1, committed.block) + tempo - 1;
    let now = chain.current_block().await.unwrap().get();
    chain.blocks(closes.saturating_sub(now) + 1).await;
    let err = rejection(
        chain
            .reveal_weights(&v, netuid, typed, values.clone(), late_salt, 0)
            .await,
    );
    assert_eq!(
        err,
        TxError::RevealTooLate {
            closed: BlockNumber(closes)
        }
    );
}

pub(crate) async fn raw_rejections<C: Harness>(chain: &C) {
    let (alice, ferdie) = (dev("alice"), dev("ferdie"));
    chain
        .transfer(&alice, ferdie.public(), Rao(1))
        .await
        .unwrap();
    let info = chain.info().await.unwrap();
    let nonce = chain.account(&alice.public()).await.unwrap().nonce;
    let tx = |nonce: u64| Transaction {
        signer: alice.public(),
        nonce,
        genesis_hash: info.genesis_hash,
        valid_until: info.height.saturating_add(100),
        call: subnet_protocol::chain::Call::Transfer {
            dest: ferdie.public(),
            amount: Rao(1),
        },
    };
    let wrong_chain = Transaction {
        genesis_hash: Digest::of(b"another chain"),
        ..tx(nonce)
    };
    assert_eq!(
        rejection(chain.submit_signed(wrong_chain.sign(&alice)).await),
        TxError::WrongGenesis {
            got: Digest::of(b"another chain")
        }
    );
    assert_eq!(
        rejection(chain.submit_signed(tx(nonce).sign(&ferdie)).await),
        TxError::BadSignature
    );
    assert_eq!(
        rejection(chain.submit_signed(tx(nonce - 1).sign(&alice)).await),
        TxError::StaleNonce {
            got: nonce - 1,
            expected: nonce
        }
    );
    assert_eq!(
        rejection(chain.submit_signed(tx(nonce + 5).sign(&alice)).await),
        TxError::FutureNonce {
            got: nonce + 5,
            expected: nonce
        }
    );
    let expired = Transaction {
        valid_until: BlockNumber(0),
        ..tx(nonce)
    };
    assert!(matches!(
        rejection(chain.submit_signed(expired.sign(&alice)).await),
        TxError::Expired {
            valid_until: BlockNumber(0),
            ..
        }
    ));
    // None of these consumed the nonce; the right transaction still goes in.
    let receipt = chain.submit_signed(tx(nonce).sign(&alice)).await.unwrap();
    assert_eq!(receipt.hash, tx(nonce).sign(&alice).hash());
    assert_eq!(
        chain.account(&alice.public()).await.unwrap().nonce,
        nonce + 1
    );
}

pub(crate) async fn caches_and_watchers<C: Harness>(chain: &C) {
    let netuid = chain
        .create_subnet(&dev("charlie"), small_subnet())
        .await
        .unwrap()
        .created_netuid()
        .unwrap();
    let mut cache = MetagraphCache::new(netuid);
    assert!(cache.get().is_none());
    assert!(cache.refresh(chain).await.unwrap());
    let first = cache.get().unwrap().block;
    if !cache.refresh(chain).await.unwrap() {
        assert_eq!(cache.get().unwrap().block, first);
    }
    chain
        .register(
            &dev("dave"),
            netuid,
            Keypair::from_seed(&[5; 32]).public(),
            None,
        )
        .await
        .unwrap();
    let metagraph = cache.latest(chain).await.unwrap();
    assert!(metagraph.block > first);
    assert_eq!(metagraph.neurons.len(), 1);

    let mut watcher = BlockWatcher::from_now(chain).await.unwrap();
    let start = watcher.last();
    chain.blocks(1).await;
    let next = watcher.next(chain).await.unwrap();
    assert!(next > start);
    assert_eq!(watcher.last(), next);
}
