//! End an episode at every life lost, but reset the game only when it is really over
//! (SB3's `EpisodicLifeEnv`, from the Nature DQN).

use super::require_noop_action;
use crate::env::{Action, Env, Frame, Info, Obs, Step};
use crate::error::{Result, SimError};
use crate::space::Space;

/// Sets `terminated = true` on the step where `info.lives` drops while lives remain
/// (`0 < lives < previous lives`); a game over passes through as the inner env reports it.
///
/// On the next `reset(None)` after such a life loss, the inner env is *not* reset: one NOOP
/// step (action 0) is taken instead and its observation and info are returned, so the game
/// continues with the next life (if that NOOP step ends the game, the inner env is reset).
/// After a real game over (the inner env's own `terminated`/`truncated`) the reset is real.
///
/// Deviation from SB3: `reset(Some(seed))` always resets the inner env, so a seeded reset
/// starts a fresh game whatever came before. Stepping after a life-loss termination without
/// resetting is [`SimError::NeedsReset`], as for any ended episode.
pub struct EpisodicLife<E> {
    env: E,
    lives: u32,
    /// The inner episode really ended (or never started): the next reset is a real one.
    real_done: bool,
    /// This wrapper's episode ended (life lost or real end): step needs a reset.
    needs_reset: bool,
}

impl<E: Env> EpisodicLife<E> {
    /// Wrap `env`, whose action 0 must be NOOP and whose `info.lives` counts lives.
    pub fn new(env: E) -> Result<Self> {
        require_noop_action("EpisodicLife", &env)?;
        Ok(Self {
            env,
            lives: 0,
            real_done: true,
            needs_reset: true,
        })
    }

    /// Whether the last episode end was a real game over (the next reset resets the game).
    pub fn was_real_done(&self) -> bool {
        self.real_done
    }

    /// The wrapped env.
    pub fn inner(&self) -> &E {
        &self.env
    }
}

impl<E: Env> Env for EpisodicLife<E> {
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
        let info = if self.real_done || seed.is_some() {
            self.env.reset(seed)?.1
        } else {
            let s = self.env.step(Action::Discrete(0))?;
            let (done, info) = (s.done(), s.info);
            if done { self.env.reset(None)?.1 } else { info }
        };
        self.lives = info.lives;
        self.real_done = false;
        self.needs_reset = false;
        Ok((self.env.obs(), info))
    }
    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        if self.needs_reset {
            return Err(SimError::NeedsReset {
                id: self.env.id().to_string(),
                when: "after the episode (a life) ended",
            });
        }
        let mut s = self.env.step(action)?;
        self.real_done = s.done();
        let lives = s.info.lives;
        if 0 < lives && lives < self.lives {
            s.terminated = true;
        }
        self.lives = lives;
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
    use crate::wrappers::test_env::{TestEnv, frame};

    #[test]
    fn life_loss_terminates_and_fake_reset_steps_noop() {
        // 3 lives, one lost every 2 steps: lives 2 at t=2, 1 at t=4, game over at t=6.
        let mut env = EpisodicLife::new(TestEnv::new(3, 2, 0)).unwrap();
        env.reset(Some(5)).unwrap();
        assert!(!env.step(Action::Discrete(1)).unwrap().done());
        let s = env.step(Action::Discrete(1)).unwrap();
        assert!(s.terminated && s.info.lives == 2);
        assert!(!env.was_real_done());
        assert!(env.step(Action::Discrete(1)).is_err());
        let (obs, info) = env.reset(None).unwrap();
        assert_eq!(obs.as_u8().unwrap(), &frame(3)[..]);
        assert_eq!(info.episode_frame_number, 3);
        assert_eq!(env.inner().actions, [1, 1, 0]);
        assert_eq!(env.inner().resets.len(), 1);
        // Loses the second life at t=4 (in the middle of the NOOP-started episode).
        assert!(env.step(Action::Discrete(2)).unwrap().terminated);
        env.reset(None).unwrap(); // NOOP at t=5
        let s = env.step(Action::Discrete(2)).unwrap(); // t=6: game over
        assert!(s.terminated && s.info.lives == 0);
        assert!(env.was_real_done());
        let (obs, info) = env.reset(None).unwrap();
        assert_eq!(obs.as_u8().unwrap(), &frame(0)[..]);
        assert_eq!((info.lives, info.episode_frame_number), (3, 0));
        assert_eq!(env.inner().resets, [Some(5), None]);
    }
}
