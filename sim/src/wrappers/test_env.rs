//! A tiny deterministic env for the wrapper unit tests: a 4x4 RGB frame whose pixels encode
//! the step counter, with lives and an optional episode cap.

use crate::env::{Action, Env, Frame, Info, Obs, Step, check_discrete};
use crate::error::{Result, SimError};
use crate::space::Space;

pub(crate) const H: usize = 4;
pub(crate) const W: usize = 4;

/// Value of channel `c` of pixel `i` at episode step `t`: alternates between a rising and a
/// falling ramp so that the max of two frames differs from either frame.
pub(crate) fn pixel(t: u64, i: usize, c: usize) -> u8 {
    let t = t.min(20) as usize;
    let v = if (i + t).is_multiple_of(2) {
        10 * t
    } else {
        200 - 10 * t
    };
    (v + c) as u8
}

pub(crate) fn frame(t: u64) -> Vec<u8> {
    (0..H * W)
        .flat_map(|i| (0..3).map(move |c| pixel(t, i, c)))
        .collect()
}

pub(crate) struct TestEnv {
    obs_space: Space,
    act_space: Space,
    pub t: u64,
    pub total: u64,
    pub lives: u32,
    pub start_lives: u32,
    /// Lose a life every this many steps (0: never).
    pub life_every: u64,
    /// Truncate at this step (0: never).
    pub max_t: u64,
    pub meanings: &'static [&'static str],
    pub actions: Vec<i64>,
    pub resets: Vec<Option<u64>>,
    started: bool,
    done: bool,
    buf: Vec<u8>,
}

impl TestEnv {
    pub(crate) fn new(start_lives: u32, life_every: u64, max_t: u64) -> Self {
        Self {
            obs_space: Space::image(&[H, W, 3]),
            act_space: Space::Discrete { n: 3 },
            t: 0,
            total: 0,
            lives: start_lives,
            start_lives,
            life_every,
            max_t,
            meanings: &["NOOP", "FIRE", "RIGHT"],
            actions: Vec::new(),
            resets: Vec::new(),
            started: false,
            done: false,
            buf: frame(0),
        }
    }

    fn info(&self) -> Info {
        Info {
            lives: self.lives,
            episode_frame_number: self.t,
            frame_number: self.total,
            ..Default::default()
        }
    }
}

impl Env for TestEnv {
    fn id(&self) -> &str {
        "Test-v0"
    }
    fn observation_space(&self) -> &Space {
        &self.obs_space
    }
    fn action_space(&self) -> &Space {
        &self.act_space
    }
    fn reset(&mut self, seed: Option<u64>) -> Result<(Obs<'_>, Info)> {
        self.resets.push(seed);
        self.t = 0;
        self.lives = self.start_lives;
        self.started = true;
        self.done = false;
        self.buf = frame(0);
        Ok((Obs::U8(&self.buf), self.info()))
    }
    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        if !self.started || self.done {
            return Err(SimError::NeedsReset {
                id: "Test-v0".into(),
                when: "after the episode ended",
            });
        }
        let a = check_discrete("Test-v0", &self.act_space, action)?;
        self.actions.push(a as i64);
        self.t += 1;
        self.total += 1;
        let mut terminated = false;
        if self.life_every > 0 && self.t.is_multiple_of(self.life_every) && self.lives > 0 {
            self.lives -= 1;
            terminated = self.lives == 0;
        }
        let truncated = self.max_t > 0 && self.t >= self.max_t && !terminated;
        self.done = terminated || truncated;
        let t = self.t;
        for (i, px) in self.buf.chunks_exact_mut(3).enumerate() {
            for (c, v) in px.iter_mut().enumerate() {
                *v = pixel(t, i, c);
            }
        }
        Ok(Step {
            obs: Obs::U8(&self.buf),
            reward: (t as f32 - 3.0) * 0.5 + 10.0 * a as f32,
            terminated,
            truncated,
            info: self.info(),
        })
    }
    fn obs(&self) -> Obs<'_> {
        Obs::U8(&self.buf)
    }
    fn render(&mut self) -> Frame<'_> {
        Frame {
            height: H,
            width: W,
            channels: 3,
            data: &self.buf,
        }
    }
    fn action_meanings(&self) -> Option<&'static [&'static str]> {
        Some(self.meanings)
    }
}
