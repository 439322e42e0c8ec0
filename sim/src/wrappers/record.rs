//! Episode recording and exact replay: seed + options + actions are enough to rebuild an
//! episode bit for bit, because every env is deterministic under its seed.

use crate::config::EnvConfig;
use crate::env::{Action, Env, Frame, Info, Obs, Step};
use crate::error::{Result, SimError};
use crate::preprocess::AtariPreprocessingConfig;
use crate::space::Space;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Write;
use std::path::Path;

/// Version of the JSON layout written by [`EpisodeRecord::save`].
pub const RECORD_FORMAT: u32 = 1;

/// One recorded action: an integer for discrete action spaces, a vector for continuous ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RecordedAction {
    Discrete(i64),
    Continuous(Vec<f32>),
}

impl RecordedAction {
    /// Record a borrowed action (allocates for continuous actions).
    pub fn from_action(a: Action<'_>) -> Self {
        match a {
            Action::Discrete(a) => RecordedAction::Discrete(a),
            Action::Continuous(v) => RecordedAction::Continuous(v.to_vec()),
        }
    }

    /// Borrow as an [`Action`] to replay it.
    pub fn as_action(&self) -> Action<'_> {
        match self {
            RecordedAction::Discrete(a) => Action::Discrete(*a),
            RecordedAction::Continuous(v) => Action::Continuous(v),
        }
    }
}

/// One episode: how it was reset and, per step, the action and what came back. Per-step
/// fields are parallel vectors of equal length (compact JSON).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedEpisode {
    /// The seed given to `reset` (`None`: the env's stream continued from the episode before).
    pub seed: Option<u64>,
    /// FNV-1a hash of the reset observation.
    pub reset_obs_hash: u64,
    pub actions: Vec<RecordedAction>,
    pub rewards: Vec<f32>,
    pub terminated: Vec<bool>,
    pub truncated: Vec<bool>,
    /// FNV-1a hash of each step's observation, so replay checks observations too.
    pub obs_hashes: Vec<u64>,
}

impl RecordedEpisode {
    /// Number of steps recorded.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// True when no step was recorded.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// Everything needed to rebuild and replay a sequence of episodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpisodeRecord {
    /// [`RECORD_FORMAT`] of the writer.
    pub format: u32,
    /// Registered id of the env (`crate::make`).
    pub env_id: String,
    /// The env options it was built with.
    pub options: EnvConfig,
    /// Set when the env was built by [`super::make_atari`] with this preprocessing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atari: Option<AtariPreprocessingConfig>,
    /// Episodes in the order they were played (each reset starts one).
    pub episodes: Vec<RecordedEpisode>,
}

impl EpisodeRecord {
    /// An empty record for `env_id` built with `options`.
    pub fn new(env_id: &str, options: EnvConfig) -> Self {
        Self {
            format: RECORD_FORMAT,
            env_id: env_id.to_string(),
            options,
            atari: None,
            episodes: Vec::new(),
        }
    }

    /// Write as JSON, atomically: a temporary file in the same directory, then a rename, so
    /// a crash never leaves a half-written record under `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let fail = |e: &dyn fmt::Display| {
            SimError::Invalid(format!(
                "cannot write episode record `{}`: {e}",
                path.display()
            ))
        };
        let json = serde_json::to_vec(self).map_err(|e| fail(&e))?;
        let name = path
            .file_name()
            .ok_or_else(|| fail(&"the path has no file name"))?
            .to_string_lossy();
        let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            fail(&e)
        })
    }

    /// Read a record written by [`EpisodeRecord::save`]; errors name the file and what is
    /// wrong with it.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bad =
            |msg: String| SimError::Invalid(format!("episode record `{}`: {msg}", path.display()));
        let text = std::fs::read(path).map_err(|e| bad(format!("cannot read: {e}")))?;
        let rec: EpisodeRecord =
            serde_json::from_slice(&text).map_err(|e| bad(format!("not a valid record: {e}")))?;
        if rec.format != RECORD_FORMAT {
            return Err(bad(format!(
                "format {} is not supported (this build reads format {RECORD_FORMAT})",
                rec.format
            )));
        }
        for (i, ep) in rec.episodes.iter().enumerate() {
            let n = ep.actions.len();
            let lens = [
                ep.rewards.len(),
                ep.terminated.len(),
                ep.truncated.len(),
                ep.obs_hashes.len(),
            ];
            if lens.iter().any(|&l| l != n) {
                return Err(bad(format!(
                    "episode {i} has {n} actions but rewards/terminated/truncated/obs_hashes \
                     of lengths {lens:?}"
                )));
            }
        }
        Ok(rec)
    }
}

/// FNV-1a over the observation's bytes (`f32` as little-endian bits).
pub fn obs_hash(obs: Obs<'_>) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    match obs {
        Obs::U8(d) => {
            for &b in d {
                h = (h ^ b as u64).wrapping_mul(PRIME);
            }
        }
        Obs::F32(d) => {
            for v in d {
                for b in v.to_le_bytes() {
                    h = (h ^ b as u64).wrapping_mul(PRIME);
                }
            }
        }
    }
    h
}

/// Records every reset and step of the env it wraps into an [`EpisodeRecord`].
///
/// Put it directly on the env built by `crate::make(id, options)` (or on the result of
/// [`super::make_atari`], declared with [`RecordEpisode::atari`]) so [`replay`] can rebuild
/// the same env. Unlike the other wrappers this one allocates while stepping (the growing
/// per-step vectors, and a copy of each continuous action): it is a recorder, not a hot path.
pub struct RecordEpisode<E> {
    env: E,
    record: EpisodeRecord,
}

impl<E: Env> RecordEpisode<E> {
    /// Record `env`, which was built as `crate::make(env.id(), &options)`.
    pub fn new(env: E, options: EnvConfig) -> Self {
        let record = EpisodeRecord::new(env.id(), options);
        Self { env, record }
    }

    /// Declare that `env` was built by [`super::make_atari`] with `cfg` (replay does the same).
    pub fn atari(mut self, cfg: AtariPreprocessingConfig) -> Self {
        self.record.atari = Some(cfg);
        self
    }

    /// What has been recorded so far (the last episode may be unfinished).
    pub fn record(&self) -> &EpisodeRecord {
        &self.record
    }

    /// Give up the env and keep the record.
    pub fn into_record(self) -> EpisodeRecord {
        self.record
    }

    /// Save what has been recorded so far (see [`EpisodeRecord::save`]).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        self.record.save(path)
    }

    /// The wrapped env.
    pub fn inner(&self) -> &E {
        &self.env
    }
}

impl<E: Env> Env for RecordEpisode<E> {
    fn id(&self) -> &str {
        self.env.id()
    }
    fn observation_space(&self) -> &Space {
        self.env.observation_space()
    }
    fn action_space(&self) -> &Space {
        self.env.action_space()
    }
    fn reset(&mut self, seed: Option<u64>) -> Result<(Obs<'_>, Info)> {
        let (obs, info) = self.env.reset(seed)?;
        self.record.episodes.push(RecordedEpisode {
            seed,
            reset_obs_hash: obs_hash(obs),
            ..Default::default()
        });
        Ok((obs, info))
    }
    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        let s = self.env.step(action)?;
        if let Some(ep) = self.record.episodes.last_mut() {
            ep.actions.push(RecordedAction::from_action(action));
            ep.rewards.push(s.reward);
            ep.terminated.push(s.terminated);
            ep.truncated.push(s.truncated);
            ep.obs_hashes.push(obs_hash(s.obs));
        }
        Ok(s)
    }
    fn obs(&self) -> Obs<'_> {
        self.env.obs()
    }
    fn render(&mut self) -> Frame<'_> {
        self.env.render()
    }
    fn action_meanings(&self) -> Option<&'static [&'static str]> {
        self.env.action_meanings()
    }
}

/// The first difference between a record and its replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Index of the episode in the record.
    pub episode: usize,
    /// Step within the episode, counted from 1; 0 is the reset.
    pub step: usize,
    /// What differed: `reward`, `terminated`, `truncated`, `observation`, or `step` (the
    /// replayed env refused the action, e.g. because its episode had already ended).
    pub field: &'static str,
    pub expected: String,
    pub got: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.step == 0 {
            "reset".to_string()
        } else {
            format!("step {}", self.step)
        };
        write!(
            f,
            "episode {}, {at}: {} expected {} got {}",
            self.episode, self.field, self.expected, self.got
        )
    }
}

/// The outcome of [`replay`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayReport {
    /// Episodes replayed (up to and including the one with the mismatch).
    pub episodes: usize,
    /// Steps replayed in total.
    pub steps: u64,
    /// The first difference, if any.
    pub mismatch: Option<Mismatch>,
}

impl ReplayReport {
    /// True when the replay reproduced the record exactly.
    pub fn matches(&self) -> bool {
        self.mismatch.is_none()
    }
}

/// Rebuild the recorded env (`crate::make`, or [`super::make_atari`] for Atari records),
/// replay every episode's seed and actions, and report the first step whose reward, flags or
/// observation differ. Errors only when the env cannot be built or the record cannot be
/// replayed at all (its first episode was not seeded).
pub fn replay(record: &EpisodeRecord) -> Result<ReplayReport> {
    if let Some(ep) = record.episodes.first()
        && ep.seed.is_none()
    {
        return Err(SimError::Invalid(format!(
            "episode record of `{}`: the first episode was reset without a seed, so it \
             cannot be replayed; record with reset(Some(seed))",
            record.env_id
        )));
    }
    let mut env = match &record.atari {
        Some(cfg) => super::make_atari(&record.env_id, &record.options, cfg)?,
        None => crate::make(&record.env_id, &record.options)?,
    };
    let mut report = ReplayReport {
        episodes: 0,
        steps: 0,
        mismatch: None,
    };
    for (e, ep) in record.episodes.iter().enumerate() {
        report.episodes = e + 1;
        let mismatch = |step, field, expected: String, got: String| Mismatch {
            episode: e,
            step,
            field,
            expected,
            got,
        };
        let (obs, _) = env.reset(ep.seed)?;
        let h = obs_hash(obs);
        if h != ep.reset_obs_hash {
            let m = mismatch(0, "observation", hex(ep.reset_obs_hash), hex(h));
            report.mismatch = Some(m);
            return Ok(report);
        }
        for j in 0..ep.len() {
            let step = j + 1;
            let s = match env.step(ep.actions[j].as_action()) {
                Ok(s) => s,
                Err(err) => {
                    report.mismatch = Some(mismatch(step, "step", "ok".into(), err.to_string()));
                    return Ok(report);
                }
            };
            report.steps += 1;
            let got_hash = obs_hash(s.obs);
            let m = if s.reward.to_bits() != ep.rewards[j].to_bits() {
                Some(("reward", ep.rewards[j].to_string(), s.reward.to_string()))
            } else if s.terminated != ep.terminated[j] {
                Some((
                    "terminated",
                    ep.terminated[j].to_string(),
                    s.terminated.to_string(),
                ))
            } else if s.truncated != ep.truncated[j] {
                Some((
                    "truncated",
                    ep.truncated[j].to_string(),
                    s.truncated.to_string(),
                ))
            } else if got_hash != ep.obs_hashes[j] {
                Some(("observation", hex(ep.obs_hashes[j]), hex(got_hash)))
            } else {
                None
            };
            if let Some((field, want, got)) = m {
                report.mismatch = Some(mismatch(step, field, want, got));
                return Ok(report);
            }
        }
    }
    Ok(report)
}

fn hex(h: u64) -> String {
    format!("hash {h:016x}")
}
