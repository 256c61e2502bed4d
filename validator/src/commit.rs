//! Putting weights on chain: set them every tempo, or, on a commit-reveal subnet, commit to
//! them and reveal them inside the chain's reveal window. Pending commitments live in the
//! [`Store`], so a restarted validator still reveals.
//!
//! # Cadence
//!
//! Weights (or a commitment) go out when none went out for `max(tempo, weights_rate_limit)`
//! blocks, and only while the validator holds a validator permit and some miner scored above
//! 0. A reveal goes out as soon as the next block falls in its window ([`reveal_window`]).
//! Chain calls are retried with backoff when the chain is unreachable ([`crate::backoff`]);
//! a rejected write is logged, counted and left for the next tick.

use std::collections::BTreeMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use subnet_chain_client::{Chain, ChainError};
use subnet_protocol::ainft::Digest;
use subnet_protocol::chain::{Metagraph, SubnetInfo, TxError};
use subnet_protocol::ids::{BlockNumber, NetUid, Uid};
use subnet_protocol::keys::Keypair;
use subnet_scoring::weights::{WeightCommit, WeightLimits, WeightsError};

use crate::backoff::retry;
use crate::metrics::ValidatorMetrics;
use crate::score;
use crate::store::{LastWeights, PendingCommit, Store, StoreError};

/// Bytes of random salt in a commitment.
pub const SALT_BYTES: usize = 16;

/// What a weights tick did.
#[derive(Debug, Clone, PartialEq)]
pub enum WeightsEvent {
    /// Weights set in `block`.
    Set {
        /// The block.
        block: BlockNumber,
        /// UIDs weighted.
        uids: Vec<u16>,
        /// Their u16 weights.
        values: Vec<u16>,
    },
    /// A commitment landed in `block`, to reveal in `opens..=closes`.
    Committed {
        /// The block.
        block: BlockNumber,
        /// First block of its reveal window.
        opens: BlockNumber,
        /// Last block of its reveal window.
        closes: BlockNumber,
    },
    /// The commitment of `commit_block` was revealed in `block`.
    Revealed {
        /// The commitment's block.
        commit_block: BlockNumber,
        /// The reveal's block.
        block: BlockNumber,
    },
    /// The commitment of `commit_block` can no longer be revealed and was dropped.
    Dropped {
        /// The commitment's block.
        commit_block: BlockNumber,
    },
    /// Weights were due but not submitted.
    Skipped(SkipReason),
}

/// Why due weights were not submitted.
#[derive(Debug, Clone, PartialEq)]
pub enum SkipReason {
    /// The validator has no validator permit (yet).
    NoPermit,
    /// No miner scored above 0.
    NothingToSet,
    /// The scores cannot meet the subnet's weight limits.
    Limits(WeightsError),
    /// The chain refused the write.
    Rejected(TxError),
    /// The chain could not be reached.
    Unavailable,
}

/// Why a weights tick failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The subnet could not be read.
    #[error("reading the subnet")]
    Chain(#[from] ChainError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// First and last block in which a commitment made in `commit_block` may be revealed, by the
/// chain's rule: block `b` is in epoch interval `e(b) = ⌈(b − created_at) / tempo⌉`, and a
/// commit of interval `e(c)` is revealed in interval `e(c) + period`, the blocks
/// `created_at + (e(c) + period − 1)·tempo + 1 ..= created_at + (e(c) + period)·tempo`.
pub fn reveal_window(
    created_at: BlockNumber,
    tempo: u16,
    period: u64,
    commit_block: BlockNumber,
) -> (BlockNumber, BlockNumber) {
    let tempo = u64::from(tempo.max(1));
    let interval = commit_block.saturating_since(created_at).div_ceil(tempo);
    let closes = created_at.saturating_add(interval.saturating_add(period).saturating_mul(tempo));
    let opens = closes.saturating_sub(tempo).saturating_add(1);
    (opens, closes)
}

/// Sets, commits and reveals a validator's weights.
#[derive(Debug)]
pub(crate) struct Committer {
    pub(crate) netuid: NetUid,
    pub(crate) hotkey: Keypair,
    pub(crate) metrics: ValidatorMetrics,
}

impl Committer {
    /// One tick at chain height `metagraph.block`: reveals what can be revealed, drops what
    /// expired, then sets or commits weights from `scores` if they are due.
    ///
    /// # Errors
    /// [`CommitError`] if the subnet cannot be read or the store fails; rejected writes are
    /// reported as events, not errors.
    pub(crate) async fn tick<C: Chain>(
        &self,
        chain: &C,
        store: &Store,
        metagraph: &Metagraph,
        scores: &BTreeMap<Uid, f64>,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<WeightsEvent>, CommitError> {
        let subnet = retry("subnet", &self.metrics, || chain.subnet(self.netuid)).await?;
        let height = metagraph.block;
        let mut events = self.reveal(chain, store, &subnet, height).await?;
        let hp = &subnet.hyperparameters;
        let every = u64::from(hp.tempo).max(hp.weights_rate_limit).max(1);
        let last = if hp.commit_reveal_weights_enabled {
            store.last_commit()?
        } else {
            store.last_weights()?.map(|w| w.block)
        };
        if last.is_some_and(|b| height.saturating_since(b) < every) {
            return Ok(events);
        }
        let me = self.hotkey.public();
        if !metagraph.by_hotkey(&me).is_some_and(|n| n.validator_permit) {
            events.push(WeightsEvent::Skipped(SkipReason::NoPermit));
            return Ok(events);
        }
        let limits = WeightLimits {
            max_weight_limit: hp.max_weight_limit,
            min_allowed_weights: hp.min_allowed_weights,
        };
        let n = u16::try_from(metagraph.neurons.len()).unwrap_or(u16::MAX);
        let vector = match score::weights(scores, n, limits) {
            Ok(v) => v,
            Err(WeightsError::NoPositiveScore) => {
                events.push(WeightsEvent::Skipped(SkipReason::NothingToSet));
                return Ok(events);
            }
            Err(e) => {
                tracing::warn!(error = %e, "scores cannot meet the weight limits");
                events.push(WeightsEvent::Skipped(SkipReason::Limits(e)));
                return Ok(events);
            }
        };
        let uids: Vec<Uid> = vector.uids.iter().copied().map(Uid).collect();
        let version_key = hp.weights_version;
        if hp.commit_reveal_weights_enabled {
            let mut salt = vec![0u8; SALT_BYTES];
            for pair in salt.chunks_mut(8) {
                let bytes = rng.next_u64().to_le_bytes();
                pair.copy_from_slice(&bytes[..pair.len()]);
            }
            let hash = Digest::from_bytes(
                WeightCommit {
                    hotkey: me.as_bytes(),
                    netuid: self.netuid.0,
                    uids: &vector.uids,
                    values: &vector.values,
                    salt: &salt,
                    version_key,
                }
                .hash(),
            );
            let written = retry("commit_weights", &self.metrics, || {
                chain.commit_weights(&self.hotkey, self.netuid, hash)
            })
            .await;
            match written {
                Ok(receipt) => {
                    let (opens, closes) = reveal_window(
                        subnet.created_at,
                        hp.tempo,
                        hp.commit_reveal_period,
                        receipt.block,
                    );
                    store.add_commit(&PendingCommit {
                        block: receipt.block,
                        opens,
                        closes,
                        hash,
                        uids: vector.uids,
                        values: vector.values,
                        salt,
                        version_key,
                    })?;
                    store.flush().await?;
                    self.metrics.weights_submitted("commit", "ok");
                    tracing::info!(block = %receipt.block, %opens, %closes, "weights committed");
                    events.push(WeightsEvent::Committed {
                        block: receipt.block,
                        opens,
                        closes,
                    });
                }
                Err(e) => events.push(self.failed("commit", e)),
            }
        } else {
            let written = retry("set_weights", &self.metrics, || {
                chain.set_weights(
                    &self.hotkey,
                    self.netuid,
                    uids.clone(),
                    vector.values.clone(),
                    version_key,
                )
            })
            .await;
            match written {
                Ok(receipt) => {
                    store.set_last_weights(&LastWeights {
                        block: receipt.block,
                        uids: vector.uids.clone(),
                        values: vector.values.clone(),
                    })?;
                    store.flush().await?;
                    self.metrics.weights_submitted("set", "ok");
                    tracing::info!(block = %receipt.block, uids = ?vector.uids,
                        values = ?vector.values, "weights set");
                    events.push(WeightsEvent::Set {
                        block: receipt.block,
                        uids: vector.uids,
                        values: vector.values,
                    });
                }
                Err(e) => events.push(self.failed("set", e)),
            }
        }
        Ok(events)
    }

    fn failed(&self, action: &str, e: ChainError) -> WeightsEvent {
        match e {
            ChainError::Rejected(tx) => {
                self.metrics.weights_submitted(action, "rejected");
                tracing::warn!(action, error = %tx, "weights rejected");
                WeightsEvent::Skipped(SkipReason::Rejected(tx))
            }
            other => {
                self.metrics.weights_submitted(action, "failed");
                tracing::warn!(action, error = %other, "weights not submitted");
                WeightsEvent::Skipped(SkipReason::Unavailable)
            }
        }
    }

    /// Reveals each pending commitment whose window holds the next block; drops those whose
    /// window has passed or that the chain will never accept.
    async fn reveal<C: Chain>(
        &self,
        chain: &C,
        store: &Store,
        subnet: &SubnetInfo,
        height: BlockNumber,
    ) -> Result<Vec<WeightsEvent>, CommitError> {
        let mut events = Vec::new();
        // A write lands in the block after the current one.
        let next = height.saturating_add(1);
        for commit in store.commits()? {
            if next > commit.closes {
                tracing::warn!(commit_block = %commit.block, closes = %commit.closes,
                    "reveal window passed; dropping the commitment");
                store.remove_commit(commit.block)?;
                self.metrics.weights_submitted("reveal", "expired");
                events.push(WeightsEvent::Dropped {
                    commit_block: commit.block,
                });
                continue;
            }
            if next < commit.opens {
                continue;
            }
            let uids: Vec<Uid> = commit.uids.iter().copied().map(Uid).collect();
            let written = retry("reveal_weights", &self.metrics, || {
                chain.reveal_weights(
                    &self.hotkey,
                    subnet.netuid,
                    uids.clone(),
                    commit.values.clone(),
                    commit.salt.clone(),
                    commit.version_key,
                )
            })
            .await;
            match written {
                Ok(receipt) => {
                    store.remove_commit(commit.block)?;
                    store.set_last_weights(&LastWeights {
                        block: receipt.block,
                        uids: commit.uids.clone(),
                        values: commit.values.clone(),
                    })?;
                    store.flush().await?;
                    self.metrics.weights_submitted("reveal", "ok");
                    tracing::info!(commit_block = %commit.block, block = %receipt.block,
                        "weights revealed");
                    events.push(WeightsEvent::Revealed {
                        commit_block: commit.block,
                        block: receipt.block,
                    });
                }
                // Not yet: the chain's clock or rate limit disagrees with ours; try next block.
                Err(ChainError::Rejected(
                    TxError::RevealTooEarly { .. } | TxError::WeightsRateLimited { .. },
                )) => {
                    self.metrics.weights_submitted("reveal", "rejected");
                }
                Err(ChainError::Rejected(tx)) => {
                    tracing::warn!(commit_block = %commit.block, error = %tx,
                        "reveal refused; dropping the commitment");
                    store.remove_commit(commit.block)?;
                    self.metrics.weights_submitted("reveal", "rejected");
                    events.push(WeightsEvent::Dropped {
                        commit_block: commit.block,
                    });
                }
                Err(e) => events.push(self.failed("reveal", e)),
            }
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reveal_windows_follow_the_chain_rule() {
        // Subnet created at block 10 with tempo 5: intervals are 11..=15 (1), 16..=20 (2), ...
        let created = BlockNumber(10);
        assert_eq!(
            reveal_window(created, 5, 1, BlockNumber(12)),
            (BlockNumber(16), BlockNumber(20))
        );
        assert_eq!(
            reveal_window(created, 5, 1, BlockNumber(15)),
            (BlockNumber(16), BlockNumber(20))
        );
        assert_eq!(
            reveal_window(created, 5, 1, BlockNumber(16)),
            (BlockNumber(21), BlockNumber(25))
        );
        assert_eq!(
            reveal_window(created, 5, 2, BlockNumber(16)),
            (BlockNumber(26), BlockNumber(30))
        );
        // Block `created_at` itself is interval 0.
        assert_eq!(
            reveal_window(created, 5, 1, created),
            (BlockNumber(11), BlockNumber(15))
        );
    }
}
