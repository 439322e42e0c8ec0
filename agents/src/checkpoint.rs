//! Checkpoints: one safetensors file holding the network's weights, with the run's metadata
//! (config, step, env id, git hash, a weights checksum) as JSON inside the safetensors
//! header, so weights and metadata can never be separated or mismatched. A pretty copy of
//! the metadata is written beside it (`X.json`) for people.
//!
//! Writes are atomic (temporary file in the same directory, fsync, rename): a crash or a NaN
//! stop never leaves a half-written checkpoint under the real name. Loading refuses files
//! that are truncated, corrupt (checksum), from another format version, or whose tensors do
//! not match the network (missing, extra, wrong shape), with a message saying which.

use crate::dqn::DqnConfig;
use crate::error::{AgentError, Result};
use candle_core::safetensors::Load;
use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use perception::ObsSpec;
use safetensors::{SafeTensors, View};
use serde::{Deserialize, Serialize};
use sim::{DType as SpaceDType, Space};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Version of the checkpoint layout; bumped when it changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;
/// Key of our JSON in the safetensors `__metadata__` map.
const META_KEY: &str = "pixelgym";

/// Everything needed to rebuild and identify a trained network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Layout version ([`FORMAT_VERSION`]).
    pub format: u32,
    /// Algorithm (`dqn` or `a3c`).
    pub agent: String,
    /// Registered env id the network was trained on.
    pub env_id: String,
    /// Env options of the run (a TOML table, as JSON).
    pub env_options: serde_json::Value,
    /// Atari preprocessing of the training env, if any (evaluation rebuilds the env with it).
    #[serde(default)]
    pub env_atari: Option<sim::preprocess::AtariPreprocessingConfig>,
    /// Shape of one observation as the env reports it.
    pub obs_shape: Vec<usize>,
    /// `u8` or `f32`.
    pub obs_dtype: String,
    /// Number of discrete actions (for a continuous A3C policy: action dimensions).
    pub n_actions: usize,
    /// DQN network and learning hyperparameters (the defaults in an A3C checkpoint).
    #[serde(default)]
    pub dqn: DqnConfig,
    /// A3C network and learning hyperparameters, in `agent = "a3c"` checkpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a3c: Option<crate::a3c::A3cConfig>,
    /// Bounds of a continuous (`Box`) action space the policy acts in, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_bounds: Option<crate::a3c::ActionBounds>,
    /// Env steps (over all parallel envs) when saved.
    pub step: u64,
    /// Gradient updates when saved.
    pub updates: u64,
    /// Mean evaluation return that made this the best checkpoint, when it is one.
    pub eval_return: Option<f64>,
    /// `git rev-parse HEAD` of the source tree that trained it, when known.
    pub git_hash: Option<String>,
    /// Seconds since the Unix epoch when saved.
    pub created_unix_secs: u64,
    /// FNV-1a 64 of the weight bytes in name order, hex (filled in by [`save`]).
    #[serde(default)]
    pub weights_fnv1a64: String,
    /// The whole training config of the run, for resuming.
    pub train_config: Option<serde_json::Value>,
}

impl CheckpointMeta {
    /// The training env's options as a table for `sim::make`: what evaluation, the scenario
    /// runner and the probes rebuild the env from. `path` (the checkpoint) names the error.
    pub fn env_config(&self, path: &Path) -> Result<sim::EnvConfig> {
        serde_json::from_value(self.env_options.clone())
            .map_err(|e| AgentError::checkpoint(path, format!("env options: {e}")))
    }

    /// The observation layout recorded in the checkpoint.
    pub fn obs_spec(&self) -> Result<ObsSpec> {
        let space = match self.obs_dtype.as_str() {
            "u8" => Space::image(&self.obs_shape),
            "f32" => Space::uniform_box(
                &self.obs_shape,
                f32::NEG_INFINITY,
                f32::INFINITY,
                SpaceDType::F32,
            ),
            other => return Err(AgentError::Config(format!("unknown obs dtype `{other}`"))),
        };
        Ok(ObsSpec::from_space(&space)?)
    }
}

/// The dtype name of an observation space as stored in [`CheckpointMeta::obs_dtype`].
pub fn dtype_name(space: &Space) -> &'static str {
    match space.dtype() {
        Some(SpaceDType::U8) => "u8",
        _ => "f32",
    }
}

fn fnv1a64<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for chunk in chunks {
        for &b in chunk {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// Write `bytes` to `path` atomically: a temporary file beside it, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// [`write_atomic`] for content streamed by `write` (too large to build in memory first).
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| AgentError::checkpoint(path, "not a file path"))?;
    let tmp: PathBuf = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let run = || -> std::io::Result<()> {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
        write(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    run().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        AgentError::io(path, e)
    })
}

/// Prefix of tensors that are training state (target net, optimizer moments), not part of
/// the network: policies loading a checkpoint skip them, resuming restores them.
pub const STATE_PREFIX: &str = "train_state/";

/// Save every variable of `vars` and `meta` to `path` (and `path` with extension `json`).
pub fn save(path: &Path, vars: &VarMap, meta: &CheckpointMeta) -> Result<()> {
    save_with_state(path, vars, Vec::new(), meta)
}

/// Like [`save`], plus training-state tensors stored under [`STATE_PREFIX`] + their name.
pub fn save_with_state(
    path: &Path,
    vars: &VarMap,
    state: Vec<(String, Tensor)>,
    meta: &CheckpointMeta,
) -> Result<()> {
    let mut tensors: Vec<(String, Tensor)> = {
        let data = vars.data().lock().expect("var map lock");
        data.iter()
            .map(|(k, v)| Ok((k.clone(), v.as_tensor().to_device(&Device::Cpu)?)))
            .collect::<Result<_>>()?
    };
    for (name, t) in state {
        tensors.push((format!("{STATE_PREFIX}{name}"), t.to_device(&Device::Cpu)?));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let bytes: Vec<_> = tensors.iter().map(|(_, t)| t.data()).collect();
    let mut meta = meta.clone();
    meta.format = FORMAT_VERSION;
    meta.weights_fnv1a64 = format!("{:016x}", fnv1a64(bytes.iter().map(|b| &b[..])));
    let json =
        serde_json::to_string(&meta).map_err(|e| AgentError::checkpoint(path, e.to_string()))?;
    let header = HashMap::from([(META_KEY.to_string(), json)]);
    let file = safetensors::serialize(tensors.iter().map(|(k, t)| (k.as_str(), t)), Some(header))
        .map_err(|e| AgentError::checkpoint(path, format!("cannot serialize: {e}")))?;
    write_atomic(path, &file)?;
    let pretty = serde_json::to_vec_pretty(&meta)
        .map_err(|e| AgentError::checkpoint(path, e.to_string()))?;
    write_atomic(&path.with_extension("json"), &pretty)
}

fn parse_meta(path: &Path, st_meta: Option<&HashMap<String, String>>) -> Result<CheckpointMeta> {
    let json = st_meta.and_then(|m| m.get(META_KEY)).ok_or_else(|| {
        AgentError::checkpoint(path, "has no pixelgym metadata (not written by pixelgym?)")
    })?;
    #[derive(Deserialize)]
    struct Version {
        format: u32,
    }
    let v: Version = serde_json::from_str(json)
        .map_err(|e| AgentError::checkpoint(path, format!("unreadable metadata: {e}")))?;
    if v.format != FORMAT_VERSION {
        return Err(AgentError::checkpoint(
            path,
            format!(
                "format version {}, this build reads version {FORMAT_VERSION}",
                v.format
            ),
        ));
    }
    serde_json::from_str(json)
        .map_err(|e| AgentError::checkpoint(path, format!("unreadable metadata: {e}")))
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| AgentError::io(path, e))
}

/// Read only the metadata of the checkpoint at `path`.
pub fn read_meta(path: &Path) -> Result<CheckpointMeta> {
    let bytes = read_file(path)?;
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| {
        AgentError::checkpoint(path, format!("not a safetensors file, or truncated: {e}"))
    })?;
    parse_meta(path, header.metadata().as_ref())
}

/// Parse a checkpoint's bytes, read its metadata and check the weights checksum: the
/// integrity checks every loader shares. Returns the metadata and the tensors sorted by name.
fn open_verified<'a>(
    path: &Path,
    bytes: &'a [u8],
) -> Result<(
    CheckpointMeta,
    Vec<String>,
    Vec<safetensors::tensor::TensorView<'a>>,
)> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| {
        AgentError::checkpoint(path, format!("not a safetensors file, or truncated: {e}"))
    })?;
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| AgentError::checkpoint(path, format!("bad header: {e}")))?;
    let meta = parse_meta(path, header.metadata().as_ref())?;

    let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
    names.sort();
    let views = names
        .iter()
        .map(|n| st.tensor(n))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AgentError::checkpoint(path, e.to_string()))?;
    let hash = format!("{:016x}", fnv1a64(views.iter().map(|v| v.data())));
    if hash != meta.weights_fnv1a64 {
        return Err(AgentError::checkpoint(
            path,
            format!(
                "weights checksum {hash} does not match the recorded {}: the file is corrupt",
                meta.weights_fnv1a64
            ),
        ));
    }
    Ok((meta, names, views))
}

/// Load the checkpoint at `path` into the existing variables `vars` (which fix the expected
/// names and shapes) and return its metadata. Nothing is changed when any check fails.
pub fn load_into(path: &Path, vars: &VarMap, device: &Device) -> Result<CheckpointMeta> {
    let bytes = read_file(path)?;
    let (meta, names, views) = open_verified(path, &bytes)?;

    let data = vars.data().lock().expect("var map lock");
    let mut loaded = Vec::with_capacity(data.len());
    let mut wanted: Vec<(&String, &candle_core::Var)> = data.iter().collect();
    wanted.sort_by(|a, b| a.0.cmp(b.0));
    for (name, var) in wanted {
        let Some(i) = names.iter().position(|n| n == name) else {
            return Err(AgentError::checkpoint(
                path,
                format!("has no tensor `{name}` that the network needs (different architecture?)"),
            ));
        };
        let view = &views[i];
        if view.shape() != var.shape().dims() {
            return Err(AgentError::checkpoint(
                path,
                format!(
                    "tensor `{name}` has shape {:?}, the network needs {:?}",
                    view.shape(),
                    var.shape().dims()
                ),
            ));
        }
        let t = view
            .load(device)?
            .to_dtype(var.dtype())
            .map_err(|e| AgentError::checkpoint(path, format!("tensor `{name}`: {e}")))?;
        loaded.push((var.clone(), t));
    }
    let extra: Vec<&str> = names
        .iter()
        .filter(|n| !data.contains_key(*n) && !n.starts_with(STATE_PREFIX))
        .map(String::as_str)
        .collect();
    if !extra.is_empty() {
        return Err(AgentError::checkpoint(
            path,
            format!(
                "has tensors the network does not: {} (different architecture?)",
                extra.join(", ")
            ),
        ));
    }
    for (var, t) in loaded {
        var.set(&t)?;
    }
    Ok(meta)
}

/// The training-state tensors of the checkpoint at `path` (names without
/// [`STATE_PREFIX`]), after the same integrity checks as [`load_into`].
pub fn load_state(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    let bytes = read_file(path)?;
    let (_, names, views) = open_verified(path, &bytes)?;
    let mut out = HashMap::new();
    for (name, view) in names.iter().zip(&views) {
        if let Some(short) = name.strip_prefix(STATE_PREFIX) {
            out.insert(short.to_string(), view.load(device)?);
        }
    }
    Ok(out)
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now_unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `git rev-parse HEAD` in the current directory, when git and a repository are there.
pub fn git_hash() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}
