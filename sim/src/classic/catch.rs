//! `Catch-v0`: bsuite's Catch, a tiny pixel game for agent tests that must learn in seconds.
//!
//! A ball starts in the top row at a random column and falls one row per step; the paddle
//! sits on the bottom row (starting in the middle column) and moves LEFT, NOOP or RIGHT,
//! clamped at the walls. When the ball reaches the bottom row the episode terminates with
//! reward +1 if the paddle is under it and -1 otherwise (every other step pays 0), so an
//! episode lasts `rows - 1` steps. The observation is the board, `(rows, columns, 1)` `u8`
//! with 255 at the ball and the paddle and 0 elsewhere.
//!
//! The ball is always catchable when `columns / 2 <= rows - 1` (true for the default 10x5).

use super::{Canvas, Rgb};
use crate::config::{EnvConfig, ensure, parse_options};
use crate::env::{Action, Env, EpisodePhase, Frame, Info, Obs, OwnedAction, Step, check_discrete};
use crate::error::{Result, SimError};
use crate::policy::Policy;
use crate::seeding::{EnvRng, reseed};
use crate::space::Space;
use rand::Rng;
use serde::Deserialize;

/// Registered id.
pub const ID: &str = "Catch-v0";

/// Each board cell is drawn as a square of this many pixels by `render`.
pub const RENDER_SCALE: usize = 20;

/// Largest accepted `rows` and `columns`.
pub const MAX_SIDE: usize = 64;

const ACTION_MEANINGS: &[&str] = &["LEFT", "NOOP", "RIGHT"];

/// Options of `Catch-v0`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatchOptions {
    /// Board height; the ball falls `rows - 1` steps (bsuite: 10).
    #[serde(default = "default_rows")]
    pub rows: usize,
    /// Board width (bsuite: 5).
    #[serde(default = "default_columns")]
    pub columns: usize,
}

fn default_rows() -> usize {
    10
}

fn default_columns() -> usize {
    5
}

impl Default for CatchOptions {
    fn default() -> Self {
        Self {
            rows: default_rows(),
            columns: default_columns(),
        }
    }
}

impl CatchOptions {
    /// Parse and validate the options table of `Catch-v0`.
    pub fn from_config(cfg: &EnvConfig) -> Result<Self> {
        let opts: Self = parse_options(ID, cfg)?;
        opts.validate()?;
        Ok(opts)
    }

    fn validate(&self) -> Result<()> {
        ensure(
            (2..=MAX_SIDE).contains(&self.rows),
            ID,
            "rows",
            format!("must be in 2..={MAX_SIDE}, got {}", self.rows),
        )?;
        ensure(
            (1..=MAX_SIDE).contains(&self.columns),
            ID,
            "columns",
            format!("must be in 1..={MAX_SIDE}, got {}", self.columns),
        )
    }
}

/// The Catch game. Actions: `0` LEFT, `1` NOOP, `2` RIGHT.
pub struct Catch {
    rows: usize,
    columns: usize,
    observation_space: Space,
    action_space: Space,
    ball_row: usize,
    ball_col: usize,
    paddle_col: usize,
    board: Vec<u8>,
    rng: Option<EnvRng>,
    phase: EpisodePhase,
    elapsed_steps: u64,
    total_steps: u64,
    frame: Vec<u8>,
}

impl Catch {
    /// A Catch board with validated options. Call `reset` before stepping.
    pub fn new(opts: CatchOptions) -> Result<Self> {
        opts.validate()?;
        let (rows, columns) = (opts.rows, opts.columns);
        Ok(Self {
            rows,
            columns,
            observation_space: Space::image(&[rows, columns, 1]),
            action_space: Space::Discrete { n: 3 },
            ball_row: 0,
            ball_col: 0,
            paddle_col: columns / 2,
            board: vec![0; rows * columns],
            rng: None,
            phase: EpisodePhase::NeverReset,
            elapsed_steps: 0,
            total_steps: 0,
            frame: vec![0; rows * RENDER_SCALE * columns * RENDER_SCALE * 3],
        })
    }

    /// A Catch board from a `make` options table.
    pub fn from_config(cfg: &EnvConfig) -> Result<Self> {
        Self::new(CatchOptions::from_config(cfg)?)
    }

    /// `(row, column)` of the ball, row 0 at the top.
    pub fn ball(&self) -> (usize, usize) {
        (self.ball_row, self.ball_col)
    }

    /// Column of the paddle (it always sits on the bottom row).
    pub fn paddle(&self) -> usize {
        self.paddle_col
    }

    fn draw_board(&mut self) {
        self.board.fill(0);
        self.board[self.ball_row * self.columns + self.ball_col] = 255;
        self.board[(self.rows - 1) * self.columns + self.paddle_col] = 255;
    }

    fn info(&self) -> Info {
        Info {
            lives: 0,
            episode_frame_number: self.elapsed_steps,
            frame_number: self.total_steps,
            ..Info::default()
        }
    }
}

impl Env for Catch {
    fn id(&self) -> &str {
        ID
    }

    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>) -> Result<(Obs<'_>, Info)> {
        let rng = reseed(&mut self.rng, seed, None);
        self.ball_col = rng.random_range(0..self.columns);
        self.ball_row = 0;
        self.paddle_col = self.columns / 2;
        self.elapsed_steps = 0;
        self.phase = EpisodePhase::Running;
        self.draw_board();
        Ok((Obs::U8(&self.board), self.info()))
    }

    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        self.phase.check_step(ID)?;
        let a = check_discrete(ID, &self.action_space, action)?;
        self.paddle_col = (self.paddle_col + a)
            .saturating_sub(1)
            .min(self.columns - 1);
        self.ball_row += 1;
        self.elapsed_steps += 1;
        self.total_steps += 1;
        let terminated = self.ball_row == self.rows - 1;
        let reward = match (terminated, self.ball_col == self.paddle_col) {
            (false, _) => 0.0,
            (true, true) => 1.0,
            (true, false) => -1.0,
        };
        if terminated {
            self.phase = EpisodePhase::Done;
        }
        self.draw_board();
        Ok(Step {
            obs: Obs::U8(&self.board),
            reward,
            terminated,
            truncated: false,
            info: self.info(),
        })
    }

    fn obs(&self) -> Obs<'_> {
        Obs::U8(&self.board)
    }

    /// The board scaled up `RENDER_SCALE` times: a white ball, a blue paddle, dark cells.
    fn render(&mut self) -> Frame<'_> {
        const BACKGROUND: Rgb = [24, 24, 32];
        const BALL: Rgb = [250, 250, 250];
        const PADDLE: Rgb = [70, 150, 255];
        let s = RENDER_SCALE as f64;
        let (width, height) = (self.columns * RENDER_SCALE, self.rows * RENDER_SCALE);
        let mut cv = Canvas {
            data: &mut self.frame,
            width,
            height,
        };
        cv.fill(BACKGROUND);
        let pc = self.paddle_col as f64 * s;
        let pr = (self.rows - 1) as f64 * s;
        cv.rect(pc + 1.0, pr + s * 0.5, pc + s - 1.0, pr + s - 1.0, PADDLE);
        let (bc, br) = (self.ball_col as f64 * s, self.ball_row as f64 * s);
        cv.disc(bc + s / 2.0, br + s / 2.0, s * 0.4, BALL);
        Frame {
            height,
            width,
            channels: 3,
            data: &self.frame,
        }
    }

    fn action_meanings(&self) -> Option<&'static [&'static str]> {
        Some(ACTION_MEANINGS)
    }
}

/// Build `Catch-v0` for the registry.
pub fn build(cfg: &EnvConfig) -> Result<Box<dyn Env>> {
    Ok(Box::new(Catch::from_config(cfg)?))
}

/// Build the scripted Catch player for the registry, sized by the same options.
pub fn build_scripted(cfg: &EnvConfig) -> Result<Box<dyn Policy>> {
    Ok(Box::new(CatchScripted::new(&CatchOptions::from_config(
        cfg,
    )?)))
}

/// Reads the ball and paddle columns from the board and moves the paddle under the ball:
/// it always catches on boards where the ball is catchable.
#[derive(Debug, Clone)]
pub struct CatchScripted {
    rows: usize,
    columns: usize,
}

impl CatchScripted {
    /// A player for boards of the given size.
    pub fn new(opts: &CatchOptions) -> Self {
        Self {
            rows: opts.rows,
            columns: opts.columns,
        }
    }
}

impl Policy for CatchScripted {
    fn name(&self) -> &str {
        "scripted"
    }

    fn act(&mut self, obs: Obs<'_>) -> Result<OwnedAction> {
        let (rows, cols) = (self.rows, self.columns);
        let board = obs
            .as_u8()
            .filter(|b| b.len() == rows * cols)
            .ok_or_else(|| {
                SimError::Invalid(format!(
                    "the {ID} scripted policy needs a u8 board of {rows}x{cols}, got {} elements",
                    obs.len()
                ))
            })?;
        let (above, bottom) = board.split_at((rows - 1) * cols);
        let ball = above.iter().position(|&v| v != 0).map(|i| i % cols);
        let paddle = bottom.iter().position(|&v| v != 0);
        let action = match (ball, paddle) {
            (Some(b), Some(p)) if b < p => 0,
            (Some(b), Some(p)) if b > p => 2,
            _ => 1,
        };
        Ok(OwnedAction::Discrete(action))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catch(rows: usize, columns: usize) -> Catch {
        Catch::new(CatchOptions { rows, columns }).unwrap()
    }

    /// Play one episode with a fixed action; return (steps, rewards).
    fn play(e: &mut Catch, action: i64) -> (u64, Vec<f32>) {
        let mut rewards = vec![];
        loop {
            let s = e.step(Action::Discrete(action)).unwrap();
            rewards.push(s.reward);
            assert!(!s.truncated);
            if s.terminated {
                return (s.info.episode_frame_number, rewards);
            }
        }
    }

    #[test]
    fn catching_pays_plus_one_on_the_ninth_step() {
        let mut e = catch(10, 5);
        // Find a seed whose ball starts above the paddle (middle column).
        let seed = (0..100)
            .find(|&s| {
                e.reset(Some(s)).unwrap();
                e.ball().1 == 2
            })
            .unwrap();
        e.reset(Some(seed)).unwrap();
        let (steps, rewards) = play(&mut e, 1);
        assert_eq!(steps, 9);
        assert_eq!(rewards[..8], [0.0; 8]);
        assert_eq!(rewards[8], 1.0);
    }

    #[test]
    fn missing_pays_minus_one() {
        let mut e = catch(10, 5);
        let seed = (0..100)
            .find(|&s| {
                e.reset(Some(s)).unwrap();
                e.ball().1 == 0
            })
            .unwrap();
        e.reset(Some(seed)).unwrap();
        // Paddle runs right, ball is in column 0.
        let (steps, rewards) = play(&mut e, 2);
        assert_eq!(steps, 9);
        assert_eq!(rewards.iter().sum::<f32>(), -1.0);
        assert_eq!(*rewards.last().unwrap(), -1.0);
        assert!(matches!(
            e.step(Action::Discrete(1)),
            Err(SimError::NeedsReset { .. })
        ));
    }

    #[test]
    fn paddle_clamps_at_both_walls() {
        let mut e = catch(10, 5);
        e.reset(Some(0)).unwrap();
        for _ in 0..4 {
            e.step(Action::Discrete(0)).unwrap();
        }
        assert_eq!(e.paddle(), 0);
        let b = e.obs().as_u8().unwrap();
        assert_eq!(b[9 * 5], 255, "paddle drawn at the left wall");
        for _ in 0..4 {
            e.step(Action::Discrete(2)).unwrap();
        }
        assert_eq!(
            e.paddle(),
            4,
            "8 moves cross the board and stop at the right wall"
        );
    }

    #[test]
    fn board_shows_ball_and_paddle_only() {
        let mut e = catch(10, 5);
        let (obs, _) = e.reset(Some(5)).unwrap();
        let b = obs.as_u8().unwrap().to_vec();
        assert_eq!(b.len(), 50);
        assert_eq!(b.iter().filter(|&&v| v == 255).count(), 2);
        assert!(b.iter().all(|&v| v == 0 || v == 255));
        let (_, col) = e.ball();
        assert_eq!(b[col], 255, "ball in the top row");
        assert_eq!(b[9 * 5 + 2], 255, "paddle starts in the middle");
        e.step(Action::Discrete(1)).unwrap();
        assert_eq!(e.obs().as_u8().unwrap()[5 + col], 255, "ball fell one row");
    }

    #[test]
    fn scripted_policy_always_catches() {
        for (rows, cols) in [(10, 5), (4, 6), (12, 9)] {
            let opts = CatchOptions {
                rows,
                columns: cols,
            };
            let mut e = Catch::new(opts.clone()).unwrap();
            let mut p = CatchScripted::new(&opts);
            for seed in 0..40 {
                e.reset(Some(seed)).unwrap();
                loop {
                    let a = p.act(e.obs()).unwrap();
                    let s = e.step(a.as_action()).unwrap();
                    if s.terminated {
                        assert_eq!(s.reward, 1.0, "{rows}x{cols} seed {seed}");
                        break;
                    }
                }
            }
        }
    }

    #[test]
    fn options_are_validated() {
        for (k, v) in [("rows", 1), ("rows", 65), ("columns", 0), ("columns", 100)] {
            let mut cfg = EnvConfig::new();
            cfg.insert(k.into(), toml::Value::Integer(v));
            let err = Catch::from_config(&cfg).err().unwrap();
            assert!(
                matches!(&err, SimError::BadOptionValue { option, .. } if option == k),
                "{err}"
            );
        }
        let mut cfg = EnvConfig::new();
        cfg.insert("rows".into(), toml::Value::Integer(6));
        cfg.insert("columns".into(), toml::Value::Integer(3));
        let mut e = Catch::from_config(&cfg).unwrap();
        assert_eq!(e.observation_space().shape(), &[6, 3, 1]);
        e.reset(Some(0)).unwrap();
        assert_eq!(play(&mut e, 1).0, 5);
    }

    #[test]
    fn render_scales_the_board() {
        let mut e = catch(10, 5);
        e.reset(Some(1)).unwrap();
        let (_, col) = e.ball();
        let f = e.render();
        assert_eq!((f.height, f.width, f.channels), (200, 100, 3));
        assert_eq!(f.data.len(), 200 * 100 * 3);
        let px = |c: usize, r: usize| &f.data[(r * 100 + c) * 3..(r * 100 + c) * 3 + 3];
        assert_eq!(px(col * 20 + 10, 10), [250, 250, 250], "ball centre");
        assert_eq!(px(2 * 20 + 10, 9 * 20 + 15), [70, 150, 255], "paddle");
        assert_eq!(px(col * 20 + 10, 5 * 20 + 10), [24, 24, 32], "empty cell");
    }
}
