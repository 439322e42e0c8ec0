//! Runs one scenario: builds the map with its static actors, starts the ego, spawns the NPC
//! cars, fires their events when the triggers say so, and feeds every step to the criteria
//! monitor. Deterministic: the same scenario and policy give the same report, bit for bit.
//! [`ScenarioEnv`] is the scenario as an `Env` (what [`run`] steps, and what the viewer
//! shows); [`run`] drives it with a policy and reports.

use super::criteria::{ActorSample, Contact, EgoSample, Monitor, Outcome, RunEnd};
use super::spec::{ActionKind, ActorKind, Result, Scenario, ScenarioError, Trigger, Verdict};
use crate::config::EnvConfig;
use crate::drive::track::{self, ObstacleDef, ObstacleKind, Track};
use crate::drive::traffic::{IdmParams, NpcCommand, NpcSpawn};
use crate::drive::world::{CollisionKind, DT};
use crate::drive::{DRIVE_ID, DriveEnv, MAP_ID};
use crate::env::{Action, Env, Frame, Info, Obs, OwnedFrame, Step};
use crate::error::SimError;
use crate::policy::Policy;
use crate::space::Space;
use serde::Serialize;

/// What one run of one scenario produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// File it came from.
    pub file: String,
    /// Name of the policy that drove.
    pub policy: String,
    /// Verdict the file expects of the scripted reference driver.
    pub expect: Verdict,
    /// Agent steps taken.
    pub steps: u64,
    /// Criteria results and metrics.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Options of a run that are not part of the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RunOptions {
    /// Keep a top-down frame every this many agent steps for a GIF (0: none).
    pub frame_every: u32,
}

/// The env id and options a scenario runs with; `overrides` (e.g. the observation a policy
/// needs) are applied over the scenario's own `[env]` table.
pub fn env_setup(scenario: &Scenario, overrides: &EnvConfig) -> Result<(&'static str, EnvConfig)> {
    setup(scenario, overrides).map_err(|e| e.with_line(&scenario.source))
}

fn setup(scenario: &Scenario, overrides: &EnvConfig) -> Result<(&'static str, EnvConfig)> {
    let spec = &scenario.spec;
    let file = &scenario.file;
    let mut cfg = spec.env.clone();
    for (k, v) in overrides {
        cfg.insert(k.clone(), v.clone());
    }
    let reserved = [
        "map",
        "lane",
        "start_s",
        "start_speed",
        "obstacles",
        "npcs",
        "max_episode_steps",
    ];
    if let Some(k) = spec.env.keys().find(|k| reserved.contains(&k.as_str())) {
        return Err(scenario.invalid(
            format!("env.{k}"),
            "set by the scenario itself (map, ego, actors, time_limit_s)",
        ));
    }
    let procedural = spec.map.layout == "procedural";
    let id = if procedural { DRIVE_ID } else { MAP_ID };
    if !procedural {
        if !track::MAP_NAMES.contains(&spec.map.layout.as_str()) {
            return Err(scenario.invalid(
                "map.layout",
                format!(
                    "unknown layout `{}`; one of {}, procedural",
                    spec.map.layout,
                    track::MAP_NAMES.join(", ")
                ),
            ));
        }
        cfg.insert("map".into(), spec.map.layout.clone().into());
        cfg.insert("lane".into(), i64::from(spec.ego.lane).into());
        let map = map_track(scenario)?;
        if spec.ego.lane >= map.forward_lanes() {
            return Err(scenario.invalid(
                "ego.lane",
                format!(
                    "map `{}` has forward lanes 0..{}, got {}",
                    map.name(),
                    map.forward_lanes(),
                    spec.ego.lane
                ),
            ));
        }
        let mut obstacles = Vec::new();
        for (i, a) in spec.actors.iter().enumerate() {
            let kind = match a.kind {
                ActorKind::Car => continue,
                ActorKind::ParkedCar => ObstacleKind::ParkedCar,
                ActorKind::Cone => ObstacleKind::Cone,
                ActorKind::Barrier => ObstacleKind::Barrier,
            };
            if a.road != "main" {
                return Err(scenario.invalid(
                    format!("actors[{i}].road"),
                    "static objects are placed on the main road",
                ));
            }
            let offset = match a.offset {
                Some(o) => o,
                None => lane_offset(scenario, &map, 0, a.lane, &format!("actors[{i}].lane"))?,
            };
            let def = ObstacleDef {
                kind,
                s: a.s,
                offset,
                heading_deg: 0.0,
            };
            obstacles.push(toml::Value::try_from(def).map_err(|e| ScenarioError::Sim {
                file: file.clone(),
                message: e.to_string(),
            })?);
        }
        if !obstacles.is_empty() {
            cfg.insert("obstacles".into(), toml::Value::Array(obstacles));
        }
    } else if spec.actors.iter().any(|a| a.kind != ActorKind::Car) {
        return Err(scenario.invalid(
            "actors",
            "static objects need a map layout, not a procedural circuit",
        ));
    }
    cfg.insert("start_s".into(), f64::from(spec.ego.s).into());
    cfg.insert("start_speed".into(), f64::from(spec.ego.speed).into());
    // The scenario's time limit decides; the env's own limit sits safely beyond it.
    let repeat = cfg
        .get("action_repeat")
        .and_then(|v| v.as_integer())
        .unwrap_or(1)
        .max(1);
    let steps = (spec.time_limit_s / (DT * repeat as f32)).ceil() as i64 + 10;
    cfg.insert("max_episode_steps".into(), steps.into());
    Ok((id, cfg))
}

fn map_track(scenario: &Scenario) -> Result<Track> {
    let sim = |e| scenario.sim_error(e);
    Track::from_def(&track::builtin_map(&scenario.spec.map.layout).map_err(sim)?).map_err(sim)
}

fn lane_offset(
    scenario: &Scenario,
    map: &Track,
    road: usize,
    lane: u32,
    field: &str,
) -> Result<f32> {
    let r = map.road(road).ok_or_else(|| {
        scenario.invalid(
            field.to_string(),
            format!("map `{}` has no road {road}", map.name()),
        )
    })?;
    if lane >= r.lanes() {
        return Err(scenario.invalid(
            field.to_string(),
            format!(
                "actor on no lane: road `{}` of map `{}` has lanes 0..{}, got {lane}",
                r.name(),
                map.name(),
                r.lanes()
            ),
        ));
    }
    Ok(r.lane_offset(lane))
}

fn road_index(scenario: &Scenario, name: &str, field: &str, roads: usize) -> Result<usize> {
    let idx = match name {
        "main" => Some(0),
        "cross" => Some(1),
        _ => name
            .strip_prefix("cross")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n >= 1),
    };
    match idx {
        Some(i) if i < roads => Ok(i),
        _ => Err(scenario.invalid(
            field.to_string(),
            format!(
                "unknown road `{name}`; this map has {}",
                if roads > 1 {
                    "main, cross (and cross1..)"
                } else {
                    "only main"
                }
            ),
        )),
    }
}

/// Run `scenario` with `policy` in an env built from `env_setup(scenario, overrides)`.
/// `frames` receives the frames kept for a GIF (see [`RunOptions::frame_every`]).
pub fn run(
    scenario: &Scenario,
    policy: &mut dyn Policy,
    overrides: &EnvConfig,
    opts: RunOptions,
    frames: &mut Vec<OwnedFrame>,
) -> Result<Report> {
    run_inner(scenario, policy, overrides, opts, frames).map_err(|e| e.with_line(&scenario.source))
}

fn run_inner(
    scenario: &Scenario,
    policy: &mut dyn Policy,
    overrides: &EnvConfig,
    opts: RunOptions,
    frames: &mut Vec<OwnedFrame>,
) -> Result<Report> {
    let sim = |e| scenario.sim_error(e);
    let mut overrides = overrides.clone();
    if opts.frame_every > 0 {
        overrides
            .entry("render_view")
            .or_insert_with(|| toml::Value::String("top_down".into()));
    }
    let mut senv = ScenarioEnv::start(scenario.clone(), &overrides)?;
    policy.reset();
    let mut action = policy.act(senv.obs()).map_err(sim)?;
    loop {
        if opts.frame_every > 0 && senv.steps.is_multiple_of(u64::from(opts.frame_every)) {
            frames.push(senv.env.render().to_owned());
        }
        if senv.advance(action.as_action())? {
            break;
        }
        action = policy.act(senv.obs()).map_err(sim)?;
    }
    if opts.frame_every > 0 {
        frames.push(senv.env.render().to_owned());
    }
    let outcome = senv.outcome.take().ok_or_else(|| ScenarioError::Sim {
        file: scenario.file.clone(),
        message: "the run ended without an outcome".into(),
    })?;
    Ok(Report {
        scenario: scenario.spec.name.clone(),
        file: scenario.file.clone(),
        policy: policy.name().to_string(),
        expect: scenario.spec.expect,
        steps: senv.steps,
        outcome,
    })
}

/// A scenario as an [`Env`]: the driving env with the scenario's map, ego start and actors,
/// whose `step` also fires the scenario's events and runs its criteria monitor. The episode
/// ends when the scenario run ends (verdict in [`ScenarioEnv::outcome`]); `reset` starts the
/// scenario over from its own seed (a seed passed to `reset` is ignored: the file fixes it).
/// [`run`] grades a policy with it; the viewer shows it step by step.
pub struct ScenarioEnv {
    scenario: Scenario,
    env: DriveEnv,
    run: Started,
    /// What the last reset or step returned (the env's own reward, flags and info).
    last: (f32, bool, bool, Info),
    outcome: Option<Outcome>,
    steps: u64,
    actors: Vec<ActorSample>,
}

/// A scenario's per-run state, set up at every (re)start.
struct Started {
    track: Track,
    /// Actor index and NPC id of each event's target, in event order.
    targets: Vec<(usize, usize)>,
    fired: Vec<bool>,
    goal: [f32; 2],
    /// `None` once the run has ended.
    monitor: Option<Monitor>,
}

impl ScenarioEnv {
    /// Build the env `env_setup(&scenario, overrides)` names and start the scenario: reset
    /// with its seed, spawn its cars, check its events' targets and route.
    pub fn start(scenario: Scenario, overrides: &EnvConfig) -> Result<Self> {
        let (id, cfg) = setup(&scenario, overrides)?;
        let mut env = DriveEnv::new(id, &cfg).map_err(|e| scenario.sim_error(e))?;
        let (run, info) = begin(&scenario, &mut env)?;
        Ok(ScenarioEnv {
            scenario,
            env,
            run,
            last: (0.0, false, false, info),
            outcome: None,
            steps: 0,
            actors: Vec::new(),
        })
    }

    /// The scenario being run.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The driving env underneath (scene, physics, traffic).
    pub fn drive(&self) -> &DriveEnv {
        &self.env
    }

    /// The verdict and metrics, once the run has ended (until the next reset).
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// Agent steps since the scenario started.
    pub fn steps(&self) -> u64 {
        self.steps
    }
}

/// Reset `env` with the scenario's seed, spawn its cars, check its events and route.
fn begin(scenario: &Scenario, env: &mut DriveEnv) -> Result<(Started, Info)> {
    let spec = &scenario.spec;
    let file = &scenario.file;
    let sim = |e| scenario.sim_error(e);
    let info = env.reset(Some(spec.seed)).map_err(sim)?.1;
    let track = env.track().cloned().ok_or_else(|| ScenarioError::Sim {
        file: file.clone(),
        message: "env has no track after reset".into(),
    })?;
    // NPC cars, in file order; `npc_of[i]` is actor i's NPC id.
    let mut npc_of = vec![None; spec.actors.len()];
    for (i, a) in spec.actors.iter().enumerate() {
        if a.kind != ActorKind::Car {
            continue;
        }
        let road = road_index(
            scenario,
            &a.road,
            &format!("actors[{i}].road"),
            track.road_count(),
        )?;
        if a.offset.is_none() {
            lane_offset(scenario, &track, road, a.lane, &format!("actors[{i}].lane"))?;
        }
        let spawn = NpcSpawn {
            road,
            lane: a.offset.is_none().then_some(a.lane),
            offset: a.offset.unwrap_or(0.0),
            s: a.s,
            speed: a.speed,
            idm: IdmParams {
                // A car placed at rest cruises at the IDM default once it drives.
                desired_speed: a.desired_speed.unwrap_or(if a.speed > 0.0 {
                    a.speed
                } else {
                    IdmParams::default().desired_speed
                }),
                ..IdmParams::default()
            },
        };
        let npc = env
            .spawn_npc(&spawn)
            .map_err(|e| scenario.invalid(format!("actors[{i}]"), e.to_string()))?;
        npc_of[i] = Some(npc);
    }
    // Event targets, checked before the first step.
    let mut targets = Vec::with_capacity(spec.events.len());
    for (k, e) in spec.events.iter().enumerate() {
        let i = spec
            .actors
            .iter()
            .position(|a| a.id == e.actor)
            .unwrap_or_default();
        let npc = npc_of[i].unwrap_or_default();
        if let Some(lane) = e.to_lane {
            let road = env.npc(npc).map(|n| n.road).unwrap_or_default();
            lane_offset(
                scenario,
                &track,
                road,
                lane,
                &format!("events[{k}].to_lane"),
            )?;
        }
        targets.push((i, npc));
    }
    let route_start = spec.ego.s;
    let route_end = match spec.route.end_s {
        Some(end) => end,
        None if track.closed() => route_start + track.length(),
        // An open road's route ends a car length before its end, still on the asphalt.
        None => track.length() - 5.0,
    };
    let route_length = route_end - route_start;
    if route_length <= 0.0 || (!track.closed() && route_end > track.length() + 1e-3) {
        return Err(scenario.invalid(
            "route.end_s",
            format!(
                "the route must end beyond the ego start and on the map (length {:.1} m)",
                track.length()
            ),
        ));
    }
    let goal = track
        .pose_at(
            track.wrap_s(route_end),
            track.lane_offset(spec.ego.lane.min(track.lanes().saturating_sub(1))),
        )
        .0;
    let monitor = Monitor::new(
        spec.criteria,
        spec.penalties,
        route_length,
        spec.route.goal_radius_m,
    );
    let run = Started {
        track,
        targets,
        fired: vec![false; spec.events.len()],
        goal,
        monitor: Some(monitor),
    };
    Ok((run, info))
}

impl ScenarioEnv {
    /// One agent step: the env steps, the monitor observes, due events fire. Returns true
    /// when the scenario run has ended (the outcome is then set).
    fn advance(&mut self, action: Action<'_>) -> Result<bool> {
        match self.step_and_observe(action)? {
            Some(end) => {
                if let Some(monitor) = self.run.monitor.take() {
                    self.outcome = Some(monitor.finish(end));
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Step the env, feed the monitor, fire due events; `Some` when the run ends here.
    fn step_and_observe(&mut self, action: Action<'_>) -> Result<Option<RunEnd>> {
        let ScenarioEnv {
            scenario,
            env,
            run,
            last,
            steps,
            actors,
            ..
        } = self;
        let spec = &scenario.spec;
        let file = &scenario.file;
        let sim = |e| scenario.sim_error(e);
        let Some(monitor) = run.monitor.as_mut() else {
            return Err(sim(SimError::NeedsReset {
                id: format!("scenario `{}`", spec.name),
                when: "after the scenario ended",
            }));
        };
        let track = &run.track;
        let goal = run.goal;
        let repeat = env.options().action_repeat as f32;
        let half = env.options().vehicle.half_extents;
        let step = env.step(action).map_err(sim)?;
        let (terminated, truncated) = (step.terminated, step.truncated);
        *last = (step.reward, terminated, truncated, step.info);
        let drive = step.info.drive.unwrap_or_default();
        *steps += 1;
        let t = *steps as f32 * DT * repeat;
        let world = env.world().ok_or_else(|| ScenarioError::Sim {
            file: file.clone(),
            message: "env lost its world".into(),
        })?;
        let (pos, heading) = world.car_map_pose();
        let lane = env.ego_lane().unwrap_or_default();
        let lane_deviation = (0..track.lanes())
            .map(|k| (lane.d - track.lane_offset(k)).abs())
            .fold(f32::INFINITY, f32::min);
        let contact = match drive.collision_kind {
            CollisionKind::None if drive.collision => Some(Contact::Static),
            CollisionKind::None => None,
            CollisionKind::Vehicle => Some(Contact::Vehicle),
            CollisionKind::Static => Some(Contact::Static),
        };
        let ego = EgoSample {
            t,
            pos,
            heading,
            speed: drive.speed,
            half_size: [half[0], half[2]],
            progress: drive.progress,
            lane_deviation,
            off_road: drive.off_road,
            contact,
            goal_distance: ((pos[0] - goal[0]).powi(2) + (pos[1] - goal[1]).powi(2)).sqrt(),
        };
        actors.clear();
        if let Some(traffic) = env.traffic() {
            actors.extend(traffic.states().filter(|n| n.active).map(|n| ActorSample {
                pos: n.position,
                heading: n.heading,
                speed: n.speed,
                half_size: [n.half_extents[0], n.half_extents[2]],
            }));
        }
        actors.extend(world.obstacles().iter().map(|o| ActorSample {
            pos: o.map_position,
            heading: o.map_heading,
            speed: 0.0,
            half_size: [o.half_extents[0], o.half_extents[2]],
        }));
        if let Some(end) = monitor.observe(&ego, actors) {
            return Ok(Some(end));
        }
        if terminated || truncated {
            return Ok(Some(if drive.route_fraction >= 1.0 {
                RunEnd::RouteDone
            } else {
                RunEnd::EnvEnded
            }));
        }
        if t >= spec.time_limit_s {
            return Ok(Some(RunEnd::Timeout));
        }
        // Events whose trigger holds fire once, before the next step.
        let completion = monitor.route_completion();
        for (k, e) in spec.events.iter().enumerate() {
            if run.fired[k] {
                continue;
            }
            let (_, npc) = run.targets[k];
            let Some(state) = env.npc(npc) else { continue };
            let due = match scenario.triggers[k] {
                Trigger::Time(at) => t >= at,
                Trigger::EgoWithin(d) => {
                    let dx = state.position[0] - pos[0];
                    let dy = state.position[1] - pos[1];
                    (dx * dx + dy * dy).sqrt() <= d
                }
                Trigger::RouteFraction(r) => completion >= r,
            };
            if !due {
                continue;
            }
            run.fired[k] = true;
            let cmd = match e.action {
                ActionKind::LaneChange => NpcCommand::ChangeLane {
                    lane: e.to_lane.unwrap_or_default(),
                    duration: e.duration_s.unwrap_or(2.0),
                },
                ActionKind::BrakeToStop => NpcCommand::BrakeToStop {
                    decel: e.decel.unwrap_or(6.0),
                },
                ActionKind::Stop => NpcCommand::StopNow,
                ActionKind::SetSpeed => NpcCommand::SetSpeed {
                    speed: e.speed.unwrap_or_default(),
                },
            };
            env.command_npc(npc, cmd)
                .map_err(|err| scenario.invalid(format!("events[{k}]"), err.to_string()))?;
        }
        Ok(None)
    }

    fn to_sim(&self, e: ScenarioError) -> SimError {
        SimError::Invalid(e.with_line(&self.scenario.source).to_string())
    }
}

impl Env for ScenarioEnv {
    fn id(&self) -> &str {
        self.env.id()
    }

    fn observation_space(&self) -> &Space {
        self.env.observation_space()
    }

    fn action_space(&self) -> &Space {
        self.env.action_space()
    }

    fn reset(&mut self, _seed: Option<u64>) -> crate::error::Result<(Obs<'_>, Info)> {
        let (run, info) = begin(&self.scenario, &mut self.env).map_err(|e| self.to_sim(e))?;
        self.run = run;
        self.last = (0.0, false, false, info);
        self.outcome = None;
        self.steps = 0;
        Ok((self.env.obs(), info))
    }

    fn step(&mut self, action: Action<'_>) -> crate::error::Result<Step<'_>> {
        let ended = self.advance(action).map_err(|e| self.to_sim(e))?;
        let (reward, env_terminated, truncated, mut info) = self.last;
        // The scenario decides when the episode ends (collision, blocked, goal, timeout);
        // an end the env itself reached keeps its own flags.
        let env_ended = env_terminated || truncated;
        if ended && !env_ended {
            info.end_reason = Some("scenario_ended");
        }
        Ok(Step {
            obs: self.env.obs(),
            reward,
            terminated: env_terminated || (ended && !env_ended),
            truncated,
            info,
        })
    }

    fn obs(&self) -> Obs<'_> {
        self.env.obs()
    }

    fn render(&mut self) -> Frame<'_> {
        self.env.render()
    }

    fn action_meanings(&self) -> Option<&'static [&'static str]> {
        self.env.action_meanings()
    }
}
