//! A subnet on an embedded chain with a staked validator hotkey, real miners started
//! in-process, and hand-made QUIC servers for miners that misbehave.

use std::path::{Path, PathBuf};
use std::time::Duration;

use subnet_chain_client::{Chain, EmbeddedChain, EmbeddedConfig, Genesis, ReceiptExt};
use subnet_miner::{
    Config as MinerConfig, DevKey as MinerDevKey, KeySource as MinerKey, LmSolver, Miner,
    MinerError, ServedModel, Solver, load_lm,
};
use subnet_models::{Cpu, load_checkpoint};
use subnet_protocol::ainft::AinftId;
use subnet_protocol::chain::{AxonInfo, Hyperparameters, TOKEN};
use subnet_protocol::ids::{NetUid, Rao, Uid};
use subnet_protocol::keys::Keypair;
use subnet_protocol::net::{Handler, NetConfig, Server, ServerCert};
use subnet_protocol::task::{ModelInfo, NextByte, Task};
use subnet_protocol::{PROTOCOL_VERSION, RejectReason, RequestKind, VerifiedRequest};
use subnet_validator::{Config, DevKey, KeySource};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A shipped checkpoint: `tiny`, `small` or `best`.
pub(crate) fn checkpoint(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models/checkpoints")
        .join(format!("{name}.mpk"))
}

/// Development name of the validator's hotkey.
pub(crate) const VALIDATOR: &str = "validator-under-test";

/// A subnet whose validator hotkey holds a UID, stake and (after an epoch) a permit.
pub(crate) struct Subnet {
    pub(crate) chain: EmbeddedChain,
    pub(crate) netuid: NetUid,
    pub(crate) validator_uid: Uid,
    pub(crate) hp: Hyperparameters,
}

/// Test hyperparameters: a short tempo, no rate limit, one validator permit.
pub(crate) fn hyperparameters(tempo: u16) -> Hyperparameters {
    Hyperparameters {
        tempo,
        immunity_period: 10_000,
        activity_cutoff: 10_000,
        weights_rate_limit: 0,
        max_allowed_uids: 32,
        max_allowed_validators: 1,
        ..Hyperparameters::default()
    }
}

pub(crate) async fn subnet(hp: Hyperparameters) -> Subnet {
    let config = EmbeddedConfig {
        auto_advance: true,
        ..EmbeddedConfig::default()
    };
    let chain = EmbeddedChain::with_config(&Genesis::dev(), config).unwrap();
    let (charlie, dave) = (Keypair::dev("charlie"), Keypair::dev("dave"));
    let netuid = chain
        .create_subnet(&charlie, hp.clone())
        .await
        .unwrap()
        .created_netuid()
        .unwrap();
    let v = Keypair::dev(VALIDATOR);
    let validator_uid = chain
        .register(&dave, netuid, v.public(), None)
        .await
        .unwrap()
        .created_uid()
        .unwrap();
    chain
        .add_stake(&dave, v.public(), Rao(1000 * TOKEN.0))
        .await
        .unwrap();
    chain.advance_blocks(u64::from(hp.tempo) + 1).unwrap();
    let metagraph = chain.metagraph(netuid).await.unwrap();
    assert!(metagraph.by_uid(validator_uid).unwrap().validator_permit);
    Subnet {
        chain,
        netuid,
        validator_uid,
        hp,
    }
}

/// A validator config for `subnet` with its database in `dir`: loopback, seeded, small steps.
pub(crate) fn validator_config(subnet: &Subnet, dir: &Path) -> Config {
    Config {
        hotkey: KeySource::Dev(DevKey {
            dev: VALIDATOR.into(),
        }),
        netuid: subnet.netuid,
        bind: "127.0.0.1:0".parse().unwrap(),
        sample_size: 16,
        requests_per_miner: 6,
        step_interval: Duration::from_millis(200),
        request_timeout: Duration::from_secs(5),
        ema_alpha: 0.5,
        context_len: 32,
        scored_positions: 8,
        spot_check_rate: 0.5,
        seed: Some(5),
        data_dir: dir.to_path_buf(),
        max_in_flight: 16,
        ..Config::default()
    }
}

/// A miner config for `subnet`: dev hotkey `name`, coldkey eve, checkpoint `model`, loopback.
pub(crate) fn miner_config(subnet: &Subnet, name: &str, model: &str) -> MinerConfig {
    let mut config = MinerConfig {
        hotkey: MinerKey::Dev(MinerDevKey { dev: name.into() }),
        coldkey: MinerKey::Dev(MinerDevKey { dev: "eve".into() }),
        netuid: subnet.netuid,
        listen: "127.0.0.1:0".parse().unwrap(),
        checkpoint: checkpoint(model),
        seed: Some(1),
        ..MinerConfig::default()
    };
    config.limits.max_batch_wait = Duration::from_millis(1);
    config
}

/// A miner serving in the background.
pub(crate) struct Running {
    pub(crate) uid: Uid,
    pub(crate) ainft: AinftId,
    stop: Option<oneshot::Sender<()>>,
    serving: Option<JoinHandle<Result<(), MinerError>>>,
}

impl Running {
    /// Asks the miner to stop and waits for it.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(serving) = self.serving.take() {
            serving.await.unwrap().unwrap();
        }
    }
}

/// Starts a miner of the default task from its checkpoint.
pub(crate) async fn start_miner(config: MinerConfig, chain: &EmbeddedChain) -> Running {
    let miner = Miner::start(config, chain.clone()).await.unwrap();
    serve(miner)
}

/// Starts a miner serving `served`.
pub(crate) async fn start_served<T: Task, S: Solver<T> + 'static>(
    config: MinerConfig,
    chain: &EmbeddedChain,
    served: ServedModel<T, S>,
) -> Running {
    let miner = Miner::start_with(config, chain.clone(), served)
        .await
        .unwrap();
    serve(miner)
}

fn serve<T: Task>(miner: Miner<EmbeddedChain, T>) -> Running {
    let (uid, ainft) = (miner.uid(), miner.ainft());
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(miner.serve(async move {
        // A dropped sender also means stop.
        let _ = stopped.await;
    }));
    Running {
        uid,
        ainft,
        stop: Some(stop),
        serving: Some(serving),
    }
}

/// An impostor: registers (and serves the model info and weights of) the `claimed`
/// checkpoint's AINFT, but answers with the `actual` checkpoint's model.
pub(crate) async fn start_impostor(
    config: MinerConfig,
    chain: &EmbeddedChain,
    claimed: &str,
    actual: &str,
) -> Running {
    let mut served = load_lm::<Cpu>(&checkpoint(claimed), Default::default(), None).unwrap();
    let other = load_checkpoint::<Cpu>(&checkpoint(actual), &Default::default()).unwrap();
    served.solver = LmSolver::new(other.model, Default::default());
    start_served(config, chain, served).await
}

/// A QUIC server answering through `handler`, registered on the subnet under `hotkey`
/// (coldkey eve) with AINFT `ainft` and an axon. The server signs with `server_key`, which
/// is normally `hotkey`.
pub(crate) struct Scripted {
    pub(crate) uid: Uid,
    stop: Option<oneshot::Sender<()>>,
    serving: Option<JoinHandle<()>>,
}

impl Scripted {
    pub(crate) async fn start<H: Handler>(
        subnet: &Subnet,
        hotkey: &Keypair,
        server_key: &Keypair,
        ainft: Option<AinftId>,
        handler: H,
    ) -> Self {
        let cert = ServerCert::generate().unwrap();
        let server = Server::bind(
            "127.0.0.1:0".parse().unwrap(),
            server_key.clone(),
            &cert,
            NetConfig::default(),
        )
        .unwrap();
        let addr = server.local_addr().unwrap();
        let eve = Keypair::dev("eve");
        let uid = subnet
            .chain
            .register(&eve, subnet.netuid, hotkey.public(), ainft)
            .await
            .unwrap()
            .created_uid()
            .unwrap();
        let axon = AxonInfo {
            ip: addr.ip(),
            port: addr.port(),
            cert_fingerprint: cert.fingerprint(),
            protocol_version: PROTOCOL_VERSION,
        };
        subnet
            .chain
            .serve_axon(hotkey, subnet.netuid, axon)
            .await
            .unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve(handler, async move {
            let _ = stopped.await;
        }));
        Self {
            uid,
            stop: Some(stop),
            serving: Some(serving),
        }
    }

    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(serving) = self.serving.take() {
            serving.await.unwrap();
        }
    }
}

/// Never answers anything.
pub(crate) struct Silent;

impl Handler for Silent {
    async fn handle(&self, _request: VerifiedRequest) -> Result<Vec<u8>, RejectReason> {
        std::future::pending::<()>().await;
        Err(RejectReason::Internal)
    }
}

/// Serves a real model's info and weights file, and answers task requests with `answer`
/// (called with the request number, counting from 0, and the request).
pub(crate) struct Faulty<F> {
    pub(crate) info: Vec<u8>,
    pub(crate) weights: Vec<u8>,
    pub(crate) file_digest: subnet_protocol::ainft::Digest,
    pub(crate) answer: F,
    pub(crate) count: std::sync::atomic::AtomicUsize,
}

/// What [`Faulty`] does with one task request.
pub(crate) enum Reply {
    /// Answer these bytes.
    Body(Vec<u8>),
    /// Refuse with this reason.
    Refuse(RejectReason),
    /// Never answer.
    Hang,
}

impl<F> Faulty<F>
where
    F: Fn(usize, &<NextByte as Task>::Request) -> Reply + Send + Sync + 'static,
{
    /// Serves `info` and `model`'s checkpoint file as its weights.
    pub(crate) fn new(model: &str, info: &ModelInfo, answer: F) -> Self {
        let weights = std::fs::read(checkpoint(model)).unwrap();
        Self {
            info: subnet_protocol::task::encode::<_, ()>(info, usize::MAX).unwrap(),
            file_digest: info.weights_file_digest,
            weights,
            answer,
            count: Default::default(),
        }
    }
}

impl<F> Handler for Faulty<F>
where
    F: Fn(usize, &<NextByte as Task>::Request) -> Reply + Send + Sync + 'static,
{
    async fn handle(&self, request: VerifiedRequest) -> Result<Vec<u8>, RejectReason> {
        use subnet_protocol::task::{WeightsChunk, WeightsRequest, decode, encode};
        match request.kind() {
            RequestKind::ModelInfo => Ok(self.info.clone()),
            RequestKind::Weights => {
                let ask: WeightsRequest =
                    decode::<_, ()>(request.body(), 64).map_err(|_| RejectReason::BadRequest)?;
                let start = usize::try_from(ask.offset).unwrap().min(self.weights.len());
                let end = (start + ask.max_bytes as usize).min(self.weights.len());
                let chunk = WeightsChunk {
                    offset: ask.offset,
                    total_bytes: self.weights.len() as u64,
                    file_digest: self.file_digest,
                    data: self.weights[start..end].to_vec(),
                };
                encode::<_, ()>(&chunk, usize::MAX).map_err(|_| RejectReason::Internal)
            }
            RequestKind::Task => {
                let task_request = NextByte
                    .decode_request(request.body())
                    .map_err(|_| RejectReason::BadRequest)?;
                let n = self.count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                match (self.answer)(n, &task_request) {
                    Reply::Body(body) => Ok(body),
                    Reply::Refuse(reason) => Err(reason),
                    Reply::Hang => {
                        std::future::pending::<()>().await;
                        Err(RejectReason::Internal)
                    }
                }
            }
            RequestKind::Health => Err(RejectReason::Unsupported),
        }
    }
}

/// The model info a miner of checkpoint `model` serves on `subnet`, with its weights file, and
/// its AINFT registered on chain (by eve) if it is not yet.
pub(crate) async fn model_info(subnet: &Subnet, model: &str) -> ModelInfo {
    use subnet_protocol::ainft::Digest;
    let served = load_lm::<Cpu>(&checkpoint(model), Default::default(), None).unwrap();
    let genesis = subnet.chain.info().await.unwrap().genesis_hash;
    let manifest = subnet_miner::manifest(
        served.data,
        served.model,
        NextByte::NAME,
        subnet.netuid,
        genesis,
    );
    if subnet.chain.ainft(&manifest.id()).await.unwrap().is_none() {
        subnet
            .chain
            .register_ainft(&Keypair::dev("eve"), manifest.clone())
            .await
            .unwrap();
    }
    ModelInfo {
        id: manifest.id(),
        manifest,
        weights_bytes: served.weights_file.len() as u64,
        weights_file_digest: Digest::of(&served.weights_file),
        weights_format: served.weights_format,
        metadata: served.metadata,
    }
}

/// The stored weights row of `uid` on `subnet`, as `(uid, value)` pairs.
pub(crate) async fn weights_row(subnet: &Subnet, uid: Uid) -> Vec<(Uid, u16)> {
    let rows = subnet.chain.weights(subnet.netuid).await.unwrap();
    rows.get(uid.index()).cloned().unwrap_or_default()
}
