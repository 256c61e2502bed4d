//! `subnet-node`: the local chain's single-authority node.
//!
//! Prints one line on stdout once serving,
//! `subnet-node ready rpc=ADDR genesis=HEX height=N [metrics=ADDR]`, and logs to stderr
//! (`RUST_LOG` filters). Stops gracefully on SIGINT or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use subnet_node::{GenesisSource, Node, NodeConfig, parse_duration};
use subnet_service::process::{init_tracing, shutdown_signal};

/// The local chain's node: blocks, transaction pool, JSON-RPC on loopback.
#[derive(Debug, Parser)]
#[command(name = "subnet-node", version)]
struct Cli {
    /// Development chain: the documented dev genesis (funded dev accounts). The default when no
    /// genesis is given.
    #[arg(long, conflicts_with = "genesis")]
    dev: bool,
    /// Genesis TOML file.
    #[arg(long, value_name = "FILE")]
    genesis: Option<PathBuf>,
    /// Node configuration TOML (flags override it).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database directory (default: a temporary one, deleted at exit).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// JSON-RPC listen address (port 0 picks a free port) [default: 127.0.0.1:9944].
    #[arg(long, value_name = "ADDR")]
    rpc: Option<SocketAddr>,
    /// Serve Prometheus metrics on this address.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Time between blocks, e.g. 100ms or 1s [default: the genesis' block time].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    block_time: Option<Duration>,
    /// Print the resolved configuration as TOML and exit.
    #[arg(long)]
    dump_config: bool,
}

impl Cli {
    fn resolve(&self) -> anyhow::Result<NodeConfig> {
        let mut config = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                NodeConfig::from_toml(&text)
                    .with_context(|| format!("parsing {}", path.display()))?
            }
            None => NodeConfig::default(),
        };
        if self.dev {
            config.genesis = GenesisSource::Dev;
        }
        if let Some(path) = &self.genesis {
            config.genesis = GenesisSource::File { path: path.clone() };
        }
        if let Some(dir) = &self.data_dir {
            config.data_dir = Some(dir.clone());
        }
        if let Some(addr) = self.rpc {
            config.rpc_addr = addr;
        }
        if let Some(addr) = self.metrics {
            config.metrics_addr = Some(addr);
        }
        if let Some(d) = self.block_time {
            config.block_time = Some(d);
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
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let shutdown = shutdown_signal().context("listening for shutdown signals")?;
        let node = Node::start(config).await.context("starting the node")?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", node.ready_line()).context("writing the ready line")?;
        stdout.flush().context("writing the ready line")?;
        drop(stdout);
        node.run_until(shutdown)
            .await
            .context("node stopped with an error")
    })
}
