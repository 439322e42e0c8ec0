//! Optimizers for the learners: Adam and RMSProp (with DeepMind's Nature-DQN variant), plus
//! global-norm gradient clipping. Written here rather than taken from candle-nn because
//! candle-nn has no RMSProp, its AdamW always decays weights, and clipping must see every
//! gradient before any parameter moves.
//!
//! On the CPU (`f32` parameters) the moments live in plain vectors and one fused loop per
//! parameter updates weights and moments in place: no tensor is allocated per step, and the
//! arithmetic is the same sequence of `f32` operations as the tensor formulation (candle's
//! scalar ops are `x * mul + add`), so the weights come out bit for bit equal. Elsewhere
//! (CUDA) the update runs as candle tensor ops.

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, InplaceOp2, Layout, Result, Storage, Tensor, Var};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
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

/// Per-parameter state of the update rule: tensors on a GPU, flat vectors on the CPU.
#[derive(Debug)]
enum State {
    Adam { m: Tensor, v: Tensor },
    RmsProp { v: Tensor, m: Option<Tensor> },
    AdamCpu { m: Vec<f32>, v: Vec<f32> },
    RmsPropCpu { v: Vec<f32>, m: Option<Vec<f32>> },
}

/// True when `var` is updated by the fused CPU loop.
fn fused(var: &Var) -> bool {
    var.device().is_cpu() && var.dtype() == DType::F32
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
        Self::build(vars, cfg, lr, true)
    }

    /// `allow_fused = false` keeps every parameter on the tensor path (tests compare the two).
    fn build(
        vars: Vec<(String, Var)>,
        cfg: OptimizerConfig,
        lr: f64,
        allow_fused: bool,
    ) -> Result<Self> {
        let (names, vars): (Vec<String>, Vec<Var>) = vars
            .into_iter()
            .filter(|(_, v)| v.dtype().is_float())
            .unzip();
        let state = vars
            .iter()
            .map(|v| {
                let z = || v.as_tensor().zeros_like();
                let zv = || vec![0f32; v.elem_count()];
                Ok(match (cfg, allow_fused && fused(v)) {
                    (OptimizerConfig::Adam { .. }, true) => State::AdamCpu { m: zv(), v: zv() },
                    (OptimizerConfig::RmsProp { centered, .. }, true) => State::RmsPropCpu {
                        v: zv(),
                        m: centered.then(zv),
                    },
                    (OptimizerConfig::Adam { .. }, false) => State::Adam { m: z()?, v: z()? },
                    (OptimizerConfig::RmsProp { centered, .. }, false) => State::RmsProp {
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
        for ((name, state), var) in self.names.iter().zip(&self.state).zip(&self.vars) {
            let t = |x: &[f32]| {
                Tensor::from_slice(x, var.shape(), var.device()).expect("state sized like its var")
            };
            match state {
                State::Adam { m, v } | State::RmsProp { v, m: Some(m) } => {
                    out.push((format!("{name}.m"), m.clone()));
                    out.push((format!("{name}.v"), v.clone()));
                }
                State::RmsProp { v, m: None } => out.push((format!("{name}.v"), v.clone())),
                State::AdamCpu { m, v } | State::RmsPropCpu { v, m: Some(m) } => {
                    out.push((format!("{name}.m"), t(m)));
                    out.push((format!("{name}.v"), t(v)));
                }
                State::RmsPropCpu { v, m: None } => out.push((format!("{name}.v"), t(v))),
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
        let get_vec = |key: String, var: &Var| -> Result<Vec<f32>> {
            get(key, var.as_tensor())?.flatten_all()?.to_vec1::<f32>()
        };
        let mut restored = Vec::with_capacity(self.state.len());
        for ((name, state), var) in self.names.iter().zip(&self.state).zip(&self.vars) {
            restored.push(match state {
                State::AdamCpu { .. } => State::AdamCpu {
                    m: get_vec(format!("{name}.m"), var)?,
                    v: get_vec(format!("{name}.v"), var)?,
                },
                State::RmsPropCpu { m, .. } => State::RmsPropCpu {
                    v: get_vec(format!("{name}.v"), var)?,
                    m: match m {
                        Some(_) => Some(get_vec(format!("{name}.m"), var)?),
                        None => None,
                    },
                },
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
                // f32 squares summed in f32 per parameter, as `sqr().sum_all()` does.
                if let Some(s) = with_cpu_f32(g, |g| sum_sq(g) as f64) {
                    sq += s;
                    continue;
                }
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
            // Constants exactly as candle's scalar ops convert them (`f64` math, then `as f32`).
            let rule = match (self.cfg, &mut *state) {
                (OptimizerConfig::Adam { beta1, beta2, eps }, State::AdamCpu { m, v }) => {
                    Some(Fused::Adam {
                        b1: beta1 as f32,
                        omb1: (1.0 - beta1) as f32,
                        b2: beta2 as f32,
                        omb2: (1.0 - beta2) as f32,
                        inv_bc1: (1.0 / (1.0 - beta1.powi(t))) as f32,
                        inv_bc2: (1.0 / (1.0 - beta2.powi(t))) as f32,
                        eps: eps as f32,
                        m: RefCell::new(&mut m[..]),
                        v: RefCell::new(&mut v[..]),
                    })
                }
                (OptimizerConfig::RmsProp { alpha, eps, .. }, State::RmsPropCpu { v, m }) => {
                    Some(Fused::RmsProp {
                        alpha: alpha as f32,
                        oma: (1.0 - alpha) as f32,
                        eps: eps as f32,
                        v: RefCell::new(&mut v[..]),
                        m: RefCell::new(m.as_deref_mut()),
                    })
                }
                _ => None,
            };
            if let Some(rule) = rule {
                let op = FusedStep {
                    rule,
                    scale: (scale != 1.0).then_some(scale as f32),
                    lr: self.lr as f32,
                };
                var.as_tensor().inplace_op2(&g.contiguous()?, &op)?;
                continue;
            }
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

/// `f(slice)` when `t` is a contiguous `f32` tensor on the CPU, `None` otherwise.
fn with_cpu_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Option<R> {
    let (storage, layout) = t.storage_and_layout();
    match (&*storage, layout.contiguous_offsets()) {
        (Storage::Cpu(CpuStorage::F32(v)), Some((a, b))) => Some(f(&v[a..b])),
        _ => None,
    }
}

/// Sum of squares in `f32`, 16 independent lanes so the loop vectorises.
fn sum_sq(g: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let chunks = g.chunks_exact(16);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x * x;
        }
    }
    acc.iter().sum::<f32>() + tail.iter().map(|x| x * x).sum::<f32>()
}

/// The moments of one parameter and the rule's `f32` constants, for [`FusedStep`].
enum Fused<'a> {
    Adam {
        b1: f32,
        omb1: f32,
        b2: f32,
        omb2: f32,
        inv_bc1: f32,
        inv_bc2: f32,
        eps: f32,
        m: RefCell<&'a mut [f32]>,
        v: RefCell<&'a mut [f32]>,
    },
    RmsProp {
        alpha: f32,
        oma: f32,
        eps: f32,
        v: RefCell<&'a mut [f32]>,
        m: RefCell<Option<&'a mut [f32]>>,
    },
}

/// One optimizer update of a parameter, in place, as a candle in-place op whose source is the
/// gradient. Every `x * c` below is written `x * c + 0.0` because that is what candle's
/// scalar ops compute (`affine(c, 0)`), keeping the result bit-identical to the tensor path.
struct FusedStep<'a> {
    rule: Fused<'a>,
    /// Gradient clipping factor, when clipping applies this step.
    scale: Option<f32>,
    lr: f32,
}

impl InplaceOp2 for FusedStep<'_> {
    fn name(&self) -> &'static str {
        "pixelgym-fused-optimizer-step"
    }

    fn cpu_fwd(
        &self,
        ps: &mut CpuStorage,
        pl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> Result<()> {
        let (CpuStorage::F32(p), CpuStorage::F32(g)) = (ps, gs) else {
            candle_core::bail!("fused optimizer step needs f32 parameter and gradient")
        };
        let (Some((pa, pb)), Some((ga, gb))) = (pl.contiguous_offsets(), gl.contiguous_offsets())
        else {
            candle_core::bail!("fused optimizer step needs contiguous parameter and gradient")
        };
        let (p, g) = (&mut p[pa..pb], &g[ga..gb]);
        if p.len() != g.len() {
            candle_core::bail!("gradient has {} elements, parameter {}", g.len(), p.len())
        }
        let lr = self.lr;
        let grad = |g: f32| match self.scale {
            Some(s) => g * s + 0.0,
            None => g,
        };
        match &self.rule {
            Fused::Adam {
                b1,
                omb1,
                b2,
                omb2,
                inv_bc1,
                inv_bc2,
                eps,
                m,
                v,
            } => {
                let (mut m, mut v) = (m.borrow_mut(), v.borrow_mut());
                for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                    let g = grad(g);
                    *m = (*m * b1 + 0.0) + (g * omb1 + 0.0);
                    *v = (*v * b2 + 0.0) + ((g * g) * omb2 + 0.0);
                    let m_hat = *m * inv_bc1 + 0.0;
                    let v_hat = *v * inv_bc2 + 0.0;
                    let update = m_hat / (v_hat.sqrt() * 1.0 + eps);
                    *p -= update * lr + 0.0;
                }
            }
            Fused::RmsProp {
                alpha,
                oma,
                eps,
                v,
                m,
            } => {
                let (mut v, mut m) = (v.borrow_mut(), m.borrow_mut());
                match m.as_deref_mut() {
                    Some(m) => {
                        for (((p, &g), v), m) in
                            p.iter_mut().zip(g).zip(v.iter_mut()).zip(m.iter_mut())
                        {
                            let g = grad(g);
                            *v = (*v * alpha + 0.0) + ((g * g) * oma + 0.0);
                            *m = (*m * alpha + 0.0) + (g * oma + 0.0);
                            let denom = (*v - *m * *m) * 1.0 + eps;
                            *p -= (g / denom.sqrt()) * lr + 0.0;
                        }
                    }
                    None => {
                        for ((p, &g), v) in p.iter_mut().zip(g).zip(v.iter_mut()) {
                            let g = grad(g);
                            *v = (*v * alpha + 0.0) + ((g * g) * oma + 0.0);
                            *p -= (g / (*v * 1.0 + eps).sqrt()) * lr + 0.0;
                        }
                    }
                }
            }
        }
        Ok(())
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

    /// Random-ish gradients from a nonlinear loss so the moments see varied values.
    fn run_steps(
        allow_fused: bool,
        cfg: OptimizerConfig,
        clip: Option<f64>,
    ) -> (Vec<f32>, Vec<(String, Vec<f32>)>) {
        let init: Vec<f32> = (0..1000)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0)
            .collect();
        let x = Var::new(init.as_slice(), &Device::Cpu).unwrap();
        let mut opt =
            Optimizer::build(vec![("x".into(), x.clone())], cfg, 0.01, allow_fused).unwrap();
        assert_eq!(
            matches!(
                opt.state[0],
                State::AdamCpu { .. } | State::RmsPropCpu { .. }
            ),
            allow_fused
        );
        for _ in 0..25 {
            let t = x.as_tensor();
            let loss = ((t.sin().unwrap() * t)
                .unwrap()
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                + t.sum_all().unwrap())
            .unwrap();
            opt.step(&loss.backward().unwrap(), clip).unwrap();
        }
        let state = opt
            .state_tensors()
            .into_iter()
            .map(|(k, t)| (k, t.to_vec1::<f32>().unwrap()))
            .collect();
        (x.as_tensor().to_vec1::<f32>().unwrap(), state)
    }

    #[test]
    fn fused_cpu_step_is_bit_identical_to_the_tensor_ops() {
        let rules = [
            OptimizerConfig::ADAM,
            OptimizerConfig::NATURE_RMSPROP,
            OptimizerConfig::RmsProp {
                alpha: 0.99,
                eps: 1e-8,
                centered: false,
            },
        ];
        for cfg in rules {
            for clip in [None, Some(0.5)] {
                let fused = run_steps(true, cfg, clip);
                let tensor = run_steps(false, cfg, clip);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&fused.0),
                    bits(&tensor.0),
                    "{cfg:?} clip {clip:?}: weights"
                );
                assert_eq!(fused.1.len(), tensor.1.len());
                for ((kf, vf), (kt, vt)) in fused.1.iter().zip(&tensor.1) {
                    assert_eq!(kf, kt);
                    assert_eq!(bits(vf), bits(vt), "{cfg:?} clip {clip:?}: state {kf}");
                }
            }
        }
    }

    #[test]
    fn fused_state_saves_and_restores() {
        let x = Var::new(&[1f32, -2.0, 3.0], &Device::Cpu).unwrap();
        let mut opt = Optimizer::new(vec![x.clone()], OptimizerConfig::ADAM, 0.1).unwrap();
        let loss = x.as_tensor().sqr().unwrap().sum_all().unwrap();
        opt.step(&loss.backward().unwrap(), None).unwrap();
        let saved: HashMap<String, Tensor> = opt.state_tensors().into_iter().collect();
        let mut fresh = Optimizer::new(vec![x.clone()], OptimizerConfig::ADAM, 0.1).unwrap();
        fresh.load_state(&saved, opt.steps()).unwrap();
        for (k, t) in fresh.state_tensors() {
            assert_eq!(
                t.to_vec1::<f32>().unwrap(),
                saved[&k].to_vec1::<f32>().unwrap(),
                "{k}"
            );
        }
        let mut bad = saved.clone();
        bad.insert(
            "0.m".into(),
            Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap(),
        );
        assert!(fresh.load_state(&bad, 1).is_err());
    }
}
