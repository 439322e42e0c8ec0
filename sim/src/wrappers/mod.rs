//! Composable wrappers with Gymnasium/ALE semantics.
//!
//! Each wrapper is generic over the env it wraps (`W<E: Env>`), so a chain can be built from
//! concrete types (static dispatch) or from `Box<dyn Env>` (as [`make_atari`] does). Wrappers
//! that change observations own their output buffer and return a borrowed view of it, so a
//! step allocates nothing; wrappers that only change rewards or flags pass the inner
//! observation through untouched. A wrapper stacked on an env whose spaces it cannot handle
//! is refused with [`crate::SimError::IncompatibleWrapper`].
//!
//! | here | Gymnasium / SB3 | notes |
//! |---|---|---|
//! | [`NoopReset`] | `AtariPreprocessing(noop_max)`, SB3 `NoopResetEnv` | `k` in `1..=noop_max`, as theirs |
//! | [`MaxAndSkip`] | `AtariPreprocessing(frame_skip)`, SB3 `MaxAndSkipEnv` | early stop returns the terminal frame |
//! | [`Grayscale`] | `GrayscaleObservation` | integer BT.601 luma |
//! | [`Resize`] | `ResizeObservation` / `INTER_AREA` | exact integer area average |
//! | [`FrameStack`] | `FrameStackObservation(padding_type="reset")` | `[k, ...]`, oldest first |
//! | [`EpisodicLife`] | SB3 `EpisodicLifeEnv` | seeded resets are always real |
//! | [`ClipReward`] | SB3 `ClipRewardEnv` | sign, 0 stays 0 |
//! | [`TimeLimit`] | `TimeLimit` | `end_reason = "time_limit"` |
//! | [`RecordEpisodeStatistics`] | `RecordEpisodeStatistics` | `info.episode` on the last step |
//! | [`RecordEpisode`], [`replay`] | (none) | seed + options + actions, replayed exactly |
//! | [`make_atari`] | `AtariPreprocessing` + `FrameStackObservation` | native fast path when available |

mod atari;
mod clip_reward;
mod episode_stats;
mod episodic_life;
mod frame_stack;
mod grayscale;
mod max_and_skip;
mod noop_reset;
mod record;
mod resize;
mod time_limit;

#[cfg(test)]
pub(crate) mod test_env;

pub use atari::{make_atari, make_atari_wrapped};
pub use clip_reward::ClipReward;
pub use episode_stats::RecordEpisodeStatistics;
pub use episodic_life::EpisodicLife;
pub use frame_stack::FrameStack;
pub use grayscale::Grayscale;
pub use max_and_skip::MaxAndSkip;
pub use noop_reset::NoopReset;
pub use record::{
    EpisodeRecord, Mismatch, RECORD_FORMAT, RecordEpisode, RecordedAction, RecordedEpisode,
    ReplayReport, obs_hash, replay,
};
pub use resize::Resize;
pub use time_limit::TimeLimit;

use crate::env::Env;
use crate::error::SimError;
use crate::space::{DType, Space};

/// The standard error for a wrapper stacked on an env it cannot handle.
pub(crate) fn incompatible(
    wrapper: &'static str,
    env: &dyn Env,
    message: impl Into<String>,
) -> SimError {
    SimError::IncompatibleWrapper {
        wrapper,
        id: env.id().to_string(),
        message: message.into(),
    }
}

/// Check that action 0 of `env` is a NOOP, as no-op resets and episodic life's continue step
/// assume: the action space must be discrete, and when the env names its actions, the first
/// name must be `NOOP`.
pub(crate) fn require_noop_action(wrapper: &'static str, env: &dyn Env) -> crate::Result<()> {
    if env.action_space().n().is_none() {
        return Err(incompatible(
            wrapper,
            env,
            format!(
                "needs a discrete action space with NOOP as action 0, got {}",
                env.action_space()
            ),
        ));
    }
    if let Some(meanings) = env.action_meanings()
        && meanings.first() != Some(&"NOOP")
    {
        return Err(incompatible(
            wrapper,
            env,
            format!("action 0 must be NOOP, but the actions are {meanings:?}"),
        ));
    }
    Ok(())
}

/// The shape of a `u8` image observation space (`[H, W]` or `[H, W, C]` with `C <= 4`), or
/// an error. The channel limit keeps a stacked `[k, H, W]` observation from being taken for
/// an image of `W` channels.
pub(crate) fn u8_image_shape(wrapper: &'static str, env: &dyn Env) -> crate::Result<Vec<usize>> {
    match env.observation_space() {
        Space::Box {
            shape,
            dtype: DType::U8,
            ..
        } if (shape.len() == 2 || (shape.len() == 3 && shape[2] <= 4))
            && shape.iter().all(|&d| d > 0) =>
        {
            Ok(shape.clone())
        }
        other => Err(incompatible(
            wrapper,
            env,
            format!("needs u8 image observations of shape [H, W] or [H, W, C<=4], got {other}"),
        )),
    }
}

/// Smallest low and largest high bound of a `Box` space (for derived image spaces).
pub(crate) fn bounds(space: &Space) -> (f32, f32) {
    match space {
        Space::Box { low, high, .. } => (
            low.iter().copied().fold(f32::INFINITY, f32::min),
            high.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        ),
        Space::Discrete { n } => (0.0, (*n as f32 - 1.0).max(0.0)),
    }
}

/// The error for an inner env whose observation does not match its own space (a bug in that
/// env, reported instead of panicking).
pub(crate) fn bad_obs(wrapper: &'static str, env: &dyn Env, expected_len: usize) -> SimError {
    SimError::Invalid(format!(
        "{wrapper}: `{}` returned an observation that does not match its space {} \
         (expected {expected_len} elements)",
        env.id(),
        env.observation_space()
    ))
}
