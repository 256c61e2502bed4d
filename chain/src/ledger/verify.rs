//! Signature checks and encodings of a block's transactions, computed once per transaction and
//! on several threads for large blocks.

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;
use subnet_protocol::ainft::Digest;
use subnet_protocol::chain::{SignedTransaction, TX_SIGNING_TAG};
use subnet_protocol::keys::PublicKey;

/// Blocks with at least this many transactions are checked on several threads.
const PARALLEL_MIN: usize = 64;
/// Most threads used for one block.
const MAX_THREADS: usize = 8;
/// Decompressed keys kept between blocks; the cache is emptied when it grows past this.
const KEY_CACHE_CAPACITY: usize = 65_536;

/// A transaction whose signature has verified (as [`SignedTransaction::verify_signature`]).
///
/// It can only be made by [`VerifiedTransaction::verify`], so holding one proves the check
/// ran; a signature's validity depends on nothing but the transaction's own bytes, so the
/// proof stays valid while the transaction waits. [`Ledger::produce_block_verified`](
/// super::Ledger::produce_block_verified) skips the signature check for these and still checks
/// everything else (genesis, expiry, nonce, the call) against the state of its block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTransaction(SignedTransaction);

impl VerifiedTransaction {
    /// Verifies `tx`'s signature (`verify_strict` against `tx.tx.signer`).
    ///
    /// # Errors
    /// The transaction back, unchanged, when its signature does not verify or its signer is
    /// not a valid key.
    pub fn verify(tx: SignedTransaction) -> Result<Self, Box<SignedTransaction>> {
        match tx.verify_signature() {
            Ok(()) => Ok(Self(tx)),
            Err(_) => Err(Box::new(tx)),
        }
    }

    /// The transaction.
    pub const fn tx(&self) -> &SignedTransaction {
        &self.0
    }

    /// The transaction, dropping the proof.
    pub fn into_inner(self) -> SignedTransaction {
        self.0
    }
}

/// One transaction, checked and encoded.
#[derive(Debug)]
pub(super) struct Prepared {
    /// Whether the signature verifies (as [`SignedTransaction::verify_signature`]).
    pub(super) signature_ok: bool,
    /// [`SignedTransaction::hash`].
    pub(super) hash: Digest,
    /// [`SignedTransaction::encode`].
    pub(super) encoded: Vec<u8>,
}

/// Decompressed public keys of recent signers (`None`: not a valid point).
///
/// Decompression is about a third of a verification and a block's signers repeat. The cache
/// changes only which work is done, never a result: a cached key verifies with the same
/// `verify_strict` that [`PublicKey::verify`] runs.
#[derive(Debug, Default)]
pub(super) struct KeyCache {
    keys: BTreeMap<PublicKey, Option<VerifyingKey>>,
}

impl KeyCache {
    /// Decompresses the signers of `txs` not yet cached.
    fn fill(&mut self, txs: &[SignedTransaction]) {
        if self.keys.len() > KEY_CACHE_CAPACITY {
            self.keys.clear();
        }
        for tx in txs {
            let signer = tx.tx.signer;
            self.keys
                .entry(signer)
                .or_insert_with(|| VerifyingKey::from_bytes(signer.as_bytes()).ok());
        }
    }

    fn get(&self, key: &PublicKey) -> Option<&VerifyingKey> {
        self.keys.get(key).and_then(Option::as_ref)
    }
}

/// Checks and encodes every transaction; the result does not depend on the number of threads.
/// With `verified`, every transaction is a [`VerifiedTransaction`]'s and only encoding is left.
pub(super) fn prepare_all(
    txs: &[SignedTransaction],
    cache: &mut KeyCache,
    verified: bool,
) -> Vec<Prepared> {
    if verified {
        // Encoding alone is a few µs per transaction: not worth the threads.
        return txs
            .iter()
            .map(|tx| encoded(tx, &tx.tx.signing_bytes(), true))
            .collect();
    }
    cache.fill(txs);
    let cache = &*cache;
    let run = |chunk: &[SignedTransaction]| -> Vec<Prepared> {
        chunk.iter().map(|tx| prepare(tx, cache)).collect()
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(MAX_THREADS);
    if txs.len() < PARALLEL_MIN || threads <= 1 {
        return run(txs);
    }
    let chunk = txs.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = txs
            .chunks(chunk)
            .map(|c| (c, scope.spawn(move || run(c))))
            .collect();
        handles
            .into_iter()
            // A worker cannot panic; if one did, its chunk is redone here.
            .flat_map(|(c, h)| h.join().unwrap_or_else(|_| run(c)))
            .collect()
    })
}

/// One transaction: the signing bytes are encoded once and give both the signature check and
/// the wire encoding (`postcard(tx) ‖ signature`, exactly [`SignedTransaction::encode`]).
fn prepare(tx: &SignedTransaction, cache: &KeyCache) -> Prepared {
    let signing = tx.tx.signing_bytes();
    let signature_ok = cache.get(&tx.tx.signer).is_some_and(|key| {
        let sig = ed25519_dalek::Signature::from_bytes(tx.signature.as_bytes());
        key.verify_strict(&signing, &sig).is_ok()
    });
    encoded(tx, &signing, signature_ok)
}

fn encoded(tx: &SignedTransaction, signing: &[u8], signature_ok: bool) -> Prepared {
    let body = signing.get(TX_SIGNING_TAG.len()..).unwrap_or_default();
    let mut encoded = Vec::with_capacity(body.len().saturating_add(64));
    encoded.extend_from_slice(body);
    encoded.extend_from_slice(tx.signature.as_bytes());
    let hash = Digest::of(&encoded);
    Prepared {
        signature_ok,
        hash,
        encoded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use subnet_protocol::chain::{Call, Transaction};
    use subnet_protocol::ids::{BlockNumber, NetUid, Rao, Uid};
    use subnet_protocol::keys::Keypair;

    fn txs() -> Vec<SignedTransaction> {
        let keys = [Keypair::dev("a"), Keypair::dev("b"), Keypair::dev("c")];
        (0..100u64)
            .map(|i| {
                let key = &keys[(i % 3) as usize];
                let call = if i % 2 == 0 {
                    Call::Transfer {
                        dest: key.public(),
                        amount: Rao(i),
                    }
                } else {
                    Call::SetWeights {
                        netuid: NetUid(1),
                        uids: (0..i as u16).map(Uid).collect(),
                        values: (0..i as u16).collect(),
                        version_key: i,
                    }
                };
                let mut tx = Transaction {
                    signer: key.public(),
                    nonce: i,
                    genesis_hash: Digest::default(),
                    valid_until: BlockNumber(i),
                    call,
                }
                .sign(key);
                if i % 7 == 3 {
                    tx.tx.nonce += 1000;
                }
                if i == 50 {
                    // Not a curve point: never verifies.
                    tx.tx.signer = PublicKey::from_bytes([0xff; 32]);
                }
                tx
            })
            .collect()
    }

    #[test]
    fn prepared_matches_the_protocol_definitions_on_any_thread_count() {
        let txs = txs();
        let mut cache = KeyCache::default();
        let prepared = prepare_all(&txs, &mut cache, false);
        assert_eq!(prepared.len(), txs.len());
        for (tx, p) in txs.iter().zip(&prepared) {
            assert_eq!(p.signature_ok, tx.verify_signature().is_ok());
            assert_eq!(p.encoded, tx.encode());
            assert_eq!(p.hash, tx.hash());
        }
        assert_eq!(prepared.iter().filter(|p| !p.signature_ok).count(), 15);
        let sequential: Vec<bool> = txs
            .iter()
            .map(|t| prepare(t, &cache).signature_ok)
            .collect();
        let parallel: Vec<bool> = prepared.iter().map(|p| p.signature_ok).collect();
        assert_eq!(sequential, parallel);
    }

    #[test]
    fn verified_blocks_equal_checked_blocks() {
        use crate::{Genesis, Ledger};
        let genesis = Genesis::dev();
        let (alice, bob) = (Keypair::dev("alice"), Keypair::dev("bob"));
        let transfer = |nonce: u64, valid_until: u64| {
            Transaction {
                signer: alice.public(),
                nonce,
                genesis_hash: genesis.hash(),
                valid_until: BlockNumber(valid_until),
                call: Call::Transfer {
                    dest: bob.public(),
                    amount: Rao(5),
                },
            }
            .sign(&alice)
        };
        // Applied, stale nonce (a repeat), expired, future nonce: the state decides each one.
        let txs = vec![
            transfer(0, 10),
            transfer(1, 10),
            transfer(1, 10),
            transfer(2, 0),
            transfer(9, 10),
        ];
        let verified: Vec<VerifiedTransaction> = txs
            .iter()
            .cloned()
            .map(|t| VerifiedTransaction::verify(t).unwrap())
            .collect();
        let mut checked = Ledger::open_temporary(&genesis).unwrap();
        let mut trusted = Ledger::open_temporary(&genesis).unwrap();
        for v in &verified {
            assert_eq!(
                trusted.check_verified(v, BlockNumber(1)),
                checked.check(v.tx(), BlockNumber(1))
            );
        }
        let a = checked.produce_block(txs, 7).unwrap();
        let b = trusted.produce_block_verified(verified, 7).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.receipts.len(), 2);
        assert_eq!(a.rejected.len(), 3);

        let mut forged = transfer(3, 10);
        forged.tx.nonce = 4;
        let back = VerifiedTransaction::verify(forged.clone()).unwrap_err();
        assert_eq!(*back, forged);
    }
}
