//! VecEnv behaviour: next-step autoreset, episode statistics, seeding, determinism across
//! thread counts, errors that name the env, and clean shutdown.

use rand::Rng;
use sim::seeding::{EnvRng, rng_from_seed};
use sim::{
    Action, BatchActions, DType, EnvConfig, EpisodeStats, Frame, Info, Obs, SimError, Space, Step,
    VecEnv,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts heap allocations made on threads that stepped a [`ProbeEnv`] (the test thread and
/// the VecEnv's workers), so tests running in parallel do not disturb the count.
struct CountingAlloc;

static PROBE_ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static PROBED: Cell<bool> = const { Cell::new(false) };
}

fn count_if_probed() {
    if PROBED.try_with(Cell::get).unwrap_or(false) {
        PROBE_ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards to the system allocator; the counting touches no heap memory.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_if_probed();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_if_probed();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Index of each field in a `CountEnv` observation.
const SEED: usize = 0;
const EPISODE: usize = 1;
const T: usize = 2;
const LAST_ACTION: usize = 3;
const NOISE: usize = 4;
const OBS_LEN: usize = 5;

/// A tiny deterministic env whose observation spells out its state:
/// `[seed, episode index, step in episode, last action, seeded noise]`.
/// It ends after `k` steps (terminated, or truncated if `truncate`), rewards `action + 1`,
/// and reports `lives = 3` and `episode_frame_number = t` in its info.
#[derive(Clone)]
struct CountEnv {
    k: u32,
    truncate: bool,
    fail_at: Option<u32>,
    panic_at: Option<u32>,
    /// Report its own episode statistics (as a stats wrapper would): return 100, length 7.
    own_stats: bool,
    u8_obs: bool,
    obs_space: Space,
    action_space: Space,
    seed: u64,
    episode: u32,
    t: u32,
    total: u64,
    live: bool,
    rng: EnvRng,
    obs: [f32; OBS_LEN],
    obs_u8: [u8; OBS_LEN],
    frame: [u8; 3],
}

impl CountEnv {
    fn new(k: u32) -> Self {
        CountEnv {
            k,
            truncate: false,
            fail_at: None,
            panic_at: None,
            own_stats: false,
            u8_obs: false,
            obs_space: Space::uniform_box(&[OBS_LEN], 0.0, 1e9, DType::F32),
            action_space: Space::Discrete { n: 3 },
            seed: 0,
            episode: 0,
            t: 0,
            total: 0,
            live: false,
            rng: rng_from_seed(0),
            obs: [0.0; OBS_LEN],
            obs_u8: [0; OBS_LEN],
            frame: [0; 3],
        }
    }

    fn u8_obs(mut self) -> Self {
        self.u8_obs = true;
        self.obs_space = Space::image(&[OBS_LEN]);
        self
    }

    fn continuous(mut self, dim: usize) -> Self {
        self.action_space = Space::uniform_box(&[dim], -10.0, 10.0, DType::F32);
        self
    }

    fn boxed(self) -> Box<dyn sim::Env> {
        Box::new(self)
    }

    fn write_obs(&mut self, last_action: f32) {
        let noise = self.rng.random_range(0..200u32);
        self.obs = [
            self.seed as f32,
            self.episode as f32,
            self.t as f32,
            last_action,
            noise as f32,
        ];
        for (b, v) in self.obs_u8.iter_mut().zip(self.obs) {
            *b = v as u8;
        }
    }

    fn info(&self) -> Info {
        Info {
            lives: 3,
            episode_frame_number: u64::from(self.t),
            frame_number: self.total,
            ..Info::default()
        }
    }
}

impl sim::Env for CountEnv {
    fn id(&self) -> &str {
        "Count-v0"
    }
    fn observation_space(&self) -> &Space {
        &self.obs_space
    }
    fn action_space(&self) -> &Space {
        &self.action_space
    }
    fn reset(&mut self, seed: Option<u64>) -> sim::Result<(Obs<'_>, Info)> {
        match seed {
            Some(s) => {
                self.seed = s;
                self.episode = 0;
                self.rng = rng_from_seed(s);
            }
            None => self.episode += 1,
        }
        self.t = 0;
        self.live = true;
        self.write_obs(0.0);
        Ok((self.obs(), self.info()))
    }
    fn step(&mut self, action: Action<'_>) -> sim::Result<Step<'_>> {
        if !self.live {
            return Err(SimError::NeedsReset {
                id: "Count-v0".into(),
                when: "after the episode ended",
            });
        }
        if self.fail_at == Some(self.t) {
            return Err(SimError::Invalid("count env failed on purpose".into()));
        }
        if self.panic_at == Some(self.t) {
            panic!("count env panicked on purpose");
        }
        let a = match action {
            Action::Discrete(a) => sim::env::check_discrete("Count-v0", &self.action_space, action)
                .map(|_| a as f32)?,
            Action::Continuous(v) => v.iter().sum(),
        };
        self.t += 1;
        self.total += 1;
        self.write_obs(a);
        let end = self.t >= self.k;
        self.live = !end;
        let mut info = self.info();
        if end && self.own_stats {
            info.episode = Some(EpisodeStats {
                episode_return: 100.0,
                length: 7,
            });
        }
        Ok(Step {
            obs: self.obs(),
            reward: a + 1.0,
            terminated: end && !self.truncate,
            truncated: end && self.truncate,
            info,
        })
    }
    fn obs(&self) -> Obs<'_> {
        if self.u8_obs {
            Obs::U8(&self.obs_u8)
        } else {
            Obs::F32(&self.obs)
        }
    }
    fn render(&mut self) -> Frame<'_> {
        self.frame = [self.seed as u8, self.t as u8, 0];
        Frame {
            height: 1,
            width: 1,
            channels: 3,
            data: &self.frame,
        }
    }
}

fn obs_of(v: &VecEnv, i: usize) -> &[f32] {
    &v.obs_f32()[i * OBS_LEN..(i + 1) * OBS_LEN]
}

/// Observation of env `i` without the noise field: `[seed, episode, t, last action]`.
fn state(v: &VecEnv, i: usize) -> [f32; 4] {
    let o = obs_of(v, i);
    [o[SEED], o[EPISODE], o[T], o[LAST_ACTION]]
}

fn finished(v: &VecEnv) -> Vec<(usize, EpisodeStats)> {
    v.finished_episodes().collect()
}

fn stats(episode_return: f64, length: u64) -> EpisodeStats {
    EpisodeStats {
        episode_return,
        length,
    }
}

#[test]
fn next_step_autoreset_step_by_step() {
    // env 0 ends after 2 steps, env 1 after 3; env 1 lives in the worker's chunk.
    let mut v = VecEnv::new(vec![CountEnv::new(2).boxed(), CountEnv::new(3).boxed()], 2).unwrap();
    assert_eq!(v.num_threads(), 2);
    v.reset(Some(10)).unwrap();
    assert_eq!(state(&v, 0), [10.0, 0.0, 0.0, 0.0]);
    assert_eq!(state(&v, 1), [11.0, 0.0, 0.0, 0.0]);
    assert_eq!(v.rewards(), [0.0, 0.0]);

    v.step(BatchActions::Discrete(&[1, 2])).unwrap();
    assert_eq!(state(&v, 0), [10.0, 0.0, 1.0, 1.0]);
    assert_eq!(state(&v, 1), [11.0, 0.0, 1.0, 2.0]);
    assert_eq!(v.rewards(), [2.0, 3.0]);
    assert_eq!(v.terminated(), [false, false]);
    assert!(finished(&v).is_empty());

    v.step(BatchActions::Discrete(&[0, 0])).unwrap();
    assert_eq!(state(&v, 0), [10.0, 0.0, 2.0, 0.0]);
    assert_eq!(v.rewards(), [1.0, 1.0]);
    assert_eq!(v.terminated(), [true, false]);
    assert_eq!(v.truncated(), [false, false]);
    assert_eq!(v.infos()[0].episode, Some(stats(3.0, 2)));
    assert_eq!(v.infos()[1].episode, None);
    assert_eq!(finished(&v), [(0, stats(3.0, 2))]);

    // Env 0 is reset: its action (2) is ignored, reward 0, flags clear, info from reset.
    v.step(BatchActions::Discrete(&[2, 1])).unwrap();
    assert_eq!(state(&v, 0), [10.0, 1.0, 0.0, 0.0]);
    assert_eq!(v.rewards(), [0.0, 2.0]);
    assert_eq!(v.terminated(), [false, true]);
    assert_eq!(v.infos()[0].episode, None);
    assert_eq!(v.infos()[0].episode_frame_number, 0);
    assert_eq!(v.infos()[0].frame_number, 2);
    assert_eq!(v.infos()[1].episode, Some(stats(6.0, 3)));
    assert_eq!(finished(&v), [(1, stats(6.0, 3))]);

    v.step(BatchActions::Discrete(&[1, 1])).unwrap();
    assert_eq!(state(&v, 0), [10.0, 1.0, 1.0, 1.0]);
    assert_eq!(state(&v, 1), [11.0, 1.0, 0.0, 0.0]);
    assert_eq!(v.rewards(), [2.0, 0.0]);
    assert_eq!(v.terminated(), [false, false]);
    assert!(finished(&v).is_empty());

    // The statistics restart with the new episode.
    v.step(BatchActions::Discrete(&[2, 0])).unwrap();
    assert_eq!(finished(&v), [(0, stats(5.0, 2))]);
}

#[test]
fn truncation_also_autoresets() {
    let mut env = CountEnv::new(1);
    env.truncate = true;
    let mut v = VecEnv::new(vec![env.boxed()], 1).unwrap();
    v.reset(Some(0)).unwrap();
    v.step(BatchActions::Discrete(&[2])).unwrap();
    assert_eq!((v.terminated()[0], v.truncated()[0]), (false, true));
    assert_eq!(finished(&v), [(0, stats(3.0, 1))]);
    v.step(BatchActions::Discrete(&[2])).unwrap();
    assert_eq!((v.terminated()[0], v.truncated()[0]), (false, false));
    assert_eq!(state(&v, 0), [0.0, 1.0, 0.0, 0.0]);
    assert_eq!(v.rewards()[0], 0.0);
}

#[test]
fn env_reported_stats_win_and_own_stats_can_be_turned_off() {
    let mut reporting = CountEnv::new(2);
    reporting.own_stats = true;
    let mut v = VecEnv::new(vec![reporting.boxed(), CountEnv::new(2).boxed()], 2).unwrap();
    v.reset(Some(0)).unwrap();
    v.step(BatchActions::Discrete(&[0, 0])).unwrap();
    v.step(BatchActions::Discrete(&[0, 0])).unwrap();
    assert_eq!(finished(&v), [(0, stats(100.0, 7)), (1, stats(2.0, 2))]);

    v.set_own_episode_stats(false);
    v.step(BatchActions::Discrete(&[0, 0])).unwrap();
    v.step(BatchActions::Discrete(&[0, 0])).unwrap();
    v.step(BatchActions::Discrete(&[0, 0])).unwrap();
    assert_eq!(v.terminated(), [true, true]);
    assert_eq!(finished(&v), [(0, stats(100.0, 7))]);
}

#[test]
fn reset_seeds_env_i_with_seed_plus_i_and_none_continues() {
    let mut v = VecEnv::from_fn(5, 3, |_| Ok(CountEnv::new(4).boxed())).unwrap();
    v.reset(Some(40)).unwrap();
    let first: Vec<f32> = v.obs_f32().to_vec();
    for i in 0..5 {
        assert_eq!(state(&v, i), [40.0 + i as f32, 0.0, 0.0, 0.0]);
    }
    // Sub-env seeds differ, so their noise streams differ.
    assert_ne!(obs_of(&v, 0)[NOISE..], obs_of(&v, 1)[NOISE..]);
    v.reset(None).unwrap();
    for i in 0..5 {
        assert_eq!(state(&v, i), [40.0 + i as f32, 1.0, 0.0, 0.0]);
    }
    v.reset(Some(40)).unwrap();
    assert_eq!(v.obs_f32(), first);
}

/// Every byte the batch exposes after each of `steps` steps with pseudo-random actions.
fn trajectory(v: &mut VecEnv, seed: u64, steps: usize) -> Vec<u8> {
    let n = v.num_envs();
    let mut bytes = Vec::new();
    let mut record = |v: &VecEnv| {
        match v.obs() {
            Obs::U8(o) => bytes.extend_from_slice(o),
            Obs::F32(o) => o.iter().for_each(|x| bytes.extend(x.to_le_bytes())),
        }
        v.rewards()
            .iter()
            .for_each(|r| bytes.extend(r.to_le_bytes()));
        bytes.extend(v.terminated().iter().map(|&b| b as u8));
        bytes.extend(v.truncated().iter().map(|&b| b as u8));
        bytes.extend(format!("{:?}", v.infos()).bytes());
    };
    let mut rng = rng_from_seed(seed ^ 0x5eed);
    let n_actions = v.single_action_space().n().unwrap() as i64;
    let mut actions = vec![0i64; n];
    v.reset(Some(seed)).unwrap();
    record(v);
    for _ in 0..steps {
        actions
            .iter_mut()
            .for_each(|a| *a = rng.random_range(0..n_actions));
        v.step(BatchActions::Discrete(&actions)).unwrap();
        record(v);
    }
    bytes
}

#[test]
fn same_bytes_for_any_thread_count() {
    let build = |threads| {
        VecEnv::from_fn(7, threads, |i| {
            let env = CountEnv::new(3 + i as u32 % 4);
            Ok(if i % 2 == 0 { env } else { env.u8_obs() }.boxed())
        })
    };
    // Mixed obs dtypes are rejected, so build two homogeneous sets.
    assert!(build(1).is_err());
    let build = |threads, u8_obs: bool| {
        VecEnv::from_fn(7, threads, |i| {
            let env = CountEnv::new(3 + i as u32 % 4);
            Ok(if u8_obs { env.u8_obs() } else { env }.boxed())
        })
        .unwrap()
    };
    for u8_obs in [false, true] {
        let reference = trajectory(&mut build(1, u8_obs), 123, 40);
        for threads in [2, 3, 0] {
            let mut v = build(threads, u8_obs);
            assert_eq!(
                trajectory(&mut v, 123, 40),
                reference,
                "{} threads, u8 obs {u8_obs}",
                v.num_threads()
            );
        }
    }
}

#[test]
fn u8_observations_fill_the_u8_batch() {
    let mut v = VecEnv::from_fn(3, 2, |_| Ok(CountEnv::new(5).u8_obs().boxed())).unwrap();
    v.reset(Some(7)).unwrap();
    v.step(BatchActions::Discrete(&[0, 1, 2])).unwrap();
    assert!(v.obs_f32().is_empty());
    assert_eq!(v.obs_u8().len(), 3 * OBS_LEN);
    for i in 0..3 {
        let o = &v.obs_u8()[i * OBS_LEN..(i + 1) * OBS_LEN];
        assert_eq!(o[..4], [7 + i as u8, 0, 1, i as u8]);
    }
}

#[test]
fn continuous_actions_are_sliced_per_env() {
    let mut v = VecEnv::from_fn(3, 2, |_| Ok(CountEnv::new(5).continuous(2).boxed())).unwrap();
    v.reset(Some(0)).unwrap();
    v.step(BatchActions::Continuous(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.5]))
        .unwrap();
    assert_eq!(obs_of(&v, 0)[LAST_ACTION], 3.0);
    assert_eq!(obs_of(&v, 1)[LAST_ACTION], 7.0);
    assert_eq!(obs_of(&v, 2)[LAST_ACTION], 11.5);
    let err = v.step(BatchActions::Continuous(&[1.0; 5])).unwrap_err();
    assert!(matches!(err, SimError::Invalid(_)), "{err}");
    assert!(err.to_string().contains('5'), "{err}");
    let err = v.step(BatchActions::Discrete(&[0; 3])).unwrap_err();
    assert!(err.to_string().contains("discrete"), "{err}");
}

#[test]
fn wrong_action_count_is_rejected_before_stepping() {
    let mut v = VecEnv::from_fn(4, 2, |_| Ok(CountEnv::new(5).boxed())).unwrap();
    v.reset(Some(0)).unwrap();
    let before = v.obs_f32().to_vec();
    let err = v.step(BatchActions::Discrete(&[0; 3])).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains('3') && msg.contains('4'), "{msg}");
    let err = v.step(BatchActions::Continuous(&[0.0; 4])).unwrap_err();
    assert!(err.to_string().contains("continuous"), "{err}");
    assert_eq!(v.obs_f32(), before);
    // Nothing was stepped, so the batch is still usable.
    v.step(BatchActions::Discrete(&[0; 4])).unwrap();
}

#[test]
fn invalid_action_names_the_env_and_steps_nothing() {
    let mut v = VecEnv::from_fn(4, 2, |_| Ok(CountEnv::new(5).boxed())).unwrap();
    v.reset(Some(0)).unwrap();
    let before = v.obs_f32().to_vec();
    let err = v.step(BatchActions::Discrete(&[0, 1, 2, 3])).unwrap_err();
    match &err {
        SimError::SubEnv { index: 3, error } => {
            assert!(matches!(**error, SimError::InvalidAction { .. }), "{error}")
        }
        other => panic!("expected SubEnv 3, got {other:?}"),
    }
    assert!(err.to_string().contains("sub-env 3"), "{err}");
    assert!(err.to_string().contains("Discrete(0..3)"), "{err}");
    assert_eq!(v.obs_f32(), before);
    v.step(BatchActions::Discrete(&[0, 1, 2, 0])).unwrap();
}

#[test]
fn env_error_names_the_env_and_requires_a_reset() {
    // Env 2 sits in the worker's chunk (chunks are 0..2 and 2..4).
    let mut v = VecEnv::from_fn(4, 2, |i| {
        let mut env = CountEnv::new(5);
        if i == 2 {
            env.fail_at = Some(1);
        }
        Ok(env.boxed())
    })
    .unwrap();
    v.reset(Some(0)).unwrap();
    v.step(BatchActions::Discrete(&[0; 4])).unwrap();
    let err = v.step(BatchActions::Discrete(&[0; 4])).unwrap_err();
    match &err {
        SimError::SubEnv { index: 2, error } => {
            assert!(error.to_string().contains("on purpose"), "{error}")
        }
        other => panic!("expected SubEnv 2, got {other:?}"),
    }
    let err = v.step(BatchActions::Discrete(&[0; 4])).unwrap_err();
    assert!(matches!(err, SimError::NeedsReset { .. }), "{err}");
    v.reset(Some(0)).unwrap();
    v.step(BatchActions::Discrete(&[0; 4])).unwrap();
}

#[test]
fn step_before_reset_needs_reset() {
    let mut v = VecEnv::from_fn(2, 2, |_| Ok(CountEnv::new(5).boxed())).unwrap();
    let err = v.step(BatchActions::Discrete(&[0, 0])).unwrap_err();
    assert!(matches!(err, SimError::NeedsReset { .. }), "{err}");
    assert!(err.to_string().contains("Count-v0"), "{err}");
}

#[test]
fn mismatched_spaces_are_rejected() {
    let err = VecEnv::new(
        vec![
            CountEnv::new(1).boxed(),
            CountEnv::new(1).boxed(),
            CountEnv::new(1).u8_obs().boxed(),
        ],
        1,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("env 2") && err.contains("observation space"),
        "{err}"
    );

    let err = VecEnv::new(
        vec![
            CountEnv::new(1).boxed(),
            CountEnv::new(1).continuous(2).boxed(),
        ],
        2,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("env 1") && err.contains("action space"),
        "{err}"
    );

    assert!(VecEnv::new(Vec::new(), 1).is_err());

    let mut discrete_obs = CountEnv::new(1);
    discrete_obs.obs_space = Space::Discrete { n: 4 };
    let err = VecEnv::new(vec![discrete_obs.boxed()], 1).unwrap_err();
    assert!(err.to_string().contains("Box observation space"), "{err}");
}

#[test]
fn thread_count_is_clamped_and_envs_are_reachable() {
    let mut v = VecEnv::from_fn(3, 16, |_| Ok(CountEnv::new(5).boxed())).unwrap();
    assert_eq!(v.num_threads(), 3);
    assert_eq!(v.num_envs(), 3);
    assert_eq!(v.single_obs_len(), OBS_LEN);
    assert_eq!(v.single_action_space(), &Space::Discrete { n: 3 });
    assert_eq!(v.id(), "Count-v0");
    v.reset(Some(20)).unwrap();
    v.step(BatchActions::Discrete(&[0, 0, 0])).unwrap();
    for i in 0..3 {
        assert_eq!(v.render(i).unwrap().data, [20 + i as u8, 1, 0]);
        assert_eq!(v.env(i).unwrap().id(), "Count-v0");
    }
    assert!(v.env(3).is_none());
    assert!(v.render(3).is_err());
    let v = VecEnv::from_fn(3, 0, |_| Ok(CountEnv::new(5).boxed())).unwrap();
    assert!((1..=3).contains(&v.num_threads()));
}

#[test]
fn a_panicking_env_propagates_and_drop_does_not_hang() {
    for panicking in [0, 3] {
        // Env 0 is stepped by the caller, env 3 by the last worker.
        let mut v = VecEnv::from_fn(4, 3, |i| {
            let mut env = CountEnv::new(5);
            if i == panicking {
                env.panic_at = Some(1);
            }
            Ok(env.boxed())
        })
        .unwrap();
        v.reset(Some(0)).unwrap();
        v.step(BatchActions::Discrete(&[0; 4])).unwrap();
        let result = catch_unwind(AssertUnwindSafe(|| v.step(BatchActions::Discrete(&[0; 4]))));
        assert!(
            result.is_err(),
            "the panic of env {panicking} must reach the caller"
        );
        let err = v.step(BatchActions::Discrete(&[0; 4])).unwrap_err();
        assert!(matches!(err, SimError::NeedsReset { .. }), "{err}");
        drop(v);
    }
}

#[test]
fn drop_does_not_hang() {
    for threads in [1, 2, 3, 4] {
        // Never reset.
        drop(VecEnv::from_fn(4, threads, |_| Ok(CountEnv::new(5).boxed())).unwrap());
        // Dropped right after work, while workers may still be spinning.
        let mut v = VecEnv::from_fn(4, threads, |_| Ok(CountEnv::new(2).boxed())).unwrap();
        v.reset(Some(1)).unwrap();
        for _ in 0..10 {
            v.step(BatchActions::Discrete(&[1; 4])).unwrap();
        }
        drop(v);
    }
    // Many quick create/step/drop cycles, to shake out lost wake-ups.
    for _ in 0..200 {
        let mut v = VecEnv::from_fn(2, 2, |_| Ok(CountEnv::new(3).boxed())).unwrap();
        v.reset(Some(0)).unwrap();
        v.step(BatchActions::Discrete(&[0, 0])).unwrap();
    }
}

#[test]
fn a_vec_env_can_move_to_another_thread() {
    let mut v = VecEnv::from_fn(3, 2, |_| Ok(CountEnv::new(2).boxed())).unwrap();
    v.reset(Some(5)).unwrap();
    let v = std::thread::spawn(move || {
        for _ in 0..5 {
            v.step(BatchActions::Discrete(&[0, 1, 2])).unwrap();
        }
        v
    })
    .join()
    .unwrap();
    // Steps: t=1, t=2 (end), reset, t=1, t=2 (end).
    assert_eq!(v.terminated(), [true, true, true]);
    assert_eq!(state(&v, 2), [7.0, 1.0, 2.0, 2.0]);
}

/// A `CountEnv` that marks every thread stepping it, so its allocations are counted.
struct ProbeEnv(CountEnv);

impl sim::Env for ProbeEnv {
    fn id(&self) -> &str {
        self.0.id()
    }
    fn observation_space(&self) -> &Space {
        self.0.observation_space()
    }
    fn action_space(&self) -> &Space {
        self.0.action_space()
    }
    fn reset(&mut self, seed: Option<u64>) -> sim::Result<(Obs<'_>, Info)> {
        PROBED.with(|p| p.set(true));
        self.0.reset(seed)
    }
    fn step(&mut self, action: Action<'_>) -> sim::Result<Step<'_>> {
        PROBED.with(|p| p.set(true));
        self.0.step(action)
    }
    fn obs(&self) -> Obs<'_> {
        self.0.obs()
    }
    fn render(&mut self) -> Frame<'_> {
        self.0.render()
    }
}

#[test]
fn stepping_allocates_nothing() {
    let mut v = VecEnv::from_fn(5, 3, |i| {
        Ok(Box::new(ProbeEnv(CountEnv::new(2 + i as u32))))
    })
    .unwrap();
    PROBED.with(|p| p.set(true));
    v.reset(Some(3)).unwrap();
    let actions = [0, 1, 2, 1, 0];
    // Warm up: first-use initialisation (thread handles) may allocate once.
    for _ in 0..5 {
        v.step(BatchActions::Discrete(&actions)).unwrap();
    }
    let before = PROBE_ALLOCS.load(Ordering::Relaxed);
    let mut episodes = 0;
    for _ in 0..100 {
        v.step(BatchActions::Discrete(&actions)).unwrap();
        episodes += v.finished_episodes().count();
    }
    let allocs = PROBE_ALLOCS.load(Ordering::Relaxed) - before;
    PROBED.with(|p| p.set(false));
    assert!(
        episodes > 50,
        "the loop must cover autoresets ({episodes} episodes)"
    );
    assert_eq!(allocs, 0, "heap allocations in 100 batch steps");
}

/// Every registered env gives the same batch bytes with 1, 2 and 3 threads.
#[test]
fn registered_envs_are_deterministic_across_thread_counts() {
    for spec in sim::registry() {
        let build = |threads| VecEnv::make(spec.id, &EnvConfig::new(), 3, threads);
        let mut one = build(1).unwrap_or_else(|e| panic!("{}: {e}", spec.id));
        if one.single_action_space().n().is_none() {
            continue;
        }
        let reference = trajectory(&mut one, 9, 30);
        for threads in [2, 3] {
            let mut v = build(threads).unwrap();
            assert_eq!(
                trajectory(&mut v, 9, 30),
                reference,
                "{} x{threads}",
                spec.id
            );
        }
    }
}
