//! The one policy interface: evaluation, the scenario runner and the viewer all take a
//! `dyn Policy`, whether it is scripted, random or a trained network.

use crate::env::{Obs, OwnedAction};
use crate::error::Result;
use crate::seeding::{EnvRng, rng_from_seed};
use crate::space::Space;
use rand::Rng;

/// What a policy can show about its choice (for the viewer's HUD).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ActionScores<'a> {
    /// Per-action values (DQN).
    QValues(&'a [f32]),
    /// Per-action probabilities (actor-critic).
    Probabilities(&'a [f32]),
}

/// Maps observations to actions.
pub trait Policy: Send {
    /// Short name for reports ("random", "scripted", a checkpoint path).
    fn name(&self) -> &str;
    /// Choose an action for `obs`.
    fn act(&mut self, obs: Obs<'_>) -> Result<OwnedAction>;
    /// Scores behind the last action, when the policy has them.
    fn scores(&self) -> Option<ActionScores<'_>> {
        None
    }
    /// Forget per-episode state (called on every env reset).
    fn reset(&mut self) {}
}

/// Uniformly random actions from the action space, seeded.
pub struct RandomPolicy {
    space: Space,
    rng: EnvRng,
}

impl RandomPolicy {
    pub fn new(space: Space, seed: u64) -> Self {
        Self {
            space,
            rng: rng_from_seed(seed),
        }
    }
}

impl Policy for RandomPolicy {
    fn name(&self) -> &str {
        "random"
    }

    fn act(&mut self, _obs: Obs<'_>) -> Result<OwnedAction> {
        Ok(match &self.space {
            Space::Discrete { n } => OwnedAction::Discrete(self.rng.random_range(0..*n) as i64),
            Space::Box { low, high, .. } => OwnedAction::Continuous(
                low.iter()
                    .zip(high)
                    .map(|(&lo, &hi)| lo + (hi - lo) * self.rng.random::<f32>())
                    .collect(),
            ),
        })
    }
}
