//! The driving simulator: a rapier3d world stepped at 60 Hz with the ego car on rapier's
//! ray-cast vehicle controller, procedural circuits and hand-built road maps, and a CPU
//! camera that draws the same scene description the viewer will use.

pub mod driver;
pub mod env;
pub mod raster;
pub mod scene;
pub mod track;
pub mod traffic;
pub mod vehicle;
pub mod world;

pub use driver::{DriverParams, ScriptedDriver};
pub use env::{DRIVE_ID, DriveEnv, DriveOptions, MAP_ID};
pub use traffic::{IdmParams, NpcCommand, NpcSpawn, NpcState, Traffic};
pub use world::CollisionKind;

/// Driving state reported in [`crate::Info::drive`] on every reset and step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriveInfo {
    /// Forward speed of the ego car, m/s (negative when reversing).
    pub speed: f32,
    /// Arc length driven along the centreline this episode, metres (net of reversing).
    pub progress: f32,
    /// Fraction of the route (lap or map length) completed, `progress / length`.
    pub route_fraction: f32,
    /// Signed offset from the reference line (the start lane), metres, positive to the left.
    pub lateral_offset: f32,
    /// Car heading minus road heading, radians, in `(-pi, pi]`.
    pub heading_error: f32,
    /// The car's centre is beyond the paved edge.
    pub off_road: bool,
    /// Seconds spent off the road in a row.
    pub off_road_time: f32,
    /// The chassis touched an obstacle or another car on this step.
    pub collision: bool,
    /// What it touched: an NPC car or a static obstacle (scenarios score them differently).
    pub collision_kind: CollisionKind,
    /// Bumper-to-bumper gap to the nearest NPC or obstacle ahead in the ego's path on the
    /// route (the band between its lateral position and its reference lane, widened by the
    /// two half widths and 1 m), metres (`f32::INFINITY` when there is none).
    pub lead_gap: f32,
    /// Speed of that leader along the road, m/s (0 when there is none).
    pub lead_speed: f32,
}

impl Default for DriveInfo {
    fn default() -> Self {
        Self {
            speed: 0.0,
            progress: 0.0,
            route_fraction: 0.0,
            lateral_offset: 0.0,
            heading_error: 0.0,
            off_road: false,
            off_road_time: 0.0,
            collision: false,
            collision_kind: CollisionKind::None,
            lead_gap: f32::INFINITY,
            lead_speed: 0.0,
        }
    }
}
