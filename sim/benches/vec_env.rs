//! VecEnv scaling: steps/s of a synthetic env that costs ~15 us per step (about an arcade
//! game with preprocessing), for 1 env / 1 thread, 2 envs / 2 threads and 8 envs / 2 threads,
//! with the single-threaded batches and a rayon-based batch beside them for reference.
//!
//! `cargo bench -p sim --bench vec_env`; criterion's `thrpt` column is env steps per second.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rayon::prelude::*;
use sim::{Action, BatchActions, Env, Frame, Info, Obs, Space, Step, VecEnv};
use std::hint::black_box;
use std::time::Duration;

/// One Nature-DQN observation: 84 x 84 x 4 stacked grayscale planes.
const PLANE: usize = 84 * 84;
const OBS_LEN: usize = 4 * PLANE;
/// Iterations of the dependent mixing chain per step: 10-25 us on the 2-core dev box, whose
/// speed varies with the host's load (the `env_step` bench reports the figure of the run).
const WORK_ITERS: u32 = 6_000;
const EPISODE_LEN: u32 = 500;

/// A deterministic env that burns a fixed amount of CPU per step, writes one new plane of its
/// observation (as a frame stack would), and ends an episode every `EPISODE_LEN` steps.
struct BusyEnv {
    obs_space: Space,
    action_space: Space,
    state: u64,
    t: u32,
    obs: Vec<u8>,
}

impl BusyEnv {
    fn new() -> Self {
        BusyEnv {
            obs_space: Space::image(&[84, 84, 4]),
            action_space: Space::Discrete { n: 6 },
            state: 0,
            t: 0,
            obs: vec![0; OBS_LEN],
        }
    }

    fn work(&mut self, action: i64) {
        let mut x = self.state ^ action as u64;
        for _ in 0..WORK_ITERS {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            x ^= x >> 29;
        }
        self.state = black_box(x);
        let plane = (self.t as usize % 4) * PLANE;
        self.obs[plane..plane + PLANE].fill(x as u8);
    }
}

impl Env for BusyEnv {
    fn id(&self) -> &str {
        "Busy-v0"
    }
    fn observation_space(&self) -> &Space {
        &self.obs_space
    }
    fn action_space(&self) -> &Space {
        &self.action_space
    }
    fn reset(&mut self, seed: Option<u64>) -> sim::Result<(Obs<'_>, Info)> {
        if let Some(s) = seed {
            self.state = s;
        }
        self.t = 0;
        self.work(0);
        Ok((Obs::U8(&self.obs), Info::default()))
    }
    fn step(&mut self, action: Action<'_>) -> sim::Result<Step<'_>> {
        let a = match action {
            Action::Discrete(a) => a,
            Action::Continuous(_) => 0,
        };
        self.t += 1;
        self.work(a);
        let done = self.t >= EPISODE_LEN;
        Ok(Step {
            obs: Obs::U8(&self.obs),
            reward: (self.state & 1) as f32,
            terminated: done,
            truncated: false,
            info: Info::default(),
        })
    }
    fn obs(&self) -> Obs<'_> {
        Obs::U8(&self.obs)
    }
    fn render(&mut self) -> Frame<'_> {
        Frame {
            height: 84,
            width: 84,
            channels: 1,
            data: &self.obs[..PLANE],
        }
    }
}

/// The same batch done with rayon's `par_iter` on a 2-thread pool, for comparison.
struct RayonBatch {
    pool: rayon::ThreadPool,
    envs: Vec<BusyEnv>,
    obs: Vec<u8>,
    rewards: Vec<f32>,
}

impl RayonBatch {
    fn new(num_envs: usize, threads: usize) -> Self {
        let mut envs: Vec<BusyEnv> = (0..num_envs).map(|_| BusyEnv::new()).collect();
        for (i, e) in envs.iter_mut().enumerate() {
            e.reset(Some(i as u64)).unwrap();
        }
        RayonBatch {
            pool: rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap(),
            envs,
            obs: vec![0; num_envs * OBS_LEN],
            rewards: vec![0.0; num_envs],
        }
    }

    fn step(&mut self, actions: &[i64]) {
        let (envs, obs, rewards) = (&mut self.envs, &mut self.obs, &mut self.rewards);
        self.pool.install(|| {
            envs.par_iter_mut()
                .zip(obs.par_chunks_mut(OBS_LEN))
                .zip(rewards.par_iter_mut())
                .zip(actions.par_iter())
                .for_each(|(((env, o), r), &a)| {
                    let s = env.step(Action::Discrete(a)).unwrap();
                    o.copy_from_slice(s.obs.as_u8().unwrap());
                    *r = s.reward;
                    if s.done() {
                        env.reset(None).unwrap();
                    }
                })
        });
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("vec_env");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(30);

    g.throughput(Throughput::Elements(1));
    g.bench_function("env_step", |b| {
        let mut env = BusyEnv::new();
        env.reset(Some(0)).unwrap();
        b.iter(|| {
            let s = env.step(Action::Discrete(1)).unwrap();
            black_box(s.reward);
            if s.done() {
                env.reset(None).unwrap();
            }
        })
    });

    for (num_envs, threads) in [(1, 1), (2, 1), (2, 2), (8, 1), (8, 2)] {
        g.throughput(Throughput::Elements(num_envs as u64));
        let id = BenchmarkId::new("vec", format!("{num_envs}envs_{threads}threads"));
        g.bench_function(id, |b| {
            let mut v =
                VecEnv::from_fn(num_envs, threads, |_| Ok(Box::new(BusyEnv::new()))).unwrap();
            assert_eq!(v.num_threads(), threads);
            v.reset(Some(0)).unwrap();
            let actions = vec![1i64; num_envs];
            b.iter(|| {
                v.step(BatchActions::Discrete(&actions)).unwrap();
                black_box(v.rewards()[0]);
            })
        });
    }

    for (num_envs, threads) in [(2, 2), (8, 2)] {
        g.throughput(Throughput::Elements(num_envs as u64));
        let id = BenchmarkId::new("rayon", format!("{num_envs}envs_{threads}threads"));
        g.bench_function(id, |b| {
            let mut batch = RayonBatch::new(num_envs, threads);
            let actions = vec![1i64; num_envs];
            b.iter(|| {
                batch.step(&actions);
                black_box(batch.rewards[0]);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
