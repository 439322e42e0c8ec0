//! Criteria evaluated every step, modelled on ScenarioRunner's atomic criteria, and the
//! metrics a run ends with: route completion, infractions with time and place, a driving
//! score and the verdict.
//!
//! The monitor only sees plain samples of the ego and the actors, so it is tested without a
//! simulator and the runner stays a thin loop.

use super::spec::{CriteriaSpec, Penalties, Verdict};
use serde::Serialize;

/// What the ego hit, if anything, this step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Contact {
    /// Another car (NPC, moving or stopped).
    Vehicle,
    /// A static object (parked car, cone, barrier).
    Static,
}

/// The ego at one step.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EgoSample {
    /// Simulated time, seconds.
    pub t: f32,
    /// Map position, metres.
    pub pos: [f32; 2],
    /// Heading, radians (map frame).
    pub heading: f32,
    /// Forward speed, m/s.
    pub speed: f32,
    /// Half length and half width of the car, metres.
    pub half_size: [f32; 2],
    /// Metres driven along the route since the start.
    pub progress: f32,
    /// Distance from the nearest lane centre, metres.
    pub lane_deviation: f32,
    /// Centre beyond the paved edge.
    pub off_road: bool,
    /// Contact this step.
    pub contact: Option<Contact>,
    /// Distance to the goal point, metres.
    pub goal_distance: f32,
}

/// Another road user or object at one step.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ActorSample {
    /// Map position, metres.
    pub pos: [f32; 2],
    /// Heading, radians.
    pub heading: f32,
    /// Speed along its heading, m/s.
    pub speed: f32,
    /// Half length and half width, metres.
    pub half_size: [f32; 2],
}

/// Kinds of infraction, as reports name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InfractionKind {
    /// Touched another vehicle.
    CollisionVehicle,
    /// Touched a static object.
    CollisionStatic,
    /// Off the road longer than allowed.
    OffRoad,
    /// Farther from a lane centre than allowed.
    LaneDeviation,
    /// Time-to-collision below the threshold.
    MinTtc,
    /// Above the speed limit.
    SpeedLimit,
    /// No progress for too long.
    Blocked,
    /// The time limit ran out before the route was done.
    Timeout,
}

impl InfractionKind {
    /// Snake-case name used in tables, JSON and JUnit.
    pub fn name(self) -> &'static str {
        match self {
            InfractionKind::CollisionVehicle => "collision_vehicle",
            InfractionKind::CollisionStatic => "collision_static",
            InfractionKind::OffRoad => "off_road",
            InfractionKind::LaneDeviation => "lane_deviation",
            InfractionKind::MinTtc => "min_ttc",
            InfractionKind::SpeedLimit => "speed_limit",
            InfractionKind::Blocked => "blocked",
            InfractionKind::Timeout => "timeout",
        }
    }

    fn penalty(self, p: &Penalties) -> f32 {
        match self {
            InfractionKind::CollisionVehicle => p.collision_vehicle,
            InfractionKind::CollisionStatic => p.collision_static,
            InfractionKind::OffRoad => p.off_road,
            InfractionKind::LaneDeviation => p.lane_deviation,
            InfractionKind::MinTtc => p.min_ttc,
            InfractionKind::SpeedLimit => p.speed_limit,
            InfractionKind::Blocked => p.blocked,
            InfractionKind::Timeout => p.timeout,
        }
    }
}

/// One infraction: what, when and where.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Infraction {
    /// Kind.
    pub kind: InfractionKind,
    /// Simulated time, seconds.
    pub t: f32,
    /// Ego map position, metres.
    pub pos: [f32; 2],
    /// The measured value that broke the threshold (speed, deviation, TTC, seconds).
    pub value: f32,
}

/// Why the run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunEnd {
    /// The route was completed.
    RouteDone,
    /// A collision ended it.
    Collision,
    /// No progress for `blocked_s`.
    Blocked,
    /// The time limit ran out.
    Timeout,
    /// The env ended the episode for another reason (long off-road, flipped, blow-up).
    EnvEnded,
}

/// Everything measured over one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// Verdict from the deciding criteria.
    pub verdict: Verdict,
    /// Names of the deciding criteria that failed.
    pub failed: Vec<String>,
    /// Route completion in `[0, 1]`.
    pub route_completion: f32,
    /// Infractions in order of time.
    pub infractions: Vec<Infraction>,
    /// Route completion times the product of infraction penalties.
    pub driving_score: f32,
    /// Simulated seconds.
    pub sim_time: f32,
    /// Why it stopped.
    pub end: RunEnd,
    /// Smallest time-to-collision seen, seconds (`None`: never closing on anything).
    pub min_ttc_s: Option<f32>,
    /// Largest lane deviation seen, metres.
    pub max_lane_deviation_m: f32,
    /// Highest speed, km/h.
    pub max_speed_kmh: f32,
    /// Longest off-road stretch, seconds.
    pub max_off_road_s: f32,
    /// The ego ended inside the goal region.
    pub reached_goal: bool,
}

impl Outcome {
    /// One line for people: verdict, score, route, why it ended, infractions.
    pub fn summary(&self) -> String {
        let infractions = if self.infractions.is_empty() {
            "none".to_string()
        } else {
            self.infractions
                .iter()
                .map(|i| format!("{} at {:.1} s", i.kind.name(), i.t))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "{} (score {:.2}, route {:.0}%, {:.1} s, ended: {:?}, infractions: {infractions})",
            self.verdict.label(),
            self.driving_score,
            100.0 * self.route_completion,
            self.sim_time,
            self.end
        )
    }
}

/// Time-to-collision of the ego with one actor: the gap along the ego's heading to an actor
/// in its path divided by the closing speed; `None` when not in the path or not closing.
pub fn time_to_collision(ego: &EgoSample, actor: &ActorSample) -> Option<f32> {
    let (s, c) = ego.heading.sin_cos();
    let d = [actor.pos[0] - ego.pos[0], actor.pos[1] - ego.pos[1]];
    let ahead = d[0] * c + d[1] * s;
    let left = -d[0] * s + d[1] * c;
    // The actor's footprint seen from the ego's axes.
    let rel = actor.heading - ego.heading;
    let (rs, rc) = rel.sin_cos();
    let along = actor.half_size[0] * rc.abs() + actor.half_size[1] * rs.abs();
    let across = actor.half_size[0] * rs.abs() + actor.half_size[1] * rc.abs();
    if ahead <= 0.0 || left.abs() > ego.half_size[1] + across + 0.3 {
        return None;
    }
    let gap = (ahead - ego.half_size[0] - along).max(0.0);
    let closing = ego.speed - actor.speed * rc;
    (closing > 0.1).then_some(gap / closing)
}

/// Watches a run step by step against the scenario's criteria.
#[derive(Debug, Clone)]
pub struct Monitor {
    criteria: CriteriaSpec,
    penalties: Penalties,
    route_length: f32,
    goal_radius: f32,
    infractions: Vec<Infraction>,
    failed: Vec<String>,
    last: EgoSample,
    off_road_since: Option<f32>,
    max_off_road: f32,
    off_road_counted: bool,
    deviating: bool,
    speeding: bool,
    ttc_low: bool,
    best_progress: f32,
    progress_time: f32,
    min_ttc: Option<f32>,
    max_dev: f32,
    max_speed: f32,
    reached_goal: bool,
}

impl Monitor {
    /// A monitor for a route of `route_length` metres with a goal region of `goal_radius`.
    pub fn new(
        criteria: CriteriaSpec,
        penalties: Penalties,
        route_length: f32,
        goal_radius: f32,
    ) -> Monitor {
        Monitor {
            criteria,
            penalties,
            route_length: route_length.max(1e-3),
            goal_radius,
            infractions: Vec::new(),
            failed: Vec::new(),
            last: EgoSample::default(),
            off_road_since: None,
            max_off_road: 0.0,
            off_road_counted: false,
            deviating: false,
            speeding: false,
            ttc_low: false,
            best_progress: 0.0,
            progress_time: 0.0,
            min_ttc: None,
            max_dev: 0.0,
            max_speed: 0.0,
            reached_goal: false,
        }
    }

    /// Route completion so far, in `[0, 1]`.
    pub fn route_completion(&self) -> f32 {
        (self.best_progress / self.route_length).clamp(0.0, 1.0)
    }

    fn record(&mut self, kind: InfractionKind, ego: &EgoSample, value: f32) {
        self.infractions.push(Infraction {
            kind,
            t: ego.t,
            pos: ego.pos,
            value,
        });
    }

    fn fail(&mut self, name: &str) {
        if !self.failed.iter().any(|f| f == name) {
            self.failed.push(name.to_string());
        }
    }

    /// Take one step's samples; returns why the run must stop now, if it must.
    pub fn observe(&mut self, ego: &EgoSample, actors: &[ActorSample]) -> Option<RunEnd> {
        self.last = *ego;
        let c = self.criteria;
        if ego.progress > self.best_progress + 0.1 {
            self.best_progress = ego.progress;
            self.progress_time = ego.t;
        }
        self.max_dev = self.max_dev.max(ego.lane_deviation);
        let kmh = ego.speed.abs() * 3.6;
        self.max_speed = self.max_speed.max(kmh);
        if ego.goal_distance <= self.goal_radius {
            self.reached_goal = true;
        }

        // Time-to-collision with anything ahead.
        let ttc = actors
            .iter()
            .filter_map(|a| time_to_collision(ego, a))
            .fold(None, |m: Option<f32>, t| Some(m.map_or(t, |m| m.min(t))));
        if let Some(t) = ttc {
            self.min_ttc = Some(self.min_ttc.map_or(t, |m| m.min(t)));
        }
        if let Some(limit) = c.min_ttc_s {
            let low = ttc.is_some_and(|t| t < limit);
            if low && !self.ttc_low {
                self.record(InfractionKind::MinTtc, ego, ttc.unwrap_or_default());
                self.fail("min_ttc");
            }
            self.ttc_low = low;
        }
        if let Some(limit) = c.max_lane_deviation_m {
            let dev = ego.lane_deviation > limit;
            if dev && !self.deviating {
                self.record(InfractionKind::LaneDeviation, ego, ego.lane_deviation);
                self.fail("lane_keeping");
            }
            self.deviating = dev;
        }
        if let Some(limit) = c.speed_limit_kmh {
            let over = kmh > limit;
            if over && !self.speeding {
                self.record(InfractionKind::SpeedLimit, ego, kmh);
                self.fail("speed_limit");
            }
            self.speeding = over;
        }
        if ego.off_road {
            let since = *self.off_road_since.get_or_insert(ego.t);
            let run = ego.t - since;
            self.max_off_road = self.max_off_road.max(run);
            if let Some(limit) = c.max_off_road_s
                && run > limit
                && !self.off_road_counted
            {
                self.off_road_counted = true;
                self.record(InfractionKind::OffRoad, ego, run);
                self.fail("off_road");
            }
        } else {
            self.off_road_since = None;
            self.off_road_counted = false;
        }
        if let Some(contact) = ego.contact {
            let kind = match contact {
                Contact::Vehicle => InfractionKind::CollisionVehicle,
                Contact::Static => InfractionKind::CollisionStatic,
            };
            self.record(kind, ego, ego.speed.abs());
            if c.collision {
                self.fail("collision");
            }
            return Some(RunEnd::Collision);
        }
        if self.route_completion() >= 1.0 {
            return Some(RunEnd::RouteDone);
        }
        if let Some(limit) = c.blocked_s
            && ego.t - self.progress_time > limit
        {
            self.record(InfractionKind::Blocked, ego, ego.t - self.progress_time);
            self.fail("blocked");
            return Some(RunEnd::Blocked);
        }
        None
    }

    /// Close the run: `end` says why it stopped (the runner passes [`RunEnd::Timeout`] when
    /// the time limit ran out, [`RunEnd::EnvEnded`] when the env ended the episode).
    pub fn finish(mut self, end: RunEnd) -> Outcome {
        let last = self.last;
        let completion = self.route_completion();
        if completion >= 1.0 {
            self.reached_goal |= last.goal_distance <= self.goal_radius || completion >= 1.0;
        }
        if end == RunEnd::Timeout {
            self.record(InfractionKind::Timeout, &last, last.t);
            self.fail("timeout");
        }
        if completion + 1e-6 < self.criteria.min_route_completion {
            self.fail("route_completion");
        }
        if self.criteria.reach_goal && !self.reached_goal {
            self.fail("reach_goal");
        }
        let penalty: f32 = self
            .infractions
            .iter()
            .map(|i| i.kind.penalty(&self.penalties))
            .product();
        Outcome {
            verdict: if self.failed.is_empty() {
                Verdict::Pass
            } else {
                Verdict::Fail
            },
            failed: self.failed,
            route_completion: completion,
            driving_score: completion * penalty,
            infractions: self.infractions,
            sim_time: last.t,
            end,
            min_ttc_s: self.min_ttc,
            max_lane_deviation_m: self.max_dev,
            max_speed_kmh: self.max_speed,
            max_off_road_s: self.max_off_road,
            reached_goal: self.reached_goal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ego(t: f32, x: f32, speed: f32) -> EgoSample {
        EgoSample {
            t,
            pos: [x, 0.0],
            speed,
            half_size: [2.0, 0.9],
            progress: x,
            goal_distance: 100.0 - x,
            ..EgoSample::default()
        }
    }

    fn car(x: f32, y: f32, speed: f32) -> ActorSample {
        ActorSample {
            pos: [x, y],
            heading: 0.0,
            speed,
            half_size: [2.0, 0.9],
        }
    }

    #[test]
    fn ttc_is_gap_over_closing_speed_for_a_car_in_the_path() {
        let e = ego(0.0, 0.0, 10.0);
        // Gap 20 - 2 - 2 = 16 m, closing 10 - 2 = 8 m/s.
        let t = time_to_collision(&e, &car(20.0, 0.0, 2.0)).unwrap();
        assert!((t - 2.0).abs() < 1e-5, "{t}");
        assert_eq!(
            time_to_collision(&e, &car(20.0, 4.0, 2.0)),
            None,
            "next lane"
        );
        assert_eq!(time_to_collision(&e, &car(-20.0, 0.0, 0.0)), None, "behind");
        assert_eq!(
            time_to_collision(&e, &car(20.0, 0.0, 12.0)),
            None,
            "opening"
        );
    }

    #[test]
    fn a_clean_run_passes_with_full_score() {
        let mut m = Monitor::new(CriteriaSpec::default(), Penalties::default(), 100.0, 5.0);
        let mut end = None;
        for i in 0..=200 {
            end = m.observe(&ego(i as f32 * 0.1, i as f32 * 0.6, 6.0), &[]);
            if end.is_some() {
                break;
            }
        }
        assert_eq!(end, Some(RunEnd::RouteDone));
        let o = m.finish(RunEnd::RouteDone);
        assert_eq!(o.verdict, Verdict::Pass);
        assert_eq!(o.driving_score, 1.0);
        assert!(o.reached_goal);
    }

    #[test]
    fn collision_fails_and_scores_carla_weights() {
        let mut m = Monitor::new(CriteriaSpec::default(), Penalties::default(), 100.0, 5.0);
        m.observe(&ego(0.0, 0.0, 5.0), &[]);
        let mut hit = ego(1.0, 50.0, 5.0);
        hit.contact = Some(Contact::Vehicle);
        assert_eq!(m.observe(&hit, &[]), Some(RunEnd::Collision));
        let o = m.finish(RunEnd::Collision);
        assert_eq!(o.verdict, Verdict::Fail);
        assert!(o.failed.contains(&"collision".to_string()));
        assert_eq!(o.infractions[0].kind, InfractionKind::CollisionVehicle);
        assert_eq!(o.infractions[0].pos, [50.0, 0.0]);
        assert!(
            (o.driving_score - 0.5 * 0.6).abs() < 1e-6,
            "{}",
            o.driving_score
        );
    }

    #[test]
    fn timeout_scores_its_penalty_and_thresholds_fire_once_per_excursion() {
        let crit = CriteriaSpec {
            speed_limit_kmh: Some(30.0),
            min_route_completion: 0.0,
            ..CriteriaSpec::default()
        };
        let mut m = Monitor::new(crit, Penalties::default(), 100.0, 5.0);
        for (i, v) in [5.0, 9.0, 9.5, 5.0, 9.0].into_iter().enumerate() {
            m.observe(&ego(i as f32, i as f32, v), &[]);
        }
        let o = m.finish(RunEnd::Timeout);
        let kinds: Vec<_> = o.infractions.iter().map(|i| i.kind).collect();
        assert_eq!(
            kinds,
            vec![
                InfractionKind::SpeedLimit,
                InfractionKind::SpeedLimit,
                InfractionKind::Timeout
            ]
        );
        let want = 0.04 * 0.9 * 0.9 * 0.7;
        assert!((o.driving_score - want).abs() < 1e-6, "{}", o.driving_score);
        assert_eq!(o.verdict, Verdict::Fail);
    }

    #[test]
    fn blocked_ends_the_run() {
        let crit = CriteriaSpec {
            blocked_s: Some(2.0),
            ..CriteriaSpec::default()
        };
        let mut m = Monitor::new(crit, Penalties::default(), 100.0, 5.0);
        let mut end = None;
        for i in 0..40 {
            end = m.observe(&ego(i as f32 * 0.1, 10.0, 0.0), &[]);
            if end.is_some() {
                break;
            }
        }
        assert_eq!(end, Some(RunEnd::Blocked));
    }
}
