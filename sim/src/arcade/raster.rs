//! The arcade rasterizer: a rarely changing *backdrop* (background, walls, bricks, scores)
//! plus a few moving *sprites* (paddles, ball), all axis-aligned rectangles in palette colours.
//!
//! A [`Layer`] keeps its last picture and, while the backdrop is unchanged, only restores the
//! rectangles its sprites covered last time and paints the new ones. It also reports which
//! rectangles changed ([`Dirty`]), so the preprocessed fast path re-pools and re-resizes only
//! those. The picture is always exactly "backdrop, then sprites in order", whatever the
//! history, so incremental and full redraws give the same bytes.

use super::Rgb;

/// Screen height in pixels (ALE).
pub const HEIGHT: usize = 210;
/// Screen width in pixels (ALE).
pub const WIDTH: usize = 160;
/// Sprite slots per game; a slot keeps its identity from frame to frame.
pub const MAX_SPRITES: usize = 4;

/// A rectangle in screen pixels, `x, y` its top-left corner; may lie partly off screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
}

impl Rect {
    /// A rectangle from its corner and size.
    pub const fn new(x: i32, y: i32, w: i32, h: i32) -> Self {
        Self { x, y, w, h }
    }

    /// The on-screen part as `[x0, x1) x [y0, y1)`, or `None` when nothing is visible.
    pub fn clip(&self) -> Option<Clip> {
        let x0 = self.x.max(0);
        let y0 = self.y.max(0);
        let x1 = (self.x + self.w).min(WIDTH as i32);
        let y1 = (self.y + self.h).min(HEIGHT as i32);
        (x0 < x1 && y0 < y1).then_some(Clip {
            x0: x0 as usize,
            y0: y0 as usize,
            x1: x1 as usize,
            y1: y1 as usize,
        })
    }
}

/// An on-screen rectangle `[x0, x1) x [y0, y1)` in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clip {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
}

impl Clip {
    /// The smallest rectangle holding both.
    pub fn union(self, o: Clip) -> Clip {
        Clip {
            x0: self.x0.min(o.x0),
            y0: self.y0.min(o.y0),
            x1: self.x1.max(o.x1),
            y1: self.y1.max(o.y1),
        }
    }
}

/// A moving object: a rectangle in one palette colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sprite {
    pub rect: Rect,
    /// Index into the game's palette.
    pub color: u8,
}

/// The sprites of one frame, drawn in slot order; `None` slots are hidden.
pub type Sprites = [Option<Sprite>; MAX_SPRITES];

/// Where a game draws its backdrop.
pub trait Paint {
    /// Fill `rect` (clipped to the screen) with palette colour `color`.
    fn rect(&mut self, rect: Rect, color: u8);
}

/// Fill a clipped rectangle of a `C`-bytes-per-pixel image with one pixel value.
#[inline]
pub(crate) fn fill<const C: usize>(data: &mut [u8], c: Clip, px: [u8; C]) {
    for y in c.y0..c.y1 {
        let row = &mut data[(y * WIDTH + c.x0) * C..(y * WIDTH + c.x1) * C];
        if C == 1 {
            row.fill(px[0]);
        } else {
            for p in row.chunks_exact_mut(C) {
                p.copy_from_slice(&px);
            }
        }
    }
}

/// Copy a clipped rectangle from `src` to `dst` (same layout).
#[inline]
fn copy<const C: usize>(dst: &mut [u8], src: &[u8], c: Clip) {
    for y in c.y0..c.y1 {
        let r = (y * WIDTH + c.x0) * C..(y * WIDTH + c.x1) * C;
        dst[r.clone()].copy_from_slice(&src[r]);
    }
}

struct Painter<'a, const C: usize> {
    data: &'a mut [u8],
    lut: &'a [[u8; C]],
}

impl<const C: usize> Paint for Painter<'_, C> {
    fn rect(&mut self, rect: Rect, color: u8) {
        if let (Some(c), Some(px)) = (rect.clip(), self.lut.get(color as usize)) {
            fill::<C>(self.data, c, *px);
        }
    }
}

/// What a game can draw: its backdrop (with a version that changes whenever the backdrop
/// does) and its sprites.
pub trait Scene {
    /// Changes (strictly increases) every time the backdrop changes, never repeats.
    fn backdrop_version(&self) -> u64;
    /// Paint the backdrop over a screen already filled with palette colour 0.
    fn draw_backdrop(&self, p: &mut dyn Paint);
    /// The moving objects of the current frame.
    fn sprites(&self) -> Sprites;
}

/// The backdrop picture in `C` bytes per pixel, redrawn only when its version changes.
/// Layers drawn from one backdrop may share it because versions only increase.
pub struct Backdrop<const C: usize> {
    data: Vec<u8>,
    lut: Vec<[u8; C]>,
    version: Option<u64>,
}

impl<const C: usize> Backdrop<C> {
    /// A backdrop whose palette colour `i` is written as the bytes `lut[i]`.
    pub fn new(lut: Vec<[u8; C]>) -> Self {
        Self {
            data: vec![0; HEIGHT * WIDTH * C],
            lut,
            version: None,
        }
    }

    fn sync(&mut self, scene: &dyn Scene) -> u64 {
        let v = scene.backdrop_version();
        if self.version != Some(v) {
            let bg = self.lut.first().copied().unwrap_or([0; C]);
            fill::<C>(
                &mut self.data,
                Clip {
                    x0: 0,
                    y0: 0,
                    x1: WIDTH,
                    y1: HEIGHT,
                },
                bg,
            );
            scene.draw_backdrop(&mut Painter {
                data: &mut self.data,
                lut: &self.lut,
            });
            self.version = Some(v);
        }
        v
    }
}

/// Rectangles that changed since the previous picture: everything, or per sprite slot the
/// union of its old and new rectangles (several draws accumulate until [`Dirty::clear`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Dirty {
    pub full: bool,
    pub slots: [Option<Clip>; MAX_SPRITES],
}

impl Dirty {
    /// Forget all changes.
    pub fn clear(&mut self) {
        *self = Dirty::default();
    }

    fn add(&mut self, slot: usize, c: Clip) {
        let s = &mut self.slots[slot];
        *s = Some(s.map_or(c, |o| o.union(c)));
    }
}

/// One picture (`HEIGHT x WIDTH x C`), maintained incrementally from a [`Backdrop`].
pub struct Layer<const C: usize> {
    data: Vec<u8>,
    version: Option<u64>,
    prev: Sprites,
}

impl<const C: usize> Default for Layer<C> {
    fn default() -> Self {
        Self {
            data: vec![0; HEIGHT * WIDTH * C],
            version: None,
            prev: [None; MAX_SPRITES],
        }
    }
}

impl<const C: usize> Layer<C> {
    /// The picture bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Bring the picture up to date with `scene`, adding what changed to `dirty`.
    pub fn draw(&mut self, bd: &mut Backdrop<C>, scene: &dyn Scene, dirty: &mut Dirty) {
        let v = bd.sync(scene);
        let sprites = scene.sprites();
        if self.version != Some(v) {
            self.data.copy_from_slice(&bd.data);
            self.version = Some(v);
            dirty.full = true;
            for s in sprites.iter().flatten() {
                if let Some(c) = s.rect.clip() {
                    fill::<C>(&mut self.data, c, bd.lut[s.color as usize]);
                }
            }
        } else {
            // Restore every old sprite, then paint every new one: the result is backdrop +
            // sprites in order. Only slots whose sprite changed can change pixels.
            for (i, (old, new)) in self.prev.iter().zip(&sprites).enumerate() {
                if let Some(c) = old.and_then(|s| s.rect.clip()) {
                    copy::<C>(&mut self.data, &bd.data, c);
                    if old != new {
                        dirty.add(i, c);
                    }
                }
            }
            for (i, (old, new)) in self.prev.iter().zip(&sprites).enumerate() {
                if let Some((s, c)) = new.and_then(|s| Some((s, s.rect.clip()?))) {
                    fill::<C>(&mut self.data, c, bd.lut[s.color as usize]);
                    if old != new {
                        dirty.add(i, c);
                    }
                }
            }
        }
        self.prev = sprites;
    }
}

/// Palette lookup tables: RGB bytes, luma, or one RGB channel per palette colour.
pub fn lut_rgb(palette: &[Rgb]) -> Vec<[u8; 3]> {
    palette.to_vec()
}

/// The luma (as [`crate::preprocess::luma`]) of each palette colour.
pub fn lut_gray(palette: &[Rgb]) -> Vec<[u8; 1]> {
    palette
        .iter()
        .map(|c| [crate::preprocess::luma(c[0], c[1], c[2])])
        .collect()
}

/// Channel `ch` (0 red, 1 green, 2 blue) of each palette colour.
pub fn lut_channel(palette: &[Rgb], ch: usize) -> Vec<[u8; 1]> {
    palette.iter().map(|c| [c[ch]]).collect()
}

/// 3x5 digit glyphs, one row per byte (bit 2 = left column).
const DIGITS: [[u8; 5]; 10] = [
    [0b111, 0b101, 0b101, 0b101, 0b111],
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b111, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b001, 0b001, 0b001],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
];

/// Draw one digit with its top-left corner at `(x, y)`, each glyph cell `sx x sy` pixels.
pub fn digit(p: &mut dyn Paint, x: i32, y: i32, d: u32, sx: i32, sy: i32, color: u8) {
    let glyph = &DIGITS[(d % 10) as usize];
    for (r, bits) in glyph.iter().enumerate() {
        for c in 0..3 {
            if bits & (0b100 >> c) != 0 {
                p.rect(Rect::new(x + c * sx, y + r as i32 * sy, sx, sy), color);
            }
        }
    }
}

/// Draw `value` right-aligned so its last digit starts at `x`, digits `4 * sx` apart.
pub fn number(p: &mut dyn Paint, x: i32, y: i32, value: u32, sx: i32, sy: i32, color: u8) {
    let mut v = value;
    let mut x = x;
    loop {
        digit(p, x, y, v % 10, sx, sy, color);
        v /= 10;
        if v == 0 {
            break;
        }
        x -= 4 * sx;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Boxes {
        version: u64,
        sprites: Sprites,
    }

    impl Scene for Boxes {
        fn backdrop_version(&self) -> u64 {
            self.version
        }
        fn draw_backdrop(&self, p: &mut dyn Paint) {
            p.rect(Rect::new(0, 0, 160, 10), 1);
            p.rect(Rect::new(50, 100, 30 + self.version as i32, 7), 2);
        }
        fn sprites(&self) -> Sprites {
            self.sprites
        }
    }

    fn full_redraw(scene: &Boxes) -> Vec<u8> {
        let mut bd = Backdrop::new(lut_rgb(&[[1, 2, 3], [10, 20, 30], [7, 7, 7], [200, 9, 9]]));
        let mut layer = Layer::<3>::default();
        layer.draw(&mut bd, scene, &mut Dirty::default());
        layer.data().to_vec()
    }

    #[test]
    fn incremental_drawing_equals_a_full_redraw_and_reports_changes() {
        let pal = [[1, 2, 3], [10, 20, 30], [7, 7, 7], [200, 9, 9]];
        let mut bd = Backdrop::new(lut_rgb(&pal));
        let mut layer = Layer::<3>::default();
        let mut scene = Boxes {
            version: 0,
            sprites: [None; MAX_SPRITES],
        };
        let mut dirty = Dirty::default();
        let mut state = 12345u32;
        for step in 0..300 {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let r = |k: u32| ((state >> (k * 5)) & 0xff) as i32;
            let slot = (state >> 3) as usize % MAX_SPRITES;
            scene.sprites[slot] = if r(1) % 5 == 0 {
                None
            } else {
                Some(Sprite {
                    rect: Rect::new(r(2) - 40, r(3) - 20, r(4) % 30 + 1, r(1) % 25 + 1),
                    color: (r(5) % 4) as u8,
                })
            };
            if step % 37 == 0 {
                scene.version += 1;
            }
            let before = layer.data().to_vec();
            dirty.clear();
            layer.draw(&mut bd, &scene, &mut dirty);
            let want = full_redraw(&scene);
            assert_eq!(layer.data(), &want[..], "step {step}");
            if !dirty.full && step > 0 {
                for y in 0..HEIGHT {
                    for x in 0..WIDTH {
                        let i = (y * WIDTH + x) * 3;
                        if before[i..i + 3] != want[i..i + 3] {
                            let inside =
                                dirty.slots.iter().flatten().any(|c| {
                                    (c.x0..c.x1).contains(&x) && (c.y0..c.y1).contains(&y)
                                });
                            assert!(inside, "pixel ({x},{y}) changed outside the dirty set");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn clipping_drops_offscreen_parts() {
        assert_eq!(Rect::new(-5, -5, 4, 4).clip(), None);
        let c = Rect::new(158, 208, 10, 10).clip().unwrap();
        assert_eq!((c.x0, c.y0, c.x1, c.y1), (158, 208, 160, 210));
    }
}
