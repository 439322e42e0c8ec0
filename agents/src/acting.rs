//! How a trained policy chooses, and what every policy does before it chooses: one
//! observation through its network. Shared by [`crate::dqn::DqnPolicy`] and
//! [`crate::a3c::A3cPolicy`], whose errors must reach eval, the scenario runner and the
//! viewer as `sim` errors naming the agent.

use candle_core::{Device, Tensor};
use perception::ObsSpec;
use sim::Obs;

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
