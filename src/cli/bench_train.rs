//! `pixelgym bench-train --net nature|small --batch 32`: DQN training steps per second
//! (replay sample + forward + backward + optimizer step) on 4x84x84 frames, on the CPU with a
//! set number of threads. The figure to compare with PyTorch's in docs/BENCHMARKS.md.

use agents::dqn::{Dqn, DqnConfig};
use agents::replay::{Batch, ReplayBuffer, ReplayConfig};
use anyhow::Result;
use perception::{DeviceChoice, EncoderKind, FrameLayout, ObsSpec};
use rand::{Rng, SeedableRng};
use sim::Obs;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Net {
    /// Nature-DQN CNN (conv 32/64/64, fc 512).
    Nature,
    /// Small CNN (conv 16/32, fc 256).
    Small,
}

#[derive(clap::Args)]
pub struct Args {
    /// Encoder to measure.
    #[arg(long, value_enum, default_value = "nature")]
    net: Net,
    /// Transitions per update.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Frame side (84 as in Atari preprocessing; 42 for the small CNN's fast setting).
    #[arg(long, default_value_t = 84)]
    size: usize,
    /// Measure for about this many seconds (after 3 warm-up updates).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Threads for the tensor math.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
    /// One JSON object instead of a sentence.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct Measurement {
    net: Net,
    batch: usize,
    size: usize,
    threads: usize,
    device: String,
    updates: u64,
    seconds: f64,
    steps_per_sec: f64,
}

pub fn run(args: Args) -> Result<()> {
    super::train::set_learner_threads(args.threads);
    let device = args.device.device()?;
    let obs = ObsSpec::Frames {
        channels: 4,
        height: args.size,
        width: args.size,
        layout: FrameLayout::Chw,
    };
    let cfg = DqnConfig {
        encoder: match args.net {
            Net::Nature => EncoderKind::Nature,
            Net::Small => EncoderKind::Small,
        },
        batch_size: args.batch,
        ..DqnConfig::default()
    };
    let mut dqn = Dqn::new_seeded(cfg, obs, 6, &device, 0)?;

    // A replay of 4,000 noisy frames in episodes of 100 steps.
    let plane = args.size * args.size;
    let mut replay = ReplayBuffer::<u8>::new(ReplayConfig {
        capacity: 4096,
        stack: 4,
        plane_len: plane,
        num_envs: 1,
        gamma: 0.99,
        n_step: 1,
    })?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut stack: Vec<u8> = (0..4 * plane).map(|_| rng.random()).collect();
    for t in 0..4000 {
        if t % 100 == 0 {
            replay.start_episode(0, Obs::U8(&stack))?;
        } else {
            stack.copy_within(plane.., 0);
            rng.fill(&mut stack[3 * plane..]);
            let end = t % 100 == 99;
            replay.push(
                0,
                rng.random_range(0..6),
                rng.random(),
                end,
                false,
                Obs::U8(&stack),
            )?;
        }
    }
    let mut batch = Batch::new(args.batch, 4 * plane);
    for _ in 0..3 {
        replay.sample(&mut rng, &mut batch)?;
        dqn.train_step(&batch)?;
    }
    let start = Instant::now();
    let mut updates = 0u64;
    while start.elapsed().as_secs_f64() < args.seconds || updates < 3 {
        replay.sample(&mut rng, &mut batch)?;
        dqn.train_step(&batch)?;
        updates += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    let m = Measurement {
        net: args.net,
        batch: args.batch,
        size: args.size,
        threads: args.threads,
        device: args.device.to_string(),
        updates,
        seconds,
        steps_per_sec: updates as f64 / seconds,
    };
    if args.json {
        println!("{}", serde_json::to_string(&m)?);
    } else {
        println!(
            "{:?} CNN, batch {}, 4x{}x{}, {} thread(s), {}: {:.2} training steps/s ({} updates in {:.1} s)",
            m.net,
            m.batch,
            m.size,
            m.size,
            m.threads,
            m.device,
            m.steps_per_sec,
            m.updates,
            m.seconds
        );
    }
    Ok(())
}
