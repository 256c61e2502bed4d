//! Property tests of the epoch: dense = sparse = the dense reference, bit for bit; proportions
//! sum to 1 or 0; permuting UIDs permutes the outputs; no panic on any input.

use proptest::prelude::*;
use subnet_scoring::I32F32;
use subnet_scoring::yuma::{BondRow, EpochInputs, EpochOutput, EpochParams, U16Matrix, epoch};

use crate::cases::to_sparse;
use crate::reference::{RefInputs, reference_epoch};

/// A random subnet: dense matrices plus the vectors, with many zeros and repeated values.
#[derive(Clone, Debug)]
struct Subnet {
    weights: Vec<Vec<u16>>,
    bonds: Vec<Vec<u16>>,
    stake: Vec<u64>,
    active: Vec<bool>,
    permits_prev: Vec<bool>,
    reset_cols: Option<Vec<bool>>,
    params: EpochParams,
}

impl Subnet {
    fn inputs(&self, sparse: bool) -> EpochInputs {
        let matrix = |m: &Vec<Vec<u16>>| {
            if sparse {
                to_sparse(m)
            } else {
                U16Matrix::Dense(m.clone())
            }
        };
        EpochInputs {
            weights: matrix(&self.weights),
            bonds_prev: matrix(&self.bonds),
            stake: self.stake.clone(),
            active: self.active.clone(),
            validator_permits_prev: self.permits_prev.clone(),
            last_update: None,
            block_at_registration: None,
            weight_commit_blocks: None,
            bonds_reset_cols: self.reset_cols.clone(),
        }
    }
}

fn u16_value() -> impl Strategy<Value = u16> {
    prop_oneof![3 => Just(0_u16), 1 => Just(u16::MAX), 2 => any::<u16>(), 1 => 0_u16..4]
}

fn params(n: usize) -> impl Strategy<Value = EpochParams> {
    (
        (
            prop_oneof![Just(32_767_u16), Just(0), Just(u16::MAX), any::<u16>()],
            prop_oneof![Just(900_000_u64), Just(975_000), 0_u64..=1_000_000],
            prop_oneof![Just(u16::MAX), Just(0_u16), any::<u16>()],
            0..=(n as u16 + 2),
            any::<bool>(),
        ),
        (
            (1638_u16..=u16::MAX, 1638_u16..=u16::MAX),
            prop_oneof![Just(1000_i16), any::<i16>()],
            any::<bool>(),
            any::<bool>(),
            prop_oneof![Just(0_u64), 0_u64..50],
            any::<u64>(),
            proptest::option::of(0..(n as u16 + 1)),
        ),
    )
        .prop_map(
            |((kappa, bma, bp, mav, liquid), ((a, b), steep, y3, drop, thr, emission, owner))| {
                EpochParams {
                    kappa,
                    bonds_moving_avg: bma,
                    bonds_penalty: bp,
                    max_allowed_validators: mav,
                    liquid_alpha_enabled: liquid,
                    alpha_low: a.min(b),
                    alpha_high: a.max(b),
                    alpha_sigmoid_steepness: steep,
                    yuma3_enabled: y3,
                    yuma3_sparse_drop: drop,
                    stake_threshold: thr,
                    rao_emission: emission,
                    owner_uid: owner,
                }
            },
        )
}

fn subnet(max_n: usize) -> impl Strategy<Value = Subnet> {
    (0..=max_n).prop_flat_map(|n| {
        let matrix = || proptest::collection::vec(proptest::collection::vec(u16_value(), n), n);
        (
            matrix(),
            matrix(),
            proptest::collection::vec(prop_oneof![Just(0_u64), 0_u64..100, any::<u64>()], n),
            proptest::collection::vec(prop_oneof![3 => Just(true), 1 => Just(false)], n),
            proptest::collection::vec(any::<bool>(), n),
            proptest::option::of(proptest::collection::vec(any::<bool>(), n)),
            params(n),
        )
            .prop_map(
                |(weights, bonds, stake, active, permits_prev, reset_cols, params)| Subnet {
                    weights,
                    bonds,
                    stake,
                    active,
                    permits_prev,
                    reset_cols,
                    params,
                },
            )
    })
}

fn dense_bonds(out: &EpochOutput, n: usize) -> Vec<Option<Vec<I32F32>>> {
    out.bonds
        .iter()
        .map(|row| match row {
            BondRow::Store(entries) => {
                let mut dense = vec![I32F32::ZERO; n];
                entries.iter().for_each(|&(j, v)| dense[usize::from(j)] = v);
                Some(dense)
            }
            BondRow::Clear => Some(vec![I32F32::ZERO; n]),
            BondRow::Keep => None,
        })
        .collect()
}

/// Sum of a normalised vector: within `n` ulps below 1 (each share is truncated), or exactly 0.
fn is_unit_or_zero(v: &[I32F32]) -> bool {
    let total = v
        .iter()
        .fold(I32F32::ZERO, |a, x| a.saturating_add(*x))
        .to_bits();
    let slack = i64::try_from(v.len()).unwrap();
    total == 0 || (total <= I32F32::ONE.to_bits() && total >= I32F32::ONE.to_bits() - slack)
}

/// Seeded and without regression files: the same cases on every run and machine.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed_0003),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn dense_sparse_and_reference_agree(s in subnet(10)) {
        let dense = epoch(&s.inputs(false), &s.params).unwrap();
        let sparse = epoch(&s.inputs(true), &s.params).unwrap();
        prop_assert_eq!(&dense, &sparse);
        if !s.params.yuma3_sparse_drop || !dense.liquid_alpha_used {
            let r = reference_epoch(
                &RefInputs {
                    weights: &s.weights,
                    bonds: &s.bonds,
                    stake: &s.stake,
                    active: &s.active,
                    permits_prev: &s.permits_prev,
                    reset_cols: s.reset_cols.as_deref(),
                },
                &s.params,
            );
            let n = s.stake.len();
            prop_assert_eq!(&dense.stake, &r.stake);
            prop_assert_eq!(&dense.active_stake, &r.active_stake);
            prop_assert_eq!(&dense.consensus, &r.consensus);
            prop_assert_eq!(&dense.validator_trust, &r.validator_trust);
            prop_assert_eq!(&dense.incentive, &r.incentive);
            prop_assert_eq!(&dense.trust, &r.trust);
            prop_assert_eq!(&dense.dividends, &r.dividends);
            prop_assert_eq!(&dense.validator_permits, &r.permits);
            prop_assert_eq!(&dense.emission_incentive_share, &r.shares[0]);
            prop_assert_eq!(&dense.emission_dividend_share, &r.shares[1]);
            prop_assert_eq!(&dense.emission_combined_share, &r.shares[2]);
            prop_assert_eq!(&dense.server_emission, &r.amounts[0]);
            prop_assert_eq!(&dense.validator_emission, &r.amounts[1]);
            prop_assert_eq!(&dense.emission, &r.amounts[2]);
            prop_assert_eq!(dense_bonds(&dense, n), r.bonds);
        }
    }

    #[test]
    fn proportions_sum_to_one_or_zero(s in subnet(12)) {
        // Stakes above 2^63 saturate I64F64 (then shares may sum to 1 + 1 ulp); keep them real.
        let mut s = s;
        s.stake.iter_mut().for_each(|st| *st >>= 8);
        let out = epoch(&s.inputs(true), &s.params).unwrap();
        for (name, v) in [
            ("stake", &out.stake),
            ("active_stake", &out.active_stake),
            ("incentive", &out.incentive),
            ("dividends", &out.dividends),
            ("combined share", &out.emission_combined_share),
        ] {
            prop_assert!(is_unit_or_zero(v), "{} sums to {:?}", name, v);
        }
        // Miner and validator shares together make one whole (or 0 with no stake at all).
        let both: Vec<I32F32> = out
            .emission_incentive_share
            .iter()
            .chain(&out.emission_dividend_share)
            .copied()
            .collect();
        prop_assert!(is_unit_or_zero(&both));
        let total: u128 = out.emission.iter().map(|&e| u128::from(e)).sum();
        prop_assert!(total <= u128::from(s.params.rao_emission));
        for v in [&out.consensus, &out.validator_trust] {
            prop_assert!(v.iter().all(|x| *x >= I32F32::ZERO && *x <= I32F32::ONE));
        }
    }

    #[test]
    fn permuting_uids_permutes_outputs(
        s in subnet(9),
        seed in any::<u64>(),
    ) {
        // Top-k permits break ties of the normalised stake by UID order; the median does not
        // depend on order (every mass it compares is an exact fixed-point sum). So make the
        // stakes distinct and small enough (total < 2^28) that their I32F32 shares differ too.
        let mut s = s;
        for (i, st) in s.stake.iter_mut().enumerate() {
            *st = (*st % (1 << 20)) * 16 + i as u64 + 1;
        }
        let n = s.stake.len();
        // Fisher-Yates with a seeded LCG.
        let mut perm: Vec<usize> = (0..n).collect();
        let mut x = seed;
        for i in (1..n).rev() {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            perm.swap(i, (x >> 33) as usize % (i + 1));
        }
        // UID i becomes perm[i].
        let mut p = s.clone();
        for i in 0..n {
            p.stake[perm[i]] = s.stake[i];
            p.active[perm[i]] = s.active[i];
            p.permits_prev[perm[i]] = s.permits_prev[i];
            if let (Some(pr), Some(sr)) = (p.reset_cols.as_mut(), s.reset_cols.as_ref()) {
                pr[perm[i]] = sr[i];
            }
            for j in 0..n {
                p.weights[perm[i]][perm[j]] = s.weights[i][j];
                p.bonds[perm[i]][perm[j]] = s.bonds[i][j];
            }
        }
        p.params.owner_uid = s
            .params
            .owner_uid
            .map(|o| if usize::from(o) < n { perm[usize::from(o)] as u16 } else { o });
        let a = epoch(&s.inputs(true), &s.params).unwrap();
        let b = epoch(&p.inputs(true), &p.params).unwrap();
        let ab = dense_bonds(&a, n);
        let bb = dense_bonds(&b, n);
        for i in 0..n {
            let k = perm[i];
            prop_assert_eq!(a.stake[i], b.stake[k]);
            prop_assert_eq!(a.consensus[i], b.consensus[k]);
            prop_assert_eq!(a.validator_trust[i], b.validator_trust[k]);
            prop_assert_eq!(a.incentive[i], b.incentive[k]);
            prop_assert_eq!(a.dividends[i], b.dividends[k]);
            prop_assert_eq!(a.validator_permits[i], b.validator_permits[k]);
            prop_assert_eq!(a.emission[i], b.emission[k]);
            prop_assert_eq!(a.server_emission[i], b.server_emission[k]);
            prop_assert_eq!(a.validator_emission[i], b.validator_emission[k]);
            match (&ab[i], &bb[k]) {
                (Some(ra), Some(rb)) => {
                    for j in 0..n {
                        prop_assert_eq!(ra[j], rb[perm[j]]);
                    }
                }
                (None, None) => {}
                _ => prop_assert!(false, "bond row {} storage differs", i),
            }
        }
        prop_assert_eq!(a.emission_fallback, b.emission_fallback);
    }

    #[test]
    fn inconsistent_inputs_are_errors_not_panics(
        s in subnet(6),
        cut in 0_usize..6,
        which in 0_usize..4,
    ) {
        let mut inputs = s.inputs(which == 1);
        let n = s.stake.len();
        match which {
            0 => if let U16Matrix::Dense(rows) = &mut inputs.weights {
                if let Some(row) = rows.get_mut(cut % n.max(1)) { row.push(1); } else { rows.push(vec![]); }
            },
            1 => if let U16Matrix::Sparse(rows) = &mut inputs.bonds_prev {
                if let Some(row) = rows.get_mut(cut % n.max(1)) { row.push((u16::MAX, 1)); } else { rows.push(vec![]); }
            },
            2 => inputs.active.push(true),
            _ => inputs.last_update = Some(vec![0; n]),
        }
        prop_assert!(epoch(&inputs, &s.params).is_err());
    }
}

#[test]
fn degenerate_subnets_run() {
    let params = EpochParams {
        rao_emission: 1_000,
        ..EpochParams::default()
    };
    // n = 0.
    let out = epoch(&EpochInputs::empty(0), &params).unwrap();
    assert!(out.emission.is_empty());
    // All-zero stake: no permits, nothing emitted, fallback to the (zero) stake.
    let out = epoch(&EpochInputs::empty(3), &params).unwrap();
    assert_eq!(out.validator_permits, vec![false; 3]);
    assert_eq!(out.emission, vec![0; 3]);
    assert_eq!(out.emission_fallback.map(|f| f.as_str()), Some("stake"));
    // Stake but all-zero weights: everything to validators by active stake.
    let inputs = EpochInputs {
        stake: vec![1, 3, 0],
        validator_permits_prev: vec![true, true, false],
        ..EpochInputs::empty(3)
    };
    let out = epoch(&inputs, &params).unwrap();
    assert_eq!(out.validator_emission, vec![250, 750, 0]);
    assert_eq!(out.server_emission, vec![0; 3]);
    assert_eq!(
        out.emission_fallback.map(|f| f.as_str()),
        Some("active_stake")
    );
    // n = 1, owner keeps its self-weight: it is its own miner and validator.
    let inputs = EpochInputs {
        weights: U16Matrix::Dense(vec![vec![65535]]),
        stake: vec![10],
        ..EpochInputs::empty(1)
    };
    let owner = EpochParams {
        owner_uid: Some(0),
        ..params
    };
    let out = epoch(&inputs, &owner).unwrap();
    assert_eq!(out.server_emission, vec![500]);
    assert_eq!(out.validator_emission, vec![500]);
    // Without the owner, the self-weight is masked and the permit-less UID gets the fallback.
    let out = epoch(&inputs, &params).unwrap();
    assert_eq!(out.server_emission, vec![0]);
    assert_eq!(out.validator_emission, vec![1000]);
    assert_eq!(out.emission_fallback.map(|f| f.as_str()), Some("stake"));
}

#[test]
fn masks_outdated_and_uncommitted_weights() {
    // Validator 0 weights UIDs 1 and 2; UID 2 re-registered after 0's last update.
    let base = EpochInputs {
        weights: U16Matrix::Sparse(vec![vec![(1, 65535), (2, 65535)], vec![], vec![]]),
        stake: vec![10, 0, 0],
        validator_permits_prev: vec![true, false, false],
        last_update: Some(vec![100, 0, 0]),
        block_at_registration: Some(vec![0, 50, 100]),
        ..EpochInputs::empty(3)
    };
    let params = EpochParams::default();
    let out = epoch(&base, &params).unwrap();
    assert_eq!(out.incentive_u16(), vec![0, 65535, 0]);
    // Commit-reveal: a commit at block 40 predates UID 1's registration at 50 as well.
    let committed = EpochInputs {
        last_update: None,
        weight_commit_blocks: Some(vec![Some(40), None, None]),
        ..base.clone()
    };
    let out = epoch(&committed, &params).unwrap();
    assert_eq!(out.incentive_u16(), vec![0, 0, 0]);
    // Without block_at_registration the masks cannot apply: a typed error.
    let missing = EpochInputs {
        block_at_registration: None,
        ..base
    };
    assert!(epoch(&missing, &params).is_err());
}

#[test]
fn sparse_drop_quirk_drops_absent_bond_entries() {
    // Yuma3 + liquid alpha: validator 0 held a bond on miner 2 but no longer weights it.
    let inputs = EpochInputs {
        weights: U16Matrix::Sparse(vec![vec![(1, 65535)], vec![], vec![]]),
        bonds_prev: U16Matrix::Sparse(vec![vec![(1, 30000), (2, 30000)], vec![], vec![]]),
        stake: vec![10, 0, 0],
        validator_permits_prev: vec![true, false, false],
        ..EpochInputs::empty(3)
    };
    let spec = EpochParams {
        yuma3_enabled: true,
        liquid_alpha_enabled: true,
        ..EpochParams::default()
    };
    let decayed = epoch(&inputs, &spec).unwrap();
    let dropped = epoch(
        &inputs,
        &EpochParams {
            yuma3_sparse_drop: true,
            ..spec
        },
    )
    .unwrap();
    let entries = |o: &EpochOutput| match &o.bonds[0] {
        BondRow::Store(e) => e.iter().map(|(j, _)| *j).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(entries(&decayed), vec![1, 2]);
    assert_eq!(entries(&dropped), vec![1]);
    assert!(decayed.liquid_alpha_used);
}
