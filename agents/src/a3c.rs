//! Asynchronous advantage actor-critic (A3C, Mnih et al. 2016) and its synchronous twin
//! (A2C), read top to bottom:
//!
//! 1. [`A3cConfig`]: every hyperparameter, documented, with the paper's values named.
//! 2. [`ActorCritic`]: encoder (from `perception`: Nature CNN, small CNN or MLP) shared by a
//!    policy head (categorical logits, or the mean of a Gaussian with a state-independent
//!    learned log-std) and a value head.
//! 3. [`n_step_returns`] and [`a3c_loss`]: bootstrapped n-step returns (zero bootstrap after
//!    a termination, the value of the final observation after a truncation), advantages,
//!    the policy-gradient loss with an entropy bonus, and the value loss.
//! 4. [`SharedParams`]: the shared parameters and the shared RMSProp statistics.
//! 5. The worker: roll out `t_max` steps with the local network, compute the loss, take the
//!    gradients locally, clip them, apply them to the shared parameters, copy those back.
//! 6. The run: `workers` threads (async) or one learner on a `VecEnv` of `workers` envs
//!    (sync), with a coordinator thread that logs, evaluates and checkpoints; the same run
//!    directory, CSV files, TensorBoard curves and checkpoints as the DQN loop
//!    ([`crate::train`]). `episodes.csv` has a `worker` column: the worker's index (async)
//!    or the env's index in the VecEnv (sync); TensorBoard gets each worker's recent return.
//! 7. [`A3cPolicy`]: a trained actor-critic behind `sim::Policy`.
//!
//! ## What protects what (async mode)
//! Workers never hold a lock across a forward or backward pass. The shared parameters and
//! the RMSProp squared-gradient averages are flat arrays of `AtomicU32` holding `f32` bits,
//! read and written with `Relaxed` loads and stores: Hogwild! (Recht et al. 2011), as the
//! A3C paper does. Allowed races, all benign by design:
//! * two workers updating the same element at once: one of the two read-modify-writes of
//!   that element may be lost (each element is still some `f32` a worker wrote, never a torn
//!   value, and never NaN unless a gradient was);
//! * a worker copying the parameters out while another updates them sees a mix of old and
//!   new elements (its local copy is then a little stale, as in the paper);
//! * the coordinator's snapshots for evaluation and checkpoints are likewise not atomic as a
//!   whole; `last.safetensors` is written from one snapshot of parameters and statistics.
//!
//! Counters (env steps, updates) are atomics; the loss statistics for the log are a `Mutex`
//! held only to add four numbers. A worker that fails (error, NaN/inf loss, panic) stores its
//! error, raises the stop flag, and every other worker stops at its next env step; the
//! coordinator stops without writing any checkpoint after the failure. A non-finite loss is
//! detected *before* its gradients reach the shared parameters, so they stay finite.
//!
//! ## Sync mode (A2C)
//! The same worker code with one worker thread stepping a `VecEnv` of `workers` envs: one
//! batched forward pass per step, one update per rollout of `t_max` x `workers` steps. With
//! a single learner, a seed fixes every number (tested): this is the mode a GPU wants.
//!
//! ## Rollouts and autoreset
//! Envs run in `sim::VecEnv`s (a 1-env one per async worker) with Gymnasium's next-step
//! autoreset: the step after an episode ends only resets the env. Such a step is masked out
//! of the loss, and the observation it starts from (the episode's final observation) gives
//! the bootstrap value for a truncated episode. Each rollout step counts as one env step
//! per env, as in the DQN loop, so a few steps of every rollout that crosses an episode end
//! carry no gradient.
//!
//! ## Choices against the paper (documented here once)
//! * Losses are means over the rollout's valid steps (the paper sums over `t_max` steps);
//!   with RMSProp this mostly rescales `rmsprop_eps`.
//! * RMSProp `eps` defaults to 1e-5 inside the square root (OpenAI baselines' A2C, whose
//!   loss is also a mean); the paper's 0.1 suits summed gradients.
//! * Gradients are clipped to a global norm of 0.5 (baselines' A2C); universe-starter-agent
//!   style A3C uses 40 with summed losses.
//! * Continuous actions: a Gaussian with a state-independent learned log-std; the sample is
//!   clipped to the `Box` bounds for the env and its log-probability is that of the
//!   unclipped sample (the paper's continuous agent learns a state-dependent variance).

use crate::checkpoint::{self, CheckpointMeta};
use crate::dqn::{DqnConfig, argmax};
use crate::error::{AgentError, Result};
use crate::eval::{EVAL_CSV_HEADER, EvalReport, evaluate, log_eval};
use crate::tensorboard::EventWriter;
use crate::train::{Progress, Recent, TrainConfig, TrainStatus, TrainSummary, csv};
use candle_core::{D, DType, Device, Module, Tensor, Var};
use candle_nn::{Linear, VarBuilder, VarMap, linear};
use perception::{Encoder, EncoderKind, ObsSpec, standardize_frames};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use sim::vec_env::{BatchActions, VecEnv};
use sim::{ActionScores, Env, Obs, OwnedAction, Policy, Space};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// 1. Hyperparameters
// ---------------------------------------------------------------------------------------

/// How the workers learn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum A3cMode {
    /// A3C: `workers` threads, each with its own env and local network, applying gradients
    /// asynchronously to the shared parameters (the paper).
    #[default]
    Async,
    /// A2C: one learner stepping a `VecEnv` of `workers` envs, one update per rollout.
    Sync,
}

/// A3C hyperparameters. Defaults: the paper's (Mnih et al. 2016) where it fixes them
/// (`t_max` 5, gamma 0.99, entropy 0.01, RMSProp alpha 0.99, shared statistics, learning
/// rate annealed to 0), OpenAI baselines' A2C where the paper leaves them open or sums its
/// losses (learning rate 7e-4, RMSProp eps 1e-5, gradient norm 0.5, value coefficient 0.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct A3cConfig {
    /// `async` (A3C, worker threads) or `sync` (A2C, one learner on a batched VecEnv).
    pub mode: A3cMode,
    /// Actor-learner threads (async) or envs of the batched VecEnv (sync). Paper: 16.
    pub workers: usize,
    /// Trunk shared by the heads: `nature`, `small`, `mlp` or `auto` (paper: the
    /// Nature-DQN-like CNN of Mnih et al. 2013; `auto` picks `nature` for frames >= 36 px).
    pub encoder: EncoderKind,
    /// Hidden layer widths when the trunk is an MLP.
    pub mlp_hidden: Vec<usize>,
    /// One trunk for both heads (paper: yes, the conv trunk is shared). `false` gives the
    /// value head its own encoder of the same kind (`value_encoder.*`), as Stable-Baselines'
    /// MLP actor-critics do: on CartPole the shared MLP trunk let the policy gradient, scaled
    /// by advantages of tens, drag the value estimates far above the returns.
    pub shared_trunk: bool,
    /// Env steps per env between updates (paper: 5).
    pub t_max: usize,
    /// Discount factor (paper: 0.99).
    pub gamma: f64,
    /// Weight of the policy's entropy bonus (paper: 0.01).
    pub entropy_beta: f64,
    /// Weight of the value loss `mean((R - V)^2)` in the total loss (baselines: 0.5; the
    /// paper's value gradient is that of `(R - V)^2` summed, with its own learning rate).
    pub value_loss_coef: f64,
    /// RMSProp step size at step 0 (paper: sampled log-uniformly in [1e-4, 1e-2];
    /// baselines' A2C: 7e-4).
    pub learning_rate: f64,
    /// Anneal the learning rate linearly to 0 at `total_steps` (paper: yes).
    pub anneal_lr: bool,
    /// RMSProp decay of the shared squared-gradient average (paper: 0.99).
    pub rmsprop_alpha: f64,
    /// RMSProp epsilon, added inside the square root (paper: 0.1 with summed losses;
    /// baselines' A2C: 1e-5 with mean losses, as here).
    pub rmsprop_eps: f64,
    /// Clip each update's global gradient norm to this (baselines' A2C: 0.5; A3C code with
    /// summed losses: 40). Omit to disable.
    pub max_grad_norm: Option<f64>,
    /// Initial log standard deviation of the Gaussian policy (continuous actions only).
    pub init_log_std: f64,
    /// Evaluation and `A3cPolicy` act greedily (argmax / Gaussian mean) when true, else
    /// sample the policy as during training (the paper evaluates the stochastic policy).
    pub eval_greedy: bool,
    /// Standardise each frame observation to zero mean and unit variance before the trunk
    /// (per sample, over all its pixels). Arcade frames are mostly one flat background, so
    /// raw `byte / 255` inputs carry the ball and paddles as tiny deviations on a large
    /// constant; centred, they dominate the first layer (as the normalised envs of common
    /// A3C implementations do). Vector observations are never changed.
    pub standardize_frames: bool,
}

impl Default for A3cConfig {
    fn default() -> Self {
        Self {
            mode: A3cMode::Async,
            workers: 2,
            encoder: EncoderKind::Auto,
            mlp_hidden: vec![64, 64],
            shared_trunk: true,
            t_max: 5,
            gamma: 0.99,
            entropy_beta: 0.01,
            value_loss_coef: 0.5,
            learning_rate: 7e-4,
            anneal_lr: true,
            rmsprop_alpha: 0.99,
            rmsprop_eps: 1e-5,
            max_grad_norm: Some(0.5),
            init_log_std: 0.0,
            eval_greedy: true,
            standardize_frames: false,
        }
    }
}

fn positive(x: f64) -> bool {
    x > 0.0 && x.is_finite()
}

impl A3cConfig {
    /// Reject values that cannot train, naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, msg: String| Err(AgentError::Config(format!("a3c.{field}: {msg}")));
        if self.workers == 0 {
            return bad("workers", "must be at least 1".into());
        }
        if self.t_max == 0 {
            return bad("t_max", "must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.gamma) {
            return bad("gamma", format!("{} is outside [0, 1]", self.gamma));
        }
        for (field, v) in [
            ("entropy_beta", self.entropy_beta),
            ("value_loss_coef", self.value_loss_coef),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return bad(field, format!("{v} must be a finite number >= 0"));
            }
        }
        if !positive(self.learning_rate) {
            return bad(
                "learning_rate",
                format!("{} must be positive", self.learning_rate),
            );
        }
        if !(0.0..1.0).contains(&self.rmsprop_alpha) {
            return bad(
                "rmsprop_alpha",
                format!("{} is outside [0, 1)", self.rmsprop_alpha),
            );
        }
        if !positive(self.rmsprop_eps) {
            return bad(
                "rmsprop_eps",
                format!("{} must be positive", self.rmsprop_eps),
            );
        }
        if self.max_grad_norm.is_some_and(|m| !positive(m)) {
            return bad(
                "max_grad_norm",
                "must be positive (omit it to disable clipping)".into(),
            );
        }
        if !self.init_log_std.is_finite() {
            return bad("init_log_std", "must be finite".into());
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// 2. The actor-critic network
// ---------------------------------------------------------------------------------------

/// Bounds of a continuous action space (one low/high per action dimension).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionBounds {
    pub low: Vec<f32>,
    pub high: Vec<f32>,
}

/// What the policy head produces.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionKind {
    /// A categorical over `n` actions.
    Discrete(usize),
    /// A diagonal Gaussian over `low.len()` dimensions, clipped to the bounds.
    Continuous(ActionBounds),
}

impl ActionKind {
    /// From an env's action space.
    pub fn from_space(space: &Space) -> Result<Self> {
        match space {
            Space::Discrete { n: 0 } => {
                Err(AgentError::Config("the action space has no actions".into()))
            }
            Space::Discrete { n } => Ok(ActionKind::Discrete(*n)),
            Space::Box {
                shape, low, high, ..
            } => {
                if shape.len() != 1 || low.is_empty() {
                    return Err(AgentError::Config(format!(
                        "A3C needs a Discrete or a 1-D Box action space, got {space}"
                    )));
                }
                if low.iter().chain(high).any(|x| !x.is_finite()) {
                    return Err(AgentError::Config(format!(
                        "A3C clips Gaussian actions to the Box bounds, which must be finite: {space}"
                    )));
                }
                Ok(ActionKind::Continuous(ActionBounds {
                    low: low.clone(),
                    high: high.clone(),
                }))
            }
        }
    }

    /// Outputs of the policy head: actions (discrete) or dimensions (continuous).
    pub fn dim(&self) -> usize {
        match self {
            ActionKind::Discrete(n) => *n,
            ActionKind::Continuous(b) => b.low.len(),
        }
    }

    /// The bounds, for a continuous kind.
    pub fn bounds(&self) -> Option<&ActionBounds> {
        match self {
            ActionKind::Discrete(_) => None,
            ActionKind::Continuous(b) => Some(b),
        }
    }

    /// Rebuild from a checkpoint's `n_actions` and `action_bounds`.
    pub fn from_meta(n_actions: usize, bounds: Option<&ActionBounds>) -> Self {
        match bounds {
            Some(b) => ActionKind::Continuous(b.clone()),
            None => ActionKind::Discrete(n_actions),
        }
    }
}

/// Encoder + policy head + value head. Weights are named `encoder.*`, `policy.*`, `value.*`,
/// (continuous) `log_std` and (without a shared trunk) `value_encoder.*`.
#[derive(Debug, Clone)]
pub struct ActorCritic {
    encoder: Encoder,
    value_encoder: Option<Encoder>,
    policy: Linear,
    value: Linear,
    log_std: Option<Tensor>,
    kind: ActionKind,
    standardize_frames: bool,
}

impl ActorCritic {
    /// Build (or load, depending on `vb`) the network for `obs` and actions `kind`.
    pub fn new(cfg: &A3cConfig, obs: &ObsSpec, kind: ActionKind, vb: VarBuilder) -> Result<Self> {
        let encoder = Encoder::new(cfg.encoder, obs, &cfg.mlp_hidden, vb.pp("encoder"))?;
        let f = encoder.out_dim();
        let policy = linear(f, kind.dim(), vb.pp("policy"))?;
        let value_encoder = if cfg.shared_trunk {
            None
        } else {
            Some(Encoder::new(
                cfg.encoder,
                obs,
                &cfg.mlp_hidden,
                vb.pp("value_encoder"),
            )?)
        };
        let value = linear(
            value_encoder.as_ref().map_or(f, Encoder::out_dim),
            1,
            vb.pp("value"),
        )?;
        let log_std = match &kind {
            ActionKind::Discrete(_) => None,
            ActionKind::Continuous(b) => Some(vb.get_with_hints(
                b.low.len(),
                "log_std",
                candle_nn::Init::Const(cfg.init_log_std),
            )?),
        };
        Ok(Self {
            encoder,
            value_encoder,
            policy,
            value,
            log_std,
            kind,
            standardize_frames: cfg.standardize_frames,
        })
    }

    /// `(B, dim)` logits (discrete) or Gaussian means (continuous), and `(B,)` values.
    pub fn forward(&self, xs: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let standardized;
        let xs = if self.standardize_frames && xs.rank() == 4 {
            standardized = standardize_frames(xs)?;
            &standardized
        } else {
            xs
        };
        let h = self.encoder.forward(xs)?;
        let head = self.policy.forward(&h)?;
        let v = match &self.value_encoder {
            Some(e) => self.value.forward(&e.forward(xs)?)?,
            None => self.value.forward(&h)?,
        }
        .squeeze(1)?;
        Ok((head, v))
    }

    /// The Gaussian's log standard deviation `(dim,)`, for continuous actions.
    pub fn log_std(&self) -> Option<&Tensor> {
        self.log_std.as_ref()
    }

    /// The action kind.
    pub fn kind(&self) -> &ActionKind {
        &self.kind
    }
}

/// A fresh network's weights from `seed`: `perception::seeded_init` everywhere, then the
/// policy layer scaled by 0.01 with zero bias, so the first policy is close to uniform (a
/// common actor-critic initialisation; cf. the orthogonal 0.01 init of baselines).
pub fn init_weights(vars: &VarMap, seed: u64) -> Result<()> {
    perception::seeded_init(vars, seed)?;
    let data = vars.data().lock().expect("var map lock");
    if let Some(w) = data.get("policy.weight") {
        w.set(&(w.as_tensor() * 0.01)?)?;
    }
    if let Some(b) = data.get("policy.bias") {
        b.set(&b.as_tensor().zeros_like()?)?;
    }
    Ok(())
}

/// The variables of `vars`, sorted by name (the order of [`SharedParams`]).
pub fn sorted_vars(vars: &VarMap) -> Vec<(String, Var)> {
    let mut named: Vec<(String, Var)> = vars
        .data()
        .lock()
        .expect("var map lock")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

// ---------------------------------------------------------------------------------------
// 3. Returns, advantages, losses
// ---------------------------------------------------------------------------------------

/// n-step returns of a rollout of `t_max` steps of `n` envs (index `t * n + i`).
///
/// `values` holds `(t_max + 1) * n` detached values: of the observation each step started
/// from, then of the observation after the last step (the bootstrap). Going backwards,
/// `R = r_t + gamma * R` with `R` reset to 0 after a termination; a step that is not `valid`
/// (the autoreset step after an episode end) sets `R = V(obs_t)`, the value of the
/// episode's final observation, which bootstraps a truncated episode (a terminated one
/// multiplies it by 0). Invalid steps get return 0 (they are masked out of the loss).
pub fn n_step_returns(
    rewards: &[f32],
    terminated: &[bool],
    valid: &[bool],
    values: &[f32],
    n: usize,
    gamma: f32,
) -> Vec<f32> {
    let t_max = rewards.len() / n;
    debug_assert_eq!(values.len(), (t_max + 1) * n);
    let mut out = vec![0f32; t_max * n];
    for i in 0..n {
        let mut r = values[t_max * n + i];
        for t in (0..t_max).rev() {
            let k = t * n + i;
            if !valid[k] {
                r = values[k];
                continue;
            }
            r = rewards[k] + if terminated[k] { 0.0 } else { gamma * r };
            out[k] = r;
        }
    }
    out
}

/// The parts of one update's loss.
#[derive(Debug)]
pub struct Losses {
    /// `policy - entropy_beta * entropy + value_loss_coef * value`, with gradients.
    pub total: Tensor,
    /// `-mean(log pi(a|s) * A)`, advantages detached.
    pub policy: f32,
    /// `mean((R - V)^2)`.
    pub value: f32,
    /// Mean entropy of the policy.
    pub entropy: f32,
    /// Mean value estimate.
    pub value_mean: f32,
}

const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// The A3C loss on a batch of `B` steps. `head`: `(B, dim)` logits or Gaussian means;
/// `values`: `(B,)`; `actions`: `(B,)` u32 indices or `(B, dim)` unclipped samples;
/// `returns`: `(B,)` n-step returns; `mask`: `(B,)` 1 for steps that count, 0 for
/// autoreset steps. Means are over the counted steps. The advantage `R - V` is detached in
/// the policy term; the value term trains `V` towards `R`.
#[allow(clippy::too_many_arguments)]
pub fn a3c_loss(
    head: &Tensor,
    values: &Tensor,
    log_std: Option<&Tensor>,
    actions: &Tensor,
    returns: &Tensor,
    mask: &Tensor,
    entropy_beta: f64,
    value_loss_coef: f64,
) -> candle_core::Result<Losses> {
    let count = mask.sum_all()?.to_scalar::<f32>()?.max(1.0) as f64;
    let b = values.dims1()?;
    let (logp, entropy) = match log_std {
        None => {
            let logp_all = candle_nn::ops::log_softmax(head, D::Minus1)?;
            let logp = logp_all.gather(&actions.unsqueeze(1)?, 1)?.squeeze(1)?;
            let ent = (logp_all.exp()? * &logp_all)?.sum(D::Minus1)?.neg()?;
            (logp, ent)
        }
        Some(ls) => {
            let dim = ls.dims1()? as f64;
            let z = (actions - head)?.broadcast_div(&ls.exp()?)?;
            let logp = ((z.sqr()? * -0.5)?.broadcast_sub(ls)? - 0.5 * LN_2PI)?.sum(D::Minus1)?;
            let ent = (ls.sum_all()? + dim * 0.5 * (1.0 + LN_2PI))?.broadcast_as(b)?;
            (logp, ent)
        }
    };
    let adv = (returns - values)?.detach();
    let policy = ((((logp * adv)? * mask)?.sum_all()? / count)? * -1.0)?;
    let ent = ((entropy * mask)?.sum_all()? / count)?;
    let value = ((((returns - values)?.sqr()? * mask)?.sum_all()?) / count)?;
    let total = ((&policy - (&ent * entropy_beta)?)? + (&value * value_loss_coef)?)?;
    let value_mean = (((values.detach() * mask)?.sum_all()?) / count)?;
    Ok(Losses {
        total,
        policy: policy.to_scalar::<f32>()?,
        value: value.to_scalar::<f32>()?,
        entropy: ent.to_scalar::<f32>()?,
        value_mean: value_mean.to_scalar::<f32>()?,
    })
}

// ---------------------------------------------------------------------------------------
// 4. Shared parameters and shared RMSProp
// ---------------------------------------------------------------------------------------

/// The shared parameters and the shared RMSProp squared-gradient averages, one flat array
/// of `f32` bits each (Hogwild: relaxed atomic loads and stores, see the module docs).
pub struct SharedParams {
    names: Vec<String>,
    shapes: Vec<Vec<usize>>,
    /// Start of each parameter in the flat arrays, plus the total at the end.
    offsets: Vec<usize>,
    params: Vec<AtomicU32>,
    sq: Vec<AtomicU32>,
}

/// RMSProp constants of one update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RmsPropStep {
    pub lr: f32,
    pub alpha: f32,
    pub eps: f32,
    /// Gradient scale from clipping (1 when not clipped).
    pub scale: f32,
}

impl SharedParams {
    /// Shared copies of `vars` (in the given order), with zero squared-gradient averages.
    pub fn new(vars: &[(String, Var)]) -> Result<Self> {
        let mut offsets = vec![0];
        let mut params = Vec::new();
        for (_, v) in vars {
            let vals = v.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            params.extend(vals.into_iter().map(|x| AtomicU32::new(x.to_bits())));
            offsets.push(params.len());
        }
        let sq = (0..params.len()).map(|_| AtomicU32::new(0)).collect();
        Ok(Self {
            names: vars.iter().map(|(n, _)| n.clone()).collect(),
            shapes: vars.iter().map(|(_, v)| v.dims().to_vec()).collect(),
            offsets,
            params,
            sq,
        })
    }

    /// Parameter names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    fn range(&self, i: usize) -> std::ops::Range<usize> {
        self.offsets[i]..self.offsets[i + 1]
    }

    fn load(a: &[AtomicU32]) -> Vec<f32> {
        a.iter()
            .map(|x| f32::from_bits(x.load(Ordering::Relaxed)))
            .collect()
    }

    /// Parameter `i`'s values now.
    pub fn param(&self, i: usize) -> Vec<f32> {
        Self::load(&self.params[self.range(i)])
    }

    /// Parameter `i`'s squared-gradient average now.
    pub fn sq(&self, i: usize) -> Vec<f32> {
        Self::load(&self.sq[self.range(i)])
    }

    /// Overwrite parameter `i` (and its statistics when `sq` is given).
    pub fn set(&self, i: usize, values: &[f32], sq: Option<&[f32]>) {
        for (a, v) in self.params[self.range(i)].iter().zip(values) {
            a.store(v.to_bits(), Ordering::Relaxed);
        }
        if let Some(sq) = sq {
            for (a, v) in self.sq[self.range(i)].iter().zip(sq) {
                a.store(v.to_bits(), Ordering::Relaxed);
            }
        }
    }

    /// Copy the shared parameters into `vars` (same order and shapes).
    pub fn copy_to(&self, vars: &[Var]) -> Result<()> {
        for (i, var) in vars.iter().enumerate() {
            let t = Tensor::from_vec(self.param(i), self.shapes[i].as_slice(), var.device())?;
            var.set(&t)?;
        }
        Ok(())
    }

    /// Copy `vars` into the shared parameters.
    pub fn copy_from(&self, vars: &[Var]) -> Result<()> {
        for (i, var) in vars.iter().enumerate() {
            let v = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            self.set(i, &v, None);
        }
        Ok(())
    }

    /// One shared RMSProp step from per-parameter gradients (`None`: no gradient), as in the
    /// paper: `g = scale * grad`, `v = alpha v + (1 - alpha) g^2`,
    /// `theta = theta - lr g / sqrt(v + eps)`. Element by element with relaxed atomics.
    pub fn rmsprop_step(&self, grads: &[Option<Vec<f32>>], k: RmsPropStep) {
        let oma = 1.0 - k.alpha;
        for (i, g) in grads.iter().enumerate() {
            let Some(g) = g else { continue };
            let r = self.range(i);
            for ((p, v), &g) in self.params[r.clone()].iter().zip(&self.sq[r]).zip(g) {
                let g = g * k.scale;
                let sq = k.alpha * f32::from_bits(v.load(Ordering::Relaxed)) + oma * g * g;
                v.store(sq.to_bits(), Ordering::Relaxed);
                let old = f32::from_bits(p.load(Ordering::Relaxed));
                p.store(
                    (old - k.lr * g / (sq + k.eps).sqrt()).to_bits(),
                    Ordering::Relaxed,
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// 5. The worker
// ---------------------------------------------------------------------------------------

/// One rollout's storage, reused between updates (index `t * n + i`).
struct Rollout {
    n: usize,
    t_max: usize,
    obs_u8: Vec<u8>,
    obs_f32: Vec<f32>,
    /// Discrete action indices, or the unclipped Gaussian samples (`dim` per step).
    actions_d: Vec<u32>,
    actions_c: Vec<f32>,
    rewards: Vec<f32>,
    terminated: Vec<bool>,
    valid: Vec<bool>,
}

impl Rollout {
    fn new(n: usize, t_max: usize, obs_len: usize, kind: &ActionKind) -> Self {
        let steps = n * t_max;
        let dim = match kind {
            ActionKind::Discrete(_) => 0,
            ActionKind::Continuous(b) => b.low.len(),
        };
        Self {
            n,
            t_max,
            obs_u8: Vec::with_capacity((steps + n) * obs_len),
            obs_f32: Vec::with_capacity((steps + n) * obs_len),
            actions_d: Vec::with_capacity(steps),
            actions_c: Vec::with_capacity(steps * dim),
            rewards: Vec::with_capacity(steps),
            terminated: Vec::with_capacity(steps),
            valid: Vec::with_capacity(steps),
        }
    }

    fn clear(&mut self) {
        self.obs_u8.clear();
        self.obs_f32.clear();
        self.actions_d.clear();
        self.actions_c.clear();
        self.rewards.clear();
        self.terminated.clear();
        self.valid.clear();
    }

    fn push_obs(&mut self, obs: Obs<'_>) {
        match obs {
            Obs::U8(d) => self.obs_u8.extend_from_slice(d),
            Obs::F32(d) => self.obs_f32.extend_from_slice(d),
        }
    }

    fn obs(&self) -> Obs<'_> {
        if self.obs_u8.is_empty() {
            Obs::F32(&self.obs_f32)
        } else {
            Obs::U8(&self.obs_u8)
        }
    }
}

/// A standard normal draw (Box-Muller).
fn normal<R: Rng + ?Sized>(rng: &mut R) -> f32 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// Softmax of `logits` into `probs`.
fn softmax(logits: &[f32], probs: &mut [f32]) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for (p, &l) in probs.iter_mut().zip(logits) {
        *p = (l - max).exp();
        sum += *p;
    }
    for p in probs.iter_mut() {
        *p /= sum;
    }
}

/// Draw an index from `probs` (the last one absorbs rounding).
fn sample_categorical<R: Rng + ?Sized>(probs: &[f32], rng: &mut R) -> usize {
    let u: f32 = rng.random();
    let mut acc = 0.0;
    for (i, &p) in probs.iter().enumerate() {
        acc += p;
        if u < acc {
            return i;
        }
    }
    probs.len() - 1
}

/// Per-variable gradients, flattened, in [`SharedParams`] order (`None`: no gradient).
type Grads = Vec<Option<Vec<f32>>>;

/// A local network and its variables in [`SharedParams`] order.
struct Local {
    net: ActorCritic,
    vars: Vec<Var>,
    obs: ObsSpec,
    device: Device,
    _varmap: VarMap,
}

impl Local {
    fn new(cfg: &A3cConfig, obs: ObsSpec, kind: ActionKind, device: &Device) -> Result<Self> {
        let varmap = VarMap::new();
        let net = ActorCritic::new(
            cfg,
            &obs,
            kind,
            VarBuilder::from_varmap(&varmap, DType::F32, device),
        )?;
        let vars = sorted_vars(&varmap).into_iter().map(|(_, v)| v).collect();
        Ok(Self {
            net,
            vars,
            obs,
            device: device.clone(),
            _varmap: varmap,
        })
    }

    /// Sample actions for `n` observations: discrete into `disc`, continuous (unclipped)
    /// into `raw` and clipped into `env`.
    fn act<R: Rng + ?Sized>(
        &self,
        obs: Obs<'_>,
        n: usize,
        rng: &mut R,
        disc: &mut [i64],
        raw: &mut [f32],
        env: &mut [f32],
    ) -> Result<()> {
        let x = self.obs.to_tensor(obs, n, &self.device)?;
        let (head, _) = self.net.forward(&x)?;
        let head = head.flatten_all()?.to_vec1::<f32>()?;
        match self.net.kind() {
            ActionKind::Discrete(k) => {
                let mut probs = vec![0f32; *k];
                for i in 0..n {
                    softmax(&head[i * k..(i + 1) * k], &mut probs);
                    disc[i] = sample_categorical(&probs, rng) as i64;
                }
            }
            ActionKind::Continuous(b) => {
                let std: Vec<f32> = self
                    .net
                    .log_std()
                    .expect("continuous net has log_std")
                    .exp()?
                    .to_vec1::<f32>()?;
                let d = b.low.len();
                for i in 0..n {
                    for j in 0..d {
                        let a = head[i * d + j] + std[j] * normal(rng);
                        raw[i * d + j] = a;
                        env[i * d + j] = a.clamp(b.low[j], b.high[j]);
                    }
                }
            }
        }
        Ok(())
    }

    /// Loss and per-variable gradients of a finished rollout (`None` gradients when the
    /// loss is not finite).
    fn gradients(&self, ro: &Rollout, cfg: &A3cConfig) -> Result<(Losses, Option<Grads>)> {
        let (n, t) = (ro.n, ro.t_max);
        let dev = &self.device;
        let x = self.obs.to_tensor(ro.obs(), (t + 1) * n, dev)?;
        let (head, values) = self.net.forward(&x)?;
        let steps = t * n;
        let head = head.narrow(0, 0, steps)?;
        let all_values = values.detach().to_vec1::<f32>()?;
        let values = values.narrow(0, 0, steps)?;
        let returns = n_step_returns(
            &ro.rewards,
            &ro.terminated,
            &ro.valid,
            &all_values,
            n,
            cfg.gamma as f32,
        );
        let mask: Vec<f32> = ro.valid.iter().map(|&v| v as u8 as f32).collect();
        let actions = match self.net.kind() {
            ActionKind::Discrete(_) => Tensor::from_slice(&ro.actions_d, steps, dev)?,
            ActionKind::Continuous(b) => {
                Tensor::from_slice(&ro.actions_c, (steps, b.low.len()), dev)?
            }
        };
        let losses = a3c_loss(
            &head,
            &values,
            self.net.log_std(),
            &actions,
            &Tensor::from_vec(returns, steps, dev)?,
            &Tensor::from_vec(mask, steps, dev)?,
            cfg.entropy_beta,
            cfg.value_loss_coef,
        )?;
        let total = losses.total.to_scalar::<f32>()?;
        if !total.is_finite() {
            return Ok((losses, None));
        }
        let grads = losses.total.backward()?;
        let mut out = Vec::with_capacity(self.vars.len());
        for v in &self.vars {
            out.push(match grads.get(v.as_tensor()) {
                Some(g) => Some(g.flatten_all()?.to_vec1::<f32>()?),
                None => None,
            });
        }
        Ok((losses, Some(out)))
    }
}

/// Global L2 norm of gradients, in f64.
fn grad_norm(grads: &[Option<Vec<f32>>]) -> f64 {
    grads
        .iter()
        .flatten()
        .flat_map(|g| g.iter())
        .map(|&x| (x as f64) * (x as f64))
        .sum::<f64>()
        .sqrt()
}

/// Learning rate at global env step `step`.
fn learning_rate(cfg: &A3cConfig, step: u64, total: u64) -> f64 {
    if cfg.anneal_lr && total > 0 {
        cfg.learning_rate * (1.0 - step as f64 / total as f64).max(0.0)
    } else {
        cfg.learning_rate
    }
}

/// Sums of loss parts since the last log row.
#[derive(Debug, Default, Clone, Copy)]
struct LossSums {
    n: u64,
    total: f64,
    policy: f64,
    value: f64,
    entropy: f64,
    value_mean: f64,
}

/// A finished training episode, sent by a worker to the coordinator.
struct EpisodeMsg {
    worker: usize,
    step: u64,
    ret: f64,
    len: u64,
}

/// What workers share: read-mostly config, the shared parameters, counters and the stop
/// signal.
struct Ctx<'a> {
    cfg: &'a A3cConfig,
    total_steps: u64,
    seed: u64,
    obs: ObsSpec,
    kind: ActionKind,
    device: Device,
    params: &'a SharedParams,
    steps: AtomicU64,
    updates: AtomicU64,
    stop: AtomicBool,
    error: Mutex<Option<AgentError>>,
    sums: Mutex<LossSums>,
}

impl Ctx<'_> {
    /// Record the first failure and stop everyone.
    fn fail(&self, err: AgentError) {
        let mut slot = self.error.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(err);
        }
        self.stop.store(true, Ordering::SeqCst);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Worker `w`: repeat {copy shared -> local, roll out `t_max` steps on `venv`, gradients,
/// clip, shared RMSProp step} until the global step count reaches `total_steps` or another
/// worker failed. Every env of `venv` counts as one env step per rollout step.
fn worker_loop(ctx: &Ctx, w: usize, mut venv: VecEnv, tx: mpsc::Sender<EpisodeMsg>) -> Result<()> {
    let cfg = ctx.cfg;
    let n = venv.num_envs();
    let local = Local::new(cfg, ctx.obs, ctx.kind.clone(), &ctx.device)?;
    let obs_len = venv.single_obs_len();
    let dim = ctx.kind.dim();
    let mut ro = Rollout::new(n, cfg.t_max, obs_len, &ctx.kind);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
        ctx.seed ^ 0xa3c0_5eed ^ (w as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
    );
    let (mut disc, mut raw, mut clipped) =
        (vec![0i64; n], vec![0f32; n * dim], vec![0f32; n * dim]);
    let mut prev_done = vec![false; n];
    // Env i of worker w gets seed `seed + w + i` (sync: w = 0, async: i = 0), as the
    // VecEnv of the DQN loop seeds its envs.
    let start = ctx.steps.load(Ordering::SeqCst);
    venv.reset(Some(ctx.seed.wrapping_add(start).wrapping_add(w as u64)))?;
    let mut step = start;
    let worker_err = |step: u64, reason: String| AgentError::Worker {
        worker: w,
        step,
        reason,
    };
    loop {
        if ctx.stopped() || ctx.steps.load(Ordering::Relaxed) >= ctx.total_steps {
            return Ok(());
        }
        ctx.params.copy_to(&local.vars)?;
        ro.clear();
        for _ in 0..cfg.t_max {
            if ctx.stopped() {
                return Ok(());
            }
            ro.push_obs(venv.obs());
            ro.valid.extend(prev_done.iter().map(|d| !d));
            local.act(venv.obs(), n, &mut rng, &mut disc, &mut raw, &mut clipped)?;
            match &ctx.kind {
                ActionKind::Discrete(_) => {
                    ro.actions_d.extend(disc.iter().map(|&a| a as u32));
                    venv.step(BatchActions::Discrete(&disc))?;
                }
                ActionKind::Continuous(_) => {
                    ro.actions_c.extend_from_slice(&raw);
                    venv.step(BatchActions::Continuous(&clipped))?;
                }
            }
            ro.rewards.extend_from_slice(venv.rewards());
            ro.terminated.extend_from_slice(venv.terminated());
            for (i, d) in prev_done.iter_mut().enumerate() {
                *d = venv.terminated()[i] || venv.truncated()[i];
            }
            step = ctx.steps.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
            for (i, stats) in venv.finished_episodes() {
                // The coordinator may be gone only after a failure; nothing to report then.
                let _ = tx.send(EpisodeMsg {
                    worker: w + i,
                    step,
                    ret: stats.episode_return,
                    len: stats.length,
                });
            }
        }
        ro.push_obs(venv.obs());
        let (losses, grads) = local.gradients(&ro, cfg)?;
        let total = losses.total.to_scalar::<f32>()?;
        let Some(grads) = grads else {
            let update = ctx.updates.load(Ordering::Relaxed) + 1;
            return Err(worker_err(
                step,
                format!("loss became {total} (around gradient update {update})"),
            ));
        };
        let norm = grad_norm(&grads);
        if !norm.is_finite() {
            return Err(worker_err(step, format!("gradient norm became {norm}")));
        }
        let scale = match cfg.max_grad_norm {
            Some(max) if norm > max => (max / (norm + 1e-6)) as f32,
            _ => 1.0,
        };
        ctx.params.rmsprop_step(
            &grads,
            RmsPropStep {
                lr: learning_rate(cfg, step, ctx.total_steps) as f32,
                alpha: cfg.rmsprop_alpha as f32,
                eps: cfg.rmsprop_eps as f32,
                scale,
            },
        );
        ctx.updates.fetch_add(1, Ordering::Relaxed);
        let mut s = ctx.sums.lock().unwrap_or_else(|e| e.into_inner());
        s.n += 1;
        s.total += total as f64;
        s.policy += losses.policy as f64;
        s.value += losses.value as f64;
        s.entropy += losses.entropy as f64;
        s.value_mean += losses.value_mean as f64;
    }
}

/// Run [`worker_loop`] on this thread with single-threaded tensor math (a 1-thread rayon
/// pool, which `perception`'s kernels size themselves by), turning errors and panics into
/// a stop naming the worker.
fn run_worker(ctx: &Ctx, w: usize, venv: VecEnv, tx: mpsc::Sender<EpisodeMsg>, one_thread: bool) {
    // Denormals cost ~100x per operation on x86 (see `perception::denormals`): flushed on
    // this thread and on the worker's pool thread.
    let _ftz = perception::denormals::flush_denormals();
    let body = || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            worker_loop(ctx, w, venv, tx)
        }))
    };
    let outcome = if one_thread {
        match rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .start_handler(|_| std::mem::forget(perception::denormals::flush_denormals()))
            .build()
        {
            Ok(pool) => pool.install(body),
            Err(e) => Ok(Err(AgentError::Config(format!(
                "cannot build worker {w}'s thread pool: {e}"
            )))),
        }
    } else {
        body()
    };
    let step = ctx.steps.load(Ordering::SeqCst);
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e @ AgentError::Worker { .. })) => ctx.fail(e),
        Ok(Err(e)) => ctx.fail(AgentError::Worker {
            worker: w,
            step,
            reason: e.to_string(),
        }),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic payload".into());
            ctx.fail(AgentError::Worker {
                worker: w,
                step,
                reason: format!("panicked: {msg}"),
            })
        }
    }
}

// ---------------------------------------------------------------------------------------
// 6. The run: workers + coordinator
// ---------------------------------------------------------------------------------------

/// Key prefix of the shared RMSProp statistics in `last.safetensors`' training state.
const SQ_PREFIX: &str = "rmsprop_sq/";

/// Train A3C/A2C as configured by `cfg` (`algo = "a3c"`) into `dir`; the entry point of
/// [`crate::train::train`] and [`crate::train::resume`] for A3C configs. `make_env(i)`
/// builds training env `i < workers`, `make_env(workers)` the evaluation env.
pub(crate) fn train_run(
    cfg: &TrainConfig,
    dir: &Path,
    progress: &mut dyn Progress,
    make_env: &dyn Fn(usize) -> sim::Result<Box<dyn Env>>,
    resume: bool,
) -> Result<TrainSummary> {
    let a3c = cfg.a3c.clone().unwrap_or_default();
    a3c.validate()?;
    let k = a3c.workers;
    // Envs are built here (make_env need not be Sync) and moved into the workers.
    let venvs: Vec<VecEnv> = match a3c.mode {
        A3cMode::Async => (0..k)
            .map(|w| VecEnv::new(vec![make_env(w)?], 1))
            .collect::<sim::Result<_>>()?,
        A3cMode::Sync => vec![VecEnv::from_fn(k, cfg.env_threads, make_env)?],
    };
    let mut eval_env = make_env(k)?;
    let space = venvs[0].single_observation_space().clone();
    let kind = ActionKind::from_space(venvs[0].single_action_space())?;
    let obs = ObsSpec::from_space(&space)?;
    let device = cfg.device.device()?;
    let env_id = venvs[0].id().to_string();

    // The coordinator's copy of the network: initial weights, snapshots for evaluation and
    // checkpoints.
    let varmap = VarMap::new();
    let net = ActorCritic::new(
        &a3c,
        &obs,
        kind.clone(),
        VarBuilder::from_varmap(&varmap, DType::F32, &device),
    )?;
    init_weights(&varmap, cfg.seed)?;
    let named = sorted_vars(&varmap);
    let vars: Vec<Var> = named.iter().map(|(_, v)| v.clone()).collect();
    let shared = SharedParams::new(&named)?;

    std::fs::create_dir_all(dir).map_err(|e| AgentError::io(dir, e))?;
    if !resume && dir.join("metrics.csv").exists() {
        return Err(AgentError::Config(format!(
            "{} already holds a run (metrics.csv exists); choose a new run directory",
            dir.display()
        )));
    }
    let (start_step, start_updates, mut best) = if resume {
        let last = dir.join("last.safetensors");
        let meta = checkpoint::load_into(&last, &varmap, &device)?;
        if meta.agent != "a3c" || meta.env_id != env_id {
            return Err(AgentError::checkpoint(
                &last,
                format!(
                    "is a `{}` checkpoint of `{}`; the config trains a3c on `{env_id}`",
                    meta.agent, meta.env_id
                ),
            ));
        }
        let state = checkpoint::load_state(&last, &device)?;
        shared.copy_from(&vars)?;
        for (i, name) in shared.names().iter().enumerate() {
            let sq = state.get(&format!("{SQ_PREFIX}{name}")).ok_or_else(|| {
                AgentError::checkpoint(&last, format!("has no RMSProp statistics for `{name}`"))
            })?;
            let sq = sq.flatten_all()?.to_vec1::<f32>()?;
            shared.set(i, &shared.param(i), Some(&sq));
        }
        let best = checkpoint::read_meta(&dir.join("best.safetensors"))
            .ok()
            .and_then(|m| m.eval_return);
        (meta.step, meta.updates, best)
    } else {
        (0, 0, None)
    };
    // Written on resume too, so that the next plain resume keeps this config.
    checkpoint::write_atomic(&dir.join("config.toml"), cfg.resolved_toml()?.as_bytes())?;
    let append = resume;
    let mut metrics = csv(
        &dir.join("metrics.csv"),
        "step,updates,episodes,wall_secs,steps_per_sec,loss,policy_loss,value_loss,entropy,value_mean,recent_return",
        append,
    )?;
    let mut episodes_csv = csv(
        &dir.join("episodes.csv"),
        "step,worker,return,length",
        append,
    )?;
    let mut eval_csv = csv(&dir.join("eval.csv"), EVAL_CSV_HEADER, append)?;
    let mut tb = EventWriter::create(dir)?;
    let mut meta = CheckpointMeta {
        dqn: DqnConfig::default(),
        a3c: Some(a3c.clone()),
        action_bounds: kind.bounds().cloned(),
        ..CheckpointMeta::for_run(cfg, "a3c", &env_id, &space, kind.dim())
    };

    let ctx = Ctx {
        cfg: &a3c,
        total_steps: cfg.total_steps,
        seed: cfg.seed,
        obs,
        kind: kind.clone(),
        device: device.clone(),
        params: &shared,
        steps: AtomicU64::new(start_step),
        updates: AtomicU64::new(start_updates),
        stop: AtomicBool::new(false),
        error: Mutex::new(None),
        sums: Mutex::new(LossSums::default()),
    };

    // Snapshot the shared parameters into the coordinator's net and save them.
    // `with_state` adds the shared RMSProp statistics that a resume needs (`last` only).
    let save =
        |meta: &mut CheckpointMeta, path: &Path, step: u64, eval: Option<f64>, with_state: bool| {
            meta.step = step;
            meta.updates = ctx.updates.load(Ordering::SeqCst);
            meta.eval_return = eval;
            meta.created_unix_secs = checkpoint::now_unix_secs();
            if !with_state {
                checkpoint::save(path, &varmap, meta)
            } else {
                let mut state = Vec::with_capacity(vars.len());
                for (i, name) in shared.names().iter().enumerate() {
                    let t = Tensor::from_vec(shared.sq(i), vars[i].shape(), &Device::Cpu)?;
                    state.push((format!("{SQ_PREFIX}{name}"), t));
                }
                checkpoint::save_with_state(path, &varmap, state, meta)
            }
        };
    let mut eval_policy = A3cPolicy::from_net(
        "a3c".into(),
        net.clone(),
        obs,
        &device,
        a3c.eval_greedy,
        cfg.seed,
    );
    let mut run_eval =
        |step: u64, k: u64, start: Instant, tb: &mut EventWriter| -> Result<EvalReport> {
            shared.copy_to(&vars)?;
            eval_policy.rng = sim::seeding::rng_from_seed(cfg.seed ^ k);
            let seed = cfg.seed.wrapping_add(1_000_003).wrapping_add(k * 7919);
            let report = evaluate(&mut eval_policy, eval_env.as_mut(), cfg.eval.episodes, seed)?;
            log_eval(
                &mut eval_csv,
                &dir.join("eval.csv"),
                tb,
                step,
                start.elapsed().as_secs_f64(),
                &report,
            )?;
            Ok(report)
        };

    let start = Instant::now();
    let after = |every: u64| (start_step / every.max(1) + 1) * every;
    let (mut next_log, mut next_eval, mut next_ckpt, mut next_snapshot) = (
        after(cfg.log_every),
        after(cfg.eval.every_steps),
        after(cfg.checkpoint_every),
        after(cfg.snapshot_every),
    );
    let mut evals = start_step;
    let mut episodes = 0u64;
    let mut recent = Recent::new(100);
    let mut per_worker: Vec<Recent> = (0..k).map(|_| Recent::new(100)).collect();
    let one_thread = a3c.mode == A3cMode::Async && device.is_cpu();

    let coordinated: Result<()> = std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<EpisodeMsg>();
        for (w, venv) in venvs.into_iter().enumerate() {
            let tx = tx.clone();
            let ctx = &ctx;
            std::thread::Builder::new()
                .name(format!("a3c-worker-{w}"))
                .spawn_scoped(scope, move || run_worker(ctx, w, venv, tx, one_thread))
                .map_err(|e| AgentError::Config(format!("cannot start worker {w}: {e}")))?;
        }
        drop(tx);
        let mut finished = false;
        // On any coordinator error, stop the workers before the scope joins them.
        let result = (|| -> Result<()> {
            while !finished {
                // Wait for the first message (or a tick), then drain what is queued, so a
                // stream of episodes never starves the checks below.
                let mut next = rx.recv_timeout(Duration::from_millis(20));
                loop {
                    match next {
                        Ok(m) => {
                            episodes += 1;
                            recent.push(m.ret);
                            if let Some(r) = per_worker.get_mut(m.worker) {
                                r.push(m.ret);
                            }
                            writeln!(episodes_csv, "{},{},{},{}", m.step, m.worker, m.ret, m.len)
                                .map_err(|e| AgentError::io(dir.join("episodes.csv"), e))?;
                        }
                        Err(mpsc::RecvTimeoutError::Timeout) => break,
                        Err(mpsc::RecvTimeoutError::Disconnected) => {
                            finished = true;
                            break;
                        }
                    }
                    next = rx.try_recv().map_err(|e| match e {
                        mpsc::TryRecvError::Empty => mpsc::RecvTimeoutError::Timeout,
                        mpsc::TryRecvError::Disconnected => mpsc::RecvTimeoutError::Disconnected,
                    });
                }
                if ctx.stopped() {
                    return Ok(());
                }
                let step = ctx.steps.load(Ordering::SeqCst);
                if step >= next_log || finished {
                    while next_log <= step {
                        next_log += cfg.log_every;
                    }
                    let sums =
                        std::mem::take(&mut *ctx.sums.lock().unwrap_or_else(|e| e.into_inner()));
                    let wall = start.elapsed().as_secs_f64();
                    let mean = |x: f64| (sums.n > 0).then(|| x / sums.n as f64);
                    let status = TrainStatus {
                        step,
                        total_steps: cfg.total_steps,
                        updates: ctx.updates.load(Ordering::SeqCst),
                        episodes,
                        wall_secs: wall,
                        steps_per_sec: (step - start_step) as f64 / wall.max(1e-9),
                        epsilon: 0.0,
                        loss: mean(sums.total).map(|x| x as f32),
                        q_mean: mean(sums.value_mean).map(|x| x as f32),
                        recent_return: recent.mean(),
                    };
                    let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
                    writeln!(
                        metrics,
                        "{step},{},{episodes},{wall:.3},{:.1},{},{},{},{},{},{}",
                        status.updates,
                        status.steps_per_sec,
                        opt(mean(sums.total)),
                        opt(mean(sums.policy)),
                        opt(mean(sums.value)),
                        opt(mean(sums.entropy)),
                        opt(mean(sums.value_mean)),
                        opt(status.recent_return),
                    )
                    .and_then(|_| metrics.flush())
                    .and_then(|_| episodes_csv.flush())
                    .map_err(|e| AgentError::io(dir.join("metrics.csv"), e))?;
                    tb.scalar("train/steps_per_sec", step, status.steps_per_sec)?;
                    for (tag, v) in [
                        ("train/loss", mean(sums.total)),
                        ("train/policy_loss", mean(sums.policy)),
                        ("train/value_loss", mean(sums.value)),
                        ("train/entropy", mean(sums.entropy)),
                        ("train/value_mean", mean(sums.value_mean)),
                        ("train/episode_return_100", status.recent_return),
                    ] {
                        if let Some(v) = v {
                            tb.scalar(tag, step, v)?;
                        }
                    }
                    if k > 1 {
                        for (w, r) in per_worker.iter().enumerate() {
                            if let Some(m) = r.mean() {
                                tb.scalar(&format!("worker{w}/episode_return_100"), step, m)?;
                            }
                        }
                    }
                    tb.flush()?;
                    progress.update(&status);
                }
                if finished {
                    break;
                }
                if cfg.eval.every_steps > 0 && step >= next_eval {
                    while next_eval <= step {
                        next_eval += cfg.eval.every_steps;
                    }
                    evals += 1;
                    let report = run_eval(step, evals, start, &mut tb)?;
                    progress.evaluated(step, &report);
                    if ctx.stopped() {
                        return Ok(());
                    }
                    if best.is_none_or(|b| report.mean() > b) {
                        best = Some(report.mean());
                        save(&mut meta, &dir.join("best.safetensors"), step, best, false)?;
                        progress.message(&format!(
                            "step {step}: new best mean return {:.3}",
                            report.mean()
                        ));
                    }
                }
                let last_due = cfg.checkpoint_every > 0 && step >= next_ckpt;
                let snapshot_due = cfg.snapshot_every > 0 && step >= next_snapshot;
                while last_due && next_ckpt <= step {
                    next_ckpt += cfg.checkpoint_every;
                }
                while snapshot_due && next_snapshot <= step {
                    next_snapshot += cfg.snapshot_every;
                }
                if last_due || snapshot_due {
                    // One copy of the shared parameters serves both files.
                    shared.copy_to(&vars)?;
                }
                if last_due && !ctx.stopped() {
                    save(&mut meta, &dir.join("last.safetensors"), step, None, true)?;
                }
                if snapshot_due && !ctx.stopped() {
                    let path = crate::train::snapshot_path(dir, step)?;
                    save(&mut meta, &path, step, None, false)?;
                }
            }
            Ok(())
        })();
        if result.is_err() {
            ctx.stop.store(true, Ordering::SeqCst);
        }
        result
    });
    let _ = episodes_csv.flush();
    if let Some(err) = ctx.error.lock().unwrap_or_else(|e| e.into_inner()).take() {
        return Err(err);
    }
    coordinated?;

    let step = ctx.steps.load(Ordering::SeqCst);
    evals += 1;
    let final_eval = run_eval(step, evals, start, &mut tb)?;
    progress.evaluated(step, &final_eval);
    if best.is_none_or(|b| final_eval.mean() > b) {
        best = Some(final_eval.mean());
        save(&mut meta, &dir.join("best.safetensors"), step, best, false)?;
    }
    shared.copy_to(&vars)?;
    save(&mut meta, &dir.join("last.safetensors"), step, None, true)?;
    Ok(TrainSummary {
        steps: step,
        updates: ctx.updates.load(Ordering::SeqCst),
        episodes,
        wall_secs: start.elapsed().as_secs_f64(),
        final_eval,
        best_eval: best,
        run_dir: dir.to_path_buf(),
    })
}

// ---------------------------------------------------------------------------------------
// 7. The trained agent as a Policy
// ---------------------------------------------------------------------------------------

/// An actor-critic network acting greedily (argmax of the probabilities, or the Gaussian
/// mean) or by sampling its policy. [`Policy::scores`] shows the action probabilities of
/// the last observation (discrete actions; `None` for continuous ones).
pub struct A3cPolicy {
    name: String,
    net: ActorCritic,
    obs: ObsSpec,
    device: Device,
    greedy: bool,
    rng: sim::seeding::EnvRng,
    probs: Vec<f32>,
}

impl A3cPolicy {
    fn from_net(
        name: String,
        net: ActorCritic,
        obs: ObsSpec,
        device: &Device,
        greedy: bool,
        seed: u64,
    ) -> Self {
        let probs = match net.kind() {
            ActionKind::Discrete(n) => vec![0.0; *n],
            ActionKind::Continuous(_) => Vec::new(),
        };
        Self {
            name,
            net,
            obs,
            device: device.clone(),
            greedy,
            rng: sim::seeding::rng_from_seed(seed),
            probs,
        }
    }

    /// Load a policy from an `agent = "a3c"` checkpoint; the network is rebuilt from its
    /// metadata. With `expect_env`, a checkpoint trained on another env is refused.
    /// `greedy`: `None` takes the checkpoint's `eval_greedy`.
    pub fn load(
        path: &Path,
        device: &Device,
        expect_env: Option<&str>,
        greedy: Option<bool>,
        seed: u64,
    ) -> Result<Self> {
        let meta = checkpoint::read_meta(path)?;
        if let Some(env) = expect_env
            && env != meta.env_id
        {
            return Err(AgentError::checkpoint(
                path,
                format!("trained on `{}`, not on `{env}`", meta.env_id),
            ));
        }
        let Some(cfg) = meta.a3c.as_ref().filter(|_| meta.agent == "a3c") else {
            return Err(AgentError::checkpoint(
                path,
                format!("is a `{}` checkpoint, not an a3c one", meta.agent),
            ));
        };
        let obs = meta
            .obs_spec()
            .map_err(|e| AgentError::checkpoint(path, e.to_string()))?;
        let kind = ActionKind::from_meta(meta.n_actions, meta.action_bounds.as_ref());
        let vars = VarMap::new();
        let net = ActorCritic::new(
            cfg,
            &obs,
            kind,
            VarBuilder::from_varmap(&vars, DType::F32, device),
        )
        .map_err(|e| AgentError::checkpoint(path, format!("cannot rebuild its network: {e}")))?;
        checkpoint::load_into(path, &vars, device)?;
        Ok(Self::from_net(
            path.display().to_string(),
            net,
            obs,
            device,
            greedy.unwrap_or(cfg.eval_greedy),
            seed,
        ))
    }

    /// Action probabilities of the last observation (discrete actions).
    pub fn probabilities(&self) -> &[f32] {
        &self.probs
    }
}

impl Policy for A3cPolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn act(&mut self, obs: Obs<'_>) -> sim::Result<OwnedAction> {
        let to_sim = |e: String| sim::SimError::Invalid(format!("a3c policy: {e}"));
        let net = &self.net;
        let head = crate::acting::forward_one("a3c", &self.obs, obs, &self.device, |x| {
            net.forward(x).map(|(head, _)| head)
        })?;
        match self.net.kind() {
            ActionKind::Discrete(_) => {
                softmax(&head, &mut self.probs);
                let a = if self.greedy {
                    argmax(&self.probs)
                } else {
                    sample_categorical(&self.probs, &mut self.rng)
                };
                Ok(OwnedAction::Discrete(a as i64))
            }
            ActionKind::Continuous(b) => {
                let std = if self.greedy {
                    vec![0.0; b.low.len()]
                } else {
                    self.net
                        .log_std()
                        .expect("continuous net has log_std")
                        .exp()
                        .and_then(|t| t.to_vec1::<f32>())
                        .map_err(|e| to_sim(e.to_string()))?
                };
                Ok(OwnedAction::Continuous(
                    head.iter()
                        .enumerate()
                        .map(|(j, &m)| {
                            (m + std[j] * normal(&mut self.rng)).clamp(b.low[j], b.high[j])
                        })
                        .collect(),
                ))
            }
        }
    }

    fn scores(&self) -> Option<ActionScores<'_>> {
        (!self.probs.is_empty()).then_some(ActionScores::Probabilities(&self.probs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_defaults_are_named() {
        let c = A3cConfig::default();
        assert_eq!((c.t_max, c.gamma, c.entropy_beta), (5, 0.99, 0.01));
        assert_eq!((c.rmsprop_alpha, c.learning_rate), (0.99, 7e-4));
        assert_eq!(c.max_grad_norm, Some(0.5));
        c.validate().unwrap();
    }

    #[test]
    fn config_errors_name_the_field() {
        let err = toml::from_str::<A3cConfig>("tmax = 5")
            .unwrap_err()
            .to_string();
        assert!(err.contains("tmax"), "{err}");
        let err = toml::from_str::<A3cConfig>("mode = \"both\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("both"), "{err}");
        for (cfg, field) in [
            (
                A3cConfig {
                    t_max: 0,
                    ..Default::default()
                },
                "a3c.t_max",
            ),
            (
                A3cConfig {
                    workers: 0,
                    ..Default::default()
                },
                "a3c.workers",
            ),
            (
                A3cConfig {
                    rmsprop_alpha: 1.0,
                    ..Default::default()
                },
                "a3c.rmsprop_alpha",
            ),
            (
                A3cConfig {
                    max_grad_norm: Some(0.0),
                    ..Default::default()
                },
                "a3c.max_grad_norm",
            ),
            (
                A3cConfig {
                    gamma: 1.5,
                    ..Default::default()
                },
                "a3c.gamma",
            ),
        ] {
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
    }

    /// Two envs, three steps. Env 0: reward 1, then a termination (reward 2), then the
    /// autoreset step (masked); bootstrap V = 10. Env 1: reward 1, a truncation (reward 2)
    /// whose final observation is worth 5 (the value of the masked autoreset step), then a
    /// new episode's first step (reward 3) bootstrapped from V = 10.
    #[test]
    fn n_step_returns_by_hand() {
        let gamma = 0.5;
        // index t * 2 + i
        let rewards = [1.0, 1.0, 2.0, 2.0, 0.0, 0.0];
        let terminated = [false, false, true, false, false, false];
        let valid = [true, true, true, true, false, false];
        // values of obs_0..obs_3 per env; obs_2 of env 1 is the truncated episode's final one.
        let values = [0.0, 0.0, 0.0, 0.0, 7.0, 5.0, 10.0, 10.0];
        let r = n_step_returns(&rewards, &terminated, &valid, &values, 2, gamma);
        // env 0: t1 = 2 (terminal), t0 = 1 + 0.5 * 2 = 2; env 1: t1 = 2 + 0.5 * 5 = 4.5,
        // t0 = 1 + 0.5 * 4.5 = 3.25.
        assert_eq!(r, vec![2.0, 3.25, 2.0, 4.5, 0.0, 0.0]);

        // A valid step after the autoreset one: bootstraps from the rollout's end.
        let rewards = [0.0, 3.0];
        let r = n_step_returns(
            &rewards,
            &[false, false],
            &[false, true],
            &[9.0, 1.0, 10.0],
            1,
            0.5,
        );
        assert_eq!(r, vec![0.0, 3.0 + 0.5 * 10.0]);
    }

    #[test]
    fn categorical_loss_by_hand() {
        let dev = Device::Cpu;
        // Two valid steps and one masked one, two actions.
        let logits = Tensor::new(&[[0f32, 0.0], [(3f32).ln(), 0.0], [5.0, -5.0]], &dev).unwrap();
        let values = Tensor::new(&[1f32, 2.0, 100.0], &dev).unwrap();
        let actions = Tensor::new(&[0u32, 1, 0], &dev).unwrap();
        let returns = Tensor::new(&[3f32, 1.0, 0.0], &dev).unwrap();
        let mask = Tensor::new(&[1f32, 1.0, 0.0], &dev).unwrap();
        let l = a3c_loss(&logits, &values, None, &actions, &returns, &mask, 0.01, 0.5).unwrap();
        // step 0: p = (0.5, 0.5), logp(a0) = ln 0.5, A = 2, H = ln 2.
        // step 1: p = (0.75, 0.25), logp(a1) = ln 0.25, A = -1,
        //         H = -(0.75 ln 0.75 + 0.25 ln 0.25).
        let h1 = -(0.75f64 * 0.75f64.ln() + 0.25 * 0.25f64.ln());
        let policy = -((0.5f64).ln() * 2.0 - (0.25f64).ln()) / 2.0;
        let entropy = ((2f64).ln() + h1) / 2.0;
        let value = (4.0 + 1.0) / 2.0;
        assert!(
            (l.policy as f64 - policy).abs() < 1e-5,
            "{} vs {policy}",
            l.policy
        );
        assert!((l.entropy as f64 - entropy).abs() < 1e-5);
        assert!((l.value as f64 - value).abs() < 1e-5);
        assert!((l.value_mean - 1.5).abs() < 1e-6);
        let total = policy - 0.01 * entropy + 0.5 * value;
        let got = l.total.to_scalar::<f32>().unwrap() as f64;
        assert!((got - total).abs() < 1e-5, "{got} vs {total}");
    }

    #[test]
    fn gaussian_loss_by_hand() {
        let dev = Device::Cpu;
        let mean = Tensor::new(&[[0f32], [1.0]], &dev).unwrap();
        let log_std = Tensor::new(&[(2f32).ln()], &dev).unwrap();
        let values = Tensor::new(&[0f32, 0.0], &dev).unwrap();
        // unclipped samples: z = (2 - 0) / 2 = 1 and (1 - 1) / 2 = 0
        let actions = Tensor::new(&[[2f32], [1.0]], &dev).unwrap();
        let returns = Tensor::new(&[1f32, -1.0], &dev).unwrap();
        let mask = Tensor::new(&[1f32, 1.0], &dev).unwrap();
        let l = a3c_loss(
            &mean,
            &values,
            Some(&log_std),
            &actions,
            &returns,
            &mask,
            0.0,
            1.0,
        )
        .unwrap();
        let c = -(2f64).ln() - 0.5 * LN_2PI;
        let (lp0, lp1) = (c - 0.5, c);
        let policy = -(lp0 - lp1) / 2.0; // = 0.25
        assert!((l.policy as f64 - policy).abs() < 1e-5, "{}", l.policy);
        let entropy = (2f64).ln() + 0.5 * (1.0 + LN_2PI);
        assert!((l.entropy as f64 - entropy).abs() < 1e-5);
        assert!((l.value - 1.0).abs() < 1e-6);
    }

    #[test]
    fn shared_rmsprop_step_by_hand() {
        let dev = Device::Cpu;
        let a = Var::from_tensor(&Tensor::new(&[1f32, -2.0], &dev).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::new(&[0.5f32], &dev).unwrap()).unwrap();
        let shared =
            SharedParams::new(&[("a".into(), a.clone()), ("b".into(), b.clone())]).unwrap();
        shared.set(0, &[1.0, -2.0], Some(&[0.5, 0.0]));
        let k = RmsPropStep {
            lr: 0.1,
            alpha: 0.9,
            eps: 0.01,
            scale: 0.5,
        };
        shared.rmsprop_step(&[Some(vec![2.0, -4.0]), None], k);
        // a0: g = 1, v = 0.9 * 0.5 + 0.1 * 1 = 0.55, p = 1 - 0.1 / sqrt(0.56)
        // a1: g = -2, v = 0.4, p = -2 + 0.2 / sqrt(0.41)
        let p = shared.param(0);
        assert!((p[0] - (1.0 - 0.1 / 0.56f32.sqrt())).abs() < 1e-6, "{p:?}");
        assert!((p[1] - (-2.0 + 0.2 / 0.41f32.sqrt())).abs() < 1e-6, "{p:?}");
        let v = shared.sq(0);
        assert!(
            (v[0] - 0.55).abs() < 1e-6 && (v[1] - 0.4).abs() < 1e-6,
            "{v:?}"
        );
        // No gradient: untouched.
        assert_eq!((shared.param(1), shared.sq(1)), (vec![0.5], vec![0.0]));
        // Copy out into local vars.
        shared.copy_to(&[a.clone(), b]).unwrap();
        assert_eq!(a.as_tensor().to_vec1::<f32>().unwrap(), p);
    }

    #[test]
    fn network_shapes_and_near_uniform_start() {
        let vm = VarMap::new();
        let cfg = A3cConfig {
            encoder: EncoderKind::Mlp,
            mlp_hidden: vec![8],
            ..Default::default()
        };
        let net = ActorCritic::new(
            &cfg,
            &ObsSpec::Vector { dim: 3 },
            ActionKind::Discrete(4),
            VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu),
        )
        .unwrap();
        init_weights(&vm, 3).unwrap();
        let x = Tensor::rand(-1f32, 1f32, (5, 3), &Device::Cpu).unwrap();
        let (h, v) = net.forward(&x).unwrap();
        assert_eq!((h.dims(), v.dims()), (&[5usize, 4][..], &[5usize][..]));
        let max = h
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(max < 0.1, "initial logits should be small: {max}");
        let names: Vec<String> = sorted_vars(&vm).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "encoder.fc0.bias",
                "encoder.fc0.weight",
                "policy.bias",
                "policy.weight",
                "value.bias",
                "value.weight"
            ]
        );
    }

    #[test]
    fn updates_reduce_the_loss_on_a_fixed_rollout() {
        let cfg = A3cConfig {
            encoder: EncoderKind::Mlp,
            mlp_hidden: vec![16],
            anneal_lr: false,
            ..Default::default()
        };
        let obs = ObsSpec::Vector { dim: 2 };
        let kind = ActionKind::Discrete(3);
        let local = Local::new(&cfg, obs, kind.clone(), &Device::Cpu).unwrap();
        let vm = VarMap::new();
        ActorCritic::new(
            &cfg,
            &obs,
            kind.clone(),
            VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu),
        )
        .unwrap();
        init_weights(&vm, 1).unwrap();
        let shared = SharedParams::new(&sorted_vars(&vm)).unwrap();
        let mut ro = Rollout::new(2, 5, 2, &kind);
        for t in 0..6 {
            for i in 0..2 {
                ro.obs_f32.extend_from_slice(&[t as f32 / 5.0, i as f32]);
            }
        }
        for t in 0..5 {
            for i in 0..2 {
                ro.actions_d.push(((t + i) % 3) as u32);
                ro.rewards.push(if i == 0 { 1.0 } else { -1.0 });
                ro.terminated.push(t == 2);
                ro.valid.push(t != 3);
            }
        }
        let mut first = None;
        let mut last = 0.0;
        for _ in 0..200 {
            shared.copy_to(&local.vars).unwrap();
            let (l, g) = local.gradients(&ro, &cfg).unwrap();
            let g = g.unwrap();
            let norm = grad_norm(&g);
            assert!(norm > 0.0);
            first.get_or_insert(l.value);
            last = l.value;
            shared.rmsprop_step(
                &g,
                RmsPropStep {
                    lr: 1e-3,
                    alpha: 0.99,
                    eps: 1e-5,
                    scale: 1.0,
                },
            );
        }
        assert!(
            last < first.unwrap() * 0.5,
            "value loss {first:?} -> {last}"
        );
    }
}
