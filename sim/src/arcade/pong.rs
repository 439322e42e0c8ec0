//! `Pong-v0`: the agent's green paddle on the right against a built-in orange opponent on the
//! left, first to 21 points, laid out and coloured like ALE's Pong so Atari pipelines apply.
//!
//! Rules: the ball bounces off the white top and bottom walls; off a paddle its vertical speed
//! depends on where it hit (flat at the centre, steepest at the ends) and its horizontal speed grows with
//! every hit of the rally. A missed ball scores for the other side (reward -1 or +1) and is
//! served again from the centre, towards the side that conceded, after a short pause. The
//! opponent follows where the ball was a few frames ago, at a limited speed: flat balls it
//! returns, fast steep ones it misses. In ALE's minimal set RIGHT moves the agent's paddle up
//! and LEFT moves it down; FIRE does nothing.
//!
//! Positions are fixed point (1/256 px), so the game is exact and deterministic.

use super::raster::{Paint, Rect, Scene, Sprite, Sprites, number};
use super::{ArcadeEnv, ArcadeGame, ArcadeOptions, Rgb};
use crate::config::EnvConfig;
use crate::env::{Env, Obs, OwnedAction};
use crate::error::{Result, SimError};
use crate::policy::Policy;
use crate::seeding::EnvRng;
use rand::Rng;

/// Registered id.
pub const ID: &str = "Pong-v0";

/// Sub-pixel units per pixel.
const SUB: i32 = 256;
/// First and one-past-last playfield rows (between the white walls).
pub const FIELD_TOP: i32 = 34;
pub const FIELD_BOTTOM: i32 = 194;
/// Left column of the agent's (right, green) paddle and of the opponent's (left, orange) one.
pub const AGENT_X: i32 = 140;
pub const OPPONENT_X: i32 = 16;
pub const PADDLE_W: i32 = 4;
pub const PADDLE_H: i32 = 16;
pub const BALL_W: i32 = 2;
pub const BALL_H: i32 = 4;
/// Points that win the game.
pub const WIN_SCORE: u32 = 21;

const AGENT_SPEED: i32 = 2 * SUB;
const OPPONENT_SPEED: i32 = 2 * SUB + SUB / 4;
/// The opponent reacts to where the ball was this many frames ago.
const OPPONENT_DELAY: usize = 5;
/// The opponent ignores offsets smaller than this (no jitter).
const OPPONENT_DEADZONE: i32 = 2 * SUB;
/// The opponent meets each ball up to this far from its paddle centre (chosen at random).
const OPPONENT_AIM: i32 = 2 * SUB;
/// Frames between a point and the next serve.
const SERVE_DELAY: u32 = 40;
const BASE_VX: i32 = 2 * SUB;
const VX_STEP: i32 = SUB / 4;
const MAX_SPEEDUPS: i32 = 8;
/// Serve angles, in eighths of the horizontal speed.
const SERVE_VY: [i32; 4] = [-5, -2, 2, 5];

const GREEN: u8 = 1;
const ORANGE: u8 = 2;
const WHITE: u8 = 3;

/// ALE Pong's colours: background, agent, opponent, ball and walls.
pub const PALETTE: [Rgb; 4] = [
    [144, 72, 17],
    [92, 186, 92],
    [213, 130, 74],
    [236, 236, 236],
];

const ACTION_MEANINGS: &[&str] = &["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"];

/// The state of a Pong game.
#[derive(Debug, Clone, PartialEq)]
pub struct Pong {
    /// Top rows of the paddles, in 1/256 px.
    agent_y: i32,
    opponent_y: i32,
    /// Ball top-left corner and velocity, in 1/256 px (per frame).
    ball: Option<(i32, i32, i32, i32)>,
    /// Paddle hits in the current rally (each speeds the ball up).
    hits: i32,
    serve_timer: u32,
    /// Serve towards the agent (right) when true.
    serve_right: bool,
    agent_score: u32,
    opponent_score: u32,
    /// Ball centre rows and vertical speeds of the last frames (the opponent's reaction delay).
    history: [(i32, i32); 8],
    /// Where on its paddle the opponent means to meet the ball (offset from the centre,
    /// 1/256 px), drawn anew for every ball it has to return.
    aim: i32,
    frame: usize,
    version: u64,
}

impl Pong {
    /// Points of the agent and of the opponent.
    pub fn score(&self) -> (u32, u32) {
        (self.agent_score, self.opponent_score)
    }

    /// Top rows (pixels) of the agent's and the opponent's paddles.
    pub fn paddles(&self) -> (i32, i32) {
        (self.agent_y / SUB, self.opponent_y / SUB)
    }

    /// Ball top-left corner in pixels, when in play.
    pub fn ball(&self) -> Option<(i32, i32)> {
        self.ball.map(|(x, y, _, _)| (x >> 8, y >> 8))
    }

    /// Ball velocity in pixels per frame, when in play.
    pub fn ball_velocity(&self) -> Option<(f32, f32)> {
        self.ball
            .map(|(_, _, vx, vy)| (vx as f32 / SUB as f32, vy as f32 / SUB as f32))
    }

    /// Put the ball at pixel `(x, y)` with velocity `(vx, vy)` in 1/256 px per frame
    /// (for rule tests).
    pub fn set_ball(&mut self, x: i32, y: i32, vx: i32, vy: i32) {
        self.ball = Some((x * SUB, y * SUB, vx, vy));
        self.serve_timer = 0;
    }

    /// Move the paddles to top rows `agent` and `opponent` (pixels; for rule tests).
    pub fn set_paddles(&mut self, agent: i32, opponent: i32) {
        self.agent_y = agent.clamp(FIELD_TOP, FIELD_BOTTOM - PADDLE_H) * SUB;
        self.opponent_y = opponent.clamp(FIELD_TOP, FIELD_BOTTOM - PADDLE_H) * SUB;
        self.history = [(self.opponent_y + PADDLE_H * SUB / 2, 0); 8];
    }

    /// Set both scores (for rule tests).
    pub fn set_score(&mut self, agent: u32, opponent: u32) {
        self.agent_score = agent;
        self.opponent_score = opponent;
        self.version += 1;
    }

    fn serve(&mut self, rng: &mut EnvRng) {
        let y = rng.random_range(FIELD_TOP + 24..=FIELD_BOTTOM - 28) * SUB;
        let vy = SERVE_VY[rng.random_range(0..SERVE_VY.len())] * BASE_VX / 8;
        let vx = if self.serve_right { BASE_VX } else { -BASE_VX };
        self.ball = Some(((WIDTH_PX / 2 - 2) * SUB, y, vx, vy));
        self.hits = 0;
    }

    /// Vertical speed after a hit at paddle top `paddle_y` by a ball at `ball_y` (sub-px):
    /// proportional to the offset between ball and paddle centres (-9..=9 px when touching),
    /// from flat at the centre to twice the horizontal speed at the ends.
    fn deflect(&self, ball_y: i32, paddle_y: i32, speed: i32) -> i32 {
        let rel = ((ball_y >> 8) + BALL_H / 2 - (paddle_y >> 8) - PADDLE_H / 2).clamp(-9, 9);
        speed * rel * 2 / 9
    }

    fn touches(ball_y: i32, paddle_y: i32) -> bool {
        let (b, p) = (ball_y >> 8, paddle_y >> 8);
        b + BALL_H > p && b < p + PADDLE_H
    }

    fn point(&mut self, agent_scored: bool) -> i32 {
        self.ball = None;
        self.serve_timer = SERVE_DELAY;
        self.version += 1;
        if agent_scored {
            self.agent_score += 1;
            self.serve_right = false;
            1
        } else {
            self.opponent_score += 1;
            self.serve_right = true;
            -1
        }
    }

    fn move_ball(&mut self, rng: &mut EnvRng) -> i32 {
        let Some((x0, y0, vx, vy)) = self.ball else {
            return 0;
        };
        let (mut x, mut y, mut vx, mut vy) = (x0 + vx, y0 + vy, vx, vy);
        let (top, bottom) = (FIELD_TOP * SUB, (FIELD_BOTTOM - BALL_H) * SUB);
        if y < top {
            y = 2 * top - y;
            vy = -vy;
        } else if y > bottom {
            y = 2 * bottom - y;
            vy = -vy;
        }
        let speed = BASE_VX + VX_STEP * (self.hits + 1).min(MAX_SPEEDUPS);
        let agent_face = (AGENT_X - BALL_W) * SUB;
        let opponent_face = (OPPONENT_X + PADDLE_W) * SUB;
        if vx > 0 && x0 <= agent_face && x > agent_face && Self::touches(y, self.agent_y) {
            x = agent_face;
            vy = self.deflect(y, self.agent_y, speed);
            vx = -speed;
            self.hits += 1;
            self.aim = rng.random_range(-OPPONENT_AIM..=OPPONENT_AIM);
        } else if vx < 0
            && x0 >= opponent_face
            && x < opponent_face
            && Self::touches(y, self.opponent_y)
        {
            x = opponent_face;
            vy = self.deflect(y, self.opponent_y, speed);
            vx = speed;
            self.hits += 1;
        }
        self.ball = Some((x, y, vx, vy));
        if x >= WIDTH_PX * SUB {
            self.point(false)
        } else if x + BALL_W * SUB <= 0 {
            self.point(true)
        } else {
            0
        }
    }

    fn move_opponent(&mut self) {
        let centre = (FIELD_TOP + FIELD_BOTTOM) / 2 * SUB;
        let seen = self
            .ball
            .map_or((centre, 0), |(_, y, _, vy)| (y + BALL_H * SUB / 2, vy));
        self.history[self.frame % 8] = seen;
        // Where the ball would be now, judged from what was seen `OPPONENT_DELAY` frames ago
        // (wrong for a while after a bounce: the opponent's reaction time).
        let (y, vy) = self.history[(self.frame + 8 - OPPONENT_DELAY) % 8];
        let target = y + vy * OPPONENT_DELAY as i32 + self.aim;
        let diff = target - (self.opponent_y + PADDLE_H * SUB / 2);
        if diff.abs() > OPPONENT_DEADZONE {
            self.opponent_y += diff.clamp(-OPPONENT_SPEED, OPPONENT_SPEED);
        }
        self.opponent_y = self
            .opponent_y
            .clamp(FIELD_TOP * SUB, (FIELD_BOTTOM - PADDLE_H) * SUB);
    }
}

const WIDTH_PX: i32 = super::raster::WIDTH as i32;

impl Scene for Pong {
    fn backdrop_version(&self) -> u64 {
        self.version
    }

    fn draw_backdrop(&self, p: &mut dyn Paint) {
        p.rect(Rect::new(0, 24, WIDTH_PX, FIELD_TOP - 24), WHITE);
        p.rect(
            Rect::new(0, FIELD_BOTTOM, WIDTH_PX, 210 - FIELD_BOTTOM),
            WHITE,
        );
        number(p, 32, 1, self.opponent_score, 4, 4, ORANGE);
        number(p, 128, 1, self.agent_score, 4, 4, GREEN);
    }

    fn sprites(&self) -> Sprites {
        let paddle = |x, y: i32, color| Sprite {
            rect: Rect::new(x, y >> 8, PADDLE_W, PADDLE_H),
            color,
        };
        [
            Some(paddle(OPPONENT_X, self.opponent_y, ORANGE)),
            Some(paddle(AGENT_X, self.agent_y, GREEN)),
            self.ball.map(|(x, y, _, _)| Sprite {
                rect: Rect::new(x >> 8, y >> 8, BALL_W, BALL_H),
                color: WHITE,
            }),
            None,
        ]
    }
}

impl ArcadeGame for Pong {
    const ID: &'static str = ID;
    const ACTION_MEANINGS: &'static [&'static str] = ACTION_MEANINGS;
    const PALETTE: &'static [Rgb] = &PALETTE;

    fn new() -> Self {
        let mid = ((FIELD_TOP + FIELD_BOTTOM - PADDLE_H) / 2) * SUB;
        Self {
            agent_y: mid,
            opponent_y: mid,
            ball: None,
            hits: 0,
            serve_timer: SERVE_DELAY,
            serve_right: true,
            agent_score: 0,
            opponent_score: 0,
            history: [(mid + PADDLE_H * SUB / 2, 0); 8],
            aim: 0,
            frame: 0,
            version: 0,
        }
    }

    fn reset(&mut self, rng: &mut EnvRng) {
        let version = self.version + 1;
        *self = Self::new();
        self.version = version;
        self.serve_right = rng.random();
    }

    fn tick(&mut self, action: usize, rng: &mut EnvRng) -> i32 {
        if self.game_over() {
            return 0;
        }
        self.frame = self.frame.wrapping_add(1);
        match action {
            2 | 4 => self.agent_y -= AGENT_SPEED,
            3 | 5 => self.agent_y += AGENT_SPEED,
            _ => {}
        }
        self.agent_y = self
            .agent_y
            .clamp(FIELD_TOP * SUB, (FIELD_BOTTOM - PADDLE_H) * SUB);
        self.move_opponent();
        if self.ball.is_none() {
            if self.serve_timer > 0 {
                self.serve_timer -= 1;
            }
            if self.serve_timer == 0 {
                self.serve(rng);
            }
            return 0;
        }
        self.move_ball(rng)
    }

    fn lives(&self) -> u32 {
        0
    }

    fn game_over(&self) -> bool {
        self.agent_score >= WIN_SCORE || self.opponent_score >= WIN_SCORE
    }
}

/// Build `Pong-v0` for the registry.
pub fn build(cfg: &EnvConfig) -> Result<Box<dyn Env>> {
    Ok(Box::new(ArcadeEnv::<Pong>::from_config(cfg)?))
}

/// Build the scripted Pong player for the registry (it reads the frame skip from the options).
pub fn build_scripted(cfg: &EnvConfig) -> Result<Box<dyn Policy>> {
    let opts = ArcadeOptions::from_config(ID, cfg)?;
    Ok(Box::new(PongScripted::new(opts.frameskip)))
}

/// Plays Pong from pixels: finds the ball and its own paddle in the frame (RGB 210x160x3 or
/// gray 210x160), predicts where the ball will cross its paddle (with wall bounces), and
/// moves there so the ball meets the paddle near one end, which sends it back steeply: the
/// opponent cannot keep up with steep fast balls.
#[derive(Debug, Clone)]
pub struct PongScripted {
    frameskip: u32,
    last_ball: Option<(i32, i32)>,
}

impl PongScripted {
    /// A player for envs stepping `frameskip` frames per action.
    pub fn new(frameskip: u32) -> Self {
        Self {
            frameskip: frameskip.max(1),
            last_ball: None,
        }
    }
}

/// Pixel classification of a Pong frame, RGB or gray.
struct View<'a> {
    data: &'a [u8],
    rgb: bool,
}

impl View<'_> {
    fn is(&self, x: i32, y: i32, color: u8) -> bool {
        let c = PALETTE[color as usize];
        let i = y as usize * 160 + x as usize;
        if self.rgb {
            self.data[i * 3..i * 3 + 3] == c
        } else {
            self.data[i] == crate::preprocess::luma(c[0], c[1], c[2])
        }
    }
}

/// Reflect a predicted row into `[lo, hi]` as the walls would.
fn fold(y: i32, lo: i32, hi: i32) -> i32 {
    let span = hi - lo;
    if span <= 0 {
        return lo;
    }
    let m = (y - lo).rem_euclid(2 * span);
    lo + if m > span { 2 * span - m } else { m }
}

impl Policy for PongScripted {
    fn name(&self) -> &str {
        "scripted"
    }

    fn act(&mut self, obs: Obs<'_>) -> Result<OwnedAction> {
        let data = obs.as_u8().unwrap_or(&[]);
        let rgb = match data.len() {
            n if n == 210 * 160 * 3 => true,
            n if n == 210 * 160 => false,
            n => {
                return Err(SimError::Invalid(format!(
                    "the {ID} scripted policy needs a 210x160x3 or 210x160 u8 frame, got {n} elements"
                )));
            }
        };
        let v = View { data, rgb };
        let ball = (FIELD_TOP..FIELD_BOTTOM)
            .flat_map(|y| (0..WIDTH_PX).map(move |x| (x, y)))
            .find(|&(x, y)| v.is(x, y, WHITE));
        let col = AGENT_X + 1;
        let top = (FIELD_TOP..FIELD_BOTTOM).find(|&y| v.is(col, y, GREEN));
        let bottom = (FIELD_TOP..FIELD_BOTTOM)
            .rev()
            .find(|&y| v.is(col, y, GREEN));
        let (Some(top), Some(bottom)) = (top, bottom) else {
            return Ok(OwnedAction::Discrete(0));
        };
        // Estimate the paddle's top row from whichever end is visible (the ball may hide one).
        let paddle = if bottom - top + 1 >= PADDLE_H || top > FIELD_TOP {
            top
        } else {
            bottom + 1 - PADDLE_H
        };
        let centre_row = (FIELD_TOP + FIELD_BOTTOM) / 2;
        let target_centre = match (ball, self.last_ball) {
            (Some((x, y)), Some((px, py))) if x > px && x < AGENT_X => {
                let (dx, dy) = (x - px, y - py);
                let steps = (AGENT_X - BALL_W - x) / dx;
                let arrive = fold(y + dy * steps, FIELD_TOP, FIELD_BOTTOM - BALL_H);
                // Meet the ball near one end of the paddle so it leaves at 45 degrees,
                // upwards when the opponent is low and downwards when it is high.
                let opponent = (FIELD_TOP..FIELD_BOTTOM).find(|&y| v.is(OPPONENT_X + 1, y, ORANGE));
                let up = opponent.is_some_and(|y| y + PADDLE_H / 2 > centre_row);
                let aim = if up { 5 } else { -5 };
                let (lo, hi) = (FIELD_TOP + PADDLE_H / 2, FIELD_BOTTOM - PADDLE_H / 2);
                let t = arrive + BALL_H / 2 + aim;
                // Against a wall the paddle cannot get past the ball: aim the other way.
                if (lo..=hi).contains(&t) {
                    t
                } else {
                    t - 2 * aim
                }
            }
            (Some((_, y)), _) => y + BALL_H / 2,
            (None, _) => centre_row,
        };
        self.last_ball = ball;
        let diff = target_centre - (paddle + PADDLE_H / 2);
        let step = (AGENT_SPEED / SUB) * self.frameskip as i32;
        let dead = (step / 2).max(1);
        let action = if diff > dead {
            3 // LEFT: down
        } else if diff < -dead {
            2 // RIGHT: up
        } else {
            0
        };
        Ok(OwnedAction::Discrete(action))
    }

    fn reset(&mut self) {
        self.last_ball = None;
    }
}
