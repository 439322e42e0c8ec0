//! The driving simulator: a rapier3d world stepped at 60 Hz with the ego car on rapier's
//! ray-cast vehicle controller, procedural circuits and hand-built road maps, and a CPU
//! camera that draws the same scene description the viewer will use.

pub mod driver;
pub mod env;
pub mod raster;
pub mod scene;
pub mod track;
pub mod vehicle;
pub mod world;

pub use driver::{DriverParams, ScriptedDriver};
pub use env::{DRIVE_ID, DriveEnv, DriveOptions, MAP_ID};

/// Driving state reported in [`crate::Info::drive`] on every reset and step.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
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
}
