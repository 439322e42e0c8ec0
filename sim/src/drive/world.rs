//! The physical world: a rapier3d pipeline at a fixed 60 Hz, a flat ground collider, the ego
//! car on rapier's `DynamicRayCastVehicleController`, and obstacles as fixed colliders.
//!
//! The road itself is painted on the flat ground (no road colliders): the tyres ray-cast the
//! ground, and "off road" is decided from the track geometry. NPC cars are kinematic bodies
//! whose poses the traffic model sets every step (see [`super::traffic`]); the ego's chassis
//! collides with them, and its wheels ray-cast fixed colliders only. Everything lives in the `World`
//! value, and bodies are always inserted in the same order, so a world rebuilt from the same
//! track and config steps bit for bit the same.

use super::track::{ObstacleKind, Track, map_to_world, wrap_angle};
use super::vehicle::VehicleConfig;
use crate::error::Result;
use rapier3d::control::{DynamicRayCastVehicleController, WheelTuning};
use rapier3d::prelude::*;

/// Physics steps per second.
pub const PHYSICS_HZ: f32 = 60.0;
/// Physics time step, seconds.
pub const DT: f32 = 1.0 / PHYSICS_HZ;
/// Height of an NPC box's underside above the ground, metres.
const NPC_CLEARANCE: f32 = 0.15;
/// Speeds above this (m/s) mean the simulation blew up.
pub const ABSURD_SPEED: f32 = 150.0;
/// Positions further than this from the origin (m) mean the simulation blew up.
pub const ABSURD_DISTANCE: f32 = 50_000.0;

const TAG_GROUND: u128 = 0;
const TAG_OBSTACLE: u128 = 1;
/// User-data tag of car colliders (the ego and NPCs).
pub const TAG_CAR: u128 = 2;

/// What the ego touched on a step; vehicle and static collisions are scored differently
/// by scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CollisionKind {
    /// No contact.
    #[default]
    None,
    /// An NPC car.
    Vehicle,
    /// A static obstacle (cone, barrier, parked car).
    Static,
}

/// An NPC car's kinematic body, posed by the traffic model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NpcBody {
    /// Pose of the box centre.
    pub pose: BodyPose,
    /// Half extents `(length, height, width) / 2` of the collider and drawn box.
    pub half_extents: [f32; 3],
    /// False once the car has left the map (drawn and collided no more).
    pub active: bool,
    body: RigidBodyHandle,
}

/// Driver inputs for one physics step.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Controls {
    /// Target steering in `[-1, 1]`, positive = left; the wheels move toward it at the
    /// vehicle's steering rate.
    pub steer: f32,
    /// Throttle in `[0, 1]`.
    pub throttle: f32,
    /// Brake in `[0, 1]`; ignored while throttle is applied (rapier's model).
    pub brake: f32,
}

/// Pose of a box-shaped body, for the scene and the observation.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BodyPose {
    /// World position (Y-up), metres.
    pub position: [f32; 3],
    /// World rotation quaternion `[x, y, z, w]`.
    pub rotation: [f32; 4],
}

/// What went wrong in a physics step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blowup {
    /// Rapier quarantined a body or a pose/velocity went NaN or infinite.
    NonFinite,
    /// Speed above [`ABSURD_SPEED`] or position beyond [`ABSURD_DISTANCE`].
    Absurd,
}

/// A placed obstacle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Obstacle {
    pub kind: ObstacleKind,
    pub pose: BodyPose,
    pub half_extents: [f32; 3],
    /// Map position of the centre.
    pub map_position: [f32; 2],
    /// Map heading of the box's long axis, radians.
    pub map_heading: f32,
    /// Road the obstacle was placed on (0 = the route).
    pub road: usize,
    /// Arc length and lateral offset on that road.
    pub s: f32,
    pub offset: f32,
}

/// The physics world of one env.
pub struct World {
    pw: PhysicsWorld,
    vehicle: DynamicRayCastVehicleController,
    chassis: RigidBodyHandle,
    chassis_collider: ColliderHandle,
    obstacles: Vec<Obstacle>,
    npcs: Vec<NpcBody>,
    cfg: VehicleConfig,
    /// Current steering angle of the front wheels, radians.
    steer_angle: f32,
    collision: CollisionKind,
}

fn yaw_quat(heading: f32) -> [f32; 4] {
    // Rotation about world +Y by `heading`: local +X (car forward) maps to the map heading.
    let (s, c) = (0.5 * heading).sin_cos();
    [0.0, s, 0.0, c]
}

impl World {
    /// Build a world on `track` with the ego car at map point `spawn`, map heading `heading`.
    pub fn new(track: &Track, cfg: &VehicleConfig, spawn: [f32; 2], heading: f32) -> Result<World> {
        cfg.validate()?;
        let mut pw = PhysicsWorld::new();
        pw.integration_parameters.dt = DT;

        // Ground: a large flat box whose top is y = 0, big enough for any track.
        let extent = (0..track.road_count())
            .filter_map(|k| track.road(k))
            .flat_map(|r| r.points().iter())
            .fold(0.0f32, |m, p| m.max(p[0].abs()).max(p[1].abs()))
            + 500.0;
        pw.insert_collider(
            ColliderBuilder::cuboid(extent, 1.0, extent)
                .translation(Vector::new(0.0, -1.0, 0.0))
                .friction(1.0)
                .user_data(TAG_GROUND),
            None,
        );

        // Obstacles, road by road in track order.
        let mut obstacles = Vec::new();
        for (k, road) in (0..track.road_count()).filter_map(|k| Some((k, track.road(k)?))) {
            for o in road.obstacles() {
                let (p, h) = road.pose_at(o.s, o.offset);
                let yaw = h + o.heading_deg.to_radians();
                let he = o.kind.half_extents();
                let w = map_to_world(p, he[1]);
                pw.insert_collider(
                    ColliderBuilder::cuboid(he[0], he[1], he[2])
                        .translation(Vector::new(w[0], w[1], w[2]))
                        .rotation(Vector::new(0.0, yaw, 0.0))
                        .user_data(TAG_OBSTACLE),
                    None,
                );
                obstacles.push(Obstacle {
                    kind: o.kind,
                    pose: BodyPose {
                        position: w,
                        rotation: yaw_quat(yaw),
                    },
                    half_extents: he,
                    map_position: p,
                    map_heading: wrap_angle(yaw),
                    road: k,
                    s: o.s,
                    offset: o.offset,
                });
            }
        }

        // The ego chassis: body origin at the centre of mass, the box raised above it so the
        // centre of mass sits low (stable in corners).
        let he = cfg.half_extents;
        let [l, h, w] = [2.0 * he[0], 2.0 * he[1], 2.0 * he[2]];
        let m = cfg.mass;
        let inertia = Vector::new(
            m / 12.0 * (h * h + w * w),
            m / 12.0 * (l * l + w * w),
            m / 12.0 * (l * l + h * h),
        );
        let ride = cfg.wheel_radius + cfg.suspension_rest_length + 0.2;
        let start = map_to_world(spawn, ride);
        let body = RigidBodyBuilder::dynamic()
            .translation(Vector::new(start[0], start[1], start[2]))
            .rotation(Vector::new(0.0, heading, 0.0))
            .additional_mass_properties(MassProperties::new(Vector::ZERO, m, inertia))
            .can_sleep(false);
        let collider = ColliderBuilder::cuboid(he[0], he[1], he[2])
            .translation(Vector::new(0.0, 0.15, 0.0))
            .density(0.0)
            .friction(0.3)
            .user_data(TAG_CAR);
        let (chassis, chassis_collider) = pw.insert(body, collider);

        let tuning = WheelTuning {
            suspension_stiffness: cfg.suspension_stiffness,
            suspension_compression: cfg.suspension_compression,
            suspension_damping: cfg.suspension_damping,
            max_suspension_travel: cfg.max_suspension_travel,
            side_friction_stiffness: cfg.side_friction_stiffness,
            friction_slip: cfg.friction_slip,
            max_suspension_force: 1.5 * m * 9.81,
        };
        let mut vehicle = DynamicRayCastVehicleController::new(chassis);
        vehicle.index_up_axis = 1;
        vehicle.index_forward_axis = 0;
        let (hx, hz) = (0.5 * cfg.wheelbase, 0.5 * cfg.track_width);
        // Front left, front right, rear left, rear right (left is -Z in the car frame).
        for (x, z) in [(hx, -hz), (hx, hz), (-hx, -hz), (-hx, hz)] {
            vehicle.add_wheel(
                Vector::new(x, -0.2, z),
                -Vector::Y,
                Vector::Z,
                cfg.suspension_rest_length,
                cfg.wheel_radius,
                &tuning,
            );
        }
        Ok(World {
            pw,
            vehicle,
            chassis,
            chassis_collider,
            obstacles,
            npcs: Vec::new(),
            cfg: *cfg,
            steer_angle: 0.0,
            collision: CollisionKind::None,
        })
    }

    /// Add an NPC car: a kinematic box at map point `p`, map heading `heading`, returning
    /// its index in [`World::npc_bodies`].
    pub fn add_npc(&mut self, p: [f32; 2], heading: f32, half_extents: [f32; 3]) -> usize {
        let w = map_to_world(p, NPC_CLEARANCE + half_extents[1]);
        let body = self.pw.insert_body(
            RigidBodyBuilder::kinematic_position_based()
                .translation(Vector::new(w[0], w[1], w[2]))
                .rotation(Vector::new(0.0, heading, 0.0)),
        );
        let [hx, hy, hz] = half_extents;
        self.pw.insert_collider(
            ColliderBuilder::cuboid(hx, hy, hz)
                .friction(0.3)
                .user_data(TAG_CAR),
            Some(body),
        );
        self.npcs.push(NpcBody {
            pose: BodyPose {
                position: w,
                rotation: yaw_quat(heading),
            },
            half_extents,
            active: true,
            body,
        });
        self.npcs.len() - 1
    }

    /// Move NPC `i` to map point `p` with map heading `heading` by the end of the next
    /// physics step (rapier gives it the velocity that gets it there, so contacts with the
    /// ego are resolved with the right relative motion).
    pub fn set_npc_pose(&mut self, i: usize, p: [f32; 2], heading: f32) {
        let Some(n) = self.npcs.get_mut(i) else {
            return;
        };
        let w = map_to_world(p, NPC_CLEARANCE + n.half_extents[1]);
        let q = yaw_quat(heading);
        n.pose = BodyPose {
            position: w,
            rotation: q,
        };
        if let Some(b) = self.pw.bodies.get_mut(n.body) {
            b.set_next_kinematic_position(Pose::from_parts(
                Vector::new(w[0], w[1], w[2]),
                Rotation::from_xyzw(q[0], q[1], q[2], q[3]),
            ));
        }
    }

    /// Take NPC `i` off the map (it left the road's end): parked far below the ground,
    /// where nothing touches it.
    pub fn retire_npc(&mut self, i: usize) {
        let Some(n) = self.npcs.get_mut(i) else {
            return;
        };
        n.active = false;
        let mut p = n.pose.position;
        p[1] = -100.0;
        n.pose.position = p;
        if let Some(b) = self.pw.bodies.get_mut(n.body) {
            b.set_next_kinematic_translation(Vector::new(p[0], p[1], p[2]));
        }
    }

    /// The NPC bodies, in spawn order.
    pub fn npc_bodies(&self) -> &[NpcBody] {
        &self.npcs
    }

    /// Advance one 60 Hz physics step with `controls`. Returns an error kind when the
    /// simulation blew up (the caller truncates the episode); never panics.
    pub fn step(&mut self, controls: Controls) -> std::result::Result<(), Blowup> {
        let cfg = &self.cfg;
        let clamp = |v: f32, lo: f32, hi: f32| if v.is_finite() { v.clamp(lo, hi) } else { 0.0 };
        let steer = clamp(controls.steer, -1.0, 1.0);
        let throttle = clamp(controls.throttle, 0.0, 1.0);
        let brake = clamp(controls.brake, 0.0, 1.0);

        let max_steer = cfg.max_steer_deg.to_radians();
        let rate = cfg.steer_rate_deg.to_radians() * DT;
        let target = steer * max_steer;
        self.steer_angle += (target - self.steer_angle).clamp(-rate, rate);

        let speed = self.forward_speed();
        let drive = if speed >= cfg.max_speed {
            0.0
        } else {
            throttle
                * cfg
                    .max_engine_force
                    .min(cfg.max_power / speed.abs().max(1.0))
        };
        for (i, wheel) in self.vehicle.wheels_mut().iter_mut().enumerate() {
            wheel.steering = if i < 2 { self.steer_angle } else { 0.0 };
            wheel.engine_force = 0.25 * drive;
            wheel.brake = 0.25 * brake * cfg.max_brake_force * DT;
        }

        // Drag and rolling resistance, as an impulse against the velocity.
        {
            let body = &mut self.pw.bodies[self.chassis];
            let v = body.linvel();
            let sp = v.length();
            if sp > 1e-3 {
                let f = cfg.drag * sp * sp + cfg.rolling_resistance * cfg.mass * 9.81;
                let dv = (f * DT / cfg.mass).min(sp);
                body.set_linvel(v - v * (dv / sp), true);
            }
        }

        let pw = &mut self.pw;
        let queries = pw.broad_phase.as_query_pipeline_mut(
            pw.narrow_phase.query_dispatcher(),
            &mut pw.bodies,
            &mut pw.colliders,
            QueryFilter::only_fixed(),
        );
        self.vehicle.update_vehicle(DT, queries);
        pw.step();

        if !pw.quarantine().is_empty() {
            return Err(Blowup::NonFinite);
        }
        let body = &pw.bodies[self.chassis];
        let p = body.translation();
        let v = body.linvel();
        let w = body.angvel();
        if !(p.is_finite() && v.is_finite() && w.is_finite() && body.rotation().is_finite()) {
            return Err(Blowup::NonFinite);
        }
        if v.length() > ABSURD_SPEED || p.length() > ABSURD_DISTANCE || w.length() > 200.0 {
            return Err(Blowup::Absurd);
        }

        self.collision = CollisionKind::None;
        for pair in pw.narrow_phase.contact_pairs_with(self.chassis_collider) {
            if !pair.has_any_active_contact() {
                continue;
            }
            let other = if pair.collider1 == self.chassis_collider {
                pair.collider2
            } else {
                pair.collider1
            };
            let kind = match pw.colliders.get(other).map(|c| c.user_data) {
                Some(TAG_CAR) => CollisionKind::Vehicle,
                Some(TAG_OBSTACLE) => CollisionKind::Static,
                _ => continue,
            };
            // A vehicle contact outranks a static one on the same step.
            if self.collision != CollisionKind::Vehicle {
                self.collision = kind;
            }
        }
        Ok(())
    }

    /// The chassis touched an obstacle or another car during the last step.
    pub fn collided(&self) -> bool {
        self.collision != CollisionKind::None
    }

    /// What the chassis touched during the last step.
    pub fn collision(&self) -> CollisionKind {
        self.collision
    }

    /// Speed along the car's forward axis, m/s (negative when rolling backwards).
    pub fn forward_speed(&self) -> f32 {
        let body = &self.pw.bodies[self.chassis];
        let fwd = *body.rotation() * Vector::X;
        body.linvel().dot(fwd)
    }

    /// Set the chassis velocity to `speed` m/s along its heading, so a scenario can start
    /// the ego already moving.
    pub fn set_forward_speed(&mut self, speed: f32) {
        let body = &mut self.pw.bodies[self.chassis];
        let fwd = *body.rotation() * Vector::X;
        body.set_linvel(fwd * speed, true);
    }

    /// Pose of the ego chassis body (its centre of mass).
    pub fn car_pose(&self) -> BodyPose {
        let body = &self.pw.bodies[self.chassis];
        let p = body.translation();
        let q = body.rotation();
        BodyPose {
            position: [p.x, p.y, p.z],
            rotation: [q.x, q.y, q.z, q.w],
        }
    }

    /// Map position and map heading of the ego car.
    pub fn car_map_pose(&self) -> ([f32; 2], f32) {
        let body = &self.pw.bodies[self.chassis];
        let p = body.translation();
        let fwd = *body.rotation() * Vector::X;
        ([p.x, -p.z], wrap_angle((-fwd.z).atan2(fwd.x)))
    }

    /// World up-axis of the car (y > 0 when upright).
    pub fn car_up(&self) -> [f32; 3] {
        let u = *self.pw.bodies[self.chassis].rotation() * Vector::Y;
        [u.x, u.y, u.z]
    }

    /// Current front-wheel steering angle, radians (positive = left).
    pub fn steer_angle(&self) -> f32 {
        self.steer_angle
    }

    /// Placed obstacles.
    pub fn obstacles(&self) -> &[Obstacle] {
        &self.obstacles
    }

    /// Vehicle parameters in use.
    pub fn vehicle_config(&self) -> &VehicleConfig {
        &self.cfg
    }

    /// Wheel centres in world coordinates and whether each touches the ground.
    pub fn wheels(&self) -> [([f32; 3], bool); 4] {
        let mut out = [([0.0; 3], false); 4];
        for (o, w) in out.iter_mut().zip(self.vehicle.wheels()) {
            let c = w.center();
            *o = ([c.x, c.y, c.z], w.raycast_info().is_in_contact);
        }
        out
    }

    /// Hash-friendly dump of the ego body state: position, rotation, linear and angular
    /// velocity (for determinism tests).
    pub fn state_bits(&self) -> [u32; 13] {
        let b = &self.pw.bodies[self.chassis];
        let (p, q, v, w) = (b.translation(), b.rotation(), b.linvel(), b.angvel());
        [
            p.x, p.y, p.z, q.x, q.y, q.z, q.w, v.x, v.y, v.z, w.x, w.y, w.z,
        ]
        .map(f32::to_bits)
    }

    /// Put the chassis into an impossible state (tests of the blow-up path).
    #[doc(hidden)]
    pub fn poison_for_test(&mut self, linvel: [f32; 3]) {
        let b = &mut self.pw.bodies[self.chassis];
        b.set_linvel(Vector::new(linvel[0], linvel[1], linvel[2]), true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drive::track::{Segment, TrackDef};

    fn straight_world() -> (Track, World) {
        let def = TrackDef {
            name: "t".into(),
            closed: false,
            lanes: 2,
            lane_width: 4.0,
            start: [0.0; 3],
            points: vec![],
            segments: vec![Segment::Straight { length: 400.0 }],
            ..TrackDef::default()
        };
        let track = Track::from_def(&def).unwrap();
        let world = World::new(&track, &VehicleConfig::default(), [10.0, 0.0], 0.0).unwrap();
        (track, world)
    }

    #[test]
    fn car_settles_accelerates_brakes_and_turns_left() {
        let (_, mut w) = straight_world();
        for _ in 0..60 {
            w.step(Controls::default()).unwrap();
        }
        assert!(
            w.wheels().iter().all(|(_, c)| *c),
            "all wheels on the ground after settling"
        );
        let y = w.car_pose().position[1];
        assert!(y > 0.4 && y < 1.2, "ride height {y}");
        for _ in 0..180 {
            w.step(Controls {
                throttle: 1.0,
                ..Default::default()
            })
            .unwrap();
        }
        let v = w.forward_speed();
        assert!(v > 8.0 && v < 20.0, "3 s of full throttle gives {v} m/s");
        let (p, h) = w.car_map_pose();
        assert!(
            p[0] > 20.0 && p[1].abs() < 0.5 && h.abs() < 0.05,
            "straight ahead: {p:?} {h}"
        );
        for _ in 0..60 {
            w.step(Controls {
                steer: 1.0,
                throttle: 0.3,
                ..Default::default()
            })
            .unwrap();
        }
        let (p2, h2) = w.car_map_pose();
        assert!(h2 > 0.3, "positive steer turns left (heading up): {h2}");
        assert!(p2[1] > p[1], "and moves to +y: {p2:?}");
        assert!(w.car_up()[1] > 0.9, "still upright");
        for _ in 0..240 {
            w.step(Controls {
                brake: 1.0,
                ..Default::default()
            })
            .unwrap();
        }
        assert!(
            w.forward_speed().abs() < 0.3,
            "brakes stop the car: {}",
            w.forward_speed()
        );
    }

    #[test]
    fn absurd_speed_is_reported_not_panicked() {
        let (_, mut w) = straight_world();
        w.poison_for_test([1.0e4, 0.0, 0.0]);
        assert_eq!(w.step(Controls::default()), Err(Blowup::Absurd));
        let (_, mut w) = straight_world();
        w.poison_for_test([f32::NAN, 0.0, 0.0]);
        assert!(w.step(Controls::default()).is_err());
    }

    #[test]
    fn hitting_an_obstacle_is_a_collision() {
        let def = TrackDef {
            name: "t".into(),
            closed: false,
            lanes: 2,
            lane_width: 4.0,
            start: [0.0; 3],
            points: vec![],
            segments: vec![Segment::Straight { length: 200.0 }],
            obstacles: vec![crate::drive::track::ObstacleDef {
                kind: ObstacleKind::Barrier,
                s: 40.0,
                offset: 0.0,
                heading_deg: 90.0,
            }],
            ..TrackDef::default()
        };
        let track = Track::from_def(&def).unwrap();
        let mut w = World::new(&track, &VehicleConfig::default(), [10.0, 0.0], 0.0).unwrap();
        let mut hit = false;
        for _ in 0..600 {
            w.step(Controls {
                throttle: 0.6,
                ..Default::default()
            })
            .unwrap();
            hit |= w.collided();
            if w.collided() {
                assert_eq!(w.collision(), CollisionKind::Static, "a barrier is static");
            }
        }
        assert!(hit);
        assert!(w.car_map_pose().0[0] < 40.0, "the barrier stops the car");
    }
}
