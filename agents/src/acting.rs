//! What every trained policy does before it chooses: one observation through its network.
//! Shared by [`crate::dqn::DqnPolicy`] and [`crate::a3c::A3cPolicy`], whose errors must reach
//! eval, the scenario runner and the viewer as `sim` errors naming the agent.

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
