//! [`Miner`]: start (load, register, bind) and serve until shutdown; [`run`] does both.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use burn::tensor::backend::Backend;
use subnet_chain_client::{AnyChain, BlockWatcher, Chain, ChainError, MetagraphCache};
use subnet_models::{CheckpointError, CheckpointMeta, MAX_RECORD_BYTES, load_weights, meta_path};
use subnet_protocol::PROTOCOL_VERSION;
use subnet_protocol::ainft::{AinftId, DataSource, Digest, ManifestError, ModelSpec};
use subnet_protocol::chain::AxonInfo;
use subnet_protocol::ids::{BlockNumber, NetUid, Uid};
use subnet_protocol::keys::PublicKey;
use subnet_protocol::net::{CertFingerprint, NetError, Server};
use subnet_protocol::task::{ModelInfo, ModelInfoError, NextByte, Task, TaskCodecError, encode};
use subnet_service::http::stopped;
use subnet_service::metrics::serve_metrics;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle as TaskHandle;

use crate::admission::Admission;
use crate::batch::{BatchLimits, Batcher};
use crate::config::{Config, ConfigError, Device};
use crate::identity::{IdentityError, miner_certificate};
use crate::manifest::{data_source, manifest, model_spec};
use crate::metrics::{MinerMetrics, bind_metrics};
use crate::registration::{Registration, RegistrationError, ensure_registered};
use crate::service::{MinerService, Served};
use crate::solver::{LmSolver, Solver};

/// Pause before following the chain again after a failed call.
const CHAIN_RETRY: Duration = Duration::from_secs(1);

/// A model ready to serve task `T` with solver `S`, and what its AINFT says about it.
#[derive(Debug)]
pub struct ServedModel<T: Task, S: Solver<T>> {
    /// The task.
    pub task: T,
    /// Computes its answers.
    pub solver: S,
    /// The training data, for the manifest.
    pub data: DataSource,
    /// The model, for the manifest (its weights digest included).
    pub model: ModelSpec,
    /// The weights file served to downloads.
    pub weights_file: Vec<u8>,
    /// How the weights file is encoded.
    pub weights_format: String,
    /// The model crate's metadata of the weights file (JSON).
    pub metadata: String,
}

/// A miner failed to start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum MinerError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A key or the certificate could not be loaded.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// A checkpoint file could not be read.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The checkpoint is larger than the models crate accepts.
    #[error("{path} is over {MAX_RECORD_BYTES} bytes")]
    CheckpointTooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The checkpoint metadata is not valid JSON of the expected shape.
    #[error("checkpoint metadata {path}")]
    Metadata {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The checkpoint does not decode, or its weights are not the ones its metadata names.
    #[error("checkpoint")]
    Checkpoint(#[from] CheckpointError),
    /// The checkpoint's weights could not be laid out for the fused CPU forward pass.
    #[error("preparing the CPU inference engine")]
    Fused(#[from] subnet_models::FusedLoadError),
    /// The manifest breaks the chain's rules (a name or URI too long, say).
    #[error("AINFT manifest")]
    Manifest(#[from] ManifestError),
    /// The model info answer is inconsistent (metadata too long).
    #[error(transparent)]
    ModelInfo(#[from] ModelInfoError),
    /// The model info answer could not be encoded.
    #[error("encoding the model info")]
    ModelInfoEncode(#[source] TaskCodecError<Infallible>),
    /// A chain call failed.
    #[error("chain")]
    Chain(#[from] ChainError),
    /// Registration failed.
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    /// The QUIC endpoint could not be set up.
    #[error("quic endpoint")]
    Net(#[from] NetError),
    /// The metrics registry could not be built.
    #[error("metrics setup")]
    Metrics(#[from] prometheus::Error),
    /// The metrics address could not be bound.
    #[error("binding metrics address {addr}")]
    MetricsBind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The inference thread could not be started.
    #[error("starting the inference thread")]
    Thread(#[source] std::io::Error),
    /// A start-up task panicked.
    #[error("start-up task failed")]
    Join(#[source] tokio::task::JoinError),
}

/// A registered miner with its endpoint bound, not yet serving.
///
/// [`Miner::start`] loads the model, registers and binds; [`Miner::serve`] answers requests
/// until its shutdown future completes.
pub struct Miner<C: Chain, T: Task = NextByte> {
    chain: C,
    netuid: NetUid,
    server: Server,
    service: MinerService<T>,
    batcher: Batcher<T>,
    worker: JoinHandle<()>,
    admission: Arc<Admission>,
    registration: Registration,
    metrics: MinerMetrics,
    metrics_listener: Option<TcpListener>,
    addr: SocketAddr,
    hotkey: PublicKey,
}

impl<C: Chain, T: Task> std::fmt::Debug for Miner<C, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Miner")
            .field("addr", &self.addr)
            .field("hotkey", &self.hotkey)
            .field("uid", &self.registration.uid)
            .field("ainft", &self.registration.ainft)
            .finish_non_exhaustive()
    }
}

/// Loads the [`ByteLm`](subnet_models::ByteLm) checkpoint at `record` onto `device`, checks
/// its weights against its metadata's digest, and prepares it to serve [`NextByte`].
///
/// The weights file served to downloads is the very bytes that were checked.
///
/// # Errors
/// [`MinerError::Read`], [`MinerError::Metadata`], [`MinerError::CheckpointTooLarge`] or
/// [`MinerError::Checkpoint`].
pub fn load_lm<B: Backend>(
    record: &Path,
    device: B::Device,
    data_uri: Option<&str>,
) -> Result<ServedModel<NextByte, LmSolver<B>>, MinerError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| MinerError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let meta_file = meta_path(record);
    let metadata_bytes = read(&meta_file)?;
    let meta: CheckpointMeta =
        serde_json::from_slice(&metadata_bytes).map_err(|source| MinerError::Metadata {
            path: meta_file.clone(),
            source,
        })?;
    let weights_file = read(record)?;
    if weights_file.len() as u64 > MAX_RECORD_BYTES {
        return Err(MinerError::CheckpointTooLarge {
            path: record.to_path_buf(),
        });
    }
    let model = load_weights::<B>(&meta, weights_file.clone(), &device)?;
    let metadata = serde_json::to_string(&meta).map_err(|source| MinerError::Metadata {
        path: meta_file,
        source,
    })?;
    Ok(ServedModel {
        task: NextByte,
        solver: LmSolver::new(model, device),
        data: data_source(&meta, data_uri),
        model: model_spec(&meta),
        weights_file,
        weights_format: meta.record_format.clone(),
        metadata,
    })
}

impl<C: Chain + Clone + 'static> Miner<C, NextByte> {
    /// Starts a miner of the default task: loads `config.checkpoint` on `config.device`
    /// (off the async executor), then as [`Miner::start_with`].
    ///
    /// # Errors
    /// [`MinerError`]: invalid configuration, unreadable keys or checkpoint, chain failures.
    pub async fn start(config: Config, chain: C) -> Result<Self, MinerError> {
        config.validate()?;
        let record = config.checkpoint.clone();
        let data_uri = config.data_uri.clone();
        match config.device {
            Device::Cpu => {
                let served = tokio::task::spawn_blocking(move || {
                    let mut served = load_lm::<subnet_models::Cpu>(
                        &record,
                        Default::default(),
                        data_uri.as_deref(),
                    )?;
                    // The fused forward pass computes the same function several times faster
                    // than burn's ndarray backend (BENCHMARKS.md, issue #5).
                    served.solver = served.solver.into_fused()?;
                    tracing::info!(
                        kernels = %subnet_models::Kernels::detect(),
                        "CPU inference: fused forward pass"
                    );
                    Ok::<_, MinerError>(served)
                })
                .await
                .map_err(MinerError::Join)??;
                Self::start_with(config, chain, served).await
            }
            #[cfg(feature = "cuda")]
            Device::Cuda { index } => {
                let served = tokio::task::spawn_blocking(move || {
                    load_lm::<subnet_models::Cuda>(
                        &record,
                        subnet_models::CudaDevice::new(index),
                        data_uri.as_deref(),
                    )
                })
                .await
                .map_err(MinerError::Join)??;
                Self::start_with(config, chain, served).await
            }
            #[cfg(not(feature = "cuda"))]
            Device::Cuda { .. } => Err(ConfigError::CudaDisabled {
                device: config.device,
            }
            .into()),
        }
    }
}

impl<C: Chain + Clone + 'static, T: Task> Miner<C, T> {
    /// Starts a miner serving `model`: loads its keys and certificate, binds the QUIC endpoint
    /// on `config.listen`, builds the AINFT manifest (on this chain's genesis and
    /// `config.netuid`), makes the chain hold the AINFT, the hotkey's UID and the axon
    /// (writing only what is missing: see
    /// [`ensure_registered`](crate::registration::ensure_registered)), reads the metagraph
    /// that admission starts from, and starts the inference thread.
    ///
    /// # Errors
    /// [`MinerError`].
    pub async fn start_with<S: Solver<T> + 'static>(
        config: Config,
        chain: C,
        model: ServedModel<T, S>,
    ) -> Result<Self, MinerError> {
        config.validate()?;
        let hotkey = config.hotkey.load().map_err(IdentityError::from)?;
        let coldkey = config.coldkey.load().map_err(IdentityError::from)?;
        let (cert, published_fingerprint) = miner_certificate(
            config.hotkey_certificate,
            config.tls.as_ref(),
            config.seed,
            &hotkey,
        )?;
        let metrics = MinerMetrics::new()?;
        let chain_info = chain.info().await?;
        let manifest = manifest(
            model.data,
            model.model,
            T::NAME,
            config.netuid,
            chain_info.genesis_hash,
        );
        manifest.validate()?;
        let server = Server::bind(config.listen, hotkey.clone(), &cert, config.net_config()?)?;
        let addr = server.local_addr()?;
        let axon = AxonInfo {
            ip: config.axon_ip()?,
            port: addr.port(),
            cert_fingerprint: published_fingerprint,
            protocol_version: PROTOCOL_VERSION,
        };
        let registration =
            ensure_registered(&chain, &hotkey, &coldkey, config.netuid, &manifest, axon).await?;
        let limits = &config.limits;
        let admission = Arc::new(Admission::new(limits.requests_per_second, limits.burst));
        admission.update(&registration.metagraph);
        metrics.set_metagraph_block(registration.metagraph.block.get());

        let info = ModelInfo {
            id: registration.ainft,
            manifest,
            weights_bytes: model.weights_file.len() as u64,
            weights_file_digest: Digest::of(&model.weights_file),
            weights_format: model.weights_format,
            metadata: model.metadata,
        };
        info.check()?;
        let served = Arc::new(Served {
            ainft: registration.ainft,
            model_info: encode(&info, usize::MAX).map_err(MinerError::ModelInfoEncode)?,
            weights_digest: info.weights_file_digest,
            weights: model.weights_file,
        });
        let batch_limits = BatchLimits {
            max_batch_size: limits.max_batch_size,
            max_batch_wait: limits.max_batch_wait,
            queue_depth: limits.queue_depth,
        };
        let (batcher, worker) = Batcher::start(model.solver, batch_limits, metrics.clone())
            .map_err(MinerError::Thread)?;
        let metrics_listener = match config.metrics_addr {
            Some(addr) => Some(
                bind_metrics(addr)
                    .await
                    .map_err(|source| MinerError::MetricsBind { addr, source })?,
            ),
            None => None,
        };
        let service = MinerService {
            task: model.task,
            admission: Arc::clone(&admission),
            batcher: batcher.clone(),
            served,
            metrics: metrics.clone(),
            chunk_bytes: limits.weights_chunk_bytes,
            max_batch_size: u32::try_from(limits.max_batch_size).unwrap_or(u32::MAX),
        };
        tracing::info!(%addr, uid = %registration.uid, ainft = %registration.ainft,
            writes = registration.writes.len(), "miner started");
        Ok(Self {
            chain,
            netuid: config.netuid,
            server,
            service,
            batcher,
            worker,
            admission,
            registration,
            metrics,
            metrics_listener,
            addr,
            hotkey: hotkey.public(),
        })
    }

    /// The QUIC address it serves on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The metrics address, if serving metrics.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// Its hotkey.
    pub fn hotkey(&self) -> PublicKey {
        self.hotkey
    }

    /// Its UID.
    pub fn uid(&self) -> Uid {
        self.registration.uid
    }

    /// The AINFT it serves.
    pub fn ainft(&self) -> AinftId {
        self.registration.ainft
    }

    /// Its certificate's fingerprint.
    pub fn fingerprint(&self) -> CertFingerprint {
        self.server.fingerprint()
    }

    /// What start-up found and wrote on chain.
    pub fn registration(&self) -> &Registration {
        &self.registration
    }

    /// Its metrics (shared with the running miner).
    pub fn metrics(&self) -> MinerMetrics {
        self.metrics.clone()
    }

    /// The line the `miner` binary prints once serving:
    /// `miner ready addr=… uid=… ainft=… hotkey=… fingerprint=…[ metrics=…]`.
    pub fn ready_line(&self) -> String {
        let mut line = format!(
            "miner ready addr={} uid={} ainft={} hotkey={} fingerprint={}",
            self.addr,
            self.uid(),
            self.ainft(),
            self.hotkey,
            self.fingerprint()
        );
        if let Some(addr) = self.metrics_addr() {
            line.push_str(&format!(" metrics={addr}"));
        }
        line
    }

    /// Serves until `shutdown` completes: answers requests, follows the chain block by block
    /// to refresh admission, and serves metrics. Then stops accepting, lets requests in flight
    /// finish (inference included), stops the inference thread and awaits every task.
    ///
    /// # Errors
    /// [`MinerError::Join`] if a background task panicked.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), MinerError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let follower: TaskHandle<()> = tokio::spawn(follow_chain(
            self.chain,
            self.netuid,
            Arc::clone(&self.admission),
            self.metrics.clone(),
            self.registration.metagraph.block,
            stop_rx.clone(),
        ));
        let metrics_server = self.metrics_listener.map(|listener| {
            tokio::spawn(serve_metrics(listener, self.metrics.registry(), stop_rx))
        });
        let batcher = self.batcher.clone();
        let shutdown = async move {
            shutdown.await;
            tracing::info!("shutting down: finishing requests in flight");
            batcher.drain();
        };
        self.server.serve(self.service, shutdown).await;
        self.batcher.close();
        let worker = self.worker;
        let joined = tokio::task::spawn_blocking(move || worker.join()).await;
        // A send error means every receiver is gone: nothing left to stop.
        let _ = stop_tx.send(true);
        follower.await.map_err(MinerError::Join)?;
        if let Some(task) = metrics_server {
            task.await.map_err(MinerError::Join)?;
        }
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(_)) => tracing::error!("inference thread panicked"),
            Err(e) => return Err(MinerError::Join(e)),
        }
        tracing::info!("miner stopped");
        Ok(())
    }
}

/// Starts the miner `config` describes on the chain it names and serves until `shutdown`.
///
/// # Errors
/// As [`Miner::start`] and [`Miner::serve`].
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), MinerError> {
    let chain = AnyChain::from_backend(&config.chain)?;
    let miner = Miner::start(config, chain).await?;
    tracing::info!("{}", miner.ready_line());
    miner.serve(shutdown).await
}

/// Refreshes admission from the metagraph each time the chain moves, until `stop`.
async fn follow_chain<C: Chain>(
    chain: C,
    netuid: NetUid,
    admission: Arc<Admission>,
    metrics: MinerMetrics,
    from: BlockNumber,
    mut stop: watch::Receiver<bool>,
) {
    let mut watcher = BlockWatcher::new(from);
    let mut cache = MetagraphCache::new(netuid);
    loop {
        let next = tokio::select! {
            () = stopped(&mut stop) => break,
            next = watcher.next(&chain) => next,
        };
        let refreshed = match next {
            Ok(_) => cache.refresh(&chain).await,
            Err(e) => Err(e),
        };
        match refreshed {
            Ok(true) => {
                if let Some(metagraph) = cache.get() {
                    admission.update(metagraph);
                    metrics.set_metagraph_block(metagraph.block.get());
                    tracing::debug!(block = %metagraph.block, "metagraph refreshed");
                }
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "following the chain failed; retrying");
                tokio::select! {
                    () = stopped(&mut stop) => break,
                    () = tokio::time::sleep(CHAIN_RETRY) => {}
                }
            }
        }
    }
}
