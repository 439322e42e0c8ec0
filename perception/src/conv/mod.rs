//! The one place encoders get a convolution from.
//!
//! Every convolution of every encoder is a [`Conv`] made by [`conv2d`]. Today it wraps
//! `candle_nn::Conv2d`; a faster implementation (im2col + gemm with a hand-written backward)
//! replaces the inside of this module without changing encoders, agents or checkpoints: the
//! weights stay `weight (out, in, k, k)` and `bias (out)` under the layer's prefix.

use crate::error::Result;
use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;

/// Shape and stride of a square, unpadded 2-D convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvSpec {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
}

impl ConvSpec {
    /// Output side length for an input side of `n` (no padding), or `None` when the input
    /// is smaller than the kernel.
    pub fn out_size(&self, n: usize) -> Option<usize> {
        (n >= self.kernel).then(|| (n - self.kernel) / self.stride + 1)
    }
}

/// A convolution layer with bias, `(B, in, H, W) -> (B, out, H', W')`.
#[derive(Debug, Clone)]
pub struct Conv {
    spec: ConvSpec,
    inner: candle_nn::Conv2d,
}

impl Conv {
    /// The layer's shape.
    pub fn spec(&self) -> ConvSpec {
        self.spec
    }
}

/// Build (or load, depending on the `VarBuilder`) a convolution from `vb`.
pub fn conv2d(spec: ConvSpec, vb: VarBuilder) -> Result<Conv> {
    let cfg = candle_nn::Conv2dConfig {
        stride: spec.stride,
        ..Default::default()
    };
    let inner = candle_nn::conv2d(spec.in_channels, spec.out_channels, spec.kernel, cfg, vb)?;
    Ok(Conv { spec, inner })
}

impl Module for Conv {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.inner.forward(xs)
    }
}
