//! [`Node`]: a running chain node, its block production loop and the state its servers share.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use subnet_chain::{Ledger, OpenError, StorageError};
use subnet_protocol::ainft::Digest;
use subnet_protocol::chain::TxError;
use subnet_protocol::ids::BlockNumber;
use tokio::net::TcpListener;
use tokio::sync::{RwLock, watch};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::config::{ConfigError, NodeConfig, RpcConfig};
use crate::http::{self, ServerLimits, stopped};
use crate::metrics::Metrics;
use crate::pool::{Pending, TxPool};
use crate::rpc;

/// Why a node could not start, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration or genesis is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The ledger could not be opened (another genesis, a locked or corrupt database).
    #[error("opening the ledger failed")]
    Open(#[source] OpenError),
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The database failed while committing a block; the node stopped (restarting it resumes
    /// from the last committed block).
    #[error("committing a block failed")]
    Storage(#[source] StorageError),
    /// Block production panicked (a bug); the node stopped.
    #[error("block production panicked")]
    Panicked,
    /// The metrics registry could not be built.
    #[error("metrics setup failed")]
    Metrics(#[source] prometheus::Error),
}

/// What the RPC handlers and the block producer share.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The state machine. Readers (queries, admission) take it shared; the producer takes it
    /// exclusively for a whole block, from taking the batch out of the pool to re-basing the
    /// pool on the new state, so admission never sees a half-made block.
    pub(crate) ledger: Arc<RwLock<Ledger>>,
    /// Waiting transactions. Locked only briefly and never across an `.await`.
    pub(crate) pool: Mutex<TxPool>,
    /// Latest committed and announced block.
    pub(crate) height: watch::Receiver<BlockNumber>,
    pub(crate) metrics: Metrics,
    pub(crate) rpc: RpcConfig,
    /// Turns true once shutdown begins; long polls return when it does.
    pub(crate) stop: watch::Receiver<bool>,
}

impl Shared {
    pub(crate) fn pool(&self) -> MutexGuard<'_, TxPool> {
        // The pool's invariants hold between statements; a panic elsewhere cannot break them.
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running node: block production, the JSON-RPC server and (optionally) metrics.
///
/// Dropping it without [`Node::shutdown`] leaves its tasks running until the runtime stops.
#[derive(Debug)]
pub struct Node {
    rpc_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    genesis_hash: Digest,
    height: watch::Receiver<BlockNumber>,
    stop: watch::Sender<bool>,
    producer: JoinHandle<Result<(), NodeError>>,
    servers: Vec<JoinHandle<()>>,
}

impl Node {
    /// Opens the ledger, binds the listeners and starts producing blocks and serving.
    ///
    /// Returns once both listeners are bound, so [`Node::rpc_addr`] is ready for clients.
    ///
    /// # Errors
    /// [`NodeError::Config`], [`NodeError::Open`], [`NodeError::Bind`], [`NodeError::Metrics`].
    pub async fn start(config: NodeConfig) -> Result<Self, NodeError> {
        let genesis = config.resolve_genesis()?;
        let block_time = Duration::from_millis(genesis.block_time_ms);
        let ledger = {
            let data_dir = config.data_dir.clone();
            let genesis = genesis.clone();
            // sled's open replays its log: blocking file I/O, kept off the executor.
            tokio::task::spawn_blocking(move || match data_dir {
                Some(dir) => Ledger::open(dir, &genesis),
                None => Ledger::open_temporary(&genesis),
            })
            .await
            .map_err(|_| NodeError::Panicked)?
            .map_err(NodeError::Open)?
        };
        let rpc_listener = bind(config.rpc_addr).await?;
        let metrics_listener = match config.metrics_addr {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let rpc_addr = local_addr(&rpc_listener, config.rpc_addr)?;
        let metrics_addr = match &metrics_listener {
            Some(l) => Some(local_addr(
                l,
                config.metrics_addr.unwrap_or(config.rpc_addr),
            )?),
            None => None,
        };

        let info = ledger.info();
        let metrics = Metrics::new().map_err(NodeError::Metrics)?;
        metrics
            .height
            .set(i64::try_from(info.height.get()).unwrap_or(i64::MAX));
        let (height_tx, height_rx) = watch::channel(info.height);
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            ledger: Arc::new(RwLock::new(ledger)),
            pool: Mutex::new(TxPool::new(config.pool)),
            height: height_rx.clone(),
            metrics,
            rpc: config.rpc,
            stop: stop_rx.clone(),
        });
        let limits = ServerLimits {
            max_connections: config.rpc.max_connections,
            read_timeout: config.rpc.read_timeout,
        };
        let mut servers = Vec::new();
        let rpc_shared = Arc::clone(&shared);
        servers.push(tokio::spawn(http::serve(
            rpc_listener,
            limits,
            move |req| rpc::handle(Arc::clone(&rpc_shared), req),
            stop_rx.clone(),
        )));
        if let Some(listener) = metrics_listener {
            let metrics = shared.metrics.clone();
            servers.push(tokio::spawn(http::serve(
                listener,
                ServerLimits {
                    max_connections: 16,
                    read_timeout: config.rpc.read_timeout,
                },
                move |req| std::future::ready(metrics.handle(&req)),
                stop_rx,
            )));
        }
        let producer = tokio::spawn(produce_blocks(
            Arc::clone(&shared),
            block_time,
            height_tx,
            stop_tx.clone(),
        ));
        tracing::info!(
            rpc = %rpc_addr,
            genesis = %info.genesis_hash,
            block = info.height.get(),
            block_time_ms = genesis.block_time_ms,
            "node started"
        );
        Ok(Self {
            rpc_addr,
            metrics_addr,
            genesis_hash: info.genesis_hash,
            height: height_rx,
            stop: stop_tx,
            producer,
            servers,
        })
    }

    /// The JSON-RPC address actually bound (the port is filled in when 0 was asked for).
    pub fn rpc_addr(&self) -> SocketAddr {
        self.rpc_addr
    }

    /// The metrics address actually bound, if metrics are served.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The chain's genesis hash.
    pub fn genesis_hash(&self) -> Digest {
        self.genesis_hash
    }

    /// The latest committed block.
    pub fn height(&self) -> BlockNumber {
        *self.height.borrow()
    }

    /// The machine-readable line `subnet-node` prints once serving:
    /// `subnet-node ready rpc=ADDR genesis=HEX height=N` (plus ` metrics=ADDR` when served).
    pub fn ready_line(&self) -> String {
        let mut line = format!(
            "subnet-node ready rpc={} genesis={} height={}",
            self.rpc_addr,
            self.genesis_hash,
            self.height().get()
        );
        if let Some(addr) = self.metrics_addr {
            line.push_str(&format!(" metrics={addr}"));
        }
        line
    }

    /// Runs until `signal` completes or block production fails, then shuts down.
    ///
    /// # Errors
    /// The error that stopped block production, if it failed.
    pub async fn run_until(mut self, signal: impl Future<Output = ()>) -> Result<(), NodeError> {
        tokio::select! {
            () = signal => {}
            result = &mut self.producer => {
                // Production stopped by itself: a storage failure or a panic. Stop serving too.
                self.stop.send_replace(true);
                for server in self.servers {
                    let _ = server.await; // a server task only ends by returning
                }
                return match result {
                    Ok(r) => r,
                    Err(_) => Err(NodeError::Panicked),
                };
            }
        }
        self.shutdown().await
    }

    /// Stops accepting requests and transactions, finishes the block in progress, answers
    /// waiting submitters with `UNAVAILABLE`, and waits for every task.
    ///
    /// # Errors
    /// The error that stopped block production, if it had failed.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        self.stop.send_replace(true);
        let produced = self.producer.await;
        for server in self.servers {
            let _ = server.await; // a server task only ends by returning
        }
        tracing::info!("node stopped");
        produced.map_err(|_| NodeError::Panicked)?
    }
}

/// Starts a node from `config` and runs it until `shutdown` completes (the library form of
/// `subnet-node`, for tests and for embedding in other binaries).
///
/// # Errors
/// As [`Node::start`] and [`Node::run_until`].
pub async fn run(config: NodeConfig, shutdown: impl Future<Output = ()>) -> Result<(), NodeError> {
    Node::start(config).await?.run_until(shutdown).await
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, NodeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| NodeError::Bind { addr, source })
}

fn local_addr(listener: &TcpListener, addr: SocketAddr) -> Result<SocketAddr, NodeError> {
    listener
        .local_addr()
        .map_err(|source| NodeError::Bind { addr, source })
}

/// Milliseconds since the Unix epoch, for block headers (informational only).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The block production loop: every `block_time`, one block from the pool's front.
///
/// A block runs on a blocking thread (its epochs can take longer than a tick); ticks missed
/// meanwhile are not made up in a burst, the next block simply starts at once. Submitters are
/// answered and the height announced only after `produce_block` has committed and flushed.
async fn produce_blocks(
    shared: Arc<Shared>,
    block_time: Duration,
    height_tx: watch::Sender<BlockNumber>,
    stop_tx: watch::Sender<bool>,
) -> Result<(), NodeError> {
    let mut stop = shared.stop.clone();
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + block_time, block_time);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let result = loop {
        tokio::select! {
            biased;
            () = stopped(&mut stop) => break Ok(()),
            _ = ticker.tick() => {}
        }
        if let Err(e) = produce_one(&shared, &height_tx).await {
            tracing::error!(error = %e, "block production failed; stopping");
            stop_tx.send_replace(true);
            break Err(e);
        }
    };
    // Dropping the queued replies answers their submitters with UNAVAILABLE.
    shared.pool().clear();
    shared.metrics.pool_pending.set(0);
    result
}

async fn produce_one(
    shared: &Shared,
    height_tx: &watch::Sender<BlockNumber>,
) -> Result<(), NodeError> {
    let ledger = Arc::clone(&shared.ledger).write_owned().await;
    let batch = shared.pool().take_batch();
    let mut txs = Vec::with_capacity(batch.len());
    let mut replies = Vec::with_capacity(batch.len());
    for Pending { tx, reply, .. } in batch {
        txs.push(tx);
        replies.push(reply);
    }
    let timestamp = now_ms();
    let started = Instant::now();
    let (ledger, result) = tokio::task::spawn_blocking(move || {
        let mut ledger = ledger;
        let result = ledger.produce_block_verified(txs, timestamp);
        (ledger, result)
    })
    .await
    .map_err(|_| NodeError::Panicked)?;
    let elapsed = started.elapsed();
    let outcome = result.map_err(NodeError::Storage)?;
    let dropped = shared.pool().after_block(|k| ledger.account(k).nonce);
    let pending = shared.pool().len();
    drop(ledger);

    let metrics = &shared.metrics;
    Metrics::observe(&metrics.block_production, elapsed);
    if !outcome.epochs.is_empty() {
        // The ledger runs epochs inside the block; a block that ran one is timed as the epoch.
        Metrics::observe(&metrics.epoch_duration, elapsed);
    }
    let height = outcome.block.header.number;
    let mut refused: HashMap<usize, TxError> = outcome
        .rejected
        .into_iter()
        .map(|r| (r.index, r.error))
        .collect();
    let mut receipts = outcome.receipts.into_iter();
    for (index, reply) in replies.into_iter().enumerate() {
        let verdict = match refused.remove(&index) {
            Some(error) => {
                metrics.rejected("block", error.as_label());
                Err(error)
            }
            None => {
                let Some(receipt) = receipts.next() else {
                    continue;
                };
                metrics.txs_applied.inc();
                Ok(receipt)
            }
        };
        // The submitter may have gone away (timeout, closed connection); nothing to tell.
        let _ = reply.send(verdict);
    }
    for (pending, error) in dropped {
        metrics.rejected("pool", error.as_label());
        let _ = pending.reply.send(Err(error));
    }
    metrics
        .pool_pending
        .set(i64::try_from(pending).unwrap_or(i64::MAX));
    metrics
        .height
        .set(i64::try_from(height.get()).unwrap_or(i64::MAX));
    tracing::debug!(
        block = height.get(),
        txs = outcome.block.transactions.len(),
        epochs = outcome.epochs.len(),
        ms = elapsed.as_millis(),
        "block committed"
    );
    height_tx.send_replace(height);
    Ok(())
}
