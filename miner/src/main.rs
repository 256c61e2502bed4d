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
use subnet_chain_client::{AnyChain, ChainBackend};
use subnet_miner::{Config, Device, KeySource, Miner, parse_duration};
use subnet_protocol::NetUid;
use subnet_service::process::{init_tracing, shutdown_signal};

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
    /// The chain's URL: `http://HOST:PORT` for the engine's node (`chain.backend = "local"`),
    /// `ws://` or `wss://` for a subtensor node (`chain.backend = "subtensor"`).
    #[arg(long, value_name = "URL")]
    chain_url: Option<ChainBackend>,
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
        if let Some(chain) = &self.chain_url {
            config.chain = chain.clone();
        }
        if let Some(file) = &self.hotkey {
            config.hotkey = KeySource::file(file, None);
        }
        if let Some(name) = &self.dev_hotkey {
            config.hotkey = KeySource::dev(name);
        }
        if let Some(file) = &self.coldkey {
            config.coldkey = KeySource::file(file, self.coldkey_password_file.clone());
        }
        if let Some(name) = &self.dev_coldkey {
            config.coldkey = KeySource::dev(name);
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

fn main() -> std::process::ExitCode {
    subnet_service::process::exit_code(run())
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = cli.resolve()?;
    if cli.dump_config {
        print!("{}", config.to_toml());
        return Ok(());
    }
    config.validate().context("invalid configuration")?;
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let shutdown = shutdown_signal().context("listening for shutdown signals")?;
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
