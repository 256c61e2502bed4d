//! `subnet register`, `subnet stake add|remove` and `subnet metagraph`.

use anyhow::Result;
use clap::{Args, Subcommand};
use serde::Serialize;
use subnet_chain_client::{Chain, ReceiptExt};
use subnet_protocol::ainft::AinftId;
use subnet_protocol::chain::Metagraph;
use subnet_protocol::ids::{NetUid, Rao, Uid};
use subnet_protocol::keyfile::KeyKind;

use crate::context::{Global, block_on};
use crate::table::{Table, emit, ratio, short_ainft, short_key};

/// Arguments of `subnet register`.
#[derive(Debug, Args)]
pub(crate) struct RegisterArgs {
    /// The subnet.
    #[arg(long)]
    netuid: u16,
    /// Hotkey to register: a wallet hotkey name, an SS58 address or `dev:NAME`.
    #[arg(long, value_name = "NAME|ADDRESS")]
    hotkey: String,
    /// Coldkey that pays the burn and owns the hotkey: a wallet name or `dev:NAME`.
    #[arg(long, value_name = "NAME")]
    coldkey: String,
    /// AINFT the UID serves (miners); registered beforehand with `subnet ainft register`.
    #[arg(long, value_name = "ID")]
    ainft: Option<AinftId>,
}

/// `subnet stake ...`
#[derive(Debug, Subcommand)]
pub(crate) enum StakeCommand {
    /// Stakes tokens from the coldkey's balance on a hotkey.
    Add(StakeArgs),
    /// Returns staked tokens to the coldkey's balance.
    Remove(StakeArgs),
}

/// Arguments of `subnet stake add|remove`.
#[derive(Debug, Args)]
pub(crate) struct StakeArgs {
    /// Hotkey staked on: an SS58 address, a wallet hotkey name or `dev:NAME`.
    #[arg(long, value_name = "ADDRESS|NAME")]
    hotkey: String,
    /// Amount in tokens (up to nine decimals), for example `12.5`.
    #[arg(long, value_name = "TOKENS")]
    amount: Rao,
    /// Coldkey whose stake it is: a wallet name or `dev:NAME`.
    #[arg(long, value_name = "NAME")]
    coldkey: String,
}

/// Arguments of `subnet metagraph`.
#[derive(Debug, Args)]
pub(crate) struct MetagraphArgs {
    /// The subnet.
    #[arg(long)]
    netuid: u16,
}

#[derive(Debug, Serialize)]
struct Registered {
    netuid: NetUid,
    uid: Uid,
    hotkey: String,
    ainft: Option<AinftId>,
    block: u64,
}

#[derive(Debug, Serialize)]
struct StakeChange {
    coldkey: String,
    hotkey: String,
    amount: Rao,
    /// The coldkey's stake on the hotkey afterwards.
    stake: Rao,
    /// The coldkey's free balance afterwards.
    balance: Rao,
    block: u64,
}

/// Runs `subnet register`.
pub(crate) fn register(global: &Global, args: &RegisterArgs) -> Result<()> {
    let netuid = NetUid(args.netuid);
    let hotkey = global.public_key(KeyKind::Hotkey, &args.hotkey)?;
    let coldkey = global.keypair(KeyKind::Coldkey, &args.coldkey)?;
    let chain = global.chain()?;
    let receipt = block_on(chain.register(&coldkey, netuid, hotkey, args.ainft))??;
    let registered = Registered {
        netuid,
        uid: receipt.created_uid()?,
        hotkey: hotkey.to_string(),
        ainft: args.ainft,
        block: receipt.block.get(),
    };
    emit(global.json, &registered, |r| {
        format!(
            "registered {} on subnet {} as uid {} (block {})\n",
            r.hotkey, r.netuid, r.uid, r.block
        )
    })
}

/// Runs `subnet stake add|remove`.
pub(crate) fn stake(global: &Global, command: StakeCommand) -> Result<()> {
    let (args, adding) = match &command {
        StakeCommand::Add(args) => (args, true),
        StakeCommand::Remove(args) => (args, false),
    };
    let hotkey = global.public_key(KeyKind::Hotkey, &args.hotkey)?;
    let coldkey = global.keypair(KeyKind::Coldkey, &args.coldkey)?;
    let chain = global.chain()?;
    let change = block_on(async {
        let receipt = if adding {
            chain.add_stake(&coldkey, hotkey, args.amount).await?
        } else {
            chain.remove_stake(&coldkey, hotkey, args.amount).await?
        };
        let stake = chain.stake_of(&coldkey.public(), &hotkey).await?;
        let account = chain.account(&coldkey.public()).await?;
        Ok::<_, subnet_chain_client::ChainError>(StakeChange {
            coldkey: coldkey.public().to_string(),
            hotkey: hotkey.to_string(),
            amount: args.amount,
            stake,
            balance: account.balance,
            block: receipt.block.get(),
        })
    })??;
    emit(global.json, &change, |c| {
        format!(
            "{} {} tokens {} {}: stake now {}, balance {}\n",
            if adding { "staked" } else { "unstaked" },
            c.amount,
            if adding { "on" } else { "from" },
            c.hotkey,
            c.stake,
            c.balance
        )
    })
}

/// Runs `subnet metagraph`.
pub(crate) fn metagraph(global: &Global, args: &MetagraphArgs) -> Result<()> {
    let metagraph = block_on(global.chain()?.metagraph(NetUid(args.netuid)))??;
    emit(global.json, &metagraph, metagraph_text)
}

fn metagraph_text(m: &Metagraph) -> String {
    let mut table = Table::new([
        "UID",
        "HOTKEY",
        "AINFT",
        "STAKE",
        "PERMIT",
        "VTRUST",
        "CONSENSUS",
        "INCENTIVE",
        "DIVIDENDS",
        "EMISSION",
        "TOTAL EMISSION",
    ]);
    for n in &m.neurons {
        table.row(vec![
            n.uid.to_string(),
            short_key(&n.hotkey),
            short_ainft(n.ainft.as_ref()),
            n.stake.to_string(),
            if n.validator_permit { "yes" } else { "no" }.to_owned(),
            ratio(n.validator_trust),
            ratio(n.consensus),
            ratio(n.incentive),
            ratio(n.dividends),
            n.emission.to_string(),
            n.total_emission.to_string(),
        ]);
    }
    let last = m
        .last_epoch_block
        .map_or_else(|| "none yet".to_owned(), |b| b.to_string());
    format!(
        "subnet {} at block {} (last epoch: {last}), {} UIDs; amounts in tokens\n{}",
        m.netuid,
        m.block,
        m.neurons.len(),
        table.render()
    )
}
