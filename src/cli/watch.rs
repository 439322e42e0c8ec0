//! `pixelgym watch ENV`: open the bevy viewer on an env driven by a scripted, random or
//! trained policy, the keyboard, or a recorded episode. Built only with the `viewer` feature;
//! without it the command explains how to get it.

#[cfg(feature = "viewer")]
use super::play::PolicyKind as PlayPolicy;
use anyhow::Result;
use perception::DeviceChoice;
use std::path::PathBuf;

/// Who acts in the window.
#[cfg_attr(not(feature = "viewer"), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyKind {
    /// The env's scripted policy (as `pixelgym play --policy scripted`).
    Scripted,
    /// Uniformly random actions (seeded).
    Random,
    /// A person: arrows/WASD, F or Enter to fire.
    Keyboard,
}

// Without the viewer the arguments are parsed (so `--help` documents them) but unused.
#[cfg_attr(not(feature = "viewer"), allow(dead_code))]
#[derive(clap::Args)]
pub struct Args {
    /// Environment id (see `pixelgym envs`); optional with --checkpoint or --replay, which
    /// name their env.
    env: Option<String>,
    /// Who acts (ignored with --checkpoint or --replay).
    #[arg(long, value_enum, default_value = "scripted")]
    policy: PolicyKind,
    /// A DQN or A3C checkpoint (`.safetensors`) to play, on the env and options it was
    /// trained with.
    #[arg(long, conflicts_with_all = ["replay", "policy"])]
    checkpoint: Option<PathBuf>,
    /// Exploration of a DQN checkpoint's policy (default: its `eval_epsilon`).
    #[arg(long, requires = "checkpoint")]
    epsilon: Option<f64>,
    /// cpu, cuda or cuda:N for the checkpoint's network.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
    /// Play back an episode record (`pixelgym play/eval --record`), checking every step.
    #[arg(long, conflicts_with = "policy")]
    replay: Option<PathBuf>,
    /// Run a scenario file (configs/scenarios/*.toml) with its actors, events and criteria;
    /// each run's verdict shows in the HUD and on stderr. Works with --policy scripted,
    /// random or keyboard, or --checkpoint (a driving policy).
    #[arg(long, conflicts_with = "replay")]
    scenario: Option<PathBuf>,
    /// Seed of the first episode.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Env option as key=value (repeatable).
    #[arg(long = "option", short = 'o', value_name = "KEY=VALUE")]
    options: Vec<String>,
    /// Window width, pixels.
    #[arg(long, default_value_t = 1280)]
    width: u32,
    /// Window height, pixels.
    #[arg(long, default_value_t = 720)]
    height: u32,
    /// Agent steps per second at speed 1 (default: the env's own rate, e.g. 60 for driving).
    #[arg(long)]
    rate: Option<f64>,
    /// Initial speed factor (+/- change it in the window).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Write the window to this PNG after --frames agent steps (one per frame), then exit.
    #[arg(long)]
    screenshot: Option<PathBuf>,
    /// Exit after this many frames (with --screenshot: agent steps before the picture).
    #[arg(long)]
    frames: Option<u64>,
    /// Turn off 4x multisampling (cheaper on software renderers).
    #[arg(long)]
    no_msaa: bool,
    /// Shading of the driving scene: auto (fast on a software renderer such as lavapipe,
    /// pbr on a GPU), pbr (bevy's PBR with shadow maps) or fast (flat sunlit colours, blob
    /// shadows).
    #[cfg(feature = "viewer")]
    #[arg(long, value_enum, default_value = "auto")]
    look: crate::viewer::LookChoice,
}

/// The env's own agent-step rate: physics at 60 Hz over the action repeat for driving, 60 Hz
/// frames over the frame skip for the ALE games, 50 Hz for CartPole.
#[cfg_attr(not(feature = "viewer"), allow(dead_code))]
fn default_rate(id: &str, options: &sim::EnvConfig, atari: bool) -> f64 {
    let int = |k: &str, d: i64| options.get(k).and_then(|v| v.as_integer()).unwrap_or(d);
    match id {
        sim::drive::DRIVE_ID | sim::drive::MAP_ID => 60.0 / int("action_repeat", 1).max(1) as f64,
        "Pong-v0" | "Breakout-v0" if atari => 15.0,
        "Pong-v0" | "Breakout-v0" => 60.0 / int("frameskip", 4).max(1) as f64,
        "CartPole-v1" => 50.0,
        _ => 10.0,
    }
}

#[cfg(not(feature = "viewer"))]
pub fn run(_args: Args) -> Result<()> {
    anyhow::bail!(
        "this pixelgym was built without the viewer (cargo feature `viewer`); rebuild with \
         default features (`cargo build --release`) to use `pixelgym watch`, or use \
         `pixelgym play ENV --gif out.gif` to look at an env headless"
    )
}

#[cfg(feature = "viewer")]
pub fn run(args: Args) -> Result<()> {
    use crate::viewer::{self, Driver, EnvHandle, Host, ReplayCursor, WatchConfig};
    use anyhow::{Context, bail};

    let same_env = |named: &str| -> Result<()> {
        match &args.env {
            Some(e) if e != named => bail!("ENV is `{e}` but the file is for `{named}`"),
            _ => Ok(()),
        }
    };
    let (id, options, atari, host_env, driver): (String, sim::EnvConfig, bool, EnvHandle, Driver) =
        if let Some(path) = &args.scenario {
            use super::scenario::{PolicySource, make_policy};
            let scenario = sim::scenario::Scenario::load(path)?;
            if !args.options.is_empty() {
                bail!("--option cannot change a scenario's env (edit the file's [env] table)");
            }
            let (policy, overrides) = match (&args.checkpoint, args.policy) {
                (Some(ckpt), _) => {
                    let (p, o) = make_policy(&PolicySource::Checkpoint(ckpt.clone()), &scenario)?;
                    (Some(p), o)
                }
                (None, PolicyKind::Scripted) => {
                    let (p, o) = make_policy(&PolicySource::Scripted, &scenario)?;
                    (Some(p), o)
                }
                (None, PolicyKind::Random | PolicyKind::Keyboard) => {
                    let mut o = sim::EnvConfig::new();
                    o.insert("obs".into(), "state".into());
                    (None, o)
                }
            };
            let senv = sim::scenario::ScenarioEnv::start(scenario, &overrides)?;
            let id = sim::Env::id(&senv).to_string();
            same_env(&id)?;
            let options = sim::scenario::env_setup(senv.scenario(), &overrides)?.1;
            let driver = match (policy, args.policy) {
                (Some(p), _) => Driver::Policy(p),
                (None, PolicyKind::Random) => Driver::Policy(Box::new(sim::RandomPolicy::new(
                    sim::Env::action_space(&senv).clone(),
                    args.seed,
                ))),
                (None, _) => Driver::Keyboard,
            };
            (
                id,
                options,
                false,
                EnvHandle::Scenario(Box::new(senv)),
                driver,
            )
        } else if let Some(path) = &args.replay {
            let record = sim::wrappers::EpisodeRecord::load(path)?;
            same_env(&record.env_id)?;
            let cursor =
                ReplayCursor::new(record).with_context(|| format!("replay {}", path.display()))?;
            let rec = cursor.record();
            let (id, options, atari) = (rec.env_id.clone(), rec.options.clone(), rec.atari.clone());
            let env = EnvHandle::new(&id, &options, || {
                Ok(match &atari {
                    Some(cfg) => sim::wrappers::make_atari(&id, &options, cfg)?,
                    None => sim::make(&id, &options)?,
                })
            })?;
            (
                id,
                options,
                atari.is_some(),
                env,
                Driver::Replay(Box::new(cursor)),
            )
        } else if let Some(path) = &args.checkpoint {
            let loaded = super::eval::load(
                path,
                args.device,
                agents::Acting::from_flags(args.epsilon, false, false),
                args.seed,
            )?;
            same_env(&loaded.meta.env_id)?;
            if !args.options.is_empty() {
                bail!(
                    "--option cannot change a checkpoint's env (it plays the options it was trained with)"
                );
            }
            let id = loaded.meta.env_id.clone();
            let env = EnvHandle::new(&id, &loaded.options, || loaded.build_env())?;
            let atari = loaded.meta.env_atari.is_some();
            let options = loaded.options.clone();
            (id, options, atari, env, Driver::Policy(loaded.policy))
        } else {
            let Some(id) = args.env.clone() else {
                bail!("name an env (see `pixelgym envs`), or give --checkpoint or --replay");
            };
            let mut options = super::parse_env_options(&args.options)?;
            let play_kind = match args.policy {
                PolicyKind::Scripted => Some(PlayPolicy::Scripted),
                PolicyKind::Random => Some(PlayPolicy::Random),
                PolicyKind::Keyboard => None,
            };
            if let Some(kind) = play_kind {
                super::play::policy_options(kind, &id, &mut options)?;
            }
            let env = EnvHandle::new(&id, &options, || Ok(sim::make(&id, &options)?))?;
            let driver = match play_kind {
                Some(kind) => Driver::Policy(super::play::make_policy(
                    kind,
                    &id,
                    &options,
                    env.env_ref().action_space(),
                    args.seed,
                )?),
                None => Driver::Keyboard,
            };
            (id, options, false, env, driver)
        };
    if !(args.speed.is_finite() && args.speed > 0.0) {
        bail!("--speed must be a positive number, got {}", args.speed);
    }
    let rate = args
        .rate
        .unwrap_or_else(|| default_rate(&id, &options, atari));
    if !(rate.is_finite() && rate > 0.0) {
        bail!("--rate must be a positive number, got {rate}");
    }
    if !(64..=7680).contains(&args.width) || !(64..=4320).contains(&args.height) {
        bail!("--width and --height must be 64..=7680 and 64..=4320");
    }
    if args.frames == Some(0) {
        bail!("--frames must be at least 1");
    }
    let host = Host::new(host_env, driver, args.seed)?;
    let title = format!("pixelgym watch: {id} ({})", host.driver_name());
    let cfg = WatchConfig {
        title,
        width: args.width,
        height: args.height,
        steps_per_sec: rate,
        speed: args.speed,
        screenshot: args.screenshot.clone(),
        frames: args.frames,
        msaa: !args.no_msaa,
        look: args.look,
    };
    let outcome = viewer::run(host, cfg)?;
    let t = &outcome.timings;
    let wall = t.started.map_or(0.0, |s| s.elapsed().as_secs_f64());
    let per_frame = |d: std::time::Duration| 1e3 * d.as_secs_f64() / t.frames.max(1) as f64;
    eprintln!(
        "viewer: {} frames in {wall:.1} s ({:.1} fps), {} agent steps; own CPU per frame: sim \
         {:.3} ms, poses {:.3} ms, hud {:.3} ms",
        t.frames,
        t.frames as f64 / wall.max(1e-9),
        outcome.steps,
        per_frame(t.sim),
        per_frame(t.poses),
        per_frame(t.hud),
    );
    if let Some(path) = &outcome.screenshot {
        println!("wrote {}", path.display());
    }
    if let Some((checked, finished, mismatch)) = &outcome.replay {
        if let Some(m) = mismatch {
            bail!("the replay diverged from the record: {m}");
        }
        println!(
            "replay: {checked} steps matched the record{}",
            if *finished { " (all of it)" } else { "" }
        );
    }
    Ok(())
}
