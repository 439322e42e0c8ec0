//! Fully connected layers of the encoders, with the same fast CPU path as the convolutions.
//!
//! A [`Dense`] has candle-nn's `Linear` weights (`weight (out, in)`, `bias (out)`, same names
//! and initialisation), so checkpoints are interchangeable. On the CPU with
//! [`ConvImpl::Fast`] its `relu(x W^T + b)` is one custom op with a hand-written backward: the
//! weight gradient comes out contiguous, where candle's `matmul(x, w.t())` hands autograd a
//! transposed gradient whose accumulation is a slow strided add (16% of a Nature DQN step
//! in the profile, for the 3136x512 layer alone).

use crate::conv::kernels::{View, matmul, threads};
use crate::conv::{ConvImpl, default_conv_impl};
use crate::error::{PerceptionError, Result};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Module, Shape, Storage, Tensor, bail};
use candle_nn::VarBuilder;

/// A fully connected layer `(B, in) -> (B, out)`.
#[derive(Debug, Clone)]
pub struct Dense {
    weight: Tensor,
    bias: Tensor,
    imp: ConvImpl,
}

/// Build (or load) a `in_dim -> out_dim` layer from `vb`, with the process-wide kernel
/// choice ([`crate::conv::set_default_conv_impl`]).
pub fn dense(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Dense> {
    dense_with(in_dim, out_dim, default_conv_impl(), vb)
}

/// [`dense`] with an explicit implementation.
pub fn dense_with(in_dim: usize, out_dim: usize, imp: ConvImpl, vb: VarBuilder) -> Result<Dense> {
    if in_dim == 0 || out_dim == 0 {
        return Err(PerceptionError::Shape(format!(
            "a dense layer needs positive sizes, got {in_dim} -> {out_dim}"
        )));
    }
    let weight = vb.get_with_hints(
        (out_dim, in_dim),
        "weight",
        candle_nn::init::DEFAULT_KAIMING_NORMAL,
    )?;
    let bound = 1. / (in_dim as f64).sqrt();
    let bias = vb.get_with_hints(
        out_dim,
        "bias",
        candle_nn::Init::Uniform {
            lo: -bound,
            up: bound,
        },
    )?;
    Ok(Dense { weight, bias, imp })
}

impl Dense {
    /// `(out, in)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// `(out)`.
    pub fn bias(&self) -> &Tensor {
        &self.bias
    }

    /// Output width.
    pub fn out_dim(&self) -> usize {
        self.weight.dims()[0]
    }

    /// A copy of this layer (same weights) that runs `imp`.
    pub fn with_implementation(&self, imp: ConvImpl) -> Self {
        Self {
            imp,
            ..self.clone()
        }
    }

    fn fast_applies(&self, xs: &Tensor) -> bool {
        self.imp == ConvImpl::Fast
            && xs.device().is_cpu()
            && xs.dtype() == DType::F32
            && self.weight.dtype() == DType::F32
            && self.bias.dtype() == DType::F32
            && xs.rank() == 2
    }

    fn candle_forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        xs.matmul(&self.weight.t()?)?.broadcast_add(&self.bias)
    }

    /// `relu(xs W^T + b)`, one kernel and one autograd node on the fast path.
    pub fn forward_relu(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        if self.fast_applies(xs) {
            xs.contiguous()?
                .apply_op3(&self.weight, &self.bias, DenseOp { relu: true })
        } else {
            self.candle_forward(xs)?.relu()
        }
    }
}

impl Module for Dense {
    /// `xs W^T + b` on `(B, in)` inputs.
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        if self.fast_applies(xs) {
            xs.contiguous()?
                .apply_op3(&self.weight, &self.bias, DenseOp { relu: false })
        } else {
            self.candle_forward(xs)
        }
    }
}

struct DenseOp {
    relu: bool,
}

fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        bail!("fast dense: {what} must be f32, got {:?}", s.dtype())
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => bail!("fast dense: {what} must be contiguous"),
    }
}

fn cpu_f32<'a>(s: &'a Storage, l: &Layout, what: &str) -> candle_core::Result<&'a [f32]> {
    match s {
        Storage::Cpu(c) => f32_slice(c, l, what),
        _ => bail!("fast dense: {what} is not on the CPU"),
    }
}

/// `(batch, in, out)` after checking the three shapes.
fn dims(x: &[usize], w: &[usize], b: &[usize]) -> candle_core::Result<(usize, usize, usize)> {
    let ([batch, i], [o, wi], [bo]) = (x, w, b) else {
        bail!("fast dense: expected x (B, in), w (out, in), b (out); got {x:?}, {w:?}, {b:?}")
    };
    if i != wi || o != bo {
        bail!("fast dense: x {x:?}, weight {w:?} and bias {b:?} do not fit together")
    }
    Ok((*batch, *i, *o))
}

impl CustomOp3 for DenseOp {
    fn name(&self) -> &'static str {
        "pixelgym-dense"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (batch, i, o) = dims(xl.dims(), wl.dims(), bl.dims())?;
        let x = f32_slice(xs, xl, "input")?;
        let w = f32_slice(ws, wl, "weight")?;
        let b = f32_slice(bs, bl, "bias")?;
        let mut y = vec![0f32; batch * o];
        // y (B, out) = x (B, in) * W^T (in, out)
        matmul(
            batch,
            o,
            i,
            &mut y,
            (o, 1),
            false,
            View {
                data: x,
                rs: i,
                cs: 1,
            },
            View {
                data: w,
                rs: 1,
                cs: i,
            },
            threads(),
        );
        for row in y.chunks_exact_mut(o) {
            for (v, &bo) in row.iter_mut().zip(b) {
                *v = if self.relu {
                    (*v + bo).max(0.0)
                } else {
                    *v + bo
                };
            }
        }
        Ok((CpuStorage::F32(y), Shape::from((batch, o))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (batch, i, o) = dims(x.dims(), w.dims(), b.dims())?;
        let grad = grad.contiguous()?;
        let (xs, xl) = x.storage_and_layout();
        let (ws, wl) = w.storage_and_layout();
        let (ys, yl) = res.storage_and_layout();
        let (gs, gl) = grad.storage_and_layout();
        let xv = cpu_f32(&xs, xl, "input")?;
        let wv = cpu_f32(&ws, wl, "weight")?;
        let yv = cpu_f32(&ys, yl, "output")?;
        let gv = cpu_f32(&gs, gl, "output gradient")?;
        // dz = dy masked by the ReLU; db = its column sums.
        let mut db = vec![0f32; o];
        let dz: Vec<f32> = if self.relu {
            gv.iter()
                .zip(yv)
                .map(|(&g, &y)| if y > 0.0 { g } else { 0.0 })
                .collect()
        } else {
            gv.to_vec()
        };
        for row in dz.chunks_exact(o) {
            for (d, &v) in db.iter_mut().zip(row) {
                *d += v;
            }
        }
        let t = threads();
        // dW (out, in) = dz^T (out, B) * x (B, in)
        let mut dw = vec![0f32; o * i];
        matmul(
            o,
            i,
            batch,
            &mut dw,
            (i, 1),
            false,
            View {
                data: &dz,
                rs: 1,
                cs: o,
            },
            View {
                data: xv,
                rs: i,
                cs: 1,
            },
            t,
        );
        let dev = x.device();
        let dx = if x.track_op() {
            // dx (B, in) = dz (B, out) * W (out, in)
            let mut dx = vec![0f32; batch * i];
            matmul(
                batch,
                i,
                o,
                &mut dx,
                (i, 1),
                false,
                View {
                    data: &dz,
                    rs: o,
                    cs: 1,
                },
                View {
                    data: wv,
                    rs: i,
                    cs: 1,
                },
                t,
            );
            Some(Tensor::from_vec(dx, x.shape(), dev)?)
        } else {
            None
        };
        Ok((
            dx,
            Some(Tensor::from_vec(dw, w.shape(), dev)?),
            Some(Tensor::from_vec(db, b.shape(), dev)?),
        ))
    }
}
