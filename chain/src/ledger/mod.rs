//! [`Ledger`]: the chain state, its storage, and block production.

mod query;
mod verify;

use serde::{Deserialize, Serialize};
use subnet_protocol::ainft::Digest;
use subnet_protocol::chain::{Block, BlockHeader, SignedTransaction, TxError, rpc::TxReceipt};
use subnet_protocol::ids::{BlockNumber, NetUid, Rao};

pub use query::Supply;
pub use verify::VerifiedTransaction;

use crate::apply::{self, Rules};
use crate::epoch;
use crate::error::{OpenError, StorageError};
use crate::genesis::Genesis;
use crate::state::{Account, State, SubnetRecord};
use crate::store;

/// Domain tag of a block header hash.
pub const HEADER_TAG: &[u8] = b"subnet-header/v1";
/// Domain tag of a block's extrinsics root.
pub const EXTRINSICS_TAG: &[u8] = b"subnet-extrinsics/v1";

/// The chain's state machine and its sled database.
///
/// Deterministic: no clock or randomness is read; blocks and their timestamps are given. All
/// state lives in memory in key order and is written per changed key: each block is one atomic
/// sled batch (its changed state entries, the block itself and the chain head), flushed before
/// [`Ledger::produce_block`] returns. A crash leaves the database at the last committed block,
/// and [`Ledger::open`] continues from there.
///
/// ```
/// use subnet_chain::{Genesis, Ledger};
/// use subnet_protocol::chain::{Call, Transaction};
/// use subnet_protocol::ids::{BlockNumber, Rao};
/// use subnet_protocol::keys::Keypair;
///
/// let mut ledger = Ledger::open_temporary(&Genesis::dev())?;
/// let (alice, bob) = (Keypair::dev("alice"), Keypair::dev("bob"));
/// let tx = Transaction {
///     signer: alice.public(),
///     nonce: 0,
///     genesis_hash: ledger.info().genesis_hash,
///     valid_until: BlockNumber(100),
///     call: Call::Transfer { dest: bob.public(), amount: Rao(5) },
/// }
/// .sign(&alice);
/// ledger.check(&tx, BlockNumber(1))?;
/// let outcome = ledger.produce_block(vec![tx], 0)?;
/// assert_eq!(outcome.receipts.len(), 1);
/// assert_eq!(ledger.account(&alice.public()).nonce, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Ledger {
    db: sled::Db,
    genesis: Genesis,
    rules: Rules,
    state: State,
    height: BlockNumber,
    best_hash: Digest,
    /// Set when a block failed to commit: memory may be ahead of the database.
    poisoned: bool,
    /// Decompressed keys of recent signers.
    keys: verify::KeyCache,
}

/// The chain head, stored under [`store::META_KEY`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct ChainMeta {
    genesis_hash: Digest,
    height: BlockNumber,
    best_hash: Digest,
    state_root: Digest,
}

/// What [`Ledger::produce_block`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOutcome {
    /// The committed block: header and the accepted transactions in order.
    pub block: Block,
    /// Hash of its header ([`header_hash`]).
    pub hash: Digest,
    /// One receipt per accepted transaction, in block order.
    pub receipts: Vec<TxReceipt>,
    /// The refused transactions, which changed nothing.
    pub rejected: Vec<RejectedTx>,
    /// Payouts of the epochs that ran at the end of this block.
    pub epochs: Vec<subnet_protocol::chain::EpochEmission>,
}

/// A transaction refused by a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedTx {
    /// Its position in the list given to [`Ledger::produce_block`].
    pub index: usize,
    /// Its hash.
    pub hash: Digest,
    /// Why.
    pub error: TxError,
}

impl Ledger {
    /// Opens the ledger stored at `path`, creating it from `genesis` if the directory holds no
    /// chain yet, and continues from the last committed block.
    ///
    /// # Errors
    /// [`OpenError::Genesis`] for an invalid genesis, [`OpenError::GenesisMismatch`] when the
    /// database was created from another genesis, [`OpenError::StateRootMismatch`] when the
    /// stored state does not hash to the last header's root, [`OpenError::Storage`] when sled
    /// fails (including the directory being locked by another process).
    pub fn open(path: impl AsRef<std::path::Path>, genesis: &Genesis) -> Result<Self, OpenError> {
        genesis.validate()?;
        // Every block flushes itself; a background flusher would only add fsyncs.
        let db = sled::Config::new().path(path).flush_every_ms(None).open()?;
        Self::init(db, genesis)
    }

    /// A ledger in a temporary sled database, deleted when dropped (tests, the embedded chain).
    ///
    /// # Errors
    /// As [`Ledger::open`].
    pub fn open_temporary(genesis: &Genesis) -> Result<Self, OpenError> {
        genesis.validate()?;
        let db = sled::Config::new().temporary(true).open()?;
        Self::init(db, genesis)
    }

    fn init(db: sled::Db, genesis: &Genesis) -> Result<Self, OpenError> {
        let genesis_hash = genesis.hash();
        let rules = Rules {
            genesis_hash,
            subnet_creation_burn: genesis.subnet_creation_burn,
            max_subnets: genesis.max_subnets,
        };
        let mut ledger = Self {
            db,
            genesis: genesis.clone(),
            rules,
            state: State::new(),
            height: BlockNumber::GENESIS,
            best_hash: Digest::default(),
            poisoned: false,
            keys: verify::KeyCache::default(),
        };
        match ledger.db.get(store::META_KEY)? {
            None => ledger.write_genesis()?,
            Some(bytes) => {
                let meta: ChainMeta = postcard::from_bytes(&bytes)
                    .map_err(|_| StorageError::Corrupt { what: "chain meta" })?;
                if meta.genesis_hash != genesis_hash {
                    return Err(OpenError::GenesisMismatch {
                        stored: meta.genesis_hash,
                        given: genesis_hash,
                    });
                }
                ledger.state = State::load(&ledger.db)?;
                let loaded = ledger.state.root();
                if loaded != meta.state_root {
                    return Err(OpenError::StateRootMismatch {
                        height: meta.height.0,
                        stored: meta.state_root,
                        loaded,
                    });
                }
                ledger.height = meta.height;
                ledger.best_hash = meta.best_hash;
            }
        }
        Ok(ledger)
    }

    /// Builds block 0 from the genesis and commits it.
    fn write_genesis(&mut self) -> Result<(), StorageError> {
        let genesis = self.genesis.clone();
        for (key, balance) in &genesis.balances {
            self.state.accounts.insert(
                *key,
                Account {
                    balance: *balance,
                    nonce: 0,
                },
            );
        }
        self.state.supply_mut().issuance = genesis.total_balance().unwrap_or(Rao::MAX);
        for (i, subnet) in genesis.subnets.iter().enumerate() {
            let netuid = u16::try_from(i.saturating_add(1)).map_err(|_| StorageError::Corrupt {
                what: "genesis subnets",
            })?;
            self.state.subnets.insert(
                NetUid(netuid),
                SubnetRecord {
                    owner: subnet.owner,
                    hyperparameters: subnet.hyperparameters.clone(),
                    created_at: BlockNumber::GENESIS,
                    pending_emission: Rao::ZERO,
                    last_epoch_block: None,
                    n: 0,
                },
            );
        }
        self.commit(
            BlockNumber::GENESIS,
            self.rules.genesis_hash,
            Vec::new(),
            Encoded::default(),
            0,
        )?;
        Ok(())
    }

    /// Checks what can be checked before inclusion in block `at` (for mempool admission):
    /// genesis hash, expiry, signature and nonce, in that order. The call itself is checked when
    /// the block applies it.
    ///
    /// # Errors
    /// [`TxError::WrongGenesis`], [`TxError::Expired`], [`TxError::BadSignature`],
    /// [`TxError::StaleNonce`], [`TxError::FutureNonce`].
    pub fn check(&self, tx: &SignedTransaction, at: BlockNumber) -> Result<(), TxError> {
        apply::check_envelope(&self.state, &self.rules, tx, at, || {
            tx.verify_signature().is_ok()
        })
    }

    /// [`Ledger::check`] for a transaction whose signature already verified: the same checks
    /// in the same order, the signature counted as good.
    ///
    /// # Errors
    /// [`TxError::WrongGenesis`], [`TxError::Expired`], [`TxError::StaleNonce`],
    /// [`TxError::FutureNonce`].
    pub fn check_verified(&self, tx: &VerifiedTransaction, at: BlockNumber) -> Result<(), TxError> {
        apply::check_envelope(&self.state, &self.rules, tx.tx(), at, || true)
    }

    /// [`Ledger::produce_block`] for transactions whose signatures already verified (a node's
    /// pool admits only those): the same block, without checking their signatures again.
    /// Everything that depends on the state (genesis, expiry, nonce, the call) is checked as
    /// in [`Ledger::produce_block`].
    ///
    /// # Errors
    /// As [`Ledger::produce_block`].
    pub fn produce_block_verified(
        &mut self,
        txs: Vec<VerifiedTransaction>,
        timestamp_ms: u64,
    ) -> Result<BlockOutcome, StorageError> {
        let txs = txs
            .into_iter()
            .map(VerifiedTransaction::into_inner)
            .collect();
        self.produce(txs, timestamp_ms, true)
    }

    /// Produces and commits the next block from `txs`, applied in order.
    ///
    /// Each transaction is checked (as [`Ledger::check`], then its call) and either applied,
    /// incrementing its signer's nonce, or refused with its [`TxError`] and left out, changing
    /// nothing. Then each subnet's emission is added to its pool and the epochs due run (see
    /// [`crate::epoch`]). The state changes, the block and the new head are written as one
    /// sled batch and flushed before this returns. Signatures of large blocks are verified on
    /// several threads; the result does not depend on the number of threads.
    ///
    /// `timestamp_ms` is recorded in the header and used for nothing else.
    ///
    /// # Errors
    /// [`StorageError`] when the database fails; the ledger is then poisoned and refuses
    /// further blocks until reopened (the database still holds the previous block).
    pub fn produce_block(
        &mut self,
        txs: Vec<SignedTransaction>,
        timestamp_ms: u64,
    ) -> Result<BlockOutcome, StorageError> {
        self.produce(txs, timestamp_ms, false)
    }

    /// `verified`: every signature in `txs` is known to verify (they came out of
    /// [`VerifiedTransaction`]s).
    fn produce(
        &mut self,
        txs: Vec<SignedTransaction>,
        timestamp_ms: u64,
        verified: bool,
    ) -> Result<BlockOutcome, StorageError> {
        if self.poisoned {
            return Err(StorageError::Poisoned);
        }
        let at = self
            .height
            .checked_add(1)
            .ok_or(StorageError::HeightOverflow)?;
        let prepared = verify::prepare_all(&txs, &mut self.keys, verified);
        let mut included = Vec::with_capacity(txs.len());
        let mut encoded = Vec::with_capacity(txs.len());
        let mut receipts = Vec::with_capacity(txs.len());
        let mut rejected = Vec::new();
        for (index, (tx, p)) in txs.into_iter().zip(prepared).enumerate() {
            let result =
                apply::check_envelope(&self.state, &self.rules, &tx, at, || p.signature_ok)
                    .and_then(|()| apply::apply(&mut self.state, &self.rules, &tx, at));
            match result {
                Ok(created) => {
                    receipts.push(TxReceipt {
                        hash: p.hash,
                        block: at,
                        created: created.map(|c| c.to_string()),
                    });
                    included.push(tx);
                    encoded.push(p.encoded);
                }
                Err(error) => rejected.push(RejectedTx {
                    index,
                    hash: p.hash,
                    error,
                }),
            }
        }
        epoch::accrue(&mut self.state, at);
        let epochs = epoch::run_due(&mut self.state, at)
            .into_iter()
            .map(query::epoch_view)
            .collect();
        let parent = self.best_hash;
        let hashes: Vec<Digest> = receipts.iter().map(|r| r.hash).collect();
        let (block, hash) = self.commit(
            at,
            parent,
            included,
            Encoded {
                hashes,
                txs: encoded,
            },
            timestamp_ms,
        )?;
        Ok(BlockOutcome {
            block,
            hash,
            receipts,
            rejected,
            epochs,
        })
    }

    /// Writes the state changes, block `at` and the head as one batch, flushes, and advances.
    fn commit(
        &mut self,
        at: BlockNumber,
        parent_hash: Digest,
        transactions: Vec<SignedTransaction>,
        encoded: Encoded,
        timestamp_ms: u64,
    ) -> Result<(Block, Digest), StorageError> {
        let result = self.try_commit(at, parent_hash, transactions, encoded, timestamp_ms);
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    fn try_commit(
        &mut self,
        at: BlockNumber,
        parent_hash: Digest,
        transactions: Vec<SignedTransaction>,
        encoded: Encoded,
        timestamp_ms: u64,
    ) -> Result<(Block, Digest), StorageError> {
        let mut batch = sled::Batch::default();
        self.state.commit(&mut batch)?;
        let state_root = self.state.root();
        let header = BlockHeader {
            number: at,
            parent_hash,
            state_root,
            extrinsics_root: extrinsics_root_of(&encoded.hashes),
            timestamp_ms,
        };
        let hash = header_hash(&header);
        let block_bytes = encode_block(&header, &encoded.txs)?;
        let block = Block {
            header,
            transactions,
        };
        let meta = ChainMeta {
            genesis_hash: self.rules.genesis_hash,
            height: at,
            best_hash: hash,
            state_root,
        };
        batch.insert(&store::block_key(at.0)[..], block_bytes);
        batch.insert(
            store::META_KEY,
            postcard::to_allocvec(&meta).map_err(StorageError::Encode)?,
        );
        self.db.apply_batch(batch)?;
        self.db.flush()?;
        self.height = at;
        self.best_hash = hash;
        Ok((block, hash))
    }
}

/// The hash of a block header: BLAKE3 of [`HEADER_TAG`] ‖ postcard(header).
pub fn header_hash(header: &BlockHeader) -> Digest {
    let mut bytes = HEADER_TAG.to_vec();
    // postcard into a Vec fails only for types serde cannot encode; a header can be.
    if let Ok(body) = postcard::to_allocvec(header) {
        bytes.extend_from_slice(&body);
    }
    Digest::of(&bytes)
}

/// The extrinsics root of a block: BLAKE3 of [`EXTRINSICS_TAG`] ‖ count (u64 LE) ‖ the hash of
/// each transaction in order.
pub fn extrinsics_root(transactions: &[SignedTransaction]) -> Digest {
    let hashes: Vec<Digest> = transactions.iter().map(SignedTransaction::hash).collect();
    extrinsics_root_of(&hashes)
}

fn extrinsics_root_of(hashes: &[Digest]) -> Digest {
    let mut hasher = blake3::Hasher::new();
    hasher.update(EXTRINSICS_TAG);
    hasher.update(&(hashes.len() as u64).to_le_bytes());
    for hash in hashes {
        hasher.update(hash.as_bytes());
    }
    Digest::from(hasher.finalize())
}

/// Hashes and encodings of a block's accepted transactions, in order.
#[derive(Debug, Default)]
struct Encoded {
    hashes: Vec<Digest>,
    txs: Vec<Vec<u8>>,
}

/// `postcard(Block { header, transactions })` from the transactions' own encodings: postcard
/// writes a struct as its fields in order and a sequence as its varint length then its
/// elements, so no transaction is encoded twice.
fn encode_block(header: &BlockHeader, txs: &[Vec<u8>]) -> Result<Vec<u8>, StorageError> {
    let total = txs.iter().map(Vec::len).sum::<usize>();
    let mut out = postcard::to_allocvec(header).map_err(StorageError::Encode)?;
    out.reserve(total.saturating_add(10));
    let count = postcard::to_allocvec(&(txs.len() as u64)).map_err(StorageError::Encode)?;
    out.extend_from_slice(&count);
    for tx in txs {
        out.extend_from_slice(tx);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use subnet_protocol::chain::{Call, Transaction};
    use subnet_protocol::keys::Keypair;

    #[test]
    fn a_ledger_can_move_between_threads() {
        fn send<T: Send + Sync>() {}
        send::<Ledger>();
    }

    #[test]
    fn block_encoding_is_postcard() {
        let key = Keypair::dev("alice");
        let txs: Vec<SignedTransaction> = (0..300)
            .map(|i| {
                Transaction {
                    signer: key.public(),
                    nonce: i,
                    genesis_hash: Digest::default(),
                    valid_until: BlockNumber(1),
                    call: Call::Transfer {
                        dest: key.public(),
                        amount: Rao(i),
                    },
                }
                .sign(&key)
            })
            .collect();
        let header = BlockHeader {
            number: BlockNumber(7),
            parent_hash: Digest::of(b"p"),
            state_root: Digest::of(b"s"),
            extrinsics_root: extrinsics_root(&txs),
            timestamp_ms: 99,
        };
        let encoded: Vec<Vec<u8>> = txs.iter().map(SignedTransaction::encode).collect();
        let bytes = encode_block(&header, &encoded).unwrap();
        let block = Block {
            header,
            transactions: txs,
        };
        assert_eq!(bytes, postcard::to_allocvec(&block).unwrap());
        assert_eq!(encode_block(&block.header, &[]).unwrap(), {
            let empty = Block {
                header: block.header.clone(),
                transactions: Vec::new(),
            };
            postcard::to_allocvec(&empty).unwrap()
        });
    }
}
