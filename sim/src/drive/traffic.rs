//! NPC traffic: cars that follow lanes with the Intelligent Driver Model (IDM, Treiber,
//! Hennecke and Helbing 2000) and obey scripted commands (lane change, brake to stop, stop
//! now, set speed).
//!
//! NPCs are *kinematic*: each one is a point moving along a road in lane coordinates (arc
//! length `s`, lateral offset `d` from the centreline), and its box is a kinematic
//! position-based rapier body placed from `(s, d)` every physics step. Why not the ego's
//! vehicle physics:
//! * cheap: no suspension, tyre or solver work per NPC (4 NPCs cost a few microseconds);
//! * exactly scriptable: a brake to stop at 6 m/s² stops where the formula says, a lane
//!   change ends on the target lane at the given time — what scenario criteria rely on;
//! * deterministic: plain f32 arithmetic in spawn order, nothing depends on thread count;
//! * the ego's chassis still collides with them (rapier resolves dynamic-kinematic contacts
//!   with the NPC's velocity), and collisions are reported as [`CollisionKind::Vehicle`].
//!
//! Car following: each NPC's leader is the nearest vehicle ahead on the same road (in its
//! direction of travel) whose lateral position overlaps the NPC's path: the ego (road 0
//! only), other NPCs, and static obstacles on the road. Overlap means the lateral distance
//! is below the two half widths plus a margin (0.3 m between NPCs, 1 m when the ego is one
//! of the two, see [`EGO_LATERAL_MARGIN`]). During a lane change the path spans both lanes. Vehicles on different roads do not see each other (scenarios script the
//! crossing traffic of an intersection). NPCs on an open road are retired when they pass its
//! end; on a circuit they go round.
//!
//! [`CollisionKind::Vehicle`]: super::world::CollisionKind::Vehicle

use super::track::{Track, wrap_angle};
use super::world::World;
use crate::error::{Result, SimError};
use serde::{Deserialize, Serialize};

/// IDM car-following parameters. Defaults: urban driving from Treiber & Kesting's
/// *Traffic Flow Dynamics* (table 11.2), with a 12 m/s (43 km/h) desired speed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdmParams {
    /// Desired speed `v0` on a free road, m/s (12).
    pub desired_speed: f32,
    /// Desired time headway `T` to the leader, s (1.5).
    pub time_headway: f32,
    /// Minimum bumper-to-bumper gap `s0` when stopped, m (2.0).
    pub min_gap: f32,
    /// Maximum acceleration `a`, m/s² (1.5).
    pub max_accel: f32,
    /// Comfortable deceleration `b`, m/s² (2.0).
    pub comfort_decel: f32,
    /// Acceleration exponent `delta` (4).
    pub delta: f32,
    /// Hardest braking the model may ask for, m/s² (9: about what tyres give).
    pub max_decel: f32,
}

impl Default for IdmParams {
    fn default() -> Self {
        Self {
            desired_speed: 12.0,
            time_headway: 1.5,
            min_gap: 2.0,
            max_accel: 1.5,
            comfort_decel: 2.0,
            delta: 4.0,
            max_decel: 9.0,
        }
    }
}

impl IdmParams {
    /// Refuse impossible values with a message naming the field.
    pub fn validate(&self) -> Result<()> {
        let fields = [
            ("desired_speed", self.desired_speed, 0.0, 60.0),
            ("time_headway", self.time_headway, 0.0, 10.0),
            ("min_gap", self.min_gap, 0.0, 50.0),
            ("max_accel", self.max_accel, 0.0, 20.0),
            ("comfort_decel", self.comfort_decel, 0.0, 20.0),
            ("delta", self.delta, 0.0, 20.0),
            ("max_decel", self.max_decel, 0.0, 30.0),
        ];
        for (name, v, lo, hi) in fields {
            // `time_headway` and `min_gap` may be 0; everything else must be positive.
            let zero_ok = matches!(name, "time_headway" | "min_gap");
            let ok = v.is_finite() && v <= hi && if zero_ok { v >= lo } else { v > lo };
            if !ok {
                let open = if zero_ok { "[" } else { "(" };
                return Err(SimError::Invalid(format!(
                    "IDM `{name}` must be in {open}{lo}, {hi}], got {v}"
                )));
            }
        }
        Ok(())
    }

    /// IDM acceleration at speed `v` behind a leader `gap` metres ahead (bumper to bumper)
    /// approached at `closing` m/s (`v - v_leader`); `None` for a free road. Clamped to
    /// `-max_decel`.
    pub fn accel(&self, v: f32, lead: Option<(f32, f32)>) -> f32 {
        let free = 1.0 - (v.max(0.0) / self.desired_speed).powf(self.delta);
        let interaction = match lead {
            None => 0.0,
            Some((gap, closing)) => {
                let s_star = self.min_gap
                    + (v * self.time_headway
                        + v * closing / (2.0 * (self.max_accel * self.comfort_decel).sqrt()))
                    .max(0.0);
                let gap = gap.max(0.05);
                (s_star / gap).powi(2)
            }
        };
        (self.max_accel * (free - interaction)).max(-self.max_decel)
    }
}

/// Where and how to spawn an NPC.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NpcSpawn {
    /// Road of the map: 0 is the route, `k + 1` cross road `k` (default 0).
    #[serde(default)]
    pub road: usize,
    /// Lane on that road (0 = rightmost); when set, `offset` is ignored. Lanes counted
    /// as oncoming drive against the road's direction.
    #[serde(default)]
    pub lane: Option<u32>,
    /// Lateral offset from the centreline, metres, positive left (used without `lane`).
    #[serde(default)]
    pub offset: f32,
    /// Arc length along the road, metres.
    pub s: f32,
    /// Initial speed, m/s (>= 0).
    #[serde(default)]
    pub speed: f32,
    /// Car-following parameters (the desired speed among them).
    #[serde(default)]
    pub idm: IdmParams,
}

/// A command for a running NPC.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum NpcCommand {
    /// Move to the centre of `lane` over `duration` seconds (smooth quintic profile).
    ChangeLane { lane: u32, duration: f32 },
    /// Move to lateral `offset` over `duration` seconds.
    ChangeOffset { offset: f32, duration: f32 },
    /// Brake at `decel` m/s² (or harder if a leader demands it) until stopped; then stay.
    BrakeToStop { decel: f32 },
    /// Stop dead now and stay (a stalled car).
    StopNow,
    /// Drive again with the IDM at this desired speed (ends a stop); 0 brakes to a stop at
    /// the comfortable deceleration.
    SetSpeed { speed: f32 },
}

/// Longitudinal mode of an NPC.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Longitudinal {
    /// IDM car following at the desired speed.
    Follow,
    /// Braking to a stop at this deceleration (m/s²).
    Braking { decel: f32 },
    /// Standing still until told to drive.
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct LaneChange {
    from: f32,
    to: f32,
    elapsed: f32,
    duration: f32,
}

/// Public state of one NPC.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NpcState {
    /// Index in spawn order.
    pub id: usize,
    /// Road it drives on.
    pub road: usize,
    /// Arc length on that road, metres.
    pub s: f32,
    /// Lateral offset from the centreline, metres, positive left of the road direction.
    pub d: f32,
    /// Speed along its direction of travel, m/s (>= 0).
    pub speed: f32,
    /// Acceleration applied on the last step, m/s².
    pub accel: f32,
    /// `1.0` along increasing `s`, `-1.0` against.
    pub direction: f32,
    /// Map position of the box centre.
    pub position: [f32; 2],
    /// Map heading, radians.
    pub heading: f32,
    /// Half extents `(length, height, width) / 2`, metres.
    pub half_extents: [f32; 3],
    /// Current longitudinal mode.
    pub mode: Longitudinal,
    /// A lane change is in progress.
    pub changing_lane: bool,
    /// Still on the map (false once it drove off the end of an open road).
    pub active: bool,
}

#[derive(Debug, Clone, Copy)]
struct Npc {
    state: NpcState,
    idm: IdmParams,
    lane_change: Option<LaneChange>,
    /// Lateral speed of the last step, m/s (for the heading).
    d_rate: f32,
}

/// The ego as the traffic model sees it: lane coordinates on road 0.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EgoLane {
    pub s: f32,
    pub d: f32,
    /// Speed along the road direction, m/s.
    pub speed: f32,
    /// Half length and half width of its box, metres.
    pub half_length: f32,
    pub half_width: f32,
}

/// Half extents of an NPC car (same footprint as the ego, taller with its cabin).
pub const NPC_HALF_EXTENTS: [f32; 3] = [2.1, 0.65, 0.9];
/// Extra lateral clearance, metres, for two NPCs to count as in each other's path (they
/// hold their lateral offset exactly).
const LATERAL_MARGIN: f32 = 0.3;
/// The same between the ego and anything else: the ego weaves (a discrete-action driver by
/// up to a metre) and yaws, so its path is taken a metre wider on each side. Still clear of
/// the centre of a 3.5 m neighbouring lane (0.9 + 0.9 + 1.0 = 2.8 m).
pub const EGO_LATERAL_MARGIN: f32 = 1.0;

/// All NPCs of one episode.
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    npcs: Vec<Npc>,
    /// Accelerations of the current step (reused buffer).
    accel: Vec<f32>,
}

/// The leader of a vehicle at `(s, d)` on `road` driving in `dir` with lateral path
/// `[d_lo, d_hi]` (centre line of its box), half length `hl` and half width `hw`: nearest
/// bumper-to-bumper gap and the leader's speed along `dir`. `skip` excludes itself (an
/// NPC); `None` means the searcher is the ego, whose path is taken wider.
#[allow(clippy::too_many_arguments)]
fn find_leader(
    track: &Track,
    world: &World,
    npcs: &[Npc],
    ego: Option<&EgoLane>,
    road: usize,
    s: f32,
    dir: f32,
    d_lo: f32,
    d_hi: f32,
    hl: f32,
    hw: f32,
    skip: Option<usize>,
) -> Option<(f32, f32)> {
    let r = track.road(road)?;
    let mut best: Option<(f32, f32)> = None;
    let own_margin = if skip.is_none() {
        EGO_LATERAL_MARGIN
    } else {
        LATERAL_MARGIN
    };
    let mut consider = |s2: f32, d2: f32, v_along: f32, hl2: f32, hw2: f32, margin: f32| {
        let reach = hw + hw2 + margin.max(own_margin);
        if d2 < d_lo - reach || d2 > d_hi + reach {
            return;
        }
        let ahead = dir * r.delta_s(s, s2);
        if ahead <= 0.0 {
            return;
        }
        let gap = ahead - hl - hl2;
        if best.is_none_or(|(g, _)| gap < g) {
            best = Some((gap, v_along));
        }
    };
    for (j, o) in npcs.iter().enumerate() {
        let st = &o.state;
        if Some(j) == skip || !st.active || st.road != road {
            continue;
        }
        consider(
            st.s,
            st.d,
            st.speed * st.direction * dir,
            st.half_extents[0],
            st.half_extents[2],
            LATERAL_MARGIN,
        );
    }
    if road == 0
        && let Some(e) = ego
    {
        consider(
            e.s,
            e.d,
            e.speed * dir,
            e.half_length,
            e.half_width,
            EGO_LATERAL_MARGIN,
        );
    }
    for o in world.obstacles().iter().filter(|o| o.road == road) {
        let rel = wrap_angle(o.map_heading - r.pose_at(o.s, o.offset).1);
        let (c, sn) = (rel.cos().abs(), rel.sin().abs());
        let he = o.half_extents;
        // Footprint of the rotated box along and across the road.
        let (along, across) = (he[0] * c + he[2] * sn, he[0] * sn + he[2] * c);
        consider(o.s, o.offset, 0.0, along, across, LATERAL_MARGIN);
    }
    best
}

/// Quintic smooth step: 0 -> 1 with zero speed and acceleration at both ends.
fn smooth(t: f32) -> (f32, f32) {
    let t = t.clamp(0.0, 1.0);
    let p = t * t * t * (10.0 + t * (-15.0 + 6.0 * t));
    let dp = 30.0 * t * t * (1.0 - t) * (1.0 - t);
    (p, dp)
}

impl Traffic {
    /// No NPCs.
    pub fn new() -> Traffic {
        Traffic::default()
    }

    /// Number of NPCs spawned (retired ones included).
    pub fn len(&self) -> usize {
        self.npcs.len()
    }
    /// True with no NPCs.
    pub fn is_empty(&self) -> bool {
        self.npcs.is_empty()
    }

    /// State of NPC `id`.
    pub fn state(&self, id: usize) -> Option<NpcState> {
        self.npcs.get(id).map(|n| n.state)
    }

    /// States of all NPCs, in spawn order.
    pub fn states(&self) -> impl Iterator<Item = &NpcState> {
        self.npcs.iter().map(|n| &n.state)
    }

    /// Spawn an NPC on `track` (validated: road, lane, on the paved road, finite values, not
    /// overlapping the ego or another NPC) and add its body to `world`. Returns its id.
    pub fn spawn(
        &mut self,
        track: &Track,
        world: &mut World,
        ego: Option<&EgoLane>,
        spec: &NpcSpawn,
    ) -> Result<usize> {
        let bad = |m: String| Err(SimError::Invalid(format!("NPC spawn: {m}")));
        let Some(road) = track.road(spec.road) else {
            return bad(format!(
                "road {} does not exist (the map has roads 0..{})",
                spec.road,
                track.road_count()
            ));
        };
        spec.idm
            .validate()
            .map_err(|e| SimError::Invalid(format!("NPC spawn: {e}")))?;
        let d = match spec.lane {
            Some(l) if l >= road.lanes() => {
                return bad(format!(
                    "lane {l} does not exist (road {} has lanes 0..{})",
                    spec.road,
                    road.lanes()
                ));
            }
            Some(l) => road.lane_offset(l),
            None => spec.offset,
        };
        if !d.is_finite() || d.abs() > road.half_width() {
            return bad(format!(
                "offset {d} is off the road (half width {})",
                road.half_width()
            ));
        }
        if !(spec.s.is_finite() && (0.0..=road.length()).contains(&spec.s)) {
            return bad(format!("s = {} is outside 0..={}", spec.s, road.length()));
        }
        if !(spec.speed.is_finite() && (0.0..=60.0).contains(&spec.speed)) {
            return bad(format!(
                "speed must be within 0..=60 m/s, got {}",
                spec.speed
            ));
        }
        let he = NPC_HALF_EXTENTS;
        let overlaps = |s2: f32, d2: f32, hl2: f32, hw2: f32| {
            road.delta_s(spec.s, s2).abs() < he[0] + hl2 + 1.0 && (d2 - d).abs() < he[2] + hw2 + 0.2
        };
        if spec.road == 0
            && let Some(e) = ego
            && overlaps(e.s, e.d, e.half_length, e.half_width)
        {
            return bad(format!(
                "at s = {}, d = {d} it overlaps the ego car",
                spec.s
            ));
        }
        if let Some(o) = self.npcs.iter().find(|o| {
            o.state.active
                && o.state.road == spec.road
                && overlaps(
                    o.state.s,
                    o.state.d,
                    o.state.half_extents[0],
                    o.state.half_extents[2],
                )
        }) {
            return bad(format!(
                "at s = {}, d = {d} it overlaps NPC {}",
                spec.s, o.state.id
            ));
        }
        let direction = road.direction_at(d);
        let (p, h) = road.pose_at(spec.s, d);
        let heading = wrap_angle(if direction > 0.0 {
            h
        } else {
            h + std::f32::consts::PI
        });
        let body = world.add_npc(p, heading, he);
        let id = self.npcs.len();
        debug_assert_eq!(body, id, "NPC bodies are added only by the traffic model");
        self.npcs.push(Npc {
            state: NpcState {
                id,
                road: spec.road,
                s: spec.s,
                d,
                speed: spec.speed,
                accel: 0.0,
                direction,
                position: p,
                heading,
                half_extents: he,
                mode: Longitudinal::Follow,
                changing_lane: false,
                active: true,
            },
            idm: spec.idm,
            lane_change: None,
            d_rate: 0.0,
        });
        self.accel.push(0.0);
        Ok(id)
    }

    /// Give NPC `id` a command. Refused (with the reason) for an unknown id, a lane that
    /// does not exist, an offset off the road or a non-positive/NaN duration or deceleration.
    pub fn command(&mut self, track: &Track, id: usize, cmd: NpcCommand) -> Result<()> {
        let bad = |m: String| Err(SimError::Invalid(format!("NPC {id}: {m}")));
        let Some(npc) = self.npcs.get_mut(id) else {
            return bad(format!("no such NPC (spawned: {})", self.npcs.len()));
        };
        let road = track
            .road(npc.state.road)
            .expect("spawned on an existing road");
        let pos = |v: f32| v.is_finite() && v > 0.0;
        let mut lateral = |to: f32, duration: f32| -> Result<()> {
            if !pos(duration) || duration > 60.0 {
                return bad(format!(
                    "lane change duration must be within (0, 60] s, got {duration}"
                ));
            }
            if !to.is_finite() || to.abs() > road.half_width() {
                return bad(format!(
                    "target offset {to} is off the road (half width {})",
                    road.half_width()
                ));
            }
            npc.lane_change = Some(LaneChange {
                from: npc.state.d,
                to,
                elapsed: 0.0,
                duration,
            });
            npc.state.changing_lane = true;
            Ok(())
        };
        match cmd {
            NpcCommand::ChangeLane { lane, duration } => {
                if lane >= road.lanes() {
                    return bad(format!(
                        "lane {lane} does not exist (lanes 0..{})",
                        road.lanes()
                    ));
                }
                lateral(road.lane_offset(lane), duration)?;
            }
            NpcCommand::ChangeOffset { offset, duration } => lateral(offset, duration)?,
            NpcCommand::BrakeToStop { decel } => {
                if !pos(decel) || decel > 30.0 {
                    return bad(format!("decel must be within (0, 30] m/s², got {decel}"));
                }
                npc.state.mode = Longitudinal::Braking { decel };
            }
            NpcCommand::StopNow => {
                npc.state.mode = Longitudinal::Stopped;
                npc.state.speed = 0.0;
            }
            NpcCommand::SetSpeed { speed } => {
                if !(speed.is_finite() && (0.0..=60.0).contains(&speed)) {
                    return bad(format!("speed must be within 0..=60 m/s, got {speed}"));
                }
                if speed == 0.0 {
                    npc.state.mode = Longitudinal::Braking {
                        decel: npc.idm.comfort_decel,
                    };
                } else {
                    npc.idm.desired_speed = speed;
                    npc.state.mode = Longitudinal::Follow;
                }
            }
        }
        Ok(())
    }

    /// Leader of the ego: the nearest NPC or obstacle ahead on road 0 overlapping its path,
    /// as `(bumper-to-bumper gap, its speed along the road)`. The path spans the ego's
    /// lateral offset and `lane_d`, the offset it steers back to (its reference lane), so a
    /// car that weaves still sees what is ahead in its lane.
    pub fn ego_leader(
        &self,
        track: &Track,
        world: &World,
        ego: &EgoLane,
        lane_d: f32,
    ) -> Option<(f32, f32)> {
        find_leader(
            track,
            world,
            &self.npcs,
            None,
            0,
            ego.s,
            1.0,
            ego.d.min(lane_d),
            ego.d.max(lane_d),
            ego.half_length,
            ego.half_width,
            None,
        )
    }

    /// Advance every NPC by `dt` seconds and pose its body for the coming physics step.
    /// Accelerations are computed from the states at the start of the step for all NPCs
    /// first, so the result does not depend on their order.
    pub fn step(&mut self, track: &Track, world: &mut World, ego: &EgoLane, dt: f32) {
        for i in 0..self.npcs.len() {
            let n = &self.npcs[i];
            let st = &n.state;
            if !st.active {
                self.accel[i] = 0.0;
                continue;
            }
            let (d_lo, d_hi) = match n.lane_change {
                Some(lc) => (lc.from.min(lc.to).min(st.d), lc.from.max(lc.to).max(st.d)),
                None => (st.d, st.d),
            };
            let lead = find_leader(
                track,
                world,
                &self.npcs,
                Some(ego),
                st.road,
                st.s,
                st.direction,
                d_lo,
                d_hi,
                st.half_extents[0],
                st.half_extents[2],
                Some(i),
            )
            .map(|(gap, v_lead)| (gap, st.speed - v_lead));
            let idm = n.idm.accel(st.speed, lead);
            self.accel[i] = match st.mode {
                Longitudinal::Follow => idm,
                Longitudinal::Braking { decel } => (-decel).min(idm),
                Longitudinal::Stopped => 0.0,
            };
        }
        for (i, n) in self.npcs.iter_mut().enumerate() {
            let st = &mut n.state;
            if !st.active {
                continue;
            }
            let road = track.road(st.road).expect("spawned on an existing road");
            let a = self.accel[i];
            // Ballistic update that stops at zero speed instead of reversing.
            let v0 = st.speed;
            let v1 = v0 + a * dt;
            let ds = if v1 < 0.0 {
                // Stops within the step: distance to standstill.
                if a < 0.0 { -v0 * v0 / (2.0 * a) } else { 0.0 }
            } else {
                0.5 * (v0 + v1) * dt
            };
            st.speed = v1.max(0.0);
            st.accel = a;
            if let Longitudinal::Braking { .. } = st.mode
                && st.speed == 0.0
            {
                st.mode = Longitudinal::Stopped;
            }
            if st.mode == Longitudinal::Stopped {
                st.speed = 0.0;
            }
            let s_new = st.s + st.direction * ds;
            if !road.closed() && !(0.0..=road.length()).contains(&s_new) {
                st.active = false;
                st.speed = 0.0;
                world.retire_npc(i);
                continue;
            }
            st.s = road.wrap_s(s_new);
            n.d_rate = 0.0;
            if let Some(lc) = &mut n.lane_change {
                lc.elapsed += dt;
                let (p, dp) = smooth(lc.elapsed / lc.duration);
                st.d = lc.from + (lc.to - lc.from) * p;
                n.d_rate = (lc.to - lc.from) * dp / lc.duration;
                if lc.elapsed >= lc.duration - 1e-4 {
                    st.d = lc.to;
                    n.d_rate = 0.0;
                    n.lane_change = None;
                    st.changing_lane = false;
                }
            }
            let (p, h) = road.pose_at(st.s, st.d);
            // Yaw follows the velocity: along the road plus the lateral motion.
            let along = st.direction * st.speed.max(1.0);
            st.heading = wrap_angle(h + n.d_rate.atan2(along));
            st.position = p;
            world.set_npc_pose(i, p, st.heading);
        }
    }

    /// Hash-friendly dump of every NPC's `s`, `d`, speed (determinism tests).
    pub fn state_bits(&self) -> impl Iterator<Item = u32> + '_ {
        self.npcs
            .iter()
            .flat_map(|n| [n.state.s, n.state.d, n.state.speed].map(f32::to_bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idm_free_road_accelerates_to_the_desired_speed_and_brakes_for_a_close_leader() {
        let p = IdmParams::default();
        assert!((p.accel(0.0, None) - p.max_accel).abs() < 1e-6);
        assert!(p.accel(p.desired_speed, None).abs() < 1e-6);
        assert!(p.accel(p.desired_speed + 2.0, None) < 0.0);
        // Equilibrium gap at speed v: s0 + v T over sqrt(1 - (v/v0)^4).
        let v = 8.0f32;
        let s_e = (p.min_gap + v * p.time_headway) / (1.0 - (v / p.desired_speed).powi(4)).sqrt();
        assert!(p.accel(v, Some((s_e, 0.0))).abs() < 1e-3);
        assert!(p.accel(v, Some((0.5 * s_e, 0.0))) < -p.comfort_decel);
        assert_eq!(p.accel(10.0, Some((0.0, 10.0))), -p.max_decel);
    }

    #[test]
    fn bad_idm_parameters_name_the_field() {
        let p = IdmParams {
            comfort_decel: f32::NAN,
            ..Default::default()
        };
        assert!(
            p.validate()
                .unwrap_err()
                .to_string()
                .contains("comfort_decel")
        );
        let p = IdmParams {
            desired_speed: -1.0,
            ..Default::default()
        };
        assert!(
            p.validate()
                .unwrap_err()
                .to_string()
                .contains("desired_speed")
        );
        IdmParams::default().validate().unwrap();
    }

    #[test]
    fn smooth_step_ends_at_rest() {
        assert_eq!(smooth(0.0), (0.0, 0.0));
        assert_eq!(smooth(1.0), (1.0, 0.0));
        assert!((smooth(0.5).0 - 0.5).abs() < 1e-6);
    }
}
