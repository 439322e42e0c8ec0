//! The environment contract, shaped like Gymnasium 1.x.
//!
//! Observations, frames and actions are *borrowed* views: an env owns its buffers and
//! hands out slices into them, so stepping allocates nothing. Copy what you need before
//! the next call.

use crate::error::Result;
use crate::space::Space;

/// A borrowed observation: a `u8` frame (H x W x C, or stacked planes) or an `f32` vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Obs<'a> {
    U8(&'a [u8]),
    F32(&'a [f32]),
}

impl<'a> Obs<'a> {
    /// Number of scalar elements.
    pub fn len(&self) -> usize {
        match self {
            Obs::U8(d) => d.len(),
            Obs::F32(d) => d.len(),
        }
    }

    /// True when the observation has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes of a `u8` observation, or `None` for a vector one.
    pub fn as_u8(&self) -> Option<&'a [u8]> {
        match self {
            Obs::U8(d) => Some(d),
            Obs::F32(_) => None,
        }
    }

    /// The values of an `f32` observation, or `None` for a frame.
    pub fn as_f32(&self) -> Option<&'a [f32]> {
        match self {
            Obs::F32(d) => Some(d),
            Obs::U8(_) => None,
        }
    }
}

/// A borrowed action. `Discrete` for `Space::Discrete`, `Continuous` for a `Box` action space.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action<'a> {
    Discrete(i64),
    Continuous(&'a [f32]),
}

/// An owned action, as a policy returns it.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedAction {
    Discrete(i64),
    Continuous(Vec<f32>),
}

impl OwnedAction {
    /// Borrow as an [`Action`] to pass to [`Env::step`].
    pub fn as_action(&self) -> Action<'_> {
        match self {
            OwnedAction::Discrete(a) => Action::Discrete(*a),
            OwnedAction::Continuous(v) => Action::Continuous(v),
        }
    }
}

impl std::fmt::Display for Action<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Discrete(a) => write!(f, "{a}"),
            Action::Continuous(v) => write!(f, "{v:?}"),
        }
    }
}

/// Statistics of a finished episode, attached to the final step's [`Info`] by the
/// episode-statistics wrapper (Gymnasium's `RecordEpisodeStatistics`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EpisodeStats {
    /// Sum of rewards over the episode (before any reward clipping further out).
    pub episode_return: f64,
    /// Number of agent steps in the episode.
    pub length: u64,
}

/// Typed step information: the fields ALE and Gymnasium users read, never a string map.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Info {
    /// Lives left (0 for games without lives).
    pub lives: u32,
    /// Emulator frames since the start of this episode (ALE's `episode_frame_number`).
    pub episode_frame_number: u64,
    /// Emulator frames since the env was created (ALE's `frame_number`).
    pub frame_number: u64,
    /// Set on the last step of an episode by the episode-statistics wrapper.
    pub episode: Option<EpisodeStats>,
    /// Why the episode ended early, when the env or a wrapper knows (e.g. "time_limit").
    pub end_reason: Option<&'static str>,
    /// Driving state (speed, progress, lane offset, off-road, collision) for `sim::drive` envs.
    pub drive: Option<crate::drive::DriveInfo>,
}

/// The result of one [`Env::step`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step<'a> {
    pub obs: Obs<'a>,
    pub reward: f32,
    /// The episode reached a terminal state of the MDP (game over, pole fell).
    pub terminated: bool,
    /// The episode was cut short from outside the MDP (time limit, frame cap).
    pub truncated: bool,
    pub info: Info,
}

impl Step<'_> {
    /// Either end of episode: the caller must `reset` before stepping again.
    pub fn done(&self) -> bool {
        self.terminated || self.truncated
    }
}

/// A borrowed RGB (or grayscale) image in H x W x C layout.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame<'a> {
    pub height: usize,
    pub width: usize,
    /// 3 for RGB, 1 for grayscale.
    pub channels: usize,
    pub data: &'a [u8],
}

impl Frame<'_> {
    /// Copy into an owned frame (for recording or GIF export).
    pub fn to_owned(&self) -> OwnedFrame {
        OwnedFrame {
            height: self.height,
            width: self.width,
            channels: self.channels,
            data: self.data.to_vec(),
        }
    }
}

/// An owned copy of a [`Frame`].
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedFrame {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub data: Vec<u8>,
}

impl OwnedFrame {
    /// Borrow as a [`Frame`].
    pub fn as_frame(&self) -> Frame<'_> {
        Frame {
            height: self.height,
            width: self.width,
            channels: self.channels,
            data: &self.data,
        }
    }
}

/// A Gymnasium-style environment.
///
/// * `reset(Some(seed))` reseeds the env's RNG; `reset(None)` continues the current stream
///   (on the very first reset, `None` seeds from OS entropy, as Gymnasium does).
/// * `step` after a terminated/truncated step, or before any reset, is an error
///   ([`crate::SimError::NeedsReset`]); the vector env performs autoreset itself.
/// * Everything an env needs lives in the env value: two envs never share state, so the
///   same seed and actions give the same bytes.
pub trait Env: Send {
    /// Registered id, e.g. `Pong-v0` (wrappers report the id of the env they wrap).
    fn id(&self) -> &str;
    fn observation_space(&self) -> &Space;
    fn action_space(&self) -> &Space;
    /// Start a new episode and return the first observation.
    fn reset(&mut self, seed: Option<u64>) -> Result<(Obs<'_>, Info)>;
    /// Advance one agent step.
    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>>;
    /// The current observation, as returned by the last `reset`/`step`.
    fn obs(&self) -> Obs<'_>;
    /// An RGB picture of the current state for people (Gymnasium's `rgb_array`).
    fn render(&mut self) -> Frame<'_>;
    /// Human names of the discrete actions (ALE's `get_action_meanings`), when they exist.
    fn action_meanings(&self) -> Option<&'static [&'static str]> {
        None
    }
}

impl<E: Env + ?Sized> Env for Box<E> {
    fn id(&self) -> &str {
        (**self).id()
    }
    fn observation_space(&self) -> &Space {
        (**self).observation_space()
    }
    fn action_space(&self) -> &Space {
        (**self).action_space()
    }
    fn reset(&mut self, seed: Option<u64>) -> Result<(Obs<'_>, Info)> {
        (**self).reset(seed)
    }
    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        (**self).step(action)
    }
    fn obs(&self) -> Obs<'_> {
        (**self).obs()
    }
    fn render(&mut self) -> Frame<'_> {
        (**self).render()
    }
    fn action_meanings(&self) -> Option<&'static [&'static str]> {
        (**self).action_meanings()
    }
}

/// Where an env is in its episode, so `step` can refuse to run before the first reset or
/// after the episode ended (the Gymnasium contract our envs enforce).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EpisodePhase {
    #[default]
    NeverReset,
    Running,
    Done,
}

impl EpisodePhase {
    /// `Ok` while an episode runs, else the [`crate::SimError::NeedsReset`] for env `id`.
    pub fn check_step(self, id: &str) -> Result<()> {
        let when = match self {
            EpisodePhase::Running => return Ok(()),
            EpisodePhase::NeverReset => "before the first reset",
            EpisodePhase::Done => "after the episode ended",
        };
        Err(crate::SimError::NeedsReset {
            id: id.to_string(),
            when,
        })
    }
}

/// Check a discrete action against `n` and produce the standard error when it is outside.
pub fn check_discrete(id: &str, space: &Space, action: Action<'_>) -> Result<usize> {
    let n = space.n().unwrap_or(0);
    match action {
        Action::Discrete(a) if a >= 0 && (a as usize) < n => Ok(a as usize),
        other => Err(crate::SimError::InvalidAction {
            id: id.to_string(),
            action: other.to_string(),
            allowed: format!("Discrete(0..{n})"),
        }),
    }
}
