//! Image operations shared by the wrappers and the native fast paths, and the options of the
//! Atari preprocessing preset. Both paths call the same functions, so the fast path can be
//! proven byte-identical to the wrapped one.
//!
//! All arithmetic is integer: results are exact and identical on every machine.

use crate::error::{Result, SimError};
use serde::{Deserialize, Serialize};

/// Options of the Atari preprocessing preset: Gymnasium's `AtariPreprocessing` followed by a
/// frame stack, with the same names and defaults. (`scale_obs` is absent: observations stay
/// `u8`; the network input layer divides by 255.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AtariPreprocessingConfig {
    /// Up to this many NOOP actions after reset (uniform in `1..=noop_max`; 0 = none).
    pub noop_max: u32,
    /// Emulator frames per agent step; the observation is the max of the last two.
    pub frame_skip: u32,
    /// Side of the square observation.
    pub screen_size: usize,
    /// End the episode (terminated) when a life is lost; reset continues the game.
    pub terminal_on_life_loss: bool,
    /// Grayscale (1 channel) instead of RGB.
    pub grayscale_obs: bool,
    /// Clip rewards to their sign (-1, 0, +1), as in the Nature DQN.
    pub clip_reward: bool,
    /// Number of most recent observations stacked (1 = no stack).
    pub frame_stack: usize,
}

impl Default for AtariPreprocessingConfig {
    fn default() -> Self {
        Self {
            noop_max: 30,
            frame_skip: 4,
            screen_size: 84,
            terminal_on_life_loss: false,
            grayscale_obs: true,
            clip_reward: false,
            frame_stack: 4,
        }
    }
}

impl AtariPreprocessingConfig {
    /// Refuse values that make no sense, naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, msg: &str| {
            Err(SimError::Invalid(format!(
                "atari preprocessing: `{field}` {msg}"
            )))
        };
        if self.frame_skip == 0 {
            return bad("frame_skip", "must be >= 1");
        }
        if self.screen_size == 0 || self.screen_size > 1024 {
            return bad("screen_size", "must be in 1..=1024");
        }
        if self.frame_stack == 0 || self.frame_stack > 64 {
            return bad("frame_stack", "must be in 1..=64");
        }
        Ok(())
    }
}

/// BT.601 luma in 8-bit fixed point: `(77 R + 150 G + 29 B + 128) >> 8`.
#[inline]
pub fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((77 * r as u32 + 150 * g as u32 + 29 * b as u32 + 128) >> 8) as u8
}

/// Convert an RGB (HWC) image to one gray plane. `gray.len()` must be `rgb.len() / 3`.
pub fn rgb_to_gray(rgb: &[u8], gray: &mut [u8]) {
    debug_assert_eq!(rgb.len(), gray.len() * 3);
    for (px, out) in rgb.chunks_exact(3).zip(gray.iter_mut()) {
        *out = luma(px[0], px[1], px[2]);
    }
}

/// Element-wise maximum of two frames of the same size (ALE's max-pool over two frames).
pub fn max_pool(a: &[u8], b: &[u8], out: &mut [u8]) {
    debug_assert!(a.len() == b.len() && a.len() == out.len());
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = x.max(y);
    }
}

/// One output sample of an area resize along one axis: the first input index and the
/// integer overlap weights of the inputs it covers.
#[derive(Debug, Clone)]
struct Taps {
    first: usize,
    weights: Vec<u32>,
}

/// Exact area ("box") resize of `u8` planes, like OpenCV's `INTER_AREA` but in integers.
///
/// Output pixel `j` of an axis of `src` inputs and `dst` outputs covers the input interval
/// `[j*src/dst, (j+1)*src/dst)`; in units of `1/dst` input pixel every overlap is an integer,
/// so the output is `round(sum(w * p) / (src_h * src_w))` exactly. Separable: a vertical pass
/// into a `u32` scratch row set, then a horizontal pass.
#[derive(Debug, Clone)]
pub struct AreaResizer {
    src_h: usize,
    src_w: usize,
    dst_h: usize,
    dst_w: usize,
    rows: Vec<Taps>,
    cols: Vec<Taps>,
    /// `dst_h x src_w` sums of the vertical pass, reused between calls.
    scratch: Vec<u32>,
}

fn axis_taps(src: usize, dst: usize) -> Vec<Taps> {
    (0..dst)
        .map(|j| {
            let (lo, hi) = (j * src, (j + 1) * src);
            let first = lo / dst;
            let last = (hi - 1) / dst;
            let weights = (first..=last)
                .map(|k| {
                    let (a, b) = (k * dst, (k + 1) * dst);
                    (hi.min(b) - lo.max(a)) as u32
                })
                .collect();
            Taps { first, weights }
        })
        .collect()
}

impl AreaResizer {
    /// A resizer from `src_h x src_w` to `dst_h x dst_w` (one channel).
    pub fn new(src_h: usize, src_w: usize, dst_h: usize, dst_w: usize) -> Result<Self> {
        if src_h == 0 || src_w == 0 || dst_h == 0 || dst_w == 0 {
            return Err(SimError::Invalid(format!(
                "area resize {src_h}x{src_w} -> {dst_h}x{dst_w}: sizes must be positive"
            )));
        }
        // Sums are at most 255 * src_h * src_w and must fit in u32.
        if (src_h as u64) * (src_w as u64) * 255 >= u32::MAX as u64 {
            return Err(SimError::Invalid(format!(
                "area resize: source {src_h}x{src_w} is too large"
            )));
        }
        Ok(Self {
            src_h,
            src_w,
            dst_h,
            dst_w,
            rows: axis_taps(src_h, dst_h),
            cols: axis_taps(src_w, dst_w),
            scratch: vec![0; dst_h * src_w],
        })
    }

    /// Output size as `(height, width)`.
    pub fn dst_size(&self) -> (usize, usize) {
        (self.dst_h, self.dst_w)
    }

    /// Resize one plane. `src.len() == src_h * src_w`, `dst.len() == dst_h * dst_w`.
    pub fn resize(&mut self, src: &[u8], dst: &mut [u8]) {
        assert_eq!(
            src.len(),
            self.src_h * self.src_w,
            "area resize: source size"
        );
        assert_eq!(
            dst.len(),
            self.dst_h * self.dst_w,
            "area resize: destination size"
        );
        let w = self.src_w;
        for (taps, acc) in self.rows.iter().zip(self.scratch.chunks_exact_mut(w)) {
            acc.fill(0);
            for (k, &wt) in taps.weights.iter().enumerate() {
                let row = &src[(taps.first + k) * w..(taps.first + k + 1) * w];
                for (a, &p) in acc.iter_mut().zip(row) {
                    *a += wt * p as u32;
                }
            }
        }
        let total = (self.src_h * self.src_w) as u32;
        let half = total / 2;
        for (acc, out_row) in self
            .scratch
            .chunks_exact(w)
            .zip(dst.chunks_exact_mut(self.dst_w))
        {
            for (taps, out) in self.cols.iter().zip(out_row.iter_mut()) {
                let mut sum = 0u32;
                for (k, &wt) in taps.weights.iter().enumerate() {
                    sum += wt * acc[taps.first + k];
                }
                *out = ((sum + half) / total) as u8;
            }
        }
    }

    /// Recompute only the outputs that read input pixels in `[x0, x1) x [y0, y1)`.
    ///
    /// When only those pixels of `src` changed since `dst` was last produced from it, `dst`
    /// afterwards equals a full [`AreaResizer::resize`] of `src`, byte for byte (the same
    /// sums). The arcade fast path uses this to redo just the few outputs that a moving ball
    /// or paddle touched instead of the whole frame.
    pub fn resize_changed(
        &mut self,
        src: &[u8],
        dst: &mut [u8],
        (x0, y0): (usize, usize),
        (x1, y1): (usize, usize),
    ) {
        assert_eq!(
            src.len(),
            self.src_h * self.src_w,
            "area resize: source size"
        );
        assert_eq!(
            dst.len(),
            self.dst_h * self.dst_w,
            "area resize: destination size"
        );
        let (x1, y1) = (x1.min(self.src_w), y1.min(self.src_h));
        if x0 >= x1 || y0 >= y1 {
            return;
        }
        // Outputs whose input interval meets [lo, hi): floor(lo*d/s) .. ceil(hi*d/s).
        let span =
            |lo: usize, hi: usize, s: usize, d: usize| (lo * d / s, (hi * d).div_ceil(s).min(d));
        let (r0, r1) = span(y0, y1, self.src_h, self.dst_h);
        let (c0, c1) = span(x0, x1, self.src_w, self.dst_w);
        let k0 = self.cols[c0].first;
        let k1 = self.cols[c1 - 1].first + self.cols[c1 - 1].weights.len();
        let w = self.src_w;
        let total = (self.src_h * self.src_w) as u32;
        let half = total / 2;
        for j in r0..r1 {
            let taps = &self.rows[j];
            let acc = &mut self.scratch[j * w + k0..j * w + k1];
            acc.fill(0);
            for (k, &wt) in taps.weights.iter().enumerate() {
                let start = (taps.first + k) * w;
                for (a, &p) in acc.iter_mut().zip(&src[start + k0..start + k1]) {
                    *a += wt * p as u32;
                }
            }
            let acc = &self.scratch[j * w..(j + 1) * w];
            let out_row = &mut dst[j * self.dst_w..(j + 1) * self.dst_w];
            for (taps, out) in self.cols[c0..c1].iter().zip(&mut out_row[c0..c1]) {
                let mut sum = 0u32;
                for (k, &wt) in taps.weights.iter().enumerate() {
                    sum += wt * acc[taps.first + k];
                }
                *out = ((sum + half) / total) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_cover_each_output_exactly() {
        for (src, dst) in [(210, 84), (160, 84), (84, 84), (10, 3), (3, 10)] {
            for t in axis_taps(src, dst) {
                assert_eq!(t.weights.iter().sum::<u32>(), src as u32, "{src}->{dst}");
                assert!(t.first + t.weights.len() <= src);
            }
        }
    }

    #[test]
    fn uniform_image_stays_uniform() {
        let mut r = AreaResizer::new(210, 160, 84, 84).unwrap();
        let src = vec![137u8; 210 * 160];
        let mut dst = vec![0u8; 84 * 84];
        r.resize(&src, &mut dst);
        assert!(dst.iter().all(|&v| v == 137));
    }

    #[test]
    fn halving_averages_2x2_blocks_with_rounding() {
        let mut r = AreaResizer::new(2, 4, 1, 2).unwrap();
        let src = [0, 1, 10, 20, 2, 2, 30, 41];
        let mut dst = [0u8; 2];
        r.resize(&src, &mut dst);
        // (0+1+2+2)/4 = 1.25 -> 1 ; (10+20+30+41)/4 = 25.25 -> 25
        assert_eq!(dst, [1, 25]);
    }

    #[test]
    fn fractional_coverage_weights_partial_pixels() {
        // 5 -> 2: output 0 covers inputs 0, 1 and half of 2.
        let mut r = AreaResizer::new(1, 5, 1, 2).unwrap();
        let src = [100, 100, 0, 200, 200];
        let mut dst = [0u8; 2];
        r.resize(&src, &mut dst);
        assert_eq!(dst, [80, 160]); // (100+100+0*0.5)/2.5 = 80 ; (0*0.5+200+200)/2.5 = 160
    }

    #[test]
    fn upscale_replicates() {
        let mut r = AreaResizer::new(1, 2, 1, 4).unwrap();
        let mut dst = [0u8; 4];
        r.resize(&[10, 50], &mut dst);
        assert_eq!(dst, [10, 10, 50, 50]);
    }

    #[test]
    fn gray_and_max_pool() {
        assert_eq!(luma(255, 255, 255), 255);
        assert_eq!(luma(0, 0, 0), 0);
        let mut g = [0u8; 2];
        rgb_to_gray(&[255, 0, 0, 0, 255, 0], &mut g);
        assert_eq!(g, [77, 149]);
        let mut m = [0u8; 3];
        max_pool(&[1, 5, 3], &[4, 2, 3], &mut m);
        assert_eq!(m, [4, 5, 3]);
    }

    #[test]
    fn resizing_only_a_changed_rectangle_equals_a_full_resize() {
        let mut state = 7u32;
        let mut next = move || {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (state >> 8) as usize
        };
        for (sh, sw, dh, dw) in [
            (210, 160, 84, 84),
            (210, 160, 64, 48),
            (20, 30, 7, 11),
            (5, 4, 9, 9),
        ] {
            let mut r = AreaResizer::new(sh, sw, dh, dw).unwrap();
            let mut src: Vec<u8> = (0..sh * sw).map(|_| next() as u8).collect();
            let mut inc = vec![0u8; dh * dw];
            r.resize(&src, &mut inc);
            let mut full = vec![0u8; dh * dw];
            for _ in 0..50 {
                let (x0, y0) = (next() % sw, next() % sh);
                let (x1, y1) = (x0 + 1 + next() % 12, y0 + 1 + next() % 12);
                for y in y0..y1.min(sh) {
                    for x in x0..x1.min(sw) {
                        src[y * sw + x] = next() as u8;
                    }
                }
                r.resize_changed(&src, &mut inc, (x0, y0), (x1, y1));
                r.resize(&src, &mut full);
                assert_eq!(inc, full, "{sh}x{sw} -> {dh}x{dw}");
            }
        }
    }

    #[test]
    fn bad_sizes_are_refused() {
        assert!(AreaResizer::new(0, 10, 5, 5).is_err());
        assert!(AreaResizer::new(100_000, 100_000, 5, 5).is_err());
    }

    #[test]
    fn config_validation_names_the_field() {
        let c = AtariPreprocessingConfig {
            frame_skip: 0,
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("frame_skip"));
    }
}
