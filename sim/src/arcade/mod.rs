//! Native arcade games with ALE v5 conventions (Pong, Breakout): not an emulator, but the same
//! screen size, look, minimal action sets, lives, sticky actions and frame cap, so Atari
//! pipelines (frame skip, max-pool, grayscale, 84x84 resize, frame stack) apply unchanged.
//!
//! A game implements [`ArcadeGame`]: one emulator-frame `tick` and a [`raster::Scene`]
//! (backdrop + sprites). [`ArcadeEnv`] turns any game into an [`Env`] with ALE v5's options,
//! and [`native_preprocessed`] gives the Atari-preprocessed observation directly, without the
//! 210x160 RGB frames in between (proven byte-identical to the wrapped chain in
//! `sim/tests/atari_fast_path.rs`).

pub mod breakout;
mod fast;
pub mod pong;
pub mod raster;

pub use breakout::{Breakout, BreakoutScripted};
pub use fast::{ArcadePreprocessed, native_preprocessed};
pub use pong::{Pong, PongScripted};

use crate::config::{EnvConfig, ensure, parse_options};
use crate::env::{Action, Env, EpisodePhase, Frame, Info, Obs, Step, check_discrete};
use crate::error::Result;
use crate::seeding::{EnvRng, reseed};
use crate::space::Space;
use rand::Rng;
use raster::{Backdrop, Dirty, HEIGHT, Layer, Scene, WIDTH};
use serde::Deserialize;

/// An RGB colour.
pub type Rgb = [u8; 3];

/// A game that advances one emulator frame (1/60 s) at a time.
///
/// Actions are indices into the game's minimal action set ([`ArcadeGame::ACTION_MEANINGS`]);
/// randomness comes only from the env's seeded stream, so a game is a pure function of its
/// seed and actions.
pub trait ArcadeGame: Scene + Send + 'static {
    /// Registered id, e.g. `Pong-v0`.
    const ID: &'static str;
    /// ALE's names of the minimal action set, in ALE's order.
    const ACTION_MEANINGS: &'static [&'static str];
    /// Colours the game draws with; index 0 is the background.
    const PALETTE: &'static [Rgb];

    /// A game in its power-on state (call `reset` before ticking).
    fn new() -> Self;
    /// Start a new game.
    fn reset(&mut self, rng: &mut EnvRng);
    /// Advance one emulator frame with minimal-set action `action`; returns the reward.
    fn tick(&mut self, action: usize, rng: &mut EnvRng) -> i32;
    /// Lives left (ALE's `lives()`; 0 for games without lives).
    fn lives(&self) -> u32;
    /// The game has ended (terminal state).
    fn game_over(&self) -> bool;
}

/// ALE v5 options shared by the arcade games. `full_action_space` is not supported: the
/// action space is always the game's minimal set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArcadeOptions {
    /// Emulator frames per agent step; rewards are summed, the observation is the last frame.
    #[serde(default = "default_frameskip")]
    pub frameskip: u32,
    /// Per emulator frame, the probability of repeating the previous frame's action instead
    /// of the agent's (ALE's sticky actions).
    #[serde(default = "default_repeat")]
    pub repeat_action_probability: f64,
    /// Truncate an episode after this many emulator frames (0: no cap).
    #[serde(default = "default_cap")]
    pub max_num_frames_per_episode: u64,
    /// `"rgb"` (210x160x3) or `"grayscale"` (210x160, luma of each palette colour).
    #[serde(default = "default_obs_type")]
    pub obs_type: String,
}

fn default_frameskip() -> u32 {
    4
}
fn default_repeat() -> f64 {
    0.25
}
fn default_cap() -> u64 {
    108_000
}
fn default_obs_type() -> String {
    "rgb".into()
}

impl Default for ArcadeOptions {
    fn default() -> Self {
        Self {
            frameskip: default_frameskip(),
            repeat_action_probability: default_repeat(),
            max_num_frames_per_episode: default_cap(),
            obs_type: default_obs_type(),
        }
    }
}

/// Accepted values of `obs_type`.
pub const OBS_TYPES: &[&str] = &["rgb", "grayscale"];

impl ArcadeOptions {
    /// Parse and validate an options table for env `id`.
    pub fn from_config(id: &str, cfg: &EnvConfig) -> Result<Self> {
        let o: Self = parse_options(id, cfg)?;
        o.validate(id)?;
        Ok(o)
    }

    /// Refuse values ALE would refuse, naming the option.
    pub fn validate(&self, id: &str) -> Result<()> {
        ensure(
            (1..=1000).contains(&self.frameskip),
            id,
            "frameskip",
            format!("must be in 1..=1000, got {}", self.frameskip),
        )?;
        let p = self.repeat_action_probability;
        ensure(
            (0.0..=1.0).contains(&p),
            id,
            "repeat_action_probability",
            format!("must be in [0, 1], got {p}"),
        )?;
        ensure(
            OBS_TYPES.contains(&self.obs_type.as_str()),
            id,
            "obs_type",
            format!(
                "must be one of {}, got {:?}",
                OBS_TYPES.join(", "),
                self.obs_type
            ),
        )
    }

    fn grayscale(&self) -> bool {
        self.obs_type == "grayscale"
    }
}

/// The emulator loop shared by [`ArcadeEnv`] and the fast path: game, RNG, sticky action,
/// frame counters and the episode cap.
pub(crate) struct Core<G> {
    pub game: G,
    rng: Option<EnvRng>,
    sticky: usize,
    repeat_p: f64,
    cap: u64,
    pub episode_frame: u64,
    pub frame_number: u64,
    phase: EpisodePhase,
}

impl<G: ArcadeGame> Core<G> {
    fn new(repeat_p: f64, cap: u64) -> Self {
        Self {
            game: G::new(),
            rng: None,
            sticky: 0,
            repeat_p,
            cap,
            episode_frame: 0,
            frame_number: 0,
            phase: EpisodePhase::NeverReset,
        }
    }

    /// New game; `Some(seed)` reseeds, `None` continues the stream (entropy the first time).
    fn reset(&mut self, seed: Option<u64>) {
        let rng = reseed(&mut self.rng, seed, None);
        self.game.reset(rng);
        self.sticky = 0;
        self.episode_frame = 0;
        self.phase = EpisodePhase::Running;
    }

    /// Error unless an episode is running.
    fn check_running(&self) -> Result<()> {
        self.phase.check_step(G::ID)
    }

    /// One emulator frame, ALE style: with probability `p` the previous frame's action is
    /// repeated (one draw per frame). Returns the reward; call only while running.
    #[inline]
    fn frame(&mut self, action: usize) -> i32 {
        let Some(rng) = self.rng.as_mut() else {
            return 0;
        };
        if rng.random::<f64>() >= self.repeat_p {
            self.sticky = action;
        }
        let r = self.game.tick(self.sticky, rng);
        self.episode_frame += 1;
        self.frame_number += 1;
        if self.terminated() || self.truncated() {
            self.phase = EpisodePhase::Done;
        }
        r
    }

    fn terminated(&self) -> bool {
        self.game.game_over()
    }

    fn truncated(&self) -> bool {
        !self.game.game_over() && self.cap > 0 && self.episode_frame >= self.cap
    }

    fn done(&self) -> bool {
        self.phase == EpisodePhase::Done
    }

    fn info(&self) -> Info {
        Info {
            lives: self.game.lives(),
            episode_frame_number: self.episode_frame,
            frame_number: self.frame_number,
            end_reason: self.truncated().then_some("frame_cap"),
            ..Info::default()
        }
    }
}

/// The observation buffer of an [`ArcadeEnv`]: RGB or gray, drawn incrementally.
enum Screen {
    Rgb(Backdrop<3>, Layer<3>),
    Gray(Backdrop<1>, Layer<1>),
}

/// Any [`ArcadeGame`] as an [`Env`] with ALE v5 conventions (see [`ArcadeOptions`]).
/// The observation is drawn once per agent step, after the last skipped frame.
pub struct ArcadeEnv<G> {
    core: Core<G>,
    frameskip: u32,
    observation_space: Space,
    action_space: Space,
    screen: Screen,
    /// RGB picture for `render` when the observation is gray.
    picture: Option<(Backdrop<3>, Layer<3>)>,
    dirty: Dirty,
}

impl<G: ArcadeGame> ArcadeEnv<G> {
    /// An env with validated options; call `reset` before stepping.
    pub fn new(opts: &ArcadeOptions) -> Result<Self> {
        opts.validate(G::ID)?;
        let (screen, shape) = if opts.grayscale() {
            (
                Screen::Gray(
                    Backdrop::new(raster::lut_gray(G::PALETTE)),
                    Layer::default(),
                ),
                vec![HEIGHT, WIDTH],
            )
        } else {
            (
                Screen::Rgb(Backdrop::new(raster::lut_rgb(G::PALETTE)), Layer::default()),
                vec![HEIGHT, WIDTH, 3],
            )
        };
        Ok(Self {
            core: Core::new(
                opts.repeat_action_probability,
                opts.max_num_frames_per_episode,
            ),
            frameskip: opts.frameskip,
            observation_space: Space::image(&shape),
            action_space: Space::Discrete {
                n: G::ACTION_MEANINGS.len(),
            },
            screen,
            picture: None,
            dirty: Dirty::default(),
        })
    }

    /// An env from a `make` options table.
    pub fn from_config(cfg: &EnvConfig) -> Result<Self> {
        Self::new(&ArcadeOptions::from_config(G::ID, cfg)?)
    }

    /// The game itself (for tests and the viewer).
    pub fn game(&self) -> &G {
        &self.core.game
    }

    /// The game, mutably: tests use it to set up positions.
    pub fn game_mut(&mut self) -> &mut G {
        &mut self.core.game
    }

    fn draw(&mut self) {
        self.dirty.clear();
        match &mut self.screen {
            Screen::Rgb(bd, l) => l.draw(bd, &self.core.game, &mut self.dirty),
            Screen::Gray(bd, l) => l.draw(bd, &self.core.game, &mut self.dirty),
        }
    }

    fn screen(&self) -> &[u8] {
        match &self.screen {
            Screen::Rgb(_, l) => l.data(),
            Screen::Gray(_, l) => l.data(),
        }
    }
}

impl<G: ArcadeGame> Env for ArcadeEnv<G> {
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
        self.draw();
        Ok((Obs::U8(self.screen()), self.core.info()))
    }

    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        self.core.check_running()?;
        let a = check_discrete(G::ID, &self.action_space, action)?;
        let mut reward = 0i32;
        for _ in 0..self.frameskip {
            reward += self.core.frame(a);
            if self.core.done() {
                break;
            }
        }
        self.draw();
        Ok(Step {
            obs: Obs::U8(self.screen()),
            reward: reward as f32,
            terminated: self.core.terminated(),
            truncated: self.core.truncated(),
            info: self.core.info(),
        })
    }

    fn obs(&self) -> Obs<'_> {
        Obs::U8(self.screen())
    }

    fn render(&mut self) -> Frame<'_> {
        let data = match &self.screen {
            Screen::Rgb(_, l) => l.data(),
            Screen::Gray(..) => {
                let (bd, l) = self.picture.get_or_insert_with(|| {
                    (Backdrop::new(raster::lut_rgb(G::PALETTE)), Layer::default())
                });
                l.draw(bd, &self.core.game, &mut Dirty::default());
                l.data()
            }
        };
        Frame {
            height: HEIGHT,
            width: WIDTH,
            channels: 3,
            data,
        }
    }

    fn action_meanings(&self) -> Option<&'static [&'static str]> {
        Some(G::ACTION_MEANINGS)
    }
}
