//! The one place encoders get a convolution from.
//!
//! Every convolution of every encoder is a [`Conv`] made by [`conv2d`]. On the CPU it runs our
//! own kernels by default ([`ConvImpl::Fast`]: im2col + gemm with a hand-written backward, bias
//! and ReLU fused, one autograd node per layer), because candle 0.11's CPU conv backward is
//! several times slower than its forward. [`ConvImpl::Candle`] keeps candle's own conv2d, and
//! any non-CPU device or non-`f32` dtype always uses candle's kernels. Weights are the same in
//! both: `weight (out, in, k, k)` and `bias (out)` under the layer's prefix, so checkpoints do
//! not depend on the implementation.

pub(crate) mod kernels;
mod op;

use crate::error::{PerceptionError, Result};
use candle_core::{DType, Module, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU8, Ordering};

/// Shape, stride and zero padding of a square 2-D convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvSpec {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    /// Zeros added on each side of both spatial dimensions (the shipped encoders use 0).
    pub padding: usize,
}

impl ConvSpec {
    /// Output side length for an input side of `n`, or `None` when the (padded) input is
    /// smaller than the kernel.
    pub fn out_size(&self, n: usize) -> Option<usize> {
        let n = n + 2 * self.padding;
        (n >= self.kernel && self.stride > 0).then(|| (n - self.kernel) / self.stride + 1)
    }
}

/// Which kernels a [`Conv`] runs on the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConvImpl {
    /// Our im2col + gemm kernels with a hand-written backward (CPU, `f32`).
    #[default]
    Fast,
    /// candle's own `conv2d` and autograd (the reference the fast path is tested against).
    Candle,
}

impl std::str::FromStr for ConvImpl {
    type Err = PerceptionError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fast" => Ok(ConvImpl::Fast),
            "candle" => Ok(ConvImpl::Candle),
            _ => Err(PerceptionError::Shape(format!(
                "unknown convolution implementation `{s}`; expected `fast` or `candle`"
            ))),
        }
    }
}

static DEFAULT_IMPL: AtomicU8 = AtomicU8::new(0);

/// Choose the implementation that [`conv2d`] gives layers built from now on (process-wide;
/// benchmarks and tests compare the two without threading an option through every config).
pub fn set_default_conv_impl(imp: ConvImpl) {
    DEFAULT_IMPL.store(imp as u8, Ordering::Relaxed);
}

/// The implementation [`conv2d`] currently uses ([`ConvImpl::Fast`] unless changed).
pub fn default_conv_impl() -> ConvImpl {
    match DEFAULT_IMPL.load(Ordering::Relaxed) {
        0 => ConvImpl::Fast,
        _ => ConvImpl::Candle,
    }
}

/// A convolution layer with bias, `(B, in, H, W) -> (B, out, H', W')`.
#[derive(Debug, Clone)]
pub struct Conv {
    spec: ConvSpec,
    imp: ConvImpl,
    weight: Tensor,
    bias: Tensor,
}

impl Conv {
    /// The layer's shape.
    pub fn spec(&self) -> ConvSpec {
        self.spec
    }

    /// The implementation this layer runs on the CPU.
    pub fn implementation(&self) -> ConvImpl {
        self.imp
    }

    /// `(out, in, k, k)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// `(out)`.
    pub fn bias(&self) -> &Tensor {
        &self.bias
    }

    /// A copy of this layer (same weights) that runs `imp`.
    pub fn with_implementation(&self, imp: ConvImpl) -> Self {
        Self {
            imp,
            ..self.clone()
        }
    }

    fn fast_applies(&self, xs: &Tensor) -> bool {
        self.imp == ConvImpl::Fast
            && xs.device().is_cpu()
            && xs.dtype() == DType::F32
            && self.weight.dtype() == DType::F32
            && self.bias.dtype() == DType::F32
    }

    fn candle_forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let y = xs.conv2d(&self.weight, self.spec.padding, self.spec.stride, 1, 1)?;
        y.broadcast_add(&self.bias.reshape((1, self.spec.out_channels, 1, 1))?)
    }

    /// `relu(conv(xs) + bias)`: what every encoder layer computes. On the fast path this is
    /// one kernel and one autograd node.
    pub fn forward_relu(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        if self.fast_applies(xs) {
            self.fast(xs, true)
        } else {
            self.candle_forward(xs)?.relu()
        }
    }

    fn fast(&self, xs: &Tensor, relu: bool) -> candle_core::Result<Tensor> {
        let op = op::ConvOp {
            spec: self.spec,
            relu,
        };
        xs.contiguous()?.apply_op3(&self.weight, &self.bias, op)
    }
}

/// Build (or load, depending on the `VarBuilder`) a convolution from `vb`, running the
/// process-wide default implementation ([`set_default_conv_impl`]).
pub fn conv2d(spec: ConvSpec, vb: VarBuilder) -> Result<Conv> {
    conv2d_with(spec, default_conv_impl(), vb)
}

/// [`conv2d`] with an explicit implementation. Creates (or loads) `weight` and `bias` with
/// candle-nn's names, shapes and initialisation.
pub fn conv2d_with(spec: ConvSpec, imp: ConvImpl, vb: VarBuilder) -> Result<Conv> {
    if spec.kernel == 0 || spec.stride == 0 || spec.in_channels == 0 || spec.out_channels == 0 {
        return Err(PerceptionError::Shape(format!(
            "convolution needs positive channels, kernel and stride, got {spec:?}"
        )));
    }
    let weight = vb.get_with_hints(
        (
            spec.out_channels,
            spec.in_channels,
            spec.kernel,
            spec.kernel,
        ),
        "weight",
        candle_nn::init::DEFAULT_KAIMING_NORMAL,
    )?;
    let bound = 1. / (spec.in_channels as f64).sqrt();
    let bias = vb.get_with_hints(
        spec.out_channels,
        "bias",
        candle_nn::Init::Uniform {
            lo: -bound,
            up: bound,
        },
    )?;
    Ok(Conv {
        spec,
        imp,
        weight,
        bias,
    })
}

impl Module for Conv {
    /// `conv(xs) + bias`, without activation.
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        if self.fast_applies(xs) {
            self.fast(xs, false)
        } else {
            self.candle_forward(xs)
        }
    }
}
