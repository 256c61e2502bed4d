//! [`EmbeddedChain`]: the chain library in-process, with manual block advance.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use subnet_chain::{Ledger, StorageError};
use subnet_protocol::ainft::AinftId;
use subnet_protocol::chain::rpc::TxReceipt;
use subnet_protocol::chain::{
    AccountInfo, AinftRecord, Block, Call, ChainInfo, EmissionReport, Metagraph, SignedTransaction,
    SubnetInfo, Transaction, TxError,
};
use subnet_protocol::ids::{BlockNumber, NetUid, Rao};
use subnet_protocol::keys::{Keypair, PublicKey};
use tokio::sync::{oneshot, watch};

pub use subnet_chain::Genesis;

use crate::chain::{Chain, SparseRows};
use crate::error::{ChainError, Missing, TransportError, TransportKind};

/// Options of an [`EmbeddedChain`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddedConfig {
    /// Produce a block right after each write is queued, so writes resolve at once. Default
    /// false: writes wait for [`EmbeddedChain::advance`].
    pub auto_advance: bool,
    /// Blocks after the current one during which a write stays valid. Default 64.
    pub tx_validity_blocks: u64,
    /// Timestamp of block 1, in milliseconds; each later block adds the genesis' block time.
    /// Default 0 (deterministic headers).
    pub start_timestamp_ms: u64,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        Self {
            auto_advance: false,
            tx_validity_blocks: 64,
            start_timestamp_ms: 0,
        }
    }
}

/// The chain's state machine in this process, for tests and simulation.
///
/// Writes are checked at once (signature, genesis, expiry, nonce: the node's admission) and
/// queued; each [`EmbeddedChain::advance`] puts the whole queue into one block and resolves the
/// waiting writes with their receipts or block-time errors. With
/// [`EmbeddedConfig::auto_advance`] every write gets its own block immediately. Block
/// timestamps come from a manual clock, so runs are reproducible.
///
/// Cheap to clone; clones share the ledger. Everything is synchronous inside (a mutex around
/// the ledger); tokio is used only for the write and block-wait futures.
#[derive(Clone)]
pub struct EmbeddedChain {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    /// Latest committed block, for `wait_for_block`.
    height: watch::Sender<BlockNumber>,
    config: EmbeddedConfig,
}

struct State {
    ledger: Ledger,
    queue: Vec<Queued>,
    auto_advance: bool,
    next_timestamp_ms: u64,
}

struct Queued {
    tx: SignedTransaction,
    reply: oneshot::Sender<Result<TxReceipt, TxError>>,
}

impl fmt::Debug for EmbeddedChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedChain")
            .field("height", &*self.inner.height.borrow())
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

fn storage(e: impl std::error::Error + Send + Sync + 'static) -> ChainError {
    TransportError::new(TransportKind::Storage, e).into()
}

impl EmbeddedChain {
    /// A chain from `genesis` in a temporary database, with default options.
    ///
    /// # Errors
    /// [`ChainError::Unavailable`] if the genesis is invalid or the database cannot be made.
    pub fn new(genesis: &Genesis) -> Result<Self, ChainError> {
        Self::with_config(genesis, EmbeddedConfig::default())
    }

    /// A chain from `genesis` in a temporary database.
    ///
    /// # Errors
    /// As [`EmbeddedChain::new`].
    pub fn with_config(genesis: &Genesis, config: EmbeddedConfig) -> Result<Self, ChainError> {
        let ledger = Ledger::open_temporary(genesis).map_err(storage)?;
        Ok(Self::from_ledger(ledger, config))
    }

    /// The chain stored at `path` (created from `genesis` if empty), continuing from its last
    /// block.
    ///
    /// # Errors
    /// [`ChainError::Unavailable`] if the database cannot be opened or belongs to another
    /// genesis.
    pub fn open(
        path: impl AsRef<Path>,
        genesis: &Genesis,
        config: EmbeddedConfig,
    ) -> Result<Self, ChainError> {
        let ledger = Ledger::open(path, genesis).map_err(storage)?;
        Ok(Self::from_ledger(ledger, config))
    }

    fn from_ledger(ledger: Ledger, config: EmbeddedConfig) -> Self {
        let (height, _) = watch::channel(ledger.height());
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    ledger,
                    queue: Vec::new(),
                    auto_advance: config.auto_advance,
                    next_timestamp_ms: config.start_timestamp_ms,
                }),
                height,
                config,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the ledger half-written: blocks commit
        // atomically or poison the ledger themselves.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Turns auto-advance (a block per write) on or off.
    pub fn set_auto_advance(&self, on: bool) {
        let mut state = self.state();
        state.auto_advance = on;
        if on
            && !state.queue.is_empty()
            && let Err(e) = self.produce(&mut state)
        {
            tracing::warn!(error = %e, "embedded block failed");
        }
    }

    /// Produces one block from every queued write and resolves them.
    ///
    /// # Errors
    /// [`ChainError::Unavailable`] if the database fails (the ledger then refuses further
    /// blocks; queued writes get the same error).
    pub fn advance(&self) -> Result<Block, ChainError> {
        let mut state = self.state();
        self.produce(&mut state)
    }

    /// Produces `n` blocks (the first takes the queued writes); returns the new height.
    ///
    /// # Errors
    /// As [`EmbeddedChain::advance`].
    pub fn advance_blocks(&self, n: u64) -> Result<BlockNumber, ChainError> {
        let mut state = self.state();
        for _ in 0..n {
            self.produce(&mut state)?;
        }
        Ok(state.ledger.height())
    }

    /// Produces blocks until the height is at least `height`; returns the new height.
    ///
    /// # Errors
    /// As [`EmbeddedChain::advance`].
    pub fn advance_to(&self, height: BlockNumber) -> Result<BlockNumber, ChainError> {
        let mut state = self.state();
        while state.ledger.height() < height {
            self.produce(&mut state)?;
        }
        Ok(state.ledger.height())
    }

    /// Number of writes waiting for the next block.
    pub fn pending(&self) -> usize {
        self.state().queue.len()
    }

    /// Runs `f` on the ledger, for what the [`Chain`] trait does not expose (state root, epoch
    /// previews, supply). Do not call chain methods from inside `f`: the ledger is locked.
    pub fn with_ledger<R>(&self, f: impl FnOnce(&Ledger) -> R) -> R {
        f(&self.state().ledger)
    }

    /// Checks `tx` as the node's admission does and queues it (producing a block at once in
    /// auto-advance mode). `queued_from_signer` nonces must precede it.
    fn enqueue(
        &self,
        state: &mut State,
        tx: SignedTransaction,
    ) -> Result<oneshot::Receiver<Result<TxReceipt, TxError>>, ChainError> {
        let at = state.ledger.height().saturating_add(1);
        let queued = queued_from(&state.queue, &tx.tx.signer);
        let committed = match state.ledger.check(&tx, at) {
            Ok(()) => tx.tx.nonce,
            Err(TxError::FutureNonce { expected, .. }) => expected,
            Err(e) => return Err(ChainError::Rejected(e)),
        };
        let expected = committed.saturating_add(queued);
        let got = tx.tx.nonce;
        if got < expected {
            return Err(ChainError::Rejected(TxError::StaleNonce { got, expected }));
        }
        if got > expected {
            return Err(ChainError::Rejected(TxError::FutureNonce { got, expected }));
        }
        let (reply, receiver) = oneshot::channel();
        state.queue.push(Queued { tx, reply });
        if state.auto_advance {
            self.produce(state)?;
        }
        Ok(receiver)
    }

    fn produce(&self, state: &mut State) -> Result<Block, ChainError> {
        let queued = std::mem::take(&mut state.queue);
        let mut txs = Vec::with_capacity(queued.len());
        let mut replies = Vec::with_capacity(queued.len());
        for q in queued {
            txs.push(q.tx);
            replies.push(q.reply);
        }
        let timestamp = state.next_timestamp_ms;
        let outcome = state
            .ledger
            .produce_block(txs, timestamp)
            .map_err(|e: StorageError| storage(e))?;
        state.next_timestamp_ms = timestamp.saturating_add(state.ledger.genesis().block_time_ms);
        let mut receipts = outcome.receipts.into_iter();
        let mut rejected = outcome.rejected.into_iter().peekable();
        for (index, reply) in replies.into_iter().enumerate() {
            let verdict = match rejected.next_if(|r| r.index == index) {
                Some(r) => Err(r.error),
                None => match receipts.next() {
                    Some(receipt) => Ok(receipt),
                    None => continue,
                },
            };
            // The writer may have stopped waiting; nothing to tell it.
            let _ = reply.send(verdict);
        }
        self.inner.height.send_replace(outcome.block.header.number);
        Ok(outcome.block)
    }
}

fn queued_from(queue: &[Queued], signer: &PublicKey) -> u64 {
    let n = queue.iter().filter(|q| q.tx.tx.signer == *signer).count();
    u64::try_from(n).unwrap_or(u64::MAX)
}

async fn verdict(
    receiver: oneshot::Receiver<Result<TxReceipt, TxError>>,
) -> Result<TxReceipt, ChainError> {
    match receiver.await {
        Ok(Ok(receipt)) => Ok(receipt),
        Ok(Err(e)) => Err(ChainError::Rejected(e)),
        Err(_) => Err(TransportError::bare(TransportKind::NodeUnavailable {
            message: "the embedded chain stopped before the block".into(),
        })
        .into()),
    }
}

impl Chain for EmbeddedChain {
    async fn info(&self) -> Result<ChainInfo, ChainError> {
        Ok(self.state().ledger.info())
    }

    async fn block(&self, number: BlockNumber) -> Result<Option<Block>, ChainError> {
        self.state().ledger.block(number).map_err(storage)
    }

    async fn wait_for_block(
        &self,
        after: BlockNumber,
        timeout: Duration,
    ) -> Result<BlockNumber, ChainError> {
        let mut height = self.inner.height.subscribe();
        let reached = async {
            // The sender lives as long as `self`; an error cannot happen while we hold it.
            let _ = height.wait_for(|h| *h > after).await;
        };
        // Timing out is the normal answer of a long poll, not an error.
        let _ = tokio::time::timeout(timeout, reached).await;
        Ok(*self.inner.height.borrow())
    }

    async fn account(&self, account: &PublicKey) -> Result<AccountInfo, ChainError> {
        Ok(self.state().ledger.account(account))
    }

    async fn stake_of(&self, coldkey: &PublicKey, hotkey: &PublicKey) -> Result<Rao, ChainError> {
        Ok(self.state().ledger.stake_of(coldkey, hotkey))
    }

    async fn subnets(&self) -> Result<Vec<SubnetInfo>, ChainError> {
        Ok(self.state().ledger.subnets())
    }

    async fn subnet(&self, netuid: NetUid) -> Result<SubnetInfo, ChainError> {
        self.state()
            .ledger
            .subnet(netuid)
            .ok_or(ChainError::NotFound(Missing::Subnet(netuid)))
    }

    async fn metagraph(&self, netuid: NetUid) -> Result<Metagraph, ChainError> {
        self.state()
            .ledger
            .metagraph(netuid)
            .ok_or(ChainError::NotFound(Missing::Subnet(netuid)))
    }

    async fn weights(&self, netuid: NetUid) -> Result<SparseRows, ChainError> {
        self.state()
            .ledger
            .weights(netuid)
            .ok_or(ChainError::NotFound(Missing::Subnet(netuid)))
    }

    async fn bonds(&self, netuid: NetUid) -> Result<SparseRows, ChainError> {
        self.state()
            .ledger
            .bonds(netuid)
            .ok_or(ChainError::NotFound(Missing::Subnet(netuid)))
    }

    async fn ainft(&self, id: &AinftId) -> Result<Option<AinftRecord>, ChainError> {
        Ok(self.state().ledger.ainft(id))
    }

    async fn emissions(&self) -> Result<EmissionReport, ChainError> {
        Ok(self.state().ledger.emissions())
    }

    async fn submit_signed(&self, tx: SignedTransaction) -> Result<TxReceipt, ChainError> {
        let receiver = {
            let mut state = self.state();
            self.enqueue(&mut state, tx)?
        };
        verdict(receiver).await
    }

    async fn submit(&self, signer: &Keypair, call: Call) -> Result<TxReceipt, ChainError> {
        let receiver = {
            let mut state = self.state();
            let key = signer.public();
            let info = state.ledger.info();
            let nonce = state
                .ledger
                .account(&key)
                .nonce
                .saturating_add(queued_from(&state.queue, &key));
            let tx = Transaction {
                signer: key,
                nonce,
                genesis_hash: info.genesis_hash,
                valid_until: info
                    .height
                    .saturating_add(self.inner.config.tx_validity_blocks),
                call,
            }
            .sign(signer);
            self.enqueue(&mut state, tx)?
        };
        verdict(receiver).await
    }
}
