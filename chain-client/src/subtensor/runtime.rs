//! [`Runtime`]: what the connected subtensor runtime offers, read from its metadata, and the
//! check that turns a call it lacks into [`ChainError::Unsupported`].

use std::collections::BTreeSet;

use subxt::Metadata;
use subxt::ext::scale_value::Composite;

use super::snapshot::Snapshot;
use crate::error::ChainError;

/// Subtensor's pallet.
pub(crate) const SUBTENSOR: &str = "SubtensorModule";
/// The commitments pallet (a hotkey's published data per subnet).
pub(crate) const COMMITMENTS: &str = "Commitments";

/// How the runtime stores stake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StakeStorage {
    /// One TAO stake per hotkey: `TotalHotkeyStake(hotkey)`, `Stake(hotkey, coldkey)` (runtimes
    /// before dynamic TAO, e.g. the 2023 test runtime).
    Tao,
    /// Per-subnet alpha: `TotalHotkeyAlpha(hotkey, netuid)` (dynamic TAO, 2025 on).
    Alpha,
    /// Neither (not a subtensor runtime this crate knows).
    Unknown,
}

/// What the connected runtime supports. Everything is looked up by name in the metadata of the
/// block a call runs at; this summary is for callers who want to know up front.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Runtime {
    /// The runtime's spec version (0 when built from bare metadata).
    pub spec_version: u32,
    /// How stake is stored.
    pub stake: StakeStorage,
    /// `Commitments.set_commitment` exists: the certificate fingerprint and the AINFT id are
    /// published on chain.
    pub commitments: bool,
    /// `commit_weights` and `reveal_weights` exist.
    pub commit_reveal: bool,
    /// `add_stake` takes a `netuid` (dynamic TAO): staking through the trait, which names no
    /// subnet, is unsupported; use [`crate::SubtensorChain::add_stake_on`].
    pub stake_per_subnet: bool,
}

impl Runtime {
    /// Reads the summary from `metadata`.
    pub fn from_metadata(metadata: &Metadata) -> Self {
        let storage = |pallet: &str, entry: &str| {
            metadata
                .pallet_by_name(pallet)
                .and_then(|p| p.storage())
                .and_then(|s| s.entry_by_name(entry))
                .is_some()
        };
        let stake = if storage(SUBTENSOR, "TotalHotkeyAlpha") {
            StakeStorage::Alpha
        } else if storage(SUBTENSOR, "TotalHotkeyStake") {
            StakeStorage::Tao
        } else {
            StakeStorage::Unknown
        };
        let stake_per_subnet = call_fields(metadata, SUBTENSOR, "add_stake")
            .is_some_and(|fields| fields.contains("netuid"));
        Self {
            spec_version: 0,
            stake,
            commitments: has_call(metadata, COMMITMENTS, "set_commitment")
                && storage(COMMITMENTS, "CommitmentOf"),
            commit_reveal: has_call(metadata, SUBTENSOR, "commit_weights")
                && has_call(metadata, SUBTENSOR, "reveal_weights"),
            stake_per_subnet,
        }
    }

    pub(crate) fn of(snap: &Snapshot) -> Self {
        Self {
            spec_version: snap.at.spec_version(),
            ..Self::from_metadata(snap.at.metadata_ref())
        }
    }
}

/// Whether `pallet.call` exists in `metadata`.
pub fn has_call(metadata: &Metadata, pallet: &str, call: &str) -> bool {
    metadata
        .pallet_by_name(pallet)
        .and_then(|p| p.call_variant_by_name(call))
        .is_some()
}

/// The argument names of `pallet.call`, if it exists.
fn call_fields(metadata: &Metadata, pallet: &str, call: &str) -> Option<BTreeSet<String>> {
    let variant = metadata
        .pallet_by_name(pallet)?
        .call_variant_by_name(call)?;
    Some(
        variant
            .fields
            .iter()
            .filter_map(|f| f.name.clone())
            .collect(),
    )
}

/// Checks that `metadata` has `pallet.call` with exactly the argument names of `args` (named
/// arguments are how this backend builds every call).
///
/// # Errors
/// [`ChainError::Unsupported`] naming the call, and the runtime's arguments when only they
/// differ.
pub fn check_call(
    metadata: &Metadata,
    pallet: &str,
    call: &str,
    args: &Composite<()>,
) -> Result<(), ChainError> {
    let Some(expected) = call_fields(metadata, pallet, call) else {
        return Err(ChainError::Unsupported {
            call: format!("{pallet}.{call}"),
        });
    };
    let given: BTreeSet<String> = match args {
        Composite::Named(fields) => fields.iter().map(|(n, _)| n.clone()).collect(),
        Composite::Unnamed(_) => return Ok(()),
    };
    if given == expected {
        Ok(())
    } else {
        Err(ChainError::Unsupported {
            call: format!(
                "{pallet}.{call}({}) (this runtime's arguments: {})",
                given.into_iter().collect::<Vec<_>>().join(", "),
                expected.into_iter().collect::<Vec<_>>().join(", ")
            ),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use subxt::dynamic::Value;

    use super::*;

    /// Metadata of a 2025 devnet runtime (shared/subtensor/devnet.scale), kept with the tests.
    pub(crate) fn devnet() -> Metadata {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/subtensor/devnet.scale"
        ))
        .unwrap();
        Metadata::decode_from(&bytes).unwrap()
    }

    #[test]
    fn devnet_metadata_is_a_dynamic_tao_runtime_with_commitments() {
        let md = devnet();
        let rt = Runtime::from_metadata(&md);
        assert_eq!(rt.stake, StakeStorage::Alpha);
        assert!(rt.commitments);
        assert!(rt.commit_reveal);
        assert!(rt.stake_per_subnet);
        let sub = md.pallet_by_name(SUBTENSOR).unwrap();
        assert_eq!(sub.call_index(), 7);
        assert_eq!(sub.call_variant_by_name("set_weights").unwrap().index, 0);
    }

    #[test]
    fn calls_are_checked_against_the_metadata() {
        let md = devnet();
        let set_weights = Composite::named([
            ("netuid", Value::u128(1)),
            ("dests", Value::unnamed_composite([Value::u128(0)])),
            ("weights", Value::unnamed_composite([Value::u128(65535)])),
            ("version_key", Value::u128(0)),
        ]);
        check_call(&md, SUBTENSOR, "set_weights", &set_weights).unwrap();

        let missing = check_call(&md, SUBTENSOR, "set_weights_v9", &set_weights).unwrap_err();
        assert!(
            matches!(&missing, ChainError::Unsupported { call } if call == "SubtensorModule.set_weights_v9"),
            "{missing:?}"
        );
        let no_pallet = check_call(&md, "Ainft", "register", &Composite::Named(vec![]));
        assert!(matches!(no_pallet, Err(ChainError::Unsupported { .. })));

        // The 2023 shape of add_stake has no netuid; today's runtime wants one.
        let old_add_stake = Composite::named([
            ("hotkey", Value::from_bytes([0u8; 32])),
            ("amount_staked", Value::u128(1)),
        ]);
        let err = check_call(&md, SUBTENSOR, "add_stake", &old_add_stake).unwrap_err();
        let ChainError::Unsupported { call } = err else {
            panic!("expected unsupported")
        };
        assert!(call.contains("netuid"), "{call}");
    }
}
