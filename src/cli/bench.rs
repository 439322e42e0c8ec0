//! `pixelgym bench ENV...`: agent steps per second with random actions, for one env stepped
//! directly or N envs in a `VecEnv`. Prints a table, or one JSON object per measurement.

use super::{Preprocess, build_env, parse_env_options};
use anyhow::{Result, bail};
use rand::{Rng, SeedableRng};
use sim::vec_env::{BatchActions, VecEnv};
use sim::{Action, Space};
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Environment ids to measure.
    #[arg(required = true)]
    envs: Vec<String>,
    /// Numbers of envs to measure, comma separated. 1 steps one env directly (no VecEnv).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    num_envs: Vec<usize>,
    /// Worker threads of the VecEnv (0 = one per core, at most one per env).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Observation preprocessing.
    #[arg(long, value_enum, default_value = "none")]
    preprocess: Preprocess,
    /// Measure for about this many seconds (after a warm-up of a tenth of it).
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Env option as key=value (repeatable).
    #[arg(long = "option", short = 'o', value_name = "KEY=VALUE")]
    options: Vec<String>,
    /// Seed of the envs and of the random actions.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Step through a `VecEnv` even for one env (to separate thread scaling from the cost of
    /// copying observations into the batch buffer).
    #[arg(long)]
    vec: bool,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct Measurement {
    env: String,
    num_envs: usize,
    /// Whether the envs were stepped through a `VecEnv` (batch buffer) or directly.
    vec_env: bool,
    threads: usize,
    preprocess: Preprocess,
    steps: u64,
    seconds: f64,
    steps_per_sec: f64,
}

/// A fixed table of random actions, cycled through so the timed loop draws no random numbers.
struct ActionTable {
    discrete: Vec<i64>,
    continuous: Vec<f32>,
    dim: usize,
}

impl ActionTable {
    fn new(space: &Space, len: usize, seed: u64) -> Self {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        match space {
            Space::Discrete { n } => Self {
                discrete: (0..len).map(|_| rng.random_range(0..*n) as i64).collect(),
                continuous: Vec::new(),
                dim: 1,
            },
            Space::Box { low, high, .. } => Self {
                discrete: Vec::new(),
                continuous: (0..len)
                    .flat_map(|_| {
                        low.iter()
                            .zip(high)
                            .map(|(&l, &h)| (l, h))
                            .collect::<Vec<_>>()
                    })
                    .map(|(l, h)| l + (h - l) * rng.random::<f32>())
                    .collect(),
                dim: low.len(),
            },
        }
    }

    /// `count` consecutive actions starting at `start` (wrapping is avoided by the caller).
    fn batch(&self, start: usize, count: usize) -> BatchActions<'_> {
        if self.discrete.is_empty() {
            BatchActions::Continuous(&self.continuous[start * self.dim..(start + count) * self.dim])
        } else {
            BatchActions::Discrete(&self.discrete[start..start + count])
        }
    }

    fn single(&self, i: usize) -> Action<'_> {
        match self.batch(i, 1) {
            BatchActions::Discrete(a) => Action::Discrete(a[0]),
            BatchActions::Continuous(a) => Action::Continuous(a),
        }
    }
}

const TABLE_LEN: usize = 8192;

fn bench_single(id: &str, args: &Args, options: &sim::EnvConfig) -> Result<Measurement> {
    let mut env = build_env(id, options, args.preprocess)?;
    let actions = ActionTable::new(env.action_space(), TABLE_LEN, args.seed);
    env.reset(Some(args.seed))?;
    let mut run = |budget: f64| -> Result<(u64, f64)> {
        let start = Instant::now();
        let mut steps = 0u64;
        loop {
            for _ in 0..256 {
                let done = env.step(actions.single(steps as usize % TABLE_LEN))?.done();
                steps += 1;
                if done {
                    env.reset(None)?;
                }
            }
            let elapsed = start.elapsed().as_secs_f64();
            if elapsed >= budget {
                return Ok((steps, elapsed));
            }
        }
    };
    run(args.seconds / 10.0)?;
    let (steps, seconds) = run(args.seconds)?;
    Ok(Measurement {
        env: id.to_string(),
        num_envs: 1,
        vec_env: false,
        threads: 1,
        preprocess: args.preprocess,
        steps,
        seconds,
        steps_per_sec: steps as f64 / seconds,
    })
}

fn bench_vec(id: &str, n: usize, args: &Args, options: &sim::EnvConfig) -> Result<Measurement> {
    let mut venv = VecEnv::from_fn(n, args.threads, |_| {
        build_env(id, options, args.preprocess).map_err(|e| sim::SimError::Invalid(e.to_string()))
    })?;
    let rows = TABLE_LEN / n;
    let actions = ActionTable::new(venv.single_action_space(), rows * n, args.seed);
    venv.reset(Some(args.seed))?;
    let mut run = |budget: f64| -> Result<(u64, f64)> {
        let start = Instant::now();
        let mut batches = 0u64;
        loop {
            for _ in 0..64 {
                let row = batches as usize % rows;
                venv.step(actions.batch(row * n, n))?;
                batches += 1;
            }
            let elapsed = start.elapsed().as_secs_f64();
            if elapsed >= budget {
                return Ok((batches * n as u64, elapsed));
            }
        }
    };
    run(args.seconds / 10.0)?;
    let (steps, seconds) = run(args.seconds)?;
    Ok(Measurement {
        env: id.to_string(),
        num_envs: n,
        vec_env: true,
        threads: venv.num_threads(),
        preprocess: args.preprocess,
        steps,
        seconds,
        steps_per_sec: steps as f64 / seconds,
    })
}

pub fn run(args: Args) -> Result<()> {
    if !(args.seconds > 0.0 && args.seconds.is_finite()) {
        bail!("--seconds must be a positive number, got {}", args.seconds);
    }
    if args.num_envs.contains(&0) {
        bail!("--num-envs values must be at least 1");
    }
    let options = parse_env_options(&args.options)?;
    if !args.json {
        println!(
            "{:16} {:10} {:>8} {:>7} {:>4} {:>10} {:>8} {:>12}",
            "env", "preprocess", "num_envs", "threads", "vec", "steps", "seconds", "steps/s"
        );
    }
    for id in &args.envs {
        for &n in &args.num_envs {
            let m = if n == 1 && args.threads <= 1 && !args.vec {
                bench_single(id, &args, &options)?
            } else {
                bench_vec(id, n, &args, &options)?
            };
            if args.json {
                println!("{}", serde_json::to_string(&m)?);
            } else {
                let pre = serde_json::to_value(m.preprocess)?;
                println!(
                    "{:16} {:10} {:>8} {:>7} {:>4} {:>10} {:>8.2} {:>12.0}",
                    m.env,
                    pre.as_str().unwrap_or("?"),
                    m.num_envs,
                    m.threads,
                    if m.vec_env { "yes" } else { "no" },
                    m.steps,
                    m.seconds,
                    m.steps_per_sec
                );
            }
        }
    }
    Ok(())
}
