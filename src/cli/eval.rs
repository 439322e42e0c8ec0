//! `pixelgym eval --checkpoint F --episodes N`: play a trained agent on the env it was
//! trained on (options from the checkpoint) and report mean/std return.

use agents::checkpoint::read_meta;
use agents::dqn::DqnPolicy;
use agents::eval::evaluate;
use anyhow::{Context, Result};
use perception::DeviceChoice;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Checkpoint (`.safetensors`) written by `pixelgym train`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Episodes to play.
    #[arg(long, default_value_t = 10)]
    episodes: usize,
    /// Seed of the first episode (later episodes continue the env's stream).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Exploration while playing (default: the checkpoint's `eval_epsilon`).
    #[arg(long)]
    epsilon: Option<f64>,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
    /// Threads for the network's tensor math.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Print one JSON line: mean_return, std_return, episodes (and returns).
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct Output<'a> {
    checkpoint: String,
    env: &'a str,
    episodes: usize,
    mean_return: f64,
    std_return: f64,
    returns: &'a [f64],
}

pub fn run(args: Args) -> Result<()> {
    super::train::set_learner_threads(args.threads);
    let meta = read_meta(&args.checkpoint)?;
    let options: sim::EnvConfig = serde_json::from_value(meta.env_options.clone())
        .with_context(|| format!("env options in {}", args.checkpoint.display()))?;
    let mut env = agents::train::build_env(&meta.env_id, &options, meta.env_atari.as_ref(), true)?;
    let epsilon = args.epsilon.unwrap_or(meta.dqn.eval_epsilon);
    let device = args.device.device()?;
    let mut policy = DqnPolicy::load(
        &args.checkpoint,
        &device,
        Some(&meta.env_id),
        epsilon,
        args.seed,
    )?;
    let report = evaluate(&mut policy, env.as_mut(), args.episodes, args.seed)?;
    if args.json {
        let out = Output {
            checkpoint: args.checkpoint.display().to_string(),
            env: &meta.env_id,
            episodes: report.returns.len(),
            mean_return: report.mean(),
            std_return: report.std(),
            returns: &report.returns,
        };
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!(
            "{} on {}: mean return {:.3} +- {:.3} over {} episodes (epsilon {epsilon}, step {})",
            args.checkpoint.display(),
            meta.env_id,
            report.mean(),
            report.std(),
            report.returns.len(),
            meta.step
        );
    }
    Ok(())
}
