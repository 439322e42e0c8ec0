//! Replay fed from a real `VecEnv` (next-step autoreset): terminal transitions are marked,
//! autoreset observations never appear as transitions, and the stored next observation is
//! the env's.

use agents::replay::{Batch, ReplayBuffer, ReplayConfig};
use rand::{Rng, SeedableRng};
use sim::Obs;
use sim::vec_env::{BatchActions, VecEnv};

#[test]
fn cartpole_terminals_and_autoresets_are_stored_right() {
    let n = 2;
    let mut venv = VecEnv::make("CartPole-v1", &Default::default(), n, 1).unwrap();
    let mut replay = ReplayBuffer::<f32>::new(ReplayConfig {
        capacity: 20_000,
        stack: 1,
        plane_len: 4,
        num_envs: n,
        gamma: 0.99,
        n_step: 1,
    })
    .unwrap();
    venv.reset(Some(3)).unwrap();
    for i in 0..n {
        replay
            .start_episode(i, Obs::F32(&venv.obs_f32()[i * 4..(i + 1) * 4]))
            .unwrap();
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut prev_done = vec![false; n];
    let mut actions = vec![0i64; n];
    let (mut steps, mut ends) = (0usize, 0usize);
    for _ in 0..3000 {
        for a in actions.iter_mut() {
            *a = rng.random_range(0..2);
        }
        venv.step(BatchActions::Discrete(&actions)).unwrap();
        for i in 0..n {
            let obs = Obs::F32(&venv.obs_f32()[i * 4..(i + 1) * 4]);
            let (term, trunc) = (venv.terminated()[i], venv.truncated()[i]);
            if prev_done[i] {
                replay.start_episode(i, obs).unwrap();
            } else {
                replay
                    .push(i, actions[i], venv.rewards()[i], term, trunc, obs)
                    .unwrap();
                steps += 1;
                ends += term as usize;
            }
            prev_done[i] = term || trunc;
        }
    }
    let mut batch = Batch::new(4000, 4);
    replay.sample(&mut rng, &mut batch).unwrap();
    let terminal = batch.discounts.iter().filter(|d| **d == 0.0).count() as f64 / 4000.0;
    let expect = ends as f64 / steps as f64;
    assert!(
        expect > 0.02,
        "random CartPole episodes are short: {expect}"
    );
    assert!(
        (terminal - expect).abs() < 0.02,
        "terminal fraction {terminal}, expected {expect}"
    );
    for r in 0..4000 {
        assert_eq!(batch.returns[r], 1.0, "CartPole pays 1 per step");
        let d = batch.discounts[r];
        assert!(d == 0.0 || (d - 0.99).abs() < 1e-6);
        // A terminal next state is outside the thresholds (|x| > 2.4 or |theta| > 0.2095).
        if d == 0.0 {
            let s = &batch.next_obs[r * 4..(r + 1) * 4];
            assert!(s[0].abs() > 2.4 || s[2].abs() > 0.2094, "{s:?}");
        }
    }
}

/// Frames stored once and restacked by index give back the frame-stack wrapper's
/// observations byte for byte, across episode ends (Pong with Atari preprocessing).
#[test]
fn atari_stacks_rebuilt_by_index_equal_the_wrappers_observations() {
    let cfg = sim::preprocess::AtariPreprocessingConfig::default();
    let mut env =
        agents::train::build_env("Pong-v0", &Default::default(), Some(&cfg), false).unwrap();
    let shape = env.observation_space().shape().to_vec();
    assert_eq!(shape, vec![4, 84, 84]);
    let obs_len = 4 * 84 * 84;
    let mut replay = ReplayBuffer::<u8>::new(ReplayConfig {
        capacity: 5000,
        stack: 4,
        plane_len: 84 * 84,
        num_envs: 1,
        gamma: 0.99,
        n_step: 1,
    })
    .unwrap();
    let (obs, _) = env.reset(Some(5)).unwrap();
    replay.start_episode(0, obs).unwrap();
    // Remember (slot of obs, obs bytes, next obs bytes) for every transition.
    let mut expected: Vec<(u64, Vec<u8>, Vec<u8>)> = Vec::new();
    let mut slot = 3u64; // the reset obs sits after 3 padding planes
    let mut prev = env.obs().as_u8().unwrap().to_vec();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut episodes = 0;
    for _ in 0..1200 {
        let a = rng.random_range(0..6);
        let step = env.step(sim::Action::Discrete(a)).unwrap();
        let (term, trunc) = (step.terminated, step.truncated);
        let next = step.obs.as_u8().unwrap().to_vec();
        replay
            .push(0, a, step.reward, term, trunc, Obs::U8(&next))
            .unwrap();
        expected.push((slot, prev.clone(), next.clone()));
        slot += 1;
        prev = next;
        if term || trunc {
            episodes += 1;
            let (obs, _) = env.reset(None).unwrap();
            replay.start_episode(0, obs).unwrap();
            prev = obs.as_u8().unwrap().to_vec();
            slot += 4;
        }
    }
    let mut batch = Batch::new(1, obs_len);
    for (s, obs, next) in expected.iter().step_by(7) {
        assert!(replay.fill_row(0, *s, &mut batch, 0), "slot {s}");
        assert!(batch.obs == *obs, "obs at slot {s} differs");
        assert!(batch.next_obs == *next, "next obs at slot {s} differs");
    }
    assert!(episodes >= 1, "the run must cross an episode boundary");
}
