//! `validator`: queries a subnet's miners, scores them and sets weights every tempo.
//!
//! Prints one line on stdout once started, `validator ready uid=N hotkey=SS58 [metrics=ADDR]`,
//! and logs to stderr (`RUST_LOG` filters). Stops on SIGINT or SIGTERM, with its state
//! flushed to its database.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use subnet_chain_client::{AnyChain, ChainBackend};
use subnet_protocol::NetUid;
use subnet_service::process::{init_tracing, shutdown_signal};
use subnet_validator::{Config, KeySource, Validator, parse_duration};

/// Queries a subnet's miners, scores and verifies their answers, and sets weights every tempo.
#[derive(Debug, Parser)]
#[command(name = "validator", version)]
struct Cli {
    /// Validator configuration TOML (flags override it).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Subnet to validate.
    #[arg(long)]
    netuid: Option<NetUid>,
    /// The chain's URL: `http://HOST:PORT` for the engine's node (`chain.backend = "local"`),
    /// `ws://` or `wss://` for a subtensor node (`chain.backend = "subtensor"`).
    #[arg(long, value_name = "URL")]
    chain_url: Option<ChainBackend>,
    /// Hotkey keyfile.
    #[arg(long, value_name = "FILE", conflicts_with = "dev_hotkey")]
    hotkey: Option<PathBuf>,
    /// File holding the hotkey's password (first line).
    #[arg(long, value_name = "FILE", requires = "hotkey")]
    hotkey_password_file: Option<PathBuf>,
    /// Use the named development hotkey (public knowledge: local subnets only).
    #[arg(long, value_name = "NAME")]
    dev_hotkey: Option<String>,
    /// Directory of the validator's database.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Serve Prometheus metrics on this address.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Local address of the QUIC client socket.
    #[arg(long, value_name = "ADDR")]
    bind: Option<SocketAddr>,
    /// Seed of every random choice.
    #[arg(long)]
    seed: Option<u64>,
    /// Miners queried per step.
    #[arg(long)]
    sample_size: Option<usize>,
    /// Requests sent to each miner per step.
    #[arg(long)]
    requests_per_miner: Option<usize>,
    /// Time between steps, e.g. 12s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    step_interval: Option<Duration>,
    /// Longest one request may take, e.g. 5s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    request_timeout: Option<Duration>,
    /// Most requests in flight at once.
    #[arg(long)]
    max_in_flight: Option<usize>,
    /// Fraction of answers re-run on the registered weights.
    #[arg(long)]
    spot_check_rate: Option<f64>,
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
        if let Some(chain) = &self.chain_url {
            config.chain = chain.clone();
        }
        if let Some(file) = &self.hotkey {
            config.hotkey = KeySource::file(file, self.hotkey_password_file.clone());
        }
        if let Some(name) = &self.dev_hotkey {
            config.hotkey = KeySource::dev(name);
        }
        if let Some(v) = &self.data_dir {
            config.data_dir = v.clone();
        }
        if let Some(v) = self.metrics {
            config.metrics_addr = Some(v);
        }
        if let Some(v) = self.bind {
            config.bind = v;
        }
        if let Some(v) = self.seed {
            config.seed = Some(v);
        }
        if let Some(v) = self.sample_size {
            config.sample_size = v;
        }
        if let Some(v) = self.requests_per_miner {
            config.requests_per_miner = v;
        }
        if let Some(v) = self.step_interval {
            config.step_interval = v;
        }
        if let Some(v) = self.request_timeout {
            config.request_timeout = v;
        }
        if let Some(v) = self.max_in_flight {
            config.max_in_flight = v;
        }
        if let Some(v) = self.spot_check_rate {
            config.spot_check_rate = v;
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
    config.validate().context("invalid configuration")?;
    if cli.dump_config {
        print!("{}", config.to_toml());
        return Ok(());
    }
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let shutdown = shutdown_signal().context("listening for shutdown signals")?;
        let chain = AnyChain::from_backend(&config.chain).context("connecting to the chain")?;
        let validator = Validator::start(config, chain)
            .await
            .context("starting the validator")?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", validator.ready_line()).context("writing the ready line")?;
        stdout.flush().context("writing the ready line")?;
        drop(stdout);
        validator
            .run(shutdown)
            .await
            .context("validator stopped with an error")
    })
}
