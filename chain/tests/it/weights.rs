//! `SetWeights`, `CommitWeights`, `RevealWeights`: success, every rejection, the rate limit and
//! the reveal windows.

use subnet_protocol::ainft::Digest;
use subnet_protocol::chain::{Call, Hyperparameters, TxError};
use subnet_protocol::ids::{BlockNumber, NetUid, Rao, Uid};
use subnet_scoring::weights::WeightCommit;

use crate::harness::{Chain, NET, genesis, hp, key, pk, weights_call};

/// Validator `v0` (UID 0, staked, with a permit after the first epoch) and miners UIDs 1..=3.
fn with_validator(hp: Hyperparameters) -> Chain {
    let mut c = Chain::new(&genesis(hp));
    c.register(&key("bob"), "v0", None);
    c.stake(&key("bob"), "v0", 10_000);
    for m in ["m1", "m2", "m3"] {
        c.register(&key("charlie"), m, None);
    }
    c.through_epoch();
    let mg = c.ledger.metagraph(NET).unwrap();
    assert!(mg.neurons[0].validator_permit);
    assert!(!mg.neurons[1].validator_permit);
    c
}

fn hash(hotkey: &str, uids: &[u16], values: &[u16], salt: &[u8], version_key: u64) -> Digest {
    let hotkey = pk(hotkey);
    Digest::from_bytes(
        WeightCommit {
            hotkey: hotkey.as_bytes(),
            netuid: NET.0,
            uids,
            values,
            salt,
            version_key,
        }
        .hash(),
    )
}

fn reveal(uids: &[u16], values: &[u16], salt: &[u8]) -> Call {
    Call::RevealWeights {
        netuid: NET,
        uids: uids.iter().copied().map(Uid).collect(),
        values: values.to_vec(),
        salt: salt.to_vec(),
        version_key: 0,
    }
}

#[test]
fn set_weights_stores_max_upscaled_rows_sorted_by_uid() {
    let mut c = with_validator(hp());
    c.set_weights("v0", &[3, 1], &[100, 50]);
    let rows = c.ledger.weights(NET).unwrap();
    assert_eq!(rows.len(), 4);
    // 50 · 65535 / 100 = 32767.5 rounds away from zero.
    assert_eq!(rows[0], vec![(Uid(1), 32768), (Uid(3), 65535)]);
    assert!(rows[1].is_empty());
    let v0 = c.ledger.metagraph(NET).unwrap().neurons[0].clone();
    assert_eq!(v0.last_update, c.height());
    // Explicit zeros are kept; a new submission replaces the row.
    c.set_weights("v0", &[2, 1], &[0, 7]);
    assert_eq!(
        c.ledger.weights(NET).unwrap()[0],
        vec![(Uid(1), 65535), (Uid(2), 0)]
    );
}

#[test]
fn set_weights_rejections() {
    let mut c = with_validator(hp());
    let v0 = key("v0");
    c.err(
        &v0,
        Call::SetWeights {
            netuid: NetUid(9),
            uids: vec![Uid(1)],
            values: vec![1],
            version_key: 0,
        },
        TxError::UnknownSubnet { netuid: NetUid(9) },
    );
    c.err(
        &key("nobody"),
        weights_call(&[1], &[1], 0),
        TxError::NotRegistered {
            hotkey: pk("nobody"),
            netuid: NET,
        },
    );
    c.err(
        &key("m1"),
        weights_call(&[2], &[1], 0),
        TxError::NoValidatorPermit { netuid: NET },
    );
    c.err(
        &v0,
        weights_call(&[1, 2], &[1], 0),
        TxError::WeightsLengthMismatch { uids: 2, values: 1 },
    );
    c.err(
        &v0,
        weights_call(&[1, 10], &[1, 1], 0),
        TxError::UnknownUid { uid: Uid(10), n: 4 },
    );
    c.err(
        &v0,
        weights_call(&[1, 2, 1], &[1, 1, 1], 0),
        TxError::DuplicateUid { uid: Uid(1) },
    );

    let alice = key("alice");
    let strict = Hyperparameters {
        weights_version: 5,
        min_allowed_weights: 2,
        max_weight_limit: 40_000,
        ..hp()
    };
    c.ok(
        &alice,
        Call::SetHyperparameters {
            netuid: NET,
            hyperparameters: strict,
        },
    );
    c.err(
        &v0,
        weights_call(&[1, 2], &[1, 1], 4),
        TxError::IncorrectWeightsVersion {
            got: 4,
            required: 5,
        },
    );
    c.err(
        &v0,
        weights_call(&[1, 2], &[5, 0], 5),
        TxError::TooFewWeights { got: 1, min: 2 },
    );
    c.err(
        &v0,
        weights_call(&[1, 2], &[65535, 1], 5),
        TxError::MaxWeightExceeded { limit: 40_000 },
    );
    c.ok(&v0, weights_call(&[1, 2], &[100, 100], 5));

    let cr = Hyperparameters {
        commit_reveal_weights_enabled: true,
        ..hp()
    };
    c.ok(
        &alice,
        Call::SetHyperparameters {
            netuid: NET,
            hyperparameters: cr,
        },
    );
    c.err(
        &v0,
        weights_call(&[1], &[1], 0),
        TxError::CommitRevealMode {
            enabled: true,
            netuid: NET,
        },
    );
}

#[test]
fn min_allowed_weights_is_capped_by_the_subnet_size() {
    let mut c = with_validator(Hyperparameters {
        min_allowed_weights: 8,
        ..hp()
    });
    // n = 4, so 4 non-zero weights are enough (the validator's own included).
    c.err(
        &key("v0"),
        weights_call(&[1, 2, 3], &[1, 1, 1], 0),
        TxError::TooFewWeights { got: 3, min: 8 },
    );
    c.set_weights("v0", &[0, 1, 2, 3], &[1, 1, 1, 1]);
}

#[test]
fn weights_rate_limit() {
    let mut c = with_validator(Hyperparameters {
        weights_rate_limit: 3,
        ..hp()
    });
    let v0 = key("v0");
    c.set_weights("v0", &[1], &[1]);
    let first = c.height();
    let next_allowed = first.saturating_add(3);
    c.err(
        &v0,
        weights_call(&[2], &[1], 0),
        TxError::WeightsRateLimited { next_allowed },
    );
    c.err(
        &v0,
        weights_call(&[2], &[1], 0),
        TxError::WeightsRateLimited { next_allowed },
    );
    assert_eq!(c.height(), first.saturating_add(2));
    c.set_weights("v0", &[2], &[1]);
    assert_eq!(c.height(), next_allowed);
    assert_eq!(c.ledger.weights(NET).unwrap()[0], vec![(Uid(2), 65535)]);
}

#[test]
fn reveal_windows_follow_the_documented_rule() {
    let c = Chain::single(&genesis(Hyperparameters {
        tempo: 5,
        commit_reveal_period: 1,
        ..hp()
    }));
    // created_at 0, tempo 5: blocks 6..=10 are interval 2, so their reveal interval is 3.
    for commit in [6, 7, 10] {
        assert_eq!(
            c.ledger.reveal_window(NET, BlockNumber(commit)),
            Some((BlockNumber(11), BlockNumber(15)))
        );
    }
    assert_eq!(
        c.ledger.reveal_window(NET, BlockNumber(11)),
        Some((BlockNumber(16), BlockNumber(20)))
    );
    let c = Chain::single(&genesis(Hyperparameters {
        tempo: 5,
        commit_reveal_period: 3,
        ..hp()
    }));
    assert_eq!(
        c.ledger.reveal_window(NET, BlockNumber(7)),
        Some((BlockNumber(21), BlockNumber(25)))
    );
}

#[test]
fn commit_reveal_early_ok_late_and_mismatch() {
    let cr = Hyperparameters {
        commit_reveal_weights_enabled: true,
        ..hp()
    };
    let mut c = with_validator(cr);
    let v0 = key("v0");
    let (uids, values, salt) = ([1u16, 3], [10u16, 20], b"pepper".to_vec());
    c.ok(
        &v0,
        Call::CommitWeights {
            netuid: NET,
            commit: hash("v0", &uids, &values, &salt, 0),
        },
    );
    let committed = c.height();
    let (opens, closes) = c.ledger.reveal_window(NET, committed).unwrap();
    assert_eq!(c.ledger.weight_commits(NET, &pk("v0")).len(), 1);

    c.err(
        &v0,
        reveal(&uids, &values, &salt),
        TxError::RevealTooEarly { opens },
    );
    c.err(
        &v0,
        reveal(&uids, &values, b"salt"),
        TxError::RevealMismatch,
    );
    c.err(
        &v0,
        reveal(&uids, &[10, 21], &salt),
        TxError::RevealMismatch,
    );
    c.advance_to(opens.get() - 1);
    c.ok(&v0, reveal(&uids, &values, &salt));
    assert_eq!(c.height(), opens);
    assert_eq!(
        c.ledger.weights(NET).unwrap()[0],
        vec![(Uid(1), 32768), (Uid(3), 65535)]
    );
    assert!(c.ledger.weight_commits(NET, &pk("v0")).is_empty());
    // A commit is used once.
    c.err(&v0, reveal(&uids, &values, &salt), TxError::RevealMismatch);

    // Late: the window of a second commit passes.
    c.ok(
        &v0,
        Call::CommitWeights {
            netuid: NET,
            commit: hash("v0", &[2], &[1], b"s2", 0),
        },
    );
    let (_, closes2) = c.ledger.reveal_window(NET, c.height()).unwrap();
    assert!(closes2 > closes);
    c.advance_to(closes2.get());
    c.err(
        &v0,
        reveal(&[2], &[1], b"s2"),
        TxError::RevealTooLate { closed: closes2 },
    );
    c.advance(7);
    c.err(
        &v0,
        reveal(&[2], &[1], b"s2"),
        TxError::RevealTooLate { closed: closes2 },
    );
    // The expired commit lingers until the next commit drops it.
    assert_eq!(c.ledger.weight_commits(NET, &pk("v0")).len(), 1);
    c.ok(
        &v0,
        Call::CommitWeights {
            netuid: NET,
            commit: Digest::of(b"next"),
        },
    );
    assert_eq!(
        c.ledger.weight_commits(NET, &pk("v0")),
        vec![(Digest::of(b"next"), c.height())]
    );
}

#[test]
fn revealed_weights_pass_the_set_weights_checks() {
    let cr = Hyperparameters {
        commit_reveal_weights_enabled: true,
        ..hp()
    };
    let mut c = with_validator(cr);
    let v0 = key("v0");
    c.ok(
        &v0,
        Call::CommitWeights {
            netuid: NET,
            commit: hash("v0", &[1, 1], &[1, 1], b"x", 0),
        },
    );
    let (opens, _) = c.ledger.reveal_window(NET, c.height()).unwrap();
    c.advance_to(opens.get() - 1);
    c.err(
        &v0,
        reveal(&[1, 1], &[1, 1], b"x"),
        TxError::DuplicateUid { uid: Uid(1) },
    );
    assert_eq!(
        c.ledger.weight_commits(NET, &pk("v0")).len(),
        1,
        "a refused reveal keeps the commit"
    );
}

#[test]
fn commit_and_reveal_rejections() {
    let mut c = with_validator(hp());
    let v0 = key("v0");
    let commit = Call::CommitWeights {
        netuid: NET,
        commit: Digest::of(b"c"),
    };
    c.err(
        &v0,
        commit.clone(),
        TxError::CommitRevealMode {
            enabled: false,
            netuid: NET,
        },
    );
    c.err(
        &v0,
        reveal(&[1], &[1], b"s"),
        TxError::CommitRevealMode {
            enabled: false,
            netuid: NET,
        },
    );
    c.err(
        &v0,
        Call::CommitWeights {
            netuid: NetUid(4),
            commit: Digest::of(b"c"),
        },
        TxError::UnknownSubnet { netuid: NetUid(4) },
    );

    let cr = Hyperparameters {
        commit_reveal_weights_enabled: true,
        ..hp()
    };
    c.ok(
        &key("alice"),
        Call::SetHyperparameters {
            netuid: NET,
            hyperparameters: cr,
        },
    );
    c.err(
        &key("nobody"),
        commit.clone(),
        TxError::NotRegistered {
            hotkey: pk("nobody"),
            netuid: NET,
        },
    );
    c.err(
        &key("nobody"),
        reveal(&[1], &[1], b"s"),
        TxError::NotRegistered {
            hotkey: pk("nobody"),
            netuid: NET,
        },
    );
    c.err(
        &key("m1"),
        commit.clone(),
        TxError::NoValidatorPermit { netuid: NET },
    );
    let txs = (0..subnet_chain::MAX_PENDING_COMMITS as u64)
        .map(|i| {
            c.tx_with_nonce(
                &v0,
                c.ledger.account(&v0.public()).nonce + i,
                Call::CommitWeights {
                    netuid: NET,
                    commit: Digest::of(&i.to_le_bytes()),
                },
            )
        })
        .collect();
    assert_eq!(
        c.block(txs).receipts.len(),
        subnet_chain::MAX_PENDING_COMMITS
    );
    c.err(&v0, commit, TxError::TooManyCommits);
}

#[test]
fn stake_changes_do_not_touch_weights_and_balances_are_conserved() {
    let mut c = with_validator(hp());
    c.set_weights("v0", &[1], &[1]);
    let before = c.ledger.weights(NET).unwrap();
    c.ok(
        &key("bob"),
        Call::RemoveStake {
            hotkey: pk("v0"),
            amount: Rao(10_000),
        },
    );
    assert_eq!(c.ledger.weights(NET).unwrap(), before);
}
