//! The fast convolution as a candle custom op: forward and a hand-written backward, so candle's
//! autograd sees one node per layer (conv + bias + optional ReLU) instead of four.

use super::ConvSpec;
use super::kernels::{self, Geom};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Storage, Tensor, bail};

/// `y = conv(x, w) + b`, then ReLU when `relu`; `x (B, C, H, W)`, `w (O, C, k, k)`, `b (O)`.
pub(crate) struct ConvOp {
    pub spec: ConvSpec,
    pub relu: bool,
}

/// A contiguous `f32` slice of a CPU storage, or an error naming `what`.
fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        bail!("fast conv: {what} must be f32, got {:?}", s.dtype())
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => bail!("fast conv: {what} must be contiguous"),
    }
}

fn cpu_f32<'a>(s: &'a Storage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    match s {
        Storage::Cpu(c) => f32_slice(c, l, what),
        _ => bail!("fast conv: {what} is not on the CPU"),
    }
}

impl ConvOp {
    /// The call's geometry on the *padded* input, after checking every shape.
    fn geom(&self, x: &[usize], w: &[usize], b: &[usize]) -> Result<Geom> {
        let s = self.spec;
        let [batch, c, h, wd] = *x else {
            bail!("fast conv: input must be (B, C, H, W), got {x:?}")
        };
        if c != s.in_channels {
            bail!(
                "fast conv: input has {c} channels, the layer expects {}",
                s.in_channels
            )
        }
        let want = [s.out_channels, s.in_channels, s.kernel, s.kernel];
        if w != want {
            bail!("fast conv: weight has shape {w:?}, expected {want:?}")
        }
        if b != [s.out_channels] {
            bail!(
                "fast conv: bias has shape {b:?}, expected [{}]",
                s.out_channels
            )
        }
        let (Some(oh), Some(ow)) = (s.out_size(h), s.out_size(wd)) else {
            bail!(
                "fast conv: input {h}x{wd} (padding {}) is smaller than the {}x{} kernel",
                s.padding,
                s.kernel,
                s.kernel
            )
        };
        Ok(Geom {
            batch,
            c,
            h: h + 2 * s.padding,
            w: wd + 2 * s.padding,
            o: s.out_channels,
            k: s.kernel,
            s: s.stride,
            oh,
            ow,
        })
    }
}

/// Copies `(B, C, H, W)` into the middle of a zeroed `(B, C, H + 2p, W + 2p)` buffer.
fn pad(x: &[f32], g: &Geom, p: usize) -> Vec<f32> {
    let (h, w) = (g.h - 2 * p, g.w - 2 * p);
    let mut out = vec![0f32; g.batch * g.in_len()];
    for (src, dst) in x.chunks_exact(h * w).zip(out.chunks_exact_mut(g.h * g.w)) {
        for (r, row) in src.chunks_exact(w).enumerate() {
            dst[(r + p) * g.w + p..][..w].copy_from_slice(row);
        }
    }
    out
}

/// The inverse of [`pad`] for gradients: the middle of each padded plane.
fn crop(dxp: &[f32], g: &Geom, p: usize) -> Vec<f32> {
    let (h, w) = (g.h - 2 * p, g.w - 2 * p);
    let mut out = Vec::with_capacity(g.batch * g.c * h * w);
    for plane in dxp.chunks_exact(g.h * g.w) {
        for r in 0..h {
            out.extend_from_slice(&plane[(r + p) * g.w + p..][..w]);
        }
    }
    out
}

impl CustomOp3 for ConvOp {
    fn name(&self) -> &'static str {
        "pixelgym-conv2d"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.geom(xl.dims(), wl.dims(), bl.dims())?;
        let x = f32_slice(xs, xl, "input")?;
        let w = f32_slice(ws, wl, "weight")?;
        let b = f32_slice(bs, bl, "bias")?;
        let padded;
        let x = if self.spec.padding > 0 {
            padded = pad(x, &g, self.spec.padding);
            &padded[..]
        } else {
            x
        };
        let mut y = vec![0f32; g.batch * g.out_len()];
        kernels::forward(&g, x, w, b, self.relu, &mut y);
        Ok((CpuStorage::F32(y), Shape::from((g.batch, g.o, g.oh, g.ow))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = self.geom(x.dims(), w.dims(), b.dims())?;
        let grad = grad.contiguous()?;
        // The first layer's input is an observation: no one needs its gradient.
        let need_dx = x.track_op();
        let (xs, xl) = x.storage_and_layout();
        let (ws, wl) = w.storage_and_layout();
        let (ys, yl) = res.storage_and_layout();
        let (gs, gl) = grad.storage_and_layout();
        let xv = cpu_f32(&xs, xl, "input")?;
        let wv = cpu_f32(&ws, wl, "weight")?;
        let yv = cpu_f32(&ys, yl, "output")?;
        let gv = cpu_f32(&gs, gl, "output gradient")?;
        let p = self.spec.padding;
        let padded;
        let xv = if p > 0 {
            padded = pad(xv, &g, p);
            &padded[..]
        } else {
            xv
        };
        let mut dw = vec![0f32; g.o * g.kk()];
        let mut db = vec![0f32; g.o];
        let mut dx = need_dx.then(|| vec![0f32; g.batch * g.in_len()]);
        kernels::backward(
            &g,
            xv,
            wv,
            yv,
            gv,
            self.relu,
            &mut dw,
            &mut db,
            dx.as_deref_mut(),
        );
        let dev = x.device();
        let dx = match dx {
            Some(d) => {
                let d = if p > 0 { crop(&d, &g, p) } else { d };
                Some(Tensor::from_vec(d, x.shape(), dev)?)
            }
            None => None,
        };
        Ok((
            dx,
            Some(Tensor::from_vec(dw, w.shape(), dev)?),
            Some(Tensor::from_vec(db, b.shape(), dev)?),
        ))
    }
}
