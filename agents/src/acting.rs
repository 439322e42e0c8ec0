//! How a trained policy chooses, and what every policy does before it chooses: one
//! observation through its network. Shared by [`crate::dqn::DqnPolicy`] and
//! [`crate::a3c::A3cPolicy`], whose errors must reach eval, the scenario runner and the
//! viewer as `sim` errors naming the agent.

use crate::checkpoint::CheckpointMeta;
use crate::error::{AgentError, Result};
use candle_core::{Device, Tensor};
use perception::ObsSpec;
use sim::Obs;
use std::path::Path;

/// Run `forward` on `obs` as a batch of one and return its first output flattened (Q-values,
/// logits or Gaussian means). `agent` names the policy in errors ("dqn", "a3c").
pub(crate) fn forward_one(
    agent: &str,
    spec: &ObsSpec,
    obs: Obs<'_>,
    device: &Device,
    forward: impl FnOnce(&Tensor) -> candle_core::Result<Tensor>,
) -> sim::Result<Vec<f32>> {
    let to_sim = |e: String| sim::SimError::Invalid(format!("{agent} policy: {e}"));
    let x = spec
        .to_tensor(obs, 1, device)
        .map_err(|e| to_sim(e.to_string()))?;
    forward(&x)
        .and_then(|out| out.flatten_all()?.to_vec1::<f32>())
        .map_err(|e| to_sim(e.to_string()))
}

/// How a loaded policy picks actions. Evaluation protocols differ (ALE papers play DQN at
/// epsilon 0.05 or 0.01 and A3C by sampling; CleanRL-style reports often use arg-max), so a
/// user must be able to choose instead of taking only what the checkpoint was trained with.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Acting {
    /// As the checkpoint says: DQN its `eval_epsilon`, A3C its `eval_greedy`.
    #[default]
    AsTrained,
    /// DQN only: epsilon-greedy with this epsilon.
    Epsilon(f64),
    /// Arg-max of the Q-values or of the policy (for DQN: epsilon 0).
    Greedy,
    /// A3C only: sample the policy's distribution.
    Sample,
}

impl Acting {
    /// The flags of `pixelgym eval` / `watch` (`--epsilon`, `--greedy`, `--sample`, at most
    /// one of them) as one choice.
    pub fn from_flags(epsilon: Option<f64>, greedy: bool, sample: bool) -> Self {
        match (epsilon, greedy, sample) {
            (Some(e), _, _) => Acting::Epsilon(e),
            (None, true, _) => Acting::Greedy,
            (None, false, true) => Acting::Sample,
            (None, false, false) => Acting::AsTrained,
        }
    }
}

/// What an [`Acting`] comes to for one checkpoint: the one place that reads the checkpoint's
/// own evaluation setting, for loading the policy and for reports alike.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Resolved {
    /// A DQN checkpoint, epsilon-greedy (`greedy`: asked for arg-max, epsilon 0).
    Dqn { epsilon: f64, greedy: bool },
    /// An A3C checkpoint, arg-max or sampling.
    A3c { greedy: bool },
}

impl Acting {
    /// Resolve against the checkpoint at `path`: an epsilon for an A3C checkpoint or
    /// sampling for a DQN one is refused, naming the file.
    pub fn resolve(self, path: &Path, meta: &CheckpointMeta) -> Result<Resolved> {
        let refuse = |msg: &str| Err(AgentError::checkpoint(path, msg));
        match (meta.agent.as_str(), self) {
            ("a3c", Acting::Epsilon(_)) => refuse(
                "an epsilon applies to DQN checkpoints; this A3C one acts greedily or by \
                 sampling its policy (use greedy or sample)",
            ),
            ("a3c", Acting::Greedy) => Ok(Resolved::A3c { greedy: true }),
            ("a3c", Acting::Sample) => Ok(Resolved::A3c { greedy: false }),
            ("a3c", Acting::AsTrained) => Ok(Resolved::A3c {
                greedy: meta.a3c.as_ref().is_none_or(|c| c.eval_greedy),
            }),
            (_, Acting::Sample) => refuse(
                "sampling applies to A3C checkpoints; this DQN one acts epsilon-greedily (use \
                 an epsilon or greedy)",
            ),
            (_, Acting::Greedy) => Ok(Resolved::Dqn {
                epsilon: 0.0,
                greedy: true,
            }),
            (_, Acting::Epsilon(epsilon)) => Ok(Resolved::Dqn {
                epsilon,
                greedy: false,
            }),
            (_, Acting::AsTrained) => Ok(Resolved::Dqn {
                epsilon: meta.dqn.eval_epsilon,
                greedy: false,
            }),
        }
    }
}

impl std::fmt::Display for Resolved {
    /// `greedy`, `sampling` or `epsilon E`, as reports name the acting.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resolved::Dqn { greedy: true, .. } | Resolved::A3c { greedy: true } => {
                f.write_str("greedy")
            }
            Resolved::A3c { greedy: false } => f.write_str("sampling"),
            Resolved::Dqn { epsilon, .. } => write!(f, "epsilon {epsilon}"),
        }
    }
}
