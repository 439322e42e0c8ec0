//! `perception`: observations to tensors, and the encoders agents put in front of their heads.
//!
//! * [`ObsSpec`] reads an env's observation space and turns batches of observations into
//!   normalised `f32` tensors on a device in one pass ([`frames_to_tensor`]).
//! * [`Encoder`]: the Nature-DQN CNN, a small CNN for CPU work, and an MLP, all
//!   `candle_nn::Module`s built from a `VarBuilder`.
//! * Every convolution comes from [`conv::conv2d`] and every encoder dense layer from
//!   [`dense::dense`]: on the CPU they run our own gemm kernels with hand-written backward
//!   passes (candle's are selectable with [`conv::set_default_conv_impl`]).
//! * [`heap`]: keep freed tensor buffers in the heap (no page faults every step).
//! * [`denormals`]: flush-to-zero for the learner's threads (denormals cost ~100x on x86).
//! * [`DeviceChoice`]: `cpu`, or `cuda[:N]` in builds with the `cuda` feature.

pub mod conv;
pub mod denormals;
pub mod dense;
pub mod device;
pub mod encoder;
pub mod error;
pub mod frames;
pub mod heap;
pub mod init;

pub use candle_core;
pub use candle_nn;
pub use device::DeviceChoice;
pub use encoder::{Encoder, EncoderKind};
pub use error::{PerceptionError, Result};
pub use frames::{FrameLayout, ObsSpec, frames_to_tensor, standardize_frames};
pub use init::seeded_init;
