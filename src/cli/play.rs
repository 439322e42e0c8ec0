//! `pixelgym play ENV`: run a random or scripted policy, print episode returns, optionally
//! write what happened as a GIF for a person to look at.

use super::{Preprocess, build_env, gif_writer::GifWriter, parse_env_options};
use anyhow::{Result, bail};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyKind {
    Random,
    Scripted,
}

#[derive(clap::Args)]
pub struct Args {
    /// Environment id (see `pixelgym envs`).
    env: String,
    /// Which policy acts.
    #[arg(long, value_enum, default_value = "random")]
    policy: PolicyKind,
    /// Number of episodes to play.
    #[arg(long, default_value_t = 1)]
    episodes: u64,
    /// Stop an episode after this many agent steps (0 = only when the env ends it).
    #[arg(long, default_value_t = 0)]
    max_steps: u64,
    /// Seed of the first episode (later episodes continue the env's stream).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Env option as key=value (repeatable), e.g. `--option frameskip=2`.
    #[arg(long = "option", short = 'o', value_name = "KEY=VALUE")]
    options: Vec<String>,
    /// Observation preprocessing (the scripted policies read raw observations).
    #[arg(long, value_enum, default_value = "none")]
    preprocess: Preprocess,
    /// Write the rendered frames of all episodes to this GIF.
    #[arg(long)]
    gif: Option<PathBuf>,
    /// Pixel scale of the GIF.
    #[arg(long, default_value_t = 2)]
    gif_scale: usize,
    /// Keep one frame in this many (long episodes make big GIFs).
    #[arg(long, default_value_t = 1)]
    gif_every: u64,
    /// GIF frames per second.
    #[arg(long, default_value_t = 30)]
    gif_fps: u16,
    /// Record the episodes (seed, options, actions, rewards) to this JSON file, for
    /// `pixelgym watch --replay`.
    #[arg(long)]
    record: Option<PathBuf>,
}

/// Add the options `kind` needs where the user set none (the scripted drivers read the
/// privileged state vector); `watch` shares this with `play`.
pub fn policy_options(kind: PolicyKind, env: &str, options: &mut sim::EnvConfig) -> Result<()> {
    if kind == PolicyKind::Scripted {
        sim::registry::scripted_defaults(env, options)?;
    }
    Ok(())
}

/// The random or scripted policy of `play` (and `watch`) for `env` built with `options`.
pub fn make_policy(
    kind: PolicyKind,
    env: &str,
    options: &sim::EnvConfig,
    action_space: &sim::Space,
    seed: u64,
) -> Result<Box<dyn sim::Policy>> {
    Ok(match kind {
        PolicyKind::Random => Box::new(sim::RandomPolicy::new(
            action_space.clone(),
            sim::seeding::derive_seed(seed, "play-policy"),
        )),
        PolicyKind::Scripted => sim::make_scripted(env, options)?,
    })
}

pub fn run(args: Args) -> Result<()> {
    let mut options = parse_env_options(&args.options)?;
    policy_options(args.policy, &args.env, &mut options)?;
    let env = build_env(&args.env, &options, args.preprocess)?;
    if args.policy == PolicyKind::Scripted && args.preprocess != Preprocess::None {
        bail!("--policy scripted reads the env's raw observation; use --preprocess none");
    }
    let mut policy = make_policy(
        args.policy,
        &args.env,
        &options,
        env.action_space(),
        args.seed,
    )?;
    // With --record, the env is wrapped in a recorder declared as built (replay rebuilds it).
    let (mut plain, mut recorded) = match &args.record {
        Some(_) => {
            let rec = sim::wrappers::RecordEpisode::new(env, options.clone());
            let rec = match args.preprocess {
                Preprocess::None => rec,
                Preprocess::Atari => {
                    rec.atari(sim::preprocess::AtariPreprocessingConfig::default())
                }
            };
            (None, Some(rec))
        }
        None => (Some(env), None),
    };
    let env: &mut dyn sim::Env = match (&mut plain, &mut recorded) {
        (_, Some(rec)) => rec,
        (Some(env), None) => env.as_mut(),
        (None, None) => bail!("internal: no env"),
    };
    if args.gif_every == 0 || args.gif_fps == 0 {
        bail!("--gif-every and --gif-fps must be at least 1");
    }
    let mut gif = match &args.gif {
        Some(path) => Some(GifWriter::create(
            path,
            args.gif_scale,
            (100 / args.gif_fps).max(1),
        )?),
        None => None,
    };

    let mut returns = Vec::new();
    for episode in 0..args.episodes {
        let seed = (episode == 0).then_some(args.seed);
        let (obs, _) = env.reset(seed)?;
        policy.reset();
        let mut action = policy.act(obs)?;
        let (mut ret, mut len) = (0.0f64, 0u64);
        if let Some(g) = gif.as_mut() {
            g.push(env.render())?;
        }
        loop {
            let step = env.step(action.as_action())?;
            ret += step.reward as f64;
            len += 1;
            let done = step.done() || (args.max_steps > 0 && len >= args.max_steps);
            let (terminated, truncated) = (step.terminated, step.truncated);
            if !done {
                action = policy.act(step.obs)?;
            }
            if let Some(g) = gif.as_mut()
                && (len % args.gif_every == 0 || done)
            {
                g.push(env.render())?;
            }
            if done {
                let how = if terminated {
                    "terminated"
                } else if truncated {
                    "truncated"
                } else {
                    "stopped at --max-steps"
                };
                println!(
                    "episode {}: return {ret:.2}, length {len} steps ({how})",
                    episode + 1
                );
                break;
            }
        }
        returns.push(ret);
    }
    if returns.len() > 1 {
        let n = returns.len() as f64;
        let mean = returns.iter().sum::<f64>() / n;
        let std = (returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt();
        println!(
            "{} episodes: mean return {mean:.2} +- {std:.2} (policy {})",
            returns.len(),
            policy.name()
        );
    }
    if let (Some(g), Some(path)) = (gif, &args.gif) {
        let n = g.finish()?;
        println!("wrote {} ({n} frames)", path.display());
    }
    if let (Some(rec), Some(path)) = (&recorded, &args.record) {
        rec.save(path)?;
        println!(
            "recorded {} episode(s) to {}",
            rec.record().episodes.len(),
            path.display()
        );
    }
    Ok(())
}
