//! Traffic, maps with several roads, and the state observation's rays and leader fields:
//! IDM following and scripted manoeuvres do what scenarios rely on, collisions say what was
//! hit, NPC rollouts are reproducible, and bad options are refused by name.

use sim::drive::env::{DRIVE_ID, DriveEnv, LEAD_INDEX, MAP_ID, STATE_LEN};
use sim::drive::traffic::{IdmParams, Longitudinal, NpcCommand, NpcSpawn};
use sim::drive::world::DT;
use sim::drive::{CollisionKind, DriverParams, ScriptedDriver};
use sim::{Action, Env, EnvConfig, Policy};

fn cfg(pairs: &[(&str, toml::Value)]) -> EnvConfig {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// `DriveMap-v0` on `map` with state observations, reset with seed 0.
fn map_env(map: &str, extra: &[(&str, toml::Value)]) -> DriveEnv {
    let mut pairs = vec![("map", map.into()), ("obs", "state".into())];
    pairs.extend_from_slice(extra);
    let mut env = DriveEnv::new(MAP_ID, &cfg(&pairs)).unwrap();
    env.reset(Some(0)).unwrap();
    env
}

const BRAKE: i64 = 7;

fn spawn(road: usize, lane: u32, s: f32, speed: f32) -> NpcSpawn {
    NpcSpawn {
        road,
        lane: Some(lane),
        offset: 0.0,
        s,
        speed,
        idm: IdmParams {
            desired_speed: speed.max(1.0),
            ..IdmParams::default()
        },
    }
}

#[test]
fn idm_follower_keeps_a_safe_gap_behind_a_braking_leader() {
    // The ego stands braked at s = 5 in lane 0; the two NPCs drive in lane 1.
    let mut env = map_env("straight", &[]);
    let leader = env.spawn_npc(&spawn(0, 1, 120.0, 15.0)).unwrap();
    let follower = env.spawn_npc(&spawn(0, 1, 80.0, 15.0)).unwrap();
    let mut min_gap = f32::INFINITY;
    for t in 0..1800 {
        if t == 120 {
            env.command_npc(leader, NpcCommand::BrakeToStop { decel: 6.0 })
                .unwrap();
        }
        let s = env.step(Action::Discrete(BRAKE)).unwrap();
        assert!(!s.done(), "{:?}", s.info.end_reason);
        let (l, f) = (env.npc(leader).unwrap(), env.npc(follower).unwrap());
        let gap = l.s - f.s - l.half_extents[0] - f.half_extents[0];
        min_gap = min_gap.min(gap);
    }
    let (l, f) = (env.npc(leader).unwrap(), env.npc(follower).unwrap());
    assert_eq!(l.mode, Longitudinal::Stopped);
    assert_eq!(f.speed, 0.0, "the follower stopped too");
    let gap = l.s - f.s - l.half_extents[0] - f.half_extents[0];
    let s0 = IdmParams::default().min_gap;
    assert!(
        min_gap > 0.5 * s0,
        "never closer than half the minimum gap: {min_gap}"
    );
    assert!(
        gap > 0.8 * s0 && gap < 3.0 * s0,
        "stopped about s0 = {s0} m behind: {gap}"
    );
}

#[test]
fn lane_change_ends_in_the_target_lane_at_the_given_time() {
    let mut env = map_env("straight", &[]);
    let track = env.track().unwrap().clone();
    let id = env.spawn_npc(&spawn(0, 0, 60.0, 12.0)).unwrap();
    env.command_npc(
        id,
        NpcCommand::ChangeLane {
            lane: 2,
            duration: 3.0,
        },
    )
    .unwrap();
    let (d0, d2) = (track.lane_offset(0), track.lane_offset(2));
    let mut prev = d0;
    let mut turned = false;
    for t in 1..=240 {
        env.step(Action::Discrete(BRAKE)).unwrap();
        let n = env.npc(id).unwrap();
        assert!(
            n.d >= prev - 1e-5,
            "moves steadily left: {} after {prev}",
            n.d
        );
        prev = n.d;
        turned |= n.heading > 0.02;
        if t == 90 {
            assert!(
                (n.d - 0.5 * (d0 + d2)).abs() < 0.05,
                "half way at half time: {}",
                n.d
            );
            assert!(n.changing_lane);
        }
        if t >= 180 {
            assert_eq!(n.d, d2, "in lane 2 from 3 s on (t = {t})");
            assert!(!n.changing_lane);
            assert!(n.heading.abs() < 1e-6, "straight again: {}", n.heading);
        }
    }
    assert!(turned, "the car points where it goes during the change");
}

#[test]
fn brake_to_stop_stops_within_the_kinematic_distance() {
    let mut env = map_env("straight", &[]);
    let id = env.spawn_npc(&spawn(0, 2, 50.0, 20.0)).unwrap();
    env.command_npc(id, NpcCommand::BrakeToStop { decel: 5.0 })
        .unwrap();
    let s_cmd = env.npc(id).unwrap().s;
    let mut steps = 0;
    while env.npc(id).unwrap().mode != Longitudinal::Stopped {
        env.step(Action::Discrete(BRAKE)).unwrap();
        steps += 1;
        assert!(steps < 600, "stopped within 10 s");
    }
    let dist = env.npc(id).unwrap().s - s_cmd;
    let expect = 20.0f32 * 20.0 / (2.0 * 5.0);
    assert!(
        (dist - expect).abs() < 0.05,
        "v^2 / 2a = {expect} m, stopped after {dist} m"
    );
    assert!((steps as f32 * DT - 4.0).abs() <= 2.0 * DT, "{steps} steps");
    for _ in 0..60 {
        env.step(Action::Discrete(BRAKE)).unwrap();
    }
    assert_eq!(env.npc(id).unwrap().s - s_cmd, dist, "stays stopped");
    // Stop now is immediate; set speed drives again.
    let id2 = env.spawn_npc(&spawn(0, 1, 200.0, 15.0)).unwrap();
    env.command_npc(id2, NpcCommand::StopNow).unwrap();
    env.step(Action::Discrete(BRAKE)).unwrap();
    let n = env.npc(id2).unwrap();
    assert_eq!((n.speed, n.s), (0.0, 200.0));
    env.command_npc(id2, NpcCommand::SetSpeed { speed: 8.0 })
        .unwrap();
    for _ in 0..600 {
        env.step(Action::Discrete(BRAKE)).unwrap();
    }
    let n = env.npc(id2).unwrap();
    assert!((n.speed - 8.0).abs() < 0.3, "back to 8 m/s: {}", n.speed);
}

#[test]
fn bad_npc_spawns_and_commands_are_refused_with_a_reason() {
    let mut env = map_env("straight", &[]);
    let err = |r: sim::Result<usize>| r.unwrap_err().to_string();
    assert!(err(env.spawn_npc(&spawn(0, 3, 50.0, 10.0))).contains("lane 3"));
    assert!(err(env.spawn_npc(&spawn(1, 0, 50.0, 10.0))).contains("road 1"));
    assert!(err(env.spawn_npc(&spawn(0, 0, 5.0, 10.0))).contains("ego"));
    assert!(err(env.spawn_npc(&spawn(0, 0, 50.0, f32::NAN))).contains("speed"));
    assert!(err(env.spawn_npc(&spawn(0, 0, 900.0, 10.0))).contains("s = 900"));
    let id = env.spawn_npc(&spawn(0, 0, 50.0, 10.0)).unwrap();
    assert!(err(env.spawn_npc(&spawn(0, 0, 52.0, 10.0))).contains("NPC 0"));
    let mut bad = |c| env.command_npc(id, c).unwrap_err().to_string();
    assert!(bad(NpcCommand::BrakeToStop { decel: -1.0 }).contains("decel"));
    assert!(
        bad(NpcCommand::ChangeLane {
            lane: 7,
            duration: 2.0
        })
        .contains("lane 7")
    );
    assert!(
        bad(NpcCommand::ChangeOffset {
            offset: 1.0,
            duration: f32::NAN
        })
        .contains("duration")
    );
    assert!(env.command_npc(9, NpcCommand::StopNow).is_err());
    let mut fresh = DriveEnv::new(MAP_ID, &EnvConfig::new()).unwrap();
    assert!(matches!(
        fresh.spawn_npc(&spawn(0, 0, 50.0, 10.0)),
        Err(sim::SimError::NeedsReset { .. })
    ));
}

#[test]
fn running_into_an_npc_is_a_vehicle_collision_and_into_a_barrier_a_static_one() {
    // A stalled NPC 40 m ahead in the ego's lane; full gas into it.
    let mut env = DriveEnv::new(MAP_ID, &cfg(&[("map", "straight".into())])).unwrap();
    env.reset(Some(0)).unwrap();
    let id = env.spawn_npc(&spawn(0, 0, 45.0, 0.0)).unwrap();
    env.command_npc(id, NpcCommand::StopNow).unwrap();
    let mut end = None;
    for _ in 0..600 {
        let s = env.step(Action::Discrete(1)).unwrap();
        if s.done() {
            end = Some((s.info.end_reason, s.info.drive.unwrap(), s.reward));
            break;
        }
    }
    let (reason, d, reward) = end.expect("the episode ends on the collision");
    assert_eq!(reason, Some("collision"));
    assert!(d.collision);
    assert_eq!(d.collision_kind, CollisionKind::Vehicle);
    assert!(reward < -90.0, "collision penalty: {reward}");

    // Static obstacles: `world::tests::hitting_an_obstacle_is_a_collision` checks the
    // barrier case reports `CollisionKind::Static`.
}

/// FNV-1a over bytes.
fn fnv(h: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *h ^= b as u64;
        *h = h.wrapping_mul(0x100000001b3);
    }
}

fn npc_rollout_hash(seed: u64) -> u64 {
    let mut env = DriveEnv::new(DRIVE_ID, &cfg(&[("npcs", 4.into())])).unwrap();
    let mut h = 0xcbf29ce484222325u64;
    let (obs, _) = env.reset(Some(seed)).unwrap();
    fnv(&mut h, obs.as_u8().unwrap());
    for t in 0..1000u64 {
        let a = [1, 1, 0, 4, 2, 7][((t / 40) % 6) as usize];
        let s = env.step(Action::Discrete(a)).unwrap();
        fnv(&mut h, s.obs.as_u8().unwrap());
        fnv(&mut h, &s.reward.to_bits().to_le_bytes());
        let done = s.done();
        for b in env.traffic().unwrap().state_bits() {
            fnv(&mut h, &b.to_le_bytes());
        }
        for b in env.world().unwrap().state_bits() {
            fnv(&mut h, &b.to_le_bytes());
        }
        if done {
            env.reset(None).unwrap();
        }
    }
    h
}

#[test]
fn thousand_step_rollouts_with_four_npcs_are_bit_identical() {
    let a = npc_rollout_hash(5);
    assert_eq!(a, npc_rollout_hash(5));
    assert_ne!(a, npc_rollout_hash(6));
    let mut env = DriveEnv::new(DRIVE_ID, &cfg(&[("npcs", 4.into())])).unwrap();
    env.reset(Some(5)).unwrap();
    let t = env.traffic().unwrap();
    assert_eq!(t.len(), 4);
    let ego = env.ego_lane().unwrap();
    let track = env.track().unwrap();
    for n in t.states() {
        assert!(
            track.delta_s(ego.s, n.s).abs() > 10.0,
            "NPC {} spawned clear of the ego: {} vs {}",
            n.id,
            n.s,
            ego.s
        );
    }
    assert_eq!(
        env.scene().unwrap().boxes.len(),
        6 + 4 * 2,
        "ego + 4 NPCs drawn"
    );
}

fn vec_npc_hash(threads: usize) -> u64 {
    let mut v = sim::VecEnv::make(DRIVE_ID, &cfg(&[("npcs", 4.into())]), 3, threads).unwrap();
    v.reset(Some(21)).unwrap();
    let mut h = 0xcbf29ce484222325u64;
    for t in 0..300u64 {
        let a = [[1, 0, 2], [1, 1, 1], [0, 2, 4]][((t / 25) % 3) as usize];
        v.step(sim::BatchActions::Discrete(&a)).unwrap();
        fnv(&mut h, v.obs_u8());
        for r in v.rewards() {
            fnv(&mut h, &r.to_bits().to_le_bytes());
        }
    }
    h
}

#[test]
fn vec_env_with_npcs_is_identical_across_thread_counts() {
    assert_eq!(vec_npc_hash(1), vec_npc_hash(2));
}

#[test]
fn intersection_map_has_two_roads_paved_as_one_and_the_scripted_ego_crosses_it() {
    let mut env = map_env("intersection", &[("actions", "continuous".into())]);
    let track = env.track().unwrap().clone();
    assert_eq!(track.road_count(), 2);
    let cross = track.road(1).unwrap();
    // The crossing road is paved, far from the route; grass between the two is not.
    let (p, _) = cross.pose_at(30.0, 0.0);
    assert!(track.on_paved(p, track.project(p, None).lateral));
    let q = [120.0, 20.0];
    assert!(!track.on_paved(q, track.project(q, None).lateral));
    // A car on the crossing road, northbound in its lane 0, far from the junction.
    let id = env.spawn_npc(&spawn(1, 0, 10.0, 8.0)).unwrap();
    let mut driver = ScriptedDriver::new(env.options(), DriverParams::default());
    driver.reset();
    let y0 = env.npc(id).unwrap().position[1];
    let reason = loop {
        let a = driver.act(env.obs()).unwrap();
        let s = env.step(a.as_action()).unwrap();
        let d = s.info.drive.unwrap();
        assert!(!d.off_road, "stays on the road through the junction");
        if s.done() {
            break s.info.end_reason;
        }
    };
    assert_eq!(reason, Some("route_complete"));
    let n = env.npc(id).unwrap();
    assert!(
        n.position[1] > y0 + 50.0 && (n.position[0] - 151.75).abs() < 1e-3,
        "the NPC drove north on the crossing road's right lane: {:?}",
        n.position
    );
}

#[test]
fn oncoming_lanes_drive_against_the_route() {
    let mut env = map_env("two_way", &[]);
    let id = env.spawn_npc(&spawn(0, 3, 300.0, 10.0)).unwrap();
    let n = env.npc(id).unwrap();
    assert_eq!(n.direction, -1.0);
    assert!((n.heading.abs() - std::f32::consts::PI).abs() < 1e-5);
    for _ in 0..60 {
        env.step(Action::Discrete(BRAKE)).unwrap();
    }
    let n = env.npc(id).unwrap();
    assert!(n.s < 300.0 - 9.0, "drives west: s = {}", n.s);
    let e = DriveEnv::new(
        MAP_ID,
        &cfg(&[("map", "two_way".into()), ("lane", 2.into())]),
    );
    assert!(e.err().unwrap().to_string().contains("forward lanes 0..2"));
}

#[test]
fn rays_measure_the_distance_to_an_npc_ahead_and_to_the_road_edges() {
    let mut env = map_env("straight", &[]);
    let ego = env.ego_lane().unwrap();
    let id = env.spawn_npc(&spawn(0, 0, 40.0, 0.0)).unwrap();
    env.command_npc(id, NpcCommand::StopNow).unwrap();
    let s = env.step(Action::Discrete(BRAKE)).unwrap();
    let d = s.info.drive.unwrap();
    let o = s.obs.as_f32().unwrap().to_vec();
    assert_eq!(o.len(), STATE_LEN + 9);
    let rays = &o[STATE_LEN..];
    let range = 50.0;
    let track = env.track().unwrap();
    let n = env.npc(id).unwrap();
    let ego_now = env.ego_lane().unwrap();
    // Centre ray (index 4 of 9: straight ahead) stops at the NPC's rear bumper.
    let expect = n.s - ego_now.s - n.half_extents[0];
    let got = rays[4] * range;
    assert!(
        (got - expect).abs() < 0.15,
        "ahead: ray {got} m, expected {expect} m (ego s {} -> {})",
        ego.s,
        ego_now.s
    );
    // Leader fields: the same gap minus the ego's half length, a stopped leader.
    let gap = o[LEAD_INDEX] * 100.0;
    assert!((gap - (expect - 2.1)).abs() < 0.15, "lead gap {gap}");
    assert!((d.lead_gap - gap).abs() < 1e-3);
    // The side rays (-90 and +90 degrees) reach the right and left road edges.
    let (hw, c) = (track.half_width(), d.heading_error.cos());
    let right = (hw + ego_now.d) / c;
    let left = (hw - ego_now.d) / c;
    assert!(
        (rays[0] * range - right).abs() < 0.1,
        "{} vs {right}",
        rays[0] * range
    );
    assert!(
        (rays[8] * range - left).abs() < 0.1,
        "{} vs {left}",
        rays[8] * range
    );
    // Nothing within range in the diagonal direction on the open road? The 45-degree rays
    // meet an edge at sqrt(2) times the side distance.
    assert!((rays[2] * range - right * 2f32.sqrt()).abs() < 0.3);
}

#[test]
fn bad_traffic_options_are_refused_naming_the_option_and_the_allowed_values() {
    let e = |pairs: &[(&str, toml::Value)], id: &'static str| {
        DriveEnv::new(id, &cfg(pairs)).err().unwrap().to_string()
    };
    let m = e(&[("npcs", (-1).into())], DRIVE_ID);
    assert!(m.contains("npcs") && m.contains("0..=16"), "{m}");
    let m = e(&[("npcs", 17.into())], DRIVE_ID);
    assert!(m.contains("npcs") && m.contains("17"), "{m}");
    let m = e(&[("npc_speed", f64::NAN.into())], DRIVE_ID);
    assert!(m.contains("npc_speed") && m.contains("(0, 40]"), "{m}");
    let m = e(&[("rays", (-2).into())], DRIVE_ID);
    assert!(m.contains("rays") && m.contains("0..=64"), "{m}");
    let m = e(&[("map", "moon".into())], MAP_ID);
    assert!(m.contains("map") && m.contains("intersection"), "{m}");
}

/// Drive one episode with the scripted driver; (end reason, collisions, off-road steps).
fn scripted_episode(id: &'static str, pairs: &[(&str, toml::Value)], seed: u64) -> (String, u32) {
    let mut env = DriveEnv::new(id, &cfg(pairs)).unwrap();
    let mut driver = ScriptedDriver::new(env.options(), DriverParams::default());
    env.reset(Some(seed)).unwrap();
    driver.reset();
    let mut off = 0;
    loop {
        let a = driver.act(env.obs()).unwrap();
        let s = env.step(a.as_action()).unwrap();
        off += s.info.drive.unwrap().off_road as u32;
        if s.done() {
            return (s.info.end_reason.unwrap_or("none").to_string(), off);
        }
    }
}

#[test]
fn scripted_driver_laps_with_four_npcs_without_hitting_them() {
    for seed in [0u64, 1, 2] {
        let (reason, off) = scripted_episode(
            DRIVE_ID,
            &[
                ("obs", "state".into()),
                ("actions", "continuous".into()),
                ("npcs", 4.into()),
            ],
            seed,
        );
        assert_eq!(reason, "lap_complete", "seed {seed}");
        assert_eq!(off, 0, "seed {seed}");
    }
}

#[test]
fn scripted_driver_stops_behind_a_stalled_car_and_follows_a_slow_one() {
    let mut env = map_env("straight", &[("actions", "continuous".into())]);
    let stalled = env.spawn_npc(&spawn(0, 0, 150.0, 0.0)).unwrap();
    env.command_npc(stalled, NpcCommand::StopNow).unwrap();
    let mut driver = ScriptedDriver::new(env.options(), DriverParams::default());
    driver.reset();
    for _ in 0..(30 * 60) {
        let a = driver.act(env.obs()).unwrap();
        let s = env.step(a.as_action()).unwrap();
        assert!(!s.done(), "{:?}", s.info.end_reason);
    }
    let d = env.drive_info().unwrap();
    assert!(d.speed.abs() < 0.3, "stopped: {}", d.speed);
    assert!(
        d.lead_gap > 2.0 && d.lead_gap < 8.0,
        "a few metres behind: {}",
        d.lead_gap
    );

    // A slow leader (6 m/s) ahead: follow for 60 s without touching it.
    let mut env = map_env("straight", &[("actions", "continuous".into())]);
    env.spawn_npc(&spawn(0, 0, 60.0, 6.0)).unwrap();
    let mut driver = ScriptedDriver::new(env.options(), DriverParams::default());
    driver.reset();
    let mut min_gap = f32::INFINITY;
    for t in 0..(60 * 60) {
        let a = driver.act(env.obs()).unwrap();
        let s = env.step(a.as_action()).unwrap();
        assert!(!s.done(), "{:?}", s.info.end_reason);
        if t > 600 {
            min_gap = min_gap.min(s.info.drive.unwrap().lead_gap);
        }
    }
    let d = env.drive_info().unwrap();
    assert!(
        (d.speed - 6.0).abs() < 0.5,
        "matches the leader's speed: {}",
        d.speed
    );
    assert!(min_gap > 4.0, "keeps its distance: {min_gap}");
}

/// The 50-seed figure with traffic for the docs: `cargo test --release -p sim --test
/// drive_traffic -- --ignored --nocapture fifty`.
#[test]
#[ignore]
fn fifty_seed_lap_survey_with_four_npcs() {
    for actions in ["continuous", "discrete"] {
        let mut laps = 0;
        let mut reasons = std::collections::BTreeMap::new();
        for seed in 0..50u64 {
            let (reason, off) = scripted_episode(
                DRIVE_ID,
                &[
                    ("obs", "state".into()),
                    ("actions", actions.into()),
                    ("npcs", 4.into()),
                ],
                seed,
            );
            laps += (reason == "lap_complete" && off == 0) as u32;
            *reasons.entry(reason).or_insert(0) += 1;
        }
        println!(
            "scripted driver, 4 NPCs, {actions} actions: {laps}/50 laps without leaving the road; end reasons {reasons:?}"
        );
    }
}
