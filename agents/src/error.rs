//! The one error type of the `agents` crate.

use std::path::PathBuf;
use thiserror::Error;

/// Everything that can stop training, evaluation or checkpoint loading.
#[derive(Debug, Error)]
pub enum AgentError {
    /// A configuration value is invalid; the message names the field.
    #[error("config: {0}")]
    Config(String),
    /// A config file did not parse (unknown field, wrong type); names the file and field.
    #[error("config file {path}: {message}")]
    ConfigFile { path: PathBuf, message: String },
    /// A checkpoint could not be read or does not fit (corrupt, truncated, wrong shapes,
    /// wrong env, unknown format).
    #[error("checkpoint {path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    /// The loss became NaN or infinite; training stopped at this env step.
    #[error(
        "loss became {value} at env step {step} (gradient update {update}); training stopped, \
         the last checkpoint was kept"
    )]
    NonFiniteLoss { step: u64, update: u64, value: f32 },
    /// An A3C worker failed (error, NaN/inf loss or panic); every worker was stopped and
    /// no checkpoint was written after the failure.
    #[error(
        "A3C worker {worker} failed at env step {step}: {reason}; training stopped, the last \
         checkpoint was kept"
    )]
    Worker {
        worker: usize,
        step: u64,
        reason: String,
    },
    /// The environment rejected something.
    #[error(transparent)]
    Sim(#[from] sim::SimError),
    /// Observations, encoders or the device.
    #[error(transparent)]
    Perception(#[from] perception::PerceptionError),
    /// Replay storage or sampling.
    #[error(transparent)]
    Replay(#[from] crate::replay::ReplayError),
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// Reading or writing run files.
    #[error("cannot access {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl AgentError {
    /// An I/O error about `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AgentError::Io {
            path: path.into(),
            source,
        }
    }

    /// A checkpoint error about `path`.
    pub fn checkpoint(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        AgentError::Checkpoint {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Shorthand used across the crate.
pub type Result<T, E = AgentError> = std::result::Result<T, E>;
