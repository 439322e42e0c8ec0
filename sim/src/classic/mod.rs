//! Classic-control and toy envs: CartPole-v1 (Gymnasium-exact) and Catch-v0.
//!
//! Both are cheap enough that agent tests can learn on them in seconds. Their `render`
//! pictures are drawn with the tiny rasterizer below, which needs nothing beyond filled
//! rectangles, convex polygons and discs.

pub mod cartpole;
pub mod catch;

pub use cartpole::{CartPole, CartPoleOptions, CartPoleScripted};
pub use catch::{Catch, CatchOptions, CatchScripted};

/// An RGB colour.
pub(crate) type Rgb = [u8; 3];

/// A mutable view of an RGB (H x W x 3) buffer with a few filled-shape primitives.
/// A pixel is covered when its centre lies inside the shape; coordinates are in pixels,
/// x to the right and y down, so pixel `(c, r)` has its centre at `(c + 0.5, r + 0.5)`.
pub(crate) struct Canvas<'a> {
    pub data: &'a mut [u8],
    pub width: usize,
    pub height: usize,
}

impl Canvas<'_> {
    /// Paint every pixel.
    pub fn fill(&mut self, rgb: Rgb) {
        for px in self.data.chunks_exact_mut(3) {
            px.copy_from_slice(&rgb);
        }
    }

    #[inline]
    fn put(&mut self, c: usize, r: usize, rgb: Rgb) {
        let i = (r * self.width + c) * 3;
        self.data[i..i + 3].copy_from_slice(&rgb);
    }

    /// Pixel columns/rows whose centres lie in `[lo, hi)`, clipped to `0..n`.
    fn span(lo: f64, hi: f64, n: usize) -> std::ops::Range<usize> {
        if lo.is_nan() || hi.is_nan() {
            return 0..0;
        }
        let a = (lo - 0.5).ceil().max(0.0);
        let b = (hi - 0.5).ceil().clamp(0.0, n as f64);
        if a >= b { 0..0 } else { a as usize..b as usize }
    }

    /// Fill the axis-aligned rectangle `[x0, x1) x [y0, y1)`.
    pub fn rect(&mut self, x0: f64, y0: f64, x1: f64, y1: f64, rgb: Rgb) {
        for r in Self::span(y0, y1, self.height) {
            for c in Self::span(x0, x1, self.width) {
                self.put(c, r, rgb);
            }
        }
    }

    /// Fill a convex polygon given by its corners in order (either winding).
    pub fn convex(&mut self, pts: &[(f64, f64)], rgb: Rgb) {
        if pts.len() < 3 {
            return;
        }
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for &(x, y) in pts {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
        for r in Self::span(y0, y1 + 1.0, self.height) {
            let py = r as f64 + 0.5;
            for c in Self::span(x0, x1 + 1.0, self.width) {
                let px = c as f64 + 0.5;
                let (mut pos, mut neg) = (false, false);
                for (i, &(ax, ay)) in pts.iter().enumerate() {
                    let (bx, by) = pts[(i + 1) % pts.len()];
                    let cross = (bx - ax) * (py - ay) - (by - ay) * (px - ax);
                    pos |= cross > 0.0;
                    neg |= cross < 0.0;
                }
                if !(pos && neg) {
                    self.put(c, r, rgb);
                }
            }
        }
    }

    /// Fill the disc of radius `radius` around `(cx, cy)`.
    pub fn disc(&mut self, cx: f64, cy: f64, radius: f64, rgb: Rgb) {
        for r in Self::span(cy - radius, cy + radius + 1.0, self.height) {
            let dy = r as f64 + 0.5 - cy;
            for c in Self::span(cx - radius, cx + radius + 1.0, self.width) {
                let dx = c as f64 + 0.5 - cx;
                if dx * dx + dy * dy <= radius * radius {
                    self.put(c, r, rgb);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(data: &[u8], rgb: Rgb) -> usize {
        data.chunks_exact(3).filter(|p| **p == rgb).count()
    }

    #[test]
    fn rect_covers_pixel_centres_and_clips() {
        let mut buf = vec![0u8; 10 * 8 * 3];
        let mut cv = Canvas {
            data: &mut buf,
            width: 10,
            height: 8,
        };
        cv.rect(2.0, 1.0, 5.0, 3.0, [255, 0, 0]);
        assert_eq!(count(&buf, [255, 0, 0]), 3 * 2);
        let mut cv = Canvas {
            data: &mut buf,
            width: 10,
            height: 8,
        };
        // Far outside on every side: clipped, no panic.
        cv.rect(-100.0, -100.0, 1e9, 1e9, [0, 255, 0]);
        assert_eq!(count(&buf, [0, 255, 0]), 80);
        let mut cv = Canvas {
            data: &mut buf,
            width: 10,
            height: 8,
        };
        cv.rect(f64::NAN, 0.0, 3.0, 3.0, [1, 1, 1]);
        assert_eq!(count(&buf, [1, 1, 1]), 0);
    }

    #[test]
    fn convex_polygon_matches_rect_when_axis_aligned() {
        let mut a = vec![0u8; 12 * 12 * 3];
        let mut b = a.clone();
        Canvas {
            data: &mut a,
            width: 12,
            height: 12,
        }
        .rect(2.0, 3.0, 9.0, 7.0, [9, 9, 9]);
        // Clockwise and counter-clockwise give the same pixels.
        let mut cv = Canvas {
            data: &mut b,
            width: 12,
            height: 12,
        };
        cv.convex(&[(2.0, 3.0), (9.0, 3.0), (9.0, 6.9), (2.0, 6.9)], [9, 9, 9]);
        assert_eq!(a, b);
        let mut c = vec![0u8; 12 * 12 * 3];
        Canvas {
            data: &mut c,
            width: 12,
            height: 12,
        }
        .convex(&[(2.0, 6.9), (9.0, 6.9), (9.0, 3.0), (2.0, 3.0)], [9, 9, 9]);
        assert_eq!(a, c);
    }

    #[test]
    fn disc_is_round_and_symmetric() {
        let mut buf = vec![0u8; 21 * 21 * 3];
        Canvas {
            data: &mut buf,
            width: 21,
            height: 21,
        }
        .disc(10.5, 10.5, 5.0, [7, 7, 7]);
        let n = count(&buf, [7, 7, 7]);
        // Area of a radius-5 disc is ~78.5 pixels.
        assert!((70..=90).contains(&n), "{n}");
        for r in 0..21 {
            for c in 0..21 {
                let i = (r * 21 + c) * 3;
                let j = (r * 21 + (20 - c)) * 3;
                assert_eq!(buf[i], buf[j]);
            }
        }
    }
}
