//! The training loop behind `pixelgym train`: a TOML config in, a run directory out. This
//! module runs DQN; `algo = "a3c"` configs go to [`crate::a3c`]'s workers, which write the
//! same run directory (their `metrics.csv` has loss parts instead of epsilon and Q, their
//! `episodes.csv` a `worker` column instead of `env`).
//!
//! A run directory holds `config.toml` (the resolved config), `metrics.csv` (one row per
//! `log_every` env steps), `episodes.csv` (every finished training episode), `eval.csv`
//! (every evaluation), TensorBoard event files (`events.out.tfevents.*`, the same curves),
//! and the checkpoints `last.safetensors` and `best.safetensors` (best
//! mean evaluation return), each with its `.json` metadata copy.
//!
//! Collection uses `sim::vec_env::VecEnv` with next-step autoreset; the autoreset step's
//! observation starts a new episode in the replay buffer instead of being a transition.
//! Progress goes to a [`Progress`] implementation, so this crate has no opinion on terminal
//! UI (the CLI draws an indicatif bar; tests pass `()`).
//!
//! A non-finite loss stops the run with [`AgentError::NonFiniteLoss`] naming the step; no
//! checkpoint is written after it, so `last.safetensors` keeps the last good weights.

use crate::checkpoint::{self, CheckpointMeta};
use crate::dqn::{Dqn, DqnConfig, epsilon, learning_rate, priority_beta};
use crate::error::{AgentError, Result};
use crate::eval::{EVAL_CSV_HEADER, EvalReport, evaluate, log_eval};
use crate::replay::{Batch, ObsElem, ReplayBuffer, ReplayConfig, ReplayError};
use crate::tensorboard::EventWriter;
use perception::{DeviceChoice, FrameLayout, ObsSpec};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use sim::preprocess::AtariPreprocessingConfig;
use sim::vec_env::{BatchActions, VecEnv};
use sim::{DType as SpaceDType, Env};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The environment to train on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvSection {
    /// Registered env id, e.g. `Catch-v0`.
    pub id: String,
    /// The env's options (see `pixelgym envs`); empty for its defaults.
    #[serde(default)]
    pub options: toml::Table,
    /// Atari preprocessing (Gymnasium's `AtariPreprocessing` + frame stack) when present;
    /// an empty `[env.atari]` table gives Gymnasium's defaults. Evaluation uses the same
    /// frames but real episodes and unclipped rewards (`terminal_on_life_loss` and
    /// `clip_reward` off), so its returns are game scores.
    #[serde(default)]
    pub atari: Option<AtariPreprocessingConfig>,
}

/// Build one env of `id` with `options`, Atari-preprocessed when `atari` is given. With
/// `for_eval`, life loss does not end episodes and rewards are not clipped.
pub fn build_env(
    id: &str,
    options: &toml::Table,
    atari: Option<&AtariPreprocessingConfig>,
    for_eval: bool,
) -> sim::Result<Box<dyn Env>> {
    match atari {
        None => sim::make(id, options),
        Some(cfg) => {
            let mut cfg = cfg.clone();
            if for_eval {
                cfg.terminal_on_life_loss = false;
                cfg.clip_reward = false;
            }
            sim::wrappers::make_atari(id, options, &cfg)
        }
    }
}

/// How often to evaluate, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalSection {
    /// Env steps between evaluations (0: only at the end).
    pub every_steps: u64,
    /// Episodes per evaluation.
    pub episodes: usize,
}

impl Default for EvalSection {
    fn default() -> Self {
        Self {
            every_steps: 0,
            episodes: 10,
        }
    }
}

/// The learning algorithm of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algo {
    /// Deep Q-learning ([`crate::dqn`], hyperparameters in `[dqn]`).
    #[default]
    Dqn,
    /// A3C, or A2C with `a3c.mode = "sync"` ([`crate::a3c`], hyperparameters in `[a3c]`).
    A3c,
}

impl Algo {
    fn name(self) -> &'static str {
        match self {
            Algo::Dqn => "dqn",
            Algo::A3c => "a3c",
        }
    }
}

/// A whole training run. Every field is documented; unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// `dqn` (default) or `a3c`.
    #[serde(default)]
    pub algo: Algo,
    /// The environment.
    pub env: EnvSection,
    /// Env steps to collect, summed over all parallel envs.
    pub total_steps: u64,
    /// Envs stepped in parallel for collection (DQN; A3C runs `a3c.workers` envs).
    #[serde(default = "default_one")]
    pub num_envs: usize,
    /// Threads stepping the envs (0: one per core, clamped to `num_envs`). A3C: the
    /// threads of the sync mode's VecEnv (async workers each step their own env).
    #[serde(default = "default_one")]
    pub env_threads: usize,
    /// Seed of the envs (env `i` gets `seed + i`), the network init and exploration.
    #[serde(default)]
    pub seed: u64,
    /// Where the networks run: `cpu`, `cuda` or `cuda:N` (cuda needs the `cuda` feature).
    #[serde(default)]
    pub device: DeviceChoice,
    /// Planes shared between consecutive observations in replay (the frame-stack depth).
    /// Default: the channel count of a `[C, H, W]` u8 observation, else 1.
    #[serde(default)]
    pub replay_frame_stack: Option<usize>,
    /// Env steps between `metrics.csv` rows and progress reports.
    #[serde(default = "default_log_every")]
    pub log_every: u64,
    /// Env steps between `last.safetensors` saves (0: only at the end).
    #[serde(default)]
    pub checkpoint_every: u64,
    /// Env steps between weights-only snapshots kept as `snapshots/step_<N>.safetensors`
    /// (0: none). `best` is chosen on a few noisy evaluation episodes and `last` is
    /// overwritten, so picking a policy by a longer evaluation needs the weights of each
    /// point of the run.
    #[serde(default)]
    pub snapshot_every: u64,
    /// Save the replay buffer as `last.replay` beside the final `last.safetensors` when the
    /// run reaches `total_steps` (DQN), so that a resume goes on with the same experience
    /// instead of re-collecting it from nothing. Large (one observation plane per stored
    /// transition: about 7 GB for a full 1M buffer of 84x84 frames), so checkpoints written
    /// during the run leave it out; a resume uses the file only if it matches the checkpoint.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub save_replay: bool,
    /// Evaluation schedule.
    #[serde(default)]
    pub eval: EvalSection,
    /// DQN hyperparameters (Nature defaults for anything not given); `algo = "dqn"` only.
    #[serde(default)]
    pub dqn: DqnConfig,
    /// A3C hyperparameters (paper defaults for anything not given); `algo = "a3c"` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a3c: Option<crate::a3c::A3cConfig>,
}

fn default_one() -> usize {
    1
}
fn default_log_every() -> u64 {
    1000
}

impl TrainConfig {
    /// Parse a TOML config; errors name the file and the offending field.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self> {
        let file_err = |message: String| AgentError::ConfigFile {
            path: path.to_path_buf(),
            message,
        };
        let cfg: Self =
            toml::from_str(text).map_err(|e| file_err(e.to_string().trim().to_string()))?;
        // `dqn` has defaults, so only the text tells whether a `[dqn]` section was given.
        if cfg.algo == Algo::A3c
            && let Ok(table) = text.parse::<toml::Table>()
            && table.contains_key("dqn")
        {
            return Err(file_err(
                "dqn: a [dqn] section does not apply to algo = \"a3c\"; put A3C settings in [a3c]"
                    .into(),
            ));
        }
        cfg.validate().map_err(|e| AgentError::ConfigFile {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(cfg)
    }

    /// Read and parse a TOML config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| AgentError::io(path, e))?;
        Self::from_toml(&text, path)
    }

    /// Reject values that cannot run, naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(AgentError::Config(m.to_string()));
        if self.num_envs == 0 {
            return bad("num_envs must be at least 1");
        }
        if self.log_every == 0 {
            return bad("log_every must be at least 1");
        }
        if self.replay_frame_stack == Some(0) {
            return bad("replay_frame_stack must be at least 1");
        }
        match (self.algo, &self.a3c) {
            (Algo::Dqn, Some(_)) => {
                bad("a3c: an [a3c] section needs algo = \"a3c\" (this config trains dqn)")
            }
            (Algo::Dqn, None) => self.dqn.validate(),
            (Algo::A3c, a3c) => {
                if self.num_envs != 1 {
                    return bad("num_envs: A3C runs a3c.workers envs; remove num_envs");
                }
                if self.replay_frame_stack.is_some() {
                    return bad("replay_frame_stack: A3C has no replay memory; remove it");
                }
                if self.save_replay {
                    return bad("save_replay: A3C has no replay memory; remove it");
                }
                a3c.clone().unwrap_or_default().validate()
            }
        }
    }

    /// Training envs of the run (the evaluation env gets the next index).
    pub fn train_envs(&self) -> usize {
        match self.algo {
            Algo::Dqn => self.num_envs,
            Algo::A3c => self
                .a3c
                .as_ref()
                .map_or_else(|| crate::a3c::A3cConfig::default().workers, |a| a.workers),
        }
    }

    /// The config as a run directory's `config.toml` records it: every default filled in,
    /// and only the section of the run's algorithm.
    pub fn resolved(&self) -> Self {
        let mut cfg = self.clone();
        if cfg.algo == Algo::A3c {
            cfg.a3c.get_or_insert_with(Default::default);
        }
        cfg
    }

    /// [`TrainConfig::resolved`] as TOML.
    pub fn resolved_toml(&self) -> Result<String> {
        let mut table = toml::Table::try_from(self.resolved())
            .map_err(|e| AgentError::Config(e.to_string()))?;
        if self.algo != Algo::Dqn {
            table.remove("dqn");
        }
        toml::to_string(&table).map_err(|e| AgentError::Config(e.to_string()))
    }

    /// [`TrainConfig::resolved`] as JSON (checkpoint metadata).
    pub fn resolved_json(&self) -> Option<serde_json::Value> {
        let mut v = serde_json::to_value(self.resolved()).ok()?;
        if self.algo != Algo::Dqn
            && let Some(obj) = v.as_object_mut()
        {
            obj.remove("dqn");
        }
        Some(v)
    }

    /// The algorithm's name (`dqn`, `a3c`).
    pub fn algo_name(&self) -> &'static str {
        self.algo.name()
    }
}

impl CheckpointMeta {
    /// The metadata every checkpoint of a run shares (counters at zero, weights checksum
    /// filled in when written): `agent` (`dqn`, `a3c`) on env `env_id` with observation
    /// space `space`; DQN settings from `cfg`, the agent-specific fields left empty.
    pub(crate) fn for_run(
        cfg: &TrainConfig,
        agent: &str,
        env_id: &str,
        space: &sim::Space,
        n_actions: usize,
    ) -> Self {
        CheckpointMeta {
            format: checkpoint::FORMAT_VERSION,
            agent: agent.into(),
            env_id: env_id.to_string(),
            env_options: serde_json::to_value(&cfg.env.options).unwrap_or_default(),
            env_atari: cfg.env.atari.clone(),
            obs_shape: space.shape().to_vec(),
            obs_dtype: checkpoint::dtype_name(space).into(),
            n_actions,
            dqn: cfg.dqn.clone(),
            a3c: None,
            action_bounds: None,
            step: 0,
            updates: 0,
            eval_return: None,
            git_hash: checkpoint::git_hash(),
            created_unix_secs: 0,
            weights_fnv1a64: String::new(),
            train_config: cfg.resolved_json(),
        }
    }
}

/// A snapshot of training for progress displays.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainStatus {
    pub step: u64,
    pub total_steps: u64,
    pub updates: u64,
    /// Episodes finished (in this process, for a resumed run).
    pub episodes: u64,
    /// Seconds since the start (of this process, for a resumed run).
    pub wall_secs: f64,
    /// Env steps per second since the start (of this process, for a resumed run).
    pub steps_per_sec: f64,
    pub epsilon: f64,
    /// Mean loss since the last report.
    pub loss: Option<f32>,
    /// Mean Q(s, a) since the last report.
    pub q_mean: Option<f32>,
    /// Mean return of the last (up to) 100 training episodes.
    pub recent_return: Option<f64>,
}

/// Receives progress; every method has a do-nothing default (`()` implements it).
pub trait Progress {
    /// Called every `log_every` env steps and at the end.
    fn update(&mut self, _status: &TrainStatus) {}
    /// Called after each evaluation.
    fn evaluated(&mut self, _step: u64, _report: &EvalReport) {}
    /// A line worth showing (checkpoint saved, new best, ...).
    fn message(&mut self, _msg: &str) {}
}

impl Progress for () {}

/// What a finished run reports.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSummary {
    pub steps: u64,
    pub updates: u64,
    pub episodes: u64,
    pub wall_secs: f64,
    /// The final evaluation.
    pub final_eval: EvalReport,
    /// The best mean evaluation return seen.
    pub best_eval: Option<f64>,
    pub run_dir: PathBuf,
}

/// Train with envs from the registry (`sim::make`, plus Atari preprocessing when configured).
pub fn train(
    cfg: &TrainConfig,
    run_dir: &Path,
    progress: &mut dyn Progress,
) -> Result<TrainSummary> {
    let env = cfg.env.clone();
    let n = cfg.train_envs();
    train_with(cfg, run_dir, progress, &move |i| {
        build_env(&env.id, &env.options, env.atari.as_ref(), i >= n)
    })
}

/// Continue the run in `run_dir` from its `last.safetensors` (config from its
/// `config.toml`, or `cfg` when given, e.g. with a larger `total_steps`; `cfg` then
/// replaces `config.toml`, so the next resume keeps it). Network, target
/// net, optimizer moments and counters are restored. The replay buffer comes back from
/// `last.replay` when the run saved one with this checkpoint ([`TrainConfig::save_replay`]);
/// otherwise it is re-collected (updates resume after `learning_starts` new steps). The envs
/// start fresh episodes, so a resumed run is not step-for-step identical to an
/// uninterrupted one. Metrics are appended to the run's CSV files.
pub fn resume(
    run_dir: &Path,
    cfg: Option<&TrainConfig>,
    progress: &mut dyn Progress,
) -> Result<TrainSummary> {
    let cfg = match cfg {
        Some(c) => c.clone(),
        None => TrainConfig::load(&run_dir.join("config.toml"))?,
    };
    let env = cfg.env.clone();
    let n = cfg.train_envs();
    let make = move |i: usize| build_env(&env.id, &env.options, env.atari.as_ref(), i >= n);
    run_any(&cfg, run_dir, progress, &make, true)
}

/// [`resume`] with envs built by `make_env(i)` (as [`train_with`]); `cfg` as in [`resume`].
pub fn resume_with(
    run_dir: &Path,
    cfg: Option<&TrainConfig>,
    progress: &mut dyn Progress,
    make_env: &dyn Fn(usize) -> sim::Result<Box<dyn Env>>,
) -> Result<TrainSummary> {
    let cfg = match cfg {
        Some(c) => c.clone(),
        None => TrainConfig::load(&run_dir.join("config.toml"))?,
    };
    run_any(&cfg, run_dir, progress, make_env, true)
}

/// Train with envs built by `make_env(i)` (`i` = env index; `i ==`
/// [`TrainConfig::train_envs`] builds the evaluation env).
/// Lets tests and callers wrap envs (preprocessing) before they are batched.
pub fn train_with(
    cfg: &TrainConfig,
    run_dir: &Path,
    progress: &mut dyn Progress,
    make_env: &dyn Fn(usize) -> sim::Result<Box<dyn Env>>,
) -> Result<TrainSummary> {
    run_any(cfg, run_dir, progress, make_env, false)
}

fn run_any(
    cfg: &TrainConfig,
    run_dir: &Path,
    progress: &mut dyn Progress,
    make_env: &dyn Fn(usize) -> sim::Result<Box<dyn Env>>,
    resume: bool,
) -> Result<TrainSummary> {
    cfg.validate()?;
    if cfg.algo == Algo::A3c {
        return crate::a3c::train_run(cfg, run_dir, progress, make_env, resume);
    }
    // Optimizer state decaying into denormals made Adam 70% of a Pong run (see
    // `perception::denormals`); the learner runs on this thread.
    let _ftz = perception::denormals::flush_denormals();
    let venv = VecEnv::from_fn(cfg.num_envs, cfg.env_threads, make_env)?;
    match venv.single_observation_space().dtype() {
        Some(SpaceDType::U8) => Run::<u8>::new(cfg, run_dir, venv, make_env, resume)?.run(progress),
        Some(SpaceDType::F32) => {
            Run::<f32>::new(cfg, run_dir, venv, make_env, resume)?.run(progress)
        }
        None => Err(AgentError::Config(format!(
            "`{}` has a non-Box observation space; DQN needs frames or vectors",
            cfg.env.id
        ))),
    }
}

/// Mean of a window of recent values.
pub(crate) struct Recent {
    values: Vec<f64>,
    next: usize,
}

impl Recent {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            values: Vec::with_capacity(cap),
            next: 0,
        }
    }
    pub(crate) fn push(&mut self, v: f64) {
        if self.values.len() < self.values.capacity() {
            self.values.push(v);
        } else {
            self.values[self.next] = v;
            self.next = (self.next + 1) % self.values.len();
        }
    }
    pub(crate) fn mean(&self) -> Option<f64> {
        (!self.values.is_empty())
            .then(|| self.values.iter().sum::<f64>() / self.values.len() as f64)
    }
}

/// Open a CSV file: created with `header`, or appended to when resuming.
pub(crate) fn csv(path: &Path, header: &str, append: bool) -> Result<BufWriter<File>> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(append)
        .write(true)
        .truncate(!append)
        .open(path)
        .map_err(|e| AgentError::io(path, e))?;
    let mut f = BufWriter::new(file);
    if !append {
        writeln!(f, "{header}").map_err(|e| AgentError::io(path, e))?;
    }
    Ok(f)
}

/// Where the weights-only snapshot of `step` goes (see [`TrainConfig::snapshot_every`]);
/// creates the run's `snapshots` directory. The step is zero-padded so that a directory
/// listing is in training order.
pub fn snapshot_path(run_dir: &Path, step: u64) -> Result<PathBuf> {
    let dir = run_dir.join("snapshots");
    std::fs::create_dir_all(&dir).map_err(|e| AgentError::io(&dir, e))?;
    Ok(dir.join(format!("step_{step:010}.safetensors")))
}

/// Where a resumed run picks up.
#[derive(Debug, Clone, Copy)]
struct ResumePoint {
    step: u64,
    best: Option<f64>,
    /// The replay buffer came back from `last.replay` (else it is re-collected).
    replay_restored: bool,
}

/// The replay buffer saved with a run's final checkpoint ([`TrainConfig::save_replay`]).
pub const REPLAY_FILE: &str = "last.replay";

/// Fill `replay` from `dir`'s `last.replay` if it was saved with the checkpoint of `step`
/// and fits the buffer. A missing file, one from another step (the run went on past the
/// save and was stopped) or of another shape is no error: the replay is re-collected, as
/// the log says. An unreadable or corrupt file is an error naming it.
fn restore_replay<T: ObsElem>(replay: &mut ReplayBuffer<T>, dir: &Path, step: u64) -> Result<bool> {
    let path = dir.join(REPLAY_FILE);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(AgentError::io(&path, e)),
    };
    let mut r = std::io::BufReader::with_capacity(1 << 20, file);
    let bad = |e: ReplayError| AgentError::checkpoint(&path, e.to_string());
    let header = ReplayBuffer::<T>::read_header(&mut r).map_err(bad)?;
    if header.step != step {
        tracing::warn!(
            "{} was saved at step {}, the checkpoint is at step {step}: re-collecting the replay",
            path.display(),
            header.step
        );
        return Ok(false);
    }
    match replay.restore(&header, &mut r) {
        Ok(()) => Ok(true),
        Err(ReplayError::Config(m)) => {
            tracing::warn!(
                "{} does not fit this run ({m}): re-collecting the replay",
                path.display()
            );
            Ok(false)
        }
        Err(e) => Err(bad(e)),
    }
}

/// One training run, generic over the observation element type.
struct Run<'a, T: ObsElem> {
    cfg: &'a TrainConfig,
    dir: PathBuf,
    venv: VecEnv,
    eval_env: Box<dyn Env>,
    dqn: Dqn,
    replay: ReplayBuffer<T>,
    batch: Batch<T>,
    rng: rand_chacha::ChaCha8Rng,
    meta: CheckpointMeta,
    metrics: BufWriter<File>,
    episodes_csv: BufWriter<File>,
    eval_csv: BufWriter<File>,
    tb: EventWriter,
    resume: Option<ResumePoint>,
}

impl<'a, T: ObsElem> Run<'a, T> {
    fn new(
        cfg: &'a TrainConfig,
        dir: &Path,
        venv: VecEnv,
        make_env: &dyn Fn(usize) -> sim::Result<Box<dyn Env>>,
        resume: bool,
    ) -> Result<Self> {
        let space = venv.single_observation_space().clone();
        let n_actions = venv.single_action_space().n().ok_or_else(|| {
            AgentError::Config(format!(
                "`{}` has a continuous action space; DQN needs Discrete",
                cfg.env.id
            ))
        })?;
        let obs = ObsSpec::from_space(&space)?;
        let stack = cfg.replay_frame_stack.unwrap_or(match obs {
            ObsSpec::Frames {
                channels,
                layout: FrameLayout::Chw,
                ..
            } => channels,
            _ => 1,
        });
        if obs.len() % stack != 0 {
            return Err(AgentError::Config(format!(
                "replay_frame_stack {stack} does not divide the observation's {} elements",
                obs.len()
            )));
        }
        let device = cfg.device.device()?;
        let dqn = Dqn::new_seeded(cfg.dqn.clone(), obs, n_actions, &device, cfg.seed)?;
        let mut replay = ReplayBuffer::new(ReplayConfig {
            capacity: cfg.dqn.buffer_size,
            stack,
            plane_len: obs.len() / stack,
            num_envs: cfg.num_envs,
            gamma: cfg.dqn.gamma as f32,
            n_step: cfg.dqn.n_step,
        })?;
        if cfg.dqn.prioritized_replay {
            replay.set_prioritized(cfg.dqn.priority_alpha)?;
        }
        let batch = Batch::new(cfg.dqn.batch_size, obs.len());
        let eval_env = make_env(cfg.num_envs)?;

        std::fs::create_dir_all(dir).map_err(|e| AgentError::io(dir, e))?;
        if !resume && dir.join("metrics.csv").exists() {
            return Err(AgentError::Config(format!(
                "{} already holds a run (metrics.csv exists); choose a new run directory",
                dir.display()
            )));
        }
        let mut dqn = dqn;
        let resume = if resume {
            let last = dir.join("last.safetensors");
            let meta = dqn.load_full(&last)?;
            if meta.env_id != venv.id() {
                return Err(AgentError::checkpoint(
                    &last,
                    format!(
                        "was trained on `{}`, the config names `{}`",
                        meta.env_id,
                        venv.id()
                    ),
                ));
            }
            let best = checkpoint::read_meta(&dir.join("best.safetensors"))
                .ok()
                .and_then(|m| m.eval_return);
            Some(ResumePoint {
                step: meta.step,
                best,
                replay_restored: restore_replay(&mut replay, dir, meta.step)?,
            })
        } else {
            None
        };
        // Written on resume too: a later plain `--resume` continues with the config this
        // run now uses (e.g. a lowered learning rate), not the one it started with.
        checkpoint::write_atomic(&dir.join("config.toml"), cfg.resolved_toml()?.as_bytes())?;
        let append = resume.is_some();
        let meta = CheckpointMeta::for_run(cfg, "dqn", venv.id(), &space, n_actions);
        Ok(Self {
            cfg,
            dir: dir.to_path_buf(),
            venv,
            eval_env,
            dqn,
            replay,
            batch,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(
                cfg.seed ^ 0x5eed_d9a7 ^ resume.map_or(0, |r| r.step.rotate_left(17)),
            ),
            meta,
            metrics: csv(
                &dir.join("metrics.csv"),
                "step,updates,episodes,wall_secs,steps_per_sec,epsilon,loss,q_mean,recent_return",
                append,
            )?,
            episodes_csv: csv(&dir.join("episodes.csv"), "step,env,return,length", append)?,
            eval_csv: csv(&dir.join("eval.csv"), EVAL_CSV_HEADER, append)?,
            tb: EventWriter::create(dir)?,
            resume,
        })
    }

    /// `with_state` adds what a resume needs (target net, optimizer moments): `last` only.
    fn save(
        &mut self,
        path: &Path,
        step: u64,
        eval_return: Option<f64>,
        with_state: bool,
    ) -> Result<()> {
        self.meta.step = step;
        self.meta.updates = self.dqn.updates();
        self.meta.eval_return = eval_return;
        self.meta.created_unix_secs = checkpoint::now_unix_secs();
        if with_state {
            self.dqn.save_full(path, &self.meta)
        } else {
            self.dqn.save(path, &self.meta)
        }
    }

    fn evaluate(&mut self, step: u64, k: u64, start: Instant) -> Result<EvalReport> {
        let mut policy = self
            .dqn
            .policy(self.cfg.dqn.eval_epsilon, self.cfg.seed ^ k);
        let seed = self.cfg.seed.wrapping_add(1_000_003).wrapping_add(k * 7919);
        let report = evaluate(
            &mut policy,
            self.eval_env.as_mut(),
            self.cfg.eval.episodes,
            seed,
        )?;
        log_eval(
            &mut self.eval_csv,
            &self.dir.join("eval.csv"),
            &mut self.tb,
            step,
            start.elapsed().as_secs_f64(),
            &report,
        )?;
        Ok(report)
    }

    fn run(mut self, progress: &mut dyn Progress) -> Result<TrainSummary> {
        let cfg = self.cfg;
        let n = cfg.num_envs;
        let obs_len = self.replay.obs_len();
        let start = Instant::now();
        let start_step = self.resume.map_or(0, |r| r.step);
        // A resumed run without its saved replay re-collects it: updates wait for
        // `learning_starts` fresh steps (acting with the schedule's epsilon). The envs get
        // new seeds either way.
        let warmup = match self.resume {
            Some(r) if r.replay_restored => 0,
            _ => cfg.dqn.learning_starts,
        };
        let learn_from = start_step + warmup;
        if self.resume.is_some() {
            progress.message(&if warmup == 0 {
                format!(
                    "resumed at step {start_step} with the replay saved in {REPLAY_FILE} (about {} \
                     transitions)",
                    self.replay.len()
                )
            } else {
                format!(
                    "resumed at step {start_step}; re-collecting the replay: updates resume \
                     after {warmup} steps"
                )
            });
        }
        let base_updates = self.dqn.updates();
        self.venv.reset(Some(cfg.seed.wrapping_add(start_step)))?;
        for i in 0..n {
            let all = T::from_obs(self.venv.obs()).expect("dtype checked");
            self.replay
                .start_episode(i, T::to_obs(&all[i * obs_len..(i + 1) * obs_len]))?;
        }
        let mut actions = vec![0i64; n];
        let mut prev_done = vec![false; n];
        let (mut step, mut episodes, mut evals) = (start_step, 0u64, start_step);
        let mut recent = Recent::new(100);
        let (mut loss_sum, mut q_sum, mut n_loss) = (0f64, 0f64, 0u64);
        let mut best: Option<f64> = self.resume.and_then(|r| r.best);
        let after = |every: u64| (start_step / every.max(1) + 1) * every;
        let (mut next_log, mut next_eval, mut next_ckpt, mut next_snapshot) = (
            after(cfg.log_every),
            after(cfg.eval.every_steps),
            after(cfg.checkpoint_every),
            after(cfg.snapshot_every),
        );
        let mut updates_done = base_updates;

        while step < cfg.total_steps {
            let eps = if step < cfg.dqn.learning_starts && self.resume.is_none() {
                1.0
            } else {
                epsilon(&cfg.dqn, step)
            };
            self.dqn
                .act(self.venv.obs(), eps, &mut self.rng, &mut actions)?;
            self.venv.step(BatchActions::Discrete(&actions))?;
            step += n as u64;
            {
                let all = T::from_obs(self.venv.obs()).expect("dtype checked");
                let (rew, term, trunc) = (
                    self.venv.rewards(),
                    self.venv.terminated(),
                    self.venv.truncated(),
                );
                for i in 0..n {
                    let obs = T::to_obs(&all[i * obs_len..(i + 1) * obs_len]);
                    if prev_done[i] {
                        self.replay.start_episode(i, obs)?;
                    } else {
                        self.replay
                            .push(i, actions[i], rew[i], term[i], trunc[i], obs)?;
                    }
                    prev_done[i] = term[i] || trunc[i];
                }
            }
            for (i, stats) in self.venv.finished_episodes() {
                episodes += 1;
                recent.push(stats.episode_return);
                writeln!(
                    self.episodes_csv,
                    "{step},{i},{},{}",
                    stats.episode_return, stats.length
                )
                .map_err(|e| AgentError::io(self.dir.join("episodes.csv"), e))?;
            }

            if step >= learn_from {
                let owed = base_updates + (step - learn_from) / cfg.dqn.train_every + 1;
                let beta = priority_beta(&cfg.dqn, step);
                self.dqn.set_learning_rate(learning_rate(&cfg.dqn, step));
                while updates_done < owed {
                    self.replay
                        .sample_prioritized(&mut self.rng, &mut self.batch, beta)?;
                    let s = self.dqn.train_step(&self.batch)?;
                    if !s.loss.is_finite() {
                        return Err(AgentError::NonFiniteLoss {
                            step,
                            update: self.dqn.updates() + 1,
                            value: s.loss,
                        });
                    }
                    updates_done += 1;
                    self.replay.update_priorities(
                        &self.batch.indices,
                        self.dqn.last_td_errors(),
                        cfg.dqn.priority_eps,
                    );
                    loss_sum += s.loss as f64;
                    q_sum += s.q_mean as f64;
                    n_loss += 1;
                }
            }

            let done = step >= cfg.total_steps;
            if step >= next_log || done {
                next_log += cfg.log_every;
                let wall = start.elapsed().as_secs_f64();
                let status = TrainStatus {
                    step,
                    total_steps: cfg.total_steps,
                    updates: self.dqn.updates(),
                    episodes,
                    wall_secs: wall,
                    steps_per_sec: (step - start_step) as f64 / wall.max(1e-9),
                    epsilon: eps,
                    loss: (n_loss > 0).then(|| (loss_sum / n_loss as f64) as f32),
                    q_mean: (n_loss > 0).then(|| (q_sum / n_loss as f64) as f32),
                    recent_return: recent.mean(),
                };
                let opt = |v: Option<f32>| v.map(|x| x.to_string()).unwrap_or_default();
                writeln!(
                    self.metrics,
                    "{step},{},{episodes},{wall:.3},{:.1},{eps:.4},{},{},{}",
                    status.updates,
                    status.steps_per_sec,
                    opt(status.loss),
                    opt(status.q_mean),
                    status
                        .recent_return
                        .map(|r| r.to_string())
                        .unwrap_or_default()
                )
                .and_then(|_| self.metrics.flush())
                .and_then(|_| self.episodes_csv.flush())
                .map_err(|e| AgentError::io(self.dir.join("metrics.csv"), e))?;
                let tb = &mut self.tb;
                tb.scalar("train/epsilon", step, eps)?;
                tb.scalar("train/steps_per_sec", step, status.steps_per_sec)?;
                if let Some(l) = status.loss {
                    tb.scalar("train/loss", step, l as f64)?;
                }
                if let Some(q) = status.q_mean {
                    tb.scalar("train/q_mean", step, q as f64)?;
                }
                if let Some(r) = status.recent_return {
                    tb.scalar("train/episode_return_100", step, r)?;
                }
                tb.flush()?;
                progress.update(&status);
                (loss_sum, q_sum, n_loss) = (0.0, 0.0, 0);
            }
            if cfg.eval.every_steps > 0 && step >= next_eval && !done {
                next_eval += cfg.eval.every_steps;
                evals += 1;
                let report = self.evaluate(step, evals, start)?;
                progress.evaluated(step, &report);
                if best.is_none_or(|b| report.mean() > b) {
                    best = Some(report.mean());
                    self.save(&self.dir.join("best.safetensors"), step, best, false)?;
                    progress.message(&format!(
                        "step {step}: new best mean return {:.3}",
                        report.mean()
                    ));
                }
            }
            if cfg.checkpoint_every > 0 && step >= next_ckpt && !done {
                next_ckpt += cfg.checkpoint_every;
                self.save(&self.dir.join("last.safetensors"), step, None, true)?;
            }
            if cfg.snapshot_every > 0 && step >= next_snapshot {
                next_snapshot += cfg.snapshot_every;
                self.save(&snapshot_path(&self.dir, step)?, step, None, false)?;
            }
        }

        evals += 1;
        let final_eval = self.evaluate(step, evals, start)?;
        progress.evaluated(step, &final_eval);
        if best.is_none_or(|b| final_eval.mean() > b) {
            best = Some(final_eval.mean());
            self.save(&self.dir.join("best.safetensors"), step, best, false)?;
        }
        self.save(&self.dir.join("last.safetensors"), step, None, true)?;
        if cfg.save_replay {
            let path = self.dir.join(REPLAY_FILE);
            checkpoint::write_atomic_with(&path, |w| self.replay.save(w, step))?;
        }
        Ok(TrainSummary {
            steps: step,
            updates: self.dqn.updates(),
            episodes,
            wall_secs: start.elapsed().as_secs_f64(),
            final_eval,
            best_eval: best,
            run_dir: self.dir,
        })
    }
}
