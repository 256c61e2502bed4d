//! The chain state: typed tables held in memory in key order, persisted per key in one sled
//! tree, with derived indexes (total stake per hotkey, UID per hotkey) rebuilt on load.
//!
//! # Tables
//!
//! | prefix | table | key | value |
//! | --- | --- | --- | --- |
//! | `0x01` | accounts | coldkey | balance, nonce |
//! | `0x02` | stakes | hotkey ‖ coldkey | rao |
//! | `0x03` | hotkey owners | hotkey | coldkey |
//! | `0x04` | subnets | netuid | owner, hyperparameters, creation block, pool, last epoch, n |
//! | `0x05` | neurons | netuid ‖ uid | keys, AINFT, axon, blocks, permit, epoch outputs, emissions |
//! | `0x06` | weights | netuid ‖ uid | sparse row, max-upscaled |
//! | `0x07` | bonds | netuid ‖ uid | sparse row |
//! | `0x08` | weight commits | netuid ‖ hotkey | `(hash, block)` list |
//! | `0x09` | AINFTs | id | manifest, owner, registration block, earnings |
//! | `0x0a` | account emissions | account | lifetime credits by role |
//! | `0x0b` | epoch history | sequence | one epoch's payout (last 1024 kept) |
//! | `0x0c` | supply | (none) | issuance, burned, emitted, credited, next sequence |
//!
//! Keys are fixed-width and big-endian (netuid and uid 2 bytes, keys and ids 32, sequence 8);
//! values are postcard. The database also holds, outside the state, the chain head (`0x40`) and
//! the blocks by height (`0x41`).
//!
//! # State root
//!
//! `state_root = BLAKE3("subnet-state/v1" ‖ Σ_tables (prefix byte ‖ table digest))` over the
//! tables above in prefix order, where a table's digest is
//! `BLAKE3(entry count as u64 LE ‖ Σ_entries (key bytes ‖ BLAKE3(value bytes)))` over its entries
//! in key order, keys and values in their stored form: exactly the bytes in the database. Only
//! the tables a block changed are rehashed. Two ledgers fed the same blocks have the same root,
//! and a reopened ledger recomputes the root of what it loaded and checks it against the last
//! header.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use subnet_protocol::ainft::{AinftId, AinftManifest, Digest};
use subnet_protocol::chain::{AxonInfo, Hyperparameters};
use subnet_protocol::ids::{BlockNumber, NetUid, Rao, Uid};
use subnet_protocol::keys::PublicKey;

use crate::error::StorageError;
use crate::store::{self, Table};

/// Domain tag of the state root.
const STATE_ROOT_TAG: &[u8] = b"subnet-state/v1";

/// An account's free balance and next nonce.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Account {
    pub(crate) balance: Rao,
    pub(crate) nonce: u64,
}

/// A subnet's stored record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SubnetRecord {
    pub(crate) owner: PublicKey,
    pub(crate) hyperparameters: Hyperparameters,
    pub(crate) created_at: BlockNumber,
    /// Emission accumulated since the last epoch; not yet part of the issuance.
    pub(crate) pending_emission: Rao,
    pub(crate) last_epoch_block: Option<BlockNumber>,
    /// Number of UIDs in use (UIDs are `0..n`; a full subnet replaces, never removes).
    pub(crate) n: u16,
}

/// One UID's stored record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NeuronRecord {
    pub(crate) hotkey: PublicKey,
    pub(crate) coldkey: PublicKey,
    pub(crate) ainft: Option<AinftId>,
    pub(crate) axon: Option<AxonInfo>,
    pub(crate) block_at_registration: BlockNumber,
    /// Block of the last weights applied (the registration block until then).
    pub(crate) last_update: BlockNumber,
    /// Block of the last weights applied, `None` before the first: the rate limit's memory.
    pub(crate) weights_set_at: Option<BlockNumber>,
    pub(crate) validator_permit: bool,
    pub(crate) consensus: u16,
    pub(crate) incentive: u16,
    pub(crate) dividends: u16,
    pub(crate) validator_trust: u16,
    /// Credited for this UID by the last epoch.
    pub(crate) emission: Rao,
    /// Credited for this UID since this hotkey registered.
    pub(crate) total_emission: Rao,
}

impl NeuronRecord {
    /// A freshly registered UID.
    pub(crate) fn new(
        hotkey: PublicKey,
        coldkey: PublicKey,
        ainft: Option<AinftId>,
        at: BlockNumber,
    ) -> Self {
        Self {
            hotkey,
            coldkey,
            ainft,
            axon: None,
            block_at_registration: at,
            last_update: at,
            weights_set_at: None,
            validator_permit: false,
            consensus: 0,
            incentive: 0,
            dividends: 0,
            validator_trust: 0,
            emission: Rao::ZERO,
            total_emission: Rao::ZERO,
        }
    }
}

/// A pending weight commitment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WeightCommit {
    pub(crate) hash: Digest,
    pub(crate) block: BlockNumber,
}

/// A registered AINFT and its lifetime earnings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AinftEntry {
    pub(crate) manifest: AinftManifest,
    pub(crate) owner: PublicKey,
    pub(crate) registered_at: BlockNumber,
    pub(crate) earned: Rao,
    pub(crate) royalties_received: Rao,
    pub(crate) royalties_paid: Rao,
}

/// Lifetime emission credited to one account, by role.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EmissionTotals {
    pub(crate) as_ainft_owner: Rao,
    pub(crate) as_staker: Rao,
    pub(crate) as_subnet_owner: Rao,
}

/// What one epoch paid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EpochRecord {
    pub(crate) netuid: NetUid,
    pub(crate) block: BlockNumber,
    pub(crate) emitted: Rao,
    pub(crate) owner: Rao,
    pub(crate) miners: Rao,
    pub(crate) validators: Rao,
}

/// Chain-wide amounts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SupplyRecord {
    /// Every rao in balances and stake.
    pub(crate) issuance: Rao,
    /// Burned by subnet creation and registration.
    pub(crate) burned: Rao,
    /// Paid out of subnet pools by epochs.
    pub(crate) emitted: Rao,
    /// Credited to balances and stake by epochs.
    pub(crate) credited: Rao,
    /// Sequence number of the next epoch history entry.
    pub(crate) next_epoch_seq: u64,
}

/// The chain state: persisted tables plus indexes derived from them.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) accounts: Table<PublicKey, Account>,
    /// Stake by (hotkey, coldkey).
    pub(crate) stakes: Table<(PublicKey, PublicKey), Rao>,
    pub(crate) hotkey_owners: Table<PublicKey, PublicKey>,
    pub(crate) subnets: Table<NetUid, SubnetRecord>,
    pub(crate) neurons: Table<(NetUid, Uid), NeuronRecord>,
    pub(crate) weights: Table<(NetUid, Uid), Vec<(u16, u16)>>,
    pub(crate) bonds: Table<(NetUid, Uid), Vec<(u16, u16)>>,
    pub(crate) commits: Table<(NetUid, PublicKey), Vec<WeightCommit>>,
    pub(crate) ainfts: Table<AinftId, AinftEntry>,
    pub(crate) account_emissions: Table<PublicKey, EmissionTotals>,
    pub(crate) epochs: Table<u64, EpochRecord>,
    pub(crate) supply: Table<(), SupplyRecord>,
    /// Derived: total stake per hotkey.
    pub(crate) hotkey_stake: BTreeMap<PublicKey, Rao>,
    /// Derived: UID of each registered (subnet, hotkey).
    pub(crate) uids: BTreeMap<(NetUid, PublicKey), Uid>,
}

impl State {
    /// An empty state.
    pub(crate) fn new() -> Self {
        Self {
            accounts: Table::new(store::ACCOUNTS),
            stakes: Table::new(store::STAKES),
            hotkey_owners: Table::new(store::HOTKEY_OWNERS),
            subnets: Table::new(store::SUBNETS),
            neurons: Table::new(store::NEURONS),
            weights: Table::new(store::WEIGHTS),
            bonds: Table::new(store::BONDS),
            commits: Table::new(store::COMMITS),
            ainfts: Table::new(store::AINFTS),
            account_emissions: Table::new(store::ACCOUNT_EMISSIONS),
            epochs: Table::new(store::EPOCHS),
            supply: Table::new(store::SUPPLY),
            hotkey_stake: BTreeMap::new(),
            uids: BTreeMap::new(),
        }
    }

    /// Loads every table from `db` and rebuilds the indexes.
    ///
    /// # Errors
    /// [`StorageError`] on a read failure or an entry that does not decode.
    pub(crate) fn load(db: &sled::Db) -> Result<Self, StorageError> {
        let mut state = Self::new();
        state.accounts.load(db)?;
        state.stakes.load(db)?;
        state.hotkey_owners.load(db)?;
        state.subnets.load(db)?;
        state.neurons.load(db)?;
        state.weights.load(db)?;
        state.bonds.load(db)?;
        state.commits.load(db)?;
        state.ainfts.load(db)?;
        state.account_emissions.load(db)?;
        state.epochs.load(db)?;
        state.supply.load(db)?;
        for ((hotkey, _), amount) in state.stakes.iter() {
            let total = state.hotkey_stake.entry(*hotkey).or_default();
            *total = total.saturating_add(*amount);
        }
        for ((netuid, uid), neuron) in state.neurons.iter() {
            state.uids.insert((*netuid, neuron.hotkey), *uid);
        }
        Ok(state)
    }

    /// Adds every change since the last commit to `batch`; returns the number of entries.
    ///
    /// # Errors
    /// [`StorageError::Encode`] if a value cannot be encoded.
    pub(crate) fn commit(&mut self, batch: &mut sled::Batch) -> Result<usize, StorageError> {
        let mut n = self.accounts.commit(batch)?;
        n = n.saturating_add(self.stakes.commit(batch)?);
        n = n.saturating_add(self.hotkey_owners.commit(batch)?);
        n = n.saturating_add(self.subnets.commit(batch)?);
        n = n.saturating_add(self.neurons.commit(batch)?);
        n = n.saturating_add(self.weights.commit(batch)?);
        n = n.saturating_add(self.bonds.commit(batch)?);
        n = n.saturating_add(self.commits.commit(batch)?);
        n = n.saturating_add(self.ainfts.commit(batch)?);
        n = n.saturating_add(self.account_emissions.commit(batch)?);
        n = n.saturating_add(self.epochs.commit(batch)?);
        n = n.saturating_add(self.supply.commit(batch)?);
        Ok(n)
    }

    /// The state root as of the last commit (see the module docs).
    pub(crate) fn root(&self) -> Digest {
        let tables = [
            (store::ACCOUNTS, self.accounts.digest()),
            (store::STAKES, self.stakes.digest()),
            (store::HOTKEY_OWNERS, self.hotkey_owners.digest()),
            (store::SUBNETS, self.subnets.digest()),
            (store::NEURONS, self.neurons.digest()),
            (store::WEIGHTS, self.weights.digest()),
            (store::BONDS, self.bonds.digest()),
            (store::COMMITS, self.commits.digest()),
            (store::AINFTS, self.ainfts.digest()),
            (store::ACCOUNT_EMISSIONS, self.account_emissions.digest()),
            (store::EPOCHS, self.epochs.digest()),
            (store::SUPPLY, self.supply.digest()),
        ];
        let mut hasher = blake3::Hasher::new();
        hasher.update(STATE_ROOT_TAG);
        for (prefix, digest) in tables {
            hasher.update(&[prefix]);
            hasher.update(&digest);
        }
        Digest::from(hasher.finalize())
    }

    /// Chain-wide amounts.
    pub(crate) fn supply(&self) -> SupplyRecord {
        self.supply.get(&()).copied().unwrap_or_default()
    }

    /// Changes the chain-wide amounts.
    pub(crate) fn supply_mut(&mut self) -> &mut SupplyRecord {
        self.supply.get_or_default(&())
    }

    /// An account's balance and nonce (zero for an unknown account).
    pub(crate) fn account(&self, key: &PublicKey) -> Account {
        self.accounts.get(key).copied().unwrap_or_default()
    }

    /// Total stake on `hotkey`.
    pub(crate) fn hotkey_stake(&self, hotkey: &PublicKey) -> Rao {
        self.hotkey_stake.get(hotkey).copied().unwrap_or_default()
    }

    /// Stake of `coldkey` on `hotkey`.
    pub(crate) fn stake(&self, coldkey: &PublicKey, hotkey: &PublicKey) -> Rao {
        self.stakes
            .get(&(*hotkey, *coldkey))
            .copied()
            .unwrap_or_default()
    }

    /// Every (coldkey, stake) on `hotkey`, coldkeys in ascending order.
    pub(crate) fn stakers(&self, hotkey: &PublicKey) -> Vec<(PublicKey, Rao)> {
        let lo = (*hotkey, PublicKey::from_bytes([0; 32]));
        let hi = (*hotkey, PublicKey::from_bytes([0xff; 32]));
        self.stakes
            .range(lo..=hi)
            .map(|((_, coldkey), amount)| (*coldkey, *amount))
            .collect()
    }

    /// Adds `amount` to an account's balance (credits never overflow: the issuance bounds
    /// every balance and the issuance itself is checked).
    pub(crate) fn credit_balance(&mut self, key: &PublicKey, amount: Rao) {
        if amount.is_zero() {
            return;
        }
        let account = self.accounts.get_or_default(key);
        account.balance = account.balance.saturating_add(amount);
    }

    /// Adds `amount` to the stake of `coldkey` on `hotkey`.
    pub(crate) fn credit_stake(&mut self, coldkey: &PublicKey, hotkey: &PublicKey, amount: Rao) {
        if amount.is_zero() {
            return;
        }
        let stake = self.stakes.get_or_default(&(*hotkey, *coldkey));
        *stake = stake.saturating_add(amount);
        let total = self.hotkey_stake.entry(*hotkey).or_default();
        *total = total.saturating_add(amount);
    }

    /// Takes `amount` from the stake of `coldkey` on `hotkey` (at most what it holds); an entry
    /// reaching zero is removed.
    pub(crate) fn debit_stake(&mut self, coldkey: &PublicKey, hotkey: &PublicKey, amount: Rao) {
        let key = (*hotkey, *coldkey);
        let Some(stake) = self.stakes.get_mut(&key) else {
            return;
        };
        let taken = amount.min(*stake);
        *stake = stake.saturating_sub(taken);
        if stake.is_zero() {
            self.stakes.remove(&key);
        }
        if let Some(total) = self.hotkey_stake.get_mut(hotkey) {
            *total = total.saturating_sub(taken);
            if total.is_zero() {
                self.hotkey_stake.remove(hotkey);
            }
        }
    }

    /// The UIDs of a subnet's neurons whose hotkey is `hotkey`.
    pub(crate) fn uid_of(&self, netuid: NetUid, hotkey: &PublicKey) -> Option<Uid> {
        self.uids.get(&(netuid, *hotkey)).copied()
    }

    /// Neurons of `netuid` in UID order.
    pub(crate) fn neurons_of(
        &self,
        netuid: NetUid,
    ) -> impl DoubleEndedIterator<Item = (&(NetUid, Uid), &NeuronRecord)> {
        self.neurons
            .range((netuid, Uid(0))..=(netuid, Uid(u16::MAX)))
    }

    /// Sparse rows of `table` for `netuid`, one per UID `0..n`.
    pub(crate) fn rows_of(
        table: &Table<(NetUid, Uid), Vec<(u16, u16)>>,
        netuid: NetUid,
        n: u16,
    ) -> Vec<Vec<(u16, u16)>> {
        let mut rows = vec![Vec::new(); usize::from(n)];
        for ((_, uid), row) in table.range((netuid, Uid(0))..=(netuid, Uid(u16::MAX))) {
            if let Some(slot) = rows.get_mut(uid.index()) {
                slot.clone_from(row);
            }
        }
        rows
    }
}
