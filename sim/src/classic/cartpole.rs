//! `CartPole-v1`, step for step the same as Gymnasium 1.x's `CartPole-v1`.
//!
//! Same constants, same Euler integrator, same operation order in `f64` (Gymnasium keeps the
//! state as Python floats / float64), observation cast to `f32`, reward 1 on every step
//! including the one that terminates, and the 500-step truncation that Gymnasium adds with
//! `TimeLimit(max_episode_steps=500)` built in (option `max_episode_steps`). The fixture test
//! `sim/tests/cartpole_gymnasium.rs` checks every state against Gymnasium within 1e-6.
//!
//! Differences from Gymnasium, on purpose: the initial state comes from our seeded ChaCha
//! stream (same distribution, `uniform(-0.05, 0.05)` per component, not the same numbers),
//! and stepping after the episode ended is an error ([`SimError::NeedsReset`]) where
//! Gymnasium only warns.

use super::{Canvas, Rgb};
use crate::config::{EnvConfig, ensure, parse_options};
use crate::env::{Action, Env, EpisodePhase, Frame, Info, Obs, OwnedAction, Step, check_discrete};
use crate::error::{Result, SimError};
use crate::policy::Policy;
use crate::seeding::{EnvRng, reseed};
use crate::space::{DType, Space};
use rand::Rng;
use serde::Deserialize;

/// Registered id.
pub const ID: &str = "CartPole-v1";

const GRAVITY: f64 = 9.8;
const MASSCART: f64 = 1.0;
const MASSPOLE: f64 = 0.1;
const TOTAL_MASS: f64 = MASSPOLE + MASSCART;
/// Half the pole's length, as in Gymnasium.
const LENGTH: f64 = 0.5;
const POLEMASS_LENGTH: f64 = MASSPOLE * LENGTH;
const FORCE_MAG: f64 = 10.0;
/// Seconds between state updates.
const TAU: f64 = 0.02;

/// The episode terminates when `|theta|` exceeds 12 degrees (computed as Gymnasium does).
pub const THETA_THRESHOLD_RADIANS: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
/// The episode terminates when `|x|` exceeds 2.4.
pub const X_THRESHOLD: f64 = 2.4;

/// Gymnasium registers CartPole-v1 with `max_episode_steps=500`.
pub const DEFAULT_MAX_EPISODE_STEPS: u64 = 500;

/// Rendered picture size, as Gymnasium's (600 wide, 400 high).
pub const RENDER_WIDTH: usize = 600;
/// Rendered picture height.
pub const RENDER_HEIGHT: usize = 400;

const ACTION_MEANINGS: &[&str] = &["LEFT", "RIGHT"];

/// Options of `CartPole-v1`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CartPoleOptions {
    /// Truncate the episode after this many steps (Gymnasium's `max_episode_steps`, 500).
    #[serde(default = "default_max_episode_steps")]
    pub max_episode_steps: u64,
}

fn default_max_episode_steps() -> u64 {
    DEFAULT_MAX_EPISODE_STEPS
}

impl Default for CartPoleOptions {
    fn default() -> Self {
        Self {
            max_episode_steps: DEFAULT_MAX_EPISODE_STEPS,
        }
    }
}

impl CartPoleOptions {
    /// Parse and validate the options table of `CartPole-v1`.
    pub fn from_config(cfg: &EnvConfig) -> Result<Self> {
        let opts: Self = parse_options(ID, cfg)?;
        opts.validate()?;
        Ok(opts)
    }

    fn validate(&self) -> Result<()> {
        ensure(
            self.max_episode_steps >= 1,
            ID,
            "max_episode_steps",
            format!("must be at least 1, got {}", self.max_episode_steps),
        )
    }
}

/// The cart-pole balancing task. Observation `[x, x_dot, theta, theta_dot]` as `f32`;
/// actions `0` (push left) and `1` (push right).
pub struct CartPole {
    opts: CartPoleOptions,
    observation_space: Space,
    action_space: Space,
    state: [f64; 4],
    obs: [f32; 4],
    /// `None` until the first reset, which seeds it (from entropy when given no seed).
    rng: Option<EnvRng>,
    phase: EpisodePhase,
    elapsed_steps: u64,
    total_steps: u64,
    frame: Vec<u8>,
}

impl CartPole {
    /// A CartPole with validated options. Call `reset` before stepping.
    pub fn new(opts: CartPoleOptions) -> Result<Self> {
        opts.validate()?;
        // Same bounds as Gymnasium: float32(2 * x_threshold), float32(2 * theta_threshold),
        // and infinite velocities.
        let high = [
            (X_THRESHOLD * 2.0) as f32,
            f32::INFINITY,
            (THETA_THRESHOLD_RADIANS * 2.0) as f32,
            f32::INFINITY,
        ];
        Ok(Self {
            opts,
            observation_space: Space::Box {
                shape: vec![4],
                low: high.iter().map(|h| -h).collect(),
                high: high.to_vec(),
                dtype: DType::F32,
            },
            action_space: Space::Discrete { n: 2 },
            state: [0.0; 4],
            obs: [0.0; 4],
            rng: None,
            phase: EpisodePhase::NeverReset,
            elapsed_steps: 0,
            total_steps: 0,
            frame: vec![0; RENDER_WIDTH * RENDER_HEIGHT * 3],
        })
    }

    /// A CartPole from a `make` options table.
    pub fn from_config(cfg: &EnvConfig) -> Result<Self> {
        Self::new(CartPoleOptions::from_config(cfg)?)
    }

    /// The options this env was built with.
    pub fn options(&self) -> &CartPoleOptions {
        &self.opts
    }

    /// The exact `f64` state `[x, x_dot, theta, theta_dot]` (the observation is its `f32` cast).
    pub fn state(&self) -> [f64; 4] {
        self.state
    }

    /// Start a new episode from an exact state instead of a random one.
    ///
    /// For testing and replay only: it lets a test start from the initial state Gymnasium
    /// drew from its own RNG, or a replayer restore a recorded state. The RNG is untouched.
    /// Returns the observation of that state.
    pub fn reset_to_state(&mut self, state: [f64; 4]) -> Result<Obs<'_>> {
        if state.iter().any(|v| !v.is_finite()) {
            return Err(SimError::Invalid(format!(
                "`{ID}`: reset_to_state needs finite values, got {state:?}"
            )));
        }
        self.start_episode(state);
        Ok(Obs::F32(&self.obs))
    }

    fn start_episode(&mut self, state: [f64; 4]) {
        self.state = state;
        self.write_obs();
        self.elapsed_steps = 0;
        self.phase = EpisodePhase::Running;
    }

    fn write_obs(&mut self) {
        for (o, s) in self.obs.iter_mut().zip(self.state) {
            *o = s as f32;
        }
    }

    fn info(&self, end_reason: Option<&'static str>) -> Info {
        Info {
            lives: 0,
            episode_frame_number: self.elapsed_steps,
            frame_number: self.total_steps,
            end_reason,
            ..Info::default()
        }
    }

    /// One Euler step of Gymnasium's dynamics, in Gymnasium's operation order so that the
    /// `f64` results agree to the last bits (`cos`/`sin` may differ by an ulp between libms).
    fn integrate(&mut self, push_right: bool) {
        let [x, x_dot, theta, theta_dot] = self.state;
        let force = if push_right { FORCE_MAG } else { -FORCE_MAG };
        let costheta = theta.cos();
        let sintheta = theta.sin();
        let temp = (force + POLEMASS_LENGTH * (theta_dot * theta_dot) * sintheta) / TOTAL_MASS;
        let thetaacc = (GRAVITY * sintheta - costheta * temp)
            / (LENGTH * (4.0 / 3.0 - MASSPOLE * (costheta * costheta) / TOTAL_MASS));
        let xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS;
        self.state = [
            x + TAU * x_dot,
            x_dot + TAU * xacc,
            theta + TAU * theta_dot,
            theta_dot + TAU * thetaacc,
        ];
    }

    /// Gymnasium's `x < -2.4 or x > 2.4 or theta < -th or theta > th` (a NaN state, which
    /// Gymnasium would never flag, counts as terminal here).
    fn terminal(&self) -> bool {
        let [x, _, theta, _] = self.state;
        !(-X_THRESHOLD..=X_THRESHOLD).contains(&x)
            || !(-THETA_THRESHOLD_RADIANS..=THETA_THRESHOLD_RADIANS).contains(&theta)
    }
}

impl Env for CartPole {
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
        let mut state = [0.0; 4];
        for s in &mut state {
            *s = rng.random_range(-0.05..0.05);
        }
        self.start_episode(state);
        Ok((Obs::F32(&self.obs), self.info(None)))
    }

    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        self.phase.check_step(ID)?;
        let a = check_discrete(ID, &self.action_space, action)?;
        self.integrate(a == 1);
        self.write_obs();
        self.elapsed_steps += 1;
        self.total_steps += 1;
        let terminated = self.terminal();
        let truncated = self.elapsed_steps >= self.opts.max_episode_steps;
        if terminated || truncated {
            self.phase = EpisodePhase::Done;
        }
        let end_reason = if truncated && !terminated {
            Some("time_limit")
        } else {
            None
        };
        Ok(Step {
            obs: Obs::F32(&self.obs),
            reward: 1.0,
            terminated,
            truncated,
            info: self.info(end_reason),
        })
    }

    fn obs(&self) -> Obs<'_> {
        Obs::F32(&self.obs)
    }

    /// Gymnasium's picture (600 x 400): white background, black cart, brown pole, blue
    /// axle, black track line. Drawn y-up and flipped, as Gymnasium does.
    fn render(&mut self) -> Frame<'_> {
        const WHITE: Rgb = [255, 255, 255];
        const BLACK: Rgb = [0, 0, 0];
        const POLE: Rgb = [202, 152, 101];
        const AXLE: Rgb = [129, 132, 203];
        let (w, h) = (RENDER_WIDTH as f64, RENDER_HEIGHT as f64);
        let scale = w / (X_THRESHOLD * 2.0);
        let polewidth = 10.0;
        let polelen = scale * (2.0 * LENGTH);
        let (cartwidth, cartheight) = (50.0, 30.0);
        let axleoffset = cartheight / 4.0;
        let cartx = self.state[0] * scale + w / 2.0;
        let carty = 100.0;
        // Gymnasium draws with y up and flips the picture; `flip` maps y-up to image rows.
        let flip = |(x, y): (f64, f64)| (x, h - y);

        let mut cv = Canvas {
            data: &mut self.frame,
            width: RENDER_WIDTH,
            height: RENDER_HEIGHT,
        };
        cv.fill(WHITE);
        cv.rect(0.0, h - carty - 1.0, w, h - carty, BLACK);
        let (l, r, t, b) = (
            cartx - cartwidth / 2.0,
            cartx + cartwidth / 2.0,
            carty + cartheight / 2.0,
            carty - cartheight / 2.0,
        );
        cv.rect(l, h - t, r, h - b, BLACK);
        let (sin, cos) = (-self.state[2]).sin_cos();
        let (l, r, t, b) = (
            -polewidth / 2.0,
            polewidth / 2.0,
            polelen - polewidth / 2.0,
            -polewidth / 2.0,
        );
        let mut pole = [(l, b), (l, t), (r, t), (r, b)];
        for p in &mut pole {
            let (px, py) = *p;
            *p = flip((
                px * cos - py * sin + cartx,
                px * sin + py * cos + carty + axleoffset,
            ));
        }
        cv.convex(&pole, POLE);
        let (ax, ay) = flip((cartx, carty + axleoffset));
        cv.disc(ax, ay, polewidth / 2.0, AXLE);
        Frame {
            height: RENDER_HEIGHT,
            width: RENDER_WIDTH,
            channels: 3,
            data: &self.frame,
        }
    }

    fn action_meanings(&self) -> Option<&'static [&'static str]> {
        Some(ACTION_MEANINGS)
    }
}

/// Build `CartPole-v1` for the registry.
pub fn build(cfg: &EnvConfig) -> Result<Box<dyn Env>> {
    Ok(Box::new(CartPole::from_config(cfg)?))
}

/// Build the scripted CartPole controller for the registry (options are only validated).
pub fn build_scripted(cfg: &EnvConfig) -> Result<Box<dyn Policy>> {
    CartPoleOptions::from_config(cfg)?;
    Ok(Box::new(CartPoleScripted))
}

/// A hand-tuned linear controller: push toward where the pole is falling, with a little
/// feedback on the cart so it does not drift off the track. Balances for the full 500 steps
/// from Gymnasium's initial-state distribution.
#[derive(Debug, Clone, Copy, Default)]
pub struct CartPoleScripted;

impl CartPoleScripted {
    /// The action for observation `[x, x_dot, theta, theta_dot]`.
    pub fn action_for(obs: &[f32; 4]) -> i64 {
        let [x, x_dot, theta, theta_dot] = *obs;
        let u = theta + 0.5 * theta_dot + 0.01 * x + 0.1 * x_dot;
        i64::from(u > 0.0)
    }
}

impl Policy for CartPoleScripted {
    fn name(&self) -> &str {
        "scripted"
    }

    fn act(&mut self, obs: Obs<'_>) -> Result<OwnedAction> {
        match obs.as_f32().and_then(|o| <&[f32; 4]>::try_from(o).ok()) {
            Some(o) => Ok(OwnedAction::Discrete(Self::action_for(o))),
            None => Err(SimError::Invalid(format!(
                "the {ID} scripted policy needs an f32 observation of length 4, got {} elements",
                obs.len()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> CartPole {
        CartPole::new(CartPoleOptions::default()).unwrap()
    }

    #[test]
    fn terminates_just_past_the_angle_threshold() {
        let mut e = env();
        // Falling right fast: theta crosses 12 degrees after a step or two.
        let th = THETA_THRESHOLD_RADIANS;
        e.reset_to_state([0.0, 0.0, th - 1e-3, 2.0]).unwrap();
        let s = e.step(Action::Discrete(0)).unwrap();
        assert!(s.terminated, "theta {} > {}", e.state()[2], th);
        assert!(!s.truncated);
        assert_eq!(s.reward, 1.0, "the terminating step still pays 1");

        // Exactly at the threshold is not terminal (Gymnasium uses strict comparisons).
        e.reset_to_state([0.0, 0.0, th, 0.0]).unwrap();
        // theta_dot 0 -> theta unchanged by this step's Euler update.
        let terminated = e.step(Action::Discrete(1)).unwrap().terminated;
        assert_eq!(e.state()[2], th);
        assert!(!terminated);
    }

    #[test]
    fn terminates_just_past_the_track_edge() {
        let mut e = env();
        e.reset_to_state([X_THRESHOLD - 0.001, 1.0, 0.0, 0.0])
            .unwrap();
        let s = e.step(Action::Discrete(1)).unwrap();
        assert!(s.terminated);
        e.reset_to_state([-X_THRESHOLD + 0.001, -1.0, 0.0, 0.0])
            .unwrap();
        assert!(e.step(Action::Discrete(0)).unwrap().terminated);
        e.reset_to_state([X_THRESHOLD, 0.0, 0.0, 0.0]).unwrap();
        assert!(!e.step(Action::Discrete(0)).unwrap().terminated);
    }

    #[test]
    fn truncates_at_exactly_500_steps_then_needs_reset() {
        let mut e = env();
        e.reset(Some(3)).unwrap();
        let mut policy = CartPoleScripted;
        for t in 1..=500u64 {
            let obs = e.obs();
            let a = policy.act(obs).unwrap();
            let s = e.step(a.as_action()).unwrap();
            assert!(
                !s.terminated,
                "the scripted policy dropped the pole at step {t}"
            );
            assert_eq!(s.truncated, t == 500, "step {t}");
            assert_eq!(s.info.episode_frame_number, t);
            if t == 500 {
                assert_eq!(s.info.end_reason, Some("time_limit"));
            }
        }
        assert!(matches!(
            e.step(Action::Discrete(0)),
            Err(SimError::NeedsReset { .. })
        ));
        e.reset(None).unwrap();
        assert!(e.step(Action::Discrete(0)).is_ok());
    }

    #[test]
    fn max_episode_steps_option_moves_the_cap_and_is_validated() {
        let mut cfg = EnvConfig::new();
        cfg.insert("max_episode_steps".into(), toml::Value::Integer(7));
        let mut e = CartPole::from_config(&cfg).unwrap();
        e.reset_to_state([0.0; 4]).unwrap();
        for t in 1..=7 {
            let s = e.step(Action::Discrete(t % 2)).unwrap();
            assert_eq!(s.truncated, t == 7);
        }
        cfg.insert("max_episode_steps".into(), toml::Value::Integer(0));
        let err = CartPole::from_config(&cfg).err().unwrap();
        assert!(
            matches!(&err, SimError::BadOptionValue { option, .. } if option == "max_episode_steps"),
            "{err}"
        );
        cfg.insert("max_episode_steps".into(), toml::Value::Integer(-3));
        assert!(CartPole::from_config(&cfg).is_err());
    }

    #[test]
    fn reset_draws_small_initial_states_and_seeds_replay() {
        let mut a = env();
        let mut b = env();
        let sa = {
            a.reset(Some(11)).unwrap();
            a.state()
        };
        b.reset(Some(11)).unwrap();
        assert_eq!(sa, b.state());
        assert!(sa.iter().all(|v| (-0.05..0.05).contains(v)));
        b.reset(Some(12)).unwrap();
        assert_ne!(sa, b.state());
    }

    #[test]
    fn obs_is_the_f32_cast_of_the_state() {
        let mut e = env();
        e.reset(Some(1)).unwrap();
        e.step(Action::Discrete(1)).unwrap();
        let st = e.state();
        assert_eq!(e.obs().as_f32().unwrap(), &st.map(|v| v as f32)[..]);
    }

    #[test]
    fn bad_actions_and_states_are_errors() {
        let mut e = env();
        assert!(matches!(
            e.step(Action::Discrete(0)),
            Err(SimError::NeedsReset { .. })
        ));
        e.reset(Some(0)).unwrap();
        for a in [Action::Discrete(2), Action::Discrete(-1)] {
            let err = e.step(a).unwrap_err();
            assert!(err.to_string().contains("Discrete(0..2)"), "{err}");
        }
        assert!(e.reset_to_state([f64::NAN, 0.0, 0.0, 0.0]).is_err());
    }

    #[test]
    fn render_draws_the_cart_where_it_is() {
        let mut e = env();
        e.reset_to_state([-1.2, 0.0, 0.0, 0.0]).unwrap();
        let f = e.render().to_owned();
        assert_eq!((f.height, f.width, f.channels), (400, 600, 3));
        let px = |c: usize, r: usize| &f.data[(r * 600 + c) * 3..(r * 600 + c) * 3 + 3];
        // Cart centre: x = -1.2 * 125 + 300 = 150, row 400 - 100 = 300 (cart body is black).
        assert_eq!(px(130, 305), [0, 0, 0]);
        // Upright pole above the axle, brown.
        assert_eq!(px(150, 250), [202, 152, 101]);
        // Far from the cart: white background.
        assert_eq!(px(450, 50), [255, 255, 255]);
        // Track line across the whole width (y-up 100 -> image row 299).
        assert_eq!(px(599, 299), [0, 0, 0]);
        assert_eq!(px(599, 300), [255, 255, 255]);
    }

    #[test]
    fn scripted_policy_balances_on_most_seeds() {
        let mut full = 0;
        for seed in 0..10 {
            let mut e = env();
            let (o, _) = e.reset(Some(seed)).unwrap();
            let mut obs: [f32; 4] = o.as_f32().unwrap().try_into().unwrap();
            loop {
                let s = e
                    .step(Action::Discrete(CartPoleScripted::action_for(&obs)))
                    .unwrap();
                obs = s.obs.as_f32().unwrap().try_into().unwrap();
                if s.done() {
                    full += usize::from(s.truncated && !s.terminated);
                    break;
                }
            }
        }
        assert!(full >= 9, "only {full}/10 episodes reached 500 steps");
    }
}
