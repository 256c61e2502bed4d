//! Neurons: `Register` (with pruning of a full subnet), `SetNeuronAinft`, `ServeAxon`.

use std::cmp::Reverse;

use subnet_protocol::ainft::AinftId;
use subnet_protocol::chain::{AxonInfo, TxError};
use subnet_protocol::ids::{BlockNumber, NetUid, Uid};
use subnet_protocol::keys::PublicKey;

use super::{Created, burn, can_pay, registered, subnet};
use crate::state::{NeuronRecord, State};

/// `Register`: the signer (a coldkey) burns the subnet's `burn` and puts `hotkey` on a UID.
///
/// The hotkey becomes owned by the signer on its first registration anywhere; a hotkey owned by
/// another coldkey is refused. While the subnet has fewer than `max_allowed_uids` UIDs the next
/// UID is taken. When it is full, the UID to replace is chosen by [`prune_candidate`]. A
/// replaced UID starts afresh: its weights row, bond row and the old hotkey's pending commits
/// on this subnet are deleted, its epoch outputs and emissions are zero, `last_update` and
/// `block_at_registration` are this block (so the next epoch drops the bonds others hold on it,
/// YUMA_SPEC §6). The old hotkey keeps its stake and its owner.
///
/// Errors, in order: [`TxError::UnknownSubnet`], [`TxError::HotkeyOwnedByOther`],
/// [`TxError::AlreadyRegistered`], [`TxError::UnknownAinft`], [`TxError::InsufficientBalance`],
/// [`TxError::SubnetFull`].
pub(super) fn register(
    state: &mut State,
    signer: &PublicKey,
    netuid: NetUid,
    hotkey: &PublicKey,
    ainft: Option<AinftId>,
    at: BlockNumber,
) -> Result<Option<Created>, TxError> {
    let record = subnet(state, netuid)?;
    let (n, hp) = (record.n, &record.hyperparameters);
    if state
        .hotkey_owners
        .get(hotkey)
        .is_some_and(|owner| owner != signer)
    {
        return Err(TxError::HotkeyOwnedByOther { hotkey: *hotkey });
    }
    if state.uid_of(netuid, hotkey).is_some() {
        return Err(TxError::AlreadyRegistered {
            hotkey: *hotkey,
            netuid,
        });
    }
    if let Some(id) = ainft
        && !state.ainfts.contains(&id)
    {
        return Err(TxError::UnknownAinft { ainft: id });
    }
    let cost = hp.burn;
    can_pay(state, signer, cost)?;
    let uid = if n < hp.max_allowed_uids {
        Uid(n)
    } else {
        prune_candidate(state, netuid, hp.immunity_period, at)
            .ok_or(TxError::SubnetFull { netuid })?
    };

    burn(state, signer, cost);
    if !state.hotkey_owners.contains(hotkey) {
        state.hotkey_owners.insert(*hotkey, *signer);
    }
    if let Some(old) = state.neurons.get(&(netuid, uid)).map(|n| n.hotkey) {
        state.uids.remove(&(netuid, old));
        state.weights.remove(&(netuid, uid));
        state.bonds.remove(&(netuid, uid));
        state.commits.remove(&(netuid, old));
    } else if let Some(record) = state.subnets.get_mut(&netuid) {
        record.n = record.n.saturating_add(1);
    }
    state.neurons.insert(
        (netuid, uid),
        NeuronRecord::new(*hotkey, *signer, ainft, at),
    );
    state.uids.insert((netuid, *hotkey), uid);
    Ok(Some(Created::Uid { netuid, uid }))
}

/// The UID a registration into a full subnet replaces: among UIDs outside their immunity period
/// (`at − block_at_registration ≥ immunity_period`), the one with the lowest emission in the
/// last epoch; ties go to the newest registration (highest `block_at_registration`), then to
/// the highest UID. `None` when every UID is immune.
pub(crate) fn prune_candidate(
    state: &State,
    netuid: NetUid,
    immunity_period: u64,
    at: BlockNumber,
) -> Option<Uid> {
    state
        .neurons_of(netuid)
        .filter(|(_, n)| at.saturating_since(n.block_at_registration) >= immunity_period)
        .min_by_key(|((_, uid), n)| (n.emission, Reverse(n.block_at_registration), Reverse(*uid)))
        .map(|((_, uid), _)| *uid)
}

/// `SetNeuronAinft`: the signer (a registered hotkey) points its UID at another AINFT, or none.
/// Emission credited from the next epoch on goes to the new AINFT's owner.
///
/// Errors, in order: [`TxError::UnknownSubnet`], [`TxError::NotRegistered`],
/// [`TxError::UnknownAinft`].
pub(super) fn set_ainft(
    state: &mut State,
    signer: &PublicKey,
    netuid: NetUid,
    ainft: Option<AinftId>,
) -> Result<Option<Created>, TxError> {
    subnet(state, netuid)?;
    let uid = registered(state, netuid, signer)?;
    if let Some(id) = ainft
        && !state.ainfts.contains(&id)
    {
        return Err(TxError::UnknownAinft { ainft: id });
    }
    if let Some(neuron) = state.neurons.get_mut(&(netuid, uid)) {
        neuron.ainft = ainft;
    }
    Ok(None)
}

/// `ServeAxon`: the signer (a registered hotkey) publishes where it serves.
///
/// Errors, in order: [`TxError::UnknownSubnet`], [`TxError::NotRegistered`].
pub(super) fn serve_axon(
    state: &mut State,
    signer: &PublicKey,
    netuid: NetUid,
    axon: &AxonInfo,
) -> Result<Option<Created>, TxError> {
    subnet(state, netuid)?;
    let uid = registered(state, netuid, signer)?;
    if let Some(neuron) = state.neurons.get_mut(&(netuid, uid)) {
        neuron.axon = Some(*axon);
    }
    Ok(None)
}
