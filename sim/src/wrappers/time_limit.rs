//! Truncation after a fixed number of agent steps (Gymnasium's `TimeLimit`).

use crate::env::{Action, Env, Frame, Info, Obs, Step};
use crate::error::{Result, SimError};
use crate::space::Space;

/// Sets `truncated = true` on the `max_episode_steps`-th step of an episode, with
/// `info.end_reason = Some("time_limit")` unless the inner env ended the episode on that same
/// step for its own reason (then its reason is kept).
///
/// Truncation, not termination: the state is not terminal, so value targets should still
/// bootstrap from it. Stepping after the limit is [`SimError::NeedsReset`], like any ended
/// episode.
pub struct TimeLimit<E> {
    env: E,
    max_episode_steps: u64,
    elapsed: u64,
    /// Whether the episode has ended (by the limit or the inner env) or never started.
    needs_reset: bool,
}

impl<E: Env> TimeLimit<E> {
    /// Wrap `env`; `max_episode_steps` must be at least 1.
    pub fn new(env: E, max_episode_steps: u64) -> Result<Self> {
        if max_episode_steps == 0 {
            return Err(SimError::Invalid(format!(
                "TimeLimit on `{}`: max_episode_steps must be >= 1",
                env.id()
            )));
        }
        Ok(Self {
            env,
            max_episode_steps,
            elapsed: 0,
            needs_reset: true,
        })
    }

    /// Agent steps taken in the current episode.
    pub fn elapsed_steps(&self) -> u64 {
        self.elapsed
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

impl<E: Env> Env for TimeLimit<E> {
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
        let r = self.env.reset(seed)?;
        self.elapsed = 0;
        self.needs_reset = false;
        Ok(r)
    }
    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        if self.needs_reset {
            return Err(SimError::NeedsReset {
                id: self.env.id().to_string(),
                when: if self.elapsed == 0 {
                    "before reset"
                } else {
                    "after the episode ended"
                },
            });
        }
        let mut s = self.env.step(action)?;
        self.elapsed += 1;
        if self.elapsed >= self.max_episode_steps {
            if !s.done() {
                s.info.end_reason = Some("time_limit");
            }
            s.truncated = true;
        }
        self.needs_reset = s.done();
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
    fn truncates_at_the_limit_and_then_needs_reset() {
        let mut env = TimeLimit::new(TestEnv::new(0, 0, 0), 3).unwrap();
        assert!(matches!(
            env.step(Action::Discrete(0)),
            Err(SimError::NeedsReset { .. })
        ));
        env.reset(Some(1)).unwrap();
        for _ in 0..2 {
            let s = env.step(Action::Discrete(0)).unwrap();
            assert!(!s.done());
            assert_eq!(s.info.end_reason, None);
        }
        let s = env.step(Action::Discrete(0)).unwrap();
        assert!(s.truncated && !s.terminated);
        assert_eq!(s.info.end_reason, Some("time_limit"));
        assert!(matches!(
            env.step(Action::Discrete(0)),
            Err(SimError::NeedsReset { .. })
        ));
        env.reset(None).unwrap();
        assert_eq!(env.elapsed_steps(), 0);
        assert!(!env.step(Action::Discrete(0)).unwrap().done());
        assert!(TimeLimit::new(TestEnv::new(0, 0, 0), 0).is_err());
    }
}
