//! The emission invariant over random transaction sequences and many epochs: the issuance grows
//! by exactly what is emitted, every emitted unit is credited, and balances plus stake always
//! add up to the issuance. Twin ledgers fed the same blocks stay identical.

use proptest::prelude::*;
use subnet_chain::{Genesis, GenesisSubnet, Ledger};
use subnet_protocol::ainft::AinftId;
use subnet_protocol::chain::{Call, Hyperparameters, SignedTransaction};
use subnet_protocol::ids::{NetUid, Rao, Uid};
use subnet_protocol::keys::Keypair;

use crate::harness::{Chain, manifest};

const COLDKEYS: [&str; 6] = ["alice", "bob", "charlie", "dave", "eve", "ferdie"];
const HOTKEYS: usize = 8;
const AINFTS: usize = 4;

fn hotkey(i: usize) -> Keypair {
    Keypair::dev(&format!("prop-hot-{i}"))
}

fn ainft_manifest(i: usize) -> subnet_protocol::ainft::AinftManifest {
    // Even AINFTs are roots; odd ones derive from the one before with a 1/3 royalty.
    let parent = (i % 2 == 1).then(|| (ainft_manifest(i - 1).id(), 333_333));
    manifest(&format!("prop-{i}"), parent)
}

fn ainft_id(i: usize) -> AinftId {
    ainft_manifest(i).id()
}

fn prop_hp(tempo: u16) -> Hyperparameters {
    Hyperparameters {
        tempo,
        weights_rate_limit: 0,
        immunity_period: 2,
        burn: Rao(10_000),
        emission_per_block: Rao(1_000_003),
        max_allowed_uids: 6,
        max_allowed_validators: 3,
        activity_cutoff: 50,
        owner_cut: 11_796,
        ..Hyperparameters::default()
    }
}

fn prop_genesis() -> Genesis {
    let mut g = Genesis::dev();
    g.max_subnets = 3;
    g.subnet_creation_burn = Rao(5_000_000);
    g.subnets.push(GenesisSubnet {
        owner: Keypair::dev("alice").public(),
        hyperparameters: prop_hp(3),
    });
    g.subnets.push(GenesisSubnet {
        owner: Keypair::dev("bob").public(),
        hyperparameters: Hyperparameters {
            yuma3_enabled: false,
            ..prop_hp(4)
        },
    });
    g
}

#[derive(Debug, Clone)]
enum Op {
    Transfer {
        from: usize,
        to: usize,
        amount: u64,
    },
    AddStake {
        cold: usize,
        hot: usize,
        amount: u64,
    },
    RemoveStake {
        cold: usize,
        hot: usize,
        amount: u64,
    },
    Register {
        net: u16,
        cold: usize,
        hot: usize,
        ainft: Option<usize>,
    },
    RegisterAinft {
        owner: usize,
        index: usize,
    },
    SetAinft {
        net: u16,
        hot: usize,
        ainft: Option<usize>,
    },
    SetWeights {
        net: u16,
        hot: usize,
        targets: Vec<(u16, u16)>,
    },
    CreateSubnet {
        owner: usize,
    },
    EndBlock {
        empty_after: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let cold = 0..COLDKEYS.len();
    let hot = 0..HOTKEYS;
    let net = 1u16..=3;
    prop_oneof![
        (cold.clone(), cold.clone(), 0u64..3_000_000).prop_map(|(from, to, amount)| Op::Transfer {
            from,
            to,
            amount
        }),
        (cold.clone(), hot.clone(), 0u64..5_000_000).prop_map(|(cold, hot, amount)| Op::AddStake {
            cold,
            hot,
            amount
        }),
        (cold.clone(), hot.clone(), 0u64..2_000_000)
            .prop_map(|(cold, hot, amount)| Op::RemoveStake { cold, hot, amount }),
        (
            net.clone(),
            cold.clone(),
            hot.clone(),
            proptest::option::of(0..AINFTS)
        )
            .prop_map(|(net, cold, hot, ainft)| Op::Register {
                net,
                cold,
                hot,
                ainft
            }),
        (cold.clone(), 0..AINFTS).prop_map(|(owner, index)| Op::RegisterAinft { owner, index }),
        (net.clone(), hot.clone(), proptest::option::of(0..AINFTS))
            .prop_map(|(net, hot, ainft)| Op::SetAinft { net, hot, ainft }),
        (
            net,
            hot,
            proptest::collection::vec((0u16..7, any::<u16>()), 0..6)
        )
            .prop_map(|(net, hot, targets)| Op::SetWeights { net, hot, targets }),
        // Mostly from the validators of the prelude, to distinct existing UIDs.
        (
            0usize..3,
            proptest::sample::subsequence((0u16..4).collect::<Vec<_>>(), 1..4),
            any::<u16>()
        )
            .prop_map(|(v, uids, seed)| Op::SetWeights {
                net: [1, 1, 2][v],
                hot: [0, 1, 4][v],
                targets: uids
                    .iter()
                    .map(|u| (*u, seed.rotate_left(u32::from(*u)) | 1))
                    .collect(),
            }),
        cold.prop_map(|owner| Op::CreateSubnet { owner }),
        (0u64..4).prop_map(|empty_after| Op::EndBlock { empty_after }),
        (0u64..4).prop_map(|empty_after| Op::EndBlock { empty_after }),
    ]
}

/// The transaction for `op` (none for `EndBlock`), signed with the signer's next nonce given
/// what the open block already holds.
fn tx_for(c: &Chain, op: &Op, pending: &[SignedTransaction]) -> Option<SignedTransaction> {
    let cold = |i: usize| Keypair::dev(COLDKEYS[i]);
    let (signer, call) = match op.clone() {
        Op::Transfer { from, to, amount } => (
            cold(from),
            Call::Transfer {
                dest: cold(to).public(),
                amount: Rao(amount),
            },
        ),
        Op::AddStake {
            cold: k,
            hot,
            amount,
        } => (
            cold(k),
            Call::AddStake {
                hotkey: hotkey(hot).public(),
                amount: Rao(amount),
            },
        ),
        Op::RemoveStake {
            cold: k,
            hot,
            amount,
        } => (
            cold(k),
            Call::RemoveStake {
                hotkey: hotkey(hot).public(),
                amount: Rao(amount),
            },
        ),
        Op::Register {
            net,
            cold: k,
            hot,
            ainft,
        } => (
            cold(k),
            Call::Register {
                netuid: NetUid(net),
                hotkey: hotkey(hot).public(),
                ainft: ainft.map(ainft_id),
            },
        ),
        Op::RegisterAinft { owner, index } => (
            cold(owner),
            Call::RegisterAinft {
                manifest: ainft_manifest(index),
            },
        ),
        Op::SetAinft { net, hot, ainft } => (
            hotkey(hot),
            Call::SetNeuronAinft {
                netuid: NetUid(net),
                ainft: ainft.map(ainft_id),
            },
        ),
        Op::SetWeights { net, hot, targets } => (
            hotkey(hot),
            Call::SetWeights {
                netuid: NetUid(net),
                uids: targets.iter().map(|(u, _)| Uid(*u)).collect(),
                values: targets.iter().map(|(_, v)| *v).collect(),
                version_key: 0,
            },
        ),
        Op::CreateSubnet { owner } => (
            cold(owner),
            Call::CreateSubnet {
                hyperparameters: prop_hp(5),
            },
        ),
        Op::EndBlock { .. } => return None,
    };
    let queued = pending
        .iter()
        .filter(|t| t.tx.signer == signer.public())
        .count() as u64;
    let nonce = c.ledger.account(&signer.public()).nonce + queued;
    Some(c.tx_with_nonce(&signer, nonce, call))
}

/// Every balance and stake the test can have created, summed.
fn holdings(ledger: &Ledger) -> u64 {
    let colds: Vec<_> = COLDKEYS.iter().map(|n| Keypair::dev(n).public()).collect();
    let hots: Vec<_> = (0..HOTKEYS).map(|i| hotkey(i).public()).collect();
    let balances: u64 = colds
        .iter()
        .chain(&hots)
        .map(|k| ledger.account(k).balance.0)
        .sum();
    let stakes: u64 = hots.iter().map(|h| ledger.total_stake(h).0).sum();
    let by_pair: u64 = hots
        .iter()
        .flat_map(|h| colds.iter().map(move |c| (c, h)))
        .map(|(c, h)| ledger.stake_of(c, h).0)
        .sum();
    assert_eq!(
        stakes, by_pair,
        "hotkey totals equal the sum of their stakes"
    );
    balances + stakes
}

fn check_invariants(ledger: &Ledger, genesis_total: u64) {
    let s = ledger.supply();
    assert_eq!(
        s.issuance.0,
        holdings(ledger),
        "issuance = balances + stake"
    );
    assert_eq!(s.issuance.0 + s.burned.0, genesis_total + s.emitted.0);
    assert_eq!(s.emitted, s.credited);
    let pending: u64 = ledger.subnets().iter().map(|n| n.pending_emission.0).sum();
    assert_eq!(s.pending.0, pending);
    let report = ledger.emissions();
    let by_role: u64 = report
        .accounts
        .iter()
        .map(|a| a.as_ainft_owner.0 + a.as_staker.0 + a.as_subnet_owner.0)
        .sum();
    assert_eq!(by_role, report.total_credited.0);
    let by_epoch: u64 = report.epochs.iter().map(|e| e.emitted.0).sum();
    assert_eq!(by_epoch, report.total_emitted.0);
    for e in &report.epochs {
        assert_eq!(e.owner.0 + e.miners.0 + e.validators.0, e.emitted.0);
    }
    // What AINFT owners were paid through AINFTs cannot exceed what the role totals hold.
    let via_ainfts: u64 = report.ainfts.iter().map(|a| a.earned.0).sum();
    let as_owner: u64 = report.accounts.iter().map(|a| a.as_ainft_owner.0).sum();
    assert!(via_ainfts <= as_owner);
}

/// A fixed start: validators with stake on both subnets, a few miners.
fn prelude(c: &mut Chain) {
    let mut txs = Vec::new();
    for (net, cold, hot) in [
        (1, 0, 0),
        (1, 1, 1),
        (1, 2, 2),
        (1, 2, 3),
        (2, 1, 1),
        (2, 3, 4),
        (2, 3, 5),
    ] {
        let op = Op::Register {
            net,
            cold,
            hot,
            ainft: None,
        };
        txs.extend(tx_for(c, &op, &txs));
    }
    for (cold, hot, amount) in [(0, 0, 40_000_000), (1, 1, 20_000_000), (3, 4, 9_000_000)] {
        let op = Op::AddStake { cold, hot, amount };
        txs.extend(tx_for(c, &op, &txs));
    }
    let out = c.block(txs);
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, max_shrink_iters: 64, ..ProptestConfig::default() })]

    #[test]
    fn supply_grows_by_exactly_what_is_emitted(ops in proptest::collection::vec(op(), 20..90)) {
        let genesis = prop_genesis();
        let total = genesis.total_balance().unwrap().0;
        let mut c = Chain::new(&genesis);
        prelude(&mut c);
        let mut pending = Vec::new();
        for op in &ops {
            if let Op::EndBlock { empty_after } = op {
                c.block(std::mem::take(&mut pending));
                check_invariants(&c.ledger, total);
                c.advance(*empty_after);
            } else if let Some(tx) = tx_for(&c, op, &pending) {
                // One transaction per signer and block, so that a refusal does not cascade
                // into refused nonces.
                if pending.iter().any(|t: &SignedTransaction| t.tx.signer == tx.tx.signer) {
                    c.block(std::mem::take(&mut pending));
                    check_invariants(&c.ledger, total);
                    pending.push(tx_for(&c, op, &pending).unwrap());
                } else {
                    pending.push(tx);
                }
            }
        }
        c.block(pending);
        // Run at least a few epochs on every subnet.
        c.advance(12);
        check_invariants(&c.ledger, total);
        prop_assert!(c.ledger.supply().emitted.0 > 0);
    }
}
