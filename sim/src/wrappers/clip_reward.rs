//! Reward clipping to the sign of the reward, as in the Nature DQN (and SB3's `ClipRewardEnv`).

use crate::env::{Action, Env, Frame, Info, Obs, Step};
use crate::error::Result;
use crate::space::Space;

/// Replaces each reward with its sign: `-1`, `0` or `+1` (NaN becomes `0`).
///
/// Clipping lets one set of hyperparameters work across games whose score scales differ.
/// Put [`super::RecordEpisodeStatistics`] *inside* this wrapper to report the game's real
/// (unclipped) return.
pub struct ClipReward<E> {
    env: E,
}

impl<E: Env> ClipReward<E> {
    /// Wrap `env`; works on any env.
    pub fn new(env: E) -> Self {
        Self { env }
    }

    /// The wrapped env.
    pub fn inner(&self) -> &E {
        &self.env
    }

    /// Unwrap.
    pub fn into_inner(self) -> E {
        self.env
    }
}

/// The sign of `r` as a reward (`f32::signum` would map `0.0` to `1.0`).
#[inline]
pub(crate) fn sign(r: f32) -> f32 {
    if r > 0.0 {
        1.0
    } else if r < 0.0 {
        -1.0
    } else {
        0.0
    }
}

impl<E: Env> Env for ClipReward<E> {
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
        self.env.reset(seed)
    }
    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        let mut s = self.env.step(action)?;
        s.reward = sign(s.reward);
        Ok(s)
    }
    fn obs(&self) -> Obs<'_> {
        self.env.obs()
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
    use crate::wrappers::test_env::TestEnv;

    #[test]
    fn rewards_become_their_sign() {
        assert_eq!(sign(0.0), 0.0);
        assert_eq!(sign(-0.0), 0.0);
        assert_eq!(sign(f32::NAN), 0.0);
        assert_eq!(sign(7.5), 1.0);
        assert_eq!(sign(-0.25), -1.0);
        let mut env = ClipReward::new(TestEnv::new(0, 0, 0));
        env.reset(Some(0)).unwrap();
        // Inner rewards for t = 1..=5 are -1, -0.5, 0, 0.5, 1.
        let got: Vec<f32> = (0..5)
            .map(|_| env.step(Action::Discrete(0)).unwrap().reward)
            .collect();
        assert_eq!(got, [-1.0, -1.0, 0.0, 1.0, 1.0]);
    }
}
