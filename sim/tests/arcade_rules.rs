//! Game-rule tests of the native arcade games (Pong, Breakout) and of their ALE-style env
//! options: scoring, lives, serve, collisions at paddle edges and walls, brick values, the
//! second wall, the paddle shrink, the frame cap, sticky actions and option errors.

use sim::arcade::{ArcadeEnv, ArcadeGame, ArcadeOptions, Breakout, Pong, breakout, pong};
use sim::{Action, Env, EnvConfig, Policy, RandomPolicy, SimError};

fn opts(frameskip: u32, p: f64) -> ArcadeOptions {
    ArcadeOptions {
        frameskip,
        repeat_action_probability: p,
        ..ArcadeOptions::default()
    }
}

/// An env stepping one frame at a time with no sticky actions, reset with seed 0.
fn exact<G: ArcadeGame>() -> ArcadeEnv<G> {
    let mut e = ArcadeEnv::<G>::new(&opts(1, 0.0)).unwrap();
    e.reset(Some(0)).unwrap();
    e
}

/// Step `action` until a non-zero reward or `max` frames; returns (reward, frames).
fn until_reward<G: ArcadeGame>(e: &mut ArcadeEnv<G>, action: i64, max: u32) -> (f32, u32) {
    for i in 1..=max {
        let s = e.step(Action::Discrete(action)).unwrap();
        if s.reward != 0.0 {
            return (s.reward, i);
        }
    }
    (0.0, max)
}

/// Play one episode with `policy`; returns (return, agent steps, last info).
fn play(env: &mut dyn Env, policy: &mut dyn Policy, seed: u64) -> (f32, u64, sim::Info) {
    let (mut obs, _) = env.reset(Some(seed)).unwrap();
    let mut obs_buf = obs.as_u8().unwrap().to_vec();
    policy.reset();
    let (mut ret, mut steps) = (0.0, 0);
    loop {
        let a = policy.act(sim::Obs::U8(&obs_buf)).unwrap();
        let s = env.step(a.as_action()).unwrap();
        ret += s.reward;
        steps += 1;
        if s.done() {
            return (ret, steps, s.info);
        }
        obs = s.obs;
        obs_buf.clear();
        obs_buf.extend_from_slice(obs.as_u8().unwrap());
    }
}

fn cfg(pairs: &[(&str, toml::Value)]) -> EnvConfig {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

// ---------------------------------------------------------------- Pong

#[test]
fn pong_random_agent_loses_about_21_to_0() {
    let mut env = sim::make("Pong-v0", &EnvConfig::new()).unwrap();
    let mut total = 0.0;
    for seed in 0..2 {
        let mut policy = RandomPolicy::new(env.action_space().clone(), 100 + seed);
        let (ret, steps, _) = play(env.as_mut(), &mut policy, seed);
        assert!(ret <= -15.0, "random agent scored {ret} (seed {seed})");
        assert!(steps > 200, "a game to 21 takes a while, got {steps} steps");
        total += ret;
    }
    assert!(total / 2.0 <= -18.0, "mean random return {}", total / 2.0);
}

#[test]
fn pong_scripted_pixel_policy_wins_clearly_in_rgb_and_gray() {
    for obs_type in ["rgb", "grayscale"] {
        let c = cfg(&[("obs_type", toml::Value::String(obs_type.into()))]);
        let mut env = sim::make("Pong-v0", &c).unwrap();
        let mut policy = sim::make_scripted("Pong-v0", &c).unwrap();
        let (ret, _, _) = play(env.as_mut(), policy.as_mut(), 7);
        assert!(ret >= 5.0, "{obs_type}: scripted policy only reached {ret}");
    }
}

#[test]
fn pong_game_ends_at_21_with_one_reward_per_point() {
    let mut e = exact::<Pong>();
    e.game_mut().set_score(20, 3);
    e.game_mut().set_paddles(34, 100);
    e.game_mut().set_ball(120, 150, 512, 0);
    let (r, _) = until_reward(&mut e, 0, 100);
    assert_eq!(r, 1.0 - 2.0, "the opponent's point pays -1");
    assert_eq!(e.game().score(), (20, 4));
    // A point for the agent ends the game.
    e.game_mut().set_paddles(100, 34);
    e.game_mut().set_ball(40, 150, -512, 0);
    let s = loop {
        let s = e.step(Action::Discrete(0)).unwrap();
        if s.reward != 0.0 {
            break s;
        }
    };
    assert_eq!(s.reward, 1.0);
    assert!(s.terminated && !s.truncated);
    assert_eq!(e.game().score(), (21, 4));
    assert!(matches!(
        e.step(Action::Discrete(0)),
        Err(SimError::NeedsReset { .. })
    ));
}

#[test]
fn pong_ball_bounces_off_both_ends_of_the_agent_paddle() {
    // Paddle rows 100..116; the ball is 4 rows tall.
    for (ball_y, up) in [(97, true), (115, false)] {
        let mut e = exact::<Pong>();
        e.game_mut().set_paddles(100, 100);
        e.game_mut().set_ball(136, ball_y, 512, 0);
        e.step(Action::Discrete(0)).unwrap();
        e.step(Action::Discrete(0)).unwrap();
        let (vx, vy) = e.game().ball_velocity().expect("ball in play");
        assert!(vx < 0.0, "ball at row {ball_y} must come back, vx {vx}");
        assert_eq!(vy < 0.0, up, "edge hits go steeply away, vy {vy}");
        assert!(vy.abs() >= vx.abs(), "edge hits are steep: vx {vx} vy {vy}");
    }
    // One row above the paddle: the ball passes and the opponent scores.
    let mut e = exact::<Pong>();
    e.game_mut().set_paddles(100, 100);
    e.game_mut().set_ball(136, 96, 512, 0);
    assert_eq!(until_reward(&mut e, 0, 60).0, -1.0);
}

#[test]
fn pong_rally_hits_speed_the_ball_up_and_centre_hits_are_flat() {
    let mut e = exact::<Pong>();
    e.game_mut().set_paddles(100, 100);
    e.game_mut().set_ball(136, 106, 512, 0);
    e.step(Action::Discrete(0)).unwrap();
    e.step(Action::Discrete(0)).unwrap();
    let (vx, vy) = e.game().ball_velocity().unwrap();
    assert!(vx < -2.0, "first return is faster than the serve: {vx}");
    assert!(vy.abs() < vx.abs() / 2.0, "centre hits are flat: {vy}");
}

#[test]
fn pong_ball_bounces_off_the_walls() {
    let mut e = exact::<Pong>();
    e.game_mut().set_ball(80, 35, 256, -512);
    e.step(Action::Discrete(0)).unwrap();
    let (_, y) = e.game().ball().unwrap();
    assert!(y >= pong::FIELD_TOP);
    assert!(e.game().ball_velocity().unwrap().1 > 0.0);
    e.game_mut()
        .set_ball(80, pong::FIELD_BOTTOM - pong::BALL_H - 1, 256, 512);
    e.step(Action::Discrete(0)).unwrap();
    assert!(e.game().ball().unwrap().1 + pong::BALL_H <= pong::FIELD_BOTTOM);
    assert!(e.game().ball_velocity().unwrap().1 < 0.0);
}

#[test]
fn pong_actions_move_the_agent_paddle_like_ale() {
    let mut e = exact::<Pong>();
    let y0 = e.game().paddles().0;
    e.step(Action::Discrete(2)).unwrap(); // RIGHT: up
    assert!(e.game().paddles().0 < y0);
    e.step(Action::Discrete(3)).unwrap(); // LEFT: down
    e.step(Action::Discrete(5)).unwrap(); // LEFTFIRE: down
    assert!(e.game().paddles().0 > y0);
    assert_eq!(
        e.action_meanings().unwrap(),
        &["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"]
    );
}

#[test]
fn pong_frame_looks_like_ale_pong() {
    let e = exact::<Pong>();
    let obs = e.obs().as_u8().unwrap().to_vec();
    let px = |x: usize, y: usize| &obs[(y * 160 + x) * 3..(y * 160 + x) * 3 + 3];
    assert_eq!(px(80, 120), [144, 72, 17], "background");
    assert_eq!(px(80, 28), [236, 236, 236], "top wall");
    assert_eq!(px(80, 200), [236, 236, 236], "bottom wall");
    let (agent, opp) = e.game().paddles();
    assert_eq!(px(141, agent as usize + 8), [92, 186, 92], "agent paddle");
    assert_eq!(px(17, opp as usize + 8), [213, 130, 74], "opponent paddle");
    assert!(
        (0..24).any(|y| px(128, y) == [92, 186, 92]),
        "agent score in green"
    );
    assert!(
        (0..24).any(|y| px(32, y) == [213, 130, 74]),
        "opponent score in orange"
    );
}

// ---------------------------------------------------------------- Breakout

#[test]
fn breakout_ball_waits_for_fire() {
    let mut e = exact::<Breakout>();
    for _ in 0..200 {
        e.step(Action::Discrete(0)).unwrap();
        e.step(Action::Discrete(2)).unwrap();
    }
    assert_eq!(e.game().ball(), None, "no serve without FIRE");
    let s = e.step(Action::Discrete(1)).unwrap();
    assert_eq!(s.info.lives, 5);
    assert!(e.game().ball().is_some(), "FIRE serves");
    let y0 = e.game().ball().unwrap().1;
    e.step(Action::Discrete(0)).unwrap();
    assert!(e.game().ball().unwrap().1 > y0, "served ball falls");
}

#[test]
fn breakout_missed_balls_cost_lives_until_game_over() {
    let mut e = exact::<Breakout>();
    for lost in 1..=5u32 {
        e.step(Action::Discrete(1)).unwrap();
        let (bx, _) = e.game().ball().unwrap();
        // Park the paddle at the far side from the ball.
        e.game_mut().set_paddle(if bx < 80 { 200 } else { 0 });
        e.game_mut().set_ball(bx, 170, 0, 512);
        let mut last = None;
        for _ in 0..100 {
            let s = e.step(Action::Discrete(0)).unwrap();
            let (lives, terminated) = (s.info.lives, s.terminated);
            if e.game().ball().is_none() {
                last = Some((lives, terminated));
                break;
            }
        }
        let (lives, terminated) = last.expect("ball lost");
        assert_eq!(lives, 5 - lost);
        assert_eq!(terminated, lost == 5);
    }
    assert!(matches!(
        e.step(Action::Discrete(1)),
        Err(SimError::NeedsReset { .. })
    ));
}

#[test]
fn breakout_bricks_pay_ales_points_per_row() {
    for (row, &points) in breakout::ROW_POINTS.iter().enumerate() {
        let mut e = exact::<Breakout>();
        let col = 5;
        for r in row + 1..breakout::BRICK_ROWS {
            e.game_mut().set_brick(r, col, false);
        }
        let x = breakout::LEFT + col as i32 * breakout::BRICK_W + 3;
        e.game_mut().set_ball(x, 120, 0, -512);
        let (reward, _) = until_reward(&mut e, 0, 200);
        assert_eq!(reward, points as f32, "row {row}");
        assert!(!e.game().brick(row, col));
        assert_eq!(
            e.game().bricks_left(),
            108 - (breakout::BRICK_ROWS - row) as u32
        );
        assert!(e.game().ball_velocity().unwrap().1 > 0, "bounces back down");
    }
}

#[test]
fn breakout_top_wall_shrinks_the_paddle_and_upper_rows_speed_up() {
    let mut e = exact::<Breakout>();
    assert_eq!(e.game().paddle().1, breakout::PADDLE_W);
    for r in 0..breakout::BRICK_ROWS {
        e.game_mut().set_brick(r, 0, false);
    }
    e.game_mut().set_ball(breakout::LEFT + 2, 120, 0, -512);
    for _ in 0..100 {
        e.step(Action::Discrete(0)).unwrap();
    }
    assert_eq!(e.game().paddle().1, breakout::SMALL_PADDLE_W);
    // Hitting the orange and then the red row from below speeds the ball up twice.
    let mut e = exact::<Breakout>();
    e.step(Action::Discrete(1)).unwrap();
    for r in 2..breakout::BRICK_ROWS {
        e.game_mut().set_brick(r, 9, false);
    }
    e.game_mut()
        .set_ball(breakout::LEFT + 9 * 8 + 3, 120, 0, -384);
    assert_eq!(until_reward(&mut e, 0, 200).0, 7.0);
    assert_eq!(e.game().speed_level(), 1, "orange row");
    e.game_mut().set_brick(1, 9, false);
    e.game_mut()
        .set_ball(breakout::LEFT + 9 * 8 + 3, 120, 0, -384);
    assert_eq!(until_reward(&mut e, 0, 200).0, 7.0);
    assert_eq!(e.game().speed_level(), 2, "red row");
}

#[test]
fn breakout_second_wall_after_the_first_then_game_over() {
    let mut e = exact::<Breakout>();
    e.step(Action::Discrete(1)).unwrap();
    for r in 0..breakout::BRICK_ROWS {
        for c in 0..breakout::BRICK_COLS {
            e.game_mut().set_brick(r, c, (r, c) == (5, 3));
        }
    }
    e.game_mut()
        .set_ball(breakout::LEFT + 3 * 8 + 3, 120, 0, -512);
    assert_eq!(until_reward(&mut e, 0, 200).0, 1.0);
    assert_eq!(e.game().wall(), 2);
    assert_eq!(e.game().bricks_left(), 108, "a fresh wall");
    for r in 0..breakout::BRICK_ROWS {
        for c in 0..breakout::BRICK_COLS {
            e.game_mut().set_brick(r, c, (r, c) == (5, 3));
        }
    }
    e.game_mut()
        .set_ball(breakout::LEFT + 3 * 8 + 3, 120, 0, -512);
    let s = loop {
        let s = e.step(Action::Discrete(0)).unwrap();
        if s.reward != 0.0 {
            break s;
        }
    };
    assert!(s.terminated, "clearing the second wall ends the game");
}

#[test]
fn breakout_paddle_edges_send_the_ball_steeply_outwards() {
    // The paddle covers columns 60..76, the ball is 2 columns wide.
    for (ball_x, right) in [(59, false), (75, true)] {
        let mut e = exact::<Breakout>();
        e.step(Action::Discrete(1)).unwrap();
        e.game_mut().set_paddle(60);
        e.game_mut().set_ball(ball_x, 182, 0, 512);
        for _ in 0..6 {
            e.step(Action::Discrete(0)).unwrap();
        }
        let (vx, vy) = e.game().ball_velocity().expect("ball returned");
        assert!(vy < 0, "ball at column {ball_x} bounces up");
        assert_eq!(vx > 0, right, "outward from the edge hit");
        assert!(vx.abs() > vy.abs(), "edge hits are steep: vx {vx} vy {vy}");
    }
    // Just past the paddle's right end: missed.
    let mut e = exact::<Breakout>();
    e.step(Action::Discrete(1)).unwrap();
    e.game_mut().set_paddle(60);
    e.game_mut().set_ball(76, 182, 0, 512);
    for _ in 0..20 {
        e.step(Action::Discrete(0)).unwrap();
    }
    assert_eq!(e.game().ball(), None);
    assert_eq!(e.game().lives(), 4);
}

#[test]
fn breakout_side_walls_reflect_the_ball() {
    let mut e = exact::<Breakout>();
    e.step(Action::Discrete(1)).unwrap();
    e.game_mut().set_ball(breakout::LEFT + 1, 150, -768, 128);
    e.step(Action::Discrete(0)).unwrap();
    assert!(e.game().ball().unwrap().0 >= breakout::LEFT);
    assert!(e.game().ball_velocity().unwrap().0 > 0);
    e.game_mut().set_ball(breakout::RIGHT - 3, 150, 768, 128);
    e.step(Action::Discrete(0)).unwrap();
    assert!(e.game().ball().unwrap().0 + breakout::BALL_W <= breakout::RIGHT);
    assert!(e.game().ball_velocity().unwrap().0 < 0);
}

#[test]
fn breakout_scripted_policy_beats_random() {
    let c = EnvConfig::new();
    let mut env = sim::make("Breakout-v0", &c).unwrap();
    let mut scripted = sim::make_scripted("Breakout-v0", &c).unwrap();
    let (good, _, info) = play(env.as_mut(), scripted.as_mut(), 3);
    assert_eq!(info.lives, 0, "the game ran to its end");
    let mut random = RandomPolicy::new(env.action_space().clone(), 3);
    let (bad, _, _) = play(env.as_mut(), &mut random, 3);
    assert!(
        good >= 30.0 && good > 3.0 * bad,
        "scripted {good}, random {bad}"
    );
}

// ---------------------------------------------------------------- env options

#[test]
fn frame_cap_truncates_with_a_reason() {
    for id in ["Pong-v0", "Breakout-v0"] {
        let c = cfg(&[("max_num_frames_per_episode", toml::Value::Integer(10))]);
        let mut env = sim::make(id, &c).unwrap();
        env.reset(Some(1)).unwrap();
        for _ in 0..2 {
            let s = env.step(Action::Discrete(0)).unwrap();
            assert!(!s.done());
        }
        let s = env.step(Action::Discrete(0)).unwrap();
        assert!(s.truncated && !s.terminated, "{id}");
        assert_eq!(
            s.info.episode_frame_number, 10,
            "the cap counts emulator frames"
        );
        assert_eq!(s.info.end_reason, Some("frame_cap"));
        assert!(matches!(
            env.step(Action::Discrete(0)),
            Err(SimError::NeedsReset { .. })
        ));
        let (_, info) = env.reset(None).unwrap();
        assert_eq!(info.episode_frame_number, 0);
        assert_eq!(info.frame_number, 10, "frame_number counts across episodes");
    }
}

/// The frames of 300 agent steps of random actions.
fn rollout(id: &str, p: f64, seed: u64) -> Vec<u8> {
    let c = cfg(&[("repeat_action_probability", toml::Value::Float(p))]);
    let mut env = sim::make(id, &c).unwrap();
    let mut policy = RandomPolicy::new(env.action_space().clone(), 99);
    let (obs, _) = env.reset(Some(seed)).unwrap();
    let mut frames = obs.as_u8().unwrap().to_vec();
    for _ in 0..300 {
        let a = policy.act(env.obs()).unwrap();
        let s = env.step(a.as_action()).unwrap();
        frames.extend_from_slice(s.obs.as_u8().unwrap());
        if s.done() {
            env.reset(None).unwrap();
        }
    }
    frames
}

#[test]
fn sticky_actions_are_deterministic_under_a_seed() {
    for id in ["Pong-v0", "Breakout-v0"] {
        assert_eq!(rollout(id, 0.25, 5), rollout(id, 0.25, 5), "{id}");
        assert_ne!(rollout(id, 0.0, 5), rollout(id, 0.25, 5), "{id}");
        assert_ne!(rollout(id, 0.25, 5), rollout(id, 0.25, 6), "{id}");
    }
}

#[test]
fn repeat_probability_one_never_takes_the_agents_action() {
    let c = cfg(&[("repeat_action_probability", toml::Value::Float(1.0))]);
    let mut env = sim::make("Breakout-v0", &c).unwrap();
    env.reset(Some(0)).unwrap();
    for _ in 0..50 {
        env.step(Action::Discrete(1)).unwrap();
    }
    // FIRE was never applied: the first frame's action is the reset's NOOP, repeated forever.
    let frame = env.obs().as_u8().unwrap().to_vec();
    let mut fresh = sim::make("Breakout-v0", &c).unwrap();
    let (obs, _) = fresh.reset(Some(0)).unwrap();
    assert_eq!(frame, obs.as_u8().unwrap());
}

#[test]
fn grayscale_observation_is_the_luma_of_the_rgb_one() {
    for id in ["Pong-v0", "Breakout-v0"] {
        let mut rgb = sim::make(id, &EnvConfig::new()).unwrap();
        let c = cfg(&[("obs_type", toml::Value::String("grayscale".into()))]);
        let mut gray = sim::make(id, &c).unwrap();
        assert_eq!(gray.observation_space().shape(), &[210, 160]);
        assert_eq!(rgb.observation_space().shape(), &[210, 160, 3]);
        rgb.reset(Some(3)).unwrap();
        gray.reset(Some(3)).unwrap();
        for i in 0..200 {
            let a = Action::Discrete([1, 2, 3, 0][i % 4]);
            let s = rgb.step(a).unwrap();
            let (sr, done) = (s.obs.as_u8().unwrap().to_vec(), s.done());
            let sg = gray.step(a).unwrap().obs.as_u8().unwrap().to_vec();
            let mut want = vec![0; sg.len()];
            sim::preprocess::rgb_to_gray(&sr, &mut want);
            assert_eq!(sg, want, "{id} step {i}");
            if i % 25 == 0 {
                // The gray env draws its RGB picture only when asked, from whatever it last
                // drew: it must still equal the RGB env's step-by-step observation.
                assert_eq!(gray.render().data, &sr[..], "{id} step {i}: render");
            }
            if done {
                break;
            }
        }
        assert_eq!(gray.render().data, rgb.render().data, "{id}: render is RGB");
    }
}

#[test]
fn bad_options_are_rejected_naming_the_option() {
    let cases = [
        ("frameskip", toml::Value::Integer(0), "1..=1000"),
        (
            "repeat_action_probability",
            toml::Value::Float(1.5),
            "[0, 1]",
        ),
        (
            "obs_type",
            toml::Value::String("bgr".into()),
            "rgb, grayscale",
        ),
    ];
    for id in ["Pong-v0", "Breakout-v0"] {
        for (k, v, allowed) in &cases {
            let err = sim::make(id, &cfg(&[(k, v.clone())])).err().unwrap();
            assert!(
                matches!(&err, SimError::BadOptionValue { option, .. } if option == k),
                "{err}"
            );
            let msg = err.to_string();
            assert!(msg.contains(id) && msg.contains(allowed), "{msg}");
        }
        let err = sim::make(
            id,
            &cfg(&[("full_action_space", toml::Value::Boolean(true))]),
        )
        .err()
        .unwrap();
        assert!(matches!(err, SimError::BadOptions { .. }), "{err}");
        let mut env = sim::make(id, &EnvConfig::new()).unwrap();
        assert!(matches!(
            env.step(Action::Discrete(0)),
            Err(SimError::NeedsReset { .. })
        ));
        env.reset(Some(0)).unwrap();
        let n = env.action_space().n().unwrap() as i64;
        let err = env.step(Action::Discrete(n)).err().unwrap();
        assert!(err.to_string().contains(&format!("0..{n}")), "{err}");
    }
}

#[test]
fn defaults_follow_ale_v5() {
    assert_eq!(
        ArcadeOptions::default(),
        ArcadeOptions {
            frameskip: 4,
            repeat_action_probability: 0.25,
            max_num_frames_per_episode: 108_000,
            obs_type: "rgb".into()
        }
    );
    let mut env = sim::make("Breakout-v0", &EnvConfig::new()).unwrap();
    let (_, info) = env.reset(Some(0)).unwrap();
    assert_eq!(info.lives, 5);
    let s = env.step(Action::Discrete(0)).unwrap();
    assert_eq!(s.info.episode_frame_number, 4);
    assert_eq!(
        env.action_meanings().unwrap(),
        &["NOOP", "FIRE", "RIGHT", "LEFT"]
    );
}
