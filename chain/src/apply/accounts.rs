//! Balances and stake: `Transfer`, `AddStake`, `RemoveStake`.
//!
//! Stake is held per (coldkey, hotkey); a hotkey's stake is the sum over its coldkeys, and it
//! counts on every subnet where the hotkey is registered. Any hotkey may be staked on, registered
//! or not.

use subnet_protocol::chain::TxError;
use subnet_protocol::ids::Rao;
use subnet_protocol::keys::PublicKey;

use super::{Created, can_pay};
use crate::state::State;

/// `Transfer`: moves `amount` from the signer's balance to `dest`'s (a transfer to oneself
/// changes nothing but the nonce).
///
/// Errors, in order: [`TxError::InvalidAmount`] (zero, or `dest`'s balance would overflow),
/// [`TxError::InsufficientBalance`].
pub(super) fn transfer(
    state: &mut State,
    signer: &PublicKey,
    dest: &PublicKey,
    amount: Rao,
) -> Result<Option<Created>, TxError> {
    if amount.is_zero() {
        return Err(TxError::InvalidAmount { amount });
    }
    if dest != signer && state.account(dest).balance.checked_add(amount).is_none() {
        return Err(TxError::InvalidAmount { amount });
    }
    can_pay(state, signer, amount)?;
    if dest != signer {
        if let Some(from) = state.accounts.get_mut(signer) {
            from.balance = from.balance.saturating_sub(amount);
        }
        state.credit_balance(dest, amount);
    }
    Ok(None)
}

/// `AddStake`: moves `amount` from the signer's balance to its stake on `hotkey`.
///
/// Errors, in order: [`TxError::InvalidAmount`] (zero, or the hotkey's total stake would
/// overflow), [`TxError::InsufficientBalance`].
pub(super) fn add_stake(
    state: &mut State,
    signer: &PublicKey,
    hotkey: &PublicKey,
    amount: Rao,
) -> Result<Option<Created>, TxError> {
    if amount.is_zero() || state.hotkey_stake(hotkey).checked_add(amount).is_none() {
        return Err(TxError::InvalidAmount { amount });
    }
    can_pay(state, signer, amount)?;
    if let Some(account) = state.accounts.get_mut(signer) {
        account.balance = account.balance.saturating_sub(amount);
    }
    state.credit_stake(signer, hotkey, amount);
    Ok(None)
}

/// `RemoveStake`: moves `amount` of the signer's stake on `hotkey` back to its balance.
///
/// Errors, in order: [`TxError::InvalidAmount`] (zero), [`TxError::InsufficientStake`].
pub(super) fn remove_stake(
    state: &mut State,
    signer: &PublicKey,
    hotkey: &PublicKey,
    amount: Rao,
) -> Result<Option<Created>, TxError> {
    if amount.is_zero() {
        return Err(TxError::InvalidAmount { amount });
    }
    let available = state.stake(signer, hotkey);
    if available < amount {
        return Err(TxError::InsufficientStake {
            needed: amount,
            available,
        });
    }
    state.debit_stake(signer, hotkey, amount);
    state.credit_balance(signer, amount);
    Ok(None)
}
