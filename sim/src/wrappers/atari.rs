//! The Atari preprocessing preset: Gymnasium's `AtariPreprocessing` + `FrameStackObservation`,
//! with SB3's episodic life and reward clipping as options.

use super::{ClipReward, EpisodicLife, FrameStack, Grayscale, MaxAndSkip, NoopReset, Resize};
use crate::arcade::native_preprocessed;
use crate::config::EnvConfig;
use crate::env::Env;
use crate::error::{Result, SimError};
use crate::preprocess::AtariPreprocessingConfig;

/// Build `id` with Atari preprocessing: NOOP starts (`noop_max`, in emulator frames), frame
/// skip with a max-pool of the last two frames, grayscale, area resize to
/// `screen_size x screen_size`, then optionally episodic life (`terminal_on_life_loss`) and
/// reward clipping (`clip_reward`), and a stack of `frame_stack` observations.
///
/// Observations: `[frame_stack, S, S]` for grayscale (`[S, S]` when `frame_stack == 1`), with a
/// trailing `3` for RGB. When the game can render the preprocessed observation natively
/// (`crate::arcade::native_preprocessed`), that env replaces the NOOP/skip/gray/resize part;
/// it gives the same bytes as [`make_atari_wrapped`].
///
/// `env_options` go to [`crate::make`]; the preset sets `frameskip = 1` (the skip is done
/// here) and `obs_type = "grayscale"` when `grayscale_obs`, and refuses options that
/// contradict those.
///
/// Differences from Gymnasium's `AtariPreprocessing`, all deliberate:
/// * `terminal_on_life_loss` is SB3's [`EpisodicLife`] on top of the frame skip: a life lost
///   ends the agent step's episode after the full skip, and the next reset continues the same
///   game with one NOOP step. Gymnasium checks lives inside the skip loop and then resets
///   the whole game.
/// * NOOP starts draw `k` from `1..=noop_max` as Gymnasium does, but from the wrapper's
///   own stream `derive_seed(seed, "noop")` rather than the env's RNG.
/// * An episode that ends in the middle of a skip returns its terminal frame (see
///   [`MaxAndSkip`]); Gymnasium returns stale pooled frames.
/// * Grayscale is our integer BT.601 luma of the RGB frame, and the resize an exact integer
///   area average; ALE's palette grayscale and OpenCV's fixed-point `INTER_AREA` can differ
///   by one level on some pixels. There is no `scale_obs`: observations stay `u8`.
pub fn make_atari(
    id: &str,
    env_options: &EnvConfig,
    cfg: &AtariPreprocessingConfig,
) -> Result<Box<dyn Env>> {
    cfg.validate()?;
    check_options(id, env_options, cfg)?;
    match native_preprocessed(id, env_options, cfg) {
        Some(inner) => outer(inner?, cfg),
        None => outer(wrapped_inner(id, env_options, cfg)?, cfg),
    }
}

/// Like [`make_atari`] but always builds the chain of wrappers, never the native fast path:
/// the reference the fast path is tested against, and the baseline of the benchmarks.
pub fn make_atari_wrapped(
    id: &str,
    env_options: &EnvConfig,
    cfg: &AtariPreprocessingConfig,
) -> Result<Box<dyn Env>> {
    cfg.validate()?;
    check_options(id, env_options, cfg)?;
    outer(wrapped_inner(id, env_options, cfg)?, cfg)
}

/// Refuse env options that the preset would have to override.
fn check_options(id: &str, env_options: &EnvConfig, cfg: &AtariPreprocessingConfig) -> Result<()> {
    if let Some(v) = env_options.get("frameskip")
        && v.as_integer() != Some(1)
    {
        return Err(SimError::BadOptionValue {
            id: id.to_string(),
            option: "frameskip".into(),
            message: format!(
                "is {v}, but Atari preprocessing skips frames itself (frame_skip = {}); \
                 leave `frameskip` unset or set it to 1",
                cfg.frame_skip
            ),
        });
    }
    let want = if cfg.grayscale_obs {
        "grayscale"
    } else {
        "rgb"
    };
    if let Some(v) = env_options.get("obs_type")
        && v.as_str() != Some(want)
    {
        return Err(SimError::BadOptionValue {
            id: id.to_string(),
            option: "obs_type".into(),
            message: format!(
                "is {v}, but Atari preprocessing with grayscale_obs = {} needs \"{want}\"; \
                 leave `obs_type` unset",
                cfg.grayscale_obs
            ),
        });
    }
    Ok(())
}

/// The wrapped equivalent of the native fast path: NOOPs on the frameskip-1 env, grayscale,
/// skip + max-pool, resize.
fn wrapped_inner(
    id: &str,
    env_options: &EnvConfig,
    cfg: &AtariPreprocessingConfig,
) -> Result<Box<dyn Env>> {
    let mut opts = env_options.clone();
    opts.insert("frameskip".into(), toml::Value::Integer(1));
    let raw = if cfg.grayscale_obs {
        let mut gray_opts = opts.clone();
        gray_opts.insert("obs_type".into(), toml::Value::String("grayscale".into()));
        match crate::make(id, &gray_opts) {
            Ok(env) => env,
            // The env has no `obs_type` option: convert its RGB frames ourselves.
            Err(SimError::BadOptions { message, .. }) if message.contains("obs_type") => {
                Box::new(Grayscale::new(crate::make(id, &opts)?)?)
            }
            Err(e) => return Err(e),
        }
    } else {
        crate::make(id, &opts)?
    };
    let env = NoopReset::new(raw, cfg.noop_max)?;
    let env = MaxAndSkip::new(env, cfg.frame_skip)?;
    let env = Resize::squeeze(env, cfg.screen_size, cfg.screen_size)?;
    Ok(Box::new(env))
}

/// The part shared by both paths: episodic life, reward clipping, frame stack.
fn outer(inner: Box<dyn Env>, cfg: &AtariPreprocessingConfig) -> Result<Box<dyn Env>> {
    let mut env = inner;
    if cfg.terminal_on_life_loss {
        env = Box::new(EpisodicLife::new(env)?);
    }
    if cfg.clip_reward {
        env = Box::new(ClipReward::new(env));
    }
    if cfg.frame_stack > 1 {
        env = Box::new(FrameStack::new(env, cfg.frame_stack)?);
    }
    Ok(env)
}
