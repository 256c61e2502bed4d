//! `miner`: serves a model on a subnet.
//!
//! Prints one line on stdout once serving,
//! `miner ready addr=ADDR uid=N ainft=ID hotkey=SS58 fingerprint=HEX [metrics=ADDR]`, and logs
//! to stderr (`RUST_LOG` filters). Stops gracefully on SIGINT or SIGTERM: no new requests,
//! the ones in flight finish.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use subnet_chain_client::{AnyChain, ChainBackend, NodeUrl};
use subnet_miner::{Config, DevKey, Device, KeyFile, KeySource, Miner, parse_duration};
use subnet_protocol::NetUid;

/// Serves a model on a subnet: registers it under its AINFT and answers validators over QUIC.
#[derive(Debug, Parser)]
#[command(name = "miner", version)]
struct Cli {
    /// Miner configuration TOML (flags override it).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Subnet to serve.
    #[arg(long)]
    netuid: Option<NetUid>,
    /// QUIC listen address (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// IP to publish in the axon.
    #[arg(long, value_name = "IP")]
    external_ip: Option<IpAddr>,
    /// Checkpoint record file (its .json metadata beside it).
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// cpu, cuda or cuda:N.
    #[arg(long)]
    device: Option<Device>,
    /// The local node's JSON-RPC URL (sets `chain.backend = "local"`).
    #[arg(long, value_name = "URL")]
    chain_url: Option<NodeUrl>,
    /// Hotkey keyfile.
    #[arg(long, value_name = "FILE", conflicts_with = "dev_hotkey")]
    hotkey: Option<PathBuf>,
    /// Use the named development hotkey (public knowledge: local subnets only).
    #[arg(long, value_name = "NAME")]
    dev_hotkey: Option<String>,
    /// Coldkey keyfile.
    #[arg(long, value_name = "FILE", conflicts_with = "dev_coldkey")]
    coldkey: Option<PathBuf>,
    /// File holding the coldkey's password (first line).
    #[arg(long, value_name = "FILE", requires = "coldkey")]
    coldkey_password_file: Option<PathBuf>,
    /// Use the named development coldkey (public knowledge: local subnets only).
    #[arg(long, value_name = "NAME")]
    dev_coldkey: Option<String>,
    /// Serve Prometheus metrics on this address.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Seed of the certificate key when no certificate files are configured.
    #[arg(long)]
    seed: Option<u64>,
    /// Most task requests per inference batch (1 turns batching off).
    #[arg(long)]
    max_batch_size: Option<usize>,
    /// Longest wait for a batch to fill, e.g. 2ms.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    max_batch_wait: Option<Duration>,
    /// Print the resolved configuration as TOML and exit.
    #[arg(long)]
    dump_config: bool,
}

impl Cli {
    fn resolve(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                Config::from_toml(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => Config::default(),
        };
        if let Some(v) = self.netuid {
            config.netuid = v;
        }
        if let Some(v) = self.listen {
            config.listen = v;
        }
        if let Some(v) = self.external_ip {
            config.external_ip = Some(v);
        }
        if let Some(v) = &self.checkpoint {
            config.checkpoint = v.clone();
        }
        if let Some(v) = self.device {
            config.device = v;
        }
        if let Some(url) = &self.chain_url {
            config.chain = ChainBackend::Local { url: url.clone() };
        }
        if let Some(file) = &self.hotkey {
            config.hotkey = KeySource::File(KeyFile {
                file: file.clone(),
                password_file: None,
            });
        }
        if let Some(name) = &self.dev_hotkey {
            config.hotkey = KeySource::Dev(DevKey { dev: name.clone() });
        }
        if let Some(file) = &self.coldkey {
            config.coldkey = KeySource::File(KeyFile {
                file: file.clone(),
                password_file: self.coldkey_password_file.clone(),
            });
        }
        if let Some(name) = &self.dev_coldkey {
            config.coldkey = KeySource::Dev(DevKey { dev: name.clone() });
        }
        if let Some(v) = self.metrics {
            config.metrics_addr = Some(v);
        }
        if let Some(v) = self.seed {
            config.seed = Some(v);
        }
        if let Some(v) = self.max_batch_size {
            config.limits.max_batch_size = v;
        }
        if let Some(v) = self.max_batch_wait {
            config.limits.max_batch_wait = v;
        }
        Ok(config)
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = cli.resolve()?;
    if cli.dump_config {
        print!("{}", config.to_toml());
        return Ok(());
    }
    config.validate().context("invalid configuration")?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let shutdown = shutdown_signal()?;
        let chain = AnyChain::from_backend(&config.chain).context("connecting to the chain")?;
        let miner = Miner::start(config, chain)
            .await
            .context("starting the miner")?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", miner.ready_line()).context("writing the ready line")?;
        stdout.flush().context("writing the ready line")?;
        drop(stdout);
        miner
            .serve(shutdown)
            .await
            .context("miner stopped with an error")
    })
}

/// Listens for SIGINT and SIGTERM from now on (a signal that arrives before the returned
/// future is polled is not lost) and returns a future that completes on the first.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutdown signal received");
    })
}

/// Returns a future that completes on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        // An error here means no signal will ever come; then run until killed.
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown signal received");
    })
}
