//! Scenario files as data: the TOML schema, its parser and the checks that run before any
//! simulation does.
//!
//! ```toml
//! name = "slow_leader"          # defaults to the file stem
//! description = "A car ahead at 6 m/s; follow it without hitting it."
//! seed = 7                      # physics and anything random in the scenario
//! time_limit_s = 40.0
//! expect = "pass"               # verdict the scripted reference driver must get
//!
//! [map]
//! layout = "straight"           # a built-in map, or "procedural" (circuit from `seed`)
//!
//! [ego]
//! lane = 0                      # start lane (0 = rightmost)
//! s = 10.0                      # start arc length, metres
//! speed = 8.0                   # start speed, m/s
//!
//! [route]
//! end_s = 300.0                 # goal: arc length of the route's end (omit on a circuit: one lap)
//! goal_radius_m = 6.0
//!
//! [[actors]]
//! id = "lead"
//! kind = "car"                  # car | parked_car | cone | barrier
//! lane = 0
//! s = 40.0
//! speed = 6.0
//!
//! [[events]]
//! actor = "lead"
//! when = { ego_within_m = 15.0 } # or { time_s = 5.0 } or { route_fraction = 0.4 }
//! action = "brake_to_stop"      # lane_change | brake_to_stop | stop | set_speed
//! decel = 6.0
//!
//! [criteria]                     # the criteria that decide the verdict, with thresholds
//! collision = true
//! max_lane_deviation_m = 1.6
//! min_route_completion = 1.0
//! ```
//!
//! Unknown fields are refused; every error names the file, the line (for syntax and type
//! errors) and the field, and says what would have been accepted.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a scenario file was refused, before any simulation ran.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{file}: cannot read: {message}")]
    Io { file: String, message: String },
    /// TOML syntax, an unknown field or a wrong type; `line` is 1-based.
    #[error("{file}:{line}: {message}")]
    Parse {
        file: String,
        line: usize,
        message: String,
    },
    /// The file parsed but a value is impossible or refers to nothing; `line` is where the
    /// field (or its table) is written, 0 when unknown.
    #[error("{file}{}: field `{field}`: {message}", line_suffix(*line))]
    Invalid {
        file: String,
        line: usize,
        field: String,
        message: String,
    },
    /// The simulator refused the scenario's world (map, options).
    #[error("{file}: {message}")]
    Sim { file: String, message: String },
}

fn line_suffix(line: usize) -> String {
    if line > 0 {
        format!(":{line}")
    } else {
        String::new()
    }
}

impl ScenarioError {
    /// Fill in the line of an [`ScenarioError::Invalid`] field from the file's text.
    pub fn with_line(self, text: &str) -> ScenarioError {
        match self {
            ScenarioError::Invalid {
                file,
                line: 0,
                field,
                message,
            } => ScenarioError::Invalid {
                line: field_line(text, &field).unwrap_or(0),
                file,
                field,
                message,
            },
            other => other,
        }
    }
}

/// 1-based line of the field at `path` (`actors[2].lane`, `events[0].when.time_s`), or of
/// the deepest table on the way when the field itself is absent.
pub fn field_line(text: &str, path: &str) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(text).ok()?;
    let mut table = doc.get_ref();
    let mut at = None;
    for part in path.split('.') {
        let (key, index) = match part.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let Some(value) = table.get(key) else { break };
        let mut value = value;
        if let Some(i) = index {
            match value.get_ref() {
                DeValue::Array(items) => match items.get(i) {
                    Some(item) => value = item,
                    None => {
                        at = Some(value.span().start);
                        break;
                    }
                },
                _ => break,
            }
        }
        at = Some(value.span().start);
        match value.get_ref() {
            DeValue::Table(t) => table = t,
            _ => break,
        }
    }
    at.map(|a| line_of(text, a))
}

/// Result alias for scenario loading and running.
pub type Result<T, E = ScenarioError> = std::result::Result<T, E>;

/// Expected verdict of the scripted reference driver, so a suite can contain scenarios
/// built to trap it and still prove that the criteria fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every deciding criterion held.
    #[default]
    Pass,
    /// At least one deciding criterion failed.
    Fail,
}

impl Verdict {
    /// `"PASS"` or `"FAIL"`, as tables print it.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
        }
    }
}

/// A whole scenario.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// Name shown in reports (default: the file stem).
    #[serde(default)]
    pub name: String,
    /// One sentence for people reading a report.
    #[serde(default)]
    pub description: String,
    /// Seed of the episode (start jitter, the procedural circuit).
    #[serde(default)]
    pub seed: u64,
    /// Simulated seconds before the `timeout` infraction ends the run.
    pub time_limit_s: f32,
    /// Verdict the scripted reference driver must get (`cargo test` checks it).
    #[serde(default)]
    pub expect: Verdict,
    /// Where the scenario happens.
    pub map: MapSpec,
    /// The ego car's start.
    #[serde(default)]
    pub ego: EgoSpec,
    /// Where the ego must go.
    #[serde(default)]
    pub route: RouteSpec,
    /// NPC cars and static objects.
    #[serde(default)]
    pub actors: Vec<ActorSpec>,
    /// Scripted behaviours: what an actor does when its trigger fires.
    #[serde(default)]
    pub events: Vec<EventSpec>,
    /// The criteria that decide pass/fail, with their thresholds.
    #[serde(default)]
    pub criteria: CriteriaSpec,
    /// Driving-score penalty factors per infraction kind.
    #[serde(default)]
    pub penalties: Penalties,
    /// Extra `DriveMap-v0` / `Drive-v0` options (e.g. `obs`, `view`, `vehicle`).
    #[serde(default)]
    pub env: toml::Table,
}

/// The map: a built-in layout or a procedural circuit.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapSpec {
    /// A built-in map name (`straight`, `curve`, `s_bend`, `intersection`, `two_way`) or
    /// `"procedural"` (a circuit generated from the scenario's `seed`).
    pub layout: String,
}

/// The ego car's start: lane, arc length and speed.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EgoSpec {
    /// Start lane, 0 = rightmost (default 0).
    #[serde(default)]
    pub lane: u32,
    /// Start arc length along the map's centreline, metres (default 0; 0 = the map start).
    #[serde(default)]
    pub s: f32,
    /// Initial forward speed, m/s (default 0).
    #[serde(default)]
    pub speed: f32,
}

/// Where the route ends. Without `end_s` the route is the whole map: one lap of a circuit,
/// or an open road up to 5 m before its end.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// Arc length of the goal along the centreline, metres.
    #[serde(default)]
    pub end_s: Option<f32>,
    /// Radius of the goal region around the route's end, metres (6).
    #[serde(default = "d_goal_radius")]
    pub goal_radius_m: f32,
}

impl Default for RouteSpec {
    fn default() -> Self {
        RouteSpec {
            end_s: None,
            goal_radius_m: d_goal_radius(),
        }
    }
}

fn d_goal_radius() -> f32 {
    6.0
}

/// What an actor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// An NPC car that follows its lane with IDM and obeys events.
    Car,
    /// A parked (static) car.
    ParkedCar,
    /// A traffic cone.
    Cone,
    /// A concrete barrier block.
    Barrier,
}

impl ActorKind {
    /// Names accepted in files.
    pub const NAMES: &'static str = "car, parked_car, cone, barrier";

    /// Whether the actor moves (and so can take events).
    pub fn is_vehicle(self) -> bool {
        self == ActorKind::Car
    }
}

/// One actor placed in lane coordinates of the map.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorSpec {
    /// Unique id that events refer to.
    pub id: String,
    /// What it is.
    pub kind: ActorKind,
    /// Which road of the map it is on (`main`, or `cross` on the intersection map).
    #[serde(default = "d_road")]
    pub road: String,
    /// Lane index (0 = rightmost; on two-way roads the oncoming lanes come after the
    /// forward ones and their cars drive against the road's direction); ignored when
    /// `offset` is given.
    #[serde(default)]
    pub lane: u32,
    /// Explicit lateral offset from the road's centreline, metres, positive left (for
    /// objects on the shoulder or straddling lanes).
    #[serde(default)]
    pub offset: Option<f32>,
    /// Arc length along the road, metres.
    pub s: f32,
    /// Initial speed, m/s (cars only; default 0).
    #[serde(default)]
    pub speed: f32,
    /// IDM desired speed, m/s (cars only; default: the initial speed, or 12 for a car
    /// placed at rest).
    #[serde(default)]
    pub desired_speed: Option<f32>,
}

fn d_road() -> String {
    "main".to_string()
}

/// When an event fires. Exactly one condition is given.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    /// At this simulated time, seconds.
    #[serde(default)]
    pub time_s: Option<f32>,
    /// When the ego is within this distance of the actor (centre to centre), metres.
    #[serde(default)]
    pub ego_within_m: Option<f32>,
    /// When the ego has completed this fraction of the route.
    #[serde(default)]
    pub route_fraction: Option<f32>,
}

/// A trigger with its one condition made explicit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trigger {
    /// Simulated time reached.
    Time(f32),
    /// Ego within distance of the actor.
    EgoWithin(f32),
    /// Ego route fraction reached.
    RouteFraction(f32),
}

/// What an actor does when its event fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Move to lane `to_lane` over `duration_s` seconds.
    LaneChange,
    /// Brake at `decel` m/s^2 until stopped, then stay stopped.
    BrakeToStop,
    /// Stop at once and stay (a stalled car).
    Stop,
    /// Change the IDM desired speed to `speed` m/s (also restarts a stopped car).
    SetSpeed,
}

/// One scripted behaviour.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    /// Id of the actor (must be a `car`).
    pub actor: String,
    /// When it fires (once).
    pub when: TriggerSpec,
    /// What the actor does.
    pub action: ActionKind,
    /// `lane_change`: target lane.
    #[serde(default)]
    pub to_lane: Option<u32>,
    /// `lane_change`: seconds the manoeuvre takes (default 2).
    #[serde(default)]
    pub duration_s: Option<f32>,
    /// `brake_to_stop`: deceleration, m/s^2 (default 6).
    #[serde(default)]
    pub decel: Option<f32>,
    /// `set_speed`: new desired speed, m/s.
    #[serde(default)]
    pub speed: Option<f32>,
}

/// The deciding criteria; a criterion that is absent is still measured and reported but
/// does not fail the scenario. Timeout always decides.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriteriaSpec {
    /// Fail on any collision, with a vehicle or a static object (default true).
    #[serde(default = "d_true")]
    pub collision: bool,
    /// Fail when the ego's centre leaves the road for longer than this, seconds.
    #[serde(default)]
    pub max_off_road_s: Option<f32>,
    /// Fail when the distance from the nearest lane centre exceeds this, metres.
    #[serde(default)]
    pub max_lane_deviation_m: Option<f32>,
    /// Fail when the route completion at the end is below this fraction (default 1.0).
    #[serde(default = "d_min_completion")]
    pub min_route_completion: f32,
    /// Fail unless the ego ends inside the goal region.
    #[serde(default)]
    pub reach_goal: bool,
    /// Fail when the time-to-collision with a vehicle or object ahead drops below this,
    /// seconds.
    #[serde(default)]
    pub min_ttc_s: Option<f32>,
    /// Fail when the ego exceeds this speed, km/h.
    #[serde(default)]
    pub speed_limit_kmh: Option<f32>,
    /// Fail when the ego makes no progress for this long, seconds (agent blocked).
    #[serde(default)]
    pub blocked_s: Option<f32>,
}

fn d_true() -> bool {
    true
}
fn d_min_completion() -> f32 {
    1.0
}

impl Default for CriteriaSpec {
    fn default() -> Self {
        CriteriaSpec {
            collision: true,
            max_off_road_s: None,
            max_lane_deviation_m: None,
            min_route_completion: d_min_completion(),
            reach_goal: false,
            min_ttc_s: None,
            speed_limit_kmh: None,
            blocked_s: None,
        }
    }
}

/// Driving-score factors: the score is route completion times each infraction's factor
/// raised to the number of times it happened. Defaults are the CARLA Leaderboard's where it
/// has the infraction (vehicle 0.60, static 0.65, timeout 0.70); the rest are ours.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Penalties {
    /// Collision with another vehicle (0.60).
    pub collision_vehicle: f32,
    /// Collision with a static object (0.65).
    pub collision_static: f32,
    /// Route not completed in the time limit (0.70).
    pub timeout: f32,
    /// Off the road longer than allowed (0.80).
    pub off_road: f32,
    /// Lane deviation above the threshold (0.90).
    pub lane_deviation: f32,
    /// Time-to-collision below the threshold (0.90).
    pub min_ttc: f32,
    /// Above the speed limit (0.90).
    pub speed_limit: f32,
    /// No progress for too long (0.70, as a timeout).
    pub blocked: f32,
}

impl Default for Penalties {
    fn default() -> Self {
        Penalties {
            collision_vehicle: 0.60,
            collision_static: 0.65,
            timeout: 0.70,
            off_road: 0.80,
            lane_deviation: 0.90,
            min_ttc: 0.90,
            speed_limit: 0.90,
            blocked: 0.70,
        }
    }
}

/// A scenario read from a file and checked: the spec plus where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The file it was read from (or a label for in-memory text).
    pub file: String,
    /// The checked spec; `name` is filled in.
    pub spec: ScenarioSpec,
    /// The events' triggers, resolved, in file order.
    pub triggers: Vec<Trigger>,
    /// The file's text, so that errors found later (lanes, roads) can name their line.
    pub source: String,
}

/// Largest number of actors a scenario may place (keeps a typo from building a city).
pub const MAX_ACTORS: usize = 64;
/// Longest time limit accepted, seconds.
pub const MAX_TIME_LIMIT_S: f32 = 3600.0;

impl Scenario {
    /// Read and check a scenario file.
    pub fn load(path: &Path) -> Result<Scenario> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::Io {
            file: file.clone(),
            message: e.to_string(),
        })?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Scenario::parse(&text, &file, &stem)
    }

    /// Parse and check scenario text; `file` labels errors and `default_name` is used when
    /// the file has no `name`. Never panics, whatever the input.
    pub fn parse(text: &str, file: &str, default_name: &str) -> Result<Scenario> {
        let mut spec: ScenarioSpec = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|r| line_of(text, r.start)).unwrap_or_default();
            ScenarioError::Parse {
                file: file.to_string(),
                line,
                message: e.message().trim().to_string(),
            }
        })?;
        if spec.name.is_empty() {
            spec.name = default_name.to_string();
        }
        let triggers = validate(&spec, file).map_err(|e| e.with_line(text))?;
        Ok(Scenario {
            file: file.to_string(),
            spec,
            triggers,
            source: text.to_string(),
        })
    }
}

impl Scenario {
    /// An [`ScenarioError::Invalid`] for `field` of this file (its line is filled in by
    /// [`ScenarioError::with_line`] on the way out).
    pub fn invalid(&self, field: impl Into<String>, message: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid {
            file: self.file.clone(),
            line: 0,
            field: field.into(),
            message: message.into(),
        }
    }

    /// The simulator refused this scenario's world.
    pub fn sim_error(&self, e: crate::SimError) -> ScenarioError {
        ScenarioError::Sim {
            file: self.file.clone(),
            message: e.to_string(),
        }
    }
}

/// 1-based line number of byte offset `at`.
fn line_of(text: &str, at: usize) -> usize {
    let at = at.min(text.len());
    text.as_bytes()[..at]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Every check that can be made without building the world; returns the resolved triggers.
fn validate(spec: &ScenarioSpec, file: &str) -> Result<Vec<Trigger>> {
    let bad = |field: String, message: String| ScenarioError::Invalid {
        file: file.to_string(),
        line: 0,
        field,
        message,
    };
    let finite_nonneg = |v: f32| v.is_finite() && v >= 0.0;
    let positive = |v: f32| v.is_finite() && v > 0.0;

    if !(positive(spec.time_limit_s) && spec.time_limit_s <= MAX_TIME_LIMIT_S) {
        return Err(bad(
            "time_limit_s".into(),
            format!(
                "must be > 0 and <= {MAX_TIME_LIMIT_S} seconds, got {}",
                spec.time_limit_s
            ),
        ));
    }
    if spec.map.layout.trim().is_empty() {
        return Err(bad(
            "map.layout".into(),
            "missing map: give a built-in layout name or \"procedural\"".into(),
        ));
    }
    if !finite_nonneg(spec.ego.s) {
        return Err(bad(
            "ego.s".into(),
            format!("must be finite and >= 0, got {}", spec.ego.s),
        ));
    }
    if !(finite_nonneg(spec.ego.speed) && spec.ego.speed <= 60.0) {
        return Err(bad(
            "ego.speed".into(),
            format!("must be 0..=60 m/s, got {}", spec.ego.speed),
        ));
    }
    if let Some(end) = spec.route.end_s
        && !(positive(end) && end > spec.ego.s)
    {
        return Err(bad(
            "route.end_s".into(),
            format!(
                "must be finite and beyond the ego start (s = {}), got {end}",
                spec.ego.s
            ),
        ));
    }
    if !positive(spec.route.goal_radius_m) {
        return Err(bad(
            "route.goal_radius_m".into(),
            format!("must be > 0, got {}", spec.route.goal_radius_m),
        ));
    }
    if spec.actors.len() > MAX_ACTORS {
        return Err(bad(
            "actors".into(),
            format!("at most {MAX_ACTORS} actors, got {}", spec.actors.len()),
        ));
    }
    for (i, a) in spec.actors.iter().enumerate() {
        let f = |name: &str| format!("actors[{i}].{name}");
        if a.id.trim().is_empty() {
            return Err(bad(f("id"), "must not be empty".into()));
        }
        if spec.actors[..i].iter().any(|b| b.id == a.id) {
            return Err(bad(f("id"), format!("duplicate actor id `{}`", a.id)));
        }
        if !finite_nonneg(a.s) {
            return Err(bad(f("s"), format!("must be finite and >= 0, got {}", a.s)));
        }
        if let Some(o) = a.offset
            && !o.is_finite()
        {
            return Err(bad(f("offset"), format!("must be finite, got {o}")));
        }
        if !(finite_nonneg(a.speed) && a.speed <= 60.0) {
            return Err(bad(
                f("speed"),
                format!("must be 0..=60 m/s, got {}", a.speed),
            ));
        }
        if let Some(v) = a.desired_speed
            && !(positive(v) && v <= 60.0)
        {
            return Err(bad(
                f("desired_speed"),
                format!("must be > 0 and <= 60 m/s, got {v}"),
            ));
        }
        if !a.kind.is_vehicle() && (a.speed != 0.0 || a.desired_speed.is_some()) {
            return Err(bad(
                f("speed"),
                format!(
                    "a {:?} is static: speed and desired_speed are for kind = \"car\"",
                    a.kind
                ),
            ));
        }
    }
    let mut triggers = Vec::with_capacity(spec.events.len());
    for (i, e) in spec.events.iter().enumerate() {
        let f = |name: &str| format!("events[{i}].{name}");
        let Some(actor) = spec.actors.iter().find(|a| a.id == e.actor) else {
            let known: Vec<&str> = spec.actors.iter().map(|a| a.id.as_str()).collect();
            return Err(bad(
                f("actor"),
                format!(
                    "unknown actor `{}`; actors in this file: {}",
                    e.actor,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        };
        if !actor.kind.is_vehicle() {
            return Err(bad(
                f("actor"),
                format!("actor `{}` is static; only cars take events", e.actor),
            ));
        }
        let w = e.when;
        let given = [w.time_s, w.ego_within_m, w.route_fraction]
            .iter()
            .filter(|v| v.is_some())
            .count();
        if given != 1 {
            return Err(bad(
                f("when"),
                "give exactly one of time_s, ego_within_m, route_fraction".into(),
            ));
        }
        let trigger = if let Some(t) = w.time_s {
            if !finite_nonneg(t) {
                return Err(bad(
                    f("when.time_s"),
                    format!("must be finite and >= 0, got {t}"),
                ));
            }
            Trigger::Time(t)
        } else if let Some(d) = w.ego_within_m {
            if !positive(d) {
                return Err(bad(f("when.ego_within_m"), format!("must be > 0, got {d}")));
            }
            Trigger::EgoWithin(d)
        } else {
            let r = w.route_fraction.unwrap_or_default();
            if !(r.is_finite() && (0.0..=1.0).contains(&r)) {
                return Err(bad(
                    f("when.route_fraction"),
                    format!("must be in [0, 1], got {r}"),
                ));
            }
            Trigger::RouteFraction(r)
        };
        triggers.push(trigger);
        let need = |field: &str, v: Option<f32>| -> Result<()> {
            match v {
                None => Err(bad(
                    f(field),
                    format!("required for action = \"{}\"", action_name(e.action)),
                )),
                Some(x) if !positive(x) => Err(bad(f(field), format!("must be > 0, got {x}"))),
                Some(_) => Ok(()),
            }
        };
        match e.action {
            ActionKind::LaneChange => {
                if e.to_lane.is_none() {
                    return Err(bad(
                        f("to_lane"),
                        "required for action = \"lane_change\"".into(),
                    ));
                }
                if let Some(d) = e.duration_s {
                    need("duration_s", Some(d))?;
                }
            }
            ActionKind::BrakeToStop => {
                if let Some(d) = e.decel {
                    need("decel", Some(d))?;
                }
            }
            ActionKind::Stop => {}
            ActionKind::SetSpeed => {
                let v = e.speed;
                if !matches!(v, Some(x) if finite_nonneg(x) && x <= 60.0) {
                    return Err(bad(
                        f("speed"),
                        format!("set_speed needs speed in 0..=60 m/s, got {v:?}"),
                    ));
                }
            }
        }
    }
    let c = &spec.criteria;
    for (name, v) in [
        ("criteria.max_off_road_s", c.max_off_road_s),
        ("criteria.max_lane_deviation_m", c.max_lane_deviation_m),
        ("criteria.min_ttc_s", c.min_ttc_s),
        ("criteria.speed_limit_kmh", c.speed_limit_kmh),
        ("criteria.blocked_s", c.blocked_s),
    ] {
        if let Some(x) = v
            && !finite_nonneg(x)
        {
            return Err(bad(
                name.into(),
                format!("must be finite and >= 0, got {x}"),
            ));
        }
    }
    if !(c.min_route_completion.is_finite() && (0.0..=1.0).contains(&c.min_route_completion)) {
        return Err(bad(
            "criteria.min_route_completion".into(),
            format!("must be in [0, 1], got {}", c.min_route_completion),
        ));
    }
    let p = &spec.penalties;
    for (name, v) in [
        ("collision_vehicle", p.collision_vehicle),
        ("collision_static", p.collision_static),
        ("timeout", p.timeout),
        ("off_road", p.off_road),
        ("lane_deviation", p.lane_deviation),
        ("min_ttc", p.min_ttc),
        ("speed_limit", p.speed_limit),
        ("blocked", p.blocked),
    ] {
        if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
            return Err(bad(
                format!("penalties.{name}"),
                format!("must be in [0, 1], got {v}"),
            ));
        }
    }
    Ok(triggers)
}

fn action_name(a: ActionKind) -> &'static str {
    match a {
        ActionKind::LaneChange => "lane_change",
        ActionKind::BrakeToStop => "brake_to_stop",
        ActionKind::Stop => "stop",
        ActionKind::SetSpeed => "set_speed",
    }
}

/// Every `*.toml` under `path` (sorted), or `path` itself when it is a file.
pub fn collect_files(path: &Path) -> Result<Vec<PathBuf>> {
    let io = |e: std::io::Error| ScenarioError::Io {
        file: path.display().to_string(),
        message: e.to_string(),
    };
    if path.is_dir() {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(path).map_err(io)? {
            let p = entry.map_err(io)?.path();
            if p.extension().is_some_and(|e| e == "toml") {
                out.push(p);
            }
        }
        out.sort();
        Ok(out)
    } else if path.exists() {
        Ok(vec![path.to_path_buf()])
    } else {
        Err(ScenarioError::Io {
            file: path.display().to_string(),
            message: "no such file or directory".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
time_limit_s = 30.0
[map]
layout = "straight"
[ego]
speed = 5.0
[[actors]]
id = "lead"
kind = "car"
s = 40.0
speed = 6.0
[[events]]
actor = "lead"
when = { ego_within_m = 15.0 }
action = "brake_to_stop"
decel = 6.0
"#;

    fn err(text: &str) -> String {
        Scenario::parse(text, "x.toml", "x")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn good_file_parses_with_defaults() {
        let s = Scenario::parse(GOOD, "x.toml", "x").unwrap();
        assert_eq!(s.spec.name, "x");
        assert_eq!(s.spec.expect, Verdict::Pass);
        assert!(s.spec.criteria.collision);
        assert_eq!(s.triggers, vec![Trigger::EgoWithin(15.0)]);
        assert_eq!(s.spec.penalties.collision_vehicle, 0.6);
    }

    #[test]
    fn unknown_field_names_file_line_and_field() {
        let text = GOOD.replace("decel = 6.0", "decel = 6.0\ndeccel = 2.0");
        let e = err(&text);
        assert!(e.starts_with("x.toml:"), "{e}");
        assert!(e.contains("deccel"), "{e}");
        let line = text.lines().position(|l| l.starts_with("deccel")).unwrap() + 1;
        assert!(e.contains(&format!(":{line}:")), "want line {line}: {e}");
    }

    #[test]
    fn missing_map_is_refused() {
        let e = err("time_limit_s = 3.0\n");
        assert!(e.contains("map"), "{e}");
    }

    #[test]
    fn unknown_actor_in_trigger_is_refused_naming_the_known_ones() {
        let e = err(&GOOD.replace("actor = \"lead\"", "actor = \"leed\""));
        assert!(e.contains("events[0].actor"), "{e}");
        assert!(e.contains("leed") && e.contains("lead"), "{e}");
        let text = GOOD.replace("actor = \"lead\"", "actor = \"leed\"");
        let line = text.lines().position(|l| l.contains("leed")).unwrap() + 1;
        assert!(
            e.starts_with(&format!("x.toml:{line}: ")),
            "want line {line}: {e}"
        );
    }

    #[test]
    fn negative_times_and_nan_are_refused() {
        let e = err(&GOOD.replace("time_limit_s = 30.0", "time_limit_s = -1.0"));
        assert!(e.contains("time_limit_s"), "{e}");
        let e = err(&GOOD.replace("ego_within_m = 15.0", "time_s = -2.0"));
        assert!(e.contains("events[0].when.time_s"), "{e}");
        let e = err(&GOOD.replace("s = 40.0", "s = nan"));
        assert!(e.contains("actors[0].s"), "{e}");
    }

    #[test]
    fn two_conditions_in_one_trigger_are_refused() {
        let e = err(&GOOD.replace("ego_within_m = 15.0", "ego_within_m = 15.0, time_s = 1.0"));
        assert!(e.contains("exactly one"), "{e}");
    }

    #[test]
    fn events_on_static_actors_are_refused() {
        let e = err(&GOOD.replace(
            "kind = \"car\"\ns = 40.0\nspeed = 6.0",
            "kind = \"cone\"\ns = 40.0",
        ));
        assert!(e.contains("static"), "{e}");
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            "",
            "[[",
            "time_limit_s = 1e40",
            "\u{0}",
            "map = 3",
            "[map]\nlayout=\"\"",
        ] {
            let _ = Scenario::parse(text, "f", "f");
        }
    }
}
