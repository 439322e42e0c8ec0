//! Command-line front end: argument parsing and dispatch to one module per subcommand.

mod bench;
mod bench_train;
mod envs;
mod eval;
mod gif_writer;
mod play;
mod plot;
mod scenario;
mod train;
mod watch;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
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
    Envs(envs::Args),
    /// Run a random or scripted policy and print episode returns (optionally a GIF).
    Play(play::Args),
    /// Measure environment throughput (agent steps per second).
    Bench(bench::Args),
    /// Train a DQN or A3C agent from a TOML config (default: a small embedded Catch config).
    Train(train::Args),
    /// Play a trained checkpoint for N episodes and report mean/std return.
    Eval(eval::Args),
    /// Draw learning curves (return vs env steps) of training runs to a PNG.
    Plot(plot::Args),
    /// Measure DQN training steps per second (Nature or small CNN).
    BenchTrain(bench_train::Args),
    /// Grade a driving policy on scripted scenarios (table, JUnit XML, JSON, GIFs).
    Scenario(scenario::Args),
    /// Open the bevy viewer on an env (policy, checkpoint, keyboard or replay).
    Watch(watch::Args),
}

/// Observation preprocessing applied on top of the env.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Preprocess {
    /// The env's own observation.
    None,
    /// Gymnasium's AtariPreprocessing (84x84 grayscale, frame skip 4 with max-pool, up to 30
    /// no-ops) plus a 4-frame stack; native fast path where the env has one.
    Atari,
}

/// Env options given as repeated `--option key=value` flags, as a TOML table.
pub fn parse_env_options(pairs: &[String]) -> anyhow::Result<sim::EnvConfig> {
    let mut table = sim::EnvConfig::new();
    for pair in pairs {
        let (k, v) = sim::config::parse_kv(pair)?;
        table.insert(k, v);
    }
    Ok(table)
}

/// Build one env with the requested preprocessing.
pub fn build_env(
    id: &str,
    options: &sim::EnvConfig,
    preprocess: Preprocess,
) -> anyhow::Result<Box<dyn sim::Env>> {
    Ok(match preprocess {
        Preprocess::None => sim::make(id, options)?,
        Preprocess::Atari => sim::wrappers::make_atari(
            id,
            options,
            &sim::preprocess::AtariPreprocessingConfig::default(),
        )
        .with_context(|| {
            format!(
                "--preprocess atari needs an ALE-style env such as Pong-v0 or Breakout-v0; `{id}` cannot be built that way"
            )
        })?,
    })
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Envs(args) => envs::run(args),
        Command::Play(args) => play::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Plot(args) => plot::run(args),
        Command::BenchTrain(args) => bench_train::run(args),
        Command::Scenario(args) => scenario::run(args),
        Command::Watch(args) => watch::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
