//! Cameras on the driving scene: chase (default), hood and top-down use the sim's own camera
//! placement (`sim::drive::raster::Camera::follow`, so the chase view is the agent's view,
//! wider), and a free orbit around the car driven by mouse drag, wheel and keys.

use super::convert::{camera_transform, vec3, yaw_pitch};
use super::host::Host;
use super::scene::Look;
use super::{CameraMsaa, Timings, ViewerSet};
use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll};
use bevy::prelude::*;
use bevy::render::view::Msaa;
use sim::drive::raster::{Camera as SimCamera, View};
use std::time::Instant;

/// Which camera the window shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CamMode {
    #[default]
    Chase,
    Hood,
    TopDown,
    Orbit,
}

impl CamMode {
    /// Short name for the HUD.
    pub fn name(self) -> &'static str {
        match self {
            CamMode::Chase => "chase",
            CamMode::Hood => "hood",
            CamMode::TopDown => "top-down",
            CamMode::Orbit => "orbit",
        }
    }

    fn next(self) -> CamMode {
        match self {
            CamMode::Chase => CamMode::Hood,
            CamMode::Hood => CamMode::TopDown,
            CamMode::TopDown => CamMode::Orbit,
            CamMode::Orbit => CamMode::Chase,
        }
    }
}

/// The camera state: mode and the free orbit's angles around the car.
#[derive(Resource, Debug, Clone, Copy)]
pub struct CameraState {
    pub mode: CamMode,
    /// Orbit yaw relative to the car heading, pitch (negative looks down), distance.
    pub orbit: (f32, f32, f32),
}

impl Default for CameraState {
    fn default() -> Self {
        Self {
            mode: CamMode::Chase,
            orbit: (0.6, -0.35, 14.0),
        }
    }
}

/// Marks the 3D camera.
#[derive(Component)]
struct MainCamera;

/// Cameras and their keys.
pub struct CameraPlugin;

impl Plugin for CameraPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<CameraState>()
            .add_systems(Startup, spawn_camera.after(super::scene::choose_look))
            .add_systems(
                Update,
                (
                    switch_camera.in_set(ViewerSet::Input),
                    orbit_input.in_set(ViewerSet::Input),
                    follow_car.in_set(ViewerSet::Draw),
                ),
            );
    }
}

fn spawn_camera(
    mut commands: Commands,
    host: NonSend<Host>,
    msaa: Res<CameraMsaa>,
    look: Option<Res<Look>>,
) {
    if host.env.scene().is_none() {
        return;
    }
    commands.spawn((
        Camera3d::default(),
        Projection::Perspective(PerspectiveProjection {
            fov: 60f32.to_radians(),
            near: 0.2,
            far: 600.0,
            ..default()
        }),
        Transform::from_xyz(0.0, 10.0, 20.0).looking_at(Vec3::ZERO, Vec3::Y),
        if look.is_some_and(|l| *l == Look::Fast) {
            Msaa::Off
        } else {
            msaa.0
        },
        MainCamera,
    ));
}

fn switch_camera(keys: Res<ButtonInput<KeyCode>>, mut cam: ResMut<CameraState>) {
    if keys.just_pressed(KeyCode::KeyC) {
        cam.mode = cam.mode.next();
    }
    for (k, m) in [
        (KeyCode::Digit1, CamMode::Chase),
        (KeyCode::Digit2, CamMode::Hood),
        (KeyCode::Digit3, CamMode::TopDown),
        (KeyCode::Digit4, CamMode::Orbit),
    ] {
        if keys.just_pressed(k) {
            cam.mode = m;
        }
    }
}

fn orbit_input(
    keys: Res<ButtonInput<KeyCode>>,
    buttons: Res<ButtonInput<MouseButton>>,
    motion: Res<AccumulatedMouseMotion>,
    scroll: Res<AccumulatedMouseScroll>,
    time: Res<Time>,
    mut cam: ResMut<CameraState>,
) {
    let dt = time.delta_secs();
    let (mut yaw, mut pitch, mut dist) = cam.orbit;
    let dragging = buttons.pressed(MouseButton::Left) || buttons.pressed(MouseButton::Right);
    if dragging && motion.delta != Vec2::ZERO {
        cam.mode = CamMode::Orbit;
        yaw -= motion.delta.x * 0.005;
        pitch -= motion.delta.y * 0.005;
    }
    if scroll.delta.y != 0.0 {
        dist *= (1.0 - 0.1 * scroll.delta.y).clamp(0.5, 1.5);
    }
    let k = |c| keys.pressed(c) as i32 as f32;
    yaw += (k(KeyCode::KeyQ) - k(KeyCode::KeyE)) * 1.5 * dt;
    dist *= 1.0 + (k(KeyCode::KeyX) - k(KeyCode::KeyZ)) * dt;
    cam.orbit = (yaw, pitch.clamp(-1.5, -0.05), dist.clamp(3.0, 200.0));
}

fn follow_car(
    host: NonSend<Host>,
    cam: Res<CameraState>,
    mut q: Query<(&mut Transform, &mut Projection), With<MainCamera>>,
    mut timings: ResMut<Timings>,
) {
    let Some(world) = host.env.drive().and_then(|d| d.world()) else {
        return;
    };
    let Ok((mut transform, mut projection)) = q.single_mut() else {
        return;
    };
    let t0 = Instant::now();
    let pose = world.car_pose();
    let (_, heading) = world.car_map_pose();
    let sim_view = match cam.mode {
        CamMode::Chase => Some(View::Chase),
        CamMode::Hood => Some(View::Hood),
        CamMode::TopDown => Some(View::TopDown),
        CamMode::Orbit => None,
    };
    let fov = match sim_view {
        Some(v) => {
            let c = SimCamera::follow(v, &pose, heading);
            *transform = camera_transform(&c);
            c.fov_y_deg
        }
        None => {
            let (yaw, pitch, dist) = cam.orbit;
            let rot = yaw_pitch(heading + yaw, pitch);
            let target = vec3(pose.position);
            *transform =
                Transform::from_translation(target - rot * Vec3::NEG_Z * dist).with_rotation(rot);
            60.0
        }
    };
    if let Projection::Perspective(p) = &mut *projection
        && (p.fov - fov.to_radians()).abs() > 1e-6
    {
        p.fov = fov.to_radians();
    }
    timings.poses += t0.elapsed();
}
