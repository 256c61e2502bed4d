//! Transaction semantics: one function per [`Call`], each checking everything before it changes
//! anything, so that a rejected transaction leaves the state exactly as it was.
//!
//! The checks common to every transaction run first, in this order: genesis hash
//! ([`TxError::WrongGenesis`]), expiry ([`TxError::Expired`]), signature
//! ([`TxError::BadSignature`]), nonce ([`TxError::StaleNonce`], [`TxError::FutureNonce`]). An
//! accepted transaction increments its signer's nonce; a rejected one does not.

mod accounts;
mod ainft;
mod neurons;
mod subnets;
mod weights;

use std::fmt;

use subnet_protocol::ainft::{AinftId, Digest};
use subnet_protocol::chain::{Call, SignedTransaction, TxError};
use subnet_protocol::ids::{BlockNumber, NetUid, Rao, Uid};
use subnet_protocol::keys::PublicKey;

use crate::state::{State, SubnetRecord};

pub(crate) use weights::{MAX_PENDING_COMMITS, commit_is_live, reveal_window};

/// The chain-wide rules from the genesis that transactions depend on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    pub(crate) genesis_hash: Digest,
    pub(crate) subnet_creation_burn: Rao,
    pub(crate) max_subnets: u16,
}

/// What an accepted transaction created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// `CreateSubnet`: the new subnet's netuid.
    Subnet(NetUid),
    /// `Register`: the UID taken on the subnet.
    Uid {
        /// The subnet.
        netuid: NetUid,
        /// The UID.
        uid: Uid,
    },
    /// `RegisterAinft`: the AINFT's id.
    Ainft(AinftId),
}

impl fmt::Display for Created {
    /// The bare value: a netuid, a UID or an `ainft1…` id, as `TxReceipt::created` carries it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Subnet(netuid) => write!(f, "{netuid}"),
            Self::Uid { uid, .. } => write!(f, "{uid}"),
            Self::Ainft(id) => write!(f, "{id}"),
        }
    }
}

/// The checks every transaction passes before its call is looked at. `signature_ok` verifies
/// the signature, or returns a result computed earlier (blocks verify in parallel).
pub(crate) fn check_envelope(
    state: &State,
    rules: &Rules,
    tx: &SignedTransaction,
    at: BlockNumber,
    signature_ok: impl FnOnce() -> bool,
) -> Result<(), TxError> {
    let t = &tx.tx;
    if t.genesis_hash != rules.genesis_hash {
        return Err(TxError::WrongGenesis {
            got: t.genesis_hash,
        });
    }
    if t.valid_until < at {
        return Err(TxError::Expired {
            valid_until: t.valid_until,
            current: at,
        });
    }
    if !signature_ok() {
        return Err(TxError::BadSignature);
    }
    let expected = state.account(&t.signer).nonce;
    if t.nonce < expected {
        return Err(TxError::StaleNonce {
            got: t.nonce,
            expected,
        });
    }
    if t.nonce > expected {
        return Err(TxError::FutureNonce {
            got: t.nonce,
            expected,
        });
    }
    Ok(())
}

/// Applies a transaction whose envelope passed [`check_envelope`] in block `at`: runs the call
/// and, if it is accepted, increments the signer's nonce.
pub(crate) fn apply(
    state: &mut State,
    rules: &Rules,
    tx: &SignedTransaction,
    at: BlockNumber,
) -> Result<Option<Created>, TxError> {
    let signer = tx.tx.signer;
    let created = apply_call(state, rules, &signer, &tx.tx.call, at)?;
    let account = state.accounts.get_or_default(&signer);
    account.nonce = account.nonce.saturating_add(1);
    Ok(created)
}

fn apply_call(
    state: &mut State,
    rules: &Rules,
    signer: &PublicKey,
    call: &Call,
    at: BlockNumber,
) -> Result<Option<Created>, TxError> {
    match call {
        Call::Transfer { dest, amount } => accounts::transfer(state, signer, dest, *amount),
        Call::AddStake { hotkey, amount } => accounts::add_stake(state, signer, hotkey, *amount),
        Call::RemoveStake { hotkey, amount } => {
            accounts::remove_stake(state, signer, hotkey, *amount)
        }
        Call::CreateSubnet { hyperparameters } => {
            subnets::create(state, rules, signer, hyperparameters, at)
        }
        Call::SetHyperparameters {
            netuid,
            hyperparameters,
        } => subnets::set_hyperparameters(state, signer, *netuid, hyperparameters),
        Call::RegisterAinft { manifest } => ainft::register(state, signer, manifest, at),
        Call::Register {
            netuid,
            hotkey,
            ainft,
        } => neurons::register(state, signer, *netuid, hotkey, *ainft, at),
        Call::SetNeuronAinft { netuid, ainft } => {
            neurons::set_ainft(state, signer, *netuid, *ainft)
        }
        Call::ServeAxon { netuid, axon } => neurons::serve_axon(state, signer, *netuid, axon),
        Call::SetWeights {
            netuid,
            uids,
            values,
            version_key,
        } => weights::set_weights(
            state,
            signer,
            *netuid,
            &weights::Submission {
                uids,
                values,
                version_key: *version_key,
            },
            at,
        ),
        Call::CommitWeights { netuid, commit } => {
            weights::commit(state, signer, *netuid, *commit, at)
        }
        Call::RevealWeights {
            netuid,
            uids,
            values,
            salt,
            version_key,
        } => weights::reveal(
            state,
            signer,
            *netuid,
            &weights::Submission {
                uids,
                values,
                version_key: *version_key,
            },
            salt,
            at,
        ),
    }
}

/// The subnet `netuid`, or [`TxError::UnknownSubnet`].
pub(crate) fn subnet(state: &State, netuid: NetUid) -> Result<&SubnetRecord, TxError> {
    state
        .subnets
        .get(&netuid)
        .ok_or(TxError::UnknownSubnet { netuid })
}

/// The UID of `hotkey` on `netuid`, or [`TxError::NotRegistered`].
pub(crate) fn registered(
    state: &State,
    netuid: NetUid,
    hotkey: &PublicKey,
) -> Result<Uid, TxError> {
    state.uid_of(netuid, hotkey).ok_or(TxError::NotRegistered {
        hotkey: *hotkey,
        netuid,
    })
}

/// Checks that `account` can pay `amount`.
pub(crate) fn can_pay(state: &State, account: &PublicKey, amount: Rao) -> Result<(), TxError> {
    let available = state.account(account).balance;
    if available < amount {
        return Err(TxError::InsufficientBalance {
            needed: amount,
            available,
        });
    }
    Ok(())
}

/// Burns `amount` from `account` (checked with [`can_pay`] first): the issuance shrinks.
pub(crate) fn burn(state: &mut State, account: &PublicKey, amount: Rao) {
    if amount.is_zero() {
        return;
    }
    if let Some(a) = state.accounts.get_mut(account) {
        a.balance = a.balance.saturating_sub(amount);
    }
    let supply = state.supply_mut();
    supply.issuance = supply.issuance.saturating_sub(amount);
    supply.burned = supply.burned.saturating_add(amount);
}
