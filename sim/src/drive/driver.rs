//! The scripted reference driver: pure pursuit on the reference line for steering, and a
//! PI speed controller toward a target speed limited by the curvature ahead.
//!
//! Steering has two loops. Pure pursuit turns the look-ahead point into the path curvature the
//! car should drive, and that curvature is turned into a wheel angle by the kinematic
//! (bicycle) relation plus a slow integral *trim* on the curvature the car actually drives,
//! measured from the change of the heading error between observations. With continuous
//! actions the kinematic angle is very nearly right (measured on the 120 m curve at 20 m/s:
//! wheel 0.038 of lock for the kinematic 0.039) and the trim stays near zero. With discrete
//! actions the wheels can only step by `steer_rate / 60 Hz` (0.10 of lock with the default
//! car) per physics step and the straight action returns them toward zero, so a small angle
//! can only be held *on average* by alternating steps, and at speed the same average wheel
//! angle turns the car about half as much (measured: 0.073 of lock for the same yaw rate; most
//! likely each step's sudden slip asks more of the tyres than friction allows). Without the trim, pure pursuit can
//! only make up the missing turn with a lateral error (about 1.7 m on that curve, off the
//! road on the outer lane). The discrete action is chosen by a first-order sigma-delta
//! modulator so that the average wheel angle equals the command.
//!
//! With `obs = "state"` (see [`super::env::STATE_FIELDS`]) it reads look-ahead points in the
//! car frame, speed and curvature ahead: privileged information a pixel agent does not get, on
//! purpose, since this driver is the reference for tests and scenarios. That is the mode the
//! lap tests use.
//!
//! With traffic it follows the vehicle (or obstacle) ahead in its path with Gipps' safe-speed
//! rule: it keeps about a one-second gap to a moving leader and stops behind a stopped one.
//!
//! With pixel observations (the default options, as `pixelgym play` builds it) it falls back
//! to a simple vision driver so that it still drives sensibly: it steers toward the centroid
//! of road-coloured pixels in a band of rows ahead of the car, and estimates its speed by dead
//! reckoning from its own pedal commands and the vehicle parameters (no speed is visible in a
//! frame), holding a modest target speed. It is a demo, not the reference.

use super::env::{
    ActionMode, CURVATURE_INDEX, CURVATURE_M, DriveOptions, LEAD_INDEX, LEAD_RANGE_M, LOOKAHEAD_M,
    ObsMode, STATE_LEN,
};
use super::world::DT;
use crate::config::EnvConfig;
use crate::env::{Obs, OwnedAction};
use crate::error::{Result, SimError};
use crate::policy::Policy;
use serde::Deserialize;

/// Tuning of the scripted driver.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DriverParams {
    /// Cruise speed on straights, m/s.
    pub cruise_speed: f32,
    /// Lateral acceleration allowed in curves, m/s^2 (sets the corner speed).
    pub max_lateral_accel: f32,
    /// Deceleration assumed when planning for a curve ahead, m/s^2.
    pub brake_decel: f32,
    /// Look-ahead distance = `lookahead_base + lookahead_gain * speed`, metres.
    pub lookahead_base: f32,
    /// Seconds of travel added to the look-ahead distance.
    pub lookahead_gain: f32,
    /// Proportional gain of the speed controller, per m/s of error.
    pub kp: f32,
    /// Integral gain of the speed controller.
    pub ki: f32,
    /// Integral gain of the steering trim, fraction of steering lock per second per 1/m of
    /// curvature error (wanted minus driven). It makes the driven curvature match pure
    /// pursuit's in steady turns when the kinematic wheel angle is not enough (discrete
    /// steering at speed); 0 turns the trim off.
    pub trim_ki: f32,
    /// Largest steering trim, fraction of steering lock.
    pub trim_max: f32,
    /// Car following: reaction time `tau` of the safe-speed rule, s.
    pub follow_reaction: f32,
    /// Car following: deceleration both the ego and its leader are assumed to brake at, m/s².
    pub follow_decel: f32,
    /// Car following: gap kept to a stopped leader, metres (bumper to bumper).
    pub follow_min_gap: f32,
}

impl Default for DriverParams {
    fn default() -> Self {
        Self {
            cruise_speed: 20.0,
            max_lateral_accel: 5.0,
            brake_decel: 4.0,
            lookahead_base: 5.0,
            lookahead_gain: 0.45,
            kp: 0.5,
            ki: 0.05,
            trim_ki: 15.0,
            trim_max: 0.15,
            follow_reaction: 1.0,
            follow_decel: 4.0,
            follow_min_gap: 4.0,
        }
    }
}

/// Pure-pursuit + speed-PI driver for `Drive-v0` / `DriveMap-v0` (vision fallback for pixel
/// observations, see the module docs).
pub struct ScriptedDriver {
    params: DriverParams,
    opts: DriveOptions,
    wheelbase: f32,
    max_steer: f32,
    actions: ActionMode,
    /// Seconds between observations (physics step times `action_repeat`).
    dt: f32,
    /// Travel of the front wheels in one agent step, fraction of steering lock.
    wheel_step: f32,
    /// Integral of the speed error.
    integral: f32,
    /// Steering trim added to the kinematic wheel angle, fraction of lock.
    trim: f32,
    /// Heading error of the previous observation (the driven curvature is measured from
    /// its change), `None` right after a reset.
    prev_heading_error: Option<f32>,
    /// Discrete steering: wheel angle asked for minus wheel angle given, summed over steps.
    sigma: f32,
    /// Dead-reckoned speed (pixel mode), m/s.
    speed_est: f32,
    /// The last command (pixel mode), applied for `action_repeat` physics steps.
    last: DriverCommand,
}

/// What the driver wants, before it is mapped onto the action space.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriverCommand {
    /// Desired steering in `[-1, 1]` (positive left).
    pub steer: f32,
    /// Throttle in `[0, 1]`.
    pub throttle: f32,
    /// Brake in `[0, 1]`.
    pub brake: f32,
}

impl ScriptedDriver {
    /// A driver for an env built with `opts`.
    pub fn new(opts: &DriveOptions, params: DriverParams) -> ScriptedDriver {
        ScriptedDriver {
            params,
            opts: opts.clone(),
            wheelbase: opts.vehicle.wheelbase,
            max_steer: opts.vehicle.max_steer_deg.to_radians(),
            actions: opts.actions,
            dt: DT * opts.action_repeat.max(1) as f32,
            wheel_step: (opts.vehicle.steer_rate_deg / opts.vehicle.max_steer_deg)
                * DT
                * opts.action_repeat.max(1) as f32,
            integral: 0.0,
            trim: 0.0,
            prev_heading_error: None,
            sigma: 0.0,
            speed_est: 0.0,
            last: DriverCommand {
                steer: 0.0,
                throttle: 0.0,
                brake: 0.0,
            },
        }
    }

    /// Vision fallback: steer toward the road centroid ahead, hold a modest dead-reckoned speed.
    pub fn command_from_pixels(&mut self, frame: &[u8]) -> Result<DriverCommand> {
        let (w, h) = (self.opts.width, self.opts.height);
        let ch = match self.opts.obs {
            ObsMode::Rgb => 3,
            ObsMode::Gray => 1,
            ObsMode::State => 0,
        };
        if ch == 0 || frame.len() != w * h * ch {
            return Err(SimError::Invalid(format!(
                "scripted driver: expected a {h}x{w}x{ch} frame, got {} bytes",
                frame.len()
            )));
        }
        // Dead reckoning of the speed over the physics steps the last command was held.
        let v_cfg = &self.opts.vehicle;
        for _ in 0..self.opts.action_repeat {
            let v = self.speed_est;
            let drive =
                self.last.throttle * v_cfg.max_engine_force.min(v_cfg.max_power / v.max(1.0));
            let brake = if v > 0.0 {
                self.last.brake * v_cfg.max_brake_force
            } else {
                0.0
            };
            let resist = v_cfg.drag * v * v
                + if v > 0.0 {
                    v_cfg.rolling_resistance * v_cfg.mass * 9.81
                } else {
                    0.0
                };
            self.speed_est = (v + (drive - brake - resist) / v_cfg.mass / 60.0).max(0.0);
        }
        let (lo, hi) = match self.opts.view {
            super::raster::View::Chase => (0.40, 0.49),
            super::raster::View::Hood => (0.45, 0.62),
            super::raster::View::TopDown => (0.15, 0.35),
        };
        let is_road = |px: &[u8]| -> bool {
            if ch == 1 {
                px[0] < 112 || px[0] > 225
            } else {
                let (r, g, b) = (px[0] as i32, px[1] as i32, px[2] as i32);
                // Asphalt, white lines, and red (kerbs and the ego car's body, which sit on
                // the road and would otherwise split the run under the centre column).
                (r < 125 && (g - r).abs() < 12 && (b - g).abs() < 14)
                    || (r > 215 && g > 215 && b > 215)
                    || (r > 100 && g < 60 && b < 60)
            }
        };
        // Per row, the run of road pixels under the centre column (or the nearest road pixel
        // to it), from the far row down; its midpoint is where the road is.
        let (mut sum, mut count) = (0.0f32, 0.0f32);
        let mut centre = w / 2;
        let road_at = |row: usize, col: usize| {
            is_road(&frame[(row * w + col) * ch..(row * w + col) * ch + ch])
        };
        for row in (((lo * h as f32) as usize)..((hi * h as f32) as usize).min(h)).rev() {
            let Some(start) = (0..w)
                .map(|d| (centre + d, centre.wrapping_sub(d)))
                .find_map(|(r, l)| {
                    if r < w && road_at(row, r) {
                        Some(r)
                    } else if l < w && road_at(row, l) {
                        Some(l)
                    } else {
                        None
                    }
                })
            else {
                continue;
            };
            let (mut left, mut right) = (start, start);
            while left > 0 && road_at(row, left - 1) {
                left -= 1;
            }
            while right + 1 < w && road_at(row, right + 1) {
                right += 1;
            }
            let mid = 0.5 * (left + right + 1) as f32;
            centre = mid as usize;
            sum += mid;
            count += 1.0;
        }
        let steer = if count > 0.0 {
            let offset = (sum / count - 0.5 * w as f32) / (0.5 * w as f32);
            (-2.5 * offset).clamp(-1.0, 1.0)
        } else {
            0.0
        };
        let target = if steer.abs() > 0.5 { 9.0 } else { 14.0 };
        let err = target - self.speed_est;
        let u = self.params.kp * err;
        let (throttle, brake) = if u >= 0.0 {
            (u.min(1.0), 0.0)
        } else {
            (0.0, (-u).min(1.0))
        };
        let cmd = DriverCommand {
            steer,
            throttle,
            brake,
        };
        self.last = cmd;
        Ok(cmd)
    }

    /// Compute the continuous command from a state observation.
    pub fn command(&mut self, state: &[f32]) -> Result<DriverCommand> {
        if state.len() < STATE_LEN {
            return Err(SimError::Invalid(format!(
                "scripted driver needs the state observation ({STATE_LEN} values and the rays), got {} values",
                state.len()
            )));
        }
        let p = &self.params;
        let v = state[0] * 10.0;
        // Pure pursuit: the reference-line point at the look-ahead distance, in the car frame.
        let ld = (p.lookahead_base + p.lookahead_gain * v.max(0.0))
            .clamp(LOOKAHEAD_M[0], LOOKAHEAD_M[7]);
        let k = LOOKAHEAD_M
            .iter()
            .position(|&d| d >= ld)
            .unwrap_or(LOOKAHEAD_M.len() - 1)
            .max(1);
        let (d0, d1) = (LOOKAHEAD_M[k - 1], LOOKAHEAD_M[k]);
        let t = ((ld - d0) / (d1 - d0)).clamp(0.0, 1.0);
        let pt = |i: usize| (state[6 + 2 * i] * 10.0, state[7 + 2 * i] * 10.0);
        let (x0, y0) = pt(k - 1);
        let (x1, y1) = pt(k);
        let (x, y) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
        let l2 = (x * x + y * y).max(1.0);
        let curvature = 2.0 * y / l2;
        let kinematic = (self.wheelbase * curvature).atan() / self.max_steer;

        // Trim: the curvature the car drove since the last observation is the turn of its
        // heading error plus the turn of the road under it (centreline curvature at the car),
        // per metre travelled. Integrate the shortfall against the curvature pure pursuit
        // wanted. Below walking pace the estimate divides by ~0 and the trim holds.
        let heading_error = state[2].atan2(state[3]);
        if let Some(prev) = self.prev_heading_error
            && v > 3.0
        {
            let turn = (heading_error - prev + std::f32::consts::PI)
                .rem_euclid(std::f32::consts::TAU)
                - std::f32::consts::PI;
            let driven = turn / (v * self.dt) + state[CURVATURE_INDEX] / 100.0;
            // No winding up while the wheel command is at the lock anyway.
            if (kinematic + self.trim).abs() < 1.0 {
                self.trim = (self.trim + p.trim_ki * (curvature - driven) * self.dt)
                    .clamp(-p.trim_max, p.trim_max);
            }
        }
        self.prev_heading_error = Some(heading_error);
        let steer = (kinematic + self.trim).clamp(-1.0, 1.0);

        // Target speed: the slowest of cruise and every curve ahead reachable by braking.
        let mut target = p.cruise_speed;
        for (i, &dist) in CURVATURE_M.iter().enumerate() {
            let kappa = (state[CURVATURE_INDEX + i] / 100.0).abs().max(1e-4);
            let v_curve = (p.max_lateral_accel / kappa).sqrt();
            let reachable = (v_curve * v_curve + 2.0 * p.brake_decel * dist).sqrt();
            target = target.min(reachable);
        }
        // Car following (Gipps' safe speed): the fastest speed from which, reacting after
        // `tau` and braking at `b`, the car still stops `min_gap` behind a leader that
        // brakes at `b` too. It keeps about a `tau`-second gap to a moving leader and stops
        // behind a stopped one.
        if state[LEAD_INDEX] < 1.0 {
            let gap = state[LEAD_INDEX] * LEAD_RANGE_M;
            let v_lead = (v + 10.0 * state[LEAD_INDEX + 1]).max(0.0);
            let (b, tau) = (p.follow_decel, p.follow_reaction);
            let room = (gap - p.follow_min_gap).max(0.0);
            let v_safe = -b * tau + (b * b * tau * tau + v_lead * v_lead + 2.0 * b * room).sqrt();
            target = target.min(v_safe.max(0.0));
        }
        let err = target - v;
        self.integral = (self.integral + err * (1.0 / 60.0)).clamp(-5.0, 5.0);
        let mut u = p.kp * err + p.ki * self.integral;
        if target < 0.5 && v < 1.0 {
            // Hold still behind a stopped leader instead of creeping.
            u = u.min(-0.5);
            self.integral = self.integral.min(0.0);
        }
        let (throttle, brake) = if u >= 0.0 {
            (u.min(1.0), 0.0)
        } else {
            (0.0, (-u).min(1.0))
        };
        Ok(DriverCommand {
            steer,
            throttle,
            brake,
        })
    }
}

impl ScriptedDriver {
    /// The discrete steering column (0 left, 1 straight, 2 right) for the wanted wheel angle
    /// `want` given the current one `wheel` (fractions of lock). Left and right move the
    /// wheels one `wheel_step` toward the lock, straight one step toward zero, so no angle
    /// but zero and the locks can be held: pick the step that keeps the running sum of
    /// (wanted - given) closest to zero (first-order sigma-delta), which makes the average
    /// wheel angle follow `want` to within one step.
    fn discrete_steer(&mut self, want: f32, wheel: f32) -> usize {
        let r = self.wheel_step;
        let next = [
            (wheel + r).min(1.0),
            wheel - wheel.clamp(-r, r),
            (wheel - r).max(-1.0),
        ];
        let err = |w: f32| self.sigma + want - w;
        let col = (0..3)
            .min_by(|&a, &b| err(next[a]).abs().total_cmp(&err(next[b]).abs()))
            .unwrap_or(1);
        // Bounded, so that an out-of-reach angle (at the lock) does not wind it up.
        self.sigma = err(next[col]).clamp(-r, r);
        col
    }
}

impl Policy for ScriptedDriver {
    fn name(&self) -> &str {
        "scripted"
    }

    fn act(&mut self, obs: Obs<'_>) -> Result<OwnedAction> {
        let (cmd, current) = match obs {
            Obs::F32(state) => {
                let cmd = self.command(state)?;
                (cmd, state.get(4).copied().unwrap_or(0.0))
            }
            Obs::U8(frame) => (self.command_from_pixels(frame)?, 0.0),
        };
        Ok(match self.actions {
            ActionMode::Continuous => {
                OwnedAction::Continuous(vec![cmd.steer, cmd.throttle, cmd.brake])
            }
            ActionMode::Discrete => {
                let col = if matches!(obs, Obs::U8(_)) {
                    // No wheel angle in a frame: plain thresholds.
                    if cmd.steer > 0.3 {
                        0
                    } else if cmd.steer < -0.3 {
                        2
                    } else {
                        1
                    }
                } else {
                    self.discrete_steer(cmd.steer, current)
                };
                let row = if cmd.throttle > 0.15 {
                    0
                } else if cmd.brake > 0.3 {
                    2
                } else {
                    1
                };
                OwnedAction::Discrete((3 * row + col) as i64)
            }
        })
    }

    fn reset(&mut self) {
        self.integral = 0.0;
        self.trim = 0.0;
        self.prev_heading_error = None;
        self.sigma = 0.0;
        self.speed_est = 0.0;
        self.last = DriverCommand {
            steer: 0.0,
            throttle: 0.0,
            brake: 0.0,
        };
    }
}

/// Registry builder of the scripted driver for `id` with the env's options.
pub fn build_scripted(id: &str, cfg: &EnvConfig) -> Result<Box<dyn Policy>> {
    let opts = DriveOptions::parse(id, cfg)?;
    Ok(Box::new(ScriptedDriver::new(
        &opts,
        DriverParams::default(),
    )))
}

/// Registry entry for `Drive-v0`'s scripted driver.
pub fn build_scripted_drive(cfg: &EnvConfig) -> Result<Box<dyn Policy>> {
    build_scripted(super::env::DRIVE_ID, cfg)
}

/// Registry entry for `DriveMap-v0`'s scripted driver.
pub fn build_scripted_map(cfg: &EnvConfig) -> Result<Box<dyn Policy>> {
    build_scripted(super::env::MAP_ID, cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The env's discrete steering: left and right aim the wheels at the lock, straight at
    /// zero, and they move at most `step` toward the aim.
    fn wheel_after(wheel: f32, col: usize, step: f32) -> f32 {
        let aim = [1.0, 0.0, -1.0][col];
        wheel + (aim - wheel).clamp(-step, step)
    }

    #[test]
    fn discrete_steering_averages_to_the_wanted_wheel_angle() {
        let opts = DriveOptions::parse(super::super::env::MAP_ID, &EnvConfig::new()).unwrap();
        for want in [0.0f32, 0.039, -0.073, 0.25, -0.6] {
            let mut d = ScriptedDriver::new(&opts, DriverParams::default());
            let step = d.wheel_step;
            assert!((0.05..0.2).contains(&step), "default car: {step}");
            let (mut wheel, mut sum) = (0.0f32, 0.0f32);
            for i in 0..600 {
                wheel = wheel_after(wheel, d.discrete_steer(want, wheel), step);
                if i >= 300 {
                    sum += wheel;
                }
            }
            // The old rule (step toward the wanted side of the current angle, else straight)
            // averaged 0.052 for 0.039: the average must be much closer than that.
            let mean = sum / 300.0;
            assert!((mean - want).abs() < 0.005, "want {want}, mean {mean}");
        }
    }
}
