//! Optimizers for the learners: Adam and RMSProp (with DeepMind's Nature-DQN variant), plus
//! global-norm gradient clipping. Written here rather than taken from candle-nn because
//! candle-nn has no RMSProp, its AdamW always decays weights, and clipping must see every
//! gradient before any parameter moves.

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Which update rule, with its own constants.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// Adam (Kingma & Ba), PyTorch semantics: `eps` is added outside the square root.
    Adam {
        #[serde(default = "default_beta1")]
        beta1: f64,
        #[serde(default = "default_beta2")]
        beta2: f64,
        #[serde(default = "default_adam_eps")]
        eps: f64,
    },
    /// RMSProp with `eps` *inside* the square root, as in DeepMind's DQN code:
    /// `v = alpha v + (1 - alpha) g^2`, centered: `m = alpha m + (1 - alpha) g` and
    /// `denominator = sqrt(v - m^2 + eps)`. The Nature settings are `alpha = 0.95`,
    /// `eps = 0.01`, `centered = true` ([`OptimizerConfig::NATURE_RMSPROP`]).
    RmsProp {
        #[serde(default = "default_alpha")]
        alpha: f64,
        #[serde(default = "default_rms_eps")]
        eps: f64,
        #[serde(default = "default_centered")]
        centered: bool,
    },
}

fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}
fn default_adam_eps() -> f64 {
    1e-8
}
fn default_alpha() -> f64 {
    0.95
}
fn default_rms_eps() -> f64 {
    0.01
}
fn default_centered() -> bool {
    true
}

impl OptimizerConfig {
    /// Nature DQN (Mnih et al. 2015): "squared gradient momentum 0.95, min squared gradient 0.01".
    pub const NATURE_RMSPROP: Self = OptimizerConfig::RmsProp {
        alpha: 0.95,
        eps: 0.01,
        centered: true,
    };
    /// Adam as PyTorch defaults it.
    pub const ADAM: Self = OptimizerConfig::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };
}

/// Per-parameter state of the update rule.
#[derive(Debug)]
enum State {
    Adam { m: Tensor, v: Tensor },
    RmsProp { v: Tensor, m: Option<Tensor> },
}

/// An optimizer over a fixed list of parameters.
#[derive(Debug)]
pub struct Optimizer {
    cfg: OptimizerConfig,
    names: Vec<String>,
    vars: Vec<Var>,
    state: Vec<State>,
    lr: f64,
    steps: u64,
}

impl Optimizer {
    /// Track `vars` (non-float ones are ignored) with learning rate `lr`; their state is
    /// named by position (use [`Optimizer::new_named`] to save and restore it).
    pub fn new(vars: Vec<Var>, cfg: OptimizerConfig, lr: f64) -> Result<Self> {
        let named = vars
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect();
        Self::new_named(named, cfg, lr)
    }

    /// Track named `vars` (non-float ones are ignored) with learning rate `lr`. The names
    /// key the state in [`Optimizer::state_tensors`].
    pub fn new_named(vars: Vec<(String, Var)>, cfg: OptimizerConfig, lr: f64) -> Result<Self> {
        let (names, vars): (Vec<String>, Vec<Var>) = vars
            .into_iter()
            .filter(|(_, v)| v.dtype().is_float())
            .unzip();
        let state = vars
            .iter()
            .map(|v| {
                let z = || v.as_tensor().zeros_like();
                Ok(match cfg {
                    OptimizerConfig::Adam { .. } => State::Adam { m: z()?, v: z()? },
                    OptimizerConfig::RmsProp { centered, .. } => State::RmsProp {
                        v: z()?,
                        m: if centered { Some(z()?) } else { None },
                    },
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            cfg,
            names,
            vars,
            state,
            lr,
            steps: 0,
        })
    }

    /// The moment estimates, named `<var>.m` / `<var>.v`, for checkpoints.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (name, state) in self.names.iter().zip(&self.state) {
            match state {
                State::Adam { m, v } | State::RmsProp { v, m: Some(m) } => {
                    out.push((format!("{name}.m"), m.clone()));
                    out.push((format!("{name}.v"), v.clone()));
                }
                State::RmsProp { v, m: None } => out.push((format!("{name}.v"), v.clone())),
            }
        }
        out
    }

    /// Restore the moments saved by [`Optimizer::state_tensors`] and the step count (for
    /// Adam's bias correction). Every tensor must be present with the right shape.
    pub fn load_state(&mut self, saved: &HashMap<String, Tensor>, steps: u64) -> Result<()> {
        let get = |key: String, like: &Tensor| -> Result<Tensor> {
            let t = saved.get(&key).ok_or_else(|| {
                candle_core::Error::Msg(format!("optimizer state `{key}` missing"))
            })?;
            if t.dims() != like.dims() {
                return Err(candle_core::Error::Msg(format!(
                    "optimizer state `{key}` has shape {:?}, expected {:?}",
                    t.dims(),
                    like.dims()
                )));
            }
            t.to_dtype(like.dtype())?.to_device(like.device())
        };
        let mut restored = Vec::with_capacity(self.state.len());
        for (name, state) in self.names.iter().zip(&self.state) {
            restored.push(match state {
                State::Adam { m, v } => State::Adam {
                    m: get(format!("{name}.m"), m)?,
                    v: get(format!("{name}.v"), v)?,
                },
                State::RmsProp { v, m } => State::RmsProp {
                    v: get(format!("{name}.v"), v)?,
                    m: match m {
                        Some(m) => Some(get(format!("{name}.m"), m)?),
                        None => None,
                    },
                },
            });
        }
        self.state = restored;
        self.steps = steps;
        Ok(())
    }

    /// The learning rate.
    pub fn learning_rate(&self) -> f64 {
        self.lr
    }

    /// Change the learning rate (schedules).
    pub fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Updates taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Global L2 norm of the gradients of the tracked parameters.
    pub fn grad_norm(&self, grads: &GradStore) -> Result<f64> {
        let mut sq = 0f64;
        for var in &self.vars {
            if let Some(g) = grads.get(var.as_tensor()) {
                sq += g
                    .sqr()?
                    .sum_all()?
                    .to_dtype(candle_core::DType::F64)?
                    .to_scalar::<f64>()?;
            }
        }
        Ok(sq.sqrt())
    }

    /// Apply one update from `grads`, first scaling all gradients down so their global norm
    /// is at most `max_norm` (when given). Returns the norm before clipping.
    pub fn step(&mut self, grads: &GradStore, max_norm: Option<f64>) -> Result<f64> {
        let norm = self.grad_norm(grads)?;
        let scale = match max_norm {
            Some(max) if norm > max => max / (norm + 1e-6),
            _ => 1.0,
        };
        self.steps += 1;
        let t = self.steps as i32;
        for (var, state) in self.vars.iter().zip(&mut self.state) {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let g = if scale != 1.0 {
                (g * scale)?
            } else {
                g.clone()
            };
            match (self.cfg, state) {
                (OptimizerConfig::Adam { beta1, beta2, eps }, State::Adam { m, v }) => {
                    *m = ((&*m * beta1)? + (&g * (1.0 - beta1))?)?;
                    *v = ((&*v * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
                    let m_hat = (&*m / (1.0 - beta1.powi(t)))?;
                    let v_hat = (&*v / (1.0 - beta2.powi(t)))?;
                    let update = (m_hat / (v_hat.sqrt()? + eps)?)?;
                    var.set(&(var.as_tensor() - (update * self.lr)?)?)?;
                }
                (OptimizerConfig::RmsProp { alpha, eps, .. }, State::RmsProp { v, m }) => {
                    *v = ((&*v * alpha)? + (g.sqr()? * (1.0 - alpha))?)?;
                    let mut denom = v.clone();
                    if let Some(m) = m {
                        *m = ((&*m * alpha)? + (&g * (1.0 - alpha))?)?;
                        denom = (denom - m.sqr()?)?;
                    }
                    let denom = (denom + eps)?.sqrt()?;
                    let update = (g / denom)?;
                    var.set(&(var.as_tensor() - (update * self.lr)?)?)?;
                }
                _ => unreachable!("state built from the same config"),
            }
        }
        Ok(norm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// Minimise (x - 3)^2 from x = 0.
    fn minimise(cfg: OptimizerConfig, lr: f64, steps: usize, clip: Option<f64>) -> f32 {
        let x = Var::new(&[0f32], &Device::Cpu).unwrap();
        let mut opt = Optimizer::new(vec![x.clone()], cfg, lr).unwrap();
        for _ in 0..steps {
            let loss = (x.as_tensor() - 3.0)
                .unwrap()
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap();
            opt.step(&loss.backward().unwrap(), clip).unwrap();
        }
        x.as_tensor().to_vec1::<f32>().unwrap()[0]
    }

    #[test]
    fn adam_and_rmsprop_converge_on_a_quadratic() {
        assert!((minimise(OptimizerConfig::ADAM, 0.1, 300, None) - 3.0).abs() < 0.05);
        assert!((minimise(OptimizerConfig::NATURE_RMSPROP, 0.01, 1000, None) - 3.0).abs() < 0.05);
        let plain = OptimizerConfig::RmsProp {
            alpha: 0.99,
            eps: 1e-8,
            centered: false,
        };
        assert!((minimise(plain, 0.01, 1000, None) - 3.0).abs() < 0.05);
    }

    #[test]
    fn first_adam_step_moves_by_lr() {
        // Bias-corrected Adam's first step is lr * sign(g).
        assert!((minimise(OptimizerConfig::ADAM, 0.5, 1, None) - 0.5).abs() < 1e-4);
    }

    #[test]
    fn clipping_scales_the_gradient_to_max_norm() {
        let x = Var::new(&[0f32, 0.0], &Device::Cpu).unwrap();
        let target = Tensor::new(&[3f32, 4.0], &Device::Cpu).unwrap();
        let loss = (x.as_tensor() - &target)
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap();
        let grads = loss.backward().unwrap(); // gradient (-6, -8), norm 10
        // alpha = 1, eps = 1, not centered: v stays 0, so the update is plain SGD (g / 1).
        let sgd = OptimizerConfig::RmsProp {
            alpha: 1.0,
            eps: 1.0,
            centered: false,
        };
        let mut opt = Optimizer::new(vec![x.clone()], sgd, 1.0).unwrap();
        let norm = opt.step(&grads, Some(1.0)).unwrap();
        assert!((norm - 10.0).abs() < 1e-5);
        let v = x.as_tensor().to_vec1::<f32>().unwrap();
        assert!(
            (v[0] - 0.6).abs() < 1e-5 && (v[1] - 0.8).abs() < 1e-5,
            "{v:?}"
        );
        // Without clipping the same step would move by the full gradient.
        let y = Var::new(&[0f32, 0.0], &Device::Cpu).unwrap();
        let loss = (y.as_tensor() - &target)
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap();
        let mut opt = Optimizer::new(vec![y.clone()], sgd, 1.0).unwrap();
        opt.step(&loss.backward().unwrap(), None).unwrap();
        assert_eq!(y.as_tensor().to_vec1::<f32>().unwrap(), vec![6.0, 8.0]);
    }
}
