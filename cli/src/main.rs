//! `subnet`: the operator command of the subnet engine.
//!
//! Thin: parses arguments and dispatches each command group to its module; the work is done by
//! the library crates.

mod consensus;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The subnet engine's operator command.
#[derive(Debug, Parser)]
#[command(name = "subnet", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Command groups.
#[derive(Debug, Subcommand)]
enum Command {
    /// Yuma Consensus: run epochs on JSON inputs.
    #[command(subcommand)]
    Consensus(consensus::ConsensusCommand),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Consensus(command) => consensus::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the context chain on one line, without a backtrace.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
