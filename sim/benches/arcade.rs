//! Agent steps per second of the native arcade games, one thread: raw ALE-v5-style envs
//! (210x160x3 RGB, frameskip 4, sticky actions 0.25) and the Atari-preprocessed ones (84x84
//! grayscale, skip 4 with max-pool, NOOP starts): the native fast path alone, the native
//! path with the 4-frame stack (the preset's observation), and the wrapped chain for contrast.
//!
//! `cargo bench -p sim --bench arcade`; criterion's `thrpt` column is agent steps per second.
//! Every env replays the same fixed sequence of random actions and resets when an episode ends.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::Rng;
use sim::preprocess::AtariPreprocessingConfig;
use sim::wrappers::{FrameStack, make_atari_wrapped};
use sim::{Action, Env, EnvConfig};
use std::hint::black_box;
use std::time::Duration;

/// A fixed, seeded sequence of random actions.
fn actions(n: usize) -> Vec<i64> {
    let mut rng = sim::seeding::rng_from_seed(12345);
    (0..4096).map(|_| rng.random_range(0..n as i64)).collect()
}

fn bench_env(c: &mut Criterion, name: &str, mut env: Box<dyn Env>) {
    let acts = actions(env.action_space().n().unwrap());
    env.reset(Some(0)).unwrap();
    let mut i = 0usize;
    let mut group = c.benchmark_group("arcade");
    group.throughput(Throughput::Elements(1));
    group.bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            let s = env.step(Action::Discrete(acts[i])).unwrap();
            let done = s.done();
            black_box(s.obs);
            if done {
                env.reset(None).unwrap();
            }
        })
    });
    group.finish();
}

fn native(id: &str, cfg: &AtariPreprocessingConfig) -> Box<dyn Env> {
    sim::arcade::native_preprocessed(id, &EnvConfig::new(), cfg)
        .expect("arcade game")
        .unwrap()
}

fn arcade(c: &mut Criterion) {
    let cfg = AtariPreprocessingConfig::default();
    for id in ["Pong-v0", "Breakout-v0"] {
        bench_env(
            c,
            &format!("{id}/raw_rgb"),
            sim::make(id, &EnvConfig::new()).unwrap(),
        );
        bench_env(c, &format!("{id}/native_84"), native(id, &cfg));
        let stacked = FrameStack::new(native(id, &cfg), cfg.frame_stack).unwrap();
        bench_env(c, &format!("{id}/native_84x4_stacked"), Box::new(stacked));
        bench_env(
            c,
            &format!("{id}/wrapped_84x4_stacked"),
            make_atari_wrapped(id, &EnvConfig::new(), &cfg).unwrap(),
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = arcade
}
criterion_main!(benches);
