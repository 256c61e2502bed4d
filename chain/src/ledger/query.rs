//! Read queries: the protocol's views of the state, read from memory.

use serde::{Deserialize, Serialize};
use subnet_protocol::ainft::{AinftId, Digest};
use subnet_protocol::chain::{
    AccountEmission, AccountInfo, AinftRecord, Block, ChainInfo, EmissionReport, EpochEmission,
    Metagraph, NeuronInfo, SubnetInfo,
};
use subnet_protocol::ids::{BlockNumber, NetUid, Rao, Uid};
use subnet_protocol::keys::PublicKey;

use super::Ledger;
use crate::epoch::{self, EpochPlan};
use crate::error::StorageError;
use crate::genesis::Genesis;
use crate::state::{AinftEntry, EpochRecord, NeuronRecord, State, SubnetRecord};
use crate::store;

/// Chain-wide amounts, in rao.
///
/// Invariants after every block: `issuance` equals the sum of all balances and stakes;
/// `emitted == credited`; `issuance = genesis balances − burned + emitted`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Supply {
    /// Every rao in balances and stake.
    pub issuance: Rao,
    /// Burned by subnet creation and registration, in total.
    pub burned: Rao,
    /// Paid out of subnet pools by epochs, in total.
    pub emitted: Rao,
    /// Credited to balances and stake by epochs, in total.
    pub credited: Rao,
    /// Sitting in subnet pools, not yet issued.
    pub pending: Rao,
}

impl Ledger {
    /// Identity and head of the chain.
    pub fn info(&self) -> ChainInfo {
        ChainInfo {
            genesis_hash: self.rules.genesis_hash,
            height: self.height,
            best_hash: self.best_hash,
            block_time_ms: self.genesis.block_time_ms,
            subnet_creation_burn: self.genesis.subnet_creation_burn,
        }
    }

    /// The genesis this ledger was opened with.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// Latest committed block.
    pub fn height(&self) -> BlockNumber {
        self.height
    }

    /// State root after the latest committed block (see [`crate::state`]).
    pub fn state_root(&self) -> Digest {
        self.state.root()
    }

    /// Balance and next nonce of `account` (zero for an unknown account).
    pub fn account(&self, account: &PublicKey) -> AccountInfo {
        let a = self.state.account(account);
        AccountInfo {
            balance: a.balance,
            nonce: a.nonce,
        }
    }

    /// Stake of `coldkey` on `hotkey`.
    pub fn stake_of(&self, coldkey: &PublicKey, hotkey: &PublicKey) -> Rao {
        self.state.stake(coldkey, hotkey)
    }

    /// Total stake on `hotkey`, all coldkeys together.
    pub fn total_stake(&self, hotkey: &PublicKey) -> Rao {
        self.state.hotkey_stake(hotkey)
    }

    /// Every `(coldkey, stake)` on `hotkey`, coldkeys in ascending byte order.
    pub fn stakers(&self, hotkey: &PublicKey) -> Vec<(PublicKey, Rao)> {
        self.state.stakers(hotkey)
    }

    /// The coldkey owning `hotkey` (set by its first registration).
    pub fn hotkey_owner(&self, hotkey: &PublicKey) -> Option<PublicKey> {
        self.state.hotkey_owners.get(hotkey).copied()
    }

    /// Chain-wide amounts.
    pub fn supply(&self) -> Supply {
        let s = self.state.supply();
        let pending = self.state.subnets.iter().fold(Rao::ZERO, |acc, (_, r)| {
            acc.saturating_add(r.pending_emission)
        });
        Supply {
            issuance: s.issuance,
            burned: s.burned,
            emitted: s.emitted,
            credited: s.credited,
            pending,
        }
    }

    /// Every subnet, by netuid.
    pub fn subnets(&self) -> Vec<SubnetInfo> {
        self.state
            .subnets
            .iter()
            .map(|(netuid, r)| subnet_view(*netuid, r))
            .collect()
    }

    /// One subnet.
    pub fn subnet(&self, netuid: NetUid) -> Option<SubnetInfo> {
        self.state
            .subnets
            .get(&netuid)
            .map(|r| subnet_view(netuid, r))
    }

    /// The next block at which `netuid`'s epoch runs.
    pub fn next_epoch_block(&self, netuid: NetUid) -> Option<BlockNumber> {
        let record = self.state.subnets.get(&netuid)?;
        Some(epoch::next_epoch_block(record, self.height))
    }

    /// UID of `hotkey` on `netuid`.
    pub fn uid_of(&self, netuid: NetUid, hotkey: &PublicKey) -> Option<Uid> {
        self.state.uid_of(netuid, hotkey)
    }

    /// The metagraph of `netuid` at the latest block: every UID with its keys, AINFT, axon,
    /// stake and the last epoch's outputs.
    pub fn metagraph(&self, netuid: NetUid) -> Option<Metagraph> {
        let record = self.state.subnets.get(&netuid)?;
        let neurons = self
            .state
            .neurons_of(netuid)
            .map(|((_, uid), n)| neuron_view(&self.state, *uid, n))
            .collect();
        Some(Metagraph {
            netuid,
            block: self.height,
            last_epoch_block: record.last_epoch_block,
            neurons,
        })
    }

    /// Stored weights of `netuid`: one sparse row per UID (index = UID), `(target, u16)` sorted
    /// by target, max-upscaled as stored.
    pub fn weights(&self, netuid: NetUid) -> Option<Vec<Vec<(Uid, u16)>>> {
        let n = self.state.subnets.get(&netuid)?.n;
        Some(typed_rows(State::rows_of(&self.state.weights, netuid, n)))
    }

    /// Stored bonds of `netuid`, in the same form as [`Ledger::weights`].
    pub fn bonds(&self, netuid: NetUid) -> Option<Vec<Vec<(Uid, u16)>>> {
        let n = self.state.subnets.get(&netuid)?.n;
        Some(typed_rows(State::rows_of(&self.state.bonds, netuid, n)))
    }

    /// Pending weight commits of `hotkey` on `netuid`: `(hash, block committed)`, oldest first
    /// (expired ones linger until the hotkey commits or reveals again).
    pub fn weight_commits(&self, netuid: NetUid, hotkey: &PublicKey) -> Vec<(Digest, BlockNumber)> {
        self.state
            .commits
            .get(&(netuid, *hotkey))
            .map(|list| list.iter().map(|c| (c.hash, c.block)).collect())
            .unwrap_or_default()
    }

    /// First and last block (both included) in which a weight commit made on `netuid` in block
    /// `commit_block` may be revealed, under the subnet's current tempo.
    ///
    /// Epoch `k` runs at the end of block `created_at + k·tempo`; block `b` is in interval
    /// `e(b) = ⌈(b − created_at) / tempo⌉`. A commit made in block `c` is revealed in the blocks
    /// of interval `e(c) + commit_reveal_period`: from `created_at + (e(c) + period − 1)·tempo
    /// + 1` to `created_at + (e(c) + period)·tempo`. Earlier is `RevealTooEarly`, later is
    /// `RevealTooLate` (the commit has expired).
    pub fn reveal_window(
        &self,
        netuid: NetUid,
        commit_block: BlockNumber,
    ) -> Option<(BlockNumber, BlockNumber)> {
        let record = self.state.subnets.get(&netuid)?;
        Some(crate::apply::reveal_window(record, commit_block))
    }

    /// A registered AINFT with its earnings.
    pub fn ainft(&self, id: &AinftId) -> Option<AinftRecord> {
        self.state.ainfts.get(id).map(|e| ainft_view(*id, e))
    }

    /// The emission ledger: totals, every AINFT, every credited account, the recent epochs
    /// (at most [`epoch::MAX_EPOCH_HISTORY`], oldest first).
    pub fn emissions(&self) -> EmissionReport {
        let supply = self.state.supply();
        EmissionReport {
            total_emitted: supply.emitted,
            total_credited: supply.credited,
            ainfts: self
                .state
                .ainfts
                .iter()
                .map(|(id, e)| ainft_view(*id, e))
                .collect(),
            accounts: self
                .state
                .account_emissions
                .iter()
                .map(|(account, t)| AccountEmission {
                    account: *account,
                    as_ainft_owner: t.as_ainft_owner,
                    as_staker: t.as_staker,
                    as_subnet_owner: t.as_subnet_owner,
                })
                .collect(),
            epochs: self
                .state
                .epochs
                .iter()
                .map(|(_, e)| epoch_view(*e))
                .collect(),
        }
    }

    /// The committed block `number`, read from the database.
    ///
    /// # Errors
    /// [`StorageError`] when the read fails or the stored block does not decode.
    pub fn block(&self, number: BlockNumber) -> Result<Option<Block>, StorageError> {
        if number > self.height {
            return Ok(None);
        }
        let Some(bytes) = self.db.get(store::block_key(number.0))? else {
            return Ok(None);
        };
        postcard::from_bytes(&bytes)
            .map(Some)
            .map_err(|_| StorageError::Corrupt { what: "block" })
    }

    /// The epoch `netuid` will run at its next epoch block if no transaction changes the state
    /// before then: the pool it will pay out and the exact Yuma inputs and parameters.
    pub fn epoch_preview(&self, netuid: NetUid) -> Option<EpochPlan> {
        let record = self.state.subnets.get(&netuid)?;
        let at = epoch::next_epoch_block(record, self.height);
        let blocks_to_go = at.saturating_since(self.height.max(record.created_at));
        let pool = record.pending_emission.saturating_add(
            record
                .hyperparameters
                .emission_per_block
                .saturating_mul(blocks_to_go),
        );
        epoch::plan(&self.state, netuid, record, at, pool)
    }
}

fn typed_rows(rows: Vec<Vec<(u16, u16)>>) -> Vec<Vec<(Uid, u16)>> {
    rows.into_iter()
        .map(|row| row.into_iter().map(|(j, v)| (Uid(j), v)).collect())
        .collect()
}

fn subnet_view(netuid: NetUid, r: &SubnetRecord) -> SubnetInfo {
    SubnetInfo {
        netuid,
        owner: r.owner,
        hyperparameters: r.hyperparameters.clone(),
        n: r.n,
        pending_emission: r.pending_emission,
        last_epoch_block: r.last_epoch_block,
        created_at: r.created_at,
    }
}

fn neuron_view(state: &State, uid: Uid, n: &NeuronRecord) -> NeuronInfo {
    NeuronInfo {
        uid,
        hotkey: n.hotkey,
        coldkey: n.coldkey,
        ainft: n.ainft,
        axon: n.axon,
        stake: state.hotkey_stake(&n.hotkey),
        validator_permit: n.validator_permit,
        last_update: n.last_update,
        block_at_registration: n.block_at_registration,
        consensus: n.consensus,
        incentive: n.incentive,
        dividends: n.dividends,
        validator_trust: n.validator_trust,
        emission: n.emission,
        total_emission: n.total_emission,
    }
}

fn ainft_view(id: AinftId, e: &AinftEntry) -> AinftRecord {
    AinftRecord {
        id,
        manifest: e.manifest.clone(),
        owner: e.owner,
        registered_at: e.registered_at,
        earned: e.earned,
        royalties_received: e.royalties_received,
        royalties_paid: e.royalties_paid,
    }
}

/// The protocol view of a stored epoch payout.
pub(super) fn epoch_view(e: EpochRecord) -> EpochEmission {
    EpochEmission {
        netuid: e.netuid,
        block: e.block,
        emitted: e.emitted,
        owner: e.owner,
        miners: e.miners,
        validators: e.validators,
    }
}
