//! `subnet subnet ...`: create a subnet from `subnet.toml`, list subnets, read and change
//! hyperparameters.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde::Serialize;
use subnet_chain_client::{Chain, ReceiptExt};
use subnet_protocol::chain::{Hyperparameters, SubnetInfo};
use subnet_protocol::ids::NetUid;
use subnet_protocol::keyfile::KeyKind;

use crate::context::{Global, block_on};
use crate::table::{Table, emit};

/// `subnet subnet ...`
#[derive(Debug, Subcommand)]
pub(crate) enum SubnetCommand {
    /// Creates a subnet with the hyperparameters of a `subnet.toml`; the coldkey pays the
    /// chain's creation burn and owns the subnet.
    Create(CreateArgs),
    /// Lists the chain's subnets.
    List,
    /// Shows a subnet's hyperparameters, or changes some (owner only) with --set.
    Hyperparams(HyperparamsArgs),
}

/// Arguments of `subnet subnet create`.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// `subnet.toml`: a `[hyperparameters]` table (or the fields at top level).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Owner coldkey: a wallet name, or `dev:NAME` for a development key (insecure).
    #[arg(long, value_name = "NAME")]
    coldkey: String,
}

/// Arguments of `subnet subnet hyperparams`.
#[derive(Debug, Args)]
pub(crate) struct HyperparamsArgs {
    /// The subnet.
    #[arg(long)]
    netuid: u16,
    /// Changes a hyperparameter, `name=value` (repeatable); needs the owner's --coldkey.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
    /// Owner coldkey, for --set.
    #[arg(long, value_name = "NAME")]
    coldkey: Option<String>,
}

/// Reads `subnet.toml`: the `[hyperparameters]` table, other tables (task, scoring) ignored.
pub(crate) fn load_hyperparameters(path: &Path) -> Result<Hyperparameters> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    let section = match table.get("hyperparameters") {
        Some(toml::Value::Table(h)) => toml::to_string(h).context("re-encoding hyperparameters")?,
        Some(_) => bail!("{}: `hyperparameters` must be a table", path.display()),
        None => text,
    };
    Hyperparameters::from_toml(&section).with_context(|| path.display().to_string())
}

#[derive(Debug, Serialize)]
struct Created {
    netuid: NetUid,
    block: u64,
    tx: String,
    hyperparameters: Hyperparameters,
}

/// Runs a `subnet` subcommand.
pub(crate) fn run(global: &Global, command: SubnetCommand) -> Result<()> {
    match command {
        SubnetCommand::Create(args) => {
            let hyperparameters = load_hyperparameters(&args.config)?;
            let owner = global.keypair(KeyKind::Coldkey, &args.coldkey)?;
            let chain = global.chain()?;
            let receipt = block_on(chain.create_subnet(&owner, hyperparameters.clone()))??;
            let created = Created {
                netuid: receipt.created_netuid()?,
                block: receipt.block.get(),
                tx: receipt.hash.to_string(),
                hyperparameters,
            };
            emit(global.json, &created, |c| {
                format!(
                    "created subnet {} (block {}, tempo {}, tx {})\n",
                    c.netuid, c.block, c.hyperparameters.tempo, c.tx
                )
            })
        }
        SubnetCommand::List => {
            let subnets = block_on(global.chain()?.subnets())??;
            emit(global.json, &subnets, |s| subnet_table(s))
        }
        SubnetCommand::Hyperparams(args) => hyperparams(global, &args),
    }
}

fn subnet_table(subnets: &[SubnetInfo]) -> String {
    let mut table = Table::new(["NETUID", "OWNER", "UIDS", "TEMPO", "PENDING", "LAST EPOCH"]);
    for s in subnets {
        table.row(vec![
            s.netuid.to_string(),
            s.owner.to_string(),
            s.n.to_string(),
            s.hyperparameters.tempo.to_string(),
            s.pending_emission.to_string(),
            s.last_epoch_block
                .map_or_else(|| "-".to_owned(), |b| b.to_string()),
        ]);
    }
    table.render()
}

fn hyperparams(global: &Global, args: &HyperparamsArgs) -> Result<()> {
    let netuid = NetUid(args.netuid);
    let chain = global.chain()?;
    let mut hyperparameters = block_on(chain.hyperparameters(netuid))??;
    if !args.set.is_empty() {
        let Some(coldkey) = &args.coldkey else {
            bail!("--set needs the subnet owner's --coldkey");
        };
        for assignment in &args.set {
            let Some((name, value)) = assignment.split_once('=') else {
                bail!("--set {assignment}: expected NAME=VALUE");
            };
            hyperparameters.set(name.trim(), value.trim())?;
        }
        hyperparameters.validate()?;
        let owner = global.keypair(KeyKind::Coldkey, coldkey)?;
        block_on(chain.set_hyperparameters(&owner, netuid, hyperparameters))??;
        hyperparameters = block_on(chain.hyperparameters(netuid))??;
    }
    emit(global.json, &hyperparameters, |h| {
        let table = toml::Table::try_from(h).unwrap_or_default();
        let mut out = Table::new(["HYPERPARAMETER", "VALUE"]);
        for (name, value) in &table {
            out.row(vec![name.clone(), value.to_string()]);
        }
        out.render()
    })
}
