//! The native Atari-preprocessing fast path: the observation of
//! `Resize(MaxAndSkip(NoopReset(game with frameskip 1 [, grayscale])))`, drawn directly.
//!
//! Per agent step only the frames of repeats `skip - 1` and `skip` are drawn, each as gray
//! (or per-channel) planes straight from the palette, and only where sprites moved; the
//! max-pool and the area resize are then redone only over those rectangles
//! ([`crate::preprocess::AreaResizer::resize_changed`]). The semantics are those of the
//! wrappers (see [`crate::wrappers::MaxAndSkip`] and [`crate::wrappers::NoopReset`]): the
//! observation after a reset, and on the step an episode ends, is that single frame; NOOP
//! starts count emulator frames, `k` uniform in `1..=noop_max` (none for 0) from
//! `rng_from_seed(derive_seed(seed, "noop"))`, resetting the game again if it ends during them.

use super::raster::{Backdrop, Dirty, HEIGHT, Layer, WIDTH};
use super::{ArcadeGame, ArcadeOptions, Core, breakout::Breakout, pong::Pong, raster};
use crate::config::EnvConfig;
use crate::env::{Action, Env, Frame, Info, Obs, Step, check_discrete};
use crate::error::Result;
use crate::preprocess::{AreaResizer, AtariPreprocessingConfig};
use crate::seeding::{EnvRng, reseed};
use crate::space::Space;
use rand::Rng;

/// The natively preprocessed env for `id`, or `None` when `id` is not an arcade game.
///
/// The result equals, byte for byte, `Resize::squeeze(MaxAndSkip(NoopReset(make(id,
/// frameskip = 1, obs_type = gray or rgb), noop_max), frame_skip), S, S)`: observations
/// `[S, S]` (grayscale) or `[S, S, 3]`, rewards, flags and infos. Frame stack, episodic life
/// and reward clipping are not included (the preset adds them on top of either path).
/// `env_options` are the game's options; `frameskip` and `obs_type` in them are ignored
/// (the preset checks they do not contradict `cfg`).
pub fn native_preprocessed(
    id: &str,
    env_options: &EnvConfig,
    cfg: &AtariPreprocessingConfig,
) -> Option<Result<Box<dyn Env>>> {
    fn boxed<G: ArcadeGame>(
        env_options: &EnvConfig,
        cfg: &AtariPreprocessingConfig,
    ) -> Result<Box<dyn Env>> {
        Ok(Box::new(ArcadePreprocessed::<G>::new(
            &ArcadeOptions::from_config(G::ID, env_options)?,
            cfg,
        )?))
    }
    match id {
        super::pong::ID => Some(boxed::<Pong>(env_options, cfg)),
        super::breakout::ID => Some(boxed::<Breakout>(env_options, cfg)),
        _ => None,
    }
}

/// One colour plane of the pipeline: two frames (repeats `skip - 1` and `skip`), their
/// max-pool and its resize.
struct Plane {
    backdrop: Backdrop<1>,
    second_last: Layer<1>,
    last: Layer<1>,
    pooled: Vec<u8>,
    out: Vec<u8>,
}

impl Plane {
    fn new(lut: Vec<[u8; 1]>, size: usize) -> Self {
        Self {
            backdrop: Backdrop::new(lut),
            second_last: Layer::default(),
            last: Layer::default(),
            pooled: vec![0; HEIGHT * WIDTH],
            out: vec![0; size * size],
        }
    }

    /// Recompute `pooled` (max of both frames, or the last frame alone) and `out` over the
    /// rectangles in `dirty`, or everywhere.
    fn update(&mut self, resizer: &mut AreaResizer, dirty: &Dirty, pool: bool, full: bool) {
        let (a, b) = (self.second_last.data(), self.last.data());
        if full || dirty.full {
            if pool {
                crate::preprocess::max_pool(a, b, &mut self.pooled);
            } else {
                self.pooled.copy_from_slice(b);
            }
            resizer.resize(&self.pooled, &mut self.out);
            return;
        }
        for c in dirty.slots.iter().flatten() {
            for y in c.y0..c.y1 {
                let r = y * WIDTH + c.x0..y * WIDTH + c.x1;
                if pool {
                    crate::preprocess::max_pool(&a[r.clone()], &b[r.clone()], &mut self.pooled[r]);
                } else {
                    self.pooled[r.clone()].copy_from_slice(&b[r]);
                }
            }
            resizer.resize_changed(&self.pooled, &mut self.out, (c.x0, c.y0), (c.x1, c.y1));
        }
    }
}

/// An arcade game with Atari preprocessing done natively (see [`native_preprocessed`]).
pub struct ArcadePreprocessed<G> {
    core: Core<G>,
    skip: u32,
    noop_max: u32,
    noop_rng: Option<EnvRng>,
    /// One plane for grayscale, three (R, G, B) for RGB.
    planes: Vec<Plane>,
    resizer: AreaResizer,
    /// Interleaved `S x S x 3` output (RGB only).
    rgb_out: Vec<u8>,
    /// Whether `pooled` currently holds a max of two frames (else the last frame alone).
    pooled_max: bool,
    dirty: Dirty,
    observation_space: Space,
    action_space: Space,
    picture: Option<(Backdrop<3>, Layer<3>)>,
}

impl<G: ArcadeGame> ArcadePreprocessed<G> {
    /// A preprocessed env; `opts.frameskip` and `opts.obs_type` are ignored (`cfg` decides).
    pub fn new(opts: &ArcadeOptions, cfg: &AtariPreprocessingConfig) -> Result<Self> {
        opts.validate(G::ID)?;
        cfg.validate()?;
        let size = cfg.screen_size;
        let (planes, shape) = if cfg.grayscale_obs {
            (
                vec![Plane::new(raster::lut_gray(G::PALETTE), size)],
                vec![size, size],
            )
        } else {
            (
                (0..3)
                    .map(|ch| Plane::new(raster::lut_channel(G::PALETTE, ch), size))
                    .collect(),
                vec![size, size, 3],
            )
        };
        Ok(Self {
            core: Core::new(
                opts.repeat_action_probability,
                opts.max_num_frames_per_episode,
            ),
            skip: cfg.frame_skip,
            noop_max: cfg.noop_max,
            noop_rng: None,
            rgb_out: if cfg.grayscale_obs {
                Vec::new()
            } else {
                vec![0; size * size * 3]
            },
            planes,
            resizer: AreaResizer::new(HEIGHT, WIDTH, size, size)?,
            pooled_max: false,
            dirty: Dirty::default(),
            observation_space: Space::image(&shape),
            action_space: Space::Discrete {
                n: G::ACTION_MEANINGS.len(),
            },
            picture: None,
        })
    }

    /// The game itself.
    pub fn game(&self) -> &G {
        &self.core.game
    }

    /// Redo the pooled frame and the output after drawing; `pool`: max of two frames.
    fn finish(&mut self, pool: bool, full: bool) {
        let full = full || pool != self.pooled_max;
        self.pooled_max = pool;
        for p in &mut self.planes {
            p.update(&mut self.resizer, &self.dirty, pool, full);
        }
        if self.planes.len() == 3 {
            let (r, g, b) = (
                &self.planes[0].out,
                &self.planes[1].out,
                &self.planes[2].out,
            );
            for (i, px) in self.rgb_out.chunks_exact_mut(3).enumerate() {
                px.copy_from_slice(&[r[i], g[i], b[i]]);
            }
        }
        self.dirty.clear();
    }

    fn draw_last(&mut self) {
        for p in &mut self.planes {
            p.last
                .draw(&mut p.backdrop, &self.core.game, &mut self.dirty);
        }
    }

    fn draw_second_last(&mut self) {
        for p in &mut self.planes {
            p.second_last
                .draw(&mut p.backdrop, &self.core.game, &mut self.dirty);
        }
    }

    fn out(&self) -> &[u8] {
        if self.planes.len() == 3 {
            &self.rgb_out
        } else {
            &self.planes[0].out
        }
    }
}

impl<G: ArcadeGame> Env for ArcadePreprocessed<G> {
    fn id(&self) -> &str {
        G::ID
    }

    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>) -> Result<(Obs<'_>, Info)> {
        self.core.reset(seed);
        let rng = reseed(&mut self.noop_rng, seed, Some("noop"));
        let k = if self.noop_max == 0 {
            0
        } else {
            rng.random_range(1..=self.noop_max)
        };
        for _ in 0..k {
            self.core.frame(0);
            if self.core.done() {
                self.core.reset(None);
            }
        }
        self.dirty.clear();
        self.draw_last();
        self.finish(false, true);
        Ok((Obs::U8(self.out()), self.core.info()))
    }

    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        self.core.check_running()?;
        let a = check_discrete(G::ID, &self.action_space, action)?;
        let mut reward = 0i32;
        for t in 1..=self.skip {
            reward += self.core.frame(a);
            let done = self.core.done();
            if done || t == self.skip {
                self.draw_last();
                self.finish(!done && self.skip >= 2, false);
                break;
            }
            if t == self.skip - 1 {
                self.draw_second_last();
            }
        }
        Ok(Step {
            obs: Obs::U8(self.out()),
            reward: reward as f32,
            terminated: self.core.terminated(),
            truncated: self.core.truncated(),
            info: self.core.info(),
        })
    }

    fn obs(&self) -> Obs<'_> {
        Obs::U8(self.out())
    }

    /// The full-size RGB frame of the current state (what the wrapped chain's render shows).
    fn render(&mut self) -> Frame<'_> {
        let (bd, l) = self
            .picture
            .get_or_insert_with(|| (Backdrop::new(raster::lut_rgb(G::PALETTE)), Layer::default()));
        l.draw(bd, &self.core.game, &mut Dirty::default());
        Frame {
            height: HEIGHT,
            width: WIDTH,
            channels: 3,
            data: l.data(),
        }
    }

    fn action_meanings(&self) -> Option<&'static [&'static str]> {
        Some(G::ACTION_MEANINGS)
    }
}
