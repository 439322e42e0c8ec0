//! `Drive-v0` (a new procedural circuit per episode seed) and `DriveMap-v0` (a hand-built
//! layout chosen by option `map`): the ego car on rapier physics at 60 Hz, seen through a
//! CPU camera (84x84 RGB by default) or as a low-dimensional state vector.
//!
//! Reward per agent step, every term with its option and default:
//! * `+ progress_weight * ds` — metres gained along the centreline (1.0 per metre; reversing
//!   gives a negative `ds`);
//! * `- time_cost * dt` — per second of simulated time (1.0 per second, so standing still
//!   costs and a lap at 15 m/s earns about 14 per second);
//! * `- off_road_weight * dt` while the car's centre is beyond the paved edge (5.0 per second);
//! * `- collision_penalty` once, on the step the chassis touches an obstacle or another car
//!   (100.0; the episode terminates);
//! * `- off_road_end_penalty` once, when the car has been off the road for
//!   `off_road_limit_s` seconds in a row (50.0 after 3.0 s; the episode terminates).
//!
//! Traffic: option `npcs` spawns NPC cars (IDM car following, see [`super::traffic`]) spread
//! over the route from the episode seed; the public methods [`DriveEnv::spawn_npc`],
//! [`DriveEnv::command_npc`] and [`DriveEnv::npc`] let a scenario script more.
//!
//! Termination: collision, long off-road, flipped over for 2 s, or the route done (one lap of
//! a circuit, or the end of an open road). Truncation: `max_episode_steps` agent steps
//! (5400, 90 s at `action_repeat` 1), or a physics blow-up (NaN pose, absurd speed), reported in `info.end_reason` with a
//! warning in the log.

use super::DriveInfo;
use super::raster::{Camera, Rasterizer, View};
use super::scene::Scene;
use super::track::{self, ProceduralParams, Track, wrap_angle};
use super::traffic::{EgoLane, NpcCommand, NpcSpawn, NpcState, Traffic};
use super::vehicle::VehicleConfig;
use super::world::{Blowup, Controls, DT, World};
use crate::config::{EnvConfig, ensure, parse_options};
use crate::env::{Action, Env, Frame, Info, Obs, Step, check_discrete};
use crate::error::{Result, SimError};
use crate::seeding::{EnvRng, reseed};
use crate::space::{DType, Space};
use rand::Rng;
use serde::Deserialize;

/// Registered id of the procedural-circuit env.
pub const DRIVE_ID: &str = "Drive-v0";
/// Registered id of the map-layout env.
pub const MAP_ID: &str = "DriveMap-v0";

/// Meanings of the discrete actions: a 3 x 3 grid of steer (left, straight, right) by
/// pedal (gas, coast, brake); index = `3 * pedal + steer`.
pub const ACTION_MEANINGS: &[&str] = &[
    "LEFT_GAS",
    "GAS",
    "RIGHT_GAS",
    "LEFT",
    "NOOP",
    "RIGHT",
    "LEFT_BRAKE",
    "BRAKE",
    "RIGHT_BRAKE",
];

/// What the agent observes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ObsMode {
    /// `height x width x 3` RGB camera frame.
    #[default]
    Rgb,
    /// `height x width x 1` grayscale camera frame.
    Gray,
    /// The low-dimensional state vector described by [`STATE_FIELDS`].
    State,
}

/// Action space kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ActionMode {
    /// `Discrete(9)`: see [`ACTION_MEANINGS`].
    #[default]
    Discrete,
    /// `Box([-1, 0, 0], [1, 1, 1])`: steer (positive left), throttle, brake.
    Continuous,
}

/// Distances ahead (metres along the reference line) of the look-ahead points in the state.
pub const LOOKAHEAD_M: [f32; 8] = [4.0, 8.0, 12.0, 16.0, 20.0, 25.0, 30.0, 40.0];
/// Distances ahead of the curvature samples in the state.
pub const CURVATURE_M: [f32; 6] = [0.0, 10.0, 20.0, 30.0, 40.0, 55.0];
/// Index of the first curvature sample in the state vector.
pub const CURVATURE_INDEX: usize = 6 + 2 * LOOKAHEAD_M.len();
/// Index of the leader fields in the state vector.
pub const LEAD_INDEX: usize = CURVATURE_INDEX + CURVATURE_M.len();
/// Range of the leader gap in the state, metres.
pub const LEAD_RANGE_M: f32 = 100.0;
/// Length of the fixed part of the state vector; `rays` ray distances follow it.
pub const STATE_LEN: usize = LEAD_INDEX + 2;
/// Names of the fixed state fields, in order (all clamped to `[-10, 10]`). After them come
/// the option `rays` ray distances, each `distance / ray_range` in `[0, 1]` (1 = nothing
/// within range), ordered from the rightmost ray (`-ray_fov_deg / 2` from the car's heading)
/// to the leftmost, evenly spaced. A ray starts at the car's centre, in the ground plane,
/// and stops at the first road edge (of any road of the map; edges inside a junction do not
/// count), obstacle box or NPC box.
pub const STATE_FIELDS: [&str; STATE_LEN] = [
    "speed / 10 m/s",
    "lateral offset from the reference line / road half width",
    "sin(heading error)",
    "cos(heading error)",
    "front-wheel angle / steering lock",
    "off road (0 or 1)",
    "look-ahead 4 m: forward / 10 m",
    "look-ahead 4 m: left / 10 m",
    "look-ahead 8 m: forward / 10 m",
    "look-ahead 8 m: left / 10 m",
    "look-ahead 12 m: forward / 10 m",
    "look-ahead 12 m: left / 10 m",
    "look-ahead 16 m: forward / 10 m",
    "look-ahead 16 m: left / 10 m",
    "look-ahead 20 m: forward / 10 m",
    "look-ahead 20 m: left / 10 m",
    "look-ahead 25 m: forward / 10 m",
    "look-ahead 25 m: left / 10 m",
    "look-ahead 30 m: forward / 10 m",
    "look-ahead 30 m: left / 10 m",
    "look-ahead 40 m: forward / 10 m",
    "look-ahead 40 m: left / 10 m",
    "curvature at 0 m x 100 (1/m, positive left)",
    "curvature at 10 m x 100",
    "curvature at 20 m x 100",
    "curvature at 30 m x 100",
    "curvature at 40 m x 100",
    "curvature at 55 m x 100",
    "gap to the vehicle or obstacle ahead in the ego's path / 100 m (1 = none within 100 m)",
    "(leader speed - ego speed) / 10 m/s (0 = no leader within 100 m)",
];

fn d_track_radius() -> f32 {
    ProceduralParams::default().radius
}
fn d_checkpoints() -> u32 {
    ProceduralParams::default().checkpoints
}
fn d_lane_width() -> f32 {
    ProceduralParams::default().lane_width
}
fn d_84() -> usize {
    84
}
fn d_256() -> usize {
    256
}
fn d_one() -> u32 {
    1
}
fn d_max_steps() -> u64 {
    5400
}
fn d_progress() -> f32 {
    1.0
}
fn d_time_cost() -> f32 {
    1.0
}
fn d_off_road_weight() -> f32 {
    5.0
}
fn d_collision() -> f32 {
    100.0
}
fn d_off_road_end() -> f32 {
    50.0
}
fn d_off_road_limit() -> f32 {
    3.0
}
fn d_npc_speed() -> f32 {
    10.0
}
fn d_rays() -> i64 {
    9
}
fn d_ray_range() -> f32 {
    50.0
}
fn d_ray_fov() -> f32 {
    180.0
}

/// Most NPCs the `npcs` option spawns.
pub const MAX_NPCS: i64 = 16;
/// Most rays the `rays` option casts.
pub const MAX_RAYS: i64 = 64;

/// Options of `Drive-v0` and `DriveMap-v0` (unknown options are refused).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriveOptions {
    /// `DriveMap-v0` only: the layout, one of [`track::MAP_NAMES`] (default `"straight"`):
    /// `straight` (3 lanes, 600 m), `curve`, `s_bend`, `intersection` (a four-way crossing,
    /// one lane each way on both roads), `two_way` (2 + 2 lanes, 500 m).
    #[serde(default)]
    pub map: Option<String>,
    /// `DriveMap-v0` only: start lane (0 = rightmost); the reference line is its centre.
    /// Default 0. `Drive-v0` starts on, and refers to, the centreline.
    #[serde(default)]
    pub lane: Option<u32>,
    /// `Drive-v0`: random checkpoints per circuit (12).
    #[serde(default = "d_checkpoints")]
    pub checkpoints: u32,
    /// `Drive-v0`: radius of the circle the checkpoints lie around, metres (90).
    #[serde(default = "d_track_radius")]
    pub track_radius: f32,
    /// `Drive-v0`: lanes of the circuit (2).
    #[serde(default)]
    pub lanes: Option<u32>,
    /// `Drive-v0`: lane width, metres (4.0).
    #[serde(default = "d_lane_width")]
    pub lane_width: f32,
    /// Observation: `"rgb"` (default), `"gray"` or `"state"`.
    #[serde(default)]
    pub obs: ObsMode,
    /// Camera for pixel observations: `"chase"` (default), `"hood"` or `"top_down"`.
    #[serde(default)]
    pub view: View,
    /// Observation frame width, pixels (84).
    #[serde(default = "d_84")]
    pub width: usize,
    /// Observation frame height, pixels (84).
    #[serde(default = "d_84")]
    pub height: usize,
    /// `render()` frame size for people (256 x 256, chase view).
    #[serde(default = "d_256")]
    pub render_size: usize,
    /// Camera of `render()`: `"chase"` (default), `"hood"` or `"top_down"`.
    #[serde(default)]
    pub render_view: View,
    /// `"discrete"` (default, 9 actions) or `"continuous"`.
    #[serde(default)]
    pub actions: ActionMode,
    /// Physics steps (1/60 s each) per agent step (1).
    #[serde(default = "d_one")]
    pub action_repeat: u32,
    /// Truncate after this many agent steps (5400: 90 s of driving at `action_repeat` 1;
    /// Gymnasium's `max_episode_steps`).
    #[serde(default = "d_max_steps")]
    pub max_episode_steps: u64,
    /// Reward per metre of progress along the centreline (1.0).
    #[serde(default = "d_progress")]
    pub progress_weight: f32,
    /// Cost per simulated second (1.0).
    #[serde(default = "d_time_cost")]
    pub time_cost: f32,
    /// Cost per second with the car's centre off the road (5.0).
    #[serde(default = "d_off_road_weight")]
    pub off_road_weight: f32,
    /// One-off penalty for touching an obstacle or a car; terminates (100.0).
    #[serde(default = "d_collision")]
    pub collision_penalty: f32,
    /// One-off penalty when off the road for `off_road_limit_s` in a row; terminates (50.0).
    #[serde(default = "d_off_road_end")]
    pub off_road_end_penalty: f32,
    /// Seconds off the road in a row that end the episode (3.0).
    #[serde(default = "d_off_road_limit")]
    pub off_road_limit_s: f32,
    /// Vehicle parameters (a table; missing fields take [`VehicleConfig::default`]).
    #[serde(default)]
    pub vehicle: VehicleConfig,
    /// NPC cars spawned at reset, 0..=16 (0). They are spread over the route from the
    /// episode seed, in its lanes (both directions on two-way roads), clear of the ego.
    #[serde(default)]
    pub npcs: i64,
    /// Mean desired speed of the NPCs, m/s (10); each gets 0.85..1.15 of it from the seed.
    #[serde(default = "d_npc_speed")]
    pub npc_speed: f32,
    /// Ray distances appended to the state observation, 0..=64 (9).
    #[serde(default = "d_rays")]
    pub rays: i64,
    /// Length of the rays, metres (50).
    #[serde(default = "d_ray_range")]
    pub ray_range: f32,
    /// Angle the rays span, centred on the car's heading, degrees (180: -90..+90).
    #[serde(default = "d_ray_fov")]
    pub ray_fov_deg: f32,
    /// Start arc length of the ego along the route, metres (`DriveMap-v0` 5, `Drive-v0` 0).
    #[serde(default)]
    pub start_s: Option<f32>,
    /// Initial forward speed of the ego, m/s (0).
    #[serde(default)]
    pub start_speed: f32,
    /// `DriveMap-v0` only: extra static obstacles placed on the map (same fields as a map
    /// file's `[[obstacles]]`), e.g. a scenario's parked car.
    #[serde(default)]
    pub obstacles: Vec<track::ObstacleDef>,
}

impl DriveOptions {
    /// Parse and validate options for `id`.
    pub fn parse(id: &str, cfg: &EnvConfig) -> Result<DriveOptions> {
        let o: DriveOptions = parse_options(id, cfg)?;
        let is_map = id == MAP_ID;
        ensure(
            is_map || o.map.is_none(),
            id,
            "map",
            format!("only {MAP_ID} takes a map"),
        )?;
        ensure(
            is_map || o.lane.is_none(),
            id,
            "lane",
            format!("only {MAP_ID} takes a start lane"),
        )?;
        ensure(
            is_map || o.obstacles.is_empty(),
            id,
            "obstacles",
            format!("only {MAP_ID} takes extra obstacles"),
        )?;
        if let Some(v) = o.start_s {
            ensure(
                v.is_finite() && v >= 0.0,
                id,
                "start_s",
                format!("must be finite and >= 0, got {v}"),
            )?;
        }
        ensure(
            o.start_speed.is_finite() && (0.0..=60.0).contains(&o.start_speed),
            id,
            "start_speed",
            format!("must be 0..=60 m/s, got {}", o.start_speed),
        )?;
        ensure(
            (0..=MAX_NPCS).contains(&o.npcs),
            id,
            "npcs",
            format!("must be an integer in 0..={MAX_NPCS}, got {}", o.npcs),
        )?;
        ensure(
            o.npc_speed.is_finite() && o.npc_speed > 0.0 && o.npc_speed <= 40.0,
            id,
            "npc_speed",
            format!("must be a speed in (0, 40] m/s, got {}", o.npc_speed),
        )?;
        ensure(
            (0..=MAX_RAYS).contains(&o.rays),
            id,
            "rays",
            format!("must be an integer in 0..={MAX_RAYS}, got {}", o.rays),
        )?;
        ensure(
            o.ray_range.is_finite() && o.ray_range > 0.0 && o.ray_range <= 500.0,
            id,
            "ray_range",
            format!("must be in (0, 500] m, got {}", o.ray_range),
        )?;
        ensure(
            o.ray_fov_deg.is_finite() && o.ray_fov_deg >= 0.0 && o.ray_fov_deg <= 360.0,
            id,
            "ray_fov_deg",
            format!("must be in 0..=360 degrees, got {}", o.ray_fov_deg),
        )?;
        if let Some(m) = &o.map {
            ensure(
                track::MAP_NAMES.contains(&m.as_str()),
                id,
                "map",
                format!("unknown map `{m}`; one of {}", track::MAP_NAMES.join(", ")),
            )?;
        }
        let fin = |v: f32| v.is_finite() && v >= 0.0;
        ensure(
            (16..=512).contains(&o.width),
            id,
            "width",
            format!("must be 16..=512, got {}", o.width),
        )?;
        ensure(
            (16..=512).contains(&o.height),
            id,
            "height",
            format!("must be 16..=512, got {}", o.height),
        )?;
        ensure(
            (16..=1024).contains(&o.render_size),
            id,
            "render_size",
            format!("must be 16..=1024, got {}", o.render_size),
        )?;
        ensure(
            (1..=60).contains(&o.action_repeat),
            id,
            "action_repeat",
            format!("must be 1..=60, got {}", o.action_repeat),
        )?;
        ensure(
            o.max_episode_steps > 0,
            id,
            "max_episode_steps",
            "must be > 0",
        )?;
        for (name, v) in [
            ("progress_weight", o.progress_weight),
            ("time_cost", o.time_cost),
            ("off_road_weight", o.off_road_weight),
            ("collision_penalty", o.collision_penalty),
            ("off_road_end_penalty", o.off_road_end_penalty),
            ("off_road_limit_s", o.off_road_limit_s),
            ("lane_width", o.lane_width),
            ("track_radius", o.track_radius),
        ] {
            ensure(
                fin(v),
                id,
                name,
                format!("must be finite and >= 0, got {v}"),
            )?;
        }
        o.vehicle.validate().map_err(|e| SimError::BadOptionValue {
            id: id.into(),
            option: "vehicle".into(),
            message: e.to_string(),
        })?;
        if !is_map {
            o.procedural()
                .validate()
                .map_err(|e| SimError::BadOptionValue {
                    id: id.into(),
                    option: "track".into(),
                    message: e.to_string(),
                })?;
        }
        Ok(o)
    }

    /// Length of the state observation with these options.
    pub fn state_len(&self) -> usize {
        STATE_LEN + self.rays as usize
    }

    fn procedural(&self) -> ProceduralParams {
        ProceduralParams {
            checkpoints: self.checkpoints,
            radius: self.track_radius,
            lanes: self.lanes.unwrap_or(ProceduralParams::default().lanes),
            lane_width: self.lane_width,
            ..ProceduralParams::default()
        }
    }
}

/// One episode's dynamic state.
struct Episode {
    track: Track,
    world: World,
    scene: Scene,
    traffic: Traffic,
    /// Lateral offset of the reference line from the centreline.
    ref_offset: f32,
    s: f32,
    hint: usize,
    progress: f32,
    off_road_time: f32,
    flipped_time: f32,
    steps: u64,
    done: bool,
    last: DriveInfo,
}

/// The driving env. See the module docs for reward and episode ends.
pub struct DriveEnv {
    id: &'static str,
    opts: DriveOptions,
    obs_space: Space,
    act_space: Space,
    rng: Option<EnvRng>,
    /// A fixed map, parsed once (`DriveMap-v0`).
    map: Option<Track>,
    ep: Option<Episode>,
    raster: Rasterizer,
    obs_u8: Vec<u8>,
    obs_f32: Vec<f32>,
    view_raster: Rasterizer,
    frame_number: u64,
    max_steps: u64,
}

impl DriveEnv {
    /// Build `Drive-v0` (`id == DRIVE_ID`) or `DriveMap-v0` from options.
    pub fn new(id: &'static str, cfg: &EnvConfig) -> Result<DriveEnv> {
        let opts = DriveOptions::parse(id, cfg)?;
        let map = if id == MAP_ID {
            let name = opts.map.as_deref().unwrap_or("straight");
            let mut def = track::builtin_map(name)?;
            def.obstacles.extend(opts.obstacles.iter().copied());
            let t = Track::from_def(&def).map_err(|e| SimError::BadOptionValue {
                id: id.into(),
                option: "obstacles".into(),
                message: e.to_string(),
            })?;
            if let Some(l) = opts.lane {
                ensure(
                    l < t.forward_lanes(),
                    id,
                    "lane",
                    format!(
                        "map `{name}` has forward lanes 0..{}, got {l}",
                        t.forward_lanes()
                    ),
                )?;
            }
            Some(t)
        } else {
            None
        };
        let (w, h) = (opts.width, opts.height);
        let obs_space = match opts.obs {
            ObsMode::Rgb => Space::image(&[h, w, 3]),
            ObsMode::Gray => Space::image(&[h, w, 1]),
            ObsMode::State => Space::uniform_box(&[opts.state_len()], -10.0, 10.0, DType::F32),
        };
        let act_space = match opts.actions {
            ActionMode::Discrete => Space::Discrete {
                n: ACTION_MEANINGS.len(),
            },
            ActionMode::Continuous => Space::Box {
                shape: vec![3],
                low: vec![-1.0, 0.0, 0.0],
                high: vec![1.0, 1.0, 1.0],
                dtype: DType::F32,
            },
        };
        let raster = if opts.obs == ObsMode::State {
            Rasterizer::new(1, 1)
        } else {
            Rasterizer::new(w, h)
        };
        let obs_u8 = vec![0; if opts.obs == ObsMode::Gray { w * h } else { 0 }];
        let max_steps = opts.max_episode_steps;
        Ok(DriveEnv {
            id,
            obs_space,
            act_space,
            rng: None,
            map,
            ep: None,
            raster,
            obs_u8,
            obs_f32: vec![0.0; opts.state_len()],
            view_raster: Rasterizer::new(opts.render_size, opts.render_size),
            frame_number: 0,
            max_steps,
            opts,
        })
    }

    /// The options in use.
    pub fn options(&self) -> &DriveOptions {
        &self.opts
    }
    /// The current track (after the first reset).
    pub fn track(&self) -> Option<&Track> {
        self.ep.as_ref().map(|e| &e.track)
    }
    /// The physics world (after the first reset).
    pub fn world(&self) -> Option<&World> {
        self.ep.as_ref().map(|e| &e.world)
    }
    /// Mutable physics world, for tests that provoke failures (blow-ups).
    #[doc(hidden)]
    pub fn world_mut_for_test(&mut self) -> Option<&mut World> {
        self.ep.as_mut().map(|e| &mut e.world)
    }
    /// The scene description the camera draws (after the first reset).
    pub fn scene(&self) -> Option<&Scene> {
        self.ep.as_ref().map(|e| &e.scene)
    }

    fn episode_mut(&mut self) -> Result<&mut Episode> {
        let id = self.id;
        self.ep.as_mut().ok_or_else(|| SimError::NeedsReset {
            id: id.into(),
            when: "before the first reset",
        })
    }

    /// Spawn an NPC car in the current episode (see [`NpcSpawn`]); returns its id. Refused
    /// with a reason for a road or lane that does not exist, a place off the road or
    /// overlapping the ego or another NPC, or impossible speeds and parameters.
    pub fn spawn_npc(&mut self, spec: &NpcSpawn) -> Result<usize> {
        let ep = self.episode_mut()?;
        let ego = ego_lane(ep);
        let id = ep
            .traffic
            .spawn(&ep.track, &mut ep.world, Some(&ego), spec)?;
        ep.scene.update(&ep.world);
        Ok(id)
    }

    /// Give NPC `id` a command (lane change, brake to stop, stop now, set speed).
    pub fn command_npc(&mut self, id: usize, cmd: NpcCommand) -> Result<()> {
        let ep = self.episode_mut()?;
        ep.traffic.command(&ep.track, id, cmd)
    }

    /// State of NPC `id` (road, `s`, `d`, speed, pose), if it exists.
    pub fn npc(&self, id: usize) -> Option<NpcState> {
        self.ep.as_ref()?.traffic.state(id)
    }

    /// The driving state of the last reset or step (as in its `info.drive`).
    pub fn drive_info(&self) -> Option<DriveInfo> {
        self.ep.as_ref().map(|e| e.last)
    }

    /// The traffic of the current episode (all NPC states).
    pub fn traffic(&self) -> Option<&Traffic> {
        self.ep.as_ref().map(|e| &e.traffic)
    }

    /// Ego position in lane coordinates of the route (`s`, offset from the centreline).
    pub fn ego_lane(&self) -> Option<EgoLane> {
        self.ep.as_ref().map(ego_lane)
    }

    /// One physics step of traffic and world only, without observation or reward (twin of
    /// the env's inner loop for the allocation tests).
    #[doc(hidden)]
    pub fn step_physics_for_test(&mut self, controls: Controls) {
        if let Some(ep) = self.ep.as_mut() {
            if !ep.traffic.is_empty() {
                step_traffic(ep);
            }
            ep.world.step(controls).ok();
        }
    }

    /// Move the NPCs one physics step without stepping the world (allocation tests).
    #[doc(hidden)]
    pub fn step_traffic_for_test(&mut self) {
        if let Some(ep) = self.ep.as_mut() {
            step_traffic(ep);
        }
    }

    fn decode(&self, action: Action<'_>) -> Result<Controls> {
        match self.opts.actions {
            ActionMode::Discrete => {
                let a = check_discrete(self.id, &self.act_space, action)?;
                let steer = [1.0, 0.0, -1.0][a % 3];
                let (throttle, brake) = [(1.0, 0.0), (0.0, 0.0), (0.0, 1.0)][a / 3];
                Ok(Controls {
                    steer,
                    throttle,
                    brake,
                })
            }
            ActionMode::Continuous => {
                let bad = || SimError::InvalidAction {
                    id: self.id.to_string(),
                    action: action.to_string(),
                    allowed: "[steer in -1..=1, throttle in 0..=1, brake in 0..=1]".into(),
                };
                let Action::Continuous(v) = action else {
                    return Err(bad());
                };
                if v.len() != 3
                    || !v.iter().all(|x| x.is_finite())
                    || !(-1.0..=1.0).contains(&v[0])
                    || !(0.0..=1.0).contains(&v[1])
                    || !(0.0..=1.0).contains(&v[2])
                {
                    return Err(bad());
                }
                Ok(Controls {
                    steer: v[0],
                    throttle: v[1],
                    brake: v[2],
                })
            }
        }
    }

    fn info(&self) -> Info {
        let ep = self.ep.as_ref();
        Info {
            lives: 0,
            episode_frame_number: ep.map_or(0, |e| e.steps * self.opts.action_repeat as u64),
            frame_number: self.frame_number,
            episode: None,
            end_reason: None,
            drive: ep.map(|e| e.last),
        }
    }

    /// Recompute the per-step driving state and the observation.
    fn observe(&mut self) {
        let Some(ep) = self.ep.as_mut() else { return };
        let (p, heading) = ep.world.car_map_pose();
        let proj = ep.track.project(p, Some(ep.hint));
        ep.hint = proj.index;
        let heading_error = wrap_angle(heading - proj.heading);
        let hw = ep.track.half_width();
        let off_road = !ep.track.on_paved(p, proj.lateral);
        let speed = ep.world.forward_speed();
        let ego = EgoLane {
            s: proj.s,
            d: proj.lateral,
            speed: speed * heading_error.cos(),
            ..ego_lane(ep)
        };
        let lead = ep
            .traffic
            .ego_leader(&ep.track, &ep.world, &ego, ep.ref_offset);
        ep.last = DriveInfo {
            speed,
            progress: ep.progress,
            route_fraction: ep.progress / ep.track.length(),
            lateral_offset: proj.lateral - ep.ref_offset,
            heading_error,
            off_road,
            off_road_time: ep.off_road_time,
            collision: ep.world.collided(),
            collision_kind: ep.world.collision(),
            lead_gap: lead.map_or(f32::INFINITY, |l| l.0),
            lead_speed: lead.map_or(0.0, |l| l.1),
        };
        // Keep the scene current in every mode: the viewer reads it.
        ep.scene.update(&ep.world);
        match self.opts.obs {
            ObsMode::State => {
                let o = &mut self.obs_f32;
                let d = &ep.last;
                let max_steer = ep.world.vehicle_config().max_steer_deg.to_radians();
                o[0] = d.speed / 10.0;
                o[1] = d.lateral_offset / hw;
                o[2] = heading_error.sin();
                o[3] = heading_error.cos();
                o[4] = ep.world.steer_angle() / max_steer;
                o[5] = if off_road { 1.0 } else { 0.0 };
                let (sh, ch) = heading.sin_cos();
                for (k, &ahead) in LOOKAHEAD_M.iter().enumerate() {
                    let (q, _) = ep.track.pose_at(proj.s + ahead, ep.ref_offset);
                    let (dx, dy) = (q[0] - p[0], q[1] - p[1]);
                    o[6 + 2 * k] = (dx * ch + dy * sh) / 10.0;
                    o[7 + 2 * k] = (-dx * sh + dy * ch) / 10.0;
                }
                for (k, &ahead) in CURVATURE_M.iter().enumerate() {
                    o[CURVATURE_INDEX + k] = ep.track.curvature_at(proj.s + ahead) * 100.0;
                }
                match lead {
                    Some((gap, v)) if gap < LEAD_RANGE_M => {
                        o[LEAD_INDEX] = gap.max(0.0) / LEAD_RANGE_M;
                        o[LEAD_INDEX + 1] = (v - ego.speed) / 10.0;
                    }
                    _ => {
                        o[LEAD_INDEX] = 1.0;
                        o[LEAD_INDEX + 1] = 0.0;
                    }
                }
                let n = self.opts.rays as usize;
                let fov = self.opts.ray_fov_deg.to_radians();
                let range = self.opts.ray_range;
                for k in 0..n {
                    let a = if n > 1 {
                        -0.5 * fov + fov * k as f32 / (n - 1) as f32
                    } else {
                        0.0
                    };
                    let dist = ray_distance(ep, p, heading + a, range);
                    o[STATE_LEN + k] = dist / range;
                }
                for v in o.iter_mut() {
                    *v = if v.is_finite() {
                        v.clamp(-10.0, 10.0)
                    } else {
                        0.0
                    };
                }
            }
            ObsMode::Rgb | ObsMode::Gray => {
                let cam = Camera::follow(self.opts.view, &ep.world.car_pose(), heading);
                self.raster.render(&ep.scene, &cam);
                if self.opts.obs == ObsMode::Gray {
                    self.raster.gray_into(&mut self.obs_u8);
                }
            }
        }
    }

    fn current_obs(&self) -> Obs<'_> {
        match self.opts.obs {
            ObsMode::Rgb => Obs::U8(self.raster.rgb()),
            ObsMode::Gray => Obs::U8(&self.obs_u8),
            ObsMode::State => Obs::F32(&self.obs_f32),
        }
    }
}

/// Physics steps run at reset so the car starts settled on its suspension.
const SETTLE_STEPS: usize = 30;

impl Env for DriveEnv {
    fn id(&self) -> &str {
        self.id
    }

    fn observation_space(&self) -> &Space {
        &self.obs_space
    }

    fn action_space(&self) -> &Space {
        &self.act_space
    }

    fn reset(&mut self, seed: Option<u64>) -> Result<(Obs<'_>, Info)> {
        let rng = reseed(&mut self.rng, seed, None);
        let (track, ref_offset, s0) = match &self.map {
            Some(t) => (
                t.clone(),
                t.lane_offset(self.opts.lane.unwrap_or(0)),
                self.opts.start_s.unwrap_or(5.0),
            ),
            None => (
                track::procedural(&self.opts.procedural(), rng)?,
                0.0,
                self.opts.start_s.unwrap_or(0.0),
            ),
        };
        let s0 = track.wrap_s(s0);
        // A small random start perturbation, so that episodes on a fixed map differ by seed
        // (as Gymnasium envs randomise their initial state).
        let jitter_offset: f32 = rng.random_range(-0.3..0.3);
        let jitter_heading: f32 = rng.random_range(-0.03..0.03);
        let (p, h) = track.pose_at(s0, ref_offset + jitter_offset);
        let h = h + jitter_heading;
        let mut world = World::new(&track, &self.opts.vehicle, p, h)?;
        for _ in 0..SETTLE_STEPS {
            if world.step(Controls::default()).is_err() {
                return Err(SimError::Invalid(format!(
                    "`{}`: the car did not settle at reset",
                    self.id
                )));
            }
        }
        if self.opts.start_speed > 0.0 {
            world.set_forward_speed(self.opts.start_speed);
        }
        let proj = track.project(world.car_map_pose().0, None);
        let mut traffic = Traffic::new();
        if self.opts.npcs > 0 {
            let ego = EgoLane {
                s: proj.s,
                d: proj.lateral,
                speed: 0.0,
                half_length: self.opts.vehicle.half_extents[0],
                half_width: self.opts.vehicle.half_extents[2],
            };
            spawn_npcs(
                self.id,
                &self.opts,
                &track,
                &mut world,
                &mut traffic,
                &ego,
                rng,
            )?;
        }
        let scene = Scene::new(&track, &world);
        self.ep = Some(Episode {
            s: proj.s,
            hint: proj.index,
            track,
            world,
            scene,
            traffic,
            ref_offset,
            progress: 0.0,
            off_road_time: 0.0,
            flipped_time: 0.0,
            steps: 0,
            done: false,
            last: DriveInfo::default(),
        });
        self.observe();
        Ok((self.current_obs(), self.info()))
    }

    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        let id = self.id;
        match &self.ep {
            None => {
                return Err(SimError::NeedsReset {
                    id: id.into(),
                    when: "before the first reset",
                });
            }
            Some(e) if e.done => {
                return Err(SimError::NeedsReset {
                    id: id.into(),
                    when: "after the episode ended",
                });
            }
            _ => {}
        }
        let controls = self.decode(action)?;
        let repeat = self.opts.action_repeat;
        let o = &self.opts;
        let ep = self.ep.as_mut().expect("checked above");
        let mut blowup = None;
        let mut collided = false;
        let mut ran = 0u32;
        for _ in 0..repeat {
            ran += 1;
            if !ep.traffic.is_empty() {
                step_traffic(ep);
            }
            if let Err(b) = ep.world.step(controls) {
                blowup = Some(b);
                break;
            }
            collided |= ep.world.collided();
            if collided {
                break;
            }
        }
        self.frame_number += ran as u64;
        ep.steps += 1;
        let dt = DT * ran as f32;

        let mut reward = 0.0f32;
        let mut terminated = false;
        let mut truncated = false;
        let mut end_reason = None;
        if let Some(b) = blowup {
            tracing::warn!(env = id, kind = ?b, step = ep.steps, "physics blew up; truncating the episode");
            truncated = true;
            end_reason = Some(match b {
                Blowup::NonFinite => "physics_nan",
                Blowup::Absurd => "physics_absurd_speed",
            });
        } else {
            let (p, _) = ep.world.car_map_pose();
            let proj = ep.track.project(p, Some(ep.hint));
            let ds = ep.track.delta_s(ep.s, proj.s);
            ep.s = proj.s;
            ep.hint = proj.index;
            ep.progress += ds;
            let off_road = !ep.track.on_paved(p, proj.lateral);
            ep.off_road_time = if off_road { ep.off_road_time + dt } else { 0.0 };
            ep.flipped_time = if ep.world.car_up()[1] < 0.3 {
                ep.flipped_time + dt
            } else {
                0.0
            };
            reward += o.progress_weight * ds - o.time_cost * dt;
            if off_road {
                reward -= o.off_road_weight * dt;
            }
            let route_done = if ep.track.closed() {
                ep.progress >= ep.track.length()
            } else {
                proj.s >= ep.track.length() - 1.0
            };
            if collided {
                reward -= o.collision_penalty;
                terminated = true;
                end_reason = Some("collision");
            } else if ep.off_road_time >= o.off_road_limit_s {
                reward -= o.off_road_end_penalty;
                terminated = true;
                end_reason = Some("off_road");
            } else if ep.flipped_time >= 2.0 {
                terminated = true;
                end_reason = Some("flipped");
            } else if route_done {
                terminated = true;
                end_reason = Some(if ep.track.closed() {
                    "lap_complete"
                } else {
                    "route_complete"
                });
            } else if ep.steps >= self.max_steps {
                truncated = true;
                end_reason = Some("time_limit");
            }
        }
        ep.done = terminated || truncated;
        if blowup.is_none() {
            self.observe();
        }
        let mut info = self.info();
        info.end_reason = end_reason;
        Ok(Step {
            obs: self.current_obs(),
            reward,
            terminated,
            truncated,
            info,
        })
    }

    fn obs(&self) -> Obs<'_> {
        self.current_obs()
    }

    fn render(&mut self) -> Frame<'_> {
        if let Some(ep) = self.ep.as_mut() {
            ep.scene.update(&ep.world);
            let (_, heading) = ep.world.car_map_pose();
            let cam = Camera::follow(self.opts.render_view, &ep.world.car_pose(), heading);
            self.view_raster.render(&ep.scene, &cam);
        }
        let n = self.opts.render_size;
        Frame {
            height: n,
            width: n,
            channels: 3,
            data: self.view_raster.rgb(),
        }
    }

    fn action_meanings(&self) -> Option<&'static [&'static str]> {
        match self.opts.actions {
            ActionMode::Discrete => Some(ACTION_MEANINGS),
            ActionMode::Continuous => None,
        }
    }
}

/// Move the NPCs one physics step, seeing the ego where it is now.
fn step_traffic(ep: &mut Episode) {
    let (p, heading) = ep.world.car_map_pose();
    let proj = ep.track.project(p, Some(ep.hint));
    ep.hint = proj.index;
    let ego = EgoLane {
        s: proj.s,
        d: proj.lateral,
        speed: ep.world.forward_speed() * wrap_angle(heading - proj.heading).cos(),
        ..ego_lane(ep)
    };
    ep.traffic.step(&ep.track, &mut ep.world, &ego, DT);
}

/// The ego in lane coordinates of the route, from the last observation.
fn ego_lane(ep: &Episode) -> EgoLane {
    let he = ep.world.vehicle_config().half_extents;
    EgoLane {
        s: ep.s,
        d: ep.last.lateral_offset + ep.ref_offset,
        speed: ep.last.speed * ep.last.heading_error.cos(),
        half_length: he[0],
        half_width: he[2],
    }
}

/// Distance along the ray from map point `o` at map heading `angle` to the first road
/// edge, obstacle or NPC box, capped at `range`.
fn ray_distance(ep: &Episode, o: [f32; 2], angle: f32, range: f32) -> f32 {
    let d = [angle.cos(), angle.sin()];
    let mut best = ep.track.edges().ray(o, d, range);
    let boxes = ep
        .world
        .obstacles()
        .iter()
        .map(|b| (b.map_position, b.map_heading, b.half_extents))
        .chain(
            ep.traffic
                .states()
                .filter(|n| n.active)
                .map(|n| (n.position, n.heading, n.half_extents)),
        );
    for (c, h, he) in boxes {
        if let Some(t) = ray_box(o, d, c, h, [he[0], he[2]], best) {
            best = t;
        }
    }
    best
}

/// Entry distance of the ray `o + t d` into the box centred at `c` with heading `h` and
/// half extents `he` (along, across), if below `max` (0 when `o` is inside).
fn ray_box(o: [f32; 2], d: [f32; 2], c: [f32; 2], h: f32, he: [f32; 2], max: f32) -> Option<f32> {
    let (sh, ch) = h.sin_cos();
    let (rx, ry) = (o[0] - c[0], o[1] - c[1]);
    if rx.hypot(ry) - he[0].hypot(he[1]) > max {
        return None;
    }
    // Into the box frame.
    let p = [rx * ch + ry * sh, -rx * sh + ry * ch];
    let v = [d[0] * ch + d[1] * sh, -d[0] * sh + d[1] * ch];
    let (mut t0, mut t1) = (0.0f32, max);
    for k in 0..2 {
        if v[k].abs() < 1e-9 {
            if p[k].abs() > he[k] {
                return None;
            }
        } else {
            let (a, b) = ((-he[k] - p[k]) / v[k], (he[k] - p[k]) / v[k]);
            let (a, b) = if a < b { (a, b) } else { (b, a) };
            t0 = t0.max(a);
            t1 = t1.min(b);
            if t0 > t1 {
                return None;
            }
        }
    }
    Some(t0)
}

/// Spread `opts.npcs` NPCs over the route from `rng`: on a circuit evenly round the lap
/// (ahead of and behind the ego), on an open road between 20 m ahead of the ego and 30 m
/// before the end; a random lane each (oncoming lanes included on two-way roads) and a
/// desired speed of `npc_speed` x 0.85..1.15.
fn spawn_npcs(
    id: &str,
    opts: &DriveOptions,
    track: &Track,
    world: &mut World,
    traffic: &mut Traffic,
    ego: &EgoLane,
    rng: &mut EnvRng,
) -> Result<()> {
    let n = opts.npcs as usize;
    let (start, span) = if track.closed() {
        (ego.s, track.length())
    } else {
        let start = ego.s + 20.0;
        (start, (track.length() - 30.0 - start).max(0.0))
    };
    let slots = if track.closed() { n + 1 } else { n };
    let spacing = span / slots as f32;
    ensure(
        spacing >= 10.0,
        id,
        "npcs",
        format!(
            "{n} NPCs do not fit on map `{}` ({span:.0} m of road for them: at most {})",
            track.name(),
            (span / 10.0).floor() as usize - usize::from(track.closed())
        ),
    )?;
    for k in 0..n {
        let jitter: f32 = rng.random_range(-0.3..0.3);
        let lane = rng.random_range(0..track.lanes());
        let factor: f32 = rng.random_range(0.85..1.15);
        // Slot centres: k + 1 on a circuit (slot 0 is the ego's), k + 0.5 on a road.
        let slot = if track.closed() {
            (k + 1) as f32
        } else {
            k as f32 + 0.5
        };
        let s = track.wrap_s(start + spacing * (slot + jitter));
        let speed = opts.npc_speed * factor;
        let spec = NpcSpawn {
            road: 0,
            lane: Some(lane),
            offset: 0.0,
            s,
            speed,
            idm: super::traffic::IdmParams {
                desired_speed: speed,
                ..Default::default()
            },
        };
        traffic.spawn(track, world, Some(ego), &spec)?;
    }
    Ok(())
}

/// Registry builder of `Drive-v0`.
pub fn build_drive(cfg: &EnvConfig) -> Result<Box<dyn Env>> {
    Ok(Box::new(DriveEnv::new(DRIVE_ID, cfg)?))
}

/// Registry builder of `DriveMap-v0`.
pub fn build_map(cfg: &EnvConfig) -> Result<Box<dyn Env>> {
    Ok(Box::new(DriveEnv::new(MAP_ID, cfg)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, toml::Value)]) -> EnvConfig {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn bad_options_name_the_option() {
        let e = DriveEnv::new(MAP_ID, &cfg(&[("map", "moon".into())]))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("map") && e.contains("s_bend"), "{e}");
        let e = DriveEnv::new(DRIVE_ID, &cfg(&[("action_repeat", 0.into())]))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("action_repeat"), "{e}");
        let e = DriveEnv::new(DRIVE_ID, &cfg(&[("map", "curve".into())]))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("map"), "{e}");
        let mut veh = toml::Table::new();
        veh.insert("mass".into(), 0.0.into());
        let e = DriveEnv::new(DRIVE_ID, &cfg(&[("vehicle", veh.into())]))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("vehicle") && e.contains("mass"), "{e}");
        let e = DriveEnv::new(DRIVE_ID, &cfg(&[("colour", 1.into())]))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn step_before_reset_and_bad_actions_are_errors() {
        let mut env = DriveEnv::new(MAP_ID, &EnvConfig::new()).unwrap();
        assert!(matches!(
            env.step(Action::Discrete(1)),
            Err(SimError::NeedsReset { .. })
        ));
        env.reset(Some(0)).unwrap();
        assert!(matches!(
            env.step(Action::Discrete(9)),
            Err(SimError::InvalidAction { .. })
        ));
        assert!(matches!(
            env.step(Action::Continuous(&[0.0, 1.0, 0.0])),
            Err(SimError::InvalidAction { .. })
        ));
        let mut env = DriveEnv::new(MAP_ID, &cfg(&[("actions", "continuous".into())])).unwrap();
        env.reset(Some(0)).unwrap();
        assert!(matches!(
            env.step(Action::Continuous(&[0.0, 2.0, 0.0])),
            Err(SimError::InvalidAction { .. })
        ));
        assert!(matches!(
            env.step(Action::Continuous(&[f32::NAN, 0.0, 0.0])),
            Err(SimError::InvalidAction { .. })
        ));
        assert!(env.step(Action::Continuous(&[0.0, 1.0, 0.0])).is_ok());
    }

    #[test]
    fn gas_on_the_straight_earns_progress_reward() {
        let mut env = DriveEnv::new(MAP_ID, &cfg(&[("obs", "state".into())])).unwrap();
        let (obs, info) = env.reset(Some(1)).unwrap();
        assert_eq!(
            obs.len(),
            STATE_LEN + 9,
            "fixed fields and the 9 default rays"
        );
        assert!(
            info.drive.unwrap().lateral_offset.abs() < 0.05,
            "starts in its lane"
        );
        let mut ret = 0.0;
        for _ in 0..300 {
            let s = env.step(Action::Discrete(1)).unwrap();
            assert!(!s.done());
            ret += s.reward;
        }
        let d = env.info().drive.unwrap();
        assert!(d.speed > 10.0 && d.progress > 25.0, "{d:?}");
        let expect = d.progress - 300.0 * DT;
        assert!(
            (ret - expect).abs() < 0.05,
            "return {ret} = progress - time cost {expect}"
        );
    }
}
