//! `agents`: learning agents for pixelgym's environments, in candle.
//!
//! * [`dqn`]: DQN read top to bottom (config with the Nature defaults, Q-network with an
//!   optional dueling head, Huber TD loss, Double DQN, target network, epsilon schedule), and
//!   [`dqn::DqnPolicy`], the trained agent behind `sim::Policy`.
//! * [`replay`]: replay memory that stores each frame once and rebuilds stacks by index.
//! * [`optim`]: Adam and RMSProp (with the Nature settings) and gradient clipping.
//! * [`train`]: the training loop (config -> run directory), [`eval`]: evaluation episodes.
//! * [`checkpoint`]: safetensors weights with JSON metadata, written atomically, checked
//!   on load.

pub mod checkpoint;
pub mod dqn;
pub mod error;
pub mod eval;
pub mod optim;
pub mod replay;
pub mod train;

pub use error::{AgentError, Result};
