//! How much does a snapshot ensemble buy over its members? Plays the arg-max of the summed
//! Q-values of several DQN checkpoints of one env (each member greedy, so only its Q-values
//! count) for N games, on the env options of the first checkpoint with any `--option` applied,
//! and prints the mean like `pixelgym eval --greedy`. A diagnostic for docs/RESULTS.md, not a
//! policy format: `pixelgym eval`, `watch` and the scenario runner take one checkpoint.
//!
//! ```sh
//! cargo run --release --example q_ensemble -- --games 10 --seed 1001 \
//!     --option repeat_action_probability=0 runs/a.safetensors runs/b.safetensors
//! ```

use agents::acting::Acting;
use agents::eval::evaluate;
use anyhow::{Result, bail, ensure};
use clap::Parser;
use sim::{ActionScores, Obs, OwnedAction, Policy};
use std::path::PathBuf;

#[derive(Parser)]
struct Args {
    /// DQN checkpoints trained on the same env with the same observations.
    #[arg(required = true, num_args = 1..)]
    checkpoints: Vec<PathBuf>,
    /// Games (episodes) to play.
    #[arg(long, default_value_t = 10)]
    games: usize,
    /// Seed of the first game (later games continue the env's stream, as `pixelgym eval`).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Env option as key=value (repeatable), replacing the first checkpoint's value.
    #[arg(long = "option", value_name = "KEY=VALUE")]
    options: Vec<String>,
}

/// Greedy members whose Q-values are summed before the arg-max.
struct QEnsemble {
    members: Vec<Box<dyn Policy>>,
    summed: Vec<f32>,
}

impl Policy for QEnsemble {
    fn name(&self) -> &str {
        "q-ensemble"
    }

    fn act(&mut self, obs: Obs<'_>) -> sim::Result<OwnedAction> {
        self.summed.clear();
        for member in &mut self.members {
            member.act(obs)?;
            let Some(ActionScores::QValues(q)) = member.scores() else {
                return Err(sim::SimError::Invalid(format!(
                    "{} reports no Q-values",
                    member.name()
                )));
            };
            if self.summed.is_empty() {
                self.summed.resize(q.len(), 0.0);
            }
            for (sum, v) in self.summed.iter_mut().zip(q) {
                *sum += v;
            }
        }
        Ok(OwnedAction::Discrete(
            agents::dqn::argmax(&self.summed) as i64
        ))
    }

    fn scores(&self) -> Option<ActionScores<'_>> {
        Some(ActionScores::QValues(&self.summed))
    }

    fn reset(&mut self) {
        self.members.iter_mut().for_each(|m| m.reset());
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let first = &args.checkpoints[0];
    let meta = agents::checkpoint::read_meta(first)?;
    let device = perception::candle_core::Device::Cpu;
    let mut members = Vec::new();
    for path in &args.checkpoints {
        let m = agents::checkpoint::read_meta(path)?;
        if m.agent != "dqn" {
            bail!(
                "{}: a {} checkpoint; the ensemble sums DQN Q-values",
                path.display(),
                m.agent
            );
        }
        ensure!(
            m.env_id == meta.env_id && m.obs_shape == meta.obs_shape,
            "{}: trained on {} {:?}, {} on {} {:?}",
            path.display(),
            m.env_id,
            m.obs_shape,
            first.display(),
            meta.env_id,
            meta.obs_shape
        );
        members.push(agents::load_policy(
            path,
            &device,
            Some(&meta.env_id),
            Acting::Greedy,
            args.seed,
        )?);
    }
    let mut options = meta.env_config(first)?;
    for pair in &args.options {
        let (key, value) = sim::config::parse_kv(pair)?;
        options.insert(key, value);
    }
    let mut env = agents::train::build_env(&meta.env_id, &options, meta.env_atari.as_ref(), true)?;
    ensure!(
        env.observation_space().shape() == meta.obs_shape.as_slice(),
        "--option changes the observation shape the checkpoints were trained on"
    );
    let mut ensemble = QEnsemble {
        members,
        summed: Vec::new(),
    };
    let report = evaluate(&mut ensemble, env.as_mut(), args.games, args.seed)?;
    println!(
        "{} members, seed {}: mean {:+.2} +- {:.2} over {} games, returns {:?}",
        args.checkpoints.len(),
        args.seed,
        report.mean(),
        report.std(),
        args.games,
        report.returns
    );
    Ok(())
}
