//! Raw CPU kernels of the fast convolution on contiguous `f32` slices: im2col / col2im and a
//! safe wrapper over the `gemm` crate (the same gemm candle's CPU matmul calls, used directly
//! so we choose strides, accumulate into existing buffers and never allocate per call).
//!
//! Layouts: activations are NCHW (`(B, C, H, W)`), weights `(O, C, k, k)` = `(O, K)` with
//! `K = C k k`. The im2col matrix of one sample is `(P, K)` with `P = OH OW` output pixels:
//! row `p` holds the receptive field of pixel `p` in weight order, so each kernel row is one
//! contiguous copy of `k` floats from the input.

use gemm::Parallelism;
use std::cell::RefCell;

/// Geometry of one convolution call (unpadded, square kernel and stride).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geom {
    pub batch: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub k: usize,
    pub s: usize,
    pub oh: usize,
    pub ow: usize,
}

impl Geom {
    /// Reduction length `C k k` (one weight row).
    pub fn kk(&self) -> usize {
        self.c * self.k * self.k
    }
    /// Output pixels per channel.
    pub fn p(&self) -> usize {
        self.oh * self.ow
    }
    /// Input elements per sample.
    pub fn in_len(&self) -> usize {
        self.c * self.h * self.w
    }
    /// Output elements per sample.
    pub fn out_len(&self) -> usize {
        self.o * self.p()
    }
    /// Samples per gemm in the backward pass: enough that the gemm's reduction (weight
    /// gradient) or row count (input gradient) is a few hundred long even when a layer's
    /// maps are small (7x7), without growing the scratch past what stays in L2.
    fn group(&self) -> usize {
        256usize.div_ceil(self.p().max(1)).clamp(1, 16)
    }
}

/// A row-major or strided matrix view: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

/// `dst (m x n) = [dst +] lhs (m x k) * rhs (k x n)`. `dst` is given by slice and
/// `(row stride, col stride)`. Panics (an internal bug, not bad input) if a view would read
/// or write outside its slice.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    (dst_rs, dst_cs): (usize, usize),
    accumulate: bool,
    lhs: View<'_>,
    rhs: View<'_>,
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    let extent = |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs;
    assert!(
        extent(m, n, dst_rs, dst_cs) < dst.len(),
        "gemm dst out of bounds"
    );
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    dst[i * dst_rs + j * dst_cs] = 0.0;
                }
            }
        }
        return;
    }
    assert!(
        extent(m, k, lhs.rs, lhs.cs) < lhs.data.len(),
        "gemm lhs out of bounds"
    );
    assert!(
        extent(k, n, rhs.rs, rhs.cs) < rhs.data.len(),
        "gemm rhs out of bounds"
    );
    let par = if threads > 1 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    // SAFETY: the asserts above keep every index the gemm touches inside the three slices;
    // `dst` is borrowed mutably, so it aliases neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

/// Panics (an internal bug) unless every window of `g` lies inside one `(C, H, W)` sample of
/// `x_len` floats and the patch matrix fits in `col_len`: the checks the unchecked copies
/// below rely on.
fn check_windows(g: &Geom, x_len: usize, col_len: usize) {
    assert!(g.oh >= 1 && g.ow >= 1 && g.k >= 1);
    assert!((g.oh - 1) * g.s + g.k <= g.h && (g.ow - 1) * g.s + g.k <= g.w);
    assert!(x_len >= g.in_len() && col_len >= g.p() * g.kk());
}

/// Row by row copy of every window (`k` floats per kernel row; a fixed `N` lets the
/// compiler emit plain vector moves for the kernel widths we ship).
fn im2col_k<const N: usize>(g: &Geom, x: &[f32], col: &mut [f32]) {
    check_windows(g, x.len(), col.len());
    let (k, s, plane) = (g.k, g.s, g.h * g.w);
    let n = if N == 0 { k } else { N };
    let xp = x.as_ptr();
    let mut dst = col.as_mut_ptr();
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let base = oy * s * g.w + ox * s;
            for c in 0..g.c {
                for ki in 0..k {
                    // SAFETY: `check_windows` bounds every read by the sample and the P*K
                    // writes by `col`; the two slices do not overlap (`&` vs `&mut`).
                    unsafe {
                        std::ptr::copy_nonoverlapping(xp.add(c * plane + base + ki * g.w), dst, n);
                        dst = dst.add(n);
                    }
                }
            }
        }
    }
}

fn col2im_k<const N: usize>(g: &Geom, col: &[f32], dx: &mut [f32]) {
    check_windows(g, dx.len(), col.len());
    let (k, s, plane) = (g.k, g.s, g.h * g.w);
    let n = if N == 0 { k } else { N };
    let dp = dx.as_mut_ptr();
    let mut src = col.as_ptr();
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let base = oy * s * g.w + ox * s;
            for c in 0..g.c {
                for ki in 0..k {
                    // SAFETY: as in `im2col_k`, with the roles of the slices swapped.
                    unsafe {
                        let d = dp.add(c * plane + base + ki * g.w);
                        for j in 0..n {
                            *d.add(j) += *src.add(j);
                        }
                        src = src.add(n);
                    }
                }
            }
        }
    }
}

/// One sample's input `(C, H, W)` to its `(P, K)` patch matrix.
pub(crate) fn im2col(g: &Geom, x: &[f32], col: &mut [f32]) {
    match g.k {
        3 => im2col_k::<3>(g, x, col),
        4 => im2col_k::<4>(g, x, col),
        5 => im2col_k::<5>(g, x, col),
        8 => im2col_k::<8>(g, x, col),
        _ => im2col_k::<0>(g, x, col),
    }
}

/// Adds a `(P, K)` patch-gradient matrix back onto one sample's `(C, H, W)` input gradient.
pub(crate) fn col2im(g: &Geom, col: &[f32], dx: &mut [f32]) {
    match g.k {
        3 => col2im_k::<3>(g, col, dx),
        4 => col2im_k::<4>(g, col, dx),
        5 => col2im_k::<5>(g, col, dx),
        8 => col2im_k::<8>(g, col, dx),
        _ => col2im_k::<0>(g, col, dx),
    }
}

thread_local! {
    /// Per-thread scratch (patch matrix, transposed output gradient), grown to the largest
    /// layer once and then reused, so a training step allocates no scratch.
    static SCRATCH: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

fn with_scratch<R>(a: usize, b: usize, f: impl FnOnce(&mut [f32], &mut [f32]) -> R) -> R {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        let (va, vb) = &mut *s;
        if va.len() < a {
            va.resize(a, 0.0);
        }
        if vb.len() < b {
            vb.resize(b, 0.0);
        }
        f(&mut va[..a], &mut vb[..b])
    })
}

/// Threads for the tensor math: rayon's pool, which `RAYON_NUM_THREADS` sizes (candle reads
/// the same variable).
pub(crate) fn threads() -> usize {
    rayon::current_num_threads().max(1)
}

/// Splits `0..batch` into at most `parts` contiguous chunks.
fn chunks(batch: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    let parts = parts.clamp(1, batch.max(1));
    let per = batch.div_ceil(parts);
    (0..parts)
        .map(|i| (i * per).min(batch)..((i + 1) * per).min(batch))
        .filter(|r| !r.is_empty())
        .collect()
}

/// Forward pass of a batch: `y = conv(x, w) + b`, then ReLU when `relu`. `x` is
/// `(B, C, H, W)`, `w` `(O, K)`, `b` `(O)`, `y` `(B, O, OH, OW)`.
pub(crate) fn forward(g: &Geom, x: &[f32], w: &[f32], b: &[f32], relu: bool, y: &mut [f32]) {
    let t = threads();
    let (il, ol) = (g.in_len(), g.out_len());
    let one = |xb: &[f32], yb: &mut [f32], gemm_threads: usize| {
        with_scratch(g.p() * g.kk(), 0, |col, _| {
            im2col(g, xb, col);
            // y_b (O, P) = W (O, K) * col^T (K, P)
            matmul(
                g.o,
                g.p(),
                g.kk(),
                yb,
                (g.p(), 1),
                false,
                View {
                    data: w,
                    rs: g.kk(),
                    cs: 1,
                },
                View {
                    data: col,
                    rs: 1,
                    cs: g.kk(),
                },
                gemm_threads,
            );
        });
        bias_act(yb, b, g.p(), relu);
    };
    if t > 1 && g.batch > 1 {
        use rayon::prelude::*;
        let parts = chunks(g.batch, t);
        let mut ys: Vec<&mut [f32]> = Vec::with_capacity(parts.len());
        let mut rest = y;
        for r in &parts {
            let (head, tail) = rest.split_at_mut(r.len() * ol);
            ys.push(head);
            rest = tail;
        }
        parts.into_par_iter().zip(ys).for_each(|(r, yc)| {
            for (i, bi) in r.enumerate() {
                one(&x[bi * il..][..il], &mut yc[i * ol..][..ol], 1);
            }
        });
    } else {
        for bi in 0..g.batch {
            one(&x[bi * il..][..il], &mut y[bi * ol..][..ol], t);
        }
    }
}

/// `y[o, :] += b[o]`, then `max(., 0)` when `relu`, for one `(O, P)` sample.
fn bias_act(y: &mut [f32], b: &[f32], p: usize, relu: bool) {
    for (row, &bo) in y.chunks_exact_mut(p).zip(b) {
        if relu {
            for v in row {
                *v = (*v + bo).max(0.0);
            }
        } else {
            for v in row {
                *v += bo;
            }
        }
    }
}

/// Gradients of one batch. `dy` is the gradient of the layer's output `y` (post-ReLU when
/// `relu`, in which case `y` gives the mask: candle's ReLU passes gradient where `y > 0`).
/// Writes `dw (O, K)` and `db (O)` (overwritten), and `dx (B, C, H, W)` when given
/// (must be zeroed by the caller).
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    g: &Geom,
    x: &[f32],
    w: &[f32],
    y: &[f32],
    dy: &[f32],
    relu: bool,
    dw: &mut [f32],
    db: &mut [f32],
    dx: Option<&mut [f32]>,
) {
    let t = threads();
    let parts = chunks(g.batch, t);
    let (wl, il) = (g.o * g.kk(), g.in_len());
    let gemm_threads = if parts.len() > 1 { 1 } else { t };
    let run =
        |r: std::ops::Range<usize>, dw: &mut [f32], db: &mut [f32], dx: Option<&mut [f32]>| {
            backward_chunk(g, r, x, w, y, dy, relu, dw, db, dx, gemm_threads)
        };
    if parts.len() == 1 {
        let dx = dx.map(|d| &mut d[..g.batch * il]);
        run(0..g.batch, dw, db, dx);
        return;
    }
    use rayon::prelude::*;
    // Chunk 0 writes straight into dw/db; the others into partials summed afterwards.
    let mut partial = vec![0f32; (parts.len() - 1) * (wl + g.o)];
    let mut dxs: Vec<Option<&mut [f32]>> = Vec::with_capacity(parts.len());
    match dx {
        Some(mut rest) => {
            for r in &parts {
                let (head, tail) = rest.split_at_mut(r.len() * il);
                dxs.push(Some(head));
                rest = tail;
            }
        }
        None => dxs.extend(parts.iter().map(|_| None)),
    }
    let mut outs: Vec<(&mut [f32], &mut [f32])> = vec![(&mut *dw, &mut *db)];
    for chunk in partial.chunks_exact_mut(wl + g.o) {
        let (a, b) = chunk.split_at_mut(wl);
        outs.push((a, b));
    }
    parts
        .into_par_iter()
        .zip(outs)
        .zip(dxs)
        .for_each(|((r, (dw, db)), dx)| run(r, dw, db, dx));
    for chunk in partial.chunks_exact(wl + g.o) {
        let (a, b) = chunk.split_at(wl);
        for (d, s) in dw.iter_mut().zip(a) {
            *d += *s;
        }
        for (d, s) in db.iter_mut().zip(b) {
            *d += *s;
        }
    }
}

/// The backward pass of samples `r`, into `dw`/`db` (overwritten) and the chunk's `dx`.
#[allow(clippy::too_many_arguments)]
fn backward_chunk(
    g: &Geom,
    r: std::ops::Range<usize>,
    x: &[f32],
    w: &[f32],
    y: &[f32],
    dy: &[f32],
    relu: bool,
    dw: &mut [f32],
    db: &mut [f32],
    mut dx: Option<&mut [f32]>,
    gemm_threads: usize,
) {
    let (p, kk, o) = (g.p(), g.kk(), g.o);
    let (ol, il) = (g.out_len(), g.in_len());
    let group = g.group();
    db.fill(0.0);
    let mut first = true;
    let start = r.start;
    let mut b0 = r.start;
    while b0 < r.end {
        let n = group.min(r.end - b0);
        let gp = n * p;
        with_scratch(gp * kk, o * gp, |col, dzt| {
            // dz^T (O, n P): the masked output gradient of the group, channel-major, and the
            // bias gradient on the way.
            for i in 0..n {
                let bi = b0 + i;
                let dyb = &dy[bi * ol..][..ol];
                let yb = &y[bi * ol..][..ol];
                for oc in 0..o {
                    let src = &dyb[oc * p..][..p];
                    let dst = &mut dzt[oc * gp + i * p..][..p];
                    let mut sum = 0f32;
                    if relu {
                        let ys = &yb[oc * p..][..p];
                        for ((d, &s), &yv) in dst.iter_mut().zip(src).zip(ys) {
                            let v = if yv > 0.0 { s } else { 0.0 };
                            *d = v;
                            sum += v;
                        }
                    } else {
                        for (d, &s) in dst.iter_mut().zip(src) {
                            *d = s;
                            sum += s;
                        }
                    }
                    db[oc] += sum;
                }
                im2col(g, &x[bi * il..][..il], &mut col[i * p * kk..][..p * kk]);
            }
            // dW (O, K) [+]= dz^T (O, nP) * col (nP, K)
            matmul(
                o,
                kk,
                gp,
                dw,
                (kk, 1),
                !first,
                View {
                    data: dzt,
                    rs: gp,
                    cs: 1,
                },
                View {
                    data: col,
                    rs: kk,
                    cs: 1,
                },
                gemm_threads,
            );
            first = false;
            if let Some(dx) = dx.as_deref_mut() {
                // dcol (nP, K) = dz (nP, O) * W (O, K), into the patch buffer, then scattered.
                matmul(
                    gp,
                    kk,
                    o,
                    col,
                    (kk, 1),
                    false,
                    View {
                        data: dzt,
                        rs: 1,
                        cs: gp,
                    },
                    View {
                        data: w,
                        rs: kk,
                        cs: 1,
                    },
                    gemm_threads,
                );
                for i in 0..n {
                    let bi = b0 + i - start;
                    col2im(g, &col[i * p * kk..][..p * kk], &mut dx[bi * il..][..il]);
                }
            }
        });
        b0 += n;
    }
    if first {
        dw.fill(0.0);
    }
}
