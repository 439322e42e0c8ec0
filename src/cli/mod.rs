//! Command-line front end: argument parsing and dispatch to one module per subcommand.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// pixelgym: train, watch and grade RL agents on arcade games and a driving simulator.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List registered environments with their spaces.
    Envs,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Envs => Ok::<(), anyhow::Error>(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
