//! Encoders: observation tensor -> feature vector, as `candle_nn::Module`s built from a
//! `VarBuilder` (so weights are a flat name -> tensor map that saves as safetensors).

use crate::conv::{Conv, ConvSpec, conv2d};
use crate::dense::{Dense, dense};
use crate::error::{PerceptionError, Result};
use crate::frames::ObsSpec;
use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

/// Which encoder to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EncoderKind {
    /// The Nature-DQN CNN (Mnih et al. 2015): conv 32 8x8/4, 64 4x4/2, 64 3x3/1, fc 512.
    Nature,
    /// A small CNN for CPU work: conv 16 5x5/2, 32 5x5/2, fc 256.
    Small,
    /// Fully connected layers on the flattened observation (vectors, or tiny frames).
    Mlp,
    /// `nature` for frames at least 36 pixels on a side, `mlp` otherwise.
    #[default]
    Auto,
}

/// A conv stack (with ReLUs) followed by one fully connected ReLU layer.
#[derive(Debug, Clone)]
pub struct ConvEncoder {
    convs: Vec<Conv>,
    fc: Dense,
    out_dim: usize,
}

impl ConvEncoder {
    /// Build `specs` (`(out_channels, kernel, stride)` per layer) on `[C, H, W]` inputs,
    /// then a `fc`-wide fully connected layer.
    fn new(
        [c, h, w]: [usize; 3],
        specs: &[(usize, usize, usize)],
        fc: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let (mut ch, mut hh, mut ww) = (c, h, w);
        let mut convs = Vec::with_capacity(specs.len());
        for (i, &(out, kernel, stride)) in specs.iter().enumerate() {
            let spec = ConvSpec {
                in_channels: ch,
                out_channels: out,
                kernel,
                stride,
                padding: 0,
            };
            let (Some(nh), Some(nw)) = (spec.out_size(hh), spec.out_size(ww)) else {
                return Err(PerceptionError::Shape(format!(
                    "input {c}x{h}x{w} is too small for conv layer {i} \
                     ({kernel}x{kernel}/{stride} on {hh}x{ww})"
                )));
            };
            convs.push(conv2d(spec, vb.pp(format!("conv{i}")))?);
            (ch, hh, ww) = (out, nh, nw);
        }
        let fc = dense(ch * hh * ww, fc, vb.pp("fc"))?;
        let out_dim = fc.out_dim();
        Ok(Self { convs, fc, out_dim })
    }
}

impl Module for ConvEncoder {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = xs.clone();
        for conv in &self.convs {
            x = conv.forward_relu(&x)?;
        }
        self.fc.forward_relu(&x.flatten_from(1)?)
    }
}

/// Fully connected ReLU layers on the flattened input.
#[derive(Debug, Clone)]
pub struct MlpEncoder {
    layers: Vec<Dense>,
    out_dim: usize,
}

impl MlpEncoder {
    fn new(in_dim: usize, hidden: &[usize], vb: VarBuilder) -> Result<Self> {
        let mut layers = Vec::with_capacity(hidden.len());
        let mut dim = in_dim;
        for (i, &h) in hidden.iter().enumerate() {
            layers.push(dense(dim, h, vb.pp(format!("fc{i}")))?);
            dim = h;
        }
        Ok(Self {
            layers,
            out_dim: dim,
        })
    }
}

impl Module for MlpEncoder {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = xs.flatten_from(1)?;
        for layer in &self.layers {
            x = layer.forward_relu(&x)?;
        }
        Ok(x)
    }
}

/// Any encoder: maps `(B, C, H, W)` frames or `(B, dim)` vectors to `(B, out_dim)` features.
#[derive(Debug, Clone)]
pub enum Encoder {
    Conv(ConvEncoder),
    Mlp(MlpEncoder),
}

/// The Nature-DQN conv layers: `(out_channels, kernel, stride)`.
pub const NATURE_CONVS: [(usize, usize, usize); 3] = [(32, 8, 4), (64, 4, 2), (64, 3, 1)];
/// Width of the Nature-DQN fully connected layer.
pub const NATURE_FC: usize = 512;
/// The small CNN's conv layers: `(out_channels, kernel, stride)`.
pub const SMALL_CONVS: [(usize, usize, usize); 2] = [(16, 5, 2), (32, 5, 2)];
/// Width of the small CNN's fully connected layer.
pub const SMALL_FC: usize = 256;

impl Encoder {
    /// Build the encoder `kind` for observations `obs` from `vb`. `mlp_hidden` are the layer
    /// widths of an MLP encoder (ignored by the CNNs).
    pub fn new(
        kind: EncoderKind,
        obs: &ObsSpec,
        mlp_hidden: &[usize],
        vb: VarBuilder,
    ) -> Result<Self> {
        let kind = match (kind, obs) {
            (EncoderKind::Auto, ObsSpec::Frames { height, width, .. })
                if *height >= 36 && *width >= 36 =>
            {
                EncoderKind::Nature
            }
            (EncoderKind::Auto, _) => EncoderKind::Mlp,
            (k, _) => k,
        };
        match (kind, *obs) {
            (EncoderKind::Mlp, spec) => {
                Ok(Encoder::Mlp(MlpEncoder::new(spec.len(), mlp_hidden, vb)?))
            }
            (
                k @ (EncoderKind::Nature | EncoderKind::Small),
                ObsSpec::Frames {
                    channels,
                    height,
                    width,
                    ..
                },
            ) => {
                let (convs, fc): (&[_], _) = if k == EncoderKind::Nature {
                    (&NATURE_CONVS, NATURE_FC)
                } else {
                    (&SMALL_CONVS, SMALL_FC)
                };
                Ok(Encoder::Conv(ConvEncoder::new(
                    [channels, height, width],
                    convs,
                    fc,
                    vb,
                )?))
            }
            (k, ObsSpec::Vector { dim }) => Err(PerceptionError::Shape(format!(
                "a {k:?} CNN needs image observations, not a vector of {dim}; use `mlp`"
            ))),
            (EncoderKind::Auto, _) => unreachable!("auto resolved above"),
        }
    }

    /// Width of the feature vector this encoder produces.
    pub fn out_dim(&self) -> usize {
        match self {
            Encoder::Conv(e) => e.out_dim,
            Encoder::Mlp(e) => e.out_dim,
        }
    }
}

impl Module for Encoder {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Encoder::Conv(e) => e.forward(xs),
            Encoder::Mlp(e) => e.forward(xs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::FrameLayout;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    fn frames(c: usize, h: usize, w: usize) -> ObsSpec {
        ObsSpec::Frames {
            channels: c,
            height: h,
            width: w,
            layout: FrameLayout::Chw,
        }
    }

    fn out_shape(
        kind: EncoderKind,
        obs: ObsSpec,
        hidden: &[usize],
        batch: usize,
    ) -> (Vec<usize>, usize, usize) {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let enc = Encoder::new(kind, &obs, hidden, vb).unwrap();
        let mut shape = vec![batch];
        shape.extend(obs.tensor_shape());
        let x = Tensor::zeros(shape, DType::F32, &Device::Cpu).unwrap();
        let y = enc.forward(&x).unwrap();
        let params = vm.all_vars().iter().map(|v| v.elem_count()).sum();
        (y.dims().to_vec(), enc.out_dim(), params)
    }

    #[test]
    fn nature_cnn_shapes_and_parameter_count() {
        let (dims, out, params) = out_shape(EncoderKind::Nature, frames(4, 84, 84), &[], 2);
        assert_eq!(dims, vec![2, 512]);
        assert_eq!(out, 512);
        // 4->32 8x8, 32->64 4x4, 64->64 3x3, 3136->512 (the classic 1.68M parameters).
        let expect =
            (32 * 4 * 64 + 32) + (64 * 32 * 16 + 64) + (64 * 64 * 9 + 64) + (3136 * 512 + 512);
        assert_eq!(params, expect);
    }

    #[test]
    fn small_cnn_shapes_on_84_and_42() {
        let (dims, _, params) = out_shape(EncoderKind::Small, frames(4, 84, 84), &[], 3);
        assert_eq!(dims, vec![3, 256]);
        // 84 -> 40 -> 18: fc input 32*18*18.
        assert_eq!(
            params,
            (16 * 4 * 25 + 16) + (32 * 16 * 25 + 32) + (32 * 18 * 18 * 256 + 256)
        );
        let (dims, _, params) = out_shape(EncoderKind::Small, frames(4, 42, 42), &[], 1);
        assert_eq!(dims, vec![1, 256]);
        // 42 -> 19 -> 8: fc input 32*8*8.
        assert_eq!(
            params,
            (16 * 4 * 25 + 16) + (32 * 16 * 25 + 32) + (32 * 8 * 8 * 256 + 256)
        );
    }

    #[test]
    fn mlp_on_vectors_and_on_tiny_frames() {
        let (dims, out, params) =
            out_shape(EncoderKind::Mlp, ObsSpec::Vector { dim: 4 }, &[120, 84], 5);
        assert_eq!(dims, vec![5, 84]);
        assert_eq!(out, 84);
        assert_eq!(params, (4 * 120 + 120) + (120 * 84 + 84));
        let (dims, ..) = out_shape(EncoderKind::Auto, frames(1, 10, 5), &[64], 2);
        assert_eq!(dims, vec![2, 64]);
        let (dims, out, params) = out_shape(EncoderKind::Mlp, ObsSpec::Vector { dim: 6 }, &[], 2);
        assert_eq!((dims, out, params), (vec![2, 6], 6, 0));
    }

    #[test]
    fn auto_picks_nature_for_atari_frames() {
        let (dims, ..) = out_shape(EncoderKind::Auto, frames(4, 84, 84), &[], 1);
        assert_eq!(dims, vec![1, 512]);
    }

    #[test]
    fn cnn_on_too_small_or_vector_input_is_an_error() {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let err =
            Encoder::new(EncoderKind::Nature, &frames(4, 20, 20), &[], vb.clone()).unwrap_err();
        assert!(err.to_string().contains("too small"), "{err}");
        let err =
            Encoder::new(EncoderKind::Small, &ObsSpec::Vector { dim: 4 }, &[], vb).unwrap_err();
        assert!(err.to_string().contains("mlp"), "{err}");
    }

    #[test]
    fn relu_features_are_non_negative() {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let enc = Encoder::new(EncoderKind::Small, &frames(2, 42, 42), &[], vb).unwrap();
        let x = Tensor::rand(0f32, 1f32, (2, 2, 42, 42), &Device::Cpu).unwrap();
        let y = enc
            .forward(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(y.iter().all(|v| *v >= 0.0));
        assert!(y.iter().any(|v| *v > 0.0));
    }
}
