//! `Breakout-v0`: the Atari 2600 Breakout rules on ALE's screen layout.
//!
//! Six rows of 18 bricks (red, orange, yellow, green, aqua, blue from the top; 7, 7, 4, 4, 1,
//! 1 points as in ALE), five lives, and a ball that does not move until FIRE serves it. The
//! ball speeds up after the 4th and 12th paddle hit and on its first contact with the orange
//! and with the red row (each once per ball); its horizontal speed depends on where it hits
//! the paddle (6 zones, steepest at the ends). The paddle shrinks to half its width once the
//! ball has reached the top wall. Clearing the wall brings a second one; clearing that ends
//! the game (864 points at most). A ball below the paddle costs a life; the game is over when
//! no lives are left.
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
pub const ID: &str = "Breakout-v0";

const SUB: i32 = 256;
/// Inner edges of the side walls and bottom edge of the top wall.
pub const LEFT: i32 = 8;
pub const RIGHT: i32 = 152;
pub const TOP: i32 = 32;
/// Brick grid: first row, brick size, rows and columns.
pub const BRICK_TOP: i32 = 57;
pub const BRICK_H: i32 = 6;
pub const BRICK_W: i32 = 8;
pub const BRICK_ROWS: usize = 6;
pub const BRICK_COLS: usize = 18;
/// Points per brick row, top to bottom (ALE's values).
pub const ROW_POINTS: [u32; BRICK_ROWS] = [7, 7, 4, 4, 1, 1];
/// Top row of the paddle, its height, and its widths before and after shrinking.
pub const PADDLE_Y: i32 = 189;
pub const PADDLE_H: i32 = 4;
pub const PADDLE_W: i32 = 16;
pub const SMALL_PADDLE_W: i32 = 8;
pub const BALL_W: i32 = 2;
pub const BALL_H: i32 = 4;
/// Lives at the start of a game.
pub const LIVES: u32 = 5;
/// A ball whose top passes this row is lost.
const LOST_Y: i32 = 200;
/// Row where a served ball appears.
const SERVE_Y: i32 = 100;
const PADDLE_SPEED: i32 = 3;
/// Vertical speed by speed level (0 at serve, +1 per speed-up), in 1/256 px per frame.
const VY: [i32; 5] = [384, 512, 640, 768, 896];
/// Horizontal speed in eighths of the vertical speed, by paddle zone (left to right).
const ZONE_VX: [i32; 6] = [-12, -8, -4, 4, 8, 12];

const GREY: u8 = 1;
const RED: u8 = 2;

/// Black background, grey walls, then the brick rows top to bottom (the paddle and ball are
/// red, like the top row).
pub const PALETTE: [Rgb; 8] = [
    [0, 0, 0],
    [142, 142, 142],
    [200, 72, 72],
    [198, 108, 58],
    [180, 122, 48],
    [162, 162, 42],
    [66, 158, 130],
    [66, 72, 200],
];

const ACTION_MEANINGS: &[&str] = &["NOOP", "FIRE", "RIGHT", "LEFT"];

/// The state of a Breakout game.
#[derive(Debug, Clone, PartialEq)]
pub struct Breakout {
    /// One bit per brick still standing, per row (bit `c` = column `c`).
    bricks: [u32; BRICK_ROWS],
    /// 1 or 2.
    wall: u32,
    score: u32,
    lives: u32,
    paddle_x: i32,
    paddle_w: i32,
    /// Ball top-left corner and velocity, in 1/256 px (per frame); `None` until served.
    ball: Option<(i32, i32, i32, i32)>,
    /// Paddle hits of the current ball.
    hits: u32,
    /// Speed-ups taken by the current ball (index into `VY`).
    level: usize,
    hit_orange: bool,
    hit_red: bool,
    over: bool,
    version: u64,
}

const FULL_ROW: u32 = (1 << BRICK_COLS) - 1;

impl Breakout {
    /// Score so far.
    pub fn score(&self) -> u32 {
        self.score
    }

    /// Which wall is being played (1 or 2).
    pub fn wall(&self) -> u32 {
        self.wall
    }

    /// Left column and width of the paddle, in pixels.
    pub fn paddle(&self) -> (i32, i32) {
        (self.paddle_x, self.paddle_w)
    }

    /// Ball top-left corner in pixels, when in play.
    pub fn ball(&self) -> Option<(i32, i32)> {
        self.ball.map(|(x, y, _, _)| (x >> 8, y >> 8))
    }

    /// Ball velocity in 1/256 px per frame, when in play.
    pub fn ball_velocity(&self) -> Option<(i32, i32)> {
        self.ball.map(|(_, _, vx, vy)| (vx, vy))
    }

    /// Speed-ups taken by the current ball (0..=4).
    pub fn speed_level(&self) -> usize {
        self.level
    }

    /// Whether the brick at `row` (0 = top, red) and `col` is standing.
    pub fn brick(&self, row: usize, col: usize) -> bool {
        row < BRICK_ROWS && col < BRICK_COLS && self.bricks[row] & (1 << col) != 0
    }

    /// Bricks still standing.
    pub fn bricks_left(&self) -> u32 {
        self.bricks.iter().map(|r| r.count_ones()).sum()
    }

    /// Remove or restore one brick (for rule tests).
    pub fn set_brick(&mut self, row: usize, col: usize, standing: bool) {
        if row < BRICK_ROWS && col < BRICK_COLS {
            if standing {
                self.bricks[row] |= 1 << col;
            } else {
                self.bricks[row] &= !(1 << col);
            }
            self.version += 1;
        }
    }

    /// Put the ball at pixel `(x, y)` with velocity `(vx, vy)` in 1/256 px per frame.
    pub fn set_ball(&mut self, x: i32, y: i32, vx: i32, vy: i32) {
        self.ball = Some((x * SUB, y * SUB, vx, vy));
    }

    /// Move the paddle's left edge to `x` pixels (clamped between the walls).
    pub fn set_paddle(&mut self, x: i32) {
        self.paddle_x = x.clamp(LEFT, RIGHT - self.paddle_w);
    }

    fn serve(&mut self, rng: &mut EnvRng) {
        let x = rng.random_range(LEFT + 8..=RIGHT - 8 - BALL_W) * SUB;
        let vy = VY[0];
        let vx = if rng.random() { vy } else { -vy };
        self.ball = Some((x, SERVE_Y * SUB, vx, vy));
        self.hits = 0;
        self.level = 0;
        self.hit_orange = false;
        self.hit_red = false;
    }

    fn speed_up(&mut self, vx: &mut i32, vy: &mut i32) {
        if self.level + 1 < VY.len() {
            self.level += 1;
            let (old, new) = (VY[self.level - 1], VY[self.level]);
            *vx = *vx * new / old;
            *vy = vy.signum() * new;
        }
    }

    /// Remove the first standing brick the ball (pixel rect) overlaps; its row, if any.
    fn hit_brick(&mut self, x: i32, y: i32, up: bool) -> Option<usize> {
        let (bx, by) = (x >> 8, y >> 8);
        let r_lo = (by - BRICK_TOP).max(0) / BRICK_H;
        let r_hi = (by + BALL_H - 1 - BRICK_TOP) / BRICK_H;
        if by + BALL_H <= BRICK_TOP || r_lo >= BRICK_ROWS as i32 || r_hi < 0 {
            return None;
        }
        let r_hi = r_hi.min(BRICK_ROWS as i32 - 1);
        let c_lo = ((bx - LEFT).max(0) / BRICK_W) as usize;
        let c_hi = (((bx + BALL_W - 1 - LEFT) / BRICK_W).max(0) as usize).min(BRICK_COLS - 1);
        for k in 0..=(r_hi - r_lo) {
            let r = if up { r_hi - k } else { r_lo + k } as usize;
            for c in c_lo..=c_hi {
                if self.bricks[r] & (1 << c) != 0 {
                    self.bricks[r] &= !(1 << c);
                    return Some(r);
                }
            }
        }
        None
    }

    /// Score a brick of `row` and apply the row speed-ups; returns the points.
    fn brick_broken(&mut self, row: usize, vx: &mut i32, vy: &mut i32) -> i32 {
        self.version += 1;
        let pts = ROW_POINTS[row];
        self.score += pts;
        if row == 1 && !self.hit_orange {
            self.hit_orange = true;
            self.speed_up(vx, vy);
        }
        if row == 0 && !self.hit_red {
            self.hit_red = true;
            self.speed_up(vx, vy);
        }
        if self.bricks.iter().all(|&r| r == 0) {
            if self.wall == 1 {
                self.wall = 2;
                self.bricks = [FULL_ROW; BRICK_ROWS];
            } else {
                self.over = true;
                self.ball = None;
            }
        }
        pts as i32
    }

    fn move_ball(&mut self) -> i32 {
        let Some((mut x, mut y, mut vx, mut vy)) = self.ball else {
            return 0;
        };
        let mut reward = 0;
        let n = vx.abs().max(vy.abs()) / SUB + 1;
        for i in 0..n {
            // x axis
            let dx = vx * (i + 1) / n - vx * i / n;
            x += dx;
            if x < LEFT * SUB {
                x = 2 * LEFT * SUB - x;
                vx = -vx;
            } else if x > (RIGHT - BALL_W) * SUB {
                x = 2 * (RIGHT - BALL_W) * SUB - x;
                vx = -vx;
            }
            if let Some(row) = self.hit_brick(x, y, vy < 0) {
                x -= dx;
                vx = -vx;
                reward += self.brick_broken(row, &mut vx, &mut vy);
                if self.over {
                    return reward;
                }
            }
            // y axis
            let dy = vy * (i + 1) / n - vy * i / n;
            let prev_bottom = (y >> 8) + BALL_H;
            y += dy;
            if y < TOP * SUB {
                y = 2 * TOP * SUB - y;
                vy = -vy;
                if self.paddle_w != SMALL_PADDLE_W {
                    self.paddle_w = SMALL_PADDLE_W;
                    self.paddle_x += (PADDLE_W - SMALL_PADDLE_W) / 2;
                }
            }
            if let Some(row) = self.hit_brick(x, y, vy < 0) {
                y -= dy;
                vy = -vy;
                reward += self.brick_broken(row, &mut vx, &mut vy);
                if self.over {
                    return reward;
                }
            }
            let (bx, bottom) = (x >> 8, (y >> 8) + BALL_H);
            if vy > 0
                && prev_bottom <= PADDLE_Y
                && bottom > PADDLE_Y
                && bx + BALL_W > self.paddle_x
                && bx < self.paddle_x + self.paddle_w
            {
                y = (PADDLE_Y - BALL_H) * SUB;
                let rel = bx + BALL_W / 2 - self.paddle_x; // 0..=w when touching
                let zone = (rel * 6 / (self.paddle_w + 1)).clamp(0, 5) as usize;
                vy = -VY[self.level];
                vx = ZONE_VX[zone] * VY[self.level] / 8;
                self.hits += 1;
                if self.hits == 4 || self.hits == 12 {
                    self.speed_up(&mut vx, &mut vy);
                }
            }
        }
        if y >> 8 >= LOST_Y {
            self.ball = None;
            self.lives = self.lives.saturating_sub(1);
            self.over = self.lives == 0;
            self.version += 1;
        } else {
            self.ball = Some((x, y, vx, vy));
        }
        reward
    }
}

impl Scene for Breakout {
    fn backdrop_version(&self) -> u64 {
        self.version
    }

    fn draw_backdrop(&self, p: &mut dyn Paint) {
        p.rect(Rect::new(0, 17, 160, TOP - 17), GREY);
        p.rect(Rect::new(0, TOP, LEFT, 196 - TOP), GREY);
        p.rect(Rect::new(RIGHT, TOP, 160 - RIGHT, 196 - TOP), GREY);
        for (r, bits) in self.bricks.iter().enumerate() {
            for c in 0..BRICK_COLS {
                if bits & (1 << c) != 0 {
                    p.rect(
                        Rect::new(
                            LEFT + c as i32 * BRICK_W,
                            BRICK_TOP + r as i32 * BRICK_H,
                            BRICK_W,
                            BRICK_H,
                        ),
                        RED + r as u8,
                    );
                }
            }
        }
        number(p, 52, 5, self.score, 3, 2, GREY);
        number(p, 100, 5, self.lives, 3, 2, GREY);
        number(p, 128, 5, 1, 3, 2, GREY);
    }

    fn sprites(&self) -> Sprites {
        [
            Some(Sprite {
                rect: Rect::new(self.paddle_x, PADDLE_Y, self.paddle_w, PADDLE_H),
                color: RED,
            }),
            self.ball.map(|(x, y, _, _)| Sprite {
                rect: Rect::new(x >> 8, y >> 8, BALL_W, BALL_H),
                color: RED,
            }),
            None,
            None,
        ]
    }
}

impl ArcadeGame for Breakout {
    const ID: &'static str = ID;
    const ACTION_MEANINGS: &'static [&'static str] = ACTION_MEANINGS;
    const PALETTE: &'static [Rgb] = &PALETTE;

    fn new() -> Self {
        Self {
            bricks: [FULL_ROW; BRICK_ROWS],
            wall: 1,
            score: 0,
            lives: LIVES,
            paddle_x: (LEFT + RIGHT - PADDLE_W) / 2,
            paddle_w: PADDLE_W,
            ball: None,
            hits: 0,
            level: 0,
            hit_orange: false,
            hit_red: false,
            over: false,
            version: 0,
        }
    }

    fn reset(&mut self, _rng: &mut EnvRng) {
        let version = self.version + 1;
        *self = Self::new();
        self.version = version;
    }

    fn tick(&mut self, action: usize, rng: &mut EnvRng) -> i32 {
        if self.over {
            return 0;
        }
        match action {
            2 => self.paddle_x += PADDLE_SPEED,
            3 => self.paddle_x -= PADDLE_SPEED,
            _ => {}
        }
        self.paddle_x = self.paddle_x.clamp(LEFT, RIGHT - self.paddle_w);
        if self.ball.is_none() {
            if action == 1 {
                self.serve(rng);
            }
            return 0;
        }
        self.move_ball()
    }

    fn lives(&self) -> u32 {
        self.lives
    }

    fn game_over(&self) -> bool {
        self.over
    }
}

/// Build `Breakout-v0` for the registry.
pub fn build(cfg: &EnvConfig) -> Result<Box<dyn Env>> {
    Ok(Box::new(ArcadeEnv::<Breakout>::from_config(cfg)?))
}

/// Build the scripted Breakout player for the registry.
pub fn build_scripted(cfg: &EnvConfig) -> Result<Box<dyn Policy>> {
    let opts = ArcadeOptions::from_config(ID, cfg)?;
    Ok(Box::new(BreakoutScripted::new(opts.frameskip)))
}

/// Plays Breakout from pixels (RGB 210x160x3 or gray 210x160): FIRE when no ball is in play,
/// otherwise move the paddle under the ball, aiming at where a falling ball will reach the
/// paddle row (with side-wall bounces).
#[derive(Debug, Clone)]
pub struct BreakoutScripted {
    frameskip: u32,
    last_ball: Option<(i32, i32)>,
}

impl BreakoutScripted {
    /// A player for envs stepping `frameskip` frames per action.
    pub fn new(frameskip: u32) -> Self {
        Self {
            frameskip: frameskip.max(1),
            last_ball: None,
        }
    }
}

fn fold(v: i32, lo: i32, hi: i32) -> i32 {
    let span = hi - lo;
    if span <= 0 {
        return lo;
    }
    let m = (v - lo).rem_euclid(2 * span);
    lo + if m > span { 2 * span - m } else { m }
}

impl Policy for BreakoutScripted {
    fn name(&self) -> &str {
        "scripted"
    }

    fn act(&mut self, obs: Obs<'_>) -> Result<OwnedAction> {
        let data = obs.as_u8().unwrap_or(&[]);
        let ch = match data.len() {
            n if n == 210 * 160 * 3 => 3,
            n if n == 210 * 160 => 1,
            n => {
                return Err(SimError::Invalid(format!(
                    "the {ID} scripted policy needs a 210x160x3 or 210x160 u8 frame, got {n} elements"
                )));
            }
        };
        let bg = |x: i32, y: i32| {
            let i = (y as usize * 160 + x as usize) * ch;
            data[i..i + ch].iter().all(|&v| v == 0)
        };
        // The ball: anything not black between the bricks and the paddle, inside the walls.
        let ball = (BRICK_TOP + BRICK_H * BRICK_ROWS as i32..PADDLE_Y)
            .flat_map(|y| (LEFT..RIGHT).map(move |x| (x, y)))
            .find(|&(x, y)| !bg(x, y))
            .or_else(|| {
                // Above or inside the brick area: a non-black pixel in a gap row below TOP.
                (TOP..BRICK_TOP)
                    .flat_map(|y| (LEFT..RIGHT).map(move |x| (x, y)))
                    .find(|&(x, y)| !bg(x, y))
            });
        let row = PADDLE_Y + 1;
        let left = (LEFT..RIGHT).find(|&x| !bg(x, row));
        let right = (LEFT..RIGHT).rev().find(|&x| !bg(x, row));
        let (Some(left), Some(right)) = (left, right) else {
            return Ok(OwnedAction::Discrete(0));
        };
        let centre = (left + right + 1) / 2;
        let target = match (ball, self.last_ball) {
            (None, _) => {
                self.last_ball = None;
                return Ok(OwnedAction::Discrete(1));
            }
            (Some((x, y)), Some((px, py))) if y > py => {
                let steps = (PADDLE_Y - BALL_H - y) / (y - py);
                fold(x + (x - px) * steps, LEFT, RIGHT - BALL_W) + BALL_W / 2
            }
            (Some((x, _)), _) => x + BALL_W / 2,
        };
        self.last_ball = ball;
        let diff = target - centre;
        let dead = (PADDLE_SPEED * self.frameskip as i32 / 2).max(1);
        let action = if diff > dead {
            2
        } else if diff < -dead {
            3
        } else {
            0
        };
        Ok(OwnedAction::Discrete(action))
    }

    fn reset(&mut self) {
        self.last_ball = None;
    }
}
