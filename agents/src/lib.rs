//! `agents`: learning agents for pixelgym's environments, in candle.
//!
//! * [`dqn`]: DQN read top to bottom (config with the Nature defaults, Q-network with an
//!   optional dueling head, Huber TD loss, Double DQN, target network, epsilon schedule), and
//!   [`dqn::DqnPolicy`], the trained agent behind `sim::Policy`.
//! * [`a3c`]: A3C (asynchronous workers, shared RMSProp) and A2C (its synchronous mode) read
//!   top to bottom, for discrete and continuous actions, and [`a3c::A3cPolicy`].
//! * [`replay`]: replay memory that stores each frame once and rebuilds stacks by index.
//! * [`optim`]: Adam and RMSProp (with the Nature settings) and gradient clipping.
//! * [`train`]: the training loop (config -> run directory), [`eval`]: evaluation episodes.
//! * [`checkpoint`]: safetensors weights with JSON metadata, written atomically, checked
//!   on load.

//!
//! ## Findings worth keeping
//! * Huber vs MSE on CartPole-v1 (CleanRL's settings, Adam 2.5e-4, target every 50 updates):
//!   with the Huber loss (delta 1) Q-values grew without bound (mean Q > 1,000 by 40k steps,
//!   on live and on fixed random-policy data; the same code converges when the target net is
//!   frozen). Huber's bounded gradient fits something like a median, so the ~5% terminal
//!   targets, the only thing anchoring Q near failure, barely pull; with `loss = "mse"` the
//!   same run learns (mean eval return ~250-290 by 30-90k steps). Atari keeps Huber (rewards
//!   clipped to [-1, 1], TD errors mostly inside the quadratic zone) as in the Nature paper.

pub mod a3c;
pub mod acting;
pub mod checkpoint;
pub mod dqn;
pub mod error;
pub mod eval;
pub mod optim;
pub mod replay;
pub mod sum_tree;
pub mod tensorboard;
pub mod train;

pub use acting::Acting;
pub use error::{AgentError, Result};

use std::path::Path;

/// Load any trained agent from a checkpoint as a `sim::Policy`, dispatching on its
/// metadata's `agent` and acting as `acting` says ([`acting::Acting::AsTrained`]: DQN at its
/// `eval_epsilon`, A3C as its `eval_greedy`). An epsilon for an A3C checkpoint or sampling
/// for a DQN one is refused, naming the file. With `expect_env`, a checkpoint of another env
/// is refused.
pub fn load_policy(
    path: &Path,
    device: &candle_core::Device,
    expect_env: Option<&str>,
    acting: acting::Acting,
    seed: u64,
) -> Result<Box<dyn sim::Policy>> {
    let meta = checkpoint::read_meta(path)?;
    match meta.agent.as_str() {
        "dqn" | "a3c" => {}
        other => {
            return Err(AgentError::checkpoint(
                path,
                format!("unknown agent `{other}` (this build knows dqn and a3c)"),
            ));
        }
    }
    Ok(match acting.resolve(path, &meta)? {
        acting::Resolved::Dqn { epsilon, .. } => Box::new(dqn::DqnPolicy::load(
            path, device, expect_env, epsilon, seed,
        )?),
        acting::Resolved::A3c { greedy } => Box::new(a3c::A3cPolicy::load(
            path,
            device,
            expect_env,
            Some(greedy),
            seed,
        )?),
    })
}
