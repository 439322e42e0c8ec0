//! The one error type of the `sim` crate.

use thiserror::Error;

/// Everything that can go wrong when building or stepping an environment.
///
/// Messages name the offending id, option or value and what would have been accepted,
/// so a user can fix a config without reading our source.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum SimError {
    /// `make` was asked for an id that is not registered.
    #[error("unknown environment id `{id}`; registered ids: {known}")]
    UnknownEnv { id: String, known: String },

    /// An option table did not parse (unknown field, wrong type).
    #[error("bad options for `{id}`: {message}")]
    BadOptions { id: String, message: String },

    /// An option parsed but its value is outside what the env accepts.
    #[error("bad option `{option}` for `{id}`: {message}")]
    BadOptionValue {
        id: String,
        option: String,
        message: String,
    },

    /// An action does not belong to the env's action space.
    #[error("invalid action {action} for `{id}`: allowed {allowed}")]
    InvalidAction {
        id: String,
        action: String,
        allowed: String,
    },

    /// `step` was called before the first `reset`, or after the episode ended.
    #[error("`{id}`: step called {when}; call reset first")]
    NeedsReset { id: String, when: &'static str },

    /// A wrapper was stacked on an env whose observations it cannot handle.
    #[error("wrapper `{wrapper}` cannot wrap `{id}`: {message}")]
    IncompatibleWrapper {
        wrapper: &'static str,
        id: String,
        message: String,
    },

    /// A sub-env of a [`crate::VecEnv`] failed; `index` says which one, so a batch error
    /// can be traced to its env. The inner error is kept whole so callers can match on it.
    #[error("sub-env {index}: {error}")]
    SubEnv { index: usize, error: Box<SimError> },

    /// Anything else that is the caller's fault, with a readable explanation.
    #[error("{0}")]
    Invalid(String),
}

/// Shorthand used across the crate.
pub type Result<T, E = SimError> = std::result::Result<T, E>;
