//! `sim`: everything an environment is. A Gymnasium-shaped [`Env`] contract, a registry
//! ([`make`]), composable wrappers, a vector env, and the environments themselves.
//! `sim` knows nothing of neural networks or of the viewer.

pub mod arcade;
pub mod classic;
pub mod config;
pub mod drive;
pub mod env;
pub mod error;
pub mod policy;
pub mod preprocess;
pub mod registry;
pub mod scenario;
pub mod seeding;
pub mod space;
pub mod vec_env;
pub mod wrappers;

pub use config::{EnvConfig, parse_options};
pub use env::{Action, Env, EpisodeStats, Frame, Info, Obs, OwnedAction, OwnedFrame, Step};
pub use error::{Result, SimError};
pub use policy::{ActionScores, Policy, RandomPolicy};
pub use registry::{EnvSpec, make, make_scripted, registry, spec};
pub use space::{DType, Space};
pub use vec_env::{BatchActions, VecEnv};
