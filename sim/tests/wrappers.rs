//! Wrapper tests against hand-computed frames.
//!
//! `Script` is a 4x4 RGB env whose pixels encode the step counter `t`: pixel (row r, column c),
//! channel ch is `base(t, c) + 3 r + ch`, where `base` is `10 t` on columns with `c + t` even
//! and `200 - 10 t` on the others. Two consecutive frames differ in opposite directions on
//! alternate columns, so a max-pool differs from either frame, and the luma of
//! `(v, v + 1, v + 2)` is exactly `v + 1`. Rewards are `(t - 3) / 2 + 10 * action`, lives
//! drop every `life_every` steps, and the episode is truncated at `max_t`.

use sim::wrappers::{
    ClipReward, EpisodeRecord, EpisodicLife, FrameStack, Grayscale, MaxAndSkip, NoopReset,
    RecordEpisode, RecordEpisodeStatistics, Resize, TimeLimit, make_atari, make_atari_wrapped,
    replay,
};
use sim::{
    Action, DType, Env, EnvConfig, EpisodeStats, Frame, Info, Obs, SimError, Space, Step,
    preprocess::AtariPreprocessingConfig,
};

const NOOP: Action<'static> = Action::Discrete(0);

fn base(t: u64, c: usize) -> u8 {
    let t = t as usize;
    if (c + t).is_multiple_of(2) {
        (10 * t) as u8
    } else {
        (200 - 10 * t) as u8
    }
}

fn script_frame(t: u64, buf: &mut [u8]) {
    for r in 0..4 {
        for c in 0..4 {
            for ch in 0..3 {
                buf[(r * 4 + c) * 3 + ch] = base(t, c) + 3 * r as u8 + ch as u8;
            }
        }
    }
}

struct Script {
    obs_space: Space,
    act_space: Space,
    t: u64,
    lives: u32,
    start_lives: u32,
    life_every: u64,
    max_t: u64,
    running: bool,
    buf: Vec<u8>,
    /// Every action received, and every reset's seed, for assertions.
    actions: Vec<i64>,
    resets: Vec<Option<u64>>,
}

impl Script {
    fn new(start_lives: u32, life_every: u64, max_t: u64) -> Self {
        assert!(max_t <= 20, "pixel values stay in u8 up to t = 20");
        Self {
            obs_space: Space::image(&[4, 4, 3]),
            act_space: Space::Discrete { n: 2 },
            t: 0,
            lives: start_lives,
            start_lives,
            life_every,
            max_t,
            running: false,
            buf: vec![0; 48],
            actions: vec![],
            resets: vec![],
        }
    }
    fn info(&self) -> Info {
        Info {
            lives: self.lives,
            episode_frame_number: self.t,
            ..Default::default()
        }
    }
}

impl Env for Script {
    fn id(&self) -> &str {
        "Script-v0"
    }
    fn observation_space(&self) -> &Space {
        &self.obs_space
    }
    fn action_space(&self) -> &Space {
        &self.act_space
    }
    fn reset(&mut self, seed: Option<u64>) -> sim::Result<(Obs<'_>, Info)> {
        self.resets.push(seed);
        self.t = 0;
        self.lives = self.start_lives;
        self.running = true;
        script_frame(0, &mut self.buf);
        Ok((Obs::U8(&self.buf), self.info()))
    }
    fn step(&mut self, action: Action<'_>) -> sim::Result<Step<'_>> {
        if !self.running {
            return Err(SimError::NeedsReset {
                id: "Script-v0".into(),
                when: "after the episode ended",
            });
        }
        let a = sim::env::check_discrete("Script-v0", &self.act_space, action)? as i64;
        self.actions.push(a);
        self.t += 1;
        let mut terminated = false;
        if self.life_every > 0 && self.t.is_multiple_of(self.life_every) {
            self.lives -= 1;
            terminated = self.lives == 0;
        }
        let truncated = !terminated && self.t >= self.max_t;
        self.running = !(terminated || truncated);
        script_frame(self.t, &mut self.buf);
        Ok(Step {
            obs: Obs::U8(&self.buf),
            reward: (self.t as f32 - 3.0) / 2.0 + 10.0 * a as f32,
            terminated,
            truncated,
            info: self.info(),
        })
    }
    fn obs(&self) -> Obs<'_> {
        Obs::U8(&self.buf)
    }
    fn render(&mut self) -> Frame<'_> {
        Frame {
            height: 4,
            width: 4,
            channels: 3,
            data: &self.buf,
        }
    }
    fn action_meanings(&self) -> Option<&'static [&'static str]> {
        Some(&["NOOP", "FIRE"])
    }
}

fn u8s(obs: Obs<'_>) -> Vec<u8> {
    obs.as_u8().expect("u8 observation").to_vec()
}

/// Rows of RGB pixels, each pixel `(v, v+1, v+2)` from its red value.
fn rgb_rows(reds: [[u8; 4]; 4]) -> Vec<u8> {
    reds.iter()
        .flatten()
        .flat_map(|&v| [v, v + 1, v + 2])
        .collect()
}

#[test]
fn scripted_frames_are_as_described() {
    let mut env = Script::new(0, 0, 20);
    let (obs, _) = env.reset(Some(0)).unwrap();
    assert_eq!(
        u8s(obs),
        rgb_rows([
            [0, 200, 0, 200],
            [3, 203, 3, 203],
            [6, 206, 6, 206],
            [9, 209, 9, 209]
        ])
    );
}

#[test]
fn max_and_skip_pools_the_last_two_frames_and_sums_rewards() {
    let mut env = MaxAndSkip::new(Script::new(0, 0, 20), 4).unwrap();
    let (obs, _) = env.reset(Some(0)).unwrap();
    // After reset: the reset frame itself.
    assert_eq!(
        u8s(obs),
        rgb_rows([
            [0, 200, 0, 200],
            [3, 203, 3, 203],
            [6, 206, 6, 206],
            [9, 209, 9, 209]
        ])
    );
    let s = env.step(NOOP).unwrap();
    // Frame 3 has 170 on even columns and 30 on odd ones, frame 4 has 40 and 160:
    // the max takes 170 from frame 3 and 160 from frame 4.
    assert_eq!(
        u8s(s.obs),
        rgb_rows([
            [170, 160, 170, 160],
            [173, 163, 173, 163],
            [176, 166, 176, 166],
            [179, 169, 179, 169]
        ])
    );
    // Rewards of inner steps 1..=4: -1, -0.5, 0, 0.5.
    assert_eq!(s.reward, -1.0);
    assert_eq!(s.info.episode_frame_number, 4);
    assert_eq!(env.inner().actions, [0, 0, 0, 0]);
    // Frames 7 and 8: 130/70 and 80/120.
    let s = env.step(Action::Discrete(1)).unwrap();
    assert_eq!(
        &u8s(s.obs)[..12],
        &rgb_rows([[130, 120, 130, 120]; 4])[..12]
    );
    assert_eq!(s.reward, 1.0 + 1.5 + 2.0 + 2.5 + 40.0);
}

#[test]
fn max_and_skip_early_stop_returns_the_terminal_frame() {
    // Truncated at inner step 10: the third agent step stops after 2 of its 4 repeats.
    let mut env = MaxAndSkip::new(Script::new(0, 0, 10), 4).unwrap();
    env.reset(Some(0)).unwrap();
    env.step(NOOP).unwrap();
    env.step(NOOP).unwrap();
    let s = env.step(NOOP).unwrap();
    assert!(s.truncated && !s.terminated);
    assert_eq!(s.reward, 3.0 + 3.5);
    assert_eq!(s.info.episode_frame_number, 10);
    // Frame 10 alone (100 on every column), not pooled with frame 9.
    assert_eq!(
        u8s(s.obs),
        rgb_rows([
            [100, 100, 100, 100],
            [103, 103, 103, 103],
            [106, 106, 106, 106],
            [109, 109, 109, 109]
        ])
    );
    assert_eq!(env.inner().actions.len(), 10);
    assert!(matches!(env.step(NOOP), Err(SimError::NeedsReset { .. })));
}

#[test]
fn grayscale_then_resize_values() {
    let mut env = Grayscale::new(MaxAndSkip::new(Script::new(0, 0, 20), 4).unwrap()).unwrap();
    assert_eq!(env.observation_space(), &Space::image(&[4, 4]));
    env.reset(Some(0)).unwrap();
    let s = env.step(NOOP).unwrap();
    // luma(v, v+1, v+2) = v + 1 on the pooled frame above.
    #[rustfmt::skip]
    let want = [
        171, 161, 171, 161,
        174, 164, 174, 164,
        177, 167, 177, 167,
        180, 170, 180, 170,
    ];
    assert_eq!(u8s(s.obs), want);

    let mut env = Resize::new(
        Grayscale::new(MaxAndSkip::new(Script::new(0, 0, 20), 4).unwrap()).unwrap(),
        2,
        2,
    )
    .unwrap();
    assert_eq!(env.observation_space(), &Space::image(&[2, 2]));
    let space = env.observation_space().clone();
    env.reset(Some(0)).unwrap();
    let s = env.step(NOOP).unwrap();
    // 2x2 block means, rounded half up: (171+161+174+164)/4 = 167.5 -> 168,
    // (177+167+180+170)/4 = 173.5 -> 174.
    assert_eq!(u8s(s.obs), [168, 168, 174, 174]);
    assert!(space.contains_obs(s.obs));
}

#[test]
fn resize_rgb_per_channel_and_keep_dim_gray() {
    let mut env = Resize::new(Script::new(0, 0, 20), 1, 2).unwrap();
    assert_eq!(env.observation_space(), &Space::image(&[1, 2, 3]));
    let (obs, _) = env.reset(Some(0)).unwrap();
    // Left half of the reset frame: red values 0,200 / 3,203 / 6,206 / 9,209 -> mean 104.5
    // -> 105; green and blue are +1 and +2.
    assert_eq!(u8s(obs), [105, 106, 107, 105, 106, 107]);

    let env = Grayscale::keep_dim(Script::new(0, 0, 20)).unwrap();
    assert_eq!(env.observation_space(), &Space::image(&[4, 4, 1]));
    let mut env = Resize::squeeze(env, 2, 2).unwrap();
    assert_eq!(env.observation_space(), &Space::image(&[2, 2]));
    let (obs, _) = env.reset(Some(0)).unwrap();
    // Reset gray: rows [1,201,1,201], [4,204,..], [7,207,..], [10,210,..].
    // Blocks: (1+201+4+204)/4 = 102.5 -> 103 ; (7+207+10+210)/4 = 108.5 -> 109.
    assert_eq!(u8s(obs), [103, 103, 109, 109]);
}

#[test]
fn frame_stack_is_oldest_first_and_padded_with_the_reset_frame() {
    let mut env = FrameStack::new(Grayscale::new(Script::new(0, 0, 20)).unwrap(), 3).unwrap();
    assert_eq!(env.observation_space(), &Space::image(&[3, 4, 4]));
    let space = env.observation_space().clone();
    // Gray pixel (0, 0) at step t: 10 t + 1 for even t, 201 - 10 t for odd t.
    let corners = |obs: Obs<'_>| -> Vec<u8> { u8s(obs).chunks(16).map(|p| p[0]).collect() };
    let (obs, _) = env.reset(Some(0)).unwrap();
    assert_eq!(corners(obs), [1, 1, 1]);
    let want = [
        [1, 1, 191],
        [1, 191, 21],
        [191, 21, 171],
        [21, 171, 41],
        [171, 41, 151],
    ];
    let mut planes = vec![];
    for w in want {
        let s = env.step(NOOP).unwrap();
        assert_eq!(corners(s.obs), w);
        planes.push(u8s(s.obs)[32..].to_vec());
        assert!(space.contains_obs(s.obs));
    }
    // Whole planes: the newest of each step is the middle plane one step later, then the
    // oldest.
    let s = env.step(NOOP).unwrap();
    let obs = u8s(s.obs);
    assert_eq!(&obs[..16], &planes[3][..]);
    assert_eq!(&obs[16..32], &planes[4][..]);
    // A reset refills every slot with the new first frame.
    let (obs, _) = env.reset(None).unwrap();
    assert_eq!(corners(obs), [1, 1, 1]);
    assert_eq!(u8s(env.obs()).len(), 48);
}

#[test]
fn frame_stack_of_f32_vectors() {
    let mut env = FrameStack::new(sim::make("CartPole-v1", &EnvConfig::new()).unwrap(), 2).unwrap();
    assert_eq!(env.observation_space().shape(), &[2, 4]);
    assert_eq!(env.observation_space().dtype(), Some(DType::F32));
    let (obs, _) = env.reset(Some(3)).unwrap();
    let first = obs.as_f32().unwrap().to_vec();
    assert_eq!(first[..4], first[4..]);
    let s = env.step(NOOP).unwrap();
    let stacked = s.obs.as_f32().unwrap().to_vec();
    assert_eq!(stacked[..4], first[..4]);
    assert_ne!(stacked[4..], first[..4]);
    assert_eq!(stacked[4..], env.inner().obs().as_f32().unwrap()[..]);
}

#[test]
fn episodic_life_terminates_on_life_loss_and_continues_with_a_noop() {
    // 3 lives, one lost every 3 steps: lives 2 at t=3, 1 at t=6, game over at t=9.
    let mut env = EpisodicLife::new(Script::new(3, 3, 20)).unwrap();
    let (_, info) = env.reset(Some(7)).unwrap();
    assert_eq!(info.lives, 3);
    assert!(!env.step(Action::Discrete(1)).unwrap().done());
    assert!(!env.step(Action::Discrete(1)).unwrap().done());
    let s = env.step(Action::Discrete(1)).unwrap();
    assert!(s.terminated && !s.truncated);
    assert_eq!(s.info.lives, 2);
    assert!(matches!(env.step(NOOP), Err(SimError::NeedsReset { .. })));
    // Not a game over: reset takes one NOOP step instead of resetting the game.
    let (obs, info) = env.reset(None).unwrap();
    assert_eq!(info.episode_frame_number, 4);
    assert_eq!(info.lives, 2);
    let mut frame4 = vec![0; 48];
    script_frame(4, &mut frame4);
    assert_eq!(u8s(obs), frame4);
    assert_eq!(env.inner().actions, [1, 1, 1, 0]);
    assert_eq!(env.inner().resets, [Some(7)]);
    // t=5, t=6: second life lost.
    env.step(Action::Discrete(1)).unwrap();
    assert!(env.step(Action::Discrete(1)).unwrap().terminated);
    env.reset(None).unwrap(); // NOOP: t=7
    env.step(Action::Discrete(1)).unwrap(); // t=8
    let s = env.step(Action::Discrete(1)).unwrap(); // t=9: game over
    assert!(s.terminated);
    assert_eq!(s.info.lives, 0);
    // A real game over resets the game.
    let (obs, info) = env.reset(None).unwrap();
    assert_eq!((info.lives, info.episode_frame_number), (3, 0));
    let mut frame0 = vec![0; 48];
    script_frame(0, &mut frame0);
    assert_eq!(u8s(obs), frame0);
    assert_eq!(env.inner().resets, [Some(7), None]);
}

#[test]
fn episodic_life_seeded_reset_always_restarts_the_game() {
    let mut env = EpisodicLife::new(Script::new(3, 1, 20)).unwrap();
    env.reset(Some(1)).unwrap();
    assert!(env.step(NOOP).unwrap().terminated);
    let (_, info) = env.reset(Some(2)).unwrap();
    assert_eq!((info.lives, info.episode_frame_number), (3, 0));
}

#[test]
fn clip_reward_and_unclipped_statistics_inside() {
    // Statistics inside the clip see the game's rewards; outside, the clipped ones.
    let mut inside = ClipReward::new(RecordEpisodeStatistics::new(Script::new(0, 0, 6)));
    let mut outside = RecordEpisodeStatistics::new(ClipReward::new(Script::new(0, 0, 6)));
    inside.reset(Some(0)).unwrap();
    outside.reset(Some(0)).unwrap();
    let mut rewards = vec![];
    for t in 1..=6 {
        let a = inside.step(Action::Discrete(t % 2)).unwrap();
        let b = outside.step(Action::Discrete(t % 2)).unwrap();
        assert_eq!(a.reward, b.reward);
        rewards.push(a.reward);
        if t < 6 {
            assert_eq!((a.info.episode, b.info.episode), (None, None));
        } else {
            assert!(a.truncated && b.truncated);
            // Game rewards: 9, -0.5, 10, 0.5, 11, 1.5 (actions 1,0,1,0,1,0).
            assert_eq!(
                a.info.episode,
                Some(EpisodeStats {
                    episode_return: 31.5,
                    length: 6
                })
            );
            assert_eq!(
                b.info.episode,
                Some(EpisodeStats {
                    episode_return: 4.0,
                    length: 6
                })
            );
        }
    }
    assert_eq!(rewards, [1.0, -1.0, 1.0, 1.0, 1.0, 1.0]);
}

#[test]
fn time_limit_truncates_with_a_reason() {
    let mut env = RecordEpisodeStatistics::new(TimeLimit::new(Script::new(0, 0, 20), 5).unwrap());
    for _ in 0..2 {
        env.reset(None).unwrap();
        for _ in 0..4 {
            let s = env.step(NOOP).unwrap();
            assert!(!s.done() && s.info.end_reason.is_none());
        }
        let s = env.step(NOOP).unwrap();
        assert!(s.truncated && !s.terminated);
        assert_eq!(s.info.end_reason, Some("time_limit"));
        assert_eq!(s.info.episode.map(|e| e.length), Some(5));
        assert!(matches!(env.step(NOOP), Err(SimError::NeedsReset { .. })));
    }
    // The env's own end on the same step keeps the env's flags and reason.
    let mut env = TimeLimit::new(Script::new(1, 3, 20), 3).unwrap();
    env.reset(Some(0)).unwrap();
    env.step(NOOP).unwrap();
    env.step(NOOP).unwrap();
    let s = env.step(NOOP).unwrap();
    assert!(s.terminated && s.truncated);
    assert_eq!(s.info.end_reason, None);
}

#[test]
fn noop_reset_count_is_bounded_and_follows_the_seed() {
    let mut a = NoopReset::new(Script::new(0, 0, 20), 5).unwrap();
    let mut b = NoopReset::new(Script::new(0, 0, 20), 5).unwrap();
    let mut seen = [false; 6];
    for seed in 0..60 {
        let (obs_a, info_a) = a.reset(Some(seed)).unwrap();
        let (obs_a, k) = (u8s(obs_a), info_a.episode_frame_number);
        let (obs_b, info_b) = b.reset(Some(seed)).unwrap();
        assert_eq!((k, obs_a), (info_b.episode_frame_number, u8s(obs_b)));
        assert!((1..=5).contains(&k), "{k} NOOPs");
        assert_eq!(a.last_noops() as u64, k);
        seen[k as usize] = true;
    }
    assert_eq!(
        seen,
        [false, true, true, true, true, true],
        "every count in 1..=5 occurs"
    );
    assert!(a.inner().actions.iter().all(|&x| x == 0));
    assert_eq!(a.inner().resets[..3], [Some(0), Some(1), Some(2)]);
    // `None` continues the stream: the same sequence after the same seed.
    let counts = |env: &mut NoopReset<Script>| -> Vec<u32> {
        env.reset(Some(99)).unwrap();
        (0..10)
            .map(|_| {
                env.reset(None).unwrap();
                env.last_noops()
            })
            .collect()
    };
    assert_eq!(counts(&mut a), counts(&mut b));
    let mut zero = NoopReset::new(Script::new(0, 0, 20), 0).unwrap();
    assert_eq!(zero.reset(Some(3)).unwrap().1.episode_frame_number, 0);
}

#[test]
fn noop_reset_restarts_when_the_noops_end_the_episode() {
    // Episodes last 2 steps; up to 30 NOOPs often run past that.
    let mut env = NoopReset::new(Script::new(0, 0, 2), 30).unwrap();
    let mut restarted = false;
    for seed in 0..20 {
        let (_, info) = env.reset(Some(seed)).unwrap();
        let k = env.last_noops() as u64;
        assert_eq!(info.episode_frame_number, k % 2, "seed {seed}");
        restarted |= k >= 2;
        // The episode is live: one more step works.
        env.step(NOOP).unwrap();
    }
    assert!(restarted);
}

#[test]
fn wrappers_compose_in_different_orders_on_boxed_envs() {
    let boxed = |e: Script| -> Box<dyn Env> { Box::new(e) };
    let gray_first =
        Resize::new(Grayscale::new(boxed(Script::new(0, 0, 20))).unwrap(), 2, 2).unwrap();
    let resize_first =
        Grayscale::new(Resize::new(boxed(Script::new(0, 0, 20)), 2, 2).unwrap()).unwrap();
    let skip_inside: Box<dyn Env> = Box::new(FrameStack::new(gray_first, 2).unwrap());
    let skip_outside: Box<dyn Env> = Box::new(MaxAndSkip::new(resize_first, 2).unwrap());
    let mut a = FrameStack::new(MaxAndSkip::new(skip_inside, 2).unwrap(), 1).unwrap();
    let mut b = FrameStack::new(skip_outside, 2).unwrap();
    assert_eq!(a.observation_space().shape(), &[1, 2, 2, 2]);
    assert_eq!(b.observation_space().shape(), &[2, 2, 2]);
    for env in [&mut a as &mut dyn Env, &mut b] {
        let space = env.observation_space().clone();
        let (obs, _) = env.reset(Some(0)).unwrap();
        assert!(space.contains_obs(obs));
        for _ in 0..3 {
            let s = env.step(NOOP).unwrap();
            assert!(space.contains_obs(s.obs));
            assert_eq!(s.info.episode_frame_number % 2, 0);
        }
    }
    // Episodic life, time limit and statistics stack either way round.
    let mut c = TimeLimit::new(EpisodicLife::new(Script::new(3, 2, 20)).unwrap(), 10).unwrap();
    let mut d = EpisodicLife::new(TimeLimit::new(Script::new(3, 2, 20), 10).unwrap()).unwrap();
    for env in [&mut c as &mut dyn Env, &mut d] {
        env.reset(Some(0)).unwrap();
        env.step(NOOP).unwrap();
        assert!(env.step(NOOP).unwrap().terminated);
        env.reset(None).unwrap();
    }
}

#[test]
fn incompatible_wrappers_are_refused_with_the_wrapper_and_env_named() {
    let cartpole = || sim::make("CartPole-v1", &EnvConfig::new()).unwrap();
    let catch = || sim::make("Catch-v0", &EnvConfig::new()).unwrap();
    let check = |r: sim::Result<()>, wrapper: &str, id: &str| {
        let err = r.unwrap_err();
        assert!(
            matches!(&err, SimError::IncompatibleWrapper { wrapper: w, id: i, .. } if *w == wrapper && i == id),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains(wrapper) && msg.contains(id), "{msg}");
    };
    check(
        Grayscale::new(cartpole()).map(drop),
        "Grayscale",
        "CartPole-v1",
    );
    check(
        Resize::new(cartpole(), 2, 2).map(drop),
        "Resize",
        "CartPole-v1",
    );
    check(
        MaxAndSkip::new(cartpole(), 4).map(drop),
        "MaxAndSkip",
        "CartPole-v1",
    );
    // Catch frames have one channel, and its action 0 is LEFT, not NOOP.
    check(Grayscale::new(catch()).map(drop), "Grayscale", "Catch-v0");
    check(
        NoopReset::new(catch(), 30).map(drop),
        "NoopReset",
        "Catch-v0",
    );
    check(
        EpisodicLife::new(catch()).map(drop),
        "EpisodicLife",
        "Catch-v0",
    );
    // Grayscale of a stacked observation makes no sense.
    let stacked = FrameStack::new(Script::new(0, 0, 20), 2).unwrap();
    check(Grayscale::new(stacked).map(drop), "Grayscale", "Script-v0");
    // Resizing a stack of gray frames would take `[k, H, W]` for an image of W channels.
    let gray = Resize::new(Grayscale::new(Script::new(0, 0, 20)).unwrap(), 6, 6).unwrap();
    let gray_stack = FrameStack::new(gray, 4).unwrap();
    check(
        Resize::new(gray_stack, 2, 2).map(drop),
        "Resize",
        "Script-v0",
    );
    // Zero sizes are errors, not panics.
    assert!(MaxAndSkip::new(Script::new(0, 0, 20), 0).is_err());
    assert!(FrameStack::new(Script::new(0, 0, 20), 0).is_err());
    assert!(TimeLimit::new(Script::new(0, 0, 20), 0).is_err());
    assert!(Resize::new(Script::new(0, 0, 20), 0, 4).is_err());
}

fn record_catch(seed: u64, episodes: usize) -> EpisodeRecord {
    let mut opts = EnvConfig::new();
    opts.insert("rows".into(), toml::Value::Integer(6));
    let mut env = RecordEpisode::new(sim::make("Catch-v0", &opts).unwrap(), opts.clone());
    let mut policy = sim::RandomPolicy::new(env.action_space().clone(), seed);
    use sim::Policy;
    for e in 0..episodes {
        let (mut obs, _) = env.reset(if e == 0 { Some(seed) } else { None }).unwrap();
        let mut owned = u8s(obs);
        loop {
            let a = policy.act(Obs::U8(&owned)).unwrap();
            let s = env.step(a.as_action()).unwrap();
            obs = s.obs;
            owned = u8s(obs);
            if s.done() {
                break;
            }
        }
    }
    env.into_record()
}

#[test]
fn recorder_round_trip_and_replay() {
    let rec = record_catch(11, 3);
    assert_eq!(rec.env_id, "Catch-v0");
    assert_eq!(rec.episodes.len(), 3);
    assert_eq!(rec.episodes[0].seed, Some(11));
    assert_eq!(rec.episodes[1].seed, None);
    assert!(
        rec.episodes
            .iter()
            .all(|e| e.len() == 5 && *e.terminated.last().unwrap())
    );
    let dir = std::env::temp_dir().join(format!("pixelgym-wrappers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("catch.json");
    rec.save(&path).unwrap();
    let loaded = EpisodeRecord::load(&path).unwrap();
    assert_eq!(loaded, rec);
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    let report = replay(&loaded).unwrap();
    assert!(report.matches(), "{:?}", report.mismatch);
    assert_eq!((report.episodes, report.steps), (3, 15));

    // A tampered reward is reported at its step.
    let mut bad = loaded.clone();
    bad.episodes[1].rewards[4] += 1.0;
    let m = replay(&bad).unwrap().mismatch.unwrap();
    assert_eq!((m.episode, m.step, m.field), (1, 5, "reward"));
    assert!(m.to_string().contains("episode 1, step 5: reward"), "{m}");
    // A changed action moves the paddle: the observation differs right there.
    let mut bad = loaded.clone();
    let a = &mut bad.episodes[2].actions[1];
    *a = match a {
        sim::wrappers::RecordedAction::Discrete(0) => sim::wrappers::RecordedAction::Discrete(2),
        _ => sim::wrappers::RecordedAction::Discrete(0),
    };
    let m = replay(&bad).unwrap().mismatch.unwrap();
    assert_eq!((m.episode, m.step, m.field), (2, 2, "observation"));
    // Another seed gives another episode.
    let mut bad = loaded.clone();
    bad.episodes[0].seed = Some(12);
    assert!(!replay(&bad).unwrap().matches());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn record_load_errors_name_the_file() {
    let dir = std::env::temp_dir().join(format!("pixelgym-wrappers-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("missing.json");
    let err = EpisodeRecord::load(&missing).unwrap_err().to_string();
    assert!(err.contains("missing.json"), "{err}");
    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, "{\"format\": 1, \"env_id\": 3}").unwrap();
    let err = EpisodeRecord::load(&garbage).unwrap_err().to_string();
    assert!(
        err.contains("garbage.json") && err.contains("line 1"),
        "{err}"
    );
    let mut rec = record_catch(1, 1);
    rec.episodes[0].rewards.pop();
    let short = dir.join("short.json");
    rec.save(&short).unwrap();
    let err = EpisodeRecord::load(&short).unwrap_err().to_string();
    assert!(
        err.contains("short.json") && err.contains("episode 0"),
        "{err}"
    );
    // An unseeded first episode cannot be replayed, and says so.
    let mut rec = record_catch(1, 1);
    rec.episodes[0].seed = None;
    assert!(replay(&rec).unwrap_err().to_string().contains("seed"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn continuous_actions_round_trip_through_json() {
    let a = sim::wrappers::RecordedAction::from_action(Action::Continuous(&[0.25, -1.5]));
    let json = serde_json::to_string(&a).unwrap();
    assert_eq!(json, "[0.25,-1.5]");
    let back: sim::wrappers::RecordedAction = serde_json::from_str(&json).unwrap();
    assert_eq!(back.as_action(), Action::Continuous(&[0.25, -1.5]));
    let d: sim::wrappers::RecordedAction = serde_json::from_str("3").unwrap();
    assert_eq!(d.as_action(), Action::Discrete(3));
}

#[test]
fn atari_preset_refuses_contradicting_options() {
    let cfg = AtariPreprocessingConfig::default();
    let mut opts = EnvConfig::new();
    opts.insert("frameskip".into(), toml::Value::Integer(4));
    let err = make_atari("Pong-v0", &opts, &cfg)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("frameskip"), "{err}");
    let mut opts = EnvConfig::new();
    opts.insert("obs_type".into(), toml::Value::String("rgb".into()));
    let err = make_atari_wrapped("Pong-v0", &opts, &cfg)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("obs_type"), "{err}");
    let bad = AtariPreprocessingConfig {
        frame_stack: 0,
        ..Default::default()
    };
    let err = make_atari("Pong-v0", &EnvConfig::new(), &bad)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("frame_stack"), "{err}");
}

#[test]
fn atari_preset_on_pong_gives_stacked_84x84_frames() {
    let cfg = AtariPreprocessingConfig::default();
    for make in [make_atari, make_atari_wrapped] {
        let mut env = make("Pong-v0", &EnvConfig::new(), &cfg).unwrap();
        assert_eq!(env.observation_space(), &Space::image(&[4, 84, 84]));
        let space = env.observation_space().clone();
        let (obs, info) = env.reset(Some(0)).unwrap();
        assert!(space.contains_obs(obs));
        // At most 30 NOOP frames before the first observation.
        assert!(info.episode_frame_number <= 30);
        let frames = u8s(obs);
        assert!(frames.chunks(84 * 84).all(|p| p == &frames[..84 * 84]));
        for _ in 0..5 {
            let s = env.step(NOOP).unwrap();
            assert!(space.contains_obs(s.obs));
        }
        assert_eq!(env.obs().len(), 4 * 84 * 84);
    }
    // RGB, no stack, with episodic life and clipping.
    let cfg = AtariPreprocessingConfig {
        grayscale_obs: false,
        frame_stack: 1,
        terminal_on_life_loss: true,
        clip_reward: true,
        ..Default::default()
    };
    let mut env = make_atari_wrapped("Pong-v0", &EnvConfig::new(), &cfg).unwrap();
    assert_eq!(env.observation_space(), &Space::image(&[84, 84, 3]));
    let space = env.observation_space().clone();
    let (obs, _) = env.reset(Some(1)).unwrap();
    assert!(space.contains_obs(obs));
}

#[test]
fn atari_records_replay_through_the_preset() {
    let cfg = AtariPreprocessingConfig {
        terminal_on_life_loss: true,
        clip_reward: true,
        ..Default::default()
    };
    let opts = EnvConfig::new();
    let env = make_atari("Pong-v0", &opts, &cfg).unwrap();
    let mut env = RecordEpisode::new(env, opts).atari(cfg.clone());
    env.reset(Some(4)).unwrap();
    for i in 0..60 {
        env.step(Action::Discrete(i % 6)).unwrap();
    }
    let rec = env.into_record();
    assert_eq!(rec.atari, Some(cfg));
    let report = replay(&rec).unwrap();
    assert!(report.matches(), "{:?}", report.mismatch);
    assert_eq!(report.steps, 60);
    // The same actions without the preset are another env: replay notices.
    let mut raw = rec.clone();
    raw.atari = None;
    assert!(!replay(&raw).unwrap().matches());
}

#[test]
fn atari_preset_fast_path_equals_the_wrapped_chain_with_life_loss_clip_and_stack() {
    use rand::{Rng, SeedableRng};
    let cfg = AtariPreprocessingConfig {
        terminal_on_life_loss: true,
        clip_reward: true,
        ..Default::default()
    };
    let mut fast = make_atari("Breakout-v0", &EnvConfig::new(), &cfg).unwrap();
    let mut wrapped = make_atari_wrapped("Breakout-v0", &EnvConfig::new(), &cfg).unwrap();
    assert_eq!(fast.observation_space(), wrapped.observation_space());
    assert_eq!(fast.action_meanings(), wrapped.action_meanings());
    let n = fast.action_space().n().unwrap() as i64;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let (a, ia) = fast.reset(Some(9)).unwrap();
    let a = u8s(a);
    let (b, ib) = wrapped.reset(Some(9)).unwrap();
    assert_eq!((a, ia), (u8s(b), ib));
    let (mut ends, mut lives_lost) = (0, 0);
    for step in 0..500 {
        let act = Action::Discrete(rng.random_range(0..n));
        let s = fast.step(act).unwrap();
        let (a, ra, ta, tra, ia) = (u8s(s.obs), s.reward, s.terminated, s.truncated, s.info);
        let s = wrapped.step(act).unwrap();
        assert_eq!(a, u8s(s.obs), "step {step}");
        assert_eq!(
            (ra, ta, tra, ia),
            (s.reward, s.terminated, s.truncated, s.info),
            "step {step}"
        );
        if ta || tra {
            ends += 1;
            lives_lost += (ia.lives > 0) as u32;
            let (a, ia) = fast.reset(None).unwrap();
            let a = u8s(a);
            let (b, ib) = wrapped.reset(None).unwrap();
            assert_eq!((a, ia), (u8s(b), ib), "reset after step {step}");
        }
    }
    assert!(
        lives_lost > 0 && ends > lives_lost,
        "{ends} ends, {lives_lost} life losses"
    );
}
