//! The epoch the ledger runs against `scoring` run directly, and exact payouts: owner cut,
//! AINFT lineage royalties, stakers pro rata, rounding dust.

use subnet_protocol::chain::{Call, Hyperparameters};
use subnet_protocol::ids::{Rao, Uid};
use subnet_scoring::yuma::{EpochInputs, U16Matrix, bonds, prepare};

use crate::harness::{Chain, NET, genesis, hp, key, manifest, pk};

/// Two validators (UIDs 0, 1; `v0` staked by bob and eve), three miners (UIDs 2..=4; UID 2 serves
/// a derived AINFT, UID 3 its parent, UID 4 none), weights set, two epochs run.
fn network(hp: Hyperparameters) -> Chain {
    let mut c = Chain::single(&genesis(hp));
    let (bob, charlie, dave, ferdie) = (key("bob"), key("charlie"), key("dave"), key("ferdie"));
    let parent = manifest("parent", None);
    let child = manifest("child", Some((parent.id(), 250_000)));
    c.ok(
        &charlie,
        Call::RegisterAinft {
            manifest: parent.clone(),
        },
    );
    c.ok(
        &dave,
        Call::RegisterAinft {
            manifest: child.clone(),
        },
    );
    c.register(&bob, "v0", None);
    c.register(&ferdie, "v1", None);
    c.register(&ferdie, "m2", Some(child.id()));
    c.register(&ferdie, "m3", Some(parent.id()));
    c.register(&ferdie, "m4", None);
    c.stake(&bob, "v0", 3_000_000);
    c.stake(&key("eve"), "v0", 1_000_001);
    c.stake(&ferdie, "v1", 2_000_000);
    c.through_epoch();
    c.set_weights("v0", &[2, 3, 4], &[60_000, 30_000, 10_000]);
    c.set_weights("v1", &[2, 3, 4], &[10_000, 40_000, 20_000]);
    c.through_epoch();
    c
}

/// The Yuma inputs rebuilt from the public views only.
fn inputs_from_views(c: &Chain, at: u64) -> EpochInputs {
    let mg = c.ledger.metagraph(NET).unwrap();
    let subnet = c.ledger.subnet(NET).unwrap();
    let h = &subnet.hyperparameters;
    let rows = |m: Vec<Vec<(Uid, u16)>>| {
        U16Matrix::Sparse(
            m.into_iter()
                .map(|r| r.into_iter().map(|(j, v)| (j.0, v)).collect())
                .collect(),
        )
    };
    let last_update: Vec<u64> = mg.neurons.iter().map(|n| n.last_update.get()).collect();
    let registered: Vec<u64> = mg
        .neurons
        .iter()
        .map(|n| n.block_at_registration.get())
        .collect();
    let last_epoch = subnet.last_epoch_block.unwrap().get();
    EpochInputs {
        weights: rows(c.ledger.weights(NET).unwrap()),
        bonds_prev: rows(c.ledger.bonds(NET).unwrap()),
        stake: mg.neurons.iter().map(|n| n.stake.0).collect(),
        active: prepare::activity(&last_update, h.activity_cutoff, at),
        validator_permits_prev: mg.neurons.iter().map(|n| n.validator_permit).collect(),
        bonds_reset_cols: Some(bonds::bond_reset_columns(last_epoch, &registered)),
        last_update: Some(last_update),
        block_at_registration: Some(registered),
        weight_commit_blocks: None,
    }
}

#[test]
fn the_ledger_epoch_equals_scoring_on_the_same_inputs() {
    for yuma3 in [false, true] {
        let mut c = network(Hyperparameters {
            yuma3_enabled: yuma3,
            ..hp()
        });
        for _ in 0..3 {
            let plan = c.ledger.epoch_preview(NET).unwrap();
            assert_eq!(plan.inputs, inputs_from_views(&c, plan.block.get()));
            let h = c.ledger.subnet(NET).unwrap().hyperparameters;
            let cut = plan.pool.0 * u64::from(h.owner_cut) / 65_535;
            assert_eq!(plan.owner_cut, Rao(cut));
            assert_eq!(plan.params.rao_emission, plan.pool.0 - cut);
            assert_eq!(plan.params.owner_uid, None);
            let out = subnet_scoring::epoch(&plan.inputs, &plan.params).unwrap();
            let bonds_before = plan.inputs.bonds_prev.clone();

            c.advance_to(plan.block.get() - 1);
            let outcome = c.block(Vec::new());
            assert_eq!(outcome.epochs.len(), 1);
            let mg = c.ledger.metagraph(NET).unwrap();
            let col = |f: fn(&subnet_protocol::chain::NeuronInfo) -> u16| -> Vec<u16> {
                mg.neurons.iter().map(f).collect()
            };
            assert_eq!(col(|n| n.consensus), out.consensus_u16());
            assert_eq!(col(|n| n.incentive), out.incentive_u16());
            assert_eq!(col(|n| n.dividends), out.dividends_u16());
            assert_eq!(col(|n| n.validator_trust), out.validator_trust_u16());
            let permits: Vec<bool> = mg.neurons.iter().map(|n| n.validator_permit).collect();
            assert_eq!(permits, out.validator_permits);
            let stored: Vec<Vec<u16>> = {
                let n = mg.neurons.len();
                c.ledger
                    .bonds(NET)
                    .unwrap()
                    .into_iter()
                    .map(|row| {
                        let mut dense = vec![0; n];
                        for (j, v) in row {
                            dense[j.index()] = v;
                        }
                        dense
                    })
                    .collect()
            };
            assert_eq!(stored, out.stored_bonds_u16(&bonds_before));
            // One staker per validator but v0: its split may lose a rao to rounding.
            for (i, n) in mg.neurons.iter().enumerate() {
                let want = out.server_emission[i] + out.validator_emission[i];
                if i == 0 {
                    assert!(want - n.emission.0 <= 1, "uid 0: {want} vs {}", n.emission);
                } else {
                    assert_eq!(n.emission.0, want, "uid {i}");
                }
            }
            let e = &outcome.epochs[0];
            assert_eq!(e.emitted, plan.pool);
            assert_eq!(e.miners.0, out.server_emission.iter().sum::<u64>());
            assert!(out.validator_emission.iter().sum::<u64>() - e.validators.0 <= 1);
            assert_eq!(e.owner.0 + e.miners.0 + e.validators.0, e.emitted.0);
        }
    }
}

#[test]
fn payouts_are_exact_with_lineage_royalties_and_stakers_pro_rata() {
    let mut c = network(hp());
    let (parent, child) = (
        manifest("parent", None),
        manifest("child", Some((manifest("parent", None).id(), 250_000))),
    );
    let watched = ["alice", "bob", "charlie", "dave", "eve", "ferdie"];
    let balances = |c: &Chain| -> Vec<u64> {
        watched
            .iter()
            .map(|w| c.ledger.account(&pk(w)).balance.0)
            .collect()
    };
    let stake = |c: &Chain, cold: &str| c.ledger.stake_of(&pk(cold), &pk("v0")).0;
    let ainft =
        |c: &Chain, m: &subnet_protocol::ainft::AinftManifest| c.ledger.ainft(&m.id()).unwrap();

    let plan = c.ledger.epoch_preview(NET).unwrap();
    let out = subnet_scoring::epoch(&plan.inputs, &plan.params).unwrap();
    let (before, bob0, eve0) = (balances(&c), stake(&c, "bob"), stake(&c, "eve"));
    let ferdie0 = c.ledger.stake_of(&pk("ferdie"), &pk("v1")).0;
    let (p0, ch0) = (ainft(&c, &parent), ainft(&c, &child));
    let supply0 = c.ledger.supply();
    c.advance_to(plan.block.get());
    let after = balances(&c);
    let delta: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();

    let [s2, s3, s4] = [
        out.server_emission[2],
        out.server_emission[3],
        out.server_emission[4],
    ];
    assert!(s2 > 0 && s3 > 0 && s4 > 0, "{:?}", out.server_emission);
    let royalty = s2 / 4; // 250 000 ppm, floor
    // dave owns the child AINFT (UID 2); charlie owns the parent (UID 3) and gets the royalty;
    // ferdie's UID 4 has no AINFT, so its coldkey is paid.
    assert_eq!(delta[3], s2 - royalty);
    assert_eq!(delta[2], s3 + royalty);
    assert_eq!(delta[5], s4);
    let (p1, ch1) = (ainft(&c, &parent), ainft(&c, &child));
    assert_eq!(ch1.earned.0 - ch0.earned.0, s2);
    assert_eq!(ch1.royalties_paid.0 - ch0.royalties_paid.0, royalty);
    assert_eq!(p1.royalties_received.0 - p0.royalties_received.0, royalty);
    assert_eq!(p1.earned.0 - p0.earned.0, s3);

    // v0's dividends split between bob and eve pro rata, floor.
    let v = out.validator_emission[0];
    let (bob_share, eve_share) = (
        (u128::from(v) * u128::from(bob0) / u128::from(bob0 + eve0)) as u64,
        (u128::from(v) * u128::from(eve0) / u128::from(bob0 + eve0)) as u64,
    );
    assert_eq!(stake(&c, "bob") - bob0, bob_share);
    assert_eq!(stake(&c, "eve") - eve0, eve_share);
    assert_eq!(
        c.ledger.stake_of(&pk("ferdie"), &pk("v1")).0 - ferdie0,
        out.validator_emission[1]
    );

    // The owner gets the cut plus every unit of rounding.
    let credited_elsewhere = s2 + s3 + s4 + bob_share + eve_share + out.validator_emission[1];
    assert_eq!(delta[0], plan.pool.0 - credited_elsewhere);
    assert!(delta[0] >= plan.owner_cut.0);
    let supply1 = c.ledger.supply();
    assert_eq!(supply1.emitted.0 - supply0.emitted.0, plan.pool.0);
    assert_eq!(supply1.issuance.0 - supply0.issuance.0, plan.pool.0);
    assert_eq!(supply1.emitted, supply1.credited);

    let report = c.ledger.emissions();
    assert_eq!(report.total_emitted, report.total_credited);
    let by_role: u64 = report
        .accounts
        .iter()
        .map(|a| a.as_ainft_owner.0 + a.as_staker.0 + a.as_subnet_owner.0)
        .sum();
    assert_eq!(by_role, report.total_credited.0);
    let epochs: u64 = report.epochs.iter().map(|e| e.emitted.0).sum();
    assert_eq!(epochs, report.total_emitted.0);
    let dave = report
        .accounts
        .iter()
        .find(|a| a.account == pk("dave"))
        .unwrap();
    assert_eq!(
        dave.as_ainft_owner,
        ch1.earned.saturating_sub(ch1.royalties_paid)
    );
}

#[test]
fn the_owner_hotkey_is_the_owner_uid() {
    let mut c = Chain::single(&genesis(hp()));
    c.register(&key("bob"), "v0", None);
    c.register(&key("alice"), "owner-hk", None);
    let plan = c.ledger.epoch_preview(NET).unwrap();
    assert_eq!(plan.params.owner_uid, Some(1));
}

#[test]
fn an_empty_subnet_pays_its_whole_pool_to_the_owner() {
    let mut c = Chain::single(&genesis(hp()));
    let alice0 = c.ledger.account(&pk("alice")).balance;
    c.through_epoch();
    let pool = hp().emission_per_block.0 * u64::from(hp().tempo);
    assert_eq!(c.ledger.account(&pk("alice")).balance.0 - alice0.0, pool);
    let report = c.ledger.emissions();
    assert_eq!(report.epochs.len(), 1);
    assert_eq!(report.epochs[0].owner.0, pool);
    assert_eq!(c.ledger.subnet(NET).unwrap().pending_emission, Rao(0));
}
