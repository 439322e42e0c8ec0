//! Observation and action spaces, as in Gymnasium (`Discrete`, `Box`).

use serde::Serialize;
use std::fmt;

/// Element type of a `Box` space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    U8,
    F32,
}

/// A Gymnasium-style space. Bounds of a `Box` are per element, flattened in row-major order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Space {
    /// Integers `0..n`.
    Discrete { n: usize },
    /// A tensor of `shape` with element-wise bounds `[low, high]`.
    Box {
        shape: Vec<usize>,
        low: Vec<f32>,
        high: Vec<f32>,
        dtype: DType,
    },
}

impl Space {
    /// A `Box` whose every element shares the same bounds.
    pub fn uniform_box(shape: &[usize], low: f32, high: f32, dtype: DType) -> Self {
        let len = shape.iter().product();
        Space::Box {
            shape: shape.to_vec(),
            low: vec![low; len],
            high: vec![high; len],
            dtype,
        }
    }

    /// A `u8` image space (`0..=255`).
    pub fn image(shape: &[usize]) -> Self {
        Self::uniform_box(shape, 0.0, 255.0, DType::U8)
    }

    /// Number of scalar elements in one sample (1 for `Discrete`).
    pub fn flat_len(&self) -> usize {
        match self {
            Space::Discrete { .. } => 1,
            Space::Box { shape, .. } => shape.iter().product(),
        }
    }

    /// Shape of one sample (`[]` for `Discrete`).
    pub fn shape(&self) -> &[usize] {
        match self {
            Space::Discrete { .. } => &[],
            Space::Box { shape, .. } => shape,
        }
    }

    /// Number of discrete actions, if this is `Discrete`.
    pub fn n(&self) -> Option<usize> {
        match self {
            Space::Discrete { n } => Some(*n),
            Space::Box { .. } => None,
        }
    }

    /// Element type of a `Box`; `None` for `Discrete`.
    pub fn dtype(&self) -> Option<DType> {
        match self {
            Space::Discrete { .. } => None,
            Space::Box { dtype, .. } => Some(*dtype),
        }
    }

    /// Whether an observation lies inside this space (shape, dtype and bounds).
    pub fn contains_obs(&self, obs: crate::Obs<'_>) -> bool {
        match (self, obs) {
            (
                Space::Box {
                    low,
                    high,
                    dtype: DType::U8,
                    ..
                },
                crate::Obs::U8(data),
            ) => {
                data.len() == low.len()
                    && data
                        .iter()
                        .zip(low.iter().zip(high))
                        .all(|(&v, (&lo, &hi))| (v as f32) >= lo && (v as f32) <= hi)
            }
            (
                Space::Box {
                    low,
                    high,
                    dtype: DType::F32,
                    ..
                },
                crate::Obs::F32(data),
            ) => {
                data.len() == low.len()
                    && data
                        .iter()
                        .zip(low.iter().zip(high))
                        .all(|(&v, (&lo, &hi))| v >= lo && v <= hi)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Space {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Space::Discrete { n } => write!(f, "Discrete({n})"),
            Space::Box {
                shape,
                low,
                high,
                dtype,
            } => {
                let lo = low.iter().copied().fold(f32::INFINITY, f32::min);
                let hi = high.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let dt = match dtype {
                    DType::U8 => "uint8",
                    DType::F32 => "float32",
                };
                write!(f, "Box({lo}, {hi}, {shape:?}, {dt})")
            }
        }
    }
}
