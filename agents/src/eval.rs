//! Evaluation: run a policy for whole episodes on one env and report the returns. Used by
//! the training loop, `pixelgym eval`, and anything else that grades a `sim::Policy`.

use crate::error::Result;
use serde::Serialize;
use sim::{Env, Policy};

/// Returns and lengths of evaluation episodes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EvalReport {
    /// Undiscounted return of each episode (sum of the env's rewards).
    pub returns: Vec<f64>,
    /// Agent steps of each episode.
    pub lengths: Vec<u64>,
}

impl EvalReport {
    /// Mean return (0 for no episodes).
    pub fn mean(&self) -> f64 {
        if self.returns.is_empty() {
            return 0.0;
        }
        self.returns.iter().sum::<f64>() / self.returns.len() as f64
    }

    /// Population standard deviation of the returns.
    pub fn std(&self) -> f64 {
        if self.returns.is_empty() {
            return 0.0;
        }
        let m = self.mean();
        (self.returns.iter().map(|r| (r - m).powi(2)).sum::<f64>() / self.returns.len() as f64)
            .sqrt()
    }
}

/// Play `episodes` full episodes of `policy` on `env`. The first reset gets `seed`, later ones
/// continue the env's stream, so a run is reproducible. Episodes end on termination or
/// truncation (the env's own limits apply).
pub fn evaluate(
    policy: &mut dyn Policy,
    env: &mut dyn Env,
    episodes: usize,
    seed: u64,
) -> Result<EvalReport> {
    let mut report = EvalReport::default();
    for ep in 0..episodes {
        let (obs, _) = env.reset(if ep == 0 { Some(seed) } else { None })?;
        policy.reset();
        let mut action = policy.act(obs)?;
        let (mut ret, mut len) = (0.0f64, 0u64);
        loop {
            let step = env.step(action.as_action())?;
            ret += step.reward as f64;
            len += 1;
            if step.done() {
                break;
            }
            action = policy.act(step.obs)?;
        }
        report.returns.push(ret);
        report.lengths.push(len);
    }
    Ok(report)
}
