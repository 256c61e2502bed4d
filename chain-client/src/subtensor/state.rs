//! Reading subnets, metagraphs, weights and bonds from subtensor storage.

use std::collections::HashMap;

use subnet_protocol::chain::{Hyperparameters, Metagraph, NeuronInfo, SubnetInfo};
use subnet_protocol::ids::{BlockNumber, NetUid, Rao, Uid};
use subnet_protocol::keys::PublicKey;
use subxt::dynamic::{At, Value};
use subxt::ext::scale_decode::DecodeAsType;
use subxt::ext::scale_value::{Composite, ValueDef};
use subxt::utils::AccountId32;

use super::axon::{Publication, StoredAxon};
use super::runtime::{COMMITMENTS, Runtime, SUBTENSOR, StakeStorage};
use super::signer::public_key;
use super::snapshot::Snapshot;
use crate::chain::SparseRows;
use crate::error::{ChainError, Missing};

/// Subtensor's `AxonInfo`, the fields read.
#[derive(Debug, DecodeAsType)]
#[decode_as_type(crate_path = "subxt::ext::scale_decode")]
struct AxonRaw {
    version: u32,
    ip: u128,
    port: u16,
    ip_type: u8,
}

/// Whether `netuid` exists at `snap`.
async fn exists(snap: &Snapshot, netuid: NetUid) -> Result<bool, ChainError> {
    Ok(snap
        .fetch::<_, bool>(SUBTENSOR, "NetworksAdded", (netuid.get(),))
        .await?
        .unwrap_or(false))
}

/// [`ChainError::NotFound`] unless `netuid` exists.
async fn require(snap: &Snapshot, netuid: NetUid) -> Result<(), ChainError> {
    if exists(snap, netuid).await? {
        Ok(())
    } else {
        Err(ChainError::NotFound(Missing::Subnet(netuid)))
    }
}

/// Every existing netuid.
pub(crate) async fn netuids(snap: &Snapshot) -> Result<Vec<NetUid>, ChainError> {
    let mut all: Vec<NetUid> = snap
        .iter::<(u16,), (), u16, bool>(SUBTENSOR, "NetworksAdded", (), 0)
        .await?
        .into_iter()
        .filter(|(_, added)| *added)
        .map(|(n, _)| NetUid(n))
        .collect();
    all.sort();
    Ok(all)
}

/// Per-subnet values keyed by netuid, read in one request: `entry → Value`, for the entries
/// the runtime has (the others are absent from the map).
async fn per_subnet(
    snap: &Snapshot,
    netuid: NetUid,
    entries: &[&'static str],
) -> Result<HashMap<&'static str, Value>, ChainError> {
    let present: Vec<(&'static str, Vec<u8>)> = entries
        .iter()
        .filter(|e| snap.has(SUBTENSOR, e))
        .map(|e| Ok((*e, snap.key(SUBTENSOR, e, (netuid.get(),))?)))
        .collect::<Result<_, ChainError>>()?;
    let keys: Vec<Vec<u8>> = present.iter().map(|(_, k)| k.clone()).collect();
    let found = snap.query(&keys).await?;
    let mut out = HashMap::new();
    for (entry, key) in present {
        if let Some(v) = snap.decode::<Value>(SUBTENSOR, entry, found.get(&key))? {
            out.insert(entry, v);
        }
    }
    Ok(out)
}

/// A number (or bool as 0/1) from a decoded value.
fn number(v: &Value) -> Option<u128> {
    match &v.value {
        ValueDef::Primitive(p) => p.as_u128().or_else(|| p.as_bool().map(u128::from)),
        // Newtypes such as `NetUid(u16)` or `AlphaCurrency(u64)`.
        ValueDef::Composite(c) if c.values().len() == 1 => c.values().next().and_then(number),
        _ => None,
    }
}

/// The bytes of a `[u8; N]`-like value.
pub(crate) fn bytes(v: &Value) -> Option<Vec<u8>> {
    match &v.value {
        ValueDef::Composite(c) => c
            .values()
            .map(|b| number(b).and_then(|n| u8::try_from(n).ok()))
            .collect(),
        _ => None,
    }
}

const HYPERPARAMETERS: &[&str] = &[
    "Tempo",
    "Kappa",
    "BondsMovingAverage",
    "ActivityCutoff",
    "ImmunityPeriod",
    "MaxAllowedUids",
    "MaxAllowedValidators",
    "MinAllowedWeights",
    "MaxWeightsLimit",
    "WeightsSetRateLimit",
    "WeightsVersionKey",
    "CommitRevealWeightsEnabled",
    "RevealPeriodEpochs",
    "LiquidAlphaOn",
    "Burn",
    "EmissionValues",
    "SubnetworkN",
    "PendingEmission",
    "LastMechansimStepBlock",
    "NetworkRegisteredAt",
];

/// One subnet's owner, rules and state. Rules the runtime does not store keep the defaults of
/// [`Hyperparameters::default`].
pub(crate) async fn subnet(snap: &Snapshot, netuid: NetUid) -> Result<SubnetInfo, ChainError> {
    require(snap, netuid).await?;
    let v = per_subnet(snap, netuid, HYPERPARAMETERS).await?;
    let get = |entry: &str| v.get(entry).and_then(number);
    let d = Hyperparameters::default();
    let u16_or = |entry: &str, default: u16| {
        get(entry)
            .and_then(|n| u16::try_from(n).ok())
            .unwrap_or(default)
    };
    let u64_or = |entry: &str, default: u64| {
        get(entry)
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(default)
    };
    let hyperparameters = Hyperparameters {
        tempo: u16_or("Tempo", d.tempo),
        kappa: u16_or("Kappa", d.kappa),
        bonds_moving_avg: u64_or("BondsMovingAverage", d.bonds_moving_avg),
        activity_cutoff: u64_or("ActivityCutoff", d.activity_cutoff),
        immunity_period: u64_or("ImmunityPeriod", d.immunity_period),
        max_allowed_uids: u16_or("MaxAllowedUids", d.max_allowed_uids),
        max_allowed_validators: u16_or("MaxAllowedValidators", d.max_allowed_validators),
        min_allowed_weights: u16_or("MinAllowedWeights", d.min_allowed_weights),
        max_weight_limit: u16_or("MaxWeightsLimit", d.max_weight_limit),
        weights_rate_limit: u64_or("WeightsSetRateLimit", d.weights_rate_limit),
        weights_version: u64_or("WeightsVersionKey", d.weights_version),
        commit_reveal_weights_enabled: get("CommitRevealWeightsEnabled")
            .map_or(d.commit_reveal_weights_enabled, |n| n != 0),
        commit_reveal_period: u64_or("RevealPeriodEpochs", d.commit_reveal_period),
        liquid_alpha_enabled: get("LiquidAlphaOn").map_or(d.liquid_alpha_enabled, |n| n != 0),
        burn: Rao(u64_or("Burn", d.burn.get())),
        emission_per_block: Rao(u64_or("EmissionValues", d.emission_per_block.get())),
        ..d
    };
    let owner = if snap.has(SUBTENSOR, "SubnetOwner") {
        snap.fetch::<_, AccountId32>(SUBTENSOR, "SubnetOwner", (netuid.get(),))
            .await?
            .map(|a| public_key(&a))
    } else {
        None
    };
    let last_epoch = u64_or("LastMechansimStepBlock", 0);
    Ok(SubnetInfo {
        netuid,
        owner: owner.unwrap_or(PublicKey::from_bytes([0; 32])),
        hyperparameters,
        n: u16_or("SubnetworkN", 0),
        pending_emission: Rao(u64_or("PendingEmission", 0)),
        last_epoch_block: (last_epoch > 0).then_some(BlockNumber(last_epoch)),
        created_at: BlockNumber(u64_or("NetworkRegisteredAt", 0)),
    })
}

/// A per-UID vector entry (`Consensus`, `Emission`…), empty when the runtime lacks it.
async fn vector<V: DecodeAsType>(
    snap: &Snapshot,
    entry: &str,
    netuid: NetUid,
) -> Result<Vec<V>, ChainError> {
    Ok(snap
        .fetch_opt::<_, Vec<V>>(SUBTENSOR, entry, (netuid.get(),))
        .await?
        .unwrap_or_default())
}

/// What each hotkey published in its commitment on `netuid` (engine-format ones only).
pub(crate) async fn publications(
    snap: &Snapshot,
    netuid: NetUid,
) -> Result<HashMap<[u8; 32], Publication>, ChainError> {
    if !Runtime::from_metadata(snap.at.metadata_ref()).commitments {
        return Ok(HashMap::new());
    }
    let all = snap
        .iter::<(u16, AccountId32), (u16,), AccountId32, Value>(
            COMMITMENTS,
            "CommitmentOf",
            (netuid.get(),),
            1,
        )
        .await?;
    Ok(all
        .into_iter()
        .filter_map(|(hotkey, registration)| Some((hotkey.0, publication_of(&registration)?)))
        .collect())
}

/// The engine's [`Publication`] among a commitment's `Raw` fields, if any.
pub(crate) fn publication_of(registration: &Value) -> Option<Publication> {
    first_publication(registration.at("info")?.at("fields")?)
}

/// Searches `v` (the fields list, possibly wrapped in `BoundedVec` newtypes) for a `Raw*`
/// variant that decodes as a [`Publication`].
fn first_publication(v: &Value) -> Option<Publication> {
    match &v.value {
        ValueDef::Variant(var) if var.name.starts_with("Raw") => {
            Publication::decode(&bytes(var.values.values().next()?)?)
        }
        ValueDef::Composite(c) => c.values().find_map(first_publication),
        _ => None,
    }
}

/// The neurons of `netuid` at `snap`.
pub(crate) async fn metagraph(snap: &Snapshot, netuid: NetUid) -> Result<Metagraph, ChainError> {
    require(snap, netuid).await?;
    let n = netuid.get();
    let mut keys = snap
        .iter::<(u16, u16), (u16,), u16, AccountId32>(SUBTENSOR, "Keys", (n,), 1)
        .await?;
    keys.sort_by_key(|(uid, _)| *uid);
    let hotkeys: Vec<AccountId32> = keys.iter().map(|(_, h)| *h).collect();

    let consensus: Vec<u16> = vector(snap, "Consensus", netuid).await?;
    let incentive: Vec<u16> = vector(snap, "Incentive", netuid).await?;
    let dividends: Vec<u16> = vector(snap, "Dividends", netuid).await?;
    let trust: Vec<u16> = vector(snap, "ValidatorTrust", netuid).await?;
    let emission: Vec<u64> = vector(snap, "Emission", netuid).await?;
    let last_update: Vec<u64> = vector(snap, "LastUpdate", netuid).await?;
    let permit: Vec<bool> = vector(snap, "ValidatorPermit", netuid).await?;
    let registered: HashMap<u16, u64> = snap
        .iter::<(u16, u16), (u16,), u16, u64>(SUBTENSOR, "BlockAtRegistration", (n,), 1)
        .await?
        .into_iter()
        .collect();
    let axons: HashMap<[u8; 32], AxonRaw> = snap
        .iter::<(u16, AccountId32), (u16,), AccountId32, AxonRaw>(SUBTENSOR, "Axons", (n,), 1)
        .await?
        .into_iter()
        .map(|(hotkey, axon)| (hotkey.0, axon))
        .collect();
    let published = publications(snap, netuid).await?;

    let owner_keys = hotkeys
        .iter()
        .map(|h| snap.key(SUBTENSOR, "Owner", (*h,)))
        .collect::<Result<Vec<_>, _>>()?;
    let owners: Vec<Option<AccountId32>> = snap.fetch_many(SUBTENSOR, "Owner", &owner_keys).await?;
    let stakes: Vec<Option<u64>> = match Runtime::from_metadata(snap.at.metadata_ref()).stake {
        StakeStorage::Tao => {
            let keys = hotkeys
                .iter()
                .map(|h| snap.key(SUBTENSOR, "TotalHotkeyStake", (*h,)))
                .collect::<Result<Vec<_>, _>>()?;
            snap.fetch_many(SUBTENSOR, "TotalHotkeyStake", &keys)
                .await?
        }
        StakeStorage::Alpha => {
            let keys = hotkeys
                .iter()
                .map(|h| snap.key(SUBTENSOR, "TotalHotkeyAlpha", (*h, n)))
                .collect::<Result<Vec<_>, _>>()?;
            snap.fetch_many(SUBTENSOR, "TotalHotkeyAlpha", &keys)
                .await?
        }
        StakeStorage::Unknown => vec![None; hotkeys.len()],
    };
    let last_epoch = snap
        .fetch_opt::<_, u64>(SUBTENSOR, "LastMechansimStepBlock", (n,))
        .await?
        .unwrap_or(0);

    let mut neurons = Vec::with_capacity(keys.len());
    for (i, (uid, hotkey)) in keys.iter().enumerate() {
        let at = usize::from(*uid);
        let publication = published.get(&hotkey.0).copied().unwrap_or_default();
        let axon = axons.get(&hotkey.0).and_then(|a| {
            StoredAxon {
                ip: a.ip,
                ip_type: a.ip_type,
                port: a.port,
                version: a.version,
            }
            .to_axon(publication.cert_fingerprint)
        });
        let registered_at = BlockNumber(registered.get(uid).copied().unwrap_or(0));
        let emission = Rao(emission.get(at).copied().unwrap_or(0));
        neurons.push(NeuronInfo {
            uid: Uid(*uid),
            hotkey: public_key(hotkey),
            coldkey: owners
                .get(i)
                .cloned()
                .flatten()
                .map_or(PublicKey::from_bytes([0; 32]), |c| public_key(&c)),
            ainft: publication.ainft,
            axon,
            stake: Rao(stakes.get(i).copied().flatten().unwrap_or(0)),
            validator_permit: permit.get(at).copied().unwrap_or(false),
            last_update: last_update
                .get(at)
                .copied()
                .map_or(registered_at, BlockNumber),
            block_at_registration: registered_at,
            consensus: consensus.get(at).copied().unwrap_or(0),
            incentive: incentive.get(at).copied().unwrap_or(0),
            dividends: dividends.get(at).copied().unwrap_or(0),
            validator_trust: trust.get(at).copied().unwrap_or(0),
            emission,
            // Subtensor keeps no per-UID lifetime total; the last epoch's is the floor.
            total_emission: emission,
        });
    }
    Ok(Metagraph {
        netuid,
        block: BlockNumber(snap.number()),
        last_epoch_block: (last_epoch > 0).then_some(BlockNumber(last_epoch)),
        neurons,
    })
}

/// `Weights` or `Bonds` of `netuid` as sparse rows by UID.
pub(crate) async fn rows(
    snap: &Snapshot,
    netuid: NetUid,
    entry: &str,
) -> Result<SparseRows, ChainError> {
    require(snap, netuid).await?;
    let n = snap
        .fetch::<_, u16>(SUBTENSOR, "SubnetworkN", (netuid.get(),))
        .await?
        .unwrap_or(0);
    let mut out: SparseRows = vec![Vec::new(); usize::from(n)];
    let stored = snap
        .iter::<(u16, u16), (u16,), u16, Vec<(u16, u16)>>(SUBTENSOR, entry, (netuid.get(),), 1)
        .await?;
    for (uid, row) in stored {
        if let Some(slot) = out.get_mut(usize::from(uid)) {
            *slot = row.into_iter().map(|(t, w)| (Uid(t), w)).collect();
        }
    }
    Ok(out)
}

/// A commitment value as the pallet's `CommitmentInfo { fields: [Raw69(publication)] }`.
pub(crate) fn commitment_info(publication: &Publication) -> Value {
    let raw = publication.encode();
    Value::named_composite([(
        "fields",
        Value::unnamed_composite([Value::unnamed_variant(
            format!("Raw{}", raw.len()),
            [Value::from_bytes(raw)],
        )]),
    )])
}

/// Named call arguments.
pub(crate) fn args<const N: usize>(fields: [(&str, Value); N]) -> Composite<()> {
    Composite::named(fields.map(|(n, v)| (n.to_owned(), v)))
}

#[cfg(test)]
mod tests {
    use subnet_protocol::ainft::AinftId;
    use subnet_protocol::fingerprint::CertFingerprint;
    use subxt::Metadata;
    use subxt::ext::scale_encode::EncodeAsType;

    use super::*;
    use crate::subtensor::runtime::tests::devnet;

    fn value_ty(md: &Metadata, pallet: &str, entry: &str) -> u32 {
        md.pallet_by_name(pallet)
            .unwrap()
            .storage()
            .unwrap()
            .entry_by_name(entry)
            .unwrap()
            .value_ty()
    }

    #[test]
    fn axons_decode_from_the_runtime_type_ignoring_placeholders() {
        let md = devnet();
        let ty = value_ty(&md, SUBTENSOR, "Axons");
        let stored = Value::named_composite([
            ("block", Value::u128(7)),
            ("version", Value::u128(2)),
            ("ip", Value::u128(0x7f00_0001)),
            ("port", Value::u128(8091)),
            ("ip_type", Value::u128(4)),
            ("protocol", Value::u128(1)),
            ("placeholder1", Value::u128(0)),
            ("placeholder2", Value::u128(0)),
        ]);
        let bytes = stored.encode_as_type(ty, md.types()).unwrap();
        let axon = AxonRaw::decode_as_type(&mut bytes.as_slice(), ty, md.types()).unwrap();
        assert_eq!(
            (axon.ip, axon.port, axon.ip_type, axon.version),
            (0x7f00_0001, 8091, 4, 2)
        );
        // Bytes of another shape are an error, not a panic.
        assert!(AxonRaw::decode_as_type(&mut &bytes[..5], ty, md.types()).is_err());
    }

    #[test]
    fn commitments_round_trip_through_the_runtime_type() {
        let md = devnet();
        let ty = value_ty(&md, COMMITMENTS, "CommitmentOf");
        let publication = Publication {
            cert_fingerprint: Some(CertFingerprint([5; 32])),
            ainft: Some(AinftId::from_bytes([6; 32])),
        };
        let info = commitment_info(&publication);
        let registration = Value::named_composite([
            ("deposit", Value::u128(0)),
            ("block", Value::u128(12)),
            ("info", info),
        ]);
        let bytes = registration.encode_as_type(ty, md.types()).unwrap();
        let back = Value::decode_as_type(&mut bytes.as_slice(), ty, md.types()).unwrap();
        assert_eq!(publication_of(&back), Some(publication));

        // Someone else's commitment (a plain text field) is not ours.
        let foreign = Value::named_composite([
            ("deposit", Value::u128(0)),
            ("block", Value::u128(12)),
            (
                "info",
                Value::named_composite([(
                    "fields",
                    Value::unnamed_composite([Value::unnamed_variant(
                        "Raw5",
                        [Value::from_bytes(b"hello")],
                    )]),
                )]),
            ),
        ]);
        let bytes = foreign.encode_as_type(ty, md.types()).unwrap();
        let back = Value::decode_as_type(&mut bytes.as_slice(), ty, md.types()).unwrap();
        assert_eq!(publication_of(&back), None);
    }

    #[test]
    fn numbers_and_bytes_come_out_of_values() {
        assert_eq!(number(&Value::u128(42)), Some(42));
        assert_eq!(number(&Value::bool(true)), Some(1));
        assert_eq!(number(&Value::unnamed_composite([Value::u128(9)])), Some(9));
        assert_eq!(number(&Value::string("x")), None);
        assert_eq!(
            bytes(&Value::from_bytes([1, 2, 255])),
            Some(vec![1, 2, 255])
        );
        assert_eq!(bytes(&Value::unnamed_composite([Value::u128(256)])), None);
    }
}
