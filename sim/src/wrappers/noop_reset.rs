//! A random number of NOOP actions after each reset (Machado et al. / Nature DQN starts).

use super::require_noop_action;
use crate::env::{Action, Env, Frame, Info, Obs, Step};
use crate::error::Result;
use crate::seeding::{EnvRng, reseed};
use crate::space::Space;
use rand::Rng;

/// After the inner reset, takes `k` NOOP steps (action 0), `k` uniform in `1..=noop_max`
/// (none when `noop_max` is 0), so episodes of a deterministic game start from varied states.
///
/// Seeding: `reset(Some(seed))` passes `seed` to the inner env and restarts this wrapper's
/// own stream at `rng_from_seed(derive_seed(seed, "noop"))`; `reset(None)` continues both.
/// The count is `rng.random_range(1..=noop_max)` (rand 0.9), one draw per reset, the range
/// Gymnasium's `AtariPreprocessing` and SB3's `NoopResetEnv` use. If a NOOP step ends the
/// episode, the inner env is reset again with `None` and the remaining NOOPs are still taken.
///
/// Put this directly on the frameskip-1 env to count NOOPs in emulator frames, as
/// Gymnasium's `AtariPreprocessing` does. Refuses envs whose action 0 is not `NOOP`.
pub struct NoopReset<E> {
    env: E,
    noop_max: u32,
    rng: Option<EnvRng>,
    last_noops: u32,
}

impl<E: Env> NoopReset<E> {
    /// Wrap `env` with up to `noop_max` NOOPs per reset (Gymnasium's default is 30).
    pub fn new(env: E, noop_max: u32) -> Result<Self> {
        require_noop_action("NoopReset", &env)?;
        Ok(Self {
            env,
            noop_max,
            rng: None,
            last_noops: 0,
        })
    }

    /// How many NOOPs the last reset took.
    pub fn last_noops(&self) -> u32 {
        self.last_noops
    }

    /// The wrapped env.
    pub fn inner(&self) -> &E {
        &self.env
    }
}

impl<E: Env> Env for NoopReset<E> {
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
        let mut info = self.env.reset(seed)?.1;
        let rng = reseed(&mut self.rng, seed, Some("noop"));
        let k = if self.noop_max == 0 {
            0
        } else {
            rng.random_range(1..=self.noop_max)
        };
        for _ in 0..k {
            let s = self.env.step(Action::Discrete(0))?;
            let (done, step_info) = (s.done(), s.info);
            info = if done {
                self.env.reset(None)?.1
            } else {
                step_info
            };
        }
        self.last_noops = k;
        Ok((self.env.obs(), info))
    }
    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        self.env.step(action)
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
    fn noop_count_in_range_and_deterministic() {
        let mut a = NoopReset::new(TestEnv::new(0, 0, 0), 30).unwrap();
        let mut b = NoopReset::new(TestEnv::new(0, 0, 0), 30).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..40 {
            let fa = a.reset(Some(seed)).unwrap().1.episode_frame_number;
            let fb = b.reset(Some(seed)).unwrap().1.episode_frame_number;
            assert_eq!(fa, fb);
            assert_eq!(fa, a.last_noops() as u64);
            assert!(fa <= 30);
            seen.insert(fa);
        }
        assert!(seen.len() > 10, "{seen:?}");
        assert!(a.inner().actions.iter().all(|&x| x == 0));
        assert_eq!(a.inner().resets.last(), Some(&Some(39)));
    }

    #[test]
    fn refuses_envs_without_noop_first() {
        let mut e = TestEnv::new(0, 0, 0);
        e.meanings = &["FIRE", "NOOP"];
        let err = NoopReset::new(e, 30).err().unwrap();
        assert!(
            matches!(err, crate::SimError::IncompatibleWrapper { .. }),
            "{err}"
        );
    }
}
