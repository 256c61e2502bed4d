//! `subnet`: the operator command of the subnet engine.
//!
//! Thin: parses arguments and dispatches each command group to its module; the work is done by
//! the library crates. Every table can be printed as JSON (`--json`); errors are one line on
//! stderr with a non-zero exit status.

mod ainft;
#[cfg(feature = "subtensor")]
mod chopsticks;
mod consensus;
mod context;
mod localnet;
mod models;
mod neurons;
mod simulate;
mod subnets;
mod table;
mod wallet;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::context::Global;

/// The subnet engine's operator command.
///
/// Keys are named by wallet name (see `subnet wallet`), or as `dev:NAME` for the insecure
/// development keys of the `--dev` chain (`dev:alice` … `dev:ferdie` are funded there).
#[derive(Debug, Parser)]
#[command(name = "subnet", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Command groups.
#[derive(Debug, Subcommand)]
enum Command {
    /// Key files: create, list, show.
    #[command(subcommand)]
    Wallet(wallet::WalletCommand),
    /// Subnets: create, list, hyperparameters.
    #[command(subcommand)]
    Subnet(subnets::SubnetCommand),
    /// Registers a hotkey on a subnet (burns the subnet's registration cost).
    Register(neurons::RegisterArgs),
    /// Stake: add or remove.
    #[command(subcommand)]
    Stake(neurons::StakeCommand),
    /// A subnet's neurons: stake, trust, consensus, incentive, dividends, emission.
    Metagraph(neurons::MetagraphArgs),
    /// Emission totals, per AINFT (with lineage) and per account.
    Emissions,
    /// AINFTs: show, register.
    #[command(subcommand)]
    Ainft(ainft::AinftCommand),
    /// Models: train a checkpoint.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// A local subnet: a node, three miners and two validators on 127.0.0.1.
    #[command(subcommand)]
    Localnet(localnet::LocalnetCommand),
    /// Yuma Consensus: run epochs on JSON inputs.
    #[command(subcommand)]
    Consensus(consensus::ConsensusCommand),
    /// Simulates a subnet's incentives on a scenario, in-process on the real ledger.
    Simulate(simulate::SimulateArgs),
    /// A subnet on Bittensor's runtime run locally by chopsticks: seed it, build its blocks.
    #[cfg(feature = "subtensor")]
    #[command(subcommand)]
    Chopsticks(chopsticks::ChopsticksCommand),
}

fn main() -> ExitCode {
    let Cli { global, command } = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => error.exit(),
        Err(error) => {
            eprintln!("{}", one_line(&error.render().to_string()));
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Wallet(command) => wallet::run(&global, command),
        Command::Subnet(command) => subnets::run(&global, command),
        Command::Register(args) => neurons::register(&global, &args),
        Command::Stake(command) => neurons::stake(&global, command),
        Command::Metagraph(args) => neurons::metagraph(&global, &args),
        Command::Emissions => ainft::emissions(&global),
        Command::Ainft(command) => ainft::run(&global, command),
        Command::Models(command) => models::run(&global, command),
        Command::Localnet(command) => localnet::run(&global, command),
        Command::Consensus(command) => consensus::run(command),
        Command::Simulate(args) => simulate::run(&global, &args),
        #[cfg(feature = "subtensor")]
        Command::Chopsticks(command) => chopsticks::run(&global, command),
    };
    subnet_service::process::exit_code(result)
}

/// clap's multi-line message as one line: the text before its usage and help hints.
fn one_line(message: &str) -> String {
    message
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
