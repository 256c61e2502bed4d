//! `subnet chopsticks ...`: a subnet on Bittensor's own runtime, run locally by chopsticks
//! (see README, "Running on Bittensor (local test runtime)").
//!
//! The 2023 test-network runtime refuses what a fresh local subnet needs (`burned_register`,
//! loopback axons, subnets without sudo), so `seed` writes the subnet and its neurons into
//! storage through chopsticks' `dev_setStorage`, and stakes the validators with real
//! `add_stake` extrinsics. Chopsticks builds blocks only when asked: `blocks` asks at a steady
//! pace and prints each epoch's outcome, read from runtime state.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use subnet_chain_client::{Chain, DevNeuron, SubtensorChain, SubtensorUrl};
use subnet_protocol::PROTOCOL_VERSION;
use subnet_protocol::chain::{AxonInfo, TOKEN};
use subnet_protocol::fingerprint::CertFingerprint;
use subnet_protocol::ids::{BlockNumber, NetUid, Rao};
use subnet_protocol::keyfile::KeyKind;
use subnet_protocol::keys::PublicKey;

use crate::context::{Global, block_on};
use crate::table::ratio;

/// TAO given to the coldkey on top of the validators' stake, for fees.
const FEE_TAO: u64 = 1_000;

/// `subnet chopsticks ...`
#[derive(Debug, Subcommand)]
pub(crate) enum ChopsticksCommand {
    /// Writes a subnet with validators and miners into a chopsticks-run runtime, and stakes
    /// the validators.
    Seed(SeedArgs),
    /// Builds blocks at a steady pace and prints each epoch's incentive, dividends and
    /// emission per UID.
    Blocks(BlocksArgs),
}

/// Arguments of `subnet chopsticks seed`.
#[derive(Debug, Args)]
pub(crate) struct SeedArgs {
    /// Chopsticks' WebSocket URL.
    #[arg(long, value_name = "URL", default_value = "ws://127.0.0.1:9944")]
    url: SubtensorUrl,
    /// The subnet to write.
    #[arg(long, default_value_t = NetUid(1))]
    netuid: NetUid,
    /// Its tempo in blocks.
    #[arg(long, default_value_t = 10)]
    tempo: u16,
    /// The coldkey that owns every hotkey, is funded, and stakes the validators.
    #[arg(long, value_name = "KEY")]
    coldkey: String,
    /// A validator's hotkey (UIDs are given in order, validators first); repeatable.
    #[arg(long = "validator", value_name = "HOTKEY")]
    validators: Vec<String>,
    /// TAO staked on each validator.
    #[arg(long, value_name = "TAO", default_value_t = 1_000)]
    stake: u64,
    /// A miner: its hotkey and the QUIC address it listens on, `HOTKEY@IP:PORT`. Its axon is
    /// written with `CertFingerprint::HOTKEY`: the miner must run with
    /// `hotkey_certificate = true`. Repeatable.
    #[arg(long = "miner", value_name = "HOTKEY@IP:PORT")]
    miners: Vec<String>,
}

/// Arguments of `subnet chopsticks blocks`.
#[derive(Debug, Args)]
pub(crate) struct BlocksArgs {
    /// Chopsticks' WebSocket URL.
    #[arg(long, value_name = "URL", default_value = "ws://127.0.0.1:9944")]
    url: SubtensorUrl,
    /// The subnet whose epochs are printed.
    #[arg(long, default_value_t = NetUid(1))]
    netuid: NetUid,
    /// Time between blocks, e.g. 500ms or 2s.
    #[arg(long, value_name = "DURATION", default_value = "1s",
        value_parser = subnet_service::parse_duration)]
    every: Duration,
    /// Stops after this many blocks; default: run until interrupted.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
}

pub(crate) fn run(global: &Global, command: ChopsticksCommand) -> Result<()> {
    match command {
        ChopsticksCommand::Seed(args) => block_on(seed(global, &args))?,
        ChopsticksCommand::Blocks(args) => block_on(blocks(&args))?,
    }
}

/// `HOTKEY@IP:PORT`.
fn miner_arg(global: &Global, text: &str) -> Result<(PublicKey, SocketAddr)> {
    let (key, addr) = text
        .rsplit_once('@')
        .with_context(|| format!("`--miner {text}`: expected HOTKEY@IP:PORT"))?;
    let addr: SocketAddr = addr
        .parse()
        .with_context(|| format!("`--miner {text}`: `{addr}` is not IP:PORT"))?;
    if addr.ip().is_unspecified() || addr.port() == 0 {
        bail!("`--miner {text}`: the axon needs a specific IP and port");
    }
    Ok((global.public_key(KeyKind::Hotkey, key)?, addr))
}

async fn connect(url: &SubtensorUrl) -> Result<SubtensorChain> {
    SubtensorChain::connect(url.clone())
        .await
        .with_context(|| format!("connecting to {url}"))
}

async fn seed(global: &Global, args: &SeedArgs) -> Result<()> {
    if args.validators.is_empty() && args.miners.is_empty() {
        bail!("nothing to seed: pass --validator and/or --miner");
    }
    let coldkey = global.keypair(KeyKind::Coldkey, &args.coldkey)?;
    let mut neurons = Vec::new();
    for v in &args.validators {
        neurons.push(DevNeuron {
            hotkey: global.public_key(KeyKind::Hotkey, v)?,
            coldkey: coldkey.public(),
            axon: None,
            validator_permit: true,
        });
    }
    for m in &args.miners {
        let (hotkey, addr) = miner_arg(global, m)?;
        neurons.push(DevNeuron {
            hotkey,
            coldkey: coldkey.public(),
            axon: Some(AxonInfo {
                ip: addr.ip(),
                port: addr.port(),
                cert_fingerprint: CertFingerprint::HOTKEY,
                protocol_version: PROTOCOL_VERSION,
            }),
            validator_permit: false,
        });
    }
    let chain = connect(&args.url).await?;
    let stake_total = args.stake.saturating_mul(args.validators.len() as u64);
    chain
        .dev_fund(&[coldkey.public()], stake_total.saturating_add(FEE_TAO))
        .await
        .context("funding the coldkey (is this chopsticks?)")?;
    chain
        .dev_create_subnet(args.netuid, args.tempo)
        .await
        .context("writing the subnet")?;
    chain.dev_new_blocks(1).await?;
    chain
        .dev_seed_neurons(args.netuid, &neurons)
        .await
        .context("writing the neurons")?;
    chain.dev_new_blocks(1).await?;
    let stake = Rao(args.stake.saturating_mul(TOKEN.get()));
    for n in neurons.iter().filter(|n| n.validator_permit) {
        chain
            .add_stake(&coldkey, n.hotkey, stake)
            .await
            .with_context(|| format!("staking on validator {}", n.hotkey))?;
    }
    let metagraph = chain.metagraph(args.netuid).await?;
    println!(
        "seeded subnet {} (tempo {}) on {} at block {}",
        args.netuid, args.tempo, args.url, metagraph.block
    );
    for n in &metagraph.neurons {
        let axon = n
            .axon
            .map_or_else(|| "-".to_owned(), |a| format!("{}:{}", a.ip, a.port));
        println!(
            "uid={} hotkey={} stake={} permit={} axon={axon}",
            n.uid, n.hotkey, n.stake, n.validator_permit
        );
    }
    Ok(())
}

async fn blocks(args: &BlocksArgs) -> Result<()> {
    let chain = connect(&args.url).await?;
    // The epoch in force when we start is not news; every later change is.
    let mut last_epoch: Option<Option<BlockNumber>> = None;
    let mut built = 0u64;
    let mut ticker = tokio::time::interval(args.every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if args.count.is_some_and(|count| built >= count) {
            return Ok(());
        }
        tokio::select! {
            _ = ticker.tick() => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
        chain.dev_new_blocks(1).await.context("building a block")?;
        built = built.saturating_add(1);
        let subnet = match chain.subnet(args.netuid).await {
            Ok(subnet) => subnet,
            Err(e) => {
                // A transient read failure: said, and the pacing goes on.
                eprintln!("warning: reading subnet {}: {e}", args.netuid);
                continue;
            }
        };
        let seen = last_epoch.replace(subnet.last_epoch_block);
        if seen.is_none_or(|seen| seen == subnet.last_epoch_block) {
            continue;
        }
        let metagraph = chain.metagraph(args.netuid).await?;
        let total: u64 = metagraph.neurons.iter().map(|n| n.emission.get()).sum();
        println!(
            "epoch netuid={} block={} emission={}",
            args.netuid, metagraph.block, total
        );
        for n in &metagraph.neurons {
            println!(
                "  uid={} hotkey={} stake={} incentive={} dividends={} emission={}",
                n.uid,
                n.hotkey,
                n.stake,
                ratio(n.incentive),
                ratio(n.dividends),
                n.emission.get()
            );
        }
    }
}
