//! [`Validator`]: start (keys, chain, database, client), then steps and weight ticks until
//! shutdown; [`run`] does both from a [`Config`].

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use subnet_chain_client::{AnyChain, BlockWatcher, Chain, ChainError};
use subnet_protocol::ainft::AinftId;
use subnet_protocol::chain::Metagraph;
use subnet_protocol::ids::{BlockNumber, NetUid, Uid};
use subnet_protocol::keys::{Keypair, PublicKey};
use subnet_protocol::net::{Client, NetError};
use subnet_protocol::task::Task as _;
use subnet_service::metrics::serve_metrics;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::backoff::retry;
use crate::commit::{CommitError, Committer, WeightsEvent};
use crate::config::{Config, ConfigError};
use crate::evaluator::{Evaluator, RequestOf};
use crate::lm::{LmError, LmEvaluator};
use crate::metrics::ValidatorMetrics;
use crate::query::{QueryResult, Target, query_all};
use crate::sampling::{choose, step_rng};
use crate::score::{ema, step_reward};
use crate::store::{Store, StoreError, UidRecord};
use crate::verify::{Failure, Identities, SpotCheck, Standing};

/// Pause before following the chain again after a failed call.
const CHAIN_PAUSE: Duration = Duration::from_secs(1);

/// A validator failed to start, or a step or tick failed.
#[derive(Debug, thiserror::Error)]
pub enum ValidatorError {
    /// The configuration is invalid or the hotkey cannot be loaded.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The default task's evaluator could not be built.
    #[error("evaluation corpus")]
    Lm(#[from] LmError),
    /// A chain call failed (after retries, if it was transient).
    #[error("chain")]
    Chain(#[from] ChainError),
    /// The hotkey holds no UID on the subnet: register it first (`subnet register`).
    #[error("hotkey {hotkey} is not registered on subnet {netuid}")]
    NotRegistered {
        /// The hotkey.
        hotkey: PublicKey,
        /// The subnet.
        netuid: NetUid,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Setting weights failed as a whole.
    #[error(transparent)]
    Commit(#[from] CommitError),
    /// The QUIC client could not be set up.
    #[error("quic client")]
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
    /// A background task panicked.
    #[error("background task failed")]
    Join(#[source] tokio::task::JoinError),
}

/// What one step did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepReport {
    /// The step's number (from 0, continued across restarts).
    pub step: u64,
    /// The miners sampled.
    pub sampled: Vec<Uid>,
    /// The miners sent tasks (sampled and verified).
    pub queried: Vec<Uid>,
    /// Task requests by result.
    pub results: BTreeMap<QueryResult, usize>,
    /// Each queried miner's mean loss over its answered requests (`+∞` if none).
    pub losses: BTreeMap<Uid, f64>,
    /// Each sampled miner's reward this step.
    pub rewards: BTreeMap<Uid, f64>,
    /// Miners rejected this step, and why.
    pub rejected: Vec<(Uid, Failure)>,
    /// Answers re-run on registered weights.
    pub spot_checked: usize,
    /// The longest a successful answer took.
    pub slowest_answer: Duration,
    /// The step's wall time.
    pub took: Duration,
}

/// A running validator of the task `E` evaluates, on chain `C`.
///
/// [`Validator::start`] (default task) or [`Validator::start_with`] (any [`Evaluator`]) load
/// the hotkey, find its UID, open the database and bind the QUIC client; [`Validator::run`]
/// then steps every `step_interval` and ticks weights as blocks arrive, until shutdown. Tests
/// drive [`Validator::sync`], [`Validator::step`] and [`Validator::tick_weights`] directly.
pub struct Validator<C: Chain, E: Evaluator = LmEvaluator> {
    chain: C,
    config: Config,
    evaluator: Arc<E>,
    client: Arc<Client>,
    /// Requests in flight to miners, across task, model info and weights calls.
    permits: Arc<Semaphore>,
    hotkey: Keypair,
    uid: Uid,
    store: Store,
    metrics: ValidatorMetrics,
    metrics_listener: Option<TcpListener>,
    metagraph: Metagraph,
    /// Per-UID scores and identities, mirrored in the store.
    records: BTreeMap<Uid, UidRecord>,
    identities: Identities<E>,
    committer: Committer,
    seed: u64,
    step: u64,
    /// Draws commit salts; seeded from `seed`, on its own stream.
    salts: ChaCha8Rng,
}

impl<C: Chain, E: Evaluator> std::fmt::Debug for Validator<C, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("hotkey", &self.hotkey.public())
            .field("uid", &self.uid)
            .field("netuid", &self.config.netuid)
            .field("step", &self.step)
            .field("identities", &self.identities)
            .finish_non_exhaustive()
    }
}

impl<C: Chain + Clone + 'static> Validator<C, LmEvaluator> {
    /// Starts a validator of the default task, [`NextByte`](subnet_protocol::task::NextByte):
    /// builds its [`LmEvaluator`] from the configured corpus and shape (off the executor),
    /// then as [`Validator::start_with`].
    ///
    /// # Errors
    /// [`ValidatorError`].
    pub async fn start(config: Config, chain: C) -> Result<Self, ValidatorError> {
        config.validate()?;
        let (corpus, len, positions) = (
            config.corpus.clone(),
            config.context_len,
            config.scored_positions,
        );
        let evaluator =
            tokio::task::spawn_blocking(move || LmEvaluator::new(&corpus, len, positions))
                .await
                .map_err(ValidatorError::Join)??;
        Self::start_with(config, chain, evaluator).await
    }
}

impl<C: Chain + Clone + 'static, E: Evaluator> Validator<C, E> {
    /// Starts a validator evaluating with `evaluator`: loads the hotkey, finds its UID on the
    /// subnet, opens the database in `data_dir` (restoring scores, identities, pending
    /// commitments and the step count), binds the QUIC client and the metrics address.
    ///
    /// # Errors
    /// [`ValidatorError::NotRegistered`] if the hotkey holds no UID; others for keys, chain,
    /// database, sockets.
    pub async fn start_with(
        config: Config,
        chain: C,
        evaluator: E,
    ) -> Result<Self, ValidatorError> {
        config.validate()?;
        let hotkey = config.hotkey.load().map_err(ConfigError::from)?;
        let metrics = ValidatorMetrics::new()?;
        let netuid = config.netuid;
        let info = retry("info", &metrics, || chain.info()).await?;
        let metagraph = retry("metagraph", &metrics, || chain.metagraph(netuid)).await?;
        let uid = metagraph.by_hotkey(&hotkey.public()).map(|n| n.uid).ok_or(
            ValidatorError::NotRegistered {
                hotkey: hotkey.public(),
                netuid,
            },
        )?;
        let store = Store::open(&config.data_dir, info.genesis_hash, netuid, hotkey.public())?;
        let records = store.uids()?;
        let mut identities = Identities::new();
        for (uid, record) in &records {
            metrics.set_score(*uid, record.score);
            if record.rejected {
                identities.set(*uid, Standing::Rejected);
            }
        }
        let step = store.step()?;
        let seed = config.seed.unwrap_or_else(|| rand::rng().next_u64());
        // Step streams count up from 0; the last stream is the salts'.
        let salts = step_rng(seed, u64::MAX);
        let client = Client::bind(config.bind, hotkey.clone(), config.net_config()?)?;
        let metrics_listener = match config.metrics_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| ValidatorError::MetricsBind { addr, source })?,
            ),
            None => None,
        };
        let committer = Committer {
            netuid,
            hotkey: hotkey.clone(),
            metrics: metrics.clone(),
        };
        let permits = Arc::new(Semaphore::new(config.max_in_flight));
        let mut validator = Self {
            chain,
            evaluator: Arc::new(evaluator),
            client: Arc::new(client),
            permits,
            hotkey,
            uid,
            store,
            metrics,
            metrics_listener,
            metagraph: metagraph.clone(),
            records,
            identities,
            committer,
            seed,
            step,
            salts,
            config,
        };
        validator.apply_metagraph(metagraph)?;
        tracing::info!(uid = %uid, hotkey = %validator.hotkey.public(), netuid = %netuid,
            step, scored = validator.records.len(), "validator started");
        Ok(validator)
    }

    /// The validator's UID.
    pub fn uid(&self) -> Uid {
        self.uid
    }

    /// Its hotkey.
    pub fn hotkey(&self) -> PublicKey {
        self.hotkey.public()
    }

    /// The metrics address, if serving metrics.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// Its metrics (shared with the running validator).
    pub fn metrics(&self) -> ValidatorMetrics {
        self.metrics.clone()
    }

    /// The metagraph in use.
    pub fn metagraph(&self) -> &Metagraph {
        &self.metagraph
    }

    /// Steps completed (continued across restarts).
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The moving-average score of every UID known.
    pub fn scores(&self) -> BTreeMap<Uid, f64> {
        self.records.iter().map(|(u, r)| (*u, r.score)).collect()
    }

    /// What the validator remembers of `uid`.
    pub fn record(&self, uid: Uid) -> Option<&UidRecord> {
        self.records.get(&uid)
    }

    /// Where `uid`'s identity check stands.
    pub fn standing(&self, uid: Uid) -> Standing {
        self.identities.standing(uid)
    }

    /// Reference models loaded (one per registered weights digest verified).
    pub fn references(&self) -> usize {
        self.identities.references()
    }

    /// The line the `validator` binary prints once started:
    /// `validator ready uid=… hotkey=…[ metrics=…]`.
    pub fn ready_line(&self) -> String {
        let mut line = format!("validator ready uid={} hotkey={}", self.uid, self.hotkey());
        if let Some(addr) = self.metrics_addr() {
            line.push_str(&format!(" metrics={addr}"));
        }
        line
    }

    /// Refetches the metagraph if the chain moved, and starts over the score of every UID
    /// whose hotkey or AINFT changed. Returns whether it refetched.
    ///
    /// # Errors
    /// [`ValidatorError::Chain`] once retries are exhausted, [`ValidatorError::Store`].
    pub async fn sync(&mut self) -> Result<bool, ValidatorError> {
        let chain = &self.chain;
        let height = retry("current_block", &self.metrics, || chain.current_block()).await?;
        if height == self.metagraph.block {
            return Ok(false);
        }
        let netuid = self.config.netuid;
        let metagraph = retry("metagraph", &self.metrics, || chain.metagraph(netuid)).await?;
        self.apply_metagraph(metagraph)?;
        Ok(true)
    }

    fn apply_metagraph(&mut self, metagraph: Metagraph) -> Result<(), ValidatorError> {
        for neuron in &metagraph.neurons {
            let same = self
                .records
                .get(&neuron.uid)
                .is_some_and(|r| r.hotkey == neuron.hotkey && r.ainft == neuron.ainft);
            if !same {
                if self.records.contains_key(&neuron.uid) {
                    tracing::info!(uid = %neuron.uid, hotkey = %neuron.hotkey,
                        "identity changed at uid; its score starts over");
                }
                let record = UidRecord::new(neuron.hotkey, neuron.ainft);
                self.store.put_uid(neuron.uid, &record)?;
                self.records.insert(neuron.uid, record);
                self.identities.reset(neuron.uid);
                self.metrics.set_score(neuron.uid, 0.0);
            }
        }
        let n = metagraph.neurons.len();
        let gone: Vec<Uid> = self
            .records
            .keys()
            .copied()
            .filter(|u| u.index() >= n)
            .collect();
        for uid in gone {
            self.store.remove_uid(uid)?;
            self.records.remove(&uid);
            self.identities.reset(uid);
            self.metrics.remove_score(uid);
        }
        if let Some(me) = metagraph.by_hotkey(&self.hotkey.public()) {
            self.uid = me.uid;
        }
        self.metrics.set_metagraph_block(metagraph.block.get());
        self.metagraph = metagraph;
        Ok(())
    }

    /// The miners a step may sample: serving an axon, not this validator.
    fn eligible(&self) -> Vec<(Target, Option<AinftId>)> {
        let me = self.hotkey.public();
        self.metagraph
            .neurons
            .iter()
            .filter(|n| n.hotkey != me)
            .filter_map(|n| Target::from_neuron(n).map(|t| (t, n.ainft)))
            .collect()
    }

    /// One step on the current metagraph: samples miners, checks the identity of those not
    /// yet verified, sends every verified one the same fresh requests, scores the answers,
    /// spot-checks a sample on the registered weights, and updates and stores the moving
    /// averages. Failed requests score 0; nothing a miner does fails the step.
    ///
    /// # Errors
    /// [`ValidatorError::Store`] if the database fails.
    pub async fn step(&mut self) -> Result<StepReport, ValidatorError> {
        let started = Instant::now();
        let mut rng = step_rng(self.seed, self.step);
        let eligible = self.eligible();
        let sampled: Vec<(Target, Option<AinftId>)> =
            choose(&mut rng, eligible.len(), self.config.sample_size)
                .into_iter()
                .filter_map(|i| eligible.get(i).copied())
                .collect();
        let mut report = StepReport {
            step: self.step,
            sampled: sampled.iter().map(|(t, _)| t.uid).collect(),
            ..StepReport::default()
        };
        let rejected = self
            .identities
            .verify(
                self.step,
                &self.client,
                &self.evaluator,
                &sampled,
                &self.permits,
                self.config.weights_chunk_bytes,
            )
            .await;
        for &(_, failure) in &rejected {
            self.metrics.verification_failure(failure);
        }
        report.rejected = rejected;

        let targets: Vec<Target> = sampled
            .iter()
            .map(|(t, _)| *t)
            .filter(|t| matches!(self.identities.standing(t.uid), Standing::Verified { .. }))
            .collect();
        report.queried = targets.iter().map(|t| t.uid).collect();
        let probes = self
            .evaluator
            .probes(&mut rng, self.config.requests_per_miner);
        let task = self.evaluator.task();
        let (mut kept, mut bodies) = (Vec::new(), Vec::new());
        for probe in probes {
            match task.encode_request(&probe.request) {
                Ok(body) => {
                    bodies.push(body);
                    kept.push(probe);
                }
                Err(e) => tracing::warn!(error = %e, "evaluator built an invalid request"),
            }
        }
        let probes = kept;
        let requests: Arc<Vec<RequestOf<E>>> =
            Arc::new(probes.iter().map(|p| p.request.clone()).collect());
        let bodies = Arc::new(bodies);
        let round = if targets.is_empty() || bodies.is_empty() {
            None
        } else {
            Some(
                query_all(
                    &self.client,
                    &self.evaluator,
                    &targets,
                    &requests,
                    &bodies,
                    &self.permits,
                )
                .await,
            )
        };
        let mut losses: BTreeMap<Uid, Vec<Option<f64>>> = BTreeMap::new();
        if let Some(round) = &round {
            report.slowest_answer = round.slowest;
            for (target, row) in targets.iter().zip(&round.answers) {
                let mut per_request = Vec::with_capacity(row.len());
                for (r, outcome) in row.iter().enumerate() {
                    let result = match outcome {
                        Ok(_) => QueryResult::Ok,
                        Err(e) => *e,
                    };
                    self.metrics.query(result);
                    *report.results.entry(result).or_default() += 1;
                    per_request.push(match (outcome, probes.get(r)) {
                        (Ok(answer), Some(probe)) => Some(self.evaluator.loss(probe, answer)),
                        _ => None,
                    });
                }
                losses.insert(target.uid, per_request);
            }
            let uids: Vec<Uid> = targets.iter().map(|t| t.uid).collect();
            let checks = self
                .identities
                .spot_check(
                    &self.evaluator,
                    &mut rng,
                    &uids,
                    &requests,
                    &round.answers,
                    (
                        self.config.spot_check_rate,
                        self.config.spot_check_tolerance,
                    ),
                )
                .await;
            for (uid, check) in checks {
                match check {
                    SpotCheck::Passed { checked } => {
                        report.spot_checked += checked;
                        self.metrics.spot_checked(checked);
                    }
                    SpotCheck::Failed => {
                        report.spot_checked += 1;
                        self.metrics.spot_checked(1);
                        self.metrics.verification_failure(Failure::SpotCheck);
                        report.rejected.push((uid, Failure::SpotCheck));
                    }
                }
            }
        }
        let temperature = self.config.reward_temperature;
        for (target, _) in &sampled {
            let uid = target.uid;
            let reward = match (self.identities.standing(uid), losses.get(&uid)) {
                (Standing::Verified { .. }, Some(l)) => step_reward(l, temperature),
                _ => 0.0,
            };
            if let Some(l) = losses.get(&uid) {
                let answered: Vec<f64> = l.iter().flatten().copied().collect();
                let mean = if answered.is_empty() {
                    f64::INFINITY
                } else {
                    answered.iter().sum::<f64>() / answered.len() as f64
                };
                report.losses.insert(uid, mean);
            }
            report.rewards.insert(uid, reward);
            let Some(record) = self.records.get_mut(&uid) else {
                continue;
            };
            if self.identities.standing(uid) == Standing::Rejected {
                record.rejected = true;
                record.score = 0.0;
            } else {
                record.score = ema(record.score, reward, self.config.ema_alpha);
            }
            self.metrics.set_score(uid, record.score);
            self.store.put_uid(uid, record)?;
        }
        self.step += 1;
        self.store.set_step(self.step)?;
        self.store.flush().await?;
        report.took = started.elapsed();
        self.metrics.step_done(report.took);
        tracing::info!(step = report.step, sampled = report.sampled.len(),
            queried = report.queried.len(), rejected = report.rejected.len(),
            took = ?report.took, "step done");
        Ok(report)
    }

    /// Reveals pending commitments whose window is open and sets (or commits) weights if they
    /// are due, on the current metagraph.
    ///
    /// # Errors
    /// [`ValidatorError::Commit`] if the subnet cannot be read or the database fails.
    pub async fn tick_weights(&mut self) -> Result<Vec<WeightsEvent>, ValidatorError> {
        let scores = self.scores();
        Ok(self
            .committer
            .tick(
                &self.chain,
                &self.store,
                &self.metagraph,
                &scores,
                &mut self.salts,
            )
            .await?)
    }

    /// Runs until `shutdown` completes: a step every `step_interval` (a late step delays the
    /// next rather than bunching them), and on each new block a metagraph sync and a weights
    /// tick. Errors are logged and the loop goes on. On shutdown the step in progress is
    /// abandoned, the client's connections are closed, the database flushed and the metrics
    /// server stopped.
    ///
    /// # Errors
    /// [`ValidatorError::Join`] if the metrics server panicked.
    pub async fn run(
        mut self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ValidatorError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let metrics_server = self.metrics_listener.take().map(|listener| {
            tokio::spawn(serve_metrics(listener, self.metrics.registry(), stop_rx))
        });
        let mut shutdown = std::pin::pin!(shutdown);
        let mut ticker = tokio::time::interval(self.config.step_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let watch_chain = self.chain.clone();
        let mut watcher = BlockWatcher::new(self.metagraph.block);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                _ = ticker.tick() => {
                    let stepped = tokio::select! {
                        () = &mut shutdown => break,
                        stepped = self.sync_and_step() => stepped,
                    };
                    if let Err(e) = stepped {
                        tracing::warn!(error = %e, "step failed");
                    }
                }
                next = watcher.next(&watch_chain) => match next {
                    Ok(_) => {
                        let ticked = tokio::select! {
                            () = &mut shutdown => break,
                            ticked = self.sync_and_tick() => ticked,
                        };
                        if let Err(e) = ticked {
                            tracing::warn!(error = %e, "weights tick failed");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "following the chain failed; retrying");
                        tokio::select! {
                            () = &mut shutdown => break,
                            () = tokio::time::sleep(CHAIN_PAUSE) => {}
                        }
                    }
                },
            }
        }
        tracing::info!("validator shutting down");
        self.client.close().await;
        if let Err(e) = self.store.flush().await {
            tracing::warn!(error = %e, "final flush failed");
        }
        // A send error means every receiver is gone: nothing left to stop.
        let _ = stop_tx.send(true);
        if let Some(task) = metrics_server {
            task.await.map_err(ValidatorError::Join)?;
        }
        tracing::info!("validator stopped");
        Ok(())
    }

    async fn sync_and_step(&mut self) -> Result<StepReport, ValidatorError> {
        if let Err(e) = self.sync().await {
            // A stale metagraph still names the miners to query.
            tracing::warn!(error = %e, "metagraph sync failed; stepping on the last one");
        }
        self.step().await
    }

    async fn sync_and_tick(&mut self) -> Result<Vec<WeightsEvent>, ValidatorError> {
        self.sync().await?;
        self.tick_weights().await
    }
}

/// Height of the metagraph in use, for callers that wait on blocks.
impl<C: Chain, E: Evaluator> Validator<C, E> {
    /// The block of the metagraph in use.
    pub fn block(&self) -> BlockNumber {
        self.metagraph.block
    }
}

/// Starts the validator `config` describes on the chain it names and runs it until `shutdown`.
///
/// # Errors
/// As [`Validator::start`] and [`Validator::run`].
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ValidatorError> {
    let chain = AnyChain::from_backend(&config.chain)?;
    let validator = Validator::start(config, chain).await?;
    tracing::info!("{}", validator.ready_line());
    validator.run(shutdown).await
}
