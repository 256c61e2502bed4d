//! Registration into a full subnet: which UID is replaced, immunity, ties, and what a
//! replacement resets.

use subnet_protocol::chain::{Call, Hyperparameters, TxError};
use subnet_protocol::ids::{BlockNumber, Rao, Uid};

use crate::harness::{Chain, NET, genesis, hp, key, pk};

fn small(immunity_period: u64, max_allowed_validators: u16) -> Hyperparameters {
    Hyperparameters {
        max_allowed_uids: 3,
        max_allowed_validators,
        immunity_period,
        ..hp()
    }
}

#[test]
fn full_subnet_respects_immunity_and_ties_go_to_the_newest() {
    let mut c = Chain::new(&genesis(small(4, 1)));
    let bob = key("bob");
    assert_eq!(c.register(&bob, "a", None), Uid(0)); // block 1
    assert_eq!(c.register(&bob, "b", None), Uid(1)); // block 2
    assert_eq!(c.register(&bob, "c", None), Uid(2)); // block 3
    // Block 4: every UID is within 4 blocks of its registration.
    c.err(
        &bob,
        Call::Register {
            netuid: NET,
            hotkey: pk("d"),
            ainft: None,
        },
        TxError::SubnetFull { netuid: NET },
    );
    // Block 5: only `a` (registered at 1) has left immunity.
    assert_eq!(c.register(&bob, "d", None), Uid(0));
    assert_eq!(c.ledger.uid_of(NET, &pk("a")), None);
    c.advance_to(6);
    // Block 7: `b` (2) and `c` (3) are out of immunity, `d` (5) is not; all earned nothing, so
    // the newest of the two, `c`, goes.
    assert_eq!(c.register(&bob, "e", None), Uid(2));
    let mg = c.ledger.metagraph(NET).unwrap();
    let hotkeys: Vec<_> = mg.neurons.iter().map(|n| n.hotkey).collect();
    assert_eq!(hotkeys, vec![pk("d"), pk("b"), pk("e")]);
    assert_eq!(mg.neurons[2].block_at_registration, BlockNumber(7));
    assert_eq!(c.ledger.subnet(NET).unwrap().n, 3);
    // Block 11: nobody is immune any more and nobody earned; `e` (7) is the newest. A replaced
    // hotkey may register again (it is still owned by bob).
    c.advance_to(10);
    assert_eq!(c.register(&bob, "a", None), Uid(2));
}

#[test]
fn full_subnet_replaces_the_lowest_emission_and_resets_the_uid() {
    let mut c = Chain::new(&genesis(small(0, 2)));
    let (bob, charlie) = (key("bob"), key("charlie"));
    c.register(&bob, "v", None); // UID 0: main validator
    c.register(&charlie, "w", None); // UID 1: small validator, registered before UID 2
    c.register(&charlie, "m", None); // UID 2: miner
    c.stake(&bob, "v", 1_000_000);
    c.stake(&charlie, "w", 1_000);
    c.through_epoch();
    let mg = c.ledger.metagraph(NET).unwrap();
    assert!(mg.neurons[0].validator_permit && mg.neurons[1].validator_permit);
    c.set_weights("v", &[1, 2], &[1, 100]);
    c.set_weights("w", &[2], &[1]);
    c.through_epoch();
    let mg = c.ledger.metagraph(NET).unwrap();
    let emissions: Vec<Rao> = mg.neurons.iter().map(|n| n.emission).collect();
    assert!(
        emissions[1] < emissions[0] && emissions[1] < emissions[2] && !emissions[1].is_zero(),
        "{emissions:?}"
    );
    assert!(!c.ledger.weights(NET).unwrap()[1].is_empty());
    let bonds = c.ledger.bonds(NET).unwrap();
    assert!(
        bonds[0].iter().any(|&(j, b)| j == Uid(1) && b > 0),
        "{bonds:?}"
    );
    let w_stake = c.ledger.total_stake(&pk("w"));

    // UID 1 earned least and none is immune: it goes, although UID 2 is newer.
    assert_eq!(c.register(&key("dave"), "new", None), Uid(1));
    let at = c.height();
    let mg = c.ledger.metagraph(NET).unwrap();
    let fresh = &mg.neurons[1];
    assert_eq!((fresh.hotkey, fresh.coldkey), (pk("new"), pk("dave")));
    assert_eq!((fresh.block_at_registration, fresh.last_update), (at, at));
    assert_eq!((fresh.emission, fresh.total_emission), (Rao(0), Rao(0)));
    assert!(!fresh.validator_permit);
    assert!(c.ledger.weights(NET).unwrap()[1].is_empty());
    assert!(c.ledger.bonds(NET).unwrap()[1].is_empty());
    // The old hotkey keeps its stake and owner but no UID.
    assert_eq!(c.ledger.uid_of(NET, &pk("w")), None);
    assert_eq!(c.ledger.total_stake(&pk("w")), w_stake);
    assert_eq!(c.ledger.hotkey_owner(&pk("w")), Some(charlie.public()));

    // The next epoch drops the bonds held on the new holder of UID 1 (YUMA_SPEC §6) and masks
    // the weights set on it before it registered.
    c.through_epoch();
    let bonds = c.ledger.bonds(NET).unwrap();
    assert!(
        bonds[0].iter().all(|&(j, b)| j != Uid(1) || b == 0),
        "{bonds:?}"
    );
    assert_eq!(c.ledger.metagraph(NET).unwrap().neurons[1].incentive, 0);
}
