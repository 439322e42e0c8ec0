//! Observations to tensors: `u8` frames become `f32 / 255` in `(batch, C, H, W)` layout on the
//! chosen device in one pass over the bytes; `f32` vectors become `(batch, dim)`.

use crate::error::{PerceptionError, Result};
use candle_core::{DType, Device, Tensor};
use sim::{DType as SpaceDType, Obs, Space};

/// Memory order of one `u8` observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameLayout {
    /// Channel planes one after another (stacked frames: `stack x H x W`).
    Chw,
    /// Interleaved pixels as environments render them (`H x W x C`).
    Hwc,
}

/// What one observation is, as far as a network cares: an image with a layout, or a vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObsSpec {
    /// A `u8` image; tensors made from it are `(batch, channels, height, width)`.
    Frames {
        channels: usize,
        height: usize,
        width: usize,
        layout: FrameLayout,
    },
    /// An `f32` vector of `dim` elements; tensors are `(batch, dim)`.
    Vector { dim: usize },
}

impl ObsSpec {
    /// Read the spec off an observation space.
    ///
    /// `u8` boxes: `[H, W]` is one plane; `[A, B, C]` is `H x W x C` when `C` is 1 or 3 and
    /// `A` is larger than 4 (a rendered picture), otherwise stacked planes `C x H x W` (what
    /// the frame-stack wrapper produces). `f32` boxes of any shape are flattened vectors.
    pub fn from_space(space: &Space) -> Result<Self> {
        let shape = space.shape();
        match space.dtype() {
            Some(SpaceDType::F32) => Ok(ObsSpec::Vector {
                dim: shape.iter().product(),
            }),
            Some(SpaceDType::U8) => match *shape {
                [h, w] => Ok(ObsSpec::Frames {
                    channels: 1,
                    height: h,
                    width: w,
                    layout: FrameLayout::Chw,
                }),
                [a, b, c] if (c == 1 || c == 3) && a > 4 => Ok(ObsSpec::Frames {
                    channels: c,
                    height: a,
                    width: b,
                    layout: FrameLayout::Hwc,
                }),
                [c, h, w] => Ok(ObsSpec::Frames {
                    channels: c,
                    height: h,
                    width: w,
                    layout: FrameLayout::Chw,
                }),
                _ => Err(PerceptionError::Shape(format!(
                    "cannot read a u8 observation of shape {shape:?} as an image \
                     (expected [H, W], [H, W, C] or [C, H, W])"
                ))),
            },
            None => Err(PerceptionError::Shape(format!(
                "observation space {space} is not a Box"
            ))),
        }
    }

    /// Elements in one observation.
    pub fn len(&self) -> usize {
        match *self {
            ObsSpec::Frames {
                channels,
                height,
                width,
                ..
            } => channels * height * width,
            ObsSpec::Vector { dim } => dim,
        }
    }

    /// True for a zero-sized observation (never for a real env).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shape of one observation as the network sees it: `[C, H, W]` or `[dim]`.
    pub fn tensor_shape(&self) -> Vec<usize> {
        match *self {
            ObsSpec::Frames {
                channels,
                height,
                width,
                ..
            } => vec![channels, height, width],
            ObsSpec::Vector { dim } => vec![dim],
        }
    }

    /// Turn `batch` observations laid end to end into a normalised `f32` tensor on `device`:
    /// frames `(batch, C, H, W)` scaled to `[0, 1]`, vectors `(batch, dim)` unchanged.
    ///
    /// On the CPU the bytes are read once and written once, straight into the tensor's own
    /// storage (the one allocation is the tensor itself). On a GPU the `u8` bytes are uploaded
    /// (4x less traffic than `f32`) and converted there.
    pub fn to_tensor(&self, obs: Obs<'_>, batch: usize, device: &Device) -> Result<Tensor> {
        let expected = batch * self.len();
        if obs.len() != expected {
            return Err(PerceptionError::Shape(format!(
                "batch of {batch} observations of {} elements needs {expected} values, got {}",
                self.len(),
                obs.len()
            )));
        }
        match (*self, obs) {
            (
                ObsSpec::Frames {
                    channels,
                    height,
                    width,
                    layout,
                },
                Obs::U8(data),
            ) => frames_to_tensor(data, batch, [channels, height, width], layout, device),
            (ObsSpec::Vector { dim }, Obs::F32(data)) => {
                Ok(Tensor::from_slice(data, (batch, dim), device)?)
            }
            (spec, obs) => Err(PerceptionError::Shape(format!(
                "observation kind does not match {spec:?}: got {}",
                match obs {
                    Obs::U8(_) => "u8 frames",
                    Obs::F32(_) => "f32 vectors",
                }
            ))),
        }
    }
}

/// `u8` frames (`batch` images of `[C, H, W]` elements in `layout`) to an `f32` tensor
/// `(batch, C, H, W)` with values `byte / 255`.
pub fn frames_to_tensor(
    data: &[u8],
    batch: usize,
    [c, h, w]: [usize; 3],
    layout: FrameLayout,
    device: &Device,
) -> Result<Tensor> {
    let per = c * h * w;
    if data.len() != batch * per {
        return Err(PerceptionError::Shape(format!(
            "{} bytes is not {batch} frames of {c}x{h}x{w}",
            data.len()
        )));
    }
    if !device.is_cpu() {
        let t = Tensor::from_slice(data, batch * per, device)?;
        let t = t.to_dtype(DType::F32)?.affine(1.0 / 255.0, 0.0)?;
        return Ok(match layout {
            FrameLayout::Chw => t.reshape((batch, c, h, w))?,
            FrameLayout::Hwc => t
                .reshape((batch, h, w, c))?
                .permute((0, 3, 1, 2))?
                .contiguous()?,
        });
    }
    const SCALE: f32 = 1.0 / 255.0;
    let mut out = Vec::with_capacity(data.len());
    match layout {
        FrameLayout::Chw => out.extend(data.iter().map(|&b| b as f32 * SCALE)),
        FrameLayout::Hwc => {
            for img in data.chunks_exact(per) {
                for ch in 0..c {
                    out.extend(img[ch..].iter().step_by(c).map(|&b| b as f32 * SCALE));
                }
            }
        }
    }
    Ok(Tensor::from_vec(out, (batch, c, h, w), device)?)
}

/// `(B, C, H, W)` frames each shifted and scaled to zero mean and unit variance over their
/// `C x H x W` values (a flat frame becomes zeros). Arcade frames are a flat background with
/// the ball and paddles as small deviations; standardised, those deviations dominate the
/// first layer's input instead of the background's constant.
pub fn standardize_frames(xs: &Tensor) -> candle_core::Result<Tensor> {
    let dims = xs.dims().to_vec();
    let flat = xs.flatten_from(1)?;
    let centred = flat.broadcast_sub(&flat.mean_keepdim(1)?)?;
    let std = (centred.sqr()?.mean_keepdim(1)? + 1e-6)?.sqrt()?;
    centred.broadcast_div(&std)?.reshape(dims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chw_frames_scale_to_unit_range_in_place() {
        let data: Vec<u8> = (0..2 * 2 * 3 * 3).map(|i| (i * 7) as u8).collect();
        let t = frames_to_tensor(&data, 2, [2, 3, 3], FrameLayout::Chw, &Device::Cpu).unwrap();
        assert_eq!(t.dims(), &[2, 2, 3, 3]);
        let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (x, b) in v.iter().zip(&data) {
            assert!((x - *b as f32 / 255.0).abs() < 1e-7);
        }
        let full = frames_to_tensor(&[255, 0], 1, [1, 1, 2], FrameLayout::Chw, &Device::Cpu)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(full, vec![1.0, 0.0]);
    }

    #[test]
    fn hwc_frames_are_transposed_to_chw() {
        // One 2x2 RGB image: pixel p has channels (10p, 10p+1, 10p+2).
        let data: Vec<u8> = (0..4u8)
            .flat_map(|p| [10 * p, 10 * p + 1, 10 * p + 2])
            .collect();
        let t = frames_to_tensor(&data, 1, [3, 2, 2], FrameLayout::Hwc, &Device::Cpu).unwrap();
        let v: Vec<u8> = t
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .map(|x| (x * 255.0).round() as u8)
            .collect();
        assert_eq!(v, vec![0, 10, 20, 30, 1, 11, 21, 31, 2, 12, 22, 32]);
    }

    #[test]
    fn spec_reads_common_spaces() {
        let stacked = ObsSpec::from_space(&Space::image(&[4, 84, 84])).unwrap();
        assert_eq!(stacked.tensor_shape(), vec![4, 84, 84]);
        assert!(matches!(
            stacked,
            ObsSpec::Frames {
                layout: FrameLayout::Chw,
                ..
            }
        ));
        let rgb = ObsSpec::from_space(&Space::image(&[210, 160, 3])).unwrap();
        assert_eq!(rgb.tensor_shape(), vec![3, 210, 160]);
        assert!(matches!(
            rgb,
            ObsSpec::Frames {
                layout: FrameLayout::Hwc,
                ..
            }
        ));
        let vec = ObsSpec::from_space(&Space::uniform_box(&[4], -1.0, 1.0, SpaceDType::F32));
        assert_eq!(vec.unwrap(), ObsSpec::Vector { dim: 4 });
        assert!(ObsSpec::from_space(&Space::Discrete { n: 3 }).is_err());
    }

    #[test]
    fn wrong_batch_length_or_kind_is_an_error() {
        let spec = ObsSpec::Vector { dim: 3 };
        assert!(
            spec.to_tensor(Obs::F32(&[0.0; 5]), 2, &Device::Cpu)
                .is_err()
        );
        assert!(spec.to_tensor(Obs::U8(&[0; 6]), 2, &Device::Cpu).is_err());
        let t = spec
            .to_tensor(Obs::F32(&[0.5; 6]), 2, &Device::Cpu)
            .unwrap();
        assert_eq!(t.dims(), &[2, 3]);
    }

    #[test]
    fn standardized_frames_have_zero_mean_and_unit_variance_per_sample() {
        let xs = Tensor::from_vec(
            vec![0.2f32, 0.2, 0.2, 0.6, 0.5, 0.5, 0.5, 0.5],
            (2, 1, 2, 2),
            &Device::Cpu,
        )
        .unwrap();
        let out = standardize_frames(&xs).unwrap();
        assert_eq!(out.dims(), &[2, 1, 2, 2]);
        let v = out.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        // Sample 0: mean 0.3, std sqrt(0.03): the three 0.2s at -1/sqrt(3), the 0.6 at sqrt(3).
        let (lo, hi) = (-(1.0f32 / 3.0).sqrt(), 3.0f32.sqrt());
        for (got, want) in v[..4].iter().zip([lo, lo, lo, hi]) {
            assert!((got - want).abs() < 1e-3, "{got} vs {want}");
        }
        // A flat frame (sample 1) becomes zeros, not NaN.
        assert!(v[4..].iter().all(|x| x.abs() < 1e-6), "{v:?}");
    }
}
