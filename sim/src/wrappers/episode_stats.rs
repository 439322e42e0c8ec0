//! Episode return and length on the final step (Gymnasium's `RecordEpisodeStatistics`).

use crate::env::{Action, Env, EpisodeStats, Frame, Info, Obs, Step};
use crate::error::Result;
use crate::space::Space;

/// Sums rewards and counts steps; on the step that ends an episode (terminated or truncated)
/// sets `info.episode = Some(EpisodeStats { episode_return, length })`.
///
/// The return is of the rewards this wrapper sees: put it inside [`super::ClipReward`] to
/// report the unclipped game score, and outside [`super::EpisodicLife`] if an "episode"
/// should be one life.
pub struct RecordEpisodeStatistics<E> {
    env: E,
    episode_return: f64,
    length: u64,
}

impl<E: Env> RecordEpisodeStatistics<E> {
    /// Wrap `env`; works on any env.
    pub fn new(env: E) -> Self {
        Self {
            env,
            episode_return: 0.0,
            length: 0,
        }
    }

    /// Statistics of the episode so far.
    pub fn current(&self) -> EpisodeStats {
        EpisodeStats {
            episode_return: self.episode_return,
            length: self.length,
        }
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

impl<E: Env> Env for RecordEpisodeStatistics<E> {
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
        self.episode_return = 0.0;
        self.length = 0;
        self.env.reset(seed)
    }
    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        let mut s = self.env.step(action)?;
        self.episode_return += s.reward as f64;
        self.length += 1;
        if s.done() {
            s.info.episode = Some(EpisodeStats {
                episode_return: self.episode_return,
                length: self.length,
            });
        }
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
    fn stats_only_on_the_final_step_and_reset_per_episode() {
        let mut env = RecordEpisodeStatistics::new(TestEnv::new(0, 0, 4));
        for _ in 0..2 {
            env.reset(None).unwrap();
            for _ in 0..3 {
                assert_eq!(env.step(Action::Discrete(0)).unwrap().info.episode, None);
            }
            let s = env.step(Action::Discrete(0)).unwrap();
            assert!(s.truncated);
            // -1 - 0.5 + 0 + 0.5
            assert_eq!(
                s.info.episode,
                Some(EpisodeStats {
                    episode_return: -1.0,
                    length: 4
                })
            );
        }
    }
}
