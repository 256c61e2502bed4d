//! `subnet localnet up|down`: a whole subnet on 127.0.0.1, one process per participant.
//!
//! `up` starts `subnet-node --dev` on a free port, creates the subnet of
//! `deploy/localnet/subnet.toml` (owned by `dev:alice`), registers and stakes two validators
//! (`dev:bob` and `dev:charlie` stake on them), starts three miners serving the shipped
//! `tiny`, `small` and `best` checkpoints (each registers itself and its AINFT, paid by
//! `dev:dave`, `dev:eve`, `dev:ferdie`) and, once the first epoch has given the validators
//! their permits, the two validators. Every child has its own directory under the data
//! directory, with its configuration (written from the templates in `deploy/localnet/`) and
//! its log; `localnet.json` there names their pids. It then follows the chain block by block
//! until `--epochs` epochs have run, or SIGINT / SIGTERM, and stops the children: SIGTERM,
//! then SIGKILL past a grace period. While it follows the chain, a child that exits on its own
//! (a crash, `kill -9`) is started again with the same configuration, the node on the same
//! port and database, up to [`MAX_RESTARTS`] times each; a child that fails while the subnet
//! is being set up fails the run.
//!
//! `down` stops whatever an interrupted `up` left running and removes the data directory.

mod assets;
mod process;
mod report;
mod state;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use clap::{Args, Subcommand};
use subnet_chain_client::{Chain, NodeUrl, ReceiptExt, RpcChain};
use subnet_protocol::chain::{EmissionReport, Hyperparameters, Metagraph};
use subnet_protocol::ids::{BlockNumber, NetUid, Rao};
use subnet_protocol::keys::Keypair;
use tokio::sync::watch;

use self::assets::{
    Assets, Binaries, Common, MINERS, OWNER, VALIDATORS, ValidatorSpec, write_miner_config,
    write_validator_config,
};
use self::process::{Proc, Stop, Stopped, TAIL_LINES, stop_all, until_stop};
use self::report::{Roster, Screen, Summary};
use self::state::{ProcessEntry, State};
use crate::context::{Global, block_on};
use crate::subnets::load_hyperparameters;
use crate::table::emit;

/// Longest a child may take to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// How long children have to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// Times each child is started again after exiting on its own while the subnet runs.
pub(crate) const MAX_RESTARTS: u32 = 3;

/// Longest the node may go unanswered (while it restarts) before the run fails.
const NODE_OUTAGE: Duration = Duration::from_secs(60);

/// Pause between tries while the node does not answer.
const OUTAGE_POLL: Duration = Duration::from_millis(250);

/// Tempos the validators' permits may take to appear.
const PERMIT_TEMPOS: u64 = 3;

/// The default data directory, relative to the working directory.
const DEFAULT_DATA_DIR: &str = "target/localnet";

/// `subnet localnet ...`
#[derive(Debug, Subcommand)]
pub(crate) enum LocalnetCommand {
    /// Starts a node, creates a subnet, starts three miners (tiny, small, best checkpoints)
    /// and two validators, shows the metagraph every block, and stops them all at the end.
    Up(UpArgs),
    /// Stops the processes an interrupted `up` left running and removes its data directory.
    Down(DownArgs),
}

/// Arguments of `subnet localnet up`.
#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// Stops after this many epochs (counted once every process is ready); default: run until
    /// Ctrl-C or SIGTERM.
    #[arg(long, value_name = "N")]
    epochs: Option<u64>,
    /// Data directory: the node's database, each child's configuration, log and database, and
    /// the state file. Emptied first if an earlier run left it.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// Time between blocks, e.g. 250ms or 1s [default: the dev chain's, 1s].
    #[arg(long, value_name = "DURATION", value_parser = parse_block_time)]
    block_time: Option<Duration>,
    /// Directory of `subnet-node`, `miner` and `validator` [default: that of this `subnet`].
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
    /// Directory of the templates `subnet.toml`, `miner.toml`, `validator.toml` [default:
    /// `deploy/localnet`].
    #[arg(long, value_name = "DIR")]
    config_dir: Option<PathBuf>,
    /// Directory of the checkpoints `tiny`, `small`, `best` (`.mpk` and `.json`) [default:
    /// `models/checkpoints`].
    #[arg(long, value_name = "DIR")]
    checkpoints: Option<PathBuf>,
}

/// Arguments of `subnet localnet down`.
#[derive(Debug, Args)]
pub(crate) struct DownArgs {
    /// The data directory of the `up` to clean up.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
}

fn parse_block_time(text: &str) -> Result<Duration, String> {
    match subnet_service::parse_duration(text) {
        Ok(d) if d >= Duration::from_millis(10) => Ok(d),
        _ => Err(format!(
            "`{text}` is not a block time such as 250ms or 1s (at least 10ms)"
        )),
    }
}

/// Runs a `localnet` subcommand.
pub(crate) fn run(global: &Global, command: LocalnetCommand) -> Result<()> {
    match command {
        LocalnetCommand::Up(args) => up(global, &args),
        LocalnetCommand::Down(args) => {
            let report = state::down(&args.data_dir)?;
            emit(global.json, &report, |r| {
                let mut text = String::new();
                if r.stopped_up {
                    text.push_str("asked the running `localnet up` to stop\n");
                }
                for name in &r.terminated {
                    text.push_str(&format!("stopped {name}\n"));
                }
                for name in &r.killed {
                    text.push_str(&format!("killed {name} (it ignored SIGTERM)\n"));
                }
                if r.removed {
                    text.push_str(&format!("removed {}\n", r.data_dir.display()));
                } else {
                    text.push_str(&format!("no localnet in {}\n", r.data_dir.display()));
                }
                text
            })
        }
    }
}

fn up(global: &Global, args: &UpArgs) -> Result<()> {
    let binaries = Binaries::locate(args.bin_dir.as_deref())?;
    let assets = Assets::locate(args.config_dir.as_deref(), args.checkpoints.as_deref())?;
    let hyperparameters = load_hyperparameters(&assets.subnet_toml())?;
    for spec in &MINERS {
        let checkpoint = assets.checkpoint(spec.checkpoint);
        if !checkpoint.is_file() {
            bail!("checkpoint {} not found", checkpoint.display());
        }
    }
    let data_dir = state::prepare(&args.data_dir)?;
    let mut net = Localnet {
        binaries,
        assets,
        screen: Screen::new(global.json),
        procs: Vec::new(),
        state: State {
            up_pid: std::process::id(),
            data_dir,
            ..State::default()
        },
    };
    net.state.save()?;
    block_on(async {
        let (stop_tx, mut stop) = watch::channel(false);
        watch_signals(stop_tx)?;
        let outcome = net.run(args, hyperparameters, &mut stop).await;
        net.screen.keep();
        let stopped = net.shutdown().await;
        let unclean: Vec<String> = stopped
            .iter()
            .filter(|s| !s.clean())
            .map(|s| s.name.clone())
            .collect();
        let summary = outcome?.map(|mut summary| {
            summary.processes = stopped;
            summary
        });
        if let Some(summary) = summary {
            emit(global.json, &summary, report::summary_text)?;
        }
        if !unclean.is_empty() {
            bail!(
                "{} did not stop cleanly on SIGTERM; logs in {}",
                unclean.join(", "),
                net.state.data_dir.display()
            );
        }
        Ok(())
    })?
}

/// Sends `true` on `stop` at the first SIGINT or SIGTERM.
fn watch_signals(stop: watch::Sender<bool>) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        // An error means nobody is listening any more: nothing left to stop.
        let _ = stop.send(true);
    });
    Ok(())
}

/// A running local subnet.
#[derive(Debug)]
struct Localnet {
    binaries: Binaries,
    assets: Assets,
    screen: Screen,
    /// Children in start order: node, miners, validators.
    procs: Vec<Proc>,
    state: State,
}

/// A stop was requested while waiting.
fn interrupted() -> anyhow::Error {
    anyhow!("interrupted before the local subnet was up")
}

/// The value of `key=` in a ready line.
fn field<'a>(line: &'a str, key: &str) -> Result<&'a str> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .with_context(|| format!("no {key}= in `{line}`"))
}

impl Localnet {
    /// Starts everything, follows the chain until the epochs are done or a stop is requested,
    /// and returns the summary (its `processes` still empty): `None` if stopped before the
    /// subnet was up.
    async fn run(
        &mut self,
        args: &UpArgs,
        hyperparameters: Hyperparameters,
        stop: &mut Stop,
    ) -> Result<Option<Summary>> {
        let (chain, common) = self.start_node(args.block_time, stop).await?;
        let url = common.url.clone();
        let netuid = self.create_subnet(&chain, hyperparameters, stop).await?;
        let common = Common { netuid, ..common };
        self.start_miners(&common, stop).await?;
        let tempo = self.wait_for_permits(&chain, netuid, stop).await?;
        let tempo_time = common.block_time.saturating_mul(u32::from(tempo));
        self.start_validators(&common, tempo_time, stop).await?;
        let metagraph = chain.metagraph(netuid).await?;
        self.screen.line(&format!(
            "localnet ready rpc={url} netuid={netuid} block={} data_dir={}",
            metagraph.block,
            self.state.data_dir.display()
        ));
        let (epochs, last) = self
            .follow(&chain, netuid, metagraph, args.epochs, stop)
            .await?;
        let report = chain.emissions().await?;
        let mut miners = Vec::new();
        for spec in &MINERS {
            let key = Keypair::dev(spec.hotkey).public();
            if let Some(neuron) = last.by_hotkey(&key) {
                let bits = self.assets.eval_bits_per_byte(spec.checkpoint)?;
                miners.push(report::miner_summary(
                    neuron,
                    &report,
                    spec.checkpoint,
                    bits,
                ));
            }
        }
        let validators = VALIDATORS
            .iter()
            .filter_map(|v| last.by_hotkey(&Keypair::dev(v.hotkey).public()))
            .map(report::validator_summary)
            .collect();
        Ok(Some(Summary {
            netuid,
            rpc: url.to_string(),
            epochs,
            block: last.block.get(),
            miners,
            validators,
            total_emitted: report.total_emitted.get(),
            total_credited: report.total_credited.get(),
            processes: Vec::new(),
        }))
    }

    /// Starts a child: its log is `DIR/NAME.log`, and the state file names it at once.
    fn spawn(&mut self, name: &str, binary: &Path, args: &[String], dir: &Path) -> Result<usize> {
        let log = dir.join(format!("{name}.log"));
        let proc = Proc::spawn(name, binary, args, &log)?;
        self.state.processes.push(ProcessEntry {
            name: name.to_owned(),
            pid: proc.pid(),
            binary: binary.to_owned(),
            log,
            ready: None,
        });
        self.procs.push(proc);
        self.state.save()?;
        Ok(self.procs.len().saturating_sub(1))
    }

    /// Waits for child `index`'s ready line and records it in the state file.
    async fn ready(&mut self, index: usize, prefix: &str, stop: &mut Stop) -> Result<String> {
        let proc = self.procs.get_mut(index).context("no such child")?;
        let line = match proc.wait_ready(prefix, READY_TIMEOUT, stop).await {
            Ok(line) => line,
            Err(e) => return Err(self.fail(index, e)),
        };
        if let Some(entry) = self.state.processes.get_mut(index) {
            entry.ready = Some(line.clone());
        }
        self.state.save()?;
        Ok(line)
    }

    /// Shows the end of child `index`'s log and returns `error` as one line naming the log.
    fn fail(&mut self, index: usize, error: anyhow::Error) -> anyhow::Error {
        let Some(proc) = self.procs.get(index) else {
            return error;
        };
        let (tail, log) = (proc.tail(TAIL_LINES), proc.log.display().to_string());
        self.screen.keep();
        eprint!("--- the end of {log} ---\n{tail}---\n");
        error.context(format!("see {log}"))
    }

    /// Fails if a child has exited.
    fn check_alive(&mut self) -> Result<()> {
        let exited = self
            .procs
            .iter_mut()
            .enumerate()
            .find_map(|(i, p)| p.exited().map(|s| (i, p.name.clone(), s)));
        match exited {
            None => Ok(()),
            Some((index, name, status)) => Err(self.fail(
                index,
                anyhow!("{name} exited unexpectedly ({})", process::describe(status)),
            )),
        }
    }

    /// Starts again each child that has exited on its own, up to [`MAX_RESTARTS`] times; fails
    /// for one that exits more often.
    fn supervise(&mut self) -> Result<()> {
        for index in 0..self.procs.len() {
            let Some(proc) = self.procs.get_mut(index) else {
                continue;
            };
            let Some(status) = proc.exited() else {
                continue;
            };
            let how = process::describe(status);
            if proc.restarts >= MAX_RESTARTS {
                let error = anyhow!(
                    "{} exited unexpectedly ({how}), restarted {MAX_RESTARTS} times already",
                    proc.name
                );
                return Err(self.fail(index, error));
            }
            if let Err(e) = proc.restart() {
                return Err(self.fail(index, e));
            }
            let (name, pid, restarts) = (proc.name.clone(), proc.pid(), proc.restarts);
            if let Some(entry) = self.state.processes.get_mut(index) {
                entry.pid = pid;
            }
            self.state.save()?;
            self.screen.keep();
            self.screen.line(&format!(
                "{name} exited unexpectedly ({how}); started again as pid {pid} (restart \
                 {restarts} of {MAX_RESTARTS})"
            ));
        }
        Ok(())
    }

    async fn start_node(
        &mut self,
        block_time: Option<Duration>,
        stop: &mut Stop,
    ) -> Result<(RpcChain, Common)> {
        let dir = self.state.data_dir.join("node");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut args: Vec<String> = vec!["--dev".into(), "--rpc".into(), "127.0.0.1:0".into()];
        args.extend(["--data-dir".into(), dir.join("db").to_string_lossy().into()]);
        args.extend(["--metrics".into(), "127.0.0.1:0".into()]);
        if let Some(d) = block_time {
            args.extend(["--block-time".into(), format!("{}ms", d.as_millis())]);
        }
        let node = self.binaries.node.clone();
        let index = self.spawn("node", &node, &args, &dir)?;
        let line = self.ready(index, "subnet-node ready ", stop).await?;
        let rpc: SocketAddr = field(&line, "rpc")?
            .parse()
            .with_context(|| format!("bad rpc address in `{line}`"))?;
        let url = NodeUrl::from(rpc);
        // Started again, it must listen where the others already look for it.
        if let Some(proc) = self.procs.get_mut(index) {
            for arg in proc
                .args
                .iter_mut()
                .filter(|a| a.as_str() == "127.0.0.1:0")
                .take(1)
            {
                *arg = rpc.to_string();
            }
        }
        self.state.rpc = Some(url.to_string());
        self.state.save()?;
        let chain = RpcChain::new(url.clone());
        let info = chain
            .info()
            .await
            .context("asking the node its block time")?;
        let common = Common {
            url,
            netuid: NetUid(0),
            block_time: Duration::from_millis(info.block_time_ms.max(1)),
        };
        self.screen.line(&format!(
            "node up: rpc {} (block time {} ms), log {}",
            common.url,
            info.block_time_ms,
            dir.join("node.log").display()
        ));
        Ok((chain, common))
    }

    /// Creates the subnet as `subnet subnet create` does, and registers and stakes the
    /// validators (their permits come with the first epoch).
    async fn create_subnet(
        &mut self,
        chain: &RpcChain,
        hyperparameters: Hyperparameters,
        stop: &mut Stop,
    ) -> Result<NetUid> {
        let tempo = hyperparameters.tempo;
        let owner = Keypair::dev(OWNER);
        let receipt = until_stop(stop, chain.create_subnet(&owner, hyperparameters))
            .await
            .ok_or_else(interrupted)?
            .context("creating the subnet")?;
        let netuid = receipt.created_netuid()?;
        self.state.netuid = Some(netuid.0);
        self.state.save()?;
        let [first, second] = &VALIDATORS;
        let both = async {
            tokio::join!(
                stake_validator(chain, netuid, first),
                stake_validator(chain, netuid, second)
            )
        };
        let (a, b) = until_stop(stop, both).await.ok_or_else(interrupted)?;
        a?;
        b?;
        self.screen.line(&format!(
            "created subnet {netuid} (tempo {tempo}, owner dev:{OWNER}); validators registered \
             and staked ({} and {} tokens)",
            first.stake, second.stake
        ));
        Ok(netuid)
    }

    async fn start_miners(&mut self, common: &Common, stop: &mut Stop) -> Result<()> {
        let mut started = Vec::new();
        for (i, spec) in MINERS.iter().enumerate() {
            let name = format!("miner-{}", spec.checkpoint);
            let dir = self.child_dir(&name)?;
            let config = write_miner_config(&self.assets, common, i, spec, &dir)?;
            let args = vec!["--config".into(), config.to_string_lossy().into_owned()];
            let miner = self.binaries.miner.clone();
            started.push(self.spawn(&name, &miner, &args, &dir)?);
        }
        for index in started {
            let line = self.ready(index, "miner ready ", stop).await?;
            let name = self.procs.get(index).map_or("", |p| p.name.as_str());
            let msg = format!(
                "{name} up: uid {} addr {} ainft {}",
                field(&line, "uid")?,
                field(&line, "addr")?,
                field(&line, "ainft")?
            );
            self.screen.line(&msg);
        }
        Ok(())
    }

    /// Waits for the epoch that gives both validators a permit (miners answer only callers
    /// with one, and a validator refused early backs off before asking again).
    async fn wait_for_permits(
        &mut self,
        chain: &RpcChain,
        netuid: NetUid,
        stop: &mut Stop,
    ) -> Result<u16> {
        let tempo16 = chain.hyperparameters(netuid).await?.tempo;
        let tempo = u64::from(tempo16);
        let keys: Vec<_> = VALIDATORS
            .iter()
            .map(|v| Keypair::dev(v.hotkey).public())
            .collect();
        let start = chain.current_block().await?;
        let limit = start.saturating_add(tempo.saturating_mul(PERMIT_TEMPOS).max(1));
        self.screen
            .line("waiting for the first epoch to give the validators their permits");
        loop {
            let metagraph = chain.metagraph(netuid).await?;
            let permitted = keys
                .iter()
                .all(|k| metagraph.by_hotkey(k).is_some_and(|n| n.validator_permit));
            if permitted {
                return Ok(tempo16);
            }
            if metagraph.block > limit {
                bail!("the validators had no permit {PERMIT_TEMPOS} tempos after staking");
            }
            until_stop(
                stop,
                chain.wait_for_block(metagraph.block, Duration::from_secs(5)),
            )
            .await
            .ok_or_else(interrupted)??;
            self.check_alive()?;
        }
    }

    async fn start_validators(
        &mut self,
        common: &Common,
        tempo_time: Duration,
        stop: &mut Stop,
    ) -> Result<()> {
        let mut started = Vec::new();
        for (i, spec) in VALIDATORS.iter().enumerate() {
            let name = format!("validator-{i}");
            let dir = self.child_dir(&name)?;
            let config = write_validator_config(&self.assets, common, i, spec, &dir, tempo_time)?;
            let args = vec!["--config".into(), config.to_string_lossy().into_owned()];
            let validator = self.binaries.validator.clone();
            started.push(self.spawn(&name, &validator, &args, &dir)?);
        }
        for index in started {
            let line = self.ready(index, "validator ready ", stop).await?;
            let name = self.procs.get(index).map_or("", |p| p.name.as_str());
            let msg = format!("{name} up: uid {}", field(&line, "uid")?);
            self.screen.line(&msg);
        }
        Ok(())
    }

    fn child_dir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.state.data_dir.join(name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    /// Follows the chain block by block: the live table every block, a line per epoch, until
    /// `epochs` epochs have run or a stop is requested. Returns the epochs run and the last
    /// metagraph.
    async fn follow(
        &mut self,
        chain: &RpcChain,
        netuid: NetUid,
        mut metagraph: Metagraph,
        epochs: Option<u64>,
        stop: &mut Stop,
    ) -> Result<(u64, Metagraph)> {
        let roster = Roster {
            miners: MINERS
                .iter()
                .map(|m| (Keypair::dev(m.hotkey).public(), m.checkpoint))
                .collect(),
            validators: VALIDATORS
                .iter()
                .map(|v| Keypair::dev(v.hotkey).public())
                .collect(),
        };
        let mut last_epoch = metagraph.last_epoch_block;
        let mut run = 0u64;
        self.screen
            .table(&report::live_table(&metagraph, &roster, (run, epochs)));
        // Since when the node has not answered (it may be restarting).
        let mut outage: Option<Instant> = None;
        while epochs.is_none_or(|n| run < n) {
            let Some(next) = until_stop(
                stop,
                chain.wait_for_block(metagraph.block, Duration::from_secs(5)),
            )
            .await
            else {
                self.screen.keep();
                self.screen.line("stop requested");
                break;
            };
            self.supervise()?;
            let polled = match next {
                Ok(next) if next <= metagraph.block => Ok(None),
                Ok(_) => poll(chain, netuid, last_epoch).await.map(Some),
                Err(e) => Err(e.into()),
            };
            let polled = match polled {
                Ok(polled) => {
                    outage = None;
                    polled
                }
                Err(e) => {
                    let since = *outage.get_or_insert_with(Instant::now);
                    if since.elapsed() > NODE_OUTAGE {
                        return Err(e.context(format!(
                            "the node has not answered for {} s",
                            NODE_OUTAGE.as_secs()
                        )));
                    }
                    until_stop(stop, tokio::time::sleep(OUTAGE_POLL)).await;
                    continue;
                }
            };
            let Some((latest, report)) = polled else {
                continue;
            };
            metagraph = latest;
            if let Some(report) = report {
                let new = report.epochs.iter().filter(|e| {
                    e.netuid == netuid
                        && last_epoch.is_none_or(|l| e.block > l)
                        && metagraph.last_epoch_block.is_some_and(|l| e.block <= l)
                });
                for epoch in new {
                    run = run.saturating_add(1);
                    let line = report::epoch_line(run, epoch, &metagraph, &roster);
                    self.screen.line(&line);
                }
                last_epoch = metagraph.last_epoch_block;
            }
            self.screen
                .table(&report::live_table(&metagraph, &roster, (run, epochs)));
        }
        self.screen.keep();
        Ok((run, metagraph))
    }

    /// Stops the validators and miners together, then the node; returns how each ended.
    async fn shutdown(&mut self) -> Vec<Stopped> {
        if self.procs.is_empty() {
            return Vec::new();
        }
        self.screen.line(&format!(
            "stopping {} processes (SIGTERM, SIGKILL after {} s)",
            self.procs.len(),
            STOP_GRACE.as_secs()
        ));
        let (node, others) = self.procs.split_at_mut(1);
        let mut stopped = stop_all(others, STOP_GRACE).await;
        stopped.splice(0..0, stop_all(node, STOP_GRACE).await);
        for s in stopped.iter().filter(|s| s.killed) {
            self.screen
                .line(&format!("{} ignored SIGTERM and was killed", s.name));
        }
        stopped
    }
}

/// The metagraph at the head, and the emission report if an epoch ran since `last_epoch`.
async fn poll(
    chain: &RpcChain,
    netuid: NetUid,
    last_epoch: Option<BlockNumber>,
) -> Result<(Metagraph, Option<EmissionReport>)> {
    let metagraph = chain.metagraph(netuid).await?;
    if metagraph.last_epoch_block == last_epoch {
        return Ok((metagraph, None));
    }
    let report = chain.emissions().await?;
    Ok((metagraph, Some(report)))
}

/// Registers a validator's hotkey (its coldkey pays the burn) and stakes on it.
async fn stake_validator(chain: &RpcChain, netuid: NetUid, spec: &ValidatorSpec) -> Result<()> {
    let coldkey = Keypair::dev(spec.coldkey);
    let hotkey = Keypair::dev(spec.hotkey).public();
    let amount = Rao::from_tokens(spec.stake).context("stake overflows")?;
    let (registered, staked) = tokio::join!(
        chain.register(&coldkey, netuid, hotkey, None),
        chain.add_stake(&coldkey, hotkey, amount)
    );
    registered.with_context(|| format!("registering {}", spec.hotkey))?;
    staked.with_context(|| format!("staking on {}", spec.hotkey))?;
    Ok(())
}
