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
