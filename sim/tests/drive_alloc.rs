//! The driving hot path allocates nothing of its own per step: projection, reward, the scene
//! update and the camera frame reuse the env's buffers, and the rasterizer allocates nothing.
//!
//! rapier's `PhysicsPipeline::step` itself makes a few small allocations per step (measured:
//! about 2.5-4 per step for one body resting on the ground, 7 for our car world); that is
//! inside the dependency. So the env test compares an env step with the bare physics steps of
//! a twin world driven by the same controls (and the same traffic model, with NPCs): the
//! difference must be exactly zero. The traffic model is checked on its own as well.

use sim::drive::env::{DRIVE_ID, DriveEnv, MAP_ID};
use sim::drive::raster::{Camera, Rasterizer, View};
use sim::drive::world::Controls;
use sim::{Action, Env, EnvConfig};

mod common;

use common::counting_alloc::{CountingAlloc, allocations};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn action(t: u64) -> i64 {
    [1, 1, 0, 4, 2, 1][((t / 20) % 6) as usize]
}

/// The controls the env applies for discrete action `a`.
fn controls(a: i64) -> Controls {
    let a = a as usize;
    let (throttle, brake) = [(1.0, 0.0), (0.0, 0.0), (0.0, 1.0)][a / 3];
    Controls {
        steer: [1.0, 0.0, -1.0][a % 3],
        throttle,
        brake,
    }
}

fn env_adds_no_allocation_to_physics(id: &'static str, cfg: &EnvConfig) {
    let mut env = DriveEnv::new(id, cfg).unwrap();
    let mut twin = DriveEnv::new(id, cfg).unwrap();
    env.reset(Some(1)).unwrap();
    twin.reset(Some(1)).unwrap();
    for t in 0..200 {
        assert!(!env.step(Action::Discrete(action(t))).unwrap().done());
        twin.step_physics_for_test(controls(action(t)));
    }
    let before = allocations();
    for t in 200..500 {
        let s = env.step(Action::Discrete(action(t))).unwrap();
        assert!(!s.done(), "{:?}", s.info.end_reason);
    }
    let in_env = allocations() - before;
    let before = allocations();
    for t in 200..500 {
        twin.step_physics_for_test(controls(action(t)));
    }
    let in_physics = allocations() - before;
    assert_eq!(
        env.world().unwrap().state_bits(),
        twin.world().unwrap().state_bits(),
        "the twin drove the same physics"
    );
    assert_eq!(
        in_env, in_physics,
        "{id}: env steps allocated {in_env}, bare physics {in_physics}"
    );
}

#[test]
fn drive_steps_with_the_camera_add_no_allocation() {
    env_adds_no_allocation_to_physics(DRIVE_ID, &EnvConfig::new());
}

#[test]
fn map_steps_with_state_obs_add_no_allocation() {
    let mut cfg = EnvConfig::new();
    cfg.insert("obs".into(), "state".into());
    cfg.insert("map".into(), "s_bend".into());
    env_adds_no_allocation_to_physics(MAP_ID, &cfg);
}

#[test]
fn steps_with_four_npcs_add_no_allocation_and_traffic_allocates_nothing() {
    let mut cfg = EnvConfig::new();
    cfg.insert("npcs".into(), 4.into());
    env_adds_no_allocation_to_physics(DRIVE_ID, &cfg);
    cfg.insert("obs".into(), "state".into());
    env_adds_no_allocation_to_physics(DRIVE_ID, &cfg);
    let mut env = DriveEnv::new(DRIVE_ID, &cfg).unwrap();
    env.reset(Some(1)).unwrap();
    env.step_traffic_for_test();
    let before = allocations();
    for _ in 0..300 {
        env.step_traffic_for_test();
    }
    assert_eq!(allocations() - before, 0, "the traffic model");
}

#[test]
fn rasterizing_a_frame_allocates_nothing() {
    let mut env = DriveEnv::new(DRIVE_ID, &EnvConfig::new()).unwrap();
    env.reset(Some(2)).unwrap();
    let world = env.world().unwrap();
    let (_, heading) = world.car_map_pose();
    let pose = world.car_pose();
    let scene = env.scene().unwrap();
    let mut r = Rasterizer::new(84, 84);
    for view in [View::Chase, View::Hood, View::TopDown] {
        let cam = Camera::follow(view, &pose, heading);
        r.render(scene, &cam);
        let before = allocations();
        r.render(scene, &cam);
        assert_eq!(allocations() - before, 0, "{view:?}");
    }
}
