//! The one error type of the `perception` crate.

use thiserror::Error;

/// What can go wrong turning frames into tensors or building an encoder.
#[derive(Debug, Error)]
pub enum PerceptionError {
    /// `cuda` was requested but this binary was built without the `cuda` cargo feature.
    #[error(
        "device `{requested}` needs CUDA support, but this build was compiled without the \
         `cuda` feature; rebuild with `--features cuda` or use `--device cpu`"
    )]
    CudaNotCompiled { requested: String },

    /// A device string that is neither `cpu`, `cuda` nor `cuda:N`.
    #[error("unknown device `{0}`; expected `cpu`, `cuda` or `cuda:N`")]
    UnknownDevice(String),

    /// An observation or batch does not have the shape an encoder or conversion expects.
    #[error("shape error: {0}")]
    Shape(String),

    /// An error from candle (allocation, kernel, device).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// Shorthand used across the crate.
pub type Result<T, E = PerceptionError> = std::result::Result<T, E>;
