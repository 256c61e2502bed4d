//! What the chain reports: the views its RPC returns and chain clients read.

use serde::{Deserialize, Serialize};

use super::hyperparams::Hyperparameters;
use super::tx::{AxonInfo, SignedTransaction};
use crate::ainft::{AinftId, AinftManifest, Digest};
use crate::ids::{BlockNumber, NetUid, Rao, Uid};
use crate::keys::PublicKey;

/// Identity and progress of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainInfo {
    /// Hash of the genesis block: names the chain in every transaction.
    pub genesis_hash: Digest,
    /// Latest committed block.
    pub height: BlockNumber,
    /// Hash of the latest committed block.
    pub best_hash: Digest,
    /// Target time between blocks, in milliseconds.
    pub block_time_ms: u64,
    /// Cost of creating a subnet, burned.
    pub subnet_creation_burn: Rao,
}

/// A committed block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// Height, parent, state root and time.
    pub header: BlockHeader,
    /// Transactions applied, in order (rejected ones are not included).
    pub transactions: Vec<SignedTransaction>,
}

/// A block's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockHeader {
    /// Height.
    pub number: BlockNumber,
    /// Hash of the previous block's header.
    pub parent_hash: Digest,
    /// Hash over the whole state after this block.
    pub state_root: Digest,
    /// Hash over the block's transactions.
    pub extrinsics_root: Digest,
    /// Producer's clock, milliseconds since the Unix epoch (informational only).
    pub timestamp_ms: u64,
}

/// An account's balance and next nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    /// Free balance.
    pub balance: Rao,
    /// Nonce its next transaction must carry.
    pub nonce: u64,
}

/// A subnet's owner, rules and emission state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetInfo {
    /// Its number.
    pub netuid: NetUid,
    /// Owner's coldkey, paid the owner cut.
    pub owner: PublicKey,
    /// Current rules.
    pub hyperparameters: Hyperparameters,
    /// Number of UIDs in use.
    pub n: u16,
    /// Emission accumulated since the last epoch, paid out at the next.
    pub pending_emission: Rao,
    /// Block of the last epoch, if one ran.
    pub last_epoch_block: Option<BlockNumber>,
    /// Block at which the subnet was created.
    pub created_at: BlockNumber,
}

/// One UID as the metagraph shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeuronInfo {
    /// Slot.
    pub uid: Uid,
    /// Hotkey holding it.
    pub hotkey: PublicKey,
    /// Coldkey that registered it.
    pub coldkey: PublicKey,
    /// Model served from this UID (miners).
    pub ainft: Option<AinftId>,
    /// Where it serves, if published.
    pub axon: Option<AxonInfo>,
    /// Total stake on the hotkey.
    pub stake: Rao,
    /// Validator permit from the last epoch.
    pub validator_permit: bool,
    /// Block of its last weight update (registration block until then).
    pub last_update: BlockNumber,
    /// Block at which this hotkey took the UID.
    pub block_at_registration: BlockNumber,
    /// Last epoch's consensus, u16 ratio.
    pub consensus: u16,
    /// Last epoch's incentive, u16 ratio.
    pub incentive: u16,
    /// Last epoch's dividends, u16 ratio.
    pub dividends: u16,
    /// Last epoch's validator trust, u16 ratio.
    pub validator_trust: u16,
    /// Emission credited for this UID by the last epoch.
    pub emission: Rao,
    /// Emission credited for this UID since it was registered by this hotkey.
    pub total_emission: Rao,
}

/// A subnet's neurons at one block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metagraph {
    /// The subnet.
    pub netuid: NetUid,
    /// Block this view was read at.
    pub block: BlockNumber,
    /// Block of the last epoch, if one ran.
    pub last_epoch_block: Option<BlockNumber>,
    /// Neurons by UID (index = UID).
    pub neurons: Vec<NeuronInfo>,
}

impl Metagraph {
    /// The neuron holding `hotkey`, if registered.
    pub fn by_hotkey(&self, hotkey: &PublicKey) -> Option<&NeuronInfo> {
        self.neurons.iter().find(|n| n.hotkey == *hotkey)
    }

    /// The neuron at `uid`.
    pub fn by_uid(&self, uid: Uid) -> Option<&NeuronInfo> {
        self.neurons.get(uid.index())
    }
}

/// A registered AINFT and what it has earned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AinftRecord {
    /// Its id (hash of the manifest).
    pub id: AinftId,
    /// The manifest.
    pub manifest: AinftManifest,
    /// Account credited with its emission.
    pub owner: PublicKey,
    /// Block it was registered in.
    pub registered_at: BlockNumber,
    /// Lifetime emission earned by this AINFT's UIDs, before royalties.
    pub earned: Rao,
    /// Royalties received from derived AINFTs.
    pub royalties_received: Rao,
    /// Royalties paid to the parent.
    pub royalties_paid: Rao,
}

/// Emission totals: what was emitted and where every unit went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmissionReport {
    /// Total ever emitted into subnet pools and paid out by epochs.
    pub total_emitted: Rao,
    /// Total ever credited to accounts and stake (equals `total_emitted`).
    pub total_credited: Rao,
    /// Per AINFT lifetime totals.
    pub ainfts: Vec<AinftRecord>,
    /// Per account lifetime credits.
    pub accounts: Vec<AccountEmission>,
    /// Per epoch totals, newest last (bounded history).
    pub epochs: Vec<EpochEmission>,
}

/// Lifetime emission credited to one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountEmission {
    /// The account.
    pub account: PublicKey,
    /// As AINFT owner (miner incentive, after royalties, plus royalties received).
    pub as_ainft_owner: Rao,
    /// As staker of validators (dividends).
    pub as_staker: Rao,
    /// As subnet owner (owner cut and rounding dust).
    pub as_subnet_owner: Rao,
}

/// What one epoch paid out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochEmission {
    /// The subnet.
    pub netuid: NetUid,
    /// Block the epoch ran at.
    pub block: BlockNumber,
    /// Pool distributed.
    pub emitted: Rao,
    /// To the owner (cut plus rounding dust).
    pub owner: Rao,
    /// To miners' AINFTs.
    pub miners: Rao,
    /// To validators' stake.
    pub validators: Rao,
}
