//! Our CartPole-v1 against Gymnasium's, trajectory by trajectory.
//!
//! `fixtures/cartpole_v1.json` was written by `fixtures/gen_cartpole.py` with Gymnasium
//! (version recorded in the file). Gymnasium draws the initial state from its own RNG, so
//! each episode starts from the recorded state; then every recorded action is replayed and
//! every state and observation must agree within 1e-6, every reward and flag exactly.

use serde::Deserialize;
use sim::classic::cartpole::{self, CartPole, CartPoleOptions};
use sim::{Action, Env, SimError, Space};

const TOLERANCE: f64 = 1e-6;

#[derive(Deserialize)]
struct Fixture {
    gymnasium_version: String,
    env_id: String,
    max_episode_steps: u64,
    obs_high_x: f64,
    obs_high_theta: f64,
    velocity_bounds_infinite: bool,
    episodes: Vec<Episode>,
}

#[derive(Deserialize)]
struct Episode {
    policy: String,
    seed: u64,
    initial_state: [f64; 4],
    initial_obs: [f32; 4],
    actions: Vec<i64>,
    states: Vec<[f64; 4]>,
    obs: Vec<[f32; 4]>,
    rewards: Vec<f32>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
}

fn fixture() -> Fixture {
    serde_json::from_str(include_str!("fixtures/cartpole_v1.json")).expect("fixture parses")
}

fn max_abs_diff<A: Copy + Into<f64>>(a: [A; 4], b: [A; 4]) -> f64 {
    a.iter()
        .zip(&b)
        .map(|(&x, &y)| (x.into() - y.into()).abs())
        .fold(0.0, f64::max)
}

#[test]
fn replayed_actions_match_gymnasium_states_rewards_and_flags() {
    let fx = fixture();
    assert_eq!(fx.env_id, cartpole::ID);
    let mut worst: f64 = 0.0;
    for ep in &fx.episodes {
        let name = format!("episode {} (seed {})", ep.policy, ep.seed);
        let n = ep.actions.len();
        for len in [ep.states.len(), ep.obs.len(), ep.rewards.len()] {
            assert_eq!(len, n, "{name}: malformed fixture");
        }
        let mut env = CartPole::new(CartPoleOptions::default()).unwrap();
        let obs: [f32; 4] = env
            .reset_to_state(ep.initial_state)
            .unwrap()
            .as_f32()
            .unwrap()
            .try_into()
            .unwrap();
        assert!(
            max_abs_diff(obs, ep.initial_obs) <= TOLERANCE,
            "{name}: initial obs"
        );
        for t in 0..n {
            let step = env.step(Action::Discrete(ep.actions[t])).unwrap();
            let obs: [f32; 4] = step.obs.as_f32().unwrap().try_into().unwrap();
            let (reward, terminated, truncated) = (step.reward, step.terminated, step.truncated);
            let state = env.state();
            let err = max_abs_diff(state, ep.states[t]);
            worst = worst.max(err);
            assert!(
                err <= TOLERANCE,
                "{name} step {}: state {state:?} vs gymnasium {:?}",
                t + 1,
                ep.states[t]
            );
            assert!(
                max_abs_diff(obs, ep.obs[t]) <= TOLERANCE,
                "{name} step {}: obs {obs:?} vs gymnasium {:?}",
                t + 1,
                ep.obs[t]
            );
            assert_eq!(reward, ep.rewards[t], "{name} step {}: reward", t + 1);
            assert_eq!(
                terminated,
                ep.terminated[t],
                "{name} step {}: terminated",
                t + 1
            );
            assert_eq!(
                truncated,
                ep.truncated[t],
                "{name} step {}: truncated",
                t + 1
            );
        }
        // Gymnasium would only warn here; we refuse.
        assert!(
            matches!(
                env.step(Action::Discrete(0)),
                Err(SimError::NeedsReset { .. })
            ),
            "{name}: step after the end must need a reset"
        );
    }
    eprintln!(
        "CartPole-v1 vs Gymnasium {}: {} episodes, largest state difference {worst:e}",
        fx.gymnasium_version,
        fx.episodes.len()
    );
}

/// The fixture must exercise every way an episode ends, or the replay proves less than
/// it seems to.
#[test]
fn fixture_covers_truncation_and_both_termination_thresholds() {
    let fx = fixture();
    let last = |ep: &Episode| *ep.states.last().unwrap();
    let truncated_at_cap = fx
        .episodes
        .iter()
        .any(|ep| *ep.truncated.last().unwrap() && ep.actions.len() as u64 == fx.max_episode_steps);
    let off_track = fx
        .episodes
        .iter()
        .any(|ep| *ep.terminated.last().unwrap() && last(ep)[0].abs() > cartpole::X_THRESHOLD);
    let pole_fell = fx.episodes.iter().any(|ep| {
        *ep.terminated.last().unwrap() && last(ep)[2].abs() > cartpole::THETA_THRESHOLD_RADIANS
    });
    assert!(truncated_at_cap && off_track && pole_fell);
    assert_eq!(fx.max_episode_steps, cartpole::DEFAULT_MAX_EPISODE_STEPS);
}

#[test]
fn observation_space_bounds_equal_gymnasium() {
    let fx = fixture();
    let env = CartPole::new(CartPoleOptions::default()).unwrap();
    let Space::Box {
        shape, low, high, ..
    } = env.observation_space()
    else {
        panic!("CartPole observation space must be a Box");
    };
    assert_eq!(shape, &[4]);
    assert_eq!(high[0] as f64, fx.obs_high_x);
    assert_eq!(high[2] as f64, fx.obs_high_theta);
    assert!(fx.velocity_bounds_infinite);
    assert!(high[1].is_infinite() && high[3].is_infinite());
    for (l, h) in low.iter().zip(high) {
        assert_eq!(*l, -*h);
    }
    assert_eq!(env.action_space(), &Space::Discrete { n: 2 });
}
