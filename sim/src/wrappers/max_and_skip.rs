//! Frame skipping with a max-pool over the last two frames (ALE/Nature DQN flicker removal).

use super::{bad_obs, incompatible};
use crate::env::{Action, Env, Frame, Info, Obs, Step};
use crate::error::{Result, SimError};
use crate::preprocess::max_pool;
use crate::space::{DType, Space};

/// Repeats each action `skip` times on the inner env and sums the rewards; the observation
/// is the element-wise max of the inner frames of repeats `skip - 1` and `skip` (so objects
/// drawn only on alternate frames stay visible). With `skip == 1` it is the inner frame.
///
/// **Early stop.** If the inner episode ends (terminated or truncated) on repeat `t < skip`,
/// the remaining repeats are not taken and the observation is the *terminal frame itself*,
/// not max-pooled. Rewards up to and including repeat `t` are summed; `info` is that of the
/// last repeat taken. Gymnasium's `AtariPreprocessing` differs here: it breaks out before
/// capturing the terminal screen, so its final observation is a max over stale frames of
/// earlier repeats and steps; SB3's `MaxAndSkipEnv` likewise pools stale buffers. We return
/// the frame the episode really ended on, which is what a truncation bootstrap should see,
/// and which a native env can produce without drawing every skipped frame.
///
/// After reset the observation is the reset frame (Gymnasium pools it with a zero frame,
/// which gives the same bytes). `u8` observations only.
pub struct MaxAndSkip<E> {
    env: E,
    skip: u32,
    /// The frame of repeat `skip - 1` (only when `skip >= 2`).
    second_last: Vec<u8>,
    buf: Vec<u8>,
}

impl<E: Env> MaxAndSkip<E> {
    /// Wrap `env`; `skip` must be at least 1 and observations `u8`.
    pub fn new(env: E, skip: u32) -> Result<Self> {
        if skip == 0 {
            return Err(SimError::Invalid(format!(
                "MaxAndSkip on `{}`: skip must be >= 1",
                env.id()
            )));
        }
        let len = match env.observation_space() {
            Space::Box {
                dtype: DType::U8,
                shape,
                ..
            } => shape.iter().product(),
            other => {
                return Err(incompatible(
                    "MaxAndSkip",
                    &env,
                    format!("max-pooling needs u8 frame observations, got {other}"),
                ));
            }
        };
        Ok(Self {
            env,
            skip,
            second_last: if skip >= 2 { vec![0; len] } else { Vec::new() },
            buf: vec![0; len],
        })
    }

    /// Inner steps per agent step.
    pub fn skip(&self) -> u32 {
        self.skip
    }

    /// The wrapped env.
    pub fn inner(&self) -> &E {
        &self.env
    }
}

impl<E: Env> Env for MaxAndSkip<E> {
    fn id(&self) -> &str {
        self.env.id()
    }
    fn observation_space(&self) -> &Space {
        self.env.observation_space()
    }
    fn action_space(&self) -> &Space {
        self.env.action_space()
    }
    fn reset(&mut self, seed: Option<u64>) -> Result<(Obs<'_>, Info)> {
        let (obs, info) = self.env.reset(seed)?;
        match obs.as_u8() {
            Some(f) if f.len() == self.buf.len() => self.buf.copy_from_slice(f),
            _ => return Err(bad_obs("MaxAndSkip", &self.env, self.buf.len())),
        }
        Ok((Obs::U8(&self.buf), info))
    }
    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        let mut total = 0.0f32;
        let mut last = None;
        for t in 1..=self.skip {
            let s = self.env.step(action)?;
            total += s.reward;
            let done = s.done();
            let frame = match s.obs.as_u8() {
                Some(f) if f.len() == self.buf.len() => f,
                _ => {
                    let len = self.buf.len();
                    return Err(bad_obs("MaxAndSkip", &self.env, len));
                }
            };
            if done || t == self.skip {
                if !done && self.skip >= 2 {
                    max_pool(&self.second_last, frame, &mut self.buf);
                } else {
                    self.buf.copy_from_slice(frame);
                }
                last = Some((s.terminated, s.truncated, s.info));
                break;
            }
            if t == self.skip - 1 {
                self.second_last.copy_from_slice(frame);
            }
        }
        // The loop always ends through the `t == skip` branch or an early stop.
        let (terminated, truncated, info) = last.unwrap_or_default();
        Ok(Step {
            obs: Obs::U8(&self.buf),
            reward: total,
            terminated,
            truncated,
            info,
        })
    }
    fn obs(&self) -> Obs<'_> {
        Obs::U8(&self.buf)
    }
    fn render(&mut self) -> Frame<'_> {
        self.env.render()
    }
    fn action_meanings(&self) -> Option<&'static [&'static str]> {
        self.env.action_meanings()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wrappers::test_env::{TestEnv, frame};

    #[test]
    fn pools_the_last_two_frames_and_sums_rewards() {
        let mut env = MaxAndSkip::new(TestEnv::new(0, 0, 0), 4).unwrap();
        let (obs, _) = env.reset(Some(0)).unwrap();
        assert_eq!(obs.as_u8().unwrap(), &frame(0)[..]);
        let s = env.step(Action::Discrete(0)).unwrap();
        let want: Vec<u8> = frame(3)
            .iter()
            .zip(frame(4))
            .map(|(a, b)| (*a).max(b))
            .collect();
        assert_eq!(s.obs.as_u8().unwrap(), &want[..]);
        assert_eq!(s.reward, -1.0 - 0.5 + 0.0 + 0.5);
        assert_eq!(s.info.episode_frame_number, 4);
    }

    #[test]
    fn early_stop_returns_the_terminal_frame() {
        // Truncated at inner step 6: the second agent step stops after 2 repeats.
        let mut env = MaxAndSkip::new(TestEnv::new(0, 0, 6), 4).unwrap();
        env.reset(Some(0)).unwrap();
        env.step(Action::Discrete(0)).unwrap();
        let s = env.step(Action::Discrete(0)).unwrap();
        assert!(s.truncated);
        assert_eq!(s.obs.as_u8().unwrap(), &frame(6)[..]);
        assert_eq!(s.reward, 1.0 + 1.5);
        assert_eq!(s.info.episode_frame_number, 6);
        assert!(matches!(
            env.step(Action::Discrete(0)),
            Err(SimError::NeedsReset { .. })
        ));
    }

    #[test]
    fn skip_one_is_the_identity() {
        let mut env = MaxAndSkip::new(TestEnv::new(0, 0, 0), 1).unwrap();
        env.reset(Some(0)).unwrap();
        let s = env.step(Action::Discrete(0)).unwrap();
        assert_eq!(s.obs.as_u8().unwrap(), &frame(1)[..]);
        assert!(MaxAndSkip::new(TestEnv::new(0, 0, 0), 0).is_err());
    }
}
