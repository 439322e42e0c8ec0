//! `pixelgym eval --checkpoint F --episodes N`: play a trained agent on the env it was
//! trained on (options from the checkpoint, each `--option` overriding one) and report
//! mean/std return.

use agents::Acting;
use agents::checkpoint::{CheckpointMeta, read_meta};
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
    /// Exploration while playing a DQN checkpoint (default: its `eval_epsilon`); refused for
    /// A3C checkpoints, which act as their `eval_greedy` says unless --greedy or --sample.
    #[arg(long, conflicts_with_all = ["greedy", "sample"])]
    epsilon: Option<f64>,
    /// Act by the arg-max of the Q-values or of the policy (DQN: epsilon 0).
    #[arg(long, conflicts_with = "sample")]
    greedy: bool,
    /// Sample the policy's distribution (A3C checkpoints only).
    #[arg(long)]
    sample: bool,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
    /// Threads for the network's tensor math.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Print one JSON line: mean_return, std_return, episodes (and returns; driving envs add
    /// mean_lap_completion and lap_completions).
    #[arg(long)]
    json: bool,
    /// Also play one more episode (seed --seed) and write its rendered frames to this GIF.
    #[arg(long)]
    gif: Option<PathBuf>,
    /// Pixel scale of the GIF.
    #[arg(long, default_value_t = 1)]
    gif_scale: usize,
    /// GIF frames per second.
    #[arg(long, default_value_t = 30)]
    gif_fps: u16,
    /// Record the evaluation episodes (seed, options, actions, rewards) to this JSON file,
    /// for `pixelgym watch --replay`.
    #[arg(long)]
    record: Option<PathBuf>,
    /// Env option as key=value (repeatable), replacing the training run's value: e.g.
    /// `--option repeat_action_probability=0.25` to test a policy with sticky actions.
    /// Options that change the observation shape are refused.
    #[arg(long = "option", short = 'o', value_name = "KEY=VALUE")]
    options: Vec<String>,
}

/// Play one episode of `policy` from `seed`, writing every rendered frame to `path`.
fn record_gif(
    policy: &mut dyn sim::Policy,
    env: &mut dyn sim::Env,
    seed: u64,
    path: &std::path::Path,
    scale: usize,
    fps: u16,
) -> Result<(usize, f64)> {
    let mut gif = super::gif_writer::GifWriter::create(path, scale, (100 / fps.max(1)).max(1))?;
    let (obs, _) = env.reset(Some(seed))?;
    policy.reset();
    let mut action = policy.act(obs)?;
    gif.push(env.render())?;
    let mut ret = 0.0;
    loop {
        let step = env.step(action.as_action())?;
        ret += step.reward as f64;
        if step.done() {
            gif.push(env.render())?;
            break;
        }
        action = policy.act(step.obs)?;
        gif.push(env.render())?;
    }
    Ok((gif.finish()?, ret))
}

#[derive(serde::Serialize)]
struct Output<'a> {
    checkpoint: String,
    env: &'a str,
    episodes: usize,
    mean_return: f64,
    std_return: f64,
    returns: &'a [f64],
    /// The env options played with: the training run's, with any `--option` applied.
    env_options: &'a sim::EnvConfig,
    /// Driving envs: mean fraction of the lap (route) completed, in [0, 1].
    #[serde(skip_serializing_if = "Option::is_none")]
    mean_lap_completion: Option<f64>,
    /// Driving envs: each episode's lap completion.
    #[serde(skip_serializing_if = "<[f64]>::is_empty")]
    lap_completions: &'a [f64],
}

/// A trained policy and what it was trained on: what `eval` plays and `watch` shows.
pub struct Loaded {
    pub meta: CheckpointMeta,
    /// The env options of the training run.
    pub options: sim::EnvConfig,
    /// How the policy acts, for reports: `epsilon E` (DQN: the flag, else the checkpoint's
    /// `eval_epsilon`), `greedy` or `sampling` (A3C).
    pub acting: String,
    /// The agent (`agents::load_policy`: DQN or A3C, from the checkpoint's metadata).
    pub policy: Box<dyn sim::Policy>,
}

impl Loaded {
    /// The evaluation env (Atari preprocessing as in training, without life loss ends or
    /// reward clipping).
    pub fn build_env(&self) -> Result<Box<dyn sim::Env>> {
        Ok(agents::train::build_env(
            &self.meta.env_id,
            &self.options,
            self.meta.env_atari.as_ref(),
            true,
        )?)
    }

    /// The preprocessing `build_env` applies, for recorders and replays.
    pub fn eval_atari(&self) -> Option<sim::preprocess::AtariPreprocessingConfig> {
        self.meta.env_atari.clone().map(|mut c| {
            c.terminal_on_life_loss = false;
            c.clip_reward = false;
            c
        })
    }
}

/// Load `checkpoint` for playing on `device`, acting as `acting` says.
pub fn load(
    checkpoint: &std::path::Path,
    device: DeviceChoice,
    acting: Acting,
    seed: u64,
) -> Result<Loaded> {
    let meta = read_meta(checkpoint)?;
    let options = meta.env_config(checkpoint)?;
    let device = device.device()?;
    let policy = agents::load_policy(checkpoint, &device, Some(&meta.env_id), acting, seed)?;
    let described = acting.resolve(checkpoint, &meta)?.to_string();
    Ok(Loaded {
        meta,
        options,
        acting: described,
        policy,
    })
}

/// Refuse an env whose observations the checkpoint's network cannot take (an `--option`
/// such as a board size changed them).
fn check_obs_shape(
    env: &dyn sim::Env,
    meta: &CheckpointMeta,
    checkpoint: &std::path::Path,
) -> Result<()> {
    let shape = env.observation_space().shape();
    anyhow::ensure!(
        shape == meta.obs_shape.as_slice(),
        "--option changes the observation shape of {} from {:?} (what {} was trained on) to {:?}",
        meta.env_id,
        meta.obs_shape,
        checkpoint.display(),
        shape
    );
    Ok(())
}

pub fn run(args: Args) -> Result<()> {
    super::train::set_learner_threads(args.threads);
    let acting = Acting::from_flags(args.epsilon, args.greedy, args.sample);
    let mut loaded = load(&args.checkpoint, args.device, acting, args.seed)?;
    loaded
        .options
        .extend(super::parse_env_options(&args.options)?);
    let env = loaded.build_env().with_context(|| {
        format!(
            "env {} with the checkpoint's options and --option",
            loaded.meta.env_id
        )
    })?;
    check_obs_shape(env.as_ref(), &loaded.meta, &args.checkpoint)?;
    let atari = loaded.eval_atari();
    let Loaded {
        meta,
        options,
        acting,
        mut policy,
    } = loaded;
    // With --record, evaluation runs on a recorder declared as built (replay rebuilds it).
    let (mut plain, mut recorded) = match &args.record {
        Some(_) => {
            let rec = sim::wrappers::RecordEpisode::new(env, options.clone());
            let rec = match atari {
                Some(cfg) => rec.atari(cfg),
                None => rec,
            };
            (None, Some(rec))
        }
        None => (Some(env), None),
    };
    let env: &mut dyn sim::Env = match (&mut plain, &mut recorded) {
        (_, Some(rec)) => rec,
        (Some(env), None) => env.as_mut(),
        (None, None) => anyhow::bail!("internal: no env"),
    };
    let report = evaluate(policy.as_mut(), env, args.episodes, args.seed)?;
    if let (Some(rec), Some(path)) = (&recorded, &args.record) {
        rec.save(path)?;
        eprintln!(
            "recorded {} episode(s) to {}",
            rec.record().episodes.len(),
            path.display()
        );
    }
    let env: &mut dyn sim::Env = match (&mut plain, &mut recorded) {
        (_, Some(rec)) => rec,
        (Some(env), None) => env.as_mut(),
        (None, None) => anyhow::bail!("internal: no env"),
    };
    if let Some(path) = &args.gif {
        let (frames, ret) = record_gif(
            policy.as_mut(),
            env,
            args.seed,
            path,
            args.gif_scale,
            args.gif_fps,
        )?;
        eprintln!(
            "wrote {} ({frames} frames, episode return {ret})",
            path.display()
        );
    }
    if args.json {
        let out = Output {
            checkpoint: args.checkpoint.display().to_string(),
            env: &meta.env_id,
            episodes: report.returns.len(),
            mean_return: report.mean(),
            std_return: report.std(),
            returns: &report.returns,
            env_options: &options,
            mean_lap_completion: report.mean_lap_completion(),
            lap_completions: &report.lap_completions,
        };
        println!("{}", serde_json::to_string(&out)?);
    } else {
        let lap = report.lap_completion_note();
        let overrides = if args.options.is_empty() {
            String::new()
        } else {
            format!(" with {}", args.options.join(", "))
        };
        println!(
            "{} on {}{overrides}: mean return {:.3} +- {:.3} over {} episodes{lap} ({acting}, step {})",
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
