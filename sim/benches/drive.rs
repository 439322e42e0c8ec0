//! Driving env cost: agent steps/s of `Drive-v0` with the default 84x84 RGB chase camera at
//! `action_repeat` 1, the same with 4 NPC cars (`npcs = 4`), without rendering
//! (`obs = "state"`, with its 9 rays), and the cost of drawing one camera frame alone (chase,
//! hood, top-down at 84x84, and the 256x256 `render()`).
//! Also prints the heap held per env instance (mean over 100 envs, with and without NPCs),
//! and the same costs measured
//! in thread CPU time (`drive_cpu:` lines), which stay meaningful when other processes load
//! the machine.
//!
//! `cargo bench -p sim --bench drive`; criterion's `thrpt` column is agent steps per second
//! for the step benches, and the time column is the cost per frame for the raster benches.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sim::drive::env::{DRIVE_ID, DriveEnv};
use sim::drive::raster::{Camera, Rasterizer, View};
use sim::{Action, Env, EnvConfig};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

/// Counts live heap bytes, to report the memory of one env.
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn options(pairs: &[(&str, &str)]) -> EnvConfig {
    pairs
        .iter()
        .map(|(k, v)| {
            let v = v
                .parse::<i64>()
                .map(toml::Value::Integer)
                .unwrap_or_else(|_| toml::Value::String(v.to_string()));
            (k.to_string(), v)
        })
        .collect()
}

/// Cycle through gas / weave actions so the car moves over the track; reset on episode end.
fn bench_steps(c: &mut Criterion, name: &str, cfg: &EnvConfig) {
    let mut env = DriveEnv::new(DRIVE_ID, cfg).unwrap();
    env.reset(Some(0)).unwrap();
    let mut t = 0u64;
    let mut g = c.benchmark_group("drive_step");
    g.throughput(Throughput::Elements(1));
    g.bench_function(name, |b| {
        b.iter(|| {
            let a = [1, 1, 0, 1, 1, 2][((t / 30) % 6) as usize];
            t += 1;
            let done = env.step(Action::Discrete(a)).unwrap().done();
            if done {
                env.reset(None).unwrap();
            }
        })
    });
    g.finish();
}

fn steps(c: &mut Criterion) {
    bench_steps(c, "chase_84_rgb", &EnvConfig::new());
    bench_steps(c, "chase_84_rgb_4_npcs", &options(&[("npcs", "4")]));
    bench_steps(c, "chase_84_gray", &options(&[("obs", "gray")]));
    bench_steps(c, "state_no_camera", &options(&[("obs", "state")]));
    bench_steps(
        c,
        "state_no_camera_4_npcs",
        &options(&[("obs", "state"), ("npcs", "4")]),
    );
}

fn raster(c: &mut Criterion) {
    let mut env = DriveEnv::new(DRIVE_ID, &EnvConfig::new()).unwrap();
    env.reset(Some(0)).unwrap();
    for _ in 0..120 {
        env.step(Action::Discrete(1)).unwrap();
    }
    let world = env.world().unwrap();
    let pose = world.car_pose();
    let (_, heading) = world.car_map_pose();
    let scene = env.scene().unwrap().clone();
    let mut g = c.benchmark_group("drive_raster");
    for (name, view, size) in [
        ("chase_84", View::Chase, 84),
        ("hood_84", View::Hood, 84),
        ("top_down_84", View::TopDown, 84),
        ("chase_256", View::Chase, 256),
    ] {
        let mut r = Rasterizer::new(size, size);
        let cam = Camera::follow(view, &pose, heading);
        g.bench_function(name, |b| {
            b.iter(|| r.render(black_box(&scene), black_box(&cam)))
        });
    }
    g.finish();
}

/// CPU time this thread has run, from Linux's `/proc/thread-self/schedstat` (nanoseconds);
/// unlike wall time it does not grow when other processes compete for the cores.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Heap held by one env, and CPU-time costs that stay meaningful on a busy machine.
fn memory_and_cpu_time(_: &mut Criterion) {
    for (name, cfg) in [
        ("84x84 RGB", EnvConfig::new()),
        ("84x84 RGB, 4 NPCs", options(&[("npcs", "4")])),
    ] {
        let before = LIVE.load(Ordering::Relaxed);
        let mut envs = Vec::with_capacity(100);
        for i in 0..100u64 {
            let mut env = DriveEnv::new(DRIVE_ID, &cfg).unwrap();
            env.reset(Some(i)).unwrap();
            for _ in 0..100 {
                env.step(Action::Discrete(1)).unwrap();
            }
            envs.push(env);
        }
        let held = LIVE.load(Ordering::Relaxed) - before;
        println!(
            "drive_memory: Drive-v0 ({name}, after reset + 100 steps): {:.1} KiB of heap per env (mean of 100 envs)",
            held as f64 / 1024.0 / 100.0
        );
        drop(envs);
    }
    let Some(_) = thread_cpu_ns() else {
        println!("drive_cpu: /proc/thread-self/schedstat unavailable; CPU-time figures skipped");
        return;
    };
    for (name, cfg) in [
        ("chase_84_rgb", EnvConfig::new()),
        ("chase_84_rgb_4_npcs", options(&[("npcs", "4")])),
        ("state_no_camera", options(&[("obs", "state")])),
        (
            "state_no_camera_4_npcs",
            options(&[("obs", "state"), ("npcs", "4")]),
        ),
    ] {
        let mut env = DriveEnv::new(DRIVE_ID, &cfg).unwrap();
        env.reset(Some(0)).unwrap();
        let n = 5000u64;
        let t0 = thread_cpu_ns().unwrap();
        for t in 0..n {
            let a = [1, 1, 0, 1, 1, 2][((t / 30) % 6) as usize];
            if env.step(Action::Discrete(a)).unwrap().done() {
                env.reset(None).unwrap();
            }
        }
        let ns = (thread_cpu_ns().unwrap() - t0) as f64 / n as f64;
        println!(
            "drive_cpu: step {name}: {:.1} us CPU per agent step = {:.0} steps/s on one core",
            ns / 1e3,
            1e9 / ns
        );
    }
    let mut env = DriveEnv::new(DRIVE_ID, &EnvConfig::new()).unwrap();
    env.reset(Some(0)).unwrap();
    for _ in 0..120 {
        env.step(Action::Discrete(1)).unwrap();
    }
    let world = env.world().unwrap();
    let (pose, (_, heading)) = (world.car_pose(), world.car_map_pose());
    let scene = env.scene().unwrap();
    for (name, view, size) in [
        ("chase_84", View::Chase, 84),
        ("hood_84", View::Hood, 84),
        ("top_down_84", View::TopDown, 84),
        ("chase_256", View::Chase, 256),
    ] {
        let mut r = Rasterizer::new(size, size);
        let cam = Camera::follow(view, &pose, heading);
        let n = 3000u64;
        let t0 = thread_cpu_ns().unwrap();
        for _ in 0..n {
            r.render(black_box(scene), black_box(&cam));
        }
        let ns = (thread_cpu_ns().unwrap() - t0) as f64 / n as f64;
        println!("drive_cpu: raster {name}: {:.1} us CPU per frame", ns / 1e3);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = memory_and_cpu_time, raster, steps
}
criterion_main!(benches);
