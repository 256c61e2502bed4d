//! [`TxPool`]: admitted transactions waiting for a block, in arrival order, each with the channel
//! that answers its submitter.
//!
//! Admission keeps every signer's queued nonces contiguous from its committed nonce, so arrival
//! order is also per-signer nonce order and a block never sees a gap it did not make itself. The
//! pool is bounded in total and per signer.

use std::collections::{HashMap, VecDeque};

use subnet_chain::VerifiedTransaction;
use subnet_protocol::chain::TxError;
use subnet_protocol::chain::rpc::TxReceipt;
use subnet_protocol::keys::PublicKey;
use tokio::sync::oneshot;

use crate::config::PoolConfig;

/// What a submitter eventually hears: its receipt or why its block refused it.
pub(crate) type Verdict = Result<TxReceipt, TxError>;

/// A queued transaction.
#[derive(Debug)]
pub(crate) struct Pending {
    /// Only transactions whose signature verified are queued, so that the block need not check
    /// it again.
    pub(crate) tx: VerifiedTransaction,
    /// Dropped unanswered when the node stops, which the RPC layer reports as `UNAVAILABLE`.
    pub(crate) reply: oneshot::Sender<Verdict>,
}

/// Why a transaction was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AdmitError {
    /// The transaction itself is refused.
    Rejected(TxError),
    /// The pool (or this signer's share of it) is full; try again after a block.
    Full,
}

/// Transactions waiting for a block.
#[derive(Debug)]
pub(crate) struct TxPool {
    config: PoolConfig,
    queue: VecDeque<Pending>,
    /// Per signer with queued transactions: (queued count, nonce the next admission must carry).
    signers: HashMap<PublicKey, (usize, u64)>,
}

impl TxPool {
    pub(crate) fn new(config: PoolConfig) -> Self {
        Self {
            config,
            queue: VecDeque::new(),
            signers: HashMap::new(),
        }
    }

    /// Number of queued transactions.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Queues `tx` given the ledger's verdict on it against the committed state (`check`).
    ///
    /// The ledger checks the nonce last, so [`TxError::FutureNonce`] from it means every other
    /// envelope check passed; the pool accepts it when the nonce is exactly the next one after
    /// this signer's queued transactions.
    pub(crate) fn admit(
        &mut self,
        tx: VerifiedTransaction,
        check: Result<(), TxError>,
    ) -> Result<oneshot::Receiver<Verdict>, AdmitError> {
        let signer = tx.tx().tx.signer;
        let got = tx.tx().tx.nonce;
        let committed = match check {
            Ok(()) => got,
            Err(TxError::FutureNonce { expected, .. }) => expected,
            Err(e) => return Err(AdmitError::Rejected(e)),
        };
        let (queued, next) = self.signers.get(&signer).copied().unwrap_or((0, committed));
        if got < next {
            return Err(AdmitError::Rejected(TxError::StaleNonce {
                got,
                expected: next,
            }));
        }
        if got > next {
            return Err(AdmitError::Rejected(TxError::FutureNonce {
                got,
                expected: next,
            }));
        }
        if self.queue.len() >= self.config.max_pending || queued >= self.config.max_per_signer {
            return Err(AdmitError::Full);
        }
        self.signers
            .insert(signer, (queued.saturating_add(1), next.saturating_add(1)));
        let (reply, receiver) = oneshot::channel();
        self.queue.push_back(Pending { tx, reply });
        Ok(receiver)
    }

    /// Takes up to `max_block_txs` transactions from the front for the next block.
    ///
    /// The signers' next nonces still count the taken transactions until [`Self::after_block`],
    /// so nothing admitted meanwhile can reuse their nonces.
    pub(crate) fn take_batch(&mut self) -> Vec<Pending> {
        let n = self.queue.len().min(self.config.max_block_txs);
        self.queue.drain(..n).collect()
    }

    /// Re-bases the pool on the state after a block: `committed_nonce` gives each signer's
    /// nonce now. Queued transactions whose nonces no longer follow on (an earlier one of the
    /// same signer was refused in the block) are removed and returned with their error.
    pub(crate) fn after_block(
        &mut self,
        committed_nonce: impl Fn(&PublicKey) -> u64,
    ) -> Vec<(Pending, TxError)> {
        self.signers.clear();
        let mut dropped = Vec::new();
        let mut kept = VecDeque::with_capacity(self.queue.len());
        for pending in self.queue.drain(..) {
            let signer = pending.tx.tx().tx.signer;
            let entry = self
                .signers
                .entry(signer)
                .or_insert_with(|| (0, committed_nonce(&signer)));
            let got = pending.tx.tx().tx.nonce;
            let expected = entry.1;
            if got == expected {
                *entry = (entry.0.saturating_add(1), expected.saturating_add(1));
                kept.push_back(pending);
            } else if got < expected {
                dropped.push((pending, TxError::StaleNonce { got, expected }));
            } else {
                dropped.push((pending, TxError::FutureNonce { got, expected }));
            }
        }
        self.signers.retain(|_, (count, _)| *count > 0);
        self.queue = kept;
        dropped
    }

    /// Empties the pool (at shutdown): dropping the replies tells each waiting submitter that
    /// the node stopped.
    pub(crate) fn clear(&mut self) {
        self.queue.clear();
        self.signers.clear();
    }
}

#[cfg(test)]
mod tests {
    use subnet_protocol::ainft::Digest;
    use subnet_protocol::chain::{Call, Transaction};
    use subnet_protocol::ids::{BlockNumber, Rao};
    use subnet_protocol::keys::Keypair;

    use super::*;

    fn tx(key: &Keypair, nonce: u64) -> VerifiedTransaction {
        let signed = Transaction {
            signer: key.public(),
            nonce,
            genesis_hash: Digest::of(b"g"),
            valid_until: BlockNumber(10),
            call: Call::Transfer {
                dest: key.public(),
                amount: Rao(1),
            },
        }
        .sign(key);
        VerifiedTransaction::verify(signed).unwrap()
    }

    /// What the ledger says of `nonce` when the account's committed nonce is `committed`.
    fn check(nonce: u64, committed: u64) -> Result<(), TxError> {
        match nonce.cmp(&committed) {
            std::cmp::Ordering::Equal => Ok(()),
            std::cmp::Ordering::Less => Err(TxError::StaleNonce {
                got: nonce,
                expected: committed,
            }),
            std::cmp::Ordering::Greater => Err(TxError::FutureNonce {
                got: nonce,
                expected: committed,
            }),
        }
    }

    fn config() -> PoolConfig {
        PoolConfig {
            max_pending: 5,
            max_per_signer: 3,
            max_block_txs: 2,
        }
    }

    #[test]
    fn queues_contiguous_nonces_per_signer() {
        let (a, b) = (Keypair::dev("a"), Keypair::dev("b"));
        let mut pool = TxPool::new(config());
        pool.admit(tx(&a, 5), check(5, 5)).unwrap();
        pool.admit(tx(&b, 0), check(0, 0)).unwrap();
        pool.admit(tx(&a, 6), check(6, 5)).unwrap();
        assert_eq!(
            pool.admit(tx(&a, 6), check(6, 5)).unwrap_err(),
            AdmitError::Rejected(TxError::StaleNonce {
                got: 6,
                expected: 7
            })
        );
        assert_eq!(
            pool.admit(tx(&a, 9), check(9, 5)).unwrap_err(),
            AdmitError::Rejected(TxError::FutureNonce {
                got: 9,
                expected: 7
            })
        );
        assert_eq!(
            pool.admit(tx(&a, 4), check(4, 5)).unwrap_err(),
            AdmitError::Rejected(TxError::StaleNonce {
                got: 4,
                expected: 5
            })
        );
        assert_eq!(
            pool.admit(tx(&a, 7), Err(TxError::BadSignature))
                .unwrap_err(),
            AdmitError::Rejected(TxError::BadSignature)
        );
        pool.admit(tx(&a, 7), check(7, 5)).unwrap();
        assert_eq!(
            pool.admit(tx(&a, 8), check(8, 5)).unwrap_err(),
            AdmitError::Full
        );
        pool.admit(tx(&b, 1), check(1, 0)).unwrap();
        assert_eq!(
            pool.admit(tx(&b, 2), check(2, 0)).unwrap_err(),
            AdmitError::Full
        );
        let batch = pool.take_batch();
        let order: Vec<u64> = batch.iter().map(|p| p.tx.tx().tx.nonce).collect();
        assert_eq!(order, vec![5, 0]);
        // While the batch is in a block, later nonces still follow the queued ones.
        assert_eq!(pool.len(), 3);
        pool.admit(tx(&b, 2), check(2, 0)).unwrap();
    }

    #[test]
    fn after_block_drops_what_no_longer_follows() {
        let a = Keypair::dev("a");
        let mut pool = TxPool::new(PoolConfig {
            max_block_txs: 1,
            ..config()
        });
        pool.admit(tx(&a, 0), check(0, 0)).unwrap();
        pool.admit(tx(&a, 1), check(1, 0)).unwrap();
        let mut r2 = pool.admit(tx(&a, 2), check(2, 0)).unwrap();
        let _first = pool.take_batch();
        // The block refused nonce 0, so the account's nonce stays 0 and 1, 2 cannot follow.
        let dropped = pool.after_block(|_| 0);
        let errors: Vec<TxError> = dropped.into_iter().map(|(_, e)| e).collect();
        assert_eq!(
            errors,
            vec![
                TxError::FutureNonce {
                    got: 1,
                    expected: 0
                },
                TxError::FutureNonce {
                    got: 2,
                    expected: 0
                }
            ]
        );
        assert_eq!(pool.len(), 0);
        assert!(r2.try_recv().is_err());
        pool.admit(tx(&a, 0), check(0, 0)).unwrap();
        pool.admit(tx(&a, 1), check(1, 0)).unwrap();
        let _ = pool.take_batch();
        assert!(pool.after_block(|_| 1).is_empty());
        assert_eq!(pool.len(), 1);
        pool.admit(tx(&a, 2), check(2, 1)).unwrap();
    }
}
