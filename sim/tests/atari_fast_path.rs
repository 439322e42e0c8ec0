//! The native Atari-preprocessing fast path of the arcade games must be indistinguishable
//! from the wrapped chain `Resize(MaxAndSkip(NoopReset(game, frameskip 1)))`: the same
//! observation bytes, rewards, flags and infos over long random rollouts, with sticky
//! actions, through life losses, episode ends (game over and frame cap) and resets.

use rand::Rng;
use sim::arcade::native_preprocessed;
use sim::preprocess::AtariPreprocessingConfig;
use sim::seeding::rng_from_seed;
use sim::wrappers::make_atari_wrapped;
use sim::{Action, Env, EnvConfig};

/// The inner part of the preset only: no stack, no episodic life, no clipping.
fn inner(cfg: &AtariPreprocessingConfig) -> AtariPreprocessingConfig {
    AtariPreprocessingConfig {
        frame_stack: 1,
        terminal_on_life_loss: false,
        clip_reward: false,
        ..cfg.clone()
    }
}

/// Step both envs with the same random actions; compare everything. Returns
/// (episodes ended, life losses seen, truncations seen).
fn compare(
    id: &str,
    env_options: &EnvConfig,
    cfg: &AtariPreprocessingConfig,
    seed: u64,
    steps: usize,
) -> (u32, u32, u32) {
    let cfg = inner(cfg);
    let mut native = native_preprocessed(id, env_options, &cfg)
        .expect("an arcade game")
        .unwrap();
    let mut wrapped = make_atari_wrapped(id, env_options, &cfg).unwrap();
    assert_eq!(
        native.observation_space(),
        wrapped.observation_space(),
        "{id}"
    );
    assert_eq!(native.action_space(), wrapped.action_space());
    assert_eq!(native.action_meanings(), wrapped.action_meanings());
    let n = native.action_space().n().unwrap();
    let mut rng = rng_from_seed(seed ^ 0xabcd);
    let (mut episodes, mut losses, mut truncations) = (0, 0, 0);
    let ctx = |t: usize| format!("{id} seed {seed} step {t} cfg {cfg:?}");

    let (o1, i1) = native.reset(Some(seed)).unwrap();
    let o1 = o1.as_u8().unwrap().to_vec();
    let (o2, i2) = wrapped.reset(Some(seed)).unwrap();
    assert_eq!(o1, o2.as_u8().unwrap(), "{} reset obs", ctx(0));
    assert_eq!(i1, i2, "{} reset info", ctx(0));
    let mut lives = i1.lives;
    for t in 1..=steps {
        // Favour FIRE a little so Breakout serves and loses lives often.
        let a = if rng.random_bool(0.2) {
            1
        } else {
            rng.random_range(0..n)
        } as i64;
        let s1 = native.step(Action::Discrete(a)).unwrap();
        let (obs1, r1, term1, trunc1, info1) = (
            s1.obs.as_u8().unwrap().to_vec(),
            s1.reward,
            s1.terminated,
            s1.truncated,
            s1.info,
        );
        let s2 = wrapped.step(Action::Discrete(a)).unwrap();
        assert_eq!(obs1, s2.obs.as_u8().unwrap(), "{} obs", ctx(t));
        assert_eq!(
            (r1, term1, trunc1),
            (s2.reward, s2.terminated, s2.truncated),
            "{}",
            ctx(t)
        );
        assert_eq!(info1, s2.info, "{} info", ctx(t));
        if info1.lives < lives {
            losses += 1;
        }
        lives = info1.lives;
        if t % 97 == 0 {
            assert_eq!(
                native.render().data,
                wrapped.render().data,
                "{} render",
                ctx(t)
            );
        }
        if term1 || trunc1 {
            episodes += 1;
            truncations += trunc1 as u32;
            // Alternate between continuing the streams and reseeding.
            let reseed = (episodes % 3 == 0).then_some(seed + episodes as u64);
            let (o1, i1) = native.reset(reseed).unwrap();
            let o1 = o1.as_u8().unwrap().to_vec();
            let (o2, i2) = wrapped.reset(reseed).unwrap();
            assert_eq!(o1, o2.as_u8().unwrap(), "{} reset obs", ctx(t));
            assert_eq!(i1, i2, "{} reset info", ctx(t));
            lives = i1.lives;
        }
    }
    assert_eq!(native.obs(), wrapped.obs());
    (episodes, losses, truncations)
}

fn opts(pairs: &[(&str, toml::Value)]) -> EnvConfig {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[test]
fn pong_default_preprocessing_matches_the_wrapped_chain() {
    let cfg = AtariPreprocessingConfig::default();
    let mut episodes = 0;
    for seed in 0..3 {
        // A short frame cap makes episodes end (truncated) many times in the rollout.
        let o = opts(&[(
            "max_num_frames_per_episode",
            toml::Value::Integer(700 + 131 * seed as i64),
        )]);
        episodes += compare("Pong-v0", &o, &cfg, seed, 800).0;
    }
    assert!(
        episodes >= 6,
        "rollouts must cross episode ends, got {episodes}"
    );
    // Full games (terminated at 21) with the default cap.
    let (episodes, _, truncations) = compare("Pong-v0", &EnvConfig::new(), &cfg, 11, 700);
    assert!(
        episodes >= 1 && truncations == 0,
        "a random agent loses a whole game"
    );
}

#[test]
fn breakout_default_preprocessing_matches_through_life_losses_and_game_overs() {
    let cfg = AtariPreprocessingConfig::default();
    let (mut episodes, mut losses) = (0, 0);
    for seed in 0..4 {
        let (e, l, _) = compare("Breakout-v0", &EnvConfig::new(), &cfg, seed, 800);
        episodes += e;
        losses += l;
    }
    assert!(
        episodes >= 8 && losses >= 30,
        "episodes {episodes}, life losses {losses}"
    );
}

#[test]
fn other_skips_sizes_rgb_and_no_sticky_actions_match_too() {
    let configs = [
        AtariPreprocessingConfig {
            frame_skip: 1,
            noop_max: 0,
            ..Default::default()
        },
        AtariPreprocessingConfig {
            frame_skip: 2,
            screen_size: 64,
            noop_max: 5,
            ..Default::default()
        },
        AtariPreprocessingConfig {
            frame_skip: 3,
            screen_size: 100,
            ..Default::default()
        },
        AtariPreprocessingConfig {
            grayscale_obs: false,
            screen_size: 42,
            ..Default::default()
        },
    ];
    for (i, cfg) in configs.iter().enumerate() {
        for id in ["Pong-v0", "Breakout-v0"] {
            let p = if i % 2 == 0 { 0.0 } else { 0.25 };
            let o = opts(&[
                ("repeat_action_probability", toml::Value::Float(p)),
                ("max_num_frames_per_episode", toml::Value::Integer(500)),
            ]);
            let (episodes, _, _) = compare(id, &o, cfg, 40 + i as u64, 500);
            assert!(episodes >= 1, "{id} {cfg:?}");
        }
    }
}

#[test]
fn native_path_is_only_offered_for_arcade_games() {
    let cfg = AtariPreprocessingConfig::default();
    assert!(native_preprocessed("CartPole-v1", &EnvConfig::new(), &cfg).is_none());
    let bad = opts(&[("repeat_action_probability", toml::Value::Float(2.0))]);
    let err = native_preprocessed("Pong-v0", &bad, &cfg)
        .unwrap()
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("repeat_action_probability"),
        "{err}"
    );
    // Stepping before reset is refused like the wrapped chain does.
    let mut env = native_preprocessed("Breakout-v0", &EnvConfig::new(), &cfg)
        .unwrap()
        .unwrap();
    assert!(matches!(
        env.step(Action::Discrete(0)),
        Err(sim::SimError::NeedsReset { .. })
    ));
}
