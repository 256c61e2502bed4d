//! Weights: `SetWeights`, `CommitWeights`, `RevealWeights`.
//!
//! # Reveal windows
//!
//! A subnet's epoch `k` runs at the end of block `created_at + k·tempo`. Block `b` belongs to
//! epoch interval `e(b) = ⌈(b − created_at) / tempo⌉`: the blocks whose transactions the epoch
//! `e(b)` is the first to see. A commit made in block `c` may be revealed only in the blocks of
//! interval `e(c) + commit_reveal_period`, that is from
//! `opens = created_at + (e(c) + period − 1)·tempo + 1` to
//! `closes = created_at + (e(c) + period)·tempo`, both included. Before `opens` a reveal is
//! [`TxError::RevealTooEarly`]; after `closes` the commit has expired and a reveal is
//! [`TxError::RevealTooLate`]. Expired commits are kept (at most [`MAX_PENDING_COMMITS`] per
//! hotkey and subnet) until the hotkey commits or reveals again, or loses its UID, so that a
//! late reveal is told it is late. Windows follow the subnet's current `tempo`.

use subnet_protocol::ainft::Digest;
use subnet_protocol::chain::TxError;
use subnet_protocol::ids::{BlockNumber, NetUid, Uid};
use subnet_protocol::keys::PublicKey;
use subnet_scoring::weights::{WeightCommit as CommitPreimage, is_max_weight_limited, max_upscale};

use super::{Created, registered, subnet};
use crate::state::{State, SubnetRecord, WeightCommit};

/// Most unrevealed, unexpired commits one hotkey may hold on one subnet.
pub(crate) const MAX_PENDING_COMMITS: usize = 10;

/// Weights as submitted by `SetWeights` or `RevealWeights`.
#[derive(Debug)]
pub(super) struct Submission<'a> {
    pub(super) uids: &'a [Uid],
    pub(super) values: &'a [u16],
    pub(super) version_key: u64,
}

/// `SetWeights` on a subnet without commit-reveal.
///
/// Errors, in order: [`TxError::UnknownSubnet`], [`TxError::CommitRevealMode`],
/// [`TxError::NotRegistered`], then those of [`check_submission`].
pub(super) fn set_weights(
    state: &mut State,
    signer: &PublicKey,
    netuid: NetUid,
    submission: &Submission<'_>,
    at: BlockNumber,
) -> Result<Option<Created>, TxError> {
    let record = subnet(state, netuid)?;
    if record.hyperparameters.commit_reveal_weights_enabled {
        return Err(TxError::CommitRevealMode {
            enabled: true,
            netuid,
        });
    }
    let uid = registered(state, netuid, signer)?;
    let row = check_submission(state, record, netuid, uid, submission, at)?;
    store(state, netuid, uid, row, at);
    Ok(None)
}

/// `CommitWeights`: records `hash` (a [`CommitPreimage::hash`]) with this block.
///
/// Errors, in order: [`TxError::UnknownSubnet`], [`TxError::CommitRevealMode`],
/// [`TxError::NotRegistered`], [`TxError::NoValidatorPermit`], [`TxError::TooManyCommits`]
/// (already [`MAX_PENDING_COMMITS`] unexpired commits).
pub(super) fn commit(
    state: &mut State,
    signer: &PublicKey,
    netuid: NetUid,
    hash: Digest,
    at: BlockNumber,
) -> Result<Option<Created>, TxError> {
    let record = subnet(state, netuid)?;
    if !record.hyperparameters.commit_reveal_weights_enabled {
        return Err(TxError::CommitRevealMode {
            enabled: false,
            netuid,
        });
    }
    let uid = registered(state, netuid, signer)?;
    if !state
        .neurons
        .get(&(netuid, uid))
        .is_some_and(|n| n.validator_permit)
    {
        return Err(TxError::NoValidatorPermit { netuid });
    }
    let key = (netuid, *signer);
    let mut live: Vec<WeightCommit> = state
        .commits
        .get(&key)
        .map(|list| {
            list.iter()
                .copied()
                .filter(|c| commit_is_live(record, c.block, at))
                .collect()
        })
        .unwrap_or_default();
    if live.len() >= MAX_PENDING_COMMITS {
        return Err(TxError::TooManyCommits);
    }
    live.push(WeightCommit { hash, block: at });
    state.commits.insert(key, live);
    Ok(None)
}

/// `RevealWeights`: finds the signer's pending commit whose hash is the submission's (with
/// `salt`), checks its window, then applies the weights as `SetWeights` does (every check of
/// [`check_submission`], the rate limit included) and consumes the commit. When several
/// commits match, the oldest one whose window is open is used.
///
/// Errors, in order: [`TxError::UnknownSubnet`], [`TxError::CommitRevealMode`],
/// [`TxError::NotRegistered`], [`TxError::RevealMismatch`], [`TxError::RevealTooEarly`],
/// [`TxError::RevealTooLate`], then those of [`check_submission`].
pub(super) fn reveal(
    state: &mut State,
    signer: &PublicKey,
    netuid: NetUid,
    submission: &Submission<'_>,
    salt: &[u8],
    at: BlockNumber,
) -> Result<Option<Created>, TxError> {
    let record = subnet(state, netuid)?;
    if !record.hyperparameters.commit_reveal_weights_enabled {
        return Err(TxError::CommitRevealMode {
            enabled: false,
            netuid,
        });
    }
    let uid = registered(state, netuid, signer)?;
    let uids: Vec<u16> = submission.uids.iter().map(|u| u.0).collect();
    let hash = Digest::from_bytes(
        CommitPreimage {
            hotkey: signer.as_bytes(),
            netuid: netuid.0,
            uids: &uids,
            values: submission.values,
            salt,
            version_key: submission.version_key,
        }
        .hash(),
    );
    let key = (netuid, *signer);
    let commits = state
        .commits
        .get(&key)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let matching: Vec<(usize, BlockNumber, BlockNumber)> = commits
        .iter()
        .enumerate()
        .filter(|(_, c)| c.hash == hash)
        .map(|(i, c)| {
            let (opens, closes) = reveal_window(record, c.block);
            (i, opens, closes)
        })
        .collect();
    let Some(&(index, _, _)) = matching
        .iter()
        .find(|(_, opens, closes)| *opens <= at && at <= *closes)
    else {
        if let Some(opens) = matching.iter().map(|m| m.1).filter(|o| at < *o).min() {
            return Err(TxError::RevealTooEarly { opens });
        }
        return match matching.iter().map(|m| m.2).max() {
            Some(closed) => Err(TxError::RevealTooLate { closed }),
            None => Err(TxError::RevealMismatch),
        };
    };
    let row = check_submission(state, record, netuid, uid, submission, at)?;
    let remaining: Vec<WeightCommit> = commits
        .iter()
        .enumerate()
        .filter(|(i, c)| *i != index && commit_is_live(record, c.block, at))
        .map(|(_, c)| *c)
        .collect();
    if remaining.is_empty() {
        state.commits.remove(&key);
    } else {
        state.commits.insert(key, remaining);
    }
    store(state, netuid, uid, row, at);
    Ok(None)
}

/// Interval index of block `b` (see the module docs).
fn interval(record: &SubnetRecord, b: BlockNumber) -> u64 {
    let tempo = u64::from(record.hyperparameters.tempo.max(1));
    b.saturating_since(record.created_at).div_ceil(tempo)
}

/// First and last block in which a commit made in block `commit_block` may be revealed.
pub(crate) fn reveal_window(
    record: &SubnetRecord,
    commit_block: BlockNumber,
) -> (BlockNumber, BlockNumber) {
    let tempo = u64::from(record.hyperparameters.tempo.max(1));
    let window =
        interval(record, commit_block).saturating_add(record.hyperparameters.commit_reveal_period);
    let closes = record
        .created_at
        .saturating_add(window.saturating_mul(tempo));
    let opens = closes.saturating_sub(tempo).saturating_add(1);
    (opens, closes)
}

/// Whether a commit made in `commit_block` can still be revealed at or after block `at`.
pub(crate) fn commit_is_live(
    record: &SubnetRecord,
    commit_block: BlockNumber,
    at: BlockNumber,
) -> bool {
    at <= reveal_window(record, commit_block).1
}

/// The checks of a weight submission by `uid`, returning the row to store: sorted by UID,
/// values max-upscaled (YUMA_SPEC §2.3).
///
/// Errors, in order: [`TxError::NoValidatorPermit`] (permit of the last epoch),
/// [`TxError::WeightsLengthMismatch`], [`TxError::IncorrectWeightsVersion`] (`version_key` below
/// `weights_version`), [`TxError::WeightsRateLimited`] (allowed when
/// `at − last weights ≥ weights_rate_limit`; the first weights are always allowed),
/// [`TxError::UnknownUid`] / [`TxError::DuplicateUid`] (first offending UID in submission
/// order), [`TxError::TooFewWeights`] (fewer non-zero values than
/// `min(min_allowed_weights, n)`), [`TxError::MaxWeightExceeded`] (a share of the normalised
/// values above `max_weight_limit`, the chain's fixed-point check).
fn check_submission(
    state: &State,
    record: &SubnetRecord,
    netuid: NetUid,
    uid: Uid,
    submission: &Submission<'_>,
    at: BlockNumber,
) -> Result<Vec<(u16, u16)>, TxError> {
    let hp = &record.hyperparameters;
    let neuron = state
        .neurons
        .get(&(netuid, uid))
        .ok_or(TxError::NoValidatorPermit { netuid })?;
    if !neuron.validator_permit {
        return Err(TxError::NoValidatorPermit { netuid });
    }
    let Submission {
        uids,
        values,
        version_key,
    } = *submission;
    if uids.len() != values.len() {
        return Err(TxError::WeightsLengthMismatch {
            uids: uids.len(),
            values: values.len(),
        });
    }
    if version_key < hp.weights_version {
        return Err(TxError::IncorrectWeightsVersion {
            got: version_key,
            required: hp.weights_version,
        });
    }
    if let Some(last) = neuron.weights_set_at
        && at.saturating_since(last) < hp.weights_rate_limit
    {
        return Err(TxError::WeightsRateLimited {
            next_allowed: last.saturating_add(hp.weights_rate_limit),
        });
    }
    let n = record.n;
    let mut seen = vec![false; usize::from(n)];
    for &target in uids {
        let Some(slot) = seen.get_mut(target.index()) else {
            return Err(TxError::UnknownUid { uid: target, n });
        };
        if *slot {
            return Err(TxError::DuplicateUid { uid: target });
        }
        *slot = true;
    }
    let non_zero = values.iter().filter(|v| **v != 0).count();
    if non_zero < usize::from(hp.min_allowed_weights.min(n)) {
        return Err(TxError::TooFewWeights {
            got: non_zero,
            min: hp.min_allowed_weights,
        });
    }
    if !is_max_weight_limited(values, hp.max_weight_limit) {
        return Err(TxError::MaxWeightExceeded {
            limit: hp.max_weight_limit,
        });
    }
    let mut row: Vec<(u16, u16)> = uids.iter().map(|u| u.0).zip(max_upscale(values)).collect();
    row.sort_unstable_by_key(|&(j, _)| j);
    Ok(row)
}

/// Stores a checked row and records the update.
fn store(state: &mut State, netuid: NetUid, uid: Uid, row: Vec<(u16, u16)>, at: BlockNumber) {
    state.weights.insert((netuid, uid), row);
    if let Some(neuron) = state.neurons.get_mut(&(netuid, uid)) {
        neuron.last_update = at;
        neuron.weights_set_at = Some(at);
    }
}
