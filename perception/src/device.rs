//! Device selection: `cpu` by default, `cuda[:N]` only in builds with the `cuda` feature.

use crate::error::{PerceptionError, Result};
use candle_core::Device;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where networks run. Environments always run on the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceChoice {
    /// The CPU (the default, and the only choice in builds without `cuda`).
    #[default]
    Cpu,
    /// CUDA device with the given ordinal.
    Cuda(usize),
}

impl DeviceChoice {
    /// Open the device. Asking for CUDA in a build without the `cuda` feature is an error
    /// that says how to fix it, never a silent fallback to the CPU.
    pub fn device(self) -> Result<Device> {
        match self {
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Cuda(ordinal) => open_cuda(ordinal),
        }
    }
}

#[cfg(feature = "cuda")]
fn open_cuda(ordinal: usize) -> Result<Device> {
    Ok(Device::new_cuda(ordinal)?)
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(ordinal: usize) -> Result<Device> {
    Err(PerceptionError::CudaNotCompiled {
        requested: DeviceChoice::Cuda(ordinal).to_string(),
    })
}

impl FromStr for DeviceChoice {
    type Err = PerceptionError;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| PerceptionError::UnknownDevice(other.to_string())),
        }
    }
}

impl TryFrom<String> for DeviceChoice {
    type Error = PerceptionError;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<DeviceChoice> for String {
    fn from(d: DeviceChoice) -> String {
        d.to_string()
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Cpu => write!(f, "cpu"),
            DeviceChoice::Cuda(0) => write!(f, "cuda"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_round_trip() {
        for s in ["cpu", "cuda", "cuda:1"] {
            assert_eq!(s.parse::<DeviceChoice>().unwrap().to_string(), s);
        }
        assert!(matches!(
            "gpu".parse::<DeviceChoice>(),
            Err(PerceptionError::UnknownDevice(_))
        ));
        assert!("cuda:x".parse::<DeviceChoice>().is_err());
    }

    #[test]
    fn cpu_always_opens() {
        assert!(DeviceChoice::Cpu.device().unwrap().is_cpu());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_feature_is_a_clear_error() {
        let err = DeviceChoice::Cuda(0).device().unwrap_err();
        assert!(matches!(err, PerceptionError::CudaNotCompiled { .. }));
        let msg = err.to_string();
        assert!(msg.contains("--features cuda"), "{msg}");
        assert!(msg.contains("--device cpu"), "{msg}");
    }
}
