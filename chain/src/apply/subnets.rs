//! Subnets: `CreateSubnet`, `SetHyperparameters`.

use subnet_protocol::chain::{HyperparameterError, Hyperparameters, TxError};
use subnet_protocol::ids::{BlockNumber, NetUid, Rao};
use subnet_protocol::keys::PublicKey;

use super::{Created, Rules, burn, can_pay, subnet};
use crate::state::{State, SubnetRecord};

/// `CreateSubnet`: creates a subnet owned by the signer at the lowest free netuid from 1,
/// burning the chain's `subnet_creation_burn` (the issuance shrinks by it). Its first epoch runs
/// `tempo` blocks after this block.
///
/// Errors, in order: [`TxError::InvalidHyperparameter`], [`TxError::TooManySubnets`],
/// [`TxError::InsufficientBalance`].
pub(super) fn create(
    state: &mut State,
    rules: &Rules,
    signer: &PublicKey,
    hyperparameters: &Hyperparameters,
    at: BlockNumber,
) -> Result<Option<Created>, TxError> {
    hyperparameters.validate()?;
    let netuid = free_netuid(state, rules.max_subnets).ok_or(TxError::TooManySubnets)?;
    can_pay(state, signer, rules.subnet_creation_burn)?;
    burn(state, signer, rules.subnet_creation_burn);
    state.subnets.insert(
        netuid,
        SubnetRecord {
            owner: *signer,
            hyperparameters: hyperparameters.clone(),
            created_at: at,
            pending_emission: Rao::ZERO,
            last_epoch_block: None,
            n: 0,
        },
    );
    Ok(Some(Created::Subnet(netuid)))
}

/// The lowest netuid in `1..=max_subnets` not in use.
pub(crate) fn free_netuid(state: &State, max_subnets: u16) -> Option<NetUid> {
    (1..=max_subnets)
        .map(NetUid)
        .find(|n| !state.subnets.contains(n))
}

/// `SetHyperparameters`: replaces a subnet's rules. Takes effect at once (a changed `tempo`
/// moves the epoch schedule, which is `(block − created_at) % tempo == 0`).
///
/// Errors, in order: [`TxError::UnknownSubnet`], [`TxError::NotSubnetOwner`],
/// [`TxError::InvalidHyperparameter`] (out of range, or `max_allowed_uids` below the UIDs
/// already in use).
pub(super) fn set_hyperparameters(
    state: &mut State,
    signer: &PublicKey,
    netuid: NetUid,
    hyperparameters: &Hyperparameters,
) -> Result<Option<Created>, TxError> {
    let record = subnet(state, netuid)?;
    if record.owner != *signer {
        return Err(TxError::NotSubnetOwner { netuid });
    }
    hyperparameters.validate()?;
    if hyperparameters.max_allowed_uids < record.n {
        return Err(TxError::InvalidHyperparameter(HyperparameterError {
            name: "max_allowed_uids".into(),
            reason: format!("must be at least the {} UIDs in use", record.n),
        }));
    }
    if let Some(record) = state.subnets.get_mut(&netuid) {
        record.hyperparameters = hyperparameters.clone();
    }
    Ok(None)
}
