//! Per-block emission and the epoch driver: builds Yuma inputs from the state, runs
//! [`subnet_scoring::epoch`] (sparse path), stores its outputs and pays out the pool.
//!
//! # Emission accounting
//!
//! Each block, after its transactions, adds `emission_per_block` to the pending pool of every
//! subnet created in an earlier block. Pending emission is not yet issued. A subnet's epoch runs
//! at the end of every block `b > created_at` with `(b − created_at) % tempo == 0`, after the
//! block's emission was added, and pays out the whole pool `P`:
//!
//! 1. the owner cut `⌊P · owner_cut / 65535⌋` to the subnet owner's balance;
//! 2. Yuma runs with `rao_emission = E = P − cut`;
//! 3. each UID's `server_emission` (miner incentive) goes to the AINFT registered at the UID:
//!    the AINFT owner's balance gets it minus the royalty `⌊amount · royalty_ppm / 10⁶⌋`, which
//!    goes to the owner of the parent AINFT (one level: the parent's own parent gets nothing of
//!    it). A UID without an AINFT is paid to its coldkey's balance;
//! 4. each UID's `validator_emission` is added to its hotkey's stake, split over the coldkeys
//!    staking on it pro rata, `⌊amount · stake_c / total⌋` each;
//! 5. everything left (rounding of every floor above; the whole `E` if the subnet has no UIDs)
//!    goes to the subnet owner's balance.
//!
//! Yuma's inputs come from the state at the end of the block: the UIDs' hotkey stake (global,
//! in rao), stored weights and bonds (sparse rows), the permits stored by the previous epoch,
//! activity `last_update + activity_cutoff ≥ block`, `last_update` and `block_at_registration`
//! (outdated-weight mask), with commit-reveal each UID's earliest unexpired commit block (commit
//! mask), and the bond columns to reset from `last_epoch_block` (`block − tempo − 1` before the
//! first epoch) and `block_at_registration` (YUMA_SPEC §6). `owner_uid` is the lowest UID whose
//! hotkey is owned by the subnet owner's coldkey. `bonds_reset_enabled` has no effect: this chain
//! has no metadata commitments. Yuma's new bond rows, permits, u16 outputs and each UID's credited
//! emission are stored on the neurons.
//!
//! So each epoch credits exactly `P`: the issuance grows by `P`, `emitted` and `credited` both
//! grow by `P`. Credits are applied in UID order and never exceed what is left of `E`.
//! If the epoch cannot run (inconsistent inputs, a bug) the pool stays pending.

use std::sync::{Mutex, PoisonError};

use subnet_protocol::chain::Hyperparameters;
use subnet_protocol::ids::{BlockNumber, NetUid, Rao, Uid};
use subnet_protocol::keys::PublicKey;
use subnet_scoring::yuma::{
    EpochBuffers, EpochInputs, EpochOutput, EpochParams, U16Matrix, bonds, prepare,
};

use crate::apply::commit_is_live;
use crate::state::{EmissionTotals, EpochRecord, NeuronRecord, State, SubnetRecord};

/// Bond rows of finished epochs, for the next epoch to build its rows in: at 4096 UIDs an
/// epoch returns about 16 MB of them, and allocating that afresh each time page-faults it in
/// again once the allocator has given the freed memory back (about a fifth of the epoch).
/// Outputs do not depend on it. Holds at most the rows of the largest epoch run.
static EPOCH_BUFFERS: Mutex<EpochBuffers> = Mutex::new(EpochBuffers::new());

fn epoch_buffers() -> std::sync::MutexGuard<'static, EpochBuffers> {
    // Spare rows are valid in any state, so a poisoned lock is still usable.
    EPOCH_BUFFERS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Epoch payouts kept in the emission history (oldest dropped first).
pub const MAX_EPOCH_HISTORY: u64 = 1024;

/// What one subnet's epoch reads: the pool, the Yuma inputs and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochPlan {
    /// The subnet.
    pub netuid: NetUid,
    /// Block the epoch runs at.
    pub block: BlockNumber,
    /// The pool paid out.
    pub pool: Rao,
    /// The owner cut taken from the pool before Yuma.
    pub owner_cut: Rao,
    /// Yuma inputs built from the state.
    pub inputs: EpochInputs,
    /// Yuma parameters (`rao_emission = pool − owner_cut`).
    pub params: EpochParams,
}

/// Adds each subnet's per-block emission to its pool (subnets created before block `at`).
pub(crate) fn accrue(state: &mut State, at: BlockNumber) {
    let due: Vec<NetUid> = state
        .subnets
        .iter()
        .filter(|(_, s)| s.created_at < at && !s.hyperparameters.emission_per_block.is_zero())
        .map(|(netuid, _)| *netuid)
        .collect();
    for netuid in due {
        if let Some(s) = state.subnets.get_mut(&netuid) {
            s.pending_emission = s
                .pending_emission
                .saturating_add(s.hyperparameters.emission_per_block);
        }
    }
}

/// Whether `record`'s epoch runs at block `at`.
pub(crate) fn is_epoch_block(record: &SubnetRecord, at: BlockNumber) -> bool {
    let tempo = u64::from(record.hyperparameters.tempo.max(1));
    at > record.created_at && at.saturating_since(record.created_at).is_multiple_of(tempo)
}

/// The next block `> after` at which `record`'s epoch runs.
pub(crate) fn next_epoch_block(record: &SubnetRecord, after: BlockNumber) -> BlockNumber {
    let tempo = u64::from(record.hyperparameters.tempo.max(1));
    let since = after.saturating_since(record.created_at);
    let k = since / tempo + 1;
    record.created_at.saturating_add(k.saturating_mul(tempo))
}

/// Runs every epoch due at block `at`; returns their payouts.
pub(crate) fn run_due(state: &mut State, at: BlockNumber) -> Vec<EpochRecord> {
    let due: Vec<NetUid> = state
        .subnets
        .iter()
        .filter(|(_, s)| is_epoch_block(s, at))
        .map(|(netuid, _)| *netuid)
        .collect();
    due.into_iter()
        .filter_map(|netuid| {
            let record = state.subnets.get(&netuid)?;
            let plan = plan(state, netuid, record, at, record.pending_emission)?;
            run(state, plan)
        })
        .collect()
}

/// Builds the epoch of `netuid` at block `at` distributing `pool`.
pub(crate) fn plan(
    state: &State,
    netuid: NetUid,
    record: &SubnetRecord,
    at: BlockNumber,
    pool: Rao,
) -> Option<EpochPlan> {
    let hp = &record.hyperparameters;
    let owner_cut = pool.checked_mul_ratio(u64::from(hp.owner_cut), u64::from(u16::MAX))?;
    let rao_emission = pool.checked_sub(owner_cut)?;
    let neurons: Vec<&NeuronRecord> = state.neurons_of(netuid).map(|(_, n)| n).collect();
    let n = u16::try_from(neurons.len()).ok()?;
    let last_update: Vec<u64> = neurons.iter().map(|x| x.last_update.0).collect();
    let registered: Vec<u64> = neurons.iter().map(|x| x.block_at_registration.0).collect();
    let tempo = u64::from(hp.tempo);
    let last_epoch = record
        .last_epoch_block
        .map_or_else(|| at.0.saturating_sub(tempo).saturating_sub(1), |b| b.0);
    let commit_blocks = hp.commit_reveal_weights_enabled.then(|| {
        neurons
            .iter()
            .map(|x| {
                state.commits.get(&(netuid, x.hotkey)).and_then(|list| {
                    list.iter()
                        .filter(|c| commit_is_live(record, c.block, at))
                        .map(|c| c.block.0)
                        .min()
                })
            })
            .collect()
    });
    let inputs = EpochInputs {
        weights: U16Matrix::Sparse(State::rows_of(&state.weights, netuid, n)),
        bonds_prev: U16Matrix::Sparse(State::rows_of(&state.bonds, netuid, n)),
        stake: neurons
            .iter()
            .map(|x| state.hotkey_stake(&x.hotkey).0)
            .collect(),
        active: prepare::activity(&last_update, hp.activity_cutoff, at.0),
        validator_permits_prev: neurons.iter().map(|x| x.validator_permit).collect(),
        bonds_reset_cols: Some(bonds::bond_reset_columns(last_epoch, &registered)),
        last_update: Some(last_update),
        block_at_registration: Some(registered),
        weight_commit_blocks: commit_blocks,
    };
    let owner_uid = neurons
        .iter()
        .position(|x| state.hotkey_owners.get(&x.hotkey) == Some(&record.owner))
        .and_then(|i| u16::try_from(i).ok());
    Some(EpochPlan {
        netuid,
        block: at,
        pool,
        owner_cut,
        inputs,
        params: params(hp, rao_emission.0, owner_uid),
    })
}

/// Yuma parameters from a subnet's hyperparameters.
fn params(hp: &Hyperparameters, rao_emission: u64, owner_uid: Option<u16>) -> EpochParams {
    EpochParams {
        kappa: hp.kappa,
        bonds_moving_avg: hp.bonds_moving_avg,
        bonds_penalty: hp.bonds_penalty,
        max_allowed_validators: hp.max_allowed_validators,
        liquid_alpha_enabled: hp.liquid_alpha_enabled,
        alpha_low: hp.alpha_low,
        alpha_high: hp.alpha_high,
        alpha_sigmoid_steepness: hp.alpha_sigmoid_steepness,
        yuma3_enabled: hp.yuma3_enabled,
        yuma3_sparse_drop: false,
        stake_threshold: hp.stake_threshold.0,
        rao_emission,
        owner_uid,
    }
}

/// Runs a planned epoch: Yuma, outputs stored, pool paid out (module docs).
fn run(state: &mut State, plan: EpochPlan) -> Option<EpochRecord> {
    let netuid = plan.netuid;
    let at = plan.block;
    let owner = state.subnets.get(&netuid)?.owner;
    if state.supply().issuance.checked_add(plan.pool).is_none() {
        tracing::warn!(%netuid, block = at.0, "epoch skipped: issuance would overflow");
        return None;
    }
    // Taken out rather than locked through the epoch, so that ledgers in one process (tests)
    // never wait for each other's epochs; a concurrent epoch then simply allocates.
    let mut buffers = core::mem::take(&mut *epoch_buffers());
    let result = subnet_scoring::epoch_with_buffers(&plan.inputs, &plan.params, &mut buffers);
    let out = match result {
        Ok(out) => out,
        Err(error) => {
            tracing::error!(%netuid, block = at.0, %error, "epoch failed; pool stays pending");
            return None;
        }
    };
    let mut pay = Payout {
        budget: plan.pool.saturating_sub(plan.owner_cut),
        paid: Rao::ZERO,
    };
    let n = out.server_emission.len();
    let mut credited = vec![Rao::ZERO; n];
    let mut miners = Rao::ZERO;
    let mut validators = Rao::ZERO;
    for (i, slot) in credited.iter_mut().enumerate() {
        let Some(neuron) = u16::try_from(i)
            .ok()
            .and_then(|uid| state.neurons.get(&(netuid, Uid(uid))))
            .cloned()
        else {
            continue;
        };
        let server = pay.take(Rao(out.server_emission.get(i).copied().unwrap_or(0)));
        pay_miner(state, &neuron, server);
        let validator = pay.take(Rao(out.validator_emission.get(i).copied().unwrap_or(0)));
        let staked = pay_stakers(state, &neuron.hotkey, validator);
        // The unstaked part of a validator amount is rounding: give it back to the budget so
        // that it ends up with the owner as dust.
        pay.paid = pay.paid.saturating_sub(validator.saturating_sub(staked));
        miners = miners.saturating_add(server);
        validators = validators.saturating_add(staked);
        *slot = server.saturating_add(staked);
    }
    store_outputs(state, netuid, &out, &credited);
    buffers.recycle(out.bonds);
    *epoch_buffers() = buffers;
    let dust = pay.budget.saturating_sub(pay.paid);
    let to_owner = plan.owner_cut.saturating_add(dust);
    state.credit_balance(&owner, to_owner);
    add_totals(state, &owner, |t| &mut t.as_subnet_owner, to_owner);

    if let Some(record) = state.subnets.get_mut(&netuid) {
        record.pending_emission = record.pending_emission.saturating_sub(plan.pool);
        record.last_epoch_block = Some(at);
    }
    let entry = EpochRecord {
        netuid,
        block: at,
        emitted: plan.pool,
        owner: to_owner,
        miners,
        validators,
    };
    let supply = state.supply_mut();
    supply.issuance = supply.issuance.saturating_add(plan.pool);
    supply.emitted = supply.emitted.saturating_add(plan.pool);
    supply.credited = supply
        .credited
        .saturating_add(to_owner)
        .saturating_add(miners)
        .saturating_add(validators);
    let seq = supply.next_epoch_seq;
    supply.next_epoch_seq = seq.saturating_add(1);
    state.epochs.insert(seq, entry);
    if let Some(old) = seq.checked_sub(MAX_EPOCH_HISTORY) {
        state.epochs.remove(&old);
    }
    Some(entry)
}

/// What is left of the budget `E` as credits are made.
struct Payout {
    budget: Rao,
    paid: Rao,
}

impl Payout {
    /// Takes up to `amount` from what is left.
    fn take(&mut self, amount: Rao) -> Rao {
        let taken = amount.min(self.budget.saturating_sub(self.paid));
        self.paid = self.paid.saturating_add(taken);
        taken
    }
}

/// Pays a miner amount to the UID's AINFT owner (minus the parent's royalty) or its coldkey.
fn pay_miner(state: &mut State, neuron: &NeuronRecord, amount: Rao) {
    if amount.is_zero() {
        return;
    }
    let entry = neuron.ainft.and_then(|id| {
        state
            .ainfts
            .get(&id)
            .map(|e| (id, e.owner, e.manifest.parent))
    });
    let Some((id, owner, parent)) = entry else {
        state.credit_balance(&neuron.coldkey, amount);
        add_totals(state, &neuron.coldkey, |t| &mut t.as_ainft_owner, amount);
        return;
    };
    let parent = parent.and_then(|p| {
        let parent_owner = state.ainfts.get(&p.id)?.owner;
        let royalty = amount.checked_mul_ratio(u64::from(p.royalty_ppm), 1_000_000)?;
        Some((p.id, parent_owner, royalty.min(amount)))
    });
    let royalty = parent.map_or(Rao::ZERO, |(_, _, r)| r);
    let kept = amount.saturating_sub(royalty);
    if let Some(e) = state.ainfts.get_mut(&id) {
        e.earned = e.earned.saturating_add(amount);
        e.royalties_paid = e.royalties_paid.saturating_add(royalty);
    }
    state.credit_balance(&owner, kept);
    add_totals(state, &owner, |t| &mut t.as_ainft_owner, kept);
    if let Some((parent_id, parent_owner, royalty)) = parent
        && !royalty.is_zero()
    {
        if let Some(e) = state.ainfts.get_mut(&parent_id) {
            e.royalties_received = e.royalties_received.saturating_add(royalty);
        }
        state.credit_balance(&parent_owner, royalty);
        add_totals(state, &parent_owner, |t| &mut t.as_ainft_owner, royalty);
    }
}

/// Adds a validator amount to `hotkey`'s stake, split over its stakers pro rata (floor);
/// returns what was credited.
fn pay_stakers(state: &mut State, hotkey: &PublicKey, amount: Rao) -> Rao {
    if amount.is_zero() {
        return Rao::ZERO;
    }
    let stakers = state.stakers(hotkey);
    let total = Rao::checked_sum(stakers.iter().map(|(_, s)| *s)).unwrap_or(Rao::MAX);
    let mut credited = Rao::ZERO;
    for (coldkey, stake) in stakers {
        let share = amount
            .checked_mul_ratio(stake.0, total.0)
            .unwrap_or(Rao::ZERO);
        state.credit_stake(&coldkey, hotkey, share);
        add_totals(state, &coldkey, |t| &mut t.as_staker, share);
        credited = credited.saturating_add(share);
    }
    credited
}

/// Adds `amount` to one role of `account`'s lifetime totals.
fn add_totals(
    state: &mut State,
    account: &PublicKey,
    role: impl FnOnce(&mut EmissionTotals) -> &mut Rao,
    amount: Rao,
) {
    if amount.is_zero() {
        return;
    }
    let slot = role(state.account_emissions.get_or_default(account));
    *slot = slot.saturating_add(amount);
}

/// Stores the epoch's outputs on the neurons and the new bond rows.
fn store_outputs(state: &mut State, netuid: NetUid, out: &EpochOutput, credited: &[Rao]) {
    let consensus = out.consensus_u16();
    let incentive = out.incentive_u16();
    let dividends = out.dividends_u16();
    let trust = out.validator_trust_u16();
    for (i, row) in out.bonds.iter().enumerate() {
        let Ok(uid) = u16::try_from(i).map(Uid) else {
            continue;
        };
        let key = (netuid, uid);
        let get = |v: &[u16]| v.get(i).copied().unwrap_or(0);
        let emission = credited.get(i).copied().unwrap_or(Rao::ZERO);
        let permit = out.validator_permits.get(i).copied().unwrap_or(false);
        let Some(old) = state.neurons.get(&key) else {
            continue;
        };
        let changed = old.consensus != get(&consensus)
            || old.incentive != get(&incentive)
            || old.dividends != get(&dividends)
            || old.validator_trust != get(&trust)
            || old.validator_permit != permit
            || old.emission != emission
            || !emission.is_zero();
        if changed && let Some(neuron) = state.neurons.get_mut(&key) {
            neuron.consensus = get(&consensus);
            neuron.incentive = get(&incentive);
            neuron.dividends = get(&dividends);
            neuron.validator_trust = get(&trust);
            neuron.validator_permit = permit;
            neuron.emission = emission;
            neuron.total_emission = neuron.total_emission.saturating_add(emission);
        }
        match row.to_u16_entries() {
            Some(entries) if entries.is_empty() => {
                state.bonds.remove(&key);
            }
            Some(entries) if state.bonds.get(&key) != Some(&entries) => {
                state.bonds.insert(key, entries);
            }
            Some(_) | None => {}
        }
    }
}
